//! Per-core bounded lock-free record queues.
//!
//! Each core owns one [`Producer`]; the analytics thread owns the matching [`Consumer`]. The
//! queue is a fixed-capacity [`ArrayQueue`] allocated once by [`channel`]: pushing copies the
//! record into a preallocated slot, so the data plane never allocates and never blocks. When
//! the queue is full the *new* record is dropped and counted (policy "drop newest"); the count
//! is exported as `ringway_telemetry_dropped_total`.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use crate::record::RequestRecord;

/// What both ends share: the slots and the drop counter.
struct Shared {
    queue: ArrayQueue<RequestRecord>,
    /// Records refused because the queue was full. Written only by the one [`Producer`], only
    /// on that (rare) path; read by either end.
    dropped: AtomicU64,
}

/// Creates one core's queue holding at most `capacity` records (clamped to at least 1).
///
/// All slots are allocated here, once: `capacity * size_of::<RequestRecord>()` bytes plus a
/// word per slot.
pub fn channel(capacity: usize) -> (Producer, Consumer) {
    let shared = Arc::new(Shared {
        queue: ArrayQueue::new(capacity.max(1)),
        dropped: AtomicU64::new(0),
    });
    (
        Producer {
            shared: Arc::clone(&shared),
            _one_thread: PhantomData,
        },
        Consumer { shared },
    )
}

/// The data-plane end of a queue, used from one core thread: `Send` (it can be moved to its
/// core) but neither `Sync` nor `Clone`, so there is exactly one pusher.
pub struct Producer {
    shared: Arc<Shared>,
    /// Not `Sync`: the drop counter is updated without a read-modify-write.
    _one_thread: PhantomData<Cell<()>>,
}

impl Producer {
    /// Enqueues `rec`. Returns `false` if the queue was full: the record is dropped and the
    /// drop counted. Never blocks, never allocates.
    #[inline]
    pub fn push(&self, rec: RequestRecord) -> bool {
        match self.shared.queue.push(rec) {
            Ok(()) => true,
            Err(_) => {
                // The only writer (see `_one_thread`), so a load and a store are exact and
                // cheaper than an atomic add.
                let dropped = &self.shared.dropped;
                dropped.store(dropped.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Records dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Records currently queued.
    pub fn len(&self) -> usize {
        self.shared.queue.len()
    }

    /// Whether no record is queued.
    pub fn is_empty(&self) -> bool {
        self.shared.queue.is_empty()
    }

    /// Maximum number of queued records.
    pub fn capacity(&self) -> usize {
        self.shared.queue.capacity()
    }
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("dropped", &self.dropped())
            .finish()
    }
}

/// The analytics end of a queue.
pub struct Consumer {
    shared: Arc<Shared>,
}

impl Consumer {
    /// Moves up to `max` records, oldest first, to the end of `out`; returns how many. Does not
    /// wait for records: returns 0 if the queue is empty. Allocates only if `out` has to grow.
    pub fn drain(&self, out: &mut Vec<RequestRecord>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            match self.shared.queue.pop() {
                Some(rec) => {
                    out.push(rec);
                    n += 1;
                }
                None => break,
            }
        }
        n
    }

    /// Records the producer dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Records currently queued.
    pub fn len(&self) -> usize {
        self.shared.queue.len()
    }

    /// Whether no record is queued.
    pub fn is_empty(&self) -> bool {
        self.shared.queue.is_empty()
    }

    /// Maximum number of queued records.
    pub fn capacity(&self) -> usize {
        self.shared.queue.capacity()
    }
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("dropped", &self.dropped())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn rec(ts_us: i64) -> RequestRecord {
        RequestRecord {
            ts_us,
            ..RequestRecord::default()
        }
    }

    fn assert_send<T: Send>() {}

    #[test]
    fn ends_are_send() {
        assert_send::<Producer>();
        assert_send::<Consumer>();
    }

    #[test]
    fn full_queue_drops_and_counts_without_blocking() {
        // (capacity, pushed, expected dropped)
        let cases = [(1, 1, 0), (1, 5, 4), (4, 4, 0), (4, 7, 3), (64, 1000, 936)];
        for (capacity, pushed, dropped) in cases {
            let (tx, rx) = channel(capacity);
            let start = Instant::now();
            let accepted = (0..pushed).filter(|&i| tx.push(rec(i))).count();
            assert!(start.elapsed() < Duration::from_secs(1), "push blocked");
            assert_eq!(accepted as i64, pushed - dropped as i64, "cap {capacity}");
            assert_eq!(tx.dropped(), dropped, "cap {capacity}");
            assert_eq!(rx.dropped(), dropped, "cap {capacity}");
            assert_eq!(rx.len(), capacity);
            // The oldest records were kept; the newest were dropped.
            let mut out = Vec::new();
            assert_eq!(rx.drain(&mut out, usize::MAX), capacity);
            let kept: Vec<i64> = out.iter().map(|r| r.ts_us).collect();
            assert_eq!(kept, (0..capacity as i64).collect::<Vec<_>>());
            // Room again: pushes succeed, the counter keeps its value.
            assert!(tx.push(rec(-1)));
            assert_eq!(rx.dropped(), dropped);
        }
    }

    #[test]
    fn zero_capacity_is_clamped_to_one() {
        let (tx, rx) = channel(0);
        assert_eq!(tx.capacity(), 1);
        assert!(tx.push(rec(1)));
        assert!(!tx.push(rec(2)));
        assert_eq!(rx.dropped(), 1);
    }

    #[test]
    fn drain_is_fifo_and_limited() {
        // (queued, max, drained)
        let cases = [(0, 10, 0), (5, 0, 0), (5, 2, 2), (5, 5, 5), (5, 9, 5)];
        for (queued, max, drained) in cases {
            let (tx, rx) = channel(16);
            for i in 0..queued {
                assert!(tx.push(rec(i)));
            }
            let mut out = vec![rec(-7)];
            assert_eq!(
                rx.drain(&mut out, max),
                drained,
                "queued {queued} max {max}"
            );
            let got: Vec<i64> = out.iter().map(|r| r.ts_us).collect();
            let mut want = vec![-7];
            want.extend(0..drained as i64);
            assert_eq!(got, want, "appends in FIFO order");
            assert_eq!(rx.len(), (queued - drained as i64) as usize);
            assert_eq!(rx.is_empty(), tx.is_empty());
        }
    }

    #[test]
    fn drain_does_not_allocate_with_capacity() {
        let (tx, rx) = channel(8);
        for i in 0..8 {
            tx.push(rec(i));
        }
        let mut out = Vec::with_capacity(8);
        let ptr = out.as_ptr();
        assert_eq!(rx.drain(&mut out, 8), 8);
        assert_eq!(out.as_ptr(), ptr);
    }

    #[test]
    fn producer_and_consumer_on_two_threads() {
        const N: i64 = 100_000;
        let (tx, rx) = channel(256);
        let producer = std::thread::spawn(move || {
            for i in 0..N {
                tx.push(rec(i));
            }
            tx
        });
        let mut out = Vec::with_capacity(256);
        let mut seen = Vec::new();
        loop {
            out.clear();
            rx.drain(&mut out, 256);
            seen.extend(out.iter().map(|r| r.ts_us));
            if producer.is_finished() && rx.is_empty() {
                break;
            }
            std::thread::yield_now();
        }
        let tx = producer.join().unwrap();
        out.clear();
        rx.drain(&mut out, usize::MAX);
        seen.extend(out.iter().map(|r| r.ts_us));
        // Everything not dropped arrives, in order.
        assert_eq!(seen.len() as u64 + tx.dropped(), N as u64);
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
    }
}

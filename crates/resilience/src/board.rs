//! The eligibility board: what the health thread decided, published for every core to read
//! without a lock, and the failure streaks cores count for it.
//!
//! A pick reads one atomic word (a bit per endpoint, set = excluded) and the panic flag, both
//! on cache lines that change only when the health thread publishes. A success reads the
//! endpoint's streak counters and writes them only when a failure came before; a failure
//! increments them, and the one that reaches a threshold queues an [`Event`] for the health
//! thread (a full queue drops it and counts; the next failure queues it again).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};

use crossbeam_queue::ArrayQueue;

/// State bit: the active check fails.
pub const UNHEALTHY: u8 = 1;
/// State bit: ejected by outlier detection.
pub const EJECTED: u8 = 2;

/// Events a board holds until the health thread drains them.
const EVENTS: usize = 1024;

/// How one exchange with an endpoint ended, as outlier detection counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response that is not a 5xx.
    Success,
    /// Connect error, connect or response timeout, reset before a response.
    LocalFailure,
    /// A 5xx response (the connection worked).
    ServerError,
}

/// A failure streak that reached its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Group index.
    pub group: usize,
    /// Endpoint index in the group.
    pub endpoint: usize,
    /// [`Outcome::LocalFailure`] or [`Outcome::ServerError`].
    pub kind: Outcome,
}

/// Every group's board, and the event queue to the health thread.
#[derive(Debug)]
pub struct Board {
    groups: Box<[GroupBoard]>,
    events: ArrayQueue<Event>,
    dropped: AtomicU64,
}

impl Board {
    /// A board for groups of `sizes[g]` endpoints whose streak thresholds are
    /// `thresholds[g]` (local failures, 5xx; `None`: not counted). Everything starts eligible.
    pub fn new(groups: &[(usize, Option<u32>, Option<u32>)]) -> Self {
        Self {
            groups: groups
                .iter()
                .map(|&(n, local, errors)| GroupBoard::new(n, local, errors))
                .collect(),
            events: ArrayQueue::new(EVENTS),
            dropped: AtomicU64::new(0),
        }
    }

    /// Group `g`'s board.
    pub fn group(&self, g: usize) -> &GroupBoard {
        &self.groups[g]
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Counts how an exchange with `endpoint` of group `g` ended.
    #[inline]
    pub fn report(&self, g: usize, endpoint: usize, outcome: Outcome) {
        let group = &self.groups[g];
        if let Some(kind) = group.count(endpoint, outcome) {
            let event = Event {
                group: g,
                endpoint,
                kind,
            };
            if self.events.push(event).is_err() {
                self.dropped.fetch_add(1, Relaxed);
            }
        }
    }

    /// The next queued event (the health thread's side).
    pub fn next_event(&self) -> Option<Event> {
        self.events.pop()
    }

    /// Events dropped because the queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.dropped.load(Relaxed)
    }
}

/// One group's published state and streak counters.
#[derive(Debug)]
pub struct GroupBoard {
    /// Bit `i % 64` of word `i / 64`: endpoint `i` is excluded.
    excluded: Box<[AtomicU64]>,
    panic: AtomicBool,
    /// Publications so far (a reader can tell the state changed).
    generation: AtomicU64,
    /// Picks made in panic mode.
    panic_picks: AtomicU64,
    streaks: Box<[Streaks]>,
    /// Per endpoint, for observers: [`UNHEALTHY`] and [`EJECTED`] bits.
    status: Box<[AtomicU8]>,
    /// Per endpoint: ejections so far.
    ejections: Box<[AtomicU64]>,
    local_threshold: u32,
    error_threshold: u32,
}

#[derive(Debug, Default)]
struct Streaks {
    local: AtomicU32,
    errors: AtomicU32,
}

impl GroupBoard {
    fn new(n: usize, local: Option<u32>, errors: Option<u32>) -> Self {
        Self {
            excluded: (0..n.div_ceil(64).max(1))
                .map(|_| AtomicU64::new(0))
                .collect(),
            panic: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            panic_picks: AtomicU64::new(0),
            streaks: (0..n).map(|_| Streaks::default()).collect(),
            status: (0..n).map(|_| AtomicU8::new(0)).collect(),
            ejections: (0..n).map(|_| AtomicU64::new(0)).collect(),
            // 0 never fires: a streak is at least 1 when it is compared.
            local_threshold: local.unwrap_or(0),
            error_threshold: errors.unwrap_or(0),
        }
    }

    /// What a core reads for one pick.
    #[inline]
    pub fn eligibility(&self) -> Eligibility<'_> {
        let panic = self.panic.load(Relaxed);
        if panic {
            self.panic_picks.fetch_add(1, Relaxed);
        }
        Eligibility {
            panic,
            first: self.excluded[0].load(Relaxed),
            rest: &self.excluded[1..],
        }
    }

    /// Returns the event kind when this outcome makes a streak reach its threshold.
    #[inline]
    fn count(&self, endpoint: usize, outcome: Outcome) -> Option<Outcome> {
        let s = self.streaks.get(endpoint)?;
        let bump = |counter: &AtomicU32, threshold: u32| {
            threshold != 0 && counter.fetch_add(1, Relaxed) + 1 >= threshold
        };
        let reset = |counter: &AtomicU32| {
            // Written only when a failure came before: a healthy endpoint's line stays shared.
            if counter.load(Relaxed) != 0 {
                counter.store(0, Relaxed);
            }
        };
        match outcome {
            Outcome::Success => {
                reset(&s.local);
                reset(&s.errors);
                None
            }
            Outcome::LocalFailure => bump(&s.local, self.local_threshold).then_some(outcome),
            Outcome::ServerError => {
                reset(&s.local);
                bump(&s.errors, self.error_threshold).then_some(outcome)
            }
        }
    }

    /// Starts an endpoint's streaks again (after an event was handled).
    pub fn reset_streaks(&self, endpoint: usize) {
        if let Some(s) = self.streaks.get(endpoint) {
            s.local.store(0, Relaxed);
            s.errors.store(0, Relaxed);
        }
    }

    /// Publishes each endpoint's state (`state(i)`: [`UNHEALTHY`] and [`EJECTED`] bits; either
    /// excludes it) and the panic flag.
    pub fn publish(&self, state: impl Fn(usize) -> u8, panic: bool) {
        let n = self.status.len();
        for (w, word) in self.excluded.iter().enumerate() {
            let mut bits = 0u64;
            for b in 0..64 {
                let i = w * 64 + b;
                if i < n {
                    let s = state(i);
                    self.status[i].store(s, Relaxed);
                    if s != 0 {
                        bits |= 1 << b;
                    }
                }
            }
            word.store(bits, Relaxed);
        }
        self.panic.store(panic, Relaxed);
        self.generation.fetch_add(1, Relaxed);
    }

    /// Takes over `old`'s published state and counters (the same group in the previous
    /// configuration, after a reload): endpoint `i` is `old`'s `old_index(i)`, if it had it.
    /// Cores of the new configuration then skip what was excluded before the health thread
    /// has published anything.
    pub fn carry_from(&self, old: &GroupBoard, old_index: impl Fn(usize) -> Option<usize>) {
        for (i, c) in self.ejections.iter().enumerate() {
            if let Some(j) = old_index(i) {
                c.fetch_add(old.ejections(j), Relaxed);
            }
        }
        self.panic_picks.fetch_add(old.panic_picks(), Relaxed);
        self.publish(
            |i| old_index(i).map_or(0, |j| old.status(j)),
            old.panic.load(Relaxed),
        );
    }

    /// Counts an ejection of `endpoint`.
    pub fn count_ejection(&self, endpoint: usize) {
        if let Some(c) = self.ejections.get(endpoint) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// Number of endpoints.
    pub fn len(&self) -> usize {
        self.status.len()
    }

    /// Whether the group has no endpoints.
    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
    }

    /// `endpoint`'s last published state: [`UNHEALTHY`] and [`EJECTED`] bits.
    pub fn status(&self, endpoint: usize) -> u8 {
        self.status.get(endpoint).map_or(0, |s| s.load(Relaxed))
    }

    /// Ejections of `endpoint` so far.
    pub fn ejections(&self, endpoint: usize) -> u64 {
        self.ejections.get(endpoint).map_or(0, |c| c.load(Relaxed))
    }

    /// Publications so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// Picks made in panic mode so far.
    pub fn panic_picks(&self) -> u64 {
        self.panic_picks.load(Relaxed)
    }
}

/// A group's eligibility as read for one pick.
#[derive(Debug, Clone, Copy)]
pub struct Eligibility<'a> {
    panic: bool,
    first: u64,
    rest: &'a [AtomicU64],
}

impl Eligibility<'_> {
    /// Whether `endpoint` must not be picked (never, in panic mode).
    #[inline]
    pub fn excluded(&self, endpoint: usize) -> bool {
        if self.panic {
            return false;
        }
        let word = if endpoint < 64 {
            self.first
        } else {
            match self.rest.get(endpoint / 64 - 1) {
                Some(w) => w.load(Relaxed),
                None => return false,
            }
        };
        word >> (endpoint % 64) & 1 == 1
    }

    /// Whether the group is in panic mode (every endpoint used).
    pub fn panic(&self) -> bool {
        self.panic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_fires_at_its_threshold_and_a_success_resets_it() {
        let board = Board::new(&[(3, Some(3), None)]);
        for _ in 0..2 {
            board.report(0, 1, Outcome::LocalFailure);
        }
        board.report(0, 1, Outcome::Success);
        for _ in 0..2 {
            board.report(0, 1, Outcome::LocalFailure);
        }
        assert_eq!(board.next_event(), None, "a success broke the streak");
        board.report(0, 1, Outcome::LocalFailure);
        assert_eq!(
            board.next_event(),
            Some(Event {
                group: 0,
                endpoint: 1,
                kind: Outcome::LocalFailure
            })
        );
        // 5xx streaks are off for this group.
        for _ in 0..10 {
            board.report(0, 2, Outcome::ServerError);
        }
        assert_eq!(board.next_event(), None);
    }

    #[test]
    fn a_reload_carries_exclusions_and_counters_by_endpoint() {
        let old = Board::new(&[(3, Some(1), None)]);
        old.group(0)
            .publish(|i| if i == 1 { EJECTED } else { 0 }, false);
        old.group(0).count_ejection(1);
        // The new group has old endpoint 1 at index 0, and a new endpoint at 1.
        let new = Board::new(&[(2, Some(1), None)]);
        new.group(0)
            .carry_from(old.group(0), |i| (i == 0).then_some(1));
        let g = new.group(0);
        assert!(g.eligibility().excluded(0));
        assert!(!g.eligibility().excluded(1));
        assert_eq!(
            (g.status(0), g.ejections(0), g.ejections(1)),
            (EJECTED, 1, 0)
        );
    }

    #[test]
    fn a_5xx_breaks_a_local_streak_and_counts_its_own() {
        let board = Board::new(&[(2, Some(2), Some(2))]);
        board.report(0, 0, Outcome::LocalFailure);
        board.report(0, 0, Outcome::ServerError);
        board.report(0, 0, Outcome::LocalFailure);
        assert_eq!(board.next_event(), None);
        board.report(0, 0, Outcome::ServerError);
        assert_eq!(
            board.next_event().map(|e| e.kind),
            Some(Outcome::ServerError)
        );
    }

    #[test]
    fn published_bits_are_read_per_endpoint_and_panic_uses_all() {
        let board = Board::new(&[(130, None, None)]);
        let g = board.group(0);
        g.publish(|i| u8::from(i == 3 || i == 64 || i == 129), false);
        let e = g.eligibility();
        let excluded: Vec<usize> = (0..130).filter(|&i| e.excluded(i)).collect();
        assert_eq!(excluded, [3, 64, 129]);
        assert_eq!((g.status(3), g.status(4)), (UNHEALTHY, 0));
        assert_eq!(g.generation(), 1);
        g.publish(|_| EJECTED, true);
        let e = g.eligibility();
        assert!(e.panic() && (0..130).all(|i| !e.excluded(i)));
        assert_eq!(g.panic_picks(), 1);
    }
}

//! One core's edge cache: stored responses (head as received, body) under an S3-FIFO byte
//! budget (`ringway_cache::Store`), keyed by a keyed hash of the primary key whose bytes are
//! compared on every lookup, with up to `max_variants` `Vary` variants per key. Used only by
//! this core's thread (`RefCell`, no lock); the RFC 9111 decisions are `ringway_cache`'s.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use ringway_cache::{Keys, PrimaryKey, ResponseControl, Store, Timing};

use crate::codec::ResponseHead;

/// Bytes counted per entry beyond its key, head and body (bookkeeping, vectors).
const ENTRY_OVERHEAD: usize = 256;
/// How long a key whose response was not stored is fetched without coalescing.
const UNCACHEABLE_FOR: Duration = Duration::from_secs(10);
/// Keys remembered as uncacheable per core at most.
const UNCACHEABLE_KEYS: usize = 16_384;

/// A stored response: one variant of a key.
pub(crate) struct Variant {
    /// The `Vary` field names it was selected by (lowercase, sorted) and the request's values.
    pub names: Vec<String>,
    pub values: Vec<Option<Vec<u8>>>,
    /// The response head as received, and its parse (spans into `raw`).
    pub raw: Box<[u8]>,
    pub head: ResponseHead,
    /// The whole body.
    pub body: Rc<[u8]>,
    pub control: ResponseControl,
    pub timing: Timing,
}

impl Variant {
    fn bytes(&self) -> usize {
        self.raw.len()
            + self.body.len()
            + self
                .values
                .iter()
                .map(|v| v.as_ref().map_or(0, Vec::len))
                .sum::<usize>()
    }
}

/// Every variant stored under one primary key.
struct Object {
    key: Box<[u8]>,
    variants: Vec<Rc<Variant>>,
}

impl Object {
    fn bytes(&self) -> usize {
        self.key.len() + ENTRY_OVERHEAD + self.variants.iter().map(|v| v.bytes()).sum::<usize>()
    }
}

/// What a lookup found.
pub(crate) enum Found {
    /// Nothing under the key.
    Nothing,
    /// The key is stored, but no variant has the request's `Vary` values.
    OtherVariant,
    /// A variant for this request.
    Variant(Rc<Variant>),
}

/// Counters of a core's cache (published with its metrics).
#[derive(Debug, Default)]
pub(crate) struct CacheCounters {
    pub hits: Cell<u64>,
    pub misses: Cell<u64>,
    pub stored: Cell<u64>,
    pub not_stored: Cell<u64>,
    pub purged: Cell<u64>,
}

/// Messages queued for one core's cache by the others and the admin listener.
pub(crate) enum Message {
    /// An unsafe request succeeded on another core: its target's entry goes.
    Remove(PrimaryKey),
    /// Purge by host (any when `None`) and target prefix; the count goes to `reply`.
    Purge {
        host: Option<Vec<u8>>,
        prefix: Vec<u8>,
        reply: Arc<PurgeReply>,
    },
}

/// What the cores answer to a purge.
#[derive(Debug, Default)]
pub(crate) struct PurgeReply {
    removed: AtomicUsize,
    done: AtomicUsize,
}

/// A core's cache numbers as last published (each second), for `/metrics`.
#[derive(Debug, Default)]
struct Published {
    hits: AtomicU64,
    misses: AtomicU64,
    stored: AtomicU64,
    not_stored: AtomicU64,
    purged: AtomicU64,
    bytes: AtomicU64,
    entries: AtomicU64,
}

/// Messages to every core's cache: bounded queues, read at each cached lookup and each tick;
/// and what each core publishes for `/metrics`.
pub struct CacheBus {
    queues: Box<[ArrayQueue<Message>]>,
    published: Box<[Published]>,
    /// The key builder every core shares (a hash means the same key on every core).
    keys: Keys,
    /// Messages dropped because a queue was full.
    dropped: AtomicU64,
}

/// Messages a core may have waiting.
const BUS_CAPACITY: usize = 4096;

impl CacheBus {
    /// Queues for `cores` cores.
    pub(crate) fn new(cores: usize) -> Arc<Self> {
        Arc::new(Self {
            queues: (0..cores.max(1))
                .map(|_| ArrayQueue::new(BUS_CAPACITY))
                .collect(),
            published: (0..cores.max(1)).map(|_| Published::default()).collect(),
            keys: Keys::new(),
            dropped: AtomicU64::new(0),
        })
    }

    /// Tells every core but `from` to drop `key`.
    pub(crate) fn remove_elsewhere(&self, from: usize, key: &PrimaryKey) {
        for (i, q) in self.queues.iter().enumerate() {
            if i != from && q.push(Message::Remove(key.clone())).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Purges every core's entries of `host` (any when `None`) whose target starts with
    /// `prefix`; waits up to `wait` for the cores (each reads its queue every 50 ms). Returns
    /// the entries removed and whether every core answered.
    pub fn purge(
        &self,
        host: Option<&str>,
        prefix: &str,
        wait: std::time::Duration,
    ) -> (usize, bool) {
        let reply = Arc::new(PurgeReply::default());
        let mut sent = 0;
        for q in self.queues.iter() {
            let msg = Message::Purge {
                host: host.map(|h| h.as_bytes().to_vec()),
                prefix: prefix.as_bytes().to_vec(),
                reply: Arc::clone(&reply),
            };
            if q.push(msg).is_ok() {
                sent += 1;
            } else {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        let until = std::time::Instant::now() + wait;
        while reply.done.load(Ordering::Acquire) < sent && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let all = sent == self.queues.len() && reply.done.load(Ordering::Acquire) == sent;
        (reply.removed.load(Ordering::Acquire), all)
    }
}

impl CacheBus {
    /// Appends the cache metrics to `/metrics` text: per core, requests by result, stores,
    /// purges, bytes and entries held, and the messages dropped.
    pub fn render_prometheus(&self, out: &mut String) {
        use ringway_telemetry::metrics::{name, write_family, write_sample, Kind};
        let per_core = |out: &mut String,
                        metric: &str,
                        labels: &[(&str, &str)],
                        f: &dyn Fn(&Published) -> u64| {
            for (core, p) in self.published.iter().enumerate() {
                let core = core.to_string();
                let mut all = vec![(name::CORE, core.as_str())];
                all.extend_from_slice(labels);
                write_sample(out, metric, &all, f(p));
            }
        };
        write_family(
            out,
            name::CACHE_REQUESTS_TOTAL,
            Kind::Counter,
            "Requests on cached routes by core and result (hit, miss).",
        );
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        per_core(
            out,
            name::CACHE_REQUESTS_TOTAL,
            &[("result", "hit")],
            &|p| load(&p.hits),
        );
        per_core(
            out,
            name::CACHE_REQUESTS_TOTAL,
            &[("result", "miss")],
            &|p| load(&p.misses),
        );
        write_family(
            out,
            name::CACHE_STORES_TOTAL,
            Kind::Counter,
            "Responses to misses by core and whether they were stored.",
        );
        per_core(
            out,
            name::CACHE_STORES_TOTAL,
            &[("result", "stored")],
            &|p| load(&p.stored),
        );
        per_core(
            out,
            name::CACHE_STORES_TOTAL,
            &[("result", "not_stored")],
            &|p| load(&p.not_stored),
        );
        write_family(
            out,
            name::CACHE_PURGED_TOTAL,
            Kind::Counter,
            "Entries purged or invalidated, by core.",
        );
        per_core(out, name::CACHE_PURGED_TOTAL, &[], &|p| load(&p.purged));
        write_family(
            out,
            name::CACHE_BYTES,
            Kind::Gauge,
            "Bytes of stored responses, by core.",
        );
        per_core(out, name::CACHE_BYTES, &[], &|p| load(&p.bytes));
        write_family(
            out,
            name::CACHE_ENTRIES,
            Kind::Gauge,
            "Keys stored, by core.",
        );
        per_core(out, name::CACHE_ENTRIES, &[], &|p| load(&p.entries));
        write_family(
            out,
            name::CACHE_MESSAGES_DROPPED_TOTAL,
            Kind::Counter,
            "Invalidations and purges not delivered to a core: its queue was full.",
        );
        write_sample(
            out,
            name::CACHE_MESSAGES_DROPPED_TOTAL,
            &[],
            load(&self.dropped),
        );
    }
}

impl std::fmt::Debug for CacheBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheBus")
            .field("cores", &self.queues.len())
            .finish_non_exhaustive()
    }
}

/// A fill in progress on this core: the requests for the same key wait for it.
pub(crate) type Pending = crate::signal::Signal;

/// The request filling a key on this core; its end (however it ends) wakes the waiters.
pub(crate) struct FillGuard<'a> {
    cache: &'a CoreCache,
    hash: u64,
}

impl Drop for FillGuard<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.cache.filling.borrow_mut().remove(&self.hash) {
            p.finish();
        }
    }
}

/// One core's cache.
pub(crate) struct CoreCache {
    store: RefCell<Store<Object>>,
    /// Keys being fetched by a request of this core (request coalescing).
    filling: RefCell<HashMap<u64, Rc<Pending>>>,
    /// Keys whose last response was not stored, and when: not waited for meanwhile.
    uncacheable: RefCell<HashMap<u64, Instant>>,
    bus: Arc<CacheBus>,
    core: usize,
    pub counters: CacheCounters,
}

impl CoreCache {
    /// An empty cache of `budget` bytes for core `core`.
    pub(crate) fn new(budget: usize, bus: Arc<CacheBus>, core: usize) -> Self {
        Self {
            store: RefCell::new(Store::new(budget)),
            filling: RefCell::new(HashMap::new()),
            uncacheable: RefCell::new(HashMap::new()),
            bus,
            core,
            counters: CacheCounters::default(),
        }
    }

    /// Applies what the other cores and the admin listener queued for this core.
    pub(crate) fn drain(&self) {
        let Some(q) = self.bus.queues.get(self.core) else {
            return;
        };
        while let Some(msg) = q.pop() {
            match msg {
                Message::Remove(key) => {
                    self.remove_here(&key);
                }
                Message::Purge {
                    host,
                    prefix,
                    reply,
                } => {
                    let n = self.purge(host.as_deref(), &prefix);
                    reply.removed.fetch_add(n, Ordering::AcqRel);
                    reply.done.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
    }

    /// Makes the caller the one request of this core fetching `key` (`Ok`: it fills, the
    /// guard ends it), or returns the fill to wait for.
    pub(crate) fn begin_fill(&self, key: &PrimaryKey) -> Result<FillGuard<'_>, Rc<Pending>> {
        let mut filling = self.filling.borrow_mut();
        if let Some(p) = filling.get(&key.hash) {
            return Err(Rc::clone(p));
        }
        filling.insert(key.hash, Rc::new(Pending::default()));
        Ok(FillGuard {
            cache: self,
            hash: key.hash,
        })
    }

    /// Remembers that `hash`'s response was not stored (for [`UNCACHEABLE_FOR`]).
    pub(crate) fn mark_uncacheable(&self, hash: u64) {
        let mut u = self.uncacheable.borrow_mut();
        if u.len() >= UNCACHEABLE_KEYS {
            let now = Instant::now();
            u.retain(|_, at| now.duration_since(*at) < UNCACHEABLE_FOR);
            if u.len() >= UNCACHEABLE_KEYS {
                u.clear();
            }
        }
        u.insert(hash, Instant::now());
    }

    /// Whether `key`'s last response, lately, was not stored.
    pub(crate) fn recently_uncacheable(&self, key: &PrimaryKey) -> bool {
        self.uncacheable
            .borrow()
            .get(&key.hash)
            .is_some_and(|at| at.elapsed() < UNCACHEABLE_FOR)
    }

    /// Publishes this core's numbers (each second).
    pub(crate) fn publish(&self) {
        let Some(p) = self.bus.published.get(self.core) else {
            return;
        };
        let c = &self.counters;
        let (bytes, entries) = self.usage();
        for (to, v) in [
            (&p.hits, c.hits.get()),
            (&p.misses, c.misses.get()),
            (&p.stored, c.stored.get()),
            (&p.not_stored, c.not_stored.get()),
            (&p.purged, c.purged.get()),
            (&p.bytes, bytes as u64),
            (&p.entries, entries as u64),
        ] {
            to.store(v, Ordering::Relaxed);
        }
    }

    /// Drops `key` on every core (this one now, the others when they read their queue).
    pub(crate) fn remove(&self, key: &PrimaryKey) {
        self.remove_here(key);
        self.bus.remove_elsewhere(self.core, key);
    }

    /// The primary key of a request.
    pub(crate) fn key(
        &self,
        scheme: &[u8],
        host: &[u8],
        target: &[u8],
        extras: &[&[u8]],
    ) -> PrimaryKey {
        self.bus.keys.primary(scheme, host, target, extras)
    }

    /// The variant stored for `key` whose `Vary` values are the request's (`values_of` gives
    /// them for a list of names).
    pub(crate) fn lookup(
        &self,
        key: &PrimaryKey,
        values_of: impl Fn(&[String]) -> Vec<Option<Vec<u8>>>,
    ) -> Found {
        let mut store = self.store.borrow_mut();
        let Some(object) = store.get(key.hash).filter(|o| *o.key == *key.bytes) else {
            return Found::Nothing;
        };
        for v in &object.variants {
            if values_of(&v.names) == v.values {
                return Found::Variant(Rc::clone(v));
            }
        }
        Found::OtherVariant
    }

    /// Stores `variant` under `key`, replacing the variant with the same `Vary` values and
    /// keeping at most `max_variants` (the oldest go). False when it does not fit.
    pub(crate) fn insert(
        &self,
        key: &PrimaryKey,
        variant: Rc<Variant>,
        max_variants: usize,
    ) -> bool {
        let mut store = self.store.borrow_mut();
        let mut object = match store.remove(key.hash) {
            Some(o) if *o.key == *key.bytes => o,
            _ => Object {
                key: key.bytes.clone().into_boxed_slice(),
                variants: Vec::new(),
            },
        };
        object
            .variants
            .retain(|v| !(v.names == variant.names && v.values == variant.values));
        object.variants.push(variant);
        if object.variants.len() > max_variants {
            let extra = object.variants.len() - max_variants;
            object.variants.drain(..extra);
        }
        let bytes = object.bytes();
        store.insert(key.hash, object, bytes).is_ok()
    }

    /// Removes what this core stores under `key`; true if there was something.
    fn remove_here(&self, key: &PrimaryKey) -> bool {
        let mut store = self.store.borrow_mut();
        match store.peek(key.hash) {
            Some(o) if *o.key == *key.bytes => store.remove(key.hash).is_some(),
            _ => false,
        }
    }

    /// Removes every key whose host is `host` (any, when `None`) and whose target starts with
    /// `prefix`; returns how many.
    fn purge(&self, host: Option<&[u8]>, prefix: &[u8]) -> usize {
        let n = self.store.borrow_mut().purge(|_, o| {
            let mut parts = o.key.splitn(3, |&b| b == 0);
            let (_, h, target) = (parts.next(), parts.next(), parts.next().unwrap_or_default());
            host.is_none_or(|want| h.is_some_and(|h| h.eq_ignore_ascii_case(want)))
                && target.starts_with(prefix)
        });
        self.counters
            .purged
            .set(self.counters.purged.get() + n as u64);
        n
    }

    /// Bytes and entries held.
    pub(crate) fn usage(&self) -> (usize, usize) {
        let s = self.store.borrow();
        (s.used(), s.len())
    }
}

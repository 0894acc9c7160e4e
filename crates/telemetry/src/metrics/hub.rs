//! The shared side: every core's latest snapshot, merged and rendered on scrape.

// The one lock of the metrics: scrapes (the admin thread) serialise on it; the cores never
// take it, they publish through lock-free one-slot mailboxes.
#![allow(
    clippy::disallowed_types,
    reason = "taken by scrapes only, never on a core's request path"
)]

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_queue::ArrayQueue;

use super::prometheus::{render_prometheus, ExtraGauges};
use super::{CoreSnapshot, Layout, MetricNames};

/// One core's mailbox: the newest unread snapshot, and a used one handed back for reuse.
struct CoreSlot {
    latest: ArrayQueue<CoreSnapshot>,
    spare: ArrayQueue<CoreSnapshot>,
}

/// What scrapes work on, behind a mutex that only scrapes take.
struct ScrapeState {
    /// The latest snapshot read from each core.
    latest: Vec<Option<CoreSnapshot>>,
    /// The merge buffer, reused across scrapes.
    merged: CoreSnapshot,
}

/// Collects every core's metrics and renders them; shared by the cores and the admin
/// listener (`Send + Sync`, typically in an [`Arc`]).
///
/// Cores call [`MetricsHub::publish`] about once a second. Publishing is lock-free and never
/// waits for a scrape: each core has a one-slot mailbox that the newest snapshot replaces.
/// Scrapes ([`MetricsHub::render_prometheus`], [`MetricsHub::merged`]) are serialised by a
/// mutex that the cores never take; they collect the mailboxes, keep each core's latest
/// snapshot and merge them. Snapshots are cumulative, so a snapshot replaced before any scrape
/// read it loses nothing.
pub struct MetricsHub {
    names: MetricNames,
    layout: Arc<Layout>,
    cores: Box<[CoreSlot]>,
    scrape: Mutex<ScrapeState>,
}

impl MetricsHub {
    /// A hub for `cores` cores whose metrics were built from `names`.
    pub fn new(names: MetricNames, cores: usize) -> Self {
        let layout = Arc::new(Layout::new(&names));
        Self {
            cores: (0..cores)
                .map(|_| CoreSlot {
                    latest: ArrayQueue::new(1),
                    spare: ArrayQueue::new(1),
                })
                .collect(),
            scrape: Mutex::new(ScrapeState {
                latest: (0..cores).map(|_| None).collect(),
                merged: CoreSnapshot::with_layout(Arc::clone(&layout)),
            }),
            layout,
            names,
        }
    }

    /// The name tables.
    pub fn names(&self) -> &MetricNames {
        &self.names
    }

    /// Number of cores.
    pub fn cores(&self) -> usize {
        self.cores.len()
    }

    /// Makes `snap` core `core`'s latest snapshot. Never blocks.
    ///
    /// Returns a snapshot the caller may overwrite next time with
    /// [`CoreMetrics::snapshot_into`](super::CoreMetrics::snapshot_into) instead of allocating:
    /// the previous one if no scrape read it, or one a scrape has finished with. Returns `snap`
    /// itself, unpublished, if `core` is out of range or `snap` was built from different
    /// [`MetricNames`].
    pub fn publish(&self, core: usize, snap: CoreSnapshot) -> Option<CoreSnapshot> {
        let Some(slot) = self.cores.get(core) else {
            return Some(snap);
        };
        if !(Arc::ptr_eq(&snap.layout, &self.layout) || *snap.layout == *self.layout) {
            return Some(snap);
        }
        match slot.latest.force_push(snap) {
            Some(unread) => Some(unread),
            None => slot.spare.pop(),
        }
    }

    /// Takes the newest snapshots and merges every core's latest into the state's buffer.
    fn collect(&self, state: &mut ScrapeState) {
        for (slot, latest) in self.cores.iter().zip(&mut state.latest) {
            if let Some(new) = slot.latest.pop() {
                if let Some(old) = latest.replace(new) {
                    // The spare slot holds one; if it is still full the old one is freed.
                    let _ = slot.spare.push(old);
                }
            }
        }
        state.merged.reset();
        for snap in state.latest.iter().flatten() {
            // Layouts were checked on publish.
            let merged = state.merged.merge(snap);
            debug_assert!(merged.is_ok());
        }
    }

    /// The sum of every core's latest snapshot (cores that have not published count as zero).
    pub fn merged(&self) -> CoreSnapshot {
        let mut state = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        self.collect(&mut state);
        state.merged.clone()
    }

    /// How many cores have published at least once.
    pub fn cores_reporting(&self) -> usize {
        let state = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        let read = state.latest.iter().filter(|s| s.is_some()).count();
        let unread = self
            .cores
            .iter()
            .zip(&state.latest)
            .filter(|(slot, latest)| latest.is_none() && !slot.latest.is_empty())
            .count();
        read + unread
    }

    /// Merges every core's latest snapshot and renders it, with `extra`, in the Prometheus
    /// text exposition format 0.0.4 (see [`render_prometheus`](super::render_prometheus)).
    pub fn render_prometheus(&self, extra: &ExtraGauges) -> String {
        let mut out = String::new();
        self.render_prometheus_into(extra, &mut out);
        out
    }

    /// [`MetricsHub::render_prometheus`], appending to `out`.
    pub fn render_prometheus_into(&self, extra: &ExtraGauges, out: &mut String) {
        let mut state = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        self.collect(&mut state);
        render_prometheus(&self.names, &state.merged, extra, out);
    }
}

impl fmt::Debug for MetricsHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsHub")
            .field("names", &self.names)
            .field("cores", &self.cores.len())
            .finish()
    }
}

//! The shared side: every core's latest snapshot, merged and rendered on scrape.

// The one lock of the metrics: scrapes (the admin thread) serialise on it; the cores never
// take it, they publish through lock-free one-slot mailboxes.
#![allow(
    clippy::disallowed_types,
    reason = "taken by scrapes only, never on a core's request path"
)]

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use crossbeam_queue::ArrayQueue;

use super::prometheus::{render_prometheus, ExtraGauges};
use super::{CoreSnapshot, Layout, MetricNames};

/// One core's mailbox: the newest unread snapshot, and a used one handed back for reuse.
struct CoreSlot {
    latest: ArrayQueue<CoreSnapshot>,
    spare: ArrayQueue<CoreSnapshot>,
}

/// What scrapes work on, behind a mutex that only scrapes (and reloads) take.
struct ScrapeState {
    /// The name tables the layout was built from.
    names: MetricNames,
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
///
/// A reload that adds names calls [`MetricsHub::set_names`] with the grown tables; snapshots
/// in the old layout are moved to the new one when merged, so no count is lost.
pub struct MetricsHub {
    /// The current layout (read by `publish`; replaced by `set_names`).
    layout: ArcSwap<Layout>,
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
                names,
                latest: (0..cores).map(|_| None).collect(),
                merged: CoreSnapshot::with_layout(Arc::clone(&layout)),
            }),
            layout: ArcSwap::new(layout),
        }
    }

    /// The name tables.
    pub fn names(&self) -> MetricNames {
        self.scrape
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .names
            .clone()
    }

    /// Replaces the name tables with `names`, which must extend the current ones (every
    /// listener, route and group keeps its index: a [`Registry`](super::Registry) after a
    /// reload). Returns false, changing nothing, otherwise.
    pub fn set_names(&self, names: MetricNames) -> bool {
        let mut state = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        let layout = Arc::new(Layout::new(&names));
        if !self.layout.load().fits_in(&layout) {
            return false;
        }
        state.merged = CoreSnapshot::with_layout(Arc::clone(&layout));
        state.names = names;
        self.layout.store(layout);
        true
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
    /// itself, unpublished, if `core` is out of range or `snap` was built from
    /// [`MetricNames`] the current ones do not extend.
    pub fn publish(&self, core: usize, snap: CoreSnapshot) -> Option<CoreSnapshot> {
        let Some(slot) = self.cores.get(core) else {
            return Some(snap);
        };
        if !snap.layout.fits_in(&self.layout.load()) {
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
        let layout = Arc::clone(&state.merged.layout);
        for snap in state.latest.iter_mut().flatten() {
            // Published before a reload grew the names: moved to the new layout once.
            if !snap.same_layout(&state.merged) {
                if let Some(moved) = snap.relayout(&layout) {
                    *snap = moved;
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
        let state = &mut *state;
        render_prometheus(&state.names, &state.merged, extra, out);
    }
}

impl fmt::Debug for MetricsHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsHub")
            .field("layout", &self.layout.load())
            .field("cores", &self.cores.len())
            .finish()
    }
}

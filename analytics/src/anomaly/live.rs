//! The detectors on the gateway's live record stream: [`Live`] feeds them, keeps the recent
//! findings, and makes the [`Snapshot`] that `/anomalies` and `/metrics` show. Pure: the
//! analytics thread calls it with the records and the time.

use std::collections::VecDeque;

use ringway_telemetry::record::RequestRecord;
use serde::Serialize;

use super::{observation_of, Config, Detector, Finding, Kind};
use crate::schema::Names;

/// Closed findings kept for `/anomalies`.
const RECENT: usize = 100;

/// What `/anomalies` shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// The end of the last bucket judged, µs since the epoch (0 before the first).
    pub judged_until_us: i64,
    /// Whether the warm-up is over (nothing is judged before).
    pub warmed_up: bool,
    /// Findings still going on, in start order.
    pub open: Vec<Finding>,
    /// The last findings that ended, newest first (at most 100).
    pub recent: Vec<Finding>,
    /// Findings so far per kind name (open or ended), every kind listed.
    pub opened_total: std::collections::BTreeMap<&'static str, u64>,
    /// Records the detectors never saw: dropped because their queue was full.
    pub records_dropped: u64,
    /// Records that arrived after their bucket had been judged (not counted).
    pub records_late: u64,
}

impl Snapshot {
    /// Open findings per kind, every kind listed, in [`Kind::ALL`] order.
    pub fn open_by_kind(&self) -> [(Kind, u64); Kind::ALL.len()] {
        Kind::ALL.map(|k| (k, self.open.iter().filter(|f| f.kind == k).count() as u64))
    }

    /// The snapshot as JSON.
    pub fn to_json(&self) -> String {
        // Plain data (strings, finite numbers): serialisation cannot fail.
        let mut s = serde_json::to_string(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// The live detectors: records in, findings and snapshots out.
#[derive(Debug)]
pub struct Live {
    detector: Detector,
    names: Names,
    client: String,
    recent: VecDeque<Finding>,
    first_us: Option<i64>,
    dropped: u64,
}

impl Live {
    /// Detectors with `cfg` over records named by `names`.
    pub fn new(cfg: Config, names: Names) -> Live {
        Live {
            detector: Detector::new(cfg),
            names,
            client: String::new(),
            recent: VecDeque::with_capacity(RECENT),
            first_us: None,
            dropped: 0,
        }
    }

    /// New index-to-name tables (after a reload).
    pub fn set_names(&mut self, names: Names) {
        self.names = names;
    }

    /// Records dropped before they reached the detectors, so far (shown in the snapshot).
    pub fn set_dropped(&mut self, dropped: u64) {
        self.dropped = dropped;
    }

    /// Counts one record.
    pub fn observe(&mut self, rec: &RequestRecord) {
        self.first_us.get_or_insert(rec.ts_us);
        let o = observation_of(rec, &self.names, &mut self.client);
        self.detector.observe(&o);
    }

    /// Judges the buckets that `now_us` closes; returns the findings that ended (to be
    /// written down) and whether anything was judged (so a new snapshot is due).
    pub fn advance(&mut self, now_us: i64) -> (Vec<Finding>, bool) {
        let before = self.detector.judged_until_us();
        self.detector.advance(now_us);
        let ended = self.take_ended();
        (ended, self.detector.judged_until_us() != before)
    }

    fn take_ended(&mut self) -> Vec<Finding> {
        let ended = self.detector.take_closed();
        for f in &ended {
            if self.recent.len() == RECENT {
                self.recent.pop_back();
            }
            self.recent.push_front(f.clone());
        }
        ended
    }

    /// What `/anomalies` shows now.
    pub fn snapshot(&self) -> Snapshot {
        let judged_until_us = self.detector.judged_until_us().unwrap_or(0);
        let warmup_us =
            self.detector.config().warmup_buckets as i64 * self.detector.config().bucket_us;
        let opened = self.detector.opened();
        Snapshot {
            judged_until_us,
            warmed_up: self
                .first_us
                .is_some_and(|f| judged_until_us - f >= warmup_us),
            open: self.detector.open_findings(),
            recent: self.recent.iter().cloned().collect(),
            opened_total: Kind::ALL
                .iter()
                .map(|k| (k.as_str(), opened[k.index()]))
                .collect(),
            records_dropped: self.dropped,
            records_late: self.detector.late_observations(),
        }
    }

    /// At shutdown: ends every open episode; returns the findings not yet returned.
    pub fn finish(&mut self) -> Vec<Finding> {
        let mut out = self.take_ended();
        let rest = self.detector.finish();
        for f in &rest {
            if self.recent.len() == RECENT {
                self.recent.pop_back();
            }
            self.recent.push_front(f.clone());
        }
        out.extend(rest);
        out
    }
}

//! Accumulators per group: counts, errors, bytes, and an HDR histogram of latencies.

use std::collections::HashMap;

use hdrhistogram::Histogram;

use super::{GroupBy, GroupRow};
use crate::civil::{write_rfc3339, US_PER_MINUTE};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Key {
    Null,
    Int(i64),
    Text(String),
}

#[derive(Debug)]
pub(super) struct Acc {
    pub(super) count: u64,
    pub(super) errors: u64,
    total_us: Histogram<u64>,
    pub(super) request_bytes: u64,
    pub(super) response_bytes: u64,
}

impl Default for Acc {
    fn default() -> Self {
        Self {
            count: 0,
            errors: 0,
            total_us: latency_histogram(),
            request_bytes: 0,
            response_bytes: 0,
        }
    }
}

impl Acc {
    pub(super) fn record_latency(&mut self, us: u32) {
        self.total_us.saturating_record(u64::from(us));
    }
}

/// A histogram of `total_us` values (any `u32`), 3 significant digits.
fn latency_histogram() -> Histogram<u64> {
    // 1 µs to u32::MAX µs at 3 significant digits are valid bounds: this cannot fail.
    Histogram::new_with_bounds(1, u64::from(u32::MAX), 3)
        .unwrap_or_else(|_| unreachable!("valid histogram bounds"))
}

/// The nearest-rank `p` quantile of a latency histogram (0 when empty).
pub(super) fn quantile(h: &Histogram<u64>, p: f64) -> u32 {
    if h.is_empty() {
        return 0;
    }
    u32::try_from(h.value_at_quantile(p)).unwrap_or(u32::MAX)
}

/// Accumulators by key; lookups by borrowed text allocate only for a new group.
pub(super) struct Groups {
    by: GroupBy,
    text: HashMap<String, usize>,
    int: HashMap<i64, usize>,
    null: Option<usize>,
    keys: Vec<Key>,
    pub(super) accs: Vec<Acc>,
}

impl Groups {
    pub(super) fn new(by: GroupBy) -> Self {
        Self {
            by,
            text: HashMap::new(),
            int: HashMap::new(),
            null: None,
            keys: Vec::new(),
            accs: Vec::new(),
        }
    }

    fn add(&mut self, key: Key) -> usize {
        self.keys.push(key);
        self.accs.push(Acc::default());
        self.accs.len() - 1
    }

    pub(super) fn null_or_all(&mut self) -> &mut Acc {
        let i = match self.null {
            Some(i) => i,
            None => {
                let i = self.add(Key::Null);
                self.null = Some(i);
                i
            }
        };
        &mut self.accs[i]
    }

    pub(super) fn text(&mut self, key: Option<&str>) -> &mut Acc {
        let Some(k) = key else {
            return self.null_or_all();
        };
        let i = match self.text.get(k) {
            Some(&i) => i,
            None => {
                let i = self.add(Key::Text(k.to_owned()));
                self.text.insert(k.to_owned(), i);
                i
            }
        };
        &mut self.accs[i]
    }

    pub(super) fn int(&mut self, key: i64) -> &mut Acc {
        let i = match self.int.get(&key) {
            Some(&i) => i,
            None => {
                let i = self.add(Key::Int(key));
                self.int.insert(key, i);
                i
            }
        };
        &mut self.accs[i]
    }

    pub(super) fn finish(self, top: Option<usize>) -> Vec<GroupRow> {
        let by = self.by;
        let mut all: Vec<(Key, Acc)> = self.keys.into_iter().zip(self.accs).collect();
        all.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
        if let Some(n) = top {
            all.truncate(n);
        }
        if by == GroupBy::Minute {
            all.sort_by(|a, b| a.0.cmp(&b.0));
        }
        all.into_iter()
            .map(|(key, acc)| {
                let q = |p: f64| quantile(&acc.total_us, p);
                GroupRow {
                    key: match key {
                        Key::Null if by == GroupBy::None => Some("all".to_owned()),
                        Key::Null => None,
                        Key::Text(s) => Some(s),
                        Key::Int(m) if by == GroupBy::Minute => {
                            let mut s = String::with_capacity(20);
                            write_rfc3339(&mut s, m * US_PER_MINUTE);
                            Some(s)
                        }
                        Key::Int(n) => Some(n.to_string()),
                    },
                    count: acc.count,
                    errors: acc.errors,
                    p50_us: q(0.50),
                    p90_us: q(0.90),
                    p99_us: q(0.99),
                    request_bytes: acc.request_bytes,
                    response_bytes: acc.response_bytes,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let of = |values: &[u32]| {
            let mut acc = Acc::default();
            for &v in values {
                acc.record_latency(v);
            }
            acc.total_us
        };
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&of(&v), 0.5), 50);
        assert_eq!(quantile(&of(&v), 0.9), 90);
        assert_eq!(quantile(&of(&v), 0.99), 99);
        assert_eq!(quantile(&of(&[7]), 0.99), 7);
        assert_eq!(quantile(&of(&[]), 0.5), 0);
        assert_eq!(quantile(&of(&[1, 2, 3]), 0.5), 2);
        // Large values: the top of their bucket, within 0.1% above the exact value.
        let big = quantile(&of(&[123_456_789]), 0.5);
        assert!(
            (123_456_789..=123_456_789 + 123_457).contains(&big),
            "{big}"
        );
        assert!(quantile(&of(&[0, u32::MAX]), 1.0) >= u32::MAX - u32::MAX / 1000);
    }
}

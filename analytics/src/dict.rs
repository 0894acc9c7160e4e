//! The dictionaries of the Parquet writer's dictionary-encoded columns: names by index
//! ([`NameDict`]), enums by discriminant ([`EnumDict`]), and per-row-group tables of the text
//! values clients choose themselves (paths, user agents, client ids: [`TextDict`]) and of
//! client addresses ([`IpDict`]).
//!
//! Clients pick the bytes that go into the text tables, so those are keyed: hashbrown's
//! `HashTable` with foldhash seeded at random per table. Someone who can send requests cannot
//! precompute colliding paths to slow the analytics thread down (and make the data plane drop
//! records when its queues fill).

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use ringway_telemetry::record::NONE;

use crate::pages::{DictPage, NULL_KEY};
use crate::schema::write_client_ip;

/// A dictionary of names for one index column; the key of a known index is fixed when the
/// table is set, unknown indices get placeholder values appended.
#[derive(Debug)]
pub(crate) struct NameDict {
    kind: &'static str,
    /// Whether indices are per parent (routes per listener, endpoints per upstream).
    nested: bool,
    values: Vec<String>,
    /// `base[p]..base[p + 1]` are the keys of parent `p`'s names.
    base: Vec<u32>,
    unknown: std::collections::HashMap<(u16, u16), u32>,
}

impl NameDict {
    pub(crate) fn flat(kind: &'static str, names: &[String]) -> Self {
        Self::build(kind, false, std::slice::from_ref(&names.to_vec()))
    }

    pub(crate) fn nested(kind: &'static str, names: &[Vec<String>]) -> Self {
        Self::build(kind, true, names)
    }

    fn build(kind: &'static str, nested: bool, groups: &[Vec<String>]) -> Self {
        let mut values = Vec::new();
        let mut base = vec![0u32];
        for g in groups {
            values.extend(g.iter().cloned());
            base.push(values.len() as u32);
        }
        Self {
            kind,
            nested,
            values,
            base,
            unknown: Default::default(),
        }
    }

    /// The key of `idx` under `parent` (`parent` is 0 for flat tables); [`NULL_KEY`] for
    /// [`NONE`].
    #[inline]
    pub(crate) fn key(&mut self, parent: u16, idx: u16) -> u32 {
        if idx == NONE {
            return NULL_KEY;
        }
        self.key_of_any(parent, idx)
    }

    /// Like [`key`](Self::key), but [`NONE`] gets a placeholder too (for required columns).
    #[inline]
    pub(crate) fn key_of_any(&mut self, parent: u16, idx: u16) -> u32 {
        let p = usize::from(parent);
        if p + 1 < self.base.len() {
            let k = self.base[p] + u32::from(idx);
            if k < self.base[p + 1] {
                return k;
            }
        }
        self.unknown_key(parent, idx)
    }

    #[cold]
    fn unknown_key(&mut self, parent: u16, idx: u16) -> u32 {
        if let Some(&k) = self.unknown.get(&(parent, idx)) {
            return k;
        }
        let k = self.values.len() as u32;
        self.values.push(if self.nested {
            format!("{}#{parent}.{idx}", self.kind)
        } else {
            format!("{}#{idx}", self.kind)
        });
        self.unknown.insert((parent, idx), k);
        k
    }

    /// The name of key `k`.
    pub(crate) fn value(&self, k: u32) -> &str {
        &self.values[k as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }
}

/// A dictionary for a `#[repr(u8)]` enum column, filled lazily from the discriminant and
/// `as_str()`, so a variant added to the telemetry enums needs no change here.
#[derive(Debug)]
pub(crate) struct EnumDict {
    pub(crate) names: Vec<&'static str>,
}

impl EnumDict {
    pub(crate) fn new() -> Self {
        Self { names: Vec::new() }
    }

    pub(crate) fn with_values(values: &[&'static str]) -> Self {
        Self {
            names: values.to_vec(),
        }
    }

    /// The key of a variant: its discriminant. A variant's name is learnt once (an enum's
    /// `as_str` never changes), so the hot path compares no strings.
    #[inline]
    pub(crate) fn key(&mut self, discriminant: u8, name: &'static str) -> u32 {
        let i = usize::from(discriminant);
        if self.names.get(i).is_none_or(|n| n.is_empty()) {
            self.learn(i, name);
        }
        u32::from(discriminant)
    }

    #[cold]
    fn learn(&mut self, i: usize, name: &'static str) {
        if self.names.len() <= i {
            self.names.resize(i + 1, "");
        }
        self.names[i] = name;
    }
}

/// A per-row-group dictionary of byte strings: keys are dense, in order of first
/// appearance; the dictionary page (the values as text) is built as entries come, and
/// lookups compare against it.
///
/// Stored values are valid UTF-8. A lookup hashes the raw bytes; only on a miss are they
/// checked, and invalid UTF-8 is looked up (and stored) as its U+FFFD-replaced text, so
/// inputs that read the same share an entry.
#[derive(Debug)]
pub(crate) struct TextDict {
    table: HashTable<u32>,
    hasher: RandomState,
    /// Entry `e`'s hash, for rehashing when the table grows.
    hashes: Vec<u64>,
    page: DictPage,
    /// Entry `e`'s text: `(start, len)` in the page.
    values: Vec<(u32, u32)>,
}

impl TextDict {
    pub(crate) fn new() -> Self {
        Self {
            table: HashTable::with_capacity(1024),
            hasher: RandomState::default(),
            hashes: Vec::new(),
            page: DictPage::new(),
            values: Vec::new(),
        }
    }

    /// The key of `b`, added if new.
    #[inline]
    pub(crate) fn key(&mut self, b: &[u8]) -> u32 {
        let h = self.hasher.hash_one(b);
        let Self {
            table,
            page,
            values,
            ..
        } = self;
        let holds = |&e: &u32| {
            let (start, len) = values[e as usize];
            len as usize == b.len()
                && page.buf.get(start as usize..start as usize + b.len()) == Some(b)
        };
        match table.find(h, holds) {
            Some(&e) => e,
            None => self.miss(h, b),
        }
    }

    #[cold]
    #[inline(never)]
    fn miss(&mut self, h: u64, b: &[u8]) -> u32 {
        if b.is_ascii() || std::str::from_utf8(b).is_ok() {
            return self.insert(h, b);
        }
        let text = String::from_utf8_lossy(b).into_owned();
        self.key(text.as_bytes())
    }

    fn insert(&mut self, h: u64, text: &[u8]) -> u32 {
        let key = self.values.len() as u32;
        let start = (self.page.buf.len() + 4) as u32;
        self.page.push_bytes(text);
        self.values.push((start, text.len() as u32));
        self.hashes.push(h);
        let Self { table, hashes, .. } = self;
        table.insert_unique(h, key, |&e| hashes[e as usize]);
        key
    }

    /// The text of entry `e` (as written to the dictionary: invalid UTF-8 replaced).
    pub(crate) fn value(&self, e: u32) -> &[u8] {
        let (start, len) = self.values[e as usize];
        &self.page.buf[start as usize..(start + len) as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// The dictionary page; the values stay readable until [`clear`](Self::clear).
    pub(crate) fn take_page(&mut self) -> DictPage {
        DictPage {
            buf: self.page.buf.clone(),
            len: self.page.len,
            sorted: false,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.table.clear();
        self.hashes.clear();
        self.page.buf.clear();
        self.page.len = 0;
        self.values.clear();
    }
}

/// A per-row-group dictionary of client addresses keyed by their 16 bytes; the text is
/// formatted once per distinct address.
#[derive(Debug)]
pub(crate) struct IpDict {
    table: HashTable<u32>,
    hasher: RandomState,
    ips: Vec<u128>,
    page: DictPage,
    values: Vec<std::ops::Range<usize>>,
    text: String,
}

impl IpDict {
    pub(crate) fn new() -> Self {
        Self {
            table: HashTable::with_capacity(1024),
            hasher: RandomState::default(),
            ips: Vec::new(),
            page: DictPage::new(),
            values: Vec::new(),
            text: String::with_capacity(40),
        }
    }

    /// The key of an address, added (and formatted) if new.
    #[inline]
    pub(crate) fn key(&mut self, ip: &[u8; 16]) -> u32 {
        let v = u128::from_le_bytes(*ip);
        let h = self.hasher.hash_one(v);
        let ips = &self.ips;
        match self.table.find(h, |&e| ips[e as usize] == v) {
            Some(&e) => e,
            None => self.insert(h, ip),
        }
    }

    #[cold]
    #[inline(never)]
    fn insert(&mut self, h: u64, ip: &[u8; 16]) -> u32 {
        let e = self.ips.len() as u32;
        self.ips.push(u128::from_le_bytes(*ip));
        self.text.clear();
        write_client_ip(&mut self.text, ip);
        let start = self.page.buf.len() + 4;
        self.page.push_bytes(self.text.as_bytes());
        self.values.push(start..self.page.buf.len());
        let Self {
            table, ips, hasher, ..
        } = self;
        table.insert_unique(h, e, |&e| hasher.hash_one(ips[e as usize]));
        e
    }

    /// The text of entry `e`.
    pub(crate) fn value(&self, e: u32) -> &[u8] {
        &self.page.buf[self.values[e as usize].clone()]
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    pub(crate) fn take_page(&mut self) -> DictPage {
        std::mem::replace(&mut self.page, DictPage::new())
    }

    pub(crate) fn clear(&mut self) {
        self.table.clear();
        self.ips.clear();
        self.page = DictPage::new();
        self.values.clear();
    }
}

/// A per-row-group text dictionary ([`TextDict`], [`IpDict`]).
pub(crate) trait TextColumn {
    /// Distinct values.
    fn len(&self) -> usize;
    /// The text of entry `e`.
    fn value(&self, e: u32) -> &[u8];
    /// The dictionary page (the dictionary is cleared afterwards).
    fn take_page(&mut self) -> DictPage;
}

impl TextColumn for TextDict {
    fn len(&self) -> usize {
        self.len()
    }
    fn value(&self, e: u32) -> &[u8] {
        self.value(e)
    }
    fn take_page(&mut self) -> DictPage {
        self.take_page()
    }
}

impl TextColumn for IpDict {
    fn len(&self) -> usize {
        self.len()
    }
    fn value(&self, e: u32) -> &[u8] {
        self.value(e)
    }
    fn take_page(&mut self) -> DictPage {
        self.take_page()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_dict_keys() {
        let mut d = NameDict::nested("route", &[vec!["a".into(), "b".into()], vec!["c".into()]]);
        assert_eq!(d.key(0, 0), 0);
        assert_eq!(d.key(0, 1), 1);
        assert_eq!(d.key(1, 0), 2);
        assert_eq!(d.key(1, NONE), NULL_KEY);
        assert_eq!(d.key(1, 1), 3);
        assert_eq!(d.key(7, 0), 4);
        assert_eq!(d.key(1, 1), 3);
        let v: Vec<&str> = (0..d.len() as u32).map(|k| d.value(k)).collect();
        assert_eq!(v, ["a", "b", "c", "route#1.1", "route#7.0"]);

        let mut f = NameDict::flat("upstream", &["x".into()]);
        assert_eq!(f.key(0, 0), 0);
        assert_eq!(f.key(0, 2), 1);
        assert_eq!(f.key_of_any(0, NONE), 2);
        assert_eq!(f.value(2), "upstream#65535");
    }

    #[test]
    fn text_dict_dedupes_and_grows() {
        let mut d = TextDict::new();
        let words: Vec<String> = (0..5000).map(|i| format!("value-{i}")).collect();
        for (i, w) in words.iter().enumerate() {
            assert_eq!(d.key(w.as_bytes()), i as u32);
        }
        for (i, w) in words.iter().enumerate().rev() {
            assert_eq!(d.key(w.as_bytes()), i as u32);
            assert_eq!(d.value(i as u32), w.as_bytes());
        }
        assert_eq!(d.key(b"bad \xff"), 5000);
        assert_eq!(d.value(5000), "bad \u{fffd}".as_bytes());
        d.clear();
        assert_eq!(d.key(b"value-7"), 0);
    }

    #[test]
    fn ip_dict_formats_once() {
        let mut d = IpDict::new();
        let a = std::net::Ipv4Addr::new(10, 0, 0, 1)
            .to_ipv6_mapped()
            .octets();
        let b: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(d.key(&a), 0);
        assert_eq!(d.key(&b.octets()), 1);
        assert_eq!(d.key(&a), 0);
        assert_eq!(d.value(0), b"10.0.0.1");
        assert_eq!(d.value(1), b"2001:db8::1");
    }
}

//! The record buffer behind [`ParquetSink`](crate::ParquetSink): each record is split into
//! columns as it is pushed, and a row group is encoded by hand ([`crate::pages`]) when it
//! closes; parquet-rs only frames the file (row groups, footer, metadata) and compresses the
//! pages.
//!
//! * Twenty-one columns are dictionary-encoded from keys the writer already has or finds
//!   cheaply: listener, route, upstream, endpoint, method, status class, outcome, cache, TLS
//!   version, TLS session, ALPN and gRPC status are indices into names; core, HTTP version, status and
//!   retries are small integers that are their own keys; client address, client id, path,
//!   user agent and SNI are looked up in
//!   per-row-group keyed hash tables (`crate::dict`) by the record's inline bytes (the client address by its
//!   16 bytes, so its text is formatted once per distinct address, not once per row). Only
//!   the keys a row group uses go into its dictionary. A text column whose row group is
//!   mostly distinct values is written `PLAIN` instead ([`PLAIN_DISTINCT_PERCENT`]).
//! * The timestamp is `DELTA_BINARY_PACKED` (about 1 ms apart: a few bits per row), the
//!   latencies and byte counts `BYTE_STREAM_SPLIT` (their high bytes are mostly zero and
//!   compress to nothing), the request id `DELTA_LENGTH_BYTE_ARRAY`. These are encoded a page
//!   ([`PAGE_ROWS`]) at a time as the row group fills.
//!
//! Every chunk is compressed with the file's codec (through parquet-rs, see
//! [`Compressor`]) except the bit-packed keys of names, enums and small integers: a few bits
//! per row barely compress, and skipping the codec keeps those columns almost free.
//! Integer columns get min/max statistics (the timestamp's prune time ranges); text columns
//! none (every route, method, client... appears in every row group).

use std::io::Write;

use parquet::basic::{Compression, Encoding};
use parquet::file::statistics::Statistics;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnDescPtr;
use ringway_telemetry::record::{Alpn, RequestRecord, TlsSession, TlsVersion, GRPC_NONE, NONE};

use crate::dict::{EnumDict, IpDict, NameDict, TextColumn, TextDict};
use crate::pages::{
    encode_byte_stream_split, encode_delta, encode_dict_chunk, encode_plain_chunk, Chunk,
    Compressor, DictPage, Scratch, ValueChunk, NULL_KEY, PAGE_ROWS,
};
use crate::schema::{status_class_key, Names, STATUS_CLASSES};
use crate::Result;

/// Values of the `grpc_status` column: the codes 0..=16 of the gRPC spec, then `other`.
const GRPC_CODES: [&str; 18] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    "other",
];

/// Lowercase hex of `bytes` into `out` (twice as long).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 15)];
    }
}

/// Schema positions of the columns (see [`crate::schema::col`]).
mod pos {
    pub(super) const TS: usize = 0;
    pub(super) const CORE: usize = 1;
    pub(super) const LISTENER: usize = 2;
    pub(super) const ROUTE: usize = 3;
    pub(super) const UPSTREAM: usize = 4;
    pub(super) const ENDPOINT: usize = 5;
    pub(super) const METHOD: usize = 6;
    pub(super) const HTTP_VERSION: usize = 7;
    pub(super) const STATUS: usize = 8;
    pub(super) const STATUS_CLASS: usize = 9;
    pub(super) const OUTCOME: usize = 10;
    pub(super) const CACHE: usize = 11;
    pub(super) const RETRIES: usize = 12;
    pub(super) const TOTAL_US: usize = 13;
    pub(super) const UPSTREAM_US: usize = 14;
    pub(super) const TTFB_US: usize = 15;
    pub(super) const REQUEST_BYTES: usize = 16;
    pub(super) const RESPONSE_BYTES: usize = 17;
    pub(super) const CLIENT_IP: usize = 18;
    pub(super) const CLIENT_ID: usize = 19;
    pub(super) const REQUEST_ID: usize = 20;
    pub(super) const PATH: usize = 21;
    pub(super) const USER_AGENT: usize = 22;
    pub(super) const TLS_VERSION: usize = 23;
    pub(super) const TLS_SESSION: usize = 24;
    pub(super) const ALPN: usize = 25;
    pub(super) const SNI: usize = 26;
    pub(super) const GRPC_STATUS: usize = 27;
    pub(super) const TRACE_ID: usize = 28;
    pub(super) const PARENT_ID: usize = 29;
    pub(super) const COUNT: usize = 30;
}

/// A text column chunk with more distinct values than this percentage of its non-null rows
/// is written `PLAIN` (the values in row order) instead of as a dictionary: the keys would
/// cost more than the repeats they save.
pub(crate) const PLAIN_DISTINCT_PERCENT: usize = 90;

/// Min/max of the value columns' rows encoded so far in the row group (`None`: no value).
#[derive(Debug, Default, Clone, Copy)]
struct Ranges {
    ts: Option<(i64, i64)>,
    /// `total_us`, `upstream_us`, `ttfb_us`.
    u32s: [Option<(u32, u32)>; 3],
    /// `request_bytes`, `response_bytes`.
    u64s: [Option<(u64, u64)>; 2],
}

/// `range` widened by the values `v`.
fn widen<T: Copy + Ord>(range: Option<(T, T)>, v: &[T]) -> Option<(T, T)> {
    let (lo, hi) = v.iter().fold(range.unzip(), |(lo, hi), &x| {
        (
            Some(lo.map_or(x, |l: T| l.min(x))),
            Some(hi.map_or(x, |h: T| h.max(x))),
        )
    });
    lo.zip(hi)
}

/// Which dictionary a key column uses.
#[derive(Debug, Clone, Copy)]
enum KeyKind {
    Listener,
    Route,
    Upstream,
    Endpoint,
    Method,
    StatusClass,
    Outcome,
    Cache,
    /// A small integer that is its own key.
    Int,
    ClientIp,
    ClientId,
    Path,
    UserAgent,
    TlsVersion,
    TlsSession,
    Alpn,
    Sni,
    ParentId,
    GrpcStatus,
}

/// The dictionary-encoded columns: schema position and dictionary, in schema order.
const KEY_COLUMNS: [(usize, KeyKind); 22] = [
    (pos::CORE, KeyKind::Int),
    (pos::LISTENER, KeyKind::Listener),
    (pos::ROUTE, KeyKind::Route),
    (pos::UPSTREAM, KeyKind::Upstream),
    (pos::ENDPOINT, KeyKind::Endpoint),
    (pos::METHOD, KeyKind::Method),
    (pos::HTTP_VERSION, KeyKind::Int),
    (pos::STATUS, KeyKind::Int),
    (pos::STATUS_CLASS, KeyKind::StatusClass),
    (pos::OUTCOME, KeyKind::Outcome),
    (pos::CACHE, KeyKind::Cache),
    (pos::RETRIES, KeyKind::Int),
    (pos::CLIENT_IP, KeyKind::ClientIp),
    (pos::CLIENT_ID, KeyKind::ClientId),
    (pos::PATH, KeyKind::Path),
    (pos::USER_AGENT, KeyKind::UserAgent),
    (pos::TLS_VERSION, KeyKind::TlsVersion),
    (pos::TLS_SESSION, KeyKind::TlsSession),
    (pos::ALPN, KeyKind::Alpn),
    (pos::SNI, KeyKind::Sni),
    (pos::GRPC_STATUS, KeyKind::GrpcStatus),
    (pos::PARENT_ID, KeyKind::ParentId),
];

/// The row group being buffered; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct Columns {
    /// The columns' descriptors, by schema position.
    descrs: Vec<ColumnDescPtr>,
    /// Rows in the row group.
    len: usize,
    /// The row where the value columns' page in progress starts: their buffers below hold
    /// the rows from here on; earlier rows are encoded in `values`.
    page_start: usize,
    /// The value columns' chunks so far, by schema position.
    values: [ValueChunk; pos::COUNT],
    /// Min/max of the value columns' rows encoded so far.
    ranges: Ranges,
    ts: Vec<i64>,
    total_us: Vec<u32>,
    /// Only rows with an upstream (the others are null).
    upstream_us: Vec<u32>,
    ttfb_us: Vec<u32>,
    request_bytes: Vec<u64>,
    response_bytes: Vec<u64>,
    /// Request ids, concatenated, and their lengths.
    request_ids: Vec<u8>,
    request_id_lens: Vec<i64>,
    /// Keys of the dictionary-encoded columns, by schema position (the other positions stay
    /// empty). [`NULL_KEY`] is null.
    keys: [Vec<u32>; pos::COUNT],
    listeners: NameDict,
    routes: NameDict,
    upstreams: NameDict,
    endpoints: NameDict,
    methods: EnumDict,
    status_classes: EnumDict,
    outcomes: EnumDict,
    caches: EnumDict,
    client_ips: IpDict,
    client_ids: TextDict,
    paths: TextDict,
    user_agents: TextDict,
    tls_versions: EnumDict,
    tls_sessions: EnumDict,
    alpns: EnumDict,
    snis: TextDict,
    parent_ids: TextDict,
    grpc_statuses: EnumDict,
    /// Trace ids of the page's rows that have one, as hex, and their lengths (always 32).
    /// Random: a dictionary would hold every value and compression would gain little, so
    /// they are written `DELTA_LENGTH_BYTE_ARRAY`, uncompressed.
    trace_ids: Vec<u8>,
    trace_id_lens: Vec<i64>,
    remap: Vec<u32>,
    scratch: Scratch,
    /// The file's codec.
    codec: Compressor,
    /// No compression, for the keys of names, enums and integers.
    uncompressed: Compressor,
}

impl Columns {
    /// Buffers for row groups of `group_cap` rows of the columns `descrs` (the log schema's,
    /// in order), resolving indices with `names`, writing pages compressed with `codec`.
    pub(crate) fn new(
        group_cap: usize,
        descrs: Vec<ColumnDescPtr>,
        names: &Names,
        codec: Compression,
    ) -> Self {
        debug_assert_eq!(descrs.len(), pos::COUNT);
        let cap = group_cap.min(1 << 20);
        let page = cap.min(PAGE_ROWS);
        let mut keys: [Vec<u32>; pos::COUNT] = Default::default();
        for (p, _) in KEY_COLUMNS {
            keys[p] = Vec::with_capacity(cap);
        }
        keys[pos::TRACE_ID] = Vec::with_capacity(cap);
        Self {
            descrs,
            len: 0,
            page_start: 0,
            values: Default::default(),
            ranges: Ranges::default(),
            ts: Vec::with_capacity(page),
            total_us: Vec::with_capacity(page),
            upstream_us: Vec::with_capacity(page),
            ttfb_us: Vec::with_capacity(page),
            request_bytes: Vec::with_capacity(page),
            response_bytes: Vec::with_capacity(page),
            request_ids: Vec::with_capacity(page * 32),
            request_id_lens: Vec::with_capacity(page),
            keys,
            listeners: NameDict::flat("listener", &names.listeners),
            routes: NameDict::nested("route", &names.routes),
            upstreams: NameDict::flat("upstream", &names.upstreams),
            endpoints: NameDict::nested("endpoint", &names.endpoints),
            methods: EnumDict::new(),
            status_classes: EnumDict::with_values(&STATUS_CLASSES),
            outcomes: EnumDict::new(),
            caches: EnumDict::new(),
            client_ips: IpDict::new(),
            client_ids: TextDict::new(),
            paths: TextDict::new(),
            user_agents: TextDict::new(),
            tls_versions: EnumDict::new(),
            tls_sessions: EnumDict::new(),
            alpns: EnumDict::new(),
            snis: TextDict::new(),
            parent_ids: TextDict::new(),
            grpc_statuses: EnumDict::with_values(&GRPC_CODES),
            trace_ids: Vec::with_capacity(page * 32),
            trace_id_lens: Vec::with_capacity(page),
            remap: Vec::new(),
            scratch: Scratch::default(),
            codec: Compressor::new(codec),
            uncompressed: Compressor::new(Compression::UNCOMPRESSED),
        }
    }

    /// Rows in the row group being built.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Drops every buffered row (their file failed).
    pub(crate) fn discard(&mut self) {
        self.clear();
    }

    fn clear(&mut self) {
        self.len = 0;
        self.page_start = 0;
        for v in &mut self.values {
            v.clear();
        }
        self.ranges = Ranges::default();
        self.ts.clear();
        self.total_us.clear();
        self.upstream_us.clear();
        self.ttfb_us.clear();
        self.request_bytes.clear();
        self.response_bytes.clear();
        self.request_ids.clear();
        self.request_id_lens.clear();
        for (p, _) in KEY_COLUMNS {
            self.keys[p].clear();
        }
        self.client_ips.clear();
        self.client_ids.clear();
        self.paths.clear();
        self.user_agents.clear();
        self.snis.clear();
        self.parent_ids.clear();
        self.keys[pos::TRACE_ID].clear();
        self.trace_ids.clear();
        self.trace_id_lens.clear();
    }

    /// Replaces the names table. The caller writes the row group first: its keys index the
    /// old table.
    pub(crate) fn set_names(&mut self, names: &Names) {
        debug_assert_eq!(self.len, 0);
        self.listeners = NameDict::flat("listener", &names.listeners);
        self.routes = NameDict::nested("route", &names.routes);
        self.upstreams = NameDict::flat("upstream", &names.upstreams);
        self.endpoints = NameDict::nested("endpoint", &names.endpoints);
    }

    #[inline]
    pub(crate) fn push(&mut self, r: &RequestRecord) {
        self.len += 1;
        let k = &mut self.keys;
        k[pos::CORE].push(u32::from(r.core));
        k[pos::LISTENER].push(self.listeners.key_of_any(0, r.listener));
        // Routes are per listener; a listener of NONE makes any route an unknown one.
        k[pos::ROUTE].push(self.routes.key(r.listener, r.route));
        k[pos::UPSTREAM].push(self.upstreams.key(0, r.upstream));
        k[pos::ENDPOINT].push(if r.endpoint == NONE {
            NULL_KEY
        } else {
            self.endpoints.key(r.upstream, r.endpoint)
        });
        k[pos::METHOD].push(self.methods.key(r.method as u8, r.method.as_str()));
        k[pos::HTTP_VERSION].push(u32::from(r.http_version));
        k[pos::STATUS].push(u32::from(r.status));
        k[pos::STATUS_CLASS].push(status_class_key(r.status).map_or(NULL_KEY, u32::from));
        k[pos::OUTCOME].push(self.outcomes.key(r.outcome as u8, r.outcome.as_str()));
        k[pos::CACHE].push(self.caches.key(r.cache as u8, r.cache.as_str()));
        k[pos::RETRIES].push(u32::from(r.retries));
        k[pos::CLIENT_IP].push(self.client_ips.key(&r.client_ip));
        let id = r.client_id.as_bytes();
        k[pos::CLIENT_ID].push(if id.is_empty() {
            NULL_KEY
        } else {
            self.client_ids.key(id)
        });
        let ua = r.user_agent.as_bytes();
        k[pos::USER_AGENT].push(if ua.is_empty() {
            NULL_KEY
        } else {
            self.user_agents.key(ua)
        });

        self.ts.push(r.ts_us);
        self.total_us.push(r.total_us);
        // Null without an upstream: the same rows as the upstream column's nulls.
        if r.upstream != NONE {
            self.upstream_us.push(r.upstream_us);
            self.ttfb_us.push(r.ttfb_us);
        }
        self.request_bytes.push(r.request_bytes);
        self.response_bytes.push(r.response_bytes);
        let id = r.request_id.as_bytes();
        if id.is_ascii() || std::str::from_utf8(id).is_ok() {
            self.request_ids.extend_from_slice(id);
            self.request_id_lens.push(id.len() as i64);
        } else {
            let text = String::from_utf8_lossy(id);
            self.request_ids.extend_from_slice(text.as_bytes());
            self.request_id_lens.push(text.len() as i64);
        }
        let key = self.paths.key(r.path.as_bytes());
        self.keys[pos::PATH].push(key);
        self.push_tls(r);
    }

    /// The TLS columns: null on plain connections.
    #[inline]
    fn push_tls(&mut self, r: &RequestRecord) {
        let k = &mut self.keys;
        let (v, s, a) = (r.tls_version, r.tls_session, r.alpn);
        k[pos::TLS_VERSION].push(if v == TlsVersion::None {
            NULL_KEY
        } else {
            self.tls_versions.key(v as u8, v.as_str())
        });
        k[pos::TLS_SESSION].push(if s == TlsSession::None {
            NULL_KEY
        } else {
            self.tls_sessions.key(s as u8, s.as_str())
        });
        k[pos::ALPN].push(if a == Alpn::None {
            NULL_KEY
        } else {
            self.alpns.key(a as u8, a.as_str())
        });
        let sni = r.sni.as_bytes();
        k[pos::SNI].push(if sni.is_empty() {
            NULL_KEY
        } else {
            self.snis.key(sni)
        });
        k[pos::GRPC_STATUS].push(match r.grpc_status {
            GRPC_NONE => NULL_KEY,
            code => {
                let i = usize::from(code).min(GRPC_CODES.len() - 1);
                self.grpc_statuses.key(i as u8, GRPC_CODES[i])
            }
        });
        let parent = r.parent_id.as_bytes();
        k[pos::PARENT_ID].push(if parent.is_empty() {
            NULL_KEY
        } else {
            self.parent_ids.key(parent)
        });
        // A presence marker per row (the nulls of the value column below).
        if r.trace_id == [0; 16] {
            k[pos::TRACE_ID].push(NULL_KEY);
        } else {
            k[pos::TRACE_ID].push(0);
            let at = self.trace_ids.len();
            self.trace_ids.resize(at + 32, 0);
            hex_into(&r.trace_id, &mut self.trace_ids[at..]);
            self.trace_id_lens.push(32);
        }
    }

    /// Estimated encoded bytes of the row group so far (for the file size check): the
    /// compressed bytes per row of the file's previous row groups, else a typical 24.
    pub(crate) fn estimated_bytes(&self, bytes_per_row: Option<f64>) -> u64 {
        (self.len as f64 * bytes_per_row.unwrap_or(24.0)) as u64
    }

    /// Encodes and writes the row group (nothing when empty); the buffers start again.
    pub(crate) fn write_group<W: Write + Send>(
        &mut self,
        file: &mut SerializedFileWriter<W>,
    ) -> Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        let result = self
            .write_values_page()
            .and_then(|()| self.write_group_inner(file));
        self.clear();
        result
    }

    fn write_group_inner<W: Write + Send>(
        &mut self,
        file: &mut SerializedFileWriter<W>,
    ) -> Result<()> {
        let descrs = self.descrs.clone();
        let mut chunks = Vec::with_capacity(pos::COUNT);
        let mut keyed = KEY_COLUMNS.iter().peekable();
        for (p, descr) in descrs.iter().enumerate() {
            let chunk = match keyed.next_if(|(q, _)| *q == p) {
                Some(&(_, kind)) => {
                    let mut keys = std::mem::take(&mut self.keys[p]);
                    let chunk = self.encode_key_column(descr, kind, &mut keys);
                    self.keys[p] = keys;
                    chunk?
                }
                None => self.finish_value_column(descr, p)?,
            };
            chunks.push(chunk);
        }
        let mut rg = file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to(&mut rg)?;
        }
        rg.close()?;
        Ok(())
    }

    /// Whether the value columns have a page's worth of rows buffered
    /// ([`write_values_page`](Self::write_values_page) is due).
    pub(crate) fn page_due(&self) -> bool {
        self.len - self.page_start >= PAGE_ROWS
    }

    /// Encodes the value columns' buffered rows (timestamp, latencies, byte counts, request
    /// id) as one page each, and empties their buffers.
    pub(crate) fn write_values_page(&mut self) -> Result<()> {
        let (start, end) = (self.page_start, self.len);
        if start == end {
            return Ok(());
        }
        let rows = end - start;
        let upstream_nulls = &self.keys[pos::UPSTREAM][start..end];
        let trace_nulls = &self.keys[pos::TRACE_ID][start..end];
        let (d, s, r) = (&self.descrs, &mut self.scratch, &mut self.ranges);
        // Timestamp deltas of a few bits barely compress (1.30 to 1.27 bytes per row with
        // zstd): the codec would only cost time.
        let ts = &self.ts;
        r.ts = widen(r.ts, ts);
        self.values[pos::TS].page(
            &d[pos::TS],
            rows,
            None,
            Encoding::DELTA_BINARY_PACKED,
            &mut self.uncompressed,
            s,
            |_, out| encode_delta(ts, out),
        )?;
        for (p, v) in [
            (pos::TOTAL_US, &self.total_us),
            (pos::UPSTREAM_US, &self.upstream_us),
            (pos::TTFB_US, &self.ttfb_us),
        ] {
            let nulls = (p != pos::TOTAL_US).then_some(upstream_nulls);
            r.u32s[p - pos::TOTAL_US] = widen(r.u32s[p - pos::TOTAL_US], v);
            self.values[p].page(
                &d[p],
                rows,
                nulls,
                Encoding::BYTE_STREAM_SPLIT,
                &mut self.codec,
                s,
                |_, out| encode_byte_stream_split(v.iter().map(|x| x.to_le_bytes()), out),
            )?;
        }
        for (p, v) in [
            (pos::REQUEST_BYTES, &self.request_bytes),
            (pos::RESPONSE_BYTES, &self.response_bytes),
        ] {
            r.u64s[p - pos::REQUEST_BYTES] = widen(r.u64s[p - pos::REQUEST_BYTES], v);
            self.values[p].page(
                &d[p],
                rows,
                None,
                Encoding::BYTE_STREAM_SPLIT,
                &mut self.codec,
                s,
                |_, out| encode_byte_stream_split(v.iter().map(|x| x.to_le_bytes()), out),
            )?;
        }
        let (lens, bytes) = (&self.request_id_lens, &self.request_ids);
        self.values[pos::REQUEST_ID].page(
            &d[pos::REQUEST_ID],
            rows,
            None,
            Encoding::DELTA_LENGTH_BYTE_ARRAY,
            &mut self.codec,
            s,
            |_, out| {
                encode_delta(lens, out);
                out.extend_from_slice(bytes);
            },
        )?;
        let (lens, bytes) = (&self.trace_id_lens, &self.trace_ids);
        self.values[pos::TRACE_ID].page(
            &d[pos::TRACE_ID],
            rows,
            Some(trace_nulls),
            Encoding::DELTA_LENGTH_BYTE_ARRAY,
            &mut self.uncompressed,
            s,
            |_, out| {
                encode_delta(lens, out);
                out.extend_from_slice(bytes);
            },
        )?;
        self.page_start = end;
        self.trace_ids.clear();
        self.trace_id_lens.clear();
        self.ts.clear();
        self.total_us.clear();
        self.upstream_us.clear();
        self.ttfb_us.clear();
        self.request_bytes.clear();
        self.response_bytes.clear();
        self.request_ids.clear();
        self.request_id_lens.clear();
        Ok(())
    }

    /// The chunk of one of the value columns, with its statistics.
    fn finish_value_column(&mut self, descr: &ColumnDescPtr, p: usize) -> Result<Chunk> {
        let r = &self.ranges;
        // Unsigned columns keep their bit patterns (UINT_32 and UINT_64 sort unsigned).
        let (codec, stats) = match p {
            pos::TS => (
                Compression::UNCOMPRESSED,
                Some(Statistics::int64(
                    r.ts.map(|m| m.0),
                    r.ts.map(|m| m.1),
                    None,
                    Some(0),
                    false,
                )),
            ),
            pos::TOTAL_US | pos::UPSTREAM_US | pos::TTFB_US => {
                let m = r.u32s[p - pos::TOTAL_US];
                let nulls = if p == pos::TOTAL_US {
                    0
                } else {
                    self.keys[pos::UPSTREAM]
                        .iter()
                        .filter(|&&k| k == NULL_KEY)
                        .count()
                };
                (
                    self.codec.codec(),
                    Some(Statistics::int32(
                        m.map(|m| m.0 as i32),
                        m.map(|m| m.1 as i32),
                        None,
                        Some(nulls as u64),
                        false,
                    )),
                )
            }
            pos::REQUEST_BYTES | pos::RESPONSE_BYTES => {
                let m = r.u64s[p - pos::REQUEST_BYTES];
                (
                    self.codec.codec(),
                    Some(Statistics::int64(
                        m.map(|m| m.0 as i64),
                        m.map(|m| m.1 as i64),
                        None,
                        Some(0),
                        false,
                    )),
                )
            }
            pos::REQUEST_ID => (self.codec.codec(), None),
            pos::TRACE_ID => (Compression::UNCOMPRESSED, None),
            _ => unreachable!("column {p} is dictionary-encoded"),
        };
        self.values[p].finish(descr, codec, stats)
    }

    /// One dictionary-encoded chunk (or `PLAIN`, for a mostly distinct text column).
    fn encode_key_column(
        &mut self,
        descr: &ColumnDescPtr,
        kind: KeyKind,
        keys: &mut [u32],
    ) -> Result<Chunk> {
        let text: Option<&mut dyn TextColumn> = match kind {
            KeyKind::ClientIp => Some(&mut self.client_ips),
            KeyKind::ClientId => Some(&mut self.client_ids),
            KeyKind::Path => Some(&mut self.paths),
            KeyKind::UserAgent => Some(&mut self.user_agents),
            KeyKind::Sni => Some(&mut self.snis),
            KeyKind::ParentId => Some(&mut self.parent_ids),
            _ => None,
        };
        if let Some(dict) = text {
            let rows = keys.iter().filter(|&&k| k != NULL_KEY).count();
            if dict.len() * 100 > rows * PLAIN_DISTINCT_PERCENT {
                // Mostly distinct: the values in row order.
                return encode_plain_chunk(
                    descr,
                    keys,
                    |k| dict.value(k),
                    &mut self.codec,
                    &mut self.scratch,
                );
            }
            // A small dictionary (at most half a byte per row) is left uncompressed with its
            // keys: bit-packed keys barely compress, and the codec would only cost time.
            let page = dict.take_page();
            let codec = if page.buf.len() * 2 <= keys.len() {
                &mut self.uncompressed
            } else {
                &mut self.codec
            };
            return encode_dict_chunk(descr, keys, None, page, None, codec, &mut self.scratch);
        }

        // Names, enums and integers: number the keys the row group uses, in key order.
        let domain = match kind {
            KeyKind::Listener => self.listeners.len(),
            KeyKind::Route => self.routes.len(),
            KeyKind::Upstream => self.upstreams.len(),
            KeyKind::Endpoint => self.endpoints.len(),
            KeyKind::Method => self.methods.names.len(),
            KeyKind::StatusClass => self.status_classes.names.len(),
            KeyKind::Outcome => self.outcomes.names.len(),
            KeyKind::Cache => self.caches.names.len(),
            KeyKind::TlsVersion => self.tls_versions.names.len(),
            KeyKind::TlsSession => self.tls_sessions.names.len(),
            KeyKind::Alpn => self.alpns.names.len(),
            KeyKind::GrpcStatus => self.grpc_statuses.names.len(),
            _ => keys.iter().copied().max().map_or(0, |m| m as usize + 1),
        };
        let remap = &mut self.remap;
        remap.clear();
        remap.resize(domain, NULL_KEY);
        for &k in keys.iter() {
            if k != NULL_KEY {
                remap[k as usize] = 0;
            }
        }
        let mut page = DictPage::new();
        let mut min_max = None;
        for (raw, slot) in remap.iter_mut().enumerate() {
            if *slot == NULL_KEY {
                continue;
            }
            *slot = page.len as u32;
            let raw32 = raw as u32;
            match kind {
                KeyKind::Int => {
                    page.push_i32(raw as i32);
                    min_max = Some((min_max.map_or(raw as i32, |(m, _)| m), raw as i32));
                }
                KeyKind::Listener => page.push_bytes(self.listeners.value(raw32).as_bytes()),
                KeyKind::Route => page.push_bytes(self.routes.value(raw32).as_bytes()),
                KeyKind::Upstream => page.push_bytes(self.upstreams.value(raw32).as_bytes()),
                KeyKind::Endpoint => page.push_bytes(self.endpoints.value(raw32).as_bytes()),
                KeyKind::Method => page.push_bytes(self.methods.names[raw].as_bytes()),
                KeyKind::StatusClass => page.push_bytes(self.status_classes.names[raw].as_bytes()),
                KeyKind::Outcome => page.push_bytes(self.outcomes.names[raw].as_bytes()),
                KeyKind::Cache => page.push_bytes(self.caches.names[raw].as_bytes()),
                KeyKind::TlsVersion => page.push_bytes(self.tls_versions.names[raw].as_bytes()),
                KeyKind::TlsSession => page.push_bytes(self.tls_sessions.names[raw].as_bytes()),
                KeyKind::Alpn => page.push_bytes(self.alpns.names[raw].as_bytes()),
                KeyKind::GrpcStatus => page.push_bytes(self.grpc_statuses.names[raw].as_bytes()),
                KeyKind::ClientIp
                | KeyKind::ClientId
                | KeyKind::Path
                | KeyKind::UserAgent
                | KeyKind::Sni
                | KeyKind::ParentId => {
                    unreachable!("text columns return above")
                }
            }
        }
        let statistics = match kind {
            KeyKind::Int => {
                page.sorted = true;
                Some(Statistics::int32(
                    min_max.map(|(m, _)| m),
                    min_max.map(|(_, m)| m),
                    None,
                    Some(0),
                    false,
                ))
            }
            _ => None,
        };
        let remap = std::mem::take(&mut self.remap);
        let chunk = encode_dict_chunk(
            descr,
            keys,
            Some(&remap),
            page,
            statistics,
            &mut self.uncompressed,
            &mut self.scratch,
        );
        self.remap = remap;
        chunk
    }
}

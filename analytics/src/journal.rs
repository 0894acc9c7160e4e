//! The crash journal: every record the [`ParquetSink`](crate::ParquetSink) accepts is also
//! appended, as a fixed-size binary record, to a segment file that belongs to the Parquet file
//! being written; the segment is synced every [`SYNC_EVERY`] and deleted once its Parquet
//! file is complete and renamed into place. A Parquet file is only readable once it has its
//! footer, so without the journal a crash (SIGKILL, power loss) would lose everything since
//! the file was opened (up to the rotation period); with it, the loss is what was not yet
//! synced: at most [`SYNC_EVERY`] of records plus the time they waited in the queues.
//!
//! [`recover`] (run by the next start, before serving) turns every segment left behind into
//! Parquet files and deletes it, with the incomplete `.tmp` file it shadowed; a segment whose
//! Parquet file was renamed before the crash could delete it is just deleted. A torn last
//! record (or anything after it) fails its CRC and is ignored.
//!
//! Layout: `<logs>/.journal/<parquet file name>.wal`, starting with the magic `RWJ1`, the
//! Parquet file's path relative to the logs directory (u16 length + bytes) and the names table
//! of the configuration that wrote it (u32 length + JSON: a restart with another configuration
//! still names the recovered records right), then records: a u16 length, every field of
//! [`RequestRecord`] in declaration order (little-endian; texts as a length byte and their
//! bytes, unpadded: a typical record is about 150 bytes, at most [`MAX_RECORD_BYTES`]), then a
//! CRC-32 of the length and fields. Written by hand: a private layout whose only reader is
//! [`recover`], and a byte-for-byte copy per record is what keeps its cost down (measured:
//! fixed 466-byte records cost the writer thread about 500 ns a record, mostly copying).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ringway_telemetry::record::{
    Alpn, CacheStatus, Inline, Method, Outcome, RequestRecord, TlsSession, TlsVersion,
};

use crate::{Error, Names, Result};

/// How often the open segment is flushed and synced.
pub const SYNC_EVERY: Duration = Duration::from_millis(500);
/// The journal's directory under the logs directory (hidden: no reader's glob sees it).
pub const DIR: &str = ".journal";
/// Largest journal record: length, fields with full texts, CRC.
pub const MAX_RECORD_BYTES: usize = 2 + 462 + 65 + 4;
const MAGIC: &[u8; 4] = b"RWJ1";

/// The segment of the Parquet file being written.
#[derive(Debug)]
pub(crate) struct Segment {
    path: PathBuf,
    out: BufWriter<File>,
    synced_at: SystemTime,
    buf: Vec<u8>,
}

impl Segment {
    /// Starts the segment of the Parquet file `target` (under `logs`).
    pub(crate) fn create(
        logs: &Path,
        target: &Path,
        names: &Names,
        now: SystemTime,
    ) -> Result<Self> {
        let dir = logs.join(DIR);
        fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let path = dir.join(format!("{name}.wal"));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        let rel = target.strip_prefix(logs).unwrap_or(target);
        let rel = rel.to_string_lossy();
        let len = u16::try_from(rel.len()).unwrap_or(u16::MAX);
        let names = serde_json::to_vec(names).unwrap_or_default();
        let names_len = u32::try_from(names.len()).unwrap_or(0);
        let header = [
            MAGIC.as_slice(),
            &len.to_le_bytes(),
            &rel.as_bytes()[..usize::from(len)],
            &names_len.to_le_bytes(),
            &names[..names_len as usize],
        ];
        for part in header {
            out.write_all(part)
                .map_err(|e| Error::io("write", &path, e))?;
        }
        // The directory entry must survive a crash for the segment to be found.
        sync_dir(&dir)?;
        Ok(Self {
            path,
            out,
            synced_at: now,
            buf: Vec::with_capacity(MAX_RECORD_BYTES),
        })
    }

    /// Appends one record (buffered; [`Segment::sync_if_due`] makes it durable).
    pub(crate) fn append(&mut self, rec: &RequestRecord) -> Result<()> {
        self.buf.clear();
        encode(rec, &mut self.buf);
        self.out
            .write_all(&self.buf)
            .map_err(|e| Error::io("write", &self.path, e))
    }

    /// Flushes and syncs when [`SYNC_EVERY`] has passed since the last sync.
    pub(crate) fn sync_if_due(&mut self, now: SystemTime) -> Result<()> {
        if now.duration_since(self.synced_at).unwrap_or_default() < SYNC_EVERY {
            return Ok(());
        }
        self.synced_at = now;
        self.out
            .flush()
            .map_err(|e| Error::io("write", &self.path, e))?;
        self.out
            .get_ref()
            .sync_data()
            .map_err(|e| Error::io("sync", &self.path, e))
    }

    /// Deletes the segment: its Parquet file is complete.
    pub(crate) fn remove(self) -> Result<()> {
        drop(self.out);
        fs::remove_file(&self.path).map_err(|e| Error::io("remove", &self.path, e))
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync", dir, e))
}

/// What [`recover`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Segments read (and deleted).
    pub segments: u64,
    /// Records recovered into Parquet.
    pub records: u64,
    /// Segments whose Parquet file was already complete.
    pub already_complete: u64,
    /// Bytes at segment ends that were not whole, valid records (a torn write).
    pub torn_bytes: u64,
}

/// Hands the records of each segment left under `logs`, with the names table it was written
/// with, to `write` (which writes them as Parquet), then deletes the segment and the
/// incomplete file it shadowed. Call it before a new sink writes there.
pub fn recover(
    logs: &Path,
    mut write: impl FnMut(&Names, &[RequestRecord]) -> Result<()>,
) -> Result<Recovered> {
    let dir = logs.join(DIR);
    let mut found = Recovered::default();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(Error::io("read directory", &dir, e)),
    };
    let mut segments: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    segments.sort();
    for seg in segments {
        let mut bytes = Vec::new();
        File::open(&seg)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| Error::io("read", &seg, e))?;
        found.segments += 1;
        let Some((target, names, mut body)) = header(&bytes) else {
            // Not even a header: the crash came before anything could be written.
            found.torn_bytes += bytes.len() as u64;
            fs::remove_file(&seg).map_err(|e| Error::io("remove", &seg, e))?;
            continue;
        };
        let target = logs.join(target);
        if target.exists() {
            found.already_complete += 1;
        } else {
            let mut records = Vec::with_capacity(body.len() / 128);
            while let Some((rec, used)) = decode(body) {
                records.push(rec);
                body = &body[used..];
            }
            found.torn_bytes += body.len() as u64;
            if !records.is_empty() {
                write(&names, &records)?;
            }
            found.records += records.len() as u64;
        }
        if let (Some(parent), Some(name)) = (target.parent(), target.file_name()) {
            let tmp = parent.join(format!(".{}.tmp", name.to_string_lossy()));
            let _ = fs::remove_file(tmp);
        }
        fs::remove_file(&seg).map_err(|e| Error::io("remove", &seg, e))?;
    }
    Ok(found)
}

fn header(bytes: &[u8]) -> Option<(PathBuf, Names, &[u8])> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*len));
    let path = std::str::from_utf8(rest.get(..len)?).ok()?;
    let rest = &rest[len..];
    let (names_len, rest) = rest.split_first_chunk::<4>()?;
    let names_len = u32::from_le_bytes(*names_len) as usize;
    let names = serde_json::from_slice(rest.get(..names_len)?).ok()?;
    Some((PathBuf::from(path), names, &rest[names_len..]))
}

/// Appends `rec` to `out` (see the module docs for the layout).
fn encode(rec: &RequestRecord, out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&rec.ts_us.to_le_bytes());
    for v in [
        rec.core,
        rec.listener,
        rec.route,
        rec.upstream,
        rec.endpoint,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&[rec.method as u8, rec.http_version]);
    out.extend_from_slice(&rec.status.to_le_bytes());
    out.extend_from_slice(&[rec.outcome as u8, rec.cache as u8, rec.retries]);
    for v in [rec.total_us, rec.upstream_us, rec.ttfb_us] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&rec.request_bytes.to_le_bytes());
    out.extend_from_slice(&rec.response_bytes.to_le_bytes());
    out.extend_from_slice(&rec.client_ip);
    for text in [
        rec.client_id.as_bytes(),
        rec.request_id.as_bytes(),
        rec.path.as_bytes(),
        rec.user_agent.as_bytes(),
    ] {
        out.push(text.len() as u8);
        out.extend_from_slice(text);
    }
    out.extend_from_slice(&[rec.tls_version as u8, rec.tls_session as u8, rec.alpn as u8]);
    let sni = rec.sni.as_bytes();
    out.push(sni.len() as u8);
    out.extend_from_slice(sni);
    out.push(rec.grpc_status);
    out.extend_from_slice(&rec.trace_id);
    let parent = rec.parent_id.as_bytes();
    out.push(parent.len() as u8);
    out.extend_from_slice(parent);
    let len = (out.len() - at - 2) as u16;
    out[at..at + 2].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&out[at..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Reads the record at the start of `b` written by [`encode`]: the record and the bytes it
/// took, or `None` if it is incomplete, its CRC fails or a value is out of range.
fn decode(b: &[u8]) -> Option<(RequestRecord, usize)> {
    let (len, _) = b.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*len));
    let framed = b.get(..2 + len)?;
    let crc = b.get(2 + len..2 + len + 4)?;
    if crc32fast::hash(framed).to_le_bytes() != crc {
        return None;
    }
    let mut r = Reader {
        b: &framed[2..],
        at: 0,
    };
    let rec = r.record()?;
    (r.at == len).then_some((rec, 2 + len + 4))
}

impl Reader<'_> {
    fn record(&mut self) -> Option<RequestRecord> {
        let mut rec = RequestRecord {
            ts_us: i64::from_le_bytes(self.take()?),
            ..RequestRecord::default()
        };
        for v in [
            &mut rec.core,
            &mut rec.listener,
            &mut rec.route,
            &mut rec.upstream,
            &mut rec.endpoint,
        ] {
            *v = u16::from_le_bytes(self.take()?);
        }
        rec.method = *METHODS.get(usize::from(self.byte()?))?;
        rec.http_version = self.byte()?;
        rec.status = u16::from_le_bytes(self.take()?);
        rec.outcome = *Outcome::ALL.get(usize::from(self.byte()?))?;
        rec.cache = *CACHE.get(usize::from(self.byte()?))?;
        rec.retries = self.byte()?;
        for v in [&mut rec.total_us, &mut rec.upstream_us, &mut rec.ttfb_us] {
            *v = u32::from_le_bytes(self.take()?);
        }
        rec.request_bytes = u64::from_le_bytes(self.take()?);
        rec.response_bytes = u64::from_le_bytes(self.take()?);
        rec.client_ip = self.take()?;
        rec.client_id = self.text()?;
        rec.request_id = self.text()?;
        rec.path = self.text()?;
        rec.user_agent = self.text()?;
        rec.tls_version = *TLS_VERSIONS.get(usize::from(self.byte()?))?;
        rec.tls_session = *TLS_SESSIONS.get(usize::from(self.byte()?))?;
        rec.alpn = *ALPNS.get(usize::from(self.byte()?))?;
        rec.sni = self.text()?;
        rec.grpc_status = self.byte()?;
        rec.trace_id = self.take()?;
        // Journals written before sub-requests had no parent id.
        if self.at < self.b.len() {
            rec.parent_id = self.text()?;
        }
        Some(rec)
    }
}

// Discriminant order of each enum (`as u8` when encoding).
const METHODS: [Method; 8] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Delete,
    Method::Patch,
    Method::Options,
    Method::Other,
];
const CACHE: [CacheStatus; 4] = [
    CacheStatus::None,
    CacheStatus::Hit,
    CacheStatus::Miss,
    CacheStatus::Bypass,
];
const TLS_VERSIONS: [TlsVersion; 3] = [TlsVersion::None, TlsVersion::Tls12, TlsVersion::Tls13];
const TLS_SESSIONS: [TlsSession; 3] = [TlsSession::None, TlsSession::Full, TlsSession::Resumed];
const ALPNS: [Alpn; 3] = [Alpn::None, Alpn::Http11, Alpn::H2];

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let v: [u8; N] = self.b.get(self.at..self.at + N)?.try_into().ok()?;
        self.at += N;
        Some(v)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take::<1>()?[0])
    }

    /// A length byte and that many bytes; longer than the record's buffer is invalid.
    fn text<const N: usize>(&mut self) -> Option<Inline<N>> {
        let len = usize::from(self.byte()?);
        if len > N {
            return None;
        }
        let bytes = self.b.get(self.at..self.at + len)?;
        self.at += len;
        Some(Inline::new(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: u16) -> RequestRecord {
        RequestRecord {
            ts_us: 1_765_000_000_000_000 + i64::from(i),
            core: 1,
            listener: 2,
            route: 3,
            upstream: 4,
            endpoint: i,
            method: Method::Patch,
            http_version: 20,
            status: 503,
            outcome: Outcome::Overloaded,
            cache: CacheStatus::Miss,
            retries: 2,
            total_us: 1234,
            upstream_us: 1000,
            ttfb_us: 900,
            request_bytes: 1 << 40,
            response_bytes: 77,
            client_ip: [9; 16],
            client_id: Inline::new(b"alice"),
            request_id: Inline::new(b"req-1"),
            path: Inline::new(&[b'p'; 200]),
            user_agent: Inline::new(b"curl/8"),
            tls_version: TlsVersion::Tls13,
            tls_session: TlsSession::Resumed,
            alpn: Alpn::H2,
            sni: Inline::new(b"api.example.com"),
            grpc_status: 14,
            trace_id: [0xab; 16],
            parent_id: Inline::new(b"parent-1"),
        }
    }

    #[test]
    fn a_record_comes_back_field_for_field() {
        let mut buf = Vec::new();
        for rec in [sample(7), RequestRecord::default()] {
            buf.clear();
            encode(&rec, &mut buf);
            assert!(buf.len() <= MAX_RECORD_BYTES);
            let (back, used) = decode(&buf).unwrap();
            assert_eq!(used, buf.len());
            assert_eq!(format!("{back:?}"), format!("{rec:?}"));
        }
        buf[40] ^= 1;
        assert!(decode(&buf).is_none(), "a flipped bit fails the CRC");
        assert!(
            decode(&buf[..buf.len() - 1]).is_none(),
            "a short record is not read"
        );
    }

    #[test]
    fn recovery_reads_whole_records_and_skips_a_torn_tail() {
        let logs = std::env::temp_dir().join(format!("ringway-journal-{}", std::process::id()));
        let _ = fs::remove_dir_all(&logs);
        let target = logs.join("dt=2026-12-06/hour=21/ringway-1-0.parquet");
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        let tmp = target.with_file_name(".ringway-1-0.parquet.tmp");
        fs::write(&tmp, b"incomplete").unwrap();
        let now = SystemTime::now();
        let names = Names {
            listeners: vec!["main".into()],
            ..Names::default()
        };
        let mut seg = Segment::create(&logs, &target, &names, now).unwrap();
        for i in 0..3 {
            seg.append(&sample(i)).unwrap();
        }
        seg.sync_if_due(now + SYNC_EVERY).unwrap();
        drop(seg);
        // Half a record more, as a crash mid-write leaves it.
        let wal = logs.join(DIR).join("ringway-1-0.parquet.wal");
        let mut f = OpenOptions::new().append(true).open(&wal).unwrap();
        f.write_all(&[1u8; 100]).unwrap();
        drop(f);
        let mut got = Vec::new();
        let found = recover(&logs, |n, records| {
            assert_eq!(n, &names);
            got.extend(records.iter().map(|r| r.endpoint));
            Ok(())
        })
        .unwrap();
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(found.records, 3);
        assert_eq!(found.torn_bytes, 100);
        assert!(
            !wal.exists() && !tmp.exists(),
            "segment and stale tmp file removed"
        );

        // A segment whose Parquet file was completed is dropped, not replayed.
        let seg = Segment::create(&logs, &target, &names, now).unwrap();
        drop(seg);
        fs::write(&target, b"complete").unwrap();
        let found = recover(&logs, |_, _| panic!("nothing to replay")).unwrap();
        assert_eq!((found.segments, found.already_complete), (1, 1));
        let _ = fs::remove_dir_all(&logs);
    }
}

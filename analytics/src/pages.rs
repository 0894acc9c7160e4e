//! Column chunks encoded by hand: the Parquet encodings the writer uses, page assembly, and
//! the chunk metadata `SerializedRowGroupWriter::append_column` needs.
//!
//! parquet-rs's Arrow writer hashes every value of every dictionary column (a string hash,
//! a probe and a comparison per value, even when the Arrow array is already a dictionary),
//! and its per-column, per-mini-batch machinery costs more than the encoding itself for
//! 23 narrow columns. [`crate::columns`] knows its dictionary keys already, so it encodes the
//! pages here and parquet-rs only frames the file and compresses:
//!
//! * the RLE/bit-packed hybrid ([`encode_hybrid`]: dictionary keys, definition levels),
//!   `DELTA_BINARY_PACKED` ([`encode_delta`]), `BYTE_STREAM_SPLIT`
//!   ([`encode_byte_stream_split`]), `PLAIN` byte arrays;
//! * dictionary chunks ([`encode_dict_chunk`]: a `PLAIN` dictionary page, then v1 data pages
//!   of [`PAGE_ROWS`] rows with the definition levels and the `RLE_DICTIONARY` keys), `PLAIN`
//!   text chunks ([`encode_plain_chunk`]) and value chunks written a page at a time
//!   ([`ValueChunk`]);
//! * compression with the file's codec ([`Compressor`]: the `zstd` and `snap` crates
//!   parquet-rs itself uses), or none for chunks that do not compress.
//!
//! Every chunk gets its offset index; the caller passes the column statistics.

use parquet::basic::{Compression, Encoding, EncodingMask, PageType, Type as PhysicalType};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedPageWriter, SerializedRowGroupWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use crate::Result;

/// The key of a null value in a key column.
pub(crate) const NULL_KEY: u32 = u32::MAX;

/// Rows per data page of a hand-built chunk. 16 Ki rows keep every page buffer (at most
/// ~512 KiB, for request ids) small enough for the allocator to recycle; with 64 Ki-row
/// pages the writer spent 15–20 % more time, mostly in page faults on freshly mapped memory.
pub(crate) const PAGE_ROWS: usize = 16 * 1024;

/// Bits needed for keys `0..n` (at least 1).
pub(crate) fn bit_width(n: usize) -> u32 {
    (usize::BITS - n.saturating_sub(1).leading_zeros()).max(1)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends the RLE/bit-packed hybrid encoding of `v` (every value below `2^width`,
/// `1 <= width <= 32`), as the Parquet spec defines it (no length prefix).
///
/// Decided per group of 8 values: a stretch of constant groups long enough to pay for a run
/// header (one group; 2 for width 2, 3 for width 1) becomes an RLE run, everything else is
/// bit-packed. A bit-packed run holds whole groups, except the last run, which is padded.
pub(crate) fn encode_hybrid(v: &[u32], width: u32, out: &mut Vec<u8>) {
    debug_assert!((1..=32).contains(&width));
    let min_groups = (24usize.div_ceil(width as usize)).div_ceil(8).max(1);
    let (whole, _) = v.as_chunks::<8>();
    let groups = whole.len();
    let constant = |g: usize| {
        let c = &whole[g];
        c.iter().all(|&x| x == c[0]).then_some(c[0])
    };
    let mut g = 0;
    // Groups from `packed_from` on are not written yet.
    let mut packed_from = 0;
    // Values of the tail (after the last whole group) taken by a final run.
    let mut tail_taken = 0;
    while g < groups {
        let Some(x) = constant(g) else {
            g += 1;
            continue;
        };
        let mut end = g + 1;
        while end < groups && constant(end) == Some(x) {
            end += 1;
        }
        if end - g < min_groups {
            g = end;
            continue;
        }
        if packed_from < g {
            bit_pack(&v[packed_from * 8..g * 8], width, out);
        }
        let mut run = (end - g) * 8;
        if end == groups {
            tail_taken = v[end * 8..].iter().take_while(|&&y| y == x).count();
            run += tail_taken;
        }
        put_rle(out, x, run, width);
        g = end;
        packed_from = end;
    }
    let start = packed_from * 8 + tail_taken;
    if start < v.len() {
        bit_pack(&v[start..], width, out);
    }
}

/// One RLE run: header, then the value in `ceil(width / 8)` bytes.
#[inline]
fn put_rle(out: &mut Vec<u8>, x: u32, run: usize, width: u32) {
    put_varint(out, (run as u64) << 1);
    out.extend_from_slice(&x.to_le_bytes()[..width.div_ceil(8) as usize]);
}

/// One bit-packed run: header, then groups of 8 values packed LSB first (the last group
/// zero-padded).
fn bit_pack(v: &[u32], width: u32, out: &mut Vec<u8>) {
    let groups = v.len().div_ceil(8);
    put_varint(out, ((groups as u64) << 1) | 1);
    let start = out.len();
    // Room for whole 8- or 16-byte stores past the last group; truncated below.
    out.resize(start + groups * width as usize + 16, 0);
    let buf = &mut out[start..];
    macro_rules! widths {
        ($($w:literal)*) => {
            match width {
                $($w => pack_groups::<$w>(v, buf),)*
                _ => pack_groups_wide(v, width as usize, buf),
            }
        };
    }
    widths!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
    out.truncate(start + groups * width as usize);
}

/// Packs `v` in groups of 8 values of `W` bits (`W` bytes per group; `W <= 16`) into
/// `out`, which has 16 bytes of room past the last group.
#[inline]
fn pack_groups<const W: usize>(v: &[u32], out: &mut [u8]) {
    let mut at = 0;
    let (chunks, rest) = v.as_chunks::<8>();
    for g in chunks {
        pack8::<W>(g, &mut out[at..]);
        at += W;
    }
    if !rest.is_empty() {
        let mut g = [0u32; 8];
        g[..rest.len()].copy_from_slice(rest);
        pack8::<W>(&g, &mut out[at..]);
    }
}

/// Packs 8 values into the first `W` bytes of `out` (up to 16 bytes may be written; the
/// ones after `W` are zeros, overwritten by the next group).
#[inline(always)]
fn pack8<const W: usize>(g: &[u32; 8], out: &mut [u8]) {
    if W <= 8 {
        let mut acc = 0u64;
        for (k, &x) in g.iter().enumerate() {
            acc |= u64::from(x) << (k * W);
        }
        out[..8].copy_from_slice(&acc.to_le_bytes());
    } else {
        let mut acc = 0u128;
        for (k, &x) in g.iter().enumerate() {
            acc |= u128::from(x) << (k * W);
        }
        out[..16].copy_from_slice(&acc.to_le_bytes());
    }
}

/// [`pack_groups`] for widths over 16 (dictionaries of more than 65,536 values).
fn pack_groups_wide(v: &[u32], width: usize, out: &mut [u8]) {
    let (mut acc, mut bits, mut at) = (0u64, 0, 0);
    let padded = v.len().div_ceil(8) * 8;
    for i in 0..padded {
        acc |= u64::from(v.get(i).copied().unwrap_or(0)) << bits;
        bits += width;
        while bits >= 8 {
            out[at] = acc as u8;
            at += 1;
            acc >>= 8;
            bits -= 8;
        }
    }
}

/// Appends the zigzag varint of `v`.
fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Values per `DELTA_BINARY_PACKED` block, and per miniblock.
const DELTA_BLOCK: usize = 128;
const DELTA_MINIBLOCK: usize = 32;

/// Appends `values` encoded `DELTA_BINARY_PACKED` (blocks of 128 values, 4 miniblocks of
/// 32; deltas wrap, so `INT32` columns may pass their values widened to `i64`).
pub(crate) fn encode_delta(values: &[i64], out: &mut Vec<u8>) {
    put_varint(out, DELTA_BLOCK as u64);
    put_varint(out, (DELTA_BLOCK / DELTA_MINIBLOCK) as u64);
    put_varint(out, values.len() as u64);
    let Some(&first) = values.first() else {
        put_zigzag(out, 0);
        return;
    };
    put_zigzag(out, first);
    let mut prev = first;
    let mut deltas = [0i64; DELTA_BLOCK];
    for block in values[1..].chunks(DELTA_BLOCK) {
        let mut min = i64::MAX;
        for (d, &v) in deltas.iter_mut().zip(block) {
            *d = v.wrapping_sub(prev);
            prev = v;
            min = min.min(*d);
        }
        put_zigzag(out, min);
        let widths_at = out.len();
        out.extend_from_slice(&[0; DELTA_BLOCK / DELTA_MINIBLOCK]);
        for (m, mini) in deltas[..block.len()].chunks(DELTA_MINIBLOCK).enumerate() {
            let mut packed = [0u64; DELTA_MINIBLOCK];
            let mut any = 0u64;
            for (p, &d) in packed.iter_mut().zip(mini) {
                *p = d.wrapping_sub(min) as u64;
                any |= *p;
            }
            let width = 64 - any.leading_zeros();
            out[widths_at + m] = width as u8;
            pack_bits(&packed, width, out);
        }
    }
}

/// Appends 32 values packed LSB first with `width` bits each (`4 * width` bytes).
fn pack_bits(v: &[u64; DELTA_MINIBLOCK], width: u32, out: &mut Vec<u8>) {
    if width == 0 {
        return;
    }
    let mut acc = 0u128;
    let mut bits = 0u32;
    for &x in v {
        acc |= u128::from(x) << bits;
        bits += width;
        if bits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            bits -= 64;
        }
    }
    // 32 values: a whole number of bytes.
    out.extend_from_slice(&acc.to_le_bytes()[..bits as usize / 8]);
}

/// Appends `values` (little-endian bytes) encoded `BYTE_STREAM_SPLIT`: byte 0 of every
/// value, then byte 1 of every value...
pub(crate) fn encode_byte_stream_split<const N: usize>(
    values: impl ExactSizeIterator<Item = [u8; N]>,
    out: &mut Vec<u8>,
) {
    let n = values.len();
    let start = out.len();
    out.resize(start + n * N, 0);
    let mut streams: [&mut [u8]; N] = {
        let mut rest = &mut out[start..];
        std::array::from_fn(|_| {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(n);
            rest = tail;
            head
        })
    };
    for (i, v) in values.enumerate() {
        for (k, stream) in streams.iter_mut().enumerate() {
            stream[i] = v[k];
        }
    }
}

/// The dictionary page of a chunk: `PLAIN`-encoded values.
#[derive(Debug)]
pub(crate) struct DictPage {
    /// The encoded values.
    pub buf: Vec<u8>,
    /// How many values.
    pub len: usize,
    /// Values in ascending order (integer dictionaries built from sorted keys).
    pub sorted: bool,
}

impl DictPage {
    pub(crate) fn new() -> Self {
        Self {
            buf: Vec::new(),
            len: 0,
            sorted: false,
        }
    }

    /// Appends a `BYTE_ARRAY` value.
    pub(crate) fn push_bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(b);
        self.len += 1;
    }

    /// Appends a placeholder value of the column's physical type (an empty string or 0), for
    /// a dictionary no row uses.
    pub(crate) fn push_bytes_or_zero(&mut self, descr: &ColumnDescPtr) {
        if descr.physical_type() == PhysicalType::BYTE_ARRAY {
            self.push_bytes(b"");
        } else {
            self.push_i32(0);
        }
    }

    /// Appends an `INT32` value.
    pub(crate) fn push_i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self.len += 1;
    }
}

/// Reused buffers for the chunk encoders.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    keys: Vec<u32>,
    levels: Vec<u32>,
}

/// Compresses hand-built pages with the file's codec, using the same codec crates parquet-rs
/// uses (`zstd` frames, raw `snap` blocks), with one zstd context reused for every page.
pub(crate) struct Compressor {
    codec: Compression,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    snappy: Option<snap::raw::Encoder>,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

/// The header fields of a hand-built page.
#[derive(Debug, Clone, Copy)]
enum PageKind {
    /// A `PLAIN` dictionary page.
    Dictionary { num_values: u32, sorted: bool },
    /// A v1 data page.
    Data { num_values: u32, encoding: Encoding },
}

/// A [`Page`] of `kind` around `buf` (a `bytes::Bytes`, or anything that converts into one:
/// a macro, so this crate never names the `bytes` crate it does not depend on).
macro_rules! make_page {
    ($kind:expr, $buf:expr) => {
        match $kind {
            PageKind::Dictionary { num_values, sorted } => Page::DictionaryPage {
                buf: $buf,
                num_values,
                encoding: Encoding::PLAIN,
                is_sorted: sorted,
            },
            PageKind::Data {
                num_values,
                encoding,
            } => Page::DataPage {
                buf: $buf,
                num_values,
                encoding,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            },
        }
    };
}

impl Compressor {
    /// A compressor for `codec` (zstd, snappy or none; the writer offers no other).
    pub(crate) fn new(codec: Compression) -> Self {
        let zstd = match codec {
            Compression::ZSTD(level) => zstd::bulk::Compressor::new(level.compression_level()).ok(),
            _ => None,
        };
        Self {
            codec,
            zstd,
            snappy: (codec == Compression::SNAPPY).then(snap::raw::Encoder::new),
        }
    }

    /// The codec of the chunks this compressor's pages go into.
    pub(crate) fn codec(&self) -> Compression {
        self.codec
    }

    /// A page of `kind` holding `data` (uncompressed), compressed with the codec.
    fn page(&mut self, data: Vec<u8>, kind: PageKind) -> Result<CompressedPage> {
        let len = data.len();
        let body = match (&mut self.zstd, &mut self.snappy) {
            (Some(z), _) => z
                .compress(&data)
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?,
            (None, Some(s)) => s
                .compress_vec(&data)
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?,
            (None, None) if self.codec == Compression::UNCOMPRESSED => data,
            (None, None) => {
                return Err(parquet::errors::ParquetError::General(format!(
                    "unsupported page codec {:?}",
                    self.codec
                ))
                .into())
            }
        };
        Ok(CompressedPage::new(make_page!(kind, body.into()), len))
    }
}

/// A column chunk being assembled in memory: pages, offset index, metadata.
struct ChunkBuilder {
    sink: TrackedWrite<Vec<u8>>,
    dictionary: bool,
    data_offset: Option<u64>,
    data_pages: i32,
    data_encoding: Encoding,
    locations: Vec<PageLocation>,
    uncompressed: u64,
    rows: usize,
}

impl ChunkBuilder {
    fn new(capacity: usize) -> Self {
        Self {
            sink: TrackedWrite::new(Vec::with_capacity(capacity)),
            dictionary: false,
            data_offset: None,
            data_pages: 0,
            data_encoding: Encoding::PLAIN,
            locations: Vec::new(),
            uncompressed: 0,
            rows: 0,
        }
    }

    fn dictionary_page(&mut self, c: &mut Compressor, page: DictPage) -> Result<()> {
        let kind = PageKind::Dictionary {
            num_values: page.len as u32,
            sorted: page.sorted,
        };
        let spec = SerializedPageWriter::new(&mut self.sink).write_page(c.page(page.buf, kind)?)?;
        self.uncompressed += spec.uncompressed_size as u64;
        self.dictionary = true;
        Ok(())
    }

    fn data_page(
        &mut self,
        c: &mut Compressor,
        body: Vec<u8>,
        rows: usize,
        encoding: Encoding,
    ) -> Result<()> {
        let kind = PageKind::Data {
            num_values: rows as u32,
            encoding,
        };
        let spec = SerializedPageWriter::new(&mut self.sink).write_page(c.page(body, kind)?)?;
        self.uncompressed += spec.uncompressed_size as u64;
        self.data_offset.get_or_insert(spec.offset);
        self.locations.push(PageLocation {
            offset: spec.offset as i64,
            compressed_page_size: spec.compressed_size as i32,
            first_row_index: self.rows as i64,
        });
        self.rows += rows;
        self.data_pages += 1;
        self.data_encoding = encoding;
        Ok(())
    }

    fn finish(
        self,
        descr: &ColumnDescPtr,
        codec: Compression,
        statistics: Option<Statistics>,
    ) -> Result<Chunk> {
        let total = self.sink.bytes_written() as i64;
        let mut encodings = vec![Encoding::RLE, self.data_encoding];
        let mut stats = Vec::with_capacity(2);
        if self.dictionary {
            encodings.push(Encoding::PLAIN);
            stats.push(PageEncodingStats {
                page_type: PageType::DICTIONARY_PAGE,
                encoding: Encoding::PLAIN,
                count: 1,
            });
        }
        stats.push(PageEncodingStats {
            page_type: PageType::DATA_PAGE,
            encoding: self.data_encoding,
            count: self.data_pages,
        });
        let mut builder = ColumnChunkMetaData::builder(descr.clone())
            .set_compression(codec)
            .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
            .set_page_encoding_stats(stats)
            .set_total_compressed_size(total)
            .set_total_uncompressed_size(self.uncompressed as i64)
            .set_num_values(self.rows as i64)
            .set_dictionary_page_offset(self.dictionary.then_some(0))
            .set_data_page_offset(self.data_offset.unwrap_or(0) as i64);
        if let Some(s) = statistics {
            builder = builder.set_statistics(s);
        }
        let close = ColumnCloseResult {
            bytes_written: total as u64,
            rows_written: self.rows as u64,
            metadata: builder.build()?,
            bloom_filter: None,
            column_index: None,
            offset_index: Some(OffsetIndexMetaData {
                page_locations: self.locations,
                unencoded_byte_array_data_bytes: None,
            }),
        };
        let bytes = self.sink.into_inner()?;
        Ok(Chunk {
            bytes: make_page!(
                PageKind::Data {
                    num_values: 0,
                    encoding: Encoding::PLAIN
                },
                bytes.into()
            ),
            close,
        })
    }
}

/// An encoded column chunk, ready for `SerializedRowGroupWriter::append_column`.
pub(crate) struct Chunk {
    /// The chunk's bytes, as the buffer of a page (a `bytes::Bytes`, which is parquet's
    /// in-memory [`ChunkReader`]; held by a [`Page`] so this crate needs no `bytes`).
    bytes: Page,
    close: ColumnCloseResult,
}

impl Chunk {
    /// Appends the chunk to `rg` (its next column).
    pub(crate) fn append_to<W: std::io::Write + Send>(
        self,
        rg: &mut SerializedRowGroupWriter<'_, W>,
    ) -> Result<()> {
        rg.append_column(self.bytes.buffer(), self.close)?;
        Ok(())
    }
}

/// Appends the definition levels of a page (`rows`, [`NULL_KEY`] for null) with their v1
/// length prefix; returns whether there were nulls.
fn put_levels(rows: &[u32], levels: &mut Vec<u32>, page: &mut Vec<u8>) -> bool {
    let at = page.len();
    page.extend_from_slice(&[0; 4]);
    let nulls = rows.contains(&NULL_KEY);
    if nulls {
        levels.clear();
        levels.extend(rows.iter().map(|&k| u32::from(k != NULL_KEY)));
        encode_hybrid(levels, 1, page);
    } else {
        // One run of 1s.
        put_varint(page, (rows.len() as u64) << 1);
        page.push(1);
    }
    let len = (page.len() - at - 4) as u32;
    page[at..at + 4].copy_from_slice(&len.to_le_bytes());
    nulls
}

/// Encodes one dictionary-encoded column chunk. `keys` holds one entry per row: an index
/// into `remap` (whose entries are the final keys, `0..dict.len`; the keys are rewritten in
/// place), or the final key itself without `remap`, or [`NULL_KEY`]. Returns the chunk
/// chunk.
pub(crate) fn encode_dict_chunk(
    descr: &ColumnDescPtr,
    keys: &mut [u32],
    remap: Option<&[u32]>,
    mut dict: DictPage,
    statistics: Option<Statistics>,
    compressor: &mut Compressor,
    scratch: &mut Scratch,
) -> Result<Chunk> {
    let nullable = descr.max_def_level() > 0;
    if dict.len == 0 {
        // Every row null: an empty page body cannot be compressed; one unused value.
        dict.push_bytes_or_zero(descr);
    }
    let width = bit_width(dict.len);
    if let Some(m) = remap {
        if nullable {
            for k in keys.iter_mut() {
                if *k != NULL_KEY {
                    *k = m[*k as usize];
                }
            }
        } else {
            for k in keys.iter_mut() {
                *k = m[*k as usize];
            }
        }
    }
    let mut chunk =
        ChunkBuilder::new(dict.buf.len() + keys.len() * (width as usize + 1) / 8 + 1024);
    chunk.dictionary_page(compressor, dict)?;
    for rows in keys.chunks(PAGE_ROWS) {
        let mut page = Vec::with_capacity(rows.len() * (width as usize + 1) / 8 + 64);
        let nulls = nullable && put_levels(rows, &mut scratch.levels, &mut page);
        page.push(width as u8);
        if nulls {
            let values = &mut scratch.keys;
            values.clear();
            values.extend(rows.iter().copied().filter(|&k| k != NULL_KEY));
            encode_hybrid(values, width, &mut page);
        } else {
            debug_assert!(!rows.contains(&NULL_KEY), "null in a required column");
            encode_hybrid(rows, width, &mut page);
        }
        chunk.data_page(compressor, page, rows.len(), Encoding::RLE_DICTIONARY)?;
    }
    chunk.finish(descr, compressor.codec(), statistics)
}

/// Encodes one `PLAIN` byte-array column chunk from dictionary keys (one per row,
/// [`NULL_KEY`] for null) and the values they stand for.
pub(crate) fn encode_plain_chunk<'v>(
    descr: &ColumnDescPtr,
    keys: &[u32],
    value: impl Fn(u32) -> &'v [u8],
    compressor: &mut Compressor,
    scratch: &mut Scratch,
) -> Result<Chunk> {
    let nullable = descr.max_def_level() > 0;
    let mut chunk = ChunkBuilder::new(keys.len() * 16);
    for rows in keys.chunks(PAGE_ROWS) {
        let mut page = Vec::with_capacity(rows.len() * 24);
        if nullable {
            put_levels(rows, &mut scratch.levels, &mut page);
        }
        for &k in rows {
            if k != NULL_KEY {
                let v = value(k);
                page.extend_from_slice(&(v.len() as u32).to_le_bytes());
                page.extend_from_slice(v);
            }
        }
        chunk.data_page(compressor, page, rows.len(), Encoding::PLAIN)?;
    }
    chunk.finish(descr, compressor.codec(), None)
}

/// A column chunk of values (not dictionary-encoded), written a page at a time while the
/// row group fills, so the rows buffered for it are one page's (and in cache), not a row
/// group's.
#[derive(Default)]
pub(crate) struct ValueChunk {
    chunk: Option<ChunkBuilder>,
}

impl std::fmt::Debug for ValueChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueChunk")
            .field("rows", &self.chunk.as_ref().map_or(0, |c| c.rows))
            .finish()
    }
}

impl ValueChunk {
    /// Appends a page of `rows` rows: the definition levels when the column is nullable
    /// (`nulls`: one entry per row, [`NULL_KEY`] for a null row; `None`: no nulls), then the
    /// values, which `values` appends given how many there are (the non-null rows).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn page(
        &mut self,
        descr: &ColumnDescPtr,
        rows: usize,
        nulls: Option<&[u32]>,
        encoding: Encoding,
        compressor: &mut Compressor,
        scratch: &mut Scratch,
        values: impl FnOnce(usize, &mut Vec<u8>),
    ) -> Result<()> {
        let mut page = Vec::with_capacity(rows * 8 + 64);
        let count = match (descr.max_def_level() > 0, nulls) {
            (true, Some(n)) => {
                debug_assert_eq!(n.len(), rows);
                put_levels(n, &mut scratch.levels, &mut page);
                n.iter().filter(|&&k| k != NULL_KEY).count()
            }
            (true, None) => {
                page.extend_from_slice(&[0; 4]);
                put_varint(&mut page, (rows as u64) << 1);
                page.push(1);
                let len = (page.len() - 4) as u32;
                page[..4].copy_from_slice(&len.to_le_bytes());
                rows
            }
            (false, _) => rows,
        };
        values(count, &mut page);
        self.chunk
            .get_or_insert_with(|| ChunkBuilder::new(rows * 4))
            .data_page(compressor, page, rows, encoding)
    }

    /// The chunk of the pages so far (at least one); the next page starts a new chunk.
    pub(crate) fn finish(
        &mut self,
        descr: &ColumnDescPtr,
        codec: Compression,
        statistics: Option<Statistics>,
    ) -> Result<Chunk> {
        let chunk = self.chunk.take().ok_or_else(|| {
            parquet::errors::ParquetError::General("a value chunk without pages".to_owned())
        })?;
        chunk.finish(descr, codec, statistics)
    }

    /// Drops the pages so far.
    pub(crate) fn clear(&mut self) {
        self.chunk = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A straightforward decoder of the hybrid encoding, for the round trip.
    fn decode_hybrid(mut b: &[u8], width: u32, n: usize) -> Vec<u32> {
        let varint = |b: &mut &[u8]| {
            let mut v = 0u64;
            let mut shift = 0;
            loop {
                let byte = b[0];
                *b = &b[1..];
                v |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte < 0x80 {
                    return v;
                }
            }
        };
        let mut out = Vec::new();
        while out.len() < n {
            let h = varint(&mut b);
            if h & 1 == 1 {
                let count = (h >> 1) as usize * 8;
                let bytes = count * width as usize / 8;
                let (packed, rest) = b.split_at(bytes);
                for i in 0..count {
                    let mut x = 0u32;
                    for bit in 0..width as usize {
                        let pos = i * width as usize + bit;
                        x |= u32::from(packed[pos / 8] >> (pos % 8) & 1) << bit;
                    }
                    out.push(x);
                }
                b = rest;
            } else {
                let run = (h >> 1) as usize;
                let nb = width.div_ceil(8) as usize;
                let mut buf = [0u8; 4];
                buf[..nb].copy_from_slice(&b[..nb]);
                b = &b[nb..];
                out.extend(std::iter::repeat_n(u32::from_le_bytes(buf), run));
            }
        }
        assert!(b.is_empty(), "trailing bytes");
        out.truncate(n);
        out
    }

    #[test]
    fn hybrid_round_trips() {
        let mut state = 7u64;
        let mut rnd = |n: u32| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % u64::from(n)) as u32
        };
        for width in [1u32, 2, 3, 5, 8, 9, 12, 16, 17, 24, 32] {
            let max = if width == 32 {
                u32::MAX
            } else {
                (1 << width) - 1
            };
            for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 100, 1000] {
                for runs in [false, true] {
                    let mut v = Vec::with_capacity(len);
                    while v.len() < len {
                        let x = if width == 32 {
                            rnd(u32::MAX)
                        } else {
                            rnd(max + 1)
                        };
                        let n = if runs { 1 + rnd(40) as usize } else { 1 };
                        v.extend(std::iter::repeat_n(x.min(max), n));
                    }
                    v.truncate(len);
                    let mut out = Vec::new();
                    encode_hybrid(&v, width, &mut out);
                    assert_eq!(decode_hybrid(&out, width, len), v, "w{width} n{len}");
                }
            }
        }
    }

    #[test]
    fn long_runs_are_rle() {
        let v = vec![3u32; 10_000];
        let mut out = Vec::new();
        encode_hybrid(&v, 2, &mut out);
        assert!(out.len() <= 4, "{out:?}");
    }

    /// A straightforward `DELTA_BINARY_PACKED` decoder, for the round trip.
    fn decode_delta(mut b: &[u8]) -> Vec<i64> {
        fn varint(b: &mut &[u8]) -> u64 {
            let mut v = 0u64;
            let mut shift = 0;
            loop {
                let byte = b[0];
                *b = &b[1..];
                v |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte < 0x80 {
                    return v;
                }
            }
        }
        let zigzag = |b: &mut &[u8]| {
            let v = varint(b);
            ((v >> 1) as i64) ^ -((v & 1) as i64)
        };
        let block = varint(&mut b) as usize;
        let minis = varint(&mut b) as usize;
        let n = varint(&mut b) as usize;
        let mut out = vec![zigzag(&mut b)];
        out.truncate(n);
        let per_mini = block / minis;
        while out.len() < n {
            let min = zigzag(&mut b);
            let widths: Vec<usize> = b[..minis].iter().map(|&w| usize::from(w)).collect();
            b = &b[minis..];
            for w in widths {
                if out.len() >= n {
                    break;
                }
                let bytes = per_mini * w / 8;
                for i in 0..per_mini {
                    let mut x = 0u64;
                    for bit in 0..w {
                        let pos = i * w + bit;
                        x |= u64::from(b[pos / 8] >> (pos % 8) & 1) << bit;
                    }
                    if out.len() < n {
                        let prev = *out.last().unwrap();
                        out.push(prev.wrapping_add(min).wrapping_add(x as i64));
                    }
                }
                b = &b[bytes..];
            }
        }
        assert!(b.is_empty(), "trailing bytes");
        out
    }

    #[test]
    fn delta_round_trips() {
        let cases: Vec<Vec<i64>> = vec![
            vec![],
            vec![5],
            vec![1, 2],
            (0..1000)
                .map(|i| 1_795_845_600_000_000 + i * 997 + (i * i) % 13)
                .collect(),
            (0..300).map(|_| 32).collect(),
            (0..257)
                .map(|i| if i % 2 == 0 { i64::MIN } else { i64::MAX })
                .collect(),
            (0..129).map(|i| -i * 1_000_000_007).collect(),
        ];
        for v in cases {
            let mut out = Vec::new();
            encode_delta(&v, &mut out);
            assert_eq!(decode_delta(&out), v);
        }
    }

    #[test]
    fn byte_stream_split_layout() {
        let mut out = Vec::new();
        encode_byte_stream_split(
            [0x0403_0201u32, 0x0807_0605]
                .iter()
                .map(|v| v.to_le_bytes()),
            &mut out,
        );
        assert_eq!(out, [1, 5, 2, 6, 3, 7, 4, 8]);
    }

    #[test]
    fn compressor_handles_every_page_size() {
        let mut c = Compressor::new(Compression::ZSTD(Default::default()));
        for len in [1usize, 7, 4096, 100_000, 3] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let page = c
                .page(
                    data,
                    PageKind::Data {
                        num_values: 1,
                        encoding: Encoding::PLAIN,
                    },
                )
                .unwrap();
            assert_eq!(page.uncompressed_size(), len);
            assert!(page.compressed_size() > 0);
        }
        let mut none = Compressor::new(Compression::UNCOMPRESSED);
        let page = none
            .page(
                vec![1, 2, 3],
                PageKind::Dictionary {
                    num_values: 3,
                    sorted: true,
                },
            )
            .unwrap();
        assert_eq!(page.data(), [1, 2, 3]);
    }

    #[test]
    fn bit_widths() {
        assert_eq!(bit_width(0), 1);
        assert_eq!(bit_width(1), 1);
        assert_eq!(bit_width(2), 1);
        assert_eq!(bit_width(3), 2);
        assert_eq!(bit_width(256), 8);
        assert_eq!(bit_width(257), 9);
    }
}

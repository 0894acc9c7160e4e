//! The analytics thread: drains every core's record queue into the Parquet writer (and the
//! JSON access log, when configured), and hands each record on to the anomaly detectors' own
//! thread. Neither blocks anything before it: a
//! full queue drops and counts (on the worker, or on the analytics thread for the detectors'
//! queue), so the detectors never slow the Parquet logs. Findings are published for
//! `/anomalies` and `/metrics` (one atomic pointer swap per judged bucket) and appended to
//! `findings.jsonl` beside the logs.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use arc_swap::ArcSwap;
use ringway_analytics::anomaly::{self, Finding, Live, Snapshot};
use ringway_analytics::{Compression, Names, ParquetSink, SinkConfig};
use ringway_config::model::{self, Config};
use ringway_telemetry::metrics::{ExtraGauges, Registry, Shape};
use ringway_telemetry::queue::{channel, Consumer, Producer};
use ringway_telemetry::record::RequestRecord;

/// How often the writer looks at the queues when they were empty.
const POLL: Duration = Duration::from_millis(20);
/// Records taken from one queue at a time.
const DRAIN_BATCH: usize = 4096;

/// Files and rows written so far, shared with `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Written {
    files: AtomicU64,
    rows: AtomicU64,
}

impl Written {
    /// The Parquet gauges of `/metrics`.
    pub(crate) fn gauges(&self) -> ExtraGauges {
        ExtraGauges {
            parquet_files_written: self.files.load(Ordering::Relaxed),
            parquet_rows_written: self.rows.load(Ordering::Relaxed),
        }
    }
}

/// Totals after the last file was closed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Totals {
    /// Files written.
    pub(crate) files: u64,
    /// Rows written.
    pub(crate) rows: u64,
}

/// The running log pipeline.
pub(crate) struct Logs {
    producers: Option<Vec<Producer>>,
    /// The name tables records are read with; a reload that adds names replaces them (they
    /// only grow, so a record of the old configuration reads the same).
    names: SharedNames,
    stop: Arc<AtomicBool>,
    written: Arc<Written>,
    board: Option<Board>,
    thread: JoinHandle<anyhow::Result<Totals>>,
}

/// The name tables of the log writers, replaced by reloads.
pub(crate) type SharedNames = Arc<ArcSwap<Names>>;

/// The latest anomaly snapshot, published by the analytics thread.
pub(crate) type Board = Arc<ArcSwap<Snapshot>>;

/// The file findings are appended to, one JSON object per line, as they end.
pub(crate) const FINDINGS_FILE: &str = "findings.jsonl";

/// The detectors' configuration for `telemetry.anomalies` (shared with `ringway report
/// --config`, so a report over the logs judges them as the gateway did).
pub(crate) fn detector_config(a: &model::Anomalies) -> anomaly::Config {
    let bucket_us = i64::try_from(a.bucket.as_micros()).unwrap_or(i64::MAX);
    let warmup = a.warmup.as_micros() / a.bucket.as_micros().max(1);
    anomaly::Config {
        bucket_us,
        warmup_buckets: usize::try_from(warmup).unwrap_or(usize::MAX),
        ..anomaly::Config::default()
    }
}

/// Records waiting for the detectors.
const DETECTOR_QUEUE: usize = 1 << 16;

/// The detectors, their board and their file, on their own thread.
struct Detection {
    names: SharedNames,
    live: Live,
    board: Board,
    file: PathBuf,
}

/// The analytics thread's end of the detectors' thread.
struct DetectorThread {
    queue: Producer,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<anyhow::Result<()>>,
}

impl DetectorThread {
    /// Starts the detectors' thread; `built_with` are the names `d.live` was built with.
    fn start(
        mut d: Detection,
        capacity: usize,
        built_with: Arc<Names>,
    ) -> anyhow::Result<DetectorThread> {
        let (queue, records) = channel(capacity);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("ringway-anomalies".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(DRAIN_BATCH);
                let mut seen = built_with;
                loop {
                    // As for the writer: the flag first, then one more full drain.
                    let stopping = flag.load(Ordering::Acquire);
                    let mut moved = 0;
                    while records.drain(&mut batch, DRAIN_BATCH) > 0 {
                        // Loaded after the drain: a record carrying a new name's id was
                        // pushed after the names that hold it were stored.
                        let now = d.names.load();
                        if !Arc::ptr_eq(&now, &seen) {
                            seen = Arc::clone(&now);
                            d.live.set_names((*seen).clone());
                        }
                        for rec in batch.drain(..) {
                            d.live.observe(&rec);
                            moved += 1;
                        }
                    }
                    d.live.set_dropped(records.dropped());
                    if stopping {
                        return d.finish();
                    }
                    d.advance(SystemTime::now())?;
                    if moved == 0 {
                        std::thread::sleep(POLL);
                    }
                }
            })?;
        Ok(DetectorThread {
            queue,
            stop,
            thread,
        })
    }

    /// After the last record: the detectors end their episodes and write them down.
    fn finish(self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the anomaly thread panicked"))?
    }
}

impl Detection {
    /// Judges what `now` closes; publishes and writes what changed.
    fn advance(&mut self, now: SystemTime) -> anyhow::Result<()> {
        let now_us = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        let (ended, judged) = self.live.advance(now_us);
        self.write(&ended)?;
        if judged {
            self.board.store(Arc::new(self.live.snapshot()));
        }
        Ok(())
    }

    fn write(&self, findings: &[Finding]) -> anyhow::Result<()> {
        if findings.is_empty() {
            return Ok(());
        }
        append(&self.file, findings)
            .with_context(|| format!("writing findings to {}", self.file.display()))
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        let rest = self.live.finish();
        self.write(&rest)?;
        self.board.store(Arc::new(self.live.snapshot()));
        Ok(())
    }
}

fn append(path: &Path, findings: &[Finding]) -> std::io::Result<()> {
    let mut text = String::new();
    for f in findings {
        text.push_str(&f.to_json());
        text.push('\n');
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(text.as_bytes())
}

/// Index-to-name tables for the log files, from the registry of every name the process has
/// run with.
pub(crate) fn names(registry: &Registry) -> Names {
    let m = registry.metric_names();
    Names {
        listeners: m.listeners.clone(),
        routes: m.routes.clone(),
        upstreams: m.upstreams.clone(),
        endpoints: registry.endpoints().to_vec(),
    }
}

/// What a configuration names, for the [`Registry`].
pub(crate) fn shape(cfg: &Config) -> Shape {
    Shape {
        listeners: cfg
            .listeners
            .iter()
            .map(|l| {
                (
                    l.name.clone(),
                    l.routes.iter().map(|r| r.name.clone()).collect(),
                )
            })
            .collect(),
        upstreams: cfg
            .upstreams
            .iter()
            .map(|g| {
                let eps = g.endpoints.iter().map(|e| e.addr.to_string()).collect();
                (g.name.clone(), eps)
            })
            .collect(),
    }
}

impl Logs {
    /// Starts the writer thread when the configuration has a logs directory or an access log.
    pub(crate) fn start(
        cfg: &Config,
        workers: usize,
        registry: &Registry,
    ) -> anyhow::Result<Option<Self>> {
        let t = &cfg.telemetry;
        let shared: SharedNames = Arc::new(ArcSwap::from_pointee(names(registry)));
        let access = match &t.access_log {
            None => None,
            Some(target) => Some(AccessLog::open(target, names(registry))?),
        };
        let Some(dir) = &t.logs_dir else {
            return match access {
                None => Ok(None),
                Some(access) => {
                    Self::spawn(None, None, Some(access), workers, t.queue_capacity, shared)
                }
            };
        };
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the logs directory {}", dir.display()))?;
        let mut sink_cfg = SinkConfig::new(dir);
        sink_cfg.compression = match t.compression {
            model::Compression::Zstd => Compression::Zstd { level: 3 },
            model::Compression::Snappy => Compression::Snappy,
            model::Compression::None => Compression::None,
        };
        sink_cfg.rotate_after = t.rotate;
        sink_cfg.max_file_bytes = t.max_file_bytes;
        sink_cfg.journal = t.journal;
        // What a crash left in the journal becomes Parquet before anything is served.
        let recovered = ParquetSink::recover_journal(&sink_cfg, SystemTime::now())
            .context("recovering the crash journal")?;
        if recovered.segments > 0 {
            tracing::warn!(
                records = recovered.records,
                segments = recovered.segments,
                already_complete = recovered.already_complete,
                torn_bytes = recovered.torn_bytes,
                "Recovered traffic records from the crash journal"
            );
        }
        let sink =
            ParquetSink::new(sink_cfg, names(registry)).context("opening the Parquet writer")?;
        let detection = t.anomalies.as_ref().map(|a| Detection {
            names: Arc::clone(&shared),
            live: Live::new(detector_config(a), names(registry)),
            board: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
            file: dir.join(FINDINGS_FILE),
        });
        tracing::info!(dir = %dir.display(), "Writing Parquet traffic logs");
        Self::spawn(
            Some(sink),
            detection,
            access,
            workers,
            t.queue_capacity,
            shared,
        )
    }

    fn spawn(
        sink: Option<ParquetSink>,
        detection: Option<Detection>,
        access: Option<AccessLog>,
        workers: usize,
        queue_capacity: usize,
        names: SharedNames,
    ) -> anyhow::Result<Option<Self>> {
        let board = detection.as_ref().map(|d| Arc::clone(&d.board));
        let (producers, consumers): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| channel(queue_capacity)).unzip();
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(Written::default());
        let thread = std::thread::Builder::new()
            .name("ringway-analytics".into())
            .spawn({
                let stop = Arc::clone(&stop);
                let written = Arc::clone(&written);
                let names = Arc::clone(&names);
                // Loaded here, before anything can reload: what the writers were built with.
                let built_with = names.load_full();
                move || {
                    let detectors = detection
                        .map(|d| DetectorThread::start(d, DETECTOR_QUEUE, Arc::clone(&built_with)))
                        .transpose()?;
                    let writers = Writers {
                        sink,
                        detectors,
                        access,
                    };
                    run(writers, &consumers, (&names, built_with), &stop, &written)
                }
            })?;
        Ok(Some(Self {
            names,
            producers: Some(producers),
            stop,
            written,
            board,
            thread,
        }))
    }

    /// The name tables the writers read records with (a reload stores grown ones).
    pub(crate) fn names(&self) -> SharedNames {
        Arc::clone(&self.names)
    }

    /// The per-worker queues, handed to the server once.
    pub(crate) fn take_producers(&mut self) -> Vec<Producer> {
        self.producers.take().unwrap_or_default()
    }

    /// The anomaly board `/anomalies` and `/metrics` read, when the detectors run.
    pub(crate) fn board(&self) -> Option<Board> {
        self.board.clone()
    }

    /// The counters `/metrics` reads.
    pub(crate) fn counters(&self) -> Arc<Written> {
        Arc::clone(&self.written)
    }

    /// After the workers stopped: writes every queued record, closes the last file.
    pub(crate) fn finish(self) -> anyhow::Result<Totals> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the analytics thread panicked"))?
    }
}

/// The JSON access log: lines built in a buffer, written once per drain.
struct AccessLog {
    out: Box<dyn std::io::Write + Send>,
    names: Names,
    buf: Vec<u8>,
}

impl AccessLog {
    fn open(target: &model::AccessLog, names: Names) -> anyhow::Result<Self> {
        let out: Box<dyn std::io::Write + Send> = match target {
            model::AccessLog::Stdout => Box::new(std::io::stdout()),
            model::AccessLog::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening the access log {}", path.display()))?,
            ),
        };
        Ok(Self {
            out,
            names,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    fn push(&mut self, rec: &RequestRecord) {
        ringway_analytics::access_log::write_json_line(rec, &self.names, &mut self.buf);
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if !self.buf.is_empty() {
            self.out
                .write_all(&self.buf)
                .and_then(|()| self.out.flush())
                .context("writing the access log")?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// Where the analytics thread sends records.
struct Writers {
    sink: Option<ParquetSink>,
    detectors: Option<DetectorThread>,
    access: Option<AccessLog>,
}

fn run(
    writers: Writers,
    queues: &[Consumer],
    (names, built_with): (&SharedNames, Arc<Names>),
    stop: &AtomicBool,
    written: &Written,
) -> anyhow::Result<Totals> {
    let Writers {
        mut sink,
        detectors,
        mut access,
    } = writers;
    let mut batch: Vec<RequestRecord> = Vec::with_capacity(DRAIN_BATCH);
    // The tables the writers were built with (a reload may have stored others already).
    let mut seen = built_with;
    loop {
        // Read the flag first: once it is set, the workers are gone, so one more full drain
        // empties the queues for good.
        let stopping = stop.load(Ordering::Acquire);
        let mut moved = 0;
        for q in queues {
            while q.drain(&mut batch, DRAIN_BATCH) > 0 {
                // Loaded after the drain: a record carrying a new name's id was pushed after
                // the tables that hold it were stored.
                let current = names.load();
                if !Arc::ptr_eq(&current, &seen) {
                    seen = Arc::clone(&current);
                    if let Some(sink) = &mut sink {
                        sink.set_names(&seen)?;
                    }
                    if let Some(a) = &mut access {
                        a.names = (*seen).clone();
                    }
                }
                let now = SystemTime::now();
                for rec in batch.drain(..) {
                    if let Some(sink) = &mut sink {
                        sink.push(&rec, now)?;
                    }
                    if let Some(a) = &mut access {
                        a.push(&rec);
                    }
                    // The detectors judge client traffic; an aggregate's sub-requests are in
                    // their parent's numbers already.
                    if let Some(d) = detectors.as_ref().filter(|_| rec.parent_id.is_empty()) {
                        d.queue.push(rec);
                    }
                    moved += 1;
                }
            }
        }
        if let Some(a) = &mut access {
            a.flush()?;
        }
        if let Some(sink) = &mut sink {
            sink.tick(SystemTime::now())?;
            let stats = sink.stats();
            written.files.store(stats.files_written, Ordering::Relaxed);
            written.rows.store(stats.rows_written, Ordering::Relaxed);
        }
        if stopping {
            if let Some(d) = detectors {
                d.finish()?;
            }
            let Some(sink) = sink else {
                return Ok(Totals { files: 0, rows: 0 });
            };
            let stats = sink.close()?;
            written.files.store(stats.files_written, Ordering::Relaxed);
            written.rows.store(stats.rows_written, Ordering::Relaxed);
            return Ok(Totals {
                files: stats.files_written,
                rows: stats.rows_written,
            });
        }
        if moved == 0 {
            std::thread::sleep(POLL);
        }
    }
}

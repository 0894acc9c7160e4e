//! Command-line interface: parse, load and check everything before binding, run, exit.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use ringway_config::model::Config;
use ringway_policy::{KeyMaterial, Policies, Secrets, System};
use ringway_proxy::admin::{Admin, AdminState};
use ringway_proxy::{RunOptions, Server, TelemetryHooks};
use ringway_router::Router;
use ringway_telemetry::metrics::{ExtraGauges, MetricNames, MetricsHub};

/// Exit status for a bad configuration or command line (EX_USAGE).
pub const EXIT_CONFIG: u8 = 64;

#[derive(Parser, Debug)]
#[command(
    name = "ringway",
    version,
    about = "An io_uring, thread-per-core API gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway from a YAML configuration file.
    Run(RunArgs),
    /// Check configuration files without binding anything; exit 0, or 64 naming every problem.
    Validate(ValidateArgs),
    /// Reverse-proxy everything on one address to one or more upstreams (round robin).
    Proxy(Box<ProxyArgs>),
    /// Start demo backends and the gateway in front of them (embedded config/demo.yaml), send
    /// sample traffic, keep serving.
    Demo(DemoArgs),
    /// Query Parquet traffic logs: filter, group, aggregate (count, errors, latency, bytes).
    Logs(LogsArgs),
    /// Print the stored form of an API key (`sha256:<hex>`) for `auth.consumers.*.api_keys`.
    /// Reads the key from standard input when none is given (keeps it out of shell history).
    HashKey {
        /// The API key.
        key: Option<String>,
    },
}

/// Configuration problems found while starting (key files, secrets): exit 64.
#[derive(Debug)]
pub struct ConfigProblems(pub Vec<String>);

impl std::fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ConfigProblems {}

/// Reads the key material of `cfg` and builds its policies: every problem with its path.
/// Returns the policies and the warnings (an unset secret when `secrets` allows it).
pub fn build_policies(
    cfg: &Config,
    workers: usize,
    secrets: Secrets,
) -> Result<(Arc<Policies>, Vec<String>), ConfigProblems> {
    let problems = |e: ringway_config::ConfigErrors| {
        ConfigProblems(e.iter().map(ToString::to_string).collect())
    };
    let loaded = KeyMaterial::load(cfg, &System, secrets).map_err(problems)?;
    let policies = Policies::new(cfg, loaded.keys, workers).map_err(problems)?;
    let warnings = loaded.warnings.iter().map(ToString::to_string).collect();
    Ok((Arc::new(policies), warnings))
}

/// Options of `ringway logs`.
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// The logs directory (`telemetry.logs_dir`, or `proxy --logs`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Only requests at or after this time: RFC 3339 (`2026-11-28T06:00:00Z`) or an age (`15m`).
    #[arg(long)]
    pub since: Option<String>,
    /// Only requests before this time (same forms as `--since`).
    #[arg(long)]
    pub until: Option<String>,
    /// Only this route.
    #[arg(long)]
    pub route: Option<String>,
    /// Only this status (`503`) or class (`5xx`).
    #[arg(long)]
    pub status: Option<String>,
    /// Only this client (IP address or client id).
    #[arg(long)]
    pub client: Option<String>,
    /// Only this method.
    #[arg(long)]
    pub method: Option<String>,
    /// Group by `route`, `status`, `client`, `upstream`, `minute` or `none`.
    #[arg(long, default_value = "route")]
    pub group_by: String,
    /// Only the N largest groups by count.
    #[arg(long)]
    pub top: Option<usize>,
    /// Output: `table`, `csv` or `json`.
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// Options of `ringway run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The configuration file.
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
    #[command(flatten)]
    pub process: ProcessArgs,
}

/// Options of `ringway validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Configuration files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Process options shared by the commands that run the gateway.
#[derive(Args, Debug, Clone, Default)]
pub struct ProcessArgs {
    /// Worker threads: `auto` (one per available CPU) or a number; overrides the config.
    #[arg(long)]
    pub workers: Option<String>,
    /// Do not pin workers to CPUs.
    #[arg(long)]
    pub no_pin: bool,
}

/// Options of `ringway proxy`.
#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// Address to listen on (port 0 picks a free port, printed at start).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// Upstream endpoints, comma separated (`host:port`).
    #[arg(
        long,
        value_name = "ADDR[,ADDR...]",
        value_delimiter = ',',
        required = true
    )]
    pub to: Vec<String>,
    /// Write Parquet traffic logs to this directory.
    #[arg(long, value_name = "DIR")]
    pub logs: Option<PathBuf>,
    #[command(flatten)]
    pub process: ProcessArgs,
    #[command(flatten)]
    pub tuning: Tuning,
}

/// Limits and timeouts for quick mode; unset ones keep the configuration defaults
/// (config/README.md).
#[derive(Args, Debug, Clone)]
pub struct Tuning {
    /// Upstream connect timeout (e.g. `5s`, `250ms`) [default 5s].
    #[arg(long, value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// Time allowed to receive a complete request head (slowloris guard) [default 10s].
    #[arg(long, value_parser = parse_duration)]
    pub header_timeout: Option<Duration>,
    /// Time allowed between reads of a request body and for writes to the client [60s].
    #[arg(long, value_parser = parse_duration)]
    pub body_timeout: Option<Duration>,
    /// Time allowed for the upstream's response head, and between reads of its body [60s].
    #[arg(long, value_parser = parse_duration)]
    pub upstream_timeout: Option<Duration>,
    /// Idle client keep-alive connections are closed after this [60s].
    #[arg(long, value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// Time in-flight requests get to finish after SIGTERM/SIGINT [15s].
    #[arg(long, value_parser = parse_duration)]
    pub drain_timeout: Option<Duration>,
    /// Largest request body in bytes (413 beyond) [8 GiB].
    #[arg(long)]
    pub max_body_bytes: Option<u64>,
    /// Longest request target in bytes (414 beyond) [8192].
    #[arg(long)]
    pub max_uri_bytes: Option<usize>,
    /// Largest request head in bytes (431 beyond) [32768].
    #[arg(long)]
    pub max_header_bytes: Option<usize>,
    /// Most request header fields (431 beyond) [100].
    #[arg(long)]
    pub max_headers: Option<usize>,
    /// Idle upstream connections kept per endpoint and worker; keep it at or above the peak
    /// number of concurrent requests per worker, or connections churn [1024].
    #[arg(long)]
    pub pool_max_idle: Option<usize>,
    /// Idle upstream connections are closed after this [55s].
    #[arg(long, value_parser = parse_duration)]
    pub pool_idle_timeout: Option<Duration>,
}

/// Options of `ringway demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Address for the gateway (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Address for the admin listener (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9901")]
    pub admin_listen: String,
    /// Stop after this long instead of serving until Ctrl-C (e.g. `30s`).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Where the demo writes its Parquet traffic logs [default: a new directory under the
    /// system temp dir].
    #[arg(long, value_name = "DIR")]
    pub logs: Option<PathBuf>,
    /// Synthetic requests sent through the gateway before serving.
    #[arg(long, default_value_t = 2000)]
    pub traffic: usize,
}

/// Parses `250ms`, `5s`, `2m`, `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 5s or 250ms"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("invalid duration unit in {s:?}: use ms, s, m or h")),
    };
    Ok(d)
}

fn resolve(addr: &str) -> anyhow::Result<SocketAddr> {
    addr.to_socket_addrs()
        .with_context(|| format!("cannot resolve {addr:?} (expected host:port)"))?
        .next()
        .with_context(|| format!("{addr:?} resolves to no address"))
}

impl ProcessArgs {
    /// Worker count and pinning, the command line winning over the config.
    fn options(&self, config_workers: Option<usize>, errors: &mut Vec<String>) -> RunOptions {
        let mut opts = RunOptions {
            pin_workers: !self.no_pin,
            ..RunOptions::default()
        };
        if let Some(n) = config_workers {
            opts.workers = n;
        }
        match self.workers.as_deref() {
            None | Some("auto") => {}
            Some(n) => match n.parse::<usize>() {
                Ok(n) if (1..=1024).contains(&n) => opts.workers = n,
                _ => errors.push(format!("--workers: expected `auto` or 1..=1024, got {n:?}")),
            },
        }
        if self.workers.as_deref() == Some("auto") {
            opts.workers = RunOptions::default().workers;
        }
        opts
    }
}

impl Tuning {
    /// Applies the flags that were given over the compiled quick-mode config.
    fn apply(&self, cfg: &mut Config, errors: &mut Vec<String>) {
        for (name, d) in [
            ("--connect-timeout", self.connect_timeout),
            ("--header-timeout", self.header_timeout),
            ("--body-timeout", self.body_timeout),
            ("--upstream-timeout", self.upstream_timeout),
            ("--idle-timeout", self.idle_timeout),
            ("--pool-idle-timeout", self.pool_idle_timeout),
        ] {
            if d.is_some_and(|d| d.is_zero()) {
                errors.push(format!("{name}: must be greater than zero"));
            }
        }
        if self.max_header_bytes.is_some_and(|n| n < 64) {
            errors.push("--max-header-bytes: must be at least 64".into());
        }
        if self.max_headers == Some(0) {
            errors.push("--max-headers: must be at least 1".into());
        }
        if let Some(d) = self.drain_timeout {
            cfg.drain_timeout = d;
        }
        for l in &mut cfg.listeners {
            set(&mut l.timeouts.header, self.header_timeout);
            set(&mut l.timeouts.body, self.body_timeout);
            set(&mut l.timeouts.idle, self.idle_timeout);
            set(&mut l.limits.max_body_bytes, self.max_body_bytes);
            set(&mut l.limits.max_uri_bytes, self.max_uri_bytes);
            set(&mut l.limits.max_header_bytes, self.max_header_bytes);
            set(&mut l.limits.max_headers, self.max_headers);
            for r in &mut l.routes {
                r.limits = l.limits;
            }
        }
        for g in &mut cfg.upstreams {
            set(&mut g.timeouts.connect, self.connect_timeout);
            set(&mut g.timeouts.response, self.upstream_timeout);
            set(&mut g.pool.max_idle, self.pool_max_idle);
            set(&mut g.pool.idle_timeout, self.pool_idle_timeout);
        }
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// The quick-mode configuration: one listener, one group, one catch-all route, no admin.
fn quick_config(args: &ProxyArgs, errors: &mut Vec<String>) -> Option<Config> {
    let listen = resolve(&args.listen)
        .map_err(|e| errors.push(format!("--listen: {e:#}")))
        .ok();
    let mut endpoints = Vec::new();
    for (i, to) in args.to.iter().enumerate() {
        match resolve(to) {
            Ok(a) => endpoints.push(format!("      - address: \"{a}\"")),
            Err(e) => errors.push(format!("--to[{i}]: {e:#}")),
        }
    }
    let listen = listen?;
    if endpoints.is_empty() {
        return None;
    }
    let yaml = [
        "admin: { enabled: false }".to_string(),
        "upstreams:".into(),
        "  default:".into(),
        "    endpoints:".into(),
        endpoints.join("\n"),
        "listeners:".into(),
        "  - name: quick".into(),
        format!("    listen: \"{listen}\""),
        "    routes:".into(),
        "      - name: all".into(),
        "        match: { path: { prefix: / } }".into(),
        "        proxy: { upstream: default }".into(),
    ]
    .join("\n");
    match ringway_config::from_yaml_str(&yaml) {
        Ok(cfg) => Some(cfg),
        Err(e) => {
            errors.extend(e.iter().map(ToString::to_string));
            None
        }
    }
}

/// Problems `compile` cannot see: routes that can never match.
pub fn route_problems(cfg: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    for (li, l) in cfg.listeners.iter().enumerate() {
        for (shadowed, by) in Router::new(&l.routes).shadowed() {
            problems.push(format!(
                "listeners[{li}].routes[{shadowed}]: route {:?} can never match: route {:?} \
(routes[{by}]) matches every request it would",
                l.routes[shadowed].name, l.routes[by].name
            ));
        }
    }
    problems
}

fn init_logging() {
    use std::io::IsTerminal;
    let level = std::env::var("RINGWAY_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Registers SIGTERM and SIGINT; the returned flag is set when either arrives.
fn termination_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&flag))
            .context("registering signal handler")?;
    }
    Ok(flag)
}

/// A started gateway (workers and admin listener).
pub struct Running {
    server: Server,
    _admin: Option<Admin>,
    ready: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
    /// Bound address of each listener.
    pub addrs: Vec<SocketAddr>,
    /// Bound address of the admin listener.
    pub admin_addr: Option<SocketAddr>,
    logs: Option<crate::pipeline::Logs>,
    /// JWKS refresh threads, stopped with the gateway.
    fetchers: Vec<std::thread::JoinHandle<()>>,
    fetchers_stop: Arc<AtomicBool>,
}

/// Starts the admin listener and the workers, and prints where they listen on stdout (tests
/// and scripts read it when a port was 0).
pub fn start(cfg: Config, config_text: &str, opts: RunOptions) -> anyhow::Result<Running> {
    let term = termination_flag()?;
    let ready = Arc::new(AtomicBool::new(false));
    let names = MetricNames {
        listeners: cfg.listeners.iter().map(|l| l.name.clone()).collect(),
        routes: cfg
            .listeners
            .iter()
            .map(|l| l.routes.iter().map(|r| r.name.clone()).collect())
            .collect(),
        upstreams: cfg.upstreams.iter().map(|g| g.name.clone()).collect(),
    };
    let (policies, _) = build_policies(&cfg, opts.workers, Secrets::Required)?;
    let hub = Arc::new(MetricsHub::new(names, opts.workers));
    let mut logs = crate::pipeline::Logs::start(&cfg, opts.workers)?;
    let render_hub = Arc::clone(&hub);
    let written = logs.as_ref().map(crate::pipeline::Logs::counters);
    let render_policies = Arc::clone(&policies);
    let metrics: ringway_proxy::admin::MetricsRenderer = Arc::new(move || {
        let extra = written
            .as_ref()
            .map_or(ExtraGauges::default(), |w| w.gauges());
        let mut text = render_hub.render_prometheus(&extra);
        render_policies.render_prometheus(&mut text);
        text
    });
    let admin = match &cfg.admin {
        Some(a) => Some(
            Admin::start(
                a.listen,
                AdminState {
                    ready: Arc::clone(&ready),
                    config_text: config_text.into(),
                    metrics,
                },
            )
            .with_context(|| format!("binding the admin listener {}", a.listen))?,
        ),
        None => None,
    };
    let hooks = TelemetryHooks {
        queues: logs.as_mut().map(crate::pipeline::Logs::take_producers),
        hub,
    };
    let server = Server::start(Arc::new(cfg), opts, hooks, Arc::clone(&policies))
        .context("starting the gateway")?;
    let fetchers_stop = Arc::new(AtomicBool::new(false));
    let fetchers = crate::jwks::start(&policies, &fetchers_stop)?;
    let addrs = server.listener_addrs().to_vec();
    let admin_addr = admin.as_ref().map(Admin::addr);
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for a in &addrs {
            let _ = writeln!(out, "ringway listening on http://{a}");
        }
        if let Some(a) = admin_addr {
            let _ = writeln!(out, "ringway admin on http://{a}");
        }
        let _ = out.flush();
    }
    ready.store(true, Ordering::Release);
    Ok(Running {
        logs,
        fetchers,
        fetchers_stop,
        server,
        _admin: admin,
        ready,
        term,
        addrs,
        admin_addr,
    })
}

impl Running {
    /// Serves until a signal arrives (or `limit` passes), then drains and reports.
    pub fn wait(self, limit: Option<Duration>) -> anyhow::Result<()> {
        let until = limit.map(|d| std::time::Instant::now() + d);
        while !self.term.load(Ordering::Relaxed)
            && !self.server.any_finished()
            && until.is_none_or(|u| std::time::Instant::now() < u)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.ready.store(false, Ordering::Release);
        tracing::info!("Shutting down: draining in-flight requests");
        let stats = self.server.shutdown()?;
        self.fetchers_stop.store(true, Ordering::Release);
        for f in self.fetchers {
            let _ = f.join();
        }
        // Every worker has exited, so every record is in a queue: write them all.
        if let Some(logs) = self.logs {
            let written = logs.finish()?;
            tracing::info!(
                files = written.files,
                rows = written.rows,
                "Traffic logs written"
            );
        }
        tracing::info!(
            connections = stats.connections,
            requests = stats.requests,
            errors = stats.errors,
            retries = stats.retries,
            upstream_connects = stats.upstream_connects,
            upstream_reuses = stats.upstream_reuses,
            reuse_ratio = format!("{:.4}", stats.reuse_ratio()),
            "Stopped"
        );
        Ok(())
    }
}

fn config_error(errors: &[String]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    ExitCode::from(EXIT_CONFIG)
}

fn run_proxy(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let mut errors = Vec::new();
    let cfg = quick_config(&args, &mut errors);
    let opts = args.process.options(None, &mut errors);
    let (Some(mut cfg), true) = (cfg, errors.is_empty()) else {
        return Ok(config_error(&errors));
    };
    args.tuning.apply(&mut cfg, &mut errors);
    cfg.telemetry.logs_dir.clone_from(&args.logs);
    if !errors.is_empty() {
        return Ok(config_error(&errors));
    }
    start(
        cfg,
        "# quick mode (ringway proxy): no configuration file\n",
        opts,
    )?
    .wait(None)?;
    Ok(ExitCode::SUCCESS)
}

fn run_config(args: RunArgs) -> anyhow::Result<ExitCode> {
    let text = match std::fs::read_to_string(&args.config) {
        Ok(t) => t,
        Err(e) => return Ok(config_error(&[format!("{}: {e}", args.config.display())])),
    };
    let mut errors = Vec::new();
    let cfg = match ringway_config::from_yaml_str(&text) {
        Ok(mut cfg) => {
            if let Some(dir) = args.config.parent() {
                cfg.resolve_paths(dir);
            }
            Some(cfg)
        }
        Err(e) => {
            errors.extend(e.iter().map(|e| format!("{}: {e}", args.config.display())));
            None
        }
    };
    let Some(cfg) = cfg else {
        return Ok(config_error(&errors));
    };
    errors.extend(
        route_problems(&cfg)
            .into_iter()
            .map(|e| format!("{}: {e}", args.config.display())),
    );
    let opts = args.process.options(cfg.workers, &mut errors);
    if !errors.is_empty() {
        return Ok(config_error(&errors));
    }
    start(cfg, &text, opts)?.wait(None)?;
    Ok(ExitCode::SUCCESS)
}

fn validate(args: ValidateArgs) -> ExitCode {
    let mut failed = false;
    for file in &args.files {
        let shown = file.display();
        let result = ringway_config::load_file(file)
            .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>());
        let problems = match &result {
            Ok(cfg) => {
                let mut problems = route_problems(cfg);
                match build_policies(cfg, 1, Secrets::MayBeAbsent) {
                    Ok((_, warnings)) => {
                        for w in warnings {
                            eprintln!("{shown}: warning: {w}");
                        }
                    }
                    Err(ConfigProblems(errors)) => problems.extend(errors),
                }
                problems
            }
            Err(errors) => errors.clone(),
        };
        if problems.is_empty() {
            if let Ok(cfg) = &result {
                let routes: usize = cfg.listeners.iter().map(|l| l.routes.len()).sum();
                println!(
                    "{shown}: ok ({} listeners, {routes} routes, {} upstream groups)",
                    cfg.listeners.len(),
                    cfg.upstreams.len()
                );
            }
        } else {
            failed = true;
            for p in &problems {
                eprintln!("{shown}: {p}");
            }
            eprintln!("{shown}: {} problem(s)", problems.len());
        }
    }
    if failed {
        ExitCode::from(EXIT_CONFIG)
    } else {
        ExitCode::SUCCESS
    }
}

fn logs(args: &LogsArgs) -> anyhow::Result<ExitCode> {
    use ringway_analytics::{GroupBy, OutputFormat, Query};
    let now = std::time::SystemTime::now();
    let mut errors = Vec::new();
    let mut q = Query::default();
    fn field<T>(
        errors: &mut Vec<String>,
        name: &str,
        r: ringway_analytics::Result<T>,
    ) -> Option<T> {
        r.map_err(|e| errors.push(format!("--{name}: {e}"))).ok()
    }
    let e = &mut errors;
    q.since_us = args
        .since
        .as_deref()
        .and_then(|s| field(e, "since", ringway_analytics::query::parse_time(s, now)));
    q.until_us = args
        .until
        .as_deref()
        .and_then(|s| field(e, "until", ringway_analytics::query::parse_time(s, now)));
    q.status = args
        .status
        .as_deref()
        .and_then(|s| field(e, "status", s.parse()));
    let group: Option<GroupBy> = field(e, "group-by", args.group_by.parse());
    let format: Option<OutputFormat> = field(e, "format", args.format.parse());
    if !errors.is_empty() {
        return Ok(config_error(&errors));
    }
    q.group_by = group.unwrap_or_default();
    q.route.clone_from(&args.route);
    q.client.clone_from(&args.client);
    q.method.clone_from(&args.method);
    q.top = args.top;
    let show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut progress = |done: usize, total: usize| {
        if show_progress && total >= 20 {
            eprint!("\rscanning {done}/{total} files");
            if done == total {
                eprintln!();
            }
        }
    };
    let result = ringway_analytics::run_query(&args.dir, &q, &mut progress)
        .with_context(|| format!("querying {}", args.dir.display()))?;
    print!("{}", result.render(format.unwrap_or_default()));
    Ok(ExitCode::SUCCESS)
}

fn hash_key(key: Option<String>) -> anyhow::Result<ExitCode> {
    let key = match key {
        Some(k) => k,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the key from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if key.is_empty() {
        return Ok(config_error(&["an empty API key".to_owned()]));
    }
    println!("{}", ringway_auth::apikey::hash(key.as_bytes()));
    Ok(ExitCode::SUCCESS)
}

/// Entry point.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_CONFIG } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging();
    let result = match cli.command {
        Command::Run(args) => run_config(args),
        Command::Validate(args) => Ok(validate(args)),
        Command::Proxy(args) => run_proxy(*args),
        Command::Demo(args) => crate::demo::run(args),
        Command::Logs(args) => logs(&args),
        Command::HashKey { key } => hash_key(key),
    };
    match result {
        Ok(code) => code,
        Err(e) if e.is::<ConfigProblems>() => {
            let problems = e
                .downcast::<ConfigProblems>()
                .map(|p| p.0)
                .unwrap_or_default();
            config_error(&problems)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("s").is_err());
    }
}

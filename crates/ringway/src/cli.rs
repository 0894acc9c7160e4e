//! The command line's shape (clap). What each command does is in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Exit status for a bad configuration or command line (EX_USAGE).
pub(crate) const EXIT_CONFIG: u8 = 64;

#[derive(Parser, Debug)]
#[command(
    name = "ringway",
    version,
    about = "An io_uring, thread-per-core API gateway"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
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
    /// Find anomalies in Parquet traffic logs (any writer's, with the required columns) and
    /// write a report: a self-contained HTML page with charts, Markdown, or JSON.
    Report(ReportArgs),
    /// Turn nginx/Apache access logs (combined format, or nginx JSON lines) into Parquet
    /// traffic logs for `ringway report`; lines that do not parse are counted, never fatal.
    Import(ImportArgs),
    /// Replay Parquet traffic logs through a configuration's IP filters and rate limits (the
    /// gateway's own limiter, on the logs' clock): what would it have refused, from whom?
    Replay(ReplayArgs),
    /// Write labelled synthetic traffic (a background with a daily rhythm plus one injected
    /// anomaly) as Parquet traffic logs, with its ground truth; `--list` names the scenarios.
    Scenario(ScenarioArgs),
    /// Print the stored form of an API key (`sha256:<hex>`) for `auth.consumers.*.api_keys`.
    /// Reads the key from standard input when none is given (keeps it out of shell history).
    HashKey {
        /// The API key.
        key: Option<String>,
    },
}

/// Options of `ringway logs`.
#[derive(Args, Debug)]
pub(crate) struct LogsArgs {
    /// The logs directory (`telemetry.logs_dir`, or `proxy --logs`).
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,
    /// Only requests at or after this time: RFC 3339 (`2026-11-28T06:00:00Z`) or an age (`15m`).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only requests before this time (same forms as `--since`).
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Only this route.
    #[arg(long)]
    pub(crate) route: Option<String>,
    /// Only this status (`503`) or class (`5xx`).
    #[arg(long)]
    pub(crate) status: Option<String>,
    /// Only this client (IP address or client id).
    #[arg(long)]
    pub(crate) client: Option<String>,
    /// Only this method.
    #[arg(long)]
    pub(crate) method: Option<String>,
    /// Group by `route`, `status`, `client`, `upstream`, `minute` or `none`.
    #[arg(long, default_value = "route")]
    pub(crate) group_by: String,
    /// Only the N largest groups by count.
    #[arg(long)]
    pub(crate) top: Option<usize>,
    /// Output: `table`, `csv` or `json`.
    #[arg(long, default_value = "table")]
    pub(crate) format: String,
}

/// Options of `ringway report`.
#[derive(Args, Debug)]
pub(crate) struct ReportArgs {
    /// The logs directory (searched recursively for `*.parquet`).
    #[arg(long, value_name = "DIR")]
    pub(crate) logs: PathBuf,
    /// Only requests at or after this time: RFC 3339 (`2026-11-28T06:00:00Z`) or an age (`7d`).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only requests before this time (same forms as `--since`).
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Output: `html`, `md` or `json`.
    #[arg(long, default_value = "html")]
    pub(crate) format: String,
    /// Write the report here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// The gateway's configuration: the detectors use its `telemetry.anomalies` settings, so
    /// the report judges the logs as the running gateway did.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// With `--config`: write that configuration with every proposed change applied here
    /// (checked as `ringway validate` would before it is written).
    #[arg(long, value_name = "FILE", requires = "config")]
    pub(crate) proposed: Option<PathBuf>,
    /// With `--proposed`: the new rules in shadow mode (counted in
    /// `ringway_policy_shadow_refusals_total`, not enforced), to try them first.
    #[arg(long, requires = "proposed")]
    pub(crate) shadow: bool,
}

/// Options of `ringway import`.
#[derive(Args, Debug)]
pub(crate) struct ImportArgs {
    /// The access logs.
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// `combined` (optionally followed by a request time in seconds) or `json`.
    #[arg(long, default_value = "combined")]
    pub(crate) format: String,
    /// Where to write the Parquet files (created if missing).
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// Name each request's route with this gateway configuration's router (its first
    /// listener; access logs carry no Host, so host-matched routes do not match). Without
    /// it, the route is the path's first segment, and 404s have none.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// Options of `ringway replay`.
#[derive(Args, Debug)]
pub(crate) struct ReplayArgs {
    /// The logs directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) logs: PathBuf,
    /// The configuration to replay (e.g. one `ringway report --proposed` wrote).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: PathBuf,
    /// Only requests at or after this time (RFC 3339 or an age such as `7d`).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only requests before this time.
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Output: `md` or `json`.
    #[arg(long, default_value = "md")]
    pub(crate) format: String,
}

/// Options of `ringway scenario`.
#[derive(Args, Debug)]
pub(crate) struct ScenarioArgs {
    /// The scenario (see `--list`).
    #[arg(required_unless_present = "list")]
    pub(crate) name: Option<String>,
    /// List the scenarios and exit.
    #[arg(long)]
    pub(crate) list: bool,
    /// Where to write the Parquet files (created if missing).
    #[arg(long, value_name = "DIR", required_unless_present = "list")]
    pub(crate) out: Option<PathBuf>,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Length of the traffic (the anomaly starts two thirds in, for 15 minutes; at least
    /// 30 minutes).
    #[arg(long, default_value = "3h", value_parser = ringway_core::parse_duration)]
    pub(crate) duration: std::time::Duration,
    /// Background requests per second at the daily peak (15:00 UTC; 0.1× at 03:00).
    #[arg(long, default_value_t = 30.0)]
    pub(crate) peak_rps: f64,
}

/// Options of `ringway run`.
#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// The configuration file.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) config: PathBuf,
    #[command(flatten)]
    pub(crate) process: ProcessArgs,
}

/// Options of `ringway validate`.
#[derive(Args, Debug)]
pub(crate) struct ValidateArgs {
    /// Configuration files to check.
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// The configuration running now: also report what a reload (SIGHUP, `POST /reload`)
    /// from it to each file could not apply without a restart (worker count, admin listener,
    /// telemetry).
    #[arg(long, value_name = "RUNNING")]
    pub(crate) against: Option<PathBuf>,
}

/// Process options shared by the commands that run the gateway.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ProcessArgs {
    /// Worker threads: `auto` (one per available CPU) or a number; overrides the config.
    #[arg(long)]
    pub(crate) workers: Option<String>,
    /// Do not pin workers to CPUs.
    #[arg(long)]
    pub(crate) no_pin: bool,
}

/// Options of `ringway proxy`.
#[derive(Args, Debug)]
pub(crate) struct ProxyArgs {
    /// Address to listen on (port 0 picks a free port, printed at start).
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: String,
    /// Upstream endpoints, comma separated (`host:port`).
    #[arg(
        long,
        value_name = "ADDR[,ADDR...]",
        value_delimiter = ',',
        required = true
    )]
    pub(crate) to: Vec<String>,
    /// Write Parquet traffic logs to this directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) logs: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) process: ProcessArgs,
    #[command(flatten)]
    pub(crate) tuning: Tuning,
}

/// Limits and timeouts for quick mode; unset ones keep the configuration defaults
/// (config/README.md). Durations use the configuration's grammar (`250ms`, `5s`, `1h30m`).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct Tuning {
    /// Upstream connect timeout (default 5s).
    #[arg(long)]
    pub(crate) connect_timeout: Option<String>,
    /// Time allowed to receive a complete request head (slowloris guard) (default 10s).
    #[arg(long)]
    pub(crate) header_timeout: Option<String>,
    /// Time allowed between reads of a request body and for writes to the client (default 60s).
    #[arg(long)]
    pub(crate) body_timeout: Option<String>,
    /// Time allowed for the upstream's response head, and between reads of its body (default 60s).
    #[arg(long)]
    pub(crate) upstream_timeout: Option<String>,
    /// Idle client keep-alive connections are closed after this (default 60s).
    #[arg(long)]
    pub(crate) idle_timeout: Option<String>,
    /// Time in-flight requests get to finish after SIGTERM/SIGINT (default 15s).
    #[arg(long)]
    pub(crate) drain_timeout: Option<String>,
    /// Largest request body in bytes (413 beyond) (default 8 GiB).
    #[arg(long)]
    pub(crate) max_body_bytes: Option<u64>,
    /// Longest request target in bytes (414 beyond) (default 8192).
    #[arg(long)]
    pub(crate) max_uri_bytes: Option<usize>,
    /// Largest request head in bytes (431 beyond) (default 32768).
    #[arg(long)]
    pub(crate) max_header_bytes: Option<usize>,
    /// Most request header fields (431 beyond) (default 100).
    #[arg(long)]
    pub(crate) max_headers: Option<usize>,
    /// Idle upstream connections kept per endpoint and worker; keep it at or above the peak
    /// number of concurrent requests per worker, or connections churn (default 1024).
    #[arg(long)]
    pub(crate) pool_max_idle: Option<usize>,
    /// Idle upstream connections are closed after this (default 55s).
    #[arg(long)]
    pub(crate) pool_idle_timeout: Option<String>,
}

/// Options of `ringway demo`.
#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Address for the gateway (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,
    /// Address for the admin listener (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:9901")]
    pub(crate) admin_listen: String,
    /// Stop after this long instead of serving until Ctrl-C (e.g. `30s`).
    #[arg(long, value_parser = ringway_core::parse_duration)]
    pub(crate) duration: Option<std::time::Duration>,
    /// Where the demo writes its Parquet traffic logs (default: a new directory under the
    /// system temp dir).
    #[arg(long, value_name = "DIR")]
    pub(crate) logs: Option<PathBuf>,
    /// Synthetic requests sent through the gateway before serving.
    #[arg(long, default_value_t = 2000)]
    pub(crate) traffic: usize,
    /// Instead: send a labelled scenario's traffic (`ringway scenario --list`) through a
    /// gateway running `config/scenario.yaml`, ten times faster than real time, with anomaly
    /// detection live on `/anomalies`; then stop.
    #[arg(long, value_name = "NAME")]
    pub(crate) scenario: Option<String>,
    /// The scenario's random seed.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

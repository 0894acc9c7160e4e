//! Starting a gateway from a compiled configuration: the checks `compile` cannot make (routes
//! that never match, key material), the policies, the log pipeline, the admin listener, the
//! workers and the JWKS refreshers; then waiting for a signal and stopping in order. Used by
//! `run`, `proxy` and `demo` alike.

mod fleet;
mod jwks;
pub(crate) mod patch;
pub(crate) mod pipeline;
pub(crate) mod reload;
pub(crate) mod replay;
pub(crate) mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use arc_swap::ArcSwap;
use ringway_config::model::Config;
use ringway_config::{ConfigError, ConfigErrors};
use ringway_policy::{KeyMaterial, Policies, Secrets, System};
use ringway_proxy::admin::{Admin, AdminState, MetricsRenderer};
use ringway_proxy::{CacheBus, Resilience, RunOptions, Server, Services, TelemetryHooks};
use ringway_router::Router;
use ringway_telemetry::metrics::{ExtraGauges, MetricsHub, Registry};

use reload::{Live, Reloads, SideThreads};

/// How serious a problem found in a configuration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    /// The gateway cannot run this configuration (exit 64).
    Error,
    /// Worth knowing; the configuration is still valid (an HMAC secret not set where the
    /// configuration is checked, for instance).
    Warning,
}

/// A problem found in a configuration, with the path of its setting.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    /// Error or warning.
    pub(crate) severity: Severity,
    /// `path: message`.
    pub(crate) error: ConfigError,
}

impl Problem {
    fn errors(errors: ConfigErrors) -> impl Iterator<Item = Problem> {
        errors.into_iter().map(|error| Problem {
            severity: Severity::Error,
            error,
        })
    }
}

/// Configuration problems found while starting: exit 64, nothing bound.
#[derive(Debug)]
pub(crate) struct ConfigProblems(pub Vec<Problem>);

impl std::fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<String> = self.0.iter().map(|p| p.error.to_string()).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ConfigProblems {}

/// What a configuration needs beyond itself, read and checked: the policies (key material)
/// and the TLS listeners' certificates.
pub(crate) struct Checked {
    /// IP filters, credentials, rate limits.
    pub(crate) policies: Arc<Policies>,
    /// Certificates and rustls configurations of the TLS listeners.
    pub(crate) tls: Arc<tls::TlsSetup>,
}

/// Everything `validate` checks beyond `compile`: routes that can never match, the key
/// material (files and secrets) and the certificates. Returns what was built when there is no
/// error, and every problem found.
pub(crate) fn check(
    cfg: &Config,
    workers: usize,
    secrets: Secrets,
) -> (Option<Checked>, Vec<Problem>) {
    let mut problems: Vec<Problem> = Problem::errors(shadowed_routes(cfg)).collect();
    let policies = match KeyMaterial::load(cfg, &System, secrets) {
        Err(errors) => {
            problems.extend(Problem::errors(errors));
            None
        }
        Ok(loaded) => {
            problems.extend(loaded.warnings.into_iter().map(|error| Problem {
                severity: Severity::Warning,
                error,
            }));
            match Policies::new(cfg, loaded.keys, workers) {
                Ok(p) => Some(Arc::new(p)),
                Err(errors) => {
                    problems.extend(Problem::errors(errors));
                    None
                }
            }
        }
    };
    let tls = match tls::TlsSetup::load(cfg) {
        Ok(t) => Some(Arc::new(t)),
        Err(errors) => {
            problems.extend(Problem::errors(errors));
            None
        }
    };
    let failed = problems.iter().any(|p| p.severity == Severity::Error);
    let checked = match (policies, tls) {
        (Some(policies), Some(tls)) if !failed => Some(Checked { policies, tls }),
        _ => None,
    };
    (checked, problems)
}

/// Routes that can never match because an earlier one matches everything they would.
fn shadowed_routes(cfg: &Config) -> ConfigErrors {
    let mut errors = ConfigErrors::default();
    for (li, l) in cfg.listeners.iter().enumerate() {
        for (shadowed, by) in Router::new(&l.routes).shadowed() {
            errors.push(
                format!("listeners[{li}].routes[{shadowed}]"),
                format!(
                    "route {:?} can never match: route {:?} (routes[{by}]) matches every request it would",
                    l.routes[shadowed].name, l.routes[by].name
                ),
            );
        }
    }
    errors
}

/// A started gateway: workers, admin listener, log pipeline and side threads.
pub(crate) struct Running {
    server: Server,
    _admin: Option<Admin>,
    ready: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
    /// Set by SIGHUP.
    hup: Arc<AtomicBool>,
    reloads: Arc<Reloads>,
    /// Bound address of each listener.
    pub(crate) addrs: Vec<SocketAddr>,
    /// Bound address of the admin listener.
    pub(crate) admin_addr: Option<SocketAddr>,
    logs: Option<pipeline::Logs>,
    /// The fleet-wide limits' store threads (for the process: reloads keep those limits).
    _stores: fleet::StoreThreads,
}

/// Checks and starts a gateway for `cfg` (`config_text` is what `/config` shows; `source`, the
/// file SIGHUP and `/reload` read again, if any), and prints where it listens on stdout (tests
/// and scripts read it when a port was 0). A configuration problem is a [`ConfigProblems`]
/// error and nothing is bound.
pub(crate) fn start(
    cfg: Config,
    config_text: &str,
    source: Option<PathBuf>,
    opts: RunOptions,
) -> anyhow::Result<Running> {
    let (checked, problems) = check(&cfg, opts.workers, Secrets::Required);
    let Some(Checked { policies, tls }) = checked else {
        return Err(ConfigProblems(problems).into());
    };
    for p in problems.iter().filter(|p| p.severity == Severity::Warning) {
        tracing::warn!(path = %p.error.path, "{}", p.error.message);
    }
    let (term, hup, tls_hup) = termination_flag()?;
    let ready = Arc::new(AtomicBool::new(false));
    let mut registry = Registry::default();
    let labels = registry.register(&pipeline::shape(&cfg))?;
    let hub = Arc::new(MetricsHub::new(
        registry.metric_names().clone(),
        opts.workers,
    ));
    let mut logs = pipeline::Logs::start(&cfg, opts.workers, &registry)?;
    let resilience = Resilience::new(&cfg, opts.workers);
    let hooks = TelemetryHooks {
        queues: logs.as_mut().map(pipeline::Logs::take_producers),
        hub: Arc::clone(&hub),
    };
    let services = Services {
        policies: Arc::clone(&policies),
        tls: tls.configs(),
        upstream_tls: tls.upstream_configs(),
        resilience: Arc::clone(&resilience),
    };
    let listener_tls = tls.configs();
    let live = Arc::new(ArcSwap::from_pointee(Live {
        policies: Arc::clone(&policies),
        tls: Arc::clone(&tls),
        resilience,
        text: config_text.into(),
    }));
    let admin_listen = cfg.admin.as_ref().map(|a| a.listen);
    let running_cfg = cfg.clone();
    let server = Server::start(Arc::new(cfg), opts, hooks, services, labels)
        .context("starting the gateway")?;
    let side = SideThreads::start(&policies, &tls, &tls_hup)?;
    let stores = fleet::start(&policies)?;
    let reloads = Arc::new(Reloads::new(reload::Started {
        source,
        cfg: running_cfg,
        registry,
        side,
        reloader: server.reloader(),
        workers: opts.workers,
        hub: Arc::clone(&hub),
        logs: logs.as_ref().map(pipeline::Logs::names),
        tls_hup,
        live: Arc::clone(&live),
    }));
    let admin = match admin_listen {
        Some(listen) => {
            let state = admin_state(&ready, &hub, logs.as_ref(), &reloads, &server.cache());
            let admin = Admin::start(listen, state)
                .with_context(|| format!("binding the admin listener {listen}"))?;
            Some(admin)
        }
        None => None,
    };
    let addrs = server.listener_addrs();
    let admin_addr = admin.as_ref().map(Admin::addr);
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for (a, tls) in addrs.iter().zip(listener_tls) {
            let scheme = if tls.is_some() { "https" } else { "http" };
            let _ = writeln!(out, "ringway listening on {scheme}://{a}");
        }
        if let Some(a) = admin_addr {
            let _ = writeln!(out, "ringway admin on http://{a}");
        }
        let _ = out.flush();
    }
    ready.store(true, Ordering::Release);
    Ok(Running {
        server,
        _admin: admin,
        ready,
        term,
        hup,
        reloads,
        addrs,
        admin_addr,
        logs,
        _stores: stores,
    })
}

/// What the admin endpoints show: each reads the newest configuration's state.
fn admin_state(
    ready: &Arc<AtomicBool>,
    hub: &Arc<MetricsHub>,
    logs: Option<&pipeline::Logs>,
    reloads: &Arc<Reloads>,
    cache: &Arc<CacheBus>,
) -> AdminState {
    let live = Arc::clone(&reloads.live);
    let (json, comments) = (Arc::clone(&live), Arc::clone(&live));
    let text = Arc::clone(&live);
    let reload = Arc::clone(reloads);
    AdminState {
        ready: Arc::clone(ready),
        config_text: Arc::new(move || text.load().text.clone()),
        metrics: metrics_renderer(hub, logs, reloads, cache),
        anomalies: logs.and_then(pipeline::Logs::board).map(|b| {
            let render: MetricsRenderer = Arc::new(move || b.load().to_json());
            render
        }),
        certificates: (
            Arc::new(move || {
                let tls = &json.load().tls;
                tls.any().then(|| format!("{}\n", tls.describe_json()))
            }),
            Arc::new(move || {
                let tls = &comments.load().tls;
                if tls.any() {
                    tls.describe_comments()
                } else {
                    String::new()
                }
            }),
        ),
        reload: Arc::new(move || reload.answer()),
        purge: {
            let cache = Arc::clone(cache);
            Arc::new(move |host, prefix| cache.purge(host, prefix, Duration::from_secs(1)))
        },
    }
}

/// `/metrics`: the merged per-core metrics, the Parquet counters, the policies' gauges.
fn metrics_renderer(
    hub: &Arc<MetricsHub>,
    logs: Option<&pipeline::Logs>,
    reloads: &Arc<Reloads>,
    cache: &Arc<CacheBus>,
) -> MetricsRenderer {
    let hub = Arc::clone(hub);
    let cache = Arc::clone(cache);
    let written = logs.map(pipeline::Logs::counters);
    let board = logs.and_then(pipeline::Logs::board);
    let reloads = Arc::clone(reloads);
    Arc::new(move || {
        let extra = written
            .as_ref()
            .map_or(ExtraGauges::default(), |w| w.gauges());
        let mut text = hub.render_prometheus(&extra);
        let live = reloads.live.load();
        live.policies.render_prometheus(&mut text);
        live.tls.render_prometheus(&mut text);
        live.resilience.render_prometheus(&mut text);
        reloads.render_prometheus(&mut text);
        cache.render_prometheus(&mut text);
        if let Some(b) = &board {
            render_anomalies(&b.load(), &mut text);
        }
        text
    })
}

/// The anomaly gauges and counters: every kind, zero when none.
fn render_anomalies(s: &ringway_analytics::anomaly::Snapshot, out: &mut String) {
    use ringway_telemetry::metrics::{name, write_family, write_sample, Kind};
    write_family(
        out,
        name::ANOMALIES_OPEN,
        Kind::Gauge,
        "Anomaly findings going on, by kind (see /anomalies).",
    );
    for (kind, n) in s.open_by_kind() {
        write_sample(
            out,
            name::ANOMALIES_OPEN,
            &[(name::ANOMALY, kind.as_str())],
            n,
        );
    }
    write_family(
        out,
        name::ANOMALIES_TOTAL,
        Kind::Counter,
        "Anomaly findings so far, by kind.",
    );
    for (kind, n) in &s.opened_total {
        write_sample(out, name::ANOMALIES_TOTAL, &[(name::ANOMALY, kind)], *n);
    }
    write_family(
        out,
        name::ANOMALY_RECORDS_DROPPED_TOTAL,
        Kind::Counter,
        "Records the anomaly detectors did not see: their queue was full.",
    );
    write_sample(
        out,
        name::ANOMALY_RECORDS_DROPPED_TOTAL,
        &[],
        s.records_dropped,
    );
}

/// Registers SIGTERM and SIGINT (the first flag is set when either arrives) and SIGHUP (the
/// second flag, for the configuration reload, and the third, for the certificate watcher), so
/// that a reload signal never terminates the process.
type Flags = (Arc<AtomicBool>, Arc<AtomicBool>, Arc<AtomicBool>);

fn termination_flag() -> anyhow::Result<Flags> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&flag))
            .context("registering signal handler")?;
    }
    let (hup, tls_hup) = (Arc::default(), Arc::default());
    for f in [&hup, &tls_hup] {
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(f))
            .context("registering the SIGHUP handler")?;
    }
    Ok((flag, hup, tls_hup))
}

impl Running {
    /// The live anomaly snapshot, when the detectors run.
    pub(crate) fn anomalies(&self) -> Option<ringway_analytics::anomaly::Snapshot> {
        let board = self.logs.as_ref()?.board()?;
        let snapshot = board.load();
        Some((**snapshot).clone())
    }

    /// Serves until a signal arrives (or `limit` passes), then drains and reports.
    pub(crate) fn wait(self, limit: Option<Duration>) -> anyhow::Result<()> {
        let until = limit.map(|d| Instant::now() + d);
        while !self.term.load(Ordering::Relaxed)
            && !self.server.any_finished()
            && until.is_none_or(|u| Instant::now() < u)
        {
            if self.hup.swap(false, Ordering::Relaxed) {
                // The outcome is logged; a refused configuration changes nothing.
                let _ = self.reloads.reload();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.ready.store(false, Ordering::Release);
        tracing::info!("Shutting down: draining in-flight requests");
        let stats = self.server.shutdown()?;
        self.reloads.stop();
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
            tls_handshakes = stats.tls_handshakes,
            tls_handshake_failures = stats.tls_handshake_failures,
            connections_refused = stats.connections_refused,
            "Stopped"
        );
        Ok(())
    }
}

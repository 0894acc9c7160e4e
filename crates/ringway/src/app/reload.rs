//! Hot reload: SIGHUP and `POST /reload` read the configuration file again, check it the way
//! `validate` does, and hand the result to the workers (`ringway_proxy::Reloader`). A
//! configuration with any problem changes nothing: every problem is logged with its path and
//! `/reload` answers 400 with them.
//!
//! What a reload cannot change — the worker count, the admin listener, `telemetry` (the log
//! pipeline) — is a problem too ([`restart_needed`]; `validate --against` reports the same).

// One reload at a time, from the admin thread or the main thread's signal loop: the lock is
// taken by reloads only, never by a worker.
#![allow(
    clippy::disallowed_types,
    reason = "serialises reloads (admin thread, signal loop); never on the request path"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use ringway_config::model::Config;
use ringway_config::ConfigErrors;
use ringway_policy::{Policies, Secrets};
use ringway_proxy::{Reloader, Resilience, Services};
use ringway_telemetry::metrics::{name, write_family, write_sample, Kind, MetricsHub, Registry};

use super::{check, jwks, pipeline, tls, Checked, Severity};

/// What a reload replaces and `/metrics`, `/config` and `/certificates` read.
pub(crate) struct Live {
    pub(crate) policies: Arc<Policies>,
    pub(crate) tls: Arc<tls::TlsSetup>,
    pub(crate) resilience: Arc<Resilience>,
    /// The configuration text as loaded (`/config`).
    pub(crate) text: String,
}

/// The threads that serve one configuration beside the workers (JWKS refreshers, the
/// certificate watcher), and their stop flag.
pub(crate) struct SideThreads {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl SideThreads {
    /// Starts them for `policies` and `tls`; `tls_hup` is the certificate watcher's SIGHUP flag.
    pub(crate) fn start(
        policies: &Arc<Policies>,
        tls: &Arc<tls::TlsSetup>,
        tls_hup: &Arc<AtomicBool>,
    ) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = jwks::start(policies, &stop)?;
        threads.extend(tls::start_reloader(tls, &stop, tls_hup)?);
        Ok(Self { stop, threads })
    }

    /// Stops them and waits.
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// What reloads work from, behind the reload lock.
struct State {
    /// The file read again, or `None` for an embedded configuration.
    source: Option<PathBuf>,
    /// The running configuration (what restart-only settings are compared with).
    cfg: Config,
    registry: Registry,
    side: Option<SideThreads>,
}

/// Reloads a running gateway (see the module documentation); shared by the admin listener and
/// the signal loop.
pub(crate) struct Reloads {
    state: Mutex<State>,
    reloader: Reloader,
    workers: usize,
    hub: Arc<MetricsHub>,
    logs: Option<pipeline::SharedNames>,
    tls_hup: Arc<AtomicBool>,
    pub(crate) live: Arc<ArcSwap<Live>>,
    ok: AtomicU64,
    failed: AtomicU64,
}

/// How a reload went: the listeners' addresses, or every problem (`path: message`).
pub(crate) type Outcome = Result<Vec<(String, SocketAddr)>, Vec<String>>;

/// What [`Reloads::new`] takes over from the start.
pub(crate) struct Started {
    pub(crate) source: Option<PathBuf>,
    pub(crate) cfg: Config,
    pub(crate) registry: Registry,
    pub(crate) side: SideThreads,
    pub(crate) reloader: Reloader,
    pub(crate) workers: usize,
    pub(crate) hub: Arc<MetricsHub>,
    pub(crate) logs: Option<pipeline::SharedNames>,
    pub(crate) tls_hup: Arc<AtomicBool>,
    pub(crate) live: Arc<ArcSwap<Live>>,
}

impl Reloads {
    pub(crate) fn new(s: Started) -> Self {
        Self {
            state: Mutex::new(State {
                source: s.source,
                cfg: s.cfg,
                registry: s.registry,
                side: Some(s.side),
            }),
            reloader: s.reloader,
            workers: s.workers,
            hub: s.hub,
            logs: s.logs,
            tls_hup: s.tls_hup,
            live: s.live,
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// Reads, checks and applies the configuration file again; logs the outcome.
    pub(crate) fn reload(&self) -> Outcome {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let outcome = self.apply(&mut state);
        match &outcome {
            Ok(listeners) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    generation = self.reloader.generation(),
                    listeners = listeners.len(),
                    "Configuration reloaded"
                );
            }
            Err(problems) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                for p in problems {
                    tracing::error!("Reload refused: {p}");
                }
            }
        }
        outcome
    }

    fn apply(&self, state: &mut State) -> Outcome {
        let Some(path) = state.source.clone() else {
            return Err(vec![
                "this gateway runs an embedded configuration: reload needs `ringway run --config FILE`"
                    .into(),
            ]);
        };
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| vec![format!("{shown}: {e}")])?;
        let prefixed = |errors: &ConfigErrors| -> Vec<String> {
            errors.iter().map(|e| format!("{shown}: {e}")).collect()
        };
        // Parsed from the text read above (which `/config` shows), not read a second time.
        let cfg = ringway_config::from_file_text(&text, &path).map_err(|e| prefixed(&e))?;
        let restart = restart_needed(&state.cfg, &cfg);
        let (checked, problems) = check(&cfg, self.workers, Secrets::Required);
        let mut errors = prefixed(&restart);
        errors.extend(
            problems
                .iter()
                .filter(|p| p.severity == Severity::Error)
                .map(|p| format!("{shown}: {}", p.error)),
        );
        let Some(Checked { mut policies, tls }) = checked.filter(|_| errors.is_empty()) else {
            return Err(errors);
        };
        let running = self.live.load_full();
        // Rate-limit and quota tables, fetched JWKS keys: kept where the rule is the same.
        if let Some(p) = Arc::get_mut(&mut policies) {
            let kept = p.adopt(&running.policies);
            tracing::info!(
                limits = kept.limits,
                quotas = kept.quotas,
                jwks_key_sets = kept.key_sets,
                "Reload keeps rate-limit tables and keys"
            );
        }
        for p in problems.iter().filter(|p| p.severity == Severity::Warning) {
            tracing::warn!(path = %p.error.path, "{}", p.error.message);
        }
        let mut registry = state.registry.clone();
        let labels = registry
            .register(&pipeline::shape(&cfg))
            .map_err(|e| vec![format!("{shown}: {e}")])?;
        // Breaker pools and endpoint health: kept by group name and endpoint address.
        let resilience = Resilience::carry(&cfg, self.workers, &running.resilience);
        // The grown name tables first: a record or metric of the new configuration is read
        // with them.
        if !self.hub.set_names(registry.metric_names().clone()) {
            return Err(vec!["internal: the metric names did not grow".into()]);
        }
        if let Some(names) = &self.logs {
            // Only when they grew: new tables end the open Parquet file (its journal carries
            // the names it was written with).
            let grown = pipeline::names(&registry);
            if **names.load() != grown {
                names.store(Arc::new(grown));
            }
        }
        state.registry = registry;
        let services = Services {
            policies: Arc::clone(&policies),
            tls: tls.configs(),
            upstream_tls: tls.upstream_configs(),
            resilience: Arc::clone(&resilience),
        };
        let names: Vec<String> = cfg.listeners.iter().map(|l| l.name.clone()).collect();
        let addrs = self
            .reloader
            .reload(Arc::new(cfg.clone()), services, labels)
            .map_err(|e| vec![format!("{shown}: {e}")])?;
        // The old configuration's side threads stop; the new one's start.
        if let Some(old) = state.side.take() {
            old.stop();
        }
        match SideThreads::start(&policies, &tls, &self.tls_hup) {
            Ok(side) => state.side = Some(side),
            Err(e) => tracing::error!(error = %e, "JWKS or certificate threads did not start"),
        }
        self.live.store(Arc::new(Live {
            policies,
            tls,
            resilience,
            text,
        }));
        state.cfg = cfg;
        Ok(names.into_iter().zip(addrs).collect())
    }

    /// Stops the side threads (at shutdown).
    pub(crate) fn stop(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(side) = state.side.take() {
            side.stop();
        }
    }

    /// `/reload`: the status and JSON body of a reload.
    pub(crate) fn answer(&self) -> (u16, String) {
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
        match self.reload() {
            Ok(listeners) => {
                let list: Vec<String> = listeners
                    .iter()
                    .map(|(n, a)| format!("{{\"name\":{},\"addr\":\"{a}\"}}", quote(n)))
                    .collect();
                (
                    200,
                    format!(
                        "{{\"status\":\"reloaded\",\"generation\":{},\"listeners\":[{}]}}\n",
                        self.reloader.generation(),
                        list.join(",")
                    ),
                )
            }
            Err(problems) => {
                let list: Vec<String> = problems.iter().map(|p| quote(p)).collect();
                (
                    400,
                    format!(
                        "{{\"status\":\"refused\",\"generation\":{},\"errors\":[{}]}}\n",
                        self.reloader.generation(),
                        list.join(",")
                    ),
                )
            }
        }
    }

    /// The generation gauge and reload counters for `/metrics`.
    pub(crate) fn render_prometheus(&self, out: &mut String) {
        write_family(
            out,
            name::CONFIG_GENERATION,
            Kind::Gauge,
            "The configuration generation new requests run on (1 at start, +1 per reload).",
        );
        write_sample(
            out,
            name::CONFIG_GENERATION,
            &[],
            self.reloader.generation(),
        );
        write_family(
            out,
            name::CONFIG_RELOADS_TOTAL,
            Kind::Counter,
            "Configuration reloads, by result (a failed one changes nothing).",
        );
        for (result, n) in [("ok", &self.ok), ("failed", &self.failed)] {
            write_sample(
                out,
                name::CONFIG_RELOADS_TOTAL,
                &[("result", result)],
                n.load(Ordering::Relaxed),
            );
        }
    }
}

/// The settings of `new` a reload of `old` cannot apply, as errors with their paths.
pub(crate) fn restart_needed(old: &Config, new: &Config) -> ConfigErrors {
    let mut errors = ConfigErrors::default();
    if old.workers != new.workers {
        let shown = |w: Option<usize>| w.map_or("one per CPU".to_string(), |n| n.to_string());
        errors.push(
            "workers",
            format!(
                "changing the worker count ({} to {}) needs a restart",
                shown(old.workers),
                shown(new.workers)
            ),
        );
    }
    if old.admin != new.admin {
        errors.push("admin", "changing the admin listener needs a restart");
    }
    if old.cache != new.cache {
        errors.push("cache", "changing the cache memory needs a restart");
    }
    if old.telemetry != new.telemetry {
        errors.push(
            "telemetry",
            "changing telemetry (logs, journal, access log, anomalies) needs a restart",
        );
    }
    let fleet_plans = |c: &'_ Config| -> Vec<ringway_config::model::Plan> {
        let plans = c.policies.plans.iter();
        plans.filter(|p| p.store.is_some()).cloned().collect()
    };
    if fleet_limits(old) != fleet_limits(new) || fleet_plans(old) != fleet_plans(new) {
        errors.push(
            "listeners",
            "adding, removing or changing a fleet-wide rate limit (one with a store) needs a restart",
        );
    }
    errors
}

/// Every rate limit with a store, by listener, route and name (their store threads live for
/// the process).
fn fleet_limits(cfg: &Config) -> Vec<(&str, &str, &ringway_config::model::RateLimitRule)> {
    cfg.listeners
        .iter()
        .flat_map(|l| {
            l.routes.iter().flat_map(move |r| {
                r.rate_limits
                    .iter()
                    .filter(|rule| rule.store.is_some())
                    .map(move |rule| (l.name.as_str(), r.name.as_str(), rule))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> Config {
        ringway_config::from_yaml_str(yaml).expect("valid")
    }

    const BASE: &str = r#"
listeners:
  - name: web
    listen: 127.0.0.1:8080
    routes:
      - name: all
        proxy: { upstream: app }
upstreams:
  app:
    endpoints: [{ address: "127.0.0.1:9000" }]
"#;

    #[test]
    fn routes_and_listeners_reload_workers_admin_telemetry_do_not() {
        let old = cfg(BASE);
        let routes = cfg(&BASE.replace("name: all", "name: everything"));
        assert!(restart_needed(&old, &routes).is_empty());
        let changed = cfg(&format!(
            "workers: 4\nadmin: {{ listen: 127.0.0.1:9902 }}\ntelemetry: {{ journal: false }}\n{BASE}"
        ));
        let errors = restart_needed(&old, &changed);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["workers", "admin", "telemetry"]);
        assert!(errors
            .iter()
            .next()
            .unwrap()
            .message
            .contains("one per CPU to 4"));
    }

    #[test]
    fn fleet_wide_limits_need_a_restart_to_change_local_ones_do_not() {
        let limit = |store: &str| {
            BASE.replace(
                "proxy: { upstream: app }",
                &format!("proxy: {{ upstream: app }}\n        rate_limits: [{{ name: l, key: global, requests: 10{store} }}]"),
            )
        };
        let local = cfg(&limit(""));
        let fleet = cfg(&limit(", store: { url: \"redis://127.0.0.1:6379\" }"));
        let other = cfg(&limit(", store: { url: \"redis://127.0.0.1:6380\" }"));
        assert!(restart_needed(&cfg(BASE), &local).is_empty());
        assert!(restart_needed(&fleet, &fleet.clone()).is_empty());
        for (a, b) in [(&local, &fleet), (&fleet, &local), (&fleet, &other)] {
            let errors = restart_needed(a, b);
            assert_eq!(errors.iter().count(), 1);
            assert!(errors.iter().next().unwrap().message.contains("fleet-wide"));
        }
    }
}

//! TLS set up from the configuration. The certificates of TLS listeners: read from their
//! files, checked (they parse, the key is the certificate's, valid now), and served through
//! one [`LiveCerts`] per listener that the listener's rustls configuration resolves with. The
//! reload thread reads them again on SIGHUP and when a file changes; a set that fails any
//! check is logged and counted and the old one keeps being served. And the client
//! configurations of upstream groups spoken to over TLS: their CA file or the system roots,
//! their client certificate.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use arc_swap::ArcSwap;
use ringway_config::model::{ClientAuth, Config, ListenerTls, UpstreamProtocol, UpstreamTls};
use ringway_config::ConfigErrors;
use ringway_tls::{CertTable, LiveCerts, TlsError};
use rustls::server::danger::ClientCertVerifier;
use rustls::{ClientConfig, ServerConfig};

/// How often certificate files are looked at.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The TLS listeners of a configuration, with the certificates they serve now, and the
/// upstream groups' client configurations.
#[derive(Debug, Default)]
pub(crate) struct TlsSetup {
    /// One entry per listener, in configuration order: `Some` for a TLS listener. Swapped
    /// whole when the client-certificate CA or CRLs change.
    configs: Vec<Option<Arc<ArcSwap<ServerConfig>>>>,
    entries: Vec<Entry>,
    /// One entry per upstream group, in configuration order: `Some` for a TLS group.
    upstreams: Vec<Option<Arc<ClientConfig>>>,
}

#[derive(Debug)]
struct Entry {
    listener: String,
    /// The listener's configuration, as the workers read it.
    config: Arc<ArcSwap<ServerConfig>>,
    /// `listeners[i].tls`, for messages.
    path: String,
    spec: ListenerTls,
    live: Arc<LiveCerts>,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
}

/// Seconds since the epoch, now.
fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl TlsSetup {
    /// Reads and checks every TLS listener's certificates and builds its configuration.
    /// Every problem is reported, each with the path of its setting.
    pub(crate) fn load(cfg: &Config) -> Result<TlsSetup, ConfigErrors> {
        let mut errors = ConfigErrors::default();
        let mut out = TlsSetup::default();
        let now = now_unix();
        for (i, l) in cfg.listeners.iter().enumerate() {
            let Some(spec) = &l.tls else {
                out.configs.push(None);
                continue;
            };
            let path = format!("listeners[{i}].tls");
            let table = match read_table(&path, spec, now) {
                Ok(t) => t,
                Err(e) => {
                    errors.0.extend(e.0);
                    out.configs.push(None);
                    continue;
                }
            };
            let clients = match spec
                .client_auth
                .as_ref()
                .map(|c| verifier(&path, c))
                .transpose()
            {
                Ok(v) => v,
                Err(e) => {
                    errors.0.extend(e.0);
                    out.configs.push(None);
                    continue;
                }
            };
            let live = Arc::new(LiveCerts::new(table));
            let config =
                match ringway_tls::server_config(Arc::clone(&live) as _, &spec.options, clients) {
                    Ok(c) => Arc::new(ArcSwap::new(c)),
                    Err(e) => {
                        errors.push(&path, e.to_string());
                        out.configs.push(None);
                        continue;
                    }
                };
            out.configs.push(Some(Arc::clone(&config)));
            out.entries.push(Entry {
                config,
                listener: l.name.clone(),
                path,
                spec: spec.clone(),
                live,
                reloads_ok: AtomicU64::new(0),
                reloads_failed: AtomicU64::new(0),
            });
        }
        for g in &cfg.upstreams {
            let made = g
                .tls
                .as_ref()
                .map(|t| upstream(&format!("upstreams.{}.tls", g.name), t, g.protocol))
                .transpose();
            match made {
                Ok(c) => out.upstreams.push(c),
                Err(e) => {
                    errors.0.extend(e.0);
                    out.upstreams.push(None);
                }
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// The client configuration of each upstream group, in configuration order.
    pub(crate) fn upstream_configs(&self) -> Vec<Option<Arc<ClientConfig>>> {
        self.upstreams.clone()
    }

    /// The rustls configuration of each listener, in configuration order.
    pub(crate) fn configs(&self) -> Vec<Option<Arc<ArcSwap<ServerConfig>>>> {
        self.configs.clone()
    }

    /// Reads entry `i`'s files again and serves them if every check passes: the certificates
    /// (swapped in the live table) and, with client certificates, the CA and CRL files (a new
    /// configuration around the same table, with new ticket keys: earlier sessions do not
    /// resume past a revocation).
    fn reload(&self, i: usize) {
        let e = &self.entries[i];
        if let Some(c) = &e.spec.client_auth {
            // New ticket keys and session cache too: a session resumed from before would skip
            // the new CRL, so a revoked client would keep its access until its ticket expired.
            let rebuilt = verifier(&e.path, c).and_then(|v| {
                ringway_tls::server_config(Arc::clone(&e.live) as _, &e.spec.options, Some(v))
                    .map_err(|err| {
                        let mut errors = ConfigErrors::default();
                        errors.push(&e.path, err.to_string());
                        errors
                    })
            });
            match rebuilt {
                Ok(fresh) => e.config.store(fresh),
                Err(errors) => {
                    e.reloads_failed.fetch_add(1, Ordering::Relaxed);
                    for err in &errors {
                        tracing::warn!(listener = %e.listener, path = %err.path, "Client CA/CRL reload refused, the previous ones stay: {}", err.message);
                    }
                    return;
                }
            }
        }
        match read_table(&e.path, &e.spec, now_unix()) {
            Ok(table) => {
                let names: Vec<String> = table.infos().iter().map(|c| c.subject.clone()).collect();
                e.live.replace(table);
                e.reloads_ok.fetch_add(1, Ordering::Relaxed);
                tracing::info!(listener = %e.listener, certificates = ?names, "Certificates reloaded");
            }
            Err(errors) => {
                e.reloads_failed.fetch_add(1, Ordering::Relaxed);
                for err in &errors {
                    tracing::warn!(listener = %e.listener, path = %err.path, "Certificate reload refused, the previous certificates stay: {}", err.message);
                }
            }
        }
    }

    /// The expiry gauge and reload counters, in the Prometheus text format.
    pub(crate) fn render_prometheus(&self, out: &mut String) {
        use ringway_telemetry::metrics::{name, write_family, write_sample, Kind};
        if self.entries.is_empty() {
            return;
        }
        write_family(
            out,
            name::TLS_CERT_EXPIRY,
            Kind::Gauge,
            "When each served certificate expires (unix seconds).",
        );
        for e in &self.entries {
            for c in e.live.current().infos() {
                write_sample(
                    out,
                    name::TLS_CERT_EXPIRY,
                    &[
                        (name::LISTENER, &e.listener),
                        ("subject", &c.subject),
                        ("sha256", &c.sha256),
                    ],
                    c.not_after_unix.max(0) as u64,
                );
            }
        }
        write_family(
            out,
            name::TLS_CERT_RELOADS,
            Kind::Counter,
            "Certificate reloads, by result (a failed one keeps the previous certificates).",
        );
        for e in &self.entries {
            for (result, n) in [("ok", &e.reloads_ok), ("failed", &e.reloads_failed)] {
                write_sample(
                    out,
                    name::TLS_CERT_RELOADS,
                    &[(name::LISTENER, &e.listener), ("result", result)],
                    n.load(Ordering::Relaxed),
                );
            }
        }
    }

    /// Whether any listener speaks TLS.
    pub(crate) fn any(&self) -> bool {
        !self.entries.is_empty()
    }

    /// The certificates served now as YAML comments, for the end of `/config`.
    pub(crate) fn describe_comments(&self) -> String {
        let mut out = String::from("\n# Certificates served now (see /certificates):\n");
        for e in &self.entries {
            for c in e.live.current().infos() {
                out.push_str(&format!(
                    "# {}: {} names={} sha256={} not_after_unix={}\n",
                    e.path,
                    c.subject,
                    c.names.join(","),
                    c.sha256,
                    c.not_after_unix
                ));
            }
        }
        out
    }

    /// What each TLS listener serves (`/certificates`): names, subject, validity, fingerprint
    /// and key type of every certificate, never a key.
    pub(crate) fn describe_json(&self) -> serde_json::Value {
        let listeners: Vec<serde_json::Value> = self
            .entries
            .iter()
            .map(|e| {
                let certs: Vec<serde_json::Value> = e
                    .live
                    .current()
                    .infos()
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "names": c.names,
                            "subject": c.subject,
                            "not_before_unix": c.not_before_unix,
                            "not_after_unix": c.not_after_unix,
                            "sha256": c.sha256,
                            "key_type": format!("{:?}", c.key_type),
                        })
                    })
                    .collect();
                serde_json::json!({ "listener": e.listener, "certificates": certs })
            })
            .collect();
        serde_json::json!({ "tls": listeners })
    }
}

/// Reads a listener's certificate files and builds its table, checked at `now`.
fn read_table(path: &str, spec: &ListenerTls, now: i64) -> Result<CertTable, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let mut certs = Vec::with_capacity(spec.certificates.len());
    for (i, files) in spec.certificates.iter().enumerate() {
        let at = format!("{path}.certificates[{i}]");
        let cert = read(&files.cert).map_err(|m| errors.push(format!("{at}.cert"), m));
        let key = read(&files.key).map_err(|m| errors.push(format!("{at}.key"), m));
        let (Ok(cert), Ok(key)) = (cert, key) else {
            continue;
        };
        match ringway_tls::load_cert(&cert, &key, files.names.as_deref(), now) {
            Ok(c) => certs.push(c),
            Err(e) => {
                let field = match e {
                    TlsError::Key(_) | TlsError::KeyMismatch => "key",
                    TlsError::Name(_) => "names",
                    _ => "cert",
                };
                let file = if field == "key" {
                    &files.key
                } else {
                    &files.cert
                };
                errors.push(format!("{at}.{field}"), format!("{}: {e}", file.display()));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    CertTable::new(certs, spec.default_certificate, spec.unknown_sni).map_err(|e| {
        let mut errors = ConfigErrors::default();
        errors.push(format!("{path}.certificates"), e.to_string());
        errors
    })
}

/// The client configuration of an upstream group: its CA file or the system roots, its
/// client certificate.
fn upstream(
    path: &str,
    t: &UpstreamTls,
    protocol: UpstreamProtocol,
) -> Result<Arc<ClientConfig>, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let roots = match &t.ca {
        Some(ca) => read(ca).and_then(|pem| {
            ringway_tls::roots_from_pem(&pem).map_err(|e| format!("{}: {e}", ca.display()))
        }),
        None => system_roots(),
    };
    let roots = roots.map_err(|m| errors.push(format!("{path}.ca"), m));
    let client = t.client_cert.as_ref().map(|(cert, key)| {
        let c = read(cert).map_err(|m| errors.push(format!("{path}.client_cert.cert"), m));
        let k = read(key).map_err(|m| errors.push(format!("{path}.client_cert.key"), m));
        c.ok().zip(k.ok())
    });
    let (Ok(roots), true) = (roots, errors.is_empty()) else {
        return Err(errors);
    };
    let client = client.flatten();
    let alpn: &[&[u8]] = match protocol {
        UpstreamProtocol::H2 => &[b"h2"],
        UpstreamProtocol::Auto => &[b"h2", b"http/1.1"],
        UpstreamProtocol::Http1 | UpstreamProtocol::H2c => &[b"http/1.1"],
    };
    ringway_tls::upstream_config(
        roots,
        client.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
        alpn,
    )
    .map_err(|e| {
        let field = match e {
            TlsError::Key(_) | TlsError::KeyMismatch => "client_cert.key",
            _ => "client_cert.cert",
        };
        errors.push(format!("{path}.{field}"), e.to_string());
        errors
    })
}

/// The operating system's trust anchors (`/etc/ssl/certs` and the like).
fn system_roots() -> Result<rustls::RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(format!(
            "no system root certificates could be read ({} problems); give a CA file",
            found.errors.len()
        ));
    }
    Ok(roots)
}

/// The client-certificate verifier of a listener: its CA file and CRLs read and checked.
fn verifier(path: &str, c: &ClientAuth) -> Result<Arc<dyn ClientCertVerifier>, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let at = format!("{path}.client_auth");
    let ca = read(&c.ca).map_err(|m| errors.push(format!("{at}.ca"), m));
    let mut crls = Vec::with_capacity(c.crls.len());
    for (i, f) in c.crls.iter().enumerate() {
        match read(f) {
            Ok(b) => crls.push(b),
            Err(m) => errors.push(format!("{at}.crls[{i}]"), m),
        }
    }
    let Ok(ca) = ca else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    ringway_tls::client_verifier(&ca, &crls, c.mode).map_err(|e| {
        let (field, file) = match &e {
            TlsError::Crl(i, _) => (format!("{at}.crls[{i}]"), &c.crls[*i]),
            _ => (format!("{at}.ca"), &c.ca),
        };
        errors.push(field, format!("{}: {e}", file.display()));
        errors
    })
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// What identifies a file's content without reading it: a replaced or rewritten file changes
/// it (an atomic rename changes the inode, an edit the time or size).
type Stamp = Option<(u64, i64, i64, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.mtime(), m.mtime_nsec(), m.size()))
}

/// Starts the reload thread: on SIGHUP (`hup`, set by the signal handler and cleared here)
/// every TLS listener is reloaded, and a listener whose files changed is once they have stayed
/// the same for one look ([`WATCH_EVERY`]). Ends soon after `stop` is set. None when no
/// listener speaks TLS.
pub(crate) fn start_reloader(
    tls: &Arc<TlsSetup>,
    stop: &Arc<AtomicBool>,
    hup: &Arc<AtomicBool>,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    if tls.entries.is_empty() {
        return Ok(None);
    }
    let (tls, stop, hup) = (Arc::clone(tls), Arc::clone(stop), Arc::clone(hup));
    let thread = std::thread::Builder::new()
        .name("ringway-tls-reload".into())
        .spawn(move || {
            let stamps_of = |e: &Entry| -> Vec<Stamp> {
                let certs = e
                    .spec
                    .certificates
                    .iter()
                    .flat_map(|f| [stamp(&f.cert), stamp(&f.key)]);
                let clients = e
                    .spec
                    .client_auth
                    .iter()
                    .flat_map(|c| std::iter::once(&c.ca).chain(&c.crls))
                    .map(|f| stamp(f));
                certs.chain(clients).collect()
            };
            let mut stamps: Vec<Vec<Stamp>> = tls.entries.iter().map(stamps_of).collect();
            // A change is acted on once the files have stayed the same for one look, so that
            // a certificate and key written one after the other are read as a pair.
            let mut settling = vec![false; tls.entries.len()];
            let tick = Duration::from_millis(50);
            let mut waited = Duration::ZERO;
            while !stop.load(Ordering::Acquire) {
                std::thread::sleep(tick);
                waited += tick;
                let hangup = hup.swap(false, Ordering::AcqRel);
                if !hangup && waited < WATCH_EVERY {
                    continue;
                }
                waited = Duration::ZERO;
                for (i, e) in tls.entries.iter().enumerate() {
                    let now = stamps_of(e);
                    let changed = now != stamps[i];
                    stamps[i] = now;
                    if hangup || (settling[i] && !changed) {
                        settling[i] = false;
                        tls.reload(i);
                    } else if changed {
                        settling[i] = true;
                    }
                }
            }
        })
        .context("starting the certificate reload thread")?;
    Ok(Some(thread))
}

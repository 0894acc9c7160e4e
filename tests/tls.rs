//! End-to-end TLS termination: `ringway run` with certificates made at test time (rcgen),
//! real loopback sockets, the rustls client and curl. Certificate choice by SNI and signature
//! scheme, unknown SNI, versions and ALPN, resumption on any core, reload under load, client
//! certificates (`tls/mtls.rs`), TLS to upstreams (`tls/upstream.rs`), and the configuration
//! errors `validate` names.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]
#![allow(
    clippy::disallowed_types,
    reason = "the test upstream's threads share what they observed; no gateway request path here"
)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringway_testkit::{eventually, Gateway, TempConfig, TempDir, Upstream};
use rustls::version::{TLS12, TLS13};

#[path = "tls/mtls.rs"]
mod mtls;
#[path = "tls/pki.rs"]
mod pki;
#[path = "tls/upstream.rs"]
mod upstream;

use pki::{any_cert_config, client_config, https_get, Alg, Ca};

const BIN: &str = env!("CARGO_BIN_EXE_ringway");

/// A gateway config with one TLS listener whose `tls:` block is `tls` (indented by the
/// caller), proxying everything to `upstream`, with an admin listener.
fn config(upstream: SocketAddr, tls: &str) -> String {
    format!(
        "admin:\n  listen: 127.0.0.1:0\nupstreams:\n  app:\n    endpoints:\n      - address: {upstream}\nlisteners:\n  - name: https\n    listen: 127.0.0.1:0\n    tls:\n{tls}\n    routes:\n      - name: all\n        proxy:\n          upstream: app\n"
    )
}

fn cert_entry(cert: &Path, key: &Path, extra: &str) -> String {
    format!(
        "        - cert: {}\n          key: {}\n{extra}",
        cert.display(),
        key.display()
    )
}

/// `curl https://<name>:<port><path>` resolved to the gateway, verifying with `ca_file`;
/// the body, after asserting success.
fn curl(ca_file: &Path, gw: SocketAddr, name: &str, path: &str, flags: &[&str]) -> String {
    let port = gw.port();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--cacert"])
        .arg(ca_file)
        .args(flags)
        .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
        .arg(format!("https://{name}:{port}{path}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{flags:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn certificates_are_chosen_by_name_and_signature_scheme() {
    let ca = Ca::new();
    let dir = TempDir::new("tls-sni");
    let default = ca.leaf(&["127.0.0.1", "default.test"], Alg::Ecdsa, false);
    let a_ec = ca.leaf(&["a.test"], Alg::Ecdsa, false);
    let a_rsa = ca.leaf(&["a.test"], Alg::Rsa, false);
    let wild = ca.leaf(&["*.b.test"], Alg::Ecdsa, false);
    let (dc, dk) = default.write(&dir.0, "default");
    let (aec, aek) = a_ec.write(&dir.0, "a-ec");
    let (arc, ark) = a_rsa.write(&dir.0, "a-rsa");
    let (wc, wk) = wild.write(&dir.0, "wild");
    let up = Upstream::echo();
    let tls = format!(
        "      certificates:\n{}{}{}{}",
        cert_entry(&aec, &aek, ""),
        cert_entry(&arc, &ark, ""),
        cert_entry(&wc, &wk, ""),
        cert_entry(&dc, &dk, "          default: true\n"),
    );
    let gw = Gateway::run_yaml(BIN, &config(up.addr(), &tls), 1);
    let verified = client_config(ca.roots(), &[&TLS13, &TLS12], &["http/1.1"]);

    // Exact name: the ECDSA certificate for a client that takes either.
    let seen = https_get(gw.addr(), &verified, "a.test", "/x").unwrap();
    assert_eq!(seen.leaf, a_ec.der);
    assert_eq!(status_of(&seen.response), 200);
    assert!(seen.response.ends_with("GET /x"), "{}", seen.response);
    assert_eq!(seen.alpn.as_deref(), Some(&b"http/1.1"[..]));
    // The RSA one for a client offering RSA signature schemes only.
    let rsa_only = any_cert_config(true);
    assert_eq!(
        https_get(gw.addr(), &rsa_only, "a.test", "/").unwrap().leaf,
        a_rsa.der
    );
    // One-label wildcard, verified by the client.
    let seen = https_get(gw.addr(), &verified, "api.b.test", "/").unwrap();
    assert_eq!(seen.leaf, wild.der);
    // No SNI (an address) and an unknown name: the default certificate.
    assert_eq!(
        https_get(gw.addr(), &verified, "127.0.0.1", "/")
            .unwrap()
            .leaf,
        default.der
    );
    let any = any_cert_config(false);
    assert_eq!(
        https_get(gw.addr(), &any, "c.test", "/").unwrap().leaf,
        default.der
    );
    // Two labels under a wildcard are not covered by it.
    assert_eq!(
        https_get(gw.addr(), &any, "x.api.b.test", "/")
            .unwrap()
            .leaf,
        default.der
    );

    // curl, as a user would, verifying against the CA.
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    assert_eq!(
        curl(&ca_file, gw.addr(), "a.test", "/curl?q=1", &[]),
        "GET /curl?q=1"
    );
}

#[test]
fn unknown_names_can_be_refused() {
    let ca = Ca::new();
    let dir = TempDir::new("tls-reject");
    let a = ca.leaf(&["a.test"], Alg::Ecdsa, false);
    let (c, k) = a.write(&dir.0, "a");
    let up = Upstream::echo();
    let tls = format!(
        "      unknown_sni: reject\n      certificates:\n{}",
        cert_entry(&c, &k, "")
    );
    let gw = Gateway::run_yaml(BIN, &config(up.addr(), &tls), 1);
    let any = any_cert_config(false);
    assert_eq!(
        https_get(gw.addr(), &any, "a.test", "/").unwrap().leaf,
        a.der
    );
    for name in ["other.test", "127.0.0.1"] {
        let err = https_get(gw.addr(), &any, name, "/").unwrap_err();
        assert!(
            err.contains("UnrecognisedName") || err.contains("alert"),
            "{name}: {err}"
        );
    }
    assert!(
        up.requests().len() == 1,
        "refused handshakes reach no upstream"
    );
}

#[test]
fn versions_and_alpn_follow_the_configuration() {
    let ca = Ca::new();
    let dir = TempDir::new("tls-versions");
    let leaf = ca.leaf(&["v.test"], Alg::Ecdsa, false);
    let (c, k) = leaf.write(&dir.0, "v");
    let up = Upstream::echo();
    let only12 = client_config(ca.roots(), &[&TLS12], &["http/1.1"]);
    let only13 = client_config(ca.roots(), &[&TLS13], &["h2", "http/1.1"]);

    // Default: TLS 1.2 and 1.3.
    let tls = format!("      certificates:\n{}", cert_entry(&c, &k, ""));
    let gw = Gateway::run_yaml(BIN, &config(up.addr(), &tls), 1);
    let seen = https_get(gw.addr(), &only12, "v.test", "/").unwrap();
    assert_eq!(seen.version, Some(rustls::ProtocolVersion::TLSv1_2));
    assert_eq!(status_of(&seen.response), 200);
    let seen = https_get(gw.addr(), &only13, "v.test", "/").unwrap();
    assert_eq!(seen.version, Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(
        seen.alpn.as_deref(),
        Some(&b"http/1.1"[..]),
        "h2 is not offered"
    );
    // A client whose only protocol the listener does not serve is refused.
    let h2_only = client_config(ca.roots(), &[&TLS13], &["h2"]);
    assert!(https_get(gw.addr(), &h2_only, "v.test", "/").is_err());
    drop(gw);

    // min_version 1.3 refuses a TLS 1.2 client; so does the modern profile.
    for setting in ["min_version: \"1.3\"", "profile: modern"] {
        let tls = format!(
            "      {setting}\n      certificates:\n{}",
            cert_entry(&c, &k, "")
        );
        let gw = Gateway::run_yaml(BIN, &config(up.addr(), &tls), 1);
        assert!(
            https_get(gw.addr(), &only12, "v.test", "/").is_err(),
            "{setting}"
        );
        let seen = https_get(gw.addr(), &only13, "v.test", "/").unwrap();
        assert_eq!(seen.version, Some(rustls::ProtocolVersion::TLSv1_3));
    }

    // curl forced to 1.2 and to 1.3 (OpenSSL's client).
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let tls = format!("      certificates:\n{}", cert_entry(&c, &k, ""));
    let gw = Gateway::run_yaml(BIN, &config(up.addr(), &tls), 1);
    for flags in [&["--tlsv1.2", "--tls-max", "1.2"][..], &["--tlsv1.3"][..]] {
        assert_eq!(curl(&ca_file, gw.addr(), "v.test", "/v", flags), "GET /v");
    }
}

#[test]
fn sessions_resume_on_any_core() {
    let ca = Ca::new();
    let dir = TempDir::new("tls-resume");
    let leaf = ca.leaf(&["r.test"], Alg::Ecdsa, false);
    let (c, k) = leaf.write(&dir.0, "r");
    let up = Upstream::echo();
    let tls = format!("      certificates:\n{}", cert_entry(&c, &k, ""));
    let gw = Gateway::run_yaml(BIN, &config(up.addr(), &tls), 2);
    // Connections from new source ports spread over both workers (SO_REUSEPORT hashing);
    // each worker must accept the tickets the other issued.
    for versions in [&[&TLS13][..], &[&TLS12][..]] {
        let cfg = client_config(ca.roots(), versions, &["http/1.1"]);
        let first = https_get(gw.addr(), &cfg, "r.test", "/").unwrap();
        assert!(!first.resumed);
        for i in 0..16 {
            let seen = https_get(gw.addr(), &cfg, "r.test", "/").unwrap();
            assert!(
                seen.resumed,
                "{versions:?} connection {i} was a full handshake"
            );
            assert_eq!(status_of(&seen.response), 200);
        }
    }
}

#[test]
fn certificates_reload_under_load_without_a_failed_request() {
    let ca = Ca::new();
    let dir = TempDir::new("tls-reload");
    let first = ca.leaf(&["reload.test"], Alg::Ecdsa, false);
    let (c, k) = first.write(&dir.0, "site");
    let up = Upstream::echo();
    let tls = format!("      certificates:\n{}", cert_entry(&c, &k, ""));
    let gw = Gateway::run_yaml(BIN, &config(up.addr(), &tls), 2);
    let admin = gw.admin_addr().unwrap();
    let metric = |result: &str| -> u64 {
        let m = ringway_testkit::get(admin, "/metrics").text();
        let prefix = format!(
            "ringway_tls_certificate_reloads_total{{listener=\"https\",result=\"{result}\"}} "
        );
        m.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    let certs = ringway_testkit::get(admin, "/certificates").text();
    let fingerprint = |der: &[u8]| {
        use sha2::Digest;
        hex(&sha2::Sha256::digest(der))
    };
    assert!(certs.contains(&fingerprint(&first.der)), "{certs}");
    assert!(!certs.contains("PRIVATE"), "{certs}");
    let config_text = ringway_testkit::get(admin, "/config").text();
    assert!(config_text.contains(&fingerprint(&first.der)));

    // Clients on fresh connections all along; none may fail.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
            let cfg = client_config(ca.roots(), &[&TLS13, &TLS12], &["http/1.1"]);
            let addr = gw.addr();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match https_get(addr, &cfg, "reload.test", "/") {
                        Ok(s) if status_of(&s.response) == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed)
                        }
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    // A new certificate replaces the files: served once the watcher has seen them settle.
    let second = ca.leaf(&["reload.test"], Alg::Ecdsa, false);
    second.write(&dir.0, "site");
    let any = any_cert_config(false);
    assert!(
        eventually(Duration::from_secs(10), || {
            https_get(gw.addr(), &any, "reload.test", "/").unwrap().leaf == second.der
        }),
        "the new certificate was never served"
    );
    assert_eq!(metric("ok"), 1);

    // A key that is not the certificate's is refused; the second certificate stays.
    let stranger = ca.leaf(&["reload.test"], Alg::Ecdsa, false);
    pki::replace(&k, &stranger.key_pem);
    assert!(eventually(Duration::from_secs(10), || metric("failed") == 1));
    // An expired certificate (with its own key) is refused too, now on SIGHUP.
    let expired = ca.leaf(&["reload.test"], Alg::Ecdsa, true);
    expired.write(&dir.0, "site");
    gw.signal("HUP");
    assert!(eventually(Duration::from_secs(10), || metric("failed") >= 2));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        https_get(gw.addr(), &any, "reload.test", "/").unwrap().leaf,
        second.der
    );
    let m = ringway_testkit::get(admin, "/metrics").text();
    assert!(
        m.contains(&format!("sha256=\"{}\"", fingerprint(&second.der))),
        "the expiry gauge names the served certificate:\n{m}"
    );

    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(ok > 50, "only {ok} requests under load");
    assert_eq!(failed, 0, "{failed} of {} requests failed", ok + failed);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn handshakes_that_stall_or_break_are_closed_and_others_served() {
    use std::io::{Read, Write};
    let ca = Ca::new();
    let dir = TempDir::new("tls-stall");
    let leaf = ca.leaf(&["s.test"], Alg::Ecdsa, false);
    let (c, k) = leaf.write(&dir.0, "s");
    let up = Upstream::echo();
    let tls = format!(
        "      handshake_timeout: 300ms\n      certificates:\n{}",
        cert_entry(&c, &k, "")
    );
    let gw = Gateway::run_yaml(BIN, &config(up.addr(), &tls), 1);
    // Silent after connecting: closed once the handshake time is up.
    let mut silent = std::net::TcpStream::connect(gw.addr()).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    assert_eq!(silent.read(&mut buf).unwrap_or(0), 0);
    assert!(started.elapsed() < Duration::from_secs(3));
    // Plain HTTP on the TLS port: an alert, then the connection ends; nothing goes upstream.
    let mut plain = std::net::TcpStream::connect(gw.addr()).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: s.test\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(
        got.len() < 16 && got.first() == Some(&0x15),
        "an alert record: {got:?}"
    );
    let cfg = client_config(ca.roots(), &[&TLS13], &["http/1.1"]);
    let seen = https_get(gw.addr(), &cfg, "s.test", "/after").unwrap();
    assert!(seen.response.ends_with("GET /after"));
    assert_eq!(up.requests().len(), 1);
    // Both failures and the success are counted.
    let admin = gw.admin_addr().unwrap();
    assert!(eventually(Duration::from_secs(5), || {
        let m = ringway_testkit::get(admin, "/metrics").text();
        m.contains("ringway_tls_handshakes_total{result=\"ok\"} 1")
            && m.contains("ringway_tls_handshakes_total{result=\"failed\"} 2")
    }));
}

/// `validate` exit code and output for a configuration.
fn validate(yaml: &str) -> (i32, String) {
    let cfg = TempConfig::new(yaml);
    let out = Command::new(BIN)
        .args(["validate", cfg.arg()])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn validate_names_every_tls_problem_with_its_path() {
    let ca = Ca::new();
    let dir = TempDir::new("tls-validate");
    let good = ca.leaf(&["ok.test"], Alg::Ecdsa, false);
    let (gc, gk) = good.write(&dir.0, "good");
    let expired = ca.leaf(&["old.test"], Alg::Ecdsa, true);
    let (ec, ek) = expired.write(&dir.0, "expired");
    let other = ca.leaf(&["x.test"], Alg::Rsa, false);
    let (_, ok_other) = other.write(&dir.0, "other");
    let missing = dir.0.join("missing.pem");
    let up = "127.0.0.1:9";

    let (code, out) = validate(&config(
        up.parse().unwrap(),
        &format!("      certificates:\n{}", cert_entry(&gc, &gk, "")),
    ));
    assert_eq!(code, 0, "{out}");

    let tls = format!(
        "      min_version: \"1.1\"\n      profile: old\n      unknown_sni: ignore\n      cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n      groups: [secp192r1]\n      alpn: [h3, spdy/3]\n      handshake_timeout: 0s\n      certificates:\n{}{}{}{}",
        cert_entry(&ec, &ek, ""),
        cert_entry(&gc, &ok_other, ""),
        cert_entry(&missing, &gk, "          default: true\n"),
        cert_entry(&gc, &gk, "          default: true\n          names: [\"bad name\"]\n"),
    );
    let (code, out) = validate(&config(up.parse().unwrap(), &tls));
    assert_eq!(code, 64, "{out}");
    for needle in [
        "listeners[0].tls.min_version",
        "listeners[0].tls.profile",
        "listeners[0].tls.unknown_sni",
        "listeners[0].tls.cipher_suites",
        "listeners[0].tls.groups",
        "listeners[0].tls.alpn[0]",
        "listeners[0].tls.alpn[1]",
        "listeners[0].tls.handshake_timeout",
        "listeners[0].tls.certificates: at most one certificate may be the default",
    ] {
        assert!(out.contains(needle), "{needle} in\n{out}");
    }
    // The files are read only when the choices are valid: fix them and look again.
    let tls = format!(
        "      certificates:\n{}{}{}{}",
        cert_entry(&ec, &ek, ""),
        cert_entry(&gc, &ok_other, ""),
        cert_entry(&missing, &gk, ""),
        cert_entry(&gc, &gk, "          names: [\"bad name\"]\n"),
    );
    let (code, out) = validate(&config(up.parse().unwrap(), &tls));
    assert_eq!(code, 64, "{out}");
    for needle in [
        "listeners[0].tls.certificates[0].cert",
        "expired",
        "listeners[0].tls.certificates[1].key",
        "does not match",
        "listeners[0].tls.certificates[2].cert",
        "missing.pem",
        "listeners[0].tls.certificates[3].names",
    ] {
        assert!(out.contains(needle), "{needle} in\n{out}");
    }
    assert!(
        !out.contains("BEGIN"),
        "no key material in messages:\n{out}"
    );
    // `run` refuses the same file before binding anything.
    let cfg = TempConfig::new(&config(up.parse().unwrap(), &tls));
    let status = Command::new(BIN)
        .args(["run", "--config", cfg.arg()])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(64));
}

#[test]
fn the_log_records_say_how_each_connection_spoke_tls() {
    let ca = Ca::new();
    let dir = TempDir::new("tls-logs");
    let leaf = ca.leaf(&["logs.test", "127.0.0.1"], Alg::Ecdsa, false);
    let (c, k) = leaf.write(&dir.0, "l");
    let logs = dir.0.join("logs");
    let up = Upstream::echo();
    let yaml = config(
        up.addr(),
        &format!("      certificates:\n{}", cert_entry(&c, &k, "")),
    )
    .replacen(
        "admin:",
        &format!("telemetry:\n  logs_dir: {}\nadmin:", logs.display()),
        1,
    );
    let mut gw = Gateway::run_yaml(BIN, &yaml, 1);
    let cfg13 = client_config(ca.roots(), &[&TLS13], &["http/1.1"]);
    let first = https_get(gw.addr(), &cfg13, "logs.test", "/full").unwrap();
    let again = https_get(gw.addr(), &cfg13, "logs.test", "/resumed").unwrap();
    assert!(!first.resumed && again.resumed);
    let cfg12 = client_config(ca.roots(), &[&TLS12], &[]);
    https_get(gw.addr(), &cfg12, "127.0.0.1", "/tls12").unwrap();
    gw.signal("TERM");
    assert_eq!(
        gw.wait_exit(Duration::from_secs(20)).and_then(|s| s.code()),
        Some(0)
    );

    // Read back by DuckDB, as a user would query them.
    let sql = format!(
        "select path, tls_version, tls_session, coalesce(alpn, '-'), coalesce(sni, '-') \
         from read_parquet('{}/**/*.parquet', hive_partitioning = true) order by ts",
        logs.display()
    );
    assert_eq!(
        ringway_testkit::duckdb_rows(&sql),
        "/full|TLSv1.3|full|http/1.1|logs.test\n\
         /resumed|TLSv1.3|resumed|http/1.1|logs.test\n\
         /tls12|TLSv1.2|full|-|-\n"
    );
}

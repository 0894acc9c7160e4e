//! TLS to upstreams: certificates always verified (a CA file; the name from the endpoint or
//! `server_name`), failures answered 502, a client certificate presented when asked, new
//! connections resuming the core's sessions.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ringway_testkit::{Gateway, TempDir};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::pki::{Alg, Ca, Leaf};
use super::BIN;

/// An HTTPS upstream (rustls, a thread per connection) answering every request with
/// `<path> sni=<name> client=<subject CN or ->` and counting handshakes.
struct TlsUpstream {
    addr: SocketAddr,
    handshakes: Arc<AtomicUsize>,
    resumed: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl TlsUpstream {
    fn start(leaf: &Leaf, clients: Option<&Ca>) -> TlsUpstream {
        let chain = vec![CertificateDer::from(leaf.der.clone())];
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
        let provider = ringway_tls::crypto_provider();
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match clients {
            None => builder.with_no_client_auth(),
            Some(ca) => builder.with_client_cert_verifier(
                rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(ca.roots()),
                    provider,
                )
                .build()
                .unwrap(),
            ),
        };
        let config = Arc::new(builder.with_single_cert(chain, key).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let up = TlsUpstream {
            addr: listener.local_addr().unwrap(),
            handshakes: Arc::new(AtomicUsize::new(0)),
            resumed: Arc::new(AtomicUsize::new(0)),
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let (h, r, seen) = (
            Arc::clone(&up.handshakes),
            Arc::clone(&up.resumed),
            Arc::clone(&up.seen),
        );
        std::thread::spawn(move || {
            for tcp in listener.incoming().map_while(Result::ok) {
                let (config, h, r, seen) = (
                    Arc::clone(&config),
                    Arc::clone(&h),
                    Arc::clone(&r),
                    Arc::clone(&seen),
                );
                std::thread::spawn(move || {
                    let conn = ServerConnection::new(config).unwrap();
                    let mut tls = StreamOwned::new(conn, tcp);
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let mut counted = false;
                    loop {
                        let n = match tls.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if !counted {
                            counted = true;
                            h.fetch_add(1, Ordering::Relaxed);
                            if tls.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                                r.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                            buf.drain(..end + 4);
                            let path = head.split(' ').nth(1).unwrap_or("?").to_owned();
                            let sni = tls.conn.server_name().unwrap_or("-").to_owned();
                            let client = tls
                                .conn
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| {
                                    ringway_tls::ClientCert::from_der(c.as_ref())
                                        .unwrap()
                                        .subject
                                })
                                .unwrap_or_else(|| "-".into());
                            // A body delimited by the close: ended with close_notify, or
                            // cut by a bare TCP close.
                            if path == "/clean" || path == "/truncated" {
                                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\n\r\nthe whole body");
                                if path == "/clean" {
                                    tls.conn.send_close_notify();
                                }
                                let _ = tls.flush();
                                return;
                            }
                            let body = format!("{path} sni={sni} client={client}");
                            seen.lock().unwrap().push(body.clone());
                            let resp = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if tls.write_all(resp.as_bytes()).is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        up
    }
}

/// A CA written to `<dir>/ca.pem`, and the `tls:` block of a group verifying `up.test`
/// against it.
fn ca_and_tls_block(dir: &TempDir) -> (Ca, std::path::PathBuf, String) {
    let ca = Ca::new();
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let tls = format!(
        "      server_name: up.test\n      ca: {}",
        ca_file.display()
    );
    (ca, ca_file, tls)
}

/// A plain listener proxying to one TLS upstream group whose `tls:` block is `tls`.
fn config(up: SocketAddr, tls: &str, pool: &str) -> String {
    format!(
        "admin:\n  listen: 127.0.0.1:0\nupstreams:\n  secure:\n    endpoints:\n      - address: {up}\n{pool}    tls:\n{tls}\nlisteners:\n  - name: plain\n    listen: 127.0.0.1:0\n    routes:\n      - name: all\n        proxy:\n          upstream: secure\n"
    )
}

fn get(gw: SocketAddr, path: &str) -> (u16, String) {
    let r = ringway_testkit::get(gw, path);
    (r.status, r.text())
}

#[test]
fn upstream_certificates_are_verified_and_failures_are_502() {
    let dir = TempDir::new("tls-upstream-verify");
    let ca = Ca::new();
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let other = Ca::new();
    let other_file = dir.0.join("other.pem");
    std::fs::write(&other_file, &other.pem).unwrap();

    // Named certificate, name given by server_name: verified, served, SNI sent.
    let named = TlsUpstream::start(&ca.leaf(&["up.test"], Alg::Ecdsa, false), None);
    let tls = format!(
        "      server_name: up.test\n      ca: {}",
        ca_file.display()
    );
    let gw = Gateway::run_yaml(BIN, &config(named.addr, &tls, ""), 1);
    assert_eq!(
        get(gw.addr(), "/a"),
        (200, "/a sni=up.test client=-".into())
    );
    drop(gw);

    // Each of these fails verification: nothing is forwarded, the client gets 502.
    for (what, tls) in [
        (
            "a CA that did not sign it",
            format!(
                "      server_name: up.test\n      ca: {}",
                other_file.display()
            ),
        ),
        (
            "another name",
            format!(
                "      server_name: other.test\n      ca: {}",
                ca_file.display()
            ),
        ),
        (
            "the endpoint's address, not in the certificate",
            format!("      ca: {}", ca_file.display()),
        ),
    ] {
        let before = named.seen.lock().unwrap().len();
        let gw = Gateway::run_yaml(BIN, &config(named.addr, &tls, ""), 1);
        let (status, body) = get(gw.addr(), "/b");
        assert_eq!(status, 502, "{what}: {body}");
        assert_eq!(named.seen.lock().unwrap().len(), before, "{what}");
    }

    // The endpoint's address is the default name: a certificate with that IP SAN verifies.
    let by_ip = TlsUpstream::start(&ca.leaf(&["127.0.0.1"], Alg::Ecdsa, false), None);
    let tls = format!("      ca: {}", ca_file.display());
    let gw = Gateway::run_yaml(BIN, &config(by_ip.addr, &tls, ""), 1);
    assert_eq!(get(gw.addr(), "/c"), (200, "/c sni=- client=-".into()));
}

#[test]
fn a_client_certificate_is_presented_and_sessions_resume() {
    let dir = TempDir::new("tls-upstream-client");
    let ca = Ca::new();
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let gateways = Ca::new();
    let (cert, key) = gateways
        .client("gateway-7", &["DNS:gw.test"], 7)
        .write(&dir.0, "gw-client");
    let up = TlsUpstream::start(&ca.leaf(&["up.test"], Alg::Ecdsa, false), Some(&gateways));

    // Without a client certificate the upstream refuses the handshake: 502.
    let tls = format!(
        "      server_name: up.test\n      ca: {}",
        ca_file.display()
    );
    let gw = Gateway::run_yaml(BIN, &config(up.addr, &tls, ""), 1);
    assert_eq!(get(gw.addr(), "/x").0, 502);
    drop(gw);

    // With it: served. No pooling, so every request is a new connection, which resumes.
    let tls = format!(
        "      server_name: up.test\n      ca: {}\n      client_cert:\n        cert: {}\n        key: {}",
        ca_file.display(),
        cert.display(),
        key.display()
    );
    let pool = "    pool:\n      max_idle: 0\n";
    let gw = Gateway::run_yaml(BIN, &config(up.addr, &tls, pool), 1);
    let (h0, r0) = (
        up.handshakes.load(Ordering::Relaxed),
        up.resumed.load(Ordering::Relaxed),
    );
    for i in 0..6 {
        let path = format!("/r{i}");
        assert_eq!(
            get(gw.addr(), &path),
            (200, format!("{path} sni=up.test client=CN=gateway-7"))
        );
    }
    let handshakes = up.handshakes.load(Ordering::Relaxed) - h0;
    let resumed = up.resumed.load(Ordering::Relaxed) - r0;
    assert_eq!(handshakes, 6, "a new connection per request");
    assert_eq!(resumed, 5, "all but the first resumed the session");
}

#[test]
fn validate_names_upstream_tls_problems() {
    let dir = TempDir::new("tls-upstream-validate");
    let ca = Ca::new();
    let ca_file = dir.0.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let a = ca.client("a", &["DNS:a.test"], 1);
    let b = ca.client("b", &["DNS:b.test"], 2);
    let (cert_a, _) = a.write(&dir.0, "a");
    let (_, key_b) = b.write(&dir.0, "b");
    let up: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let tls = format!(
        "      server_name: \"not a name\"\n      ca: {}/missing.pem\n      client_cert:\n        cert: {}\n        key: {}",
        dir.0.display(),
        cert_a.display(),
        key_b.display()
    );
    let (code, out) = super::validate(&config(up, &tls, ""));
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("upstreams.secure.tls.server_name"), "{out}");
    // With the name fixed, the files are read: the missing CA and the key of another
    // certificate are named.
    let tls = tls.replace("\"not a name\"", "up.test");
    let (code, out) = super::validate(&config(up, &tls, ""));
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("upstreams.secure.tls.ca"), "{out}");
    let tls = tls.replace("/missing.pem", "/ca.pem");
    let (code, out) = super::validate(&config(up, &tls, ""));
    assert_eq!(code, 64, "{out}");
    assert!(
        out.contains("upstreams.secure.tls.client_cert.key"),
        "{out}"
    );
}

#[test]
fn a_body_cut_by_a_bare_tcp_close_is_not_passed_off_as_complete() {
    let dir = TempDir::new("tls-upstream-truncated");
    let (ca, _, tls) = ca_and_tls_block(&dir);
    let up = TlsUpstream::start(&ca.leaf(&["up.test"], Alg::Ecdsa, false), None);
    let gw = Gateway::run_yaml(BIN, &config(up.addr, &tls, ""), 1);
    let fetch = |path: &str| {
        let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
        ringway_testkit::exchange_raw(gw.addr(), req.as_bytes(), false, ringway_testkit::PATIENCE)
    };
    // close_notify, then the close: the chunked response to the client is complete.
    let clean = fetch("/clean");
    let text = String::from_utf8_lossy(&clean.bytes);
    assert!(
        text.contains("the whole body") && text.ends_with("0\r\n\r\n"),
        "{text}"
    );
    // A bare TCP close: the client sees the connection end without the last chunk.
    let cut = fetch("/truncated");
    let text = String::from_utf8_lossy(&cut.bytes);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "a truncated body passed for complete: {text}"
    );
    assert!(cut.closed, "{text}");
}

#[test]
fn protocol_auto_speaks_http1_to_an_endpoint_that_does_not_choose_h2() {
    let dir = TempDir::new("tls-upstream-auto");
    let (ca, _, tls) = ca_and_tls_block(&dir);
    // This upstream offers no ALPN protocol: the handshake ends without one.
    let up = TlsUpstream::start(&ca.leaf(&["up.test"], Alg::Ecdsa, false), None);
    let gw = Gateway::run_yaml(BIN, &config(up.addr, &tls, "    protocol: auto\n"), 1);
    for path in ["/one", "/two"] {
        assert_eq!(
            get(gw.addr(), path),
            (200, format!("{path} sni=up.test client=-"))
        );
    }
    assert_eq!(
        up.handshakes.load(Ordering::Relaxed),
        1,
        "one HTTP/1.1 connection, pooled"
    );
}

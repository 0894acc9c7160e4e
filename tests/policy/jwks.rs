//! JWKS URLs: keys fetched, rotated early on an unknown `kid`, kept through failures, and
//! fetched over https against the configured CA only.

use super::*;

pub(super) fn jwks_server(doc: Arc<Mutex<Option<Vec<u8>>>>) -> Upstream {
    Upstream::start(move |_| match doc.lock().unwrap().clone() {
        Some(body) => Reply::Status(200, body),
        None => Reply::Status(500, b"down".to_vec()),
    })
}

#[test]
fn jwks_url_keys_rotate_and_the_last_good_set_survives_fetch_failures() {
    let up = Upstream::start(|_| Reply::Status(200, b"ok".to_vec()));
    let doc = Arc::new(Mutex::new(Some(key("rsa.jwks.json"))));
    let jwks = jwks_server(Arc::clone(&doc));
    let gw = run(
        &format!(
            r#"
admin: {{ listen: 127.0.0.1:0 }}
upstreams:
  orders: {{ endpoints: [{{ address: "{}" }}] }}
auth:
  jwt_providers:
    corp:
      algorithms: [RS256]
      keys: {{ jwks_url: "http://{}/.well-known/jwks.json", refresh: 1h, min_refresh: 1s }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - {{ name: orders, proxy: {{ upstream: orders }}, auth: {{ jwt: corp }} }}
"#,
            up.addr(),
            jwks.addr()
        ),
        "2",
    );
    let old = token(
        Algorithm::RS256,
        Some("rsa-1"),
        claims("alice", ""),
        "rsa-private.pem",
    );
    let new = token(
        Algorithm::RS256,
        Some("rot-2"),
        claims("alice", ""),
        "rsa2-private.pem",
    );
    assert!(eventually(WAIT, || request(gw.addr(), "/", &bearer(&old))
        .status
        == 200));
    // The issuer rotates: the new kid is unknown until the gateway fetches again, which an
    // unknown kid triggers (at most once per min_refresh).
    assert_eq!(request(gw.addr(), "/", &bearer(&new)).status, 401);
    *doc.lock().unwrap() = Some(key("rsa2.jwks.json"));
    assert!(
        eventually(Duration::from_secs(10), || request(
            gw.addr(),
            "/",
            &bearer(&new)
        )
        .status
            == 200),
        "the rotated key was never fetched"
    );
    assert_eq!(
        request(gw.addr(), "/", &bearer(&old)).status,
        401,
        "the old key is gone"
    );
    // The key server breaks: the gateway keeps the last good set.
    *doc.lock().unwrap() = None;
    let bad_kid = token(
        Algorithm::RS256,
        Some("rot-3"),
        claims("alice", ""),
        "rsa2-private.pem",
    );
    assert_eq!(request(gw.addr(), "/", &bearer(&bad_kid)).status, 401);
    let admin = gw.admin_addr().expect("admin address");
    assert!(eventually(Duration::from_secs(10), || {
        let m = ringway_testkit::get(admin, "/metrics").text();
        m.lines().any(|l| {
            l.starts_with("ringway_jwks_fetch_errors_total{provider=\"corp\"}")
                && !l.ends_with(" 0")
        })
    }));
    assert_eq!(request(gw.addr(), "/", &bearer(&new)).status, 200);
    let m = ringway_testkit::get(admin, "/metrics").text();
    for core in ["0", "1"] {
        let line = format!("ringway_ratelimit_drift_tokens{{core=\"{core}\"}} 0");
        assert!(m.lines().any(|l| l == line), "{line} in\n{m}");
    }
}

/// A CA and a certificate for `127.0.0.1` it signed, as PEM: `(ca, server chain, server key)`.
pub(super) fn test_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// An HTTPS server on loopback answering every GET with `body`; counts the requests it read.
pub(super) fn https_server(
    chain_pem: &str,
    key_pem: &str,
    body: Vec<u8>,
) -> (SocketAddr, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    // The gateway's crypto provider, named: rustls has no process-wide default to fall back on.
    let config = rustls::ServerConfig::builder_with_provider(ringway_tls::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&served);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (config, body, count) = (Arc::clone(&config), body.clone(), Arc::clone(&count));
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(WAIT));
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                count.fetch_add(1, Ordering::Relaxed);
                let _ = write!(
                    tls,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(&body);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (addr, served)
}

/// Signing keys fetched over https, verified against the configured CA: a key server whose
/// certificate another CA signed is never believed.
#[test]
fn jwks_over_https_is_verified_against_the_configured_ca() {
    let up = Upstream::start(|_| Reply::Status(200, b"ok".to_vec()));
    let (ca, chain, key_pem) = test_pki();
    let (jwks, served) = https_server(&chain, &key_pem, key("rsa.jwks.json"));
    let (other_ca, _, _) = test_pki();
    let dir = std::env::temp_dir().join(format!("ringway-jwks-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), &ca).unwrap();
    std::fs::write(dir.join("other-ca.pem"), &other_ca).unwrap();
    let config = |ca_file: &str| {
        format!(
            r#"
admin: {{ listen: 127.0.0.1:0 }}
upstreams:
  orders: {{ endpoints: [{{ address: "{}" }}] }}
auth:
  jwt_providers:
    corp:
      algorithms: [RS256]
      keys: {{ jwks_url: "https://{jwks}/jwks.json", jwks_ca_file: "{}", refresh: 1h, min_refresh: 1s }}
listeners:
  - name: main
    listen: 127.0.0.1:0
    routes:
      - {{ name: orders, proxy: {{ upstream: orders }}, auth: {{ jwt: corp }} }}
"#,
            up.addr(),
            dir.join(ca_file).display()
        )
    };
    let token = token(
        Algorithm::RS256,
        Some("rsa-1"),
        claims("alice", ""),
        "rsa-private.pem",
    );
    let gw = run(&config("ca.pem"), "1");
    assert!(
        eventually(WAIT, || request(gw.addr(), "/", &bearer(&token)).status
            == 200),
        "keys fetched over https were never installed"
    );
    assert!(served.load(Ordering::Relaxed) >= 1);

    // The same server, but the gateway trusts another CA: the TLS handshake fails, no document
    // is read, no key is installed.
    let before = served.load(Ordering::Relaxed);
    let gw = run(&config("other-ca.pem"), "1");
    let admin = gw.admin_addr().expect("admin address");
    assert!(eventually(WAIT, || {
        let m = ringway_testkit::get(admin, "/metrics").text();
        m.lines().any(|l| {
            l.starts_with("ringway_jwks_fetch_errors_total{provider=\"corp\"} ")
                && !l.ends_with(" 0")
        })
    }));
    assert_eq!(request(gw.addr(), "/", &bearer(&token)).status, 401);
    assert_eq!(
        served.load(Ordering::Relaxed),
        before,
        "no request crossed an untrusted TLS session"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

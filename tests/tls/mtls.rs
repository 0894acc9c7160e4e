//! Client certificates (mTLS): required and optional, CA and CRL checks, route rules, and the
//! `x-forwarded-client-cert` field only the gateway writes.

use std::path::Path;

use ringway_testkit::{Gateway, TempDir, Upstream};

use super::pki::{client_config, client_config_with_cert, https_get_with, Alg, Ca, Leaf};
use super::{curl, status_of, BIN};
use rustls::version::{TLS12, TLS13};

/// A TLS listener asking for client certificates (`mode`), with three routes: `/open` (no
/// rule), `/any` (any verified certificate) and `/admin` (the SAN `URI:spiffe://test/admin`).
fn config(up: std::net::SocketAddr, dir: &Path, mode: &str) -> String {
    let d = dir.display();
    format!(
        "admin:
  listen: 127.0.0.1:0
upstreams:
  app:
    endpoints:
      - address: {up}
listeners:
  - name: mtls
    listen: 127.0.0.1:0
    tls:
      certificates:
        - cert: {d}/server.pem
          key: {d}/server.key
      client_auth:
        mode: {mode}
        ca: {d}/clients-ca.pem
        crls: [{d}/clients.crl]
    routes:
      - name: admin
        match:
          path: {{ prefix: /admin }}
        client_cert:
          sans: [\"URI:spiffe://test/admin\"]
        proxy:
          upstream: app
      - name: any
        match:
          path: {{ prefix: /any }}
        client_cert: {{}}
        proxy:
          upstream: app
      - name: open
        proxy:
          upstream: app
"
    )
}

struct Pki {
    server_ca: Ca,
    /// The CA of the client certificates (it signs the CRLs too).
    clients: Ca,
    alice: Leaf,
    admin: Leaf,
    revoked: Leaf,
    stranger: Leaf,
}

fn pki(dir: &Path) -> Pki {
    let server_ca = Ca::new();
    server_ca
        .leaf(&["m.test"], Alg::Ecdsa, false)
        .write(dir, "server");
    let clients = Ca::new();
    std::fs::write(dir.join("clients-ca.pem"), &clients.pem).unwrap();
    std::fs::write(dir.join("clients.crl"), clients.crl(&[66])).unwrap();
    let other = Ca::new();
    Pki {
        alice: clients.client("alice", &["URI:spiffe://test/alice", "DNS:alice.test"], 1),
        admin: clients.client("ops", &["URI:spiffe://test/admin"], 2),
        revoked: clients.client("mallory", &["URI:spiffe://test/admin"], 66),
        stranger: other.client("eve", &["URI:spiffe://test/admin"], 3),
        server_ca,
        clients,
    }
}

fn sha256_hex(der: &[u8]) -> String {
    use sha2::Digest;
    super::hex(&sha2::Sha256::digest(der))
}

const FORGED: &str = "X-Forwarded-Client-Cert: Hash=00;Subject=\"CN=admin\"\r\n";

#[test]
fn required_client_certificates_are_checked_and_forwarded() {
    let dir = TempDir::new("tls-mtls-required");
    let p = pki(&dir.0);
    let up = Upstream::echo();
    let gw = Gateway::run_yaml(BIN, &config(up.addr(), &dir.0, "required"), 1);
    let roots = || p.server_ca.roots();

    // No certificate, one from another CA, a revoked one: the handshake fails.
    let none = client_config(roots(), &[&TLS13, &TLS12], &["http/1.1"]);
    for (who, cfg) in [
        ("none", none),
        ("stranger", client_config_with_cert(roots(), &p.stranger)),
        ("revoked", client_config_with_cert(roots(), &p.revoked)),
    ] {
        let got = https_get_with(gw.addr(), &cfg, "m.test", "/open", "");
        assert!(
            got.as_ref().map_or(true, |s| status_of(&s.response) == 0),
            "{who}: {got:?}"
        );
    }
    assert!(up.requests().is_empty(), "nothing reached the upstream");

    // A valid certificate: served, its identity forwarded; the client's own field dropped.
    let alice = client_config_with_cert(roots(), &p.alice);
    let seen = https_get_with(gw.addr(), &alice, "m.test", "/open", FORGED).unwrap();
    assert_eq!(status_of(&seen.response), 200, "{}", seen.response);
    let reqs = up.requests();
    let xfcc = reqs[0].header_all("x-forwarded-client-cert");
    assert_eq!(
        xfcc,
        [format!(
            "Hash={};Subject=\"CN=alice\";URI=spiffe://test/alice;DNS=alice.test",
            sha256_hex(&p.alice.der)
        )]
    );
    assert_eq!(reqs[0].header("x-forwarded-proto"), Some("https"));

    // Route rules on top: alice is not the admin.
    let seen = https_get_with(gw.addr(), &alice, "m.test", "/admin", "").unwrap();
    assert_eq!(status_of(&seen.response), 403);
    let admin = client_config_with_cert(roots(), &p.admin);
    let seen = https_get_with(gw.addr(), &admin, "m.test", "/admin", "").unwrap();
    assert_eq!(status_of(&seen.response), 200);

    // curl with a client certificate, as a user would.
    let (cert, key) = p.admin.write(&dir.0, "curl-admin");
    let ca_file = dir.0.join("server-ca.pem");
    std::fs::write(&ca_file, &p.server_ca.pem).unwrap();
    let flags = [
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    assert_eq!(
        curl(&ca_file, gw.addr(), "m.test", "/admin/x", &flags),
        "GET /admin/x"
    );
}

#[test]
fn optional_client_certificates_let_routes_decide() {
    let dir = TempDir::new("tls-mtls-optional");
    let p = pki(&dir.0);
    let up = Upstream::echo();
    let gw = Gateway::run_yaml(BIN, &config(up.addr(), &dir.0, "optional"), 1);
    let roots = || p.server_ca.roots();
    let none = client_config(roots(), &[&TLS13], &["http/1.1"]);
    let status = |cfg, path| {
        status_of(
            &https_get_with(gw.addr(), cfg, "m.test", path, FORGED)
                .unwrap()
                .response,
        )
    };
    assert_eq!(status(&none, "/open"), 200);
    assert_eq!(status(&none, "/any"), 403);
    assert_eq!(status(&none, "/admin"), 403);
    // Without a certificate, a forged field is still not forwarded.
    let reqs = up.requests();
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].header_all("x-forwarded-client-cert").is_empty());

    let alice = client_config_with_cert(roots(), &p.alice);
    assert_eq!(status(&alice, "/any"), 200);
    assert_eq!(status(&alice, "/admin"), 403);
    let admin = client_config_with_cert(roots(), &p.admin);
    assert_eq!(status(&admin, "/admin"), 200);
    // A certificate that is sent must still be valid.
    let revoked = client_config_with_cert(roots(), &p.revoked);
    assert!(https_get_with(gw.addr(), &revoked, "m.test", "/open", "")
        .map_or(true, |s| status_of(&s.response) == 0));
}

#[test]
fn validate_names_client_certificate_problems() {
    let dir = TempDir::new("tls-mtls-validate");
    pki(&dir.0);
    let up: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let good = config(up, &dir.0, "required");
    let (code, out) = super::validate(&good);
    assert_eq!(code, 0, "{out}");

    let bad = good
        .replace("mode: required", "mode: sometimes")
        .replace("URI:spiffe://test/admin", "spiffe://test/admin");
    let (code, out) = super::validate(&bad);
    assert_eq!(code, 64, "{out}");
    for needle in [
        "listeners[0].tls.client_auth.mode",
        "listeners[0].routes[0].client_cert.sans[0]",
    ] {
        assert!(out.contains(needle), "{needle} in\n{out}");
    }
    std::fs::write(dir.0.join("clients.crl"), "not a CRL").unwrap();
    let bad = good.replace("clients-ca.pem", "missing-ca.pem");
    let (code, out) = super::validate(&bad);
    assert_eq!(code, 64, "{out}");
    for needle in ["listeners[0].tls.client_auth.ca", "missing-ca.pem"] {
        assert!(out.contains(needle), "{needle} in\n{out}");
    }
    let (code, out) = super::validate(&good);
    assert_eq!(code, 64, "{out}");
    assert!(
        out.contains("listeners[0].tls.client_auth.crls[0]"),
        "{out}"
    );

    // A route rule on a listener that asks for no certificates can never be met.
    let plain: String = good
        .lines()
        .filter(|l| {
            ![
                "      client_auth:",
                "        mode:",
                "        ca:",
                "        crls:",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let (code, out) = super::validate(&plain);
    assert_eq!(code, 64, "{out}");
    assert!(
        out.contains(
            "listeners[0].routes[0].client_cert: the listener asks for no client certificates"
        ),
        "{out}"
    );
}

#[test]
fn a_new_crl_is_enforced_without_a_restart() {
    let dir = TempDir::new("tls-mtls-crl-reload");
    let p = pki(&dir.0);
    let up = Upstream::echo();
    let gw = Gateway::run_yaml(BIN, &config(up.addr(), &dir.0, "required"), 1);
    let roots = || p.server_ca.roots();
    let alice = client_config_with_cert(roots(), &p.alice);
    let mallory = client_config_with_cert(roots(), &p.revoked);
    let served = |cfg: &std::sync::Arc<rustls::ClientConfig>| {
        https_get_with(gw.addr(), cfg, "m.test", "/open", "")
            .is_ok_and(|s| status_of(&s.response) == 200)
    };
    assert!(served(&alice));
    assert!(!served(&mallory), "serial 66 is in the first CRL");
    // The CA publishes a new CRL: alice (serial 1) revoked, 66 no longer listed.
    super::pki::replace(&dir.0.join("clients.crl"), &p.clients.crl(&[1]));
    assert!(
        ringway_testkit::eventually(std::time::Duration::from_secs(10), || !served(&alice)),
        "the new CRL was never enforced"
    );
    assert!(served(&mallory));
    // Alice's client still holds a session from before: it was not resumed past the CRL.
}

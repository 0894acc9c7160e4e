//! In-memory handshakes between rustls clients and servers built by this crate, with
//! certificates made at test time: SNI selection (exact, wildcard, default, refusal), the key
//! type the client can verify, versions by profile, ALPN, suites and groups by name,
//! resumption through a configuration shared by two "cores", and certificates refused before
//! use.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::sync::Arc;

use rcgen::{CertificateParams, DnType, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};
use ringway_tls::{
    load_cert, server_config, CertTable, KeyType, LoadedCert, Profile, ServerOptions, TlsError,
    TlsVersion, UnknownSni,
};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, ProtocolVersion, RootCertStore, ServerConnection,
    SignatureScheme,
};

/// 2026-12-06: inside the test certificates' validity.
const NOW: i64 = 1_796_558_400;

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
}

fn ca() -> Ca {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, "test CA");
    let cert = p.self_signed(&key).unwrap();
    Ca {
        der: cert.der().clone(),
        issuer: Issuer::new(p, key),
    }
}

/// A leaf for `names` signed by `ca`, with an ECDSA or RSA key: (cert PEM, key PEM).
fn leaf(ca: &Ca, names: &[&str], rsa: bool) -> (String, String) {
    let key = if rsa {
        KeyPair::generate_for(&PKCS_RSA_SHA256).unwrap()
    } else {
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap()
    };
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.not_before = rcgen::date_time_ymd(2026, 1, 1);
    p.not_after = rcgen::date_time_ymd(2027, 12, 31);
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn loaded(ca: &Ca, names: &[&str], rsa: bool) -> LoadedCert {
    let (c, k) = leaf(ca, names, rsa);
    load_cert(c.as_bytes(), k.as_bytes(), None, NOW).unwrap()
}

fn client(ca: &Ca) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(ca.der.clone()).unwrap();
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Moves what `from` has to send into `to`.
fn pump(
    from: &mut impl std::ops::DerefMut<Target = rustls::ConnectionCommon<impl rustls::SideData>>,
    to: &mut impl std::ops::DerefMut<Target = rustls::ConnectionCommon<impl rustls::SideData>>,
) {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut rd = &buf[..];
    while !rd.is_empty() {
        to.read_tls(&mut rd).unwrap();
    }
}

/// Runs a handshake to its end in memory; `Err` with the side's error if it fails.
fn handshake(
    server: &Arc<rustls::ServerConfig>,
    client: &Arc<ClientConfig>,
    sni: &str,
) -> Result<(ServerConnection, ClientConnection), String> {
    let mut s = ServerConnection::new(Arc::clone(server)).unwrap();
    let mut c = ClientConnection::new(
        Arc::clone(client),
        ServerName::try_from(sni.to_owned()).unwrap(),
    )
    .unwrap();
    for _ in 0..20 {
        pump(&mut c, &mut s);
        s.process_new_packets()
            .map_err(|e| format!("server: {e}"))?;
        pump(&mut s, &mut c);
        c.process_new_packets()
            .map_err(|e| format!("client: {e}"))?;
        if !s.is_handshaking() && !c.is_handshaking() {
            // Let the client take the session tickets sent after the handshake.
            pump(&mut s, &mut c);
            c.process_new_packets()
                .map_err(|e| format!("client: {e}"))?;
            return Ok((s, c));
        }
    }
    Err("the handshake did not finish".into())
}

fn leaf_of(c: &ClientConnection) -> CertificateDer<'static> {
    c.peer_certificates().unwrap()[0].clone().into_owned()
}

#[test]
fn sni_picks_exact_then_wildcard_then_default_or_refuses() {
    let ca = ca();
    let api = loaded(&ca, &["api.example.com"], false);
    let wild = loaded(&ca, &["*.example.com"], false);
    let other = loaded(&ca, &["other.test"], false);
    let (api_der, wild_der, other_der) = (
        api.key.cert[0].clone(),
        wild.key.cert[0].clone(),
        other.key.cert[0].clone(),
    );
    let opts = ServerOptions::default();
    let client = Arc::new(client(&ca));
    let table = CertTable::new(vec![api, wild, other], 2, UnknownSni::Default).unwrap();
    assert_eq!(table.infos().len(), 3);
    let server = server_config(Arc::new(table), &opts, None).unwrap();
    let (_, c) = handshake(&server, &client, "api.example.com").unwrap();
    assert_eq!(leaf_of(&c), api_der);
    let (_, c) = handshake(&server, &client, "WWW.Example.com").unwrap();
    assert_eq!(leaf_of(&c), wild_der);
    // Two labels deep: no wildcard match, so the default (which the client then rejects,
    // since it is not for that name).
    let err = handshake(&server, &client, "a.b.example.com").unwrap_err();
    assert!(err.contains("client"), "{err}");
    let (s, _) = handshake(&server, &client, "other.test").unwrap();
    assert_eq!(s.server_name(), Some("other.test"));
    let _ = other_der;

    // With unknown_sni: reject, an unknown name ends the handshake on the server.
    let table = CertTable::new(
        vec![loaded(&ca, &["api.example.com"], false)],
        0,
        UnknownSni::Reject,
    )
    .unwrap();
    let server = server_config(Arc::new(table), &opts, None).unwrap();
    let err = handshake(&server, &client, "unknown.example.com").unwrap_err();
    assert!(err.starts_with("server:"), "{err}");
    assert!(handshake(&server, &client, "api.example.com").is_ok());
}

#[test]
fn the_key_type_follows_what_the_client_can_verify() {
    let ca = ca();
    let ecdsa = loaded(&ca, &["api.example.com"], false);
    let rsa = loaded(&ca, &["api.example.com"], true);
    assert_eq!(
        (ecdsa.info.key_type, rsa.info.key_type),
        (KeyType::Ecdsa, KeyType::Rsa)
    );
    let rsa_der = rsa.key.cert[0].clone();
    let ecdsa_der = ecdsa.key.cert[0].clone();
    // RSA listed first: ECDSA still wins for a client that takes both.
    let table = CertTable::new(vec![rsa, ecdsa], 0, UnknownSni::Default).unwrap();
    let server = server_config(Arc::new(table), &ServerOptions::default(), None).unwrap();
    let (_, c) = handshake(&server, &Arc::new(client(&ca)), "api.example.com").unwrap();
    assert_eq!(leaf_of(&c), ecdsa_der);
    // A client offering only RSA signature schemes gets the RSA certificate; one offering
    // none the certificates can make gets none (the handshake is refused).
    let t = CertTable::new(
        vec![
            loaded(&ca, &["api.example.com"], true),
            loaded(&ca, &["api.example.com"], false),
        ],
        0,
        UnknownSni::Default,
    )
    .unwrap();
    let rsa_only = [
        SignatureScheme::RSA_PSS_SHA256,
        SignatureScheme::RSA_PKCS1_SHA256,
    ];
    let picked = t.select(Some("api.example.com"), &rsa_only).unwrap();
    assert_eq!(picked.cert[0], t_leaf(&t, KeyType::Rsa));
    let ecdsa_only = [SignatureScheme::ECDSA_NISTP256_SHA256];
    let picked = t.select(Some("api.example.com"), &ecdsa_only).unwrap();
    assert_eq!(picked.cert[0], t_leaf(&t, KeyType::Ecdsa));
    // None fits: the preferred one, and rustls fails the handshake itself.
    let picked = t
        .select(Some("api.example.com"), &[SignatureScheme::ED25519])
        .unwrap();
    assert_eq!(picked.cert[0], t_leaf(&t, KeyType::Ecdsa));
    let _ = rsa_der;
}

/// The leaf of the table's certificate with this key type (by its fingerprint).
fn t_leaf(t: &CertTable, k: KeyType) -> CertificateDer<'static> {
    let all = [
        SignatureScheme::RSA_PSS_SHA256,
        SignatureScheme::ECDSA_NISTP256_SHA256,
    ];
    let scheme = match k {
        KeyType::Rsa => all[0],
        _ => all[1],
    };
    t.select(Some("api.example.com"), &[scheme]).unwrap().cert[0].clone()
}

fn one_cert_server(ca: &Ca, opts: &ServerOptions) -> Arc<rustls::ServerConfig> {
    let table = CertTable::new(
        vec![loaded(ca, &["api.example.com"], false)],
        0,
        UnknownSni::Default,
    )
    .unwrap();
    server_config(Arc::new(table), opts, None).unwrap()
}

fn tls12_only_client(ca: &Ca) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(ca.der.clone()).unwrap();
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[test]
fn versions_follow_the_profile_and_the_minimum() {
    let ca = ca();
    let old = Arc::new(tls12_only_client(&ca));
    let new = Arc::new(client(&ca));
    let inter = one_cert_server(&ca, &ServerOptions::default());
    let (s, _) = handshake(&inter, &old, "api.example.com").unwrap();
    assert_eq!(s.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    let (s, _) = handshake(&inter, &new, "api.example.com").unwrap();
    assert_eq!(s.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    for opts in [
        ServerOptions {
            profile: Profile::Modern,
            ..ServerOptions::default()
        },
        ServerOptions {
            min_version: TlsVersion::Tls13,
            ..ServerOptions::default()
        },
    ] {
        let server = one_cert_server(&ca, &opts);
        assert!(handshake(&server, &old, "api.example.com").is_err());
        assert!(handshake(&server, &new, "api.example.com").is_ok());
    }
}

#[test]
fn alpn_suites_and_groups_by_name() {
    let ca = ca();
    let server = one_cert_server(
        &ca,
        &ServerOptions {
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            suites: Some(vec![
                "TLS13_AES_256_GCM_SHA384".into(),
                "TLS13_CHACHA20_POLY1305_SHA256".into(),
            ]),
            groups: Some(vec!["secp256r1".into()]),
            ..ServerOptions::default()
        },
    );
    for (offer, want) in [
        (vec!["h2", "http/1.1"], "h2"),
        (vec!["http/1.1"], "http/1.1"),
    ] {
        let mut c = client(&ca);
        c.alpn_protocols = offer.iter().map(|p| p.as_bytes().to_vec()).collect();
        let (s, c) = handshake(&server, &Arc::new(c), "api.example.com").unwrap();
        assert_eq!(s.alpn_protocol(), Some(want.as_bytes()));
        assert_eq!(c.alpn_protocol(), Some(want.as_bytes()));
        assert_eq!(
            format!("{:?}", s.negotiated_cipher_suite().unwrap().suite()),
            "TLS13_AES_256_GCM_SHA384"
        );
        assert_eq!(
            format!("{:?}", s.negotiated_key_exchange_group().unwrap().name()),
            "secp256r1"
        );
    }
    for (suites, groups, what) in [
        (
            Some(vec!["TLS_RSA_WITH_RC4_128_SHA".to_owned()]),
            None,
            "unknown cipher suite",
        ),
        (None, Some(vec!["ffdhe512".to_owned()]), "unknown group"),
    ] {
        let err = server_config(
            Arc::new(CertTable::default()),
            &ServerOptions {
                suites,
                groups,
                ..ServerOptions::default()
            },
            None,
        )
        .unwrap_err();
        let TlsError::Config(message) = err else {
            panic!("{err:?}")
        };
        assert!(
            message.contains(what) && message.contains("one of"),
            "{message}"
        );
    }
}

#[test]
fn a_session_resumes_on_another_core_sharing_the_configuration() {
    let ca = ca();
    let server = one_cert_server(&ca, &ServerOptions::default());
    let client = Arc::new(client(&ca));
    // "Core 0" makes the session, "core 1" (another connection on the same shared
    // configuration) resumes it: the ticket key belongs to the configuration.
    let (s0, _) = handshake(&server, &client, "api.example.com").unwrap();
    assert_eq!(s0.handshake_kind(), Some(rustls::HandshakeKind::Full));
    let (s1, _) = handshake(&server, &client, "api.example.com").unwrap();
    assert_eq!(s1.handshake_kind(), Some(rustls::HandshakeKind::Resumed));
    // A configuration of its own (another process, or a ticket key not shared) does not
    // resume it.
    let other = one_cert_server(&ca, &ServerOptions::default());
    let (s2, _) = handshake(&other, &client, "api.example.com").unwrap();
    assert_eq!(s2.handshake_kind(), Some(rustls::HandshakeKind::Full));
}

#[test]
fn certificates_are_refused_before_use() {
    let ca = ca();
    let (cert, key) = leaf(&ca, &["api.example.com"], false);
    let (_, other_key) = leaf(&ca, &["api.example.com"], false);
    assert_eq!(
        load_cert(cert.as_bytes(), other_key.as_bytes(), None, NOW).unwrap_err(),
        TlsError::KeyMismatch
    );
    let expired = load_cert(
        cert.as_bytes(),
        key.as_bytes(),
        None,
        NOW + 2 * 365 * 86_400,
    );
    assert!(matches!(expired, Err(TlsError::Validity(m)) if m.contains("expired")));
    let early = load_cert(cert.as_bytes(), key.as_bytes(), None, 0);
    assert!(matches!(early, Err(TlsError::Validity(m)) if m.contains("not valid before")));
    assert!(matches!(
        load_cert(b"hello", key.as_bytes(), None, NOW),
        Err(TlsError::Certificate(_))
    ));
    assert!(matches!(
        load_cert(cert.as_bytes(), b"", None, NOW),
        Err(TlsError::Key(_))
    ));
    // No DNS names in it: the names must be given, and are checked.
    let (bare, bare_key) = leaf(&ca, &[], false);
    assert!(matches!(
        load_cert(bare.as_bytes(), bare_key.as_bytes(), None, NOW),
        Err(TlsError::Certificate(m)) if m.contains("give the names")
    ));
    let named = load_cert(
        bare.as_bytes(),
        bare_key.as_bytes(),
        Some(&["Internal.Example.".to_owned()]),
        NOW,
    )
    .unwrap();
    assert_eq!(named.info.names, ["internal.example"]);
    assert_eq!(named.info.sha256.len(), 64);
    assert!(matches!(
        load_cert(
            bare.as_bytes(),
            bare_key.as_bytes(),
            Some(&["bad name".to_owned()]),
            NOW
        ),
        Err(TlsError::Name(_))
    ));
}

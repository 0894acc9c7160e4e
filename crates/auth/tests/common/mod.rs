//! Shared helpers: fixture keys (made with openssl, see tests/data/README.md) and a token
//! signer that takes a raw header, so tests can send headers no library would write.

#![allow(dead_code)]

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ringway_auth::jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use ringway_auth::jsonwebtoken::crypto::{sign, CryptoProvider};
use ringway_auth::jsonwebtoken::EncodingKey;
use ringway_auth::jwt::{Algorithm, KeySet, Provider, ProviderSettings};

/// A fixed "now" for tests: 2023-11-14T22:13:20Z, far from the real clock on purpose.
pub(crate) const NOW: u64 = 1_700_000_000;

/// The 64-byte HMAC secret of the fixtures.
pub(crate) const HMAC_SECRET: &[u8] =
    b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

pub(crate) fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Signing goes through jsonwebtoken's process-wide provider: pin it to RustCrypto.
pub(crate) fn init() {
    let _ = CryptoProvider::install_default(&DEFAULT_PROVIDER);
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The private key fixture for `alg`.
pub(crate) fn signing_key(alg: Algorithm) -> EncodingKey {
    use Algorithm::*;
    match alg {
        HS256 | HS384 | HS512 => EncodingKey::from_secret(HMAC_SECRET),
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => {
            EncodingKey::from_rsa_pem(&data("rsa2048_private.pem")).unwrap()
        }
        ES256 => EncodingKey::from_ec_pem(&data("ec_p256_private.pem")).unwrap(),
        ES384 => EncodingKey::from_ec_pem(&data("ec_p384_private.pem")).unwrap(),
        EdDSA => EncodingKey::from_ed_pem(&data("ed25519_private.pem")).unwrap(),
    }
}

/// The matching public key set for `alg`, with `kid`.
pub(crate) fn public_keys(alg: Algorithm, kid: Option<&str>) -> KeySet {
    use Algorithm::*;
    let kid = kid.map(str::to_owned);
    match alg {
        HS256 | HS384 | HS512 => KeySet::from_hmac_secret(HMAC_SECRET, kid).unwrap(),
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => {
            KeySet::from_pem(&data("rsa2048_public.pem"), kid).unwrap()
        }
        ES256 => KeySet::from_pem(&data("ec_p256_public.pem"), kid).unwrap(),
        ES384 => KeySet::from_pem(&data("ec_p384_public.pem"), kid).unwrap(),
        EdDSA => KeySet::from_pem(&data("ed25519_public.pem"), kid).unwrap(),
    }
}

/// Every fixture public key, each with a kid named after its type.
pub(crate) fn all_public_keys() -> KeySet {
    use Algorithm::*;
    [
        (HS256, "hmac"),
        (RS256, "rsa"),
        (ES256, "p256"),
        (ES384, "p384"),
        (EdDSA, "ed25519"),
    ]
    .into_iter()
    .fold(KeySet::empty(), |mut set, (alg, kid)| {
        set.merge(public_keys(alg, Some(kid)));
        set
    })
}

/// `header.payload.signature` with the given header and claims JSON text, signed with `key`
/// for `alg`.
pub(crate) fn token_with(
    header_json: &str,
    claims_json: &str,
    key: &EncodingKey,
    alg: Algorithm,
) -> String {
    init();
    let message = format!(
        "{}.{}",
        b64(header_json.as_bytes()),
        b64(claims_json.as_bytes())
    );
    let signature = sign(message.as_bytes(), key, alg.to_jwt()).unwrap();
    format!("{message}.{signature}")
}

/// A token signed with the fixture key of `alg`.
pub(crate) fn token(alg: Algorithm, kid: Option<&str>, claims_json: &str) -> String {
    let header = match kid {
        Some(kid) => format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{kid}"}}"#),
        None => format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#),
    };
    token_with(&header, claims_json, &signing_key(alg), alg)
}

/// Claims valid at [`NOW`] for an hour.
pub(crate) fn claims() -> String {
    format!(
        r#"{{"sub":"alice","iss":"https://idp.example","aud":"api","exp":{},"iat":{},"scope":"read write"}}"#,
        NOW + 3600,
        NOW
    )
}

/// Settings accepting every algorithm, issuer and audience of [`claims`], no leeway.
pub(crate) fn settings(algorithms: Vec<Algorithm>) -> ProviderSettings {
    let mut s = ProviderSettings::new("test", algorithms);
    s.issuer = Some("https://idp.example".to_owned());
    s.audiences = vec!["api".to_owned()];
    s.leeway = std::time::Duration::ZERO;
    s
}

pub(crate) fn provider(algorithms: Vec<Algorithm>, keys: KeySet) -> Provider {
    Provider::new(settings(algorithms), keys).unwrap()
}

/// A provider with no issuer or audience check and no leeway.
pub(crate) fn open_provider(algorithms: Vec<Algorithm>, keys: KeySet) -> Provider {
    let mut s = ProviderSettings::new("open", algorithms);
    s.leeway = std::time::Duration::ZERO;
    Provider::new(s, keys).unwrap()
}

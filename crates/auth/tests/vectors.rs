//! Vectors nobody here wrote: RFC 7515 Appendix A and RFC 7520 §4 (taken from jwcrypto's
//! test suite, see tests/data/README.md) through the full token path, and Wycheproof
//! signature vectors through the same signature primitive the token path uses
//! ([`ringway_auth::jwt::verify_signature`]).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

mod common;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::data;
use ringway_auth::jsonwebtoken::DecodingKey;
use ringway_auth::jwt::{
    verify_signature, Algorithm, JwtError, KeyError, KeySet, Provider, ProviderSettings,
};
use serde_json::Value;

fn json(name: &str) -> Value {
    serde_json::from_slice(&data(name)).unwrap()
}

fn jwks_of(jwk: &Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "keys": [jwk] })).unwrap()
}

fn open_provider(algs: Vec<Algorithm>, keys: KeySet) -> Provider {
    let mut s = ProviderSettings::new("rfc", algs);
    s.leeway = Duration::ZERO;
    Provider::new(s, keys).unwrap()
}

// ---------------------------------------------------------------- RFC 7515

/// `exp` of the RFC 7515 examples: 2011-03-22T18:43:00Z.
const RFC7515_EXP: u64 = 1_300_819_380;

#[test]
fn rfc7515_appendix_a() {
    let doc = json("rfc7515_jwcrypto.json");
    let examples = doc["examples"].as_array().unwrap();
    assert_eq!(examples.len(), 5);
    // The A.1 token as printed in the RFC, to be sure the extraction is faithful.
    assert_eq!(
        examples[0]["compact"],
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.\
         eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.\
         dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    );
    let mut verified = Vec::new();
    for ex in examples {
        let name = ex["name"].as_str().unwrap();
        let token = ex["compact"].as_str().unwrap().as_bytes();
        match ex["alg"].as_str().unwrap() {
            alg @ ("HS256" | "RS256" | "ES256") => {
                let alg = Algorithm::parse(alg).unwrap();
                let keys = KeySet::from_jwks(&jwks_of(&ex["jwk"])).unwrap();
                let p = open_provider(vec![alg], keys);
                // Valid just before exp (injected time), expired at exp.
                let claims = p
                    .verify(token, RFC7515_EXP - 1)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(claims.all["iss"], "joe", "{name}");
                assert_eq!(claims.all["http://example.com/is_root"], true, "{name}");
                assert_eq!(claims.exp, RFC7515_EXP);
                assert_eq!(
                    p.verify(token, RFC7515_EXP),
                    Err(JwtError::Expired),
                    "{name}"
                );
                // One flipped signature bit fails.
                let mut t = token.to_vec();
                let last = t.len() - 3;
                t[last] = if t[last] == b'A' { b'B' } else { b'A' };
                assert_eq!(
                    p.verify(&t, RFC7515_EXP - 1),
                    Err(JwtError::BadSignature),
                    "{name}"
                );
                verified.push(name.to_owned());
            }
            "ES512" => {
                // P-521 is not a JWS algorithm here: the key is refused, the alg unknown.
                assert!(matches!(
                    KeySet::from_jwks(&jwks_of(&ex["jwk"])),
                    Err(KeyError::NoUsableKeys(_))
                ));
                let p = open_provider(
                    Algorithm::ALL.to_vec(),
                    KeySet::from_hmac_secret(&[1; 64], None).unwrap(),
                );
                assert_eq!(p.verify(token, 0), Err(JwtError::AlgorithmNotAllowed));
            }
            "none" => {
                // A.5, the unsecured JWS, is refused whatever the provider allows.
                let p = open_provider(
                    Algorithm::ALL.to_vec(),
                    KeySet::from_hmac_secret(&[1; 64], None).unwrap(),
                );
                assert_eq!(
                    p.verify(token, RFC7515_EXP - 1),
                    Err(JwtError::AlgorithmNotAllowed),
                    "{name}"
                );
                assert!(token.ends_with(b"."), "A.5 has an empty signature");
            }
            other => panic!("unexpected alg {other}"),
        }
    }
    assert_eq!(verified, ["RFC 7515 A.1", "RFC 7515 A.2", "RFC 7515 A.3"]);

    // Appendix E: a `crit` naming an unknown extension must be refused. The RFC's example
    // uses alg none; re-sign the same header with an allowed algorithm so the crit rule is
    // what refuses it.
    let e = doc["negative_crit_E"].as_str().unwrap();
    let header = URL_SAFE_NO_PAD
        .decode(e.split('.').next().unwrap())
        .unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    assert!(header.get("crit").is_some());
    let p = open_provider(
        Algorithm::ALL.to_vec(),
        KeySet::from_hmac_secret(&[1; 64], None).unwrap(),
    );
    assert_eq!(
        p.verify(e.as_bytes(), 0),
        Err(JwtError::AlgorithmNotAllowed)
    );
    let mut header = header.as_object().unwrap().clone();
    header.insert("alg".into(), "HS256".into());
    common::init();
    let resigned = common::token_with(
        &serde_json::to_string(&header).unwrap(),
        r#"{"exp":1}"#,
        &ringway_auth::jsonwebtoken::EncodingKey::from_secret(&[1; 64]),
        Algorithm::HS256,
    );
    assert_eq!(
        p.verify(resigned.as_bytes(), 0),
        Err(JwtError::UnsupportedCrit)
    );
}

#[test]
fn rfc7517_example_key_sets() {
    let doc = json("rfc7515_jwcrypto.json");
    // A.1: an EC key for encryption (skipped) and an RS256 signature key.
    let public = serde_json::json!({ "keys": doc["rfc7517_public_keys"] });
    let set = KeySet::from_jwks(&serde_json::to_vec(&public).unwrap()).unwrap();
    assert_eq!(set.len(), 1);
    let key = set.iter().next().unwrap();
    assert_eq!(key.kid(), Some("2011-04-29"));
    assert_eq!(key.algorithm(), Some(Algorithm::RS256));
    assert!(key.usable_with(Algorithm::RS256) && !key.usable_with(Algorithm::PS256));
    assert_eq!(set.skipped().len(), 1);
    // A.3: an AES key-wrap key (skipped: A128KW is no JWS algorithm) and the HMAC key.
    let symmetric = serde_json::json!({ "keys": doc["rfc7517_symmetric_keys"] });
    let set = KeySet::from_jwks(&serde_json::to_vec(&symmetric).unwrap()).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(
        set.iter().next().unwrap().kid(),
        Some("HMAC key used in JWS A.1 example")
    );
}

// ---------------------------------------------------------------- RFC 7520

#[test]
fn rfc7520_section4_signatures() {
    let doc = json("rfc7520_jwcrypto.json");
    let payload = doc["payload_b64"].as_str().unwrap();
    let keys = &doc["keys"];
    let mut checked = Vec::new();
    let mut refused = Vec::new();
    for sig in doc["signatures"].as_array().unwrap() {
        let section = sig["section"].as_str().unwrap();
        let protected = sig["protected"].as_str().unwrap();
        let signature = sig["signature"].as_str().unwrap();
        let jwk = &keys[sig["key"].as_str().unwrap()];
        // The algorithm is in the protected header, or (4.7, 4.8.3) only in the unprotected
        // one, which a compact JWT cannot carry.
        let header: Value = if protected.is_empty() {
            sig["unprotected"].clone()
        } else {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(protected).unwrap()).unwrap()
        };
        let alg_name = header["alg"].as_str().unwrap();
        let Some(alg) = Algorithm::parse(alg_name) else {
            // ES512 (4.3, 4.8.3): not supported; its P-521 key is refused too.
            assert_eq!(alg_name, "ES512", "{section}");
            assert!(KeySet::from_jwks(&jwks_of(jwk)).is_err(), "{section}");
            refused.push(section.to_owned());
            continue;
        };
        let set = KeySet::from_jwks(&jwks_of(jwk)).unwrap();
        let key = set.iter().next().unwrap().decoding_key().clone();
        // The signature primitive, over the JWS Signing Input as the RFC defines it.
        let message = format!("{protected}.{payload}");
        let raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert!(
            verify_signature(alg, &key, message.as_bytes(), &raw),
            "{section}"
        );
        let mut tampered = message.clone().into_bytes();
        tampered[message.len() - 1] ^= 1;
        assert!(!verify_signature(alg, &key, &tampered, &raw), "{section}");

        // Through the token path: the cookbook payload is text, not claims, so a token whose
        // signature verifies fails at the claims stage, never before.
        let p = open_provider(vec![alg], set);
        let compact = format!("{protected}.{payload}.{signature}");
        let result = p.verify(compact.as_bytes(), 0);
        if protected.is_empty() {
            assert!(
                matches!(result, Err(JwtError::Malformed(_))),
                "{section}: {result:?}"
            );
        } else {
            assert_eq!(
                result,
                Err(JwtError::InvalidClaims("payload is not a JSON object")),
                "{section}"
            );
            let forged = format!("{protected}.{payload}.{}", &signature[1..]);
            assert!(p.verify(forged.as_bytes(), 0).is_err(), "{section}");
        }
        checked.push(section.to_owned());
    }
    assert_eq!(
        checked,
        ["4.1", "4.2", "4.4", "4.6", "4.7", "4.8.2", "4.8.4"]
    );
    assert_eq!(refused, ["4.3", "4.8.3"]);
    // 3.6 is an encryption key (`use: enc`): never a verification key.
    assert!(matches!(
        KeySet::from_jwks(&jwks_of(&keys["3.6_aes_enc"])),
        Err(KeyError::NoUsableKeys(_))
    ));
}

// ---------------------------------------------------------------- Wycheproof

#[derive(Default, Debug)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable_passed: usize,
    acceptable_failed: usize,
    groups_skipped: usize,
    wrong: Vec<String>,
}

impl Tally {
    fn record(&mut self, set: &str, tc: usize, result: wycheproof::TestResult, ok: bool) {
        use wycheproof::TestResult::*;
        match (result, ok) {
            (Valid, true) => self.valid += 1,
            (Invalid, false) => self.invalid += 1,
            (Acceptable, true) => self.acceptable_passed += 1,
            (Acceptable, false) => self.acceptable_failed += 1,
            (Valid, false) => self
                .wrong
                .push(format!("{set} tc {tc}: valid vector rejected")),
            (Invalid, true) => self
                .wrong
                .push(format!("{set} tc {tc}: invalid vector accepted")),
        }
    }

    fn finish(self, what: &str, min_vectors: usize) {
        eprintln!("wycheproof {what}: {self:?}");
        assert!(self.wrong.is_empty(), "{what}:\n{}", self.wrong.join("\n"));
        let run = self.valid + self.invalid + self.acceptable_passed + self.acceptable_failed;
        assert!(run >= min_vectors, "{what}: only {run} vectors ran");
        assert!(self.valid > 0 && self.invalid > 0, "{what}: {self:?}");
    }
}

#[test]
fn wycheproof_ecdsa_p1363() {
    use wycheproof::ecdsa::{TestName, TestSet};
    for (name, alg, label) in [
        (
            TestName::EcdsaSecp256r1Sha256P1363,
            Algorithm::ES256,
            "ES256 P-256/SHA-256 P1363",
        ),
        (
            TestName::EcdsaSecp384r1Sha384P1363,
            Algorithm::ES384,
            "ES384 P-384/SHA-384 P1363",
        ),
    ] {
        let set = TestSet::load(name).unwrap();
        let mut tally = Tally::default();
        for group in &set.test_groups {
            let key = DecodingKey::from_ec_der(&group.key.key);
            for t in &group.tests {
                let ok = verify_signature(alg, &key, &t.msg, &t.sig);
                tally.record(label, t.tc_id, t.result, ok);
            }
        }
        tally.finish(label, 100);
    }
}

#[test]
fn wycheproof_eddsa() {
    use wycheproof::eddsa::{TestName, TestSet};
    // Ed448 (TestName::Ed448) is skipped: JWS EdDSA here is Ed25519 only.
    let set = TestSet::load(TestName::Ed25519).unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let key = DecodingKey::from_ed_der(&group.key.pk);
        for t in &group.tests {
            let ok = verify_signature(Algorithm::EdDSA, &key, &t.msg, &t.sig);
            tally.record("Ed25519", t.tc_id, t.result, ok);
        }
    }
    tally.finish("EdDSA Ed25519", 100);
}

#[test]
fn wycheproof_hmac() {
    use wycheproof::mac::{TestName, TestSet};
    for (name, alg, bits) in [
        (TestName::HmacSha256, Algorithm::HS256, 256),
        (TestName::HmacSha384, Algorithm::HS384, 384),
        (TestName::HmacSha512, Algorithm::HS512, 512),
    ] {
        let set = TestSet::load(name).unwrap();
        let mut tally = Tally::default();
        for group in &set.test_groups {
            // JWS uses the full-length tag only; truncated-tag groups are skipped.
            if group.tag_size != bits {
                tally.groups_skipped += 1;
                continue;
            }
            for t in &group.tests {
                let key = DecodingKey::from_secret(&t.key);
                let ok = verify_signature(alg, &key, &t.msg, &t.tag);
                tally.record(alg.as_str(), t.tc_id, t.result, ok);
            }
        }
        assert!(tally.groups_skipped > 0);
        tally.finish(alg.as_str(), 50);
    }
}

#[test]
fn wycheproof_rsa_pkcs1v15() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    use wycheproof::HashFunction::*;
    let mut tally = Tally::default();
    let mut sets_run = Vec::new();
    for name in TestName::all() {
        let set = TestSet::load(name).unwrap();
        let mut ran = false;
        for group in &set.test_groups {
            let alg = match group.hash {
                Sha2_256 => Algorithm::RS256,
                Sha2_384 => Algorithm::RS384,
                Sha2_512 => Algorithm::RS512,
                // SHA-1, SHA-224, SHA-512/t, SHA-3: no JWS algorithm.
                _ => {
                    tally.groups_skipped += 1;
                    continue;
                }
            };
            // 2048 to 4096 bits: what JWS requires at least and the rsa crate verifies at most.
            if !(2048..=4096).contains(&group.key_size) {
                tally.groups_skipped += 1;
                continue;
            }
            ran = true;
            let key = DecodingKey::from_rsa_raw_components(&group.key.n, &group.key.e);
            for t in &group.tests {
                let ok = verify_signature(alg, &key, &t.msg, &t.sig);
                tally.record(&format!("{name:?}"), t.tc_id, t.result, ok);
            }
        }
        if ran {
            sets_run.push(format!("{name:?}"));
        }
    }
    eprintln!("RSA PKCS#1 v1.5 sets run: {sets_run:?}");
    for must in [
        "Rsa2048Sha256",
        "Rsa2048Sha384",
        "Rsa2048Sha512",
        "Rsa3072Sha256",
        "Rsa3072Sha384",
        "Rsa3072Sha512",
    ] {
        assert!(sets_run.iter().any(|s| s == must), "{must} did not run");
    }
    tally.finish("RS256/384/512", 500);
}

#[test]
fn wycheproof_rsa_pss() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    use wycheproof::HashFunction::*;
    use wycheproof::Mgf;
    let mut tally = Tally::default();
    let mut sets_run = Vec::new();
    for name in TestName::all() {
        let set = TestSet::load(name).unwrap();
        let mut ran = false;
        for group in &set.test_groups {
            // Only the JWS parameter sets: hash = MGF1 hash, salt = hash length.
            let alg = match (group.hash, group.mgf, group.mgf_hash, group.salt_size) {
                (Sha2_256, Mgf::Mgf1, Some(Sha2_256), 32) => Algorithm::PS256,
                (Sha2_384, Mgf::Mgf1, Some(Sha2_384), 48) => Algorithm::PS384,
                (Sha2_512, Mgf::Mgf1, Some(Sha2_512), 64) => Algorithm::PS512,
                _ => {
                    tally.groups_skipped += 1;
                    continue;
                }
            };
            if !(2048..=4096).contains(&group.key_size) {
                tally.groups_skipped += 1;
                continue;
            }
            ran = true;
            let key = DecodingKey::from_rsa_raw_components(&group.key.n, &group.key.e);
            for t in &group.tests {
                let ok = verify_signature(alg, &key, &t.msg, &t.sig);
                tally.record(&format!("{name:?}"), t.tc_id, t.result, ok);
            }
        }
        if ran {
            sets_run.push(format!("{name:?}"));
        }
    }
    eprintln!("RSA-PSS sets run: {sets_run:?}");
    assert!(sets_run
        .iter()
        .any(|s| s == "RsaPss2048Sha256Mgf1SaltLen32"));
    assert!(sets_run
        .iter()
        .any(|s| s == "RsaPss3072Sha256Mgf1SaltLen32"));
    tally.finish("PS256/384/512", 100);
}

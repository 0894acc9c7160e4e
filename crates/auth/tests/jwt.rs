//! JWT verification: every algorithm, claims, keys, the negative matrix, injected time.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

mod common;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use ringway_auth::jwt::Forbidden;
use ringway_auth::jwt::{
    Algorithm, JwtError, KeyError, KeyKind, KeySet, Provider, ProviderError, ProviderSettings,
    Requirement,
};

use Algorithm::*;

#[test]
fn algorithm_names_are_exact() {
    for alg in Algorithm::ALL {
        assert_eq!(Algorithm::parse(alg.as_str()), Some(alg));
        assert_eq!(alg.to_string(), alg.as_str());
    }
    for bad in [
        "rs256", "Rs256", "none", "None", "ES512", "HS1", "", "RS256 ", "EDDSA",
    ] {
        assert_eq!(Algorithm::parse(bad), None, "{bad}");
    }
}

#[test]
fn every_algorithm_verifies_its_own_tokens() {
    for alg in Algorithm::ALL {
        let p = provider(vec![alg], public_keys(alg, Some("k1")));
        for kid in [Some("k1"), None] {
            let t = token(alg, kid, &claims());
            let c = p
                .verify(t.as_bytes(), NOW)
                .unwrap_or_else(|e| panic!("{alg} kid {kid:?}: {e}"));
            assert_eq!(c.sub.as_deref(), Some("alice"));
            assert_eq!(c.exp, NOW + 3600);
            assert_eq!(c.scopes, ["read", "write"]);
        }
    }
}

#[test]
fn mixed_key_set_picks_by_kid_and_type() {
    let p = provider(Algorithm::ALL.to_vec(), all_public_keys());
    for (alg, kid) in [
        (HS512, "hmac"),
        (PS384, "rsa"),
        (ES384, "p384"),
        (EdDSA, "ed25519"),
    ] {
        assert!(p
            .verify(token(alg, Some(kid), &claims()).as_bytes(), NOW)
            .is_ok());
        assert!(p
            .verify(token(alg, None, &claims()).as_bytes(), NOW)
            .is_ok());
    }
    // The right key type under the wrong kid: that kid's key cannot verify this alg.
    let t = token(ES256, Some("rsa"), &claims());
    assert_eq!(p.verify(t.as_bytes(), NOW), Err(JwtError::NoSuitableKey));
}

#[test]
fn injected_time_decides_not_the_system_clock() {
    let p = open_provider(vec![HS256], public_keys(HS256, None));
    // Expired in 1970 by the real clock, valid at the injected time.
    let old = token(HS256, None, r#"{"exp":1000}"#);
    assert!(p.verify(old.as_bytes(), 999).is_ok());
    assert_eq!(p.verify(old.as_bytes(), 1000), Err(JwtError::Expired));
    // Valid today by the real clock, expired at an injected time in the far future.
    let now_ish = 1_700_000_000u64;
    let t = token(
        HS256,
        None,
        &format!(r#"{{"exp":{}}}"#, now_ish + 10 * 365 * 86400),
    );
    assert!(p.verify(t.as_bytes(), now_ish).is_ok());
    assert_eq!(
        p.verify(t.as_bytes(), 4_000_000_000),
        Err(JwtError::Expired)
    );
    // nbf in the real past but the injected future... and the other way round.
    let t = token(HS256, None, r#"{"exp":5000000000,"nbf":3000000000}"#);
    assert_eq!(p.verify(t.as_bytes(), NOW), Err(JwtError::NotYetValid));
    assert!(p.verify(t.as_bytes(), 3_000_000_000).is_ok());
}

#[test]
fn claims_shapes() {
    let p = open_provider(vec![HS256], public_keys(HS256, None));
    let verify = |claims: &str| p.verify(token(HS256, None, claims).as_bytes(), NOW);
    // Fractional NumericDate rounds down.
    assert_eq!(
        verify(&format!(r#"{{"exp":{}.9}}"#, NOW + 1)).unwrap().exp,
        NOW + 1
    );
    assert_eq!(verify("{}"), Err(JwtError::InvalidClaims("no exp")));
    assert!(matches!(
        verify(r#"{"exp":"2030"}"#),
        Err(JwtError::InvalidClaims(_))
    ));
    assert!(matches!(
        verify(r#"{"exp":-5}"#),
        Err(JwtError::InvalidClaims(_))
    ));
    assert!(matches!(
        verify(r#"{"exp":5000000000,"nbf":"x"}"#),
        Err(JwtError::InvalidClaims(_))
    ));
    assert!(matches!(
        verify(r#"{"exp":5000000000,"sub":7}"#),
        Err(JwtError::InvalidClaims(_))
    ));
    assert!(matches!(
        verify(r#"{"exp":5000000000,"scope":7}"#),
        Err(JwtError::InvalidClaims(_))
    ));
    // Duplicate claim names are refused, not resolved.
    assert!(matches!(
        verify(r#"{"exp":1,"exp":5000000000}"#),
        Err(JwtError::InvalidClaims(_))
    ));
    assert!(matches!(verify(r#"[1]"#), Err(JwtError::InvalidClaims(_))));
    // Scopes from scope, scp and scopes, merged without duplicates.
    let c =
        verify(r#"{"exp":5000000000,"scope":"a b  c","scp":["c","d"],"scopes":"e a"}"#).unwrap();
    assert_eq!(c.scopes, ["a", "b", "c", "d", "e"]);
}

#[test]
fn claim_rendering_for_headers() {
    let p = open_provider(vec![HS256], public_keys(HS256, None));
    let t = token(
        HS256,
        None,
        r#"{"exp":5000000000,"sub":"alice","tenant":42,"admin":true,"ratio":1.5,
            "evil":"a\r\nX-Injected: 1","nul":"a\u0000b","tab":"a\tb","obj":{"a":1},"arr":["x"],
            "nothing":null}"#,
    );
    let c = p.verify(t.as_bytes(), NOW).unwrap();
    assert_eq!(c.get_str("sub").as_deref(), Some("alice"));
    assert_eq!(c.get_str("tenant").as_deref(), Some("42"));
    assert_eq!(c.get_str("admin").as_deref(), Some("true"));
    assert_eq!(c.get_str("ratio").as_deref(), Some("1.5"));
    assert_eq!(c.get_str("tab").as_deref(), Some("a\tb"));
    assert_eq!(c.get_str("evil"), None);
    assert_eq!(c.get_str("nul"), None);
    assert_eq!(c.get_str("obj"), None);
    assert_eq!(c.get_str("arr"), None);
    assert_eq!(c.get_str("nothing"), None);
    assert_eq!(c.get_str("missing"), None);
    assert_eq!(c.all["obj"]["a"], 1);
}

#[test]
fn requirements() {
    let p = open_provider(vec![HS256], public_keys(HS256, None));
    let t = token(
        HS256,
        None,
        r#"{"exp":5000000000,"scope":"read write","tenant":"acme","groups":["dev","ops"],"level":3,"beta":true}"#,
    );
    let c = p.verify(t.as_bytes(), NOW).unwrap();
    let req = |scopes: &[&str], claims: &[(&str, &str)]| Requirement {
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        claims: claims
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    assert_eq!(req(&[], &[]).check(&c), Ok(()));
    assert_eq!(req(&["read", "write"], &[]).check(&c), Ok(()));
    assert_eq!(
        req(&["read", "admin"], &[]).check(&c),
        Err(Forbidden::MissingScope("admin".into()))
    );
    assert_eq!(
        req(
            &["read"],
            &[
                ("tenant", "acme"),
                ("groups", "ops"),
                ("level", "3"),
                ("beta", "true")
            ]
        )
        .check(&c),
        Ok(())
    );
    for (k, v) in [
        ("tenant", "other"),
        ("groups", "sales"),
        ("missing", "x"),
        ("level", "4"),
    ] {
        assert_eq!(
            req(&[], &[(k, v)]).check(&c),
            Err(Forbidden::ClaimMismatch(k.into())),
            "{k}={v}"
        );
    }
    assert_eq!(
        Forbidden::MissingScope("x".into()).oauth_error().0,
        "insufficient_scope"
    );
}

#[test]
fn leeway() {
    let mut s = ProviderSettings::new("leeway", vec![HS256]);
    s.leeway = Duration::from_secs(30);
    let p = Provider::new(s, public_keys(HS256, None)).unwrap();
    let exp = token(HS256, None, &format!(r#"{{"exp":{}}}"#, NOW - 10));
    assert!(
        p.verify(exp.as_bytes(), NOW).is_ok(),
        "expired 10 s ago, 30 s leeway"
    );
    assert_eq!(p.verify(exp.as_bytes(), NOW + 20), Err(JwtError::Expired));
    let nbf = token(
        HS256,
        None,
        &format!(r#"{{"exp":{},"nbf":{}}}"#, NOW + 600, NOW + 20),
    );
    assert!(
        p.verify(nbf.as_bytes(), NOW).is_ok(),
        "valid in 20 s, 30 s leeway"
    );
    assert_eq!(
        p.verify(nbf.as_bytes(), NOW - 11),
        Err(JwtError::NotYetValid)
    );
}

#[test]
fn issuer_and_audience() {
    let p = provider(vec![HS256], public_keys(HS256, None));
    let v = |claims: String| p.verify(token(HS256, None, &claims).as_bytes(), NOW);
    let exp = NOW + 60;
    assert!(v(format!(
        r#"{{"exp":{exp},"iss":"https://idp.example","aud":["x","api"]}}"#
    ))
    .is_ok());
    assert_eq!(
        v(format!(
            r#"{{"exp":{exp},"iss":"https://evil.example","aud":"api"}}"#
        )),
        Err(JwtError::WrongIssuer)
    );
    assert_eq!(
        v(format!(r#"{{"exp":{exp},"aud":"api"}}"#)),
        Err(JwtError::WrongIssuer)
    );
    assert_eq!(
        v(format!(
            r#"{{"exp":{exp},"iss":"https://idp.example","aud":"other"}}"#
        )),
        Err(JwtError::WrongAudience)
    );
    assert_eq!(
        v(format!(
            r#"{{"exp":{exp},"iss":"https://idp.example","aud":["a","b"]}}"#
        )),
        Err(JwtError::WrongAudience)
    );
    assert_eq!(
        v(format!(r#"{{"exp":{exp},"iss":"https://idp.example"}}"#)),
        Err(JwtError::WrongAudience)
    );
    // Nothing configured: nothing checked.
    let mut s = ProviderSettings::new("open", vec![HS256]);
    s.leeway = Duration::ZERO;
    let open = Provider::new(s, public_keys(HS256, None)).unwrap();
    assert!(open
        .verify(
            token(HS256, None, &format!(r#"{{"exp":{exp},"aud":"zzz"}}"#)).as_bytes(),
            NOW
        )
        .is_ok());
}

/// One row of the negative matrix.
struct Case {
    name: &'static str,
    token: String,
    expect: fn(&JwtError) -> bool,
}

fn raw(header: &str, claims: &str, sig: &str) -> String {
    format!(
        "{}.{}.{sig}",
        b64(header.as_bytes()),
        b64(claims.as_bytes())
    )
}

#[test]
fn negative_matrix() {
    init();
    let mut keys = public_keys(RS256, Some("rsa"));
    keys.merge(public_keys(ES256, Some("p256")));
    let p = provider(vec![RS256, ES256, HS256], keys);
    let good = token(RS256, Some("rsa"), &claims());
    let good_sig = good.rsplit('.').next().unwrap().to_owned();
    let rsa_pem = data("rsa2048_public.pem");
    let hmac_from_pem = ringway_auth::jsonwebtoken::EncodingKey::from_secret(&rsa_pem);
    let attacker =
        ringway_auth::jsonwebtoken::EncodingKey::from_rsa_pem(&data("attacker_rsa_private.pem"))
            .unwrap();
    let attacker_pub = String::from_utf8(data("attacker_rsa_public.pem")).unwrap();
    let exp = NOW + 3600;
    let c = claims();

    let not_allowed: fn(&JwtError) -> bool = |e| *e == JwtError::AlgorithmNotAllowed;
    let malformed: fn(&JwtError) -> bool = |e| matches!(e, JwtError::Malformed(_));
    let bad_sig: fn(&JwtError) -> bool = |e| *e == JwtError::BadSignature;

    let mut cases = Vec::new();
    for none in ["none", "None", "NONE", "nOnE"] {
        let h = format!(r#"{{"alg":"{none}","typ":"JWT"}}"#);
        cases.push(Case {
            name: "alg none, empty signature",
            token: raw(&h, &c, ""),
            expect: not_allowed,
        });
        cases.push(Case {
            name: "alg none, some signature",
            token: raw(&h, &c, &good_sig),
            expect: not_allowed,
        });
    }
    for h in [
        r#"{"alg":"RS512","kid":"rsa"}"#,
        r#"{"alg":"PS256","kid":"rsa"}"#,
        r#"{"alg":"rs256","kid":"rsa"}"#,
        r#"{"alg":"ES512"}"#,
        r#"{"alg":"HS1"}"#,
        r#"{"alg":""}"#,
        r#"{"alg":256}"#,
        r#"{"alg":["RS256"]}"#,
        r#"{"alg":null}"#,
        r#"{"kid":"rsa"}"#,
    ] {
        cases.push(Case {
            name: "alg not in allow-list",
            token: raw(h, &c, &good_sig),
            expect: not_allowed,
        });
    }
    // Key confusion: HS256 "signed" with the RSA public key PEM as the HMAC secret.
    cases.push(Case {
        name: "key confusion, HS256 with the RSA PEM as secret, kid of the RSA key",
        token: token_with(r#"{"alg":"HS256","kid":"rsa"}"#, &c, &hmac_from_pem, HS256),
        expect: |e| *e == JwtError::NoSuitableKey,
    });
    cases.push(Case {
        name: "key confusion, HS256 with the RSA PEM as secret, no kid",
        token: token_with(r#"{"alg":"HS256"}"#, &c, &hmac_from_pem, HS256),
        expect: |e| *e == JwtError::NoSuitableKey,
    });
    cases.push(Case {
        name: "wrong aud",
        token: token(
            RS256,
            Some("rsa"),
            &format!(r#"{{"iss":"https://idp.example","aud":"other","exp":{exp}}}"#),
        ),
        expect: |e| *e == JwtError::WrongAudience,
    });
    cases.push(Case {
        name: "wrong iss",
        token: token(
            RS256,
            Some("rsa"),
            &format!(r#"{{"iss":"https://idp.example.evil","aud":"api","exp":{exp}}}"#),
        ),
        expect: |e| *e == JwtError::WrongIssuer,
    });
    cases.push(Case {
        name: "expired",
        token: token(
            RS256,
            Some("rsa"),
            &format!(
                r#"{{"iss":"https://idp.example","aud":"api","exp":{}}}"#,
                NOW - 1
            ),
        ),
        expect: |e| *e == JwtError::Expired,
    });
    cases.push(Case {
        name: "expires exactly now",
        token: token(
            RS256,
            Some("rsa"),
            &format!(r#"{{"iss":"https://idp.example","aud":"api","exp":{NOW}}}"#),
        ),
        expect: |e| *e == JwtError::Expired,
    });
    cases.push(Case {
        name: "nbf in the future",
        token: token(
            RS256,
            Some("rsa"),
            &format!(
                r#"{{"iss":"https://idp.example","aud":"api","exp":{exp},"nbf":{}}}"#,
                NOW + 5
            ),
        ),
        expect: |e| *e == JwtError::NotYetValid,
    });
    cases.push(Case {
        name: "unknown kid",
        token: token(RS256, Some("rotated-away"), &c),
        expect: |e| *e == JwtError::UnknownKid,
    });
    cases.push(Case {
        name: "kid with path traversal is just unknown",
        token: token(RS256, Some("../../etc/passwd"), &c),
        expect: |e| *e == JwtError::UnknownKid,
    });
    cases.push(Case {
        name: "kid not a string",
        token: token_with(r#"{"alg":"RS256","kid":7}"#, &c, &signing_key(RS256), RS256),
        expect: malformed,
    });
    cases.push(Case {
        name: "kid too long",
        token: token_with(
            &format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(257)),
            &c,
            &signing_key(RS256),
            RS256,
        ),
        expect: malformed,
    });
    // Headers pointing at other keys are ignored: a token signed by the attacker's key fails
    // even though the header hands that key over or points at it.
    let jwk_header = format!(
        r#"{{"alg":"RS256","jwk":{{"kty":"RSA","n":"{}","e":"AQAB"}}}}"#,
        "attacker-modulus"
    );
    for h in [
        r#"{"alg":"RS256","jku":"https://attacker.example/jwks.json"}"#.to_owned(),
        r#"{"alg":"RS256","x5u":"https://attacker.example/cert.pem"}"#.to_owned(),
        r#"{"alg":"RS256","kid":"rsa","jku":"https://attacker.example/jwks.json"}"#.to_owned(),
        jwk_header,
        format!(
            r#"{{"alg":"RS256","x5c":["{}"]}}"#,
            attacker_pub.replace('\n', "")
        ),
    ] {
        cases.push(Case {
            name: "attacker key via jku/x5u/jwk/x5c",
            token: token_with(&h, &c, &attacker, RS256),
            expect: bad_sig,
        });
    }
    cases.push(Case {
        name: "crit present",
        token: token_with(
            r#"{"alg":"RS256","kid":"rsa","crit":["exp"],"exp":1}"#,
            &c,
            &signing_key(RS256),
            RS256,
        ),
        expect: |e| *e == JwtError::UnsupportedCrit,
    });
    cases.push(Case {
        name: "crit b64 (RFC 7797 unencoded payload)",
        token: token_with(
            r#"{"alg":"RS256","b64":false,"crit":["b64"]}"#,
            &c,
            &signing_key(RS256),
            RS256,
        ),
        expect: |e| *e == JwtError::UnsupportedCrit,
    });
    cases.push(Case {
        name: "oversized token",
        token: token(
            RS256,
            Some("rsa"),
            &format!(r#"{{"exp":{exp},"pad":"{}"}}"#, "x".repeat(9000)),
        ),
        expect: |e| *e == JwtError::TooLarge,
    });
    let (h, pl) = {
        let mut it = good.split('.');
        (it.next().unwrap().to_owned(), it.next().unwrap().to_owned())
    };
    for (name, t) in [
        ("2 segments", format!("{h}.{pl}")),
        ("4 segments", format!("{good}.{good_sig}")),
        ("1 segment", h.clone()),
        ("empty token", String::new()),
        ("only dots", "..".to_owned()),
        ("empty header", format!(".{pl}.{good_sig}")),
        ("empty payload", format!("{h}..{good_sig}")),
        ("empty signature", format!("{h}.{pl}.")),
        ("bad base64 in header", format!("{h}*.{pl}.{good_sig}")),
        (
            "standard base64 alphabet",
            format!("{h}.{pl}.{}", good_sig.replace(['-', '_'], "+")),
        ),
        ("padding on header", format!("{h}==.{pl}.{good_sig}")),
        ("padding on signature", format!("{h}.{pl}.{good_sig}=")),
        ("space inside", format!("{h}. {pl}.{good_sig}")),
        ("trailing newline", format!("{good}\n")),
        (
            "header one char short of base64",
            format!("{}.{pl}.{good_sig}", &h[..h.len() - 1]),
        ),
        ("non-JSON header", raw("not json", &c, &good_sig)),
        (
            "header is an array",
            raw(r#"["alg","RS256"]"#, &c, &good_sig),
        ),
        ("header is a string", raw(r#""RS256""#, &c, &good_sig)),
        (
            "duplicate alg in header",
            raw(r#"{"alg":"none","alg":"RS256","kid":"rsa"}"#, &c, &good_sig),
        ),
    ] {
        cases.push(Case {
            name,
            token: t,
            expect: malformed,
        });
    }
    cases.push(Case {
        name: "signature from another token",
        token: format!(
            "{}.{good_sig}",
            raw(r#"{"alg":"RS256","kid":"rsa"}"#, &c, "").trim_end_matches('.')
        ),
        expect: bad_sig,
    });
    cases.push(Case {
        name: "payload changed after signing",
        token: format!(
            "{h}.{}.{good_sig}",
            b64(format!(r#"{{"sub":"admin","exp":{exp}}}"#).as_bytes())
        ),
        expect: bad_sig,
    });
    cases.push(Case {
        name: "truncated signature",
        token: {
            let raw_sig = URL_SAFE_NO_PAD.decode(&good_sig).unwrap();
            format!("{h}.{pl}.{}", b64(&raw_sig[..raw_sig.len() - 3]))
        },
        expect: bad_sig,
    });

    let mut failures = Vec::new();
    for case in &cases {
        match p.verify(case.token.as_bytes(), NOW) {
            Ok(_) => failures.push(format!("{}: accepted", case.name)),
            Err(e) if !(case.expect)(&e) => failures.push(format!("{}: {e:?}", case.name)),
            Err(e) => {
                // Every failure maps to invalid_token for WWW-Authenticate.
                assert_eq!(e.oauth_error().0, "invalid_token");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // And the untouched token passes, so the rows above fail for their own reason.
    assert!(p.verify(good.as_bytes(), NOW).is_ok());
}

#[test]
fn embedded_attacker_jwk_is_never_used() {
    // A token made with jsonwebtoken's own encoder, carrying the attacker's real public key
    // as `jwk` (and a `jku` to fetch it from), signed by the attacker.
    use ringway_auth::jsonwebtoken::{encode, jwk::Jwk, EncodingKey, Header};
    init();
    let attacker = EncodingKey::from_rsa_pem(&data("attacker_rsa_private.pem")).unwrap();
    let mut header = Header::new(RS256.to_jwt());
    header.jwk = Some(Jwk::from_encoding_key(&attacker, RS256.to_jwt()).unwrap());
    header.jku = Some("https://attacker.example/jwks.json".into());
    let claims: serde_json::Value = serde_json::from_str(&claims()).unwrap();
    let forged = encode(&header, &claims, &attacker).unwrap();
    let p = provider(vec![RS256], public_keys(RS256, None));
    assert_eq!(
        p.verify(forged.as_bytes(), NOW),
        Err(JwtError::BadSignature)
    );
    // Even with the attacker's key id: unknown here, so still refused.
    header.kid = Some("attacker".into());
    let forged = encode(&header, &claims, &attacker).unwrap();
    let p = provider(vec![RS256], public_keys(RS256, Some("ours")));
    assert_eq!(p.verify(forged.as_bytes(), NOW), Err(JwtError::UnknownKid));
    // The same header signed with our key is fine: the extra members are merely ignored.
    let ours = encode(&header, &claims, &signing_key(RS256)).unwrap();
    let p = provider(vec![RS256], public_keys(RS256, None));
    assert!(p.verify(ours.as_bytes(), NOW).is_ok());
}

#[test]
fn shared_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Provider>();
    assert_send_sync::<KeySet>();
    assert_send_sync::<std::sync::Arc<ringway_auth::jwt::Claims>>();
}

#[test]
fn key_confusion_with_only_rsa_algorithms() {
    init();
    let hmac_from_pem =
        ringway_auth::jsonwebtoken::EncodingKey::from_secret(&data("rsa2048_public.pem"));
    let t = token_with(r#"{"alg":"HS256"}"#, &claims(), &hmac_from_pem, HS256);
    let p = provider(vec![RS256], public_keys(RS256, None));
    assert_eq!(
        p.verify(t.as_bytes(), NOW),
        Err(JwtError::AlgorithmNotAllowed)
    );
    // With a genuine HMAC key in the set too, the RSA key is still never an HMAC secret.
    let mut keys = public_keys(RS256, None);
    keys.merge(public_keys(HS256, None));
    let p = provider(vec![RS256, HS256], keys);
    assert_eq!(p.verify(t.as_bytes(), NOW), Err(JwtError::BadSignature));
}

#[test]
fn kidless_keys_serve_tokens_with_any_kid() {
    // A PEM key configured without kid serves tokens whatever kid they carry.
    let p = provider(vec![ES256], public_keys(ES256, None));
    assert!(p
        .verify(token(ES256, Some("idp-key-7"), &claims()).as_bytes(), NOW)
        .is_ok());
}

#[test]
fn at_most_four_keys_are_tried_without_kid() {
    // Five HMAC keys without kids; the signing key is the fifth.
    let mut set = KeySet::empty();
    for i in 0..4u8 {
        set.merge(KeySet::from_hmac_secret(&[b'a' + i; 32], None).unwrap());
    }
    set.merge(KeySet::from_hmac_secret(HMAC_SECRET, None).unwrap());
    let p = provider(vec![HS256], set);
    assert_eq!(
        p.verify(token(HS256, None, &claims()).as_bytes(), NOW),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn key_rotation_bumps_generation() {
    let p = provider(vec![ES256], public_keys(ES256, Some("old")));
    let g0 = p.generation();
    let t = token(ES256, Some("new"), &claims());
    assert_eq!(p.verify(t.as_bytes(), NOW), Err(JwtError::UnknownKid));
    p.update_keys(public_keys(ES256, Some("new")));
    assert!(p.generation() > g0);
    assert!(p.verify(t.as_bytes(), NOW).is_ok());
    let g1 = p.generation();
    p.update_keys(KeySet::empty());
    assert!(p.generation() > g1);
    assert_eq!(p.verify(t.as_bytes(), NOW), Err(JwtError::UnknownKid));
    // Generations are unique across providers.
    let q = provider(vec![ES256], public_keys(ES256, None));
    assert_ne!(q.generation(), p.generation());
}

#[test]
fn provider_settings_are_checked() {
    let e = Provider::new(ProviderSettings::new("x", vec![]), KeySet::empty()).unwrap_err();
    assert!(matches!(e, ProviderError::NoAlgorithms(_)));
    let mut s = ProviderSettings::new("x", vec![HS256]);
    s.max_token_bytes = 0;
    assert!(matches!(
        Provider::new(s, KeySet::empty()),
        Err(ProviderError::ZeroMaxTokenBytes(_))
    ));
    let e = Provider::new(
        ProviderSettings::new("x", vec![HS256]),
        public_keys(RS256, None),
    )
    .unwrap_err();
    assert!(matches!(e, ProviderError::NoUsableKey(..)));
    // A 32-byte secret cannot serve HS512 (RFC 7518 §3.2).
    let short = KeySet::from_hmac_secret(&[7; 32], None).unwrap();
    assert!(Provider::new(ProviderSettings::new("x", vec![HS512]), short.clone()).is_err());
    assert!(Provider::new(ProviderSettings::new("x", vec![HS256]), short).is_ok());
    // An empty key set is fine (JWKS not fetched yet).
    assert!(Provider::new(ProviderSettings::new("x", vec![RS256]), KeySet::empty()).is_ok());
}

#[test]
fn pem_loading() {
    let kinds = [
        ("rsa2048_public.pem", KeyKind::Rsa { bits: 2048 }),
        ("rsa2048_public_pkcs1.pem", KeyKind::Rsa { bits: 2048 }),
        ("ec_p256_public.pem", KeyKind::EcP256),
        ("ec_p384_public.pem", KeyKind::EcP384),
        ("ed25519_public.pem", KeyKind::Ed25519),
    ];
    for (file, kind) in kinds {
        let set = KeySet::from_pem(&data(file), Some("k".into())).unwrap();
        let key = set.iter().next().unwrap();
        assert_eq!(key.kind(), kind, "{file}");
        assert_eq!(key.kid(), Some("k"));
    }
    // PKCS#1 and SPKI forms of one key verify the same tokens.
    let p = provider(
        vec![RS256],
        KeySet::from_pem(&data("rsa2048_public_pkcs1.pem"), None).unwrap(),
    );
    assert!(p
        .verify(token(RS256, None, &claims()).as_bytes(), NOW)
        .is_ok());

    for file in [
        "rsa2048_private.pem",
        "ec_p256_private.pem",
        "ed25519_private.pem",
    ] {
        assert_eq!(
            KeySet::from_pem(&data(file), None).unwrap_err(),
            KeyError::PrivateKey,
            "{file}"
        );
    }
    assert!(matches!(
        KeySet::from_pem(&data("rsa1024_public.pem"), None),
        Err(KeyError::Weak(_))
    ));
    assert!(matches!(
        KeySet::from_pem(&data("ec_secp256k1_public.pem"), None),
        Err(KeyError::Unsupported(_))
    ));
    assert!(matches!(
        KeySet::from_pem(b"not a pem", None),
        Err(KeyError::Pem(_))
    ));
    let two = [data("ec_p256_public.pem"), data("ec_p384_public.pem")].concat();
    assert!(matches!(
        KeySet::from_pem(&two, None),
        Err(KeyError::Pem(_))
    ));
    assert!(KeySet::from_pem(&data("ec_p256_public.pem"), Some("k".repeat(257))).is_err());
    assert!(matches!(
        KeySet::from_hmac_secret(&[1; 31], None),
        Err(KeyError::Weak(_))
    ));
}

#[test]
fn jwks_loading() {
    let doc = br#"{"keys":[
        {"kty":"oct","kid":"h","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY","alg":"HS256"},
        {"kty":"oct","kid":"enc","use":"enc","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"},
        {"kty":"oct","kid":"ops","key_ops":["sign"],"k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"},
        {"kty":"oct","kid":"short","k":"c2hvcnQ"},
        {"kty":"EC","kid":"p521","crv":"P-521","x":"AA","y":"AA"},
        {"kty":"EC","kid":"offcurve","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {"kty":"OKP","kid":"x25519","crv":"X25519","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {"kty":"OKP","kid":"shorted","crv":"Ed25519","x":"AAAA"},
        {"kty":"RSA","kid":"rs-bad","n":"AQAB","e":"AQAB"},
        {"kty":"oct","kid":"alg-mismatch","alg":"RS256","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"},
        {"kty":"oct","kid":"alg-unknown","alg":"A128KW","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"},
        {"kty":"DSA","kid":"dsa"},
        "not an object"
    ]}"#;
    let set = KeySet::from_jwks(doc).unwrap();
    assert_eq!(set.len(), 1, "{set:?}");
    assert_eq!(set.iter().next().unwrap().algorithm(), Some(HS256));
    assert_eq!(set.skipped().len(), 12, "{:?}", set.skipped());
    // A JWK pinned to HS256 does not verify HS384 even when long enough... (it is 32 bytes:
    // not long enough anyway), and the pin is honoured.
    let p = provider(vec![HS256, HS384], set);
    init();
    let key =
        ringway_auth::jsonwebtoken::EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
    let t = token_with(r#"{"alg":"HS256","kid":"h"}"#, &claims(), &key, HS256);
    assert!(p.verify(t.as_bytes(), NOW).is_ok());

    assert!(matches!(
        KeySet::from_jwks(br#"{"keys":[]}"#),
        Err(KeyError::NoUsableKeys(_))
    ));
    assert!(matches!(
        KeySet::from_jwks(br#"{"keys":[{"kty":"oct","use":"enc","k":"AAAA"}]}"#),
        Err(KeyError::NoUsableKeys(_))
    ));
    assert!(matches!(KeySet::from_jwks(b"[]"), Err(KeyError::Jwks(_))));
    assert!(matches!(KeySet::from_jwks(b"{"), Err(KeyError::Jwks(_))));
    assert!(matches!(
        KeySet::from_jwks(br#"{"keys":{}}"#),
        Err(KeyError::Jwks(_))
    ));
    let big = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(1 << 20));
    assert!(matches!(
        KeySet::from_jwks(big.as_bytes()),
        Err(KeyError::Jwks(_))
    ));
}

#[test]
fn jwks_with_padding_and_every_key_type() {
    // Build a JWKS from the fixtures' public parts, as an IdP would publish it.
    use base64::engine::general_purpose::URL_SAFE;
    use base64::Engine as _;
    let ed = data("ed25519_public.pem");
    let ed_der = pem_contents(&ed);
    let ed_x = &ed_der[ed_der.len() - 32..];
    let p256 = pem_contents(&data("ec_p256_public.pem"));
    let pt = &p256[p256.len() - 65..];
    let doc = format!(
        r#"{{"keys":[
            {{"kty":"OKP","crv":"Ed25519","kid":"ed","use":"sig","x":"{}"}},
            {{"kty":"EC","crv":"P-256","kid":"ec","alg":"ES256","x":"{}","y":"{}"}}
        ]}}"#,
        URL_SAFE.encode(ed_x),
        b64(&pt[1..33]),
        b64(&pt[33..])
    );
    let p = provider(
        vec![EdDSA, ES256],
        KeySet::from_jwks(doc.as_bytes()).unwrap(),
    );
    assert!(p
        .verify(token(EdDSA, Some("ed"), &claims()).as_bytes(), NOW)
        .is_ok());
    assert!(p
        .verify(token(ES256, Some("ec"), &claims()).as_bytes(), NOW)
        .is_ok());
    assert_eq!(
        p.verify(token(ES256, Some("ed"), &claims()).as_bytes(), NOW),
        Err(JwtError::NoSuitableKey)
    );
}

fn pem_contents(pem_text: &[u8]) -> Vec<u8> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    let text = std::str::from_utf8(pem_text).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

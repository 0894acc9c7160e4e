//! The per-request pieces around verification: token extraction, the token cache and the
//! JWKS refresh schedule.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ringway_auth::jwt::{
    Algorithm, ExtractError, JwksRefresh, JwtError, KeySet, TokenCache, TokenSource,
};

use Algorithm::*;

// ---------------------------------------------------------------- token extraction

fn extract<'a>(
    source: &TokenSource,
    headers: &'a [(&'a str, &'a str)],
) -> Result<Option<&'a str>, ExtractError> {
    source
        .extract(headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
        .map(|t| t.map(|t| std::str::from_utf8(t).unwrap()))
}

#[test]
fn bearer_extraction() {
    let s = TokenSource::default();
    assert_eq!(
        extract(&s, &[("authorization", "Bearer abc.def.ghi")]),
        Ok(Some("abc.def.ghi"))
    );
    assert_eq!(
        extract(&s, &[("Authorization", "bearer abc")]),
        Ok(Some("abc"))
    );
    assert_eq!(
        extract(&s, &[("AUTHORIZATION", "BEARER abc==")]),
        Ok(Some("abc=="))
    );
    assert_eq!(
        extract(&s, &[("authorization", "  Bearer abc  ")]),
        Ok(Some("abc"))
    );
    assert_eq!(extract(&s, &[("host", "x"), ("cookie", "a=b")]), Ok(None));
    assert_eq!(extract(&s, &[]), Ok(None));
    // Duplicates are never resolved by picking one, even when both are equal.
    assert_eq!(
        extract(
            &s,
            &[("authorization", "Bearer a"), ("authorization", "Bearer a")]
        ),
        Err(ExtractError::Duplicate)
    );
    assert_eq!(
        extract(
            &s,
            &[
                ("authorization", "Bearer a"),
                ("x", "y"),
                ("Authorization", "Basic b")
            ]
        ),
        Err(ExtractError::Duplicate)
    );
    for bad in [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer  abc",
        "Bearer\tabc",
        "Bearerabc",
        "Bearer abc def",
        "Bearer abc,def",
        "Bearer =abc",
        "Token abc",
        "",
    ] {
        assert_eq!(
            extract(&s, &[("authorization", bad)]),
            Err(ExtractError::Malformed),
            "{bad:?}"
        );
    }
    assert_eq!(ExtractError::Duplicate.oauth_error().0, "invalid_request");
    // Bearer in another header.
    let s = TokenSource::Bearer {
        header: "x-auth".into(),
    };
    assert_eq!(extract(&s, &[("X-Auth", "Bearer t")]), Ok(Some("t")));
    assert_eq!(extract(&s, &[("authorization", "Bearer t")]), Ok(None));
}

#[test]
fn extraction_among_other_headers() {
    let headers: &[(&[u8], &[u8])] = &[
        (b"host", b"x"),
        (b"Authorization", b"Bearer abc"),
        (b"cookie", b"s=tok"),
    ];
    let fields = || headers.iter().copied();
    assert_eq!(
        TokenSource::default().extract(fields()),
        Ok(Some(&b"abc"[..]))
    );
    assert_eq!(
        TokenSource::Cookie("s".into()).extract(fields()),
        Ok(Some(&b"tok"[..]))
    );
    assert_eq!(
        TokenSource::Header("x-token".into()).extract(fields()),
        Ok(None)
    );
    let dup: [(&[u8], &[u8]); 2] = [
        (b"authorization", b"Bearer a"),
        (b"AUTHORIZATION", b"Bearer b"),
    ];
    assert_eq!(
        TokenSource::default().extract(dup),
        Err(ExtractError::Duplicate)
    );
    assert_eq!(TokenSource::default().field_name(), "authorization");
    assert_eq!(TokenSource::Cookie("s".into()).field_name(), "cookie");
}

#[test]
fn header_and_cookie_extraction() {
    let s = TokenSource::Header("x-token".into());
    assert_eq!(
        extract(&s, &[("X-Token", "abc.def.ghi")]),
        Ok(Some("abc.def.ghi"))
    );
    assert_eq!(
        extract(&s, &[("x-token", "a"), ("x-token", "a")]),
        Err(ExtractError::Duplicate)
    );
    assert_eq!(
        extract(&s, &[("x-token", "")]),
        Err(ExtractError::Malformed)
    );
    assert_eq!(
        extract(&s, &[("x-token", "a b")]),
        Err(ExtractError::Malformed)
    );
    assert_eq!(extract(&s, &[]), Ok(None));

    let s = TokenSource::Cookie("session".into());
    assert_eq!(
        extract(&s, &[("cookie", "a=1; session=tok; b=2")]),
        Ok(Some("tok"))
    );
    assert_eq!(
        extract(&s, &[("Cookie", "session=\"tok\"")]),
        Ok(Some("tok"))
    );
    // HTTP/2 splits cookies over fields: all are read, and a repeat across them counts.
    assert_eq!(
        extract(&s, &[("cookie", "a=1"), ("cookie", "session=tok")]),
        Ok(Some("tok"))
    );
    assert_eq!(
        extract(&s, &[("cookie", "session=a"), ("cookie", "session=b")]),
        Err(ExtractError::Duplicate)
    );
    assert_eq!(
        extract(&s, &[("cookie", "session=a; session=a")]),
        Err(ExtractError::Duplicate)
    );
    assert_eq!(
        extract(&s, &[("cookie", "session=")]),
        Err(ExtractError::Malformed)
    );
    assert_eq!(
        extract(&s, &[("cookie", "sessionx=1; xsession=2")]),
        Ok(None)
    );
    assert_eq!(extract(&s, &[("set-cookie", "session=1")]), Ok(None));
}

// ---------------------------------------------------------------- token cache

fn token_for(exp: u64) -> String {
    token(
        ES256,
        None,
        &format!(r#"{{"sub":"u","iss":"https://idp.example","aud":"api","exp":{exp}}}"#),
    )
}

#[test]
fn cache_hit_returns_the_same_claims() {
    let p = provider(vec![ES256], public_keys(ES256, None));
    let mut cache = TokenCache::new(16);
    let t = token_for(NOW + 60);
    let a = cache.get_or_verify(0, &p, t.as_bytes(), NOW).unwrap();
    let b = cache.get_or_verify(0, &p, t.as_bytes(), NOW + 1).unwrap();
    assert!(Arc::ptr_eq(&a, &b), "second lookup is a hit");
    assert_eq!((cache.hits(), cache.misses(), cache.len()), (1, 1, 1));
    // Another provider index is another cache line, verified on its own.
    let c = cache.get_or_verify(1, &p, t.as_bytes(), NOW + 1).unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
    assert_eq!(cache.len(), 2);
}

#[test]
fn cache_honours_expiry() {
    let p = provider(vec![ES256], public_keys(ES256, None));
    let mut cache = TokenCache::new(16);
    let t = token_for(NOW + 60);
    assert!(cache.get_or_verify(0, &p, t.as_bytes(), NOW).is_ok());
    assert!(cache.get_or_verify(0, &p, t.as_bytes(), NOW + 59).is_ok());
    assert_eq!(
        cache.get_or_verify(0, &p, t.as_bytes(), NOW + 60),
        Err(JwtError::Expired)
    );
    assert_eq!(
        cache.len(),
        0,
        "the expired entry is gone, and the failure not cached"
    );
    // Time going backwards (a reordered injected clock) does not serve a not-yet-valid token.
    let nbf = token(
        ES256,
        None,
        &format!(
            r#"{{"iss":"https://idp.example","aud":"api","exp":{},"nbf":{NOW}}}"#,
            NOW + 60
        ),
    );
    assert!(cache.get_or_verify(0, &p, nbf.as_bytes(), NOW).is_ok());
    assert_eq!(
        cache.get_or_verify(0, &p, nbf.as_bytes(), NOW - 5),
        Err(JwtError::NotYetValid)
    );
}

#[test]
fn cache_generation_change_invalidates() {
    let p = provider(vec![ES256], public_keys(ES256, Some("a")));
    let mut cache = TokenCache::new(16);
    let t = token(ES256, Some("a"), &claims());
    assert!(cache.get_or_verify(0, &p, t.as_bytes(), NOW).is_ok());
    // The key is rotated out: the cached success must not survive.
    p.update_keys(public_keys(ES384, Some("b")));
    assert_eq!(
        cache.get_or_verify(0, &p, t.as_bytes(), NOW),
        Err(JwtError::UnknownKid)
    );
    assert_eq!(cache.len(), 0);
    // A new provider at the same index (a reload) does not inherit entries either.
    let p1 = provider(vec![ES256], public_keys(ES256, Some("a")));
    assert!(cache.get_or_verify(0, &p1, t.as_bytes(), NOW).is_ok());
    let p2 = provider(vec![ES384], public_keys(ES384, Some("a")));
    assert_eq!(
        cache.get_or_verify(0, &p2, t.as_bytes(), NOW),
        Err(JwtError::AlgorithmNotAllowed)
    );
}

#[test]
fn cache_capacity_is_bounded() {
    let p = provider(vec![HS256], public_keys(HS256, None));
    let mut cache = TokenCache::new(8);
    let tokens: Vec<String> = (0..50)
        .map(|i| {
            token(
                HS256,
                None,
                &format!(
                    r#"{{"iss":"https://idp.example","aud":"api","exp":{},"n":{i}}}"#,
                    NOW + 60
                ),
            )
        })
        .collect();
    for t in &tokens {
        assert!(cache.get_or_verify(0, &p, t.as_bytes(), NOW).is_ok());
        assert!(cache.len() <= 8, "len {}", cache.len());
    }
    assert!(cache.len() >= 7);
    // Expired entries are swept first when full.
    let mut cache = TokenCache::new(4);
    for t in &tokens[..4] {
        cache.get_or_verify(0, &p, t.as_bytes(), NOW).unwrap();
    }
    let late = token(
        HS256,
        None,
        &format!(
            r#"{{"iss":"https://idp.example","aud":"api","exp":{}}}"#,
            NOW + 600
        ),
    );
    cache
        .get_or_verify(0, &p, late.as_bytes(), NOW + 100)
        .unwrap();
    assert_eq!(cache.len(), 1);
    // Capacity 0 caches nothing but still verifies.
    let mut none = TokenCache::new(0);
    assert!(none.get_or_verify(0, &p, tokens[0].as_bytes(), NOW).is_ok());
    assert_eq!(none.len(), 0);
}

#[test]
fn cache_does_not_store_failures() {
    let p = provider(vec![HS256], public_keys(HS256, None));
    let mut cache = TokenCache::new(8);
    let good = token(HS256, None, &claims());
    let forged = format!("{}x", &good[..good.len() - 1]);
    for _ in 0..3 {
        assert!(cache.get_or_verify(0, &p, forged.as_bytes(), NOW).is_err());
    }
    assert_eq!((cache.len(), cache.misses(), cache.hits()), (0, 3, 0));
    // A token that differs in one byte from a cached one is verified, not served: at the end
    // (another hash bucket) or in the middle (same length and tail, so the same hash: only
    // the full comparison tells them apart).
    cache.get_or_verify(0, &p, good.as_bytes(), NOW).unwrap();
    assert!(cache.get_or_verify(0, &p, forged.as_bytes(), NOW).is_err());
    let mut middle = good.clone().into_bytes();
    let dot = middle.iter().position(|&b| b == b'.').unwrap();
    middle[dot + 5] = if middle[dot + 5] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        cache.get_or_verify(0, &p, &middle, NOW),
        Err(JwtError::BadSignature)
    );
    assert_eq!(cache.len(), 1);
}

// ---------------------------------------------------------------- JWKS refresh

const JWKS_A: &[u8] =
    br#"{"keys":[{"kty":"oct","kid":"a","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]}"#;
const JWKS_B: &[u8] =
    br#"{"keys":[{"kty":"oct","kid":"b","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]}"#;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn refresh_schedule_and_keep_last_good() {
    let t0 = Instant::now();
    let mut r = JwksRefresh::new(secs(300), secs(30), t0);
    assert!(r.due(t0), "first fetch at once");
    assert_eq!(r.age(t0), None);
    r.begin_fetch(t0);
    assert!(!r.due(t0 + secs(1)), "not due while in flight");
    let keys = r.on_fetch(Ok(JWKS_A), t0 + secs(1)).expect("new keys");
    assert_eq!(keys.iter().next().unwrap().kid(), Some("a"));
    assert!(!r.due(t0 + secs(300)));
    assert!(r.due(t0 + secs(301)));
    assert_eq!(r.age(t0 + secs(11)), Some(secs(10)));
    // The same document again: nothing to install (caches stay warm).
    assert!(r.on_fetch(Ok(JWKS_A), t0 + secs(301)).is_none());
    assert_eq!(r.age(t0 + secs(301)), Some(secs(0)));
    // A broken document keeps the last good set (None), records the error.
    assert!(r.on_fetch(Ok(br#"{"keys":[]}"#), t0 + secs(601)).is_none());
    assert!(
        r.last_error().unwrap().contains("no usable"),
        "{:?}",
        r.last_error()
    );
    assert_eq!(r.age(t0 + secs(602)), Some(secs(301)));
    // Recovery clears the error and installs the new set.
    assert!(r.on_fetch(Ok(JWKS_B), t0 + secs(602)).is_some());
    assert_eq!(r.last_error(), None);
    assert_eq!(r.failures(), 0);
}

#[test]
fn refresh_backs_off_exponentially_up_to_the_period() {
    let t0 = Instant::now();
    let mut r = JwksRefresh::new(secs(60), secs(10), t0);
    let mut now = t0;
    let mut delays = Vec::new();
    for _ in 0..9 {
        assert!(r.due(now));
        r.begin_fetch(now);
        assert!(r.on_fetch(Err("connection refused".into()), now).is_none());
        let delay = r.next_fetch() - now;
        delays.push(delay.as_secs());
        assert!(!r.due(now + delay - Duration::from_millis(1)));
        now += delay;
    }
    assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    assert_eq!(r.failures(), 9);
    assert_eq!(r.last_error(), Some("connection refused"));
    assert!(r.on_fetch(Ok(JWKS_A), now).is_some());
    assert_eq!(r.next_fetch() - now, secs(60));
}

#[test]
fn early_refresh_is_throttled() {
    let t0 = Instant::now();
    let mut r = JwksRefresh::new(secs(300), secs(30), t0);
    r.begin_fetch(t0);
    r.on_fetch(Ok(JWKS_A), t0).unwrap();
    // An unknown kid 5 s after a fetch: deferred to the end of the 30 s window.
    r.request_early(t0 + secs(5));
    assert!(!r.due(t0 + secs(29)));
    assert!(r.due(t0 + secs(30)));
    r.begin_fetch(t0 + secs(30));
    assert!(r.on_fetch(Ok(JWKS_B), t0 + secs(30)).is_some());
    // Many requests inside the window still make one fetch at its end.
    for s in 31..60 {
        r.request_early(t0 + secs(s));
    }
    assert_eq!(r.next_fetch(), t0 + secs(60));
    // Outside the window, an early request is honoured at once.
    let mut r2 = JwksRefresh::new(secs(300), secs(30), t0);
    r2.on_fetch(Ok(JWKS_A), t0);
    r2.request_early(t0 + secs(100));
    assert!(r2.due(t0 + secs(100)));
    // An early request never delays an already earlier fetch.
    let mut r3 = JwksRefresh::new(secs(300), secs(30), t0);
    r3.request_early(t0 + secs(3));
    assert!(r3.due(t0));
}

#[test]
fn refresh_feeds_the_provider() {
    let t0 = Instant::now();
    let p = provider(vec![HS256], KeySet::empty());
    let mut r = JwksRefresh::new(secs(300), secs(30), t0);
    init();
    let key =
        ringway_auth::jsonwebtoken::EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
    let t = token_with(r#"{"alg":"HS256","kid":"b"}"#, &claims(), &key, HS256);
    assert_eq!(p.verify(t.as_bytes(), NOW), Err(JwtError::UnknownKid));
    if let Some(keys) = r.on_fetch(Ok(JWKS_A), t0) {
        p.update_keys(keys);
    }
    let err = p.verify(t.as_bytes(), NOW).unwrap_err();
    assert_eq!(err, JwtError::UnknownKid);
    r.request_early(t0 + secs(31));
    assert!(r.due(t0 + secs(31)));
    if let Some(keys) = r.on_fetch(Ok(JWKS_B), t0 + secs(31)) {
        p.update_keys(keys);
    }
    assert!(p.verify(t.as_bytes(), NOW).is_ok());
}

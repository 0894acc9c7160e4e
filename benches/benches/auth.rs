//! Authentication benches: the per-request cost of each auth policy, without I/O.
//!
//! * `jwt_cached`: [`TokenCache::get_or_verify`] hits on ~600-byte RS256 tokens (256 distinct
//!   tokens cycled, all cached), against the same tokens through [`Provider::verify`]
//!   (uncached) and through plain `jsonwebtoken::decode` (the naive baseline: decode and verify
//!   every request).
//! * `jwt_cold`: one uncached [`Provider::verify`] per algorithm (RS256, PS256, ES256, ES384,
//!   EdDSA, HS256): what a token costs the first time it is seen.
//! * `apikey`: [`ApiKeys::lookup`] among 1,000 keys (hit and miss), against a linear scan
//!   comparing the presented key's `sha256:<hex>` string with every stored one.
//! * `ip_filter`: [`IpFilter::permits`] with 1,000 CIDRs (allow) and 100 (deny), against a
//!   linear scan of (network, mask) pairs.
//!
//! Keys, tokens, caches and probe addresses are built outside the timed closures. Fixture keys
//! are the test PEMs of `crates/auth/tests/data`.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{Criterion, Throughput};
use ringway_auth::apikey::{self, ApiKeys};
use ringway_auth::ip::{IpFilter, IpSet};
use ringway_auth::jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use ringway_auth::jsonwebtoken::crypto::CryptoProvider;
use ringway_auth::jsonwebtoken::{self as jwt_crate, EncodingKey, Header, Validation};
use ringway_auth::jwt::{Algorithm, KeySet, Provider, ProviderSettings, TokenCache};
use ringway_auth::serde_json::{json, Value};

const RSA_PRIVATE: &[u8] = include_bytes!("../../crates/auth/tests/data/rsa2048_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../../crates/auth/tests/data/rsa2048_public.pem");
const P256_PRIVATE: &[u8] = include_bytes!("../../crates/auth/tests/data/ec_p256_private.pem");
const P256_PUBLIC: &[u8] = include_bytes!("../../crates/auth/tests/data/ec_p256_public.pem");
const P384_PRIVATE: &[u8] = include_bytes!("../../crates/auth/tests/data/ec_p384_private.pem");
const P384_PUBLIC: &[u8] = include_bytes!("../../crates/auth/tests/data/ec_p384_public.pem");
const ED_PRIVATE: &[u8] = include_bytes!("../../crates/auth/tests/data/ed25519_private.pem");
const ED_PUBLIC: &[u8] = include_bytes!("../../crates/auth/tests/data/ed25519_public.pem");
const HMAC_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The injected "now" of the benches; tokens expire in 2100, so the jsonwebtoken baseline
/// (which reads the system clock) accepts them too.
const NOW: u64 = 1_700_000_000;
const EXP: u64 = 4_102_444_800;

/// Distinct tokens cycled in the cached bench.
const TOKENS: usize = 256;

fn keys_for(alg: Algorithm) -> (EncodingKey, KeySet) {
    use Algorithm::*;
    match alg {
        RS256 | PS256 => (
            EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
            KeySet::from_pem(RSA_PUBLIC, Some("k".into())).unwrap(),
        ),
        ES256 => (
            EncodingKey::from_ec_pem(P256_PRIVATE).unwrap(),
            KeySet::from_pem(P256_PUBLIC, Some("k".into())).unwrap(),
        ),
        ES384 => (
            EncodingKey::from_ec_pem(P384_PRIVATE).unwrap(),
            KeySet::from_pem(P384_PUBLIC, Some("k".into())).unwrap(),
        ),
        EdDSA => (
            EncodingKey::from_ed_pem(ED_PRIVATE).unwrap(),
            KeySet::from_pem(ED_PUBLIC, Some("k".into())).unwrap(),
        ),
        _ => (
            EncodingKey::from_secret(HMAC_SECRET),
            KeySet::from_hmac_secret(HMAC_SECRET, Some("k".into())).unwrap(),
        ),
    }
}

fn claims(i: usize) -> Value {
    json!({
        "iss": "https://idp.example.com/prod",
        "sub": format!("user-{i:08}"),
        "aud": "orders-api",
        "exp": EXP,
        "iat": NOW,
        "scope": "orders:read orders:write profile",
    })
}

fn sign(alg: Algorithm, key: &EncodingKey, i: usize) -> String {
    let mut header = Header::new(alg.to_jwt());
    header.kid = Some("k".into());
    jwt_crate::encode(&header, &claims(i), key).unwrap()
}

fn provider(alg: Algorithm, keys: KeySet) -> Provider {
    let mut s = ProviderSettings::new("bench", vec![alg]);
    s.issuer = Some("https://idp.example.com/prod".into());
    s.audiences = vec!["orders-api".into()];
    Provider::new(s, keys).unwrap()
}

fn bench_jwt_cached(c: &mut Criterion) {
    let (enc, keys) = keys_for(Algorithm::RS256);
    let tokens: Vec<String> = (0..TOKENS)
        .map(|i| sign(Algorithm::RS256, &enc, i))
        .collect();
    let p = provider(Algorithm::RS256, keys);
    let mut cache = TokenCache::new(4096);
    for t in &tokens {
        cache.get_or_verify(0, &p, t.as_bytes(), NOW).unwrap();
    }
    let len = tokens[0].len();
    let mut group = c.benchmark_group("jwt_cached");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function(format!("token_cache_hit_rs256_{len}B"), |b| {
        b.iter(|| {
            i = (i + 1) % TOKENS;
            black_box(cache.get_or_verify(0, &p, black_box(tokens[i].as_bytes()), NOW))
        })
    });
    let mut i = 0;
    group.bench_function("provider_verify_uncached_rs256", |b| {
        b.iter(|| {
            i = (i + 1) % TOKENS;
            black_box(p.verify(black_box(tokens[i].as_bytes()), NOW))
        })
    });
    let decoding = jwt_crate::DecodingKey::from_rsa_pem(RSA_PUBLIC).unwrap();
    let mut validation = Validation::new(jwt_crate::Algorithm::RS256);
    validation.set_audience(&["orders-api"]);
    validation.set_issuer(&["https://idp.example.com/prod"]);
    let mut i = 0;
    group.bench_function("naive_jsonwebtoken_decode_rs256", |b| {
        b.iter(|| {
            i = (i + 1) % TOKENS;
            black_box(jwt_crate::decode::<Value>(
                black_box(&tokens[i]),
                &decoding,
                &validation,
            ))
            .unwrap()
        })
    });
    group.finish();
}

fn bench_jwt_cold(c: &mut Criterion) {
    let mut group = c.benchmark_group("jwt_cold");
    group.throughput(Throughput::Elements(1));
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::HS256,
    ] {
        let (enc, keys) = keys_for(alg);
        let token = sign(alg, &enc, 1);
        let p = provider(alg, keys);
        assert!(p.verify(token.as_bytes(), NOW).is_ok());
        group.bench_function(format!("provider_verify_{alg}"), |b| {
            b.iter(|| black_box(p.verify(black_box(token.as_bytes()), NOW)))
        });
    }
    group.finish();
}

fn bench_apikey(c: &mut Criterion) {
    let presented: Vec<String> = (0..1000)
        .map(|i| format!("rw_live_{i:04}_k3y5ecr3tX9q2LmN8pV7tR4sW1zY6bC0"))
        .collect();
    let stored: Vec<String> = presented
        .iter()
        .map(|k| apikey::hash(k.as_bytes()))
        .collect();
    let keys = ApiKeys::new(stored.iter().cloned().zip(0..)).unwrap();
    let mut group = c.benchmark_group("apikey_1000");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("lookup_hit", |b| {
        b.iter(|| {
            i = (i + 1) % presented.len();
            black_box(keys.lookup(black_box(presented[i].as_bytes())))
        })
    });
    group.bench_function("lookup_miss", |b| {
        b.iter(|| black_box(keys.lookup(black_box(b"rw_live_9999_not-a-configured-key-at-all"))))
    });
    let mut i = 0;
    group.bench_function("naive_linear_hex_compare_hit", |b| {
        b.iter(|| {
            i = (i + 1) % presented.len();
            let h = apikey::hash(black_box(presented[i].as_bytes()));
            black_box(stored.iter().position(|s| *s == h))
        })
    });
    group.finish();
}

/// Reproducible addresses from the workspace's seeded generator.
fn rng(seed: u64) -> impl FnMut() -> u32 {
    let mut rng = fastrand::Rng::with_seed(seed);
    move || rng.u32(..)
}

fn bench_ip_filter(c: &mut Criterion) {
    let mut next = rng(0x5eed);
    let cidr = |next: &mut dyn FnMut() -> u32| {
        let addr = Ipv4Addr::from(next());
        let prefix = 16 + next() % 17;
        format!("{addr}/{prefix}")
    };
    let allow: Vec<String> = (0..1000).map(|_| cidr(&mut next)).collect();
    let deny: Vec<String> = (0..100).map(|_| cidr(&mut next)).collect();
    let filter = IpFilter {
        allow: Some(IpSet::parse(&allow).unwrap()),
        deny: IpSet::parse(&deny).unwrap(),
    };
    let parse_naive = |list: &[String]| -> Vec<(u32, u32)> {
        list.iter()
            .map(|e| {
                let (a, p) = e.split_once('/').unwrap();
                let mask = u32::MAX << (32 - p.parse::<u32>().unwrap());
                (u32::from(a.parse::<Ipv4Addr>().unwrap()) & mask, mask)
            })
            .collect()
    };
    let (allow_naive, deny_naive) = (parse_naive(&allow), parse_naive(&deny));
    // Probes: half inside allowed networks, half random.
    let probes: Vec<IpAddr> = (0..1024)
        .map(|i| {
            let r = next();
            let v4 = if i % 2 == 0 {
                let (net, mask) = allow_naive[r as usize % allow_naive.len()];
                net | (next() & !mask)
            } else {
                r
            };
            IpAddr::V4(Ipv4Addr::from(v4))
        })
        .collect();
    let mut group = c.benchmark_group("ip_filter_1000_cidrs");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("ipset_binary_search", |b| {
        b.iter(|| {
            i = (i + 1) % probes.len();
            black_box(filter.permits(black_box(probes[i])))
        })
    });
    let mut i = 0;
    group.bench_function("naive_linear_scan", |b| {
        b.iter(|| {
            i = (i + 1) % probes.len();
            let IpAddr::V4(v4) = black_box(probes[i]) else {
                unreachable!()
            };
            let a = u32::from(v4);
            let denied = deny_naive.iter().any(|&(n, m)| a & m == n);
            black_box(!denied && allow_naive.iter().any(|&(n, m)| a & m == n))
        })
    });
    group.finish();
}

/// Runs every group with this file's defaults; command-line flags (`--quick`, filters, times)
/// override them, as with `criterion_main!`.
fn main() {
    // Token signing (setup only) goes through jsonwebtoken's process-wide provider.
    let _ = CryptoProvider::install_default(&DEFAULT_PROVIDER);
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_jwt_cached(&mut c);
    bench_jwt_cold(&mut c);
    bench_apikey(&mut c);
    bench_ip_filter(&mut c);
    c.final_summary();
}

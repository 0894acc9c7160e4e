//! A deterministic generator of realistic request records, for tests, benches and size
//! measurements: one public and one admin listener, seven routes over four upstream groups,
//! four cores, a few hundred client addresses (5 % IPv6) with a skewed popularity, 60 %
//! authenticated clients, paths with ids (`/users/123`), a handful of user agents, mostly
//! `200`s with realistic error outcomes, log-normal-ish latencies and timestamps about 1 ms
//! apart. Request ids are the gateway's own (per-core random prefix + counter, like
//! `ringway_core::RequestIdGen`) or, with [`Synth::random_request_ids`], 32 random hex digits
//! (client-supplied UUID-like ids, the worst case for compression).

use ringway_telemetry::record::{CacheStatus, Inline, Method, Outcome, RequestRecord, NONE};

use crate::schema::Names;

/// Routes of listener 0: (name, upstream index or [`NONE`], weight in ‰).
const ROUTES: [(&str, u16, u32); 6] = [
    ("users", 0, 300),
    ("orders", 1, 150),
    ("products", 2, 250),
    ("search", 2, 100),
    ("static", 3, 150),
    ("health", NONE, 50),
];
const UPSTREAMS: [&str; 4] = ["users-svc", "orders-svc", "catalog-svc", "static-svc"];
const USER_AGENTS: [&str; 8] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "okhttp/4.12.0",
    "shop-frontend/2.3.1",
    "curl/8.5.0",
    "kube-probe/1.29",
];
const SEARCH_WORDS: [&str; 12] = [
    "shoes", "jacket", "lamp", "desk", "phone", "case", "cable", "mug", "book", "pen", "bag", "hat",
];
const CORES: usize = 4;
const CLIENTS: u32 = 300;

/// The record generator; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Synth {
    rng: fastrand::Rng,
    ts_us: i64,
    id_prefix: [u64; CORES],
    id_counter: [u64; CORES],
    random_ids: bool,
}

impl Synth {
    /// A generator seeded with `seed`, whose first record is at `start_ts_us` (µs since the
    /// UNIX epoch).
    pub fn new(seed: u64, start_ts_us: i64) -> Self {
        let mut s = Self {
            rng: fastrand::Rng::with_seed(seed),
            ts_us: start_ts_us,
            id_prefix: [0; CORES],
            id_counter: [0; CORES],
            random_ids: false,
        };
        for i in 0..CORES {
            s.id_prefix[i] = s.next_u64();
        }
        s
    }

    /// Use 32 random hex digits as request ids instead of the gateway's prefix + counter.
    pub fn random_request_ids(mut self, yes: bool) -> Self {
        self.random_ids = yes;
        self
    }

    /// The names table matching the generated indices.
    pub fn names() -> Names {
        Names {
            listeners: vec!["public".into(), "admin".into()],
            routes: vec![
                ROUTES.iter().map(|r| r.0.to_owned()).collect(),
                vec!["admin-api".into()],
            ],
            upstreams: UPSTREAMS.iter().map(|&u| u.to_owned()).collect(),
            endpoints: (0..UPSTREAMS.len())
                .map(|u| {
                    (0..3)
                        .map(|e| format!("10.0.{}.{}:8080", u + 1, 11 + e))
                        .collect()
                })
                .collect(),
        }
    }

    /// The timestamp the next record will have.
    pub fn ts_us(&self) -> i64 {
        self.ts_us
    }

    fn next_u64(&mut self) -> u64 {
        self.rng.u64(..)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u32) -> u32 {
        self.rng.u32(..n)
    }

    /// Per-mille draw.
    fn permille(&mut self) -> u32 {
        self.below(1000)
    }

    /// The next record.
    pub fn next_record(&mut self) -> RequestRecord {
        let mut r = RequestRecord {
            ts_us: self.ts_us,
            ..Default::default()
        };
        self.ts_us += 500 + i64::from(self.below(1000)); // ~1 ms apart
        let core = self.below(CORES as u32) as usize;
        r.core = core as u16;

        // Route and upstream.
        let (route_name, upstream) = if self.permille() < 5 {
            r.listener = 1;
            r.route = 0;
            ("admin-api", 1u16)
        } else {
            let mut pick = self.permille();
            let mut chosen = ROUTES.len() - 1;
            for (i, (_, _, w)) in ROUTES.iter().enumerate() {
                if pick < *w {
                    chosen = i;
                    break;
                }
                pick -= w;
            }
            r.route = chosen as u16;
            (ROUTES[chosen].0, ROUTES[chosen].1)
        };
        r.upstream = upstream;
        r.endpoint = if upstream == NONE {
            NONE
        } else {
            self.below(3) as u16
        };

        // Method and version.
        let m = self.permille();
        r.method = match route_name {
            "health" => Method::Get,
            "static" => {
                if m < 20 {
                    Method::Head
                } else {
                    Method::Get
                }
            }
            _ => match m {
                0..=779 => Method::Get,
                780..=899 => Method::Post,
                900..=939 => Method::Put,
                940..=969 => Method::Delete,
                970..=984 => Method::Patch,
                985..=994 => Method::Options,
                _ => Method::Head,
            },
        };
        let v = self.permille();
        r.http_version = match v {
            0..=9 => 10,
            10..=749 => 11,
            _ => 20,
        };

        // Client.
        let u = self.below(1 << 16);
        let client = (((u * u) >> 16) * CLIENTS) >> 16; // skewed towards low numbers
        r.client_ip = if client % 20 == 7 {
            let mut ip = [0u8; 16];
            ip[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            ip[14..].copy_from_slice(&(client as u16).to_be_bytes());
            ip
        } else {
            std::net::Ipv4Addr::new(
                [198, 203, 100][client as usize % 3],
                51,
                (client / 7) as u8,
                (client * 37 % 250 + 1) as u8,
            )
            .to_ipv6_mapped()
            .octets()
        };
        if client % 5 < 3 {
            r.client_id = Inline::new(format!("user-{}", client * 13 % 1000).as_bytes());
        }
        r.user_agent = if client % 10 == 9 {
            Inline::default()
        } else if route_name == "health" {
            Inline::new(USER_AGENTS[7].as_bytes())
        } else {
            Inline::new(USER_AGENTS[(client as usize / 3) % 7].as_bytes())
        };

        // Request id.
        r.request_id = if self.random_ids {
            let a = self.next_u64();
            let b = self.next_u64();
            Inline::new(format!("{a:016x}{b:016x}").as_bytes())
        } else {
            self.id_counter[core] += 1;
            let (p, c) = (self.id_prefix[core], self.id_counter[core]);
            Inline::new(format!("{p:016x}{c:016x}").as_bytes())
        };

        // Path.
        let id = self.below(100_000);
        let path = match route_name {
            "users" => match id % 4 {
                0 => format!("/users/{id}/profile"),
                _ => format!("/users/{id}"),
            },
            "orders" => {
                if r.method == Method::Post {
                    "/orders".to_owned()
                } else {
                    format!("/orders/{}", 500_000 + id)
                }
            }
            "products" => format!("/products/sku-{}", id % 5000),
            "search" => format!(
                "/search?q={}&page={}",
                SEARCH_WORDS[id as usize % SEARCH_WORDS.len()],
                id % 5 + 1
            ),
            "static" => format!("/static/app.{:08x}.js", id % 40),
            "health" => "/healthz".to_owned(),
            _ => format!("/admin/jobs/{}", id % 100),
        };
        r.path = Inline::new(path.as_bytes());

        // Result.
        let s = self.permille();
        let (status, outcome) = match s {
            _ if route_name == "health" => (200, Outcome::Ok),
            0..=929 => match r.method {
                Method::Post => (201, Outcome::Ok),
                Method::Delete => (204, Outcome::Ok),
                _ => (200, Outcome::Ok),
            },
            930..=959 => (304, Outcome::Ok),
            960..=974 => (404, Outcome::Ok),
            975..=979 => (401, Outcome::AuthFailed),
            980..=983 => (429, Outcome::RateLimited),
            984..=986 => (0, Outcome::ClientAborted),
            987..=990 => (500, Outcome::Ok),
            991..=993 => (502, Outcome::UpstreamConnect),
            994..=996 => (503, Outcome::NoEndpoint),
            _ => (504, Outcome::UpstreamTimeout),
        };
        r.status = status;
        r.outcome = outcome;
        r.retries = u8::from(matches!(outcome, Outcome::UpstreamConnect) && s.is_multiple_of(2));
        r.cache = if route_name == "static" {
            if s % 10 < 8 {
                CacheStatus::Hit
            } else {
                CacheStatus::Miss
            }
        } else {
            CacheStatus::None
        };

        // Sizes and latencies.
        let req_body = match r.method {
            Method::Post | Method::Put | Method::Patch => 200 + self.below(4000),
            _ => 0,
        };
        r.request_bytes = u64::from(180 + self.below(400) + req_body);
        let body = match (route_name, status) {
            (_, 0 | 204 | 304) => 0,
            ("health", _) => 2,
            ("static", _) => 20_000 + (id % 40) * 1000,
            ("search", _) => 2_000 + self.below(30_000),
            (_, 200 | 201) => 300 + self.below(3000),
            _ => 60 + self.below(100),
        };
        r.response_bytes = u64::from(120 + self.below(80) + body);
        // Log-normal-ish: product of uniforms, scaled per route; a slow tail.
        let base = match route_name {
            "health" => 150,
            "static" if r.cache == CacheStatus::Hit => 80,
            "search" => 8_000,
            "orders" => 4_000,
            _ => 2_500,
        };
        let f = 1 + self.below(4);
        let tail = if self.permille() < 10 {
            20 + self.below(80)
        } else {
            1
        };
        let upstream_us = if upstream == NONE || r.cache == CacheStatus::Hit {
            0
        } else {
            base * f / 2 + self.below(base) * tail
        };
        if outcome == Outcome::UpstreamTimeout {
            r.upstream_us = 30_000_000;
            r.ttfb_us = 0;
            r.total_us = 30_000_000 + self.below(500);
        } else {
            r.upstream_us = upstream_us;
            r.ttfb_us = upstream_us * 2 / 3;
            r.total_us = upstream_us + 40 + self.below(200);
        }
        if upstream == NONE {
            r.upstream_us = 0;
            r.ttfb_us = 0;
        }
        r
    }
}

impl Iterator for Synth {
    type Item = RequestRecord;

    fn next(&mut self) -> Option<RequestRecord> {
        Some(self.next_record())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_monotonic_and_resolvable() {
        let a: Vec<_> = Synth::new(7, 1_000_000).take(2000).collect();
        let b: Vec<_> = Synth::new(7, 1_000_000).take(2000).collect();
        let names = Synth::names();
        let mut prev = 0;
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.request_id, y.request_id);
            assert!(x.ts_us > prev);
            prev = x.ts_us;
            let l = usize::from(x.listener);
            assert!(usize::from(x.route) < names.routes[l].len());
            if x.upstream != NONE {
                let u = usize::from(x.upstream);
                assert!(usize::from(x.endpoint) < names.endpoints[u].len());
            }
            assert_eq!(x.request_id.as_bytes().len(), 32);
        }
        let ok = a.iter().filter(|r| r.status == 200).count();
        assert!(ok > 1500, "{ok}");
    }
}

//! The file shape: what a YAML configuration file may say, exactly.
//!
//! Every struct here takes every key as optional (`#[serde(default)]`) with the documented
//! default, so a file says only what differs. Required values (names, addresses) default to
//! empty and are reported as missing by [`compile`](crate::compile), together with every other
//! problem, instead of stopping the parse at the first one.
//!
//! **Unknown keys are errors.** The structs do not use `#[serde(deny_unknown_fields)]`, because
//! that stops at the first unknown key; instead [`parse`](crate::parse) wraps the deserializer
//! with `serde_ignored` and reports *every* key that no field consumed. Always deserialize these
//! types through [`parse`](crate::parse) (or [`from_yaml_str`](crate::from_yaml_str)); a bare
//! `serde_saphyr::from_str::<ConfigSpec>` would silently ignore misspelled keys. The shape has
//! no `flatten` and no internally tagged or untagged enums, so nothing is buffered where the
//! wrapper cannot see it.
//!
//! Units: durations are [`DurationSpec`] strings with a unit (`250ms`, `5s`, `2m`, `1h`);
//! sizes are whole numbers of bytes with `_bytes` in the key; counts are plain numbers.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

mod cache;
mod resilience;
mod store;
mod tls;
mod transform;
pub use cache::*;
pub use resilience::*;
pub use store::*;
pub use tls::*;
pub use transform::*;

/// The documented default of every optional value.
pub mod defaults {
    /// `drain_timeout`.
    pub const DRAIN_TIMEOUT: &str = "15s";
    /// `admin.listen`.
    pub const ADMIN_LISTEN: &str = "127.0.0.1:9901";
    /// `upstreams.*.endpoints[].weight` and `proxy.split[].weight`.
    pub const WEIGHT: u32 = 1;
    /// `upstreams.*.timeouts.connect`.
    pub const CONNECT_TIMEOUT: &str = "5s";
    /// `upstreams.*.timeouts.response`.
    pub const RESPONSE_TIMEOUT: &str = "60s";
    /// `upstreams.*.retries.attempts`.
    pub const RETRY_ATTEMPTS: u32 = 1;
    /// `upstreams.*.retries.budget_percent`.
    pub const RETRY_BUDGET_PERCENT: u32 = 20;
    /// `upstreams.*.retries.backoff`.
    pub const RETRY_BACKOFF: &str = "25ms";
    /// `upstreams.*.retries.backoff_max`.
    pub const RETRY_BACKOFF_MAX: &str = "250ms";
    /// `upstreams.*.pool.max_idle`.
    pub const POOL_MAX_IDLE: usize = 1024;
    /// `upstreams.*.pool.idle_timeout`.
    pub const POOL_IDLE_TIMEOUT: &str = "55s";
    /// `listeners[].limits.max_body_bytes` (8 GiB).
    pub const MAX_BODY_BYTES: u64 = 8 << 30;
    /// `listeners[].limits.max_uri_bytes`.
    pub const MAX_URI_BYTES: usize = 8192;
    /// `listeners[].limits.max_header_bytes`.
    pub const MAX_HEADER_BYTES: usize = 32 * 1024;
    /// `listeners[].limits.max_headers`.
    pub const MAX_HEADERS: usize = 100;
    /// `listeners[].timeouts.header`.
    pub const CLIENT_HEADER_TIMEOUT: &str = "10s";
    /// `listeners[].timeouts.body`.
    pub const CLIENT_BODY_TIMEOUT: &str = "60s";
    /// `listeners[].timeouts.idle`.
    pub const CLIENT_IDLE_TIMEOUT: &str = "60s";
    /// `respond.status`.
    pub const RESPOND_STATUS: u16 = 200;
    /// `listeners[].tls.handshake_timeout`.
    pub const TLS_HANDSHAKE_TIMEOUT: &str = "10s";
    /// `listeners[].tls.min_version`.
    pub const TLS_MIN_VERSION: &str = "1.2";
    /// `listeners[].tls.profile`.
    pub const TLS_PROFILE: &str = "intermediate";
    /// `listeners[].tls.unknown_sni`.
    pub const TLS_UNKNOWN_SNI: &str = "default";
    /// `listeners[].tls.alpn`.
    pub const TLS_ALPN: &[&str] = &["http/1.1"];
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ConfigSpec {
    /// Worker threads: `auto` (one per available CPU) or a count 1..=1024. Default `auto`.
    pub workers: WorkersSpec,
    /// How long in-flight requests may take to finish after SIGTERM. Default `15s`.
    pub drain_timeout: DurationSpec,
    /// The admin listener. Default: enabled on `127.0.0.1:9901`.
    pub admin: AdminSpec,
    /// Upstream groups by name (`[a-z0-9_-]+`), in file order. Default: none.
    pub upstreams: OrderedMap<UpstreamSpec>,
    /// Listeners; at least one is required.
    pub listeners: Vec<ListenerSpec>,
    /// Request telemetry: Parquet traffic logs. Default: logs off.
    pub telemetry: TelemetrySpec,
    /// Proxies whose `X-Forwarded-For` is believed (CIDRs). Default: none (the client is the
    /// TCP peer).
    pub trusted_proxies: Vec<String>,
    /// IP allow/deny applied to every request before routing. Default: allow all.
    pub ip_filter: IpFilterSpec,
    /// Credentials: JWT providers, API keys, consumers and plans. Default: none.
    pub auth: AuthSpec,
    /// Memory for the edge cache (routes opt in with `cache`). Default 256 MiB.
    pub cache: CacheSpec,
}

/// `telemetry`: where request records go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TelemetrySpec {
    /// Directory of the Parquet traffic logs (Hive-partitioned `dt=/hour=`). Default: none
    /// (no logs; metrics still work).
    pub logs_dir: Option<String>,
    /// Parquet compression: `zstd`, `snappy` or `none`. Default `zstd`.
    pub compression: String,
    /// A log file is closed and a new one started after this long. Default `60s`.
    pub rotate: DurationSpec,
    /// A log file is closed once it reaches this size. Default 134217728 (128 MiB).
    pub max_file_bytes: u64,
    /// Records buffered per core between the data plane and the writer; when full, records
    /// are dropped and counted, never waited for. Default 65536.
    pub queue_capacity: usize,
    /// Keep a crash journal of the open log file, synced every 500 ms and turned into Parquet
    /// by the next start: a crash loses under a second of records, not the open file.
    /// Default `true`.
    pub journal: bool,
    /// A JSON access log, one line per request: a file path (appended to), or `-` for
    /// standard output. Default: none.
    pub access_log: Option<String>,
    /// Anomaly detection on the analytics thread (needs `logs_dir`).
    pub anomalies: AnomaliesSpec,
}

/// `telemetry.anomalies`: the detectors the analytics thread runs on the record stream.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AnomaliesSpec {
    /// On or off. Default: on whenever `telemetry.logs_dir` is set; `true` without a logs
    /// directory is an error.
    pub enabled: Option<bool>,
    /// Length of a bucket, the detectors' unit of time (1s to 5m). Default `10s`.
    pub bucket: DurationSpec,
    /// History needed before anything is judged, at least ten buckets. Default `10m`.
    pub warmup: DurationSpec,
}

impl Default for AnomaliesSpec {
    fn default() -> Self {
        Self {
            enabled: None,
            bucket: DurationSpec::new("10s"),
            warmup: DurationSpec::new("10m"),
        }
    }
}

impl Default for TelemetrySpec {
    fn default() -> Self {
        Self {
            logs_dir: None,
            compression: "zstd".to_owned(),
            rotate: DurationSpec::new("60s"),
            max_file_bytes: 128 << 20,
            queue_capacity: 65536,
            journal: true,
            access_log: None,
            anomalies: AnomaliesSpec::default(),
        }
    }
}

impl Default for ConfigSpec {
    fn default() -> Self {
        Self {
            workers: WorkersSpec::Auto,
            drain_timeout: DurationSpec::new(defaults::DRAIN_TIMEOUT),
            admin: AdminSpec::default(),
            upstreams: OrderedMap::default(),
            listeners: Vec::new(),
            telemetry: TelemetrySpec::default(),
            trusted_proxies: Vec::new(),
            ip_filter: IpFilterSpec::default(),
            auth: AuthSpec::default(),
            cache: CacheSpec::default(),
        }
    }
}

/// `workers`: `auto` or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkersSpec {
    /// One worker per available CPU.
    #[default]
    Auto,
    /// This many workers (1..=1024 after checking).
    Count(u64),
}

impl<'de> Deserialize<'de> for WorkersSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WorkersVisitor;
        impl Visitor<'_> for WorkersVisitor {
            type Value = WorkersSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`auto` or a positive whole number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WorkersSpec, E> {
                Ok(WorkersSpec::Count(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WorkersSpec, E> {
                u64::try_from(v)
                    .map(WorkersSpec::Count)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WorkersSpec, E> {
                if v == "auto" {
                    Ok(WorkersSpec::Auto)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
        }
        deserializer.deserialize_any(WorkersVisitor)
    }
}

/// A duration written with units: `250ms`, `5s`, `2m`, `1h30m`, `2d` ([`parse_duration`]). The text is kept as written and checked by [`compile`](crate::compile), so that
/// every malformed duration in a file is reported at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationSpec(pub String);

impl DurationSpec {
    /// A duration from its text.
    pub fn new(text: &str) -> Self {
        Self(text.to_owned())
    }

    /// The duration, or why the text is not one.
    pub fn parse(&self) -> Result<std::time::Duration, String> {
        parse_duration(&self.0)
    }
}

/// The one duration grammar (`250ms`, `5s`, `1h30m`, `2d`), shared with the command line and
/// log queries.
pub use ringway_core::parse_duration;

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Numbers are kept as text too, so that `5` is reported as "missing unit" by compile.
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = DurationSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"250ms\", \"5s\" or \"2m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationSpec, E> {
                Ok(DurationSpec::new(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationSpec, E> {
                Ok(DurationSpec(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationSpec, E> {
                Ok(DurationSpec(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DurationSpec, E> {
                Ok(DurationSpec(v.to_string()))
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// A YAML mapping from names to values that keeps file order (duplicate keys are a YAML
/// error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> OrderedMap<V> {
    /// Entries in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedMap<V>, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, V>()? {
                    entries.push(entry);
                }
                Ok(OrderedMap(entries))
            }
        }
        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

/// `admin`: the admin listener (health, readiness, metrics).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AdminSpec {
    /// Whether the admin listener runs. Default `true`.
    pub enabled: bool,
    /// Address to bind, `host:port`. Default `127.0.0.1:9901`.
    pub listen: String,
}

impl Default for AdminSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: defaults::ADMIN_LISTEN.to_owned(),
        }
    }
}

/// `upstreams.<name>`: a group of endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct UpstreamSpec {
    /// Endpoints; at least one is required.
    pub endpoints: Vec<EndpointSpec>,
    /// Load-balancing policy. Default `round_robin`.
    pub balance: BalanceSpec,
    /// What `consistent_hash` hashes; required with it and only with it.
    pub hash_key: Option<HashKeySpec>,
    /// Upstream timeouts. Default connect `5s`, response `60s`.
    pub timeouts: UpstreamTimeoutsSpec,
    /// Retries of idempotent requests. Default 1 attempt, 20% budget, `25ms`..`250ms` backoff.
    pub retries: RetriesSpec,
    /// Keep-alive pool per core and endpoint. Default 1024 idle, `55s` idle timeout.
    pub pool: PoolSpec,
    /// Speak TLS to the endpoints, verifying them (always). Default: plain TCP.
    pub tls: Option<UpstreamTlsSpec>,
    /// `http1`, `h2` (HTTP/2 over TLS, negotiated by ALPN; needs `tls`), `h2c` (cleartext
    /// HTTP/2 with prior knowledge) or `auto` (over TLS, what each endpoint chooses by ALPN).
    /// Default `http1`.
    pub protocol: String,
    /// Active health checks. Default: none (endpoints count as healthy).
    pub health_check: Option<HealthCheckSpec>,
    /// Passive ejection of failing endpoints. Default: on for connect errors and timeouts.
    pub outlier_detection: OutlierDetectionSpec,
    /// Limits on connections and requests to the group. Default: Envoy's (1024, 3 retries).
    pub circuit_breakers: CircuitBreakersSpec,
    /// A per-core concurrency limit that follows latency. Default: off.
    pub adaptive_concurrency: Option<AdaptiveConcurrencySpec>,
    /// When fewer than this percent of the endpoints are healthy and not ejected, all are
    /// used (panic mode). 0..=100; default 50.
    pub panic_threshold: u32,
}

/// `upstreams.<name>.endpoints[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct EndpointSpec {
    /// `host:port` (an IP address or a name resolved once, at load time; IPv4 preferred).
    /// Required.
    pub address: String,
    /// Relative weight, 1..=1000. Default 1.
    pub weight: u32,
}

impl Default for EndpointSpec {
    fn default() -> Self {
        Self {
            address: String::new(),
            weight: defaults::WEIGHT,
        }
    }
}

/// `upstreams.<name>.balance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceSpec {
    /// Smooth weighted round robin (the default).
    #[default]
    RoundRobin,
    /// Fewest in-flight requests.
    LeastRequest,
    /// The less busy of two random endpoints.
    PowerOfTwo,
    /// Consistent hashing on `hash_key`.
    ConsistentHash,
}

/// `upstreams.<name>.hash_key`: exactly one of the three.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct HashKeySpec {
    /// Hash this request header's value.
    pub header: Option<String>,
    /// Hash this cookie's value.
    pub cookie: Option<String>,
    /// `true`: hash the client's IP address. Default `false`.
    pub client_ip: bool,
}

/// `upstreams.<name>.timeouts`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct UpstreamTimeoutsSpec {
    /// Establishing a connection. Default `5s`; must not be zero.
    pub connect: DurationSpec,
    /// Waiting for the response head and between body reads. Default `60s`; not zero.
    pub response: DurationSpec,
}

impl Default for UpstreamTimeoutsSpec {
    fn default() -> Self {
        Self {
            connect: DurationSpec::new(defaults::CONNECT_TIMEOUT),
            response: DurationSpec::new(defaults::RESPONSE_TIMEOUT),
        }
    }
}

/// `upstreams.<name>.retries`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RetriesSpec {
    /// Extra attempts after the first, 0..=10 (0 disables retries). Default 1.
    pub attempts: u32,
    /// Retries allowed as a percentage of recent requests, 0..=100. Default 20.
    pub budget_percent: u32,
    /// First backoff, doubled per retry with jitter. Default `25ms`.
    pub backoff: DurationSpec,
    /// Largest backoff, at least `backoff`. Default `250ms`.
    pub backoff_max: DurationSpec,
    /// Also retry on these upstream statuses (500..=599). Default none.
    pub on_status: Vec<u16>,
}

impl Default for RetriesSpec {
    fn default() -> Self {
        Self {
            attempts: defaults::RETRY_ATTEMPTS,
            budget_percent: defaults::RETRY_BUDGET_PERCENT,
            backoff: DurationSpec::new(defaults::RETRY_BACKOFF),
            backoff_max: DurationSpec::new(defaults::RETRY_BACKOFF_MAX),
            on_status: Vec::new(),
        }
    }
}

/// `upstreams.<name>.pool`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PoolSpec {
    /// Idle connections kept per core and endpoint (0 = no reuse). Default 1024.
    pub max_idle: usize,
    /// Idle connections older than this are closed. Default `55s`; not zero.
    pub idle_timeout: DurationSpec,
}

impl Default for UpstreamSpec {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            balance: BalanceSpec::default(),
            hash_key: None,
            timeouts: UpstreamTimeoutsSpec::default(),
            retries: RetriesSpec::default(),
            pool: PoolSpec::default(),
            tls: None,
            protocol: "http1".to_owned(),
            health_check: None,
            outlier_detection: OutlierDetectionSpec::default(),
            circuit_breakers: CircuitBreakersSpec::default(),
            adaptive_concurrency: None,
            panic_threshold: 50,
        }
    }
}

impl Default for PoolSpec {
    fn default() -> Self {
        Self {
            max_idle: defaults::POOL_MAX_IDLE,
            idle_timeout: DurationSpec::new(defaults::POOL_IDLE_TIMEOUT),
        }
    }
}

/// `listeners[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct ListenerSpec {
    /// Unique name (`[a-z0-9_-]+`). Required.
    pub name: String,
    /// Address to bind, `host:port`. Required; unique.
    pub listen: String,
    /// Request size limits. Defaults: 8 GiB body, 8192 B target, 32 KiB head, 100 fields.
    pub limits: LimitsSpec,
    /// Client timeouts. Defaults: header `10s`, body `60s`, idle `60s`.
    pub timeouts: ClientTimeoutsSpec,
    /// Routes; at least one is required.
    pub routes: Vec<RouteSpec>,
    /// Terminate TLS on this listener. Default: none (plain HTTP).
    pub tls: Option<TlsSpec>,
    /// HTTP/2: cleartext with prior knowledge, and the limits of HTTP/2 connections (chosen
    /// over TLS by `tls.alpn: [h2, ...]`).
    pub http2: Http2Spec,
}

/// `listeners[].limits`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LimitsSpec {
    /// Largest request body in bytes (413). Default 8589934592 (8 GiB); not zero.
    pub max_body_bytes: u64,
    /// Longest request target in bytes (414). Default 8192; not zero.
    pub max_uri_bytes: usize,
    /// Largest request head in bytes (431). Default 32768; not zero.
    pub max_header_bytes: usize,
    /// Most request header fields (431). Default 100; not zero.
    pub max_headers: usize,
    /// Open client connections each core accepts on this listener; past it, new connections
    /// are closed at once and the open ones served. Default: no limit; not zero.
    pub max_connections_per_core: Option<usize>,
    /// Open client connections on this listener over all cores; past it, new connections are
    /// closed at once and the open ones served. Default: no limit; not zero.
    pub max_connections: Option<usize>,
}

impl Default for LimitsSpec {
    fn default() -> Self {
        Self {
            max_connections_per_core: None,
            max_connections: None,
            max_body_bytes: defaults::MAX_BODY_BYTES,
            max_uri_bytes: defaults::MAX_URI_BYTES,
            max_header_bytes: defaults::MAX_HEADER_BYTES,
            max_headers: defaults::MAX_HEADERS,
        }
    }
}

/// `listeners[].timeouts`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ClientTimeoutsSpec {
    /// Receiving a complete request head (408). Default `10s`; not zero.
    pub header: DurationSpec,
    /// Between reads of a request body, and for writes to the client. Default `60s`; not zero.
    pub body: DurationSpec,
    /// Idle keep-alive connections are closed after this. Default `60s`; not zero.
    pub idle: DurationSpec,
}

impl Default for ClientTimeoutsSpec {
    fn default() -> Self {
        Self {
            header: DurationSpec::new(defaults::CLIENT_HEADER_TIMEOUT),
            body: DurationSpec::new(defaults::CLIENT_BODY_TIMEOUT),
            idle: DurationSpec::new(defaults::CLIENT_IDLE_TIMEOUT),
        }
    }
}

/// `listeners[].routes[]`: exactly one of `proxy` or `respond`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct RouteSpec {
    /// Unique name within the listener (`[a-z0-9_-]+`). Required.
    pub name: String,
    /// What the route matches. Default: every request.
    #[serde(rename = "match")]
    pub matcher: MatchSpec,
    /// Forward to an upstream group (or a weighted split).
    pub proxy: Option<ProxySpec>,
    /// Answer directly.
    pub respond: Option<RespondSpec>,
    /// Fan out to several upstream groups and merge their JSON bodies.
    pub aggregate: Option<AggregateSpec>,
    /// Overrides of the listener's limits. Default: inherit.
    pub limits: RouteLimitsSpec,
    /// Overrides of the upstream timeouts. Default: inherit.
    pub timeouts: RouteTimeoutsSpec,
    /// IP allow/deny for this route, after the global one. Default: none.
    pub ip_filter: Option<IpFilterSpec>,
    /// Credentials this route requires. Default: none (anonymous).
    pub auth: Option<RouteAuthSpec>,
    /// Rate limits of this route, all of which must admit a request. Default: none.
    pub rate_limits: Vec<RateLimitSpec>,
    /// A verified client certificate this route requires (403 otherwise); the listener must
    /// ask for them (`tls.client_auth`). Default: none required.
    pub client_cert: Option<ClientCertRuleSpec>,
    /// Pass WebSocket connections through (proxy routes): the opening handshake is checked
    /// and forwarded, then bytes are copied both ways. Default `false` (an upgrade is a 400).
    pub websocket: bool,
    /// Store and serve GET responses (RFC 9111). Default: none (not cached).
    pub cache: Option<RouteCacheSpec>,
    /// Rewrite JSON response bodies. Default: none.
    pub reshape: Option<ReshapeSpec>,
}

/// `listeners[].routes[].match`: every criterion given must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct MatchSpec {
    /// Host patterns, any of them: `api.example.com` or `*.example.com`. Default: any host.
    pub hosts: Vec<String>,
    /// Path criterion. Default: prefix `/` (every path).
    pub path: Option<PathSpec>,
    /// Methods, any of them (case-insensitive). Default: any method.
    pub methods: Vec<String>,
    /// Header criteria, all of them. Default: none.
    pub headers: Vec<HeaderMatchSpec>,
}

/// `match.path`: exactly one of the three.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct PathSpec {
    /// Exactly this path.
    pub exact: Option<String>,
    /// This prefix, on a segment boundary (`/api` matches `/api` and `/api/x`, not `/apix`);
    /// a prefix ending in `/` (`/api/`) matches paths starting with it (not `/api`).
    pub prefix: Option<String>,
    /// Segments with `{name}` parameters, e.g. `/users/{id}/orders`.
    pub pattern: Option<String>,
}

/// `match.headers[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct HeaderMatchSpec {
    /// Header name (case-insensitive). Required.
    pub name: String,
    /// If given, some value of the header must equal it exactly; else the header must be
    /// present. Default: presence only.
    pub value: Option<String>,
}

/// `routes[].proxy`: exactly one of `upstream` or `split`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct ProxySpec {
    /// The upstream group.
    pub upstream: Option<String>,
    /// A weighted split across groups (canary releases).
    pub split: Vec<SplitSpec>,
    /// With `split` only: a request header whose value, naming a group of the split, forces it.
    pub force_header: Option<String>,
    /// Removed from the start of the path before forwarding, on a segment boundary.
    pub strip_prefix: Option<String>,
    /// Replaces the whole path (the query is kept). Not together with `strip_prefix`.
    pub rewrite_path: Option<String>,
    /// Replaces the Host header sent upstream. Default: the client's Host.
    pub host: Option<String>,
    /// Edits to the forwarded request's headers. Default: none.
    pub request_headers: HeaderOpsSpec,
    /// Edits to the response's headers. Default: none.
    pub response_headers: HeaderOpsSpec,
}

/// `proxy.split[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SplitSpec {
    /// The upstream group. Required.
    pub upstream: String,
    /// Relative weight, 0..=1000 (0: reachable only through `force_header`). Default 1.
    pub weight: u32,
}

impl Default for SplitSpec {
    fn default() -> Self {
        Self {
            upstream: String::new(),
            weight: defaults::WEIGHT,
        }
    }
}

/// `proxy.request_headers` / `proxy.response_headers`: applied as remove, set, add.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct HeaderOpsSpec {
    /// Replace every field with this name by one with this value.
    pub set: OrderedMap<String>,
    /// Append a field.
    pub add: OrderedMap<String>,
    /// Remove every field with these names.
    pub remove: Vec<String>,
}

/// `routes[].respond`: a response generated by the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RespondSpec {
    /// Status code, 200..=599. Default 200.
    pub status: u16,
    /// Header fields, in order. Default none (`content-length` is added by the gateway).
    pub headers: OrderedMap<String>,
    /// Body text. Default empty.
    pub body: String,
}

impl Default for RespondSpec {
    fn default() -> Self {
        Self {
            status: defaults::RESPOND_STATUS,
            headers: OrderedMap::default(),
            body: String::new(),
        }
    }
}

/// `routes[].limits`: per-route overrides of the listener's limits. Only the body limit can be
/// set per route: the head limits apply before routing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct RouteLimitsSpec {
    /// Largest request body in bytes for this route; not zero. Default: the listener's.
    pub max_body_bytes: Option<u64>,
}

/// `routes[].timeouts`: per-route override of the upstream timeouts (proxy routes only).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct RouteTimeoutsSpec {
    /// Upstream response timeout for this route; not zero. Default: the group's.
    pub response: Option<DurationSpec>,
}

/// `ip_filter` (global or per route): CIDRs or single addresses, IPv4 and IPv6.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct IpFilterSpec {
    /// When given, only these clients are served (403 otherwise); it must not be empty.
    /// Default: no allow list.
    pub allow: Option<Vec<String>>,
    /// These clients get 403; deny wins over allow. Default: empty.
    pub deny: Vec<String>,
    /// Count the clients the filter would refuse (`ringway_policy_shadow_refusals_total`)
    /// without refusing them: to try a filter before enforcing it. Default `false`.
    pub shadow: bool,
}

/// `auth`: who may call, and on what terms.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct AuthSpec {
    /// JWT providers by name (`[a-z0-9_-]+`). Default: none.
    pub jwt_providers: OrderedMap<JwtProviderSpec>,
    /// Where API keys are read from. Default: the `x-api-key` header.
    pub api_keys: ApiKeySourceSpec,
    /// Plans by name: rate limits and quotas shared by their consumers. Default: none.
    pub plans: OrderedMap<PlanSpec>,
    /// Consumers by name: API keys and a plan. Default: none.
    pub consumers: OrderedMap<ConsumerSpec>,
}

/// `auth.jwt_providers.<name>`: who issues tokens and how to check them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct JwtProviderSpec {
    /// Required `iss` value. Default: not checked.
    pub issuer: Option<String>,
    /// `aud` must contain one of these. Default: not checked.
    pub audiences: Vec<String>,
    /// Accepted `alg` values (HS256/384/512, RS256/384/512, PS256/384/512, ES256, ES384,
    /// EdDSA); required, no default: an explicit list prevents algorithm confusion.
    pub algorithms: Vec<String>,
    /// Verification keys; at least one source is required.
    pub keys: JwtKeysSpec,
    /// Clock skew allowed on `exp` and `nbf`. Default `30s`.
    pub leeway: DurationSpec,
    /// Where the token is. Default: `Authorization: Bearer <token>`.
    pub token: TokenSourceSpec,
    /// Tokens longer than this are refused without parsing. Default 8192.
    pub max_token_bytes: usize,
    /// The claim naming the client (telemetry `client_id`, rate-limit key `consumer`).
    /// Default `sub`.
    pub consumer_claim: String,
    /// Plan (by name) whose limits apply to this provider's clients, keyed by their consumer
    /// claim. Default: none.
    pub plan: Option<String>,
}

impl Default for JwtProviderSpec {
    fn default() -> Self {
        Self {
            issuer: None,
            audiences: Vec::new(),
            algorithms: Vec::new(),
            keys: JwtKeysSpec::default(),
            leeway: DurationSpec::new("30s"),
            token: TokenSourceSpec::default(),
            max_token_bytes: 8192,
            consumer_claim: "sub".to_owned(),
            plan: None,
        }
    }
}

/// `auth.jwt_providers.<name>.keys`: any combination of sources; relative paths are relative
/// to the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct JwtKeysSpec {
    /// PEM public keys (RSA, EC, Ed25519), each `{ file, kid }` (kid optional).
    pub pem_files: Vec<PemKeySpec>,
    /// A JWKS document on disk, read at load time.
    pub jwks_file: Option<String>,
    /// A JWKS URL fetched in the background and refreshed: `https://`, or `http://` to a
    /// loopback address only (signing keys never cross a network in plaintext).
    pub jwks_url: Option<String>,
    /// PEM file of the CA certificates an `https` JWKS URL is verified with. Default: the
    /// built-in Mozilla roots.
    pub jwks_ca_file: Option<String>,
    /// Environment variable holding an HMAC secret (HS* algorithms). Never put the secret in
    /// the file.
    pub hmac_secret_env: Option<String>,
    /// How often the JWKS URL is fetched again. Default `5m`.
    pub refresh: DurationSpec,
    /// A token with an unknown `kid` triggers an early fetch, at most this often. Default `30s`.
    pub min_refresh: DurationSpec,
}

impl Default for JwtKeysSpec {
    fn default() -> Self {
        Self {
            pem_files: Vec::new(),
            jwks_file: None,
            jwks_url: None,
            jwks_ca_file: None,
            hmac_secret_env: None,
            refresh: DurationSpec::new("5m"),
            min_refresh: DurationSpec::new("30s"),
        }
    }
}

/// `keys.pem_files[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct PemKeySpec {
    /// Path of the PEM file. Required.
    pub file: String,
    /// Key id matched against a token's `kid`. Default: none (the key serves tokens without a
    /// matching kid).
    pub kid: Option<String>,
}

/// Where a credential is read: exactly one of `header` or `cookie`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct TokenSourceSpec {
    /// A header; for `authorization` the value is `Bearer <token>`, for any other header the
    /// whole value is the token.
    pub header: Option<String>,
    /// A cookie holding the token.
    pub cookie: Option<String>,
}

/// `auth.api_keys`: where clients present API keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ApiKeySourceSpec {
    /// Header carrying the key. Default `x-api-key`.
    pub header: Option<String>,
    /// Query parameter carrying the key, checked when the header is absent. Default: none.
    pub query: Option<String>,
}

impl Default for ApiKeySourceSpec {
    fn default() -> Self {
        Self {
            header: Some("x-api-key".to_owned()),
            query: None,
        }
    }
}

/// `auth.plans.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct PlanSpec {
    /// Rate limit per consumer on this plan. Default: none.
    pub rate_limit: Option<RateSpec>,
    /// Quotas per consumer over fixed UTC windows. Default: none.
    pub quotas: Vec<QuotaSpec>,
    /// Count the plan's rate limit and quotas over every gateway sharing this store (quotas
    /// then survive restarts). Default: this gateway alone.
    pub store: Option<LimitStoreSpec>,
}

/// A rate: `requests` per `per`, with `burst` admitted at once from idle.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct RateSpec {
    /// Requests per period. Required, not zero.
    pub requests: u64,
    /// The period. Default `1s`.
    pub per: Option<DurationSpec>,
    /// Requests admitted at once from idle. Default: `requests`.
    pub burst: Option<u64>,
}

/// `plans.<name>.quotas[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct QuotaSpec {
    /// Requests per window. Required, not zero.
    pub requests: u64,
    /// `minute`, `hour` or `day` (UTC-aligned windows). Required.
    pub per: String,
}

/// `auth.consumers.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct ConsumerSpec {
    /// Plan by name. Default: none (no plan limits).
    pub plan: Option<String>,
    /// API keys as `sha256:<64 hex>` (`ringway hash-key` prints it). Default: none.
    pub api_keys: Vec<String>,
    /// Scopes granted to this consumer's API keys. Default: none.
    pub scopes: Vec<String>,
}

/// `routes[].auth`: which credentials a route accepts, and what they must carry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct RouteAuthSpec {
    /// JWT provider (by name) whose tokens are accepted. Default: none.
    pub jwt: Option<String>,
    /// Whether consumers' API keys are accepted. Default `false`. With `jwt` too, either
    /// credential is enough.
    pub api_key: bool,
    /// Scopes the credential must all carry (403 otherwise). Default: none.
    pub scopes: Vec<String>,
    /// Claims a JWT must carry with these values (403 otherwise). Default: none.
    pub claims: OrderedMap<String>,
    /// JWT claims forwarded upstream as request headers: `claim: header-name`. Default: none.
    pub forward_claims: OrderedMap<String>,
    /// Remove the credential (Authorization header or API-key header) before forwarding.
    /// Default `false`.
    pub strip_credentials: bool,
}

/// `routes[].rate_limits[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct RateLimitSpec {
    /// Name used in `RateLimit-Policy` and metrics (`[a-z0-9_-]+`). Default `<route>-<index>`.
    pub name: Option<String>,
    /// What is limited: `client_ip`, `consumer`, `global`, `header:<name>` or `claim:<name>`.
    /// Default `client_ip`.
    pub key: Option<String>,
    /// Requests per period. Required, not zero.
    pub requests: u64,
    /// The period. Default `1s`.
    pub per: Option<DurationSpec>,
    /// Requests admitted at once from idle. Default: `requests`.
    pub burst: Option<u64>,
    /// Count the requests the limit would refuse (`ringway_policy_shadow_refusals_total`)
    /// without refusing them: to try a limit before enforcing it. Default `false`.
    pub shadow: bool,
    /// Count over every gateway sharing this store. Default: this gateway alone.
    pub store: Option<LimitStoreSpec>,
}

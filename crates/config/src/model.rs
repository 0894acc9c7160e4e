//! The checked runtime shape of a gateway configuration: what `compile` produces from the YAML
//! file shape. Every value here is valid; references are resolved to indices; defaults are
//! filled in; route-level limits and timeouts are already merged over the listener's.

use std::net::SocketAddr;
use std::time::Duration;

// Policy values are the policy crates' own types, built by `compile` with their parsers: the
// runtime never parses these strings again, so what `validate` accepts is what is enforced.
pub use ringway_auth::apikey::KeyDigest;
pub use ringway_auth::ip::{IpFilter, IpSet, TrustedProxies};
pub use ringway_auth::jwt::{Algorithm, TokenSource};
/// A GCRA rate (`requests` per `per`, `burst` at once from idle), as the limiter takes it.
pub use ringway_ratelimit::Rate;
/// A quota's UTC-aligned window, as the limiter takes it.
pub use ringway_ratelimit::Window as QuotaWindow;
pub use ringway_transform::{Merge, Shape};
// TLS choices are the TLS crate's own values, checked by name at compile time.
pub use ringway_tls::{
    ClientAuthMode, Profile as TlsProfile, ServerOptions as TlsOptions, TlsVersion, UnknownSni,
};

/// A whole, valid gateway configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Worker threads (`None` = one per available CPU).
    pub workers: Option<usize>,
    /// The admin listener (health, readiness, loaded config), if enabled.
    pub admin: Option<Admin>,
    /// Upstream groups; routes refer to them by index ([`UpstreamId`]).
    pub upstreams: Vec<UpstreamGroup>,
    /// Listeners, each with its own routes.
    pub listeners: Vec<Listener>,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub drain_timeout: Duration,
    /// Request telemetry.
    pub telemetry: Telemetry,
    /// Client identity and access: trusted proxies, IP filter, credentials, plans.
    pub policies: Policies,
    /// Edge cache memory.
    pub cache: CacheSettings,
}

/// `cache`: memory for stored responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// Bytes for the whole process, split evenly between the workers.
    pub memory_bytes: u64,
}

/// A route's edge cache (RFC 9111 shared cache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCache {
    /// Larger bodies (and unknown lengths) stream through unstored.
    pub max_object_bytes: u64,
    /// Request header values in the key (lowercase names).
    pub key_headers: Vec<String>,
    /// The consumer in the key.
    pub key_consumer: bool,
    /// Store responses with `Set-Cookie`.
    pub store_set_cookie: bool,
    /// Heuristic freshness, percent of the time since `Last-Modified`.
    pub heuristic_percent: Option<u8>,
    /// Cap of heuristic freshness.
    pub heuristic_max: Duration,
    /// Variants per key.
    pub max_variants: usize,
    /// Longest wait for another request's fetch of the same key.
    pub coalesce_wait: Duration,
}

impl Config {
    /// Makes relative key file paths relative to `dir` (the configuration file's directory).
    pub fn resolve_paths(&mut self, dir: &std::path::Path) {
        for provider in &mut self.policies.jwt_providers {
            let keys = &mut provider.keys;
            for (file, _) in &mut keys.pem_files {
                if file.is_relative() {
                    *file = dir.join(&*file);
                }
            }
            for file in [&mut keys.jwks_file, &mut keys.jwks_ca_file]
                .into_iter()
                .flatten()
                .filter(|f| f.is_relative())
            {
                *file = dir.join(&*file);
            }
        }
    }
}

/// Who the client is and on what terms it is served (see [`Route::auth`] and
/// [`Route::rate_limits`] for the per-route side).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policies {
    /// Proxies whose `X-Forwarded-For` is believed (none when empty).
    pub trusted_proxies: TrustedProxies,
    /// Applied to every request before routing.
    pub ip_filter: IpFilter,
    /// The global filter only counts what it would refuse.
    pub ip_filter_shadow: bool,
    /// JWT providers; routes refer to them by index.
    pub jwt_providers: Vec<JwtProvider>,
    /// Where API keys are read from.
    pub api_keys: ApiKeySource,
    /// Plans; consumers and providers refer to them by index.
    pub plans: Vec<Plan>,
    /// Consumers (API-key holders).
    pub consumers: Vec<Consumer>,
}

/// A JWT issuer and how its tokens are checked.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtProvider {
    /// Unique name.
    pub name: String,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// `aud` must contain one of these (empty: not checked).
    pub audiences: Vec<String>,
    /// Accepted algorithms, never empty.
    pub algorithms: Vec<Algorithm>,
    /// Key sources.
    pub keys: JwtKeys,
    /// Clock skew allowed on `exp`/`nbf`.
    pub leeway: Duration,
    /// Where the token is read.
    pub token: TokenSource,
    /// Longer tokens are refused unparsed.
    pub max_token_bytes: usize,
    /// Claim naming the client.
    pub consumer_claim: String,
    /// Plan applied to this provider's clients.
    pub plan: Option<usize>,
}

/// Key sources of a JWT provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtKeys {
    /// PEM public keys with optional key ids (paths relative to the config file's directory
    /// once loaded with [`crate::load_file`]).
    pub pem_files: Vec<(std::path::PathBuf, Option<String>)>,
    /// A JWKS document on disk.
    pub jwks_file: Option<std::path::PathBuf>,
    /// A JWKS URL fetched in the background (`https://`, or `http://` to loopback).
    pub jwks_url: Option<String>,
    /// CA certificates (PEM) for an `https` JWKS URL; `None`: the built-in roots.
    pub jwks_ca_file: Option<std::path::PathBuf>,
    /// Environment variable holding an HMAC secret.
    pub hmac_secret_env: Option<String>,
    /// Refresh period of `jwks_url`.
    pub refresh: Duration,
    /// Least time between fetches triggered by unknown key ids.
    pub min_refresh: Duration,
}

/// Where API keys are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeySource {
    /// Header (lowercase).
    pub header: Option<String>,
    /// Query parameter, when the header is absent.
    pub query: Option<String>,
}

impl Default for ApiKeySource {
    /// The file default: the `x-api-key` header, no query parameter.
    fn default() -> Self {
        Self {
            header: Some("x-api-key".to_owned()),
            query: None,
        }
    }
}

/// Limits shared by consumers on a plan (each consumer has its own counters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Unique name.
    pub name: String,
    /// Rate limit per consumer.
    pub rate_limit: Option<Rate>,
    /// Quotas per consumer.
    pub quotas: Vec<Quota>,
    /// The store that makes its limit and quotas fleet-wide, if any.
    pub store: Option<LimitStore>,
}

/// A fixed-window quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests per window (> 0).
    pub requests: u64,
    /// The UTC-aligned window.
    pub window: QuotaWindow,
}

/// An API-key holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// Unique name (telemetry `client_id`).
    pub name: String,
    /// Its plan.
    pub plan: Option<usize>,
    /// Digests of its keys (stored as `sha256:<hex>`).
    pub api_keys: Vec<KeyDigest>,
    /// Scopes granted to its keys.
    pub scopes: Vec<String>,
}

/// Credentials a route requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteAuth {
    /// Accepted JWT provider.
    pub jwt: Option<usize>,
    /// Whether API keys are accepted.
    pub api_key: bool,
    /// Scopes that must all be present.
    pub scopes: Vec<String>,
    /// Claims that must have these values (JWT only).
    pub claims: Vec<(String, String)>,
    /// Claims forwarded as headers: (claim, lowercase header name).
    pub forward_claims: Vec<(String, String)>,
    /// Remove the credential before forwarding.
    pub strip_credentials: bool,
}

/// One rate limit of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitRule {
    /// Name (RateLimit-Policy, metrics).
    pub name: String,
    /// What is counted.
    pub key: LimitKey,
    /// The rate.
    pub rate: Rate,
    /// Counted, not enforced.
    pub shadow: bool,
    /// The store that makes it fleet-wide, if any.
    pub store: Option<LimitStore>,
}

/// A fleet-wide limit's store (Redis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitStore {
    /// `redis://host:port[/db]`.
    pub url: String,
    /// Longest wait for one store call.
    pub timeout: Duration,
    /// What happens while the store is down.
    pub on_failure: StoreFailure,
    /// The approximate mode's flush interval (`mode: sync`); `None`: leases.
    pub sync: Option<Duration>,
}

/// A fleet-wide limit while its store is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// Refuse (503).
    Deny,
    /// Apply this rate on each gateway alone.
    Allow(Rate),
}

/// What a rate limit counts by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitKey {
    /// The client's IP (after trusted proxies).
    ClientIp,
    /// The authenticated consumer (API-key consumer or JWT consumer claim).
    Consumer,
    /// Every request of the route together.
    Global,
    /// A request header's value (lowercase name); requests without it share one bucket.
    Header(String),
    /// A JWT claim's value; requests without it share one bucket.
    Claim(String),
}

/// Where request records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telemetry {
    /// Directory of the Parquet traffic logs; `None` disables them.
    pub logs_dir: Option<std::path::PathBuf>,
    /// Parquet compression.
    pub compression: Compression,
    /// Age after which a log file is closed.
    pub rotate: Duration,
    /// Size after which a log file is closed.
    pub max_file_bytes: u64,
    /// Per-core queue capacity in records.
    pub queue_capacity: usize,
    /// Crash journal of the open log file.
    pub journal: bool,
    /// Where JSON access log lines go, if anywhere.
    pub access_log: Option<AccessLog>,
    /// Anomaly detection on the analytics thread; `None` when off.
    pub anomalies: Option<Anomalies>,
}

/// Where JSON access log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLog {
    /// Standard output.
    Stdout,
    /// A file, appended to.
    File(std::path::PathBuf),
}

/// The detectors' timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anomalies {
    /// Bucket length.
    pub bucket: Duration,
    /// Warm-up, a whole number of buckets.
    pub warmup: Duration,
}

impl Default for Anomalies {
    fn default() -> Self {
        Self {
            bucket: Duration::from_secs(10),
            warmup: Duration::from_secs(600),
        }
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            logs_dir: None,
            compression: Compression::Zstd,
            rotate: Duration::from_secs(60),
            max_file_bytes: 128 << 20,
            queue_capacity: 65536,
            journal: true,
            access_log: None,
            anomalies: None,
        }
    }
}

/// Parquet compression codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// zstd (default): the smallest files.
    #[default]
    Zstd,
    /// Snappy: faster, larger.
    Snappy,
    /// None.
    None,
}

/// The admin listener.
#[derive(Debug, Clone, PartialEq)]
pub struct Admin {
    /// Address (default 127.0.0.1:9901).
    pub listen: SocketAddr,
}

/// Index of an upstream group in [`Config::upstreams`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UpstreamId(pub usize);

/// A named group of endpoints and how to balance, retry and time out across them.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamGroup {
    /// Unique name.
    pub name: String,
    /// Endpoints with weights (at least one).
    pub endpoints: Vec<Endpoint>,
    /// Load-balancing policy.
    pub balance: Balance,
    /// Retries of idempotent requests to another endpoint.
    pub retries: RetryPolicy,
    /// Connect and response timeouts for this group.
    pub timeouts: UpstreamTimeouts,
    /// Per-core keep-alive pool.
    pub pool: Pool,
    /// TLS to the endpoints, when they speak HTTPS.
    pub tls: Option<UpstreamTls>,
    /// The HTTP version spoken to the endpoints.
    pub protocol: UpstreamProtocol,
    /// Active health checks, if configured.
    pub health_check: Option<ringway_resilience::HealthCheck>,
    /// Passive outlier ejection.
    pub outlier: ringway_resilience::OutlierDetection,
    /// Circuit-breaker limits (over all cores).
    pub breakers: ringway_resilience::BreakerLimits,
    /// Percent of usable endpoints below which all are used.
    pub panic_threshold: u8,
    /// Adaptive concurrency, when on.
    pub adaptive: Option<ringway_resilience::AdaptiveSettings>,
}

/// The HTTP version spoken to a group's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamProtocol {
    /// HTTP/1.1, pooled keep-alive connections.
    #[default]
    Http1,
    /// HTTP/2 over TLS (ALPN `h2`): streams multiplexed over one connection per core and
    /// endpoint.
    H2,
    /// Cleartext HTTP/2 with prior knowledge.
    H2c,
    /// Over TLS, what each endpoint chooses by ALPN (`h2` preferred, else HTTP/1.1).
    Auto,
}

/// How a group's endpoints are spoken to over TLS. Certificates are always verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// The name sent and verified, per endpoint (in endpoint order).
    pub server_names: Vec<ringway_tls::ServerName<'static>>,
    /// PEM file of trusted CAs; `None`: the system's roots.
    pub ca: Option<std::path::PathBuf>,
    /// Client certificate and key files, when presented.
    pub client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// One upstream endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Address.
    pub addr: SocketAddr,
    /// Relative weight, 1..=1000 (default 1).
    pub weight: u32,
}

/// Load-balancing policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Balance {
    /// Smooth weighted round robin.
    RoundRobin,
    /// Fewest in-flight requests on this core (weighted), ties broken round robin.
    LeastRequest,
    /// Two random endpoints (by weight), the one with fewer in-flight requests.
    PowerOfTwo,
    /// Consistent hashing (weighted ring) on a request key: sticky per key.
    ConsistentHash(HashKey),
}

/// What consistent hashing hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    /// A request header's value (name lowercase).
    Header(String),
    /// A cookie's value.
    Cookie(String),
    /// The client's IP address.
    ClientIp,
}

/// Retries on idempotent requests.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Extra attempts after the first (0 disables retries).
    pub attempts: u32,
    /// Retries allowed as a percentage of recent requests (the retry budget), 0..=100.
    pub budget_percent: u32,
    /// First backoff; doubles per retry with jitter, up to `backoff_max`.
    pub backoff: Duration,
    /// Largest backoff.
    pub backoff_max: Duration,
    /// Retry on these upstream statuses too (e.g. 502, 503, 504), besides connect failures.
    pub on_status: Vec<u16>,
}

impl Default for RetryPolicy {
    /// The file defaults: 1 attempt, 20% budget, 25ms..250ms backoff, no statuses.
    fn default() -> Self {
        Self {
            attempts: 1,
            budget_percent: 20,
            backoff: Duration::from_millis(25),
            backoff_max: Duration::from_millis(250),
            on_status: Vec::new(),
        }
    }
}

/// Upstream timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamTimeouts {
    /// Establishing a connection.
    pub connect: Duration,
    /// Waiting for the response head, and between reads of the body.
    pub response: Duration,
}

impl Default for UpstreamTimeouts {
    /// The file defaults: connect 5s, response 60s.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            response: Duration::from_secs(60),
        }
    }
}

/// Upstream keep-alive pool, per core and endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// Idle connections kept.
    pub max_idle: usize,
    /// Idle connections older than this are closed.
    pub idle_timeout: Duration,
}

impl Default for Pool {
    /// The file defaults: 1024 idle connections, closed after 55s.
    fn default() -> Self {
        Self {
            max_idle: 1024,
            idle_timeout: Duration::from_secs(55),
        }
    }
}

/// A listening address with its routes (a virtual-host table).
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// Unique name.
    pub name: String,
    /// Address to bind.
    pub listen: SocketAddr,
    /// Routes in file order; the router orders them by specificity.
    pub routes: Vec<Route>,
    /// Listener-wide limits (routes may lower or raise them).
    pub limits: Limits,
    /// Listener-wide client timeouts.
    pub timeouts: ClientTimeouts,
    /// TLS termination, when the listener speaks HTTPS.
    pub tls: Option<ListenerTls>,
    /// HTTP/2 connections: h2c and limits.
    pub http2: Http2Options,
    /// Open client connections each core accepts on this listener (`None`: no limit).
    pub max_connections_per_core: Option<usize>,
    /// Open client connections on this listener over all cores (`None`: no limit).
    pub max_connections: Option<usize>,
}

/// How a listener serves HTTP/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2Options {
    /// Cleartext HTTP/2 with prior knowledge.
    pub h2c: bool,
    /// Streams open at once per connection.
    pub max_concurrent_streams: u32,
    /// Initial stream window, bytes.
    pub stream_window: u32,
    /// Connection window, bytes.
    pub connection_window: u32,
    /// Requests per connection before GOAWAY.
    pub max_requests: u32,
    /// Connection age before GOAWAY.
    pub max_age: Duration,
}

impl Default for Http2Options {
    /// The file defaults: no h2c, 100 streams, 64 KiB stream and 1 MiB connection windows,
    /// GOAWAY after 1000 requests or an hour.
    fn default() -> Self {
        Self {
            h2c: false,
            max_concurrent_streams: 100,
            stream_window: 65536,
            connection_window: 1 << 20,
            max_requests: 1000,
            max_age: Duration::from_secs(3600),
        }
    }
}

/// How a listener terminates TLS. The files are read (and read again on reload) by whoever
/// starts the gateway; the protocol choices are already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    /// The certificates, in file order; at least one.
    pub certificates: Vec<CertificateFiles>,
    /// Index of the default certificate.
    pub default_certificate: usize,
    /// What a client naming an unknown host gets.
    pub unknown_sni: UnknownSni,
    /// Versions, suites, groups, ALPN and tickets.
    pub options: TlsOptions,
    /// Time allowed for the handshake.
    pub handshake_timeout: Duration,
    /// Client certificates, when asked for.
    pub client_auth: Option<ClientAuth>,
}

/// How a listener asks for and checks client certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// Required or optional.
    pub mode: ClientAuthMode,
    /// PEM file of the trusted CAs.
    pub ca: std::path::PathBuf,
    /// CRL files.
    pub crls: Vec<std::path::PathBuf>,
    /// Forward the verified identity as `x-forwarded-client-cert`.
    pub forward: bool,
}

/// Which client certificates a route admits: any listed subject or SAN; none listed, any
/// verified certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientCertRule {
    /// Subjects, exactly.
    pub subjects: Vec<String>,
    /// Typed SANs (`DNS:`, `URI:`, `email:`, `IP:`), exactly.
    pub sans: Vec<String>,
}

/// One certificate's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// PEM chain.
    pub cert: std::path::PathBuf,
    /// PEM private key.
    pub key: std::path::PathBuf,
    /// Names served with it; `None`: its DNS SANs.
    pub names: Option<Vec<String>>,
}

/// Request size limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body in bytes (413).
    pub max_body_bytes: u64,
    /// Longest request target in bytes (414).
    pub max_uri_bytes: usize,
    /// Largest request head in bytes (431).
    pub max_header_bytes: usize,
    /// Most header fields (431).
    pub max_headers: usize,
}

impl Default for Limits {
    /// The file defaults: 8 GiB body, 8192-byte target, 32 KiB head, 100 fields.
    fn default() -> Self {
        Self {
            max_body_bytes: 8 << 30,
            max_uri_bytes: 8192,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
        }
    }
}

/// Client-side timeouts of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// Receiving a complete request head (408).
    pub header: Duration,
    /// Between reads of a request body and for writes to the client.
    pub body: Duration,
    /// Idle keep-alive connections are closed after this.
    pub idle: Duration,
}

impl Default for ClientTimeouts {
    /// The file defaults: header 10s, body 60s, idle 60s.
    fn default() -> Self {
        Self {
            header: Duration::from_secs(10),
            body: Duration::from_secs(60),
            idle: Duration::from_secs(60),
        }
    }
}

/// One route: what it matches and what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Unique name within the listener.
    pub name: String,
    /// Match criteria (all must hold).
    pub matcher: RouteMatch,
    /// What to do with a matching request.
    pub action: Action,
    /// Effective limits (route overrides merged over the listener's). The head limits apply
    /// before routing, so only `max_body_bytes` can differ per route in effect.
    pub limits: Limits,
    /// Upstream response timeout override for this route.
    pub response_timeout: Option<Duration>,
    /// IP filter of this route (after the global one).
    pub ip_filter: IpFilter,
    /// The route's filter only counts what it would refuse.
    pub ip_filter_shadow: bool,
    /// Required credentials, if any.
    pub auth: Option<RouteAuth>,
    /// Rate limits, all of which must admit a request.
    pub rate_limits: Vec<RateLimitRule>,
    /// The client certificate required, if any.
    pub client_cert: Option<ClientCertRule>,
    /// WebSocket connections are passed through.
    pub websocket: bool,
    /// The route's responses are cached.
    pub cache: Option<RouteCache>,
    /// The route's JSON responses are reshaped.
    pub reshape: Option<Reshape>,
}

/// Match criteria of a route.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteMatch {
    /// Host patterns (any of them); empty matches every host.
    pub hosts: Vec<HostMatch>,
    /// Path criterion.
    pub path: PathMatch,
    /// Methods (uppercase, any of them); empty matches every method.
    pub methods: Vec<String>,
    /// Header criteria (all of them).
    pub headers: Vec<HeaderMatch>,
}

/// A host pattern (compared case-insensitively, port ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// `api.example.com`.
    Exact(String),
    /// `*.example.com`: any host ending in `.example.com` (not `example.com` itself). The
    /// string stored is the suffix including the leading dot, lowercase.
    Suffix(String),
}

/// A path criterion on the path without the query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// Exactly this path.
    Exact(String),
    /// This prefix on a segment boundary (`/api` matches `/api` and `/api/x`, not `/apix`);
    /// `/` matches everything.
    Prefix(String),
    /// Segments such as `/users/{id}/orders`: literals compared exactly, `{name}` matches one
    /// non-empty segment.
    Pattern(Vec<Segment>),
}

impl Default for PathMatch {
    fn default() -> Self {
        Self::Prefix("/".into())
    }
}

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Must equal this text.
    Literal(String),
    /// Matches any one non-empty segment; the name is for rewrites and docs.
    Param(String),
}

/// A header criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    /// Header name, lowercase.
    pub name: String,
    /// `None`: the header must be present; `Some(v)`: some value must equal `v` exactly.
    pub value: Option<String>,
}

/// What a route does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Forward to an upstream group (or a weighted split of groups).
    Proxy(Box<ProxyAction>),
    /// Answer directly.
    Respond(DirectResponse),
    /// Fan out to several groups and merge their JSON bodies.
    Aggregate(Box<AggregateAction>),
}

/// An aggregate route: sub-requests to several groups at once, their JSON bodies merged.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateAction {
    /// The sub-requests, in configuration order (the order of the merge).
    pub backends: Vec<AggregateBackend>,
    /// How the bodies make one object.
    pub merge: Merge,
    /// Deadline of the whole aggregate (every backend's fits inside it).
    pub timeout: Duration,
    /// Largest body accepted from one backend.
    pub max_body_bytes: u64,
    /// Client request headers passed on (lowercase).
    pub forward_headers: Vec<String>,
}

/// One sub-request of an aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateBackend {
    /// Member name of its body, and its label.
    pub name: String,
    /// The group asked.
    pub upstream: UpstreamId,
    /// The path requested (the client's query appended).
    pub path: String,
    /// Its deadline.
    pub timeout: Duration,
    /// Its failure fails the request.
    pub required: bool,
}

/// A route's JSON response reshaping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reshape {
    /// What is done to a body.
    pub shape: Shape,
    /// Larger bodies pass unchanged.
    pub max_body_bytes: u64,
    /// A proxy route's response header edits for a reshaped body: the route's own, plus
    /// `etag` removed (another representation). Built here, not per response.
    pub reshaped_headers: HeaderOps,
}

/// Forwarding to upstream groups, with rewrites.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyAction {
    /// Groups and their weights (one entry with any weight means no split).
    pub backends: Vec<WeightedBackend>,
    /// A request header whose value, if it names one of `backends`, forces that group.
    pub force_header: Option<String>,
    /// Removed from the start of the path before forwarding (on a segment boundary).
    pub strip_prefix: Option<String>,
    /// Replaces the whole path (query kept).
    pub rewrite_path: Option<String>,
    /// Replaces the Host header.
    pub host: Option<String>,
    /// Edits to the forwarded request's headers.
    pub request_headers: HeaderOps,
    /// Edits to the response's headers.
    pub response_headers: HeaderOps,
}

/// One side of a weighted split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightedBackend {
    /// The group.
    pub upstream: UpstreamId,
    /// Relative weight, 0..=1000 (0 = only reachable through the force header).
    pub weight: u32,
}

/// Header edits, applied in the order remove, set, add.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderOps {
    /// Remove every field with these names (lowercase).
    pub remove: Vec<String>,
    /// Replace every field with this name by one with this value.
    pub set: Vec<(String, String)>,
    /// Append a field.
    pub add: Vec<(String, String)>,
}

/// A response generated by the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectResponse {
    /// Status code (200..=599).
    pub status: u16,
    /// Header fields.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

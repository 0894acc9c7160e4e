//! The per-request record: fixed size, `Copy`, no heap data. Route, upstream and endpoint are
//! indices into the running configuration; analytics resolves them to names.

/// Sentinel for "none" in the `u16` index fields.
pub const NONE: u16 = u16::MAX;

/// Longest path kept (bytes, the query string included); longer paths are truncated.
pub const PATH_BYTES: usize = 128;
/// Longest user agent kept (bytes).
pub const USER_AGENT_BYTES: usize = 64;
/// Longest client identity kept (bytes).
pub const CLIENT_ID_BYTES: usize = 48;
/// Longest request id kept (bytes).
pub const REQUEST_ID_BYTES: usize = 64;
/// Longest TLS server name (SNI) kept (bytes).
pub const SNI_BYTES: usize = 64;
/// [`RequestRecord::grpc_status`] when the response carried none.
pub const GRPC_NONE: u8 = u8::MAX;

/// Inline, truncated bytes with a length.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Inline<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> Inline<N> {
    /// Keeps the first `N` bytes of `s` (at most 255).
    pub fn new(s: &[u8]) -> Self {
        let len = s.len().min(N).min(255);
        let mut bytes = [0u8; N];
        bytes[..len].copy_from_slice(&s[..len]);
        Self {
            len: len as u8,
            bytes,
        }
    }

    /// The kept bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most bytes kept (`N`).
    pub const fn capacity(&self) -> usize {
        N
    }
}

impl<const N: usize> Default for Inline<N> {
    fn default() -> Self {
        Self {
            len: 0,
            bytes: [0u8; N],
        }
    }
}

impl<const N: usize> std::fmt::Debug for Inline<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// Request methods, as a small enum (others are `Other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Method {
    /// GET.
    #[default]
    Get,
    /// HEAD.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
    /// PATCH.
    Patch,
    /// OPTIONS.
    Options,
    /// Anything else.
    Other,
}

impl Method {
    /// Classifies a method token.
    pub fn from_bytes(m: &[u8]) -> Self {
        match m {
            b"GET" => Self::Get,
            b"HEAD" => Self::Head,
            b"POST" => Self::Post,
            b"PUT" => Self::Put,
            b"DELETE" => Self::Delete,
            b"PATCH" => Self::Patch,
            b"OPTIONS" => Self::Options,
            _ => Self::Other,
        }
    }

    /// The method's name (`OTHER` for the rest).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Patch => "PATCH",
            Self::Options => "OPTIONS",
            Self::Other => "OTHER",
        }
    }
}

/// How a request ended. `Ok` means the upstream's (or a direct) response was forwarded,
/// whatever its status; the rest are the gateway's own verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Outcome {
    /// Forwarded a response (any status) or answered a direct route.
    #[default]
    Ok,
    /// No route matched (404).
    NoRoute,
    /// Malformed or refused request (4xx from the gateway).
    BadRequest,
    /// Request body over the limit (413).
    PayloadTooLarge,
    /// The client was too slow (408).
    ClientTimeout,
    /// The client went away before the response was complete.
    ClientAborted,
    /// Rate limit or quota (429); filled by the policy layer.
    RateLimited,
    /// Authentication or authorization failed (401/403); filled by the policy layer.
    AuthFailed,
    /// Connecting to the upstream failed (502).
    UpstreamConnect,
    /// Upstream timeout (504).
    UpstreamTimeout,
    /// Upstream reset or bad response (502).
    UpstreamError,
    /// No endpoint available (503).
    NoEndpoint,
    /// Shed by a circuit breaker or concurrency limit (503).
    Overloaded,
}

impl Outcome {
    /// Number of variants.
    pub const COUNT: usize = 13;

    /// Every variant, in declaration order: `Outcome::ALL[o as usize] == o`.
    pub const ALL: [Outcome; Outcome::COUNT] = [
        Self::Ok,
        Self::NoRoute,
        Self::BadRequest,
        Self::PayloadTooLarge,
        Self::ClientTimeout,
        Self::ClientAborted,
        Self::RateLimited,
        Self::AuthFailed,
        Self::UpstreamConnect,
        Self::UpstreamTimeout,
        Self::UpstreamError,
        Self::NoEndpoint,
        Self::Overloaded,
    ];

    /// Dense index in `0..Outcome::COUNT` (the discriminant).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Stable snake_case name used in Parquet and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NoRoute => "no_route",
            Self::BadRequest => "bad_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::ClientTimeout => "client_timeout",
            Self::ClientAborted => "client_aborted",
            Self::RateLimited => "rate_limited",
            Self::AuthFailed => "auth_failed",
            Self::UpstreamConnect => "upstream_connect",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamError => "upstream_error",
            Self::NoEndpoint => "no_endpoint",
            Self::Overloaded => "overloaded",
        }
    }
}

/// Cache status (filled when the cache lands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum CacheStatus {
    /// No cache involved.
    #[default]
    None,
    /// Served from cache.
    Hit,
    /// Looked up, not found.
    Miss,
    /// Not cacheable.
    Bypass,
}

impl CacheStatus {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Bypass => "bypass",
        }
    }
}

/// The TLS version of the connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum TlsVersion {
    /// Plain TCP.
    #[default]
    None,
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    /// The name in Parquet (`None` is null there).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Tls12 => "TLSv1.2",
            Self::Tls13 => "TLSv1.3",
        }
    }
}

/// How the TLS session of the connection began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum TlsSession {
    /// Plain TCP.
    #[default]
    None,
    /// A full handshake.
    Full,
    /// A resumed session (ticket or session id).
    Resumed,
}

impl TlsSession {
    /// The name in Parquet (`None` is null there).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Full => "full",
            Self::Resumed => "resumed",
        }
    }
}

/// The protocol the client chose by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Alpn {
    /// None negotiated (plain TCP, or a TLS client without ALPN).
    #[default]
    None,
    /// `http/1.1`.
    Http11,
    /// `h2`.
    H2,
}

impl Alpn {
    /// Classifies a negotiated protocol id (`None` for others).
    pub fn from_bytes(p: &[u8]) -> Self {
        match p {
            b"http/1.1" => Self::Http11,
            b"h2" => Self::H2,
            _ => Self::None,
        }
    }

    /// The protocol id (`None` is null in Parquet).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Http11 => "http/1.1",
            Self::H2 => "h2",
        }
    }
}

/// One request, as the data plane saw it.
#[derive(Debug, Clone, Copy)]
pub struct RequestRecord {
    /// When the request head was complete: microseconds since the UNIX epoch, UTC.
    pub ts_us: i64,
    /// Worker (core) index.
    pub core: u16,
    /// Listener index in the configuration.
    pub listener: u16,
    /// Route index within the listener, or [`NONE`].
    pub route: u16,
    /// Upstream group index, or [`NONE`].
    pub upstream: u16,
    /// Endpoint index within the group, or [`NONE`].
    pub endpoint: u16,
    /// Method.
    pub method: Method,
    /// 10 for HTTP/1.0, 11 for HTTP/1.1, 20 for HTTP/2.
    pub http_version: u8,
    /// Status sent to the client (0 if none was sent).
    pub status: u16,
    /// How the request ended.
    pub outcome: Outcome,
    /// Cache status.
    pub cache: CacheStatus,
    /// Retries to other endpoints.
    pub retries: u8,
    /// Head complete to response complete, microseconds.
    pub total_us: u32,
    /// Request sent upstream to response complete, microseconds (0 if no upstream).
    pub upstream_us: u32,
    /// Request sent upstream to the first response byte, microseconds (0 if no upstream).
    pub ttfb_us: u32,
    /// Bytes received from the client (head and body).
    pub request_bytes: u64,
    /// Bytes sent to the client (head and body).
    pub response_bytes: u64,
    /// Client address as IPv6 (IPv4 mapped: `::ffff:a.b.c.d`).
    pub client_ip: [u8; 16],
    /// Client identity (JWT subject or API-key consumer), empty if anonymous.
    pub client_id: Inline<CLIENT_ID_BYTES>,
    /// Request id.
    pub request_id: Inline<REQUEST_ID_BYTES>,
    /// Path and query, truncated.
    pub path: Inline<PATH_BYTES>,
    /// User agent, truncated.
    pub user_agent: Inline<USER_AGENT_BYTES>,
    /// TLS version of the connection ([`TlsVersion::None`]: plain TCP).
    pub tls_version: TlsVersion,
    /// Full handshake or resumed session.
    pub tls_session: TlsSession,
    /// The ALPN protocol.
    pub alpn: Alpn,
    /// The server name the client sent (SNI), truncated; empty without.
    pub sni: Inline<SNI_BYTES>,
    /// The gRPC status of the response (its `grpc-status` trailer, or header for a
    /// trailers-only response); [`GRPC_NONE`] when there was none.
    pub grpc_status: u8,
    /// The W3C trace id the request was forwarded with (all zero: none).
    pub trace_id: [u8; 16],
    /// For a sub-request an aggregate route made: the client request's id (empty otherwise).
    pub parent_id: Inline<REQUEST_ID_BYTES>,
}

impl Default for RequestRecord {
    fn default() -> Self {
        Self {
            ts_us: 0,
            core: 0,
            listener: 0,
            route: 0,
            upstream: 0,
            endpoint: 0,
            method: Method::default(),
            http_version: 0,
            status: 0,
            outcome: Outcome::default(),
            cache: CacheStatus::default(),
            retries: 0,
            total_us: 0,
            upstream_us: 0,
            ttfb_us: 0,
            request_bytes: 0,
            response_bytes: 0,
            client_ip: [0; 16],
            client_id: Inline::default(),
            request_id: Inline::default(),
            path: Inline::default(),
            user_agent: Inline::default(),
            tls_version: TlsVersion::default(),
            tls_session: TlsSession::default(),
            alpn: Alpn::default(),
            sni: Inline::default(),
            grpc_status: GRPC_NONE,
            trace_id: [0; 16],
            parent_id: Inline::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_all_is_dense_and_names_are_unique() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i, "{o:?}");
        }
        let mut names: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Outcome::COUNT);
    }

    #[test]
    fn inline_truncates() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"abc", b"abc"),
            (b"abcd", b"abcd"),
            (b"abcdef", b"abcd"),
        ];
        for &(input, kept) in cases {
            assert_eq!(Inline::<4>::new(input).as_bytes(), kept);
        }
    }
}

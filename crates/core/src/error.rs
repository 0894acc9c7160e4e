//! One classification of everything that can go wrong with a request.
//!
//! The data plane decides *what* happened once; the HTTP status, the JSON `error` code, which side
//! is to blame and whether another endpoint may be tried all follow from the kind.

/// Which side of the proxy caused a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The downstream client sent something we refuse.
    Client,
    /// The upstream endpoint failed or misbehaved.
    Upstream,
    /// The gateway itself (configuration, capacity).
    Internal,
}

/// What went wrong with a request. Each kind maps to exactly one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Malformed or ambiguous request (framing, syntax, forbidden bytes).
    BadRequest,
    /// Request line (target) longer than the configured limit.
    UriTooLong,
    /// Header section larger than the limit in bytes or field count.
    HeadersTooLarge,
    /// Declared or streamed body larger than the configured limit.
    PayloadTooLarge,
    /// Method the gateway does not proxy (CONNECT).
    MethodNotAllowed,
    /// An `Expect` value other than `100-continue`.
    ExpectationFailed,
    /// A transfer coding other than `chunked` (RFC 9112 §6.1 asks for 501).
    NotImplemented,
    /// HTTP version other than 1.0 and 1.1.
    VersionNotSupported,
    /// The client took too long to send the request head.
    ClientTimeout,
    /// Connecting to the upstream failed (refused, unreachable).
    UpstreamConnect,
    /// Connecting to the upstream took longer than the connect timeout (nothing was sent).
    UpstreamConnectTimeout,
    /// A pooled connection turned out closed by the upstream before any byte of a response,
    /// for a request that can be sent again whole (it has no body).
    UpstreamClosedIdle,
    /// The upstream connection was reset or closed before a complete response.
    UpstreamReset,
    /// The upstream sent a malformed or ambiguous response.
    UpstreamBadResponse,
    /// Connecting to or waiting for the upstream took longer than the timeout.
    UpstreamTimeout,
    /// No upstream endpoint is available.
    NoEndpoint,
    /// A circuit breaker or the concurrency limit of the upstream group is reached: refused
    /// before anything was sent (503, with `Retry-After`).
    UpstreamOverloaded,
    /// No route matches the request.
    NoRoute,
    /// Missing or invalid credentials (401, with `WWW-Authenticate`).
    Unauthorized,
    /// Valid credentials without the required scopes or claims (403).
    Forbidden,
    /// The client address is not allowed (403).
    IpDenied,
    /// Over a rate limit (429, with `Retry-After`).
    RateLimited,
    /// Over a quota (429, with `Retry-After`).
    QuotaExceeded,
    /// A fleet-wide limit's store is down and the limit is set to refuse meanwhile (503, with
    /// `Retry-After`).
    LimitStoreUnavailable,
}

impl ErrorKind {
    /// The HTTP status the client receives.
    pub const fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::UriTooLong => 414,
            Self::HeadersTooLarge => 431,
            Self::PayloadTooLarge => 413,
            Self::MethodNotAllowed => 405,
            Self::ExpectationFailed => 417,
            Self::NotImplemented => 501,
            Self::VersionNotSupported => 505,
            Self::ClientTimeout => 408,
            Self::UpstreamConnect
            | Self::UpstreamClosedIdle
            | Self::UpstreamReset
            | Self::UpstreamBadResponse => 502,
            Self::UpstreamTimeout | Self::UpstreamConnectTimeout => 504,
            Self::NoEndpoint | Self::UpstreamOverloaded | Self::LimitStoreUnavailable => 503,
            Self::NoRoute => 404,
            Self::Unauthorized => 401,
            Self::Forbidden | Self::IpDenied => 403,
            Self::RateLimited | Self::QuotaExceeded => 429,
        }
    }

    /// Stable snake_case code used in JSON error bodies, logs and telemetry.
    pub const fn code(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::UriTooLong => "uri_too_long",
            Self::HeadersTooLarge => "headers_too_large",
            Self::PayloadTooLarge => "payload_too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::ExpectationFailed => "expectation_failed",
            Self::NotImplemented => "not_implemented",
            Self::VersionNotSupported => "http_version_not_supported",
            Self::ClientTimeout => "client_timeout",
            Self::UpstreamConnect => "upstream_connect_failed",
            // Clients see the same codes whatever the phase: what they can act on is a timeout
            // or a reset, not where in the exchange it happened.
            Self::UpstreamClosedIdle | Self::UpstreamReset => "upstream_reset",
            Self::UpstreamBadResponse => "upstream_bad_response",
            Self::UpstreamTimeout | Self::UpstreamConnectTimeout => "upstream_timeout",
            Self::NoEndpoint => "no_endpoint",
            Self::UpstreamOverloaded => "upstream_overloaded",
            Self::NoRoute => "no_route",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::IpDenied => "ip_denied",
            Self::RateLimited => "rate_limited",
            Self::QuotaExceeded => "quota_exceeded",
            Self::LimitStoreUnavailable => "limit_store_unavailable",
        }
    }

    /// Which side is to blame.
    pub const fn side(self) -> Side {
        match self {
            Self::UpstreamConnect
            | Self::UpstreamConnectTimeout
            | Self::UpstreamClosedIdle
            | Self::UpstreamReset
            | Self::UpstreamBadResponse
            | Self::UpstreamTimeout => Side::Upstream,
            Self::NoEndpoint | Self::UpstreamOverloaded | Self::LimitStoreUnavailable => {
                Side::Internal
            }
            _ => Side::Client,
        }
    }

    /// Whether the request may be sent again: only when the upstream cannot have acted on it,
    /// so a retry never duplicates a side effect. A failed connect (nothing was sent) may go
    /// to another endpoint; a pooled connection found closed before any response byte (a
    /// body-less request, whole in hand) goes again on a new connection.
    pub const fn retryable(self) -> bool {
        matches!(
            self,
            Self::UpstreamConnect | Self::UpstreamConnectTimeout | Self::UpstreamClosedIdle
        )
    }

    /// Standard reason phrase for the status.
    pub const fn reason(self) -> &'static str {
        reason_phrase(self.status())
    }
}

/// Reason phrase for the statuses the gateway generates itself.
pub const fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        401 => "Unauthorized",
        403 => "Forbidden",
        409 => "Conflict",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_sides() {
        let table = [
            (ErrorKind::BadRequest, 400, Side::Client),
            (ErrorKind::UriTooLong, 414, Side::Client),
            (ErrorKind::HeadersTooLarge, 431, Side::Client),
            (ErrorKind::PayloadTooLarge, 413, Side::Client),
            (ErrorKind::UpstreamConnect, 502, Side::Upstream),
            (ErrorKind::UpstreamConnectTimeout, 504, Side::Upstream),
            (ErrorKind::UpstreamClosedIdle, 502, Side::Upstream),
            (ErrorKind::UpstreamReset, 502, Side::Upstream),
            (ErrorKind::UpstreamBadResponse, 502, Side::Upstream),
            (ErrorKind::UpstreamTimeout, 504, Side::Upstream),
            (ErrorKind::NoEndpoint, 503, Side::Internal),
            (ErrorKind::UpstreamOverloaded, 503, Side::Internal),
            (ErrorKind::Unauthorized, 401, Side::Client),
            (ErrorKind::Forbidden, 403, Side::Client),
            (ErrorKind::IpDenied, 403, Side::Client),
            (ErrorKind::RateLimited, 429, Side::Client),
            (ErrorKind::QuotaExceeded, 429, Side::Client),
            (ErrorKind::LimitStoreUnavailable, 503, Side::Internal),
        ];
        for (kind, status, side) in table {
            assert_eq!(kind.status(), status, "{kind:?}");
            assert_eq!(kind.side(), side, "{kind:?}");
            assert!(!kind.reason().is_empty(), "{kind:?} has a reason phrase");
        }
        assert!(ErrorKind::UpstreamConnect.retryable());
        assert!(ErrorKind::UpstreamConnectTimeout.retryable());
        assert!(ErrorKind::UpstreamClosedIdle.retryable());
        assert!(!ErrorKind::UpstreamReset.retryable());
        assert!(!ErrorKind::UpstreamTimeout.retryable());
        assert!(!ErrorKind::UpstreamBadResponse.retryable());
        assert_eq!(ErrorKind::UpstreamConnectTimeout.code(), "upstream_timeout");
        assert_eq!(ErrorKind::UpstreamClosedIdle.status(), 502);
    }
}

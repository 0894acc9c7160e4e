//! Why a request was refused, as a value; its header lines are rendered in one place.

use ringway_core::ErrorKind;
use ringway_ratelimit::Decision;

use crate::Identity;

/// Realm in `WWW-Authenticate` challenges.
pub const REALM: &str = "ringway";

/// What a refusal is, each kind answered with one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// An ambiguous credential (sent twice, more than one API key): 400.
    Ambiguous,
    /// No usable credential: 401 with a challenge.
    Unauthenticated,
    /// Valid credentials without a required scope or claim: 403.
    Forbidden,
    /// The client address is not allowed: 403.
    IpDenied,
    /// Over a rate limit: 429.
    RateLimited,
    /// Over a quota: 429.
    QuotaExceeded,
    /// A fleet-wide limit's store is down and the limit refuses meanwhile: 503.
    StoreDown,
}

impl RefusalKind {
    /// The data plane's classification of this refusal.
    pub fn error_kind(self) -> ErrorKind {
        match self {
            RefusalKind::Ambiguous => ErrorKind::BadRequest,
            RefusalKind::Unauthenticated => ErrorKind::Unauthorized,
            RefusalKind::Forbidden => ErrorKind::Forbidden,
            RefusalKind::IpDenied => ErrorKind::IpDenied,
            RefusalKind::RateLimited => ErrorKind::RateLimited,
            RefusalKind::QuotaExceeded => ErrorKind::QuotaExceeded,
            RefusalKind::StoreDown => ErrorKind::LimitStoreUnavailable,
        }
    }
}

/// An RFC 6750 error code and description, as `WWW-Authenticate` carries them.
pub type OAuthError = (&'static str, &'static str);

/// The `WWW-Authenticate` challenges of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Challenge {
    /// A `Bearer` challenge; with an error when the request carried a credential (RFC 6750
    /// §3.1 leaves it out otherwise).
    pub bearer: Option<Option<OAuthError>>,
    /// An `ApiKey` challenge.
    pub api_key: bool,
}

/// The limit that refused a request, for `Retry-After`, `RateLimit-Policy` and `RateLimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitHit<'a> {
    /// The limit's name (a route rule's name, a plan's name, or `<plan>-<window>` for quotas).
    pub name: &'a str,
    /// The refusing decision, with the limit's status.
    pub decision: Decision,
}

/// A refused request: nothing of it is forwarded.
#[derive(Debug, Clone)]
pub struct Refusal<'a> {
    /// What kind of refusal.
    pub kind: RefusalKind,
    /// Challenges to send (401, and the 400/403 of credential problems).
    pub challenge: Challenge,
    /// The limit that refused, for 429s.
    pub limit: Option<LimitHit<'a>>,
    /// Who the client had been authenticated as when it was refused (a consumer over its plan's
    /// limit is still that consumer in the traffic log); anonymous before authentication.
    pub identity: Identity,
}

impl<'a> Refusal<'a> {
    pub(crate) fn new(kind: RefusalKind) -> Self {
        Refusal {
            kind,
            challenge: Challenge::default(),
            limit: None,
            identity: Identity::Anonymous,
        }
    }

    pub(crate) fn challenged(kind: RefusalKind, challenge: Challenge) -> Self {
        Refusal {
            challenge,
            ..Refusal::new(kind)
        }
    }

    pub(crate) fn limited(kind: RefusalKind, name: &'a str, decision: Decision) -> Self {
        Refusal {
            limit: Some(LimitHit { name, decision }),
            ..Refusal::new(kind)
        }
    }

    /// The same refusal of a client authenticated as `identity`.
    pub(crate) fn of(mut self, identity: Identity) -> Self {
        self.identity = identity;
        self
    }

    /// Appends this refusal's header lines (`name: value\r\n`): the challenges, then the
    /// rate-limit fields.
    pub fn write_headers(&self, out: &mut Vec<u8>) {
        if let Some(error) = self.challenge.bearer {
            out.extend_from_slice(b"www-authenticate: ");
            out.extend_from_slice(ringway_auth::www::authenticate(REALM, error).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if self.challenge.api_key {
            out.extend_from_slice(b"www-authenticate: ApiKey realm=\"");
            out.extend_from_slice(REALM.as_bytes());
            out.extend_from_slice(b"\"\r\n");
        }
        if let Some(hit) = &self.limit {
            ringway_ratelimit::write_headers(hit.name, &hit.decision, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringway_ratelimit::Status;

    fn headers(r: &Refusal<'_>) -> String {
        let mut out = Vec::new();
        r.write_headers(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn challenges_and_limit_fields_render_as_header_lines() {
        assert_eq!(headers(&Refusal::new(RefusalKind::IpDenied)), "");
        let both = Refusal::challenged(
            RefusalKind::Unauthenticated,
            Challenge {
                bearer: Some(Some(("invalid_token", "expired"))),
                api_key: true,
            },
        );
        assert_eq!(
            headers(&both),
            "www-authenticate: Bearer realm=\"ringway\", error=\"invalid_token\", \
             error_description=\"expired\"\r\nwww-authenticate: ApiKey realm=\"ringway\"\r\n"
        );
        let status = Status {
            limit: 10,
            window_secs: 1,
            remaining: 0,
            reset_secs: 1,
            retry_after_secs: 1,
        };
        let limited = Refusal::limited(RefusalKind::RateLimited, "per-ip", Decision::Deny(status));
        let text = headers(&limited);
        assert!(text.contains("Retry-After: 1\r\n"), "{text}");
        assert!(
            text.starts_with("RateLimit-Policy: \"per-ip\";q=10;w=1\r\n"),
            "{text}"
        );
        assert_eq!(limited.kind.error_kind(), ErrorKind::RateLimited);
    }
}

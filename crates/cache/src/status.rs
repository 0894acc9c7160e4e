//! The `Cache-Status` response field (RFC 9211): how the cache handled the request.

use std::fmt::Write as _;

/// Why the request went forward to the origin (the `fwd` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// The route or request is not cacheable at all (`bypass`).
    Bypass,
    /// The method is not cached (`method`).
    Method,
    /// Nothing stored under the key (`uri-miss`).
    UriMiss,
    /// Stored, but no variant for the request's `Vary` values (`vary-miss`).
    VaryMiss,
    /// The request asked for it (`no-cache`, `max-age`: `request`).
    Request,
    /// Stored but stale: validated or refetched (`stale`).
    Stale,
}

impl Forward {
    fn as_str(self) -> &'static str {
        match self {
            Self::Bypass => "bypass",
            Self::Method => "method",
            Self::UriMiss => "uri-miss",
            Self::VaryMiss => "vary-miss",
            Self::Request => "request",
            Self::Stale => "stale",
        }
    }
}

/// What happened, for the field and the telemetry record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Served from the store; `ttl` seconds of freshness left (negative: served stale, with
    /// `detail` saying why).
    Hit {
        /// Freshness left, seconds.
        ttl: i64,
        /// `stale-while-revalidate` or `stale-if-error` when served stale.
        detail: Option<&'static str>,
    },
    /// Went to the origin.
    Forward {
        /// Why.
        fwd: Forward,
        /// The origin's status (`fwd-status`), when it answered.
        status: Option<u16>,
        /// The response was stored.
        stored: bool,
        /// It waited for another request's fetch of the same key (`collapsed`).
        collapsed: bool,
        /// Why it was not stored, if it was not.
        detail: Option<&'static str>,
    },
}

/// The `Cache-Status` value of a cache called `name`.
pub fn cache_status(name: &str, h: &Handled) -> String {
    let mut out = String::from(name);
    match *h {
        Handled::Hit { ttl, detail } => {
            let _ = write!(out, "; hit; ttl={ttl}");
            if let Some(d) = detail {
                let _ = write!(out, "; detail={d}");
            }
        }
        Handled::Forward {
            fwd,
            status,
            stored,
            collapsed,
            detail,
        } => {
            let _ = write!(out, "; fwd={}", fwd.as_str());
            if let Some(s) = status {
                let _ = write!(out, "; fwd-status={s}");
            }
            if stored {
                out.push_str("; stored");
            }
            if collapsed {
                out.push_str("; collapsed");
            }
            if let Some(d) = detail {
                let _ = write!(out, "; detail={d}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_as_rfc9211_shows() {
        assert_eq!(
            cache_status(
                "ringway",
                &Handled::Hit {
                    ttl: 42,
                    detail: None
                }
            ),
            "ringway; hit; ttl=42"
        );
        assert_eq!(
            cache_status(
                "ringway",
                &Handled::Hit {
                    ttl: -3,
                    detail: Some("stale-while-revalidate")
                }
            ),
            "ringway; hit; ttl=-3; detail=stale-while-revalidate"
        );
        assert_eq!(
            cache_status(
                "ringway",
                &Handled::Forward {
                    fwd: Forward::Stale,
                    status: Some(304),
                    stored: true,
                    collapsed: false,
                    detail: None
                }
            ),
            "ringway; fwd=stale; fwd-status=304; stored"
        );
        assert_eq!(
            cache_status(
                "ringway",
                &Handled::Forward {
                    fwd: Forward::UriMiss,
                    status: Some(200),
                    stored: false,
                    collapsed: true,
                    detail: Some("private")
                }
            ),
            "ringway; fwd=uri-miss; fwd-status=200; collapsed; detail=private"
        );
    }
}

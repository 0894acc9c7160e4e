//! What may be stored (RFC 9111 §3), for how long it is fresh (§4.2.1), how old it is
//! (§4.2.3), and whether a stored response may answer a request (§4.2, §4.2.4, RFC 5861).
//! Times are whole seconds of [`SystemTime`], passed in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::control::{RequestControl, ResponseControl, SurrogateControl};

/// Why a response is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStored {
    /// Not GET (HEAD is answered from a stored GET, never stored by itself).
    Method,
    /// Not a final status, a partial one, or not one a cache may store without explicit
    /// freshness.
    Status,
    /// `no-store` on the request or the response.
    NoStore,
    /// `private`: a shared cache stores none of it.
    Private,
    /// The request carried `Authorization` and the response did not allow sharing it
    /// (`public`, `s-maxage` or `must-revalidate`; RFC 9111 §3.5).
    Authorization,
    /// `Set-Cookie` on the response (stored only when the route allows it).
    SetCookie,
    /// `Vary: *`.
    VaryStar,
    /// Neither fresh for any time nor revalidatable (no `ETag` or `Last-Modified`).
    Useless,
}

impl NotStored {
    /// A short name for logs and `Cache-Status` `detail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Method => "method",
            Self::Status => "status",
            Self::NoStore => "no-store",
            Self::Private => "private",
            Self::Authorization => "authorization",
            Self::SetCookie => "set-cookie",
            Self::VaryStar => "vary-star",
            Self::Useless => "no-freshness",
        }
    }
}

/// Statuses a cache may store without explicit freshness ("heuristically cacheable",
/// RFC 9110 §15.1); 206 is left out (ranges are not cached).
pub fn heuristically_cacheable(status: u16) -> bool {
    matches!(
        status,
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Statuses whose caching rules this cache implements (for `must-understand`).
pub fn understood(status: u16) -> bool {
    heuristically_cacheable(status) || matches!(status, 302 | 303 | 307)
}

/// What the route's `cache:` settings allow beyond the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Heuristic freshness: this percent of the time since `Last-Modified` (RFC 9111
    /// §4.2.2), capped at `heuristic_max`; `None` (the default): none.
    pub heuristic_percent: Option<u8>,
    /// The cap of heuristic freshness.
    pub heuristic_max: Duration,
    /// Store responses that set cookies (the cookie is stored and replayed to everyone).
    pub store_set_cookie: bool,
}

/// The facts of a response the decisions need, read from its head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseFacts {
    /// Final status.
    pub status: u16,
    /// `Cache-Control`.
    pub control: ResponseControl,
    /// `Date`, if present and valid.
    pub date: Option<SystemTime>,
    /// `Expires`: `Some(Ok(t))` valid, `Some(Err(()))` present but invalid (stale: §5.3).
    pub expires: Option<Result<SystemTime, ()>>,
    /// `Last-Modified`, if valid.
    pub last_modified: Option<SystemTime>,
    /// `Age` in seconds, if valid.
    pub age: Option<u64>,
    /// Has an `ETag`.
    pub etag: bool,
    /// Has `Set-Cookie`.
    pub set_cookie: bool,
    /// `Vary` lists `*`.
    pub vary_star: bool,
    /// `Surrogate-Control`, when it has directives for this cache.
    pub surrogate: Option<SurrogateControl>,
}

/// An HTTP-date (IMF-fixdate, RFC 850 or asctime, RFC 9110 §5.6.7).
pub fn parse_date(value: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(value).ok()?.trim();
    httpdate::parse_http_date(text).ok()
}

/// The IMF-fixdate of `t` (for `Date` and `Last-Modified` values we write).
pub fn format_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whether a shared cache may store this response to a GET (`authorization`: the request
/// carried one; `req`: its `Cache-Control`).
pub fn storable(
    req: &RequestControl,
    authorization: bool,
    resp: &ResponseFacts,
    policy: &Policy,
) -> Result<(), NotStored> {
    let c = &resp.control;
    if !(200..=599).contains(&resp.status) || resp.status == 206 || resp.status == 304 {
        return Err(NotStored::Status);
    }
    // `must-understand` overrides `no-store` for a status whose rules are understood
    // (RFC 9111 §5.2.2.3); an unknown status is not stored at all.
    if c.must_understand && !understood(resp.status) {
        return Err(NotStored::Status);
    }
    let surrogate = resp.surrogate.unwrap_or_default();
    // Surrogate-Control speaks to gateway caches over Cache-Control, no-store included.
    let no_store = if surrogate.max_age.is_some() {
        false
    } else {
        c.no_store && !(c.must_understand && understood(resp.status))
    };
    if req.no_store || surrogate.no_store || no_store {
        return Err(NotStored::NoStore);
    }
    if c.private {
        return Err(NotStored::Private);
    }
    if authorization && !(c.public || c.s_maxage.is_some() || c.must_revalidate) {
        return Err(NotStored::Authorization);
    }
    if resp.set_cookie && !policy.store_set_cookie {
        return Err(NotStored::SetCookie);
    }
    if resp.vary_star {
        return Err(NotStored::VaryStar);
    }
    let explicit = c.max_age.is_some()
        || c.s_maxage.is_some()
        || resp.expires.is_some()
        || surrogate.max_age.is_some();
    if !(explicit || c.public || heuristically_cacheable(resp.status)) {
        return Err(NotStored::Status);
    }
    let validators = resp.etag || resp.last_modified.is_some();
    if freshness_lifetime(resp, policy) == 0 && !validators && c.stale_if_error.is_none() {
        return Err(NotStored::Useless);
    }
    Ok(())
}

/// The freshness lifetime in seconds (§4.2.1): `s-maxage`, else `max-age`, else `Expires`
/// minus `Date`, else the configured heuristic; 0 when a directive conflicts or `Expires` is
/// invalid.
pub fn freshness_lifetime(resp: &ResponseFacts, policy: &Policy) -> u64 {
    let c = &resp.control;
    if let Some(s) = resp.surrogate.and_then(|s| s.max_age) {
        return s;
    }
    if c.conflicting {
        return 0;
    }
    if let Some(s) = c.s_maxage {
        return s;
    }
    if let Some(m) = c.max_age {
        return m;
    }
    match resp.expires {
        Some(Ok(expires)) => {
            // Without Date, the time it was received stands in (the caller set it).
            let date = resp.date.map_or(0, secs);
            return secs(expires).saturating_sub(date);
        }
        Some(Err(())) => return 0,
        None => {}
    }
    match (policy.heuristic_percent, resp.last_modified, resp.date) {
        (Some(pct), Some(lm), Some(date)) if heuristically_cacheable(resp.status) => {
            let since = secs(date).saturating_sub(secs(lm));
            (since * u64::from(pct) / 100).min(policy.heuristic_max.as_secs())
        }
        _ => 0,
    }
}

/// A stored response's timing: enough to compute its age at any later time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// When the request that fetched it was sent.
    pub request_time: SystemTime,
    /// When its response head arrived.
    pub response_time: SystemTime,
    /// Its `Date` (or `response_time` when it had none).
    pub date: SystemTime,
    /// Its `Age` on arrival, seconds.
    pub age: u64,
    /// Freshness lifetime, seconds.
    pub lifetime: u64,
}

impl Timing {
    /// The timing of `resp` fetched by a request sent at `request_time`, its head received at
    /// `response_time`.
    pub fn new(
        resp: &ResponseFacts,
        policy: &Policy,
        request_time: SystemTime,
        response_time: SystemTime,
    ) -> Self {
        let date = resp.date.unwrap_or(response_time);
        let facts = ResponseFacts {
            date: Some(date),
            ..resp.clone()
        };
        Self {
            request_time,
            response_time,
            date,
            age: resp.age.unwrap_or(0),
            lifetime: freshness_lifetime(&facts, policy),
        }
    }

    /// The current age in seconds (§4.2.3).
    pub fn age_at(&self, now: SystemTime) -> u64 {
        let apparent = secs(self.response_time).saturating_sub(secs(self.date));
        let delay = secs(self.response_time).saturating_sub(secs(self.request_time));
        let corrected = self.age + delay;
        let initial = apparent.max(corrected);
        initial + secs(now).saturating_sub(secs(self.response_time))
    }

    /// Seconds of freshness left at `now` (negative: stale by that much).
    pub fn ttl_at(&self, now: SystemTime) -> i64 {
        i64::try_from(self.lifetime).unwrap_or(i64::MAX)
            - i64::try_from(self.age_at(now)).unwrap_or(i64::MAX)
    }
}

/// How a stored response may be used for a request at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Fresh (or stale within the request's `max-stale`): serve it.
    Fresh,
    /// Stale within `stale-while-revalidate`: serve it and refresh it in the background.
    StaleWhileRevalidate,
    /// Must be validated with the origin first (a 304 lets it be served). Within
    /// `stale-if-error`, it may still be served if the origin errs.
    Revalidate {
        /// Serve it if the origin fails or answers 5xx.
        if_error: bool,
    },
}

/// How the stored response (`control`, `timing`) may answer a request (`req`) at `now`.
pub fn usable(
    req: &RequestControl,
    control: &ResponseControl,
    timing: &Timing,
    now: SystemTime,
) -> Use {
    let ttl = timing.ttl_at(now);
    let age = timing.age_at(now);
    let stale_by = u64::try_from(-ttl).unwrap_or(0);
    let if_error = control
        .stale_if_error
        .is_some_and(|s| stale_by <= s && !control.must_revalidate && !control.proxy_revalidate);
    let revalidate = Use::Revalidate { if_error };
    if control.no_cache || req.no_cache || req.max_age.is_some_and(|m| age > m) {
        return revalidate;
    }
    let min_fresh = i64::try_from(req.min_fresh.unwrap_or(0)).unwrap_or(i64::MAX);
    if ttl > 0 && ttl >= min_fresh {
        return Use::Fresh;
    }
    let strict = control.must_revalidate || control.proxy_revalidate || control.s_maxage.is_some();
    if ttl <= 0 && !strict && req.max_stale.is_some_and(|m| stale_by <= m) {
        return Use::Fresh;
    }
    if ttl <= 0
        && !strict
        && control
            .stale_while_revalidate
            .is_some_and(|s| stale_by <= s)
    {
        return Use::StaleWhileRevalidate;
    }
    revalidate
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    fn facts(cc: &str) -> ResponseFacts {
        ResponseFacts {
            status: 200,
            control: ResponseControl::parse([cc.as_bytes()]),
            date: Some(at(0)),
            ..ResponseFacts::default()
        }
    }

    #[test]
    fn lifetime_prefers_s_maxage_then_max_age_then_expires() {
        let p = Policy::default();
        assert_eq!(
            freshness_lifetime(&facts("max-age=60, s-maxage=90"), &p),
            90
        );
        assert_eq!(freshness_lifetime(&facts("max-age=60"), &p), 60);
        let mut f = facts("");
        f.expires = Some(Ok(at(30)));
        assert_eq!(freshness_lifetime(&f, &p), 30);
        f.expires = Some(Err(()));
        assert_eq!(freshness_lifetime(&f, &p), 0, "an invalid Expires is stale");
        assert_eq!(freshness_lifetime(&facts("max-age=60, max-age=5"), &p), 0);
        // No heuristic unless configured.
        let mut f = facts("");
        f.last_modified = Some(at(0) - Duration::from_secs(1000));
        assert_eq!(freshness_lifetime(&f, &p), 0);
        let h = Policy {
            heuristic_percent: Some(10),
            heuristic_max: Duration::from_secs(60),
            ..Policy::default()
        };
        assert_eq!(
            freshness_lifetime(&f, &h),
            60,
            "10% of 1000 s, capped at 60"
        );
    }

    #[test]
    fn what_is_not_stored() {
        let (req, p) = (RequestControl::default(), Policy::default());
        let check = |f: &ResponseFacts, auth: bool| storable(&req, auth, f, &p);
        assert_eq!(check(&facts("max-age=60"), false), Ok(()));
        assert_eq!(
            check(&facts("no-store, max-age=60"), false),
            Err(NotStored::NoStore)
        );
        assert_eq!(
            check(&facts("private, max-age=60"), false),
            Err(NotStored::Private)
        );
        assert_eq!(
            check(&facts("max-age=60"), true),
            Err(NotStored::Authorization)
        );
        assert_eq!(check(&facts("s-maxage=60"), true), Ok(()));
        assert_eq!(check(&facts("public, max-age=60"), true), Ok(()));
        let mut cookie = facts("max-age=60");
        cookie.set_cookie = true;
        assert_eq!(check(&cookie, false), Err(NotStored::SetCookie));
        let mut star = facts("max-age=60");
        star.vary_star = true;
        assert_eq!(check(&star, false), Err(NotStored::VaryStar));
        let mut partial = facts("max-age=60");
        partial.status = 206;
        assert_eq!(check(&partial, false), Err(NotStored::Status));
        let mut odd = facts("max-age=60, must-understand, no-store");
        odd.status = 599;
        assert_eq!(check(&odd, false), Err(NotStored::Status));
        odd.status = 200;
        assert_eq!(
            check(&odd, false),
            Ok(()),
            "understood: no-store is overridden"
        );
        let mut created = facts("");
        created.status = 201;
        assert_eq!(check(&created, false), Err(NotStored::Status));
        assert_eq!(check(&facts(""), false), Err(NotStored::Useless));
        let mut tagged = facts("");
        tagged.etag = true;
        assert_eq!(check(&tagged, false), Ok(()), "stored to be revalidated");
        let no_store_req = RequestControl {
            no_store: true,
            ..RequestControl::default()
        };
        assert_eq!(
            storable(&no_store_req, false, &facts("max-age=60"), &p),
            Err(NotStored::NoStore)
        );
    }

    #[test]
    fn age_counts_the_delay_and_the_age_received() {
        let mut f = facts("max-age=100");
        f.age = Some(10);
        // Sent at 0, received at 2, Date says 1 (clock skew is ignored: apparent age 1).
        f.date = Some(at(1));
        let t = Timing::new(&f, &Policy::default(), at(0), at(2));
        assert_eq!(t.age_at(at(2)), 12, "age 10 + 2 s of delay");
        assert_eq!(t.age_at(at(50)), 60);
        assert_eq!(t.ttl_at(at(50)), 40);
    }

    #[test]
    fn usability_fresh_stale_and_the_rfc5861_windows() {
        let none = RequestControl::default();
        let cc = ResponseControl::parse([
            b"max-age=10, stale-while-revalidate=5, stale-if-error=60".as_slice(),
        ]);
        let t = Timing::new(&facts("max-age=10"), &Policy::default(), at(0), at(0));
        assert_eq!(usable(&none, &cc, &t, at(5)), Use::Fresh);
        assert_eq!(usable(&none, &cc, &t, at(12)), Use::StaleWhileRevalidate);
        assert_eq!(
            usable(&none, &cc, &t, at(20)),
            Use::Revalidate { if_error: true }
        );
        assert_eq!(
            usable(&none, &cc, &t, at(80)),
            Use::Revalidate { if_error: false }
        );
        let must =
            ResponseControl::parse([b"max-age=10, must-revalidate, stale-if-error=60".as_slice()]);
        assert_eq!(
            usable(&none, &must, &t, at(20)),
            Use::Revalidate { if_error: false }
        );
        // Request directives.
        let no_cache = RequestControl::parse([b"no-cache".as_slice()]);
        // Revalidated first; still served if the origin fails (it is within stale-if-error).
        assert_eq!(
            usable(&no_cache, &cc, &t, at(1)),
            Use::Revalidate { if_error: true }
        );
        let young = RequestControl::parse([b"max-age=2".as_slice()]);
        assert_eq!(
            usable(&young, &cc, &t, at(5)),
            Use::Revalidate { if_error: true }
        );
        let stale_ok = RequestControl::parse([b"max-stale=30".as_slice()]);
        assert_eq!(usable(&stale_ok, &cc, &t, at(30)), Use::Fresh);
        let fresh_for = RequestControl::parse([b"min-fresh=8".as_slice()]);
        assert_eq!(
            usable(&fresh_for, &cc, &t, at(5)),
            Use::Revalidate { if_error: true }
        );
        assert_eq!(
            usable(&fresh_for, &cc, &t, at(1)),
            Use::Fresh,
            "9 s left > 8"
        );
    }

    #[test]
    fn dates_in_all_three_formats() {
        let t = parse_date(b"Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse_date(b"Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(parse_date(b"yesterday"), None);
        assert_eq!(format_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}

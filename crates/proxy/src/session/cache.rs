//! The edge cache on the request path. The lookup comes after admission, so a hit has passed
//! the IP filters, credentials and rate limits (and counts toward them) like any request. A
//! fresh stored response is written from the store with `Age` and `Cache-Status`; a miss goes
//! forward, and a storable response of known length within `max_object_bytes` is read whole,
//! stored, then sent (store-and-forward of bounded objects; larger ones stream through).

use std::rc::Rc;
use std::time::{Instant, SystemTime};

use ringway_cache::{
    cache_status, freshness, storable, usable, vary_names, vary_values, Forward, Handled,
    NotStored, Policy, PrimaryKey, RequestControl, ResponseControl, ResponseFacts, Timing, Use,
};
use ringway_config::model::{HeaderOps, ProxyAction, RouteCache};
use ringway_core::{ErrorKind, Side};
use ringway_telemetry::record::CacheStatus;

use super::view::header_value;
use super::{Failure, Session};
use crate::cache::{Found, Variant};
use crate::codec::{write_stored_head, Body, Method, OutBody, ResponseHead};
use crate::framing;
use crate::io::Conn;
use crate::per_core::Core;
use crate::stats::bump;
use crate::upstream::UpConn;

/// The name in `Cache-Status`.
const CACHE_NAME: &str = "ringway";

/// What the lookup decided.
pub(super) enum Lookup {
    /// Serve this stored response (fresh for `ttl` more seconds).
    Hit(Rc<Variant>, i64),
    /// Serve this stale response now (within `stale-while-revalidate`), then refresh it.
    Stale(Rc<Variant>, i64, Fill),
    /// Go forward; the response may be stored.
    Fill(Fill),
    /// Go forward; nothing is stored (not GET/HEAD, a body, ...).
    Bypass,
    /// An unsafe method: stored responses of its target go once it succeeds.
    Invalidate(Invalidation),
}

/// What an unsafe request invalidates if it succeeds: its target, and the `Location` and
/// `Content-Location` of its response when they are on the same host (RFC 9111 §4.4).
pub(super) struct Invalidation {
    key: PrimaryKey,
    host: Vec<u8>,
    extras: Vec<Vec<u8>>,
}

/// Request fields that make a request conditional (the client's own validation).
const CONDITIONALS: [&str; 5] = [
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
    "if-range",
];

/// The first value of field `name` in a stored response.
fn stored_field<'a>(v: &'a Variant, name: &str) -> Option<&'a [u8]> {
    header_value(&v.raw, &v.head.headers, name.as_bytes())
}

/// Whether an `If-None-Match` list matches entity tag `etag` (weak comparison, RFC 9110
/// §13.1.2).
fn none_match(list: &[&[u8]], etag: &[u8]) -> bool {
    let weak = |t: &[u8]| -> Vec<u8> { t.strip_prefix(b"W/").unwrap_or(t).to_vec() };
    let etag = weak(etag.trim_ascii());
    list.iter()
        .flat_map(|l| l.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .any(|t| t == b"*" || weak(t) == etag)
}

/// A miss on its way to the origin.
pub(super) struct Fill {
    key: PrimaryKey,
    control: RequestControl,
    authorization: bool,
    sent_at: SystemTime,
    fwd: Forward,
    /// The stale entry, when there was one.
    stale: Option<Rc<Variant>>,
    /// Conditional fields for `stale` were added to the request: a 304 freshens it.
    validating: bool,
    /// `stale` may be served if the origin fails (`stale-if-error`).
    if_error: bool,
}

/// What the cache hands to the origin path of a request.
#[derive(Default)]
pub(super) struct Origin<'c> {
    /// The route's cache settings, on a cached route.
    pub cache: Option<&'c RouteCache>,
    /// A response to store, or to freshen a stale entry with.
    pub fill: Option<Fill>,
    /// What a successful unsafe request invalidates.
    pub invalidate: Option<Invalidation>,
    /// A refresh after a stale response was served: nothing goes to the client.
    pub background: bool,
}

impl Fill {
    /// Whether a 304 from the origin answers this fill's own validation.
    pub(super) fn validating(&self) -> bool {
        self.validating
    }

    /// The stale entry to serve if the origin fails.
    pub(super) fn stale_if_error(&self) -> Option<&Rc<Variant>> {
        self.stale.as_ref().filter(|_| self.if_error)
    }

    /// The key being filled.
    pub(super) fn key(&self) -> &PrimaryKey {
        &self.key
    }

    /// Whether other requests for the key may wait for this one (not when the client asked
    /// to bypass stored copies).
    pub(super) fn coalesces(&self) -> bool {
        self.fwd != Forward::Request
    }
}

/// A response to store: everything but the body, read next.
pub(super) struct ToStore {
    key: PrimaryKey,
    names: Vec<String>,
    values: Vec<Option<Vec<u8>>>,
    raw: Box<[u8]>,
    head: ResponseHead,
    control: ResponseControl,
    timing: Timing,
    len: usize,
    fwd: Forward,
}

/// The values of every field line named `name` in a head.
fn lines<'a>(buf: &'a [u8], headers: &[crate::codec::Header], name: &str) -> Vec<&'a [u8]> {
    headers
        .iter()
        .filter(|h| h.name.of(buf).eq_ignore_ascii_case(name.as_bytes()))
        .map(|h| h.value.of(buf))
        .collect()
}

fn policy(rc: &RouteCache) -> Policy {
    Policy {
        heuristic_percent: rc.heuristic_percent,
        heuristic_max: rc.heuristic_max,
        store_set_cookie: rc.store_set_cookie,
    }
}

/// The facts of a response head the decisions need.
fn response_facts(buf: &[u8], head: &ResponseHead) -> ResponseFacts {
    let h = &head.headers;
    let one = |name: &str| header_value(buf, h, name.as_bytes());
    let mut control = ResponseControl::parse(lines(buf, h, "cache-control"));
    // `Age` must be one valid delta-seconds; anything else makes the response stale.
    let ages = lines(buf, h, "age");
    let valid_age = |v: &[u8]| {
        std::str::from_utf8(v)
            .ok()
            .and_then(|s| ringway_cache::control::delta_seconds(s.trim()))
    };
    if !ages.is_empty() && (ages.len() > 1 || valid_age(ages[0]).is_none()) {
        control.conflicting = true;
    }
    ResponseFacts {
        status: head.status,
        control,
        date: one("date").and_then(freshness::parse_date),
        expires: one("expires").map(|v| freshness::parse_date(v).ok_or(())),
        last_modified: one("last-modified").and_then(freshness::parse_date),
        age: one("age").and_then(|v| {
            ringway_cache::control::delta_seconds(std::str::from_utf8(v).ok()?.trim())
        }),
        etag: one("etag").is_some(),
        set_cookie: one("set-cookie").is_some(),
        vary_star: vary_names(lines(buf, h, "vary")).is_none(),
        surrogate: ringway_cache::control::SurrogateControl::parse(lines(
            buf,
            h,
            "surrogate-control",
        )),
    }
}

impl Session {
    /// [`Session::forward`] on a cached route: a hit is served from the store; a stale entry
    /// within `stale-while-revalidate` is served, then refreshed by this same task before it
    /// reads the connection's next request; a miss is fetched once per key and core
    /// (coalescing) and stored; a stale entry within `stale-if-error` answers an origin
    /// failure. Returns whether the client connection stays open.
    pub(super) async fn forward_cached(
        &mut self,
        client: &mut Conn,
        core: &Core,
        route: usize,
        action: &ProxyAction,
        rc: &RouteCache,
        ops: Option<&HeaderOps>,
    ) -> Result<bool, Failure> {
        let appended = self.req.policy_headers.len();
        let mut waited = false;
        let mut origin = Origin {
            cache: Some(rc),
            ..Origin::default()
        };
        // The request that fetches a key for this core (others wait for it), until it ends.
        let mut _filling = None;
        loop {
            match self.cache_lookup(client, core, rc)? {
                Lookup::Hit(v, ttl) => {
                    bump(&core.cache.counters.hits);
                    self.req.rec.cache = CacheStatus::Hit;
                    let not_modified = self.client_not_modified(client, &v);
                    client.consume(self.head.len);
                    let handled = Handled::Hit { ttl, detail: None };
                    return self
                        .serve_stored(client, &v, handled, ops, not_modified)
                        .await;
                }
                Lookup::Stale(v, ttl, fill) => {
                    bump(&core.cache.counters.hits);
                    self.req.rec.cache = CacheStatus::Hit;
                    let not_modified = self.client_not_modified(client, &v);
                    let handled = Handled::Hit {
                        ttl,
                        detail: Some("stale-while-revalidate"),
                    };
                    // The head stays buffered for the refresh.
                    let keep_alive = self
                        .serve_stored(client, &v, handled, ops, not_modified)
                        .await?;
                    let served = self.req.rec.status;
                    // One refresh per key and core; the client already has its answer.
                    if let Ok(_refreshing) = core.cache.begin_fill(fill.key()) {
                        let refresh = Origin {
                            cache: Some(rc),
                            fill: Some(fill),
                            invalidate: None,
                            background: true,
                        };
                        let _ = self
                            .forward_to_origin(client, core, route, action, ops, refresh)
                            .await;
                    }
                    self.req.rec.status = served;
                    client.consume(self.head.len);
                    return Ok(keep_alive);
                }
                Lookup::Fill(f) => {
                    // One fetch per key per core: a second miss waits for the first
                    // (bounded), then looks again; a key found uncacheable lately, or a
                    // wait that ended without a stored response, goes to the origin.
                    if !waited && f.coalesces() && !core.cache.recently_uncacheable(f.key()) {
                        match core.cache.begin_fill(f.key()) {
                            Ok(guard) => _filling = Some(guard),
                            Err(pending) => {
                                waited = true;
                                self.req.policy_headers.truncate(appended);
                                let _ =
                                    monoio::time::timeout(rc.coalesce_wait, pending.wait()).await;
                                continue;
                            }
                        }
                    }
                    bump(&core.cache.counters.misses);
                    self.req.rec.cache = CacheStatus::Miss;
                    origin.fill = Some(f);
                }
                Lookup::Invalidate(inv) => origin.invalidate = Some(inv),
                Lookup::Bypass => self.req.rec.cache = CacheStatus::Bypass,
            }
            break;
        }
        let stale = origin.fill.as_ref().and_then(Fill::stale_if_error).cloned();
        let written = client.written;
        let result = self
            .forward_to_origin(client, core, route, action, ops, origin)
            .await;
        match (result, stale) {
            // The origin failed (or answered 5xx) before anything was sent: the stale entry
            // answers instead (RFC 5861 `stale-if-error`).
            (Err(Failure::Respond(kind)), Some(v))
                if kind.side() != Side::Client && client.written == written =>
            {
                let mut not_modified = false;
                if client.consumed == self.req.consumed_at_start {
                    not_modified = self.client_not_modified(client, &v);
                    client.consume(self.head.len);
                }
                let handled = Handled::Hit {
                    ttl: v.timing.ttl_at(SystemTime::now()),
                    detail: Some("stale-if-error"),
                };
                self.req.rec.cache = CacheStatus::Hit;
                self.serve_stored(client, &v, handled, ops, not_modified)
                    .await
            }
            (result, _) => result,
        }
    }

    /// Looks the request up on a cached route (`rc`).
    pub(super) fn cache_lookup(
        &mut self,
        client: &Conn,
        core: &Core,
        rc: &RouteCache,
    ) -> Result<Lookup, Failure> {
        // Invalidations from the other cores first.
        core.cache.drain();
        let buf = &client.buffered()[..self.head.len];
        let h = &self.head.headers;
        let host = self
            .head
            .authority
            .or(self.head.host)
            .map_or(&[][..], |s| s.of(buf));
        let target = self.head.path.of(buf);
        let mut extras: Vec<&[u8]> = rc
            .key_headers
            .iter()
            .map(|n| header_value(buf, h, n.as_bytes()).unwrap_or_default())
            .collect();
        let consumer = self.req.rec.client_id;
        if rc.key_consumer {
            extras.push(consumer.as_bytes());
        }
        let key = core.cache.key(self.proto, host, target, &extras);
        match self.head.method_kind {
            Method::Get | Method::Head if self.head.body == Body::None => {}
            // Unsafe methods (RFC 9111 §4.4): what is stored for the target (with this
            // request's key extras) goes once the origin accepts it.
            Method::IdempotentOther | Method::Other => {
                return Ok(Lookup::Invalidate(Invalidation {
                    key,
                    host: host.to_vec(),
                    extras: extras.iter().map(|e| e.to_vec()).collect(),
                }))
            }
            _ => return Ok(Lookup::Bypass),
        }
        let cc = lines(buf, h, "cache-control");
        // `Pragma: no-cache` counts only without Cache-Control (RFC 9111 §5.4).
        let pragma = cc.is_empty()
            && lines(buf, h, "pragma")
                .iter()
                .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"no-cache"));
        let mut control = RequestControl::parse(cc);
        control.no_cache |= pragma;
        let now = SystemTime::now();
        let mut stale = None;
        let (mut if_error, mut swr) = (false, false);
        let found = core
            .cache
            .lookup(&key, |names| vary_values(names, |n| lines(buf, h, n)));
        let fwd = match found {
            Found::Variant(v) => match usable(&control, &v.control, &v.timing, now) {
                Use::Fresh => {
                    let ttl = v.timing.ttl_at(now);
                    return Ok(Lookup::Hit(v, ttl));
                }
                not_fresh => {
                    match not_fresh {
                        Use::Revalidate { if_error: e } => if_error = e,
                        _ => swr = true,
                    }
                    let fwd = if control.no_cache || control.max_age.is_some() {
                        Forward::Request
                    } else {
                        Forward::Stale
                    };
                    stale = Some(v);
                    fwd
                }
            },
            Found::OtherVariant => Forward::VaryMiss,
            Found::Nothing => Forward::UriMiss,
        };
        // Validate the stored copy instead of refetching it, unless the client validates
        // its own copy (then its conditional goes as it is).
        let mut validating = false;
        if let Some(v) = &stale {
            let own = CONDITIONALS.iter().any(|n| !lines(buf, h, n).is_empty());
            if !own {
                for (field, name) in [
                    ("etag", "if-none-match"),
                    ("last-modified", "if-modified-since"),
                ] {
                    if let Some(value) = stored_field(v, field) {
                        let p = &mut self.req.policy_headers;
                        for part in [name.as_bytes(), b": ", value, b"\r\n"] {
                            p.extend_from_slice(part);
                        }
                        validating = true;
                    }
                }
            }
        }
        if control.only_if_cached {
            // RFC 9111 §5.2.1.7: nothing usable stored.
            return Err(Failure::Respond(ErrorKind::UpstreamTimeout));
        }
        let fill = Fill {
            key,
            authorization: !lines(buf, h, "authorization").is_empty(),
            control,
            sent_at: now,
            fwd,
            stale: stale.clone(),
            validating,
            if_error,
        };
        match stale {
            // A HEAD is not refreshed behind (its response is not stored): it validates.
            Some(v) if swr && self.head.method_kind == Method::Get => {
                let ttl = v.timing.ttl_at(now);
                Ok(Lookup::Stale(v, ttl, fill))
            }
            _ => Ok(Lookup::Fill(fill)),
        }
    }

    /// Whether the client's own conditional (`If-None-Match`, else `If-Modified-Since`) is
    /// satisfied by the stored response `v`: then a 304 is the answer (RFC 9111 §4.3.2).
    pub(super) fn client_not_modified(&self, client: &Conn, v: &Variant) -> bool {
        let buf = &client.buffered()[..self.head.len];
        let h = &self.head.headers;
        let inm = lines(buf, h, "if-none-match");
        if !inm.is_empty() {
            return stored_field(v, "etag").is_some_and(|etag| none_match(&inm, etag));
        }
        let since = lines(buf, h, "if-modified-since")
            .first()
            .and_then(|d| freshness::parse_date(d));
        let modified = stored_field(v, "last-modified")
            .or_else(|| stored_field(v, "date"))
            .and_then(freshness::parse_date);
        matches!((since, modified), (Some(s), Some(m)) if m <= s)
    }

    /// After an unsafe request succeeded: drops its target and, on the same host, its
    /// response's `Location` and `Content-Location`, on every core.
    pub(super) fn cache_invalidate(&self, up: &UpConn, core: &Core, inv: Invalidation) {
        core.cache.remove(&inv.key);
        let buf = &up.conn.buffered()[..self.resp.len];
        let extras: Vec<&[u8]> = inv.extras.iter().map(Vec::as_slice).collect();
        for name in ["location", "content-location"] {
            let Some(value) = header_value(buf, &self.resp.headers, name.as_bytes()) else {
                continue;
            };
            let target = if value.starts_with(b"/") && !value.starts_with(b"//") {
                Some(value)
            } else {
                // An absolute URI: only on this request's scheme and host.
                let rest = value
                    .strip_prefix(self.proto)
                    .and_then(|r| r.strip_prefix(b"://"));
                rest.and_then(|r| {
                    let slash = r.iter().position(|&b| b == b'/')?;
                    r[..slash]
                        .eq_ignore_ascii_case(&inv.host)
                        .then_some(&r[slash..])
                })
            };
            if let Some(target) = target {
                let key = core.cache.key(self.proto, &inv.host, target, &extras);
                core.cache.remove(&key);
            }
        }
    }

    /// A 304 answering the validation of `fill`'s stale entry: the entry's fields are
    /// updated from it (RFC 9111 §4.3.4: each field it carries replaces the stored one, except
    /// `Content-Length` and hop-by-hop ones), its freshness starts again, and it is stored.
    /// `None` when the 304 does not fit the entry (then it goes to the client as it is).
    pub(super) fn cache_freshen(
        &self,
        up: &UpConn,
        core: &Core,
        fill: &Fill,
        rc: &RouteCache,
    ) -> Option<(Rc<Variant>, bool)> {
        let stale = fill.stale.as_ref().filter(|_| fill.validating)?;
        let buf = &up.conn.buffered()[..self.resp.len];
        // What identifies or frames the stored body stays as stored.
        const KEPT: [&[u8]; 4] = [
            b"etag",
            b"content-encoding",
            b"content-range",
            b"content-md5",
        ];
        let updated: Vec<&crate::codec::Header> = self
            .resp
            .headers
            .iter()
            .filter(|h| !h.kind.is_hop_by_hop() && !h.connection_named)
            .filter(|h| !KEPT.iter().any(|k| h.name.of(buf).eq_ignore_ascii_case(k)))
            .collect();
        let replaced = |name: &[u8]| {
            updated
                .iter()
                .any(|u| u.name.of(buf).eq_ignore_ascii_case(name))
        };
        let mut raw = Vec::with_capacity(stale.raw.len() + buf.len());
        let status = stale.head.status.to_string();
        for part in [
            b"HTTP/1.1 ".as_slice(),
            status.as_bytes(),
            b" ",
            stale.head.reason.of(&stale.raw),
            b"\r\n",
        ] {
            raw.extend_from_slice(part);
        }
        let kept = stale.head.headers.iter().filter(|h| {
            h.kind == crate::codec::Name::ContentLength || !replaced(h.name.of(&stale.raw))
        });
        for h in kept {
            for part in [
                h.name.of(&stale.raw),
                b": ",
                h.value.of(&stale.raw),
                b"\r\n",
            ] {
                raw.extend_from_slice(part);
            }
        }
        for h in &updated {
            for part in [h.name.of(buf), b": ", h.value.of(buf), b"\r\n"] {
                raw.extend_from_slice(part);
            }
        }
        raw.extend_from_slice(b"\r\n");
        let mut head = ResponseHead::default();
        head.parse(&raw, false, 200).ok()?;
        let facts = response_facts(&raw, &head);
        let policy = policy(rc);
        let timing = Timing::new(&facts, &policy, fill.sent_at, SystemTime::now());
        let storable = storable(&fill.control, fill.authorization, &facts, &policy).is_ok();
        let variant = Rc::new(Variant {
            names: stale.names.clone(),
            values: stale.values.clone(),
            head,
            raw: raw.into_boxed_slice(),
            body: Rc::clone(&stale.body),
            control: facts.control,
            timing,
        });
        let stored = storable
            && core
                .cache
                .insert(&fill.key, Rc::clone(&variant), rc.max_variants);
        Some((variant, stored))
    }

    /// Writes a stored response (a 304 instead when `not_modified`: the client's own copy
    /// is current). Returns whether the client connection stays open.
    pub(super) async fn serve_stored(
        &mut self,
        client: &mut Conn,
        v: &Variant,
        handled: Handled,
        ops: Option<&HeaderOps>,
        not_modified: bool,
    ) -> Result<bool, Failure> {
        let f = framing::proxied(
            Body::Length(v.body.len() as u64),
            self.head.version,
            self.keeps_alive(),
        );
        let bodiless = not_modified || no_body(v.head.status);
        self.req.rec.status = if not_modified { 304 } else { v.head.status };
        let status = cache_status(CACHE_NAME, &handled);
        self.out.clear();
        write_stored_head(
            &v.raw,
            &v.head,
            if bodiless { OutBody::None } else { f.body },
            f.connection,
            &self.req.request_id,
            ops,
            v.timing.age_at(SystemTime::now()),
            status.as_bytes(),
            &mut self.out,
        );
        if not_modified {
            // The stored head's status line becomes a 304's.
            if let Some(end) = self.out.windows(2).position(|w| w == b"\r\n") {
                self.out
                    .splice(..end, b"HTTP/1.1 304 Not Modified".iter().copied());
            }
        } else if self.head.method_kind != Method::Head && !bodiless {
            self.out.extend_from_slice(&v.body);
        }
        client
            .send(&mut self.out, self.lt.body)
            .await
            .map_err(|_| Failure::Abort)?;
        Ok(f.keep_alive)
    }

    /// Whether the response just received may be stored for `fill`; what to store if so.
    /// Called before the request head leaves the read buffer (the `Vary` values come from it).
    pub(super) fn cache_plan(
        &self,
        client: &Conn,
        up: &UpConn,
        fill: Fill,
        rc: &RouteCache,
    ) -> Result<ToStore, NotStored> {
        let resp_buf = &up.conn.buffered()[..self.resp.len];
        let facts = response_facts(resp_buf, &self.resp);
        if self.head.method_kind != Method::Get {
            return Err(NotStored::Method);
        }
        let len = match self.resp.body {
            Body::Length(n) if n <= rc.max_object_bytes => n as usize,
            Body::None if no_body(self.resp.status) => 0,
            // Unknown length or too large: streamed, not stored.
            _ => return Err(NotStored::Useless),
        };
        let policy = policy(rc);
        storable(&fill.control, fill.authorization, &facts, &policy)?;
        let names = vary_names(lines(resp_buf, &self.resp.headers, "vary")).unwrap_or_default();
        let req_buf = &client.buffered()[..self.head.len];
        let values = vary_values(&names, |n| lines(req_buf, &self.head.headers, n));
        Ok(ToStore {
            timing: Timing::new(&facts, &policy, fill.sent_at, SystemTime::now()),
            key: fill.key,
            names,
            values,
            raw: Box::from(resp_buf),
            head: self.resp.clone(),
            control: facts.control,
            len,
            fwd: fill.fwd,
        })
    }

    /// Reads the whole body of a response to store, stores it, and sends it (unless `send` is
    /// false: a background refresh). Returns whether the client connection stays open.
    #[allow(
        clippy::too_many_arguments,
        reason = "the session's parts and the plan"
    )]
    pub(super) async fn store_and_send(
        &mut self,
        client: &mut Conn,
        up: &mut UpConn,
        core: &Core,
        plan: ToStore,
        rc: &RouteCache,
        ops: Option<&HeaderOps>,
        send: bool,
    ) -> Result<bool, Failure> {
        up.conn.consume(self.resp.len);
        while up.conn.buffered().len() < plan.len {
            let until = Instant::now() + self.req.response_timeout;
            match up.conn.fill(until).await {
                Ok(n) if n > 0 => {}
                _ => return Err(Failure::Respond(ErrorKind::UpstreamReset)),
            }
        }
        let body: Rc<[u8]> = Rc::from(&up.conn.buffered()[..plan.len]);
        up.conn.consume(plan.len);
        let variant = Rc::new(Variant {
            names: plan.names,
            values: plan.values,
            raw: plan.raw,
            head: plan.head,
            body,
            control: plan.control,
            timing: plan.timing,
        });
        let stored = core
            .cache
            .insert(&plan.key, Rc::clone(&variant), rc.max_variants);
        let counter = if stored {
            &core.cache.counters.stored
        } else {
            &core.cache.counters.not_stored
        };
        bump(counter);
        if !send {
            return Ok(true);
        }
        self.req.rec.cache = CacheStatus::Miss;
        let handled = Handled::Forward {
            fwd: plan.fwd,
            status: Some(variant.head.status),
            stored,
            collapsed: false,
            detail: None,
        };
        self.serve_stored(client, &variant, handled, ops, false)
            .await
    }
}

/// Statuses whose responses have no body.
fn no_body(status: u16) -> bool {
    status == 204 || status == 304 || status < 200
}

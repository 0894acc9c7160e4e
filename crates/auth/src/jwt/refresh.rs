//! When to fetch a JWKS document, as a pure state machine.
//!
//! The data plane owns the HTTP client and the clock; this only decides. The expected loop:
//!
//! ```text
//! if refresh.due(now) { refresh.begin_fetch(now); start GET }
//! on response or failure: if let Some(keys) = refresh.on_fetch(result, now) { provider.update_keys(keys) }
//! on a token failing with JwtError::UnknownKid: refresh.request_early(now)
//! ```

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::KeySet;

/// First retry delay after a failed fetch; doubled on each further failure, up to the
/// refresh period.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);

/// The refresh schedule of one JWKS URL.
#[derive(Debug, Clone)]
pub struct JwksRefresh {
    refresh_every: Duration,
    min_interval: Duration,
    next_fetch: Instant,
    in_flight: bool,
    /// When the last fetch ended (success or failure).
    last_fetch: Option<Instant>,
    /// When the last good document was received.
    last_good: Option<Instant>,
    /// Digest of the last good document, to skip installing the same keys again.
    last_digest: Option<[u8; 32]>,
    failures: u32,
    last_error: Option<String>,
}

impl JwksRefresh {
    /// A schedule fetching every `refresh_every`, with early fetches (for unknown key ids) at
    /// most once per `min_interval`. The first fetch is due at once.
    pub fn new(refresh_every: Duration, min_interval: Duration, now: Instant) -> JwksRefresh {
        JwksRefresh {
            refresh_every,
            min_interval,
            next_fetch: now,
            in_flight: false,
            last_fetch: None,
            last_good: None,
            last_digest: None,
            failures: 0,
            last_error: None,
        }
    }

    /// Whether a fetch should start now (never while one is in flight, see
    /// [`JwksRefresh::begin_fetch`]).
    pub fn due(&self, now: Instant) -> bool {
        !self.in_flight && now >= self.next_fetch
    }

    /// Notes that a fetch started, so that [`JwksRefresh::due`] stays false until
    /// [`JwksRefresh::on_fetch`] reports its outcome (a timeout must be reported as an error).
    pub fn begin_fetch(&mut self, _now: Instant) {
        self.in_flight = true;
    }

    /// Asks for a fetch soon, because a token named a key id the current set lacks. Honoured
    /// at most once per `min_interval` after the previous fetch: a request inside that window
    /// moves the next fetch to the window's end instead.
    pub fn request_early(&mut self, now: Instant) {
        let earliest = match self.last_fetch {
            Some(last) => now.max(last + self.min_interval),
            None => now,
        };
        if earliest < self.next_fetch {
            self.next_fetch = earliest;
        }
    }

    /// Records the outcome of a fetch: the document's bytes, or why it failed. Returns the
    /// key set to install when a new, valid document arrived; `None` when the document is the
    /// same as the installed one, or on failure (the last good set stays, the error is kept
    /// for [`JwksRefresh::last_error`], and the next try backs off exponentially from
    /// [`INITIAL_BACKOFF`] up to `refresh_every`).
    pub fn on_fetch(&mut self, result: Result<&[u8], String>, now: Instant) -> Option<KeySet> {
        self.in_flight = false;
        self.last_fetch = Some(now);
        let parsed = result.and_then(|body| {
            KeySet::from_jwks(body)
                .map(|keys| (keys, <[u8; 32]>::from(Sha256::digest(body))))
                .map_err(|e| e.to_string())
        });
        match parsed {
            Ok((keys, digest)) => {
                self.failures = 0;
                self.last_error = None;
                self.last_good = Some(now);
                self.next_fetch = now + self.refresh_every;
                if self.last_digest == Some(digest) {
                    return None;
                }
                self.last_digest = Some(digest);
                Some(keys)
            }
            Err(error) => {
                self.failures = self.failures.saturating_add(1);
                self.last_error = Some(error);
                let backoff = INITIAL_BACKOFF
                    .saturating_mul(1u32 << (self.failures - 1).min(20))
                    .min(self.refresh_every);
                self.next_fetch = now + backoff;
                None
            }
        }
    }

    /// How old the installed key set is (`None` before the first good fetch).
    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.last_good.map(|t| now.saturating_duration_since(t))
    }

    /// Why the last fetch failed, if it did (cleared by a good fetch).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Consecutive failed fetches.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When the next fetch is due.
    pub fn next_fetch(&self) -> Instant {
        self.next_fetch
    }
}

//! Refreshing a provider's keys from its JWKS URL: the schedule, installing good documents,
//! keeping the last good keys on failure, and the gauges. The fetch itself is given to
//! [`JwksRefresher::tick`] (the binary runs it on a side thread with an HTTPS client), so the
//! logic runs in tests with a fake fetch and a fake clock.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringway_auth::jwt::JwksRefresh;

use crate::build::{JwksRt, Policies, ProviderRt};

/// What one [`JwksRefresher::tick`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksEvent {
    /// Nothing was due.
    Idle,
    /// A new key set was fetched and installed.
    Installed,
    /// The document was fetched and is the one installed already.
    Unchanged,
    /// The fetch failed; the last good keys stay.
    FetchFailed(String),
    /// The document was fetched but rejected; the last good keys stay.
    Rejected(String),
}

/// The refresh loop of one provider's JWKS URL, one step per [`JwksRefresher::tick`].
pub struct JwksRefresher {
    policies: Arc<Policies>,
    provider: usize,
    job: Arc<JwksRt>,
    schedule: JwksRefresh,
}

impl std::fmt::Debug for JwksRefresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksRefresher")
            .field("provider", &self.provider().name)
            .field("url", &self.url())
            .finish()
    }
}

impl Policies {
    /// One refresher per provider with a JWKS URL; the first fetch is due at `now`.
    pub fn jwks_refreshers(self: &Arc<Self>, now: Instant) -> Vec<JwksRefresher> {
        self.providers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let job = Arc::clone(p.jwks.as_ref()?);
                Some(JwksRefresher {
                    policies: Arc::clone(self),
                    provider: i,
                    schedule: JwksRefresh::new(job.refresh, job.min_refresh, now),
                    job,
                })
            })
            .collect()
    }
}

impl JwksRefresher {
    fn provider(&self) -> &ProviderRt {
        &self.policies.providers[self.provider]
    }

    /// The provider's name.
    pub fn provider_name(&self) -> &str {
        &self.provider().name
    }

    /// The URL to fetch.
    pub fn url(&self) -> &str {
        &self.job.url
    }

    /// PEM certificates of the CAs to verify an `https` URL with; `None`: the built-in roots.
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.job.ca_pem.as_deref()
    }

    /// Does what is due at `now`: a scheduled fetch, or an early one when a core saw an
    /// unknown key id (at most every `min_refresh`). A good new document replaces the keys
    /// (merged with the provider's static keys); a failure keeps the last good ones and backs
    /// off. `fetch` returns the body of a 200 response or why there is none.
    pub fn tick(
        &mut self,
        now: Instant,
        fetch: &mut dyn FnMut(&str) -> Result<Vec<u8>, String>,
    ) -> JwksEvent {
        let policies = Arc::clone(&self.policies);
        let p = &policies.providers[self.provider];
        let job = Arc::clone(&self.job);
        if p.refresh_wanted.swap(false, Ordering::Relaxed) {
            self.schedule.request_early(now);
        }
        let event = if self.schedule.due(now) {
            self.schedule.begin_fetch(now);
            let fetched = fetch(&job.url);
            let installed = self
                .schedule
                .on_fetch(fetched.as_deref().map_err(Clone::clone), now);
            match (installed, fetched) {
                (Some(set), _) => {
                    let mut keys = job.base.clone();
                    keys.merge(set);
                    p.provider.update_keys(keys);
                    JwksEvent::Installed
                }
                (None, Err(e)) => {
                    job.fetch_errors.fetch_add(1, Ordering::Relaxed);
                    JwksEvent::FetchFailed(e)
                }
                (None, Ok(_)) => match self.schedule.last_error() {
                    Some(e) => {
                        job.fetch_errors.fetch_add(1, Ordering::Relaxed);
                        JwksEvent::Rejected(e.to_owned())
                    }
                    None => JwksEvent::Unchanged,
                },
            }
        } else {
            JwksEvent::Idle
        };
        if let Some(age) = self.schedule.age(now) {
            job.age_secs.store(age.as_secs(), Ordering::Relaxed);
        }
        event
    }

    /// When the next scheduled fetch is due (an early request can make it sooner).
    pub fn next_fetch(&self) -> Instant {
        self.schedule.next_fetch()
    }

    /// How long a side thread may sleep between ticks and still notice early requests soon.
    pub const POLL: Duration = Duration::from_millis(50);
}

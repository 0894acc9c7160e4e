//! JWKS refresher threads: one per provider with a `jwks_url`, fetching with ureq (rustls with
//! the gateway's crypto provider for `https://`, verified against the configured CA file or the built-in Mozilla roots) and
//! handing the bytes to the policy crate's refresh logic. Never on a worker thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use ringway_policy::{JwksEvent, JwksRefresher, Policies};
use ureq::tls::{PemItem, RootCerts, TlsConfig};

/// Largest JWKS document accepted.
const MAX_DOCUMENT_BYTES: u64 = 1 << 20;
/// Time allowed for a whole fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts one thread per JWKS URL: fetch now, then on schedule (and early when a core saw an
/// unknown key id), keeping the last good keys when a fetch fails. Threads end soon after
/// `stop` is set. A thread that cannot be started is an error, never a silent gap.
pub(crate) fn start(
    policies: &Arc<Policies>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut threads = Vec::new();
    for (i, refresher) in policies
        .jwks_refreshers(Instant::now())
        .into_iter()
        .enumerate()
    {
        let agent = agent(refresher.ca_pem())
            .with_context(|| format!("JWKS client for provider {}", refresher.provider_name()))?;
        let stop = Arc::clone(stop);
        let thread = std::thread::Builder::new()
            .name(format!("ringway-jwks-{i}"))
            .spawn(move || run(refresher, &agent, &stop))
            .context("starting a JWKS refresher thread")?;
        threads.push(thread);
    }
    Ok(threads)
}

/// A client for one provider: its CA file's certificates (or the built-in roots), no
/// redirects (the configured URL is the one trusted), a whole-fetch timeout.
fn agent(ca_pem: Option<&[u8]>) -> anyhow::Result<ureq::Agent> {
    let mut tls =
        TlsConfig::builder().unversioned_rustls_crypto_provider(ringway_tls::crypto_provider());
    if let Some(pem) = ca_pem {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            if let PemItem::Certificate(cert) = item.context("reading the JWKS CA file")? {
                certs.push(cert);
            }
        }
        tls = tls.root_certs(RootCerts::Specific(Arc::new(certs)));
    }
    let config = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .timeout_global(Some(FETCH_TIMEOUT))
        .max_redirects(0)
        .http_status_as_error(false)
        .user_agent("ringway")
        .build();
    Ok(config.into())
}

/// The body of a 200 response to `GET url`, or why there is none.
fn fetch(agent: &ureq::Agent, url: &str) -> Result<Vec<u8>, String> {
    let response = agent
        .get(url)
        .header("accept", "application/json")
        .call()
        .map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("status {}", response.status().as_u16()));
    }
    response
        .into_body()
        .with_config()
        .limit(MAX_DOCUMENT_BYTES)
        .read_to_vec()
        .map_err(|e| e.to_string())
}

fn run(mut refresher: JwksRefresher, agent: &ureq::Agent, stop: &AtomicBool) {
    let provider = refresher.provider_name().to_owned();
    let url = refresher.url().to_owned();
    while !stop.load(Ordering::Acquire) {
        match refresher.tick(Instant::now(), &mut |url| fetch(agent, url)) {
            JwksEvent::Idle | JwksEvent::Unchanged => {}
            JwksEvent::Installed => {
                tracing::info!(provider, url, "JWKS keys installed");
            }
            JwksEvent::FetchFailed(error) => {
                tracing::warn!(
                    provider,
                    url,
                    error,
                    "JWKS fetch failed; keeping the last good keys"
                );
            }
            JwksEvent::Rejected(error) => {
                tracing::warn!(
                    provider,
                    url,
                    error,
                    "JWKS document rejected; keeping the last good keys"
                );
            }
        }
        std::thread::sleep(JwksRefresher::POLL);
    }
}

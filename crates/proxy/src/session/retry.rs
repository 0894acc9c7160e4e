//! What to do after one attempt, decided from the attempt's classified outcome alone: the
//! error's own [`ErrorKind::retryable`] flag (nothing reached the upstream, or a body-less
//! request died on a stale pooled connection), or a response status the route retries.

use ringway_core::ErrorKind;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Attempted {
    /// A response head arrived with this status.
    Answered(u16),
    /// It failed, classified.
    Failed(ErrorKind),
}

/// Where the request stands in its retries.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tries<'a> {
    /// Endpoints tried so far, this one included.
    pub endpoints_tried: usize,
    /// Most endpoints a request may try (1 + the group's `retries.attempts`).
    pub max_endpoints: usize,
    /// Endpoints in the group.
    pub group_size: usize,
    /// Whether the request was already sent again on a new connection after a stale one.
    pub fresh_connection_used: bool,
    /// Whether the request may be repeated after the upstream answered (idempotent, no body).
    pub idempotent: bool,
    /// Statuses the group retries on.
    pub on_status: &'a [u16],
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Forward the response that arrived.
    Forward,
    /// Answer the client with this error.
    Fail(ErrorKind),
    /// Send the request again to the same endpoint on a new connection, at once.
    NewConnection,
    /// Send it to another endpoint at once (the first never saw it).
    OtherEndpoint,
    /// Send it to another endpoint after a backoff, if the retry budget allows; otherwise
    /// forward the response that arrived.
    OtherEndpointIfBudget,
}

/// The decision after an attempt.
pub(super) fn decide(outcome: Attempted, t: &Tries<'_>) -> Next {
    let another = t.endpoints_tried < t.max_endpoints && t.endpoints_tried < t.group_size;
    match outcome {
        Attempted::Answered(status) if t.idempotent && another && t.on_status.contains(&status) => {
            Next::OtherEndpointIfBudget
        }
        Attempted::Answered(_) => Next::Forward,
        Attempted::Failed(kind) if !kind.retryable() => Next::Fail(kind),
        Attempted::Failed(ErrorKind::UpstreamClosedIdle) if !t.fresh_connection_used => {
            Next::NewConnection
        }
        // A second stale connection in a row is not stale: the endpoint is closing on us.
        Attempted::Failed(ErrorKind::UpstreamClosedIdle) => Next::Fail(ErrorKind::UpstreamReset),
        Attempted::Failed(_) if another => Next::OtherEndpoint,
        Attempted::Failed(kind) => Next::Fail(kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tries(tried: usize, fresh: bool, idempotent: bool) -> Tries<'static> {
        Tries {
            endpoints_tried: tried,
            max_endpoints: 2,
            group_size: 3,
            fresh_connection_used: fresh,
            idempotent,
            on_status: &[502, 503],
        }
    }

    #[test]
    fn decisions_follow_the_classified_outcome() {
        use Attempted::{Answered, Failed};
        use ErrorKind as E;
        let table = [
            // (outcome, endpoints tried, fresh used, idempotent) -> next
            (Answered(200), 1, false, true, Next::Forward),
            (Answered(503), 1, false, true, Next::OtherEndpointIfBudget),
            (Answered(503), 1, false, false, Next::Forward), // POST: never again
            (Answered(503), 2, false, true, Next::Forward),  // attempts used up
            (Answered(500), 1, false, true, Next::Forward),  // not a retried status
            (
                Failed(E::UpstreamConnect),
                1,
                false,
                false,
                Next::OtherEndpoint,
            ),
            (
                Failed(E::UpstreamConnectTimeout),
                1,
                false,
                false,
                Next::OtherEndpoint,
            ),
            (
                Failed(E::UpstreamConnect),
                2,
                false,
                true,
                Next::Fail(E::UpstreamConnect),
            ),
            (
                Failed(E::UpstreamClosedIdle),
                1,
                false,
                false,
                Next::NewConnection,
            ),
            (
                Failed(E::UpstreamClosedIdle),
                1,
                true,
                true,
                Next::Fail(E::UpstreamReset),
            ),
            (
                Failed(E::UpstreamReset),
                1,
                false,
                true,
                Next::Fail(E::UpstreamReset),
            ),
            (
                Failed(E::UpstreamTimeout),
                1,
                false,
                true,
                Next::Fail(E::UpstreamTimeout),
            ),
            (
                Failed(E::UpstreamBadResponse),
                1,
                false,
                true,
                Next::Fail(E::UpstreamBadResponse),
            ),
            (
                Failed(E::PayloadTooLarge),
                1,
                false,
                true,
                Next::Fail(E::PayloadTooLarge),
            ),
        ];
        for (outcome, tried, fresh, idempotent, next) in table {
            assert_eq!(
                decide(outcome, &tries(tried, fresh, idempotent)),
                next,
                "{outcome:?} after {tried} (fresh used: {fresh}, idempotent: {idempotent})"
            );
        }
    }

    #[test]
    fn a_group_of_one_never_moves_to_another_endpoint() {
        let t = Tries {
            group_size: 1,
            ..tries(1, false, true)
        };
        assert_eq!(decide(Attempted::Answered(503), &t), Next::Forward);
        assert_eq!(
            decide(Attempted::Failed(ErrorKind::UpstreamConnect), &t),
            Next::Fail(ErrorKind::UpstreamConnect)
        );
        // A stale pooled connection is the same endpoint: still sent again.
        assert_eq!(
            decide(Attempted::Failed(ErrorKind::UpstreamClosedIdle), &t),
            Next::NewConnection
        );
    }
}

//! How a response is framed for the client, decided in one pure function from the upstream's
//! framing, the client's HTTP version and whether the connection stays open.

use crate::codec::{Body, OutBody, Version};

/// The framing of one response to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Framing {
    /// How the body is delimited.
    pub body: OutBody,
    /// The `Connection` value to send, if any.
    pub connection: Option<&'static [u8]>,
    /// Whether the client connection stays open after this response.
    pub keep_alive: bool,
}

/// The `Connection` value for a client: `close` when the connection ends, `keep-alive` for an
/// HTTP/1.0 client that keeps it (1.0 closes by default), nothing for HTTP/1.1.
fn connection(keep_alive: bool, version: Version) -> Option<&'static [u8]> {
    match (keep_alive, version) {
        (false, _) => Some(b"close"),
        (true, Version::Http10) => Some(b"keep-alive"),
        (true, Version::Http11) => None,
    }
}

/// A proxied response: the upstream's body delimited the way this client understands. HTTP/1.1
/// clients get a length when the upstream gave one and chunks otherwise; HTTP/1.0 clients (no
/// chunked coding) get a close-delimited body, which ends the connection.
/// `keep_alive` is whether the client asked to keep the connection and the core is not
/// draining.
pub(crate) fn proxied(upstream: Body, version: Version, keep_alive: bool) -> Framing {
    let body = match (upstream, version) {
        (Body::None, _) => OutBody::None,
        (Body::Length(n), _) => OutBody::Length(n),
        (Body::Chunked | Body::UntilClose, Version::Http11) => OutBody::Chunked,
        (Body::Chunked | Body::UntilClose, Version::Http10) => OutBody::Close,
    };
    let keep_alive = keep_alive && body != OutBody::Close;
    Framing {
        body,
        connection: connection(keep_alive, version),
        keep_alive,
    }
}

/// A response the gateway makes itself (direct responses, errors). A request body the gateway
/// does not read ends the connection instead of being drained.
pub(crate) fn generated(request_body: Body, version: Version, keep_alive: bool) -> Framing {
    // A request body the gateway did not read would be taken for the next request: close.
    let keep_alive = keep_alive && request_body.is_empty();
    Framing {
        body: OutBody::None,
        connection: connection(keep_alive, version),
        keep_alive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxied_framing_table() {
        use Body::{Chunked, Length, UntilClose};
        use Version::{Http10, Http11};
        let close: Option<&[u8]> = Some(b"close");
        let ka: Option<&[u8]> = Some(b"keep-alive");
        // (upstream body, client version, keep-alive asked) -> (body, connection, kept)
        let table = [
            (Body::None, Http11, true, OutBody::None, None, true),
            (Length(5), Http11, true, OutBody::Length(5), None, true),
            (Chunked, Http11, true, OutBody::Chunked, None, true),
            (UntilClose, Http11, true, OutBody::Chunked, None, true),
            (Length(5), Http11, false, OutBody::Length(5), close, false),
            (Chunked, Http11, false, OutBody::Chunked, close, false),
            (Length(5), Http10, true, OutBody::Length(5), ka, true),
            (Body::None, Http10, true, OutBody::None, ka, true),
            (Chunked, Http10, true, OutBody::Close, close, false),
            (UntilClose, Http10, true, OutBody::Close, close, false),
            (Length(5), Http10, false, OutBody::Length(5), close, false),
        ];
        for (upstream, version, asked, body, connection, kept) in table {
            let f = proxied(upstream, version, asked);
            let want = Framing {
                body,
                connection,
                keep_alive: kept,
            };
            assert_eq!(f, want, "{upstream:?} {version:?} keep-alive={asked}");
        }
    }

    #[test]
    fn generated_responses_close_when_a_body_is_left_unread() {
        let f = generated(Body::None, Version::Http11, true);
        assert_eq!((f.connection, f.keep_alive), (None, true));
        let f = generated(Body::Length(3), Version::Http11, true);
        assert_eq!((f.connection, f.keep_alive), (Some(&b"close"[..]), false));
        // `Content-Length: 0` leaves nothing unread.
        let f = generated(Body::Length(0), Version::Http11, true);
        assert_eq!((f.connection, f.keep_alive), (None, true));
        let f = generated(Body::Chunked, Version::Http11, true);
        assert!(!f.keep_alive);
        let f = generated(Body::None, Version::Http10, true);
        assert_eq!(f.connection, Some(&b"keep-alive"[..]));
        let f = generated(Body::None, Version::Http11, false);
        assert_eq!(f.connection, Some(&b"close"[..]));
    }
}

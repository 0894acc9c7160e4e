//! What the detectors see of a request ([`Observation`]) and how requests group into endpoints:
//! route + method + path template, so `/users/123` and `/users/456` are one endpoint.

use std::fmt;

/// One request as the detectors see it, whoever logged it (the gateway's records, Parquet
/// files, imported access logs).
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// When the request started, µs since the Unix epoch.
    pub ts_us: i64,
    /// The route's name; empty when no route matched.
    pub route: &'a str,
    /// The method (`GET`).
    pub method: &'a str,
    /// The path as requested (a query is ignored).
    pub path: &'a [u8],
    /// The status sent (0: none).
    pub status: u16,
    /// Total latency, µs.
    pub total_us: u32,
    /// Who: the authenticated client id, or the address as text.
    pub client: &'a str,
}

/// An endpoint: route, method and path template.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Endpoint {
    /// The route's name (`-` when no route matched).
    pub route: String,
    /// The method.
    pub method: String,
    /// The path with id-like segments replaced by `{id}` (`/users/{id}/orders`).
    pub template: String,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.route, self.method, self.template)
    }
}

/// Segments kept in a template; deeper paths end in `/…`.
const MAX_SEGMENTS: usize = 6;
/// The template of every request answered 404 on a route: a path that does not exist says
/// nothing about the endpoint it resembles, and scanners would otherwise make one endpoint
/// per path they try.
pub const NOT_FOUND: &str = "{not_found}";
/// The template of every request no route matched: their paths are whatever scanners try,
/// one endpoint for them all keeps memory bounded.
pub const UNROUTED: &str = "{unrouted}";

/// Whether a path segment looks like an identifier rather than a fixed name: all digits; or
/// letters, digits, `-`, `_` and `.` with at least three digits, or at least 8 characters with
/// at least two (UUIDs, hashes, slugs with ids, fingerprinted file names).
fn is_id(segment: &[u8]) -> bool {
    if segment.is_empty() {
        return false;
    }
    let digits = segment.iter().filter(|b| b.is_ascii_digit()).count();
    if digits == segment.len() {
        return true;
    }
    // Long tokens with digits (hex ids, UUIDs, slugs with a number), and shorter segments
    // carrying a number of three digits or more (`sku-1234`, `app.3f2a9c1e.js`); names with a
    // digit or two stay names (`v2`, `oauth2`, `2fa`).
    let token = segment
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    token && ((segment.len() >= 8 && digits >= 2) || digits >= 3)
}

/// Writes the template of `path` into `out` (cleared first).
pub(crate) fn template(path: &[u8], out: &mut String) {
    out.clear();
    let path = &path[..memchr::memchr(b'?', path).unwrap_or(path.len())];
    for (i, segment) in path.split(|&b| b == b'/').skip(1).enumerate() {
        if i == MAX_SEGMENTS {
            out.push_str("/…");
            return;
        }
        out.push('/');
        if is_id(segment) {
            out.push_str("{id}");
        } else {
            out.push_str(&String::from_utf8_lossy(segment));
        }
    }
    if out.is_empty() {
        out.push('/');
    }
}

/// The observation of a gateway record: route names from `names`, the client id or else the
/// address written into `client` (reused between calls).
pub fn observation_of<'a>(
    rec: &'a ringway_telemetry::record::RequestRecord,
    names: &'a crate::schema::Names,
    client: &'a mut String,
) -> Observation<'a> {
    let route = names
        .routes
        .get(usize::from(rec.listener))
        .and_then(|r| r.get(usize::from(rec.route)))
        .map_or("", String::as_str);
    client.clear();
    let id = rec.client_id.as_bytes();
    if id.is_empty() {
        crate::schema::write_client_ip(client, &rec.client_ip);
    } else {
        match std::str::from_utf8(id) {
            Ok(s) => client.push_str(s),
            Err(_) => client.push_str(&String::from_utf8_lossy(id)),
        }
    }
    Observation {
        ts_us: rec.ts_us,
        route,
        method: rec.method.as_str(),
        path: rec.path.as_bytes(),
        status: rec.status,
        total_us: rec.total_us,
        client,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_collapse_names_stay() {
        let mut t = String::new();
        for (path, want) in [
            ("/users/123", "/users/{id}"),
            ("/users/456?x=1", "/users/{id}"),
            ("/users/123/orders/9", "/users/{id}/orders/{id}"),
            ("/files/3f2a9c1e-5b7d-4e1a-9f00-123456789abc", "/files/{id}"),
            ("/blob/a1b2c3d4e5", "/blob/{id}"),
            ("/search", "/search"),
            ("/search?q=shoes", "/search"),
            ("/v2/products", "/v2/products"),
            ("/healthz", "/healthz"),
            ("/", "/"),
            ("", "/"),
            ("/a/b/c/d/e/f/g/h", "/a/b/c/d/e/f/…"),
            ("/documentation", "/documentation"),
            ("/products/sku-1234", "/products/{id}"),
            ("/static/app.3f2a9c1e.js", "/static/{id}"),
            ("/v2/oauth2/2fa", "/v2/oauth2/2fa"),
            ("/files/report.pdf", "/files/report.pdf"),
        ] {
            template(path.as_bytes(), &mut t);
            assert_eq!(t, want, "{path}");
        }
    }
}

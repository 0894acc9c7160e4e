//! Splitting raw bytes into complete HTTP/1.1 requests with httparse, a parser no one here
//! wrote: what the upstream "received" is judged by it, not by the gateway's own codec.

/// One complete request as an upstream saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: String,
    /// Request target.
    pub path: String,
    /// Header fields in order (names lowercased).
    pub headers: Vec<(String, String)>,
    /// Decoded body.
    pub body: Vec<u8>,
    /// The exact bytes of this message (head and body as framed on the wire).
    pub raw: Vec<u8>,
}

impl Request {
    /// Values of a header (case-insensitive name).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The only value of a header, if present exactly once.
    pub fn header(&self, name: &str) -> Option<&str> {
        match self.header_all(name).as_slice() {
            [v] => Some(v),
            _ => None,
        }
    }
}

/// Outcome of parsing a byte stream as consecutive requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Complete requests, in order.
    pub requests: Vec<Request>,
    /// Bytes after the last complete request (an incomplete or invalid message).
    pub rest: Vec<u8>,
    /// The rest is not even a valid prefix of a request.
    pub invalid: bool,
}

/// Parses as many complete requests as `buf` holds.
pub fn parse_requests(buf: &[u8]) -> Parsed {
    let mut requests = Vec::new();
    let mut at = 0;
    loop {
        match parse_one(&buf[at..]) {
            Ok(Some((req, used))) => {
                requests.push(req);
                at += used;
            }
            Ok(None) => {
                return Parsed {
                    requests,
                    rest: buf[at..].to_vec(),
                    invalid: false,
                }
            }
            Err(()) => {
                return Parsed {
                    requests,
                    rest: buf[at..].to_vec(),
                    invalid: true,
                }
            }
        }
    }
}

/// One request from the start of `buf`: `Ok(None)` when incomplete, `Err` when invalid.
fn parse_one(buf: &[u8]) -> Result<Option<(Request, usize)>, ()> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let find = |n: &str| {
        headers
            .iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    let te = find("transfer-encoding");
    let cl = find("content-length");
    let (body, used) = if te
        .iter()
        .any(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        match decode_chunked(&buf[head_len..])? {
            Some((body, n)) => (body, head_len + n),
            None => return Ok(None),
        }
    } else if let Some(cl) = cl.first() {
        let n: usize = cl.trim().parse().map_err(|_| ())?;
        if buf.len() < head_len + n {
            return Ok(None);
        }
        (buf[head_len..head_len + n].to_vec(), head_len + n)
    } else {
        (Vec::new(), head_len)
    };
    Ok(Some((
        Request {
            method: req.method.unwrap_or_default().to_string(),
            path: req.path.unwrap_or_default().to_string(),
            headers,
            body,
            raw: buf[..used].to_vec(),
        },
        used,
    )))
}

/// Decodes a chunked body: `Ok(None)` when incomplete.
pub(crate) fn decode_chunked(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, ()> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(line_end) = find_crlf(&buf[at..]) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[at..at + line_end]).map_err(|_| ())?;
        let size_text = line.split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_text, 16).map_err(|_| ())?;
        at += line_end + 2;
        if size == 0 {
            // Trailer lines until an empty line.
            loop {
                let Some(end) = find_crlf(&buf[at..]) else {
                    return Ok(None);
                };
                at += end + 2;
                if end == 0 {
                    return Ok(Some((body, at)));
                }
            }
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[at..at + size]);
        if &buf[at + size..at + size + 2] != b"\r\n" {
            return Err(());
        }
        at += size + 2;
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_pipelined_requests() {
        let p = parse_requests(
            b"POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /c HTTP/1.1\r\n",
        );
        assert_eq!(p.requests.len(), 2);
        assert_eq!(p.requests[0].body, b"hi");
        assert_eq!(p.requests[1].body, b"abc");
        assert_eq!(p.rest, b"GET /c HTTP/1.1\r\n");
        assert!(!p.invalid);
    }
}

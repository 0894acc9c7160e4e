//! How the router and the policy stage see a request's header fields: borrowed `(name, value)`
//! byte pairs in order, whatever protocol carried them, nothing copied.

/// A request's header fields, in the order they were received.
pub trait HeaderFields {
    /// Every field as `(name, value)`, in order.
    fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])>;

    /// The values of the fields named `name` (compared ASCII case-insensitively), in order.
    fn values<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
        self.fields()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The value of the first field named `name`.
    fn first(&self, name: &[u8]) -> Option<&[u8]> {
        self.fields()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// Fields given as a list, as tests and tools write them.
impl HeaderFields for [(&[u8], &[u8])] {
    fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.iter().map(|&(n, v)| (n, v))
    }
}

/// Fields given as a list of text pairs.
impl HeaderFields for [(&str, &str)] {
    fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.iter().map(|&(n, v)| (n.as_bytes(), v.as_bytes()))
    }
}

impl<const N: usize> HeaderFields for [(&str, &str); N] {
    fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.as_slice().fields()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_names_case_insensitively_in_order() {
        let fields = [("Host", "a"), ("x-id", "1"), ("X-ID", "2"), ("x-idx", "3")];
        let ids: Vec<&[u8]> = fields.values(b"x-id").collect();
        assert_eq!(ids, [&b"1"[..], b"2"]);
        assert_eq!(fields.first(b"HOST"), Some(&b"a"[..]));
        assert_eq!(fields.first(b"cookie"), None);
    }
}

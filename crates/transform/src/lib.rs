//! JSON body transforms for the data plane, pure and allocation-light:
//!
//! - [`merge`]: the bodies of an aggregate's backends, grouped under their names or merged
//!   flat in configuration order ([`Merge`]);
//! - [`reshape`]: a response body cut down to an allow-list of fields, with renames and a
//!   wrapper object ([`Shape`]).
//!
//! Objects are parsed one level at a time into their fields' raw text
//! ([`serde_json::value::RawValue`]) and written back field by field, so every value that is
//! kept is copied byte for byte: numbers keep every digit (a `serde_json::Value` round trip
//! would turn a large integer into a float), strings keep their escapes. An object with a
//! repeated name is refused ([`Error::DuplicateName`]): RFC 8259 leaves its meaning to the
//! reader, and a gateway that picked one would forward something ambiguous.

mod merge;
mod object;
mod reshape;

pub use merge::{merge, parse_part, Merge, Part};
pub use reshape::{reshape, Selection, Shape};

/// Why a body could not be transformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Not one valid JSON text (syntax, encoding, trailing bytes).
    NotJson,
    /// Valid JSON, but not an object where one is needed (a flat merge).
    NotObject,
    /// An object names the same member twice.
    DuplicateName,
}

impl Error {
    /// A short label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Error::NotJson => "not_json",
            Error::NotObject => "not_object",
            Error::DuplicateName => "duplicate_name",
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Error::NotJson => "the body is not valid JSON",
            Error::NotObject => "the body is not a JSON object",
            Error::DuplicateName => "a JSON object repeats a member name",
        })
    }
}

impl std::error::Error for Error {}

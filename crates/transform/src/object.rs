//! One level of a JSON text: its kind, an object's members and an array's elements, each as
//! raw text borrowed from the input.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::Error;

/// The members of an object in their order, names unescaped, values raw.
pub(crate) type Members<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// What a JSON value is, from its first byte (raw values carry no surrounding whitespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    Other,
}

pub(crate) fn kind(v: &RawValue) -> Kind {
    match v.get().as_bytes().first() {
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        _ => Kind::Other,
    }
}

/// The whole body as one JSON value (validated completely, trailing bytes refused).
pub(crate) fn parse(body: &[u8]) -> Result<&RawValue, Error> {
    serde_json::from_slice(body).map_err(|_| Error::NotJson)
}

/// The members of an object value; a repeated name is an error.
pub(crate) fn members(v: &RawValue) -> Result<Members<'_>, Error> {
    let m = serde_json::from_str::<Object<'_>>(v.get())
        .map_err(|_| Error::NotObject)?
        .0;
    if m.len() > 1 {
        let mut names: Vec<&str> = m.iter().map(|(k, _)| k.as_ref()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::DuplicateName);
        }
    }
    Ok(m)
}

/// The elements of an array value.
pub(crate) fn elements(v: &RawValue) -> Result<Vec<&RawValue>, Error> {
    serde_json::from_str(v.get()).map_err(|_| Error::NotJson)
}

/// Appends `name` as a JSON string.
pub(crate) fn write_name(name: &str, out: &mut Vec<u8>) {
    // Writing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, name);
}

struct Object<'a>(Members<'a>);

impl<'de> Deserialize<'de> for Object<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Name(name)) = map.next_key()? {
            members.push((name, map.next_value::<&RawValue>()?));
        }
        Ok(Object(members))
    }
}

/// A member name, borrowed unless it had escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Owned(v.to_owned())))
    }
}

//! Merging the bodies of an aggregate's backends into one JSON object.

use std::collections::HashMap;

use serde_json::value::RawValue;

use crate::object::{self, Kind, Members};
use crate::Error;

/// How the backends' bodies make one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Merge {
    /// Each body under its backend's name: `{"user":{…},"orders":[…]}`. Any JSON body.
    #[default]
    Grouped,
    /// The members of every body (each must be an object) in one object, in configuration
    /// order: on a name two bodies share, the later backend's value wins and the member stays
    /// where it first appeared, so collisions resolve the same way every time.
    Flat,
}

/// One backend's body, checked for the merge.
#[derive(Debug)]
pub enum Part<'a> {
    /// Any JSON value (grouped).
    Whole(&'a RawValue),
    /// An object's members (flat).
    Members(Members<'a>),
}

/// Checks one backend's body for `merge`.
pub fn parse_part(body: &[u8], merge: Merge) -> Result<Part<'_>, Error> {
    let v = object::parse(body)?;
    match merge {
        Merge::Grouped => Ok(Part::Whole(v)),
        Merge::Flat if object::kind(v) == Kind::Object => Ok(Part::Members(object::members(v)?)),
        Merge::Flat => Err(Error::NotObject),
    }
}

/// Writes the merged object of the parts present, in the order given, to `out`: a part is
/// `(name, None)` when its backend failed (left out of the result).
pub fn merge(parts: &[(&str, Option<Part<'_>>)], out: &mut Vec<u8>) {
    out.push(b'{');
    let mut first = true;
    let mut comma = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    let present = parts.iter().filter_map(|(n, p)| Some((*n, p.as_ref()?)));
    if parts
        .iter()
        .all(|(_, p)| !matches!(p, Some(Part::Members(_))))
    {
        for (name, part) in present {
            if let Part::Whole(v) = part {
                comma(out);
                object::write_name(name, out);
                out.push(b':');
                out.extend_from_slice(v.get().as_bytes());
            }
        }
    } else {
        // Where each name first appeared, and the value that wins.
        let mut at: HashMap<&str, usize> = HashMap::new();
        let mut merged: Vec<(&str, &RawValue)> = Vec::new();
        for (_, part) in present {
            if let Part::Members(members) = part {
                for (name, v) in members {
                    match at.get(name.as_ref()) {
                        Some(&i) => merged[i].1 = v,
                        None => {
                            at.insert(name, merged.len());
                            merged.push((name, v));
                        }
                    }
                }
            }
        }
        for (name, v) in merged {
            comma(out);
            object::write_name(name, out);
            out.push(b':');
            out.extend_from_slice(v.get().as_bytes());
        }
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: Merge, bodies: &[(&str, Option<&str>)]) -> Result<String, Error> {
        let mut parts = Vec::new();
        for (name, body) in bodies {
            let part = match body {
                Some(b) => Some(parse_part(b.as_bytes(), mode)?),
                None => None,
            };
            parts.push((*name, part));
        }
        let mut out = Vec::new();
        merge(&parts, &mut out);
        Ok(String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn grouped_keeps_each_body_whole_under_its_name() {
        let out = run(
            Merge::Grouped,
            &[
                (
                    "user",
                    Some(r#"{"id": 12345678901234567890123, "n":"\u00e9"}"#),
                ),
                ("orders", Some("[1, 2]")),
                ("gone", None),
                ("count", Some(" 7 ")),
            ],
        );
        assert_eq!(
            out.as_deref(),
            Ok(
                r#"{"user":{"id": 12345678901234567890123, "n":"\u00e9"},"orders":[1, 2],"count":7}"#
            )
        );
    }

    #[test]
    fn flat_later_wins_in_first_position() {
        let out = run(
            Merge::Flat,
            &[
                ("a", Some(r#"{"x":1,"y":2}"#)),
                ("b", Some(r#"{"z":3,"x":"b"}"#)),
                ("c", None),
                ("d", Some(r#"{"y":[4]}"#)),
            ],
        );
        assert_eq!(out.as_deref(), Ok(r#"{"x":"b","y":[4],"z":3}"#));
    }

    #[test]
    fn flat_needs_objects_and_refuses_repeated_names() {
        assert_eq!(
            run(Merge::Flat, &[("a", Some("[1]"))]),
            Err(Error::NotObject)
        );
        assert_eq!(
            run(Merge::Flat, &[("a", Some(r#"{"x":1,"x":2}"#))]),
            Err(Error::DuplicateName)
        );
        assert_eq!(
            run(Merge::Grouped, &[("a", Some(r#"{"x":1} x"#))]),
            Err(Error::NotJson)
        );
        assert_eq!(run(Merge::Grouped, &[("a", Some(""))]), Err(Error::NotJson));
    }

    #[test]
    fn names_are_escaped_on_output() {
        let out = run(Merge::Flat, &[("a", Some(r#"{"q\"t":1,"\u0041":2}"#))]);
        assert_eq!(out.as_deref(), Ok(r#"{"q\"t":1,"A":2}"#));
        let out = run(Merge::Grouped, &[("we\"ird", Some("1"))]);
        assert_eq!(out.as_deref(), Ok(r#"{"we\"ird":1}"#));
    }

    #[test]
    fn nothing_present_is_an_empty_object() {
        assert_eq!(run(Merge::Flat, &[("a", None)]).as_deref(), Ok("{}"));
        assert_eq!(run(Merge::Grouped, &[]).as_deref(), Ok("{}"));
    }
}

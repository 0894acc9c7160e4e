//! Reshaping a response body: keep an allow-list of fields, rename top-level fields, wrap the
//! result in an object.

use serde_json::value::RawValue;

use crate::object::{self, Kind};
use crate::Error;

/// Which members of an object are kept: each by name, whole or (for an object or an array of
/// objects) cut down by a nested selection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    fields: Vec<(String, Option<Selection>)>,
}

impl Selection {
    /// The selection of dotted paths (`id`, `user.name`): a path that names a field keeps it
    /// whole, even if a longer path names part of it. Empty segments are refused.
    pub fn from_paths<S: AsRef<str>>(paths: &[S]) -> Result<Self, String> {
        let mut root = Selection::default();
        for p in paths {
            let p = p.as_ref();
            if p.split('.').any(str::is_empty) {
                return Err(format!("`{p}` has an empty segment"));
            }
            root.add(&p.split('.').collect::<Vec<_>>());
        }
        Ok(root)
    }

    fn add(&mut self, segments: &[&str]) {
        let Some((name, rest)) = segments.split_first() else {
            return;
        };
        let at = match self.fields.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.fields
                    .push(((*name).to_owned(), Some(Selection::default())));
                self.fields.len() - 1
            }
        };
        match (&mut self.fields[at].1, rest.is_empty()) {
            // Already kept whole.
            (None, _) => {}
            (slot @ Some(_), true) => *slot = None,
            (Some(sub), false) => sub.add(rest),
        }
    }

    fn get(&self, name: &str) -> Option<&Option<Selection>> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }
}

/// What reshaping does, in this order: the allow-list, the renames, the wrapper. Applied to an
/// object, or to each object of an array; other values are only wrapped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shape {
    /// Fields kept (all when `None`).
    pub allow: Option<Selection>,
    /// Top-level renames, `(from, to)`; a renamed member replaces one already named `to`.
    pub rename: Vec<(String, String)>,
    /// The result becomes `{"<wrap>": result}`.
    pub wrap: Option<String>,
}

/// Writes `body` reshaped to `out`. On an error nothing useful is in `out`; the caller sends
/// the body unchanged.
pub fn reshape(body: &[u8], shape: &Shape, out: &mut Vec<u8>) -> Result<(), Error> {
    let root = object::parse(body)?;
    if let Some(w) = &shape.wrap {
        out.push(b'{');
        object::write_name(w, out);
        out.push(b':');
    }
    shape_value(root, shape.allow.as_ref(), &shape.rename, out)?;
    if shape.wrap.is_some() {
        out.push(b'}');
    }
    Ok(())
}

/// An object (or each object of an array) cut by `sel` and renamed; anything else as it is.
fn shape_value(
    v: &RawValue,
    sel: Option<&Selection>,
    rename: &[(String, String)],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    match object::kind(v) {
        Kind::Object => shape_object(v, sel, rename, out),
        Kind::Array if sel.is_some() || !rename.is_empty() => {
            out.push(b'[');
            for (i, e) in object::elements(v)?.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                shape_value(e, sel, rename, out)?;
            }
            out.push(b']');
            Ok(())
        }
        _ => {
            out.extend_from_slice(v.get().as_bytes());
            Ok(())
        }
    }
}

fn shape_object(
    v: &RawValue,
    sel: Option<&Selection>,
    rename: &[(String, String)],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let members = object::members(v)?;
    let kept = |name: &str| sel.is_none_or(|s| s.get(name).is_some());
    // A renamed member replaces one that already has its new name.
    let replaced = |name: &str| {
        !rename.iter().any(|(from, _)| from == name)
            && rename
                .iter()
                .any(|(from, to)| to == name && members.iter().any(|(n, _)| n == from && kept(n)))
    };
    out.push(b'{');
    let mut first = true;
    for (name, value) in &members {
        if !kept(name) || replaced(name) {
            continue;
        }
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        let new_name = rename
            .iter()
            .find(|(from, _)| from == name)
            .map_or(name.as_ref(), |(_, to)| to.as_str());
        object::write_name(new_name, out);
        out.push(b':');
        match sel.and_then(|s| s.get(name)).and_then(Option::as_ref) {
            Some(sub) => shape_value(value, Some(sub), &[], out)?,
            None => out.extend_from_slice(value.get().as_bytes()),
        }
    }
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(allow: Option<&[&str]>, rename: &[(&str, &str)], wrap: Option<&str>) -> Shape {
        Shape {
            allow: allow.map(|a| Selection::from_paths(a).expect("paths")),
            rename: rename
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            wrap: wrap.map(str::to_owned),
        }
    }

    fn run(body: &str, s: &Shape) -> Result<String, Error> {
        let mut out = Vec::new();
        reshape(body.as_bytes(), s, &mut out)?;
        Ok(String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn allow_list_keeps_named_fields_in_body_order() {
        let s = shape(Some(&["name", "id", "user.email"]), &[], None);
        let body =
            r#"{"id":12345678901234567890,"secret":"x","user":{"email":"a@b","pw":1},"name":"n"}"#;
        assert_eq!(
            run(body, &s).as_deref(),
            Ok(r#"{"id":12345678901234567890,"user":{"email":"a@b"},"name":"n"}"#)
        );
    }

    #[test]
    fn nested_selection_applies_to_arrays_of_objects() {
        let s = shape(Some(&["items.sku", "total"]), &[], None);
        let body = r#"{"items":[{"sku":"a","cost":1},{"sku":"b"},3],"total":2,"x":0}"#;
        assert_eq!(
            run(body, &s).as_deref(),
            Ok(r#"{"items":[{"sku":"a"},{"sku":"b"},3],"total":2}"#)
        );
        // Top-level arrays: each element.
        let s = shape(Some(&["id"]), &[("id", "key")], None);
        assert_eq!(
            run(r#"[{"id":1,"x":2},{"x":3}]"#, &s).as_deref(),
            Ok(r#"[{"key":1},{}]"#)
        );
    }

    #[test]
    fn a_whole_path_wins_over_a_longer_one() {
        let s = shape(Some(&["user.email", "user"]), &[], None);
        assert_eq!(
            run(r#"{"user":{"email":1,"pw":2}}"#, &s).as_deref(),
            Ok(r#"{"user":{"email":1,"pw":2}}"#)
        );
        let s = shape(Some(&["user", "user.email"]), &[], None);
        assert_eq!(
            run(r#"{"user":{"email":1,"pw":2}}"#, &s).as_deref(),
            Ok(r#"{"user":{"email":1,"pw":2}}"#)
        );
    }

    #[test]
    fn rename_replaces_an_existing_target_and_swaps() {
        let s = shape(None, &[("name", "title")], None);
        assert_eq!(
            run(r#"{"title":"old","name":"new"}"#, &s).as_deref(),
            Ok(r#"{"title":"new"}"#)
        );
        // Without the source present, the target stays.
        assert_eq!(
            run(r#"{"title":"old"}"#, &s).as_deref(),
            Ok(r#"{"title":"old"}"#)
        );
        let s = shape(None, &[("a", "b"), ("b", "a")], None);
        assert_eq!(
            run(r#"{"a":1,"b":2}"#, &s).as_deref(),
            Ok(r#"{"b":1,"a":2}"#)
        );
    }

    #[test]
    fn wrap_applies_to_any_value() {
        let s = shape(Some(&["a"]), &[], Some("data"));
        assert_eq!(
            run(r#"{"a":1,"b":2}"#, &s).as_deref(),
            Ok(r#"{"data":{"a":1}}"#)
        );
        assert_eq!(run(" 42 ", &s).as_deref(), Ok(r#"{"data":42}"#));
    }

    #[test]
    fn bad_bodies_are_errors() {
        let s = shape(Some(&["a"]), &[], None);
        assert_eq!(run("{\"a\":1", &s), Err(Error::NotJson));
        assert_eq!(run("<html>", &s), Err(Error::NotJson));
        assert_eq!(run(r#"{"a":1,"a":2}"#, &s), Err(Error::DuplicateName));
        assert_eq!(run(r#"{"b":{"a":1,"a":2}}"#, &s).as_deref(), Ok("{}"));
        assert!(Selection::from_paths(&["a..b"]).is_err());
        assert!(Selection::from_paths(&[""]).is_err());
    }
}

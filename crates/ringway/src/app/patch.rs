//! A configuration with proposed changes applied: the YAML file read as plain data, each
//! change added where it belongs (a route's `ip_filter.deny` or `rate_limits`, the global
//! `ip_filter`), written back. Comments and key order are not kept (the file is rewritten
//! from the data); the report's snippets show each change to paste by hand instead.

use anyhow::Context;
use ringway_analytics::propose::{Change, Proposal, Scope};
use serde_json::{json, Value};

/// A configuration with the proposals applied.
pub(crate) struct Patched {
    /// The YAML.
    pub(crate) text: String,
    /// Changes applied.
    pub(crate) applied: usize,
    /// Proposals that could not be placed (no route of that name).
    pub(crate) not_applied: Vec<String>,
    /// What to know about the ones applied.
    pub(crate) notes: Vec<String>,
}

/// `yaml` with every proposal that changes policy applied — in shadow mode with `shadow`
/// (counted, not enforced: `ringway_policy_shadow_refusals_total`). A deny added to a filter
/// that already exists is enforced like the filter (one filter has one mode): a note says so.
pub(crate) fn apply(yaml: &str, proposals: &[Proposal], shadow: bool) -> anyhow::Result<Patched> {
    let mut doc: Value =
        serde_saphyr::from_str(yaml).context("reading the configuration as YAML")?;
    let mut skipped = Vec::new();
    let mut notes = Vec::new();
    let mut applied = 0;
    for p in proposals {
        if matches!(p.change, Change::Advice { .. }) {
            continue;
        }
        let target = match &p.scope {
            Scope::Global => Some(&mut doc),
            Scope::Route(name) => route_mut(&mut doc, name),
        };
        let Some(Value::Object(target)) = target else {
            skipped.push(format!("{:?}: no such route in the configuration", p.scope));
            continue;
        };
        applied += 1;
        match &p.change {
            Change::Deny { cidrs } => {
                if !target.get("ip_filter").is_some_and(Value::is_object) {
                    target.insert(
                        "ip_filter".into(),
                        if shadow {
                            json!({ "shadow": true })
                        } else {
                            json!({})
                        },
                    );
                } else if shadow && target["ip_filter"]["shadow"] != json!(true) {
                    notes.push(format!(
                        "{:?}: the deny joins the route's enforced ip_filter (not in shadow mode)",
                        p.scope
                    ));
                }
                let deny = target
                    .get_mut("ip_filter")
                    .and_then(Value::as_object_mut)
                    .map(|f| f.entry("deny").or_insert_with(|| json!([])));
                if let Some(Value::Array(list)) = deny {
                    for c in cidrs {
                        if !list.iter().any(|v| v.as_str() == Some(c)) {
                            list.push(json!(c));
                        }
                    }
                }
            }
            Change::RateLimit {
                name,
                key,
                requests,
                per_s,
            } => {
                let limits = target.entry("rate_limits").or_insert_with(|| json!([]));
                if let Value::Array(list) = limits {
                    list.retain(|l| l["name"].as_str() != Some(name));
                    let mut rule = json!({
                        "name": name,
                        "key": key.as_str(),
                        "requests": requests,
                        "per": format!("{per_s}s"),
                    });
                    if shadow {
                        rule["shadow"] = json!(true);
                    }
                    list.push(rule);
                }
            }
            Change::Advice { .. } => {}
        }
    }
    let text = serde_saphyr::to_string(&doc).context("writing the configuration as YAML")?;
    Ok(Patched {
        text,
        applied,
        not_applied: skipped,
        notes,
    })
}

/// The first route named `name`, in listener order.
fn route_mut<'a>(doc: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    doc.get_mut("listeners")?
        .as_array_mut()?
        .iter_mut()
        .filter_map(|l| l.get_mut("routes")?.as_array_mut())
        .flatten()
        .find(|r| r["name"].as_str() == Some(name))
}

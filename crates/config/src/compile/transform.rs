//! `routes[].aggregate` and `routes[].reshape`, compiled.

use std::collections::HashMap;

use super::Compiler;
use crate::check;
use crate::error::index_path;
use crate::model::{
    AggregateAction, AggregateBackend, HeaderOps, Merge, Reshape, Shape, UpstreamId,
};
use crate::spec::{AggregateSpec, ReshapeSpec};

/// Most backends one aggregate fans out to.
const MAX_AGGREGATE_BACKENDS: usize = 16;

impl Compiler {
    pub(super) fn aggregate(
        &mut self,
        path: &str,
        spec: &AggregateSpec,
        upstreams: &HashMap<&str, UpstreamId>,
    ) -> AggregateAction {
        let merge = match spec.merge.as_str() {
            "grouped" => Merge::Grouped,
            "flat" => Merge::Flat,
            other => {
                self.error(
                    format!("{path}.merge"),
                    format!("unknown merge {other:?} (grouped or flat)"),
                );
                Merge::Grouped
            }
        };
        let timeout = self.duration(&format!("{path}.timeout"), &spec.timeout, false);
        let list = format!("{path}.backends");
        if spec.backends.is_empty() {
            self.error(&list, "an aggregate needs at least one backend");
        } else if spec.backends.len() > MAX_AGGREGATE_BACKENDS {
            self.error(
                &list,
                format!(
                    "{} backends; at most {MAX_AGGREGATE_BACKENDS}",
                    spec.backends.len()
                ),
            );
        }
        let mut backends: Vec<AggregateBackend> = Vec::with_capacity(spec.backends.len());
        for (i, b) in spec.backends.iter().enumerate() {
            let bp = index_path(&list, i);
            let upstream = self.upstream_ref(&format!("{bp}.upstream"), &b.upstream, upstreams);
            let name = b.name.clone().unwrap_or_else(|| b.upstream.clone());
            if name.is_empty() {
                self.error(format!("{bp}.name"), "must not be empty");
            } else if backends.iter().any(|o| o.name == name) {
                self.error(
                    format!("{bp}.name"),
                    format!("{name:?} names another backend of this aggregate"),
                );
            }
            self.check(
                &format!("{bp}.path"),
                check::literal_path(&b.path).map(Some),
                None,
            );
            let own = b
                .timeout
                .as_ref()
                .map(|t| self.duration(&format!("{bp}.timeout"), t, false));
            if own.is_some_and(|t| t > timeout) {
                self.error(
                    format!("{bp}.timeout"),
                    "is longer than the aggregate's timeout it must fit in",
                );
            }
            backends.push(AggregateBackend {
                name,
                upstream,
                path: b.path.clone(),
                timeout: own.unwrap_or(timeout).min(timeout),
                required: b.required,
            });
        }
        let forward_headers = spec
            .forward_headers
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let p = index_path(&format!("{path}.forward_headers"), i);
                self.check(&p, check::header_name(h).map(Some), None)
            })
            .collect();
        AggregateAction {
            backends,
            merge,
            timeout,
            max_body_bytes: self.positive(&format!("{path}.max_body_bytes"), spec.max_body_bytes),
            forward_headers,
        }
    }

    /// A route's reshape; `route_headers` are the route's own response header edits, which a
    /// reshaped response gets too (with `etag` removed: another representation).
    pub(super) fn reshape(
        &mut self,
        path: &str,
        spec: &ReshapeSpec,
        route_headers: Option<&HeaderOps>,
    ) -> Reshape {
        let allow = spec.allow.as_ref().and_then(|paths| {
            let p = format!("{path}.allow");
            if paths.is_empty() {
                // An empty allow-list would keep nothing: surely not what was meant.
                self.error(
                    &p,
                    "is empty: name the fields kept, or leave allow out to keep all",
                );
                return None;
            }
            let sel = ringway_transform::Selection::from_paths(paths);
            self.check(&p, sel.map(Some), None)
        });
        let mut rename = Vec::with_capacity(spec.rename.len());
        for (from, to) in &spec.rename {
            let p = format!("{path}.rename.{from}");
            if from.is_empty() || to.is_empty() {
                self.error(&p, "names must not be empty");
            } else if rename.iter().any(|(_, t)| t == to) {
                self.error(&p, format!("{to:?} is the new name of another field too"));
            }
            rename.push((from.clone(), to.clone()));
        }
        if spec.wrap.as_deref() == Some("") {
            self.error(format!("{path}.wrap"), "must not be empty");
        }
        if allow.is_none() && spec.allow.is_none() && rename.is_empty() && spec.wrap.is_none() {
            self.error(path, "does nothing: give allow, rename or wrap");
        }
        Reshape {
            shape: Shape {
                allow,
                rename,
                wrap: spec.wrap.clone(),
            },
            max_body_bytes: self.positive(&format!("{path}.max_body_bytes"), spec.max_body_bytes),
            reshaped_headers: {
                let mut ops = route_headers.cloned().unwrap_or_default();
                ops.remove.push("etag".to_owned());
                ops
            },
        }
    }
}

//! A route's action (`proxy`, `respond`, `aggregate`: exactly one), compiled, with the
//! header edits and direct responses it carries.

use std::collections::HashMap;

use super::{Compiler, MANAGED_HEADERS, MAX_WEIGHT};
use crate::check;
use crate::error::{index_path, key_path};
use crate::model::*;
use crate::spec::*;

impl Compiler {
    /// A route's action: exactly one of proxy, respond and aggregate.
    pub(super) fn action(
        &mut self,
        path: &str,
        spec: &RouteSpec,
        upstreams: &HashMap<&str, UpstreamId>,
    ) -> Action {
        match (&spec.proxy, &spec.respond, &spec.aggregate) {
            (Some(proxy), None, None) => Action::Proxy(Box::new(self.proxy(
                &format!("{path}.proxy"),
                proxy,
                upstreams,
            ))),
            (None, Some(respond), None) => {
                Action::Respond(self.respond(&format!("{path}.respond"), respond))
            }
            (None, None, Some(aggregate)) => Action::Aggregate(Box::new(self.aggregate(
                &format!("{path}.aggregate"),
                aggregate,
                upstreams,
            ))),
            (None, None, None) => {
                self.error(path, "a route needs one of proxy, respond or aggregate");
                Action::Respond(placeholder_response())
            }
            _ => {
                self.error(path, "proxy, respond and aggregate are mutually exclusive");
                Action::Respond(placeholder_response())
            }
        }
    }

    pub(super) fn upstream_ref(
        &mut self,
        path: &str,
        name: &str,
        upstreams: &HashMap<&str, UpstreamId>,
    ) -> UpstreamId {
        if let Some(id) = upstreams.get(name) {
            return *id;
        }
        let message = if name.is_empty() {
            "an upstream name is required".to_owned()
        } else if upstreams.is_empty() {
            format!("unknown upstream {name:?} (no upstreams are defined)")
        } else {
            let mut known: Vec<(&&str, &UpstreamId)> = upstreams.iter().collect();
            known.sort_by_key(|(_, id)| id.0);
            let known: Vec<&str> = known.into_iter().map(|(name, _)| *name).collect();
            format!("unknown upstream {name:?} (defined: {})", known.join(", "))
        };
        self.error(path, message);
        UpstreamId(usize::MAX)
    }

    fn proxy(
        &mut self,
        path: &str,
        spec: &ProxySpec,
        upstreams: &HashMap<&str, UpstreamId>,
    ) -> ProxyAction {
        let mut backends: Vec<WeightedBackend> = Vec::new();
        match (&spec.upstream, spec.split.is_empty()) {
            (Some(upstream), true) => {
                let id = self.upstream_ref(&format!("{path}.upstream"), upstream, upstreams);
                backends.push(WeightedBackend {
                    upstream: id,
                    weight: 1,
                });
            }
            (None, false) => {
                let split_path = format!("{path}.split");
                for (i, side) in spec.split.iter().enumerate() {
                    let side_path = index_path(&split_path, i);
                    let upstream_path = format!("{side_path}.upstream");
                    let id = self.upstream_ref(&upstream_path, &side.upstream, upstreams);
                    if id.0 != usize::MAX && backends.iter().any(|b| b.upstream == id) {
                        self.error(
                            &upstream_path,
                            format!("upstream {:?} appears twice in the split", side.upstream),
                        );
                    }
                    if side.weight > MAX_WEIGHT {
                        self.error(
                            format!("{side_path}.weight"),
                            format!("weight {} is outside 0..={MAX_WEIGHT}", side.weight),
                        );
                    }
                    backends.push(WeightedBackend {
                        upstream: id,
                        weight: side.weight,
                    });
                }
                if spec.split.iter().all(|side| side.weight == 0) {
                    self.error(&split_path, "at least one weight must be greater than zero");
                }
            }
            (None, true) => self.error(path, "one of upstream or split is required"),
            (Some(_), false) => self.error(path, "upstream and split are mutually exclusive"),
        }

        let force_header = spec.force_header.as_ref().map(|name| {
            let force_path = format!("{path}.force_header");
            if spec.split.is_empty() {
                self.error(&force_path, "only used with split");
            }
            self.check(&force_path, check::header_name(name), String::new())
        });
        if let Some(prefix) = &spec.strip_prefix {
            let strip_path = format!("{path}.strip_prefix");
            self.check(&strip_path, check::literal_path(prefix), ());
            if prefix == "/" {
                self.error(&strip_path, "stripping \"/\" has no effect");
            }
            if spec.rewrite_path.is_some() {
                self.error(&strip_path, "has no effect together with rewrite_path");
            }
        }
        if let Some(rewrite) = &spec.rewrite_path {
            self.check(
                &format!("{path}.rewrite_path"),
                check::literal_path(rewrite),
                (),
            );
        }
        if let Some(host) = &spec.host {
            self.check(&format!("{path}.host"), check::authority(host), ());
        }
        let request_headers = self.header_ops(
            &format!("{path}.request_headers"),
            &spec.request_headers,
            true,
        );
        let response_headers = self.header_ops(
            &format!("{path}.response_headers"),
            &spec.response_headers,
            false,
        );
        ProxyAction {
            backends,
            force_header,
            strip_prefix: spec.strip_prefix.clone(),
            rewrite_path: spec.rewrite_path.clone(),
            host: spec.host.clone(),
            request_headers,
            response_headers,
        }
    }

    /// A header name that configuration may edit: valid, and not one the gateway manages
    /// (nor `host` on requests: that is `proxy.host`).
    pub(super) fn editable_header(&mut self, path: &str, name: &str, request: bool) -> String {
        let name = self.check(path, check::header_name(name), String::new());
        if MANAGED_HEADERS.contains(&name.as_str()) {
            self.error(
                path,
                format!("{name} is managed by the gateway and cannot be configured"),
            );
        } else if request && name == "host" {
            self.error(path, "set the Host header with proxy.host");
        }
        name
    }

    fn header_fields(
        &mut self,
        path: &str,
        map: &OrderedMap<String>,
        request: bool,
    ) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = Vec::with_capacity(map.0.len());
        for (name, value) in map.iter() {
            let field_path = key_path(path, name);
            let lower = self.editable_header(&field_path, name, request);
            self.check(&field_path, check::header_value(value), ());
            if !lower.is_empty() && fields.iter().any(|(n, _)| *n == lower) {
                self.error(
                    &field_path,
                    format!("{lower} is given twice (header names are case-insensitive)"),
                );
            }
            fields.push((lower, value.clone()));
        }
        fields
    }

    fn header_ops(&mut self, path: &str, spec: &HeaderOpsSpec, request: bool) -> HeaderOps {
        let set = self.header_fields(&format!("{path}.set"), &spec.set, request);
        let add = self.header_fields(&format!("{path}.add"), &spec.add, request);
        let remove = spec
            .remove
            .iter()
            .enumerate()
            .map(|(i, name)| {
                self.editable_header(&index_path(&format!("{path}.remove"), i), name, request)
            })
            .collect();
        HeaderOps { remove, set, add }
    }

    fn respond(&mut self, path: &str, spec: &RespondSpec) -> DirectResponse {
        if !(200..=599).contains(&spec.status) {
            self.error(
                format!("{path}.status"),
                format!("status {} is outside 200..=599", spec.status),
            );
        }
        if matches!(spec.status, 204 | 304) && !spec.body.is_empty() {
            self.error(
                format!("{path}.body"),
                format!("a {} response has no body", spec.status),
            );
        }
        let headers = self.header_fields(&format!("{path}.headers"), &spec.headers, false);
        DirectResponse {
            status: spec.status,
            headers,
            body: spec.body.clone().into_bytes(),
        }
    }
}

/// Stands in for an action that failed its checks (never returned).
fn placeholder_response() -> DirectResponse {
    DirectResponse {
        status: 500,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

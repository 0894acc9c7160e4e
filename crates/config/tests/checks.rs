//! Every semantic check of `compile`, each rejected value in its own test with the exact path
//! of its error, plus tests that many errors are reported at once.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use ringway_config::from_yaml_str;

mod common;

/// Two valid upstream groups that routes can refer to.
const UPSTREAMS: &str = r#"
upstreams:
  users: { endpoints: [{ address: "127.0.0.1:9001" }] }
  users-v2: { endpoints: [{ address: "127.0.0.1:9002" }] }
"#;

/// A valid configuration whose only route is `route` (a YAML flow mapping), at
/// `listeners[0].routes[0]`.
fn with_route(route: &str) -> String {
    format!(
        "{UPSTREAMS}listeners:\n  - name: public\n    listen: 127.0.0.1:0\n    routes:\n      - {route}\n"
    )
}

/// A valid configuration whose only upstream group is `g` = `group` (a flow mapping).
fn with_upstream(group: &str) -> String {
    format!(
        "upstreams:\n  g: {group}\nlisteners:\n  - name: public\n    listen: 127.0.0.1:0\n    \
         routes: [{{ name: r, proxy: {{ upstream: g }} }}]\n"
    )
}

/// A valid configuration with `listeners` = `listeners` (a block sequence at indent 2).
fn with_listeners(listeners: &str) -> String {
    format!("{UPSTREAMS}listeners:\n{listeners}")
}

/// A valid listener (block sequence item) with the given name and address.
fn listener(name: &str, listen: &str) -> String {
    format!(
        "  - name: {name}\n    listen: \"{listen}\"\n    routes: [{{ name: r, proxy: {{ upstream: users }} }}]\n"
    )
}

/// The errors of a configuration, as `path: message` lines.
fn errors(yaml: &str) -> Vec<String> {
    match from_yaml_str(yaml) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn the_helpers_build_valid_configurations() {
    for yaml in [
        with_route("{ name: r, proxy: { upstream: users } }"),
        with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }] }"),
        with_listeners(&(listener("a", "127.0.0.1:8080") + &listener("b", "127.0.0.1:8081"))),
    ] {
        assert_eq!(errors(&yaml), Vec::<String>::new(), "{yaml}");
    }
}

const R0: &str = "listeners[0].routes[0]";

rejects! {
    // Telemetry.
    telemetry_unknown_compression: format!("telemetry: {{ compression: lz4 }}\n{}", listener_config())
        => "telemetry.compression", "unknown compression \"lz4\"";
    telemetry_zero_rotate: format!("telemetry: {{ rotate: 0s }}\n{}", listener_config())
        => "telemetry.rotate", "";
    telemetry_tiny_files: format!("telemetry: {{ max_file_bytes: 1000 }}\n{}", listener_config())
        => "telemetry.max_file_bytes", "at least 1048576";
    telemetry_tiny_queue: format!("telemetry: {{ queue_capacity: 10 }}\n{}", listener_config())
        => "telemetry.queue_capacity", "between 1024";
    telemetry_empty_logs_dir: format!("telemetry: {{ logs_dir: \"\" }}\n{}", listener_config())
        => "telemetry.logs_dir", "must not be empty";
    anomalies_without_logs: format!("telemetry: {{ anomalies: {{ enabled: true }} }}\n{}", listener_config())
        => "telemetry.anomalies.enabled", "needs telemetry.logs_dir";
    anomalies_bucket_too_short: format!("telemetry: {{ logs_dir: /tmp/x, anomalies: {{ bucket: 500ms }} }}\n{}", listener_config())
        => "telemetry.anomalies.bucket", "between 1s and 5m";
    anomalies_bucket_fractional: format!("telemetry: {{ logs_dir: /tmp/x, anomalies: {{ bucket: 1500ms }} }}\n{}", listener_config())
        => "telemetry.anomalies.bucket", "whole seconds";
    anomalies_short_warmup: format!("telemetry: {{ logs_dir: /tmp/x, anomalies: {{ bucket: 10s, warmup: 90s }} }}\n{}", listener_config())
        => "telemetry.anomalies.warmup", "at least ten";
    anomalies_ragged_warmup: format!("telemetry: {{ logs_dir: /tmp/x, anomalies: {{ bucket: 10s, warmup: 105s }} }}\n{}", listener_config())
        => "telemetry.anomalies.warmup", "whole number of buckets";
    anomalies_unknown_key: format!("telemetry: {{ logs_dir: /tmp/x, anomalies: {{ buckets: 10s }} }}\n{}", listener_config())
        => "telemetry.anomalies.buckets", "unknown key";
    // Top level.
    workers_zero: format!("workers: 0\n{}", listener_config())
        => "workers", "use `auto` or a number from 1 to 1024";
    workers_too_many: format!("workers: 1025\n{}", listener_config())
        => "workers", "from 1 to 1024";
    drain_timeout_without_unit: format!("drain_timeout: 15\n{}", listener_config())
        => "drain_timeout", "missing unit";
    drain_timeout_with_unknown_unit: format!("drain_timeout: 15w\n{}", listener_config())
        => "drain_timeout", "invalid duration \"15w\"";
    no_listeners: format!("{UPSTREAMS}listeners: []\n")
        => "listeners", "at least one listener is required";
    no_listeners_key: UPSTREAMS
        => "listeners", "at least one listener is required";
    empty_file: ""
        => "listeners", "at least one listener is required";
    admin_listen_invalid: format!("admin: {{ listen: nowhere }}\n{}", listener_config())
        => "admin.listen", "expected host:port";
    admin_listen_invalid_while_disabled: format!("admin: {{ enabled: false, listen: nowhere }}\n{}", listener_config())
        => "admin.listen", "expected host:port";
    admin_address_taken_by_a_listener:
        format!("admin: {{ listen: \"127.0.0.1:9901\" }}\n{}", with_listeners(&listener("a", "127.0.0.1:9901")))
        => "listeners[0].listen", "address 127.0.0.1:9901 is already used by admin.listen";

    // Listeners.
    duplicate_listener_name: with_listeners(&(listener("a", "127.0.0.1:8080") + &listener("a", "127.0.0.1:8081")))
        => "listeners[1].name", "duplicate listener name \"a\" (also listeners[0])";
    duplicate_listener_address: with_listeners(&(listener("a", "127.0.0.1:8080") + &listener("b", "127.0.0.1:8080")))
        => "listeners[1].listen", "address 127.0.0.1:8080 is already used by listeners[0].listen";
    listener_name_missing: with_listeners("  - listen: 127.0.0.1:0\n    routes: [{ name: r, proxy: { upstream: users } }]\n")
        => "listeners[0].name", "a name is required";
    listener_name_invalid: with_listeners(&listener("Public", "127.0.0.1:0"))
        => "listeners[0].name", "invalid name \"Public\"";
    listener_address_missing: with_listeners("  - name: a\n    routes: [{ name: r, proxy: { upstream: users } }]\n")
        => "listeners[0].listen", "an address (host:port) is required";
    listener_address_without_port: with_listeners(&listener("a", "127.0.0.1"))
        => "listeners[0].listen", "expected host:port";
    listener_address_bad_port: with_listeners(&listener("a", "127.0.0.1:65536"))
        => "listeners[0].listen", "invalid port";
    listener_address_unresolvable: with_listeners(&listener("a", "nonexistent.invalid:80"))
        => "listeners[0].listen", "cannot resolve \"nonexistent.invalid:80\"";
    listener_ipv6_without_brackets: with_listeners(&listener("a", "::1:80"))
        => "listeners[0].listen", "brackets";
    listener_without_routes: with_listeners("  - { name: a, listen: \"127.0.0.1:0\" }\n")
        => "listeners[0].routes", "at least one route is required";
    max_body_bytes_zero: limits("max_body_bytes: 0")
        => "listeners[0].limits.max_body_bytes", "must be greater than zero";
    max_uri_bytes_zero: limits("max_uri_bytes: 0")
        => "listeners[0].limits.max_uri_bytes", "must be greater than zero";
    max_header_bytes_zero: limits("max_header_bytes: 0")
        => "listeners[0].limits.max_header_bytes", "must be greater than zero";
    max_headers_zero: limits("max_headers: 0")
        => "listeners[0].limits.max_headers", "must be greater than zero";
    max_connections_zero: limits("max_connections: 0")
        => "listeners[0].limits.max_connections", "must be greater than zero";
    max_connections_per_core_zero: limits("max_connections_per_core: 0")
        => "listeners[0].limits.max_connections_per_core", "must be greater than zero";
    client_header_timeout_zero: client_timeouts("header: 0s")
        => "listeners[0].timeouts.header", "must be greater than zero";
    client_body_timeout_zero: client_timeouts("body: 0ms")
        => "listeners[0].timeouts.body", "must be greater than zero";
    client_idle_timeout_zero: client_timeouts("idle: 0m")
        => "listeners[0].timeouts.idle", "must be greater than zero";
    client_timeout_without_unit: client_timeouts("idle: 60")
        => "listeners[0].timeouts.idle", "missing unit";

    // Upstreams.
    upstream_name_invalid: format!(
        "upstreams:\n  Users: {{ endpoints: [{{ address: \"127.0.0.1:1\" }}] }}\n{}",
        "listeners: [{ name: a, listen: \"127.0.0.1:0\", routes: [{ name: r, proxy: { upstream: Users } }] }]\n")
        => "upstreams.Users", "invalid name \"Users\"";
    upstream_name_with_a_dot: format!(
        "upstreams:\n  a.b: {{ endpoints: [{{ address: \"127.0.0.1:1\" }}] }}\n{}",
        "listeners: [{ name: a, listen: \"127.0.0.1:0\", routes: [{ name: r, proxy: { upstream: a.b } }] }]\n")
        => "upstreams[\"a.b\"]", "invalid name \"a.b\"";
    upstream_without_endpoints: with_upstream("{ endpoints: [] }")
        => "upstreams.g.endpoints", "at least one endpoint is required";
    upstream_without_endpoints_key: with_upstream("{}")
        => "upstreams.g.endpoints", "at least one endpoint is required";
    endpoint_address_missing: with_upstream("{ endpoints: [{ weight: 2 }] }")
        => "upstreams.g.endpoints[0].address", "an address (host:port) is required";
    endpoint_address_unresolvable: with_upstream("{ endpoints: [{ address: \"nonexistent.invalid:80\" }] }")
        => "upstreams.g.endpoints[0].address", "cannot resolve \"nonexistent.invalid:80\"";
    endpoint_address_invalid_host: with_upstream("{ endpoints: [{ address: \"bad host:80\" }] }")
        => "upstreams.g.endpoints[0].address", "invalid address \"bad host:80\"";
    endpoint_port_zero: with_upstream("{ endpoints: [{ address: \"127.0.0.1:0\" }] }")
        => "upstreams.g.endpoints[0].address", "port 0";
    endpoint_duplicate: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }, { address: \"127.0.0.1:1\" }] }")
        => "upstreams.g.endpoints[1].address", "duplicate endpoint 127.0.0.1:1 (also endpoints[0])";
    endpoint_weight_zero: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\", weight: 0 }] }")
        => "upstreams.g.endpoints[0].weight", "weight 0 is outside 1..=1000";
    endpoint_weight_too_large: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\", weight: 1001 }] }")
        => "upstreams.g.endpoints[0].weight", "weight 1001 is outside 1..=1000";
    consistent_hash_without_hash_key: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], balance: consistent_hash }")
        => "upstreams.g.hash_key", "required with balance: consistent_hash";
    hash_key_without_consistent_hash: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], hash_key: { header: x-user } }")
        => "upstreams.g.hash_key", "only used with balance: consistent_hash";
    hash_key_with_two_keys: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], balance: consistent_hash, hash_key: { header: x-user, client_ip: true } }")
        => "upstreams.g.hash_key", "exactly one of header, cookie or client_ip: true is required";
    hash_key_with_no_key: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], balance: consistent_hash, hash_key: { client_ip: false } }")
        => "upstreams.g.hash_key", "exactly one of header, cookie or client_ip: true is required";
    hash_key_header_invalid: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], balance: consistent_hash, hash_key: { header: \"x user\" } }")
        => "upstreams.g.hash_key.header", "invalid header name \"x user\"";
    hash_key_cookie_invalid: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], balance: consistent_hash, hash_key: { cookie: \"a;b\" } }")
        => "upstreams.g.hash_key.cookie", "invalid cookie name \"a;b\"";
    connect_timeout_zero: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], timeouts: { connect: 0s } }")
        => "upstreams.g.timeouts.connect", "must be greater than zero";
    response_timeout_zero: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], timeouts: { response: 0s } }")
        => "upstreams.g.timeouts.response", "must be greater than zero";
    connect_timeout_malformed: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], timeouts: { connect: 1.5s } }")
        => "upstreams.g.timeouts.connect", "invalid duration \"1.5s\"";
    retry_attempts_too_many: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], retries: { attempts: 11 } }")
        => "upstreams.g.retries.attempts", "11 attempts is more than 10";
    retry_budget_over_100: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], retries: { budget_percent: 101 } }")
        => "upstreams.g.retries.budget_percent", "101% is more than 100%";
    retry_backoff_malformed: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], retries: { backoff: fast } }")
        => "upstreams.g.retries.backoff", "invalid duration \"fast\"";
    retry_backoff_max_below_backoff: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], retries: { backoff: 1s, backoff_max: 500ms } }")
        => "upstreams.g.retries.backoff_max", "500ms is less than backoff (1s)";
    retry_on_status_4xx: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], retries: { on_status: [502, 404] } }")
        => "upstreams.g.retries.on_status[1]", "status 404 is outside 500..=599";
    retry_on_status_600: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], retries: { on_status: [600] } }")
        => "upstreams.g.retries.on_status[0]", "status 600 is outside 500..=599";
    pool_idle_timeout_zero: with_upstream("{ endpoints: [{ address: \"127.0.0.1:1\" }], pool: { idle_timeout: 0s } }")
        => "upstreams.g.pool.idle_timeout", "must be greater than zero";

    // Routes.
    route_name_missing: with_route("{ proxy: { upstream: users } }")
        => "listeners[0].routes[0].name", "a name is required";
    route_name_invalid: with_route("{ name: \"my route\", proxy: { upstream: users } }")
        => "listeners[0].routes[0].name", "invalid name \"my route\"";
    duplicate_route_name: with_route("{ name: r, proxy: { upstream: users } }\n      - { name: r, proxy: { upstream: users } }")
        => "listeners[0].routes[1].name", "duplicate route name \"r\" (also routes[0])";
    route_without_action: with_route("{ name: r }")
        => R0, "a route needs one of proxy, respond or aggregate";
    route_with_two_actions: with_route("{ name: r, proxy: { upstream: users }, respond: { status: 200 } }")
        => R0, "proxy, respond and aggregate are mutually exclusive";
    aggregate_backend_timeout_over_route: with_route("{ name: r, aggregate: { timeout: 1s, backends: [{ upstream: users, path: /a, timeout: 2s }] } }")
        => "listeners[0].routes[0].aggregate.backends[0].timeout", "longer than the aggregate's timeout";
    aggregate_too_many_backends: with_route("{ name: r, aggregate: { backends: [{ name: a0, upstream: users, path: /a }, { name: a1, upstream: users, path: /a }, { name: a2, upstream: users, path: /a }, { name: a3, upstream: users, path: /a }, { name: a4, upstream: users, path: /a }, { name: a5, upstream: users, path: /a }, { name: a6, upstream: users, path: /a }, { name: a7, upstream: users, path: /a }, { name: a8, upstream: users, path: /a }, { name: a9, upstream: users, path: /a }, { name: b0, upstream: users, path: /a }, { name: b1, upstream: users, path: /a }, { name: b2, upstream: users, path: /a }, { name: b3, upstream: users, path: /a }, { name: b4, upstream: users, path: /a }, { name: b5, upstream: users, path: /a }, { name: b6, upstream: users, path: /a }] } }")
        => "listeners[0].routes[0].aggregate.backends", "17 backends; at most 16";
    aggregate_response_timeout: with_route("{ name: r, aggregate: { backends: [{ upstream: users, path: /a }] }, timeouts: { response: 1s } }")
        => "listeners[0].routes[0].timeouts.response", "aggregate routes take aggregate.timeout";
    reshape_cached_route: with_route("{ name: r, proxy: { upstream: users }, cache: {}, reshape: { wrap: data } }")
        => "listeners[0].routes[0].reshape", "reshaping a cached route is not supported";
    reshape_nothing: with_route("{ name: r, proxy: { upstream: users }, reshape: {} }")
        => "listeners[0].routes[0].reshape", "does nothing";
    reshape_rename_collision: with_route("{ name: r, proxy: { upstream: users }, reshape: { rename: { a: x, b: x } } }")
        => "listeners[0].routes[0].reshape.rename.b", "new name of another field too";
    store_bad_url: with_route("{ name: r, proxy: { upstream: users }, rate_limits: [{ requests: 5, store: { url: \"http://x\" } }] }")
        => "listeners[0].routes[0].rate_limits[0].store.url", "is not redis://host:port[/db]";
    store_unknown_type: with_route("{ name: r, proxy: { upstream: users }, rate_limits: [{ requests: 5, store: { type: memcached, url: \"redis://x:1\" } }] }")
        => "listeners[0].routes[0].rate_limits[0].store.type", "unknown store type";
    store_allow_without_fallback: with_route("{ name: r, proxy: { upstream: users }, rate_limits: [{ requests: 5, store: { url: \"redis://x:1\", on_failure: allow } }] }")
        => "listeners[0].routes[0].rate_limits[0].store.fallback", "needs the rate each gateway applies alone";
    store_deny_with_fallback: with_route("{ name: r, proxy: { upstream: users }, rate_limits: [{ requests: 5, store: { url: \"redis://x:1\", fallback: { requests: 1 } } }] }")
        => "listeners[0].routes[0].rate_limits[0].store.fallback", "only used with on_failure: allow";
    store_slow_timeout: with_route("{ name: r, proxy: { upstream: users }, rate_limits: [{ requests: 5, store: { url: \"redis://x:1\", timeout: 2s } }] }")
        => "listeners[0].routes[0].rate_limits[0].store.timeout", "must be at most 1s";
    store_bad_failure_mode: with_route("{ name: r, proxy: { upstream: users }, rate_limits: [{ requests: 5, store: { url: \"redis://x:1\", on_failure: maybe } }] }")
        => "listeners[0].routes[0].rate_limits[0].store.on_failure", "unknown value";
    store_bad_mode: with_route("{ name: r, proxy: { upstream: users }, rate_limits: [{ requests: 5, store: { url: \"redis://x:1\", mode: eventual } }] }")
        => "listeners[0].routes[0].rate_limits[0].store.mode", "unknown value \"eventual\" (lease or sync)";
    store_interval_without_sync: with_route("{ name: r, proxy: { upstream: users }, rate_limits: [{ requests: 5, store: { url: \"redis://x:1\", sync_interval: 1s } }] }")
        => "listeners[0].routes[0].rate_limits[0].store.sync_interval", "only used with mode: sync";
    store_sync_interval_too_short: with_route("{ name: r, proxy: { upstream: users }, rate_limits: [{ requests: 5, store: { url: \"redis://x:1\", mode: sync, sync_interval: 1ms } }] }")
        => "listeners[0].routes[0].rate_limits[0].store.sync_interval", "must be from 10ms to 10s";
    reshape_bad_path: with_route("{ name: r, proxy: { upstream: users }, reshape: { allow: [a..b] } }")
        => "listeners[0].routes[0].reshape.allow", "empty segment";
    route_body_limit_zero: with_route("{ name: r, proxy: { upstream: users }, limits: { max_body_bytes: 0 } }")
        => "listeners[0].routes[0].limits.max_body_bytes", "must be greater than zero";
    route_response_timeout_zero: with_route("{ name: r, proxy: { upstream: users }, timeouts: { response: 0s } }")
        => "listeners[0].routes[0].timeouts.response", "must be greater than zero";
    route_response_timeout_malformed: with_route("{ name: r, proxy: { upstream: users }, timeouts: { response: soon } }")
        => "listeners[0].routes[0].timeouts.response", "invalid duration \"soon\"";
    route_response_timeout_on_respond: with_route("{ name: r, respond: { status: 200 }, timeouts: { response: 5s } }")
        => "listeners[0].routes[0].timeouts.response", "only applies to proxy routes";

    // Matching.
    host_wildcard_not_leading: with_route("{ name: r, match: { hosts: [\"api.*.example.com\"] }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.hosts[0]", "'*' is only allowed as the whole first label";
    host_wildcard_partial_label: with_route("{ name: r, match: { hosts: [\"*api.example.com\"] }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.hosts[0]", "'*' is only allowed";
    host_wildcard_alone: with_route("{ name: r, match: { hosts: [\"*\"] }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.hosts[0]", "invalid host pattern \"*\"";
    host_with_port: with_route("{ name: r, match: { hosts: [\"api.example.com:8080\"] }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.hosts[0]", "a host pattern has no port";
    host_with_invalid_chars: with_route("{ name: r, match: { hosts: [\"api_ex ample.com\"] }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.hosts[0]", "character ' ' is not allowed";
    host_with_empty_label: with_route("{ name: r, match: { hosts: [\"api..com\"] }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.hosts[0]", "empty label";
    host_duplicate_after_lowercasing: with_route("{ name: r, match: { hosts: [a.com, A.COM] }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.hosts[1]", "duplicate host pattern";
    path_with_no_kind: with_route("{ name: r, match: { path: {} }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.path", "exactly one of exact, prefix or pattern is required";
    path_with_two_kinds: with_route("{ name: r, match: { path: { exact: /a, prefix: /a } }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.path", "exactly one of exact, prefix or pattern is required";
    exact_path_without_slash: with_route("{ name: r, match: { path: { exact: healthz } }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.path.exact", "must start with \"/\"";
    exact_path_with_query: with_route("{ name: r, match: { path: { exact: \"/a?b=1\" } }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.path.exact", "no query";
    prefix_without_slash: with_route("{ name: r, match: { path: { prefix: users } }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.path.prefix", "must start with \"/\"";
    pattern_without_slash: with_route("{ name: r, match: { path: { pattern: \"users/{id}\" } }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.path.pattern", "must start with \"/\"";
    pattern_param_not_whole_segment: with_route("{ name: r, match: { path: { pattern: \"/users/id-{id}\" } }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.path.pattern", "a parameter must be a whole segment";
    pattern_param_invalid_name: with_route("{ name: r, match: { path: { pattern: \"/users/{user-id}\" } }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.path.pattern", "parameter name \"user-id\"";
    pattern_param_empty_name: with_route("{ name: r, match: { path: { pattern: \"/users/{}\" } }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.path.pattern", "parameter name \"\"";
    pattern_param_twice: with_route("{ name: r, match: { path: { pattern: \"/a/{id}/b/{id}\" } }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.path.pattern", "parameter {id} appears twice";
    pattern_empty_segment: with_route("{ name: r, match: { path: { pattern: \"/users//{id}\" } }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.path.pattern", "empty segment";
    method_not_a_token: with_route("{ name: r, match: { methods: [\"GE T\"] }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.methods[0]", "invalid method \"GE T\"";
    method_duplicate_after_uppercasing: with_route("{ name: r, match: { methods: [get, GET] }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.methods[1]", "duplicate method GET";
    header_match_name_missing: with_route("{ name: r, match: { headers: [{ value: x }] }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.headers[0].name", "a header name is required";
    header_match_name_invalid: with_route("{ name: r, match: { headers: [{ name: \"x:y\" }] }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.headers[0].name", "invalid header name \"x:y\"";
    header_match_value_with_newline: with_route("{ name: r, match: { headers: [{ name: x-env, value: \"a\\nb\" }] }, proxy: { upstream: users } }")
        => "listeners[0].routes[0].match.headers[0].value", "control characters";

    // Proxying.
    unknown_upstream: with_route("{ name: r, proxy: { upstream: billing } }")
        => "listeners[0].routes[0].proxy.upstream", "unknown upstream \"billing\" (defined: users, users-v2)";
    unknown_upstream_in_split: with_route("{ name: r, proxy: { split: [{ upstream: users }, { upstream: billing }] } }")
        => "listeners[0].routes[0].proxy.split[1].upstream", "unknown upstream \"billing\"";
    split_upstream_missing: with_route("{ name: r, proxy: { split: [{ weight: 1 }] } }")
        => "listeners[0].routes[0].proxy.split[0].upstream", "an upstream name is required";
    proxy_without_upstream: with_route("{ name: r, proxy: {} }")
        => "listeners[0].routes[0].proxy", "one of upstream or split is required";
    proxy_with_upstream_and_split: with_route("{ name: r, proxy: { upstream: users, split: [{ upstream: users }] } }")
        => "listeners[0].routes[0].proxy", "upstream and split are mutually exclusive";
    split_weights_all_zero: with_route("{ name: r, proxy: { split: [{ upstream: users, weight: 0 }, { upstream: users-v2, weight: 0 }] } }")
        => "listeners[0].routes[0].proxy.split", "at least one weight must be greater than zero";
    split_weight_too_large: with_route("{ name: r, proxy: { split: [{ upstream: users, weight: 1001 }, { upstream: users-v2 }] } }")
        => "listeners[0].routes[0].proxy.split[0].weight", "weight 1001 is outside 0..=1000";
    split_same_upstream_twice: with_route("{ name: r, proxy: { split: [{ upstream: users }, { upstream: users }] } }")
        => "listeners[0].routes[0].proxy.split[1].upstream", "upstream \"users\" appears twice in the split";
    force_header_without_split: with_route("{ name: r, proxy: { upstream: users, force_header: x-canary } }")
        => "listeners[0].routes[0].proxy.force_header", "only used with split";
    force_header_invalid: with_route("{ name: r, proxy: { split: [{ upstream: users }], force_header: \"x canary\" } }")
        => "listeners[0].routes[0].proxy.force_header", "invalid header name \"x canary\"";
    strip_prefix_without_slash: with_route("{ name: r, proxy: { upstream: users, strip_prefix: users } }")
        => "listeners[0].routes[0].proxy.strip_prefix", "must start with \"/\"";
    strip_prefix_root: with_route("{ name: r, proxy: { upstream: users, strip_prefix: / } }")
        => "listeners[0].routes[0].proxy.strip_prefix", "no effect";
    strip_prefix_with_rewrite_path: with_route("{ name: r, proxy: { upstream: users, strip_prefix: /a, rewrite_path: /b } }")
        => "listeners[0].routes[0].proxy.strip_prefix", "has no effect together with rewrite_path";
    rewrite_path_without_slash: with_route("{ name: r, proxy: { upstream: users, rewrite_path: v1/users } }")
        => "listeners[0].routes[0].proxy.rewrite_path", "must start with \"/\"";
    rewrite_path_with_space: with_route("{ name: r, proxy: { upstream: users, rewrite_path: \"/v1/a b\" } }")
        => "listeners[0].routes[0].proxy.rewrite_path", "whitespace";
    rewrite_path_with_braces: with_route("{ name: r, proxy: { upstream: users, rewrite_path: \"/v1/{id}\" } }")
        => "listeners[0].routes[0].proxy.rewrite_path", "must be percent-encoded";
    proxy_host_invalid: with_route("{ name: r, proxy: { upstream: users, host: \"users internal\" } }")
        => "listeners[0].routes[0].proxy.host", "invalid host \"users internal\"";
    proxy_host_bad_port: with_route("{ name: r, proxy: { upstream: users, host: \"users.internal:http\" } }")
        => "listeners[0].routes[0].proxy.host", "invalid port";
    set_header_name_invalid: with_route("{ name: r, proxy: { upstream: users, request_headers: { set: { \"x a\": b } } } }")
        => "listeners[0].routes[0].proxy.request_headers.set[\"x a\"]", "invalid header name \"x a\"";
    set_header_value_with_crlf: with_route("{ name: r, proxy: { upstream: users, request_headers: { set: { x-a: \"b\\r\\nx-evil: 1\" } } } }")
        => "listeners[0].routes[0].proxy.request_headers.set.x-a", "control characters";
    add_header_value_with_nul: with_route("{ name: r, proxy: { upstream: users, response_headers: { add: { x-a: \"b\\0\" } } } }")
        => "listeners[0].routes[0].proxy.response_headers.add.x-a", "control characters";
    set_header_twice_in_different_case: with_route("{ name: r, proxy: { upstream: users, request_headers: { set: { x-a: b, X-A: c } } } }")
        => "listeners[0].routes[0].proxy.request_headers.set.X-A", "x-a is given twice";
    add_managed_header: with_route("{ name: r, proxy: { upstream: users, request_headers: { add: { content-length: \"5\" } } } }")
        => "listeners[0].routes[0].proxy.request_headers.add.content-length", "managed by the gateway";
    remove_managed_header: with_route("{ name: r, proxy: { upstream: users, response_headers: { remove: [Transfer-Encoding] } } }")
        => "listeners[0].routes[0].proxy.response_headers.remove[0]", "transfer-encoding is managed by the gateway";
    remove_header_name_invalid: with_route("{ name: r, proxy: { upstream: users, response_headers: { remove: [\"x y\"] } } }")
        => "listeners[0].routes[0].proxy.response_headers.remove[0]", "invalid header name";
    set_request_host_header: with_route("{ name: r, proxy: { upstream: users, request_headers: { set: { host: a.com } } } }")
        => "listeners[0].routes[0].proxy.request_headers.set.host", "proxy.host";

    // Direct responses.
    respond_status_1xx: with_route("{ name: r, respond: { status: 101 } }")
        => "listeners[0].routes[0].respond.status", "status 101 is outside 200..=599";
    respond_status_too_low: with_route("{ name: r, respond: { status: 99 } }")
        => "listeners[0].routes[0].respond.status", "status 99 is outside 200..=599";
    respond_status_too_high: with_route("{ name: r, respond: { status: 600 } }")
        => "listeners[0].routes[0].respond.status", "status 600 is outside 200..=599";
    respond_no_content_with_body: with_route("{ name: r, respond: { status: 204, body: hi } }")
        => "listeners[0].routes[0].respond.body", "a 204 response has no body";
    respond_header_name_invalid: with_route("{ name: r, respond: { headers: { \"content type\": text/plain } } }")
        => "listeners[0].routes[0].respond.headers[\"content type\"]", "invalid header name";
    respond_header_value_with_lf: with_route("{ name: r, respond: { headers: { x-a: \"a\\nb\" } } }")
        => "listeners[0].routes[0].respond.headers.x-a", "control characters";
    respond_content_length: with_route("{ name: r, respond: { headers: { content-length: \"2\" }, body: hi } }")
        => "listeners[0].routes[0].respond.headers.content-length", "managed by the gateway";
}

/// A valid one-listener configuration (for prefixing top-level keys).
fn listener_config() -> String {
    with_listeners(&listener("a", "127.0.0.1:0"))
}

/// A valid configuration whose listener has these limits (one `key: value`).
fn limits(entry: &str) -> String {
    with_listeners(&format!(
        "  - name: a\n    listen: 127.0.0.1:0\n    limits: {{ {entry} }}\n    routes: [{{ name: r, proxy: {{ upstream: users }} }}]\n"
    ))
}

/// A valid configuration whose listener has these client timeouts (one `key: value`).
fn client_timeouts(entry: &str) -> String {
    with_listeners(&format!(
        "  - name: a\n    listen: 127.0.0.1:0\n    timeouts: {{ {entry} }}\n    routes: [{{ name: r, proxy: {{ upstream: users }} }}]\n"
    ))
}

#[test]
fn every_error_is_reported_at_once() {
    let yaml = r#"
workers: 0
drain_timeout: 15
admin: { listen: "127.0.0.1:9901" }
upstreams:
  users:
    endpoints:
      - { address: "127.0.0.1:9001", weight: 0 }
    balance: consistent_hash
    retries: { budget_percent: 150, on_status: [404] }
  empty: {}
listeners:
  - name: public
    listen: 127.0.0.1:9901
    limits: { max_headers: 0 }
    routes:
      - name: users
        match: { hosts: ["api.*.com"], path: { pattern: "/users/{id}/{id}" }, methods: ["GE T"] }
        proxy: { upstream: billing, strip_prefix: users }
      - name: users
        respond: { status: 100, headers: { "bad name": "x" } }
  - name: public
    listen: 127.0.0.1:8081
    routes: []
"#;
    assert_eq!(
        errors(yaml),
        [
            "workers: 0 workers: use `auto` or a number from 1 to 1024",
            "drain_timeout: invalid duration \"15\": missing unit; expected whole numbers with units (ms, s, m, h, d), e.g. \"250ms\", \"5s\", \"2m\", \"1h30m\"",
            "upstreams.users.endpoints[0].weight: weight 0 is outside 1..=1000",
            "upstreams.users.hash_key: required with balance: consistent_hash (header, cookie or client_ip: true)",
            "upstreams.users.retries.budget_percent: 150% is more than 100%",
            "upstreams.users.retries.on_status[0]: status 404 is outside 500..=599",
            "upstreams.empty.endpoints: at least one endpoint is required",
            "listeners[0].listen: address 127.0.0.1:9901 is already used by admin.listen",
            "listeners[0].limits.max_headers: must be greater than zero",
            "listeners[0].routes[0].match.hosts[0]: invalid host pattern \"api.*.com\": '*' is only allowed as the whole first label, as in *.example.com",
            "listeners[0].routes[0].match.path.pattern: invalid pattern \"/users/{id}/{id}\": parameter {id} appears twice",
            "listeners[0].routes[0].match.methods[0]: invalid method \"GE T\": must be a token such as GET",
            "listeners[0].routes[0].proxy.upstream: unknown upstream \"billing\" (defined: users, empty)",
            "listeners[0].routes[0].proxy.strip_prefix: invalid path \"users\": must start with \"/\"",
            "listeners[0].routes[1].name: duplicate route name \"users\" (also routes[0])",
            "listeners[0].routes[1].respond.status: status 100 is outside 200..=599",
            "listeners[0].routes[1].respond.headers[\"bad name\"]: invalid header name \"bad name\": only letters, digits and !#$%&'*+-.^_`|~ are allowed",
            "listeners[1].name: duplicate listener name \"public\" (also listeners[0])",
            "listeners[1].routes: at least one route is required",
        ]
    );
}

#[test]
fn unknown_keys_and_semantic_errors_are_reported_together() {
    let yaml = with_route("{ name: r, proxy: { upstream: billing, timeout: 5s } }");
    assert_eq!(
        errors(&yaml),
        [
            "listeners[0].routes[0].proxy.timeout: unknown key; expected one of: upstream, split, force_header, strip_prefix, rewrite_path, host, request_headers, response_headers",
            "listeners[0].routes[0].proxy.upstream: unknown upstream \"billing\" (defined: users, users-v2)",
        ]
    );
}

#[test]
fn errors_display_one_per_line() {
    let yaml = with_route("{ name: R, proxy: { upstream: billing } }");
    let errors = from_yaml_str(&yaml).unwrap_err();
    assert_eq!(errors.len(), 2);
    assert_eq!(
        errors.to_string(),
        "listeners[0].routes[0].name: invalid name \"R\": use lowercase letters, digits, '_' and '-'\n\
         listeners[0].routes[0].proxy.upstream: unknown upstream \"billing\" (defined: users, users-v2)"
    );
}

#[test]
fn a_file_that_cannot_be_read_is_an_error_at_its_path() {
    let path = std::path::Path::new("/nonexistent/ringway.yaml");
    let errors = ringway_config::load_file(path).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.0[0].path, "/nonexistent/ringway.yaml");
    assert!(errors.0[0]
        .message
        .starts_with("cannot read the configuration file"));
}

//! YAML text to the file shape ([`ConfigSpec`]).
//!
//! The deserializer is wrapped twice: `serde_ignored` reports every key that no field consumed
//! (all of them, not only the first), and `serde_path_to_error` gives the path of the first
//! hard error (YAML syntax, a wrong type), which serde cannot continue past.

use serde::de::{self, Deserialize, Visitor};

use crate::error::{push_key, ConfigError, ConfigErrors};
use crate::spec::{self, ConfigSpec};

/// Parses YAML text into the file shape. Reports every unknown key at once, with its path and
/// the keys allowed there; a syntax or type error stops the parse and is reported with its
/// path, line and column (after any unknown keys found before it).
pub fn parse(yaml: &str) -> Result<ConfigSpec, ConfigErrors> {
    let (spec, unknown) = parse_lenient(yaml)?;
    if unknown.is_empty() {
        Ok(spec)
    } else {
        Err(unknown)
    }
}

/// Parses, returning the spec and the unknown-key errors separately, so that the caller can
/// also compile the spec and report everything at once.
pub(crate) fn parse_lenient(yaml: &str) -> Result<(ConfigSpec, ConfigErrors), ConfigErrors> {
    let mut unknown = ConfigErrors::default();
    if is_empty_document(yaml) {
        // An empty file is an empty mapping: every default, and `listeners` reported missing.
        return Ok((ConfigSpec::default(), unknown));
    }
    let mut failed_at: Option<String> = None;
    let options = serde_saphyr::options! {
        with_snippet: false,
        strict_booleans: true,
    };
    let result = serde_saphyr::with_deserializer_from_str_with_options(yaml, options, |de| {
        let mut on_ignored = |path: serde_ignored::Path<'_>| {
            let segments = ignored_segments(&path);
            unknown.0.push(unknown_key_error(&segments));
        };
        let de = serde_ignored::Deserializer::new(de, &mut on_ignored);
        serde_path_to_error::deserialize::<_, ConfigSpec>(de).map_err(|e| {
            failed_at = Some(render_path(e.path()));
            e.into_inner()
        })
    });
    match result {
        Ok(spec) => Ok((spec, unknown)),
        Err(error) => {
            let path = failed_at.unwrap_or_else(|| ".".to_owned());
            unknown.0.push(ConfigError::new(path, describe(&error)));
            Err(unknown)
        }
    }
}

/// A parse error for an operator: the parser's message and location, without the hints it
/// addresses to programmers (which function or option to use instead).
fn describe(error: &serde_saphyr::Error) -> String {
    let at = error
        .location()
        .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
        .unwrap_or_default();
    if let serde_saphyr::Error::MultipleDocuments { .. } = error {
        return format!("a configuration is a single YAML document; found another one{at}");
    }
    let message = error.to_string();
    match message.split_once(", set DuplicateKeyPolicy") {
        Some((head, _)) => format!("{head}{at}"),
        None => message,
    }
}

/// Whether the text holds no YAML content (only blank lines, comments or `---`).
fn is_empty_document(yaml: &str) -> bool {
    yaml.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---"
    })
}

/// Renders a `serde_path_to_error` path as `listeners[0].routes`.
fn render_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            serde_path_to_error::Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } => push_key(&mut out, key),
            serde_path_to_error::Segment::Enum { variant } => push_key(&mut out, variant),
            // A key that could not be captured (not a string): the parent path is the best
            // we can say.
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// One step of a path reported by `serde_ignored`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Index(usize),
    Key(String),
}

/// The steps of a `serde_ignored` path, root first (option and newtype layers dropped).
fn ignored_segments(path: &serde_ignored::Path<'_>) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut at = path;
    loop {
        at = match at {
            serde_ignored::Path::Root => break,
            serde_ignored::Path::Seq { parent, index } => {
                steps.push(Step::Index(*index));
                parent
            }
            serde_ignored::Path::Map { parent, key } => {
                steps.push(Step::Key(key.clone()));
                parent
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => parent,
        };
    }
    steps.reverse();
    steps
}

/// The error for an unknown key at `steps` (the last step is the key), naming the keys
/// allowed there.
fn unknown_key_error(steps: &[Step]) -> ConfigError {
    let mut path = String::new();
    for step in steps {
        match step {
            Step::Index(i) => path.push_str(&format!("[{i}]")),
            Step::Key(k) => push_key(&mut path, k),
        }
    }
    let parent = steps.split_last().map_or(&[][..], |(_, parent)| parent);
    let message = match allowed_keys(&shape_of(parent)) {
        Some(keys) if !keys.is_empty() => {
            format!("unknown key; expected one of: {}", keys.join(", "))
        }
        _ => "unknown key".to_owned(),
    };
    ConfigError::new(path, message)
}

/// The shape of a path: list indices become `[]` and upstream names `*`
/// (`listeners[].routes[].proxy`, `upstreams.*.retries`).
fn shape_of(steps: &[Step]) -> String {
    let mut shape = String::new();
    for step in steps {
        match step {
            Step::Index(_) => shape.push_str("[]"),
            Step::Key(key) => {
                if !shape.is_empty() {
                    shape.push('.');
                }
                // Keys of name-keyed maps are user names, not keys of the shape.
                if NAMED_MAPS
                    .iter()
                    .any(|m| shape.strip_suffix('.') == Some(m))
                {
                    shape.push('*');
                } else {
                    shape.push_str(key);
                }
            }
        }
    }
    shape
}

/// Mappings whose keys are names chosen by the user.
const NAMED_MAPS: &[&str] = &[
    "upstreams",
    "auth.jwt_providers",
    "auth.plans",
    "auth.consumers",
];

/// The keys allowed in the mapping at a path shape, if it is one of the spec's structs.
fn allowed_keys(shape: &str) -> Option<&'static [&'static str]> {
    use spec::*;
    let keys = match shape {
        "" => fields_of::<ConfigSpec>(),
        "admin" => fields_of::<AdminSpec>(),
        "telemetry" => fields_of::<TelemetrySpec>(),
        "telemetry.anomalies" => fields_of::<AnomaliesSpec>(),
        "upstreams.*" => fields_of::<UpstreamSpec>(),
        "upstreams.*.endpoints[]" => fields_of::<EndpointSpec>(),
        "upstreams.*.hash_key" => fields_of::<HashKeySpec>(),
        "upstreams.*.timeouts" => fields_of::<UpstreamTimeoutsSpec>(),
        "upstreams.*.retries" => fields_of::<RetriesSpec>(),
        "upstreams.*.pool" => fields_of::<PoolSpec>(),
        "listeners[]" => fields_of::<ListenerSpec>(),
        "listeners[].limits" => fields_of::<LimitsSpec>(),
        "listeners[].timeouts" => fields_of::<ClientTimeoutsSpec>(),
        "listeners[].routes[]" => fields_of::<RouteSpec>(),
        "listeners[].routes[].match" => fields_of::<MatchSpec>(),
        "listeners[].routes[].match.path" => fields_of::<PathSpec>(),
        "listeners[].routes[].match.headers[]" => fields_of::<HeaderMatchSpec>(),
        "listeners[].routes[].proxy" => fields_of::<ProxySpec>(),
        "listeners[].routes[].proxy.split[]" => fields_of::<SplitSpec>(),
        "listeners[].routes[].proxy.request_headers"
        | "listeners[].routes[].proxy.response_headers" => fields_of::<HeaderOpsSpec>(),
        "listeners[].routes[].respond" => fields_of::<RespondSpec>(),
        "listeners[].routes[].limits" => fields_of::<RouteLimitsSpec>(),
        "listeners[].routes[].timeouts" => fields_of::<RouteTimeoutsSpec>(),
        "listeners[].routes[].ip_filter" | "ip_filter" => fields_of::<IpFilterSpec>(),
        "listeners[].routes[].auth" => fields_of::<RouteAuthSpec>(),
        "listeners[].routes[].rate_limits[]" => fields_of::<RateLimitSpec>(),
        "auth" => fields_of::<AuthSpec>(),
        "auth.jwt_providers.*" => fields_of::<JwtProviderSpec>(),
        "auth.jwt_providers.*.keys" => fields_of::<JwtKeysSpec>(),
        "auth.jwt_providers.*.keys.pem_files[]" => fields_of::<PemKeySpec>(),
        "auth.jwt_providers.*.token" => fields_of::<TokenSourceSpec>(),
        "auth.api_keys" => fields_of::<ApiKeySourceSpec>(),
        "auth.plans.*" => fields_of::<PlanSpec>(),
        "auth.plans.*.rate_limit" => fields_of::<RateSpec>(),
        "auth.plans.*.quotas[]" => fields_of::<QuotaSpec>(),
        "auth.consumers.*" => fields_of::<ConsumerSpec>(),
        _ => return None,
    };
    Some(keys)
}

/// The field names of a derived struct, read by asking it to deserialize from a probe that
/// only records what `deserialize_struct` is called with.
fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    #[derive(Debug)]
    struct Fields(&'static [&'static str]);
    impl std::fmt::Display for Fields {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("probe")
        }
    }
    impl std::error::Error for Fields {}
    impl de::Error for Fields {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Fields(&[])
        }
    }
    struct Probe;
    impl<'de> de::Deserializer<'de> for Probe {
        type Error = Fields;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
            Err(Fields(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Fields> {
            Err(Fields(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Fields(fields)) => fields,
        Ok(_) => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(yaml: &str) -> Vec<String> {
        parse(yaml)
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn every_struct_shape_knows_its_keys() {
        let shapes = [
            ("", "workers"),
            ("admin", "listen"),
            ("upstreams.*", "endpoints"),
            ("upstreams.*.endpoints[]", "address"),
            ("upstreams.*.hash_key", "client_ip"),
            ("upstreams.*.timeouts", "connect"),
            ("upstreams.*.retries", "budget_percent"),
            ("upstreams.*.pool", "max_idle"),
            ("listeners[]", "routes"),
            ("listeners[].limits", "max_headers"),
            ("listeners[].timeouts", "idle"),
            ("listeners[].routes[]", "match"),
            ("listeners[].routes[].match", "hosts"),
            ("listeners[].routes[].match.path", "pattern"),
            ("listeners[].routes[].match.headers[]", "value"),
            ("listeners[].routes[].proxy", "force_header"),
            ("listeners[].routes[].proxy.split[]", "weight"),
            ("listeners[].routes[].proxy.request_headers", "remove"),
            ("listeners[].routes[].respond", "body"),
            ("listeners[].routes[].limits", "max_body_bytes"),
            ("listeners[].routes[].timeouts", "response"),
        ];
        for (shape, key) in shapes {
            let keys = allowed_keys(shape).unwrap_or_else(|| panic!("no keys for {shape:?}"));
            assert!(keys.contains(&key), "{shape:?}: {keys:?}");
        }
    }

    #[test]
    fn every_unknown_key_is_reported_at_once_with_its_path() {
        let yaml = r#"
colour: blue
upstreams:
  users:
    endpoints: [{ address: "127.0.0.1:1", wieght: 2 }]
    timeouts: { http_timeout: 5s }
listeners:
  - name: a
    listen: 127.0.0.1:0
    routes:
      - name: r
        match: { path: { prefix: /x, regex: "x" } }
        proxy: { upstream: users, retries: 3 }
"#;
        assert_eq!(
            errors(yaml),
            [
                "colour: unknown key; expected one of: workers, drain_timeout, admin, upstreams, listeners, telemetry, trusted_proxies, ip_filter, auth, cache",
                "upstreams.users.endpoints[0].wieght: unknown key; expected one of: address, weight",
                "upstreams.users.timeouts.http_timeout: unknown key; expected one of: connect, response",
                "listeners[0].routes[0].match.path.regex: unknown key; expected one of: exact, prefix, pattern",
                "listeners[0].routes[0].proxy.retries: unknown key; expected one of: upstream, split, force_header, strip_prefix, rewrite_path, host, request_headers, response_headers",
            ]
        );
    }

    #[test]
    fn route_limits_accept_only_the_body_limit() {
        let yaml = "listeners: [{ routes: [{ limits: { max_headers: 5 } }] }]";
        assert_eq!(
            errors(yaml),
            ["listeners[0].routes[0].limits.max_headers: unknown key; expected one of: max_body_bytes"]
        );
    }

    #[test]
    fn a_type_error_has_its_path_and_line() {
        let yaml = "upstreams:\n  users:\n    endpoints:\n      - address: 127.0.0.1:1\n        weight: heavy\n";
        let errors = errors(yaml);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("upstreams.users.endpoints[0].weight: "),
            "{errors:?}"
        );
        assert!(errors[0].contains("line 5"), "{errors:?}");
    }

    #[test]
    fn unknown_keys_before_a_type_error_are_reported_too() {
        let yaml = "colour: blue\nworkers: many\n";
        let errors = errors(yaml);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("colour: unknown key"), "{errors:?}");
        assert!(errors[1].starts_with("workers: "), "{errors:?}");
        assert!(
            errors[1].contains("`auto` or a positive whole number"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_syntax_error_has_a_line_and_column() {
        let errors = errors("listeners: [\n  { name: a\n");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("line"), "{errors:?}");
    }

    #[test]
    fn an_unknown_enum_value_is_reported_with_the_choices() {
        let errors = errors("upstreams: { u: { balance: random } }");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("upstreams.u.balance: "), "{errors:?}");
        assert!(errors[0].contains("round_robin"), "{errors:?}");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let errors = errors("upstreams:\n  u: {}\n  u: {}\n");
        assert_eq!(
            errors,
            ["upstreams: duplicate mapping key: u at line 3, column 3"]
        );
    }

    #[test]
    fn a_second_document_is_an_error() {
        let errors = errors("workers: 2\n---\nworkers: 3\n");
        assert_eq!(
            errors,
            [".: a configuration is a single YAML document; found another one at line 3, column 1"]
        );
    }

    #[test]
    fn yaml_1_1_booleans_are_not_booleans() {
        let errors = errors("admin: { enabled: no }");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("admin.enabled: "), "{errors:?}");
    }

    #[test]
    fn empty_documents_are_all_defaults() {
        for yaml in ["", "\n", "# nothing\n", "---\n"] {
            let (spec, unknown) = parse_lenient(yaml).unwrap();
            assert_eq!(spec, ConfigSpec::default());
            assert!(unknown.is_empty());
        }
    }
}

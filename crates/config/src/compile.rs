//! The file shape ([`ConfigSpec`]) to the checked runtime shape ([`Config`]), collecting every
//! problem with its path instead of stopping at the first.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::check;
use crate::error::{index_path, key_path, ConfigErrors};
use crate::model::*;
use crate::spec::*;

mod action;
mod cache;
mod policy;
mod resilience;
mod tls;
mod transform;

/// Most workers `workers` may ask for.
const MAX_WORKERS: u64 = 1024;
/// Largest endpoint and split weight.
const MAX_WEIGHT: u32 = 1000;
/// Most retry attempts.
const MAX_RETRY_ATTEMPTS: u32 = 10;

/// Stands in for an address that failed its checks (never returned).
const UNSPECIFIED: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// Header fields the gateway manages itself: connection management and message framing.
/// Setting, adding or removing them through configuration would break the exchange.
const MANAGED_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Checks the file shape and builds the runtime shape: defaults filled in, addresses resolved,
/// upstream names turned into [`UpstreamId`]s, route limits and timeouts merged over the
/// listener's. Returns every problem found, each with its path.
pub fn compile(spec: &ConfigSpec) -> Result<Config, ConfigErrors> {
    let mut cx = Compiler::default();
    let config = cx.config(spec);
    if cx.errors.is_empty() {
        Ok(config)
    } else {
        Err(cx.errors)
    }
}

/// Collects errors while building; values that fail a check are replaced by placeholders,
/// which never escape because any error fails the whole compile.
#[derive(Default)]
struct Compiler {
    errors: ConfigErrors,
}

impl Compiler {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(path, message);
    }

    /// Records `Err`'s message at `path` and returns the value or `fallback`.
    fn check<T>(&mut self, path: &str, result: Result<T, String>, fallback: T) -> T {
        result.unwrap_or_else(|message| {
            self.error(path, message);
            fallback
        })
    }

    fn duration(&mut self, path: &str, spec: &DurationSpec, zero_allowed: bool) -> Duration {
        match spec.parse() {
            Ok(d) if d.is_zero() && !zero_allowed => {
                self.error(path, "must be greater than zero");
                d
            }
            Ok(d) => d,
            Err(message) => {
                self.error(path, message);
                Duration::ZERO
            }
        }
    }

    /// A resolved address, or `None` (error recorded).
    fn address(&mut self, path: &str, text: &str) -> Option<SocketAddr> {
        self.check(path, check::socket_addr(text).map(Some), None)
    }

    fn name(&mut self, path: &str, text: &str) {
        if let Err(message) = check::name(text) {
            self.error(path, message);
        }
    }

    fn positive<T: Default + PartialEq>(&mut self, path: &str, value: T) -> T {
        if value == T::default() {
            self.error(path, "must be greater than zero");
        }
        value
    }

    fn config(&mut self, spec: &ConfigSpec) -> Config {
        let workers = match spec.workers {
            WorkersSpec::Auto => None,
            WorkersSpec::Count(n @ 1..=MAX_WORKERS) => Some(n as usize),
            WorkersSpec::Count(n) => {
                self.error(
                    "workers",
                    format!("{n} workers: use `auto` or a number from 1 to {MAX_WORKERS}"),
                );
                None
            }
        };
        let drain_timeout = self.duration("drain_timeout", &spec.drain_timeout, true);
        // Checked even when disabled: a wrong value is wrong before someone enables it.
        let admin_listen = self.address("admin.listen", &spec.admin.listen);
        let admin = spec.admin.enabled.then(|| Admin {
            listen: admin_listen.unwrap_or(UNSPECIFIED),
        });

        let (policies, policy_names) = self.policies(spec);

        let mut upstream_ids: HashMap<&str, UpstreamId> = HashMap::new();
        let mut upstreams = Vec::with_capacity(spec.upstreams.0.len());
        for (name, group) in spec.upstreams.iter() {
            let path = key_path("upstreams", name);
            self.name(&path, name);
            if upstream_ids.contains_key(name) {
                self.error(&path, format!("duplicate upstream name {name:?}"));
            }
            upstream_ids.insert(name, UpstreamId(upstreams.len()));
            upstreams.push(self.upstream(&path, name, group));
        }

        if spec.listeners.is_empty() {
            self.error("listeners", "at least one listener is required");
        }
        let mut listeners: Vec<Listener> = Vec::with_capacity(spec.listeners.len());
        let mut bound: Vec<(SocketAddr, String)> = Vec::new();
        if let Some(admin) = admin.as_ref().filter(|a| a.listen.port() != 0) {
            bound.push((admin.listen, "admin.listen".to_owned()));
        }
        for (i, listener) in spec.listeners.iter().enumerate() {
            let path = index_path("listeners", i);
            let name_path = format!("{path}.name");
            self.name(&name_path, &listener.name);
            if let Some(j) = spec.listeners[..i]
                .iter()
                .position(|l| !l.name.is_empty() && l.name == listener.name)
            {
                self.error(
                    &name_path,
                    format!(
                        "duplicate listener name {:?} (also listeners[{j}])",
                        listener.name
                    ),
                );
            }
            let listen_path = format!("{path}.listen");
            let listen = self.address(&listen_path, &listener.listen);
            // Port 0 asks the kernel for a free port: never a conflict.
            if let Some(listen) = listen.filter(|a| a.port() != 0) {
                if let Some((_, other)) = bound.iter().find(|(addr, _)| *addr == listen) {
                    self.error(
                        &listen_path,
                        format!("address {listen} is already used by {other}"),
                    );
                } else {
                    bound.push((listen, listen_path.clone()));
                }
            }
            let listen = listen.unwrap_or(UNSPECIFIED);
            listeners.push(self.listener(&path, listen, listener, &upstream_ids, &policy_names));
        }

        let telemetry = self.telemetry(&spec.telemetry);
        let cache = self.cache(&spec.cache);
        Config {
            cache,
            workers,
            admin,
            upstreams,
            listeners,
            drain_timeout,
            telemetry,
            policies,
        }
    }

    fn telemetry(&mut self, spec: &crate::spec::TelemetrySpec) -> crate::model::Telemetry {
        use crate::model::Compression;
        let compression = match spec.compression.as_str() {
            "zstd" => Compression::Zstd,
            "snappy" => Compression::Snappy,
            "none" => Compression::None,
            other => {
                self.error(
                    "telemetry.compression",
                    format!("unknown compression {other:?}: use zstd, snappy or none"),
                );
                Compression::Zstd
            }
        };
        let rotate = self.duration("telemetry.rotate", &spec.rotate, false);
        if spec.max_file_bytes < 1 << 20 {
            self.error(
                "telemetry.max_file_bytes",
                "must be at least 1048576 (1 MiB)",
            );
        }
        if !(1024..=1 << 24).contains(&spec.queue_capacity) {
            self.error(
                "telemetry.queue_capacity",
                "must be between 1024 and 16777216 records",
            );
        }
        let logs_dir = match spec.logs_dir.as_deref() {
            Some("") => {
                self.error(
                    "telemetry.logs_dir",
                    "must not be empty (omit it to disable logs)",
                );
                None
            }
            other => other.map(std::path::PathBuf::from),
        };
        let anomalies = self.anomalies(&spec.anomalies, logs_dir.is_some());
        crate::model::Telemetry {
            logs_dir,
            compression,
            rotate,
            max_file_bytes: spec.max_file_bytes,
            queue_capacity: spec.queue_capacity,
            journal: spec.journal,
            access_log: match spec.access_log.as_deref() {
                None => None,
                Some("-") => Some(crate::model::AccessLog::Stdout),
                Some("") => {
                    self.error(
                        "telemetry.access_log",
                        "empty: give a file path, or - for standard output",
                    );
                    None
                }
                Some(path) => Some(crate::model::AccessLog::File(path.into())),
            },
            anomalies,
        }
    }

    fn anomalies(
        &mut self,
        spec: &crate::spec::AnomaliesSpec,
        have_logs: bool,
    ) -> Option<crate::model::Anomalies> {
        let bucket = self.duration("telemetry.anomalies.bucket", &spec.bucket, false);
        let warmup = self.duration("telemetry.anomalies.warmup", &spec.warmup, false);
        if !bucket.is_zero() {
            if !(Duration::from_secs(1)..=Duration::from_secs(300)).contains(&bucket) {
                self.error("telemetry.anomalies.bucket", "must be between 1s and 5m");
            } else if bucket.subsec_nanos() != 0 {
                self.error("telemetry.anomalies.bucket", "must be whole seconds");
            } else if warmup < bucket * 10 || !warmup.as_nanos().is_multiple_of(bucket.as_nanos()) {
                self.error(
                    "telemetry.anomalies.warmup",
                    "must be a whole number of buckets, at least ten",
                );
            }
        }
        match spec.enabled {
            Some(true) if !have_logs => {
                self.error(
                    "telemetry.anomalies.enabled",
                    "needs telemetry.logs_dir: the detectors run on the analytics thread",
                );
                None
            }
            Some(false) => None,
            _ if !have_logs => None,
            _ => Some(crate::model::Anomalies { bucket, warmup }),
        }
    }

    fn upstream(&mut self, path: &str, name: &str, spec: &UpstreamSpec) -> UpstreamGroup {
        let endpoints_path = format!("{path}.endpoints");
        if spec.endpoints.is_empty() {
            self.error(&endpoints_path, "at least one endpoint is required");
        }
        let mut endpoints: Vec<Endpoint> = Vec::with_capacity(spec.endpoints.len());
        for (i, endpoint) in spec.endpoints.iter().enumerate() {
            let path = index_path(&endpoints_path, i);
            let address_path = format!("{path}.address");
            let addr = self.address(&address_path, &endpoint.address);
            if addr.is_some_and(|a| a.port() == 0) {
                self.error(&address_path, "port 0 cannot be connected to");
            }
            let addr = addr.unwrap_or(UNSPECIFIED);
            if let Some(j) = endpoints
                .iter()
                .position(|e| e.addr == addr && addr != UNSPECIFIED)
            {
                self.error(
                    &address_path,
                    format!(
                        "duplicate endpoint {addr} (also endpoints[{j}]); give one endpoint a \
                         larger weight instead"
                    ),
                );
            }
            if !(1..=MAX_WEIGHT).contains(&endpoint.weight) {
                self.error(
                    format!("{path}.weight"),
                    format!("weight {} is outside 1..={MAX_WEIGHT}", endpoint.weight),
                );
            }
            endpoints.push(Endpoint {
                addr,
                weight: endpoint.weight,
            });
        }

        let hash_key_path = format!("{path}.hash_key");
        let balance = match (spec.balance, &spec.hash_key) {
            (BalanceSpec::ConsistentHash, Some(key)) => {
                Balance::ConsistentHash(self.hash_key(&hash_key_path, key))
            }
            (BalanceSpec::ConsistentHash, None) => {
                self.error(
                    &hash_key_path,
                    "required with balance: consistent_hash (header, cookie or client_ip: true)",
                );
                Balance::ConsistentHash(HashKey::ClientIp)
            }
            (_, Some(_)) => {
                self.error(&hash_key_path, "only used with balance: consistent_hash");
                Balance::RoundRobin
            }
            (BalanceSpec::RoundRobin, None) => Balance::RoundRobin,
            (BalanceSpec::LeastRequest, None) => Balance::LeastRequest,
            (BalanceSpec::PowerOfTwo, None) => Balance::PowerOfTwo,
        };

        let timeouts = UpstreamTimeouts {
            connect: self.duration(
                &format!("{path}.timeouts.connect"),
                &spec.timeouts.connect,
                false,
            ),
            response: self.duration(
                &format!("{path}.timeouts.response"),
                &spec.timeouts.response,
                false,
            ),
        };
        let retries = self.retries(&format!("{path}.retries"), &spec.retries);
        let pool = Pool {
            max_idle: spec.pool.max_idle,
            idle_timeout: self.duration(
                &format!("{path}.pool.idle_timeout"),
                &spec.pool.idle_timeout,
                false,
            ),
        };
        let tls = spec
            .tls
            .as_ref()
            .map(|t| self.upstream_tls(&format!("{path}.tls"), t, &spec.endpoints));
        let protocol = match (spec.protocol.as_str(), &tls) {
            ("http1", _) => UpstreamProtocol::Http1,
            ("h2", Some(_)) => UpstreamProtocol::H2,
            ("h2c", None) => UpstreamProtocol::H2c,
            ("auto", Some(_)) => UpstreamProtocol::Auto,
            ("auto", None) => {
                self.error(
                    format!("{path}.protocol"),
                    "auto chooses by ALPN, over TLS: set tls",
                );
                UpstreamProtocol::Http1
            }
            ("h2", None) => {
                self.error(
                    format!("{path}.protocol"),
                    "h2 is negotiated over TLS: set tls (or use h2c)",
                );
                UpstreamProtocol::Http1
            }
            ("h2c", Some(_)) => {
                self.error(
                    format!("{path}.protocol"),
                    "h2c is cleartext: use h2 with tls",
                );
                UpstreamProtocol::Http1
            }
            (other, _) => {
                self.error(
                    format!("{path}.protocol"),
                    format!("{other:?} is not one of: http1, h2, h2c, auto"),
                );
                UpstreamProtocol::Http1
            }
        };
        let health_check = spec
            .health_check
            .as_ref()
            .map(|h| self.health_check(&format!("{path}.health_check"), h));
        let outlier = self.outlier(
            &format!("{path}.outlier_detection"),
            &spec.outlier_detection,
        );
        let breakers = self.breakers(&format!("{path}.circuit_breakers"), &spec.circuit_breakers);
        let panic_threshold =
            self.percent(&format!("{path}.panic_threshold"), spec.panic_threshold);
        let adaptive = spec
            .adaptive_concurrency
            .as_ref()
            .map(|a| self.adaptive(&format!("{path}.adaptive_concurrency"), a));
        UpstreamGroup {
            adaptive,
            name: name.to_owned(),
            endpoints,
            balance,
            retries,
            timeouts,
            pool,
            tls,
            protocol,
            health_check,
            outlier,
            breakers,
            panic_threshold,
        }
    }

    fn hash_key(&mut self, path: &str, spec: &HashKeySpec) -> HashKey {
        let given = [spec.header.is_some(), spec.cookie.is_some(), spec.client_ip]
            .iter()
            .filter(|set| **set)
            .count();
        if given != 1 {
            self.error(
                path,
                "exactly one of header, cookie or client_ip: true is required",
            );
            return HashKey::ClientIp;
        }
        if let Some(header) = &spec.header {
            let path = format!("{path}.header");
            HashKey::Header(self.check(&path, check::header_name(header), String::new()))
        } else if let Some(cookie) = &spec.cookie {
            let path = format!("{path}.cookie");
            self.check(&path, check::cookie_name(cookie), ());
            HashKey::Cookie(cookie.clone())
        } else {
            HashKey::ClientIp
        }
    }

    fn retries(&mut self, path: &str, spec: &RetriesSpec) -> RetryPolicy {
        if spec.attempts > MAX_RETRY_ATTEMPTS {
            self.error(
                format!("{path}.attempts"),
                format!(
                    "{} attempts is more than {MAX_RETRY_ATTEMPTS}",
                    spec.attempts
                ),
            );
        }
        if spec.budget_percent > 100 {
            self.error(
                format!("{path}.budget_percent"),
                format!("{}% is more than 100%", spec.budget_percent),
            );
        }
        let backoff = self.duration(&format!("{path}.backoff"), &spec.backoff, true);
        let backoff_max_path = format!("{path}.backoff_max");
        let backoff_max = self.duration(&backoff_max_path, &spec.backoff_max, true);
        if backoff_max < backoff {
            self.error(
                &backoff_max_path,
                format!(
                    "{} is less than backoff ({})",
                    spec.backoff_max.0, spec.backoff.0
                ),
            );
        }
        for (i, status) in spec.on_status.iter().enumerate() {
            if !(500..=599).contains(status) {
                self.error(
                    index_path(&format!("{path}.on_status"), i),
                    format!("status {status} is outside 500..=599"),
                );
            }
        }
        RetryPolicy {
            attempts: spec.attempts,
            budget_percent: spec.budget_percent,
            backoff,
            backoff_max,
            on_status: spec.on_status.clone(),
        }
    }

    fn listener(
        &mut self,
        path: &str,
        listen: SocketAddr,
        spec: &ListenerSpec,
        upstreams: &HashMap<&str, UpstreamId>,
        names: &policy::PolicyNames,
    ) -> Listener {
        let limits_path = format!("{path}.limits");
        let limits = Limits {
            max_body_bytes: self.positive(
                &format!("{limits_path}.max_body_bytes"),
                spec.limits.max_body_bytes,
            ),
            max_uri_bytes: self.positive(
                &format!("{limits_path}.max_uri_bytes"),
                spec.limits.max_uri_bytes,
            ),
            max_header_bytes: self.positive(
                &format!("{limits_path}.max_header_bytes"),
                spec.limits.max_header_bytes,
            ),
            max_headers: self.positive(
                &format!("{limits_path}.max_headers"),
                spec.limits.max_headers,
            ),
        };
        let timeouts = ClientTimeouts {
            header: self.duration(
                &format!("{path}.timeouts.header"),
                &spec.timeouts.header,
                false,
            ),
            body: self.duration(&format!("{path}.timeouts.body"), &spec.timeouts.body, false),
            idle: self.duration(&format!("{path}.timeouts.idle"), &spec.timeouts.idle, false),
        };

        let routes_path = format!("{path}.routes");
        if spec.routes.is_empty() {
            self.error(&routes_path, "at least one route is required");
        }
        let mut routes = Vec::with_capacity(spec.routes.len());
        for (i, route) in spec.routes.iter().enumerate() {
            let path = index_path(&routes_path, i);
            let name_path = format!("{path}.name");
            self.name(&name_path, &route.name);
            if let Some(j) = spec.routes[..i]
                .iter()
                .position(|r| !r.name.is_empty() && r.name == route.name)
            {
                self.error(
                    &name_path,
                    format!("duplicate route name {:?} (also routes[{j}])", route.name),
                );
            }
            routes.push(self.route(&path, route, limits, upstreams, names));
        }
        let tls = spec
            .tls
            .as_ref()
            .map(|t| self.tls(&format!("{path}.tls"), t));
        if tls.as_ref().is_none_or(|t| t.client_auth.is_none()) {
            for (i, r) in routes.iter().enumerate() {
                if r.client_cert.is_some() {
                    self.error(
                        format!("{}.client_cert", index_path(&routes_path, i)),
                        "the listener asks for no client certificates: set tls.client_auth",
                    );
                }
            }
        }
        let http2 = self.http2(&format!("{path}.http2"), &spec.http2);
        let max_connections_per_core = spec
            .limits
            .max_connections_per_core
            .map(|n| self.positive(&format!("{limits_path}.max_connections_per_core"), n));
        let max_connections = spec
            .limits
            .max_connections
            .map(|n| self.positive(&format!("{limits_path}.max_connections"), n));
        Listener {
            max_connections,
            name: spec.name.clone(),
            listen,
            routes,
            limits,
            timeouts,
            tls,
            http2,
            max_connections_per_core,
        }
    }

    fn route(
        &mut self,
        path: &str,
        spec: &RouteSpec,
        listener_limits: Limits,
        upstreams: &HashMap<&str, UpstreamId>,
        names: &policy::PolicyNames,
    ) -> Route {
        let matcher = self.matcher(&format!("{path}.match"), &spec.matcher);
        let action = self.action(path, spec, upstreams);
        if spec.timeouts.response.is_some() && spec.aggregate.is_some() {
            self.error(
                format!("{path}.timeouts.response"),
                "aggregate routes take aggregate.timeout",
            );
        }
        if spec.reshape.is_some() && spec.cache.is_some() {
            self.error(
                format!("{path}.reshape"),
                "reshaping a cached route is not supported (the cache stores the upstream's bytes)",
            );
        }
        if spec.reshape.is_some() && spec.respond.is_some() {
            self.error(
                format!("{path}.reshape"),
                "only proxy and aggregate routes are reshaped",
            );
        }

        if spec.websocket && spec.proxy.is_none() {
            self.error(
                format!("{path}.websocket"),
                "only proxy routes pass WebSockets through",
            );
        }
        let mut limits = listener_limits;
        if let Some(max_body_bytes) = spec.limits.max_body_bytes {
            limits.max_body_bytes =
                self.positive(&format!("{path}.limits.max_body_bytes"), max_body_bytes);
        }
        let response_timeout = spec.timeouts.response.as_ref().map(|response| {
            let timeout_path = format!("{path}.timeouts.response");
            if spec.respond.is_some() {
                self.error(&timeout_path, "only applies to proxy routes");
            }
            self.duration(&timeout_path, response, false)
        });
        let ip_filter = spec
            .ip_filter
            .as_ref()
            .map(|f| self.ip_filter(&format!("{path}.ip_filter"), f))
            .unwrap_or_default();
        let ip_filter_shadow = spec.ip_filter.as_ref().is_some_and(|f| f.shadow);
        let auth = spec
            .auth
            .as_ref()
            .map(|a| self.route_auth(&format!("{path}.auth"), a, names));
        let rate_limits = self.rate_limits(
            &format!("{path}.rate_limits"),
            &spec.name,
            &spec.rate_limits,
            auth.as_ref(),
        );
        let reshape = spec.reshape.as_ref().map(|r| {
            let route_headers = match &action {
                Action::Proxy(p) => Some(&p.response_headers),
                _ => None,
            };
            self.reshape(&format!("{path}.reshape"), r, route_headers)
        });
        Route {
            name: spec.name.clone(),
            matcher,
            action,
            limits,
            response_timeout,
            ip_filter,
            ip_filter_shadow,
            auth,
            rate_limits,
            client_cert: spec
                .client_cert
                .as_ref()
                .map(|c| self.client_cert_rule(&format!("{path}.client_cert"), c)),
            websocket: spec.websocket,
            cache: spec
                .cache
                .as_ref()
                .map(|c| self.route_cache(&format!("{path}.cache"), c, spec.proxy.is_some())),
            reshape,
        }
    }

    fn matcher(&mut self, path: &str, spec: &MatchSpec) -> RouteMatch {
        let mut hosts: Vec<HostMatch> = Vec::with_capacity(spec.hosts.len());
        for (i, host) in spec.hosts.iter().enumerate() {
            let host_path = index_path(&format!("{path}.hosts"), i);
            if let Some(host) = self.check(&host_path, check::host_pattern(host).map(Some), None) {
                if hosts.contains(&host) {
                    self.error(&host_path, format!("duplicate host pattern {host:?}"));
                }
                hosts.push(host);
            }
        }

        let path_match = match &spec.path {
            None => PathMatch::default(),
            Some(p) => self.path_match(&format!("{path}.path"), p),
        };

        let mut methods: Vec<String> = Vec::with_capacity(spec.methods.len());
        for (i, method) in spec.methods.iter().enumerate() {
            let method_path = index_path(&format!("{path}.methods"), i);
            let method = self.check(&method_path, check::method(method), String::new());
            if !method.is_empty() && methods.contains(&method) {
                self.error(&method_path, format!("duplicate method {method}"));
            }
            methods.push(method);
        }

        let mut headers = Vec::with_capacity(spec.headers.len());
        for (i, header) in spec.headers.iter().enumerate() {
            let header_path = index_path(&format!("{path}.headers"), i);
            let name = self.check(
                &format!("{header_path}.name"),
                check::header_name(&header.name),
                String::new(),
            );
            if let Some(value) = &header.value {
                self.check(
                    &format!("{header_path}.value"),
                    check::header_value(value),
                    (),
                );
            }
            headers.push(HeaderMatch {
                name,
                value: header.value.clone(),
            });
        }

        RouteMatch {
            hosts,
            path: path_match,
            methods,
            headers,
        }
    }

    fn path_match(&mut self, path: &str, spec: &PathSpec) -> PathMatch {
        let fallback = PathMatch::default();
        match (&spec.exact, &spec.prefix, &spec.pattern) {
            (Some(exact), None, None) => {
                let path = format!("{path}.exact");
                self.check(&path, check::literal_path(exact), ());
                PathMatch::Exact(exact.clone())
            }
            (None, Some(prefix), None) => {
                let path = format!("{path}.prefix");
                self.check(&path, check::literal_path(prefix), ());
                PathMatch::Prefix(prefix.clone())
            }
            (None, None, Some(pattern)) => {
                let path = format!("{path}.pattern");
                let segments = self.check(&path, check::pattern(pattern), Vec::new());
                PathMatch::Pattern(segments)
            }
            _ => {
                self.error(path, "exactly one of exact, prefix or pattern is required");
                fallback
            }
        }
    }
}

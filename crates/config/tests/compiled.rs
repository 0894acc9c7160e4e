//! What `compile` builds from valid configurations: defaults, normalization, resolved
//! references, merged limits and timeouts.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::net::SocketAddr;
use std::time::Duration;

use ringway_config::model::*;
use ringway_config::{from_yaml_str, DEMO_YAML};

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn a_minimal_configuration_takes_every_default() {
    let config = from_yaml_str(
        r#"
upstreams:
  users: { endpoints: [{ address: "127.0.0.1:9001" }] }
listeners:
  - name: public
    listen: 127.0.0.1:8080
    routes: [{ name: all, proxy: { upstream: users } }]
"#,
    )
    .unwrap();
    let expected = Config {
        workers: None,
        telemetry: ringway_config::model::Telemetry::default(),
        admin: Some(Admin {
            listen: addr("127.0.0.1:9901"),
        }),
        upstreams: vec![UpstreamGroup {
            name: "users".into(),
            endpoints: vec![Endpoint {
                addr: addr("127.0.0.1:9001"),
                weight: 1,
            }],
            balance: Balance::RoundRobin,
            retries: RetryPolicy::default(),
            timeouts: UpstreamTimeouts::default(),
            pool: Pool::default(),
            tls: None,
            protocol: Default::default(),
            health_check: None,
            outlier: ringway_resilience::OutlierDetection::default(),
            breakers: ringway_resilience::BreakerLimits::default(),
            panic_threshold: 50,
            adaptive: None,
        }],
        listeners: vec![Listener {
            name: "public".into(),
            listen: addr("127.0.0.1:8080"),
            routes: vec![Route {
                name: "all".into(),
                matcher: RouteMatch::default(),
                action: Action::Proxy(Box::new(ProxyAction {
                    backends: vec![WeightedBackend {
                        upstream: UpstreamId(0),
                        weight: 1,
                    }],
                    force_header: None,
                    strip_prefix: None,
                    rewrite_path: None,
                    host: None,
                    request_headers: HeaderOps::default(),
                    response_headers: HeaderOps::default(),
                })),
                limits: Limits::default(),
                response_timeout: None,
                ip_filter: Default::default(),
                ip_filter_shadow: false,
                auth: None,
                rate_limits: Vec::new(),
                client_cert: None,
                websocket: false,
                cache: None,
                reshape: None,
            }],
            limits: Limits::default(),
            timeouts: ClientTimeouts::default(),
            tls: None,
            http2: Default::default(),
            max_connections_per_core: None,
            max_connections: None,
        }],
        drain_timeout: Duration::from_secs(15),
        policies: Default::default(),
        cache: ringway_config::model::CacheSettings {
            memory_bytes: 256 << 20,
        },
    };
    assert_eq!(config, expected);
}

#[test]
fn the_model_defaults_are_the_documented_ones() {
    assert_eq!(
        RetryPolicy::default(),
        RetryPolicy {
            attempts: 1,
            budget_percent: 20,
            backoff: Duration::from_millis(25),
            backoff_max: Duration::from_millis(250),
            on_status: vec![],
        }
    );
    assert_eq!(
        UpstreamTimeouts::default(),
        UpstreamTimeouts {
            connect: Duration::from_secs(5),
            response: Duration::from_secs(60),
        }
    );
    assert_eq!(
        Pool::default(),
        Pool {
            max_idle: 1024,
            idle_timeout: Duration::from_secs(55),
        }
    );
    assert_eq!(
        Limits::default(),
        Limits {
            max_body_bytes: 8_589_934_592,
            max_uri_bytes: 8192,
            max_header_bytes: 32768,
            max_headers: 100,
        }
    );
    assert_eq!(
        ClientTimeouts::default(),
        ClientTimeouts {
            header: Duration::from_secs(10),
            body: Duration::from_secs(60),
            idle: Duration::from_secs(60),
        }
    );
}

#[test]
fn values_are_normalized_and_references_resolved() {
    let config = from_yaml_str(
        r#"
workers: 4
drain_timeout: 2m
admin: { enabled: false }
upstreams:
  users:
    endpoints:
      - { address: "localhost:9001", weight: 3 }
      - { address: "127.0.0.1:9002" }
    balance: consistent_hash
    hash_key: { header: X-User-Id }
    timeouts: { connect: 250ms, response: 1h }
    retries: { attempts: 2, budget_percent: 0, backoff: 0ms, backoff_max: 0ms, on_status: [503] }
    pool: { max_idle: 0, idle_timeout: 1s }
  users-v2:
    endpoints: [{ address: "[::1]:9003" }]
    balance: least_request
  sticky:
    endpoints: [{ address: "127.0.0.1:9004" }]
    balance: consistent_hash
    hash_key: { cookie: SessionId }
listeners:
  - name: public
    listen: 127.0.0.1:0
    limits: { max_body_bytes: 1000, max_uri_bytes: 100, max_header_bytes: 2000, max_headers: 10 }
    timeouts: { header: 1s, body: 2s, idle: 3s }
    routes:
      - name: users
        match:
          hosts: [API.Example.com, "*.Example.com"]
          path: { pattern: "/users/{id}" }
          methods: [get, Post]
          headers: [{ name: X-Debug }, { name: X-Env, value: Prod }]
        proxy:
          split: [{ upstream: users-v2, weight: 0 }, { upstream: users, weight: 10 }]
          force_header: X-Canary
          strip_prefix: /users
          host: users.internal
          request_headers: { set: { X-B: "2", X-A: "1" }, add: { X-C: "3" }, remove: [X-Gone] }
          response_headers: { remove: [server] }
        limits: { max_body_bytes: 5000 }
        timeouts: { response: 5s }
      - name: health
        match: { path: { exact: /healthz } }
        respond: { status: 503, headers: { Content-Type: application/json }, body: "{}" }
  - name: second
    listen: 127.0.0.1:0
    routes: [{ name: all, match: { path: { prefix: /v1 } }, proxy: { upstream: sticky, rewrite_path: /v2 } }]
"#,
    )
    .unwrap();

    assert_eq!(config.workers, Some(4));
    assert_eq!(config.drain_timeout, Duration::from_secs(120));
    assert_eq!(config.admin, None);

    let names: Vec<&str> = config.upstreams.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["users", "users-v2", "sticky"], "file order");
    let users = &config.upstreams[0];
    assert_eq!(
        users.endpoints,
        [
            Endpoint {
                addr: addr("127.0.0.1:9001"),
                weight: 3
            },
            Endpoint {
                addr: addr("127.0.0.1:9002"),
                weight: 1
            },
        ]
    );
    assert_eq!(
        users.balance,
        Balance::ConsistentHash(HashKey::Header("x-user-id".into()))
    );
    assert_eq!(users.timeouts.connect, Duration::from_millis(250));
    assert_eq!(users.timeouts.response, Duration::from_secs(3600));
    assert_eq!(
        users.retries,
        RetryPolicy {
            attempts: 2,
            budget_percent: 0,
            backoff: Duration::ZERO,
            backoff_max: Duration::ZERO,
            on_status: vec![503],
        }
    );
    assert_eq!(
        users.pool,
        Pool {
            max_idle: 0,
            idle_timeout: Duration::from_secs(1)
        }
    );
    assert_eq!(config.upstreams[1].endpoints[0].addr, addr("[::1]:9003"));
    assert_eq!(config.upstreams[1].balance, Balance::LeastRequest);
    assert_eq!(
        config.upstreams[2].balance,
        Balance::ConsistentHash(HashKey::Cookie("SessionId".into()))
    );

    let public = &config.listeners[0];
    let listener_limits = Limits {
        max_body_bytes: 1000,
        max_uri_bytes: 100,
        max_header_bytes: 2000,
        max_headers: 10,
    };
    assert_eq!(public.limits, listener_limits);
    assert_eq!(
        public.timeouts,
        ClientTimeouts {
            header: Duration::from_secs(1),
            body: Duration::from_secs(2),
            idle: Duration::from_secs(3),
        }
    );

    let route = &public.routes[0];
    assert_eq!(
        route.matcher,
        RouteMatch {
            hosts: vec![
                HostMatch::Exact("api.example.com".into()),
                HostMatch::Suffix(".example.com".into()),
            ],
            path: PathMatch::Pattern(vec![
                Segment::Literal("users".into()),
                Segment::Param("id".into()),
            ]),
            methods: vec!["GET".into(), "POST".into()],
            headers: vec![
                HeaderMatch {
                    name: "x-debug".into(),
                    value: None
                },
                HeaderMatch {
                    name: "x-env".into(),
                    value: Some("Prod".into())
                },
            ],
        }
    );
    let Action::Proxy(proxy) = &route.action else {
        panic!("not a proxy route");
    };
    assert_eq!(
        proxy.backends,
        [
            WeightedBackend {
                upstream: UpstreamId(1),
                weight: 0
            },
            WeightedBackend {
                upstream: UpstreamId(0),
                weight: 10
            },
        ]
    );
    assert_eq!(proxy.force_header.as_deref(), Some("x-canary"));
    assert_eq!(proxy.strip_prefix.as_deref(), Some("/users"));
    assert_eq!(proxy.rewrite_path, None);
    assert_eq!(proxy.host.as_deref(), Some("users.internal"));
    assert_eq!(
        proxy.request_headers,
        HeaderOps {
            remove: vec!["x-gone".into()],
            set: vec![("x-b".into(), "2".into()), ("x-a".into(), "1".into())],
            add: vec![("x-c".into(), "3".into())],
        }
    );
    assert_eq!(proxy.response_headers.remove, ["server"]);
    assert_eq!(
        route.limits,
        Limits {
            max_body_bytes: 5000,
            ..listener_limits
        },
        "merged"
    );
    assert_eq!(route.response_timeout, Some(Duration::from_secs(5)));

    let health = &public.routes[1];
    assert_eq!(health.matcher.path, PathMatch::Exact("/healthz".into()));
    assert_eq!(
        health.action,
        Action::Respond(DirectResponse {
            status: 503,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{}".to_vec(),
        })
    );
    assert_eq!(health.limits, listener_limits, "inherited");
    assert_eq!(health.response_timeout, None);

    let second = &config.listeners[1];
    assert_eq!(
        second.routes[0].matcher.path,
        PathMatch::Prefix("/v1".into())
    );
    let Action::Proxy(proxy) = &second.routes[0].action else {
        panic!("not a proxy route");
    };
    assert_eq!(
        proxy.backends,
        [WeightedBackend {
            upstream: UpstreamId(2),
            weight: 1
        }]
    );
    assert_eq!(proxy.rewrite_path.as_deref(), Some("/v2"));
}

#[test]
fn listeners_on_port_zero_never_conflict() {
    let config = from_yaml_str(
        r#"
admin: { listen: "127.0.0.1:0" }
listeners:
  - { name: a, listen: "127.0.0.1:0", routes: [{ name: r, respond: {} }] }
  - { name: b, listen: "127.0.0.1:0", routes: [{ name: r, respond: {} }] }
"#,
    )
    .unwrap();
    assert_eq!(config.listeners.len(), 2);
    assert_eq!(
        config.listeners[0].routes[0].action,
        Action::Respond(DirectResponse {
            status: 200,
            headers: vec![],
            body: vec![]
        })
    );
}

#[test]
fn the_demo_configuration_is_the_documented_demo() {
    let config = from_yaml_str(DEMO_YAML).unwrap();
    assert_eq!(
        config.admin,
        Some(Admin {
            listen: addr("127.0.0.1:9901")
        })
    );
    let groups: Vec<(&str, Vec<SocketAddr>)> = config
        .upstreams
        .iter()
        .map(|u| {
            (
                u.name.as_str(),
                u.endpoints.iter().map(|e| e.addr).collect(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            (
                "users",
                vec![addr("127.0.0.1:18081"), addr("127.0.0.1:18082")]
            ),
            ("users-v2", vec![addr("127.0.0.1:18083")]),
        ]
    );
    assert_eq!(config.listeners.len(), 1);
    let public = &config.listeners[0];
    assert_eq!(public.listen, addr("127.0.0.1:8080"));
    let names: Vec<&str> = public.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["users", "slow", "flaky", "reports", "health"]);
    let reports = &public.routes[3];
    assert!(reports.auth.as_ref().is_some_and(|a| a.api_key));
    let plan = config.policies.consumers[0].plan.unwrap();
    assert_eq!(config.policies.plans[plan].rate_limit.unwrap().requests, 2);

    let Action::Proxy(users) = &public.routes[0].action else {
        panic!("users is not a proxy route");
    };
    assert_eq!(
        users.backends,
        [
            WeightedBackend {
                upstream: UpstreamId(0),
                weight: 90
            },
            WeightedBackend {
                upstream: UpstreamId(1),
                weight: 10
            },
        ]
    );
    assert_eq!(users.force_header.as_deref(), Some("x-canary"));
    assert!(matches!(&public.routes[4].action, Action::Respond(r) if r.status == 200));
}

#[test]
fn prefixes_may_end_with_a_slash() {
    let config = from_yaml_str(
        r#"
upstreams: { u: { endpoints: [{ address: "127.0.0.1:1" }] } }
listeners:
  - name: a
    listen: 127.0.0.1:0
    routes:
      - { name: r, match: { path: { prefix: /api/ } }, proxy: { upstream: u, strip_prefix: /api/ } }
"#,
    )
    .unwrap();
    let route = &config.listeners[0].routes[0];
    assert_eq!(route.matcher.path, PathMatch::Prefix("/api/".into()));
}

#[test]
fn anomaly_detection_follows_the_logs_unless_turned_off() {
    let with = |telemetry: &str| {
        from_yaml_str(&format!(
            r#"
telemetry: {telemetry}
listeners:
  - name: public
    listen: 127.0.0.1:8080
    routes: [{{ name: all, respond: {{ status: 200 }} }}]
"#
        ))
        .unwrap()
        .telemetry
        .anomalies
    };
    assert_eq!(with("{}"), None);
    assert_eq!(with("{ logs_dir: /tmp/l }"), Some(Anomalies::default()));
    assert_eq!(
        with("{ logs_dir: /tmp/l, anomalies: { enabled: false } }"),
        None
    );
    assert_eq!(
        with("{ logs_dir: /tmp/l, anomalies: { bucket: 1s, warmup: 30s } }"),
        Some(Anomalies {
            bucket: Duration::from_secs(1),
            warmup: Duration::from_secs(30),
        })
    );
}

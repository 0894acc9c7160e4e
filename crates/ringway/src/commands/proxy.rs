//! `ringway proxy --listen ADDR --to ADDR[,ADDR...]`: quick mode. The flags become a
//! configuration spec (one listener, one group, one catch-all route, no admin) compiled once
//! by the same compiler as a file, so every flag is checked like the key it stands for.

use std::process::ExitCode;

use ringway_config::spec::{
    ConfigSpec, DurationSpec, EndpointSpec, OrderedMap, ProxySpec, RouteSpec, UpstreamSpec,
};
use ringway_config::spec::{ListenerSpec, TelemetrySpec};

use crate::app;
use crate::cli::{ProxyArgs, Tuning};
use crate::commands::config_error;

/// Which flag sets which key of the spec, for error messages in the user's terms.
const FLAGS: &[(&str, &str)] = &[
    ("listeners[0].listen", "--listen"),
    ("upstreams.default.endpoints", "--to"),
    ("upstreams.default.timeouts.connect", "--connect-timeout"),
    ("upstreams.default.timeouts.response", "--upstream-timeout"),
    ("upstreams.default.pool.max_idle", "--pool-max-idle"),
    ("upstreams.default.pool.idle_timeout", "--pool-idle-timeout"),
    ("listeners[0].timeouts.header", "--header-timeout"),
    ("listeners[0].timeouts.body", "--body-timeout"),
    ("listeners[0].timeouts.idle", "--idle-timeout"),
    ("listeners[0].limits.max_body_bytes", "--max-body-bytes"),
    ("listeners[0].limits.max_uri_bytes", "--max-uri-bytes"),
    ("listeners[0].limits.max_header_bytes", "--max-header-bytes"),
    ("listeners[0].limits.max_headers", "--max-headers"),
    ("drain_timeout", "--drain-timeout"),
    ("telemetry.logs_dir", "--logs"),
];

/// The flag a spec path came from: `upstreams.default.endpoints[1].address` is `--to[1]`.
fn flag_of(path: &str) -> String {
    for (key, flag) in FLAGS {
        if let Some(rest) = path.strip_prefix(key) {
            let index = rest.split('.').next().unwrap_or_default();
            return format!("{flag}{index}");
        }
    }
    path.to_owned()
}

/// The quick-mode configuration spec.
fn spec(args: &ProxyArgs) -> ConfigSpec {
    let t: &Tuning = &args.tuning;
    let mut spec = ConfigSpec::default();
    spec.admin.enabled = false;
    if let Some(d) = &t.drain_timeout {
        spec.drain_timeout = DurationSpec::new(d);
    }
    spec.telemetry = TelemetrySpec {
        logs_dir: args.logs.as_ref().map(|d| d.display().to_string()),
        ..TelemetrySpec::default()
    };
    let mut group = UpstreamSpec {
        endpoints: args
            .to
            .iter()
            .map(|address| EndpointSpec {
                address: address.clone(),
                ..EndpointSpec::default()
            })
            .collect(),
        ..UpstreamSpec::default()
    };
    set_duration(&mut group.timeouts.connect, &t.connect_timeout);
    set_duration(&mut group.timeouts.response, &t.upstream_timeout);
    set_duration(&mut group.pool.idle_timeout, &t.pool_idle_timeout);
    set(&mut group.pool.max_idle, t.pool_max_idle);
    spec.upstreams = OrderedMap(vec![("default".to_owned(), group)]);

    let mut listener = ListenerSpec {
        name: "quick".to_owned(),
        listen: args.listen.clone(),
        routes: vec![RouteSpec {
            name: "all".to_owned(),
            proxy: Some(ProxySpec {
                upstream: Some("default".to_owned()),
                ..ProxySpec::default()
            }),
            ..RouteSpec::default()
        }],
        ..ListenerSpec::default()
    };
    set_duration(&mut listener.timeouts.header, &t.header_timeout);
    set_duration(&mut listener.timeouts.body, &t.body_timeout);
    set_duration(&mut listener.timeouts.idle, &t.idle_timeout);
    set(&mut listener.limits.max_body_bytes, t.max_body_bytes);
    set(&mut listener.limits.max_uri_bytes, t.max_uri_bytes);
    set(&mut listener.limits.max_header_bytes, t.max_header_bytes);
    set(&mut listener.limits.max_headers, t.max_headers);
    spec.listeners = vec![listener];
    spec
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn set_duration(slot: &mut DurationSpec, value: &Option<String>) {
    if let Some(text) = value {
        *slot = DurationSpec::new(text);
    }
}

/// Runs quick mode until a signal.
pub(crate) fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let mut errors = Vec::new();
    let opts = args.process.options(None, &mut errors);
    let cfg = ringway_config::compile(&spec(&args)).map_err(|e| {
        for e in e.iter() {
            errors.push(format!("{}: {}", flag_of(&e.path), e.message));
        }
    });
    let (Ok(cfg), true) = (cfg, errors.is_empty()) else {
        return Ok(config_error(&errors));
    };
    // Configuration problems found while starting reach `main`, which exits 64.
    let text = "# quick mode (ringway proxy): no configuration file\n";
    app::start(cfg, text, None, opts)?.wait(None)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn compile(args: &[&str]) -> Result<ringway_config::model::Config, Vec<String>> {
        let mut argv = vec!["ringway", "proxy"];
        argv.extend_from_slice(args);
        let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
        let crate::cli::Command::Proxy(args) = cli.command else {
            unreachable!()
        };
        ringway_config::compile(&spec(&args)).map_err(|e| {
            e.iter()
                .map(|e| format!("{}: {}", flag_of(&e.path), e.message))
                .collect()
        })
    }

    #[test]
    fn flags_become_the_keys_they_stand_for() {
        let cfg = compile(&[
            "--listen",
            "127.0.0.1:0",
            "--to",
            "127.0.0.1:9001,127.0.0.1:9002",
            "--header-timeout",
            "250ms",
            "--upstream-timeout",
            "1m30s",
            "--max-headers",
            "50",
            "--pool-max-idle",
            "7",
        ])
        .unwrap();
        assert!(cfg.admin.is_none());
        assert_eq!(cfg.upstreams[0].endpoints.len(), 2);
        let l = &cfg.listeners[0];
        assert_eq!(l.timeouts.header, std::time::Duration::from_millis(250));
        assert_eq!(l.limits.max_headers, 50);
        assert_eq!(l.routes[0].limits.max_headers, 50);
        assert_eq!(
            cfg.upstreams[0].timeouts.response,
            std::time::Duration::from_secs(90)
        );
        assert_eq!(cfg.upstreams[0].pool.max_idle, 7);
    }

    #[test]
    fn every_bad_flag_is_named() {
        let errors = compile(&[
            "--listen",
            "nonsense",
            "--to",
            "127.0.0.1:1,also-bad",
            "--header-timeout",
            "0s",
            "--connect-timeout",
            "5",
            "--max-headers",
            "0",
        ])
        .unwrap_err();
        for flag in [
            "--listen",
            "--to[1]",
            "--header-timeout",
            "--connect-timeout",
            "--max-headers",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(flag)),
                "{flag} in {errors:#?}"
            );
        }
    }
}

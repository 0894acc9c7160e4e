//! `listeners[].tls`: protocol choices checked by name with the TLS crate's own tables, so
//! that what `validate` accepts is what a handshake uses. Certificate files are read later,
//! by whoever starts the gateway (and again on every reload).

use std::sync::Arc;

use ringway_tls::{CertTable, ClientAuthMode, Profile, ServerOptions, TlsVersion, UnknownSni};

use super::Compiler;
use crate::error::index_path;
use crate::model::{
    CertificateFiles, ClientAuth, ClientCertRule, Http2Options, ListenerTls, UpstreamTls,
};
use crate::spec::{
    CertificateSpec, ClientAuthSpec, ClientCertRuleSpec, EndpointSpec, Http2Spec, TlsSpec,
    UpstreamTlsSpec,
};

/// ALPN protocols the listener can serve.
const ALPN_SERVED: &[&str] = &["h2", "http/1.1"];

impl Compiler {
    pub(super) fn tls(&mut self, path: &str, spec: &TlsSpec) -> ListenerTls {
        let certs_path = format!("{path}.certificates");
        if spec.certificates.is_empty() {
            self.error(&certs_path, "at least one certificate is required");
        }
        let certificates: Vec<CertificateFiles> = spec
            .certificates
            .iter()
            .enumerate()
            .map(|(i, c)| self.certificate(&index_path(&certs_path, i), c))
            .collect();
        let defaults: Vec<usize> = (0..spec.certificates.len())
            .filter(|&i| spec.certificates[i].default)
            .collect();
        if defaults.len() > 1 {
            self.error(
                &certs_path,
                format!(
                    "at most one certificate may be the default; certificates {defaults:?} say so"
                ),
            );
        }
        let unknown_sni = match spec.unknown_sni.as_str() {
            "default" => UnknownSni::Default,
            "reject" => UnknownSni::Reject,
            other => {
                self.error(
                    format!("{path}.unknown_sni"),
                    format!("{other:?} is not one of: default, reject"),
                );
                UnknownSni::Default
            }
        };
        let min_version = match spec.min_version.as_str() {
            "1.2" => TlsVersion::Tls12,
            "1.3" => TlsVersion::Tls13,
            other => {
                self.error(
                    format!("{path}.min_version"),
                    format!("{other:?} is not one of: \"1.2\", \"1.3\""),
                );
                TlsVersion::Tls12
            }
        };
        let profile = match spec.profile.as_str() {
            "intermediate" => Profile::Intermediate,
            "modern" => Profile::Modern,
            other => {
                self.error(
                    format!("{path}.profile"),
                    format!("{other:?} is not one of: intermediate, modern"),
                );
                Profile::Intermediate
            }
        };
        let alpn_path = format!("{path}.alpn");
        if spec.alpn.is_empty() {
            self.error(&alpn_path, "at least one protocol is required");
        }
        for (i, p) in spec.alpn.iter().enumerate() {
            if !ALPN_SERVED.contains(&p.as_str()) {
                self.error(
                    index_path(&alpn_path, i),
                    format!("{p:?} is not served; one of: {}", ALPN_SERVED.join(", ")),
                );
            }
            if spec.alpn[..i].contains(p) {
                self.error(index_path(&alpn_path, i), format!("{p:?} is listed twice"));
            }
        }
        let options = ServerOptions {
            profile,
            min_version,
            suites: spec.cipher_suites.clone(),
            groups: spec.groups.clone(),
            alpn: spec.alpn.iter().map(|p| p.as_bytes().to_vec()).collect(),
            tickets: spec.session_tickets,
        };
        self.tls_options(path, &options);
        ListenerTls {
            certificates,
            default_certificate: defaults.first().copied().unwrap_or(0),
            unknown_sni,
            options,
            handshake_timeout: self.duration(
                &format!("{path}.handshake_timeout"),
                &spec.handshake_timeout,
                false,
            ),
            client_auth: spec
                .client_auth
                .as_ref()
                .map(|c| self.client_auth(&format!("{path}.client_auth"), c)),
        }
    }

    pub(super) fn http2(&mut self, path: &str, spec: &Http2Spec) -> Http2Options {
        let mut range = |key: &str, v: u32, lo: u32, hi: u32| {
            if !(lo..=hi).contains(&v) {
                self.error(
                    format!("{path}.{key}"),
                    format!("{v} is outside {lo}..={hi}"),
                );
            }
        };
        range(
            "max_concurrent_streams",
            spec.max_concurrent_streams,
            1,
            1000,
        );
        range(
            "stream_window_bytes",
            spec.stream_window_bytes,
            65535,
            1 << 24,
        );
        range(
            "connection_window_bytes",
            spec.connection_window_bytes,
            65535,
            (1 << 31) - 1,
        );
        range(
            "max_requests_per_connection",
            spec.max_requests_per_connection,
            1,
            u32::MAX,
        );
        if spec.connection_window_bytes < spec.stream_window_bytes {
            self.error(
                format!("{path}.connection_window_bytes"),
                "smaller than stream_window_bytes: one stream could stall the others",
            );
        }
        Http2Options {
            h2c: spec.h2c,
            max_concurrent_streams: spec.max_concurrent_streams,
            stream_window: spec.stream_window_bytes,
            connection_window: spec.connection_window_bytes,
            max_requests: spec.max_requests_per_connection,
            max_age: self.duration(
                &format!("{path}.max_connection_age"),
                &spec.max_connection_age,
                false,
            ),
        }
    }

    pub(super) fn upstream_tls(
        &mut self,
        path: &str,
        spec: &UpstreamTlsSpec,
        endpoints: &[EndpointSpec],
    ) -> UpstreamTls {
        let hosts: Vec<(String, String)> = match &spec.server_name {
            Some(name) => vec![(format!("{path}.server_name"), name.clone()); endpoints.len()],
            None => endpoints
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    // The host part as written: `[v6]:port`, `v4:port`, `name:port`.
                    let host = e
                        .address
                        .rsplit_once(':')
                        .map_or(e.address.as_str(), |(h, _)| h);
                    let at = format!(
                        "{}.address",
                        index_path(
                            &format!("{}.endpoints", path.strip_suffix(".tls").unwrap_or(path)),
                            i
                        )
                    );
                    (
                        at,
                        host.trim_start_matches('[')
                            .trim_end_matches(']')
                            .to_owned(),
                    )
                })
                .collect(),
        };
        let mut server_names = Vec::with_capacity(hosts.len());
        for (at, host) in hosts {
            match ringway_tls::check_server_name(&host) {
                Ok(n) => server_names.push(n),
                Err(e) => {
                    self.error(at, format!("{e}: not a name to verify the endpoint's certificate against; set tls.server_name"));
                }
            }
        }
        if let Some(ca) = &spec.ca {
            if ca.is_empty() {
                self.error(
                    format!("{path}.ca"),
                    "a PEM file path, or leave it out for the system roots",
                );
            }
        }
        let client_cert = spec.client_cert.as_ref().map(|c| {
            for (key, value) in [("cert", &c.cert), ("key", &c.key)] {
                if value.is_empty() {
                    self.error(
                        format!("{path}.client_cert.{key}"),
                        "a PEM file path is required",
                    );
                }
            }
            (c.cert.clone().into(), c.key.clone().into())
        });
        UpstreamTls {
            server_names,
            ca: spec.ca.as_ref().map(Into::into),
            client_cert,
        }
    }

    fn client_auth(&mut self, path: &str, spec: &ClientAuthSpec) -> ClientAuth {
        let mode = match spec.mode.as_str() {
            "required" => ClientAuthMode::Required,
            "optional" => ClientAuthMode::Optional,
            other => {
                self.error(
                    format!("{path}.mode"),
                    format!("{other:?} is not one of: required, optional"),
                );
                ClientAuthMode::Required
            }
        };
        if spec.ca.is_empty() {
            self.error(
                format!("{path}.ca"),
                "a PEM file of trusted CAs is required",
            );
        }
        for (i, crl) in spec.crls.iter().enumerate() {
            if crl.is_empty() {
                self.error(
                    index_path(&format!("{path}.crls"), i),
                    "a file path is required",
                );
            }
        }
        ClientAuth {
            mode,
            ca: spec.ca.clone().into(),
            crls: spec.crls.iter().map(Into::into).collect(),
            forward: spec.forward,
        }
    }

    pub(super) fn client_cert_rule(
        &mut self,
        path: &str,
        spec: &ClientCertRuleSpec,
    ) -> ClientCertRule {
        for (i, san) in spec.sans.iter().enumerate() {
            let typed = ["DNS:", "URI:", "email:", "IP:"]
                .iter()
                .any(|p| san.len() > p.len() && san.starts_with(p));
            if !typed {
                self.error(
                    index_path(&format!("{path}.sans"), i),
                    format!("{san:?} names no type: DNS:<host>, URI:<uri>, email:<address> or IP:<address>"),
                );
            }
        }
        ClientCertRule {
            subjects: spec.subjects.clone(),
            sans: spec.sans.clone(),
        }
    }

    fn certificate(&mut self, path: &str, spec: &CertificateSpec) -> CertificateFiles {
        for (key, value) in [("cert", &spec.cert), ("key", &spec.key)] {
            if value.is_empty() {
                self.error(format!("{path}.{key}"), "a PEM file path is required");
            }
        }
        if let Some(names) = &spec.names {
            if names.is_empty() {
                self.error(
                    format!("{path}.names"),
                    "an empty list would serve the certificate for no name; leave it out to use the certificate's names",
                );
            }
        }
        CertificateFiles {
            cert: spec.cert.clone().into(),
            key: spec.key.clone().into(),
            names: spec.names.clone(),
        }
    }

    /// Builds a configuration with these choices (no certificate, no ticket key) so that an
    /// unknown suite or group, or suites that fit none of the versions, fail here.
    fn tls_options(&mut self, path: &str, options: &ServerOptions) {
        let table = || Arc::new(CertTable::default());
        let only = |suites, groups| ServerOptions {
            suites,
            groups,
            tickets: false,
            ..options.clone()
        };
        let suites = ringway_tls::server_config(table(), &only(options.suites.clone(), None), None);
        if let Err(e) = &suites {
            self.error(format!("{path}.cipher_suites"), e.to_string());
        }
        let groups = ringway_tls::server_config(table(), &only(None, options.groups.clone()), None);
        if let Err(e) = &groups {
            self.error(format!("{path}.groups"), e.to_string());
        }
        if suites.is_ok() && groups.is_ok() {
            let both = only(options.suites.clone(), options.groups.clone());
            if let Err(e) = ringway_tls::server_config(table(), &both, None) {
                self.error(path, e.to_string());
            }
        }
    }
}

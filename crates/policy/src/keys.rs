//! Key material read before the policies are built: PEM files, JWKS files, HMAC secrets from
//! the environment, and the CA certificates a JWKS URL is verified with. Reading goes through
//! [`Sources`], so tests (and `validate`) decide where bytes come from; every problem carries
//! the path of the setting that caused it.

use std::ffi::OsString;
use std::io;
use std::path::Path;

use ringway_auth::jwt::KeySet;
use ringway_config::model::{Config, JwtProvider};
use ringway_config::{ConfigError, ConfigErrors};

/// Shortest HMAC secret accepted, in bytes.
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

/// Where files and environment variables are read from.
pub trait Sources {
    /// The bytes of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// An environment variable, if set.
    fn env(&self, name: &str) -> Option<OsString>;
}

/// The real file system and process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct System;

impl Sources for System {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn env(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }
}

/// Whether an unset HMAC secret is an error (starting the gateway) or a warning (`validate`
/// on a machine that does not hold the secrets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// Every secret must be set: starting the gateway.
    Required,
    /// A missing secret is a warning: checking a configuration elsewhere.
    MayBeAbsent,
}

/// The keys of every JWT provider, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct KeyMaterial {
    pub(crate) providers: Vec<ProviderKeys>,
}

/// One provider's keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProviderKeys {
    /// PEM, JWKS-file and HMAC keys (a JWKS URL's keys are merged with these).
    pub(crate) keys: KeySet,
    /// PEM certificates of the CAs a `jwks_url` is verified with (`None`: the built-in roots).
    pub(crate) jwks_ca_pem: Option<Vec<u8>>,
}

/// Loaded key material and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The keys.
    pub keys: KeyMaterial,
    /// Problems that do not stop a `validate` (see [`Secrets::MayBeAbsent`]).
    pub warnings: Vec<ConfigError>,
}

impl KeyMaterial {
    /// Reads every provider's key files and secrets. Every problem is reported at once, each
    /// with the path of its setting.
    pub fn load(
        cfg: &Config,
        sources: &dyn Sources,
        secrets: Secrets,
    ) -> Result<Loaded, ConfigErrors> {
        let mut errors = ConfigErrors::default();
        let mut warnings = Vec::new();
        let providers = cfg
            .policies
            .jwt_providers
            .iter()
            .map(|jp| provider_keys(jp, sources, secrets, &mut errors, &mut warnings))
            .collect();
        if errors.is_empty() {
            Ok(Loaded {
                keys: KeyMaterial { providers },
                warnings,
            })
        } else {
            Err(errors)
        }
    }
}

fn read(
    sources: &dyn Sources,
    errors: &mut ConfigErrors,
    at: &str,
    file: &Path,
) -> Option<Vec<u8>> {
    sources
        .read(file)
        .map_err(|e| errors.push(at, format!("cannot read {}: {e}", file.display())))
        .ok()
}

fn provider_keys(
    jp: &JwtProvider,
    sources: &dyn Sources,
    secrets: Secrets,
    errors: &mut ConfigErrors,
    warnings: &mut Vec<ConfigError>,
) -> ProviderKeys {
    let path = format!("auth.jwt_providers.{}.keys", jp.name);
    let mut keys = KeySet::empty();
    for (i, (file, kid)) in jp.keys.pem_files.iter().enumerate() {
        let at = format!("{path}.pem_files[{i}].file");
        if let Some(pem) = read(sources, errors, &at, file) {
            match KeySet::from_pem(&pem, kid.clone()) {
                Ok(set) => keys.merge(set),
                Err(e) => errors.push(at, format!("{}: {e}", file.display())),
            }
        }
    }
    if let Some(file) = &jp.keys.jwks_file {
        let at = format!("{path}.jwks_file");
        if let Some(json) = read(sources, errors, &at, file) {
            match KeySet::from_jwks(&json) {
                Ok(set) => keys.merge(set),
                Err(e) => errors.push(at, format!("{}: {e}", file.display())),
            }
        }
    }
    if let Some(var) = &jp.keys.hmac_secret_env {
        let at = format!("{path}.hmac_secret_env");
        match sources.env(var) {
            Some(secret) if secret.len() >= MIN_HMAC_SECRET_BYTES => {
                match KeySet::from_hmac_secret(secret.as_encoded_bytes(), None) {
                    Ok(set) => keys.merge(set),
                    Err(e) => errors.push(at, e.to_string()),
                }
            }
            Some(_) => errors.push(
                at,
                format!("the secret in ${var} is shorter than {MIN_HMAC_SECRET_BYTES} bytes"),
            ),
            None => {
                let message = format!("environment variable ${var} is not set");
                match secrets {
                    Secrets::Required => errors.push(at, message),
                    // Secrets live where the gateway runs, often not where configs are checked.
                    Secrets::MayBeAbsent => warnings.push(ConfigError::new(at, message)),
                }
            }
        }
    }
    let jwks_ca_pem = jp.keys.jwks_ca_file.as_ref().and_then(|file| {
        let at = format!("{path}.jwks_ca_file");
        let pem = read(sources, errors, &at, file)?;
        // At least one certificate, or every fetch would fail later for a reason found now.
        let certificates = pem::parse_many(&pem)
            .map(|blocks| blocks.iter().filter(|b| b.tag() == "CERTIFICATE").count())
            .unwrap_or(0);
        if certificates == 0 {
            errors.push(
                at,
                format!(
                    "{}: no PEM certificate (BEGIN CERTIFICATE) found",
                    file.display()
                ),
            );
            return None;
        }
        Some(pem)
    });
    ProviderKeys { keys, jwks_ca_pem }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use super::*;

    /// Files and variables held in memory.
    #[derive(Default)]
    struct Fake {
        files: HashMap<PathBuf, Vec<u8>>,
        env: HashMap<String, String>,
    }

    impl Sources for Fake {
        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            self.files
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }

        fn env(&self, name: &str) -> Option<OsString> {
            self.env.get(name).map(OsString::from)
        }
    }

    fn config(keys: &str, algorithms: &str) -> Config {
        ringway_config::from_yaml_str(&format!(
            "upstreams: {{ u: {{ endpoints: [{{ address: \"127.0.0.1:1\" }}] }} }}\n\
             auth: {{ jwt_providers: {{ corp: {{ algorithms: [{algorithms}], keys: {keys} }} }} }}\n\
             listeners: [{{ name: l, listen: 127.0.0.1:0, routes: [{{ name: r, proxy: {{ upstream: u }} }}] }}]"
        ))
        .unwrap()
    }

    #[test]
    fn every_unreadable_or_invalid_source_is_an_error_at_its_path() {
        let cfg = config(
            "{ pem_files: [{ file: a.pem }, { file: b.pem }], jwks_file: k.json, jwks_url: \"https://id.test/jwks\", jwks_ca_file: ca.pem }",
            "RS256",
        );
        let mut fake = Fake::default();
        fake.files.insert("b.pem".into(), b"not a key".to_vec());
        fake.files
            .insert("k.json".into(), b"{\"keys\": 3}".to_vec());
        fake.files
            .insert("ca.pem".into(), b"no certificate here".to_vec());
        let errors = KeyMaterial::load(&cfg, &fake, Secrets::Required).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "auth.jwt_providers.corp.keys.pem_files[0].file",
                "auth.jwt_providers.corp.keys.pem_files[1].file",
                "auth.jwt_providers.corp.keys.jwks_file",
                "auth.jwt_providers.corp.keys.jwks_ca_file",
            ]
        );
        assert!(
            errors.0[0].message.contains("cannot read a.pem"),
            "{errors}"
        );
    }

    #[test]
    fn a_missing_secret_is_an_error_when_starting_and_a_warning_when_validating() {
        let cfg = config("{ hmac_secret_env: JWT_SECRET }", "HS256");
        let fake = Fake::default();
        let errors = KeyMaterial::load(&cfg, &fake, Secrets::Required).unwrap_err();
        assert_eq!(
            errors.0[0].path,
            "auth.jwt_providers.corp.keys.hmac_secret_env"
        );
        let loaded = KeyMaterial::load(&cfg, &fake, Secrets::MayBeAbsent).unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0]
            .message
            .contains("$JWT_SECRET is not set"));

        let mut short = Fake::default();
        short.env.insert("JWT_SECRET".into(), "too short".into());
        let errors = KeyMaterial::load(&cfg, &short, Secrets::MayBeAbsent).unwrap_err();
        assert!(
            errors.0[0].message.contains("shorter than 32 bytes"),
            "{errors}"
        );

        let mut good = Fake::default();
        good.env.insert("JWT_SECRET".into(), "s".repeat(32));
        let loaded = KeyMaterial::load(&cfg, &good, Secrets::Required).unwrap();
        assert_eq!(loaded.keys.providers[0].keys.len(), 1);
        assert!(loaded.warnings.is_empty());
    }
}

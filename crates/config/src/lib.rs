//! Ringway configuration: the YAML file shape ([`spec`]), compiled into the checked runtime
//! shape ([`model`]), with every problem reported at once with its path.
//!
//! ```
//! let config = ringway_config::from_yaml_str(
//!     r#"
//! upstreams:
//!   users: { endpoints: [{ address: "127.0.0.1:9001" }] }
//! listeners:
//!   - name: public
//!     listen: 127.0.0.1:8080
//!     routes:
//!       - name: users
//!         match: { path: { prefix: /users } }
//!         proxy: { upstream: users }
//! "#,
//! )
//! .unwrap();
//! assert_eq!(config.listeners[0].routes[0].name, "users");
//!
//! let errors = ringway_config::from_yaml_str(
//!     "listeners: [{ name: public, listen: 127.0.0.1:8080, routes: [{ name: r, proxy: { upstream: billing } }] }]",
//! )
//! .unwrap_err();
//! assert_eq!(
//!     errors.to_string(),
//!     r#"listeners[0].routes[0].proxy.upstream: unknown upstream "billing" (no upstreams are defined)"#
//! );
//! ```
//!
//! The reference of every key, its default and the error format is `config/README.md`.

use std::path::Path;

mod check;
mod compile;
mod error;
pub mod model;
mod parse;
pub mod spec;

pub use compile::compile;
pub use error::{ConfigError, ConfigErrors};
pub use model::Config;
pub use parse::parse;

/// The demo's configuration (`config/demo.yaml`), embedded for `ringway demo`.
pub const DEMO_YAML: &str = include_str!("../../../config/demo.yaml");

/// The configuration `ringway demo --scenario` runs (`config/scenario.yaml`).
pub const SCENARIO_YAML: &str = include_str!("../../../config/scenario.yaml");

/// Parses and compiles a YAML configuration. On failure returns every problem found: every
/// unknown key and every semantic error together, or the first syntax/type error (serde cannot
/// continue past one) with the unknown keys found before it.
pub fn from_yaml_str(yaml: &str) -> Result<Config, ConfigErrors> {
    let (spec, mut errors) = parse::parse_lenient(yaml)?;
    match compile(&spec) {
        Ok(config) if errors.is_empty() => Ok(config),
        Ok(_) => Err(errors),
        Err(semantic) => {
            errors.0.extend(semantic);
            Err(errors)
        }
    }
}

/// Reads a YAML configuration file and compiles it ([`from_yaml_str`]). A file that cannot be
/// read is one error whose path is the file's path.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let yaml = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::from(ConfigError::new(
            path.display().to_string(),
            format!("cannot read the configuration file: {e}"),
        ))
    })?;
    from_file_text(&yaml, path)
}

/// [`from_yaml_str`] for text read from `path`: relative key-file paths are then relative to
/// the file's directory. For callers that keep the text (to show it, or to read the file
/// once).
pub fn from_file_text(yaml: &str, path: &Path) -> Result<Config, ConfigErrors> {
    let mut config = from_yaml_str(yaml)?;
    if let Some(dir) = path.parent() {
        config.resolve_paths(dir);
    }
    Ok(config)
}

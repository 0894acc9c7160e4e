//! The Python side of the end-to-end tests (real clients and servers: `h2`, `hyperframe`,
//! `websockets`, DuckDB): the packages are installed with pip on first use when missing, so
//! `cargo test --workspace` works on a fresh machine that has python3 and pip.

use std::process::Command;
use std::sync::Mutex;

/// Packages already checked in this test process.
static READY: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// Makes sure python3 can import each of `packages` (PyPI names that are also their import
/// names), installing the missing ones with `pip install --user`. Panics with pip's message
/// when that fails.
pub fn ensure_python(packages: &[&'static str]) {
    let mut ready = READY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let missing: Vec<&'static str> = packages
        .iter()
        .copied()
        .filter(|p| !ready.contains(p))
        .filter(|p| {
            !Command::new("python3")
                .args(["-c", &format!("import {p}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if !missing.is_empty() {
        let out = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--user",
                "--disable-pip-version-check",
            ])
            .args(&missing)
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "pip install {missing:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    ready.extend(packages.iter().copied());
}

//! Every configuration file shipped in `config/` loads and compiles without a single error.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failed assertion"
)]

use std::path::PathBuf;

#[test]
fn every_file_in_config_compiles() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("gateway.yaml"))
            && files.iter().any(|f| f.ends_with("demo.yaml")),
        "config/ lacks gateway.yaml or demo.yaml: {files:?}"
    );
    let mut failures = Vec::new();
    for file in &files {
        if let Err(errors) = ringway_config::load_file(file) {
            failures.push(format!("{}:\n{errors}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

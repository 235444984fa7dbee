//! Tidy checks on the source tree (as rust-analyzer's `xtask/src/tidy.rs` does): every Rust
//! file opens with a `//!` comment on its role, no test is skipped or inverted, and the load
//! tester uses none of the server's modules.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn all_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    assert!(files.len() > 10, "found the sources");
    files
}

#[test]
fn every_rust_file_opens_with_a_module_doc_comment() {
    let missing: Vec<_> = all_files()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("readable file");
            !text.starts_with("//!")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading //! comment: {missing:?}"
    );
}

#[test]
fn no_test_is_ignored_or_expected_to_panic() {
    // Built from parts so this file does not match itself.
    let forbidden = [format!("#[{}", "ignore"), format!("#[{}", "should_panic")];
    let offenders: Vec<_> = all_files()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("readable file");
            forbidden.iter().any(|f| text.contains(f.as_str()))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "skipped or inverted tests in: {offenders:?}"
    );
}

#[test]
fn the_load_tester_reaches_the_server_only_over_http() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src/loadtest"), &mut files);
    assert!(!files.is_empty(), "found the load tester");
    let internals = ["actors", "store", "http", "domain", "clock", "payments"]
        .map(|module| format!("crate::{module}"));
    let offenders: Vec<_> = files
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("readable file");
            internals.iter().any(|i| text.contains(i.as_str()))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "the load tester uses server internals in: {offenders:?}"
    );
}

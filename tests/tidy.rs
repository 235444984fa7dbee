//! Tidy checks on the source tree (as rust-analyzer's `xtask/src/tidy.rs` does): every Rust
//! file opens with a `//!` comment on its role, no test is skipped or inverted, the layer
//! boundaries of docs/ARCHITECTURE.md hold, and comments name only files that exist.
//!
//! The crate boundaries (`domain` pure, `loadtest` an HTTP client) are read from the
//! manifests; the module boundaries inside the server are read from `use` paths.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

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

fn files_under(dirs: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in dirs {
        let dir = root().join(dir);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
    }
    assert!(!files.is_empty(), "found sources under {dirs:?}");
    files
}

/// Every Rust file of every crate in the workspace, tests and examples included.
fn all_files() -> Vec<PathBuf> {
    let files = files_under(&["src", "tests", "examples", "domain/src", "loadtest/src"]);
    assert!(files.len() > 10, "found the sources");
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("readable file")
}

/// Files under `dirs` whose text contains any of `needles`.
fn files_containing(dirs: &[&str], needles: &[String]) -> Vec<PathBuf> {
    files_under(dirs)
        .into_iter()
        .filter(|path| {
            let text = read(path);
            needles.iter().any(|n| text.contains(n.as_str()))
        })
        .collect()
}

/// The package names in a manifest's `[dependencies]` table (a `package = "…"` rename
/// counts under the real name, which is what the boundary is about).
fn dependencies(manifest: &str) -> Vec<String> {
    let text = read(&root().join(manifest));
    let mut names = Vec::new();
    let mut in_table = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[dependencies]";
            continue;
        }
        if !in_table || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let renamed = value
            .split_once("package")
            .and_then(|(_, rest)| rest.split('"').nth(1));
        names.push(renamed.unwrap_or(key.trim()).to_owned());
    }
    names
}

#[test]
fn every_rust_file_opens_with_a_module_doc_comment() {
    let missing: Vec<_> = all_files()
        .into_iter()
        .filter(|path| !read(path).starts_with("//!"))
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
            let text = read(path);
            forbidden.iter().any(|f| text.contains(f.as_str()))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "skipped or inverted tests in: {offenders:?}"
    );
}

#[test]
fn the_domain_depends_on_nothing_that_does_io() {
    let allowed = ["thiserror", "serde"];
    let deps = dependencies("domain/Cargo.toml");
    let extra: Vec<_> = deps
        .iter()
        .filter(|d| !allowed.contains(&d.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "domain/Cargo.toml may depend on {allowed:?} only, not {extra:?}"
    );
}

#[test]
fn the_load_tester_reaches_the_server_only_over_http() {
    let deps = dependencies("loadtest/Cargo.toml");
    assert!(deps.contains(&"reqwest".to_owned()), "read the manifest");
    let ours: Vec<_> = deps.iter().filter(|d| d.starts_with("ticketing")).collect();
    assert!(
        ours.is_empty(),
        "loadtest/Cargo.toml depends on the shop's own crates: {ours:?}"
    );
}

#[test]
fn the_healthcheck_subcommand_is_an_http_client_only() {
    // `ticketing healthcheck` runs inside the container's probe: it must not open the store
    // or start actors, or a probe could take the data directory's lock from the server.
    let path = root().join("src/healthcheck.rs");
    assert!(path.exists(), "the healthcheck lives in src/healthcheck.rs");
    let text = read(&path);
    let internals = [
        "actors",
        "store",
        "http",
        "gateway",
        "clock",
        "readiness",
        "data_dir",
    ]
    .map(|module| format!("crate::{module}"));
    let used: Vec<_> = internals
        .iter()
        .filter(|i| text.contains(i.as_str()))
        .collect();
    assert!(used.is_empty(), "src/healthcheck.rs uses {used:?}");
}

#[test]
fn the_http_layer_never_names_the_store() {
    // Handlers speak to `Services`; reading sled from a handler would skip the actors that
    // serialise each entity's changes.
    let offenders = files_containing(&["src/http"], &["crate::store".to_owned()]);
    assert!(
        offenders.is_empty(),
        "the HTTP layer names the store in: {offenders:?}"
    );
}

#[test]
fn the_store_knows_nothing_of_actors_or_http() {
    let above = ["crate::actors", "crate::http"].map(str::to_owned);
    let offenders = files_containing(&["src/store"], &above);
    assert!(
        offenders.is_empty(),
        "the store reaches up a layer in: {offenders:?}"
    );
}

#[test]
fn the_gateway_knows_nothing_of_the_layers_that_use_it() {
    // The order actor depends on the gateway, never the other way round: amounts and ids
    // cross as plain values, so a provider can be swapped without touching the store.
    let users = ["crate::store", "crate::actors", "crate::http"].map(str::to_owned);
    let offenders = files_containing(&["src/gateway"], &users);
    assert!(
        offenders.is_empty(),
        "the gateway reaches into its callers in: {offenders:?}"
    );
}

#[test]
fn the_actors_know_nothing_of_http() {
    let offenders = files_containing(&["src/actors"], &["crate::http".to_owned()]);
    assert!(
        offenders.is_empty(),
        "the actors name the HTTP layer in: {offenders:?}"
    );
}

#[test]
fn paths_named_in_comments_exist() {
    // A comment that sends the reader to `src/actors/holds.rs` or docs/STORAGE.md must
    // send them somewhere real; moving a file means fixing the comments that name it.
    let prefixes = ["src/", "docs/", "tests/", "domain/", "loadtest/", "bench/"];
    let extensions = [".rs", ".md", ".py", ".toml"];
    let mut missing = Vec::new();
    for path in all_files() {
        for line in read(&path).lines() {
            let Some(comment) = line.trim_start().strip_prefix("//") else {
                continue;
            };
            for word in comment.split(|c: char| c.is_whitespace() || "`()[],;:'\"".contains(c)) {
                let word = word.trim_end_matches('.');
                let named = prefixes.iter().any(|p| word.starts_with(p))
                    && extensions.iter().any(|e| word.ends_with(e));
                if named && !root().join(word).exists() {
                    missing.push(format!("{}: {word}", path.display()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "comments name files that do not exist: {missing:#?}"
    );
}

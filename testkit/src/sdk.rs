//! The AWS SDK crates the workspace is built against, read from their sources, for tests that
//! check every operation the code calls is granted.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// The operation names (`batch_import_findings`) of the SDK crate `krate` (`aws-sdk-securityhub`)
/// at the version Cargo.lock pins, from its generated `src/operation/` modules in Cargo's
/// registry sources; panics when they are not there.
pub fn operations(krate: &str) -> BTreeSet<String> {
    let lock_file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    let lock = std::fs::read_to_string(&lock_file)
        .unwrap_or_else(|e| panic!("{}: {e}", lock_file.display()));
    let version = lock
        .split("[[package]]")
        .find(|b| b.contains(&format!("name = \"{krate}\"\n")))
        .and_then(|b| b.lines().find(|l| l.starts_with("version = ")))
        .map(|l| {
            l.trim_start_matches("version = ")
                .trim_matches('"')
                .to_string()
        })
        .unwrap_or_else(|| panic!("{krate} not in Cargo.lock"));
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    let src = cargo_home.join("registry/src");
    for reg in std::fs::read_dir(&src).unwrap().flatten() {
        let dir = reg.path().join(format!("{krate}-{version}/src/operation"));
        if dir.is_dir() {
            return std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect();
        }
    }
    panic!(
        "sources of {krate} {version} not found under {}",
        src.display()
    );
}

/// An operation's name as the API and IAM spell it: `batch_import_findings` is
/// `BatchImportFindings`.
pub fn pascal_case(op: &str) -> String {
    op.split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

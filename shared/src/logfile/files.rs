//! Which files and S3 keys are CloudTrail log files.

use std::io;

pub use crate::s3key::{classify_key, KeyKind};

/// The log files to scan for `trailwarden scan PATH...`: files named directly are taken as
/// they are; directories are walked recursively for `.json.gz` and `.json` files, leaving out
/// digest and Insights files and the writability probe (judged from the path, as for S3 keys).
/// Sorted, without duplicates.
pub fn find_log_files(paths: &[std::path::PathBuf]) -> io::Result<Vec<std::path::PathBuf>> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(&path, out)?;
            } else if kind.is_file() || kind.is_symlink() {
                let name = path.to_string_lossy();
                let wanted = name.ends_with(".json.gz") || name.ends_with(".json");
                let other_kind = matches!(
                    classify_key(&name.replace(std::path::MAIN_SEPARATOR, "/")),
                    KeyKind::Digest | KeyKind::Insight | KeyKind::WritabilityCheck
                );
                if wanted && !other_kind {
                    out.push(path);
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if std::fs::metadata(p)?.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

//! The alert for a digest that failed validation.

use crate::check::{DigestCheck, FileStatus, FindingKind};
use std::collections::BTreeMap;
use trailwarden::{Alert, Severity};

/// Detection id of every alert this function sends.
pub const DETECTION: &str = "cloudtrail-log-integrity";

/// At most this many findings are listed one by one in the alert's details; all of them are
/// in the evidence.
const MAX_LISTED: usize = 40;

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The alert for a check with findings; `None` for a valid digest.
pub fn alert_for(check: &DigestCheck, account_alias: Option<&str>) -> Option<Alert> {
    let severity = check.severity()?;
    let mut by_kind: BTreeMap<FindingKind, usize> = BTreeMap::new();
    for f in &check.findings {
        *by_kind.entry(f.kind).or_default() += 1;
    }
    // Title: the worst problems first.
    let mut parts: Vec<(Severity, String)> = by_kind
        .iter()
        .map(|(k, n)| {
            let text = match k {
                FindingKind::LogFileModified => {
                    plural(*n, "log file modified", "log files modified")
                }
                FindingKind::LogFileMissing => plural(*n, "log file deleted", "log files deleted"),
                FindingKind::LogFileUnreadable => {
                    plural(*n, "log file corrupt", "log files corrupt")
                }
                FindingKind::CheckFailed => "check incomplete".to_string(),
                k => k.label().to_string(),
            };
            (k.severity(), text)
        })
        .collect();
    parts.sort_by_key(|p| std::cmp::Reverse(p.0));
    let what: Vec<String> = parts.into_iter().map(|(_, t)| t).collect();
    let trail = check.trail.as_deref().unwrap_or("unknown trail");
    let title = if severity == Severity::Medium {
        format!(
            "CloudTrail integrity check incomplete: {} (trail {trail})",
            what.join(", ")
        )
    } else {
        format!(
            "CloudTrail log tampering: {} (trail {trail})",
            what.join(", ")
        )
    };

    let mut summary = String::new();
    if severity >= Severity::High {
        summary.push_str(
            "The files CloudTrail delivered for this trail no longer match what its signed digest recorded. \
             Someone who deletes or edits CloudTrail log files is usually hiding what they did: treat the \
             account as possibly compromised. ",
        );
        if by_kind.contains_key(&FindingKind::Gap)
            || by_kind.contains_key(&FindingKind::PreviousDigestMissing)
        {
            summary.push_str(
                "A missing digest or a gap means logging was stopped or a digest was deleted: check \
                 StopLogging/DeleteTrail/PutEventSelectors events and the bucket's deletions. ",
            );
        }
        summary.push_str(
            "trailwarden changed nothing. Preserve the bucket as it is (earlier object versions hold the \
             originals if versioning is on), find who wrote to it (S3 data events, server access logs), \
             and confirm with `aws cloudtrail validate-logs`.",
        );
    }
    if by_kind.contains_key(&FindingKind::CheckFailed) {
        if !summary.is_empty() {
            summary.push(' ');
        }
        summary.push_str(
            "Some files could not be read or the signing key could not be looked up, so they were not \
             verified; the check will be retried. Make sure the function may s3:GetObject and s3:ListBucket \
             on the trail bucket (kms:Decrypt for SSE-KMS) and call cloudtrail:ListPublicKeys.",
        );
    }

    let mut alert = Alert::new(severity, DETECTION, title);
    alert.summary = summary;
    alert.account = check.account.clone();
    alert.account_alias = account_alias.map(str::to_string);
    alert.region = check.region.clone();
    alert = alert.fact("Trail", trail).fact("Digest", &check.file);
    if let Some((start, end)) = &check.period {
        alert = alert.fact("Digest period", format!("{start} to {end}"));
    }
    alert = alert.fact(
        "Signature",
        if check.signature_verified {
            "valid".to_string()
        } else if check
            .findings
            .iter()
            .any(|f| f.file == check.file && f.severity == Severity::Critical)
        {
            "INVALID".to_string()
        } else {
            "not verified".to_string()
        },
    );
    if !check.log_files.is_empty() {
        alert = alert.fact(
            "Log files",
            format!(
                "{} listed: {} valid, {} modified or corrupt, {} deleted, {} not checked",
                check.log_files.len(),
                check.count(FileStatus::Valid),
                check.count(FileStatus::Invalid),
                check.count(FileStatus::Missing),
                check.count(FileStatus::NotChecked),
            ),
        );
    }
    if let Some(prev) = &check.previous {
        alert = alert.fact("Previous digest", prev.uri());
    }
    for (i, f) in check.findings.iter().take(MAX_LISTED).enumerate() {
        alert = alert.fact(
            format!("Problem {}", i + 1),
            format!(
                "[{}] {}: {} - {}",
                f.severity.as_str().to_ascii_uppercase(),
                f.file,
                f.kind.label(),
                f.detail
            ),
        );
    }
    if check.findings.len() > MAX_LISTED {
        alert = alert.fact(
            "More problems",
            format!(
                "{} more, listed in the evidence",
                check.findings.len() - MAX_LISTED
            ),
        );
    }
    alert.evidence = Some(serde_json::json!({
        "digest": check.location,
        "findings": check.findings,
    }));
    alert.references = vec![
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html".into(),
        "MITRE ATT&CK T1070 Indicator Removal; T1562.008 Disable or Modify Cloud Logs".into(),
        "CIS AWS Foundations 3.2: ensure CloudTrail log file validation is enabled".into(),
    ];
    Some(alert)
}

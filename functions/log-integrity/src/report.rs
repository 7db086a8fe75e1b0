//! Pure wording: the alert for a digest that failed validation, the plan's alert, skip
//! reasons, and the typed statistics.

use crate::check::{DigestCheck, FileStatus, FindingKind};
use crate::decide::{Case, SkipReason, Step};
use crate::execute::Output;
use crate::restart::Restart;
use crate::{Config, LogIntegrity};
use serde::Serialize;
use std::collections::BTreeMap;
use trailwarden::payload::S3Object;
use trailwarden::respond::{self, Plan, Report, Reporting};
use trailwarden::{Alert, Severity};

/// Why a payload that is not an S3 notification is ignored.
pub const NOT_S3: &str =
    "not an S3 Object Created notification: this function validates CloudTrail digest files";

/// The reason shown for a skipped object.
pub fn skip_text(why: SkipReason) -> String {
    match why {
        SkipReason::WritabilityCheck => "CloudTrail's ConfigWritabilityCheckFile, not a digest",
        SkipReason::LogFile => {
            "a CloudTrail log file, not a digest (it is validated when its digest arrives)"
        }
        SkipReason::NotDigest => {
            "not a CloudTrail digest file (no CloudTrail-Digest/ folder, or not .json.gz)"
        }
    }
    .to_string()
}

/// Why a notification without digests is ignored.
pub fn nothing_to_verify(skipped: &[(S3Object, SkipReason)]) -> String {
    if skipped.is_empty() {
        return "no object created".to_string();
    }
    skipped
        .iter()
        .map(|(o, why)| format!("{}: {}", o.uri(), skip_text(*why)))
        .collect::<Vec<_>>()
        .join("; ")
}

trailwarden::counters! {
    /// The function's counters.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct Stats {
        /// Digests of the notification (steps planned).
        digests_planned: usize => "Digests planned",
        /// Objects of the notification that are not digests.
        objects_skipped: usize => "Objects skipped",
        digests_checked: usize => "Digests checked",
        digests_valid: usize => "Digests valid",
        digests_invalid: usize => "Digests invalid",
        log_files_checked: usize => "Log files checked",
        log_files_valid: usize => "Log files valid",
        log_files_invalid: usize => "Log files modified or corrupt",
        log_files_missing: usize => "Log files deleted",
        log_files_not_checked: usize => "Log files not checked",
        /// Digests that restarted their chain after an earlier one.
        chain_restarts: usize => "Chain restarts",
        /// UTC hours touched by the gaps those restarts leave.
        hours_missing: usize => "Hours without digests",
        /// Log files written during such gaps that no digest lists.
        log_files_undigested: usize => "Log files without digest",
        bytes_read: u64 => "Bytes read",
    }
}

impl Stats {
    fn add(&mut self, c: &DigestCheck) {
        self.digests_checked += 1;
        if c.is_valid() {
            self.digests_valid += 1;
        } else {
            self.digests_invalid += 1;
        }
        self.log_files_checked += c.log_files.len();
        self.log_files_valid += c.count(FileStatus::Valid);
        self.log_files_invalid += c.count(FileStatus::Invalid);
        self.log_files_missing += c.count(FileStatus::Missing);
        self.log_files_not_checked += c.count(FileStatus::NotChecked);
        if let Some(r) = &c.restart {
            self.chain_restarts += 1;
            self.hours_missing += r.missing_hours.len();
            self.log_files_undigested += r.undigested_count;
        }
        self.bytes_read += c.bytes_read;
    }
}

impl Reporting for LogIntegrity {
    type Output = Output;
    type Stats = Stats;

    /// The alerts and counters for a walked plan: one alert per digest with problems (none for
    /// a valid digest); without output (an offline plan), one informational alert listing what
    /// would be verified.
    fn report(
        config: &Config,
        case: &Case,
        plan: &Plan<Step>,
        output: Option<&Output>,
    ) -> Report<Stats> {
        let account_alias = config.common.account_alias.as_deref();
        let mut stats = Stats {
            digests_planned: case.digests.len(),
            objects_skipped: case.skipped.len(),
            ..Stats::default()
        };
        let Some(output) = output else {
            let mut alert = Alert::new(
                Severity::Info,
                DETECTION,
                format!(
                    "Would validate {} CloudTrail digest file(s)",
                    case.digests.len()
                ),
            );
            alert.summary = "Each digest's signature, location, listed log files and link to the \
                             previous digest would be checked (for a digest that starts a new \
                             chain, the earlier chain too); nothing is changed either way."
                .into();
            alert.region = case.region().map(str::to_string);
            alert.actions = respond::actions(plan);
            return Report {
                alerts: vec![alert],
                stats,
            };
        };
        let mut alerts = Vec::new();
        for c in &output.checks {
            stats.add(c);
            if let Some(a) = alert_for(c, account_alias) {
                alerts.push(a);
            }
        }
        Report { alerts, stats }
    }
}

fn hour_list(r: &Restart) -> String {
    const SHOWN: usize = 48;
    let mut s = r
        .missing_hours
        .iter()
        .take(SHOWN)
        .map(|h| h.format("%Y-%m-%d %H:00").to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if r.missing_hours.len() > SHOWN {
        s.push_str(&format!(" and {} more", r.missing_hours.len() - SHOWN));
    }
    s
}

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
                FindingKind::UndigestedLogFile => {
                    plural(*n, "log file without digest", "log files without digest")
                }
                k => k.label().to_string(),
            };
            (k.severity(), text)
        })
        .collect();
    parts.sort_by_key(|p| std::cmp::Reverse(p.0));
    let what: Vec<String> = parts.into_iter().map(|(_, t)| t).collect();
    let trail = check.trail.as_deref().unwrap_or("unknown trail");
    // Only a restart (nothing proven deleted or changed): say what it means, not "tampering".
    let restart_only = severity == Severity::High
        && check.restart.is_some()
        && by_kind
            .keys()
            .all(|k| matches!(k, FindingKind::ChainRestarted | FindingKind::CheckFailed));
    let title = if let (true, Some(r)) = (restart_only, &check.restart) {
        format!(
            "CloudTrail logging gap: {} to {} UTC (trail {trail})",
            r.gap_from.format("%Y-%m-%d %H:%M"),
            r.gap_to.format("%Y-%m-%d %H:%M")
        )
    } else if severity == Severity::Medium {
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
    if restart_only {
        summary.push_str(
            "CloudTrail stopped writing digests for this trail for a while. Someone who stops logging \
             is often hiding what they do meanwhile: find out who did it and why. ",
        );
    } else if severity >= Severity::High {
        summary.push_str(
            "The files CloudTrail delivered for this trail no longer match what its signed digest recorded. \
             Someone who deletes or edits CloudTrail log files is usually hiding what they did: treat the \
             account as possibly compromised. ",
        );
    }
    if severity >= Severity::High {
        if let Some(r) = &check.restart {
            summary.push_str(&format!(
                "The digest chain restarted: the last earlier digest of this trail ends at {} and this \
                 digest starts at {}, so logging was off or digests were deleted between {} and {} \
                 ({} minutes). CloudTrail starts a new chain after StopLogging/StartLogging or after \
                 log file validation is turned off and on: check for those events. ",
                r.gap_from.format("%Y-%m-%dT%H:%M:%SZ"),
                r.gap_to.format("%Y-%m-%dT%H:%M:%SZ"),
                r.gap_from.format("%Y-%m-%dT%H:%M:%SZ"),
                r.gap_to.format("%Y-%m-%dT%H:%M:%SZ"),
                r.gap_minutes(),
            ));
            if r.undigested_count > 0 {
                summary.push_str(&format!(
                    "{} log file(s) were written during that time and no digest lists them: logging \
                     was on, so the digests covering them were deleted. ",
                    r.undigested_count
                ));
            }
            if r.previous_problems > 0 {
                summary.push_str(
                    "The last digest before the restart has problems of its own (listed below): files \
                     from before the restart were deleted or changed. ",
                );
            }
        }
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
    if let Some(r) = &check.restart {
        alert = alert
            .fact("Last digest before the restart", r.previous.uri())
            .fact(
                "Gap",
                format!(
                    "logging was off or digests were deleted between {} and {} ({} minutes)",
                    r.gap_from.format("%Y-%m-%dT%H:%M:%SZ"),
                    r.gap_to.format("%Y-%m-%dT%H:%M:%SZ"),
                    r.gap_minutes()
                ),
            )
            .fact("Hours without digests (UTC)", hour_list(r));
        if r.undigested_count > 0 {
            alert = alert.fact("Log files without digest", r.undigested_count.to_string());
        }
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
    alert = alert.fact_unlisted("More problems", check.findings.len(), MAX_LISTED, |n| {
        format!("{n} more, listed in the evidence")
    });
    alert.evidence = Some(serde_json::json!({
        "digest": check.location,
        "findings": check.findings,
        "restart": check.restart,
    }));
    alert.references = vec![
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html".into(),
        "MITRE ATT&CK T1070 Indicator Removal; T1562.008 Disable or Modify Cloud Logs".into(),
        "CIS AWS Foundations 3.2: ensure CloudTrail log file validation is enabled".into(),
    ];
    Some(alert)
}

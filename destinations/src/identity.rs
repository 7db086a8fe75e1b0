//! What every destination needs to know about an alert beyond its wording (pure):
//!
//! - its **fingerprint**: the same incident gives the same fingerprint on every delivery
//!   (a Lambda retry, a re-delivered event, the custom action that later resolves it), so
//!   PagerDuty deduplicates on it (`dedup_key`), Security Hub updates one finding (its `Id`)
//!   and webhook receivers can drop repeats (`X-Trailwarden-Delivery`);
//! - its **thread**: alerts about the same thing (the same user, security group, trail or
//!   detection in an account) share a chat thread;
//! - its **resources** (IAM user, security group, S3 object, account) and its **references**
//!   (MITRE ATT&CK techniques, CIS controls), typed.

use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use trailwarden::detect::{BuiltinOptions, Catalog};
use trailwarden::Alert;

/// The fact naming an alert's incident when it stands for no one event or file (the
/// watchdog's conditions: which trail, since when), so that a condition that comes back later
/// is a new incident, not an update of the one already resolved.
pub const INCIDENT_FACT: &str = "Incident";

/// A stable id of the incident an alert is about: detection, account, region and the event
/// (or, for alerts about files, the object; else its [`INCIDENT_FACT`]; else its title),
/// hashed. Never depends on the outcome of the response, so a retry that finishes the job
/// keeps the id.
pub fn fingerprint(alert: &Alert) -> String {
    let anchor = alert
        .event
        .as_ref()
        .and_then(|e| e.event_id.clone())
        .or_else(|| s3_uris(alert).into_iter().next())
        .or_else(|| {
            alert
                .facts
                .iter()
                .find(|(k, _)| k == INCIDENT_FACT)
                .map(|(_, v)| format!("incident {v}"))
        })
        .unwrap_or_else(|| alert.title.clone());
    hash(&[
        "v1",
        &alert.detection,
        alert.account.as_deref().unwrap_or(""),
        alert.region.as_deref().unwrap_or(""),
        &anchor,
    ])
}

/// The chat thread of an alert: its account and what it is about: the user or security
/// group it names; for log files and digests, the detection and the trail bucket; the root
/// user for anything root did; else the detection.
pub fn thread_id(alert: &Alert) -> String {
    let root = alert
        .event
        .as_ref()
        .is_some_and(|e| e.actor_kind.as_deref() == Some("Root"));
    let subject = match resources(alert).first() {
        Some(r) if r.kind == "AwsIamUser" || r.kind == "AwsEc2SecurityGroup" => r.id.clone(),
        Some(r) if r.kind == "AwsS3Object" => format!(
            "{}:{}",
            alert.detection,
            r.id.split('/').next().unwrap_or_default()
        ),
        _ if root => "root user".to_string(),
        _ => alert.detection.clone(),
    };
    format!(
        "trailwarden-{}",
        &hash(&[alert.account.as_deref().unwrap_or(""), &subject])[..20]
    )
}

fn hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..16])
}

/// An AWS resource an alert is about, in Security Hub's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// ASFF resource type: `AwsIamUser`, `AwsEc2SecurityGroup`, `AwsS3Object`, `AwsAccount`,
    /// `Other`.
    pub kind: &'static str,
    /// ARN (or `AWS::::Account:<id>` for an account).
    pub id: String,
    pub region: Option<String>,
    /// For `AwsIamUser`: user name, path and unique id when the alert gives them.
    pub user: Option<UserDetails>,
    /// For `AwsEc2SecurityGroup`: the group id.
    pub group_id: Option<String>,
}

/// What an alert tells about an IAM user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDetails {
    pub name: String,
    pub path: Option<String>,
    pub user_id: Option<String>,
}

fn fact<'a>(alert: &'a Alert, label: &str) -> Option<&'a str> {
    alert
        .facts
        .iter()
        .find(|(k, _)| k == label)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty() && *v != "unknown")
}

fn partition(alert: &Alert) -> &'static str {
    match alert.region.as_deref() {
        Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
        Some(r) if r.starts_with("cn-") => "aws-cn",
        _ => "aws",
    }
}

/// Every `s3://` URI in the alert's response steps and facts, in order, once each.
fn s3_uris(alert: &Alert) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let candidates = alert
        .actions
        .iter()
        .map(|a| a.target.as_str())
        .chain(alert.facts.iter().map(|(_, v)| v.as_str()));
    for c in candidates {
        if let Some(u) = c.split_whitespace().find(|w| w.starts_with("s3://")) {
            if !out.iter().any(|x| x == u) {
                out.push(u.to_string());
            }
        }
    }
    out
}

/// The resources an alert is about, the subject first: the IAM user it names, the security
/// group, the log files or digests, and the account. Never empty (Security Hub needs one).
pub fn resources(alert: &Alert) -> Vec<Resource> {
    let mut out = Vec::new();
    let region = alert.region.clone();
    let account = alert.account.clone();
    let part = partition(alert);
    // The IAM user the alert is about (unapproved-user: "User", "User ARN", "Path", "User ID").
    if let Some(name) = fact(alert, "User") {
        let arn = fact(alert, "User ARN")
            .filter(|a| a.starts_with("arn:"))
            .map(str::to_string)
            .or_else(|| {
                account.as_ref().map(|acct| {
                    let path = fact(alert, "Path").unwrap_or("/");
                    format!("arn:{part}:iam::{acct}:user{path}{name}")
                })
            });
        if let Some(arn) = arn {
            out.push(Resource {
                kind: "AwsIamUser",
                id: arn,
                region: region.clone(),
                user: Some(UserDetails {
                    name: name.to_string(),
                    path: fact(alert, "Path").map(str::to_string),
                    user_id: fact(alert, "User ID").map(str::to_string),
                }),
                group_id: None,
            });
        }
    }
    // The security group (security-group: "Security group").
    if let Some(sg) = fact(alert, "Security group").and_then(|v| {
        v.split_whitespace()
            .find(|w| w.starts_with("sg-"))
            .map(|w| w.trim_end_matches([',', ')', ';']).to_string())
    }) {
        out.push(Resource {
            kind: "AwsEc2SecurityGroup",
            id: match (&region, &account) {
                (Some(r), Some(a)) => format!("arn:{part}:ec2:{r}:{a}:security-group/{sg}"),
                _ => sg.clone(),
            },
            region: region.clone(),
            user: None,
            group_id: Some(sg),
        });
    }
    // Log files and digests.
    for uri in s3_uris(alert).into_iter().take(5) {
        let path = uri.trim_start_matches("s3://");
        out.push(Resource {
            kind: "AwsS3Object",
            id: format!("arn:{part}:s3:::{path}"),
            region: region.clone(),
            user: None,
            group_id: None,
        });
    }
    if let Some(a) = &account {
        out.push(Resource {
            kind: "AwsAccount",
            id: format!("AWS::::Account:{a}"),
            region: region.clone(),
            user: None,
            group_id: None,
        });
    }
    if out.is_empty() {
        out.push(Resource {
            kind: "Other",
            id: format!("trailwarden:{}", alert.detection),
            region,
            user: None,
            group_id: None,
        });
    }
    out
}

/// The catalog, for detections' runbooks and structured references (built once).
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::builtin(BuiltinOptions::default()))
}

/// MITRE ATT&CK technique ids (`T1136.003`) and CIS AWS Foundations Benchmark controls
/// (`4.3`) an alert refers to: from the catalog entry of its detection, and from the
/// references the function wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    pub mitre: Vec<String>,
    pub cis: Vec<String>,
}

pub fn references(alert: &Alert) -> References {
    let mut r = References::default();
    let add = |list: &mut Vec<String>, v: String| {
        if !list.contains(&v) {
            list.push(v);
        }
    };
    if let Some(d) = catalog().get(&alert.detection) {
        for t in &d.references.mitre_attack {
            add(&mut r.mitre, t.clone());
        }
        if let Some(c) = &d.references.cis {
            add(&mut r.cis, c.clone());
        }
    }
    for line in &alert.references {
        for t in technique_ids(line) {
            add(&mut r.mitre, t);
        }
        if line.contains("CIS AWS Foundations Benchmark") || line.starts_with("CIS ") {
            for c in control_numbers(line) {
                add(&mut r.cis, c);
            }
        }
    }
    r
}

/// `T1234` / `T1234.567` tokens of a line.
fn technique_ids(line: &str) -> Vec<String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if b[i] == b'T'
            && boundary
            && i + 5 <= b.len()
            && b[i + 1..i + 5].iter().all(u8::is_ascii_digit)
        {
            let mut end = i + 5;
            if end + 4 <= b.len()
                && b[end] == b'.'
                && b[end + 1..end + 4].iter().all(u8::is_ascii_digit)
            {
                end += 4;
            }
            if end == b.len() || !b[end].is_ascii_alphanumeric() {
                out.push(line[i..end].to_string());
            }
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// CIS control numbers (`4.3`, `4.10`, `5.2`) after "Benchmark" in a reference line; a
/// version (`v1.4.0`, `1.4.0`) is skipped.
fn control_numbers(line: &str) -> Vec<String> {
    let rest = line.split_once("Benchmark").map(|(_, r)| r).unwrap_or(line);
    let mut out = Vec::new();
    for word in rest.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
        let w = word.trim_matches('.');
        let parts: Vec<&str> = w.split('.').collect();
        if parts.len() == 2 && parts.iter().all(|p| !p.is_empty() && p.len() <= 2) {
            out.push(w.to_string());
        }
    }
    out
}

/// The detection's runbook from the catalog, when it has one.
pub fn runbook(alert: &Alert) -> Option<String> {
    catalog()
        .get(&alert.detection)
        .and_then(|d| d.runbook.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailwarden::alert::{Action, EventContext, Status};
    use trailwarden::Severity;

    fn user_alert() -> Alert {
        let mut a = Alert::new(
            Severity::High,
            "iam-unapproved-user",
            "User mallory removed",
        )
        .fact("User", "mallory")
        .fact("User ARN", "arn:aws:iam::123456789012:user/mallory")
        .fact("Path", "/")
        .fact("User ID", "AIDA4EXAMPLEMALLORY1")
        .fact("Created by", "arn:aws:iam::123456789012:user/alice");
        a.account = Some("123456789012".into());
        a.region = Some("us-east-1".into());
        a.event = Some(EventContext {
            event_id: Some("3b8e5f2a".into()),
            ..EventContext::default()
        });
        a
    }

    #[test]
    fn a_condition_that_comes_back_is_a_new_incident() {
        // The watchdog's alerts name no event: the same trail stopped twice, weeks apart, must
        // not update the finding (or PagerDuty incident) of the first time, which the team
        // may have resolved.
        let stopped = |since: &str| {
            let mut a = Alert::new(
                Severity::Critical,
                "trail-logging-off",
                "CloudTrail logging is off: org",
            )
            .fact(
                "Trail",
                "arn:aws:cloudtrail:us-east-1:123456789012:trail/org",
            )
            .fact(
                INCIDENT_FACT,
                format!("trail-logging-off of org since {since}"),
            );
            a.account = Some("123456789012".into());
            a
        };
        let first = stopped("2026-11-01T10:00:00Z");
        assert_eq!(fingerprint(&first), fingerprint(&first.clone()));
        assert_ne!(
            fingerprint(&first),
            fingerprint(&stopped("2026-11-20T03:15:00Z"))
        );
    }

    #[test]
    fn the_fingerprint_ignores_the_outcome_but_not_the_event() {
        let a = user_alert();
        let mut done = a.clone();
        done.actions
            .push(Action::new("DeleteUser", "mallory", Status::Done));
        done.title = "other wording".into();
        assert_eq!(fingerprint(&a), fingerprint(&done));
        let mut other = a.clone();
        other.event.as_mut().unwrap().event_id = Some("another".into());
        assert_ne!(fingerprint(&a), fingerprint(&other));
        assert_eq!(fingerprint(&a).len(), 32);
    }

    #[test]
    fn the_subject_user_comes_first_not_its_creator() {
        let r = resources(&user_alert());
        assert_eq!(r[0].kind, "AwsIamUser");
        assert_eq!(r[0].id, "arn:aws:iam::123456789012:user/mallory");
        assert_eq!(
            r[0].user.as_ref().unwrap().user_id.as_deref(),
            Some("AIDA4EXAMPLEMALLORY1")
        );
        assert_eq!(r.last().unwrap().id, "AWS::::Account:123456789012");
        assert!(!r.iter().any(|x| x.id.contains("alice")));
    }

    #[test]
    fn references_are_read_from_the_catalog_and_the_alert() {
        let mut a = Alert::new(Severity::High, "cis-4.3-root-usage", "Root");
        a.references = vec![
            "CIS AWS Foundations Benchmark 4.10 (security group changes), 5.2/5.3 (no ingress)"
                .into(),
            "MITRE ATT&CK T1562.007 (Impair Defenses)".into(),
            "CIS AWS Foundations Benchmark v1.4.0, control 4.3".into(),
        ];
        let r = references(&a);
        assert_eq!(r.cis, vec!["4.3", "4.10", "5.2", "5.3"]);
        assert!(r.mitre.contains(&"T1078.004".to_string()), "{:?}", r.mitre);
        assert!(r.mitre.contains(&"T1562.007".to_string()));
        assert_eq!(
            technique_ids("see T1136.003, T1098 and XT12345"),
            vec!["T1136.003", "T1098"]
        );
    }

    #[test]
    fn related_alerts_share_a_thread() {
        let a = user_alert();
        let mut b = user_alert();
        b.detection = "iam-credential-for-other-user".into();
        b.event.as_mut().unwrap().event_id = Some("later".into());
        assert_eq!(thread_id(&a), thread_id(&b));
        let mut c = user_alert();
        c.facts[0].1 = "eve".into();
        c.facts[1].1 = "arn:aws:iam::123456789012:user/eve".into();
        assert_ne!(thread_id(&a), thread_id(&c));
    }
}

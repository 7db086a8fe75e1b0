//! An alert as a Security Hub finding in the AWS Security Finding Format (pure; the
//! transport is [`crate::securityhub`]).
//!
//! - `Id`: `trailwarden/<detection>/<fingerprint>`, so every delivery of the same incident
//!   (a retry, a re-delivered event, the quarantine a person starts from the finding)
//!   updates one finding instead of adding another.
//! - `ProductArn`: the account's default product (`.../product/<account>/default`), the one
//!   Security Hub gives every account for its own findings; `GeneratorId`: the detection id.
//! - `Types`: `TTPs/<tactic>/<technique>` for each MITRE ATT&CK technique the alert refers
//!   to, and `Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS
//!   Foundations Benchmark` for CIS controls, with `Compliance` (`FAILED`, the controls).
//! - `Severity.Label` from the alert's severity; `Resources`: the user, security group, log
//!   files or digests, and the account.
//! - `Workflow.Status`: `RESOLVED` when the alert lists response steps and every one was done
//!   (or found done) in a live run; `NEW` otherwise (alert-only detections, notify mode, dry
//!   run, a failed or skipped step).
//! - `ProductFields` carry what trailwarden knows that ASFF has no field for (the event, the
//!   actor, the fingerprint), under `trailwarden/`.

use crate::identity::{self, Resource};
use serde::Serialize;
use std::collections::BTreeMap;
use trailwarden::alert::Status;
use trailwarden::detect::mitre::{self, Tactic};
use trailwarden::{Alert, Severity};

/// ASFF's only schema version.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// ASFF limits.
pub const MAX_TITLE: usize = 256;
pub const MAX_DESCRIPTION: usize = 1024;

/// Where findings go: the product and the account that imports them (a finding's
/// `AwsAccountId` must be the importing account's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `arn:aws:securityhub:<region>:<account>:product/<account>/default`.
    pub product_arn: String,
}

impl Target {
    /// The account's default product in `region`.
    pub fn default_product(partition: &str, region: &str, account: &str) -> Target {
        Target {
            product_arn: format!(
                "arn:{partition}:securityhub:{region}:{account}:product/{account}/default"
            ),
        }
    }
    fn part(&self, i: usize) -> &str {
        self.product_arn.split(':').nth(i).unwrap_or_default()
    }
    pub fn region(&self) -> &str {
        self.part(3)
    }
    pub fn account(&self) -> &str {
        self.part(4)
    }
    pub fn partition(&self) -> &str {
        self.part(1)
    }
}

/// A finding, with ASFF's field names (what `BatchImportFindings` receives and `GetFindings`
/// gives back).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    pub schema_version: String,
    pub id: String,
    pub product_arn: String,
    pub product_name: String,
    pub company_name: String,
    pub generator_id: String,
    pub aws_account_id: String,
    pub types: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_observed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_observed_at: Option<String>,
    pub severity: SeverityField,
    pub title: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    pub product_fields: BTreeMap<String, String>,
    pub resources: Vec<ResourceField>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compliance: Option<ComplianceField>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<RemediationField>,
    pub workflow: WorkflowField,
    pub record_state: String,
    pub finding_provider_fields: ProviderFields,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SeverityField {
    /// `INFORMATIONAL`, `LOW`, `MEDIUM`, `HIGH`, `CRITICAL`.
    pub label: String,
    /// trailwarden's own word (`high`).
    pub original: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceField {
    #[serde(rename = "Type")]
    pub kind: String,
    pub id: String,
    pub partition: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ComplianceField {
    pub status: String,
    pub related_requirements: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemediationField {
    pub recommendation: Recommendation,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recommendation {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkflowField {
    /// `NEW` or `RESOLVED`.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProviderFields {
    pub severity: SeverityField,
    pub types: Vec<String>,
}

/// The CIS finding type.
pub const CIS_TYPE: &str =
    "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark";

/// ASFF's label for a severity.
pub fn label(s: Severity) -> &'static str {
    match s {
        Severity::Info => "INFORMATIONAL",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

/// The ASFF `TTPs` category of an ATT&CK tactic (ASFF has no category for Reconnaissance,
/// Resource Development, Exfiltration and Impact: those go to `Effects` or are left out).
fn ttp_category(t: Tactic) -> Option<&'static str> {
    Some(match t {
        Tactic::InitialAccess => "TTPs/Initial Access",
        Tactic::Execution => "TTPs/Execution",
        Tactic::Persistence => "TTPs/Persistence",
        Tactic::PrivilegeEscalation => "TTPs/Privilege Escalation",
        Tactic::DefenseEvasion => "TTPs/Defense Evasion",
        Tactic::CredentialAccess => "TTPs/Credential Access",
        Tactic::Discovery => "TTPs/Discovery",
        Tactic::LateralMovement => "TTPs/Lateral Movement",
        Tactic::Collection => "TTPs/Collection",
        Tactic::CommandAndControl => "TTPs/Command and Control",
        Tactic::Exfiltration => "Effects/Data Exfiltration",
        Tactic::Impact => "Effects/Data Destruction",
        Tactic::Reconnaissance | Tactic::ResourceDevelopment => return None,
    })
}

/// The finding types of an alert (never empty, at most 50).
pub fn types(alert: &Alert) -> Vec<String> {
    let refs = identity::references(alert);
    let mut out: Vec<String> = Vec::new();
    for t in &refs.mitre {
        for tactic in mitre::tactics_of(t) {
            if let Some(cat) = ttp_category(*tactic) {
                let ty = format!("{cat}/{t}");
                if !out.contains(&ty) {
                    out.push(ty);
                }
            }
        }
    }
    if !refs.cis.is_empty() {
        out.push(CIS_TYPE.to_string());
    }
    if out.is_empty() {
        out.push(if alert.event.is_some() {
            "Unusual Behaviors/User".to_string()
        } else {
            "Software and Configuration Checks/AWS Security Best Practices".to_string()
        });
    }
    out.truncate(50);
    out
}

/// True when the response the alert describes is finished: at least one step, every one
/// done or found done, in a live run.
pub fn resolved(alert: &Alert) -> bool {
    !alert.dry_run
        && !alert.actions.is_empty()
        && alert
            .actions
            .iter()
            .all(|a| matches!(a.status, Status::Done | Status::AlreadyDone))
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let keep: String = s.chars().take(max.saturating_sub(3)).collect();
    format!("{}...", keep.trim_end())
}

fn resource_field(r: &Resource, partition: &str) -> ResourceField {
    let details = match (r.kind, &r.user, &r.group_id) {
        ("AwsIamUser", Some(u), _) => {
            let mut d = serde_json::Map::new();
            d.insert("UserName".into(), u.name.clone().into());
            if let Some(p) = &u.path {
                d.insert("Path".into(), p.clone().into());
            }
            if let Some(id) = &u.user_id {
                d.insert("UserId".into(), id.clone().into());
            }
            Some(serde_json::json!({ "AwsIamUser": d }))
        }
        ("AwsEc2SecurityGroup", _, Some(g)) => {
            Some(serde_json::json!({ "AwsEc2SecurityGroup": { "GroupId": g } }))
        }
        _ => None,
    };
    ResourceField {
        kind: r.kind.to_string(),
        id: r.id.clone(),
        partition: partition.to_string(),
        region: r.region.clone(),
        details,
    }
}

/// Builds the finding for an alert. `now` is the import time (RFC 3339).
pub fn finding(alert: &Alert, target: &Target, now: &str) -> Finding {
    let refs = identity::references(alert);
    let types = types(alert);
    let severity = SeverityField {
        label: label(alert.severity).to_string(),
        original: alert.severity.as_str().to_string(),
    };
    let fp = identity::fingerprint(alert);
    let event = alert.event.as_ref();
    let observed = event
        .and_then(|e| e.event_time.clone())
        .filter(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok());
    let mut fields = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            fields.insert(format!("trailwarden/{k}"), cut(&v, 2000));
        }
    };
    put("detection", Some(alert.detection.clone()));
    put("severity", Some(alert.severity.as_str().into()));
    put("fingerprint", Some(fp.clone()));
    put("dry_run", Some(alert.dry_run.to_string()));
    put("account", alert.account.clone());
    put("account_alias", alert.account_alias.clone());
    put("region", alert.region.clone());
    if let Some(e) = event {
        put("event_id", e.event_id.clone());
        put("event_name", e.event_name.clone());
        put("event_source", e.event_source.clone());
        put("event_time", e.event_time.clone());
        put("actor", e.actor.clone());
        put("actor_kind", e.actor_kind.clone());
        put("source_ip", e.source_ip.clone());
        put("error_code", e.error_code.clone());
    }
    if !refs.mitre.is_empty() {
        put("mitre_attack", Some(refs.mitre.join(",")));
    }
    if !refs.cis.is_empty() {
        put("cis", Some(refs.cis.join(",")));
    }
    if !alert.actions.is_empty() {
        let count = |s: Status| alert.actions.iter().filter(|a| a.status == s).count();
        put(
            "response",
            Some(format!(
                "{} steps: {} done, {} already done, {} failed, {} skipped, {} planned",
                alert.actions.len(),
                count(Status::Done),
                count(Status::AlreadyDone),
                count(Status::Failed),
                count(Status::Skipped),
                count(Status::Planned)
            )),
        );
    }
    // The facts, as far as ProductFields' 50 entries allow.
    for (k, v) in &alert.facts {
        if fields.len() >= 45 {
            break;
        }
        let key: String = k
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(100)
            .collect();
        fields
            .entry(format!("fact/{key}"))
            .or_insert_with(|| cut(v, 2000));
    }
    let mut description = String::new();
    if alert.dry_run {
        description.push_str("[dry run: nothing was changed] ");
    }
    description.push_str(alert.summary.trim());
    if description.trim().is_empty() {
        description = alert.title.clone();
    }
    let remediation = identity::runbook(alert).map(|text| RemediationField {
        recommendation: Recommendation {
            text: cut(&text, 512),
            url: alert
                .references
                .iter()
                .find_map(|r| r.split_whitespace().find(|w| w.starts_with("https://")))
                .map(|u| u.trim_end_matches([')', ',', '.']).to_string()),
        },
    });
    let partition = target.partition().to_string();
    Finding {
        schema_version: SCHEMA_VERSION.into(),
        id: format!("trailwarden/{}/{fp}", alert.detection),
        product_arn: target.product_arn.clone(),
        product_name: "trailwarden".into(),
        company_name: "trailwarden".into(),
        generator_id: alert.detection.clone(),
        aws_account_id: target.account().to_string(),
        types: types.clone(),
        created_at: observed.clone().unwrap_or_else(|| now.to_string()),
        updated_at: now.to_string(),
        first_observed_at: observed.clone(),
        last_observed_at: observed,
        severity: severity.clone(),
        title: cut(&alert.subject(), MAX_TITLE),
        description: cut(&description, MAX_DESCRIPTION),
        source_url: event.and_then(|e| e.console_url.clone()),
        product_fields: fields,
        resources: identity::resources(alert)
            .iter()
            .take(32)
            .map(|r| resource_field(r, &partition))
            .collect(),
        compliance: (!refs.cis.is_empty()).then(|| ComplianceField {
            status: "FAILED".into(),
            related_requirements: refs
                .cis
                .iter()
                .map(|c| format!("CIS AWS Foundations Benchmark v1.4.0/{c}"))
                .collect(),
        }),
        remediation,
        workflow: WorkflowField {
            status: if resolved(alert) { "RESOLVED" } else { "NEW" }.into(),
        },
        record_state: "ACTIVE".into(),
        finding_provider_fields: ProviderFields { severity, types },
    }
}

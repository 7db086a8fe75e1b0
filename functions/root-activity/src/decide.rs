//! The pure decision: is this a person using the root user, and how urgent is it?
//!
//! Root usage follows CIS AWS Foundations 4.3: `userIdentity.type` is `Root`, and records with
//! `userIdentity.invokedBy` (an AWS service acting with the root's authority) or with `eventType`
//! `AwsServiceEvent` are AWS acting on the account, not a person, so they are not alerted on.
//!
//! Severity:
//! - successful console sign-in without MFA: critical (also when the outcome or `MFAUsed` is not
//!   recorded: we assume the worse);
//! - successful console sign-in with MFA: high;
//! - failed sign-in (console or any other sign-in event): medium;
//! - an action that hands out or weakens credentials ([`CREDENTIAL_ACTIONS`]): critical, whether
//!   or not it succeeded (someone with the root session tried);
//! - any other root API call or sign-in event: high.
//!
//! A source IP inside a known network (`KNOWN_SOURCE_CIDRS`) lowers the severity one step and the
//! alert says so; it never suppresses the alert.

use crate::network::{match_source, SourceMatch};
use crate::Config;
use serde_json::Value;
use trailwarden::alert::Alert;
use trailwarden::event::{DETAIL_TYPE_SERVICE_EVENT, DETAIL_TYPE_SIGN_IN};
use trailwarden::{Payload, Principal, Record, Severity};

/// `eventSource` of console sign-in events.
pub const SIGNIN_SOURCE: &str = "signin.amazonaws.com";

/// Root actions that hand out or weaken credentials (critical), with what each one does.
///
/// `UpdateAccessKey` and `UpdateSigningCertificate` count only when they set the status to
/// `Active` (or the status is not recorded); deactivating a key removes access. Adding an MFA
/// device (`CreateVirtualMFADevice`, `EnableMFADevice`) strengthens the root user and is an
/// ordinary (high) root call.
pub const CREDENTIAL_ACTIONS: &[(&str, &str)] = &[
    ("CreateAccessKey", "creates a long-term access key"),
    ("UpdateAccessKey", "re-activates an access key"),
    (
        "UploadSigningCertificate",
        "adds an X.509 signing certificate",
    ),
    (
        "UpdateSigningCertificate",
        "re-activates a signing certificate",
    ),
    ("CreateLoginProfile", "creates a console password"),
    ("UpdateLoginProfile", "changes a console password"),
    ("ChangePassword", "changes the console password"),
    (
        "PasswordRecoveryCompleted",
        "resets the root password through password recovery",
    ),
    ("DeactivateMFADevice", "deactivates an MFA device"),
    ("DeleteVirtualMFADevice", "deletes a virtual MFA device"),
    (
        "GetFederationToken",
        "issues temporary credentials for a federated session",
    ),
    ("GetSessionToken", "issues temporary session credentials"),
];

/// What to do with one payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Not root use by a person; the reason is logged and reported in `Outcome.ignored`.
    Ignore(String),
    /// Root use: send this alert.
    Alert(Box<Alert>),
}

/// The kind of root activity a record shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activity {
    /// `ConsoleLogin`.
    ConsoleLogin,
    /// Any other sign-in event (`PasswordRecoveryRequested`, `CheckMfa`, …).
    SignInEvent,
    /// An API call.
    ApiCall,
}

/// Decides what a payload calls for. Pure: no AWS calls, no clock, no environment.
pub fn decide(config: &Config, payload: &Payload) -> Decision {
    let Some(record) = payload.record() else {
        return Decision::Ignore(format!(
            "{}: not a CloudTrail record (root-activity handles sign-in and API call events)",
            payload.describe()
        ));
    };
    let detail_type = match payload {
        Payload::CloudTrail(e) => Some(e.detail_type.as_str()),
        _ => None,
    };
    if let Some(reason) = exclusion(record, detail_type) {
        return Decision::Ignore(reason);
    }
    let envelope_account = match payload {
        Payload::CloudTrail(e) => e.account.as_deref(),
        _ => None,
    };
    let envelope_region = match payload {
        Payload::CloudTrail(e) => e.region.as_deref(),
        _ => None,
    };
    let activity =
        if record.event_source() == SIGNIN_SOURCE || detail_type == Some(DETAIL_TYPE_SIGN_IN) {
            if record.event_name() == "ConsoleLogin" {
                Activity::ConsoleLogin
            } else {
                Activity::SignInEvent
            }
        } else {
            Activity::ApiCall
        };
    let mut alert = build_alert(config, record, activity);
    if alert.account.is_none() {
        alert.account = envelope_account.map(str::to_string);
    }
    if alert.region.is_none() {
        alert.region = envelope_region.map(str::to_string);
    }
    Decision::Alert(Box::new(alert))
}

/// Why a record is not root use by a person, or `None` when it is.
fn exclusion(r: &Record, detail_type: Option<&str>) -> Option<String> {
    let what = format!("{} {}", r.event_source(), r.event_name());
    if detail_type == Some(DETAIL_TYPE_SERVICE_EVENT)
        || r.event_type.as_deref() == Some("AwsServiceEvent")
    {
        return Some(format!(
            "{what}: AWS service event (eventType AwsServiceEvent): AWS acting on the account, \
             not a person (excluded from root usage by CIS 4.3)"
        ));
    }
    let identity = r.user_identity.as_ref();
    if let Some(service) = identity
        .and_then(|u| u.invoked_by.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        return Some(format!(
            "{what}: invoked by {service} on the caller's behalf (userIdentity.invokedBy): AWS \
             acting on the account, not a person (excluded from root usage by CIS 4.3)"
        ));
    }
    match r.principal() {
        Principal::Root { .. } => None,
        other => Some(format!(
            "{what}: not the root user ({} {}); root-activity alerts only on userIdentity.type Root",
            other.kind(),
            other.display()
        )),
    }
}

/// A sign-in event's outcome: `responseElements.<eventName>` (`Success`/`Failure`), else an
/// error in the record means failure. `None` when nothing says.
fn sign_in_succeeded(r: &Record) -> Option<bool> {
    match r
        .response_element(r.event_name())
        .and_then(Value::as_str)
        .map(str::trim)
    {
        Some(s) if s.eq_ignore_ascii_case("success") => Some(true),
        Some(s) if s.eq_ignore_ascii_case("failure") => Some(false),
        _ if r.failed() || r.error_message.as_deref().is_some_and(|m| !m.is_empty()) => Some(false),
        _ => None,
    }
}

/// `additionalEventData.MFAUsed` (`Yes`/`No`).
fn mfa_used(r: &Record) -> Option<bool> {
    let v = r.additional_data("MFAUsed").and_then(Value::as_str)?.trim();
    if v.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if v.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

/// The credential action this record is, with what it does.
fn credential_action(r: &Record) -> Option<&'static str> {
    let name = r.event_name();
    let (_, what) = CREDENTIAL_ACTIONS.iter().find(|(n, _)| *n == name)?;
    if matches!(name, "UpdateAccessKey" | "UpdateSigningCertificate") {
        let status = r.request_str("status").map(str::trim);
        if status.is_some_and(|s| !s.eq_ignore_ascii_case("active")) {
            return None;
        }
    }
    Some(what)
}

/// `iam` for `iam.amazonaws.com`.
fn service_name(r: &Record) -> &str {
    let s = r.event_source();
    s.strip_suffix(".amazonaws.com").unwrap_or(s)
}

/// A short text for yes/no/unknown.
fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "Yes",
        Some(false) => "No",
        None => "not recorded",
    }
}

/// Replaces values whose key suggests a secret (`secretAccessKey`, `sessionToken`, `password`,
/// `privateKey`), at any depth, so that evidence never carries one.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = k.to_ascii_lowercase();
                    let secret = ["secret", "password", "token", "privatekey"]
                        .iter()
                        .any(|s| key.contains(s));
                    if secret && !v.is_null() {
                        (k.clone(), Value::String("[redacted]".into()))
                    } else {
                        (k.clone(), redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

const REF_CIS_ROOT: &str =
    "CIS AWS Foundations Benchmark 4.3: monitor usage of the root user (v1.4 numbering)";
const REF_ROOT_PRACTICES: &str =
    "AWS: root user best practices, https://docs.aws.amazon.com/IAM/latest/UserGuide/root-user-best-practices.html";
const REF_MITRE_CLOUD_ACCOUNTS: &str = "MITRE ATT&CK T1078.004 Valid Accounts: Cloud Accounts";

fn build_alert(config: &Config, r: &Record, activity: Activity) -> Alert {
    let account = r.account_id().unwrap_or("(unknown account)").to_string();
    let account_label = match &config.common.account_alias {
        Some(alias) => format!("{account} ({alias})"),
        None => account.clone(),
    };
    let source = r
        .source_ip_address
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("an unrecorded source");
    let region = r.aws_region.as_deref().unwrap_or("an unrecorded region");
    let event_name = if r.event_name().is_empty() {
        "(unnamed event)"
    } else {
        r.event_name()
    };

    let mut facts: Vec<(String, String)> = Vec::new();
    let mut references: Vec<String> = vec![REF_CIS_ROOT.into()];
    let credential = credential_action(r);

    let (severity, detection, title, mut summary) = match activity {
        Activity::ConsoleLogin => {
            let succeeded = sign_in_succeeded(r);
            let mfa = mfa_used(r);
            facts.push((
                "Sign-in".into(),
                match succeeded {
                    Some(true) => "Success".to_string(),
                    Some(false) => match r.error_message.as_deref() {
                        Some(m) if !m.is_empty() => format!("Failure ({m})"),
                        _ => "Failure".to_string(),
                    },
                    None => "outcome not recorded (treated as a success)".to_string(),
                },
            ));
            facts.push(("MFA used".into(), yes_no(mfa).into()));
            if succeeded == Some(false) {
                references.push(
                    "CIS AWS Foundations Benchmark 4.6: console authentication failures".into(),
                );
                references.push("MITRE ATT&CK T1110 Brute Force".into());
                (
                    Severity::Medium,
                    "root-console-sign-in-failure",
                    "Failed root user console sign-in".to_string(),
                    format!(
                        "A console sign-in as the root user of account {account_label} failed, from \
                         {source}. One failure is often a typing mistake; several in a row mean \
                         someone is guessing the root password. Look for more failures from this \
                         source and make sure the root user has MFA."
                    ),
                )
            } else if mfa == Some(true) {
                references.push(REF_MITRE_CLOUD_ACCOUNTS.into());
                (
                    Severity::High,
                    "root-console-sign-in",
                    "Root user signed in to the console with MFA".to_string(),
                    format!(
                        "Someone signed in to the AWS console of account {account_label} as the \
                         root user, with MFA, from {source}. The root user can do anything in the \
                         account, including closing it, and should almost never be used. If this \
                         was not planned, find out who holds the root password and MFA device, and \
                         review what this session did (further root alerts, CloudTrail event \
                         history)."
                    ),
                )
            } else {
                references
                    .push("CIS AWS Foundations Benchmark 4.2: console sign-in without MFA".into());
                references.push(REF_MITRE_CLOUD_ACCOUNTS.into());
                let how = if mfa.is_none() {
                    "and the record does not say whether MFA was used"
                } else {
                    "without MFA: the password alone was enough"
                };
                (
                    Severity::Critical,
                    "root-console-sign-in",
                    if mfa.is_none() {
                        "Root user signed in to the console, MFA not recorded".to_string()
                    } else {
                        "Root user signed in to the console without MFA".to_string()
                    },
                    format!(
                        "Someone signed in to the AWS console of account {account_label} as the \
                         root user from {source}, {how}. The root user can do anything in the \
                         account, including closing it. If this was not you: reset the root \
                         password, enable MFA on the root user, and review what this session did \
                         (further root alerts, CloudTrail event history)."
                    ),
                )
            }
        }
        Activity::SignInEvent | Activity::ApiCall => {
            let failed = match activity {
                Activity::SignInEvent => sign_in_succeeded(r) == Some(false),
                _ => r.failed(),
            };
            facts.push((
                "Outcome".into(),
                if failed {
                    let code = r.error_code.as_deref().filter(|c| !c.is_empty());
                    let msg = r.error_message.as_deref().filter(|m| !m.is_empty());
                    match (code, msg) {
                        (Some(c), Some(m)) => format!("Failed: {c} ({m})"),
                        (Some(c), None) => format!("Failed: {c}"),
                        (None, Some(m)) => format!("Failed ({m})"),
                        (None, None) => "Failed".to_string(),
                    }
                } else {
                    "Succeeded".to_string()
                },
            ));
            let what = if activity == Activity::SignInEvent {
                "sign-in event"
            } else {
                "API call"
            };
            let outcome_note = if failed {
                " The call failed, so it changed nothing, but someone is acting as root."
            } else {
                ""
            };
            if let Some(does) = credential {
                references.push(
                    "MITRE ATT&CK T1098.001 Account Manipulation: Additional Cloud Credentials"
                        .into(),
                );
                if let Some(user) = r.request_str("userName") {
                    facts.push(("For IAM user".into(), user.to_string()));
                }
                if let Some(key) = r
                    .response_element("accessKey.accessKeyId")
                    .and_then(Value::as_str)
                {
                    facts.push(("New access key".into(), key.to_string()));
                }
                (
                    Severity::Critical,
                    "root-credential-change",
                    format!(
                        "Root user credential change: {event_name}{}",
                        if failed { " (failed)" } else { "" }
                    ),
                    format!(
                        "The root user of account {account_label} called {event_name} ({}), which \
                         {does}, from {source} in {region}.{outcome_note} Credentials created or \
                         weakened by root outlive the session that made them. If this was not you, \
                         treat the account as compromised: secure the root user (password, MFA), \
                         delete any root access keys, and review recent root activity.",
                        service_name(r)
                    ),
                )
            } else if activity == Activity::SignInEvent && failed {
                references.push("MITRE ATT&CK T1110 Brute Force".into());
                (
                    Severity::Medium,
                    "root-sign-in-failure",
                    format!("Failed root user sign-in event: {event_name}"),
                    format!(
                        "A root user sign-in step ({event_name}) for account {account_label} \
                         failed, from {source}. Repeated failures mean someone is trying to get \
                         into the root user."
                    ),
                )
            } else {
                references.push(REF_MITRE_CLOUD_ACCOUNTS.into());
                (
                    Severity::High,
                    if activity == Activity::SignInEvent {
                        "root-sign-in-event"
                    } else {
                        "root-api-call"
                    },
                    format!(
                        "Root user {what}: {event_name} ({}){}",
                        service_name(r),
                        if failed { ", failed" } else { "" }
                    ),
                    format!(
                        "The root user of account {account_label} made the {what} {event_name} \
                         ({}) from {source} in {region}.{outcome_note} Day-to-day work belongs to \
                         IAM roles; root should almost never be used. If this was not you, secure \
                         the root user (password, MFA) and review recent root activity.",
                        service_name(r)
                    ),
                )
            }
        }
    };

    // MFA of the session behind an API call, and the credentials it used.
    let identity = r.user_identity.as_ref();
    let key_id = identity
        .and_then(|u| u.access_key_id.as_deref())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    if activity != Activity::ConsoleLogin {
        let mfa = match identity.and_then(|u| u.mfa_authenticated()) {
            Some(true) => "Yes (MFA-authenticated session)".to_string(),
            Some(false) => "No (session not MFA-authenticated)".to_string(),
            None if key_id.is_some_and(|k| k.starts_with("AKIA")) => {
                "No (long-term access key)".to_string()
            }
            None => yes_no(mfa_used(r)).to_string(),
        };
        facts.push(("MFA used".into(), mfa));
    }
    if let Some(device) = r.additional_data("MFAIdentifier").and_then(Value::as_str) {
        facts.push(("MFA device".into(), device.to_string()));
    }
    if let Some(k) = key_id {
        let kind = if k.starts_with("AKIA") {
            "long-term root access key: the root user should have none (CIS 1.4)"
        } else if k.starts_with("ASIA") {
            "temporary: console session or session token"
        } else {
            "access key"
        };
        facts.push(("Credentials".into(), format!("{k} ({kind})")));
    }
    if let Some(to) = r.additional_data("LoginTo").and_then(Value::as_str) {
        facts.push(("Signed in to".into(), to.to_string()));
    }
    if let Some(m) = r.additional_data("MobileVersion").and_then(Value::as_str) {
        facts.push(("Mobile console".into(), m.to_string()));
    }

    // Known networks: lower one step, never suppress.
    let mut severity = severity;
    match match_source(r.source_ip_address.as_deref(), &config.known_source_cidrs) {
        SourceMatch::Known { ip, network } => {
            let lowered = severity.lower();
            facts.push((
                "Source network".into(),
                format!(
                    "{ip} is in known network {network} (KNOWN_SOURCE_CIDRS): severity lowered \
                     from {severity} to {lowered}"
                ),
            ));
            summary.push_str(&format!(
                " The source {ip} is in the known network {network}, so the severity was lowered \
                 from {severity} to {lowered}; it is still root use."
            ));
            severity = lowered;
        }
        SourceMatch::Unknown { ip } if !config.known_source_cidrs.is_empty() => {
            facts.push((
                "Source network".into(),
                format!("{ip} is in none of the known networks (KNOWN_SOURCE_CIDRS)"),
            ));
        }
        SourceMatch::NotAnIp { value } => {
            facts.push((
                "Source network".into(),
                format!("{value} is an AWS service host name, not an IP address"),
            ));
        }
        _ => {}
    }
    summary.push_str(" trailwarden took no automatic action: this is an alert only.");

    references.push(REF_ROOT_PRACTICES.into());

    let mut alert = Alert::new(severity, detection, title).about(r);
    alert.summary = summary;
    alert.facts = facts;
    alert.references = references;
    alert.account_alias = config.common.account_alias.clone();
    alert.dry_run = config.common.dry_run;
    if activity != Activity::ConsoleLogin {
        let mut evidence = serde_json::Map::new();
        for (k, v) in [
            ("requestParameters", &r.request_parameters),
            ("responseElements", &r.response_elements),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_null()) {
                evidence.insert(k.into(), redact(v));
            }
        }
        if !evidence.is_empty() {
            alert.evidence = Some(Value::Object(evidence));
        }
    }
    alert
}

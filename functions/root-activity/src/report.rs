//! Pure wording: the alert for a [`Case`]. Every English sentence root-activity sends is here.

use crate::centralized::{AssumeRootCall, TaskPolicy, TaskSession};
use crate::config::Config;
use crate::decide::{CallOutcome, Case, CredentialAction, KeyKind, Kind, Mfa, Reason, Step};
use crate::network::SourceMatch;
use crate::RootActivity;
use serde_json::Value;
use trailwarden::alert::{part, Alert};
use trailwarden::respond::{NoStats, Plan, Report, Reporting};
use trailwarden::Record;

const REF_CIS_ROOT: &str =
    "CIS AWS Foundations Benchmark 4.3: monitor usage of the root user (v1.4 numbering)";
const REF_ROOT_PRACTICES: &str =
    "AWS: root user best practices, https://docs.aws.amazon.com/IAM/latest/UserGuide/root-user-best-practices.html";
const REF_MITRE_CLOUD_ACCOUNTS: &str = "MITRE ATT&CK T1078.004 Valid Accounts: Cloud Accounts";
const REF_MITRE_BRUTE_FORCE: &str = "MITRE ATT&CK T1110 Brute Force";
const REF_MITRE_CLOUD_CREDENTIALS: &str =
    "MITRE ATT&CK T1098.001 Account Manipulation: Additional Cloud Credentials";
const REF_CENTRALIZED_ROOT: &str = "AWS IAM User Guide: centralized root access for member \
     accounts (sts:AssumeRoot and the root-task policies)";

/// The detection id of each kind (what subscribers filter on).
pub fn detection(kind: &Kind) -> &'static str {
    match kind {
        Kind::ConsoleSignIn => "root-console-sign-in",
        Kind::ConsoleSignInFailed => "root-console-sign-in-failure",
        Kind::SignInEvent => "root-sign-in-event",
        Kind::SignInEventFailed => "root-sign-in-failure",
        Kind::ApiCall => "root-api-call",
        Kind::CredentialChange(_) => "root-credential-change",
        Kind::CentralizedRootTask => "root-centralized-task",
        Kind::AssumeRoot(_) => "root-assume-root",
    }
}

/// What a credential action does, for a sentence "…, which {does}, …".
pub fn credential_action_does(a: CredentialAction) -> &'static str {
    match a {
        CredentialAction::CreateAccessKey => "creates a long-term access key",
        CredentialAction::UpdateAccessKey => "re-activates an access key",
        CredentialAction::UploadSigningCertificate => "adds an X.509 signing certificate",
        CredentialAction::UpdateSigningCertificate => "re-activates a signing certificate",
        CredentialAction::CreateLoginProfile => "creates a console password",
        CredentialAction::UpdateLoginProfile => "changes a console password",
        CredentialAction::ChangePassword => "changes the console password",
        CredentialAction::PasswordRecoveryCompleted => {
            "resets the root password through password recovery"
        }
        CredentialAction::DeactivateMfaDevice => "deactivates an MFA device",
        CredentialAction::DeleteVirtualMfaDevice => "deletes a virtual MFA device",
        CredentialAction::GetFederationToken => {
            "issues temporary credentials for a federated session"
        }
        CredentialAction::GetSessionToken => "issues temporary session credentials",
    }
}

impl Reporting for RootActivity {
    type Output = ();
    type Stats = NoStats;

    /// The alert (root-activity has no statistics: the alert and its delivery are the outcome).
    fn report(
        config: &Config,
        case: &Case,
        _plan: &Plan<Step>,
        _output: Option<&()>,
    ) -> Report<NoStats> {
        Report {
            alerts: vec![alert(config, case)],
            stats: NoStats {},
        }
    }
}

/// The words shared by the summaries of one case.
struct Words {
    account_label: String,
    source: String,
    region: String,
    event_name: String,
    service: String,
}

impl Words {
    fn of(config: &Config, r: &Record) -> Words {
        let account = r.account_id().unwrap_or("(unknown account)");
        Words {
            account_label: match &config.common.account_alias {
                Some(alias) => format!("{account} ({alias})"),
                None => account.to_string(),
            },
            source: r
                .source_ip_address
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or("an unrecorded source")
                .to_string(),
            region: r
                .aws_region
                .clone()
                .unwrap_or_else(|| "an unrecorded region".into()),
            event_name: if r.event_name().is_empty() {
                "(unnamed event)".into()
            } else {
                r.event_name().to_string()
            },
            service: {
                let s = r.event_source();
                s.strip_suffix(".amazonaws.com").unwrap_or(s).to_string()
            },
        }
    }
}

/// The alert for one case.
pub fn alert(config: &Config, case: &Case) -> Alert {
    let r = &case.record;
    let w = Words::of(config, r);
    let mut facts: Vec<(String, String)> = Vec::new();
    let mut references: Vec<String> = vec![REF_CIS_ROOT.into()];
    let failed = case.outcome.failed();
    let failed_suffix = if failed { " (failed)" } else { "" };
    let outcome_note = if failed {
        " The call failed, so it changed nothing, but someone is acting as root."
    } else {
        ""
    };
    let Words {
        account_label,
        source,
        region,
        event_name,
        service,
    } = &w;

    let (title, mut summary) = match &case.kind {
        Kind::ConsoleSignIn | Kind::ConsoleSignInFailed => {
            facts.push(("Sign-in".into(), sign_in_fact(&case.outcome)));
            facts.push(("MFA used".into(), yes_no(mfa_recorded(case.mfa)).into()));
            if case.kind == Kind::ConsoleSignInFailed {
                references.push(
                    "CIS AWS Foundations Benchmark 4.6: console authentication failures".into(),
                );
                references.push(REF_MITRE_BRUTE_FORCE.into());
                (
                    "Failed root user console sign-in".to_string(),
                    format!(
                        "A console sign-in as the root user of account {account_label} failed, \
                         from {source}. One failure is often a typing mistake; several in a row \
                         mean someone is guessing the root password. Look for more failures from \
                         this source and make sure the root user has MFA."
                    ),
                )
            } else if case.mfa == Mfa::Recorded(Some(true)) {
                references.push(REF_MITRE_CLOUD_ACCOUNTS.into());
                (
                    "Root user signed in to the console with MFA".to_string(),
                    format!(
                        "Someone signed in to the AWS console of account {account_label} as the \
                         root user, with MFA, from {source}. The root user can do anything in \
                         the account, including closing it, and should almost never be used. If \
                         this was not planned, find out who holds the root password and MFA \
                         device, and review what this session did (further root alerts, \
                         CloudTrail event history)."
                    ),
                )
            } else {
                references
                    .push("CIS AWS Foundations Benchmark 4.2: console sign-in without MFA".into());
                references.push(REF_MITRE_CLOUD_ACCOUNTS.into());
                let not_recorded = case.reasons.contains(&Reason::MfaNotRecorded);
                let how = if not_recorded {
                    "and the record does not say whether MFA was used"
                } else {
                    "without MFA: the password alone was enough"
                };
                (
                    if not_recorded {
                        "Root user signed in to the console, MFA not recorded".to_string()
                    } else {
                        "Root user signed in to the console without MFA".to_string()
                    },
                    format!(
                        "Someone signed in to the AWS console of account {account_label} as the \
                         root user from {source}, {how}. The root user can do anything in the \
                         account, including closing it. If this was not you: reset the root \
                         password, enable MFA on the root user, and review what this session \
                         did (further root alerts, CloudTrail event history)."
                    ),
                )
            }
        }
        Kind::AssumeRoot(call) => assume_root(case, call, &w, &mut facts, &mut references),
        Kind::CredentialChange(action) => {
            facts.push(("Outcome".into(), outcome_fact(&case.outcome)));
            if let Some(session) = &case.task_session {
                task_session_facts(session, &mut facts);
            }
            references.push(REF_MITRE_CLOUD_CREDENTIALS.into());
            if let Some(user) = r.request_str("userName") {
                facts.push(("For IAM user".into(), user.to_string()));
            }
            if let Some(key) = r
                .response_element("accessKey.accessKeyId")
                .and_then(Value::as_str)
            {
                facts.push(("New access key".into(), key.to_string()));
            }
            let does = credential_action_does(*action);
            let summary = match &case.task_session {
                None => format!(
                    "The root user of account {account_label} called {event_name} ({service}), \
                     which {does}, from {source} in {region}.{outcome_note} Credentials created \
                     or weakened by root outlive the session that made them. If this was not \
                     you, treat the account as compromised: secure the root user (password, \
                     MFA), delete any root access keys, and review recent root activity."
                ),
                Some(session) => format!(
                    "A centralized root access task session in account {account_label} called \
                     {event_name} ({service}), which {does}, from {source} in \
                     {region}.{outcome_note} The session was obtained with sts:AssumeRoot by a \
                     principal of the organization's management account (or its delegated \
                     administrator for IAM), not with this account's root password. \
                     Credentials created or weakened by root outlive the session that made \
                     them. {} If the task was not planned, treat the principal that called \
                     AssumeRoot as compromised, undo the change, and limit who may call \
                     sts:AssumeRoot.",
                    find_caller(case, session)
                ),
            };
            (
                format!(
                    "Root user credential change: {event_name}{failed_suffix}{}",
                    if case.centralized() {
                        " (root task session)"
                    } else {
                        ""
                    }
                ),
                summary,
            )
        }
        Kind::CentralizedRootTask => {
            facts.push(("Outcome".into(), outcome_fact(&case.outcome)));
            if let Some(session) = &case.task_session {
                task_session_facts(session, &mut facts);
            }
            references.push(REF_CENTRALIZED_ROOT.into());
            let session = case.task_session.as_ref();
            (
                format!(
                    "Centralized root task session: {event_name} ({service}){}",
                    if failed { ", failed" } else { "" }
                ),
                format!(
                    "A centralized root access task session in account {account_label} made the \
                     API call {event_name} ({service}) from {source} in {region}.{outcome_note} \
                     The session was obtained with sts:AssumeRoot by a principal of the \
                     organization's management account (or its delegated administrator for \
                     IAM), limited to one task policy and a few minutes; it is not someone \
                     holding this account's root password, so there is no root password to \
                     reset. {} If the task was not planned, find out who holds that principal \
                     and limit who may call sts:AssumeRoot.",
                    session.map(|s| find_caller(case, s)).unwrap_or_default()
                ),
            )
        }
        Kind::SignInEventFailed => {
            facts.push(("Outcome".into(), outcome_fact(&case.outcome)));
            references.push(REF_MITRE_BRUTE_FORCE.into());
            (
                format!("Failed root user sign-in event: {event_name}"),
                format!(
                    "A root user sign-in step ({event_name}) for account {account_label} \
                     failed, from {source}. Repeated failures mean someone is trying to get \
                     into the root user."
                ),
            )
        }
        Kind::SignInEvent | Kind::ApiCall => {
            facts.push(("Outcome".into(), outcome_fact(&case.outcome)));
            references.push(REF_MITRE_CLOUD_ACCOUNTS.into());
            let what = if case.kind == Kind::SignInEvent {
                "sign-in event"
            } else {
                "API call"
            };
            (
                format!(
                    "Root user {what}: {event_name} ({service}){}",
                    if failed { ", failed" } else { "" }
                ),
                format!(
                    "The root user of account {account_label} made the {what} {event_name} \
                     ({service}) from {source} in {region}.{outcome_note} Day-to-day work \
                     belongs to IAM roles; root should almost never be used. If this was not \
                     you, secure the root user (password, MFA) and review recent root activity."
                ),
            )
        }
    };

    // MFA of the session behind an API call, and the credentials it used.
    if !matches!(case.kind, Kind::ConsoleSignIn | Kind::ConsoleSignInFailed) {
        facts.push(("MFA used".into(), session_mfa_fact(case.mfa)));
    }
    if let Some(device) = r.additional_data("MFAIdentifier").and_then(Value::as_str) {
        facts.push(("MFA device".into(), device.to_string()));
    }
    if let Some(c) = &case.credentials {
        let kind = match c.kind {
            KeyKind::LongTerm if case.reasons.contains(&Reason::LongTermRootKey) => {
                "long-term root access key: the root user should have none (CIS 1.4)"
            }
            KeyKind::LongTerm => "long-term access key",
            KeyKind::Temporary if case.centralized() => {
                "temporary: root task session issued by sts:AssumeRoot"
            }
            KeyKind::Temporary if matches!(case.kind, Kind::AssumeRoot(_)) => {
                "temporary: the caller's own session"
            }
            KeyKind::Temporary => "temporary: console session or session token",
            KeyKind::Other => "access key",
        };
        facts.push((
            "Credentials".into(),
            format!("{} ({kind})", c.access_key_id),
        ));
    }
    if let Some(to) = r.additional_data("LoginTo").and_then(Value::as_str) {
        facts.push(("Signed in to".into(), to.to_string()));
    }
    if let Some(m) = r.additional_data("MobileVersion").and_then(Value::as_str) {
        facts.push(("Mobile console".into(), m.to_string()));
    }

    // Known networks: lowered one step, never suppressed.
    match &case.source {
        SourceMatch::Known { ip, network } => {
            let (from, to) = (case.base_severity, case.severity);
            facts.push((
                "Source network".into(),
                format!(
                    "{ip} is in known network {network} (KNOWN_SOURCE_CIDRS): severity lowered \
                     from {from} to {to}"
                ),
            ));
            summary.push_str(&format!(
                " The source {ip} is in the known network {network}, so the severity was \
                 lowered from {from} to {to}; it is still root use."
            ));
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

    if case.centralized() && !references.iter().any(|x| x == REF_CENTRALIZED_ROOT) {
        references.push(REF_CENTRALIZED_ROOT.into());
    }
    references.push(REF_ROOT_PRACTICES.into());

    let mut alert = Alert::new(case.severity, detection(&case.kind), title).about(r);
    if alert.account.is_none() {
        alert.account = case.account.clone();
    }
    if alert.region.is_none() {
        alert.region = case.region.clone();
    }
    alert.summary = summary;
    alert.facts = facts;
    alert.references = references;
    if !matches!(case.kind, Kind::ConsoleSignIn | Kind::ConsoleSignInFailed) {
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

/// Title and summary of an `sts:AssumeRoot` call, with its facts.
fn assume_root(
    case: &Case,
    call: &AssumeRootCall,
    w: &Words,
    facts: &mut Vec<(String, String)>,
    references: &mut Vec<String>,
) -> (String, String) {
    let Words {
        account_label,
        source,
        region,
        ..
    } = w;
    references.push(REF_CENTRALIZED_ROOT.into());
    references.push(REF_MITRE_CLOUD_ACCOUNTS.into());
    let target = call.target_account.as_deref().unwrap_or("(not recorded)");
    let caller = call.caller.display();
    let policy = call
        .task_policy
        .as_ref()
        .map(TaskPolicy::name)
        .unwrap_or("(not recorded)");
    facts.push(("Outcome".into(), outcome_fact(&case.outcome)));
    facts.push(("Member account".into(), target.to_string()));
    facts.push((
        "Task policy".into(),
        call.task_policy_arn
            .clone()
            .unwrap_or_else(|| "(not recorded)".into()),
    ));
    facts.push(("Called by".into(), caller.clone()));
    if let Some(d) = call.duration_seconds {
        facts.push(("Session duration".into(), format!("{d} seconds")));
    }
    if let Some(k) = &call.session_key {
        facts.push(("Root session key".into(), k.clone()));
    }
    let task = match &call.task_policy {
        Some(p) => format!("the task policy {} ({})", p.name(), task_purpose(p)),
        None => "a task policy that the record does not name".to_string(),
    };
    let from = match call.caller_account.as_deref() {
        Some(a) if Some(a) != case.record.account_id() => format!(" of account {a}"),
        _ => String::new(),
    };
    if case.outcome.failed() {
        (
            format!("Centralized root access to {target} refused: {policy}"),
            format!(
                "{caller}{from} called sts:AssumeRoot (recorded in account {account_label}, \
                 {region}) from {source}, asking for a root session in member account {target} \
                 with {task}. The call failed, so no root session was issued, but someone with \
                 that principal tried to act as root in a member account. If this was not \
                 planned, find out who holds that principal, and check that only the few \
                 principals that need it may call sts:AssumeRoot."
            ),
        )
    } else {
        let key = part(" (with the key ", call.session_key.as_deref(), ")");
        (
            format!("Centralized root access to {target}: {policy}"),
            format!(
                "{caller}{from} called sts:AssumeRoot (recorded in account {account_label}, \
                 {region}) from {source} and received a root session for member account \
                 {target}, limited to {task}. This is centralized root access: nobody used \
                 the member account's root password. Review what the session did in account \
                 {target}: its records show userIdentity type Root with the assumedRoot \
                 marker{key}. If this task was not planned, treat the calling principal as \
                 compromised and limit who may call sts:AssumeRoot."
            ),
        )
    }
}

/// The facts of a root task session (member account side).
fn task_session_facts(s: &TaskSession, facts: &mut Vec<(String, String)>) {
    facts.push((
        "Root session".into(),
        "centralized root access: a task session issued by sts:AssumeRoot, not the root \
         password"
            .into(),
    ));
    facts.push((
        "Task policy".into(),
        match &s.likely_task_policy {
            Some(p) => format!(
                "probably {} (the task whose purpose is this call; this account's record does \
                 not name the policy)",
                p.name()
            ),
            None => "not recorded in this account (the AssumeRoot record in the calling \
                     account names it)"
                .into(),
        },
    ));
    facts.push((
        "Assumed by".into(),
        match &s.source_identity {
            Some(who) => format!("{who} (source identity of the caller's session)"),
            None => "not recorded in this account (the AssumeRoot record in the calling \
                     account names the caller)"
                .into(),
        },
    ));
    if let Some(t) = &s.issued_at {
        facts.push(("Session issued".into(), t.clone()));
    }
}

/// The sentence that says where to find who assumed the session.
fn find_caller(case: &Case, s: &TaskSession) -> String {
    let account = case.record.account_id().unwrap_or("this account");
    let key = part(
        " and responseElements.credentials.accessKeyId ",
        s.access_key_id.as_deref(),
        "",
    );
    let who = match &s.source_identity {
        Some(who) => format!(" Its source identity is {who}."),
        None => String::new(),
    };
    format!(
        "To find who assumed it, look in the management account's CloudTrail (or the delegated \
         administrator's) for sts.amazonaws.com AssumeRoot with requestParameters.targetPrincipal \
         {account}{key}.{who}"
    )
}

/// What each task is for.
fn task_purpose(p: &TaskPolicy) -> &'static str {
    match p {
        TaskPolicy::AuditRootUserCredentials => "read the root user's credentials",
        TaskPolicy::CreateRootUserPassword => {
            "give the root user a console password: recovery of root sign-in"
        }
        TaskPolicy::DeleteRootUserCredentials => {
            "delete the root user's password, access keys and signing certificates and \
             deactivate its MFA devices"
        }
        TaskPolicy::S3UnlockBucketPolicy => "delete a bucket policy that denies every principal",
        TaskPolicy::SqsUnlockQueuePolicy => "remove a queue policy that denies every principal",
        TaskPolicy::Other(_) => "a task trailwarden does not know",
    }
}

fn sign_in_fact(outcome: &CallOutcome) -> String {
    match outcome {
        CallOutcome::Succeeded => "Success".into(),
        CallOutcome::Failed {
            message: Some(m), ..
        } => format!("Failure ({m})"),
        CallOutcome::Failed { .. } => "Failure".into(),
        CallOutcome::NotRecorded => "outcome not recorded (treated as a success)".into(),
    }
}

fn outcome_fact(outcome: &CallOutcome) -> String {
    match outcome {
        CallOutcome::Failed { code, message } => match (code, message) {
            (Some(c), Some(m)) => format!("Failed: {c} ({m})"),
            (Some(c), None) => format!("Failed: {c}"),
            (None, Some(m)) => format!("Failed ({m})"),
            (None, None) => "Failed".to_string(),
        },
        _ => "Succeeded".to_string(),
    }
}

fn mfa_recorded(m: Mfa) -> Option<bool> {
    match m {
        Mfa::Recorded(v) => v,
        Mfa::Session(b) => Some(b),
        Mfa::LongTermKey => Some(false),
    }
}

fn session_mfa_fact(m: Mfa) -> String {
    match m {
        Mfa::Session(true) => "Yes (MFA-authenticated session)".into(),
        Mfa::Session(false) => "No (session not MFA-authenticated)".into(),
        Mfa::LongTermKey => "No (long-term access key)".into(),
        Mfa::Recorded(v) => yes_no(v).into(),
    }
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

//! The pure decision: from (configuration, payload, facts) to ignore, or a typed case and the
//! ordered steps of its response. No AWS calls and no wording here (see [`crate::report`]).

use crate::approval::{ApprovalError, Approvals, CreatorFact, CreatorRef, Verdict};
use crate::config::{Config, CredentialMode, Mode};
use crate::UnapprovedUser;
use serde::Serialize;
use trailwarden::estate::Resolved;
use trailwarden::respond::{Decide, Decision, PlannedStep, StepKind};
use trailwarden::{Payload, Principal, Record, Severity};

/// Read-only look-ups made before deciding.
#[derive(Debug, Default)]
pub struct Facts {
    /// The approval document: `None` when not looked up (not configured, not needed because
    /// the configured lists decide, or an offline plan); else what reading it gave.
    pub document: Option<Result<Approvals, ApprovalError>>,
    /// The approved creator as IAM has it (or why IAM could not say), looked up only when the
    /// approval rests on the creator (see [`creator_to_check`]); `None` when not looked up.
    pub creator: Option<CreatorFact>,
}

/// The IAM user a `CreateUser` event created, as the event describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewUser {
    pub name: String,
    pub path: String,
    /// `responseElements.user.arn`.
    pub arn: Option<String>,
    /// `responseElements.user.userId` (`AIDA…`): the user's unique id, kept across renames
    /// (`UpdateUser`) and different for a later user re-created under the same name.
    pub user_id: Option<String>,
    /// `responseElements.user.createDate`, as written (`Aug 1, 2024 1:33:28 PM`: not ISO 8601).
    pub create_date: Option<String>,
}

impl NewUser {
    /// The partition of the user's ARN (`aws`, `aws-us-gov`, `aws-cn`), `aws` when unknown.
    pub fn partition(&self) -> &str {
        partition_of(self.arn.as_deref())
    }
}

fn partition_of(arn: Option<&str>) -> &str {
    arn.and_then(|a| a.split(':').nth(1))
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
}

/// A credential made for an existing user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// `CreateAccessKey`: the new key's id (`responseElements.accessKey.accessKeyId`; the
    /// secret is never logged).
    AccessKey { key_id: Option<String> },
    /// `CreateLoginProfile`: a console password where there was none.
    LoginProfileCreated,
    /// `UpdateLoginProfile`: the console password changed.
    LoginProfileUpdated,
    /// `UploadSSHPublicKey`: an SSH public key (CodeCommit over SSH); its id is
    /// `responseElements.sSHPublicKey.sSHPublicKeyId` (CloudTrail lower-cases only the first
    /// letter of `SSHPublicKey`).
    SshPublicKey { key_id: Option<String> },
    /// `UploadSigningCertificate`: an X.509 signing certificate
    /// (`responseElements.certificate.certificateId`).
    SigningCertificate { certificate_id: Option<String> },
    /// `CreateServiceSpecificCredential`, or with `reset` `ResetServiceSpecificCredential` (a
    /// new password for an existing one): a user name and password (or API key) for one
    /// service (CodeCommit, Keyspaces, Bedrock, CloudWatch Logs), with the user's permissions
    /// (`responseElements.serviceSpecificCredential`; the password is never logged).
    ServiceSpecificCredential {
        credential_id: Option<String>,
        service_name: Option<String>,
        reset: bool,
    },
}

/// What the event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// `CreateUser`.
    NewUser(NewUser),
    /// A credential made for another, existing user (persistence without `CreateUser`).
    Credential {
        /// The user the credential is for.
        user: String,
        credential: Credential,
    },
}

impl Subject {
    /// The user's name as the event gives it.
    pub fn user_name(&self) -> &str {
        match self {
            Subject::NewUser(u) => &u.name,
            Subject::Credential { user, .. } => user,
        }
    }
}

/// The approval document, as this decision saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DocumentState {
    /// `APPROVAL_DOCUMENT_URI` is not set.
    NotConfigured,
    /// Configured but not read (offline plan, or the configured lists decided).
    NotConsulted { uri: String },
    /// Read and merged into the configured lists.
    Merged { uri: String },
    /// Could not be read or is not valid: the decision was made without it (fail closed).
    Unreadable { uri: String, error: String },
}

/// What the configuration says to do about the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Approved: nothing to do but the informational alert.
    None,
    /// An unapproved new user: `RESPONSE_MODE`.
    User(#[serde(serialize_with = "mode_str")] Mode),
    /// An unapproved credential for another user: `CREDENTIAL_RESPONSE_MODE`.
    Credential(#[serde(serialize_with = "credential_mode_str")] CredentialMode),
}

fn mode_str<S: serde::Serializer>(m: &Mode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

fn credential_mode_str<S: serde::Serializer>(m: &CredentialMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

/// What the decision is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub subject: Subject,
    /// Who made the call.
    pub creator: Principal,
    /// The ARN the creator was matched by (the role ARN for role sessions).
    pub creator_arn: Option<String>,
    pub verdict: Verdict,
    pub document: DocumentState,
    pub response: Response,
    /// The severity decided from the event (the report raises it to critical when the
    /// evidence shows credentials or administrator access).
    pub severity: Severity,
    /// The CloudTrail record.
    pub record: Record,
    /// The account the event belongs to (12 digits, or `unknown-account`).
    pub account: String,
    /// The event id, safe for an S3 key and a tag value.
    pub event_id: String,
    /// The settings that applied to the event's account (`ACCOUNT_SETTINGS_URI`).
    pub settings: AppliedSettings,
    /// Why the approved creator could not be looked up in IAM (its age and unique id were
    /// not checked; the approval stands), if it could not.
    pub creator_unchecked: Option<String>,
}

/// Which settings decided, for the event's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedSettings {
    /// `settings: account 111122223333 (ACCOUNT_SETTINGS_URI)`, or the deployment.
    pub source: String,
    /// The account is exempt: alert only.
    pub exempt: bool,
}

/// The configuration in force for `account`: the deployment's, with its account or OU entry
/// of `ACCOUNT_SETTINGS_URI` applied (mode, added creator approvals, exemption).
pub fn effective_config(config: &Config, account: &str) -> (Config, AppliedSettings) {
    let r = config.account_settings.resolve(account);
    let mut c = config.clone();
    let mut sources = Vec::new();
    if let Some(m) = &r.unapproved_user_mode {
        c.mode = m.value;
        sources.push(&m.source);
    }
    if let Some(m) = &r.credential_response_mode {
        c.credential_mode = m.value;
        sources.push(&m.source);
    }
    for a in &r.approved_creator_arns {
        if !c.approvals.creator_arns.contains(&a.value) {
            c.approvals.creator_arns.push(a.value.clone());
        }
        sources.push(&a.source);
    }
    if let Some(e) = &r.exempt {
        sources.push(&e.source);
    }
    let exempt = r.is_exempt();
    if exempt {
        c.mode = Mode::Notify;
        c.credential_mode = CredentialMode::Notify;
    }
    let applied = AppliedSettings {
        source: Resolved::describe(&sources),
        exempt,
    };
    (c, applied)
}

impl Case {
    pub fn approved(&self) -> bool {
        self.verdict.approved()
    }
}

/// Why a step of the plan is decided against (wording in [`crate::report::skip_reason`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// `RESPONSE_MODE=notify`.
    NotifyMode,
    /// `CREDENTIAL_RESPONSE_MODE=notify`.
    CredentialNotifyMode,
    /// The account is exempt in `ACCOUNT_SETTINGS_URI`: alert only.
    AccountExempt,
    /// `CreateAccessKey` without the key id in `responseElements`.
    NoKeyId,
    /// `UploadSSHPublicKey` without the key id in `responseElements`.
    NoSshKeyId,
    /// `UploadSigningCertificate` without the certificate id in `responseElements`.
    NoCertificateId,
    /// `Create`/`ResetServiceSpecificCredential` without the credential id.
    NoServiceCredentialId,
}

/// One step of a response. Steps about a user target the name the event gives; execution
/// acts on the user's current name (it follows renames by the user's unique id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Read-only: find the user (by name, else by unique id after a rename) and capture its
    /// state as evidence. Stops the plan when the user is gone or cannot be read.
    CaptureEvidence {
        user: String,
    },
    /// Store the evidence in S3 (never overwriting an earlier delivery's).
    PutEvidence {
        bucket: String,
        key: String,
    },
    DeleteLoginProfile {
        user: String,
    },
    DeleteAccessKeys {
        user: String,
    },
    DeleteSigningCertificates {
        user: String,
    },
    DeleteSshPublicKeys {
        user: String,
    },
    DeleteServiceSpecificCredentials {
        user: String,
    },
    /// Deactivate every MFA device; with `delete_virtual` (deletion), also delete virtual
    /// ones (they outlive the user).
    DeactivateMfaDevices {
        user: String,
        delete_virtual: bool,
    },
    DeleteUserPolicies {
        user: String,
    },
    DetachUserPolicies {
        user: String,
    },
    RemoveUserFromGroups {
        user: String,
    },
    DeleteUser {
        user: String,
    },
    /// Quarantine: deny every action (`AWSDenyAll`, or an inline deny-all policy when the user
    /// already has the most managed policies IAM allows).
    DenyAll {
        user: String,
        policy_arn: String,
    },
    DeactivateAccessKeys {
        user: String,
    },
    DeactivateSshPublicKeys {
        user: String,
    },
    DeactivateServiceSpecificCredentials {
        user: String,
    },
    DeactivateSigningCertificates {
        user: String,
    },
    /// Tag the user with when, why and which event.
    TagUser {
        user: String,
    },
    /// Notify mode: the user is left as it is (always skipped).
    NoChange {
        user: String,
    },
    /// Set one access key Inactive (a key made for another user).
    DeactivateAccessKey {
        user: String,
        key_id: String,
    },
    /// Set one SSH public key Inactive (a key uploaded for another user).
    DeactivateSshPublicKey {
        user: String,
        key_id: String,
    },
    /// Set one signing certificate Inactive (a certificate uploaded for another user).
    DeactivateSigningCertificate {
        user: String,
        certificate_id: String,
    },
    /// Set one service-specific credential Inactive (made or reset for another user).
    DeactivateServiceSpecificCredential {
        user: String,
        credential_id: String,
    },
}

impl StepKind for Step {
    fn name(&self) -> String {
        match self {
            Step::CaptureEvidence { .. } => "CaptureEvidence",
            Step::PutEvidence { .. } => "PutEvidence",
            Step::DeleteLoginProfile { .. } => "DeleteLoginProfile",
            Step::DeleteAccessKeys { .. } => "DeleteAccessKeys",
            Step::DeleteSigningCertificates { .. } => "DeleteSigningCertificates",
            Step::DeleteSshPublicKeys { .. } => "DeleteSSHPublicKeys",
            Step::DeleteServiceSpecificCredentials { .. } => "DeleteServiceSpecificCredentials",
            Step::DeactivateMfaDevices { .. } => "DeactivateMFADevices",
            Step::DeleteUserPolicies { .. } => "DeleteUserPolicies",
            Step::DetachUserPolicies { .. } => "DetachUserPolicies",
            Step::RemoveUserFromGroups { .. } => "RemoveUserFromGroups",
            Step::DeleteUser { .. } => "DeleteUser",
            Step::DenyAll { .. } => "DenyAll",
            Step::DeactivateAccessKeys { .. } => "DeactivateAccessKeys",
            Step::DeactivateSshPublicKeys { .. } => "DeactivateSSHPublicKeys",
            Step::DeactivateServiceSpecificCredentials { .. } => {
                "DeactivateServiceSpecificCredentials"
            }
            Step::DeactivateSigningCertificates { .. } => "DeactivateSigningCertificates",
            Step::TagUser { .. } => "TagUser",
            Step::NoChange { .. } => "NoChange",
            Step::DeactivateAccessKey { .. } => "DeactivateAccessKey",
            Step::DeactivateSshPublicKey { .. } => "DeactivateSSHPublicKey",
            Step::DeactivateSigningCertificate { .. } => "DeactivateSigningCertificate",
            Step::DeactivateServiceSpecificCredential { .. } => {
                "DeactivateServiceSpecificCredential"
            }
        }
        .to_string()
    }

    fn target(&self) -> String {
        match self {
            Step::PutEvidence { bucket, key } => format!("s3://{bucket}/{key}"),
            Step::DeactivateAccessKey { key_id, .. }
            | Step::DeactivateSshPublicKey { key_id, .. } => key_id.clone(),
            Step::DeactivateSigningCertificate { certificate_id, .. } => certificate_id.clone(),
            Step::DeactivateServiceSpecificCredential { credential_id, .. } => {
                credential_id.clone()
            }
            Step::CaptureEvidence { user }
            | Step::DeleteLoginProfile { user }
            | Step::DeleteAccessKeys { user }
            | Step::DeleteSigningCertificates { user }
            | Step::DeleteSshPublicKeys { user }
            | Step::DeleteServiceSpecificCredentials { user }
            | Step::DeactivateMfaDevices { user, .. }
            | Step::DeleteUserPolicies { user }
            | Step::DetachUserPolicies { user }
            | Step::RemoveUserFromGroups { user }
            | Step::DeleteUser { user }
            | Step::DenyAll { user, .. }
            | Step::DeactivateAccessKeys { user }
            | Step::DeactivateSshPublicKeys { user }
            | Step::DeactivateServiceSpecificCredentials { user }
            | Step::DeactivateSigningCertificates { user }
            | Step::TagUser { user }
            | Step::NoChange { user } => user.clone(),
        }
    }

    fn changes(&self) -> bool {
        !matches!(self, Step::CaptureEvidence { .. } | Step::NoChange { .. })
    }
}

impl Step {
    /// True for the removal steps of a deletion, whose failure is moot once `DeleteUser`
    /// succeeds (IAM deletes a user only when nothing of the kind is left).
    pub fn bound_to_user(&self) -> bool {
        matches!(
            self,
            Step::DeleteLoginProfile { .. }
                | Step::DeleteAccessKeys { .. }
                | Step::DeleteSigningCertificates { .. }
                | Step::DeleteSshPublicKeys { .. }
                | Step::DeleteServiceSpecificCredentials { .. }
                | Step::DeactivateMfaDevices { .. }
                | Step::DeleteUserPolicies { .. }
                | Step::DetachUserPolicies { .. }
                | Step::RemoveUserFromGroups { .. }
        )
    }
}

/// IAM user names: 1-64 of letters, digits and `+=,.@_-`.
pub fn valid_user_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

fn str_at<'a>(r: &'a Record, response_path: &str, request_path: &str) -> Option<&'a str> {
    r.response_element(response_path)
        .and_then(|v| v.as_str())
        .or_else(|| r.request_str(request_path))
        .filter(|s| !s.is_empty())
}

fn response_str(r: &Record, path: &str) -> Option<String> {
    r.response_element(path)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The first non-empty string of `responseElements` at one of `paths`.
fn response_str_any(r: &Record, paths: &[&str]) -> Option<String> {
    paths.iter().find_map(|p| response_str(r, p))
}

/// The object of `responseElements` describing what a credential call made (its user name is
/// the credential's owner).
fn credential_object(event: &str) -> &'static [&'static str] {
    match event {
        "CreateAccessKey" => &["accessKey"],
        "CreateLoginProfile" | "UpdateLoginProfile" => &["loginProfile"],
        // CloudTrail writes `SSHPublicKey` as `sSHPublicKey`; the other spelling is accepted
        // in case a record spells it the SDK's way.
        "UploadSSHPublicKey" => &["sSHPublicKey", "sshPublicKey"],
        "UploadSigningCertificate" => &["certificate"],
        "CreateServiceSpecificCredential" | "ResetServiceSpecificCredential" => {
            &["serviceSpecificCredential"]
        }
        _ => &[],
    }
}

/// The user a credential call was for: `responseElements.<object>.userName`, else
/// `requestParameters.userName` (absent: the caller's own, for the calls where it is optional).
fn credential_target<'a>(r: &'a Record, event: &str) -> Option<&'a str> {
    credential_object(event)
        .iter()
        .find_map(|o| str_at(r, &format!("{o}.userName"), "userName"))
        .or_else(|| r.request_str("userName").filter(|s| !s.is_empty()))
}

/// What a credential call made, from the record.
fn credential_of(r: &Record, event: &str) -> Credential {
    match event {
        "CreateAccessKey" => Credential::AccessKey {
            key_id: response_str(r, "accessKey.accessKeyId"),
        },
        "CreateLoginProfile" => Credential::LoginProfileCreated,
        "UploadSSHPublicKey" => Credential::SshPublicKey {
            key_id: response_str_any(
                r,
                &["sSHPublicKey.sSHPublicKeyId", "sshPublicKey.sshPublicKeyId"],
            ),
        },
        "UploadSigningCertificate" => Credential::SigningCertificate {
            certificate_id: response_str(r, "certificate.certificateId"),
        },
        "CreateServiceSpecificCredential" | "ResetServiceSpecificCredential" => {
            let reset = event == "ResetServiceSpecificCredential";
            Credential::ServiceSpecificCredential {
                credential_id: response_str(
                    r,
                    "serviceSpecificCredential.serviceSpecificCredentialId",
                )
                .or_else(|| {
                    // A reset names the credential in its request too.
                    reset
                        .then(|| r.request_str("serviceSpecificCredentialId"))
                        .flatten()
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                }),
                service_name: response_str(r, "serviceSpecificCredential.serviceName").or_else(
                    || {
                        r.request_str("serviceName")
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                    },
                ),
                reset,
            }
        }
        // UpdateLoginProfile (the only other credential call of EVENT_NAMES).
        _ => Credential::LoginProfileUpdated,
    }
}

/// Where evidence is stored: `trailwarden/evidence/<account>/<user-name>/<eventID>.json`.
pub fn evidence_key(account: &str, user: &str, event_id: &str) -> String {
    format!("trailwarden/evidence/{account}/{user}/{event_id}.json")
}

/// The account the event belongs to: the record's, else the envelope's.
fn account_of(payload: &Payload, record: &Record) -> String {
    let envelope = match payload {
        Payload::CloudTrail(e) => e.account.as_deref(),
        _ => None,
    };
    record
        .account_id()
        .or(envelope)
        .filter(|a| a.len() == 12 && a.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or("unknown-account")
        .to_string()
}

/// The event id, for the evidence key and the quarantine tag.
fn event_id(record: &Record) -> String {
    record
        .event_id
        .clone()
        .filter(|id| {
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .unwrap_or_else(|| {
            format!(
                "no-event-id-{}",
                record
                    .event_time
                    .as_deref()
                    .unwrap_or("unknown-time")
                    .replace(':', "")
            )
        })
}

/// The events this function acts on: `CreateUser`, and the calls that give an existing user a
/// new credential.
pub const EVENT_NAMES: [&str; 8] = [
    "CreateUser",
    "CreateAccessKey",
    "CreateLoginProfile",
    "UpdateLoginProfile",
    "UploadSSHPublicKey",
    "UploadSigningCertificate",
    "CreateServiceSpecificCredential",
    "ResetServiceSpecificCredential",
];

/// The approvals in force and how the document fared.
fn approvals_in_force(config: &Config, facts: &Facts) -> (Approvals, DocumentState) {
    let Some(uri) = &config.approval_document else {
        return (config.approvals.clone(), DocumentState::NotConfigured);
    };
    let uri = uri.to_string();
    match &facts.document {
        None => (
            config.approvals.clone(),
            DocumentState::NotConsulted { uri },
        ),
        Some(Ok(doc)) => (config.approvals.merged(doc), DocumentState::Merged { uri }),
        Some(Err(e)) => (
            config.approvals.clone(),
            DocumentState::Unreadable {
                uri,
                error: e.to_string(),
            },
        ),
    }
}

impl Decide for UnapprovedUser {
    type Config = Config;
    type Facts = Facts;
    type Case = Case;
    type Step = Step;

    /// Decides what to do about a payload.
    fn decide(config: &Config, payload: &Payload, facts: &Facts) -> Decision<Case, Step> {
        let Some(r) = payload.record() else {
            return Decision::not_for(
                payload,
                "not a CloudTrail event, so not an IAM call this function acts on",
            );
        };
        if r.event_source() != "iam.amazonaws.com" || !EVENT_NAMES.contains(&r.event_name()) {
            return Decision::ignore(format!(
                "{} {}: not an IAM call this function acts on ({})",
                r.event_source(),
                r.event_name(),
                EVENT_NAMES.join(", ")
            ));
        }
        let creator = r.principal();
        let who = creator.display();
        let event = r.event_name();
        let requested = r.request_str("userName").unwrap_or("(no name)");
        if r.failed() {
            return Decision::ignore(format!(
                "{event} of \"{requested}\" by {who} failed with {}: nothing was created",
                r.error_code.as_deref().unwrap_or("an error")
            ));
        }
        let identity_arn = r.user_identity.as_ref().and_then(|u| u.arn.as_deref());
        let creator_arn = creator.match_arn().or(identity_arn).map(str::to_string);
        if config.common.is_own(creator_arn.as_deref(), r) || config.common.is_own(identity_arn, r)
        {
            return Decision::ignore(format!(
                "{event} of \"{requested}\" by {who}, which is trailwarden's own role (OWN_ROLE_ARNS): never acted on (loop guard)"
            ));
        }
        let (effective, settings) = effective_config(config, &account_of(payload, r));
        let config = &effective;
        let (approvals, document) = approvals_in_force(config, facts);
        let doubt = || {
            facts
                .creator
                .as_ref()
                .and_then(|f| f.doubt(r.time(), config.creator_min_age_minutes))
        };
        let base = |subject: Subject, verdict: Verdict, response: Response, severity| Case {
            subject,
            creator: creator.clone(),
            creator_arn: creator_arn.clone(),
            verdict,
            document: document.clone(),
            response,
            severity,
            record: r.clone(),
            account: account_of(payload, r),
            event_id: event_id(r),
            settings: settings.clone(),
            creator_unchecked: match &facts.creator {
                Some(CreatorFact::Unchecked(e)) => Some(e.clone()),
                _ => None,
            },
        };
        if event == "CreateUser" {
            let Some(name) = str_at(r, "user.userName", "userName") else {
                return Decision::ignore(format!(
                    "CreateUser by {who} names no user (requestParameters.userName and responseElements.user.userName are missing)"
                ));
            };
            if !valid_user_name(name) {
                return Decision::ignore(format!(
                    "CreateUser by {who} names {name:?}, which is not a valid IAM user name"
                ));
            }
            let user = NewUser {
                name: name.to_string(),
                path: str_at(r, "user.path", "path").unwrap_or("/").to_string(),
                arn: response_str(r, "user.arn"),
                user_id: response_str(r, "user.userId"),
                create_date: response_str(r, "user.createDate"),
            };
            let verdict = approvals
                .verdict(
                    &user.name,
                    &user.path,
                    creator_arn.as_deref(),
                    config.approval_requires_creator,
                )
                .distrusting(doubt());
            if verdict.approved() {
                // Approved by its name or path alone: the caller chose both, so the alert is
                // one a team filtering out `info` still sees.
                let severity = if verdict.creator.matched() {
                    Severity::Info
                } else {
                    Severity::Low
                };
                let case = base(Subject::NewUser(user), verdict, Response::None, severity);
                return Decision::respond(case, []);
            }
            let plan = user_plan(
                config,
                &user,
                &account_of(payload, r),
                &event_id(r),
                settings.exempt,
            );
            let case = base(
                Subject::NewUser(user),
                verdict,
                Response::User(config.mode),
                Severity::High,
            );
            return Decision::Respond { case, plan };
        }

        // A credential for an existing user: CreateAccessKey, CreateLoginProfile,
        // UpdateLoginProfile, UploadSSHPublicKey, UploadSigningCertificate,
        // Create/ResetServiceSpecificCredential.
        let target = credential_target(r, event);
        let own_name = match &creator {
            Principal::IamUser { user_name, .. } => user_name.as_deref(),
            _ => None,
        };
        let Some(target) = target.filter(|t| Some(*t) != own_name) else {
            return Decision::ignore(format!(
                "{event} by {who} for itself: a user managing its own credentials, not persistence through another user"
            ));
        };
        if !valid_user_name(target) {
            return Decision::ignore(format!(
                "{event} by {who} names {target:?}, which is not a valid IAM user name"
            ));
        }
        let credential = credential_of(r, event);
        let verdict = approvals
            .creator_verdict(creator_arn.as_deref())
            .distrusting(doubt());
        let subject = Subject::Credential {
            user: target.to_string(),
            credential: credential.clone(),
        };
        if verdict.approved() {
            return Decision::respond(base(subject, verdict, Response::None, Severity::Info), []);
        }
        let user = target.to_string();
        let plan = match config.credential_mode {
            CredentialMode::Notify => vec![PlannedStep::skipped(
                Step::NoChange { user },
                crate::report::skip_reason(if settings.exempt {
                    SkipReason::AccountExempt
                } else {
                    SkipReason::CredentialNotifyMode
                }),
            )],
            CredentialMode::Deactivate => vec![revocation(user, &credential)],
        };
        let case = base(
            subject,
            verdict,
            Response::Credential(config.credential_mode),
            Severity::High,
        );
        Decision::Respond { case, plan }
    }
}

/// The one step that revokes the credential an event made: set it Inactive (access key, SSH
/// key, signing certificate, service-specific credential: the one the event names), or delete
/// the console password. Without the credential's id in the event, a skipped `NoChange` says
/// why.
fn revocation(user: String, credential: &Credential) -> PlannedStep<Step> {
    let missing = |reason| {
        PlannedStep::skipped(
            Step::NoChange { user: user.clone() },
            crate::report::skip_reason(reason),
        )
    };
    let step = match credential {
        Credential::AccessKey { key_id: Some(k) } => Step::DeactivateAccessKey {
            user: user.clone(),
            key_id: k.clone(),
        },
        Credential::AccessKey { key_id: None } => return missing(SkipReason::NoKeyId),
        Credential::LoginProfileCreated | Credential::LoginProfileUpdated => {
            Step::DeleteLoginProfile { user: user.clone() }
        }
        Credential::SshPublicKey { key_id: Some(k) } => Step::DeactivateSshPublicKey {
            user: user.clone(),
            key_id: k.clone(),
        },
        Credential::SshPublicKey { key_id: None } => return missing(SkipReason::NoSshKeyId),
        Credential::SigningCertificate {
            certificate_id: Some(c),
        } => Step::DeactivateSigningCertificate {
            user: user.clone(),
            certificate_id: c.clone(),
        },
        Credential::SigningCertificate {
            certificate_id: None,
        } => return missing(SkipReason::NoCertificateId),
        Credential::ServiceSpecificCredential {
            credential_id: Some(c),
            ..
        } => Step::DeactivateServiceSpecificCredential {
            user: user.clone(),
            credential_id: c.clone(),
        },
        Credential::ServiceSpecificCredential {
            credential_id: None,
            ..
        } => return missing(SkipReason::NoServiceCredentialId),
    };
    PlannedStep::new(step)
}

/// The steps of the response to an unapproved new user.
fn user_plan(
    config: &Config,
    user: &NewUser,
    account: &str,
    event_id: &str,
    exempt: bool,
) -> Vec<PlannedStep<Step>> {
    let u = || user.name.clone();
    let mut plan = vec![PlannedStep::new(Step::CaptureEvidence { user: u() })];
    if let Some(bucket) = &config.evidence_bucket {
        plan.push(PlannedStep::new(Step::PutEvidence {
            bucket: bucket.clone(),
            key: evidence_key(account, &user.name, event_id),
        }));
    }
    let steps = match config.mode {
        Mode::Delete => vec![
            Step::DeleteLoginProfile { user: u() },
            Step::DeleteAccessKeys { user: u() },
            Step::DeleteSigningCertificates { user: u() },
            Step::DeleteSshPublicKeys { user: u() },
            Step::DeleteServiceSpecificCredentials { user: u() },
            Step::DeactivateMfaDevices {
                user: u(),
                delete_virtual: true,
            },
            Step::DeleteUserPolicies { user: u() },
            Step::DetachUserPolicies { user: u() },
            Step::RemoveUserFromGroups { user: u() },
            Step::DeleteUser { user: u() },
        ],
        Mode::Quarantine => vec![
            Step::DenyAll {
                user: u(),
                policy_arn: format!("arn:{}:iam::aws:policy/AWSDenyAll", user.partition()),
            },
            Step::DeleteLoginProfile { user: u() },
            Step::DeactivateAccessKeys { user: u() },
            Step::DeactivateSshPublicKeys { user: u() },
            Step::DeactivateServiceSpecificCredentials { user: u() },
            Step::DeactivateSigningCertificates { user: u() },
            Step::DeactivateMfaDevices {
                user: u(),
                delete_virtual: false,
            },
            Step::TagUser { user: u() },
        ],
        Mode::Notify => {
            plan.push(PlannedStep::skipped(
                Step::NoChange { user: u() },
                crate::report::skip_reason(if exempt {
                    SkipReason::AccountExempt
                } else {
                    SkipReason::NotifyMode
                }),
            ));
            return plan;
        }
    };
    plan.extend(steps.into_iter().map(PlannedStep::new));
    plan
}

/// The approved creator to look up before deciding: an IAM user or role of the event's own
/// account whose match with `APPROVED_CREATOR_ARNS` is what approves the event (decided with
/// the facts gathered so far). A creator matched in another account is not looked up.
pub fn creator_to_check(config: &Config, payload: &Payload, facts: &Facts) -> Option<CreatorRef> {
    let Decision::Respond { case, .. } = UnapprovedUser::decide(config, payload, facts) else {
        return None;
    };
    if !case.approved() || !case.verdict.creator.matched() {
        return None;
    }
    let unique_id = case
        .record
        .user_identity
        .as_ref()
        .and_then(|u| match &case.creator {
            Principal::AssumedRole { .. } => u
                .session_context
                .as_ref()
                .and_then(|c| c.session_issuer.as_ref())
                .and_then(|i| i.principal_id.as_deref()),
            _ => u.principal_id.as_deref(),
        });
    CreatorRef::from_arn(case.creator_arn.as_deref()?, unique_id)
        .filter(|c| c.account == case.account)
}

/// True when deciding this payload needs the approval document: an event this function acts
/// on that the configured lists alone do not approve.
pub fn needs_document(config: &Config, payload: &Payload) -> bool {
    config.approval_document.is_some()
        && matches!(
            UnapprovedUser::decide(config, payload, &Facts::default()),
            Decision::Respond { ref case, .. } if !case.approved()
        )
}

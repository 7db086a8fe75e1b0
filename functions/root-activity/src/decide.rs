//! The pure decision: is this a person using the root user, what kind of use, and how urgent?
//!
//! Root usage follows CIS AWS Foundations 4.3: `userIdentity.type` is `Root`, and records with
//! `userIdentity.invokedBy` (an AWS service acting with the root's authority) or with `eventType`
//! `AwsServiceEvent` are AWS acting on the account, not a person, so they are not alerted on.
//!
//! Severity ([`Kind`] → [`Case::base_severity`]):
//! - successful console sign-in without MFA: critical (also when the outcome or `MFAUsed` is not
//!   recorded: we assume the worse);
//! - successful console sign-in with MFA: high;
//! - failed sign-in (console or any other sign-in event): medium;
//! - an action that hands out or weakens credentials ([`CredentialAction`]): critical, whether
//!   or not it succeeded (someone with the root session tried), and whatever the session;
//! - a call of a centralized-root task session (`sts:AssumeRoot`, see [`crate::centralized`]):
//!   high, reported as such (not as someone holding the root password);
//! - `sts:AssumeRoot` itself, in the calling account: high (medium when it failed: no session
//!   was issued);
//! - any other root API call or sign-in event: high.
//!
//! A source IP inside a known network (`KNOWN_SOURCE_CIDRS`) lowers the severity one step and the
//! alert says so ([`Reason::KnownSource`]); it never suppresses the alert.

use crate::centralized::{AssumeRootCall, TaskSession};
use crate::config::Config;
use crate::network::{match_source, SourceMatch};
use crate::RootActivity;
use serde::Serialize;
use serde_json::Value;
use trailwarden::event::{DETAIL_TYPE_SERVICE_EVENT, DETAIL_TYPE_SIGN_IN};
use trailwarden::respond::{DecidePayload, Decision, StepKind};
use trailwarden::{Payload, Principal, Record, Severity};

/// `eventSource` of console sign-in events.
pub const SIGNIN_SOURCE: &str = "signin.amazonaws.com";

/// root-activity changes nothing in the account: its plan has no steps, the response is the
/// alert. (An enum without variants: no value of it can exist.)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Step {}

impl StepKind for Step {
    fn name(&self) -> String {
        match *self {}
    }
    fn target(&self) -> String {
        match *self {}
    }
    fn changes(&self) -> bool {
        match *self {}
    }
}

/// What one root record is, typed. Wording is [`crate::report`]'s.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The kind of root use (decides the base severity).
    pub kind: Kind,
    /// The severity before a known source network lowered it.
    pub base_severity: Severity,
    /// The severity of the alert.
    pub severity: Severity,
    /// What the severity rests on, beyond the kind.
    pub reasons: Vec<Reason>,
    /// Whether the call or sign-in succeeded.
    pub outcome: CallOutcome,
    /// What the record says about MFA.
    pub mfa: Mfa,
    /// The access key the call was signed with, when recorded.
    pub credentials: Option<Credentials>,
    /// The source address against `KNOWN_SOURCE_CIDRS`.
    pub source: SourceMatch,
    /// Set when the caller is a root task session from `sts:AssumeRoot`.
    pub task_session: Option<TaskSession>,
    /// The account of the event: the record's, else the EventBridge envelope's.
    pub account: Option<String>,
    /// The region of the event: the record's, else the envelope's.
    pub region: Option<String>,
    /// The record itself (event context and evidence in the alert).
    pub record: Record,
}

/// The kind of root use a record shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// `ConsoleLogin` that succeeded, or whose outcome is not recorded (taken as a success).
    ConsoleSignIn,
    /// `ConsoleLogin` that failed.
    ConsoleSignInFailed,
    /// Another sign-in event (`PasswordRecoveryRequested`, `CheckMfa`, …).
    SignInEvent,
    /// Another sign-in event that failed.
    SignInEventFailed,
    /// A root API call (successful or not) that is none of the kinds below.
    ApiCall,
    /// An action that hands out or weakens credentials (an API call or a sign-in event),
    /// by any root session.
    CredentialChange(CredentialAction),
    /// Any other call of a root task session obtained with `sts:AssumeRoot`.
    CentralizedRootTask,
    /// `sts:AssumeRoot`: a principal obtained (or tried to obtain) a root task session in a
    /// member account.
    AssumeRoot(Box<AssumeRootCall>),
}

/// Root actions that hand out or weaken credentials (critical).
///
/// `UpdateAccessKey` and `UpdateSigningCertificate` count only when they set the status to
/// `Active` (or the status is not recorded); deactivating a key removes access. Adding an MFA
/// device (`CreateVirtualMFADevice`, `EnableMFADevice`) strengthens the root user and is an
/// ordinary (high) root call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CredentialAction {
    CreateAccessKey,
    UpdateAccessKey,
    UploadSigningCertificate,
    UpdateSigningCertificate,
    CreateLoginProfile,
    UpdateLoginProfile,
    ChangePassword,
    PasswordRecoveryCompleted,
    DeactivateMfaDevice,
    DeleteVirtualMfaDevice,
    GetFederationToken,
    GetSessionToken,
}

impl CredentialAction {
    pub const ALL: [CredentialAction; 12] = [
        CredentialAction::CreateAccessKey,
        CredentialAction::UpdateAccessKey,
        CredentialAction::UploadSigningCertificate,
        CredentialAction::UpdateSigningCertificate,
        CredentialAction::CreateLoginProfile,
        CredentialAction::UpdateLoginProfile,
        CredentialAction::ChangePassword,
        CredentialAction::PasswordRecoveryCompleted,
        CredentialAction::DeactivateMfaDevice,
        CredentialAction::DeleteVirtualMfaDevice,
        CredentialAction::GetFederationToken,
        CredentialAction::GetSessionToken,
    ];

    /// The CloudTrail `eventName`.
    pub fn event_name(self) -> &'static str {
        match self {
            CredentialAction::CreateAccessKey => "CreateAccessKey",
            CredentialAction::UpdateAccessKey => "UpdateAccessKey",
            CredentialAction::UploadSigningCertificate => "UploadSigningCertificate",
            CredentialAction::UpdateSigningCertificate => "UpdateSigningCertificate",
            CredentialAction::CreateLoginProfile => "CreateLoginProfile",
            CredentialAction::UpdateLoginProfile => "UpdateLoginProfile",
            CredentialAction::ChangePassword => "ChangePassword",
            CredentialAction::PasswordRecoveryCompleted => "PasswordRecoveryCompleted",
            CredentialAction::DeactivateMfaDevice => "DeactivateMFADevice",
            CredentialAction::DeleteVirtualMfaDevice => "DeleteVirtualMFADevice",
            CredentialAction::GetFederationToken => "GetFederationToken",
            CredentialAction::GetSessionToken => "GetSessionToken",
        }
    }

    /// The credential action a record is, if any.
    pub fn of(r: &Record) -> Option<CredentialAction> {
        let name = r.event_name();
        let action = Self::ALL.into_iter().find(|a| a.event_name() == name)?;
        if matches!(
            action,
            CredentialAction::UpdateAccessKey | CredentialAction::UpdateSigningCertificate
        ) {
            let status = r.request_str("status").map(str::trim);
            if status.is_some_and(|s| !s.eq_ignore_ascii_case("active")) {
                return None;
            }
        }
        Some(action)
    }
}

/// What, beyond its kind, a case's severity rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Reason {
    /// A console sign-in with the password alone.
    NoMfa,
    /// The sign-in record does not say whether MFA was used (taken as not).
    MfaNotRecorded,
    /// The sign-in record does not say whether it succeeded (taken as a success).
    OutcomeNotRecorded,
    /// The call or sign-in failed (recorded with an error).
    Failed,
    /// Signed with a long-term root access key: the root user should have none (CIS 1.4).
    LongTermRootKey,
    /// The caller is a root task session from `sts:AssumeRoot`, not the root password.
    CentralizedRootSession,
    /// The source address is in this `KNOWN_SOURCE_CIDRS` network: severity lowered one step.
    KnownSource(String),
}

/// Whether the call or sign-in succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CallOutcome {
    Succeeded,
    Failed {
        code: Option<String>,
        message: Option<String>,
    },
    /// A sign-in whose outcome is not recorded.
    NotRecorded,
}

impl CallOutcome {
    pub fn failed(&self) -> bool {
        matches!(self, CallOutcome::Failed { .. })
    }
}

/// What a record says about MFA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Mfa {
    /// `additionalEventData.MFAUsed` (`Yes`/`No`, `None` when not recorded).
    Recorded(Option<bool>),
    /// `sessionContext.attributes.mfaAuthenticated` of the session behind a call.
    Session(bool),
    /// The call was signed with a long-term access key (no session, no MFA).
    LongTermKey,
}

/// The access key a call was signed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credentials {
    pub access_key_id: String,
    pub kind: KeyKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KeyKind {
    /// `AKIA…`: a long-term access key.
    LongTerm,
    /// `ASIA…`: temporary (console session, session token, `AssumeRoot`).
    Temporary,
    /// Anything else.
    Other,
}

impl Case {
    /// True when a known source network lowered the severity.
    pub fn lowered(&self) -> bool {
        self.severity != self.base_severity
    }

    /// True for a root task session from `sts:AssumeRoot`.
    pub fn centralized(&self) -> bool {
        self.task_session.is_some()
    }
}

impl DecidePayload for RootActivity {
    type Config = Config;
    type Case = Case;
    type Step = Step;

    /// Decides what a payload calls for. Pure: no AWS calls, no clock, no environment.
    fn decide_payload(config: &Config, payload: &Payload) -> Decision<Case, Step> {
        let Some(record) = payload.record() else {
            return Decision::not_for(
                payload,
                "not a CloudTrail record (root-activity handles sign-in and API call events)",
            );
        };
        let (detail_type, envelope_account, envelope_region) = match payload {
            Payload::CloudTrail(e) => (
                Some(e.detail_type.as_str()),
                e.account.as_deref(),
                e.region.as_deref(),
            ),
            _ => (None, None, None),
        };
        if let Some(reason) = exclusion(record, detail_type) {
            return Decision::ignore(reason);
        }
        let sign_in =
            record.event_source() == SIGNIN_SOURCE || detail_type == Some(DETAIL_TYPE_SIGN_IN);
        let mut reasons = Vec::new();
        let task_session = if sign_in {
            None
        } else {
            TaskSession::of(record)
        };
        let (kind, outcome, mfa) = if let Some(call) = AssumeRootCall::of(record) {
            (
                Kind::AssumeRoot(Box::new(call)),
                api_outcome(record),
                session_mfa(record),
            )
        } else if sign_in && record.event_name() == "ConsoleLogin" {
            let outcome = sign_in_outcome(record);
            let mfa = mfa_used(record);
            let kind = if outcome.failed() {
                Kind::ConsoleSignInFailed
            } else {
                if outcome == CallOutcome::NotRecorded {
                    reasons.push(Reason::OutcomeNotRecorded);
                }
                match mfa {
                    Some(false) => reasons.push(Reason::NoMfa),
                    None => reasons.push(Reason::MfaNotRecorded),
                    Some(true) => {}
                }
                Kind::ConsoleSignIn
            };
            (kind, outcome, Mfa::Recorded(mfa))
        } else {
            let outcome = if sign_in {
                match sign_in_outcome(record) {
                    f @ CallOutcome::Failed { .. } => f,
                    _ => CallOutcome::Succeeded,
                }
            } else {
                api_outcome(record)
            };
            let kind = match CredentialAction::of(record) {
                Some(action) => Kind::CredentialChange(action),
                None if sign_in && outcome.failed() => Kind::SignInEventFailed,
                None if sign_in => Kind::SignInEvent,
                None if task_session.is_some() => Kind::CentralizedRootTask,
                None => Kind::ApiCall,
            };
            (kind, outcome, session_mfa(record))
        };
        if outcome.failed() {
            reasons.push(Reason::Failed);
        }
        let credentials = credentials(record);
        if credentials
            .as_ref()
            .is_some_and(|c| c.kind == KeyKind::LongTerm)
            && matches!(record.principal(), Principal::Root { .. })
        {
            reasons.push(Reason::LongTermRootKey);
        }
        if task_session.is_some() {
            reasons.push(Reason::CentralizedRootSession);
        }
        let base_severity = base_severity(&kind, &mfa, &outcome);
        let source = match_source(
            record.source_ip_address.as_deref(),
            &config.known_source_cidrs,
        );
        let severity = match &source {
            SourceMatch::Known { network, .. } => {
                reasons.push(Reason::KnownSource(network.to_string()));
                base_severity.lower()
            }
            _ => base_severity,
        };
        let case = Case {
            kind,
            base_severity,
            severity,
            reasons,
            outcome,
            mfa,
            credentials,
            source,
            task_session,
            account: record.account_id().or(envelope_account).map(str::to_string),
            region: record
                .aws_region
                .as_deref()
                .or(envelope_region)
                .map(str::to_string),
            record: record.clone(),
        };
        Decision::respond(case, [])
    }
}

/// The severity of a kind of root use, before known networks.
fn base_severity(kind: &Kind, mfa: &Mfa, outcome: &CallOutcome) -> Severity {
    match kind {
        Kind::ConsoleSignIn if *mfa == Mfa::Recorded(Some(true)) => Severity::High,
        Kind::ConsoleSignIn => Severity::Critical,
        Kind::ConsoleSignInFailed | Kind::SignInEventFailed => Severity::Medium,
        Kind::CredentialChange(_) => Severity::Critical,
        Kind::AssumeRoot(_) if outcome.failed() => Severity::Medium,
        Kind::SignInEvent | Kind::ApiCall | Kind::CentralizedRootTask | Kind::AssumeRoot(_) => {
            Severity::High
        }
    }
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
    // sts:AssumeRoot is made by a principal of the management account, never by root: it is
    // handled whoever the caller is.
    if AssumeRootCall::of(r).is_some() {
        return None;
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
/// error in the record means failure.
fn sign_in_outcome(r: &Record) -> CallOutcome {
    match r
        .response_element(r.event_name())
        .and_then(Value::as_str)
        .map(str::trim)
    {
        Some(s) if s.eq_ignore_ascii_case("success") => CallOutcome::Succeeded,
        Some(s) if s.eq_ignore_ascii_case("failure") => failure(r),
        _ if r.failed() || r.error_message.as_deref().is_some_and(|m| !m.is_empty()) => failure(r),
        _ => CallOutcome::NotRecorded,
    }
}

/// An API call's outcome: failed when `errorCode` is set.
fn api_outcome(r: &Record) -> CallOutcome {
    if r.failed() {
        failure(r)
    } else {
        CallOutcome::Succeeded
    }
}

fn failure(r: &Record) -> CallOutcome {
    let text = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    CallOutcome::Failed {
        code: text(&r.error_code),
        message: text(&r.error_message),
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

/// MFA of the session behind a call: the session's attribute, else a long-term key (no MFA),
/// else what `MFAUsed` says.
fn session_mfa(r: &Record) -> Mfa {
    let identity = r.user_identity.as_ref();
    match identity.and_then(|u| u.mfa_authenticated()) {
        Some(b) => Mfa::Session(b),
        None if credentials(r).is_some_and(|c| c.kind == KeyKind::LongTerm) => Mfa::LongTermKey,
        None => Mfa::Recorded(mfa_used(r)),
    }
}

/// `userIdentity.accessKeyId`, classified by its prefix.
fn credentials(r: &Record) -> Option<Credentials> {
    let key = r
        .user_identity
        .as_ref()?
        .access_key_id
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())?;
    let kind = if key.starts_with("AKIA") {
        KeyKind::LongTerm
    } else if key.starts_with("ASIA") {
        KeyKind::Temporary
    } else {
        KeyKind::Other
    };
    Some(Credentials {
        access_key_id: key.to_string(),
        kind,
    })
}

//! All wording: the alerts (who created which user or credential, from where, why it is or is
//! not approved, what was done and whether it worked) and the statistics.

use crate::approval::{Doubt, Match};
use crate::config::{Config, CredentialMode, Mode};
use crate::decide::{
    Case, Credential, DocumentState, NewUser, Response, SkipReason, Step, Subject,
};
use crate::evidence::Evidence;
use crate::execute::{Output, Whereabouts};
use crate::UnapprovedUser;
use serde::Serialize;
use trailwarden::respond::{actions, count, Plan, Report, Reporting, StepKind};
use trailwarden::{Alert, Principal, Severity, Status};

/// Detection id of the alerts about new users.
pub const DETECTION: &str = "iam-unapproved-user";
/// Detection id of the alerts about credentials made for another user.
pub const CREDENTIAL_DETECTION: &str = "iam-credential-for-other-user";
/// Detection id of the alert about an unusable approval document.
pub const DOCUMENT_DETECTION: &str = "iam-approval-document-unusable";

/// Evidence larger than this goes into the alert without policy documents.
pub const MAX_ALERT_EVIDENCE_BYTES: usize = 64 * 1024;

trailwarden::counters! {
    /// The function's counters.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
    pub struct UserStats {
        unapproved_users: u32 => "unapproved users",
        approved_users: u32 => "approved users",
        unapproved_credentials: u32 => "unapproved credentials for other users",
        approved_credentials: u32 => "approved credentials for other users",
        steps_done: u32 => "steps done",
        steps_failed: u32 => "steps failed",
        document_unusable: u32 => "approval document unusable",
    }
}

/// Why a step was decided against.
pub fn skip_reason(r: SkipReason) -> String {
    match r {
        SkipReason::NotifyMode => "RESPONSE_MODE=notify: the user is left in place".into(),
        SkipReason::AccountExempt => {
            "the account is exempt (ACCOUNT_SETTINGS_URI): alert only, nothing is changed".into()
        }
        SkipReason::CredentialNotifyMode => {
            "CREDENTIAL_RESPONSE_MODE=notify: the credential is left in place".into()
        }
        SkipReason::NoKeyId => {
            "the event does not name the new access key (responseElements.accessKey.accessKeyId): nothing can be deactivated".into()
        }
        SkipReason::NoSshKeyId => {
            "the event does not name the new SSH public key (responseElements.sSHPublicKey.sSHPublicKeyId): nothing can be deactivated".into()
        }
        SkipReason::NoCertificateId => {
            "the event does not name the new signing certificate (responseElements.certificate.certificateId): nothing can be deactivated".into()
        }
        SkipReason::NoServiceCredentialId => {
            "the event does not name the service-specific credential (responseElements.serviceSpecificCredential.serviceSpecificCredentialId): nothing can be deactivated".into()
        }
    }
}

/// How the creator is named: the principal, plus the role ARN it was matched by.
pub fn creator_label(p: &Principal) -> String {
    match p {
        Principal::AssumedRole {
            arn: Some(arn),
            role_arn: Some(role),
            ..
        }
        | Principal::IdentityCenterRole {
            arn: Some(arn),
            role_arn: Some(role),
            ..
        } => format!("{arn} (role {role})"),
        other => other.display(),
    }
}

fn name_and_path(case: &Case) -> (&str, &str) {
    match &case.subject {
        Subject::NewUser(u) => (u.name.as_str(), u.path.as_str()),
        Subject::Credential { user, .. } => (user.as_str(), ""),
    }
}

/// Why the event is or is not approved, in words (the alert's `Approval` fact, the stored
/// evidence and the log).
pub fn approval_text(case: &Case) -> String {
    let who = creator_label(&case.creator);
    let v = &case.verdict;
    let (name, path) = name_and_path(case);
    let mut parts = Vec::new();
    if v.approved() {
        if let Some(p) = v.name.entry() {
            parts.push(format!(
                "user name \"{name}\" matches approved user pattern \"{p}\""
            ));
        }
        if let Some(p) = v.path.entry() {
            parts.push(format!(
                "path \"{path}\" is under approved path prefix \"{p}\""
            ));
        }
        if let Some(p) = v.creator.entry() {
            parts.push(format!(
                "created by {who}, which matches approved creator pattern \"{p}\""
            ));
        }
        return parts.join("; ");
    }
    parts.push(match &v.creator {
        Match::NotConfigured => format!("created by {who}; no approved creators are configured"),
        Match::NoArn => {
            format!("created by {who}, which has no ARN to match against the approved creators")
        }
        Match::Distrusted { entry, doubt } => format!(
            "created by {who}, which matches approved creator pattern \"{entry}\" but {}",
            distrust_reason(doubt)
        ),
        _ => format!("created by {who}, which is not an approved creator"),
    });
    let without_creator =
        "which does not count without an approved creator (APPROVAL_REQUIRES_CREATOR=true)";
    match &v.name {
        Match::NotConfigured => parts.push("no approved user-name patterns are configured".into()),
        Match::Unmatched => parts.push(format!(
            "user name \"{name}\" matches no approved user pattern"
        )),
        Match::Matched(p) => parts.push(format!(
            "user name \"{name}\" matches approved user pattern \"{p}\", {without_creator}"
        )),
        Match::NoArn | Match::NotApplicable | Match::Distrusted { .. } => {}
    }
    match &v.path {
        Match::NotConfigured => parts.push("no approved path prefixes are configured".into()),
        Match::Unmatched => parts.push(format!("path \"{path}\" is under no approved path prefix")),
        Match::Matched(p) => parts.push(format!(
            "path \"{path}\" is under approved path prefix \"{p}\", {without_creator}"
        )),
        Match::NoArn | Match::NotApplicable | Match::Distrusted { .. } => {}
    }
    if v.requires_creator
        && v.creator.matched()
        && !v.name.matched()
        && !v.path.matched()
        && matches!(case.subject, Subject::NewUser(_))
    {
        parts.push(
            "APPROVAL_REQUIRES_CREATOR=true: an approved creator must also use an approved name or path"
                .into(),
        );
    }
    if let DocumentState::Unreadable { uri, .. } = &case.document {
        parts.push(format!(
            "the approval document {uri} could not be used, so only the configured lists were applied"
        ));
    }
    parts.join("; ")
}

/// The `trailwarden:reason` tag of a quarantined user.
pub fn quarantine_reason(case: &Case) -> String {
    format!(
        "unapproved user created by {}",
        case.creator_arn
            .clone()
            .unwrap_or_else(|| case.creator.display())
    )
}

impl Reporting for UnapprovedUser {
    type Output = Output;
    type Stats = UserStats;

    /// The alerts and statistics for a walked plan.
    fn report(
        config: &Config,
        case: &Case,
        plan: &Plan<Step>,
        output: Option<&Output>,
    ) -> Report<UserStats> {
        let mut stats = UserStats {
            steps_done: count(plan, Status::Done) as u32,
            steps_failed: count(plan, Status::Failed) as u32,
            ..Default::default()
        };
        let mut alerts = Vec::new();
        let walk = Walk {
            config,
            case,
            plan,
            output,
        };
        match &case.subject {
            Subject::NewUser(user) => {
                if case.approved() {
                    stats.approved_users = 1;
                    alerts.push(approved_user_alert(case, user));
                } else {
                    stats.unapproved_users = 1;
                    alerts.push(unapproved_user_alert(walk, user));
                }
            }
            Subject::Credential { user, credential } => {
                if case.approved() {
                    stats.approved_credentials = 1;
                } else {
                    stats.unapproved_credentials = 1;
                }
                alerts.push(credential_alert(walk, user, credential));
            }
        }
        if let DocumentState::Unreadable { uri, error } = &case.document {
            stats.document_unusable = 1;
            alerts.push(document_alert(config, case, uri, error));
        }
        // The event's account refused the responder role: said once, in its own alert.
        if let Some(e) = output
            .and_then(|o| o.unreachable.as_ref())
            .filter(|e| e.refused)
        {
            alerts.push(e.alert(crate::NAME, Some(&case.record)));
        }
        Report { alerts, stats }
    }

    /// Once `DeleteUser` succeeded (or found the user gone), an earlier removal that failed is
    /// moot: IAM deletes a user only when nothing of the kind is left. Such steps become
    /// `Skipped`, with the reason; a failure that outlives the user (a virtual MFA device) stays.
    fn settle(_case: &Case, plan: &mut Plan<Step>, output: &Output) {
        let deleted = plan.iter().any(|s| {
            matches!(s.step, Step::DeleteUser { .. })
                && matches!(s.status, Status::Done | Status::AlreadyDone)
        });
        if !deleted {
            return;
        }
        for s in plan.iter_mut() {
            let key = (s.step.name(), s.step.target());
            if s.status == Status::Failed
                && s.step.bound_to_user()
                && !output.lasting.contains(&key)
            {
                s.status = Status::Skipped;
                let why = s.detail.take().unwrap_or_default();
                s.detail = Some(format!(
                    "not done ({why}); moot: DeleteUser succeeded, and IAM deletes a user only when nothing of this kind is left"
                ));
            }
        }
    }
}

fn references(a: Alert) -> Alert {
    let mut a = a;
    a.references = vec![
        "MITRE ATT&CK T1136.003 Create Account: Cloud Account: https://attack.mitre.org/techniques/T1136/003/".into(),
        "Deleting an IAM user: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_users_remove.html".into(),
    ];
    a
}

fn where_from(case: &Case) -> String {
    let r = &case.record;
    let mut s = String::new();
    if let Some(ip) = &r.source_ip_address {
        s.push_str(&format!(" from {ip}"));
    }
    if let Some(t) = &r.event_time {
        s.push_str(&format!(" at {t}"));
    }
    s
}

fn user_facts(mut a: Alert, case: &Case, user: &NewUser) -> Alert {
    a = a
        .fact("User", &user.name)
        .fact("User ARN", user.arn.as_deref().unwrap_or("unknown"))
        .fact("Path", &user.path);
    if let Some(id) = &user.user_id {
        a = a.fact("User ID", id);
    }
    if let Some(d) = &user.create_date {
        a = a.fact("Created (as logged)", d);
    }
    a = a
        .fact("Created by", creator_label(&case.creator))
        .fact("Creator type", case.creator.kind());
    if let Some(arn) = &case.creator_arn {
        a = a.fact("Creator matched as", arn);
    }
    a
}

/// Which entries of `ACCOUNT_SETTINGS_URI` applied; nothing when the deployment's own did.
/// What the decision rested on besides the lists: an approved creator that could not be
/// checked, and the account's own settings.
fn context_facts(a: Alert, case: &Case) -> Alert {
    let a = match &case.creator_unchecked {
        Some(e) => a.fact(
            "Approved creator",
            format!(
                "could not be looked up in IAM ({e}): its age and unique id were not checked, \
                 so the approval stands"
            ),
        ),
        None => a,
    };
    if case.settings.source == trailwarden::estate::DEPLOYMENT_SETTINGS {
        return a;
    }
    a.fact("Settings", &case.settings.source)
}

fn document_fact(a: Alert, case: &Case) -> Alert {
    let a = context_facts(a, case);
    match &case.document {
        DocumentState::NotConfigured | DocumentState::Merged { .. } => a,
        DocumentState::NotConsulted { uri } => a.fact(
            "Approval document",
            format!("{uri} was not consulted by this offline plan"),
        ),
        DocumentState::Unreadable { uri, error } => a.fact(
            "Approval document",
            format!("{uri} could not be used ({error}): decided without it"),
        ),
    }
}

const NAME_PATH_TRUST: &str = "A user-name or path approval trusts whoever called CreateUser, since the caller chooses both; APPROVAL_REQUIRES_CREATOR=true also requires an approved creator.";

fn approved_user_alert(case: &Case, user: &NewUser) -> Alert {
    let who = creator_label(&case.creator);
    let mut a = Alert::new(
        case.severity,
        DETECTION,
        format!("Approved IAM user {} created", user.name),
    )
    .about(&case.record);
    let mut summary = format!(
        "IAM user {} ({}) was created by {who}{}. It is approved: {}. Nothing was changed.",
        user.name,
        user.arn.as_deref().unwrap_or("ARN not in the event"),
        where_from(case),
        approval_text(case)
    );
    if !case.verdict.creator.matched() {
        summary.push(' ');
        summary.push_str(NAME_PATH_TRUST);
    }
    a.summary = summary;
    a = user_facts(a, case, user);
    a = a.fact("Approval", format!("approved: {}", approval_text(case)));
    a = context_facts(a, case);
    references(a)
}

/// What the wording of a response reads: the settings, the case, the walked plan and what
/// execution learnt (`None` in an offline plan).
#[derive(Clone, Copy)]
struct Walk<'a> {
    config: &'a Config,
    case: &'a Case,
    plan: &'a Plan<Step>,
    output: Option<&'a Output>,
}

impl Walk<'_> {
    /// True when nothing was (or would be) changed: a dry run or an offline plan.
    fn dry(&self) -> bool {
        self.config.common.dry_run || self.output.is_none()
    }

    /// The steps that failed, as `Name target`.
    fn failures(&self) -> Vec<String> {
        self.plan
            .iter()
            .filter(|s| s.status == Status::Failed)
            .map(|s| {
                use trailwarden::respond::StepKind;
                format!("{} {}", s.step.name(), s.step.target())
            })
            .collect()
    }

    /// The response mode to a new user (`Notify` when there is none).
    fn user_mode(&self) -> Mode {
        match self.case.response {
            Response::User(m) => m,
            _ => Mode::Notify,
        }
    }
}

fn renamed_to(output: Option<&Output>) -> Option<&str> {
    match output.map(|o| &o.whereabouts) {
        Some(Whereabouts::Found {
            current_name,
            renamed_from: Some(_),
        }) => Some(current_name),
        _ => None,
    }
}

fn user_title(walk: Walk, user: &NewUser) -> String {
    let mode = walk.user_mode();
    let u = match renamed_to(walk.output) {
        Some(now) => format!("{} (renamed to {now})", user.name),
        None => user.name.clone(),
    };
    if walk.dry() {
        return match mode {
            Mode::Delete => format!("Unapproved IAM user {u} would be deleted"),
            Mode::Quarantine => format!("Unapproved IAM user {u} would be quarantined"),
            Mode::Notify => format!("Unapproved IAM user {u} created"),
        };
    }
    let Some(output) = walk.output else {
        return format!("Unapproved IAM user {u} created");
    };
    match &output.whereabouts {
        Whereabouts::Gone { .. } => format!("Unapproved IAM user {u} already gone"),
        Whereabouts::Replaced { .. } => {
            format!("Unapproved IAM user {u} already gone (name reused)")
        }
        Whereabouts::LookupFailed(_) => {
            format!("Unapproved IAM user {u} could not be inspected; nothing changed")
        }
        Whereabouts::Vanished { .. } => {
            format!("Unapproved IAM user {u} vanished mid-response: not confirmed removed")
        }
        Whereabouts::Found { .. } | Whereabouts::NotLookedUp => {
            let failed = !walk.failures().is_empty();
            match (mode, failed) {
                (Mode::Delete, false) => format!("Unapproved IAM user {u} deleted"),
                (Mode::Delete, true) => format!("Unapproved IAM user {u}: deletion incomplete"),
                (Mode::Quarantine, false) => format!("Unapproved IAM user {u} quarantined"),
                (Mode::Quarantine, true) => {
                    format!("Unapproved IAM user {u}: quarantine incomplete")
                }
                (Mode::Notify, _) => format!("Unapproved IAM user {u} created"),
            }
        }
    }
}

fn result_sentence(walk: Walk, user: &NewUser) -> String {
    let mode = walk.user_mode();
    if walk.dry() {
        return format!(
            "DRY_RUN is set: nothing was changed. The response RESPONSE_MODE={} would take is listed below.",
            mode.as_str()
        );
    }
    let Some(output) = walk.output else {
        return String::new();
    };
    let failed = walk.failures();
    let retry = "The invocation fails so that Lambda retries; every step is idempotent.";
    let rename = match &output.whereabouts {
        Whereabouts::Found {
            current_name,
            renamed_from: Some(old),
        } => format!(
            "It was renamed from {old} to {current_name} after it was created (found by its unique id); the response acted on {current_name}. "
        ),
        _ => String::new(),
    };
    let body = match &output.whereabouts {
        _ if output.unreachable.is_some() => {
            let e = output.unreachable.as_ref().expect("checked");
            if e.refused {
                format!(
                    "trailwarden could not act in account {}: STS refused its responder role {} ({}). Nothing was captured or changed there, and the event is not retried: the role would be refused again (see the {} alert). Respond by hand.",
                    e.account,
                    e.role_arn,
                    e.message,
                    trailwarden::aws::accounts::DETECTION
                )
            } else {
                format!(
                    "trailwarden could not act in account {}: assuming {} failed ({}), so nothing was captured or changed there. {retry}",
                    e.account, e.role_arn, e.message
                )
            }
        }
        Whereabouts::Gone { waited } => format!(
            "The user no longer exists (IAM answered NoSuchEntity for {:.1} s and no user has its id): nothing is left to do. An earlier delivery of this event may have removed it.",
            waited.as_secs_f64()
        ),
        Whereabouts::Replaced { current_id } => format!(
            "A user named {} exists, but its id is {current_id}, not {} as created by this event, and no user has that id: it was deleted and the name re-used since, so it is left untouched.",
            user.name,
            user.user_id.as_deref().unwrap_or("(unknown)")
        ),
        Whereabouts::LookupFailed(e) => format!(
            "Looking the user up failed ({e}), so no evidence could be captured and nothing was changed. {retry}"
        ),
        Whereabouts::Vanished { name, user_id } => format!(
            "Its state was captured, but before the response was complete the user could be found neither as {name} nor by its unique id {user_id}: someone deleted it, or renamed it and IAM did not list it yet. The remaining steps were not carried out. {retry} A retry finds the user under its new name and finishes the response, or confirms it is gone."
        ),
        _ if !failed.is_empty() => format!(
            "{} step(s) failed: {}. {retry}",
            failed.len(),
            failed.join(", ")
        ),
        _ => match mode {
            Mode::Delete => "Its state was captured as evidence, everything attached to it was removed and the user was deleted.".into(),
            Mode::Quarantine => "Its state was captured as evidence, then it was quarantined: every action denied (AWSDenyAll, or an inline deny-all policy when the user already had the most managed policies allowed), console password deleted, access keys, SSH keys, service-specific credentials and signing certificates set Inactive, MFA devices deactivated, tagged trailwarden:quarantined. To release it, remove the deny-all policy, reactivate what it needs and remove the trailwarden:* tags.".into(),
            Mode::Notify => "RESPONSE_MODE=notify: its state was captured as evidence and the user was left in place.".into(),
        },
    };
    format!("{rename}{body}")
}

fn unapproved_user_alert(walk: Walk, user: &NewUser) -> Alert {
    let Walk {
        config,
        case,
        plan,
        output,
    } = walk;
    let evidence = output.and_then(|o| o.evidence.as_ref());
    let credentials = evidence.map(Evidence::credentials).unwrap_or_default();
    let admin = evidence.map(Evidence::admin_grants).unwrap_or_default();
    let severity = if credentials.is_empty() && admin.is_empty() {
        case.severity
    } else {
        Severity::Critical
    };
    let mut a = Alert::new(severity, DETECTION, user_title(walk, user)).about(&case.record);
    let who = creator_label(&case.creator);
    let mut summary = format!(
        "IAM user {} ({}) was created by {who}{}. It is not approved: {}. {}",
        user.name,
        user.arn.as_deref().unwrap_or("ARN not in the event"),
        where_from(case),
        approval_text(case),
        result_sentence(walk, user)
    );
    if !credentials.is_empty() || !admin.is_empty() {
        summary.push_str(
            " Severity is critical: the user already held credentials or administrator-level access before the response.",
        );
    }
    a.summary = summary;
    a = user_facts(a, case, user);
    if let Some(now) = renamed_to(output) {
        a = a.fact("Renamed to", now);
    }
    a = a.fact("Approval", format!("not approved: {}", approval_text(case)));
    a = document_fact(a, case);
    let mode = match case.response {
        Response::User(m) => m.as_str(),
        _ => "none",
    };
    a = a.fact(
        "Response mode",
        if walk.dry() {
            format!("{mode} (dry run: nothing changed)")
        } else {
            mode.to_string()
        },
    );
    if let Some(e) = evidence {
        a = a.fact(
            "Credentials before response",
            if credentials.is_empty() {
                "none".to_string()
            } else {
                credentials.join("; ")
            },
        );
        a = a.fact(
            "Administrator-level access before response",
            if admin.is_empty() {
                "none found".to_string()
            } else {
                admin.join("; ")
            },
        );
        if !e.gaps.is_empty() {
            a = a.fact(
                "Evidence gaps",
                e.gaps
                    .iter()
                    .map(|g| format!("{}: {}", g.what, g.error))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
    }
    if let Some(o) = output {
        a = a.fact(
            "Evidence stored",
            match (&o.evidence_uri, &config.evidence_bucket) {
                (Some(uri), _) => uri.clone(),
                (None, Some(_)) if config.common.dry_run => {
                    "no (dry run): see PutEvidence below".into()
                }
                (None, Some(_)) if evidence.is_some() => "no: see PutEvidence below".into(),
                (None, Some(_)) => "no: nothing was captured".into(),
                (None, None) => {
                    "no (EVIDENCE_BUCKET is not set): the evidence is in this alert only".into()
                }
            },
        );
        a.evidence =
            evidence.map(|e| e.for_alert(MAX_ALERT_EVIDENCE_BYTES, o.evidence_uri.as_deref()));
    }
    a.actions = actions(plan);
    references(a)
}

/// The call and what it gave the user, in words.
fn credential_words(c: &Credential) -> (&'static str, &'static str) {
    match c {
        Credential::AccessKey { .. } => ("CreateAccessKey", "an access key"),
        Credential::LoginProfileCreated => ("CreateLoginProfile", "a console password"),
        Credential::LoginProfileUpdated => ("UpdateLoginProfile", "a new console password"),
        Credential::SshPublicKey { .. } => ("UploadSSHPublicKey", "an SSH public key"),
        Credential::SigningCertificate { .. } => {
            ("UploadSigningCertificate", "a signing certificate")
        }
        Credential::ServiceSpecificCredential { reset: false, .. } => (
            "CreateServiceSpecificCredential",
            "a service-specific credential",
        ),
        Credential::ServiceSpecificCredential { reset: true, .. } => (
            "ResetServiceSpecificCredential",
            "a new service-specific password",
        ),
    }
}

/// The credential's id (and service) for the summary, ` (key AKIA…)`; empty when the event
/// does not name it.
fn credential_ref(c: &Credential) -> String {
    match c {
        Credential::AccessKey { key_id: Some(k) } => format!(" (key {k})"),
        Credential::SshPublicKey { key_id: Some(k) } => format!(" (SSH key {k})"),
        Credential::SigningCertificate {
            certificate_id: Some(id),
        } => format!(" (certificate {id})"),
        Credential::ServiceSpecificCredential {
            credential_id,
            service_name,
            ..
        } => match (credential_id, service_name) {
            (Some(id), Some(s)) => format!(" (credential {id} for {s})"),
            (Some(id), None) => format!(" (credential {id})"),
            (None, Some(s)) => format!(" (for {s})"),
            (None, None) => String::new(),
        },
        _ => String::new(),
    }
}

/// The credential's facts: its id under its kind's name, and the service it is for.
fn credential_facts(a: Alert, c: &Credential) -> Alert {
    match c {
        Credential::AccessKey { key_id: Some(k) } => a.fact("Access key", k),
        Credential::SshPublicKey { key_id: Some(k) } => a.fact("SSH public key", k),
        Credential::SigningCertificate {
            certificate_id: Some(id),
        } => a.fact("Signing certificate", id),
        Credential::ServiceSpecificCredential {
            credential_id,
            service_name,
            ..
        } => {
            let a = match credential_id {
                Some(id) => a.fact("Service-specific credential", id),
                None => a,
            };
            match service_name {
                Some(s) => a.fact("Service", s),
                None => a,
            }
        }
        _ => a,
    }
}

fn credential_alert(walk: Walk, user: &str, credential: &Credential) -> Alert {
    let Walk { case, plan, .. } = walk;
    let who = creator_label(&case.creator);
    let (call, what) = credential_words(credential);
    let approved = case.approved();
    let title = if approved {
        format!("Approved principal gave IAM user {user} {what}")
    } else {
        let failed = !walk.failures().is_empty();
        let acted = plan.iter().any(|s| s.status == Status::Done);
        match (case.response, walk.dry(), failed, acted) {
            (Response::Credential(CredentialMode::Deactivate), true, _, _) => {
                format!("Unapproved principal gave IAM user {user} {what}: would be revoked")
            }
            (_, _, true, _) => {
                format!("Unapproved principal gave IAM user {user} {what}: revocation failed")
            }
            (_, _, _, true) => {
                format!("Unapproved principal gave IAM user {user} {what}: revoked")
            }
            _ => format!("Unapproved principal gave IAM user {user} {what}"),
        }
    };
    let mut a = Alert::new(case.severity, CREDENTIAL_DETECTION, title).about(&case.record);
    let key = credential_ref(credential);
    let verdict = approval_text(case);
    a.summary = if approved {
        format!(
            "{who} called {call} for IAM user {user}{key}{}. The caller is approved: {verdict}. Nothing was changed.",
            where_from(case)
        )
    } else {
        let failed = walk.failures();
        let response = match case.response {
            Response::Credential(CredentialMode::Deactivate) if walk.dry() => {
                "DRY_RUN is set: nothing was changed; the step that would revoke it is listed below.".to_string()
            }
            Response::Credential(CredentialMode::Deactivate) if !failed.is_empty() => format!(
                "CREDENTIAL_RESPONSE_MODE=deactivate, but revoking it failed ({}): the credential may still work. The invocation fails so that Lambda retries; if the user was renamed since, revoke the credential under its new name by hand.",
                failed.join(", ")
            ),
            Response::Credential(CredentialMode::Deactivate) => {
                "CREDENTIAL_RESPONSE_MODE=deactivate: the new credential is revoked (the step below says whether that worked).".to_string()
            }
            _ => "CREDENTIAL_RESPONSE_MODE=notify: nothing was changed. Check with the user's owner; revoke the credential if nobody expected it.".to_string(),
        };
        format!(
            "{who} called {call} for IAM user {user}{key}{}, another user than the caller: a way to keep access through an existing user without creating one. The caller is not approved: {verdict}. {response}",
            where_from(case)
        )
    };
    a = a
        .fact("User", user)
        .fact("Credential", what)
        .fact("Call", call)
        .fact("Made by", &who)
        .fact("Caller type", case.creator.kind());
    a = credential_facts(a, credential);
    a = a.fact(
        "Approval",
        format!(
            "{}: {verdict}",
            if approved { "approved" } else { "not approved" }
        ),
    );
    a = document_fact(a, case);
    if let Response::Credential(m) = case.response {
        a = a.fact("Response mode", m.as_str());
    }
    a.actions = actions(plan);
    a.references = vec![
        "MITRE ATT&CK T1098.001 Account Manipulation: Additional Cloud Credentials: https://attack.mitre.org/techniques/T1098/001/".into(),
    ];
    a
}

fn document_alert(config: &Config, case: &Case, uri: &str, error: &str) -> Alert {
    let mut a = Alert::new(
        Severity::High,
        DOCUMENT_DETECTION,
        format!("Approval document unusable: {uri}"),
    )
    .about(&case.record);
    let response = match case.response {
        Response::User(m) => format!("RESPONSE_MODE={}", m.as_str()),
        Response::Credential(m) => format!("CREDENTIAL_RESPONSE_MODE={}", m.as_str()),
        Response::None => "no response (the configured lists approve it)".into(),
    };
    a.summary = format!(
        "The approval document {uri} (APPROVAL_DOCUMENT_URI) could not be used: {error}. Events are decided without it, by the lists configured in the environment alone: approvals it holds do not count until it is fixed (fail closed). {} about IAM user {} was answered with {response}. Fix the document, or APPROVAL_DOCUMENT_URI and the function's s3:GetObject permission.",
        case.record.event_name(),
        case.subject.user_name(),
    );
    a = a
        .fact("Document", uri)
        .fact("Error", error)
        .fact("Event", case.record.event_name())
        .fact("User", case.subject.user_name());
    a.account_alias = config.common.account_alias.clone();
    a
}

/// Why a creator matching an approved pattern does not approve ([`Doubt`]).
fn distrust_reason(doubt: &Doubt) -> String {
    match doubt {
        Doubt::TooNew {
            seconds,
            min_minutes,
        } => format!(
            "was itself created {} before this event (an approving creator must be at least \
             {min_minutes} minutes old, APPROVED_CREATOR_MIN_AGE_MINUTES): a user under an \
             approved path or a role of an approved name made by anyone who may create one",
            age(*seconds)
        ),
        Doubt::Gone => "no longer exists under that name as the principal the event names \
                        (deleted, or replaced by another user or role of that name)"
            .into(),
    }
}

/// `42 seconds`, `3 minutes`, `2 hours`.
fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} seconds"),
        s if s < 7200 => format!("{} minutes", s / 60),
        s => format!("{} hours", s / 3600),
    }
}

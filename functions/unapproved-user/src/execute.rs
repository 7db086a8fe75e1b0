//! The SDK side: the read-only look-up before deciding (the approval document) and each step
//! of the plan, through IAM and S3.

use crate::approval::{load_document, Approvals};
use crate::approval::{CreatorFact, CreatorKind, CreatorRef};
use crate::decide::{creator_to_check, needs_document, Case, Facts, Step, Subject};
use crate::evidence::{self, Evidence, Located};
use crate::remediate::{self, StepOutcome};
use crate::{Config, UnapprovedUser};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use trailwarden::aws::{AccountError, Accounts, CallError};
use trailwarden::respond::{InitError, Job, Responder, StepError, StepResult};
use trailwarden::{Payload, Status};
use trailwarden_state::Handoff;

/// Where the user was found when the response ran.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Whereabouts {
    /// Not looked up (no capture step ran).
    #[default]
    NotLookedUp,
    /// Found; `renamed_from` is the event's name when the user now has another.
    Found {
        current_name: String,
        renamed_from: Option<String>,
    },
    /// `NoSuchEntity` throughout the retry window, and no user with its id.
    Gone { waited: Duration },
    /// The name now belongs to another user (`current_id`); the event's user is gone.
    Replaced { current_id: String },
    /// Found and captured, then lost before a later step: neither its name (`name`) nor its
    /// unique id answered. Deleted by someone else, or renamed and not listed by IAM yet: not
    /// known to be deleted, so the plan stops with a failure and Lambda retries.
    Vanished { name: String, user_id: String },
    /// The look-up failed: nothing was captured or changed.
    LookupFailed(String),
}

/// What executing the plan learnt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    pub whereabouts: Whereabouts,
    pub evidence: Option<Evidence>,
    /// Where the evidence object is (written now or by an earlier delivery).
    pub evidence_uri: Option<String>,
    /// Items that failed so far (`DeleteUserPolicy everything`), for `DeleteUser`'s report.
    pub failures: Vec<String>,
    /// Steps (name and target) whose failure the user's deletion does not make moot.
    pub lasting: BTreeSet<(String, String)>,
    /// The event's account could not be acted in: its responder role could not be assumed.
    pub unreachable: Option<AccountError>,
}

impl Output {
    /// The name to act on: the user's current name when it was found, else the event's.
    fn name<'a>(&'a self, event_name: &'a str) -> &'a str {
        match &self.whereabouts {
            Whereabouts::Found { current_name, .. } => current_name,
            _ => event_name,
        }
    }
}

impl Responder for UnapprovedUser {
    const NAME: &'static str = crate::NAME;

    /// Builds the state, with the account settings document in S3 (`s3://` setting) read.
    async fn init(sdk: &aws_config::SdkConfig, config: &mut Config) -> Result<Self, InitError> {
        let accounts = Arc::new(Accounts::new(
            sdk,
            config.member_access.clone(),
            crate::NAME,
        ));
        let s3 = trailwarden::aws::s3_client(sdk);
        config
            .account_settings
            .load_s3(&s3, crate::approval::check_creator_arn)
            .await?;
        Ok(
            UnapprovedUser::with_clients(aws_sdk_iam::Client::new(sdk), s3)
                .with_accounts(accounts)
                .with_handoff(Handoff::from_settings(crate::NAME, sdk, &config.state)),
        )
    }

    /// Reads the approval document when the configured lists alone do not approve the event,
    /// then, when the approval rests on the creator, looks the creator up in IAM. An
    /// unreadable document is a fact, not an error: the decision fails closed without it.
    async fn gather(&self, config: &Config, payload: &Payload) -> Result<Facts, StepError> {
        let mut facts = Facts::default();
        if needs_document(config, payload) {
            facts.document = Some(match self.document(config).await {
                Ok(a) => Ok(a.clone()),
                Err(e) => {
                    tracing::error!(error = %e, "approval document unusable: deciding without it");
                    Err(e)
                }
            });
        }
        // An approval that rests on the creator: is the creator older than a moment, and is
        // it still the principal the event names? Read failures leave the approval standing
        // (logged, and said in the alert): they are not evidence against the creator.
        if let Some(creator) = creator_to_check(config, payload, &facts) {
            facts.creator = Some(match self.creator_fact(&creator).await {
                Ok(fact) => fact,
                Err(e) => {
                    tracing::warn!(
                        creator = %creator.name,
                        error = %e,
                        "approved creator could not be looked up: its age is not checked"
                    );
                    CreatorFact::Unchecked(e)
                }
            });
        }
        Ok(facts)
    }

    async fn execute_step(&self, step: &Step, job: Job<'_, Self>) -> StepResult {
        let (config, case, output) = (job.config, job.case, job.output);
        // Every step but writing evidence (to the tooling account's bucket) acts in IAM of the
        // event's own account.
        let in_account = !matches!(step, Step::PutEvidence { .. } | Step::NoChange { .. });
        let iam = if in_account {
            match self.iam_in(&case.account).await {
                Ok(c) => c,
                Err(e) => return unreachable(e, output),
            }
        } else {
            self.iam.clone()
        };
        let iam = &iam;
        let event_name = case.subject.user_name().to_string();
        if let Err(stop) = still_the_same_user(iam, step, &event_name, output).await {
            return stop;
        }
        let name = output.name(&event_name).to_string();
        let name = name.as_str();
        let outcome: StepOutcome = match step {
            Step::CaptureEvidence { .. } => return self.capture(config, iam, case, output).await,
            Step::PutEvidence { bucket, key } => {
                let Some(ev) = &output.evidence else {
                    return StepResult::status(Status::Skipped, "nothing was captured");
                };
                let mut stored = ev.clone();
                stored.event = serde_json::to_value(&case.record).ok();
                stored.approval = Some(crate::report::approval_text(case));
                let body = serde_json::to_vec_pretty(&stored).unwrap_or_default();
                let r = remediate::put_evidence(&self.s3, bucket, key, body).await;
                if r.status != Status::Failed {
                    output.evidence_uri = Some(format!("s3://{bucket}/{key}"));
                }
                return r;
            }
            Step::DeleteLoginProfile { .. } => remediate::delete_login_profile(iam, name).await,
            Step::DeleteAccessKeys { .. } => remediate::delete_access_keys(iam, name).await,
            Step::DeleteSigningCertificates { .. } => {
                remediate::delete_signing_certificates(iam, name).await
            }
            Step::DeleteSshPublicKeys { .. } => remediate::delete_ssh_public_keys(iam, name).await,
            Step::DeleteServiceSpecificCredentials { .. } => {
                remediate::delete_service_specific_credentials(iam, name).await
            }
            Step::DeactivateMfaDevices { delete_virtual, .. } => {
                remediate::deactivate_mfa_devices(iam, name, *delete_virtual).await
            }
            Step::DeleteUserPolicies { .. } => remediate::delete_user_policies(iam, name).await,
            Step::DetachUserPolicies { .. } => remediate::detach_user_policies(iam, name).await,
            Step::RemoveUserFromGroups { .. } => {
                remediate::remove_user_from_groups(iam, name).await
            }
            Step::DeleteUser { .. } => {
                let id = output.evidence.as_ref().map(|e| e.user.user_id.clone());
                remediate::delete_user(
                    iam,
                    name,
                    id.as_deref(),
                    config.not_found_retry,
                    &output.failures,
                )
                .await
            }
            Step::DenyAll { policy_arn, .. } => {
                remediate::deny_all(iam, name, policy_arn, output.evidence.as_ref()).await
            }
            Step::DeactivateAccessKeys { .. } => remediate::deactivate_access_keys(iam, name).await,
            Step::DeactivateSshPublicKeys { .. } => {
                remediate::deactivate_ssh_public_keys(iam, name).await
            }
            Step::DeactivateServiceSpecificCredentials { .. } => {
                remediate::deactivate_service_specific_credentials(iam, name).await
            }
            Step::DeactivateSigningCertificates { .. } => {
                remediate::deactivate_signing_certificates(iam, name).await
            }
            Step::TagUser { .. } => {
                let tags = vec![
                    (
                        remediate::TAG_QUARANTINED.to_string(),
                        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    ),
                    (
                        remediate::TAG_REASON.to_string(),
                        crate::report::quarantine_reason(case),
                    ),
                    (remediate::TAG_EVENT.to_string(), case.event_id.clone()),
                ];
                remediate::tag_user(iam, name, &tags, output.evidence.as_ref()).await
            }
            Step::NoChange { .. } => {
                return StepResult::status(Status::Skipped, "nothing to change")
            }
            Step::DeactivateAccessKey { key_id, .. } => {
                remediate::deactivate_access_key(iam, name, key_id).await
            }
            Step::DeactivateSshPublicKey { key_id, .. } => {
                remediate::deactivate_ssh_public_key(iam, name, key_id).await
            }
            Step::DeactivateSigningCertificate { certificate_id, .. } => {
                remediate::deactivate_signing_certificate(iam, name, certificate_id).await
            }
            Step::DeactivateServiceSpecificCredential { credential_id, .. } => {
                remediate::deactivate_service_specific_credential(iam, name, credential_id).await
            }
        };
        output.failures.extend(outcome.failures);
        if outcome.lasting {
            output.lasting.insert((
                trailwarden::respond::StepKind::name(step),
                trailwarden::respond::StepKind::target(step),
            ));
        }
        outcome.result
    }

    // Once the alert is out: records the hand-off, so the log scan does not alert again.
    trailwarden_state::handoff_after_publish!();
}

impl UnapprovedUser {
    /// When IAM says the approved creator was created, or that it is gone (missing, or its
    /// name held by another user or role than the event's unique id).
    async fn creator_fact(&self, creator: &CreatorRef) -> Result<CreatorFact, String> {
        let iam = self
            .iam_in(&creator.account)
            .await
            .map_err(|e| e.to_string())?;
        let found = match creator.kind {
            CreatorKind::User => iam
                .get_user()
                .user_name(&creator.name)
                .send()
                .await
                .map(|o| o.user.map(|u| (u.user_id, u.create_date)))
                .map_err(|e| CallError::from_sdk(&e)),
            CreatorKind::Role => iam
                .get_role()
                .role_name(&creator.name)
                .send()
                .await
                .map(|o| o.role.map(|r| (r.role_id, r.create_date)))
                .map_err(|e| CallError::from_sdk(&e)),
        };
        let (id, created) = match found {
            Ok(Some(found)) => found,
            Ok(None) => return Err("IAM answered without the user or role".into()),
            Err(e) if e.no_such_entity() => return Ok(CreatorFact::Gone),
            Err(e) => return Err(e.to_string()),
        };
        if creator.unique_id.as_deref().is_some_and(|u| u != id) {
            return Ok(CreatorFact::Gone);
        }
        chrono::DateTime::from_timestamp(created.secs(), created.subsec_nanos())
            .map(CreatorFact::Created)
            .ok_or_else(|| "IAM gave a creation date out of range".into())
    }

    /// The approval document, read once per cold start (a failed read is tried again on the
    /// next event).
    pub(crate) async fn document(
        &self,
        config: &Config,
    ) -> Result<&Approvals, crate::approval::ApprovalError> {
        let Some(uri) = &config.approval_document else {
            return Ok(&self.empty);
        };
        self.document
            .get_or_try_init(|| async {
                let doc = load_document(&self.s3, uri).await?;
                tracing::info!(
                    %uri,
                    user_patterns = doc.user_patterns.len(),
                    path_prefixes = doc.path_prefixes.len(),
                    creator_arns = doc.creator_arns.len(),
                    "approval document loaded"
                );
                Ok(doc)
            })
            .await
    }

    /// Finds the user (following a rename by its unique id) and captures its state. Stops the
    /// plan when the user is gone, replaced, or cannot be read.
    async fn capture(
        &self,
        config: &Config,
        iam: &aws_sdk_iam::Client,
        case: &Case,
        output: &mut Output,
    ) -> StepResult {
        let Subject::NewUser(user) = &case.subject else {
            return StepResult::status(Status::Skipped, "not a new user");
        };
        let located = Box::pin(evidence::locate(
            iam,
            &user.name,
            user.user_id.as_deref(),
            user.arn.as_deref(),
            config.not_found_retry,
        ))
        .await;
        match located {
            Located::Found {
                user: u,
                renamed_from,
            } => {
                let ev = Box::pin(evidence::capture(iam, &u)).await;
                let mut detail = Vec::new();
                if let Some(old) = &renamed_from {
                    detail.push(format!(
                        "renamed from {old} to {} (found by its unique id {})",
                        u.user_name(),
                        u.user_id()
                    ));
                }
                if !ev.gaps.is_empty() {
                    let gaps: Vec<&str> = ev.gaps.iter().map(|g| g.what.as_str()).collect();
                    detail.push(format!("captured, except: {}", gaps.join(", ")));
                }
                output.whereabouts = Whereabouts::Found {
                    current_name: u.user_name().to_string(),
                    renamed_from,
                };
                output.evidence = Some(ev);
                StepResult::with(
                    Status::Done,
                    (!detail.is_empty()).then(|| detail.join("; ")),
                )
            }
            Located::Gone { waited } => {
                output.whereabouts = Whereabouts::Gone { waited };
                StepResult::status(
                    Status::AlreadyDone,
                    format!(
                        "the user does not exist (NoSuchEntity for {:.1} s, and no user has its id): nothing to capture or change",
                        waited.as_secs_f64()
                    ),
                )
                .then_stop(Status::Skipped, "the user no longer exists")
            }
            Located::Replaced { current_id } => {
                let detail = format!(
                    "the user now named {} is {current_id}, not the one this event created ({}): left untouched",
                    user.name,
                    user.user_id
                        .as_deref()
                        .or(user.arn.as_deref())
                        .unwrap_or("unknown")
                );
                output.whereabouts = Whereabouts::Replaced { current_id };
                StepResult::status(Status::Skipped, detail).then_stop(
                    Status::Skipped,
                    "the user this event created no longer exists",
                )
            }
            Located::Failed(e) => {
                output.whereabouts = Whereabouts::LookupFailed(e.to_string());
                StepResult::failed(format!("GetUser: {e}; nothing was changed"))
                    .then_stop(Status::Skipped, "the user could not be looked up")
            }
        }
    }
}

/// Before a step that changes the user: the name it is acted on by still belongs to the user
/// captured (its unique id). A user renamed since is followed to its new name; one gone stops
/// the plan; a name now held by another user (the captured user renamed away, and someone
/// else's user renamed to it) stops the plan without touching that user. Without this, every
/// step after such a swap would strip and delete the other user, each `NoSuchEntity` on the
/// way counted as already done.
async fn still_the_same_user(
    iam: &aws_sdk_iam::Client,
    step: &Step,
    event_name: &str,
    output: &mut Output,
) -> Result<(), StepResult> {
    let touches_user = !matches!(
        step,
        Step::CaptureEvidence { .. } | Step::PutEvidence { .. } | Step::NoChange { .. }
    );
    let Some(id) = output.evidence.as_ref().map(|e| e.user.user_id.clone()) else {
        return Ok(());
    };
    if !touches_user || id.is_empty() {
        return Ok(());
    }
    let name = output.name(event_name).to_string();
    match evidence::locate(iam, &name, Some(&id), None, Duration::ZERO).await {
        Located::Found { user, renamed_from } => {
            if renamed_from.is_some() {
                let first = match &output.whereabouts {
                    Whereabouts::Found { renamed_from, .. } => renamed_from.clone(),
                    _ => None,
                };
                output.whereabouts = Whereabouts::Found {
                    current_name: user.user_name().to_string(),
                    renamed_from: first.or_else(|| Some(event_name.to_string())),
                };
            }
            Ok(())
        }
        // Not proof of a deletion: a user renamed a moment ago may not be listed under its
        // new name yet. The plan stops failed, so Lambda's retry finds it or confirms it gone.
        Located::Gone { .. } => {
            output.whereabouts = Whereabouts::Vanished {
                name: name.clone(),
                user_id: id.clone(),
            };
            Err(StepResult::failed(format!(
                "{name} answered NoSuchEntity and no user is listed with its id {id}: deleted by someone else since it was captured, or renamed and not listed yet; not changed"
            ))
            .then_stop(Status::Skipped, "not attempted: the user could not be found any more"))
        }
        Located::Replaced { current_id } => Err(StepResult::status(
            Status::Skipped,
            format!(
                "the name {name} now belongs to another user ({current_id}), not the one captured ({id}), which is nowhere: that user is left untouched"
            ),
        )
        .then_stop(Status::Skipped, "the user captured no longer exists under any name")),
        Located::Failed(e) => Err(StepResult::failed(format!(
            "GetUser {name} (is it still the user captured, {id}?): {e}; not changed"
        ))),
    }
}

/// The step could not run because the event's account cannot be acted in. When STS refused
/// the role, a retry would be refused too: the step fails without failing the invocation; the
/// rest of the plan is not attempted either way.
fn unreachable(e: AccountError, output: &mut Output) -> StepResult {
    let detail = e.to_string();
    let rest = format!(
        "not attempted: trailwarden could not act in account {}",
        e.account
    );
    let result = if e.refused {
        StepResult::failed_no_retry(detail)
    } else {
        StepResult::failed(detail)
    };
    output.unreachable = Some(e);
    result.then_stop(Status::Skipped, rest)
}

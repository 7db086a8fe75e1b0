//! unapproved-user: when an IAM user is created by someone or something that is not
//! approved, capture its state as evidence, delete it (or quarantine it, or only notify),
//! and tell the security team.
//!
//! parse ([`trailwarden::Payload`]) -> decide ([`decide::decide`], pure) -> execute
//! ([`evidence::capture`], [`respond`], through an `aws_sdk_iam::Client`) -> report
//! ([`report::alert`], published through SNS).
#![forbid(unsafe_code)]

pub mod approval;
pub mod config;
pub mod decide;
pub mod evidence;
pub mod iam;
pub mod report;
pub mod respond;

pub use config::{Config, Mode};
pub use report::DETECTION;

use approval::{ApprovalError, Approvals};
use decide::{decide, Decision, Response};
use evidence::Lookup;
use report::{Execution, UserState};
use serde_json::Value;
use tokio::sync::OnceCell;
use trailwarden::aws::AlertPublisher;
use trailwarden::outcome::{handle_json, RunError};
use trailwarden::{Action, Alert, Outcome, Payload, Record, Severity, Status};

pub const NAME: &str = "unapproved-user";

/// Everything built once per cold start.
pub struct State {
    pub config: Config,
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub publisher: AlertPublisher,
    /// The configured approvals merged with the approval document, loaded on first need.
    approvals: OnceCell<Approvals>,
}

impl State {
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> State {
        let publisher = AlertPublisher::new(
            sdk,
            config.common.alert_topic_arn.clone(),
            config.common.min_severity,
        );
        State::with_clients(
            config,
            aws_sdk_iam::Client::new(sdk),
            trailwarden::aws::s3_client(sdk),
            publisher,
        )
    }

    /// With given clients (for fault-injection tests with mocked clients).
    pub fn with_clients(
        config: Config,
        iam: aws_sdk_iam::Client,
        s3: aws_sdk_s3::Client,
        publisher: AlertPublisher,
    ) -> State {
        State {
            config,
            iam,
            s3,
            publisher,
            approvals: OnceCell::new(),
        }
    }

    /// The approvals in force: the configured lists, merged with the approval document when
    /// one is configured (read once; a failed read is retried on the next invocation).
    pub async fn approvals(&self) -> Result<&Approvals, ApprovalError> {
        self.approvals
            .get_or_try_init(|| async {
                match &self.config.approval_document {
                    None => Ok(self.config.approvals.clone()),
                    Some(uri) => {
                        let doc = approval::load_document(&self.s3, uri).await?;
                        tracing::info!(
                            %uri,
                            user_patterns = doc.user_patterns.len(),
                            path_prefixes = doc.path_prefixes.len(),
                            creator_arns = doc.creator_arns.len(),
                            "approval document loaded"
                        );
                        Ok(self.config.approvals.merged(&doc))
                    }
                }
            })
            .await
    }
}

/// Pure: what would be done, with `Planned` steps (what dry-run reports). Uses the approvals
/// from the environment only: an approval document in S3 is read by [`run`], not here.
pub fn plan(config: &Config, payload: &Payload) -> Outcome {
    let input = payload.describe();
    match decide(config, &config.approvals, payload) {
        Decision::Ignore(reason) => Outcome::ignored(NAME, input, reason),
        Decision::Approved { reason, .. } => {
            Outcome::ignored(NAME, input, format!("approved: {reason}"))
        }
        Decision::Respond(resp) => {
            let mut outcome = Outcome::new(NAME, input);
            outcome.dry_run = true;
            if let Some(record) = payload.record() {
                let mut alert = report::alert(config, record, &resp, None);
                if let Some(uri) = &config.approval_document {
                    alert = alert.fact(
                        "Approval document",
                        format!("{uri} was not consulted by this offline plan"),
                    );
                }
                outcome.alerts.push(alert);
            }
            outcome
        }
    }
}

/// Decides, then (unless dry-running) captures evidence, responds through IAM and publishes
/// the alert. A failed step, or an alert that could not be published, is an `Err` carrying
/// the outcome, so that Lambda retries the idempotent steps.
pub async fn run(state: &State, payload: &Payload) -> Result<Outcome, RunError> {
    let config = &state.config;
    let input = payload.describe();
    let mut decision = decide(config, &config.approvals, payload);
    if matches!(decision, Decision::Respond(_)) && config.approval_document.is_some() {
        match state.approvals().await {
            Ok(approvals) => decision = decide(config, approvals, payload),
            Err(e) => return Err(approval_failure(state, payload, &decision, e).await),
        }
    }
    let resp = match decision {
        Decision::Ignore(reason) => {
            tracing::info!(%input, %reason, "ignored");
            return Ok(Outcome::ignored(NAME, input, reason));
        }
        Decision::Approved { user, reason } => {
            tracing::info!(user = %user.name, %reason, "approved IAM user: not touched");
            return Ok(Outcome::ignored(NAME, input, format!("approved: {reason}")));
        }
        Decision::Respond(resp) => resp,
    };
    let Some(record) = payload.record() else {
        return Ok(Outcome::ignored(NAME, input, "no CloudTrail record"));
    };
    tracing::warn!(
        user = %resp.user.name,
        creator = resp.creator_arn.as_deref().unwrap_or("unknown"),
        mode = resp.mode.as_str(),
        dry_run = resp.dry_run,
        reason = %resp.reason,
        "unapproved IAM user"
    );
    let mut outcome = Outcome::new(NAME, input);
    outcome.dry_run = resp.dry_run;
    let exec = if resp.dry_run {
        None
    } else {
        Some(Box::pin(execute(state, payload, record, &resp)).await)
    };
    let alert = report::alert(config, record, &resp, exec.as_ref());
    let failures: Vec<String> = alert
        .actions
        .iter()
        .filter(|a| a.status == Status::Failed)
        .map(|a| {
            format!(
                "{} {} ({})",
                a.step,
                a.target,
                a.detail.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    let published = state.publisher.publish(&alert).await;
    outcome.alerts.push(alert);
    if let Err(e) = published {
        tracing::error!(error = %e, "alert not published");
        return Err(RunError::new(
            format!(
                "{NAME}: the alert about IAM user {} could not be published: {e}",
                resp.user.name
            ),
            outcome,
        ));
    }
    if !failures.is_empty() {
        tracing::error!(user = %resp.user.name, failures = ?failures, "response incomplete");
        return Err(RunError::new(
            format!(
                "{NAME}: response to unapproved IAM user {} incomplete; failed: {}",
                resp.user.name,
                failures.join("; ")
            ),
            outcome,
        ));
    }
    Ok(outcome)
}

/// Captures evidence, stores it, then carries out the response.
async fn execute(state: &State, payload: &Payload, record: &Record, resp: &Response) -> Execution {
    let config = &state.config;
    let name = resp.user.name.as_str();
    let mut actions = Vec::new();
    let mut ev = match Box::pin(evidence::capture(&state.iam, name, config.not_found_retry)).await {
        Lookup::Found(ev) => ev,
        Lookup::Gone { waited } => {
            actions.push(
                Action::new("GetUser", name, Status::AlreadyDone).with_detail(format!(
                    "the user does not exist (NoSuchEntity for {:.1} s): nothing to capture or change",
                    waited.as_secs_f64()
                )),
            );
            return Execution {
                state: UserState::Gone { waited },
                evidence: None,
                evidence_uri: None,
                actions,
            };
        }
        Lookup::Failed(e) => {
            actions.push(
                Action::new("CaptureEvidence", name, Status::Failed)
                    .with_detail(format!("GetUser: {e}; nothing was changed")),
            );
            return Execution {
                state: UserState::LookupFailed(e.to_string()),
                evidence: None,
                evidence_uri: None,
                actions,
            };
        }
    };
    let replaced = match &resp.user.user_id {
        Some(id) => *id != ev.user.user_id,
        None => resp
            .user
            .arn
            .as_ref()
            .is_some_and(|arn| *arn != ev.user.arn),
    };
    if replaced {
        actions.push(
            Action::new("GetUser", name, Status::Skipped).with_detail(format!(
                "the user now named {name} is {} ({}), not the one this event created ({}): left untouched",
                ev.user.user_id,
                ev.user.arn,
                resp.user.user_id.as_deref().or(resp.user.arn.as_deref()).unwrap_or("unknown")
            )),
        );
        return Execution {
            state: UserState::Replaced {
                current_id: ev.user.user_id.clone(),
            },
            evidence: None,
            evidence_uri: None,
            actions,
        };
    }
    let mut capture = Action::new("CaptureEvidence", name, Status::Done);
    if !ev.gaps.is_empty() {
        let gaps: Vec<&str> = ev.gaps.iter().map(|g| g.what.as_str()).collect();
        capture = capture.with_detail(format!("captured, except: {}", gaps.join(", ")));
    }
    actions.push(capture);

    let mut evidence_uri = None;
    if let Some(bucket) = &config.evidence_bucket {
        ev.event = serde_json::to_value(record).ok();
        ev.approval = Some(resp.reason.clone());
        let key = respond::evidence_key(&account_of(payload, record), name, &event_id(record));
        let body = serde_json::to_vec_pretty(&*ev).unwrap_or_default();
        let put = respond::put_evidence(&state.s3, bucket, &key, body).await;
        if put.status != Status::Failed {
            evidence_uri = Some(put.target.clone());
        }
        actions.push(put);
    }

    match resp.mode {
        Mode::Delete => actions.extend(
            Box::pin(respond::delete_user(
                &state.iam,
                name,
                config.not_found_retry,
            ))
            .await,
        ),
        Mode::Quarantine => {
            let tags = vec![
                (
                    respond::TAG_QUARANTINED.to_string(),
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
                (
                    respond::TAG_REASON.to_string(),
                    format!(
                        "unapproved user created by {}",
                        resp.creator_arn
                            .clone()
                            .unwrap_or_else(|| resp.creator.display())
                    ),
                ),
                (respond::TAG_EVENT.to_string(), event_id(record)),
            ];
            actions.extend(
                Box::pin(respond::quarantine_user(
                    &state.iam,
                    name,
                    resp.user.partition(),
                    &ev,
                    &tags,
                ))
                .await,
            );
        }
        Mode::Notify => actions.push(
            Action::new("NoChange", name, Status::Skipped)
                .with_detail("RESPONSE_MODE=notify: the user was left in place"),
        ),
    }
    Execution {
        state: UserState::Found,
        evidence: Some(*ev),
        evidence_uri,
        actions,
    }
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

/// The approval document could not be read: nothing can be decided safely. Alert, then fail
/// the invocation so that Lambda retries.
async fn approval_failure(
    state: &State,
    payload: &Payload,
    decision: &Decision,
    e: ApprovalError,
) -> RunError {
    let config = &state.config;
    let user = match decision {
        Decision::Respond(r) => r.user.name.clone(),
        _ => "(unknown)".into(),
    };
    tracing::error!(error = %e, user = %user, "approval document unusable");
    let mut alert = Alert::new(
        Severity::High,
        DETECTION,
        format!("New IAM user {user} not evaluated: approval document unusable"),
    );
    if let Some(r) = payload.record() {
        alert = alert.about(r);
    }
    alert.account_alias = config.common.account_alias.clone();
    alert.summary = format!(
        "IAM user {user} was created and is not approved by the configured lists, but the approval document could not be used, so nothing was changed: {e}. Fix the document (or APPROVAL_DOCUMENT_URI); Lambda retries this event."
    );
    let uri = config
        .approval_document
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    alert.actions = vec![Action::new("GetObject", uri, Status::Failed).with_detail(e.to_string())];
    let mut outcome = Outcome::new(NAME, payload.describe());
    if let Err(pe) = state.publisher.publish(&alert).await {
        tracing::error!(error = %pe, "alert not published");
    }
    outcome.alerts.push(alert);
    RunError::new(format!("{NAME}: {e}"), outcome)
}

/// Lambda entry: parse, run, return the outcome as JSON. A payload that does not parse is an
/// error carrying the parse message.
pub async fn handler(
    state: &State,
    event: lambda_runtime::LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    handle_json(NAME, event.payload, |p| async move { run(state, &p).await }).await
}

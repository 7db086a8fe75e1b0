//! Centralized root access: `sts:AssumeRoot` and the root task sessions it hands out.
//!
//! With centralized root access (AWS Organizations), a principal of the management account (or
//! of the delegated administrator account for IAM) calls `sts:AssumeRoot` naming a member
//! account (`targetPrincipal`) and an AWS-managed task policy
//! (`arn:aws:iam::aws:policy/root-task/…`). It receives short-lived `ASIA…` credentials for the
//! member account's root user, limited to that task. CloudTrail records:
//!
//! - in the calling account, the `AssumeRoot` call itself (`sts.amazonaws.com`), made by the
//!   calling principal, with `requestParameters.targetPrincipal`, `taskPolicyArn` and the
//!   issued key in `responseElements.credentials.accessKeyId`;
//! - in the member account, each call of the task session, with `userIdentity.type` `Root`,
//!   the `assumedRoot` marker and that temporary key. The member account's records do not name
//!   the caller (only a `sourceIdentity`, when the caller's session had one) nor the task
//!   policy: the management account's `AssumeRoot` record does.

use serde::Serialize;
use trailwarden::{Principal, Record};

/// The AWS-managed task policies of centralized root access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TaskPolicy {
    /// `IAMAuditRootUserCredentials`: read the root user's credentials.
    AuditRootUserCredentials,
    /// `IAMCreateRootUserPassword`: give the root user a console password (password recovery).
    CreateRootUserPassword,
    /// `IAMDeleteRootUserCredentials`: delete the root user's password, keys, signing
    /// certificates, and deactivate its MFA devices.
    DeleteRootUserCredentials,
    /// `S3UnlockBucketPolicy`: delete a bucket policy that denies every principal.
    S3UnlockBucketPolicy,
    /// `SQSUnlockQueuePolicy`: remove a queue policy that denies every principal.
    SqsUnlockQueuePolicy,
    /// Any other policy name under `root-task/` (AWS may add tasks).
    Other(String),
}

impl TaskPolicy {
    /// The policy from its ARN (`arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials`)
    /// or bare name.
    pub fn from_arn(arn: &str) -> Option<TaskPolicy> {
        let name = arn.trim().rsplit('/').next()?.trim();
        if name.is_empty() {
            return None;
        }
        Some(match name {
            "IAMAuditRootUserCredentials" => TaskPolicy::AuditRootUserCredentials,
            "IAMCreateRootUserPassword" => TaskPolicy::CreateRootUserPassword,
            "IAMDeleteRootUserCredentials" => TaskPolicy::DeleteRootUserCredentials,
            "S3UnlockBucketPolicy" => TaskPolicy::S3UnlockBucketPolicy,
            "SQSUnlockQueuePolicy" => TaskPolicy::SqsUnlockQueuePolicy,
            other => TaskPolicy::Other(other.to_string()),
        })
    }

    /// The policy's name as AWS spells it.
    pub fn name(&self) -> &str {
        match self {
            TaskPolicy::AuditRootUserCredentials => "IAMAuditRootUserCredentials",
            TaskPolicy::CreateRootUserPassword => "IAMCreateRootUserPassword",
            TaskPolicy::DeleteRootUserCredentials => "IAMDeleteRootUserCredentials",
            TaskPolicy::S3UnlockBucketPolicy => "S3UnlockBucketPolicy",
            TaskPolicy::SqsUnlockQueuePolicy => "SQSUnlockQueuePolicy",
            TaskPolicy::Other(name) => name,
        }
    }

    /// The one task policy whose purpose is this call, when only one is (the changing call of
    /// each task). Read-only calls that several tasks allow (`GetLoginProfile`,
    /// `ListAccessKeys`) name none.
    pub fn for_call(event_source: &str, event_name: &str) -> Option<TaskPolicy> {
        Some(match (event_source, event_name) {
            (
                "iam.amazonaws.com",
                "DeleteLoginProfile"
                | "DeleteAccessKey"
                | "DeleteSigningCertificate"
                | "DeactivateMFADevice",
            ) => TaskPolicy::DeleteRootUserCredentials,
            ("iam.amazonaws.com", "CreateLoginProfile") => TaskPolicy::CreateRootUserPassword,
            ("s3.amazonaws.com", "DeleteBucketPolicy") => TaskPolicy::S3UnlockBucketPolicy,
            ("sqs.amazonaws.com", "SetQueueAttributes") => TaskPolicy::SqsUnlockQueuePolicy,
            _ => return None,
        })
    }
}

/// A member account's root session obtained with `sts:AssumeRoot`, as its own records show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskSession {
    /// The session's temporary key (`ASIA…`): the same key is in the `AssumeRoot` record of
    /// the calling account (`responseElements.credentials.accessKeyId`).
    pub access_key_id: Option<String>,
    /// `sessionContext.attributes.creationDate`: when `AssumeRoot` issued the session.
    pub issued_at: Option<String>,
    /// `sessionContext.sourceIdentity`: who assumed it, when the caller's session carried one.
    pub source_identity: Option<String>,
    /// The task policy this call is the purpose of ([`TaskPolicy::for_call`]); the member
    /// account's record does not name the policy itself.
    pub likely_task_policy: Option<TaskPolicy>,
}

impl TaskSession {
    /// The task session behind a root record, or `None` when the record is not one.
    pub fn of(r: &Record) -> Option<TaskSession> {
        if !r.assumed_root() {
            return None;
        }
        let identity = r.user_identity.as_ref()?;
        let context = identity.session_context.as_ref();
        Some(TaskSession {
            access_key_id: non_empty(identity.access_key_id.as_deref()),
            issued_at: non_empty(
                context
                    .and_then(|c| c.attributes.as_ref())
                    .and_then(|a| a.creation_date.as_deref()),
            ),
            source_identity: non_empty(context.and_then(|c| c.source_identity.as_deref())),
            likely_task_policy: TaskPolicy::for_call(r.event_source(), r.event_name()),
        })
    }
}

/// An `sts:AssumeRoot` call: a principal asking for a root task session in a member account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssumeRootCall {
    /// Who called it.
    pub caller: Principal,
    /// The account the caller belongs to (the management or delegated administrator account).
    pub caller_account: Option<String>,
    /// `requestParameters.targetPrincipal`: the member account whose root session was asked for.
    pub target_account: Option<String>,
    /// `requestParameters.taskPolicyArn` (recorded as `{"arn": …}`; a plain string is accepted).
    pub task_policy_arn: Option<String>,
    /// The task policy named by that ARN.
    pub task_policy: Option<TaskPolicy>,
    /// `requestParameters.durationSeconds`, when given.
    pub duration_seconds: Option<u64>,
    /// The issued session's key (`responseElements.credentials.accessKeyId`); absent when the
    /// call failed.
    pub session_key: Option<String>,
}

/// `eventSource` of STS.
pub const STS_SOURCE: &str = "sts.amazonaws.com";
/// `eventName` of the centralized-root call.
pub const ASSUME_ROOT: &str = "AssumeRoot";

impl AssumeRootCall {
    /// The `AssumeRoot` call a record shows, or `None` when it is another event.
    pub fn of(r: &Record) -> Option<AssumeRootCall> {
        if r.event_source() != STS_SOURCE || r.event_name() != ASSUME_ROOT {
            return None;
        }
        let task_policy_arn = r
            .request_str("taskPolicyArn.arn")
            .or_else(|| r.request_str("taskPolicyArn"))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let target_account = r.request_param("targetPrincipal").and_then(|v| match v {
            serde_json::Value::String(s) => non_empty(Some(s)),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        Some(AssumeRootCall {
            caller: r.principal(),
            caller_account: non_empty(
                r.user_identity
                    .as_ref()
                    .and_then(|u| u.account_id.as_deref()),
            ),
            target_account,
            task_policy: task_policy_arn.as_deref().and_then(TaskPolicy::from_arn),
            task_policy_arn,
            duration_seconds: r
                .request_param("durationSeconds")
                .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok())),
            session_key: non_empty(
                r.response_element("credentials.accessKeyId")
                    .and_then(serde_json::Value::as_str),
            ),
        })
    }
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

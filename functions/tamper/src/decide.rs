//! The pure decision: is this a change to trailwarden's own resources, or the deletion or
//! overwriting of one of its trail's files, and what to do about it.
//!
//! Two kinds of case:
//!
//! - [`Change`]: a CloudTrail record that one of the `self` detections matches (a rule
//!   disabled, a function deleted, the trail stopped, ...). Critical (some high), one step
//!   lower when the call failed (someone tried), `info` when CloudFormation made it on behalf
//!   of a stack operation (the stack operation itself is alerted). After a successful
//!   `StopLogging` on a protected trail, with `RESTART_LOGGING=true`, the plan turns logging
//!   back on ([`Step::StartLogging`]) and reads the trail's status afterwards
//!   ([`Step::ReadTrailStatus`]) as evidence.
//! - [`Objects`]: log files or digests of the trail deleted or written over (EventBridge
//!   `Object Deleted`, or S3 data events `DeleteObject`/`PutObject`/`CopyObject` on the trail
//!   bucket). Each file is re-checked with log-integrity's chain code ([`Step::RecheckDigest`],
//!   [`Step::RecheckLogFile`]); a `DeleteObjects` call does not record which keys it deleted,
//!   so it is alerted without a re-check (S3 sends one `Object Deleted` per object, and each
//!   of those is re-checked).

use crate::config::{Config, TrailRef};
use crate::detections;
use crate::Tamper;
use serde::Serialize;
use serde_json::Value;
use trailwarden::payload::S3Deletion;
use trailwarden::respond::{DecidePayload, Decision, PlannedStep, StepKind};
use trailwarden::s3key::{classify, TrailObject};
use trailwarden::{Payload, Record, Severity};

/// Where CloudFormation's own calls come from.
pub const CLOUDFORMATION: &str = "cloudformation.amazonaws.com";
/// Who delivers log files.
pub const CLOUDTRAIL_SERVICE: &str = "cloudtrail.amazonaws.com";

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Re-check a deleted or written-over digest and the digest that follows it in the chain
    /// (read-only).
    RecheckDigest {
        bucket: String,
        key: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
    /// Re-check the digests that list a deleted or written-over log file (read-only).
    RecheckLogFile {
        bucket: String,
        key: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
    /// `cloudtrail:StartLogging` on a trail whose logging was stopped (changes the account).
    StartLogging {
        trail: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
    /// `cloudtrail:GetTrailStatus` (read-only): whether the trail is logging now.
    ReadTrailStatus {
        trail: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
}

impl StepKind for Step {
    fn name(&self) -> String {
        match self {
            Step::RecheckDigest { .. } => "RecheckDigestChain",
            Step::RecheckLogFile { .. } => "RecheckDigestsOfLogFile",
            Step::StartLogging { .. } => "StartLogging",
            Step::ReadTrailStatus { .. } => "GetTrailStatus",
        }
        .into()
    }
    fn target(&self) -> String {
        match self {
            Step::RecheckDigest { bucket, key, .. } | Step::RecheckLogFile { bucket, key, .. } => {
                format!("s3://{bucket}/{key}")
            }
            Step::StartLogging { trail, .. } | Step::ReadTrailStatus { trail, .. } => trail.clone(),
        }
    }
    fn changes(&self) -> bool {
        matches!(self, Step::StartLogging { .. })
    }
}

/// What the decision is about.
// One case exists per invocation; boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Case {
    /// A change to one of trailwarden's own resources.
    Change(Change),
    /// Trail files deleted or written over.
    Objects(Objects),
}

/// The matched `self` detection, as the alert needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Matched {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub description: String,
    pub runbook: Option<String>,
    pub references: Vec<String>,
}

/// Why the severity is not the detection's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// The call failed: someone tried (one step lower).
    Failed {
        code: Option<String>,
        message: Option<String>,
    },
    /// CloudFormation made the call for a stack operation of a deployer role
    /// (`DEPLOYER_ROLE_ARNS`): a deployment (`info`).
    ViaCloudFormation,
    /// CloudFormation made the call for a stack operation of someone not listed as a deployer
    /// (one step lower): trailwarden's own deployment, or another stack aimed at its
    /// resources; the call does not say which stack.
    ViaUnlistedCloudFormation,
}

/// What a change did beyond its name, when the request says more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// `PutBucketNotification` without `EventBridgeConfiguration`: S3 stopped sending the
    /// bucket's events to EventBridge, so no log file reaches log-delivery or log-integrity.
    EventBridgeNotificationsOff,
    /// `PutBucketNotification` that keeps EventBridge on.
    EventBridgeNotificationsKept,
    /// `PutEventSelectors` that leaves management events out (basic selectors all excluding
    /// them, or advanced selectors none of which selects `eventCategory` `Management`).
    ManagementEventsExcluded,
    /// `PutBucketVersioning` suspending versioning: deleted log files cannot be recovered.
    VersioningSuspended,
}

/// What happens about logging after a `StopLogging` on a protected trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "restart", rename_all = "snake_case")]
pub enum Restart {
    /// Not a stop of a protected trail (or the stop failed).
    NotApplicable,
    /// `RESTART_LOGGING=true`: the plan starts it again.
    Planned { trail: String },
    /// `RESTART_LOGGING` is off: alert only.
    Off { trail: String },
}

/// A change to one of trailwarden's own resources.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The most severe detection that matched.
    pub detection: Matched,
    /// Other `self` detections the record matched (ids).
    pub also: Vec<String>,
    /// The alert's severity.
    pub severity: Severity,
    pub reasons: Vec<Reason>,
    pub notes: Vec<Note>,
    /// The resource the call named (rule, function, role, topic, queue, bucket, trail ...).
    pub resource: String,
    pub restart: Restart,
    pub account: Option<String>,
    pub region: Option<String>,
    pub record: Record,
}

/// What kind of trail file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Digest,
    LogFile,
    /// A `DeleteObjects` call: the keys are not recorded.
    Unknown,
}

/// What was done to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Touch {
    /// Hidden behind a delete marker (versioned bucket): its versions are still there.
    DeleteMarker,
    /// Gone for good (a version deleted, or an unversioned bucket).
    PermanentlyDeleted,
    /// Deleted; the record does not say how.
    Deleted,
    /// Written (`PutObject`, `CopyObject`) by someone other than CloudTrail: replaced, or
    /// planted.
    Written,
    /// Several objects deleted in one `DeleteObjects` call.
    BulkDeleted,
}

/// One trail file touched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Touched {
    pub bucket: String,
    /// Empty for a bulk deletion.
    pub key: String,
    pub kind: FileKind,
    pub how: Touch,
    /// The version the event names (delete marker, removed version, written version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Who: a principal (data events) or the requester S3 names (notifications).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The call failed (nothing was deleted or written).
    pub failed: bool,
}

impl Touched {
    pub fn uri(&self) -> String {
        if self.key.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.key)
        }
    }
}

/// Trail files deleted or written over.
#[derive(Debug, Clone, PartialEq)]
pub struct Objects {
    pub touched: Vec<Touched>,
    /// The data event, when the case comes from one.
    pub record: Option<Record>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// The severity before the re-check (the re-check may raise it).
    pub severity: Severity,
}

impl DecidePayload for Tamper {
    type Config = Config;
    type Case = Case;
    type Step = Step;

    /// What tamper does with a payload.
    fn decide_payload(config: &Config, payload: &Payload) -> Decision<Case, Step> {
        match payload {
            Payload::S3Deleted(deletions) => decide_deletions(config, deletions),
            Payload::S3Objects(_) => Decision::ignore(
                "objects created in S3: log-delivery scans new log files and log-integrity \
                 verifies new digests",
            ),
            Payload::Schedule(_) => {
                Decision::ignore("a scheduled event: the watchdog's, not tamper's")
            }
            _ => match payload.record() {
                None => Decision::not_for(payload, "not a CloudTrail event"),
                Some(r) if is_object_call(r) => decide_object_call(config, payload, r),
                Some(r) => decide_change(config, payload, r),
            },
        }
    }
}

fn envelope(payload: &Payload) -> (Option<String>, Option<String>) {
    match payload {
        Payload::CloudTrail(e) => (e.account.clone(), e.region.clone()),
        _ => (None, None),
    }
}

/// True when CloudFormation made the call for a stack operation.
pub fn via_cloudformation(r: &Record) -> bool {
    r.user_identity
        .as_ref()
        .and_then(|u| u.invoked_by.as_deref())
        == Some(CLOUDFORMATION)
        || r.source_ip_address.as_deref() == Some(CLOUDFORMATION)
}

/// The resource a call names, read from the request parameters each API records.
fn resource_named(r: &Record) -> String {
    for path in [
        "name",
        "rule",
        "functionName",
        "roleName",
        "topicArn",
        "subscriptionArn",
        "queueUrl",
        "bucketName",
        "trailName",
        "keyId",
        "stackName",
        "tableName",
        "targetTableName",
        "tableCreationParameters.tableName",
        "resourceArn",
    ] {
        if let Some(v) = r.request_str(path).filter(|v| !v.is_empty()) {
            return v.to_string();
        }
    }
    if let Some(v) = r
        .response_element("functionArn")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
    {
        return v.to_string();
    }
    "(not recorded)".into()
}

fn notes(r: &Record) -> Vec<Note> {
    let mut out = Vec::new();
    match r.event_name() {
        "PutBucketNotification" => {
            let config = r.request_param("NotificationConfiguration");
            let eventbridge = config
                .and_then(|c| c.get("EventBridgeConfiguration"))
                .is_some();
            out.push(if eventbridge {
                Note::EventBridgeNotificationsKept
            } else {
                Note::EventBridgeNotificationsOff
            });
        }
        "PutEventSelectors" => {
            let basic = r
                .request_param("eventSelectors")
                .and_then(Value::as_array)
                .is_some_and(|list| {
                    !list.is_empty()
                        && list
                            .iter()
                            .all(|s| s.get("includeManagementEvents") == Some(&Value::Bool(false)))
                });
            // Advanced selectors log management events only through a selector on
            // `eventCategory` = `Management`; data selectors alone leave them out.
            let get = |v: &Value, k: &str| -> Value {
                v.as_object()
                    .and_then(|o| o.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)))
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::Null)
            };
            let manages = |sel: &Value| {
                get(sel, "fieldSelectors")
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|f| {
                        get(f, "field") == "eventCategory"
                            && get(f, "equals")
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|v| v == "Management")
                    })
            };
            let advanced = r
                .request_param("advancedEventSelectors")
                .and_then(Value::as_array)
                .is_some_and(|list| !list.is_empty() && !list.iter().any(manages));
            if basic || advanced {
                out.push(Note::ManagementEventsExcluded);
            }
        }
        "PutBucketVersioning" => {
            let status = r
                .request_str("VersioningConfiguration.Status")
                .unwrap_or_default();
            if status.eq_ignore_ascii_case("Suspended") {
                out.push(Note::VersioningSuspended);
            }
        }
        _ => {}
    }
    out
}

fn decide_change(config: &Config, payload: &Payload, r: &Record) -> Decision<Case, Step> {
    let json = match serde_json::to_value(r) {
        Ok(v) => v,
        Err(e) => return Decision::ignore(format!("the record could not be read: {e}")),
    };
    let matched = config.catalog.matching(&json);
    let Some(top) = matched
        .iter()
        .copied()
        .max_by(|a, b| a.severity.cmp(&b.severity).then_with(|| b.id.cmp(&a.id)))
    else {
        return Decision::ignore(format!(
            "{} {} on {}: not a change to any of trailwarden's own resources",
            r.event_source(),
            r.event_name(),
            resource_named(r)
        ));
    };
    let principal = r.principal();
    if config.common.is_own(principal.match_arn(), r) {
        return Decision::ignore(format!(
            "{} {} by trailwarden's own role {}: not acted on (loop guard)",
            r.event_source(),
            r.event_name(),
            principal.display()
        ));
    }
    // A change to a protected trail must name that trail in its own region (a bare name is
    // the trail of the region it is called in).
    let trail = trail_of(config, r);
    if top.id == detections::TRAIL && trail.is_none() {
        return Decision::ignore(format!(
            "{} of {} in {}: another region's trail of the same name",
            r.event_name(),
            resource_named(r),
            r.aws_region.as_deref().unwrap_or("an unknown region")
        ));
    }
    let mut reasons = Vec::new();
    let mut severity = top.severity;
    let cfn = via_cloudformation(r);
    let by_deployer = principal
        .match_arn()
        .is_some_and(|a| trailwarden::glob::first_match(&config.deployers, a).is_some());
    if cfn && by_deployer {
        severity = Severity::Info;
        reasons.push(Reason::ViaCloudFormation);
    } else if cfn {
        severity = severity.lower();
        reasons.push(Reason::ViaUnlistedCloudFormation);
    } else if r.failed() {
        severity = severity.lower();
        reasons.push(Reason::Failed {
            code: r.error_code.clone(),
            message: r.error_message.clone(),
        });
    }
    let restart = match trail {
        Some(t) if r.event_name() == "StopLogging" && !r.failed() && !cfn => {
            if config.restart_logging {
                Restart::Planned {
                    trail: t.id().to_string(),
                }
            } else {
                Restart::Off {
                    trail: t.id().to_string(),
                }
            }
        }
        _ => Restart::NotApplicable,
    };
    let steps = match (&restart, trail) {
        (Restart::Planned { trail: id }, Some(t)) => {
            let region = t.region.clone().or_else(|| r.aws_region.clone());
            vec![
                Step::StartLogging {
                    trail: id.clone(),
                    region: region.clone(),
                },
                Step::ReadTrailStatus {
                    trail: id.clone(),
                    region,
                },
            ]
        }
        _ => Vec::new(),
    };
    let (env_account, env_region) = envelope(payload);
    let change = Change {
        detection: Matched {
            id: top.id.clone(),
            title: top.title.clone(),
            severity: top.severity,
            description: top.description.clone(),
            runbook: top.runbook.clone(),
            references: top.reference_lines(),
        },
        also: matched
            .iter()
            .filter(|d| d.id != top.id)
            .map(|d| d.id.clone())
            .collect(),
        severity,
        reasons,
        notes: notes(r),
        resource: resource_named(r),
        restart,
        account: r.account_id().map(str::to_string).or(env_account),
        region: r.aws_region.clone().or(env_region),
        record: r.clone(),
    };
    Decision::respond(Case::Change(change), steps)
}

/// The protected trail a CloudTrail call names.
fn trail_of<'a>(config: &'a Config, r: &Record) -> Option<&'a TrailRef> {
    if r.event_source() != "cloudtrail.amazonaws.com" {
        return None;
    }
    let named = r
        .request_str("name")
        .or_else(|| r.request_str("trailName"))?;
    config.trail(named, r.aws_region.as_deref())
}

/// S3 data events that delete or write objects.
pub const OBJECT_CALLS: &[&str] = &["DeleteObject", "DeleteObjects", "PutObject", "CopyObject"];

fn is_object_call(r: &Record) -> bool {
    r.event_source() == "s3.amazonaws.com" && OBJECT_CALLS.contains(&r.event_name())
}

/// A trail file kind from its key (`None`: not a log file or digest).
fn file_kind(key: &str) -> Option<FileKind> {
    if log_integrity::digest::is_digest_key(key) {
        Some(FileKind::Digest)
    } else if log_integrity::digest::is_log_file_key(key)
        || matches!(classify(key), TrailObject::LogFile(_))
    {
        Some(FileKind::LogFile)
    } else {
        None
    }
}

fn recheck(t: &Touched, region: Option<String>) -> Option<Step> {
    if t.failed {
        return None;
    }
    let (bucket, key) = (t.bucket.clone(), t.key.clone());
    match t.kind {
        FileKind::Digest => Some(Step::RecheckDigest {
            bucket,
            key,
            region,
        }),
        FileKind::LogFile => Some(Step::RecheckLogFile {
            bucket,
            key,
            region,
        }),
        FileKind::Unknown => None,
    }
}

fn base_severity(touched: &[Touched]) -> Severity {
    if touched.iter().all(|t| t.failed) {
        return Severity::High;
    }
    if touched
        .iter()
        .any(|t| !t.failed && matches!(t.how, Touch::PermanentlyDeleted | Touch::BulkDeleted))
    {
        Severity::Critical
    } else {
        Severity::High
    }
}

fn decide_deletions(config: &Config, deletions: &[S3Deletion]) -> Decision<Case, Step> {
    let mut touched = Vec::new();
    let mut skipped = Vec::new();
    let mut region = None;
    for d in deletions {
        let o = &d.object;
        if !config.is_trail_bucket(&o.bucket) {
            skipped.push(format!("s3://{}/{}: not a trail bucket", o.bucket, o.key));
            continue;
        }
        let Some(kind) = file_kind(&o.key) else {
            skipped.push(format!(
                "s3://{}/{}: not a log file or digest",
                o.bucket, o.key
            ));
            continue;
        };
        if d.reason.as_deref() == Some("Lifecycle Expiration") {
            skipped.push(format!(
                "s3://{}/{}: expired by a lifecycle rule (retention; changes to the bucket's \
                 lifecycle rules are alerted on their own)",
                o.bucket, o.key
            ));
            continue;
        }
        region = region.or_else(|| o.region.clone());
        let how = match d.deletion_type.as_deref() {
            Some("Delete Marker Created") => Touch::DeleteMarker,
            Some("Permanently Deleted") => Touch::PermanentlyDeleted,
            _ => Touch::Deleted,
        };
        touched.push(Touched {
            bucket: o.bucket.clone(),
            key: o.key.clone(),
            kind,
            how,
            version_id: o.version_id.clone(),
            by: d.requester.clone(),
            source_ip: d.source_ip.clone(),
            time: o.time.clone(),
            failed: false,
        });
    }
    if touched.is_empty() {
        return Decision::ignore(format!(
            "nothing of the trail deleted: {}",
            skipped.join("; ")
        ));
    }
    let steps: Vec<Step> = touched
        .iter()
        .filter_map(|t| recheck(t, region.clone()))
        .collect();
    let severity = base_severity(&touched);
    // The account whose logs they are (the notification's envelope is the bucket owner's).
    let account = classify(&touched[0].key)
        .folder()
        .map(|f| f.account.clone());
    Decision::Respond {
        case: Case::Objects(Objects {
            touched,
            record: None,
            account,
            region,
            severity,
        }),
        plan: dedup(steps).into_iter().map(PlannedStep::new).collect(),
    }
}

fn dedup(steps: Vec<Step>) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for s in steps {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn decide_object_call(config: &Config, payload: &Payload, r: &Record) -> Decision<Case, Step> {
    let bucket = r.request_str("bucketName").unwrap_or_default().to_string();
    let event = r.event_name();
    if bucket.is_empty() || !config.is_trail_bucket(&bucket) {
        return Decision::ignore(format!(
            "{event} on bucket {bucket:?}: not a trail bucket of trailwarden's"
        ));
    }
    let identity = r.user_identity.as_ref();
    let by_cloudtrail = identity.and_then(|u| u.invoked_by.as_deref()) == Some(CLOUDTRAIL_SERVICE)
        || (identity.and_then(|u| u.identity_type.as_deref()) == Some("AWSService")
            && r.source_ip_address.as_deref() == Some(CLOUDTRAIL_SERVICE));
    if by_cloudtrail {
        return Decision::ignore(format!("{event} by CloudTrail itself: a delivery"));
    }
    let principal = r.principal();
    if config.common.is_own(principal.match_arn(), r) {
        return Decision::ignore(format!(
            "{event} by trailwarden's own role {}: not acted on",
            principal.display()
        ));
    }
    let (kind, key, how) = if event == "DeleteObjects" {
        (FileKind::Unknown, String::new(), Touch::BulkDeleted)
    } else {
        let key = r.request_str("key").unwrap_or_default().to_string();
        let Some(kind) = file_kind(&key) else {
            return Decision::ignore(format!(
                "{event} of s3://{bucket}/{key}: not a log file or digest"
            ));
        };
        let how = match event {
            "PutObject" | "CopyObject" => Touch::Written,
            _ if r.request_str("versionId").is_some_and(|v| !v.is_empty()) => {
                Touch::PermanentlyDeleted
            }
            _ if r
                .response_element("x-amz-delete-marker")
                .and_then(Value::as_str)
                == Some("true") =>
            {
                Touch::DeleteMarker
            }
            _ => Touch::Deleted,
        };
        (kind, key, how)
    };
    let touched = Touched {
        bucket,
        key,
        kind,
        how,
        version_id: r.request_str("versionId").map(str::to_string),
        by: Some(principal.display()),
        source_ip: r.source_ip_address.clone(),
        time: r.event_time.clone(),
        failed: r.failed(),
    };
    let (env_account, env_region) = envelope(payload);
    let region = r.aws_region.clone().or(env_region);
    let steps: Vec<Step> = recheck(&touched, region.clone()).into_iter().collect();
    let touched = vec![touched];
    let severity = base_severity(&touched);
    Decision::respond(
        Case::Objects(Objects {
            touched,
            record: Some(r.clone()),
            account: r.account_id().map(str::to_string).or(env_account),
            region,
            severity,
        }),
        steps,
    )
}

//! Pure: the alert for a case and its walked plan. All of tamper's wording is here.

use crate::config::Config;
use crate::decide::{Case, Change, FileKind, Note, Objects, Reason, Restart, Step, Touch, Touched};
use crate::execute::{Output, Recheck};
use crate::Tamper;
use serde::Serialize;
use serde_json::{json, Value};
use trailwarden::alert::{part, Alert, Status};
use trailwarden::respond::{actions, Plan, Report, Reporting};
use trailwarden::Severity;

/// Detection id of a deleted trail file.
pub const FILE_DELETED: &str = "self-trail-file-deleted";
/// Detection id of a trail file written by someone other than CloudTrail.
pub const FILE_WRITTEN: &str = "self-trail-file-overwritten";

/// The most characters of a request shown as a fact (the evidence holds all of it).
const MAX_REQUEST_FACT: usize = 600;

trailwarden::counters! {
    /// tamper's counters.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub struct Stats {
        /// Changes to trailwarden's own resources.
        changes: usize => "changes to trailwarden",
        /// Trail files deleted or written over.
        files_touched: usize => "trail files touched",
        /// Digests re-checked.
        digests_checked: usize => "digests re-checked",
        /// Problems the re-checks found.
        problems_found: usize => "problems found",
        /// Logging was turned back on.
        logging_restarted: bool => "logging restarted",
    }
}

impl Reporting for Tamper {
    type Output = Output;
    type Stats = Stats;

    /// The alerts and statistics.
    fn report(
        _config: &Config,
        case: &Case,
        plan: &Plan<Step>,
        output: Option<&Output>,
    ) -> Report<Stats> {
        match case {
            Case::Change(c) => change(c, plan, output),
            Case::Objects(o) => objects(o, plan, output),
        }
    }
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= MAX_REQUEST_FACT {
        s
    } else {
        let cut: String = s.chars().take(MAX_REQUEST_FACT).collect();
        format!("{cut}... (in full in the evidence)")
    }
}

fn service(source: &str) -> &str {
    source.strip_suffix(".amazonaws.com").unwrap_or(source)
}

fn note_text(n: &Note) -> &'static str {
    match n {
        Note::EventBridgeNotificationsOff => {
            "The new notification configuration has no EventBridgeConfiguration: S3 no longer \
             sends the bucket's events to EventBridge, so no delivered log file or digest \
             reaches log-delivery or log-integrity from now on."
        }
        Note::EventBridgeNotificationsKept => {
            "The new notification configuration keeps EventBridge notifications on."
        }
        Note::ManagementEventsExcluded => {
            "The new event selectors leave management events out: API calls are no longer \
             recorded by this trail."
        }
        Note::VersioningSuspended => {
            "Versioning was suspended: from now on a deleted log file or digest cannot be \
             recovered from an earlier version."
        }
    }
}

fn restart_outcome(c: &Change, plan: &Plan<Step>, output: Option<&Output>) -> Option<String> {
    let start = plan
        .iter()
        .find(|s| matches!(s.step, Step::StartLogging { .. }));
    let status = output.and_then(|o| o.trail_status.as_ref());
    match (&c.restart, start) {
        (Restart::Off { trail }, _) => Some(format!(
            "Logging stays off: turn it back on (aws cloudtrail start-logging --name {trail}), \
             or deploy with RestartLogging=true to have trailwarden do it."
        )),
        (Restart::Planned { trail }, Some(s)) => Some(match s.status {
            Status::Done => {
                let at = output
                    .and_then(|o| o.restarted_at)
                    .map(|t| format!(" at {}", t.format("%Y-%m-%dT%H:%M:%SZ")))
                    .unwrap_or_default();
                let now = match status.and_then(|s| s.is_logging) {
                    Some(true) => " GetTrailStatus now answers IsLogging: true.",
                    Some(false) => " Yet GetTrailStatus still answers IsLogging: false.",
                    None => "",
                };
                format!(
                    "trailwarden turned logging back on{at} (StartLogging on {trail}, \
                     RestartLogging=true).{now} What happened between the stop and the \
                     restart was not recorded."
                )
            }
            Status::Planned => format!(
                "RestartLogging is on, but this is a dry run: logging of {trail} was not \
                 turned back on."
            ),
            Status::Failed => format!(
                "trailwarden tried to turn logging back on and failed ({}): turn it on by \
                 hand (aws cloudtrail start-logging --name {trail}).",
                s.detail.as_deref().unwrap_or("no detail")
            ),
            _ => format!(
                "Logging of {trail} was not turned back on ({}).",
                s.detail.as_deref().unwrap_or(s.status.as_str())
            ),
        }),
        _ => None,
    }
}

fn change(c: &Change, plan: &Plan<Step>, output: Option<&Output>) -> Report<Stats> {
    let r = &c.record;
    let who = r.principal();
    let event = r.event_name();
    let source = service(r.event_source());
    let ip = r
        .source_ip_address
        .as_deref()
        .unwrap_or("an unrecorded address");
    let region = c.region.as_deref().unwrap_or("an unrecorded region");
    let time = r.event_time.as_deref().unwrap_or("an unrecorded time");
    let restarted = plan
        .iter()
        .any(|s| matches!(s.step, Step::StartLogging { .. }) && s.status == Status::Done);

    let mut title = format!("{}: {event} {}", c.detection.title, short(&c.resource));
    let mut outcome = "The call succeeded.".to_string();
    for reason in &c.reasons {
        match reason {
            Reason::Failed { code, message } => {
                title.push_str(", failed");
                outcome = format!(
                    "The call failed ({}{}): nothing was changed, but someone with this \
                     principal tried (severity lowered from {} to {}).",
                    code.as_deref().unwrap_or("an error"),
                    part(": ", message.as_deref(), ""),
                    c.detection.severity,
                    c.severity
                );
            }
            Reason::ViaCloudFormation => {
                title.push_str(" (by CloudFormation)");
                outcome = "CloudFormation made this call for a stack operation (a deployment, \
                           an update or a deletion of the stack); the stack operation itself \
                           is alerted on its own, so this is informational."
                    .to_string();
            }
            Reason::ViaUnlistedCloudFormation => {
                title.push_str(" (by CloudFormation)");
                outcome = format!(
                    "CloudFormation made this call for a stack operation by a principal not \
                     listed in DEPLOYER_ROLE_ARNS (severity lowered from {} to {}). If no \
                     deployment of trailwarden's stack was under way, another stack changed \
                     trailwarden's resources: find the stack (CloudTrail's CreateStack, \
                     UpdateStack or ExecuteChangeSet by the same principal) and treat this as \
                     tampering.",
                    c.detection.severity, c.severity
                );
            }
        }
    }
    if restarted {
        title.push_str(" (logging turned back on)");
    }

    let mut summary = String::new();
    if !c.detection.description.is_empty() {
        summary.push_str(&c.detection.description);
        summary.push_str("\n\n");
    }
    summary.push_str(&format!(
        "{} called {event} ({source}) on {} from {ip} in {region} at {time}. {outcome}",
        who.display(),
        c.resource
    ));
    for n in &c.notes {
        summary.push(' ');
        summary.push_str(note_text(n));
    }
    if let Some(s) = restart_outcome(c, plan, output) {
        summary.push(' ');
        summary.push_str(&s);
    }
    if let Some(rb) = &c.detection.runbook {
        summary.push_str("\n\nWhat to do: ");
        summary.push_str(rb);
    }

    let mut a = Alert::new(c.severity, &c.detection.id, title).about(r);
    if a.account.is_none() {
        a.account = c.account.clone();
    }
    if a.region.is_none() {
        a.region = c.region.clone();
    }
    a.summary = summary;
    a = a
        .fact("Resource", c.resource.clone())
        .fact("Changed by", format!("{} ({})", who.display(), who.kind()));
    if let Some(ua) = &r.user_agent {
        a = a.fact("User agent", ua.clone());
    }
    if let Some(req) = r.request_parameters.as_ref().filter(|v| !v.is_null()) {
        a = a.fact("Request", compact(req));
    }
    if !c.also.is_empty() {
        a = a.fact("Also matched", c.also.join(", "));
    }
    if let Some(s) = output.and_then(|o| o.trail_status.as_ref()) {
        a = a.fact(
            "Trail status now",
            match s.is_logging {
                Some(true) => format!("{}: logging", s.trail),
                Some(false) => format!("{}: NOT logging", s.trail),
                None => format!("{}: not reported", s.trail),
            },
        );
    }
    a.actions = actions(plan);
    a.references = c.detection.references.clone();
    let mut evidence = serde_json::Map::new();
    for (k, v) in [
        ("requestParameters", &r.request_parameters),
        ("responseElements", &r.response_elements),
    ] {
        if let Some(v) = v.as_ref().filter(|v| !v.is_null()) {
            evidence.insert(k.into(), v.clone());
        }
    }
    if let Some(s) = output.and_then(|o| o.trail_status.as_ref()) {
        evidence.insert("trailStatus".into(), json!(s));
    }
    if !evidence.is_empty() {
        a.evidence = Some(Value::Object(evidence));
    }
    Report {
        alerts: vec![a],
        stats: Stats {
            changes: 1,
            logging_restarted: restarted,
            ..Stats::default()
        },
    }
}

fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// A resource as a subject shows it: the name at the end of an ARN or URL (a subscription's
/// topic).
fn short(resource: &str) -> &str {
    if resource.starts_with("arn:aws") && resource.contains(":sns:") {
        let parts: Vec<&str> = resource.split(':').collect();
        return parts.get(5).copied().unwrap_or(resource);
    }
    if resource.starts_with("arn:") || resource.starts_with("https://") {
        return resource
            .rsplit(['/', ':'])
            .find(|s| !s.is_empty())
            .unwrap_or(resource);
    }
    resource
}

/// A trail file as a subject shows it: its trail, region and time, from its name.
fn file_label(key: &str) -> String {
    let time = |s: &str| {
        let fmt = if s.len() == 16 {
            "%Y%m%dT%H%M%SZ"
        } else {
            "%Y%m%dT%H%MZ"
        };
        chrono::NaiveDateTime::parse_from_str(s, fmt)
            .map(|t| t.format("%Y-%m-%dT%H:%MZ").to_string())
            .unwrap_or_else(|_| s.to_string())
    };
    match trailwarden::s3key::classify(key) {
        trailwarden::s3key::TrailObject::Digest(d) => format!(
            "{} {} {}",
            d.name.trail,
            d.name.region,
            time(&d.name.timestamp)
        ),
        trailwarden::s3key::TrailObject::LogFile(l) => {
            format!("{} {}", l.name.region, time(&l.name.timestamp))
        }
        _ => file_name(key).to_string(),
    }
}

fn kind_word(k: FileKind) -> &'static str {
    match k {
        FileKind::Digest => "CloudTrail digest",
        FileKind::LogFile => "CloudTrail log file",
        FileKind::Unknown => "objects",
    }
}

fn how_text(t: &Touched) -> String {
    let uri = t.uri();
    match t.how {
        Touch::DeleteMarker => format!(
            "The bucket is versioned, so the deleted version is still there behind a delete \
             marker{}: restore it by deleting the marker (aws s3api delete-object --bucket {} \
             --key {} --version-id <the marker's version id>).",
            part(" (version ", t.version_id.as_deref(), ")"),
            t.bucket,
            t.key
        ),
        Touch::PermanentlyDeleted => format!(
            "It was deleted for good{}: no earlier version keeps it.",
            part(" (version ", t.version_id.as_deref(), " removed)")
        ),
        Touch::Deleted => format!("{uri} was deleted."),
        Touch::Written => "Someone other than CloudTrail wrote to this key: a replaced file no \
                           longer matches what CloudTrail signed, a new one was never \
                           delivered by CloudTrail."
            .to_string(),
        Touch::BulkDeleted => "DeleteObjects does not record which keys it deleted. S3 reports \
                               each deleted object to EventBridge (Object Deleted), and \
                               trailwarden re-checks each log file and digest among them."
            .to_string(),
    }
}

fn why_it_matters(k: FileKind) -> &'static str {
    match k {
        FileKind::Digest => {
            "A digest is CloudTrail's signed proof of the log files it delivered in an hour \
             and of the digest before it: without it, that hour's log files can no longer be \
             proven untouched, and the chain is broken."
        }
        FileKind::LogFile => {
            "A log file holds the API calls of a few minutes: removing or replacing it hides \
             them from whoever reads the trail later."
        }
        FileKind::Unknown => {
            "Deleting the trail's files removes the record of what was done in the account."
        }
    }
}

fn recheck_text(rc: &Recheck) -> String {
    let findings = rc.findings();
    let mut s = String::new();
    match rc.kind {
        FileKind::Digest => match rc.related.first() {
            Some(next) => s.push_str(&format!(
                "The next digest of its chain, {next}, was re-checked with log-integrity's \
                 chain check."
            )),
            None => s.push_str(
                "No later digest of its chain has been delivered yet; when it is (within the \
                 hour), log-integrity reports the missing predecessor.",
            ),
        },
        FileKind::LogFile => {
            if rc.related.is_empty() {
                s.push_str(
                    "No digest lists this file yet: either the digest of its hour is not \
                     delivered yet (log-integrity will find the file missing or changed when \
                     it is), or CloudTrail never delivered it.",
                );
            } else {
                s.push_str(&format!(
                    "It is listed in {}, re-checked with log-integrity's chain check.",
                    rc.related.join(", ")
                ));
            }
        }
        FileKind::Unknown => {}
    }
    if findings.is_empty() {
        s.push_str(" The re-check found nothing wrong.");
    } else {
        let list: Vec<String> = findings
            .iter()
            .map(|f| format!("{} ({}): {}", f.kind.label(), f.file, f.detail))
            .collect();
        s.push_str(&format!(
            " It found {} problem(s): {}.",
            findings.len(),
            list.join("; ")
        ));
    }
    s
}

fn objects(o: &Objects, plan: &Plan<Step>, output: Option<&Output>) -> Report<Stats> {
    let rechecks: &[Recheck] = output.map(|o| o.rechecks.as_slice()).unwrap_or_default();
    let found = rechecks
        .iter()
        .flat_map(|r| r.findings())
        .map(|f| f.severity)
        .max();
    let severity = o.severity.max(found.unwrap_or(Severity::Info));
    let written = o.touched.iter().all(|t| t.how == Touch::Written);
    let failed = o.touched.iter().all(|t| t.failed);
    let detection = if written { FILE_WRITTEN } else { FILE_DELETED };
    let first = &o.touched[0];
    let title = match (o.touched.len(), first.how, failed) {
        (_, _, true) => format!(
            "Attempt to {} {} {}",
            if written { "overwrite" } else { "delete" },
            kind_word(first.kind),
            if first.key.is_empty() {
                first.bucket.clone()
            } else {
                file_label(&first.key)
            }
        ),
        (1, Touch::BulkDeleted, _) => {
            format!(
                "Objects deleted from the trail bucket {} (DeleteObjects)",
                first.bucket
            )
        }
        (1, Touch::Written, _) => {
            format!(
                "{} written over: {}",
                kind_word(first.kind),
                file_label(&first.key)
            )
        }
        (1, _, _) => format!(
            "{} deleted: {}",
            kind_word(first.kind),
            file_label(&first.key)
        ),
        (n, _, _) => format!("{n} CloudTrail files deleted from {}", first.bucket),
    };

    let mut summary = String::new();
    for t in &o.touched {
        let by = t.by.as_deref().unwrap_or("An unrecorded principal");
        let verb = match (t.how, t.failed) {
            (Touch::Written, false) => "wrote",
            (Touch::Written, true) => "tried to write",
            (Touch::BulkDeleted, false) => "deleted objects (DeleteObjects) from",
            (Touch::BulkDeleted, true) => "tried to delete objects (DeleteObjects) from",
            (_, false) => "deleted",
            (_, true) => "tried to delete",
        };
        summary.push_str(&format!(
            "{by} {verb} {}{}{}. ",
            t.uri(),
            part(" from ", t.source_ip.as_deref(), ""),
            part(" at ", t.time.as_deref(), "")
        ));
        if t.failed {
            summary.push_str("The call failed: nothing changed, but someone tried. ");
        } else {
            summary.push_str(&how_text(t));
            summary.push(' ');
        }
    }
    summary.push_str(why_it_matters(first.kind));
    for rc in rechecks {
        summary.push_str("\n\n");
        summary.push_str(&format!("{}: {}", rc.file, recheck_text(rc)));
    }
    if let Some(s) = plan.iter().find(|s| s.status == Status::Failed) {
        summary.push_str(&format!(
            "\n\nThe re-check could not be completed ({}); Lambda retries it.",
            s.detail.as_deref().unwrap_or("no detail")
        ));
    }
    summary.push_str(
        "\n\nWhat to do: find out who made the call and treat that principal as compromised; \
         restore the file from its earlier version if the bucket keeps versions; protect the \
         trail bucket (S3 Object Lock, a bucket policy denying deletion, a log-archive \
         account).",
    );

    let mut a = Alert::new(severity, detection, title);
    if let Some(r) = &o.record {
        a = a.about(r);
    }
    if a.account.is_none() {
        a.account = o.account.clone();
    }
    if a.region.is_none() {
        a.region = o.region.clone();
    }
    a.summary = summary;
    let numbered = |label: &str, i: usize, n: usize| {
        if n > 1 {
            format!("{label} {}", i + 1)
        } else {
            label.to_string()
        }
    };
    for (i, t) in o.touched.iter().enumerate() {
        a = a.fact(numbered("File", i, o.touched.len()), t.uri());
        if let Some(by) = &t.by {
            a = a.fact(numbered("By", i, o.touched.len()), by.clone());
        }
    }
    for (i, rc) in rechecks.iter().enumerate() {
        a = a.fact(
            numbered("Re-check", i, rechecks.len()),
            format!(
                "{}: {} digest(s) checked, {} problem(s)",
                file_name(&rc.file),
                rc.checks.len(),
                rc.findings().len()
            ),
        );
    }
    a.actions = actions(plan);
    a.references = vec![
        "MITRE ATT&CK T1070: https://attack.mitre.org/techniques/T1070/".into(),
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html".into(),
    ];
    let findings: Vec<Value> = rechecks
        .iter()
        .flat_map(|r| r.findings())
        .map(|f| json!(f))
        .collect();
    a.evidence = Some(json!({
        "files": o.touched,
        "findings": findings,
        "checked": rechecks.iter().flat_map(|r| r.checks.iter().map(|c| c.file.clone())).collect::<Vec<_>>(),
    }));
    let stats = Stats {
        files_touched: o.touched.len(),
        digests_checked: rechecks.iter().map(|r| r.checks.len()).sum(),
        problems_found: rechecks.iter().map(|r| r.findings().len()).sum(),
        ..Stats::default()
    };
    Report {
        alerts: vec![a],
        stats,
    }
}

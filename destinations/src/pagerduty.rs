//! PagerDuty Events API v2: an alert as a `trigger` event (pure rendering; the HTTP call is
//! in [`crate::deliver`]).
//!
//! `dedup_key` is the alert's fingerprint ([`crate::identity::fingerprint`]): a Lambda retry
//! or a re-delivered event triggers the same incident again, which PagerDuty folds into the
//! open one instead of paging twice. Severities: critical → `critical`, high → `error`,
//! medium → `warning`, low and info → `info`. The routing key comes from Secrets Manager at
//! send time and is never logged (the body that carries it is never logged either).

use crate::identity;
use serde_json::{json, Map, Value};
use trailwarden::alert::truncate_marked;
use trailwarden::{Alert, Severity};

/// PagerDuty's severity for an alert's.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "info",
    }
}

/// The event, with the routing key in place.
pub fn event(alert: &Alert, routing_key: &str) -> Value {
    let mut details = Map::new();
    details.insert("detection".into(), json!(alert.detection));
    details.insert("severity".into(), json!(alert.severity.as_str()));
    details.insert(
        "summary".into(),
        json!(truncate_marked(alert.summary.trim(), 4000)),
    );
    if let Some(a) = &alert.account {
        details.insert("account".into(), json!(a));
    }
    if let Some(a) = &alert.account_alias {
        details.insert("account_alias".into(), json!(a));
    }
    if let Some(r) = &alert.region {
        details.insert("region".into(), json!(r));
    }
    if let Some(e) = &alert.event {
        for (k, v) in [
            ("event", &e.event_name),
            ("event_source", &e.event_source),
            ("event_time", &e.event_time),
            ("event_id", &e.event_id),
            ("actor", &e.actor),
            ("source_ip", &e.source_ip),
        ] {
            if let Some(v) = v {
                details.insert(k.into(), json!(truncate_marked(v, 512)));
            }
        }
    }
    for (k, v) in alert.facts.iter().take(30) {
        details
            .entry(k.clone())
            .or_insert_with(|| json!(truncate_marked(v, 1024)));
    }
    if !alert.actions.is_empty() {
        let steps: Vec<String> = alert
            .actions
            .iter()
            .take(50)
            .map(|a| {
                let mut s = format!("{} {}: {}", a.step, a.target, a.status.as_str());
                if let Some(d) = &a.detail {
                    s.push_str(&format!(" ({})", truncate_marked(d, 300)));
                }
                s
            })
            .collect();
        details.insert("response".into(), json!(steps));
    }
    details.insert("dry_run".into(), json!(alert.dry_run));
    let source = match (&alert.account_alias, &alert.account, &alert.region) {
        (Some(al), Some(a), Some(r)) => format!("{al} ({a}) {r}"),
        (None, Some(a), Some(r)) => format!("{a} {r}"),
        (_, Some(a), None) => a.clone(),
        (Some(al), None, _) => al.clone(),
        (None, None, Some(r)) => r.clone(),
        (None, None, None) => "aws".into(),
    };
    let mut payload = json!({
        "summary": truncate_marked(&alert.subject(), 1024),
        "source": source,
        "severity": severity(alert.severity),
        "component": alert.event.as_ref().and_then(|e| e.event_source.clone()).unwrap_or_else(|| "cloudtrail".into()),
        "group": alert.account.clone().unwrap_or_else(|| "unknown-account".into()),
        "class": alert.detection,
        "custom_details": details,
    });
    if let Some(t) = alert
        .event
        .as_ref()
        .and_then(|e| e.event_time.clone())
        .filter(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
    {
        payload["timestamp"] = json!(t);
    }
    let mut ev = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": identity::fingerprint(alert),
        "payload": payload,
        "client": "trailwarden",
    });
    if let Some(url) = alert.event.as_ref().and_then(|e| e.console_url.clone()) {
        ev["links"] = json!([{"href": url, "text": "CloudTrail event"}]);
    }
    ev
}

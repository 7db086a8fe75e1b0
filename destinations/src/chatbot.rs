//! Slack and Microsoft Teams through AWS Chatbot (Amazon Q Developer in chat applications):
//! an alert as a *custom notification*, published to an SNS topic the chat channel
//! configuration is subscribed to (pure rendering; [`crate::deliver`] publishes).
//!
//! The schema: `version` `"1.0"`, `source` `"custom"`, `id`, `content` (`textType`
//! `"client-markdown"`, `title`, `description`, `nextSteps`, `keywords`) and `metadata`
//! (`threadId`, `summary`, `eventType`, `relatedResources`, `additionalContext`). The
//! markdown stays basic (bold, bullets, plain links) so that Slack and Teams render it alike;
//! every part is bounded so a large alert (evidence, many rules) still makes a readable
//! message.

use crate::identity::{self, Resource};
use serde_json::{json, Map, Value};
use trailwarden::alert::{part, truncate_marked, Status};
use trailwarden::{Alert, Severity};

/// Longest title.
pub const MAX_TITLE: usize = 250;
/// Longest description (a chat message, not a report: the full text is in the e-mail and
/// the finding).
pub const MAX_DESCRIPTION: usize = 3500;
/// Most next steps, keywords, related resources.
pub const MAX_NEXT_STEPS: usize = 5;
pub const MAX_KEYWORDS: usize = 8;
pub const MAX_RELATED: usize = 5;
/// Most facts shown.
pub const MAX_FACTS: usize = 10;
/// Most response steps listed one by one.
pub const MAX_STEPS: usize = 12;

fn marker(s: Severity) -> &'static str {
    match s {
        Severity::Critical => ":rotating_light:",
        Severity::High => ":red_circle:",
        Severity::Medium => ":large_orange_circle:",
        Severity::Low => ":large_yellow_circle:",
        Severity::Info => ":information_source:",
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Done => "done",
        Status::AlreadyDone => "already done",
        Status::Planned => "planned, not executed",
        Status::Skipped => "skipped",
        Status::Failed => "*FAILED*",
    }
}

/// Cuts to `max` characters (not bytes) with a visible marker.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let keep: String = s.chars().take(max.saturating_sub(3)).collect();
    format!("{}...", keep.trim_end())
}

/// One line: no line breaks inside a bullet.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn where_line(a: &Alert) -> String {
    let account = match (&a.account_alias, &a.account) {
        (Some(al), Some(id)) => format!("{al} ({id})"),
        (Some(al), None) => al.clone(),
        (None, Some(id)) => id.clone(),
        (None, None) => "unknown account".into(),
    };
    match &a.region {
        Some(r) => format!("{account}, {r}"),
        None => account,
    }
}

/// The description: what happened, who, where, what was done, in basic markdown.
fn description(a: &Alert) -> String {
    let mut d = String::new();
    if a.dry_run {
        d.push_str("*DRY RUN: nothing was changed.*\n\n");
    }
    if !a.summary.is_empty() {
        d.push_str(&truncate_marked(a.summary.trim(), 1200));
        d.push_str("\n\n");
    }
    d.push_str(&format!(
        "*Severity:* {}    *Detection:* `{}`\n*Where:* {}\n",
        a.severity.as_str().to_ascii_uppercase(),
        a.detection,
        where_line(a)
    ));
    if let Some(e) = &a.event {
        if let Some(who) = &e.actor {
            let kind = part(" (", e.actor_kind.as_deref(), ")");
            let from = part(" from ", e.source_ip.as_deref(), "");
            d.push_str(&format!("*Who:* {}{kind}{from}\n", one_line(who)));
        }
        if let (Some(name), Some(src)) = (&e.event_name, &e.event_source) {
            let when = part(" at ", e.event_time.as_deref(), "");
            let failed = part(" (failed: ", e.error_code.as_deref(), ")");
            d.push_str(&format!("*Event:* {name} ({src}){when}{failed}\n"));
        }
    }
    if !a.facts.is_empty() {
        d.push('\n');
        for (k, v) in a.facts.iter().take(MAX_FACTS) {
            d.push_str(&format!(
                "• *{}:* {}\n",
                one_line(k),
                cut(&one_line(v), 300)
            ));
        }
        if a.facts.len() > MAX_FACTS {
            d.push_str(&format!(
                "• ... and {} more details in the e-mail and the Security Hub finding\n",
                a.facts.len() - MAX_FACTS
            ));
        }
    }
    if !a.actions.is_empty() {
        d.push_str("\n*Response*\n");
        for x in a.actions.iter().take(MAX_STEPS) {
            d.push_str(&format!(
                "• {} {}: {}",
                one_line(&x.step),
                cut(&one_line(&x.target), 160),
                status_word(x.status)
            ));
            if let Some(detail) = &x.detail {
                d.push_str(&format!(" ({})", cut(&one_line(detail), 200)));
            }
            d.push('\n');
        }
        if a.actions.len() > MAX_STEPS {
            let failed = a.actions[MAX_STEPS..]
                .iter()
                .filter(|x| x.status == Status::Failed)
                .count();
            d.push_str(&format!(
                "• ... and {} more steps ({failed} failed)\n",
                a.actions.len() - MAX_STEPS
            ));
        }
    }
    if let Some(url) = a.event.as_ref().and_then(|e| e.console_url.as_deref()) {
        d.push_str(&format!("\nCloudTrail event: {url}\n"));
    }
    cut(d.trim_end(), MAX_DESCRIPTION)
}

/// What a person should do next: failed steps first, then the dry-run note, then the
/// detection's runbook (catalog detections), then where to look.
fn next_steps(a: &Alert) -> Vec<String> {
    let mut out = Vec::new();
    let failed: Vec<&trailwarden::Action> = a
        .actions
        .iter()
        .filter(|x| x.status == Status::Failed)
        .collect();
    if !failed.is_empty() {
        let names: Vec<String> = failed
            .iter()
            .take(3)
            .map(|x| format!("{} {}", x.step, x.target))
            .collect();
        out.push(cut(
            &format!(
                "{} response step(s) failed ({}): Lambda retries the event; if it keeps failing, finish by hand and check the function's permissions.",
                failed.len(),
                names.join("; ")
            ),
            300,
        ));
    }
    if a.dry_run && a.actions.iter().any(|x| x.status == Status::Planned) {
        out.push(
            "Dry run: the planned steps were not executed; carry them out by hand if this is not expected, or turn DryRun off."
                .into(),
        );
    }
    // The detection's runbook, else the "What to do:" part of the function's own summary.
    let runbook = identity::runbook(a).or_else(|| {
        a.summary
            .split_once("What to do:")
            .map(|(_, r)| r.split("\n\n").next().unwrap_or(r).trim().to_string())
            .filter(|r| !r.is_empty())
    });
    if let Some(r) = runbook {
        for sentence in r.split(". ").map(str::trim).filter(|s| !s.is_empty()) {
            if out.len() >= MAX_NEXT_STEPS - 1 {
                break;
            }
            let s = sentence.trim_end_matches('.');
            let mut c = s.chars();
            let s: String = c.next().map_or(String::new(), |f| {
                f.to_uppercase().chain(c).collect::<String>()
            });
            out.push(cut(&format!("{s}."), 300));
        }
    }
    if out.is_empty() && a.severity >= Severity::Medium {
        let who = a.event.as_ref().is_some_and(|e| e.actor.is_some());
        out.push(if who {
            "Check with the person or team named under Who whether this was expected; if not, treat it as an incident."
                .into()
        } else {
            "Check whether this was expected; if not, treat it as an incident.".into()
        });
    }
    if let Some(url) = a.event.as_ref().and_then(|e| e.console_url.as_deref()) {
        out.push(format!("Review the event in CloudTrail: {url}"));
    }
    out.truncate(MAX_NEXT_STEPS);
    out
}

fn keywords(a: &Alert) -> Vec<String> {
    let mut k = vec![a.severity.as_str().to_string(), a.detection.clone()];
    if let Some(al) = &a.account_alias {
        k.push(al.clone());
    }
    if let Some(acct) = &a.account {
        k.push(acct.clone());
    }
    if let Some(r) = &a.region {
        k.push(r.clone());
    }
    if let Some(e) = a.event.as_ref().and_then(|e| e.event_name.clone()) {
        k.push(e);
    }
    if a.dry_run {
        k.push("dry-run".into());
    }
    if a.has_failures() {
        k.push("response-failed".into());
    }
    let mut out: Vec<String> = Vec::new();
    for w in k {
        let w = cut(&one_line(&w), 60);
        if !w.is_empty() && !out.contains(&w) {
            out.push(w);
        }
    }
    out.truncate(MAX_KEYWORDS);
    out
}

fn related(resources: &[Resource]) -> Vec<String> {
    resources
        .iter()
        .filter(|r| r.kind != "Other")
        .map(|r| r.id.clone())
        .take(MAX_RELATED)
        .collect()
}

/// Text the chat client must show as it is: values in alerts come from whoever made the call
/// (a security group's description, a user agent, a user name), and in a chat channel
/// `<!here>` pings everyone, `<https://x|text>` and `[text](https://x)` are links that read as
/// trailwarden's own words. Angle brackets become look-alike quotation marks and a markdown
/// link loses its form (`[text] (url)`); trailwarden's own markup (bold, bullets, code,
/// plain links) uses neither.
fn defang(s: &str) -> String {
    s.replace('<', "\u{2039}")
        .replace('>', "\u{203a}")
        .replace("](", "] (")
}

/// The custom notification for an alert.
pub fn notification(a: &Alert) -> Value {
    let mut title = format!("{} {}", marker(a.severity), a.subject());
    if a.has_failures() {
        title.push_str(" - response step FAILED");
    }
    let mut context = Map::new();
    context.insert("severity".into(), json!(a.severity.as_str()));
    context.insert("detection".into(), json!(a.detection));
    if let Some(acct) = &a.account {
        context.insert("account".into(), json!(acct));
    }
    if let Some(r) = &a.region {
        context.insert("region".into(), json!(r));
    }
    context.insert("dryRun".into(), json!(a.dry_run.to_string()));
    json!({
        "version": "1.0",
        "source": "custom",
        "id": identity::fingerprint(a),
        "content": {
            "textType": "client-markdown",
            "title": defang(&cut(&title, MAX_TITLE)),
            "description": defang(&description(a)),
            "nextSteps": next_steps(a).iter().map(|s| defang(s)).collect::<Vec<_>>(),
            "keywords": keywords(a),
        },
        "metadata": {
            "threadId": identity::thread_id(a),
            "summary": cut(&a.subject(), MAX_TITLE),
            "eventType": a.detection,
            "relatedResources": related(&identity::resources(a)),
            "additionalContext": context,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_the_call_cannot_ping_the_channel_or_pose_as_links() {
        let a = Alert::new(
            Severity::High,
            "ec2-world-open-ingress",
            "World-open rule on sg-1",
        )
        .fact(
            "Group description",
            "[CHG-4411 approved, no action needed](https://evil.example/ack) <!here>",
        )
        .fact(
            "User agent",
            "terraform/1.7 <https://evil.example|see ticket>",
        );
        let n = notification(&a);
        let d = n["content"]["description"].as_str().unwrap();
        assert!(
            !d.contains("<!here>") && !d.contains('<') && !d.contains('>'),
            "{d}"
        );
        assert!(!d.contains("](https://evil"), "{d}");
        // Still readable.
        assert!(
            d.contains("[CHG-4411 approved, no action needed] (https://evil.example/ack)"),
            "{d}"
        );
        assert!(d.contains("\u{2039}!here\u{203a}"), "{d}");
    }
}

//! One alert model for every function, and its SNS rendering.
//!
//! A rendered alert is one SNS publish with `MessageStructure=json`: e-mail subscribers get
//! readable text, every other protocol (SQS, Lambda, HTTPS) gets the JSON document. Message
//! attributes `severity`, `detection`, `account` and `region` let subscribers filter.

use crate::event::Record;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt::{self, Write as _};
use std::str::FromStr;

/// Alert severity, ordered from least to most urgent.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
    /// One step less urgent (`info` stays `info`).
    pub fn lower(self) -> Severity {
        match self {
            Severity::Critical => Severity::High,
            Severity::High => Severity::Medium,
            Severity::Medium => Severity::Low,
            Severity::Low | Severity::Info => Severity::Info,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("{s:?} is not a severity (accepted: info, low, medium, high, critical)")
            })
    }
}

/// What happened to one response step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The step changed something.
    Done,
    /// Nothing needed doing (already gone, already in place).
    AlreadyDone,
    /// Dry run or notify mode: the step would run.
    Planned,
    /// Deliberately not done (exempt, not applicable); `detail` says why.
    Skipped,
    /// The step failed; `detail` has the error.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::AlreadyDone => "already done",
            Status::Planned => "planned (not executed)",
            Status::Skipped => "skipped",
            Status::Failed => "FAILED",
        }
    }
}

/// One response step and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub step: String,
    pub target: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Action {
    pub fn new(step: impl Into<String>, target: impl Into<String>, status: Status) -> Self {
        Action {
            step: step.into(),
            target: target.into(),
            status,
            detail: None,
        }
    }
    pub fn with_detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
}

/// The event an alert is about: who, what, when, where.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventContext {
    pub event_name: Option<String>,
    pub event_source: Option<String>,
    pub event_time: Option<String>,
    pub event_id: Option<String>,
    pub actor: Option<String>,
    pub actor_kind: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    pub console_url: Option<String>,
}

impl EventContext {
    pub fn from_record(r: &Record) -> Self {
        let p = r.principal();
        EventContext {
            event_name: r.event_name.clone(),
            event_source: r.event_source.clone(),
            event_time: r.event_time.clone(),
            event_id: r.event_id.clone(),
            actor: Some(p.display()),
            actor_kind: Some(p.kind().to_string()),
            source_ip: r.source_ip_address.clone(),
            user_agent: r.user_agent.clone(),
            error_code: r.error_code.clone(),
            console_url: r.console_url(),
        }
    }
}

/// An alert, as every function produces it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub severity: Severity,
    /// Detection id, e.g. `iam-unapproved-user` or `cis-4.3-root-usage`.
    pub detection: String,
    /// One line: what happened.
    pub title: String,
    /// A few sentences: why this matters and what was decided.
    pub summary: String,
    pub account: Option<String>,
    pub account_alias: Option<String>,
    pub region: Option<String>,
    /// The event (absent for alerts about files, such as integrity findings).
    pub event: Option<EventContext>,
    /// Further facts as label/value pairs, in display order.
    pub facts: Vec<(String, String)>,
    /// Response steps and their outcomes.
    pub actions: Vec<Action>,
    /// Evidence captured before acting (bounded when rendered).
    pub evidence: Option<Value>,
    /// References (CIS control, MITRE technique, documentation).
    pub references: Vec<String>,
    pub dry_run: bool,
}

impl Alert {
    pub fn new(severity: Severity, detection: impl Into<String>, title: impl Into<String>) -> Self {
        Alert {
            severity,
            detection: detection.into(),
            title: title.into(),
            ..Default::default()
        }
    }

    /// Fills account, region and event context from a record.
    pub fn about(mut self, r: &Record) -> Self {
        self.account = r.account_id().map(str::to_string);
        self.region = r.aws_region.clone();
        self.event = Some(EventContext::from_record(r));
        self
    }

    /// Adds a fact (`label`: `value`), after the others.
    pub fn fact(mut self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.facts.push((label.into(), value.into()));
        self
    }

    /// After a list of `total` items of which the facts name only the first `listed`: a fact
    /// saying how many more there are (`label`: `more(n)`, for `n` more); none when every item
    /// was listed.
    pub fn fact_unlisted(
        self,
        label: &str,
        total: usize,
        listed: usize,
        more: impl FnOnce(usize) -> String,
    ) -> Self {
        match total.checked_sub(listed) {
            Some(n) if n > 0 => self.fact(label, more(n)),
            _ => self,
        }
    }

    /// True when any response step failed.
    pub fn has_failures(&self) -> bool {
        self.actions.iter().any(|a| a.status == Status::Failed)
    }
}

/// Largest message SNS accepts (256 KiB), less room for attributes and the subject.
pub const MAX_MESSAGE_BYTES: usize = 262_144 - 8_192;
/// SNS subjects must be under 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// An alert ready for `sns:Publish` with `MessageStructure=json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    /// The `Message` parameter: `{"default": <json body>, "email": <text>}`.
    pub message: String,
    /// The readable text (also inside `message`).
    pub text: String,
    /// The machine body (also inside `message`).
    pub json: Value,
    /// String message attributes for subscription filter policies.
    pub attributes: Vec<(&'static str, String)>,
}

/// Makes any string a valid SNS subject: printable ASCII only, whitespace folded, under 100
/// characters (cut with `...`), never empty.
pub fn sanitize_subject(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(128));
    let mut last_space = true;
    for c in s.chars() {
        let c = if c.is_ascii_graphic() {
            c
        } else if c.is_whitespace() || c.is_control() {
            ' '
        } else {
            '?'
        };
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        out.push(c);
        if out.len() > MAX_SUBJECT_CHARS + 1 {
            break;
        }
    }
    let mut out = out.trim_end().to_string();
    if out.len() > MAX_SUBJECT_CHARS {
        out.truncate(MAX_SUBJECT_CHARS - 3);
        out = out.trim_end().to_string();
        out.push_str("...");
    }
    if out.is_empty() {
        out.push_str("trailwarden alert");
    }
    out
}

/// An optional part of an alert's line: `before`, the value and `after` when there is a value
/// (`part(" from ", Some("203.0.113.7"), "")`), nothing when there is none.
pub fn part(before: &str, value: Option<&str>, after: &str) -> String {
    value.map_or_else(String::new, |v| format!("{before}{v}{after}"))
}

/// Cuts `s` to at most `max` bytes on a character boundary, with a visible marker.
pub fn truncate_marked(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let marker = format!(" [... trimmed {} bytes]", s.len());
    let keep = max.saturating_sub(marker.len());
    let mut end = keep.min(s.len());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", &s[..end])
}

fn attr_value(v: Option<&str>) -> String {
    // SNS rejects empty attribute values, and filter policies match on exact strings: drop
    // control characters first, then whitespace at the ends, and say "unknown" when nothing
    // is left.
    let cleaned: String = v
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(256)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "unknown".into()
    } else {
        cleaned.to_string()
    }
}

impl Alert {
    /// The subject line: `[SEVERITY] title (alias account)`.
    pub fn subject(&self) -> String {
        let mut s = format!("[{}] ", self.severity.as_str().to_ascii_uppercase());
        if self.dry_run {
            s.push_str("[dry-run] ");
        }
        s.push_str(&self.title);
        match (&self.account_alias, &self.account) {
            (Some(alias), Some(acct)) => {
                let _ = write!(s, " ({alias} {acct})");
            }
            (Some(alias), None) => {
                let _ = write!(s, " ({alias})");
            }
            (None, Some(acct)) => {
                let _ = write!(s, " ({acct})");
            }
            (None, None) => {}
        }
        sanitize_subject(&s)
    }

    /// The readable e-mail body.
    pub fn text(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "{}", self.title);
        let _ = writeln!(
            t,
            "Severity: {}    Detection: {}{}",
            self.severity.as_str().to_ascii_uppercase(),
            self.detection,
            if self.dry_run {
                "    DRY RUN: nothing was changed"
            } else {
                ""
            }
        );
        if !self.summary.is_empty() {
            let _ = writeln!(t, "\n{}", self.summary);
        }
        let _ = writeln!(t, "\nWhere");
        let acct = match (&self.account, &self.account_alias) {
            (Some(a), Some(al)) => format!("{a} ({al})"),
            (Some(a), None) => a.clone(),
            (None, Some(al)) => al.clone(),
            (None, None) => "unknown".into(),
        };
        let _ = writeln!(t, "  Account:     {acct}");
        let _ = writeln!(
            t,
            "  Region:      {}",
            self.region.as_deref().unwrap_or("unknown")
        );
        if let Some(e) = &self.event {
            let _ = writeln!(t, "\nEvent");
            let rows = [
                ("Who", &e.actor),
                ("Principal", &e.actor_kind),
                ("Event", &e.event_name),
                ("Service", &e.event_source),
                ("When", &e.event_time),
                ("Source IP", &e.source_ip),
                ("User agent", &e.user_agent),
                ("Error", &e.error_code),
                ("Event ID", &e.event_id),
                ("Console", &e.console_url),
            ];
            for (label, v) in rows {
                if let Some(v) = v {
                    let _ = writeln!(t, "  {label:<12} {v}");
                }
            }
        }
        if !self.facts.is_empty() {
            let _ = writeln!(t, "\nDetails");
            for (k, v) in &self.facts {
                let _ = writeln!(t, "  {k}: {v}");
            }
        }
        if !self.actions.is_empty() {
            let _ = writeln!(t, "\nResponse");
            for a in &self.actions {
                let _ = write!(t, "  - {} {}: {}", a.step, a.target, a.status.as_str());
                if let Some(d) = &a.detail {
                    let _ = write!(t, " ({d})");
                }
                t.push('\n');
            }
        }
        if let Some(ev) = &self.evidence {
            let _ = writeln!(t, "\nEvidence");
            let pretty = serde_json::to_string_pretty(ev).unwrap_or_default();
            for line in pretty.lines() {
                let _ = writeln!(t, "  {line}");
            }
        }
        if !self.references.is_empty() {
            let _ = writeln!(t, "\nReferences");
            for r in &self.references {
                let _ = writeln!(t, "  - {r}");
            }
        }
        let _ = writeln!(t, "\n-- trailwarden");
        t
    }

    /// The machine body.
    pub fn json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        if let Value::Object(m) = &mut v {
            m.insert("schema".into(), json!("trailwarden.alert/v1"));
            m.insert("subject".into(), json!(self.subject()));
            m.insert(
                "facts".into(),
                Value::Object(
                    self.facts
                        .iter()
                        .map(|(k, v)| (k.clone(), json!(v)))
                        .collect(),
                ),
            );
        }
        v
    }

    /// [`Alert::render`], and the one log line every alert gets (its JSON included), whatever
    /// its destinations make of it.
    pub fn render_logged(&self) -> Rendered {
        let rendered = self.render();
        tracing::info!(
            severity = self.severity.as_str(),
            detection = %self.detection,
            subject = %rendered.subject,
            alert = %rendered.json,
            "alert"
        );
        rendered
    }

    /// Renders for SNS, trimming the largest parts (with a visible marker) until the message
    /// fits SNS's size limit.
    pub fn render(&self) -> Rendered {
        let mut a = self.clone();
        // Each round halves the largest trimmable part; sizes shrink geometrically, so this
        // ends quickly whatever the input.
        for _ in 0..64 {
            let r = a.render_once();
            if r.message.len() <= MAX_MESSAGE_BYTES {
                return r;
            }
            if !a.shrink_largest_part() {
                break;
            }
        }
        // Last resort: nothing left to trim piecewise; cut every part to a fixed size, so the
        // total is bounded whatever the input (ids and labels can come from user files).
        a.evidence = Some(json!("[trimmed: evidence too large for SNS]"));
        a.detection = truncate_marked(&a.detection, 128);
        a.account = a.account.as_deref().map(|s| truncate_marked(s, 64));
        a.account_alias = a.account_alias.as_deref().map(|s| truncate_marked(s, 64));
        a.region = a.region.as_deref().map(|s| truncate_marked(s, 64));
        a.facts.truncate(20);
        for (k, v) in &mut a.facts {
            *k = truncate_marked(k, 128);
            *v = truncate_marked(v, 512);
        }
        a.actions.truncate(50);
        for x in &mut a.actions {
            x.step = truncate_marked(&x.step, 128);
            x.detail = x.detail.as_deref().map(|d| truncate_marked(d, 256));
            x.target = truncate_marked(&x.target, 256);
        }
        a.summary = truncate_marked(&a.summary, 4096);
        a.title = truncate_marked(&a.title, 512);
        a.references.truncate(10);
        for r in &mut a.references {
            *r = truncate_marked(r, 256);
        }
        if let Some(e) = &mut a.event {
            for f in [
                &mut e.user_agent,
                &mut e.actor,
                &mut e.event_name,
                &mut e.source_ip,
                &mut e.event_id,
                &mut e.event_source,
                &mut e.error_code,
                &mut e.event_time,
                &mut e.console_url,
                &mut e.actor_kind,
            ]
            .into_iter()
            .flatten()
            {
                *f = truncate_marked(f, 512);
            }
        }
        a.render_once()
    }

    fn render_once(&self) -> Rendered {
        let text = self.text();
        let body = self.json();
        let message = json!({
            "default": serde_json::to_string(&body).unwrap_or_default(),
            "email": text,
        })
        .to_string();
        Rendered {
            subject: self.subject(),
            message,
            text,
            json: body,
            attributes: vec![
                ("severity", self.severity.as_str().to_string()),
                ("detection", attr_value(Some(&self.detection))),
                ("account", attr_value(self.account.as_deref())),
                ("region", attr_value(self.region.as_deref())),
            ],
        }
    }

    /// Halves the largest trimmable part. Returns false when nothing is worth trimming.
    fn shrink_largest_part(&mut self) -> bool {
        let evidence_len = self
            .evidence
            .as_ref()
            .map(|e| e.to_string().len())
            .unwrap_or(0);
        let mut best: (usize, &str, usize) = (evidence_len, "evidence", 0);
        let mut consider = |len: usize, what: &'static str, i: usize| {
            if len > best.0 {
                best = (len, what, i);
            }
        };
        consider(self.summary.len(), "summary", 0);
        consider(self.title.len(), "title", 0);
        for (i, (_, v)) in self.facts.iter().enumerate() {
            consider(v.len(), "fact", i);
        }
        for (i, a) in self.actions.iter().enumerate() {
            consider(a.detail.as_ref().map_or(0, String::len), "detail", i);
            consider(a.target.len(), "target", i);
        }
        if let Some(e) = &self.event {
            consider(
                e.user_agent.as_ref().map_or(0, String::len),
                "user_agent",
                0,
            );
            consider(e.actor.as_ref().map_or(0, String::len), "actor", 0);
        }
        let (len, what, i) = best;
        if len < 256 {
            return false;
        }
        let half = len / 2;
        match what {
            "evidence" => {
                let s = self
                    .evidence
                    .as_ref()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                self.evidence = Some(json!({
                    "trimmed": format!("evidence was {} bytes; first part follows", s.len()),
                    "excerpt": truncate_marked(&s, half),
                }));
            }
            "summary" => self.summary = truncate_marked(&self.summary, half),
            "title" => self.title = truncate_marked(&self.title, half),
            "fact" => self.facts[i].1 = truncate_marked(&self.facts[i].1, half),
            "detail" => {
                let d = self.actions[i].detail.take().unwrap_or_default();
                self.actions[i].detail = Some(truncate_marked(&d, half));
            }
            "target" => self.actions[i].target = truncate_marked(&self.actions[i].target, half),
            "user_agent" | "actor" => {
                if let Some(e) = &mut self.event {
                    let f = if what == "actor" {
                        &mut e.actor
                    } else {
                        &mut e.user_agent
                    };
                    *f = f.as_deref().map(|s| truncate_marked(s, half));
                }
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_parses_and_orders() {
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Info < Severity::Low);
        let e = "urgent".parse::<Severity>().unwrap_err();
        assert!(e.contains("info, low, medium, high, critical"));
        assert_eq!(Severity::Critical.lower(), Severity::High);
        assert_eq!(Severity::Info.lower(), Severity::Info);
    }

    #[test]
    fn subject_is_ascii_short_and_clean_whatever_the_input() {
        let mut a = Alert::new(
            Severity::Critical,
            "x",
            "Root\nsign-in\t\u{0007} from 東京 ✓ ".repeat(20),
        );
        a.account = Some("111122223333".into());
        let s = a.subject();
        assert!(s.len() < 100, "{} chars", s.len());
        assert!(s.is_ascii());
        assert!(!s.chars().any(|c| c.is_control()));
        assert!(
            s.starts_with("[CRITICAL] Root sign-in from ?? ? Root sign-in"),
            "{s}"
        );
        assert!(s.ends_with("..."));
        assert_eq!(sanitize_subject("\n\n\t"), "trailwarden alert");
    }

    #[test]
    fn fact_unlisted_says_how_many_more_only_when_some_were_left_out() {
        let more = |n: usize| format!("{n} more");
        let a = Alert::new(Severity::Low, "d", "t")
            .fact_unlisted("More", 3, 3, more)
            .fact_unlisted("More", 2, 5, more)
            .fact_unlisted("More", 7, 5, more);
        assert_eq!(a.facts, vec![("More".to_string(), "2 more".to_string())]);
    }

    #[test]
    fn subject_names_alias_and_account() {
        let mut a = Alert::new(Severity::High, "d", "Root API call");
        a.account = Some("111122223333".into());
        a.account_alias = Some("prod-payments".into());
        assert_eq!(
            a.subject(),
            "[HIGH] Root API call (prod-payments 111122223333)"
        );
    }

    #[test]
    fn render_has_text_json_and_filterable_attributes() {
        let mut a = Alert::new(Severity::High, "iam-unapproved-user", "User removed");
        a.region = Some("us-east-1".into());
        a.actions
            .push(Action::new("DeleteUser", "mallory", Status::Failed).with_detail("Throttling"));
        let r = a.render();
        let outer: Value = serde_json::from_str(&r.message).unwrap();
        assert!(outer["email"]
            .as_str()
            .unwrap()
            .contains("DeleteUser mallory: FAILED (Throttling)"));
        let body: Value = serde_json::from_str(outer["default"].as_str().unwrap()).unwrap();
        assert_eq!(body["severity"], "high");
        assert_eq!(body["actions"][0]["status"], "failed");
        assert_eq!(
            r.attributes,
            vec![
                ("severity", "high".to_string()),
                ("detection", "iam-unapproved-user".to_string()),
                ("account", "unknown".to_string()),
                ("region", "us-east-1".to_string()),
            ]
        );
    }

    #[test]
    fn oversized_alerts_are_trimmed_with_a_marker_not_rejected() {
        let mut a = Alert::new(Severity::Low, "d", "big");
        a.evidence = Some(json!({"policy": "x".repeat(600_000)}));
        a.facts.push(("huge".into(), "é".repeat(200_000)));
        for i in 0..2000 {
            a.actions.push(
                Action::new("Step", format!("t{i}"), Status::Done).with_detail("d".repeat(300)),
            );
        }
        let r = a.render();
        assert!(r.message.len() <= MAX_MESSAGE_BYTES, "{}", r.message.len());
        assert!(r.text.contains("trimmed"));
        serde_json::from_str::<Value>(&r.message).unwrap();
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        let s = "ééééé";
        let t = truncate_marked(s, 3);
        assert!(t.contains("trimmed"));
        assert_eq!(truncate_marked("abc", 10), "abc");
    }

    #[test]
    fn an_absent_part_leaves_nothing_behind() {
        assert_eq!(part(" from ", Some("203.0.113.7"), ""), " from 203.0.113.7");
        assert_eq!(part(" (", Some("IAMUser"), ")"), " (IAMUser)");
        assert_eq!(part(" (", None, ")"), "");
    }
}

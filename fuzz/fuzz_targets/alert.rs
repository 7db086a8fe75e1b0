//! Alert rendering: arbitrary strings (amplified up to megabytes) in every field of an alert.
//!
//! Oracles: the subject is printable ASCII, under 100 characters and never empty; the SNS
//! message is at most `MAX_MESSAGE_BYTES` and is JSON whose `default` is the JSON body and
//! whose `email` is the text; message attributes are non-empty and free of control
//! characters.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use trailwarden::alert::{Action, Alert, EventContext, Severity, Status, MAX_MESSAGE_BYTES};
use trailwarden_fuzz::valid_subject;

/// A string and how many times to repeat it (so small inputs reach SNS's size limit).
#[derive(Arbitrary, Debug)]
struct Big(String, u16);

impl Big {
    fn get(&self) -> String {
        let times = if self.0.len() * self.1 as usize > (1 << 20) {
            1
        } else {
            self.1 as usize
        };
        self.0.repeat(times.max(1))
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    severity: u8,
    dry_run: bool,
    detection: Big,
    title: Big,
    summary: Big,
    account: Option<String>,
    alias: Option<String>,
    region: Option<String>,
    event: Option<[Option<Big>; 10]>,
    facts: Vec<(String, Big)>,
    actions: Vec<(String, Big, u8, Option<Big>)>,
    evidence: Option<(Big, u16)>,
    references: Vec<String>,
}

fuzz_target!(|input: Input| {
    let mut a = Alert::new(
        Severity::ALL[input.severity as usize % 5],
        input.detection.get(),
        input.title.get(),
    );
    a.dry_run = input.dry_run;
    a.summary = input.summary.get();
    a.account = input.account;
    a.account_alias = input.alias;
    a.region = input.region;
    if let Some(e) = input.event {
        let [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9] = e.map(|b| b.map(|b| b.get()));
        a.event = Some(EventContext {
            event_name: a0,
            event_source: a1,
            event_time: a2,
            event_id: a3,
            actor: a4,
            actor_kind: a5,
            source_ip: a6,
            user_agent: a7,
            error_code: a8,
            console_url: a9,
        });
    }
    a.facts = input.facts.into_iter().map(|(k, v)| (k, v.get())).collect();
    let statuses = [
        Status::Done,
        Status::AlreadyDone,
        Status::Planned,
        Status::Skipped,
        Status::Failed,
    ];
    a.actions = input
        .actions
        .into_iter()
        .map(|(step, target, s, detail)| Action {
            step,
            target: target.get(),
            status: statuses[s as usize % 5],
            detail: detail.map(|d| d.get()),
        })
        .collect();
    a.evidence = input.evidence.map(|(b, n)| {
        let s = b.get();
        Value::Array((0..n.min(512)).map(|_| Value::String(s.clone())).collect())
    });
    a.references = input.references;

    let r = a.render();
    assert!(valid_subject(&r.subject), "bad subject {:?}", r.subject);
    assert!(
        r.message.len() <= MAX_MESSAGE_BYTES,
        "message of {} bytes; largest fields: {}",
        r.message.len(),
        largest_fields(&a)
    );
    let msg: Value = serde_json::from_str(&r.message).expect("the message is JSON");
    let default = msg["default"].as_str().expect("default is a string");
    let body: Value = serde_json::from_str(default).expect("default is the JSON body");
    assert_eq!(body, r.json);
    assert_eq!(msg["email"].as_str(), Some(r.text.as_str()));
    for (name, v) in &r.attributes {
        assert!(!v.is_empty(), "empty attribute {name}");
        assert!(!v.chars().any(char::is_control), "control char in {name}");
    }
});

/// The sizes of the alert's largest fields, for the failure message.
fn largest_fields(a: &Alert) -> String {
    let mut sizes: Vec<(usize, String)> = vec![
        (a.detection.len(), "detection".into()),
        (a.title.len(), "title".into()),
        (a.summary.len(), "summary".into()),
        (a.account.as_ref().map_or(0, String::len), "account".into()),
        (
            a.account_alias.as_ref().map_or(0, String::len),
            "account_alias".into(),
        ),
        (a.region.as_ref().map_or(0, String::len), "region".into()),
        (
            a.evidence.as_ref().map_or(0, |e| e.to_string().len()),
            "evidence".into(),
        ),
    ];
    for (i, (k, v)) in a.facts.iter().enumerate() {
        sizes.push((k.len(), format!("facts[{i}].label")));
        sizes.push((v.len(), format!("facts[{i}].value")));
    }
    for (i, x) in a.actions.iter().enumerate() {
        sizes.push((x.step.len(), format!("actions[{i}].step")));
        sizes.push((x.target.len(), format!("actions[{i}].target")));
        sizes.push((
            x.detail.as_ref().map_or(0, String::len),
            format!("actions[{i}].detail"),
        ));
    }
    for (i, r) in a.references.iter().enumerate() {
        sizes.push((r.len(), format!("references[{i}]")));
    }
    if let Some(e) = &a.event {
        let v = serde_json::to_value(e).unwrap_or_default();
        for (k, x) in v.as_object().into_iter().flatten() {
            sizes.push((x.as_str().map_or(0, str::len), format!("event.{k}")));
        }
    }
    sizes.push((a.facts.len(), "facts (count)".into()));
    sizes.push((a.actions.len(), "actions (count)".into()));
    sizes.sort_by_key(|s| std::cmp::Reverse(s.0));
    sizes
        .iter()
        .take(5)
        .map(|(n, k)| format!("{k}={n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

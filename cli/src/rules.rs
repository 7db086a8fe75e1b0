//! EventBridge rules generated from the detection catalog, so every detection is evaluated
//! within seconds of the call by the `catalog` function.
//!
//! The catalog's patterns are EventBridge event patterns over one CloudTrail record (the
//! `detail` of an EventBridge event); [`Pattern::eventbridge`] drops trailwarden's `json`
//! extension, leaving a pattern that matches at least every event the full one does. The
//! rules group detections to stay inside EventBridge's limits:
//!
//! - one rule per `eventSource` with the union of the `eventName`s of the detections that
//!   name both (split into parts when the pattern would exceed [`MAX_PATTERN_CHARS`]);
//! - one rule per detection that names no fixed `eventSource` and `eventName` (CIS 4.1, root
//!   use, ...), with the detection's own (EventBridge) pattern.
//!
//! Each pattern is wrapped as `{"source": [{"prefix": "aws."}], "detail-type": [the three
//! CloudTrail detail types], "detail": ...}`: `aws.` sources cannot be sent with PutEvents, so
//! nobody can inject a look-alike event. The rules are a superset; the function evaluates the
//! full catalog on what arrives. Every rule uses the state
//! `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS` so read-only calls (`GetSecretValue`, the
//! discovery family's `List*`/`Describe*`) reach it too.

use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use trailwarden::detect::Catalog;

/// Longest event pattern EventBridge accepts, in characters.
pub const MAX_PATTERN_CHARS: usize = 4096;
/// Most rules generated: the default quota is 300 rules per event bus, shared with the rest
/// of the stack and the account's other rules.
pub const MAX_RULES: usize = 100;
/// Rule state that also delivers read-only management events.
pub const RULE_STATE: &str = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS";
/// The `detail-type`s of CloudTrail events on EventBridge.
pub const DETAIL_TYPES: [&str; 3] = [
    trailwarden::event::DETAIL_TYPE_API_CALL,
    trailwarden::event::DETAIL_TYPE_SIGN_IN,
    trailwarden::event::DETAIL_TYPE_SERVICE_EVENT,
];
/// Markers around the generated block in a template.
pub const BEGIN_MARKER: &str = "# BEGIN generated catalog rules";
pub const END_MARKER: &str = "# END generated catalog rules";

/// One generated rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// CloudFormation-safe name (letters and digits): `CatalogIam`, `CatalogCis41...`.
    pub name: String,
    /// The detections it routes.
    pub detections: Vec<String>,
    /// The whole event pattern, envelope included.
    pub pattern: Value,
}

impl Rule {
    /// The pattern as EventBridge receives it (compact JSON).
    pub fn pattern_text(&self) -> String {
        self.pattern.to_string()
    }
}

fn wrap(detail: Option<Value>) -> Value {
    let mut v = json!({
        "source": [{"prefix": "aws."}],
        "detail-type": DETAIL_TYPES,
    });
    if let Some(d) = detail {
        v["detail"] = d;
    }
    v
}

fn pascal(text: &str) -> String {
    let mut out = String::new();
    let mut up = true;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if up {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            up = false;
        } else {
            up = true;
        }
    }
    out
}

/// The rules for a catalog. Fails when a detection's pattern alone exceeds EventBridge's
/// size limit, or when the rules would be too many.
pub fn generate(catalog: &Catalog) -> Result<Vec<Rule>> {
    let mut by_source: BTreeMap<String, (BTreeSet<String>, Vec<String>)> = BTreeMap::new();
    let mut dedicated: Vec<(String, Option<Value>)> = Vec::new();
    for d in catalog.detections() {
        let sources = d.pattern.required_strings(&["eventSource"]);
        let names = d.pattern.required_strings(&["eventName"]);
        match (sources, names) {
            (Some(sources), Some(names)) if !sources.is_empty() && !names.is_empty() => {
                for s in sources {
                    let e = by_source.entry(s).or_default();
                    e.0.extend(names.iter().cloned());
                    e.1.push(d.id.clone());
                }
            }
            _ => dedicated.push((d.id.clone(), d.pattern.eventbridge())),
        }
    }
    let mut rules = Vec::new();
    let mut used = BTreeSet::new();
    let mut name_for = |base: String| {
        let mut name = base.clone();
        let mut i = 2;
        while !used.insert(name.clone()) {
            name = format!("{base}{i}");
            i += 1;
        }
        name
    };
    for (source, (names, detections)) in by_source {
        let service = source.split('.').next().unwrap_or(&source).to_string();
        let names: Vec<String> = names.into_iter().collect();
        // Split the names so that every part's pattern fits.
        let mut parts: Vec<Vec<String>> = vec![Vec::new()];
        for n in names {
            let last = parts.last_mut().expect("one part at least");
            last.push(n.clone());
            let text = wrap(Some(json!({"eventSource": [source], "eventName": last}))).to_string();
            if text.len() > MAX_PATTERN_CHARS {
                last.pop();
                if last.is_empty() {
                    bail!("eventName {n:?} of {source} alone makes a pattern longer than {MAX_PATTERN_CHARS} characters");
                }
                parts.push(vec![n]);
            }
        }
        let count = parts.len();
        for (i, part) in parts.into_iter().enumerate() {
            let base = if count == 1 {
                format!("Catalog{}", pascal(&service))
            } else {
                format!("Catalog{}Part{}", pascal(&service), i + 1)
            };
            rules.push(Rule {
                name: name_for(base),
                detections: detections.clone(),
                pattern: wrap(Some(json!({"eventSource": [source], "eventName": part}))),
            });
        }
    }
    for (id, detail) in dedicated {
        let pattern = wrap(detail);
        let len = pattern.to_string().len();
        if len > MAX_PATTERN_CHARS {
            bail!("detection {id}: its EventBridge pattern is {len} characters, more than the {MAX_PATTERN_CHARS} EventBridge accepts; name fixed eventSource and eventName values or shorten it");
        }
        rules.push(Rule {
            name: name_for(format!("Catalog{}", pascal(&id))),
            detections: vec![id],
            pattern,
        });
    }
    if rules.len() > MAX_RULES {
        bail!(
            "{} rules would be generated, more than {MAX_RULES} (EventBridge allows 300 per bus by default); name fixed eventSource and eventName values in the detections without them",
            rules.len()
        );
    }
    Ok(rules)
}

/// The rules as the `Events` entries of the catalog function in template.yaml (SAM
/// `EventBridgeRule`s), indented by `indent` spaces, markers included.
pub fn template_block(rules: &[Rule], indent: usize) -> String {
    marked_block(rules, indent, |r| {
        vec![
            format!("{}:", r.name),
            "  Type: EventBridgeRule".into(),
            "  Properties:".into(),
            format!("    # {}", r.detections.join(", ")),
            format!("    State: {RULE_STATE}"),
            format!("    Pattern: {}", r.pattern_text()),
            "    RetryPolicy:".into(),
            "      MaximumRetryAttempts: 8".into(),
            "      MaximumEventAgeInSeconds: 3600".into(),
            "    DeadLetterConfig:".into(),
            "      Arn: !GetAtt FailedEventsQueue.Arn".into(),
        ]
    })
}

/// The rules as `AWS::Events::Rule` resources of forwarder/template.yaml: in a region other
/// than us-east-1, each sends what it matches to the stack's catalog event bus
/// (`CatalogEventBusArn`), whose one rule hands everything to the catalog function. A bus of
/// its own keeps these copies away from the other functions' rules on the default bus.
pub fn forwarder_block(rules: &[Rule], indent: usize) -> String {
    marked_block(rules, indent, |r| {
        vec![
            format!("Forward{}:", r.name),
            "  Type: AWS::Events::Rule".into(),
            "  Condition: HasCatalogBus".into(),
            "  Properties:".into(),
            format!(
                "    Description: trailwarden catalog - {}",
                describe(&r.detections)
            ),
            format!("    State: {RULE_STATE}"),
            format!("    EventPattern: {}", r.pattern_text()),
            "    Targets:".into(),
            "      - Id: catalog-bus".into(),
            "        Arn: !Ref CatalogEventBusArn".into(),
            "        RoleArn: !GetAtt ForwardRole.Arn".into(),
            "        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 }"
                .into(),
            "        DeadLetterConfig: { Arn: !GetAtt ForwardDeadLetters.Arn }".into(),
        ]
    })
}

/// The generated block: the begin marker, the `lines` of each rule, the end marker, every
/// line indented by `indent` spaces.
fn marked_block(rules: &[Rule], indent: usize, lines: impl Fn(&Rule) -> Vec<String>) -> String {
    let pad = " ".repeat(indent);
    let mut out = format!(
        "{pad}{BEGIN_MARKER}: written by scripts/gen-rules.sh from the built-in catalog; do not edit.\n"
    );
    for line in rules.iter().flat_map(lines) {
        out.push_str(&format!("{pad}{line}\n"));
    }
    out.push_str(&format!("{pad}{END_MARKER}\n"));
    out
}

/// A rule's description (EventBridge allows 512 characters): its detections, shortened.
fn describe(detections: &[String]) -> String {
    let mut s = String::new();
    for (i, d) in detections.iter().enumerate() {
        let next = if i == 0 { d.clone() } else { format!(", {d}") };
        if s.len() + next.len() > 400 {
            s.push_str(&format!(" and {} more", detections.len() - i));
            break;
        }
        s.push_str(&next);
    }
    s
}

/// The generated block currently in `text` (from the line holding [`BEGIN_MARKER`] to the one
/// holding [`END_MARKER`], inclusive), with its indentation.
pub fn find_block(text: &str) -> Result<(usize, usize, usize)> {
    let Some(b) = text.find(BEGIN_MARKER) else {
        bail!("no line with {BEGIN_MARKER:?}");
    };
    let start = text[..b].rfind('\n').map_or(0, |i| i + 1);
    let indent = b - start;
    let Some(e) = text[b..].find(END_MARKER) else {
        bail!("no line with {END_MARKER:?} after {BEGIN_MARKER:?}");
    };
    let e = b + e;
    let end = text[e..].find('\n').map_or(text.len(), |i| e + i + 1);
    Ok((start, end, indent))
}

/// `text` with its generated block replaced by `rules` (the SAM template's form).
pub fn replace_block(text: &str, rules: &[Rule]) -> Result<String> {
    replace_block_with(text, rules, template_block)
}

/// `text` with its generated block replaced by `rules`, rendered by `render`
/// ([`template_block`], [`forwarder_block`]).
pub fn replace_block_with(
    text: &str,
    rules: &[Rule],
    render: fn(&[Rule], usize) -> String,
) -> Result<String> {
    let (start, end, indent) = find_block(text)?;
    Ok(format!(
        "{}{}{}",
        &text[..start],
        render(rules, indent),
        &text[end..]
    ))
}

/// A stand-alone CloudFormation template deploying `rules` against an existing catalog
/// function (for your own detections, which the main template's rules do not know): the
/// rules and the permission for EventBridge to invoke the function.
pub fn standalone_stack(rules: &[Rule]) -> Value {
    let mut resources = serde_json::Map::new();
    for r in rules {
        resources.insert(
            r.name.clone(),
            json!({
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "Description": format!("trailwarden catalog: {}", r.detections.join(", ")),
                    "State": RULE_STATE,
                    "EventPattern": r.pattern,
                    "Targets": [{
                        "Id": "catalog",
                        "Arn": {"Ref": "CatalogFunctionArn"},
                        "RetryPolicy": {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600}
                    }]
                }
            }),
        );
        resources.insert(
            format!("{}Permission", r.name),
            json!({
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": {"Ref": "CatalogFunctionArn"},
                    "Principal": "events.amazonaws.com",
                    "SourceArn": {"Fn::GetAtt": [r.name, "Arn"]}
                }
            }),
        );
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "trailwarden: EventBridge rules routing your own detections to the catalog function in real time",
        "Parameters": {
            "CatalogFunctionArn": {
                "Type": "String",
                "Description": "The CatalogFunctionArn output of the trailwarden stack."
            }
        },
        "Resources": resources
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailwarden::detect::BuiltinOptions;

    #[test]
    fn builtin_rules_fit_eventbridge_and_cover_every_detection() {
        let c = Catalog::builtin(BuiltinOptions::default());
        let rules = generate(&c).unwrap();
        assert!(!rules.is_empty() && rules.len() <= MAX_RULES);
        let mut covered = BTreeSet::new();
        for r in &rules {
            assert!(r.pattern_text().len() <= MAX_PATTERN_CHARS, "{}", r.name);
            assert!(
                r.name.bytes().all(|b| b.is_ascii_alphanumeric()),
                "{}",
                r.name
            );
            covered.extend(r.detections.iter().cloned());
        }
        for d in c.detections() {
            assert!(covered.contains(&d.id), "{} has no rule", d.id);
        }
    }

    #[test]
    fn a_long_list_of_names_is_split_and_an_oversized_detection_is_refused() {
        let names: Vec<String> = (0..400)
            .map(|i| format!("SomeRatherLongApiName{i:04}"))
            .collect();
        let file = json!({"detections": [{
            "id": "many", "title": "many", "severity": "low",
            "pattern": {"eventSource": ["example.amazonaws.com"], "eventName": names}
        }]})
        .to_string();
        let c = Catalog::from_json(&file, "t").unwrap();
        let rules = generate(&c).unwrap();
        assert!(rules.len() >= 3, "{}", rules.len());
        let mut all = BTreeSet::new();
        for r in &rules {
            assert!(r.pattern_text().len() <= MAX_PATTERN_CHARS);
            for n in r.pattern["detail"]["eventName"].as_array().unwrap() {
                all.insert(n.as_str().unwrap().to_string());
            }
        }
        assert_eq!(all.len(), 400);
        let big: Vec<String> = (0..400)
            .map(|i| format!("value-{i:04}-xxxxxxxxxx"))
            .collect();
        let file = json!({"detections": [{
            "id": "huge", "title": "huge", "severity": "low",
            "pattern": {"userAgent": big}
        }]})
        .to_string();
        let c = Catalog::from_json(&file, "t").unwrap();
        let e = generate(&c).unwrap_err().to_string();
        assert!(e.contains("huge") && e.contains("4096"), "{e}");
    }

    #[test]
    fn the_block_is_replaced_between_its_markers() {
        let c = Catalog::builtin(BuiltinOptions::default());
        let rules = generate(&c).unwrap();
        let text = format!("a:\n  b:\n    {BEGIN_MARKER}\n    Old: 1\n    {END_MARKER}\n  c: 2\n");
        let out = replace_block(&text, &rules).unwrap();
        assert!(out.starts_with("a:\n  b:\n    # BEGIN"));
        assert!(out.ends_with(&format!("    {END_MARKER}\n  c: 2\n")));
        assert!(!out.contains("Old: 1"));
        assert_eq!(replace_block(&out, &rules).unwrap(), out);
        assert!(replace_block("no markers", &rules).is_err());
    }
}

//! One detection: its specification as written in a detection file, validation (ids,
//! references, examples), and the errors that name what is wrong.

use crate::alert::Severity;
use crate::pattern::Pattern;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Choices that change built-in detections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinOptions {
    /// CIS 4.2: count only IAM users and root. IAM Identity Center and SAML/OIDC federated
    /// sign-ins always report `MFAUsed: "No"` (MFA happened at the identity provider), which is
    /// the false positive users complain about most. Default true.
    pub exclude_federated_signin: bool,
}

impl Default for BuiltinOptions {
    fn default() -> Self {
        BuiltinOptions {
            exclude_federated_signin: true,
        }
    }
}

/// Where a detection comes from and what it points to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct References {
    /// CIS AWS Foundations Benchmark v1.4.0 control, e.g. `4.3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cis: Option<String>,
    /// MITRE ATT&CK technique ids, e.g. `T1078.004`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mitre_attack: Vec<String>,
    /// Further reading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

impl References {
    /// One readable line per reference, as alerts show them.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(c) = &self.cis {
            out.push(format!("CIS AWS Foundations Benchmark v1.4.0, control {c}"));
        }
        for t in &self.mitre_attack {
            out.push(format!(
                "MITRE ATT&CK {t}: https://attack.mitre.org/techniques/{}/",
                t.replace('.', "/")
            ));
        }
        out.extend(self.urls.iter().cloned());
        out
    }
}

/// "So many matches within a window": the detection fires for a group only when at least
/// `count` of its matching records fall within `window_seconds` of each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub count: u32,
    pub window_seconds: u64,
    /// Record paths whose values form the group (`userIdentity.arn`); empty: one group.
    #[serde(default)]
    pub group_by: Vec<String>,
}

/// Records a detection must and must not match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matching: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_match: Vec<Value>,
}

/// A detection's examples: its own (read with it from its file), or, for a built-in detection,
/// read from the built-in files the first time they are asked for. Only tests and the catalog
/// listing read examples, and they are most of the built-in files' text: parsing them at every
/// cold start cost more than compiling all the detections.
#[derive(Debug, Clone, Default)]
pub struct ExampleSet {
    own: Examples,
    /// The built-in detection whose examples these are (none of its own).
    built_in: Option<String>,
}

impl ExampleSet {
    /// Examples read with the detection.
    pub fn own(examples: Examples) -> Self {
        ExampleSet {
            own: examples,
            built_in: None,
        }
    }

    /// The examples the built-in files give detection `id`, read when first asked for.
    pub(super) fn built_in(id: &str) -> Self {
        ExampleSet {
            own: Examples::default(),
            built_in: Some(id.to_string()),
        }
    }

    /// The examples.
    pub fn get(&self) -> &Examples {
        match &self.built_in {
            Some(id) => super::catalog::builtin_examples(id),
            None => &self.own,
        }
    }

    fn is_empty(&self) -> bool {
        let e = self.get();
        e.matching.is_empty() && e.no_match.is_empty()
    }
}

impl std::ops::Deref for ExampleSet {
    type Target = Examples;
    fn deref(&self) -> &Examples {
        self.get()
    }
}

impl Serialize for ExampleSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(s)
    }
}

/// A detection as written in a catalog file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    references: Option<References>,
    #[serde(default)]
    pattern: Option<Value>,
    #[serde(default)]
    threshold: Option<Threshold>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    examples: Option<Examples>,
    #[serde(default)]
    family: Option<String>,
    #[serde(default)]
    runbook: Option<String>,
    #[serde(default)]
    responder: Option<String>,
    #[serde(default)]
    deployer_exempt: Option<bool>,
    #[serde(default)]
    superseded_by: Option<Vec<String>>,
}

/// A compiled detection.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    /// The group it belongs to (`identity`, `evasion`, ...; `custom` for a user's file that
    /// names none); a whole family can be turned off.
    pub family: String,
    pub description: String,
    /// What to check and what to do, in a line or two; alerts show it under the description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    pub references: References,
    pub pattern: Pattern,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
    /// `built-in`, or the file it came from.
    pub origin: String,
    /// Records it must and must not match (built-in detections: read when first used).
    #[serde(skip_serializing_if = "ExampleSet::is_empty")]
    pub examples: ExampleSet,
    /// The responder function ([`RESPONDERS`]) that alerts on every event this detection
    /// matches, with its own remediation. Where that responder is deployed, the real-time
    /// catalog leaves such events to it, and the responder records the incident as alerted
    /// so the log scan does not alert it a second time. Honoured for built-in detections
    /// only (a copy of a built-in file among your own loads, and the catalog alerts it itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responder: Option<String>,
    /// Calls by sessions of the deployment roles named in `DEPLOYER_ROLE_ARNS` are left out
    /// ([`super::Catalog::with_deployer_roles`]): for defence-evasion changes that
    /// infrastructure-as-code pipelines also make. Honoured for built-in detections only. The
    /// caller's user agent is never used for this: any caller can send `Terraform` in it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deployer_exempt: bool,
    /// Detections (ids) that say the same of a record more strongly: when one of them matches
    /// the record too, this one is not reported for it (an inline policy granting `*` is an
    /// admin grant, not also an escalation grant). Ids not in the catalog in force (a family
    /// turned off, a detection disabled) are passed over, so this one then reports on its own.
    /// Only between detections without a threshold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub superseded_by: Vec<String>,
}

/// The origin of the built-in detections.
pub const BUILT_IN: &str = "built-in";

/// The responder functions a detection may name in `responder`.
pub const RESPONDERS: &[&str] = &["root-activity", "unapproved-user", "security-group"];

/// A detection file or entry that cannot be used: which file, which detection, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CatalogError {
    /// `built-in`, a path or an `s3://` URI.
    pub origin: String,
    /// The detection's id, when it has one.
    pub id: Option<String>,
    /// Position in the file's list (0-based).
    pub index: Option<usize>,
    pub message: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.id, self.index) {
            (Some(id), _) => write!(f, "{}: detection {id:?}: {}", self.origin, self.message),
            (None, Some(i)) => write!(f, "{}: detection #{}: {}", self.origin, i + 1, self.message),
            (None, None) => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub(super) fn valid_mitre(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => b[0] == b'T' && digits(&b[1..]),
        9 => b[0] == b'T' && digits(&b[1..5]) && b[5] == b'.' && digits(&b[6..]),
        _ => false,
    }
}

/// A family name: 1 to 32 lower-case letters, digits and '-', starting with a letter.
pub(super) fn valid_family(f: &str) -> bool {
    (1..=32).contains(&f.len())
        && f.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && f.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_path(p: &str) -> bool {
    !p.is_empty() && p.split('.').all(|s| !s.is_empty())
}

impl Detection {
    /// Compiles one detection from its JSON. `Ok(None)` for `{"id": ..., "enabled": false}`.
    pub(super) fn compile(
        v: &Value,
        origin: &str,
        family: &str,
        index: usize,
    ) -> Result<(String, Option<Detection>), CatalogError> {
        Detection::compile_owned(v.clone(), origin, family, index)
    }

    /// [`Detection::compile`] of a value the caller hands over (no copy of its examples).
    pub(super) fn compile_owned(
        v: Value,
        origin: &str,
        family: &str,
        index: usize,
    ) -> Result<(String, Option<Detection>), CatalogError> {
        let fail = |id: Option<&str>, m: String| CatalogError {
            origin: origin.to_string(),
            id: id.map(str::to_string),
            index: Some(index),
            message: m,
        };
        let Value::Object(mut rest) = v else {
            return Err(fail(None, "expected a detection object".into()));
        };
        let id = match rest.remove("id") {
            Some(Value::String(s)) => s,
            Some(_) => return Err(fail(None, "\"id\" must be a string".into())),
            None => return Err(fail(None, "missing \"id\"".into())),
        };
        if !valid_id(&id) {
            return Err(fail(
                Some(&id),
                "invalid id: use up to 64 letters, digits, '-', '_', '.', ':' (starting with a letter or digit)".into(),
            ));
        }
        let spec: Spec = serde_path_to_error::deserialize(Value::Object(rest)).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path.is_empty() || path == "." {
                fail(Some(&id), inner.to_string())
            } else {
                fail(Some(&id), format!("{path}: {inner}"))
            }
        })?;
        if spec.enabled == Some(false) {
            return Ok((id, None));
        }
        let title = spec
            .title
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| fail(Some(&id), "missing \"title\"".into()))?;
        if title.len() > 120 {
            return Err(fail(
                Some(&id),
                "\"title\" is longer than 120 characters".into(),
            ));
        }
        let severity = spec.severity.ok_or_else(|| {
            fail(
                Some(&id),
                "missing \"severity\" (info, low, medium, high or critical)".into(),
            )
        })?;
        let pattern_json = spec
            .pattern
            .ok_or_else(|| fail(Some(&id), "missing \"pattern\"".into()))?;
        let pattern = Pattern::compile(&pattern_json)
            .map_err(|e| fail(Some(&id), format!("pattern: {e}")))?;
        let references = spec.references.unwrap_or_default();
        if let Some(c) = &references.cis {
            let ok = c.split('.').count() == 2
                && c.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                return Err(fail(
                    Some(&id),
                    format!("references.cis {c:?} is not a control number such as \"4.3\""),
                ));
            }
        }
        if let Some(t) = references.mitre_attack.iter().find(|t| !valid_mitre(t)) {
            return Err(fail(
                Some(&id),
                format!("references.mitre_attack {t:?} is not a technique id such as \"T1078\" or \"T1078.004\""),
            ));
        }
        if let Some(t) = &spec.threshold {
            if t.count == 0 || t.count > 1_000_000 {
                return Err(fail(
                    Some(&id),
                    "threshold.count must be between 1 and 1000000".into(),
                ));
            }
            if t.window_seconds == 0 || t.window_seconds > 7 * 86_400 {
                return Err(fail(
                    Some(&id),
                    "threshold.window_seconds must be between 1 and 604800 (7 days)".into(),
                ));
            }
            if t.group_by.len() > 8 {
                return Err(fail(
                    Some(&id),
                    "threshold.group_by has more than 8 paths".into(),
                ));
            }
            if let Some(p) = t.group_by.iter().find(|p| !valid_path(p)) {
                return Err(fail(
                    Some(&id),
                    format!("threshold.group_by {p:?} is not a dotted record path such as \"userIdentity.arn\""),
                ));
            }
        }
        let family = spec.family.unwrap_or_else(|| family.to_string());
        if !valid_family(&family) {
            return Err(fail(
                Some(&id),
                format!("family {family:?} is not a name such as \"identity\" (lower-case letters, digits, '-')"),
            ));
        }
        let runbook = spec.runbook.filter(|r| !r.trim().is_empty());
        if let Some(r) = &spec.responder {
            if !RESPONDERS.contains(&r.as_str()) {
                return Err(fail(
                    Some(&id),
                    format!("responder {r:?} is not one of {}", RESPONDERS.join(", ")),
                ));
            }
            if spec.threshold.is_some() {
                return Err(fail(
                    Some(&id),
                    "a threshold detection cannot name a responder: responders alert on single events".into(),
                ));
            }
        }
        let superseded_by = spec.superseded_by.unwrap_or_default();
        if let Some(s) = superseded_by.iter().find(|s| !valid_id(s) || **s == id) {
            return Err(fail(
                Some(&id),
                format!("superseded_by {s:?} is not the id of another detection"),
            ));
        }
        if !superseded_by.is_empty() && spec.threshold.is_some() {
            return Err(fail(
                Some(&id),
                "a threshold detection cannot be superseded: superseded_by is for single-event detections".into(),
            ));
        }
        let examples = ExampleSet::own(spec.examples.unwrap_or_default());
        let d = Detection {
            id: id.clone(),
            title,
            severity,
            family,
            runbook,
            description: spec.description.unwrap_or_default(),
            references,
            pattern,
            threshold: spec.threshold,
            origin: origin.to_string(),
            examples,
            responder: spec.responder,
            deployer_exempt: spec.deployer_exempt.unwrap_or(false),
            superseded_by,
        };
        d.check_examples().map_err(|m| fail(Some(&id), m))?;
        Ok((id, Some(d)))
    }

    /// Checks the detection's own examples: every `match` record matches, no `no_match` does.
    pub fn check_examples(&self) -> Result<(), String> {
        for (i, ex) in self.examples.matching.iter().enumerate() {
            if !ex.is_object() {
                return Err(format!("examples.match[{i}] is not a record object"));
            }
            if !self.pattern.matches(ex) {
                return Err(format!(
                    "examples.match[{i}] does not match the pattern (eventName {})",
                    ex.get("eventName").unwrap_or(&Value::Null)
                ));
            }
        }
        for (i, ex) in self.examples.no_match.iter().enumerate() {
            if !ex.is_object() {
                return Err(format!("examples.no_match[{i}] is not a record object"));
            }
            if self.pattern.matches(ex) {
                return Err(format!(
                    "examples.no_match[{i}] matches the pattern (eventName {})",
                    ex.get("eventName").unwrap_or(&Value::Null)
                ));
            }
        }
        Ok(())
    }

    /// The references as readable lines.
    pub fn reference_lines(&self) -> Vec<String> {
        self.references.lines()
    }

    /// The ATT&CK tactics of its techniques ([`super::mitre`]; a sub-technique counts for its
    /// parent's tactics), each once, in matrix order. Techniques the table does not know add
    /// none.
    pub fn tactics(&self) -> Vec<super::mitre::Tactic> {
        let mut out: Vec<_> = self
            .references
            .mitre_attack
            .iter()
            .flat_map(|t| super::mitre::tactics_of(t).iter().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

//! EventBridge event patterns: compile once, match many events.
//!
//! The syntax is EventBridge's (and `aws/event-ruler`'s): a pattern has the shape of the events
//! it matches; each field names either a nested object pattern or an array of accepted values.
//! Values are exact strings, numbers, booleans or `null`, or one-key matcher objects:
//! `prefix`, `suffix` (both also as `{"equals-ignore-case": ...}`), `equals-ignore-case`,
//! `wildcard` (`*` for any run of characters, `\*` and `\\` for literals), `anything-but`
//! (values, or `prefix`/`suffix`/`wildcard`/`equals-ignore-case`, single or lists), `exists`,
//! `numeric` (`["=", 5]`, `[">", 0, "<=", 5]`) and `cidr`. `$or` takes two or more object
//! patterns, one of which must match at that level.
//!
//! One extension that EventBridge does not have: `{"json": {...}}` matches a value that is a
//! JSON document (a string holding one, as CloudTrail keeps IAM, KMS and Secrets Manager
//! policies, possibly percent-encoded, or an object, as it keeps S3 bucket policies) against
//! the inner pattern. [`Pattern::eventbridge`] gives the pattern EventBridge can run: such
//! fields left out, so it matches at least every event the full pattern matches.
//!
//! A second extension compares two fields of the same event: `"$distinct": [["a.b", "c.d"]]`
//! at the pattern's top level matches only events in which, for every pair, the two paths do
//! not hold the same string (compared ignoring ASCII case; a missing or non-string value is
//! distinct from anything). It tells a caller acting on someone else from one acting on itself
//! (`userIdentity.userName` against `requestParameters.userName`). EventBridge cannot compare
//! fields, so [`Pattern::eventbridge`] leaves it out too.
//!
//! A third one reads a policy document against the event's own account:
//! `"$foreign_principal": ["requestParameters.assumeRolePolicyDocument"]` at the top level
//! matches only events in which every named document (a string holding one, percent-encoded
//! or not, or an object) has an `Allow` statement letting in an AWS principal of an account
//! other than `recipientAccountId`: `*`, another account's id or root, a role or user ARN in
//! another account, or a principal it cannot place (a unique id, an unreadable document, no
//! `recipientAccountId`: it errs towards matching). It tells a role trusting your own account
//! (CDK bootstrap, a team role) from one trusting someone else's. A branch of the top-level
//! `$or` may carry its own `$foreign_principal` (read from the record's top level too), so a
//! pattern can accept "a whole-account trust, or any principal of another account".
//! [`Pattern::eventbridge`] leaves it out as well.
//!
//! A fourth one says what no element holds: `{"none": {...}}` matches a value that is an
//! object or an array when neither it nor any of its elements matches the inner object
//! pattern (`"advancedEventSelectors": [{"none": {"fieldSelectors": {"field":
//! ["eventCategory"], "equals": ["Management"]}}}]`: no selector selects management events).
//! An absent field, `null` or another scalar does not match. EventBridge's "any element"
//! semantics cannot say this; [`Pattern::eventbridge`] leaves such fields out.
//!
//! A fifth one reads the value as an IAM wildcard: `{"covers": "iam:*"}` matches a string
//! that, read as an IAM-style pattern (`*` any run of characters, `?` exactly one, letters
//! compared ignoring case), matches everything the target stands for. The target is a literal
//! string (the pattern must match it) or a literal prefix followed by one trailing `*`
//! ("the prefix, then anything non-empty": the pattern must match every such string). So
//! `"*"`, `"*:*"`, `"i*:*"`, `"IAM:*"` and `"iam:?*"` cover `"iam:*"`; `"iam:Put*"` does not.
//! It tells a policy granting all of a service (or all resources) however it is spelled.
//! Non-string values do not match; [`Pattern::eventbridge`] leaves such fields out.
//!
//! Semantics follow EventBridge: all fields must match, any value in a field's array may match;
//! when the event has an array, the field matches if any element does (arrays of objects are
//! matched element by element, so two fields inside one array must come from the same
//! element); `exists` looks at leaves only (a field whose value is an object does not
//! "exist", an empty array has no leaves); `null` and `""` are different values.
//!
//! A compiled [`Pattern`] also tells which fields it reads ([`Pattern::fields`]) and, when the
//! pattern only accepts fixed strings somewhere, which ones ([`Pattern::required_strings`]): the
//! detection engine uses that to index detections by `eventSource`/`eventName`.
//!
//! Modules: this one holds the public API ([`Pattern`], [`PatternError`]); `compile` turns
//! JSON into the matcher tree and `matcher` evaluates it (both private).

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

mod compile;
mod matcher;
#[cfg(test)]
mod tests;

use compile::{compile_object, err, kind_of};
use matcher::ObjectPattern;
pub use matcher::{parse_ip, RawValue, View};

/// A compiled event pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    root: ObjectPattern,
    /// `$distinct` pairs of paths, as segments.
    distinct: Vec<[Vec<String>; 2]>,
    /// `$foreign_principal` paths of policy documents, as segments.
    foreign: Vec<Vec<String>>,
    /// The JSON it was compiled from, as compact text: a parsed copy kept beside the compiled
    /// one would take several times the memory (a large custom catalog's patterns held as
    /// `Value`s were a third of its loaded size), and only exports read it.
    source: Box<str>,
}

/// The top-level key of the field comparison extension.
const DISTINCT: &str = "$distinct";
/// The top-level key of the foreign-principal extension.
const FOREIGN: &str = "$foreign_principal";
/// The field `$foreign_principal` compares principals' accounts with.
const OWN_ACCOUNT: &str = "recipientAccountId";

/// A dotted field path as segments, or `None` when it is not one.
fn dotted(s: &str) -> Option<Vec<String>> {
    (!s.is_empty() && s.split('.').all(|seg| !seg.is_empty()))
        .then(|| s.split('.').map(str::to_string).collect())
}

/// Parses `$foreign_principal`: an array of dotted paths of policy documents. `at`: where it
/// sits (empty at the top level, else the `$or` branch's path), for errors.
fn compile_foreign(v: &Value, at: &str) -> Result<Vec<Vec<String>>, PatternError> {
    let usage = "takes an array of dotted paths of policy documents, such as [\"requestParameters.assumeRolePolicyDocument\"]";
    let here = if at.is_empty() {
        FOREIGN.to_string()
    } else {
        format!("{at}.{FOREIGN}")
    };
    match v {
        Value::Array(list) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.as_str().and_then(dotted).ok_or_else(|| {
                    err(
                        &format!("{here}[{i}]"),
                        format!("{p} is not a dotted field path"),
                    )
                })
            })
            .collect(),
        _ => Err(err(&here, format!("\"{FOREIGN}\" {usage}"))),
    }
}

/// Every `$foreign_principal` document at `paths` of an event whose top-level fields `get`
/// gives lets in another account than the event's `recipientAccountId` (what cannot be read
/// counts as foreign).
fn foreign_holds<'v, D: View + 'v>(
    paths: &[Vec<String>],
    get: &impl Fn(&str) -> Option<&'v D>,
) -> bool {
    let own = get(OWN_ACCOUNT).and_then(View::as_str);
    paths.iter().all(|p| match (own, value_at(get, p)) {
        (Some(own), Some(doc)) => matcher::admits_other_account(doc, own),
        _ => true,
    })
}

/// Parses `$distinct`: an array of pairs of dotted paths.
fn compile_distinct(v: &Value) -> Result<Vec<[Vec<String>; 2]>, PatternError> {
    let usage = "takes an array of pairs of dotted field paths, such as [[\"userIdentity.userName\", \"requestParameters.userName\"]]";
    let Value::Array(pairs) = v else {
        return Err(err(DISTINCT, format!("\"{DISTINCT}\" {usage}")));
    };
    if pairs.is_empty() {
        return Err(err(
            DISTINCT,
            format!("\"{DISTINCT}\" is empty: it {usage}"),
        ));
    }
    let mut out = Vec::with_capacity(pairs.len());
    for (i, pair) in pairs.iter().enumerate() {
        let at = format!("{DISTINCT}[{i}]");
        let paths: Vec<Vec<String>> = match pair.as_array() {
            Some(list) if list.len() == 2 => list
                .iter()
                .map(|p| {
                    p.as_str().and_then(dotted).ok_or_else(|| {
                        err(
                            &at,
                            format!(
                                "{p} is not a dotted field path such as \"userIdentity.userName\""
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(err(
                    &at,
                    format!("expected a pair of field paths, found {pair}"),
                ))
            }
        };
        if paths[0] == paths[1] {
            return Err(err(&at, "compares a path with itself"));
        }
        let [a, b]: [Vec<String>; 2] = paths.try_into().expect("two paths");
        out.push([a, b]);
    }
    Ok(out)
}

/// The value at `path` of an event whose top-level fields `get` gives.
fn value_at<'v, D: View + 'v>(
    get: &impl Fn(&str) -> Option<&'v D>,
    path: &[String],
) -> Option<&'v D> {
    let (first, rest) = path.split_first()?;
    let mut v = get(first)?;
    for seg in rest {
        v = v.get(seg)?;
    }
    Some(v)
}

/// The string at `path` of an event whose top-level fields `get` gives.
fn string_at<'v, D: View + 'v>(
    get: &impl Fn(&str) -> Option<&'v D>,
    path: &[String],
) -> Option<&'v str> {
    value_at(get, path)?.as_str()
}

impl Pattern {
    /// Compiles a pattern given as JSON.
    pub fn compile(v: &Value) -> Result<Pattern, PatternError> {
        let Value::Object(map) = v else {
            return Err(err(
                "",
                format!("an event pattern is a JSON object, found {}", kind_of(v)),
            ));
        };
        // Only a pattern using an extension that compares fields needs a copy without it for
        // the matcher tree.
        let distinct = map.get(DISTINCT).map(compile_distinct).transpose()?;
        let foreign = map
            .get(FOREIGN)
            .map(|v| compile_foreign(v, ""))
            .transpose()?;
        let fields = if distinct.is_some() || foreign.is_some() {
            let mut rest = map.clone();
            rest.remove(DISTINCT);
            rest.remove(FOREIGN);
            std::borrow::Cow::Owned(rest)
        } else {
            std::borrow::Cow::Borrowed(map)
        };
        if fields.is_empty() {
            return Err(err("", "the pattern is empty (it would match every event)"));
        }
        Ok(Pattern {
            root: compile_object(&fields, "")?,
            distinct: distinct.unwrap_or_default(),
            foreign: foreign.unwrap_or_default(),
            source: v.to_string().into_boxed_str(),
        })
    }

    /// Parses and compiles a pattern given as JSON text.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| err("", format!("the pattern is not valid JSON: {e}")))?;
        Pattern::compile(&v)
    }

    /// True when the event matches.
    pub fn matches(&self, event: &Value) -> bool {
        match event {
            Value::Object(m) => self.matches_map(m),
            other => self.root.matches_opt(Some(other)),
        }
    }

    /// True when an event given as a JSON object's map matches.
    pub fn matches_map(&self, event: &Map<String, Value>) -> bool {
        self.root.matches_map(event) && self.extensions_hold(&|k: &str| event.get(k))
    }

    /// The `$distinct` pairs hold (no pair names the same string twice), and every
    /// `$foreign_principal` document lets in another account's principal.
    fn extensions_hold<'v, D: View + 'v>(&self, get: &impl Fn(&str) -> Option<&'v D>) -> bool {
        let distinct =
            self.distinct
                .iter()
                .all(|[a, b]| match (string_at(get, a), string_at(get, b)) {
                    (Some(x), Some(y)) => !x.eq_ignore_ascii_case(y),
                    _ => true,
                });
        distinct && foreign_holds(&self.foreign, get)
    }

    /// True when an event whose top-level fields `get` gives matches (any [`View`] of JSON:
    /// the log scanner hands out borrowed [`RawValue`]s); the same verdict as
    /// [`Pattern::matches`] on the same fields.
    pub fn matches_fields<'v, D: View + 'v>(&self, get: impl Fn(&str) -> Option<&'v D>) -> bool {
        self.root.matches_with(&get) && self.extensions_hold(&get)
    }

    /// The JSON this pattern was compiled from.
    pub fn source(&self) -> Value {
        serde_json::from_str(&self.source).expect("a pattern's source is JSON it was compiled from")
    }

    /// The pattern as EventBridge can run it: fields that use trailwarden's `json`, `none` or
    /// `covers` operators, `$distinct` and `$foreign_principal` (also in `$or` branches) are
    /// left out (and objects or `$or`s left empty by that), so it matches every event this
    /// pattern matches, and possibly more. `None` when nothing would be left.
    pub fn eventbridge(&self) -> Option<Value> {
        fn uses_extension(list: &[Value]) -> bool {
            list.iter().any(|m| {
                m.as_object().is_some_and(|o| {
                    o.contains_key("json") || o.contains_key("none") || o.contains_key("covers")
                })
            })
        }
        fn strip(m: &Map<String, Value>) -> Map<String, Value> {
            let mut out = Map::new();
            for (k, v) in m {
                if k == DISTINCT || k == FOREIGN {
                    continue;
                }
                match v {
                    Value::Array(list) if k == "$or" => {
                        let branches: Vec<Map<String, Value>> = list
                            .iter()
                            .filter_map(Value::as_object)
                            .map(strip)
                            .collect();
                        // A branch with nothing left accepts everything: so does the `$or`.
                        if branches.iter().all(|b| !b.is_empty()) {
                            out.insert(
                                k.clone(),
                                Value::Array(branches.into_iter().map(Value::Object).collect()),
                            );
                        }
                    }
                    Value::Array(list) if uses_extension(list) => {}
                    Value::Object(inner) => {
                        let inner = strip(inner);
                        if !inner.is_empty() {
                            out.insert(k.clone(), Value::Object(inner));
                        }
                    }
                    other => {
                        out.insert(k.clone(), other.clone());
                    }
                }
            }
            out
        }
        let m = strip(self.source().as_object()?);
        (!m.is_empty()).then_some(Value::Object(m))
    }

    /// Every field path the pattern reads (including inside `$or` and `$distinct`), as path
    /// segments.
    pub fn fields(&self) -> Vec<Vec<String>> {
        let mut out = BTreeSet::new();
        self.root.collect_fields(&mut Vec::new(), &mut out);
        out.extend(self.distinct.iter().flatten().cloned());
        if !self.foreign.is_empty() {
            out.extend(self.foreign.iter().cloned());
            out.insert(vec![OWN_ACCOUNT.to_string()]);
        }
        out.into_iter().collect()
    }

    /// Every field path the pattern reads, dotted (`userIdentity.type`).
    pub fn field_paths(&self) -> Vec<String> {
        self.fields().into_iter().map(|p| p.join(".")).collect()
    }

    /// The distinct top-level fields the pattern reads.
    pub fn top_level_fields(&self) -> BTreeSet<String> {
        self.fields()
            .into_iter()
            .filter_map(|p| p.into_iter().next())
            .collect()
    }

    /// When every event this pattern matches must carry, at `path`, one of a fixed set of
    /// strings (exact values, possibly through `$or`), that set. `None` when the pattern
    /// accepts other values there (prefix, anything-but, absent, ...). Use it for indexing:
    /// `required_strings(&["eventName"])`, or `&["detail", "eventName"]` for EventBridge
    /// envelopes.
    pub fn required_strings(&self, path: &[&str]) -> Option<BTreeSet<String>> {
        self.root.required_strings(path)
    }

    /// Paths (of two or more segments) that every matching event must have: a field whose
    /// matchers do not accept absence, reached through objects the pattern requires (`$or`
    /// branches are not considered). The engine uses the last segment as a key name that must
    /// appear in the top-level field's text.
    pub fn required_nested_paths(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.root.required_paths(&mut Vec::new(), &mut out);
        out.retain(|p| p.len() >= 2);
        out
    }

    /// For a leaf path outside `$or`: pieces of text one of which appears in any value the
    /// pattern accepts there (see `required_strings` for exact values). The engine looks for
    /// them in the raw text before parsing.
    pub fn required_fragments(&self, path: &[&str]) -> Option<BTreeSet<String>> {
        self.root.required_fragments(path)
    }

    /// Top-level fields that must be present (with any value, even `null`) for the pattern to
    /// match: an event without one of them cannot match. (`$or` branches are not considered.)
    pub fn required_top_level_fields(&self) -> Vec<String> {
        self.root
            .fields
            .iter()
            .filter(|(_, fp)| !fp.matches_absent())
            .map(|(k, _)| k.clone())
            .collect()
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source || self.source() == other.source()
    }
}

impl serde::Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.source().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Pattern::compile(&v).map_err(serde::de::Error::custom)
    }
}

/// A pattern that cannot be compiled: where (a path such as `detail.eventName[1]`) and what is
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PatternError {
    /// Path inside the pattern; empty for the pattern itself.
    pub path: String,
    pub message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "at {}: {}", self.path, self.message)
        }
    }
}

//! The compiled matcher tree and how it evaluates events.

use super::compile::err;
use super::{foreign_holds, PatternError};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::rc::Rc;

#[derive(Debug, Clone)]
pub(super) struct ObjectPattern {
    pub(super) fields: Vec<(String, FieldPattern)>,
    /// Each entry is one `$or`: at least one branch must match.
    pub(super) ors: Vec<Vec<ObjectPattern>>,
    /// Per field: whether it matches when the field is absent (worked out once, by
    /// [`ObjectPattern::settle`]: most fields of most events are absent).
    pub(super) absent: Vec<bool>,
    /// Whether this pattern matches an object with none of its fields (or no object).
    pub(super) nothing: bool,
    /// `$foreign_principal` paths of policy documents (the pattern's root and its top-level
    /// `$or` branches only, whose fields are the record's own): each must let in another
    /// account's principal. The root's are kept by [`super::Pattern`]; this holds a branch's.
    pub(super) foreign: Vec<Vec<String>>,
}

#[derive(Debug, Clone)]
pub(super) enum FieldPattern {
    Nested(ObjectPattern),
    /// Any matcher may match.
    Leaf(Vec<Matcher>),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

impl Literal {
    pub(super) fn matches<D: View>(&self, v: &D) -> bool {
        match self {
            Literal::Str(s) => v.as_str() == Some(s.as_str()),
            Literal::Num(n) => v.as_f64() == Some(*n),
            Literal::Bool(b) => v.as_bool() == Some(*b),
            Literal::Null => v.is_null(),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) enum Matcher {
    Exact(Literal),
    Prefix(String),
    PrefixIgnoreCase(String),
    Suffix(String),
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    /// trailwarden's extension (not EventBridge syntax): the value, read as an IAM wildcard
    /// pattern, matches everything the target stands for (see [`Covers`]).
    Covers(Covers),
    AnythingBut(AnythingBut),
    Numeric(Range),
    Cidr(ipnet::IpNet),
    Exists(bool),
    /// trailwarden's extension (not EventBridge syntax): the value is a JSON document, kept
    /// as a string (IAM, KMS and Secrets Manager policies in CloudTrail) or already as an
    /// object (S3 bucket policies); the inner pattern is matched against the document.
    Json(Box<ObjectPattern>),
    /// trailwarden's extension (not EventBridge syntax): the value is an object or an array,
    /// and neither it nor any of its elements matches the inner pattern ("no selector selects
    /// management events"). An absent field, `null` or another scalar does not match.
    None(Box<ObjectPattern>),
}

#[derive(Debug, Clone)]
pub(super) enum AnythingBut {
    Values(Vec<Literal>),
    Prefix(Vec<String>),
    Suffix(Vec<String>),
    Wildcard(Vec<Wildcard>),
    IgnoreCase(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Bound {
    pub(super) value: f64,
    pub(super) inclusive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Range {
    pub(super) lower: Option<Bound>,
    pub(super) upper: Option<Bound>,
}

impl Range {
    pub(super) fn contains(&self, x: f64) -> bool {
        let lo = match self.lower {
            None => true,
            Some(b) if b.inclusive => x >= b.value,
            Some(b) => x > b.value,
        };
        let hi = match self.upper {
            None => true,
            Some(b) if b.inclusive => x <= b.value,
            Some(b) => x < b.value,
        };
        lo && hi
    }
}

/// A wildcard pattern split on its unescaped `*`s.
#[derive(Debug, Clone)]
pub(super) struct Wildcard {
    /// Literal parts; `parts.len() - 1` stars sit between them.
    pub(super) parts: Vec<String>,
    /// A searcher for each part between two stars (built once: they are looked for in every
    /// value the wildcard is tried on).
    middles: Vec<memchr::memmem::Finder<'static>>,
}

impl Wildcard {
    pub(super) fn compile(s: &str, path: &str) -> Result<Wildcard, PatternError> {
        let mut parts = vec![String::new()];
        let mut chars = s.chars().peekable();
        let mut last_star = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e @ ('*' | '\\')) => {
                        parts.last_mut().expect("never empty").push(e);
                        last_star = false;
                    }
                    Some(other) => {
                        return Err(err(
                            path,
                            format!(
                                "wildcard {s:?}: a backslash may only escape '*' or '\\', not {other:?}"
                            ),
                        ))
                    }
                    None => {
                        return Err(err(
                            path,
                            format!("wildcard {s:?} ends with a lone backslash"),
                        ))
                    }
                },
                '*' => {
                    if last_star {
                        return Err(err(
                            path,
                            format!("wildcard {s:?}: consecutive '*' are not allowed"),
                        ));
                    }
                    parts.push(String::new());
                    last_star = true;
                }
                c => {
                    parts.last_mut().expect("never empty").push(c);
                    last_star = false;
                }
            }
        }
        let middles = match parts.len() {
            0..=2 => Vec::new(),
            n => parts[1..n - 1]
                .iter()
                .map(|m| memchr::memmem::Finder::new(m.as_bytes()).into_owned())
                .collect(),
        };
        Ok(Wildcard { parts, middles })
    }

    pub(super) fn matches(&self, text: &str) -> bool {
        let n = self.parts.len();
        if n == 1 {
            return text == self.parts[0];
        }
        let first = &self.parts[0];
        let last = &self.parts[n - 1];
        if text.len() < first.len() + last.len()
            || !text.starts_with(first.as_str())
            || !text.ends_with(last.as_str())
        {
            return false;
        }
        // Star-only globs: leftmost matches of the middle parts, in order, are enough.
        let mut rest = &text.as_bytes()[first.len()..text.len() - last.len()];
        for mid in &self.middles {
            match mid.find(rest) {
                Some(i) => rest = &rest[i + mid.needle().len()..],
                None => return false,
            }
        }
        true
    }
}

/// The longest target `covers` takes, in characters (one bit per target position and one for
/// "all of it read" must fit in a `u128`).
pub(super) const COVERS_MAX: usize = 127;

/// `{"covers": target}`: the record's value is read as an IAM-style wildcard pattern G (`*`
/// any run of characters, `?` exactly one, letters compared ignoring case, as IAM compares
/// action names), and matches when G covers the target:
/// - a literal target (no `*` or `?`): G matches it;
/// - a literal prefix followed by one trailing `*` ("the prefix, then anything non-empty"): G
///   matches every such string. The test (sufficient: a G it accepts matches every such
///   string): after G has read the prefix (G simulated as an automaton over its positions), some
///   position it can be at has a remainder of only `*` and `?`, with at least one `*` and at
///   most one `?` (such a remainder takes any non-empty rest).
///
/// So `"*"`, `"*:*"`, `"i*:*"`, `"IAM:*"`, `"iam:?*"` and `"iam:**"` cover `"iam:*"`, and
/// `"iam:Put*"`, `"iam:?"` and `"s3:*"` do not.
///
/// Matching allocates nothing: the simulation runs the other way round, over G's characters,
/// keeping as bits which lengths of the target's text G's characters so far can have read.
#[derive(Debug, Clone)]
pub(super) struct Covers {
    /// The target's literal text (without the trailing `*`), folded to lower case.
    text: Box<[char]>,
    /// The target ended with `*`: `text` is a prefix followed by any non-empty rest.
    open: bool,
}

/// One character folded for comparison ignoring case (the same on both sides: a character
/// whose lower case is several characters is kept as it is).
#[inline]
fn fold(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

impl Covers {
    pub(super) fn compile(s: &str, path: &str) -> Result<Covers, PatternError> {
        let usage = "a literal string, or a literal prefix followed by one trailing '*' (the prefix and any non-empty rest)";
        if s.is_empty() {
            return Err(err(path, format!("\"covers\" takes {usage}, found \"\"")));
        }
        let (body, open) = match s.strip_suffix('*') {
            Some(body) => (body, true),
            None => (s, false),
        };
        if body.contains(['*', '?']) {
            return Err(err(
                path,
                format!("covers {s:?}: '*' and '?' are allowed only as one trailing '*'; the target is {usage}"),
            ));
        }
        let text: Box<[char]> = body.chars().map(fold).collect();
        if text.len() > COVERS_MAX {
            return Err(err(
                path,
                format!("covers {s:?}: the target is longer than {COVERS_MAX} characters"),
            ));
        }
        Ok(Covers { text, open })
    }

    /// Whether the wildcard pattern `g` (a record's value) covers the target.
    pub(super) fn covered_by(&self, g: &str) -> bool {
        let m = self.text.len();
        // Bit j of `cur`: G's characters read so far can have read the first j characters of
        // the target's text.
        let done: u128 = 1 << m;
        let all: u128 = done | (done - 1);
        // For an open target: the byte offsets of G from which the rest of G takes any
        // non-empty rest; none, and G cannot cover it.
        let (lo, hi) = if self.open {
            match open_tail(g.as_bytes()) {
                Some(r) => r,
                None => return false,
            }
        } else {
            (usize::MAX, 0)
        };
        let mut cur: u128 = 1;
        for (i, c) in g.char_indices() {
            if i >= lo {
                if i > hi {
                    return false;
                }
                // G can be here having read the whole prefix, or at a `*` that reads the rest
                // of it: the remainder from here takes any non-empty rest.
                if cur & done != 0 || (c == '*' && cur != 0) {
                    return true;
                }
            }
            cur = match c {
                // Any run: every length from the shortest one reached on.
                '*' => all & !((cur & cur.wrapping_neg()) - 1),
                '?' => (cur << 1) & all,
                c => {
                    let c = fold(c);
                    let mut next = 0;
                    let mut bits = cur & (done - 1);
                    while bits != 0 {
                        let j = bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        if self.text[j] == c {
                            next |= 1 << (j + 1);
                        }
                    }
                    next
                }
            };
            if cur == 0 {
                return false;
            }
        }
        !self.open && cur & done != 0
    }
}

/// For a wildcard pattern's bytes: the range `lo..=hi` of offsets from which the rest is only
/// `*` and `?`, with at least one `*` and at most one `?`; `None` when there is no such offset.
fn open_tail(b: &[u8]) -> Option<(usize, usize)> {
    let mut hi = None;
    let mut lo = b.len();
    let mut questions = 0;
    for (i, &c) in b.iter().enumerate().rev() {
        match c {
            b'*' => {
                hi.get_or_insert(i);
            }
            b'?' if questions == 0 => questions = 1,
            _ => break,
        }
        lo = i;
    }
    hi.map(|hi| (lo, hi))
}

pub(super) fn lower(s: &str) -> String {
    s.to_lowercase()
}

pub(super) fn eq_ignore_case(text: &str, lowered: &str) -> bool {
    if text.is_ascii() && lowered.is_ascii() {
        text.eq_ignore_ascii_case(lowered)
    } else {
        text.to_lowercase() == lowered
    }
}

pub(super) fn starts_ignore_case(text: &str, lowered: &str) -> bool {
    if text.is_ascii() && lowered.is_ascii() {
        text.len() >= lowered.len()
            && text.as_bytes()[..lowered.len()].eq_ignore_ascii_case(lowered.as_bytes())
    } else {
        text.to_lowercase().starts_with(lowered)
    }
}

pub(super) fn ends_ignore_case(text: &str, lowered: &str) -> bool {
    if text.is_ascii() && lowered.is_ascii() {
        text.len() >= lowered.len()
            && text.as_bytes()[text.len() - lowered.len()..]
                .eq_ignore_ascii_case(lowered.as_bytes())
    } else {
        text.to_lowercase().ends_with(lowered)
    }
}

/// Parses an IP address in an event value with [`crate::net::parse_ip`] (IPv4-mapped IPv6 is
/// IPv4, so `cidr` IPv4 blocks match it; anonymised samples' zero-padded IPv4 octets such as
/// `075.050.255.67` are decimal). A value with surrounding whitespace is not an address.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    if s.trim() != s {
        return None;
    }
    crate::net::parse_ip(s)
}

impl Matcher {
    /// Does one leaf value satisfy this matcher? (`Exists` is handled by the caller.)
    pub(super) fn matches_leaf<D: View>(&self, v: &D) -> bool {
        match self {
            Matcher::Exact(l) => l.matches(v),
            Matcher::Prefix(p) => v.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            Matcher::PrefixIgnoreCase(p) => v.as_str().is_some_and(|s| starts_ignore_case(s, p)),
            Matcher::Suffix(p) => v.as_str().is_some_and(|s| s.ends_with(p.as_str())),
            Matcher::SuffixIgnoreCase(p) => v.as_str().is_some_and(|s| ends_ignore_case(s, p)),
            Matcher::EqualsIgnoreCase(p) => v.as_str().is_some_and(|s| eq_ignore_case(s, p)),
            Matcher::Wildcard(w) => v.as_str().is_some_and(|s| w.matches(s)),
            Matcher::Covers(c) => v.as_str().is_some_and(|s| c.covered_by(s)),
            Matcher::AnythingBut(ab) => match ab {
                AnythingBut::Values(vals) => !vals.iter().any(|l| l.matches(v)),
                AnythingBut::Prefix(ps) => v
                    .as_str()
                    .is_some_and(|s| !ps.iter().any(|p| s.starts_with(p.as_str()))),
                AnythingBut::Suffix(ps) => v
                    .as_str()
                    .is_some_and(|s| !ps.iter().any(|p| s.ends_with(p.as_str()))),
                AnythingBut::Wildcard(ws) => {
                    v.as_str().is_some_and(|s| !ws.iter().any(|w| w.matches(s)))
                }
                AnythingBut::IgnoreCase(ps) => v
                    .as_str()
                    .is_some_and(|s| !ps.iter().any(|p| eq_ignore_case(s, p))),
            },
            Matcher::Numeric(r) => v.as_f64().is_some_and(|x| r.contains(x)),
            Matcher::Cidr(net) => v
                .as_str()
                .and_then(parse_ip)
                .is_some_and(|ip| net.contains(&ip)),
            Matcher::Exists(_) | Matcher::Json(_) | Matcher::None(_) => false,
        }
    }
}

/// Matches a `json` matcher's inner pattern against the document a value holds: a JSON object
/// or array as it is, or a string holding one (percent-encoded, as some IAM records keep
/// policies, or not).
fn json_document_matches<D: View>(inner: &ObjectPattern, v: &D) -> bool {
    if v.is_object() || v.as_array().is_some() {
        return inner.matches_opt(Some(v));
    }
    let Some(s) = v.as_str() else {
        return false;
    };
    let t = s.trim_start();
    let json = t.starts_with('{') || t.starts_with('[');
    if !json && !t.starts_with("%7B") && !t.starts_with("%7b") {
        return false;
    }
    let doc = read_document(t, json);
    doc.is_some_and(|d| inner.matches_opt(Some(&*d)))
}

/// Whether a policy document (as [`json_document_matches`] reads one) has an `Allow`
/// statement letting in an AWS principal of an account other than `own`: `*`, an account id
/// or ARN of another account, or a principal it cannot place. A value that holds no readable
/// document counts as letting others in (`$foreign_principal` errs towards matching).
pub(super) fn admits_other_account<D: View>(v: &D, own: &str) -> bool {
    if v.is_object() || v.as_array().is_some() {
        return document_admits_other(v, own);
    }
    let Some(t) = v.as_str().map(str::trim_start) else {
        return true;
    };
    let json = t.starts_with('{') || t.starts_with('[');
    if !json && !t.starts_with("%7B") && !t.starts_with("%7b") {
        return true;
    }
    read_document(t, json).is_none_or(|d| document_admits_other(&*d, own))
}

fn document_admits_other<D: View>(doc: &D, own: &str) -> bool {
    let Some(statements) = doc.get("Statement") else {
        return true;
    };
    let list = match statements.as_array() {
        Some(list) => list,
        None => std::slice::from_ref(statements),
    };
    list.iter()
        .filter(|s| s.get("Effect").and_then(View::as_str) == Some("Allow"))
        .any(|s| match s.get("Principal") {
            None => false,
            Some(p) if p.as_str().is_some() => true, // "*"
            Some(p) => p.get("AWS").is_some_and(|aws| {
                let values = match aws.as_array() {
                    Some(list) => list,
                    None => std::slice::from_ref(aws),
                };
                values
                    .iter()
                    .any(|a| principal_account(a.as_str()) != Some(own))
            }),
        })
}

/// The account an AWS principal names: a 12-digit id, or the account field of an IAM or STS
/// ARN; `None` for `*` or anything else.
fn principal_account(p: Option<&str>) -> Option<&str> {
    let p = p?.trim();
    if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
        return Some(p);
    }
    let mut parts = p.splitn(6, ':');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("arn"), Some(_), Some("iam" | "sts"), Some(""), Some(acct))
            if acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(acct)
        }
        _ => None,
    }
}

/// Documents read out of strings lately, by their text: several detections read one
/// record's policy (four read a role's trust policy), and each would parse it again.
const RECENT_DOCUMENTS: usize = 4;
/// Longer texts are parsed each time, so that the kept ones stay small.
const KEPT_DOCUMENT_BYTES: usize = 64 * 1024;

type Recent = std::collections::VecDeque<(Box<str>, Option<Rc<Value>>)>;

thread_local! {
    static DOCUMENTS: RefCell<Recent> = const { RefCell::new(Recent::new()) };
}

/// The document a string holds (`json`: as it is, else percent-encoded), `None` when it
/// does not parse; the same text gives the same answer, from [`DOCUMENTS`] when recent.
fn read_document(text: &str, json: bool) -> Option<Rc<Value>> {
    let keep = text.len() <= KEPT_DOCUMENT_BYTES;
    let cached = keep.then(|| {
        DOCUMENTS.with(|d| {
            d.borrow()
                .iter()
                .find(|(t, _)| **t == *text)
                .map(|(_, doc)| doc.clone())
        })
    });
    if let Some(doc) = cached.flatten() {
        return doc;
    }
    let doc: Option<Value> = if json {
        serde_json::from_str(text).ok()
    } else {
        percent_decode(text).and_then(|d| serde_json::from_str(&d).ok())
    };
    let doc = doc.map(Rc::new);
    if keep {
        DOCUMENTS.with(|d| {
            let mut d = d.borrow_mut();
            if d.len() == RECENT_DOCUMENTS {
                d.pop_back();
            }
            d.push_front((text.into(), doc.clone()));
        });
    }
    doc
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Calls `f` on every leaf at `v`: arrays are flattened, objects are not leaves.
pub(super) fn any_leaf<D: View>(v: &D, f: &mut impl FnMut(&D) -> bool) -> bool {
    if let Some(a) = v.as_array() {
        a.iter().any(|e| any_leaf(e, f))
    } else if v.is_object() {
        false
    } else {
        f(v)
    }
}

pub(super) fn has_leaf<D: View>(v: &D) -> bool {
    any_leaf(v, &mut |_| true)
}

impl FieldPattern {
    pub(super) fn matches<D: View>(&self, v: Option<&D>) -> bool {
        match self {
            FieldPattern::Leaf(ms) => ms.iter().any(|m| match m {
                Matcher::Exists(want) => v.is_some_and(has_leaf) == *want,
                Matcher::Json(inner) => v.is_some_and(|v| match v.as_array() {
                    Some(a) if !a.is_empty() && a.iter().all(|e| e.as_str().is_some()) => {
                        a.iter().any(|e| json_document_matches(inner, e))
                    }
                    _ => json_document_matches(inner, v),
                }),
                Matcher::None(inner) => v.is_some_and(|v| match v.as_array() {
                    // Element by element, so that an empty array has no matching element
                    // whatever the inner pattern accepts.
                    Some(a) => !a.iter().any(|e| inner.matches_opt(Some(e))),
                    None => v.is_object() && !inner.matches_opt(Some(v)),
                }),
                m => v.is_some_and(|v| any_leaf(v, &mut |leaf| m.matches_leaf(leaf))),
            }),
            FieldPattern::Nested(op) => op.matches_opt(v),
        }
    }

    pub(super) fn matches_absent(&self) -> bool {
        match self {
            FieldPattern::Nested(op) => op.nothing,
            leaf => leaf.matches::<Value>(None),
        }
    }
}

impl ObjectPattern {
    pub(super) fn matches_opt<D: View>(&self, v: Option<&D>) -> bool {
        match v {
            Some(o) if o.is_object() => self.matches_with(&|k: &str| o.get(k)),
            Some(a) => match a.as_array() {
                Some(a) if !a.is_empty() => a.iter().any(|e| self.matches_opt(Some(e))),
                // A scalar or an empty array: none of the fields are there.
                _ => self.nothing,
            },
            None => self.nothing,
        }
    }

    /// Works out what [`ObjectPattern::absent`] and [`ObjectPattern::nothing`] hold, once its
    /// fields and branches (settled themselves) are in place.
    pub(super) fn settle(&mut self) {
        self.absent = self
            .fields
            .iter()
            .map(|(_, fp)| fp.matches_absent())
            .collect();
        self.nothing = self.absent.iter().all(|&a| a)
            && self
                .ors
                .iter()
                .all(|branches| branches.iter().any(|b| b.nothing));
    }

    pub(super) fn matches_map(&self, m: &Map<String, Value>) -> bool {
        self.matches_with(&|k: &str| m.get(k))
    }

    /// Matches an object whose fields `get` gives.
    pub(super) fn matches_with<'v, D: View + 'v>(
        &self,
        get: &impl Fn(&str) -> Option<&'v D>,
    ) -> bool {
        self.fields
            .iter()
            .zip(&self.absent)
            .all(|((k, fp), &absent)| match get(k) {
                None => absent,
                v => fp.matches(v),
            })
            && self
                .ors
                .iter()
                .all(|branches| branches.iter().any(|b| b.matches_with(get)))
            && (self.foreign.is_empty() || foreign_holds(&self.foreign, get))
    }

    pub(super) fn required_paths(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        for (k, fp) in &self.fields {
            if fp.matches_absent() {
                continue;
            }
            prefix.push(k.clone());
            match fp {
                FieldPattern::Leaf(_) => out.push(prefix.clone()),
                FieldPattern::Nested(op) => {
                    out.push(prefix.clone());
                    op.required_paths(prefix, out);
                }
            }
            prefix.pop();
        }
    }

    pub(super) fn collect_fields(&self, prefix: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
        for (k, fp) in &self.fields {
            prefix.push(k.clone());
            match fp {
                FieldPattern::Leaf(_) => {
                    out.insert(prefix.clone());
                }
                FieldPattern::Nested(op) => op.collect_fields(prefix, out),
            }
            prefix.pop();
        }
        for branches in &self.ors {
            for b in branches {
                b.collect_fields(prefix, out);
            }
        }
        if !self.foreign.is_empty() {
            out.extend(self.foreign.iter().cloned());
            out.insert(vec![super::OWN_ACCOUNT.to_string()]);
        }
    }

    /// For a leaf field (outside `$or`) whose every matcher is an exact string, a prefix, a
    /// suffix or a wildcard: for each matcher, a piece of text any value it accepts contains
    /// (the longest literal part). One of them appears in the text of any matching value.
    /// `None` when a matcher accepts values without such a piece (or the piece would be
    /// escaped in JSON text).
    pub(super) fn required_fragments(&self, path: &[&str]) -> Option<BTreeSet<String>> {
        let (first, rest) = path.split_first()?;
        let (_, fp) = self.fields.iter().find(|(k, _)| k == first)?;
        match (fp, rest.is_empty()) {
            (FieldPattern::Leaf(ms), true) => {
                let mut out = BTreeSet::new();
                for m in ms {
                    let piece = match m {
                        Matcher::Exact(Literal::Str(s))
                        | Matcher::Prefix(s)
                        | Matcher::Suffix(s) => s.clone(),
                        Matcher::Wildcard(w) => w
                            .parts
                            .iter()
                            .max_by_key(|p| p.len())
                            .cloned()
                            .unwrap_or_default(),
                        // A pattern that covers the target need not hold its text ("*").
                        Matcher::Covers(_) => return None,
                        _ => return None,
                    };
                    let plain = |c: char| c != '"' && c != '\\' && !c.is_control();
                    if piece.len() < 3 || !piece.chars().all(plain) {
                        return None;
                    }
                    out.insert(piece);
                }
                Some(out)
            }
            (FieldPattern::Nested(op), false) => op.required_fragments(rest),
            _ => None,
        }
    }

    pub(super) fn required_strings(&self, path: &[&str]) -> Option<BTreeSet<String>> {
        let (first, rest) = path.split_first()?;
        let mut result: Option<BTreeSet<String>> = None;
        let mut narrow = |set: BTreeSet<String>| {
            result = Some(match result.take() {
                None => set,
                Some(prev) => prev.intersection(&set).cloned().collect(),
            });
        };
        for (k, fp) in &self.fields {
            if k != first {
                continue;
            }
            match (fp, rest.is_empty()) {
                (FieldPattern::Leaf(ms), true) => {
                    let mut set = BTreeSet::new();
                    let all_exact = ms.iter().all(|m| match m {
                        Matcher::Exact(Literal::Str(s)) => {
                            set.insert(s.clone());
                            true
                        }
                        _ => false,
                    });
                    if all_exact {
                        narrow(set);
                    }
                }
                (FieldPattern::Nested(op), false) => {
                    if let Some(set) = op.required_strings(rest) {
                        narrow(set);
                    }
                }
                _ => {}
            }
        }
        for branches in &self.ors {
            let mut union = BTreeSet::new();
            let mut all = true;
            for b in branches {
                match b.required_strings(path) {
                    Some(s) => union.extend(s),
                    None => {
                        all = false;
                        break;
                    }
                }
            }
            if all {
                narrow(union);
            }
        }
        result
    }
}

/// What the matcher needs of a JSON value: implemented for [`serde_json::Value`] and for the
/// scanner's borrowed values ([`RawValue`]), so both are matched by the same code.
pub trait View: Sized {
    fn as_str(&self) -> Option<&str>;
    /// Numbers as `f64` (as [`serde_json::Number::as_f64`] gives them); `None` otherwise.
    fn as_f64(&self) -> Option<f64>;
    fn as_bool(&self) -> Option<bool>;
    fn is_null(&self) -> bool;
    fn as_array(&self) -> Option<&[Self]>;
    fn is_object(&self) -> bool;
    /// A field of an object (the last one, if the key repeats); `None` for other values.
    fn get(&self, key: &str) -> Option<&Self>;
}

impl View for Value {
    fn as_str(&self) -> Option<&str> {
        Value::as_str(self)
    }
    fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }
    fn as_bool(&self) -> Option<bool> {
        Value::as_bool(self)
    }
    fn is_null(&self) -> bool {
        Value::is_null(self)
    }
    fn as_array(&self) -> Option<&[Self]> {
        Value::as_array(self).map(Vec::as_slice)
    }
    fn is_object(&self) -> bool {
        Value::is_object(self)
    }
    fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Value::Object(m) => m.get(key),
            _ => None,
        }
    }
}

/// A JSON value whose strings and keys borrow from the text they were read from when they
/// hold no escapes: what the log scanner parses a record's fields into, without building maps.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue<'a> {
    Null,
    Bool(bool),
    /// As [`serde_json::Number::as_f64`] would give it.
    Num(f64),
    Str(Cow<'a, str>),
    Arr(Vec<RawValue<'a>>),
    /// Fields in document order; lookups take the last of repeated keys, as a map would.
    Obj(Vec<(Cow<'a, str>, RawValue<'a>)>),
}

impl View for RawValue<'_> {
    fn as_str(&self) -> Option<&str> {
        match self {
            RawValue::Str(s) => Some(s),
            _ => None,
        }
    }
    fn as_f64(&self) -> Option<f64> {
        match self {
            RawValue::Num(n) => Some(*n),
            _ => None,
        }
    }
    fn as_bool(&self) -> Option<bool> {
        match self {
            RawValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn is_null(&self) -> bool {
        matches!(self, RawValue::Null)
    }
    fn as_array(&self) -> Option<&[Self]> {
        match self {
            RawValue::Arr(a) => Some(a),
            _ => None,
        }
    }
    fn is_object(&self) -> bool {
        matches!(self, RawValue::Obj(_))
    }
    fn get(&self, key: &str) -> Option<&Self> {
        match self {
            RawValue::Obj(fields) => fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

//! Projection: parsing only the paths of a record's field that the catalog reads, into
//! [`RawValue`]s whose strings borrow from the record (what the scanner matches) or into
//! `serde_json` values (threshold group keys).

use super::index::FxMap;
use crate::logfile::{key_sig, plain_string_end, sig_at, skip_ws, value_end};
use crate::pattern::RawValue;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// The paths read below one field: a leaf means the whole value.
#[derive(Debug, Clone, Default)]
pub struct FieldTree {
    whole: bool,
    children: Vec<(String, FieldTree)>,
    /// The children's key signatures ([`key_sig`]), in the same order: a tree of a few
    /// children is searched by comparing one number per child.
    sigs: Vec<u64>,
    /// Position of each child by key: `requestParameters` alone has over a hundred paths
    /// in the built-in catalog, and every key of a parsed object is looked up.
    positions: FxMap<String, usize>,
}

/// Trees of at most this many children are searched by signature; larger ones by their map.
const FEW_CHILDREN: usize = 16;

impl FieldTree {
    pub(crate) fn partial() -> Self {
        FieldTree::default()
    }

    pub(crate) fn add(&mut self, rest: &[String]) {
        if self.whole {
            return;
        }
        let Some((first, rest)) = rest.split_first() else {
            self.whole = true;
            self.children.clear();
            self.sigs.clear();
            self.positions.clear();
            return;
        };
        match self.positions.get(first) {
            Some(&i) => self.children[i].1.add(rest),
            None => {
                let mut t = FieldTree::default();
                t.add(rest);
                self.positions.insert(first.clone(), self.children.len());
                self.sigs.push(key_sig(first.as_bytes()));
                self.children.push((first.clone(), t));
            }
        }
    }

    /// Parses a raw JSON value keeping only these paths.
    pub(crate) fn project(&self, raw: &[u8]) -> Result<Value, serde_json::Error> {
        if self.whole || self.children.is_empty() {
            return serde_json::from_slice(raw);
        }
        let mut de = serde_json::Deserializer::from_slice(raw);
        let v = Project(self).deserialize(&mut de)?;
        de.end()?;
        Ok(v)
    }
}

struct Project<'t>(&'t FieldTree);

impl<'de> DeserializeSeed<'de> for Project<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.0.whole {
            Value::deserialize(d)
        } else {
            d.deserialize_any(ProjectVisitor(self.0))
        }
    }
}

struct ProjectVisitor<'t>(&'t FieldTree);

impl<'de> Visitor<'de> for ProjectVisitor<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Project(self.0))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(found) = map.next_key_seed(KeyMatch(self.0))? {
            match found {
                Some(i) => {
                    let (k, t) = &self.0.children[i];
                    let v = map.next_value_seed(Project(t))?;
                    out.insert(k.clone(), v);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Reads a key and says which child it is, without allocating.
struct KeyMatch<'t>(&'t FieldTree);

impl<'de> DeserializeSeed<'de> for KeyMatch<'_> {
    type Value = Option<usize>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyMatch<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.positions.get(v).copied())
    }
}

impl FieldTree {
    /// Parses a raw JSON value keeping only these paths, into a value whose strings borrow
    /// from `raw` (or from this tree, for keys) where they can: what the scanner matches.
    pub(crate) fn project_raw<'a>(
        &'a self,
        raw: &'a [u8],
    ) -> Result<RawValue<'a>, serde_json::Error> {
        // Most fields read are plain strings (`errorCode`, `userAgent`, ...), borrowed as they
        // are when nothing in them needs decoding; objects read in part (`userIdentity`,
        // `requestParameters`, ...) are stepped over with the record scanner, parsing only
        // what the paths reach. Both go the quick way, on text checked for UTF-8 once;
        // anything else goes through the parser, which also words the errors.
        let tree = (!self.whole && !self.children.is_empty()).then_some(self);
        if tree.is_some() || raw.first() == Some(&b'"') {
            if let Ok(text) = std::str::from_utf8(raw) {
                let mut quick = Quick { text };
                if let Some((v, end)) = quick.value(tree, skip_ws(raw, 0), 0) {
                    if skip_ws(raw, end) == raw.len() {
                        return Ok(v);
                    }
                }
            }
        }
        whole_value(tree, raw)
    }

    /// Which child a key (as written, between its quotes, without escapes) is; `sig`: the
    /// key's [`key_sig`]. Only a child whose signature is the key's has its text compared.
    #[inline]
    fn child(&self, key: &str, sig: u64) -> Option<usize> {
        if self.sigs.len() <= FEW_CHILDREN {
            (0..self.sigs.len()).find(|&i| self.sigs[i] == sig && self.children[i].0 == key)
        } else {
            self.positions.get(key).copied()
        }
    }
}

/// A value parsed whole by `serde_json` (keeping only the tree's paths when there is one).
fn whole_value<'a>(
    tree: Option<&'a FieldTree>,
    raw: &'a [u8],
) -> Result<RawValue<'a>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let v = RawSeed(tree, PhantomData).deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// Nesting beyond which the quick projection leaves a value to the parser (which has its own
/// limit and words the error).
const QUICK_DEPTH: usize = 64;

/// The quick projection of a field's text (valid UTF-8): what [`whole_value`] gives for valid
/// JSON. The paths the tree reaches are parsed (leaves by `serde_json` unless they are strings
/// without escapes); everything else is only stepped over, so an error in a part no detection
/// reads goes unnoticed, as it does between a record's top-level fields. Each step gives
/// `None` when something needs the parser (an escaped key, a syntax error, deep nesting): the
/// caller then parses the whole field, and the parser words the error.
struct Quick<'a> {
    text: &'a str,
}

impl<'a> Quick<'a> {
    /// The value at byte `at` and where it ends.
    fn value(
        &mut self,
        tree: Option<&'a FieldTree>,
        at: usize,
        depth: usize,
    ) -> Option<(RawValue<'a>, usize)> {
        if depth > QUICK_DEPTH {
            return None;
        }
        let buf = self.text.as_bytes();
        let tree = tree.filter(|t| !t.whole);
        match (*buf.get(at)?, tree) {
            (b'{', Some(tree)) => self.object(tree, at, depth),
            (b'[', Some(tree)) => self.array(tree, at, depth),
            (b'"', _) => match plain_string_end(buf, at + 1) {
                Some(q) => Some((RawValue::Str(Cow::Borrowed(&self.text[at + 1..q])), q + 1)),
                None => self.parsed(at),
            },
            _ => self.parsed(at),
        }
    }

    /// A leaf the parser reads (numbers, literals, escaped strings, whole containers). The
    /// commonest leaves, `true`, `false`, `null` and plain integers, are read here as the
    /// parser reads them (an integer of up to 15 digits is exact as a float).
    fn parsed(&mut self, at: usize) -> Option<(RawValue<'a>, usize)> {
        let buf = self.text.as_bytes();
        let end = value_end(buf, at)?;
        let v = match &buf[at..end] {
            b"true" => RawValue::Bool(true),
            b"false" => RawValue::Bool(false),
            b"null" => RawValue::Null,
            b"0" => RawValue::Num(0.0),
            digits @ [b'1'..=b'9', rest @ ..]
                if digits.len() <= 15 && rest.iter().all(u8::is_ascii_digit) =>
            {
                let n = digits
                    .iter()
                    .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
                RawValue::Num(n as f64)
            }
            other => whole_value(None, other).ok()?,
        };
        Some((v, end))
    }

    fn object(
        &mut self,
        tree: &'a FieldTree,
        at: usize,
        depth: usize,
    ) -> Option<(RawValue<'a>, usize)> {
        let text = self.text;
        let buf = text.as_bytes();
        let mut out = Vec::with_capacity(tree.children.len().min(8));
        let end = self.members(at, b'}', |quick, i| {
            if *buf.get(i)? != b'"' {
                return None;
            }
            let key_end = plain_string_end(buf, i + 1)?;
            let child = tree.child(&text[i + 1..key_end], sig_at(buf, i + 1, key_end));
            let colon = skip_ws(buf, key_end + 1);
            if *buf.get(colon)? != b':' {
                return None;
            }
            let at = skip_ws(buf, colon + 1);
            match child {
                Some(c) => {
                    let (k, t) = &tree.children[c];
                    let (v, end) = quick.value(Some(t), at, depth + 1)?;
                    out.push((Cow::Borrowed(k.as_str()), v));
                    Some(end)
                }
                None => value_end(buf, at),
            }
        })?;
        Some((RawValue::Obj(out), end))
    }

    fn array(
        &mut self,
        tree: &'a FieldTree,
        at: usize,
        depth: usize,
    ) -> Option<(RawValue<'a>, usize)> {
        let mut out = Vec::new();
        let end = self.members(at, b']', |quick, i| {
            let (v, end) = quick.value(Some(tree), i, depth + 1)?;
            out.push(v);
            Some(end)
        })?;
        Some((RawValue::Arr(out), end))
    }

    /// Walks the members of the object or array opening at byte `at` (`close`: its closing
    /// bracket): `member` reads one from its first byte and gives where it ends. Gives where
    /// the container ends.
    fn members(
        &mut self,
        at: usize,
        close: u8,
        mut member: impl FnMut(&mut Self, usize) -> Option<usize>,
    ) -> Option<usize> {
        let buf = self.text.as_bytes();
        let mut i = skip_ws(buf, at + 1);
        if *buf.get(i)? == close {
            return Some(i + 1);
        }
        loop {
            i = skip_ws(buf, member(self, i)?);
            match *buf.get(i)? {
                b',' => i = skip_ws(buf, i + 1),
                b if b == close => return Some(i + 1),
                _ => return None,
            }
        }
    }
}

/// Reads a value into a [`RawValue`], keeping only the paths of the tree (`None`: all).
struct RawSeed<'t, 'a>(Option<&'t FieldTree>, PhantomData<&'a ()>);

impl<'de: 'a, 't: 'a, 'a> DeserializeSeed<'de> for RawSeed<'t, 'a> {
    type Value = RawValue<'a>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<RawValue<'a>, D::Error> {
        let tree = self.0.filter(|t| !t.whole);
        d.deserialize_any(RawSeed(tree, PhantomData))
    }
}

impl<'de: 'a, 't: 'a, 'a> Visitor<'de> for RawSeed<'t, 'a> {
    type Value = RawValue<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<RawValue<'a>, E> {
        Ok(RawValue::Bool(v))
    }
    // Numbers as serde_json's `Number::as_f64` gives them.
    fn visit_i64<E>(self, v: i64) -> Result<RawValue<'a>, E> {
        Ok(RawValue::Num(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<RawValue<'a>, E> {
        Ok(RawValue::Num(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<RawValue<'a>, E> {
        // serde_json keeps a non-finite float as null.
        Ok(if v.is_finite() {
            RawValue::Num(v)
        } else {
            RawValue::Null
        })
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<RawValue<'a>, E> {
        Ok(RawValue::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<RawValue<'a>, E> {
        Ok(RawValue::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<RawValue<'a>, E> {
        Ok(RawValue::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<RawValue<'a>, E> {
        Ok(RawValue::Null)
    }
    fn visit_none<E>(self) -> Result<RawValue<'a>, E> {
        Ok(RawValue::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue<'a>, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(RawSeed(self.0, PhantomData))? {
            out.push(v);
        }
        Ok(RawValue::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue<'a>, A::Error> {
        let mut out = Vec::new();
        match self.0 {
            Some(tree) => {
                while let Some(found) = map.next_key_seed(KeyMatch(tree))? {
                    match found {
                        Some(i) => {
                            let (k, t) = &tree.children[i];
                            let v = map.next_value_seed(RawSeed(Some(t), PhantomData))?;
                            out.push((Cow::Borrowed(k.as_str()), v));
                        }
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
            }
            None => {
                while let Some(k) = map.next_key_seed(KeySeed(PhantomData))? {
                    let v = map.next_value_seed(RawSeed(None, PhantomData))?;
                    out.push((k, v));
                }
            }
        }
        Ok(RawValue::Obj(out))
    }
}

/// Reads a key, borrowed when it holds no escapes.
struct KeySeed<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for KeySeed<'a> {
    type Value = Cow<'a, str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Cow<'a, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for KeySeed<'a> {
    type Value = Cow<'a, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{BuiltinOptions, Catalog};
    use crate::logfile::RawRecord;

    fn paths(list: &[&str]) -> FieldTree {
        let mut tree = FieldTree::partial();
        for p in list {
            let parts: Vec<String> = p.split('.').map(str::to_string).collect();
            tree.add(&parts);
        }
        tree
    }

    /// The projection of one field against the parser's, with whether the quick way read it.
    fn compare(tree: &FieldTree, raw: &[u8]) -> bool {
        let want = whole_value(Some(tree), raw);
        let got = tree.project_raw(raw);
        match (&got, &want) {
            (Ok(g), Ok(w)) => assert_eq!(g, w, "{}", String::from_utf8_lossy(raw)),
            (Err(_), Err(_)) => {}
            _ => panic!("{}: {got:?} against {want:?}", String::from_utf8_lossy(raw)),
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            return false;
        };
        let mut quick = Quick { text };
        quick
            .value(Some(tree), skip_ws(raw, 0), 0)
            .is_some_and(|(_, end)| skip_ws(raw, end) == raw.len())
    }

    /// Every field the built-in catalog reads, on every example record, projects as the
    /// parser projects it, and nearly all of them the quick way.
    #[test]
    fn the_quick_projection_equals_the_parser_on_every_example() {
        let catalog = Catalog::builtin(BuiltinOptions::default());
        let index = &catalog.index;
        let (mut compared, mut quick) = (0, 0);
        for d in catalog.detections() {
            for record in d.examples.matching.iter().chain(&d.examples.no_match) {
                let text = record.to_string();
                let mut fields = Vec::new();
                let raw = RawRecord::scan(text.as_bytes(), &mut fields).unwrap();
                for (k, key) in index.keys.iter().enumerate() {
                    let tree = &index.projections[k];
                    let Some(bytes) = raw.get(key) else { continue };
                    if tree.whole || tree.children.is_empty() || bytes[0] != b'{' {
                        continue;
                    }
                    compared += 1;
                    quick += usize::from(compare(tree, bytes));
                }
            }
        }
        assert!(compared > 500, "{compared}");
        assert_eq!(quick, compared);
    }

    /// Hand-made shapes: white space, repeated keys, escapes, arrays of objects, numbers,
    /// literals, nesting, and errors in the parts the paths reach (which the parser reports).
    #[test]
    fn the_quick_projection_equals_the_parser_on_odd_shapes() {
        let tree = paths(&[
            "type",
            "arn",
            "sessionContext.sessionIssuer.arn",
            "sessionContext.attributes",
            "items.name",
            "n",
        ]);
        let quick_cases: [&str; 15] = [
            "{\"arn\": \"arn:aws:iam::123456789012:user/caf\u{e9}-\u{65e5}\u{672c}-long-enough\", \"type\": \"IAMUser\"}",
            r#"{}"#,
            r#" { "type" : "Root" , "arn":"a" } "#,
            "{\n\t\"type\":\n\"IAMUser\"\r\n}",
            r#"{"type": "a", "type": "b", "arn": null, "arn": 1}"#,
            r#"{"other": {"type": "x", "deep": [[{"arn": "y"}]], "s": "}]\"{["}, "type": "t"}"#,
            r#"{"arn": "caf\u00e9", "type": "a\"b", "n": "tab\there"}"#,
            r#"{"n": -1.5e3, "type": true, "arn": false}"#,
            r#"{"n": 18446744073709551616, "type": 12345678901234567890, "arn": -0}"#,
            r#"{"items": [{"name": "a", "x": 1}, {"name": ["b"]}, "c", 3, null, [{"name": "d"}]]}"#,
            r#"{"items": {"name": "not an array"}, "sessionContext": []}"#,
            r#"{"sessionContext": {"attributes": {"mfaAuthenticated": "true", "creationDate": "2026-01-01T00:00:00Z"},
                "sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::1:role/r", "userName": "r"}}}"#,
            r#"{"sessionContext": {"sessionIssuer": "x", "attributes": [1, {"a": [2]}]}}"#,
            r#"{"café": 1, "type": "é"}"#,
            r#"{"skipped": [1, 2, {"a": "b\\"}], "n": 0}"#,
        ];
        for case in quick_cases {
            assert!(compare(&tree, case.as_bytes()), "not quick: {case}");
        }
        // Left to the parser: escaped keys, syntax errors (the parser words them), nesting.
        let deep = format!("{{\"items\": {}1{}}}", "[".repeat(100), "]".repeat(100));
        let parser_cases: Vec<String> = [
            r#"{"ty\u0070e": "Root"}"#,
            r#"{"type": "Root",}"#,
            r#"{"type" "Root"}"#,
            r#"{"type": "Root"} x"#,
            r#"{"type": tru}"#,
            r#"{"type": "a\x"}"#,
            "{\"type\": \"a\nb\"}",
            "{\"type\": \"a long value\nwith a line break\"}",
            "{\"type\": \"a long value with a\ttab\"}",
            r#"{"items": [1, 2,]}"#,
            r#"{"type": "Root""#,
            r#"{"sessionContext": {"sessionIssuer": {"arn": }}}"#,
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([deep])
        .collect();
        for case in &parser_cases {
            assert!(!compare(&tree, case.as_bytes()), "quick: {case}");
        }
        // Bytes that are not UTF-8 in a string the paths reach are an error either way.
        assert!(tree.project_raw(b"{\"type\": \"\xff\"}").is_err());
    }

    /// Keys told apart by signature: keys that share their first eight bytes and their length
    /// (one signature) are still compared whole, keys of up to eight bytes differ in length
    /// only, and a tree of many children (searched by its map) reads what a small one does.
    #[test]
    fn keys_with_one_signature_are_told_apart() {
        let small = paths(&["abcdefghIJ.x", "abcdefghKL", "ab", "abc", "a"]);
        let mut many: Vec<String> = (0..40).map(|i| format!("filler{i}")).collect();
        many.extend(["abcdefghIJ.x", "abcdefghKL", "ab", "abc", "a"].map(String::from));
        let many = paths(&many.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(small.children.len() <= FEW_CHILDREN && many.children.len() > FEW_CHILDREN);
        for tree in [&small, &many] {
            for case in [
                r#"{"abcdefghKL": "k", "abcdefghIJ": {"x": "i", "y": 1}}"#,
                r#"{"abcdefghZZ": "other", "abcdefghIJ": {"x": "i"}, "abcdefghKL": 2}"#,
                r#"{"abcdefghIJK": "longer", "abcdefghI": "shorter", "abcdefgh": 0}"#,
                r#"{"abc": 3, "ab": 2, "a": 1, "abcd": 4, "b": 5, "": 6}"#,
                r#"{"abcdefghIJ": "not an object", "abcdefghKL": {"x": [1]}}"#,
            ] {
                assert!(compare(tree, case.as_bytes()), "not quick: {case}");
            }
        }
        let v = small
            .project_raw(br#"{"abcdefghZZ": 1, "abcdefghKL": "k", "abc": 3, "ab": 2}"#)
            .unwrap();
        let keys: Vec<&str> = match &v {
            RawValue::Obj(members) => members.iter().map(|(k, _)| k.as_ref()).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(keys, ["abcdefghKL", "abc", "ab"]);
    }

    /// Literals and numbers read without the parser (`true`, `false`, `null`, integers of up
    /// to 15 digits) give what the parser gives; every other token (signs, fractions,
    /// exponents, long or zero-led integers, misspellings) still goes to the parser, which
    /// reads it or words the error.
    #[test]
    fn literals_and_integers_read_as_the_parser_reads_them() {
        let tree = paths(&["n", "items.name"]);
        let read_here = [
            "true",
            "false",
            "null",
            "0",
            "7",
            "10",
            "100",
            "443",
            "123456789012345",
            "999999999999999",
        ];
        let to_parser = [
            "-0",
            "-7",
            "1.0",
            "0.5",
            "1e3",
            "1E+2",
            "1234567890123456",
            "18446744073709551616",
            "01",
            "00",
            "0x1",
            "tru",
            "True",
            "nulll",
            "falsey",
            "1a",
        ];
        for tok in read_here.iter().chain(&to_parser) {
            for text in [
                format!(r#"{{"n": {tok}}}"#),
                format!(r#"{{"items": [{tok}, {{"name": {tok}}}], "n":{tok} }}"#),
            ] {
                // The same value or an error either way (`compare`), and the quick way reads
                // exactly what the parser accepts.
                let quick = compare(&tree, text.as_bytes());
                let parses = serde_json::from_str::<serde_json::Value>(&text).is_ok();
                assert_eq!(quick, parses, "{text}");
            }
        }
        let v = tree.project_raw(b"{\"n\": 443}").unwrap();
        assert_eq!(
            v,
            RawValue::Obj(vec![(Cow::Borrowed("n"), RawValue::Num(443.0))])
        );
    }

    /// A top-level string read without the parser gives what the parser gives: the same
    /// text, borrowed, and an error wherever the parser errs (control characters, broken
    /// UTF-8); escapes are still decoded.
    #[test]
    fn plain_strings_read_as_the_parser_reads_them() {
        let mut whole = FieldTree::partial();
        whole.add(&[]);
        let cases: [&[u8]; 9] = [
            b"\"AccessDenied\"",
            b"\"\"",
            b"\"caf\xc3\xa9 \x7f\"",
            b"\"a\\\"b\"",
            b"\"a\\u0041\\/\"",
            b"\"tab\there\"",
            b"\"bad \xff utf8\"",
            b"\"line\nbreak\"",
            b"\"unterminated\\\"",
        ];
        for raw in cases {
            let parsed: Result<String, _> = serde_json::from_slice(raw);
            match (whole.project_raw(raw), parsed) {
                (Ok(RawValue::Str(got)), Ok(want)) => {
                    assert_eq!(got, want, "{}", String::from_utf8_lossy(raw));
                    let borrowed = !raw.contains(&b'\\');
                    assert_eq!(
                        matches!(got, Cow::Borrowed(_)),
                        borrowed,
                        "{}",
                        String::from_utf8_lossy(raw)
                    );
                }
                (Err(_), Err(_)) => {}
                (got, want) => panic!("{}: {got:?} against {want:?}", String::from_utf8_lossy(raw)),
            }
        }
    }
}

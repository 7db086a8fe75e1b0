//! Projection: parsing only the paths of a record's field that the catalog reads, into
//! [`RawValue`]s whose strings borrow from the record (what the scanner matches) or into
//! `serde_json` values (threshold group keys).

use super::index::FxMap;
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
    /// Position of each child by key: `requestParameters` alone has over a hundred paths
    /// in the built-in catalog, and every key of a parsed object is looked up.
    positions: FxMap<String, usize>,
}

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
            self.positions.clear();
            return;
        };
        match self.positions.get(first) {
            Some(&i) => self.children[i].1.add(rest),
            None => {
                let mut t = FieldTree::default();
                t.add(rest);
                self.positions.insert(first.clone(), self.children.len());
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
        // Most fields read are plain strings (`errorCode`, `userAgent`, ...): borrowed as they
        // are when nothing in them needs decoding; anything else goes through the parser,
        // which also words the errors.
        if let [b'"', inner @ .., b'"'] = raw {
            if !inner.iter().any(|&b| b == b'\\' || b == b'"' || b < 0x20) {
                if let Ok(s) = std::str::from_utf8(inner) {
                    return Ok(RawValue::Str(Cow::Borrowed(s)));
                }
            }
        }
        let mut de = serde_json::Deserializer::from_slice(raw);
        let tree = (!self.whole && !self.children.is_empty()).then_some(self);
        let v = RawSeed(tree, PhantomData).deserialize(&mut de)?;
        de.end()?;
        Ok(v)
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

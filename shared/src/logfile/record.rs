//! One element of `Records`, unparsed, and its fields on demand.

use super::scanner::{filter_bit, key_sig, sign_keys, Field, ValueScan};
use std::borrow::Cow;

/// Where a top-level field's value is in a record's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    /// False when the value holds no backslash (checked while the record was split); true
    /// when it does or when that is not known.
    pub escapes: bool,
}

/// One element of `Records`, unparsed.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// Position in the `Records` array (0-based).
    pub index: u64,
    pub(super) bytes: &'a [u8],
    pub(super) fields: &'a [Field],
    /// One bit per key signature present ([`filter_bit`]).
    pub(super) filter: u64,
}

/// The JSON type of a value, from its first byte.
pub fn kind_of_json(first: u8) -> &'static str {
    match first {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        b'-' | b'0'..=b'9' => "a number",
        _ => "something that is not JSON",
    }
}

impl<'a> RawRecord<'a> {
    /// Builds a raw record from a JSON object's bytes (for tests and single records).
    pub fn scan(bytes: &'a [u8], fields: &'a mut Vec<Field>) -> Result<RawRecord<'a>, String> {
        let start = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .ok_or("empty input")?;
        let body = &bytes[start..];
        if body[0] != b'{' {
            return Err(format!(
                "expected an object, found {}",
                kind_of_json(body[0])
            ));
        }
        let mut scan = ValueScan::new();
        scan.reset(b'{', true);
        match scan.run(body, true)? {
            Some(len) => {
                *fields = std::mem::take(&mut scan.fields);
                let filter = sign_keys(&body[..len], fields);
                Ok(RawRecord {
                    index: 0,
                    bytes: &body[..len],
                    fields,
                    filter,
                })
            }
            None => Err("the object is not closed".into()),
        }
    }

    /// The record's JSON text.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The raw JSON of a top-level field (the last one, if the key repeats).
    pub fn get(&self, key: &str) -> Option<&'a [u8]> {
        self.span(key).map(|(a, b)| &self.bytes[a..b])
    }

    /// Where a top-level field's value is within [`RawRecord::bytes`] (start, end). The key
    /// filter answers for most absent keys; otherwise one signature is compared per field.
    pub fn span(&self, key: &str) -> Option<(usize, usize)> {
        self.locate(key).map(|s| (s.start, s.end))
    }

    /// [`RawRecord::span`], and whether the value may hold an escape.
    pub(crate) fn locate(&self, key: &str) -> Option<Span> {
        self.locate_signed(key.as_bytes(), key_sig(key.as_bytes()))
    }

    /// [`RawRecord::locate`] with the key's [`key_sig`] worked out beforehand. Equal
    /// signatures and lengths mean equal first eight bytes: only the rest is compared.
    #[inline]
    pub(crate) fn locate_signed(&self, key: &[u8], sig: u64) -> Option<Span> {
        if self.filter & filter_bit(sig) == 0 {
            return None;
        }
        let f = self.fields.iter().rev().find(|f| {
            f.sig == sig && {
                let (a, b) = (f.key.0 as usize, f.key.1 as usize);
                b - a == key.len() && (key.len() <= 8 || self.bytes[a + 8..b] == key[8..])
            }
        })?;
        Some(Span {
            start: f.value.0 as usize,
            end: f.value.1 as usize,
            escapes: f.escapes,
        })
    }

    /// The text of a value [`RawRecord::locate`] found.
    pub(crate) fn text(&self, s: Span) -> &'a [u8] {
        &self.bytes[s.start..s.end]
    }

    /// True when the record has this top-level field (with any value, even `null`).
    pub fn has(&self, key: &str) -> bool {
        self.span(key).is_some()
    }

    /// The names of the top-level fields, in order (escaped names as written).
    pub fn keys(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.fields
            .iter()
            .map(|f| &self.bytes[f.key.0 as usize..f.key.1 as usize])
    }

    /// A top-level string field. Strings without escapes are borrowed; `Err` when the field
    /// is there but is not a string (or is not valid JSON).
    pub fn str_field(&self, key: &str) -> Result<Option<Cow<'a, str>>, String> {
        match self.locate(key) {
            None => Ok(None),
            Some(s) => raw_str_known(self.text(s), s.escapes),
        }
    }

    /// A top-level field parsed as a JSON value.
    pub fn value(&self, key: &str) -> Result<Option<serde_json::Value>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(raw) => serde_json::from_slice(raw)
                .map(Some)
                .map_err(|e| format!("field {key}: {e}")),
        }
    }
}

/// A raw JSON value as a string: `Ok(None)` for `null`, `Err` for other types.
pub fn raw_str(raw: &[u8]) -> Result<Option<Cow<'_, str>>, String> {
    raw_str_known(raw, true)
}

/// [`raw_str`] for a value known to hold no backslash when `escapes` is false.
fn raw_str_known(raw: &[u8], escapes: bool) -> Result<Option<Cow<'_, str>>, String> {
    match raw.first() {
        Some(b'"') if raw.len() >= 2 && raw[raw.len() - 1] == b'"' => {
            let inner = &raw[1..raw.len() - 1];
            if !escapes || memchr::memchr(b'\\', inner).is_none() {
                return std::str::from_utf8(inner)
                    .map(|s| Some(Cow::Borrowed(s)))
                    .map_err(|_| "invalid UTF-8 in a string".to_string());
            }
            serde_json::from_slice::<String>(raw)
                .map(|s| Some(Cow::Owned(s)))
                .map_err(|e| e.to_string())
        }
        Some(b'n') if raw == b"null" => Ok(None),
        Some(&b) => Err(format!("expected a string, found {}", kind_of_json(b))),
        None => Err("empty value".into()),
    }
}

/// An element of `Records` as the reader hands it out.
#[derive(Debug)]
pub enum Element<'a> {
    /// A JSON object: a record.
    Record(RawRecord<'a>),
    /// Something that cannot be a record; the rest of the file is still read.
    Unreadable { index: u64, reason: String },
}

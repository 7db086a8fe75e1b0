//! CloudTrail log files: recognising their S3 keys, and reading `{"Records": [...]}` one record
//! at a time without holding the file.
//!
//! [`LogReader`] reads (already decompressed) JSON from any [`Read`], in chunks, and hands out
//! each element of the top-level `Records` array as a [`RawRecord`]: the record's bytes plus
//! the positions of its top-level fields, found by a structural scan (strings are skipped with
//! `memchr`). Nothing is parsed until someone asks for a field, so fields no detection reads
//! cost one scan and no allocation. Memory is one buffer (256 KiB, growing only for a record
//! larger than that, up to [`MAX_RECORD_BYTES`]; a larger record is skipped and reported).
//!
//! [`open`] adds gzip decoding (detected from the magic bytes) and byte counting, so errors can
//! say how far a corrupt or truncated file was read.

use serde::Serialize;
use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Records larger than this are skipped (and counted as unreadable) rather than buffered.
pub const MAX_RECORD_BYTES: usize = 8 << 20;
const INITIAL_BUFFER: usize = 256 << 10;

// ---------------------------------------------------------------------------------------------
// S3 keys
// ---------------------------------------------------------------------------------------------

/// What an object in a trail bucket is, judged from its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeyKind {
    /// A CloudTrail log file:
    /// `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<random>.json.gz`.
    LogFile {
        account: String,
        region: String,
        organization: Option<String>,
        /// `YYYY-MM-DD` from the folder names.
        date: String,
    },
    /// A log file integrity digest (`CloudTrail-Digest/`).
    Digest,
    /// A CloudTrail Insights file (`CloudTrail-Insight/`).
    Insight,
    /// The object CloudTrail writes to check it may write to the bucket.
    WritabilityCheck,
    /// Anything else; the reason says why it is not a log file.
    Other { reason: String },
}

impl KeyKind {
    /// Why an object of this kind is not scanned, or `None` for log files.
    pub fn skip_reason(&self) -> Option<String> {
        match self {
            KeyKind::LogFile { .. } => None,
            KeyKind::Digest => Some(
                "CloudTrail digest file (integrity validation, no Records; log-integrity checks these)"
                    .into(),
            ),
            KeyKind::Insight => Some("CloudTrail Insights file (not a log of API calls)".into()),
            KeyKind::WritabilityCheck => {
                Some("ConfigWritabilityCheckFile (CloudTrail's bucket permission probe)".into())
            }
            KeyKind::Other { reason } => Some(reason.clone()),
        }
    }
}

fn all_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// Classifies an S3 key (already decoded, never URL-encoded).
pub fn classify_key(key: &str) -> KeyKind {
    let segments: Vec<&str> = key.split('/').collect();
    let file = *segments.last().unwrap_or(&"");
    if file == "ConfigWritabilityCheckFile" {
        return KeyKind::WritabilityCheck;
    }
    let Some(logs_at) = segments.iter().rposition(|s| *s == "AWSLogs") else {
        return KeyKind::Other {
            reason: "not a CloudTrail key: no AWSLogs/ folder".into(),
        };
    };
    let rest = &segments[logs_at + 1..];
    let (organization, rest) = match rest.first() {
        Some(s) if s.starts_with("o-") => (Some(s.to_string()), &rest[1..]),
        _ => (None, rest),
    };
    let other = |why: &str| KeyKind::Other {
        reason: format!("not a CloudTrail log file key: {why}"),
    };
    let [account, service, region, year, month, day, name] = rest else {
        if rest.get(1) == Some(&"CloudTrail-Digest") {
            return KeyKind::Digest;
        }
        if rest.get(1) == Some(&"CloudTrail-Insight") {
            return KeyKind::Insight;
        }
        return other("expected AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>");
    };
    match *service {
        "CloudTrail" => {}
        "CloudTrail-Digest" => return KeyKind::Digest,
        "CloudTrail-Insight" => return KeyKind::Insight,
        s => return other(&format!("{s}/ is not CloudTrail/")),
    }
    if !all_digits(account, 12) {
        return other(&format!("{account:?} is not a 12-digit account id"));
    }
    if !(all_digits(year, 4) && all_digits(month, 2) && all_digits(day, 2)) {
        return other("the date folders are not YYYY/MM/DD");
    }
    let expected_start = format!("{account}_CloudTrail_{region}_");
    if !name.starts_with(&expected_start) {
        return other(&format!("file name does not start with {expected_start}"));
    }
    if !(name.ends_with(".json.gz") || name.ends_with(".json")) {
        return other("file name does not end with .json.gz");
    }
    KeyKind::LogFile {
        account: account.to_string(),
        region: region.to_string(),
        organization,
        date: format!("{year}-{month}-{day}"),
    }
}

/// The log files to scan for `trailwarden scan PATH...`: files named directly are taken as
/// they are; directories are walked recursively for `.json.gz` and `.json` files, leaving out
/// digest and Insights files and the writability probe (judged from the path, as for S3 keys).
/// Sorted, without duplicates.
pub fn find_log_files(paths: &[std::path::PathBuf]) -> io::Result<Vec<std::path::PathBuf>> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(&path, out)?;
            } else if kind.is_file() || kind.is_symlink() {
                let name = path.to_string_lossy();
                let wanted = name.ends_with(".json.gz") || name.ends_with(".json");
                let other_kind = matches!(
                    classify_key(&name.replace(std::path::MAIN_SEPARATOR, "/")),
                    KeyKind::Digest | KeyKind::Insight | KeyKind::WritabilityCheck
                );
                if wanted && !other_kind {
                    out.push(path);
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if std::fs::metadata(p)?.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Errors and progress
// ---------------------------------------------------------------------------------------------

/// How far a file was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Elements of `Records` handed out so far.
    pub records: u64,
    /// Decompressed bytes consumed.
    pub bytes: u64,
    /// Compressed bytes read from the source (when known).
    pub compressed_bytes: Option<u64>,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.compressed_bytes {
            Some(c) => write!(
                f,
                "after {} records, {} bytes of JSON ({} compressed bytes read)",
                self.records, self.bytes, c
            ),
            None => write!(f, "after {} records, {} bytes", self.records, self.bytes),
        }
    }
}

/// Why a log file could not be read to the end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The source itself failed (network, disk): worth retrying.
    #[error("reading failed {progress}: {message}")]
    Read { message: String, progress: Progress },
    /// The gzip stream is corrupt or cut short.
    #[error("corrupt or truncated gzip data {progress}: {message}")]
    Gzip { message: String, progress: Progress },
    /// The JSON ends before the `Records` array and the top-level object are closed.
    #[error("truncated file: the JSON ends {progress} before the Records array is closed")]
    Truncated { progress: Progress },
    /// Broken JSON structure the reader cannot get past.
    #[error("malformed JSON {progress}: {message}")]
    Syntax { message: String, progress: Progress },
    /// Valid JSON, but not a CloudTrail log file.
    #[error("not a CloudTrail log file: {message}")]
    NotLogFile { message: String },
}

impl LogError {
    /// True for failures of the source (retrying may help), false for bad content.
    pub fn is_transient(&self) -> bool {
        matches!(self, LogError::Read { .. })
    }

    /// How far reading got, when the error happened while reading records.
    pub fn progress(&self) -> Option<Progress> {
        match self {
            LogError::Read { progress, .. }
            | LogError::Gzip { progress, .. }
            | LogError::Truncated { progress }
            | LogError::Syntax { progress, .. } => Some(*progress),
            LogError::NotLogFile { .. } => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Opening a source: gzip detection and counting
// ---------------------------------------------------------------------------------------------

/// Counters shared between a source wrapper and the reader that reports progress.
#[derive(Debug, Clone, Default)]
pub struct SourceStats {
    bytes: Arc<AtomicU64>,
    failed: Arc<AtomicBool>,
}

impl SourceStats {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    /// True once a read from the underlying source failed.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

/// Counts bytes read from the wrapped source and remembers whether it failed.
pub struct Counting<R> {
    inner: R,
    stats: SourceStats,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.stats.failed.store(true, Ordering::Relaxed);
                Err(e)
            }
        }
    }
}

/// A source ready for [`LogReader`]: decompressed when it starts with the gzip magic bytes.
pub struct Opened {
    pub reader: Box<dyn Read + Send>,
    pub gzip: bool,
    pub stats: SourceStats,
}

/// Wraps a raw source (a file, an S3 body): counts its bytes and adds gzip decoding when the
/// data starts with the gzip magic bytes, so `.json.gz` and `.json` are both accepted.
pub fn open<R: Read + Send + 'static>(source: R) -> io::Result<Opened> {
    let stats = SourceStats::default();
    let mut buffered = BufReader::with_capacity(
        64 << 10,
        Counting {
            inner: source,
            stats: stats.clone(),
        },
    );
    let head = loop {
        match buffered.fill_buf() {
            Ok(h) => break h,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    let gzip = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    let reader: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    Ok(Opened {
        reader,
        gzip,
        stats,
    })
}

// ---------------------------------------------------------------------------------------------
// The structural scanner
// ---------------------------------------------------------------------------------------------

/// Position of one top-level field inside a record's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    key: (u32, u32),
    value: (u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth1 {
    Key,
    InKey,
    AfterKey,
    AwaitValue,
    InValue,
}

const C_OTHER: u8 = 0;
const C_WS: u8 = 1;
const C_QUOTE: u8 = 2;
const C_OPEN: u8 = 3;
const C_CLOSE: u8 = 4;
const C_COMMA: u8 = 5;
const C_COLON: u8 = 6;

static CLASS: [u8; 256] = {
    let mut t = [C_OTHER; 256];
    t[b' ' as usize] = C_WS;
    t[b'\t' as usize] = C_WS;
    t[b'\n' as usize] = C_WS;
    t[b'\r' as usize] = C_WS;
    t[b'"' as usize] = C_QUOTE;
    t[b'{' as usize] = C_OPEN;
    t[b'[' as usize] = C_OPEN;
    t[b'}' as usize] = C_CLOSE;
    t[b']' as usize] = C_CLOSE;
    t[b',' as usize] = C_COMMA;
    t[b':' as usize] = C_COLON;
    t
};

/// Index of the closing quote of a string whose content starts at `from`, or `Err(resume)`:
/// where to resume once more data is there.
#[inline]
fn string_end(buf: &[u8], mut from: usize) -> Result<usize, usize> {
    loop {
        match memchr::memchr2(b'"', b'\\', &buf[from..]) {
            None => return Err(buf.len()),
            Some(off) => {
                let at = from + off;
                if buf[at] == b'"' {
                    return Ok(at);
                }
                if at + 1 >= buf.len() {
                    return Err(at);
                }
                from = at + 2;
            }
        }
    }
}

/// Resumable scan of one JSON value: finds where it ends and, for an object, where its
/// top-level fields are. Offsets are relative to the value's first byte.
#[derive(Debug)]
struct ValueScan {
    i: usize,
    stack: Vec<u8>,
    in_str: bool,
    track: bool,
    state: Depth1,
    key: (usize, usize),
    val_start: usize,
    val_end: usize,
    fields: Vec<Field>,
    first: u8,
}

impl ValueScan {
    fn new() -> Self {
        ValueScan {
            i: 0,
            stack: Vec::with_capacity(32),
            in_str: false,
            track: false,
            state: Depth1::Key,
            key: (0, 0),
            val_start: 0,
            val_end: 0,
            fields: Vec::with_capacity(32),
            first: 0,
        }
    }

    fn reset(&mut self, first: u8, track: bool) {
        self.i = 0;
        self.stack.clear();
        self.in_str = false;
        self.track = track && first == b'{';
        self.state = Depth1::Key;
        self.fields.clear();
        self.first = first;
    }

    fn push_field(&mut self) {
        if self.track && self.state == Depth1::InValue {
            self.fields.push(Field {
                key: (self.key.0 as u32, self.key.1 as u32),
                value: (self.val_start as u32, self.val_end as u32),
            });
        }
        self.state = Depth1::Key;
    }

    /// Drops the first `n` bytes (they were consumed while skipping an oversized value).
    fn rebase(&mut self, n: usize) {
        self.i -= n;
        self.track = false;
        self.fields.clear();
    }

    /// Continues scanning `buf` (which starts at the value's first byte). `Ok(Some(len))` when
    /// the value is complete, `Ok(None)` when more data is needed.
    fn run(&mut self, buf: &[u8], eof: bool) -> Result<Option<usize>, String> {
        // Scalars (numbers, true, false, null) end at a delimiter.
        if !matches!(self.first, b'{' | b'[' | b'"') {
            while self.i < buf.len() {
                match CLASS[buf[self.i] as usize] {
                    C_OTHER => self.i += 1,
                    _ => return Ok(Some(self.i)),
                }
            }
            return Ok(if eof { Some(self.i) } else { None });
        }
        loop {
            if self.in_str {
                match string_end(buf, self.i) {
                    Ok(q) => {
                        self.in_str = false;
                        self.i = q + 1;
                        if self.stack.is_empty() {
                            return Ok(Some(self.i));
                        }
                        if self.track && self.stack.len() == 1 {
                            match self.state {
                                Depth1::InKey => {
                                    self.key.1 = q;
                                    self.state = Depth1::AfterKey;
                                }
                                Depth1::InValue => self.val_end = q + 1,
                                _ => {}
                            }
                        }
                    }
                    Err(resume) => {
                        self.i = resume;
                        return Ok(None);
                    }
                }
            }
            if self.track && self.stack.len() == 1 {
                if self.scan_depth1(buf)? {
                    return Ok(Some(self.i));
                }
            } else if self.scan_nested(buf)? {
                return Ok(Some(self.i));
            }
            if self.i >= buf.len() && !self.in_str {
                return Ok(None);
            }
        }
    }

    /// The record's own level: tracks keys and values. Returns true when the record closed;
    /// false when it stopped at a string or a nested value (or the end of the data).
    fn scan_depth1(&mut self, buf: &[u8]) -> Result<bool, String> {
        while self.i < buf.len() {
            let b = buf[self.i];
            match CLASS[b as usize] {
                C_WS => {}
                C_QUOTE => {
                    match self.state {
                        Depth1::Key => {
                            self.key.0 = self.i + 1;
                            self.state = Depth1::InKey;
                        }
                        Depth1::AwaitValue => {
                            self.val_start = self.i;
                            self.state = Depth1::InValue;
                        }
                        Depth1::InValue => {}
                        s => {
                            return Err(format!(
                                "unexpected '\"' at byte {} of a record ({s:?})",
                                self.i
                            ))
                        }
                    }
                    self.in_str = true;
                    self.i += 1;
                    return Ok(false);
                }
                C_OPEN => {
                    if self.state == Depth1::AwaitValue {
                        self.val_start = self.i;
                        self.state = Depth1::InValue;
                    }
                    self.stack.push(b);
                    self.i += 1;
                    return Ok(false);
                }
                C_CLOSE => {
                    if b != b'}' {
                        return Err(format!("unexpected ']' at byte {} of a record", self.i));
                    }
                    self.push_field();
                    self.stack.pop();
                    self.i += 1;
                    return Ok(true);
                }
                C_COMMA => self.push_field(),
                C_COLON => {
                    if self.state != Depth1::AfterKey {
                        return Err(format!("unexpected ':' at byte {} of a record", self.i));
                    }
                    self.state = Depth1::AwaitValue;
                }
                _ => {
                    if self.state == Depth1::AwaitValue {
                        self.val_start = self.i;
                        self.state = Depth1::InValue;
                    }
                    self.val_end = self.i + 1;
                }
            }
            self.i += 1;
        }
        Ok(false)
    }

    /// Anywhere else: only strings and brackets matter. Returns true when the value closed;
    /// false when it stopped at a string, back at the record's level, or at the end of data.
    fn scan_nested(&mut self, buf: &[u8]) -> Result<bool, String> {
        while self.i < buf.len() {
            let b = buf[self.i];
            match CLASS[b as usize] {
                C_QUOTE => {
                    self.in_str = true;
                    self.i += 1;
                    return Ok(false);
                }
                C_OPEN => {
                    self.stack.push(b);
                    self.i += 1;
                    if self.track && self.stack.len() == 1 {
                        return Ok(false);
                    }
                    continue;
                }
                C_CLOSE => {
                    let open = self.stack.pop();
                    if !matches!((open, b), (Some(b'{'), b'}') | (Some(b'['), b']')) {
                        return Err(format!(
                            "unexpected '{}' at byte {} of a value",
                            b as char, self.i
                        ));
                    }
                    self.i += 1;
                    if self.stack.is_empty() {
                        return Ok(true);
                    }
                    if self.track && self.stack.len() == 1 {
                        self.val_end = self.i;
                        return Ok(false);
                    }
                    continue;
                }
                _ => {}
            }
            self.i += 1;
        }
        Ok(false)
    }
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/// One element of `Records`, unparsed.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// Position in the `Records` array (0-based).
    pub index: u64,
    bytes: &'a [u8],
    fields: &'a [Field],
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
                Ok(RawRecord {
                    index: 0,
                    bytes: &body[..len],
                    fields,
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
        let k = key.as_bytes();
        self.fields.iter().rev().find_map(|f| {
            let name = &self.bytes[f.key.0 as usize..f.key.1 as usize];
            (name == k).then(|| &self.bytes[f.value.0 as usize..f.value.1 as usize])
        })
    }

    /// Where a top-level field's value is within [`RawRecord::bytes`] (start, end).
    pub fn span(&self, key: &str) -> Option<(usize, usize)> {
        let k = key.as_bytes();
        self.fields.iter().rev().find_map(|f| {
            let name = &self.bytes[f.key.0 as usize..f.key.1 as usize];
            (name == k).then_some((f.value.0 as usize, f.value.1 as usize))
        })
    }

    /// True when the record has this top-level field (with any value, even `null`).
    pub fn has(&self, key: &str) -> bool {
        let k = key.as_bytes();
        self.fields
            .iter()
            .any(|f| &self.bytes[f.key.0 as usize..f.key.1 as usize] == k)
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
        match self.get(key) {
            None => Ok(None),
            Some(raw) => raw_str(raw),
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
    match raw.first() {
        Some(b'"') if raw.len() >= 2 && raw[raw.len() - 1] == b'"' => {
            let inner = &raw[1..raw.len() - 1];
            if memchr::memchr(b'\\', inner).is_none() {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    /// Inside the top-level object, before a key (`first`: no key read yet).
    TopKey {
        first: bool,
    },
    /// Inside `Records`, before an element (`first`: no element read yet).
    InRecords {
        first: bool,
    },
    Done,
}

/// Streams the records of one CloudTrail log file (decompressed JSON).
pub struct LogReader<R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    read_total: u64,
    phase: Phase,
    records: u64,
    scan: ValueScan,
    /// Bytes to consume before the next element (the element last handed out).
    pending: usize,
    saw_records: bool,
    top_keys: Vec<String>,
    stats: Option<SourceStats>,
    gzip: bool,
    max_record: usize,
}

impl<R: Read> LogReader<R> {
    /// Reads plain (decompressed) JSON.
    pub fn new(src: R) -> Self {
        LogReader {
            src,
            buf: vec![0; INITIAL_BUFFER],
            pos: 0,
            end: 0,
            eof: false,
            read_total: 0,
            phase: Phase::Start,
            records: 0,
            scan: ValueScan::new(),
            pending: 0,
            saw_records: false,
            top_keys: Vec::new(),
            stats: None,
            gzip: false,
            max_record: MAX_RECORD_BYTES,
        }
    }

    /// Caps the size of one record (mostly for tests); larger ones are skipped and reported.
    pub fn with_max_record(mut self, max: usize) -> Self {
        self.max_record = max.max(1024);
        self
    }

    /// How far the reader got.
    pub fn progress(&self) -> Progress {
        Progress {
            records: self.records,
            bytes: self.read_total - (self.end - self.pos) as u64,
            compressed_bytes: self
                .stats
                .as_ref()
                .filter(|_| self.gzip)
                .map(SourceStats::bytes),
        }
    }

    /// Decompressed bytes read from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.read_total
    }

    fn io_error(&self, e: io::Error) -> LogError {
        let progress = self.progress();
        let source_failed = self.stats.as_ref().is_some_and(SourceStats::failed);
        if self.gzip && !source_failed {
            LogError::Gzip {
                message: e.to_string(),
                progress,
            }
        } else {
            LogError::Read {
                message: e.to_string(),
                progress,
            }
        }
    }

    fn syntax(&self, message: impl Into<String>) -> LogError {
        LogError::Syntax {
            message: message.into(),
            progress: self.progress(),
        }
    }

    /// Reads more data, keeping `buf[pos..end]`. Returns false at end of input.
    fn fill(&mut self) -> Result<bool, LogError> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).min(self.max_record + INITIAL_BUFFER);
            if grown <= self.buf.len() {
                return Err(self.syntax("internal: buffer cannot grow"));
            }
            self.buf.resize(grown, 0);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    self.read_total += n as u64;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            }
        }
    }

    /// The next non-whitespace byte (not consumed), `None` at end of input.
    fn peek(&mut self) -> Result<Option<u8>, LogError> {
        loop {
            while self.pos < self.end {
                let b = self.buf[self.pos];
                if b.is_ascii_whitespace() {
                    self.pos += 1;
                } else {
                    return Ok(Some(b));
                }
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    fn expect_more(&mut self) -> Result<u8, LogError> {
        self.peek()?.ok_or(LogError::Truncated {
            progress: self.progress(),
        })
    }

    /// Scans the value at `pos`. Returns its length (the value stays in the buffer) or `None`
    /// when it was larger than `limit` and has been skipped (consumed).
    fn scan_value(&mut self, track: bool, limit: usize) -> Result<Option<usize>, LogError> {
        let first = self.buf[self.pos];
        self.scan.reset(first, track);
        let mut skipping = false;
        loop {
            let res = self
                .scan
                .run(&self.buf[self.pos..self.end], self.eof)
                .map_err(|m| self.syntax(m))?;
            if let Some(len) = res {
                if skipping {
                    self.pos += len;
                    return Ok(None);
                }
                return Ok(Some(len));
            }
            if self.eof {
                return Err(LogError::Truncated {
                    progress: self.progress(),
                });
            }
            if !skipping && self.end - self.pos >= limit {
                skipping = true;
            }
            if skipping {
                // Keep only what the scanner still needs (an escape pair split by the end).
                let consumed = self.scan.i;
                self.pos += consumed;
                self.scan.rebase(consumed);
            }
            self.fill()?;
        }
    }

    /// The next element of `Records`, `None` after the file's end was checked.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Element<'_>>, LogError> {
        if self.pending > 0 {
            self.pos += self.pending;
            self.pending = 0;
        }
        loop {
            match self.phase {
                Phase::Done => return Ok(None),
                Phase::Start => {
                    // A UTF-8 byte order mark is tolerated.
                    if self.peek()? == Some(0xEF) {
                        while self.end - self.pos < 3 && self.fill()? {}
                        if self.buf[self.pos..self.end].starts_with(&[0xEF, 0xBB, 0xBF]) {
                            self.pos += 3;
                        }
                    }
                    match self.peek()? {
                        Some(b'{') => {
                            self.pos += 1;
                            self.phase = Phase::TopKey { first: true };
                        }
                        Some(b) => {
                            return Err(LogError::NotLogFile {
                                message: format!(
                                    "expected a JSON object {{\"Records\": [...]}}, found {}",
                                    if b.is_ascii_punctuation() || b.is_ascii_alphanumeric() {
                                        kind_of_json(b)
                                    } else {
                                        "binary data"
                                    }
                                ),
                            })
                        }
                        None => {
                            return Err(LogError::NotLogFile {
                                message: "the file is empty".into(),
                            })
                        }
                    }
                }
                Phase::TopKey { first } => {
                    let mut b = self.expect_more()?;
                    if !first && b != b'}' {
                        if b != b',' {
                            return Err(self.syntax(format!(
                                "expected ',' or '}}' in the top-level object, found '{}'",
                                b as char
                            )));
                        }
                        self.pos += 1;
                        b = self.expect_more()?;
                    }
                    if b == b'}' {
                        self.pos += 1;
                        if self.peek()?.is_some() {
                            return Err(self.syntax("unexpected data after the top-level object"));
                        }
                        self.phase = Phase::Done;
                        if !self.saw_records {
                            let keys = if self.top_keys.is_empty() {
                                "none".to_string()
                            } else {
                                self.top_keys.join(", ")
                            };
                            return Err(LogError::NotLogFile {
                                message: format!(
                                    "no \"Records\" array (top-level keys: {keys}); digest and Insights files look like this"
                                ),
                            });
                        }
                        return Ok(None);
                    }
                    if b != b'"' {
                        return Err(self.syntax(format!(
                            "expected a key in the top-level object, found '{}'",
                            b as char
                        )));
                    }
                    let len = self
                        .scan_value(false, 4096)?
                        .ok_or_else(|| self.syntax("a top-level key longer than 4 KiB"))?;
                    let key = String::from_utf8_lossy(&self.buf[self.pos + 1..self.pos + len - 1])
                        .into_owned();
                    self.pos += len;
                    if self.expect_more()? != b':' {
                        return Err(self.syntax(format!("expected ':' after the key {key:?}")));
                    }
                    self.pos += 1;
                    let v = self.expect_more()?;
                    if key == "Records" {
                        if v != b'[' {
                            return Err(LogError::NotLogFile {
                                message: format!(
                                    "\"Records\" is {}, not an array",
                                    kind_of_json(v)
                                ),
                            });
                        }
                        self.saw_records = true;
                        self.pos += 1;
                        self.phase = Phase::InRecords { first: true };
                    } else {
                        if self.top_keys.len() < 8 {
                            self.top_keys.push(key);
                        }
                        // Any other top-level value is skipped without being held.
                        if let Some(len) = self.scan_value(false, 64 << 10)? {
                            self.pos += len;
                        }
                        self.phase = Phase::TopKey { first: false };
                    }
                }
                Phase::InRecords { first } => {
                    let mut b = self.expect_more()?;
                    if b == b']' {
                        self.pos += 1;
                        self.phase = Phase::TopKey { first: false };
                        continue;
                    }
                    if !first {
                        if b != b',' {
                            return Err(self.syntax(format!(
                                "expected ',' or ']' after record {}, found '{}'",
                                self.records.saturating_sub(1),
                                b as char
                            )));
                        }
                        self.pos += 1;
                        b = self.expect_more()?;
                    }
                    if !matches!(
                        b,
                        b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
                    ) {
                        return Err(
                            self.syntax(format!("expected a record, found '{}'", b as char))
                        );
                    }
                    self.phase = Phase::InRecords { first: false };
                    let index = self.records;
                    self.records += 1;
                    match self.scan_value(true, self.max_record)? {
                        None => {
                            return Ok(Some(Element::Unreadable {
                                index,
                                reason: format!(
                                    "record is larger than {} MiB; skipped",
                                    self.max_record >> 20
                                ),
                            }))
                        }
                        Some(len) => {
                            self.pending = len;
                            if b != b'{' {
                                return Ok(Some(Element::Unreadable {
                                    index,
                                    reason: format!("record is {}, not an object", kind_of_json(b)),
                                }));
                            }
                            return Ok(Some(Element::Record(RawRecord {
                                index,
                                bytes: &self.buf[self.pos..self.pos + len],
                                fields: &self.scan.fields,
                            })));
                        }
                    }
                }
            }
        }
    }
}

impl LogReader<Box<dyn Read + Send>> {
    /// A reader over an [`open`]ed source: progress includes compressed bytes, and gzip
    /// corruption is told apart from failures of the source.
    pub fn from_opened(o: Opened) -> Self {
        let mut r = LogReader::new(o.reader);
        r.gzip = o.gzip;
        r.stats = Some(o.stats);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Hands out data a few bytes at a time, to exercise every resume path.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Each element: its (key, raw value) pairs, or why it is unreadable.
    type Collected = Vec<Result<Vec<(String, String)>, String>>;

    fn collect<R: Read>(mut r: LogReader<R>) -> Result<Collected, LogError> {
        let mut out = Vec::new();
        while let Some(el) = r.next()? {
            out.push(match el {
                Element::Record(rec) => Ok(rec
                    .keys()
                    .map(|k| {
                        let k = String::from_utf8(k.to_vec()).unwrap();
                        let v = String::from_utf8(rec.get(&k).unwrap().to_vec()).unwrap();
                        (k, v)
                    })
                    .collect()),
                Element::Unreadable { index, reason } => Err(format!("{index}: {reason}")),
            });
        }
        Ok(out)
    }

    const SAMPLE: &str = r#"{"Records":[
        {"eventName" : "A", "n": 1.5e3, "nested": {"x": [1, {"y": "}]"}], "z": null}, "s": "q\"uote\\", "t": true},
        {},
        42,
        "text",
        {"eventName":"B","arr":[],"obj":{}}
    ], "other": {"skip": [1,2,3]}}"#;

    #[test]
    fn records_and_their_fields_whatever_the_chunking() {
        for step in [1, 2, 3, 7, 64, 100_000] {
            let r = LogReader::new(Trickle {
                data: SAMPLE.as_bytes(),
                step,
            });
            let got = collect(r).unwrap();
            assert_eq!(got.len(), 5, "step {step}");
            let first = got[0].as_ref().unwrap();
            assert_eq!(
                first,
                &vec![
                    ("eventName".to_string(), "\"A\"".to_string()),
                    ("n".into(), "1.5e3".into()),
                    (
                        "nested".into(),
                        r#"{"x": [1, {"y": "}]"}], "z": null}"#.into()
                    ),
                    ("s".into(), r#""q\"uote\\""#.into()),
                    ("t".into(), "true".into()),
                ],
                "step {step}"
            );
            assert_eq!(got[1].as_ref().unwrap().len(), 0);
            assert_eq!(
                got[2].as_ref().unwrap_err(),
                "2: record is a number, not an object"
            );
            assert_eq!(
                got[3].as_ref().unwrap_err(),
                "3: record is a string, not an object"
            );
            assert_eq!(got[4].as_ref().unwrap()[1], ("arr".into(), "[]".into()));
        }
    }

    #[test]
    fn string_fields_borrow_when_they_can() {
        let mut f = Vec::new();
        let r = RawRecord::scan(
            br#"{"a": "plain", "b": "es\u0063aped", "c": 5, "d": null}"#,
            &mut f,
        )
        .unwrap();
        assert!(matches!(r.str_field("a"), Ok(Some(Cow::Borrowed("plain")))));
        assert_eq!(r.str_field("b").unwrap().unwrap(), "escaped");
        assert!(r.str_field("c").unwrap_err().contains("number"));
        assert_eq!(r.str_field("d").unwrap(), None);
        assert_eq!(r.str_field("e").unwrap(), None);
        assert!(r.has("d"));
        assert!(!r.has("e"));
    }

    #[test]
    fn not_a_log_file() {
        let cases = [
            ("[1,2]", "found an array"),
            ("", "empty"),
            (
                r#"{"Records": {"a": 1}}"#,
                "\"Records\" is an object, not an array",
            ),
            (r#"{"Records": null}"#, "\"Records\" is null, not an array"),
            (
                r#"{"awsAccountId": "123456789012", "digestStartTime": "x", "logFiles": []}"#,
                "no \"Records\" array (top-level keys: awsAccountId, digestStartTime, logFiles)",
            ),
        ];
        for (text, want) in cases {
            let e = collect(LogReader::new(text.as_bytes())).unwrap_err();
            assert!(matches!(e, LogError::NotLogFile { .. }), "{text}: {e}");
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn truncated_json_says_how_far_it_got() {
        let text = r#"{"Records":[{"a":1},{"a":2},{"a":"#;
        let mut r = LogReader::new(text.as_bytes());
        let mut n = 0;
        let e = loop {
            match r.next() {
                Ok(Some(_)) => n += 1,
                Ok(None) => panic!("should fail"),
                Err(e) => break e,
            }
        };
        assert_eq!(n, 2);
        assert!(matches!(e, LogError::Truncated { .. }), "{e}");
        assert_eq!(e.progress().unwrap().records, 3);
        assert!(e.to_string().contains("after 3 records"), "{e}");
        // Cut between records too.
        let e = collect(LogReader::new(&br#"{"Records":[{"a":1}"#[..])).unwrap_err();
        assert!(matches!(e, LogError::Truncated { .. }), "{e}");
    }

    #[test]
    fn broken_structure_is_an_error_not_a_hang() {
        for text in [
            r#"{"Records":[{"a":1} {"a":2}]}"#,
            r#"{"Records":[{"a":[1}]}"#,
            r#"{"Records":[]} trailing"#,
        ] {
            let e = collect(LogReader::new(text.as_bytes())).unwrap_err();
            assert!(matches!(e, LogError::Syntax { .. }), "{text}: {e}");
        }
    }

    #[test]
    fn oversized_records_are_skipped_and_reported() {
        let big = "x".repeat(300_000);
        let text = format!(r#"{{"Records":[{{"a":"{big}"}},{{"eventName":"after"}}]}}"#);
        let r = LogReader::new(Trickle {
            data: text.as_bytes(),
            step: 4096,
        })
        .with_max_record(100_000);
        let got = collect(r).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[0].as_ref().unwrap_err().contains("larger than"));
        assert_eq!(got[1].as_ref().unwrap()[0].1, "\"after\"");
    }

    #[test]
    fn gzip_is_detected_and_corruption_reported_with_progress() {
        let mut records = String::from("{\"Records\":[");
        for i in 0..5000 {
            if i > 0 {
                records.push(',');
            }
            records.push_str(&format!(
                "{{\"eventName\":\"E{i}\",\"eventID\":\"{:032x}\"}}",
                (i as u128) * 0x9e3779b97f4a7c15
            ));
        }
        records.push_str("]}");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(records.as_bytes()).unwrap();
        let gz = enc.finish().unwrap();

        let ok = LogReader::from_opened(open(io::Cursor::new(gz.clone())).unwrap());
        assert_eq!(collect(ok).unwrap().len(), 5000);
        let plain = LogReader::from_opened(open(io::Cursor::new(records.into_bytes())).unwrap());
        assert_eq!(collect(plain).unwrap().len(), 5000);

        // Truncated gzip.
        let cut = gz[..gz.len() / 2].to_vec();
        let e = collect(LogReader::from_opened(open(io::Cursor::new(cut)).unwrap())).unwrap_err();
        assert!(
            matches!(e, LogError::Gzip { .. } | LogError::Truncated { .. }),
            "{e}"
        );
        let p = e.progress().unwrap();
        assert!(p.records > 0 && p.records < 5000, "{e}");
        assert!(p.compressed_bytes.unwrap() > 0, "{e}");

        // Corrupt gzip body.
        let mut bad = gz.clone();
        for b in &mut bad[gz.len() / 3..gz.len() / 3 + 64] {
            *b ^= 0x5a;
        }
        let e = collect(LogReader::from_opened(open(io::Cursor::new(bad)).unwrap())).unwrap_err();
        assert!(!e.is_transient(), "{e}");
        assert!(e.progress().is_some(), "{e}");
    }

    #[test]
    fn source_failures_are_transient() {
        struct Fails(usize);
        impl Read for Fails {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "connection reset",
                    ));
                }
                let data = b"{\"Records\":[{\"a\":1},";
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                self.0 -= 1;
                Ok(n)
            }
        }
        let e = collect(LogReader::from_opened(open(Fails(1)).unwrap())).unwrap_err();
        assert!(e.is_transient(), "{e}");
        assert!(e.to_string().contains("connection reset"), "{e}");
    }

    #[test]
    fn log_files_are_found_recursively_without_digests() {
        let root = std::env::temp_dir().join(format!("tw-find-{}", std::process::id()));
        let logs = root.join("AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/01");
        let digests = root.join("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/08/01");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::create_dir_all(&digests).unwrap();
        let a = logs.join("123456789012_CloudTrail_us-east-1_20240801T1335Z_a.json.gz");
        let b = logs.join("export.json");
        for f in [&a, &b, &logs.join("notes.txt"), &digests.join("d.json.gz")] {
            std::fs::write(f, b"{}").unwrap();
        }
        let single = root.join("single.log");
        std::fs::write(&single, b"{}").unwrap();
        let found = find_log_files(&[root.clone(), single.clone()]).unwrap();
        assert_eq!(found, {
            let mut v = vec![a, b, single];
            v.sort();
            v
        });
        assert!(find_log_files(&[root.join("missing")]).is_err());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn keys_are_classified() {
        let log = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/01/123456789012_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz";
        assert_eq!(
            classify_key(log),
            KeyKind::LogFile {
                account: "123456789012".into(),
                region: "us-east-1".into(),
                organization: None,
                date: "2024-08-01".into()
            }
        );
        let org = format!(
            "trail logs/AWSLogs/o-abc123def4/{}",
            &log["AWSLogs/".len()..]
        );
        assert!(matches!(
            classify_key(&org),
            KeyKind::LogFile { organization: Some(o), .. } if o == "o-abc123def4"
        ));
        assert_eq!(
            classify_key("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/08/01/123456789012_CloudTrail-Digest_us-east-1_main_us-east-1_20240801T140000Z.json.gz"),
            KeyKind::Digest
        );
        assert_eq!(
            classify_key("AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2024/08/01/123456789012_CloudTrail-Insight_us-east-1_20240801T1335Z_abc.json.gz"),
            KeyKind::Insight
        );
        assert_eq!(
            classify_key("AWSLogs/123456789012/ConfigWritabilityCheckFile"),
            KeyKind::WritabilityCheck
        );
        for other in [
            "exports/report.csv",
            "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2024/08/01/x.log.gz",
            "AWSLogs/12345/CloudTrail/us-east-1/2024/08/01/12345_CloudTrail_us-east-1_x.json.gz",
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/01/other.json.gz",
        ] {
            let k = classify_key(other);
            assert!(matches!(k, KeyKind::Other { .. }), "{other}: {k:?}");
            assert!(
                k.skip_reason().unwrap().contains("not a CloudTrail"),
                "{other}"
            );
        }
    }
}

//! [`LogReader`]: streams the elements of the top-level `Records` array of one log file.

use super::error::{LogError, Progress};
use super::record::{kind_of_json, Element, RawRecord};
use super::scanner::{sign_keys, ValueScan};
use super::source::{Opened, SourceStats};
use super::{INITIAL_BUFFER, MAX_RECORD_BYTES};
use std::io::{self, Read};

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
                            let bytes = &self.buf[self.pos..self.pos + len];
                            let filter = match self.scan.filter {
                                Some(filter) => filter,
                                None => sign_keys(bytes, &mut self.scan.fields),
                            };
                            return Ok(Some(Element::Record(RawRecord {
                                index,
                                bytes,
                                fields: &self.scan.fields,
                                filter,
                            })));
                        }
                    }
                }
            }
        }
    }
}

impl LogReader<Box<dyn Read + Send>> {
    /// A reader over an [`open`](super::open)ed source: progress includes compressed bytes, and gzip
    /// corruption is told apart from failures of the source.
    pub fn from_opened(o: Opened) -> Self {
        let mut r = LogReader::new(o.reader);
        r.gzip = o.gzip;
        r.stats = Some(o.stats);
        r
    }
}

//! The streaming log-file reader and the detection scanner over arbitrary bytes, plain or
//! gzip, handed out in small chunks.
//!
//! Oracles: never a panic; never more elements than bytes; and, whenever serde_json parses
//! the content as `{"Records": [...]}`, the reader hands out exactly those elements (each
//! record's bytes parse to the same value) and the indexed scanner counts the same matches
//! per detection as evaluating every pattern on the parsed record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use trailwarden::detect::{BuiltinOptions, Catalog, Scanner};
use trailwarden::logfile::{self, Element, LogReader};
use trailwarden_fuzz::{Chunked, Stored};

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| Catalog::builtin(BuiltinOptions::default()))
}

enum Got {
    Record(Vec<u8>),
    Unreadable,
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Stored::from_input(data) else {
        return;
    };
    // The JSON the reader sees, when we know it.
    let plain: Option<&[u8]> = if input.gzipped || !input.body.starts_with(&[0x1f, 0x8b]) {
        Some(input.body)
    } else {
        None
    };

    let opened =
        logfile::open(Chunked::new(input.stored.clone(), input.seed)).expect("no source error");
    let mut reader = LogReader::from_opened(opened);
    let mut got = Vec::new();
    let result = loop {
        match reader.next() {
            Ok(Some(Element::Record(raw))) => {
                let _ = raw.str_field("eventName");
                let _ = raw.value("userIdentity");
                let _ = raw.keys().count();
                got.push(Got::Record(raw.bytes().to_vec()));
            }
            Ok(Some(Element::Unreadable { reason, .. })) => {
                assert!(!reason.is_empty());
                got.push(Got::Unreadable);
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
        assert!(
            got.len() as u64 <= reader.bytes_read() + 1,
            "more elements than bytes"
        );
    };
    if let Err(e) = &result {
        assert!(!e.to_string().is_empty());
        assert!(!e.is_transient(), "an in-memory source never fails: {e}");
    }

    let Some(plain) = plain else { return };
    let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(plain) else {
        return;
    };
    let Some(Value::Array(records)) = top.get("Records") else {
        return;
    };
    // Duplicate top-level "Records" keys: serde keeps the last, which the reader need not do.
    if memchr_count(plain, b"\"Records\"") > 1 {
        return;
    }
    assert!(result.is_ok(), "valid log file refused: {result:?}");
    assert_eq!(got.len(), records.len(), "element count");
    for (g, want) in got.iter().zip(records) {
        match (g, want) {
            (Got::Record(bytes), Value::Object(_)) => {
                let v: Value = serde_json::from_slice(bytes).expect("record bytes are JSON");
                assert_eq!(&v, want);
            }
            (Got::Unreadable, w) => assert!(!w.is_object(), "object reported unreadable"),
            (Got::Record(_), w) => panic!("non-object handed out as a record: {w}"),
        }
    }

    // Scanner vs. evaluating each detection on the parsed record. Escaped keys are left out:
    // the scanner compares keys as written (CloudTrail never escapes them).
    if plain.contains(&b'\\') {
        return;
    }
    let cat = catalog();
    let mut scanner = Scanner::new(cat);
    let summary = scanner
        .scan_reader("fuzz", std::io::Cursor::new(input.stored))
        .expect("a valid log file scans");
    let non_objects = records.iter().filter(|r| !r.is_object()).count() as u64;
    assert_eq!(
        summary.unparsed_records, non_objects,
        "records left unevaluated"
    );
    let mut naive: BTreeMap<&str, u64> = BTreeMap::new();
    for r in records.iter().filter(|r| r.is_object()) {
        for d in cat.matching(r) {
            if d.threshold.is_none() {
                *naive.entry(d.id.as_str()).or_default() += 1;
            }
        }
    }
    let report = scanner.finish();
    let scanned: BTreeMap<&str, u64> = report
        .findings
        .iter()
        .filter(|f| f.threshold.is_none())
        .map(|f| (f.detection.as_str(), f.count))
        .collect();
    assert_eq!(scanned, naive, "scanner and per-record evaluation disagree");
});

fn memchr_count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

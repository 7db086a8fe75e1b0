//! Tests of the log file reader.

use super::*;
use std::borrow::Cow;
use std::io::{self, Read, Write};

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
                    // A value said to hold no escape holds no backslash (the literal tests
                    // and plain strings rely on it).
                    let escapes = rec.locate(&k).unwrap().escapes;
                    assert!(escapes || !v.contains('\\'), "{k}: {v} has a backslash");
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
        r#"{"Records":[{"a":[1},"b":2}]}"#,
        r#"{"Records":[{"a":{"x":[{"y":1]]},"b":2}]}"#,
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

/// Strings of every length around the scanner's 8-byte steps, with quotes, backslashes and
/// brackets at every position, nested in objects and arrays: each field's raw text must parse
/// back to the value that was written, whatever the chunking.
#[test]
fn long_and_escaped_strings_at_every_offset() {
    let mut records = Vec::new();
    for len in 0..40usize {
        for pos in 0..len.max(1) {
            let mut s: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            if len > 0 {
                let special = ["\"", "\\", "]", "}", "{", "[", "é"][(len + pos) % 7];
                s.replace_range(pos..pos + 1, special);
            }
            records.push(serde_json::json!({
                "k": s,
                "nested": {"a": [s, {"b": s}], "c": s},
                "after": len,
            }));
        }
    }
    let text = serde_json::json!({ "Records": records }).to_string();
    for step in [1, 5, 8, 13, 4096] {
        read_back(&text, step, &records, "short strings");
    }
}

/// Reads `text` in chunks of `step` bytes: every record must come back, in order, with each
/// field's raw text parsing to the value written in `records`. `what` names the case.
fn read_back(text: &str, step: usize, records: &[serde_json::Value], what: &str) {
    let got = collect(LogReader::new(Trickle {
        data: text.as_bytes(),
        step,
    }))
    .unwrap_or_else(|e| panic!("{what}, step {step}: {e}"));
    assert_eq!(got.len(), records.len(), "{what}, step {step}");
    for (g, want) in got.iter().zip(records) {
        let fields = g
            .as_ref()
            .unwrap_or_else(|e| panic!("{what}, step {step}: {e}"));
        let want = want.as_object().expect("records are objects");
        assert_eq!(fields.len(), want.len(), "{what}, step {step}");
        for (k, raw) in fields {
            // Keys come back as written: with their escapes.
            let key: String = serde_json::from_str(&format!("\"{k}\"")).unwrap();
            let v: serde_json::Value = serde_json::from_str(raw)
                .unwrap_or_else(|e| panic!("{what}, step {step}, {key:?}: {e}: {raw}"));
            assert_eq!(&v, &want[&key], "{what}, step {step}, field {key:?}");
        }
    }
}

/// Nested values longer than the scanner's 64-byte blocks: runs of 1 to 5 backslashes and
/// escaped quotes placed across every block boundary, brackets inside strings, and deep
/// nesting. Each field must come back as written, whatever the chunking.
#[test]
fn long_nested_values_with_escapes_across_blocks() {
    let mut records = Vec::new();
    for run in 1..=5usize {
        for pos in 0..140usize {
            let mut s: String = (0..150).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            let special: String = "\\".repeat(run) + if run % 2 == 1 { "\"" } else { "}" };
            s.replace_range(pos..pos + 1, &special);
            let deep = (0..(pos % 7)).fold(
                serde_json::json!([s, "]}{["]),
                |v, i| serde_json::json!({ format!("k{i}"): v, "s": "x\\\"]" }),
            );
            records.push(serde_json::json!({
                "eventName": s,
                "requestParameters": {"a": [s, {"b": s}], "deep": deep, "tail": "]"},
                "after": pos,
            }));
        }
    }
    let doc = serde_json::json!({ "Records": records });
    // Compact (as CloudTrail writes) and pretty-printed (white space everywhere).
    let texts = [doc.to_string(), serde_json::to_string_pretty(&doc).unwrap()];
    for (text, step) in texts
        .iter()
        .flat_map(|t| [1, 63, 64, 65, 100, 1 << 16].map(|step| (t, step)))
    {
        read_back(text, step, &records, "long nested values");
    }
}

/// Values nested deeper than the quick scan follows (64 open brackets, kept as bits), with
/// objects and arrays alternating: each field still comes back as written, and a closing
/// bracket of the wrong kind at any depth is an error.
#[test]
fn nesting_deeper_than_the_quick_scan_follows() {
    let mut records = Vec::new();
    // (serde_json, which reads the fields back, stops at 128.)
    for depth in [1usize, 2, 63, 64, 65, 66, 100, 126] {
        let deep = (0..depth).fold(serde_json::json!("leaf"), |v, i| {
            if i % 3 == 0 {
                serde_json::json!([v, "]"])
            } else {
                serde_json::json!({ "k": v, "s": "}" })
            }
        });
        records.push(serde_json::json!({ "before": 1, "deep": deep, "after": depth }));
    }
    let text = serde_json::json!({ "Records": records }).to_string();
    for step in [1, 64, 4096] {
        read_back(&text, step, &records, "deep nesting");
    }
    // The swapped bracket innermost and outermost, with either kind outermost.
    for (depth, first, swap) in [3usize, 64, 65, 70]
        .into_iter()
        .flat_map(|d| [(d, 0, 0), (d, 1, 0), (d, 0, d - 1), (d, 1, d - 1)])
    {
        let open: Vec<char> = (0..depth)
            .map(|i| if (i + first) % 2 == 0 { '[' } else { '{' })
            .collect();
        let mut close: Vec<char> = open
            .iter()
            .rev()
            .map(|&c| if c == '[' { ']' } else { '}' })
            .collect();
        close[swap] = if close[swap] == ']' { '}' } else { ']' };
        // Objects need keys: a record that is valid apart from the swapped bracket.
        let body: String = open
            .iter()
            .map(|&c| if c == '{' { "{\"k\":" } else { "[" })
            .collect();
        let close: String = close.into_iter().collect();
        let text = format!(r#"{{"Records":[{{"a":{body}0{close}}}]}}"#);
        let got = collect(LogReader::new(Trickle {
            data: text.as_bytes(),
            step: 4096,
        }));
        let failed = match got {
            Err(_) => true,
            Ok(records) => records.iter().any(|r| r.is_err()),
        };
        assert!(
            failed,
            "depth {depth}, closing bracket {swap} swapped: went unnoticed in {text}"
        );
    }
}

/// A small deterministic generator (SplitMix64), so that a failure names its seed.
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random string: letters, the characters the scanner looks for (quotes, backslashes,
/// brackets), control characters, multi-byte UTF-8, in runs long and short.
fn random_string(m: &mut Mix) -> String {
    let len = match m.below(4) {
        0 => m.below(4),
        1 => m.below(20),
        2 => 50 + m.below(100),
        _ => 60 + m.below(10),
    };
    (0..len)
        .map(|_| match m.below(12) {
            0 => '"',
            1 => '\\',
            2 => ['{', '}', '[', ']', ',', ':'][m.below(6) as usize],
            3 => ['\n', '\t', '\u{1}'][m.below(3) as usize],
            4 => ['é', '😀', '\u{2028}'][m.below(3) as usize],
            _ => (b'a' + m.below(26) as u8) as char,
        })
        .collect()
}

fn random_value(m: &mut Mix, depth: u32) -> serde_json::Value {
    use serde_json::Value;
    let pick = if depth > 5 { m.below(4) } else { m.below(7) };
    match pick {
        0 => Value::String(random_string(m)),
        // Binary fractions of moderate size: their text reads back to the same float.
        1 => serde_json::json!((m.next() % 2_000_000_000) as f64 / 8.0 - 1e8),
        2 => [Value::Null, Value::Bool(true), Value::Bool(false)][m.below(3) as usize].clone(),
        3 => serde_json::json!(m.below(1_000_000)),
        4 | 5 => Value::Object(
            (0..m.below(6))
                .map(|_| (random_string(m), random_value(m, depth + 1)))
                .collect(),
        ),
        _ => Value::Array(
            (0..m.below(6))
                .map(|_| random_value(m, depth + 1))
                .collect(),
        ),
    }
}

/// White space between every token of compact JSON (outside strings).
fn spaced(text: &str, m: &mut Mix) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let (mut in_str, mut escaped) = (false, false);
    for c in text.chars() {
        out.push(c);
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
        }
        if !in_str && matches!(c, '{' | '[' | ',' | ':' | '}' | ']' | '"') && m.below(3) == 0 {
            out.push_str([" ", "\n  ", "\t", "\r\n"][m.below(4) as usize]);
        }
    }
    out
}

/// Random records (any keys and values, long and short, deeply nested, compact or spaced)
/// read in random chunk sizes: every record comes back with each field's raw text parsing to
/// the value written.
#[test]
fn random_records_split_as_serde_json_reads_them() {
    for seed in 0..40u64 {
        let mut m = Mix(seed);
        let records: Vec<serde_json::Value> = (0..30)
            .map(|_| {
                serde_json::Value::Object(
                    (0..m.below(12))
                        .map(|_| (random_string(&mut m), random_value(&mut m, 0)))
                        .collect(),
                )
            })
            .collect();
        let compact = serde_json::json!({ "Records": records }).to_string();
        let text = if seed % 2 == 0 {
            compact
        } else {
            spaced(&compact, &mut m)
        };
        let step = [1, 7, 64, 500, 4096, 1 << 20][m.below(6) as usize];
        read_back(&text, step, &records, &format!("seed {seed}"));
    }
}

/// A gzip source whose reads hand out one byte at a time (a stream may cut its first chunk
/// after one byte) is still recognised as gzip from its two magic bytes, and read whole.
/// Found by the `logfile` fuzz target (seed byte 0: a first read of one byte).
#[test]
fn gzip_is_recognised_when_the_first_read_returns_one_byte() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(SAMPLE.as_bytes()).unwrap();
    // `open` takes a 'static source.
    let compressed: &'static [u8] = Box::leak(gz.finish().unwrap().into_boxed_slice());
    for step in [1, 2, 3] {
        let opened = open(Trickle {
            data: compressed,
            step,
        })
        .unwrap();
        assert!(opened.gzip, "step {step}");
        let got = collect(LogReader::from_opened(opened)).unwrap();
        assert_eq!(got.len(), 5, "step {step}");
    }
    // One byte in all: neither gzip nor a log file, and said so.
    let opened = open(Trickle {
        data: b"{",
        step: 1,
    })
    .unwrap();
    assert!(!opened.gzip);
}

/// Top-level lookups (through the key signatures and the record's key filter) find what a
/// plain search of the keys finds: the last of repeated keys, keys of every length to eight,
/// keys sharing their first eight bytes or their length, the empty key, a short key at the
/// record's very end, and none of many near misses. Read whole and a few bytes at a time (the
/// byte-wise scan) alike.
#[test]
fn lookups_find_what_a_plain_search_of_the_keys_finds() {
    let keys = [
        "eventName",
        "eventNameX",
        "eventNam",
        "eventSource",
        "eventSourcf",
        "abcdefgh",
        "abcdefgi",
        "",
        "a",
        "b",
        "type",
        "typf",
        "region",
        "errorCo",
        "userIdentity",
        "userIdentitz",
        "é",
        "es\\u0063aped",
    ];
    let mut m = Mix(7);
    let mut text = String::from(r#"{"Records":["#);
    let mut records = Vec::new();
    for r in 0..60 {
        let mut fields = Vec::new();
        for _ in 0..m.below(10) {
            let k = keys[m.below(keys.len() as u64) as usize];
            fields.push(format!(r#""{k}":{}"#, m.below(1000)));
        }
        // A short key last, so that fewer than eight bytes follow its start.
        if r % 3 == 0 {
            fields.push(r#""b":1"#.into());
        }
        let record = format!("{{{}}}", fields.join(","));
        records.push(record.clone());
        if r > 0 {
            text.push(',');
        }
        text.push_str(&record);
    }
    text.push_str("]}");
    let mut probes: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    for k in keys {
        probes.push(format!("{k}!"));
        probes.push(format!("!{k}"));
        if let Some((i, _)) = k.char_indices().last() {
            probes.push(k[..i].to_string());
        }
    }
    for step in [1, 5, 1 << 20] {
        let mut r = LogReader::new(Trickle {
            data: text.as_bytes(),
            step,
        });
        let mut n = 0;
        while let Some(Element::Record(rec)) = r.next().unwrap() {
            let mut f = Vec::new();
            let whole = RawRecord::scan(records[n].as_bytes(), &mut f).unwrap();
            for p in &probes {
                // The value of the last field whose key is written exactly as `p`.
                let want = rec
                    .keys()
                    .zip(rec.fields.iter())
                    .filter(|(k, _)| *k == p.as_bytes())
                    .last()
                    .map(|(_, f)| &rec.bytes()[f.value.0 as usize..f.value.1 as usize]);
                assert_eq!(rec.get(p), want, "step {step}, record {n}, key {p:?}");
                assert_eq!(
                    rec.has(p),
                    want.is_some(),
                    "step {step}, record {n}, key {p:?}"
                );
                assert_eq!(whole.get(p), want, "record {n} scanned alone, key {p:?}");
            }
            n += 1;
        }
        assert_eq!(n, records.len(), "step {step}");
    }
}

/// The splitter tells which values hold a backslash: a record split the quick way marks
/// exactly those, in strings, objects, arrays (a backslash in the last bytes of a 64-byte
/// block, or right after the value in the same block, included), and the byte-wise scan (a
/// record cut by the end of a read) marks every value as possibly escaped.
#[test]
fn values_with_escapes_are_marked() {
    let mut records = Vec::new();
    for pad in 0..70usize {
        let fill = "x".repeat(pad);
        records.push(serde_json::json!({
            "plain": fill,
            "esc": format!("{fill}\"q"),
            "obj": {"a": fill, "b": [1, 2]},
            "objesc": {"a": format!("{fill}\\")},
            "after": "\\",
            "arr": [fill],
            "n": pad,
        }));
    }
    let text = serde_json::json!({ "Records": records }).to_string();
    for step in [1 << 20, 1] {
        let mut r = LogReader::new(Trickle {
            data: text.as_bytes(),
            step,
        });
        let mut seen = 0;
        while let Some(el) = r.next().unwrap() {
            let Element::Record(rec) = el else {
                panic!("a record")
            };
            for k in ["plain", "esc", "obj", "objesc", "after", "arr", "n"] {
                let raw = std::str::from_utf8(rec.get(k).unwrap()).unwrap();
                let want = raw.contains('\\') || step == 1;
                assert_eq!(
                    rec.locate(k).unwrap().escapes,
                    want,
                    "step {step}, {k}: {raw}"
                );
            }
            seen += 1;
        }
        assert_eq!(seen, records.len());
    }
    // Not JSON, but split all the same (values are not validated): a backslash in a bare value.
    let text = br#"{"Records":[{"bad":12\3,"ok":"x"}]}"#;
    let mut r = LogReader::new(&text[..]);
    let Some(Element::Record(rec)) = r.next().unwrap() else {
        panic!("a record")
    };
    assert!(rec.locate("bad").unwrap().escapes);
    assert!(!rec.locate("ok").unwrap().escapes);
}

/// Keys with one signature (the same first eight bytes and length) are told apart by the rest
/// of their text; short keys by their signature alone; a repeated key reads as its last value.
#[test]
fn keys_sharing_a_signature_are_located_by_their_whole_text() {
    let text = br#"{"Records":[{"eventSourceA":1,"eventSourceB":2,"ab":3,"ac":4,"eventSourceA":5,"eventSou":6}]}"#;
    let mut r = LogReader::new(&text[..]);
    let Some(Element::Record(rec)) = r.next().unwrap() else {
        panic!("a record")
    };
    assert_eq!(
        super::key_sig(b"eventSourceA"),
        super::key_sig(b"eventSourceB")
    );
    for (key, want) in [
        ("eventSourceB", "2"),
        ("eventSourceA", "5"),
        ("ab", "3"),
        ("ac", "4"),
        ("eventSou", "6"),
    ] {
        assert_eq!(rec.get(key), Some(want.as_bytes()), "{key}");
    }
    for key in ["eventSourceC", "eventSourceAB", "eventSo", "a", "ad"] {
        assert_eq!(rec.get(key), None, "{key}");
    }
}

//! Inputs the fuzz targets in fuzz/ found crashing, kept as regression tests (scripts/fuzz.sh
//! runs the targets). Each test states the invariant the target checks.

use trailwarden::alert::{Alert, Severity, MAX_MESSAGE_BYTES};

/// fuzz target `alert`, crash-17a7eed5a647ae37aec3b447f8d0c7a4b8402f17: a detection id made
/// only of control characters rendered an empty `detection` message attribute (the value is
/// trimmed, found non-empty, then stripped of control characters). SNS refuses a publish with
/// an empty attribute value, so the alert would be lost. The same holds for `account` and
/// `region`, which come from the event.
#[test]
fn message_attributes_are_never_empty() {
    for odd in ["\u{1}", "\u{1}\u{7f}\u{85}", "\u{0}x\u{0}"] {
        let mut a = Alert::new(Severity::High, odd, "title");
        a.account = Some(odd.to_string());
        a.region = Some(odd.to_string());
        let r = a.render();
        for (name, value) in &r.attributes {
            assert!(!value.is_empty(), "attribute {name} is empty for {odd:?}");
            assert!(!value.chars().any(char::is_control), "{name}: {value:?}");
        }
        assert!(r.message.len() <= MAX_MESSAGE_BYTES);
    }
}

/// fuzz target `alert`, crash-92c635d7662f1293855a828b2cdc3f4051fb1e2b and 9 others like it:
/// a long detection id (60 kB of control characters here; each becomes a 6-byte `\u0001`
/// escape, escaped again inside the `default` string, and appears in the text too) gave an SNS
/// message of 790 kB, over `MAX_MESSAGE_BYTES`: `Alert::render`'s last resort trims titles,
/// summaries, facts, actions and the event, but not the detection id. Built-in ids are short,
/// but ids of custom detections (`CUSTOM_DETECTIONS_URI`, `trailwarden scan --detections`)
/// come from a user's file. SNS would refuse the publish and the alert would be lost.
#[test]
fn a_long_detection_id_still_fits_sns() {
    for id in ["\u{1}".repeat(60_909), "d".repeat(300_000)] {
        let mut a = Alert::new(Severity::High, id.clone(), "Something happened");
        a.summary = "s".repeat(1000);
        let r = a.render();
        assert!(
            r.message.len() <= MAX_MESSAGE_BYTES,
            "a {}-byte detection id gives a {}-byte message",
            id.len(),
            r.message.len()
        );
        assert!(r.subject.len() < 100);
    }
}

/// fuzz target `logfile`, crash-911ad2e0bb49c3b70a158d7c87c0e0fc05d817bd and
/// crash-c58a0d77a97987bd13bc8883dd608e7b4486bfa9: a gzip log file whose source handed out
/// one byte on the first read was taken for plain text ("found binary data"), because only
/// the first read was looked at for the two magic bytes. A stream may cut its first chunk
/// anywhere; the file would not have been scanned.
#[test]
fn gzip_is_recognised_when_the_first_read_returns_one_byte() {
    use std::io::{Read, Write};
    /// One byte per read.
    struct OneByte(Vec<u8>, usize);
    impl Read for OneByte {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(1).min(self.0.len() - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/logfile");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let input = std::fs::read(entry.unwrap().path()).unwrap();
        // The target's input: a mode byte (bit 0: gzip the body), a chunking seed, the body.
        let body = &input[2..];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(body).unwrap();
        let opened = trailwarden::logfile::open(OneByte(gz.finish().unwrap(), 0)).unwrap();
        assert!(opened.gzip);
        let mut reader = trailwarden::logfile::LogReader::from_opened(opened);
        let mut records = 0;
        while let Some(el) = reader.next().expect("a valid log file reads") {
            records += u64::from(matches!(el, trailwarden::logfile::Element::Record(_)));
        }
        assert!(records > 0);
        checked += 1;
    }
    assert_eq!(checked, 2);
}

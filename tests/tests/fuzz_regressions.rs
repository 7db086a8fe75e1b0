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

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

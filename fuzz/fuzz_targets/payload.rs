//! Payload parsing: any bytes give a payload or a `PayloadError` with a message, never a
//! panic; a parsed record survives a serialise/parse round trip, and an alert about it renders
//! within SNS's limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailwarden::alert::{Alert, EventContext, Severity, MAX_MESSAGE_BYTES};
use trailwarden::payload::record_from_value;
use trailwarden::Payload;
use trailwarden_fuzz::valid_subject;

fuzz_target!(|data: &[u8]| {
    let payload = match Payload::parse(data) {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let _ = payload.describe();
    let Some(record) = payload.record() else {
        return;
    };
    let principal = record.principal();
    let _ = (principal.display(), principal.kind(), principal.match_arn());
    let _ = (
        record.account_id(),
        record.console_url(),
        record.time(),
        record.failed(),
        record.request_str("userName"),
        record.response_element("user.userId"),
    );
    let _ = EventContext::from_record(record);

    // The record model is symmetric: what it serialises parses back to the same record.
    let v = serde_json::to_value(record).expect("a record serialises");
    let back = record_from_value(v, "").expect("a serialised record parses");
    assert_eq!(&back, record);

    // An alert carrying this record's strings renders within SNS's limits.
    let mut alert = Alert::new(
        Severity::High,
        "fuzz",
        format!("{} by {}", record.event_name(), principal.display()),
    )
    .about(record);
    alert.summary = format!("{:?}", record.error_message);
    let r = alert.render();
    assert!(valid_subject(&r.subject), "{:?}", r.subject);
    assert!(r.message.len() <= MAX_MESSAGE_BYTES);
});

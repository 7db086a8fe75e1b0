//! The sample alert `trailwarden alerts test` sends: clearly a test, about nothing that
//! happened, with a fingerprint that stays the same for the account and region, so repeated
//! tests update one Security Hub finding and one PagerDuty incident.

use trailwarden::alert::EventContext;
use trailwarden::{Alert, Severity};

/// The sample alert's detection id.
pub const DETECTION: &str = "trailwarden-test-alert";

/// A test alert for `account` in `region`.
pub fn alert(
    severity: Severity,
    account: Option<String>,
    region: Option<String>,
    alias: Option<String>,
    sent_at: &str,
) -> Alert {
    let mut a = Alert::new(
        severity,
        DETECTION,
        "trailwarden test alert: checking where alerts go",
    );
    a.account = account;
    a.region = region;
    a.account_alias = alias;
    a.summary = "This is a test alert sent by `trailwarden alerts test` to check that every \
                 configured destination receives trailwarden's alerts. Nothing happened in the \
                 account and nothing needs doing; repeated tests update the same Security Hub \
                 finding and PagerDuty incident."
        .into();
    a.event = Some(EventContext {
        event_id: Some("trailwarden-test-alert".into()),
        event_time: Some(sent_at.to_string()),
        actor: Some("trailwarden alerts test".into()),
        ..EventContext::default()
    });
    a = a
        .fact("Sent by", "trailwarden alerts test")
        .fact("Sent at", sent_at);
    a
}

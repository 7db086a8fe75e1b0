//! The wording of alerts (golden texts): titles, summaries and facts for the main kinds of
//! findings. Decisions themselves are asserted on findings in `chain.rs`.

mod support;

use log_integrity::check::{check_digest, DigestCheck, Options};
use log_integrity::execute::Output;
use log_integrity::keys::KeySet;
use log_integrity::store::Location;
use log_integrity::{alert_for, LogIntegrity};
use support::*;
use trailwarden::respond::{Decide, Decision, Reporting, Stats as _};
use trailwarden::Severity;

fn keys() -> KeySet {
    KeySet::from_json(keys_document(&[(cloudtrail_key(), Der::Pkcs1)]).as_bytes()).unwrap()
}

async fn check(store: &MemStore, key: &str) -> DigestCheck {
    check_digest(
        store,
        &keys(),
        &Options::default(),
        &Location::new(&store.bucket, key),
        None,
    )
    .await
}

fn trail() -> Trail {
    Trail::generate(&Spec::default(), cloudtrail_key())
}

#[tokio::test]
async fn an_edited_log_file() {
    let (t, victim) = edited();
    let c = check(&t.store(), &t.digests[1]).await;
    let a = alert_for(&c, Some("prod")).unwrap();
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(
        a.title,
        "CloudTrail log tampering: 1 log file modified (trail management-events)"
    );
    assert_eq!(a.account.as_deref(), Some(ACCOUNT));
    assert_eq!(a.account_alias.as_deref(), Some("prod"));
    let text = a.render().text;
    assert!(text.contains(&victim), "{text}");
    assert!(
        text.contains("Log files: 2 listed: 1 valid, 1 modified or corrupt, 0 deleted"),
        "{text}"
    );
    assert!(text.contains("content changed since delivery"), "{text}");
}

#[tokio::test]
async fn deleted_files_and_digests() {
    let t = trail();
    let store = t.store_without(&[&t.log_files[2][1]]);
    let a = alert_for(&check(&store, &t.digests[2]).await, None).unwrap();
    assert_eq!(
        a.title,
        "CloudTrail log tampering: 1 log file deleted (trail management-events)"
    );
    let store = t.store_without(&[&t.digests[1]]);
    let a = alert_for(&check(&store, &t.digests[2]).await, None).unwrap();
    assert_eq!(a.severity, Severity::High);
    assert!(a.title.contains("previous digest deleted"), "{}", a.title);
    assert!(a
        .summary
        .contains("logging was stopped or a digest was deleted"));
}

#[tokio::test]
async fn an_incomplete_check_says_which_permissions_to_check() {
    let t = trail();
    let mut store = t.store();
    store.failing.insert(t.log_files[1][0].clone());
    let a = alert_for(&check(&store, &t.digests[1]).await, None).unwrap();
    assert_eq!(a.severity, Severity::Medium);
    assert!(
        a.title.starts_with("CloudTrail integrity check incomplete"),
        "{}",
        a.title
    );
    assert!(a.summary.contains("s3:GetObject"));
}

#[tokio::test]
async fn one_alert_names_every_file_concerned() {
    let (t, store, edited, deleted) = tampered();
    let a = alert_for(&check(&store, &t.digests[1]).await, None).unwrap();
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(
        a.title,
        "CloudTrail log tampering: 1 log file modified, 1 log file deleted, previous digest deleted (trail management-events)"
    );
    let r = a.render();
    for f in [&edited, &deleted, &t.digests[0], &t.digests[1]] {
        assert!(r.text.contains(f.as_str()), "{f} not in\n{}", r.text);
    }
    assert!(r.subject.len() < 100 && r.subject.starts_with("[CRITICAL] CloudTrail log tampering"));
    assert_eq!(r.json["evidence"]["findings"].as_array().unwrap().len(), 3);
    assert_eq!(
        r.json["evidence"]["findings"][1]["kind"],
        "log_file_missing"
    );
}

#[tokio::test]
async fn a_restart_says_logging_was_off_or_digests_were_deleted() {
    let t = Trail::generate(
        &Spec {
            restart_before: Some((2, 4)),
            ..Spec::default()
        },
        cloudtrail_key(),
    );
    let mut store = t.store();
    let a = alert_for(&check(&store, &t.digests[2]).await, None).unwrap();
    assert_eq!(a.severity, Severity::High);
    assert_eq!(
        a.title,
        "CloudTrail logging gap: 2024-05-14 11:01 to 2024-05-14 15:01 UTC (trail management-events)"
    );
    assert!(a.summary.contains("logging was off or digests were deleted between 2024-05-14T11:01:31Z and 2024-05-14T15:01:31Z (240 minutes)"), "{}", a.summary);
    assert!(
        a.summary.contains("StopLogging/StartLogging"),
        "{}",
        a.summary
    );
    let fact = |label: &str| {
        a.facts
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no fact {label}: {:?}", a.facts))
    };
    assert_eq!(
        fact("Hours without digests (UTC)"),
        "2024-05-14 11:00, 2024-05-14 12:00, 2024-05-14 13:00, 2024-05-14 14:00, 2024-05-14 15:00"
    );
    assert_eq!(
        fact("Last digest before the restart"),
        format!("s3://{}/{}", t.bucket, t.digests[1])
    );
    // A digest deleted before the restart, proven by the log file it left behind: tampering.
    store.objects.remove(&t.digests[1]);
    store.objects.remove(&t.log_files[1][0]);
    let a = alert_for(&check(&store, &t.digests[2]).await, None).unwrap();
    assert_eq!(
        a.title,
        "CloudTrail log tampering: digest chain restarted, 1 log file without digest (trail management-events)"
    );
    assert!(
        a.summary.contains("the digests covering them were deleted"),
        "{}",
        a.summary
    );
}

#[tokio::test]
async fn the_report_counts_and_the_plan_announces() {
    let t = trail();
    let notification = trailwarden_testkit::payload("s3-notification-digest-file.json");
    let config = trailwarden_testkit::config::<LogIntegrity>(&[]);
    let Decision::Respond { case, plan } = LogIntegrity::decide(&config, &notification, &()) else {
        panic!("a digest is verified")
    };
    // Offline: one informational alert naming the step.
    let r = LogIntegrity::report(&config, &case, &plan, None);
    assert_eq!(r.alerts.len(), 1);
    assert_eq!(
        r.alerts[0].title,
        "Would validate 1 CloudTrail digest file(s)"
    );
    assert_eq!(r.stats.digests_planned, 1);
    // Executed: a valid digest is counted, not alerted.
    let output = Output {
        checks: vec![check(&t.store(), &t.digests[1]).await],
    };
    let r = LogIntegrity::report(&config, &case, &plan, Some(&output));
    assert!(r.alerts.is_empty());
    assert_eq!(
        (
            r.stats.digests_checked,
            r.stats.digests_valid,
            r.stats.log_files_valid
        ),
        (1, 1, 2)
    );
    let lines = r.stats.lines();
    assert!(
        lines.contains(&("Digests valid", "1".to_string())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&("Chain restarts", "0".to_string())),
        "{lines:?}"
    );
}

//! Tampering scenarios on a signed digest chain, checked through the public API exactly as
//! the Lambda function (S3) and the CLI (local copy) use it.

mod support;

use log_integrity::check::{check_digest, DigestCheck, FileStatus, FindingKind, Options};
use log_integrity::keys::KeySet;
use log_integrity::offline::{validate_local, LocalOptions, Verdict};
use log_integrity::store::Location;
use serde_json::json;
use support::*;
use trailwarden::Severity;

fn keys() -> KeySet {
    KeySet::from_json(keys_document(&[(cloudtrail_key(), Der::Pkcs1)]).as_bytes()).unwrap()
}

fn trail() -> Trail {
    Trail::generate(&Spec::default(), cloudtrail_key())
}

async fn check(store: &MemStore, key: &str) -> DigestCheck {
    check_in(store, &Location::new(&store.bucket, key)).await
}

async fn check_in(store: &MemStore, at: &Location) -> DigestCheck {
    check_digest(store, &keys(), &Options::default(), at, None).await
}

fn kinds(c: &DigestCheck) -> Vec<FindingKind> {
    c.findings.iter().map(|f| f.kind).collect()
}

#[tokio::test]
async fn a_digest_reads_its_log_files_several_at_once_and_reports_them_in_order() {
    let t = Trail::generate(
        &Spec {
            digests: 2,
            logs_per_digest: 20,
            ..Spec::default()
        },
        cloudtrail_key(),
    );
    let mut store = t.store();
    store.read_wait = Some(std::time::Duration::from_millis(20));
    // One listed file deleted, one edited: their verdicts stay at their places in the list.
    let listed = &t.log_files[1];
    store.objects.remove(&listed[3]);
    store.objects.get_mut(&listed[11]).unwrap().body = gzip(b"{\"Records\":[]}");
    let c = check(&store, &t.digests[1]).await;
    let got: Vec<(&str, FileStatus)> = c
        .log_files
        .iter()
        .map(|l| (l.location.key.as_str(), l.status))
        .collect();
    let want: Vec<(&str, FileStatus)> = listed
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let status = match i {
                3 => FileStatus::Missing,
                11 => FileStatus::Invalid,
                _ => FileStatus::Valid,
            };
            (k.as_str(), status)
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        kinds(&c),
        vec![FindingKind::LogFileMissing, FindingKind::LogFileModified]
    );
    // Eight reads waited on at once (the digest and its predecessor are read alone).
    assert_eq!(
        store.in_flight.lock().unwrap().1,
        log_integrity::check::LOG_FILE_READS
    );
}

#[tokio::test]
async fn a_valid_chain_passes() {
    let t = trail();
    let store = t.store();
    for (i, d) in t.digests.iter().enumerate() {
        let c = check(&store, d).await;
        assert!(c.is_valid(), "digest {i}: {:#?}", c.findings);
        assert!(c.signature_verified);
        assert_eq!(c.log_files.len(), 2);
        assert!(c.log_files.iter().all(|l| l.status == FileStatus::Valid));
        assert_eq!(c.trail.as_deref(), Some("management-events"));
        assert_eq!(c.region.as_deref(), Some("us-east-1"));
        if i == 0 {
            assert_eq!(c.previous, None, "the first digest starts the chain");
        } else {
            assert_eq!(c.previous, Some(t.at(&t.digests[i - 1])));
        }
        assert_eq!(c.severity(), None, "a valid digest raises nothing");
    }
    // Every listed log file was read.
    let reads = store.reads.lock().unwrap();
    for f in t.log_files.iter().flatten() {
        assert!(reads.contains(f), "{f} not read");
    }
}

#[tokio::test]
async fn digests_of_quiet_hours_list_no_log_files_and_still_chain() {
    let spec = Spec {
        logs_per_digest: 0,
        ..Spec::default()
    };
    let t = Trail::generate(&spec, cloudtrail_key());
    assert_eq!(t.digest_json(&t.digests[1])["logFiles"], json!([]));
    let mut store = t.store();
    let c = check(&store, &t.digests[2]).await;
    assert!(c.is_valid(), "{:#?}", c.findings);
    assert!(c.log_files.is_empty());
    store.objects.remove(&t.digests[1]);
    assert_eq!(
        kinds(&check(&store, &t.digests[2]).await),
        vec![FindingKind::PreviousDigestMissing]
    );
}

#[tokio::test]
async fn spki_encoded_keys_verify_too() {
    let t = trail();
    let keys = KeySet::from_json(
        keys_document(&[(attacker_key(), Der::Pkcs1), (cloudtrail_key(), Der::Spki)]).as_bytes(),
    )
    .unwrap();
    let c = check_digest(
        &t.store(),
        &keys,
        &Options::default(),
        &t.at(&t.digests[1]),
        None,
    )
    .await;
    assert!(c.is_valid(), "{:#?}", c.findings);
    assert!(c.signature_verified);
}

#[tokio::test]
async fn an_edited_log_file_is_critical_and_named() {
    // The attacker removes the record of what they did.
    let (t, victim) = edited();
    let store = t.store();
    let c = check(&store, &t.digests[1]).await;
    assert_eq!(kinds(&c), vec![FindingKind::LogFileModified]);
    assert_eq!(c.severity(), Some(Severity::Critical));
    assert_eq!(c.findings[0].file, format!("s3://{}/{victim}", t.bucket));
    assert!(c.findings[0]
        .detail
        .contains("content changed since delivery"));
    assert!(c.signature_verified, "the digest itself is intact");
    assert_eq!(c.count(FileStatus::Invalid), 1);
    assert_eq!(c.count(FileStatus::Valid), 1);
    // The other digests are not affected.
    assert!(check(&store, &t.digests[0]).await.is_valid());
    assert!(check(&store, &t.digests[2]).await.is_valid());
    assert_eq!(c.trail.as_deref(), Some("management-events"));
    assert_eq!(c.account.as_deref(), Some(ACCOUNT));
}

#[tokio::test]
async fn a_deleted_log_file_is_critical() {
    let t = trail();
    let gone = t.log_files[2][1].clone();
    let store = t.store_without(&[&gone]);
    let c = check(&store, &t.digests[2]).await;
    assert_eq!(kinds(&c), vec![FindingKind::LogFileMissing]);
    assert_eq!(c.severity(), Some(Severity::Critical));
    assert!(c.findings[0].file.ends_with(&gone));
    assert_eq!(c.count(FileStatus::Missing), 1);
}

#[tokio::test]
async fn a_deleted_digest_breaks_the_chain() {
    let t = trail();
    let store = t.store_without(&[&t.digests[1]]);
    let c = check(&store, &t.digests[2]).await;
    assert_eq!(kinds(&c), vec![FindingKind::PreviousDigestMissing]);
    assert_eq!(c.severity(), Some(Severity::High));
    assert!(c.findings[0].file.ends_with(&t.digests[1]));
    assert!(c.signature_verified);
    assert_eq!(c.previous, Some(t.at(&t.digests[1])));
    assert_eq!(c.restart, None, "a broken link is not a restart");
}

#[tokio::test]
async fn a_gap_between_digests_is_high() {
    let spec = Spec {
        gap_before: Some((2, 3)),
        ..Spec::default()
    };
    let t = Trail::generate(&spec, cloudtrail_key());
    let store = t.store();
    let c = check(&store, &t.digests[2]).await;
    assert_eq!(kinds(&c), vec![FindingKind::Gap]);
    assert_eq!(c.severity(), Some(Severity::High));
    assert!(
        c.findings[0].detail.starts_with("240 minutes passed"),
        "{}",
        c.findings[0].detail
    );
    // A longer allowance accepts it.
    let relaxed = Options {
        max_gap_minutes: 240,
        ..Options::default()
    };
    let c = check_digest(&store, &keys(), &relaxed, &t.at(&t.digests[2]), None).await;
    assert!(c.is_valid(), "{:#?}", c.findings);
    // The first digest of a chain has nothing to compare with.
    assert!(check(&store, &t.digests[0]).await.is_valid());
}

#[tokio::test]
async fn an_edited_digest_fails_its_signature_and_its_successor_notices() {
    let mut t = trail();
    let hidden = t.log_files[1][1].clone();
    // Hide a log file: drop it from the digest, keep the signature.
    t.edit_digest(&t.digests[1].clone(), |v| {
        v["logFiles"].as_array_mut().unwrap().pop();
    });
    let mut store = t.store();
    store.objects.remove(&hidden);
    let c = check(&store, &t.digests[1]).await;
    assert_eq!(kinds(&c), vec![FindingKind::SignatureInvalid]);
    assert_eq!(c.severity(), Some(Severity::Critical));
    assert!(!c.signature_verified);
    let next = check(&store, &t.digests[2]).await;
    assert_eq!(kinds(&next), vec![FindingKind::PreviousDigestModified]);
    assert!(next.findings[0].file.ends_with(&t.digests[1]));
    assert_eq!(next.severity(), Some(Severity::Critical));
}

#[tokio::test]
async fn a_digest_signed_with_another_key_is_caught() {
    let mut t = trail();
    let d1 = t.digests[1].clone();
    let forged = {
        let mut v = t.digest_json(&d1);
        v["logFiles"].as_array_mut().unwrap().pop();
        v
    };
    // Claiming CloudTrail's fingerprint: the signature does not verify.
    t.objects
        .insert(d1.clone(), sign_digest(attacker_key(), &forged));
    let c = check(&t.store(), &d1).await;
    assert_eq!(kinds(&c), vec![FindingKind::SignatureInvalid]);
    assert!(c.findings[0].detail.contains(&cloudtrail_key().fingerprint));

    // Naming its own key: no CloudTrail key has that fingerprint.
    let mut own = forged.clone();
    own["digestPublicKeyFingerprint"] = json!(attacker_key().fingerprint);
    t.objects
        .insert(d1.clone(), sign_digest(attacker_key(), &own));
    let c = check(&t.store(), &d1).await;
    assert_eq!(kinds(&c), vec![FindingKind::UnknownPublicKey]);
    assert_eq!(c.severity(), Some(Severity::Critical));
    assert!(c.findings[0].detail.contains("not signed by CloudTrail"));
}

#[tokio::test]
async fn a_digest_copied_to_another_key_is_moved() {
    let mut t = trail();
    let original = t.digests[0].clone();
    let copy = original.replace("T100131Z", "T230131Z");
    assert_ne!(copy, original);
    let o = t.objects[&original].clone();
    t.objects.insert(copy.clone(), o);
    let store = t.store();
    let c = check(&store, &copy).await;
    assert_eq!(kinds(&c), vec![FindingKind::DigestMoved]);
    assert_eq!(c.severity(), Some(Severity::Critical));
    assert!(
        c.signature_verified,
        "the content is CloudTrail's; only the place is wrong"
    );
    assert!(c.findings[0].detail.contains(&original));
    // Copied to another bucket.
    let mut other = t.store();
    other.bucket = "attacker-bucket".into();
    let c = check_in(&other, &Location::new("attacker-bucket", &original)).await;
    assert_eq!(kinds(&c), vec![FindingKind::DigestMoved]);
    assert!(c.findings[0].detail.contains("s3://attacker-bucket/"));
}

#[tokio::test]
async fn a_replaced_previous_digest_is_caught_by_its_successor() {
    let mut t = trail();
    // Someone re-uploads digest 1 unchanged but with a different signature value.
    let d1 = t.digests[1].clone();
    t.objects
        .get_mut(&d1)
        .unwrap()
        .metadata
        .insert("signature".into(), "00ff".repeat(64));
    let store = t.store();
    let c = check(&store, &t.digests[2]).await;
    assert_eq!(kinds(&c), vec![FindingKind::PreviousDigestResigned]);
    let own = check(&store, &d1).await;
    assert_eq!(kinds(&own), vec![FindingKind::SignatureInvalid]);
}

#[tokio::test]
async fn missing_signature_corrupt_files_and_unreadable_objects() {
    let mut t = trail();
    let d0 = t.digests[0].clone();
    t.objects.get_mut(&d0).unwrap().metadata.clear();
    let bad_log = t.log_files[0][0].clone();
    let body = &mut t.objects.get_mut(&bad_log).unwrap().body;
    body.truncate(body.len() - 10);
    let mut store = t.store();
    let c = check(&store, &d0).await;
    assert_eq!(
        kinds(&c),
        vec![
            FindingKind::SignatureMissing,
            FindingKind::LogFileUnreadable
        ]
    );
    assert!(c.findings[1].file.ends_with(&bad_log));

    // Access denied on a log file: not a tampering verdict, an incomplete check.
    let other_log = t.log_files[1][0].clone();
    store.failing.insert(other_log.clone());
    let c = check(&store, &t.digests[1]).await;
    assert_eq!(kinds(&c), vec![FindingKind::CheckFailed]);
    assert!(c.is_incomplete());
    assert_eq!(c.severity(), Some(Severity::Medium));
    assert_eq!(c.count(FileStatus::NotChecked), 1);
    assert!(c.findings[0].detail.contains("AccessDenied"));

    // A digest that is not gzip at all.
    store.objects.get_mut(&t.digests[2]).unwrap().body = b"\x1f\x8bnot really gzip".to_vec();
    let c = check(&store, &t.digests[2]).await;
    assert_eq!(kinds(&c), vec![FindingKind::DigestUnreadable]);
    // And one that has gone.
    store.objects.remove(&t.digests[2]);
    let c = check(&store, &t.digests[2]).await;
    assert_eq!(kinds(&c), vec![FindingKind::DigestMissing]);
}

#[tokio::test]
async fn every_file_concerned_has_its_finding() {
    let (t, store, edited, deleted) = tampered();
    let c = check(&store, &t.digests[1]).await;
    assert_eq!(
        kinds(&c),
        vec![
            FindingKind::LogFileModified,
            FindingKind::LogFileMissing,
            FindingKind::PreviousDigestMissing
        ]
    );
    assert_eq!(c.severity(), Some(Severity::Critical));
    let files: Vec<&str> = c.findings.iter().map(|f| f.file.as_str()).collect();
    for f in [&edited, &deleted, &t.digests[0]] {
        assert!(
            files.iter().any(|x| x.ends_with(f.as_str())),
            "{f} not in {files:?}"
        );
    }
}

/// A trail whose S3 key prefix is `CloudTrail` (a common choice): its digests are not taken
/// for log files listed in no digest, nor its log files for digests.
#[tokio::test]
async fn a_trail_prefix_named_like_cloudtrails_folder_is_no_trail_folder() {
    let spec = Spec {
        prefix: "CloudTrail/".into(),
        ..Spec::default()
    };
    let t = Trail::generate(&spec, cloudtrail_key());
    assert!(t.digests[0].starts_with("CloudTrail/AWSLogs/"));
    let dir = TempDir::new("prefix-cloudtrail");
    t.write_to(&dir.0, &[t.digests[2].as_str()]);
    let r = validate_local(&dir.0, &keys(), &LocalOptions::default())
        .await
        .unwrap();
    assert!(r.is_valid(), "{r}");
    assert!(r.unlisted_log_files.is_empty(), "{r}");
    let s = r.summary();
    assert_eq!((s.digests_valid, s.log_files_valid), (3, 6), "{r}");
}

#[tokio::test]
async fn offline_validation_of_a_local_copy() {
    let t = trail();
    let dir = TempDir::new("offline");
    // Only the newest digest has its metadata sidecar; the others' signatures come from the
    // chain.
    t.write_to(&dir.0, &[t.digests[2].as_str()]);
    let keys = keys();
    let r = validate_local(&dir.0, &keys, &LocalOptions::default())
        .await
        .unwrap();
    assert!(r.is_valid(), "{r}");
    assert_eq!(r.digests.len(), 3);
    assert!(r.digests[0]
        .signature_source
        .as_deref()
        .unwrap()
        .contains(&t.digests[1]));
    assert_eq!(r.digests[2].signature_source, None);
    let s = r.summary();
    assert_eq!((s.digests_valid, s.log_files_valid), (3, 6));
    assert!(r.to_string().contains("Results: 3 digest file(s): 3 valid, 0 invalid, 0 missing; 6 log file(s): 6 valid, 0 invalid, 0 missing"), "{r}");

    // Tamper with the copy.
    let edited = &t.log_files[0][1];
    let deleted = &t.log_files[2][0];
    let mut bytes = gunzip(&std::fs::read(dir.0.join(edited)).unwrap());
    bytes.extend_from_slice(b" ");
    std::fs::write(dir.0.join(edited), gzip(&bytes)).unwrap();
    std::fs::remove_file(dir.0.join(deleted)).unwrap();
    std::fs::remove_file(dir.0.join(&t.digests[1])).unwrap();
    let planted = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T1010Z_planted000000000.json.gz";
    std::fs::write(dir.0.join(planted), gzip(b"{\"Records\":[]}")).unwrap();

    let r = validate_local(&dir.0, &keys, &LocalOptions::default())
        .await
        .unwrap();
    assert!(!r.is_valid());
    assert_eq!(
        r.verdict(edited),
        Some(&Verdict::Invalid("hash value doesn't match".into()))
    );
    assert_eq!(r.verdict(deleted), Some(&Verdict::Missing));
    assert_eq!(r.verdict(&t.digests[1]), Some(&Verdict::Missing));
    // Its successor gone and no sidecar: the oldest digest's signature cannot be checked.
    assert!(
        matches!(r.verdict(&t.digests[0]), Some(Verdict::NotChecked(why)) if why.contains(".metadata.json")),
        "{r}"
    );
    assert_eq!(r.verdict(&t.digests[2]), Some(&Verdict::Valid));
    // The planted file, and those whose digest was deleted, are covered by no digest.
    let mut unlisted = vec![planted.to_string()];
    unlisted.extend(t.log_files[1].iter().cloned());
    unlisted.sort();
    assert_eq!(r.unlisted_log_files, unlisted);
    let s = r.summary();
    assert_eq!(
        (
            s.digests_valid,
            s.digests_missing,
            s.not_checked,
            s.log_files_valid,
            s.log_files_invalid,
            s.log_files_missing
        ),
        (1, 1, 1, 2, 1, 1)
    );
    let text = r.to_string();
    assert!(
        text.contains(&format!("{edited}  INVALID: hash value doesn't match")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{deleted}  INVALID: not found")),
        "{text}"
    );
    assert!(text.contains("not listed in any digest"), "{text}");

    // Naming the bucket: a copy of another bucket's digests shows as moved.
    let r = validate_local(
        &dir.0,
        &keys,
        &LocalOptions {
            bucket: Some("some-other-bucket".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        r.verdict(&t.digests[0]),
        Some(&Verdict::Invalid("digest moved".into()))
    );
}

#[tokio::test]
async fn the_committed_sample_trail_is_valid() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/trail"));
    let keys = KeySet::from_json(&std::fs::read(root.join("public-keys.json")).unwrap()).unwrap();
    let r = validate_local(root, &keys, &LocalOptions::default())
        .await
        .unwrap();
    assert!(r.is_valid(), "{r}");
    assert!(r.digests.len() >= 3, "{r}");
    assert!(r.unlisted_log_files.is_empty(), "{r}");
    assert!(r.summary().log_files_valid >= 3, "{r}");
}

// ---- Chains that restart (issue 15) ----

fn at(day: u32, h: u32, m: u32, s: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc.with_ymd_and_hms(2024, 5, day, h, m, s).unwrap()
}

fn hours(c: &DigestCheck) -> Vec<String> {
    c.restart
        .as_ref()
        .unwrap()
        .missing_hours
        .iter()
        .map(|h| h.format("%dT%H").to_string())
        .collect()
}

/// Logging stopped after digest 1 (ending 11:01:31) and started again four hours later:
/// digest 2 (15:01:31 to 16:01:31) starts a new chain.
fn restarted() -> Trail {
    let spec = Spec {
        restart_before: Some((2, 4)),
        ..Spec::default()
    };
    Trail::generate(&spec, cloudtrail_key())
}

#[tokio::test]
async fn a_restarted_chain_reports_the_gap_it_leaves() {
    let t = restarted();
    let d2 = t.digest_json(&t.digests[2]);
    // What CloudTrail writes after StartLogging: every previousDigest* field null.
    for f in [
        "previousDigestS3Bucket",
        "previousDigestS3Object",
        "previousDigestHashValue",
        "previousDigestHashAlgorithm",
        "previousDigestSignature",
    ] {
        assert_eq!(d2[f], json!(null), "{f}");
    }
    let store = t.store();
    let c = check(&store, &t.digests[2]).await;
    assert!(c.signature_verified, "the restart digest itself is genuine");
    assert_eq!(c.previous, None);
    assert_eq!(kinds(&c), vec![FindingKind::ChainRestarted]);
    assert_eq!(c.severity(), Some(Severity::High));
    let r = c.restart.as_ref().unwrap();
    assert_eq!(r.previous, t.at(&t.digests[1]));
    assert_eq!(
        (r.gap_from, r.gap_to),
        (at(14, 11, 1, 31), at(14, 15, 1, 31))
    );
    assert_eq!(r.gap_minutes(), 240);
    assert_eq!(hours(&c), ["14T11", "14T12", "14T13", "14T14", "14T15"]);
    assert!(r.undigested_log_files.is_empty());
    assert_eq!(r.previous_problems, 0);
    assert!(
        c.findings[0]
            .detail
            .contains("logging was off or digests were deleted between 2024-05-14T11:01:31Z and 2024-05-14T15:01:31Z"),
        "{}",
        c.findings[0].detail
    );
    // The trail's very first digest also starts a chain, but nothing came before it.
    let first = check(&store, &t.digests[0]).await;
    assert!(first.is_valid(), "{:#?}", first.findings);
    assert_eq!(first.restart, None);
    // With the look-up switched off, a restart goes unnoticed (as it did before).
    let off = Options {
        restart_lookback_days: 0,
        ..Options::default()
    };
    let c = check_digest(&store, &keys(), &off, &t.at(&t.digests[2]), None).await;
    assert!(c.is_valid());
}

#[tokio::test]
async fn a_restart_after_the_last_digest_and_its_log_files_were_deleted() {
    let t = restarted();
    let mut store = t.store();
    // The attacker removes the last hour before the stop: its digest and its log files.
    store.objects.remove(&t.digests[1]);
    for f in &t.log_files[1] {
        store.objects.remove(f);
    }
    let c = check(&store, &t.digests[2]).await;
    assert_eq!(kinds(&c), vec![FindingKind::ChainRestarted]);
    let r = c.restart.as_ref().unwrap();
    // The gap now starts where the surviving chain ends, and covers the deleted hour.
    assert_eq!(r.previous, t.at(&t.digests[0]));
    assert_eq!(r.gap_from, at(14, 10, 1, 31));
    assert_eq!(r.gap_minutes(), 300);
    assert_eq!(
        hours(&c),
        ["14T10", "14T11", "14T12", "14T13", "14T14", "14T15"]
    );
}

#[tokio::test]
async fn a_deleted_last_digest_is_proven_by_the_log_file_it_left_behind() {
    let t = restarted();
    let store = t.store_without(&[&t.digests[1], &t.log_files[1][0]]);
    let left = t.log_files[1][1].clone();
    let c = check(&store, &t.digests[2]).await;
    assert_eq!(
        kinds(&c),
        vec![FindingKind::ChainRestarted, FindingKind::UndigestedLogFile]
    );
    assert_eq!(c.findings[1].file, format!("s3://{}/{left}", t.bucket));
    let r = c.restart.as_ref().unwrap();
    assert_eq!(r.undigested_log_files, vec![left]);
    assert_eq!(r.undigested_count, 1);
}

#[tokio::test]
async fn log_files_deleted_before_the_restart_are_named() {
    let t = restarted();
    let gone = t.log_files[1][0].clone();
    let store = t.store_without(&[&gone]);
    let c = check(&store, &t.digests[2]).await;
    assert_eq!(
        kinds(&c),
        vec![FindingKind::LogFileMissing, FindingKind::ChainRestarted]
    );
    assert_eq!(c.findings[0].file, format!("s3://{}/{gone}", t.bucket));
    assert_eq!(c.severity(), Some(Severity::Critical));
    assert_eq!(c.restart.as_ref().unwrap().previous_problems, 1);
}

#[tokio::test]
async fn the_previous_chain_is_looked_up_on_earlier_days_within_the_bound() {
    // Digest 1 ends 2024-05-14 23:01:31; logging is off for 30 hours; digest 2 ends
    // 2024-05-16 06:01:31.
    let spec = Spec {
        first_end: at(14, 22, 1, 31),
        restart_before: Some((2, 30)),
        ..Spec::default()
    };
    let t = Trail::generate(&spec, cloudtrail_key());
    assert!(t.digests[2].contains("/2024/05/16/"), "{}", t.digests[2]);
    let store = t.store();
    let c = check(&store, &t.digests[2]).await;
    assert_eq!(kinds(&c), vec![FindingKind::ChainRestarted]);
    assert_eq!(c.restart.as_ref().unwrap().previous, t.at(&t.digests[1]));
    assert_eq!(c.restart.as_ref().unwrap().missing_hours.len(), 31);
    let listed = store.lists.lock().unwrap().clone();
    let digest_days: Vec<&String> = listed
        .iter()
        .filter(|p| p.contains("CloudTrail-Digest"))
        .collect();
    assert!(digest_days[0].ends_with("/2024/05/16/"), "{listed:?}");
    assert!(digest_days[1].ends_with("/2024/05/15/"), "{listed:?}");
    assert!(digest_days[2].ends_with("/2024/05/14/"), "{listed:?}");
    // One day back is not far enough: nothing is found, as for a trail's first digest.
    let near = Options {
        restart_lookback_days: 1,
        ..Options::default()
    };
    let c = check_digest(&t.store(), &keys(), &near, &t.at(&t.digests[2]), None).await;
    assert!(c.is_valid(), "{:#?}", c.findings);
}

#[tokio::test]
async fn listing_denied_leaves_a_restart_check_incomplete() {
    let t = restarted();
    let mut store = t.store();
    let day = t.digests[2].rsplit_once('/').unwrap().0.to_string() + "/";
    store.failing.insert(day);
    let c = check(&store, &t.digests[2]).await;
    assert_eq!(kinds(&c), vec![FindingKind::CheckFailed]);
    assert!(c.is_incomplete());
}

#[tokio::test]
async fn an_organization_trail_named_like_a_region_chains_and_restarts() {
    // Issue 15: a trail called `mytrail_us-east-1`, in the organization layout, next to a
    // trail called `mytrail` writing to the same folders while the first was stopped.
    let spec = Spec {
        organization: Some("o-a1b2c3d4e5".into()),
        trail: "mytrail_us-east-1".into(),
        restart_before: Some((2, 4)),
        ..Spec::default()
    };
    let t = Trail::generate(&spec, cloudtrail_key());
    assert!(t.digests[0].starts_with("AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail-Digest/"));
    let other = Trail::generate(
        &Spec {
            trail: "mytrail".into(),
            first_end: at(14, 13, 1, 31),
            ..spec.clone()
        },
        cloudtrail_key(),
    );
    let mut store = t.store();
    for (k, o) in &other.objects {
        // Log file names do not name the trail: the other trail's files are distinct only
        // by their random suffix.
        let k = k.replace("Ux4PBpVbB0Xq3Ycn", "Zq8mN2vX4cR7tY1w");
        store.objects.insert(k, o.clone());
    }
    let c = check(&store, &t.digests[1]).await;
    assert!(c.is_valid(), "{:#?}", c.findings);
    assert_eq!(c.trail.as_deref(), Some("mytrail_us-east-1"));
    assert_eq!(c.previous, Some(t.at(&t.digests[0])));
    let c = check(&store, &t.digests[2]).await;
    assert_eq!(c.trail.as_deref(), Some("mytrail_us-east-1"));
    // The predecessor is this trail's last digest, not `mytrail`'s (newer) ones.
    assert_eq!(c.restart.as_ref().unwrap().previous, t.at(&t.digests[1]));
    // Log files the other trail's digests list are not counted as undigested... except the
    // renamed ones, which no digest lists.
    let undigested = &c.restart.as_ref().unwrap().undigested_log_files;
    assert!(
        undigested.iter().all(|k| k.contains("Zq8mN2vX4cR7tY1w")),
        "{undigested:?}"
    );
    assert!(!undigested.is_empty());
}

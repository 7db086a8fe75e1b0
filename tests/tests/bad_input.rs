//! The bad-input corpus (tests/bad-input/, see its README) and large inputs generated here
//! (huge strings, 100 000-deep nesting, a gzip bomb, a record over the size cap), fed to every
//! consumer: payload parsing, every function's `plan` and Lambda `handler`, the shared log
//! reader and scanner, log-delivery against moto, digest parsing and offline validation, and
//! the `trailwarden` binary. Each answer is asserted: a clear error (and what it says) or a
//! reasoned skip, never a panic.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use trailwarden::detect::{BuiltinOptions, Catalog, Scanner};
use trailwarden::logfile::{self, Element, LogReader};
use trailwarden::{Payload, PayloadError};
use trailwarden_cli::functions::{AnyService, Function};
use trailwarden_testkit::harness::put_object;
use trailwarden_testkit::mutate::{wrong_types, Mutation};
use trailwarden_testkit::{aws_command, outcome, Moto};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn corpus(dir: &str) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(root().join("tests/bad-input").join(dir))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), p)
        })
        .collect();
    v.sort();
    v
}

/// A scratch directory for generated inputs.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("bad-input")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every function's Lambda handler, with settings that make no AWS call (dry-run, no alert
/// topic) and an SDK configuration that cannot reach anything, so an unexpected call shows.
struct Handlers {
    services: Vec<(Function, AnyService)>,
}

fn dead_sdk() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build()
}

const DRY: [(&str, &str); 1] = [("DRY_RUN", "true")];

impl Handlers {
    fn new(sdk: &aws_config::SdkConfig, env: &dyn trailwarden::config::Env) -> Handlers {
        let rt = runtime();
        let services = Function::ALL
            .into_iter()
            .map(|f| (f, rt.block_on(f.service(sdk, env)).unwrap()))
            .collect();
        Handlers { services }
    }

    async fn call(&self, f: Function, v: Value) -> Result<Value, String> {
        let (_, s) = self.services.iter().find(|(g, _)| *g == f).unwrap();
        s.handle(v).await
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "non-string panic".into())
}

// ---------------------------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------------------------

/// What each payload in the corpus must give: `Err(text the error says)`, or `Ok(())` when it
/// parses (then every function must skip it with a reason or alert on it).
fn payload_expectations() -> BTreeMap<&'static str, Result<(), &'static str>> {
    BTreeMap::from([
        ("empty.json", Err("payload is not valid JSON: EOF while parsing a value")),
        ("whitespace-only.json", Err("payload is not valid JSON: EOF while parsing a value")),
        ("truncated.json", Err("payload is not valid JSON: EOF while parsing a string")),
        ("non-utf8.json", Err("payload is not valid JSON: invalid unicode code point")),
        ("not-an-object.json", Err("expected a JSON object (an EventBridge event, an S3 notification or a CloudTrail record), found an array")),
        ("null.json", Err("found null")),
        ("wrong-type-detail-type.json", Err("field detail-type is malformed: expected a string, found a number")),
        ("wrong-type-source.json", Err("field source is malformed: expected a string, found an array")),
        ("wrong-type-resources.json", Err("field resources is malformed: expected an array, found a string")),
        ("wrong-type-detail.json", Err("field detail is malformed: expected a CloudTrail record object, found a string")),
        ("missing-detail.json", Err("field detail is malformed: missing (expected a CloudTrail record)")),
        ("wrong-type-event-name.json", Err("field detail.eventName is malformed: invalid type: sequence, expected a string")),
        ("wrong-type-user-identity.json", Err("field detail.userIdentity is malformed: invalid type: string \"alice\"")),
        ("wrong-type-user-identity-arn.json", Err("field detail.userIdentity.arn is malformed: invalid type: map, expected a string")),
        ("unsupported-detail-type.json", Err("unsupported EventBridge detail-type \"EC2 Instance State-change Notification\" from source \"aws.ec2\"")),
        ("s3-notification-wrong-bucket-type.json", Err("field Records[0].s3.bucket.name is malformed: expected a string, found a number")),
        ("s3-notification-undecodable-key.json", Err("field Records[0].s3.object.key is malformed: key \"AWSLogs/%FF%FE.json.gz\" does not decode to UTF-8")),
        ("eventbridge-object-created-wrong-size.json", Err("field detail.object.size is malformed: invalid type: string \"big\", expected u64")),
        // Fields the model keeps as free JSON, or that another field stands in for: the
        // record parses, and the functions decide on what is there.
        ("wrong-type-read-only.json", Ok(())),
        ("wrong-type-request-parameters.json", Ok(())),
        ("wrong-type-response-user.json", Ok(())),
        ("wrong-type-response-user-name.json", Ok(())),
        ("null-everywhere.json", Ok(())),
        ("s3-notification-no-created-object.json", Ok(())),
    ])
}

#[test]
fn every_payload_in_the_corpus_is_refused_with_its_reason_or_handled() {
    let expect = payload_expectations();
    let files = corpus("payloads");
    let listed: Vec<&str> = expect.keys().copied().collect();
    let found: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(found, listed, "every corpus payload has an expected answer");
    let rt = runtime();
    let sdk = dead_sdk();
    let handlers = Handlers::new(&sdk, &DRY);
    for (name, path) in &files {
        let bytes = std::fs::read(path).unwrap();
        let parsed = Payload::parse(&bytes);
        match (&parsed, expect[name.as_str()]) {
            (Err(e), Err(says)) => assert!(e.to_string().contains(says), "{name}: {e}"),
            (Ok(_), Ok(())) => {}
            (got, want) => panic!("{name}: got {got:?}, expected {want:?}"),
        }
        // The Lambda runtime hands the handler JSON; what is not JSON never reaches it.
        let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
            assert!(matches!(parsed, Err(PayloadError::NotJson(_))), "{name}");
            continue;
        };
        // The backfill worker takes Step Functions batches, not events: its own tests
        // (functions/backfill) cover what it refuses.
        for f in Function::ALL.into_iter().filter(|f| f.name() != "backfill") {
            let answer = rt.block_on(handlers.call(f, value.clone()));
            match (&parsed, answer) {
                (Err(e), Err(said)) => {
                    assert!(said.contains(&e.to_string()), "{name} {}: {said}", f.name())
                }
                (Err(e), Ok(v)) => panic!(
                    "{name} {}: accepted ({v}) what parsing refuses: {e}",
                    f.name()
                ),
                (Ok(p), answer) => {
                    // The offline plan (no AWS call) must skip with a reason or alert.
                    let plan = f.plan(&DRY, p).unwrap().outcome;
                    match plan.ignored.as_deref() {
                        Some(reason) => assert!(
                            reason.len() > 10,
                            "{name} {}: skipped without a reason",
                            f.name()
                        ),
                        None => assert!(
                            !plan.alerts.is_empty(),
                            "{name} {}: neither skipped nor alerted",
                            f.name()
                        ),
                    }
                    match answer {
                        // The handler agrees: the same skip, or an alert.
                        Ok(out) => match plan.ignored.as_deref() {
                            Some(reason) => {
                                assert_eq!(out["ignored"], reason, "{name} {}", f.name())
                            }
                            // The real-time catalog remembers event ids: corpus files that
                            // share one are a re-delivery to it, said as such.
                            None => assert!(
                                out["alerts"].as_array().is_some_and(|a| !a.is_empty())
                                    || (f.name() == "catalog"
                                        && out["ignored"]
                                            .as_str()
                                            .is_some_and(|r| r.contains("already handled"))),
                                "{name} {}: {out}",
                                f.name()
                            ),
                        },
                        // A dry run still reads (evidence, the group's rules); with no AWS
                        // reachable that read fails, is said, and the invocation is retried.
                        Err(said) => assert!(
                            plan.ignored.is_none()
                                && said.contains("dispatch failure")
                                && f != Function::RootActivity,
                            "{name} {}: a dry run failed: {said}",
                            f.name()
                        ),
                    }
                }
            }
        }
    }
}

#[test]
fn a_create_user_whose_fields_have_the_wrong_types_is_still_understood_or_skipped() {
    // The user's name comes from requestParameters or responseElements, whichever is usable.
    let rt = runtime();
    let handlers = Handlers::new(&dead_sdk(), &DRY);
    for name in [
        "wrong-type-request-parameters.json",
        "wrong-type-response-user.json",
        "wrong-type-response-user-name.json",
        "wrong-type-read-only.json",
    ] {
        let v: Value = serde_json::from_slice(
            &std::fs::read(root().join("tests/bad-input/payloads").join(name)).unwrap(),
        )
        .unwrap();
        let p = Payload::from_value(v).unwrap();
        let plan = Function::UnapprovedUser.plan(&DRY, &p).unwrap().outcome;
        assert!(plan.ignored.is_none(), "{name}: {:?}", plan.ignored);
        assert!(
            plan.steps
                .iter()
                .any(|s| s.step == "DeleteUser" && s.target == "mallory"),
            "{name}: {:?}",
            plan.steps
        );
    }
    let v: Value = serde_json::from_slice(
        &std::fs::read(root().join("tests/bad-input/payloads/null-everywhere.json")).unwrap(),
    )
    .unwrap();
    let out = rt
        .block_on(handlers.call(Function::UnapprovedUser, v))
        .unwrap();
    assert!(
        out["ignored"]
            .as_str()
            .unwrap()
            .contains("not an IAM call this function acts on"),
        "{out:#}"
    );
}

#[test]
fn every_field_of_every_sample_event_with_every_wrong_type() {
    // Each field of each sample event in events/ replaced by each JSON type (and a huge
    // string, and removed): parsing refuses it naming the field, or every function plans and
    // (dry-run) handles it. Panics are collected, not stopped at.
    // The long string: longer than every cut an alert makes of one field (512 bytes); strings
    // long enough to push an alert past SNS's limit are the next test's, in fewer places,
    // because rendering them in every field of every event costs minutes in a debug build.
    const LONG: usize = 4_096;
    let rt = runtime();
    let handlers = Handlers::new(&dead_sdk(), &DRY);
    let mut events: Vec<PathBuf> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    events.sort();
    let (mut cases, mut refused, mut handled) = (0, 0, 0);
    let mut panics = Vec::new();
    for file in &events {
        let original: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        for Mutation {
            path,
            replacement: r,
            value: v,
        } in wrong_types(&original, LONG)
        {
            cases += 1;
            let what = format!(
                "{} {path} = {}",
                file.display(),
                r.map_or("(removed)".into(), |r| r
                    .to_string()
                    .chars()
                    .take(20)
                    .collect::<String>())
            );
            let result = catch_unwind(AssertUnwindSafe(|| {
                match Payload::from_value(v.clone()) {
                    Err(e) => {
                        assert!(!e.to_string().is_empty());
                        // The handlers refuse it with the same words.
                        let said = rt
                            .block_on(handlers.call(Function::UnapprovedUser, v.clone()))
                            .unwrap_err();
                        assert!(said.contains(&e.to_string()), "{said}");
                        false
                    }
                    Ok(p) => {
                        for f in Function::ALL {
                            let plan = f.plan(&DRY, &p).unwrap().outcome;
                            assert!(
                                plan.ignored.is_some()
                                    || !plan.alerts.is_empty()
                                    || !plan.steps.is_empty(),
                                "{}: neither skipped nor planned",
                                f.name()
                            );
                            for a in &plan.alerts {
                                let r = a.render();
                                assert!(r.subject.len() < 100 && r.subject.is_ascii());
                                assert!(r.message.len() <= trailwarden::alert::MAX_MESSAGE_BYTES);
                            }
                        }
                        // The function that needs no AWS call even to look things up.
                        if !matches!(p, Payload::S3Objects(_)) {
                            let f = Function::RootActivity;
                            rt.block_on(handlers.call(f, v.clone()))
                                .unwrap_or_else(|e| panic!("{}: dry run failed: {e}", f.name()));
                        }
                        true
                    }
                }
            }));
            match result {
                Ok(true) => handled += 1,
                Ok(false) => refused += 1,
                Err(p) => panics.push(format!("{what}: {}", panic_text(p))),
            }
        }
    }
    println!("{cases} mutated events: {refused} refused with a message, {handled} handled");
    assert!(cases > 5_000, "only {cases} cases");
    assert!(
        panics.is_empty(),
        "{} panics, first ones:\n{}",
        panics.len(),
        panics
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn deep_nesting_is_a_parse_error_not_a_stack_overflow() {
    let depth = 100_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let mut ev: Value = serde_json::from_slice(
        &std::fs::read(root().join("events/iam-create-user-by-iam-user.json")).unwrap(),
    )
    .unwrap();
    ev["detail"]["requestParameters"] = json!("PLACEHOLDER");
    let text = ev.to_string().replace("\"PLACEHOLDER\"", &deep);
    let e = Payload::parse(text.as_bytes()).unwrap_err();
    assert!(
        e.to_string()
            .contains("payload is not valid JSON: recursion limit exceeded"),
        "{e}"
    );
    // A depth serde_json accepts (under 128) is fine everywhere.
    let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let p = Payload::parse(ev.to_string().replace("\"PLACEHOLDER\"", &ok).as_bytes()).unwrap();
    let plan = Function::UnapprovedUser.plan(&DRY, &p).unwrap().outcome;
    assert_eq!(plan.alerts.len(), 1);
}

#[test]
fn huge_strings_are_handled_and_alerts_stay_within_sns_limits() {
    let mut ev: Value = serde_json::from_slice(
        &std::fs::read(root().join("events/iam-create-user-by-iam-user.json")).unwrap(),
    )
    .unwrap();
    let d = &mut ev["detail"];
    d["userAgent"] = json!("Mozilla/5.0 ".repeat(500_000));
    d["sourceIPAddress"] = json!("9".repeat(1_000_000));
    d["userIdentity"]["arn"] = json!(format!(
        "arn:aws:iam::123456789012:user/{}",
        "a".repeat(1_000_000)
    ));
    d["requestParameters"]["tags"] = json!((0..20_000)
        .map(|i| json!({"key": format!("k{i}"), "value": "v".repeat(50)}))
        .collect::<Vec<_>>());
    let text = ev.to_string();
    assert!(text.len() > 8_000_000);
    let p = Payload::parse(text.as_bytes()).unwrap();
    let plan = Function::UnapprovedUser.plan(&DRY, &p).unwrap().outcome;
    let alert = &plan.alerts[0];
    let r = alert.render();
    assert!(
        r.subject.len() < 100 && r.subject.is_ascii(),
        "{}",
        r.subject
    );
    assert!(
        r.message.len() <= trailwarden::alert::MAX_MESSAGE_BYTES,
        "{}",
        r.message.len()
    );
    assert!(r.text.contains("trimmed"), "the cut is visible");
    // A user name far beyond IAM's 64 characters.
    let mut ev2 = ev.clone();
    ev2["detail"]["requestParameters"]["userName"] = json!("m".repeat(1_000_000));
    ev2["detail"]["responseElements"]["user"]["userName"] = json!("m".repeat(1_000_000));
    let p = Payload::from_value(ev2).unwrap();
    for f in Function::ALL {
        let plan = f.plan(&DRY, &p).unwrap().outcome;
        for a in &plan.alerts {
            let r = a.render();
            assert!(r.subject.len() < 100, "{}", f.name());
            assert!(
                r.message.len() <= trailwarden::alert::MAX_MESSAGE_BYTES,
                "{}",
                f.name()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Log files
// ---------------------------------------------------------------------------------------------

/// What the scanner must say about each log file: `Ok((records, unreadable records))` or the
/// error text.
fn log_expectations() -> BTreeMap<&'static str, Result<(u64, u64), &'static str>> {
    BTreeMap::from([
        ("empty.json", Err("not a CloudTrail log file: the file is empty")),
        ("empty.json.gz", Err("not a CloudTrail log file: the file is empty")),
        ("truncated.json.gz", Err("corrupt or truncated gzip data after 0 records")),
        ("truncated-json.json", Err("truncated file: the JSON ends after 2 records")),
        ("records-not-an-array.json", Err("not a CloudTrail log file: \"Records\" is an object, not an array")),
        ("no-records.json", Err("not a CloudTrail log file: no \"Records\" array (top-level keys: records)")),
        ("not-json.json.gz", Err("not a CloudTrail log file: expected a JSON object {\"Records\": [...]}")),
        ("top-level-array.json", Err("not a CloudTrail log file: expected a JSON object {\"Records\": [...]}, found an array")),
        ("garbage-after-records.json.gz", Err("malformed JSON after 2 records")),
        // Readable files with unreadable records: the rest is still scanned.
        ("non-utf8.json.gz", Ok((2, 1))),
        ("wrong-types-in-records.json", Ok((10, 4))),
    ])
}

#[test]
fn every_log_file_in_the_corpus_is_scanned_or_refused_with_its_reason() {
    let expect = log_expectations();
    let files = corpus("logs");
    let found: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(found, expect.keys().copied().collect::<Vec<_>>());
    let catalog = Catalog::builtin(BuiltinOptions::default());
    for (name, path) in &files {
        let mut s = Scanner::new(&catalog);
        let r = s.scan_path(path);
        let report = s.finish();
        match (r, expect[name.as_str()]) {
            (Ok(sum), Ok((records, unreadable))) => {
                assert_eq!(
                    (sum.records, sum.unparsed_records),
                    (records, unreadable),
                    "{name}"
                );
                // The readable records were still evaluated.
                assert!(
                    report
                        .findings
                        .iter()
                        .any(|f| f.detection == "cis-4.3-root-usage"),
                    "{name}"
                );
            }
            (Err(e), Err(says)) => {
                assert!(e.to_string().contains(says), "{name}: {e}");
                assert!(
                    !e.error.is_transient(),
                    "{name}: content problems are not retried"
                );
            }
            (got, want) => panic!("{name}: got {got:?}, expected {want:?}"),
        }
    }
    // Non-UTF-8 inside a gzip file: the record is reported, with why.
    let mut s = Scanner::new(&catalog);
    s.scan_path(&root().join("tests/bad-input/logs/non-utf8.json.gz"))
        .unwrap();
    let report = s.finish();
    assert!(
        report.unparsed_samples[0]
            .message
            .contains("invalid unicode code point"),
        "{:?}",
        report.unparsed_samples
    );
}

/// A gzip file of `parts`: each part compressed as its own gzip member (the format allows
/// any number; CloudTrail's reader must read them all), each `(bytes, repeat)` member repeated.
fn multi_member_gzip(path: &Path, parts: &[(&[u8], usize)]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for (bytes, times) in parts {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(bytes).unwrap();
        let member = e.finish().unwrap();
        for _ in 0..*times {
            f.write_all(&member).unwrap();
        }
    }
    f.flush().unwrap();
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

const BOMB_MIB: usize = 1024;

/// A 1 GiB record (a string of 'A's) between two good records, gzip'd to about 1 MiB.
fn gzip_bomb(dir: &Path) -> PathBuf {
    let path = dir.join("bomb.json.gz");
    let rec = br#"{"eventVersion":"1.09","userIdentity":{"type":"Root","accountId":"123456789012"},"eventTime":"2024-05-14T09:01:02Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"No"},"eventID":"0f3a6a8e-5c1b-4e0f-9b7a-1d2c3e4f5a6b","recipientAccountId":"123456789012"}"#;
    let head = [
        &br#"{"Records":["#[..],
        rec,
        br#",{"eventName":"ConsoleLogin","userAgent":""#,
    ]
    .concat();
    let tail = [&br#""},"#[..], rec, b"]}"].concat();
    let mib = vec![b'A'; 1 << 20];
    multi_member_gzip(&path, &[(&head, 1), (&mib, BOMB_MIB), (&tail, 1)]);
    path
}

#[test]
fn a_gzip_bomb_is_streamed_in_bounded_memory() {
    // Measured in a child process (this test binary, running only the part below), so that
    // other tests' memory does not count.
    if std::env::var_os("TRAILWARDEN_BOMB_CHILD").is_some() {
        let dir = PathBuf::from(std::env::var("TRAILWARDEN_BOMB_CHILD").unwrap());
        let before = peak_rss_kib().unwrap_or(0);
        let catalog = Catalog::builtin(BuiltinOptions::default());
        let mut s = Scanner::new(&catalog);
        let sum = s.scan_path(&dir.join("bomb.json.gz")).unwrap();
        let report = s.finish();
        let after = peak_rss_kib().unwrap_or(0);
        println!(
            "BOMB records={} unparsed={} bytes={} compressed={:?} sample={:?} findings={} peak_rss_growth_kib={}",
            sum.records,
            sum.unparsed_records,
            sum.bytes,
            sum.compressed_bytes,
            report.unparsed_samples.first().map(|p| &p.message),
            report.findings.iter().map(|f| f.count).sum::<u64>(),
            after.saturating_sub(before)
        );
        return;
    }
    let dir = scratch("bomb");
    let bomb = gzip_bomb(&dir);
    let size = std::fs::metadata(&bomb).unwrap().len();
    assert!(size < 4 << 20, "{size} bytes");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_gzip_bomb_is_streamed_in_bounded_memory",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("TRAILWARDEN_BOMB_CHILD", &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.find("BOMB ").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("no report from the child:\n{stdout}"));
    println!("{size} compressed bytes: {line}");
    let field = |k: &str| -> String {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .unwrap()
            .to_string()
    };
    // Three records; the 1 GiB one skipped as unreadable, the two around it evaluated.
    assert_eq!(field("records"), "3");
    assert_eq!(field("unparsed"), "1");
    assert!(field("bytes").parse::<u64>().unwrap() > (BOMB_MIB as u64) << 20);
    assert!(line.contains("larger than"), "{line}");
    assert!(field("findings").parse::<u64>().unwrap() >= 2, "{line}");
    let growth_mib = field("peak_rss_growth_kib").parse::<u64>().unwrap() / 1024;
    assert!(
        growth_mib < 64,
        "reading 1 GiB grew memory by {growth_mib} MiB"
    );
}

#[test]
fn deep_and_oversized_records_are_reported_and_the_rest_is_scanned() {
    let dir = scratch("records");
    let catalog = Catalog::builtin(BuiltinOptions::default());
    let rec = r#"{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","userIdentity":{"type":"Root"},"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"No"}}"#;
    let depth = 100_000;
    let deep = format!(
        r#"{{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","userIdentity":{{"type":"Root","x":{}{}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let big = format!(
        r#"{{"eventName":"ConsoleLogin","userAgent":"{}"}}"#,
        "A".repeat(logfile::MAX_RECORD_BYTES + 10)
    );
    let path = dir.join("deep-and-big.json");
    std::fs::write(
        &path,
        format!(r#"{{"Records":[{rec},{deep},{big},{rec}]}}"#),
    )
    .unwrap();
    let mut s = Scanner::new(&catalog);
    let sum = s.scan_path(&path).unwrap();
    let report = s.finish();
    // The deep record is evaluated: the scanner parses only the fields detections read, and
    // skips the rest without recursing. Only the oversized one is reported.
    assert_eq!(
        (sum.records, sum.unparsed_records),
        (4, 1),
        "{:?}",
        report.unparsed_samples
    );
    assert_eq!(report.unparsed_samples[0].record, 2);
    assert_eq!(
        report.unparsed_samples[0].message,
        "record is larger than 8 MiB; skipped"
    );
    let root_usage = report
        .findings
        .iter()
        .find(|f| f.detection == "cis-4.3-root-usage")
        .unwrap();
    assert_eq!(root_usage.count, 3);

    // The reader alone hands the deep record out (its structure is scanned without recursion).
    let mut r = LogReader::from_opened(logfile::open(std::fs::File::open(&path).unwrap()).unwrap());
    let mut kinds = Vec::new();
    while let Some(e) = r.next().unwrap() {
        kinds.push(match e {
            Element::Record(raw) => format!("record of {} bytes", raw.bytes().len()),
            Element::Unreadable { reason, .. } => format!("unreadable: {reason}"),
        });
    }
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert!(kinds[1].starts_with("record of"), "{kinds:?}");
    assert!(
        kinds[2].starts_with("unreadable") && kinds[2].contains("larger than"),
        "{kinds:?}"
    );
}

/// The bucket the S3 tests deliver to.
const TRAIL_BUCKET: &str = "trail-bucket";

/// A reset moto holding the empty bucket [`TRAIL_BUCKET`], and an S3 client on it.
async fn moto_with_trail_bucket() -> (Moto, aws_sdk_s3::Client) {
    let moto = Moto::start().await.unwrap();
    let s3 = trailwarden::aws::s3_client(&moto.sdk_config());
    s3.create_bucket()
        .bucket(TRAIL_BUCKET)
        .send()
        .await
        .unwrap();
    (moto, s3)
}

#[tokio::test]
async fn log_delivery_reports_each_unreadable_file_from_s3_and_never_retries_bad_content() {
    let (moto, s3) = moto_with_trail_bucket().await;
    let sdk = moto.sdk_config();
    let none: [(&str, &str); 0] = [];
    let state = Function::LogDelivery.service(&sdk, &none).await.unwrap();
    let expect = log_expectations();
    for (name, path) in corpus("logs") {
        let stem = name.replace('.', "-");
        let key = format!("AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T0906Z_{stem}.json.gz");
        put_object(&s3, TRAIL_BUCKET, &key, std::fs::read(&path).unwrap()).await;
        let event = json!({"version": "0", "id": "7d0e4f1a-0000-4000-8000-000000000001",
            "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
            "time": "2024-05-14T09:06:10Z", "region": "us-east-1", "resources": [],
            "detail": {"bucket": {"name": TRAIL_BUCKET}, "object": {"key": key}}});
        let out = state
            .handle(event)
            .await
            .unwrap_or_else(|e| panic!("{name}: bad content is reported, not retried: {e}"));
        let alerts = out["alerts"].as_array().unwrap();
        let unreadable: Vec<&Value> = alerts
            .iter()
            .filter(|a| a["detection"] == log_delivery::UNREADABLE_DETECTION)
            .collect();
        match expect[name.as_str()] {
            Err(says) => {
                assert_eq!(unreadable.len(), 1, "{name}: {out:#}");
                let summary = unreadable[0]["summary"].as_str().unwrap();
                assert!(summary.contains(says), "{name}: {summary}");
                assert!(summary.contains(&key), "{name}: {summary}");
            }
            Ok(_) => assert!(unreadable.is_empty(), "{name}: {out:#}"),
        }
    }
    drop(moto);
}

// ---------------------------------------------------------------------------------------------
// Digests
// ---------------------------------------------------------------------------------------------

fn digest_expectations() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        (
            "empty.json.gz",
            "not a CloudTrail digest: EOF while parsing a value",
        ),
        ("truncated.json.gz", "incomplete deflate stream"),
        (
            "not-gzip.json.gz",
            "not a CloudTrail digest: expected ident",
        ),
        (
            "not-a-digest.json.gz",
            "not a CloudTrail digest: missing field `digestStartTime`",
        ),
        (
            "wrong-type-start-time.json.gz",
            "not a CloudTrail digest: invalid type: integer `1715677291`, expected a string",
        ),
        (
            "bad-end-time.json.gz",
            "digestEndTime is not an ISO 8601 time: \"yesterday\"",
        ),
        (
            "wrong-type-log-files.json.gz",
            "not a CloudTrail digest: invalid type: map, expected a sequence",
        ),
        (
            "log-file-entry-missing-hash.json.gz",
            "not a CloudTrail digest: missing field `hashValue`",
        ),
        (
            "non-utf8.json.gz",
            "not a CloudTrail digest: invalid unicode code point",
        ),
    ])
}

#[test]
fn every_digest_in_the_corpus_is_refused_with_its_reason() {
    let expect = digest_expectations();
    let files = corpus("digests");
    let found: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(found, expect.keys().copied().collect::<Vec<_>>());
    for (name, path) in &files {
        let stored = std::fs::read(path).unwrap();
        let said = match log_integrity::hash::ContentHasher::keeping(
            log_integrity::check::MAX_DIGEST_BYTES,
        )
        .read_all(&stored[..])
        {
            Err(e) => e.to_string(),
            Ok(h) => log_integrity::digest::Digest::parse(h.content.as_deref().unwrap())
                .unwrap_err()
                .to_string(),
        };
        assert!(said.contains(expect[name.as_str()]), "{name}: {said}");
    }
}

/// A copy of the sample trail with the corpus digests added as later digests of the chain.
fn trail_with_bad_digests() -> PathBuf {
    let dir = scratch("trail");
    copy_dir(&root().join("events/trail"), &dir);
    let digest_dir = dir.join("AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14");
    for (i, (_, path)) in corpus("digests").iter().enumerate() {
        let name = format!(
            "123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240514T13{:02}31Z.json.gz",
            i
        );
        std::fs::copy(path, digest_dir.join(name)).unwrap();
    }
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn offline_validation_marks_each_bad_digest_invalid_and_keeps_the_good_ones() {
    let dir = trail_with_bad_digests();
    let keys = log_integrity::keys::KeySet::from_json(
        &std::fs::read(root().join("events/trail/public-keys.json")).unwrap(),
    )
    .unwrap();
    let report = log_integrity::validate_local(&dir, &keys, &Default::default())
        .await
        .unwrap();
    let text = report.to_string();
    let bad = corpus("digests").len();
    let mut invalid = 0;
    for i in 0..bad {
        let key = format!(
            "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240514T13{i:02}31Z.json.gz"
        );
        match report.verdict(&key) {
            Some(log_integrity::offline::Verdict::Invalid(why)) => {
                invalid += 1;
                assert!(
                    why.contains("unreadable") || why.contains("digest"),
                    "{key}: {why}"
                );
            }
            other => panic!("{key}: {other:?}\n{text}"),
        }
    }
    assert_eq!(invalid, bad);
    // The sample trail's own digests are still valid.
    let good = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240514T100131Z.json.gz";
    assert_eq!(
        report.verdict(good),
        Some(&log_integrity::offline::Verdict::Valid),
        "{text}"
    );
}

#[tokio::test]
async fn log_integrity_alerts_on_each_unreadable_digest_from_s3() {
    let (moto, s3) = moto_with_trail_bucket().await;
    let sdk = moto.sdk_config();
    let keys_file = root().join("events/trail/public-keys.json");
    let state = Function::LogIntegrity
        .service(&sdk, &[("PUBLIC_KEYS_URI", keys_file.to_str().unwrap())])
        .await
        .unwrap();
    for (i, (name, path)) in corpus("digests").iter().enumerate() {
        let key = format!(
            "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14/123456789012_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240514T13{i:02}31Z.json.gz"
        );
        s3.put_object()
            .bucket(TRAIL_BUCKET)
            .key(&key)
            .metadata("signature", "00ff")
            .body(std::fs::read(path).unwrap().into())
            .send()
            .await
            .unwrap();
        let event = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
            "awsRegion": "us-east-1", "eventTime": "2024-05-14T13:00:31Z",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": TRAIL_BUCKET}, "object": {"key": key}}}]});
        let answer = state.handle(event).await;
        // A digest that cannot be read is a finding (alerted), not a reason to retry.
        let out = answer.unwrap_or_else(|e| panic!("{name}: {e}"));
        let alerts = out["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 1, "{name}: {out:#}");
        let text = alerts[0].to_string();
        assert!(text.contains("unreadable"), "{name}: {text}");
        assert_eq!(alerts[0]["severity"], "critical", "{name}");
    }
    drop(moto);
}

// ---------------------------------------------------------------------------------------------
// The CLI
// ---------------------------------------------------------------------------------------------

/// The `trailwarden` binary built next to this test binary, if it was built.
fn cli_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    let bin = dir.join("trailwarden");
    bin.is_file().then_some(bin)
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn trailwarden(bin: &Path, args: &[&str]) -> Ran {
    // Nothing listens on port 9: a call that reaches AWS fails, it never acts.
    let out = aws_command(bin, "http://127.0.0.1:9")
        .args(args)
        .env("DRY_RUN", "true")
        .env_remove("ALERT_TOPIC_ARN")
        .current_dir(root())
        .output()
        .unwrap();
    let (_, stdout, stderr) = outcome(&out);
    let ran = Ran {
        code: out.status.code(),
        stdout,
        stderr,
    };
    assert!(
        ran.code.is_some() && ran.code != Some(101) && !ran.stderr.contains("panicked"),
        "trailwarden {args:?} crashed ({:?}):\n{}",
        ran.code,
        ran.stderr
    );
    ran
}

#[test]
fn the_cli_answers_every_corpus_file_with_a_message_and_an_exit_code() {
    let Some(bin) = cli_binary() else {
        println!(
            "SKIPPED: the trailwarden binary is not built next to this test ({}); \
             run `cargo build -p trailwarden-cli` first",
            std::env::current_exe().unwrap().display()
        );
        return;
    };
    let expect = payload_expectations();
    for (name, path) in corpus("payloads") {
        let path = path.to_string_lossy().into_owned();
        for f in Function::ALL {
            let ran = trailwarden(&bin, &["invoke", f.name(), &path]);
            match expect[name.as_str()] {
                // A file that is not an event could not be handled (exit 1), named with the
                // reason.
                Err(says) => {
                    assert_eq!(
                        ran.code,
                        Some(1),
                        "invoke {} {name}: {}{}",
                        f.name(),
                        ran.stdout,
                        ran.stderr
                    );
                    let says = says.trim_start_matches("payload ");
                    assert!(
                        ran.stderr.contains(&name) && ran.stderr.contains(says),
                        "invoke {} {name}: {}",
                        f.name(),
                        ran.stderr
                    );
                }
                Ok(()) => assert_eq!(
                    ran.code,
                    Some(0),
                    "invoke {} {name}: {}{}",
                    f.name(),
                    ran.stdout,
                    ran.stderr
                ),
            }
        }
    }
    // replay over the payload corpus as a directory: files that are not events are skipped
    // with the reason (key documents and metadata sidecars live beside events); the events
    // are replayed.
    let ran = trailwarden(
        &bin,
        &["--format", "json", "replay", "tests/bad-input/payloads"],
    );
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
    let entries: Vec<Value> = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(entries.len(), expect.len());
    for e in &entries {
        let file = e["file"].as_str().unwrap();
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        match expect[name] {
            Err(says) => {
                let why = e["skipped"].as_str().unwrap_or_default();
                assert!(
                    why.contains(says.trim_start_matches("payload ")),
                    "replay {name}: {e}"
                );
            }
            Ok(()) => assert!(e["routed_to"].is_array(), "replay {name}: {e}"),
        }
    }
    // Named on the command line, a file that is not an event is an error.
    let ran = trailwarden(&bin, &["replay", "tests/bad-input/payloads/truncated.json"]);
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    assert!(format!("{}{}", ran.stdout, ran.stderr).contains("EOF while parsing a string"));

    // scan over the log corpus and the generated inputs.
    let logs = expect_logs_in(&bin, "tests/bad-input/logs");
    assert!(logs.contains("cis-4.3-root-usage"), "{logs}");
    let dir = scratch("cli-bomb");
    let bomb = gzip_bomb(&dir);
    let ran = trailwarden(&bin, &["--format", "json", "scan", &bomb.to_string_lossy()]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let report: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(report["records"], 3, "{report:#}");
    assert_eq!(report["unparsed_records"], 1, "{report:#}");

    // validate over a trail copy holding the bad digests.
    let trail = trail_with_bad_digests();
    let ran = trailwarden(
        &bin,
        &[
            "validate",
            &trail.to_string_lossy(),
            "--public-keys",
            "events/trail/public-keys.json",
        ],
    );
    assert_eq!(ran.code, Some(3), "{}{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("INVALID"), "{}", ran.stdout);
}

/// `scan` over a directory: the unreadable files are named with their reason, the rest is
/// scanned, and the exit code says a file could not be read.
fn expect_logs_in(bin: &Path, dir: &str) -> String {
    let ran = trailwarden(bin, &["scan", dir]);
    let all = format!("{}{}", ran.stdout, ran.stderr);
    assert_eq!(ran.code, Some(1), "{all}");
    for (name, e) in log_expectations() {
        if let Err(says) = e {
            assert!(
                all.contains(name) && all.contains(says),
                "scan: {name} / {says}:\n{all}"
            );
        }
    }
    all
}

#[test]
fn the_cli_stops_quietly_when_its_reader_goes_away() {
    // `trailwarden ... | head`: the pipe closes early; the CLI must end without a panic.
    let Some(bin) = cli_binary() else {
        println!("SKIPPED: the trailwarden binary is not built");
        return;
    };
    let mut child = Command::new(&bin)
        .args([
            "--format",
            "json",
            "replay",
            "tests/bad-input/payloads",
            "events",
        ])
        .env("DRY_RUN", "true")
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && out.status.code() != Some(101),
        "exit {:?}:\n{stderr}",
        out.status.code()
    );
}

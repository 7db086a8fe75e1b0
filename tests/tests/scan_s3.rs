//! `trailwarden scan s3://...` against moto: the same findings as a scan of the local copy
//! (files read whole or streamed), digests and other objects left alone, a resumed scan that
//! continues where the last one stopped, a scan that stops at an object it may not read
//! (without moving its position past it), and archived log files named, not skipped silently.

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use trailwarden_testkit::faults::{Fault, FaultProxy, Rule};
use trailwarden_testkit::{aws_command, outcome, Moto};

const BUCKET: &str = "org-trail-logs";
const LOG: &str = "123456789012_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `trailwarden` binary cargo built next to this test.
fn cli() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("trailwarden");
    assert!(
        bin.is_file(),
        "build the CLI first: cargo build -p trailwarden-cli"
    );
    bin
}

fn trailwarden(moto: &Moto, args: &[&str]) -> (i32, String, String) {
    trailwarden_at(&moto.endpoint, args)
}

/// The command against another endpoint (a fault proxy in front of moto).
fn trailwarden_at(endpoint: &str, args: &[&str]) -> (i32, String, String) {
    let out = aws_command(cli(), endpoint)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    outcome(&out)
}

/// (detection, count) of every finding, sorted.
fn findings(json: &str) -> Vec<(String, u64)> {
    let v: Value = serde_json::from_str(json).unwrap();
    let mut out: Vec<(String, u64)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["detection"].as_str().unwrap().to_string(),
                f["count"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A fresh folder for a test's resume file, and the file in it.
struct ResumeFile {
    dir: PathBuf,
    file: PathBuf,
}

impl ResumeFile {
    fn new(name: &str) -> ResumeFile {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("position.json");
        ResumeFile { dir, file }
    }

    /// `args` followed by `--resume-file` and this file.
    fn after<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = args.to_vec();
        all.extend(["--resume-file", self.file.to_str().unwrap()]);
        all
    }

    /// The position the last run left in the file.
    fn position(&self) -> Value {
        serde_json::from_slice(&std::fs::read(&self.file).unwrap()).unwrap()
    }

    /// Removes the folder (and the file).
    fn remove(self) {
        std::fs::remove_dir_all(&self.dir).unwrap();
    }
}

/// Where [`bucket_with_logs`] puts the log files.
fn logs_uri() -> String {
    format!("s3://{BUCKET}/AWSLogs/")
}

/// The log file in `events/logs` that [`bucket_with_logs`] copies.
fn log_body() -> ByteStream {
    ByteStream::from(std::fs::read(root().join("events/logs").join(LOG)).unwrap())
}

/// Writes an object into `bucket`.
async fn put_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: ByteStream) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body)
        .send()
        .await
        .unwrap();
}

/// The names of the files a JSON scan report says it read.
fn file_names(json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(json).unwrap();
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

async fn bucket_with_logs(moto: &Moto, copies: usize) -> aws_sdk_s3::Client {
    let s3 = trailwarden::aws::s3_client(&moto.sdk_config());
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let dir = "AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail/us-east-1/2024/08/01";
    for i in 0..copies {
        let key = format!("{dir}/{}", LOG.replace("Xy7pQ2mN", &format!("Copy{i:04}")));
        put_object(&s3, BUCKET, &key, log_body()).await;
    }
    // Neither a digest nor the writability check is a log file.
    for key in [
        "AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail-Digest/us-east-1/2024/08/01/123456789012_CloudTrail-Digest_us-east-1_org-trail_us-east-1_20240801T140000Z.json.gz",
        "AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail/us-east-1/ConfigWritabilityCheckFile",
    ] {
        put_object(&s3, BUCKET, key, ByteStream::from_static(b"not a log file")).await;
    }
    s3
}

#[tokio::test]
async fn a_scan_of_s3_finds_what_a_scan_of_the_local_copy_finds() {
    let moto = Moto::start().await.unwrap();
    bucket_with_logs(&moto, 1).await;
    let (code, local, err) = trailwarden(&moto, &["--format", "json", "scan", "events/logs"]);
    assert_eq!(code, 0, "{err}");
    let uri = logs_uri();
    let (code, remote, err) = trailwarden(&moto, &["--format", "json", "scan", &uri]);
    assert_eq!(code, 0, "{err}");
    let (want, got) = (findings(&local), findings(&remote));
    assert!(!want.is_empty());
    assert_eq!(got, want);
    let names = file_names(&remote);
    assert_eq!(names.len(), 1, "only the log file is read: {names:?}");
    assert!(names[0].starts_with(&format!("s3://{BUCKET}/AWSLogs/o-a1b2c3d4e5/")));
    // The digest and the writability check were listed with the log file, and passed.
    let doc: Value = serde_json::from_str(&remote).unwrap();
    assert_eq!(doc["s3"][0]["skipped_keys"], 2, "{remote}");

    // One object, named by its key: that file alone.
    let (code, one, err) = trailwarden(&moto, &["--format", "json", "scan", &names[0]]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(file_names(&one), names, "{err}");
    assert_eq!(findings(&one), want);
    let (code, _, err) = trailwarden(&moto, &["scan", &names[0].replace(".json.gz", "X.json.gz")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no such object"), "{err}");
}

#[tokio::test]
async fn streamed_files_give_the_same_findings_as_files_read_whole() {
    let moto = Moto::start().await.unwrap();
    bucket_with_logs(&moto, 3).await;
    let uri = logs_uri();
    let (code, whole, err) = trailwarden(&moto, &["--format", "json", "scan", &uri]);
    assert_eq!(code, 0, "{err}");
    // No read-ahead: every file is streamed through the scanner as it arrives.
    let (code, streamed, err) = trailwarden(
        &moto,
        &["scan", &uri, "--read-ahead-mib", "0", "--concurrency", "2"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("3 log file(s) read, 3 streamed"), "{err}");
    let (code, streamed_json, err) = trailwarden(
        &moto,
        &["--format", "json", "scan", &uri, "--read-ahead-mib", "0"],
    );
    assert_eq!(code, 0, "{err}");
    let (want, got) = (findings(&whole), findings(&streamed_json));
    assert!(!want.is_empty());
    assert_eq!(got, want, "{streamed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_be_read_stops_the_scan_before_it() {
    let moto = Moto::start().await.unwrap();
    bucket_with_logs(&moto, 3).await;
    let proxy = FaultProxy::start(&moto.endpoint).await.unwrap();
    // The second log file (in key order) is refused, as for a role without access to it.
    let second = format!(
        "GET /{BUCKET}/AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail/us-east-1/2024/08/01/{}*",
        LOG.replace("Xy7pQ2mN4bR8sT1v.json.gz", "Copy0001")
    );
    proxy.add(Rule::always(&second, Fault::error(403, "AccessDenied")));
    let resume = ResumeFile::new("tw-scan-stop");
    let uri = logs_uri();
    let args = resume.after(&["--format", "json", "scan", &uri, "--concurrency", "2"]);
    let (code, out, err) = trailwarden_at(&proxy.endpoint, &args);
    assert_eq!(code, 1, "{err}");
    // Scripts see it too: the JSON names the object the scan stopped at.
    let stop = &serde_json::from_str::<Value>(&out).unwrap()["s3"][0]["stopped"];
    assert!(stop["key"].as_str().unwrap().contains("Copy0001"), "{out}");
    assert!(
        stop["reason"].as_str().unwrap().contains("AccessDenied"),
        "{out}"
    );
    assert!(
        err.contains("the scan stopped at s3://org-trail-logs/") && err.contains("Copy0001"),
        "{err}"
    );
    assert!(err.contains("to continue from there"), "{err}");
    // What was scanned is reported; the position is before the refused file.
    assert_eq!(file_names(&out).len(), 1, "{out}");
    let pos = resume.position();
    assert!(
        pos["last_key"].as_str().unwrap().contains("Copy0000"),
        "{pos}"
    );
    assert_eq!(pos["files"], 1);

    // Told to pass what it cannot read (an object nobody can fix would stop every run at the
    // same place): the refused file is named, the others are read, the exit code still says.
    let (code, out, err) = trailwarden_at(
        &proxy.endpoint,
        &["--format", "json", "scan", &uri, "--skip-unreadable"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("not read (--skip-unreadable)") && err.contains("Copy0001"),
        "{err}"
    );
    let names = file_names(&out);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| !n.contains("Copy0001")), "{names:?}");

    // Access granted: the same command continues with the refused file.
    proxy.heal();
    let (code, out, err) = trailwarden_at(&proxy.endpoint, &args);
    assert_eq!(code, 0, "{err}");
    let names = file_names(&out);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].contains("Copy0001"), "{names:?}");
    let pos = resume.position();
    assert_eq!(pos["files"], 3);
    resume.remove();
}

#[tokio::test]
async fn archived_log_files_are_named_and_read_once_restored() {
    let moto = Moto::start().await.unwrap();
    let s3 = bucket_with_logs(&moto, 1).await;
    let archived = format!(
        "AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail/us-east-1/2023/01/01/{}",
        LOG.replace("20240801T1335Z", "20230101T0005Z")
    );
    s3.put_object()
        .bucket(BUCKET)
        .key(&archived)
        .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        .body(log_body())
        .send()
        .await
        .unwrap();
    let uri = logs_uri();
    let (code, _, err) = trailwarden(&moto, &["scan", &uri]);
    assert_eq!(code, 1, "something was not read: {err}");
    assert!(err.contains("is archived"), "{err}");
    assert!(
        err.contains("2 log file(s) read") && err.contains("1 archived log file(s) not read"),
        "{err}"
    );
    assert!(err.contains(&archived), "{err}");

    // Restored, it is read like any other (the listing still says GLACIER).
    s3.restore_object()
        .bucket(BUCKET)
        .key(&archived)
        .restore_request(aws_sdk_s3::types::RestoreRequest::builder().days(1).build())
        .send()
        .await
        .unwrap();
    let (code, out, err) = trailwarden(&moto, &["--format", "json", "scan", &uri]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(file_names(&out).len(), 2, "{out}");
}

#[tokio::test]
async fn an_interrupted_scan_resumes_after_the_last_file_it_read() {
    let moto = Moto::start().await.unwrap();
    let s3 = bucket_with_logs(&moto, 3).await;
    let resume = ResumeFile::new("tw-scan-s3");
    let uri = logs_uri();
    let (code, _, err) = trailwarden(&moto, &resume.after(&["scan", &uri, "--concurrency", "2"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("3 log file(s) read"), "{err}");
    let pos = resume.position();
    assert_eq!(pos["files"], 3);
    assert!(pos["last_key"].as_str().unwrap().contains("Copy0002"));

    // A fourth file arrives; the next run reads only it.
    let fourth = format!(
        "AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail/us-east-1/2024/08/02/{}",
        LOG.replace("20240801T1335Z", "20240802T0005Z")
    );
    put_object(&s3, BUCKET, &fourth, log_body()).await;
    let (code, out, err) = trailwarden(&moto, &resume.after(&["--format", "json", "scan", &uri]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(file_names(&out).len(), 1);
    assert_eq!(resume.position()["files"], 4);

    // The same resume file with another location is refused.
    let other = format!("s3://{BUCKET}/other/");
    let (code, _, err) = trailwarden(&moto, &resume.after(&["scan", &other]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("records a scan of"), "{err}");
    resume.remove();
}

/// The bucket `events/trail` is uploaded to.
const TRAIL_BUCKET: &str = "trailwarden-trail-123456789012";

/// `events/trail` in [`TRAIL_BUCKET`], from one account's folder.
const TRAIL_URI: &str = "s3://trailwarden-trail-123456789012/AWSLogs/123456789012/";

/// The public keys `events/trail` was signed with.
const PUBLIC_KEYS: &str = "events/trail/public-keys.json";

/// What validating all of `events/trail` reports.
const ALL_VALID: &str = "3 digest file(s): 3 valid, 0 invalid, 0 missing; 6 log file(s): 6 valid";

/// Writes an object (an edit or a plant) into the trail bucket.
async fn put_trail_object(s3: &aws_sdk_s3::Client, key: &str, body: &'static [u8]) {
    put_object(s3, TRAIL_BUCKET, key, ByteStream::from_static(body)).await;
}

/// Uploads `events/trail` as CloudTrail wrote it: digests with their signature metadata.
async fn trail_bucket(moto: &Moto) -> aws_sdk_s3::Client {
    let s3 = trailwarden::aws::s3_client(&moto.sdk_config());
    let bucket = TRAIL_BUCKET;
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let base = root().join("events/trail");
    let mut stack = vec![base.join("AWSLogs")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.to_str().unwrap();
            if name.ends_with(".metadata.json") {
                continue;
            }
            let key = path
                .strip_prefix(&base)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let mut put = s3
                .put_object()
                .bucket(bucket)
                .key(&key)
                .body(ByteStream::from(std::fs::read(&path).unwrap()));
            let sidecar = PathBuf::from(format!("{name}.metadata.json"));
            if sidecar.is_file() {
                let meta: Value =
                    serde_json::from_slice(&std::fs::read(&sidecar).unwrap()).unwrap();
                for (k, v) in meta.as_object().unwrap() {
                    put = put.metadata(k, v.as_str().unwrap());
                }
            }
            put.send().await.unwrap();
        }
    }
    s3
}

#[tokio::test]
async fn validate_reads_digests_and_log_files_in_place_in_s3() {
    let moto = Moto::start().await.unwrap();
    let s3 = trail_bucket(&moto).await;
    let validate = ["validate", TRAIL_URI, "--public-keys", PUBLIC_KEYS];
    let (code, out, err) = trailwarden(&moto, &validate);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(ALL_VALID), "{out}");

    // A log file edited after delivery is invalid; the exit code says so.
    let key = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/14/123456789012_CloudTrail_us-east-1_20240514T1006Z_Ux4PBpVbB0Xq3Ycn.json.gz";
    put_trail_object(&s3, key, b"{\"Records\":[]}").await;
    let (code, out, err) = trailwarden(&moto, &validate);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("1 invalid"), "{out}");
}

/// The digest keys of `events/trail`, in S3's order.
fn trail_digest_keys() -> Vec<String> {
    let dir = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/14";
    let mut keys: Vec<String> = std::fs::read_dir(root().join("events/trail").join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json.gz"))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn validate_from_s3_resumes_after_the_last_digest_it_checked() {
    let moto = Moto::start().await.unwrap();
    trail_bucket(&moto).await;
    let uri = TRAIL_URI;
    let resume = ResumeFile::new("tw-validate-s3");
    let args = resume.after(&[
        "validate",
        uri,
        "--public-keys",
        PUBLIC_KEYS,
        "--concurrency",
        "3",
    ]);
    let digests = trail_digest_keys();
    assert_eq!(digests.len(), 3);

    // Digests checked three at once give the report of one at a time; the position is the
    // last digest.
    let (code, out, err) = trailwarden(&moto, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(ALL_VALID), "{out}");
    let pos = resume.position();
    assert_eq!(pos["command"], "validate");
    assert_eq!(pos["last_key"], digests[2].as_str());
    assert_eq!(pos["files"], 3);

    // Interrupted after the first digest (the position such a run leaves): the next run
    // checks the other two, and does not call the first one's log files unlisted.
    let interrupted =
        json!({"command": "validate", "uri": uri, "last_key": digests[0], "files": 1});
    std::fs::write(&resume.file, interrupted.to_string()).unwrap();
    let (code, out, err) = trailwarden(&moto, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("resuming after"), "{err}");
    assert!(
        out.contains("2 digest file(s): 2 valid, 0 invalid, 0 missing; 4 log file(s): 4 valid"),
        "{out}"
    );
    assert!(!out.contains("not listed in any digest"), "{out}");
    let pos = resume.position();
    assert_eq!(pos["files"], 3);

    // Log files planted after the resume point, and before it on the same day, are reported:
    // the run that stopped there had settled only the days before the day before its last
    // digest's.
    let s3 = trailwarden::aws::s3_client(&moto.sdk_config());
    let planted = |region: &str, stamp: &str| {
        format!("AWSLogs/123456789012/CloudTrail/{region}/2024/05/14/123456789012_CloudTrail_{region}_{stamp}_Pl4ntedF1leXyZ12.json.gz")
    };
    // A region whose digests were all deleted: its log files are listed in none (reported by
    // a whole run below; it comes before the resume point, settled by the run that stopped).
    let undigested = planted("eu-west-3", "20240514T0930Z");
    for key in [
        planted("us-east-1", "20240514T0930Z"),
        planted("us-east-1", "20240514T1130Z"),
        undigested.clone(),
    ] {
        put_trail_object(&s3, &key, b"{}").await;
    }
    std::fs::write(&resume.file, interrupted.to_string()).unwrap();
    let (_, out, _) = trailwarden(&moto, &args);
    assert!(
        out.contains(&planted("us-east-1", "20240514T1130Z")),
        "{out}"
    );
    assert!(
        out.contains(&planted("us-east-1", "20240514T0930Z")),
        "{out}"
    );
    assert!(!out.contains(&undigested), "{out}");
    assert!(
        out.contains("2 log file(s) not listed in any digest"),
        "{out}"
    );
    // The same as one JSON document, its lines written as they were found.
    let mut json_args = vec!["--format", "json"];
    json_args.extend(&args[..4]);
    let (code, out, err) = trailwarden(&moto, &json_args);
    assert_eq!(code, 0, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["summary"]["digests_valid"], 3);
    assert_eq!(doc["summary"]["log_files_valid"], 6);
    assert_eq!(doc["summary"]["log_files_unlisted"], 3);
    let lines = doc["report"]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3 + 6 + 3);
    assert!(lines.contains(&json!({"kind": "log", "key": undigested, "status": "unlisted"})));
    assert_eq!(lines[0]["kind"], "digest");
    assert_eq!(lines[0]["status"], "valid");

    // From the bucket's root, over two accounts: the other account has log files and no
    // digests (each listing jumps over the other's folders and still reaches it).
    let other = "AWSLogs/999999999999/CloudTrail/us-east-1/2024/05/14/999999999999_CloudTrail_us-east-1_20240514T1006Z_Ux4PBpVbB0Xq3Ycn.json.gz";
    put_trail_object(&s3, other, b"{}").await;
    let root_uri = "s3://trailwarden-trail-123456789012/";
    let (code, out, err) =
        trailwarden(&moto, &["validate", root_uri, "--public-keys", PUBLIC_KEYS]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(ALL_VALID), "{out}");
    assert!(out.contains(other), "{out}");
    assert!(
        out.contains("4 log file(s) not listed in any digest"),
        "{out}"
    );

    // A validation's position is not a scan's.
    let (code, _, err) = trailwarden(&moto, &resume.after(&["scan", uri]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("records a validate of"), "{err}");
    // A local copy is validated whole: a resume file there is refused, not ignored.
    let (code, _, err) = trailwarden(
        &moto,
        &resume.after(&["validate", "events/trail", "--public-keys", PUBLIC_KEYS]),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--resume-file is for an s3:// location"),
        "{err}"
    );
    resume.remove();
}

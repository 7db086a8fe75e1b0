//! Per-object figures of the backfill's batch handler, for the README's cost estimate
//! (`scripts/backfill-figures.sh` runs it, one process per file so each peak RSS is that
//! file's).
//!
//!     batch_figures --endpoint http://127.0.0.1:PORT --log FILE [--repeat 5]
//!     batch_figures --endpoint http://127.0.0.1:PORT --trail events/trail [--repeat 5]
//!
//! Against an S3 emulator (moto) at ENDPOINT: uploads the log file under a CloudTrail key (or
//! the trail copy, digest signatures included), then runs the function's own handler
//! (`backfill::handle`, built as Lambda builds it) on one-object batches, REPEAT times per
//! object. Prints one JSON line per object: sizes, records, and the median wall time, CPU
//! time (user + system of this process: the emulator's own work is not counted) and the
//! process's peak RSS.

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

const BUCKET: &str = "trailwarden-trail-123456789012";

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// CPU time of this process so far, in milliseconds: the sum over its threads of the time
/// the scheduler ran them (Linux `/proc/self/task/*/schedstat`, nanoseconds), so the
/// blocking threads the scan runs on count too. Threads that ended are not counted: the
/// runtime keeps its blocking threads for 10 s, longer than a run.
fn cpu_ms() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e6
}

/// Peak resident set of this process, in MiB (`VmHWM`).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out)
        } else {
            out.push(p)
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let endpoint = arg(&args, "--endpoint").expect("--endpoint http://127.0.0.1:PORT");
    let repeat: usize = arg(&args, "--repeat")
        .map(|r| r.parse().expect("--repeat N"))
        .unwrap_or(5);
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "figures"),
        ))
        .build();
    let s3 = trailwarden::aws::s3_client(&sdk);
    let _ = s3.create_bucket().bucket(BUCKET).send().await;

    let mut env: std::collections::HashMap<String, String> = Default::default();
    let mut objects: Vec<(String, u64, String)> = Vec::new();
    if let Some(log) = arg(&args, "--log") {
        let body = std::fs::read(&log).expect("--log FILE");
        let key = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/09/01/123456789012_CloudTrail_us-east-1_20240901T0005Z_Fg7Hj2Kl9Mn4Pq1R.json.gz";
        let size = body.len() as u64;
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
        objects.push((key.to_string(), size, log));
    }
    if let Some(trail) = arg(&args, "--trail") {
        let root = PathBuf::from(&trail);
        let mut files = Vec::new();
        walk(&root.join("AWSLogs"), &mut files);
        for f in files {
            let key = f.strip_prefix(&root).unwrap().display().to_string();
            if key.ends_with(".metadata.json") {
                continue;
            }
            let body = std::fs::read(&f).unwrap();
            let size = body.len() as u64;
            let mut req = s3
                .put_object()
                .bucket(BUCKET)
                .key(&key)
                .body(ByteStream::from(body));
            let side = root.join(format!("{key}.metadata.json"));
            if side.is_file() {
                let meta: BTreeMap<String, String> =
                    serde_json::from_slice(&std::fs::read(side).unwrap()).unwrap();
                for (k, v) in meta {
                    req = req.metadata(k, v);
                }
            }
            req.send().await.unwrap();
            if key.contains("/CloudTrail-Digest/") {
                objects.push((key, size, f.display().to_string()));
            }
        }
        env.insert(
            "PUBLIC_KEYS_URI".into(),
            root.join("public-keys.json").display().to_string(),
        );
    }
    assert!(!objects.is_empty(), "--log FILE or --trail DIR");

    let start_rss = peak_rss_mib();
    let service = trailwarden::lambda::Service::<backfill::Backfill>::from_env(&sdk, &env)
        .await
        .expect("the function builds");
    let ready_rss = peak_rss_mib();
    for (key, compressed, file) in objects {
        let batch = json!({"Items": [{"Key": key, "Size": compressed}], "BatchInput": {"bucket": BUCKET, "source": "prefix"}});
        let (mut wall, mut cpu) = (Vec::new(), Vec::new());
        let mut last = Value::Null;
        for _ in 0..repeat {
            let (t, c) = (Instant::now(), cpu_ms());
            last = backfill::handle(&service, batch.clone())
                .await
                .expect("batch");
            wall.push(t.elapsed().as_secs_f64() * 1000.0);
            cpu.push(cpu_ms() - c);
        }
        let o = &last["objects"][0];
        println!(
            "{}",
            json!({
                "file": file,
                "kind": o["kind"],
                "compressed_bytes": compressed,
                "uncompressed_bytes": o["bytes"],
                "records": o["records"],
                "log_files_hashed": o["digest"]["log_files"],
                "verdict": o["digest"]["verdict"],
                "detections_fired": o["findings"].as_object().map_or(0, |f| f.len()),
                "runs": repeat,
                "wall_ms_median": (median(wall) * 10.0).round() / 10.0,
                "cpu_ms_median": (median(cpu) * 100.0).round() / 100.0,
                "rss_mib_at_start": (start_rss * 10.0).round() / 10.0,
                "rss_mib_ready": (ready_rss * 10.0).round() / 10.0,
                "peak_rss_mib": (peak_rss_mib() * 10.0).round() / 10.0,
            })
        );
    }
}

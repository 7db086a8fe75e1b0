//! `trailwarden backfill` against moto's Step Functions: the state machine created from the
//! template's definition, started by the command, run by moto's interpreter (the Distributed
//! Map listing the bucket, a child execution per batch, the summary step), followed by the
//! command through DescribeExecution, ListMapRuns and DescribeMapRun until it prints the
//! summary.
//!
//! moto runs state machines only when asked (`execute_state_machine`), and its interpreter
//! reaches S3 and Lambda through `localhost:$MOTO_PORT`. This test starts its own moto (through
//! scripts/moto.sh) with `MOTO_PORT` pointing at a small proxy in the test: S3 requests go on
//! to moto; Lambda `Invoke` requests are answered by the backfill function's own handler, in
//! process, as Lambda would run it.
//!
//! What moto's interpreter cannot run, and how the test stands in (so the definition the
//! stack deploys is what `statemachines/*.rs` unit tests check, not this one):
//! - `ItemBatcher` is not in its grammar: the test replaces it with an `ItemSelector` making
//!   each item a batch of one, in the same shape (`{"Items": [item], "BatchInput": {...}}`).
//!   Grouping items into batches of `MaxItemsPerBatch` is therefore not exercised here.
//! - `ReaderConfig.InputType: MANIFEST` is refused when the state machine is created: the
//!   S3 Inventory branch is replaced by a Fail state and is not run here.
//! - `ResultWriter`: moto evaluates `Prefix.$` against the Map's results instead of its input,
//!   and writes a manifest that lists no result files (its own TODO). The test gives a fixed
//!   prefix, and before the summary step stores the batches' answers as the ResultWriter
//!   stores them (the format the summary reads is AWS's documented one).
//! - `ToleratedFailurePercentage` is accepted but has no effect in moto.

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use trailwarden::lambda::Service;
use trailwarden_testkit::{aws_command, outcome, AlertInbox};

const ARCHIVE: &str = "trailwarden-trail-123456789012";
const RESULTS: &str = "trailwarden-stack-backfillresultsbucket-1x2y3z";
const FUNCTION: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:trailwarden-BackfillFunction-Q1w2E3r4";
const SAMPLE: &str = "123456789012_CloudTrail_us-east-1_20240801T1335Z_Xy7pQ2mN4bR8sT1v.json.gz";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

// ------------------------------------------------------------------------------ moto

/// A moto server of this test's own, whose interpreter reaches "AWS" through `proxy_port`.
fn start_moto(proxy_port: u16) -> String {
    let mut child = Command::new("bash")
        .arg(root().join("scripts/moto.sh"))
        .arg("--serve-for")
        .arg(std::process::id().to_string())
        .env("MOTO_PORT", proxy_port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("scripts/moto.sh");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    // moto.sh keeps moto up until this test process ends; reap it if it ends first.
    std::thread::spawn(move || child.wait());
    let endpoint = line.trim().to_string();
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "scripts/moto.sh said {endpoint:?}"
    );
    endpoint
}

async fn post(endpoint: &str, path: &str, body: &str) {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let head = String::from_utf8_lossy(&out);
    assert!(head.starts_with("HTTP/1.1 20"), "{path}: {head}");
}

fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test"),
        ))
        .build()
}

// ------------------------------------------------------------------------------ proxy

/// What the proxy saw: each batch it ran (input, answer) and each summary request.
#[derive(Default)]
struct Seen {
    batches: Vec<(Value, Value)>,
    summaries: usize,
}

struct Proxy {
    upstream: String,
    worker: Service<backfill::Backfill>,
    s3: aws_sdk_s3::Client,
    seen: Mutex<Seen>,
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).await.ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let header = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if header("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
        r.get_mut()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .ok()?;
    }
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).await.ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = header("content-length").and_then(|n| n.parse::<usize>().ok()) {
        body = vec![0; n];
        r.read_exact(&mut body).await.ok()?;
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

impl Proxy {
    async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                return;
            };
            let me = self.clone();
            tokio::spawn(async move { me.connection(conn).await });
        }
    }

    async fn connection(&self, conn: TcpStream) {
        let mut r = BufReader::new(conn);
        let Some(req) = read_request(&mut r).await else {
            return;
        };
        let answer = if req.path.starts_with("/2015-03-31/functions/")
            && req.path.contains("/invocations")
        {
            self.invoke(&req.body).await
        } else {
            self.forward(&req).await
        };
        let _ = r.get_mut().write_all(&answer).await;
        let _ = r.get_mut().shutdown().await;
    }

    /// Sends the request on to moto (one request per connection) and gives its answer.
    async fn forward(&self, req: &Request) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.path);
        for (k, v) in &req.headers {
            if [
                "connection",
                "expect",
                "transfer-encoding",
                "content-length",
            ]
            .contains(&k.as_str())
            {
                continue;
            }
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            req.body.len()
        ));
        let mut up = TcpStream::connect(self.upstream.trim_start_matches("http://"))
            .await
            .unwrap();
        up.write_all(head.as_bytes()).await.unwrap();
        up.write_all(&req.body).await.unwrap();
        let mut out = Vec::new();
        up.read_to_end(&mut out).await.unwrap();
        out
    }

    /// Lambda `Invoke`: the backfill function's handler answers, as Lambda would run it.
    async fn invoke(&self, body: &[u8]) -> Vec<u8> {
        let payload: Value = serde_json::from_slice(body).unwrap();
        if payload.get("summarize").is_some() {
            self.write_results(&payload).await;
            self.seen.lock().unwrap().summaries += 1;
        }
        let (status_line, extra, body) = match backfill::handle(&self.worker, payload.clone()).await
        {
            Ok(v) => {
                if payload.get("Items").is_some() {
                    self.seen
                        .lock()
                        .unwrap()
                        .batches
                        .push((payload.clone(), v.clone()));
                }
                ("HTTP/1.1 200 OK", "", v.to_string())
            }
            Err(e) => (
                "HTTP/1.1 200 OK",
                "X-Amz-Function-Error: Unhandled\r\n",
                json!({"errorMessage": e, "errorType": "BackfillError"}).to_string(),
            ),
        };
        format!(
            "{status_line}\r\nContent-Type: application/json\r\nX-Amz-Executed-Version: $LATEST\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// Stands in for the part of the ResultWriter moto leaves out: the batches' answers
    /// stored as AWS stores them (`SUCCEEDED_0.json`, listed in the manifest).
    async fn write_results(&self, request: &Value) {
        let details = &request["summarize"]["run"]["map"]["ResultWriterDetails"];
        let (bucket, key) = (
            details["Bucket"].as_str().unwrap(),
            details["Key"].as_str().unwrap(),
        );
        let got = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let mut manifest: Value =
            serde_json::from_slice(&got.body.collect().await.unwrap().into_bytes()).unwrap();
        assert_eq!(
            manifest["ResultFiles"]["SUCCEEDED"],
            json!([]),
            "moto wrote no results"
        );
        let entries: Vec<Value> = self
            .seen
            .lock()
            .unwrap()
            .batches
            .iter()
            .enumerate()
            .map(|(i, (input, output))| {
                json!({
                    "ExecutionArn": format!("{}:{i}", manifest["MapRunArn"].as_str().unwrap()),
                    "Input": input.to_string(), "InputDetails": {"Included": true},
                    "Name": format!("{i}"), "Output": output.to_string(),
                    "OutputDetails": {"Included": true}, "Status": "SUCCEEDED",
                })
            })
            .collect();
        let dir = key.trim_end_matches("manifest.json");
        let file = format!("{dir}SUCCEEDED_0.json");
        let body = serde_json::to_vec(&entries).unwrap();
        manifest["ResultFiles"]["SUCCEEDED"] = json!([{"Key": file, "Size": body.len()}]);
        for (k, b) in [
            (file.as_str(), body),
            (key, serde_json::to_vec(&manifest).unwrap()),
        ] {
            self.s3
                .put_object()
                .bucket(bucket)
                .key(k)
                .body(ByteStream::from(b))
                .send()
                .await
                .unwrap();
        }
    }
}

// ------------------------------------------------------------------------------ fixtures

/// The sample trail (signatures as user metadata) and the sample log file.
async fn upload_archive(s3: &aws_sdk_s3::Client) {
    s3.create_bucket().bucket(ARCHIVE).send().await.unwrap();
    s3.create_bucket().bucket(RESULTS).send().await.unwrap();
    trailwarden_testkit::harness::upload_sample_trail(s3, ARCHIVE).await;
    s3.put_object()
        .bucket(ARCHIVE)
        .key(format!(
            "AWSLogs/123456789012/CloudTrail/us-east-1/2024/08/01/{SAMPLE}"
        ))
        .body(ByteStream::from(
            std::fs::read(root().join("events/logs").join(SAMPLE)).unwrap(),
        ))
        .send()
        .await
        .unwrap();
}

/// The template's definition with its substitutions, rewritten where moto's interpreter
/// cannot follow (see the module comment).
fn definition_for_moto(execution: &str) -> String {
    let mut text = std::fs::read_to_string(root().join("statemachines/backfill.asl.json")).unwrap();
    for (k, v) in [
        ("BackfillFunctionArn", FUNCTION),
        ("ResultsBucket", RESULTS),
        ("MaxConcurrency", "3"),
        ("BatchSize", "4"),
        ("ToleratedFailurePercentage", "5"),
    ] {
        text = text.replace(&format!("${{{k}}}"), v);
    }
    let mut d: Value = serde_json::from_str(&text).unwrap();
    let map = &mut d["States"]["ScanPrefix"];
    let batcher = map.as_object_mut().unwrap().remove("ItemBatcher").unwrap();
    map["ItemSelector"] = json!({
        "Items.$": "States.Array($$.Map.Item.Value)",
        "BatchInput": batcher["BatchInput"],
    });
    map["ResultWriter"]["Parameters"] =
        json!({"Bucket": RESULTS, "Prefix": format!("backfill/{execution}")});
    d["States"]["ScanInventory"] = json!({"Type": "Fail", "Error": "NotRunInMoto"});
    d.to_string()
}

fn trailwarden(endpoint: &str, args: &[&str]) -> (i32, String, String) {
    let out = aws_command(env!("CARGO_BIN_EXE_trailwarden"), endpoint)
        .args(args)
        .output()
        .unwrap();
    outcome(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backfill_starts_the_state_machine_follows_it_and_prints_the_summary() {
    // The proxy's port first: moto's interpreter must know it when it starts.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    let endpoint = tokio::task::spawn_blocking(move || start_moto(proxy_port))
        .await
        .unwrap();
    post(
        &endpoint,
        "/moto-api/config",
        r#"{"stepfunctions": {"execute_state_machine": true}}"#,
    )
    .await;
    let cfg = sdk(&endpoint);
    let s3 = trailwarden::aws::s3_client(&cfg);
    upload_archive(&s3).await;
    let inbox = AlertInbox::create(&cfg, "trailwarden-alerts")
        .await
        .unwrap();
    let keys = root().join("events/trail/public-keys.json");
    let env: std::collections::HashMap<String, String> = [
        ("PUBLIC_KEYS_URI", keys.display().to_string()),
        ("ALERT_TOPIC_ARN", inbox.topic_arn.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let worker = Service::<backfill::Backfill>::from_env(&cfg, &env)
        .await
        .unwrap();
    let proxy = Arc::new(Proxy {
        upstream: endpoint.clone(),
        worker,
        s3: s3.clone(),
        seen: Mutex::new(Seen::default()),
    });
    tokio::spawn(proxy.clone().serve(listener));

    let sfn = aws_sdk_sfn::Client::new(&cfg);
    sfn.create_state_machine()
        .name("trailwarden-backfill")
        .role_arn("arn:aws:iam::123456789012:role/trailwarden-BackfillStateMachineRole-8GtM2kLq")
        .definition(definition_for_moto("nightly-1"))
        .send()
        .await
        .unwrap();

    // The command finds the stack's state machine by name, starts it, follows it.
    let e = endpoint.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        trailwarden(
            &e,
            &[
                "backfill",
                &format!("s3://{ARCHIVE}/AWSLogs/"),
                "--stack",
                "trailwarden",
                "--name",
                "nightly-1",
                "--concurrency",
                "3",
                "--wait",
                "--poll-seconds",
                "1",
                "--format",
                "json",
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("started arn:aws:states:us-east-1:123456789012:execution:trailwarden-backfill:nightly-1"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "SUCCEEDED", "{v}");
    // The Map Run's counts, as DescribeMapRun gives them.
    let run = &v["map_runs"][0];
    assert_eq!(run["objects_total"], 11, "{run}");
    assert_eq!(run["objects_succeeded"], 11, "{run}");
    assert_eq!(run["status"], "SUCCEEDED");

    // Every listed object went through the function; the summary adds them up.
    let seen = proxy.seen.lock().unwrap().batches.len();
    assert_eq!(seen, 11, "one batch per object in moto (no ItemBatcher)");
    let s = &v["summary"];
    assert_eq!(s["complete"], true, "{s}");
    assert_eq!(s["source"], format!("s3://{ARCHIVE}/AWSLogs/"));
    assert_eq!(s["objects"]["total"], 11);
    assert_eq!(s["objects"]["log_files"], 7);
    assert_eq!(s["objects"]["digests"], 3);
    assert_eq!(s["digests"]["valid"], 3);
    assert_eq!(s["detections"].as_array().unwrap().len(), 11);
    assert_eq!(s["detections"][0]["severity"], "critical");
    assert!(s["results"]
        .as_str()
        .unwrap()
        .starts_with(&format!("s3://{RESULTS}/backfill/nightly-1/")));
    assert!(s["alert"]["delivery"].as_str().unwrap().starts_with("sent"));
    let alerts = inbox.receive(1, Duration::from_secs(20)).await.unwrap();
    assert_eq!(alerts.len(), 1, "one alert for the whole backfill");
    assert_eq!(alerts[0].body["detection"], "backfill-summary");
    assert_eq!(proxy.seen.lock().unwrap().summaries, 1);
}

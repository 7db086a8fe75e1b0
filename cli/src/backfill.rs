//! `trailwarden backfill s3://bucket/prefix/`: starts the stack's backfill state machine
//! (`statemachines/backfill.asl.json`: a Step Functions Distributed Map fanning the archive
//! out over the backfill function) and, with `--wait`, follows it (the execution's status and
//! its Map Run's item counts) until it ends, then prints the summary it produced.

use crate::Format;
use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_sfn::types::ExecutionStatus;
use backfill::report::thousands;
use backfill::Summary;
use clap::Args;
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use trailwarden::s3uri::S3Uri;
use trailwarden::Severity;

#[derive(Args)]
pub struct BackfillArgs {
    /// The archive: s3://BUCKET/PREFIX/ (every object under the prefix is looked at: log
    /// files scanned, digests checked, anything else skipped).
    source: String,
    /// An S3 Inventory manifest (s3://BUCKET/.../manifest.json) of the archive: its objects
    /// instead of a listing of the prefix (faster to start for millions of objects).
    #[arg(long)]
    manifest: Option<String>,
    /// The backfill state machine (the stack's BackfillStateMachineArn output).
    #[arg(long, conflicts_with = "stack")]
    state_machine_arn: Option<String>,
    /// The stack that deployed trailwarden: its state machine is named STACK-backfill.
    #[arg(long, default_value = "trailwarden")]
    stack: String,
    /// Batches at once (default: the stack's BackfillMaxConcurrency).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10000))]
    concurrency: Option<u32>,
    /// Objects per batch (default: the stack's BackfillBatchSize).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    batch_size: Option<u32>,
    /// The execution's name (default: backfill-YYYYMMDDTHHMMSSZ); its results are kept under
    /// backfill/NAME/ in the results bucket.
    #[arg(long)]
    name: Option<String>,
    /// Follow the execution until it ends and print its summary.
    #[arg(long)]
    wait: bool,
    /// Seconds between progress checks with --wait.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    poll_seconds: u64,
    /// With --wait: exit with code 3 when a detection or integrity problem at or above this
    /// severity was found.
    #[arg(long, value_parser = |s: &str| s.parse::<Severity>())]
    fail_on: Option<Severity>,
}

/// The execution's input (what the state machine's first state reads).
pub fn execution_input(
    source: &S3Uri,
    manifest: Option<&S3Uri>,
    concurrency: Option<u32>,
    batch_size: Option<u32>,
) -> Value {
    let mut v = json!({"bucket": source.bucket, "prefix": source.key});
    if let Some(m) = manifest {
        v["manifest"] = json!({"bucket": m.bucket, "key": m.key});
    }
    if let Some(c) = concurrency {
        v["concurrency"] = json!(c);
    }
    if let Some(b) = batch_size {
        v["batch_size"] = json!(b);
    }
    v
}

/// An execution name: `backfill-` and the time (Step Functions names: up to 80 characters).
fn default_name() -> String {
    format!("backfill-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"))
}

/// Names a failed Step Functions call (`states:ListMapRuns: ...`) with the SDK's whole error.
fn sfn_failed<E: std::error::Error>(
    call: impl std::fmt::Display,
) -> impl FnOnce(E) -> anyhow::Error {
    move |e| anyhow!("{call}: {}", aws_sdk_sfn::error::DisplayErrorContext(e))
}

async fn find_state_machine(sfn: &aws_sdk_sfn::Client, stack: &str) -> Result<String> {
    let want = format!("{stack}-backfill");
    let mut token = None;
    loop {
        let page = sfn
            .list_state_machines()
            .set_next_token(token)
            .send()
            .await
            .map_err(sfn_failed("states:ListStateMachines"))?;
        if let Some(sm) = page.state_machines().iter().find(|s| s.name() == want) {
            return Ok(sm.state_machine_arn().to_string());
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => bail!(
                "no state machine named {want} in this account and region: deploy the stack \
                 (sam deploy), or pass --stack NAME or --state-machine-arn ARN"
            ),
        }
    }
}

/// A Map Run's progress: items (objects) and child executions (batches).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    pub map_run: String,
    pub status: String,
    pub objects_total: i64,
    pub objects_succeeded: i64,
    pub objects_failed: i64,
    pub objects_pending: i64,
    pub objects_running: i64,
    pub batches_total: i64,
    pub batches_succeeded: i64,
    pub batches_failed: i64,
    pub batches_running: i64,
}

impl Progress {
    pub fn line(&self, elapsed: Duration) -> String {
        let done = self.objects_succeeded + self.objects_failed;
        format!(
            "{}: {done}/{} objects done ({} failed), {} batches running, {} of {} batches done, {}s",
            self.status.to_lowercase(),
            self.objects_total,
            self.objects_failed,
            self.batches_running,
            self.batches_succeeded + self.batches_failed,
            self.batches_total,
            elapsed.as_secs()
        )
    }
}

async fn map_runs(sfn: &aws_sdk_sfn::Client, execution: &str) -> Result<Vec<Progress>> {
    let runs = sfn
        .list_map_runs()
        .execution_arn(execution)
        .send()
        .await
        .map_err(sfn_failed("states:ListMapRuns"))?;
    let mut out = Vec::new();
    for r in runs.map_runs() {
        let d = sfn
            .describe_map_run()
            .map_run_arn(r.map_run_arn())
            .send()
            .await
            .map_err(sfn_failed("states:DescribeMapRun"))?;
        let mut p = Progress {
            map_run: r.map_run_arn().to_string(),
            status: d.status().as_str().to_string(),
            ..Default::default()
        };
        if let Some(i) = d.item_counts() {
            p.objects_total = i.total();
            p.objects_succeeded = i.succeeded();
            p.objects_failed = i.failed() + i.timed_out() + i.aborted();
            p.objects_pending = i.pending();
            p.objects_running = i.running();
        }
        if let Some(e) = d.execution_counts() {
            p.batches_total = e.total();
            p.batches_succeeded = e.succeeded();
            p.batches_failed = e.failed() + e.timed_out() + e.aborted();
            p.batches_running = e.running();
        }
        out.push(p);
    }
    Ok(out)
}

/// The summary as people read it.
pub fn summary_text(s: &Summary) -> Vec<String> {
    let mut out = vec![
        format!(
            "backfill of {}{}",
            s.source,
            if s.complete { "" } else { " (INCOMPLETE)" }
        ),
        format!(
            "  objects       {} with a result: {}",
            thousands(s.objects.total),
            s.objects.by_kind()
        ),
        format!("  records       {}", s.records_read()),
    ];
    if s.detections.is_empty() {
        out.push("  detections    none fired".into());
    } else {
        out.push(format!("  detections    {} fired:", s.detections.len()));
        for d in &s.detections {
            let days = match (&d.first_day, &d.last_day) {
                (Some(f), Some(l)) if f == l => format!(", {f}"),
                (Some(f), Some(l)) => format!(", {f} to {l}"),
                _ => String::new(),
            };
            out.push(format!(
                "    {:<8} {}: {} records in {} files{days} ({})",
                d.severity.as_str(),
                d.detection,
                thousands(d.records),
                thousands(d.objects),
                d.title
            ));
        }
    }
    if s.objects.digests > 0 {
        out.push(format!("  digests       {}", s.digests.verdicts()));
        for p in &s.digests.problems {
            out.push(format!(
                "    {:<8} {}: {} (e.g. {})",
                p.severity.as_str(),
                p.label,
                thousands(p.count),
                p.examples.first().map(String::as_str).unwrap_or("-")
            ));
        }
    }
    if s.objects.errors > 0 {
        out.push(format!(
            "  unreadable    {} objects",
            thousands(s.objects.errors)
        ));
        for e in s.errors.iter().take(5) {
            out.push(format!("    {}: {}", e.object, e.error));
        }
    }
    if s.batches.failed > 0 {
        out.push(format!(
            "  failed        {} batches ({} objects without a result)",
            thousands(s.batches.failed),
            thousands(s.objects.in_failed_batches)
        ));
        for b in s.failed_batches.iter().take(5) {
            out.push(format!(
                "    {}: {} (first object {})",
                b.error,
                b.cause,
                b.first.as_deref().unwrap_or("-")
            ));
        }
    }
    if let Some(e) = &s.map_error {
        out.push(format!("  stopped by    {}: {}", e.error, e.cause));
    }
    if let Some(r) = &s.results {
        out.push(format!("  results       {r}"));
    }
    if let Some(a) = &s.alert {
        out.push(format!("  alert         {} ({})", a.subject, a.delivery));
    }
    out
}

/// The worst severity found: detections and integrity problems.
fn worst(s: &Summary) -> Option<Severity> {
    s.detections
        .iter()
        .map(|d| d.severity)
        .chain(s.digests.problems.iter().map(|p| p.severity))
        .max()
}

pub async fn backfill(args: BackfillArgs, format: Format) -> Result<ExitCode> {
    let source = S3Uri::parse_prefix(&args.source).map_err(|e| anyhow!("{}: {e}", args.source))?;
    let manifest = match &args.manifest {
        Some(m) => Some(S3Uri::parse_object(m).map_err(|e| anyhow!("--manifest {m}: {e}"))?),
        None => None,
    };
    let input = execution_input(
        &source,
        manifest.as_ref(),
        args.concurrency,
        args.batch_size,
    );
    let sdk = trailwarden::aws::sdk_config().await;
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let state_machine = match &args.state_machine_arn {
        Some(a) => a.clone(),
        None => find_state_machine(&sfn, &args.stack).await?,
    };
    let name = args.name.clone().unwrap_or_else(default_name);
    let started = sfn
        .start_execution()
        .state_machine_arn(&state_machine)
        .name(&name)
        .input(input.to_string())
        .send()
        .await
        .map_err(sfn_failed(format!("states:StartExecution {state_machine}")))?;
    let execution = started.execution_arn().to_string();
    eprintln!("started {execution}");
    if !args.wait {
        match format {
            Format::Json => outln!("{}", json!({"execution": execution, "input": input, "status": "RUNNING"})),
            Format::Text => outln!(
                "backfill started: {execution}\nfollow it in the Step Functions console, or run again with --wait"
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }

    let began = Instant::now();
    let mut last = String::new();
    let (status, described) = loop {
        let d = sfn
            .describe_execution()
            .execution_arn(&execution)
            .send()
            .await
            .map_err(sfn_failed("states:DescribeExecution"))?;
        let progress = map_runs(&sfn, &execution).await.unwrap_or_default();
        let line = match progress.first() {
            Some(p) => p.line(began.elapsed()),
            None => format!(
                "{}: listing the archive, {}s",
                d.status().as_str().to_lowercase(),
                began.elapsed().as_secs()
            ),
        };
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        if *d.status() != ExecutionStatus::Running && *d.status() != ExecutionStatus::PendingRedrive
        {
            break (d.status().clone(), (d, progress));
        }
        tokio::time::sleep(Duration::from_secs(args.poll_seconds)).await;
    };
    let (d, progress) = described;
    let summary: Option<Summary> =
        match d.output() {
            Some(o) => Some(serde_json::from_str(o).with_context(|| {
                format!("the execution's output is not a backfill summary: {o}")
            })?),
            None => None,
        };
    match format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "execution": execution,
                "status": status.as_str(),
                "error": d.error(),
                "cause": d.cause(),
                "map_runs": progress,
                "summary": summary,
            }))?
        ),
        Format::Text => {
            outln!(
                "execution {} {} after {}s",
                execution,
                status.as_str(),
                began.elapsed().as_secs()
            );
            if let (Some(e), Some(c)) = (d.error(), d.cause()) {
                outln!("  error         {e}: {c}");
            }
            if let Some(s) = &summary {
                for line in summary_text(s) {
                    outln!("{line}");
                }
            }
        }
    }
    let Some(s) = summary.filter(|_| status == ExecutionStatus::Succeeded) else {
        return Ok(ExitCode::from(1));
    };
    if !s.complete {
        return Ok(ExitCode::from(1));
    }
    Ok(match (args.fail_on, worst(&s)) {
        (Some(limit), Some(w)) if w >= limit => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_names_the_prefix_and_only_the_overrides_given() {
        let src = S3Uri::parse_prefix("s3://org-trail-archive/AWSLogs/o-7k2m9x4q1z").unwrap();
        let v = execution_input(&src, None, None, None);
        assert_eq!(
            v,
            json!({"bucket": "org-trail-archive", "prefix": "AWSLogs/o-7k2m9x4q1z/"})
        );
        let inv = S3Uri::parse_object(
            "s3://org-inventory/org-trail-archive/daily/2024-09-01T01-00Z/manifest.json",
        )
        .unwrap();
        let v = execution_input(&src, Some(&inv), Some(40), Some(100));
        assert_eq!(
            v["manifest"]["key"],
            "org-trail-archive/daily/2024-09-01T01-00Z/manifest.json"
        );
        assert_eq!(
            (v["concurrency"].as_u64(), v["batch_size"].as_u64()),
            (Some(40), Some(100))
        );
    }

    #[test]
    fn progress_reads_as_objects_and_batches() {
        let p = Progress {
            status: "RUNNING".into(),
            objects_total: 1_000_000,
            objects_succeeded: 250_000,
            objects_failed: 50,
            batches_total: 20_000,
            batches_succeeded: 4_999,
            batches_failed: 1,
            batches_running: 10,
            ..Default::default()
        };
        assert_eq!(
            p.line(Duration::from_secs(754)),
            "running: 250050/1000000 objects done (50 failed), 10 batches running, 5000 of 20000 batches done, 754s"
        );
    }
}

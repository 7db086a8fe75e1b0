//! `trailwarden`: the functions' own logic on a laptop.
#![forbid(unsafe_code)]

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use trailwarden::config::ProcessEnv;
use trailwarden::Payload;
use trailwarden_cli::functions::{Function, Ran};
use trailwarden_cli::template::Template;

/// `println!` that ends the program quietly when stdout is closed (`trailwarden ... | head`),
/// instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(e);
        }
    }};
}

/// `print!` with the same care.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(e);
        }
    }};
}

mod alerts;
mod backfill;
mod catalog_report;
mod commands;
mod doctor;
mod rules_command;
mod s3scan;
mod sigma_command;
mod status;

/// Stdout went away: a reader that stopped reading is a normal end; anything else is an error.
pub(crate) fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: writing output: {e}");
    std::process::exit(1);
}

const AFTER_HELP: &str = "\
Exit codes: 0 success; 1 an input could not be handled or a response step failed;
2 bad usage or configuration; 3 a --fail-on threshold was met (scan) or a file failed
validation (validate).

Function settings are read from the same environment variables Lambda gets (see README,
Configuration), e.g. APPROVED_CREATOR_ARNS=arn:aws:iam::*:role/terraform trailwarden replay events/";

#[derive(Parser)]
#[command(name = "trailwarden", version, about = "Automated incident response on CloudTrail: the Lambda functions' logic, on your laptop.", after_help = AFTER_HELP)]
struct Cli {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Route sample events through template.yaml's EventBridge rules to the function(s) that
    /// would receive them, and show what each would do and the alert it would send.
    ///
    /// Dry-run unless --live. Example: trailwarden replay events/
    Replay {
        /// Event files or directories (searched recursively for *.json).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Execute for real against the AWS endpoint of the standard configuration
        /// (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL for a local emulator).
        #[arg(long)]
        live: bool,
        /// The SAM template whose rules route the events (default: ./template.yaml or the
        /// nearest one above the current directory).
        #[arg(long)]
        template: Option<PathBuf>,
    },
    /// Run one function on one event, without routing.
    ///
    /// Example: trailwarden invoke unapproved-user events/iam-create-user-by-iam-user.json
    Invoke {
        /// unapproved-user, root-activity, security-group, log-delivery or log-integrity.
        function: String,
        /// The event file (as EventBridge or S3 delivers it).
        event: PathBuf,
        #[arg(long)]
        live: bool,
    },
    /// Run the detection catalog over local CloudTrail log files (.json.gz or .json).
    ///
    /// Example: trailwarden scan ~/trail-archive/AWSLogs --min-severity medium --fail-on high
    Scan(commands::ScanArgs),
    /// Validate a local copy of a trail bucket offline: digest signatures, log file hashes
    /// and the digest chain, like `aws cloudtrail validate-logs`.
    ///
    /// Example: trailwarden validate ./bucket-copy --public-keys keys.json
    Validate(commands::ValidateArgs),
    /// List the built-in detections (and your own with --detections).
    Detections(commands::DetectionsArgs),
    /// Where alerts go (ALERT_DESTINATIONS): `alerts test` sends one sample alert to every
    /// configured destination and prints what each answered.
    ///
    /// Example: ALERT_DESTINATIONS='[{"type":"securityhub"}]' ALERT_TOPIC_ARN=... trailwarden alerts test
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
    /// Print the EventBridge rules that route the catalog's events to the real-time catalog
    /// function (as template.yaml holds them), or write them into a template.
    ///
    /// Example: trailwarden rules --detections mine.json --only-custom --stack > rules.json
    Rules(rules_command::RulesArgs),
    /// Convert Sigma rules for AWS CloudTrail (logsource product aws, service cloudtrail)
    /// into a detection file for --detections; rules that cannot be expressed as an event
    /// pattern are named on standard error with the reason.
    ///
    /// Exit code 0 when at least one rule was converted, 2 when none could be or the input
    /// is unusable. Example: trailwarden import-sigma sigma/rules/cloud/aws -o sigma.json
    ImportSigma(sigma_command::ImportSigmaArgs),
    /// Check a deployment from your credentials: the stack's functions, the trail (logging,
    /// multi-region, validation), the bucket's EventBridge notifications, the KMS key, the
    /// rules, the alert subscriptions and, with --accounts and --member-role, the member
    /// accounts; each problem with the command that fixes it.
    ///
    /// Exit code 0 when nothing is a PROBLEM, 1 otherwise. Example: trailwarden doctor
    /// trailwarden --accounts 111122223333 --member-role trailwarden-responder --regions us-east-1,eu-west-1
    Doctor(doctor::DoctorArgs),
    /// Backfill a whole trail archive on the stack's Step Functions Distributed Map: every log
    /// file under the prefix scanned as log-delivery scans it, every digest checked as
    /// log-integrity checks it, per-object results in S3, one summary and one alert.
    ///
    /// Exit code 0 when complete, 1 when it failed or is incomplete, 3 when --fail-on is met.
    /// Example: trailwarden backfill s3://org-trail-archive/AWSLogs/o-7k2m9x4q1z/ --wait
    Backfill(backfill::BackfillArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Replay {
                paths,
                live,
                template,
            } => Box::pin(replay(&paths, live, template, cli.format)).await,
            Command::Invoke {
                function,
                event,
                live,
            } => Box::pin(invoke(&function, &event, live, cli.format)).await,
            Command::Scan(args) => commands::scan(args, cli.format).await,
            Command::Validate(args) => commands::validate(args, cli.format).await,
            Command::Detections(args) => commands::detections(args, cli.format),
            Command::Alerts(cmd) => Box::pin(alerts::alerts(cmd, cli.format)).await,
            Command::Rules(args) => rules_command::rules(args, cli.format),
            Command::ImportSigma(args) => sigma_command::import_sigma(args, cli.format),
            Command::Doctor(args) => Box::pin(doctor::doctor(args, cli.format)).await,
            Command::Backfill(args) => Box::pin(backfill::backfill(args, cli.format)).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn find_template(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let mut dir = std::env::current_dir()?;
    loop {
        let p = dir.join("template.yaml");
        if p.is_file() {
            return Ok(p);
        }
        if !dir.pop() {
            bail!("no template.yaml in this directory or above it; run from the trailwarden checkout or pass --template PATH");
        }
    }
}

/// Every *.json file under the given paths, sorted.
pub fn collect_files(paths: &[PathBuf], suffixes: &[&str]) -> Result<Vec<PathBuf>> {
    fn walk(p: &Path, suffixes: &[&str], out: &mut Vec<PathBuf>) -> Result<()> {
        if p.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(p)
                .with_context(|| format!("reading directory {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for e in entries {
                walk(&e, suffixes, out)?;
            }
        } else if suffixes.iter().any(|s| p.to_string_lossy().ends_with(s)) {
            out.push(p.to_path_buf());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if !p.exists() {
            bail!("{} does not exist", p.display());
        }
        if p.is_file() {
            out.push(p.clone());
        } else {
            walk(p, suffixes, &mut out)?;
        }
    }
    Ok(out)
}

/// The EventBridge-shaped events a payload stands for: itself, or for a classic S3
/// notification one `Object Created` event per object (as if S3 sent them to EventBridge).
fn routable_events(raw: &Value, payload: &Payload) -> Vec<Value> {
    match payload {
        Payload::S3Objects(objs) if raw.get("detail-type").is_none() => objs
            .iter()
            .map(|o| {
                json!({"source": "aws.s3", "detail-type": "Object Created",
                       "detail": {"bucket": {"name": o.bucket}, "object": {"key": o.key}}})
            })
            .collect(),
        _ => vec![raw.clone()],
    }
}

async fn replay(
    paths: &[PathBuf],
    live: bool,
    template: Option<PathBuf>,
    format: Format,
) -> Result<ExitCode> {
    let template_path = find_template(template)?;
    let template = Template::load(&template_path)?;
    let files = collect_files(paths, &[".json"])?;
    if files.is_empty() {
        bail!("no .json event files under the given paths");
    }
    let sdk = if live {
        Some(trailwarden::aws::sdk_config().await)
    } else {
        None
    };
    let mut failed = false;
    let mut results = Vec::new();
    for file in &files {
        let named = paths.iter().any(|p| p == file);
        let entry = match load_event(file) {
            Ok((raw, payload)) => {
                let mut targets: Vec<Function> = Vec::new();
                for ev in routable_events(&raw, &payload) {
                    for spec in template.route(&ev) {
                        let f = Function::by_name(&spec.name)?;
                        if !targets.contains(&f) {
                            targets.push(f);
                        }
                    }
                }
                let mut ran = Vec::new();
                for f in &targets {
                    let r = match execute(*f, sdk.as_ref(), &payload).await {
                        Ok(r) => r,
                        Err(e) => error_ran(*f, &payload, &e),
                    };
                    failed |= r.failed();
                    ran.push(r);
                }
                if format == Format::Text {
                    print_routed(file, &targets, &ran);
                }
                let outcomes: Vec<Value> = ran.iter().map(Ran::to_json).collect();
                json!({"file": file, "routed_to": targets.iter().map(|f| f.name()).collect::<Vec<_>>(), "outcomes": outcomes})
            }
            // Found while walking a directory (key documents, metadata sidecars): not an
            // event, say so and go on. A file named on the command line must be an event.
            Err(e) if !named => json!({"file": file, "skipped": format!("{e:#}")}),
            Err(e) => {
                failed = true;
                json!({"file": file, "error": format!("{e:#}")})
            }
        };
        if format == Format::Text {
            print_replay_entry(&entry);
        }
        results.push(entry);
    }
    let skipped = results
        .iter()
        .filter(|r| r.get("skipped").is_some())
        .count();
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&results)?),
        Format::Text if skipped > 0 => outln!(
            "({skipped} file(s) found in the directories are not events and were skipped; --format json says why)"
        ),
        Format::Text => {}
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A function that could not even start (bad configuration): shown like an outcome.
fn error_ran(f: Function, payload: &Payload, e: &anyhow::Error) -> Ran {
    Ran::failed_to_start(f.name(), payload.describe(), format!("{e:#}"))
}

fn load_event(file: &Path) -> Result<(Value, Payload)> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let raw: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not valid JSON", file.display()))?;
    let payload = Payload::from_value(raw.clone())
        .with_context(|| format!("{} is not an event trailwarden handles", file.display()))?;
    Ok((raw, payload))
}

async fn execute(
    f: Function,
    sdk: Option<&aws_config::SdkConfig>,
    payload: &Payload,
) -> Result<Ran> {
    match sdk {
        None => f.plan(&ProcessEnv, payload),
        Some(sdk) => Box::pin(f.run(sdk, &ProcessEnv, payload)).await,
    }
}

async fn invoke(function: &str, event: &Path, live: bool, format: Format) -> Result<ExitCode> {
    let f = Function::by_name(function)?;
    let payload = match load_event(event) {
        Ok((_, payload)) => payload,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    let sdk = if live {
        Some(trailwarden::aws::sdk_config().await)
    } else {
        None
    };
    let ran = execute(f, sdk.as_ref(), &payload).await?;
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&ran.to_json())?),
        Format::Text => print_ran(&ran),
    }
    Ok(if ran.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_replay_entry(entry: &Value) {
    if entry.get("skipped").is_some() || entry.get("routed_to").is_some() {
        return;
    }
    outln!("== {}", entry["file"].as_str().unwrap_or_default());
    if let Some(e) = entry["error"].as_str() {
        outln!("   error: {e}\n");
    }
}

fn print_routed(file: &Path, targets: &[Function], ran: &[Ran]) {
    outln!("== {}", file.display());
    if targets.is_empty() {
        outln!("   no rule in the template matches this event: no function would receive it\n");
        return;
    }
    let names: Vec<&str> = targets.iter().map(|f| f.name()).collect();
    outln!("   routed to: {}", names.join(", "));
    for r in ran {
        print_ran(r);
    }
}

fn print_ran(r: &Ran) {
    let o = &r.outcome;
    outln!(
        "-- {} ({}){}",
        o.function,
        o.input,
        if o.dry_run { " [dry-run]" } else { "" }
    );
    if let Some(e) = &r.error {
        outln!("   error: {e}");
    }
    if let Some(reason) = &o.ignored {
        outln!("   ignored: {reason}");
    }
    for a in &o.alerts {
        outln!("   alert: {}", a.subject());
        for line in a.text().lines() {
            outln!("   | {line}");
        }
    }
    let stats: Vec<String> = o.stats.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !stats.is_empty() {
        outln!("   stats: {}", stats.join(" "));
    }
    outln!();
}

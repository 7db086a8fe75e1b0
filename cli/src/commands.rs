//! `scan`, `validate` and `detections`.

use crate::status::StatusLine;
use crate::{collect_files, Format};
use anyhow::{Context, Result};
use clap::Args;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use trailwarden::detect::{BuiltinOptions, Catalog, Finding, Scanner};
use trailwarden::Severity;

#[derive(Args)]
pub struct ScanArgs {
    /// Log files (.json.gz, .json) or directories, searched recursively, or
    /// s3://BUCKET/PREFIX/ locations (or s3://BUCKET/KEY.json.gz, one object), read straight
    /// from S3 (standard AWS credentials).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Show only findings at or above this severity.
    #[arg(long, default_value = "info", value_parser = parse_severity)]
    min_severity: Severity,
    /// Exit with code 3 when any finding is at or above this severity (for CI).
    #[arg(long, value_parser = parse_severity)]
    fail_on: Option<Severity>,
    /// A JSON file of your own detections (added to, or overriding by id, the built-ins).
    #[arg(long)]
    detections: Option<PathBuf>,
    /// Count Identity Center and SAML-federated sign-ins in CIS 4.2 (console sign-in
    /// without MFA). They are left out by default: their MFA happens at the identity provider.
    #[arg(long)]
    include_federated_signin: bool,
    /// Turn off a built-in detection family (repeatable; `detections` lists the families).
    #[arg(long = "disable-family", value_name = "FAMILY")]
    disabled_families: Vec<String>,
    /// An IAM role of an infrastructure-as-code pipeline (ARN, `*` matches any characters;
    /// repeatable): the defence-evasion detections marked `deployer_exempt` leave out its
    /// sessions, as `DEPLOYER_ROLE_ARNS` does for the deployed functions.
    #[arg(long = "deployer-role", value_name = "ROLE_ARN")]
    deployer_roles: Vec<String>,
    /// An approved creator of IAM users (principal ARN, `*` matches any characters;
    /// repeatable), as `APPROVED_CREATOR_ARNS` gives them to the deployed functions: a role
    /// created to fit a role pattern, or such a role's trust policy changed, is a finding
    /// (`approved-creator-role-created-or-trust-changed`).
    #[arg(long = "approved-creator", value_name = "ARN")]
    approved_creators: Vec<String>,
    /// The security-group function's exemption tag key, as `EXEMPT_TAG` gives it: the
    /// detection of that tag being set or removed watches it (default `trailwarden:exempt`).
    #[arg(long, value_name = "KEY")]
    exempt_tag: Option<String>,
    /// For s3:// locations: how many objects are fetched at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// For s3:// locations: MiB of log files held in memory ahead of the scan, shared equally
    /// by the files fetched at once; a larger file is streamed when its turn comes (0 streams
    /// every file).
    #[arg(long, default_value_t = crate::s3scan::DEFAULT_READ_AHEAD_MIB, value_parser = clap::value_parser!(u32).range(0..=65536))]
    read_ahead_mib: u32,
    /// For s3:// locations: pass a log file that cannot be read (access denied, a KMS key you
    /// may not use), naming it, instead of stopping there (exit code 1 either way).
    #[arg(long)]
    skip_unreadable: bool,
    /// For s3:// locations: a file recording the last key scanned, so that an interrupted
    /// scan can be run again and continue after it.
    #[arg(long)]
    resume_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct ValidateArgs {
    /// A local copy of a trail bucket (`aws s3 sync s3://BUCKET PATH`): the same key layout;
    /// or s3://BUCKET/PREFIX/ to validate in place, reading from S3 (standard AWS
    /// credentials; needs s3:ListBucket and s3:GetObject).
    path: PathBuf,
    /// CloudTrail's public keys in ListPublicKeys' JSON shape
    /// (`aws cloudtrail list-public-keys --start-time ... > keys.json`).
    #[arg(long)]
    public_keys: PathBuf,
    /// The bucket PATH is a copy of; digests stating another bucket are reported as moved.
    #[arg(long)]
    bucket: Option<String>,
    /// For s3:// locations: how many digests are checked at once (each reads the log files
    /// it lists one after another).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// For s3:// locations: a file recording the last digest checked, so that an interrupted
    /// validation can be run again and continue after it (the report covers what each run
    /// checked).
    #[arg(long)]
    resume_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct DetectionsArgs {
    /// A JSON file of your own detections to list with the built-ins.
    #[arg(long)]
    detections: Option<PathBuf>,
    /// Leave out a built-in detection family (repeatable).
    #[arg(long = "disable-family", value_name = "FAMILY")]
    disabled_families: Vec<String>,
    /// Print a Markdown table (as in the README).
    #[arg(long, conflicts_with_all = ["coverage", "families"])]
    markdown: bool,
    /// Show MITRE ATT&CK coverage: per tactic, in matrix order, the number of detections and
    /// the techniques they cover.
    #[arg(long, conflicts_with = "families")]
    coverage: bool,
    /// List the detection families with their counts and descriptions.
    #[arg(long)]
    families: bool,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

fn catalog(
    file: Option<&PathBuf>,
    include_federated: bool,
    disabled_families: &[String],
    deployer_roles: &[String],
    approved_creators: &[String],
    exempt_tag: Option<&str>,
) -> Result<Catalog> {
    let c = Catalog::builtin(BuiltinOptions {
        exclude_federated_signin: !include_federated,
    })
    .with_deployer_roles(deployer_roles, "--deployer-role")?
    .with_approved_creators(approved_creators, "--approved-creator")?
    .with_exempt_tag(
        exempt_tag.unwrap_or(trailwarden::detect::catalog::DEFAULT_EXEMPT_TAG),
        "--exempt-tag",
    )?
    .without_families(disabled_families, "--disable-family")?;
    match file {
        Some(p) => c
            .with_file(p)
            .with_context(|| format!("loading detections from {}", p.display())),
        None => Ok(c),
    }
}

pub async fn scan(args: ScanArgs, format: Format) -> Result<ExitCode> {
    let catalog = catalog(
        args.detections.as_ref(),
        args.include_federated_signin,
        &args.disabled_families,
        &args.deployer_roles,
        &args.approved_creators,
        args.exempt_tag.as_deref(),
    )?;
    let (remote, local): (Vec<PathBuf>, Vec<PathBuf>) = args
        .paths
        .iter()
        .cloned()
        .partition(|p| p.to_str().is_some_and(|s| s.starts_with("s3://")));
    let remote = remote
        .iter()
        .map(|p| {
            let s = p.to_str().unwrap_or_default();
            // A log file's name (`.json.gz`, `.json`) names that object; anything else is a
            // folder.
            if s.ends_with(".json.gz") || s.ends_with(".json") {
                trailwarden::s3uri::S3Uri::parse_object(s)
            } else {
                trailwarden::s3uri::S3Uri::parse_prefix(s)
            }
            .map_err(|e| anyhow::anyhow!("{s}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    if args.resume_file.is_some() && remote.len() != 1 {
        anyhow::bail!("--resume-file goes with exactly one s3:// location");
    }
    let files = if local.is_empty() {
        Vec::new()
    } else {
        collect_files(&local, &[".json.gz", ".json"])?
    };
    if files.is_empty() && remote.is_empty() {
        anyhow::bail!("no .json.gz or .json files under the given paths");
    }
    let progress = (format == Format::Text && std::io::stderr().is_terminal())
        .then(|| Arc::new(Progress::new(&files)));
    let mut scanner = Scanner::new(&catalog);
    let mut unreadable = 0usize;
    for (i, f) in files.iter().enumerate() {
        let result = match (&progress, std::fs::File::open(f)) {
            (Some(p), Ok(file)) => {
                p.start_file(i, f);
                let reader = ProgressReader {
                    inner: file,
                    progress: Arc::clone(p),
                };
                scanner.scan_reader(&f.display().to_string(), reader)
            }
            // Without a terminal, or when the file cannot be opened (scan_path reports it).
            _ => scanner.scan_path(f),
        };
        if let Err(e) = result {
            unreadable += 1;
            if format == Format::Text {
                if let Some(p) = &progress {
                    p.clear();
                }
                eprintln!("warning: {e}");
            }
        }
    }
    if let Some(p) = &progress {
        p.clear();
    }
    let mut sources = Vec::new();
    if !remote.is_empty() {
        let sdk = trailwarden::aws::sdk_config().await;
        let s3 = trailwarden::aws::s3_client(&sdk);
        for uri in &remote {
            let done = crate::s3scan::scan(
                &mut scanner,
                &s3,
                uri,
                crate::s3scan::Reading {
                    concurrency: args.concurrency.into(),
                    read_ahead_bytes: u64::from(args.read_ahead_mib) << 20,
                    skip_unreadable: args.skip_unreadable,
                },
                args.resume_file.as_ref(),
                format == Format::Text,
            )
            .await?;
            unreadable += done.unreadable as usize;
            let stopped = done.stopped.is_some();
            if format == Format::Text {
                eprintln!("{done}");
            }
            sources.push(done);
            if stopped {
                break;
            }
        }
    }
    let mut report = scanner.finish();
    report.findings.retain(|f| f.severity >= args.min_severity);
    match format {
        Format::Json => {
            let mut v = serde_json::to_value(&report)?;
            if !sources.is_empty() {
                // What each s3:// location gave: files read, passed, where a scan stopped.
                v["s3"] = serde_json::to_value(&sources)?;
            }
            outln!("{}", serde_json::to_string_pretty(&v)?)
        }
        Format::Text => print_scan(&report.findings, &report),
    }
    let tripped = args
        .fail_on
        .is_some_and(|t| report.findings.iter().any(|f| f.severity >= t));
    Ok(if tripped {
        ExitCode::from(3)
    } else if unreadable > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A progress line on standard error for `scan` on a terminal: bytes read of the total (as
/// stored, so compressed for `.json.gz`), file number and name, redrawn at most 5 times a
/// second from whichever thread reads the file.
struct Progress {
    total: u64,
    files: usize,
    done: AtomicU64,
    file: AtomicUsize,
    name: Mutex<String>,
    line: Mutex<StatusLine>,
}

impl Progress {
    fn new(files: &[PathBuf]) -> Self {
        Progress {
            total: files
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum(),
            files: files.len(),
            done: AtomicU64::new(0),
            file: AtomicUsize::new(0),
            name: Mutex::new(String::new()),
            line: Mutex::new(StatusLine::new(true)),
        }
    }

    fn start_file(&self, index: usize, path: &Path) {
        self.file.store(index, Ordering::Relaxed);
        *self.name.lock().unwrap_or_else(|p| p.into_inner()) = path.display().to_string();
        self.draw(true);
    }

    fn advance(&self, n: usize) {
        self.done.fetch_add(n as u64, Ordering::Relaxed);
        self.draw(false);
    }

    fn draw(&self, now: bool) {
        let mut line = self.line.lock().unwrap_or_else(|p| p.into_inner());
        line.draw(now, || {
            let done = self.done.load(Ordering::Relaxed).min(self.total);
            let pct = (done * 100).checked_div(self.total).unwrap_or(100);
            let name = self.name.lock().unwrap_or_else(|p| p.into_inner()).clone();
            // Keep the end of long paths: the file name is the useful part.
            let shown: String = {
                let chars: Vec<char> = name.chars().collect();
                let skip = chars.len().saturating_sub(50);
                chars[skip..].iter().collect()
            };
            format!(
                "[{pct:>3}%] {:.1}/{:.1} MB  file {}/{}  {shown}",
                done as f64 / 1e6,
                self.total as f64 / 1e6,
                self.file.load(Ordering::Relaxed) + 1,
                self.files,
            )
        });
    }

    /// Erases the progress line (before a warning, and at the end).
    fn clear(&self) {
        self.line.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

struct ProgressReader {
    inner: std::fs::File,
    progress: Arc<Progress>,
}

impl Read for ProgressReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n);
        Ok(n)
    }
}

fn print_scan(findings: &[Finding], report: &trailwarden::detect::ScanReport) {
    outln!(
        "Scanned {} file(s), {} records ({:.1} MB) with {} detections in {} ms; {} record(s) could not be evaluated.",
        report.files.len(),
        report.records,
        report.bytes as f64 / 1e6,
        report.detections,
        report.duration_ms,
        report.unparsed_records
    );
    for p in &report.unparsed_samples {
        outln!("  unparsed: {} record {}: {}", p.file, p.record, p.message);
    }
    if findings.is_empty() {
        outln!("No findings.");
        return;
    }
    outln!();
    outln!(
        "{:<9} {:>6}  {:<44} {:<22} TOP PRINCIPAL",
        "SEVERITY",
        "COUNT",
        "DETECTION",
        "FIRST SEEN"
    );
    for f in findings {
        let top = f
            .principals
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        outln!(
            "{:<9} {:>6}  {:<44} {:<22} {}",
            f.severity.as_str().to_ascii_uppercase(),
            f.count,
            f.detection,
            f.first_time.as_deref().unwrap_or("-"),
            top
        );
    }
}

pub async fn validate(args: ValidateArgs, format: Format) -> Result<ExitCode> {
    let keys_bytes = std::fs::read(&args.public_keys)
        .with_context(|| format!("reading {}", args.public_keys.display()))?;
    let keys = log_integrity::keys::KeySet::from_json(&keys_bytes)
        .with_context(|| format!("public keys in {}", args.public_keys.display()))?;
    let options = log_integrity::LocalOptions {
        bucket: args.bucket.clone(),
        ..Default::default()
    };
    if let Some(location) = args.path.to_str().filter(|p| p.starts_with("s3://")) {
        return validate_in_s3(&args, location, &keys, &options, format).await;
    }
    if !args.path.is_dir() {
        anyhow::bail!(
            "{} is not a directory: give the local copy of the trail bucket or an s3:// location",
            args.path.display()
        );
    }
    if args.resume_file.is_some() {
        anyhow::bail!("--resume-file is for an s3:// location (a local copy is validated whole)");
    }
    let report = log_integrity::validate_local(&args.path, &keys, &options).await?;
    match format {
        Format::Json => {
            let v = serde_json::json!({"summary": report.summary(), "valid": report.is_valid(), "report": report});
            outln!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Text => out!("{report}"),
    }
    Ok(validity(report.is_valid()))
}

/// The exit code of a validation: 0 when every digest and log file is valid, else 3.
fn validity(valid: bool) -> ExitCode {
    if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

/// `validate s3://…`: each line is printed as the walk finds it (nothing of the prefix is
/// held until the end: years of logs hold millions of keys); JSON as one document whose
/// `report.lines` are written as they come, `summary` and `valid` after them.
async fn validate_in_s3(
    args: &ValidateArgs,
    location: &str,
    keys: &log_integrity::keys::KeySet,
    options: &log_integrity::LocalOptions,
    format: Format,
) -> Result<ExitCode> {
    use log_integrity::offline::Line;
    use log_integrity::Event;
    let uri = trailwarden::s3uri::S3Uri::parse_prefix(location)
        .map_err(|e| anyhow::anyhow!("{location}: {e}"))?;
    let sdk = trailwarden::aws::sdk_config().await;
    let s3 = trailwarden::aws::s3_client(&sdk);
    let label = uri.to_string();
    let position = match &args.resume_file {
        Some(p) => crate::s3scan::read_position(p, "validate", &label)?,
        None => None,
    };
    let before = position.as_ref().map_or(0, |p| p.files);
    if let Some(p) = &position {
        eprintln!(
            "{label}: resuming after {} ({} digest(s) checked before)",
            p.last_key, p.files
        );
    }
    let json = format == Format::Json;
    if json {
        out!(
            "{{\"report\": {{\"root\": {},\n\"lines\": [",
            serde_json::to_string(&label)?
        );
    } else {
        outln!("Validating CloudTrail files under {label}");
    }
    let mut line = StatusLine::new(!json);
    let mut write_error = None;
    let mut summary = log_integrity::Summary::default();
    let mut valid = true;
    let mut lines = 0u64;
    let mut on_event = |event: Event<'_>| {
        let shown = match event {
            Event::Line(l) => l,
            Event::Unlisted(key) => Line::unlisted(key),
            Event::Checked(check, done) => {
                valid &= check.is_valid();
                let key = &check.location.key;
                if let (Some(path), None) = (&args.resume_file, &write_error) {
                    let p = crate::s3scan::Position {
                        command: "validate".into(),
                        uri: label.clone(),
                        last_key: key.clone(),
                        files: before + done as u64,
                    };
                    write_error = crate::s3scan::write_position(path, &p).err();
                }
                line.draw(false, || {
                    format!(
                        "digest {} checked  {}",
                        before + done as u64,
                        key.rsplit('/').next().unwrap_or(key)
                    )
                });
                return;
            }
        };
        summary.add(&shown);
        line.clear();
        if json {
            let sep = if lines == 0 { "\n" } else { ",\n" };
            out!("{sep}{}", serde_json::to_string(&shown).unwrap_or_default());
        } else {
            outln!("{shown}");
        }
        lines += 1;
    };
    let walk = log_integrity::Walk {
        concurrency: args.concurrency.into(),
        start_after: position.map(|p| p.last_key),
        on_event: &mut on_event,
    };
    let outcome = log_integrity::validate_s3(&s3, &uri, keys, options, walk).await;
    line.clear();
    let error = outcome.as_ref().err().map(ToString::to_string);
    if json {
        let error = match &error {
            Some(e) => format!(",\n\"error\": {}", serde_json::to_string(e)?),
            None => String::new(),
        };
        outln!(
            "\n]}},\n\"summary\": {},\n\"valid\": {}{error}}}",
            serde_json::to_string(&summary)?,
            valid && error.is_empty()
        );
    } else {
        if matches!(outcome, Ok(0)) {
            outln!("No digest files found (no CloudTrail-Digest/ folder, or none after the resume point).");
        }
        outln!("\n{summary}");
    }
    if let Some(e) = write_error {
        return Err(e);
    }
    outcome?;
    Ok(validity(valid))
}

pub fn detections(args: DetectionsArgs, format: Format) -> Result<ExitCode> {
    let catalog = catalog(
        args.detections.as_ref(),
        false,
        &args.disabled_families,
        &[],
        &[],
        None,
    )?;
    if args.coverage {
        crate::catalog_report::coverage(&catalog, format)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.families {
        crate::catalog_report::families(&catalog, format)?;
        return Ok(ExitCode::SUCCESS);
    }
    match format {
        _ if args.markdown => crate::catalog_report::markdown(&catalog),
        Format::Json => outln!("{}", serde_json::to_string_pretty(catalog.detections())?),
        Format::Text => {
            for d in catalog.detections() {
                outln!(
                    "{:<9} {:<44} {}",
                    d.severity.as_str().to_ascii_uppercase(),
                    d.id,
                    d.title
                );
            }
            outln!("{} detections", catalog.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `trailwarden alerts`: where alerts go. `alerts test` sends one sample alert to every
//! configured destination (routing set aside) and prints what each answered.
//!
//! The destinations are read exactly as the functions read them: `ALERT_DESTINATIONS`,
//! `ALERT_ROUTING`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS` (README, "Where alerts
//! go"); AWS calls use the standard configuration (`AWS_PROFILE`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` for an emulator). Secrets are read from Secrets Manager, never printed.

use crate::Format;
use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use std::process::ExitCode;
use trailwarden::config::{Common, Env, ProcessEnv};
use trailwarden::respond::RouteStatus;
use trailwarden::Severity;
use trailwarden_destinations::{route, sample, Router, Settings};

#[derive(Subcommand)]
pub enum AlertsCommand {
    /// Send one sample alert to every configured destination and print what each answered.
    ///
    /// Exit code 0 when every destination took it, 1 when any failed, 2 when no destination
    /// is configured or the settings are invalid. Example: trailwarden alerts test
    Test(TestArgs),
}

#[derive(Args)]
pub struct TestArgs {
    /// Severity of the sample alert (each destination's routing is shown for it, but every
    /// destination is sent the sample anyway).
    #[arg(long, default_value = "info", value_parser = parse_severity)]
    severity: Severity,
    /// Account the sample names (default: the alert topic's account).
    #[arg(long)]
    account: Option<String>,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

pub async fn alerts(cmd: AlertsCommand, format: Format) -> Result<ExitCode> {
    match cmd {
        AlertsCommand::Test(args) => Box::pin(test(args, &ProcessEnv, format)).await,
    }
}

/// The destinations in `env`: `ALERT_DESTINATIONS` (with `ALERT_ROUTING`), else the alert
/// topic alone.
fn settings(env: &dyn Env, common: &Common) -> Result<Settings> {
    if let Some(s) = Settings::from_env(env)? {
        return Ok(s);
    }
    if common.alert_topic_arn.is_none() {
        bail!(
            "no alert destination is configured: set ALERT_DESTINATIONS (README, \"Where alerts go\") or ALERT_TOPIC_ARN"
        );
    }
    Ok(Settings::parse(
        r#"[{"type": "sns", "min_severity": "info"}]"#,
    )?)
}

async fn test(args: TestArgs, env: &dyn Env, format: Format) -> Result<ExitCode> {
    let common = Common::from_env(env)?;
    let settings = settings(env, &common)?;
    let sdk = trailwarden::aws::sdk_config().await;
    let router = Router::new(&sdk, settings.clone(), &common)?;
    let account = args.account.clone().or_else(|| {
        common
            .alert_topic_arn
            .as_deref()
            .and_then(|t| t.split(':').nth(4))
            .map(str::to_string)
    });
    if let Some(a) = &account {
        if a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit()) {
            return Err(anyhow!("--account {a:?}: expected a 12-digit account id"));
        }
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let alert = sample::alert(
        args.severity,
        account,
        sdk.region().map(|r| r.to_string()),
        common.account_alias.clone(),
        &now,
    );
    let routed = Box::pin(router.deliver_to_all(&alert)).await;
    let described = router.describe();
    let mut failed = false;
    let mut rows = Vec::new();
    for ((d, record), cfg) in described
        .iter()
        .zip(&routed.destinations)
        .zip(&settings.destinations)
    {
        let would = match route::decide(&cfg.route, common.min_severity, &alert) {
            Ok(()) => "would be sent".to_string(),
            Err(why) => format!("would not be sent: {why}"),
        };
        failed |= record.failed();
        rows.push((d, record, would));
    }
    match format {
        Format::Json => {
            let destinations: Vec<serde_json::Value> = rows
                .iter()
                .map(|(d, r, would)| {
                    let mut v = json!({
                        "name": d.name,
                        "type": d.type_name,
                        "target": d.target,
                        "routing": d.routing,
                        "routing_for_this_severity": would,
                    });
                    if let (Some(m), Ok(serde_json::Value::Object(s))) =
                        (v.as_object_mut(), serde_json::to_value(&r.status))
                    {
                        m.extend(s);
                    }
                    v
                })
                .collect();
            outln!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "alert": alert.json(),
                    "destinations": destinations,
                }))?
            );
        }
        Format::Text => {
            outln!("Sample alert: {}", alert.subject());
            outln!(
                "Sent to {} destination(s), routing set aside:\n",
                rows.len()
            );
            for (d, r, would) in &rows {
                outln!("{} ({}): {}", d.name, d.type_name, d.target);
                outln!(
                    "  routing: {}; a real {} alert {would}",
                    d.routing,
                    alert.severity
                );
                match &r.status {
                    RouteStatus::Sent { answer, attempts } => outln!(
                        "  answered: {answer}{}",
                        if *attempts > 1 {
                            format!(" (after {attempts} attempts)")
                        } else {
                            String::new()
                        }
                    ),
                    RouteStatus::Failed { error, .. } => outln!("  FAILED: {error}"),
                    RouteStatus::Skipped { reason } => outln!("  not sent: {reason}"),
                }
                outln!();
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

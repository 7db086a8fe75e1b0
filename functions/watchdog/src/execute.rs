//! The AWS side of the watchdog, read-only: `DescribeTrails`, `GetTrailStatus`, and
//! `ListObjectsV2` on the trail bucket's digest folders.

use crate::config::MAX_DIGEST_AGE_MINUTES;
use crate::decide::{Case, Step};
use crate::{Config, Watchdog};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use trailwarden::alert::Status;
use trailwarden::aws::{CallError, RegionalClients};
use trailwarden::respond::{InitError, Job, Responder, StepResult};
use trailwarden::s3key::{classify, TrailObject, DIGEST_SEGMENT};

/// How far back digests are listed: a little more than [`MAX_DIGEST_AGE_MINUTES`].
pub const DIGEST_LOOKBACK_MINUTES: i64 = MAX_DIGEST_AGE_MINUTES + 60;
/// At most this many region folders are looked at per trail.
pub const MAX_REGIONS: usize = 40;

/// What `GetTrailStatus` answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrailStatus {
    pub is_logging: Option<bool>,
    pub latest_delivery: Option<DateTime<Utc>>,
    pub latest_delivery_error: Option<String>,
    pub latest_digest_delivery: Option<DateTime<Utc>>,
    pub latest_digest_delivery_error: Option<String>,
    pub latest_notification: Option<DateTime<Utc>>,
    pub latest_notification_error: Option<String>,
    pub start_logging: Option<DateTime<Utc>>,
    pub stop_logging: Option<DateTime<Utc>>,
}

/// The newest digest of the trail in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionDigests {
    pub region: String,
    /// When the newest digest was delivered (`LastModified`, else its name's time); `None`
    /// when none was delivered since `listed_since`.
    pub newest: Option<DateTime<Utc>>,
    pub newest_key: Option<String>,
    /// Digests were listed from this time on.
    pub listed_since: DateTime<Utc>,
}

/// The digests of a trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "digests", content = "detail", rename_all = "snake_case")]
pub enum DigestView {
    /// Per region folder.
    Regions(Vec<RegionDigests>),
    /// Not looked at, and why (validation off, no bucket named).
    NotChecked(String),
    /// Could not be listed.
    Failed(String),
}

/// What was seen of a trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailView {
    pub name: String,
    pub arn: Option<String>,
    pub home_region: Option<String>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub multi_region: bool,
    pub organization: bool,
    pub validation: bool,
    pub status: TrailStatus,
    pub digests: DigestView,
}

/// A trail's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TrailState {
    /// `DescribeTrails` does not list it, or `GetTrailStatus` answers `TrailNotFoundException`.
    Missing {
        detail: String,
    },
    /// A call failed (permissions, throttling).
    Failed {
        what: String,
        detail: String,
    },
    Seen(Box<TrailView>),
}

/// One trail, observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observation {
    /// The trail as configured (or its ARN, when discovered).
    pub trail: String,
    pub state: TrailState,
}

/// What the checks observed.
#[derive(Debug, Default)]
pub struct Output {
    pub observations: Vec<Observation>,
    /// When the checks ran (the tick's time is used when it has one).
    pub checked_at: Option<DateTime<Utc>>,
}

fn time(t: Option<&aws_sdk_cloudtrail::primitives::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), 0))
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn matches_trail(t: &aws_sdk_cloudtrail::types::Trail, wanted: &str) -> bool {
    t.trail_arn() == Some(wanted) || t.name() == Some(wanted)
}

fn region_of_arn(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

fn account_of_arn(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(4)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
}

/// `DescribeTrails`, shadow trails (trails of other regions, and the organization's)
/// included: every trail, or the one `trail` names (an ARN or a name).
pub async fn describe_trails(
    client: &aws_sdk_cloudtrail::Client,
    trail: Option<&str>,
) -> Result<Vec<aws_sdk_cloudtrail::types::Trail>, CallError> {
    client
        .describe_trails()
        .set_trail_name_list(trail.map(|t| vec![t.to_string()]))
        .include_shadow_trails(true)
        .send()
        .await
        .map(|d| d.trail_list.unwrap_or_default())
        .map_err(|e| CallError::from_sdk(&e))
}

impl Responder for Watchdog {
    const NAME: &'static str = crate::NAME;

    async fn init(sdk: &aws_config::SdkConfig, _config: &mut Config) -> Result<Self, InitError> {
        Ok(Watchdog {
            cloudtrail: Box::new(RegionalClients::new(sdk, aws_sdk_cloudtrail::Client::new)),
            s3: Box::new(RegionalClients::new(sdk, trailwarden::aws::s3_client)),
        })
    }

    async fn execute_step(&self, step: &Step, job: Job<'_, Self>) -> StepResult {
        let Job { case, output, .. } = job;
        let now = Utc::now();
        output.checked_at.get_or_insert(now);
        // Digests are listed back from the current time (a retried tick sees what is there now).
        let at = now;
        match step {
            Step::CheckTrail { trail, region } => {
                let o = self.observe(trail, region.as_deref(), case, at).await;
                let r = result_of(&o);
                output.observations.push(o);
                r
            }
            Step::CheckAllTrails => {
                let listed = match describe_trails(&self.cloudtrail.get(None), None).await {
                    Ok(l) => l,
                    Err(e) => {
                        let detail = e.context("cloudtrail:DescribeTrails").to_string();
                        output.observations.push(Observation {
                            trail: "every trail".into(),
                            state: TrailState::Failed {
                                what: "DescribeTrails".into(),
                                detail: detail.clone(),
                            },
                        });
                        return StepResult::failed(detail);
                    }
                };
                let arns: Vec<String> = listed
                    .iter()
                    .filter_map(|t| t.trail_arn().map(str::to_string))
                    .collect();
                let mut failed = Vec::new();
                for arn in &arns {
                    let region = region_of_arn(arn);
                    let o = self.observe(arn, region.as_deref(), case, at).await;
                    if result_of(&o).status == Status::Failed {
                        failed.push(arn.clone());
                    }
                    output.observations.push(o);
                }
                if failed.is_empty() {
                    StepResult::status(Status::Done, format!("{} trail(s) checked", arns.len()))
                } else {
                    StepResult::failed(format!("not checked: {}", failed.join(", ")))
                }
            }
        }
    }
}

impl Watchdog {
    /// Everything about one trail.
    async fn observe(
        &self,
        trail: &str,
        region: Option<&str>,
        case: &Case,
        at: DateTime<Utc>,
    ) -> Observation {
        let client = self.cloudtrail.get(region);
        let failed = |what: &str, e: CallError| Observation {
            trail: trail.to_string(),
            state: TrailState::Failed {
                what: what.to_string(),
                detail: e.context(format!("cloudtrail:{what}")).to_string(),
            },
        };
        let described = match describe_trails(&client, Some(trail)).await {
            Ok(d) => d,
            Err(e) => return failed("DescribeTrails", e),
        };
        let Some(t) = described.iter().find(|t| matches_trail(t, trail)) else {
            return Observation {
                trail: trail.to_string(),
                state: TrailState::Missing {
                    detail: "DescribeTrails does not list it".into(),
                },
            };
        };
        let status = match client.get_trail_status().name(trail).send().await {
            Ok(s) => TrailStatus {
                is_logging: s.is_logging(),
                latest_delivery: time(s.latest_delivery_time()),
                latest_delivery_error: non_empty(s.latest_delivery_error()),
                latest_digest_delivery: time(s.latest_digest_delivery_time()),
                latest_digest_delivery_error: non_empty(s.latest_digest_delivery_error()),
                latest_notification: time(s.latest_notification_time()),
                latest_notification_error: non_empty(s.latest_notification_error()),
                start_logging: time(s.start_logging_time()),
                stop_logging: time(s.stop_logging_time()),
            },
            Err(e) => {
                let e = CallError::from_sdk(&e);
                if e.is("TrailNotFoundException") {
                    return Observation {
                        trail: trail.to_string(),
                        state: TrailState::Missing {
                            detail: e.to_string(),
                        },
                    };
                }
                return failed("GetTrailStatus", e);
            }
        };
        let arn = t.trail_arn().map(str::to_string);
        let home_region = non_empty(t.home_region())
            .or_else(|| arn.as_deref().and_then(region_of_arn))
            .or_else(|| region.map(str::to_string));
        let mut view = TrailView {
            name: t.name().unwrap_or(trail).to_string(),
            arn: arn.clone(),
            home_region: home_region.clone(),
            bucket: non_empty(t.s3_bucket_name()),
            prefix: non_empty(t.s3_key_prefix()),
            multi_region: t.is_multi_region_trail().unwrap_or(false),
            organization: t.is_organization_trail().unwrap_or(false),
            validation: t.log_file_validation_enabled().unwrap_or(false),
            status,
            digests: DigestView::NotChecked(String::new()),
        };
        // Whose log files: the account the schedule runs in, else the trail's.
        let account = case
            .account
            .clone()
            .or_else(|| arn.as_deref().and_then(account_of_arn));
        view.digests = match (&view.bucket, view.validation, account) {
            (_, false, _) => DigestView::NotChecked("log file validation is off".into()),
            (None, _, _) => DigestView::NotChecked("the trail names no bucket".into()),
            (_, _, None) => DigestView::NotChecked("no account to look for".into()),
            (Some(bucket), true, Some(account)) => {
                match self.digests(&view, bucket, &account, at).await {
                    Ok(regions) => DigestView::Regions(regions),
                    Err(e) => DigestView::Failed(e),
                }
            }
        };
        Observation {
            trail: trail.to_string(),
            state: TrailState::Seen(Box::new(view)),
        }
    }

    /// The newest digest of the trail per region folder, listed back
    /// [`DIGEST_LOOKBACK_MINUTES`] from `at`.
    async fn digests(
        &self,
        v: &TrailView,
        bucket: &str,
        account: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<RegionDigests>, String> {
        let s3 = self.s3.get(v.home_region.as_deref());
        let mut base = String::new();
        if let Some(p) = &v.prefix {
            base.push_str(p.trim_end_matches('/'));
            base.push('/');
        }
        base.push_str("AWSLogs/");
        let list_err = |prefix: &str, e: CallError| {
            format!("s3://{bucket}/{prefix}: {}", e.context("s3:ListBucket"))
        };
        if v.organization {
            // AWSLogs/o-<org id>/<account>/...
            let prefix = base.clone();
            let r = s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(&prefix)
                .delimiter("/")
                .send()
                .await
                .map_err(|e| list_err(&prefix, CallError::from_sdk(&e)))?;
            if let Some(org) = r
                .common_prefixes()
                .iter()
                .filter_map(|p| p.prefix())
                .find_map(|p| p.strip_prefix(&prefix).filter(|o| o.starts_with("o-")))
            {
                base.push_str(org);
            }
        }
        base.push_str(&format!("{account}/{DIGEST_SEGMENT}/"));
        let regions: Vec<String> = if v.multi_region {
            let r = s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(&base)
                .delimiter("/")
                .send()
                .await
                .map_err(|e| list_err(&base, CallError::from_sdk(&e)))?;
            let mut regions: Vec<String> = r
                .common_prefixes()
                .iter()
                .filter_map(|p| p.prefix())
                .filter_map(|p| p.strip_prefix(&base))
                .map(|p| p.trim_end_matches('/').to_string())
                .filter(|p| !p.is_empty())
                .collect();
            regions.truncate(MAX_REGIONS);
            if regions.is_empty() {
                regions.extend(v.home_region.clone());
            }
            regions
        } else {
            v.home_region.clone().into_iter().collect()
        };
        let since = at - Duration::minutes(DIGEST_LOOKBACK_MINUTES);
        let home = v.home_region.clone().unwrap_or_default();
        let mut out = Vec::new();
        for region in regions {
            let name_prefix = format!("{account}_CloudTrail-Digest_{region}_{}_{home}_", v.name);
            let mut newest: Option<(DateTime<Utc>, String)> = None;
            let mut day = since.date_naive();
            while day <= at.date_naive() {
                let folder = format!("{base}{region}/{}/", day.format("%Y/%m/%d"));
                let mut req = s3.list_objects_v2().bucket(bucket).prefix(&folder);
                if day == since.date_naive() {
                    req = req.start_after(format!(
                        "{folder}{name_prefix}{}",
                        since.format("%Y%m%dT%H%M%SZ")
                    ));
                }
                let r = req
                    .send()
                    .await
                    .map_err(|e| list_err(&folder, CallError::from_sdk(&e)))?;
                for o in r.contents() {
                    let Some(key) = o.key() else { continue };
                    let TrailObject::Digest(d) = classify(key) else {
                        continue;
                    };
                    if d.name.trail != v.name || d.name.home_region != home {
                        continue;
                    }
                    let named =
                        chrono::NaiveDateTime::parse_from_str(&d.name.timestamp, "%Y%m%dT%H%M%SZ")
                            .ok()
                            .map(|t| t.and_utc());
                    let delivered = o
                        .last_modified()
                        .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), 0))
                        .or(named);
                    if let Some(t) = delivered {
                        if newest.as_ref().is_none_or(|(n, _)| t > *n) {
                            newest = Some((t, key.to_string()));
                        }
                    }
                }
                day += Duration::days(1);
            }
            out.push(RegionDigests {
                region,
                newest: newest.as_ref().map(|(t, _)| *t),
                newest_key: newest.map(|(_, k)| k),
                listed_since: since,
            });
        }
        Ok(out)
    }
}

/// A check that could not be done fails the step (the invocation fails, Lambda retries, the
/// function's Errors alarm fires); a trail found missing or unhealthy is a finding, not a
/// failure.
fn result_of(o: &Observation) -> StepResult {
    match &o.state {
        TrailState::Failed { detail, .. } => StepResult::failed(detail.clone()),
        TrailState::Missing { .. } => StepResult::status(Status::Done, "the trail does not exist"),
        TrailState::Seen(v) => match &v.digests {
            DigestView::Failed(e) => StepResult::failed(format!("digests not listed: {e}")),
            _ => StepResult::status(
                Status::Done,
                match v.status.is_logging {
                    Some(false) => "not logging",
                    _ => "logging",
                },
            ),
        },
    }
}

//! The CloudTrail Insights record, read tolerantly, and the pairing of its `Start` and `End`
//! records into one incident.
//!
//! An Insights record (`eventType` `AwsCloudTrailInsight`, `eventCategory` `Insight`) has no
//! `userIdentity` or `eventName` of its own: `insightDetails` names the API
//! (`eventSource`, `eventName`), the kind (`insightType` `ApiCallRateInsight` or
//! `ApiErrorRateInsight`, with `errorCode` for the latter), whether the unusual activity
//! starts or ends (`state`), and `insightContext`: `statistics` (`baseline.average` and
//! `insight.average` in calls, or errors, per minute; `baselineDuration` and
//! `insightDuration` in minutes) and `attributions` (for `userIdentityArn`, `userAgent` and
//! `errorCode`: the values behind the insight and behind the baseline, each with its average).
//! `sharedEventID` is the same on the `Start` and the `End` record of one insight.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;
use trailwarden::event::parse_time;
use trailwarden::Record;

/// Detection id of an unusual call rate.
pub const CALL_RATE_DETECTION: &str = "insight-api-call-rate";
/// Detection id of an unusual error rate.
pub const ERROR_RATE_DETECTION: &str = "insight-api-error-rate";
/// The value CloudTrail writes in the `errorCode` attribution for calls that succeeded.
pub const NO_ERROR: &str = "null";

/// Whether the record opens or closes the unusual activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum State {
    Start,
    End,
    /// Anything else CloudTrail may write (kept as written).
    Other(String),
}

/// What is unusual.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum InsightType {
    /// `ApiCallRateInsight`: the number of calls (write management events).
    ApiCallRate,
    /// `ApiErrorRateInsight`: the number of calls that failed with one error code.
    ApiErrorRate,
    Other(String),
}

impl InsightType {
    fn parse(s: &str) -> InsightType {
        match s {
            "ApiCallRateInsight" => InsightType::ApiCallRate,
            "ApiErrorRateInsight" => InsightType::ApiErrorRate,
            other => InsightType::Other(other.to_string()),
        }
    }

    /// The alert's detection id.
    pub fn detection(&self) -> &'static str {
        match self {
            InsightType::ApiErrorRate => ERROR_RATE_DETECTION,
            _ => CALL_RATE_DETECTION,
        }
    }
}

/// One value of an attribution and its average per minute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    pub value: String,
    pub average: Option<f64>,
}

/// The values of one attribute behind the insight and behind the baseline.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Attribution {
    pub insight: Vec<Share>,
    pub baseline: Vec<Share>,
}

impl Attribution {
    /// The baseline average of `value`, when it was seen in the baseline.
    pub fn baseline_of(&self, value: &str) -> Option<f64> {
        self.baseline
            .iter()
            .find(|s| s.value == value)
            .and_then(|s| s.average)
    }

    pub fn is_empty(&self) -> bool {
        self.insight.is_empty() && self.baseline.is_empty()
    }
}

/// One Insights record, typed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Insight {
    /// `sharedEventID`: the same on the Start and the End record.
    pub shared_event_id: Option<String>,
    pub event_id: Option<String>,
    /// When the unusual activity started (Start) or ended (End).
    pub event_time: Option<String>,
    pub region: Option<String>,
    pub account: Option<String>,
    pub state: State,
    pub insight_type: InsightType,
    /// The API: `insightDetails.eventSource` and `eventName`.
    pub event_source: Option<String>,
    pub event_name: Option<String>,
    /// `insightDetails.errorCode`: the error an error-rate insight counts.
    pub error_code: Option<String>,
    /// `insightDetails.sourceEventCategory` (`Management`, `Data`).
    pub source_category: Option<String>,
    /// `statistics.baseline.average`: per minute, over the baseline.
    pub baseline_average: Option<f64>,
    /// `statistics.insight.average`: per minute, during the insight.
    pub insight_average: Option<f64>,
    /// `statistics.insightDuration`, minutes.
    pub insight_duration: Option<f64>,
    /// `statistics.baselineDuration`, minutes.
    pub baseline_duration: Option<f64>,
    /// The `userIdentityArn` attribution.
    pub principals: Attribution,
    /// The `userAgent` attribution.
    pub user_agents: Attribution,
    /// The `errorCode` attribution (`null` for calls that succeeded).
    pub error_codes: Attribution,
    /// The record as delivered (evidence).
    #[serde(skip)]
    pub raw: Value,
}

/// A number as CloudTrail writes it (a JSON number; a numeric string is accepted too).
fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

fn string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn shares(v: Option<&Value>) -> Vec<Share> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    Some(Share {
                        value: string(s.get("value"))?,
                        average: number(s.get("average")),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Insight {
    /// The Insights record in `r`, or `None` when it has no `insightDetails` object.
    pub fn from_record(r: &Record) -> Option<Insight> {
        let details = r.insight_details.as_ref().filter(|d| d.is_object())?;
        let context = details.get("insightContext");
        let stats = context.and_then(|c| c.get("statistics"));
        let mut principals = Attribution::default();
        let mut user_agents = Attribution::default();
        let mut error_codes = Attribution::default();
        let attributions = context
            .and_then(|c| c.get("attributions"))
            .and_then(Value::as_array);
        for a in attributions.into_iter().flatten() {
            let target = match a.get("attribute").and_then(Value::as_str) {
                Some("userIdentityArn") => &mut principals,
                Some("userAgent") => &mut user_agents,
                Some("errorCode") => &mut error_codes,
                _ => continue,
            };
            target.insight = shares(a.get("insight"));
            target.baseline = shares(a.get("baseline"));
        }
        let state = match details.get("state").and_then(Value::as_str) {
            Some("Start") => State::Start,
            Some("End") => State::End,
            other => State::Other(other.unwrap_or("").to_string()),
        };
        Some(Insight {
            shared_event_id: r.shared_event_id.clone().filter(|s| !s.trim().is_empty()),
            event_id: r.event_id.clone(),
            event_time: r.event_time.clone(),
            region: r.aws_region.clone(),
            account: r.account_id().map(str::to_string),
            state,
            insight_type: InsightType::parse(
                details
                    .get("insightType")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            ),
            event_source: string(details.get("eventSource")),
            event_name: string(details.get("eventName")),
            error_code: string(details.get("errorCode")),
            source_category: string(details.get("sourceEventCategory")),
            baseline_average: number(stats.and_then(|s| s.pointer("/baseline/average"))),
            insight_average: number(stats.and_then(|s| s.pointer("/insight/average"))),
            insight_duration: number(stats.and_then(|s| s.get("insightDuration"))),
            baseline_duration: number(stats.and_then(|s| s.get("baselineDuration"))),
            principals,
            user_agents,
            error_codes,
            raw: without_nulls(serde_json::to_value(r).unwrap_or(Value::Null)),
        })
    }

    /// The id both alerts of the incident carry: `insight:<sharedEventID>` (the record's own
    /// event id when the shared one is missing).
    pub fn incident_id(&self) -> String {
        let id = self
            .shared_event_id
            .as_deref()
            .or(self.event_id.as_deref())
            .unwrap_or("unknown");
        format!("insight:{id}")
    }

    /// `eventTime`, parsed.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        parse_time(self.event_time.as_deref()?)
    }

    /// The insight's length, when recorded and positive.
    pub fn duration(&self) -> Option<Duration> {
        let m = self.insight_duration.filter(|m| *m > 0.0)?;
        Some(Duration::seconds((m * 60.0).round() as i64))
    }

    /// When the unusual activity started: a Start record's time, or an End record's time less
    /// the insight's duration.
    pub fn started(&self) -> Option<DateTime<Utc>> {
        match self.state {
            State::End => Some(self.time()? - self.duration()?),
            _ => self.time(),
        }
    }

    /// How many times the baseline the insight's average is (`None` when either is unknown or
    /// the baseline is zero).
    pub fn ratio(&self) -> Option<f64> {
        let b = self.baseline_average.filter(|b| *b > 0.0)?;
        Some(self.insight_average? / b)
    }

    /// The service part of `eventSource` (`iam` for `iam.amazonaws.com`).
    pub fn service(&self) -> &str {
        let s = self.event_source.as_deref().unwrap_or("");
        s.split('.').next().unwrap_or(s)
    }

    /// `eventName`, or a placeholder.
    pub fn api_name(&self) -> &str {
        self.event_name.as_deref().unwrap_or("(unnamed API)")
    }

    /// The principal with the highest average during the insight.
    pub fn top_principal(&self) -> Option<&str> {
        top(&self.principals.insight)
    }

    /// The user agent with the highest average during the insight.
    pub fn top_user_agent(&self) -> Option<&str> {
        top(&self.user_agents.insight)
    }
}

/// The record's fields that are present (the model writes absent ones as `null`).
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, x)| !x.is_null()).collect()),
        other => other,
    }
}

fn top(shares: &[Share]) -> Option<&str> {
    shares
        .iter()
        .max_by(|a, b| {
            a.average
                .unwrap_or(0.0)
                .total_cmp(&b.average.unwrap_or(0.0))
        })
        .map(|s| s.value.as_str())
}

/// One insight: its Start and End records, paired by `sharedEventID`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// `insight:<sharedEventID>`.
    pub id: String,
    pub start: Option<Insight>,
    pub end: Option<Insight>,
}

impl Incident {
    /// The record the incident is described from: the End (it has the whole insight's
    /// statistics and attributions), else the Start.
    pub fn main(&self) -> &Insight {
        self.end
            .as_ref()
            .or(self.start.as_ref())
            .expect("an incident has a record")
    }
}

/// Pairs Start and End records by `sharedEventID`, in the order incidents first appear. A
/// record whose state is neither is kept as the incident's Start. A second Start (or End) of
/// the same incident (a re-delivered record) replaces nothing.
pub fn pair(insights: Vec<Insight>) -> Vec<Incident> {
    let mut out: Vec<Incident> = Vec::new();
    for i in insights {
        let id = i.incident_id();
        let pos = match out.iter().position(|x| x.id == id) {
            Some(p) => p,
            None => {
                out.push(Incident {
                    id,
                    start: None,
                    end: None,
                });
                out.len() - 1
            }
        };
        let slot = match i.state {
            State::End => &mut out[pos].end,
            _ => &mut out[pos].start,
        };
        if slot.is_none() {
            *slot = Some(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(v: Value) -> Record {
        trailwarden::payload::record_from_value(v, "").unwrap()
    }

    #[test]
    fn numbers_may_be_strings_and_absent_fields_are_none() {
        let r = record(
            json!({"eventType": "AwsCloudTrailInsight", "sharedEventID": "s1",
            "insightDetails": {"state": "Start", "insightType": "ApiCallRateInsight",
                "insightContext": {"statistics": {"baseline": {"average": "0.5"},
                    "insight": {"average": 10}}}}}),
        );
        let i = Insight::from_record(&r).unwrap();
        assert_eq!(i.baseline_average, Some(0.5));
        assert_eq!(i.ratio(), Some(20.0));
        assert_eq!(i.insight_duration, None);
        assert_eq!(i.incident_id(), "insight:s1");
        assert!(i.principals.is_empty());
        let r = record(json!({"eventType": "AwsCloudTrailInsight", "insightDetails": "odd"}));
        assert!(Insight::from_record(&r).is_none());
    }

    #[test]
    fn a_zero_baseline_has_no_ratio() {
        let r = record(json!({"insightDetails": {"state": "End",
            "insightContext": {"statistics": {"baseline": {"average": 0},
                "insight": {"average": 6}, "insightDuration": 3}}}, "eventTime": "2024-12-11T16:53:00Z"}));
        let i = Insight::from_record(&r).unwrap();
        assert_eq!(i.ratio(), None);
        assert_eq!(
            i.started().unwrap().to_rfc3339(),
            "2024-12-11T16:50:00+00:00"
        );
    }

    #[test]
    fn start_and_end_pair_by_shared_event_id_whatever_the_order() {
        let mk = |id: &str, state: &str| {
            Insight::from_record(&record(
                json!({"sharedEventID": id, "eventID": format!("{id}-{state}"),
                "insightDetails": {"state": state}}),
            ))
            .unwrap()
        };
        let incidents = pair(vec![
            mk("b", "End"),
            mk("a", "Start"),
            mk("b", "Start"),
            mk("b", "Start"),
        ]);
        assert_eq!(incidents.len(), 2);
        assert_eq!(incidents[0].id, "insight:b");
        assert!(incidents[0].start.is_some() && incidents[0].end.is_some());
        assert_eq!(incidents[0].main().state, State::End);
        assert_eq!(incidents[1].id, "insight:a");
        assert!(incidents[1].end.is_none());
    }
}

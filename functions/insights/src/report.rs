//! Pure: the alerts and statistics. All of insights' wording is here.
//!
//! One alert per incident: a Start in real time ("began", with the catalog look-up), an End in
//! real time ("ended": baseline against actual, duration, and CloudTrail's attribution of the
//! activity to principals, user agents and error codes), or both from an Insights file (one
//! alert covering the whole insight). Every alert of an incident carries the same incident id
//! (`insight:<sharedEventID>`), so that chat threads, tickets and SIEM searches group them.
//!
//! Severity: a Start (or a paired Start and End) is medium, an End alone low; either is high
//! when the catalog found a high or critical detection among the API's events in the window.

use crate::config::Config;
use crate::decide::{Case, Step, Window};
use crate::execute::{FileRead, Found, MAX_FILE_LOOKUPS};
use crate::insight::{pair, Attribution, Incident, Insight, InsightType, State, NO_ERROR};
use crate::lookup::CatalogLook;
use crate::Insights;
use serde::Serialize;
use serde_json::json;
use trailwarden::alert::{Action, Alert, EventContext, Severity, Status};
use trailwarden::detect::Counted;
use trailwarden::payload::S3Object;
use trailwarden::respond::{self, Plan, PlannedStep, Report, Reporting, StepKind};

/// Detection id of the alert about an Insights file that could not be read.
pub const UNREADABLE_DETECTION: &str = "insights-file-unreadable";
/// Where CloudTrail Insights is documented.
pub const DOC_URL: &str =
    "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-insights-events-with-cloudtrail.html";
/// How many values of an attribution an alert lists.
pub const LISTED: usize = 5;

trailwarden::counters! {
    /// insights' counters.
    #[derive(Debug, Clone, Default, PartialEq, Serialize)]
    pub struct InsightStats {
        /// Insights records handled (events, or records read from files).
        insights: u64 => "insights",
        starts: u64 => "starts",
        ends: u64 => "ends",
        /// Incidents alerted on (a Start and its End count once when seen together).
        incidents: u64 => "incidents",
        /// Insights files read.
        files: u64 => "files read",
        /// Catalog look-ups made.
        lookups: u64 => "catalog look-ups",
        /// Events the look-ups read.
        looked_up_events: u64 => "looked-up events",
        /// Catalog detections that fired in the look-ups.
        catalog_findings: u64 => "catalog findings",
    }
}

/// Where the catalog look-up of an incident stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Look<'a> {
    /// Not made, and why (an End alone, look-ups turned off).
    NotMade(String),
    /// Planned, not made (an offline plan).
    Planned(&'a Window),
    Done(&'a Window, &'a CatalogLook),
    Failed(&'a Window, &'a str),
}

impl Reporting for Insights {
    type Output = Found;
    type Stats = InsightStats;

    /// The alerts and statistics of a walked plan (`found` is `None` for an offline plan).
    fn report(
        config: &Config,
        case: &Case,
        plan: &Plan<Step>,
        found: Option<&Found>,
    ) -> Report<InsightStats> {
        let mut stats = InsightStats::default();
        let mut alerts = Vec::new();
        if let Some(f) = found {
            for l in &f.lookups {
                if let Ok(look) = &l.result {
                    stats.lookups += 1;
                    stats.looked_up_events += look.events;
                    stats.catalog_findings += look.findings.len() as u64;
                }
            }
        }
        match case {
            Case::Event { insight } => {
                count(&mut stats, std::slice::from_ref(insight.as_ref()));
                let incident = Incident {
                    id: insight.incident_id(),
                    start: (insight.state != State::End).then(|| insight.as_ref().clone()),
                    end: (insight.state == State::End).then(|| insight.as_ref().clone()),
                };
                let look = event_look(config, insight, plan, found);
                stats.incidents += 1;
                alerts.push(incident_alert(
                    &incident,
                    &look,
                    None,
                    respond::actions(plan),
                ));
            }
            Case::Files { .. } => {
                for step in plan {
                    let Step::ReadFile { object } = &step.step else {
                        continue;
                    };
                    let Some(read) = found.and_then(|f| f.file(object)) else {
                        continue;
                    };
                    stats.files += 1;
                    if let Some(problem) = &read.problem {
                        alerts.push(unreadable_alert(read, problem, step));
                        continue;
                    }
                    count(&mut stats, &read.insights);
                    let actions: Vec<Action> = plan
                        .iter()
                        .filter(|s| s.step.target() == object.uri())
                        .map(PlannedStep::action)
                        .collect();
                    for incident in pair(read.insights.clone()) {
                        let look = file_look(config, &incident, object, plan, found);
                        stats.incidents += 1;
                        alerts.push(incident_alert(
                            &incident,
                            &look,
                            Some(object),
                            actions.clone(),
                        ));
                    }
                }
            }
        }
        Report { alerts, stats }
    }
}

fn count(stats: &mut InsightStats, insights: &[Insight]) {
    for i in insights {
        stats.insights += 1;
        match i.state {
            State::Start => stats.starts += 1,
            State::End => stats.ends += 1,
            State::Other(_) => {}
        }
    }
}

fn from_found<'a>(found: Option<&'a Found>, incident: &str) -> Option<Look<'a>> {
    let l = found?.lookup(incident)?;
    Some(match &l.result {
        Ok(look) => Look::Done(&l.window, look),
        Err(e) => Look::Failed(&l.window, e),
    })
}

fn event_look<'a>(
    config: &Config,
    insight: &Insight,
    plan: &'a Plan<Step>,
    found: Option<&'a Found>,
) -> Look<'a> {
    if let Some(l) = from_found(found, &insight.incident_id()) {
        return l;
    }
    for s in plan {
        if let Step::LookUp { window } = &s.step {
            return match s.status {
                Status::Planned => Look::Planned(window),
                _ => Look::NotMade(s.detail.clone().unwrap_or_else(|| "not made".into())),
            };
        }
    }
    Look::NotMade(match insight.state {
        State::End => "made on the Start event of the incident".into(),
        _ if config.lookup_max_events == 0 => "turned off (INSIGHT_LOOKUP_MAX_EVENTS=0)".into(),
        _ => "not possible: the record names no API or start time".into(),
    })
}

fn file_look<'a>(
    config: &Config,
    incident: &Incident,
    object: &S3Object,
    plan: &'a Plan<Step>,
    found: Option<&'a Found>,
) -> Look<'a> {
    if let Some(l) = from_found(found, &incident.id) {
        return l;
    }
    if incident.start.is_none() {
        return Look::NotMade("made on the Start event of the incident".into());
    }
    if let Some(why) = incident
        .start
        .as_ref()
        .and_then(|s| config.not_here(s.account.as_deref()))
    {
        return Look::NotMade(why);
    }
    if incident
        .start
        .as_ref()
        .and_then(Window::for_start)
        .is_none()
    {
        return Look::NotMade("not possible: the record names no API or start time".into());
    }
    let step = plan
        .iter()
        .find(|s| matches!(&s.step, Step::LookUpFile { object: o } if o == object));
    Look::NotMade(match step {
        None if config.lookup_max_events == 0 => "turned off (INSIGHT_LOOKUP_MAX_EVENTS=0)".into(),
        Some(s) if s.status == Status::Done => {
            format!("only the first {MAX_FILE_LOOKUPS} Start records of a file are looked up")
        }
        Some(s) => s.detail.clone().unwrap_or_else(|| "not made".into()),
        None => "not made".into(),
    })
}

/// A number of calls per minute, to a useful precision (`9`, `7.58`, `0.0138`).
pub fn rate(x: f64) -> String {
    let s = if x == 0.0 {
        "0".to_string()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        // Three significant digits.
        let digits = (2 - x.abs().log10().floor() as i32).clamp(0, 12) as usize;
        format!("{x:.digits$}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Minutes in words (`1 minute`, `12 minutes`, `7 days`).
pub fn minutes(m: f64) -> String {
    let m = m.round() as i64;
    if m >= 2 * 24 * 60 {
        let days = (m as f64 / 1440.0).round() as i64;
        format!("{days} days")
    } else if m >= 120 {
        format!("{} hours", (m as f64 / 60.0).round() as i64)
    } else if m == 1 {
        "1 minute".into()
    } else {
        format!("{m} minutes")
    }
}

/// What the insight counts, in words: `calls`, or `AccessDenied errors`.
fn unit(i: &Insight) -> String {
    match (&i.insight_type, &i.error_code) {
        (InsightType::ApiErrorRate, Some(code)) => format!("{code} errors"),
        (InsightType::ApiErrorRate, None) => "errors".into(),
        _ => "calls".into(),
    }
}

fn kind_words(i: &Insight) -> String {
    match (&i.insight_type, &i.error_code) {
        (InsightType::ApiErrorRate, Some(code)) => format!("API error rate ({code})"),
        (InsightType::ApiErrorRate, None) => "API error rate".into(),
        (InsightType::ApiCallRate, _) => "API call rate".into(),
        (InsightType::Other(t), _) => format!("{t} (an Insights type trailwarden does not know)"),
    }
}

fn when(
    i: Option<&Insight>,
    f: impl Fn(&Insight) -> Option<chrono::DateTime<chrono::Utc>>,
) -> Option<String> {
    i.and_then(f)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

fn shares(
    a: &[crate::insight::Share],
    baseline: &Attribution,
    render: impl Fn(&str) -> String,
) -> String {
    let mut sorted: Vec<&crate::insight::Share> = a.iter().collect();
    sorted.sort_by(|x, y| {
        y.average
            .unwrap_or(0.0)
            .total_cmp(&x.average.unwrap_or(0.0))
    });
    let mut parts: Vec<String> = sorted
        .iter()
        .take(LISTED)
        .map(|s| {
            let avg = s
                .average
                .map(|a| format!("{}/min", rate(a)))
                .unwrap_or_else(|| "?".into());
            let base = match baseline.baseline_of(&s.value) {
                Some(b) => format!("baseline {}/min", rate(b)),
                None => "not in the baseline".into(),
            };
            format!("{}: {avg} ({base})", render(&s.value))
        })
        .collect();
    if sorted.len() > LISTED {
        parts.push(format!("and {} more", sorted.len() - LISTED));
    }
    parts.join("; ")
}

fn error_value(v: &str) -> String {
    if v == NO_ERROR {
        "no error (succeeded)".into()
    } else {
        v.to_string()
    }
}

fn look_sentence(look: &Look<'_>, api: &str) -> Option<String> {
    Some(match look {
        Look::Done(w, l) if l.findings.is_empty() => format!(
            "None of the catalog's detections matched the {}{} {api} event(s) of {}.",
            l.events,
            if l.truncated { " first" } else { "" },
            w.describe()
        ),
        Look::Done(w, l) => format!(
            "The catalog, run over the {}{} {api} event(s) of {}, found: {}.",
            l.events,
            if l.truncated { " first" } else { "" },
            w.describe(),
            l.findings
                .iter()
                .map(|f| format!("{} ({}, {} event(s))", f.title, f.severity, f.count))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Look::Failed(w, e) => format!("The catalog look-up over {} failed: {e}.", w.describe()),
        Look::Planned(w) => format!(
            "The catalog look-up over {} is planned (an offline plan does not make it).",
            w.describe()
        ),
        Look::NotMade(_) => return None,
    })
}

fn look_fact(look: &Look<'_>) -> String {
    match look {
        Look::Done(w, l) => {
            let mut s = format!(
                "{} event(s){} of {}; {} failed",
                l.events,
                if l.truncated { " (more not read)" } else { "" },
                w.describe(),
                l.failed
            );
            if !l.principals.is_empty() {
                s.push_str("; callers: ");
                s.push_str(&Counted::list(&l.principals));
            }
            if !l.error_codes.is_empty() {
                s.push_str("; errors: ");
                s.push_str(&Counted::list(&l.error_codes));
            }
            s.push_str(&match l.findings.len() {
                0 => "; no catalog detection matched".to_string(),
                _ => format!(
                    "; detections: {}",
                    l.findings
                        .iter()
                        .map(|f| format!("{} [{}] {} event(s)", f.detection, f.severity, f.count))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            s
        }
        Look::Failed(w, e) => format!("FAILED for {}: {e}", w.describe()),
        Look::Planned(w) => format!("planned: {}", w.describe()),
        Look::NotMade(why) => format!("not made: {why}"),
    }
}

/// The severity of an incident's alert.
pub fn severity(incident: &Incident, look: &Look<'_>) -> Severity {
    let base = match (&incident.start, &incident.end) {
        (None, Some(_)) => Severity::Low,
        _ => Severity::Medium,
    };
    match look {
        Look::Done(_, l) if l.max_severity().is_some_and(|s| s >= Severity::High) => Severity::High,
        _ => base,
    }
}

/// The alert of one incident. `file` is the Insights file it was read from (`None`: real time).
pub fn incident_alert(
    incident: &Incident,
    look: &Look<'_>,
    file: Option<&S3Object>,
    actions: Vec<Action>,
) -> Alert {
    let main = incident.main();
    let start = incident.start.as_ref();
    let end = incident.end.as_ref();
    let api = main.api_name().to_string();
    let service = main.service().to_string();
    let unit = unit(main);
    let now = main.insight_average.map(rate).unwrap_or_else(|| "?".into());
    let base = main
        .baseline_average
        .map(rate)
        .unwrap_or_else(|| "?".into());
    let what = match &main.insight_type {
        InsightType::ApiErrorRate => format!(
            "{api} error rate ({}{service})",
            main.error_code
                .as_deref()
                .map(|c| format!("{c}, "))
                .unwrap_or_default()
        ),
        _ => format!("{api} call rate ({service})"),
    };
    let duration = main.insight_duration.filter(|_| end.is_some()).map(minutes);
    let title = match (start.is_some(), end.is_some()) {
        (_, false) => format!("Unusual {what}: {now}/min vs {base}/min baseline"),
        (false, true) => format!(
            "Ended: unusual {what} after {}, {now}/min vs {base}/min",
            duration.clone().unwrap_or_else(|| "?".into())
        ),
        (true, true) => format!(
            "Unusual {what} for {}: {now}/min vs {base}/min baseline",
            duration.clone().unwrap_or_else(|| "?".into())
        ),
    };
    let sev = severity(incident, look);
    let mut a = Alert::new(sev, main.insight_type.detection(), title);
    a.account = main.account.clone();
    a.region = main.region.clone();
    a.event = Some(EventContext {
        event_name: main.event_name.clone(),
        event_source: main.event_source.clone(),
        event_time: start.or(end).and_then(|i| i.event_time.clone()),
        event_id: start.or(end).and_then(|i| i.event_id.clone()),
        actor: main.top_principal().map(str::to_string),
        actor_kind: None,
        source_ip: None,
        user_agent: main.top_user_agent().map(str::to_string),
        error_code: main.error_code.clone(),
        console_url: None,
    });
    let region = main.region.as_deref().unwrap_or("an unnamed region");
    let source = main.event_source.as_deref().unwrap_or("an unnamed service");
    let ratio = main
        .ratio()
        .map(|r| format!(" ({}x the baseline)", rate(r)))
        .unwrap_or_else(|| " (the baseline is zero: this never happened before)".into());
    let baseline_span = main
        .baseline_duration
        .map(|m| format!(" over the previous {}", minutes(m)))
        .unwrap_or_default();
    let started = when(start.or(end), Insight::started);
    let ended = when(end, Insight::time);
    let mut summary = match (start.is_some(), end.is_some()) {
        (_, false) => format!(
            "CloudTrail Insights saw an unusual rate of {api} {unit} ({source}) in {region} starting {}: {now} per minute against a baseline of {base} per minute{baseline_span}{ratio}.",
            started.clone().unwrap_or_else(|| "at an unrecorded time".into())
        ),
        (false, true) => format!(
            "The unusual rate of {api} {unit} ({source}) in {region} that started around {} ended {} after {}: {now} per minute on average against a baseline of {base} per minute{baseline_span}{ratio}.",
            started.clone().unwrap_or_else(|| "an unrecorded time".into()),
            ended.clone().unwrap_or_else(|| "at an unrecorded time".into()),
            duration.clone().unwrap_or_else(|| "an unrecorded time".into())
        ),
        (true, true) => format!(
            "CloudTrail Insights saw an unusual rate of {api} {unit} ({source}) in {region} from {} to {} ({}): {now} per minute on average against a baseline of {base} per minute{baseline_span}{ratio}.",
            started.clone().unwrap_or_else(|| "an unrecorded time".into()),
            ended.clone().unwrap_or_else(|| "an unrecorded time".into()),
            duration.clone().unwrap_or_else(|| "an unrecorded length".into())
        ),
    };
    if let (Some(avg), Some(m)) = (
        main.insight_average,
        main.insight_duration.filter(|_| end.is_some()),
    ) {
        summary.push_str(&format!(
            " That is about {} {unit} in all.",
            (avg * m).round()
        ));
    }
    if let Some(p) = main.top_principal() {
        let share = main.principals.insight.len();
        summary.push_str(&format!(
            " CloudTrail attributes it mostly to {p}{}.",
            if share > 1 {
                format!(" (of {share} principals)")
            } else {
                String::new()
            }
        ));
    }
    if let Some(s) = look_sentence(look, &api) {
        summary.push(' ');
        summary.push_str(&s);
    }
    match (start.is_some(), end.is_some(), file) {
        (true, false, _) => summary.push_str(
            " The End event of this incident, with the same incident id, follows when the rate is back to normal: check now whether the calls are expected (a deployment, a new job) or not (someone using stolen credentials).",
        ),
        (false, true, _) => summary.push_str(
            " If the calls were not expected, review what the principals below did in that time and rotate their credentials.",
        ),
        _ => {}
    }
    if let Some(o) = file {
        summary.push_str(&format!(
            " Read from the Insights file {} (the same incident may have alerted in real time: same incident id).",
            o.uri()
        ));
    }
    a.summary = summary;
    a = a
        .fact("Incident", incident.id.clone())
        .fact("Insight", kind_words(main))
        .fact("API", format!("{api} ({source})"))
        .fact("Region", region);
    if let Some(s) = &started {
        a = a.fact("Started", s.clone());
    }
    if let Some(e) = &ended {
        a = a.fact("Ended", e.clone());
    }
    if let Some(d) = &duration {
        a = a.fact("Duration", d.clone());
    }
    a = a.fact(
        "Baseline",
        format!("{base} {unit} per minute{baseline_span}"),
    );
    a = a.fact(
        if end.is_some() {
            "During the insight"
        } else {
            "At the start"
        },
        format!("{now} {unit} per minute{ratio}"),
    );
    if let (Some(s), Some(_)) = (start, end) {
        if let Some(avg) = s.insight_average {
            a = a.fact("At the start", format!("{} {unit} per minute", rate(avg)));
        }
    }
    if !main.principals.insight.is_empty() {
        a = a.fact(
            "Principals",
            shares(&main.principals.insight, &main.principals, str::to_string),
        );
    }
    if !main.user_agents.insight.is_empty() {
        a = a.fact(
            "User agents",
            shares(&main.user_agents.insight, &main.user_agents, str::to_string),
        );
    }
    if !main.error_codes.insight.is_empty() {
        a = a.fact(
            "Error codes",
            shares(&main.error_codes.insight, &main.error_codes, error_value),
        );
    }
    if start.is_some() {
        a = a.fact("Catalog look-up", look_fact(look));
    }
    if let Some(o) = file {
        a = a.fact("Insights file", o.uri());
    }
    a.actions = actions;
    let lookup = match look {
        Look::Done(w, l) => json!({"window": w, "result": l}),
        Look::Failed(w, e) => json!({"window": w, "error": e}),
        Look::Planned(w) => json!({"window": w, "planned": true}),
        Look::NotMade(why) => json!({"not_made": why}),
    };
    a.evidence = Some(json!({
        "incident": incident.id,
        "start": start.map(|i| &i.raw),
        "end": end.map(|i| &i.raw),
        "catalog_lookup": lookup,
    }));
    a.references = vec![DOC_URL.to_string()];
    a
}

/// The alert about an Insights file that could not be read (retrying cannot fix it).
fn unreadable_alert(read: &FileRead, problem: &str, step: &PlannedStep<Step>) -> Alert {
    let mut a = Alert::new(
        Severity::Medium,
        UNREADABLE_DETECTION,
        "Insights file could not be read",
    );
    a.summary = format!(
        "The object {} is in an Insights folder of the trail bucket but could not be read as an \
         Insights file: {problem}. CloudTrail writes these files itself; check who wrote or \
         replaced it (S3 server access logs, data events) and compare it with a fresh copy.",
        read.object.uri()
    );
    a.region = read.object.region.clone();
    a = a.fact("Object", read.object.uri()).fact("Problem", problem);
    a.actions = vec![step.action()];
    a
}

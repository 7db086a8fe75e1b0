//! Running a catalog over log files: per record, only the detections that can match (looked
//! up by `eventName`/`eventSource`) are evaluated, and only the fields they read are parsed;
//! matches are aggregated into one [`Finding`] per detection.

use super::finding::{Counted, Finding, ThresholdGroup, ThresholdResult};
use super::index::{split_group_path, Index};
use super::tally::{self, Tallies};
use super::{Catalog, Detection, Threshold};
use crate::alert::EventContext;
use crate::event::{lookup, Caller, CallerRef, Record, UserIdentity};
use crate::logfile::{self, Element, LogError, LogReader, RawRecord, Span};
use crate::pattern::RawValue;
use hashbrown::hash_map::Entry;
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

// Memory is bounded whatever the file holds: counters keep a fixed number of values (heavy
// hitters, Space-Saving), threshold detections track a fixed number of groups, and a group's
// window keeps a fixed number of timestamps.

/// Values kept per counter of a detection (principals, regions, ...).
const COUNTER_CAPACITY: usize = 256;
/// Values kept per counter of one threshold group.
const GROUP_COUNTER_CAPACITY: usize = 8;
/// Groups tracked per threshold detection; records of further groups are counted apart.
const MAX_GROUPS: usize = 2_000;
/// Groups tracked across all threshold detections of one scan: what bounds a scan's memory
/// whatever the catalog (a group that saw one record costs a few hundred bytes, one that
/// counts several up to about a kilobyte). When it is reached, groups that
/// stayed below their threshold and whose newest record is further than their window (plus
/// [`STALE_SLACK_SECONDS`]) from the record at hand are dropped: they can no longer cross
/// unless records arrive that much out of order.
const TOTAL_GROUPS: usize = 12_000;
/// Groups every threshold detection may track even when the shared budget is spent: a flood
/// of distinct groups on some detections (values an attacker controls, such as source
/// addresses or bucket names) cannot leave another detection unable to follow a burst.
/// Bounds the scan's memory at [`TOTAL_GROUPS`] plus this many per threshold detection.
const RESERVED_GROUPS: usize = 32;
/// How far out of time order records may arrive and still count into a group (files of
/// several regions and accounts interleave by minutes).
const STALE_SLACK_SECONDS: i64 = 900;
/// New groups refused while full before the next sweep for stale groups (a sweep walks every
/// group: this keeps its cost per record small).
const SWEEP_EVERY: u64 = 256;
/// Timestamps kept per group's window beyond the threshold count (the peak saturates there).
const MIN_WINDOW_CAP: usize = 64;
const TOP: usize = 10;
const SAMPLES: usize = 5;
const PROBLEM_SAMPLES: usize = 10;

pub(crate) use super::project::FieldTree;

// ---------------------------------------------------------------------------------------------
// Aggregation
// ---------------------------------------------------------------------------------------------

/// What is known about a matching record (computed once, however many detections match).
/// Strings borrow from the record's text where they hold no escapes; the [`Sample`] is only
/// built when an aggregate takes this record as its first match.
struct MatchInfo<'r> {
    event_time: Option<Cow<'r, str>>,
    region: Option<Cow<'r, str>>,
    event_name: Option<Cow<'r, str>>,
    error_code: Option<Cow<'r, str>>,
    source_ip: Option<Cow<'r, str>>,
    event_id: Option<Cow<'r, str>>,
    /// `recipientAccountId`, else the caller's account ([`Record::account_id`]).
    account: Option<Cow<'r, str>>,
    principal: String,
    /// [`crate::event::Principal::kind`] of the caller.
    actor_kind: &'static str,
    epoch: Option<i64>,
    source: MatchSource<'r>,
    /// The sample, built at most once per record however many aggregates take it.
    sample: std::cell::OnceCell<Arc<Sample>>,
}

enum MatchSource<'r> {
    /// The record's text.
    Raw(RawRecord<'r>),
    Record(&'r Record),
}

impl<'r> MatchInfo<'r> {
    /// `None` when the caller's ARN is one of `exclude` (trailwarden's own remediations).
    ///
    /// `projected`: `userIdentity` as the scanner already parsed it for the candidates
    /// (holding the caller's paths), when it did; the caller is then read from it where that
    /// gives what the parse would.
    fn from_raw(
        raw: RawRecord<'r>,
        projected: Option<&RawValue<'_>>,
        exclude: &[String],
    ) -> Option<MatchInfo<'r>> {
        let located = raw.locate("userIdentity");
        let identity = located.map(|s| raw.text(s));
        // Without escapes anywhere in the identity, the projection holds the very strings the
        // borrowed parse would read.
        let from_projection = projected
            .filter(|_| located.is_some_and(|s| !s.escapes))
            .and_then(caller_from_projection);
        // Borrowed from the text; a string with escapes needs the owned parse.
        let borrowed: Option<CallerRef<'r>> = match from_projection {
            Some(_) => None,
            None => identity.and_then(|b| serde_json::from_slice(b).ok()),
        };
        let owned: Option<UserIdentity> = match (&from_projection, &borrowed) {
            (None, None) => identity.and_then(|b| serde_json::from_slice(b).ok()),
            _ => None,
        };
        let caller: Option<Caller<'_>> = from_projection
            .or_else(|| borrowed.as_ref().map(CallerRef::caller))
            .or_else(|| owned.as_ref().map(UserIdentity::caller));
        let principal = || match &caller {
            Some(c) => c.principal(),
            None => crate::event::Principal::Unknown {
                identity_type: None,
            },
        };
        if !exclude.is_empty()
            && principal()
                .match_arn()
                .is_some_and(|a| crate::glob::first_match(exclude, a).is_some())
        {
            return None;
        }
        let (name, actor_kind) = match &caller {
            Some(c) => c.display_and_kind(),
            None => {
                let p = principal();
                (p.display(), p.kind())
            }
        };
        let s = |k: &str| raw.str_field(k).ok().flatten();
        let event_time = s("eventTime");
        let account = s("recipientAccountId").or_else(|| {
            caller
                .and_then(|c| c.account_id)
                .map(|a| Cow::Owned(a.to_string()))
        });
        Some(MatchInfo {
            epoch: event_time.as_deref().and_then(crate::event::epoch_of),
            event_time,
            region: s("awsRegion"),
            event_name: s("eventName"),
            error_code: s("errorCode"),
            source_ip: s("sourceIPAddress"),
            event_id: s("eventID"),
            account,
            principal: name,
            actor_kind,
            source: MatchSource::Raw(raw),
            sample: std::cell::OnceCell::new(),
        })
    }

    fn from_record(record: &'r Record) -> MatchInfo<'r> {
        let b = |v: &'r Option<String>| v.as_deref().map(Cow::Borrowed);
        let principal = record.principal();
        MatchInfo {
            event_time: b(&record.event_time),
            region: b(&record.aws_region),
            event_name: b(&record.event_name),
            error_code: b(&record.error_code),
            source_ip: b(&record.source_ip_address),
            event_id: b(&record.event_id),
            account: record.account_id().map(Cow::Borrowed),
            principal: principal.display(),
            actor_kind: principal.kind(),
            epoch: record.time().map(|t| t.timestamp()),
            source: MatchSource::Record(record),
            sample: std::cell::OnceCell::new(),
        }
    }

    /// The sample an aggregate shows (its context as [`EventContext::from_record`] gives
    /// it), shared by every aggregate this record is the sample of.
    fn sample(&self) -> Arc<Sample> {
        self.sample
            .get_or_init(|| {
                let (source, agent) = match &self.source {
                    MatchSource::Record(r) => (
                        r.event_source.as_deref().map(Cow::Borrowed),
                        r.user_agent.as_deref().map(Cow::Borrowed),
                    ),
                    MatchSource::Raw(raw) => {
                        let s = |k: &str| raw.str_field(k).ok().flatten();
                        (s("eventSource"), s("userAgent"))
                    }
                };
                Arc::new(Sample::new(
                    [
                        self.event_name.as_deref(),
                        source.as_deref(),
                        self.event_time.as_deref(),
                        self.event_id.as_deref(),
                        Some(&self.principal),
                        self.source_ip.as_deref(),
                        agent.as_deref(),
                        self.error_code.as_deref(),
                        self.region.as_deref(),
                        self.account.as_deref(),
                    ],
                    self.actor_kind,
                ))
            })
            .clone()
    }
}

/// An aggregate's sample record: the fields of its [`EventContext`] in one buffer. Every
/// record that starts an aggregate (a new threshold group, mostly) makes one; as an
/// `EventContext` it would cost eleven allocations, here two. The context is made when a
/// finding is.
#[derive(Debug)]
struct Sample {
    text: String,
    /// Where each field is in `text`: see [`Sample::new`].
    spans: [Option<(u32, u32)>; 10],
    actor_kind: &'static str,
}

impl Sample {
    /// `fields`: event name, event source, event time, event id, actor, source address, user
    /// agent, error code, region, account (the fields of one record: under
    /// [`logfile::MAX_RECORD_BYTES`]). All but the account are the finding's sample context;
    /// with the account they are what an aggregate counts of the record ([`Counts`]).
    fn new(fields: [Option<&str>; 10], actor_kind: &'static str) -> Sample {
        let mut text = String::with_capacity(fields.iter().flatten().map(|f| f.len()).sum());
        let spans = fields.map(|f| {
            f.map(|f| {
                let at = text.len() as u32;
                text.push_str(f);
                (at, text.len() as u32)
            })
        });
        Sample {
            text,
            spans,
            actor_kind,
        }
    }

    fn get(&self, field: usize) -> Option<&str> {
        self.spans[field].map(|(a, b)| &self.text[a as usize..b as usize])
    }

    fn context(&self) -> EventContext {
        let s = |field| self.get(field).map(str::to_string);
        EventContext {
            event_name: s(0),
            event_source: s(1),
            event_time: s(2),
            event_id: s(3),
            actor: s(4),
            actor_kind: Some(self.actor_kind.to_string()),
            source_ip: s(5),
            user_agent: s(6),
            error_code: s(7),
            console_url: crate::event::console_url(self.get(3), self.get(8)),
        }
    }
}

/// The caller from a projected `userIdentity` (see [`super::index::CALLER_PATHS`]), as
/// [`CallerRef`] reads it from the text: each field once, a string or null. `None` where that
/// read would fail or differ (a repeated field, another type, an identity that is not an
/// object): the parse then decides, as before.
fn caller_from_projection<'v>(identity: &'v RawValue<'_>) -> Option<Caller<'v>> {
    type Fields<'v, 'a> = &'v [(Cow<'a, str>, RawValue<'a>)];
    /// The field's value (`Some(None)`: absent), `None` when it repeats.
    fn one<'v, 'a>(fields: Fields<'v, 'a>, key: &str) -> Option<Option<&'v RawValue<'a>>> {
        let mut found = fields.iter().filter(|(k, _)| k == key).map(|(_, v)| v);
        let first = found.next();
        found.next().is_none().then_some(first)
    }
    fn text<'v>(v: Option<&'v RawValue<'_>>) -> Option<Option<&'v str>> {
        match v {
            None | Some(RawValue::Null) => Some(None),
            Some(RawValue::Str(s)) => Some(Some(s)),
            Some(_) => None,
        }
    }
    fn object<'v, 'a>(v: Option<&'v RawValue<'a>>) -> Option<Option<Fields<'v, 'a>>> {
        match v {
            None | Some(RawValue::Null) => Some(None),
            Some(RawValue::Obj(fields)) => Some(Some(fields)),
            Some(_) => None,
        }
    }
    let RawValue::Obj(fields) = identity else {
        return None;
    };
    let s = |key: &str| text(one(fields, key)?);
    let issuer_arn = match object(one(fields, "sessionContext")?)? {
        None => None,
        Some(context) => match object(one(context, "sessionIssuer")?)? {
            None => None,
            Some(issuer) => text(one(issuer, "arn")?)?,
        },
    };
    Some(Caller {
        identity_type: s("type")?,
        principal_id: s("principalId")?,
        arn: s("arn")?,
        account_id: s("accountId")?,
        user_name: s("userName")?,
        invoked_by: s("invokedBy")?,
        issuer_arn,
    })
}

/// The finding for one record matched by `d`, as a scan of a file holding only that record
/// would report it: the real-time path words its alerts with it, so both paths read alike.
pub fn single_finding(d: &Detection, record: &Record) -> Finding {
    let mut agg = Agg::with_cap(GROUP_COUNTER_CAPACITY);
    agg.add(&MatchInfo::from_record(record));
    agg.finding(d, None)
}

/// What a record acted on, to tell incidents apart: the first ARN in the record's
/// `resources`, else the first of a few well-known names in `requestParameters` (bucket,
/// trail, user, role, key, secret, group, function, ...); empty when neither says. Both the
/// real-time path and the log scan use it, so the same record gives the same incident.
pub fn resource_of(request_parameters: Option<&Value>, resources: Option<&Value>) -> String {
    const KEYS: &[&str] = &[
        "bucketName",
        "trailName",
        "name",
        "userName",
        "roleName",
        "groupName",
        "policyArn",
        "keyId",
        "secretId",
        "groupId",
        "functionName",
        "topicArn",
        "queueUrl",
        "detectorId",
        "ruleName",
        "logGroupName",
        "instanceId",
        "dBInstanceIdentifier",
        "clusterName",
        "repositoryName",
        "stackName",
        "resourceArn",
        "roleArn",
        "accountId",
    ];
    if let Some(arn) = resources.and_then(Value::as_array).and_then(|a| {
        a.iter().find_map(|r| {
            r.get("ARN")
                .or_else(|| r.get("arn"))
                .and_then(Value::as_str)
        })
    }) {
        return arn.to_string();
    }
    let Some(Value::Object(params)) = request_parameters else {
        return String::new();
    };
    KEYS.iter()
        .find_map(|k| match params.get(*k) {
            Some(Value::String(v)) if !v.is_empty() => Some(v.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// One matching record as the shared state needs it: which event, when, who, on what, and
/// (for threshold detections) in which group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    pub principal: String,
    /// See [`resource_of`].
    pub resource: String,
    /// The threshold group (`group_by` values joined with ` | `).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// The matching records of one detection, kept when the scanner is asked to
/// ([`Scanner::keep_events`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionEvents {
    pub detection: String,
    pub events: Vec<MatchedEvent>,
    /// Matching records beyond the number kept.
    pub dropped: u64,
}

/// A threshold group that stayed below its threshold within what was scanned, as the finding
/// it would give if it crossed (the shared state may show it did, counting other files).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupFinding {
    pub detection: String,
    pub key: String,
    pub finding: Finding,
}

/// A finding left out because its incidents were already alerted (by the real-time path,
/// an earlier delivery of the same file, or another file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppressed {
    pub detection: String,
    pub count: u64,
    pub reason: String,
}

/// `(epoch, text)`; epochs compare when both are known, else the text does.
fn earlier_ref(a: (Option<i64>, &str), b: (Option<i64>, &str)) -> bool {
    match (a.0, b.0) {
        (Some(x), Some(y)) => x < y,
        _ => a.1 < b.1,
    }
}

/// A time stamp of an aggregate: its epoch and the slot of its text in the aggregate's
/// [`Tallies`].
type Stamp = (Option<i64>, u32);

#[derive(Debug, Clone)]
struct Agg {
    count: u64,
    first: Option<Stamp>,
    last: Option<Stamp>,
    /// Principals, regions, accounts, event names, error codes and source addresses; the
    /// stamps' and sample ids' texts.
    tallies: Tallies,
    /// Slots of the sample event ids, in arrival order (the first `samples`).
    sample_ids: [u32; SAMPLES],
    samples: usize,
    /// Shared with the other aggregates the same record started (thousands of threshold
    /// groups each hold an `Agg`, most never reported).
    sample: Option<Arc<Sample>>,
    /// `Some(epoch)` while the only record is the sample and its values are not counted yet
    /// (see [`Agg::add`]).
    pending: Option<Option<i64>>,
}

/// What an aggregate counts of one record.
struct Counts<'v> {
    principal: &'v str,
    region: Option<&'v str>,
    account: Option<&'v str>,
    event_name: Option<&'v str>,
    error_code: Option<&'v str>,
    source_ip: Option<&'v str>,
    event_id: Option<&'v str>,
    event_time: Option<&'v str>,
    epoch: Option<i64>,
}

impl<'v> Counts<'v> {
    fn of(m: &'v MatchInfo<'_>) -> Self {
        Counts {
            principal: &m.principal,
            region: m.region.as_deref(),
            account: m.account.as_deref(),
            event_name: m.event_name.as_deref(),
            error_code: m.error_code.as_deref(),
            source_ip: m.source_ip.as_deref(),
            event_id: m.event_id.as_deref(),
            event_time: m.event_time.as_deref(),
            epoch: m.epoch,
        }
    }

    /// The same values from the record's sample (see [`Sample::new`] for the fields).
    fn of_sample(s: &'v Sample, epoch: Option<i64>) -> Self {
        Counts {
            principal: s.get(4).unwrap_or_default(),
            region: s.get(8),
            account: s.get(9),
            event_name: s.get(0),
            error_code: s.get(7),
            source_ip: s.get(5),
            event_id: s.get(3),
            event_time: s.get(2),
            epoch,
        }
    }
}

impl Agg {
    fn with_cap(cap: usize) -> Self {
        Agg {
            count: 0,
            first: None,
            last: None,
            tallies: Tallies::with_cap(cap),
            sample_ids: [0; SAMPLES],
            samples: 0,
            sample: None,
            pending: None,
        }
    }

    /// Counts the pending first record's values (see [`Agg::add`]).
    fn settle(&mut self) {
        if let Some(epoch) = self.pending.take() {
            let sample = self.sample.clone().expect("a pending record is the sample");
            self.count_values(&Counts::of_sample(&sample, epoch));
        }
    }

    /// This aggregate with every record counted: itself, or a settled copy while its first
    /// record is pending.
    fn settled(&self) -> Cow<'_, Agg> {
        if self.pending.is_none() {
            return Cow::Borrowed(self);
        }
        let mut a = self.clone();
        a.settle();
        Cow::Owned(a)
    }

    fn stamp_text(&self, s: &Stamp) -> (Option<i64>, &str) {
        (s.0, self.tallies.text(s.1))
    }

    /// Keeps `stamp` as the first (or last) time if it is earlier (later) than the one kept.
    fn set_stamp(&mut self, last: bool, stamp: (Option<i64>, &str)) {
        let kept = if last { self.last } else { self.first };
        let replace = kept.is_none_or(|k| {
            let k = self.stamp_text(&k);
            if last {
                earlier_ref(k, stamp)
            } else {
                earlier_ref(stamp, k)
            }
        });
        if !replace {
            return;
        }
        let slot = match kept {
            Some((_, slot)) => {
                self.tallies.set_text(slot, stamp.1);
                slot
            }
            None => self.tallies.push_text(stamp.1),
        };
        let new = Some((stamp.0, slot));
        if last {
            self.last = new;
        } else {
            self.first = new;
        }
    }

    /// Counts a matching record. The first record of an aggregate only becomes its sample
    /// (which holds every value counted): its values are counted when a second record comes
    /// or a finding is made. Most threshold groups never see a second record, so they never
    /// fill their counters.
    fn add(&mut self, m: &MatchInfo<'_>) {
        if self.count == 0 && self.sample.is_none() {
            self.count = 1;
            self.sample = Some(m.sample());
            self.pending = Some(m.epoch);
            return;
        }
        self.settle();
        self.count += 1;
        self.count_values(&Counts::of(m));
        if self.sample.is_none() {
            self.sample = Some(m.sample());
        }
    }

    /// Counts one record's values (its `count` is already counted).
    fn count_values(&mut self, c: &Counts<'_>) {
        if let Some(t) = c.event_time {
            self.set_stamp(false, (c.epoch, t));
            self.set_stamp(true, (c.epoch, t));
        }
        let t = &mut self.tallies;
        t.add(tally::PRINCIPALS, c.principal, 1, 0);
        for (dim, v) in [
            (tally::REGIONS, c.region),
            (tally::ACCOUNTS, c.account),
            (tally::EVENT_NAMES, c.event_name),
            (tally::ERROR_CODES, c.error_code),
            (tally::SOURCE_IPS, c.source_ip),
        ] {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                t.add(dim, v, 1, 0);
            }
        }
        if let Some(id) = c.event_id.filter(|_| self.samples < SAMPLES) {
            self.sample_ids[self.samples] = self.tallies.push_text(id);
            self.samples += 1;
        }
    }

    fn merge(&mut self, o: &Agg) {
        self.settle();
        let o = &*o.settled();
        self.count += o.count;
        if let Some(f) = &o.first {
            self.set_stamp(false, o.stamp_text(f));
        }
        if let Some(l) = &o.last {
            self.set_stamp(true, o.stamp_text(l));
        }
        self.tallies.merge(&o.tallies);
        for &id in &o.sample_ids[..o.samples] {
            if self.samples < SAMPLES {
                self.sample_ids[self.samples] = self.tallies.push_text(o.tallies.text(id));
                self.samples += 1;
            }
        }
        let replace = match (&self.sample, &o.sample) {
            (None, Some(_)) => true,
            // The other's first record is now this one's first: its sample goes with it.
            (Some(_), Some(_)) => o.first.is_some_and(|f| {
                self.first
                    .is_some_and(|s| self.stamp_text(&s) == o.stamp_text(&f))
            }),
            _ => false,
        };
        if replace {
            self.sample = o.sample.clone();
        }
    }

    fn counted(&self, dim: tally::Dim) -> Vec<Counted> {
        self.tallies
            .top(dim, TOP)
            .into_iter()
            .map(|(value, count)| Counted {
                value: value.to_string(),
                count,
            })
            .collect()
    }

    fn finding(&self, d: &Detection, threshold: Option<ThresholdResult>) -> Finding {
        if self.pending.is_some() {
            return self.settled().finding(d, threshold);
        }
        let (distinct, at_least) = self.tallies.distinct(tally::PRINCIPALS);
        Finding {
            detection: d.id.clone(),
            title: d.title.clone(),
            severity: d.severity,
            description: d.description.clone(),
            family: d.family.clone(),
            runbook: d.runbook.clone(),
            references: d.reference_lines(),
            count: self.count,
            first_time: self.first.map(|s| self.tallies.text(s.1).to_string()),
            last_time: self.last.map(|s| self.tallies.text(s.1).to_string()),
            principals: self.counted(tally::PRINCIPALS),
            distinct_principals: distinct,
            distinct_principals_at_least: at_least,
            regions: self.counted(tally::REGIONS),
            accounts: self.counted(tally::ACCOUNTS),
            event_names: self.counted(tally::EVENT_NAMES),
            error_codes: self.counted(tally::ERROR_CODES),
            source_ips: self.counted(tally::SOURCE_IPS),
            sample_event_ids: self.sample_ids[..self.samples]
                .iter()
                .map(|&i| self.tallies.text(i).to_string())
                .collect(),
            sample: self.sample.as_deref().map(Sample::context),
            threshold,
        }
    }
}

#[derive(Debug)]
struct Group {
    agg: Agg,
    window: VecDeque<i64>,
    peak: u64,
}

impl Group {
    /// Below the threshold, and its newest record too far in time from `now` for the window.
    fn stale(&self, t: &Threshold, now: i64) -> bool {
        self.peak < u64::from(t.count)
            && self.window.back().is_some_and(|&newest| {
                (now - newest).abs() > t.window_seconds as i64 + STALE_SLACK_SECONDS
            })
    }
}

/// The shared allowance of threshold groups of one scan.
#[derive(Debug)]
struct GroupBudget {
    cap: usize,
    /// Groups each detection may hold beyond `cap` ([`RESERVED_GROUPS`]).
    reserve: usize,
    live: usize,
    /// Refused since the last sweep.
    refused: u64,
    /// Stale groups may be dropped (not when groups below their threshold are reported).
    evict: bool,
}

#[derive(Debug)]
struct ThresholdState {
    /// Boxed: the table stays small (it holds up to twice as many slots as groups). Keys are
    /// values a caller controls (addresses, names): the table's hasher is seeded at random
    /// for each table, so collisions cannot be prepared, and the group budget bounds it.
    groups: HashMap<String, Box<Group>>,
    /// Matches of groups beyond [`MAX_GROUPS`] or the scan's [`TOTAL_GROUPS`] (not evaluated).
    untracked: u64,
    /// Timestamps kept per window.
    window_cap: usize,
    /// [`group_trees`] of the detection's threshold.
    trees: Vec<FieldTree>,
    /// Per `group_by` path: the catalog's key id whose projection holds it
    /// ([`super::index::Index::group_tops`]).
    tops: Vec<Option<usize>>,
}

#[derive(Debug)]
enum DetState {
    Plain(Box<Agg>),
    Threshold(ThresholdState),
}

/// Per `group_by` path of a threshold: the projection that parses only what the key reads
/// of its top-level field (built once per scan, not per record).
fn group_trees(t: &Threshold) -> Vec<FieldTree> {
    t.group_by
        .iter()
        .map(|path| {
            let (_, rest, positional) = split_group_path(path);
            let mut tree = FieldTree::partial();
            // Array positions in the path need the whole value.
            if !rest.is_empty() && !positional {
                let segs: Vec<String> = rest.split('.').map(str::to_string).collect();
                tree.add(&segs);
            } else {
                tree.add(&[]);
            }
            tree
        })
        .collect()
}

/// `parsed`: the record's fields the scanner projected (key id, value); `tops`: per path, the
/// key id whose projection holds it ([`ThresholdState::tops`]), else it is projected here.
fn group_key(
    raw: &RawRecord<'_>,
    t: &Threshold,
    trees: &[FieldTree],
    parsed: &[(usize, RawValue<'_>)],
    tops: &[Option<usize>],
) -> String {
    let mut key = String::new();
    for (i, (path, tree)) in t.group_by.iter().zip(trees).enumerate() {
        if i > 0 {
            key.push_str(" | ");
        }
        let (top, rest) = path.split_once('.').unwrap_or((path, ""));
        let Some(bytes) = raw.get(top) else {
            key.push('-');
            continue;
        };
        let projected = tops
            .get(i)
            .copied()
            .flatten()
            .and_then(|id| parsed.iter().find(|(k, _)| *k == id))
            .map(|(_, v)| v);
        let own;
        let value = match projected {
            Some(v) => Ok(v),
            None => {
                own = tree.project_raw(bytes);
                own.as_ref()
            }
        };
        // Strings (nearly every key) borrow from the record; anything else is written as
        // the real-time path writes it.
        match value.map(|v| lookup(v, rest)) {
            Ok(Some(RawValue::Str(s))) if !s.is_empty() => key.push_str(s),
            Ok(Some(RawValue::Str(_)) | None) => key.push('-'),
            _ => {
                let v = tree
                    .project(bytes)
                    .or_else(|_| serde_json::from_slice(bytes))
                    .ok();
                push_key_part(&mut key, v.as_ref().and_then(|v| lookup(v, rest)));
            }
        }
    }
    key
}

/// The threshold group of a record given as JSON (the real-time path): the same key the
/// scanner forms from a log file's record, so both count into the same group.
pub fn group_key_of(record: &Value, t: &Threshold) -> String {
    group_key_with(t, |top, _| record.get(top).cloned())
}

/// `top_value(top, rest)` gives the top-level field `top`, of which the key reads `rest`.
fn group_key_with(t: &Threshold, mut top_value: impl FnMut(&str, &str) -> Option<Value>) -> String {
    let mut key = String::new();
    for (i, path) in t.group_by.iter().enumerate() {
        if i > 0 {
            key.push_str(" | ");
        }
        let (top, rest) = path.split_once('.').unwrap_or((path, ""));
        let v = top_value(top, rest);
        push_key_part(&mut key, v.as_ref().and_then(|v| lookup(v, rest)));
    }
    key
}

/// One path's part of a group key: a string as it is, `-` for none, other JSON as text.
fn push_key_part(key: &mut String, v: Option<&Value>) {
    match v {
        Some(Value::String(s)) if !s.is_empty() => key.push_str(s),
        Some(Value::String(_)) | None => key.push('-'),
        Some(other) => key.push_str(&other.to_string()),
    }
}

impl ThresholdState {
    fn full(&self, budget: &GroupBudget) -> bool {
        self.groups.len() >= MAX_GROUPS
            || (budget.live >= budget.cap && self.groups.len() >= budget.reserve)
    }

    /// Drops the stale groups (see [`TOTAL_GROUPS`]); how many.
    fn sweep(&mut self, t: &Threshold, now: i64) -> usize {
        let before = self.groups.len();
        self.groups.retain(|_, g| !g.stale(t, now));
        before - self.groups.len()
    }

    fn add(&mut self, t: &Threshold, key: String, m: &MatchInfo<'_>, budget: &mut GroupBudget) {
        let full = self.full(budget);
        let g = match self.groups.entry(key) {
            Entry::Occupied(g) => g.into_mut(),
            Entry::Vacant(_) if full => {
                self.untracked += 1;
                return;
            }
            Entry::Vacant(slot) => {
                budget.live += 1;
                slot.insert(Box::new(Group {
                    agg: Agg::with_cap(GROUP_COUNTER_CAPACITY),
                    window: VecDeque::new(),
                    peak: 0,
                }))
            }
        };
        g.agg.add(m);
        let Some(ts) = m.epoch else { return };
        // Records are nearly in time order: insert from the back.
        let at = g.window.iter().rposition(|x| *x <= ts).map_or(0, |p| p + 1);
        g.window.insert(at, ts);
        let window = t.window_seconds as i64;
        while let (Some(f), Some(b)) = (g.window.front(), g.window.back()) {
            if b - f >= window {
                g.window.pop_front();
            } else {
                break;
            }
        }
        if g.window.len() > self.window_cap {
            g.window.pop_front();
        }
        g.peak = g.peak.max(g.window.len() as u64);
    }

    fn finding(&self, d: &Detection, t: &Threshold) -> Option<Finding> {
        let mut over: Vec<(&String, &Group)> = self
            .groups
            .iter()
            .filter(|(_, g)| g.peak >= u64::from(t.count))
            .map(|(k, g)| (k, &**g))
            .collect();
        if over.is_empty() {
            return None;
        }
        over.sort_by(|a, b| {
            b.1.peak
                .cmp(&a.1.peak)
                .then(b.1.agg.count.cmp(&a.1.agg.count))
                .then(a.0.cmp(b.0))
        });
        let mut agg = Agg::with_cap(COUNTER_CAPACITY);
        for (_, g) in &over {
            agg.merge(&g.agg);
        }
        let groups = over
            .iter()
            .take(TOP)
            .map(|(k, g)| self.group_result(k, g))
            .collect();
        let result = ThresholdResult {
            groups_untracked: self.untracked,
            ..ThresholdResult::new(t, over.len() as u64, groups)
        };
        Some(agg.finding(d, Some(result)))
    }

    /// The finding of one group below the threshold, as it would read if it crossed.
    fn group_finding(&self, d: &Detection, t: &Threshold, key: &str, g: &Group) -> Finding {
        let result = ThresholdResult::new(t, 1, vec![self.group_result(key, g)]);
        g.agg.finding(d, Some(result))
    }

    /// How one group counted, as a finding reports it.
    fn group_result(&self, key: &str, g: &Group) -> ThresholdGroup {
        ThresholdGroup {
            key: key.to_string(),
            peak: g.peak,
            peak_capped: g.peak >= self.window_cap as u64,
            matches: g.agg.count,
        }
    }

    fn below(&self, d: &Detection, t: &Threshold) -> Vec<GroupFinding> {
        let mut out: Vec<GroupFinding> = self
            .groups
            .iter()
            .filter(|(_, g)| g.peak < u64::from(t.count))
            .map(|(k, g)| GroupFinding {
                detection: d.id.clone(),
                key: k.clone(),
                finding: self.group_finding(d, t, k, g),
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The scanner
// ---------------------------------------------------------------------------------------------

/// A record that could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordProblem {
    pub file: String,
    /// Position in the file's `Records` array (0-based).
    pub record: u64,
    pub message: String,
}

/// What was read of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    pub name: String,
    pub records: u64,
    /// Decompressed bytes read.
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compressed_bytes: Option<u64>,
    pub unparsed_records: u64,
    /// Why the file could not be read to the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of a scan: what was read and what was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    pub detections: usize,
    pub files: Vec<FileSummary>,
    pub records: u64,
    pub bytes: u64,
    pub compressed_bytes: u64,
    pub unparsed_records: u64,
    /// The first few records that could not be evaluated.
    pub unparsed_samples: Vec<RecordProblem>,
    /// Most severe first.
    pub findings: Vec<Finding>,
    pub duration_ms: u64,
    /// Matching records per detection (only when asked: [`Scanner::keep_events`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<DetectionEvents>,
    /// Threshold groups below their threshold (only with [`Scanner::keep_events`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups_below: Vec<GroupFinding>,
    /// Matching records made by trailwarden's own roles, left out ([`Scanner::exclude_principals`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub own_records: u64,
    /// Findings left out because their incidents were already alerted (filled in by whoever
    /// keeps the shared state).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<Suppressed>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A file that could not be read to the end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {error}")]
pub struct ScanError {
    pub name: String,
    pub error: LogError,
}

/// Runs a catalog over one or more log files and aggregates the matches.
pub struct Scanner<'c> {
    catalog: &'c Catalog,
    states: Vec<DetState>,
    files: Vec<FileSummary>,
    problems: Vec<RecordProblem>,
    unparsed: u64,
    started: Instant,
    cands: Vec<usize>,
    /// The buffer of the current record's projected fields, kept empty between records.
    parsed: Vec<(usize, RawValue<'static>)>,
    /// What is known of the current record's keys and literal tests.
    memo: Memo,
    /// Matching records kept per detection (0: none).
    keep_events: usize,
    /// Per detection: the matching records kept, and how many more there were.
    events: Vec<(Vec<MatchedEvent>, u64)>,
    /// Principal ARN globs whose records are left out (trailwarden's own roles).
    exclude: Vec<String>,
    own_records: u64,
    budget: GroupBudget,
}

/// Drops every detection's stale groups (see [`TOTAL_GROUPS`]).
fn sweep(catalog: &Catalog, states: &mut [DetState], budget: &mut GroupBudget, now: i64) {
    for (d, st) in catalog.detections().iter().zip(states.iter_mut()) {
        if let (DetState::Threshold(st), Some(t)) = (st, &d.threshold) {
            budget.live -= st.sweep(t, now);
        }
    }
}

/// An emptied vector of projected fields for the values of another record: collecting the
/// emptied vector in place keeps its allocation (the pairs have the same layout whatever the
/// values borrow from).
fn reuse<'b>(mut v: Vec<(usize, RawValue<'_>)>) -> Vec<(usize, RawValue<'b>)> {
    v.clear();
    v.into_iter().map(|(k, _)| (k, RawValue::Null)).collect()
}

/// What is known of the current record's top-level keys (where each is) and literal tests
/// (whether each passes), each found at most once per record. An entry counts for the record
/// whose number it carries, so nothing is cleared between records.
struct Memo {
    record: u32,
    keys: Vec<(u32, Option<Span>)>,
    literals: Vec<(u32, bool)>,
}

impl Memo {
    fn new(index: &Index) -> Memo {
        Memo {
            record: 0,
            keys: vec![(0, None); index.keys.len()],
            literals: vec![(0, false); index.literals.len()],
        }
    }

    /// Forgets what was known of the previous record.
    fn next_record(&mut self) {
        self.record = self.record.wrapping_add(1);
        if self.record == 0 {
            // After four billion records the numbers start again: no entry may look current
            // (record numbers start at 1, so 0 never is).
            self.keys.iter_mut().for_each(|e| e.0 = 0);
            self.literals.iter_mut().for_each(|e| e.0 = 0);
            self.record = 1;
        }
    }

    /// Where key `k` is in the record.
    #[inline]
    fn field(&mut self, raw: &RawRecord<'_>, index: &Index, k: usize) -> Option<Span> {
        let e = &mut self.keys[k];
        if e.0 != self.record {
            *e = (
                self.record,
                raw.locate_signed(index.keys[k].as_bytes(), index.key_sigs[k]),
            );
        }
        e.1
    }

    /// Whether literal test `l` passes on the record.
    #[inline]
    fn literal(&mut self, raw: &RawRecord<'_>, index: &Index, l: usize) -> bool {
        if self.literals[l].0 != self.record {
            let lit = &index.literals[l];
            let pass = self
                .field(raw, index, lit.key)
                .is_some_and(|s| lit.may_match(raw.text(s), s.escapes));
            self.literals[l] = (self.record, pass);
        }
        self.literals[l].1
    }
}

fn str_or_other<'a>(raw: &RawRecord<'a>, key: &str) -> Option<Option<Cow<'a, str>>> {
    raw.str_field(key).ok()
}

/// A top-level string field's text as UTF-8 bytes, as [`str_or_other`] reads it: a plain
/// ASCII string (no escape, nothing to decode, valid UTF-8 as it stands) is borrowed as it is
/// written, without the UTF-8 check. `eventName` and `eventSource` are looked up this way in
/// every record.
fn index_text<'a>(raw: &RawRecord<'a>, key: &str, sig: u64) -> Option<Option<Cow<'a, [u8]>>> {
    if let Some(s) = raw
        .locate_signed(key.as_bytes(), sig)
        .filter(|s| !s.escapes)
    {
        if let [b'"', inner @ .., b'"'] = raw.text(s) {
            if inner.is_ascii() {
                return Some(Some(Cow::Borrowed(inner)));
            }
        }
    }
    str_or_other(raw, key).map(|o| {
        o.map(|c| match c {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        })
    })
}

impl<'c> Scanner<'c> {
    pub fn new(catalog: &'c Catalog) -> Self {
        let states = catalog
            .detections()
            .iter()
            .enumerate()
            .map(|(i, d)| match &d.threshold {
                None => DetState::Plain(Box::new(Agg::with_cap(COUNTER_CAPACITY))),
                Some(t) => DetState::Threshold(ThresholdState {
                    groups: HashMap::new(),
                    untracked: 0,
                    window_cap: (t.count as usize).max(MIN_WINDOW_CAP),
                    trees: group_trees(t),
                    tops: catalog.index.group_tops[i].clone(),
                }),
            })
            .collect();
        Scanner {
            catalog,
            states,
            files: Vec::new(),
            problems: Vec::new(),
            unparsed: 0,
            started: Instant::now(),
            cands: Vec::with_capacity(64),
            parsed: Vec::with_capacity(16),
            memo: Memo::new(&catalog.index),
            keep_events: 0,
            events: Vec::new(),
            exclude: Vec::new(),
            own_records: 0,
            budget: GroupBudget {
                cap: TOTAL_GROUPS,
                reserve: RESERVED_GROUPS,
                live: 0,
                refused: 0,
                evict: true,
            },
        }
    }

    /// Tracks at most `cap` threshold groups over all detections (default [`TOTAL_GROUPS`]),
    /// besides the groups each detection may always hold (see [`Scanner::group_reserve`]).
    pub fn group_budget(mut self, cap: usize) -> Self {
        self.budget.cap = cap;
        self
    }

    /// Lets every threshold detection hold `reserve` groups even when the shared budget is
    /// spent (default [`RESERVED_GROUPS`]).
    pub fn group_reserve(mut self, reserve: usize) -> Self {
        self.budget.reserve = reserve;
        self
    }

    /// Keeps up to `cap` matching records per detection ([`ScanReport::events`]) and the
    /// threshold groups that stay below their threshold ([`ScanReport::groups_below`]), for
    /// the shared state (incidents, counters across files).
    pub fn keep_events(mut self, cap: usize) -> Self {
        self.keep_events = cap;
        // Every group below its threshold is reported: none is dropped as stale.
        self.budget.evict = cap == 0;
        self.events = vec![(Vec::new(), 0); self.catalog.len()];
        self
    }

    /// Leaves out records made by these principals (ARN globs, matched against the role ARN of
    /// a role session as `OWN_ROLE_ARNS` is): trailwarden's own remediations are not findings.
    pub fn exclude_principals(mut self, globs: &[String]) -> Self {
        self.exclude = globs.to_vec();
        self
    }

    /// Evaluates one record. `Err` when a field a detection needs does not parse.
    pub fn record(&mut self, raw: &RawRecord<'_>) -> Result<(), String> {
        let catalog = self.catalog;
        let index = &catalog.index;
        const NAME_SIG: u64 = logfile::key_sig(b"eventName");
        const SOURCE_SIG: u64 = logfile::key_sig(b"eventSource");
        let name = index_text(raw, "eventName", NAME_SIG);
        let source = index_text(raw, "eventSource", SOURCE_SIG);
        let mut cands = std::mem::take(&mut self.cands);
        index.candidates(
            name.as_ref().map(|o| o.as_deref()),
            source.as_ref().map(|o| o.as_deref()),
            catalog.len(),
            &mut cands,
        );
        if cands.is_empty() {
            self.cands = cands;
            return Ok(());
        }
        // Keep the detections whose required fields are all there and whose literal tests
        // pass (each test runs at most once per record, however many detections share it),
        // then parse every field they read before evaluating any: a record is either
        // evaluated or reported, never half of each.
        self.memo.next_record();
        {
            let memo = &mut self.memo;
            cands.retain(|&i| {
                let plan = &index.plans[i];
                plan.required
                    .iter()
                    .all(|&k| memo.field(raw, index, k).is_some())
                    && plan.literals.iter().all(|&l| memo.literal(raw, index, l))
            });
        }
        if cands.is_empty() {
            self.cands = cands;
            return Ok(());
        }
        // Each field once, however many detections read it; strings borrow from the record.
        let mut parsed: Vec<(usize, RawValue<'_>)> = reuse(std::mem::take(&mut self.parsed));
        for &i in &cands {
            for &k in &index.plans[i].reads {
                if parsed.iter().any(|(p, _)| *p == k) {
                    continue;
                }
                // eventName and eventSource as read for the candidates, when plain ASCII:
                // what the projection would give.
                let known = if Some(k) == index.name_key {
                    &name
                } else if Some(k) == index.source_key {
                    &source
                } else {
                    &None
                };
                if let Some(Some(Cow::Borrowed(text))) = known {
                    if let Ok(text) = std::str::from_utf8(text) {
                        parsed.push((k, RawValue::Str(Cow::Borrowed(text))));
                        continue;
                    }
                }
                let Some(bytes) = self.memo.field(raw, index, k).map(|s| raw.text(s)) else {
                    continue;
                };
                match index.projections[k].project_raw(bytes) {
                    Ok(v) => parsed.push((k, v)),
                    Err(e) => {
                        self.cands = cands;
                        self.parsed = reuse(parsed);
                        return Err(format!("field {}: {e}", index.keys[k]));
                    }
                }
            }
        }
        let mut info: Option<MatchInfo> = None;
        let mut resource: Option<String> = None;
        for &i in &cands {
            let d = &catalog.detections()[i];
            let get = |name: &str| {
                let sig = logfile::key_sig(name.as_bytes());
                parsed
                    .iter()
                    .find(|(k, _)| index.key_sigs[*k] == sig && index.keys[*k] == name)
                    .map(|(_, v)| v)
            };
            if !d.pattern.matches_fields(get) {
                continue;
            }
            if info.is_none() {
                // The caller is read from `userIdentity` as projected for the candidates, or
                // projected here (the projection keeps the caller's paths) when none read it.
                let projected;
                let identity = match index.caller_key {
                    Some(c) => match parsed.iter().find(|(k, _)| *k == c) {
                        Some((_, v)) => Some(v),
                        None => {
                            projected = self
                                .memo
                                .field(raw, index, c)
                                .and_then(|s| index.projections[c].project_raw(raw.text(s)).ok());
                            projected.as_ref()
                        }
                    },
                    None => None,
                };
                match MatchInfo::from_raw(*raw, identity, &self.exclude) {
                    Some(m) => info = Some(m),
                    None => {
                        self.own_records += 1;
                        break;
                    }
                }
            }
            let m = info.as_ref().expect("set above");
            let group = match &mut self.states[i] {
                DetState::Plain(agg) => {
                    agg.add(m);
                    None
                }
                DetState::Threshold(st) => {
                    let t = d
                        .threshold
                        .as_ref()
                        .expect("threshold state has a threshold");
                    let key = group_key(raw, t, &st.trees, &parsed, &st.tops);
                    if st.full(&self.budget) && !st.groups.contains_key(&key) {
                        self.budget.refused += 1;
                        if let Some(now) = m.epoch {
                            if self.budget.evict && self.budget.refused >= SWEEP_EVERY {
                                self.budget.refused = 0;
                                sweep(catalog, &mut self.states, &mut self.budget, now);
                            }
                        }
                    }
                    let DetState::Threshold(st) = &mut self.states[i] else {
                        unreachable!("a threshold detection keeps threshold state")
                    };
                    // The key is kept with the matching record only when records are kept.
                    let kept = (self.keep_events > 0).then(|| key.clone());
                    st.add(t, key, m, &mut self.budget);
                    kept
                }
            };
            if self.keep_events > 0 {
                let (kept, dropped) = &mut self.events[i];
                if kept.len() < self.keep_events {
                    let resource = resource.get_or_insert_with(|| {
                        resource_of(
                            raw.value("requestParameters").ok().flatten().as_ref(),
                            raw.value("resources").ok().flatten().as_ref(),
                        )
                    });
                    kept.push(MatchedEvent {
                        event_id: m.event_id.as_deref().map(str::to_string),
                        time: m.event_time.as_deref().map(str::to_string),
                        epoch: m.epoch,
                        principal: m.principal.clone(),
                        resource: resource.clone(),
                        group,
                    });
                } else {
                    *dropped += 1;
                }
            }
        }
        self.cands = cands;
        self.parsed = reuse(parsed);
        Ok(())
    }

    fn problem(&mut self, file: &str, record: u64, message: String) {
        self.unparsed += 1;
        if self.problems.len() < PROBLEM_SAMPLES {
            self.problems.push(RecordProblem {
                file: file.to_string(),
                record,
                message,
            });
        }
    }

    /// Scans one log file from any reader (gzip or plain JSON, told apart by the first bytes).
    /// On error, what was read before it still counts: call [`Scanner::finish`] for it.
    pub fn scan_reader<R: Read + Send + 'static>(
        &mut self,
        name: &str,
        source: R,
    ) -> Result<FileSummary, ScanError> {
        let opened = logfile::open(source).map_err(|e| {
            let error = LogError::Read {
                message: e.to_string(),
                progress: Default::default(),
            };
            self.files.push(FileSummary {
                name: name.to_string(),
                records: 0,
                bytes: 0,
                compressed_bytes: None,
                unparsed_records: 0,
                error: Some(error.to_string()),
            });
            ScanError {
                name: name.to_string(),
                error,
            }
        })?;
        let gzip = opened.gzip;
        let mut reader = LogReader::from_opened(opened);
        let unparsed_before = self.unparsed;
        let outcome = loop {
            match reader.next() {
                Ok(Some(Element::Record(raw))) => {
                    if let Err(m) = self.record(&raw) {
                        self.problem(name, raw.index, m);
                    }
                }
                Ok(Some(Element::Unreadable { index, reason })) => {
                    self.problem(name, index, reason)
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        let p = reader.progress();
        let summary = FileSummary {
            name: name.to_string(),
            records: p.records,
            bytes: reader.bytes_read(),
            compressed_bytes: if gzip { p.compressed_bytes } else { None },
            unparsed_records: self.unparsed - unparsed_before,
            error: outcome.as_ref().err().map(ToString::to_string),
        };
        self.files.push(summary.clone());
        outcome.map(|_| summary).map_err(|error| ScanError {
            name: name.to_string(),
            error,
        })
    }

    /// Scans a local `.json.gz` or `.json` log file.
    pub fn scan_path(&mut self, path: &Path) -> Result<FileSummary, ScanError> {
        let name = path.display().to_string();
        match std::fs::File::open(path) {
            Ok(f) => self.scan_reader(&name, f),
            Err(e) => {
                let error = LogError::Read {
                    message: e.to_string(),
                    progress: Default::default(),
                };
                self.files.push(FileSummary {
                    name: name.clone(),
                    records: 0,
                    bytes: 0,
                    compressed_bytes: None,
                    unparsed_records: 0,
                    error: Some(error.to_string()),
                });
                Err(ScanError { name, error })
            }
        }
    }

    /// The findings so far, most severe first.
    pub fn findings(&self) -> Vec<Finding> {
        let mut out: Vec<Finding> = self
            .catalog
            .detections()
            .iter()
            .zip(&self.states)
            .filter_map(|(d, st)| match st {
                DetState::Plain(a) if a.count > 0 => Some(a.finding(d, None)),
                DetState::Plain(_) => None,
                DetState::Threshold(t) => t.finding(d, d.threshold.as_ref().expect("threshold")),
            })
            .collect();
        out.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(b.count.cmp(&a.count))
                .then_with(|| a.detection.cmp(&b.detection))
        });
        out
    }

    /// The report of everything scanned.
    pub fn finish(self) -> ScanReport {
        let findings = self.findings();
        let mut events = Vec::new();
        let mut groups_below = Vec::new();
        if self.keep_events > 0 {
            for ((d, st), (kept, dropped)) in self
                .catalog
                .detections()
                .iter()
                .zip(&self.states)
                .zip(&self.events)
            {
                if !kept.is_empty() || *dropped > 0 {
                    events.push(DetectionEvents {
                        detection: d.id.clone(),
                        events: kept.clone(),
                        dropped: *dropped,
                    });
                }
                if let (DetState::Threshold(t), Some(th)) = (st, &d.threshold) {
                    groups_below.extend(t.below(d, th));
                }
            }
        }
        ScanReport {
            events,
            groups_below,
            own_records: self.own_records,
            suppressed: Vec::new(),
            detections: self.catalog.len(),
            records: self.files.iter().map(|f| f.records).sum(),
            bytes: self.files.iter().map(|f| f.bytes).sum(),
            compressed_bytes: self.files.iter().filter_map(|f| f.compressed_bytes).sum(),
            unparsed_records: self.unparsed,
            unparsed_samples: self.problems,
            files: self.files,
            findings,
            duration_ms: self.started.elapsed().as_millis() as u64,
        }
    }
}

/// Scans one log file and reports. A file that cannot be read to the end is an error (use
/// [`Scanner`] to keep what was found before the error).
pub fn scan_reader<R: Read + Send + 'static>(
    catalog: &Catalog,
    name: &str,
    source: R,
) -> Result<ScanReport, ScanError> {
    let mut s = Scanner::new(catalog);
    s.scan_reader(name, source)?;
    Ok(s.finish())
}

#[cfg(test)]
mod both_paths_tests {
    //! What the log scan derives from a record's raw text must equal what the real-time path
    //! derives from the parsed record: the threshold group it counts into, and the sample an
    //! alert shows.

    use super::*;
    use crate::detect::BuiltinOptions;
    use serde_json::json;

    #[test]
    fn group_keys_from_raw_text_equal_the_real_time_keys() {
        let t = Threshold {
            count: 1,
            window_seconds: 60,
            group_by: [
                "userIdentity.arn",
                "errorCode",
                "requestParameters.n",
                "requestParameters.list.1",
                "requestParameters.obj",
                "requestParameters.missing",
                "requestParameters.esc",
                "sourceIPAddress",
            ]
            .map(str::to_string)
            .to_vec(),
        };
        let trees = group_trees(&t);
        let records = [
            json!({"userIdentity": {"arn": "arn:aws:iam::1:user/a"}, "errorCode": "AccessDenied",
                   "requestParameters": {"n": 3, "list": ["x", "y"], "obj": {"k": [1, null]},
                                         "esc": "a\"b\u{e9}"}, "sourceIPAddress": "1.2.3.4"}),
            json!({"userIdentity": null, "errorCode": null,
                   "requestParameters": {"n": 1.5, "list": [null, null], "obj": null, "esc": ""},
                   "sourceIPAddress": true}),
            json!({"userIdentity": {"arn": ""}, "requestParameters": {"list": [1, {"a": 2}],
                   "obj": [], "n": -7}, "sourceIPAddress": ["a"]}),
            json!({"requestParameters": null}),
            json!({}),
        ];
        for record in &records {
            let text = record.to_string();
            let mut fields = Vec::new();
            let raw = RawRecord::scan(text.as_bytes(), &mut fields).unwrap();
            assert_eq!(
                group_key(&raw, &t, &trees, &[], &[]),
                group_key_of(record, &t),
                "{text}"
            );
        }
    }

    #[test]
    fn the_sample_read_from_raw_text_equals_the_real_time_sample() {
        let catalog = Catalog::builtin(BuiltinOptions::default());
        let mut checked = 0;
        for d in catalog.detections() {
            for example in &d.examples.matching {
                let text = example.to_string();
                let mut fields = Vec::new();
                let raw = RawRecord::scan(text.as_bytes(), &mut fields).unwrap();
                let record: Record = serde_json::from_value(example.clone()).unwrap();
                let from_raw = MatchInfo::from_raw(raw, None, &[]).expect("nothing excluded");
                assert_eq!(
                    from_raw.sample().context(),
                    EventContext::from_record(&record),
                    "{}: {text}",
                    d.id
                );
                checked += 1;
            }
        }
        assert!(checked > 250, "only {checked} examples");
    }

    /// The caller read without copying strings names the same principal and account as the
    /// parsed record, for every identity type, and falls back to the full parse where a
    /// string holds an escape (which cannot be borrowed) or a field has an unexpected type.
    #[test]
    fn the_caller_read_from_raw_text_equals_the_parsed_caller() {
        let role = "arn:aws:sts::111122223333:assumed-role/Admin/alice";
        let issuer = json!({"sessionIssuer": {"type": "Role",
                             "arn": "arn:aws:iam::111122223333:role/ops/Admin"}});
        let identities = [
            json!({"type": "Root", "accountId": "111122223333", "arn": "arn:aws:iam::111122223333:root"}),
            json!({"type": "IAMUser", "userName": "bob", "arn": "arn:aws:iam::111122223333:user/bob",
                   "accountId": "111122223333"}),
            json!({"type": "AssumedRole", "arn": role, "sessionContext": issuer}),
            json!({"type": "AssumedRole", "arn": role}),
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_0a1b/carol"}),
            json!({"type": "IdentityCenterUser", "principalId": "d-1234/carol"}),
            json!({"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}),
            json!({"invokedBy": "ec2.amazonaws.com"}),
            json!({"type": "WebIdentityUser", "userName": "sub-1"}),
            json!({"type": "Mystery"}),
            // Escaped strings: "\/" and "\u0041" below survive `to_string` as escapes.
            json!({"type": "IAMUser", "userName": "dave", "arn": "arn:aws:iam::1:user/dave"}),
            // A field of an unexpected type: neither read gets a principal.
            json!({"type": "IAMUser", "userName": 7}),
            json!(null),
        ];
        for (i, identity) in identities.iter().enumerate() {
            let record = json!({"eventTime": "2024-01-01T00:00:00Z", "eventName": "X",
                                "userIdentity": identity});
            let mut text = record.to_string();
            if i == 10 {
                text = text.replace("user/dave", "user\\/d\\u0061ve");
                assert!(text.contains("user\\/d\\u0061ve"), "{text}");
            }
            // The real-time path cannot read such a record at all: its caller is unknown.
            let parsed: Record = serde_json::from_str(&text).unwrap_or_default();
            let mut fields = Vec::new();
            let raw = RawRecord::scan(text.as_bytes(), &mut fields).unwrap();
            let m = MatchInfo::from_raw(raw, None, &[]).expect("nothing excluded");
            let want = parsed.principal();
            assert_eq!(m.principal, want.display(), "{text}");
            assert_eq!(m.actor_kind, want.kind(), "{text}");
            assert_eq!(m.account.as_deref(), parsed.account_id(), "{text}");
            if i == 11 {
                assert_eq!(want.kind(), "Unknown");
            }
        }
        // A repeated key fails both reads, as serde's derive does for the parsed record.
        let text = r#"{"userIdentity": {"type": "IAMUser", "userName": "a", "userName": "b"}}"#;
        assert!(serde_json::from_str::<Record>(text).is_err());
        let mut fields = Vec::new();
        let raw = RawRecord::scan(text.as_bytes(), &mut fields).unwrap();
        let m = MatchInfo::from_raw(raw, None, &[]).expect("nothing excluded");
        assert_eq!(m.actor_kind, "Unknown");
    }

    /// A threshold group's key read from the fields the scanner projected for the candidates
    /// is the key the real-time path forms, for every threshold detection of the built-in
    /// catalog, on every example and on records whose keyed fields are of other types, repeat
    /// or hold escapes.
    #[test]
    fn group_keys_read_from_the_projection_equal_the_real_time_keys() {
        // Plus detections keyed by fields no pattern reads, below fields patterns do read.
        let extra = r#"{"detections": [
            {"id": "keyed-by-unread", "title": "t", "severity": "low", "description": "d",
             "pattern": {"requestParameters": {"attribute": ["userData"]}},
             "threshold": {"count": 2, "window_seconds": 60,
                           "group_by": ["requestParameters.instanceId", "userIdentity.sessionContext.sessionIssuer.userName", "tlsDetails.tlsVersion"]}},
            {"id": "keyed-by-position", "title": "t", "severity": "low", "description": "d",
             "pattern": {"requestParameters": {"items": [{"exists": true}]}},
             "threshold": {"count": 2, "window_seconds": 60, "group_by": ["requestParameters.items.0"]}}
        ]}"#;
        let catalog = Catalog::builtin(BuiltinOptions::default())
            .with_overrides(extra, "test")
            .unwrap();
        let index = &catalog.index;
        let scanner = Scanner::new(&catalog);
        let mut records: Vec<String> = catalog
            .detections()
            .iter()
            .flat_map(|d| d.examples.matching.iter().chain(&d.examples.no_match))
            .map(Value::to_string)
            .collect();
        let odd = [
            r#"{"userIdentity": {"arn": 7}, "requestParameters": {"bucketName": ["b"]}, "sourceIPAddress": null}"#,
            r#"{"userIdentity": {"arn": "a", "arn": "b"}, "requestParameters": {"bucketName": "x", "bucketName": {"k": 1}}}"#,
            r#"{"userIdentity": {"arn": "arn:aws:iam::1:user\/e\u0073c"}, "requestParameters": {"bucketName": ""}}"#,
            r#"{"userIdentity": [{"arn": "a"}], "requestParameters": [{"bucketName": "b"}], "sourceIPAddress": {"ip": 1}}"#,
            r#"{"userIdentity": {"arn": null, "userName": false}, "requestParameters": null}"#,
            r#"{"userIdentity": "x", "requestParameters": "y", "sourceIPAddress": 1.5}"#,
            r#"{}"#,
            r#"{"requestParameters": {"attribute": "userData", "instanceId": "i-1", "items": ["a", "b"]}, "tlsDetails": {"tlsVersion": "TLSv1.3"},
                "userIdentity": {"sessionContext": {"sessionIssuer": {"userName": "r", "arn": "x"}}}}"#,
            r#"{"requestParameters": {"attribute": "userData", "instanceId": {"id": 1}, "items": [{"a": 1}]}, "tlsDetails": null,
                "userIdentity": {"sessionContext": {"sessionIssuer": {"userName": ["r"]}}}}"#,
        ];
        records.extend(odd.iter().map(|s| s.to_string()));
        let mut compared = 0;
        let mut from_projection = 0;
        for text in &records {
            let mut fields = Vec::new();
            let raw = RawRecord::scan(text.as_bytes(), &mut fields).unwrap();
            let value: Value = serde_json::from_str(text).unwrap();
            // Every field the catalog reads, projected as the scanner projects it.
            let parsed: Vec<(usize, RawValue<'_>)> = (0..index.keys.len())
                .filter_map(|k| {
                    let bytes = raw.get(&index.keys[k])?;
                    Some((k, index.projections[k].project_raw(bytes).ok()?))
                })
                .collect();
            for (d, state) in catalog.detections().iter().zip(&scanner.states) {
                let (Some(t), DetState::Threshold(st)) = (&d.threshold, state) else {
                    continue;
                };
                let want = group_key_of(&value, t);
                assert_eq!(
                    group_key(&raw, t, &st.trees, &[], &[]),
                    want,
                    "{}: {text}",
                    d.id
                );
                assert_eq!(
                    group_key(&raw, t, &st.trees, &parsed, &st.tops),
                    want,
                    "{}: {text}",
                    d.id
                );
                compared += 1;
                from_projection += st.tops.iter().flatten().count();
            }
        }
        assert!(compared > 1000, "{compared}");
        // The keys of most threshold detections are read from the projection.
        assert!(
            from_projection > compared / 2,
            "{from_projection} of {compared}"
        );
    }

    /// The caller read from the scanner's projection of `userIdentity` (the catalog's paths
    /// plus the caller's) is the caller read from the text, whatever the identity holds:
    /// every identity of the built-in examples and identities that make one read or the
    /// other give up (repeats, other types, escapes, a context that is not an object).
    #[test]
    fn the_caller_read_from_the_projection_equals_the_caller_read_from_text() {
        let catalog = Catalog::builtin(BuiltinOptions::default());
        let index = &catalog.index;
        let key = index
            .caller_key
            .expect("the built-in catalog reads userIdentity");
        let tree = &index.projections[key];
        let mut identities: Vec<String> = catalog
            .detections()
            .iter()
            .flat_map(|d| d.examples.matching.iter().chain(&d.examples.no_match))
            .filter_map(|e| e.get("userIdentity").map(Value::to_string))
            .collect();
        let issuer = r#"{"type": "Role", "arn": "arn:aws:iam::1:role/Admin"}"#;
        identities.extend(
            [
                r#"{"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/Admin/a", "sessionContext": {"sessionIssuer": ISSUER}}"#,
                r#"{"type": "AssumedRole", "sessionContext": {"sessionIssuer": ISSUER, "sessionIssuer": ISSUER}}"#,
                r#"{"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"arn": "x", "arn": "y"}}}"#,
                r#"{"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"arn": 5}}}"#,
                r#"{"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"arn": null}}}"#,
                r#"{"type": "AssumedRole", "sessionContext": {"sessionIssuer": null}}"#,
                r#"{"type": "AssumedRole", "sessionContext": {"sessionIssuer": "x"}}"#,
                r#"{"type": "AssumedRole", "sessionContext": [ISSUER]}"#,
                r#"{"type": "AssumedRole", "sessionContext": [{"arn": "x"}]}"#,
                r#"{"type": "AssumedRole", "sessionContext": "x"}"#,
                r#"{"type": "AssumedRole", "sessionContext": null, "arn": "arn:aws:sts::1:assumed-role/R/s"}"#,
                r#"{"type": "IAMUser", "userName": "a", "userName": "a"}"#,
                r#"{"type": "IAMUser", "userName": null, "arn": "arn:aws:iam::1:user/a"}"#,
                r#"{"type": "IAMUser", "userName": ["a"], "arn": "arn:aws:iam::1:user/a"}"#,
                r#"{"type": "IAMUser", "arn": "arn:aws:iam::1:user\/a", "accessKeyId": 7}"#,
                r#"{"typ\u0065": "Root", "accountId": "1", "accessKeyId": 7}"#,
                r#"{"typ\u0065": "Root", "accountId": "1"}"#,
                r#"{"type": "Root", "accountId": "1", "accessKeyId": 7}"#,
                r#"{"type": "Root", "accountId": 1}"#,
                r#"{"type": "Root", "accountId": "1", "unknown": {"deep": [1, {"x": null}]}, "unknown": 2}"#,
                r#"{"type": "AWSService", "invokedBy": "ec2.amazonaws.com", "invokedBy": "x"}"#,
                r#"{}"#,
                r#"null"#,
                r#""Root""#,
                r#"[{"type": "Root"}]"#,
                r#"7"#,
            ]
            .iter()
            .map(|t| t.replace("ISSUER", issuer)),
        );
        let mut projected_reads = 0;
        for identity in &identities {
            let text =
                format!(r#"{{"eventTime": "2024-01-01T00:00:00Z", "userIdentity": {identity}}}"#);
            let mut fields = Vec::new();
            let raw = RawRecord::scan(text.as_bytes(), &mut fields).unwrap();
            let projection = tree
                .project_raw(raw.get("userIdentity").unwrap())
                .unwrap_or_else(|e| panic!("{identity}: {e}"));
            let want = MatchInfo::from_raw(raw, None, &[]).expect("nothing excluded");
            let got = MatchInfo::from_raw(raw, Some(&projection), &[]).expect("nothing excluded");
            assert_eq!(got.principal, want.principal, "{identity}");
            assert_eq!(got.actor_kind, want.actor_kind, "{identity}");
            assert_eq!(got.account, want.account, "{identity}");
            if !identity.contains('\\') && caller_from_projection(&projection).is_some() {
                projected_reads += 1;
            }
        }
        // Most identities are read from the projection (the rest go to the parse).
        assert!(
            projected_reads > identities.len() / 2,
            "{projected_reads} of {}",
            identities.len()
        );
    }
}

#[cfg(test)]
mod pending_tests {
    //! An aggregate's first record waits as its sample until a second comes or a finding is
    //! made: what it reports must not depend on when the record's values were counted.

    use super::*;
    use crate::detect::BuiltinOptions;
    use serde_json::json;

    fn records() -> Vec<Record> {
        let rec = |v: serde_json::Value| serde_json::from_value::<Record>(v).unwrap();
        vec![
            rec(
                json!({"eventTime": "2024-08-01T12:00:05Z", "eventName": "GetObject",
                "awsRegion": "eu-west-1", "errorCode": "AccessDenied",
                "sourceIPAddress": "198.51.100.7", "eventID": "e1", "recipientAccountId": "111122223333",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice",
                                 "accountId": "111122223333", "userName": "alice"}}),
            ),
            // Earlier, and missing most fields; an empty error code is not counted.
            rec(json!({"eventTime": "2024-08-01T11:59:00Z", "errorCode": "", "eventID": "e2"})),
            rec(
                json!({"eventTime": "2024-08-01T12:10:00Z", "eventName": "GetObject",
                "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9", "eventID": "e3",
                "userIdentity": {"type": "Root", "arn": "arn:aws:iam::444455556666:root",
                                 "accountId": "444455556666"}}),
            ),
        ]
    }

    /// Every count of `agg` as a finding reports it.
    fn report(agg: &Agg) -> Finding {
        let catalog = Catalog::builtin(BuiltinOptions::default());
        agg.finding(&catalog.detections()[0], None)
    }

    /// An aggregate of `records` with each record counted at once (the first settled
    /// straight away).
    fn eager(records: &[Record], cap: usize) -> Agg {
        let mut a = Agg::with_cap(cap);
        for r in records {
            a.add(&MatchInfo::from_record(r));
            a.settle();
        }
        a
    }

    #[test]
    fn a_pending_first_record_reports_as_if_counted_at_once() {
        let recs = records();
        for cap in [GROUP_COUNTER_CAPACITY, COUNTER_CAPACITY] {
            for n in 1..=recs.len() {
                let mut lazy = Agg::with_cap(cap);
                for r in &recs[..n] {
                    lazy.add(&MatchInfo::from_record(r));
                }
                assert_eq!(lazy.pending.is_some(), n == 1, "{n} records");
                let want = report(&eager(&recs[..n], cap));
                assert_eq!(report(&lazy), want, "{n} records, cap {cap}");
                assert_eq!(want.count, n as u64);
            }
        }
        // What a single record's aggregate counts, spelled out.
        let one = report(&{
            let mut a = Agg::with_cap(GROUP_COUNTER_CAPACITY);
            a.add(&MatchInfo::from_record(&recs[0]));
            a
        });
        assert_eq!(one.first_time.as_deref(), Some("2024-08-01T12:00:05Z"));
        assert_eq!(one.last_time, one.first_time);
        let values = |c: &[Counted]| {
            c.iter()
                .map(|c| (c.value.clone(), c.count))
                .collect::<Vec<_>>()
        };
        assert_eq!(values(&one.regions), [("eu-west-1".to_string(), 1)]);
        assert_eq!(values(&one.accounts), [("111122223333".to_string(), 1)]);
        assert_eq!(values(&one.event_names), [("GetObject".to_string(), 1)]);
        assert_eq!(values(&one.error_codes), [("AccessDenied".to_string(), 1)]);
        assert_eq!(values(&one.source_ips), [("198.51.100.7".to_string(), 1)]);
        assert_eq!(one.principals.len(), 1);
        assert_eq!(one.sample_event_ids, ["e1"]);
        assert_eq!(
            one.sample.as_ref().and_then(|s| s.event_id.as_deref()),
            Some("e1")
        );
    }

    #[test]
    fn merging_pending_aggregates_counts_their_first_records() {
        let recs = records();
        // Each record alone (pending), merged into one: as if one aggregate counted them all.
        let mut merged = Agg::with_cap(COUNTER_CAPACITY);
        for r in &recs {
            let mut one = Agg::with_cap(GROUP_COUNTER_CAPACITY);
            one.add(&MatchInfo::from_record(r));
            assert!(one.pending.is_some());
            merged.merge(&one);
        }
        let mut settled = Agg::with_cap(COUNTER_CAPACITY);
        for r in &recs {
            settled.merge(&eager(std::slice::from_ref(r), GROUP_COUNTER_CAPACITY));
        }
        let got = report(&merged);
        assert_eq!(got, report(&settled));
        assert_eq!(got.count, 3);
        // The earliest record (the second) is the first time and the merged sample.
        assert_eq!(got.first_time.as_deref(), Some("2024-08-01T11:59:00Z"));
        assert_eq!(got.last_time.as_deref(), Some("2024-08-01T12:10:00Z"));
        assert_eq!(
            got.sample.as_ref().and_then(|s| s.event_id.as_deref()),
            Some("e2")
        );
        assert_eq!(got.sample_event_ids, ["e1", "e2", "e3"]);
        // A pending aggregate merged into a pending one.
        let mut a = Agg::with_cap(GROUP_COUNTER_CAPACITY);
        a.add(&MatchInfo::from_record(&recs[0]));
        let mut b = Agg::with_cap(GROUP_COUNTER_CAPACITY);
        b.add(&MatchInfo::from_record(&recs[2]));
        a.merge(&b);
        assert_eq!(
            report(&a),
            report(&eager(
                &[recs[0].clone(), recs[2].clone()],
                GROUP_COUNTER_CAPACITY
            ))
        );
    }
}

#[cfg(test)]
mod reuse_tests {
    use super::*;

    /// The buffer of projected fields is emptied and handed to the next record without a new
    /// allocation (the scanner relies on it not to allocate that buffer per evaluated record).
    #[test]
    fn an_emptied_buffer_keeps_its_allocation() {
        let text = String::from("GetObject");
        let mut v: Vec<(usize, RawValue<'_>)> = Vec::with_capacity(16);
        v.push((3, RawValue::Str(std::borrow::Cow::Borrowed(text.as_str()))));
        v.push((4, RawValue::Arr(vec![RawValue::Null])));
        let (ptr, cap) = (v.as_ptr() as usize, v.capacity());
        let kept: Vec<(usize, RawValue<'static>)> = reuse(v);
        assert!(kept.is_empty());
        assert_eq!(
            (kept.as_ptr() as usize, kept.capacity()),
            (ptr, cap),
            "a new buffer was allocated"
        );
    }
}

#[cfg(test)]
mod memo_tests {
    use super::*;
    use crate::detect::BuiltinOptions;

    /// What is known of one record is not taken for the next, including when the record
    /// numbers start again after four billion records.
    #[test]
    fn a_record_never_sees_what_was_found_in_another() {
        let cat = Catalog::builtin(BuiltinOptions::default());
        let index = &cat.index;
        let k = index.keys.iter().position(|k| k == "errorCode").unwrap();
        let l = (0..index.literals.len())
            .find(|&l| {
                index.literals[l].key == k
                    && index.literals[l].may_match(br#""AccessDenied""#, false)
            })
            .expect("a literal test on errorCode that AccessDenied passes");
        let texts = [
            r#"{"errorCode":"AccessDenied","eventName":"X"}"#,
            r#"{"eventName":"X"}"#,
        ];
        let mut fields: Vec<Vec<crate::logfile::Field>> = vec![Vec::new(), Vec::new()];
        let [f0, f1] = &mut fields[..] else {
            unreachable!()
        };
        let with = RawRecord::scan(texts[0].as_bytes(), f0).unwrap();
        let without = RawRecord::scan(texts[1].as_bytes(), f1).unwrap();
        for start in [0, u32::MAX - 2] {
            let mut memo = Memo::new(index);
            memo.record = start;
            for (n, raw) in [with, without, with, without, with].iter().enumerate() {
                memo.next_record();
                let has = n % 2 == 0;
                assert_eq!(
                    memo.field(raw, index, k).is_some(),
                    has,
                    "record {n} from {start}"
                );
                // Asked twice: the same answer from what is known.
                assert_eq!(memo.field(raw, index, k).is_some(), has);
                // The literal test is first asked of the third record (the first after the
                // numbers start again, from u32::MAX - 2).
                if n >= 2 {
                    assert_eq!(memo.literal(raw, index, l), has, "record {n} from {start}");
                }
            }
        }
    }
}

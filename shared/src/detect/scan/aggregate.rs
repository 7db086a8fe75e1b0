//! Aggregation: what is kept of the records a detection matched (counters of the values that
//! matter, samples, first and last times), and the matched events of the real-time path.

use super::*;

/// What is known about a matching record (computed once, however many detections match).
/// Strings borrow from the record's text where they hold no escapes; the [`Sample`] is only
/// built when an aggregate takes this record as its first match.
pub(super) struct MatchInfo<'r> {
    pub(super) event_time: Option<Cow<'r, str>>,
    pub(super) region: Option<Cow<'r, str>>,
    pub(super) event_name: Option<Cow<'r, str>>,
    pub(super) error_code: Option<Cow<'r, str>>,
    pub(super) source_ip: Option<Cow<'r, str>>,
    pub(super) event_id: Option<Cow<'r, str>>,
    /// `recipientAccountId`, else the caller's account ([`Record::account_id`]).
    pub(super) account: Option<Cow<'r, str>>,
    pub(super) principal: String,
    /// [`crate::event::Principal::kind`] of the caller.
    pub(super) actor_kind: &'static str,
    pub(super) epoch: Option<i64>,
    pub(super) source: MatchSource<'r>,
    /// The sample, built at most once per record however many aggregates take it.
    pub(super) sample: std::cell::OnceCell<Arc<Sample>>,
}

pub(super) enum MatchSource<'r> {
    /// The record's text.
    Raw(RawRecord<'r>),
    Record(&'r Record),
}

impl<'r> MatchInfo<'r> {
    /// `None` when the caller's ARN is one of `exclude` making a call of trailwarden's own
    /// ([`crate::config::is_own_call`]: its remediations).
    ///
    /// `projected`: `userIdentity` as the scanner already parsed it for the candidates
    /// (holding the caller's paths), when it did; the caller is then read from it where that
    /// gives what the parse would.
    pub(super) fn from_raw(
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
            && principal().match_arn().is_some_and(|a| {
                crate::glob::first_match(exclude, a).is_some() && {
                    let field = |k| raw.str_field(k).ok().flatten().unwrap_or_default();
                    let call = crate::config::call_of(&field("eventSource"), &field("eventName"));
                    let request = raw.value("requestParameters").ok().flatten();
                    crate::config::is_own_call(exclude, a, &call, request.as_ref())
                }
            })
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

    pub(super) fn from_record(record: &'r Record) -> MatchInfo<'r> {
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
    pub(super) fn sample(&self) -> Arc<Sample> {
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
pub(super) struct Sample {
    pub(super) text: String,
    /// Where each field is in `text`: see [`Sample::new`].
    pub(super) spans: [Option<(u32, u32)>; 10],
    pub(super) actor_kind: &'static str,
}

impl Sample {
    /// `fields`: event name, event source, event time, event id, actor, source address, user
    /// agent, error code, region, account (the fields of one record: under
    /// [`logfile::MAX_RECORD_BYTES`]). All but the account are the finding's sample context;
    /// with the account they are what an aggregate counts of the record ([`Counts`]).
    pub(super) fn new(fields: [Option<&str>; 10], actor_kind: &'static str) -> Sample {
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

    pub(super) fn get(&self, field: usize) -> Option<&str> {
        self.spans[field].map(|(a, b)| &self.text[a as usize..b as usize])
    }

    pub(super) fn context(&self) -> EventContext {
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
pub(super) fn caller_from_projection<'v>(identity: &'v RawValue<'_>) -> Option<Caller<'v>> {
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
/// trail, user, role, key, secret, group, function, snapshot, image, ...), followed by whom
/// the request grants access (`snap-1 to 999988887777`: sharing one snapshot with a backup
/// account and then with another account is two incidents); a request that names none of
/// these is told apart by a hash of its parameters (`request 1f2e...`), never folded into
/// one empty resource. Empty only without parameters. Both the real-time path and the log
/// scan use it, so the same record gives the same incident.
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
        "snapshotId",
        "imageId",
        "volumeId",
        "dBInstanceIdentifier",
        "dBSnapshotIdentifier",
        "dBClusterIdentifier",
        "dBClusterSnapshotIdentifier",
        "snapshotIdentifier",
        "clusterIdentifier",
        "vaultName",
        "clusterName",
        "repositoryName",
        "stackName",
        "resourceShareArn",
        "resourceArn",
        "roleArn",
        "accountId",
    ];
    let params = match request_parameters {
        Some(Value::Object(p)) if !p.is_empty() => Some(p),
        _ => None,
    };
    let subject = resources
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter().find_map(|r| {
                r.get("ARN")
                    .or_else(|| r.get("arn"))
                    .and_then(Value::as_str)
            })
        })
        .map(str::to_string)
        .or_else(|| {
            let params = params?;
            KEYS.iter().find_map(|k| match params.get(*k) {
                Some(Value::String(v)) if !v.is_empty() => Some(v.clone()),
                _ => None,
            })
        });
    let Some(params) = params else {
        return subject.unwrap_or_default();
    };
    let grantees = grantees_of(params);
    match (subject, grantees.is_empty()) {
        (Some(s), true) => s,
        (Some(s), false) => format!("{s} to {}", grantees.join(",")),
        (None, _) => format!("request {}", params_hash(params)),
    }
}

/// What a request sets on its resource, as a short hash: the policy document, queue or topic
/// attributes, or a trail's destinations, when the request has any of them; `None`
/// otherwise. Two changes of the same resource by the same principal in one window are one
/// incident only when they set the same thing: a harmless-looking change (a trust in the
/// account itself) cannot claim the incident of a later, different one (a trust in another
/// account) made within the hour.
pub fn content_of(request_parameters: Option<&Value>) -> Option<String> {
    const CONTENT: &[&str] = &[
        "policyDocument",
        "assumeRolePolicyDocument",
        "policy",
        "bucketPolicy",
        "resourcePolicy",
        "policyText",
        "attributes",
        "attributeValue",
        "s3BucketName",
        "s3KeyPrefix",
        "cloudWatchLogsLogGroupArn",
        "snsTopicName",
        "eventSelectors",
        "advancedEventSelectors",
        "lifecycleConfiguration",
    ];
    let Some(Value::Object(params)) = request_parameters else {
        return None;
    };
    let set: serde_json::Map<String, Value> = CONTENT
        .iter()
        .filter_map(|k| params.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    (!set.is_empty()).then(|| params_hash(&set))
}

/// Whom a sharing request grants access: every string below the fields that name accounts,
/// groups or principals being added (EC2 snapshot and image permissions, RDS snapshot
/// attributes, Redshift snapshot access, Lambda and RAM principals, KMS grantees), sorted, at
/// most ten.
fn grantees_of(params: &serde_json::Map<String, Value>) -> Vec<String> {
    const GRANTS: &[&str] = &[
        "createVolumePermission",
        "launchPermission",
        "valuesToAdd",
        "accountWithRestoreAccess",
        "userIds",
        "principal",
        "principals",
        "granteePrincipal",
    ];
    fn strings(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::String(s) if !s.is_empty() => {
                out.insert(s.clone());
            }
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            // Only what is added: a `remove` list names accounts losing access.
            Value::Object(o) => o
                .iter()
                .filter(|(k, _)| k.as_str() != "remove")
                .for_each(|(_, x)| strings(x, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    for k in GRANTS {
        if let Some(v) = params.get(*k) {
            strings(v, &mut out);
        }
    }
    out.into_iter().take(10).collect()
}

/// A stable hash of request parameters (FNV-1a over their JSON text; object keys are
/// written sorted, so equal parameters hash alike on both paths).
fn params_hash(params: &serde_json::Map<String, Value>) -> String {
    let text = serde_json::to_string(params).unwrap_or_default();
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{h:016x}")
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
    /// The account the record is of (`recipientAccountId`, else the caller's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// See [`resource_of`].
    pub resource: String,
    /// See [`content_of`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
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
pub(super) fn earlier_ref(a: (Option<i64>, &str), b: (Option<i64>, &str)) -> bool {
    match (a.0, b.0) {
        (Some(x), Some(y)) => x < y,
        _ => a.1 < b.1,
    }
}

/// A time stamp of an aggregate: its epoch and the slot of its text in the aggregate's
/// [`Tallies`].
pub(super) type Stamp = (Option<i64>, u32);

#[derive(Debug, Clone)]
pub(super) struct Agg {
    pub(super) count: u64,
    pub(super) first: Option<Stamp>,
    pub(super) last: Option<Stamp>,
    /// Principals, regions, accounts, event names, error codes and source addresses; the
    /// stamps' and sample ids' texts.
    pub(super) tallies: Tallies,
    /// Slots of the sample event ids, in arrival order (the first `samples`).
    pub(super) sample_ids: [u32; SAMPLES],
    pub(super) samples: usize,
    /// Shared with the other aggregates the same record started (thousands of threshold
    /// groups each hold an `Agg`, most never reported).
    pub(super) sample: Option<Arc<Sample>>,
    /// `Some(epoch)` while the only record is the sample and its values are not counted yet
    /// (see [`Agg::add`]).
    pub(super) pending: Option<Option<i64>>,
}

/// What an aggregate counts of one record.
pub(super) struct Counts<'v> {
    pub(super) principal: &'v str,
    pub(super) region: Option<&'v str>,
    pub(super) account: Option<&'v str>,
    pub(super) event_name: Option<&'v str>,
    pub(super) error_code: Option<&'v str>,
    pub(super) source_ip: Option<&'v str>,
    pub(super) event_id: Option<&'v str>,
    pub(super) event_time: Option<&'v str>,
    pub(super) epoch: Option<i64>,
}

impl<'v> Counts<'v> {
    pub(super) fn of(m: &'v MatchInfo<'_>) -> Self {
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
    pub(super) fn of_sample(s: &'v Sample, epoch: Option<i64>) -> Self {
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
    pub(super) fn with_cap(cap: usize) -> Self {
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
    pub(super) fn settle(&mut self) {
        if let Some(epoch) = self.pending.take() {
            let sample = self.sample.clone().expect("a pending record is the sample");
            self.count_values(&Counts::of_sample(&sample, epoch));
        }
    }

    /// This aggregate with every record counted: itself, or a settled copy while its first
    /// record is pending.
    pub(super) fn settled(&self) -> Cow<'_, Agg> {
        if self.pending.is_none() {
            return Cow::Borrowed(self);
        }
        let mut a = self.clone();
        a.settle();
        Cow::Owned(a)
    }

    pub(super) fn stamp_text(&self, s: &Stamp) -> (Option<i64>, &str) {
        (s.0, self.tallies.text(s.1))
    }

    /// Keeps `stamp` as the first (or last) time if it is earlier (later) than the one kept.
    pub(super) fn set_stamp(&mut self, last: bool, stamp: (Option<i64>, &str)) {
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
    pub(super) fn add(&mut self, m: &MatchInfo<'_>) {
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
    pub(super) fn count_values(&mut self, c: &Counts<'_>) {
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

    pub(super) fn merge(&mut self, o: &Agg) {
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

    pub(super) fn counted(&self, dim: tally::Dim) -> Vec<Counted> {
        self.tallies
            .top(dim, TOP)
            .into_iter()
            .map(|(value, count)| Counted {
                value: value.to_string(),
                count,
            })
            .collect()
    }

    pub(super) fn finding(&self, d: &Detection, threshold: Option<ThresholdResult>) -> Finding {
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

//! The state table: DynamoDB when `STATE_TABLE` is set, memory otherwise (the CLI, tests).
//!
//! Every write is idempotent or conditional: a handled marker and a window entry are keyed
//! by the event (writing them twice changes nothing); an incident is claimed with a
//! conditional write, so exactly one owner opens it ([`Owner`]):
//!
//! - a log file (its bucket, key and version) claims it as alerted at once, and the same file
//!   scanned again (a retry) finds it its own and alerts again;
//! - an event (one invocation of the real-time path) claims it as *claimed*, and marks it
//!   *published* once its alert is out ([`State::published`]). Another invocation finds it
//!   taken, even for the same event: one event matching two generated rules is delivered
//!   twice at once, and must alert once. A claim left unpublished for longer than the lease
//!   (`CLAIM_LEASE_SECONDS`; Lambda retries a failed invocation after a minute or more) is
//!   taken over: the retry of an invocation whose alert did not go out alerts.
//!
//! Failure never loses an alert ("fail open"): a caller that cannot read or claim alerts
//! anyway and says so; a counter that cannot be read or written counts in this instance's
//! memory instead ([`Counted::degraded`]), so a burst within one warm Lambda still crosses.

use crate::keys::{self, Fingerprint};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnValue, WriteRequest};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use trailwarden::aws::CallError;

/// A state operation that failed (the table is missing, access denied, throttled, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state table {table}: {message}")]
pub struct StateError {
    pub table: String,
    pub message: String,
}

/// Who claims an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// One invocation of the real-time path: the event id, and a token unique to the
    /// invocation (the claim is published by that token).
    Event { id: &'a str, token: &'a str },
    /// A log file's version ([`keys::object_key`]): the claim is final at once.
    File(&'a str),
    /// A responder whose alert for the event is already out ([`crate::handoff`]): the claim is
    /// final at once.
    Alerted(&'a str),
}

impl Owner<'_> {
    fn id(&self) -> &str {
        match self {
            Owner::Event { id, .. } | Owner::File(id) | Owner::Alerted(id) => id,
        }
    }
}

/// What claiming an incident found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nobody had opened it: this owner did, and alerts.
    New,
    /// This owner alerts again: the same log file scanned again (a retry), or an event's
    /// claim left unpublished past the lease (the retry of an invocation whose alert did not
    /// go out).
    Ours,
    /// Another owner opened it: already alerted (or being alerted right now, when `published`
    /// is false).
    Taken {
        owner: String,
        at: Option<String>,
        published: bool,
    },
}

const CLAIMED: &str = "claimed";
const PUBLISHED: &str = "published";

/// What a counter holds after adding matches: every entry of the group in the time range
/// asked for, as (epoch, event id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    pub entries: Vec<(i64, String)>,
    /// Set when the table could not be used and this instance's memory counted instead.
    pub degraded: Option<String>,
}

impl Counted {
    pub fn times(&self) -> Vec<i64> {
        self.entries.iter().map(|(t, _)| *t).collect()
    }
}

#[derive(Debug, Clone, Default)]
struct MemItem {
    owner: Option<String>,
    at: Option<String>,
    token: Option<String>,
    published: bool,
    claimed_at: i64,
}

/// The state kept in this process.
#[derive(Debug, Default)]
struct Memory {
    items: Mutex<BTreeMap<(String, String), MemItem>>,
}

impl Memory {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), MemItem>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handled(&self, pk: &str) -> Option<String> {
        self.lock()
            .get(&(pk.to_string(), "done".to_string()))
            .map(|i| i.at.clone().unwrap_or_default())
    }

    fn mark(&self, pk: &str, at: &str) {
        self.lock()
            .entry((pk.to_string(), "done".to_string()))
            .or_insert(MemItem {
                at: Some(at.to_string()),
                ..MemItem::default()
            });
    }

    fn count(&self, pk: &str, entries: &[(i64, String)], from: i64, to: i64) -> Vec<(i64, String)> {
        let mut items = self.lock();
        for (t, id) in entries {
            items
                .entry((pk.to_string(), keys::window_sort_key(*t, id)))
                .or_default();
        }
        let lo = (pk.to_string(), keys::window_sort_key(from, ""));
        let hi = (pk.to_string(), keys::window_sort_key(to, "\u{10FFFF}"));
        items
            .range(lo..=hi)
            .filter_map(|((_, sk), _)| {
                let t = keys::epoch_of_sort_key(sk)?;
                Some((t, sk.split_once('#')?.1.to_string()))
            })
            .collect()
    }

    fn claim(&self, pk: &str, owner: Owner<'_>, now: i64, lease: i64, at: &str) -> Claim {
        let mut items = self.lock();
        let key = (pk.to_string(), "-".to_string());
        let old = items.get(&key).cloned();
        let answer = match &old {
            None => Claim::New,
            Some(i) => {
                let same_file = matches!(owner, Owner::File(_) | Owner::Alerted(_))
                    && i.owner.as_deref() == Some(owner.id());
                let stale = !i.published && i.claimed_at < now - lease;
                if same_file || stale {
                    Claim::Ours
                } else {
                    return Claim::Taken {
                        owner: i.owner.clone().unwrap_or_default(),
                        at: i.at.clone(),
                        published: i.published,
                    };
                }
            }
        };
        let (token, published) = match owner {
            Owner::Event { token, .. } => (Some(token.to_string()), false),
            Owner::File(_) | Owner::Alerted(_) => (None, true),
        };
        items.insert(
            key,
            MemItem {
                owner: Some(owner.id().to_string()),
                at: Some(at.to_string()),
                token,
                published,
                claimed_at: now,
            },
        );
        answer
    }

    fn published(&self, pk: &str, token: &str) {
        if let Some(i) = self.lock().get_mut(&(pk.to_string(), "-".to_string())) {
            if i.token.as_deref() == Some(token) {
                i.published = true;
            }
        }
    }
}

#[derive(Debug)]
enum Backend {
    Memory,
    Dynamo {
        client: aws_sdk_dynamodb::Client,
        table: String,
    },
}

#[derive(Debug)]
struct Inner {
    backend: Backend,
    /// How long an event's unpublished claim holds (seconds).
    lease: i64,
    /// The state itself for [`Backend::Memory`]; the fall-back counter for DynamoDB.
    memory: Memory,
}

/// The state, shared by every invocation of a warm function (cheap to clone).
#[derive(Debug, Clone)]
pub struct State {
    inner: Arc<Inner>,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn attr(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        Some(AttributeValue::N(v)) => Some(v.clone()),
        _ => None,
    }
}

/// Batches of at most this many writes (DynamoDB's `BatchWriteItem` limit).
const BATCH: usize = 25;
/// Attempts at writing the unprocessed part of a batch.
const BATCH_ATTEMPTS: usize = 5;
/// Most counter entries read back per count: far above any threshold, and a bound on the
/// reads a long burst costs each event.
pub const MAX_COUNTED: usize = 5_000;

impl State {
    /// State in this process's memory.
    pub fn memory() -> State {
        State {
            inner: Arc::new(Inner {
                backend: Backend::Memory,
                lease: crate::DEFAULT_CLAIM_LEASE_SECONDS as i64,
                memory: Memory::default(),
            }),
        }
    }

    /// State in a DynamoDB table (keys `pk`, `sk`; TTL attribute `expires_at`).
    pub fn dynamodb(sdk: &aws_config::SdkConfig, table: &str) -> State {
        State {
            inner: Arc::new(Inner {
                backend: Backend::Dynamo {
                    client: aws_sdk_dynamodb::Client::new(sdk),
                    table: table.to_string(),
                },
                lease: crate::DEFAULT_CLAIM_LEASE_SECONDS as i64,
                memory: Memory::default(),
            }),
        }
    }

    /// The state `STATE_TABLE` names, or memory.
    pub fn from_settings(sdk: &aws_config::SdkConfig, settings: &crate::StateSettings) -> State {
        let state = match &settings.table {
            Some(t) => State::dynamodb(sdk, t),
            None => State::memory(),
        };
        state.with_lease(settings.claim_lease_seconds)
    }

    /// The same state with another claim lease (seconds; see [`Owner::Event`]). Call before
    /// the state is shared.
    pub fn with_lease(mut self, seconds: u64) -> State {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.lease = seconds as i64;
        }
        self
    }

    /// `DynamoDB table NAME` or `memory (this process only)`.
    pub fn describe(&self) -> String {
        match &self.inner.backend {
            Backend::Memory => "memory (this process only)".into(),
            Backend::Dynamo { table, .. } => format!("DynamoDB table {table}"),
        }
    }

    fn table(&self) -> &str {
        match &self.inner.backend {
            Backend::Memory => "memory",
            Backend::Dynamo { table, .. } => table,
        }
    }

    fn fail(&self, e: impl std::fmt::Display) -> StateError {
        StateError {
            table: self.table().to_string(),
            message: e.to_string(),
        }
    }

    /// The answer of a conditional write that records something once: its condition failing
    /// means it was recorded already, which is success too.
    fn recorded<T, E>(
        &self,
        r: Result<T, aws_sdk_dynamodb::error::SdkError<E, HttpResponse>>,
    ) -> Result<(), StateError>
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        match r {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = CallError::from_sdk(&e);
                if e.is("ConditionalCheckFailedException") {
                    Ok(())
                } else {
                    Err(self.fail(e))
                }
            }
        }
    }

    /// When `pk` (an [`keys::event_key`] or [`keys::object_key`]) was recorded as handled.
    pub async fn handled(&self, pk: &str) -> Result<Option<String>, StateError> {
        match &self.inner.backend {
            Backend::Memory => Ok(self.inner.memory.handled(pk)),
            Backend::Dynamo { client, table } => {
                let out = client
                    .get_item()
                    .table_name(table)
                    .key("pk", s(pk))
                    .key("sk", s("done"))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| self.fail(CallError::from_sdk(&e)))?;
                Ok(out.item().map(|i| attr(i, "at").unwrap_or_default()))
            }
        }
    }

    /// Records `pk` as handled at `at` (kept [`keys::HANDLED_TTL_SECONDS`] after `now`). The
    /// write is conditional: the first record stays.
    pub async fn mark_handled(&self, pk: &str, at: &str, now: i64) -> Result<(), StateError> {
        match &self.inner.backend {
            Backend::Memory => {
                self.inner.memory.mark(pk, at);
                Ok(())
            }
            Backend::Dynamo { client, table } => {
                let r = client
                    .put_item()
                    .table_name(table)
                    .item("pk", s(pk))
                    .item("sk", s("done"))
                    .item("at", s(at))
                    .item("expires_at", n(now + keys::HANDLED_TTL_SECONDS))
                    .condition_expression("attribute_not_exists(pk)")
                    .send()
                    .await;
                self.recorded(r)
            }
        }
    }

    /// Adds matches (epoch, event id) to the counter `pk` and answers every entry it holds
    /// between `from` and `to` (inclusive). Entries expire at `expires_at`. When the table
    /// cannot be used, this instance's memory counts instead and `degraded` says why.
    pub async fn count(
        &self,
        pk: &str,
        entries: &[(i64, String)],
        from: i64,
        to: i64,
        expires_at: i64,
    ) -> Counted {
        let Backend::Dynamo { client, table } = &self.inner.backend else {
            return Counted {
                entries: self.inner.memory.count(pk, entries, from, to),
                degraded: None,
            };
        };
        match self
            .count_dynamo(client, table, pk, entries, from, to, expires_at)
            .await
        {
            Ok(entries) => Counted {
                entries,
                degraded: None,
            },
            Err(e) => {
                tracing::warn!(error = %e, counter = pk, "state table unavailable: counting in this instance's memory");
                Counted {
                    entries: self.inner.memory.count(pk, entries, from, to),
                    degraded: Some(e.to_string()),
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn count_dynamo(
        &self,
        client: &aws_sdk_dynamodb::Client,
        table: &str,
        pk: &str,
        entries: &[(i64, String)],
        from: i64,
        to: i64,
        expires_at: i64,
    ) -> Result<Vec<(i64, String)>, StateError> {
        let mut unique: Vec<&(i64, String)> = entries.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(BATCH) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|(t, id)| {
                    let put = PutRequest::builder()
                        .item("pk", s(pk))
                        .item("sk", s(keys::window_sort_key(*t, id)))
                        .item("at", n(*t))
                        .item("expires_at", n(expires_at))
                        .build()
                        .map_err(|e| self.fail(e))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<_, StateError>>()?;
            for attempt in 0..BATCH_ATTEMPTS {
                let out = client
                    .batch_write_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .map_err(|e| self.fail(CallError::from_sdk(&e)))?;
                pending = out
                    .unprocessed_items()
                    .and_then(|m| m.get(table))
                    .cloned()
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt + 1 == BATCH_ATTEMPTS {
                    return Err(self.fail(format!(
                        "{} counter entries left unprocessed after {BATCH_ATTEMPTS} attempts",
                        pending.len()
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
        }
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = client
                .query()
                .table_name(table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":lo", s(keys::window_sort_key(from, "")))
                .expression_attribute_values(":hi", s(keys::window_sort_key(to, "\u{10FFFF}")))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.fail(CallError::from_sdk(&e)))?;
            for item in page.items() {
                if let Some(sk) = attr(item, "sk") {
                    if let (Some(t), Some((_, id))) =
                        (keys::epoch_of_sort_key(&sk), sk.split_once('#'))
                    {
                        out.push((t, id.to_string()));
                    }
                }
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() && out.len() < MAX_COUNTED => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Claims the incident `fp` for `owner` at `now` (epoch seconds; `at` as text).
    pub async fn claim(
        &self,
        fp: &Fingerprint,
        owner: Owner<'_>,
        now: i64,
        at: &str,
    ) -> Result<Claim, StateError> {
        let pk = fp.key();
        let lease = self.inner.lease;
        let Backend::Dynamo { client, table } = &self.inner.backend else {
            return Ok(self.inner.memory.claim(&pk, owner, now, lease, at));
        };
        let (state, condition) = match owner {
            Owner::Event { .. } => (
                CLAIMED,
                "attribute_not_exists(pk) OR (#state = :claimed AND claimed_at < :stale)",
            ),
            Owner::File(_) | Owner::Alerted(_) => (
                PUBLISHED,
                "attribute_not_exists(pk) OR #owner = :owner OR (#state = :claimed AND claimed_at < :stale)",
            ),
        };
        let mut put = client
            .put_item()
            .table_name(table)
            .item("pk", s(&pk))
            .item("sk", s("-"))
            .item("owner", s(owner.id()))
            .item("state", s(state))
            .item("claimed_at", n(now))
            .item("at", s(at))
            .item("detection", s(&fp.detection))
            .item("principal", s(&fp.principal))
            .item("resource", s(&fp.resource))
            .item("window_start", n(fp.window_start))
            .item("expires_at", n(fp.expires_at()))
            .condition_expression(condition)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":claimed", s(CLAIMED))
            .expression_attribute_values(":stale", n(now - lease))
            .return_values(ReturnValue::AllOld);
        if let Owner::Event { token, .. } = owner {
            put = put.item("token", s(token));
        } else {
            put = put
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", s(owner.id()));
        }
        match put.send().await {
            Ok(out) => Ok(if out.attributes().is_some_and(|a| !a.is_empty()) {
                Claim::Ours
            } else {
                Claim::New
            }),
            Err(e) => {
                let e = CallError::from_sdk(&e);
                if !e.is("ConditionalCheckFailedException") {
                    return Err(self.fail(e));
                }
                let got = client
                    .get_item()
                    .table_name(table)
                    .key("pk", s(&pk))
                    .key("sk", s("-"))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| self.fail(CallError::from_sdk(&e)))?;
                let item = got.item().cloned().unwrap_or_default();
                Ok(Claim::Taken {
                    owner: attr(&item, "owner").unwrap_or_default(),
                    at: attr(&item, "at"),
                    published: attr(&item, "state").as_deref() != Some(CLAIMED),
                })
            }
        }
    }

    /// Marks an event's claim of `fp` published (its alert is out), if `token` still holds it.
    pub async fn published(&self, fp: &Fingerprint, token: &str) -> Result<(), StateError> {
        let pk = fp.key();
        let Backend::Dynamo { client, table } = &self.inner.backend else {
            self.inner.memory.published(&pk, token);
            return Ok(());
        };
        let r = client
            .update_item()
            .table_name(table)
            .key("pk", s(&pk))
            .key("sk", s("-"))
            .update_expression("SET #state = :published")
            .condition_expression("#token = :token")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":published", s(PUBLISHED))
            .expression_attribute_values(":token", s(token))
            .send()
            .await;
        self.recorded(r)
    }
}

//! Pure: what the state table's items are called, and how an incident is told apart.
//!
//! One table, two string keys (`pk`, `sk`), one TTL attribute (`expires_at`, epoch seconds):
//!
//! | item | `pk` | `sk` | kept for |
//! |---|---|---|---|
//! | an event handled in real time | `event#<eventID>` | `done` | [`HANDLED_TTL_SECONDS`] |
//! | a log file (object version) scanned | `object#<bucket>/<key>#<version>` | `done` | [`HANDLED_TTL_SECONDS`] |
//! | one match counted toward a threshold | `window#<detection>#<group hash>` | `<epoch, 12 digits>#<eventID>` | the window plus a day |
//! | an incident | `incident#<detection>#<account+principal+resource hash>#<window start>` | `-` | the window plus a day |
//!
//! A window entry's key is the event's, so counting the same event twice (a retry, or the
//! real-time path and the log scan both seeing it) counts it once.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use trailwarden::detect::scan::{content_of, resource_of};
use trailwarden::event::Record;

/// How long "this event / this object was handled" is remembered: longer than EventBridge
/// (24 h) and Lambda (6 h) retry, and than S3 re-deliveries in practice.
pub const HANDLED_TTL_SECONDS: i64 = 7 * 86_400;
/// How long window entries and incidents outlive their window (late log files, retries).
pub const LINGER_SECONDS: i64 = 86_400;

/// Short, stable hash of a text (hex of the first 16 bytes of its SHA-256).
pub fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// The item recording that an event was handled in real time.
pub fn event_key(event_id: &str) -> String {
    format!("event#{event_id}")
}

/// The item recording that one version of a log file was scanned (`-` when the notification
/// carries no version: unversioned buckets never hold two versions of a key).
pub fn object_key(bucket: &str, key: &str, version: Option<&str>) -> String {
    format!("object#{bucket}/{key}#{}", version.unwrap_or("-"))
}

/// The counter of one threshold group of one detection.
pub fn window_key(detection: &str, group: &str) -> String {
    format!("window#{detection}#{}", short_hash(group))
}

/// A window entry's sort key: time first, so a time range is a key range.
pub fn window_sort_key(epoch: i64, event_id: &str) -> String {
    format!("{:012}#{event_id}", epoch.max(0))
}

/// The epoch a window entry's sort key starts with.
pub fn epoch_of_sort_key(sk: &str) -> Option<i64> {
    sk.split('#').next()?.parse().ok()
}

/// One incident: a detection, who, on what, in which window. The same event gives the same
/// fingerprint on both paths, so an incident is alerted once, whichever path sees it first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Fingerprint {
    pub detection: String,
    /// The account the event is of (`recipientAccountId`, else the caller's): the same user
    /// name, or an unnamed principal, in two accounts of an organization is two incidents.
    pub account: String,
    /// The principal (a threshold detection: its group's values).
    pub principal: String,
    /// What was acted on (empty for threshold detections: the group is the subject).
    pub resource: String,
    /// What the event set on it, as a hash ([`content_of`]; empty when it sets nothing the
    /// hash covers): two different policies put on one role within the window are two
    /// incidents.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub content: String,
    /// Start of the fixed window the event falls in (epoch seconds).
    pub window_start: i64,
    pub window_seconds: u64,
}

impl Fingerprint {
    /// The incident of one event of a detection without threshold: windows are fixed
    /// (`epoch` rounded down to a multiple of `window_seconds`), so two events of the same
    /// principal on the same resource on either side of a window's end are two incidents.
    pub fn plain(
        detection: &str,
        account: &str,
        principal: &str,
        resource: &str,
        epoch: Option<i64>,
        window_seconds: u64,
    ) -> Fingerprint {
        Fingerprint {
            detection: detection.to_string(),
            account: account.to_string(),
            principal: principal.to_string(),
            resource: resource.to_string(),
            content: String::new(),
            window_start: window_start(epoch.unwrap_or(0), window_seconds),
            window_seconds,
        }
    }

    /// The same incident, told apart by what the event set ([`Fingerprint::content`]).
    pub fn with_content(mut self, content: Option<&str>) -> Fingerprint {
        self.content = content.unwrap_or_default().to_string();
        self
    }

    /// The incident of one event of a detection without threshold, as both paths and the
    /// responders compute it: the caller ([`Record::principal`]), what was acted on
    /// ([`resource_of`]) and the window `eventTime` falls in.
    pub fn of_event(
        detection: &str,
        record: &Record,
        json: &Value,
        window_seconds: u64,
    ) -> Fingerprint {
        Fingerprint::plain(
            detection,
            record.account_id().unwrap_or_default(),
            &record.principal().display(),
            &resource_of(json.get("requestParameters"), json.get("resources")),
            record.time().map(|t| t.timestamp()),
            window_seconds,
        )
        .with_content(content_of(json.get("requestParameters")).as_deref())
    }

    /// The incident of a threshold group that crossed its threshold at `crossed_at` (the time
    /// of the match that made the count), in windows of the detection's own length. The group
    /// is the subject: a detection that must tell accounts apart groups by an ARN or by
    /// `recipientAccountId`.
    pub fn threshold(
        detection: &str,
        group: &str,
        crossed_at: i64,
        window_seconds: u64,
    ) -> Fingerprint {
        Fingerprint {
            detection: detection.to_string(),
            account: String::new(),
            principal: group.to_string(),
            resource: String::new(),
            content: String::new(),
            window_start: window_start(crossed_at, window_seconds),
            window_seconds,
        }
    }

    /// The item's partition key.
    pub fn key(&self) -> String {
        format!(
            "incident#{}#{}#{}",
            self.detection,
            short_hash(&if self.content.is_empty() {
                format!("{}\n{}\n{}", self.account, self.principal, self.resource)
            } else {
                format!(
                    "{}\n{}\n{}\n{}",
                    self.account, self.principal, self.resource, self.content
                )
            }),
            self.window_start
        )
    }

    /// When the item may be deleted.
    pub fn expires_at(&self) -> i64 {
        self.window_start + self.window_seconds as i64 + LINGER_SECONDS
    }

    /// One line for alerts and logs: `cloudtrail-tampering by X on Y, 10:00-11:00 UTC`.
    pub fn describe(&self) -> String {
        let fmt = |e: i64| {
            chrono::DateTime::from_timestamp(e, 0)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|| e.to_string())
        };
        let on = if self.resource.is_empty() {
            String::new()
        } else {
            format!(" on {}", self.resource)
        };
        let account = if self.account.is_empty() {
            String::new()
        } else {
            format!(" in {}", self.account)
        };
        format!(
            "{} by {}{on}{account}, window {} to {}",
            self.detection,
            if self.principal.is_empty() {
                "-"
            } else {
                &self.principal
            },
            fmt(self.window_start),
            fmt(self.window_start + self.window_seconds as i64)
        )
    }
}

/// `epoch` rounded down to a multiple of `window_seconds`.
pub fn window_start(epoch: i64, window_seconds: u64) -> i64 {
    let w = window_seconds.max(1) as i64;
    epoch.div_euclid(w) * w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_event_gives_the_same_incident_and_windows_are_fixed() {
        let fp = |account, resource, epoch| {
            Fingerprint::plain("d", account, "IAM user alice", resource, Some(epoch), 3600)
        };
        let a = fp("111111111111", "trail", 1_722_519_300);
        let b = fp("111111111111", "trail", 1_722_520_799);
        assert_eq!(a.key(), b.key());
        let next = fp("111111111111", "trail", 1_722_520_800);
        assert_ne!(a.key(), next.key());
        let other = fp("111111111111", "other-trail", 1_722_519_300);
        assert_ne!(a.key(), other.key());
        // A user of the same name in another account of the organization: another incident
        // (a decoy there must not claim this one).
        let elsewhere = fp("222222222222", "trail", 1_722_519_300);
        assert_ne!(a.key(), elsewhere.key());
        assert!(a
            .describe()
            .contains("d by IAM user alice on trail in 111111111111, window 2024-08-01T13:00:00Z"));
    }

    #[test]
    fn a_change_to_something_else_is_another_incident_a_repeat_is_not() {
        let event = |doc: &str, time: &str| {
            let json = serde_json::json!({
                "eventSource": "iam.amazonaws.com",
                "eventName": "UpdateAssumeRolePolicy",
                "eventTime": time,
                "recipientAccountId": "111111111111",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111111111111:user/alice", "accountId": "111111111111", "userName": "alice"},
                "requestParameters": {"roleName": "ops", "policyDocument": doc},
            });
            let record: Record = serde_json::from_value(json.clone()).unwrap();
            Fingerprint::of_event("d", &record, &json, 3600)
        };
        let own = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}"#;
        let foreign = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"sts:AssumeRole"}]}"#;
        let decoy = event(own, "2024-08-01T13:05:00Z");
        assert_eq!(decoy.key(), event(own, "2024-08-01T13:40:00Z").key());
        assert_ne!(decoy.key(), event(foreign, "2024-08-01T13:40:00Z").key());
        // What is shown stays the resource.
        assert_eq!(decoy.resource, "ops");
        assert!(decoy.describe().contains(" on ops in 111111111111"));
        // A request that sets nothing the hash covers keys as before.
        let plain = Fingerprint::plain("d", "111111111111", "p", "r", Some(0), 3600);
        assert_eq!(plain.clone().with_content(None).key(), plain.key());
        assert_eq!(
            plain.key(),
            format!("incident#d#{}#0", short_hash("111111111111\np\nr"))
        );
    }

    #[test]
    fn window_entries_sort_by_time() {
        let a = window_sort_key(999, "z");
        let b = window_sort_key(1000, "a");
        assert!(a < b);
        assert_eq!(epoch_of_sort_key(&b), Some(1000));
        assert_eq!(window_key("d", "g"), window_key("d", "g"));
        assert_ne!(window_key("d", "g"), window_key("d", "h"));
    }
}

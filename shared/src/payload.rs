//! The raw Lambda payloads trailwarden receives, parsed into the shared model.

use crate::event::{Record, DETAIL_TYPE_API_CALL, DETAIL_TYPE_SERVICE_EVENT, DETAIL_TYPE_SIGN_IN};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// EventBridge `detail-type` of CloudTrail Insights events. They parse (the detail is a
/// CloudTrail Insight record: `eventType` `AwsCloudTrailInsight`), and every responder skips
/// them with a reason instead of failing the invocation.
pub const DETAIL_TYPE_INSIGHT: &str = "AWS Insight via CloudTrail";

/// What a function was invoked with.
// One payload exists per invocation; boxing the envelope would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A CloudTrail record wrapped in an EventBridge envelope.
    CloudTrail(Envelope),
    /// One or more S3 objects created (EventBridge `Object Created` or a classic S3 event
    /// notification).
    S3Objects(Vec<S3Object>),
    /// A bare CloudTrail record (a log file entry, or a `detail` handed over directly).
    Record(Box<Record>),
    /// Objects deleted from S3 (EventBridge `Object Deleted`: a `DeleteObject` call or a
    /// lifecycle expiration).
    S3Deleted(Vec<S3Deletion>),
    /// The tick of an EventBridge schedule rule (`Scheduled Event` from `aws.events`).
    Schedule(Schedule),
}

/// EventBridge `detail-type` of S3's object deletion notifications.
pub const DETAIL_TYPE_OBJECT_DELETED: &str = "Object Deleted";
/// EventBridge `detail-type` of schedule rules' events.
pub const DETAIL_TYPE_SCHEDULED: &str = "Scheduled Event";

/// An object deleted from S3, as EventBridge reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct S3Deletion {
    /// Bucket, key (as is, not URL-encoded), the version the deletion concerns (the delete
    /// marker's, or the version removed), region and time.
    pub object: S3Object,
    /// `DeleteObject` (an API call, also one object of a `DeleteObjects`) or
    /// `Lifecycle Expiration`.
    pub reason: Option<String>,
    /// `Delete Marker Created` (versioned bucket: the object is hidden, its versions kept) or
    /// `Permanently Deleted`.
    pub deletion_type: Option<String>,
    /// Who asked: an account id or an AWS service principal.
    pub requester: Option<String>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
}

/// The tick of a schedule rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    pub id: Option<String>,
    /// The scheduled time (ISO 8601): the same in a retried invocation of the same tick.
    pub time: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// The rule's ARN.
    pub resources: Vec<String>,
}

/// The EventBridge envelope around a CloudTrail record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope {
    pub id: Option<String>,
    pub detail_type: String,
    pub source: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub time: Option<String>,
    pub resources: Vec<String>,
    pub detail: Record,
    /// `detail` exactly as received, with the fields the model does not name (`resources`,
    /// `tlsDetails`, `serviceEventDetails`, ...): what the detection catalog matches.
    #[serde(skip)]
    pub detail_json: Value,
}

/// How an S3 object notification reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum S3Delivery {
    EventBridge,
    /// A classic S3 event notification: straight to Lambda, or through SNS and/or SQS.
    Notification,
    /// CloudTrail's own "log file delivered" SNS notification (`s3Bucket`, `s3ObjectKey`):
    /// no size, version or bucket region.
    CloudTrail,
}

/// An object that was created in S3. `key` is always decoded (never URL-encoded).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct S3Object {
    pub bucket: String,
    pub key: String,
    pub size: Option<u64>,
    pub version_id: Option<String>,
    pub region: Option<String>,
    pub time: Option<String>,
    pub delivery: S3Delivery,
}

impl S3Object {
    /// `s3://bucket/key`.
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// Why a payload could not be understood. The message says what was expected and what was
/// found, so a misrouted rule or a hand-written test event is easy to fix.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PayloadError {
    #[error("payload is not valid JSON: {0}")]
    NotJson(String),
    #[error("expected a JSON object (an EventBridge event, an S3 notification or a CloudTrail record), found {0}")]
    NotObject(&'static str),
    #[error("unsupported EventBridge detail-type {found:?} from source {source_name:?}: expected one of \"AWS API Call via CloudTrail\", \"AWS Console Sign In via CloudTrail\", \"AWS Service Event via CloudTrail\", \"Object Created\", \"Object Deleted\" or \"Scheduled Event\"")]
    UnsupportedDetailType { found: String, source_name: String },
    #[error("field {path} is malformed: {reason}")]
    Malformed { path: String, reason: String },
    #[error("unrecognised payload: expected an EventBridge event (\"detail-type\" and \"detail\"), an S3 event notification (\"Records\" with \"s3\" entries) or a CloudTrail record (\"eventVersion\"/\"eventName\"); found an object with keys [{0}]")]
    Unrecognised(String),
}

/// What a JSON value is, in words (`a string`, `an object`), for error messages.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn malformed(path: &str, reason: impl std::fmt::Display) -> PayloadError {
    PayloadError::Malformed {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

fn opt_str(v: &Value, key: &str, path: &str) -> Result<Option<String>, PayloadError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(malformed(
            &format!("{path}{key}"),
            format!("expected a string, found {}", kind_of(other)),
        )),
    }
}

fn req_str(v: &Value, key: &str, path: &str) -> Result<String, PayloadError> {
    opt_str(v, key, path)?
        .ok_or_else(|| malformed(&format!("{path}{key}"), "missing (expected a string)"))
}

/// The envelope's `resources` (ARNs): none when absent or null; entries that are not strings
/// are left out.
fn resource_arns(v: &Value) -> Result<Vec<String>, PayloadError> {
    match v.get("resources") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a
            .iter()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect()),
        Some(other) => Err(malformed(
            "resources",
            format!("expected an array, found {}", kind_of(other)),
        )),
    }
}

/// Parses a CloudTrail record from a JSON value, with the path of any malformed field.
pub fn record_from_value(v: Value, path: &str) -> Result<Record, PayloadError> {
    if !v.is_object() {
        return Err(malformed(
            path.trim_end_matches('.'),
            format!("expected a CloudTrail record object, found {}", kind_of(&v)),
        ));
    }
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        malformed(&format!("{path}{inner}"), e.into_inner())
    })
}

impl Payload {
    /// Parses raw payload bytes.
    pub fn parse(bytes: &[u8]) -> Result<Payload, PayloadError> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| PayloadError::NotJson(e.to_string()))?;
        Payload::from_value(v)
    }

    /// Parses an already-decoded JSON payload, unwrapping the delivery routes around it
    /// (SNS, SQS, CloudTrail's SNS notification: [`crate::envelope`]). An SQS batch of several
    /// messages gives one payload only when every message is an S3 object notification; the
    /// Lambda runner handles a batch message by message instead
    /// ([`crate::envelope::parse_invocation`]).
    pub fn from_value(v: Value) -> Result<Payload, PayloadError> {
        match crate::envelope::parse_invocation(v)? {
            crate::envelope::Invocation::Single(p) => Ok(p),
            crate::envelope::Invocation::Batch(messages) => crate::envelope::collapse(messages),
        }
    }

    /// Parses a payload that is not inside an SNS or SQS envelope: an EventBridge event, a
    /// classic S3 notification or a bare CloudTrail record.
    pub(crate) fn from_inner_value(v: Value) -> Result<Payload, PayloadError> {
        let Value::Object(ref map) = v else {
            return Err(PayloadError::NotObject(kind_of(&v)));
        };
        if map.contains_key("detail-type") {
            return parse_eventbridge(v);
        }
        if let Some(records) = map.get("Records") {
            if records
                .as_array()
                .is_some_and(|a| a.iter().any(|r| r.get("s3").is_some()))
            {
                return parse_classic_s3(records);
            }
        }
        if map.contains_key("eventVersion")
            || map.contains_key("eventName")
            || map.contains_key("eventSource")
        {
            return Ok(Payload::Record(Box::new(record_from_value(v, "")?)));
        }
        let mut keys: Vec<&str> = map.keys().map(String::as_str).take(12).collect();
        keys.sort_unstable();
        Err(PayloadError::Unrecognised(keys.join(", ")))
    }

    /// True for a CloudTrail Insights event (an EventBridge Insight event, or a bare record
    /// with `eventType` `AwsCloudTrailInsight`).
    pub fn is_insight(&self) -> bool {
        match self {
            Payload::CloudTrail(e) => {
                e.detail_type == DETAIL_TYPE_INSIGHT
                    || e.detail.event_type.as_deref() == Some("AwsCloudTrailInsight")
            }
            Payload::Record(r) => r.event_type.as_deref() == Some("AwsCloudTrailInsight"),
            Payload::S3Objects(_) | Payload::S3Deleted(_) | Payload::Schedule(_) => false,
        }
    }

    /// The CloudTrail record, for payloads that carry one.
    pub fn record(&self) -> Option<&Record> {
        match self {
            Payload::CloudTrail(e) => Some(&e.detail),
            Payload::Record(r) => Some(r),
            Payload::S3Objects(_) | Payload::S3Deleted(_) | Payload::Schedule(_) => None,
        }
    }

    /// The objects of an S3 object notification (`Object Created`), for that payload only.
    pub fn s3_objects(&self) -> Option<&[S3Object]> {
        match self {
            Payload::S3Objects(o) => Some(o),
            _ => None,
        }
    }

    /// The tick of a schedule rule, for that payload only.
    pub fn schedule(&self) -> Option<&Schedule> {
        match self {
            Payload::Schedule(s) => Some(s),
            _ => None,
        }
    }

    /// The CloudTrail record as JSON with every field it was received with (a bare record is
    /// given back from the model, which keeps the fields CloudTrail commonly writes).
    pub fn record_json(&self) -> Option<Value> {
        match self {
            Payload::CloudTrail(e) if e.detail_json.is_object() => Some(e.detail_json.clone()),
            Payload::CloudTrail(e) => serde_json::to_value(&e.detail).ok(),
            Payload::Record(r) => serde_json::to_value(r.as_ref()).ok(),
            Payload::S3Objects(_) | Payload::S3Deleted(_) | Payload::Schedule(_) => None,
        }
    }

    /// A one-line description for logs and skip reasons.
    pub fn describe(&self) -> String {
        match self {
            Payload::CloudTrail(e) => format!(
                "{} {} {}",
                e.detail_type,
                e.detail.event_source(),
                e.detail.event_name()
            ),
            Payload::Record(r) => format!("record {} {}", r.event_source(), r.event_name()),
            Payload::S3Objects(o) => format!("{} S3 object(s)", o.len()),
            Payload::S3Deleted(o) => format!("{} deleted S3 object(s)", o.len()),
            Payload::Schedule(s) => format!(
                "scheduled event {}",
                s.resources
                    .first()
                    .or(s.id.as_ref())
                    .map(String::as_str)
                    .unwrap_or("(no rule named)")
            ),
        }
    }
}

/// The EventBridge envelope, read field by field rather than with `aws_lambda_events`'
/// `EventBridgeEvent`: that type requires `source` and refuses a `time` that is not RFC 3339,
/// failing the invocation over fields no decision reads, and its errors do not name the
/// field (the bad-input corpus holds these answers). `detail` is kept as received
/// ([`Envelope::detail_json`]) and parsed into our tolerant record model.
fn parse_eventbridge(v: Value) -> Result<Payload, PayloadError> {
    let detail_type = req_str(&v, "detail-type", "")?;
    let source = opt_str(&v, "source", "")?;
    if detail_type == "Object Created" {
        return parse_eventbridge_s3(&v);
    }
    if detail_type == DETAIL_TYPE_OBJECT_DELETED && source.as_deref() == Some("aws.s3") {
        return parse_eventbridge_s3_deleted(&v);
    }
    if detail_type == DETAIL_TYPE_SCHEDULED && source.as_deref() == Some("aws.events") {
        return parse_schedule(&v);
    }
    if ![
        DETAIL_TYPE_API_CALL,
        DETAIL_TYPE_SIGN_IN,
        DETAIL_TYPE_SERVICE_EVENT,
        DETAIL_TYPE_INSIGHT,
    ]
    .contains(&detail_type.as_str())
    {
        return Err(PayloadError::UnsupportedDetailType {
            found: detail_type,
            source_name: source.unwrap_or_default(),
        });
    }
    let resources = resource_arns(&v)?;
    let id = opt_str(&v, "id", "")?;
    let account = opt_str(&v, "account", "")?;
    let region = opt_str(&v, "region", "")?;
    let time = opt_str(&v, "time", "")?;
    let Value::Object(mut map) = v else {
        unreachable!("checked by the caller")
    };
    let (detail, detail_json) = match map.remove("detail") {
        Some(d @ Value::Object(_)) => (record_from_value(d.clone(), "detail.")?, d),
        Some(other) => {
            return Err(malformed(
                "detail",
                format!(
                    "expected a CloudTrail record object, found {}",
                    kind_of(&other)
                ),
            ))
        }
        None => {
            return Err(malformed(
                "detail",
                "missing (expected a CloudTrail record)",
            ))
        }
    };
    Ok(Payload::CloudTrail(Envelope {
        id,
        detail_type,
        source,
        account,
        region,
        time,
        resources,
        detail,
        detail_json,
    }))
}

#[derive(Deserialize)]
struct EbS3Detail {
    bucket: EbBucket,
    object: EbObject,
}
#[derive(Deserialize)]
struct EbBucket {
    name: String,
}
#[derive(Deserialize)]
struct EbObject {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "version-id")]
    version_id: Option<String>,
}

fn parse_eventbridge_s3(v: &Value) -> Result<Payload, PayloadError> {
    let detail = v
        .get("detail")
        .ok_or_else(|| malformed("detail", "missing (expected bucket and object)"))?;
    let d: EbS3Detail = serde_path_to_error::deserialize(detail.clone())
        .map_err(|e| malformed(&format!("detail.{}", e.path()), e.into_inner()))?;
    Ok(Payload::S3Objects(vec![S3Object {
        bucket: d.bucket.name,
        // EventBridge delivers the key as is, not URL-encoded.
        key: d.object.key,
        size: d.object.size,
        version_id: d.object.version_id,
        region: opt_str(v, "region", "")?,
        time: opt_str(v, "time", "")?,
        delivery: S3Delivery::EventBridge,
    }]))
}

fn parse_eventbridge_s3_deleted(v: &Value) -> Result<Payload, PayloadError> {
    let Payload::S3Objects(mut objects) = parse_eventbridge_s3(v)? else {
        unreachable!("parse_eventbridge_s3 gives objects")
    };
    let detail = &v["detail"];
    Ok(Payload::S3Deleted(vec![S3Deletion {
        object: objects.remove(0),
        reason: opt_str(detail, "reason", "detail.")?,
        deletion_type: opt_str(detail, "deletion-type", "detail.")?,
        requester: opt_str(detail, "requester", "detail.")?,
        source_ip: opt_str(detail, "source-ip-address", "detail.")?,
        request_id: opt_str(detail, "request-id", "detail.")?,
    }]))
}

fn parse_schedule(v: &Value) -> Result<Payload, PayloadError> {
    let resources = resource_arns(v)?;
    Ok(Payload::Schedule(Schedule {
        id: opt_str(v, "id", "")?,
        time: opt_str(v, "time", "")?,
        account: opt_str(v, "account", "")?,
        region: opt_str(v, "region", "")?,
        resources,
    }))
}

/// A classic S3 event notification, read field by field rather than with `aws_lambda_events`'
/// `S3Event`: its record type requires `eventTime`, `userIdentity` and `requestParameters`
/// (absent from notifications relayed or rebuilt by other tools) and fails every record of
/// the notification over one of them; it also leaves the key URL-encoded. Only the event
/// name, bucket, key, size, version, region and time are read here.
fn parse_classic_s3(records: &Value) -> Result<Payload, PayloadError> {
    let Some(records) = records.as_array() else {
        return Err(malformed("Records", "expected an array"));
    };
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let p = format!("Records[{i}].");
        let name = opt_str(r, "eventName", &p)?.unwrap_or_default();
        if !name.starts_with("ObjectCreated:") {
            // Removals, restores and test events carry no new object to read.
            continue;
        }
        let s3 = r
            .get("s3")
            .ok_or_else(|| malformed(&format!("{p}s3"), "missing"))?;
        let bucket = s3
            .get("bucket")
            .ok_or_else(|| malformed(&format!("{p}s3.bucket"), "missing"))?;
        let object = s3
            .get("object")
            .ok_or_else(|| malformed(&format!("{p}s3.object"), "missing"))?;
        let raw_key = req_str(object, "key", &format!("{p}s3.object."))?;
        let key =
            decode_s3_key(&raw_key).map_err(|e| malformed(&format!("{p}s3.object.key"), e))?;
        out.push(S3Object {
            bucket: req_str(bucket, "name", &format!("{p}s3.bucket."))?,
            key,
            size: object.get("size").and_then(Value::as_u64),
            version_id: opt_str(object, "versionId", &format!("{p}s3.object."))?,
            region: opt_str(r, "awsRegion", &p)?,
            time: opt_str(r, "eventTime", &p)?,
            delivery: S3Delivery::Notification,
        });
    }
    Ok(Payload::S3Objects(out))
}

/// Decodes a key from a classic S3 event notification: URL-encoded, with `+` for space.
pub fn decode_s3_key(raw: &str) -> Result<String, String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("key {raw:?} does not decode to UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kind_accessors_answer_for_their_own_kind_only() {
        let objects = Payload::S3Objects(Vec::new());
        assert_eq!(objects.s3_objects(), Some(&[][..]));
        assert!(objects.schedule().is_none() && objects.record().is_none());
        let record = Payload::Record(Box::default());
        assert!(record.s3_objects().is_none() && record.schedule().is_none());
    }

    #[test]
    fn classic_keys_are_decoded_plus_as_space() {
        assert_eq!(
            decode_s3_key("AWSLogs/My+Folder/a%2Bb%3D.json.gz").unwrap(),
            "AWSLogs/My Folder/a+b=.json.gz"
        );
        assert!(decode_s3_key("%FF%FE").is_err());
    }

    #[test]
    fn classic_notification_skips_non_create_records() {
        let p = Payload::from_value(json!({"Records": [
            {"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}},
            {"eventName": "ObjectCreated:Put", "awsRegion": "us-east-1",
             "s3": {"bucket": {"name": "b"}, "object": {"key": "a+b", "size": 5}}}
        ]}))
        .unwrap();
        let Payload::S3Objects(o) = p else { panic!() };
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].key, "a b");
        assert_eq!(o[0].size, Some(5));
    }

    #[test]
    fn eventbridge_s3_keys_are_taken_as_is() {
        let p = Payload::from_value(json!({"detail-type": "Object Created", "source": "aws.s3",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "a+b%20c"}}}))
        .unwrap();
        let Payload::S3Objects(o) = p else { panic!() };
        assert_eq!(o[0].key, "a+b%20c");
    }

    #[test]
    fn deletions_and_schedule_ticks_parse() {
        let p = Payload::from_value(json!({"detail-type": "Object Deleted", "source": "aws.s3",
            "region": "us-east-1", "time": "2024-05-14T13:10:02Z",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "a+b", "version-id": "v1"},
                       "reason": "DeleteObject", "deletion-type": "Delete Marker Created",
                       "requester": "123456789012", "source-ip-address": "203.0.113.9"}}))
        .unwrap();
        let Payload::S3Deleted(d) = &p else {
            panic!("{p:?}")
        };
        assert_eq!(d[0].object.key, "a+b");
        assert_eq!(d[0].object.version_id.as_deref(), Some("v1"));
        assert_eq!(d[0].deletion_type.as_deref(), Some("Delete Marker Created"));
        assert_eq!(p.describe(), "1 deleted S3 object(s)");
        assert!(p.record().is_none());
        let p = Payload::from_value(
            json!({"detail-type": "Scheduled Event", "source": "aws.events",
            "time": "2024-05-14T13:10:00Z", "detail": {},
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/tw-watchdog"]}),
        )
        .unwrap();
        let Payload::Schedule(s) = &p else {
            panic!("{p:?}")
        };
        assert_eq!(s.time.as_deref(), Some("2024-05-14T13:10:00Z"));
        assert!(p.describe().ends_with("rule/tw-watchdog"));
        // Another source's "Scheduled Event" is not a schedule tick.
        assert!(
            Payload::from_value(json!({"detail-type": "Scheduled Event", "source": "aws.s3",
            "detail": {}}))
            .is_err()
        );
    }

    #[test]
    fn errors_say_what_was_expected_and_found() {
        let e = Payload::parse(b"[1,2]").unwrap_err();
        assert!(e.to_string().contains("found an array"), "{e}");
        let e = Payload::parse(b"{\"detail-type\": \"EC2 Instance State-change Notification\", \"source\": \"aws.ec2\", \"detail\": {}}").unwrap_err();
        assert!(e.to_string().contains("EC2 Instance State-change"), "{e}");
        let e = Payload::parse(b"{\"hello\": 1}").unwrap_err();
        assert!(e.to_string().contains("[hello]"), "{e}");
        let e = Payload::parse(
            b"{\"detail-type\": \"AWS API Call via CloudTrail\", \"detail\": {\"eventName\": 5}}",
        )
        .unwrap_err();
        assert!(e.to_string().contains("detail.eventName"), "{e}");
        let e =
            Payload::parse(b"{\"detail-type\": \"AWS API Call via CloudTrail\", \"detail\": [] }")
                .unwrap_err();
        assert!(e.to_string().contains("found an array"), "{e}");
        let e = Payload::parse(b"{\"detail-type\": ").unwrap_err();
        assert!(matches!(e, PayloadError::NotJson(_)));
    }
}

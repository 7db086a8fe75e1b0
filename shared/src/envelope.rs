//! The delivery routes around a payload: SNS, SQS and CloudTrail's own "log file delivered"
//! notification, unwrapped to the payload inside ([`crate::payload`]).
//!
//! | route | what the function receives | parsed with |
//! |---|---|---|
//! | EventBridge | the event | our envelope ([`crate::payload`]) |
//! | S3 event notification | `{"Records": [{"eventSource": "aws:s3", "s3": ...}]}` | ours |
//! | SNS → Lambda | `{"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "<JSON text>"}}]}` | [`SnsEvent`] |
//! | SQS → Lambda | `{"Records": [{"eventSource": "aws:sqs", "messageId", "body": "<text>"}]}` | [`SqsEvent`] |
//! | SNS → SQS | an SQS body holding the SNS notification JSON (`Type`, `TopicArn`, `Message`, ...) | [`SnsMessage`] |
//! | CloudTrail SNS notification | a message `{"s3Bucket": "...", "s3ObjectKey": ["AWSLogs/..."]}` | ours (no crate type) |
//!
//! The message of an SNS notification, or the body of an SQS message, is parsed again: an S3
//! notification, an EventBridge event (an EventBridge rule targeting SNS or SQS), CloudTrail's
//! notification, or another SNS notification (SNS → SQS without raw delivery). Nesting is
//! bounded ([`MAX_NESTING`]).
//!
//! The SNS and SQS envelopes use the `aws_lambda_events` types. EventBridge events and S3
//! notifications keep our own parser (see [`crate::payload`]): `EventBridgeEvent` requires
//! `source` and fails the whole invocation on a `time` that is not RFC 3339, and
//! `S3EventRecord` requires `eventTime`, `userIdentity` and `requestParameters` and leaves the
//! key URL-encoded; the project's rule is that a missing or odd field the decision does not
//! need is `None`, never a failed invocation, and that a refused payload names the field
//! (tests/bad-input). SNS and SQS envelopes are written by AWS itself, never by hand, so the
//! crate's stricter types cost nothing there.
//!
//! An SQS event is a batch: [`Invocation::Batch`] keeps one result per message, so the Lambda
//! runner ([`crate::lambda::Service::handle`]) can answer `batchItemFailures` for exactly the
//! messages that failed.

use crate::payload::{kind_of, Payload, PayloadError, S3Delivery, S3Object};
use aws_lambda_events::sns::{SnsEvent, SnsMessage};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::{Map, Value};

/// How deep envelopes may nest (SQS body → SNS notification → S3 event is 2).
pub const MAX_NESTING: usize = 3;

/// What one Lambda invocation carries.
// One per invocation; boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum Invocation {
    /// One payload (EventBridge, an S3 notification, SNS, a bare record).
    Single(Payload),
    /// An SQS batch: each message parsed on its own.
    Batch(Vec<QueuedMessage>),
}

/// One message of an SQS batch.
#[derive(Debug, PartialEq)]
pub struct QueuedMessage {
    /// SQS `messageId`: what `batchItemFailures` names.
    pub message_id: String,
    /// The queue (`eventSourceARN`).
    pub queue_arn: Option<String>,
    /// What the message holds, or why it could not be understood.
    pub payload: Result<Payload, PayloadError>,
}

impl QueuedMessage {
    /// True when the message came from a FIFO queue (ARN ending in `.fifo`).
    pub fn fifo(&self) -> bool {
        self.queue_arn
            .as_deref()
            .is_some_and(|a| a.ends_with(".fifo"))
    }
}

/// The Lambda answer to an SQS batch with `ReportBatchItemFailures`: the ids of the messages
/// to deliver again (an empty list: the whole batch is done).
pub fn batch_response<'a>(failed: impl IntoIterator<Item = &'a str>) -> SqsBatchResponse {
    let mut r = SqsBatchResponse::default();
    for id in failed {
        r.add_failure(id);
    }
    r
}

/// True when `v` is an SQS event (`Records` whose first entry is an SQS message).
pub fn is_sqs_event(v: &Value) -> bool {
    first_record(v).is_some_and(|r| {
        r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs")
            || (r.contains_key("messageId") && r.contains_key("body"))
    })
}

fn first_record(v: &Value) -> Option<&Map<String, Value>> {
    v.get("Records")?.as_array()?.first()?.as_object()
}

fn is_sns_event(v: &Value) -> bool {
    first_record(v).is_some_and(|r| {
        r.get("EventSource").and_then(Value::as_str) == Some("aws:sns") || r.contains_key("Sns")
    })
}

fn is_sns_notification(m: &Map<String, Value>) -> bool {
    m.contains_key("Type") && m.contains_key("TopicArn") && m.contains_key("Message")
}

fn is_cloudtrail_notification(m: &Map<String, Value>) -> bool {
    m.contains_key("s3ObjectKey") && m.contains_key("s3Bucket")
}

/// S3's `s3:TestEvent`, sent once to a queue or topic when a notification is configured.
fn is_s3_test_event(m: &Map<String, Value>) -> bool {
    m.get("Event").and_then(Value::as_str) == Some("s3:TestEvent")
}

/// Parses a Lambda invocation payload: an SQS batch message by message, anything else as one
/// payload with its SNS envelope unwrapped.
pub fn parse_invocation(v: Value) -> Result<Invocation, PayloadError> {
    if is_sqs_event(&v) {
        return parse_sqs(v).map(Invocation::Batch);
    }
    parse_nested(v, 0).map(Invocation::Single)
}

/// One payload from a value that may be an SNS event or notification, CloudTrail's
/// notification or S3's test event (anything else: [`Payload::from_inner_value`]).
fn parse_nested(v: Value, depth: usize) -> Result<Payload, PayloadError> {
    if is_sns_event(&v) {
        return parse_sns_event(v, depth);
    }
    let Value::Object(m) = &v else {
        return Payload::from_inner_value(v);
    };
    if is_sns_notification(m) {
        return parse_sns_notification(v, depth);
    }
    if is_cloudtrail_notification(m) {
        return parse_cloudtrail_notification(m);
    }
    if is_s3_test_event(m) {
        // Nothing was created: every function skips an empty notification with its reason.
        return Ok(Payload::S3Objects(Vec::new()));
    }
    Payload::from_inner_value(v)
}

/// The error at `path` inside an envelope, with the field path of the inner error kept.
fn within(path: &str, e: PayloadError) -> PayloadError {
    match e {
        PayloadError::Malformed { path: p, reason } => PayloadError::Malformed {
            path: if p.is_empty() {
                path.to_string()
            } else if p.starts_with('[') {
                format!("{path}{p}")
            } else {
                format!("{path}.{p}")
            },
            reason,
        },
        PayloadError::NotJson(m) => PayloadError::Malformed {
            path: path.to_string(),
            reason: format!("not valid JSON: {m}"),
        },
        other => PayloadError::Malformed {
            path: path.to_string(),
            reason: other.to_string(),
        },
    }
}

fn malformed(path: &str, reason: impl Into<String>) -> PayloadError {
    PayloadError::Malformed {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// Deserializes an envelope with the crate's type, naming the field that does not fit.
fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, PayloadError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        malformed(
            if path == "." { "" } else { &path },
            e.into_inner().to_string(),
        )
    })
}

/// The text of a message or body, parsed as JSON and then as a payload.
fn parse_text(text: &str, path: &str, depth: usize) -> Result<Payload, PayloadError> {
    if depth >= MAX_NESTING {
        return Err(malformed(
            path,
            format!("envelopes nested more than {MAX_NESTING} deep"),
        ));
    }
    let v: Value = serde_json::from_str(text).map_err(|e| {
        malformed(
            path,
            format!(
                "expected a JSON document (an S3 notification, an EventBridge event, an SNS notification or CloudTrail's log file notification), found text that is not JSON ({e})"
            ),
        )
    })?;
    parse_nested(v, depth + 1).map_err(|e| within(path, e))
}

fn parse_sqs(v: Value) -> Result<Vec<QueuedMessage>, PayloadError> {
    let event: SqsEvent = typed(v)?;
    Ok(event
        .records
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let path = format!("Records[{i}].body");
            let payload = match m.body.as_deref() {
                None => Err(malformed(&path, "missing (expected the message text)")),
                Some(body) => parse_text(body, &path, 0),
            };
            QueuedMessage {
                message_id: m.message_id.unwrap_or_default(),
                queue_arn: m.event_source_arn,
                payload,
            }
        })
        .collect())
}

fn parse_sns_event(v: Value, depth: usize) -> Result<Payload, PayloadError> {
    let event: SnsEvent = typed(v)?;
    let mut payloads = Vec::with_capacity(event.records.len());
    for (i, r) in event.records.into_iter().enumerate() {
        payloads.push(sns_message(r.sns, &format!("Records[{i}].Sns"), depth)?);
    }
    merge(payloads, "Records")
}

fn parse_sns_notification(v: Value, depth: usize) -> Result<Payload, PayloadError> {
    let message: SnsMessage = typed(v)?;
    sns_message(message, "", depth)
}

/// The payload an SNS notification carries.
fn sns_message(m: SnsMessage, path: &str, depth: usize) -> Result<Payload, PayloadError> {
    let at = |field: &str| {
        if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        }
    };
    if m.sns_message_type != "Notification" {
        return Err(malformed(
            &at("Type"),
            format!(
                "an SNS {:?} message from {}, not a notification: confirm the subscription (aws sns confirm-subscription, or its SubscribeURL) and the notifications follow",
                m.sns_message_type, m.topic_arn
            ),
        ));
    }
    let mut payload = parse_text(&m.message, &at("Message"), depth)?;
    // CloudTrail's notification does not say when; the SNS time stamp does.
    if let Payload::S3Objects(objects) = &mut payload {
        for o in objects.iter_mut().filter(|o| o.time.is_none()) {
            o.time = Some(
                m.timestamp
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            );
        }
    }
    Ok(payload)
}

/// CloudTrail's "log file delivered" notification: `{"s3Bucket": "b", "s3ObjectKey": [...]}`.
/// The keys are as written, not URL-encoded; the notification names no region (the bucket's
/// region is found when it is read).
fn parse_cloudtrail_notification(m: &Map<String, Value>) -> Result<Payload, PayloadError> {
    let bucket = match m.get("s3Bucket") {
        Some(Value::String(b)) if !b.is_empty() => b.clone(),
        Some(other) => {
            return Err(malformed(
                "s3Bucket",
                format!("expected a bucket name, found {}", kind_of(other)),
            ))
        }
        None => return Err(malformed("s3Bucket", "missing")),
    };
    let keys = match m.get("s3ObjectKey") {
        Some(Value::Array(a)) => a.clone(),
        // One key as a plain string is accepted too.
        Some(Value::String(s)) => vec![Value::String(s.clone())],
        Some(other) => {
            return Err(malformed(
                "s3ObjectKey",
                format!("expected an array of keys, found {}", kind_of(other)),
            ))
        }
        None => return Err(malformed("s3ObjectKey", "missing")),
    };
    let mut out = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let Value::String(key) = k else {
            return Err(malformed(
                &format!("s3ObjectKey[{i}]"),
                format!("expected a key, found {}", kind_of(k)),
            ));
        };
        out.push(S3Object {
            bucket: bucket.clone(),
            key: key.clone(),
            size: None,
            version_id: None,
            region: None,
            time: None,
            delivery: S3Delivery::CloudTrail,
        });
    }
    Ok(Payload::S3Objects(out))
}

/// Several payloads of one envelope as one: S3 objects are put together; anything else must
/// come alone.
fn merge(mut payloads: Vec<Payload>, path: &str) -> Result<Payload, PayloadError> {
    if payloads.len() == 1 {
        return Ok(payloads.remove(0));
    }
    let mut objects = Vec::new();
    for p in payloads {
        match p {
            Payload::S3Objects(o) => objects.extend(o),
            other => {
                return Err(malformed(
                    path,
                    format!(
                        "several messages in one invocation, one of them {}: only S3 object notifications can be handled together",
                        other.describe()
                    ),
                ))
            }
        }
    }
    Ok(Payload::S3Objects(objects))
}

/// An SQS batch as one payload (what [`Payload::from_value`] gives, for the CLI and the
/// tests): the first message that cannot be understood is the error; several messages must
/// all be S3 object notifications. The Lambda runner does not use this: it runs each message
/// on its own.
pub fn collapse(messages: Vec<QueuedMessage>) -> Result<Payload, PayloadError> {
    let mut payloads = Vec::with_capacity(messages.len());
    for m in messages {
        payloads.push(m.payload?);
    }
    if payloads.is_empty() {
        return Ok(Payload::S3Objects(Vec::new()));
    }
    merge(payloads, "Records")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sns_notification(message: &str) -> Value {
        json!({
            "Type": "Notification",
            "MessageId": "3f1a8c2e-8f0e-5b2d-9b7a-1c2d3e4f5a6b",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:cloudtrail-logs",
            "Message": message,
            "Timestamp": "2024-08-01T13:40:13.118Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEpH+2",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:cloudtrail-logs:0b1c"
        })
    }

    fn sqs(bodies: &[(&str, String)]) -> Value {
        json!({"Records": bodies.iter().map(|(id, body)| json!({
            "messageId": id, "receiptHandle": "AQEB", "body": body,
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "md5OfBody": "x", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:trail-files",
            "awsRegion": "us-east-1"})).collect::<Vec<_>>()})
    }

    const CT: &str = r#"{"s3Bucket":"org-trail","s3ObjectKey":["AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/eu-west-1/2024/08/01/111122223333_CloudTrail_eu-west-1_20240801T1335Z_Ab.json.gz"]}"#;

    #[test]
    fn cloudtrail_notification_in_sns_in_sqs_names_the_log_file() {
        let body = sns_notification(CT).to_string();
        let Invocation::Batch(m) = parse_invocation(sqs(&[("m-1", body)])).unwrap() else {
            panic!()
        };
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].message_id, "m-1");
        let Ok(Payload::S3Objects(o)) = &m[0].payload else {
            panic!("{:?}", m[0].payload)
        };
        assert_eq!(o[0].bucket, "org-trail");
        assert!(o[0].key.starts_with("AWSLogs/o-a1b2c3d4e5/111122223333/"));
        assert_eq!(o[0].delivery, S3Delivery::CloudTrail);
        assert_eq!(o[0].time.as_deref(), Some("2024-08-01T13:40:13.118Z"));
    }

    #[test]
    fn a_bad_message_is_that_message_s_error_with_its_path() {
        let Invocation::Batch(m) = parse_invocation(sqs(&[
            ("good", CT.to_string()),
            ("bad", "{\"s3Bucket\": 5, \"s3ObjectKey\": []}".into()),
            ("text", "hello".into()),
        ]))
        .unwrap() else {
            panic!()
        };
        assert!(m[0].payload.is_ok());
        let e = m[1].payload.as_ref().unwrap_err().to_string();
        assert!(e.contains("Records[1].body.s3Bucket"), "{e}");
        let e = m[2].payload.as_ref().unwrap_err().to_string();
        assert!(
            e.contains("Records[2].body") && e.contains("not JSON"),
            "{e}"
        );
        // As one payload: the first error.
        assert!(collapse(m).unwrap_err().to_string().contains("Records[1]"));
    }

    #[test]
    fn subscription_confirmations_and_deep_nesting_are_refused_with_the_fix() {
        let mut n = sns_notification("You have chosen to subscribe");
        n["Type"] = json!("SubscriptionConfirmation");
        let e = Payload::from_value(n).unwrap_err().to_string();
        assert!(e.contains("confirm the subscription"), "{e}");
        let mut text = CT.to_string();
        for _ in 0..4 {
            text = sns_notification(&text).to_string();
        }
        let e = parse_invocation(sqs(&[("deep", text)])).unwrap();
        let Invocation::Batch(m) = e else { panic!() };
        assert!(m[0]
            .payload
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("nested more than"));
    }

    #[test]
    fn s3_test_events_name_no_object() {
        let body = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-08-01T13:00:00.000Z","Bucket":"trail-bucket","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw"}"#;
        assert_eq!(
            Payload::from_value(sqs(&[("t", body.into())])).unwrap(),
            Payload::S3Objects(vec![])
        );
    }

    #[test]
    fn batch_answers_name_the_failed_messages() {
        let r = serde_json::to_value(batch_response(["b", "d"])).unwrap();
        assert_eq!(
            r,
            json!({"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "d"}]})
        );
        assert_eq!(
            serde_json::to_value(batch_response([])).unwrap(),
            json!({"batchItemFailures": []})
        );
    }
}

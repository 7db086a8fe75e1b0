//! Pure: what the state machine hands the function. A Distributed Map batch
//! (`{"Items": [...], "BatchInput": {...}}`, the items as the item reader produced them) becomes
//! the objects to look at; the state machine's last step asks for the summary instead
//! (`{"summarize": {...}}`, see [`crate::summary`]).

use crate::summary::SummaryRequest;
use serde_json::Value;
use trailwarden::payload::{S3Delivery, S3Object};

/// Where the batch's items came from, as the state machine's `BatchInput` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `s3:listObjectsV2` over a prefix: items are `{"Key", "Size", "Etag", "LastModified",
    /// "StorageClass"}`, the bucket is the batch's.
    Prefix,
    /// An S3 Inventory manifest: items are inventory rows `{"Bucket", "Key", "Size",
    /// "VersionId", ...}` (all strings), keys URL-encoded as S3 Inventory writes them.
    Manifest,
}

/// One batch of objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub source: Source,
    pub objects: Vec<S3Object>,
}

/// What an invocation asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Batch(Batch),
    Summary(SummaryRequest),
}

/// A payload the function does not understand: names the field and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError(pub String);

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RequestError {}

fn bad(msg: impl Into<String>) -> RequestError {
    RequestError(msg.into())
}

/// Reads a request: a Distributed Map batch or the summary step's request.
pub fn parse(v: &Value) -> Result<Request, RequestError> {
    if let Some(items) = v.get("Items") {
        return parse_batch(items, v.get("BatchInput")).map(Request::Batch);
    }
    if let Some(s) = v.get("summarize") {
        return SummaryRequest::parse(s).map(Request::Summary);
    }
    let keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    Err(bad(format!(
        "expected a Distributed Map batch ({{\"Items\": [...], \"BatchInput\": {{\"bucket\": ...}}}}) \
         or the summary step's request ({{\"summarize\": {{...}}}}); found keys [{}]",
        keys.join(", ")
    )))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Decodes `%XX` escapes (and `+` as a space) the way S3 Inventory encodes keys.
fn inventory_key(raw: &str) -> String {
    trailwarden::payload::decode_s3_key(raw).unwrap_or_else(|_| raw.to_string())
}

fn parse_batch(items: &Value, input: Option<&Value>) -> Result<Batch, RequestError> {
    let items = items
        .as_array()
        .ok_or_else(|| bad("Items: expected an array of objects"))?;
    let input = input.cloned().unwrap_or(Value::Null);
    let source = match input.get("source").and_then(Value::as_str) {
        None | Some("prefix") => Source::Prefix,
        Some("manifest") => Source::Manifest,
        Some(other) => {
            return Err(bad(format!(
                "BatchInput.source: expected \"prefix\" or \"manifest\", found {other:?}"
            )))
        }
    };
    let default_bucket = input.get("bucket").and_then(text);
    let region = input.get("region").and_then(text);
    let mut objects = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let key = item
            .get("Key")
            .and_then(text)
            .ok_or_else(|| bad(format!("Items[{i}].Key: expected the object's key")))?;
        let key = match source {
            Source::Prefix => key,
            Source::Manifest => inventory_key(&key),
        };
        let bucket = item
            .get("Bucket")
            .and_then(text)
            .or_else(|| default_bucket.clone())
            .ok_or_else(|| {
                bad(format!(
                    "Items[{i}]: no Bucket in the item and no BatchInput.bucket"
                ))
            })?;
        let size = item
            .get("Size")
            .and_then(text)
            .and_then(|s| s.parse::<u64>().ok());
        let version_id = item.get("VersionId").and_then(text).filter(|v| v != "null");
        let time = item
            .get("LastModified")
            .or_else(|| item.get("LastModifiedDate"))
            .and_then(text);
        objects.push(S3Object {
            bucket,
            key,
            size,
            version_id,
            region: region.clone(),
            time,
            // Listed rather than notified: the field is not read for a backfill.
            delivery: S3Delivery::Notification,
        });
    }
    Ok(Batch { source, objects })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_listed_prefix_batch_takes_the_bucket_from_the_batch_input() {
        let v = json!({
            "Items": [
                {"Etag": "\"6f1ed002ab5595859014ebf0951522d9\"", "Key": "AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2023/11/02/111122223333_CloudTrail_us-east-1_20231102T0405Z_AbCdEfGh12345678.json.gz",
                 "LastModified": "2023-11-02T04:09:51.000Z", "Size": 4817, "StorageClass": "STANDARD"}
            ],
            "BatchInput": {"bucket": "org-trail-archive", "source": "prefix"}
        });
        let Request::Batch(b) = parse(&v).unwrap() else {
            panic!("not a batch")
        };
        assert_eq!(b.source, Source::Prefix);
        assert_eq!(b.objects[0].bucket, "org-trail-archive");
        assert_eq!(b.objects[0].size, Some(4817));
        assert!(b.objects[0].key.ends_with("AbCdEfGh12345678.json.gz"));
    }

    #[test]
    fn inventory_rows_carry_their_bucket_version_and_encoded_keys() {
        let v = json!({
            "Items": [
                {"Bucket": "org-trail-archive", "Key": "AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2023/11/02/file%20copy.json.gz",
                 "Size": "4817", "VersionId": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", "LastModifiedDate": "2023-11-02T04:09:51.000Z"}
            ],
            "BatchInput": {"source": "manifest"}
        });
        let Request::Batch(b) = parse(&v).unwrap() else {
            panic!("not a batch")
        };
        let o = &b.objects[0];
        assert_eq!(b.source, Source::Manifest);
        assert!(o.key.ends_with("/file copy.json.gz"), "{}", o.key);
        assert_eq!(o.size, Some(4817));
        assert_eq!(
            o.version_id.as_deref(),
            Some("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
        );
    }

    #[test]
    fn malformed_requests_name_what_is_wrong() {
        let e = parse(&json!({"Items": [{"Size": 1}], "BatchInput": {"bucket": "b"}})).unwrap_err();
        assert!(e.0.contains("Items[0].Key"), "{e}");
        let e = parse(&json!({"Items": [{"Key": "k"}]})).unwrap_err();
        assert!(e.0.contains("no BatchInput.bucket"), "{e}");
        let e = parse(&json!({"Items": [], "BatchInput": {"bucket": "b", "source": "csv"}}))
            .unwrap_err();
        assert!(e.0.contains("BatchInput.source"), "{e}");
        let e = parse(&json!({"detail-type": "Object Created"})).unwrap_err();
        assert!(e.0.contains("found keys [detail-type]"), "{e}");
    }
}

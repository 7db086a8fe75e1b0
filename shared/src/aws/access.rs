//! Reading trail files that live elsewhere: a log-archive bucket in another account and
//! region, SSE-KMS encrypted.
//!
//! - [`BucketReader`] opens an object with the S3 client of the bucket's region: the region the
//!   notification names, or the one S3 reports (`x-amz-bucket-region` of its redirect) when
//!   the first attempt was sent to the wrong region, remembered per bucket.
//! - [`explain_denied`] turns an `AccessDenied` (or `KMS.*`) answer to `GetObject` into an error
//!   that says what to fix: for an SSE-KMS object the key (from `HeadObject`'s
//!   `SSEKMSKeyId`, which needs no `kms:Decrypt`, or from the error message), the key policy
//!   statement to add ([`key_policy_statement`]) and the stack parameter (`TrailKmsKeyArn`);
//!   otherwise the bucket policy and role grants to check.

use super::call::{CallError, ErrorKind};
use super::regional::RegionalClients;
use super::s3::{get_object, ObjectBody};
use crate::s3uri::S3Uri;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;

/// The stack parameter that grants the log functions `kms:Decrypt` on a trail's key.
pub const KMS_KEY_PARAMETER: &str = "TrailKmsKeyArn";

/// The key policy statement that lets `role_arns` decrypt trail files through S3, as users
/// add it to their key's policy (README, "Log files in another account").
pub fn key_policy_statement(role_arns: &[String]) -> Value {
    let principal: Value = match role_arns {
        [one] => json!(one),
        many => json!(many),
    };
    json!({
        "Sid": "AllowTrailwardenToReadTrailFiles",
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}
    })
}

/// The first KMS key ARN in `text` (`arn:<partition>:kms:<region>:<account>:key/<id>`).
pub fn kms_key_in(text: &str) -> Option<String> {
    let start = text.find("arn:aws")?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '-' | '_')))
        .unwrap_or(rest.len());
    let arn = &rest[..end];
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6 && parts[2] == "kms" && parts[5].starts_with("key/") {
        return Some(arn.to_string());
    }
    kms_key_in(&rest[end.max(1)..])
}

/// True when S3 refused a request because it went to the wrong region.
pub fn wrong_region(e: &CallError) -> bool {
    matches!(
        e.code.as_deref(),
        Some(
            "PermanentRedirect"
                | "AuthorizationHeaderMalformed"
                | "IllegalLocationConstraintException"
        )
    ) || e.status == Some(301)
}

/// True when the error is S3's or KMS's refusal to decrypt or read.
fn denied(e: &CallError) -> bool {
    e.kind == ErrorKind::AccessDenied || e.code.as_deref().is_some_and(|c| c.starts_with("KMS."))
}

/// The error for an object that could not be read because access was denied: names the
/// bucket, the key and, for an SSE-KMS object, the KMS key and the statement to add. Any
/// other error is given back unchanged.
pub async fn explain_denied(
    s3: &aws_sdk_s3::Client,
    uri: &S3Uri,
    version: Option<&str>,
    e: CallError,
) -> CallError {
    if !denied(&e) {
        return e;
    }
    // HeadObject needs s3:GetObject but not kms:Decrypt: it tells an SSE-KMS object (and its
    // key) from an object this role may not read at all.
    let head = s3
        .head_object()
        .bucket(&uri.bucket)
        .key(&uri.key)
        .set_version_id(version.map(str::to_string))
        .send()
        .await;
    let (encrypted, key) = match &head {
        Ok(h) => (
            h.server_side_encryption()
                .is_some_and(|s| s.as_str().starts_with("aws:kms")),
            h.ssekms_key_id().map(str::to_string),
        ),
        Err(_) => (false, None),
    };
    let key = key.or_else(|| kms_key_in(&e.message));
    let kms_problem = encrypted
        || key.is_some()
        || e.code.as_deref().is_some_and(|c| c.starts_with("KMS."))
        || e.message.contains("kms:");
    let message = if kms_problem {
        decrypt_denied_message(uri, key.as_deref(), &e)
    } else {
        format!(
            "cannot read {uri}: {e}. Reading a trail file in another account needs both the bucket \
             policy (in the bucket's account) to allow s3:GetObject on arn:aws:s3:::{}/* to this \
             function's role, and the role to be granted it (the stack grants it for \
             ExistingTrailBucketName); or the object no longer exists (without s3:ListBucket \
             S3 answers a missing key with AccessDenied)",
            uri.bucket
        )
    };
    CallError {
        kind: ErrorKind::AccessDenied,
        code: e.code.clone(),
        status: e.status,
        message,
    }
}

fn decrypt_denied_message(uri: &S3Uri, key: Option<&str>, e: &CallError) -> String {
    let what = match e.code.as_deref() {
        Some("KMS.DisabledException") => "the key is disabled: enable it (aws kms enable-key)",
        Some("KMS.KMSInvalidStateException") => {
            "the key is not usable (pending deletion or import): cancel the deletion \
             (aws kms cancel-key-deletion) and enable it"
        }
        Some("KMS.NotFoundException") => "the key does not exist (deleted?)",
        _ => "this function's role is not allowed kms:Decrypt on it",
    };
    let key_text = key.unwrap_or("(key not named by S3: see the object's SSEKMSKeyId)");
    format!(
        "cannot decrypt {uri}: it is SSE-KMS encrypted with KMS key {key_text} and {what}. \
         Fix: add the statement {} to that key's policy (in the key's account), and deploy the \
         stack with {KMS_KEY_PARAMETER}={} so the role's policy allows it too. S3 said: {e}",
        key_policy_statement(&["<this function's role ARN>".to_string()]),
        key.unwrap_or("<key ARN>"),
    )
}

/// Opens trail files with the S3 client of each bucket's region, learning the region when
/// S3 says the request went to the wrong one, and explaining denied reads.
pub struct BucketReader {
    clients: RegionalClients<aws_sdk_s3::Client>,
    regions: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for BucketReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketReader")
            .field("clients", &self.clients)
            .field("regions", &self.known_regions())
            .finish()
    }
}

impl BucketReader {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        BucketReader {
            clients: RegionalClients::new(sdk, super::s3_client),
            regions: Mutex::new(HashMap::new()),
        }
    }

    /// The buckets whose region was learnt, with it.
    pub fn known_regions(&self) -> HashMap<String, String> {
        self.regions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The client for `bucket`: its learnt region, else `hint` (the notification's region),
    /// else the function's own.
    pub fn client(&self, bucket: &str, hint: Option<&str>) -> aws_sdk_s3::Client {
        let learnt = self
            .regions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(bucket)
            .cloned();
        self.clients.get(learnt.as_deref().or(hint))
    }

    /// Opens `uri` (see [`open_object`]): sent again to the bucket's region when S3 says it
    /// went to the wrong one; a denied read is explained ([`explain_denied`]).
    pub async fn open(
        &self,
        uri: &S3Uri,
        version: Option<&str>,
        hint: Option<&str>,
    ) -> Result<ObjectBody, CallError> {
        let mut client = self.client(&uri.bucket, hint);
        let mut result = get_object(&client, uri, version).await;
        if let Err((e, Some(region))) = &result {
            if wrong_region(e) {
                tracing::info!(bucket = %uri.bucket, region = %region, "bucket region learnt");
                self.regions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(uri.bucket.clone(), region.clone());
                client = self.clients.region(region);
                result = get_object(&client, uri, version).await;
            }
        }
        match result {
            Ok(body) => Ok(body),
            Err((e, _)) => Err(explain_denied(&client, uri, version, e).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_found_in_s3_s_message() {
        let m = "User: arn:aws:sts::123456789012:assumed-role/tw-LogDeliveryFunctionRole-1/tw is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:eu-west-1:111122223333:key/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9 because no resource-based policy allows the kms:Decrypt action";
        assert_eq!(
            kms_key_in(m).as_deref(),
            Some("arn:aws:kms:eu-west-1:111122223333:key/0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9")
        );
        assert_eq!(kms_key_in("no key here: arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn the_statement_names_the_roles_and_s3_only() {
        let s = key_policy_statement(&["arn:aws:iam::123456789012:role/a".into()]);
        assert_eq!(s["Principal"]["AWS"], "arn:aws:iam::123456789012:role/a");
        assert_eq!(s["Action"], "kms:Decrypt");
        assert_eq!(
            s["Condition"]["StringLike"]["kms:ViaService"],
            "s3.*.amazonaws.com"
        );
        let s = key_policy_statement(&["a".into(), "b".into()]);
        assert_eq!(s["Principal"]["AWS"], json!(["a", "b"]));
    }

    #[test]
    fn redirects_are_wrong_regions() {
        let mut e = CallError::new(ErrorKind::Other, "x");
        assert!(!wrong_region(&e));
        e.code = Some("PermanentRedirect".into());
        assert!(wrong_region(&e));
        let mut e = CallError::new(ErrorKind::Other, "x");
        e.status = Some(301);
        assert!(wrong_region(&e));
    }
}

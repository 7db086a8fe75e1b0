//! Regenerates the sample trail under `events/trail/` and the digest notification fixture
//! `events/s3-notification-digest-file.json`:
//!
//! ```text
//! cargo run -p log-integrity --example sample_trail [EVENTS_DIR]
//! ```
//!
//! The trail is a local copy of a trail bucket: three hourly digests signed like CloudTrail
//! signs them (2048-bit RSA key from a fixed seed, so the output is the same every run), the
//! log files they list, a `<digest>.metadata.json` sidecar per digest holding the S3 user
//! metadata (`signature`, `signature-algorithm`), and `public-keys.json` in ListPublicKeys'
//! response shape. Try it with `trailwarden validate events/trail --public-keys
//! events/trail/public-keys.json`, then edit or delete a file and run it again.

#[path = "../tests/support/mod.rs"]
mod support;

use chrono::Duration;
use support::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events"));
    let root = events.join("trail");
    let key = TestKey::generate(20240514, 2048);
    let spec = Spec::default();
    let trail = Trail::generate(&spec, &key);

    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    std::fs::create_dir_all(&root)?;
    let digests: Vec<&str> = trail.digests.iter().map(String::as_str).collect();
    trail.write_to(&root, &digests);
    std::fs::write(
        root.join("public-keys.json"),
        keys_document(&[(&key, Der::Pkcs1)]) + "\n",
    )?;

    // The notification S3 sends when CloudTrail delivers the newest digest.
    let newest = trail.digests.last().expect("digests");
    let obj = &trail.objects[newest];
    let d = trail.digest_json(newest);
    let end = chrono::DateTime::parse_from_rfc3339(d["digestEndTime"].as_str().unwrap())?;
    let delivered = end + Duration::seconds(312);
    // Written by hand to keep the field order S3 uses.
    let notification = format!(
        r#"{{
  "Records": [
    {{
      "eventVersion": "2.1",
      "eventSource": "aws:s3",
      "awsRegion": "{REGION}",
      "eventTime": "{time}",
      "eventName": "ObjectCreated:Put",
      "userIdentity": {{
        "principalId": "AWS:AROAEXAMPLEDELIVERY1:regional-delivery"
      }},
      "requestParameters": {{
        "sourceIPAddress": "10.11.12.13"
      }},
      "responseElements": {{
        "x-amz-request-id": "9XG1E3R7W2K8B4QZ",
        "x-amz-id-2": "d2H0Fq7bJmW1vS3pZ8yN4kR6tC9xL0aE5uG2iO7nB1sV3fQ8hT4jY6wM0cK9pD2rA5eX7gU1zI="
      }},
      "s3": {{
        "s3SchemaVersion": "1.0",
        "configurationId": "trailwarden-log-integrity",
        "bucket": {{
          "name": "{bucket}",
          "ownerIdentity": {{
            "principalId": "A2EXAMPLEOWNER7"
          }},
          "arn": "arn:aws:s3:::{bucket}"
        }},
        "object": {{
          "key": "{key}",
          "size": {size},
          "eTag": "{etag}",
          "sequencer": "00664355F4A1B2C3D4"
        }}
      }}
    }}
  ]
}}
"#,
        time = delivered.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        bucket = trail.bucket,
        key = newest,
        size = obj.body.len(),
        etag = &sha256_hex(&obj.body)[..32],
    );
    serde_json::from_str::<serde_json::Value>(&notification)?;
    std::fs::write(
        events.join("s3-notification-digest-file.json"),
        notification,
    )?;
    println!(
        "wrote {} objects under {} and {}",
        trail.objects.len(),
        root.display(),
        events.join("s3-notification-digest-file.json").display()
    );
    Ok(())
}

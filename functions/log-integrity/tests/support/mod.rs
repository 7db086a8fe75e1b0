//! Test support: signing keys, trails of log files and digests signed exactly as CloudTrail
//! signs them, and an in-memory store. Also used by `examples/sample_trail.rs`.
#![allow(dead_code)]

use base64::Engine as _;
use chrono::{DateTime, Duration, TimeZone, Utc};
use flate2::{read::MultiGzDecoder, write::GzEncoder, Compression};
use log_integrity::hash::ContentHasher;
use log_integrity::store::{FetchError, Fetched, Location, StoreError};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::sync::{Mutex, OnceLock};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// An RSA key pair standing in for CloudTrail's regional signing key (or an attacker's).
pub struct TestKey {
    pub private: RsaPrivateKey,
    pub public: RsaPublicKey,
    pub fingerprint: String,
}

impl TestKey {
    /// A key from a fixed seed: the same key every run.
    pub fn generate(seed: u64, bits: usize) -> TestKey {
        let mut rng = StdRng::seed_from_u64(seed);
        let private = RsaPrivateKey::new(&mut rng, bits).expect("RSA key generation");
        let public = RsaPublicKey::from(&private);
        let der = public.to_pkcs1_der().expect("PKCS#1 DER");
        // A label only: keys are matched by string equality, whatever AWS computes it from.
        let fingerprint = hex::encode(&Sha256::digest(der.as_bytes())[..16]);
        TestKey {
            private,
            public,
            fingerprint,
        }
    }

    pub fn pkcs1_der(&self) -> Vec<u8> {
        self.public.to_pkcs1_der().unwrap().as_bytes().to_vec()
    }

    pub fn spki_der(&self) -> Vec<u8> {
        self.public.to_public_key_der().unwrap().as_bytes().to_vec()
    }

    /// RSA PKCS#1 v1.5 SHA-256, hex: what CloudTrail puts in `x-amz-meta-signature`.
    pub fn sign_hex(&self, message: &[u8]) -> String {
        let hashed = Sha256::digest(message);
        hex::encode(
            self.private
                .sign(Pkcs1v15Sign::new::<Sha256>(), &hashed)
                .expect("signing"),
        )
    }
}

/// CloudTrail's key in the tests (1024 bits: key generation is slow in debug builds).
pub fn cloudtrail_key() -> &'static TestKey {
    static K: OnceLock<TestKey> = OnceLock::new();
    K.get_or_init(|| TestKey::generate(7, 1024))
}

/// Someone else's key.
pub fn attacker_key() -> &'static TestKey {
    static K: OnceLock<TestKey> = OnceLock::new();
    K.get_or_init(|| TestKey::generate(666, 1024))
}

/// How a key's value is encoded in the key document.
#[derive(Clone, Copy)]
pub enum Der {
    Pkcs1,
    Spki,
}

/// A document in ListPublicKeys' response shape.
pub fn keys_document(keys: &[(&TestKey, Der)]) -> String {
    let list: Vec<Value> = keys
        .iter()
        .map(|(k, enc)| {
            let der = match enc {
                Der::Pkcs1 => k.pkcs1_der(),
                Der::Spki => k.spki_der(),
            };
            json!({
                "Value": base64::engine::general_purpose::STANDARD.encode(der),
                "ValidityStartTime": "2024-05-01T00:00:00+00:00",
                "ValidityEndTime": "2024-06-01T00:00:00+00:00",
                "Fingerprint": k.fingerprint,
            })
        })
        .collect();
    serde_json::to_string_pretty(&json!({ "PublicKeyList": list })).unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A stored object: its bytes and its S3 user metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub body: Vec<u8>,
    pub metadata: BTreeMap<String, String>,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub bucket: String,
    pub prefix: String,
    /// `o-…` for an organization trail (`AWSLogs/o-…/<account>/…`).
    pub organization: Option<String>,
    pub trail: String,
    /// End of the first digest's period.
    pub first_end: DateTime<Utc>,
    pub digests: usize,
    pub logs_per_digest: usize,
    /// Extra hours of silence before digest `i` (a logging gap).
    pub gap_before: Option<(usize, i64)>,
    /// Logging stopped for this many hours before digest `i`, then started again: digest `i`
    /// starts a new chain (every `previousDigest*` field null), as CloudTrail writes it after
    /// StopLogging/StartLogging.
    pub restart_before: Option<(usize, i64)>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            bucket: "trailwarden-trail-123456789012".into(),
            prefix: String::new(),
            organization: None,
            trail: "management-events".into(),
            first_end: Utc.with_ymd_and_hms(2024, 5, 14, 10, 1, 31).unwrap(),
            digests: 3,
            logs_per_digest: 2,
            gap_before: None,
            restart_before: None,
        }
    }
}

/// A trail's objects: log files and a signed digest chain.
#[derive(Debug, Clone)]
pub struct Trail {
    pub bucket: String,
    pub objects: BTreeMap<String, Object>,
    /// Digest keys, oldest first.
    pub digests: Vec<String>,
    /// Log file keys listed by each digest.
    pub log_files: Vec<Vec<String>>,
}

fn records(account: &str, region: &str, at: DateTime<Utc>, n: usize, seed: usize) -> Value {
    let recs: Vec<Value> = (0..n)
        .map(|i| {
            let t = at + Duration::seconds((i * 37) as i64);
            json!({
                "eventVersion": "1.09",
                "userIdentity": {
                    "type": "AssumedRole",
                    "principalId": "AROA3EXAMPLEROLEID:deploy-pipeline",
                    "arn": format!("arn:aws:sts::{account}:assumed-role/Deployer/deploy-pipeline"),
                    "accountId": account,
                    "accessKeyId": "ASIA3EXAMPLEKEY7Q2VX",
                    "sessionContext": {
                        "sessionIssuer": {
                            "type": "Role",
                            "principalId": "AROA3EXAMPLEROLEID",
                            "arn": format!("arn:aws:iam::{account}:role/Deployer"),
                            "accountId": account,
                            "userName": "Deployer"
                        },
                        "attributes": {"creationDate": (t - Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%SZ").to_string(), "mfaAuthenticated": "false"}
                    }
                },
                "eventTime": t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "eventSource": "ec2.amazonaws.com",
                "eventName": "DescribeInstances",
                "awsRegion": region,
                "sourceIPAddress": "203.0.113.24",
                "userAgent": "aws-cli/2.15.30 md/Botocore#1.34.30 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#amzn.2023 md/prompt#off md/command#ec2.describe-instances",
                "requestParameters": {"instancesSet": {}, "filterSet": {}},
                "responseElements": null,
                "requestID": format!("6f1f2b7e-0c5a-4e0e-9a55-{:012x}", seed * 100 + i),
                "eventID": format!("0b9a5c8e-2f4d-4a0c-8e6b-{:012x}", seed * 100 + i),
                "readOnly": true,
                "eventType": "AwsApiCall",
                "managementEvent": true,
                "recipientAccountId": account,
                "eventCategory": "Management",
                "tlsDetails": {
                    "tlsVersion": "TLSv1.3",
                    "cipherSuite": "TLS_AES_128_GCM_SHA256",
                    "clientProvidedHostHeader": format!("ec2.{region}.amazonaws.com")
                }
            })
        })
        .collect();
    json!({ "Records": recs })
}

/// Builds a digest document, signs it like CloudTrail and returns (gzip bytes, metadata).
/// `digest` must already carry its `previousDigestSignature`.
pub fn sign_digest(key: &TestKey, digest: &Value) -> Object {
    let raw = serde_json::to_vec(digest).unwrap();
    let message = format!(
        "{}\n{}/{}\n{}\n{}",
        digest["digestEndTime"].as_str().unwrap(),
        digest["digestS3Bucket"].as_str().unwrap(),
        digest["digestS3Object"].as_str().unwrap(),
        sha256_hex(&raw),
        digest["previousDigestSignature"].as_str().unwrap_or("null"),
    );
    Object {
        body: gzip(&raw),
        metadata: BTreeMap::from([
            ("signature".to_string(), key.sign_hex(message.as_bytes())),
            (
                "signature-algorithm".to_string(),
                "SHA256withRSA".to_string(),
            ),
        ]),
    }
}

impl Trail {
    /// A chain of `spec.digests` signed digests, each listing `spec.logs_per_digest` log files.
    pub fn generate(spec: &Spec, key: &TestKey) -> Trail {
        let mut t = Trail {
            bucket: spec.bucket.clone(),
            objects: BTreeMap::new(),
            digests: Vec::new(),
            log_files: Vec::new(),
        };
        let mut prev: Option<(String, String, String)> = None; // key, hash, signature
        let mut end = spec.first_end;
        let logs = match &spec.organization {
            Some(org) => format!("{}AWSLogs/{org}", spec.prefix),
            None => format!("{}AWSLogs", spec.prefix),
        };
        for i in 0..spec.digests {
            if i > 0 {
                end += Duration::hours(1);
            }
            if let Some((at, hours)) = spec.gap_before {
                if at == i {
                    end += Duration::hours(hours);
                }
            }
            if let Some((at, hours)) = spec.restart_before {
                if at == i {
                    end += Duration::hours(hours);
                    prev = None;
                }
            }
            let start = end - Duration::hours(1);
            let mut entries = Vec::new();
            let mut keys = Vec::new();
            for j in 0..spec.logs_per_digest {
                let at = start + Duration::minutes(5 + 12 * j as i64);
                let key = format!(
                    "{logs}/{ACCOUNT}/CloudTrail/{REGION}/{}/{ACCOUNT}_CloudTrail_{REGION}_{}_{}.json.gz",
                    at.format("%Y/%m/%d"),
                    at.format("%Y%m%dT%H%MZ"),
                    ["Ux4PBpVbB0Xq3Ycn", "9nYN7gp2eWAJHIfT", "kQ2Lx0aZrT7mWc1s", "Hc8vB3nJq5Lp0ZsX"][j % 4]
                );
                let content =
                    serde_json::to_vec(&records(ACCOUNT, REGION, at, 2 + j, i * 10 + j)).unwrap();
                entries.push(json!({
                    "s3Bucket": spec.bucket,
                    "s3Object": key,
                    "hashValue": sha256_hex(&content),
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": (at + Duration::seconds(37 * (1 + j as i64))).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    "oldestEventTime": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                }));
                t.objects.insert(
                    key.clone(),
                    Object {
                        body: gzip(&content),
                        metadata: BTreeMap::new(),
                    },
                );
                keys.push(key);
            }
            let dkey = format!(
                "{logs}/{ACCOUNT}/CloudTrail-Digest/{REGION}/{}/{ACCOUNT}_CloudTrail-Digest_{REGION}_{}_{REGION}_{}.json.gz",
                end.format("%Y/%m/%d"),
                spec.trail,
                end.format("%Y%m%dT%H%M%SZ"),
            );
            let fmt = |d: DateTime<Utc>| d.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            let newest = entries
                .last()
                .map(|e| e["newestEventTime"].clone())
                .unwrap_or(Value::Null);
            let oldest = entries
                .first()
                .map(|e| e["oldestEventTime"].clone())
                .unwrap_or(Value::Null);
            let digest = json!({
                "awsAccountId": ACCOUNT,
                "digestStartTime": fmt(start),
                "digestEndTime": fmt(end),
                "digestS3Bucket": spec.bucket,
                "digestS3Object": dkey,
                "digestPublicKeyFingerprint": key.fingerprint,
                "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": newest,
                "oldestEventTime": oldest,
                "previousDigestS3Bucket": prev.as_ref().map(|_| json!(spec.bucket)).unwrap_or(Value::Null),
                "previousDigestS3Object": prev.as_ref().map(|p| json!(p.0)).unwrap_or(Value::Null),
                "previousDigestHashValue": prev.as_ref().map(|p| json!(p.1)).unwrap_or(Value::Null),
                "previousDigestHashAlgorithm": prev.as_ref().map(|_| json!("SHA-256")).unwrap_or(Value::Null),
                "previousDigestSignature": prev.as_ref().map(|p| json!(p.2)).unwrap_or(Value::Null),
                "logFiles": entries,
            });
            let obj = sign_digest(key, &digest);
            let hash = sha256_hex(&serde_json::to_vec(&digest).unwrap());
            prev = Some((dkey.clone(), hash, obj.metadata["signature"].clone()));
            t.objects.insert(dkey.clone(), obj);
            t.digests.push(dkey);
            t.log_files.push(keys);
        }
        t
    }

    /// The digest JSON stored at `key`.
    pub fn digest_json(&self, key: &str) -> Value {
        serde_json::from_slice(&gunzip(&self.objects[key].body)).unwrap()
    }

    /// Rewrites a digest's JSON, keeping its metadata (signature) as it was.
    pub fn edit_digest(&mut self, key: &str, f: impl FnOnce(&mut Value)) {
        let mut v = self.digest_json(key);
        f(&mut v);
        self.objects.get_mut(key).unwrap().body = gzip(&serde_json::to_vec(&v).unwrap());
    }

    /// Rewrites a log file's JSON (recompressed).
    pub fn edit_log(&mut self, key: &str, f: impl FnOnce(&mut Value)) {
        let o = self.objects.get_mut(key).unwrap();
        let mut v: Value = serde_json::from_slice(&gunzip(&o.body)).unwrap();
        f(&mut v);
        o.body = gzip(&serde_json::to_vec(&v).unwrap());
    }

    /// The store view of this trail with the objects `keys` deleted.
    pub fn store_without(&self, keys: &[&str]) -> MemStore {
        let mut store = self.store();
        for key in keys {
            store.objects.remove(*key);
        }
        store
    }

    /// The store view of this trail.
    pub fn store(&self) -> MemStore {
        MemStore {
            bucket: self.bucket.clone(),
            objects: self.objects.clone(),
            failing: HashSet::new(),
            reads: Mutex::new(Vec::new()),
            lists: Mutex::new(Vec::new()),
            read_wait: None,
            in_flight: Mutex::new((0, 0)),
        }
    }

    /// Writes the objects under `root` as a local copy of the bucket; metadata go to
    /// `<key>.metadata.json` sidecars for the digests in `sidecars`.
    pub fn write_to(&self, root: &std::path::Path, sidecars: &[&str]) {
        for (k, o) in &self.objects {
            let p = root.join(k);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &o.body).unwrap();
            if sidecars.contains(&k.as_str()) && !o.metadata.is_empty() {
                let side = root.join(format!("{k}.metadata.json"));
                std::fs::write(
                    side,
                    serde_json::to_string_pretty(&o.metadata).unwrap() + "\n",
                )
                .unwrap();
            }
        }
    }

    pub fn at(&self, key: &str) -> Location {
        Location::new(&self.bucket, key)
    }
}

/// The default trail after an attacker removed the first record of the second digest's first
/// log file: the trail, and that file's key.
pub fn edited() -> (Trail, String) {
    let mut trail = Trail::generate(&Spec::default(), cloudtrail_key());
    let victim = trail.log_files[1][0].clone();
    trail.edit_log(&victim, |v| {
        v["Records"].as_array_mut().unwrap().remove(0);
    });
    (trail, victim)
}

/// The default trail after an attacker edited one log file of the second digest, deleted the
/// other, and deleted the first digest, so that the check of the second digest concerns all
/// three: the trail, the store with the deletions made, the edited and the deleted file's keys.
pub fn tampered() -> (Trail, MemStore, String, String) {
    let mut trail = Trail::generate(&Spec::default(), cloudtrail_key());
    let edited = trail.log_files[1][0].clone();
    let deleted = trail.log_files[1][1].clone();
    trail.edit_log(&edited, |v| {
        v["Records"][0]["sourceIPAddress"] = json!("198.51.100.7")
    });
    let mut store = trail.store();
    store.objects.remove(&deleted);
    store.objects.remove(&trail.digests[0]);
    (trail, store, edited, deleted)
}

/// An in-memory bucket (bucket names in locations are not compared). Streams bodies in odd-sized chunks; keys in `failing` answer with a
/// store error (access denied).
#[derive(Debug)]
pub struct MemStore {
    pub bucket: String,
    pub objects: BTreeMap<String, Object>,
    pub failing: HashSet<String>,
    /// Keys read, in order.
    pub reads: Mutex<Vec<String>>,
    /// Prefixes listed, in order.
    pub lists: Mutex<Vec<String>>,
    /// How long each read waits before answering (S3's time to first byte).
    pub read_wait: Option<std::time::Duration>,
    /// Reads under way, and the most at once.
    pub in_flight: Mutex<(usize, usize)>,
}

impl log_integrity::store::Store for MemStore {
    async fn fetch(
        &self,
        at: &Location,
        _version: Option<&str>,
        sink: &mut ContentHasher,
    ) -> Result<Fetched, FetchError> {
        self.reads.lock().unwrap().push(at.key.clone());
        if let Some(wait) = self.read_wait {
            {
                let mut n = self.in_flight.lock().unwrap();
                n.0 += 1;
                n.1 = n.1.max(n.0);
            }
            tokio::time::sleep(wait).await;
            self.in_flight.lock().unwrap().0 -= 1;
        }
        if self.failing.contains(&at.key) {
            return Err(StoreError {
                location: at.uri(),
                reason: "AccessDenied: Access Denied".into(),
            }
            .into());
        }
        let Some(o) = self.objects.get(&at.key) else {
            return Ok(Fetched::NotFound);
        };
        for chunk in o.body.chunks(777) {
            sink.update(chunk).map_err(FetchError::Content)?;
        }
        Ok(Fetched::Found {
            metadata: o
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        })
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.lists.lock().unwrap().push(prefix.to_string());
        if self.failing.contains(prefix) {
            return Err(StoreError {
                location: format!("s3://{bucket}/{prefix}"),
                reason: "AccessDenied: Access Denied".into(),
            });
        }
        Ok(self
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }
}

/// A unique empty directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "log-integrity-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

//! Writes a realistic, reproducible CloudTrail log file of a chosen size, for benchmarks.
//!
//!     gen_cloudtrail --mb 256 --out /tmp/big.json.gz [--seed 42] [--plain] [--profile varied|uniform]
//!
//! `--profile varied` (the default) is shaped like a production organization trail, not like
//! a generator's comfort zone. Its distributions (per record, over the whole file):
//! - **Services and event names**: 40 services and 400+ event names (`SERVICES` below); the
//!   management reads and writes pick a service, then an event name, uniformly, so rare names
//!   are as common as in a real multi-team account. On top of that: S3 data events 22 %, KMS
//!   calls by services 9 %, `AssumeRole` by services 9 %, management reads 30 %, management
//!   writes 14 %, records some detection must look into (policies kept as JSON strings or
//!   objects, security group rules, snapshot/image sharing, event selectors, sign-ins, secret
//!   reads, `RunInstances` with large responses) 12 %, console sign-ins 2 %, root 1 %, AWS
//!   service events 1 %.
//! - **Errors**: the file is cut in stretches of 2,000 records; one stretch in six is
//!   error-heavy (35 % of its records carry an `errorCode`: AccessDenied variants,
//!   throttling, validation and not-found errors, as a probing attacker or a broken automation
//!   produce), the others have 2 %: about 7 % of all records.
//! - **Sizes**: writes carry nested `requestParameters`/`responseElements` (objects in arrays in
//!   objects, up to 6 levels) with a heavy-tailed size: with the default seed, records are
//!   1.1 KB at the 10th percentile, 1.6 KB at the median, 2 KB at the 90th, 8 KB at the 99th
//!   and up to 35 KB (`RunInstances` responses, stack templates, policy documents).
//!   `scripts/bench-scan.sh` prints the shape of the file it measures.
//!
//! `--profile uniform` is the earlier, gentler mix (12 event sources, about 30 event names,
//! 1 % errors, records of nearly equal size), kept to compare with older figures. Records are
//! compact JSON like CloudTrail's.

use serde_json::{json, Value};
use std::io::{BufWriter, Write};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    fn uuid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
    fn alnum(&mut self, n: usize) -> String {
        const C: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n).map(|_| *self.pick(C) as char).collect()
    }
    fn upper(&mut self, n: usize) -> String {
        const C: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        (0..n).map(|_| *self.pick(C) as char).collect()
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| format!("{:x}", self.below(16))).collect()
    }
    fn ip(&mut self) -> String {
        let a = *self.pick(&[3u64, 18, 34, 52, 54, 198, 203]);
        format!(
            "{a}.{}.{}.{}",
            self.below(256),
            self.below(256),
            1 + self.below(254)
        )
    }
}

const ACCOUNT: &str = "123456789012";
const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-1",
    "us-east-1",
    "eu-west-1",
    "us-west-2",
    "ap-southeast-2",
];
const ROLES: &[&str] = &[
    "app-api",
    "app-worker",
    "etl-nightly",
    "terraform",
    "github-actions-deploy",
    "datadog-integration",
    "AWSServiceRoleForECS",
    "lambda-thumbnailer",
    "lambda-billing-export",
    "eks-node-group",
];
const USERS: &[&str] = &[
    "alice",
    "bob",
    "carol",
    "ci-legacy",
    "backup-svc",
    "reporting",
];
const AGENTS: &[&str] = &[
    "aws-sdk-java/2.25.6 Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
    "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51",
    "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off md/command#s3.cp",
    "Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
];

struct Gen {
    rng: Rng,
    t: u64,
    varied: bool,
    /// Records written so far (the error stretches are counted in records).
    n: u64,
    /// Error rate of the current stretch, per mille.
    error_rate: u64,
    services: Vec<Service>,
}

/// One service of the varied profile: its event source and event names.
struct Service {
    source: &'static str,
    reads: Vec<&'static str>,
    writes: Vec<&'static str>,
}

impl Gen {
    /// Event times advance by 0 to 2 seconds a record (one a second on average), from
    /// 2024-08-01T13:00:00Z on, in order: a big file spans days, as a long run of a trail's
    /// files does.
    fn time(&mut self) -> String {
        self.t += self.rng.below(3);
        let start = chrono::DateTime::from_timestamp(1_722_517_200, 0).expect("valid start");
        (start + chrono::Duration::seconds(self.t as i64))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    fn role_identity(&mut self) -> Value {
        let role = *self.rng.pick(ROLES);
        let session = if self.rng.chance(500) {
            format!("i-0{}", self.rng.hex(16))
        } else {
            format!("{}-{}", role, self.rng.below(100_000))
        };
        json!({
            "type": "AssumedRole",
            "principalId": format!("AROA{}:{}", self.rng.upper(17), session),
            "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"),
            "accountId": ACCOUNT,
            "accessKeyId": format!("ASIA{}", self.rng.upper(16)),
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": format!("AROA{}", self.rng.upper(17)),
                    "arn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"), "accountId": ACCOUNT, "userName": role},
                "webIdFederationData": {},
                "attributes": {"creationDate": "2024-08-01T12:58:11Z", "mfaAuthenticated": "false"},
                "ec2RoleDelivery": "2.0"
            }
        })
    }

    fn user_identity(&mut self) -> Value {
        let u = *self.rng.pick(USERS);
        json!({
            "type": "IAMUser", "principalId": format!("AIDA{}", self.rng.upper(17)),
            "arn": format!("arn:aws:iam::{ACCOUNT}:user/{u}"), "accountId": ACCOUNT,
            "accessKeyId": format!("AKIA{}", self.rng.upper(16)), "userName": u,
            "sessionContext": {"attributes": {"creationDate": "2024-08-01T08:12:40Z", "mfaAuthenticated": if self.rng.chance(300) { "true" } else { "false" }}}
        })
    }

    fn base(&mut self, source: &str, name: &str, identity: Value, read_only: bool) -> Value {
        let region = *self.rng.pick(REGIONS);
        let ip = if self.rng.chance(200) {
            "AWS Internal".to_string()
        } else {
            self.rng.ip()
        };
        json!({
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": self.time(),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": *self.rng.pick(AGENTS),
            "requestParameters": null,
            "responseElements": null,
            "requestID": self.rng.uuid(),
            "eventID": self.rng.uuid(),
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
            "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.trim_end_matches(".amazonaws.com"))}
        })
    }

    fn s3_data(&mut self) -> Value {
        let name = *self
            .rng
            .pick(&["GetObject", "GetObject", "PutObject", "HeadObject"]);
        let id = self.role_identity();
        let mut r = self.base("s3.amazonaws.com", name, id, name != "PutObject");
        let bucket = format!(
            "{}-{}",
            self.rng
                .pick(&["media-uploads", "etl-staging", "app-assets", "logs-archive"]),
            ACCOUNT
        );
        let key = format!(
            "{}/{}/{}.{}",
            self.rng
                .pick(&["2024/08/01", "tenants/acme", "exports", "raw"]),
            self.rng.hex(8),
            self.rng.alnum(12),
            self.rng.pick(&["json", "parquet", "jpg", "csv.gz"])
        );
        r["requestParameters"] = json!({"bucketName": bucket, "Host": format!("{bucket}.s3.us-east-1.amazonaws.com"), "key": key});
        r["additionalEventData"] = json!({"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": if name == "PutObject" { self.rng.below(5_000_000) } else { 0 },
            "AuthenticationMethod": "AuthHeader", "x-amz-id-2": self.rng.alnum(76),
            "bytesTransferredOut": if name == "GetObject" { self.rng.below(5_000_000) } else { 0 }});
        r["resources"] = json!([
            {"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{key}")},
            {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}
        ]);
        r["managementEvent"] = json!(false);
        r["eventCategory"] = json!("Data");
        r
    }

    fn kms(&mut self) -> Value {
        let name = *self
            .rng
            .pick(&["Decrypt", "Decrypt", "GenerateDataKey", "Encrypt"]);
        let service = *self.rng.pick(&[
            "s3.amazonaws.com",
            "secretsmanager.amazonaws.com",
            "dynamodb.amazonaws.com",
            "ssm.amazonaws.com",
        ]);
        let id = if self.rng.chance(600) {
            json!({"type": "AWSService", "invokedBy": service})
        } else {
            let mut i = self.role_identity();
            i["invokedBy"] = json!(service);
            i
        };
        let mut r = self.base("kms.amazonaws.com", name, id, true);
        r["sourceIPAddress"] = json!(service);
        r["userAgent"] = json!(service);
        let key = self.rng.uuid();
        r["requestParameters"] = json!({"encryptionContext": {"aws:s3:arn": format!("arn:aws:s3:::app-assets-{ACCOUNT}/{}", self.rng.alnum(20))},
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}")});
        r["resources"] = json!([{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}")}]);
        r
    }

    fn assume_role(&mut self) -> Value {
        let service = *self.rng.pick(&[
            "lambda.amazonaws.com",
            "ecs-tasks.amazonaws.com",
            "ec2.amazonaws.com",
        ]);
        let role = *self.rng.pick(ROLES);
        let mut r = self.base(
            "sts.amazonaws.com",
            "AssumeRole",
            json!({"type": "AWSService", "invokedBy": service}),
            true,
        );
        r["sourceIPAddress"] = json!(service);
        r["userAgent"] = json!(service);
        let session = self.rng.alnum(24);
        r["requestParameters"] = json!({"roleArn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"), "roleSessionName": session, "durationSeconds": 3600});
        r["responseElements"] = json!({
            "credentials": {"accessKeyId": format!("ASIA{}", self.rng.upper(16)), "sessionToken": self.rng.alnum(420), "expiration": "Aug 1, 2024, 2:35:40 PM"},
            "assumedRoleUser": {"assumedRoleId": format!("AROA{}:{session}", self.rng.upper(17)), "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}")}
        });
        r["resources"] = json!([{"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": format!("arn:aws:iam::{ACCOUNT}:role/{role}")}]);
        r
    }

    fn reads(&mut self) -> Value {
        let (source, name) = *self.rng.pick(&[
            ("ec2.amazonaws.com", "DescribeInstances"),
            ("ec2.amazonaws.com", "DescribeSecurityGroups"),
            ("ec2.amazonaws.com", "DescribeVpcs"),
            ("iam.amazonaws.com", "ListRoles"),
            ("iam.amazonaws.com", "GetRole"),
            ("lambda.amazonaws.com", "ListFunctions20150331"),
            ("logs.amazonaws.com", "DescribeLogGroups"),
            ("cloudtrail.amazonaws.com", "DescribeTrails"),
            ("config.amazonaws.com", "DescribeConfigurationRecorders"),
            ("dynamodb.amazonaws.com", "DescribeTable"),
            ("secretsmanager.amazonaws.com", "GetSecretValue"),
        ]);
        let id = if self.rng.chance(800) {
            self.role_identity()
        } else {
            self.user_identity()
        };
        let mut r = self.base(source, name, id, true);
        r["requestParameters"] = json!({"maxResults": 1000, "filterSet": {"items": [{"name": "tag:team", "valueSet": {"items": [{"value": "payments"}]}}]}});
        if self.rng.chance(40) {
            let code = *self.rng.pick(&[
                "AccessDenied",
                "Client.UnauthorizedOperation",
                "AccessDeniedException",
            ]);
            r["errorCode"] = json!(code);
            r["errorMessage"] = json!(format!("User: {} is not authorized to perform: {}:{} because no identity-based policy allows the action", r["userIdentity"]["arn"].as_str().unwrap_or(""), source.split('.').next().unwrap_or(""), name));
        }
        r
    }

    fn console_login(&mut self) -> Value {
        let success = self.rng.chance(700);
        let mut id = self.user_identity();
        id.as_object_mut().unwrap().remove("sessionContext");
        id["accessKeyId"] = json!("");
        if !success && self.rng.chance(500) {
            id["userName"] = json!("HIDDEN_DUE_TO_SECURITY_REASONS");
            id.as_object_mut().unwrap().remove("arn");
        }
        let mut r = self.base("signin.amazonaws.com", "ConsoleLogin", id, false);
        r.as_object_mut().unwrap().remove("requestID");
        r["eventType"] = json!("AwsConsoleSignIn");
        r["userAgent"] = json!(AGENTS[4]);
        r["responseElements"] =
            json!({"ConsoleLogin": if success { "Success" } else { "Failure" }});
        r["additionalEventData"] = json!({"LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true", "MobileVersion": "No", "MFAUsed": if self.rng.chance(600) { "Yes" } else { "No" }});
        if !success {
            r["errorMessage"] = json!("Failed authentication");
        }
        r
    }

    fn write_event(&mut self) -> Value {
        let (source, name) = *self.rng.pick(&[
            ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"),
            ("ec2.amazonaws.com", "CreateRoute"),
            ("iam.amazonaws.com", "PutRolePolicy"),
            ("iam.amazonaws.com", "CreateUser"),
            ("iam.amazonaws.com", "AttachRolePolicy"),
            ("s3.amazonaws.com", "PutBucketPolicy"),
            ("kms.amazonaws.com", "ScheduleKeyDeletion"),
        ]);
        let id = self.role_identity();
        let mut r = self.base(source, name, id, false);
        r["requestParameters"] = json!({"groupId": format!("sg-0{}", self.rng.hex(16)),
            "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
                "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]}});
        r
    }

    fn root(&mut self) -> Value {
        let name = *self
            .rng
            .pick(&["ListBuckets", "GetAccountSummary", "DescribeRegions"]);
        let key = format!("ASIA{}", self.rng.upper(16));
        let mut r = self.base("iam.amazonaws.com", name, json!({"type": "Root", "principalId": ACCOUNT,
            "arn": format!("arn:aws:iam::{ACCOUNT}:root"), "accountId": ACCOUNT, "accessKeyId": key}), true);
        if self.rng.chance(300) {
            r["userIdentity"]["invokedBy"] = json!("support.amazonaws.com");
        }
        r
    }

    fn service_event(&mut self) -> Value {
        let mut r = self.base(
            "kms.amazonaws.com",
            "RotateKey",
            json!({"accountId": ACCOUNT, "invokedBy": "kms.amazonaws.com"}),
            false,
        );
        r["eventType"] = json!("AwsServiceEvent");
        r["sourceIPAddress"] = json!("kms.amazonaws.com");
        r.as_object_mut().unwrap().remove("userAgent");
        r.as_object_mut().unwrap().remove("requestID");
        r.as_object_mut().unwrap().remove("tlsDetails");
        r["serviceEventDetails"] = json!({"keyRotationStatus": "Success"});
        r
    }

    fn record(&mut self) -> Value {
        if self.varied {
            return self.varied_record();
        }
        match self.rng.below(1000) {
            0..=299 => self.s3_data(),
            300..=499 => self.kms(),
            500..=679 => self.assume_role(),
            680..=949 => self.reads(),
            950..=979 => self.console_login(),
            980..=993 => self.write_event(),
            994..=996 => self.root(),
            _ => self.service_event(),
        }
    }
}

fn main() -> std::io::Result<()> {
    let mut mb: u64 = 256;
    let mut out = String::from("cloudtrail-bench.json.gz");
    let mut seed: u64 = 42;
    let mut plain = false;
    let mut varied = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mb" => mb = args.next().and_then(|v| v.parse().ok()).expect("--mb N"),
            "--out" => out = args.next().expect("--out PATH"),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).expect("--seed N"),
            "--plain" => plain = true,
            "--profile" => {
                varied = match args.next().as_deref() {
                    Some("varied") => true,
                    Some("uniform") => false,
                    _ => {
                        eprintln!("--profile varied|uniform");
                        std::process::exit(2);
                    }
                }
            }
            other => {
                eprintln!("usage: gen_cloudtrail [--mb N] [--out PATH] [--seed N] [--plain] [--profile varied|uniform]; unknown {other}");
                std::process::exit(2);
            }
        }
    }
    let target = mb * 1_000_000;
    let file = BufWriter::with_capacity(1 << 20, std::fs::File::create(&out)?);
    let (records, written) = if plain {
        let mut w = file;
        let n = generate(&mut w, seed, target, varied)?;
        w.flush()?;
        n
    } else {
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        let n = generate(
            &mut BufWriter::with_capacity(1 << 20, &mut enc),
            seed,
            target,
            varied,
        )?;
        enc.finish()?.flush()?;
        n
    };
    eprintln!("wrote {out}: {records} records, {written} bytes of JSON");
    Ok(())
}

/// Writes records until `target` bytes of JSON; returns (records, bytes).
fn generate<W: Write>(
    w: &mut W,
    seed: u64,
    target: u64,
    varied: bool,
) -> std::io::Result<(u64, u64)> {
    let mut g = Gen {
        rng: Rng(seed.max(1)),
        t: 0,
        varied,
        n: 0,
        error_rate: 20,
        services: services(),
    };
    w.write_all(b"{\"Records\":[")?;
    let mut written: u64 = 12;
    let mut records: u64 = 0;
    let mut buf = Vec::with_capacity(4096);
    while written < target {
        buf.clear();
        if records > 0 {
            buf.push(b',');
        }
        serde_json::to_writer(&mut buf, &g.record())?;
        w.write_all(&buf)?;
        written += buf.len() as u64;
        records += 1;
    }
    w.write_all(b"]}")?;
    w.flush()?;
    Ok((records, written + 2))
}

/// The varied profile's services: `source reads... | writes...`.
const SERVICE_TABLE: &[&str] = &[
    "ec2 DescribeInstances DescribeSecurityGroups DescribeVpcs DescribeSubnets DescribeVolumes DescribeSnapshots DescribeImages DescribeNetworkInterfaces DescribeRouteTables DescribeAddresses DescribeInstanceStatus DescribeLaunchTemplates DescribeKeyPairs DescribeRegions | CreateTags DeleteTags CreateVolume AttachVolume DetachVolume CreateSnapshot DeleteSnapshot StartInstances StopInstances TerminateInstances CreateLaunchTemplateVersion ModifyInstanceAttribute CreateNetworkInterface AssociateAddress CreateRoute ReplaceRoute",
    "iam GetRole GetUser GetPolicy GetPolicyVersion ListRoles ListUsers ListPolicies ListAttachedRolePolicies ListRolePolicies ListAccessKeys GetAccountSummary ListInstanceProfilesForRole GenerateCredentialReport | CreateRole AttachRolePolicy DetachRolePolicy PutRolePolicy DeleteRolePolicy TagRole CreatePolicy CreatePolicyVersion DeletePolicyVersion CreateServiceLinkedRole UpdateRoleDescription PassRole",
    "s3 ListBuckets GetBucketAcl GetBucketPolicy GetBucketLocation GetBucketVersioning GetBucketEncryption GetBucketTagging GetBucketLogging GetBucketPublicAccessBlock GetBucketOwnershipControls GetBucketLifecycle | CreateBucket PutBucketTagging PutBucketVersioning PutBucketEncryption PutBucketLifecycle PutBucketNotification PutBucketOwnershipControls PutBucketCors",
    "lambda GetFunction GetFunctionConfiguration ListFunctions20150331 ListVersionsByFunction GetPolicy20150331v2 ListEventSourceMappings ListTags20170331 | UpdateFunctionConfiguration20150331v2 UpdateFunctionCode20150331v2 PublishVersion20150331 CreateAlias20150331 TagResource20170331 PutFunctionConcurrency20171031 CreateEventSourceMapping20150331",
    "dynamodb DescribeTable ListTables DescribeContinuousBackups DescribeTimeToLive ListTagsOfResource DescribeKinesisStreamingDestination | CreateTable UpdateTable TagResource UpdateTimeToLive CreateBackup UpdateContinuousBackups",
    "logs DescribeLogGroups DescribeLogStreams DescribeMetricFilters DescribeSubscriptionFilters GetLogEvents FilterLogEvents DescribeQueries | CreateLogGroup CreateLogStream PutRetentionPolicy PutMetricFilter PutSubscriptionFilter TagLogGroup DeleteLogStream",
    "monitoring DescribeAlarms GetMetricData ListMetrics DescribeAlarmHistory GetDashboard | PutMetricAlarm PutDashboard DeleteAlarms SetAlarmState TagResource",
    "cloudformation DescribeStacks DescribeStackEvents DescribeStackResources ListStacks GetTemplate ListExports DescribeChangeSet | CreateStack UpdateStack DeleteStack CreateChangeSet ExecuteChangeSet",
    "sts GetCallerIdentity GetSessionToken DecodeAuthorizationMessage | AssumeRoleWithWebIdentity",
    "kms DescribeKey ListAliases ListKeys GetKeyPolicy GetKeyRotationStatus ListGrants | CreateGrant RetireGrant TagResource CreateAlias EnableKeyRotation",
    "secretsmanager DescribeSecret ListSecrets GetResourcePolicy ListSecretVersionIds | PutSecretValue UpdateSecret RotateSecret TagResource CreateSecret",
    "ssm GetParameter GetParameters DescribeParameters DescribeInstanceInformation ListCommands GetParametersByPath ListAssociations | PutParameter DeleteParameter UpdateInstanceInformation CreateAssociation AddTagsToResource",
    "ecr DescribeRepositories DescribeImages BatchCheckLayerAvailability GetAuthorizationToken ListImages GetDownloadUrlForLayer BatchGetImage | PutImage InitiateLayerUpload UploadLayerPart CompleteLayerUpload TagResource PutLifecyclePolicy",
    "ecs DescribeServices DescribeTasks DescribeClusters ListTasks ListServices DescribeTaskDefinition DescribeContainerInstances | UpdateService RegisterTaskDefinition RunTask StopTask TagResource SubmitTaskStateChange",
    "eks DescribeCluster ListClusters DescribeNodegroup ListNodegroups DescribeAddon | UpdateNodegroupConfig CreateAddon UpdateClusterConfig TagResource",
    "elasticloadbalancing DescribeLoadBalancers DescribeTargetGroups DescribeTargetHealth DescribeListeners DescribeRules | RegisterTargets DeregisterTargets ModifyTargetGroup CreateRule ModifyListener",
    "autoscaling DescribeAutoScalingGroups DescribeScalingActivities DescribeLaunchConfigurations DescribePolicies | SetDesiredCapacity UpdateAutoScalingGroup CompleteLifecycleAction PutScalingPolicy",
    "rds DescribeDBInstances DescribeDBClusters DescribeDBSnapshots DescribeDBParameterGroups DescribeEvents ListTagsForResource | CreateDBSnapshot ModifyDBInstance RebootDBInstance AddTagsToResource CreateDBClusterSnapshot",
    "sns ListTopics GetTopicAttributes ListSubscriptionsByTopic GetSubscriptionAttributes | Publish CreateTopic Subscribe SetTopicAttributes TagResource",
    "sqs ListQueues GetQueueAttributes GetQueueUrl ListQueueTags | CreateQueue SetQueueAttributes PurgeQueue TagQueue",
    "events DescribeRule ListRules ListTargetsByRule DescribeEventBus | PutRule PutTargets PutEvents TagResource",
    "states DescribeStateMachine ListExecutions DescribeExecution GetExecutionHistory | StartExecution UpdateStateMachine TagResource",
    "apigateway GetRestApis GetResources GetStages GetDeployments GetAuthorizers | CreateDeployment UpdateStage PutIntegration CreateResource",
    "route53 ListHostedZones GetHostedZone ListResourceRecordSets GetChange | ChangeResourceRecordSets ChangeTagsForResource",
    "cloudfront ListDistributions GetDistribution GetDistributionConfig | CreateInvalidation UpdateDistribution",
    "elasticache DescribeCacheClusters DescribeReplicationGroups DescribeSnapshots | ModifyReplicationGroup CreateSnapshot",
    "es DescribeDomain ListDomainNames DescribeDomainConfig | UpdateDomainConfig AddTags",
    "glue GetTables GetDatabases GetJobRuns GetCrawler GetPartitions | StartJobRun StartCrawler BatchCreatePartition UpdateTable",
    "athena GetQueryExecution GetQueryResults ListWorkGroups GetWorkGroup | StartQueryExecution StopQueryExecution",
    "config DescribeConfigRules DescribeComplianceByConfigRule GetComplianceDetailsByConfigRule DescribeConfigurationRecorders | PutEvaluations PutConfigRule StartConfigRulesEvaluation",
    "cloudtrail DescribeTrails GetTrailStatus GetEventSelectors LookupEvents ListTrails GetInsightSelectors | AddTags CreateTrail",
    "guardduty ListDetectors GetDetector ListFindings GetFindings | ArchiveFindings UpdateFindingsFeedback CreateSampleFindings",
    "securityhub GetFindings DescribeHub GetEnabledStandards DescribeStandardsControls | BatchImportFindings BatchUpdateFindings",
    "organizations DescribeOrganization ListAccounts DescribeAccount ListParents ListPoliciesForTarget | TagResource",
    "sso ListPermissionSets DescribePermissionSet ListAccountAssignments ListInstances | ProvisionPermissionSet CreateAccountAssignment",
    "codebuild BatchGetProjects ListBuilds BatchGetBuilds | StartBuild StopBuild UpdateProject",
    "codepipeline GetPipeline GetPipelineState ListPipelineExecutions | StartPipelineExecution PutJobSuccessResult",
    "kinesis DescribeStream ListStreams DescribeStreamSummary ListShards | PutRecords CreateStream IncreaseStreamRetentionPeriod",
    "bedrock ListFoundationModels GetFoundationModel ListCustomModels GetModelInvocationLoggingConfiguration | InvokeModel Converse",
    "backup ListBackupPlans ListBackupJobs DescribeBackupVault ListRecoveryPointsByBackupVault | StartBackupJob CreateBackupSelection",
];

fn services() -> Vec<Service> {
    SERVICE_TABLE
        .iter()
        .map(|line| {
            let (head, writes) = line.split_once(" | ").expect("reads | writes");
            let mut words = head.split(' ');
            let short = words.next().expect("source");
            let source: &'static str = Box::leak(format!("{short}.amazonaws.com").into_boxed_str());
            Service {
                source,
                reads: words.collect(),
                writes: writes.split(' ').collect(),
            }
        })
        .collect()
}

const ERRORS: &[(&str, &str)] = &[
    ("AccessDenied", "User: {arn} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action"),
    ("AccessDeniedException", "User: {arn} is not authorized to perform: {action} with an explicit deny in a service control policy"),
    ("Client.UnauthorizedOperation", "You are not authorized to perform this operation. User: {arn} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action. Encoded authorization failure message: {blob}"),
    ("ThrottlingException", "Rate exceeded"),
    ("Client.RequestLimitExceeded", "Request limit exceeded."),
    ("ValidationException", "1 validation error detected: Value null at 'resourceArn' failed to satisfy constraint: Member must not be null"),
    ("ResourceNotFoundException", "Requested resource not found: {resource}"),
    ("NoSuchEntityException", "The role with name {resource} cannot be found."),
    ("Client.InvalidInstanceID.NotFound", "The instance ID '{resource}' does not exist"),
    ("InvalidParameterValueException", "The provided execution role does not have permissions to call CreateNetworkInterface on EC2"),
];

impl Gen {
    fn varied_record(&mut self) -> Value {
        if self.n.is_multiple_of(2000) {
            self.error_rate = if self.rng.chance(167) { 350 } else { 20 };
        }
        self.n += 1;
        let mut r = match self.rng.below(1000) {
            0..=219 => self.s3_data_varied(),
            220..=309 => self.kms(),
            310..=399 => self.assume_role(),
            400..=699 => self.management(false),
            700..=839 => self.management(true),
            840..=959 => self.candidate(),
            960..=979 => self.console_login(),
            980..=989 => self.root(),
            _ => self.service_event(),
        };
        let is_service = r["userIdentity"]["type"] == "AWSService"
            || r["eventType"] == "AwsServiceEvent"
            || r["eventName"] == "ConsoleLogin";
        if !is_service && r.get("errorCode").is_none() && self.rng.chance(self.error_rate) {
            self.fail(&mut r);
        }
        r
    }

    fn fail(&mut self, r: &mut Value) {
        let (code, template) = *self.rng.pick(ERRORS);
        let source = r["eventSource"]
            .as_str()
            .unwrap_or("")
            .replace(".amazonaws.com", "");
        let action = format!("{source}:{}", r["eventName"].as_str().unwrap_or(""));
        let arn = r["userIdentity"]["arn"].as_str().unwrap_or("").to_string();
        let resource = format!(
            "arn:aws:{source}:us-east-1:{ACCOUNT}:resource/{}",
            self.rng.alnum(10)
        );
        let mut blob = String::new();
        if template.contains("{blob}") {
            let n = 300 + self.rng.below(900) as usize;
            blob = self.rng.alnum(n);
        }
        let message = template
            .replace("{arn}", &arn)
            .replace("{action}", &action)
            .replace("{resource}", &resource)
            .replace("{blob}", &blob);
        r["errorCode"] = json!(code);
        r["errorMessage"] = json!(message);
        r["responseElements"] = Value::Null;
    }

    /// A nested element of about `bytes` bytes: objects in arrays in objects, as EC2, ECS and
    /// CloudFormation record them.
    fn nested(&mut self, bytes: usize, depth: u32) -> Value {
        const KEYS: &[&str] = &[
            "items",
            "instanceId",
            "networkInterfaceSet",
            "groupSet",
            "tagSet",
            "key",
            "value",
            "privateIpAddress",
            "subnetId",
            "blockDeviceMapping",
            "deviceName",
            "ebs",
            "volumeId",
            "status",
            "attachTime",
            "deleteOnTermination",
            "containerDefinitions",
            "environment",
            "name",
            "portMappings",
            "containerPort",
            "protocol",
            "logConfiguration",
            "options",
            "ParameterKey",
            "ParameterValue",
            "Statement",
            "Effect",
            "Action",
            "Resource",
            "Condition",
            "StringEquals",
            "capacityReservationSpecification",
        ];
        if bytes < 60 || depth >= 6 {
            return match self.rng.below(4) {
                0 => json!(self.rng.below(100_000)),
                1 => json!(self.rng.chance(500)),
                _ => json!(self.rng.alnum(8 + bytes.min(200) / 4)),
            };
        }
        if self.rng.chance(400) {
            let n = 2 + self.rng.below(6) as usize;
            Value::Array((0..n).map(|_| self.nested(bytes / n, depth + 1)).collect())
        } else {
            let n = 2 + self.rng.below(5) as usize;
            let mut m = serde_json::Map::new();
            for _ in 0..n {
                let k = *self.rng.pick(KEYS);
                let v = self.nested(bytes / n, depth + 1);
                m.insert(k.to_string(), v);
            }
            Value::Object(m)
        }
    }

    /// Extra bytes for a write's elements: heavy-tailed.
    fn element_bytes(&mut self) -> usize {
        match self.rng.below(100) {
            0 => 20_000 + self.rng.below(40_000) as usize,
            1..=10 => 4_000 + self.rng.below(8_000) as usize,
            _ => 200 + self.rng.below(1_200) as usize,
        }
    }

    fn identity_any(&mut self) -> Value {
        if self.rng.chance(800) {
            self.role_identity()
        } else {
            self.user_identity()
        }
    }

    fn management(&mut self, write: bool) -> Value {
        let i = self.rng.below(self.services.len() as u64) as usize;
        let (source, name) = {
            let s = &self.services[i];
            let names = if write { &s.writes } else { &s.reads };
            (s.source, names[self.rng.below(names.len() as u64) as usize])
        };
        let id = self.identity_any();
        let mut r = self.base(source, name, id, !write);
        if write {
            let n = self.element_bytes();
            r["requestParameters"] = self.nested(n * 2 / 3, 0);
            if self.rng.chance(600) {
                let n = self.element_bytes();
                r["responseElements"] = self.nested(n / 2, 0);
            }
        } else if self.rng.chance(700) {
            r["requestParameters"] = json!({"maxResults": 100, "nextToken": self.rng.alnum(40)});
        }
        r
    }

    fn s3_data_varied(&mut self) -> Value {
        let mut r = self.s3_data();
        let name = *self.rng.pick(&[
            "GetObject",
            "GetObject",
            "GetObject",
            "PutObject",
            "HeadObject",
            "DeleteObject",
            "ListObjects",
            "CopyObject",
            "CreateMultipartUpload",
            "UploadPart",
            "CompleteMultipartUpload",
            "GetObjectTagging",
        ]);
        r["eventName"] = json!(name);
        r
    }

    fn policy_text(&mut self, principal: &str) -> String {
        let actions = self.rng.pick(&[
            "\"sts:AssumeRole\"",
            "[\"s3:GetObject\",\"s3:PutObject\"]",
            "\"*\"",
            "[\"logs:CreateLogStream\",\"logs:PutLogEvents\"]",
        ]);
        format!(
            "{{\n    \"Version\": \"2012-10-17\",\n    \"Statement\": [\n        {{\n            \"Effect\": \"Allow\",\n            \"Principal\": {principal},\n            \"Action\": {actions},\n            \"Condition\": {{\"StringEquals\": {{\"aws:SourceAccount\": \"{ACCOUNT}\"}}}}\n        }}\n    ]\n}}"
        )
    }

    /// A record some detection must look into closely.
    fn candidate(&mut self) -> Value {
        let id = self.identity_any();
        match self.rng.below(10) {
            0 => {
                let mut r = self.base("iam.amazonaws.com", "UpdateAssumeRolePolicy", id, false);
                let principal = if self.rng.chance(50) {
                    "{\"AWS\": \"arn:aws:iam::999988887777:root\"}".to_string()
                } else {
                    "{\"Service\": \"lambda.amazonaws.com\"}".to_string()
                };
                r["requestParameters"] = json!({"roleName": "app-worker", "policyDocument": self.policy_text(&principal)});
                r
            }
            1 => {
                let name =
                    *self
                        .rng
                        .pick(&["PutRolePolicy", "PutUserPolicy", "CreatePolicyVersion"]);
                let mut r = self.base("iam.amazonaws.com", name, id, false);
                let doc = self
                    .policy_text("{\"AWS\": \"*\"}")
                    .replace("\"Principal\": {\"AWS\": \"*\"},\n            ", "");
                r["requestParameters"] = json!({"roleName": "app-worker", "policyName": "inline", "policyDocument": doc});
                r
            }
            2 => {
                let mut r = self.base("s3.amazonaws.com", "PutBucketPolicy", id, false);
                let principal = if self.rng.chance(30) {
                    json!("*")
                } else {
                    json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:role/app-api")})
                };
                r["requestParameters"] = json!({"bucketName": "app-assets", "Host": "app-assets.s3.amazonaws.com", "policy": "",
                    "bucketPolicy": {"Version": "2012-10-17", "Statement": [
                        {"Sid": "AllowApp", "Effect": "Allow", "Principal": principal, "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::app-assets/*"},
                        {"Sid": "DenyInsecure", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::app-assets", "arn:aws:s3:::app-assets/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}});
                r
            }
            3 => {
                let mut r = self.base(
                    "ec2.amazonaws.com",
                    "AuthorizeSecurityGroupIngress",
                    id,
                    false,
                );
                let cidr = if self.rng.chance(100) {
                    "0.0.0.0/0".to_string()
                } else {
                    format!("10.{}.0.0/16", self.rng.below(256))
                };
                r["requestParameters"] = json!({"groupId": format!("sg-0{}", self.rng.hex(16)),
                    "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "groups": {}, "ipRanges": {"items": [{"cidrIp": cidr}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}});
                r["responseElements"] = json!({"requestId": self.rng.uuid(), "_return": true, "securityGroupRuleSet": {"items": [{"groupOwnerId": ACCOUNT, "groupId": "sg-0a1b2c3d", "securityGroupRuleId": format!("sgr-0{}", self.rng.hex(16)), "isEgress": false, "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": cidr}]}});
                r
            }
            4 => {
                let name = *self
                    .rng
                    .pick(&["ModifySnapshotAttribute", "ModifyImageAttribute"]);
                let mut r = self.base("ec2.amazonaws.com", name, id, false);
                let verb = if self.rng.chance(500) {
                    "add"
                } else {
                    "remove"
                };
                r["requestParameters"] = json!({"snapshotId": format!("snap-0{}", self.rng.hex(16)), "attributeType": "CREATE_VOLUME_PERMISSION",
                    "createVolumePermission": {verb: {"items": [{"userId": ACCOUNT}]}}});
                r
            }
            5 => {
                let mut r = self.base("cloudtrail.amazonaws.com", "PutEventSelectors", id, false);
                r["requestParameters"] = json!({"trailName": "org-trail", "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": true,
                    "dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3"]}], "excludeManagementEventSources": []}]});
                r
            }
            6 => {
                let mut r = self.base("secretsmanager.amazonaws.com", "GetSecretValue", id, true);
                r["requestParameters"] = json!({"secretId": format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/db/{}", self.rng.alnum(6))});
                r
            }
            7 => {
                let mut r = self.base("ec2.amazonaws.com", "RunInstances", id, false);
                let n = 1 + self.rng.below(4) as usize;
                r["requestParameters"] = json!({"instancesSet": {"items": [{"imageId": format!("ami-0{}", self.rng.hex(16)), "minCount": 1, "maxCount": n}]},
                    "instanceType": *self.rng.pick(&["t3.micro", "m5.large", "c6g.xlarge", "r6i.2xlarge"]), "blockDeviceMapping": {}, "monitoring": {"enabled": false},
                    "disableApiTermination": false, "clientToken": self.rng.uuid(), "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [{"key": "team", "value": "payments"}]}]}});
                let sz = 3_000 * n + self.element_bytes();
                r["responseElements"] = json!({"reservationId": format!("r-0{}", self.rng.hex(16)), "ownerId": ACCOUNT, "instancesSet": {"items": (0..n).map(|_| self.nested(sz / n, 1)).collect::<Vec<_>>()}});
                r
            }
            8 => {
                let name = *self.rng.pick(&[
                    "CreateAccessKey",
                    "CreateLoginProfile",
                    "AttachUserPolicy",
                    "StopLogging",
                    "DeleteFlowLogs",
                ]);
                let source = match name {
                    "StopLogging" => "cloudtrail.amazonaws.com",
                    "DeleteFlowLogs" => "ec2.amazonaws.com",
                    _ => "iam.amazonaws.com",
                };
                let mut r = self.base(source, name, id, false);
                r["requestParameters"] = json!({"userName": *self.rng.pick(USERS)});
                if self.rng.chance(900) {
                    // Mostly failed attempts: the records detections must look at and reject.
                    self.fail(&mut r);
                }
                r
            }
            _ => {
                let mut r = self.base("ssm.amazonaws.com", "GetParameters", id, true);
                r["requestParameters"] = json!({"names": (0..1 + self.rng.below(8)).map(|_| format!("/prod/app/{}", self.rng.alnum(10))).collect::<Vec<_>>(), "withDecryption": self.rng.chance(500)});
                r
            }
        }
    }
}

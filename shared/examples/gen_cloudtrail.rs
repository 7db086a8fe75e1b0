//! Writes a realistic, reproducible CloudTrail log file of a chosen size, for benchmarks.
//!
//!     gen_cloudtrail --mb 256 --out /tmp/big.json.gz [--seed 42] [--plain]
//!
//! The mix resembles a busy account with data events: S3 object reads and writes, KMS
//! decrypts by services, role assumptions with long session tokens, EC2/IAM reads, Lambda
//! and DynamoDB calls, a few percent of AccessDenied errors, console sign-ins (some failed,
//! some without MFA), occasional security group, IAM and route changes, root activity and AWS
//! service events without a `userIdentity.type`. Records are compact JSON like CloudTrail's.

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
}

impl Gen {
    fn time(&mut self) -> String {
        self.t += self.rng.below(3);
        let s = self.t;
        format!(
            "2024-08-01T{:02}:{:02}:{:02}Z",
            13 + (s / 3600) % 10,
            (s / 60) % 60,
            s % 60
        )
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
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mb" => mb = args.next().and_then(|v| v.parse().ok()).expect("--mb N"),
            "--out" => out = args.next().expect("--out PATH"),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).expect("--seed N"),
            "--plain" => plain = true,
            other => {
                eprintln!("usage: gen_cloudtrail [--mb N] [--out PATH] [--seed N] [--plain]; unknown {other}");
                std::process::exit(2);
            }
        }
    }
    let target = mb * 1_000_000;
    let file = BufWriter::with_capacity(1 << 20, std::fs::File::create(&out)?);
    let (records, written) = if plain {
        let mut w = file;
        let n = generate(&mut w, seed, target)?;
        w.flush()?;
        n
    } else {
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        let n = generate(
            &mut BufWriter::with_capacity(1 << 20, &mut enc),
            seed,
            target,
        )?;
        enc.finish()?.flush()?;
        n
    };
    eprintln!("wrote {out}: {records} records, {written} bytes of JSON");
    Ok(())
}

/// Writes records until `target` bytes of JSON; returns (records, bytes).
fn generate<W: Write>(w: &mut W, seed: u64, target: u64) -> std::io::Result<(u64, u64)> {
    let mut g = Gen {
        rng: Rng(seed.max(1)),
        t: 0,
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

//! `trailwarden detections --coverage`, `--families` and `--markdown`, and the catalog options
//! of `trailwarden scan` (`--deployer-role`, `--approved-creator`).

use serde_json::Value;
use std::process::{Command, Output};
use trailwarden::detect::mitre::Tactic;
use trailwarden::detect::{BuiltinOptions, Catalog};
use trailwarden_testkit::harness::terraform_log_group_deletion;

/// CloudTrail records and identities, shared with `shared`'s tests (this test reads one).
#[path = "../../shared/tests/fixtures/cloudtrail.rs"]
#[allow(dead_code)]
mod cloudtrail;

fn trailwarden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailwarden"))
        .args(args)
        .output()
        .expect("run trailwarden")
}

fn builtin() -> Catalog {
    Catalog::builtin(BuiltinOptions::default())
}

#[test]
fn coverage_counts_detections_per_tactic_in_matrix_order() {
    let o = trailwarden(&["--format", "json", "detections", "--coverage"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let cat = builtin();
    assert_eq!(v["detections"], cat.len());
    let tactics = v["tactics"].as_array().unwrap();
    let ids: Vec<&str> = tactics.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "TA0043", "TA0042", "TA0001", "TA0002", "TA0003", "TA0004", "TA0005", "TA0006",
            "TA0007", "TA0008", "TA0009", "TA0011", "TA0010", "TA0040"
        ]
    );
    for (t, tactic) in tactics.iter().zip(Tactic::ALL) {
        let expected = cat
            .detections()
            .iter()
            .filter(|d| d.tactics().contains(&tactic))
            .count();
        assert_eq!(t["detections"], expected, "{}", tactic.name());
        for tech in t["techniques"].as_array().unwrap() {
            let id = tech["id"].as_str().unwrap();
            let using = cat
                .detections()
                .iter()
                .filter(|d| d.references.mitre_attack.iter().any(|m| m == id))
                .count();
            assert_eq!(tech["detections"], using, "{id} under {}", tactic.name());
            assert!(!tech["name"].as_str().unwrap().is_empty());
        }
    }
    // T1562.008 (cloud logs) is defense evasion and nothing else.
    let evasion = &tactics[6];
    assert!(evasion["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == "T1562.008"
            && t["name"] == "Impair Defenses: Disable or Modify Cloud Logs"));
    assert!(!tactics[13]["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == "T1562.008"));

    let o = trailwarden(&["detections", "--coverage"]);
    let text = String::from_utf8_lossy(&o.stdout);
    let n = tactics[6]["detections"].as_u64().unwrap();
    assert!(
        text.contains(&format!("Defense Evasion (TA0005): {n} detections")),
        "{text}"
    );
    assert!(text.find("Initial Access").unwrap() < text.find("Impact (TA0040)").unwrap());
}

#[test]
fn families_list_counts_and_descriptions() {
    let cat = builtin();
    let o = trailwarden(&["--format", "json", "detections", "--families"]);
    assert_eq!(o.status.code(), Some(0));
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    let expected = cat.families();
    assert_eq!(rows.len(), expected.len());
    for (row, (family, n)) in rows.iter().zip(&expected) {
        assert_eq!(row["family"], family.as_str());
        assert_eq!(row["detections"], *n);
        assert!(
            !row["description"].as_str().unwrap_or_default().is_empty(),
            "{family} has a description"
        );
    }
    let o = trailwarden(&["detections", "--families", "--disable-family", "cis"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.lines().any(|l| l.starts_with("cis ")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("identity ")), "{text}");
}

#[test]
fn markdown_table_has_family_and_tactic_columns() {
    let cat = builtin();
    let o = trailwarden(&["detections", "--markdown"]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "| id | title | family | severity | tactics | MITRE ATT&CK | CIS v1.4 | threshold |"
    );
    assert_eq!(lines.len(), cat.len() + 2);
    let d = cat.get("cloudtrail-tampering").unwrap();
    let row = lines
        .iter()
        .find(|l| l.starts_with("| `cloudtrail-tampering` |"))
        .unwrap();
    let cells: Vec<&str> = row.split(" | ").collect();
    assert_eq!(cells[2], d.family);
    assert_eq!(cells[4], "Defense Evasion");
    // Only one view at a time.
    let o = trailwarden(&["detections", "--markdown", "--coverage"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `trailwarden --format json scan` of one log file (`file`, under a folder named by `tag`)
/// holding `records`, with the given options: the report (exit code and stderr on failure).
fn scan_report(
    tag: &str,
    file: &str,
    records: &[Value],
    options: &[&str],
) -> Result<Value, (Option<i32>, String)> {
    let dir = std::env::temp_dir().join(format!("tw-{tag}-{}", std::process::id()));
    let logs = dir.join("AWSLogs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(
        logs.join(file),
        serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap(),
    )
    .unwrap();
    let mut args = vec!["--format", "json", "scan"];
    args.extend_from_slice(options);
    let path = logs.to_str().unwrap().to_string();
    args.push(&path);
    let o = trailwarden(&args);
    if o.status.code() != Some(0) {
        return Err((
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ));
    }
    Ok(serde_json::from_slice(&o.stdout).unwrap())
}

/// `trailwarden scan` on one log file with the given options: the principals of the
/// `logs-log-group-deleted` finding (exit code and stderr on failure).
fn log_group_deletions(options: &[&str]) -> Result<Vec<String>, (Option<i32>, String)> {
    let records = [
        terraform_log_group_deletion(
            "111122223333",
            "terraform",
            "0a8b2c4d-1e3f-4a5b-8c7d-9e0f1a2b3c4d",
        ),
        terraform_log_group_deletion(
            "111122223333",
            "app-runtime",
            "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
        ),
    ];
    let report = scan_report(
        "deployer",
        "111122223333_CloudTrail_eu-west-1_20250304T1015Z_Qr5sT7uV9wX1yZ3a.json",
        &records,
        options,
    )?;
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["detection"] == "logs-log-group-deleted");
    let mut principals: Vec<String> = finding
        .map(|f| {
            f["principals"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["value"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    principals.sort();
    Ok(principals)
}

#[test]
fn deployer_roles_are_left_out_by_their_role_not_by_their_user_agent() {
    let everyone = log_group_deletions(&[]).unwrap();
    assert_eq!(everyone.len(), 2, "{everyone:?}");
    let rest = log_group_deletions(&[
        "--deployer-role",
        "arn:aws:iam::111122223333:role/terraform",
    ])
    .unwrap();
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(rest[0].contains("app-runtime"), "{rest:?}");
    let (code, stderr) =
        log_group_deletions(&["--deployer-role", "arn:aws:iam::111122223333:role/*"]).unwrap_err();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--deployer-role"), "{stderr}");
}

/// `trailwarden scan` on one CreateRole record (a role named `stacksets-exec-prod`) with the
/// given options: the ids of the findings.
fn role_creation_findings(options: &[&str]) -> Vec<String> {
    let record = serde_json::json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDA5EXAMPLEMALLORY1",
            "arn": "arn:aws:iam::111122223333:user/mallory",
            "accountId": "111122223333",
            "accessKeyId": "AKIA5EXAMPLEMALLORY1",
            "userName": "mallory"
        },
        "eventTime": "2025-03-04T10:12:40Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateRole",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.23",
        "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws",
        "requestParameters": {
            "roleName": "stacksets-exec-prod",
            "assumeRolePolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:user/mallory\"},\"Action\":\"sts:AssumeRole\"}]}"
        },
        "responseElements": {"role": {
            "path": "/",
            "roleName": "stacksets-exec-prod",
            "roleId": "AROA5EXAMPLEROLEPROD1",
            "arn": "arn:aws:iam::111122223333:role/stacksets-exec-prod",
            "createDate": "Mar 4, 2025 10:12:40 AM"
        }},
        "requestID": "3f1d2c4b-5a6e-4f70-8b9c-0d1e2f3a4b5c",
        "eventID": "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d",
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management"
    });
    let report = scan_report(
        "creator",
        "111122223333_CloudTrail_us-east-1_20250304T1015Z_Ab5sT7uV9wX1yZ3a.json",
        &[record],
        options,
    )
    .unwrap_or_else(|(code, stderr)| panic!("exit {code:?}: {stderr}"));
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["detection"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_role_made_to_fit_an_approved_creator_is_a_finding() {
    let guard = "approved-creator-role-created-or-trust-changed";
    assert!(!role_creation_findings(&[]).iter().any(|d| d == guard));
    let found =
        role_creation_findings(&["--approved-creator", "arn:aws:iam::*:role/stacksets-exec-*"]);
    assert!(found.iter().any(|d| d == guard), "{found:?}");
    // A user pattern is unapproved-user's to answer: no guard.
    let users = role_creation_findings(&[
        "--approved-creator",
        "arn:aws:iam::111122223333:user/admins/*",
    ]);
    assert!(!users.iter().any(|d| d == guard), "{users:?}");
}

#[test]
fn the_exemption_tag_detection_follows_exempt_tag() {
    let tag = |key: &str| {
        let mut r = cloudtrail::security_group_tagged("111122223333", key, "yes");
        r["eventID"] = format!("7a8b9c0d-1e2f-4a3b-9c4d-{:012}", key.len()).into();
        r
    };
    let records = [tag("trailwarden:exempt"), tag("sec:exempt")];
    let found = |options: &[&str]| -> Vec<String> {
        let report = scan_report(
            "exempt-tag",
            "111122223333_CloudTrail_us-east-1_20250304T1015Z_Cd5sT7uV9wX1yZ3a.json",
            &records,
            options,
        )
        .unwrap_or_else(|(code, stderr)| panic!("exit {code:?}: {stderr}"));
        let finding = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["detection"] == "ec2-security-group-exempt-tag-changed")
            .cloned()
            .unwrap_or_default();
        vec![
            finding["title"].as_str().unwrap_or_default().to_string(),
            finding["count"].to_string(),
        ]
    };
    let default = found(&[]);
    assert!(default[0].contains("trailwarden:exempt"), "{default:?}");
    assert_eq!(default[1], "1");
    let custom = found(&["--exempt-tag", "sec:exempt"]);
    assert!(custom[0].contains("sec:exempt"), "{custom:?}");
    assert_eq!(custom[1], "1");
}

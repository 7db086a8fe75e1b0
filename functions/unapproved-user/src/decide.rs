//! The pure decision: from (payload, configuration, approvals) to ignore, approved, or the
//! response to carry out. No AWS calls here.

use crate::approval::{creator_label, Approvals, Verdict};
use crate::config::{Config, Mode};
use trailwarden::{Action, Payload, Principal, Record, Status};

/// The IAM user a `CreateUser` event created, as the event describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub name: String,
    pub path: String,
    /// `responseElements.user.arn`.
    pub arn: Option<String>,
    /// `responseElements.user.userId` (`AIDA…`): tells this user apart from a later one
    /// re-created under the same name.
    pub user_id: Option<String>,
    /// `responseElements.user.createDate`, as written (`Aug 1, 2024 1:33:28 PM`: not ISO 8601).
    pub create_date: Option<String>,
}

impl NewUser {
    /// The partition of the user's ARN (`aws`, `aws-us-gov`, `aws-cn`), `aws` when unknown.
    pub fn partition(&self) -> &str {
        self.arn
            .as_deref()
            .and_then(|a| a.split(':').nth(1))
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
    }
}

/// What to do about an unapproved user.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub user: NewUser,
    pub creator: Principal,
    /// The ARN the creator was matched by (the role ARN for role sessions).
    pub creator_arn: Option<String>,
    /// Why the user is not approved, in words.
    pub reason: String,
    pub mode: Mode,
    pub dry_run: bool,
}

/// The decision about one payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Not ours to act on; the reason is logged.
    Ignore(String),
    /// An approved user: never touched. The reason is logged.
    Approved { user: NewUser, reason: String },
    /// An unapproved user: respond.
    Respond(Box<Response>),
}

/// IAM user names: 1-64 of letters, digits and `+=,.@_-`.
pub fn valid_user_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

fn str_at<'a>(r: &'a Record, response_path: &str, request_path: &str) -> Option<&'a str> {
    r.response_element(response_path)
        .and_then(|v| v.as_str())
        .or_else(|| r.request_str(request_path))
        .filter(|s| !s.is_empty())
}

fn response_str(r: &Record, path: &str) -> Option<String> {
    r.response_element(path)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Decides what to do about a payload, given the approval lists in force.
pub fn decide(config: &Config, approvals: &Approvals, payload: &Payload) -> Decision {
    let Some(r) = payload.record() else {
        return Decision::Ignore(format!(
            "{}: not a CloudTrail event, so not an IAM CreateUser call",
            payload.describe()
        ));
    };
    if r.event_source() != "iam.amazonaws.com" || r.event_name() != "CreateUser" {
        return Decision::Ignore(format!(
            "{} {}: not an IAM CreateUser call",
            r.event_source(),
            r.event_name()
        ));
    }
    let creator = r.principal();
    let who = creator_label(&creator);
    let requested = r.request_str("userName").unwrap_or("(no name)");
    if r.failed() {
        return Decision::Ignore(format!(
            "CreateUser of \"{requested}\" by {who} failed with {}: nothing was created",
            r.error_code.as_deref().unwrap_or("an error")
        ));
    }
    let identity_arn = r.user_identity.as_ref().and_then(|u| u.arn.as_deref());
    let creator_arn = creator.match_arn().or(identity_arn).map(str::to_string);
    if config.common.is_own(creator_arn.as_deref()) || config.common.is_own(identity_arn) {
        return Decision::Ignore(format!(
            "CreateUser of \"{requested}\" by {who}, which is trailwarden's own role (OWN_ROLE_ARNS): never acted on (loop guard)"
        ));
    }
    let Some(name) = str_at(r, "user.userName", "userName") else {
        return Decision::Ignore(format!(
            "CreateUser by {who} names no user (requestParameters.userName and responseElements.user.userName are missing)"
        ));
    };
    if !valid_user_name(name) {
        return Decision::Ignore(format!(
            "CreateUser by {who} names {name:?}, which is not a valid IAM user name"
        ));
    }
    let user = NewUser {
        name: name.to_string(),
        path: str_at(r, "user.path", "path").unwrap_or("/").to_string(),
        arn: response_str(r, "user.arn"),
        user_id: response_str(r, "user.userId"),
        create_date: response_str(r, "user.createDate"),
    };
    match approvals.verdict(&user.name, &user.path, &creator, creator_arn.as_deref()) {
        Verdict::Approved(reason) => Decision::Approved { user, reason },
        Verdict::NotApproved(reason) => Decision::Respond(Box::new(Response {
            user,
            creator,
            creator_arn,
            reason,
            mode: config.mode,
            dry_run: config.common.dry_run,
        })),
    }
}

/// The steps a response would take, each `Planned` (what dry-run reports).
pub fn planned_actions(resp: &Response, evidence_bucket: Option<&str>) -> Vec<Action> {
    let u = resp.user.name.as_str();
    let planned = |step: &str, target: String, detail: &str| {
        Action::new(step, target, Status::Planned).with_detail(detail)
    };
    let mut out = vec![planned(
        "CaptureEvidence",
        u.to_string(),
        "read the user's groups, policies, credentials metadata, MFA devices and tags",
    )];
    if let Some(b) = evidence_bucket {
        out.push(planned(
            "PutEvidence",
            format!("s3://{b}/trailwarden/evidence/…/{u}/…"),
            "store the evidence as JSON (never overwritten)",
        ));
    }
    match resp.mode {
        Mode::Delete => {
            for (step, what) in [
                ("DeleteLoginProfile", "the console password"),
                ("DeleteAccessKey", "every access key"),
                ("DeleteSigningCertificate", "every signing certificate"),
                ("DeleteSSHPublicKey", "every SSH public key"),
                (
                    "DeleteServiceSpecificCredential",
                    "every service-specific credential",
                ),
                (
                    "DeactivateMFADevice",
                    "every MFA device (virtual ones are then deleted)",
                ),
                ("DeleteUserPolicy", "every inline policy"),
                ("DetachUserPolicy", "every attached managed policy"),
                ("RemoveUserFromGroup", "every group membership"),
                ("DeleteUser", "the user"),
            ] {
                out.push(planned(step, u.to_string(), what));
            }
        }
        Mode::Quarantine => {
            out.push(planned(
                "AttachUserPolicy",
                format!("arn:{}:iam::aws:policy/AWSDenyAll", resp.user.partition()),
                "deny every action",
            ));
            out.push(planned(
                "DeleteLoginProfile",
                u.to_string(),
                "the console password",
            ));
            out.push(planned(
                "UpdateAccessKey",
                u.to_string(),
                "set every access key Inactive",
            ));
            out.push(planned(
                "TagUser",
                u.to_string(),
                "trailwarden:quarantined, trailwarden:reason, trailwarden:event-id",
            ));
        }
        Mode::Notify => out.push(
            Action::new("NoChange", u.to_string(), Status::Skipped)
                .with_detail("RESPONSE_MODE=notify: the user is left in place"),
        ),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn fixture(name: &str) -> Payload {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Payload::parse(&bytes).unwrap()
    }

    fn config(env: &[(&str, &str)]) -> Config {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_env(&env).unwrap()
    }

    fn run(env: &[(&str, &str)], file: &str) -> Decision {
        let c = config(env);
        decide(&c, &c.approvals, &fixture(file))
    }

    fn respond(d: Decision) -> Response {
        match d {
            Decision::Respond(r) => *r,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    #[test]
    fn unapproved_user_created_by_an_iam_user() {
        let r = respond(run(&[], "iam-create-user-by-iam-user.json"));
        assert_eq!(r.user.name, "mallory");
        assert_eq!(r.user.path, "/");
        assert_eq!(
            r.user.arn.as_deref(),
            Some("arn:aws:iam::123456789012:user/mallory")
        );
        assert_eq!(r.user.user_id.as_deref(), Some("AIDA4EXAMPLEMALLORY1"));
        assert_eq!(
            r.user.create_date.as_deref(),
            Some("Aug 1, 2024 1:33:28 PM")
        );
        assert_eq!(
            r.creator_arn.as_deref(),
            Some("arn:aws:iam::123456789012:user/alice")
        );
        assert_eq!(r.mode, Mode::Delete);
        assert!(!r.dry_run);
        assert!(r
            .reason
            .starts_with("created by arn:aws:iam::123456789012:user/alice; no approved creators"));
    }

    #[test]
    fn unapproved_user_created_by_a_role_session_names_the_role() {
        let r = respond(run(
            &[(
                "APPROVED_CREATOR_ARNS",
                "arn:aws:iam::123456789012:role/terraform-deployer",
            )],
            "iam-create-user-by-assumed-role.json",
        ));
        assert_eq!(r.user.name, "backup-operator");
        assert_eq!(
            r.creator_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/DevOpsAdmin")
        );
        assert!(
            r.reason.contains(
                "created by arn:aws:sts::123456789012:assumed-role/DevOpsAdmin/jdoe (role arn:aws:iam::123456789012:role/DevOpsAdmin), which is not an approved creator"
            ),
            "{}",
            r.reason
        );
    }

    #[test]
    fn approved_by_creator_role_whatever_the_session() {
        let d = run(
            &[(
                "APPROVED_CREATOR_ARNS",
                "arn:aws:iam::*:role/terraform-deployer",
            )],
            "iam-create-user-by-approved-creator.json",
        );
        let Decision::Approved { user, reason } = d else {
            panic!("{d:?}")
        };
        assert_eq!(user.name, "svc-reporting");
        assert!(reason.contains("terraform-run-8841"), "{reason}");
        assert!(
            reason.contains(
                "matches approved creator pattern \"arn:aws:iam::*:role/terraform-deployer\""
            ),
            "{reason}"
        );
    }

    #[test]
    fn approved_by_name() {
        let d = run(
            &[("APPROVED_USER_PATTERNS", "ci-*,svc-*")],
            "iam-create-user-by-approved-creator.json",
        );
        let Decision::Approved { reason, .. } = d else {
            panic!("{d:?}")
        };
        assert_eq!(
            reason,
            "user name \"svc-reporting\" matches approved user pattern \"svc-*\""
        );
        // The same patterns do not approve mallory.
        respond(run(
            &[("APPROVED_USER_PATTERNS", "ci-*,svc-*")],
            "iam-create-user-by-iam-user.json",
        ));
    }

    #[test]
    fn approved_by_path() {
        let env = [("APPROVED_PATH_PREFIXES", "/service-accounts/")];
        let d = run(&env, "iam-create-user-by-approved-creator.json");
        let Decision::Approved { user, reason } = d else {
            panic!("{d:?}")
        };
        assert_eq!(user.path, "/service-accounts/");
        assert!(reason.contains("approved path prefix"), "{reason}");
        respond(run(&env, "iam-create-user-by-iam-user.json"));
    }

    #[test]
    fn the_approved_creator_fixture_is_unapproved_without_approvals() {
        let r = respond(run(&[], "iam-create-user-by-approved-creator.json"));
        assert_eq!(r.user.path, "/service-accounts/");
        assert_eq!(
            r.creator_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/terraform-deployer")
        );
    }

    #[test]
    fn failed_create_user_is_ignored() {
        let d = run(&[], "iam-create-user-access-denied.json");
        let Decision::Ignore(why) = d else {
            panic!("{d:?}")
        };
        assert!(why.contains("\"eve\""), "{why}");
        assert!(why.contains("failed with AccessDenied"), "{why}");
        assert!(why.contains("nothing was created"), "{why}");
    }

    #[test]
    fn own_role_is_never_acted_on() {
        let d = run(
            &[("OWN_ROLE_ARNS", "arn:aws:iam::123456789012:role/DevOps*")],
            "iam-create-user-by-assumed-role.json",
        );
        let Decision::Ignore(why) = d else {
            panic!("{d:?}")
        };
        assert!(why.contains("loop guard"), "{why}");
        // A different own role does not hide the event.
        respond(run(
            &[(
                "OWN_ROLE_ARNS",
                "arn:aws:iam::123456789012:role/trailwarden-*",
            )],
            "iam-create-user-by-assumed-role.json",
        ));
    }

    #[test]
    fn other_events_are_ignored() {
        let mut p = fixture("iam-create-user-by-iam-user.json");
        if let Payload::CloudTrail(e) = &mut p {
            e.detail.event_name = Some("CreateRole".into());
        }
        let c = config(&[]);
        let Decision::Ignore(why) = decide(&c, &c.approvals, &p) else {
            panic!()
        };
        assert!(why.contains("not an IAM CreateUser call"), "{why}");
        let s3 = Payload::from_value(serde_json::json!({"detail-type": "Object Created",
            "source": "aws.s3", "detail": {"bucket": {"name": "b"}, "object": {"key": "k"}}}))
        .unwrap();
        assert!(matches!(decide(&c, &c.approvals, &s3), Decision::Ignore(_)));
    }

    #[test]
    fn each_mode_and_dry_run_shape_the_plan() {
        let file = "iam-create-user-by-iam-user.json";
        let r = respond(run(&[], file));
        let steps: Vec<String> = planned_actions(&r, None)
            .iter()
            .map(|a| a.step.clone())
            .collect();
        assert_eq!(
            steps,
            [
                "CaptureEvidence",
                "DeleteLoginProfile",
                "DeleteAccessKey",
                "DeleteSigningCertificate",
                "DeleteSSHPublicKey",
                "DeleteServiceSpecificCredential",
                "DeactivateMFADevice",
                "DeleteUserPolicy",
                "DetachUserPolicy",
                "RemoveUserFromGroup",
                "DeleteUser"
            ]
        );

        let r = respond(run(&[("RESPONSE_MODE", "quarantine")], file));
        assert_eq!(r.mode, Mode::Quarantine);
        let plan = planned_actions(&r, Some("evidence-bucket"));
        let steps: Vec<&str> = plan.iter().map(|a| a.step.as_str()).collect();
        assert_eq!(
            steps,
            [
                "CaptureEvidence",
                "PutEvidence",
                "AttachUserPolicy",
                "DeleteLoginProfile",
                "UpdateAccessKey",
                "TagUser"
            ]
        );
        assert_eq!(plan[2].target, "arn:aws:iam::aws:policy/AWSDenyAll");
        assert!(plan.iter().all(|a| a.status == Status::Planned));

        let r = respond(run(&[("RESPONSE_MODE", "notify")], file));
        let plan = planned_actions(&r, None);
        assert_eq!(plan.last().unwrap().status, Status::Skipped);
        assert!(!plan.iter().any(|a| a.step.starts_with("Delete")));

        let r = respond(run(&[("DRY_RUN", "true")], file));
        assert!(r.dry_run);
    }

    #[test]
    fn bare_records_are_decided_too() {
        let Payload::CloudTrail(e) = fixture("iam-create-user-by-iam-user.json") else {
            panic!()
        };
        let p = Payload::Record(Box::new(e.detail));
        let c = config(&[]);
        assert_eq!(respond(decide(&c, &c.approvals, &p)).user.name, "mallory");
    }
}

//! The wording of the alerts (golden texts), and how execution results shape severity and
//! titles.

use std::time::Duration;
use trailwarden::respond::{Decide, Decision, Reporting};
use trailwarden::{Severity, Status};
use trailwarden_testkit::{config, payload, plan};
use unapproved_user::decide::{Case, Facts, Step};
use unapproved_user::evidence::{AccessKey, Evidence, SCHEMA};
use unapproved_user::execute::{Output, Whereabouts};
use unapproved_user::report::{self, DETECTION, DOCUMENT_DETECTION};
use unapproved_user::{Config, UnapprovedUser};

fn case(
    vars: &[(&str, &str)],
    file: &str,
) -> (Config, Case, Vec<trailwarden::respond::PlannedStep<Step>>) {
    let c = config::<UnapprovedUser>(vars);
    let Decision::Respond { case, plan } =
        UnapprovedUser::decide(&c, &payload(file), &Facts::default())
    else {
        panic!()
    };
    (c, case, plan)
}

#[test]
fn dry_run_alert_lists_the_plan_and_says_nothing_changed() {
    let out = plan::<UnapprovedUser>(
        &[("DRY_RUN", "true"), ("ACCOUNT_ALIAS", "prod")],
        "iam-create-user-by-assumed-role.json",
    );
    assert!(out.dry_run);
    let a = &out.alerts[0];
    assert!(a.dry_run);
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.detection, DETECTION);
    assert_eq!(
        a.title,
        "Unapproved IAM user backup-operator would be deleted"
    );
    assert!(a.subject().contains("[dry-run]"), "{}", a.subject());
    assert!(a.subject().contains("prod 123456789012"), "{}", a.subject());
    assert!(a.actions.iter().all(|x| x.status == Status::Planned));
    assert!(a.summary.contains("DRY_RUN is set: nothing was changed"));
    let text = a.render().text;
    for needle in [
        "arn:aws:sts::123456789012:assumed-role/DevOpsAdmin/jdoe (role arn:aws:iam::123456789012:role/DevOpsAdmin)",
        "203.0.113.77",
        "aws-cli/2.15.30",
        "2024-08-02T09:12:44Z",
        "c1f0e9d8-7b6a-4c5d-9e3f-2a1b0c9d8e7f",
        "us-east-1",
        "not approved: created by",
        "DeleteUser backup-operator: planned",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn the_approval_reason_names_every_miss() {
    let (_, c, _) = case(&[], "iam-create-user-by-iam-user.json");
    assert_eq!(
        report::approval_text(&c),
        "created by arn:aws:iam::123456789012:user/alice; no approved creators are configured; \
         no approved user-name patterns are configured; no approved path prefixes are configured"
    );
    let (_, c, _) = case(
        &[
            ("APPROVED_USER_PATTERNS", "svc-*"),
            ("APPROVED_PATH_PREFIXES", "/service-accounts/"),
            ("APPROVED_CREATOR_ARNS", "arn:aws:iam::*:role/terraform"),
        ],
        "iam-create-user-by-iam-user.json",
    );
    assert_eq!(
        report::approval_text(&c),
        "created by arn:aws:iam::123456789012:user/alice, which is not an approved creator; \
         user name \"mallory\" matches no approved user pattern; \
         path \"/\" is under no approved path prefix"
    );
}

#[test]
fn approved_users_get_an_info_alert_saying_why_and_what_it_trusts() {
    let out = plan::<UnapprovedUser>(
        &[("APPROVED_USER_PATTERNS", "ci-*,svc-*")],
        "iam-create-user-by-approved-creator.json",
    );
    assert!(out.steps.is_empty());
    let a = &out.alerts[0];
    assert_eq!(a.severity, Severity::Info);
    assert_eq!(a.title, "Approved IAM user svc-reporting created");
    assert!(
        a.summary.contains(
            "It is approved: user name \"svc-reporting\" matches approved user pattern \"svc-*\". Nothing was changed."
        ),
        "{}",
        a.summary
    );
    assert!(
        a.summary.contains("trusts whoever called CreateUser"),
        "{}",
        a.summary
    );
    let out = plan::<UnapprovedUser>(
        &[(
            "APPROVED_CREATOR_ARNS",
            "arn:aws:iam::*:role/terraform-deployer",
        )],
        "iam-create-user-by-approved-creator.json",
    );
    let a = &out.alerts[0];
    assert!(a.summary.contains("terraform-run-8841"), "{}", a.summary);
    assert!(
        a.summary.contains(
            "matches approved creator pattern \"arn:aws:iam::*:role/terraform-deployer\""
        ),
        "{}",
        a.summary
    );
    assert!(!a.summary.contains("trusts whoever"), "{}", a.summary);
}

#[test]
fn an_offline_plan_says_the_document_was_not_consulted() {
    let out = plan::<UnapprovedUser>(
        &[(
            "APPROVAL_DOCUMENT_URI",
            "s3://security-config/approvals.json",
        )],
        "iam-create-user-by-iam-user.json",
    );
    assert!(out.dry_run);
    assert!(out.alerts[0]
        .facts
        .iter()
        .any(|(k, v)| k == "Approval document" && v.contains("not consulted")));
}

#[test]
fn an_unusable_document_gets_its_own_high_alert() {
    let c = config::<UnapprovedUser>(&[(
        "APPROVAL_DOCUMENT_URI",
        "s3://security-config/approvals.json",
    )]);
    let facts = Facts {
        document: Some(Err(unapproved_user::approval::ApprovalError::Invalid {
            uri: "s3://security-config/approvals.json".into(),
            reason: "expected value at line 1 column 1".into(),
        })),
    };
    let out = trailwarden::respond::plan_with::<UnapprovedUser>(
        &c,
        &payload("iam-create-user-by-iam-user.json"),
        &facts,
    );
    assert_eq!(out.alerts.len(), 2);
    let doc = &out.alerts[1];
    assert_eq!(doc.detection, DOCUMENT_DETECTION);
    assert_eq!(doc.severity, Severity::High);
    assert_eq!(
        doc.title,
        "Approval document unusable: s3://security-config/approvals.json"
    );
    assert!(doc.summary.contains("expected value at line 1 column 1"));
    assert!(doc.summary.contains("fail closed"));
    assert!(out.alerts[0]
        .summary
        .contains("could not be used, so only the configured lists were applied"));
}

#[test]
fn credentials_for_another_user_are_worded() {
    let out = plan::<UnapprovedUser>(&[], "iam-create-access-key-for-other-user.json");
    let a = &out.alerts[0];
    assert_eq!(a.severity, Severity::High);
    assert_eq!(
        a.title,
        "Unapproved principal gave IAM user build-bot an access key"
    );
    assert!(
        a.summary.contains("(key AKIA4EXAMPLEBUILDB01)"),
        "{}",
        a.summary
    );
    assert!(a.summary.contains("CREDENTIAL_RESPONSE_MODE=notify"));
    let out = plan::<UnapprovedUser>(
        &[("CREDENTIAL_RESPONSE_MODE", "deactivate")],
        "iam-create-login-profile-for-other-user.json",
    );
    assert_eq!(
        out.alerts[0].title,
        "Unapproved principal gave IAM user build-bot a console password: would be revoked"
    );
}

fn found() -> Output {
    Output {
        whereabouts: Whereabouts::Found {
            current_name: "backup-operator".into(),
            renamed_from: None,
        },
        evidence: Some(Evidence {
            schema: SCHEMA,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn walked(
    plan: &[trailwarden::respond::PlannedStep<Step>],
    status: impl Fn(&Step) -> Status,
) -> Vec<trailwarden::respond::PlannedStep<Step>> {
    plan.iter()
        .map(|s| {
            let mut s = s.clone();
            s.status = status(&s.step);
            s
        })
        .collect()
}

#[test]
fn credentials_make_it_critical_and_failures_show_in_the_title() {
    let (c, case, plan) = case(&[], "iam-create-user-by-assumed-role.json");
    let done = walked(&plan, |_| Status::Done);
    let mut out = found();
    let r = UnapprovedUser::report(&c, &case, &done, Some(&out));
    assert_eq!(r.alerts[0].severity, Severity::High);
    assert_eq!(
        r.alerts[0].title,
        "Unapproved IAM user backup-operator deleted"
    );
    assert_eq!(r.stats.steps_done as usize, plan.len());
    out.evidence
        .as_mut()
        .unwrap()
        .access_keys
        .push(AccessKey::listed("AKIAEXAMPLE", "Active", None));
    let r = UnapprovedUser::report(&c, &case, &done, Some(&out));
    assert_eq!(r.alerts[0].severity, Severity::Critical);
    assert!(r.alerts[0]
        .facts
        .iter()
        .any(|(k, v)| k == "Credentials before response" && v.contains("AKIAEXAMPLE")));
    let failed = walked(&plan, |s| {
        if matches!(s, Step::DeleteUser { .. }) {
            Status::Failed
        } else {
            Status::Done
        }
    });
    let r = UnapprovedUser::report(&c, &case, &failed, Some(&out));
    assert_eq!(
        r.alerts[0].title,
        "Unapproved IAM user backup-operator: deletion incomplete"
    );
    assert!(r.alerts[0]
        .summary
        .contains("1 step(s) failed: DeleteUser backup-operator"));
    assert_eq!(r.stats.steps_failed, 1);
}

#[test]
fn a_user_already_gone_or_renamed_is_reported_as_such() {
    let (c, case, plan) = case(
        &[("RESPONSE_MODE", "quarantine")],
        "iam-create-user-by-assumed-role.json",
    );
    let out = Output {
        whereabouts: Whereabouts::Gone {
            waited: Duration::from_secs(20),
        },
        ..Default::default()
    };
    let r = UnapprovedUser::report(&c, &case, &plan, Some(&out));
    assert_eq!(
        r.alerts[0].title,
        "Unapproved IAM user backup-operator already gone"
    );
    assert!(r.alerts[0].summary.contains("NoSuchEntity for 20.0 s"));

    let out = Output {
        whereabouts: Whereabouts::Found {
            current_name: "backup-operator-2".into(),
            renamed_from: Some("backup-operator".into()),
        },
        ..found()
    };
    let r = UnapprovedUser::report(&c, &case, &walked(&plan, |_| Status::Done), Some(&out));
    assert_eq!(
        r.alerts[0].title,
        "Unapproved IAM user backup-operator (renamed to backup-operator-2) quarantined"
    );
    assert!(r.alerts[0]
        .facts
        .iter()
        .any(|(k, v)| k == "Renamed to" && v == "backup-operator-2"));
}

/// A removal that failed is moot once DeleteUser succeeded; a lasting one is not.
#[test]
fn failures_made_moot_by_the_deletion_are_settled() {
    let (_, case, plan) = case(&[], "iam-create-user-by-iam-user.json");
    let mut walked = walked(&plan, |s| match s {
        Step::DeleteServiceSpecificCredentials { .. } | Step::DeactivateMfaDevices { .. } => {
            Status::Failed
        }
        _ => Status::Done,
    });
    let mut out = found();
    out.lasting
        .insert(("DeactivateMFADevices".into(), "mallory".into()));
    UnapprovedUser::settle(&case, &mut walked, &out);
    let status = |name: &str| {
        walked
            .iter()
            .find(|s| trailwarden::respond::StepKind::name(&s.step) == name)
            .unwrap()
            .clone()
    };
    let ssc = status("DeleteServiceSpecificCredentials");
    assert_eq!(ssc.status, Status::Skipped);
    assert!(ssc.detail.unwrap().contains("DeleteUser succeeded"));
    assert_eq!(status("DeactivateMFADevices").status, Status::Failed);
}

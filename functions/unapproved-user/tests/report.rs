//! The wording of the alerts (golden texts), and how execution results shape severity and
//! titles.

use std::time::Duration;
use trailwarden::respond::{Decide, Decision, Reporting};
use trailwarden::{Severity, Status};
use trailwarden_testkit::harness::{assert_contains, fact};
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
    assert_eq!(a.severity, Severity::Low, "approved by name only");
    assert_eq!(a.title, "Approved IAM user svc-reporting created");
    assert_contains(&a.summary, "It is approved: user name \"svc-reporting\" matches approved user pattern \"svc-*\". Nothing was changed.");
    assert_contains(&a.summary, "trusts whoever called CreateUser");
    let out = plan::<UnapprovedUser>(
        &[(
            "APPROVED_CREATOR_ARNS",
            "arn:aws:iam::*:role/terraform-deployer",
        )],
        "iam-create-user-by-approved-creator.json",
    );
    let a = &out.alerts[0];
    assert_contains(&a.summary, "terraform-run-8841");
    assert_contains(
        &a.summary,
        "matches approved creator pattern \"arn:aws:iam::*:role/terraform-deployer\"",
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
        ..Default::default()
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
    assert_contains(&a.summary, "(key AKIA4EXAMPLEBUILDB01)");
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

/// The credential types beyond access keys and passwords: each named in the title, its id and
/// service in the summary and facts.
#[test]
fn ssh_keys_certificates_and_service_credentials_for_another_user_are_worded() {
    let who = "arn:aws:sts::123456789012:assumed-role/DevOpsAdmin/jdoe (role arn:aws:iam::123456789012:role/DevOpsAdmin)";
    let verdict = format!("created by {who}; no approved creators are configured");
    for (file, title, call, reference, facts) in [
        (
            "iam-upload-ssh-public-key-for-other-user.json",
            "Unapproved principal gave IAM user build-bot an SSH public key",
            "UploadSSHPublicKey",
            " (SSH key APKA4EXAMPLEBUILDB01) from 203.0.113.77 at 2024-08-03T17:46:11Z",
            vec![("SSH public key", "APKA4EXAMPLEBUILDB01")],
        ),
        (
            "iam-upload-signing-certificate-for-other-user.json",
            "Unapproved principal gave IAM user build-bot a signing certificate",
            "UploadSigningCertificate",
            " (certificate X3K7QW2M9P4R8T1V6Y5Z0B3N7C2D4F8G) from 203.0.113.77 at 2024-08-03T17:47:29Z",
            vec![("Signing certificate", "X3K7QW2M9P4R8T1V6Y5Z0B3N7C2D4F8G")],
        ),
        (
            "iam-create-service-specific-credential-for-other-user.json",
            "Unapproved principal gave IAM user build-bot a service-specific credential",
            "CreateServiceSpecificCredential",
            " (credential ACCA4EXAMPLEBUILDB01X for bedrock.amazonaws.com) from 203.0.113.77 at 2024-08-03T17:48:40Z",
            vec![
                ("Service-specific credential", "ACCA4EXAMPLEBUILDB01X"),
                ("Service", "bedrock.amazonaws.com"),
            ],
        ),
        (
            "iam-reset-service-specific-credential-for-other-user.json",
            "Unapproved principal gave IAM user build-bot a new service-specific password",
            "ResetServiceSpecificCredential",
            " (credential ACCA4EXAMPLEBUILDB02Y for codecommit.amazonaws.com) from 203.0.113.77 at 2024-08-03T17:49:54Z",
            vec![
                ("Service-specific credential", "ACCA4EXAMPLEBUILDB02Y"),
                ("Service", "codecommit.amazonaws.com"),
            ],
        ),
    ] {
        let out = plan::<UnapprovedUser>(&[], file);
        let a = &out.alerts[0];
        assert_eq!(a.severity, Severity::High, "{file}");
        assert_eq!(a.detection, report::CREDENTIAL_DETECTION);
        assert_eq!(a.title, title);
        assert_eq!(
            a.summary,
            format!(
                "{who} called {call} for IAM user build-bot{reference}, another user than the caller: \
                 a way to keep access through an existing user without creating one. The caller is \
                 not approved: {verdict}. CREDENTIAL_RESPONSE_MODE=notify: nothing was changed. \
                 Check with the user's owner; revoke the credential if nobody expected it."
            )
        );
        for (k, v) in facts {
            assert!(
                a.facts.iter().any(|(fk, fv)| fk == k && fv == v),
                "{file}: no fact {k}={v} in {:?}",
                a.facts
            );
        }
        assert!(a.facts.iter().any(|(k, v)| k == "Call" && v == call));
        // deactivate, dry run: the step that would revoke it is listed.
        let out = plan::<UnapprovedUser>(&[("CREDENTIAL_RESPONSE_MODE", "deactivate")], file);
        assert_eq!(out.alerts[0].title, format!("{title}: would be revoked"));
        assert!(out.alerts[0]
            .summary
            .contains("DRY_RUN is set: nothing was changed; the step that would revoke it is listed below."));
    }
}

/// Executed: revoked, or (the user renamed, the credential not found) a failure that says the
/// credential may still work and that Lambda retries.
#[test]
fn a_revocation_that_failed_says_the_credential_may_still_work() {
    let (c, case, plan) = case(
        &[("CREDENTIAL_RESPONSE_MODE", "deactivate")],
        "iam-upload-ssh-public-key-for-other-user.json",
    );
    let out = Output::default();
    let done = walked(&plan, |_| Status::Done);
    let r = UnapprovedUser::report(&c, &case, &done, Some(&out));
    assert_eq!(
        r.alerts[0].title,
        "Unapproved principal gave IAM user build-bot an SSH public key: revoked"
    );
    assert!(r.alerts[0]
        .summary
        .ends_with("CREDENTIAL_RESPONSE_MODE=deactivate: the new credential is revoked (the step below says whether that worked)."));
    let failed = walked(&plan, |_| Status::Failed);
    let r = UnapprovedUser::report(&c, &case, &failed, Some(&out));
    assert_eq!(
        r.alerts[0].title,
        "Unapproved principal gave IAM user build-bot an SSH public key: revocation failed"
    );
    assert!(
        r.alerts[0].summary.ends_with(
            "CREDENTIAL_RESPONSE_MODE=deactivate, but revoking it failed (DeactivateSSHPublicKey APKA4EXAMPLEBUILDB01): \
             the credential may still work. The invocation fails so that Lambda retries; if the user was renamed since, \
             revoke the credential under its new name by hand."
        ),
        "{}",
        r.alerts[0].summary
    );
    assert_eq!(r.stats.steps_failed, 1);
}

#[test]
fn a_missing_credential_id_is_explained() {
    for (file, field) in [
        (
            "iam-upload-ssh-public-key-for-other-user.json",
            "sSHPublicKey.sSHPublicKeyId",
        ),
        (
            "iam-upload-signing-certificate-for-other-user.json",
            "certificate.certificateId",
        ),
        (
            "iam-create-service-specific-credential-for-other-user.json",
            "serviceSpecificCredential.serviceSpecificCredentialId",
        ),
    ] {
        let mut v = trailwarden_testkit::fixture(file);
        let (object, id) = field.split_once('.').unwrap();
        v["detail"]["responseElements"][object]
            .as_object_mut()
            .unwrap()
            .remove(id);
        let c = config::<UnapprovedUser>(&[("CREDENTIAL_RESPONSE_MODE", "deactivate")]);
        let out = trailwarden::respond::plan_with::<UnapprovedUser>(
            &c,
            &trailwarden::Payload::from_value(v).unwrap(),
            &Facts::default(),
        );
        let what = match object {
            "sSHPublicKey" => "SSH public key",
            "certificate" => "signing certificate",
            _ => "service-specific credential",
        };
        let new = if object == "serviceSpecificCredential" {
            ""
        } else {
            "new "
        };
        assert_eq!(
            out.alerts[0].actions[0].detail.as_deref(),
            Some(
                format!(
                    "the event does not name the {new}{what} (responseElements.{field}): nothing can be deactivated"
                )
                .as_str()
            ),
            "{file}"
        );
    }
}

/// The user found and captured, then gone under its name and its id before a later step: not
/// reported as deleted (it may have been renamed and not listed yet).
#[test]
fn a_user_lost_after_capture_is_not_reported_deleted() {
    let (c, case, plan) = case(&[], "iam-create-user-by-assumed-role.json");
    let walked = walked(&plan, |s| match s {
        Step::CaptureEvidence { .. } | Step::DeleteLoginProfile { .. } => Status::Done,
        Step::DeleteAccessKeys { .. } => Status::Failed,
        _ => Status::Skipped,
    });
    let out = Output {
        whereabouts: Whereabouts::Vanished {
            name: "backup-operator".into(),
            user_id: "AIDA4EXAMPLEBACKUP01".into(),
        },
        ..found()
    };
    let r = UnapprovedUser::report(&c, &case, &walked, Some(&out));
    let a = &r.alerts[0];
    assert_eq!(
        a.title,
        "Unapproved IAM user backup-operator vanished mid-response: not confirmed removed"
    );
    assert!(!a.title.contains("deleted"), "{}", a.title);
    assert_contains(
        &a.summary,
        "Its state was captured, but before the response was complete the user could be found \
             neither as backup-operator nor by its unique id AIDA4EXAMPLEBACKUP01: someone deleted \
             it, or renamed it and IAM did not list it yet. The remaining steps were not carried \
             out. The invocation fails so that Lambda retries; every step is idempotent.",
    );
}

/// An approved creator IAM could not be asked about (throttled, no `iam:GetRole`) still
/// approves, and the alert says it was not checked.
#[test]
fn an_unchecked_approved_creator_is_said_in_the_alert() {
    let c = config::<UnapprovedUser>(&[(
        "APPROVED_CREATOR_ARNS",
        "arn:aws:iam::123456789012:role/terraform-deployer",
    )]);
    let facts = Facts {
        creator: Some(unapproved_user::approval::CreatorFact::Unchecked(
            "AccessDenied: not authorized to perform iam:GetRole".into(),
        )),
        ..Default::default()
    };
    let out = trailwarden::respond::plan_with::<UnapprovedUser>(
        &c,
        &payload("iam-create-user-by-approved-creator.json"),
        &facts,
    );
    let a = &out.alerts[0];
    assert_eq!(a.severity, Severity::Info);
    let fact = fact(a, "Approved creator");
    assert_contains(fact, "AccessDenied: not authorized to perform iam:GetRole");
    assert_contains(fact, "not checked");
    // Checked (or not needed): no such fact.
    let out = trailwarden::respond::plan_with::<UnapprovedUser>(
        &c,
        &payload("iam-create-user-by-approved-creator.json"),
        &Facts::default(),
    );
    assert!(out.alerts[0]
        .facts
        .iter()
        .all(|(k, _)| k != "Approved creator"));
}

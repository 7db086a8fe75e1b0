//! The pure decision, from the sample events in `events/`: cases, plans and severities (the
//! wording is tested in `report.rs`).

use serde_json::Value;
use trailwarden::respond::{Decide, Decision, Settings, StepKind};
use trailwarden::{Payload, Severity, Status};
use trailwarden_testkit::{config, fixture, payload};
use unapproved_user::approval::{ApprovalError, Approvals, CreatorFact, CreatorKind, Doubt, Match};
use unapproved_user::decide::{Case, Credential, DocumentState, Facts, Response, Step, Subject};
use unapproved_user::{CredentialMode, Mode, UnapprovedUser};

type Plan = Vec<trailwarden::respond::PlannedStep<Step>>;

fn run_with(vars: &[(&str, &str)], file: &str, facts: &Facts) -> Decision<Case, Step> {
    UnapprovedUser::decide(&config::<UnapprovedUser>(vars), &payload(file), facts)
}

fn run(vars: &[(&str, &str)], file: &str) -> Decision<Case, Step> {
    run_with(vars, file, &Facts::default())
}

fn respond(d: Decision<Case, Step>) -> (Case, Plan) {
    match d {
        Decision::Respond { case, plan } => (case, plan),
        other => panic!("expected a response, got {other:?}"),
    }
}

fn ignored(d: Decision<Case, Step>) -> String {
    match d {
        Decision::Ignore(why) => why,
        other => panic!("expected an ignore, got {other:?}"),
    }
}

fn names(plan: &Plan) -> Vec<String> {
    plan.iter().map(|s| s.step.name()).collect()
}

fn new_user(case: &Case) -> &unapproved_user::decide::NewUser {
    match &case.subject {
        Subject::NewUser(u) => u,
        other => panic!("{other:?}"),
    }
}

#[test]
fn unapproved_user_created_by_an_iam_user() {
    let (case, plan) = respond(run(&[], "iam-create-user-by-iam-user.json"));
    let u = new_user(&case);
    assert_eq!(u.name, "mallory");
    assert_eq!(u.path, "/");
    assert_eq!(
        u.arn.as_deref(),
        Some("arn:aws:iam::123456789012:user/mallory")
    );
    assert_eq!(u.user_id.as_deref(), Some("AIDA4EXAMPLEMALLORY1"));
    assert_eq!(u.create_date.as_deref(), Some("Aug 1, 2024 1:33:28 PM"));
    assert_eq!(
        case.creator_arn.as_deref(),
        Some("arn:aws:iam::123456789012:user/alice")
    );
    assert_eq!(case.response, Response::User(Mode::Delete));
    assert_eq!(case.severity, Severity::High);
    assert!(!case.approved());
    assert_eq!(case.verdict.creator, Match::NotConfigured);
    assert_eq!(case.verdict.name, Match::NotConfigured);
    assert_eq!(case.event_id, "3b8e5f2a-9c41-4d6e-8f07-1a2b3c4d5e6f");
    assert_eq!(case.account, "123456789012");
    assert_eq!(plan.first().unwrap().step.name(), "CaptureEvidence");
    assert_eq!(plan.last().unwrap().step.name(), "DeleteUser");
}

#[test]
fn unapproved_user_created_by_a_role_session_is_matched_by_the_role() {
    let (case, _) = respond(run(
        &[(
            "APPROVED_CREATOR_ARNS",
            "arn:aws:iam::123456789012:role/terraform-deployer",
        )],
        "iam-create-user-by-assumed-role.json",
    ));
    assert_eq!(new_user(&case).name, "backup-operator");
    assert_eq!(
        case.creator_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/DevOpsAdmin")
    );
    assert_eq!(case.verdict.creator, Match::Unmatched);
}

/// Issue 15: approved users are not silent; they produce an informational (or, approved by
/// name or path only, a low) alert and no step.
#[test]
fn approved_users_get_an_info_case_and_no_steps() {
    for (var, value, expect) in [
        (
            "APPROVED_CREATOR_ARNS",
            "arn:aws:iam::*:role/terraform-deployer",
            "creator",
        ),
        ("APPROVED_USER_PATTERNS", "ci-*,svc-*", "name"),
        ("APPROVED_PATH_PREFIXES", "/service-accounts/", "path"),
    ] {
        let (case, plan) = respond(run(
            &[(var, value), ("RESPONSE_MODE", "delete")],
            "iam-create-user-by-approved-creator.json",
        ));
        assert!(case.approved(), "{var}");
        assert!(plan.is_empty(), "{var}: {plan:?}");
        // Approved by its name or path alone (which the caller chose): low, seen by a team
        // that filters out info.
        let severity = if expect == "creator" {
            Severity::Info
        } else {
            Severity::Low
        };
        assert_eq!(case.severity, severity, "{var}");
        assert_eq!(case.response, Response::None);
        let matched = match expect {
            "creator" => &case.verdict.creator,
            "name" => &case.verdict.name,
            _ => &case.verdict.path,
        };
        assert!(matched.matched(), "{var}: {:?}", case.verdict);
    }
    // The same lists do not approve mallory.
    let (case, _) = respond(run(
        &[
            ("APPROVED_USER_PATTERNS", "ci-*,svc-*"),
            ("APPROVED_PATH_PREFIXES", "/service-accounts/"),
        ],
        "iam-create-user-by-iam-user.json",
    ));
    assert!(!case.approved());
}

/// Issue 15: the attacker chooses the name; with APPROVAL_REQUIRES_CREATOR it is not enough.
#[test]
fn requiring_the_creator_closes_name_and_path_approval() {
    // alice creates "svc-backdoor" under /service-accounts/: approved by default...
    let mut p = payload("iam-create-user-by-iam-user.json");
    if let Payload::CloudTrail(e) = &mut p {
        let resp = e.detail.response_elements.as_mut().unwrap();
        resp["user"]["userName"] = "svc-backdoor".into();
        resp["user"]["path"] = "/service-accounts/".into();
    }
    let lists = [
        ("APPROVED_USER_PATTERNS", "svc-*"),
        ("APPROVED_PATH_PREFIXES", "/service-accounts/"),
        (
            "APPROVED_CREATOR_ARNS",
            "arn:aws:iam::123456789012:role/terraform-deployer",
        ),
    ];
    let c = config::<UnapprovedUser>(&lists);
    let Decision::Respond { case, .. } = UnapprovedUser::decide(&c, &p, &Facts::default()) else {
        panic!()
    };
    assert!(case.approved());
    // ...not with APPROVAL_REQUIRES_CREATOR=true: responded to, and the name match recorded.
    let mut vars = lists.to_vec();
    vars.push(("APPROVAL_REQUIRES_CREATOR", "true"));
    let c = config::<UnapprovedUser>(&vars);
    let (case, plan) = respond(UnapprovedUser::decide(&c, &p, &Facts::default()));
    assert!(!case.approved());
    assert!(case.verdict.name_or_path_without_creator());
    assert_eq!(case.severity, Severity::High);
    assert_eq!(plan.last().unwrap().step.name(), "DeleteUser");
    // The approved creator with an approved name still passes.
    let (case, plan) = respond(run(&vars, "iam-create-user-by-approved-creator.json"));
    assert!(case.approved(), "{:?}", case.verdict);
    assert!(plan.is_empty());
}

#[test]
fn role_patterns_do_not_match_roles_under_a_path() {
    let mut p = payload("iam-create-user-by-approved-creator.json");
    if let Payload::CloudTrail(e) = &mut p {
        let id = e.detail.user_identity.as_mut().unwrap();
        id.arn =
            Some("arn:aws:sts::123456789012:assumed-role/terraform-x/evil/terraform-run-1".into());
        id.session_context
            .as_mut()
            .unwrap()
            .session_issuer
            .as_mut()
            .unwrap()
            .arn = Some("arn:aws:iam::123456789012:role/terraform-x/evil".into());
    }
    let c = config::<UnapprovedUser>(&[(
        "APPROVED_CREATOR_ARNS",
        "arn:aws:iam::123456789012:role/terraform*",
    )]);
    let (case, _) = respond(UnapprovedUser::decide(&c, &p, &Facts::default()));
    assert_eq!(
        case.creator_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/terraform-x/evil")
    );
    assert_eq!(case.verdict.creator, Match::Unmatched);
    assert!(!case.approved());
}

#[test]
fn approve_all_patterns_are_refused_naming_the_variable() {
    for (var, value) in [
        ("APPROVED_USER_PATTERNS", "?*"),
        ("APPROVED_USER_PATTERNS", "**"),
        ("APPROVED_USER_PATTERNS", "*?*"),
        ("APPROVED_CREATOR_ARNS", "arn:*:*:*:*:*"),
        ("APPROVED_CREATOR_ARNS", "arn:*"),
        ("APPROVED_CREATOR_ARNS", "*"),
        ("APPROVED_CREATOR_ARNS", "arn:aws:iam::123456789012:*"),
    ] {
        let e = unapproved_user::Config::from_env(&trailwarden_testkit::env(&[(var, value)]))
            .unwrap_err();
        assert_eq!(e.var, var, "{value}: {e}");
    }
}

#[test]
fn each_mode_shapes_the_plan() {
    let file = "iam-create-user-by-iam-user.json";
    let (_, plan) = respond(run(&[], file));
    assert_eq!(
        names(&plan),
        [
            "CaptureEvidence",
            "DeleteLoginProfile",
            "DeleteAccessKeys",
            "DeleteSigningCertificates",
            "DeleteSSHPublicKeys",
            "DeleteServiceSpecificCredentials",
            "DeactivateMFADevices",
            "DeleteUserPolicies",
            "DetachUserPolicies",
            "RemoveUserFromGroups",
            "DeleteUser"
        ]
    );
    assert!(plan.iter().all(|s| s.status == Status::Planned));
    assert!(plan.iter().all(|s| s.step.target() == "mallory"));
    assert!(!plan[0].step.changes(), "capturing evidence only reads");
    assert!(plan[1..].iter().all(|s| s.step.changes()));

    let (case, plan) = respond(run(
        &[
            ("RESPONSE_MODE", "quarantine"),
            ("EVIDENCE_BUCKET", "evidence-bucket"),
        ],
        file,
    ));
    assert_eq!(case.response, Response::User(Mode::Quarantine));
    assert_eq!(
        names(&plan),
        [
            "CaptureEvidence",
            "PutEvidence",
            "DenyAll",
            "DeleteLoginProfile",
            "DeactivateAccessKeys",
            "DeactivateSSHPublicKeys",
            "DeactivateServiceSpecificCredentials",
            "DeactivateSigningCertificates",
            "DeactivateMFADevices",
            "TagUser"
        ]
    );
    assert_eq!(
        plan[1].step.target(),
        "s3://evidence-bucket/trailwarden/evidence/123456789012/mallory/3b8e5f2a-9c41-4d6e-8f07-1a2b3c4d5e6f.json"
    );
    assert_eq!(
        plan[2].step,
        Step::DenyAll {
            user: "mallory".into(),
            policy_arn: "arn:aws:iam::aws:policy/AWSDenyAll".into()
        }
    );

    let (_, plan) = respond(run(&[("RESPONSE_MODE", "notify")], file));
    assert_eq!(names(&plan), ["CaptureEvidence", "NoChange"]);
    assert_eq!(plan[1].status, Status::Skipped);

    // DRY_RUN does not change the plan: the runner holds back the changing steps.
    let (_, dry) = respond(run(&[("DRY_RUN", "true")], file));
    let (_, live) = respond(run(&[], file));
    assert_eq!(dry, live);
}

#[test]
fn failed_and_foreign_events_are_ignored() {
    let why = ignored(run(&[], "iam-create-user-access-denied.json"));
    assert!(why.contains("AccessDenied"), "{why}");
    let mut p = payload("iam-create-user-by-iam-user.json");
    if let Payload::CloudTrail(e) = &mut p {
        e.detail.event_name = Some("CreateRole".into());
    }
    let c = config::<UnapprovedUser>(&[]);
    assert!(matches!(
        UnapprovedUser::decide(&c, &p, &Facts::default()),
        Decision::Ignore(_)
    ));
    let s3 = Payload::from_value(serde_json::json!({"detail-type": "Object Created",
        "source": "aws.s3", "detail": {"bucket": {"name": "b"}, "object": {"key": "k"}}}))
    .unwrap();
    assert!(matches!(
        UnapprovedUser::decide(&c, &s3, &Facts::default()),
        Decision::Ignore(_)
    ));
}

#[test]
fn own_role_is_never_acted_on() {
    for file in [
        "iam-create-user-by-assumed-role.json",
        "iam-create-access-key-for-other-user.json",
    ] {
        let why = ignored(run(
            &[("OWN_ROLE_ARNS", "arn:aws:iam::123456789012:role/DevOps*")],
            file,
        ));
        assert!(why.contains("OWN_ROLE_ARNS"), "{why}");
        // A different own role does not hide the event.
        respond(run(
            &[(
                "OWN_ROLE_ARNS",
                "arn:aws:iam::123456789012:role/trailwarden-*",
            )],
            file,
        ));
        // Nor does the role named in any account (the responder role of member accounts):
        // it stands for trailwarden only in the calls the responder makes, and creating users
        // or keys is none of them (a role of that name anyone may create where there is none).
        respond(run(
            &[("OWN_ROLE_ARNS", "arn:aws:iam::*:role/DevOps*")],
            file,
        ));
    }
}

#[test]
fn bare_records_are_decided_too() {
    let Payload::CloudTrail(e) = payload("iam-create-user-by-iam-user.json") else {
        panic!()
    };
    let p = Payload::Record(Box::new(e.detail));
    let c = config::<UnapprovedUser>(&[]);
    let (case, _) = respond(UnapprovedUser::decide(&c, &p, &Facts::default()));
    assert_eq!(case.subject.user_name(), "mallory");
}

/// Issue 15: an unreadable approval document fails closed: the configured lists decide, the
/// configured response is planned, and the case records the document's state.
#[test]
fn an_unreadable_document_fails_closed() {
    let vars = [(
        "APPROVAL_DOCUMENT_URI",
        "s3://security-config-123456789012/trailwarden/approvals.json",
    )];
    let facts = Facts {
        document: Some(Err(ApprovalError::Read {
            uri: "s3://security-config-123456789012/trailwarden/approvals.json".into(),
            reason: "NoSuchKey: The specified key does not exist.".into(),
        })),
        ..Default::default()
    };
    let (case, plan) = respond(run_with(
        &vars,
        "iam-create-user-by-assumed-role.json",
        &facts,
    ));
    assert!(!case.approved());
    assert_eq!(case.response, Response::User(Mode::Delete));
    assert_eq!(plan.last().unwrap().step.name(), "DeleteUser");
    assert!(matches!(case.document, DocumentState::Unreadable { .. }));
    // The configured lists still apply.
    let mut approved_vars = vars.to_vec();
    approved_vars.push(("APPROVED_USER_PATTERNS", "backup-*"));
    let (case, plan) = respond(run_with(
        &approved_vars,
        "iam-create-user-by-assumed-role.json",
        &facts,
    ));
    assert!(case.approved());
    assert!(plan.is_empty());
    // A readable document is merged.
    let facts = Facts {
        document: Some(Ok(Approvals {
            user_patterns: vec!["backup-*".into()],
            ..Default::default()
        })),
        ..Default::default()
    };
    let (case, _) = respond(run_with(
        &vars,
        "iam-create-user-by-assumed-role.json",
        &facts,
    ));
    assert!(case.approved());
    assert!(matches!(case.document, DocumentState::Merged { .. }));
    // Not looked up (an offline plan): said so.
    let (case, _) = respond(run(&vars, "iam-create-user-by-assumed-role.json"));
    assert!(matches!(case.document, DocumentState::NotConsulted { .. }));
}

/// Issue 15: credentials made for another user are the same attack without CreateUser.
#[test]
fn credentials_for_another_user_are_responded_to() {
    let cases = [
        (
            "iam-create-access-key-for-other-user.json",
            Credential::AccessKey {
                key_id: Some("AKIA4EXAMPLEBUILDB01".into()),
            },
            vec![Step::DeactivateAccessKey {
                user: "build-bot".into(),
                key_id: "AKIA4EXAMPLEBUILDB01".into(),
            }],
        ),
        (
            "iam-create-login-profile-for-other-user.json",
            Credential::LoginProfileCreated,
            vec![Step::DeleteLoginProfile {
                user: "build-bot".into(),
            }],
        ),
        (
            "iam-update-login-profile-for-other-user.json",
            Credential::LoginProfileUpdated,
            vec![Step::DeleteLoginProfile {
                user: "build-bot".into(),
            }],
        ),
        // The other credential types IAM users have: each the same attack, each revoked by
        // setting the one credential the event made Inactive.
        (
            "iam-upload-ssh-public-key-for-other-user.json",
            Credential::SshPublicKey {
                key_id: Some("APKA4EXAMPLEBUILDB01".into()),
            },
            vec![Step::DeactivateSshPublicKey {
                user: "build-bot".into(),
                key_id: "APKA4EXAMPLEBUILDB01".into(),
            }],
        ),
        (
            "iam-upload-signing-certificate-for-other-user.json",
            Credential::SigningCertificate {
                certificate_id: Some("X3K7QW2M9P4R8T1V6Y5Z0B3N7C2D4F8G".into()),
            },
            vec![Step::DeactivateSigningCertificate {
                user: "build-bot".into(),
                certificate_id: "X3K7QW2M9P4R8T1V6Y5Z0B3N7C2D4F8G".into(),
            }],
        ),
        (
            "iam-create-service-specific-credential-for-other-user.json",
            Credential::ServiceSpecificCredential {
                credential_id: Some("ACCA4EXAMPLEBUILDB01X".into()),
                service_name: Some("bedrock.amazonaws.com".into()),
                reset: false,
            },
            vec![Step::DeactivateServiceSpecificCredential {
                user: "build-bot".into(),
                credential_id: "ACCA4EXAMPLEBUILDB01X".into(),
            }],
        ),
        (
            "iam-reset-service-specific-credential-for-other-user.json",
            Credential::ServiceSpecificCredential {
                credential_id: Some("ACCA4EXAMPLEBUILDB02Y".into()),
                service_name: Some("codecommit.amazonaws.com".into()),
                reset: true,
            },
            vec![Step::DeactivateServiceSpecificCredential {
                user: "build-bot".into(),
                credential_id: "ACCA4EXAMPLEBUILDB02Y".into(),
            }],
        ),
    ];
    for (file, credential, deactivate) in cases {
        // Default: notify (alert only), high.
        let (case, plan) = respond(run(&[], file));
        assert_eq!(
            case.subject,
            Subject::Credential {
                user: "build-bot".into(),
                credential: credential.clone()
            },
            "{file}"
        );
        assert_eq!(case.severity, Severity::High);
        assert_eq!(case.response, Response::Credential(CredentialMode::Notify));
        assert_eq!(names(&plan), ["NoChange"]);
        assert_eq!(plan[0].status, Status::Skipped);
        // deactivate: the new credential is revoked.
        let (case, plan) = respond(run(&[("CREDENTIAL_RESPONSE_MODE", "deactivate")], file));
        assert_eq!(
            case.response,
            Response::Credential(CredentialMode::Deactivate)
        );
        let steps: Vec<Step> = plan.iter().map(|s| s.step.clone()).collect();
        assert_eq!(steps, deactivate, "{file}");
        assert!(plan.iter().all(|s| s.status == Status::Planned));
        // An approved creator: info, nothing to do. Name and path lists do not apply.
        let (case, plan) = respond(run(
            &[
                ("CREDENTIAL_RESPONSE_MODE", "deactivate"),
                (
                    "APPROVED_CREATOR_ARNS",
                    "arn:aws:iam::123456789012:role/DevOpsAdmin",
                ),
            ],
            file,
        ));
        assert!(case.approved());
        assert_eq!(case.severity, Severity::Info);
        assert!(plan.is_empty());
        let (case, _) = respond(run(
            &[
                ("APPROVED_USER_PATTERNS", "build-*"),
                ("APPROVED_PATH_PREFIXES", "/service-accounts/"),
            ],
            file,
        ));
        assert!(
            !case.approved(),
            "{file}: name approvals do not cover credentials"
        );
        assert_eq!(case.verdict.name, Match::NotApplicable);
    }
}

/// A sample event, changed by `edit`, decided with `vars`.
fn run_edited(
    vars: &[(&str, &str)],
    file: &str,
    edit: impl FnOnce(&mut Value),
) -> Decision<Case, Step> {
    let mut v = fixture(file);
    edit(&mut v);
    let p = Payload::from_value(v).unwrap();
    UnapprovedUser::decide(&config::<UnapprovedUser>(vars), &p, &Facts::default())
}

const DEACTIVATE: [(&str, &str); 1] = [("CREDENTIAL_RESPONSE_MODE", "deactivate")];

/// Without the new credential's id in the event there is nothing to set Inactive: one skipped
/// NoChange says which field was missing (as for access keys), and the alert still goes out.
#[test]
fn a_credential_the_event_does_not_name_is_not_guessed() {
    for (file, object, field) in [
        (
            "iam-upload-ssh-public-key-for-other-user.json",
            "sSHPublicKey",
            "sSHPublicKeyId",
        ),
        (
            "iam-upload-signing-certificate-for-other-user.json",
            "certificate",
            "certificateId",
        ),
        (
            "iam-create-service-specific-credential-for-other-user.json",
            "serviceSpecificCredential",
            "serviceSpecificCredentialId",
        ),
    ] {
        let (case, plan) = respond(run_edited(&DEACTIVATE, file, |v| {
            v["detail"]["responseElements"][object]
                .as_object_mut()
                .unwrap()
                .remove(field);
        }));
        assert!(!case.approved());
        assert_eq!(
            case.response,
            Response::Credential(CredentialMode::Deactivate)
        );
        assert_eq!(names(&plan), ["NoChange"], "{file}");
        assert_eq!(plan[0].status, Status::Skipped);
        let why = plan[0].detail.as_deref().unwrap();
        assert!(why.contains(&format!("{object}.{field}")), "{file}: {why}");
        assert!(!plan[0].step.changes());
    }
    // A reset names the credential in its request too: that is enough.
    let (_, plan) = respond(run_edited(
        &DEACTIVATE,
        "iam-reset-service-specific-credential-for-other-user.json",
        |v| v["detail"]["responseElements"] = Value::Null,
    ));
    assert_eq!(
        plan[0].step,
        Step::DeactivateServiceSpecificCredential {
            user: "build-bot".into(),
            credential_id: "ACCA4EXAMPLEBUILDB02Y".into(),
        }
    );
    // Without responseElements the request still names the user (and the service).
    let (case, _) = respond(run_edited(
        &[],
        "iam-create-service-specific-credential-for-other-user.json",
        |v| v["detail"]["responseElements"] = Value::Null,
    ));
    assert_eq!(
        case.subject,
        Subject::Credential {
            user: "build-bot".into(),
            credential: Credential::ServiceSpecificCredential {
                credential_id: None,
                service_name: Some("bedrock.amazonaws.com".into()),
                reset: false,
            },
        }
    );
}

/// alice (an IAM user) adding a credential to herself is not persistence through another user,
/// whichever kind: ignored, even in deactivate mode. UploadSigningCertificate without a user
/// name is the caller's own certificate.
#[test]
fn a_user_adding_its_own_credential_of_any_kind_is_ignored() {
    let as_alice = |v: &mut Value| {
        let alice = fixture("iam-create-access-key-self.json")["detail"]["userIdentity"].clone();
        v["detail"]["userIdentity"] = alice;
    };
    for (file, object) in [
        (
            "iam-upload-ssh-public-key-for-other-user.json",
            "sSHPublicKey",
        ),
        (
            "iam-upload-signing-certificate-for-other-user.json",
            "certificate",
        ),
        (
            "iam-create-service-specific-credential-for-other-user.json",
            "serviceSpecificCredential",
        ),
        (
            "iam-reset-service-specific-credential-for-other-user.json",
            "serviceSpecificCredential",
        ),
    ] {
        let why = ignored(run_edited(&DEACTIVATE, file, |v| {
            as_alice(v);
            v["detail"]["requestParameters"]["userName"] = "alice".into();
            v["detail"]["responseElements"][object]["userName"] = "alice".into();
        }));
        assert!(why.contains("for itself"), "{file}: {why}");
        // The same call by alice for build-bot is responded to.
        let (case, plan) = respond(run_edited(&DEACTIVATE, file, as_alice));
        assert_eq!(case.subject.user_name(), "build-bot", "{file}");
        assert!(plan.iter().all(|s| s.step.changes()), "{file}: {plan:?}");
    }
    // UserName left out of UploadSigningCertificate: the caller's own certificate.
    let why = ignored(run_edited(
        &DEACTIVATE,
        "iam-upload-signing-certificate-for-other-user.json",
        |v| {
            as_alice(v);
            v["detail"]["requestParameters"]
                .as_object_mut()
                .unwrap()
                .remove("userName");
            v["detail"]["responseElements"]["certificate"]["userName"] = "alice".into();
        },
    ));
    assert!(why.contains("for itself"), "{why}");
}

/// A failed call made nothing; trailwarden's own role is never acted on.
#[test]
fn failed_or_own_credential_calls_of_the_new_kinds_are_ignored() {
    for file in [
        "iam-upload-ssh-public-key-for-other-user.json",
        "iam-upload-signing-certificate-for-other-user.json",
        "iam-create-service-specific-credential-for-other-user.json",
        "iam-reset-service-specific-credential-for-other-user.json",
    ] {
        let why = ignored(run_edited(&DEACTIVATE, file, |v| {
            v["detail"]["errorCode"] = "LimitExceeded".into();
            v["detail"]["errorMessage"] = "Cannot exceed quota".into();
            v["detail"]["responseElements"] = Value::Null;
        }));
        assert!(why.contains("LimitExceeded"), "{file}: {why}");
        let why = ignored(run(
            &[("OWN_ROLE_ARNS", "arn:aws:iam::123456789012:role/DevOps*")],
            file,
        ));
        assert!(why.contains("OWN_ROLE_ARNS"), "{file}: {why}");
    }
}

#[test]
fn a_user_making_its_own_key_is_not_this_attack() {
    let why = ignored(run(
        &[("CREDENTIAL_RESPONSE_MODE", "deactivate")],
        "iam-create-access-key-self.json",
    ));
    assert!(why.contains("for itself"), "{why}");
    // The same call for another user by the same IAM user is.
    let mut p = payload("iam-create-access-key-self.json");
    if let Payload::CloudTrail(e) = &mut p {
        e.detail.request_parameters = Some(serde_json::json!({"userName": "build-bot"}));
        e.detail.response_elements.as_mut().unwrap()["accessKey"]["userName"] = "build-bot".into();
    }
    let c = config::<UnapprovedUser>(&[]);
    let (case, _) = respond(UnapprovedUser::decide(&c, &p, &Facts::default()));
    assert_eq!(case.subject.user_name(), "build-bot");
}

/// Writes an `ACCOUNT_SETTINGS_URI` document to a file of its own and returns its path.
fn settings_file(name: &str, doc: &str) -> String {
    let dir = std::env::temp_dir().join(format!("tw-uu-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, doc).unwrap();
    path.to_str().unwrap().to_string()
}

const ESTATE: &str = r#"{
  "accounts": {
    "444455556666": {"exempt": true},
    "123456789012": {"unapproved_user_mode": "quarantine"}
  },
  "organizational_units": {
    "ou-ab12-sandbox01": {"accounts": ["123456789012", "111122223333"],
                          "unapproved_user_mode": "notify"}
  }
}"#;

#[test]
fn an_exempt_account_gets_an_alert_and_no_change() {
    let doc = r#"{"accounts": {"123456789012": {"exempt": true}}}"#;
    let path = settings_file("exempt.json", doc);
    let (case, plan) = respond(run(
        &[("ACCOUNT_SETTINGS_URI", &path), ("RESPONSE_MODE", "delete")],
        "iam-create-user-by-iam-user.json",
    ));
    assert!(!case.approved());
    assert_eq!(case.response, Response::User(Mode::Notify));
    assert!(case.settings.exempt);
    assert_eq!(
        case.settings.source,
        "account 123456789012 (ACCOUNT_SETTINGS_URI)"
    );
    assert!(plan.iter().all(|s| !s.step.changes()), "{plan:?}");
    let no_change = plan.iter().find(|s| s.step.name() == "NoChange").unwrap();
    assert_eq!(no_change.status, Status::Skipped);
    assert!(
        no_change.detail.as_deref().unwrap().contains("exempt"),
        "{no_change:?}"
    );

    // A credential made for another user in an exempt account: alert only, even with
    // CREDENTIAL_RESPONSE_MODE=deactivate.
    let (case, plan) = respond(run(
        &[
            ("ACCOUNT_SETTINGS_URI", &path),
            ("CREDENTIAL_RESPONSE_MODE", "deactivate"),
        ],
        "iam-create-access-key-for-other-user.json",
    ));
    assert_eq!(case.response, Response::Credential(CredentialMode::Notify));
    assert!(plan.iter().all(|s| !s.step.changes()), "{plan:?}");

    // Another account of the same document is not exempt.
    let other = settings_file(
        "exempt-other.json",
        r#"{"accounts": {"444455556666": {"exempt": true}}}"#,
    );
    let (case, plan) = respond(run(
        &[("ACCOUNT_SETTINGS_URI", &other)],
        "iam-create-user-by-iam-user.json",
    ));
    assert_eq!(case.response, Response::User(Mode::Delete));
    assert_eq!(plan.last().unwrap().step.name(), "DeleteUser");
    assert_eq!(case.settings.source, "deployment (environment variables)");
}

#[test]
fn an_organizational_unit_s_notify_mode_applies_to_its_accounts() {
    let doc = r#"{"organizational_units": {"ou-ab12-sandbox01": {
        "accounts": ["123456789012"], "unapproved_user_mode": "notify"}}}"#;
    let path = settings_file("ou-notify.json", doc);
    let (case, plan) = respond(run(
        &[("ACCOUNT_SETTINGS_URI", &path), ("RESPONSE_MODE", "delete")],
        "iam-create-user-by-iam-user.json",
    ));
    assert_eq!(case.response, Response::User(Mode::Notify));
    assert!(!case.settings.exempt);
    assert_eq!(
        case.settings.source,
        "organizational unit ou-ab12-sandbox01 (ACCOUNT_SETTINGS_URI)"
    );
    assert!(plan.iter().all(|s| !s.step.changes()), "{plan:?}");
    assert!(names(&plan).contains(&"NoChange".to_string()));
}

#[test]
fn an_account_entry_overrides_its_organizational_unit() {
    let path = settings_file("estate.json", ESTATE);
    let (case, plan) = respond(run(
        &[("ACCOUNT_SETTINGS_URI", &path)],
        "iam-create-user-by-iam-user.json",
    ));
    assert_eq!(case.response, Response::User(Mode::Quarantine));
    assert_eq!(
        case.settings.source,
        "account 123456789012 (ACCOUNT_SETTINGS_URI)"
    );
    assert!(names(&plan).contains(&"DenyAll".to_string()), "{plan:?}");
    assert!(!names(&plan).contains(&"DeleteUser".to_string()));

    // The member account (recipientAccountId 111122223333) has no entry: its OU decides.
    let (case, plan) = respond(run(
        &[("ACCOUNT_SETTINGS_URI", &path)],
        "iam-create-user-in-member-account.json",
    ));
    assert_eq!(case.account, "111122223333");
    assert_eq!(case.response, Response::User(Mode::Notify));
    assert!(plan.iter().all(|s| !s.step.changes()), "{plan:?}");
}

#[test]
fn creators_approved_for_an_account_are_added_to_the_deployment_s() {
    let doc = r#"{"accounts": {"123456789012": {
        "approved_creator_arns": ["arn:aws:iam::123456789012:user/alice"]}}}"#;
    let path = settings_file("creators.json", doc);
    let (case, plan) = respond(run(
        &[
            ("ACCOUNT_SETTINGS_URI", &path),
            (
                "APPROVED_CREATOR_ARNS",
                "arn:aws:iam::123456789012:role/terraform-deployer",
            ),
        ],
        "iam-create-user-by-iam-user.json",
    ));
    assert!(case.approved(), "{case:?}");
    assert!(plan.is_empty());
    // Without the document, alice is not approved.
    let (case, _) = respond(run(
        &[(
            "APPROVED_CREATOR_ARNS",
            "arn:aws:iam::123456789012:role/terraform-deployer",
        )],
        "iam-create-user-by-iam-user.json",
    ));
    assert!(!case.approved());
}

#[test]
fn an_organizational_unit_may_deactivate_credentials_made_for_others_where_the_deployment_notifies()
{
    let doc = r#"{"organizational_units": {"ou-ab12-workload1": {
        "accounts": ["123456789012"], "credential_response_mode": "deactivate"}}}"#;
    let path = settings_file("credentials.json", doc);
    let (case, plan) = respond(run(
        &[
            ("ACCOUNT_SETTINGS_URI", &path),
            ("CREDENTIAL_RESPONSE_MODE", "notify"),
        ],
        "iam-create-access-key-for-other-user.json",
    ));
    assert_eq!(
        case.response,
        Response::Credential(CredentialMode::Deactivate)
    );
    assert_eq!(
        case.settings.source,
        "organizational unit ou-ab12-workload1 (ACCOUNT_SETTINGS_URI)"
    );
    assert!(plan.iter().any(|s| s.step.changes()), "{plan:?}");
    // Without the document the deployment's notify holds: nothing is changed.
    let (case, plan) = respond(run(
        &[("CREDENTIAL_RESPONSE_MODE", "notify")],
        "iam-create-access-key-for-other-user.json",
    ));
    assert_eq!(case.response, Response::Credential(CredentialMode::Notify));
    assert!(plan.iter().all(|s| !s.step.changes()), "{plan:?}");
}

#[test]
fn a_bad_account_settings_document_stops_the_cold_start() {
    let path = settings_file(
        "bad.json",
        r#"{"accounts": {"123456789012": {"approved_creator_arns": ["arn:*"]}}}"#,
    );
    let e =
        unapproved_user::Config::from_env(&[("ACCOUNT_SETTINGS_URI", path.as_str())]).unwrap_err();
    assert_eq!(e.var, "ACCOUNT_SETTINGS_URI");
    assert!(
        e.to_string()
            .contains("accounts.123456789012.approved_creator_arns[0]"),
        "{e}"
    );
}

/// An approved creator approves only when IAM shows it existed long enough before the event
/// (`APPROVED_CREATOR_MIN_AGE_MINUTES`) under the event's unique id: a user made under an
/// approved path, or a role of an approved name, by someone unapproved cannot approve what it
/// creates in the seconds before its own response.
#[test]
fn a_fresh_or_vanished_approved_creator_does_not_approve() {
    let vars = [(
        "APPROVED_CREATOR_ARNS",
        "arn:aws:iam::123456789012:role/terraform-deployer",
    )];
    let file = "iam-create-user-by-approved-creator.json";
    let configured = config::<UnapprovedUser>(&vars);
    let p = payload(file);

    // What is looked up: the role behind the session, by name, with the role's unique id.
    let creator = unapproved_user::decide::creator_to_check(&configured, &p, &Facts::default())
        .expect("an approval resting on the creator is checked");
    assert_eq!(creator.kind, CreatorKind::Role);
    assert_eq!(creator.name, "terraform-deployer");
    assert_eq!(creator.account, "123456789012");
    assert_eq!(creator.unique_id.as_deref(), Some("AROA4EXAMPLETFDEPLOY"));

    // The event is at 2024-08-05T06:02:18Z.
    let created = |at: &str| Facts {
        creator: Some(CreatorFact::Created(
            chrono::DateTime::parse_from_rfc3339(at).unwrap().to_utc(),
        )),
        ..Default::default()
    };
    let (case, plan) = respond(run_with(&vars, file, &created("2024-08-05T06:01:30Z")));
    assert!(!case.approved(), "{:?}", case.verdict);
    assert_eq!(
        case.verdict.creator,
        Match::Distrusted {
            entry: "arn:aws:iam::123456789012:role/terraform-deployer".into(),
            doubt: Doubt::TooNew {
                seconds: 48,
                min_minutes: 10
            }
        }
    );
    assert_eq!(case.severity, Severity::High);
    assert_eq!(case.response, Response::User(Mode::Delete));
    assert_eq!(plan.last().unwrap().step.name(), "DeleteUser");

    let (case, plan) = respond(run_with(&vars, file, &created("2023-01-01T00:00:00Z")));
    assert!(case.approved());
    assert_eq!(case.severity, Severity::Info);
    assert!(plan.is_empty());

    let gone = Facts {
        creator: Some(CreatorFact::Gone),
        ..Default::default()
    };
    let (case, _) = respond(run_with(&vars, file, &gone));
    assert!(!case.approved());
    assert!(matches!(
        case.verdict.creator,
        Match::Distrusted {
            doubt: Doubt::Gone,
            ..
        }
    ));

    // 0 minutes: a creator of any age approves, a vanished one still does not.
    let mut any_age = vars.to_vec();
    any_age.push(("APPROVED_CREATOR_MIN_AGE_MINUTES", "0"));
    let (case, _) = respond(run_with(&any_age, file, &created("2024-08-05T06:02:17Z")));
    assert!(case.approved());
    let (case, _) = respond(run_with(&any_age, file, &gone));
    assert!(!case.approved());

    // Nothing is looked up when the creator is not what approves.
    let by_name = [("APPROVED_USER_PATTERNS", "svc-*")];
    assert_eq!(
        unapproved_user::decide::creator_to_check(
            &config::<UnapprovedUser>(&by_name),
            &p,
            &Facts::default()
        ),
        None
    );
}

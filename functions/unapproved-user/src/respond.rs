//! Carrying a response out through IAM. Every step is idempotent (`NoSuchEntity` means
//! already done), a failed step does not stop the others, and each step's outcome becomes an
//! [`Action`] in the alert.

use crate::evidence::{list_service_specific_credentials, Evidence};
use crate::iam::{collect_all, date, Backoff, CallError};
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::StatusType;
use aws_sdk_iam::Client;
use std::future::Future;
use std::time::Duration;
use trailwarden::{Action, Status};

/// One step's outcome, and whether the thing it acts on belongs to the user (and so
/// disappears with it).
#[derive(Debug, Clone)]
struct Step {
    action: Action,
    user_bound: bool,
}

fn owned(action: Action) -> Step {
    Step {
        action,
        user_bound: true,
    }
}

/// The outcome of one IAM call as an action: done, already done (`NoSuchEntity`), or failed.
fn outcome<T, E>(
    step: &str,
    target: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
    gone: &str,
) -> Action
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Action::new(step, target, Status::Done),
        Err(e) => {
            let e = CallError::from_sdk(&e);
            if e.no_such_entity() {
                Action::new(step, target, Status::AlreadyDone).with_detail(gone)
            } else {
                tracing::warn!(step, target, error = %e, "response step failed");
                Action::new(step, target, Status::Failed).with_detail(e.to_string())
            }
        }
    }
}

/// What a listing found: nothing to do, the user is gone, or the listing failed.
fn listing_problem(list_step: &str, user: &str, what: &str, e: CallError) -> Action {
    if e.no_such_entity() {
        Action::new(list_step, user, Status::AlreadyDone).with_detail("the user no longer exists")
    } else {
        tracing::warn!(step = list_step, user, error = %e, "listing failed");
        Action::new(list_step, user, Status::Failed)
            .with_detail(format!("could not list {what}: {e}"))
    }
}

fn none_found(step: &str, user: &str, what: &str) -> Action {
    Action::new(step, user, Status::AlreadyDone).with_detail(format!("no {what}"))
}

impl From<Action> for Step {
    fn from(action: Action) -> Step {
        owned(action)
    }
}

/// The shape of most response steps: list the user's things of one kind, then act on each
/// (`each` gives the item's steps, in order). Nothing listed is one `none_found` step under
/// `step`; a listing that fails is one [`listing_problem`] step under `list_step`.
async fn for_each_listed<T, S, Fut>(
    listing: impl Future<Output = Result<Vec<T>, CallError>>,
    user: &str,
    list_step: &str,
    step: &str,
    what: &str,
    mut each: impl FnMut(T) -> Fut,
) -> Vec<S>
where
    S: From<Action>,
    Fut: Future,
    Fut::Output: IntoIterator<Item = S>,
{
    match listing.await {
        Ok(items) if items.is_empty() => vec![none_found(step, user, what).into()],
        Ok(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(each(item).await);
            }
            out
        }
        Err(e) => vec![listing_problem(list_step, user, what, e).into()],
    }
}

fn is_virtual_mfa(serial: &str) -> bool {
    serial.starts_with("arn:") && serial.contains(":mfa/")
}

/// Removes everything that blocks `DeleteUser`, in the order IAM needs, then deletes the
/// user. A `DeleteConflict` on `DeleteUser` is retried within `window` when every earlier step
/// succeeded (IAM is eventually consistent). When `DeleteUser` succeeds, earlier failures
/// about things owned by the user are moot and reported as skipped, with the reason.
pub async fn delete_user(iam: &Client, name: &str, window: Duration) -> Vec<Action> {
    let mut steps: Vec<Step> = Vec::new();

    steps.push(owned(outcome(
        "DeleteLoginProfile",
        name,
        iam.delete_login_profile().user_name(name).send().await,
        "no console password",
    )));

    steps.extend(
        for_each_listed(
            collect_all(
                iam.list_access_keys()
                    .user_name(name)
                    .into_paginator()
                    .items()
                    .send(),
            ),
            name,
            "ListAccessKeys",
            "DeleteAccessKey",
            "access keys",
            move |k| async move {
                let id = k.access_key_id().unwrap_or_default();
                let mut a = outcome(
                    "DeleteAccessKey",
                    id,
                    iam.delete_access_key()
                        .user_name(name)
                        .access_key_id(id)
                        .send()
                        .await,
                    "already deleted",
                );
                if a.status == Status::Done {
                    let status = k.status().map(|s| s.as_str()).unwrap_or("unknown status");
                    let created = k.create_date().map(date).unwrap_or_default();
                    a = a.with_detail(format!("was {status}, created {created}"));
                }
                [owned(a)]
            },
        )
        .await,
    );

    steps.extend(
        for_each_listed(
            collect_all(
                iam.list_signing_certificates()
                    .user_name(name)
                    .into_paginator()
                    .items()
                    .send(),
            ),
            name,
            "ListSigningCertificates",
            "DeleteSigningCertificate",
            "signing certificates",
            move |c| async move {
                let id = c.certificate_id();
                [owned(outcome(
                    "DeleteSigningCertificate",
                    id,
                    iam.delete_signing_certificate()
                        .user_name(name)
                        .certificate_id(id)
                        .send()
                        .await,
                    "already deleted",
                ))]
            },
        )
        .await,
    );

    steps.extend(
        for_each_listed(
            collect_all(
                iam.list_ssh_public_keys()
                    .user_name(name)
                    .into_paginator()
                    .items()
                    .send(),
            ),
            name,
            "ListSSHPublicKeys",
            "DeleteSSHPublicKey",
            "SSH public keys",
            move |k| async move {
                let id = k.ssh_public_key_id();
                [owned(outcome(
                    "DeleteSSHPublicKey",
                    id,
                    iam.delete_ssh_public_key()
                        .user_name(name)
                        .ssh_public_key_id(id)
                        .send()
                        .await,
                    "already deleted",
                ))]
            },
        )
        .await,
    );

    steps.extend(
        for_each_listed(
            list_service_specific_credentials(iam, name),
            name,
            "ListServiceSpecificCredentials",
            "DeleteServiceSpecificCredential",
            "service-specific credentials",
            move |c| async move {
                let id = c.service_specific_credential_id();
                let r = iam
                    .delete_service_specific_credential()
                    .user_name(name)
                    .service_specific_credential_id(id)
                    .send()
                    .await;
                [owned(
                    outcome("DeleteServiceSpecificCredential", id, r, "already deleted")
                        .with_detail(format!("for {}", c.service_name())),
                )]
            },
        )
        .await,
    );

    steps.extend(
        for_each_listed(
            collect_all(
                iam.list_mfa_devices()
                    .user_name(name)
                    .into_paginator()
                    .items()
                    .send(),
            ),
            name,
            "ListMFADevices",
            "DeactivateMFADevice",
            "MFA devices",
            move |d| async move {
                let serial = d.serial_number();
                let mut out = vec![owned(outcome(
                    "DeactivateMFADevice",
                    serial,
                    iam.deactivate_mfa_device()
                        .user_name(name)
                        .serial_number(serial)
                        .send()
                        .await,
                    "already deactivated",
                ))];
                if is_virtual_mfa(serial) {
                    // A virtual device outlives the user: its deletion is never moot.
                    out.push(Step {
                        action: outcome(
                            "DeleteVirtualMFADevice",
                            serial,
                            iam.delete_virtual_mfa_device()
                                .serial_number(serial)
                                .send()
                                .await,
                            "already deleted",
                        ),
                        user_bound: false,
                    });
                }
                out
            },
        )
        .await,
    );

    steps.extend(
        for_each_listed(
            collect_all(
                iam.list_user_policies()
                    .user_name(name)
                    .into_paginator()
                    .items()
                    .send(),
            ),
            name,
            "ListUserPolicies",
            "DeleteUserPolicy",
            "inline policies",
            move |p| async move {
                [owned(outcome(
                    "DeleteUserPolicy",
                    &p,
                    iam.delete_user_policy()
                        .user_name(name)
                        .policy_name(&p)
                        .send()
                        .await,
                    "already deleted",
                ))]
            },
        )
        .await,
    );

    steps.extend(
        for_each_listed(
            collect_all(
                iam.list_attached_user_policies()
                    .user_name(name)
                    .into_paginator()
                    .items()
                    .send(),
            ),
            name,
            "ListAttachedUserPolicies",
            "DetachUserPolicy",
            "attached managed policies",
            move |p| async move {
                let arn = p.policy_arn().unwrap_or_default();
                [owned(outcome(
                    "DetachUserPolicy",
                    arn,
                    iam.detach_user_policy()
                        .user_name(name)
                        .policy_arn(arn)
                        .send()
                        .await,
                    "already detached",
                ))]
            },
        )
        .await,
    );

    steps.extend(
        for_each_listed(
            collect_all(
                iam.list_groups_for_user()
                    .user_name(name)
                    .into_paginator()
                    .items()
                    .send(),
            ),
            name,
            "ListGroupsForUser",
            "RemoveUserFromGroup",
            "group memberships",
            move |g| async move {
                let group = g.group_name();
                [owned(outcome(
                    "RemoveUserFromGroup",
                    group,
                    iam.remove_user_from_group()
                        .user_name(name)
                        .group_name(group)
                        .send()
                        .await,
                    "already removed",
                ))]
            },
        )
        .await,
    );

    let all_ok = steps.iter().all(|s| s.action.status != Status::Failed);
    let mut backoff = Backoff::new(if all_ok { window } else { Duration::ZERO });
    let delete = loop {
        let result = iam.delete_user().user_name(name).send().await;
        if let Err(e) = &result {
            if CallError::from_sdk(e).is("DeleteConflict") && backoff.wait().await {
                tracing::info!(user = name, "DeleteUser: DeleteConflict, retrying");
                continue;
            }
        }
        break outcome("DeleteUser", name, result, "the user no longer exists");
    };
    let deleted = matches!(delete.status, Status::Done | Status::AlreadyDone);
    let delete = if delete.status == Status::Failed && !all_ok {
        let blockers: Vec<String> = steps
            .iter()
            .filter(|s| s.action.status == Status::Failed)
            .map(|s| format!("{} {}", s.action.step, s.action.target))
            .collect();
        let detail = delete.detail.clone().unwrap_or_default();
        let detail = detail.trim_end_matches('.');
        delete.with_detail(format!(
            "{detail}; steps that did not complete: {}",
            blockers.join(", ")
        ))
    } else {
        delete
    };
    let mut out: Vec<Action> = steps
        .into_iter()
        .map(|s| {
            let mut a = s.action;
            if deleted && s.user_bound && a.status == Status::Failed {
                a.status = Status::Skipped;
                let why = a.detail.take().unwrap_or_default();
                a.detail = Some(format!(
                    "not done ({why}); moot: DeleteUser succeeded, and IAM deletes a user only when nothing of this kind is left"
                ));
            }
            a
        })
        .collect();
    out.push(delete);
    out
}

/// Keys of the tags a quarantine sets.
pub const TAG_QUARANTINED: &str = "trailwarden:quarantined";
pub const TAG_REASON: &str = "trailwarden:reason";
pub const TAG_EVENT: &str = "trailwarden:event-id";

/// Makes text a valid IAM tag value: letters, digits, spaces and `_.:/=+-@`, at most 256
/// characters.
pub fn tag_value(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    while out.contains("  ") {
        out = out.replace("  ", " ");
    }
    out.trim().chars().take(256).collect()
}

/// Locks the user down without deleting it: `AWSDenyAll`, no console password, every access
/// key inactive, tags saying why and when. The evidence tells what is already in place.
pub async fn quarantine_user(
    iam: &Client,
    name: &str,
    partition: &str,
    evidence: &Evidence,
    tags: &[(String, String)],
) -> Vec<Action> {
    let mut out = Vec::new();
    let deny_all = format!("arn:{partition}:iam::aws:policy/AWSDenyAll");
    if evidence.attached_policies.iter().any(|p| p.arn == deny_all) {
        out.push(
            Action::new("AttachUserPolicy", &deny_all, Status::AlreadyDone)
                .with_detail("already attached"),
        );
    } else {
        let r = iam
            .attach_user_policy()
            .user_name(name)
            .policy_arn(&deny_all)
            .send()
            .await;
        out.push(match r {
            Ok(_) => Action::new("AttachUserPolicy", &deny_all, Status::Done)
                .with_detail("every action is now denied"),
            // NoSuchEntity here may mean the policy, not the user: never "already done".
            Err(e) => Action::new("AttachUserPolicy", &deny_all, Status::Failed)
                .with_detail(CallError::from_sdk(&e).to_string()),
        });
    }

    out.push(outcome(
        "DeleteLoginProfile",
        name,
        iam.delete_login_profile().user_name(name).send().await,
        "no console password",
    ));

    out.extend(
        for_each_listed(
            collect_all(
                iam.list_access_keys()
                    .user_name(name)
                    .into_paginator()
                    .items()
                    .send(),
            ),
            name,
            "ListAccessKeys",
            "UpdateAccessKey",
            "access keys",
            move |k| async move {
                let id = k.access_key_id().unwrap_or_default();
                if k.status() == Some(&StatusType::Inactive) {
                    return [Action::new("UpdateAccessKey", id, Status::AlreadyDone)
                        .with_detail("already Inactive")];
                }
                let a = outcome(
                    "UpdateAccessKey",
                    id,
                    iam.update_access_key()
                        .user_name(name)
                        .access_key_id(id)
                        .status(StatusType::Inactive)
                        .send()
                        .await,
                    "the key no longer exists",
                );
                [if a.status == Status::Done {
                    a.with_detail("set Inactive")
                } else {
                    a
                }]
            },
        )
        .await,
    );

    if let Some(t) = evidence.tags.iter().find(|t| t.key == TAG_QUARANTINED) {
        out.push(
            Action::new("TagUser", name, Status::AlreadyDone)
                .with_detail(format!("quarantined by an earlier run at {}", t.value)),
        );
    } else {
        let mut req = iam.tag_user().user_name(name);
        for (k, v) in tags {
            // Both required fields are set, so building cannot fail.
            if let Ok(tag) = aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(tag_value(v))
                .build()
            {
                req = req.tags(tag);
            }
        }
        let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
        let a = outcome(
            "TagUser",
            name,
            req.send().await,
            "the user no longer exists",
        );
        out.push(if a.status == Status::Done {
            a.with_detail(keys.join(", "))
        } else {
            a
        });
    }
    out
}

/// Where evidence is stored: `trailwarden/evidence/<account>/<user-name>/<eventID>.json`.
pub fn evidence_key(account: &str, user: &str, event_id: &str) -> String {
    format!("trailwarden/evidence/{account}/{user}/{event_id}.json")
}

/// Writes the evidence object, never replacing one already there (a redelivered event or a
/// retry keeps the first, fuller capture).
pub async fn put_evidence(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Action {
    let target = format!("s3://{bucket}/{key}");
    let r = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .if_none_match("*")
        .body(aws_sdk_s3::primitives::ByteStream::from(body))
        .send()
        .await;
    match r {
        Ok(_) => Action::new("PutEvidence", target, Status::Done),
        Err(e) => {
            let e = CallError::from_sdk(&e);
            if e.is("PreconditionFailed") || e.status == Some(412) {
                Action::new("PutEvidence", target, Status::AlreadyDone)
                    .with_detail("evidence from an earlier delivery of this event is kept")
            } else if e.is("ConditionalRequestConflict") {
                Action::new("PutEvidence", target, Status::AlreadyDone)
                    .with_detail("another delivery of this event is writing the evidence")
            } else {
                tracing::warn!(%target, error = %e, "writing evidence failed");
                Action::new("PutEvidence", target, Status::Failed).with_detail(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_values_are_made_valid() {
        assert_eq!(
            tag_value(
                "created by arn:aws:iam::123456789012:user/alice, which is \"not\" approved; (x)"
            ),
            "created by arn:aws:iam::123456789012:user/alice which is not approved x"
        );
        assert_eq!(tag_value(&"a".repeat(300)).len(), 256);
    }

    #[test]
    fn virtual_mfa_serials() {
        assert!(is_virtual_mfa("arn:aws:iam::123456789012:mfa/mallory"));
        assert!(!is_virtual_mfa("GAHT12345678"));
        assert!(!is_virtual_mfa(
            "arn:aws:iam::123456789012:u2f/user/mallory/key-ABC"
        ));
    }

    #[test]
    fn evidence_keys_are_predictable() {
        assert_eq!(
            evidence_key(
                "123456789012",
                "mallory",
                "3b8e5f2a-9c41-4d6e-8f07-1a2b3c4d5e6f"
            ),
            "trailwarden/evidence/123456789012/mallory/3b8e5f2a-9c41-4d6e-8f07-1a2b3c4d5e6f.json"
        );
    }
}

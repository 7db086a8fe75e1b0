//! The IAM side of each response step. Every step is idempotent (`NoSuchEntity` means already
//! done), acts on every item of its kind (every access key, every policy), and says per item
//! what became of it; a failed item does not stop the others.

use crate::evidence::{list_service_specific_credentials, Evidence};
use crate::iam::date;
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::StatusType;
use aws_sdk_iam::Client;
use std::future::Future;
use std::time::Duration;
use trailwarden::aws::{collect_all, Backoff, CallError};
use trailwarden::respond::StepResult;
use trailwarden::Status;

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutcome {
    pub result: StepResult,
    /// The items that failed, as `Operation item` (`DeleteUserPolicy everything`).
    pub failures: Vec<String>,
    /// True when a failure here is not made moot by the user's deletion (a virtual MFA device
    /// outlives its user).
    pub lasting: bool,
}

impl StepOutcome {
    fn of(result: StepResult) -> Self {
        StepOutcome {
            result,
            failures: Vec::new(),
            lasting: false,
        }
    }
}

/// What became of one item.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Done(String),
    Already(String),
    Failed {
        op: String,
        item: String,
        error: String,
        lasting: bool,
    },
}

/// The outcome of one IAM call on one item: done, already done (`NoSuchEntity`), or failed.
fn item<T, E>(
    op: &str,
    id: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
    done: String,
    gone: &str,
) -> Item
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Item::Done(done),
        Err(e) => {
            let e = CallError::from_sdk(&e);
            if e.no_such_entity() {
                Item::Already(format!("{id} {gone}"))
            } else {
                tracing::warn!(op, id, error = %e, "response step failed");
                Item::Failed {
                    op: op.to_string(),
                    item: id.to_string(),
                    error: e.to_string(),
                    lasting: false,
                }
            }
        }
    }
}

/// The step's result from its items: failed when any item failed, done when any changed,
/// else already done.
fn tally(items: Vec<Item>) -> StepOutcome {
    let mut done = Vec::new();
    let mut already = Vec::new();
    let mut failed = Vec::new();
    let mut failures = Vec::new();
    let mut lasting = false;
    for i in items {
        match i {
            Item::Done(d) => done.push(d),
            Item::Already(d) => already.push(d),
            Item::Failed {
                op,
                item,
                error,
                lasting: l,
            } => {
                failed.push(format!("{op} {item}: {error}"));
                failures.push(format!("{op} {item}"));
                lasting |= l;
            }
        }
    }
    let mut parts = Vec::new();
    if !failed.is_empty() {
        parts.push(format!("failed: {}", failed.join("; ")));
    }
    if !done.is_empty() {
        parts.push(done.join(", "));
    }
    if !already.is_empty() {
        parts.push(already.join(", "));
    }
    let status = if !failed.is_empty() {
        Status::Failed
    } else if !done.is_empty() {
        Status::Done
    } else {
        Status::AlreadyDone
    };
    StepOutcome {
        result: StepResult::status(status, parts.join("; ")),
        failures,
        lasting,
    }
}

/// List the user's things of one kind, then act on each. Nothing listed is already done; a
/// listing that fails is a failure naming the listing (`NoSuchEntity`: the user is gone).
async fn for_each_listed<T, Fut>(
    listing: impl Future<Output = Result<Vec<T>, CallError>>,
    list_op: &str,
    what: &str,
    mut each: impl FnMut(T) -> Fut,
) -> StepOutcome
where
    Fut: Future<Output = Vec<Item>>,
{
    match listing.await {
        Ok(items) if items.is_empty() => StepOutcome::of(StepResult::status(
            Status::AlreadyDone,
            format!("no {what}"),
        )),
        Ok(items) => {
            let mut out = Vec::new();
            for i in items {
                out.extend(each(i).await);
            }
            tally(out)
        }
        Err(e) if e.no_such_entity() => StepOutcome::of(StepResult::status(
            Status::AlreadyDone,
            "the user no longer exists",
        )),
        Err(e) => {
            tracing::warn!(op = list_op, error = %e, "listing failed");
            StepOutcome {
                result: StepResult::failed(format!("{list_op}: could not list {what}: {e}")),
                failures: vec![list_op.to_string()],
                lasting: false,
            }
        }
    }
}

fn is_virtual_mfa(serial: &str) -> bool {
    serial.starts_with("arn:") && serial.contains(":mfa/")
}

/// `DeleteLoginProfile`.
pub async fn delete_login_profile(iam: &Client, name: &str) -> StepOutcome {
    let r = iam.delete_login_profile().user_name(name).send().await;
    match r {
        Ok(_) => StepOutcome::of(StepResult::status(Status::Done, "console password deleted")),
        Err(e) => {
            let e = CallError::from_sdk(&e);
            if e.no_such_entity() {
                StepOutcome::of(StepResult::status(
                    Status::AlreadyDone,
                    "no console password",
                ))
            } else {
                StepOutcome {
                    result: StepResult::failed(e.to_string()),
                    failures: vec![format!("DeleteLoginProfile {name}")],
                    lasting: false,
                }
            }
        }
    }
}

pub async fn delete_access_keys(iam: &Client, name: &str) -> StepOutcome {
    for_each_listed(
        collect_all(
            iam.list_access_keys()
                .user_name(name)
                .into_paginator()
                .items()
                .send(),
        ),
        "ListAccessKeys",
        "access keys",
        move |k| async move {
            let id = k.access_key_id().unwrap_or_default();
            let status = k.status().map(|s| s.as_str()).unwrap_or("unknown status");
            let created = k.create_date().map(date).unwrap_or_default();
            vec![item(
                "DeleteAccessKey",
                id,
                iam.delete_access_key()
                    .user_name(name)
                    .access_key_id(id)
                    .send()
                    .await,
                format!("{id} deleted (was {status}, created {created})"),
                "already deleted",
            )]
        },
    )
    .await
}

pub async fn delete_signing_certificates(iam: &Client, name: &str) -> StepOutcome {
    for_each_listed(
        collect_all(
            iam.list_signing_certificates()
                .user_name(name)
                .into_paginator()
                .items()
                .send(),
        ),
        "ListSigningCertificates",
        "signing certificates",
        move |c| async move {
            let id = c.certificate_id();
            vec![item(
                "DeleteSigningCertificate",
                id,
                iam.delete_signing_certificate()
                    .user_name(name)
                    .certificate_id(id)
                    .send()
                    .await,
                format!("{id} deleted"),
                "already deleted",
            )]
        },
    )
    .await
}

pub async fn delete_ssh_public_keys(iam: &Client, name: &str) -> StepOutcome {
    for_each_listed(
        collect_all(
            iam.list_ssh_public_keys()
                .user_name(name)
                .into_paginator()
                .items()
                .send(),
        ),
        "ListSSHPublicKeys",
        "SSH public keys",
        move |k| async move {
            let id = k.ssh_public_key_id();
            vec![item(
                "DeleteSSHPublicKey",
                id,
                iam.delete_ssh_public_key()
                    .user_name(name)
                    .ssh_public_key_id(id)
                    .send()
                    .await,
                format!("{id} deleted"),
                "already deleted",
            )]
        },
    )
    .await
}

pub async fn delete_service_specific_credentials(iam: &Client, name: &str) -> StepOutcome {
    for_each_listed(
        list_service_specific_credentials(iam, name),
        "ListServiceSpecificCredentials",
        "service-specific credentials",
        move |c| async move {
            let id = c.service_specific_credential_id();
            vec![item(
                "DeleteServiceSpecificCredential",
                id,
                iam.delete_service_specific_credential()
                    .user_name(name)
                    .service_specific_credential_id(id)
                    .send()
                    .await,
                format!("{id} ({}) deleted", c.service_name()),
                "already deleted",
            )]
        },
    )
    .await
}

/// Deactivates every MFA device; with `delete_virtual`, deletes the virtual ones too.
pub async fn deactivate_mfa_devices(iam: &Client, name: &str, delete_virtual: bool) -> StepOutcome {
    for_each_listed(
        collect_all(
            iam.list_mfa_devices()
                .user_name(name)
                .into_paginator()
                .items()
                .send(),
        ),
        "ListMFADevices",
        "MFA devices",
        move |d| async move {
            let serial = d.serial_number();
            let mut out = vec![item(
                "DeactivateMFADevice",
                serial,
                iam.deactivate_mfa_device()
                    .user_name(name)
                    .serial_number(serial)
                    .send()
                    .await,
                format!("{serial} deactivated"),
                "already deactivated",
            )];
            if delete_virtual && is_virtual_mfa(serial) {
                let mut i = item(
                    "DeleteVirtualMFADevice",
                    serial,
                    iam.delete_virtual_mfa_device()
                        .serial_number(serial)
                        .send()
                        .await,
                    format!("virtual device {serial} deleted"),
                    "already deleted",
                );
                // A virtual device outlives the user: its deletion is never moot.
                if let Item::Failed { lasting, .. } = &mut i {
                    *lasting = true;
                }
                out.push(i);
            }
            out
        },
    )
    .await
}

pub async fn delete_user_policies(iam: &Client, name: &str) -> StepOutcome {
    for_each_listed(
        collect_all(
            iam.list_user_policies()
                .user_name(name)
                .into_paginator()
                .items()
                .send(),
        ),
        "ListUserPolicies",
        "inline policies",
        move |p| async move {
            vec![item(
                "DeleteUserPolicy",
                &p,
                iam.delete_user_policy()
                    .user_name(name)
                    .policy_name(&p)
                    .send()
                    .await,
                format!("{p} deleted"),
                "already deleted",
            )]
        },
    )
    .await
}

pub async fn detach_user_policies(iam: &Client, name: &str) -> StepOutcome {
    for_each_listed(
        collect_all(
            iam.list_attached_user_policies()
                .user_name(name)
                .into_paginator()
                .items()
                .send(),
        ),
        "ListAttachedUserPolicies",
        "attached managed policies",
        move |p| async move {
            let arn = p.policy_arn().unwrap_or_default();
            vec![item(
                "DetachUserPolicy",
                arn,
                iam.detach_user_policy()
                    .user_name(name)
                    .policy_arn(arn)
                    .send()
                    .await,
                format!("{arn} detached"),
                "already detached",
            )]
        },
    )
    .await
}

pub async fn remove_user_from_groups(iam: &Client, name: &str) -> StepOutcome {
    for_each_listed(
        collect_all(
            iam.list_groups_for_user()
                .user_name(name)
                .into_paginator()
                .items()
                .send(),
        ),
        "ListGroupsForUser",
        "group memberships",
        move |g| async move {
            let group = g.group_name();
            vec![item(
                "RemoveUserFromGroup",
                group,
                iam.remove_user_from_group()
                    .user_name(name)
                    .group_name(group)
                    .send()
                    .await,
                format!("removed from {group}"),
                "already removed",
            )]
        },
    )
    .await
}

/// `DeleteUser`. A `DeleteConflict` is retried within `window` when nothing before failed
/// (IAM is eventually consistent); otherwise the failure names what did not complete.
pub async fn delete_user(
    iam: &Client,
    name: &str,
    window: Duration,
    earlier_failures: &[String],
) -> StepOutcome {
    let all_ok = earlier_failures.is_empty();
    let mut backoff = Backoff::new(if all_ok { window } else { Duration::ZERO });
    let result = loop {
        let result = iam.delete_user().user_name(name).send().await;
        if let Err(e) = &result {
            if CallError::from_sdk(e).is("DeleteConflict") && backoff.wait().await {
                tracing::info!(user = name, "DeleteUser: DeleteConflict, retrying");
                continue;
            }
        }
        break result;
    };
    match result {
        Ok(_) => StepOutcome::of(StepResult::status(Status::Done, "the user was deleted")),
        Err(e) => {
            let e = CallError::from_sdk(&e);
            if e.no_such_entity() {
                return StepOutcome::of(StepResult::status(
                    Status::AlreadyDone,
                    "the user no longer exists",
                ));
            }
            let detail = if all_ok {
                e.to_string()
            } else {
                format!(
                    "{}; steps that did not complete: {}",
                    e.to_string().trim_end_matches('.'),
                    earlier_failures.join(", ")
                )
            };
            StepOutcome {
                result: StepResult::failed(detail),
                failures: vec![format!("DeleteUser {name}")],
                lasting: true,
            }
        }
    }
}

/// Name of the inline policy a quarantine puts when no managed policy can be attached.
pub const DENY_ALL_INLINE_POLICY: &str = "trailwarden-quarantine-deny-all";

/// The inline deny-all document.
pub const DENY_ALL_DOCUMENT: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"TrailwardenQuarantine","Effect":"Deny","Action":"*","Resource":"*"}]}"#;

/// Denies every action: attaches `policy_arn` (`AWSDenyAll`); when the user already has the
/// most managed policies IAM allows (`LimitExceeded`), puts an inline deny-all policy instead.
/// The evidence says what is already in place.
pub async fn deny_all(
    iam: &Client,
    name: &str,
    policy_arn: &str,
    evidence: Option<&Evidence>,
) -> StepOutcome {
    if let Some(ev) = evidence {
        if ev.attached_policies.iter().any(|p| p.arn == policy_arn) {
            return StepOutcome::of(StepResult::status(
                Status::AlreadyDone,
                format!("{policy_arn} already attached"),
            ));
        }
        if ev
            .inline_policies
            .iter()
            .any(|p| p.name == DENY_ALL_INLINE_POLICY)
        {
            return StepOutcome::of(StepResult::status(
                Status::AlreadyDone,
                format!("inline policy {DENY_ALL_INLINE_POLICY} already in place"),
            ));
        }
    }
    let r = iam
        .attach_user_policy()
        .user_name(name)
        .policy_arn(policy_arn)
        .send()
        .await;
    let e = match r {
        Ok(_) => {
            return StepOutcome::of(StepResult::status(
                Status::Done,
                format!("AttachUserPolicy {policy_arn}: every action is now denied"),
            ))
        }
        Err(e) => CallError::from_sdk(&e),
    };
    if !e.is("LimitExceeded") {
        // NoSuchEntity here may mean the policy, not the user: never "already done".
        return StepOutcome {
            result: StepResult::failed(format!("AttachUserPolicy {policy_arn}: {e}")),
            failures: vec![format!("AttachUserPolicy {policy_arn}")],
            lasting: false,
        };
    }
    let put = iam
        .put_user_policy()
        .user_name(name)
        .policy_name(DENY_ALL_INLINE_POLICY)
        .policy_document(DENY_ALL_DOCUMENT)
        .send()
        .await;
    match put {
        Ok(_) => StepOutcome::of(StepResult::status(
            Status::Done,
            format!(
                "AttachUserPolicy {policy_arn}: {e}; PutUserPolicy {DENY_ALL_INLINE_POLICY} (deny * on *) instead: every action is now denied"
            ),
        )),
        Err(pe) => {
            let pe = CallError::from_sdk(&pe);
            StepOutcome {
                result: StepResult::failed(format!(
                    "AttachUserPolicy {policy_arn}: {e}; PutUserPolicy {DENY_ALL_INLINE_POLICY}: {pe}"
                )),
                failures: vec![format!("PutUserPolicy {DENY_ALL_INLINE_POLICY}")],
                lasting: false,
            }
        }
    }
}

fn inactive_or(status: &str, id: &str) -> Option<Item> {
    (status == "Inactive").then(|| Item::Already(format!("{id} already Inactive")))
}

pub async fn deactivate_access_keys(iam: &Client, name: &str) -> StepOutcome {
    for_each_listed(
        collect_all(
            iam.list_access_keys()
                .user_name(name)
                .into_paginator()
                .items()
                .send(),
        ),
        "ListAccessKeys",
        "access keys",
        move |k| async move {
            let id = k.access_key_id().unwrap_or_default();
            if let Some(i) = inactive_or(k.status().map(|s| s.as_str()).unwrap_or(""), id) {
                return vec![i];
            }
            vec![item(
                "UpdateAccessKey",
                id,
                iam.update_access_key()
                    .user_name(name)
                    .access_key_id(id)
                    .status(StatusType::Inactive)
                    .send()
                    .await,
                format!("{id} set Inactive"),
                "no longer exists",
            )]
        },
    )
    .await
}

pub async fn deactivate_ssh_public_keys(iam: &Client, name: &str) -> StepOutcome {
    for_each_listed(
        collect_all(
            iam.list_ssh_public_keys()
                .user_name(name)
                .into_paginator()
                .items()
                .send(),
        ),
        "ListSSHPublicKeys",
        "SSH public keys",
        move |k| async move {
            let id = k.ssh_public_key_id();
            if let Some(i) = inactive_or(k.status().as_str(), id) {
                return vec![i];
            }
            vec![item(
                "UpdateSSHPublicKey",
                id,
                iam.update_ssh_public_key()
                    .user_name(name)
                    .ssh_public_key_id(id)
                    .status(StatusType::Inactive)
                    .send()
                    .await,
                format!("{id} set Inactive"),
                "no longer exists",
            )]
        },
    )
    .await
}

pub async fn deactivate_service_specific_credentials(iam: &Client, name: &str) -> StepOutcome {
    for_each_listed(
        list_service_specific_credentials(iam, name),
        "ListServiceSpecificCredentials",
        "service-specific credentials",
        move |c| async move {
            let id = c.service_specific_credential_id();
            if let Some(i) = inactive_or(c.status().as_str(), id) {
                return vec![i];
            }
            vec![item(
                "UpdateServiceSpecificCredential",
                id,
                iam.update_service_specific_credential()
                    .user_name(name)
                    .service_specific_credential_id(id)
                    .status(StatusType::Inactive)
                    .send()
                    .await,
                format!("{id} ({}) set Inactive", c.service_name()),
                "no longer exists",
            )]
        },
    )
    .await
}

pub async fn deactivate_signing_certificates(iam: &Client, name: &str) -> StepOutcome {
    for_each_listed(
        collect_all(
            iam.list_signing_certificates()
                .user_name(name)
                .into_paginator()
                .items()
                .send(),
        ),
        "ListSigningCertificates",
        "signing certificates",
        move |c| async move {
            let id = c.certificate_id();
            if let Some(i) = inactive_or(c.status().as_str(), id) {
                return vec![i];
            }
            vec![item(
                "UpdateSigningCertificate",
                id,
                iam.update_signing_certificate()
                    .user_name(name)
                    .certificate_id(id)
                    .status(StatusType::Inactive)
                    .send()
                    .await,
                format!("{id} set Inactive"),
                "no longer exists",
            )]
        },
    )
    .await
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

/// Tags the user (unless an earlier run did: the evidence shows its tag).
pub async fn tag_user(
    iam: &Client,
    name: &str,
    tags: &[(String, String)],
    evidence: Option<&Evidence>,
) -> StepOutcome {
    if let Some(t) = evidence.and_then(|e| e.tags.iter().find(|t| t.key == TAG_QUARANTINED)) {
        return StepOutcome::of(StepResult::status(
            Status::AlreadyDone,
            format!("quarantined by an earlier run at {}", t.value),
        ));
    }
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
    tally(vec![item(
        "TagUser",
        name,
        req.send().await,
        keys.join(", "),
        "no longer exists",
    )])
}

/// Sets one access key Inactive.
pub async fn deactivate_access_key(iam: &Client, name: &str, key_id: &str) -> StepOutcome {
    tally(vec![item(
        "UpdateAccessKey",
        key_id,
        iam.update_access_key()
            .user_name(name)
            .access_key_id(key_id)
            .status(StatusType::Inactive)
            .send()
            .await,
        format!("{key_id} set Inactive"),
        "no longer exists",
    )])
}

/// Writes the evidence object, never replacing one already there (a redelivered event or a
/// retry keeps the first, fuller capture).
pub async fn put_evidence(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> StepResult {
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
        Ok(_) => StepResult::done(),
        Err(e) => {
            let e = CallError::from_sdk(&e);
            if e.is("PreconditionFailed") || e.status == Some(412) {
                StepResult::status(
                    Status::AlreadyDone,
                    "evidence from an earlier delivery of this event is kept",
                )
            } else if e.is("ConditionalRequestConflict") {
                StepResult::status(
                    Status::AlreadyDone,
                    "another delivery of this event is writing the evidence",
                )
            } else {
                tracing::warn!(bucket, key, error = %e, "writing evidence failed");
                StepResult::failed(e.to_string())
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
    fn items_tally_into_one_result() {
        let t = tally(vec![
            Item::Done("AKIA1 deleted".into()),
            Item::Already("AKIA2 already deleted".into()),
        ]);
        assert_eq!(t.result.status, Status::Done);
        assert!(t.failures.is_empty());
        let t = tally(vec![
            Item::Done("a deleted".into()),
            Item::Failed {
                op: "DeleteUserPolicy".into(),
                item: "everything".into(),
                error: "Throttling: Rate exceeded".into(),
                lasting: false,
            },
        ]);
        assert_eq!(t.result.status, Status::Failed);
        assert_eq!(t.failures, ["DeleteUserPolicy everything"]);
        assert!(!t.lasting);
        let t = tally(vec![Item::Already("x".into())]);
        assert_eq!(t.result.status, Status::AlreadyDone);
    }
}

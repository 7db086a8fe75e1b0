//! The IAM side of each response step. Every step is idempotent (`NoSuchEntity` means already
//! done), acts on every item of its kind (every access key, every policy), and says per item
//! what became of it; a failed item does not stop the others.

use crate::evidence::{list_service_specific_credentials, Evidence};
use crate::iam::{all_items, date};
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::StatusType;
use aws_sdk_iam::Client;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;
use trailwarden::aws::{Backoff, CallError};
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

/// Whether user `name` exists (`GetUser`): after a call on the user answered `NoSuchEntity`,
/// tells "the thing is gone" (the user is there) from "the user is not there under this name"
/// (renamed, or deleted): IAM answers both with `NoSuchEntity`.
async fn user_exists(iam: &Client, name: &str) -> Result<bool, CallError> {
    match iam.get_user().user_name(name).send().await {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = CallError::from_sdk(&e);
            if e.no_such_entity() {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// A failed step on one item: `op item` among the failures.
fn failed(op: &str, item: &str, detail: String) -> StepOutcome {
    StepOutcome {
        result: StepResult::failed(detail),
        failures: vec![format!("{op} {item}")],
        lasting: false,
    }
}

/// After `op` on `item` of user `name` answered `NoSuchEntity`: already done (`gone`) when the
/// user exists, so the item is what is missing; failed when the user itself is missing under
/// that name: it may have been renamed since the event, with the item still in force under
/// its new name, and Lambda's retry (and the alert) must say so rather than "already done".
async fn missing_item_or_user(
    iam: &Client,
    op: &str,
    name: &str,
    item: &str,
    gone: String,
) -> StepOutcome {
    match user_exists(iam, name).await {
        Ok(true) => StepOutcome::of(StepResult::status(Status::AlreadyDone, gone)),
        Ok(false) => failed(
            op,
            item,
            format!(
                "{op} {item}: NoSuchEntity, and no IAM user is named {name} any more: it was renamed (the credential may still be in force under the new name) or deleted since the event; not confirmed revoked"
            ),
        ),
        Err(e) => failed(
            op,
            item,
            format!("{op} {item}: NoSuchEntity, and GetUser {name} failed ({e}): not confirmed revoked"),
        ),
    }
}

/// `DeleteLoginProfile`. `NoSuchEntity` is already done only when the user exists (it has no
/// console password); a user missing under that name may have been renamed with its password.
pub async fn delete_login_profile(iam: &Client, name: &str) -> StepOutcome {
    let r = iam.delete_login_profile().user_name(name).send().await;
    match r {
        Ok(_) => StepOutcome::of(StepResult::status(Status::Done, "console password deleted")),
        Err(e) => {
            let e = CallError::from_sdk(&e);
            if e.no_such_entity() {
                missing_item_or_user(
                    iam,
                    "DeleteLoginProfile",
                    name,
                    name,
                    "no console password".into(),
                )
                .await
            } else {
                failed("DeleteLoginProfile", name, e.to_string())
            }
        }
    }
}

/// For one kind of credential, the step that deletes every one the user holds and the step
/// that sets every one `Inactive` (one already `Inactive` is left as it is):
///
/// ```text
/// delete_fn, deactivate_fn, "what (in details)":
/// "ListOp" list_method |c, id| id-of-c, status-of-c;            (or: "ListOp" fn listing_fn …)
/// "DeleteOp" delete_method.id_setter => detail-when-deleted;
/// "UpdateOp" update_method => detail-when-set-inactive;
/// ```
macro_rules! credential_steps {
    (
        $delete_fn:ident, $deactivate_fn:ident, $what:literal:
        $list_op:literal fn $list:ident |$c:ident, $id:ident| $get_id:expr, $status:expr;
        $($rest:tt)*
    ) => {
        credential_steps!(@steps $delete_fn, $deactivate_fn, $what, $list_op,
            |iam, name| $list(iam, name),
            |$c, $id| $get_id, $status; $($rest)*);
    };
    (
        $delete_fn:ident, $deactivate_fn:ident, $what:literal:
        $list_op:literal $list:ident |$c:ident, $id:ident| $get_id:expr, $status:expr;
        $($rest:tt)*
    ) => {
        credential_steps!(@steps $delete_fn, $deactivate_fn, $what, $list_op,
            |iam, name| all_items!(iam.$list().user_name(name)),
            |$c, $id| $get_id, $status; $($rest)*);
    };
    (
        @steps $delete_fn:ident, $deactivate_fn:ident, $what:literal, $list_op:literal,
        |$iam:ident, $name:ident| $listing:expr,
        |$c:ident, $id:ident| $get_id:expr, $status:expr;
        $delete_op:literal $delete:ident . $by:ident => $deleted:expr;
        $update_op:literal $update:ident => $deactivated:expr;
    ) => {
        #[doc = concat!("`", $delete_op, "`, each of the user's ", $what, ".")]
        pub async fn $delete_fn($iam: &Client, $name: &str) -> StepOutcome {
            for_each_listed($listing, $list_op, $what, move |$c| async move {
                let $id = $get_id;
                let r = $iam.$delete().user_name($name).$by($id).send().await;
                vec![item($delete_op, $id, r, $deleted, "already deleted")]
            })
            .await
        }

        #[doc = concat!("`", $update_op, "` to `Inactive`, each of the user's ", $what, ".")]
        pub async fn $deactivate_fn($iam: &Client, $name: &str) -> StepOutcome {
            for_each_listed($listing, $list_op, $what, move |$c| async move {
                let $id = $get_id;
                if let Some(i) = inactive_or($status, $id) {
                    return vec![i];
                }
                let inactive = $iam.$update().user_name($name).$by($id);
                let r = inactive.status(StatusType::Inactive).send().await;
                vec![item($update_op, $id, r, $deactivated, "no longer exists")]
            })
            .await
        }
    };
}

credential_steps! {
    delete_access_keys, deactivate_access_keys, "access keys":
    "ListAccessKeys" list_access_keys
        |k, id| k.access_key_id().unwrap_or_default(), k.status().map(|s| s.as_str()).unwrap_or("");
    "DeleteAccessKey" delete_access_key.access_key_id => format!(
        "{id} deleted (was {}, created {})",
        k.status().map(|s| s.as_str()).unwrap_or("unknown status"),
        k.create_date().map(date).unwrap_or_default()
    );
    "UpdateAccessKey" update_access_key => format!("{id} set Inactive");
}

credential_steps! {
    delete_signing_certificates, deactivate_signing_certificates, "signing certificates":
    "ListSigningCertificates" list_signing_certificates
        |c, id| c.certificate_id(), c.status().as_str();
    "DeleteSigningCertificate" delete_signing_certificate.certificate_id => format!("{id} deleted");
    "UpdateSigningCertificate" update_signing_certificate => format!("{id} set Inactive");
}

credential_steps! {
    delete_ssh_public_keys, deactivate_ssh_public_keys, "SSH public keys":
    "ListSSHPublicKeys" list_ssh_public_keys |k, id| k.ssh_public_key_id(), k.status().as_str();
    "DeleteSSHPublicKey" delete_ssh_public_key.ssh_public_key_id => format!("{id} deleted");
    "UpdateSSHPublicKey" update_ssh_public_key => format!("{id} set Inactive");
}

credential_steps! {
    delete_service_specific_credentials, deactivate_service_specific_credentials,
        "service-specific credentials":
    "ListServiceSpecificCredentials" fn list_service_specific_credentials
        |c, id| c.service_specific_credential_id(), c.status().as_str();
    "DeleteServiceSpecificCredential"
        delete_service_specific_credential.service_specific_credential_id
        => format!("{id} ({}) deleted", c.service_name());
    "UpdateServiceSpecificCredential" update_service_specific_credential
        => format!("{id} ({}) set Inactive", c.service_name());
}

/// Deactivates every MFA device; with `delete_virtual`, deletes the virtual ones too.
pub async fn deactivate_mfa_devices(iam: &Client, name: &str, delete_virtual: bool) -> StepOutcome {
    for_each_listed(
        all_items!(iam.list_mfa_devices().user_name(name)),
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
        all_items!(iam.list_user_policies().user_name(name)),
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
        all_items!(iam.list_attached_user_policies().user_name(name)),
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
        all_items!(iam.list_groups_for_user().user_name(name)),
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
/// `NoSuchEntity` is already done only when no user holds the captured unique id `user_id`:
/// a user renamed between the last check and `DeleteUser` still exists, and the step fails
/// (Lambda's retry follows it to its new name and deletes it).
pub async fn delete_user(
    iam: &Client,
    name: &str,
    user_id: Option<&str>,
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
                return deleted_or_renamed(iam, name, user_id).await;
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

/// `DeleteUser` answered `NoSuchEntity` for `name`: already done when no user holds its unique
/// id (`ListUsers`), failed when one does under another name (renamed meanwhile) or when
/// that cannot be checked.
async fn deleted_or_renamed(iam: &Client, name: &str, user_id: Option<&str>) -> StepOutcome {
    let gone = || {
        StepOutcome::of(StepResult::status(
            Status::AlreadyDone,
            "the user no longer exists",
        ))
    };
    let Some(id) = user_id.filter(|id| !id.is_empty()) else {
        return gone();
    };
    let not_deleted = |detail: String| StepOutcome {
        result: StepResult::failed(detail),
        failures: vec![format!("DeleteUser {name}")],
        lasting: true,
    };
    match crate::evidence::find_by_id(iam, id).await {
        Ok(None) => StepOutcome::of(StepResult::status(
            Status::AlreadyDone,
            format!("the user no longer exists (no user has its id {id})"),
        )),
        // Still listed under the name just deleted: IAM catching up with the deletion.
        Ok(Some(u)) if u.user_name() == name => gone(),
        Ok(Some(u)) => not_deleted(format!(
            "DeleteUser {name}: NoSuchEntity, but the user (id {id}) still exists, renamed to {}: not deleted; Lambda's retry follows it to its new name",
            u.user_name()
        )),
        Err(e) => not_deleted(format!(
            "DeleteUser {name}: NoSuchEntity, and whether a user still has its id {id} could not be checked (ListUsers: {e}): not confirmed deleted"
        )),
    }
}

/// Name of the inline policy a quarantine puts when no managed policy can be attached.
pub const DENY_ALL_INLINE_POLICY: &str = "trailwarden-quarantine-deny-all";

/// The inline deny-all document.
pub const DENY_ALL_DOCUMENT: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"TrailwardenQuarantine","Effect":"Deny","Action":"*","Resource":"*"}]}"#;

/// Denies every action: attaches `policy_arn` (`AWSDenyAll`); when the user already has the
/// most managed policies IAM allows (`LimitExceeded`), puts an inline deny-all policy instead.
///
/// The call is always made, whatever the evidence shows: the user's owner may have detached
/// the policy since it was captured, or put an inline policy of that name that allows
/// everything (a name is not a document). The evidence only tells a second delivery
/// (`AlreadyDone`) from a first.
pub async fn deny_all(
    iam: &Client,
    name: &str,
    policy_arn: &str,
    evidence: Option<&Evidence>,
) -> StepOutcome {
    let was_attached =
        evidence.is_some_and(|ev| ev.attached_policies.iter().any(|p| p.arn == policy_arn));
    let was_put = evidence.is_some_and(|ev| {
        ev.inline_policies
            .iter()
            .any(|p| p.name == DENY_ALL_INLINE_POLICY && is_deny_all(&p.document))
    });
    let done = |detail: String, already: bool| {
        StepOutcome::of(StepResult::status(
            if already {
                Status::AlreadyDone
            } else {
                Status::Done
            },
            detail,
        ))
    };
    let r = iam
        .attach_user_policy()
        .user_name(name)
        .policy_arn(policy_arn)
        .send()
        .await;
    let e = match r {
        Ok(_) if was_attached => {
            return done(
                format!("{policy_arn} already attached (attached again)"),
                true,
            )
        }
        Ok(_) => {
            return done(
                format!("AttachUserPolicy {policy_arn}: every action is now denied"),
                false,
            )
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
        Ok(_) if was_put => done(
            format!("inline policy {DENY_ALL_INLINE_POLICY} already in place (put again)"),
            true,
        ),
        Ok(_) => done(
            format!(
                "AttachUserPolicy {policy_arn}: {e}; PutUserPolicy {DENY_ALL_INLINE_POLICY} (deny * on *) instead: every action is now denied"
            ),
            false,
        ),
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

/// True when a policy document is [`DENY_ALL_DOCUMENT`]'s: its statements, but for their
/// `Sid`, are the same (one denying `*` on `*`, with no condition).
fn is_deny_all(doc: &Value) -> bool {
    fn statements(d: &Value) -> Option<Vec<Value>> {
        let list = match &d["Statement"] {
            Value::Array(a) => a.clone(),
            o @ Value::Object(_) => vec![o.clone()],
            _ => return None,
        };
        Some(
            list.into_iter()
                .map(|mut st| {
                    if let Some(o) = st.as_object_mut() {
                        o.remove("Sid");
                    }
                    st
                })
                .collect(),
        )
    }
    let ours: Value = serde_json::from_str(DENY_ALL_DOCUMENT).expect("valid JSON");
    statements(doc).is_some_and(|s| Some(s) == statements(&ours))
}

fn inactive_or(status: &str, id: &str) -> Option<Item> {
    (status == "Inactive").then(|| Item::Already(format!("{id} already Inactive")))
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

/// Tags the user. Always: a tag the evidence shows could have been set by the user's owner
/// (tags are not proof of anything); it only tells a second delivery (`AlreadyDone`).
pub async fn tag_user(
    iam: &Client,
    name: &str,
    tags: &[(String, String)],
    evidence: Option<&Evidence>,
) -> StepOutcome {
    let earlier = evidence
        .and_then(|e| e.tags.iter().find(|t| t.key == TAG_QUARANTINED))
        .map(|t| t.value.clone());
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
    let sent = req.send().await;
    if let (Some(at), Ok(_)) = (&earlier, &sent) {
        return StepOutcome::of(StepResult::status(
            Status::AlreadyDone,
            format!("tagged quarantined before ({TAG_QUARANTINED}={at}); tagged again"),
        ));
    }
    tally(vec![item(
        "TagUser",
        name,
        sent,
        keys.join(", "),
        "no longer exists",
    )])
}

/// Sets one access key Inactive. When `UpdateAccessKey` answers `NoSuchEntity` for the event's
/// user, the key's owner is looked up (`GetAccessKeyLastUsed` names it): a user renamed since
/// the event (`UpdateUser`) is followed and the key set Inactive there. Only a key IAM no
/// longer knows is already done.
pub async fn deactivate_access_key(iam: &Client, name: &str, key_id: &str) -> StepOutcome {
    const OP: &str = "UpdateAccessKey";
    let update = |user: String| async move {
        iam.update_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .status(StatusType::Inactive)
            .send()
            .await
            .map_err(|e| CallError::from_sdk(&e))
    };
    let e = match update(name.to_string()).await {
        Ok(_) => {
            return StepOutcome::of(StepResult::status(
                Status::Done,
                format!("{key_id} set Inactive"),
            ))
        }
        Err(e) if e.no_such_entity() => e,
        Err(e) => return failed(OP, key_id, format!("{OP} {key_id}: {e}")),
    };
    let owner = match iam
        .get_access_key_last_used()
        .access_key_id(key_id)
        .send()
        .await
    {
        Ok(out) => out
            .user_name()
            .filter(|u| !u.is_empty())
            .map(str::to_string),
        Err(le) => {
            let le = CallError::from_sdk(&le);
            if le.no_such_entity() {
                return StepOutcome::of(StepResult::status(
                    Status::AlreadyDone,
                    format!("{key_id} no longer exists"),
                ));
            }
            return failed(
                OP,
                key_id,
                format!(
                    "{OP} {key_id} as {name}: {e}; GetAccessKeyLastUsed {key_id} (its owner now?): {le}; not confirmed revoked"
                ),
            );
        }
    };
    let owner = match owner {
        Some(o) if o != name => o,
        // IAM still names the event's user, which it does not find (not caught up yet), or
        // names nobody: retry rather than call it done.
        other => {
            return failed(
                OP,
                key_id,
                format!(
                    "{OP} {key_id} as {name}: {e}; GetAccessKeyLastUsed names {} as its owner: not confirmed revoked",
                    other.as_deref().unwrap_or("no user")
                ),
            )
        }
    };
    match update(owner.clone()).await {
        Ok(_) => StepOutcome::of(StepResult::status(
            Status::Done,
            format!(
                "{key_id} set Inactive under {owner}: the user was renamed from {name} since the event"
            ),
        )),
        Err(e2) if e2.no_such_entity() => {
            missing_item_or_user(
                iam,
                OP,
                &owner,
                key_id,
                format!("{key_id} no longer exists"),
            )
            .await
        }
        Err(e2) => failed(
            OP,
            key_id,
            format!("{OP} {key_id} as {owner} (renamed from {name}): {e2}"),
        ),
    }
}

/// One credential set Inactive by `update` (the SSH public key, signing certificate or
/// service-specific credential an event made). `NoSuchEntity` is already done only when the
/// user exists; IAM offers no look-up of these by id, so a user missing under the event's name
/// (renamed, or deleted) fails the step: Lambda retries, and the alert says the credential may
/// still be in force.
async fn deactivate_one<T, E>(
    iam: &Client,
    op: &str,
    name: &str,
    id: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
) -> StepOutcome
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => StepOutcome::of(StepResult::status(
            Status::Done,
            format!("{id} set Inactive"),
        )),
        Err(e) => {
            let e = CallError::from_sdk(&e);
            if e.no_such_entity() {
                missing_item_or_user(iam, op, name, id, format!("{id} no longer exists")).await
            } else {
                tracing::warn!(op, id, error = %e, "response step failed");
                failed(op, id, format!("{op} {id}: {e}"))
            }
        }
    }
}

/// Sets one SSH public key Inactive.
pub async fn deactivate_ssh_public_key(iam: &Client, name: &str, key_id: &str) -> StepOutcome {
    let r = iam
        .update_ssh_public_key()
        .user_name(name)
        .ssh_public_key_id(key_id)
        .status(StatusType::Inactive)
        .send()
        .await;
    deactivate_one(iam, "UpdateSSHPublicKey", name, key_id, r).await
}

/// Sets one signing certificate Inactive.
pub async fn deactivate_signing_certificate(
    iam: &Client,
    name: &str,
    certificate_id: &str,
) -> StepOutcome {
    let r = iam
        .update_signing_certificate()
        .user_name(name)
        .certificate_id(certificate_id)
        .status(StatusType::Inactive)
        .send()
        .await;
    deactivate_one(iam, "UpdateSigningCertificate", name, certificate_id, r).await
}

/// Sets one service-specific credential Inactive (after a reset too: the new password stops
/// working with it).
pub async fn deactivate_service_specific_credential(
    iam: &Client,
    name: &str,
    credential_id: &str,
) -> StepOutcome {
    let r = iam
        .update_service_specific_credential()
        .user_name(name)
        .service_specific_credential_id(credential_id)
        .status(StatusType::Inactive)
        .send()
        .await;
    deactivate_one(
        iam,
        "UpdateServiceSpecificCredential",
        name,
        credential_id,
        r,
    )
    .await
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

//! Evidence: the user's state, captured before anything is changed. Credential metadata
//! only (ids, status, dates), never secrets.

use crate::iam::{all_items, date};
use aws_sdk_iam::Client;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use trailwarden::aws::{Backoff, CallError};

pub const SCHEMA: &str = "trailwarden.evidence/v1";

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    pub schema: &'static str,
    pub captured_at: String,
    pub user: UserInfo,
    pub tags: Vec<Tag>,
    /// `None`: the user has no console password (or it could not be read: see `gaps`).
    pub login_profile: Option<LoginProfile>,
    pub access_keys: Vec<AccessKey>,
    pub signing_certificates: Vec<Credential>,
    pub ssh_public_keys: Vec<Credential>,
    pub service_specific_credentials: Vec<ServiceCredential>,
    pub mfa_devices: Vec<MfaDevice>,
    pub inline_policies: Vec<InlinePolicy>,
    pub attached_policies: Vec<AttachedPolicy>,
    pub groups: Vec<Group>,
    /// Parts that could not be captured, and why.
    pub gaps: Vec<Gap>,
    /// The CloudTrail record that triggered the response (stored object only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
    /// Why the user is not approved (stored object only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UserInfo {
    pub name: String,
    pub arn: String,
    pub user_id: String,
    pub path: String,
    pub create_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_last_used: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoginProfile {
    pub create_date: String,
    pub password_reset_required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessKey {
    pub access_key_id: String,
    pub status: String,
    pub create_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_region: Option<String>,
}

impl AccessKey {
    /// A key as ListAccessKeys lists it, before its last use is looked up.
    pub fn listed(
        access_key_id: impl Into<String>,
        status: impl Into<String>,
        create_date: Option<String>,
    ) -> AccessKey {
        AccessKey {
            access_key_id: access_key_id.into(),
            status: status.into(),
            create_date,
            last_used: None,
            last_used_service: None,
            last_used_region: None,
        }
    }
}

/// A signing certificate or SSH public key (ids and status; bodies are not kept).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Credential {
    pub id: String,
    pub status: String,
    pub upload_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceCredential {
    pub id: String,
    pub service_name: String,
    pub service_user_name: String,
    pub status: String,
    pub create_date: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MfaDevice {
    pub serial_number: String,
    pub enable_date: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InlinePolicy {
    pub name: String,
    pub document: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttachedPolicy {
    pub name: String,
    pub arn: String,
    /// The default version's document for customer-managed policies (AWS-managed ones are
    /// public and only named).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub name: String,
    pub arn: String,
    pub inline_policies: Vec<InlinePolicy>,
    pub attached_policies: Vec<AttachedPolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub what: String,
    pub error: String,
}

/// Policy documents come back URL-encoded from IAM; decode and parse them, keeping the raw
/// text when they are not JSON.
pub fn decode_policy_document(raw: &str) -> Value {
    if let Ok(v) = serde_json::from_str::<Value>(raw) {
        return v;
    }
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    serde_json::from_str::<Value>(&decoded).unwrap_or_else(|_| Value::String(decoded.into_owned()))
}

fn is_aws_managed(arn: &str) -> bool {
    arn.split(':').nth(4) == Some("aws")
}

/// Where the user an event is about is now.
#[derive(Debug, Clone, PartialEq)]
pub enum Located {
    /// The user exists; `renamed_from` is set when it was found by its unique id under
    /// another name than the event's (renamed with `UpdateUser`).
    Found {
        user: Box<aws_sdk_iam::types::User>,
        renamed_from: Option<String>,
    },
    /// `NoSuchEntity` throughout the retry window, and no user with its id: the user is gone.
    Gone { waited: Duration },
    /// A user with the event's name exists but is another user (a different id), and the
    /// event's user is nowhere: it was deleted and the name reused.
    Replaced { current_id: String },
    /// A look-up failed otherwise (access denied, throttled beyond the SDK's retries, …).
    Failed(CallError),
}

/// Finds a user by its unique id (`ListUsers`, every page).
pub async fn find_by_id(
    iam: &Client,
    user_id: &str,
) -> Result<Option<aws_sdk_iam::types::User>, CallError> {
    let users = all_items!(iam.list_users()).await?;
    Ok(users.into_iter().find(|u| u.user_id() == user_id))
}

/// Finds the user an event is about: by name (retrying `NoSuchEntity` with backoff for
/// `window`, since a user created a moment ago may not be visible yet), and, when the name
/// answers `NoSuchEntity` or belongs to another user, by its unique id, so that a user
/// renamed right after `CreateUser` is still found. `user_id` (from the event) tells the
/// event's user apart; without it, `arn` does.
pub async fn locate(
    iam: &Client,
    name: &str,
    user_id: Option<&str>,
    arn: Option<&str>,
    window: Duration,
) -> Located {
    let mut backoff = Backoff::new(window);
    loop {
        match iam.get_user().user_name(name).send().await {
            Ok(out) => {
                let Some(u) = out.user else {
                    return Located::Failed(CallError::new(
                        trailwarden::aws::ErrorKind::Other,
                        "GetUser answered without a user",
                    ));
                };
                let same = match (user_id, arn) {
                    (Some(id), _) => u.user_id() == id,
                    (None, Some(arn)) => u.arn() == arn,
                    (None, None) => true,
                };
                if same {
                    return Located::Found {
                        user: Box::new(u),
                        renamed_from: None,
                    };
                }
                let current_id = u.user_id().to_string();
                let Some(id) = user_id else {
                    return Located::Replaced { current_id };
                };
                return match find_by_id(iam, id).await {
                    Ok(Some(found)) => renamed(iam, name, found).await,
                    Ok(None) => Located::Replaced { current_id },
                    Err(e) => Located::Failed(e),
                };
            }
            Err(e) => {
                let err = CallError::from_sdk(&e);
                if !err.no_such_entity() {
                    return Located::Failed(err);
                }
                if let Some(id) = user_id {
                    match find_by_id(iam, id).await {
                        Ok(Some(found)) if found.user_name() != name => {
                            return renamed(iam, name, found).await
                        }
                        // Listed under its name, or not listed yet: IAM is catching up.
                        Ok(_) => {}
                        Err(e) => return Located::Failed(e),
                    }
                }
                if !backoff.wait().await {
                    return Located::Gone {
                        waited: backoff.elapsed(),
                    };
                }
                tracing::info!(
                    user = name,
                    "GetUser: NoSuchEntity, retrying (IAM eventual consistency)"
                );
            }
        }
    }
}

/// The user found by id under a new name, read again by that name for the full record
/// (`ListUsers` leaves out tags and the permissions boundary).
async fn renamed(iam: &Client, old: &str, listed: aws_sdk_iam::types::User) -> Located {
    tracing::warn!(user = old, now = listed.user_name(), "the user was renamed");
    let user = match iam.get_user().user_name(listed.user_name()).send().await {
        Ok(out) => out.user.unwrap_or(listed),
        Err(_) => listed,
    };
    Located::Found {
        user: Box::new(user),
        renamed_from: Some(old.to_string()),
    }
}

/// Captures the state of a user that exists. A listing that fails becomes a gap; the rest
/// is still captured.
pub async fn capture(iam: &Client, user: &aws_sdk_iam::types::User) -> Evidence {
    let name = user.user_name();
    let mut ev = Evidence {
        schema: SCHEMA,
        captured_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        user: UserInfo {
            name: user.user_name().to_string(),
            arn: user.arn().to_string(),
            user_id: user.user_id().to_string(),
            path: user.path().to_string(),
            create_date: date(user.create_date()),
            password_last_used: user.password_last_used().map(date),
            permissions_boundary: user
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string),
        },
        ..Default::default()
    };

    ev.tags = listed(
        &mut ev.gaps,
        "ListUserTags",
        all_items!(iam.list_user_tags().user_name(name)),
    )
    .await
    .into_iter()
    .map(|t| Tag {
        key: t.key,
        value: t.value,
    })
    .collect();

    match iam.get_login_profile().user_name(name).send().await {
        Ok(out) => {
            ev.login_profile = out.login_profile.map(|p| LoginProfile {
                create_date: date(p.create_date()),
                password_reset_required: p.password_reset_required(),
            })
        }
        Err(e) => {
            let e = CallError::from_sdk(&e);
            if !e.no_such_entity() {
                gap(&mut ev.gaps, "GetLoginProfile", &e);
            }
        }
    }

    let keys = listed(
        &mut ev.gaps,
        "ListAccessKeys",
        all_items!(iam.list_access_keys().user_name(name)),
    )
    .await;
    for k in keys {
        let id = k.access_key_id().unwrap_or_default().to_string();
        let mut key = AccessKey::listed(
            &id,
            k.status().map(|s| s.as_str()).unwrap_or_default(),
            k.create_date().map(date),
        );
        match iam
            .get_access_key_last_used()
            .access_key_id(&id)
            .send()
            .await
        {
            Ok(out) => {
                if let Some(u) = out.access_key_last_used() {
                    key.last_used = u.last_used_date().map(date);
                    key.last_used_service =
                        Some(u.service_name().to_string()).filter(|s| !s.is_empty() && s != "N/A");
                    key.last_used_region =
                        Some(u.region().to_string()).filter(|s| !s.is_empty() && s != "N/A");
                }
            }
            Err(e) => gap(
                &mut ev.gaps,
                &format!("GetAccessKeyLastUsed {id}"),
                &CallError::from_sdk(&e),
            ),
        }
        ev.access_keys.push(key);
    }

    ev.signing_certificates = listed(
        &mut ev.gaps,
        "ListSigningCertificates",
        all_items!(iam.list_signing_certificates().user_name(name)),
    )
    .await
    .into_iter()
    .map(|c| Credential {
        id: c.certificate_id().to_string(),
        status: c.status().as_str().to_string(),
        upload_date: c.upload_date().map(date),
    })
    .collect();

    ev.ssh_public_keys = listed(
        &mut ev.gaps,
        "ListSSHPublicKeys",
        all_items!(iam.list_ssh_public_keys().user_name(name)),
    )
    .await
    .into_iter()
    .map(|k| Credential {
        id: k.ssh_public_key_id().to_string(),
        status: k.status().as_str().to_string(),
        upload_date: Some(date(k.upload_date())),
    })
    .collect();

    ev.service_specific_credentials = listed(
        &mut ev.gaps,
        "ListServiceSpecificCredentials",
        list_service_specific_credentials(iam, name),
    )
    .await
    .into_iter()
    .map(|c| ServiceCredential {
        id: c.service_specific_credential_id().to_string(),
        service_name: c.service_name().to_string(),
        service_user_name: c.service_user_name().to_string(),
        status: c.status().as_str().to_string(),
        create_date: date(c.create_date()),
    })
    .collect();

    ev.mfa_devices = listed(
        &mut ev.gaps,
        "ListMFADevices",
        all_items!(iam.list_mfa_devices().user_name(name)),
    )
    .await
    .into_iter()
    .map(|d| MfaDevice {
        serial_number: d.serial_number().to_string(),
        enable_date: date(d.enable_date()),
    })
    .collect();

    let names = listed(
        &mut ev.gaps,
        "ListUserPolicies",
        all_items!(iam.list_user_policies().user_name(name)),
    )
    .await;
    ev.inline_policies = inline_policies(&mut ev.gaps, names, |p| {
        let request = iam.get_user_policy().user_name(name).policy_name(p);
        (format!("GetUserPolicy {p}"), async move {
            let out = request.send().await.map_err(|e| CallError::from_sdk(&e))?;
            Ok(out.policy_document)
        })
    })
    .await;

    let mut documents: HashMap<String, Option<Value>> = HashMap::new();
    let policies = listed(
        &mut ev.gaps,
        "ListAttachedUserPolicies",
        all_items!(iam.list_attached_user_policies().user_name(name)),
    )
    .await;
    ev.attached_policies = attached_policies(iam, policies, &mut documents, &mut ev.gaps).await;

    let groups = listed(
        &mut ev.gaps,
        "ListGroupsForUser",
        all_items!(iam.list_groups_for_user().user_name(name)),
    )
    .await;
    for g in groups {
        let group = capture_group(iam, g.group_name(), g.arn(), &mut documents, &mut ev.gaps).await;
        ev.groups.push(group);
    }
    ev
}

fn gap(gaps: &mut Vec<Gap>, what: &str, e: &CallError) {
    gaps.push(Gap {
        what: what.to_string(),
        error: e.to_string(),
    })
}

/// What a listing found; nothing, and a gap named `what`, when it failed.
async fn listed<T>(
    gaps: &mut Vec<Gap>,
    what: &str,
    listing: impl Future<Output = Result<Vec<T>, CallError>>,
) -> Vec<T> {
    listing.await.unwrap_or_else(|e| {
        gap(gaps, what, &e);
        Vec::new()
    })
}

/// Fetches each inline policy (user or group) by name: `get` gives the gap's name and the
/// request for the document; a policy that cannot be read becomes a gap.
async fn inline_policies<Fut>(
    gaps: &mut Vec<Gap>,
    names: Vec<String>,
    mut get: impl FnMut(&str) -> (String, Fut),
) -> Vec<InlinePolicy>
where
    Fut: Future<Output = Result<String, CallError>>,
{
    let mut out = Vec::new();
    for p in names {
        let (what, request) = get(&p);
        match request.await {
            Ok(document) => out.push(InlinePolicy {
                name: p,
                document: decode_policy_document(&document),
            }),
            Err(e) => gap(gaps, &what, &e),
        }
    }
    out
}

/// Managed policies attached to a user or group, with customer-managed documents.
async fn attached_policies(
    iam: &Client,
    policies: Vec<aws_sdk_iam::types::AttachedPolicy>,
    documents: &mut HashMap<String, Option<Value>>,
    gaps: &mut Vec<Gap>,
) -> Vec<AttachedPolicy> {
    let mut out = Vec::new();
    for p in policies {
        let arn = p.policy_arn().unwrap_or_default().to_string();
        let document = managed_document(iam, &arn, documents, gaps).await;
        out.push(AttachedPolicy {
            name: p.policy_name().unwrap_or_default().to_string(),
            arn,
            document,
        });
    }
    out
}

async fn capture_group(
    iam: &Client,
    name: &str,
    arn: &str,
    documents: &mut HashMap<String, Option<Value>>,
    gaps: &mut Vec<Gap>,
) -> Group {
    let names = listed(
        gaps,
        &format!("ListGroupPolicies {name}"),
        all_items!(iam.list_group_policies().group_name(name)),
    )
    .await;
    let inline_policies = inline_policies(gaps, names, |p| {
        let request = iam.get_group_policy().group_name(name).policy_name(p);
        (format!("GetGroupPolicy {name}/{p}"), async move {
            let out = request.send().await.map_err(|e| CallError::from_sdk(&e))?;
            Ok(out.policy_document)
        })
    })
    .await;
    let policies = listed(
        gaps,
        &format!("ListAttachedGroupPolicies {name}"),
        all_items!(iam.list_attached_group_policies().group_name(name)),
    )
    .await;
    Group {
        name: name.to_string(),
        arn: arn.to_string(),
        inline_policies,
        attached_policies: attached_policies(iam, policies, documents, gaps).await,
    }
}

/// The default version's document of a customer-managed policy (cached per capture).
async fn managed_document(
    iam: &Client,
    arn: &str,
    cache: &mut HashMap<String, Option<Value>>,
    gaps: &mut Vec<Gap>,
) -> Option<Value> {
    if is_aws_managed(arn) {
        return None;
    }
    if let Some(d) = cache.get(arn) {
        return d.clone();
    }
    let doc = async {
        let policy = iam
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| ("GetPolicy", CallError::from_sdk(&e)))?;
        let version = policy
            .policy()
            .and_then(|p| p.default_version_id())
            .unwrap_or("v1")
            .to_string();
        let v = iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(&version)
            .send()
            .await
            .map_err(|e| ("GetPolicyVersion", CallError::from_sdk(&e)))?;
        Ok::<_, (&str, CallError)>(
            v.policy_version()
                .and_then(|pv| pv.document())
                .map(decode_policy_document),
        )
    }
    .await;
    let doc = match doc {
        Ok(d) => d,
        Err((step, e)) => {
            gap(gaps, &format!("{step} {arn}"), &e);
            None
        }
    };
    cache.insert(arn.to_string(), doc.clone());
    doc
}

/// `ListServiceSpecificCredentials` has no SDK paginator: follow `Marker` by hand.
pub async fn list_service_specific_credentials(
    iam: &Client,
    name: &str,
) -> Result<Vec<aws_sdk_iam::types::ServiceSpecificCredentialMetadata>, CallError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    // IAM never returns this many pages for one user; the bound only stops a broken endpoint
    // that repeats its marker from looping forever.
    for _ in 0..100 {
        let page = iam
            .list_service_specific_credentials()
            .user_name(name)
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| CallError::from_sdk(&e))?;
        out.extend(page.service_specific_credentials().iter().cloned());
        match page.marker() {
            Some(m) if page.is_truncated() && Some(m) != marker.as_deref() => {
                marker = Some(m.to_string())
            }
            _ => return Ok(out),
        }
    }
    Ok(out)
}

/// AWS-managed policies that grant administrator access or the means to take it.
pub const ADMIN_MANAGED_POLICIES: [&str; 2] = ["AdministratorAccess", "IAMFullAccess"];

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// True when a policy document allows `*` or `iam:*` on every resource.
pub fn policy_allows_admin(doc: &Value) -> bool {
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    };
    statements.into_iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && strings(s.get("Action")).iter().any(|a| {
                let a = a.to_ascii_lowercase();
                a == "*" || a == "*:*" || a == "iam:*"
            })
            && strings(s.get("Resource")).contains(&"*")
    })
}

fn attached_is_admin(p: &AttachedPolicy) -> bool {
    (is_aws_managed(&p.arn) && ADMIN_MANAGED_POLICIES.contains(&p.name.as_str()))
        || p.document.as_ref().is_some_and(policy_allows_admin)
}

impl Evidence {
    /// The credentials the user held, in words (empty when none).
    pub fn credentials(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = &self.login_profile {
            out.push(format!("console password (set {})", p.create_date));
        }
        for k in &self.access_keys {
            let used = match &k.last_used {
                Some(d) => format!(", last used {d}"),
                None => ", never used".to_string(),
            };
            out.push(format!(
                "access key {} ({}{used})",
                k.access_key_id, k.status
            ));
        }
        for c in &self.ssh_public_keys {
            out.push(format!("SSH public key {} ({})", c.id, c.status));
        }
        for c in &self.signing_certificates {
            out.push(format!("signing certificate {} ({})", c.id, c.status));
        }
        for c in &self.service_specific_credentials {
            out.push(format!(
                "service-specific credential {} for {} ({})",
                c.id, c.service_name, c.status
            ));
        }
        out
    }

    /// Where the user had administrator-level access, in words (empty when nowhere).
    pub fn admin_grants(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.inline_policies {
            if policy_allows_admin(&p.document) {
                out.push(format!("inline policy {} allows * or iam:* on *", p.name));
            }
        }
        for p in &self.attached_policies {
            if attached_is_admin(p) {
                out.push(format!("attached policy {}", p.arn));
            }
        }
        for g in &self.groups {
            for p in &g.inline_policies {
                if policy_allows_admin(&p.document) {
                    out.push(format!(
                        "group {} inline policy {} allows * or iam:* on *",
                        g.name, p.name
                    ));
                }
            }
            for p in &g.attached_policies {
                if attached_is_admin(p) {
                    out.push(format!("group {} policy {}", g.name, p.arn));
                }
            }
        }
        out
    }

    /// The evidence for the alert: without the event (the alert has it), and without policy
    /// documents when the whole would exceed `max_bytes` (the stored object keeps them).
    pub fn for_alert(&self, max_bytes: usize, stored_at: Option<&str>) -> Value {
        let mut e = self.clone();
        e.event = None;
        e.approval = None;
        let v = serde_json::to_value(&e).unwrap_or(Value::Null);
        if v.to_string().len() <= max_bytes {
            return v;
        }
        let note = Value::String(match stored_at {
            Some(uri) => format!("[omitted to bound the alert: see {uri}]"),
            None => "[omitted to bound the alert]".into(),
        });
        for p in &mut e.inline_policies {
            p.document = note.clone();
        }
        for p in &mut e.attached_policies {
            p.document = p.document.as_ref().map(|_| note.clone());
        }
        for g in &mut e.groups {
            for p in &mut g.inline_policies {
                p.document = note.clone();
            }
            for p in &mut g.attached_policies {
                p.document = p.document.as_ref().map(|_| note.clone());
            }
        }
        serde_json::to_value(&e).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn admin_documents_are_recognised() {
        let admin = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            {"Effect": "Allow", "Action": ["ec2:*", "*"], "Resource": ["*"]}]});
        assert!(policy_allows_admin(&admin));
        let iam_star =
            json!({"Statement": {"Effect": "Allow", "Action": "IAM:*", "Resource": "*"}});
        assert!(policy_allows_admin(&iam_star));
        let scoped = json!({"Statement": [{"Effect": "Allow", "Action": "*",
            "Resource": "arn:aws:s3:::bucket/*"}]});
        assert!(!policy_allows_admin(&scoped));
        let deny = json!({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]});
        assert!(!policy_allows_admin(&deny));
        assert!(!policy_allows_admin(&json!("not a policy")));
    }

    #[test]
    fn url_encoded_documents_are_decoded() {
        let raw = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            decode_policy_document(raw),
            json!({"Version": "2012-10-17", "Statement": []})
        );
        assert_eq!(decode_policy_document("{\"a\":1}"), json!({"a": 1}));
        assert_eq!(decode_policy_document("%zz"), json!("%zz"));
    }

    fn sample() -> Evidence {
        Evidence {
            schema: SCHEMA,
            user: UserInfo {
                name: "mallory".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn credentials_and_admin_grants_are_described() {
        let mut e = sample();
        assert!(e.credentials().is_empty());
        assert!(e.admin_grants().is_empty());
        e.login_profile = Some(LoginProfile {
            create_date: "2024-08-01T13:33:40Z".into(),
            password_reset_required: false,
        });
        e.access_keys
            .push(AccessKey::listed("AKIAEXAMPLE", "Active", None));
        assert_eq!(
            e.credentials(),
            [
                "console password (set 2024-08-01T13:33:40Z)",
                "access key AKIAEXAMPLE (Active, never used)"
            ]
        );
        e.groups.push(Group {
            name: "admins".into(),
            arn: "arn:aws:iam::123456789012:group/admins".into(),
            inline_policies: vec![],
            attached_policies: vec![AttachedPolicy {
                name: "AdministratorAccess".into(),
                arn: "arn:aws:iam::aws:policy/AdministratorAccess".into(),
                document: None,
            }],
        });
        // A customer policy that merely shares the name is judged by its document.
        e.attached_policies.push(AttachedPolicy {
            name: "AdministratorAccess".into(),
            arn: "arn:aws:iam::123456789012:policy/AdministratorAccess".into(),
            document: Some(
                json!({"Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]}),
            ),
        });
        assert_eq!(
            e.admin_grants(),
            ["group admins policy arn:aws:iam::aws:policy/AdministratorAccess"]
        );
    }

    #[test]
    fn alert_view_drops_documents_when_too_big() {
        let mut e = sample();
        e.event = Some(json!({"eventName": "CreateUser"}));
        e.inline_policies.push(InlinePolicy {
            name: "big".into(),
            document: json!({"Statement": [{"Sid": "x".repeat(5000)}]}),
        });
        let small = e.for_alert(100_000, None);
        assert!(small.get("event").is_none());
        assert_eq!(
            small["inline_policies"][0]["document"]["Statement"][0]["Sid"]
                .as_str()
                .unwrap()
                .len(),
            5000
        );
        let bounded = e.for_alert(1000, Some("s3://b/k.json"));
        assert_eq!(
            bounded["inline_policies"][0]["document"],
            "[omitted to bound the alert: see s3://b/k.json]"
        );
        assert_eq!(bounded["inline_policies"][0]["name"], "big");
    }
}

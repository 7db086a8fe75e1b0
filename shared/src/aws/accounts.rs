//! Acting in the account where an event happened.
//!
//! In an organization, the stack runs in a security-tooling account and events arrive from
//! every member account (forwarded by `member.yaml`). A response must act in the event's own
//! account (`recipientAccountId`): there, `member.yaml` created a responder role that only the
//! tooling account's function roles may assume. [`MemberAccess`] is that set-up as settings:
//!
//! - `HOME_ACCOUNT_ID`: the account the function runs in (the template passes
//!   `AWS::AccountId`). Events of this account are handled with the function's own
//!   credentials. Unset: every account counts as home.
//! - `MEMBER_ROLE_NAME`: the responder role's name in every member account (`member.yaml`'s
//!   `MemberRoleName`). Unset: single-account mode, every event is handled with the function's
//!   own credentials, as before organizations.
//! - `MEMBER_ROLE_EXTERNAL_ID`: the external id the role's trust policy asks for, if any.
//!
//! [`Accounts`] gives the SDK configuration to act in an account: the function's own for its
//! home account, else one whose credentials come from `sts:AssumeRole` into
//! `arn:<partition>:iam::<account>:role/<MEMBER_ROLE_NAME>` (aws-config's
//! [`AssumeRoleProvider`]), built once per account and cold start. The assumed credentials
//! are cached per account and refreshed five minutes before they expire; every client built
//! for the account shares them. [`AccountClients`] keeps one client per account and region.
//!
//! When the role cannot be assumed, [`AccountError`] says which account, which role and what
//! STS answered, and whether retrying could help: STS refusing (`AccessDenied`: the role is
//! missing, or its trust policy, an external id or an SCP does not let this function in;
//! STS cannot tell which) will refuse again, so a function reports it with
//! [`AccountError::alert`] and does not fail the invocation for it (no retry storm); a
//! time-out or an unreachable STS is worth Lambda's retry.

use crate::alert::{Alert, Severity};
use crate::config::{self, ConfigError, Env};
use crate::estate::is_account_id;
use crate::event::Record;
use aws_config::sts::AssumeRoleProvider;
use aws_config::SdkConfig;
use aws_credential_types::provider::{
    error::CredentialsError, future, ProvideCredentials, SharedCredentialsProvider,
};
use aws_credential_types::Credentials;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// `HOME_ACCOUNT_ID`.
pub const HOME_ACCOUNT_ID: &str = "HOME_ACCOUNT_ID";
/// `MEMBER_ROLE_NAME`.
pub const MEMBER_ROLE_NAME: &str = "MEMBER_ROLE_NAME";
/// `MEMBER_ROLE_EXTERNAL_ID`.
pub const MEMBER_ROLE_EXTERNAL_ID: &str = "MEMBER_ROLE_EXTERNAL_ID";

/// The detection id of the alert about a member account the function could not act in.
pub const DETECTION: &str = "member-role-unavailable";

/// Assumed credentials are refreshed this long before they expire.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// Where the responder role is and how to assume it: the settings `HOME_ACCOUNT_ID`,
/// `MEMBER_ROLE_NAME` and `MEMBER_ROLE_EXTERNAL_ID`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberAccess {
    /// The function's own account. `None`: every account is home.
    pub home_account: Option<String>,
    /// The responder role's name in member accounts. `None`: single-account mode.
    pub role_name: Option<String>,
    /// The external id the role's trust policy requires, if any.
    pub external_id: Option<String>,
}

/// IAM's role name characters (`[\w+=,.@-]`), 1-64 of them.
fn is_role_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

/// STS's external id characters (`[\w+=,.@:/-]`), 2-1224 of them.
fn is_external_id(s: &str) -> bool {
    (2..=1224).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c))
}

/// The partition of a region (`aws`, `aws-cn`, `aws-us-gov`, ...).
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("eusc-") {
        "aws-eusc"
    } else {
        "aws"
    }
}

impl MemberAccess {
    /// Reads and validates the three settings; a bad value names the variable.
    pub fn from_env(env: &dyn Env) -> Result<MemberAccess, ConfigError> {
        let home_account = config::checked(
            env,
            HOME_ACCOUNT_ID,
            is_account_id,
            "expected a 12-digit AWS account id",
        )?;
        let role_name = config::checked(
            env,
            MEMBER_ROLE_NAME,
            is_role_name,
            "expected an IAM role name (1-64 letters, digits and _+=,.@-), or empty for a single account",
        )?;
        let external_id = config::checked(
            env,
            MEMBER_ROLE_EXTERNAL_ID,
            is_external_id,
            "expected 2-1224 letters, digits and _+=,.@:/-",
        )?;
        Ok(MemberAccess {
            home_account,
            role_name,
            external_id,
        })
    }

    /// The role to assume to act in `account`, in `partition`; `None` when the function acts
    /// with its own credentials: single-account mode, no home account configured, the home
    /// account itself, or an event naming no (valid) account.
    pub fn role_for(&self, account: Option<&str>, partition: &str) -> Option<String> {
        let name = self.role_name.as_deref()?;
        let home = self.home_account.as_deref()?;
        let account = account.map(str::trim).filter(|a| is_account_id(a))?;
        (account != home).then(|| format!("arn:{partition}:iam::{account}:role/{name}"))
    }

    /// The account of an event that is neither this function's nor reachable: the home
    /// account is known, the event names another one and no responder role is configured.
    /// Acting there with the function's own credentials would act on the home account's
    /// namesakes (a user, a group id) instead, and report the real one as gone: nothing is
    /// done.
    pub fn unreachable<'a>(&self, account: Option<&'a str>) -> Option<&'a str> {
        let home = self.home_account.as_deref()?;
        let account = account.map(str::trim).filter(|a| is_account_id(a))?;
        (self.role_name.is_none() && account != home).then_some(account)
    }
}

/// The responder role of an account could not be assumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountError {
    /// The account the function had to act in.
    pub account: String,
    /// The role it tried to assume.
    pub role_arn: String,
    /// What STS (or the attempt to reach it) answered.
    pub message: String,
    /// True when STS refused (the role is missing or denies): a retry would be refused again.
    /// False when STS could not be reached or timed out: a retry may succeed.
    pub refused: bool,
}

impl AccountError {
    /// An event of `account`, which this function has no role to act in
    /// ([`MemberAccess::unreachable`]).
    pub fn no_role(account: &str) -> AccountError {
        AccountError {
            account: account.to_string(),
            role_arn: String::new(),
            message: format!(
                "no responder role is configured ({MEMBER_ROLE_NAME} is empty), so nothing is \
                 done there: deploy member.yaml in the account and set MemberRoleName"
            ),
            refused: true,
        }
    }
}

impl fmt::Display for AccountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.role_arn.is_empty() {
            write!(
                f,
                "could not act in account {}: {}",
                self.account, self.message
            )
        } else if self.refused {
            write!(
                f,
                "could not act in account {}: role {} missing or denied: {}",
                self.account, self.role_arn, self.message
            )
        } else {
            write!(
                f,
                "could not act in account {}: assuming role {} failed: {}",
                self.account, self.role_arn, self.message
            )
        }
    }
}

impl std::error::Error for AccountError {}

/// STS error codes that mean "this role will not be assumed by this caller" whatever the
/// number of attempts: the role is missing or its trust policy (or an SCP, or the external
/// id) does not allow the caller; the role ARN is malformed; STS is off in the region; the
/// caller's own credentials are invalid.
const REFUSALS: &[&str] = &[
    "AccessDenied",
    "ValidationError",
    "RegionDisabledException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "MalformedPolicyDocument",
];

/// The innermost readable message of an error chain, and the whole chain as text.
fn chain(e: &(dyn std::error::Error + 'static)) -> (String, String) {
    let mut all = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        all.push(s.to_string());
        cur = s.source();
    }
    let text = all.join(": ");
    (all.pop().unwrap_or_default(), text)
}

/// The AWS error code and message inside a rendered SDK error (`Error { code: "X",
/// message: "Y", ... }`), when there is one.
fn code_and_message(text: &str) -> Option<(String, Option<String>)> {
    let field = |name: &str| {
        let start = text.find(&format!("{name}: \""))? + name.len() + 3;
        let end = text[start..].find('"')? + start;
        Some(text[start..end].to_string())
    };
    let code = field("code")?;
    Some((code, field("message")))
}

impl AccountError {
    /// Classifies what the credentials provider answered.
    pub fn from_credentials(account: &str, role_arn: &str, e: &CredentialsError) -> AccountError {
        let (inner, text) = chain(e);
        let coded = code_and_message(&text);
        let refused = match e {
            CredentialsError::InvalidConfiguration(_) => true,
            CredentialsError::ProviderError(_) => coded
                .as_ref()
                .map(|(c, _)| c.as_str())
                .or_else(|| REFUSALS.iter().copied().find(|c| text.contains(c)))
                .is_some_and(|c| REFUSALS.iter().any(|r| c.starts_with(r))),
            _ => false,
        };
        let message = match coded {
            Some((code, Some(m))) => format!("{code}: {m}"),
            Some((code, None)) => code,
            None if inner.is_empty() => text,
            None => inner,
        };
        AccountError {
            account: account.to_string(),
            role_arn: role_arn.to_string(),
            message,
            refused,
        }
    }

    /// The high alert saying the function could not act in the account, for the event it had
    /// to act on (`function` is the function's name).
    pub fn alert(&self, function: &str, record: Option<&Record>) -> Alert {
        // The role's name keeps the subject under SNS's 100 characters; the ARN is below.
        let role_name = self.role_arn.rsplit('/').next().unwrap_or(&self.role_arn);
        let title = if self.role_arn.is_empty() {
            format!(
                "could not act in account {}: no member role configured",
                self.account
            )
        } else {
            format!(
                "could not act in account {}: role {role_name} missing or denied",
                self.account
            )
        };
        let mut a = Alert::new(Severity::High, DETECTION, title);
        if let Some(r) = record {
            a = a.about(r);
        }
        a.account = Some(self.account.clone());
        let what = record
            .map(|r| {
                format!(
                    "{} by {}",
                    r.event_name.as_deref().unwrap_or("an event"),
                    r.principal().display()
                )
            })
            .unwrap_or_else(|| "an event".to_string());
        a.summary = if self.role_arn.is_empty() {
            format!(
                "{function} had to respond to {what} in account {account}, which is not this \
                 function's account, and {message}. Nothing was changed anywhere: acting with \
                 this account's credentials would have acted on this account's namesakes. The \
                 event is not retried. Respond by hand in account {account}.",
                account = self.account,
                message = self.message,
            )
        } else if self.refused {
            format!(
                "{function} had to respond to {what} in account {account}, but STS refused to let it \
                 assume {role}: {message}. Nothing was changed in that account. The event is not \
                 retried: the same request would be refused again. Either the role is missing \
                 (deploy member.yaml to this account with CloudFormation StackSets; see the README's \
                 Organizations section), or its trust policy does not admit this function (check \
                 member.yaml's ToolingAccountId, OrganizationId, ToolingStackName and ExternalId \
                 against this stack), or a service control policy denies sts:AssumeRole. Respond \
                 by hand in the meantime.",
                account = self.account,
                role = self.role_arn,
                message = self.message,
            )
        } else {
            format!(
                "{function} had to respond to {what} in account {account}, but assuming {role} \
                 failed: {message}. Nothing was changed in that account; Lambda retries the event.",
                account = self.account,
                role = self.role_arn,
                message = self.message,
            )
        };
        a = a
            .fact("Account", self.account.clone())
            .fact("Role", self.role_arn.clone())
            .fact("Error", self.message.clone());
        a.references = vec!["README.md#organizations".to_string()];
        a
    }
}

/// Assumed-role credentials for one account, cached and refreshed before they expire.
#[derive(Debug)]
struct CachedRole {
    provider: AssumeRoleProvider,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl CachedRole {
    async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            let fresh = c
                .expiry()
                .is_none_or(|e| e > SystemTime::now() + REFRESH_BEFORE_EXPIRY);
            if fresh {
                return Ok(c.clone());
            }
        }
        let c = self.provider.provide_credentials().await?;
        *cached = Some(c.clone());
        Ok(c)
    }
}

impl ProvideCredentials for CachedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.credentials())
    }
}

/// One member account: its role and the SDK configuration acting through it.
struct Member {
    role_arn: String,
    role: Arc<CachedRole>,
    sdk: SdkConfig,
}

/// SDK configurations per account: the function's own for its home account, assumed-role
/// ones for member accounts (see the module documentation).
pub struct Accounts {
    sdk: SdkConfig,
    access: MemberAccess,
    session_name: String,
    partition: &'static str,
    members: tokio::sync::Mutex<HashMap<String, Arc<Member>>>,
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("access", &self.access)
            .field("session_name", &self.session_name)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// `function` names the role sessions (`trailwarden-<function>`), which is how the member
    /// account's own CloudTrail shows who acted.
    pub fn new(sdk: &SdkConfig, access: MemberAccess, function: &str) -> Accounts {
        let partition = partition_of(sdk.region().map(|r| r.as_ref()).unwrap_or("us-east-1"));
        let session_name: String = format!("trailwarden-{function}")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c))
            .take(64)
            .collect();
        // aws-config's loader sets a clock and a sleep; a configuration built by hand (tests,
        // tools) may not, and the role provider needs both (expiry, retry backoff).
        let mut b = sdk.to_builder();
        if sdk.time_source().is_none() {
            b.set_time_source(Some(aws_smithy_async::time::SharedTimeSource::default()));
        }
        if sdk.sleep_impl().is_none() {
            b.set_sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep());
        }
        Accounts {
            sdk: b.build(),
            access,
            session_name,
            partition,
            members: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The settings these configurations follow.
    pub fn access(&self) -> &MemberAccess {
        &self.access
    }

    /// The function's own SDK configuration (its home account).
    pub fn home(&self) -> &SdkConfig {
        &self.sdk
    }

    /// The role assumed to act in `account` (`None`: the function's own credentials).
    pub fn role_for(&self, account: Option<&str>) -> Option<String> {
        self.access.role_for(account, self.partition)
    }

    /// True when acting in `account` is not the function's own credentials' business: a
    /// member account, through its role, or one it has no role for ([`Accounts::sdk`] then
    /// says so).
    pub fn elsewhere(&self, account: Option<&str>) -> bool {
        self.role_for(account).is_some() || self.access.unreachable(account).is_some()
    }

    /// The SDK configuration to act in `account` (the event's `recipientAccountId`). For a
    /// member account the role is assumed now (or its cached credentials reused), so a role
    /// that is missing or denies is an [`AccountError`] here, before any call is made.
    pub async fn sdk(&self, account: Option<&str>) -> Result<SdkConfig, AccountError> {
        if let Some(a) = self.access.unreachable(account) {
            return Err(AccountError::no_role(a));
        }
        let Some(role_arn) = self.role_for(account) else {
            return Ok(self.sdk.clone());
        };
        let account = account.unwrap_or_default().trim().to_string();
        let member = {
            let mut members = self.members.lock().await;
            match members.get(&account) {
                Some(m) => m.clone(),
                None => {
                    let m = Arc::new(self.member(&role_arn).await);
                    members.insert(account.clone(), m.clone());
                    m
                }
            }
        };
        match member.role.credentials().await {
            Ok(_) => Ok(member.sdk.clone()),
            Err(e) => {
                let err = AccountError::from_credentials(&account, &member.role_arn, &e);
                tracing::error!(
                    account = %err.account,
                    role = %err.role_arn,
                    refused = err.refused,
                    error = %err.message,
                    "could not assume the member account's responder role"
                );
                Err(err)
            }
        }
    }

    async fn member(&self, role_arn: &str) -> Member {
        let mut builder = AssumeRoleProvider::builder(role_arn)
            .configure(&self.sdk)
            .session_name(&self.session_name);
        if let Some(x) = &self.access.external_id {
            builder = builder.external_id(x);
        }
        let role = Arc::new(CachedRole {
            provider: builder.build().await,
            cached: tokio::sync::Mutex::new(None),
        });
        let sdk = self
            .sdk
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(SharedRole(role.clone())))
            .build();
        Member {
            role_arn: role_arn.to_string(),
            role,
            sdk,
        }
    }
}

/// The per-account cache, shared between the account's SDK configuration and [`Accounts`].
#[derive(Debug)]
struct SharedRole(Arc<CachedRole>);

impl ProvideCredentials for SharedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.provide_credentials()
    }
}

/// Clients of one service by account and region, built on first use: the home account's
/// with the function's own credentials, a member account's through its responder role.
pub struct AccountClients<C> {
    accounts: Arc<Accounts>,
    make: Box<dyn Fn(&SdkConfig) -> C + Send + Sync>,
    clients: tokio::sync::Mutex<HashMap<(String, String), C>>,
}

impl<C> fmt::Debug for AccountClients<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountClients")
            .field("accounts", &self.accounts)
            .finish_non_exhaustive()
    }
}

impl<C: Clone> AccountClients<C> {
    /// `make` builds a client from a configuration (`aws_sdk_iam::Client::new`).
    pub fn new(
        accounts: Arc<Accounts>,
        make: impl Fn(&SdkConfig) -> C + Send + Sync + 'static,
    ) -> Self {
        AccountClients {
            accounts,
            make: Box::new(make),
            clients: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The accounts these clients act in.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// The accounts, to build other clients acting in them.
    pub fn shared_accounts(&self) -> Arc<Accounts> {
        Arc::clone(&self.accounts)
    }

    /// The client acting in `account` and `region` (the configuration's own region when
    /// `None` or empty). The member role's credentials are checked (and refreshed when they
    /// are about to expire) on every call.
    pub async fn get(
        &self,
        account: Option<&str>,
        region: Option<&str>,
    ) -> Result<C, AccountError> {
        let sdk = self.accounts.sdk(account).await?;
        let region = region.map(str::trim).filter(|r| !r.is_empty());
        let key = (
            self.accounts
                .role_for(account)
                .map(|_| account.unwrap_or_default().trim().to_string())
                .unwrap_or_default(),
            region.unwrap_or_default().to_string(),
        );
        let mut clients = self.clients.lock().await;
        Ok(clients
            .entry(key)
            .or_insert_with(|| match region {
                Some(r) => (self.make)(&super::with_region(&sdk, r)),
                None => (self.make)(&sdk),
            })
            .clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(home: &str, role: &str) -> MemberAccess {
        MemberAccess::from_env(&[(HOME_ACCOUNT_ID, home), (MEMBER_ROLE_NAME, role)]).unwrap()
    }

    #[test]
    fn member_accounts_get_the_role_and_home_or_unknown_accounts_do_not() {
        let a = access("123456789012", "trailwarden-responder");
        assert_eq!(
            a.role_for(Some("111122223333"), "aws").as_deref(),
            Some("arn:aws:iam::111122223333:role/trailwarden-responder")
        );
        assert_eq!(
            a.role_for(Some("111122223333"), "aws-cn").as_deref(),
            Some("arn:aws-cn:iam::111122223333:role/trailwarden-responder")
        );
        assert_eq!(a.role_for(Some("123456789012"), "aws"), None);
        assert_eq!(a.role_for(None, "aws"), None);
        assert_eq!(a.role_for(Some("unknown-account"), "aws"), None);
        // No role configured: no role to assume, and another account's event is acted on
        // nowhere (not on this account's namesakes); this account's own events as before.
        let single = access("123456789012", "");
        assert_eq!(single.role_for(Some("111122223333"), "aws"), None);
        assert_eq!(
            single.unreachable(Some("111122223333")),
            Some("111122223333")
        );
        assert_eq!(single.unreachable(Some("123456789012")), None);
        assert_eq!(single.unreachable(None), None);
        assert_eq!(a.unreachable(Some("111122223333")), None);
        assert!(AccountError::no_role("111122223333")
            .to_string()
            .starts_with("could not act in account 111122223333: no responder role is configured"));
        // No home account known: every account is acted in directly.
        assert_eq!(
            access("", "trailwarden-responder").role_for(Some("111122223333"), "aws"),
            None
        );
        assert_eq!(
            MemberAccess::default().role_for(Some("111122223333"), "aws"),
            None
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            (HOME_ACCOUNT_ID, "12345"),
            (MEMBER_ROLE_NAME, "role with spaces"),
            (MEMBER_ROLE_NAME, &"r".repeat(65)),
            (MEMBER_ROLE_EXTERNAL_ID, "x"),
            (MEMBER_ROLE_EXTERNAL_ID, "no spaces please"),
        ] {
            let e = MemberAccess::from_env(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var, "{value}");
        }
        let ok = MemberAccess::from_env(&[
            (HOME_ACCOUNT_ID, " 123456789012 "),
            (MEMBER_ROLE_NAME, "trailwarden-responder"),
            (MEMBER_ROLE_EXTERNAL_ID, "o-a1b2c3d4e5:trailwarden"),
        ])
        .unwrap();
        assert_eq!(ok.home_account.as_deref(), Some("123456789012"));
        assert_eq!(ok.external_id.as_deref(), Some("o-a1b2c3d4e5:trailwarden"));
    }

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition_of("us-east-1"), "aws");
        assert_eq!(partition_of("eu-west-1"), "aws");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
    }

    #[derive(Debug)]
    struct Wrapped(String);
    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for Wrapped {}

    #[test]
    fn sts_refusals_are_final_and_unreachable_sts_is_not() {
        let role = "arn:aws:iam::111122223333:role/trailwarden-responder";
        let denied = CredentialsError::provider_error(Wrapped(
            "service error: unhandled error (AccessDenied): Error { code: \"AccessDenied\", \
             message: \"User: arn:aws:sts::123456789012:assumed-role/x/y is not authorized to \
             perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/trailwarden-responder\", \
             aws_request_id: \"1\" }"
                .into(),
        ));
        let e = AccountError::from_credentials("111122223333", role, &denied);
        assert!(e.refused);
        assert!(
            e.message.starts_with("AccessDenied: User: arn:aws:sts::"),
            "{}",
            e.message
        );
        assert!(e.to_string().starts_with(
            "could not act in account 111122223333: role arn:aws:iam::111122223333:role/trailwarden-responder missing or denied: AccessDenied"
        ));
        let unreachable = CredentialsError::provider_error(Wrapped(
            "dispatch failure: io error: connection refused".into(),
        ));
        let e = AccountError::from_credentials("111122223333", role, &unreachable);
        assert!(!e.refused);
        assert!(e.message.contains("connection refused"));
        let throttled = CredentialsError::provider_error(Wrapped(
            "service error: Error { code: \"Throttling\", message: \"Rate exceeded\" }".into(),
        ));
        assert!(!AccountError::from_credentials("111122223333", role, &throttled).refused);
        let timed_out = CredentialsError::provider_timed_out(Duration::from_secs(5));
        assert!(!AccountError::from_credentials("111122223333", role, &timed_out).refused);
    }

    #[test]
    fn the_alert_names_the_account_the_role_and_the_error() {
        let e = AccountError {
            account: "111122223333".into(),
            role_arn: "arn:aws:iam::111122223333:role/trailwarden-responder".into(),
            message: "AccessDenied: not authorized".into(),
            refused: true,
        };
        let a = e.alert("unapproved-user", None);
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.detection, DETECTION);
        assert_eq!(a.account.as_deref(), Some("111122223333"));
        assert_eq!(
            a.title,
            "could not act in account 111122223333: role trailwarden-responder missing or denied"
        );
        assert!(a.render().subject.len() < 100);
        assert!(a.summary.contains("unapproved-user had to respond"));
        assert!(a.summary.contains(&e.role_arn));
        assert!(a.summary.contains("AccessDenied: not authorized"));
        assert!(a.summary.contains("not retried"));
        assert!(a.summary.contains("member.yaml"));
    }
}

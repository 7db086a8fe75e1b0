//! unapproved-user: when an IAM user is created by someone or something that is not approved,
//! capture its state as evidence, delete it (or quarantine it, or only notify), and tell the
//! security team. When an unapproved principal gives an existing user new credentials
//! (`CreateAccessKey`, `CreateLoginProfile`, `UpdateLoginProfile`, `UploadSSHPublicKey`,
//! `UploadSigningCertificate`, `CreateServiceSpecificCredential`,
//! `ResetServiceSpecificCredential` for another user: the same persistence without
//! `CreateUser`), alert, and optionally revoke the new credential (set the one credential the
//! event made `Inactive`, or delete the console password).
//!
//! parse ([`trailwarden::Payload`]) → gather (the approval document in S3) → decide
//! ([`decide`], pure: a [`decide::Case`] and a plan of [`decide::Step`]s) → execute
//! ([`execute`], [`remediate`], through IAM and S3, one step at a time by the shared runner)
//! → report ([`report`], pure: all wording). The dry-run plan and the live run walk
//! the same list of steps; only `CaptureEvidence`, which reads, runs in a dry run.
//!
//! # Approvals, and what they trust
//! A new user is approved when its name matches `APPROVED_USER_PATTERNS`, its path starts
//! with one of `APPROVED_PATH_PREFIXES`, or its creator matches `APPROVED_CREATOR_ARNS` (role
//! sessions by their role ARN; in role patterns `*` stops at `/`). Whoever calls
//! `CreateUser` chooses the name and the path, so **a name or path approval trusts the
//! creator's choice**: anyone allowed to create users can create an "approved" one. Set
//! `APPROVAL_REQUIRES_CREATOR=true` to approve only users made by an approved creator (and,
//! when patterns or prefixes are configured, with an approved name or path). Approved users
//! are never touched but still produce an `info` alert saying why they are approved (filter
//! it out with `MIN_SEVERITY=low`); a user approved by its name or path alone, which the caller
//! chose, gives a `low` one. Patterns that approve everyone (`*`, `?*`, `arn:*`,
//! `arn:*:*:*:*:*`, `…:role/*`) are refused at start-up, naming the variable.
//!
//! A user renamed right after `CreateUser` (`UpdateUser`) is followed by its unique id
//! (`responseElements.user.userId`). An unreadable approval document fails closed: the
//! configured lists alone decide, the configured response is carried out, and a high alert
//! names the document and the error. Credentials made for another user are judged by the
//! creator approvals only (`CREDENTIAL_RESPONSE_MODE`: `notify` by default, or `deactivate`).
//! A revocation never passes for done while the credential may still work: an access key
//! whose user was renamed since the event is found through its owner
//! (`GetAccessKeyLastUsed`); for the other kinds IAM has no look-up by id, so a user missing
//! under the event's name fails the step (Lambda retries, the alert says so). In delete mode a
//! `DeleteUser` answered `NoSuchEntity` counts as done only when no user holds the captured
//! unique id.
//!
//! # Organizations
//! An event from another account of the organization (`recipientAccountId` other than
//! `HOME_ACCOUNT_ID`) is acted on in that account, through its responder role
//! (`MEMBER_ROLE_NAME`, created by `member.yaml`); evidence and alerts stay in the tooling
//! account. When the role is missing or denies, nothing is changed there, a high
//! `member-role-unavailable` alert names the account, the role and STS's answer, and the
//! invocation does not fail for it (a retry would be refused the same way). See
//! [`trailwarden::aws::accounts`].
//!
//! Settings: see [`Config`].
#![forbid(unsafe_code)]

pub mod approval;
pub mod config;
pub mod decide;
pub mod evidence;
pub mod execute;
pub mod iam;
pub mod remediate;
pub mod report;

pub use config::{Config, CredentialMode, Mode};
pub use report::DETECTION;

use approval::Approvals;
use std::sync::Arc;
use tokio::sync::OnceCell;
use trailwarden::aws::{AccountClients, AccountError, Accounts};

/// The function's name: its crate, binary and log field.
pub const NAME: &str = "unapproved-user";

/// The function's state, built once per cold start.
pub struct UnapprovedUser {
    /// IAM in the function's own account.
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    /// IAM in member accounts, through their responder role (`None`: every account is acted
    /// in with `iam`).
    members: Option<AccountClients<aws_sdk_iam::Client>>,
    /// The approval document, read on first need (a failed read is tried again next time).
    document: OnceCell<Approvals>,
    empty: Approvals,
    /// Where the incidents its alerts stand for are recorded (`None`: nowhere).
    handoff: Option<trailwarden_state::Handoff>,
}

impl UnapprovedUser {
    /// With given clients (fault-injection tests with intercepted clients).
    pub fn with_clients(iam: aws_sdk_iam::Client, s3: aws_sdk_s3::Client) -> UnapprovedUser {
        UnapprovedUser {
            iam,
            s3,
            members: None,
            document: OnceCell::new(),
            empty: Approvals::default(),
            handoff: None,
        }
    }

    /// The same state recording, once its alerts are out, the catalog incidents they stand
    /// for (`trailwarden_state::handoff`).
    pub fn with_handoff(mut self, handoff: trailwarden_state::Handoff) -> UnapprovedUser {
        self.handoff = Some(handoff);
        self
    }

    /// The same state acting in member accounts through `accounts` (events of the home
    /// account still use the given IAM client).
    pub fn with_accounts(mut self, accounts: Arc<Accounts>) -> UnapprovedUser {
        self.members = Some(AccountClients::new(accounts, aws_sdk_iam::Client::new));
        self
    }

    /// The IAM client acting in `account`: through its responder role for a member account,
    /// else the function's own.
    pub async fn iam_in(&self, account: &str) -> Result<aws_sdk_iam::Client, AccountError> {
        match &self.members {
            Some(m) if m.accounts().elsewhere(Some(account)) => m.get(Some(account), None).await,
            _ => Ok(self.iam.clone()),
        }
    }

    /// The member accounts it acts in (`None`: only with its own credentials).
    pub fn accounts(&self) -> Option<Arc<Accounts>> {
        self.members.as_ref().map(AccountClients::shared_accounts)
    }
}

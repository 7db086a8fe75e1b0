//! `security-group`: alerts on security group changes (CIS 4.10) and revokes ingress open to
//! the whole internet on ports that should not be public.
//!
//! Triggered by `AWS API Call via CloudTrail` events from `ec2.amazonaws.com` for
//! `AuthorizeSecurityGroupIngress/Egress`, `RevokeSecurityGroupIngress/Egress`,
//! `CreateSecurityGroup`, `DeleteSecurityGroup`, `ModifySecurityGroupRules`,
//! `ModifyManagedPrefixList` and `RestoreManagedPrefixListVersion`.
//!
//! - Failed calls (`errorCode`) changed nothing: ignored. Calls by trailwarden's own roles
//!   (`OWN_ROLE_ARNS`, e.g. this function's own revocations) are ignored without an alert.
//! - **World-open** is a matter of how much of the internet a port is open to, summed over
//!   the group's rules, not whether one CIDR is `/0`. Before deciding, the function reads the
//!   group's current rules (`DescribeSecurityGroupRules`) and resolves the customer-managed
//!   prefix lists they reference (`GetManagedPrefixListEntries`; AWS-managed `com.amazonaws.*`
//!   lists hold AWS's own ranges and are never world-open). For each protocol and port, the
//!   public addresses the rules let in are added up (private and special-purpose ranges such
//!   as RFC 1918, IPv6 unique-local, link-local and multicast do not count; see
//!   [`space`]). The port is world-open when the
//!   sum reaches what a prefix one bit shorter than `WORLD_OPEN_MIN_PREFIX_IPV4` (default 8:
//!   2^25 addresses, a /7) or `WORLD_OPEN_MIN_PREFIX_IPV6` (default 16: a /15) holds. So
//!   `0.0.0.0/0`, `0.0.0.0/1` + `128.0.0.0/1`, `::/1` + `8000::/1`, two public /8s, or a prefix
//!   list holding `0.0.0.0/0` are world-open; `10.0.0.0/8` or one public /8 are not. Why these
//!   defaults: no single organisation's IPv4 network is much larger than a /8, and no IPv6
//!   allocation to an operator is larger than about a /19 (regional registries hold /12s), so
//!   a source wider than a /8 or /16 is a slice of the internet, not somebody's network.
//! - Protocol `-1` is every port. ICMP/ICMPv6 has no ports: world-open ICMP is reported (low)
//!   and never revoked. Any other protocol number open to the world is high.
//! - World-open ingress on a port outside `ALLOWED_PUBLIC_PORTS` is high, critical on
//!   `CRITICAL_PORTS` or every port. In `revoke` mode the rules that make the port world-open
//!   are revoked, so that an office `/32` on the same port stays. Which ones: when the event's
//!   rules made the port world-open (without them it was not), the event's rules, widest
//!   first, and no older rule (revoking what the event added closes the port again; pieces of
//!   a split range cannot hide behind an older, wider rule). When the port was world-open
//!   before the event, every rule that makes it so, widest first, the event's and the older
//!   ones; and when the event only added to such a port (an office `/32` next to an older
//!   `0.0.0.0/0`), the older rules are revoked and the event's stay: a port that is not
//!   allowed is not left world-open once a change touches it (private sources added do not
//!   count as touching it). Rules are revoked by rule id, falling back to the permission, in
//!   the event's own region, and only when they are still world-open when looked up: a stale
//!   or re-delivered event whose rule was narrowed or removed since is reported with what was
//!   found, and nothing is revoked. Groups in `EXEMPT_GROUP_IDS` or tagged `EXEMPT_TAG` are
//!   reported, not revoked. Egress is reported, never revoked.
//! - `ModifyManagedPrefixList` (or `RestoreManagedPrefixListVersion`, which brings back an
//!   earlier version's entries) that leaves a customer-managed list holding world-open entries
//!   is alerted on, high at least (critical with a referencing rule on a critical port): the
//!   groups of this account and region referencing it are checked, but a list shared through
//!   AWS RAM may be referenced by groups of other accounts, which are not visible from here;
//!   the alert says how many groups were checked and how to find the others. In `revoke`
//!   mode the ingress rules referencing the list that are now world-open on ports that are not
//!   allowed are revoked (the rules referencing the list are blamed first, as the event's own
//!   rules are above). The entry itself is left in the
//!   list: a prefix list may be shared with other accounts and used by route tables and
//!   firewalls, where removing an entry can break what others depend on, while the exposure
//!   this function answers for is in the security group rules. A change takes a moment to
//!   apply (the event's response shows the list `modify-in-progress` at the version it started
//!   from): a list looked up still `*-in-progress`, or at an older version than the change
//!   makes, is taken with the entries the event added (a restore: the restored version's,
//!   looked up with `TargetVersion`) and without those it removed.
//! - Every other change is a low (additions) or info (removals, creation, deletion) alert.
//!
//! - In an organization, an event from a member account (`recipientAccountId` other than
//!   `HOME_ACCOUNT_ID`) is looked up and answered in that account and region, through the
//!   account's responder role (`MEMBER_ROLE_NAME`, created by `member.yaml`). When STS refuses
//!   the role (missing, or its trust does not admit this function), the event is decided from
//!   what it says alone, nothing is revoked, a high `member-role-unavailable` alert names the
//!   account, the role and the error, and the invocation does not fail for it (a retry would be
//!   refused the same way). See [`trailwarden::aws::accounts`].
//!
//! Settings: see [`config::Config`].
#![forbid(unsafe_code)]

pub mod config;
pub mod decide;
pub mod execute;
pub mod exposure;
pub mod report;
pub mod rules;
pub mod space;

pub use config::{Config, PortSet, ResponseMode};
pub use decide::{Case, Facts, Step};
pub use report::SgStats;

use std::sync::Arc;
use trailwarden::aws::{AccountClients, AccountError, Accounts, RegionalClients};
use trailwarden::Payload;

pub const NAME: &str = "security-group";

/// The function's state: an EC2 client per region (responses act in the event's own region)
/// and, in an organization, per member account, built once per cold start.
pub struct SecurityGroup {
    ec2: RegionalClients<aws_sdk_ec2::Client>,
    members: AccountClients<aws_sdk_ec2::Client>,
    /// Where the incidents its alerts stand for are recorded.
    handoff: Option<trailwarden_state::Handoff>,
}

/// What executing the plan learnt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// The event's account could not be acted in: its responder role could not be assumed.
    pub unreachable: Option<AccountError>,
}

impl SecurityGroup {
    /// With the SDK configuration the clients are built from.
    pub fn new(sdk: &aws_config::SdkConfig, config: &Config) -> SecurityGroup {
        let accounts = Arc::new(Accounts::new(sdk, config.member_access.clone(), NAME));
        SecurityGroup {
            ec2: RegionalClients::new(sdk, aws_sdk_ec2::Client::new),
            members: AccountClients::new(accounts, aws_sdk_ec2::Client::new),
            handoff: Some(trailwarden_state::Handoff::from_settings(
                NAME,
                sdk,
                &config.state,
            )),
        }
    }

    /// The EC2 client for a region (the SDK's own region when the event names none), in the
    /// function's own account.
    pub fn ec2(&self, region: Option<&str>) -> aws_sdk_ec2::Client {
        self.ec2.get(region)
    }

    /// The EC2 client for the event's account and region: through the account's responder
    /// role for a member account, else the function's own.
    pub async fn ec2_in(
        &self,
        account: Option<&str>,
        region: Option<&str>,
    ) -> Result<aws_sdk_ec2::Client, AccountError> {
        if self.members.accounts().elsewhere(account) {
            self.members.get(account, region).await
        } else {
            Ok(self.ec2(region))
        }
    }

    /// The account the event belongs to (`recipientAccountId`, else the caller's).
    fn account_of(payload: &Payload) -> Option<String> {
        payload.record()?.account_id().map(str::to_string)
    }

    fn region_of(payload: &Payload) -> Option<String> {
        let record = payload.record()?;
        record.aws_region.clone().or_else(|| match payload {
            Payload::CloudTrail(e) => e.region.clone(),
            _ => None,
        })
    }
}

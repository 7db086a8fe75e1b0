//! root-activity: alert on every use of the root user, and on centralized root access.
//!
//! Triggered by console sign-ins (`AWS Console Sign In via CloudTrail`) and API calls (`AWS API
//! Call via CloudTrail`) whose `userIdentity.type` is `Root`, and by `sts:AssumeRoot` calls (a
//! management-account principal taking a root task session in a member account). Records that
//! are AWS acting on the account (`userIdentity.invokedBy`, `eventType` `AwsServiceEvent`) are
//! ignored, as CIS 4.3 does. Root task sessions obtained with `sts:AssumeRoot` (the
//! `assumedRoot` marker) are reported as what they are, not as someone holding the root
//! password ([`centralized`]).
//!
//! The four steps: [`decide`] classifies the record into a typed [`Case`] (kind of root use,
//! severity, reasons, source network); the plan has no steps, since nothing is changed in the
//! account ([`execute`]); [`report`] words the alert; the shared runner publishes it (also in
//! dry run, marked as such).
//!
//! Configuration (environment, read once at cold start, [`config`]):
//! - `KNOWN_SOURCE_CIDRS`: comma-separated IPv4/IPv6 CIDR blocks (or single addresses) people
//!   are expected to use root from. A match lowers the severity one step and says so; it never
//!   suppresses the alert. Default: none.
//! - the common settings (`DRY_RUN`, `ALERT_TOPIC_ARN`, `MIN_SEVERITY`, `ACCOUNT_ALIAS`,
//!   `OWN_ROLE_ARNS`) from [`trailwarden::config::Common`].
#![forbid(unsafe_code)]

pub mod centralized;
pub mod config;
pub mod decide;
pub mod execute;
pub mod network;
pub mod report;

pub use config::{Config, KNOWN_SOURCE_CIDRS};
pub use decide::{Case, CredentialAction, Kind, Reason, Step};

pub const NAME: &str = "root-activity";

/// root-activity: it acts through no SDK client (the runner publishes the alert); its state is
/// the hand-off of the catalog's root-use incidents.
#[derive(Debug, Clone, Default)]
pub struct RootActivity {
    /// Where the incidents its alerts stand for are recorded (`None`: nowhere).
    pub handoff: Option<trailwarden_state::Handoff>,
}

//! Where trailwarden's alerts go: every alert is rendered once and delivered, by routing, to
//! each configured destination:
//!
//! | type | what | module |
//! |---|---|---|
//! | `sns` | the alert topic (e-mail and any SNS subscriber), as without routing | [`deliver`] |
//! | `chatbot` | Slack and Microsoft Teams through AWS Chatbot custom notifications | [`chatbot`] |
//! | `securityhub` | a Security Hub finding (ASFF) per incident, updated on re-delivery | [`asff`], [`securityhub`] |
//! | `pagerduty` | PagerDuty Events v2, deduplicated per incident | [`pagerduty`] |
//! | `webhook` | an HTTPS POST signed with HMAC-SHA256 | [`webhook`] |
//!
//! Settings ([`config`]): `ALERT_DESTINATIONS` (the destinations, a JSON array) and
//! `ALERT_ROUTING` (routing overrides by destination name); per destination a minimum
//! severity and optional detection and account filters ([`route`]). Secrets (the PagerDuty
//! routing key, the webhook signing secret) stay in Secrets Manager ([`secrets`]).
//!
//! The router ([`Router`]) implements [`trailwarden::respond::AlertRouter`], the one trait
//! the shared runner knows: only the Lambda binary and the CLI build this crate and its SDK
//! clients. One failing destination never blocks the others; each answer is a delivery
//! record; only the alert topic's failure fails the run (so Lambda retries). What a retry
//! re-sends, and how each destination deduplicates it, is in [`deliver`].
#![forbid(unsafe_code)]

pub mod asff;
pub mod chatbot;
pub mod config;
pub mod deliver;
pub mod http;
pub mod identity;
pub mod pagerduty;
pub mod route;
pub mod sample;
pub mod secrets;
pub mod securityhub;
pub mod webhook;

pub use config::{Destination, Kind, Route, Settings, DESTINATIONS_VAR, ROUTING_VAR};
pub use deliver::{Described, Router};

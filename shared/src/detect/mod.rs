//! Detections as data, and the engine that runs them over CloudTrail records.
//!
//! A detection is an id, a title, a severity, a description, references (CIS AWS Foundations
//! v1.4 control, MITRE ATT&CK techniques), a [`Pattern`](crate::pattern::Pattern) over one CloudTrail record (what is
//! `detail` in an EventBridge event) and optionally a threshold (so many matches within a time
//! window, per group). The built-in catalog is `shared/detections/<family>.json`, compiled into
//! the binary; users add or override detections by id with their own file in the same format
//! (`{"detections": [...]}`), and turn a built-in off with `{"id": "...", "enabled": false}`.
//!
//! Each detection may carry `examples` (`match` / `no_match` records); they are checked when the
//! catalog is loaded, so a user's detection that does not do what its author meant fails the
//! cold start with its id and the example that went wrong.
//!
//! [`scan`] runs a catalog over log files; [`Catalog::matching`] over one record.
//!
//! Modules: [`catalog`] (loading and merging catalogs, matching one record), [`detection`]
//! (one detection, its validation), [`scan`] (the log-file scanner; inside it, `aggregate`:
//! what matched records leave in a finding, and `threshold`: grouped counts in a window),
//! [`finding`] (aggregated results and their alerts), [`sigma`] (Sigma rules converted to
//! detections; inside it, `detection`, `condition`, `selection`, `values` and `emit`, one
//! step of the conversion each); the index the engine uses, the projection of fields it
//! parses (`project`) and the counters a scan aggregates matches into (`tally`) are private.

pub use catalog::{valid_role_arn, Catalog};
pub use detection::{
    BuiltinOptions, CatalogError, Detection, ExampleSet, Examples, References, Threshold, BUILT_IN,
    RESPONDERS,
};
pub use finding::{Counted, Finding, ThresholdGroup, ThresholdResult};
pub use scan::{scan_reader, FileSummary, RecordProblem, ScanError, ScanReport, Scanner};

/// The built-in catalog, as shipped: one file per family (`shared/detections/<family>.json`),
/// so a family can be turned off as a whole.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    ("cis", include_str!("../../detections/cis.json")),
    ("identity", include_str!("../../detections/identity.json")),
    (
        "credentials",
        include_str!("../../detections/credentials.json"),
    ),
    ("evasion", include_str!("../../detections/evasion.json")),
    ("exposure", include_str!("../../detections/exposure.json")),
    ("execution", include_str!("../../detections/execution.json")),
    ("discovery", include_str!("../../detections/discovery.json")),
    ("data", include_str!("../../detections/data.json")),
];

/// The family of detections from a user's file that does not name one.
pub const CUSTOM_FAMILY: &str = "custom";

/// The id of the CIS 4.2 detection, which [`BuiltinOptions::exclude_federated_signin`] narrows.
pub const CIS_4_2_ID: &str = "cis-4.2-console-signin-without-mfa";

pub mod catalog;
pub mod detection;
pub mod finding;
mod index;
pub mod mitre;
mod project;
pub mod scan;
pub mod settings;
pub mod sigma;
mod tally;

#[cfg(test)]
mod tests;

//! The functions the CLI runs: the same registry the Lambda binary uses.

pub use trailwarden_functions::{AnyService, Function, Ran};

//! The AWS side of root-activity: there is none beyond publishing the alert, which the runner
//! does. Its plan has no steps ([`Step`] has no values), so nothing is ever executed.

use crate::config::Config;
use crate::decide::Step;
use crate::RootActivity;
use trailwarden::respond::{InitError, StepResult};

/// Builds the state: root-activity needs no SDK client of its own.
pub fn init(config: Config) -> Result<RootActivity, InitError> {
    Ok(RootActivity { config })
}

/// Carries out one step. There are no steps: this can never be called with one.
pub async fn execute_step(step: &Step) -> StepResult {
    match *step {}
}

//! The AWS side of root-activity: there is none beyond publishing the alert, which the runner
//! does. Its plan has no steps ([`Step`] has no values), so nothing is ever executed.

use crate::config::Config;
use crate::decide::{Case, Step};
use crate::RootActivity;
use trailwarden::respond::{InitError, Responder, StepResult};

impl Responder for RootActivity {
    const NAME: &'static str = crate::NAME;

    /// Builds the state: root-activity needs no SDK client of its own.
    async fn init(_sdk: &aws_config::SdkConfig, _config: &mut Config) -> Result<Self, InitError> {
        Ok(RootActivity)
    }

    /// Carries out one step. There are no steps: this can never be called with one.
    async fn execute_step(&self, _: &Config, _: &Case, step: &Step, _: &mut ()) -> StepResult {
        match *step {}
    }
}

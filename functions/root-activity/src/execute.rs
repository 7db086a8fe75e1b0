//! The AWS side of root-activity: there is none beyond publishing the alert, which the runner
//! does. Its plan has no steps ([`Step`] has no values), so nothing is ever executed.

use crate::config::Config;
use crate::decide::Step;
use crate::RootActivity;
use trailwarden::respond::{InitError, Job, Responder, StepResult};
use trailwarden_state::Handoff;

impl Responder for RootActivity {
    const NAME: &'static str = crate::NAME;

    /// Builds the state: root-activity needs no SDK client of its own, only the hand-off.
    async fn init(sdk: &aws_config::SdkConfig, config: &mut Config) -> Result<Self, InitError> {
        Ok(RootActivity {
            handoff: Some(Handoff::from_settings(crate::NAME, sdk, &config.state)),
        })
    }

    /// Carries out one step. There are no steps: this can never be called with one.
    async fn execute_step(&self, step: &Step, _: Job<'_, Self>) -> StepResult {
        match *step {}
    }
    // Once the alert is out: records the hand-off, so the log scan does not alert again.
    trailwarden_state::handoff_after_publish!();
}

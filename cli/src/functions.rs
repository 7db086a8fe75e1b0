//! One entry point over every function crate: the same `plan` (dry-run) and `run` (live)
//! that Lambda uses.

use anyhow::{anyhow, Result};
use trailwarden::config::Env;
use trailwarden::outcome::RunError;
use trailwarden::{Outcome, Payload};

/// A trailwarden function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    UnapprovedUser,
    RootActivity,
    SecurityGroup,
    LogDelivery,
    LogIntegrity,
}

impl Function {
    pub const ALL: [Function; 5] = [
        Function::UnapprovedUser,
        Function::RootActivity,
        Function::SecurityGroup,
        Function::LogDelivery,
        Function::LogIntegrity,
    ];

    /// The function's name: its crate, its binary and its `BuildProperties.Binary`.
    pub fn name(self) -> &'static str {
        match self {
            Function::UnapprovedUser => unapproved_user::NAME,
            Function::RootActivity => root_activity::NAME,
            Function::SecurityGroup => security_group::NAME,
            Function::LogDelivery => log_delivery::NAME,
            Function::LogIntegrity => log_integrity::NAME,
        }
    }

    pub fn by_name(name: &str) -> Result<Function> {
        Function::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Function::ALL.iter().map(|f| f.name()).collect();
                anyhow!(
                    "no function named {name:?}; the functions are: {}",
                    names.join(", ")
                )
            })
    }

    /// Reads the function's configuration (the same variables Lambda sets) and decides what
    /// it would do, without any AWS call.
    pub fn plan(self, env: &dyn Env, payload: &Payload) -> Result<Outcome> {
        Ok(match self {
            Function::UnapprovedUser => {
                unapproved_user::plan(&unapproved_user::Config::from_env(env)?, payload)
            }
            Function::RootActivity => {
                root_activity::plan(&root_activity::Config::from_env(env)?, payload)
            }
            Function::SecurityGroup => {
                security_group::plan(&security_group::Config::from_env(env)?, payload)
            }
            Function::LogDelivery => {
                log_delivery::plan(&log_delivery::Config::from_env(env)?, payload)
            }
            Function::LogIntegrity => {
                log_integrity::plan(&log_integrity::Config::from_env(env)?, payload)
            }
        })
    }

    /// Runs the function for real against the AWS endpoint `sdk` points to.
    pub async fn run(
        self,
        sdk: &aws_config::SdkConfig,
        env: &dyn Env,
        payload: &Payload,
    ) -> Result<std::result::Result<Outcome, RunError>> {
        Ok(match self {
            Function::UnapprovedUser => {
                let s = unapproved_user::State::new(sdk, unapproved_user::Config::from_env(env)?);
                unapproved_user::run(&s, payload).await
            }
            Function::RootActivity => {
                let s = root_activity::State::new(sdk, root_activity::Config::from_env(env)?);
                root_activity::run(&s, payload).await
            }
            Function::SecurityGroup => {
                let s = security_group::State::new(sdk, security_group::Config::from_env(env)?);
                security_group::run(&s, payload).await
            }
            Function::LogDelivery => {
                let s = log_delivery::State::new(sdk, log_delivery::Config::from_env(env)?);
                log_delivery::run(&s, payload).await
            }
            Function::LogIntegrity => {
                let s = log_integrity::State::new(sdk, log_integrity::Config::from_env(env)?);
                log_integrity::run(&s, payload).await
            }
        })
    }
}

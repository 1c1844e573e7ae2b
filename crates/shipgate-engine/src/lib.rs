//! The deployment engine of shipgate.
//!
//! Today: the planner. [`plan`] is a pure function from the app's spec, the environment's
//! current state and the target release to the list of steps a deployment takes. The executor
//! (issue 5) will run exactly these steps, recording each before and after, so a plan shown by
//! `shipgate plan` is the plan `shipgate deploy` executes (its [`Plan::digest`] is recorded).

#![forbid(unsafe_code)]

pub mod plan;

pub use plan::{EnvironmentState, Plan, PlanError, Release, Step, plan};

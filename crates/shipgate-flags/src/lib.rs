//! Feature flags: flagd-compatible definitions, their per-environment settings, evaluation and
//! the shapes of the OpenFeature Remote Evaluation Protocol (OFREP).
//!
//! A flag is declared in `shipgate.toml` the way flagd declares one (variants, a default
//! variant, optional JsonLogic `targeting`). At run time an environment may hold a
//! [`Setting`] for it: a forced variant, a percentage rollout of one variant, or a kill.
//! [`FlagSet::evaluate`] combines the two for one evaluation context.
//!
//! JsonLogic is evaluated by `datalogic-rs` with its `flagd` feature, which carries flagd's
//! own `fractional` (murmur3 x86_32 of `flagKey + targetingKey`, flagd's integer bucket
//! distribution) and `sem_ver` operators; `starts_with` and `ends_with` are added here
//! (`operators.rs`), as flagd's providers do.
//!
//! The crate does no I/O and reads no clock: the evaluation time arrives as an argument.

#![forbid(unsafe_code)]

mod definition;
mod evaluate;
pub mod ofrep;
mod operators;
mod setting;

pub use definition::{DefinitionError, Flag, FlagSet, ValueKind};
pub use evaluate::{ErrorCode, EvaluationError, Reason, Resolution};
pub use setting::{PercentError, Setting, format_percent, parse_percent};

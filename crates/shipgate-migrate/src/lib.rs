//! Database migrations for shipgate.
//!
//! - [`layout`]: the `expand/` and `contract/` folders of `NNNN_name.up.sql` files, read into a
//!   [`MigrationSet`] (pure over the file list; [`layout::load_dir`] is the I/O edge).
//! - [`lint`]: squawk's parser and rules, plus shipgate's own rules that see the whole migration
//!   history (pure).
//! - [`apply`]: running migrations on PostgreSQL with a checksummed history, an advisory lock and
//!   timeouts.
//! - [`command`]: another framework's migration command, run as the expand step and rehearsed.
//! - [`rehearse`]: the pending migrations on a copy of the real database, measured (durations,
//!   locks, rewrites), then down and up again.

#![forbid(unsafe_code)]

pub mod apply;
pub mod command;
pub mod finding;
pub mod layout;
pub mod lint;
pub mod rehearse;
mod schema;

pub use finding::{Finding, Severity};
pub use layout::{Migration, MigrationSet, Phase};

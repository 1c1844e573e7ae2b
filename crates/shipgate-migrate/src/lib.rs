//! Database migrations for shipgate.
//!
//! - [`layout`]: the `expand/` and `contract/` folders of `NNNN_name.up.sql` files, read into a
//!   [`MigrationSet`] (pure over the file list; [`layout::load_dir`] is the I/O edge).
//! - [`lint`]: squawk's parser and rules, plus shipgate's own rules that see the whole migration
//!   history (pure).

#![forbid(unsafe_code)]

pub mod finding;
pub mod layout;
pub mod lint;
mod schema;

pub use finding::{Finding, Severity};
pub use layout::{Migration, MigrationSet, Phase};

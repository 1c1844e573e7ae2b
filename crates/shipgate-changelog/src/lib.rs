//! Change log entries from git commits.
//!
//! [`parse`] reads a commit message as a conventional commit (`feat(api)!: …`, with
//! `BREAKING CHANGE:` footers) when it is one; [`Entry::new`] groups a release's commits;
//! [`Entry::render`] writes the Markdown; [`insert`] puts an entry at the top of a
//! `CHANGELOG.md`, replacing the entry of the same version instead of adding a second one.
//! All of that is pure. [`git`] is the edge that runs `git log`.

#![forbid(unsafe_code)]

mod commit;
mod entry;
pub mod git;
mod markdown;

pub use commit::{Commit, Parsed, parse};
pub use entry::{Entry, GROUPS, Group};
pub use markdown::{TITLE, insert};

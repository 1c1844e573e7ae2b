//! Every environment variable shipgate reads, declared once with its meaning.

/// When set to anything but the empty string, no colour is used (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";

/// The `shipgate.toml` to use when `--file` is not given.
pub const SHIPGATE_FILE: &str = "SHIPGATE_FILE";

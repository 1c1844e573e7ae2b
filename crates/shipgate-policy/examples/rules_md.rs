//! Prints RULES.md, the catalog's documentation:
//! `cargo run -q -p shipgate-policy --example rules_md > crates/shipgate-policy/RULES.md`.

#![allow(clippy::print_stdout)]

fn main() {
    print!("{}", shipgate_policy::rules_markdown());
}

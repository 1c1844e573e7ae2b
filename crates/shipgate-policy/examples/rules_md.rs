//! Prints RULES.md, the catalog's documentation, or with `table` the catalog table that
//! README.md holds between its `<!-- catalog -->` markers:
//! `cargo run -q -p shipgate-policy --example rules_md > crates/shipgate-policy/RULES.md`.

#![allow(clippy::print_stdout)]

fn main() {
    if std::env::args().nth(1).as_deref() == Some("table") {
        print!("{}", shipgate_policy::catalog_table());
    } else {
        print!("{}", shipgate_policy::rules_markdown());
    }
}

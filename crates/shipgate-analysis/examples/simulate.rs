//! `cargo run --release -p shipgate-analysis --example simulate -- [RUNS] [SEED] [FILTER]`: the
//! standard scenarios (those whose name contains FILTER), judged by shipgate and by a
//! Flagger-like fixed-interval rule, as the Markdown table `shipgate analysis simulate` prints.

#![allow(clippy::print_stdout)]

use shipgate_analysis::simulate::{render_table, simulate, standard_scenarios};

fn main() {
    let mut args = std::env::args().skip(1);
    let runs = args.next().and_then(|text| text.parse().ok()).unwrap_or(1000);
    let seed = args.next().and_then(|text| text.parse().ok()).unwrap_or(1);
    let filter = args.next().unwrap_or_default();
    let mut reports = Vec::new();
    for scenario in standard_scenarios().into_iter().filter(|scenario| scenario.name.contains(&filter)) {
        let started = std::time::Instant::now();
        reports.push(simulate(&scenario, runs, seed));
        eprintln!("{}: {:.1} s", scenario.name, started.elapsed().as_secs_f64());
    }
    print!("{}", render_table(&reports));
}

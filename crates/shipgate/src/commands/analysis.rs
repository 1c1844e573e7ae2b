//! `shipgate analysis simulate`: shipgate's canary judge against a fixed-interval rule on
//! synthetic traffic (glue over `shipgate-analysis`).

use clap::{Args, Subcommand};

use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct AnalysisArgs {
    #[command(subcommand)]
    pub command: AnalysisCommand,
}

#[derive(Debug, Subcommand)]
pub enum AnalysisCommand {
    /// Monte Carlo: detection time and false alarms of shipgate's judge and of a Flagger-like
    /// rule (60 s interval, threshold 5) on the same synthetic canaries.
    ///
    /// Binomial errors and log-normal latencies for the canary and the stable version, at the
    /// request rates and hold lengths of each standard scenario (a 1% → 5% error regression, an
    /// identical canary, a doubled p99, a low-traffic canary, …). Prints one table row per
    /// scenario and rule: runs failed, passed, inconclusive, median and p95 detection time (in
    /// seconds and requests).
    Simulate {
        /// Runs per scenario.
        #[arg(long, default_value_t = 1000)]
        runs: u32,
        /// Seed of the random numbers: the same seed gives the same table.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

pub fn run(args: AnalysisArgs, out: &Output) -> Result<ExitStatus, Failure> {
    match args.command {
        AnalysisCommand::Simulate { runs, seed } => {
            let reports: Vec<_> = shipgate_analysis::simulate::standard_scenarios()
                .iter()
                .map(|scenario| shipgate_analysis::simulate(scenario, runs.max(1), seed))
                .collect();
            out.data(&shipgate_analysis::simulate::render_table(&reports))?;
            Ok(ExitStatus::Success)
        }
    }
}

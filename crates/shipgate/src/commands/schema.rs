//! `shipgate schema`.

use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

pub fn run(out: &Output) -> Result<ExitStatus, Failure> {
    let schema = serde_json::to_string_pretty(&shipgate_spec::json_schema()).map_err(Failure::internal)?;
    out.data(&format!("{schema}\n"))?;
    Ok(ExitStatus::Success)
}

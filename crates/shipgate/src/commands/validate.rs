//! `shipgate validate`.

use std::io::Read;
use std::path::Path;

use anyhow::Context;

use crate::cli::{Format, ValidateArgs};
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;
use crate::render;

pub fn run(args: &ValidateArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let bytes = read_spec(&args.file)?;
    let display_path = args.file.display().to_string();
    match shipgate_spec::parse(&bytes).and_then(|spec| super::flags::check_targeting(&bytes, spec)) {
        Ok(spec) if !shipgate_policy::unknown_policy_keys(&spec.policy).is_empty() => {
            unknown_rules(&display_path, &bytes, &spec, args.format, out)
        }
        Ok(spec) => {
            match args.format {
                Format::Json => out.data("[]\n")?,
                Format::Human => {
                    let environments: Vec<String> = spec.environments.keys().map(|name| format!("`{name}`")).collect();
                    out.data(&format!(
                        "`{display_path}` is valid: app `{}`, environments {}\n",
                        spec.app.name,
                        environments.join(", ")
                    ))?;
                }
            }
            Ok(ExitStatus::Success)
        }
        Err(report) => {
            match args.format {
                Format::Json => out.data(&format!("{}\n", render::json(&display_path, &report)))?,
                Format::Human => out.message(&render::human(&display_path, &report, out.color())),
            }
            Ok(ExitStatus::Usage)
        }
    }
}

/// `[policy]` names rules by id or name; one the catalog does not know is a typo that would
/// silently change nothing, so it is an error like any other in the file.
fn unknown_rules(
    path: &str,
    bytes: &[u8],
    spec: &shipgate_spec::Spec,
    format: Format,
    out: &Output,
) -> Result<ExitStatus, Failure> {
    let text = String::from_utf8_lossy(bytes);
    let problems: Vec<(usize, String)> = shipgate_policy::unknown_policy_keys(&spec.policy)
        .into_iter()
        .map(|key| {
            // The key's line: the first line of the file that starts with it.
            let line = text
                .lines()
                .position(|line| {
                    let line = line.trim_start().trim_start_matches('"');
                    line.starts_with(key) && line[key.len()..].trim_start().trim_start_matches('"').starts_with('=')
                })
                .map_or(1, |index| index + 1);
            (line, key.to_owned())
        })
        .collect();
    let hint = "`shipgate rules` lists every rule with its id (`SG0201`) and name (`staging-first`)";
    match format {
        Format::Json => {
            let items: Vec<serde_json::Value> = problems
                .iter()
                .map(|(line, key)| {
                    serde_json::json!({"file": path, "line": line, "column": 1, "end_line": line, "end_column": 1,
                                       "code": "unknown-rule", "message": format!("`[policy]` names no rule `{key}`"), "hint": hint})
                })
                .collect();
            out.data(&format!("{}\n", serde_json::Value::Array(items)))?;
        }
        Format::Human => {
            for (line, key) in &problems {
                out.message(&format!("error[unknown-rule]: `[policy]` names no rule `{key}`\n  --> {path}:{line}:1\n   = hint: {hint}\n\n"));
            }
            out.message(&format!("error: `{path}` is not valid: {} problem(s)\n", problems.len()));
        }
    }
    Ok(ExitStatus::Usage)
}

/// Reads at most one byte more than a spec may have, so a wrong path to a huge file fails
/// fast instead of filling memory.
pub fn read_spec(path: &Path) -> Result<Vec<u8>, Failure> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display())).map_err(|error| {
            let hint = if path.file_name().is_some_and(|name| name == shipgate_spec::FILE_NAME) {
                "run `shipgate init` to write one, or pass `--file PATH`"
            } else {
                "check the path given to `--file`"
            };
            Failure::usage(error).hint(hint)
        })?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(shipgate_spec::MAX_SPEC_BYTES).unwrap_or(u64::MAX) + 1;
    file.take(limit)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read `{}`", path.display()))
        .map_err(Failure::usage)?;
    Ok(bytes)
}

/// A valid `shipgate.toml`, with its text and the folder its relative paths start from.
pub struct LoadedSpec {
    pub text: String,
    pub spec: shipgate_spec::Spec,
    pub folder: std::path::PathBuf,
}

/// Reads and parses the spec for commands that need a valid one; problems send the user to
/// `shipgate validate`, which shows them all.
pub fn load_spec(path: &Path) -> Result<LoadedSpec, Failure> {
    let bytes = read_spec(path)?;
    let parsed = shipgate_spec::parse(&bytes).and_then(|spec| super::flags::check_targeting(&bytes, spec));
    let spec = parsed.map_err(|report| {
        Failure::usage(anyhow::anyhow!("`{}` is not valid ({} problems)", path.display(), report.diagnostics.len()))
            .hint(format!("run `shipgate validate --file {}` to see them", path.display()))
    })?;
    // `shipgate.toml` has the parent `""`, which is no folder to run a command in.
    let folder = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .map_or_else(|| std::path::PathBuf::from("."), Path::to_path_buf);
    Ok(LoadedSpec { text: String::from_utf8_lossy(&bytes).into_owned(), spec, folder })
}

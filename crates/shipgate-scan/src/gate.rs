//! What the release gate calls: the scan of a release's source at its commit and of its
//! artifact. Every finding it returns is a deny finding of the catalog's secrets rule.

use std::path::Path;

use crate::{Error, Report, Scanner};

/// What a release is made of, as far as secrets go.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseInputs<'a> {
    /// The repository the release was built from.
    pub repo: &'a Path,
    /// The release's source commit (any revision git understands).
    pub commit: &'a str,
    /// The artifact: a file, an archive, an image layout or a directory.
    pub artifact: Option<&'a Path>,
}

/// Scans the source tree at `inputs.commit` (as committed, `.gitignore` aside) and the
/// artifact, and returns every finding; an empty report means the gate passes.
pub fn scan_release(scanner: &Scanner, inputs: &ReleaseInputs<'_>) -> Result<Report, Error> {
    let mut report = scanner.scan_git_tree(inputs.repo, inputs.commit)?;
    if let Some(artifact) = inputs.artifact {
        report.merge(scanner.scan_artifact(artifact)?);
    }
    Ok(report)
}

//! SG01xx: the artifact and the release (digest, labels, test evidence, scanning).

use shipgate_spec::ArtifactSource;

use super::{Context, count, short};
use crate::catalog::{
    ARTIFACT_NOT_CONTENT_ADDRESSED, IMAGE_TAG_WITHOUT_DIGEST, MIGRATION_NOT_REHEARSED, MISSING_TEST_EVIDENCE,
    MUTABLE_ARTIFACT, MUTABLE_VERSION_LABEL, NO_VULNERABILITY_SCAN, TESTS_FAILED, TESTS_INCOMPLETE,
    VERSION_LABEL_REUSED, VULNERABLE_DEPENDENCY,
};
use crate::catalog::{SECRET_IN_ARTIFACT, SECRET_IN_SOURCE};
use crate::finding::{Finding, Severity};
use crate::image::parse_image_reference;

/// Words that name whatever was built or pushed last, not one build.
const MUTABLE_WORDS: [&str; 13] = [
    "latest", "stable", "current", "main", "master", "head", "edge", "nightly", "dev", "develop", "trunk", "snapshot",
    "unstable",
];

/// Whether a tag or version label is a moving name (case-insensitive; also `*-SNAPSHOT`).
pub(crate) fn is_mutable_label(label: &str) -> bool {
    let lower = label.trim().to_ascii_lowercase();
    MUTABLE_WORDS.contains(&lower.as_str()) || lower.ends_with("-snapshot")
}

/// SG0101, SG0102: `[artifact] image` must be pinned by digest.
pub(super) fn image_reference(context: &Context<'_>, out: &mut Vec<Finding>) {
    let ArtifactSource::Image(text) = &context.facts.spec.artifact.source else { return };
    let subject = || context.at(&["artifact", "image"]);
    let pin_hint = |name: &str| {
        format!(
            "pin the image by digest: `{name}@sha256:<digest>`; `docker buildx imagetools inspect {name}` prints the digest"
        )
    };
    let reference = match parse_image_reference(text) {
        Ok(reference) => reference,
        Err(error) => {
            if let Some(severity) = context.severity(&MUTABLE_ARTIFACT) {
                out.push(Finding::new(
                    &MUTABLE_ARTIFACT,
                    severity,
                    format!("`[artifact] image`: {error}"),
                    "write the image as `registry/repository@sha256:<digest>`, e.g. `ghcr.io/acme/hello@sha256:<digest>`",
                    subject(),
                ));
            }
            return;
        }
    };
    if reference.is_pinned() {
        return;
    }
    match &reference.tag {
        None => {
            if let Some(severity) = context.severity(&MUTABLE_ARTIFACT) {
                out.push(Finding::new(
                    &MUTABLE_ARTIFACT,
                    severity,
                    format!(
                        "image `{text}` names neither a tag nor a digest, so it is unpinned: it pulls whatever `latest` is at the time"
                    ),
                    pin_hint(text),
                    subject(),
                ));
            }
        }
        Some(tag) if is_mutable_label(tag) => {
            if let Some(severity) = context.severity(&MUTABLE_ARTIFACT) {
                let name = &text[..text.len().saturating_sub(tag.len() + 1)];
                out.push(Finding::new(
                    &MUTABLE_ARTIFACT,
                    severity,
                    format!("image `{text}` uses the mutable tag `{tag}`, which names whatever was pushed last"),
                    pin_hint(name),
                    subject(),
                ));
            }
        }
        Some(tag) => {
            if let Some(severity) = context.severity(&IMAGE_TAG_WITHOUT_DIGEST) {
                out.push(Finding::new(
                    &IMAGE_TAG_WITHOUT_DIGEST,
                    severity,
                    format!(
                        "image `{text}` is pinned by the tag `{tag}` only; a tag can be pushed again with other content"
                    ),
                    format!(
                        "add the digest: `{text}@sha256:<digest>`; `docker buildx imagetools inspect {text}` prints it"
                    ),
                    subject(),
                ));
            }
        }
    }
}

/// SG0103: the release's digest is a sha256.
pub(super) fn artifact_digest(context: &Context<'_>, out: &mut Vec<Finding>) {
    let digest = &context.facts.release.digest;
    let well_formed = digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    if well_formed {
        return;
    }
    let Some(severity) = context.severity(&ARTIFACT_NOT_CONTENT_ADDRESSED) else { return };
    let shown = if digest.is_empty() { "no digest".to_owned() } else { format!("the digest `{}`", short(digest)) };
    out.push(Finding::new(
        &ARTIFACT_NOT_CONTENT_ADDRESSED,
        severity,
        format!("release `{}` has {shown}, not `sha256:` followed by 64 lowercase hex digits", context.version()),
        "create the release again with `shipgate release create`, which digests the artifact",
        context.at(&["artifact"]),
    ));
}

/// SG0104: the version label names one build.
pub(super) fn version_label(context: &Context<'_>, out: &mut Vec<Finding>) {
    let label = context.version();
    let message = if label.trim().is_empty() {
        "the release's version label is empty".to_owned()
    } else if is_mutable_label(label) {
        format!("release version label `{label}` is a moving name, not the name of one build")
    } else {
        return;
    };
    let Some(severity) = context.severity(&MUTABLE_VERSION_LABEL) else { return };
    out.push(Finding::new(
        &MUTABLE_VERSION_LABEL,
        severity,
        message,
        "create the release with a label that names one build, e.g. `--version 1.4.2` or `--version \"$(git rev-parse --short HEAD)\"`",
        context.at(&["artifact"]),
    ));
}

/// SG0105: a version label always means the same artifact and configuration.
pub(super) fn version_label_reused(context: &Context<'_>, out: &mut Vec<Finding>) {
    let release = &context.facts.release;
    if release.version.trim().is_empty() {
        return;
    }
    let Some(other) = context.facts.history.iter().find(|deployment| {
        deployment.version == release.version
            && (deployment.digest != release.digest || deployment.config_digest != release.config_digest)
    }) else {
        return;
    };
    let Some(severity) = context.severity(&VERSION_LABEL_REUSED) else { return };
    let what = if other.digest != release.digest {
        format!("artifact `{}`; this release is `{}`", short(&other.digest), short(&release.digest))
    } else {
        format!(
            "configuration `{}`; this release has configuration `{}`",
            short(&other.config_digest),
            short(&release.config_digest)
        )
    };
    out.push(Finding::new(
        &VERSION_LABEL_REUSED,
        severity,
        format!("version label `{}` was deployed to `{}` with {what}", release.version, other.environment),
        "give every build its own version label: create this one as a new release with a new label",
        context.at(&["artifact"]),
    ));
}

/// SG0501: the migration set shipped with the release was rehearsed, and passed.
pub(super) fn migration_rehearsal(context: &Context<'_>, out: &mut Vec<Finding>) {
    if context.facts.spec.migrations.is_none() {
        return;
    }
    let Some(severity) = context.severity(&MIGRATION_NOT_REHEARSED) else { return };
    let version = context.version();
    let message = match &context.facts.release.migrations {
        None => format!("release `{version}` carries no migration set to check"),
        Some(evidence) => match evidence.rehearsal_passed {
            Some(true) => return,
            Some(false) => format!(
                "the rehearsal of release `{version}`'s migrations (set `{}`) failed",
                short(&evidence.set_digest)
            ),
            None => {
                format!("release `{version}`'s migrations (set `{}`) were never rehearsed", short(&evidence.set_digest))
            }
        },
    };
    out.push(Finding::new(
        &MIGRATION_NOT_REHEARSED,
        severity,
        message,
        "run `shipgate migrate rehearse` against a copy of production data, then create the release again from that folder so the evidence travels with it",
        context.at(&["migrations"]),
    ));
}

/// SG0601, SG0602: the secret scan recorded with the release found nothing, in the source or in
/// the artifact. Findings name rule, file and line; never the secret.
pub(super) fn secret_scan(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(scan) = &context.facts.release.secret_scan else { return };
    let version = context.version();
    for (rule, found, place, hint) in [
        (
            &SECRET_IN_SOURCE,
            &scan.source,
            scan.scanned.as_str(),
            "rotate the credential where it was issued, remove it from the code (and the git history), declare it under `[secrets]`, and create a new release",
        ),
        (
            &SECRET_IN_ARTIFACT,
            &scan.artifact,
            "the artifact",
            "rotate the credential, rebuild the artifact without it, pass it at run time as a declared secret, and create a new release",
        ),
    ] {
        if found.is_empty() {
            continue;
        }
        let Some(severity) = context.severity(rule) else { continue };
        let mut named: Vec<String> = found
            .iter()
            .take(3)
            .map(|secret| format!("`{}` at {}:{} ({})", secret.rule, secret.path, secret.line, secret.redacted))
            .collect();
        if found.len() > 3 {
            named.push(format!("and {} more", found.len() - 3));
        }
        out.push(Finding::new(
            rule,
            severity,
            format!(
                "the secret scan of release `{version}` found {} in {place}: {}",
                count(found.len() as u64, "secret"),
                named.join(", ")
            ),
            hint,
            context.at(&["scan"]),
        ));
    }
}

/// SG0106, SG0107, SG0108: test evidence exists, passed, and is complete.
pub(super) fn test_evidence(context: &Context<'_>, out: &mut Vec<Finding>) {
    let subject = || context.at(&["pipeline", "test"]);
    let version = context.version();
    let Some(evidence) = &context.facts.release.test_evidence else {
        if let Some(severity) = context.severity(&MISSING_TEST_EVIDENCE) {
            out.push(Finding::new(
                &MISSING_TEST_EVIDENCE,
                severity,
                format!("release `{version}` carries no test evidence"),
                "declare the test commands in `[pipeline] test` and create the release through the pipeline, so their exit status and JUnit summary are recorded with it",
                subject(),
            ));
        }
        return;
    };

    let mut failed = Vec::new();
    if evidence.exit_code != 0 {
        let command = evidence.command.join(" ");
        failed.push(if command.is_empty() {
            format!("the tests exited with status {}", evidence.exit_code)
        } else {
            format!("`{command}` exited with status {}", evidence.exit_code)
        });
    }
    if let Some(junit) = &evidence.junit
        && (junit.failures > 0 || junit.errors > 0)
    {
        failed.push(format!(
            "the JUnit reports count {} and {} in {}",
            count(junit.failures, "failure"),
            count(junit.errors, "error"),
            count(junit.tests, "test")
        ));
    }
    if !failed.is_empty()
        && let Some(severity) = context.severity(&TESTS_FAILED)
    {
        out.push(Finding::new(
            &TESTS_FAILED,
            severity,
            format!("the tests of release `{version}` failed: {}", failed.join("; ")),
            "fix the code or the tests and create a new release",
            subject(),
        ));
    }

    let (mut gaps, mut hints) = (Vec::new(), Vec::new());
    match &evidence.junit {
        None => {
            gaps.push("it has no JUnit summary, only an exit status".to_owned());
            hints.push(
                "set `[pipeline] junit` to the JUnit XML files the tests write, e.g. `junit = \"target/junit/*.xml\"`",
            );
        }
        Some(junit) => {
            if junit.tests == 0 {
                gaps.push("the JUnit reports count no tests".to_owned());
                hints.push("check that the test command runs the tests: a filter or a wrong folder can select none");
            }
            if junit.skipped > 0 {
                gaps.push(format!("{} of {} were skipped", junit.skipped, count(junit.tests, "test")));
                hints.push("un-skip or delete the skipped tests: skipped tests are untested code");
            }
        }
    }
    if !gaps.is_empty()
        && let Some(severity) = context.severity(&TESTS_INCOMPLETE)
    {
        out.push(Finding::new(
            &TESTS_INCOMPLETE,
            severity,
            format!("the test evidence of release `{version}` is incomplete: {}", gaps.join("; ")),
            hints.join("; "),
            subject(),
        ));
    }
}

/// SG0110: what the scanners reported for the release: `error` results at the rule's
/// severity (deny in production), `warning` results as a warn finding.
pub(super) fn vulnerable_dependency(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(found) = &context.facts.release.scanner_findings else { return };
    let Some(severity) = context.severity(&VULNERABLE_DEPENDENCY) else { return };
    let version = context.version();
    for (level, severity) in [("error", severity), ("warning", Severity::Warn)] {
        let results: Vec<_> = found.iter().filter(|finding| finding.level == level).collect();
        if results.is_empty() {
            continue;
        }
        let mut named: Vec<String> = results
            .iter()
            .take(3)
            .map(|finding| {
                let at = finding.location.as_deref().map(|at| format!(" at {at}")).unwrap_or_default();
                format!("{} `{}`{at}: {}", finding.tool, finding.rule, finding.message)
            })
            .collect();
        if results.len() > 3 {
            named.push(format!("and {} more", results.len() - 3));
        }
        out.push(Finding::new(
            &VULNERABLE_DEPENDENCY,
            severity,
            format!(
                "the scanners reported {} of level `{level}` for release `{version}`: {}",
                count(results.len() as u64, "result"),
                named.join("; ")
            ),
            "upgrade the dependency or base image and create a new release; if a result does not apply, override with the reason",
            context.at(&["pipeline", "scan"]),
        ));
    }
}

/// SG0109: production releases go through a vulnerability scanner.
pub(super) fn vulnerability_scan(context: &Context<'_>, out: &mut Vec<Finding>) {
    if !context.facts.spec.pipeline.scan.is_empty() {
        return;
    }
    let Some(severity) = context.severity(&NO_VULNERABILITY_SCAN) else { return };
    out.push(Finding::new(
        &NO_VULNERABILITY_SCAN,
        severity,
        "no vulnerability scanner is declared in `[pipeline] scan`, so nothing checks the release's dependencies and image for known vulnerabilities",
        "declare a scanner that writes SARIF under `[pipeline]`, e.g. `scan = [\"trivy fs --format sarif .\"]`",
        context.at(&["pipeline", "scan"]),
    ));
}

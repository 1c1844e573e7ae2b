//! One table for every implemented rule: each case changes a set of facts that passes every
//! rule, and states the exact findings (rule, severity, message, hint) that `evaluate` must
//! return; an empty list is a quiet case.

use std::collections::BTreeSet;

use crate::facts::SignatureCheck;
use crate::facts::{
    DeploymentFact, DesiredState, Facts, ForeignListener, JunitSummary, MigrationEvidence, ObservedInstance,
    ObservedState, ReleaseFacts, Residency, SecretFinding, SecretScan, SecretsFacts, StoredSecret, TestEvidence,
};
use crate::finding::Finding;
use crate::finding::Severity::{self, Deny, Warn};
use crate::{catalog, evaluate};

const SPEC: &str = r#"[app]
name = "hello"

[artifact]
path = "target/release/hello"

[run]
command = ["./hello", "--port", "${PORT}"]
health = { http = "/healthz" }

[pipeline]
test = ["cargo test"]
junit = "target/junit/*.xml"
scan = ["trivy fs --format sarif ."]

[environments.staging]
listen = "127.0.0.1:8080"
smoke = [ { http = "/" } ]

[environments.production]
listen = "0.0.0.0:80"
replicas = 3
requires = ["staging"]
strategy = { canary = [ { weight = 10, hold = "1m" }, { weight = 50, hold = "2m" } ] }
analysis = { error_rate_max = 0.01 }
bake = "10m"
smoke = [ { http = "/", expect = 200 } ]
"#;

const PINNED: &str =
    "image = \"registry.example.com/hello@sha256:3f1c2a8b9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f90\"";
const PINNED_LATEST: &str =
    "image = \"hello:latest@sha256:3f1c2a8b9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f90\"";
const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";
const OTHER_DIGEST: &str = "sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
const CONFIG: &str = "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff";
const OTHER_CONFIG: &str = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";

fn deployment(environment: &str, version: &str, digest: &str, config: &str, status: &str) -> DeploymentFact {
    DeploymentFact {
        environment: environment.to_owned(),
        version: version.to_owned(),
        digest: digest.to_owned(),
        config_digest: config.to_owned(),
        status: status.to_owned(),
        rolled_back_later: false,
    }
}

fn instance(id: &str, version: &str, state: &str) -> ObservedInstance {
    ObservedInstance { id: id.to_owned(), version: version.to_owned(), state: state.to_owned() }
}

/// Production as it should be: three healthy instances of `1.4.1`, all traffic on it.
fn observed() -> ObservedState {
    ObservedState {
        instances: vec![
            instance("a", "1.4.1", "healthy"),
            instance("b", "1.4.1", "healthy"),
            instance("c", "1.4.1", "healthy"),
        ],
        weights: vec![("1.4.1".to_owned(), 100.0)],
        foreign_listeners: Vec::new(),
        desired: DesiredState {
            active_version: Some("1.4.1".to_owned()),
            replicas: 3,
            deploying_version: None,
            warm_versions: Vec::new(),
        },
    }
}

fn facts(environment: &str, spec_text: &str) -> Facts {
    let spec = shipgate_spec::parse_str(spec_text).unwrap_or_else(|report| panic!("{:#?}", report.diagnostics));
    Facts {
        environment: environment.to_owned(),
        spec,
        spec_text: spec_text.to_owned(),
        spec_path: String::new(),
        release: ReleaseFacts {
            version: "1.4.2".to_owned(),
            digest: DIGEST.to_owned(),
            kind: "file".to_owned(),
            source_commit: Some("0123abc".to_owned()),
            config_digest: CONFIG.to_owned(),
            test_evidence: Some(TestEvidence {
                exit_code: 0,
                junit: Some(JunitSummary { tests: 120, failures: 0, errors: 0, skipped: 0 }),
                command: vec!["cargo".to_owned(), "test".to_owned()],
            }),
            migrations: None,
            secret_scan: Some(SecretScan {
                scanned: "commit 0123abc".into(),
                source: Vec::new(),
                artifact: Vec::new(),
            }),
            signature: Some(SignatureCheck::Verified { key_id: "D8E83DBC56DC68E5".to_owned() }),
            scanner_findings: None,
        },
        history: vec![deployment("staging", "1.4.2", DIGEST, CONFIG, "succeeded")],
        now: "2026-03-03T10:00:00Z".parse().unwrap(),
        actor: "user:alice".to_owned(),
        observed: None,
        residency: None,
        secrets: None,
        flags: None,
    }
}

/// `[secrets]` with a stored value, a missing one, one with a rotation period and a command.
const SECRETS: &[(&str, &str)] = &[(
    "[environments.staging]",
    "[secrets]\nDB = { max_age = \"90d\" }\nAPI_KEY = {}\nVAULT = { command = \"op read op://x/y\" }\n\n[environments.staging]",
)];

fn stored(version: u64, set_at: &str) -> StoredSecret {
    StoredSecret { version, set_at: set_at.parse().unwrap(), actor: "admin".into() }
}

struct Case {
    name: &'static str,
    environment: &'static str,
    /// `(from, to)` replacements in [`SPEC`].
    spec: &'static [(&'static str, &'static str)],
    change: fn(&mut Facts),
    /// `(rule, severity, message, hint)`, in `evaluate`'s order.
    expected: Vec<(&'static str, Severity, String, String)>,
}

fn case(
    name: &'static str,
    environment: &'static str,
    spec: &'static [(&'static str, &'static str)],
    change: fn(&mut Facts),
    expected: &[(&'static str, Severity, &str, &str)],
) -> Case {
    Case {
        name,
        environment,
        spec,
        change,
        expected: expected
            .iter()
            .map(|(rule, severity, message, hint)| (*rule, *severity, (*message).to_owned(), (*hint).to_owned()))
            .collect(),
    }
}

fn no_change(_: &mut Facts) {}

const SCANNER_HINT: &str = "upgrade the dependency or base image and create a new release; if a result does not apply, override with the reason";

fn scanner_finding(level: &str, rule: &str, location: Option<&str>) -> crate::facts::ScannerFinding {
    crate::facts::ScannerFinding {
        tool: "trivy".to_owned(),
        rule: rule.to_owned(),
        level: level.to_owned(),
        message: "xz backdoor".to_owned(),
        location: location.map(str::to_owned),
    }
}

const PIN_HINT_REGISTRY: &str = "pin the image by digest: `registry.example.com/hello@sha256:<digest>`; `docker buildx imagetools inspect registry.example.com/hello` prints the digest";
const TEST_HINT: &str = "declare the test commands in `[pipeline] test` and create the release through the pipeline, so their exit status and JUnit summary are recorded with it";
const STAGING_HINT: &str = "deploy it to `staging` first (`shipgate deploy staging 1.4.2`), then to `production`";
const CONFIG_HINT: &str = "deploy a release with this shipgate.toml to `staging` first: configuration changes pass the required environments like code";
const STRATEGY_HINT: &str = "use a canary, e.g. `strategy = { canary = [ { weight = 5, hold = \"1m\" }, { weight = 50, hold = \"5m\" } ] }`, or `strategy = { blue_green = {} }`";
const HEALTH_MESSAGE: &str =
    "`[run]` declares no `health` check, so shipgate cannot tell an instance that started from one that works";
const HEALTH_HINT: &str =
    "add a probe to `[run]`, e.g. `health = { http = \"/healthz\" }` (or `tcp = true`, or `exec = [\"…\"]`)";
const UNKNOWN_HINT: &str = "find out who started them and stop them; if that version is meant to run, deploy it through shipgate (`shipgate deploy production VERSION`)";
const TRAFFIC_HINT: &str = "only a deployment changes traffic weights: find out what changed the agent's routing, then put all traffic back on `1.4.1` through shipgate";
const REPLICAS_HINT: &str = "see `shipgate status production` and the instances' logs for why they are not healthy; the agent restarts crashed instances by itself";
const RESIDENCY_HINT: &str = "run `production` in a region every data class allows, or extend the allowed regions if the data may legally live in `us-east-1`";

const REHEARSE_HINT: &str = "run `shipgate migrate rehearse` against a copy of production data, then create the release again from that folder so the evidence travels with it";

/// An edit of [`SPEC`] that freezes Tuesdays (the facts' `now` is a Tuesday).
const FREEZE: &[(&str, &str)] = &[(
    "[environments.staging]",
    "[windows]\ntimezone = \"Europe/Berlin\"\nfreeze = [ { days = [\"tue\"], reason = \"no deploys on Tuesdays\" } ]\n\n[environments.staging]",
)];

/// Edits of [`SPEC`] that declare migrations.
const MIGRATIONS: &[(&str, &str)] = &[(
    "[environments.staging]",
    "[secrets]\nDATABASE_URL = {}\n\n[migrations]\ndatabase = \"DATABASE_URL\"\n\n[environments.staging]",
)];

const RISKY_HINT: &str = "put the change behind a flag that starts off, e.g. `[flags.new-checkout]` with `variants = { on = true, off = false }` and `default = \"off\"`, then turn it on after the deployment with `shipgate flags set production new-checkout --rollout 5%`";
const FLAG_OFF: &str =
    "[flags.new-checkout]\nvariants = { on = true, off = false }\ndefault = \"off\"\n\n[environments.staging]";
const FLAG_ON: &str =
    "[flags.new-checkout]\nvariants = { on = true, off = false }\ndefault = \"on\"\n\n[environments.staging]";

/// Production's run-time setting of `new-checkout`, for SG0306.
fn flag_settings(setting: shipgate_flags::Setting) -> crate::FlagFacts {
    crate::FlagFacts {
        risky: false,
        settings: std::collections::BTreeMap::from([("new-checkout".to_owned(), setting)]),
    }
}

/// The line an image replaces in [`SPEC`].
const PATH: &str = "path = \"target/release/hello\"";

fn residency(facts: &mut Facts, classes: &[&str], allowed: &[(&str, &[&str])]) {
    facts.residency = Some(Residency {
        data_classes: classes.iter().map(|class| (*class).to_owned()).collect(),
        allowed_regions: allowed
            .iter()
            .map(|(class, regions)| ((*class).to_owned(), regions.iter().map(|region| (*region).to_owned()).collect()))
            .collect(),
    });
}

fn cases() -> Vec<Case> {
    vec![
        // --- the baseline ---------------------------------------------------------------------
        case("a good release to production is quiet", "production", &[], no_change, &[]),
        case("a good release to staging is quiet", "staging", &[], no_change, &[]),
        // --- SG0101 mutable-artifact -------------------------------------------------------------
        case(
            "SG0101: the latest tag",
            "production",
            &[(PATH, "image = \"registry.example.com/hello:latest\"")],
            no_change,
            &[(
                "SG0101",
                Deny,
                "image `registry.example.com/hello:latest` uses the mutable tag `latest`, which names whatever was pushed last",
                PIN_HINT_REGISTRY,
            )],
        ),
        case(
            "SG0101: a mutable tag in any case, in staging too",
            "staging",
            &[(PATH, "image = \"registry.example.com/hello:Stable\"")],
            no_change,
            &[(
                "SG0101",
                Deny,
                "image `registry.example.com/hello:Stable` uses the mutable tag `Stable`, which names whatever was pushed last",
                PIN_HINT_REGISTRY,
            )],
        ),
        case(
            "SG0101: a registry port is not a tag: unpinned",
            "production",
            &[(PATH, "image = \"registry:5000/app\"")],
            no_change,
            &[(
                "SG0101",
                Deny,
                "image `registry:5000/app` names neither a tag nor a digest, so it is unpinned: it pulls whatever `latest` is at the time",
                "pin the image by digest: `registry:5000/app@sha256:<digest>`; `docker buildx imagetools inspect registry:5000/app` prints the digest",
            )],
        ),
        case(
            "SG0101: not an image reference",
            "production",
            &[(PATH, "image = \"Hello:1\"")],
            no_change,
            &[(
                "SG0101",
                Deny,
                "`[artifact] image`: `Hello:1` is not a valid image reference: repository `Hello` has uppercase letters; repositories are lowercase",
                "write the image as `registry/repository@sha256:<digest>`, e.g. `ghcr.io/acme/hello@sha256:<digest>`",
            )],
        ),
        case("SG0101 quiet: pinned by digest", "production", &[(PATH, PINNED)], no_change, &[]),
        case("SG0101 quiet: a digest wins over the latest tag", "production", &[(PATH, PINNED_LATEST)], no_change, &[]),
        // --- SG0102 image-tag-without-digest ---------------------------------------------------------
        case(
            "SG0102: a version tag without digest, in production",
            "production",
            &[(PATH, "image = \"ghcr.io/acme/hello:1.4.2\"")],
            no_change,
            &[(
                "SG0102",
                Deny,
                "image `ghcr.io/acme/hello:1.4.2` is pinned by the tag `1.4.2` only; a tag can be pushed again with other content",
                "add the digest: `ghcr.io/acme/hello:1.4.2@sha256:<digest>`; `docker buildx imagetools inspect ghcr.io/acme/hello:1.4.2` prints it",
            )],
        ),
        case(
            "SG0102: a version tag without digest, in staging, warns",
            "staging",
            &[(PATH, "image = \"app:1.2\"")],
            no_change,
            &[(
                "SG0102",
                Warn,
                "image `app:1.2` is pinned by the tag `1.2` only; a tag can be pushed again with other content",
                "add the digest: `app:1.2@sha256:<digest>`; `docker buildx imagetools inspect app:1.2` prints it",
            )],
        ),
        // --- SG0103 artifact-not-content-addressed --------------------------------------------------
        case(
            "SG0103: an uppercase digest",
            "production",
            &[],
            |f| {
                f.release.digest = "sha256:ABC".to_owned();
                f.history[0].digest = "sha256:ABC".to_owned();
            },
            &[(
                "SG0103",
                Deny,
                "release `1.4.2` has the digest `sha256:ABC`, not `sha256:` followed by 64 lowercase hex digits",
                "create the release again with `shipgate release create`, which digests the artifact",
            )],
        ),
        case(
            "SG0103: no digest",
            "staging",
            &[],
            |f| {
                f.release.digest = String::new();
                f.history[0].digest = String::new();
            },
            &[(
                "SG0103",
                Deny,
                "release `1.4.2` has no digest, not `sha256:` followed by 64 lowercase hex digits",
                "create the release again with `shipgate release create`, which digests the artifact",
            )],
        ),
        // --- SG0104 mutable-version-label ---------------------------------------------------------
        case(
            "SG0104: latest as a version label",
            "production",
            &[],
            |f| f.release.version = "Latest".to_owned(),
            &[(
                "SG0104",
                Deny,
                "release version label `Latest` is a moving name, not the name of one build",
                "create the release with a label that names one build, e.g. `--version 1.4.2` or `--version \"$(git rev-parse --short HEAD)\"`",
            )],
        ),
        case(
            "SG0104: a Maven snapshot",
            "staging",
            &[],
            |f| f.release.version = "1.0-SNAPSHOT".to_owned(),
            &[(
                "SG0104",
                Deny,
                "release version label `1.0-SNAPSHOT` is a moving name, not the name of one build",
                "create the release with a label that names one build, e.g. `--version 1.4.2` or `--version \"$(git rev-parse --short HEAD)\"`",
            )],
        ),
        case(
            "SG0104: an empty label",
            "staging",
            &[],
            |f| f.release.version = "  ".to_owned(),
            &[(
                "SG0104",
                Deny,
                "the release's version label is empty",
                "create the release with a label that names one build, e.g. `--version 1.4.2` or `--version \"$(git rev-parse --short HEAD)\"`",
            )],
        ),
        case(
            "SG0104 quiet: a pre-release and a word inside a label",
            "staging",
            &[],
            |f| f.release.version = "main-2024.06.1-rc.1".to_owned(),
            &[],
        ),
        // --- SG0105 version-label-reused -----------------------------------------------------------
        case(
            "SG0105: the label ran before as another artifact",
            "staging",
            &[],
            |f| f.history.insert(0, deployment("qa", "1.4.2", OTHER_DIGEST, CONFIG, "succeeded")),
            &[(
                "SG0105",
                Deny,
                "version label `1.4.2` was deployed to `qa` with artifact `sha256:cdcdcdcdcdcd…`; this release is `sha256:abababababab…`",
                "give every build its own version label: create this one as a new release with a new label",
            )],
        ),
        case(
            "SG0105: the label ran before with another configuration",
            "staging",
            &[],
            |f| f.history.push(deployment("qa", "1.4.2", DIGEST, OTHER_CONFIG, "failed")),
            &[(
                "SG0105",
                Deny,
                "version label `1.4.2` was deployed to `qa` with configuration `c1c1c1c1c1c1…`; this release has configuration `c0ffeec0ffee…`",
                "give every build its own version label: create this one as a new release with a new label",
            )],
        ),
        case(
            "SG0105 quiet: the same release in another environment",
            "production",
            &[],
            |f| f.history.push(deployment("qa", "1.4.2", DIGEST, CONFIG, "succeeded")),
            &[],
        ),
        // --- SG0601 secret-in-source, SG0602 secret-in-artifact ------------------------------------
        case(
            "SG0601/SG0602: secrets in the source and the artifact, even in staging",
            "staging",
            &[],
            |f| {
                let secret = |path: &str, line| SecretFinding {
                    rule: "github-pat".into(),
                    path: path.into(),
                    line,
                    redacted: "ghp_********".into(),
                };
                f.release.secret_scan = Some(SecretScan {
                    scanned: "commit 0123abc".into(),
                    source: vec![
                        secret("src/a.rs", 3),
                        secret("src/b.rs", 4),
                        secret("src/c.rs", 5),
                        secret("src/d.rs", 6),
                    ],
                    artifact: vec![secret(".env", 1)],
                });
            },
            &[
                (
                    "SG0601",
                    Deny,
                    "the secret scan of release `1.4.2` found 4 secrets in commit 0123abc: `github-pat` at src/a.rs:3 (ghp_********), `github-pat` at src/b.rs:4 (ghp_********), `github-pat` at src/c.rs:5 (ghp_********), and 1 more",
                    "rotate the credential where it was issued, remove it from the code (and the git history), declare it under `[secrets]`, and create a new release",
                ),
                (
                    "SG0602",
                    Deny,
                    "the secret scan of release `1.4.2` found 1 secret in the artifact: `github-pat` at .env:1 (ghp_********)",
                    "rotate the credential, rebuild the artifact without it, pass it at run time as a declared secret, and create a new release",
                ),
            ],
        ),
        case("SG0601: no scan recorded stays quiet", "production", &[], |f| f.release.secret_scan = None, &[]),
        // --- SG0603 secret-not-set, SG0604 secret-age, SG0605 secret-in-spec -------------------------
        case(
            "SG0603/SG0604: a missing secret and an old one; a command source needs no stored value",
            "production",
            SECRETS,
            |f| {
                let stored = [("DB".to_owned(), stored(3, "2025-11-01T10:00:00Z"))].into_iter().collect();
                f.secrets = Some(SecretsFacts { stored, spec_literals: Vec::new() });
            },
            &[
                (
                    "SG0603",
                    Deny,
                    "the secret `API_KEY` has no value in `production`; instances would start without it",
                    "`shipgate secrets set production API_KEY` (the value is read from standard input or a prompt)",
                ),
                (
                    "SG0604",
                    Warn,
                    "the secret `DB` of `production` was set 122 days ago (version 3, by admin); its `max_age` is 90d",
                    "`shipgate secrets rotate production DB`: a new value, then a rolling restart",
                ),
            ],
        ),
        case(
            "SG0603/SG0604: every secret set, none too old, stays quiet",
            "staging",
            SECRETS,
            |f| {
                let stored = [
                    ("DB".to_owned(), stored(1, "2026-02-01T10:00:00Z")),
                    ("API_KEY".to_owned(), stored(1, "2020-01-01T00:00:00Z")),
                ]
                .into_iter()
                .collect();
                f.secrets = Some(SecretsFacts { stored, spec_literals: Vec::new() });
            },
            &[],
        ),
        case("SG0603: secrets not gathered stay quiet", "production", SECRETS, |f| f.secrets = None, &[]),
        case(
            "SG0605: a credential in the spec, even in staging",
            "staging",
            &[],
            |f| {
                f.secrets = Some(SecretsFacts {
                    stored: Default::default(),
                    spec_literals: vec![SecretFinding {
                        rule: "github-pat".into(),
                        path: "shipgate.toml".into(),
                        line: 9,
                        redacted: "ghp_********".into(),
                    }],
                });
            },
            &[(
                "SG0605",
                Deny,
                "`shipgate.toml` of release `1.4.2` holds what looks like a credential at line 9 (`github-pat`: ghp_********)",
                "declare the name under `[secrets]`, set it with `shipgate secrets set ENV NAME`, remove the literal, rotate the credential and create a new release",
            )],
        ),
        case(
            "SG0605: a value the server holds for the environment, in the spec",
            "staging",
            &[],
            |f| {
                f.secrets = Some(SecretsFacts {
                    stored: Default::default(),
                    spec_literals: vec![SecretFinding {
                        rule: "stored-secret".into(),
                        path: "shipgate.toml".into(),
                        line: 12,
                        redacted: "[secret:DB_URL]".into(),
                    }],
                });
            },
            &[(
                "SG0605",
                Deny,
                "`shipgate.toml` of release `1.4.2` holds the value of a secret of `staging` at line 12 ([secret:DB_URL])",
                "declare the name under `[secrets]`, set it with `shipgate secrets set ENV NAME`, remove the literal, rotate the credential and create a new release",
            )],
        ),
        // --- SG0701 unsigned-release, SG0702 signature-mismatch -----------------------------------
        case(
            "SG0701: an unsigned release to production",
            "production",
            &[],
            |f| f.release.signature = None,
            &[(
                "SG0701",
                Deny,
                "release `1.4.2` is not signed, and `production` runs signed releases only",
                "`shipgate keys generate`, add the public key to `[artifact] trusted_keys`, and create the release again with `shipgate release create --sign shipgate.key`",
            )],
        ),
        case("SG0701: staging may run unsigned releases", "staging", &[], |f| f.release.signature = None, &[]),
        case(
            "SG0702: a signature by an untrusted key, even in staging",
            "staging",
            &[],
            |f| {
                f.release.signature =
                    Some(SignatureCheck::Invalid { reason: "key 1122334455667788 is not trusted".into() })
            },
            &[(
                "SG0702",
                Deny,
                "the signature of release `1.4.2` does not verify: key 1122334455667788 is not trusted",
                "find out how the artifact or the key changed; create the release again from a trusted build, signed with a key in `[artifact] trusted_keys`",
            )],
        ),
        // --- SG0703 freeze-window ------------------------------------------------------------------
        case(
            "SG0703: a Tuesday freeze in Berlin, production",
            "production",
            FREEZE,
            no_change,
            &[(
                "SG0703",
                Deny,
                "`production` is frozen now: no deploys on Tuesdays until Wed 2026-03-04 00:00 (Europe/Berlin)",
                "deploy after the freeze, or lift it for this deployment with `--override freeze --reason \"…\"` (recorded in the audit ledger)",
            )],
        ),
        case("SG0703: staging is not frozen", "staging", FREEZE, no_change, &[]),
        case(
            "SG0703: staging's own allow_windows apply to staging",
            "staging",
            &[(
                "listen = \"127.0.0.1:8080\"\n",
                "listen = \"127.0.0.1:8080\"\nallow_windows = [ { days = [\"mon\"], after = \"09:00\", before = \"16:00\", reason = \"monday office hours\" } ]\n",
            )],
            no_change,
            &[(
                "SG0703",
                Deny,
                "`staging` takes deployments only inside its allowed windows (`monday office hours`, UTC), and now is outside them; the next opens Mon 2026-03-09 09:00 (UTC)",
                "deploy inside an allowed window, or lift this for one deployment with `--override freeze --reason \"…\"` (recorded in the audit ledger)",
            )],
        ),
        // --- SG0501 migration-not-rehearsed ------------------------------------------------------
        case(
            "SG0501: migrations never rehearsed, production",
            "production",
            MIGRATIONS,
            |f| {
                f.release.migrations =
                    Some(MigrationEvidence { set_digest: "9f86d081884c7d65".into(), rehearsal_passed: None })
            },
            &[(
                "SG0501",
                Deny,
                "release `1.4.2`'s migrations (set `9f86d081884c…`) were never rehearsed",
                REHEARSE_HINT,
            )],
        ),
        case(
            "SG0501: a failed rehearsal",
            "production",
            MIGRATIONS,
            |f| {
                f.release.migrations =
                    Some(MigrationEvidence { set_digest: "9f86d081884c7d65".into(), rehearsal_passed: Some(false) })
            },
            &[(
                "SG0501",
                Deny,
                "the rehearsal of release `1.4.2`'s migrations (set `9f86d081884c…`) failed",
                REHEARSE_HINT,
            )],
        ),
        case(
            "SG0501: quiet when rehearsed, or in staging",
            "production",
            MIGRATIONS,
            |f| {
                f.release.migrations =
                    Some(MigrationEvidence { set_digest: "9f86d081884c7d65".into(), rehearsal_passed: Some(true) })
            },
            &[],
        ),
        case("SG0501: quiet in staging", "staging", MIGRATIONS, no_change, &[]),
        // --- SG0106 missing-test-evidence ---------------------------------------------------------
        case(
            "SG0106: no evidence, production",
            "production",
            &[],
            |f| f.release.test_evidence = None,
            &[("SG0106", Deny, "release `1.4.2` carries no test evidence", TEST_HINT)],
        ),
        case(
            "SG0106: no evidence, staging warns",
            "staging",
            &[],
            |f| f.release.test_evidence = None,
            &[("SG0106", Warn, "release `1.4.2` carries no test evidence", TEST_HINT)],
        ),
        // --- SG0107 tests-failed ---------------------------------------------------------------------
        case(
            "SG0107: non-zero exit and JUnit failures",
            "production",
            &[],
            |f| {
                let evidence = f.release.test_evidence.as_mut().unwrap();
                evidence.exit_code = 101;
                evidence.junit = Some(JunitSummary { tests: 120, failures: 2, errors: 1, skipped: 0 });
            },
            &[(
                "SG0107",
                Deny,
                "the tests of release `1.4.2` failed: `cargo test` exited with status 101; the JUnit reports count 2 failures and 1 error in 120 tests",
                "fix the code or the tests and create a new release",
            )],
        ),
        case(
            "SG0107: JUnit errors with exit 0, staging warns",
            "staging",
            &[],
            |f| {
                f.release.test_evidence.as_mut().unwrap().junit =
                    Some(JunitSummary { tests: 1, failures: 0, errors: 1, skipped: 0 })
            },
            &[(
                "SG0107",
                Warn,
                "the tests of release `1.4.2` failed: the JUnit reports count 0 failures and 1 error in 1 test",
                "fix the code or the tests and create a new release",
            )],
        ),
        case(
            "SG0107: a failing command without JUnit",
            "production",
            &[],
            |f| {
                let evidence = f.release.test_evidence.as_mut().unwrap();
                evidence.exit_code = 1;
                evidence.command.clear();
                evidence.junit = Some(JunitSummary { tests: 3, ..JunitSummary::default() });
            },
            &[(
                "SG0107",
                Deny,
                "the tests of release `1.4.2` failed: the tests exited with status 1",
                "fix the code or the tests and create a new release",
            )],
        ),
        // --- SG0108 tests-incomplete ----------------------------------------------------------------
        case(
            "SG0108: no JUnit summary",
            "production",
            &[],
            |f| f.release.test_evidence.as_mut().unwrap().junit = None,
            &[(
                "SG0108",
                Warn,
                "the test evidence of release `1.4.2` is incomplete: it has no JUnit summary, only an exit status",
                "set `[pipeline] junit` to the JUnit XML files the tests write, e.g. `junit = \"target/junit/*.xml\"`",
            )],
        ),
        case(
            "SG0108: no tests ran",
            "staging",
            &[],
            |f| f.release.test_evidence.as_mut().unwrap().junit = Some(JunitSummary::default()),
            &[(
                "SG0108",
                Warn,
                "the test evidence of release `1.4.2` is incomplete: the JUnit reports count no tests",
                "check that the test command runs the tests: a filter or a wrong folder can select none",
            )],
        ),
        case(
            "SG0108: skipped tests",
            "production",
            &[],
            |f| {
                f.release.test_evidence.as_mut().unwrap().junit =
                    Some(JunitSummary { tests: 120, skipped: 3, ..JunitSummary::default() })
            },
            &[(
                "SG0108",
                Warn,
                "the test evidence of release `1.4.2` is incomplete: 3 of 120 tests were skipped",
                "un-skip or delete the skipped tests: skipped tests are untested code",
            )],
        ),
        // --- SG0109 no-vulnerability-scan --------------------------------------------------------
        case(
            "SG0109: production without a scanner",
            "production",
            &[("scan = [\"trivy fs --format sarif .\"]\n", "")],
            no_change,
            &[(
                "SG0109",
                Warn,
                "no vulnerability scanner is declared in `[pipeline] scan`, so nothing checks the release's dependencies and image for known vulnerabilities",
                "declare a scanner that writes SARIF under `[pipeline]`, e.g. `scan = [\"trivy fs --format sarif .\"]`",
            )],
        ),
        case(
            "SG0109 quiet: staging is not judged",
            "staging",
            &[("scan = [\"trivy fs --format sarif .\"]\n", "")],
            no_change,
            &[],
        ),
        // --- SG0110 vulnerable-dependency --------------------------------------------------------
        case(
            "SG0110: an error-level scanner result refuses production; warnings warn",
            "production",
            &[],
            |f| {
                f.release.scanner_findings = Some(vec![
                    scanner_finding("error", "CVE-2024-3094", Some("Cargo.lock:7")),
                    scanner_finding("warning", "CVE-2023-1", None),
                    scanner_finding("note", "style", None),
                ])
            },
            &[
                (
                    "SG0110",
                    Deny,
                    "the scanners reported 1 result of level `error` for release `1.4.2`: trivy `CVE-2024-3094` at Cargo.lock:7: xz backdoor",
                    SCANNER_HINT,
                ),
                (
                    "SG0110",
                    Warn,
                    "the scanners reported 1 result of level `warning` for release `1.4.2`: trivy `CVE-2023-1`: xz backdoor",
                    SCANNER_HINT,
                ),
            ],
        ),
        case(
            "SG0110 elsewhere: an error-level result only warns",
            "staging",
            &[],
            |f| f.release.scanner_findings = Some(vec![scanner_finding("error", "CVE-2024-3094", None)]),
            &[(
                "SG0110",
                Warn,
                "the scanners reported 1 result of level `error` for release `1.4.2`: trivy `CVE-2024-3094`: xz backdoor",
                SCANNER_HINT,
            )],
        ),
        case(
            "SG0110 quiet: notes only",
            "production",
            &[],
            |f| f.release.scanner_findings = Some(vec![scanner_finding("note", "style", None)]),
            &[],
        ),
        // --- SG0201 staging-first, SG0202 config-through-staging -----------------------------------
        case(
            "SG0201 and SG0202: never deployed to staging",
            "production",
            &[],
            |f| f.history.clear(),
            &[
                (
                    "SG0201",
                    Deny,
                    "release `1.4.2` (`sha256:abababababab…`) has not succeeded in `staging`, which `production` requires",
                    STAGING_HINT,
                ),
                (
                    "SG0202",
                    Deny,
                    "the configuration of release `1.4.2` (`c0ffeec0ffee…`) has not run successfully in `staging`, which `production` requires",
                    CONFIG_HINT,
                ),
            ],
        ),
        case(
            "SG0201 and SG0202: the staging deployment was rolled back",
            "production",
            &[],
            |f| f.history[0].status = "rolled_back".to_owned(),
            &[
                (
                    "SG0201",
                    Deny,
                    "release `1.4.2` (`sha256:abababababab…`) has not succeeded in `staging` (its deployment there was rolled back), which `production` requires",
                    STAGING_HINT,
                ),
                (
                    "SG0202",
                    Deny,
                    "the configuration of release `1.4.2` (`c0ffeec0ffee…`) has not run successfully in `staging` (its deployment there was rolled back), which `production` requires",
                    CONFIG_HINT,
                ),
            ],
        ),
        case(
            "SG0201 and SG0202: a later rollback moved staging away from it",
            "production",
            &[],
            |f| f.history[0].rolled_back_later = true,
            &[
                (
                    "SG0201",
                    Deny,
                    "release `1.4.2` (`sha256:abababababab…`) has not succeeded in `staging` (a rollback there moved away from it), which `production` requires",
                    STAGING_HINT,
                ),
                (
                    "SG0202",
                    Deny,
                    "the configuration of release `1.4.2` (`c0ffeec0ffee…`) has not run successfully in `staging` (a rollback there moved away from it), which `production` requires",
                    CONFIG_HINT,
                ),
            ],
        ),
        case(
            "SG0201 alone: another artifact with this configuration passed staging",
            "production",
            &[],
            |f| f.history[0] = deployment("staging", "1.4.1", OTHER_DIGEST, CONFIG, "succeeded"),
            &[(
                "SG0201",
                Deny,
                "release `1.4.2` (`sha256:abababababab…`) has not succeeded in `staging`, which `production` requires",
                STAGING_HINT,
            )],
        ),
        case(
            "SG0202 alone: the artifact passed staging with another configuration",
            "production",
            &[],
            |f| f.history[0] = deployment("staging", "1.4.1", DIGEST, OTHER_CONFIG, "succeeded"),
            &[(
                "SG0202",
                Deny,
                "the configuration of release `1.4.2` (`c0ffeec0ffee…`) has not run successfully in `staging`, which `production` requires",
                CONFIG_HINT,
            )],
        ),
        case(
            "SG0201 and SG0202 quiet: a failed attempt, then a success",
            "production",
            &[],
            |f| f.history.insert(0, deployment("staging", "1.4.2", DIGEST, CONFIG, "failed")),
            &[],
        ),
        case(
            "SG0201 and SG0202: every required environment, not only staging, in staging too",
            "staging",
            &[(
                "smoke = [ { http = \"/\" } ]\n",
                "smoke = [ { http = \"/\" } ]\nrequires = [\"qa\"]\n\n[environments.qa]\nlisten = \"127.0.0.1:8081\"\n",
            )],
            |f| f.history.push(deployment("qa", "1.4.2", DIGEST, CONFIG, "aborted")),
            &[
                (
                    "SG0201",
                    Deny,
                    "release `1.4.2` (`sha256:abababababab…`) has not succeeded in `qa` (its deployment there was aborted), which `staging` requires",
                    "deploy it to `qa` first (`shipgate deploy qa 1.4.2`), then to `staging`",
                ),
                (
                    "SG0202",
                    Deny,
                    "the configuration of release `1.4.2` (`c0ffeec0ffee…`) has not run successfully in `qa` (its deployment there was aborted), which `staging` requires",
                    "deploy a release with this shipgate.toml to `qa` first: configuration changes pass the required environments like code",
                ),
            ],
        ),
        // --- SG0203 production-without-staging ------------------------------------------------------
        case(
            "SG0203: production requires nothing",
            "production",
            &[("requires = [\"staging\"]\n", "")],
            no_change,
            &[(
                "SG0203",
                Deny,
                "`production` is a production environment but requires no other environment, so releases reach it without passing staging",
                "add `requires = [\"staging\"]` to `[environments.production]`, with a staging environment to require",
            )],
        ),
        case(
            "SG0203 and SG0303 quiet: staging requires nothing and nothing requires it",
            "staging",
            &[("requires = [\"staging\"]\n", ""), ("smoke = [ { http = \"/\" } ]\n", "")],
            no_change,
            &[],
        ),
        // --- SG0205 unknown-environment ---------------------------------------------------------------
        case(
            "SG0205: an undeclared target",
            "prod",
            &[],
            no_change,
            &[(
                "SG0205",
                Deny,
                "`prod` is not an environment of release `1.4.2`: its shipgate.toml declares `production` and `staging`",
                "deploy to one of those, or add `[environments.prod]` to shipgate.toml and create a new release",
            )],
        ),
        // --- SG0301 progressive-strategy ------------------------------------------------------------
        case(
            "SG0301: direct by default",
            "production",
            &[("strategy = { canary = [ { weight = 10, hold = \"1m\" }, { weight = 50, hold = \"2m\" } ] }\n", "")],
            no_change,
            &[(
                "SG0301",
                Deny,
                "`production` uses the `direct` strategy, which switches all traffic to the new version at once, with no step where it is judged on part of the traffic",
                STRATEGY_HINT,
            )],
        ),
        case(
            "SG0301: rolling",
            "production",
            &[(
                "strategy = { canary = [ { weight = 10, hold = \"1m\" }, { weight = 50, hold = \"2m\" } ] }",
                "strategy = { rolling = { batch = 1 } }",
            )],
            no_change,
            &[(
                "SG0301",
                Deny,
                "`production` uses the `rolling` strategy, which moves traffic with instance counts, with no step where the new version is judged before it gets more",
                STRATEGY_HINT,
            )],
        ),
        case(
            "SG0301: recreate",
            "production",
            &[(
                "strategy = { canary = [ { weight = 10, hold = \"1m\" }, { weight = 50, hold = \"2m\" } ] }",
                "strategy = \"recreate\"",
            )],
            no_change,
            &[(
                "SG0301",
                Deny,
                "`production` uses the `recreate` strategy, which stops the old version before the new one starts: a gap in service, and nothing to return to",
                STRATEGY_HINT,
            )],
        ),
        case(
            "SG0301 quiet: blue-green",
            "production",
            &[(
                "strategy = { canary = [ { weight = 10, hold = \"1m\" }, { weight = 50, hold = \"2m\" } ] }",
                "strategy = { blue_green = {} }",
            )],
            no_change,
            &[],
        ),
        case("SG0301 quiet: staging may go direct", "staging", &[], no_change, &[]),
        // --- SG0306 risky-change-without-flag ----------------------------------------------------
        case(
            "SG0306: risky without a flag",
            "production",
            &[("name = \"hello\"\n", "name = \"hello\"\nrisky = true\n")],
            no_change,
            &[("SG0306", Deny, "release `1.4.2` is marked risky but declares no feature flag", RISKY_HINT)],
        ),
        case(
            "SG0306: risky behind a flag that starts on",
            "staging",
            &[("name = \"hello\"\n", "name = \"hello\"\nrisky = true\n"), ("[environments.staging]", FLAG_ON)],
            no_change,
            &[(
                "SG0306",
                Warn,
                "release `1.4.2` is marked risky but none of its flags (`new-checkout`) starts off: each is on for someone before anyone turns it on",
                RISKY_HINT,
            )],
        ),
        case(
            "SG0306 quiet: risky behind a flag that starts off",
            "production",
            &[("name = \"hello\"\n", "name = \"hello\"\nrisky = true\n"), ("[environments.staging]", FLAG_OFF)],
            no_change,
            &[],
        ),
        case("SG0306 quiet: not risky", "production", &[("[environments.staging]", FLAG_ON)], no_change, &[]),
        case(
            "SG0306: `release create --risky` without a flag",
            "production",
            &[],
            |f| f.flags = Some(crate::FlagFacts { risky: true, settings: Default::default() }),
            &[(
                "SG0306",
                Deny,
                "release `1.4.2` is marked risky (`release create --risky`) but declares no feature flag",
                RISKY_HINT,
            )],
        ),
        case(
            "SG0306: the flag that starts off is already rolled out in production",
            "production",
            &[("name = \"hello\"\n", "name = \"hello\"\nrisky = true\n"), ("[environments.staging]", FLAG_OFF)],
            |f| {
                f.flags =
                    Some(flag_settings(shipgate_flags::Setting::Rollout { variant: "on".into(), basis_points: 1000 }))
            },
            &[(
                "SG0306",
                Deny,
                "release `1.4.2` is marked risky and its flags that start off are already on in `production`: `new-checkout` (`on` for 10% of targeting keys)",
                "turn the flag off in `production` before deploying (`shipgate flags set production new-checkout --reset`, or `shipgate flags kill production new-checkout`), or put the change behind a new flag that starts off",
            )],
        ),
        case(
            "SG0306 quiet: the flag that starts off is killed in production",
            "production",
            &[("name = \"hello\"\n", "name = \"hello\"\nrisky = true\n"), ("[environments.staging]", FLAG_OFF)],
            |f| f.flags = Some(flag_settings(shipgate_flags::Setting::Killed)),
            &[],
        ),
        case(
            "SG0306 quiet: the flag is forced to its false variant",
            "production",
            &[("name = \"hello\"\n", "name = \"hello\"\nrisky = true\n"), ("[environments.staging]", FLAG_OFF)],
            |f| f.flags = Some(flag_settings(shipgate_flags::Setting::Variant { variant: "off".into() })),
            &[],
        ),
        // --- SG0302 missing-health-check ----------------------------------------------------------
        case(
            "SG0302: no health check, production",
            "production",
            &[("health = { http = \"/healthz\" }\n", "")],
            no_change,
            &[("SG0302", Deny, HEALTH_MESSAGE, HEALTH_HINT)],
        ),
        case(
            "SG0302: no health check, staging warns",
            "staging",
            &[("health = { http = \"/healthz\" }\n", "")],
            no_change,
            &[("SG0302", Warn, HEALTH_MESSAGE, HEALTH_HINT)],
        ),
        // --- SG0303 missing-smoke-checks -------------------------------------------------------------
        case(
            "SG0303: production without smoke checks",
            "production",
            &[("smoke = [ { http = \"/\", expect = 200 } ]\n", "")],
            no_change,
            &[(
                "SG0303",
                Deny,
                "`production` declares no smoke checks, so nothing checks that the new version works before it takes traffic and after promotion",
                "add requests that prove the app works to `[environments.production]`, e.g. `smoke = [ { http = \"/\", expect = 200 } ]`",
            )],
        ),
        case(
            "SG0303: staging without smoke checks, required by production",
            "staging",
            &[("smoke = [ { http = \"/\" } ]\n", "")],
            no_change,
            &[(
                "SG0303",
                Warn,
                "`staging` declares no smoke checks, yet `production` requires it: passing `staging` proves only that the instances answer their health check",
                "add requests that prove the app works to `[environments.staging]`, e.g. `smoke = [ { http = \"/\", expect = 200 } ]`",
            )],
        ),
        // --- SG0304 no-automated-analysis -------------------------------------------------------
        case(
            "SG0304: neither analysis nor bake",
            "production",
            &[("analysis = { error_rate_max = 0.01 }\nbake = \"10m\"\n", "")],
            no_change,
            &[(
                "SG0304",
                Warn,
                "`production` has no `analysis` limits and no `bake` period: a bad release is rolled back only if its instances fail their health checks, and nothing watches it after full promotion",
                "add `analysis = { error_rate_max = 0.01, p99_max = \"300ms\" }` and `bake = \"10m\"` to `[environments.production]`",
            )],
        ),
        case(
            "SG0304: no analysis",
            "production",
            &[("analysis = { error_rate_max = 0.01 }\n", "")],
            no_change,
            &[(
                "SG0304",
                Warn,
                "`production` has no `analysis` limits: a bad release is rolled back only if its instances fail their health checks",
                "add `analysis = { error_rate_max = 0.01, p99_max = \"300ms\" }` to `[environments.production]`",
            )],
        ),
        case(
            "SG0304: no bake",
            "production",
            &[("bake = \"10m\"\n", "")],
            no_change,
            &[(
                "SG0304",
                Warn,
                "`production` has no `bake` period: nothing watches the release after full promotion",
                "add `bake = \"10m\"` to `[environments.production]`",
            )],
        ),
        // --- SG0401 environment-parity -------------------------------------------------------------
        case(
            "SG0401: staging moved on to another configuration",
            "production",
            &[],
            |f| f.history.push(deployment("staging", "1.5.0", OTHER_DIGEST, OTHER_CONFIG, "succeeded")),
            &[(
                "SG0401",
                Warn,
                "`staging` now runs release `1.5.0` with configuration `c1c1c1c1c1c1…`, not this release's `c0ffeec0ffee…`: `production` would run a configuration `staging` no longer runs",
                "deploy the release `staging` runs now (`1.5.0`) to `production` instead, or deploy `1.4.2` to `staging` again, so both run the same configuration",
            )],
        ),
        case(
            "SG0401 quiet: staging moved on to another artifact with the same configuration",
            "production",
            &[],
            |f| f.history.push(deployment("staging", "1.5.0", OTHER_DIGEST, CONFIG, "succeeded")),
            &[],
        ),
        case(
            "SG0401 quiet: staging was rolled back to this configuration",
            "production",
            &[],
            |f| {
                let mut later = deployment("staging", "1.5.0", OTHER_DIGEST, OTHER_CONFIG, "succeeded");
                later.rolled_back_later = true;
                f.history.push(later);
            },
            &[],
        ),
        // --- SG0402 data-residency -----------------------------------------------------------
        case(
            "SG0402: no region",
            "production",
            &[],
            |f| residency(f, &["personal"], &[("personal", &["eu-*"])]),
            &[(
                "SG0402",
                Deny,
                "`production` declares no `region`, but the app handles data of class `personal` (allowed: `eu-*`), which may be stored only in certain regions",
                "add `region = \"…\"` to `[environments.production]`, a region every data class allows",
            )],
        ),
        case(
            "SG0402: a region not allowed",
            "production",
            &[("replicas = 3\n", "replicas = 3\nregion = \"us-east-1\"\n")],
            |f| residency(f, &["personal", "telemetry"], &[("personal", &["eu-*"]), ("telemetry", &["us-*", "eu-*"])]),
            &[(
                "SG0402",
                Deny,
                "`production` runs in region `us-east-1`, where data class `personal` (allowed: `eu-*`) may not be stored",
                RESIDENCY_HINT,
            )],
        ),
        case(
            "SG0402: a data class without allowed regions",
            "production",
            &[("replicas = 3\n", "replicas = 3\nregion = \"us-east-1\"\n")],
            |f| residency(f, &["health", "payment"], &[("payment", &["us-east-1", "eu-central-1"])]),
            &[(
                "SG0402",
                Deny,
                "`production` runs in region `us-east-1`, where data class `health` (allowed nowhere) may not be stored",
                RESIDENCY_HINT,
            )],
        ),
        case(
            "SG0402 quiet: an allowed region, in any case",
            "production",
            &[("replicas = 3\n", "replicas = 3\nregion = \"EU-West-1\"\n")],
            |f| residency(f, &["personal"], &[("personal", &["eu-*", "ch"])]),
            &[],
        ),
        case("SG0402 quiet: no data classes", "production", &[], |f| residency(f, &[], &[]), &[]),
        // --- SG0403 drift-unknown-version -----------------------------------------------------------
        case(
            "SG0403: an instance nobody deployed",
            "production",
            &[],
            |f| {
                let mut observed = observed();
                observed.instances.push(instance("hotfix-1", "1.4.1-hotfix", "healthy"));
                observed.instances.push(instance("hotfix-2", "1.4.1-hotfix", "starting"));
                f.observed = Some(observed);
            },
            &[(
                "SG0403",
                Deny,
                "`production` runs instances of `1.4.1-hotfix` (`hotfix-1` and `hotfix-2`) that no deployment put there; the active release is `1.4.1`",
                UNKNOWN_HINT,
            )],
        ),
        case(
            "SG0403: instances where nothing is active",
            "production",
            &[],
            |f| {
                f.observed = Some(ObservedState {
                    instances: vec![instance("x", "0.9.0", "healthy")],
                    weights: Vec::new(),
                    foreign_listeners: Vec::new(),
                    desired: DesiredState { replicas: 3, ..DesiredState::default() },
                });
            },
            &[(
                "SG0403",
                Deny,
                "`production` runs instances of `0.9.0` (`x`) that no deployment put there; no release is active",
                UNKNOWN_HINT,
            )],
        ),
        case(
            "SG0403 quiet: deploying, warm, draining and stopped instances",
            "production",
            &[],
            |f| {
                let mut observed = observed();
                observed.desired.deploying_version = Some("1.4.2".to_owned());
                observed.desired.warm_versions = vec!["1.4.0".to_owned()];
                observed.instances.extend([
                    instance("new", "1.4.2", "starting"),
                    instance("warm", "1.4.0", "healthy"),
                    instance("old", "1.3.9", "draining"),
                    instance("older", "1.3.8", "stopped"),
                ]);
                observed.weights = vec![("1.4.1".to_owned(), 90.0), ("1.4.2".to_owned(), 10.0)];
                f.observed = Some(observed);
            },
            &[],
        ),
        // --- SG0404 drift-replicas ------------------------------------------------------------------
        case(
            "SG0404: a crash loop",
            "production",
            &[],
            |f| {
                let mut observed = observed();
                observed.instances[2].state = "crashloop".to_owned();
                f.observed = Some(observed);
            },
            &[("SG0404", Warn, "`production` has 2 of 3 instances of `1.4.1` healthy (1 crashloop)", REPLICAS_HINT)],
        ),
        case(
            "SG0404: an instance missing",
            "production",
            &[],
            |f| {
                let mut observed = observed();
                observed.instances.pop();
                f.observed = Some(observed);
            },
            &[("SG0404", Warn, "`production` has 2 of 3 instances of `1.4.1` healthy (1 missing)", REPLICAS_HINT)],
        ),
        case(
            "SG0404: more instances than declared",
            "production",
            &[],
            |f| {
                let mut observed = observed();
                observed.instances.push(instance("d", "1.4.1", "healthy"));
                f.observed = Some(observed);
            },
            &[(
                "SG0404",
                Warn,
                "`production` runs 4 instances of `1.4.1`, but declares 3",
                "stop the instances started by hand; to change the count, change `replicas` in `[environments.production]` and deploy",
            )],
        ),
        case(
            "SG0404 quiet: during a deployment",
            "production",
            &[],
            |f| {
                let mut observed = observed();
                observed.instances[2].state = "crashloop".to_owned();
                observed.desired.deploying_version = Some("1.4.2".to_owned());
                f.observed = Some(observed);
            },
            &[],
        ),
        // --- SG0405 drift-traffic -------------------------------------------------------------------
        case(
            "SG0405: a split outside a deployment",
            "production",
            &[],
            |f| {
                let mut observed = observed();
                observed.weights = vec![("1.4.1".to_owned(), 80.0), ("1.4.0".to_owned(), 20.0)];
                f.observed = Some(observed);
            },
            &[(
                "SG0405",
                Deny,
                "`production` sends 20% to `1.4.0` and 80% to `1.4.1` outside a deployment; all traffic should go to the active release `1.4.1`",
                TRAFFIC_HINT,
            )],
        ),
        case(
            "SG0405: no traffic on the active release",
            "production",
            &[],
            |f| {
                let mut observed = observed();
                observed.weights = vec![("1.4.1".to_owned(), 0.0)];
                f.observed = Some(observed);
            },
            &[(
                "SG0405",
                Deny,
                "`production` sends no traffic to its active release `1.4.1`, outside a deployment",
                TRAFFIC_HINT,
            )],
        ),
        case(
            "SG0405: traffic while nothing is active",
            "production",
            &[],
            |f| {
                f.observed = Some(ObservedState {
                    instances: Vec::new(),
                    weights: vec![("0.9.0".to_owned(), 100.0)],
                    foreign_listeners: Vec::new(),
                    desired: DesiredState { replicas: 3, ..DesiredState::default() },
                });
            },
            &[(
                "SG0405",
                Deny,
                "`production` sends 100% to `0.9.0` although no release is active",
                "only a deployment changes traffic weights: find out what changed the agent's routing, and route traffic only by deploying a release (`shipgate deploy production VERSION`)",
            )],
        ),
        case(
            "SG0405 quiet: rounding, zero weights and duplicate entries",
            "production",
            &[],
            |f| {
                let mut observed = observed();
                observed.weights =
                    vec![("1.4.1".to_owned(), 60.0), ("1.4.1".to_owned(), 39.995), ("1.4.0".to_owned(), 0.0)];
                f.observed = Some(observed);
            },
            &[],
        ),
        // --- SG0406 drift-foreign-listener ----------------------------------------------------------
        case(
            "SG0406: nginx on production's port",
            "production",
            &[],
            |f| {
                let mut observed = observed();
                observed.foreign_listeners = vec![
                    ForeignListener {
                        address: "0.0.0.0:80".to_owned(),
                        pid: Some(812),
                        command: Some("nginx".to_owned()),
                    },
                    ForeignListener { address: "127.0.0.1:80".to_owned(), pid: None, command: None },
                    ForeignListener {
                        address: "0.0.0.0:8080".to_owned(),
                        pid: Some(9),
                        command: Some("other".to_owned()),
                    },
                ];
                f.observed = Some(observed);
            },
            &[
                (
                    "SG0406",
                    Deny,
                    "`nginx` (pid 812) listens on `0.0.0.0:80`, which overlaps `production`'s address `0.0.0.0:80`",
                    "stop that process, or move `production` to another `listen` address: a second listener on the port takes or splits its traffic",
                ),
                (
                    "SG0406",
                    Deny,
                    "a process listens on `127.0.0.1:80`, which overlaps `production`'s address `0.0.0.0:80`",
                    "stop that process, or move `production` to another `listen` address: a second listener on the port takes or splits its traffic",
                ),
            ],
        ),
        case(
            "SG0406 quiet: another port, another IP",
            "staging",
            &[],
            |f| {
                let mut observed = observed();
                observed.foreign_listeners = vec![
                    ForeignListener { address: "127.0.0.1:8081".to_owned(), pid: Some(1), command: None },
                    ForeignListener { address: "10.0.0.5:8080".to_owned(), pid: Some(2), command: None },
                ];
                f.observed = Some(observed);
            },
            &[],
        ),
        // --- [policy] through evaluate ----------------------------------------------------------------
        case(
            "policy raises a warning to deny",
            "production",
            &[
                ("bake = \"10m\"\n", ""),
                ("[environments.staging]", "[policy]\nno-automated-analysis = \"deny\"\n\n[environments.staging]"),
            ],
            no_change,
            &[(
                "SG0304",
                Deny,
                "`production` has no `bake` period: nothing watches the release after full promotion",
                "add `bake = \"10m\"` to `[environments.production]`",
            )],
        ),
        case(
            "policy cannot lower a deny in production",
            "production",
            &[
                ("health = { http = \"/healthz\" }\n", ""),
                ("[environments.staging]", "[policy]\nSG0302 = \"warn\"\nSG0301 = \"warn\"\n\n[environments.staging]"),
            ],
            no_change,
            &[("SG0302", Deny, HEALTH_MESSAGE, HEALTH_HINT)],
        ),
        case(
            "policy lowers a deny outside production, by id or name",
            "staging",
            &[
                (
                    "[environments.staging]",
                    "[policy]\nSG0101 = \"warn\"\nmutable-version-label = \"warn\"\n\n[environments.staging]",
                ),
                (PATH, "image = \"hello:latest\""),
            ],
            |f| f.release.version = "latest".to_owned(),
            &[
                (
                    "SG0101",
                    Warn,
                    "image `hello:latest` uses the mutable tag `latest`, which names whatever was pushed last",
                    "pin the image by digest: `hello@sha256:<digest>`; `docker buildx imagetools inspect hello` prints the digest",
                ),
                (
                    "SG0104",
                    Warn,
                    "release version label `latest` is a moving name, not the name of one build",
                    "create the release with a label that names one build, e.g. `--version 1.4.2` or `--version \"$(git rev-parse --short HEAD)\"`",
                ),
            ],
        ),
        case(
            "findings come deny first, then by rule id",
            "production",
            &[("health = { http = \"/healthz\" }\n", ""), ("bake = \"10m\"\n", "")],
            |f| {
                f.release.test_evidence = None;
                f.release.version = "main".to_owned();
            },
            &[
                (
                    "SG0104",
                    Deny,
                    "release version label `main` is a moving name, not the name of one build",
                    "create the release with a label that names one build, e.g. `--version 1.4.2` or `--version \"$(git rev-parse --short HEAD)\"`",
                ),
                ("SG0106", Deny, "release `main` carries no test evidence", TEST_HINT),
                ("SG0302", Deny, HEALTH_MESSAGE, HEALTH_HINT),
                (
                    "SG0304",
                    Warn,
                    "`production` has no `bake` period: nothing watches the release after full promotion",
                    "add `bake = \"10m\"` to `[environments.production]`",
                ),
            ],
        ),
    ]
}

fn findings_of(case: &Case) -> Vec<Finding> {
    let mut text = SPEC.to_owned();
    for (from, to) in case.spec {
        assert!(text.contains(from), "{}: the spec has no `{from}`", case.name);
        text = text.replacen(from, to, 1);
    }
    let mut facts = facts(case.environment, &text);
    (case.change)(&mut facts);
    evaluate(&facts)
}

fn run(case: &Case) -> Vec<(&'static str, Severity, String, String)> {
    findings_of(case)
        .into_iter()
        .map(|finding| (finding.rule, finding.severity, finding.message, finding.hint))
        .collect()
}

#[test]
fn every_rule_fires_exactly_as_stated_and_stays_quiet_otherwise() {
    let mut failures = Vec::new();
    for case in cases() {
        let found = run(&case);
        if found != case.expected {
            failures.push(format!("{}\n  expected: {:#?}\n  found:    {:#?}", case.name, case.expected, found));
        }
    }
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_implemented_rule_has_a_firing_case_and_the_others_never_fire() {
    let fired: BTreeSet<&str> = cases().iter().flat_map(|case| case.expected.iter().map(|(rule, ..)| *rule)).collect();
    // SG0707 judges tokens, not deployments: `tokens::least_privilege` has its own tests.
    // SG0305 is judged by the server at a deployment's end (`shipgate-server`'s checklist).
    // SG0704-SG0706 are enforced by the server: approvals are a state of the deployment, and who
    // may deploy is decided by the API's authorization.
    let judged_elsewhere = ["SG0707", "SG0305", "SG0704", "SG0705", "SG0706"];
    let implemented: BTreeSet<&str> = catalog::catalog()
        .iter()
        .filter(|rule| rule.implemented && !judged_elsewhere.contains(&rule.id))
        .map(|rule| rule.id)
        .collect();
    assert_eq!(fired, implemented);
}

#[test]
fn findings_point_at_the_spec_line_and_name_release_and_environment() {
    type Change = fn(&mut Facts);
    let cases: [(&str, Change, &str, u32); 5] = [
        ("production", |f| f.history.clear(), "SG0201", 23),
        ("production", |f| f.release.test_evidence = None, "SG0106", 12),
        ("production", |f| f.release.version = "latest".to_owned(), "SG0104", 4),
        (
            "production",
            |f| {
                let mut observed = observed();
                observed.instances.pop();
                f.observed = Some(observed);
            },
            "SG0404",
            22,
        ),
        ("staging", |f| f.release.test_evidence.as_mut().unwrap().junit = None, "SG0108", 12),
    ];
    for (environment, change, rule, line) in cases {
        let mut facts = facts(environment, SPEC);
        facts.spec_path = "deploy/shipgate.toml".to_owned();
        change(&mut facts);
        let findings = evaluate(&facts);
        let finding =
            findings.iter().find(|finding| finding.rule == rule).unwrap_or_else(|| panic!("{rule}: {findings:#?}"));
        assert_eq!(finding.subject.file.as_deref(), Some("deploy/shipgate.toml"), "{rule}");
        assert_eq!(finding.subject.line, Some(line), "{rule}");
        assert_eq!(finding.subject.release.as_deref(), Some(facts.release.version.as_str()), "{rule}");
        assert_eq!(finding.subject.environment.as_deref(), Some(environment), "{rule}");
        assert_eq!(finding.docs, catalog::rule(rule).unwrap().docs_url());
    }
    let findings = evaluate(&{
        let mut facts = facts("production", SPEC);
        facts.history.clear();
        facts
    });
    assert_eq!(findings[0].subject.file.as_deref(), Some("shipgate.toml"), "the default spec path");
}

#[test]
fn the_findings_of_every_case_make_a_valid_sarif_log_and_json_report() {
    let findings: Vec<Finding> = cases().iter().flat_map(findings_of).collect();
    let errors = crate::report::sarif_schema_errors(&crate::to_sarif(&findings, "0.1.0"));
    assert!(errors.is_empty(), "{errors:#?}");
    let json = crate::to_json(&findings);
    assert_eq!(json["findings"].as_array().map(Vec::len), Some(findings.len()));
    assert_eq!(json["deny"].as_u64().unwrap() + json["warn"].as_u64().unwrap(), findings.len() as u64);
}

#[test]
fn drift_rules_stay_quiet_without_observations() {
    let facts = facts("production", SPEC);
    assert!(facts.observed.is_none());
    assert!(evaluate(&facts).is_empty());
    let mut facts = facts;
    facts.observed = Some(observed());
    assert!(evaluate(&facts).is_empty());
}

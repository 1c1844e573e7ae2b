//! The rule catalog: every rule shipgate's gates know, with its id, name, severity and
//! documentation, including the rules whose facts arrive in later issues
//! (`implemented: false`: documented, never firing yet).
//!
//! Ids are grouped by hundreds: SG01xx artifacts and releases, SG02xx promotion through
//! environments, SG03xx rollout strategy and health, SG04xx configuration, parity, residency
//! and drift, SG05xx database migrations, SG06xx secrets, SG07xx signatures, approvals,
//! windows and tokens, SG08xx the ledger and shipgate's own state. An id or a name, once
//! released, never changes meaning.

use serde::Serialize;

use crate::finding::Severity;
use crate::finding::Severity::{Deny, Warn};

/// Where each rule is documented: `RULES.md` of this crate, one `## SGxxxx` heading per rule
/// (generated from this catalog and checked by a test).
pub const DOCS_BASE: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/crates/shipgate-policy/RULES.md#");

/// One rule of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleDoc {
    /// Stable id, `SG` and four digits.
    pub id: &'static str,
    /// Stable kebab-case name; `[policy]` accepts it as well as the id.
    pub name: &'static str,
    /// Default severity when the target environment is a production one.
    pub severity: Severity,
    /// Default severity in other environments; `None` when the rule only judges production.
    pub elsewhere: Option<Severity>,
    /// Whether a recorded override with a written reason may lift its findings. Rules that
    /// cannot be overridden also ignore `[policy]` lowering them to `warn`.
    pub overridable: bool,
    /// Whether the rule fires today; `false` for rules whose facts come from later issues.
    pub implemented: bool,
    /// The practice of DESIGN.md's rule table it enforces.
    pub practice: &'static str,
    /// One line: what it checks.
    pub summary: &'static str,
    /// Markdown: why, what it checks, how to fix it, an example.
    pub docs: &'static str,
}

impl RuleDoc {
    /// The link every finding of this rule carries.
    pub fn docs_url(&self) -> String {
        format!("{DOCS_BASE}{}", self.id.to_ascii_lowercase())
    }
}

/// Every rule, sorted by id.
pub fn catalog() -> &'static [RuleDoc] {
    &CATALOG
}

/// Short names accepted wherever a rule is named (`--override freeze`, `[policy]`), each an
/// alias of one rule's id.
pub const ALIASES: &[(&str, &str)] = &[("freeze", "SG0703")];

/// The rule with this id (`SG0101`), name (`mutable-artifact`) or alias (`freeze`).
pub fn rule(id_or_name: &str) -> Option<&'static RuleDoc> {
    let id = ALIASES.iter().find(|(alias, _)| *alias == id_or_name).map_or(id_or_name, |(_, id)| *id);
    CATALOG.iter().find(|rule| rule.id == id || rule.name == id)
}

/// The practices of DESIGN.md's rule table, in its order. A test checks that every one is
/// enforced by at least one rule, and that the list matches DESIGN.md when it is at hand.
pub const PRACTICES: [&str; 27] = [
    STAGING,
    TESTS,
    LATEST,
    SIGNING,
    SECRETS_STORED,
    SECRETS_VAULT,
    MIGRATION_TESTING,
    DROP_COLUMNS,
    FRIDAYS,
    WHO_APPROVES,
    BROAD_PERMISSIONS,
    PROGRESSIVE,
    ROLLBACK,
    SMOKE,
    IAC,
    PLAN,
    PARITY,
    SOVEREIGNTY,
    FLAGS,
    AUDIT,
    CHECKLIST,
    REPEATABLE,
    VULNERABILITIES,
    ROTATE,
    STATE,
    MODULES,
    MIGRATION_PERFORMANCE,
];

const STAGING: &str = "deploy to staging before production, always";
const TESTS: &str = "do not deploy without automated tests passing";
const LATEST: &str = "do not use `latest` tags in production; tag and version all artifacts";
const SIGNING: &str = "sign artifacts and verify signatures before deployment";
const SECRETS_STORED: &str = "do not store secrets in source control, env files or images";
const SECRETS_VAULT: &str = "encrypt secrets; use a vault";
const MIGRATION_TESTING: &str = "do not skip database migration testing";
const DROP_COLUMNS: &str = "never drop columns/tables in the release that removes the code using them";
const FRIDAYS: &str = "do not deploy on Fridays / before holidays without explicit approval";
const WHO_APPROVES: &str = "restrict who can approve and execute production deployments";
const BROAD_PERMISSIONS: &str = "do not grant overly broad permissions to pipelines";
const PROGRESSIVE: &str = "use blue-green or canary in production; health checks and readiness probes";
const ROLLBACK: &str = "automated rollback; monitoring after release";
const SMOKE: &str = "run smoke tests after deployment";
const IAC: &str = "infrastructure as code; no manual changes in production";
const PLAN: &str = "plan before apply";
const PARITY: &str = "environment parity";
const SOVEREIGNTY: &str = "data sovereignty";
const FLAGS: &str = "feature flags for risky changes";
const AUDIT: &str = "log all deployment activities";
const CHECKLIST: &str = "post-deployment checklist";
const REPEATABLE: &str = "repeatable and idempotent deployments";
const VULNERABILITIES: &str = "scan containers and dependencies for vulnerabilities";
const ROTATE: &str = "rotate credentials after deployment if compromise is possible";
const STATE: &str = "manage state securely";
const MODULES: &str = "modules for reusable patterns; test IaC changes in lower environments first";
const MIGRATION_PERFORMANCE: &str = "monitor migration performance";

// --- SG01xx artifacts and releases ---------------------------------------------------------

pub(crate) const MUTABLE_ARTIFACT: RuleDoc = RuleDoc {
    id: "SG0101",
    name: "mutable-artifact",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: LATEST,
    summary: "`[artifact] image` uses a mutable tag such as `latest`, names no tag or digest at all, or is not a valid image reference",
    docs: "\
**Why.** A mutable tag names whatever was pushed last. Two hosts pulling `app:latest` a minute
apart can run different code, a rollback to `latest` returns to nothing in particular, and what
staging tested is not provably what production runs.

**What it checks.** The image reference in `[artifact] image` is parsed like Docker and
containerd do (`registry[:port]/repository[:tag][@digest]`). It fires when the tag is a mutable
word (`latest`, `stable`, `current`, `main`, `master`, `head`, `edge`, `nightly`, `dev`,
`develop`, `trunk`, `snapshot`, `unstable`, or ends in `-SNAPSHOT`, in any case) and no digest
pins it, when the reference has neither tag nor digest (`registry:5000/app` means
`registry:5000/app:latest`), or when it does not parse. A reference with a digest is pinned
whatever its tag says. Process artifacts (`[artifact] path`) are digested by shipgate itself
and never fire.

**How to fix.** Pin the image by digest. `docker buildx imagetools inspect IMAGE` (or
`crane digest IMAGE`) prints it.

**Example.**

```toml
[artifact]
image = \"registry.example.com/hello:latest\"   # SG0101
image = \"registry.example.com/hello@sha256:3f1c…\" # pinned
```",
};

pub(crate) const IMAGE_TAG_WITHOUT_DIGEST: RuleDoc = RuleDoc {
    id: "SG0102",
    name: "image-tag-without-digest",
    severity: Deny,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: true,
    practice: LATEST,
    summary: "`[artifact] image` is pinned by a tag only; tags can be moved to other content",
    docs: "\
**Why.** Even a version-like tag (`app:1.4.2`) can be pushed again with other content; only a
digest names one image. shipgate promotes releases by digest, so the reference must carry it.

**What it checks.** The image reference has a tag that is not a mutable word (those are
SG0101) and no `@sha256:` digest. Deny when the target is a production environment, warn
elsewhere.

**How to fix.** Add the digest after the tag (`app:1.4.2@sha256:…`, the tag then only
documents) or replace the tag with it.

**Example.**

```toml
image = \"ghcr.io/acme/hello:1.4.2\"                  # SG0102
image = \"ghcr.io/acme/hello:1.4.2@sha256:3f1c…\"     # pinned
```",
};

pub(crate) const ARTIFACT_NOT_CONTENT_ADDRESSED: RuleDoc = RuleDoc {
    id: "SG0103",
    name: "artifact-not-content-addressed",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: false,
    implemented: true,
    practice: LATEST,
    summary: "the release's artifact digest is not `sha256:` followed by 64 lowercase hex digits",
    docs: "\
**Why.** Every other guarantee (staging first, signatures, rollback to a known build) is about
the artifact's digest. A release without a well-formed sha256 digest cannot be promoted safely.
This rule cannot be overridden.

**What it checks.** The release's digest is `sha256:` and 64 lowercase hexadecimal digits.
`shipgate release create` always records such a digest, so this fires only for a release that
reached the store some other way, or a damaged store.

**How to fix.** Create the release again with `shipgate release create`, which digests the
artifact.

**Example.** A release recorded with digest `md5:9e107d9d…` or `sha256:ABC` fires.",
};

pub(crate) const MUTABLE_VERSION_LABEL: RuleDoc = RuleDoc {
    id: "SG0104",
    name: "mutable-version-label",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: LATEST,
    summary: "the release's version label is empty or a moving name such as `latest` or `main`",
    docs: "\
**Why.** People read version labels in `shipgate status`, in the ledger and in incident
notes. A label such as `latest` or `main` names a different build every week, so history
written with it says nothing.

**What it checks.** The version label is empty (or blank), or one of the mutable words of
SG0101 (`latest`, `stable`, `current`, `main`, `master`, `head`, …, or ends in `-SNAPSHOT`), in
any case.

**How to fix.** Create the release with a label that names one build: a semantic version, a
date and counter, or the commit.

**Example.**

```console
$ shipgate release create --version 1.4.2
$ shipgate release create --version \"$(git rev-parse --short HEAD)\"
```",
};

pub(crate) const VERSION_LABEL_REUSED: RuleDoc = RuleDoc {
    id: "SG0105",
    name: "version-label-reused",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: REPEATABLE,
    summary: "the version label was deployed before with a different artifact or configuration",
    docs: "\
**Why.** A deployment is repeatable only if a version label always means the same artifact and
the same configuration: deploying `1.4.2` twice must do the same thing, and rolling back to
`1.4.2` must return to what ran before.

**What it checks.** Some finished deployment in any environment carries the same version label
as this release but a different artifact digest or configuration digest
([`config_digest`](README.md#configuration-digest)).

**How to fix.** Give every build its own version label. Release labels are immutable in one
store; this rule catches labels reused across stores or after a store was rebuilt.

**Example.** `1.4.2` ran in staging as `sha256:3f1c…`; a new build also labelled `1.4.2` with
`sha256:9a0b…` fires.",
};

pub(crate) const MISSING_TEST_EVIDENCE: RuleDoc = RuleDoc {
    id: "SG0106",
    name: "missing-test-evidence",
    severity: Deny,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: true,
    practice: TESTS,
    summary: "the release carries no test evidence",
    docs: "\
**Why.** \"The tests pass\" must be a recorded fact about this exact artifact, not a belief
about some commit.

**What it checks.** The release has no test evidence (the exit status of the `[pipeline]
test` commands and the JUnit summary, recorded when the release was created). Deny for a
production environment, warn elsewhere.

**How to fix.** Declare the test commands in `[pipeline] test` (and where they leave JUnit XML
in `[pipeline] junit`) and create the release through the pipeline.

**Example.**

```toml
[pipeline]
test = [\"cargo test\"]
junit = \"target/junit/*.xml\"
```",
};

pub(crate) const TESTS_FAILED: RuleDoc = RuleDoc {
    id: "SG0107",
    name: "tests-failed",
    severity: Deny,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: true,
    practice: TESTS,
    summary: "the release's tests failed: non-zero exit status, or JUnit failures or errors",
    docs: "\
**Why.** A release whose tests failed is known to be broken in some way.

**What it checks.** The test evidence has a non-zero exit status, or its JUnit summary counts
failures or errors. Deny for a production environment, warn elsewhere (a failing build may
still go to staging to be looked at).

**How to fix.** Fix the code or the tests and create a new release.

**Example.** `cargo test` exited with status 101, or the JUnit reports count 2 failures in 120
tests.",
};

pub(crate) const TESTS_INCOMPLETE: RuleDoc = RuleDoc {
    id: "SG0108",
    name: "tests-incomplete",
    severity: Warn,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: true,
    practice: TESTS,
    summary: "the test evidence has no JUnit summary, counts no tests, or skipped some",
    docs: "\
**Why.** An exit status of 0 from a test command that ran no test proves nothing, and skipped
tests are untested code. These are warnings: the release may well be fine, but the evidence is
thinner than it looks.

**What it checks.** The release has test evidence (SG0106 covers the case without) and its
JUnit summary is missing, counts 0 tests, or counts skipped tests.

**How to fix.** Point `[pipeline] junit` at the JUnit XML the test runner writes; make sure the
test command runs the tests (a filter or a wrong folder can select none); un-skip or delete
skipped tests.

**Example.** `junit` is not set: \"the test evidence has no JUnit summary\". The reports say
`tests=\"120\" skipped=\"3\"`: \"3 of 120 tests were skipped\".",
};

pub(crate) const NO_VULNERABILITY_SCAN: RuleDoc = RuleDoc {
    id: "SG0109",
    name: "no-vulnerability-scan",
    severity: Warn,
    elsewhere: None,
    overridable: true,
    implemented: true,
    practice: VULNERABILITIES,
    summary: "no vulnerability scanner is declared in `[pipeline] scan`",
    docs: "\
**Why.** Known-vulnerable dependencies and base images are found by scanners, and only if a
scanner runs.

**What it checks.** The target is a production environment and `[pipeline] scan` declares no
scanner. (A built-in offline advisory check will make this rule quieter in a later issue.)

**How to fix.** Declare scanners that write SARIF; their findings become SG0110 findings.

**Example.**

```toml
[pipeline]
scan = [\"trivy fs --format sarif .\"]
```",
};

pub(crate) const VULNERABLE_DEPENDENCY: RuleDoc = RuleDoc {
    id: "SG0110",
    name: "vulnerable-dependency",
    severity: Deny,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: true,
    practice: VULNERABILITIES,
    summary: "a declared scanner reported an error-level result for the release",
    docs: "\
**Why.** A known vulnerability in a dependency or the base image is the cheapest attack there
is.

**What it checks.** The SARIF logs kept with the release (`shipgate pipeline run` passes its
`[pipeline] scan` commands' logs to `release create --sarif`) hold results of level `error`: one
finding at this rule's severity naming the first three. Results of level `warning` make one `warn`
finding. (The pipeline's scan stage already stops on an `error` result; this rule also judges
releases created outside it.)

**How to fix.** Upgrade the dependency or base image; if the result does not apply, record an
override with the reason.

**Example.** trivy reports `CVE-2024-3094` in `xz-utils 5.6.0` at level `error`.",
};

// --- SG02xx promotion through environments ---------------------------------------------------

pub(crate) const STAGING_FIRST: RuleDoc = RuleDoc {
    id: "SG0201",
    name: "staging-first",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: STAGING,
    summary: "the release's exact artifact has not succeeded in every environment the target `requires`",
    docs: "\
**Why.** Staging exists to try the exact bytes production will run. A release that never ran
there, or whose deployment there failed or was rolled back, is untried.

**What it checks.** For every environment named in the target's `requires`, some finished
deployment there has status `succeeded` for the release's exact artifact digest and was not
later rolled back. A succeeded deployment has passed its health checks, its smoke checks and
its analysis, so this is also \"passed smoke tests in staging\". Applies to every environment
with `requires`; production's must be honoured (see SG0203).

**How to fix.** Deploy the release to the required environments first, then again to the
target.

**Example.**

```console
$ shipgate deploy staging 1.4.2
$ shipgate deploy production 1.4.2
```",
};

pub(crate) const CONFIG_THROUGH_STAGING: RuleDoc = RuleDoc {
    id: "SG0202",
    name: "config-through-staging",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: MODULES,
    summary: "the release's configuration has not run successfully in every environment the target `requires`",
    docs: "\
**Why.** The spec travels inside the release, so a change to `shipgate.toml` (a new command
line, another health check, a new variable) is a change like any code change and must pass
staging too.

**What it checks.** For every environment in the target's `requires`, some finished deployment
there has status `succeeded`, was not later rolled back, and ran the release's configuration
digest. The digest ([`config_digest`](README.md#configuration-digest)) leaves out the
`[environments]` section, so the same configuration has the same digest in staging and
production.

**How to fix.** Deploy a release with this configuration to the required environments first.

**Example.** Release `1.4.3` reuses the artifact of `1.4.2` but changes `[run] command`: it
passes SG0201 and fires SG0202 until it ran in staging.",
};

pub(crate) const PRODUCTION_WITHOUT_STAGING: RuleDoc = RuleDoc {
    id: "SG0203",
    name: "production-without-staging",
    severity: Deny,
    elsewhere: None,
    overridable: true,
    implemented: true,
    practice: STAGING,
    summary: "a production environment requires no other environment",
    docs: "\
**Why.** Without `requires`, SG0201 has nothing to check: releases go straight to production.

**What it checks.** The target is a production environment (see
[how production is recognised](README.md#production-environments)) and its `requires` is
empty.

**How to fix.** Declare a staging environment and require it.

**Example.**

```toml
[environments.staging]
listen = \"127.0.0.1:8080\"

[environments.production]
listen = \"0.0.0.0:80\"
requires = [\"staging\"]
```",
};

pub(crate) const PLAN_CHANGED: RuleDoc = RuleDoc {
    id: "SG0204",
    name: "plan-changed",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: false,
    practice: PLAN,
    summary: "the deployment would apply a plan other than the one that was shown and approved",
    docs: "\
**Why.** `shipgate plan` shows every step and every gate's verdict; a deployment must apply
exactly that plan, not whatever the state has become since.

**What it checks (planned).** The digest of the plan the deployment would execute equals the
digest of the plan shown by `shipgate plan` (and approved, where approvals are required).

**How to fix.** Run `shipgate plan` again, review the new steps, and deploy that plan.

**Example.** Between `plan` and `deploy`, another deployment changed the active release.",
};

pub(crate) const UNKNOWN_ENVIRONMENT: RuleDoc = RuleDoc {
    id: "SG0205",
    name: "unknown-environment",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: false,
    implemented: true,
    practice: STAGING,
    summary: "the target environment is not declared in the release's `shipgate.toml`",
    docs: "\
**Why.** A release may go only where its own spec says it can run; the rules about an
environment (its `requires`, strategy, smoke checks) cannot be judged for one it does not
declare. This rule cannot be overridden.

**What it checks.** The target environment is a key of `[environments]` in the release's spec.
When it is not, the rules that need the environment's declaration stay quiet and this one
denies.

**How to fix.** Deploy to a declared environment, or declare it and create a new release.

**Example.** Deploying release `1.4.2` to `prod` when its spec declares `staging` and
`production`.",
};

// --- SG03xx rollout strategy and health ------------------------------------------------------

pub(crate) const PROGRESSIVE_STRATEGY: RuleDoc = RuleDoc {
    id: "SG0301",
    name: "progressive-strategy",
    severity: Deny,
    elsewhere: None,
    overridable: true,
    implemented: true,
    practice: PROGRESSIVE,
    summary: "a production environment uses `direct`, `rolling` or `recreate` instead of canary or blue-green",
    docs: "\
**Why.** Canary and blue-green let shipgate judge the new version (on a share of traffic, or on
a preview route) before every user gets it, and return to the old one in one routing change.
`direct` switches all traffic at once, `rolling` moves traffic with instance counts and never
judges the new version on a share, `recreate` stops the old version first: a gap in service.

**What it checks.** The target is a production environment and its `strategy` is not `canary`
or `blue_green` (an environment without `strategy` is `direct`).

**How to fix.** Declare a canary or blue-green strategy.

**Example.**

```toml
[environments.production]
strategy = { canary = [ { weight = 5, hold = \"1m\" }, { weight = 50, hold = \"5m\" } ] }
# or: strategy = { blue_green = { preview = \"2m\" } }
```",
};

pub(crate) const MISSING_HEALTH_CHECK: RuleDoc = RuleDoc {
    id: "SG0302",
    name: "missing-health-check",
    severity: Deny,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: true,
    practice: PROGRESSIVE,
    summary: "`[run]` declares no `health` check",
    docs: "\
**Why.** Without a health check shipgate cannot tell an instance that started from one that
works: it would send traffic to an instance that is still booting or already broken, and could
not fail a deployment whose new instances never become ready.

**What it checks.** `[run] health` is absent. Deny for a production environment, warn
elsewhere.

**How to fix.** Add a probe: an HTTP path, a TCP connect, or a command.

**Example.**

```toml
[run]
health = { http = \"/healthz\", interval = \"1s\", timeout = \"2s\" }
```",
};

pub(crate) const MISSING_SMOKE_CHECKS: RuleDoc = RuleDoc {
    id: "SG0303",
    name: "missing-smoke-checks",
    severity: Deny,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: true,
    practice: SMOKE,
    summary: "the environment declares no `smoke` checks",
    docs: "\
**Why.** A health check says the process answers; a smoke check says the app works (the home
page renders, the API answers a real request). shipgate runs smoke checks against the new
version before it takes traffic and again after promotion, and staging's smoke checks are part
of what \"passed staging\" means.

**What it checks.** The target environment's `smoke` is empty. Deny for a production
environment; warn for an environment that a production environment `requires` (passing it
would prove less); quiet for other environments.

**How to fix.** Add requests that prove the app works.

**Example.**

```toml
[environments.production]
smoke = [ { http = \"/\", expect = 200 }, { http = \"/api/version\", contains = \"version\" } ]
```",
};

pub(crate) const NO_AUTOMATED_ANALYSIS: RuleDoc = RuleDoc {
    id: "SG0304",
    name: "no-automated-analysis",
    severity: Warn,
    elsewhere: None,
    overridable: true,
    implemented: true,
    practice: ROLLBACK,
    summary: "a production environment has no `analysis` limits or no `bake` period",
    docs: "\
**Why.** Automated rollback needs something to judge: without `analysis` a canary is rolled
back only when its instances fail their health checks, and without `bake` nobody watches the
release after full promotion.

**What it checks.** The target is a production environment without `analysis`, without
`bake`, or without either. A warning: health checks still roll back a release that crashes.

**How to fix.** Declare limits and a bake period.

**Example.**

```toml
[environments.production]
analysis = { error_rate_max = 0.01, p99_max = \"300ms\", compare = \"stable\" }
bake = \"10m\"
```",
};

pub(crate) const POST_DEPLOYMENT_CHECKLIST: RuleDoc = RuleDoc {
    id: "SG0305",
    name: "post-deployment-checklist",
    severity: Warn,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: true,
    practice: CHECKLIST,
    summary: "an item of the post-deployment checklist did not hold at the end of the deployment",
    docs: "\
**Why.** The post-deployment checklist (smoke tests pass, health checks answer, error rate and
latency within limits, monitoring active, rollback possible, change recorded, people notified)
is only worth something when it is evaluated every time.

**What it checks.** At the end of each deployment the server judges the checklist from what
the deployment recorded, the release's evidence and the environments' history, and stores it
with the deployment (`shipgate checklist DEPLOYMENT`, `GET /api/v1/deployments/{id}/checklist`);
each failed item is a finding of this rule. It does not refuse a deployment: it reports one
that has ended.

**How to fix.** Follow the failed item's hint (e.g. configure `[notify]` so people are told).

**Example.** \"no notification target: nobody was told about this deployment\".",
};

pub(crate) const RISKY_CHANGE_WITHOUT_FLAG: RuleDoc = RuleDoc {
    id: "SG0306",
    name: "risky-change-without-flag",
    severity: Deny,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: true,
    practice: FLAGS,
    summary: "a release marked risky does not put the change behind a feature flag that starts off",
    docs: "\
**Why.** A feature flag turns a risky change off in a second, without a deployment; a flag that
starts off lets the code reach production dark and be turned on gradually.

**What it checks.** A release marked risky, by `[app] risky = true` in its `shipgate.toml` or by
`shipgate release create --risky` (kept in its evidence), must declare, under `[flags.NAME]`, at
least one boolean flag whose default variant is `false` and that has no targeting rule, and that
the target environment has not turned on at run time: a `shipgate flags set` that serves a
non-`false` variant (to everyone, or to a rollout share above 0%) means the change is live the
moment it arrives. A killed flag, a reset one or one forced to its `false` variant still counts
as off.

**How to fix.** Put the change behind such a flag, deploy, then roll it out with
`shipgate flags set production NAME --rollout 5%` (and `shipgate flags kill` if it goes wrong).
Remove `risky = true` in the next release.

**Example.** A release with a new checkout flow, `risky = true`, and no `new-checkout` flag.",
};

// --- SG04xx configuration, parity, residency, drift -------------------------------------------

pub(crate) const ENVIRONMENT_PARITY: RuleDoc = RuleDoc {
    id: "SG0401",
    name: "environment-parity",
    severity: Warn,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: true,
    practice: PARITY,
    summary: "a required environment now runs a different configuration than the one being deployed",
    docs: "\
**Why.** Environments may differ only in scale (`shipgate validate` refuses anything else in
`[environments]`). But parity also means the environments run the same configuration *now*: if
staging has since moved on to another `shipgate.toml`, production is about to run a
configuration staging no longer runs, and a problem seen in one cannot be reproduced in the
other.

**What it checks.** For every environment in the target's `requires` where this release's
configuration once succeeded (otherwise SG0202 fires instead), the release that environment
runs now (its last succeeded deployment not later rolled back) has a different configuration
digest.

**How to fix.** Deploy the release the required environment runs now, or deploy this release
there again, so both run the same configuration.

**Example.** Production is about to get `1.4.2`; staging ran `1.4.2` but has since moved to
`1.5.0`, whose `[run] env` differs.",
};

pub(crate) const DATA_RESIDENCY: RuleDoc = RuleDoc {
    id: "SG0402",
    name: "data-residency",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: SOVEREIGNTY,
    summary: "the environment's `region` is not allowed for every data class of the app, or it declares none",
    docs: "\
**Why.** Data protection law and contracts restrict where some data may be stored or processed;
an app deployed to the wrong region breaks them from its first request.

**What it checks.** When the app declares data classes, the target environment declares a
`region`, and that region is allowed for every data class. A region ending in `*` in the
allowed list is a prefix (`eu-*` allows `eu-west-1`); regions compare without regard to case. A
data class with no allowed regions is allowed nowhere. An environment without `region` fires
too.

**How to fix.** Run the environment in an allowed region (`region = \"eu-central-1\"`), or, if
the data may legally live there, extend the allowed regions of the data class.

**Example.** Data class `personal` allows `eu-*`; `[environments.production] region =
\"us-east-1\"` fires.",
};

pub(crate) const DRIFT_UNKNOWN_VERSION: RuleDoc = RuleDoc {
    id: "SG0403",
    name: "drift-unknown-version",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: IAC,
    summary: "the environment runs instances of a version that no deployment put there",
    docs: "\
**Why.** Only the engine changes an environment. An instance of a version that is neither the
active release, nor the target of the running deployment, nor a release kept warm for rollback,
was started by hand (or by a bug), is in no ledger entry, and may be serving traffic nobody
reviewed.

**What it checks.** The agent's instances, except `stopped` and `draining` ones (the tail of
a finished deployment), whose version is not the active, deploying or a warm one.

**How to fix.** Find out who started them, stop them, and if that version is meant to run,
deploy it through shipgate.

**Example.** `production` runs `1.4.2`, and an instance `hotfix-1` of `1.4.3-hotfix` that
someone started with the agent's API.",
};

pub(crate) const DRIFT_REPLICAS: RuleDoc = RuleDoc {
    id: "SG0404",
    name: "drift-replicas",
    severity: Warn,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: true,
    practice: IAC,
    summary: "outside a deployment, fewer healthy or more running instances of the active release than `replicas`",
    docs: "\
**Why.** The environment should run what its spec declares. Fewer healthy instances than
`replicas` means less capacity and less redundancy than planned (a crash loop, a host
problem); more running than declared means someone scaled by hand.

**What it checks.** Outside a deployment, the instances of the active release that are
`healthy` number fewer than the desired `replicas`, or those not `stopped` or `draining`
number more. A warning: a degraded environment should not block the deployment that repairs
it.

**How to fix.** Look at `shipgate status` and the instances' logs for why they are not
healthy; stop instances that were started by hand; change `replicas` in the spec to change the
count.

**Example.** `production` declares 3 replicas; 2 instances are `healthy`, 1 is in
`crashloop`.",
};

pub(crate) const DRIFT_TRAFFIC: RuleDoc = RuleDoc {
    id: "SG0405",
    name: "drift-traffic",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: IAC,
    summary: "outside a deployment, traffic does not go 100% to the active release",
    docs: "\
**Why.** Traffic weights change only in a deployment's steps. Outside one, every request must
go to the active release; any other split was made by hand and is in no ledger entry.

**What it checks.** When no deployment is running and a release is active: the active release
gets 100% of the traffic (within 0.01%) and no other version gets any. When nothing is active,
no version gets traffic.

**How to fix.** Find out what changed the agent's routing, then put all traffic back on the
active release through shipgate.

**Example.** `production` sends 80% to `1.4.2` and 20% to `1.4.1` after a deployment
finished.",
};

pub(crate) const DRIFT_FOREIGN_LISTENER: RuleDoc = RuleDoc {
    id: "SG0406",
    name: "drift-foreign-listener",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: IAC,
    summary: "a process that is not shipgate's listens on the environment's address",
    docs: "\
**Why.** A second listener on the environment's port steals or splits its traffic (with
`SO_REUSEPORT`), or keeps shipgate's proxy from binding after a restart.

**What it checks.** A foreign listener reported by the agent whose port equals the port of
the environment's `listen` and whose address overlaps it (the same IP, or either one is the
wildcard `0.0.0.0`, `[::]` or `*`).

**How to fix.** Stop the process, or move the environment to another `listen` address.

**Example.** `nginx` (pid 812) listens on `0.0.0.0:80`, the address of `production`.",
};

// --- SG05xx database migrations ---------------------------------------------------------------

pub(crate) const MIGRATION_NOT_REHEARSED: RuleDoc = RuleDoc {
    id: "SG0501",
    name: "migration-not-rehearsed",
    severity: Deny,
    elsewhere: None,
    overridable: true,
    implemented: true,
    practice: MIGRATION_TESTING,
    summary: "production would apply a migration set with no rehearsal evidence for its exact digest",
    docs: "\
**Why.** A migration that worked on an empty test database can lock a large production table
for minutes or fail on real data.

**What it checks.** When the spec declares `[migrations]`, the release carries the digest of
its migration set (stored by `shipgate release create`) and a passing `shipgate migrate
rehearse` record for exactly that digest (the evidence file in `.shipgate/rehearsals/` when the
release was created). Production only.

**How to fix.** Run `shipgate migrate rehearse` against a copy of production data, then create
the release (a new label) from that folder so the evidence travels with it.

**Example.** Release `1.5.0` adds `expand/0007_add_index.sql`; no rehearsal recorded for the
set with it.",
};

pub(crate) const RISKY_MIGRATION: RuleDoc = RuleDoc {
    id: "SG0502",
    name: "risky-migration",
    severity: Deny,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: false,
    practice: MIGRATION_TESTING,
    summary: "`shipgate migrate lint` reports locking or destructive SQL in a pending migration",
    docs: "\
**Why.** Some SQL takes locks that stop every query on a table (`CREATE INDEX` without
`CONCURRENTLY`, `ALTER COLUMN TYPE`, adding a `NOT NULL` column with a volatile default).

**What it checks (planned).** The lint findings of `shipgate-migrate` for the release's pending
migrations become findings of this rule.

**How to fix.** Follow the lint finding's hint (e.g. `CREATE INDEX CONCURRENTLY`).

**Example.** `CREATE INDEX orders_customer ON orders (customer_id);`",
};

pub(crate) const DESTRUCTIVE_EXPAND_MIGRATION: RuleDoc = RuleDoc {
    id: "SG0503",
    name: "destructive-expand-migration",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: false,
    practice: DROP_COLUMNS,
    summary: "an `expand` migration drops or renames a table or column",
    docs: "\
**Why.** Expand migrations run before the new version takes traffic, while the old version
still runs and still uses the old schema. Dropping what it uses breaks it, and makes a rollback
impossible.

**What it checks (planned).** Destructive statements (`DROP TABLE`, `DROP COLUMN`, renames) in
`expand/` migrations.

**How to fix.** Move the statement to `contract/`: it runs one release later, once no running
version uses the column.

**Example.** `expand/0008_drop_legacy.sql` holds `ALTER TABLE users DROP COLUMN nickname;`.",
};

pub(crate) const CONTRACT_TOO_EARLY: RuleDoc = RuleDoc {
    id: "SG0504",
    name: "contract-too-early",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: false,
    practice: DROP_COLUMNS,
    summary: "a contract migration would run while a version that needs the old schema may still run",
    docs: "\
**Why.** A column may be dropped only once no running code (including the release kept warm for
rollback) reads it.

**What it checks (planned).** Contract migrations are applied only from the release after the
one that stopped using the schema, and only when no older release is active, deploying or warm.

**How to fix.** Ship the code change first; ship the contract migration with the next release.

**Example.** `1.5.0` stops reading `users.nickname` and drops it in the same release.",
};

pub(crate) const SLOW_MIGRATION: RuleDoc = RuleDoc {
    id: "SG0505",
    name: "slow-migration",
    severity: Warn,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: false,
    practice: MIGRATION_PERFORMANCE,
    summary: "the rehearsal measured a statement that ran long, held strong locks or rewrote a table",
    docs: "\
**Why.** A statement that holds an `ACCESS EXCLUSIVE` lock for 40 seconds is an outage even if
it succeeds.

**What it checks (planned).** The rehearsal's per-statement timings, locks and table rewrites
against limits.

**How to fix.** Split the statement, run it concurrently, or batch a backfill.

**Example.** `ALTER TABLE events ALTER COLUMN payload TYPE jsonb` rewrote 80 million rows in
6 minutes.",
};

// --- SG06xx secrets ---------------------------------------------------------------------------

pub(crate) const SECRET_IN_SOURCE: RuleDoc = RuleDoc {
    id: "SG0601",
    name: "secret-in-source",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: SECRETS_STORED,
    summary: "the secret scanner found a credential in the source tree, its git history or an env file",
    docs: "\
**Why.** A credential in source control is readable by everyone with the repository, forever
(history keeps it after the file changes).

**What it checks.** `shipgate release create` scans the release's source (the tree at its
commit, through `git archive`, or the folder when it is not a git checkout; env files included)
with the spec's `[scan]` allowlists, and stores only redacted findings with the release. Each
secret found is named here by rule, file and line; the finding never contains the secret.
A release created without a scan has nothing to judge and stays quiet.

**How to fix.** Rotate the credential where it was issued, remove it from the file (and the
history), and declare it under `[secrets]`.

**Example.** `src/settings.py` line 2 holds a GitHub token.",
};

pub(crate) const SECRET_IN_ARTIFACT: RuleDoc = RuleDoc {
    id: "SG0602",
    name: "secret-in-artifact",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: SECRETS_STORED,
    summary: "the secret scanner found a credential inside the release's artifact or image",
    docs: "\
**Why.** Whatever is inside an artifact or image is copied to every host and registry it goes
to.

**What it checks.** `shipgate release create` scans the artifact (file, directory, archive or
image layers, nested archives included) and stores only redacted findings with the release;
each is named here by rule, path and line.

**How to fix.** Rotate the credential, rebuild without it, and pass it at run time as a
declared secret.

**Example.** A `.env` file with `DATABASE_URL=postgres://app:…` inside the image.",
};

pub(crate) const SECRET_NOT_SET: RuleDoc = RuleDoc {
    id: "SG0603",
    name: "secret-not-set",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: SECRETS_VAULT,
    summary: "a secret declared under `[secrets]` has no value in the server's encrypted store or an external source for the environment",
    docs: "\
**Why.** Secret values live encrypted at rest in the server (or come from an external command,
a vault); the app gets them at start. A missing one makes the app start without it, or tempts
someone to put it in a file.

**What it checks.** Every name under `[secrets]` without a `command` has a value stored for
the target environment (`shipgate secrets set`; a removed one counts as missing). The
deployment is refused before any instance starts. A `command` source is run at instance start
instead; its failure fails the start with the command's error.

**How to fix.** `shipgate secrets set ENV NAME` (the value is read from standard input or a
prompt, never from the command line).

**Example.** `DATABASE_URL = {}` is declared; production has no value for it.",
};

pub(crate) const SECRET_AGE: RuleDoc = RuleDoc {
    id: "SG0604",
    name: "secret-age",
    severity: Warn,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: true,
    practice: ROTATE,
    summary: "a secret's value is older than its rotation period, or was exposed and not rotated since",
    docs: "\
**Why.** The longer a credential lives, the more places it may have leaked to; after a possible
compromise it must be rotated at once.

**What it checks.** For every secret with a `max_age` (`[secrets] DB = { max_age = \"90d\" }`),
the age of its newest stored version in the target environment. Values from a `command` have
no age shipgate knows and stay quiet. (Exposure tracking is planned.)

**How to fix.** `shipgate secrets rotate ENV NAME` (or `--all`); instances restart one by one.

**Example.** `STRIPE_KEY` in production was set 400 days ago.",
};

pub(crate) const SECRET_IN_SPEC: RuleDoc = RuleDoc {
    id: "SG0605",
    name: "secret-in-spec",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: SECRETS_VAULT,
    summary: "a literal credential in the release's `shipgate.toml`, e.g. in `[run] env` or a command's arguments",
    docs: "\
**Why.** `shipgate.toml` travels with every release and sits in source control; a value written
there is readable by everyone with the repository and lands in every release, unencrypted.

**What it checks.** The secret scanner (`shipgate-scan`, with the spec's `[scan]` allowlists)
runs over the release's `shipgate.toml`: credential formats, and passwords or keys assigned in
`[run] env` or anywhere else; and any value the server holds for the target environment (set
with `shipgate secrets set`, or printed by a `command` source) found in it, raw or escaped. Each
finding names the scanner's rule (or the secret, as `[secret:NAME]`) and line, never the value.
(A value under `[secrets]` is refused earlier, by `shipgate validate`.)

**How to fix.** Declare the name under `[secrets]`, set the value with `shipgate secrets set
ENV NAME`, remove the literal, rotate the credential (it is in the history now) and create a
new release.

**Example.** `[run] env = { API_TOKEN = \"ghp_…\" }`.",
};

// --- SG07xx signatures, approvals, windows, tokens --------------------------------------------

pub(crate) const UNSIGNED_RELEASE: RuleDoc = RuleDoc {
    id: "SG0701",
    name: "unsigned-release",
    severity: Deny,
    elsewhere: None,
    overridable: false,
    implemented: true,
    practice: SIGNING,
    summary: "the release has no signature",
    docs: "\
**Why.** A signature proves who built the artifact; without one, anything written to the store
could be deployed. This rule cannot be overridden.

**What it checks.** The release carries an Ed25519 signature (minisign format, prehashed) over
its digest, made by `shipgate release create --sign KEY`. Production only: staging may run
unsigned builds while signing is being set up.

**How to fix.** `shipgate keys generate`, add the printed public key to `[artifact]
trusted_keys`, and create the release again with `--sign shipgate.key`.

**Example.** A release created before signing was configured.",
};

pub(crate) const SIGNATURE_MISMATCH: RuleDoc = RuleDoc {
    id: "SG0702",
    name: "signature-mismatch",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: false,
    implemented: true,
    practice: SIGNING,
    summary: "the release's signature does not verify against the trusted keys",
    docs: "\
**Why.** A signature that does not verify means the artifact or its record was changed, or was
signed by a key nobody trusts. This rule cannot be overridden.

**What it checks.** The signature verifies over the release's digest (`sha256:<hex>` and a
newline) with one of `[artifact] trusted_keys`. Every instance start checks it again: the agent
digests the stored artifact and verifies the signature before it starts the process, and refuses
(with a ledger entry) when either fails.

**How to fix.** Find out how the artifact changed; create the release again from a trusted
build, signed with a trusted key.

**Example.** The stored artifact's digest no longer matches the signed one, or the release was
signed with a key that `trusted_keys` does not list.",
};

pub(crate) const FREEZE_WINDOW: RuleDoc = RuleDoc {
    id: "SG0703",
    name: "freeze-window",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: FRIDAYS,
    summary: "the deployment would run inside a `[windows] freeze`, or outside the environment's `allow_windows`",
    docs: "\
**Why.** Deploying when few people are around to watch (a Friday evening, the holidays) turns a
small problem into a long outage.

**What it checks.** The current time, read in the windows' IANA time zone (daylight-saving
changes included), falls in one of the `freeze` windows: every condition a window sets must hold
— `days` (weekdays), `from`/`to` (dates, both inclusive; `MM-DD` recurs every year),
`after`/`before` (times of day; `after` inclusive, `before` exclusive; `after` later than
`before` spans midnight). `[windows] freeze` names no environment, so it guards the production
environments; an environment's own `allow_windows` (same keys) apply to that environment,
production or not, which then takes deployments only inside one of them. The finding names the
window and when it ends (or when the next allowed window opens). Checked when the deployment is
planned and created, when it starts (after any approvals), and again right before traffic starts
shifting. An override (`--override freeze --reason …`, or `freeze-window`, `SG0703`) needs the
`override` permission and is recorded in the ledger with who gave it and why.

**How to fix.** Deploy after the freeze, or record an override with the reason.

**Example.**

```toml
[windows]
timezone = \"Europe/Berlin\"
freeze = [ { days = [\"fri\", \"sat\", \"sun\"], reason = \"weekend\" } ]
```",
};

pub(crate) const APPROVALS_MISSING: RuleDoc = RuleDoc {
    id: "SG0704",
    name: "approvals-missing",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: true,
    practice: WHO_APPROVES,
    summary: "the environment requires approvals the deployment does not have",
    docs: "\
**Why.** A second person who looked at the plan catches what the author missed.

**What it checks.** Enforced by the server rather than as a gate finding: a deployment to an
environment with `approvals` waits in `awaiting_approval`, and no step runs until
`approvals.required` distinct people (token names) that `approvals.from` allows approved the
plan it will run; approvals of another plan do not count (a new deployment with another plan
supersedes a waiting one; a plan that changes while waiting expires the votes given). Then the
optional `wait` passes, during which a rejection still stops it. Every vote is in the ledger.

**How to fix.** Ask an approver: `shipgate approve DEPLOYMENT`.

**Example.** `approvals = { required = 1, from = [\"role:approver\"] }` and none recorded.",
};

pub(crate) const SELF_APPROVAL: RuleDoc = RuleDoc {
    id: "SG0705",
    name: "self-approval",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: false,
    implemented: true,
    practice: WHO_APPROVES,
    summary: "the deployment's author approved it, and the environment forbids self-approval",
    docs: "\
**Why.** Approval means someone else looked. An override would be exactly the self-approval
the rule forbids, so it cannot be overridden.

**What it checks.** Enforced by the server when a vote is cast: the deployment's author (the
token name that created it, whichever of that name's tokens votes) cannot approve it in
production, and elsewhere only with `self_approval = true`. The refused vote answers 403 and is
recorded in the ledger (`deployment.approval-refused`).

**How to fix.** Ask another approver.

**Example.** `alice` deploys to production and approves her own deployment.",
};

pub(crate) const DEPLOYER_NOT_AUTHORIZED: RuleDoc = RuleDoc {
    id: "SG0706",
    name: "deployer-not-authorized",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: false,
    implemented: true,
    practice: WHO_APPROVES,
    summary: "the actor's role or token scope does not allow deploying to the environment",
    docs: "\
**Why.** Who may change production is decided by roles and per-environment token scopes, not by
who happens to have a token.

**What it checks.** Enforced by the server's API for every request, before any handler runs:
the token has the `deployer` role (or `admin`) with a scope that includes the target
environment; otherwise the request is refused (403) naming the missing permission or
environment. It cannot be overridden: an override is itself a deployment by someone without the
permission.

**How to fix.** Ask an admin for the scope, or ask someone who has it.

**Example.** A CI token scoped to `staging` deploys to `production`.",
};

pub(crate) const TOKEN_TOO_BROAD: RuleDoc = RuleDoc {
    id: "SG0707",
    name: "token-too-broad",
    severity: Warn,
    elsewhere: Some(Warn),
    overridable: true,
    implemented: true,
    practice: BROAD_PERMISSIONS,
    summary: "an API token has more roles or environments than its use needs",
    docs: "\
**Why.** A pipeline token that can do everything turns a leaked CI secret into a production
takeover.

**What it checks.** Each token's role, environment scope and expiry against what the audit
ledger shows it did in the last 90 days: an `admin` token only ever used to deploy, a `deployer`
token scoped to every environment that deployed to some, a token that never expires, a token
unused for 90 days. It judges tokens rather than a release, so it is shown by `shipgate token
list` (and `GET /api/v1/tokens`), not by the deployment gates.

**How to fix.** Issue a narrower token (the hint names the command) and revoke the broad one.

**Example.** An `admin` token used only for `deploy staging`.",
};

// --- SG08xx the ledger and shipgate's own state -----------------------------------------------

pub(crate) const LEDGER_TAMPERED: RuleDoc = RuleDoc {
    id: "SG0801",
    name: "ledger-tampered",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: false,
    implemented: false,
    practice: AUDIT,
    summary: "the audit ledger does not verify: an entry, the Merkle tree or a checkpoint signature is wrong",
    docs: "\
**Why.** If the ledger was changed, nobody can say what happened; deploying on top of it would
bury the evidence. This rule cannot be overridden.

**What it checks (planned).** `shipgate audit verify` over the ledger: entry hashes, the Merkle
tree, and the signed checkpoints.

**How to fix.** Investigate with `shipgate audit verify` (it names the first bad entry) and the
last exported checkpoint; restore the store from a verified backup.

**Example.** Entry 1042 was edited in the database.",
};

pub(crate) const UNRECORDED_CHANGE: RuleDoc = RuleDoc {
    id: "SG0802",
    name: "unrecorded-change",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: false,
    implemented: false,
    practice: AUDIT,
    summary: "a deployment or environment change has no ledger entry",
    docs: "\
**Why.** Every action lands in the ledger (who, what, when, result), in the same transaction as
the change. A change without its entry means something bypassed shipgate. This rule cannot be
overridden.

**What it checks (planned).** Every deployment event and environment row is covered by a ledger
entry.

**How to fix.** Investigate how the change was made; restore from a verified backup.

**Example.** An `environments` row changed by hand in the database.",
};

pub(crate) const INSECURE_STATE: RuleDoc = RuleDoc {
    id: "SG0803",
    name: "insecure-state",
    severity: Deny,
    elsewhere: Some(Deny),
    overridable: true,
    implemented: false,
    practice: STATE,
    summary: "shipgate's own state (database, keys, data directory) is readable by others",
    docs: "\
**Why.** shipgate's state holds the encrypted secrets, the signing keys and the ledger; whoever
can read or write it can change what runs.

**What it checks (planned).** The data directory is `0700`, the database, key and secret files
are `0600` and owned by shipgate's user.

**How to fix.** `chmod 700 DATA_DIR` and `chmod 600` the files, or restart the server, which
creates them so.

**Example.** `DATA_DIR/ledger.key` is `0644`.",
};

static CATALOG: [RuleDoc; 47] = [
    MUTABLE_ARTIFACT,
    IMAGE_TAG_WITHOUT_DIGEST,
    ARTIFACT_NOT_CONTENT_ADDRESSED,
    MUTABLE_VERSION_LABEL,
    VERSION_LABEL_REUSED,
    MISSING_TEST_EVIDENCE,
    TESTS_FAILED,
    TESTS_INCOMPLETE,
    NO_VULNERABILITY_SCAN,
    VULNERABLE_DEPENDENCY,
    STAGING_FIRST,
    CONFIG_THROUGH_STAGING,
    PRODUCTION_WITHOUT_STAGING,
    PLAN_CHANGED,
    UNKNOWN_ENVIRONMENT,
    PROGRESSIVE_STRATEGY,
    MISSING_HEALTH_CHECK,
    MISSING_SMOKE_CHECKS,
    NO_AUTOMATED_ANALYSIS,
    POST_DEPLOYMENT_CHECKLIST,
    RISKY_CHANGE_WITHOUT_FLAG,
    ENVIRONMENT_PARITY,
    DATA_RESIDENCY,
    DRIFT_UNKNOWN_VERSION,
    DRIFT_REPLICAS,
    DRIFT_TRAFFIC,
    DRIFT_FOREIGN_LISTENER,
    MIGRATION_NOT_REHEARSED,
    RISKY_MIGRATION,
    DESTRUCTIVE_EXPAND_MIGRATION,
    CONTRACT_TOO_EARLY,
    SLOW_MIGRATION,
    SECRET_IN_SOURCE,
    SECRET_IN_ARTIFACT,
    SECRET_NOT_SET,
    SECRET_AGE,
    SECRET_IN_SPEC,
    UNSIGNED_RELEASE,
    SIGNATURE_MISMATCH,
    FREEZE_WINDOW,
    APPROVALS_MISSING,
    SELF_APPROVAL,
    DEPLOYER_NOT_AUTHORIZED,
    TOKEN_TOO_BROAD,
    LEDGER_TAMPERED,
    UNRECORDED_CHANGE,
    INSECURE_STATE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_unique_well_formed_and_sorted() {
        let mut previous = "";
        for rule in catalog() {
            assert!(
                rule.id.len() == 6 && rule.id.starts_with("SG") && rule.id[2..].bytes().all(|b| b.is_ascii_digit()),
                "{}",
                rule.id
            );
            assert!(shipgate_spec::values::Name::parse(rule.name).is_ok(), "{} is not kebab-case", rule.name);
            assert!(rule.id > previous, "{} is out of order", rule.id);
            previous = rule.id;
            assert_eq!(catalog().iter().filter(|other| other.name == rule.name).count(), 1, "{}", rule.name);
            assert!(!rule.summary.ends_with('.'), "{}: no trailing period", rule.id);
            assert!(rule.docs.contains("**Why.**") && rule.docs.contains("**How to fix.**"), "{}", rule.id);
            assert!(rule.docs.contains("**Example.**"), "{}", rule.id);
        }
    }

    #[test]
    fn every_practice_is_enforced_by_some_rule() {
        for practice in PRACTICES {
            assert!(catalog().iter().any(|rule| rule.practice == practice), "no rule for `{practice}`");
        }
        for rule in catalog() {
            assert!(PRACTICES.contains(&rule.practice), "{}", rule.id);
        }
    }

    /// DESIGN.md lives beside the repository (`../shared`); when it is there, its rule table
    /// must list exactly [`PRACTICES`], so a new practice cannot be forgotten here.
    #[test]
    fn practices_match_the_design_rule_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/DESIGN.md");
        let Ok(design) = std::fs::read_to_string(&path) else {
            eprintln!("SKIPPED: {} is not here; the practices were not compared with it", path.display());
            return;
        };
        let table = design.split("## Rule catalog").nth(1).and_then(|rest| rest.split("\n## ").next()).unwrap_or("");
        let rows: Vec<&str> = table
            .lines()
            .filter(|line| line.starts_with("| ") && !line.starts_with("| ---") && !line.starts_with("| practice"))
            .filter_map(|line| line.split('|').nth(1))
            .map(str::trim)
            .collect();
        assert_eq!(rows, PRACTICES);
    }

    #[test]
    fn ledger_integrity_signature_and_separation_of_duties_rules_cannot_be_overridden() {
        for id in ["SG0103", "SG0205", "SG0701", "SG0702", "SG0705", "SG0706", "SG0801", "SG0802"] {
            assert!(!rule(id).is_some_and(|rule| rule.overridable), "{id}");
            assert!(rule(id).is_some(), "{id}");
        }
        let fixed: Vec<&str> = catalog().iter().filter(|rule| !rule.overridable).map(|rule| rule.id).collect();
        assert_eq!(fixed, ["SG0103", "SG0205", "SG0701", "SG0702", "SG0705", "SG0706", "SG0801", "SG0802"]);
    }

    #[test]
    fn lookup_by_id_or_name_and_docs_links() {
        assert_eq!(rule("SG0101").map(|rule| rule.name), Some("mutable-artifact"));
        assert_eq!(rule("staging-first").map(|rule| rule.id), Some("SG0201"));
        assert_eq!(rule("SG9999"), None);
        assert_eq!(
            MUTABLE_ARTIFACT.docs_url(),
            "https://github.com/shipgate/shipgate/blob/main/crates/shipgate-policy/RULES.md#sg0101"
        );
    }
}

//! The model of `shipgate.toml`.
//!
//! The top-level sections are the template every environment inherits; an environment
//! adds only scale parameters and its own delivery policy (see [`Environment`]). The
//! serde and schemars attributes here describe the file for the JSON Schema and for JSON
//! output; reading the file is done by `sections.rs`, which reports every error at once.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use crate::values::{
    ByteSize, Date, Duration, Fraction, Listen, Name, Signal, TimeOfDay, TimeZoneName, Weekday, Weight,
};

/// A whole `shipgate.toml`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "shipgate.toml", description = "How shipgate builds, tests, checks and deploys one app.")]
pub struct Spec {
    pub app: App,
    pub artifact: Artifact,
    pub run: Run,
    #[serde(default)]
    pub pipeline: Pipeline,
    /// Secrets the app needs, by name. Their values never go in this file.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretDecl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrations: Option<Migrations>,
    /// Where the app runs. Each environment inherits every top-level section.
    pub environments: BTreeMap<String, Environment>,
    #[serde(default)]
    pub windows: Windows,
    /// Per-rule severity overrides, by rule id (`SG0101`) or name (`mutable-artifact`).
    #[serde(default)]
    pub policy: BTreeMap<String, Severity>,
    #[serde(default)]
    pub notify: Notify,
    #[serde(default)]
    pub scan: Scan,
    /// Feature flags, by name (`[flags.NAME]`), served to the app's instances over OFREP and
    /// changed per environment at run time with `shipgate flags set|kill`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flags: BTreeMap<String, FlagDecl>,
}

/// The app this file describes.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// A DNS label: lowercase letters, digits and `-`.
    pub name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The kinds of data the app holds, each with the regions where that data may live
    /// (`personal = ["eu-*"]`; a trailing `*` is a prefix). Every environment must declare a
    /// `region` allowed for every class (rule SG0402).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data_classes: BTreeMap<String, Vec<String>>,
    /// This release holds a risky change: the gates then require it to sit behind a flag that
    /// starts off in production (rule SG0306). The file travels with each release, so remove
    /// it in the next one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub risky: bool,
}

/// A feature flag in flagd's shape (`[flags.NAME]`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagDecl {
    /// The flag's values by variant name, all of one JSON type (booleans, strings, numbers or
    /// tables), e.g. `{ on = true, off = false }`.
    pub variants: BTreeMap<String, serde_json::Value>,
    /// The variant served when no targeting rule and no run-time setting decides.
    pub default: String,
    /// A JsonLogic rule (flagd's operators: `fractional`, `sem_ver`, `starts_with`,
    /// `ends_with`) that evaluates to a variant name; written as a TOML table or as a JSON
    /// string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targeting: Option<serde_json::Value>,
}

/// What runs, and whose signatures it must carry.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Artifact {
    #[serde(flatten)]
    pub source: ArtifactSource,
    /// Public keys (minisign format, the one-line `RW…` form) whose signatures this app's
    /// releases may carry. A signed release must verify with one of them; production refuses
    /// unsigned releases (rules SG0701, SG0702), and every instance start checks the stored
    /// artifact against its signature again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_keys: Vec<String>,
}

/// A file, directory or archive built by the pipeline (process targets), or a container image
/// pinned by digest (container targets). Exactly one of the two.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactSource {
    /// A path relative to this file: a binary, a directory or a `.tar.gz`.
    Path(String),
    /// A container image reference, pinned by digest (`registry/app@sha256:…`).
    Image(String),
}

/// How an instance of the app is started, checked and stopped.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// The program and its arguments. `${PORT}` is replaced by the port the instance must
    /// listen on; the same value is also in the `PORT` environment variable.
    pub command: Vec<String>,
    /// Environment variables (not secrets: declare those under `[secrets]`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory, relative to the artifact's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// How long a removed instance keeps serving requests already sent to it.
    #[serde(default = "defaults::drain")]
    pub drain: Duration,
    /// The signal that asks an instance to stop.
    #[serde(default = "defaults::stop_signal")]
    pub stop_signal: Signal,
    /// How long an instance may take to exit after `stop_signal` before it is killed.
    #[serde(default = "defaults::stop_grace")]
    pub stop_grace: Duration,
}

/// How shipgate decides an instance is healthy. Exactly one of `http`, `tcp`, `exec`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    #[serde(flatten)]
    pub probe: Probe,
    #[serde(default = "defaults::health_interval")]
    pub interval: Duration,
    #[serde(default = "defaults::health_timeout")]
    pub timeout: Duration,
    /// How long a new instance may take to pass its probe before the deployment that started
    /// it fails and rolls back.
    #[serde(default = "defaults::health_startup")]
    pub startup: Duration,
    /// Consecutive successes before an instance counts as healthy.
    #[serde(default = "defaults::healthy")]
    pub healthy: u32,
    /// Consecutive failures before an instance counts as unhealthy.
    #[serde(default = "defaults::unhealthy")]
    pub unhealthy: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// `GET` this path on the instance's port; any 2xx or 3xx answer is a success.
    Http(String),
    /// Connect to the instance's port.
    Tcp(bool),
    /// Run this command; exit status 0 is a success.
    Exec(Vec<String>),
}

/// Shell commands for the stages of the pipeline, run in this file's folder.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    #[serde(default)]
    pub lint: Vec<String>,
    #[serde(default)]
    pub build: Vec<String>,
    #[serde(default)]
    pub test: Vec<String>,
    /// Scanners whose SARIF output becomes findings.
    #[serde(default)]
    pub scan: Vec<String>,
    /// Where the test commands leave JUnit XML reports (a glob).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub junit: Option<String>,
}

/// A declared secret. The value is set with `shipgate secrets set ENV NAME` (stored encrypted
/// in the server), or comes from `command` at each instance start.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretDecl {
    /// A command whose standard output is the value (e.g. `op read op://vault/db/url`), run by
    /// the server with `sh -c` at each instance start; `${ENV}` is replaced by the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// How long `command` may take (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Deliver the value as a file (mode 0400, on tmpfs, removed when the instance stops) whose
    /// path is in `NAME_FILE`, instead of in the variable `NAME`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub file: bool,
    /// A value older than this is a warning of the gates (`secret-age`), e.g. `90d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Duration>,
}

/// Database migrations (PostgreSQL).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Migrations {
    /// The folder with `expand/` and `contract/` migrations.
    #[serde(default = "defaults::migrations_dir")]
    pub dir: String,
    /// The name of the declared secret that holds the database URL.
    pub database: String,
    /// Another framework's command instead of shipgate's own applier, e.g. `alembic upgrade
    /// head`; run by `sh -c` with the database URL in the variable named by `database`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// One place the app runs. Everything not here comes from the top-level sections.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Where shipgate's proxy accepts this environment's traffic.
    pub listen: Listen,
    #[serde(default = "defaults::replicas")]
    pub replicas: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Environments a release must have passed before it may come here.
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<Approvals>,
    #[serde(default)]
    pub strategy: Strategy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// How long the new release is watched after full promotion before the deployment
    /// counts as done (and the previous release is let go).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake: Option<Duration>,
    /// Checks run against the new version before it takes traffic and after promotion.
    #[serde(default)]
    pub smoke: Vec<SmokeCheck>,
    /// When set, deployments to this environment run only inside one of these windows (same
    /// keys as a `[windows] freeze`, read in `[windows] timezone`; `reason` names the window,
    /// e.g. `office hours`). Outside them SG0703 refuses, as a freeze does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_windows: Vec<Freeze>,
}

/// Limits for each instance.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// CPU cores, e.g. `0.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
}

/// Who must approve a deployment to this environment.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approvals {
    pub required: u32,
    /// `role:NAME` or `user:NAME`; roles are `viewer`, `deployer`, `approver`, `admin`.
    #[serde(default)]
    pub from: Vec<Approver>,
    /// Whether the author of a deployment may approve it. Production never lets the author
    /// approve, whatever this says.
    #[serde(default)]
    pub self_approval: bool,
    /// How long a deployment still waits after its last approval before it starts, so that
    /// someone can still reject it, e.g. `15m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Approver {
    Role(Role),
    User(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Deployer,
    Approver,
    Admin,
}

/// How a new release replaces the running one.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Start the new instances, wait for health, switch all traffic at once.
    #[default]
    Direct,
    /// Send a growing share of traffic to the new version, judging it at each step.
    Canary(Vec<CanaryStep>),
    /// Start the new version beside the old, check it on a preview route, then switch.
    BlueGreen(BlueGreen),
    /// Replace instances a batch at a time, traffic following the instance counts.
    Rolling(Rolling),
    /// Stop the old version, then start the new one: a gap in service. For environments where
    /// two versions must never run at once; production refuses it.
    Recreate,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rolling {
    /// How many instances are replaced at a time.
    #[serde(default = "defaults::rolling_batch")]
    pub batch: u32,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryStep {
    /// Percent of requests sent to the new version during this step.
    pub weight: Weight,
    /// How long to stay at this weight while analysis watches.
    pub hold: Duration,
    /// Wait for `shipgate promote` after the hold.
    #[serde(default)]
    pub pause: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlueGreen {
    /// How long the new version is checked on the preview route before the switch.
    #[serde(default = "defaults::preview")]
    pub preview: Duration,
    /// Switch without waiting for `shipgate promote`.
    #[serde(default = "defaults::auto_promote")]
    pub auto_promote: bool,
    /// How long the old version stays warm after the switch, for an instant rollback.
    #[serde(default = "defaults::scale_down_delay")]
    pub scale_down_delay: Duration,
}

/// How the new version is judged while it holds a share of traffic (and, for the absolute
/// limits, during `bake`): limits it must stay within, a comparison with the stable version
/// serving beside it, and metrics from other sources.
///
/// Every look at the data is valid: a `fail` comes as soon as the evidence suffices, and a new
/// version as good as the stable one fails in at most `false_positive_rate` of holds.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Analysis {
    /// The largest share of the new version's requests that may fail (5xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate_max: Option<Fraction>,
    /// Half of the new version's requests must be faster than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_max: Option<Duration>,
    /// 95% of the new version's requests must be faster than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_max: Option<Duration>,
    /// 99% of the new version's requests must be faster than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_max: Option<Duration>,
    /// Compare the new version with the stable one serving at the same time.
    #[serde(default)]
    pub compare: Compare,
    /// The chance, per hold, that a new version as good as the stable one (and within every
    /// limit) is failed anyway. Smaller needs more evidence, so it decides more slowly.
    #[serde(default = "defaults::false_positive_rate")]
    pub false_positive_rate: Fraction,
    /// The smallest regression worth failing a new version for; anything smaller never fails
    /// the comparison with the stable version, however much data there is.
    #[serde(default)]
    pub min_effect: MinEffect,
    /// What a hold that ends without enough data to judge does: wait for `shipgate deploy
    /// resume` or `abort` (`pause`), roll back, or promote.
    #[serde(default)]
    pub on_inconclusive: OnInconclusive,
    /// The Prometheus server that `prometheus` metrics query, e.g. `http://127.0.0.1:9090`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_url: Option<String>,
    /// Further checks, each from Prometheus, a web endpoint or a command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
}

impl Default for Analysis {
    fn default() -> Self {
        Analysis {
            error_rate_max: None,
            p50_max: None,
            p95_max: None,
            p99_max: None,
            compare: Compare::default(),
            false_positive_rate: defaults::false_positive_rate(),
            min_effect: MinEffect::default(),
            on_inconclusive: OnInconclusive::default(),
            prometheus_url: None,
            metrics: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    #[default]
    Stable,
    None,
}

/// The smallest differences from the stable version that count as a regression.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MinEffect {
    /// How much larger the new version's error rate must be than the stable one's, as a
    /// difference of fractions: `0.005` is half a percentage point (1.0% → 1.5%).
    #[serde(default = "defaults::min_effect_error_rate")]
    pub error_rate: Fraction,
    /// How much larger the share of the new version's requests slower than the stable
    /// version's p95 must be than the stable version's own share (5%): `0.025` means 7.5%.
    #[serde(default = "defaults::min_effect_latency")]
    pub latency: Fraction,
}

impl Default for MinEffect {
    fn default() -> Self {
        MinEffect { error_rate: defaults::min_effect_error_rate(), latency: defaults::min_effect_latency() }
    }
}

/// What happens when a hold ends without enough data to pass or fail the new version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnInconclusive {
    /// Wait for `shipgate deploy resume` (go on) or `shipgate deploy abort` (roll back).
    #[default]
    Pause,
    /// Roll back, as for a failure.
    Rollback,
    /// Go on, as for a pass.
    Promote,
}

/// A check from outside shipgate's own request metrics, judged against `min` and `max` (and,
/// for `web`, its `success` condition; for `command`, its exit status).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// Lowercase letters, digits, `_` and `-`; unique within the environment.
    pub name: String,
    #[serde(flatten)]
    pub source: MetricSource,
    /// The value must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The value must be at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// How often the metric is read during a hold or bake.
    #[serde(default = "defaults::metric_interval")]
    pub interval: Duration,
}

/// Where a metric's value comes from. Text may use `{{app}}`, `{{env}}` and `{{version}}`
/// (the new version's label).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricSource {
    /// A PromQL expression returning one number (a scalar, or a vector of one series), read
    /// from `prometheus_url` with an instant query.
    Prometheus(String),
    /// An HTTP GET returning JSON.
    Web(WebCheck),
    /// A command: exit status 0 is a success; when `min` or `max` is set, the last line of
    /// its output is the value. Its output is kept as evidence.
    Command(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebCheck {
    /// An `http://` or `https://` URL.
    pub url: String,
    /// A JSON Pointer (RFC 6901) to the value in the response, e.g. `/data/ratio`; the whole
    /// document when empty.
    #[serde(default)]
    pub select: String,
    /// A condition the selected value must meet, e.g. `>= 0.99` or `== "ok"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<Condition>,
}

/// `OPERATOR VALUE`, where the operator is `==`, `!=`, `<`, `<=`, `>` or `>=` and the value a
/// JSON literal: a number, a string in double quotes, `true`, `false` or `null`. Ordering
/// operators take a number.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub operator: Operator,
    pub value: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Operator {
    pub const ALL: [(&str, Operator); 6] = [
        ("==", Operator::Eq),
        ("!=", Operator::Ne),
        ("<=", Operator::Le),
        (">=", Operator::Ge),
        ("<", Operator::Lt),
        (">", Operator::Gt),
    ];

    pub fn as_str(self) -> &'static str {
        Operator::ALL.iter().find(|(_, operator)| *operator == self).map_or("==", |(text, _)| text)
    }
}

impl Condition {
    /// Reads `OPERATOR VALUE`, e.g. `>= 0.99`.
    pub fn parse(text: &str) -> Result<Condition, crate::values::Invalid> {
        use crate::values::Invalid;
        let example = "write an operator and a JSON value, e.g. `>= 0.99`, `== \"ok\"` or `== true`";
        let trimmed = text.trim();
        let Some((symbol, operator)) = Operator::ALL.iter().find(|(symbol, _)| trimmed.starts_with(symbol)) else {
            return Err(Invalid::new(format!("condition `{text}` does not start with an operator")).hint(example));
        };
        let literal = trimmed[symbol.len()..].trim();
        let value = match serde_json::from_str::<serde_json::Value>(literal) {
            Ok(value) if !value.is_array() && !value.is_object() => value,
            _ => {
                let bare_word = !literal.is_empty()
                    && !literal
                        .starts_with(|c: char| c == '"' || c == '-' || c == '[' || c == '{' || c.is_ascii_digit());
                let hint = if bare_word {
                    format!("put text in double quotes, e.g. `{symbol} \"{}\"`", literal.trim_matches('\''))
                } else {
                    example.to_owned()
                };
                return Err(Invalid::new(format!(
                    "`{literal}` in condition `{text}` is not a JSON number, string, `true`, `false` or `null`"
                ))
                .hint(hint));
            }
        };
        if !matches!(operator, Operator::Eq | Operator::Ne) && !value.is_number() {
            return Err(Invalid::new(format!(
                "`{symbol}` in condition `{text}` compares numbers, but `{literal}` is not one"
            ))
            .hint("use `==` or `!=` for text, `true`, `false` and `null`"));
        }
        Ok(Condition { operator: *operator, value })
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.operator.as_str(), self.value)
    }
}

impl Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for Condition {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Condition".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^\\s*(==|!=|<=|>=|<|>)\\s*\\S",
            "description": "An operator (`==`, `!=`, `<`, `<=`, `>`, `>=`) and a JSON value, e.g. `>= 0.99` or `== \"ok\"`.",
        })
    }
}
/// One smoke check: an HTTP request to the new version, or a command.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmokeCheck {
    #[serde(flatten)]
    pub probe: SmokeProbe,
    /// The HTTP status the check expects.
    #[serde(default = "defaults::smoke_status")]
    pub expect: u16,
    /// Text the response body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    #[serde(default = "defaults::smoke_timeout")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmokeProbe {
    /// A path requested with `GET`.
    Http(String),
    /// A command; `SHIPGATE_URL` holds the new version's address.
    Exec(Vec<String>),
}

/// When deployments may not run without an explicit, recorded override.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Windows {
    /// The IANA time zone in which days, dates and times are read.
    #[serde(default = "TimeZoneName::utc")]
    pub timezone: TimeZoneName,
    #[serde(default)]
    pub freeze: Vec<Freeze>,
}

impl Default for Windows {
    fn default() -> Self {
        Windows { timezone: TimeZoneName::utc(), freeze: Vec::new() }
    }
}

/// One freeze: on the given weekdays and/or between two dates (inclusive), optionally
/// only between two times of day.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    #[serde(default)]
    pub days: Vec<Weekday>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<TimeOfDay>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<TimeOfDay>,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Deny,
    Warn,
}

/// Who hears about deployments.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    #[serde(default)]
    pub webhook: Vec<Webhook>,
    #[serde(default)]
    pub command: Vec<NotifyCommand>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// An `http://` or `https://` URL that receives a JSON `POST` per event. Exactly one of
    /// `url` and `url_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The name of an environment variable of `shipgate server` that holds the URL, for URLs
    /// that are secrets (Slack's incoming webhooks): the release's secret scan refuses them in
    /// shipgate.toml.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
    /// The body: `json` (shipgate's own fields) or `slack` (`text` and `blocks`, for Slack and
    /// the chat tools that accept its incoming-webhook format).
    #[serde(default)]
    pub format: WebhookFormat,
    /// Which events; all when empty.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    #[default]
    Json,
    Slack,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyCommand {
    /// Run with the event as JSON on standard input.
    pub run: Vec<String>,
    #[serde(default)]
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub enum Event {
    #[serde(rename = "deployment.started")]
    DeploymentStarted,
    #[serde(rename = "deployment.succeeded")]
    DeploymentSucceeded,
    #[serde(rename = "deployment.failed")]
    DeploymentFailed,
    #[serde(rename = "deployment.rolled_back")]
    DeploymentRolledBack,
    #[serde(rename = "approval.requested")]
    ApprovalRequested,
    #[serde(rename = "gate.refused")]
    GateRefused,
}

impl Event {
    pub const ALL: [(&str, Event); 6] = [
        ("deployment.started", Event::DeploymentStarted),
        ("deployment.succeeded", Event::DeploymentSucceeded),
        ("deployment.failed", Event::DeploymentFailed),
        ("deployment.rolled_back", Event::DeploymentRolledBack),
        ("approval.requested", Event::ApprovalRequested),
        ("gate.refused", Event::GateRefused),
    ];
}

/// What `shipgate scan` and the release gate's secret scan may ignore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scan {
    /// Globs of files never scanned, relative to the scanned folder (or, in git history and
    /// archives, to the repository or archive root), e.g. `tests/fixtures/**`.
    #[serde(default)]
    pub allow_paths: Vec<String>,
    /// Regular expressions: a secret that one of them matches is not reported.
    #[serde(default)]
    pub allow_regexes: Vec<String>,
    /// Words: a secret that contains one of them, in any case, is not reported.
    #[serde(default)]
    pub stopwords: Vec<String>,
}

/// Default values, shared by the reader and the schema so they cannot disagree.
pub mod defaults {
    use crate::values::{Duration, Fraction, Signal};

    pub fn drain() -> Duration {
        Duration::from_secs(30)
    }
    pub fn stop_signal() -> Signal {
        Signal::Term
    }
    pub fn stop_grace() -> Duration {
        Duration::from_secs(10)
    }
    pub fn health_interval() -> Duration {
        Duration::from_secs(1)
    }
    pub fn health_timeout() -> Duration {
        Duration::from_secs(2)
    }
    pub fn health_startup() -> Duration {
        Duration::from_secs(60)
    }
    pub fn healthy() -> u32 {
        2
    }
    pub fn unhealthy() -> u32 {
        3
    }
    pub fn migrations_dir() -> String {
        "migrations".to_owned()
    }
    pub fn replicas() -> u32 {
        1
    }
    pub fn rolling_batch() -> u32 {
        1
    }
    pub fn preview() -> Duration {
        Duration::from_secs(60)
    }
    pub fn auto_promote() -> bool {
        true
    }
    pub fn scale_down_delay() -> Duration {
        Duration::from_secs(600)
    }
    pub fn smoke_status() -> u16 {
        200
    }
    pub fn smoke_timeout() -> Duration {
        Duration::from_secs(10)
    }
    /// 1%: one good new version in a hundred is failed by chance, at most.
    pub fn false_positive_rate() -> Fraction {
        Fraction::new(0.01).expect("a constant between 0 and 1")
    }
    /// Half a percentage point: a new version that fails one request in 200 more than the
    /// stable one is worth stopping; less is within what retries and noise absorb.
    pub fn min_effect_error_rate() -> Fraction {
        Fraction::new(0.005).expect("a constant between 0 and 1")
    }
    /// Two and a half percentage points: 7.5% of the new version's requests slower than the
    /// stable version's p95, where 5% are expected, is half as many slow requests again.
    pub fn min_effect_latency() -> Fraction {
        Fraction::new(0.025).expect("a constant between 0 and 1")
    }
    pub fn metric_interval() -> Duration {
        Duration::from_secs(10)
    }
}

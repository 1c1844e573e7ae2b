//! Reading each section of `shipgate.toml` (see `decode.rs` for the machinery).

use std::collections::BTreeMap;

use crate::decode::{Decode, Decoder, Fields, Node, decode_from_str};
use crate::diagnostic::{Code, Diagnostic};
use crate::model::*;
use crate::suggest;
use crate::values::{
    ByteSize, Date, Duration, Fraction, Invalid, Listen, Name, Signal, TimeOfDay, TimeZoneName, Weekday, Weight,
    is_env_var_name, quoted_all, quoted_list,
};

decode_from_str!(ByteSize, Listen, Name, Signal, TimeOfDay, TimeZoneName, Weekday);

impl Decode for Duration {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        if let Some(number) = node.as_integer() {
            node.wrong_type_hint(
                decoder,
                "a duration with a unit",
                format!("write `{number}s` for seconds or `{number}ms` for milliseconds"),
            );
            return None;
        }
        node.parse_str(decoder, Duration::parse)
    }
}

impl Decode for Weight {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let percent = node.as_number(decoder)?;
        Weight::from_percent(percent).map_err(|invalid| decoder.invalid(node, invalid)).ok()
    }
}

impl Decode for Fraction {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let value = node.as_number(decoder)?;
        Fraction::new(value).map_err(|invalid| decoder.invalid(node, invalid)).ok()
    }
}

impl Decode for Date {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        match node.as_datetime() {
            Some(text) => Date::parse(&text).map_err(|invalid| decoder.invalid(node, invalid)).ok(),
            None => node.parse_str(decoder, Date::parse),
        }
    }
}

/// A whole number within `range`, e.g. replicas or HTTP status codes.
fn bounded<T: TryFrom<i64>>(
    node: &Node<'_>,
    decoder: &mut Decoder,
    range: std::ops::RangeInclusive<i64>,
    what: &str,
) -> Option<T> {
    let Some(value) = node.as_integer() else {
        node.wrong_type(decoder, "a whole number");
        return None;
    };
    if !range.contains(&value) {
        let hint = format!("use a whole number from {} to {}", range.start(), range.end());
        decoder.invalid(node, Invalid::new(format!("{what} `{value}` is out of range")).hint(hint));
        return None;
    }
    T::try_from(value).ok()
}

/// A non-empty list of non-empty strings (a command and its arguments).
fn command(node: &Node<'_>, decoder: &mut Decoder) -> Option<Vec<String>> {
    let Some(words) = Vec::<String>::decode(node, decoder) else {
        if node.value().and_then(|value| value.as_str()).is_some() {
            // Replace the generic "must be an array" with advice.
            if let Some(last) = decoder.diagnostics.last_mut() {
                last.hint = Some("write the program and its arguments as a list, e.g. `[\"./server\", \"--port\", \"${PORT}\"]`; use `[\"sh\", \"-c\", \"…\"]` for a shell line".to_owned());
            }
        }
        return None;
    };
    if words.first().is_none_or(String::is_empty) {
        decoder.invalid(
            node,
            Invalid::new("the command is empty").hint("name the program to run first, e.g. `[\"./server\"]`"),
        );
        return None;
    }
    Some(words)
}

/// Reads the fields of an enum written as a table with exactly one of `variants` set.
fn one_of<'a>(
    fields: &mut Fields<'a>,
    decoder: &mut Decoder,
    variants: &[&'static str],
) -> Option<(&'static str, Node<'a>)> {
    let present: Vec<&'static str> = variants.iter().copied().filter(|variant| fields.contains(variant)).collect();
    for variant in variants {
        fields.mark_asked(variant);
    }
    match present.as_slice() {
        [one] => fields.node(one).map(|node| (*one, node)),
        [] => {
            decoder.report(
                Diagnostic::new(
                    Code::MissingKey,
                    fields.node.span.clone(),
                    format!("{} needs one of {}", fields.display_name(), quoted_list(variants.iter().copied())),
                )
                .with_hint(format!("add one of {}", quoted_list(variants.iter().copied()))),
            );
            None
        }
        [_, second, ..] => {
            let span = fields.key_span(second).unwrap_or_else(|| fields.node.span.clone());
            decoder.report(
                Diagnostic::new(
                    Code::Conflict,
                    span,
                    format!(
                        "{} sets {}, but only one of them may be set",
                        fields.display_name(),
                        quoted_all(present.iter().copied())
                    ),
                )
                .with_hint("keep one and remove the others"),
            );
            None
        }
    }
}

impl Decode for App {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let name = fields.required(decoder, "name", "name = \"my-app\"");
        let description = fields.optional(decoder, "description");
        let data_classes = fields.optional(decoder, "data_classes").unwrap_or_default();
        let risky = fields.optional(decoder, "risky").unwrap_or(false);
        fields.finish(decoder);
        Some(App { name: name?, description, data_classes, risky })
    }
}

impl Decode for Artifact {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let chosen = one_of(&mut fields, decoder, &["path", "image"]);
        let trusted_keys = fields.node("trusted_keys").and_then(|node| trusted_keys(&node, decoder));
        fields.finish(decoder);
        let (variant, value) = chosen?;
        let text = String::decode(&value, decoder)?;
        if text.is_empty() {
            decoder.invalid(
                &value,
                Invalid::new(format!("`{variant}` is empty"))
                    .hint("name the file the build produces, e.g. `target/release/my-app`"),
            );
            return None;
        }
        let source = if variant == "path" { ArtifactSource::Path(text) } else { ArtifactSource::Image(text) };
        Some(Artifact { source, trusted_keys: trusted_keys.unwrap_or_default() })
    }
}

/// `[artifact] trusted_keys`: minisign public keys in their one-line form, each checked here so
/// that a typo is found when the file is validated, not when production refuses a release.
fn trusted_keys(node: &Node<'_>, decoder: &mut Decoder) -> Option<Vec<String>> {
    let keys: Vec<Option<String>> = node
        .elements(decoder)?
        .iter()
        .map(|element| {
            element.parse_str(decoder, |text| match shipgate_sign::PublicKey::parse(text) {
                Ok(_) => Ok(text.trim().to_owned()),
                Err(error) => Err(Invalid::new(format!("not a minisign public key: {error}")).hint(
                    "paste the second line of the `.pub` file that `shipgate keys generate` (or `minisign -G`) wrote, e.g. `\"RWQ…\"`",
                )),
            })
        })
        .collect();
    keys.into_iter().collect()
}

impl Decode for Run {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let command = match fields.node("command") {
            Some(node) => command(&node, decoder),
            None => {
                fields.missing(decoder, "command", "command = [\"./my-app\", \"--port\", \"${PORT}\"]");
                None
            }
        };
        let env = fields.node("env").and_then(|node| env_vars(&node, decoder)).unwrap_or_default();
        let workdir = fields.optional(decoder, "workdir");
        let health = fields.optional(decoder, "health");
        let drain = fields.optional(decoder, "drain").unwrap_or_else(defaults::drain);
        let stop_signal = fields.optional(decoder, "stop_signal").unwrap_or_else(defaults::stop_signal);
        let stop_grace = fields.optional(decoder, "stop_grace").unwrap_or_else(defaults::stop_grace);
        fields.finish(decoder);
        Some(Run { command: command?, env, workdir, health, drain, stop_signal, stop_grace })
    }
}

fn env_vars(node: &Node<'_>, decoder: &mut Decoder) -> Option<BTreeMap<String, String>> {
    let fields = Fields::open(node, decoder)?;
    for (name, span, _) in fields.entries() {
        if !is_env_var_name(&name) {
            decoder.report(
                Diagnostic::new(Code::InvalidValue, span, format!("`{name}` is not a valid environment variable name"))
                    .with_hint("use letters, digits and `_`, not starting with a digit"),
            );
        }
    }
    BTreeMap::<String, String>::decode(node, decoder)
}

impl Decode for Health {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let probe = one_of(&mut fields, decoder, &["http", "tcp", "exec"]).and_then(|(variant, value)| match variant {
            "http" => {
                let path = value.as_str(decoder)?;
                if !path.starts_with('/') {
                    decoder.invalid(
                        &value,
                        Invalid::new(format!("health path `{path}` does not start with `/`"))
                            .hint("write the path only, e.g. `/healthz`"),
                    );
                    return None;
                }
                Some(Probe::Http(path.to_owned()))
            }
            "tcp" => match bool::decode(&value, decoder)? {
                true => Some(Probe::Tcp(true)),
                false => {
                    decoder.invalid(
                        &value,
                        Invalid::new("`tcp = false` checks nothing")
                            .hint("use `tcp = true`, or choose `http` or `exec`"),
                    );
                    None
                }
            },
            _ => command(&value, decoder).map(Probe::Exec),
        });
        let interval = fields.optional(decoder, "interval").unwrap_or_else(defaults::health_interval);
        let timeout = fields.optional(decoder, "timeout").unwrap_or_else(defaults::health_timeout);
        let startup = fields.optional(decoder, "startup").unwrap_or_else(defaults::health_startup);
        let healthy = fields
            .node("healthy")
            .map_or(Some(defaults::healthy()), |node| bounded(&node, decoder, 1..=100, "threshold"));
        let unhealthy = fields
            .node("unhealthy")
            .map_or(Some(defaults::unhealthy()), |node| bounded(&node, decoder, 1..=100, "threshold"));
        for (key, value) in [("interval", interval), ("timeout", timeout), ("startup", startup)] {
            if value == Duration::from_millis(0)
                && let Some(node) = fields.node(key)
            {
                decoder.invalid(&node, Invalid::new(format!("health `{key}` is zero")).hint("use at least `100ms`"));
            }
        }
        fields.finish(decoder);
        Some(Health { probe: probe?, interval, timeout, startup, healthy: healthy?, unhealthy: unhealthy? })
    }
}

impl Decode for Pipeline {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let pipeline = Pipeline {
            lint: fields.optional(decoder, "lint").unwrap_or_default(),
            build: fields.optional(decoder, "build").unwrap_or_default(),
            test: fields.optional(decoder, "test").unwrap_or_default(),
            scan: fields.optional(decoder, "scan").unwrap_or_default(),
            junit: fields.optional(decoder, "junit"),
        };
        fields.finish(decoder);
        Some(pipeline)
    }
}

impl Decode for SecretDecl {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        if !node.is_table() {
            decoder.report(
                Diagnostic::new(Code::SecretValueInSpec, node.span.clone(), format!("`{}` holds a value, but secret values never go in shipgate.toml", node.path))
                    .with_label("remove this value")
                    .with_hint(format!(
                        "declare the name only (`{} = {{}}`) and set the value with `shipgate secrets set ENV {}`; if this value was real, rotate it, since it is in your history now",
                        node.path.trim_start_matches("secrets."),
                        node.path.trim_start_matches("secrets.")
                    )),
            );
            return None;
        }
        let mut fields = Fields::open(node, decoder)?;
        let command: Option<String> = fields.optional(decoder, "command");
        if let (Some(text), Some(node)) = (&command, fields.node("command"))
            && text.trim().is_empty()
        {
            decoder.invalid(
                &node,
                Invalid::new("the command is empty")
                    .hint("e.g. `command = \"op read op://vault/db/url\"`, or remove it to set the value with `shipgate secrets set`"),
            );
        }
        let timeout: Option<Duration> = fields.optional(decoder, "timeout");
        if let (Some(_), None, Some(node)) = (&timeout, &command, fields.node("timeout")) {
            decoder.invalid(
                &node,
                Invalid::new("`timeout` applies to `command` only").hint("add `command`, or remove `timeout`"),
            );
        }
        let file = fields.optional(decoder, "file").unwrap_or(false);
        let max_age = fields.optional(decoder, "max_age");
        fields.finish(decoder);
        Some(SecretDecl { command, timeout, file, max_age })
    }
}

fn secrets(node: &Node<'_>, decoder: &mut Decoder) -> Option<BTreeMap<String, SecretDecl>> {
    let fields = Fields::open(node, decoder)?;
    for (name, span, _) in fields.entries() {
        if !is_env_var_name(&name) {
            decoder.report(
                Diagnostic::new(
                    Code::InvalidValue,
                    span,
                    format!("secret name `{name}` is not a valid environment variable name"),
                )
                .with_hint(
                    "secrets reach the app as environment variables: use letters, digits and `_`, e.g. `DATABASE_URL`",
                ),
            );
        }
    }
    BTreeMap::<String, SecretDecl>::decode(node, decoder)
}

impl Decode for Migrations {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let dir = fields.optional(decoder, "dir").unwrap_or_else(defaults::migrations_dir);
        let database = fields.required(decoder, "database", "database = \"DATABASE_URL\"");
        let command: Option<String> = fields.optional(decoder, "command");
        if let (Some(text), Some(node)) = (&command, fields.node("command"))
            && text.trim().is_empty()
        {
            decoder.invalid(
                &node,
                Invalid::new("the command is empty")
                    .hint("e.g. `command = \"alembic upgrade head\"`, or remove it to use shipgate's own applier"),
            );
        }
        fields.finish(decoder);
        Some(Migrations { dir, database: database?, command })
    }
}

/// Keys an environment may set: scale parameters, then its delivery policy.
pub const ENVIRONMENT_KEYS: [&str; 11] = [
    "listen",
    "replicas",
    "region",
    "resources",
    "requires",
    "approvals",
    "strategy",
    "analysis",
    "bake",
    "smoke",
    "allow_windows",
];

/// Keys of the template (the top level and `[run]`) that environments inherit and may not change.
const TEMPLATE_KEYS: [&str; 18] = [
    "app",
    "artifact",
    "run",
    "pipeline",
    "secrets",
    "migrations",
    "windows",
    "policy",
    "notify",
    "scan",
    "command",
    "env",
    "workdir",
    "health",
    "drain",
    "stop_signal",
    "stop_grace",
    "image",
];

impl Decode for Environment {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let listen = fields.required(decoder, "listen", "listen = \"127.0.0.1:8080\"");
        let replicas = fields
            .node("replicas")
            .map_or(Some(defaults::replicas()), |node| bounded(&node, decoder, 1..=1000, "replicas"));
        let region = fields.optional(decoder, "region");
        let resources = fields.optional(decoder, "resources");
        let requires = fields.optional(decoder, "requires").unwrap_or_default();
        let approvals = fields.optional(decoder, "approvals");
        let strategy = fields.optional(decoder, "strategy").unwrap_or_default();
        let analysis = fields.optional(decoder, "analysis");
        let bake = fields.optional(decoder, "bake");
        let smoke = fields.optional(decoder, "smoke").unwrap_or_default();
        let allow_windows = fields.optional(decoder, "allow_windows").unwrap_or_default();
        report_parity_violations(&mut fields, decoder);
        fields.finish(decoder);
        Some(Environment {
            listen: listen?,
            replicas: replicas?,
            region,
            resources,
            requires,
            approvals,
            strategy,
            analysis,
            bake,
            smoke,
            allow_windows,
        })
    }
}

/// An environment that sets anything but scale and delivery policy breaks environment
/// parity: staging would no longer test what production runs.
fn report_parity_violations(fields: &mut Fields<'_>, decoder: &mut Decoder) {
    for (key, span) in fields.unasked() {
        let Some(template_key) = TEMPLATE_KEYS.iter().find(|template| **template == key) else { continue };
        let section =
            if ["app", "artifact", "run", "pipeline", "secrets", "migrations", "windows", "policy", "notify", "scan"]
                .contains(template_key)
            {
                format!("`[{key}]`")
            } else {
                format!("`{key}` in `[run]`")
            };
        decoder.report(
            Diagnostic::new(Code::EnvironmentParity, span, format!("environments differ only in scale parameters: {} may not set `{key}`", fields.display_name()))
                .with_label("not a scale parameter")
                .with_hint(format!(
                    "set {section} once at the top level, where every environment inherits it; an environment may set only {}",
                    quoted_list(ENVIRONMENT_KEYS)
                )),
        );
        fields.mark_asked(template_key);
    }
}

impl Decode for Resources {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let memory = fields.optional(decoder, "memory");
        let cpu = fields.node("cpu").and_then(|node| {
            let cores = node.as_number(decoder)?;
            if cores > 0.0 && cores <= 1024.0 {
                Some(cores)
            } else {
                decoder.invalid(
                    &node,
                    Invalid::new(format!("cpu `{cores}` is out of range"))
                        .hint("give CPU cores as a number more than 0, e.g. `0.5` or `2`"),
                );
                None
            }
        });
        fields.finish(decoder);
        Some(Resources { memory, cpu })
    }
}

impl Decode for Approvals {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let required = match fields.node("required") {
            Some(node) => bounded(&node, decoder, 1..=100, "required approvals"),
            None => {
                fields.missing(decoder, "required", "required = 1");
                None
            }
        };
        let from = fields.optional(decoder, "from").unwrap_or_default();
        let self_approval = fields.optional(decoder, "self_approval").unwrap_or(false);
        let wait = fields.optional(decoder, "wait");
        fields.finish(decoder);
        Some(Approvals { required: required?, from, self_approval, wait })
    }
}

const ROLES: [(&str, Role); 4] =
    [("viewer", Role::Viewer), ("deployer", Role::Deployer), ("approver", Role::Approver), ("admin", Role::Admin)];

impl Decode for Approver {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        node.parse_str(decoder, |text| {
            let hint = "write `role:approver` (roles: `viewer`, `deployer`, `approver`, `admin`) or `user:NAME`";
            match text.split_once(':') {
                Some(("role", role)) => {
                    ROLES.iter().find(|(name, _)| *name == role).map(|(_, role)| Approver::Role(*role)).ok_or_else(
                        || {
                            let invalid = Invalid::new(format!("unknown role `{role}`"));
                            match suggest::closest(role, ROLES.iter().map(|(name, _)| *name)) {
                                Some(close) => invalid.hint(format!("did you mean `role:{close}`?")),
                                None => invalid.hint(hint),
                            }
                        },
                    )
                }
                Some(("user", user)) if !user.is_empty() => Ok(Approver::User(user.to_owned())),
                _ => Err(Invalid::new(format!("`{text}` is not an approver")).hint(hint)),
            }
        })
    }
}

impl Decode for Strategy {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        if let Some(text) = node.value().and_then(|value| value.as_str()) {
            return match text {
                "direct" => Some(Strategy::Direct),
                "recreate" => Some(Strategy::Recreate),
                "rolling" => Some(Strategy::Rolling(Rolling { batch: defaults::rolling_batch() })),
                other => {
                    decoder.invalid(
                        node,
                        Invalid::new(format!("unknown strategy `{other}`")).hint(
                            "use `\"direct\"`, `\"rolling\"`, `\"recreate\"`, `{ canary = [...] }`, `{ blue_green = {} }` or `{ rolling = { batch = 2 } }`",
                        ),
                    );
                    None
                }
            };
        }
        let mut fields = Fields::open(node, decoder)?;
        let chosen = one_of(&mut fields, decoder, &["canary", "blue_green", "rolling"]);
        fields.finish(decoder);
        let (variant, value) = chosen?;
        match variant {
            "canary" => canary_steps(&value, decoder).map(Strategy::Canary),
            "rolling" => Rolling::decode(&value, decoder).map(Strategy::Rolling),
            _ => BlueGreen::decode(&value, decoder).map(Strategy::BlueGreen),
        }
    }
}

fn canary_steps(node: &Node<'_>, decoder: &mut Decoder) -> Option<Vec<CanaryStep>> {
    let elements = node.elements(decoder)?;
    if elements.is_empty() {
        decoder.invalid(
            node,
            Invalid::new("a canary needs at least one step").hint("e.g. `canary = [ { weight = 10, hold = \"1m\" } ]`"),
        );
        return None;
    }
    let steps: Vec<Option<CanaryStep>> = elements.iter().map(|element| CanaryStep::decode(element, decoder)).collect();
    // Read the weights again on their own, so that their order is checked even when another
    // field of a step is wrong (its error is already reported).
    let weights: Vec<Option<Weight>> = elements
        .iter()
        .map(|element| Fields::open(element, &mut Decoder::default())?.optional(&mut Decoder::default(), "weight"))
        .collect();
    for (pair, nodes) in weights.windows(2).zip(elements.windows(2)) {
        if let [Some(before), Some(after)] = pair
            && after <= before
        {
            decoder.report(
                Diagnostic::new(
                    Code::WeightsNotIncreasing,
                    nodes[1].span.clone(),
                    format!("canary weights must increase: `{after}` follows `{before}` in `{}`", node.path),
                )
                .with_hint("order the steps by weight, each larger than the one before"),
            );
        }
    }
    steps.into_iter().collect()
}

impl Decode for CanaryStep {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let weight = fields.required(decoder, "weight", "weight = 10");
        let hold = fields.required(decoder, "hold", "hold = \"1m\"");
        let pause = fields.optional(decoder, "pause").unwrap_or(false);
        fields.finish(decoder);
        Some(CanaryStep { weight: weight?, hold: hold?, pause })
    }
}

impl Decode for Rolling {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let batch = fields
            .node("batch")
            .map_or(Some(defaults::rolling_batch()), |node| bounded(&node, decoder, 1..=1000, "batch"));
        fields.finish(decoder);
        Some(Rolling { batch: batch? })
    }
}

impl Decode for BlueGreen {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let blue_green = BlueGreen {
            preview: fields.optional(decoder, "preview").unwrap_or_else(defaults::preview),
            auto_promote: fields.optional(decoder, "auto_promote").unwrap_or_else(defaults::auto_promote),
            scale_down_delay: fields.optional(decoder, "scale_down_delay").unwrap_or_else(defaults::scale_down_delay),
        };
        fields.finish(decoder);
        Some(blue_green)
    }
}

impl Decode for Analysis {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let error_rate_max = fields.optional(decoder, "error_rate_max");
        let p50_max = fields.optional(decoder, "p50_max");
        let p95_max = fields.optional(decoder, "p95_max");
        let p99_max = fields.optional(decoder, "p99_max");
        let compare = fields
            .node("compare")
            .and_then(|node| {
                node.parse_str(decoder, |text| match text {
                    "stable" => Ok(Compare::Stable),
                    "none" => Ok(Compare::None),
                    other => Err(Invalid::new(format!("unknown comparison `{other}`"))
                        .hint("use `stable` (judge the new version against the one serving beside it) or `none`")),
                })
            })
            .unwrap_or_default();
        let false_positive_rate = match fields.node("false_positive_rate") {
            Some(node) => small_fraction(
                &node,
                decoder,
                "a false-positive rate of 0 would never fail a new version",
                "use a small fraction such as `0.01` (1%) or `0.001`; to judge by limits only, set `compare = \"none\"`",
            ),
            None => Some(defaults::false_positive_rate()),
        };
        let min_effect = fields.optional(decoder, "min_effect").unwrap_or_default();
        let on_inconclusive = fields
            .node("on_inconclusive")
            .and_then(|node| {
                node.parse_str(decoder, |text| match text {
                    "pause" => Ok(OnInconclusive::Pause),
                    "rollback" => Ok(OnInconclusive::Rollback),
                    "promote" => Ok(OnInconclusive::Promote),
                    other => {
                        let invalid = Invalid::new(format!("unknown choice `{other}`"));
                        Err(match suggest::closest(other, ["pause", "rollback", "promote"]) {
                            Some(close) => invalid.hint(format!("did you mean `{close}`?")),
                            None => invalid.hint(
                                "use `pause` (wait for `shipgate deploy resume` or `abort`), `rollback` or `promote`",
                            ),
                        })
                    }
                })
            })
            .unwrap_or_default();
        let prometheus_url =
            fields.node("prometheus_url").and_then(|node| http_url(&node, decoder, "http://127.0.0.1:9090"));
        let metrics_node = fields.node("metrics");
        let metrics: Vec<Metric> = match &metrics_node {
            Some(node) => Vec::<Metric>::decode(node, decoder).unwrap_or_default(),
            None => Vec::new(),
        };
        if let Some(metrics_node) = &metrics_node {
            check_metrics(
                metrics_node,
                prometheus_url.is_some() || fields.contains("prometheus_url"),
                &fields,
                decoder,
            );
        }
        fields.finish(decoder);
        Some(Analysis {
            error_rate_max,
            p50_max,
            p95_max,
            p99_max,
            compare,
            false_positive_rate: false_positive_rate?,
            min_effect,
            on_inconclusive,
            prometheus_url,
            metrics,
        })
    }
}

/// A fraction more than 0 and at most one half (rates of false alarms, smallest effects).
fn small_fraction(node: &Node<'_>, decoder: &mut Decoder, zero: &str, hint: &str) -> Option<Fraction> {
    let fraction = Fraction::decode(node, decoder)?;
    if fraction.get() == 0.0 {
        decoder.invalid(node, Invalid::new(zero).hint(hint));
        return None;
    }
    if fraction.get() > 0.5 {
        decoder.invalid(
            node,
            Invalid::new(format!("`{}` is more than one half", fraction.get()))
                .hint("write a fraction: `0.01` means 1%"),
        );
        return None;
    }
    Some(fraction)
}

/// An `http://` or `https://` URL.
fn http_url(node: &Node<'_>, decoder: &mut Decoder, example: &str) -> Option<String> {
    node.parse_str(decoder, |url| {
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(url.to_owned()),
            _ => Err(Invalid::new(format!("`{url}` is not an http(s) URL"))
                .hint(format!("write the full URL, e.g. `{example}`"))),
        }
    })
}

impl Decode for MinEffect {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let error_rate = match fields.node("error_rate") {
            Some(node) => small_fraction(
                &node,
                decoder,
                "a smallest effect of 0 would fail a new version for any difference, however small",
                "use at least `0.001` (0.1 percentage point); the default is `0.005`",
            ),
            None => Some(defaults::min_effect_error_rate()),
        };
        let latency = match fields.node("latency") {
            Some(node) => small_fraction(
                &node,
                decoder,
                "a smallest effect of 0 would fail a new version for any slowdown, however small",
                "use e.g. `0.025` (the default): 7.5% of requests slower than the stable version's p95, where 5% are expected",
            ),
            None => Some(defaults::min_effect_latency()),
        };
        fields.finish(decoder);
        Some(MinEffect { error_rate: error_rate?, latency: latency? })
    }
}

/// The placeholders a metric's query, URL or command may use.
const PLACEHOLDERS: [&str; 3] = ["app", "env", "version"];

/// Checks that every `{{…}}` in `text` names a known placeholder.
fn check_placeholders(text: &str) -> Result<(), Invalid> {
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(Invalid::new(format!("`{{{{` in `{text}` is not closed"))
                .hint("write placeholders as `{{app}}`, `{{env}}` or `{{version}}`"));
        };
        let name = after[..close].trim();
        if !PLACEHOLDERS.contains(&name) {
            let invalid = Invalid::new(format!("unknown placeholder `{{{{{name}}}}}`"));
            return Err(match suggest::closest(name, PLACEHOLDERS) {
                Some(close) => invalid.hint(format!("did you mean `{{{{{close}}}}}`?")),
                None => invalid.hint("use `{{app}}`, `{{env}}` or `{{version}}` (the new version's label)"),
            });
        }
        rest = &after[close + 2..];
    }
    Ok(())
}

fn is_metric_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Decode for Metric {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let name = match fields.node("name") {
            Some(node) => node.parse_str(decoder, |text| {
                if is_metric_name(text) {
                    Ok(text.to_owned())
                } else {
                    Err(Invalid::new(format!("`{text}` is not a valid metric name"))
                        .hint("start with a lowercase letter and use only `a-z`, `0-9`, `_` and `-` (at most 63)"))
                }
            }),
            None => {
                fields.missing(decoder, "name", "name = \"checkout-success\"");
                None
            }
        };
        let source = one_of(&mut fields, decoder, &["prometheus", "web", "command"]).and_then(|(variant, value)| {
            match variant {
                "prometheus" => value
                    .parse_str(decoder, |query| {
                        if query.trim().is_empty() {
                            return Err(Invalid::new("the query is empty").hint(
                                "write a PromQL expression that returns one number, e.g. `sum(rate(http_requests_total{version=\"{{version}}\"}[1m]))`",
                            ));
                        }
                        check_placeholders(query).map(|()| query.to_owned())
                    })
                    .map(MetricSource::Prometheus),
                "web" => WebCheck::decode(&value, decoder).map(MetricSource::Web),
                _ => {
                    let words = command(&value, decoder)?;
                    let elements = value.elements(&mut Decoder::default()).unwrap_or_default();
                    let mut valid = true;
                    for (word, element) in words.iter().zip(&elements) {
                        if let Err(invalid) = check_placeholders(word) {
                            decoder.invalid(element, invalid);
                            valid = false;
                        }
                    }
                    valid.then_some(MetricSource::Command(words))
                }
            }
        });
        let mut bound = |key: &'static str| -> Option<f64> {
            let node = fields.node(key)?;
            let value = node.as_number(decoder)?;
            if value.is_finite() {
                Some(value)
            } else {
                decoder.invalid(
                    &node,
                    Invalid::new(format!("`{value}` is not a finite number")).hint("write a number, e.g. `0.99`"),
                );
                None
            }
        };
        let min = bound("min");
        let max = bound("max");
        let interval = fields.optional(decoder, "interval").unwrap_or_else(defaults::metric_interval);
        if interval < Duration::from_secs(1)
            && let Some(node) = fields.node("interval")
        {
            decoder.invalid(
                &node,
                Invalid::new(format!("metric interval `{interval}` is shorter than a second"))
                    .hint("read outside metrics at most once a second, e.g. `interval = \"10s\"`"),
            );
        }
        let metric = match &name {
            Some(name) => format!("metric `{name}`"),
            None => format!("`{}`", node.path),
        };
        if let (Some(low), Some(high)) = (min, max)
            && low > high
        {
            let span = fields.key_span("min").unwrap_or_else(|| node.span.clone());
            decoder.report(
                Diagnostic::new(
                    Code::Conflict,
                    span,
                    format!("{metric} has `min = {low}` above `max = {high}`: no value can pass"),
                )
                .with_hint("swap `min` and `max`"),
            );
        }
        let checks_nothing = match &source {
            Some(MetricSource::Prometheus(_)) => {
                min.is_none() && max.is_none() && !fields.contains("min") && !fields.contains("max")
            }
            Some(MetricSource::Web(web)) => {
                web.success.is_none()
                    && min.is_none()
                    && max.is_none()
                    && !fields.contains("min")
                    && !fields.contains("max")
            }
            _ => false,
        };
        if checks_nothing {
            let success = if matches!(source, Some(MetricSource::Web(_))) { ", nor a `success` condition" } else { "" };
            decoder.report(
                Diagnostic::new(
                    Code::MissingKey,
                    node.span.clone(),
                    format!("{metric} has neither `min` nor `max`{success}, so it checks nothing"),
                )
                .with_hint("add the range the value must stay in, e.g. `min = 0.99` or `max = 0.05`"),
            );
        }
        fields.finish(decoder);
        Some(Metric { name: name?, source: source?, min, max, interval })
    }
}

impl Decode for WebCheck {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let url = match fields.node("url") {
            Some(node) => http_url(&node, decoder, "https://status.example.com/checks/{{version}}").and_then(|url| {
                check_placeholders(&url).map_err(|invalid| decoder.invalid(&node, invalid)).ok().map(|()| url)
            }),
            None => {
                fields.missing(decoder, "url", "url = \"https://status.example.com/checks/{{version}}\"");
                None
            }
        };
        let select = fields.node("select").and_then(|node| {
            node.parse_str(decoder, |pointer| {
                if pointer.is_empty() || pointer.starts_with('/') {
                    return Ok(pointer.to_owned());
                }
                let suggestion = format!("/{}", pointer.trim_start_matches('.').replace('.', "/"));
                Err(Invalid::new(format!("`{pointer}` is not a JSON Pointer"))
                    .hint(format!("JSON Pointers start with `/` and separate keys with `/`, e.g. `{suggestion}`")))
            })
        });
        let select_valid = !fields.contains("select") || select.is_some();
        let success = fields.node("success").map(|node| node.parse_str(decoder, Condition::parse));
        fields.finish(decoder);
        // An invalid `select` or `success` is reported; the check is incomplete without it.
        let success = match success {
            Some(parsed) => Some(parsed?),
            None => None,
        };
        select_valid.then_some(())?;
        Some(WebCheck { url: url?, select: select.unwrap_or_default(), success })
    }
}

/// "metric `NAME`", or the metric's path when it has no readable name.
fn metric_label(fields: &mut Fields<'_>, element: &Node<'_>) -> String {
    match fields.node("name").and_then(|node| node.value().and_then(|value| value.as_str()).map(str::to_owned)) {
        Some(name) => format!("metric `{name}`"),
        None => format!("`{}`", element.path),
    }
}

/// Metric names are unique, and `prometheus` metrics need `prometheus_url`.
fn check_metrics(metrics: &Node<'_>, has_prometheus_url: bool, analysis: &Fields<'_>, decoder: &mut Decoder) {
    let elements = metrics.elements(&mut Decoder::default()).unwrap_or_default();
    let mut seen: Vec<String> = Vec::new();
    for element in &elements {
        let Some(mut fields) = Fields::open(element, &mut Decoder::default()) else { continue };
        if let Some(name_node) = fields.node("name")
            && let Some(name) = name_node.value().and_then(|value| value.as_str())
        {
            if seen.iter().any(|other| other == name) {
                decoder.report(
                    Diagnostic::new(
                        Code::Conflict,
                        name_node.span.clone(),
                        format!("metric name `{name}` is used twice"),
                    )
                    .with_hint("give each metric its own name; the name identifies it in the evidence"),
                );
            }
            seen.push(name.to_owned());
        }
        if !has_prometheus_url && fields.contains("prometheus") {
            let span = fields.key_span("prometheus").unwrap_or_else(|| element.span.clone());
            decoder.report(
                Diagnostic::new(
                    Code::MissingKey,
                    span,
                    format!(
                        "{} queries Prometheus, but {} has no `prometheus_url`",
                        metric_label(&mut fields, element),
                        analysis.display_name()
                    ),
                )
                .with_hint(
                    "add `prometheus_url = \"http://127.0.0.1:9090\"` (the server shipgate queries) to the analysis",
                ),
            );
        }
    }
}

impl Decode for SmokeCheck {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let probe = one_of(&mut fields, decoder, &["http", "exec"]).and_then(|(variant, value)| match variant {
            "http" => value.parse_str(decoder, |path| {
                if path.starts_with('/') {
                    Ok(SmokeProbe::Http(path.to_owned()))
                } else {
                    Err(Invalid::new(format!("smoke path `{path}` does not start with `/`"))
                        .hint("write the path only, e.g. `/`"))
                }
            }),
            _ => command(&value, decoder).map(SmokeProbe::Exec),
        });
        let expect = fields
            .node("expect")
            .map_or(Some(defaults::smoke_status()), |node| bounded(&node, decoder, 100..=599, "status"));
        let contains = fields.optional(decoder, "contains");
        let timeout = fields.optional(decoder, "timeout").unwrap_or_else(defaults::smoke_timeout);
        fields.finish(decoder);
        Some(SmokeCheck { probe: probe?, expect: expect?, contains, timeout })
    }
}

impl Decode for Windows {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let timezone = fields.optional(decoder, "timezone").unwrap_or_else(TimeZoneName::utc);
        let freeze = fields.optional(decoder, "freeze").unwrap_or_default();
        fields.finish(decoder);
        Some(Windows { timezone, freeze })
    }
}

impl Decode for Freeze {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let days: Vec<Weekday> = fields.optional(decoder, "days").unwrap_or_default();
        let from: Option<Date> = fields.optional(decoder, "from");
        let to: Option<Date> = fields.optional(decoder, "to");
        let after = fields.optional(decoder, "after");
        let before = fields.optional(decoder, "before");
        let reason = fields.required(decoder, "reason", "reason = \"weekend\"");
        let (has_from, has_to) = (fields.contains("from"), fields.contains("to"));
        if has_from != has_to {
            let key = if has_from { "to" } else { "from" };
            fields.missing(decoder, key, if has_from { "to = 2027-01-02" } else { "from = 2026-12-23" });
        } else if let (Some(start), Some(end)) = (from, to)
            && start.is_yearly() != end.is_yearly()
        {
            decoder.report(
                Diagnostic::new(
                    Code::InvalidValue,
                    node.span.clone(),
                    format!("freeze `{}` mixes a full date and a yearly `MM-DD` date", node.path),
                )
                .with_hint("write both as `YYYY-MM-DD` for one period, or both as `MM-DD` for every year (`from = \"12-20\"`, `to = \"01-02\"` spans the new year)"),
            );
        } else if let (Some(start @ Date::On(_)), Some(end)) = (from, to)
            && start > end
        {
            decoder.report(
                Diagnostic::new(
                    Code::InvalidValue,
                    node.span.clone(),
                    format!("freeze `{}` ends (`{end}`) before it starts (`{start}`)", node.path),
                )
                .with_hint("swap `from` and `to`"),
            );
        }
        if days.is_empty() && !has_from && !fields.contains("days") {
            decoder.report(
                Diagnostic::new(
                    Code::MissingKey,
                    node.span.clone(),
                    format!("freeze `{}` says neither when (`days`) nor between which dates (`from`, `to`)", node.path),
                )
                .with_hint("add `days = [\"fri\"]` or `from = 2026-12-23` and `to = 2027-01-02`"),
            );
        }
        fields.finish(decoder);
        Some(Freeze { days, from, to, after, before, reason: reason? })
    }
}

fn policy(node: &Node<'_>, decoder: &mut Decoder) -> Option<BTreeMap<String, Severity>> {
    let fields = Fields::open(node, decoder)?;
    let mut map = BTreeMap::new();
    for (rule, span, value) in fields.entries() {
        let is_id = rule.len() == 6 && rule.starts_with("SG") && rule[2..].bytes().all(|b| b.is_ascii_digit());
        let is_name = Name::parse(&rule).is_ok();
        if !is_id && !is_name {
            decoder.report(
                Diagnostic::new(Code::InvalidValue, span, format!("`{rule}` is neither a rule id nor a rule name"))
                    .with_hint("name a rule by its id (`SG0101`) or its kebab-case name (`mutable-artifact`)"),
            );
            continue;
        }
        let severity = value.parse_str(decoder, |text| match text {
            "deny" => Ok(Severity::Deny),
            "warn" => Ok(Severity::Warn),
            other => Err(Invalid::new(format!("unknown severity `{other}`")).hint("use `deny` or `warn`")),
        });
        if let Some(severity) = severity {
            map.insert(rule, severity);
        }
    }
    Some(map)
}

impl Decode for Notify {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let notify = Notify {
            webhook: fields.optional(decoder, "webhook").unwrap_or_default(),
            command: fields.optional(decoder, "command").unwrap_or_default(),
        };
        fields.finish(decoder);
        Some(notify)
    }
}

impl Decode for Webhook {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let url = fields.node("url").map(|node| {
            node.parse_str(decoder, |url| {
                let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
                match rest {
                    Some(host) if !host.is_empty() => Ok(url.to_owned()),
                    _ => Err(Invalid::new(format!("`{url}` is not an http(s) URL"))
                        .hint("write the full URL, e.g. `https://hooks.example.com/deploys`")),
                }
            })
        });
        let url_env = fields.node("url_env").map(|node| {
            node.parse_str(decoder, |name| {
                let valid = name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if valid {
                    Ok(name.to_owned())
                } else {
                    Err(Invalid::new(format!("`{name}` is not an environment variable name"))
                        .hint("use letters, digits and `_`, e.g. `SLACK_WEBHOOK_URL`"))
                }
            })
        });
        match (&url, &url_env) {
            (None, None) => fields.missing(decoder, "url", "url = \"https://hooks.example.com/deploys\""),
            (Some(_), Some(_)) => decoder.report(
                Diagnostic::new(
                    Code::InvalidValue,
                    node.span.clone(),
                    format!("webhook `{}` has both `url` and `url_env`", node.path),
                )
                .with_hint("keep one: `url_env` names the server's environment variable holding a secret URL"),
            ),
            _ => {}
        }
        let format = fields.node("format").map(|node| {
            node.parse_str(decoder, |text| match text {
                "json" => Ok(WebhookFormat::Json),
                "slack" => Ok(WebhookFormat::Slack),
                other => Err(Invalid::new(format!("unknown webhook format `{other}`")).hint("use `json` or `slack`")),
            })
        });
        let events = fields.optional(decoder, "events").unwrap_or_default();
        fields.finish(decoder);
        // Absent is `Some(None)`; present but invalid (already reported) is `None`.
        fn present<T>(value: Option<Option<T>>) -> Option<Option<T>> {
            value.map_or(Some(None), |value| value.map(Some))
        }
        let (url, url_env, format) = (present(url)?, present(url_env)?, present(format)?);
        Some(Webhook { url, url_env, format: format.unwrap_or_default(), events })
    }
}

impl Decode for NotifyCommand {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let run = match fields.node("run") {
            Some(node) => command(&node, decoder),
            None => {
                fields.missing(decoder, "run", "run = [\"./notify.sh\"]");
                None
            }
        };
        let events = fields.optional(decoder, "events").unwrap_or_default();
        fields.finish(decoder);
        Some(NotifyCommand { run: run?, events })
    }
}

impl Decode for Event {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        node.parse_str(decoder, |text| {
            Event::ALL.iter().find(|(name, _)| *name == text).map(|(_, event)| *event).ok_or_else(|| {
                let names = Event::ALL.iter().map(|(name, _)| *name);
                let invalid = Invalid::new(format!("unknown event `{text}`"));
                match suggest::closest(text, names.clone()) {
                    Some(close) => invalid.hint(format!("did you mean `{close}`?")),
                    None => invalid.hint(format!("use {}", quoted_list(names))),
                }
            })
        })
    }
}

impl Decode for Scan {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let mut list = |key: &'static str, example: &str| -> Vec<String> {
            let Some(list) = fields.node(key) else { return Vec::new() };
            let elements = list.elements(decoder).unwrap_or_default();
            let mut values = Vec::new();
            for element in &elements {
                match String::decode(element, decoder) {
                    Some(value) if value.trim().is_empty() => decoder.invalid(
                        element,
                        Invalid::new("the entry is empty").hint(format!("remove it, or write one like `{example}`")),
                    ),
                    Some(value) => values.push(value),
                    None => {}
                }
            }
            values
        };
        let allow_paths = list("allow_paths", "tests/fixtures/**");
        let allow_regexes = list("allow_regexes", "^AKIA[A-Z2-7]{16}$");
        let stopwords = list("stopwords", "dummy");
        fields.finish(decoder);
        Some(Scan { allow_paths, allow_regexes, stopwords })
    }
}

/// The whole file: each section, then the checks that span sections.
pub(crate) fn decode_spec(root: &Node<'_>, decoder: &mut Decoder) -> Option<Spec> {
    let mut fields = Fields::open(root, decoder)?;
    let app = fields.required(decoder, "app", "name = \"my-app\"");
    let artifact = fields.required(decoder, "artifact", "path = \"target/release/my-app\"");
    let run = fields.required(decoder, "run", "command = [\"./my-app\", \"--port\", \"${PORT}\"]");
    let pipeline = fields.optional(decoder, "pipeline").unwrap_or_default();
    let secrets = fields.node("secrets").and_then(|node| secrets(&node, decoder)).unwrap_or_default();
    let migrations: Option<Migrations> = fields.optional(decoder, "migrations");
    let environments_node = fields.node("environments");
    let environments = match &environments_node {
        Some(node) => environments(node, decoder),
        None => {
            decoder.report(
                Diagnostic::new(Code::MissingKey, root.span.clone(), "no environments are declared").with_hint(
                    "add `[environments.staging]` and `[environments.production]`, each with a `listen` address",
                ),
            );
            None
        }
    };
    let windows = fields.optional(decoder, "windows").unwrap_or_default();
    let policy = fields.node("policy").and_then(|node| policy(&node, decoder)).unwrap_or_default();
    let notify = fields.optional(decoder, "notify").unwrap_or_default();
    let scan = fields.optional(decoder, "scan").unwrap_or_default();
    let flags = fields.node("flags").and_then(|node| flags(&node, decoder)).unwrap_or_default();
    fields.finish(decoder);

    if let (Some(migrations), Some(node)) = (&migrations, root_child(root, "migrations")) {
        check_migrations_database(migrations, &secrets, &node, decoder);
    }
    if let Some(run) = &run {
        check_env_secret_overlap(run, &secrets, root, decoder);
    }
    Some(Spec {
        app: app?,
        artifact: artifact?,
        run: run?,
        pipeline,
        secrets,
        migrations,
        environments: environments?,
        windows,
        policy,
        notify,
        scan,
        flags,
    })
}

fn root_child<'a>(root: &Node<'a>, key: &'static str) -> Option<Node<'a>> {
    let mut decoder = Decoder::default();
    Fields::open(root, &mut decoder)?.node(key)
}

fn environments(node: &Node<'_>, decoder: &mut Decoder) -> Option<BTreeMap<String, Environment>> {
    let fields = Fields::open(node, decoder)?;
    let entries = fields.entries();
    if entries.is_empty() {
        decoder.report(
            Diagnostic::new(Code::MissingKey, node.span.clone(), "no environments are declared").with_hint(
                "add `[environments.staging]` and `[environments.production]`, each with a `listen` address",
            ),
        );
        return None;
    }
    let mut decoded = BTreeMap::new();
    let mut complete = true;
    for (name, span, child) in &entries {
        if let Err(invalid) = Name::parse(name) {
            let mut diagnostic =
                Diagnostic::new(Code::InvalidValue, span.clone(), format!("environment name `{name}` is not valid"));
            diagnostic.hint = invalid.hint;
            decoder.report(diagnostic);
            complete = false;
        }
        match Environment::decode(child, decoder) {
            Some(environment) => {
                decoded.insert(name.clone(), (span.clone(), child.clone(), environment));
            }
            None => complete = false,
        }
    }
    check_requires(&entries.iter().map(|(name, _, _)| name.as_str()).collect::<Vec<_>>(), &decoded, decoder);
    complete.then(|| decoded.into_iter().map(|(name, (_, _, environment))| (name, environment)).collect())
}

type DecodedEnvironments<'a> = BTreeMap<String, (std::ops::Range<usize>, Node<'a>, Environment)>;

/// `requires` must name declared environments, and may not form a cycle.
fn check_requires(names: &[&str], environments: &DecodedEnvironments<'_>, decoder: &mut Decoder) {
    for (name, (_, node, environment)) in environments {
        let requires_node = Fields::open(node, &mut Decoder::default()).and_then(|mut fields| fields.node("requires"));
        let element_nodes =
            requires_node.as_ref().and_then(|node| node.elements(&mut Decoder::default())).unwrap_or_default();
        for (index, required) in environment.requires.iter().enumerate() {
            let span = element_nodes.get(index).map_or_else(|| node.span.clone(), |element| element.span.clone());
            if required == name {
                decoder.report(
                    Diagnostic::new(Code::RequiresCycle, span, format!("environment `{name}` requires itself"))
                        .with_hint("`requires` lists the environments a release must pass before this one"),
                );
            } else if !names.contains(&required.as_str()) {
                let hint = match suggest::closest(required, names.iter().copied()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("the declared environments are {}", quoted_all(names.iter().copied())),
                };
                decoder.report(
                    Diagnostic::new(
                        Code::UnknownEnvironment,
                        span,
                        format!("environment `{name}` requires `{required}`, which is not declared"),
                    )
                    .with_hint(hint),
                );
            }
        }
    }
    if let Some(cycle) = find_cycle(environments) {
        let first = &cycle[0];
        let span = environments.get(first).map_or(0..0, |(span, _, _)| span.clone());
        decoder.report(
            Diagnostic::new(
                Code::RequiresCycle,
                span,
                format!(
                    "`requires` forms a cycle: {}",
                    cycle
                        .iter()
                        .chain(std::iter::once(first))
                        .map(|name| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(" → ")
                ),
            )
            .with_hint("releases flow one way, e.g. staging → production: remove one of these `requires`"),
        );
    }
}

/// A cycle of two or more environments through `requires`, in order, if there is one.
fn find_cycle(environments: &DecodedEnvironments<'_>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = environments.keys().map(|name| (name.as_str(), Mark::New)).collect();
    for start in environments.keys() {
        if marks[start.as_str()] != Mark::New {
            continue;
        }
        // Iterative depth-first search: (environment, index of the next `requires` to visit).
        let mut path: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        marks.insert(start.as_str(), Mark::OnPath);
        while let Some((name, next)) = path.last().copied() {
            let requires = &environments[name].2.requires;
            let Some(required) = requires.get(next) else {
                marks.insert(name, Mark::Done);
                path.pop();
                continue;
            };
            if let Some(last) = path.last_mut() {
                last.1 += 1;
            }
            match marks.get(required.as_str()) {
                Some(Mark::New) => {
                    marks.insert(required.as_str(), Mark::OnPath);
                    path.push((required.as_str(), 0));
                }
                Some(Mark::OnPath) if required != name => {
                    let from = path.iter().position(|(step, _)| *step == required)?;
                    return Some(path[from..].iter().map(|(step, _)| (*step).to_owned()).collect());
                }
                _ => {}
            }
        }
    }
    None
}

fn check_migrations_database(
    migrations: &Migrations,
    secrets: &BTreeMap<String, SecretDecl>,
    node: &Node<'_>,
    decoder: &mut Decoder,
) {
    if secrets.contains_key(&migrations.database) {
        return;
    }
    let span = Fields::open(node, &mut Decoder::default())
        .and_then(|mut fields| fields.node("database"))
        .map_or_else(|| node.span.clone(), |node| node.span);
    decoder.report(
        Diagnostic::new(
            Code::UndeclaredSecret,
            span,
            format!("`migrations.database` names `{}`, which is not a declared secret", migrations.database),
        )
        .with_hint(format!(
            "declare it with `{} = {{}}` under `[secrets]`; the database URL holds a password, so it is a secret",
            migrations.database
        )),
    );
}

fn check_env_secret_overlap(run: &Run, secrets: &BTreeMap<String, SecretDecl>, root: &Node<'_>, decoder: &mut Decoder) {
    for name in run.env.keys().filter(|name| secrets.contains_key(*name)) {
        let span = root_child(root, "run")
            .and_then(|run| Fields::open(&run, &mut Decoder::default())?.node("env"))
            .and_then(|env| {
                Fields::open(&env, &mut Decoder::default()).map(|fields| (fields.key_span(name), env.span.clone()))
            })
            .map_or(0..0, |(key, env)| key.unwrap_or(env));
        decoder.report(
            Diagnostic::new(
                Code::Conflict,
                span,
                format!("`{name}` is both a plain variable in `[run.env]` and a declared secret"),
            )
            .with_hint(format!("remove `{name}` from `[run.env]`; the secret's value reaches the app under that name")),
        );
    }
}

// --- [flags] ---------------------------------------------------------------------------------

fn flags(node: &Node<'_>, decoder: &mut Decoder) -> Option<BTreeMap<String, FlagDecl>> {
    let fields = Fields::open(node, decoder)?;
    let mut decoded = BTreeMap::new();
    for (name, span, child) in fields.entries() {
        let valid_name =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_name {
            decoder.report(
                Diagnostic::new(Code::InvalidValue, span, format!("flag name `{name}` is not valid"))
                    .with_hint("use letters, digits, `-`, `_` and `.`, e.g. `new-checkout`"),
            );
            continue;
        }
        if let Some(flag) = FlagDecl::decode(&child, decoder) {
            decoded.insert(name, flag);
        }
    }
    Some(decoded)
}

impl Decode for FlagDecl {
    fn decode(node: &Node<'_>, decoder: &mut Decoder) -> Option<Self> {
        let mut fields = Fields::open(node, decoder)?;
        let variants_node = fields.node("variants");
        let default_node = fields.node("default");
        let targeting_node = fields.node("targeting");
        fields.finish(decoder);
        let Some(variants_node) = variants_node else {
            let fields = Fields::open(node, &mut Decoder::default())?;
            fields.missing(decoder, "variants", "variants = { on = true, off = false }");
            return None;
        };
        let variants = flag_variants(&variants_node, decoder);
        let default = match &default_node {
            Some(default_node) => {
                let default = default_node.as_str(decoder).map(str::to_owned);
                if let (Some(default), Some(variants)) = (&default, &variants)
                    && !variants.contains_key(default)
                {
                    let names: Vec<&str> = variants.keys().map(String::as_str).collect();
                    let hint = match suggest::closest(default, names.iter().copied()) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => format!("the variants are {}", quoted_all(names.iter().copied())),
                    };
                    decoder.report(
                        Diagnostic::new(
                            Code::InvalidValue,
                            default_node.span.clone(),
                            format!("`{}` is `{default}`, which is not one of the flag's variants", default_node.path),
                        )
                        .with_hint(hint),
                    );
                    return None;
                }
                default
            }
            None => {
                let fields = Fields::open(node, &mut Decoder::default())?;
                fields.missing(decoder, "default", "default = \"off\"");
                None
            }
        };
        let targeting = match &targeting_node {
            Some(targeting_node) => Some(flag_targeting(targeting_node, decoder)?),
            None => None,
        };
        Some(FlagDecl { variants: variants?, default: default?, targeting })
    }
}

/// `variants`: a table of values that all share one JSON type.
fn flag_variants(node: &Node<'_>, decoder: &mut Decoder) -> Option<BTreeMap<String, serde_json::Value>> {
    let fields = Fields::open(node, decoder)?;
    let entries = fields.entries();
    if entries.is_empty() {
        decoder.report(
            Diagnostic::new(Code::MissingKey, node.span.clone(), format!("`{}` declares no variant", node.path))
                .with_hint("declare at least one, e.g. `variants = { on = true, off = false }`"),
        );
        return None;
    }
    let mut variants = BTreeMap::new();
    let mut first: Option<(String, &'static str)> = None;
    let mut complete = true;
    for (name, _, child) in entries {
        let Some(value) = toml_to_json(&child) else {
            child.wrong_type_hint(
                decoder,
                "a boolean, string, number or table",
                "all variants of a flag share one type",
            );
            complete = false;
            continue;
        };
        let kind = match &value {
            serde_json::Value::Bool(_) => "boolean",
            serde_json::Value::String(_) => "string",
            serde_json::Value::Number(_) => "number",
            serde_json::Value::Object(_) => "table",
            _ => {
                child.wrong_type_hint(
                    decoder,
                    "a boolean, string, number or table",
                    "all variants of a flag share one type",
                );
                complete = false;
                continue;
            }
        };
        match &first {
            None => first = Some((name.clone(), kind)),
            Some((first_name, first_kind)) if *first_kind != kind => {
                decoder.report(
                    Diagnostic::new(
                        Code::WrongType,
                        child.span.clone(),
                        format!("variant `{name}` is a {kind}, but variant `{first_name}` is a {first_kind}"),
                    )
                    .with_hint("all variants of a flag share one type: the SDK asks for a boolean, string, number or object flag"),
                );
                complete = false;
            }
            Some(_) => {}
        }
        variants.insert(name, value);
    }
    complete.then_some(variants)
}

/// `targeting`: a JsonLogic object, written as a TOML table or as a JSON string.
fn flag_targeting(node: &Node<'_>, decoder: &mut Decoder) -> Option<serde_json::Value> {
    let hint = "write a JsonLogic object, e.g. `targeting = { if = [{ ends_with = [{ var = \"email\" }, \"@example.com\"] }, \"on\", \"off\"] }`, or the same rule as a JSON string";
    let value = match node.value() {
        Some(toml_edit::Value::String(text)) => match serde_json::from_str::<serde_json::Value>(text.value()) {
            Ok(value) => value,
            Err(error) => {
                decoder.report(
                    Diagnostic::new(
                        Code::InvalidValue,
                        node.span.clone(),
                        format!("`{}` is not JSON: {error}", node.path),
                    )
                    .with_hint(hint),
                );
                return None;
            }
        },
        _ => toml_to_json(node)?,
    };
    if !value.is_object() {
        decoder.report(
            Diagnostic::new(Code::WrongType, node.span.clone(), format!("`{}` must be a JsonLogic object", node.path))
                .with_hint(hint),
        );
        return None;
    }
    Some(value)
}

/// A TOML value as JSON; `None` for date-times, which JSON has no type for.
fn toml_to_json(node: &Node<'_>) -> Option<serde_json::Value> {
    use serde_json::Value as Json;
    if let Some(value) = node.value() {
        return value_to_json(value);
    }
    let fields = Fields::open(node, &mut Decoder::default())?;
    let mut object = serde_json::Map::new();
    for (key, _, child) in fields.entries() {
        object.insert(key, toml_to_json(&child)?);
    }
    Some(Json::Object(object))
}

fn value_to_json(value: &toml_edit::Value) -> Option<serde_json::Value> {
    use serde_json::Value as Json;
    Some(match value {
        toml_edit::Value::String(text) => Json::String(text.value().clone()),
        toml_edit::Value::Integer(number) => Json::from(*number.value()),
        toml_edit::Value::Float(number) => Json::from(serde_json::Number::from_f64(*number.value())?),
        toml_edit::Value::Boolean(boolean) => Json::Bool(*boolean.value()),
        toml_edit::Value::Datetime(_) => return None,
        toml_edit::Value::Array(array) => Json::Array(array.iter().map(value_to_json).collect::<Option<_>>()?),
        toml_edit::Value::InlineTable(table) => Json::Object(
            table.iter().map(|(key, value)| Some((key.to_owned(), value_to_json(value)?))).collect::<Option<_>>()?,
        ),
    })
}

#[cfg(test)]
mod scan_tests {
    const BASE: &str = "[app]\nname = \"a\"\n[artifact]\npath = \"a\"\n[run]\ncommand = [\"./a\"]\n[environments.staging]\nlisten = \"127.0.0.1:8080\"\n";

    #[test]
    fn scan_section_is_optional_and_read_when_present() {
        let spec = crate::parse_str(BASE).map_err(|report| report.diagnostics).expect("valid");
        assert_eq!(spec.scan, crate::Scan::default());
        let text = format!(
            "{BASE}[scan]\nallow_paths = [\"tests/fixtures/**\"]\nallow_regexes = [\"^sk_test_\"]\nstopwords = [\"dummy\"]\n"
        );
        let spec = crate::parse_str(&text).map_err(|report| report.diagnostics).expect("valid");
        assert_eq!(spec.scan.allow_paths, ["tests/fixtures/**"]);
        assert_eq!(spec.scan.allow_regexes, ["^sk_test_"]);
        assert_eq!(spec.scan.stopwords, ["dummy"]);
    }

    #[test]
    fn scan_section_errors_are_all_reported() {
        let text = format!("{BASE}[scan]\nallow_path = [\"x\"]\nstopwords = [\"\", 3]\nallow_regexes = \"^x\"\n");
        let report = crate::parse_str(&text).expect_err("invalid");
        let messages: Vec<&str> = report.diagnostics.iter().map(|diagnostic| diagnostic.message.as_str()).collect();
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert!(messages.iter().any(|message| message.contains("unknown key `allow_path`")), "{messages:#?}");
        assert!(messages.iter().any(|message| message.contains("the entry is empty")), "{messages:#?}");
        assert!(messages.iter().any(|message| message.contains("must be a string")), "{messages:#?}");
        assert!(messages.iter().any(|message| message.contains("must be an array")), "{messages:#?}");
    }

    #[test]
    fn environments_may_not_set_scan() {
        let text = format!("{BASE}[environments.staging.scan]\nstopwords = [\"x\"]\n");
        let report = crate::parse_str(&text).expect_err("invalid");
        assert!(report.diagnostics.iter().any(|diagnostic| diagnostic.message.contains("may not set `scan`")));
    }
}

//! SG0306: a risky release sits behind a feature flag that starts off.

use serde_json::Value;
use shipgate_flags::Setting;
use shipgate_spec::FlagDecl;

use super::{Context, quoted_all};
use crate::catalog::RISKY_CHANGE_WITHOUT_FLAG;
use crate::finding::Finding;

/// SG0306: a release marked risky (`[app] risky = true`, or `release create --risky`) declares
/// a flag that starts off: a boolean flag whose default variant is `false` and that has no
/// targeting rule, and that the target environment has not turned on at run time (`flags set
/// --variant on` or a rollout of a share above 0%), so the change arrives dark there until
/// someone turns it on with `shipgate flags set`.
pub(super) fn risky_change(context: &Context<'_>, out: &mut Vec<Finding>) {
    let spec = &context.facts.spec;
    let flag_facts = context.facts.flags.as_ref();
    let marked_at_creation = flag_facts.is_some_and(|facts| facts.risky);
    if !spec.app.risky && !marked_at_creation {
        return;
    }
    let setting = |name: &str| flag_facts.and_then(|facts| facts.settings.get(name));
    let declared_off: Vec<&str> =
        spec.flags.iter().filter(|(_, flag)| starts_off(flag)).map(|(name, _)| name.as_str()).collect();
    if declared_off.iter().any(|name| !turned_on(&spec.flags[*name], setting(name))) {
        return;
    }
    let Some(severity) = context.severity(&RISKY_CHANGE_WITHOUT_FLAG) else { return };
    let how = if spec.app.risky { "" } else { " (`release create --risky`)" };
    let names: Vec<&str> = spec.flags.keys().map(String::as_str).collect();
    let (message, hint) = if !declared_off.is_empty() {
        let described: Vec<String> = declared_off
            .iter()
            .map(|name| format!("`{name}` ({})", setting(name).map_or_else(String::new, Setting::describe)))
            .collect();
        (
            format!(
                "release `{}` is marked risky{how} and its flags that start off are already on in `{}`: {}",
                context.version(),
                context.env_name(),
                described.join(", ")
            ),
            format!(
                "turn the flag off in `{env}` before deploying (`shipgate flags set {env} {name} --reset`, or `shipgate flags kill {env} {name}`), or put the change behind a new flag that starts off",
                env = context.env_name(),
                name = declared_off[0]
            ),
        )
    } else if names.is_empty() {
        (format!("release `{}` is marked risky{how} but declares no feature flag", context.version()), hint())
    } else {
        (
            format!(
                "release `{}` is marked risky{how} but none of its flags ({}) starts off: each is on for someone before anyone turns it on",
                context.version(),
                quoted_all(&names)
            ),
            hint(),
        )
    };
    out.push(Finding::new(&RISKY_CHANGE_WITHOUT_FLAG, severity, message, hint, context.at(&["app", "risky"])));
}

fn hint() -> String {
    "put the change behind a flag that starts off, e.g. `[flags.new-checkout]` with `variants = { on = true, off = false }` and `default = \"off\"`, then turn it on after the deployment with `shipgate flags set production new-checkout --rollout 5%`".to_owned()
}

/// A boolean flag whose default variant is `false`, without targeting.
fn starts_off(flag: &FlagDecl) -> bool {
    flag.variants.get(&flag.default) == Some(&Value::Bool(false)) && flag.targeting.is_none()
}

/// Whether a run-time setting serves a variant other than `false` to anyone. A setting naming a
/// variant the flag does not declare is ignored by evaluation, so it turns nothing on.
fn turned_on(flag: &FlagDecl, setting: Option<&Setting>) -> bool {
    let serves_other_than_false =
        |variant: &str| flag.variants.get(variant).is_some_and(|value| *value != Value::Bool(false));
    match setting {
        None | Some(Setting::Killed) => false,
        Some(Setting::Variant { variant }) => serves_other_than_false(variant),
        Some(Setting::Rollout { variant, basis_points }) => *basis_points > 0 && serves_other_than_false(variant),
    }
}

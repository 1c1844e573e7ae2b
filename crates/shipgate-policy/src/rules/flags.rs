//! SG0306: a risky release sits behind a feature flag that starts off.

use super::{Context, quoted_all};
use crate::catalog::RISKY_CHANGE_WITHOUT_FLAG;
use crate::finding::Finding;

/// SG0306: a release marked `[app] risky = true` declares a flag that starts off: a boolean
/// flag whose default variant is `false` and that has no targeting rule, so the change stays
/// dark until someone turns it on with `shipgate flags set`.
pub(super) fn risky_change(context: &Context<'_>, out: &mut Vec<Finding>) {
    let spec = &context.facts.spec;
    if !spec.app.risky {
        return;
    }
    let starts_off = |flag: &shipgate_spec::FlagDecl| {
        flag.variants.get(&flag.default) == Some(&serde_json::Value::Bool(false)) && flag.targeting.is_none()
    };
    if spec.flags.values().any(starts_off) {
        return;
    }
    let Some(severity) = context.severity(&RISKY_CHANGE_WITHOUT_FLAG) else { return };
    let names: Vec<&str> = spec.flags.keys().map(String::as_str).collect();
    let message = if names.is_empty() {
        format!("release `{}` is marked risky but declares no feature flag", context.version())
    } else {
        format!(
            "release `{}` is marked risky but none of its flags ({}) starts off: each is on for someone before anyone turns it on",
            context.version(),
            quoted_all(&names)
        )
    };
    out.push(Finding::new(
        &RISKY_CHANGE_WITHOUT_FLAG,
        severity,
        message,
        "put the change behind a flag that starts off, e.g. `[flags.new-checkout]` with `variants = { on = true, off = false }` and `default = \"off\"`, then turn it on after the deployment with `shipgate flags set production new-checkout --rollout 5%`",
        context.at(&["app", "risky"]),
    ));
}

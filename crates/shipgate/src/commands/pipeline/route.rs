//! Which environments a pipeline run goes through: the target (`--to`, else the one every
//! other leads to) and, before it, every environment it `requires`, directly or not, in an
//! order where each comes after what it requires. Pure.

use std::collections::BTreeMap;

use shipgate_spec::Environment;

/// The environments of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Deployed to in the `stage` stage, in this order.
    pub before: Vec<String>,
    /// Deployed to in the `approve` and `production` stages.
    pub target: String,
}

/// Why there is no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    NoEnvironments,
    Unknown {
        name: String,
        known: Vec<String>,
    },
    /// Several environments are required by none; `--to` must choose.
    Ambiguous(Vec<String>),
    /// `requires` names an environment that is not declared, or goes round in a circle.
    Broken(String),
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::NoEnvironments => write!(f, "shipgate.toml declares no `[environments.*]`"),
            RouteError::Unknown { name, known } => {
                write!(f, "there is no environment `{name}` in shipgate.toml (it has {})", known.join(", "))
            }
            RouteError::Ambiguous(ends) => write!(
                f,
                "{} are each the end of a path (no environment requires them); which one is meant?",
                ends.join(" and ")
            ),
            RouteError::Broken(why) => write!(f, "{why}"),
        }
    }
}

pub fn route(environments: &BTreeMap<String, Environment>, to: Option<&str>) -> Result<Route, RouteError> {
    if environments.is_empty() {
        return Err(RouteError::NoEnvironments);
    }
    let target = match to {
        Some(name) if environments.contains_key(name) => name.to_owned(),
        Some(name) => {
            return Err(RouteError::Unknown { name: name.to_owned(), known: environments.keys().cloned().collect() });
        }
        None => default_target(environments)?,
    };
    let mut before = Vec::new();
    visit(environments, &target, &mut before, &mut Vec::new())?;
    before.retain(|name| *name != target);
    Ok(Route { before, target })
}

/// `production` when declared, else the one environment that no other requires.
fn default_target(environments: &BTreeMap<String, Environment>) -> Result<String, RouteError> {
    if environments.contains_key("production") {
        return Ok("production".to_owned());
    }
    let required: Vec<&String> = environments.values().flat_map(|env| env.requires.iter()).collect();
    let ends: Vec<String> = environments.keys().filter(|name| !required.contains(name)).cloned().collect();
    match ends.as_slice() {
        [only] => Ok(only.clone()),
        _ => Err(RouteError::Ambiguous(ends)),
    }
}

/// Depth first: what `name` requires, then `name`.
fn visit(
    environments: &BTreeMap<String, Environment>,
    name: &str,
    order: &mut Vec<String>,
    path: &mut Vec<String>,
) -> Result<(), RouteError> {
    if order.iter().any(|done| done == name) {
        return Ok(());
    }
    if path.iter().any(|on_path| on_path == name) {
        path.push(name.to_owned());
        return Err(RouteError::Broken(format!("`requires` goes round in a circle: {}", path.join(" → "))));
    }
    let Some(environment) = environments.get(name) else {
        let by = path.last().cloned().unwrap_or_default();
        return Err(RouteError::Broken(format!("`{by}` requires `{name}`, which is not declared")));
    };
    path.push(name.to_owned());
    for required in &environment.requires {
        visit(environments, required, order, path)?;
    }
    path.pop();
    order.push(name.to_owned());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Route, RouteError, route};

    fn environments(toml: &str) -> std::collections::BTreeMap<String, shipgate_spec::Environment> {
        let text = format!("[app]\nname = \"web\"\n[artifact]\npath = \"app\"\n[run]\ncommand = [\"./app\"]\n{toml}");
        shipgate_spec::parse_str(&text).expect("valid spec").environments
    }

    #[test]
    fn production_comes_after_everything_it_requires() {
        let envs = environments(
            "[environments.staging]\nlisten = \"127.0.0.1:1\"\n\
             [environments.qa]\nlisten = \"127.0.0.1:2\"\nrequires = [\"staging\"]\n\
             [environments.production]\nlisten = \"127.0.0.1:3\"\nrequires = [\"qa\", \"staging\"]\n",
        );
        assert_eq!(
            route(&envs, None),
            Ok(Route { before: vec!["staging".into(), "qa".into()], target: "production".into() })
        );
        assert_eq!(route(&envs, Some("qa")), Ok(Route { before: vec!["staging".into()], target: "qa".into() }));
        assert_eq!(route(&envs, Some("staging")), Ok(Route { before: vec![], target: "staging".into() }));
    }

    #[test]
    fn without_production_the_end_of_the_path_is_the_target_unless_there_are_several() {
        let envs = environments(
            "[environments.test]\nlisten = \"127.0.0.1:1\"\n[environments.live]\nlisten = \"127.0.0.1:2\"\nrequires = [\"test\"]\n",
        );
        assert_eq!(route(&envs, None).unwrap().target, "live");
        let envs =
            environments("[environments.a]\nlisten = \"127.0.0.1:1\"\n[environments.b]\nlisten = \"127.0.0.1:2\"\n");
        assert_eq!(route(&envs, None), Err(RouteError::Ambiguous(vec!["a".into(), "b".into()])));
        assert!(matches!(route(&envs, Some("c")), Err(RouteError::Unknown { .. })));
    }
}

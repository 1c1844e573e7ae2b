//! SG0403–SG0406: drift between what the engine put in the environment and what runs there.
//!
//! Semantics (also in the README):
//! - known versions are the active one, the target of a running deployment, and the ones kept
//!   warm for rollback; `stopped` and `draining` instances are ignored (a finished
//!   deployment's tail);
//! - replica counts and traffic weights are judged only outside a deployment (during one, the
//!   engine is moving them on purpose);
//! - foreign listeners are judged always.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::{Context, count, joined, quoted_all};
use crate::catalog::{DRIFT_FOREIGN_LISTENER, DRIFT_REPLICAS, DRIFT_TRAFFIC, DRIFT_UNKNOWN_VERSION};
use crate::facts::{ForeignListener, ObservedInstance};
use crate::finding::Finding;

/// Traffic differences below this (in percent) are rounding, not drift.
const WEIGHT_TOLERANCE: f64 = 0.01;

fn running(instance: &ObservedInstance) -> bool {
    instance.state != "stopped" && instance.state != "draining"
}

/// SG0403: every running instance is of a version the engine put there.
pub(super) fn unknown_versions(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(observed) = &context.facts.observed else { return };
    let desired = &observed.desired;
    let known = |version: &str| {
        desired.active_version.as_deref() == Some(version)
            || desired.deploying_version.as_deref() == Some(version)
            || desired.warm_versions.iter().any(|warm| warm == version)
    };
    let mut unknown: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for instance in observed.instances.iter().filter(|i| running(i) && !known(&i.version)) {
        unknown.entry(&instance.version).or_default().push(&instance.id);
    }
    if unknown.is_empty() {
        return;
    }
    let Some(severity) = context.severity(&DRIFT_UNKNOWN_VERSION) else { return };
    let env = context.env_name();
    let listed: Vec<String> =
        unknown.iter().map(|(version, ids)| format!("`{version}` ({})", quoted_all(ids))).collect();
    let active = match &desired.active_version {
        Some(active) => format!("the active release is `{active}`"),
        None => "no release is active".to_owned(),
    };
    out.push(Finding::new(
        &DRIFT_UNKNOWN_VERSION,
        severity,
        format!("`{env}` runs instances of {} that no deployment put there; {active}", joined(&listed)),
        format!(
            "find out who started them and stop them; if that version is meant to run, deploy it through shipgate (`shipgate deploy {env} VERSION`)"
        ),
        context.at_environment(None),
    ));
}

/// SG0404: outside a deployment, the active release has `replicas` healthy instances, and no
/// more running.
pub(super) fn replicas(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(observed) = &context.facts.observed else { return };
    let desired = &observed.desired;
    let (None, Some(active)) = (&desired.deploying_version, &desired.active_version) else { return };
    let Some(severity) = context.severity(&DRIFT_REPLICAS) else { return };
    let env = context.env_name();
    let instances: Vec<&ObservedInstance> =
        observed.instances.iter().filter(|i| i.version == *active && running(i)).collect();
    let healthy = instances.iter().filter(|i| i.state == "healthy").count() as u64;
    let replicas = u64::from(desired.replicas);
    if healthy < replicas {
        let mut others: BTreeMap<&str, u64> = BTreeMap::new();
        for instance in instances.iter().filter(|i| i.state != "healthy") {
            *others.entry(&instance.state).or_default() += 1;
        }
        let mut parts: Vec<String> = others.iter().map(|(state, n)| format!("{n} {state}")).collect();
        let absent = replicas.saturating_sub(instances.len() as u64);
        if absent > 0 {
            parts.push(format!("{absent} missing"));
        }
        out.push(Finding::new(
            &DRIFT_REPLICAS,
            severity,
            format!(
                "`{env}` has {healthy} of {} of `{active}` healthy ({})",
                count(replicas, "instance"),
                joined(&parts)
            ),
            format!(
                "see `shipgate status {env}` and the instances' logs for why they are not healthy; the agent restarts crashed instances by itself"
            ),
            context.at_environment(Some("replicas")),
        ));
    }
    if instances.len() as u64 > replicas {
        out.push(Finding::new(
            &DRIFT_REPLICAS,
            severity,
            format!("`{env}` runs {} of `{active}`, but declares {replicas}", count(instances.len() as u64, "instance")),
            format!(
                "stop the instances started by hand; to change the count, change `replicas` in `[environments.{env}]` and deploy"
            ),
            context.at_environment(Some("replicas")),
        ));
    }
}

/// `12.5`, `100`, `0.01`.
fn percent(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// SG0405: outside a deployment, all traffic goes to the active release.
pub(super) fn traffic(context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(observed) = &context.facts.observed else { return };
    let desired = &observed.desired;
    if desired.deploying_version.is_some() {
        return;
    }
    let mut weights: BTreeMap<&str, f64> = BTreeMap::new();
    for (version, weight) in &observed.weights {
        *weights.entry(version).or_default() += weight;
    }
    weights.retain(|_, weight| *weight > WEIGHT_TOLERANCE / 2.0);
    let active = desired.active_version.as_deref();
    let on_active = active.and_then(|active| weights.get(active)).copied().unwrap_or(0.0);
    let elsewhere = weights.keys().any(|version| Some(*version) != active);
    let drifted = match active {
        Some(_) => elsewhere || (100.0 - on_active).abs() > WEIGHT_TOLERANCE,
        None => elsewhere,
    };
    if !drifted {
        return;
    }
    let Some(severity) = context.severity(&DRIFT_TRAFFIC) else { return };
    let env = context.env_name();
    let split: Vec<String> =
        weights.iter().map(|(version, weight)| format!("{}% to `{version}`", percent(*weight))).collect();
    let find = "only a deployment changes traffic weights: find out what changed the agent's routing";
    let (message, hint) = match active {
        Some(active) if split.is_empty() => (
            format!("`{env}` sends no traffic to its active release `{active}`, outside a deployment"),
            format!("{find}, then put all traffic back on `{active}` through shipgate"),
        ),
        Some(active) => (
            format!(
                "`{env}` sends {} outside a deployment; all traffic should go to the active release `{active}`",
                joined(&split)
            ),
            format!("{find}, then put all traffic back on `{active}` through shipgate"),
        ),
        None => (
            format!("`{env}` sends {} although no release is active", joined(&split)),
            format!("{find}, and route traffic only by deploying a release (`shipgate deploy {env} VERSION`)"),
        ),
    };
    out.push(Finding::new(&DRIFT_TRAFFIC, severity, message, hint, context.at_environment(None)));
}

/// The IP of a listener address (`None` for a wildcard) and its port.
fn listener_address(address: &str) -> Option<(Option<IpAddr>, u16)> {
    if let Ok(socket) = address.parse::<SocketAddr>() {
        return Some((Some(socket.ip()).filter(|ip| !ip.is_unspecified()), socket.port()));
    }
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host {
        "" | "*" => Some((None, port)),
        // A host name the agent could not resolve: judged by its port alone.
        host => Some((host.parse::<IpAddr>().ok().filter(|ip| !ip.is_unspecified()), port)),
    }
}

/// Whether a listener on `address` competes with one on `listen`.
fn overlaps(listen: SocketAddr, address: &str) -> bool {
    let Some((ip, port)) = listener_address(address) else { return false };
    port == listen.port() && (listen.ip().is_unspecified() || ip.is_none_or(|ip| ip == listen.ip()))
}

fn who(listener: &ForeignListener) -> String {
    match (&listener.command, listener.pid) {
        (Some(command), Some(pid)) => format!("`{command}` (pid {pid})"),
        (Some(command), None) => format!("`{command}`"),
        (None, Some(pid)) => format!("pid {pid}"),
        (None, None) => "a process".to_owned(),
    }
}

/// SG0406: nothing but shipgate listens on the environment's address.
pub(super) fn foreign_listeners(context: &Context<'_>, out: &mut Vec<Finding>) {
    let (Some(observed), Some(environment)) = (&context.facts.observed, context.environment) else { return };
    let listen = environment.listen.addr();
    let env = context.env_name();
    for listener in observed.foreign_listeners.iter().filter(|l| overlaps(listen, &l.address)) {
        let Some(severity) = context.severity(&DRIFT_FOREIGN_LISTENER) else { return };
        out.push(Finding::new(
            &DRIFT_FOREIGN_LISTENER,
            severity,
            format!("{} listens on `{}`, which overlaps `{env}`'s address `{listen}`", who(listener), listener.address),
            format!(
                "stop that process, or move `{env}` to another `listen` address: a second listener on the port takes or splits its traffic"
            ),
            context.at_environment(Some("listen")),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_addresses_overlap_by_port_and_ip() {
        let cases = [
            ("0.0.0.0:80", "0.0.0.0:80", true),
            ("0.0.0.0:80", "127.0.0.1:80", true),
            ("127.0.0.1:80", "0.0.0.0:80", true),
            ("127.0.0.1:80", "[::]:80", true),
            ("127.0.0.1:80", "*:80", true),
            ("127.0.0.1:80", "127.0.0.1:80", true),
            ("127.0.0.1:80", "10.0.0.5:80", false),
            ("0.0.0.0:80", "0.0.0.0:8080", false),
            ("[::1]:443", "[::1]:443", true),
            ("127.0.0.1:80", "localhost:80", true),
            ("127.0.0.1:80", "garbage", false),
        ];
        for (listen, address, expected) in cases {
            let listen: SocketAddr = listen.parse().unwrap();
            assert_eq!(overlaps(listen, address), expected, "{listen} vs {address}");
        }
    }

    #[test]
    fn percentages_print_short() {
        assert_eq!(percent(100.0), "100");
        assert_eq!(percent(12.5), "12.5");
        assert_eq!(percent(33.333), "33.33");
        assert_eq!(percent(0.0), "0");
    }
}

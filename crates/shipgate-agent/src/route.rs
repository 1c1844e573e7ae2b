//! The routing table of one listener: an immutable snapshot, rebuilt on every change (service
//! put/delete, instance health change) and swapped in atomically with `arc-swap`, so the request
//! path reads it without taking a lock.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::uri::Authority;
use hyper::client::conn::http1::SendRequest;

use crate::proxy::ReqBody;

use crate::metrics::VersionMetrics;

/// The header and cookie that pin a request to a version.
pub const PIN_HEADER: &str = "x-shipgate-version";
pub const PIN_COOKIE: &str = "shipgate-version";
/// The cookie that keeps a client on a version while it takes traffic.
pub const STICKY_COOKIE: &str = "shipgate-sticky";

/// One instance as the proxy sees it; lives as long as the instance, across table rebuilds.
pub struct Upstream {
    pub id: Arc<str>,
    pub authority: Authority,
    pub addr: SocketAddr,
    pub in_flight: AtomicUsize,
    consecutive_connect_failures: AtomicU32,
    /// Milliseconds after [`epoch`] until which the instance is ejected (0: not ejected).
    ejected_until: AtomicU64,
    /// Idle keep-alive connections to the instance (see `proxy::checkout`).
    pub idle: Mutex<Vec<Idle>>,
}

/// A pooled upstream connection and when it went idle.
pub struct Idle {
    pub sender: SendRequest<ReqBody>,
    pub since: Instant,
}

/// A process-wide monotonic epoch for cheap atomic timestamps.
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

impl Upstream {
    pub fn new(id: &str, port: u16) -> Result<Upstream, http::uri::InvalidUri> {
        Ok(Upstream {
            id: Arc::from(id),
            authority: Authority::try_from(format!("127.0.0.1:{port}"))?,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            in_flight: AtomicUsize::new(0),
            consecutive_connect_failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            idle: Mutex::new(Vec::new()),
        })
    }

    pub fn is_ejected(&self) -> bool {
        let until = self.ejected_until.load(Ordering::Relaxed);
        until != 0 && now_ms() < until
    }

    /// Counts a failed connect; returns true when this one ejects the instance.
    pub fn connect_failed(&self, eject_after: u32, eject_for: Duration) -> bool {
        let failures = self.consecutive_connect_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if eject_after > 0 && failures >= eject_after && !self.is_ejected() {
            self.ejected_until.store(now_ms() + eject_for.as_millis() as u64, Ordering::Relaxed);
            return true;
        }
        false
    }

    pub fn connected(&self) {
        if self.consecutive_connect_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_connect_failures.store(0, Ordering::Relaxed);
            self.ejected_until.store(0, Ordering::Relaxed);
        }
    }

    /// Passed its health probe: forget passive ejection.
    pub fn reset(&self) {
        self.connected();
    }

    /// Close idle pooled connections (on drain).
    pub fn close_idle(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

pub struct VersionTable {
    pub name: Arc<str>,
    pub weight: u32,
    pub pinnable: bool,
    /// Healthy instances only.
    pub instances: Vec<Arc<Upstream>>,
    pub metrics: Arc<VersionMetrics>,
    next: AtomicUsize,
}

impl VersionTable {
    pub fn new(
        name: Arc<str>,
        weight: u32,
        pinnable: bool,
        instances: Vec<Arc<Upstream>>,
        metrics: Arc<VersionMetrics>,
    ) -> Self {
        VersionTable { name, weight, pinnable, instances, metrics, next: AtomicUsize::new(0) }
    }

    /// Round-robin over instances that are not ejected, skipping `except`; falls back to an
    /// ejected one rather than to nothing (ejection is a hint, not a verdict).
    pub fn pick(&self, except: Option<&Upstream>) -> Option<&Arc<Upstream>> {
        let n = self.instances.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut fallback = None;
        for i in 0..n {
            let candidate = &self.instances[(start + i) % n];
            if except.is_some_and(|e| std::ptr::eq(e, &**candidate)) {
                continue;
            }
            if !candidate.is_ejected() {
                return Some(candidate);
            }
            fallback.get_or_insert(candidate);
        }
        fallback
    }
}

pub struct ServiceTable {
    pub name: Arc<str>,
    /// Lower-case host names; empty: any host.
    pub hosts: Vec<String>,
    pub path_prefix: Option<String>,
    pub sticky: bool,
    pub versions: Vec<VersionTable>,
    /// `(cumulative weight, index into versions)` of versions that take weighted traffic.
    weighted: Vec<(u32, usize)>,
    pub max_body_bytes: u64,
    pub response_header_timeout: Duration,
    pub eject_after: u32,
    pub eject_for: Duration,
}

pub struct ServiceLimits {
    pub max_body_bytes: u64,
    pub response_header_timeout: Duration,
    pub eject_after: u32,
    pub eject_for: Duration,
}

impl ServiceTable {
    pub fn new(
        name: Arc<str>,
        hosts: Vec<String>,
        path_prefix: Option<String>,
        sticky: bool,
        versions: Vec<VersionTable>,
        limits: ServiceLimits,
    ) -> Self {
        let mut weighted = Vec::new();
        let mut total = 0u32;
        for (index, version) in versions.iter().enumerate() {
            if version.weight > 0 && !version.instances.is_empty() {
                total = total.saturating_add(version.weight);
                weighted.push((total, index));
            }
        }
        ServiceTable {
            name,
            hosts: hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
            path_prefix,
            sticky,
            versions,
            weighted,
            max_body_bytes: limits.max_body_bytes,
            response_header_timeout: limits.response_header_timeout,
            eject_after: limits.eject_after,
            eject_for: limits.eject_for,
        }
    }

    pub fn version(&self, name: &[u8]) -> Option<usize> {
        self.versions.iter().position(|v| v.name.as_bytes() == name)
    }

    /// A version chosen by weight, from `roll` uniform in `[0, 1)`.
    pub fn weighted(&self, roll: f64) -> Option<usize> {
        let total = self.weighted.last()?.0;
        let point = ((roll * f64::from(total)) as u32).min(total - 1);
        self.weighted.iter().find(|(cumulative, _)| point < *cumulative).map(|(_, index)| *index)
    }

    pub fn takes_weighted_traffic(&self, index: usize) -> bool {
        self.weighted.iter().any(|(_, i)| *i == index)
    }
}

#[derive(Default)]
pub struct ListenerTable {
    pub services: Vec<ServiceTable>,
}

impl ListenerTable {
    /// The service for `host` (port already stripped) and `path`: a service naming the host beats
    /// one for any host, then the longest path prefix wins.
    pub fn find(&self, host: Option<&str>, path: &str) -> Option<&ServiceTable> {
        let mut best: Option<(&ServiceTable, (bool, usize))> = None;
        for service in &self.services {
            let host_match = match host {
                Some(host) => service.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)),
                None => false,
            };
            if !host_match && !service.hosts.is_empty() {
                continue;
            }
            let prefix_len = match &service.path_prefix {
                Some(prefix) if path.starts_with(prefix.as_str()) => prefix.len(),
                Some(_) => continue,
                None => 0,
            };
            let rank = (host_match, prefix_len);
            if best.as_ref().is_none_or(|(_, best_rank)| rank > *best_rank) {
                best = Some((service, rank));
            }
        }
        best.map(|(service, _)| service)
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a [u8], name: &str) -> Option<&'a [u8]> {
    header.split(|b| *b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let rest = pair.strip_prefix(name.as_bytes())?;
        rest.strip_prefix(b"=")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(name: &str, weight: u32, instances: usize) -> VersionTable {
        let ups =
            (0..instances).map(|i| Arc::new(Upstream::new(&format!("{name}-{i}"), 1000 + i as u16).unwrap())).collect();
        VersionTable::new(Arc::from(name), weight, false, ups, Arc::default())
    }

    fn service(name: &str, hosts: &[&str], prefix: Option<&str>, versions: Vec<VersionTable>) -> ServiceTable {
        ServiceTable::new(
            Arc::from(name),
            hosts.iter().map(|h| h.to_string()).collect(),
            prefix.map(str::to_owned),
            false,
            versions,
            ServiceLimits {
                max_body_bytes: 10,
                response_header_timeout: Duration::from_secs(1),
                eject_after: 3,
                eject_for: Duration::from_secs(10),
            },
        )
    }

    #[test]
    fn weighted_choice_follows_weights_and_skips_empty_versions() {
        let s = service("a", &[], None, vec![version("v1", 10, 1), version("v2", 90, 1), version("v3", 50, 0)]);
        let mut counts = [0usize; 3];
        for i in 0..10_000 {
            counts[s.weighted(i as f64 / 10_000.0).unwrap()] += 1;
        }
        assert_eq!(counts, [1000, 9000, 0]);
        let empty = service("b", &[], None, vec![version("v1", 0, 1)]);
        assert_eq!(empty.weighted(0.5), None);
    }

    #[test]
    fn host_and_prefix_matching() {
        let table = ListenerTable {
            services: vec![
                service("any", &[], None, vec![]),
                service("api", &["api.example"], None, vec![]),
                service("api-v2", &["api.example"], Some("/v2/"), vec![]),
                service("static", &[], Some("/static/"), vec![]),
            ],
        };
        let find = |host, path| table.find(host, path).map(|s| s.name.to_string());
        let cases = [
            (Some("API.example"), "/x", Some("api")),
            (Some("api.example"), "/v2/users", Some("api-v2")),
            (Some("other"), "/x", Some("any")),
            (None, "/static/a.css", Some("static")),
            (Some("api.example"), "/static/a.css", Some("api")),
        ];
        for (host, path, want) in cases {
            assert_eq!(find(host, path).as_deref(), want, "{host:?} {path}");
        }
        let only_named = ListenerTable { services: vec![service("api", &["api.example"], None, vec![])] };
        assert!(only_named.find(Some("other"), "/").is_none());
    }

    #[test]
    fn round_robin_skips_ejected_and_excluded() {
        let v = version("v", 1, 3);
        assert!(v.instances[1].connect_failed(1, Duration::from_secs(60)));
        let picked: Vec<_> = (0..6).map(|_| v.pick(None).unwrap().id.to_string()).collect();
        assert!(!picked.contains(&"v-1".to_string()));
        let first = v.instances[0].clone();
        for _ in 0..5 {
            assert_ne!(v.pick(Some(&first)).unwrap().id.as_ref(), "v-0");
        }
        v.instances[1].connected();
        assert!(!v.instances[1].is_ejected());
    }

    #[test]
    fn cookie_lookup() {
        let header = b"a=1; shipgate-version=v2;shipgate-sticky=v1";
        assert_eq!(cookie(header, PIN_COOKIE), Some(&b"v2"[..]));
        assert_eq!(cookie(header, STICKY_COOKIE), Some(&b"v1"[..]));
        assert_eq!(cookie(header, "b"), None);
        assert_eq!(cookie(b"shipgate-versionx=1", PIN_COOKIE), None);
    }
}

//! Every environment variable the sample reads, and the pure function that
//! turns them into a [`Config`]. No I/O here: the caller passes the lookup.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Port to listen on, on 127.0.0.1. Required unless `SAMPLE_LISTEN` is set.
pub const PORT: &str = "PORT";
/// Full address to listen on (`IP:port`, e.g. `0.0.0.0:8080`); wins over `PORT`.
pub const SAMPLE_LISTEN: &str = "SAMPLE_LISTEN";
/// Version named by `GET /` and the `x-sample-version` header. Default `dev`.
pub const SAMPLE_VERSION: &str = "SAMPLE_VERSION";
/// `1`/`true`: `/healthz` answers 503 for as long as the process runs.
pub const SAMPLE_UNHEALTHY: &str = "SAMPLE_UNHEALTHY";
/// Milliseconds after start during which `/healthz` answers 503.
pub const SAMPLE_STARTUP_MS: &str = "SAMPLE_STARTUP_MS";
/// Fraction in [0, 1] of requests to `/` and `/slow` answered 500.
pub const SAMPLE_ERROR_RATE: &str = "SAMPLE_ERROR_RATE";
/// Latency added to `/` and `/slow`: `N` milliseconds, or `p50,p99`.
pub const SAMPLE_LATENCY_MS: &str = "SAMPLE_LATENCY_MS";
/// Exit with status 1 after this many requests; `0` exits at start.
pub const SAMPLE_CRASH_AFTER: &str = "SAMPLE_CRASH_AFTER";
/// `1`/`true`: one line per request on stderr. Off by default (benchmarks).
pub const SAMPLE_ACCESS_LOG: &str = "SAMPLE_ACCESS_LOG";

/// Every variable above, for spotting typos among the `SAMPLE_*` ones set.
pub const ALL: &[&str] = &[
    PORT,
    SAMPLE_LISTEN,
    SAMPLE_VERSION,
    SAMPLE_UNHEALTHY,
    SAMPLE_STARTUP_MS,
    SAMPLE_ERROR_RATE,
    SAMPLE_LATENCY_MS,
    SAMPLE_CRASH_AFTER,
    SAMPLE_ACCESS_LOG,
];

/// Upper bound for any single delay: `/slow?ms=`, fixed or sampled latency.
pub const MAX_DELAY_MS: u64 = 60_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub version: String,
    pub unhealthy: bool,
    pub startup: Duration,
    pub error_rate: f64,
    pub latency: Latency,
    pub crash_after: Option<u64>,
    pub access_log: bool,
}

/// Latency added before answering `/` and `/slow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    None,
    Fixed(Duration),
    /// Log-normal with this median and 99th percentile (`p99 >= p50`).
    Random {
        p50: Duration,
        p99: Duration,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("neither `PORT` nor `SAMPLE_LISTEN` is set")]
    NoListenAddress,
    #[error("invalid value `{value}` for `{var}`")]
    Invalid { var: &'static str, value: String, expected: &'static str },
}

impl ConfigError {
    /// What to do about it, for the `hint:` line.
    pub fn hint(&self) -> String {
        match self {
            Self::NoListenAddress => {
                "set `PORT` (e.g. `PORT=8080`) or `SAMPLE_LISTEN` (e.g. `SAMPLE_LISTEN=0.0.0.0:8080`)".to_owned()
            }
            Self::Invalid { var, expected, .. } => format!("`{var}` must be {expected}"),
        }
    }

    /// The variable at fault, if there is one.
    pub fn var(&self) -> Option<&'static str> {
        match self {
            Self::NoListenAddress => None,
            Self::Invalid { var, .. } => Some(var),
        }
    }
}

impl Config {
    /// Reads every variable through `lookup` (an empty value counts as unset)
    /// and returns the configuration, or every problem found.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Vec<ConfigError>> {
        let mut env = Reader { lookup, errors: Vec::new() };
        const BOOL: &str = "one of `1`, `0`, `true`, `false`";
        let listen = env.read(SAMPLE_LISTEN, "an `IP:port` address such as `0.0.0.0:8080` or `[::1]:8080`", |v| {
            v.parse::<SocketAddr>().ok()
        });
        let listen = match listen {
            Some(addr) => Some(addr),
            None => env
                .read(PORT, "a port number from 0 to 65535", |v| v.parse::<u16>().ok())
                .map(|port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)),
        };
        let version = env.read(SAMPLE_VERSION, "printable ASCII without spaces, such as `1.2.3`", |v| {
            v.bytes().all(|b| b.is_ascii_graphic()).then(|| v.to_owned())
        });
        let unhealthy = env.read(SAMPLE_UNHEALTHY, BOOL, parse_bool);
        let startup = env
            .read(SAMPLE_STARTUP_MS, "a whole number of milliseconds", |v| v.parse().ok().map(Duration::from_millis));
        let error_rate = env.read(SAMPLE_ERROR_RATE, "a fraction from 0 to 1, such as `0.05`", parse_rate);
        let latency = env.read(
            SAMPLE_LATENCY_MS,
            "`N` or `p50,p99` in whole milliseconds up to 60000, with p99 >= p50",
            parse_latency,
        );
        let crash_after = env.read(SAMPLE_CRASH_AFTER, "a whole number of requests", |v| v.parse().ok());
        let access_log = env.read(SAMPLE_ACCESS_LOG, BOOL, parse_bool);

        let mut errors = env.errors;
        match listen {
            Some(listen) if errors.is_empty() => Ok(Config {
                listen,
                version: version.unwrap_or_else(|| "dev".to_owned()),
                unhealthy: unhealthy.unwrap_or(false),
                startup: startup.unwrap_or(Duration::ZERO),
                error_rate: error_rate.unwrap_or(0.0),
                latency: latency.unwrap_or(Latency::None),
                crash_after,
                access_log: access_log.unwrap_or(false),
            }),
            Some(_) => Err(errors),
            None => {
                // A bad PORT or SAMPLE_LISTEN is reported already.
                if !errors.iter().any(|e| matches!(e.var(), Some(PORT | SAMPLE_LISTEN))) {
                    errors.insert(0, ConfigError::NoListenAddress);
                }
                Err(errors)
            }
        }
    }
}

/// Reads variables one by one, collecting every invalid value.
struct Reader<F> {
    lookup: F,
    errors: Vec<ConfigError>,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    /// `None` when unset, empty or invalid (then an error is recorded).
    fn read<T>(
        &mut self,
        var: &'static str,
        expected: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let value = (self.lookup)(var).filter(|v| !v.is_empty())?;
        let parsed = parse(&value);
        if parsed.is_none() {
            self.errors.push(ConfigError::Invalid { var, value, expected });
        }
        parsed
    }
}

/// The `SAMPLE_*` names among `names` that the sample does not know.
pub fn unknown_vars<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    names.into_iter().filter(|name| name.starts_with("SAMPLE_") && !ALL.contains(name)).collect()
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

fn parse_rate(value: &str) -> Option<f64> {
    value.parse::<f64>().ok().filter(|rate| (0.0..=1.0).contains(rate))
}

/// Parses a delay in whole milliseconds, at most [`MAX_DELAY_MS`].
pub fn parse_delay_ms(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().filter(|ms| *ms <= MAX_DELAY_MS).map(Duration::from_millis)
}

fn parse_latency(value: &str) -> Option<Latency> {
    match value.split_once(',') {
        None => parse_delay_ms(value).map(Latency::Fixed),
        Some((p50, p99)) => {
            let (p50, p99) = (parse_delay_ms(p50)?, parse_delay_ms(p99)?);
            (p99 >= p50).then_some(Latency::Random { p50, p99 })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        // The last setting of a variable wins, so cases can override `base`.
        move |key| {
            let found = pairs.iter().rev().find(|(k, _)| k == key);
            found.map(|(_, v)| v.clone())
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn base() -> Config {
        Config {
            listen: "127.0.0.1:8080".parse().unwrap(),
            version: "dev".to_owned(),
            unhealthy: false,
            startup: Duration::ZERO,
            error_rate: 0.0,
            latency: Latency::None,
            crash_after: None,
            access_log: false,
        }
    }

    #[test]
    fn valid_values() {
        type Edit = fn(&mut Config);
        let cases: &[(&str, &str, Edit)] = &[
            (PORT, "8080", |_| {}),
            (PORT, "0", |c| c.listen.set_port(0)),
            (SAMPLE_LISTEN, "0.0.0.0:9000", |c| {
                c.listen = "0.0.0.0:9000".parse().unwrap();
            }),
            (SAMPLE_LISTEN, "[::1]:9000", |c| {
                c.listen = "[::1]:9000".parse().unwrap();
            }),
            (SAMPLE_VERSION, "1.2.3", |c| c.version = "1.2.3".to_owned()),
            (SAMPLE_VERSION, "", |_| {}),
            (SAMPLE_UNHEALTHY, "1", |c| c.unhealthy = true),
            (SAMPLE_UNHEALTHY, "false", |_| {}),
            (SAMPLE_STARTUP_MS, "1500", |c| c.startup = ms(1500)),
            (SAMPLE_ERROR_RATE, "0.3", |c| c.error_rate = 0.3),
            (SAMPLE_ERROR_RATE, "1", |c| c.error_rate = 1.0),
            (SAMPLE_LATENCY_MS, "200", |c| c.latency = Latency::Fixed(ms(200))),
            (SAMPLE_LATENCY_MS, "50, 200", |c| {
                c.latency = Latency::Random { p50: ms(50), p99: ms(200) };
            }),
            (SAMPLE_LATENCY_MS, "0,100", |c| {
                c.latency = Latency::Random { p50: ms(0), p99: ms(100) };
            }),
            (SAMPLE_CRASH_AFTER, "3", |c| c.crash_after = Some(3)),
            (SAMPLE_CRASH_AFTER, "0", |c| c.crash_after = Some(0)),
            (SAMPLE_ACCESS_LOG, "true", |c| c.access_log = true),
        ];
        for (var, value, edit) in cases {
            let mut expected = base();
            edit(&mut expected);
            let got = Config::from_env(env(&[(PORT, "8080"), (var, value)]));
            assert_eq!(got, Ok(expected), "{var}={value}");
        }
    }

    #[test]
    fn invalid_values() {
        let cases: &[(&str, &str)] = &[
            (PORT, "http"),
            (PORT, "65536"),
            (PORT, "-1"),
            (SAMPLE_LISTEN, "localhost:8080"),
            (SAMPLE_LISTEN, "127.0.0.1"),
            (SAMPLE_VERSION, "1.2 beta"),
            (SAMPLE_VERSION, "v\n1"),
            (SAMPLE_UNHEALTHY, "yes"),
            (SAMPLE_STARTUP_MS, "1.5s"),
            (SAMPLE_ERROR_RATE, "1.5"),
            (SAMPLE_ERROR_RATE, "-0.1"),
            (SAMPLE_ERROR_RATE, "NaN"),
            (SAMPLE_LATENCY_MS, "fast"),
            (SAMPLE_LATENCY_MS, "200,100"),
            (SAMPLE_LATENCY_MS, "10,20,30"),
            (SAMPLE_LATENCY_MS, "60001"),
            (SAMPLE_CRASH_AFTER, "-3"),
            (SAMPLE_ACCESS_LOG, "on"),
        ];
        for (var, value) in cases {
            let got = Config::from_env(env(&[(PORT, "8080"), (var, value)]));
            let errors = got.expect_err(&format!("{var}={value} should be rejected"));
            assert_eq!(errors.len(), 1, "{var}={value}: {errors:?}");
            let ConfigError::Invalid { var: got_var, value: got_value, .. } = &errors[0] else {
                panic!("{var}={value}: unexpected {:?}", errors[0]);
            };
            assert_eq!((got_var, got_value.as_str()), (var, *value));
            let message = errors[0].to_string();
            assert!(message.contains(var) && message.contains(value), "{message}");
        }
    }

    #[test]
    fn listen_address() {
        let missing = Config::from_env(env(&[]));
        assert_eq!(missing, Err(vec![ConfigError::NoListenAddress]));
        let empty = Config::from_env(env(&[(PORT, "")]));
        assert_eq!(empty, Err(vec![ConfigError::NoListenAddress]));
        // SAMPLE_LISTEN alone is enough, and wins over PORT (even a bad one).
        let listen = Config::from_env(env(&[(SAMPLE_LISTEN, "0.0.0.0:1"), (PORT, "x")]));
        assert_eq!(listen.map(|c| c.listen), Ok("0.0.0.0:1".parse().unwrap()));
    }

    #[test]
    fn every_error_is_reported() {
        let got = Config::from_env(env(&[(PORT, "x"), (SAMPLE_ERROR_RATE, "2"), (SAMPLE_CRASH_AFTER, "soon")]));
        let vars: Vec<_> = got
            .unwrap_err()
            .iter()
            .map(|e| match e {
                ConfigError::Invalid { var, .. } => *var,
                ConfigError::NoListenAddress => "none",
            })
            .collect();
        assert_eq!(vars, [PORT, SAMPLE_ERROR_RATE, SAMPLE_CRASH_AFTER]);
    }

    #[test]
    fn unknown_sample_vars() {
        let names = ["PATH", "SAMPLE_ERROR_RATE", "SAMPLE_EROR_RATE", "PORT"];
        assert_eq!(unknown_vars(names), ["SAMPLE_EROR_RATE"]);
    }
}

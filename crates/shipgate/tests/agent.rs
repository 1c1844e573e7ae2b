//! `shipgate agent` as a process: `kill -9` and re-adoption, graceful upgrade under load, logs.
//! Instances are the real `shipgate-sample` (built once with `cargo build -p shipgate-sample`,
//! then taken from the target directory of this test's binary).

#![allow(clippy::unwrap_used)]

mod common;

use common::load::{adopt_orphans, agent_api as api, free_port, get, sample_bin, start_load};

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Each test gives its agents their own `ports` for instances: tests run in parallel, and two
/// agents handing out the same port would start instances that collide.
fn start_agent(state: &Path, ports: &str, extra: &[&str], log: &str) -> Child {
    adopt_orphans();
    let log = std::fs::File::create(state.parent().unwrap().join(log)).unwrap();
    Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["agent", "--state-dir"])
        .arg(state)
        .args(["--port-range", ports])
        .args(extra)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn setup(state: &Path, addr: SocketAddr) -> Vec<i64> {
    let spec = format!(
        r#"{{"listen":"{addr}","versions":[{{"name":"v1","weight":1}}],"health":{{"probe":{{"http":{{"path":"/healthz"}}}},"interval_ms":100}}}}"#
    );
    assert_eq!(api(state, "PUT", "/v1/services/web", &spec).0, 200);
    let bin = sample_bin();
    for _ in 0..2 {
        let body = format!(
            r#"{{"service":"web","version":"v1","artifact_dir":"{}","command":["{}"]}}"#,
            state.display(),
            bin.display()
        );
        assert_eq!(api(state, "POST", "/v1/instances", &body).0, 201);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, list) = api(state, "GET", "/v1/instances", "");
        let list = list.as_array().unwrap().clone();
        if list.len() == 2 && list.iter().all(|i| i["state"] == "healthy") {
            return list.iter().map(|i| i["workload"]["pid"].as_i64().unwrap()).collect();
        }
        assert!(Instant::now() < deadline, "instances not healthy: {list:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z"))
}

fn cleanup(state: &Path, mut agent: Child, pids: &[i64]) {
    api(state, "DELETE", "/v1/services/web", "");
    let deadline = Instant::now() + Duration::from_secs(15);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(pid) = rustix::process::Pid::from_raw(agent.id() as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let _ = agent.wait();
    for pid in pids {
        kill_instance_group(*pid);
    }
    reap(pids);
}

/// SIGKILL the process group an instance leads, through the system call.
///
/// Never through the `kill` command: procps-ng 4.0.x (Debian 12's `/usr/bin/kill`) misparses
/// `kill -9 -PGID` and signals the group named by PGID's *first digit*, so `kill -9 -12345` is
/// `kill(-1, SIGKILL)`: as root, every process on the machine. That is what took down the
/// development sandbox (and its PostgreSQL) when these tests cleaned up.
fn kill_instance_group(pid: i64) {
    let Some(pid) = i32::try_from(pid).ok().filter(|pid| *pid > 1).and_then(rustix::process::Pid::from_raw) else {
        return;
    };
    // Only a group this instance still leads: a reused pid must not take a stranger down.
    if rustix::process::getpgid(Some(pid)).is_ok_and(|group| group == pid) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Instances outlived their agent and were re-parented to this process (`adopt_orphans`): wait
/// for them, so no zombie is left behind.
fn reap(pids: &[i64]) {
    for pid in pids.iter().filter_map(|pid| i32::try_from(*pid).ok().filter(|pid| *pid > 1)) {
        let Some(pid) = rustix::process::Pid::from_raw(pid) else { continue };
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(None) = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG) {
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn kill_9_of_the_agent_under_load_then_instances_are_readopted() {
    const PORTS: &str = "41000-41049";
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut first = start_agent(&state, PORTS, &[], "first.log");
    let pids = setup(&state, addr);
    let load = start_load(addr, 2);
    std::thread::sleep(Duration::from_millis(500));
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(pids.iter().all(|p| alive(*p)), "instances survive the agent's death");

    let restarted = Instant::now();
    let second = start_agent(&state, PORTS, &[], "second.log");
    let mut conn = None;
    let serving_after = loop {
        if get(addr, &mut conn) == Ok(200) {
            break restarted.elapsed();
        }
        conn = None;
        assert!(restarted.elapsed() < Duration::from_secs(5), "not serving again");
        std::thread::sleep(Duration::from_millis(5));
    };
    std::thread::sleep(Duration::from_millis(500));
    let (ok, _failed_while_down) = load.finish();
    assert!(ok > 100);
    assert!(serving_after < Duration::from_secs(1), "serving again after {serving_after:?}");
    let (_, list) = api(&state, "GET", "/v1/instances", "");
    let mut readopted: Vec<i64> =
        list.as_array().unwrap().iter().map(|i| i["workload"]["pid"].as_i64().unwrap()).collect();
    let mut expected = pids.clone();
    readopted.sort();
    expected.sort();
    assert_eq!(readopted, expected, "the same processes, re-adopted: {list}");
    assert!(list.as_array().unwrap().iter().all(|i| i["state"] == "healthy" && i["restarts"] == 0), "{list}");
    cleanup(&state, second, &pids);
}

#[test]
fn upgrade_under_load_fails_no_request() {
    const PORTS: &str = "41050-41099";
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut first = start_agent(&state, PORTS, &[], "first.log");
    let pids = setup(&state, addr);
    let load = start_load(addr, 4);
    std::thread::sleep(Duration::from_millis(700));
    let upgrade_socket = state.join("upgrade.sock");
    let second = start_agent(&state, PORTS, &["--upgrade-from", upgrade_socket.to_str().unwrap()], "second.log");
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = first.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the old agent did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "old agent: {status}");
    std::thread::sleep(Duration::from_millis(700));
    let (ok, failed) = load.finish();
    let logs = std::fs::read_to_string(dir.path().join("second.log")).unwrap_or_default();
    assert!(
        failed.is_empty(),
        "{} failed of {}: {:?}\n{logs}",
        failed.len(),
        ok + failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(ok > 200, "load ran: {ok}");
    let (_, list) = api(&state, "GET", "/v1/instances", "");
    let mut adopted: Vec<i64> =
        list.as_array().unwrap().iter().map(|i| i["workload"]["pid"].as_i64().unwrap()).collect();
    let mut expected = pids.clone();
    adopted.sort();
    expected.sort();
    assert_eq!(adopted, expected);
    cleanup(&state, second, &pids);
}

#[test]
fn agent_logs_prints_an_instance_log_and_needs_a_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("web-v1-1.log"), "line one\nline two\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["agent", "logs", "web-v1-1", "--state-dir"])
        .arg(dir.path())
        .env_remove("SHIPGATE_AGENT_STATE_DIR")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "line one\nline two\n");
    let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["agent", "logs", "nope"])
        .env_remove("SHIPGATE_AGENT_STATE_DIR")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("hint: pass `--state-dir DIR`"));
}

/// The mass kill that took down the development machine: procps-ng 4.0.x's `kill` command folds
/// a negative pid to its first digit (`kill -9 -12345` is `kill(-1, SIGKILL)`: everything, as
/// root). Process groups are signalled with the system call (rustix) or `kill -SIG -- -PGID`;
/// this scans the tests, benchmarks and CI scripts for the dangerous spelling.
#[test]
fn regression_procps_kill_turns_a_negative_pgid_into_kill_minus_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    let mut dirs = vec![root.join("bench"), root.join(".ci"), root.join("crates")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !path.ends_with("target") {
                    dirs.push(path);
                }
            } else if path.extension().is_none_or(|ext| ext == "sh" || ext == "rs") {
                files.push(path);
            }
        }
    }
    let mut found = Vec::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let is_rust = path.extension().is_some_and(|ext| ext == "rs");
            let dangerous = if is_rust {
                line.contains(&["Command::new(\"", "kill\")"].concat())
                    && lines[n..lines.len().min(n + 3)].iter().any(|l| l.contains("\"-{") || l.contains("format!(\"-"))
            } else {
                shell_kills_a_group_without_separator(line)
            };
            if dangerous {
                found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "`kill` given a negative pid without `--`:\n{}", found.join("\n"));
}

fn shell_kills_a_group_without_separator(line: &str) -> bool {
    let mut words = line.split_whitespace().skip_while(|word| *word != "kill").skip(1);
    // The signal: `-9`, `-TERM` or `-s TERM`.
    match words.next() {
        Some("-s" | "-n") => {
            words.next();
        }
        Some(word) if word.starts_with('-') && word != "--" => {}
        Some(word) => return word.trim_matches('"').starts_with('-'),
        None => return false,
    }
    words.take_while(|word| *word != "--").any(|word| {
        word.trim_start_matches('"').strip_prefix('-').is_some_and(|rest| {
            rest.trim_start_matches('"').starts_with(['$', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
        })
    })
}

#[test]
fn shell_group_kills_without_separator_are_recognised() {
    for (line, dangerous) in [
        ("  kill -9 -$pid", true),
        ("kill -s TERM -\"$group\" 2>/dev/null", true),
        ("kill -KILL -12345", true),
        ("kill -9 -- -$pid", false),
        ("kill -TERM \"$pid\"", false),
        ("kill $pid", false),
        ("echo skill -9 -1", false),
    ] {
        assert_eq!(shell_kills_a_group_without_separator(line), dangerous, "{line}");
    }
}

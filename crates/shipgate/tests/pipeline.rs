//! `shipgate pipeline run` against a real server and agent, on a real git repository: a commit
//! goes from source to production; the next one is staged with a rollback rehearsal; the run
//! stops at each stage's failure with the right report; `--resume` skips what succeeded and
//! waits for the approval it stopped at instead of starting another deployment.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::cluster::Cluster;
use common::load::{free_port, sample_bin};
use serde_json::Value;

/// A project in a git repository whose build copies the sample service into `app/`.
struct Project {
    dir: PathBuf,
    production: u16,
}

impl Project {
    fn new(cluster: &Cluster) -> Project {
        let dir = cluster.path("project");
        std::fs::create_dir_all(dir.join("src")).unwrap();
        let project = Project { dir, production: free_port() };
        project.git(&["init", "-q", "-b", "main"]);
        project.git(&["config", "user.email", "dev@example.com"]);
        project.git(&["config", "user.name", "Dev"]);
        project.write(".gitignore", "app/\nreports/\n.shipgate/\n");
        project.write("src/main.txt", "hello\n");
        // A linter: no FIXME in the source.
        project.write("lint.sh", "#!/bin/sh\n! grep -rn FIXME src\n");
        // A test runner that writes a JUnit report and fails when `src/broken` exists.
        project.write(
            "test.sh",
            "#!/bin/sh\nmkdir -p reports\nif [ -e src/broken ]; then f=1; else f=0; fi\n\
             printf '<testsuite name=\"t\" tests=\"3\" failures=\"%s\" errors=\"0\" skipped=\"0\"></testsuite>\\n' $f > reports/junit.xml\n\
             exit $f\n",
        );
        for script in ["lint.sh", "test.sh"] {
            let path = project.dir.join(script);
            Command::new("chmod").arg("+x").arg(&path).status().unwrap();
        }
        project
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git").args(args).current_dir(&self.dir).output().unwrap();
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// shipgate.toml: the sample service, staging, and production after staging, with
    /// `production` and `extra` TOML added.
    fn spec(&self, cluster: &Cluster, staging: &str, production: &str, extra: &str) {
        let spec = format!(
            "[app]\nname = \"web\"\n[artifact]\npath = \"app\"\ntrusted_keys = [\"{key}\"]\n\
             [run]\ncommand = [\"./shipgate-sample\"]\nenv = {{ SAMPLE_VERSION = \"x\" }}\n\
             drain = \"1s\"\nstop_grace = \"1s\"\n\
             [run.health]\nhttp = \"/healthz\"\ninterval = \"100ms\"\nhealthy = 1\nunhealthy = 2\nstartup = \"3s\"\n\
             [pipeline]\nlint = [\"./lint.sh\"]\n\
             build = [\"mkdir -p app && cp '{sample}' app/shipgate-sample\"]\n\
             test = [\"./test.sh\"]\njunit = \"reports/*.xml\"\n{extra}\n\
             [environments.staging]\nlisten = \"{staging_listen}\"\n{staging}\n\
             [environments.production]\nlisten = \"127.0.0.1:{port}\"\nrequires = [\"staging\"]\n\
             strategy = {{ canary = [ {{ weight = 50, hold = \"300ms\" }} ] }}\nsmoke = [{{ http = \"/healthz\" }}]\n{production}\n",
            key = cluster.public_key,
            sample = sample_bin().display(),
            staging_listen = cluster.listen,
            port = self.production,
        );
        self.write("shipgate.toml", &spec);
    }

    fn run(&self, cluster: &Cluster, args: &[&str]) -> (i32, String, String) {
        self.run_as(cluster, &cluster.token, args)
    }

    fn run_as(&self, cluster: &Cluster, token: &str, args: &[&str]) -> (i32, String, String) {
        let file = self.dir.join("shipgate.toml");
        let key = cluster.path("signing.key");
        let data = cluster.path("data");
        let mut all = vec!["pipeline", "run", "--file", file.to_str().unwrap(), "--sign", key.to_str().unwrap()];
        all.extend(["--data-dir", data.to_str().unwrap()]);
        all.extend_from_slice(args);
        cluster.cli_as(token, &all)
    }

    /// What the runs recorded for the commit at HEAD: stage → status.
    fn stages(&self) -> Vec<(String, String)> {
        let head = self.git(&["rev-parse", "HEAD"]);
        let path = self.dir.join(".shipgate/pipeline").join(format!("{head}.json"));
        let state: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        state["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|record| (record["stage"].as_str().unwrap().to_owned(), record["status"].as_str().unwrap().to_owned()))
            .collect()
    }
}

/// A SARIF log with one result of `level`.
fn sarif(level: &str, rule: &str) -> String {
    format!(
        r#"{{"version": "2.1.0", "runs": [{{"tool": {{"driver": {{"name": "audit"}}}}, "results": [
            {{"ruleId": "{rule}", "level": "{level}", "message": {{"text": "vulnerable crate"}},
             "locations": [{{"physicalLocation": {{"artifactLocation": {{"uri": "Cargo.lock"}}, "region": {{"startLine": 7}}}}}}]}}]}}]}}"#
    )
}

/// A release created outside the pipeline with an error-level SARIF log is refused in
/// production by SG0110 (and only warned about in staging).
#[test]
fn an_error_level_scanner_result_kept_with_a_release_refuses_production() {
    let cluster = Cluster::start(None, 0);
    let log = cluster.path("audit.sarif");
    std::fs::write(&log, sarif("error", "RUSTSEC-2026-0001")).unwrap();
    let environments = format!(
        "[environments.staging]\nlisten = \"{}\"\n[environments.production]\nlisten = \"127.0.0.1:{}\"\nrequires = [\"staging\"]\n",
        cluster.listen,
        free_port()
    );
    cluster.release_with("v1", "", &environments, &["--sarif", log.to_str().unwrap()]);
    let verdict = |env: &str| -> Vec<String> {
        let (_, stdout, stderr) = cluster.cli(&["check", env, "--release", "v1", "--format", "json"]);
        let checked: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stderr}"));
        checked["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|finding| finding["rule"] == "SG0110")
            .map(|finding| {
                format!("{} {}", finding["severity"].as_str().unwrap(), finding["message"].as_str().unwrap())
            })
            .collect()
    };
    assert_eq!(
        verdict("production"),
        [
            "deny the scanners reported 1 result of level `error` for release `v1`: audit `RUSTSEC-2026-0001` at Cargo.lock:7: vulnerable crate"
        ]
    );
    assert_eq!(verdict("staging").len(), 1);
    assert!(verdict("staging")[0].starts_with("warn "));
    // Not a SARIF log: refused before anything is stored.
    std::fs::write(&log, "{}").unwrap();
    let project = cluster.path("project-v1");
    let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .current_dir(&project)
        .args([
            "release",
            "create",
            "--version",
            "v2",
            "--test-exit",
            "0",
            "--sarif",
            log.to_str().unwrap(),
            "--data-dir",
        ])
        .arg(cluster.path("data"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a SARIF log"));
}

fn version_of(commit: &str) -> String {
    format!("git-{}", &commit[..12])
}

fn active(cluster: &Cluster, env: &str) -> String {
    let (status, body) = cluster.call("GET", &format!("/api/v1/environments/{env}"), None);
    assert_eq!(status, 200, "{body}");
    body["active"]["version"].as_str().unwrap_or_default().to_owned()
}

fn checklist(cluster: &Cluster, id: &str) -> Value {
    let (code, stdout, stderr) = cluster.cli(&["checklist", id, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn item<'a>(checklist: &'a Value, name: &str) -> &'a Value {
    checklist["items"].as_array().unwrap().iter().find(|item| item["item"] == name).unwrap()
}

#[test]
fn commits_go_to_production_with_a_rollback_rehearsal_and_resume_skips_what_succeeded() {
    let cluster = Cluster::start(None, 0);
    let project = Project::new(&cluster);
    // A scanner with one warning: it does not stop the pipeline, and goes with the release.
    project.write("scan.sarif", &sarif("warning", "RUSTSEC-2026-0002"));
    project.spec(&cluster, "", "", "scan = [\"cat scan.sarif\"]");
    let first = project.commit("feat: the first version");

    let (code, _, stderr) = project.run(&cluster, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("no rollback rehearsal: `staging` ran nothing before"), "{stderr}");
    assert_eq!(active(&cluster, "production"), version_of(&first));
    let all: Vec<(String, String)> = ["source", "build", "test", "scan", "stage", "approve", "production"]
        .iter()
        .map(|stage| ((*stage).to_owned(), "succeeded".to_owned()))
        .collect();
    assert_eq!(project.stages(), all);
    let (_, release) = cluster.call("GET", &format!("/api/v1/releases/{}", version_of(&first)), None);
    let kept = &release["evidence"]["scanners"]["findings"];
    assert_eq!((kept[0]["rule"].as_str(), kept[0]["level"].as_str()), (Some("RUSTSEC-2026-0002"), Some("warning")));
    let (code, stdout, stderr) =
        cluster.cli(&["check", "production", "--release", &version_of(&first), "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let checked: Value = serde_json::from_str(&stdout).unwrap();
    let sg0110: Vec<&Value> =
        checked["findings"].as_array().unwrap().iter().filter(|finding| finding["rule"] == "SG0110").collect();
    assert!(sg0110.len() == 1 && sg0110[0]["severity"] == "warn", "{checked:#}");

    project.write("src/main.txt", "hello again\n");
    let second = project.commit("fix: answer politely");
    let (code, _, stderr) = project.run(&cluster, &["--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(active(&cluster, "production"), version_of(&second));
    assert_eq!(active(&cluster, "staging"), version_of(&second));
    // The staging rollback rehearsal ran, and the checklist of production's deployment saw it,
    // with the change log entry recorded with the release.
    let state: Value = serde_json::from_slice(
        &std::fs::read(project.dir.join(".shipgate/pipeline").join(format!("{second}.json"))).unwrap(),
    )
    .unwrap();
    let staged = &state["stages"][4]["output"]["environments"][0];
    assert_eq!(staged["rehearsal"]["rolled_back_to"], version_of(&first), "{state:#}");
    let deployment = state["stages"][6]["output"]["deployment"].as_str().unwrap().to_owned();
    let checklist = checklist(&cluster, &deployment);
    assert_eq!(item(&checklist, "rollback plan tested")["status"], "pass", "{checklist:#}");
    assert_eq!(item(&checklist, "change log entry written")["status"], "pass", "{checklist:#}");
    let (_, release) = cluster.call("GET", &format!("/api/v1/releases/{}", version_of(&second)), None);
    let changelog = release["evidence"]["changelog"]["markdown"].as_str().unwrap_or_default();
    assert!(changelog.contains("answer politely") && !changelog.contains("first version"), "{release:#}");

    // Resumed: nothing runs again.
    let (code, stdout, stderr) = project.run(&cluster, &["--resume", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let events: Vec<Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let skipped = events.iter().filter(|event| event["event"] == "stage_skipped").count();
    assert_eq!(skipped, 7, "{stdout}");
    assert!(!events.iter().any(|event| event["event"] == "stage_started"), "{stdout}");
    assert_eq!(events.last().unwrap()["status"], "succeeded");
}

/// Runs the pipeline and checks it stopped at `stage` with `expected` in its report.
fn stops_at(project: &Project, cluster: &Cluster, args: &[&str], stage: &str, expected: &str) {
    let (code, _, stderr) = project.run(cluster, args);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&format!("the pipeline stopped at the {stage} stage")), "{stderr}");
    assert!(stderr.contains(expected), "expected `{expected}` in:\n{stderr}");
}

#[test]
fn each_failing_stage_stops_the_pipeline_and_resume_waits_for_the_approval() {
    let cluster = Cluster::start(None, 0);
    let project = Project::new(&cluster);
    let approvals = "approvals = { required = 1, from = [\"role:approver\"] }";
    project.spec(&cluster, "", approvals, "");

    // source: the linter finds a FIXME.
    project.write("src/todo.txt", "FIXME later\n");
    project.commit("chore: a note");
    stops_at(&project, &cluster, &[], "source", "lint command `./lint.sh` exited with 1");
    assert!(project.stages() == [("source".to_owned(), "failed".to_owned())]);

    // test: one failing test, with the JUnit summary.
    std::fs::remove_file(project.dir.join("src/todo.txt")).unwrap();
    project.write("src/broken", "");
    project.commit("feat: break a test");
    stops_at(&project, &cluster, &[], "test", "JUnit: 3 tests, 1 failures");

    // security scan: a committed secret.
    std::fs::remove_file(project.dir.join("src/broken")).unwrap();
    project.write("settings.py", &format!("GITHUB_TOKEN = \"ghp_{}\"\n", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bD1fH3jL5"));
    project.commit("feat: settings");
    stops_at(&project, &cluster, &[], "security scan", "the secret scan found secrets");

    // security scan: a declared scanner's SARIF error.
    std::fs::remove_file(project.dir.join("settings.py")).unwrap();
    project.write(
        "scan.sarif",
        r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "audit"}}, "results": [
            {"ruleId": "RUSTSEC-2026-0001", "level": "error", "message": {"text": "vulnerable crate"},
             "locations": [{"physicalLocation": {"artifactLocation": {"uri": "Cargo.lock"}, "region": {"startLine": 7}}}]}]}]}"#,
    );
    project.spec(&cluster, "", approvals, "scan = [\"cat scan.sarif\"]");
    project.commit("ci: scan dependencies");
    stops_at(&project, &cluster, &[], "security scan", "audit RUSTSEC-2026-0001 at Cargo.lock:7: vulnerable crate");

    // stage: staging's smoke check fails, so staging's deployment does not succeed.
    project.write(
        "scan.sarif",
        r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "audit"}}, "results": []}]}"#,
    );
    project.spec(&cluster, "smoke = [{ http = \"/missing\" }]", approvals, "scan = [\"cat scan.sarif\"]");
    project.commit("feat: smoke test");
    stops_at(&project, &cluster, &[], "stage", "to `staging`");
    assert_eq!(project.stages().last().unwrap(), &("stage".to_owned(), "failed".to_owned()));

    // approve: nobody approves within the timeout; the deployment keeps waiting.
    project.spec(&cluster, "smoke = [{ http = \"/healthz\" }]", approvals, "scan = [\"cat scan.sarif\"]");
    let commit = project.commit("fix: smoke the health check");
    stops_at(&project, &cluster, &["--approval-timeout", "1s"], "approve", "was not approved within 1s");
    let waiting = project.stages();
    assert_eq!(waiting.last().unwrap(), &("approve".to_owned(), "failed".to_owned()));
    let head = project.git(&["rev-parse", "HEAD"]);
    let state: Value = serde_json::from_slice(
        &std::fs::read(project.dir.join(".shipgate/pipeline").join(format!("{head}.json"))).unwrap(),
    )
    .unwrap();
    let deployment = state["stages"][5]["output"]["deployment"].as_str().unwrap().to_owned();
    let (status, body) = cluster.call("GET", &format!("/api/v1/deployments/{deployment}"), None);
    assert_eq!((status, body["status"].as_str().unwrap()), (200, "awaiting_approval"), "{body}");

    // An approver approves; the resumed run skips the five stages that succeeded, waits for
    // no one, and follows the same deployment to production.
    let approver = cluster.token("alice", "approver");
    let (status, body) = cluster.call_as(
        &approver,
        "POST",
        &format!("/api/v1/deployments/{deployment}/approve"),
        Some(serde_json::json!({"comment": "looks good"})),
    );
    assert_eq!(status, 200, "{body}");
    let (code, stdout, stderr) = project.run(&cluster, &["--resume", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let events: Vec<Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let skipped: Vec<&str> = events
        .iter()
        .filter(|event| event["event"] == "stage_skipped")
        .map(|event| event["stage"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, ["source", "build", "test", "scan", "stage"]);
    assert_eq!(active(&cluster, "production"), version_of(&commit));
    let (_, history) = cluster.call("GET", "/api/v1/environments/production/deployments", None);
    let ids: Vec<String> =
        history.as_array().unwrap().iter().map(|row| row["id"].to_string().trim_matches('"').to_owned()).collect();
    assert_eq!(ids, [deployment], "one production deployment, the approved one: {history:#}");
}

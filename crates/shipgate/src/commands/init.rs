//! `shipgate init`: a commented `shipgate.toml` for the project in this folder.
//!
//! Detection and rendering are pure functions of the files found; only `run` touches
//! the disk.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::cli::InitArgs;
use crate::exit::{ExitStatus, Failure};
use crate::output::Output;

/// What kind of project this is, as far as building and testing it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub kind: &'static str,
    pub name: String,
    pub build: Vec<String>,
    pub test: Vec<String>,
    pub lint: Vec<String>,
    pub artifact: String,
    pub command: Vec<String>,
}

/// The manifests `detect` looks at, as read from the folder.
#[derive(Debug, Default)]
pub struct Manifests {
    pub folder_name: String,
    pub cargo_toml: Option<String>,
    pub package_json: Option<String>,
    pub go_mod: Option<String>,
    pub pyproject_toml: Option<String>,
    pub requirements_txt: bool,
}

impl Manifests {
    fn read(folder: &Path) -> Self {
        let read = |name: &str| std::fs::read_to_string(folder.join(name)).ok();
        Manifests {
            folder_name: folder.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default(),
            cargo_toml: read("Cargo.toml"),
            package_json: read("package.json"),
            go_mod: read("go.mod"),
            pyproject_toml: read("pyproject.toml"),
            requirements_txt: folder.join("requirements.txt").is_file(),
        }
    }
}

/// Turns any text into a valid app name (a DNS label), or `my-app`.
fn app_name(raw: &str) -> String {
    let mut name = String::new();
    for c in raw.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-').trim_end_matches('-');
    let name: String = name.chars().take(63).collect();
    let name = name.trim_end_matches('-');
    if name.is_empty() { "my-app".to_owned() } else { name.to_owned() }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

pub fn detect(manifests: &Manifests) -> Project {
    let folder = app_name(&manifests.folder_name);
    if let Some(cargo) = &manifests.cargo_toml {
        let document = cargo.parse::<toml_edit::DocumentMut>().ok();
        let bin_name = document.as_ref().and_then(|doc| {
            let first_bin =
                doc.get("bin").and_then(|bins| bins.as_array_of_tables()).and_then(|bins| bins.iter().next());
            first_bin
                .and_then(|bin| bin.get("name"))
                .or_else(|| doc.get("package").and_then(|package| package.get("name")))
                .and_then(|name| name.as_str())
                .map(str::to_owned)
        });
        let binary = bin_name.unwrap_or_else(|| folder.clone());
        return Project {
            kind: "Rust (Cargo.toml)",
            name: app_name(&binary),
            build: strings(&["cargo build --release --locked"]),
            test: strings(&["cargo test --locked"]),
            lint: strings(&["cargo fmt --check", "cargo clippy --all-targets -- -D warnings"]),
            artifact: format!("target/release/{binary}"),
            command: vec![format!("./{binary}"), "--port".to_owned(), "${PORT}".to_owned()],
        };
    }
    if let Some(package) = &manifests.package_json {
        let json: serde_json::Value = serde_json::from_str(package).unwrap_or_default();
        let name = json
            .get("name")
            .and_then(|name| name.as_str())
            .map_or_else(|| folder.clone(), |name| app_name(name.trim_start_matches('@')));
        let script = |name: &str| json.get("scripts").and_then(|scripts| scripts.get(name)).is_some();
        let mut build = strings(&["npm ci"]);
        if script("build") {
            build.push("npm run build".to_owned());
        }
        let test = if script("test") { strings(&["npm test"]) } else { Vec::new() };
        let lint = if script("lint") { strings(&["npm run lint"]) } else { Vec::new() };
        let command = if script("start") { strings(&["npm", "start"]) } else { strings(&["node", "server.js"]) };
        return Project { kind: "Node.js (package.json)", name, build, test, lint, artifact: ".".to_owned(), command };
    }
    if let Some(go_mod) = &manifests.go_mod {
        let module = go_mod.lines().find_map(|line| line.trim().strip_prefix("module ")).map(str::trim).unwrap_or("");
        let name = app_name(module.rsplit('/').next().unwrap_or(&folder));
        return Project {
            kind: "Go (go.mod)",
            build: vec![format!("go build -o bin/{name} .")],
            test: strings(&["go test ./..."]),
            lint: strings(&["go vet ./..."]),
            artifact: format!("bin/{name}"),
            command: vec![format!("./bin/{name}")],
            name,
        };
    }
    if manifests.pyproject_toml.is_some() || manifests.requirements_txt {
        let build = if manifests.requirements_txt {
            strings(&["python -m pip install -r requirements.txt"])
        } else {
            strings(&["python -m pip install ."])
        };
        return Project {
            kind: if manifests.pyproject_toml.is_some() {
                "Python (pyproject.toml)"
            } else {
                "Python (requirements.txt)"
            },
            name: folder.clone(),
            build,
            test: strings(&["python -m pytest"]),
            lint: Vec::new(),
            artifact: ".".to_owned(),
            command: vec!["python".to_owned(), "-m".to_owned(), folder.replace('-', "_")],
        };
    }
    Project {
        kind: "unknown (no Cargo.toml, package.json, go.mod or pyproject.toml found)",
        name: folder.clone(),
        build: Vec::new(),
        test: Vec::new(),
        lint: Vec::new(),
        artifact: format!("build/{folder}"),
        command: vec![format!("./{folder}"), "--port".to_owned(), "${PORT}".to_owned()],
    }
}

/// A TOML array of strings, written out.
fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> =
        items.iter().map(|item| toml_edit::Value::from(item.as_str()).to_string().trim().to_owned()).collect();
    format!("[{}]", quoted.join(", "))
}

/// `key = [..]` when there are items, otherwise the same line commented out with an example.
fn list_line(key: &str, items: &[String], example: &str) -> String {
    if items.is_empty() { format!("# {key} = {example}") } else { format!("{key} = {}", toml_list(items)) }
}

pub fn render(project: &Project) -> String {
    let build = list_line("build", &project.build, "[\"make build\"]");
    let test = list_line("test", &project.test, "[\"make test\"]");
    let lint = list_line("lint", &project.lint, "[\"make lint\"]");
    let lint = if project.lint.is_empty() { lint } else { format!("{lint}\n") };
    format!(
        r#"# shipgate.toml: how shipgate builds, tests, checks and deploys `{name}`.
# Detected project: {kind}.
# Check it with `shipgate validate`; `shipgate schema` prints a JSON Schema for editors.
# Durations are written like `500ms`, `30s`, `2m`, `1h30m`.
#
# Everything at the top level is the template every environment inherits. An environment
# may set only its scale (`replicas`, `listen`, `region`, `resources`) and its delivery
# policy (`requires`, `approvals`, `strategy`, `analysis`, `bake`, `smoke`).

[app]
name = "{name}"
# description = "What this service does"

[artifact]
# What runs. It is digested (sha256) and signed when a release is created, and the same
# bytes go to every environment.
path = "{artifact}"
# Container targets use an image pinned by digest instead (tags like `latest` are refused):
# image = "registry.example.com/{name}@sha256:<digest>"

[run]
# The program and its arguments, run from the artifact's folder. `${{PORT}}` is the port
# the instance must listen on (also in the `PORT` environment variable).
command = {command}
# env = {{ RUST_LOG = "info" }}     # plain settings; secrets go under [secrets]
# workdir = "."
# An instance takes traffic only once healthy. Probes: `http` (a path), `tcp = true`,
# or `exec` (a command). `healthy`/`unhealthy` are consecutive results needed to flip;
# a new instance not healthy within `startup` (default 60s) fails its deployment.
health = {{ http = "/healthz", interval = "1s", timeout = "2s", healthy = 2, unhealthy = 3 }}
# How long a removed instance keeps serving the requests it already has.
drain = "30s"
# stop_signal = "SIGTERM"           # asks the instance to stop
# stop_grace = "10s"                # then SIGKILL

[pipeline]
# Shell commands, run in this folder, in order; the first failure stops the pipeline.
{lint}{build}
{test}
# junit = "target/junit/*.xml"      # JUnit XML the tests leave, attached as evidence
# scan = ["trivy fs --format sarif ."]   # scanners whose SARIF output becomes findings

[secrets]
# Names only: values are stored encrypted by the server and set with
# `shipgate secrets set ENV NAME`; they never belong in this file.
# DATABASE_URL = {{}}

# [migrations]
# dir = "migrations"                # expand/ and contract/ phases
# database = "DATABASE_URL"         # the declared secret holding the database URL

[environments.staging]
listen = "127.0.0.1:8080"
replicas = 1
smoke = [{{ http = "/", expect = 200 }}]

[environments.production]
listen = "0.0.0.0:80"
replicas = 2
# region = "eu-central-1"
# resources = {{ memory = "512MiB", cpu = 1 }}
# Only a release that passed staging (the same digest) may come here.
requires = ["staging"]
approvals = {{ required = 1, from = ["role:approver"], self_approval = false }}
# Canary: send a growing share of requests to the new version, judged at every step;
# a failing step rolls back by itself. Or: strategy = {{ blue_green = {{ preview = "1m" }} }}
strategy = {{ canary = [{{ weight = 5, hold = "1m" }}, {{ weight = 25, hold = "2m" }}, {{ weight = 50, hold = "2m" }}] }}
analysis = {{ error_rate_max = 0.01, p99_max = "300ms", compare = "stable" }}
# After full promotion, keep watching this long before the deployment counts as done.
bake = "10m"
smoke = [{{ http = "/", expect = 200 }}]

[windows]
# Deployments inside a freeze need an explicit, recorded override.
timezone = "UTC"
freeze = [
  {{ days = ["fri", "sat", "sun"], reason = "weekend: deploy when people are around to watch" }},
  # {{ from = 2026-12-23, to = 2027-01-02, reason = "holidays" }},
]

# [policy]
# SG0101 = "warn"                   # per-rule severity overrides: `deny` or `warn`

# [[notify.webhook]]
# url = "https://hooks.example.com/deploys"
# events = ["deployment.failed", "deployment.rolled_back"]
"#,
        name = project.name,
        kind = project.kind,
        artifact = project.artifact,
        command = toml_list(&project.command),
    )
}

pub fn run(args: &InitArgs, out: &Output) -> Result<ExitStatus, Failure> {
    let folder = std::env::current_dir().context("cannot find the current folder").map_err(Failure::internal)?;
    let path = folder.join(shipgate_spec::FILE_NAME);
    let project = detect(&Manifests::read(&folder));
    let text = render(&project);
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        // `create_new` makes the check and the creation one step, so nothing is clobbered.
        options.create_new(true);
    }
    let mut file = options.open(&path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::usage(anyhow::anyhow!("`{}` already exists", shipgate_spec::FILE_NAME))
                .hint("pass `--force` to overwrite it, or edit it and run `shipgate validate`")
        } else {
            Failure::usage(anyhow::Error::new(error).context(format!("cannot write `{}`", path.display())))
        }
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write `{}`", path.display()))
        .map_err(Failure::internal)?;
    out.data(&format!(
        "wrote `{}` for {} app `{}`\nnext: review it, then run `shipgate validate`\n",
        shipgate_spec::FILE_NAME,
        project.kind,
        project.name
    ))?;
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifests(setup: impl FnOnce(&mut Manifests)) -> Manifests {
        let mut manifests = Manifests { folder_name: "My Project".to_owned(), ..Manifests::default() };
        setup(&mut manifests);
        manifests
    }

    #[test]
    fn detects_each_kind_of_project_and_the_result_validates() {
        let cases: Vec<(Manifests, &str, &str, &str)> = vec![
            (
                manifests(|m| m.cargo_toml = Some("[package]\nname = \"hello_svc\"\n".into())),
                "Rust",
                "hello-svc",
                "cargo build --release --locked",
            ),
            (
                manifests(|m| m.cargo_toml = Some("[package]\nname = \"x\"\n[[bin]]\nname = \"server\"\n".into())),
                "Rust",
                "server",
                "target/release/server",
            ),
            (
                manifests(|m| m.cargo_toml = Some("[workspace]\n".into())),
                "Rust",
                "my-project",
                "target/release/my-project",
            ),
            (
                manifests(|m| {
                    m.package_json = Some(r#"{"name":"@acme/web","scripts":{"build":"tsc","test":"vitest"}}"#.into())
                }),
                "Node.js",
                "acme-web",
                "npm run build",
            ),
            (manifests(|m| m.package_json = Some("not json".into())), "Node.js", "my-project", "npm ci"),
            (
                manifests(|m| m.go_mod = Some("module github.com/acme/api\n\ngo 1.22\n".into())),
                "Go",
                "api",
                "go build -o bin/api .",
            ),
            (manifests(|m| m.pyproject_toml = Some("[project]\n".into())), "Python", "my-project", "python -m pytest"),
            (manifests(|m| m.requirements_txt = true), "Python", "my-project", "requirements.txt"),
            (manifests(|_| {}), "unknown", "my-project", "# build = "),
        ];
        for (manifests, kind, name, expected_text) in cases {
            let project = detect(&manifests);
            assert!(project.kind.starts_with(kind), "{kind}: {project:?}");
            assert_eq!(project.name, name);
            let text = render(&project);
            assert!(text.contains(expected_text), "{kind}: `{expected_text}` missing from\n{text}");
            if let Err(report) = shipgate_spec::parse_str(&text) {
                panic!("{kind}: the written file does not validate: {:#?}", report.diagnostics);
            }
        }
    }

    #[test]
    fn app_names_become_dns_labels() {
        for (raw, name) in [
            ("Hello World", "hello-world"),
            ("hello_svc", "hello-svc"),
            ("123", "my-app"),
            ("--a--", "a"),
            ("", "my-app"),
        ] {
            assert_eq!(app_name(raw), name, "{raw}");
        }
    }
}

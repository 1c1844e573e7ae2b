//! Each source on real inputs: a folder, a git repository built in a temp dir, archives and
//! container images built in the test, large files read in chunks; then baselines and
//! allowlists over them.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use shipgate_scan::{Baseline, Config, DirOptions, Finding, Scanner};

/// A GitHub token of the right shape drawn from `seed`; built at run time so this file holds
/// no credential.
fn token(seed: u64) -> String {
    let mut rng = fastrand::Rng::with_seed(seed);
    shipgate_scan::rules::expand("ghp_%{A:36}", &mut |bound| rng.usize(..bound))
}

fn stripe(seed: u64) -> String {
    let mut rng = fastrand::Rng::with_seed(seed);
    shipgate_scan::rules::expand("sk_live_%{A:32}", &mut |bound| rng.usize(..bound))
}

fn scanner() -> Scanner {
    Scanner::new(&Config::default()).expect("rules compile")
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

fn rules_at(findings: &[Finding]) -> Vec<(String, u64, &'static str)> {
    findings.iter().map(|finding| (finding.location.key(), finding.location.line, finding.rule)).collect()
}

fn git(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=Ada", "-c", "user.email=ada@example.org", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("git runs; install git to run these tests");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn a_folder_is_scanned_in_parallel_with_gitignore_and_env_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(&root.join("src/config.py"), &format!("GITHUB = \"{}\"\n", token(1)));
    write(&root.join("src/clean.py"), "print('nothing to see')\n");
    write(&root.join(".env"), "DB_PASSWORD=Tr0ub4dor-and-3\nDEBUG=true\n");
    write(&root.join(".env.example"), "DB_PASSWORD=Tr0ub4dor-and-3\n");
    write(&root.join(".gitignore"), "ignored/\n");
    write(&root.join("ignored/secret.txt"), &format!("token: {}\n", stripe(2)));
    std::fs::write(root.join("image.png"), [0x89, b'P', b'N', b'G', 0, 0, 1, 2]).expect("write");

    let report = scanner().scan_dir(root, &DirOptions::default()).expect("scan");
    assert_eq!(
        rules_at(&report.findings),
        vec![(".env".to_owned(), 1, "env-file-secret"), ("src/config.py".to_owned(), 1, "github-pat")]
    );
    assert_eq!(report.stats.binary, 1);

    let everything = scanner().scan_dir(root, &DirOptions { include_ignored: true, threads: 1 }).expect("scan");
    assert!(everything.findings.iter().any(|finding| finding.location.path == "ignored/secret.txt"));
}

#[test]
fn tracked_files_are_scanned_even_when_gitignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path();
    git(repo, &["init", "-q", "-b", "main"]);
    write(&repo.join(".env.production"), &format!("GITHUB_TOKEN={}\n", token(3)));
    git(repo, &["add", ".env.production"]);
    git(repo, &["commit", "-q", "-m", "add env"]);
    write(&repo.join(".gitignore"), ".env*\n");
    let report = scanner().scan_dir(repo, &DirOptions::default()).expect("scan");
    assert_eq!(rules_at(&report.findings), vec![(".env.production".to_owned(), 1, "github-pat")]);
}

#[test]
fn git_history_finds_a_secret_added_then_removed_with_its_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path();
    git(repo, &["init", "-q", "-b", "main"]);
    write(&repo.join("README.md"), "# app\n");
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "start"]);
    write(&repo.join("deploy/settings.yml"), &format!("region: eu\nretries: 3\ntoken: {}\n", token(4)));
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "configure deploy"]);
    let introduced = git(repo, &["rev-parse", "HEAD"]);
    write(&repo.join("deploy/settings.yml"), "region: eu\nretries: 3\ntoken: ${DEPLOY_TOKEN}\n");
    git(repo, &["commit", "-q", "-am", "read the token from the environment"]);

    let scanner = scanner();
    let tree = scanner.scan_dir(repo, &DirOptions::default()).expect("scan");
    assert!(tree.findings.is_empty(), "the working tree is clean: {:?}", tree.findings);

    let history = scanner.scan_git(repo, &[]).expect("scan history");
    assert_eq!(history.stats.commits, 3);
    assert_eq!(rules_at(&history.findings), vec![("deploy/settings.yml".to_owned(), 3, "github-pat")]);
    let commit = history.findings[0].location.commit.as_ref().expect("commit");
    assert_eq!(commit.id, introduced);
    assert_eq!(commit.author, "Ada");

    let only_main = scanner.scan_git(repo, &["main".to_owned()]).expect("scan");
    assert_eq!(only_main.findings.len(), 1);
    assert!(scanner.scan_git(repo, &["no-such-branch".to_owned()]).is_err());

    // The release gate scans the tree at a commit.
    let at_intro = scanner.scan_git_tree(repo, &introduced).expect("scan tree");
    assert_eq!(rules_at(&at_intro.findings), vec![("deploy/settings.yml".to_owned(), 3, "github-pat")]);
    let at_head = scanner.scan_git_tree(repo, "HEAD").expect("scan tree");
    assert!(at_head.findings.is_empty());

    // The gate's entry point: the release's commit and its artifact.
    let artifact = dir.path().join("artifact.txt");
    write(&artifact, &format!("key: {}\n", stripe(12)));
    let inputs = shipgate_scan::gate::ReleaseInputs { repo, commit: &introduced, artifact: Some(&artifact) };
    let gate = shipgate_scan::gate::scan_release(&scanner, &inputs).expect("gate scan");
    assert_eq!(
        rules_at(&gate.findings),
        vec![("artifact.txt".to_owned(), 1, "stripe-secret-key"), ("deploy/settings.yml".to_owned(), 3, "github-pat")]
    );
    let clean = shipgate_scan::gate::ReleaseInputs { repo, commit: "HEAD", artifact: None };
    assert!(shipgate_scan::gate::scan_release(&scanner, &clean).expect("gate scan").findings.is_empty());
}

/// A tar archive holding `files`.
fn tar_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, content.as_slice()).expect("tar entry");
    }
    builder.into_inner().expect("tar")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn a_secret_in_a_tar_gz_inside_an_oci_image_layer_is_found_with_layer_and_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The app's own bundle, a tar.gz holding a .env with a token…
    let bundle = gzip(&tar_of(&[("config/.env", format!("STRIPE_KEY={}\n", stripe(5)).into_bytes())]));
    // …copied into the image's second layer (a gzipped tar, as registries store them).
    let base_layer = gzip(&tar_of(&[("etc/os-release", b"ID=debian\n".to_vec())]));
    let app_layer = gzip(&tar_of(&[("srv/app/bundle.tar.gz", bundle), ("srv/app/README", b"hello\n".to_vec())]));
    let (base_digest, app_digest) = (sha256_hex(&base_layer), sha256_hex(&app_layer));
    let config = br#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/bin"]}}"#.to_vec();
    let config_digest = sha256_hex(&config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"config":{{"digest":"sha256:{config_digest}"}},"layers":[{{"digest":"sha256:{base_digest}"}},{{"digest":"sha256:{app_digest}"}}]}}"#
    );
    let manifest_digest = sha256_hex(manifest.as_bytes());
    let image = tar_of(&[
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        ("index.json", format!(r#"{{"manifests":[{{"digest":"sha256:{manifest_digest}"}}]}}"#).into_bytes()),
        (&format!("blobs/sha256/{manifest_digest}"), manifest.into_bytes()),
        (&format!("blobs/sha256/{config_digest}"), config),
        (&format!("blobs/sha256/{base_digest}"), base_layer),
        (&format!("blobs/sha256/{app_digest}"), app_layer),
    ]);
    let path = dir.path().join("image.tar");
    std::fs::write(&path, image).expect("write");

    let report = scanner().scan_artifact(&path).expect("scan");
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    let location = &report.findings[0].location;
    assert_eq!(
        location.container,
        vec!["image.tar".to_owned(), format!("layer sha256:{app_digest}"), "srv/app/bundle.tar.gz".to_owned()]
    );
    assert_eq!((location.path.as_str(), location.line), ("config/.env", 1));
    assert_eq!(report.findings[0].rule, "stripe-secret-key");
}

#[test]
fn docker_save_tarballs_zip_files_and_plain_files_are_scanned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layer = tar_of(&[("app/settings.py", format!("TOKEN = '{}'\n", token(6)).into_bytes())]);
    let saved = tar_of(&[("manifest.json", b"[]".to_vec()), ("5f3a9c/layer.tar", layer)]);
    let path = dir.path().join("saved.tar");
    std::fs::write(&path, saved).expect("write");
    let report = scanner().scan_artifact(&path).expect("scan");
    assert_eq!(
        rules_at(&report.findings),
        vec![("saved.tar > layer 5f3a9c > app/settings.py".to_owned(), 1, "github-pat")]
    );

    let zip_path = dir.path().join("site.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&zip_path).expect("create"));
    writer.start_file("js/app.js", zip::write::SimpleFileOptions::default()).expect("zip entry");
    writer.write_all(format!("const t = \"{}\";\n", token(7)).as_bytes()).expect("zip write");
    writer.finish().expect("zip");
    let report = scanner().scan_artifact(&zip_path).expect("scan");
    assert_eq!(rules_at(&report.findings), vec![("site.zip > js/app.js".to_owned(), 1, "github-pat")]);

    let plain = dir.path().join("notes.txt");
    write(&plain, &format!("\n\n{}\n", token(8)));
    let report = scanner().scan_artifact(&plain).expect("scan");
    assert_eq!(rules_at(&report.findings), vec![("notes.txt".to_owned(), 3, "github-pat")]);
}

#[test]
fn a_large_file_is_read_in_chunks_without_missing_or_repeating_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.log");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let line = "INFO request served in 12ms by worker-7 with status 200 and no secret at all\n";
    let mut written = 0usize;
    let mut expected = Vec::new();
    let mut line_number = 1u64;
    // Secrets near each 4 MiB chunk boundary and the 64 KiB overlap, over ~13 MiB.
    let targets = [100usize, 4 * 1024 * 1024 - 70_000, 4 * 1024 * 1024 - 40, 8 * 1024 * 1024 - 65_500, 13_000_000];
    for (index, target) in targets.iter().enumerate() {
        while written + line.len() < *target {
            file.write_all(line.as_bytes()).expect("write");
            written += line.len();
            line_number += 1;
        }
        let secret_line = format!("token={}\n", token(100 + index as u64));
        file.write_all(secret_line.as_bytes()).expect("write");
        written += secret_line.len();
        expected.push(("big.log".to_owned(), line_number, "github-pat"));
        line_number += 1;
    }
    drop(file);
    let report = scanner().scan_dir(&path, &DirOptions::default()).expect("scan");
    assert_eq!(rules_at(&report.findings), expected);
    assert_eq!(report.stats.bytes, written as u64);
}

#[test]
fn a_baseline_suppresses_old_findings_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write(&root.join("a.py"), &format!("\nold = \"{}\"\n", token(10)));
    let scanner = scanner();
    let before = scanner.scan_dir(&root, &DirOptions::default()).expect("scan");
    let baseline_path = dir.path().join("baseline.json");
    Baseline::from_findings(&before.findings).save(&baseline_path).expect("save");
    let saved = std::fs::read_to_string(&baseline_path).expect("read");
    assert!(!saved.contains(&token(10)), "the baseline holds no secret");

    // The old secret moves down a line; a new one appears in the same file and another file.
    write(&root.join("a.py"), &format!("# moved\n\nold = \"{}\"\nnew = \"{}\"\n", token(10), token(11)));
    write(&root.join("b.py"), &format!("other = \"{}\"\n", token(10)));
    let after = scanner.scan_dir(&root, &DirOptions::default()).expect("scan");
    let baseline = Baseline::load(&baseline_path).expect("load");
    let (fresh, suppressed) = baseline.filter(after.findings);
    assert_eq!(suppressed, 1);
    assert_eq!(rules_at(&fresh), vec![("a.py".to_owned(), 4, "github-pat"), ("b.py".to_owned(), 1, "github-pat")]);
}

#[test]
fn allowlists_by_path_regex_and_stopword() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(&root.join("tests/fixtures/keys.txt"), &format!("{}\n", token(20)));
    write(&root.join("src/a.py"), &format!("a = \"{}\"\n", stripe(21)));
    write(&root.join("src/b.py"), "b = \"sk_live_TESTINGfixtureQ8ZP3vT1xLm9Wd2KfR7s\"\n"); // shipgate:allow
    write(&root.join("src/c.py"), &format!("c = \"{}\"\n", token(22)));
    let config = Config {
        allow_paths: vec!["tests/fixtures/**".to_owned()],
        allow_regexes: vec!["^sk_live_".to_owned()],
        stopwords: vec!["testingfixture".to_owned()],
    };
    let report = Scanner::new(&config).expect("compile").scan_dir(root, &DirOptions::default()).expect("scan");
    assert_eq!(rules_at(&report.findings), vec![("src/c.py".to_owned(), 1, "github-pat")]);
    assert_eq!(report.stats.allowed, 1);

    let stopword_only = Config { stopwords: vec!["TESTINGFIXTURE".to_owned()], ..Config::default() };
    let report = Scanner::new(&stopword_only).expect("compile").scan_dir(root, &DirOptions::default()).expect("scan");
    assert!(!report.findings.iter().any(|finding| finding.location.path == "src/b.py"));
    assert!(report.findings.iter().any(|finding| finding.location.path == "src/a.py"));

    let bad = Config { allow_regexes: vec!["(".to_owned()], ..Config::default() };
    assert!(matches!(Scanner::new(&bad), Err(shipgate_scan::Error::AllowRegex { .. })));
    let bad = Config { allow_paths: vec!["a/{b".to_owned()], ..Config::default() };
    assert!(matches!(Scanner::new(&bad), Err(shipgate_scan::Error::AllowPath { .. })));
}

//! Interoperability with the real `minisign` binary (Debian package `minisign`, installed by
//! `scripts/setup`), both ways: minisign's keys and signatures read and verified here, and
//! shipgate's verified (and its keys used) by minisign.
//!
//! Without the binary each test skips with a loud message; with `SHIPGATE_REQUIRE_ALL=1` (CI) it
//! fails instead.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use shipgate_sign::{
    Algorithm, MAX_TRUSTED_COMMENT, MAX_UNTRUSTED_COMMENT, SecretKey, SignError, create_secret_key_file,
    digest_message, generate, read_public_key_file, read_secret_key_file, sign, sign_digest, verify, verify_digest,
};

const DIGEST: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

/// Whether `minisign` can be run; a loud skip when not, a failure under `SHIPGATE_REQUIRE_ALL=1`.
fn have_minisign(test: &str) -> bool {
    match Command::new("minisign").arg("-v").output() {
        Ok(output) if output.status.success() => true,
        outcome => {
            let why = match outcome {
                Ok(output) => String::from_utf8_lossy(&output.stderr).into_owned(),
                Err(error) => format!("cannot run `minisign`: {error}"),
            };
            assert!(
                std::env::var("SHIPGATE_REQUIRE_ALL").as_deref() != Ok("1"),
                "minisign is required (SHIPGATE_REQUIRE_ALL=1) but unavailable: {why}; run scripts/setup"
            );
            eprintln!("SKIPPED {test}: minisign is not installed ({why}); run scripts/setup");
            false
        }
    }
}

/// `minisign ARGS` in `dir`, with `stdin` as its input (the password, when one is asked for).
fn minisign(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new("minisign")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("minisign runs");
    child.stdin.take().expect("stdin is piped").write_all(stdin.as_bytes()).expect("minisign reads its input");
    child.wait_with_output().expect("minisign finishes")
}

/// `minisign ARGS`, which must succeed; its standard output.
fn minisign_ok(dir: &Path, args: &[&str], stdin: &str) -> String {
    let output = minisign(dir, args, stdin);
    assert!(
        output.status.success(),
        "minisign {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn minisign_fails(dir: &Path, args: &[&str]) {
    let output = minisign(dir, args, "");
    assert!(!output.status.success(), "minisign {args:?} accepted:\n{}", String::from_utf8_lossy(&output.stdout));
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect("the file was written")
}

#[test]
fn shipgate_reads_minisigns_keys_and_verifies_its_signatures() {
    if !have_minisign("shipgate_reads_minisigns_keys_and_verifies_its_signatures") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    minisign_ok(dir, &["-G", "-W", "-p", "key.pub", "-s", "key.sec"], "");
    std::fs::write(dir.join("artifact"), digest_message(DIGEST).unwrap()).unwrap();
    minisign_ok(dir, &["-S", "-s", "key.sec", "-m", "artifact", "-x", "pre.minisig", "-t", "app:web\trelease:v1"], "");
    minisign_ok(dir, &["-S", "-l", "-s", "key.sec", "-m", "artifact", "-x", "legacy.minisig", "-t", "legacy"], "");

    let public = read_public_key_file(&dir.join("key.pub")).unwrap();
    // The id in minisign's comment is the same number (0.11 drops leading zeros, shipgate and
    // later minisigns print all 16 digits).
    let pub_text = read(dir, "key.pub");
    let shown = pub_text.lines().next().unwrap().strip_prefix("untrusted comment: minisign public key ").unwrap();
    assert_eq!(u64::from_str_radix(shown, 16).unwrap(), u64::from_le_bytes(public.key_id().to_bytes()), "{shown}");

    let message = std::fs::read(dir.join("artifact")).unwrap();
    let verified = verify(&public, &message, &read(dir, "pre.minisig")).unwrap();
    assert_eq!((verified.trusted_comment.as_str(), verified.algorithm), ("app:web\trelease:v1", Algorithm::Prehashed));
    assert_eq!(verify_digest(&public, DIGEST, &read(dir, "pre.minisig")).unwrap(), verified);
    let legacy = verify(&public, &message, &read(dir, "legacy.minisig")).unwrap();
    assert_eq!((legacy.trusted_comment.as_str(), legacy.algorithm), ("legacy", Algorithm::Legacy));
    assert!(matches!(verify(&public, b"other", &read(dir, "pre.minisig")), Err(SignError::BadSignature { .. })));

    // minisign's default trusted comment, with its tab-separated fields.
    minisign_ok(dir, &["-S", "-s", "key.sec", "-m", "artifact"], "");
    let default = verify(&public, &message, &read(dir, "artifact.minisig")).unwrap();
    assert!(default.trusted_comment.starts_with("timestamp:"), "{}", default.trusted_comment);
    assert!(default.trusted_comment.ends_with("\tfile:artifact\thashed"), "{}", default.trusted_comment);

    // Its unencrypted (-W) secret key signs here, and minisign verifies the result.
    let secret = read_secret_key_file(&dir.join("key.sec"), None).unwrap();
    assert_eq!(secret.public_key(), public);
    let ours = sign_digest(&secret, DIGEST, "signed by shipgate with minisign's key", "shipgate").unwrap();
    std::fs::write(dir.join("ours.minisig"), ours.to_text()).unwrap();
    let out = minisign_ok(dir, &["-V", "-p", "key.pub", "-m", "artifact", "-x", "ours.minisig"], "");
    assert!(out.contains("Trusted comment: signed by shipgate with minisign's key"), "{out}");
}

#[test]
fn minisign_verifies_shipgates_keys_and_signatures() {
    if !have_minisign("minisign_verifies_shipgates_keys_and_signatures") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (secret, public) = generate(None).unwrap();
    std::fs::write(dir.join("key.pub"), public.to_file_text()).unwrap();
    create_secret_key_file(&dir.join("key.sec"), &secret, None).unwrap();

    // The message exactly as the README tells users to write it.
    let status = Command::new("sh").args(["-c", "echo \"$1\" > msg", "sh", DIGEST]).current_dir(dir).status().unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read(dir.join("msg")).unwrap(), digest_message(DIGEST).unwrap().as_bytes());

    let trusted = "timestamp:1700000000\tapp:web\trelease:v42\tdigest:".to_owned() + DIGEST;
    let signature = sign_digest(&secret, DIGEST, &trusted, "signature from shipgate").unwrap();
    std::fs::write(dir.join("msg.minisig"), signature.to_text()).unwrap();
    let out = minisign_ok(dir, &["-Vm", "msg", "-p", "key.pub"], "");
    assert!(out.contains("Signature and comment signature verified"), "{out}");
    assert!(out.contains(&format!("Trusted comment: {trusted}")), "{out}");
    // The one-line public key, and `-H`, which refuses anything but prehashed signatures.
    minisign_ok(dir, &["-V", "-H", "-m", "msg", "-P", &public.to_base64()], "");
    // `-Q` prints the trusted comment alone.
    assert_eq!(minisign_ok(dir, &["-V", "-Q", "-m", "msg", "-p", "key.pub"], ""), format!("{trusted}\n"));

    // Legacy signatures: accepted, but not under `-H`.
    let legacy = sign(&secret, b"legacy message", "old style", "", Algorithm::Legacy).unwrap();
    std::fs::write(dir.join("legacy"), "legacy message").unwrap();
    std::fs::write(dir.join("legacy.minisig"), legacy.to_text()).unwrap();
    minisign_ok(dir, &["-V", "-m", "legacy", "-p", "key.pub"], "");
    minisign_fails(dir, &["-V", "-H", "-m", "legacy", "-p", "key.pub"]);

    // The longest comments shipgate writes are the longest minisign reads; one byte more is not.
    let longest = sign(
        &secret,
        b"legacy message",
        &"t".repeat(MAX_TRUSTED_COMMENT),
        &"u".repeat(MAX_UNTRUSTED_COMMENT),
        Algorithm::Prehashed,
    )
    .unwrap();
    std::fs::write(dir.join("legacy.minisig"), longest.to_text()).unwrap();
    minisign_ok(dir, &["-V", "-m", "legacy", "-p", "key.pub"], "");
    for (trusted, untrusted) in [(MAX_TRUSTED_COMMENT + 1, 0), (0, MAX_UNTRUSTED_COMMENT + 1)] {
        let text = longest.to_text().replacen(&"u".repeat(MAX_UNTRUSTED_COMMENT), &"u".repeat(untrusted), 1).replacen(
            &"t".repeat(MAX_TRUSTED_COMMENT),
            &"t".repeat(trusted),
            1,
        );
        std::fs::write(dir.join("legacy.minisig"), text).unwrap();
        minisign_fails(dir, &["-V", "-m", "legacy", "-p", "key.pub"]);
    }

    // Tampering, as minisign sees it.
    std::fs::write(dir.join("msg"), format!("{}\n", DIGEST.replace("2c26", "2c27"))).unwrap();
    minisign_fails(dir, &["-Vm", "msg", "-p", "key.pub"]);
    std::fs::write(dir.join("msg"), digest_message(DIGEST).unwrap()).unwrap();
    std::fs::write(dir.join("msg.minisig"), signature.to_text().replace("release:v42", "release:v43")).unwrap();
    minisign_fails(dir, &["-Vm", "msg", "-p", "key.pub"]);
    let (_, other) = generate(None).unwrap();
    std::fs::write(dir.join("msg.minisig"), signature.to_text()).unwrap();
    minisign_fails(dir, &["-Vm", "msg", "-P", &other.to_base64()]);

    // minisign reads shipgate's unencrypted secret key: it signs with it and rebuilds the
    // public key from it.
    minisign_ok(dir, &["-S", "-s", "key.sec", "-m", "msg", "-x", "by-minisign.minisig", "-t", "by minisign"], "");
    let verified = verify_digest(&public, DIGEST, &read(dir, "by-minisign.minisig")).unwrap();
    assert_eq!(verified.trusted_comment, "by minisign");
    minisign_ok(dir, &["-R", "-s", "key.sec", "-p", "rebuilt.pub"], "");
    assert_eq!(read_public_key_file(&dir.join("rebuilt.pub")).unwrap(), public);
}

/// scrypt at minisign's cost (1 GiB, seconds each) runs four times here, so wrong passwords are
/// left to the unit tests, which use cheap parameters.
#[test]
fn password_protected_secret_keys_work_both_ways() {
    if !have_minisign("password_protected_secret_keys_work_both_ways") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let password = "correct horse battery staple";
    std::fs::write(dir.join("msg"), digest_message(DIGEST).unwrap()).unwrap();

    // A key minisign encrypted, read here with its password.
    minisign_ok(dir, &["-G", "-p", "theirs.pub", "-s", "theirs.sec"], &format!("{password}\n{password}\n"));
    let text = read(dir, "theirs.sec");
    assert!(SecretKey::is_encrypted(&text).unwrap());
    assert!(matches!(read_secret_key_file(&dir.join("theirs.sec"), None), Err(SignError::File { .. })));
    assert!(matches!(SecretKey::parse(&text, None), Err(SignError::PasswordRequired)));
    let theirs = read_secret_key_file(&dir.join("theirs.sec"), Some(password)).unwrap();
    assert_eq!(theirs.public_key(), read_public_key_file(&dir.join("theirs.pub")).unwrap());
    let signature = sign_digest(&theirs, DIGEST, "with minisign's encrypted key", "").unwrap();
    std::fs::write(dir.join("msg.minisig"), signature.to_text()).unwrap();
    minisign_ok(dir, &["-Vm", "msg", "-p", "theirs.pub"], "");

    // A key encrypted here, used by minisign with the password.
    let (secret, public) = generate(None).unwrap();
    create_secret_key_file(&dir.join("ours.sec"), &secret, Some(password)).unwrap();
    assert!(SecretKey::is_encrypted(&read(dir, "ours.sec")).unwrap());
    minisign_ok(
        dir,
        &["-S", "-s", "ours.sec", "-m", "msg", "-x", "ours.minisig", "-t", "ours"],
        &format!("{password}\n"),
    );
    assert_eq!(verify_digest(&public, DIGEST, &read(dir, "ours.minisig")).unwrap().trusted_comment, "ours");
}

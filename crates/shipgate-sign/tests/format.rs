//! Parsing, formatting, signing and tampering, without the minisign binary.
//!
//! `tests/fixtures/` was written by minisign 0.11 (Debian's package):
//!
//! ```text
//! minisign -G -W -p minisign.pub -s minisign.key
//! minisign -S -s minisign.key -m message.txt -x prehashed.minisig -t 'timestamp:1700000000<TAB>app:web<TAB>release:v1'
//! minisign -S -l -s minisign.key -m message.txt -x legacy.minisig -c 'legacy signature' -t 'legacy, trusted'
//! ```
//!
//! where `message.txt` is `digest_message` of [`DIGEST`]. `tests/minisign.rs` runs the binary itself.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use shipgate_sign::{
    Algorithm, KeyId, MAX_TRUSTED_COMMENT, MAX_UNTRUSTED_COMMENT, PublicKey, SecretKey, SignError, Signature, Text,
    create_secret_key_file, digest_message, generate, read_public_key_file, read_secret_key_file, sign, sign_digest,
    verify, verify_digest, verify_digest_with_any, verify_with_any,
};

/// Which error a table row expects.
type Check = fn(&SignError) -> bool;

const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const MINISIGN_PUB: &str = include_str!("fixtures/minisign.pub");
const MINISIGN_KEY: &str = include_str!("fixtures/minisign.key");
const MESSAGE: &[u8] = include_bytes!("fixtures/message.txt");
const PREHASHED: &str = include_str!("fixtures/prehashed.minisig");
const LEGACY: &str = include_str!("fixtures/legacy.minisig");

#[test]
fn minisign_keys_and_signatures_are_read() {
    let public = PublicKey::parse(MINISIGN_PUB).unwrap();
    assert_eq!(public.key_id().to_string(), "621B3163D55989C6", "the id minisign printed in the comment");
    assert_eq!(public.to_file_text(), MINISIGN_PUB, "written back byte for byte");
    let one_line = MINISIGN_PUB.lines().nth(1).unwrap();
    assert_eq!(public.to_base64(), one_line);
    assert_eq!(one_line.parse::<PublicKey>().unwrap(), public);

    let secret = SecretKey::parse(MINISIGN_KEY, None).unwrap();
    assert_eq!(secret.public_key(), public);

    assert_eq!(MESSAGE, digest_message(DIGEST).unwrap().as_bytes());
    let verified = verify(&public, MESSAGE, PREHASHED).unwrap();
    assert_eq!(verified.trusted_comment, "timestamp:1700000000\tapp:web\trelease:v1");
    assert_eq!(verified.key_id, public.key_id());
    assert_eq!(verified.algorithm, Algorithm::Prehashed);
    assert_eq!(verify_digest(&public, DIGEST, PREHASHED).unwrap(), verified);

    let legacy = verify(&public, MESSAGE, LEGACY).unwrap();
    assert_eq!(legacy.trusted_comment, "legacy, trusted");
    assert_eq!(legacy.algorithm, Algorithm::Legacy);

    let parsed = Signature::parse(LEGACY).unwrap();
    assert_eq!(parsed.untrusted_comment(), "legacy signature");
    assert_eq!(parsed.to_text(), LEGACY, "written back byte for byte");
}

/// Ed25519 is deterministic, so signing what minisign signed, with its key and comments, must
/// give minisign's bytes exactly.
#[test]
fn signatures_match_minisigns_byte_for_byte() {
    let secret = SecretKey::parse(MINISIGN_KEY, None).unwrap();
    for (expected, algorithm) in [(PREHASHED, Algorithm::Prehashed), (LEGACY, Algorithm::Legacy)] {
        let minisign = Signature::parse(expected).unwrap();
        let ours = sign(&secret, MESSAGE, minisign.trusted_comment(), minisign.untrusted_comment(), algorithm).unwrap();
        assert_eq!(ours.to_text(), expected);
    }
    let ours =
        sign_digest(&secret, DIGEST, "timestamp:1700000000\tapp:web\trelease:v1", "signature from minisign secret key")
            .unwrap();
    assert_eq!(ours.to_string(), PREHASHED);
}

#[test]
fn generated_keys_round_trip_through_every_form() {
    // Many keys, so that base64 with `+` and `/` in it is among them.
    for _ in 0..32 {
        let (secret, public) = generate(None).unwrap();
        assert_eq!(secret.public_key(), public);
        assert_eq!(PublicKey::parse(&public.to_file_text()).unwrap(), public);
        assert_eq!(PublicKey::parse(&public.to_base64()).unwrap(), public);
        assert_eq!(PublicKey::parse(&format!("  {public}\r\n\n")).unwrap(), public);
        assert_eq!(PublicKey::parse(&public.to_file_text().replace('\n', "\r\n")).unwrap(), public);
        assert_eq!(SecretKey::parse(&secret.to_file_text(), None).unwrap().public_key(), public);
        assert_eq!(public.to_base64().len(), 56);
        assert!(public.to_base64().starts_with("RW"));
    }
    let id = KeyId::from_bytes([1, 2, 3, 4, 5, 6, 7, 8]);
    let (secret, public) = generate(Some(id)).unwrap();
    assert_eq!((secret.key_id(), public.key_id()), (id, id));
    assert_eq!(id.to_string(), "0807060504030201", "little-endian, as minisign prints it");
    assert_eq!(
        public.to_file_text().lines().next().unwrap(),
        "untrusted comment: minisign public key 0807060504030201"
    );
    assert_eq!(
        public.to_file_text_with_comment("release key of web").unwrap().lines().next().unwrap(),
        "untrusted comment: release key of web"
    );
    assert!(public.to_file_text_with_comment("two\nlines").is_err());
    assert_eq!(PublicKey::from_parts(id, public.ed25519_bytes()).unwrap(), public);
}

#[test]
fn bad_public_keys_are_refused() {
    let public = PublicKey::parse(MINISIGN_PUB).unwrap();
    let bytes = BASE64.decode(public.to_base64()).unwrap();
    let with = |index: usize, value: u8| {
        let mut bytes = bytes.clone();
        bytes[index] = value;
        BASE64.encode(bytes)
    };
    let malformed = |error: &SignError| matches!(error, SignError::Malformed { what: Text::PublicKey, .. });
    let unsupported = |error: &SignError| matches!(error, SignError::Unsupported { what: Text::PublicKey, .. });
    let (malformed, unsupported): (Check, Check) = (malformed, unsupported);
    let cases: Vec<(&str, String, Check)> = vec![
        ("empty", String::new(), malformed),
        ("not base64", "RW*not base64*".to_owned(), malformed),
        ("too short", BASE64.encode(&bytes[..41]), malformed),
        ("too long", BASE64.encode([&bytes[..], &[0]].concat()), malformed),
        ("algorithm", with(0, b'X'), unsupported),
        ("prehashed algorithm is for signatures only", with(1, b'D'), unsupported),
        ("small-order key", BASE64.encode([&bytes[..10], &[0u8; 32]].concat()), malformed),
        ("comment without key", "untrusted comment: minisign public key 1\n".to_owned(), malformed),
        ("two keys", format!("{public}\n{public}\n"), malformed),
        ("wrong comment prefix", format!("comment: x\n{public}\n"), malformed),
        ("a signature", PREHASHED.to_owned(), malformed),
        ("a secret key", MINISIGN_KEY.to_owned(), malformed),
    ];
    for (name, text, expected) in cases {
        match PublicKey::parse(&text) {
            Err(error) => assert!(expected(&error), "{name}: {error:?}"),
            Ok(key) => panic!("{name}: accepted as {key:?}"),
        }
    }
}

/// Rewrites the `line`-th line of a signature with `change` applied to its decoded bytes.
fn tamper_bytes(text: &str, line: usize, change: impl Fn(&mut Vec<u8>)) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut bytes = BASE64.decode(&lines[line]).expect("a base64 line");
    change(&mut bytes);
    lines[line] = BASE64.encode(bytes);
    lines.join("\n") + "\n"
}

#[test]
fn tampering_is_caught() {
    let (secret, public) = generate(None).unwrap();
    let (_, other) = generate(None).unwrap();
    let (_, same_id) = generate(Some(public.key_id())).unwrap();
    let message = b"the artifact".as_slice();
    let good = sign(&secret, message, "app:web\trelease:v7", "signature from shipgate", Algorithm::Prehashed)
        .unwrap()
        .to_text();
    let good_legacy = sign(&secret, message, "app:web", "", Algorithm::Legacy).unwrap().to_text();
    assert!(verify(&public, message, &good).is_ok());
    assert!(verify(&public, message, &good_legacy).is_ok());

    let flip = |index: usize| move |bytes: &mut Vec<u8>| bytes[index] ^= 1;
    let bad_signature = |error: &SignError| matches!(error, SignError::BadSignature { .. });
    let bad_comment = |error: &SignError| matches!(error, SignError::BadTrustedComment { .. });
    let key_mismatch = |error: &SignError| matches!(error, SignError::KeyIdMismatch { .. });
    let unsupported = |error: &SignError| matches!(error, SignError::Unsupported { what: Text::Signature, .. });
    let (bad_signature, bad_comment, key_mismatch, unsupported): (Check, Check, Check, Check) =
        (bad_signature, bad_comment, key_mismatch, unsupported);
    let cases: Vec<(&str, &PublicKey, &[u8], String, Check)> = vec![
        ("a flipped bit in the message", &public, b"the artifacu", good.clone(), bad_signature),
        ("a byte more in the message", &public, b"the artifact\n", good.clone(), bad_signature),
        ("a flipped bit in the legacy message", &public, b"the artifacu", good_legacy.clone(), bad_signature),
        ("a flipped bit in the signature", &public, message, tamper_bytes(&good, 1, flip(40)), bad_signature),
        ("legacy and prehashed swapped", &public, message, tamper_bytes(&good, 1, |b| b[1] = b'd'), bad_signature),
        (
            "prehashed claimed for legacy",
            &public,
            message,
            tamper_bytes(&good_legacy, 1, |b| b[1] = b'D'),
            bad_signature,
        ),
        ("unknown algorithm", &public, message, tamper_bytes(&good, 1, |b| b[0] = b'X'), unsupported),
        ("a flipped bit in the key id", &public, message, tamper_bytes(&good, 1, flip(2)), key_mismatch),
        ("a changed trusted comment", &public, message, good.replace("release:v7", "release:v8"), bad_comment),
        ("a trusted comment made longer", &public, message, good.replace("release:v7", "release:v7 "), bad_comment),
        ("a flipped bit in the global signature", &public, message, tamper_bytes(&good, 3, flip(7)), bad_comment),
        ("another key", &other, message, good.clone(), key_mismatch),
        ("another key with the same id", &same_id, message, good.clone(), bad_signature),
    ];
    for (name, key, message, signature, expected) in cases {
        match verify(key, message, &signature) {
            Err(error) => assert!(expected(&error), "{name}: {error:?}"),
            Ok(verified) => panic!("{name}: accepted: {verified:?}"),
        }
    }

    // The untrusted comment is not signed: editing it changes nothing.
    let edited = good.replacen("signature from shipgate", "edited by anyone", 1);
    assert_eq!(verify(&public, message, &edited).unwrap().trusted_comment, "app:web\trelease:v7");
    // Nor do Windows line endings or a missing final newline.
    assert!(verify(&public, message, &good.replace('\n', "\r\n")).is_ok());
    assert!(verify(&public, message, good.trim_end()).is_ok());
}

#[test]
fn malformed_signatures_are_refused() {
    let (secret, _) = generate(None).unwrap();
    let good = sign(&secret, b"m", "trusted", "untrusted", Algorithm::Prehashed).unwrap().to_text();
    let lines: Vec<&str> = good.lines().collect();
    for (name, text) in [
        ("empty", String::new()),
        ("signify's two lines", lines[..2].join("\n")),
        ("three lines", lines[..3].join("\n")),
        ("five lines", format!("{good}extra\n")),
        ("no untrusted prefix", good.replacen("untrusted comment: ", "comment: ", 1)),
        ("no trusted prefix", good.replacen("trusted comment: trusted", "trusted_comment: trusted", 1)),
        ("signature not base64", good.replacen(lines[1], "not*base64", 1)),
        ("global signature not base64", good.replacen(lines[3], "not*base64", 1)),
        ("short signature", tamper_bytes(&good, 1, |b| b.truncate(73))),
        ("long global signature", tamper_bytes(&good, 3, |b| b.push(0))),
        ("a public key", MINISIGN_PUB.to_owned()),
    ] {
        match Signature::parse(&text) {
            Err(SignError::Malformed { what: Text::Signature, reason }) => assert!(!reason.is_empty(), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn comments_must_be_one_line_that_minisign_can_read() {
    let (secret, public) = generate(None).unwrap();
    let longest_trusted = "t".repeat(MAX_TRUSTED_COMMENT);
    let longest_untrusted = "u".repeat(MAX_UNTRUSTED_COMMENT);
    assert_eq!((MAX_UNTRUSTED_COMMENT, MAX_TRUSTED_COMMENT), (1003, 8173));
    for (name, trusted, untrusted, accepted) in [
        ("plain", "timestamp:1\tfile:x", "signature", true),
        ("empty", "", "", true),
        ("unicode and spaces kept", " Grüße ", " ✓ ", true),
        ("longest", longest_trusted.as_str(), longest_untrusted.as_str(), true),
        ("trusted too long", &format!("{longest_trusted}t"), "", false),
        ("untrusted too long", "", &format!("{longest_untrusted}u"), false),
        ("trusted newline", "a\nb", "", false),
        ("trusted carriage return", "a\r", "", false),
        ("untrusted newline", "", "a\nb", false),
        ("untrusted NUL", "", "a\0b", false),
    ] {
        match sign(&secret, b"m", trusted, untrusted, Algorithm::Prehashed) {
            Ok(signature) => {
                assert!(accepted, "{name}: accepted");
                let verified = verify(&public, b"m", &signature.to_text()).unwrap();
                assert_eq!(verified.trusted_comment, trusted, "{name}");
                assert_eq!(Signature::parse(&signature.to_text()).unwrap().untrusted_comment(), untrusted, "{name}");
            }
            Err(error) => {
                assert!(!accepted, "{name}: {error}");
                assert!(matches!(error, SignError::InvalidComment { .. }), "{name}: {error:?}");
            }
        }
    }
}

#[test]
fn digests_are_signed_as_one_line_of_text() {
    let upper = DIGEST.to_uppercase().replace("SHA256", "sha256");
    for (digest, valid) in [
        (DIGEST, true),
        ("sha256:0000000000000000000000000000000000000000000000000000000000000000", true),
        (&DIGEST[..DIGEST.len() - 1], false),
        (&format!("{DIGEST}0"), false),
        (&upper, false),
        (&DIGEST.replace("sha256:", "sha512:"), false),
        (DIGEST.trim_start_matches("sha256:"), false),
        (&format!("{DIGEST}\n"), false),
        (&format!(" {DIGEST}"), false),
        ("", false),
    ] {
        match digest_message(digest) {
            Ok(message) => {
                assert!(valid, "{digest:?} accepted");
                assert_eq!(message, format!("{digest}\n"));
                assert_eq!(message.len(), 72);
            }
            Err(error) => {
                assert!(!valid, "{digest:?}: {error}");
                assert!(matches!(error, SignError::InvalidDigest { .. }));
            }
        }
    }

    let (secret, public) = generate(None).unwrap();
    let signature = sign_digest(&secret, DIGEST, "app:web\trelease:v1", "shipgate release signature").unwrap();
    assert_eq!(signature.algorithm(), Algorithm::Prehashed);
    let text = signature.to_text();
    assert_eq!(verify_digest(&public, DIGEST, &text).unwrap().trusted_comment, "app:web\trelease:v1");
    assert!(verify(&public, format!("{DIGEST}\n").as_bytes(), &text).is_ok(), "the same as signing the message");
    let other = DIGEST.replace("9f86", "9f87");
    assert!(matches!(verify_digest(&public, &other, &text), Err(SignError::BadSignature { .. })));
    assert!(matches!(verify_digest(&public, "sha256:nope", &text), Err(SignError::InvalidDigest { .. })));
    assert!(sign_digest(&secret, "latest", "", "").is_err());
}

#[test]
fn verify_with_any_finds_the_signing_key() {
    let keys: Vec<(SecretKey, PublicKey)> = (0..3).map(|_| generate(None).unwrap()).collect();
    let trusted: Vec<PublicKey> = keys.iter().map(|(_, public)| public.clone()).collect();
    for (index, (secret, _)) in keys.iter().enumerate() {
        let signature = sign(secret, b"m", "c", "", Algorithm::Prehashed).unwrap().to_text();
        let (found, verified) = verify_with_any(&trusted, b"m", &signature).unwrap();
        assert_eq!((found, verified.key_id), (index, trusted[index].key_id()));
        assert!(matches!(verify_with_any(&trusted, b"n", &signature), Err(SignError::BadSignature { .. })));
    }

    let (stranger, _) = generate(None).unwrap();
    let signature = sign(&stranger, b"m", "c", "", Algorithm::Prehashed).unwrap().to_text();
    match verify_with_any(&trusted, b"m", &signature) {
        Err(error @ SignError::UntrustedKey { .. }) => {
            let message = error.to_string();
            assert!(message.contains(&format!("`{}`", stranger.key_id())), "{message}");
            assert!(trusted.iter().all(|key| message.contains(&key.key_id().to_string())), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(verify_with_any(&[], b"m", &signature).unwrap_err().to_string().contains("none are configured"));

    // A trusted key that only shares the id is passed over for the one that verifies.
    let (secret, public) = generate(None).unwrap();
    let (_, impostor) = generate(Some(public.key_id())).unwrap();
    let signature = sign_digest(&secret, DIGEST, "c", "").unwrap().to_text();
    let (found, _) = verify_digest_with_any(&[impostor, public], DIGEST, &signature).unwrap();
    assert_eq!(found, 1);
}

#[test]
fn key_files_are_private() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let (secret, public) = generate(None).unwrap();
    let path = dir.path().join("release.key");
    create_secret_key_file(&path, &secret, None).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(read_secret_key_file(&path, None).unwrap().public_key(), public);
    assert!(matches!(create_secret_key_file(&path, &secret, None), Err(SignError::Io { .. })), "never overwritten");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let error = read_secret_key_file(&path, None).unwrap_err();
    assert!(matches!(error, SignError::Permissions { mode: 0o640, .. }), "{error:?}");
    assert_eq!(error.hint(), format!("run `chmod 600 {}`", path.display()));

    let pub_path = dir.path().join("release.pub");
    std::fs::write(&pub_path, public.to_file_text()).unwrap();
    assert_eq!(read_public_key_file(&pub_path).unwrap(), public);
    std::fs::write(&pub_path, "untrusted comment: nothing else\n").unwrap();
    let error = read_public_key_file(&pub_path).unwrap_err();
    assert_eq!(error.to_string(), format!("cannot use `{}`", pub_path.display()));
    assert!(
        matches!(&error, SignError::File { source, .. } if matches!(**source, SignError::Malformed { what: Text::PublicKey, .. }))
    );
    assert!(error.hint().contains("RW"), "the hint of the cause: {}", error.hint());
    assert!(matches!(read_public_key_file(&dir.path().join("missing.pub")), Err(SignError::Io { .. })));
}

/// Every error has a one-line hint in the house style: no trailing period.
#[test]
fn every_error_has_a_hint() {
    let id = KeyId::from_bytes([7; 8]);
    let errors = [
        SignError::Malformed { what: Text::PublicKey, reason: "r".into() },
        SignError::Malformed { what: Text::SecretKey, reason: "r".into() },
        SignError::Malformed { what: Text::Signature, reason: "r".into() },
        SignError::Unsupported { what: Text::Signature, reason: "r".into() },
        SignError::KeyIdMismatch { signature: id, key: id },
        SignError::UntrustedKey { signature: id, trusted: vec![id] },
        SignError::BadSignature { key_id: id },
        SignError::BadTrustedComment { key_id: id },
        SignError::PasswordRequired,
        SignError::WrongPassword,
        SignError::InvalidComment { which: "trusted", reason: "r".into() },
        SignError::InvalidDigest { digest: "d".into() },
        SignError::Random("r".into()),
        SignError::Io { doing: "read", path: "p".into(), source: std::io::ErrorKind::NotFound.into() },
        SignError::Permissions { path: "p".into(), mode: 0o644 },
    ];
    for error in errors {
        let (message, hint) = (error.to_string(), error.hint());
        for text in [&message, &hint] {
            assert!(!text.is_empty() && !text.ends_with('.') && !text.contains('\n'), "{error:?}: {text:?}");
        }
    }
}

//! The secret key and its file format.
//!
//! The second line of the file is base64 of 158 bytes:
//!
//! | bytes | field |
//! | --- | --- |
//! | 2 | signature algorithm, `Ed` |
//! | 2 | KDF: `Sc` (scrypt) or `\0\0` (not encrypted, `minisign -W`) |
//! | 2 | checksum algorithm, `B2` (BLAKE2b-256) |
//! | 32 | KDF salt |
//! | 8 | KDF opslimit, little-endian (libsodium's `crypto_pwhash_scryptsalsa208sha256`) |
//! | 8 | KDF memlimit, little-endian |
//! | 104 | key id (8) ‖ Ed25519 seed (32) ‖ Ed25519 public key (32) ‖ checksum (32), XORed with 104 bytes of scrypt output when encrypted |
//!
//! The checksum is BLAKE2b-256(`Ed` ‖ key id ‖ seed ‖ public key). `minisign -W` leaves it, the
//! salt and the limits zero; shipgate writes the checksum in unencrypted keys too (minisign reads
//! such keys, `tests/minisign.rs`), and checks it whenever it is not zero.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use blake2::{Blake2b256, Digest};
use ed25519_dalek::Signer as _;
use zeroize::Zeroizing;

use crate::{ALG_ED25519, KeyId, PublicKey, SignError, Text, UNTRUSTED_PREFIX, lines};

const KDF_NONE: [u8; 2] = [0, 0];
const KDF_SCRYPT: [u8; 2] = *b"Sc";
const CHECKSUM_BLAKE2B: [u8; 2] = *b"B2";

const SALT_LEN: usize = 32;
const KEYNUM_LEN: usize = 8 + 32 + 32 + 32;
const FILE_LEN: usize = 2 + 2 + 2 + SALT_LEN + 8 + 8 + KEYNUM_LEN;

/// The limits minisign writes (libsodium's `…_OPSLIMIT_SENSITIVE` / `…_MEMLIMIT_SENSITIVE`):
/// scrypt with N = 2^20, r = 8, p = 1, 1 GiB of memory. shipgate writes these and reads
/// nothing costlier, so a key file cannot make it spend more than minisign would.
pub(crate) const MINISIGN_LIMITS: KdfLimits = KdfLimits { opslimit: 1 << 25, memlimit: 1 << 30 };

/// libsodium's scrypt cost parameters, as stored in the key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KdfLimits {
    pub(crate) opslimit: u64,
    pub(crate) memlimit: u64,
}

impl KdfLimits {
    /// The scrypt parameters libsodium derives from these limits (`log2 N`, `r`, `p`).
    ///
    /// Written after libsodium's `pickparams`: r is 8; when the operations limit is the tighter
    /// one, p is 1 and N is as large as it allows, otherwise N is as large as the memory allows
    /// and p takes up the remaining operations.
    pub(crate) fn scrypt_params(self) -> (u8, u32, u32) {
        const R: u64 = 8;
        let opslimit = self.opslimit.max(32_768);
        let log_n_below = |max_n: u64| (1u8..63).find(|&log_n| (1u64 << log_n) > max_n / 2).unwrap_or(63);
        if opslimit < self.memlimit / 32 {
            (log_n_below(opslimit / (R * 4)), R as u32, 1)
        } else {
            let log_n = log_n_below(self.memlimit / (R * 128));
            let max_rp = ((opslimit / 4) >> log_n).min(0x3fff_ffff);
            (log_n, R as u32, (max_rp / R).max(1) as u32)
        }
    }

    /// scrypt's memory (128·r·N bytes) and work (N·r·p) for these limits, both no more than
    /// minisign's own.
    fn check(self) -> Result<scrypt::Params, SignError> {
        let (log_n, r, p) = self.scrypt_params();
        let (max_log_n, max_r, max_p) = MINISIGN_LIMITS.scrypt_params();
        let memory = (128u128 * u128::from(r)) << log_n;
        let work = (u128::from(r) * u128::from(p)) << log_n;
        let max_memory = (128u128 * u128::from(max_r)) << max_log_n;
        let max_work = (u128::from(max_r) * u128::from(max_p)) << max_log_n;
        let unsupported = |reason: String| SignError::Unsupported { what: Text::SecretKey, reason };
        if memory > max_memory || work > max_work {
            return Err(unsupported(format!(
                "its key derivation (scrypt N=2^{log_n} r={r} p={p}) costs more than minisign's own (N=2^{max_log_n} r={max_r} p={max_p})"
            )));
        }
        scrypt::Params::new(log_n, r, p)
            .map_err(|_| unsupported(format!("its scrypt parameters N=2^{log_n} r={r} p={p} are invalid")))
    }

    /// `len` bytes of scrypt output for `password` and `salt`.
    fn derive(self, password: &str, salt: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, SignError> {
        let params = self.check()?;
        let mut output = Zeroizing::new(vec![0u8; len]);
        scrypt::scrypt(password.as_bytes(), salt, &params, &mut output).map_err(|_| SignError::Unsupported {
            what: Text::SecretKey,
            reason: "scrypt refused the output length".to_owned(),
        })?;
        Ok(output)
    }
}

/// A minisign secret key: a key id and an Ed25519 signing key. Its `Debug` shows the id only.
#[derive(Clone)]
pub struct SecretKey {
    id: KeyId,
    key: ed25519_dalek::SigningKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.id)
    }
}

impl SecretKey {
    pub(crate) fn from_seed(id: KeyId, seed: &[u8; 32]) -> SecretKey {
        SecretKey { id, key: ed25519_dalek::SigningKey::from_bytes(seed) }
    }

    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// The public half, with the same key id.
    pub fn public_key(&self) -> PublicKey {
        PublicKey { id: self.id, key: self.key.verifying_key() }
    }

    pub(crate) fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// Whether the secret key file `text` is password-protected, to know whether to ask for one.
    pub fn is_encrypted(text: &str) -> Result<bool, SignError> {
        let bytes = decode_file(text)?;
        Ok(kdf_algorithm(&bytes)? == KDF_SCRYPT)
    }

    /// Reads a secret key file. `password` is needed for an encrypted one (else
    /// [`SignError::PasswordRequired`]) and ignored for an unencrypted one.
    pub fn parse(text: &str, password: Option<&str>) -> Result<SecretKey, SignError> {
        let malformed = |reason: &str| SignError::Malformed { what: Text::SecretKey, reason: reason.to_owned() };
        let bytes = decode_file(text)?;
        let kdf = kdf_algorithm(&bytes)?;
        if bytes[4..6] != CHECKSUM_BLAKE2B {
            return Err(SignError::Unsupported {
                what: Text::SecretKey,
                reason: format!(
                    "its checksum algorithm is `{}`, not `B2` (BLAKE2b)",
                    String::from_utf8_lossy(&bytes[4..6]).escape_debug()
                ),
            });
        }
        let salt = &bytes[6..6 + SALT_LEN];
        let limits = KdfLimits {
            opslimit: u64::from_le_bytes(read8(&bytes[38..46])),
            memlimit: u64::from_le_bytes(read8(&bytes[46..54])),
        };
        let mut keynum = Zeroizing::new(bytes[54..].to_vec());
        let encrypted = kdf == KDF_SCRYPT;
        if encrypted {
            let password = password.ok_or(SignError::PasswordRequired)?;
            let stream = limits.derive(password, salt, KEYNUM_LEN)?;
            keynum.iter_mut().zip(stream.iter()).for_each(|(byte, key)| *byte ^= key);
        }
        let id = KeyId::from_bytes(read8(&keynum[..8]));
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(read32(&keynum[8..40]));
        let public = read32(&keynum[40..72]);
        let stored_checksum = &keynum[72..104];
        let checksum = checksum(id, &seed, &public);
        let checksum_ok = stored_checksum == checksum.as_slice();
        if encrypted && !checksum_ok {
            // The checksum is all that tells a wrong password from a right one (the key id is
            // encrypted too, so there is none to show).
            return Err(SignError::WrongPassword);
        }
        if !encrypted && !checksum_ok && stored_checksum.iter().any(|&byte| byte != 0) {
            return Err(malformed("its checksum does not match the key: the file is damaged"));
        }
        let key = SecretKey::from_seed(id, &seed);
        if key.key.verifying_key().to_bytes() != public {
            return Err(malformed("its public key does not match its secret key: the file is damaged"));
        }
        Ok(key)
    }

    /// The unencrypted secret key file, as `minisign -G -W` writes it (plus the checksum). Keep it
    /// private (mode 0600): whoever reads it can sign.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        self.encode(None)
    }

    /// The secret key file encrypted with `password`, with scrypt at the cost minisign uses
    /// (1 GiB of memory and a few seconds, to write and again to read).
    pub fn to_encrypted_file_text(&self, password: &str) -> Result<Zeroizing<String>, SignError> {
        self.to_encrypted_file_text_with(password, MINISIGN_LIMITS)
    }

    pub(crate) fn to_encrypted_file_text_with(
        &self,
        password: &str,
        limits: KdfLimits,
    ) -> Result<Zeroizing<String>, SignError> {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|error| SignError::Random(error.to_string()))?;
        let stream = limits.derive(password, &salt, KEYNUM_LEN)?;
        Ok(self.encode(Some(Encryption { salt, limits, stream })))
    }

    fn encode(&self, encryption: Option<Encryption>) -> Zeroizing<String> {
        let public = self.key.verifying_key().to_bytes();
        let mut keynum = Zeroizing::new(Vec::with_capacity(KEYNUM_LEN));
        keynum.extend_from_slice(&self.id.to_bytes());
        keynum.extend_from_slice(self.key.as_bytes());
        keynum.extend_from_slice(&public);
        keynum.extend_from_slice(&checksum(self.id, self.key.as_bytes(), &public));

        let mut bytes = Zeroizing::new(Vec::with_capacity(FILE_LEN));
        bytes.extend_from_slice(&ALG_ED25519);
        let comment = match encryption {
            None => {
                bytes.extend_from_slice(&KDF_NONE);
                bytes.extend_from_slice(&CHECKSUM_BLAKE2B);
                bytes.extend_from_slice(&[0u8; SALT_LEN + 8 + 8]);
                "minisign unencrypted secret key"
            }
            Some(Encryption { salt, limits, stream }) => {
                keynum.iter_mut().zip(stream.iter()).for_each(|(byte, key)| *byte ^= key);
                bytes.extend_from_slice(&KDF_SCRYPT);
                bytes.extend_from_slice(&CHECKSUM_BLAKE2B);
                bytes.extend_from_slice(&salt);
                bytes.extend_from_slice(&limits.opslimit.to_le_bytes());
                bytes.extend_from_slice(&limits.memlimit.to_le_bytes());
                "minisign encrypted secret key"
            }
        };
        bytes.extend_from_slice(&keynum);
        let mut text = Zeroizing::new(format!("{UNTRUSTED_PREFIX}{comment}\n"));
        text.push_str(&Zeroizing::new(BASE64.encode(&*bytes)));
        text.push('\n');
        text
    }
}

/// What encrypts a key file: the salt and limits stored in it, and the scrypt output they gave.
struct Encryption {
    salt: [u8; SALT_LEN],
    limits: KdfLimits,
    stream: Zeroizing<Vec<u8>>,
}

/// BLAKE2b-256(`Ed` ‖ key id ‖ seed ‖ public key).
fn checksum(id: KeyId, seed: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Blake2b256::new();
    hasher.update(ALG_ED25519);
    hasher.update(id.to_bytes());
    hasher.update(seed);
    hasher.update(public);
    hasher.finalize().into()
}

/// The 158 bytes of a secret key file.
fn decode_file(text: &str) -> Result<Zeroizing<Vec<u8>>, SignError> {
    let malformed = |reason: String| SignError::Malformed { what: Text::SecretKey, reason };
    let lines = lines(text.trim_start());
    let data = match lines.as_slice() {
        [comment, data] if comment.starts_with(UNTRUSTED_PREFIX) => data.trim(),
        [comment, ..] if !comment.starts_with(UNTRUSTED_PREFIX) => {
            return Err(malformed("it does not start with `untrusted comment: `".to_owned()));
        }
        _ => return Err(malformed("a secret key file has two lines: the comment and the key".to_owned())),
    };
    let bytes = Zeroizing::new(BASE64.decode(data).map_err(|_| malformed("the key is not base64".to_owned()))?);
    if bytes.len() != FILE_LEN {
        return Err(malformed(format!("the key is {} bytes, not {FILE_LEN}", bytes.len())));
    }
    if bytes[..2] != ALG_ED25519 {
        return Err(SignError::Unsupported {
            what: Text::SecretKey,
            reason: format!(
                "its algorithm is `{}`, not `Ed` (Ed25519)",
                String::from_utf8_lossy(&bytes[..2]).escape_debug()
            ),
        });
    }
    Ok(bytes)
}

fn kdf_algorithm(bytes: &[u8]) -> Result<[u8; 2], SignError> {
    match [bytes[2], bytes[3]] {
        kdf @ (KDF_NONE | KDF_SCRYPT) => Ok(kdf),
        other => Err(SignError::Unsupported {
            what: Text::SecretKey,
            reason: format!(
                "its key derivation is `{}`, not `Sc` (scrypt) or none",
                String::from_utf8_lossy(&other).escape_debug()
            ),
        }),
    }
}

/// The first 8 bytes of `bytes`, which the fixed layout guarantees are there.
fn read8(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[..8]);
    out
}

fn read32(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes[..32]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap limits for tests: scrypt N = 2^14, r = 8, p = 1 (16 MiB).
    const TEST_LIMITS: KdfLimits = KdfLimits { opslimit: 1 << 19, memlimit: 1 << 24 };

    #[test]
    fn limits_map_to_libsodium_scrypt_parameters() {
        for (opslimit, memlimit, expected) in [
            // minisign's: OPSLIMIT_SENSITIVE, MEMLIMIT_SENSITIVE.
            (1 << 25, 1 << 30, (20, 8, 1)),
            // libsodium's INTERACTIVE pair: 2^19 ops, 16 MiB.
            (1 << 19, 1 << 24, (14, 8, 1)),
            // The operations limit is the tighter one: p = 1, N from the operations.
            (1 << 20, 1 << 30, (15, 8, 1)),
            // Below libsodium's floor of 32768 operations.
            (0, 1 << 30, (10, 8, 1)),
            // Memory is the tighter one and operations are left over: p grows.
            (1 << 26, 1 << 24, (14, 8, 128)),
        ] {
            assert_eq!(KdfLimits { opslimit, memlimit }.scrypt_params(), expected, "{opslimit} {memlimit}");
        }
    }

    #[test]
    fn costlier_limits_than_minisigns_are_refused() {
        assert!(MINISIGN_LIMITS.check().is_ok());
        for limits in [
            KdfLimits { opslimit: 1 << 26, memlimit: 1 << 31 },
            KdfLimits { opslimit: 1 << 27, memlimit: 1 << 30 },
            KdfLimits { opslimit: u64::MAX, memlimit: u64::MAX },
        ] {
            assert!(matches!(limits.check(), Err(SignError::Unsupported { what: Text::SecretKey, .. })), "{limits:?}");
        }
    }

    #[test]
    fn encrypted_keys_round_trip_and_need_the_password() {
        let (secret, public) = crate::generate(None).unwrap();
        let text = secret.to_encrypted_file_text_with("correct horse", TEST_LIMITS).unwrap();
        assert!(text.starts_with("untrusted comment: minisign encrypted secret key\nRWRTY0Iy"), "{}", *text);
        assert!(SecretKey::is_encrypted(&text).unwrap());
        let again = SecretKey::parse(&text, Some("correct horse")).unwrap();
        assert_eq!(again.public_key(), public);
        assert!(matches!(SecretKey::parse(&text, None), Err(SignError::PasswordRequired)));
        assert!(matches!(SecretKey::parse(&text, Some("correct horse ")), Err(SignError::WrongPassword)));
        // The salt is random: the same key and password never give the same file.
        assert_ne!(*secret.to_encrypted_file_text_with("correct horse", TEST_LIMITS).unwrap(), *text);
    }

    #[test]
    fn unencrypted_keys_round_trip_and_ignore_a_password() {
        let (secret, public) = crate::generate(None).unwrap();
        let text = secret.to_file_text();
        assert!(text.starts_with("untrusted comment: minisign unencrypted secret key\nRWQAAEIy"), "{}", *text);
        assert!(!SecretKey::is_encrypted(&text).unwrap());
        assert_eq!(SecretKey::parse(&text, None).unwrap().public_key(), public);
        assert_eq!(SecretKey::parse(&text, Some("ignored")).unwrap().public_key(), public);
        assert_eq!(format!("{secret:?}"), format!("SecretKey({})", public.key_id()), "no key material in Debug");
    }

    /// Rewrites byte `index` of the decoded key file with `change`.
    fn tamper(text: &str, index: usize, change: impl Fn(&mut u8)) -> String {
        let (comment, data) = text.trim_end().split_once('\n').unwrap();
        let mut bytes = BASE64.decode(data).unwrap();
        change(&mut bytes[index]);
        format!("{comment}\n{}\n", BASE64.encode(bytes))
    }

    #[test]
    fn damaged_secret_keys_are_refused() {
        let (secret, _) = crate::generate(None).unwrap();
        let plain = secret.to_file_text();
        let encrypted = secret.to_encrypted_file_text_with("pw", TEST_LIMITS).unwrap();
        let flip = |byte: &mut u8| *byte ^= 1;
        let malformed = |error: &SignError| matches!(error, SignError::Malformed { what: Text::SecretKey, .. });
        let unsupported = |error: &SignError| matches!(error, SignError::Unsupported { what: Text::SecretKey, .. });
        let wrong_password = |error: &SignError| matches!(error, SignError::WrongPassword);
        type Check = fn(&SignError) -> bool;
        let (malformed, unsupported, wrong_password): (Check, Check, Check) = (malformed, unsupported, wrong_password);
        let cases: Vec<(&str, String, Option<&str>, Check)> = vec![
            ("algorithm", tamper(&plain, 0, flip), None, unsupported),
            ("kdf", tamper(&plain, 2, |b| *b = b'X'), None, unsupported),
            ("checksum algorithm", tamper(&plain, 4, flip), None, unsupported),
            ("seed, plain", tamper(&plain, 54 + 8, flip), None, malformed),
            ("public key, plain", tamper(&plain, 54 + 40, flip), None, malformed),
            ("checksum, plain", tamper(&plain, 54 + 72, flip), None, malformed),
            ("seed, encrypted", tamper(&encrypted, 54 + 8, flip), Some("pw"), wrong_password),
            ("salt, encrypted", tamper(&encrypted, 6, flip), Some("pw"), wrong_password),
            ("opslimit, encrypted", tamper(&encrypted, 38 + 7, |b| *b = 0xff), Some("pw"), unsupported),
            ("truncated", plain.trim_end()[..plain.trim_end().len() - 4].to_owned(), None, malformed),
            ("not base64", plain.replace("RWQ", "R*Q"), None, malformed),
            ("no comment", plain.lines().nth(1).unwrap().to_owned(), None, malformed),
            ("public key file", secret.public_key().to_file_text(), None, malformed),
            ("empty", String::new(), None, malformed),
        ];
        for (name, text, password, expected) in cases {
            match SecretKey::parse(&text, password) {
                Err(error) => assert!(expected(&error), "{name}: {error:?}"),
                Ok(_) => panic!("{name}: accepted"),
            }
        }
        // A zero checksum is how `minisign -W` writes unencrypted keys: accepted.
        let zeroed = (0..32).fold(plain.to_string(), |text, i| tamper(&text, 54 + 72 + i, |b| *b = 0));
        assert_eq!(SecretKey::parse(&zeroed, None).unwrap().public_key(), secret.public_key());
    }
}

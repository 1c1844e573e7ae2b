//! Signed checkpoints: the c2sp.org/tlog-checkpoint body in a c2sp.org/signed-note.
//!
//! ```text
//! shipgate/ledger/3f6c0a9d51e2b7c4
//! 1000
//! 6ChTKbrwvnT5qcS1qDQ1S8oq8OmyHhhqUuXUrW9v9Y0=
//!
//! — shipgate/ledger/3f6c0a9d51e2b7c4 Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
//! ```
//!
//! The origin line names the ledger, then the tree size, then the base64 root hash; after
//! a blank line, one line per signature: an em dash, the key name and base64(key id ‖
//! Ed25519 signature over the text above the blank line). Parsing and signature checking
//! of the note are `signed_note`'s (a port of Go's reference implementation).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use signed_note::{Note, NoteError, VerificationError, VerifierList};

use crate::LedgerError;
use crate::keys::{SigningKey, VerifierKey};
use crate::merkle::Hash;

/// What a checkpoint states: this ledger had `size` entries with this `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: origin, size and root, one per line.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, BASE64.encode(self.root))
    }

    /// Reads a checkpoint body. Extension lines after the root are allowed and ignored,
    /// as c2sp.org/tlog-checkpoint permits.
    pub fn parse_body(text: &str) -> Result<Checkpoint, String> {
        let body = text.strip_suffix('\n').ok_or("its text does not end with a newline")?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|origin| !origin.is_empty()).ok_or("it has no origin line")?;
        let size = lines.next().ok_or("it has no tree size line")?;
        let canonical_number = !size.is_empty()
            && size.bytes().all(|byte| byte.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size: u64 = size.parse().ok().filter(|_| canonical_number).ok_or("its tree size is not a number")?;
        let root = lines.next().ok_or("it has no root hash line")?;
        let root: Hash = BASE64
            .decode(root)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or("its root hash is not 32 bytes of base64")?;
        if lines.any(str::is_empty) {
            return Err("it has an empty extension line".into());
        }
        Ok(Checkpoint { origin: origin.to_owned(), size, root })
    }

    /// A signed note of this checkpoint, one signature per key.
    pub fn sign(&self, keys: &[&SigningKey]) -> Result<String, LedgerError> {
        let mut note = Note::new(self.body().as_bytes(), &[]).map_err(|error| LedgerError::Sign(error.to_string()))?;
        let signers: Vec<&dyn signed_note::Signer> = keys.iter().map(|key| *key as &dyn signed_note::Signer).collect();
        note.add_sigs(&signers).map_err(|error| LedgerError::Sign(error.to_string()))?;
        String::from_utf8(note.to_bytes()).map_err(|error| LedgerError::Sign(error.to_string()))
    }
}

/// A note read but not yet trusted: its checkpoint and who claims to have signed it.
#[derive(Debug)]
pub struct UnverifiedCheckpoint {
    pub checkpoint: Checkpoint,
    /// `name+id` of every signature line.
    pub signers: Vec<String>,
    note: Note,
}

/// Why a note's signatures were not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureProblem {
    /// None of its signatures is by a key we trust; `signers` says whose they are.
    UnknownKey { signers: Vec<String> },
    /// A signature by a trusted key does not match the text: the text was changed.
    BadSignature { key: String },
}

impl std::fmt::Display for SignatureProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureProblem::UnknownKey { signers } if signers.is_empty() => f.write_str("it has no signature"),
            SignatureProblem::UnknownKey { signers } => {
                write!(f, "it is signed only by `{}`, which is not a trusted key", signers.join("`, `"))
            }
            SignatureProblem::BadSignature { key } => {
                write!(f, "its signature by `{key}` does not match its text: the checkpoint was altered")
            }
        }
    }
}

impl UnverifiedCheckpoint {
    /// Parses a signed note holding a checkpoint, without checking signatures.
    pub fn parse(note: &str) -> Result<UnverifiedCheckpoint, String> {
        let note = Note::from_bytes(note.as_bytes()).map_err(|_| "it is not a signed note".to_owned())?;
        let text = std::str::from_utf8(note.text()).map_err(|_| "it is not UTF-8".to_owned())?;
        let checkpoint = Checkpoint::parse_body(text)?;
        // `Note` does not expose its signatures; read the names from the encoded form.
        let encoded = note.to_bytes();
        let signers = String::from_utf8_lossy(&encoded)
            .lines()
            .filter_map(|line| line.strip_prefix("— "))
            .filter_map(|line| {
                let (name, data) = line.split_once(' ')?;
                let data = BASE64.decode(data).ok()?;
                let id: [u8; 4] = data.get(..4)?.try_into().ok()?;
                Some(format!("{name}+{:08x}", u32::from_be_bytes(id)))
            })
            .collect();
        Ok(UnverifiedCheckpoint { checkpoint, signers, note })
    }

    /// Checks the signatures against `keys`: at least one must be by one of them, and
    /// every signature by one of them must be valid. Signatures by other keys are
    /// ignored, as c2sp.org/signed-note asks. Returns the keys that signed.
    pub fn verify(&self, keys: &[VerifierKey]) -> Result<Vec<VerifierKey>, SignatureProblem> {
        let list =
            VerifierList::new(keys.iter().map(|key| Box::new(key.clone()) as Box<dyn signed_note::Verifier>).collect());
        match self.note.verify(&list) {
            Ok((verified, _)) => Ok(keys
                .iter()
                .filter(|key| verified.iter().any(|sig| sig.name() == key.name() && sig.id() == key.id()))
                .cloned()
                .collect()),
            Err(NoteError::InvalidSignature { name, id }) => {
                Err(SignatureProblem::BadSignature { key: format!("{name}+{id:08x}") })
            }
            // Two trusted keys with the same name and id: treat the note as not verified.
            Err(NoteError::VerificationError(VerificationError::AmbiguousKey { name, id })) => {
                Err(SignatureProblem::BadSignature { key: format!("{name}+{id:08x}") })
            }
            Err(_) => Err(SignatureProblem::UnknownKey { signers: self.signers.clone() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle;

    fn checkpoint() -> Checkpoint {
        Checkpoint { origin: "shipgate/ledger/test".into(), size: 42, root: merkle::leaf_hash(b"root") }
    }

    #[test]
    fn body_follows_tlog_checkpoint() {
        let body = checkpoint().body();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines[0], "shipgate/ledger/test");
        assert_eq!(lines[1], "42");
        assert_eq!(BASE64.decode(lines[2]).unwrap(), merkle::leaf_hash(b"root"));
        assert!(body.ends_with('\n'));
        assert_eq!(Checkpoint::parse_body(&body).unwrap(), checkpoint());

        // An independent reader of the format agrees.
        let theirs = tlog_tiles::Checkpoint::from_bytes(body.as_bytes()).unwrap();
        assert_eq!((theirs.origin(), theirs.size(), theirs.hash().0), ("shipgate/ledger/test", 42, checkpoint().root));
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let root = BASE64.encode([7u8; 32]);
        for body in [
            String::new(),
            "origin\n42\n".into(),
            format!("origin\n42\n{root}"),
            format!("\n42\n{root}\n"),
            format!("origin\n042\n{root}\n"),
            format!("origin\n-1\n{root}\n"),
            format!("origin\n+1\n{root}\n"),
            format!("origin\n1\n{}\n", BASE64.encode([7u8; 31])),
            format!("origin\n1\n{root}\n\nsomething\n"),
        ] {
            assert!(Checkpoint::parse_body(&body).is_err(), "{body:?}");
        }
        assert!(Checkpoint::parse_body(&format!("origin\n0\n{root}\nextension line\n")).is_ok());
    }

    #[test]
    fn signed_checkpoints_verify_with_the_right_key_only() {
        let key = SigningKey::generate("shipgate/ledger/test").unwrap();
        let note = checkpoint().sign(&[&key]).unwrap();
        assert!(note.contains("\n\n— shipgate/ledger/test "), "{note}");

        let parsed = UnverifiedCheckpoint::parse(&note).unwrap();
        assert_eq!(parsed.checkpoint, checkpoint());
        assert_eq!(parsed.signers, [key.verifier().short()]);
        assert_eq!(parsed.verify(&[key.verifier()]).unwrap(), [key.verifier()]);

        // The reference implementation accepts it too.
        let reference = signed_note::StandardVerifier::new(key.verifier().as_str()).unwrap();
        let list = VerifierList::new(vec![Box::new(reference)]);
        assert!(Note::from_bytes(note.as_bytes()).unwrap().verify(&list).is_ok());

        let stranger = SigningKey::generate("shipgate/ledger/test").unwrap();
        assert_eq!(
            parsed.verify(&[stranger.verifier()]),
            Err(SignatureProblem::UnknownKey { signers: vec![key.verifier().short()] })
        );
    }

    #[test]
    fn an_altered_checkpoint_fails_its_signature() {
        let key = SigningKey::generate("shipgate/ledger/test").unwrap();
        let note = checkpoint().sign(&[&key]).unwrap();
        let altered = note.replacen("\n42\n", "\n41\n", 1);
        let parsed = UnverifiedCheckpoint::parse(&altered).unwrap();
        assert_eq!(
            parsed.verify(&[key.verifier()]),
            Err(SignatureProblem::BadSignature { key: key.verifier().short() })
        );
    }

    #[test]
    fn several_signatures_and_foreign_ones() {
        let old = SigningKey::generate("shipgate/ledger/test").unwrap();
        let new = SigningKey::generate("shipgate/ledger/test").unwrap();
        let note = checkpoint().sign(&[&old, &new]).unwrap();
        let parsed = UnverifiedCheckpoint::parse(&note).unwrap();
        assert_eq!(parsed.signers.len(), 2);
        assert_eq!(parsed.verify(&[new.verifier()]).unwrap(), [new.verifier()]);
        assert_eq!(parsed.verify(&[old.verifier(), new.verifier()]).unwrap().len(), 2);
    }

    #[test]
    fn garbage_is_not_a_note() {
        for text in ["", "hello", "origin\n1\nAAAA\n\n— origin AAAA\n", "origin\n1\n\n"] {
            assert!(UnverifiedCheckpoint::parse(text).is_err(), "{text:?}");
        }
    }
}

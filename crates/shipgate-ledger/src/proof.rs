//! Proof documents: what `shipgate audit proof` prints and `shipgate audit verify-proof`
//! checks offline, with nothing but the ledger's public key.
//!
//! An inclusion proof carries the entry, its audit path, and the signed checkpoint the
//! path leads to:
//!
//! ```json
//! {
//!   "type": "inclusion",
//!   "version": 1,
//!   "entry": {"seq": 42, "time": "…", "actor": "…", "action": "…", "subject": "…", "details": {}},
//!   "leaf_index": 41,
//!   "tree_size": 1000,
//!   "hashes": ["base64…", "…"],
//!   "checkpoint": "shipgate/ledger/…\n1000\n…\n\n— shipgate/ledger/… …\n"
//! }
//! ```
//!
//! A consistency proof carries two signed checkpoints and the hashes that show the
//! larger tree extends the smaller one (`old_checkpoint`, `checkpoint`, `hashes`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::LedgerError;
use crate::checkpoint::{Checkpoint, UnverifiedCheckpoint};
use crate::entry::Entry;
use crate::keys::VerifierKey;
use crate::merkle::{self, Hash};

/// The format version of proof documents.
pub const PROOF_VERSION: u32 = 1;

/// A proof document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Proof {
    Inclusion(InclusionProof),
    Consistency(ConsistencyProof),
}

/// Entry `entry.seq` is leaf `leaf_index` of the tree that `checkpoint` signs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    pub version: u32,
    pub entry: Entry,
    pub leaf_index: u64,
    pub tree_size: u64,
    #[serde(with = "base64_hashes")]
    pub hashes: Vec<Hash>,
    pub checkpoint: String,
}

/// The tree `old_checkpoint` signs is a prefix of the tree `checkpoint` signs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    pub version: u32,
    pub old_size: u64,
    pub tree_size: u64,
    #[serde(with = "base64_hashes")]
    pub hashes: Vec<Hash>,
    pub old_checkpoint: String,
    pub checkpoint: String,
}

/// What a proof that holds establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofHolds {
    /// The checkpoint the proof ends at, verified.
    pub checkpoint: Checkpoint,
    /// The keys (among those given) that signed it.
    pub signed_by: Vec<VerifierKey>,
    /// The entry shown to be in the ledger, for an inclusion proof.
    pub entry_seq: Option<u64>,
    /// The size of the checkpoint shown to be extended, for a consistency proof.
    pub old_size: Option<u64>,
}

impl Proof {
    /// Reads a proof document.
    pub fn parse(text: &str) -> Result<Proof, LedgerError> {
        let proof: Proof =
            serde_json::from_str(text).map_err(|error| LedgerError::MalformedProof(error.to_string()))?;
        let version = match &proof {
            Proof::Inclusion(proof) => proof.version,
            Proof::Consistency(proof) => proof.version,
        };
        if version != PROOF_VERSION {
            return Err(LedgerError::MalformedProof(format!(
                "it is version {version}; this shipgate reads version {PROOF_VERSION}"
            )));
        }
        Ok(proof)
    }

    /// The document as pretty JSON, with a final newline.
    pub fn to_json(&self) -> Result<String, LedgerError> {
        let mut text = serde_json::to_string_pretty(self).map_err(LedgerError::Encode)?;
        text.push('\n');
        Ok(text)
    }

    /// Checks the proof using nothing but `keys`: every checkpoint in it must be signed
    /// by one of them, and the hashes must lead from the entry (or the old checkpoint)
    /// to the signed root.
    pub fn verify(&self, keys: &[VerifierKey]) -> Result<ProofHolds, LedgerError> {
        match self {
            Proof::Inclusion(proof) => {
                let (checkpoint, signed_by) = trusted_checkpoint(&proof.checkpoint, keys, "its checkpoint")?;
                if proof.tree_size != checkpoint.size {
                    return Err(rejected(format!(
                        "it claims a tree of {} entries but its checkpoint is for {}",
                        proof.tree_size, checkpoint.size
                    )));
                }
                if proof.entry.seq != proof.leaf_index + 1 {
                    return Err(rejected(format!(
                        "entry {} cannot be leaf {} (entry N is leaf N-1)",
                        proof.entry.seq, proof.leaf_index
                    )));
                }
                let leaf = proof.entry.leaf_hash()?;
                merkle::verify_inclusion(&leaf, proof.leaf_index, checkpoint.size, &proof.hashes, &checkpoint.root)
                    .map_err(|error| {
                        rejected(format!("entry {} is not in the signed tree: {error}", proof.entry.seq))
                    })?;
                Ok(ProofHolds { checkpoint, signed_by, entry_seq: Some(proof.entry.seq), old_size: None })
            }
            Proof::Consistency(proof) => {
                let (old, _) = trusted_checkpoint(&proof.old_checkpoint, keys, "its old checkpoint")?;
                let (checkpoint, signed_by) = trusted_checkpoint(&proof.checkpoint, keys, "its checkpoint")?;
                if old.origin != checkpoint.origin {
                    return Err(rejected(format!(
                        "its checkpoints are of different ledgers (`{}` and `{}`)",
                        old.origin, checkpoint.origin
                    )));
                }
                if (proof.old_size, proof.tree_size) != (old.size, checkpoint.size) {
                    return Err(rejected("its sizes do not match its checkpoints".to_owned()));
                }
                merkle::verify_consistency(old.size, checkpoint.size, &old.root, &checkpoint.root, &proof.hashes)
                    .map_err(|error| {
                        rejected(format!(
                            "the ledger of {} entries does not extend the one of {}: {error}",
                            checkpoint.size, old.size
                        ))
                    })?;
                Ok(ProofHolds { checkpoint, signed_by, entry_seq: None, old_size: Some(old.size) })
            }
        }
    }
}

fn rejected(reason: String) -> LedgerError {
    LedgerError::ProofRejected(reason)
}

fn trusted_checkpoint(
    note: &str,
    keys: &[VerifierKey],
    what: &str,
) -> Result<(Checkpoint, Vec<VerifierKey>), LedgerError> {
    let parsed = UnverifiedCheckpoint::parse(note)
        .map_err(|reason| LedgerError::MalformedProof(format!("{what} is not a signed checkpoint: {reason}")))?;
    let signed_by = parsed.verify(keys).map_err(|problem| rejected(format!("{what} is not trustworthy: {problem}")))?;
    Ok((parsed.checkpoint, signed_by))
}

/// Hashes as base64 strings, like the root in a checkpoint.
mod base64_hashes {
    use super::*;

    pub fn serialize<S: serde::Serializer>(hashes: &[Hash], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(hashes.iter().map(|hash| BASE64.encode(hash)))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Hash>, D::Error> {
        let texts: Vec<String> = Vec::deserialize(deserializer)?;
        texts
            .iter()
            .map(|text| {
                BASE64
                    .decode(text)
                    .ok()
                    .and_then(|bytes| Hash::try_from(bytes).ok())
                    .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a base64 SHA-256 hash")))
            })
            .collect()
    }
}

//! The tamper-evident audit ledger.
//!
//! Every action shipgate takes is an [`Entry`] `{seq, time, actor, action, subject,
//! env?, details}`, stored as its RFC 8785 canonical JSON and hashed as a leaf of an
//! RFC 6962 Merkle tree. Signed checkpoints (c2sp.org/tlog-checkpoint in a
//! c2sp.org/signed-note, Ed25519) fix the tree's root at a size: written every
//! [`LedgerConfig::checkpoint_every`] entries, at the end of every deployment
//! ([`Ledger::checkpoint_in`]) and on demand. With a checkpoint kept elsewhere, anyone
//! can later prove that nothing recorded up to it was changed, removed or reordered.
//!
//! - [`merkle`], [`entry`], [`checkpoint`], [`keys`], [`proof`], [`verify`] and
//!   [`redact`] are the pure parts: encoding, hashing, proofs, signatures, the
//!   verification walk. They do no I/O (except reading and writing the key file in
//!   [`keys`]).
//! - [`Ledger`] is the glue: it appends entries inside the caller's store transaction
//!   (so a state change and the entry that records it commit together), signs
//!   checkpoints with the key in the data directory, rotates that key, and makes proofs.
//! - [`verify_store`], [`query`] and [`export`] read a store and need no key.

#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod entry;
pub mod keys;
mod ledger;
pub mod merkle;
pub mod proof;
pub mod redact;
pub mod verify;

use std::path::PathBuf;

use base64::Engine;

pub use checkpoint::Checkpoint;
pub use entry::{Entry, NewEntry};
pub use keys::{KEY_FILE_NAME, SigningKey, VerifierKey};
pub use ledger::{
    Appended, Clock, DEFAULT_CHECKPOINT_EVERY, Ledger, LedgerConfig, SignedCheckpoint, Verdict, export, export_line,
    query, verify_store,
};
pub use merkle::Hash;
pub use proof::Proof;
pub use redact::Redactor;
pub use verify::{Anchor, Problem, ProblemCode, Verified};

/// The actions the ledger records about itself.
pub mod actions {
    /// The first entry: `details` = `{origin, key}`.
    pub const INIT: &str = "ledger.init";
    /// The signing key was replaced: `details` = `{previous_key, key, previous_key_available, reason?}`.
    pub const KEY_ROTATED: &str = "ledger.key-rotated";
}

/// A hash as the checkpoints write it.
pub fn base64_hash(hash: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(hash)
}

/// Everything that can go wrong in the ledger. (A ledger that fails verification is not
/// an error: [`verify_store`] returns a [`Verdict`] saying what it found.)
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the ledger's database failed")]
    Store(#[from] shipgate_store::StoreError),

    #[error("cannot record the entry: its `{field}` is invalid: {reason}")]
    InvalidEntry { field: &'static str, reason: &'static str },

    #[error("cannot record the entry: it is {size} bytes as canonical JSON, more than the {max} allowed")]
    EntryTooLarge { size: usize, max: usize },

    #[error("cannot record the entry: a registered secret would still appear in it after redaction")]
    SecretInEntry,

    #[error("a secret must be at least {min} bytes long to be redacted")]
    SecretTooShort { min: usize },

    #[error("cannot prepare redaction: {0}")]
    Redactor(String),

    #[error("cannot encode as JSON")]
    Encode(#[source] serde_json::Error),

    #[error("cannot format the time: {0}")]
    Time(String),

    #[error("cannot sign the checkpoint: {0}")]
    Sign(String),

    #[error("cannot generate a key: {0}")]
    Random(String),

    #[error("`{origin}` cannot name a ledger: a name must be non-empty, without spaces or `+`")]
    BadOrigin { origin: String },

    #[error("`{key}` is not a ledger public key: {reason}")]
    BadPublicKey { key: String, reason: &'static str },

    #[error("cannot use the ledger key file `{path}`")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the ledger key file `{path}` is readable by others (mode {mode:03o})")]
    KeyPermissions { path: PathBuf, mode: u32 },

    #[error("the ledger key file `{path}` is malformed: {reason}")]
    KeyMalformed { path: PathBuf, reason: String },

    #[error("the ledger key file `{path}` is missing, but the ledger has entries and its key is `{key}`")]
    KeyMissing { path: PathBuf, key: String },

    #[error("the ledger key file `{path}` holds the key `{found}`, but this ledger's key is `{expected}`")]
    KeyMismatch { path: PathBuf, found: String, expected: String },

    #[error("the key cannot be rotated: {0}")]
    Rotation(String),

    /// The stored ledger is not what shipgate wrote; `verify_store` finds out what changed.
    #[error("the ledger's stored state is inconsistent: {0}")]
    Corrupt(String),

    #[error("there is no entry {seq}: the ledger has {size}")]
    NoSuchEntry { seq: u64, size: u64 },

    #[error("leaf {index} is not in a tree of {size} leaves")]
    LeafOutOfRange { index: u64, size: u64 },

    #[error("a tree of {old} entries cannot be a prefix of one of {new}")]
    SizesOutOfOrder { old: u64, new: u64 },

    #[error("the proof has the wrong number of hashes")]
    ProofLength,

    #[error("the proof does not lead to the signed root")]
    ProofRoot,

    #[error("not a shipgate ledger proof: {0}")]
    MalformedProof(String),

    #[error("the proof does not hold: {0}")]
    ProofRejected(String),

    #[error("`{label}` is not a usable checkpoint: {reason}")]
    BadCheckpoint { label: String, reason: String },

    #[error("the ledger does not extend the checkpoint: {0}")]
    DoesNotExtend(String),
}

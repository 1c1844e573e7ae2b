//! Verification of a whole ledger, one stored entry at a time. Pure: the glue in
//! [`crate::Ledger`] feeds it rows from a store snapshot.
//!
//! For each entry, in order, [`Walker::push`] checks that
//!
//! 1. its `seq` is the next one (a gap is a deleted entry);
//! 2. its stored text still hashes to its stored leaf hash (an edit made without
//!    recomputing the hash);
//! 3. its text is a ledger entry in canonical form, with a well-formed time;
//! 4. the `seq` inside the hashed text is the row's (entries moved or renumbered);
//! 5. the filter columns agree with the hashed text (an edit that would hide an entry
//!    from `audit log --actor …`);
//! 6. key announcements are well-formed: entry 1 is `ledger.init`, and each
//!    `ledger.key-rotated` names the key it replaces.
//!
//! Then the leaf goes into a Merkle [`Frontier`]. Whenever the walk reaches the size of
//! a checkpoint (stored ones, and those given from elsewhere), the checkpoint's origin,
//! its signature by a key that was the ledger's key at that size (or, for a checkpoint
//! from elsewhere, by a key given with `--pubkey`), and its root against the root of the
//! entries so far are checked. Comparing the root of the first N entries with a signed
//! root of size N is exactly what a consistency proof would establish, without needing
//! one: it catches any change, removal or reordering among those entries, even one
//! whose leaf hashes were recomputed. A checkpoint larger than the ledger means entries
//! were cut off the end.
//!
//! The walk stops at the first problem, which names the entry (or the range of entries
//! between the last matching checkpoint and the failing one) and says why.

use serde::Serialize;
use serde_json::Value;
use shipgate_store::{EntryRow, LedgerHead};

use crate::actions;
use crate::checkpoint::{SignatureProblem, UnverifiedCheckpoint};
use crate::entry::Entry;
use crate::keys::VerifierKey;
use crate::merkle::{self, Frontier, Hash};

/// A checkpoint to check the ledger against.
#[derive(Debug, Clone)]
pub struct Anchor {
    /// How to name it in messages: `stored checkpoint #12`, `checkpoint file a.txt`, ….
    pub label: String,
    pub note: String,
    /// Given from elsewhere (`--checkpoint FILE`): verified with the `--pubkey` keys
    /// when there are any, rather than with the keys the ledger itself announces.
    pub external: bool,
}

/// Stable names for what verification found; the JSON output uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemCode {
    /// An entry is missing from the sequence.
    MissingEntry,
    /// An entry's text no longer matches its recorded leaf hash.
    LeafHashMismatch,
    /// An entry's text is not a canonical ledger entry.
    MalformedEntry,
    /// An entry holds another entry's content.
    OutOfPlace,
    /// A filter column disagrees with the hashed entry.
    ColumnMismatch,
    /// The ledger's own key announcements are wrong.
    BadKeyEntry,
    /// A checkpoint is not a well-formed signed checkpoint.
    MalformedCheckpoint,
    /// A checkpoint is for another ledger.
    OriginMismatch,
    /// A checkpoint is not signed by a trusted key.
    UnknownKey,
    /// A checkpoint is signed by a key that was no longer (or not yet) the ledger's.
    RetiredKey,
    /// A checkpoint's signature does not match its text.
    BadSignature,
    /// The entries do not hash to a checkpoint's root.
    RootMismatch,
    /// A checkpoint covers more entries than the ledger has.
    Truncated,
    /// The stored head (size and Merkle state) disagrees with the entries.
    HeadMismatch,
    /// None of the ledger's keys is one given with `--pubkey`.
    UntrustedLedger,
}

/// The first thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub code: ProblemCode,
    /// The first entry known to be wrong, when it is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The entries among which something was changed, when only that is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<EntryRange>,
    /// The checkpoint involved, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EntryRange {
    pub first: u64,
    pub last: u64,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A ledger that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub size: u64,
    pub root: Hash,
    pub origin: Option<String>,
    /// Stored checkpoints checked.
    pub stored_checkpoints: usize,
    /// Checkpoints from elsewhere checked.
    pub external_checkpoints: usize,
    /// The largest size covered by a verified checkpoint: entries after it are not yet
    /// protected by a signature.
    pub signed_size: u64,
    /// Every key the ledger has announced, oldest first.
    pub keys: Vec<VerifierKey>,
}

/// The ledger's keys over time: `key` signed checkpoints of sizes `from..=until`.
#[derive(Debug, Clone)]
struct KeyPeriod {
    key: VerifierKey,
    from: u64,
    until: Option<u64>,
}

struct PendingAnchor {
    anchor: Anchor,
    checkpoint: UnverifiedCheckpoint,
}

/// Checks a ledger entry by entry; see the module documentation.
pub struct Walker {
    frontier: Frontier,
    origin: Option<String>,
    keys: Vec<KeyPeriod>,
    trusted: Vec<VerifierKey>,
    /// Sorted by tree size; `next` is the first not yet checked.
    anchors: Vec<PendingAnchor>,
    next: usize,
    /// The size of the last checkpoint whose root matched.
    last_good: u64,
    stored_checked: usize,
    external_checked: usize,
}

impl Walker {
    /// `trusted` are the `--pubkey` keys, possibly none.
    pub fn new(anchors: Vec<Anchor>, trusted: Vec<VerifierKey>) -> Result<Walker, Problem> {
        let mut pending = Vec::with_capacity(anchors.len());
        for anchor in anchors {
            let checkpoint = UnverifiedCheckpoint::parse(&anchor.note).map_err(|reason| Problem {
                code: ProblemCode::MalformedCheckpoint,
                seq: None,
                entries: None,
                checkpoint: Some(anchor.label.clone()),
                message: format!("{} is not a valid signed checkpoint: {reason}", anchor.label),
            })?;
            pending.push(PendingAnchor { anchor, checkpoint });
        }
        pending.sort_by_key(|pending| pending.checkpoint.checkpoint.size);
        Ok(Walker {
            frontier: Frontier::new(),
            origin: None,
            keys: Vec::new(),
            trusted,
            anchors: pending,
            next: 0,
            last_good: 0,
            stored_checked: 0,
            external_checked: 0,
        })
    }

    /// Checks the next stored entry.
    pub fn push(&mut self, row: &EntryRow) -> Result<(), Problem> {
        self.check_due_anchors()?;
        let seq = self.frontier.size() + 1;
        let problem =
            |code, message: String| Problem { code, seq: Some(seq), entries: None, checkpoint: None, message };
        if row.seq != seq {
            return Err(problem(
                ProblemCode::MissingEntry,
                format!("entry {seq} is missing: the next stored entry is {}", row.seq),
            ));
        }
        let leaf = merkle::leaf_hash(row.body.as_bytes());
        if row.leaf_hash != leaf {
            return Err(problem(
                ProblemCode::LeafHashMismatch,
                format!("entry {seq} was changed after it was recorded: its text no longer matches its leaf hash"),
            ));
        }
        let entry = Entry::from_canonical(&row.body)
            .map_err(|defect| problem(ProblemCode::MalformedEntry, format!("entry {seq} is malformed: {defect}")))?;
        if entry.seq != seq {
            return Err(problem(
                ProblemCode::OutOfPlace,
                format!(
                    "entry {seq} holds the content of entry {}: entries were moved, swapped or renumbered",
                    entry.seq
                ),
            ));
        }
        let columns: [(&str, Option<&str>, Option<&str>); 5] = [
            ("time", Some(&row.time), Some(&entry.time)),
            ("actor", Some(&row.actor), Some(&entry.actor)),
            ("action", Some(&row.action), Some(&entry.action)),
            ("subject", Some(&row.subject), Some(&entry.subject)),
            ("env", row.env.as_deref(), entry.env.as_deref()),
        ];
        for (column, stored, hashed) in columns {
            if stored != hashed {
                return Err(problem(
                    ProblemCode::ColumnMismatch,
                    format!(
                        "entry {seq}: its `{column}` column says {} but the hashed entry says {}",
                        show(stored),
                        show(hashed)
                    ),
                ));
            }
        }
        self.track_keys(&entry)
            .map_err(|reason| problem(ProblemCode::BadKeyEntry, format!("entry {seq}: {reason}")))?;
        self.frontier.push(leaf);
        Ok(())
    }

    /// Checks what remains once every entry has been pushed.
    pub fn finish(mut self, head: &LedgerHead) -> Result<Verified, Problem> {
        self.check_due_anchors()?;
        let size = self.frontier.size();
        let root = self.frontier.root();
        let problem = |code, message: String| Problem { code, seq: None, entries: None, checkpoint: None, message };

        // Checkpoints beyond the end: entries were cut off (if the checkpoint is genuine).
        if let Some(pending) = self.anchors.get(self.next) {
            let label = pending.anchor.label.clone();
            let keys: Vec<VerifierKey> = if pending.anchor.external && !self.trusted.is_empty() {
                self.trusted.clone()
            } else {
                self.keys.iter().map(|period| period.key.clone()).collect()
            };
            self.check_origin(pending)?;
            signature(&pending.checkpoint, &keys, &label)?;
            let covered = pending.checkpoint.checkpoint.size;
            return Err(Problem {
                code: ProblemCode::Truncated,
                seq: Some(size + 1),
                entries: Some(EntryRange { first: size + 1, last: covered }),
                checkpoint: Some(label.clone()),
                message: format!(
                    "{label} covers {covered} entries but the ledger has only {size}: entries {}..={covered} were removed",
                    size + 1
                ),
            });
        }

        if head.size != size {
            let message = if head.size > size {
                format!(
                    "the ledger's head records {} entries but only {size} are stored: entries were removed",
                    head.size
                )
            } else {
                format!("{size} entries are stored but the ledger's head records only {}", head.size)
            };
            return Err(problem(ProblemCode::HeadMismatch, message));
        }
        let head_root = Frontier::from_bytes(&head.state).filter(|frontier| frontier.size() == size).map(|f| f.root());
        if head_root != Some(root) {
            return Err(problem(
                ProblemCode::HeadMismatch,
                "the ledger's head holds a Merkle state that does not match its entries".to_owned(),
            ));
        }

        if !self.trusted.is_empty() && !self.keys.iter().any(|period| self.trusted.contains(&period.key)) {
            let announced: Vec<String> = self.keys.iter().map(|period| period.key.short()).collect();
            return Err(problem(
                ProblemCode::UntrustedLedger,
                format!(
                    "none of this ledger's keys ({}) is a key given with `--pubkey`: this is not the ledger you trust",
                    if announced.is_empty() { "none".to_owned() } else { announced.join(", ") }
                ),
            ));
        }

        Ok(Verified {
            size,
            root,
            origin: self.origin,
            stored_checkpoints: self.stored_checked,
            external_checkpoints: self.external_checked,
            signed_size: self.last_good,
            keys: self.keys.into_iter().map(|period| period.key).collect(),
        })
    }

    /// Checks every checkpoint whose size the walk has reached.
    fn check_due_anchors(&mut self) -> Result<(), Problem> {
        let size = self.frontier.size();
        while let Some(pending) = self.anchors.get(self.next) {
            if pending.checkpoint.checkpoint.size != size {
                break;
            }
            self.check_anchor(pending)?;
            if pending.anchor.external {
                self.external_checked += 1;
            } else {
                self.stored_checked += 1;
            }
            self.last_good = size;
            self.next += 1;
        }
        Ok(())
    }

    fn check_anchor(&self, pending: &PendingAnchor) -> Result<(), Problem> {
        let label = &pending.anchor.label;
        let size = self.frontier.size();
        self.check_origin(pending)?;
        if pending.anchor.external && !self.trusted.is_empty() {
            signature(&pending.checkpoint, &self.trusted, label)?;
        } else {
            let current: Vec<VerifierKey> = self
                .keys
                .iter()
                .filter(|period| period.from <= size && period.until.is_none_or(|until| size <= until))
                .map(|period| period.key.clone())
                .collect();
            if let Err(problem) = signature(&pending.checkpoint, &current, label) {
                // Signed by one of the ledger's keys, but one not in force at that size?
                let all: Vec<VerifierKey> = self.keys.iter().map(|period| period.key.clone()).collect();
                if problem.code == ProblemCode::UnknownKey && pending.checkpoint.verify(&all).is_ok() {
                    return Err(Problem {
                        code: ProblemCode::RetiredKey,
                        message: format!(
                            "{label} (size {size}) is signed by a key of this ledger that was not its key at that size"
                        ),
                        ..problem
                    });
                }
                return Err(problem);
            }
        }
        let root = self.frontier.root();
        if pending.checkpoint.checkpoint.root != root {
            let first = self.last_good + 1;
            let entries = (size > 0).then_some(EntryRange { first: first.min(size), last: size });
            let which = match entries {
                Some(range) if range.first == range.last => format!("entry {}", range.last),
                Some(range) => format!("one of entries {}..={}", range.first, range.last),
                None => "the empty ledger".to_owned(),
            };
            return Err(Problem {
                code: ProblemCode::RootMismatch,
                seq: None,
                entries,
                checkpoint: Some(label.clone()),
                message: format!(
                    "the first {size} entries hash to root {} but {label} signed root {}: {which} was changed, \
                     removed or reordered",
                    crate::base64_hash(&root),
                    crate::base64_hash(&pending.checkpoint.checkpoint.root),
                ),
            });
        }
        Ok(())
    }

    fn check_origin(&self, pending: &PendingAnchor) -> Result<(), Problem> {
        let origin = &pending.checkpoint.checkpoint.origin;
        match &self.origin {
            Some(ours) if ours != origin => Err(Problem {
                code: ProblemCode::OriginMismatch,
                seq: None,
                entries: None,
                checkpoint: Some(pending.anchor.label.clone()),
                message: format!("{} is for the ledger `{origin}`, but this ledger is `{ours}`", pending.anchor.label),
            }),
            _ => Ok(()),
        }
    }

    /// Follows `ledger.init` and `ledger.key-rotated`.
    fn track_keys(&mut self, entry: &Entry) -> Result<(), String> {
        let key_field = |field: &str| -> Result<VerifierKey, String> {
            let text = entry.details.get(field).and_then(Value::as_str).ok_or(format!("it has no `{field}`"))?;
            VerifierKey::parse(text).map_err(|error| error.to_string())
        };
        match (entry.seq, entry.action.as_str()) {
            (1, actions::INIT) => {
                let origin = entry.details.get("origin").and_then(Value::as_str).ok_or("it has no `origin`")?;
                let key = key_field("key")?;
                if key.name() != origin {
                    return Err(format!("its key is named `{}`, not after the origin `{origin}`", key.name()));
                }
                self.origin = Some(origin.to_owned());
                self.keys.push(KeyPeriod { key, from: 1, until: None });
            }
            (1, action) => return Err(format!("the first entry must be `{}`, not `{action}`", actions::INIT)),
            (_, actions::INIT) => return Err(format!("only the first entry may be `{}`", actions::INIT)),
            (seq, actions::KEY_ROTATED) => {
                let previous = key_field("previous_key")?;
                let key = key_field("key")?;
                let Some(current) = self.keys.last_mut() else { return Err("no key to rotate".into()) };
                if current.key != previous {
                    return Err(format!(
                        "it rotates away from `{}`, but the ledger's key was `{}`",
                        previous.short(),
                        current.key.short()
                    ));
                }
                current.until = Some(seq);
                self.keys.push(KeyPeriod { key, from: seq, until: None });
            }
            _ => {}
        }
        Ok(())
    }
}

/// Checks a checkpoint's signature against `keys`, as a [`Problem`].
fn signature(checkpoint: &UnverifiedCheckpoint, keys: &[VerifierKey], label: &str) -> Result<(), Problem> {
    match checkpoint.verify(keys) {
        Ok(_) => Ok(()),
        Err(problem) => Err(Problem {
            code: match problem {
                SignatureProblem::UnknownKey { .. } => ProblemCode::UnknownKey,
                SignatureProblem::BadSignature { .. } => ProblemCode::BadSignature,
            },
            seq: None,
            entries: None,
            checkpoint: Some(label.to_owned()),
            message: format!("{label} (size {}) is not trustworthy: {problem}", checkpoint.checkpoint.size),
        }),
    }
}

fn show(value: Option<&str>) -> String {
    match value {
        Some(value) => format!("`{}`", value.escape_debug()),
        None => "nothing".to_owned(),
    }
}

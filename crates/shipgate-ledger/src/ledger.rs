//! The ledger over a store: appending inside the caller's transaction, checkpoints,
//! key handling, proofs, and the read-only verification, query and export.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use serde_json::{Value, json};
use shipgate_store::{EntryQuery, EntryRow, LedgerHead, Reader, Store, TextMatch, Transaction};

use crate::checkpoint::{Checkpoint, UnverifiedCheckpoint};
use crate::entry::{Entry, MAX_ENTRY_BYTES, NewEntry, format_time};
use crate::keys::{self, NEXT_KEY_FILE_NAME, SigningKey, VerifierKey};
use crate::merkle::{self, Frontier, Hash};
use crate::proof::{ConsistencyProof, InclusionProof, PROOF_VERSION};
use crate::redact::Redactor;
use crate::verify::{Anchor, Problem, Verified, Walker};
use crate::{LedgerError, actions, base64_hash};

/// Checkpoints are written every this many entries unless configured otherwise.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

/// How a [`Ledger`] behaves.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// Sign and store a checkpoint whenever the size reaches a multiple of this; 0 never.
    pub checkpoint_every: u64,
    /// Where entry and checkpoint times come from.
    pub clock: Clock,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig { checkpoint_every: DEFAULT_CHECKPOINT_EVERY, clock: Clock::system() }
    }
}

/// Where times come from: the system clock, except in tests and benchmarks that need
/// reproducible entries.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>);

impl Clock {
    pub fn system() -> Clock {
        Clock(Arc::new(jiff::Timestamp::now))
    }

    pub fn new(now: impl Fn() -> jiff::Timestamp + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    pub fn now(&self) -> jiff::Timestamp {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// The audit ledger of one store, with the signing key from the data directory.
pub struct Ledger {
    store: Arc<dyn Store>,
    key_path: PathBuf,
    origin: String,
    /// The signing keys this process holds. Which one signs a checkpoint is decided by
    /// the ledger itself (see [`Ledger::signing_key`]).
    keys: RwLock<HeldKeys>,
    config: LedgerConfig,
    redactor: Redactor,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("origin", &self.origin)
            .field("key_path", &self.key_path)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The newest key, and others held while a rotation is in flight.
struct HeldKeys {
    newest: Arc<SigningKey>,
    others: Vec<Arc<SigningKey>>,
}

/// An entry just appended (committed when the caller's transaction commits).
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    pub entry: Entry,
    pub leaf_hash: Hash,
}

/// A checkpoint signed and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub id: i64,
    pub checkpoint: Checkpoint,
    /// The signed note, as stored and as printed for safekeeping.
    pub note: String,
}

impl Ledger {
    /// Opens the ledger in `store` with the signing key at `key_path`.
    ///
    /// On first use (an empty ledger) this creates the key file (mode 0600) unless it
    /// exists, names the ledger (its origin, `shipgate/ledger/<random>`, which is also the
    /// key's name) and appends entry 1, `ledger.init`, announcing origin and public key.
    /// Afterwards the key file must hold the ledger's current key: a missing or foreign
    /// key is an error, never silently replaced.
    pub fn open(
        store: Arc<dyn Store>,
        key_path: impl Into<PathBuf>,
        config: LedgerConfig,
    ) -> Result<Ledger, LedgerError> {
        let key_path = key_path.into();
        let announced = store.read(announced_key)?;
        if let Some((_, expected)) = &announced {
            finish_interrupted_rotation(&key_path, expected)?;
        }
        let key = match (&announced, keys::read_key_file(&key_path)?) {
            (Some(_), Some(key)) => key,
            (Some((_, expected)), None) => {
                return Err(LedgerError::KeyMissing { path: key_path, key: expected.to_string() });
            }
            (None, Some(key)) => key,
            (None, None) => create_key(&key_path)?,
        };
        let ledger = Ledger::assemble(store, key_path, key.name().to_owned(), key, config);
        if announced.is_none() {
            ledger.initialise()?;
        }
        let Some((origin, expected)) = ledger.store.read(announced_key)? else {
            return Err(LedgerError::Corrupt("the ledger has no `ledger.init` entry after initialisation".into()));
        };
        let found = ledger.current_key().verifier();
        if found != expected {
            return Err(LedgerError::KeyMismatch {
                path: ledger.key_path,
                found: found.to_string(),
                expected: expected.to_string(),
            });
        }
        Ok(Ledger { origin, ..ledger })
    }

    fn assemble(
        store: Arc<dyn Store>,
        key_path: PathBuf,
        origin: String,
        key: SigningKey,
        config: LedgerConfig,
    ) -> Ledger {
        Ledger {
            store,
            key_path,
            origin,
            keys: RwLock::new(HeldKeys { newest: Arc::new(key), others: Vec::new() }),
            config,
            redactor: Redactor::new(),
        }
    }

    fn initialise(&self) -> Result<(), LedgerError> {
        let key = self.current_key();
        let entry = NewEntry::new("shipgate", actions::INIT, &self.origin)
            .details(json!({"origin": self.origin, "key": key.verifier().to_string()}));
        self.store.transact(|tx| {
            // Another process may have initialised the ledger since we looked.
            if tx.lock_ledger_head()?.size == 0 {
                self.append(tx, entry)?;
            }
            Ok(())
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The ledger's name: the first line of its checkpoints.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The public key that verifies new checkpoints (what `shipgate audit pubkey` prints).
    pub fn public_key(&self) -> VerifierKey {
        self.current_key().verifier()
    }

    /// The secrets that never reach an entry; register values with it.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The newest key this process holds.
    fn current_key(&self) -> Arc<SigningKey> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner).newest)
    }

    /// The key that must sign a checkpoint made in `tx`: the one the ledger, as `tx` sees
    /// it, last announced. Deciding from the ledger (not from which key this process
    /// loaded) keeps a checkpoint from being signed by a key a concurrent rotation just
    /// retired. A key rotated by another process is picked up from the key file.
    fn signing_key(&self, tx: &mut dyn Transaction) -> Result<Arc<SigningKey>, LedgerError> {
        let Some((_, announced)) = announced_key(tx)? else {
            return Err(LedgerError::Corrupt("the ledger has no `ledger.init` entry".into()));
        };
        let known = {
            let held = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            std::iter::once(&held.newest).chain(&held.others).find(|key| key.verifier() == announced).cloned()
        };
        if let Some(key) = known {
            return Ok(key);
        }
        for path in [self.key_path.clone(), self.key_path.with_file_name(NEXT_KEY_FILE_NAME)] {
            if let Ok(Some(key)) = keys::read_key_file(&path)
                && key.verifier() == announced
            {
                // Another process rotated the key: it is the newest now.
                let key = Arc::new(key);
                let mut held = self.keys.write().unwrap_or_else(PoisonError::into_inner);
                let previous = std::mem::replace(&mut held.newest, Arc::clone(&key));
                held.others.push(previous);
                return Ok(key);
            }
        }
        Err(LedgerError::KeyMismatch {
            path: self.key_path.clone(),
            found: self.current_key().verifier().to_string(),
            expected: announced.to_string(),
        })
    }

    /// Appends `entry` inside the caller's transaction, after redaction: it is committed
    /// with the caller's other writes, or not at all.
    ///
    /// ```no_run
    /// # fn demo(ledger: &shipgate_ledger::Ledger) -> Result<(), shipgate_ledger::LedgerError> {
    /// use shipgate_ledger::NewEntry;
    /// ledger.store().transact(|tx| {
    ///     // …record the state change with `tx`…
    ///     ledger.append(tx, NewEntry::new("alice", "deploy.started", "hello").env("production"))?;
    ///     Ok(())
    /// })
    /// # }
    /// ```
    ///
    /// The append locks the ledger head until the transaction ends (on PostgreSQL this
    /// blocks other appenders), so make it the transaction's last write. When the new
    /// size is a multiple of `checkpoint_every`, a checkpoint is signed and stored too.
    pub fn append(&self, tx: &mut dyn Transaction, entry: NewEntry) -> Result<Appended, LedgerError> {
        let entry = self.redactor.redact(entry);
        entry.validate()?;
        if !self.redactor.is_empty() {
            let visible = json!({
                "actor": entry.actor, "action": entry.action, "subject": entry.subject,
                "env": entry.env, "details": entry.details,
            });
            let visible = serde_json_canonicalizer::to_string(&visible).map_err(LedgerError::Encode)?;
            if self.redactor.leaks(&visible) {
                return Err(LedgerError::SecretInEntry);
            }
        }
        let time = format_time(self.config.clock.now())?;

        let head = tx.lock_ledger_head()?;
        let mut frontier = frontier_of(&head)?;
        let entry = Entry {
            seq: head.size + 1,
            time,
            actor: entry.actor,
            action: entry.action,
            subject: entry.subject,
            env: entry.env,
            details: entry.details,
        };
        let body = entry.canonical_json()?;
        if body.len() > MAX_ENTRY_BYTES {
            return Err(LedgerError::EntryTooLarge { size: body.len(), max: MAX_ENTRY_BYTES });
        }
        let leaf_hash = merkle::leaf_hash(body.as_bytes());
        tx.insert_ledger_entry(&EntryRow {
            seq: entry.seq,
            time: entry.time.clone(),
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            subject: entry.subject.clone(),
            env: entry.env.clone(),
            body,
            leaf_hash: leaf_hash.to_vec(),
        })?;
        frontier.push(leaf_hash);
        tx.set_ledger_head(&LedgerHead { size: entry.seq, state: frontier.to_bytes() })?;
        let every = self.config.checkpoint_every;
        if every > 0 && entry.seq.is_multiple_of(every) {
            let key = self.signing_key(tx)?;
            self.store_checkpoint(tx, entry.seq, frontier.root(), &[&key])?;
        }
        Ok(Appended { entry, leaf_hash })
    }

    /// Appends `entry` in a transaction of its own.
    pub fn record(&self, entry: NewEntry) -> Result<Appended, LedgerError> {
        self.store.transact(|tx| self.append(tx, entry))
    }

    /// Signs and stores a checkpoint of the ledger as `tx` sees it. The engine calls this
    /// in the transaction that finishes a deployment, after its last append.
    pub fn checkpoint_in(&self, tx: &mut dyn Transaction) -> Result<SignedCheckpoint, LedgerError> {
        let head = tx.lock_ledger_head()?;
        let root = frontier_of(&head)?.root();
        let key = self.signing_key(tx)?;
        self.store_checkpoint(tx, head.size, root, &[&key])
    }

    /// Signs and stores a checkpoint of the ledger as it is now (`shipgate audit
    /// checkpoint`).
    pub fn checkpoint(&self) -> Result<SignedCheckpoint, LedgerError> {
        self.store.transact(|tx| self.checkpoint_in(tx))
    }

    fn store_checkpoint(
        &self,
        tx: &mut dyn Transaction,
        size: u64,
        root: Hash,
        keys: &[&SigningKey],
    ) -> Result<SignedCheckpoint, LedgerError> {
        let checkpoint = Checkpoint { origin: self.origin.clone(), size, root };
        let note = checkpoint.sign(keys)?;
        let id = tx.insert_ledger_checkpoint(size, &note, &format_time(self.config.clock.now())?)?;
        Ok(SignedCheckpoint { id, checkpoint, note })
    }

    /// Replaces the signing key. The rotation is an entry, `ledger.key-rotated`, naming
    /// both keys; the checkpoint at that entry is signed by the old key and the new one,
    /// so a verifier who trusts the old key learns the new one from the ledger itself.
    /// The new key is written to `ledger.key.next` first and moved over the key file only
    /// once the entry is committed; [`Ledger::open`] finishes a rotation a crash cut short.
    pub fn rotate_key(&self, actor: &str, reason: Option<&str>) -> Result<VerifierKey, LedgerError> {
        let new = Arc::new(SigningKey::generate(&self.origin)?);
        let next_path = self.write_next_key(&new)?;
        // Both keys are held while the rotation is in flight: whichever the ledger
        // announces when a checkpoint is made signs it.
        self.keys.write().unwrap_or_else(PoisonError::into_inner).others.push(Arc::clone(&new));
        let committed = self.store.transact(|tx| {
            let Some((_, announced)) = announced_key(tx)? else {
                return Err(LedgerError::Corrupt("the ledger has no `ledger.init` entry".into()));
            };
            let old = self.signing_key(tx)?;
            let details = rotation_details(&announced, &new, true, reason);
            let appended =
                self.append(tx, NewEntry::new(actor, actions::KEY_ROTATED, &self.origin).details(details))?;
            let root = frontier_of(&tx.lock_ledger_head()?)?.root();
            self.store_checkpoint(tx, appended.entry.seq, root, &[&old, &new])
        });
        let mut held = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        if let Err(error) = committed {
            held.others.retain(|key| !Arc::ptr_eq(key, &new));
            let _ = std::fs::remove_file(&next_path);
            return Err(error);
        }
        // The old key is retired: forget it.
        *held = HeldKeys { newest: Arc::clone(&new), others: Vec::new() };
        drop(held);
        keys::replace_key_file(&next_path, &self.key_path)?;
        Ok(new.verifier())
    }

    /// Replaces a signing key that was lost (its file deleted or unreadable beyond
    /// repair): the rotation entry records that the old key was not available, and the
    /// checkpoint at it is signed by the new key alone. Checkpoints signed before still
    /// verify with the old public key, which the ledger keeps.
    pub fn rotate_lost_key(
        store: Arc<dyn Store>,
        key_path: impl Into<PathBuf>,
        config: LedgerConfig,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<Ledger, LedgerError> {
        let key_path = key_path.into();
        let Some((origin, announced)) = store.read(announced_key)? else {
            return Err(LedgerError::Rotation("the ledger has no entries yet, so it has no key to replace".into()));
        };
        if keys::read_key_file(&key_path).is_ok_and(|key| key.is_some()) {
            return Err(LedgerError::Rotation(format!(
                "the key file `{}` exists; rotate without declaring the key lost",
                key_path.display()
            )));
        }
        let new = SigningKey::generate(&origin)?;
        let details = rotation_details(&announced, &new, false, reason);
        let ledger = Ledger::assemble(store, key_path, origin, new, config);
        let new = ledger.current_key();
        let next_path = ledger.write_next_key(&new)?;
        let committed = ledger.store.transact(|tx| {
            let entry = NewEntry::new(actor, actions::KEY_ROTATED, &ledger.origin).details(details);
            let appended = ledger.append(tx, entry)?;
            let root = frontier_of(&tx.lock_ledger_head()?)?.root();
            ledger.store_checkpoint(tx, appended.entry.seq, root, &[&new])
        });
        if let Err(error) = committed {
            let _ = std::fs::remove_file(&next_path);
            return Err(error);
        }
        keys::replace_key_file(&next_path, &ledger.key_path)?;
        Ok(ledger)
    }

    fn write_next_key(&self, key: &SigningKey) -> Result<PathBuf, LedgerError> {
        let next_path = self.key_path.with_file_name(NEXT_KEY_FILE_NAME);
        match std::fs::remove_file(&next_path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(LedgerError::KeyFile { path: next_path, source: error });
            }
            _ => {}
        }
        keys::create_key_file(&next_path, key)?;
        Ok(next_path)
    }

    /// A proof that entry `seq` is in the ledger, ending at a signed checkpoint of the
    /// whole ledger (a fresh one when the newest stored checkpoint is behind).
    pub fn inclusion_proof(&self, seq: u64) -> Result<InclusionProof, LedgerError> {
        let checkpoint = self.fresh_checkpoint()?;
        let size = checkpoint.checkpoint.size;
        if seq == 0 || seq > size {
            return Err(LedgerError::NoSuchEntry { seq, size });
        }
        let (leaves, row) = self.store.read(|reader| {
            let leaves = leaf_hashes(reader, size)?;
            let row = reader.ledger_entry(seq)?;
            Ok::<_, LedgerError>((leaves, row))
        })?;
        check_leaves(&leaves, &checkpoint.checkpoint)?;
        let row = row.ok_or(LedgerError::NoSuchEntry { seq, size })?;
        let entry = Entry::from_canonical(&row.body)
            .map_err(|defect| LedgerError::Corrupt(format!("entry {seq} is malformed: {defect}")))?;
        let index = usize::try_from(seq - 1).map_err(|_| LedgerError::NoSuchEntry { seq, size })?;
        if leaves.get(index) != Some(&entry.leaf_hash()?) {
            return Err(LedgerError::Corrupt(format!("entry {seq} does not match its leaf hash")));
        }
        Ok(InclusionProof {
            version: PROOF_VERSION,
            entry,
            leaf_index: seq - 1,
            tree_size: size,
            hashes: merkle::inclusion_proof(&leaves, index)?,
            checkpoint: checkpoint.note,
        })
    }

    /// A proof that the ledger now extends the one `old_note` (a signed checkpoint kept
    /// elsewhere) describes.
    pub fn consistency_proof(&self, old_note: &str, label: &str) -> Result<ConsistencyProof, LedgerError> {
        let old = UnverifiedCheckpoint::parse(old_note)
            .map_err(|reason| LedgerError::BadCheckpoint { label: label.to_owned(), reason })?;
        if old.checkpoint.origin != self.origin {
            return Err(LedgerError::BadCheckpoint {
                label: label.to_owned(),
                reason: format!("it is for the ledger `{}`, not `{}`", old.checkpoint.origin, self.origin),
            });
        }
        let checkpoint = self.fresh_checkpoint()?;
        let (old_size, size) = (old.checkpoint.size, checkpoint.checkpoint.size);
        if old_size > size {
            return Err(LedgerError::DoesNotExtend(format!(
                "{label} covers {old_size} entries but the ledger has only {size}: entries were removed"
            )));
        }
        let leaves = self.store.read(|reader| leaf_hashes(reader, size))?;
        check_leaves(&leaves, &checkpoint.checkpoint)?;
        let old_len =
            usize::try_from(old_size).map_err(|_| LedgerError::SizesOutOfOrder { old: old_size, new: size })?;
        if merkle::root(&leaves[..old_len]) != old.checkpoint.root {
            return Err(LedgerError::DoesNotExtend(format!(
                "the first {old_size} entries no longer hash to the root {label} signed: entries were changed"
            )));
        }
        Ok(ConsistencyProof {
            version: PROOF_VERSION,
            old_size,
            tree_size: size,
            hashes: merkle::consistency_proof(&leaves, old_len)?,
            old_checkpoint: old_note.to_owned(),
            checkpoint: checkpoint.note,
        })
    }

    /// The newest stored checkpoint when it covers the whole ledger; otherwise a new one.
    fn fresh_checkpoint(&self) -> Result<SignedCheckpoint, LedgerError> {
        let (head, newest) = self.store.read(|reader| {
            let head = reader.ledger_head()?;
            let newest = reader.ledger_checkpoints()?.pop();
            Ok::<_, LedgerError>((head, newest))
        })?;
        if let Some(stored) = newest.filter(|stored| stored.tree_size == head.size)
            && let Ok(parsed) = UnverifiedCheckpoint::parse(&stored.note)
            && parsed.verify(&[self.public_key()]).is_ok()
        {
            return Ok(SignedCheckpoint { id: stored.id, checkpoint: parsed.checkpoint, note: stored.note });
        }
        self.checkpoint()
    }
}

fn rotation_details(previous: &VerifierKey, new: &SigningKey, available: bool, reason: Option<&str>) -> Value {
    let mut details = json!({
        "previous_key": previous.to_string(),
        "key": new.verifier().to_string(),
        "previous_key_available": available,
    });
    if let (Some(reason), Some(map)) = (reason, details.as_object_mut()) {
        map.insert("reason".into(), Value::String(reason.to_owned()));
    }
    details
}

/// Creates a new key, named after a new random origin, unless another process created
/// one first.
fn create_key(path: &Path) -> Result<SigningKey, LedgerError> {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(|error| LedgerError::Random(error.to_string()))?;
    let origin = format!("shipgate/ledger/{}", id.iter().map(|byte| format!("{byte:02x}")).collect::<String>());
    let key = SigningKey::generate(&origin)?;
    match keys::create_key_file(path, &key) {
        Ok(()) => Ok(key),
        Err(LedgerError::KeyFile { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            keys::read_key_file(path)?.ok_or_else(|| LedgerError::Corrupt("the key file vanished".into()))
        }
        Err(error) => Err(error),
    }
}

/// A rotation commits its entry, then moves `ledger.key.next` over the key file. If the
/// process died in between, the ledger announces the next key: finish the move.
fn finish_interrupted_rotation(key_path: &Path, announced: &VerifierKey) -> Result<(), LedgerError> {
    let next_path = key_path.with_file_name(NEXT_KEY_FILE_NAME);
    let Ok(Some(next)) = keys::read_key_file(&next_path) else { return Ok(()) };
    if next.verifier() != *announced {
        // A rotation that never committed (or one still running elsewhere): not ours to touch.
        return Ok(());
    }
    if keys::read_key_file(key_path).is_ok_and(|current| current.is_some_and(|key| key.verifier() == *announced)) {
        return Ok(());
    }
    match keys::replace_key_file(&next_path, key_path) {
        // Someone else finished it first.
        Err(LedgerError::KeyFile { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The ledger's origin and current public key, from its own entries: `None` when empty.
fn announced_key(reader: &mut dyn Reader) -> Result<Option<(String, VerifierKey)>, LedgerError> {
    let Some(first) = reader.ledger_entry(1)? else { return Ok(None) };
    let corrupt = |seq: u64, reason: String| LedgerError::Corrupt(format!("entry {seq} cannot be read ({reason})"));
    let first = Entry::from_canonical(&first.body).map_err(|defect| corrupt(1, defect.to_string()))?;
    let text = |entry: &Entry, field: &str| -> Result<String, LedgerError> {
        entry
            .details
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| corrupt(entry.seq, format!("it has no `{field}`")))
    };
    if first.action != actions::INIT {
        return Err(corrupt(1, format!("it is `{}`, not `{}`", first.action, actions::INIT)));
    }
    let origin = text(&first, "origin")?;
    let mut key = text(&first, "key")?;
    let rotations = reader.ledger_query(&EntryQuery {
        action: Some(TextMatch::Exact(actions::KEY_ROTATED.into())),
        limit: Some(1),
        ..EntryQuery::default()
    })?;
    if let Some(row) = rotations.last() {
        let rotation = Entry::from_canonical(&row.body).map_err(|defect| corrupt(row.seq, defect.to_string()))?;
        key = text(&rotation, "key")?;
    }
    let key = VerifierKey::parse(&key).map_err(|error| corrupt(1, error.to_string()))?;
    Ok(Some((origin, key)))
}

fn frontier_of(head: &LedgerHead) -> Result<Frontier, LedgerError> {
    Frontier::from_bytes(&head.state)
        .filter(|frontier| frontier.size() == head.size)
        .ok_or_else(|| LedgerError::Corrupt("the ledger head's Merkle state does not match its size".into()))
}

/// The leaf hashes of entries `1..=size`, checked to be complete and well-formed.
fn leaf_hashes(reader: &mut dyn Reader, size: u64) -> Result<Vec<Hash>, LedgerError> {
    let mut leaves = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut problem = None;
    reader.ledger_leaf_hashes(size, &mut |seq, hash| {
        let expected = leaves.len() as u64 + 1;
        match Hash::try_from(hash) {
            Ok(hash) if seq == expected => {
                leaves.push(hash);
                ControlFlow::Continue(())
            }
            _ => {
                problem = Some(format!("entry {expected} is missing or has a malformed leaf hash"));
                ControlFlow::Break(())
            }
        }
    })?;
    if let Some(problem) = problem.or_else(|| (leaves.len() as u64 != size).then(|| "entries are missing".into())) {
        return Err(LedgerError::Corrupt(problem));
    }
    Ok(leaves)
}

fn check_leaves(leaves: &[Hash], checkpoint: &Checkpoint) -> Result<(), LedgerError> {
    if merkle::root(leaves) == checkpoint.root {
        Ok(())
    } else {
        Err(LedgerError::Corrupt(format!(
            "the stored leaf hashes do not hash to the root of the checkpoint of {} entries",
            checkpoint.size
        )))
    }
}

/// What [`verify_store`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Verified(Verified),
    Failed(Problem),
}

/// Verifies every entry and every stored checkpoint of the ledger in `store`, and the
/// checkpoints in `external` (kept elsewhere), in one consistent snapshot; see
/// [`crate::verify`]. `trusted` are public keys given by the user: when present,
/// `external` checkpoints must be signed by one of them, and one of them must be a key
/// the ledger announced. Needs no private key.
pub fn verify_store(store: &dyn Store, external: &[Anchor], trusted: &[VerifierKey]) -> Result<Verdict, LedgerError> {
    store.read(|reader| {
        let head = reader.ledger_head()?;
        let mut anchors: Vec<Anchor> = reader
            .ledger_checkpoints()?
            .into_iter()
            .map(|stored| Anchor {
                label: format!("stored checkpoint #{} (size {})", stored.id, stored.tree_size),
                note: stored.note,
                external: false,
            })
            .collect();
        anchors.extend(external.iter().cloned());
        let walker = match Walker::new(anchors, trusted.to_vec()) {
            Ok(walker) => walker,
            Err(problem) => return Ok(Verdict::Failed(problem)),
        };
        // Reading rows and checking them overlap: this thread streams rows from the
        // snapshot in chunks, another walks them. The walk stays strictly in order.
        let walked = std::thread::scope(|scope| {
            let (chunks, received) = std::sync::mpsc::sync_channel::<Vec<EntryRow>>(4);
            let checker = scope.spawn(move || {
                let mut walker = walker;
                for chunk in received {
                    for row in &chunk {
                        walker.push(row)?;
                    }
                }
                Ok::<Walker, Problem>(walker)
            });
            let mut chunk = Vec::with_capacity(VERIFY_CHUNK);
            let streamed = reader.ledger_entries(0, &mut |row| {
                chunk.push(row);
                if chunk.len() == VERIFY_CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(VERIFY_CHUNK));
                    // The checker stopped at a problem: no need to read further.
                    if chunks.send(full).is_err() {
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            });
            if !chunk.is_empty() {
                let _ = chunks.send(chunk);
            }
            drop(chunks);
            let walked = checker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            streamed.map(|()| walked)
        })?;
        Ok(match walked.and_then(|walker| walker.finish(&head)) {
            Ok(verified) => Verdict::Verified(verified),
            Err(problem) => Verdict::Failed(problem),
        })
    })
}

/// Rows handed from the reading thread to the checking one at a time.
const VERIFY_CHUNK: usize = 1024;

/// The newest `query.limit` entries that match, oldest first, read from their hashed
/// text (not from the filter columns).
pub fn query(store: &dyn Store, query: &EntryQuery) -> Result<Vec<Entry>, LedgerError> {
    let rows = store.read(|reader| reader.ledger_query(query))?;
    rows.iter()
        .map(|row| {
            Entry::from_canonical(&row.body)
                .map_err(|defect| LedgerError::Corrupt(format!("entry {} is malformed: {defect}", row.seq)))
        })
        .collect()
}

/// Streams every entry after `after`, in order, to `visit`.
pub fn export(
    store: &dyn Store,
    after: u64,
    visit: &mut dyn FnMut(&EntryRow) -> ControlFlow<()>,
) -> Result<(), LedgerError> {
    store.read(|reader| reader.ledger_entries(after, &mut |row| visit(&row)))?;
    Ok(())
}

/// One line of `shipgate audit export --format jsonl`: `{"entry":…,"leaf_hash":"…"}`,
/// the entry exactly as stored (so its canonical text can be hashed again). A stored
/// text that is not JSON at all is exported as a string in `entry_text` instead.
pub fn export_line(row: &EntryRow) -> String {
    let leaf_hash = match Hash::try_from(row.leaf_hash.as_slice()) {
        Ok(hash) => base64_hash(&hash),
        Err(_) => String::new(),
    };
    if serde_json::from_str::<serde::de::IgnoredAny>(&row.body).is_ok() {
        format!("{{\"entry\":{},\"leaf_hash\":\"{leaf_hash}\"}}", row.body)
    } else {
        json!({"seq": row.seq, "entry_text": row.body, "leaf_hash": leaf_hash}).to_string()
    }
}

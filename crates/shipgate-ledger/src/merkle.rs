//! The RFC 6962 Merkle tree (as restated in RFC 9162 §2.1): hashes, inclusion and
//! consistency proofs, and their verification.
//!
//! Written here rather than taken from a crate because the ledger needs a streaming
//! [`Frontier`] (the root after each of a million appends, with a few hashes of state,
//! stored in the same transaction as the entry), which neither `ct-merkle` (keeps every
//! node in memory) nor `tlog_tiles` (needs its own stored-hash layout) offers. The tests
//! check the proofs made here against `tlog_tiles`, an independent port of Go's
//! `sumdb/tlog`.
//!
//! Leaves are numbered from 0 here; ledger entry `seq` is leaf `seq - 1`.

use sha2::{Digest, Sha256};

use crate::LedgerError;

/// A SHA-256 hash: a leaf, an inner node or a root.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A leaf's hash: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// An inner node's hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The largest power of two smaller than `n` (for `n > 1`): where RFC 6962 splits a tree.
fn split(n: usize) -> usize {
    debug_assert!(n > 1);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The Merkle tree hash, MTH(D[n]), of these leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path PATH(index, D[n]) of leaf `index` in the tree over `leaves`.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Result<Vec<Hash>, LedgerError> {
    if index >= leaves.len() {
        return Err(LedgerError::LeafOutOfRange { index: index as u64, size: leaves.len() as u64 });
    }
    let mut proof = Vec::new();
    path(leaves, index, &mut proof);
    Ok(proof)
}

fn path(leaves: &[Hash], index: usize, proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if index < k {
        path(&leaves[..k], index, proof);
        proof.push(root(&leaves[k..]));
    } else {
        path(&leaves[k..], index - k, proof);
        proof.push(root(&leaves[..k]));
    }
}

/// The consistency proof PROOF(old_size, D[n]) that the tree over the first `old_size`
/// leaves is a prefix of the tree over `leaves`. Empty when `old_size` is 0 or equals
/// the new size: there is nothing to prove.
pub fn consistency_proof(leaves: &[Hash], old_size: usize) -> Result<Vec<Hash>, LedgerError> {
    if old_size > leaves.len() {
        return Err(LedgerError::SizesOutOfOrder { old: old_size as u64, new: leaves.len() as u64 });
    }
    let mut proof = Vec::new();
    if old_size > 0 {
        subproof(leaves, old_size, true, &mut proof);
    }
    Ok(proof)
}

fn subproof(leaves: &[Hash], m: usize, complete: bool, proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            proof.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(&leaves[..k], m, complete, proof);
        proof.push(root(&leaves[k..]));
    } else {
        subproof(&leaves[k..], m - k, false, proof);
        proof.push(root(&leaves[..k]));
    }
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves with root `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), LedgerError> {
    if index >= size {
        return Err(LedgerError::LeafOutOfRange { index, size });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(LedgerError::ProofLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(LedgerError::ProofLength);
    }
    if &r != root {
        return Err(LedgerError::ProofRoot);
    }
    Ok(())
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree
/// of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2). Every tree extends the
/// empty tree; a tree extends itself only if the roots are equal.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), LedgerError> {
    if old_size > new_size {
        return Err(LedgerError::SizesOutOfOrder { old: old_size, new: new_size });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(LedgerError::ProofLength);
        }
        if old_size == new_size && old_root != new_root {
            return Err(LedgerError::ProofRoot);
        }
        return Ok(());
    }
    let Some((first, rest)) = proof.split_first() else { return Err(LedgerError::ProofLength) };
    // When the old tree is a complete subtree, its root is the proof's implicit first node.
    let (start, rest) = if old_size.is_power_of_two() { (old_root, proof) } else { (first, rest) };
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (*start, *start);
    for c in rest {
        if s_n == 0 {
            return Err(LedgerError::ProofLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(LedgerError::ProofLength);
    }
    if &f_r != old_root || &s_r != new_root {
        return Err(LedgerError::ProofRoot);
    }
    Ok(())
}

/// The right edge of a growing tree: the roots of the complete subtrees that make up
/// its first `size` leaves, largest first (one per set bit of `size`). Enough to append
/// a leaf and to compute the root, in O(log n) space.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    subtrees: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash (amortised one node hash per leaf).
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut size = self.size;
        // Each trailing 1 bit of the old size is a complete subtree of the same height as
        // the one being carried: merge them.
        while size & 1 == 1 {
            if let Some(left) = self.subtrees.pop() {
                hash = node_hash(&left, &hash);
            }
            size >>= 1;
        }
        self.subtrees.push(hash);
        self.size += 1;
    }

    /// MTH of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.subtrees.iter().rev();
        let Some(last) = subtrees.next() else { return empty_root() };
        subtrees.fold(*last, |right, left| node_hash(left, &right))
    }

    /// Eight bytes of size, big-endian, then the subtree hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(8 + 32 * self.subtrees.len());
        bytes.extend_from_slice(&self.size.to_be_bytes());
        for hash in &self.subtrees {
            bytes.extend_from_slice(hash);
        }
        bytes
    }

    /// Reads [`to_bytes`](Frontier::to_bytes)'s output; the empty slice is the empty tree.
    pub fn from_bytes(bytes: &[u8]) -> Option<Frontier> {
        if bytes.is_empty() {
            return Some(Frontier::new());
        }
        let (size, rest) = bytes.split_first_chunk::<8>()?;
        let size = u64::from_be_bytes(*size);
        let (chunks, remainder) = rest.as_chunks::<32>();
        if !remainder.is_empty() || chunks.len() != size.count_ones() as usize {
            return None;
        }
        Some(Frontier { size, subtrees: chunks.to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect()
    }

    fn hex(hash: &Hash) -> String {
        hash.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    #[test]
    fn known_answers() {
        assert_eq!(hex(&empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        // RFC 6962 test vector: the hash of the empty leaf.
        assert_eq!(hex(&leaf_hash(b"")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
        let two = leaves(2);
        assert_eq!(root(&two), node_hash(&two[0], &two[1]));
        let three = leaves(3);
        assert_eq!(root(&three), node_hash(&node_hash(&three[0], &three[1]), &three[2]));
    }

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        for (n, k) in [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (33, 32), (1 << 20, 1 << 19)] {
            assert_eq!(split(n), k, "n = {n}");
        }
    }

    #[test]
    fn frontier_root_matches_the_tree_hash_at_every_size() {
        let all = leaves(70);
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            frontier.push(*leaf);
            assert_eq!(frontier.size(), i as u64 + 1);
            assert_eq!(frontier.root(), root(&all[..=i]), "size {}", i + 1);
            assert_eq!(Frontier::from_bytes(&frontier.to_bytes()), Some(frontier.clone()));
        }
    }

    #[test]
    fn frontier_bytes_are_checked() {
        let mut frontier = Frontier::new();
        for leaf in leaves(5) {
            frontier.push(leaf);
        }
        let bytes = frontier.to_bytes();
        assert_eq!(Frontier::from_bytes(&[]), Some(Frontier::new()));
        assert_eq!(Frontier::from_bytes(&bytes[..bytes.len() - 1]), None, "truncated hash");
        assert_eq!(Frontier::from_bytes(&bytes[..8 + 32]), None, "5 leaves need 2 subtrees");
        assert_eq!(Frontier::from_bytes(&bytes[..4]), None, "truncated size");
    }

    /// Every leaf of every tree size up to 33: the proof verifies, is as long as the
    /// tree is deep, and fails for a wrong leaf, index, size, root or hash.
    #[test]
    fn inclusion_proofs_for_every_leaf_up_to_33() {
        for size in 1..=33usize {
            let all = leaves(size);
            let tree_root = root(&all);
            for index in 0..size {
                let proof = inclusion_proof(&all, index).unwrap();
                let (i, n) = (index as u64, size as u64);
                assert!(verify_inclusion(&all[index], i, n, &proof, &tree_root).is_ok(), "{index} of {size}");

                // An independent implementation agrees (Go's sumdb/tlog, ported).
                let theirs: Vec<tlog_tiles::Hash> = proof.iter().map(|hash| tlog_tiles::Hash(*hash)).collect();
                assert!(
                    tlog_tiles::check_record(&theirs, n, tlog_tiles::Hash(tree_root), i, tlog_tiles::Hash(all[index]))
                        .is_ok(),
                    "tlog_tiles rejects leaf {index} of {size}"
                );

                let other = leaf_hash(b"not in the tree");
                assert!(verify_inclusion(&other, i, n, &proof, &tree_root).is_err());
                assert!(verify_inclusion(&all[index], i, n, &proof, &leaf_hash(b"other root")).is_err());
                if size > 1 {
                    let wrong_index = (i + 1) % n;
                    assert!(verify_inclusion(&all[index], wrong_index, n, &proof, &tree_root).is_err());
                    let mut tampered = proof.clone();
                    tampered[0][0] ^= 1;
                    assert!(verify_inclusion(&all[index], i, n, &tampered, &tree_root).is_err());
                    assert!(verify_inclusion(&all[index], i, n, &proof[1..], &tree_root).is_err(), "short proof");
                }
                let mut long = proof.clone();
                long.push(tree_root);
                assert!(verify_inclusion(&all[index], i, n, &long, &tree_root).is_err(), "long proof");
                assert!(verify_inclusion(&all[index], i + n, n, &proof, &tree_root).is_err(), "index past the end");
            }
        }
    }

    /// Every pair of sizes 1 ≤ old ≤ new ≤ 20: the proof verifies, agrees with
    /// `tlog_tiles`, and fails when either root or any hash is wrong.
    #[test]
    fn consistency_proofs_for_every_pair_up_to_20() {
        let all = leaves(20);
        for new in 1..=20usize {
            let new_root = root(&all[..new]);
            for old in 1..=new {
                let old_root = root(&all[..old]);
                let proof = consistency_proof(&all[..new], old).unwrap();
                let (m, n) = (old as u64, new as u64);
                assert!(verify_consistency(m, n, &old_root, &new_root, &proof).is_ok(), "{old} → {new}");

                let theirs: Vec<tlog_tiles::Hash> = proof.iter().map(|hash| tlog_tiles::Hash(*hash)).collect();
                assert!(
                    tlog_tiles::check_tree(&theirs, n, tlog_tiles::Hash(new_root), m, tlog_tiles::Hash(old_root))
                        .is_ok(),
                    "tlog_tiles rejects {old} → {new}"
                );

                let wrong = leaf_hash(b"wrong");
                assert!(verify_consistency(m, n, &wrong, &new_root, &proof).is_err(), "{old} → {new}: old root");
                if old < new {
                    assert!(verify_consistency(m, n, &old_root, &wrong, &proof).is_err(), "{old} → {new}: new root");
                    for position in 0..proof.len() {
                        let mut tampered = proof.clone();
                        tampered[position][31] ^= 0x80;
                        assert!(
                            verify_consistency(m, n, &old_root, &new_root, &tampered).is_err(),
                            "{old} → {new}: hash {position}"
                        );
                    }
                    assert!(verify_consistency(m, n, &old_root, &new_root, &proof[..proof.len() - 1]).is_err());
                    if old > 1 {
                        // A different prefix of the same length is not consistent.
                        let mut forked = all[..new].to_vec();
                        forked[0] = wrong;
                        assert!(verify_consistency(m, n, &old_root, &root(&forked), &proof).is_err());
                    }
                }
            }
        }
    }

    #[test]
    fn degenerate_consistency_cases() {
        let all = leaves(5);
        let r = root(&all);
        assert_eq!(consistency_proof(&all, 0).unwrap(), Vec::<Hash>::new());
        assert!(verify_consistency(0, 5, &empty_root(), &r, &[]).is_ok(), "everything extends the empty tree");
        assert!(verify_consistency(5, 5, &r, &r, &[]).is_ok());
        assert!(matches!(verify_consistency(5, 5, &r, &empty_root(), &[]), Err(LedgerError::ProofRoot)));
        assert!(matches!(verify_consistency(5, 5, &r, &r, &[r]), Err(LedgerError::ProofLength)));
        assert!(matches!(verify_consistency(6, 5, &r, &r, &[]), Err(LedgerError::SizesOutOfOrder { old: 6, new: 5 })));
        assert!(matches!(consistency_proof(&all, 6), Err(LedgerError::SizesOutOfOrder { old: 6, new: 5 })));
        assert!(matches!(inclusion_proof(&all, 5), Err(LedgerError::LeafOutOfRange { index: 5, size: 5 })));
        assert!(matches!(
            verify_inclusion(&all[0], 0, 0, &[], &empty_root()),
            Err(LedgerError::LeafOutOfRange { index: 0, size: 0 })
        ));
        // A one-leaf tree's root is its leaf, with an empty proof.
        assert!(verify_inclusion(&all[0], 0, 1, &[], &all[0]).is_ok());
    }
}

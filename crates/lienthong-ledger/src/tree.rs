use std::fmt;
use std::ops::Range;

use crate::checkpoint::Checkpoint;
use crate::error::LedgerError;
use crate::hash::{leaf_hash, node_hash, Hash, EMPTY_ROOT};

/// An in-memory, append-only RFC 9162 Merkle tree.
///
/// `levels[k][i]` is the hash of the complete subtree of `2^k` leaves that starts at leaf
/// `i * 2^k`; level 0 holds the leaf hashes. Every complete, aligned subtree is stored
/// once it exists, which is about two hashes (64 bytes) per entry. Subtrees of past sizes
/// never change, so every past root and every proof between past sizes is answered from
/// the same store.
#[derive(Clone, Default)]
pub struct MerkleTree {
    levels: Vec<Vec<Hash>>,
}

impl fmt::Debug for MerkleTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerkleTree")
            .field("size", &self.size())
            .field("root", &crate::hash::hash_to_hex(&self.root()))
            .finish()
    }
}

/// The largest power of two strictly smaller than `n`; `n` must be at least 2.
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

impl MerkleTree {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty log with room for `entries` entries before it reallocates.
    pub fn with_capacity(entries: usize) -> Self {
        let mut levels = Vec::new();
        let mut width = entries;
        while width > 0 {
            levels.push(Vec::with_capacity(width));
            width /= 2;
        }
        Self { levels }
    }

    /// A log rebuilt from leaf hashes already computed (e.g. read back from storage).
    pub fn from_leaf_hashes<I: IntoIterator<Item = Hash>>(leaf_hashes: I) -> Self {
        let mut tree = Self::new();
        for h in leaf_hashes {
            tree.append_leaf_hash(h);
        }
        tree
    }

    /// Number of entries in the log.
    pub fn size(&self) -> u64 {
        self.leaf_count() as u64
    }

    /// Whether the log has no entries.
    pub fn is_empty(&self) -> bool {
        self.leaf_count() == 0
    }

    fn leaf_count(&self) -> usize {
        self.levels.first().map_or(0, Vec::len)
    }

    /// Appends one entry, hashing it as a leaf; returns its index.
    pub fn append(&mut self, entry: &[u8]) -> u64 {
        self.append_leaf_hash(leaf_hash(entry))
    }

    /// Appends a leaf whose hash (`SHA-256(0x00 || entry)`) the caller already has;
    /// returns its index.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> u64 {
        let index = self.size();
        let mut carry = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(carry);
            let n = row.len();
            if n % 2 == 1 {
                break;
            }
            // The row just completed a pair: its parent subtree now exists.
            carry = node_hash(&row[n - 2], &row[n - 1]);
            level += 1;
        }
        index
    }

    /// Appends entries in order; returns the range of indices they were given.
    pub fn append_batch<I>(&mut self, entries: I) -> Range<u64>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let start = self.size();
        for entry in entries {
            self.append(entry.as_ref());
        }
        start..self.size()
    }

    /// The leaf hash at `index`, if the log has that many entries.
    pub fn leaf_hash_at(&self, index: u64) -> Option<Hash> {
        let index = usize::try_from(index).ok()?;
        self.levels.first()?.get(index).copied()
    }

    /// The root of the log as it stands.
    pub fn root(&self) -> Hash {
        match self.leaf_count() {
            0 => EMPTY_ROOT,
            n => self.range_hash(0, n),
        }
    }

    /// The root the log had when it held `size` entries (`EMPTY_ROOT` for 0).
    pub fn root_at(&self, size: u64) -> Result<Hash, LedgerError> {
        let size = self.checked_size(size)?;
        Ok(match size {
            0 => EMPTY_ROOT,
            n => self.range_hash(0, n),
        })
    }

    /// A checkpoint of the log as it stands.
    pub fn checkpoint(&self, timestamp: u64) -> Checkpoint {
        Checkpoint {
            size: self.size(),
            root: self.root(),
            timestamp,
        }
    }

    /// A checkpoint of the log as it was at `size` entries.
    pub fn checkpoint_at(&self, size: u64, timestamp: u64) -> Result<Checkpoint, LedgerError> {
        Ok(Checkpoint {
            size,
            root: self.root_at(size)?,
            timestamp,
        })
    }

    /// The audit path for leaf `index` in the tree of the first `size` entries:
    /// RFC 9162 §2.1.3.1 `PATH(index, D[0:size])`, leaf-side sibling first.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        let n = self.checked_size(size)?;
        if index >= size {
            return Err(LedgerError::IndexOutOfRange { index, size });
        }
        // index < size <= leaf_count, so it fits in usize.
        let m = index as usize;
        let (mut start, mut end) = (0, n);
        let mut path = Vec::with_capacity(64);
        // Walk from the root down to the leaf, taking the sibling at every level.
        while end - start > 1 {
            let k = split_point(end - start);
            if m < start + k {
                path.push(self.range_hash(start + k, end));
                end = start + k;
            } else {
                path.push(self.range_hash(start, start + k));
                start += k;
            }
        }
        // PATH lists the deepest sibling first.
        path.reverse();
        Ok(path)
    }

    /// The consistency proof between the trees of the first `old_size` and `new_size`
    /// entries: RFC 9162 §2.1.4.1 `PROOF(old_size, D[0:new_size])`.
    ///
    /// Empty when `old_size` is 0 or equal to `new_size`: there is nothing to prove.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, LedgerError> {
        let n = self.checked_size(new_size)?;
        if old_size > new_size {
            return Err(LedgerError::SizeRegression { old_size, new_size });
        }
        if old_size == 0 || old_size == new_size {
            return Ok(Vec::new());
        }
        // 0 < old_size < new_size <= leaf_count.
        let mut m = old_size as usize;
        let (mut start, mut end) = (0, n);
        // `complete` is SUBPROOF's flag b: whether the subtree in hand is the whole old tree.
        let mut complete = true;
        let mut siblings = Vec::with_capacity(64);
        let head = loop {
            let len = end - start;
            if m == len {
                break if complete {
                    None
                } else {
                    Some(self.range_hash(start, end))
                };
            }
            let k = split_point(len);
            if m <= k {
                siblings.push(self.range_hash(start + k, end));
                end = start + k;
            } else {
                siblings.push(self.range_hash(start, start + k));
                m -= k;
                start += k;
                complete = false;
            }
        };
        Ok(head.into_iter().chain(siblings.into_iter().rev()).collect())
    }

    /// The compact range of the first `size` entries: the roots of the complete aligned
    /// subtrees that cover `[0, size)`, largest (leftmost) first — one per set bit of
    /// `size`. With it and the leaves after `size`, [`root_from_frontier`] derives any later
    /// root without the earlier entries (archives are checked offline that way).
    pub fn frontier(&self, size: u64) -> Result<Vec<Hash>, LedgerError> {
        let n = self.checked_size(size)?;
        let mut out = Vec::with_capacity(usize::BITS as usize);
        let mut start = 0;
        for level in (0..usize::BITS as usize).rev() {
            if n & (1 << level) != 0 {
                out.push(self.levels[level][start >> level]);
                start += 1 << level;
            }
        }
        Ok(out)
    }

    fn checked_size(&self, size: u64) -> Result<usize, LedgerError> {
        let available = self.size();
        if size > available {
            return Err(LedgerError::SizeOutOfRange {
                requested: size,
                available,
            });
        }
        // size <= leaf_count, so it fits in usize.
        Ok(size as usize)
    }

    /// MTH(D[start:end]) for a non-empty range within the log.
    ///
    /// Every range the RFC recursion visits starts on a multiple of the next power of two
    /// at or above its length, so its left part is always a stored complete subtree and
    /// only the right edge recurses: O(log n) lookups and hashes.
    fn range_hash(&self, start: usize, end: usize) -> Hash {
        let len = end - start;
        if len.is_power_of_two() && (start & (len - 1)) == 0 {
            let level = len.trailing_zeros() as usize;
            return self.levels[level][start >> level];
        }
        let k = split_point(len);
        node_hash(
            &self.range_hash(start, start + k),
            &self.range_hash(start + k, end),
        )
    }
}

/// The root of the tree of `start + leaves.len()` entries, from the [`MerkleTree::frontier`]
/// of its first `start` entries and the leaf hashes after them. Pure; a frontier that does
/// not fit `start` (one hash per set bit) is an error.
pub fn root_from_frontier(
    frontier: &[Hash],
    start: u64,
    leaves: &[Hash],
) -> Result<Hash, LedgerError> {
    if frontier.len() != start.count_ones() as usize {
        return Err(LedgerError::ProofLength {
            expected: start.count_ones() as usize,
            actual: frontier.len(),
        });
    }
    // A stack of (subtree root, height), heights strictly decreasing: the compact range.
    let mut stack: Vec<(Hash, u32)> = Vec::with_capacity(64);
    let mut heights = (0..64u32).rev().filter(|h| start & (1 << h) != 0);
    for h in frontier {
        stack.push((*h, heights.next().expect("one height per frontier hash")));
    }
    for leaf in leaves {
        let mut node = (*leaf, 0u32);
        while let Some(&(left, height)) = stack.last() {
            if height != node.1 {
                break;
            }
            stack.pop();
            node = (node_hash(&left, &node.0), height + 1);
        }
        stack.push(node);
    }
    // RFC 9162's root splits at the largest power of two: fold from the right.
    let mut iter = stack.into_iter().rev();
    let Some((mut root, _)) = iter.next() else {
        return Ok(EMPTY_ROOT);
    };
    for (left, _) in iter {
        root = node_hash(&left, &root);
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_from_every_frontier_match_the_tree() {
        let mut tree = MerkleTree::new();
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for l in &leaves {
            tree.append_leaf_hash(*l);
        }
        for start in 0..=70u64 {
            let frontier = tree.frontier(start).unwrap();
            assert_eq!(frontier.len(), start.count_ones() as usize);
            for end in start..=70u64 {
                let got =
                    root_from_frontier(&frontier, start, &leaves[start as usize..end as usize])
                        .unwrap();
                assert_eq!(got, tree.root_at(end).unwrap(), "start {start} end {end}");
            }
        }
        assert!(
            root_from_frontier(&[], 5, &[]).is_err(),
            "5 needs two hashes"
        );
        assert!(tree.frontier(71).is_err());
    }

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        for n in 2usize..2000 {
            let k = split_point(n);
            assert!(k.is_power_of_two());
            assert!(k < n && n <= 2 * k, "n={n} k={k}");
        }
        assert_eq!(split_point(usize::MAX), 1 << (usize::BITS - 1));
    }

    #[test]
    fn levels_hold_every_complete_subtree() {
        let mut tree = MerkleTree::new();
        for i in 0u32..100 {
            tree.append(&i.to_be_bytes());
            let n = tree.leaf_count();
            for (k, row) in tree.levels.iter().enumerate() {
                assert_eq!(row.len(), n >> k, "size {n} level {k}");
            }
        }
    }

    #[test]
    fn with_capacity_is_an_empty_tree() {
        let mut a = MerkleTree::with_capacity(37);
        assert!(a.is_empty());
        assert_eq!(a.root(), EMPTY_ROOT);
        let mut b = MerkleTree::new();
        for i in 0u8..40 {
            a.append(&[i]);
            b.append(&[i]);
            assert_eq!(a.root(), b.root());
        }
    }
}

//! Blocking: records are compared only within groups that share a rule's key. A pair is
//! visited once, under the first rule whose key it shares, so the union of rules never
//! scores a pair twice. Groups are processed in parallel (rayon); results keep a fixed
//! order whatever the number of threads.

use std::ops::Range;

use rayon::prelude::*;
use serde::Serialize;

use crate::schema::Prepared;

/// What a rule would produce, counted before anything is scored.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleCount {
    /// 1-based rule number.
    pub rule: usize,
    /// The rule alone (pairs it shares with earlier rules included).
    pub pairs: u64,
    /// Records in its largest group (left side when linking).
    pub largest_block: u64,
}

fn groups(keys: &mut [(u64, u32)]) -> Vec<Range<usize>> {
    keys.par_sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=keys.len() {
        if i == keys.len() || keys[i].0 != keys[start].0 {
            out.push(start..i);
            start = i;
        }
    }
    out
}

fn keyed(recs: &[Prepared], rule: usize) -> Vec<(u64, u32)> {
    recs.iter()
        .enumerate()
        .filter(|(_, r)| r.keys[rule] != 0)
        .map(|(i, r)| (r.keys[rule], i as u32))
        .collect()
}

/// Whether an earlier rule than `rule` already puts `a` and `b` together.
fn earlier_rule_agrees(a: &Prepared, b: &Prepared, rule: usize) -> bool {
    (0..rule).any(|q| a.keys[q] != 0 && a.keys[q] == b.keys[q])
}

/// One rule's groups of two or more records, members in record order.
struct RuleBlocks {
    members: Vec<u32>,
    groups: Vec<Range<usize>>,
    count: RuleCount,
}

/// The groups of every blocking rule over one dataset, sorted once and reused by counting,
/// training and scoring. Memory: about 4 bytes per record and rule.
pub struct Blocks {
    rules: Vec<RuleBlocks>,
}

impl Blocks {
    pub fn new(recs: &[Prepared], rules: usize) -> Blocks {
        Blocks {
            rules: (0..rules)
                .map(|r| {
                    let mut keys = keyed(recs, r);
                    let gs = groups(&mut keys);
                    let count = RuleCount {
                        rule: r + 1,
                        pairs: gs
                            .iter()
                            .map(|g| (g.len() as u64) * (g.len() as u64 - 1) / 2)
                            .sum(),
                        largest_block: gs.iter().map(|g| g.len() as u64).max().unwrap_or(0),
                    };
                    let mut members = Vec::new();
                    let mut kept = Vec::new();
                    for g in gs.into_iter().filter(|g| g.len() > 1) {
                        let start = members.len();
                        let mut m: Vec<u32> = keys[g].iter().map(|(_, i)| *i).collect();
                        m.sort_unstable();
                        members.extend(m);
                        kept.push(start..members.len());
                    }
                    RuleBlocks {
                        members,
                        groups: kept,
                        count,
                    }
                })
                .collect(),
        }
    }

    /// Candidate pairs per rule, counted before anything is scored.
    pub fn counts(&self) -> Vec<RuleCount> {
        self.rules.iter().map(|r| r.count.clone()).collect()
    }
}

/// Visits every candidate pair `(i, j)`, `i < j`, of `recs` once; keeps what `f` returns.
/// `only_rule` restricts to one rule's groups (every pair of it, shared or not).
pub fn dedupe_candidates<T: Send>(
    recs: &[Prepared],
    blocks: &Blocks,
    only_rule: Option<usize>,
    f: impl Fn(u32, u32) -> Option<T> + Sync,
) -> Vec<T> {
    let mut out = Vec::new();
    for (r, rb) in blocks.rules.iter().enumerate() {
        if only_rule.is_some_and(|o| o != r) {
            continue;
        }
        let part: Vec<T> = rb
            .groups
            .par_iter()
            .flat_map_iter(|g| {
                let members = &rb.members[g.clone()];
                let mut found = Vec::new();
                for (x, &a) in members.iter().enumerate() {
                    for &b in &members[x + 1..] {
                        if only_rule.is_none()
                            && earlier_rule_agrees(&recs[a as usize], &recs[b as usize], r)
                        {
                            continue;
                        }
                        found.extend(f(a, b));
                    }
                }
                found
            })
            .collect();
        out.extend(part);
    }
    out
}

/// Candidate pairs per rule when linking `left` to `right`.
pub fn count_link(left: &[Prepared], right: &[Prepared], rules: usize) -> Vec<RuleCount> {
    (0..rules)
        .map(|r| {
            let joined = join(left, right, r);
            RuleCount {
                rule: r + 1,
                pairs: joined
                    .iter()
                    .map(|(l, rr)| (l.len() * rr.len()) as u64)
                    .sum(),
                largest_block: joined
                    .iter()
                    .map(|(l, _)| l.len() as u64)
                    .max()
                    .unwrap_or(0),
            }
        })
        .collect()
}

type Joined = Vec<(Vec<u32>, Vec<u32>)>;

fn join(left: &[Prepared], right: &[Prepared], rule: usize) -> Joined {
    let mut lk = keyed(left, rule);
    let mut rk = keyed(right, rule);
    let (lg, rg) = (groups(&mut lk), groups(&mut rk));
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < lg.len() && j < rg.len() {
        let (a, b) = (lk[lg[i].start].0, rk[rg[j].start].0);
        match a.cmp(&b) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push((
                    lk[lg[i].clone()].iter().map(|(_, x)| *x).collect(),
                    rk[rg[j].clone()].iter().map(|(_, x)| *x).collect(),
                ));
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Visits every candidate pair `(left i, right j)` once; keeps what `f` returns.
pub fn link_candidates<T: Send>(
    left: &[Prepared],
    right: &[Prepared],
    rules: usize,
    f: impl Fn(u32, u32) -> Option<T> + Sync,
) -> Vec<T> {
    let mut out = Vec::new();
    for r in 0..rules {
        let joined = join(left, right, r);
        let part: Vec<T> = joined
            .into_par_iter()
            .flat_map_iter(|(ls, rs)| {
                let mut found = Vec::new();
                for &a in &ls {
                    for &b in &rs {
                        if !earlier_rule_agrees(&left[a as usize], &right[b as usize], r) {
                            found.extend(f(a, b));
                        }
                    }
                }
                found
            })
            .collect();
        out.extend(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(keys: &[u64]) -> Prepared {
        Prepared {
            values: Box::new([]),
            keys: keys.into(),
            tf: Box::new([]),
        }
    }

    #[test]
    fn the_union_of_rules_scores_each_pair_once() {
        // 0 and 1 share both rules' keys; 1 and 2 only the second; 3 has no key.
        let recs = [rec(&[5, 7]), rec(&[5, 7]), rec(&[6, 7]), rec(&[0, 0])];
        let counts = Blocks::new(&recs, 2).counts();
        assert_eq!(counts.iter().map(|c| c.pairs).collect::<Vec<_>>(), [1, 3]);
        let mut pairs = dedupe_candidates(&recs, &Blocks::new(&recs, 2), None, |a, b| Some((a, b)));
        pairs.sort_unstable();
        assert_eq!(pairs, [(0, 1), (0, 2), (1, 2)]);
        let left = [rec(&[5, 7]), rec(&[9, 9])];
        let mut linked = link_candidates(&left, &recs, 2, |a, b| Some((a, b)));
        linked.sort_unstable();
        assert_eq!(linked, [(0, 0), (0, 1), (0, 2)]);
        assert_eq!(
            count_link(&left, &recs, 2)
                .iter()
                .map(|c| c.pairs)
                .collect::<Vec<_>>(),
            [2, 3]
        );
    }
}

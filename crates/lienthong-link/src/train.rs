//! Training, as in Fellegi–Sunter practice: u from pairs drawn at random (almost all are
//! different people), m by expectation–maximisation on each blocking rule's pairs with the
//! rule's own fields left out (they agree by construction there), λ from the expected
//! number of matches among all candidate pairs. Deterministic for a seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::block::{dedupe_candidates, Blocks};
use crate::model::{Model, Trained};
use crate::schema::{Prepared, Schema};
use crate::score::Scorer;

#[derive(Debug, Clone)]
pub struct Options {
    /// Random pairs drawn to estimate u.
    pub u_pairs: u64,
    /// Blocked pairs used by EM (sampled evenly across rules).
    pub em_pairs: u64,
    pub iterations: usize,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            u_pairs: 1_000_000,
            em_pairs: 600_000,
            iterations: 25,
            seed: 1,
        }
    }
}

/// Smallest u a level keeps, so that no level gets an infinite weight.
const U_FLOOR: f64 = 1e-7;
/// Smallest m: a level never seen among matches in training still happens (a typo in a
/// sex code), so a disagreement costs at most about ten bits, never a veto.
const M_FLOOR: f64 = 1e-3;

fn normalise(p: &mut [f64], floor: f64) {
    for x in p.iter_mut() {
        *x = x.max(floor);
    }
    let sum: f64 = p.iter().sum();
    for x in p.iter_mut() {
        *x /= sum;
    }
}

/// Stable, thread-independent sampling of a pair.
fn keep(a: u32, b: u32, seed: u64, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    let mut x = (u64::from(a) << 32 | u64::from(b)) ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    (x as f64 / u64::MAX as f64) < rate
}

/// Estimates u, m and λ for `model` on `recs` (one dataset, deduplication).
pub fn train(
    model: &Model,
    schema: &Schema,
    recs: &[Prepared],
    blocks: &Blocks,
    opts: &Options,
) -> Model {
    let mut out = model.clone();
    let n = recs.len();
    let comps = model.comparisons.len();
    let scorer = Scorer::new(model);
    // u: random pairs.
    if n >= 2 {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let pairs: Vec<(u32, u32)> = (0..opts.u_pairs)
            .filter_map(|_| {
                let (a, b) = (rng.gen_range(0..n as u32), rng.gen_range(0..n as u32));
                (a != b).then_some((a, b))
            })
            .collect();
        let hist = pairs
            .par_chunks(8192)
            .map(|chunk| {
                let mut h: Vec<Vec<u64>> = model
                    .comparisons
                    .iter()
                    .map(|c| vec![0; c.kind.levels().len() + 1])
                    .collect();
                let mut levels = Vec::new();
                for (a, b) in chunk {
                    scorer.levels(&recs[*a as usize], &recs[*b as usize], &mut levels);
                    for (c, l) in levels.iter().enumerate() {
                        h[c][*l as usize] += 1;
                    }
                }
                h
            })
            .reduce_with(|mut x, y| {
                for (xc, yc) in x.iter_mut().zip(y) {
                    for (a, b) in xc.iter_mut().zip(yc) {
                        *a += b;
                    }
                }
                x
            });
        if let Some(hist) = hist {
            for (c, h) in hist.iter().enumerate() {
                let seen: u64 = h[1..].iter().sum();
                if seen == 0 {
                    continue;
                }
                let mut u: Vec<f64> = h[1..]
                    .iter()
                    .map(|k| (*k).max(1) as f64 / seen as f64)
                    .collect();
                normalise(&mut u, U_FLOOR);
                out.comparisons[c].u = u;
            }
        }
    }
    // m: EM per blocking rule, the rule's fields left out.
    let rules = schema.rules.len();
    let counts = blocks.counts();
    let per_rule = (opts.em_pairs / rules.max(1) as u64).max(1);
    let mut m_sum: Vec<Vec<f64>> = out
        .comparisons
        .iter()
        .map(|c| vec![0.0; c.m.len()])
        .collect();
    let mut m_runs = vec![0u32; comps];
    let mut em_total = 0u64;
    for (r, count) in counts.iter().enumerate() {
        if !schema.rule_usable(r) || count.pairs == 0 {
            continue;
        }
        let rate = per_rule as f64 / count.pairs as f64;
        let scorer = Scorer::new(&out);
        let levels: Vec<Vec<u8>> = dedupe_candidates(recs, blocks, Some(r), |a, b| {
            keep(a, b, opts.seed ^ r as u64, rate).then(|| {
                let mut l = Vec::with_capacity(comps);
                scorer.levels(&recs[a as usize], &recs[b as usize], &mut l);
                l
            })
        });
        em_total += levels.len() as u64;
        let in_rule: Vec<bool> = out
            .comparisons
            .iter()
            .map(|c| schema.rules[r].iter().any(|(p, _)| p.field == c.field))
            .collect();
        if let Some(m) = em(&out, &levels, &in_rule, opts.iterations) {
            for c in 0..comps {
                if !in_rule[c] {
                    for (s, v) in m_sum[c].iter_mut().zip(&m[c]) {
                        *s += v;
                    }
                    m_runs[c] += 1;
                }
            }
        }
    }
    for c in 0..comps {
        if m_runs[c] > 0 {
            let mut m: Vec<f64> = m_sum[c].iter().map(|s| s / f64::from(m_runs[c])).collect();
            normalise(&mut m, M_FLOOR);
            out.comparisons[c].m = m;
        }
    }
    // λ: the expected matches among the union of candidate pairs, over all pairs.
    let total_pairs = (n as f64) * (n as f64 - 1.0) / 2.0;
    let union: u64 = counts.iter().map(|c| c.pairs).sum();
    if total_pairs > 0.0 && union > 0 {
        let rate = (opts.em_pairs as f64 / union as f64).min(1.0);
        let scorer = Scorer::new(&out);
        let field_weights: Vec<f64> = dedupe_candidates(recs, blocks, None, |a, b| {
            keep(a, b, opts.seed ^ 0xabcd, rate)
                .then(|| scorer.weight(&recs[a as usize], &recs[b as usize]) - scorer.prior)
        });
        let mut lambda = out.lambda;
        for _ in 0..opts.iterations * 2 {
            let prior = (lambda / (1.0 - lambda)).log2();
            let expected: f64 = field_weights
                .par_iter()
                .map(|w| crate::score::probability(prior + w))
                .sum::<f64>()
                / rate;
            lambda = (expected / total_pairs).clamp(1e-12, 0.5);
        }
        out.lambda = lambda;
    }
    out.trained = Some(Trained {
        records: n as u64,
        u_pairs: opts.u_pairs,
        em_pairs: em_total,
        seed: opts.seed,
    });
    out
}

/// EM for m and the in-sample match share, u fixed; comparisons in `fixed` are ignored.
fn em(
    model: &Model,
    levels: &[Vec<u8>],
    fixed: &[bool],
    iterations: usize,
) -> Option<Vec<Vec<f64>>> {
    if levels.is_empty() {
        return None;
    }
    let mut m: Vec<Vec<f64>> = model.comparisons.iter().map(|c| c.m.clone()).collect();
    let u: Vec<Vec<f64>> = model.comparisons.iter().map(|c| c.u.clone()).collect();
    let mut share = 0.3f64;
    for _ in 0..iterations {
        let lw: Vec<Vec<f64>> = m
            .iter()
            .zip(&u)
            .map(|(m, u)| m.iter().zip(u).map(|(m, u)| (m / u).ln()).collect())
            .collect();
        let prior = (share / (1.0 - share)).ln();
        let zero = || {
            (
                0.0f64,
                m.iter().map(|x| vec![0.0f64; x.len()]).collect::<Vec<_>>(),
            )
        };
        let (sum_p, acc) = levels
            .par_chunks(4096)
            .map(|chunk| {
                let (mut sum_p, mut acc) = zero();
                for pair in chunk {
                    let mut x = prior;
                    for (c, l) in pair.iter().enumerate() {
                        if *l > 0 && !fixed[c] {
                            x += lw[c][*l as usize - 1];
                        }
                    }
                    let p = 1.0 / (1.0 + (-x).exp());
                    sum_p += p;
                    for (c, l) in pair.iter().enumerate() {
                        if *l > 0 && !fixed[c] {
                            acc[c][*l as usize - 1] += p;
                        }
                    }
                }
                (sum_p, acc)
            })
            .reduce(zero, |(s1, mut a1), (s2, a2)| {
                for (x, y) in a1.iter_mut().zip(a2) {
                    for (p, q) in x.iter_mut().zip(y) {
                        *p += q;
                    }
                }
                (s1 + s2, a1)
            });
        share = (sum_p / levels.len() as f64).clamp(1e-9, 1.0 - 1e-9);
        for (c, a) in acc.iter().enumerate() {
            let total: f64 = a.iter().sum();
            if !fixed[c] && total > 0.0 {
                m[c] = a.iter().map(|x| x / total).collect();
                normalise(&mut m[c], M_FLOOR);
            }
        }
    }
    Some(m)
}

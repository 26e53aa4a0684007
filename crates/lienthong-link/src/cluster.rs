//! Clusters of records joined by matching pairs: connected components by union–find (path
//! halving, union by index so the result does not depend on the pairs' order).

/// The cluster of every record: the index of the first record (lowest index) of its
/// component. Memory: one `u32` per record.
pub fn clusters(n: usize, pairs: impl IntoIterator<Item = (u32, u32)>) -> Vec<u32> {
    let mut parent: Vec<u32> = (0..n as u32).collect();
    fn find(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            let up = parent[parent[x as usize] as usize];
            parent[x as usize] = up;
            x = up;
        }
        x
    }
    for (a, b) in pairs {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            // The lower index is the root: the root is always the component's first record.
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            parent[hi as usize] = lo;
        }
    }
    (0..n as u32).map(|x| find(&mut parent, x)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_named_by_their_first_record() {
        let c = clusters(6, [(4, 1), (5, 4), (2, 3)]);
        assert_eq!(c, [0, 1, 2, 2, 1, 1]);
        let reversed = clusters(6, [(2, 3), (5, 4), (4, 1)]);
        assert_eq!(c, reversed);
    }
}

//! Pure: when a threshold group crossed its threshold, from the matches the shared counter
//! holds. The rule is the log scanner's: a group fires when at least `count` of its matches
//! fall within `window_seconds` of each other (the last minus the first is less than the
//! window).

use serde::Serialize;

/// A group that crossed its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Crossing {
    /// Time of the match that first made the count (epoch seconds).
    pub at: i64,
    /// Most matches seen within one window.
    pub peak: usize,
    /// First and last match considered.
    pub first: i64,
    pub last: i64,
}

/// The first crossing among `times` (any order), if any.
pub fn crossing(times: &[i64], count: u32, window_seconds: u64) -> Option<Crossing> {
    let need = count.max(1) as usize;
    let mut ts = times.to_vec();
    ts.sort_unstable();
    let w = window_seconds as i64;
    let mut first_cross = None;
    let mut peak = 0;
    let mut lo = 0;
    for hi in 0..ts.len() {
        while ts[hi] - ts[lo] >= w {
            lo += 1;
        }
        let n = hi - lo + 1;
        peak = peak.max(n);
        if n >= need && first_cross.is_none() {
            first_cross = Some(ts[hi]);
        }
    }
    first_cross.map(|at| Crossing {
        at,
        peak,
        first: ts[0],
        last: ts[ts.len() - 1],
    })
}

/// Most matches within one window (for "3 of 5" in a step's detail).
pub fn peak(times: &[i64], window_seconds: u64) -> usize {
    let mut ts = times.to_vec();
    ts.sort_unstable();
    let w = window_seconds as i64;
    let (mut lo, mut best) = (0, 0);
    for hi in 0..ts.len() {
        while ts[hi] - ts[lo] >= w {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crosses_at_the_match_that_makes_the_count_within_the_window() {
        // 5 in 300 s: 100, 160, 220, 280 and 390 are five within 290 s.
        let t = [390, 100, 160, 220, 280, 10_000];
        let c = crossing(&t, 5, 300).unwrap();
        assert_eq!(c.at, 390);
        assert_eq!(c.peak, 5);
        // The same matches spread wider do not cross.
        assert_eq!(crossing(&[0, 100, 200, 300, 400], 5, 300), None);
        assert_eq!(peak(&[0, 100, 200, 300, 400], 300), 3);
        // Order of arrival does not matter, and a single match crosses a count of one.
        assert_eq!(crossing(&[7], 1, 60).unwrap().at, 7);
        assert_eq!(crossing(&[], 1, 60), None);
    }
}

//! A latency histogram many tasks record into at once: log-linear buckets
//! (16 per power of two, so about 6% precision) of atomic counters.

use std::sync::atomic::{AtomicU64, Ordering};

const SUB: u64 = 16;
const BUCKETS: usize = 61 * SUB as usize;

/// Microsecond samples, recorded without locks.
pub struct Hist {
    buckets: Box<[AtomicU64]>,
}

impl Default for Hist {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Hist {
    /// Counts one sample.
    pub fn record(&self, value: u64) {
        if let Some(b) = self.buckets.get(index(value)) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Forgets every sample.
    pub fn reset(&self) {
        for b in self.buckets.iter() {
            b.store(0, Ordering::Relaxed);
        }
    }

    /// How many samples there are.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The value under which a fraction `q` of the samples lie (the middle
    /// of its bucket); 0 without samples.
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                let (low, width) = bounds(i);
                return low + width / 2;
            }
        }
        0
    }
}

fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - u64::from(v.leading_zeros()); // >= 4
    let sub = (v >> (exp - 4)) & (SUB - 1);
    ((exp - 3) * SUB + sub) as usize
}

/// Lowest value and width of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, 1);
    }
    let exp = i / SUB + 3;
    let sub = i % SUB;
    ((SUB + sub) << (exp - 4), 1 << (exp - 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_in_order() {
        let mut last = 0;
        for v in [
            0u64,
            1,
            15,
            16,
            17,
            31,
            32,
            33,
            100,
            1_000,
            65_535,
            1 << 40,
            u64::MAX,
        ] {
            let i = index(v);
            assert!(i >= last, "{v}");
            assert!(i < BUCKETS, "{v}");
            let (low, width) = bounds(i);
            assert!(low <= v && v - low < width, "{v} in {low}+{width}");
            last = i;
        }
    }

    #[test]
    fn quantiles_are_within_a_bucket() {
        let h = Hist::default();
        for v in 1..=1000 {
            h.record(v);
        }
        assert_eq!(h.count(), 1000);
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 - 500.0).abs() / 500.0 < 0.07, "{p50}");
        assert!((p99 - 990.0).abs() / 990.0 < 0.07, "{p99}");
        h.reset();
        assert_eq!(h.quantile(0.5), 0);
    }
}

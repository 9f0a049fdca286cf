//! A reference figure measured in the same run as a benchmark, so that its figures carry
//! from one machine to another as ratios: sorting as many (component, time, id) keys as
//! the benchmark has points, shuffled — memory, comparisons and branches, as retention,
//! planning and audits are.

use std::time::{Duration, Instant};

/// The median of 5 sorts of `n` keys (each from the same shuffled order).
pub fn sort_keys(n: usize) -> Duration {
    // A fixed linear congruential sequence: the same keys on every machine.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let keys: Vec<(u32, i64, i64)> = (0..n as i64)
        .map(|id| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (
                (x >> 40) as u32 % 10_000,
                (x >> 8) as i64 % 1_000_000_000,
                id,
            )
        })
        .collect();
    let mut runs: Vec<Duration> = (0..5)
        .map(|_| {
            let mut k = keys.clone();
            let t = Instant::now();
            k.sort_unstable();
            let d = t.elapsed();
            std::hint::black_box(&k);
            d
        })
        .collect();
    runs.sort();
    runs[2]
}

/// "reference: sorting N keys X; figure ÷ reference = R" (printed by the benchmark).
pub fn print_ratio(what: &str, figure: Duration, n: usize, reference: Duration) {
    println!(
        "reference: sorting {n} (component, time, id) keys {reference:.2?} — {what} ÷ reference = {:.1}",
        figure.as_secs_f64() / reference.as_secs_f64()
    );
}

//! Streaming statistics for baselines and change detection: running moments
//! ([`Welford`]), exponentially weighted level and spread ([`Ewma`]), event-time daily and
//! weekly profiles ([`SeasonalBaseline`]), robust window statistics ([`RobustWindow`]),
//! two-sided CUSUM ([`Cusum`]) and byte-string entropy ([`string_entropy_bits`]).
//!
//! All are O(1) memory per instance (a [`RobustWindow`] holds its n values, a
//! [`SeasonalBaseline`] two [`Ewma`]s per slot of the day) and serialise with serde for
//! checkpoints. Non-finite inputs (NaN, ±∞) are ignored everywhere rather than poisoning
//! the state; nothing here panics.

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------
// Welford
// ---------------------------------------------------------------------------------------

/// Running count, mean and variance (Welford's update, Chan et al.'s merge): numerically
/// stable, O(1) memory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Welford {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Welford {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one value (ignored if not finite).
    pub fn push(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// Values pushed.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Mean (0 when empty).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Sample variance (divides by n − 1); 0 with fewer than 2 values.
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / (self.n - 1) as f64).max(0.0)
        }
    }

    /// Sample standard deviation.
    pub fn std_dev(&self) -> f64 {
        self.variance().sqrt()
    }

    /// Coefficient of variation, std/mean; `None` if mean ≤ 0 or fewer than 2 values.
    /// Low values flag regular (beacon-like) series such as connection inter-arrival times.
    pub fn cv(&self) -> Option<f64> {
        if self.n < 2 || self.mean <= 0.0 {
            None
        } else {
            Some(self.std_dev() / self.mean)
        }
    }

    /// Combines with `other` as if all its values had been pushed here.
    pub fn merge(&mut self, other: &Welford) {
        if other.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = other.clone();
            return;
        }
        let n = self.n + other.n;
        let d = other.mean - self.mean;
        let (na, nb, nf) = (self.n as f64, other.n as f64, n as f64);
        self.mean += d * nb / nf;
        self.m2 += other.m2 + d * d * na * nb / nf;
        self.n = n;
    }
}

// ---------------------------------------------------------------------------------------
// Ewma
// ---------------------------------------------------------------------------------------

/// √(π/2): the ratio σ / E|X − μ| for normal data.
const MAD_TO_SIGMA: f64 = 1.2533;

/// Exponentially weighted mean and mean absolute deviation with smoothing factor α
/// (weight of the newest value; memory ≈ 1/α values, half-life ln 2/α).
///
/// Update with x: error e = x − mean (before the update), mean += α·e,
/// mad = (1 − α)·mad + α·|e|. [`Ewma::deviation`] is mad × 1.2533 (√(π/2)), which
/// estimates σ for normal data. Because e is a one-step prediction error, it includes the
/// mean's own noise: for stationary normal data the deviation is σ·√(1 + α/(2 − α)), under
/// 3 % above σ for α ≤ 0.1. The first value sets the mean with zero deviation.
///
/// α outside (0, 1] (or NaN) is replaced by 0.1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ewma {
    alpha: f64,
    mean: f64,
    mad: f64,
    n: u64,
}

impl Ewma {
    /// Empty, with smoothing factor `alpha` in (0, 1].
    pub fn new(alpha: f64) -> Self {
        let alpha = if alpha > 0.0 && alpha <= 1.0 {
            alpha
        } else {
            0.1
        };
        Ewma {
            alpha,
            mean: 0.0,
            mad: 0.0,
            n: 0,
        }
    }

    /// The smoothing factor in use.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Adds one value (ignored if not finite).
    pub fn update(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if self.n == 0 {
            self.mean = x;
            self.mad = 0.0;
        } else {
            let e = x - self.mean;
            self.mean += self.alpha * e;
            self.mad += self.alpha * (e.abs() - self.mad);
        }
        self.n = self.n.saturating_add(1);
    }

    /// Weighted mean (0 before any value).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Weighted mean absolute deviation × 1.2533: estimates σ for normal data.
    pub fn deviation(&self) -> f64 {
        self.mad * MAD_TO_SIGMA
    }

    /// Values seen.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// (x − mean) / max(deviation, floor). The floor keeps flat series (deviation ≈ 0)
    /// from turning every wobble into a huge score; pick it in the value's units (e.g. 1
    /// flow). If both are ≤ 0, 1e-9 is used so the score stays finite. 0 before any value.
    pub fn score(&self, x: f64, floor: f64) -> f64 {
        if self.n == 0 || !x.is_finite() {
            return 0.0;
        }
        let d = self.deviation().max(floor);
        let d = if d > 0.0 { d } else { 1e-9 };
        (x - self.mean) / d
    }
}

// ---------------------------------------------------------------------------------------
// Seasonal baseline
// ---------------------------------------------------------------------------------------

/// Expected value at a time, from a [`SeasonalBaseline`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expected {
    /// Expected value: the slot's mean plus the recent level correction.
    pub mean: f64,
    /// Expected spread (σ estimate) of values in the slot.
    pub deviation: f64,
    /// Values the slot has learned from.
    pub observations: u64,
}

impl Expected {
    /// (x − mean) / max(deviation, floor), finite (see [`Ewma::score`]).
    pub fn score(&self, x: f64, floor: f64) -> f64 {
        if !x.is_finite() {
            return 0.0;
        }
        let d = self.deviation.max(floor);
        let d = if d > 0.0 { d } else { 1e-9 };
        (x - self.mean) / d
    }
}

const DAY: i64 = 86_400;

/// Daily and weekly seasonality in event time.
///
/// * The day is cut into slots of `slot_secs` (3600 → 24 slots, 900 → 96); a value
///   observed at time t updates the [`Ewma`] of t's slot.
/// * Weekly pattern: there are two daily profiles, one for weekdays (Monday–Friday) and
///   one for weekends, chosen from the day of t (UTC, shifted by
///   [`SeasonalBaseline::with_utc_offset`] if set; 1970-01-01 was a Thursday). So Monday
///   09:00 is compared with earlier weekday 09:00s, Saturday 09:00 with earlier weekend
///   09:00s. A weekend slot needs `min_observations` weekend values of its own before it
///   answers: the first weekend is not scored.
/// * Level shifts: a slot learns only while its time of day comes round, so a lasting
///   change (a new customer, a migrated service) would take days to reach every slot. A
///   global level [`Ewma`] with a faster α_L (default 4·α, capped at 1) follows the
///   residuals (value − slot mean, before the slot learns) of every observation; its mean
///   is added to every slot's mean in [`SeasonalBaseline::expected`]. After a shift, n
///   observations close 1 − (1 − α_L)^n of the gap (63 % after 1/α_L, 95 % after 3/α_L);
///   as the slots catch up, residuals and the correction return to 0. The flip side: a sustained anomaly is learned as a new
///   level at that speed, so do not observe values you have alerted on if they should not
///   be learned.
/// * `slot_secs` is clamped into 60..=86400; a slot length that does not divide the day
///   leaves a shorter last slot. Memory: two Ewmas (32 B each) per slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SeasonalRepr")]
pub struct SeasonalBaseline {
    slot_secs: u32,
    slots_per_day: u32,
    min_observations: u64,
    utc_offset_secs: i32,
    /// Weekday slots followed by weekend slots.
    slots: Vec<Ewma>,
    level: Ewma,
}

/// Checkpoint form of [`SeasonalBaseline`], checked before use so a damaged checkpoint
/// cannot divide by zero or index past the slots.
#[derive(Deserialize)]
struct SeasonalRepr {
    slot_secs: u32,
    slots_per_day: u32,
    min_observations: u64,
    utc_offset_secs: i32,
    slots: Vec<Ewma>,
    level: Ewma,
}

impl TryFrom<SeasonalRepr> for SeasonalBaseline {
    type Error = String;
    fn try_from(r: SeasonalRepr) -> Result<Self, String> {
        let fresh = SeasonalBaseline::new(r.slot_secs, 0.1);
        if fresh.slot_secs != r.slot_secs
            || fresh.slots_per_day != r.slots_per_day
            || r.slots.len() != 2 * r.slots_per_day as usize
            || r.utc_offset_secs.unsigned_abs() > 14 * 3600
        {
            return Err(format!(
                "seasonal baseline of {} s slots with {} per day and {} profiles",
                r.slot_secs,
                r.slots_per_day,
                r.slots.len()
            ));
        }
        Ok(SeasonalBaseline {
            slot_secs: r.slot_secs,
            slots_per_day: r.slots_per_day,
            min_observations: r.min_observations.max(1),
            utc_offset_secs: r.utc_offset_secs,
            slots: r.slots,
            level: r.level,
        })
    }
}

impl SeasonalBaseline {
    /// A baseline with slots of `slot_secs` (60..=86400) and slot smoothing `alpha`.
    pub fn new(slot_secs: u32, alpha: f64) -> Self {
        let slot_secs = slot_secs.clamp(60, DAY as u32);
        let slots_per_day = (DAY as u32).div_ceil(slot_secs);
        let slot = Ewma::new(alpha);
        let level_alpha = (slot.alpha() * 4.0).min(1.0);
        SeasonalBaseline {
            slot_secs,
            slots_per_day,
            min_observations: 2,
            utc_offset_secs: 0,
            slots: vec![slot; 2 * slots_per_day as usize],
            level: Ewma::new(level_alpha),
        }
    }

    /// Observations a slot needs before [`SeasonalBaseline::expected`] answers (default 2,
    /// at least 1).
    pub fn with_min_observations(mut self, n: u64) -> Self {
        self.min_observations = n.max(1);
        self
    }

    /// Smoothing of the global level correction (default 4·alpha, capped at 1).
    pub fn with_level_alpha(mut self, alpha: f64) -> Self {
        self.level = Ewma::new(alpha);
        self
    }

    /// Local time offset from UTC in seconds (clamped to ±14 h) used to tell the day and
    /// the slot, for sectors whose week follows local time. Default 0 (UTC).
    pub fn with_utc_offset(mut self, secs: i32) -> Self {
        self.utc_offset_secs = secs.clamp(-14 * 3600, 14 * 3600);
        self
    }

    /// Slots per day.
    pub fn slots_per_day(&self) -> u32 {
        self.slots_per_day
    }

    /// True if `ts_secs` falls on a Saturday or Sunday (after the offset).
    pub fn is_weekend(&self, ts_secs: i64) -> bool {
        let t = ts_secs.saturating_add(i64::from(self.utc_offset_secs));
        // Day 0 (1970-01-01) was a Thursday; with Monday = 0 it is day-of-week 3.
        let dow = (t.div_euclid(DAY) + 3).rem_euclid(7);
        dow >= 5
    }

    fn slot_index(&self, ts_secs: i64) -> usize {
        let t = ts_secs.saturating_add(i64::from(self.utc_offset_secs));
        let sec = t.rem_euclid(DAY);
        let slot = (sec / i64::from(self.slot_secs.max(1))) as usize;
        let per_day = self.slots_per_day as usize;
        let base = if self.is_weekend(ts_secs) { per_day } else { 0 };
        base + slot.min(per_day.saturating_sub(1))
    }

    /// Learns `value` observed at `ts_secs` (ignored if not finite).
    pub fn observe(&mut self, ts_secs: i64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let i = self.slot_index(ts_secs);
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if slot.count() > 0 {
            self.level.update(value - slot.mean());
        }
        slot.update(value);
    }

    /// What the baseline expects at `ts_secs`; `None` until that slot has
    /// `min_observations` values.
    pub fn expected(&self, ts_secs: i64) -> Option<Expected> {
        let slot = self.slots.get(self.slot_index(ts_secs))?;
        if slot.count() < self.min_observations {
            return None;
        }
        Some(Expected {
            mean: slot.mean() + self.level.mean(),
            deviation: slot.deviation(),
            observations: slot.count(),
        })
    }

    /// True if [`SeasonalBaseline::expected`] answers at `ts_secs`.
    pub fn is_warm(&self, ts_secs: i64) -> bool {
        self.slots
            .get(self.slot_index(ts_secs))
            .is_some_and(|s| s.count() >= self.min_observations)
    }
}

// ---------------------------------------------------------------------------------------
// Robust window
// ---------------------------------------------------------------------------------------

/// The last n values in a ring, with median and MAD. Pushes are O(1) and never allocate
/// once full; queries copy and select, O(n) time and one allocation.
/// n is clamped into 1..=65536. Non-finite values are ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RobustRepr", into = "RobustRepr")]
pub struct RobustWindow {
    cap: usize,
    next: usize,
    buf: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct RobustRepr {
    cap: usize,
    next: usize,
    buf: Vec<f64>,
}

impl From<RobustWindow> for RobustRepr {
    fn from(w: RobustWindow) -> Self {
        RobustRepr {
            cap: w.cap,
            next: w.next,
            buf: w.buf,
        }
    }
}

impl TryFrom<RobustRepr> for RobustWindow {
    type Error = String;
    fn try_from(r: RobustRepr) -> Result<Self, String> {
        if !(1..=RobustWindow::MAX_N).contains(&r.cap)
            || r.buf.len() > r.cap
            || r.next >= r.cap
            || r.buf.iter().any(|x| !x.is_finite())
        {
            return Err(format!(
                "robust window of {} values at {} holding {}",
                r.cap,
                r.next,
                r.buf.len()
            ));
        }
        let mut buf = r.buf;
        buf.reserve_exact(r.cap - buf.len());
        Ok(RobustWindow {
            cap: r.cap,
            next: r.next,
            buf,
        })
    }
}

/// Median of a non-empty slice, reordering it.
fn median_in_place(v: &mut [f64]) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (lower, &mut m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    if n % 2 == 1 {
        return Some(m);
    }
    let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((below + m) / 2.0)
}

impl RobustWindow {
    /// Largest window accepted.
    pub const MAX_N: usize = 65_536;

    /// A window of the last `n` values (1..=65536).
    pub fn new(n: usize) -> Self {
        let cap = n.clamp(1, Self::MAX_N);
        RobustWindow {
            cap,
            next: 0,
            buf: Vec::with_capacity(cap),
        }
    }

    /// Adds a value, dropping the oldest when full.
    pub fn push(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if self.buf.len() < self.cap {
            self.buf.push(x);
        } else if let Some(slot) = self.buf.get_mut(self.next) {
            *slot = x;
        }
        self.next = (self.next + 1) % self.cap;
    }

    /// Values held (≤ n).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True if no value is held.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Median of the values held.
    pub fn median(&self) -> Option<f64> {
        let mut v = self.buf.clone();
        median_in_place(&mut v)
    }

    /// Median absolute deviation × 1.4826 (estimates σ for normal data).
    pub fn mad(&self) -> Option<f64> {
        let mut v = self.buf.clone();
        let med = median_in_place(&mut v)?;
        for x in &mut v {
            *x = (*x - med).abs();
        }
        median_in_place(&mut v).map(|m| m * 1.4826)
    }

    /// Forgets the values (keeps the allocation).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.next = 0;
    }
}

// ---------------------------------------------------------------------------------------
// CUSUM
// ---------------------------------------------------------------------------------------

/// Which side of a [`Cusum`] fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CusumAlarm {
    /// The series moved up.
    Up,
    /// The series moved down.
    Down,
}

/// Two-sided tabular CUSUM (Page 1954) on standardised residuals z (e.g. an
/// [`Expected::score`]): S⁺ = max(0, S⁺ + z − k), S⁻ = max(0, S⁻ − z − k); a side above h
/// fires and is reset to 0.
///
/// k is the slack, usually half the shift to detect in σ (k = 1 for 2σ); h the threshold.
/// With k = 1, h = 6 a 2σ shift fires in about 7 steps, while the two-sided in-control
/// average run length is several hundred thousand steps (k = 0.5, h = 5 detects 1σ
/// shifts but fires about every 465 steps on pure noise). Non-finite z is ignored;
/// invalid k (negative or non-finite) becomes 0.5 and invalid h (≤ 0 or non-finite) 5.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cusum {
    k: f64,
    h: f64,
    hi: f64,
    lo: f64,
}

impl Cusum {
    /// A CUSUM with slack `k` and threshold `h` (in σ units).
    pub fn new(k: f64, h: f64) -> Self {
        let k = if k.is_finite() && k >= 0.0 { k } else { 0.5 };
        let h = if h.is_finite() && h > 0.0 { h } else { 5.0 };
        Cusum {
            k,
            h,
            hi: 0.0,
            lo: 0.0,
        }
    }

    /// Feeds one standardised residual; returns the side that crossed h (and resets it).
    pub fn update(&mut self, z: f64) -> Option<CusumAlarm> {
        if !z.is_finite() {
            return None;
        }
        self.hi = (self.hi + z - self.k).max(0.0);
        self.lo = (self.lo - z - self.k).max(0.0);
        if self.hi > self.h {
            self.hi = 0.0;
            return Some(CusumAlarm::Up);
        }
        if self.lo > self.h {
            self.lo = 0.0;
            return Some(CusumAlarm::Down);
        }
        None
    }

    /// Upward statistic S⁺ (≥ 0).
    pub fn upper(&self) -> f64 {
        self.hi
    }

    /// Downward statistic S⁻, as a non-negative magnitude.
    pub fn lower(&self) -> f64 {
        self.lo
    }

    /// Zeroes both sides.
    pub fn reset(&mut self) {
        self.hi = 0.0;
        self.lo = 0.0;
    }
}

// ---------------------------------------------------------------------------------------
// String entropy
// ---------------------------------------------------------------------------------------

/// Shannon entropy of the byte distribution of `s`, in bits per character (0 for empty or
/// single-symbol strings, at most log2(len) and 8). Random base32/hex DNS labels score
/// near 4–5 bits, dictionary words near 2.5–3.5.
pub fn string_entropy_bits(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u64; 256];
    for &b in s {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    let sum: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let c = c as f64;
            c * c.log2()
        })
        .sum();
    (n.log2() - sum / n).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64 stream with Box–Muller normals: a test-only PRNG.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn unit(&mut self) -> f64 {
            ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.unit(), self.unit());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    #[test]
    fn welford_matches_two_pass_and_merges() {
        let xs: Vec<f64> = (0..1000).map(|i| 1e9 + f64::from(i % 17) * 0.5).collect();
        let mut w = Welford::new();
        for &x in &xs {
            w.push(x);
        }
        w.push(f64::NAN);
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
        assert_eq!(w.count(), 1000);
        assert!((w.mean() - mean).abs() < 1e-6);
        assert!((w.variance() - var).abs() < 1e-6 * var);
        let (a, b) = xs.split_at(337);
        let mut wa = Welford::new();
        let mut wb = Welford::new();
        a.iter().for_each(|&x| wa.push(x));
        b.iter().for_each(|&x| wb.push(x));
        wa.merge(&wb);
        assert_eq!(wa.count(), 1000);
        assert!((wa.mean() - w.mean()).abs() < 1e-6);
        assert!((wa.variance() - w.variance()).abs() < 1e-6 * var);
        let mut empty = Welford::new();
        empty.merge(&w);
        assert_eq!(empty, w);
        assert_eq!(Welford::new().cv(), None);
        let mut neg = Welford::new();
        neg.push(-1.0);
        neg.push(-3.0);
        assert_eq!(neg.cv(), None);
        // A beacon every 60 ± 0.6 s has a tiny CV; exponential gaps have CV ≈ 1.
        let mut beacon = Welford::new();
        let mut poisson = Welford::new();
        let mut rng = Rng(1);
        for _ in 0..2000 {
            beacon.push(60.0 + 0.6 * rng.normal());
            poisson.push(-60.0 * rng.unit().ln());
        }
        assert!(beacon.cv().unwrap() < 0.02);
        assert!((poisson.cv().unwrap() - 1.0).abs() < 0.1);
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(serde_json::from_str::<Welford>(&json).unwrap(), w);
    }

    #[test]
    fn ewma_deviation_estimates_sigma() {
        let mut rng = Rng(2);
        let alpha = 0.02;
        let mut e = Ewma::new(alpha);
        // One value of the deviation follows the last ~1/α values and wanders ±8 %;
        // its average over time is the estimate's expectation.
        let mut dev = Welford::new();
        for i in 0..40_000 {
            e.update(50.0 + 4.0 * rng.normal());
            if i >= 1000 {
                dev.push(e.deviation());
            }
        }
        assert_eq!(e.count(), 40_000);
        assert!((e.mean() - 50.0).abs() < 1.0, "{}", e.mean());
        let documented = 4.0 * (1.0 + alpha / (2.0 - alpha)).sqrt();
        assert!(
            (dev.mean() - documented).abs() < 0.03 * documented,
            "{}",
            dev.mean()
        );
        assert!(e.score(50.0 + 4.0 * 5.0, 0.1) > 4.0);
        assert!(e.score(50.0, 0.1).abs() < 0.5);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Ewma>(&json).unwrap(), e);
    }

    #[test]
    fn ewma_edges_stay_finite() {
        let mut e = Ewma::new(f64::NAN);
        assert_eq!(e.alpha(), 0.1);
        assert_eq!(Ewma::new(0.0).alpha(), 0.1);
        assert_eq!(Ewma::new(1.0).alpha(), 1.0);
        assert_eq!(e.score(10.0, 1.0), 0.0);
        e.update(3.0);
        e.update(f64::INFINITY);
        assert_eq!((e.mean(), e.deviation(), e.count()), (3.0, 0.0, 1));
        assert_eq!(e.score(4.0, 2.0), 0.5);
        let s = e.score(4.0, 0.0);
        assert!(s.is_finite() && s > 1e6);
        // A level shift is followed at rate α.
        let mut f = Ewma::new(0.2);
        for _ in 0..50 {
            f.update(10.0);
        }
        for _ in 0..30 {
            f.update(20.0);
        }
        assert!((f.mean() - 20.0).abs() < 0.02);
    }

    const DAY_SECS: i64 = 86_400;
    /// Monday 2024-01-01 00:00 UTC.
    const MONDAY: i64 = 1_704_067_200;

    fn diurnal(t: i64, weekend: bool) -> f64 {
        let phase = std::f64::consts::TAU * (t.rem_euclid(DAY_SECS) as f64) / DAY_SECS as f64;
        if weekend {
            30.0 + 10.0 * phase.sin()
        } else {
            100.0 + 50.0 * phase.sin()
        }
    }

    #[test]
    fn weekday_and_weekend_from_utc_day() {
        let b = SeasonalBaseline::new(3600, 0.1);
        assert!(!b.is_weekend(0)); // 1970-01-01, a Thursday
        assert!(b.is_weekend(2 * DAY_SECS)); // Saturday
        assert!(b.is_weekend(3 * DAY_SECS + 86_399)); // Sunday, last second
        assert!(!b.is_weekend(4 * DAY_SECS)); // Monday
        assert!(!b.is_weekend(-1)); // 1969-12-31, a Wednesday
        assert!(b.is_weekend(-5 * DAY_SECS)); // 1969-12-27, a Saturday
        assert!(!b.is_weekend(MONDAY) && b.is_weekend(MONDAY + 5 * DAY_SECS));
        // Local time: Monday 01:00 at UTC+2 is still Sunday 23:00 UTC.
        let local = SeasonalBaseline::new(3600, 0.1).with_utc_offset(2 * 3600);
        assert!(b.is_weekend(MONDAY - 3600) && !local.is_weekend(MONDAY - 3600));
        assert_eq!(SeasonalBaseline::new(900, 0.1).slots_per_day(), 96);
        assert_eq!(SeasonalBaseline::new(0, 0.1).slots_per_day(), 1440);
        assert_eq!(SeasonalBaseline::new(7000, 0.1).slots_per_day(), 13);
        assert_eq!(SeasonalBaseline::new(u32::MAX, 0.1).slots_per_day(), 1);
        // Extreme timestamps do not panic.
        let mut x = SeasonalBaseline::new(3600, 0.1);
        x.observe(i64::MIN, 1.0);
        x.observe(i64::MAX, 1.0);
        let _ = x.expected(i64::MIN);
    }

    #[test]
    fn seasonal_baseline_learns_diurnal_and_weekly_shape() {
        let mut rng = Rng(3);
        let mut b = SeasonalBaseline::new(3600, 0.1);
        let step = 300;
        // Three weeks of 5-minute observations.
        let end = MONDAY + 21 * DAY_SECS;
        assert!(b.expected(MONDAY).is_none() && !b.is_warm(MONDAY));
        let mut t = MONDAY;
        while t < end {
            let v = diurnal(t, b.is_weekend(t)) + 3.0 * rng.normal();
            b.observe(t, v);
            t += step;
        }
        // The next (weekday) day: ordinary values score small, a spike scores big.
        let mut worst = 0.0f64;
        let mut t = end;
        while t < end + DAY_SECS {
            let e = b.expected(t).expect("warm after three weeks");
            assert!(b.is_warm(t));
            let v = diurnal(t, false) + 3.0 * rng.normal();
            worst = worst.max(e.score(v, 1.0).abs());
            t += step;
        }
        assert!(worst < 4.5, "worst ordinary score {worst}");
        let noon = end + 6 * 3600;
        let e = b.expected(noon).unwrap();
        assert!((e.mean - diurnal(noon, false)).abs() < 10.0, "{e:?}");
        assert!(e.score(diurnal(noon, false) + 150.0, 1.0) > 10.0);
        // The weekend profile is its own: Saturday noon expects ~40, not ~150.
        let saturday_noon = end + 5 * DAY_SECS + 6 * 3600;
        let w = b.expected(saturday_noon).unwrap();
        assert!((w.mean - 40.0).abs() < 5.0, "{w:?}");
        assert!(w.score(150.0, 1.0) > 10.0);
        assert!(e.observations > w.observations);
        // serde_json may round the last bit of a float; the restored answers agree.
        let json = serde_json::to_string(&b).unwrap();
        let back: SeasonalBaseline = serde_json::from_str(&json).unwrap();
        for h in 0..48 {
            let (x, y) = (
                b.expected(end + h * 3600).unwrap(),
                back.expected(end + h * 3600).unwrap(),
            );
            assert!((x.mean - y.mean).abs() < 1e-9 && (x.deviation - y.deviation).abs() < 1e-9);
            assert_eq!(x.observations, y.observations);
        }
        let broken = json.replacen("\"slot_secs\":3600", "\"slot_secs\":0", 1);
        assert!(serde_json::from_str::<SeasonalBaseline>(&broken).is_err());
        let short = r#"{"slot_secs":3600,"slots_per_day":24,"min_observations":2,
            "utc_offset_secs":0,"slots":[],"level":{"alpha":0.4,"mean":0,"mad":0,"n":0}}"#;
        assert!(serde_json::from_str::<SeasonalBaseline>(short).is_err());
    }

    #[test]
    fn seasonal_baseline_follows_a_level_shift() {
        let mut b = SeasonalBaseline::new(3600, 0.05).with_min_observations(3);
        let mut t = MONDAY;
        for _ in 0..(7 * 24) {
            b.observe(t, 100.0);
            t += 3600;
        }
        assert!((b.expected(t).unwrap().mean - 100.0).abs() < 1e-9);
        // Traffic doubles for good: within a few hours every slot expects the new level,
        // although each slot has seen it at most once.
        // The level α is 4 × 0.05 = 0.2: 1 − 0.8^15 = 96.5 % of the gap after 15 hours.
        for _ in 0..15 {
            b.observe(t, 200.0);
            t += 3600;
        }
        let later = b.expected(t + 3 * 3600).unwrap();
        assert!(later.mean > 195.0 && later.mean < 200.0, "{later:?}");
        // Fresh baseline: no answer before min_observations.
        let mut c = SeasonalBaseline::new(3600, 0.05).with_min_observations(3);
        c.observe(MONDAY, 1.0);
        c.observe(MONDAY + DAY_SECS, 1.0);
        assert!(!c.is_warm(MONDAY + 2 * DAY_SECS));
        c.observe(MONDAY + 2 * DAY_SECS, 1.0);
        assert!(c.is_warm(MONDAY + 3 * DAY_SECS));
        assert!(!c.is_warm(MONDAY + 5 * DAY_SECS)); // Saturday: its own profile, empty
    }

    #[test]
    fn robust_window_median_and_mad() {
        let mut w = RobustWindow::new(5);
        assert_eq!((w.median(), w.mad(), w.len()), (None, None, 0));
        for x in [1.0, 100.0, 2.0, 3.0] {
            w.push(x);
        }
        assert_eq!(w.median(), Some(2.5));
        for x in [4.0, 5.0, f64::NAN] {
            w.push(x);
        }
        // Holds the last five finite values: the 1 dropped, 100, 2, 3, 4, 5 kept.
        assert_eq!(w.len(), 5);
        assert_eq!(w.median(), Some(4.0));
        // |x − 4| over (100, 2, 3, 4, 5): 96, 2, 1, 0, 1 → median 1.
        assert_eq!(w.mad(), Some(1.4826));
        let cap = w.buf.capacity();
        for i in 0..1000 {
            w.push(f64::from(i));
        }
        assert_eq!(w.buf.capacity(), cap, "no allocation per push");
        assert_eq!(w.median(), Some(997.0));
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(serde_json::from_str::<RobustWindow>(&json).unwrap(), w);
        assert!(serde_json::from_str::<RobustWindow>(r#"{"cap":2,"next":5,"buf":[]}"#).is_err());
        assert!(serde_json::from_str::<RobustWindow>(r#"{"cap":1,"next":0,"buf":[1,2]}"#).is_err());
        assert_eq!(RobustWindow::new(0).buf.capacity(), 1);
        // MAD of normal data estimates σ, and one outlier barely moves it.
        let mut rng = Rng(4);
        let mut n = RobustWindow::new(501);
        for _ in 0..500 {
            n.push(10.0 + 2.0 * rng.normal());
        }
        n.push(1e9);
        assert!((n.median().unwrap() - 10.0).abs() < 0.3);
        assert!((n.mad().unwrap() - 2.0).abs() < 0.3);
    }

    #[test]
    fn cusum_is_quiet_on_noise_and_fires_on_a_two_sigma_shift() {
        let mut rng = Rng(5);
        let mut c = Cusum::new(1.0, 6.0);
        for i in 0..10_000 {
            assert_eq!(c.update(rng.normal()), None, "false alarm at {i}");
        }
        let mut fired = None;
        for step in 1..=15 {
            if let Some(a) = c.update(2.0 + rng.normal()) {
                fired = Some((step, a));
                break;
            }
        }
        let (step, side) = fired.expect("no alarm within 15 steps of a 2σ shift");
        assert_eq!(side, CusumAlarm::Up);
        assert_eq!(c.upper(), 0.0, "the side that fired is reset ({step})");
        c.reset();
        let mut down = None;
        for step in 1..=15 {
            if let Some(a) = c.update(-2.0 + rng.normal()) {
                down = Some((step, a));
                break;
            }
        }
        assert_eq!(down.map(|d| d.1), Some(CusumAlarm::Down));
        assert_eq!(c.lower(), 0.0);
        let mut d = Cusum::new(-1.0, f64::NAN);
        assert_eq!(d.update(f64::NAN), None);
        assert_eq!(d.update(5.4), None);
        assert!((d.upper() - 4.9).abs() < 1e-12);
        assert_eq!(d.update(0.7), Some(CusumAlarm::Up));
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Cusum>(&json).unwrap(), d);
    }

    #[test]
    fn string_entropy() {
        assert_eq!(string_entropy_bits(b""), 0.0);
        assert_eq!(string_entropy_bits(b"aaaa"), 0.0);
        assert!((string_entropy_bits(b"ab") - 1.0).abs() < 1e-12);
        assert!((string_entropy_bits(b"abcd") - 2.0).abs() < 1e-12);
        assert!((string_entropy_bits(b"aabb") - 1.0).abs() < 1e-12);
        let all: Vec<u8> = (0..=255).collect();
        assert!((string_entropy_bits(&all) - 8.0).abs() < 1e-12);
        // A tunnelling label against a hostname.
        let tunnel = string_entropy_bits(b"mzxw6ytboi4dsnbvgy3tqojqgeydeq3t");
        let word = string_entropy_bits(b"mailserver");
        assert!(tunnel > 3.5 && word < 3.2, "{tunnel} {word}");
    }
}

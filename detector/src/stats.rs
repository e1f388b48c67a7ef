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
///   global level [`Ewma`] with a faster α (default 4·α, capped at 1) follows the
///   residuals (value − slot mean, before the slot learns) of every observation; its mean
///   is added to every slot's mean in [`SeasonalBaseline::expected`]. After a shift the
///   correction follows within ~1/level-α observations; as the slots catch up, residuals
///   and the correction return to 0. The flip side: a sustained anomaly is learned as a new
///   level at that speed, so do not observe values you have alerted on if they should not
///   be learned.
/// * `slot_secs` is clamped into 60..=86400; a slot length that does not divide the day
///   leaves a shorter last slot. Memory: two Ewmas (32 B each) per slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeasonalBaseline {
    slot_secs: u32,
    slots_per_day: u32,
    min_observations: u64,
    utc_offset_secs: i32,
    /// Weekday slots followed by weekend slots.
    slots: Vec<Ewma>,
    level: Ewma,
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
        let slot = (sec / i64::from(self.slot_secs)) as usize;
        let base = if self.is_weekend(ts_secs) {
            self.slots_per_day as usize
        } else {
            0
        };
        base + slot.min(self.slots_per_day as usize - 1)
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

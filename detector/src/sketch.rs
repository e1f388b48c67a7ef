//! Fixed-memory stream summaries for the detectors: hashing, distinct counts, frequencies,
//! heavy hitters and entropy. Every structure here is pure, never panics on any input,
//! uses memory fixed by its parameters (never by traffic), and serialises with serde so
//! detector state can be checkpointed and restored.
//!
//! | structure | answers | error bound | memory |
//! |---|---|---|---|
//! | [`Hll`] | distinct count | relative std error 1.04/√m, m = 2^p (p=10: 3.25 %, p=12: 1.63 %, p=14: 0.81 %) | m bytes (p=10: 1 KiB) |
//! | [`Distinct`] | distinct count, exact when small | exact up to [`Distinct::EXACT_MAX`] values, then as [`Hll`] at p=[`Distinct::HLL_P`] (3.25 %) | ≤ 128 B of hashes, then 1 KiB |
//! | [`CountMin`] | frequency of a key | never under; over by ≤ ε·N with probability ≥ 1−δ, ε = e/width, δ = e^−depth | 8·width·depth bytes |
//! | [`SpaceSaving`] | top-k heavy hitters | every key with true count > N/k is kept; count − error ≤ true ≤ count | k × (2 keys + 28 B) plus the index table (k = 1024, u64 keys: ≈ 60 KiB) |
//! | [`HashedEntropy`] | Shannon entropy of a distribution | biased low by bucket collisions (see its doc); exact when no collisions | 4·2^b bytes (b=10: 4 KiB) |
//!
//! ```
//! use ncsoc_detector::sketch::{hash_ip, hash_pair, CountMin, Distinct, SpaceSaving};
//! use std::net::IpAddr;
//!
//! let src: IpAddr = "198.51.100.7".parse().unwrap();
//! let mut peers = Distinct::new(); // distinct destination ports of one source
//! for port in [22u16, 23, 80, 443, 3389] {
//!     peers.insert_hash(hash_pair(hash_ip(&src), u64::from(port)));
//! }
//! assert_eq!(peers.len_exact(), Some(5));
//!
//! let mut bytes = CountMin::with_error(0.001, 0.01);
//! bytes.add(hash_ip(&src), 1500);
//! assert!(bytes.estimate(hash_ip(&src)) >= 1500);
//!
//! let mut talkers = SpaceSaving::new(100);
//! talkers.add(src, 1500);
//! assert_eq!(talkers.top(1)[0], (src, 1500, 0));
//! ```
//!
//! N is the total weight added. "Hash" everywhere means a 64-bit value from [`hash64`],
//! [`hash_ip`], [`hash_pair`] or [`mix64`]; the sketches assume its bits look uniform.
//!
//! # Hashing
//! The hashes are deterministic: no per-process seed, so replaying the same input gives
//! the same sketches, estimates and alerts on any machine. The price is that someone who
//! knows the functions can choose inputs that collide; what they gain is bounded by the
//! structures (a collision can inflate a count-min cell or merge two entropy buckets; it
//! cannot grow memory or slow an update). [`SpaceSaving`] keeps its key index in a std
//! `HashMap` with a random seed, which changes no result, only lookup speed.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------------------

const K0: u64 = 0xa076_1d64_78bd_642f;
const K1: u64 = 0xe703_7ed1_a0b4_28db;
const K2: u64 = 0x8ebc_6af0_9c88_c6e3;
const K3: u64 = 0x5899_65cc_7537_4cc3;
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// Multiplies to 128 bits and folds the halves together with xor.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline(always)]
fn read_u64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = b.len().min(8);
    w[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(w)
}

/// Strong 64-bit mixer: splitmix64's output function applied to `x + φ·2^64`. A bijection
/// on u64 with full avalanche (each input bit flips each output bit with probability ≈ ½).
/// Use it to hash integer keys (ports, ASNs, already-combined hashes).
#[inline]
pub fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Deterministic 64-bit hash of a byte string (wyhash-style folded multiplies over 16-byte
/// blocks, the length mixed in, finished by [`mix64`]). Not cryptographic.
#[inline]
pub fn hash64(bytes: &[u8]) -> u64 {
    hash64_seeded(bytes, 0)
}

/// [`hash64`] with a seed mixed in (seed 0 is [`hash64`]); for in-memory tables only.
#[inline]
fn hash64_seeded(bytes: &[u8], seed: u64) -> u64 {
    let len = bytes.len() as u64;
    let mut seed = K0 ^ fold_mul(len ^ K1, K2) ^ seed;
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        let a = read_u64(&block[..8]);
        let b = read_u64(&block[8..]);
        seed = fold_mul(a ^ K1, b ^ seed);
    }
    let rest = blocks.remainder();
    let (a, b) = if rest.len() > 8 {
        (read_u64(&rest[..8]), read_u64(&rest[8..]))
    } else {
        (read_u64(rest), 0)
    };
    mix64(fold_mul(a ^ K2, b ^ seed ^ K3) ^ len)
}

/// Ordered combination of two hashes (`hash_pair(a, b) != hash_pair(b, a)` in general), for
/// keys such as (source, destination) or (host, port). Injective in each argument when the
/// other is fixed.
#[inline]
pub fn hash_pair(a: u64, b: u64) -> u64 {
    mix64(a.wrapping_add(K1) ^ mix64(b ^ K2))
}

/// Hash of an IP address. An IPv4 address and its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`)
/// hash the same, so dual-stack sensors count one host once.
#[inline]
pub fn hash_ip(ip: &IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => hash_v4(u32::from(*v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => hash_v4(u32::from(v4)),
            None => {
                let x = u128::from(*v6);
                hash_pair((x >> 64) as u64 ^ K3, x as u64)
            }
        },
    }
}

#[inline]
fn hash_v4(x: u32) -> u64 {
    // The tag keeps IPv4 addresses apart from small integers hashed with mix64.
    mix64(u64::from(x) ^ K0)
}

// ---------------------------------------------------------------------------------------
// HyperLogLog
// ---------------------------------------------------------------------------------------

/// HyperLogLog distinct counter (Flajolet et al. 2007) with precision `p`: m = 2^p
/// one-byte registers, the register index taken from the hash's top `p` bits and the rank
/// from the rest.
///
/// * Error: relative standard error 1.04/√m (p=10: 3.25 %, p=12: 1.63 %, p=14: 0.81 %),
///   measured in this module's tests. Small cardinalities (estimate ≤ 2.5·m with empty
///   registers) use linear counting, which is close to exact there. With 64-bit hashes no
///   large-range correction is needed. The raw estimator's bias just above 2.5·m is a few
///   percent for p ≥ 8; smaller p is allowed but rougher.
/// * Memory: m bytes on the heap (p=4: 16 B ... p=16: 64 KiB).
/// * `p` outside 4..=16 is clamped into that range (never an error or a panic); read
///   [`Hll::precision`] for the value in use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "HllRepr", into = "HllRepr")]
pub struct Hll {
    p: u8,
    registers: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct HllRepr {
    p: u8,
    registers: Vec<u8>,
}

impl From<Hll> for HllRepr {
    fn from(h: Hll) -> Self {
        HllRepr {
            p: h.p,
            registers: h.registers,
        }
    }
}

impl TryFrom<HllRepr> for Hll {
    type Error = String;
    fn try_from(r: HllRepr) -> Result<Self, String> {
        if !(Hll::MIN_P..=Hll::MAX_P).contains(&r.p) {
            return Err(format!("hll precision {} outside 4..=16", r.p));
        }
        if r.registers.len() != 1usize << r.p {
            return Err(format!(
                "hll with precision {} needs {} registers, got {}",
                r.p,
                1usize << r.p,
                r.registers.len()
            ));
        }
        let max_rank = 64 - r.p + 1;
        if r.registers.iter().any(|&x| x > max_rank) {
            return Err(format!("hll register above the maximum rank {max_rank}"));
        }
        Ok(Hll {
            p: r.p,
            registers: r.registers,
        })
    }
}

impl Hll {
    /// Smallest precision accepted.
    pub const MIN_P: u8 = 4;
    /// Largest precision accepted.
    pub const MAX_P: u8 = 16;

    /// An empty counter with precision `p`, clamped into 4..=16.
    pub fn new(p: u8) -> Self {
        let p = p.clamp(Self::MIN_P, Self::MAX_P);
        Hll {
            p,
            registers: vec![0; 1 << p],
        }
    }

    /// The precision in use (after clamping).
    pub fn precision(&self) -> u8 {
        self.p
    }

    /// Adds one hashed value.
    #[inline]
    pub fn insert_hash(&mut self, h: u64) {
        self.insert_hash_changed(h);
    }

    /// Adds one hashed value; true if a register grew (the value may be new). False means
    /// the value certainly made no difference to the estimate.
    #[inline]
    pub fn insert_hash_changed(&mut self, h: u64) -> bool {
        let p = u32::from(self.p);
        let idx = (h >> (64 - p)) as usize;
        let w = h << p;
        // leading_zeros of 0 is 64; the cap keeps the rank within the 64 − p bits left.
        let rank = (w.leading_zeros() + 1).min(64 - p + 1) as u8;
        match self.registers.get_mut(idx) {
            Some(r) if *r < rank => {
                *r = rank;
                true
            }
            _ => false,
        }
    }

    /// Estimated number of distinct hashes inserted.
    pub fn estimate(&self) -> f64 {
        let m = self.registers.len() as f64;
        let mut sum = 0.0f64;
        let mut zeros = 0usize;
        for &r in &self.registers {
            // 2^-r, built from the exponent bits; r ≤ 61 so the value is a normal f64.
            sum += f64::from_bits((1023 - u64::from(r)) << 52);
            zeros += usize::from(r == 0);
        }
        let alpha = match self.registers.len() {
            16 => 0.673,
            32 => 0.697,
            64 => 0.709,
            _ => 0.7213 / (1.0 + 1.079 / m),
        };
        let raw = alpha * m * m / sum;
        if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        }
    }

    /// Union with `other`: afterwards `self` estimates the distinct count of both streams.
    ///
    /// Precisions may differ. A finer `other` is folded down to `self`'s precision exactly
    /// (the result equals having inserted its hashes at `self`'s precision). If `other` is
    /// coarser, `self` is first folded down to `other`'s precision, so `self` loses
    /// precision: the union of two counters is only as precise as the coarser one.
    pub fn merge(&mut self, other: &Hll) {
        if other.p < self.p {
            *self = self.folded(other.p);
        }
        if other.p == self.p {
            for (a, &b) in self.registers.iter_mut().zip(&other.registers) {
                *a = (*a).max(b);
            }
        } else {
            let folded = other.folded(self.p);
            for (a, &b) in self.registers.iter_mut().zip(&folded.registers) {
                *a = (*a).max(b);
            }
        }
    }

    /// This counter at a lower precision `p` (≤ self's), as if every hash had been inserted
    /// there. Returns a clone if `p` is not lower.
    pub fn folded(&self, p: u8) -> Hll {
        let p = p.clamp(Self::MIN_P, Self::MAX_P);
        if p >= self.p {
            return self.clone();
        }
        let shift = u32::from(self.p - p);
        let mut out = Hll::new(p);
        for (j, &r) in self.registers.iter().enumerate() {
            if r == 0 {
                continue;
            }
            // The low `shift` index bits become the leading bits of the rank word.
            let s = (j as u64) & ((1u64 << shift) - 1);
            let rank = if s == 0 {
                shift as u8 + r
            } else {
                (shift - (64 - s.leading_zeros()) + 1) as u8
            };
            if let Some(dst) = out.registers.get_mut(j >> shift) {
                *dst = (*dst).max(rank);
            }
        }
        out
    }

    /// Forgets everything inserted.
    pub fn clear(&mut self) {
        self.registers.fill(0);
    }

    /// Bytes owned on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.registers.capacity()
    }
}

// ---------------------------------------------------------------------------------------
// Distinct: exact while small, then HyperLogLog
// ---------------------------------------------------------------------------------------

/// Adaptive distinct counter for keys that mostly see few distinct values (ports per host,
/// peers per host): exact while it has seen at most [`Distinct::EXACT_MAX`] distinct hashes
/// (kept in a small vector, ≤ 128 B), then an [`Hll`] with precision [`Distinct::HLL_P`]
/// (relative std error 3.25 %, 1 KiB). "Exact" is exact in 64-bit hashes: two values
/// collide with probability ~n²/2^65.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "DistinctInner", into = "DistinctInner")]
pub struct Distinct {
    inner: DistinctInner,
}

impl From<Distinct> for DistinctInner {
    fn from(d: Distinct) -> Self {
        d.inner
    }
}

impl From<DistinctInner> for Distinct {
    /// Re-inserts a loaded exact list, so duplicates or an over-long list from a damaged
    /// checkpoint cannot make the exact count wrong.
    fn from(inner: DistinctInner) -> Self {
        match inner {
            DistinctInner::Hll(h) => Distinct {
                inner: DistinctInner::Hll(h),
            },
            DistinctInner::Exact(v) => {
                let mut d = Distinct::new();
                for &h in v.iter() {
                    d.insert_hash(h);
                }
                d
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum DistinctInner {
    Exact(ExactSet),
    Hll(Hll),
}

/// The exact values of a small [`Distinct`]: the first four inline (most entities see
/// one or two destinations or ports, and then tracking them allocates nothing), then on
/// the heap up to [`Distinct::EXACT_MAX`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<u64>", into = "Vec<u64>")]
enum ExactSet {
    Inline { n: u8, v: [u64; 4] },
    Heap(Vec<u64>),
}

impl ExactSet {
    fn new() -> Self {
        ExactSet::Inline { n: 0, v: [0; 4] }
    }
    fn as_slice(&self) -> &[u64] {
        match self {
            ExactSet::Inline { n, v } => &v[..usize::from(*n)],
            ExactSet::Heap(v) => v,
        }
    }
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn contains(&self, h: &u64) -> bool {
        self.as_slice().contains(h)
    }
    fn iter(&self) -> std::slice::Iter<'_, u64> {
        self.as_slice().iter()
    }
    fn push(&mut self, h: u64) {
        match self {
            ExactSet::Inline { n, v } if usize::from(*n) < v.len() => {
                v[usize::from(*n)] = h;
                *n += 1;
            }
            ExactSet::Inline { v, .. } => {
                let mut heap = Vec::with_capacity(Distinct::EXACT_MAX);
                heap.extend_from_slice(v);
                heap.push(h);
                *self = ExactSet::Heap(heap);
            }
            ExactSet::Heap(v) => v.push(h),
        }
    }
    fn heap_bytes(&self) -> usize {
        match self {
            ExactSet::Inline { .. } => 0,
            ExactSet::Heap(v) => v.capacity() * std::mem::size_of::<u64>(),
        }
    }
}

impl From<Vec<u64>> for ExactSet {
    fn from(v: Vec<u64>) -> Self {
        let mut s = ExactSet::new();
        // A damaged checkpoint may hold more than EXACT_MAX: `Distinct` re-inserts them
        // and so turns them into a HyperLogLog.
        for h in v.into_iter().take(1 << 16) {
            if !s.as_slice().contains(&h) {
                s.push(h);
            }
        }
        s
    }
}

impl From<ExactSet> for Vec<u64> {
    fn from(s: ExactSet) -> Self {
        s.as_slice().to_vec()
    }
}

impl Default for Distinct {
    fn default() -> Self {
        Self::new()
    }
}

impl Distinct {
    /// Distinct hashes kept exactly before switching to HyperLogLog.
    pub const EXACT_MAX: usize = 16;
    /// HyperLogLog precision after the switch.
    pub const HLL_P: u8 = 10;

    /// An empty counter; allocates nothing until the first insert.
    pub fn new() -> Self {
        Distinct {
            inner: DistinctInner::Exact(ExactSet::new()),
        }
    }

    /// Adds one hashed value. Returns true if the value may be new: the exact count grew,
    /// or (after the switch) an HLL register grew. False means it was certainly seen.
    #[inline]
    pub fn insert_hash(&mut self, h: u64) -> bool {
        match &mut self.inner {
            DistinctInner::Exact(v) => {
                if v.contains(&h) {
                    return false;
                }
                if v.len() < Self::EXACT_MAX {
                    v.push(h);
                    return true;
                }
                let mut hll = Hll::new(Self::HLL_P);
                for &x in v.iter() {
                    hll.insert_hash(x);
                }
                hll.insert_hash(h);
                self.inner = DistinctInner::Hll(hll);
                true
            }
            DistinctInner::Hll(hll) => hll.insert_hash_changed(h),
        }
    }

    /// Distinct count: exact while [`Distinct::len_exact`] is `Some`, else the HLL estimate.
    pub fn estimate(&self) -> f64 {
        match &self.inner {
            DistinctInner::Exact(v) => v.len() as f64,
            DistinctInner::Hll(h) => h.estimate(),
        }
    }

    /// The exact count while still exact.
    pub fn len_exact(&self) -> Option<usize> {
        match &self.inner {
            DistinctInner::Exact(v) => Some(v.len()),
            DistinctInner::Hll(_) => None,
        }
    }

    /// Union with `other`. Stays exact if the union has at most `EXACT_MAX` values.
    pub fn merge(&mut self, other: &Distinct) {
        match &other.inner {
            DistinctInner::Exact(v) => {
                for &h in v.iter() {
                    self.insert_hash(h);
                }
            }
            DistinctInner::Hll(o) => match &mut self.inner {
                DistinctInner::Hll(s) => s.merge(o),
                DistinctInner::Exact(v) => {
                    let mut hll = o.clone();
                    for &h in v.iter() {
                        hll.insert_hash(h);
                    }
                    self.inner = DistinctInner::Hll(hll);
                }
            },
        }
    }

    /// Forgets everything (and returns to exact mode, freeing the HLL).
    pub fn clear(&mut self) {
        self.inner = DistinctInner::Exact(ExactSet::new());
    }

    /// Bytes owned on the heap.
    pub fn heap_bytes(&self) -> usize {
        match &self.inner {
            DistinctInner::Exact(v) => v.heap_bytes(),
            DistinctInner::Hll(h) => h.heap_bytes(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Count-min
// ---------------------------------------------------------------------------------------

/// Count-min sketch (Cormode & Muthukrishnan 2005): `depth` rows of `width` u64 counters.
///
/// * Guarantee: [`CountMin::estimate`] never under-estimates a key's total, and
///   over-estimates it by at most ε·N with probability at least 1 − δ, where
///   N = [`CountMin::total`], ε = e/width and δ = e^−depth. [`CountMin::with_error`] picks
///   width = ⌈e/ε⌉ and depth = ⌈ln(1/δ)⌉.
/// * Memory: 8·width·depth bytes (ε = 0.001, δ = 0.01: 2719 × 5, 106 KiB).
/// * Update: [`CountMin::add`] is the plain update (every row incremented), so sketches
///   with the same shape merge by addition. [`CountMin::add_conservative`] is also offered:
///   it raises each row only as far as needed (much smaller over-estimates on skewed
///   traffic, same guarantee), but a sketch fed that way must not be merged.
/// * Rows are indexed by double hashing of the one 64-bit key hash, so the key needs
///   hashing once, not once per row.
/// * Limits: width is clamped to 1..=2^24 and depth to 1..=16, so a configuration typo
///   cannot allocate without bound. Counters saturate at u64::MAX.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CountMinRepr", into = "CountMinRepr")]
pub struct CountMin {
    width: usize,
    depth: usize,
    total: u64,
    counters: Vec<u64>,
}

#[derive(Serialize, Deserialize)]
struct CountMinRepr {
    width: usize,
    depth: usize,
    total: u64,
    counters: Vec<u64>,
}

impl From<CountMin> for CountMinRepr {
    fn from(c: CountMin) -> Self {
        CountMinRepr {
            width: c.width,
            depth: c.depth,
            total: c.total,
            counters: c.counters,
        }
    }
}

impl TryFrom<CountMinRepr> for CountMin {
    type Error = String;
    fn try_from(r: CountMinRepr) -> Result<Self, String> {
        if !(1..=CountMin::MAX_WIDTH).contains(&r.width)
            || !(1..=CountMin::MAX_DEPTH).contains(&r.depth)
            || r.counters.len() != r.width * r.depth
        {
            return Err(format!(
                "count-min of {}×{} with {} counters",
                r.width,
                r.depth,
                r.counters.len()
            ));
        }
        Ok(CountMin {
            width: r.width,
            depth: r.depth,
            total: r.total,
            counters: r.counters,
        })
    }
}

impl CountMin {
    /// Largest width accepted (more is clamped).
    pub const MAX_WIDTH: usize = 1 << 24;
    /// Largest depth accepted (more is clamped).
    pub const MAX_DEPTH: usize = 16;

    /// A sketch of `depth` rows × `width` counters, each clamped into its limits.
    pub fn new(width: usize, depth: usize) -> Self {
        let width = width.clamp(1, Self::MAX_WIDTH);
        let depth = depth.clamp(1, Self::MAX_DEPTH);
        CountMin {
            width,
            depth,
            total: 0,
            counters: vec![0; width * depth],
        }
    }

    /// A sketch whose over-estimate is ≤ `eps`·N with probability ≥ 1 − `delta`.
    /// Non-finite or non-positive arguments fall back to ε = 0.001 and δ = 0.01; the
    /// resulting shape is clamped as in [`CountMin::new`].
    pub fn with_error(eps: f64, delta: f64) -> Self {
        let eps = if eps.is_finite() && eps > 0.0 {
            eps
        } else {
            0.001
        };
        let delta = if delta.is_finite() && delta > 0.0 && delta < 1.0 {
            delta
        } else {
            0.01
        };
        let width = (std::f64::consts::E / eps).ceil();
        let depth = (1.0 / delta).ln().ceil();
        // `as` saturates for out-of-range floats; new() clamps.
        Self::new(width as usize, depth as usize)
    }

    /// Counters per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Rows.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Adds `n` to the key with hash `h` (plain update: every row).
    #[inline]
    pub fn add(&mut self, h: u64, n: u64) {
        self.total = self.total.saturating_add(n);
        // Kirsch–Mitzenmacher: row i uses g_i = h + i·h2, mapped onto the row by
        // multiply-shift (the high bits of g_i · width).
        let h2 = mix64(h) | 1;
        let mut g = h;
        for row in 0..self.depth {
            let col = ((u128::from(g) * self.width as u128) >> 64) as usize;
            if let Some(c) = self.counters.get_mut(row * self.width + col) {
                *c = c.saturating_add(n);
            }
            g = g.wrapping_add(h2);
        }
    }

    /// Adds `n` with conservative update: each row is raised only to the new minimum
    /// estimate. Tighter on skewed streams; do not [`CountMin::merge`] sketches fed this way.
    pub fn add_conservative(&mut self, h: u64, n: u64) {
        self.total = self.total.saturating_add(n);
        let target = self.estimate(h).saturating_add(n);
        let h2 = mix64(h) | 1;
        let mut g = h;
        for row in 0..self.depth {
            let col = ((u128::from(g) * self.width as u128) >> 64) as usize;
            if let Some(c) = self.counters.get_mut(row * self.width + col) {
                *c = (*c).max(target);
            }
            g = g.wrapping_add(h2);
        }
    }

    /// Estimated total for the key with hash `h`: never below the truth.
    #[inline]
    pub fn estimate(&self, h: u64) -> u64 {
        let h2 = mix64(h) | 1;
        let mut g = h;
        let mut best = u64::MAX;
        for row in 0..self.depth {
            let col = ((u128::from(g) * self.width as u128) >> 64) as usize;
            if let Some(&c) = self.counters.get(row * self.width + col) {
                best = best.min(c);
            }
            g = g.wrapping_add(h2);
        }
        best
    }

    /// Total of all `n` added (N in the error bound).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Adds `other`'s counts into `self`. Returns false, changing nothing, if the shapes
    /// differ.
    pub fn merge(&mut self, other: &CountMin) -> bool {
        if self.width != other.width || self.depth != other.depth {
            return false;
        }
        for (a, &b) in self.counters.iter_mut().zip(&other.counters) {
            *a = a.saturating_add(b);
        }
        self.total = self.total.saturating_add(other.total);
        true
    }

    /// Zeroes every counter (keeps the allocation).
    pub fn clear(&mut self) {
        self.counters.fill(0);
        self.total = 0;
    }

    /// Bytes owned on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.counters.capacity() * std::mem::size_of::<u64>()
    }
}

// ---------------------------------------------------------------------------------------
// Space-saving
// ---------------------------------------------------------------------------------------

/// Space-saving top-k heavy hitters (Metwally, Agrawal & El Abbadi 2005) with capacity k.
///
/// * Guarantee, with N = [`SpaceSaving::total`] the weight added: every key whose true
///   weight exceeds N/k is present, and for every key present
///   `count − error ≤ true ≤ count`. The smallest count kept is ≤ N/k.
/// * Memory: k entries (the key twice — entry and index — plus 8 B error, 16 B heap item,
///   4 B position); k = 1024 with u64 keys is about 60 KiB.
/// * Update: one index lookup, then O(1) for a key already kept near the bottom of the
///   heap and O(log k) otherwise. Entries sit in fixed slots; a 4-ary min-heap of (count, slot)
///   with a slot → heap-position table replaces the minimum in O(log k) without hashing
///   during sifts. No O(k) scan.
/// * The key index is a `HashMap` with a fast multiply-fold hasher seeded at random per
///   instance (so crafted keys cannot be aimed at it); the seed changes no result.
/// * Deterministic: ties in [`SpaceSaving::top`] are broken by the smaller error, then by
///   heap position, which depends only on the input order; a checkpoint restores the heap
///   as it was, so a restored summary continues exactly as the saved one would.
/// * `k` is clamped to at least 1. Weights of 0 are ignored; counts saturate at u64::MAX.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(
    from = "SpaceSavingRepr<K>",
    into = "SpaceSavingRepr<K>",
    bound(
        serialize = "K: Clone + Eq + Hash + Serialize",
        deserialize = "K: Clone + Eq + Hash + Deserialize<'de>"
    )
)]
pub struct SpaceSaving<K: Clone + Eq + Hash> {
    k: usize,
    total: u64,
    /// Keys and errors in fixed slots.
    slots: Vec<SsSlot<K>>,
    /// Min-heap by count.
    heap: Vec<HeapItem>,
    /// Slot number → position in `heap`.
    pos: Vec<u32>,
    /// Key → slot number.
    index: HashMap<K, u32, SeededState>,
}

#[derive(Clone, Debug)]
struct SsSlot<K> {
    key: K,
    error: u64,
}

/// Children per heap node: four 16-byte items share a cache line, and the tree is half as
/// deep as a binary heap (5 levels at k = 1024), which matters because a replaced minimum
/// usually sinks through a plateau of equal counts to the bottom.
const ARITY: usize = 4;

#[derive(Clone, Copy, Debug)]
struct HeapItem {
    count: u64,
    slot: u32,
}

/// Random per-instance seed for [`FoldHasher`].
#[derive(Clone, Debug)]
struct SeededState(u64);

impl Default for SeededState {
    fn default() -> Self {
        use std::hash::{BuildHasher, Hasher};
        SeededState(
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish(),
        )
    }
}

impl std::hash::BuildHasher for SeededState {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(self.0)
    }
}

/// Multiply-fold hasher for the in-memory key index: a few ns per key instead of SipHash's
/// ~20, keyed by a random seed.
struct FoldHasher(u64);

impl std::hash::Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash64_seeded(bytes, self.0);
    }
    #[inline]
    fn write_u8(&mut self, x: u8) {
        self.write_u64(u64::from(x));
    }
    #[inline]
    fn write_u16(&mut self, x: u16) {
        self.write_u64(u64::from(x));
    }
    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = fold_mul(self.0 ^ x, K1);
    }
    #[inline]
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        fold_mul(self.0, K2)
    }
}

/// Serialised form of [`SpaceSaving`]: its capacity, total and (key, count, error) entries
/// in heap order; the indices are rebuilt on load.
#[derive(Serialize, Deserialize)]
struct SpaceSavingRepr<K> {
    k: usize,
    total: u64,
    entries: Vec<(K, u64, u64)>,
}

impl<K: Clone + Eq + Hash> From<SpaceSaving<K>> for SpaceSavingRepr<K> {
    fn from(s: SpaceSaving<K>) -> Self {
        let entries = s
            .heap
            .iter()
            .filter_map(|it| {
                s.slots
                    .get(it.slot as usize)
                    .map(|e| (e.key.clone(), it.count, e.error))
            })
            .collect();
        SpaceSavingRepr {
            k: s.k,
            total: s.total,
            entries,
        }
    }
}

impl<K: Clone + Eq + Hash> From<SpaceSavingRepr<K>> for SpaceSaving<K> {
    fn from(r: SpaceSavingRepr<K>) -> Self {
        let mut s = SpaceSaving::new(r.k);
        s.total = r.total;
        let mut entries = r.entries;
        // A checkpoint written by `into` lists the entries in heap order: keep that order
        // so the restored summary answers and evolves exactly as the saved one would.
        let mut seen = std::collections::HashSet::with_capacity(entries.len().min(s.k));
        let intact = entries.len() <= s.k
            && entries.iter().all(|e| e.2 <= e.1 && seen.insert(&e.0))
            && (1..entries.len()).all(|i| entries[(i - 1) / ARITY].1 <= entries[i].1);
        drop(seen);
        if intact {
            for (i, (key, count, error)) in entries.into_iter().enumerate() {
                s.index.insert(key.clone(), i as u32);
                s.slots.push(SsSlot { key, error });
                s.heap.push(HeapItem {
                    count,
                    slot: i as u32,
                });
                s.pos.push(i as u32);
            }
            return s;
        }
        // Damaged: keep the heaviest if it holds more than k (stable: ties keep their
        // order); duplicate keys keep their first entry.
        entries.sort_by_key(|e| std::cmp::Reverse(e.1));
        for (key, count, error) in entries {
            if s.slots.len() >= s.k || s.index.contains_key(&key) {
                continue;
            }
            s.push_new(key, count, error.min(count));
        }
        s
    }
}

impl<K: Clone + Eq + Hash> SpaceSaving<K> {
    /// An empty summary keeping at most `k` keys (k ≥ 1).
    pub fn new(k: usize) -> Self {
        let k = k.clamp(1, u32::MAX as usize);
        let pre = k.min(1024);
        SpaceSaving {
            k,
            total: 0,
            slots: Vec::with_capacity(pre),
            heap: Vec::with_capacity(pre),
            pos: Vec::with_capacity(pre),
            index: HashMap::with_capacity_and_hasher(pre, SeededState::default()),
        }
    }

    /// Capacity k.
    pub fn capacity(&self) -> usize {
        self.k
    }

    /// Total weight added (N in the guarantee).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Keys currently kept (≤ k).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if nothing was added since creation or the last clear.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Forgets every key (keeps the allocations).
    pub fn clear(&mut self) {
        self.slots.clear();
        self.heap.clear();
        self.pos.clear();
        self.index.clear();
        self.total = 0;
    }

    #[inline]
    fn set_pos(&mut self, i: usize) {
        if let Some(it) = self.heap.get(i) {
            if let Some(p) = self.pos.get_mut(it.slot as usize) {
                *p = i as u32;
            }
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        let Some(&item) = self.heap.get(i) else {
            return;
        };
        while i > 0 {
            let parent = (i - 1) / ARITY;
            let p = self.heap[parent];
            if p.count <= item.count {
                break;
            }
            self.heap[i] = p;
            self.set_pos(i);
            i = parent;
        }
        self.heap[i] = item;
        self.set_pos(i);
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        let Some(&item) = self.heap.get(i) else {
            return;
        };
        loop {
            let first = ARITY * i + 1;
            if first >= n {
                break;
            }
            let mut c = first;
            for j in first + 1..(first + ARITY).min(n) {
                if self.heap[j].count < self.heap[c].count {
                    c = j;
                }
            }
            if item.count <= self.heap[c].count {
                break;
            }
            self.heap[i] = self.heap[c];
            self.set_pos(i);
            i = c;
        }
        self.heap[i] = item;
        self.set_pos(i);
    }

    fn push_new(&mut self, key: K, count: u64, error: u64) {
        let slot = self.slots.len() as u32;
        self.index.insert(key.clone(), slot);
        self.slots.push(SsSlot { key, error });
        self.pos.push(self.heap.len() as u32);
        self.heap.push(HeapItem { count, slot });
        self.sift_up(self.heap.len() - 1);
    }

    /// Adds `weight` to `key`.
    pub fn add(&mut self, key: K, weight: u64) {
        if weight == 0 {
            return;
        }
        self.total = self.total.saturating_add(weight);
        if let Some(&slot) = self.index.get(&key) {
            if let Some(&p) = self.pos.get(slot as usize) {
                if let Some(it) = self.heap.get_mut(p as usize) {
                    it.count = it.count.saturating_add(weight);
                }
                self.sift_down(p as usize);
            }
            return;
        }
        if self.slots.len() < self.k {
            self.push_new(key, weight, 0);
            return;
        }
        // Replace the minimum: the newcomer inherits its count as possible over-count.
        let Some(root) = self.heap.first_mut() else {
            return;
        };
        let min = root.count;
        root.count = min.saturating_add(weight);
        let slot = root.slot;
        let Some(e) = self.slots.get_mut(slot as usize) else {
            return;
        };
        let old = std::mem::replace(
            e,
            SsSlot {
                key: key.clone(),
                error: min,
            },
        );
        self.index.remove(&old.key);
        self.index.insert(key, slot);
        self.sift_down(0);
    }

    /// (count, error) for `key` if kept: its true weight is in `count − error ..= count`.
    pub fn get(&self, key: &K) -> Option<(u64, u64)> {
        let &slot = self.index.get(key)?;
        let e = self.slots.get(slot as usize)?;
        let it = self.heap.get(*self.pos.get(slot as usize)? as usize)?;
        Some((it.count, e.error))
    }

    /// Up to `n` kept keys as (key, count, max over-estimate), by count descending.
    pub fn top(&self, n: usize) -> Vec<(K, u64, u64)> {
        let mut order: Vec<(usize, u64, &SsSlot<K>)> = self
            .heap
            .iter()
            .enumerate()
            .filter_map(|(p, it)| self.slots.get(it.slot as usize).map(|e| (p, it.count, e)))
            .collect();
        order.sort_unstable_by(|a, b| {
            b.1.cmp(&a.1)
                .then(a.2.error.cmp(&b.2.error))
                .then(a.0.cmp(&b.0))
        });
        order
            .into_iter()
            .take(n)
            .map(|(_, count, e)| (e.key.clone(), count, e.error))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Hashed entropy
// ---------------------------------------------------------------------------------------

/// Shannon entropy of a distribution (source addresses, destination ports, ...) over a
/// time bin, in fixed memory: values are hashed into 2^b u32 buckets and the entropy of the
/// bucket counts is reported.
///
/// * Memory: 4·2^b bytes (b = 10: 4 KiB). `b` is clamped into 4..=20.
/// * Bias: two values sharing a bucket look like one, so with many distinct values the
///   entropy is lower than the true one (it can never exceed log2(2^b) = b bits; with
///   n ≪ 2^b distinct values collisions are rare and it is nearly exact). The bias depends
///   only on the number and shape of the values, so a detector comparing a bin against a
///   baseline computed the same way (same b) sees it cancel; do not compare against exact
///   entropies or across different b.
/// * [`HashedEntropy::normalised`] divides by log2(min(2^b, total)), the most entropy the
///   bin could show with its weight, so it lies in 0..=1 (0 for total ≤ 1).
/// * Counters saturate at u32::MAX; the total is a u64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "EntropyRepr", into = "EntropyRepr")]
pub struct HashedEntropy {
    b: u8,
    total: u64,
    counts: Vec<u32>,
}

#[derive(Serialize, Deserialize)]
struct EntropyRepr {
    b: u8,
    total: u64,
    counts: Vec<u32>,
}

impl From<HashedEntropy> for EntropyRepr {
    fn from(e: HashedEntropy) -> Self {
        EntropyRepr {
            b: e.b,
            total: e.total,
            counts: e.counts,
        }
    }
}

impl TryFrom<EntropyRepr> for HashedEntropy {
    type Error = String;
    fn try_from(r: EntropyRepr) -> Result<Self, String> {
        if !(HashedEntropy::MIN_B..=HashedEntropy::MAX_B).contains(&r.b)
            || r.counts.len() != 1usize << r.b
        {
            return Err(format!(
                "hashed entropy of 2^{} buckets with {}",
                r.b,
                r.counts.len()
            ));
        }
        Ok(HashedEntropy {
            b: r.b,
            total: r.total,
            counts: r.counts,
        })
    }
}

impl Default for HashedEntropy {
    fn default() -> Self {
        Self::new(10)
    }
}

impl HashedEntropy {
    /// Fewest bucket bits accepted.
    pub const MIN_B: u8 = 4;
    /// Most bucket bits accepted.
    pub const MAX_B: u8 = 20;

    /// 2^`buckets_log2` buckets (clamped into 4..=20); [`Default`] uses 10.
    pub fn new(buckets_log2: u8) -> Self {
        let b = buckets_log2.clamp(Self::MIN_B, Self::MAX_B);
        HashedEntropy {
            b,
            total: 0,
            counts: vec![0; 1 << b],
        }
    }

    /// Number of buckets.
    pub fn buckets(&self) -> usize {
        self.counts.len()
    }

    /// Adds `weight` to the value with hash `h`.
    #[inline]
    pub fn add(&mut self, h: u64, weight: u32) {
        let i = (h >> (64 - u32::from(self.b))) as usize;
        if let Some(c) = self.counts.get_mut(i) {
            *c = c.saturating_add(weight);
            self.total = self.total.saturating_add(u64::from(weight));
        }
    }

    /// Total weight added.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Shannon entropy of the bucket counts in bits (0 when empty).
    pub fn entropy_bits(&self) -> f64 {
        // Sum the counts again rather than trusting `total`, which differs once a bucket
        // saturates.
        let sum: f64 = self.counts.iter().map(|&c| f64::from(c)).sum();
        if sum <= 0.0 {
            return 0.0;
        }
        let s: f64 = self
            .counts
            .iter()
            .filter(|&&c| c > 1)
            .map(|&c| {
                let c = f64::from(c);
                c * c.log2()
            })
            .sum();
        (sum.log2() - s / sum).max(0.0)
    }

    /// Entropy divided by log2(min(buckets, total)): 0 (one value) ..= 1 (spread as evenly
    /// as the weight allows). 0 when total ≤ 1.
    pub fn normalised(&self) -> f64 {
        let cap = (self.counts.len() as f64).min(self.total as f64);
        if cap <= 1.0 {
            return 0.0;
        }
        (self.entropy_bits() / cap.log2()).clamp(0.0, 1.0)
    }

    /// Adds `other`'s counts. A finer `other` is folded onto `self`'s buckets exactly; a
    /// coarser one first folds `self` down to its size (so `self` gets coarser).
    pub fn merge(&mut self, other: &HashedEntropy) {
        if other.b < self.b {
            *self = self.folded(other.b);
        }
        let shift = u32::from(other.b - self.b);
        for (j, &c) in other.counts.iter().enumerate() {
            if let Some(dst) = self.counts.get_mut(j >> shift) {
                *dst = dst.saturating_add(c);
            }
        }
        self.total = self.total.saturating_add(other.total);
    }

    fn folded(&self, b: u8) -> HashedEntropy {
        let mut out = HashedEntropy::new(b);
        let shift = u32::from(self.b.saturating_sub(out.b));
        for (j, &c) in self.counts.iter().enumerate() {
            if let Some(dst) = out.counts.get_mut(j >> shift) {
                *dst = dst.saturating_add(c);
            }
        }
        out.total = self.total;
        out
    }

    /// Zeroes the counts (keeps the allocation), for the next bin.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.total = 0;
    }

    /// Bytes owned on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// xorshift64*: a test-only PRNG independent of the hashes under test.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
        /// Zipf-ish key in 0..n: P(i) ∝ 1/(i+1), by inverse transform of the continuous
        /// approximation.
        fn zipf(&mut self, n: u64) -> u64 {
            let u = self.unit();
            (((n as f64 + 1.0).powf(u)) - 1.0)
                .floor()
                .min(n as f64 - 1.0) as u64
        }
    }

    #[test]
    fn hashes_are_pinned() {
        // Replays must give the same results on any machine and after any refactor: these
        // values may only change together with a note that old checkpoints are invalid.
        assert_eq!(hash64(b""), 0x54d3_e88b_ad1d_11d3);
        assert_eq!(hash64(b"ncsoc"), 0xfbbe_c157_d9e5_c970);
        assert_eq!(hash64(b"0123456789abcdefXYZ"), 0xfb03_4503_d183_31bf);
        // mix64(0) is splitmix64's first output from seed 0.
        assert_eq!(mix64(0), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn hash64_separates_lengths_and_blocks() {
        let mut seen = HashSet::new();
        let mut buf = Vec::new();
        for len in 0..64 {
            assert!(
                seen.insert(hash64(&buf)),
                "zero-filled length {len} collided"
            );
            buf.push(0);
        }
        assert_ne!(hash64(b"a"), hash64(b"a\0"));
        assert_ne!(hash64(&[1; 16]), hash64(&[1; 17]));
        assert_ne!(hash_pair(1, 2), hash_pair(2, 1));
    }

    /// Flips every input bit of many random inputs and checks each output bit flips with
    /// probability close to ½ (strict avalanche).
    fn avalanche(len: usize, f: impl Fn(&[u8]) -> u64) {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let trials = 400;
        let mut flips = [0u32; 64];
        let mut total = 0u32;
        for _ in 0..trials {
            let input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let base = f(&input);
            for bit in 0..len * 8 {
                let mut x = input.clone();
                x[bit / 8] ^= 1 << (bit % 8);
                let d = base ^ f(&x);
                for (o, c) in flips.iter_mut().enumerate() {
                    *c += ((d >> o) & 1) as u32;
                }
                total += 1;
            }
        }
        for (o, &c) in flips.iter().enumerate() {
            let p = f64::from(c) / f64::from(total);
            assert!(
                (0.45..0.55).contains(&p),
                "len {len}: output bit {o} flips with p={p}"
            );
        }
    }

    #[test]
    fn hash64_avalanches() {
        for len in [1, 4, 8, 13, 16, 24, 40] {
            avalanche(len, hash64);
        }
    }

    #[test]
    fn mix64_and_hash_pair_avalanche() {
        avalanche(8, |b| mix64(u64::from_le_bytes(b.try_into().unwrap())));
        avalanche(16, |b| {
            let a = u64::from_le_bytes(b[..8].try_into().unwrap());
            let c = u64::from_le_bytes(b[8..].try_into().unwrap());
            hash_pair(a, c)
        });
    }

    #[test]
    fn hash_ip_maps_v4_in_v6() {
        let v4 = Ipv4Addr::new(192, 0, 2, 7);
        let a = hash_ip(&IpAddr::V4(v4));
        assert_eq!(a, hash_ip(&IpAddr::V6(v4.to_ipv6_mapped())));
        assert_ne!(a, hash_ip(&IpAddr::V4(Ipv4Addr::new(192, 0, 2, 8))));
        // The IPv4-compatible form (::192.0.2.7) is a different, deprecated address.
        assert_ne!(a, hash_ip(&IpAddr::V6(v4.to_ipv6_compatible())));
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let v6b: Ipv6Addr = "2001:db8::2".parse().unwrap();
        assert_ne!(hash_ip(&IpAddr::V6(v6)), hash_ip(&IpAddr::V6(v6b)));
    }

    fn hll_of(p: u8, n: u64, seed: u64) -> Hll {
        let mut h = Hll::new(p);
        for i in 0..n {
            h.insert_hash(mix64(i ^ seed.rotate_left(40)));
        }
        h
    }

    #[test]
    fn hll_within_three_sigma_at_100k() {
        for p in [10u8, 12] {
            let sigma = 1.04 / f64::from(1u32 << p).sqrt();
            let est = hll_of(p, 100_000, 1).estimate();
            let rel = (est - 100_000.0).abs() / 100_000.0;
            assert!(
                rel < 3.0 * sigma,
                "p={p}: estimate {est}, {rel} > 3σ={}",
                3.0 * sigma
            );
        }
    }

    #[test]
    fn hll_error_is_the_documented_one() {
        // RMS relative error over independent runs is close to 1.04/√m: the documented
        // bound is neither broken nor wildly pessimistic.
        let p = 10u8;
        let sigma = 1.04 / 32.0;
        let runs = 40;
        let n = 20_000u64;
        let mse: f64 = (0..runs)
            .map(|r| {
                let e = (hll_of(p, n, r + 100).estimate() - n as f64) / n as f64;
                e * e
            })
            .sum::<f64>()
            / runs as f64;
        let rms = mse.sqrt();
        assert!(
            rms > 0.5 * sigma && rms < 1.5 * sigma,
            "rms {rms} vs σ {sigma}"
        );
    }

    #[test]
    fn hll_small_range_is_close() {
        for n in [0u64, 1, 10, 100, 1000] {
            let est = hll_of(12, n, 7).estimate();
            assert!(
                (est - n as f64).abs() <= 0.02 * n as f64 + 0.5,
                "n={n}: {est}"
            );
        }
        // Duplicates do not count.
        let mut h = Hll::new(12);
        for _ in 0..10 {
            for i in 0..500 {
                h.insert_hash(mix64(i));
            }
        }
        assert!((h.estimate() - 500.0).abs() < 15.0);
    }

    #[test]
    fn hll_clamps_precision() {
        assert_eq!(Hll::new(0).precision(), 4);
        assert_eq!(Hll::new(200).precision(), 16);
        assert_eq!(Hll::new(0).heap_bytes(), 16);
        let mut h = Hll::new(4);
        for i in 0..1000 {
            h.insert_hash(mix64(i));
        }
        h.insert_hash(0);
        h.insert_hash(u64::MAX);
        assert!(h.estimate().is_finite());
    }

    #[test]
    fn hll_fold_equals_inserting_at_lower_precision() {
        for (hi, lo) in [(12u8, 10u8), (16, 4), (11, 10)] {
            let mut a = Hll::new(hi);
            let mut b = Hll::new(lo);
            for i in 0..30_000u64 {
                // Include hashes with long zero runs to exercise the s == 0 case.
                let h = if i % 97 == 0 {
                    mix64(i) >> (i % 60)
                } else {
                    mix64(i)
                };
                a.insert_hash(h);
                b.insert_hash(h);
            }
            assert_eq!(a.folded(lo), b, "{hi}->{lo}");
        }
    }

    #[test]
    fn hll_merge_is_union() {
        let mut a = Hll::new(12);
        let mut b = Hll::new(12);
        let mut c = Hll::new(12);
        for i in 0..60_000u64 {
            let h = mix64(i);
            if i < 40_000 {
                a.insert_hash(h);
            }
            if i >= 20_000 {
                b.insert_hash(h);
            }
            c.insert_hash(h);
        }
        let mut m = a.clone();
        m.merge(&b);
        assert_eq!(m, c);
        // Mixed precision: the union lands at the coarser precision, either way round.
        let mut coarse = Hll::new(10);
        for i in 0..40_000u64 {
            coarse.insert_hash(mix64(i));
        }
        let mut x = b.clone();
        x.merge(&coarse);
        assert_eq!(x.precision(), 10);
        assert_eq!(x, c.folded(10));
        coarse.merge(&b);
        assert_eq!(coarse, c.folded(10));
    }

    #[test]
    fn hll_serde_round_trip_and_validation() {
        let h = hll_of(10, 5000, 3);
        let json = serde_json::to_string(&h).unwrap();
        let back: Hll = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
        assert!(serde_json::from_str::<Hll>(r#"{"p":20,"registers":[]}"#).is_err());
        assert!(serde_json::from_str::<Hll>(r#"{"p":4,"registers":[0,1]}"#).is_err());
        let too_big = format!(r#"{{"p":4,"registers":[{}]}}"#, ["99"; 16].join(","));
        assert!(serde_json::from_str::<Hll>(&too_big).is_err());
    }

    proptest! {
        #[test]
        fn distinct_is_exact_while_small(values in proptest::collection::vec(0u64..40, 0..60)) {
            let mut d = Distinct::new();
            let mut truth = HashSet::new();
            for &v in &values {
                let h = mix64(v);
                let is_new = truth.insert(h);
                if truth.len() <= Distinct::EXACT_MAX {
                    prop_assert_eq!(d.insert_hash(h), is_new);
                    prop_assert_eq!(d.len_exact(), Some(truth.len()));
                    prop_assert_eq!(d.estimate(), truth.len() as f64);
                } else {
                    // After the switch a new value always changes the exact→hll count or
                    // (probably) a register; a repeat never does.
                    let changed = d.insert_hash(h);
                    prop_assert!(!changed || is_new);
                    prop_assert_eq!(d.len_exact(), None);
                    prop_assert!((d.estimate() - truth.len() as f64).abs() < 3.0);
                }
            }
        }

        #[test]
        fn distinct_merge_is_union(a in proptest::collection::vec(0u64..30, 0..25),
                                   b in proptest::collection::vec(0u64..30, 0..25)) {
            let mut da = Distinct::new();
            let mut db = Distinct::new();
            let mut all = Distinct::new();
            for &v in &a { da.insert_hash(mix64(v)); all.insert_hash(mix64(v)); }
            for &v in &b { db.insert_hash(mix64(v)); all.insert_hash(mix64(v)); }
            da.merge(&db);
            let union: HashSet<_> = a.iter().chain(&b).collect();
            if union.len() <= Distinct::EXACT_MAX {
                prop_assert_eq!(da.len_exact(), Some(union.len()));
            } else {
                prop_assert!((da.estimate() - union.len() as f64).abs() < 3.0);
            }
            prop_assert_eq!(da.estimate(), all.estimate());
        }
    }

    #[test]
    fn distinct_switches_to_hll_with_bounded_memory() {
        let mut d = Distinct::default();
        assert_eq!(d.heap_bytes(), 0);
        for i in 0..Distinct::EXACT_MAX as u64 {
            assert!(d.insert_hash(mix64(i)));
        }
        assert_eq!(d.len_exact(), Some(16));
        assert!(d.heap_bytes() <= 128);
        assert!(d.insert_hash(mix64(1000)));
        assert_eq!(d.len_exact(), None);
        assert!((d.estimate() - 17.0).abs() < 0.5);
        for i in 0..100_000u64 {
            d.insert_hash(mix64(i + 5000));
        }
        assert_eq!(d.heap_bytes(), 1024);
        let rel = (d.estimate() - 100_017.0).abs() / 100_017.0;
        assert!(rel < 3.0 * 0.0325, "{rel}");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Distinct>(&json).unwrap(), d);
        let small: Distinct = serde_json::from_str(r#"{"Exact":[1,2,2,3]}"#).unwrap();
        assert_eq!(small.len_exact(), Some(3));
        let json = serde_json::to_string(&small).unwrap();
        assert_eq!(json, r#"{"Exact":[1,2,3]}"#);
        let long: Vec<u64> = (0..40).map(mix64).collect();
        let long: Distinct = serde_json::from_str(&format!(r#"{{"Exact":{long:?}}}"#)).unwrap();
        assert_eq!(long.len_exact(), None);
        d.clear();
        assert_eq!(d.len_exact(), Some(0));
    }

    #[test]
    fn count_min_shape_from_error() {
        let c = CountMin::with_error(0.001, 0.01);
        assert_eq!((c.width(), c.depth()), (2719, 5));
        let c = CountMin::with_error(f64::NAN, -1.0);
        assert_eq!((c.width(), c.depth()), (2719, 5));
        let c = CountMin::with_error(1e-300, 1e-300);
        assert_eq!(
            (c.width(), c.depth()),
            (CountMin::MAX_WIDTH, CountMin::MAX_DEPTH)
        );
        assert_eq!(CountMin::new(0, 0).heap_bytes(), 8);
    }

    #[test]
    fn count_min_error_bound_holds() {
        let (eps, delta) = (0.005, 0.01);
        let mut plain = CountMin::with_error(eps, delta);
        let mut cons = CountMin::with_error(eps, delta);
        let mut truth: HashMap<u64, u64> = HashMap::new();
        let mut rng = Rng(99);
        for _ in 0..200_000 {
            let key = rng.zipf(50_000);
            let w = 1 + rng.next() % 3;
            plain.add(mix64(key), w);
            cons.add_conservative(mix64(key), w);
            *truth.entry(key).or_default() += w;
        }
        let n = plain.total();
        assert_eq!(n, truth.values().sum::<u64>());
        let bound = (eps * n as f64) as u64;
        let mut bad = 0usize;
        let mut bad_cons = 0usize;
        for (&k, &t) in &truth {
            let e = plain.estimate(mix64(k));
            let ec = cons.estimate(mix64(k));
            assert!(e >= t && ec >= t, "under-estimate");
            assert!(ec <= e, "conservative update is never looser");
            bad += usize::from(e - t > bound);
            bad_cons += usize::from(ec - t > bound);
        }
        let frac = bad as f64 / truth.len() as f64;
        assert!(frac <= delta, "{frac} of keys over ε·N");
        assert!(bad_cons <= bad);
        // Keys never added are also bounded.
        let unseen = (0..10_000u64)
            .filter(|i| plain.estimate(mix64(1_000_000 + i)) > bound)
            .count();
        assert!(unseen as f64 / 10_000.0 <= delta);
    }

    proptest! {
        #[test]
        fn count_min_never_under(ops in proptest::collection::vec((0u64..200, 1u64..1000), 0..300),
                                 w in 1usize..50, d in 1usize..6) {
            let mut c = CountMin::new(w, d);
            let mut truth: HashMap<u64, u64> = HashMap::new();
            for &(k, n) in &ops {
                c.add(hash64(&k.to_le_bytes()), n);
                *truth.entry(k).or_default() += n;
            }
            for (&k, &t) in &truth {
                prop_assert!(c.estimate(hash64(&k.to_le_bytes())) >= t);
            }
        }
    }

    #[test]
    fn count_min_merge_clear_serde() {
        let mut a = CountMin::new(64, 3);
        let mut b = CountMin::new(64, 3);
        let mut both = CountMin::new(64, 3);
        for i in 0..1000u64 {
            let h = mix64(i % 77);
            if i % 2 == 0 {
                a.add(h, 1);
            } else {
                b.add(h, 1);
            }
            both.add(h, 1);
        }
        assert!(a.merge(&b));
        assert_eq!(a, both);
        assert!(!a.merge(&CountMin::new(65, 3)));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<CountMin>(&json).unwrap(), a);
        assert!(serde_json::from_str::<CountMin>(
            r#"{"width":2,"depth":2,"total":0,"counters":[0,0,0]}"#
        )
        .is_err());
        a.clear();
        assert_eq!((a.total(), a.estimate(mix64(3))), (0, 0));
        // Saturation instead of overflow.
        let mut s = CountMin::new(1, 1);
        s.add(1, u64::MAX);
        s.add(1, 5);
        assert_eq!(s.estimate(1), u64::MAX);
    }

    /// Checks the space-saving guarantees against exact counts.
    fn check_space_saving(ss: &SpaceSaving<u64>, truth: &HashMap<u64, u64>) {
        let n: u64 = truth.values().sum();
        assert_eq!(ss.total(), n);
        assert!(ss.len() <= ss.capacity());
        let k = ss.capacity() as u64;
        for (&key, &t) in truth {
            match ss.get(&key) {
                Some((count, err)) => {
                    assert!(
                        count - err <= t && t <= count,
                        "{key}: {count}-{err} vs {t}"
                    );
                }
                None => assert!(t * k <= n, "{key} with {t} > N/k={} missing", n / k),
            }
        }
        let top = ss.top(usize::MAX);
        assert_eq!(top.len(), ss.len());
        assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
        if ss.len() == ss.capacity() {
            assert!(top.last().unwrap().1 <= n / k);
        }
    }

    proptest! {
        #[test]
        fn space_saving_guarantees(ops in proptest::collection::vec((0u64..40, 1u64..20), 0..400),
                                   k in 1usize..12) {
            let mut ss = SpaceSaving::new(k);
            let mut truth: HashMap<u64, u64> = HashMap::new();
            for &(key, w) in &ops {
                ss.add(key, w);
                *truth.entry(key).or_default() += w;
            }
            check_space_saving(&ss, &truth);
            let json = serde_json::to_string(&ss).unwrap();
            let back: SpaceSaving<u64> = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back.top(usize::MAX), ss.top(usize::MAX));
        }
    }

    #[test]
    fn space_saving_finds_zipf_heavy_hitters() {
        let k = 1024;
        let mut ss = SpaceSaving::new(k);
        let mut truth: HashMap<u64, u64> = HashMap::new();
        let mut rng = Rng(5);
        for _ in 0..300_000 {
            let key = rng.zipf(1_000_000);
            ss.add(key, 1);
            *truth.entry(key).or_default() += 1;
        }
        check_space_saving(&ss, &truth);
        // The ten heaviest keys are reported first, in order, with small error.
        let mut exact: Vec<(u64, u64)> = truth.iter().map(|(&k, &v)| (k, v)).collect();
        exact.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let top = ss.top(10);
        for (i, (key, count, err)) in top.iter().enumerate() {
            assert_eq!(*key, exact[i].0, "rank {i}");
            assert!(*err * 10 < *count);
        }
        // A checkpoint restores the same answers, and updates continue identically.
        let json = serde_json::to_string(&ss).unwrap();
        let mut back: SpaceSaving<u64> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.top(k), ss.top(k));
        for i in 0..1000 {
            back.add(i * 7919, 2);
            ss.add(i * 7919, 2);
        }
        for i in 0..1000 {
            assert_eq!(back.get(&(i * 7919)), ss.get(&(i * 7919)));
        }
    }

    #[test]
    fn space_saving_edges() {
        let mut ss: SpaceSaving<String> = SpaceSaving::new(0);
        assert_eq!(ss.capacity(), 1);
        ss.add("a".into(), 0);
        assert!(ss.is_empty());
        ss.add("a".into(), 3);
        ss.add("b".into(), 1);
        assert_eq!(ss.get(&"a".into()), None);
        assert_eq!(ss.get(&"b".into()), Some((4, 3)));
        ss.add("b".into(), u64::MAX);
        assert_eq!(ss.get(&"b".into()), Some((u64::MAX, 3)));
        ss.clear();
        assert!(ss.is_empty() && ss.total() == 0);
        // A damaged checkpoint (too many entries, duplicates) loads without panicking.
        let bad = r#"{"k":2,"total":9,"entries":[["x",1,0],["y",5,9],["y",2,0],["z",3,0]]}"#;
        let s: SpaceSaving<String> = serde_json::from_str(bad).unwrap();
        assert_eq!(
            s.top(5),
            vec![("y".to_string(), 5, 5), ("z".to_string(), 3, 0)]
        );
    }

    #[test]
    fn entropy_exact_without_collisions() {
        let mut e = HashedEntropy::default();
        assert_eq!(e.buckets(), 1024);
        assert_eq!(e.entropy_bits(), 0.0);
        assert_eq!(e.normalised(), 0.0);
        // Hashes chosen to land in distinct buckets: 16 equal values → exactly 4 bits.
        for i in 0..16u64 {
            e.add(i << 54, 5);
        }
        assert!((e.entropy_bits() - 4.0).abs() < 1e-12);
        // Normalised by log2(min(buckets, total weight)) = log2(80).
        assert!((e.normalised() - 4.0 / 80f64.log2()).abs() < 1e-12);
        // One value carries no entropy, however heavy.
        let mut one = HashedEntropy::new(10);
        one.add(hash64(b"10.0.0.1"), 1000);
        assert_eq!((one.entropy_bits(), one.normalised()), (0.0, 0.0));
        // Skewed: p = (1/2, 1/4, 1/4) → 1.5 bits.
        let mut s = HashedEntropy::new(8);
        s.add(0, 2);
        s.add(1 << 56, 1);
        s.add(2 << 56, 1);
        assert!((s.entropy_bits() - 1.5).abs() < 1e-12);
    }

    #[test]
    fn entropy_bias_is_downward_and_as_documented() {
        let mut rng = Rng(11);
        for distinct in [10u64, 100, 1000, 10_000] {
            let mut e = HashedEntropy::new(10);
            for _ in 0..50_000 {
                let v = rng.next() % distinct;
                e.add(hash_ip(&IpAddr::V4(Ipv4Addr::from(v as u32))), 1);
            }
            let truth = (distinct as f64).log2();
            let got = e.entropy_bits();
            assert!(
                got <= truth + 0.05 && got <= 10.0,
                "{distinct}: {got} > {truth}"
            );
            assert!((0.0..=1.0).contains(&e.normalised()));
        }
        // n equal values in m buckets lose about n/m bits to collisions (pairs sharing a
        // bucket, for n ≪ m): check the mean over independent hashings.
        let (n, m) = (100u64, 1024.0);
        let runs = 60;
        let mean_loss = (0..runs)
            .map(|seed| {
                let mut e = HashedEntropy::new(10);
                for v in 0..n {
                    e.add(hash_pair(seed, v), 7);
                }
                (n as f64).log2() - e.entropy_bits()
            })
            .sum::<f64>()
            / runs as f64;
        let expect = n as f64 / m;
        assert!(
            mean_loss > 0.7 * expect && mean_loss < 1.3 * expect,
            "{mean_loss} vs {expect}"
        );
    }

    #[test]
    fn entropy_merge_fold_clear_serde() {
        let mut a = HashedEntropy::new(12);
        let mut b = HashedEntropy::new(10);
        let mut all10 = HashedEntropy::new(10);
        for i in 0..5000u64 {
            let h = mix64(i % 700);
            if i % 3 == 0 {
                a.add(h, 1);
            } else {
                b.add(h, 1);
            }
            all10.add(h, 1);
        }
        let mut m = b.clone();
        m.merge(&a);
        assert_eq!(m, all10);
        let mut m2 = a.clone();
        m2.merge(&b);
        assert_eq!(m2, all10);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<HashedEntropy>(&json).unwrap(), m);
        assert!(
            serde_json::from_str::<HashedEntropy>(r#"{"b":4,"total":0,"counts":[1]}"#).is_err()
        );
        m.clear();
        assert_eq!((m.total(), m.entropy_bits()), (0, 0.0));
        assert_eq!(HashedEntropy::new(0).buckets(), 16);
        assert_eq!(HashedEntropy::new(99).heap_bytes(), 4 << 20);
        let mut sat = HashedEntropy::new(4);
        sat.add(0, u32::MAX);
        sat.add(0, u32::MAX);
        sat.add(u64::MAX, 1);
        assert!(sat.entropy_bits().is_finite() && sat.normalised() <= 1.0);
    }
}

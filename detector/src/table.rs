//! A hash table with a hard capacity, for per-entity state fed by untrusted traffic.
//!
//! A spoofed SYN flood can bring millions of source addresses in a minute; the per-source
//! table must not grow with it. [`BoundedMap`] keeps at most `capacity` entries. When a new
//! key arrives at a full table it evicts the lightest of a few entries sampled at random
//! (the approximation of space-saving's "evict the minimum" that Redis uses for LRU):
//! heavy entities, which are the ones detectors fire on, survive, and an update stays
//! O(1). Evictions are counted so `/metrics` can show when a table is too small.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::sketch::mix64;

/// Hasher for keys that are already well-distributed integers or a few of them (addresses,
/// hashes): one multiply-xorshift finish instead of SipHash. Keys here come from traffic,
/// but they index bounded tables only, so flooding one bucket costs the attacker a probe
/// sequence, never memory.
#[derive(Default, Clone, Copy)]
pub struct FastState;

impl BuildHasher for FastState {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0x9e37_79b9_7f4a_7c15)
    }
}

pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        mix64(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0 ^ i)
            .wrapping_mul(0xff51_afd7_ed55_8ccd)
            .rotate_left(29);
    }
    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

pub type FastMap<K, V> = HashMap<K, V, FastState>;

/// An entry's weight decides who is evicted first when the table is full.
pub trait Weighted {
    fn weight(&self) -> u64;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize, V: Serialize",
    deserialize = "K: Deserialize<'de> + Eq + Hash + Clone, V: Deserialize<'de>"
))]
pub struct BoundedMap<K, V> {
    capacity: usize,
    keys: Vec<K>,
    values: Vec<V>,
    #[serde(skip)]
    index: FastMap<K, u32>,
    rng: u64,
    evicted: u64,
}

const SAMPLE: usize = 8;

impl<K: Eq + Hash + Clone, V: Weighted> BoundedMap<K, V> {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, u32::MAX as usize);
        Self {
            capacity,
            keys: Vec::new(),
            values: Vec::new(),
            index: FastMap::default(),
            rng: 0x2545_f491_4f6c_dd1d,
            evicted: 0,
        }
    }

    /// The entry for `key`, created with `make` if absent (evicting a light entry when
    /// the table is full).
    pub fn entry(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if self.index.len() != self.keys.len() {
            self.rebuild_index();
        }
        if let Some(&i) = self.index.get(&key) {
            return &mut self.values[i as usize];
        }
        if self.keys.len() >= self.capacity {
            self.evict_one();
        }
        let i = self.keys.len();
        self.index.insert(key.clone(), i as u32);
        self.keys.push(key);
        self.values.push(make());
        &mut self.values[i]
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        if self.index.len() != self.keys.len() {
            // Freshly deserialised and not yet indexed.
            return self
                .keys
                .iter()
                .position(|k| k == key)
                .map(|i| &self.values[i]);
        }
        self.index.get(key).map(|&i| &self.values[i as usize])
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        if self.index.len() != self.keys.len() {
            self.rebuild_index();
        }
        self.index.get(key).map(|&i| &mut self.values[i as usize])
    }

    fn evict_one(&mut self) {
        let n = self.keys.len();
        if n == 0 {
            return;
        }
        let mut victim = 0usize;
        let mut lightest = u64::MAX;
        for _ in 0..SAMPLE.min(n) {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            let i = (self.rng % n as u64) as usize;
            let w = self.values[i].weight();
            if w < lightest {
                lightest = w;
                victim = i;
            }
        }
        // The newest entry is a candidate too, and it is usually light: heavy entries
        // then survive even when they fill most of the table. On a tie an older sampled
        // entry goes, so a newcomer keeps its chance to grow.
        if self.values[n - 1].weight() < lightest {
            victim = n - 1;
        }
        self.remove_at(victim);
        self.evicted += 1;
    }

    fn remove_at(&mut self, i: usize) {
        let key = self.keys.swap_remove(i);
        self.values.swap_remove(i);
        self.index.remove(&key);
        if i < self.keys.len() {
            self.index.insert(self.keys[i].clone(), i as u32);
        }
    }

    /// Drops every entry for which `keep` is false.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let mut i = 0;
        while i < self.keys.len() {
            if keep(&self.keys[i], &mut self.values[i]) {
                i += 1;
            } else {
                self.remove_at(i);
            }
        }
    }

    pub fn clear(&mut self) {
        self.keys.clear();
        self.values.clear();
        self.index.clear();
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries evicted to make room since the table was made.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.keys.iter().zip(self.values.iter())
    }

    /// Rebuilds the key index after deserialising (it is not checkpointed).
    pub fn rebuild_index(&mut self) {
        self.index.clear();
        for (i, k) in self.keys.iter().enumerate() {
            self.index.insert(k.clone(), i as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weighted for u64 {
        fn weight(&self) -> u64 {
            *self
        }
    }

    #[test]
    fn never_exceeds_capacity_and_keeps_heavy_entries() {
        let mut m: BoundedMap<u64, u64> = BoundedMap::new(100);
        for heavy in 0..10u64 {
            *m.entry(heavy, || 0) += 1_000_000;
        }
        for k in 1000..200_000u64 {
            *m.entry(k, || 0) += 1;
            assert!(m.len() <= 100);
        }
        for heavy in 0..10u64 {
            assert_eq!(m.get(&heavy), Some(&1_000_000), "heavy key {heavy} evicted");
        }
        assert!(m.evicted() >= 199_000 - 100);
    }

    #[test]
    fn index_survives_serde_round_trip() {
        let mut m: BoundedMap<u64, u64> = BoundedMap::new(10);
        for k in 0..5u64 {
            *m.entry(k, || 0) += k;
        }
        let text = serde_json::to_string(&m).unwrap();
        let mut back: BoundedMap<u64, u64> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.get_mut(&3).copied(), Some(3));
        *back.entry(3, || 0) += 1;
        assert_eq!(back.len(), 5);
        assert_eq!(back.get(&3), Some(&4));
    }

    #[test]
    fn retain_keeps_index_consistent() {
        let mut m: BoundedMap<u64, u64> = BoundedMap::new(50);
        for k in 0..50u64 {
            *m.entry(k, || 0) = k;
        }
        m.retain(|_, v| *v % 2 == 0);
        assert_eq!(m.len(), 25);
        for k in 0..50u64 {
            assert_eq!(m.get(&k).is_some(), k % 2 == 0);
        }
    }
}

//! Reading event fields for rules: each field a rule names is resolved once, at load, to
//! the event keys that may hold it ([`FieldSpec`]); per event, a field is read the first
//! time a rule asks for it and its text is kept in a [`Scratch`] arena for the other
//! rules: as found, plus a lower-cased copy when it holds anything but ASCII (ASCII is
//! compared folding case in place; see [`super::pattern`]). The arena is reused from event to event, so
//! evaluation does not allocate once it has grown to the largest event.

use std::fmt::Write as _;

use ncsoc_model::{Event, FieldKey, FieldRef};
use serde_json::Value;

use super::pattern::lower_into;

/// Where one Sigma field is read from: the first candidate key that is present, or with
/// `gather_all` every present candidate (keyword search over several text fields).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldSpec {
    pub candidates: Vec<FieldKey>,
    pub gather_all: bool,
    /// [`key_hash`] of each candidate (0 for keys that are not in `extra`).
    hashes: Vec<u64>,
}

impl FieldSpec {
    pub fn new(candidates: Vec<FieldKey>, gather_all: bool) -> Self {
        let hashes = candidates
            .iter()
            .map(|k| match k {
                FieldKey::Extra(k) => key_hash(k),
                _ => 0,
            })
            .collect();
        Self {
            candidates,
            gather_all,
            hashes,
        }
    }
}

/// Hash of a key of `extra`, for the per-event presence filter.
#[inline]
pub fn key_hash(k: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ k.len() as u64;
    for c in k.as_bytes().chunks(8) {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w))
            .wrapping_mul(0xff51_afd7_ed55_8ccd)
            .rotate_left(29);
    }
    h ^ (h >> 32)
}

#[inline]
fn bloom_bits(h: u64) -> (usize, u64, usize, u64) {
    let a = (h & 255) as usize;
    let b = ((h >> 8) & 255) as usize;
    (a >> 6, 1 << (a & 63), b >> 6, 1 << (b & 63))
}

/// Most values read from one array field.
const MAX_ARRAY_VALUES: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Val {
    orig: (u32, u32),
    low: Low,
}

/// Where a value's case-insensitive form is.
#[derive(Debug, Clone, Copy)]
enum Low {
    /// The value itself (pure ASCII).
    Orig,
    /// A lower-cased copy in `lowtext`.
    Copy(u32, u32),
}

/// Per-event field cache. `begin` starts a new event without freeing anything.
#[derive(Debug, Default)]
pub struct Scratch {
    generation: u32,
    /// Per field slot: the generation it was read in, and its range in `vals`.
    slots: Vec<(u32, u32, u32)>,
    vals: Vec<Val>,
    text: String,
    lowtext: String,
    /// Which `extra` keys the event has (two bits per key), built on first need: most
    /// candidate keys are absent, and this answers that without a map lookup.
    bloom: [u64; 4],
    bloom_generation: u32,
    /// The groups to try for the current event (reused).
    pub(crate) groups: Vec<u32>,
    /// The rules of a group to evaluate (reused).
    pub(crate) rules: Vec<u32>,
    /// A lower-cased value for a map lookup (reused).
    pub(crate) key: String,
}

impl Scratch {
    pub fn begin(&mut self, slots: usize) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.generation = 1;
            self.slots.iter_mut().for_each(|s| s.0 = 0);
        }
        if self.slots.len() < slots {
            self.slots.resize(slots, (0, 0, 0));
        }
        self.vals.clear();
        self.text.clear();
        self.lowtext.clear();
    }

    /// The values of field `slot` in `e` (read on first use in this event), as a range of
    /// value indices for [`Scratch::orig`] / [`Scratch::low`].
    #[inline]
    pub fn values(&mut self, slot: u32, spec: &FieldSpec, e: &Event) -> std::ops::Range<u32> {
        if let Some(&(g, a, b)) = self.slots.get(slot as usize) {
            if g == self.generation {
                return a..b;
            }
        }
        self.read(slot, spec, e)
    }

    /// First read of a field in this event.
    #[inline(never)]
    fn read(&mut self, slot: u32, spec: &FieldSpec, e: &Event) -> std::ops::Range<u32> {
        let s = slot as usize;
        let start = self.vals.len() as u32;
        for (key, &h) in spec.candidates.iter().zip(&spec.hashes) {
            if let FieldKey::Extra(_) = key {
                if !self.bloom_has(h, e) {
                    continue;
                }
            }
            if let Some(v) = e.get_key(key) {
                let before = self.vals.len();
                self.push_ref(v);
                if !spec.gather_all && self.vals.len() > before {
                    break;
                }
            }
        }
        let end = self.vals.len() as u32;
        if let Some(slot) = self.slots.get_mut(s) {
            *slot = (self.generation, start, end);
        }
        start..end
    }

    /// Whether `e` may have `key` (`h`: its [`key_hash`] when in `extra`): false only when
    /// it certainly has not.
    #[inline]
    pub fn may_have(&mut self, key: &FieldKey, h: u64, e: &Event) -> bool {
        match key {
            FieldKey::Extra(_) => self.bloom_has(h, e),
            k => e.get_key(k).is_some(),
        }
    }

    /// The presence filter over `e`'s `extra` keys (built once per event) may hold `h`.
    #[inline]
    fn bloom_has(&mut self, h: u64, e: &Event) -> bool {
        if self.bloom_generation != self.generation {
            self.bloom = [0; 4];
            for k in e.extra.keys() {
                let (i, m, j, n) = bloom_bits(key_hash(k));
                self.bloom[i] |= m;
                self.bloom[j] |= n;
            }
            self.bloom_generation = self.generation;
        }
        let (i, m, j, n) = bloom_bits(h);
        self.bloom[i] & m != 0 && self.bloom[j] & n != 0
    }

    #[inline]
    pub fn orig(&self, i: u32) -> &str {
        let v = self.vals[i as usize];
        &self.text[v.orig.0 as usize..v.orig.1 as usize]
    }

    /// Value `i` for case-insensitive tests: as found when pure ASCII (tests fold ASCII
    /// case), else lower-cased.
    #[inline]
    pub fn low(&self, i: u32) -> &str {
        let v = self.vals[i as usize];
        match v.low {
            Low::Orig => &self.text[v.orig.0 as usize..v.orig.1 as usize],
            Low::Copy(a, b) => &self.lowtext[a as usize..b as usize],
        }
    }

    fn push_ref(&mut self, v: FieldRef<'_>) {
        match v {
            FieldRef::Str(s) => self.push_str(s),
            FieldRef::Int(i) => self.push_fmt(format_args!("{i}")),
            FieldRef::UInt(u) => self.push_fmt(format_args!("{u}")),
            FieldRef::Ip(ip) => self.push_fmt(format_args!("{ip}")),
            FieldRef::Time(t) => self.push_fmt(format_args!("{t}")),
            FieldRef::Strs(list) => {
                for s in list.iter().take(MAX_ARRAY_VALUES) {
                    self.push_str(s);
                }
            }
            FieldRef::Json(v) => self.push_json(v, true),
        }
    }

    fn push_json(&mut self, v: &Value, top: bool) {
        match v {
            Value::Null | Value::Object(_) => {}
            Value::String(s) => self.push_str(s),
            Value::Number(n) => self.push_fmt(format_args!("{n}")),
            Value::Bool(b) => self.push_str(if *b { "true" } else { "false" }),
            Value::Array(items) if top => {
                for i in items.iter().take(MAX_ARRAY_VALUES) {
                    self.push_json(i, false);
                }
            }
            Value::Array(_) => {}
        }
    }

    fn push_fmt(&mut self, args: std::fmt::Arguments<'_>) {
        let a = self.text.len();
        let _ = self.text.write_fmt(args);
        self.finish(a);
    }

    fn push_str(&mut self, s: &str) {
        let a = self.text.len();
        self.text.push_str(s);
        self.finish(a);
    }

    /// The text at `a..` is one value: adds its lower-cased form unless it is ASCII.
    fn finish(&mut self, a: usize) {
        let b = self.text.len();
        let v = &self.text[a..b];
        let low = if v.is_ascii() {
            Low::Orig
        } else {
            let l0 = self.lowtext.len();
            lower_into(v, &mut self.lowtext);
            Low::Copy(l0 as u32, self.lowtext.len() as u32)
        };
        self.vals.push(Val {
            orig: (a as u32, b as u32),
            low,
        });
    }
}

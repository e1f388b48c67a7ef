//! Identifiers: 26-character, time-ordered, unique within and across processes
//! (48 bits of milliseconds, then 80 bits from a per-process seed and a counter),
//! written in Crockford base32 like a ULID.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::Timestamp;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_i64(Timestamp::now().nanos());
        h.finish()
    })
}

/// A new unique id whose first 10 characters sort by `at` (milliseconds).
pub fn new_id(at: Timestamp) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let ms = (at.millis().max(0) as u128) & ((1 << 48) - 1);
    // 16 bits of seed and 64 bits of (seed ^ counter) keep ids of one process distinct
    // for 2^64 calls and make collisions across processes unlikely.
    let low = (u128::from(seed() >> 48) << 64) | u128::from(seed().rotate_left(17) ^ n);
    encode((ms << 80) | low)
}

/// Deterministic id from a content hash: replaying the same input gives the same ids.
pub fn id_from_parts(at: Timestamp, parts: &[&[u8]]) -> String {
    // FNV-1a over the parts, 64 bits twice with different offsets.
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x6c62_272e_07bb_0142;
    for p in parts {
        for &x in *p {
            a = (a ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
            b = (b ^ u64::from(x))
                .wrapping_mul(0x0000_0100_0000_01b3)
                .rotate_left(5);
        }
        a = (a ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let ms = (at.millis().max(0) as u128) & ((1 << 48) - 1);
    encode((ms << 80) | (u128::from(b & 0xffff) << 64) | u128::from(a))
}

fn encode(mut v: u128) -> String {
    let mut out = [0u8; 26];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(v & 31) as usize];
        v >>= 5;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_and_time_ordered() {
        let a = new_id(Timestamp::from_millis(1_000));
        let b = new_id(Timestamp::from_millis(2_000));
        let c = new_id(Timestamp::from_millis(2_000));
        assert_eq!(a.len(), 26);
        assert!(a < b);
        assert_ne!(b, c);
        let ids: std::collections::HashSet<_> = (0..10_000)
            .map(|_| new_id(Timestamp::from_millis(5)))
            .collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn content_ids_are_deterministic() {
        let t = Timestamp::from_secs(10);
        assert_eq!(
            id_from_parts(t, &[b"a", b"b"]),
            id_from_parts(t, &[b"a", b"b"])
        );
        assert_ne!(id_from_parts(t, &[b"a", b"b"]), id_from_parts(t, &[b"ab"]));
    }
}

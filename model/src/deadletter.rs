//! Rejected input, kept with its raw bytes and the reason, so nothing is silently lost.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: String,
    /// Ingest time.
    pub received: Timestamp,
    pub sector: String,
    pub source: String,
    /// The format the input was read as (`syslog`, `cef`, `netflow9`, ...).
    pub format: String,
    /// What was wrong, naming the byte offset or field where known.
    pub reason: String,
    /// The input exactly as received.
    #[serde(with = "raw_bytes")]
    pub raw: Vec<u8>,
}

/// Raw bytes in JSON: an array of numbers would be huge, so bytes are written as a string
/// with every byte outside printable ASCII, and `\`, escaped as `\xHH`.
mod raw_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(raw: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::deadletter::escape(raw))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        crate::deadletter::unescape(&s)
            .ok_or_else(|| serde::de::Error::custom("invalid \\xHH escape in raw bytes"))
    }
}

pub fn escape(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

pub fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) != Some(&b'x') || i + 4 > b.len() {
                return None;
            }
            let hex = std::str::from_utf8(&b[i + 2..i + 4]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    proptest::proptest! {
        #[test]
        fn raw_round_trip(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            proptest::prop_assert_eq!(unescape(&escape(&raw)).unwrap(), raw);
        }
    }
}

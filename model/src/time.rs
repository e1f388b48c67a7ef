//! Event time: nanoseconds since the Unix epoch, formatted as RFC 3339 in UTC.
//!
//! Hand-written civil-date conversion (days from 1970-01-01 to year/month/day and back)
//! keeps formatting allocation-light on the hot path and avoids a date crate in `model`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, nanoseconds since 1970-01-01T00:00:00Z (range 1677..2262).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Why a timestamp could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 timestamp `{input}`: {reason}")]
pub struct TimestampError {
    pub input: String,
    pub reason: &'static str,
}

impl Timestamp {
    pub const fn from_nanos(n: i64) -> Self {
        Self(n)
    }
    pub const fn from_secs(s: i64) -> Self {
        Self(s * NANOS_PER_SEC)
    }
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms * 1_000_000)
    }
    pub const fn nanos(self) -> i64 {
        self.0
    }
    pub const fn secs(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SEC)
    }
    pub const fn millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }
    /// The wall clock now. Used for `event.created` only: detection runs on event time.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(d.as_nanos().min(i64::MAX as u128) as i64)
    }
    /// Days since the epoch of this instant's UTC date.
    pub const fn day(self) -> i64 {
        self.secs().div_euclid(86_400)
    }

    /// Builds a timestamp from UTC calendar fields; `None` if a field is out of range.
    pub fn from_civil(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        min: u32,
        sec: u32,
        nanos: u32,
    ) -> Option<Self> {
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || min > 59
            || sec > 60
            || nanos >= 1_000_000_000
        {
            return None;
        }
        // A leap second is folded into the next second, as most systems do.
        let days = days_from_civil(year, month, day);
        let secs = days
            .checked_mul(86_400)?
            .checked_add(i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec))?;
        secs.checked_mul(NANOS_PER_SEC)?
            .checked_add(i64::from(nanos))
            .map(Self)
    }

    /// (year, month, day, hour, minute, second, nanosecond) in UTC.
    pub fn to_civil(self) -> (i64, u32, u32, u32, u32, u32, u32) {
        let secs = self.secs();
        let nanos = self.0.rem_euclid(NANOS_PER_SEC) as u32;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, rem / 3600, (rem / 60) % 60, rem % 60, nanos)
    }

    /// Parses RFC 3339 (`2024-05-01T12:00:00.123Z`, `...+02:00`); a space may stand for `T`
    /// and the fraction may have 1 to 9 digits.
    pub fn parse_rfc3339(s: &str) -> Result<Self, TimestampError> {
        let err = |reason| TimestampError {
            input: truncate(s),
            reason,
        };
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(err("too short"));
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, TimestampError> {
            let mut v = 0u32;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return Err(err("expected a digit"));
                }
                v = v * 10 + u32::from(c - b'0');
            }
            Ok(v)
        };
        if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return Err(err("expected YYYY-MM-DDTHH:MM:SS"));
        }
        if b[13] != b':' || b[16] != b':' {
            return Err(err("expected HH:MM:SS"));
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let mut i = 19;
        let mut nanos = 0u32;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 9 {
                    nanos = nanos * 10 + u32::from(b[i] - b'0');
                }
                i += 1;
            }
            let digits = i - start;
            if digits == 0 {
                return Err(err("empty fraction"));
            }
            for _ in digits..9 {
                nanos *= 10;
            }
        }
        let offset_secs: i64 = match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
                let h = num(i + 1..i + 3)?;
                let m = num(i + 4..i + 6)?;
                if h > 23 || m > 59 {
                    return Err(err("offset out of range"));
                }
                let off = i64::from(h * 3600 + m * 60);
                if sign == b'+' {
                    off
                } else {
                    -off
                }
            }
            _ => return Err(err("expected `Z` or a `+HH:MM` offset")),
        };
        let t = Self::from_civil(i64::from(year), month, day, hour, min, sec, nanos)
            .ok_or_else(|| err("field out of range"))?;
        t.0.checked_sub(offset_secs * NANOS_PER_SEC)
            .map(Self)
            .ok_or_else(|| err("out of range"))
    }

    /// Writes RFC 3339 in UTC with 3, 6 or 9 fraction digits, the fewest that are exact.
    pub fn write_rfc3339(self, out: &mut String) {
        let (y, mo, d, h, mi, s, n) = self.to_civil();
        if !(0..=9999).contains(&y) {
            use fmt::Write;
            let _ = write!(out, "{y:+05}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
        } else {
            // Digits written directly: this runs for every event serialised.
            let y = y as u32;
            let mut b = *b"0000-00-00T00:00:00";
            put_digits(&mut b[0..4], y);
            put_digits(&mut b[5..7], mo);
            put_digits(&mut b[8..10], d);
            put_digits(&mut b[11..13], h);
            put_digits(&mut b[14..16], mi);
            put_digits(&mut b[17..19], s);
            out.push_str(std::str::from_utf8(&b).unwrap_or_default());
        }
        let (frac, width) = if n % 1_000_000 == 0 {
            (n / 1_000_000, 3)
        } else if n % 1_000 == 0 {
            (n / 1_000, 6)
        } else {
            (n, 9)
        };
        let mut b = *b".000000000Z";
        put_digits(&mut b[1..=width], frac);
        b[width + 1] = b'Z';
        out.push_str(std::str::from_utf8(&b[..width + 2]).unwrap_or_default());
    }

    pub fn to_rfc3339(self) -> String {
        let mut s = String::with_capacity(30);
        self.write_rfc3339(&mut s);
        s
    }
}

/// Writes `v` as decimal digits filling `out` (zero-padded, high digits dropped).
fn put_digits(out: &mut [u8], mut v: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

pub(crate) fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (era-based, exact for all i64 years
/// that fit).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let t = Timestamp::parse_rfc3339("2024-02-29T23:59:59.5+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-02-29T22:59:59.500Z");
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(1).to_rfc3339(), "1970-01-01T00:00:00.000000001Z");
        assert_eq!(Timestamp(1_000).to_rfc3339(), "1970-01-01T00:00:00.000001Z");
        assert_eq!(
            Timestamp(-1_000_000).to_rfc3339(),
            "1969-12-31T23:59:59.999Z"
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2001-09-09T01:46:40Z").unwrap(),
            Timestamp::from_secs(1_000_000_000)
        );
    }

    #[test]
    fn rejects_garbage_with_reason() {
        for bad in [
            "",
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01X00:00:00Z",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn civil_round_trip(days in -200_000i64..200_000) {
            let (y, m, d) = civil_from_days(days);
            proptest::prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn rfc3339_round_trip(n in -5_000_000_000_000_000_000i64..5_000_000_000_000_000_000) {
            let t = Timestamp(n);
            proptest::prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()).unwrap(), t);
        }

        #[test]
        fn rfc3339_text_is_the_formatted_civil_time(n in -9_000_000_000_000_000_000i64..9_000_000_000_000_000_000) {
            let t = Timestamp(n);
            let (y, mo, d, h, mi, s, ns) = t.to_civil();
            let date = if (0..=9999).contains(&y) {
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
            } else {
                format!("{y:+05}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
            };
            let frac = if ns % 1_000_000 == 0 {
                format!(".{:03}Z", ns / 1_000_000)
            } else if ns % 1_000 == 0 {
                format!(".{:06}Z", ns / 1_000)
            } else {
                format!(".{ns:09}Z")
            };
            proptest::prop_assert_eq!(t.to_rfc3339(), format!("{date}{frac}"));
        }
    }
}

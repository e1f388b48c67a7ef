//! Timestamps as CEF and LEEF senders write them.
//!
//! - Epoch milliseconds (`1427881661000`), what ArcSight connectors send.
//! - `MMM dd [yyyy] HH:mm:ss[.SSS] [zone]` (CEF's text form, LEEF's default `devTime`); a
//!   missing year is the latest one that does not put the instant more than a week after
//!   the receive time, as for RFC 3164 syslog; a missing zone means
//!   [`Context::default_offset_secs`].
//! - RFC 3339, which some senders use although neither format defines it.
//! - For LEEF, a Java `SimpleDateFormat` pattern (`devTimeFormat`): the letters `y M d H h
//!   k K a m s S E z Z X` and quoted literals are understood.
//!
//! Zones: `Z`, `UTC`, `GMT`, `UT`, numeric offsets (`+02:00`, `+0200`, `+02`, `GMT+2`) and
//! a few unambiguous North-American and European abbreviations. Anything else (IANA names
//! such as `Europe/Berlin`) is not resolved and the value is left as text.

use ncsoc_model::Timestamp;

use crate::syslog::Context;

const NANOS_PER_SEC: i64 = 1_000_000_000;
/// How far ahead of the receive time a year-less timestamp may be (sender clock skew).
const MAX_FUTURE_SECS: i64 = 7 * 86_400;
/// Longest text accepted as a timestamp: anything longer is not one.
const MAX_LEN: usize = 64;

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// Epoch milliseconds: an optional `-` and 1 to 18 digits.
pub(crate) fn epoch_millis(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits
        .iter()
        .fold(0i64, |v, d| v * 10 + i64::from(d - b'0'));
    let ms = if neg { -v } else { v };
    ms.checked_mul(1_000_000).map(Timestamp::from_nanos)
}

/// A CEF timestamp: epoch millis, `MMM dd [yyyy] HH:mm:ss[.SSS] [zone]`, or RFC 3339.
pub(crate) fn cef_time(s: &str, ctx: &Context) -> Option<Timestamp> {
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_LEN {
        return None;
    }
    if let Some(t) = epoch_millis(s) {
        return Some(t);
    }
    if s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return Timestamp::parse_rfc3339(s).ok();
    }
    month_day_time(s.as_bytes(), ctx)
}

/// `MMM dd [yyyy] HH:mm:ss[.fff] [zone]` with one or more spaces between the parts.
fn month_day_time(b: &[u8], ctx: &Context) -> Option<Timestamp> {
    let mut c = Scan { b, pos: 0 };
    let month = c.month_name()?;
    c.spaces(1)?;
    let day = c.digits(1, 2)?;
    c.spaces(1)?;
    let mut year = None;
    if c.rest().len() > 4 && c.rest()[..4].iter().all(u8::is_ascii_digit) && c.rest()[4] == b' ' {
        year = Some(i64::from(c.digits(4, 4)?));
        c.spaces(1)?;
    }
    let hour = c.digits(2, 2)?;
    c.lit(b':')?;
    let min = c.digits(2, 2)?;
    c.lit(b':')?;
    let sec = c.digits(2, 2)?;
    let mut nanos = 0;
    if c.peek() == Some(b'.') {
        c.pos += 1;
        nanos = c.fraction()?;
    }
    let mut offset = None;
    if !c.at_end() {
        c.spaces(1)?;
        offset = Some(c.zone()?);
    }
    if !c.at_end() {
        return None;
    }
    let fields = Civil {
        year,
        month,
        day,
        hour,
        min,
        sec,
        nanos,
        offset_secs: offset,
    };
    fields.resolve(ctx)
}

/// Calendar fields read from text, before the year and zone are settled.
#[derive(Default)]
pub(crate) struct Civil {
    pub year: Option<i64>,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub nanos: u32,
    /// UTC offset written in the text; `None` takes the source's default zone.
    pub offset_secs: Option<i32>,
}

impl Civil {
    /// The instant, in the given year or (when none) in the latest year that does not put
    /// it more than [`MAX_FUTURE_SECS`] after `ctx.now`: messages come from the past, with
    /// some clock skew. So `Dec 31 23:59:59` received on Jan 1 is last year's,
    /// `Jan 1 00:00:01` received on Dec 31 (a sender's clock a little ahead) is next
    /// year's, and `Oct 11` received in June is last October, not next.
    pub(crate) fn resolve(&self, ctx: &Context) -> Option<Timestamp> {
        let offset = i64::from(self.offset_secs.unwrap_or(ctx.default_offset_secs)) * NANOS_PER_SEC;
        let at = |year: i64| {
            Timestamp::from_civil(
                year, self.month, self.day, self.hour, self.min, self.sec, self.nanos,
            )
            .and_then(|t| t.nanos().checked_sub(offset))
            .map(Timestamp::from_nanos)
        };
        if let Some(year) = self.year {
            return at(year);
        }
        let local_now = Timestamp::from_nanos(ctx.now.nanos().saturating_add(offset));
        let this_year = local_now.to_civil().0;
        let latest = ctx
            .now
            .nanos()
            .saturating_add(MAX_FUTURE_SECS * NANOS_PER_SEC);
        (this_year - 1..=this_year + 1)
            .rev()
            .filter_map(at)
            .find(|t| t.nanos() <= latest)
    }
}

/// A timestamp read with a Java `SimpleDateFormat` pattern (LEEF `devTimeFormat`).
/// `None` when the text does not match the pattern or the date is invalid.
pub(crate) fn with_pattern(s: &str, pattern: &str, ctx: &Context) -> Option<Timestamp> {
    let s = s.trim();
    if s.len() > MAX_LEN || pattern.len() > MAX_LEN {
        return None;
    }
    let p = pattern.as_bytes();
    let mut c = Scan {
        b: s.as_bytes(),
        pos: 0,
    };
    let mut f = Civil {
        month: 1,
        day: 1,
        ..Civil::default()
    };
    let mut pm = None;
    let mut i = 0;
    while i < p.len() {
        let ch = p[i];
        if ch == b'\'' {
            // Quoted literal; `''` is a single quote.
            let close = p[i + 1..].iter().position(|&b| b == b'\'')?;
            let lit = &p[i + 1..i + 1 + close];
            if lit.is_empty() {
                c.lit(b'\'')?;
            } else {
                for &l in lit {
                    c.lit(l)?;
                }
            }
            i += close + 2;
            continue;
        }
        if !ch.is_ascii_alphabetic() {
            if ch == b' ' {
                c.spaces(1)?;
            } else {
                c.lit(ch)?;
            }
            i += 1;
            continue;
        }
        let run = p[i..].iter().take_while(|&&b| b == ch).count();
        i += run;
        match ch {
            b'y' | b'u' => {
                if run == 2 {
                    f.year = Some(2000 + i64::from(c.digits(2, 2)?));
                } else {
                    f.year = Some(i64::from(c.digits(1, 4)?));
                }
            }
            b'M' | b'L' => {
                f.month = if run >= 3 {
                    c.month_name()?
                } else {
                    c.digits(1, 2)?
                };
            }
            b'd' => f.day = c.digits(1, 2)?,
            b'H' | b'k' => f.hour = c.digits(1, 2)? % 24,
            b'h' | b'K' => f.hour = c.digits(1, 2)? % 12,
            b'a' => pm = Some(c.am_pm()?),
            b'm' => f.min = c.digits(1, 2)?,
            b's' => f.sec = c.digits(1, 2)?,
            b'S' => f.nanos = c.fraction()?,
            b'E' => c.word(),
            b'z' | b'Z' | b'X' => f.offset_secs = Some(c.zone()?),
            _ => return None,
        }
    }
    if !c.at_end() {
        return None;
    }
    if pm == Some(true) {
        f.hour += 12;
    }
    f.resolve(ctx)
}

/// A read position in timestamp text.
struct Scan<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.b.get(self.pos..).unwrap_or_default()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn lit(&mut self, ch: u8) -> Option<()> {
        (self.peek() == Some(ch)).then(|| self.pos += 1)
    }

    /// At least `min` spaces.
    fn spaces(&mut self, min: usize) -> Option<()> {
        let n = self.rest().iter().take_while(|&&b| b == b' ').count();
        self.pos += n;
        (n >= min).then_some(())
    }

    /// `min..=max` ASCII digits.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let rest = self.rest();
        let n = rest
            .iter()
            .take(max)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if n < min {
            return None;
        }
        self.pos += n;
        Some(
            rest[..n]
                .iter()
                .fold(0u32, |v, d| v * 10 + u32::from(d - b'0')),
        )
    }

    /// Fraction digits as nanoseconds (digits past the ninth are ignored).
    fn fraction(&mut self) -> Option<u32> {
        let rest = self.rest();
        let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        self.pos += n;
        let mut nanos = 0u32;
        for k in 0..9 {
            nanos = nanos * 10
                + rest
                    .get(k)
                    .filter(|_| k < n)
                    .map_or(0, |d| u32::from(d - b'0'));
        }
        Some(nanos)
    }

    /// A month name: its first three letters, any case, optionally followed by the rest of
    /// the English name (`Sep`, `Sept`, `September`).
    fn month_name(&mut self) -> Option<u32> {
        let rest = self.rest();
        let word = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        if word < 3 {
            return None;
        }
        let head = [
            rest[0].to_ascii_lowercase(),
            rest[1].to_ascii_lowercase(),
            rest[2].to_ascii_lowercase(),
        ];
        let m = MONTHS.iter().position(|name| **name == head)?;
        self.pos += word;
        Some(m as u32 + 1)
    }

    fn am_pm(&mut self) -> Option<bool> {
        let rest = self.rest();
        let pm = match rest.get(..2) {
            Some(w) if w.eq_ignore_ascii_case(b"am") => false,
            Some(w) if w.eq_ignore_ascii_case(b"pm") => true,
            _ => return None,
        };
        self.pos += 2;
        Some(pm)
    }

    /// Skips a word (a day name).
    fn word(&mut self) {
        self.pos += self
            .rest()
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
    }

    /// A zone: `Z`, a numeric offset, `UTC`/`GMT`/`UT` optionally followed by an offset, or
    /// a known abbreviation. Seconds east of UTC.
    fn zone(&mut self) -> Option<i32> {
        let rest = self.rest();
        let word = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        if word > 0 {
            let name = &rest[..word];
            self.pos += word;
            let base = if name.eq_ignore_ascii_case(b"utc")
                || name.eq_ignore_ascii_case(b"gmt")
                || name.eq_ignore_ascii_case(b"ut")
                || name.eq_ignore_ascii_case(b"z")
            {
                0
            } else {
                return abbreviation(name);
            };
            if matches!(self.peek(), Some(b'+' | b'-')) {
                return self.numeric_offset();
            }
            return Some(base);
        }
        self.numeric_offset()
    }

    /// `±hh`, `±h`, `±hhmm` or `±hh:mm`.
    fn numeric_offset(&mut self) -> Option<i32> {
        let sign = match self.peek()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        self.pos += 1;
        let h = self.digits(1, 2)?;
        let mut m = 0;
        if self.peek() == Some(b':') {
            self.pos += 1;
            m = self.digits(2, 2)?;
        } else if self.rest().len() >= 2 && self.rest()[..2].iter().all(u8::is_ascii_digit) {
            m = self.digits(2, 2)?;
        }
        if h > 23 || m > 59 {
            return None;
        }
        Some(sign * (h as i32 * 3600 + m as i32 * 60))
    }
}

/// Zone abbreviations whose meaning is not in doubt in the feeds we receive.
fn abbreviation(name: &[u8]) -> Option<i32> {
    const H: i32 = 3600;
    const TABLE: [(&[u8], i32); 14] = [
        (b"CET", H),
        (b"CEST", 2 * H),
        (b"EET", 2 * H),
        (b"EEST", 3 * H),
        (b"WET", 0),
        (b"WEST", H),
        (b"EST", -5 * H),
        (b"EDT", -4 * H),
        (b"CST", -6 * H),
        (b"CDT", -5 * H),
        (b"MST", -7 * H),
        (b"MDT", -6 * H),
        (b"PST", -8 * H),
        (b"PDT", -7 * H),
    ];
    TABLE
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, off)| off)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            sector: "s".into(),
            source: "t".into(),
            now: Timestamp::parse_rfc3339("2024-06-15T12:00:00Z").unwrap(),
            default_offset_secs: 0,
        }
    }

    fn ts(s: &str) -> Option<Timestamp> {
        Some(Timestamp::parse_rfc3339(s).unwrap())
    }

    #[test]
    fn cef_forms() {
        let c = ctx();
        assert_eq!(cef_time("1427881661000", &c), ts("2015-04-01T09:47:41Z"));
        assert_eq!(cef_time("-1000", &c), ts("1969-12-31T23:59:59Z"));
        assert_eq!(
            cef_time("Sep 17 2025 11:45:34 GMT", &c),
            ts("2025-09-17T11:45:34Z")
        );
        assert_eq!(
            cef_time("Sep 17 2025 11:45:34.250", &c),
            ts("2025-09-17T11:45:34.25Z")
        );
        assert_eq!(
            cef_time("Jan  5 2024 01:02:03 +02:00", &c),
            ts("2024-01-04T23:02:03Z")
        );
        assert_eq!(
            cef_time("Jan 5 2024 01:02:03 CEST", &c),
            ts("2024-01-04T23:02:03Z")
        );
        assert_eq!(
            cef_time("Jan 5 2024 01:02:03 GMT-0130", &c),
            ts("2024-01-05T02:32:03Z")
        );
        // No year: the latest that is not far in the future.
        assert_eq!(cef_time("Oct 11 22:14:15", &c), ts("2023-10-11T22:14:15Z"));
        assert_eq!(
            cef_time("Jun 16 00:00:00 UTC", &c),
            ts("2024-06-16T00:00:00Z")
        );
        assert_eq!(
            cef_time("2024-01-01T00:00:00+01:00", &c),
            ts("2023-12-31T23:00:00Z")
        );
        // A zone without offset: the default offset.
        let mut c2 = c.clone();
        c2.default_offset_secs = 3600;
        assert_eq!(
            cef_time("Jan 5 2024 01:02:03", &c2),
            ts("2024-01-05T00:02:03Z")
        );
        for bad in [
            "",
            "Foo 1 2024 00:00:00",
            "Jan 32 2024 00:00:00",
            "Jan 5 2024 24:00:00",
            "Jan 5 2024 01:02:03 Europe/Berlin",
            "Jan 5 2024 01:02",
            "12345678901234567890",
            "1.5",
        ] {
            assert_eq!(cef_time(bad, &c), None, "{bad}");
        }
    }

    #[test]
    fn simple_date_format_patterns() {
        let c = ctx();
        assert_eq!(
            with_pattern(
                "2025-10-01T13:10:27.000+0000",
                "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
                &c
            ),
            ts("2025-10-01T13:10:27Z")
        );
        assert_eq!(
            with_pattern("Oct 01 2025 13:10:27 GMT", "MMM dd yyyy HH:mm:ss z", &c),
            ts("2025-10-01T13:10:27Z")
        );
        assert_eq!(
            with_pattern("01/10/25 01:10:27 PM", "dd/MM/yy hh:mm:ss a", &c),
            ts("2025-10-01T13:10:27Z")
        );
        assert_eq!(
            with_pattern("Wed, 1 Oct 2025 13:10:27", "EEE, d MMM yyyy HH:mm:ss", &c),
            ts("2025-10-01T13:10:27Z")
        );
        assert_eq!(
            with_pattern("20251001131027", "yyyyMMddHHmmss", &c),
            ts("2025-10-01T13:10:27Z")
        );
        assert_eq!(
            with_pattern("at 2025 '", "'at' yyyy ''", &c),
            ts("2025-01-01T00:00:00Z")
        );
        assert_eq!(with_pattern("2025-10-01", "yyyy/MM/dd", &c), None);
        assert_eq!(with_pattern("2025-10-01", "yyyy-MM-dd Q", &c), None);
        assert_eq!(with_pattern("2025-10-01 extra", "yyyy-MM-dd", &c), None);
        assert_eq!(with_pattern("x", "'unterminated", &c), None);
    }
}

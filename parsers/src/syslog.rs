//! Syslog: RFC 5424 and RFC 3164 ("BSD syslog") messages into [`Message`]s and ECS
//! [`Event`]s.
//!
//! # The two formats
//!
//! **RFC 5424** — `<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP
//! STRUCTURED-DATA [SP MSG]`, for example
//! `<165>1 2003-10-11T22:14:15.003Z host app - ID47 [ex@32473 iut="3"] text`.
//! Every header field may be the NILVALUE `-`. The timestamp is RFC 3339 with an optional
//! fraction and a `Z` or `±hh:mm` offset. Structured data is zero or more
//! `[SD-ID name="value" …]` elements; inside a value `\"`, `\\` and `\]` are escapes (any
//! other backslash is kept as written). MSG may start with a UTF-8 byte-order mark, which
//! is dropped. Leniencies: a timestamp without offset is read in
//! [`Context::default_offset_secs`], and a missing space between STRUCTURED-DATA and MSG
//! is tolerated.
//!
//! **RFC 3164** — `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`, which in practice comes in
//! many shapes. Handled quirks:
//!
//! - no `<PRI>` at all: facility `user`, severity `notice` (PRI 13), as RFC 3164 §4.3.3
//!   prescribes for relays;
//! - single-digit days padded with a space (`Mar  1`) or not padded (`Mar 1`), an optional
//!   year (`Mar 12 2024 12:00:08`) and optional fractional seconds;
//! - no year: the year is inferred as the latest one that does not put the message more
//!   than a week after [`Context::now`] (a `Dec 31 23:59:59` message received on Jan 1
//!   belongs to the previous year; `Oct 11` received in June is last October);
//! - no time zone: the timestamp is read in [`Context::default_offset_secs`];
//! - an RFC 3339 / ISO 8601 timestamp in place of the BSD one (with or without offset, `T`
//!   or a space between date and time);
//! - hostnames with any non-space characters (`fw-01_a.b`, `host@[::1]`), or no hostname at
//!   all (`Mar 12 12:00:08 sshd[42]: …`, recognised because the first word ends in `:` or
//!   in a numeric `[pid]`);
//! - tags with or without `[PID]`, with or without the colon after them;
//! - a `<PRI>` followed by no recognisable timestamp: the rest is all MSG (RFC 3164 §4.3.3).
//!
//! Trailing CR, LF and NUL bytes (line framing) are ignored. Header fields borrow from the
//! input; MSG and structured-data values are borrowed unless they needed unescaping or
//! were not valid UTF-8 (replaced lossily).
//!
//! [`to_event`] maps a message onto ECS the way Elastic's syslog integrations do
//! (`log.syslog.*`, `host.name`, `process.name`, `process.pid`, `message`).

use std::borrow::Cow;
use std::fmt;

use ncsoc_model::id::id_from_parts;
use ncsoc_model::{Event, Timestamp};
use serde_json::{Map, Value};

/// Where a message came from and when: the tenant, the feed, the receive time and the
/// time zone assumed for timestamps that carry none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub sector: String,
    pub source: String,
    /// Receive time: `event.created`, and the reference for inferring a missing year.
    pub now: Timestamp,
    /// UTC offset (seconds east) of RFC 3164 timestamps that carry no zone.
    pub default_offset_secs: i32,
}

/// Which syslog format a message was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rfc5424,
    Rfc3164,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
        }
    }
}

/// One structured-data parameter: name and (unescaped) value.
pub type SdParam<'a> = (&'a str, Cow<'a, str>);
/// One structured-data element: SD-ID and its parameters in input order.
pub type SdElement<'a> = (&'a str, Vec<SdParam<'a>>);

/// A parsed syslog message, borrowing the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<'a> {
    pub format: Format,
    /// 0..=23.
    pub facility: u8,
    /// 0..=7.
    pub severity: u8,
    /// `Some(1)` for RFC 5424; `None` for RFC 3164.
    pub version: Option<u8>,
    pub timestamp: Option<Timestamp>,
    pub hostname: Option<&'a str>,
    /// APP-NAME (RFC 5424) or TAG (RFC 3164).
    pub app_name: Option<&'a str>,
    pub proc_id: Option<&'a str>,
    pub msg_id: Option<&'a str>,
    pub structured_data: Vec<SdElement<'a>>,
    pub msg: Cow<'a, str>,
}

impl Message<'_> {
    /// The PRI value: facility × 8 + severity.
    pub fn priority(&self) -> u8 {
        self.facility * 8 + self.severity
    }
}

/// Why input could not be read as syslog: the byte offset, the part being read and what
/// was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub field: &'static str,
    pub expected: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} at byte {}: expected {}",
            self.field, self.offset, self.expected
        )
    }
}

impl std::error::Error for ParseError {}

/// PRI assumed when an RFC 3164 message has none: facility user (1), severity notice (5).
pub const DEFAULT_PRI: u8 = 13;

const BOM: &[u8] = b"\xEF\xBB\xBF";
const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Parses one syslog message (RFC 5424 when `<PRI>` is followed by a version number and a
/// space, RFC 3164 otherwise).
pub fn parse<'a>(input: &'a [u8], ctx: &Context) -> Result<Message<'a>, ParseError> {
    let end = input
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | 0))
        .map_or(0, |i| i + 1);
    let mut c = Cursor {
        b: &input[..end],
        pos: 0,
    };
    if c.b.is_empty() {
        return Err(c.err("message", "a syslog message, found empty input"));
    }
    let pri = if c.peek() == Some(b'<') {
        Some(parse_pri(&mut c)?)
    } else {
        None
    };
    if let Some(pri) = pri {
        if let Some(version) = parse_version(&mut c) {
            return parse_5424(c, pri, version, ctx);
        }
    }
    parse_3164(c, pri, ctx)
}

/// A read position in the input.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.b.get(self.pos..).unwrap_or_default()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// The bytes up to the next space (or the end), consumed.
    fn token(&mut self) -> &'a [u8] {
        let rest = self.rest();
        let n = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        self.pos += n;
        &rest[..n]
    }

    fn err(&self, field: &'static str, expected: &'static str) -> ParseError {
        ParseError {
            offset: self.pos,
            field,
            expected,
        }
    }
}

fn parse_pri(c: &mut Cursor<'_>) -> Result<(u8, u8), ParseError> {
    const EXPECTED: &str = "'<' followed by 1-3 digits and '>'";
    let start = c.pos;
    let bad = ParseError {
        offset: start,
        field: "PRI",
        expected: EXPECTED,
    };
    if !c.eat(b'<') {
        return Err(bad);
    }
    let digits = c.rest().iter().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=3).contains(&digits) || c.rest().get(digits) != Some(&b'>') {
        return Err(bad);
    }
    let value = digits_value(&c.rest()[..digits]);
    if value > 191 {
        return Err(ParseError {
            offset: start,
            field: "PRI",
            expected: "a priority from 0 to 191",
        });
    }
    c.pos += digits + 1;
    Ok(((value / 8) as u8, (value % 8) as u8))
}

/// An RFC 5424 VERSION (a number without leading zero, then a space), consumed if present.
fn parse_version(c: &mut Cursor<'_>) -> Option<u8> {
    let rest = c.rest();
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=3).contains(&digits) || rest[0] == b'0' || rest.get(digits) != Some(&b' ') {
        return None;
    }
    let v = u8::try_from(digits_value(&rest[..digits])).ok()?;
    c.pos += digits + 1;
    Some(v)
}

fn digits_value(digits: &[u8]) -> u32 {
    digits.iter().fold(0u32, |v, d| {
        v.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    })
}

fn parse_5424<'a>(
    mut c: Cursor<'a>,
    (facility, severity): (u8, u8),
    version: u8,
    ctx: &Context,
) -> Result<Message<'a>, ParseError> {
    let ts_start = c.pos;
    let ts = c.token();
    let timestamp = if ts == b"-" {
        None
    } else {
        Some(parse_iso(ts, ts_start, ctx.default_offset_secs)?)
    };
    let hostname = header_field(&mut c, "HOSTNAME")?;
    let app_name = header_field(&mut c, "APP-NAME")?;
    let proc_id = header_field(&mut c, "PROCID")?;
    let msg_id = header_field(&mut c, "MSGID")?;
    expect_space(&mut c, "STRUCTURED-DATA")?;
    let structured_data = match c.peek() {
        Some(b'-') => {
            c.pos += 1;
            Vec::new()
        }
        Some(b'[') => parse_sd(&mut c)?,
        _ => return Err(c.err("STRUCTURED-DATA", "'-' or '['")),
    };
    // MSG follows one space; tolerate its absence rather than reject the message.
    c.eat(b' ');
    let mut msg = c.rest();
    if let Some(stripped) = msg.strip_prefix(BOM) {
        msg = stripped;
    }
    Ok(Message {
        format: Format::Rfc5424,
        facility,
        severity,
        version: Some(version),
        timestamp,
        hostname,
        app_name,
        proc_id,
        msg_id,
        structured_data,
        msg: String::from_utf8_lossy(msg),
    })
}

fn expect_space(c: &mut Cursor<'_>, field: &'static str) -> Result<(), ParseError> {
    if c.eat(b' ') {
        Ok(())
    } else {
        Err(c.err(field, "a space before it"))
    }
}

/// A space, then an RFC 5424 header field: `None` for the NILVALUE `-`.
fn header_field<'a>(
    c: &mut Cursor<'a>,
    field: &'static str,
) -> Result<Option<&'a str>, ParseError> {
    expect_space(c, field)?;
    let start = c.pos;
    let tok = c.token();
    if tok.is_empty() {
        return Err(c.err(field, "a value or '-'"));
    }
    if tok == b"-" {
        return Ok(None);
    }
    std::str::from_utf8(tok).map(Some).map_err(|_| ParseError {
        offset: start,
        field,
        expected: "printable US-ASCII",
    })
}

fn parse_sd<'a>(c: &mut Cursor<'a>) -> Result<Vec<SdElement<'a>>, ParseError> {
    const FIELD: &str = "STRUCTURED-DATA";
    let mut elements = Vec::new();
    while c.eat(b'[') {
        let id = sd_name(c, b" ]", "an SD-ID")?;
        let mut params = Vec::new();
        loop {
            match c.peek() {
                Some(b']') => {
                    c.pos += 1;
                    break;
                }
                Some(b' ') => {
                    c.skip_spaces();
                    if c.peek() == Some(b']') {
                        continue;
                    }
                    let name = sd_name(c, b"=", "a PARAM-NAME")?;
                    if !c.eat(b'=') {
                        return Err(c.err(FIELD, "'=' after the PARAM-NAME"));
                    }
                    if !c.eat(b'"') {
                        return Err(c.err(FIELD, "'\"' opening the PARAM-VALUE"));
                    }
                    let value = sd_value(c)?;
                    params.push((name, value));
                }
                _ => return Err(c.err(FIELD, "' ' or ']' in an SD-ELEMENT")),
            }
        }
        elements.push((id, params));
    }
    Ok(elements)
}

/// An SD-ID or PARAM-NAME: one or more printable ASCII bytes other than `=`, space, `]`
/// and `"`, ending before one of `stops`.
fn sd_name<'a>(
    c: &mut Cursor<'a>,
    stops: &[u8],
    expected: &'static str,
) -> Result<&'a str, ParseError> {
    let rest = c.rest();
    let n = rest
        .iter()
        .take_while(|&&b| (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"'))
        .count();
    if n == 0 || n > 32 || !rest.get(n).is_some_and(|b| stops.contains(b)) {
        return Err(c.err("STRUCTURED-DATA", expected));
    }
    c.pos += n;
    // Printable ASCII only, so always valid UTF-8.
    std::str::from_utf8(&rest[..n]).map_err(|_| c.err("STRUCTURED-DATA", expected))
}

/// A PARAM-VALUE after its opening quote, up to and including the closing quote.
fn sd_value<'a>(c: &mut Cursor<'a>) -> Result<Cow<'a, str>, ParseError> {
    let rest = c.rest();
    let mut i = 0;
    let mut escaped = false;
    while let Some(&b) = rest.get(i) {
        match b {
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b'"' => {
                c.pos += i + 1;
                let raw = String::from_utf8_lossy(&rest[..i]);
                return Ok(if escaped { unescape(&raw).into() } else { raw });
            }
            _ => i += 1,
        }
    }
    c.pos = c.b.len();
    Err(c.err("STRUCTURED-DATA", "'\"' closing the PARAM-VALUE"))
}

/// Resolves `\"`, `\\` and `\]`; any other backslash is kept as written (RFC 5424 §6.3.3).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '\\' {
            if let Some(&next @ ('"' | '\\' | ']')) = chars.peek() {
                out.push(next);
                chars.next();
                continue;
            }
        }
        out.push(ch);
    }
    out
}

fn parse_3164<'a>(
    mut c: Cursor<'a>,
    pri: Option<(u8, u8)>,
    ctx: &Context,
) -> Result<Message<'a>, ParseError> {
    let (facility, severity) = pri.unwrap_or((DEFAULT_PRI / 8, DEFAULT_PRI % 8));
    let mut m = Message {
        format: Format::Rfc3164,
        facility,
        severity,
        version: None,
        timestamp: None,
        hostname: None,
        app_name: None,
        proc_id: None,
        msg_id: None,
        structured_data: Vec::new(),
        msg: Cow::Borrowed(""),
    };
    c.skip_spaces();
    let ts_start = c.pos;
    m.timestamp = if let Some(bsd) = parse_bsd_timestamp(&mut c)? {
        Some(bsd.resolve(ctx).ok_or(ParseError {
            offset: ts_start,
            field: "timestamp",
            expected: "a valid calendar date",
        })?)
    } else if looks_like_iso(c.rest()) {
        let mut tok = c.token();
        // `YYYY-MM-DD hh:mm:ss…`: a space in place of the `T`.
        if tok.len() == 10 && c.rest().get(3) == Some(&b':') {
            c.pos += 1;
            c.token();
            tok = c.b.get(ts_start..c.pos).unwrap_or(tok);
        }
        Some(parse_iso(tok, ts_start, ctx.default_offset_secs)?)
    } else if pri.is_some() {
        // RFC 3164 §4.3.3: no valid timestamp, so everything after PRI is MSG.
        m.msg = String::from_utf8_lossy(c.rest());
        return Ok(m);
    } else {
        return Err(c.err(
            "timestamp",
            "'<PRI>', a BSD timestamp ('Mmm dd hh:mm:ss') or an RFC 3339 timestamp",
        ));
    };
    c.skip_spaces();

    // HOSTNAME, unless the first word is already the tag (`sshd[42]:` or `sshd:`).
    let save = c.pos;
    let first = c.token();
    if !first.is_empty() && !is_tag_shaped(first) {
        m.hostname = Some(lossless_str(first).ok_or(ParseError {
            offset: save,
            field: "HOSTNAME",
            expected: "UTF-8 text",
        })?);
        c.skip_spaces();
    } else {
        c.pos = save;
    }

    parse_tag(&mut c, &mut m);
    m.msg = String::from_utf8_lossy(c.rest());
    Ok(m)
}

/// A word that can only be a tag: it ends in `:` or in a numeric `[pid]`.
fn is_tag_shaped(word: &[u8]) -> bool {
    if word.ends_with(b":") {
        return true;
    }
    let Some(inner) = word.strip_suffix(b"]") else {
        return false;
    };
    match inner.iter().rposition(|&b| b == b'[') {
        Some(open) => {
            let pid = &inner[open + 1..];
            open > 0 && !pid.is_empty() && pid.iter().all(u8::is_ascii_digit)
        }
        None => false,
    }
}

/// TAG, optional `[PID]`, optional `:` and one space; leaves the cursor at MSG. When the
/// text there does not look like a tag, nothing is consumed and it all becomes MSG.
fn parse_tag<'a>(c: &mut Cursor<'a>, m: &mut Message<'a>) {
    let rest = c.rest();
    let n = rest
        .iter()
        .position(|b| matches!(b, b'[' | b':' | b' '))
        .unwrap_or(rest.len());
    let Some(tag) = lossless_str(&rest[..n]).filter(|t| !t.is_empty()) else {
        return;
    };
    let mut i = n;
    let mut pid = None;
    if rest.get(i) == Some(&b'[') {
        let Some(close) = rest[i..].iter().position(|&b| b == b']') else {
            return;
        };
        pid = lossless_str(&rest[i + 1..i + close]).filter(|p| !p.is_empty());
        i += close + 1;
    }
    if rest.get(i) == Some(&b':') {
        i += 1;
    }
    if rest.get(i) == Some(&b' ') {
        i += 1;
    }
    m.app_name = Some(tag);
    m.proc_id = pid;
    c.pos += i;
}

fn lossless_str(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

/// A BSD timestamp before the year is known.
struct BsdTime {
    year: Option<i64>,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    nanos: u32,
}

impl BsdTime {
    /// The instant, in the default zone, in the given year or (when none) the year
    /// inferred around the receive time ([`crate::timefmt::Civil::resolve`]).
    fn resolve(&self, ctx: &Context) -> Option<Timestamp> {
        crate::timefmt::Civil {
            year: self.year,
            month: self.month,
            day: self.day,
            hour: self.hour,
            min: self.min,
            sec: self.sec,
            nanos: self.nanos,
            offset_secs: None,
        }
        .resolve(ctx)
    }
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `Mmm dd hh:mm:ss`, `Mmm  d …`, `Mmm d …`, optionally `Mmm dd yyyy hh:mm:ss` and a
/// fraction. `Ok(None)` (nothing consumed) unless the input starts with a month name.
fn parse_bsd_timestamp(c: &mut Cursor<'_>) -> Result<Option<BsdTime>, ParseError> {
    let rest = c.rest();
    let Some(month) = rest.get(..3).and_then(|m| {
        MONTHS
            .iter()
            .position(|name| m.eq_ignore_ascii_case(&name[..]))
    }) else {
        return Ok(None);
    };
    if rest.get(3) != Some(&b' ') {
        return Ok(None);
    }
    const EXPECTED: &str = "'Mmm dd hh:mm:ss'";
    c.pos += 3;
    c.skip_spaces();
    let day = number(c, 1, 2).ok_or(c.err("timestamp", EXPECTED))?;
    if !c.eat(b' ') {
        return Err(c.err("timestamp", EXPECTED));
    }
    c.skip_spaces();
    // An optional year (Cisco and others): four digits then a space.
    let mut year = None;
    let r = c.rest();
    if r.len() > 4 && r[..4].iter().all(u8::is_ascii_digit) && r[4] == b' ' {
        year = Some(i64::from(digits_value(&r[..4])));
        c.pos += 5;
    }
    let (hour, min, sec) = hms(c).ok_or(c.err("timestamp", EXPECTED))?;
    let nanos = fraction(c);
    if !(c.at_end() || c.peek() == Some(b' ')) {
        return Err(c.err("timestamp", "a space after the timestamp"));
    }
    Ok(Some(BsdTime {
        year,
        month: month as u32 + 1,
        day,
        hour,
        min,
        sec,
        nanos,
    }))
}

/// `min..=max` ASCII digits, consumed.
fn number(c: &mut Cursor<'_>, min: usize, max: usize) -> Option<u32> {
    let rest = c.rest();
    let n = rest
        .iter()
        .take(max)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if n < min {
        return None;
    }
    c.pos += n;
    Some(digits_value(&rest[..n]))
}

/// `hh:mm:ss`, consumed.
fn hms(c: &mut Cursor<'_>) -> Option<(u32, u32, u32)> {
    let h = number(c, 2, 2)?;
    c.eat(b':').then_some(())?;
    let m = number(c, 2, 2)?;
    c.eat(b':').then_some(())?;
    let s = number(c, 2, 2)?;
    Some((h, m, s))
}

/// An optional `.ddd…` fraction as nanoseconds (digits past the ninth are ignored).
fn fraction(c: &mut Cursor<'_>) -> u32 {
    if c.peek() != Some(b'.') || !c.rest().get(1).is_some_and(u8::is_ascii_digit) {
        return 0;
    }
    c.pos += 1;
    let rest = c.rest();
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    c.pos += n;
    let mut nanos = 0u32;
    for i in 0..9 {
        nanos = nanos * 10
            + rest
                .get(i)
                .filter(|_| i < n)
                .map_or(0, |d| u32::from(d - b'0'));
    }
    nanos
}

fn looks_like_iso(b: &[u8]) -> bool {
    b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

/// RFC 3339 / ISO 8601: `YYYY-MM-DDThh:mm:ss[.frac][Z|±hh:mm|±hhmm]` (a space may stand
/// for the `T`); without a zone the time is read in `default_offset_secs`. `base` is the token's offset in the input.
fn parse_iso(tok: &[u8], base: usize, default_offset_secs: i32) -> Result<Timestamp, ParseError> {
    const EXPECTED: &str = "an RFC 3339 timestamp (YYYY-MM-DDThh:mm:ss[.frac]Z|±hh:mm)";
    let mut c = Cursor { b: tok, pos: 0 };
    let err = |c: &Cursor<'_>, expected| ParseError {
        offset: base + c.pos,
        field: "TIMESTAMP",
        expected,
    };
    let year = number(&mut c, 4, 4).ok_or(err(&c, EXPECTED))?;
    c.eat(b'-').then_some(()).ok_or(err(&c, EXPECTED))?;
    let month = number(&mut c, 2, 2).ok_or(err(&c, EXPECTED))?;
    c.eat(b'-').then_some(()).ok_or(err(&c, EXPECTED))?;
    let day = number(&mut c, 2, 2).ok_or(err(&c, EXPECTED))?;
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return Err(err(&c, EXPECTED));
    }
    let (hour, min, sec) = hms(&mut c).ok_or(err(&c, EXPECTED))?;
    let nanos = fraction(&mut c);
    let offset_secs: i64 = match c.peek() {
        None => i64::from(default_offset_secs),
        Some(b'Z' | b'z') => {
            c.pos += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            c.pos += 1;
            let h = number(&mut c, 2, 2).ok_or(err(&c, EXPECTED))?;
            c.eat(b':');
            let m = number(&mut c, 2, 2).ok_or(err(&c, EXPECTED))?;
            if h > 23 || m > 59 {
                return Err(err(&c, "a time zone offset within ±23:59"));
            }
            let off = i64::from(h * 3600 + m * 60);
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        Some(_) => return Err(err(&c, EXPECTED)),
    };
    if !c.at_end() {
        return Err(err(&c, "a space after the timestamp"));
    }
    Timestamp::from_civil(i64::from(year), month, day, hour, min, sec, nanos)
        .and_then(|t| t.nanos().checked_sub(offset_secs * NANOS_PER_SEC))
        .map(Timestamp::from_nanos)
        .ok_or(ParseError {
            offset: base,
            field: "TIMESTAMP",
            expected: "a valid date and time between 1677 and 2262",
        })
}

/// Facility names as Elastic's syslog integrations label them.
const FACILITY_NAMES: [&str; 24] = [
    "kernel",
    "user-level",
    "mail",
    "system",
    "security/authorization",
    "syslogd",
    "line printer",
    "network news",
    "UUCP",
    "clock",
    "security/authorization",
    "FTP daemon",
    "NTP subsystem",
    "log audit",
    "log alert",
    "clock",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// Severity names as Elastic's syslog integrations label them.
const SEVERITY_NAMES: [&str; 8] = [
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
];

/// Maps a parsed message onto an ECS event. `raw` is the input it was parsed from (kept as
/// `event.original` and hashed, with the source, into a deterministic `event.id`).
pub fn to_event(m: &Message<'_>, raw: &[u8], ctx: &Context) -> Event {
    let ts = m.timestamp.unwrap_or(ctx.now);
    let id = id_from_parts(ts, &[ctx.source.as_bytes(), raw]);
    let mut e = Event::new(id, ts, ctx.sector.as_str(), ctx.source.as_str());
    e.fields.created = Some(ctx.now);
    e.fields.original = Some(String::from_utf8_lossy(raw).into_owned());
    e.fields.message = Some(m.msg.clone().into_owned());
    e.fields.host_name = m.hostname.map(str::to_owned);
    e.fields.process_name = m.app_name.map(str::to_owned);
    e.fields.process_pid = m.proc_id.and_then(|p| p.parse().ok());

    add_log_syslog(m, &mut e);
    e
}

/// Adds the `log.syslog.*` fields of a message to an event (also used by the CEF and LEEF
/// parsers for the syslog header their messages came in).
pub fn add_log_syslog(m: &Message<'_>, e: &mut Event) {
    let mut put = |key: &str, value: Value| {
        e.extra.insert(key.to_string(), value);
    };
    put("log.syslog.priority", m.priority().into());
    put("log.syslog.facility.code", m.facility.into());
    put("log.syslog.severity.code", m.severity.into());
    if let Some(name) = FACILITY_NAMES.get(usize::from(m.facility)) {
        put("log.syslog.facility.name", (*name).into());
    }
    if let Some(name) = SEVERITY_NAMES.get(usize::from(m.severity)) {
        put("log.syslog.severity.name", (*name).into());
    }
    if let Some(v) = m.version {
        put("log.syslog.version", v.to_string().into());
    }
    if let Some(h) = m.hostname {
        put("log.syslog.hostname", h.into());
    }
    if let Some(a) = m.app_name {
        put("log.syslog.appname", a.into());
    }
    if let Some(p) = m.proc_id {
        put("log.syslog.procid", p.into());
    }
    if let Some(id) = m.msg_id {
        put("log.syslog.msgid", id.into());
    }
    if !m.structured_data.is_empty() {
        let mut sd = Map::new();
        for (id, params) in &m.structured_data {
            let element = sd
                .entry(id.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(element) = element {
                for (name, value) in params {
                    element.insert(name.to_string(), value.as_ref().into());
                }
            }
        }
        put("log.syslog.structured_data", Value::Object(sd));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_at(now: &str) -> Context {
        Context {
            sector: "energy".into(),
            source: "dso-north".into(),
            now: Timestamp::parse_rfc3339(now).unwrap(),
            default_offset_secs: 0,
        }
    }

    fn ctx() -> Context {
        ctx_at("2024-06-15T12:00:00Z")
    }

    fn ts(s: &str) -> Option<Timestamp> {
        Some(Timestamp::parse_rfc3339(s).unwrap())
    }

    #[test]
    fn rfc5424_full() {
        let raw = br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event"#;
        let m = parse(raw, &ctx()).unwrap();
        assert_eq!(m.format, Format::Rfc5424);
        assert_eq!((m.facility, m.severity, m.version), (20, 5, Some(1)));
        assert_eq!(m.timestamp, ts("2003-10-11T22:14:15.003Z"));
        assert_eq!(m.hostname, Some("mymachine.example.com"));
        assert_eq!(m.app_name, Some("evntslog"));
        assert_eq!(m.proc_id, None);
        assert_eq!(m.msg_id, Some("ID47"));
        assert_eq!(m.structured_data.len(), 2);
        assert_eq!(m.structured_data[0].0, "exampleSDID@32473");
        assert_eq!(
            m.structured_data[0].1[1],
            ("eventSource", "Application".into())
        );
        assert_eq!(
            m.structured_data[1],
            ("examplePriority@32473", vec![("class", "high".into())])
        );
        assert_eq!(m.msg, "An application event");
    }

    #[test]
    fn rfc5424_nil_values_offset_and_fraction() {
        let m = parse(b"<34>1 - - - - - -", &ctx()).unwrap();
        assert_eq!(m.timestamp, None);
        assert_eq!(
            (m.hostname, m.app_name, m.proc_id, m.msg_id),
            (None, None, None, None)
        );
        assert!(m.structured_data.is_empty());
        assert_eq!(m.msg, "");

        let m = parse(
            b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time",
            &ctx(),
        )
        .unwrap();
        assert_eq!(m.timestamp, ts("2003-08-24T12:14:15.000003Z"));
        assert_eq!(m.proc_id, Some("8710"));
        assert_eq!(m.msg, "%% It's time");
    }

    #[test]
    fn rfc5424_bom_is_dropped() {
        let m = parse(
            b"<34>1 2003-10-11T22:14:15.003Z host su - ID47 - \xEF\xBB\xBF'su root' failed",
            &ctx(),
        )
        .unwrap();
        assert_eq!(m.msg, "'su root' failed");
        assert!(matches!(m.msg, Cow::Borrowed(_)));
    }

    #[test]
    fn rfc5424_escaped_sd_values() {
        let raw = br#"<13>1 2024-01-01T00:00:00Z h a p m [x@1 q="say \"hi\"" b="a\\b" r="[x\]" o="c:\dir"] m"#;
        let m = parse(raw, &ctx()).unwrap();
        let params = &m.structured_data[0].1;
        assert_eq!(params[0].1, r#"say "hi""#);
        assert_eq!(params[1].1, r"a\b");
        assert_eq!(params[2].1, "[x]");
        assert_eq!(params[3].1, r"c:\dir");
        assert!(matches!(params[3].1, Cow::Owned(_)));
        assert_eq!(m.msg, "m");
    }

    #[test]
    fn rfc5424_errors_name_offset() {
        let e = parse(b"<13>1 2024-01-01T00:00:00Z h a p m [x@1 q=\"open", &ctx()).unwrap_err();
        assert_eq!(e.field, "STRUCTURED-DATA");
        let e = parse(b"<13>1 2024-13-01T00:00:00Z h a p m -", &ctx()).unwrap_err();
        assert_eq!((e.field, e.offset), ("TIMESTAMP", 6));
        let e = parse(b"<13>1 2024-01-01T00:00:00Z h a", &ctx()).unwrap_err();
        assert_eq!((e.field, e.offset), ("PROCID", 30));
    }

    #[test]
    fn rfc3164_classic() {
        let m = parse(
            b"<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed\n",
            &ctx(),
        )
        .unwrap();
        assert_eq!(m.format, Format::Rfc3164);
        assert_eq!((m.facility, m.severity, m.version), (4, 2, None));
        assert_eq!(m.timestamp, ts("2023-10-11T22:14:15Z"));
        assert_eq!(m.hostname, Some("mymachine"));
        assert_eq!(m.app_name, Some("su"));
        assert_eq!(m.proc_id, Some("123"));
        assert_eq!(m.msg, "'su root' failed");
    }

    #[test]
    fn rfc3164_missing_pri_and_padded_day() {
        let m = parse(b"Mar  1 00:00:02 avas postfix/smtpd[2410]: connect", &ctx()).unwrap();
        assert_eq!(m.priority(), DEFAULT_PRI);
        assert_eq!((m.facility, m.severity), (1, 5));
        assert_eq!(m.timestamp, ts("2024-03-01T00:00:02Z"));
        assert_eq!(m.app_name, Some("postfix/smtpd"));
        let m = parse(b"Mar 1 00:00:02 avas postfix/smtpd[2410]: connect", &ctx()).unwrap();
        assert_eq!(m.timestamp, ts("2024-03-01T00:00:02Z"));
    }

    #[test]
    fn rfc3164_new_year_inference() {
        let c = ctx_at("2025-01-01T00:00:05Z");
        let m = parse(b"<13>Dec 31 23:59:59 host app: late", &c).unwrap();
        assert_eq!(m.timestamp, ts("2024-12-31T23:59:59Z"));
        let c = ctx_at("2024-12-31T23:59:59Z");
        let m = parse(b"<13>Jan  1 00:00:01 host app: early clock", &c).unwrap();
        assert_eq!(m.timestamp, ts("2025-01-01T00:00:01Z"));
        // Feb 29 only exists in leap years: the latest one in the past is chosen.
        let c = ctx_at("2025-01-10T00:00:00Z");
        let m = parse(b"Feb 29 10:00:00 host app: leap", &c).unwrap();
        assert_eq!(m.timestamp, ts("2024-02-29T10:00:00Z"));
        // Months ahead is last year's, not next: logs come from the past.
        let c = ctx_at("2024-06-15T12:00:00Z");
        let m = parse(b"<13>Oct 11 22:14:15 host app: old", &c).unwrap();
        assert_eq!(m.timestamp, ts("2023-10-11T22:14:15Z"));
        // A few days ahead is clock skew: this year.
        let m = parse(b"<13>Jun 17 08:00:00 host app: skewed", &c).unwrap();
        assert_eq!(m.timestamp, ts("2024-06-17T08:00:00Z"));
    }

    #[test]
    fn rfc3164_default_offset_and_iso_timestamp() {
        let mut c = ctx();
        c.default_offset_secs = 2 * 3600;
        let m = parse(b"<13>Jun 15 14:00:00 host app: x", &c).unwrap();
        assert_eq!(m.timestamp, ts("2024-06-15T12:00:00Z"));
        let m = parse(b"<13>2024-06-15T14:00:00.5 host app: x", &c).unwrap();
        assert_eq!(m.timestamp, ts("2024-06-15T12:00:00.5Z"));
        let m = parse(b"<13>2024-06-15T14:00:00+01:00 host app: x", &c).unwrap();
        assert_eq!(m.timestamp, ts("2024-06-15T13:00:00Z"));
        let m = parse(b"2024-06-15 14:00:00Z host app: x", &c).unwrap();
        assert_eq!(m.timestamp, ts("2024-06-15T14:00:00Z"));
        assert_eq!((m.hostname, m.app_name), (Some("host"), Some("app")));
    }

    #[test]
    fn rfc3164_quirky_headers() {
        // No colon after the tag, no PID.
        let m = parse(
            b"<13>Jun 15 14:00:00 fw-01_a.b kernel dropped packet",
            &ctx(),
        )
        .unwrap();
        assert_eq!(m.hostname, Some("fw-01_a.b"));
        assert_eq!((m.app_name, m.proc_id), (Some("kernel"), None));
        assert_eq!(m.msg, "dropped packet");
        // Odd hostname characters; PID without colon.
        let m = parse(b"<13>Jun 15 14:00:00 host@[::1]#x sshd[7] accepted", &ctx()).unwrap();
        assert_eq!(m.hostname, Some("host@[::1]#x"));
        assert_eq!((m.app_name, m.proc_id), (Some("sshd"), Some("7")));
        assert_eq!(m.msg, "accepted");
        // No hostname: the first word is tag-shaped.
        let m = parse(b"<13>Jun 15 14:00:00 sshd[7]: accepted", &ctx()).unwrap();
        assert_eq!((m.hostname, m.app_name), (None, Some("sshd")));
        // Year and fraction in the BSD timestamp.
        let m = parse(b"<13>Jun 15 2021 14:00:00.250 host app: x", &ctx()).unwrap();
        assert_eq!(m.timestamp, ts("2021-06-15T14:00:00.25Z"));
        // PRI but no timestamp: all MSG.
        let m = parse(b"<13>hello world", &ctx()).unwrap();
        assert_eq!((m.timestamp, m.hostname), (None, None));
        assert_eq!(m.msg, "hello world");
    }

    #[test]
    fn garbage_is_an_error_with_offset() {
        let e = parse(b"<abc>hello", &ctx()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid PRI at byte 0: expected '<' followed by 1-3 digits and '>'"
        );
        let e = parse(b"<192>Jun 15 14:00:00 h a: x", &ctx()).unwrap_err();
        assert_eq!((e.field, e.offset), ("PRI", 0));
        let e = parse(b"\x00\xffrandom junk", &ctx()).unwrap_err();
        assert_eq!((e.field, e.offset), ("timestamp", 0));
        let e = parse(b"Jun 15 1x:00:00 host", &ctx()).unwrap_err();
        assert_eq!((e.field, e.offset), ("timestamp", 7));
        let e = parse(b"Feb 30 10:00:00 host app: x", &ctx()).unwrap_err();
        assert_eq!(e.expected, "a valid calendar date");
        assert!(parse(b"", &ctx()).is_err());
        assert!(parse(b"\r\n", &ctx()).is_err());
    }

    #[test]
    fn event_mapping() {
        let raw: &[u8] = br#"<165>1 2003-10-11T22:14:15.003Z mymachine evntslog 8710 ID47 [ex@1 a="1" b="x\"y"] hello"#;
        let c = ctx();
        let m = parse(raw, &c).unwrap();
        let e = to_event(&m, raw, &c);
        assert_eq!(e.timestamp, m.timestamp.unwrap());
        assert_eq!(e.fields.created, Some(c.now));
        assert_eq!(e.fields.host_name.as_deref(), Some("mymachine"));
        assert_eq!(e.fields.process_name.as_deref(), Some("evntslog"));
        assert_eq!(e.fields.process_pid, Some(8710));
        assert_eq!(e.fields.message.as_deref(), Some("hello"));
        assert_eq!(
            e.fields.original.as_deref(),
            Some(std::str::from_utf8(raw).unwrap())
        );
        assert_eq!(
            (e.sector.as_str(), e.source.as_str()),
            ("energy", "dso-north")
        );
        assert_eq!(e.extra["log.syslog.priority"], 165);
        assert_eq!(e.extra["log.syslog.facility.code"], 20);
        assert_eq!(e.extra["log.syslog.severity.code"], 5);
        assert_eq!(e.extra["log.syslog.facility.name"], "local4");
        assert_eq!(e.extra["log.syslog.severity.name"], "Notice");
        assert_eq!(e.extra["log.syslog.version"], "1");
        assert_eq!(e.extra["log.syslog.msgid"], "ID47");
        assert_eq!(e.extra["log.syslog.structured_data"]["ex@1"]["b"], "x\"y");
        // Replays give the same id; another source gives another.
        assert_eq!(to_event(&m, raw, &c).id, e.id);
        let mut other = c.clone();
        other.source = "elsewhere".into();
        assert_ne!(to_event(&m, raw, &other).id, e.id);
        // No message time: @timestamp is the receive time.
        let m = parse(b"<13>no time here", &c).unwrap();
        assert_eq!(to_event(&m, b"<13>no time here", &c).timestamp, c.now);
    }

    /// Fuzz-style: random and mutated inputs must never panic.
    #[test]
    fn random_inputs_never_panic() {
        let seeds: [&[u8]; 4] = [
            br#"<165>1 2003-10-11T22:14:15.003Z host app 12 ID [a@1 b="c\"d" e="f"][g h="i"] msg"#,
            b"<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed",
            b"Mar  1 2024 00:00:02.123 avas postfix/smtpd[2410] connect",
            b"<13>2024-06-15T14:00:00+01:00 host app: x",
        ];
        let alphabet = b"<>[]=\"\\ :-.+0123456789TZJanFebDec1 \xEF\xBB\xBF\xff\n";
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let c = ctx();
        let mut buf = Vec::new();
        for i in 0..10_000 {
            buf.clear();
            let r = next();
            match i % 3 {
                0 => {
                    let len = (r % 80) as usize;
                    buf.extend((0..len).map(|_| next() as u8));
                }
                1 => {
                    let len = (r % 80) as usize;
                    buf.extend(
                        (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]),
                    );
                }
                _ => {
                    buf.extend_from_slice(seeds[(r % 4) as usize]);
                    for _ in 0..(1 + next() % 4) {
                        let pos = (next() % buf.len() as u64) as usize;
                        match next() % 3 {
                            0 => buf[pos] = next() as u8,
                            1 => buf.truncate(pos),
                            _ => {
                                buf.insert(pos, alphabet[(next() % alphabet.len() as u64) as usize])
                            }
                        }
                        if buf.is_empty() {
                            break;
                        }
                    }
                }
            }
            if let Ok(m) = parse(&buf, &c) {
                let _ = to_event(&m, &buf, &c);
            }
        }
    }
}

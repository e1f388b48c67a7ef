//! IBM QRadar Log Event Extended Format (LEEF) 1.0 and 2.0 into [`Message`]s and ECS
//! [`Event`]s.
//!
//! # The format
//!
//! - LEEF 1.0: `LEEF:1.0|Vendor|Product|Version|EventID|` then `key=value` attributes
//!   separated by tabs, for example
//!   `LEEF:1.0|Microsoft|MSExchange|2013 SP1|15345|src=10.50.1.1\tdst=2.10.20.20\tsev=5`.
//! - LEEF 2.0: `LEEF:2.0|Vendor|Product|Version|EventID|Delimiter|` then the attributes
//!   separated by `Delimiter`: one character (`^`), or its code in hex (`0x5e`, `x5e`,
//!   `\x5e`, up to four digits). An empty delimiter field means tab. A 2.0 header whose
//!   sixth field is clearly an attribute (it holds `=`) is read as having no delimiter
//!   field.
//! - In the wild LEEF 1.0 attributes also come separated by `|` (Palo Alto PAN-OS) or by
//!   spaces. For 1.0 the separator is found from the text: a tab when the first tab is
//!   followed by `key=`, else `|` when the first pipe is, else a tab when there is one,
//!   else spaces when a space is followed by `key=`.
//! - An attribute runs to the next delimiter; a piece without `=` (or whose would-be key
//!   holds a space) belongs to the value before it, so a delimiter inside a value survives.
//!   Empty pieces (a trailing delimiter) are skipped. Values are taken as written: LEEF
//!   has no escapes.
//! - As for CEF, anything before `LEEF:` is a transport prefix, kept as syslog fields when
//!   it reads as a syslog header.
//!
//! # ECS
//!
//! [`to_event`] writes `leef.version`, `leef.device.{vendor,product,version}`,
//! `leef.event_id`, `leef.delimiter` (2.0) and `leef.attributes.<key>` for every non-empty
//! attribute, and maps the predefined LEEF keys: `src`/`dst` → `source.ip`/`destination.ip`,
//! `srcPort`/`dstPort` → ports, `srcPostNAT`/`dstPostNAT` (and ports) → `*.nat.*`,
//! `srcMAC`/`dstMAC` → `*.mac`, `usrName` → `user.name`, `proto` → `network.transport`,
//! `sev` → `event.severity`, `srcBytes`/`dstBytes` → `source.bytes`/`destination.bytes`
//! (and their sum, or `totalBytes`, → `network.bytes`), `srcPackets`/`dstPackets`/
//! `totalPackets` likewise, `url` → `url.original`, `policy` → `rule.name`, `msg` →
//! `message`, `action` (or else `cat`) → `event.action`, and `devTime` read with
//! `devTimeFormat` (a Java `SimpleDateFormat` pattern; without it epoch milliseconds or
//! `MMM dd yyyy HH:mm:ss [zone]`) → `@timestamp`. The header gives `observer.vendor`,
//! `observer.product`, `observer.version` and `event.code` (EventID).

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use memchr::memmem;
use ncsoc_model::id::id_from_parts;
use ncsoc_model::{Event, Timestamp};
use serde_json::Value;

use crate::cef::transport_name;
use crate::extras::Extras;
use crate::syslog;
pub use crate::syslog::Context;
use crate::text::{self, Text};
use crate::timefmt;

/// What separated the attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delimiter {
    /// One character (tab for LEEF 1.0).
    Char(char),
    /// Spaces before each `key=` (seen from some LEEF 1.0 senders).
    Spaces,
}

/// A parsed LEEF message, borrowing the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<'a> {
    /// The syslog header the message came in, when it had one.
    pub syslog: Option<syslog::Message<'a>>,
    /// `1.0` or `2.0` as written (`1` and `2` are accepted too).
    pub version: &'a str,
    pub vendor: Cow<'a, str>,
    pub product: Cow<'a, str>,
    pub product_version: Cow<'a, str>,
    pub event_id: Cow<'a, str>,
    pub delimiter: Delimiter,
    /// The delimiter field of a LEEF 2.0 header as written (`^`, `0x5e`), if any.
    pub delimiter_field: Option<&'a str>,
    /// Attributes in input order.
    pub attributes: Vec<(&'a str, Cow<'a, str>)>,
}

impl Message<'_> {
    /// The value of an attribute; the last one when a key is repeated.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_ref())
    }
}

/// Why input could not be read as LEEF: the byte offset, the part being read and what was
/// expected there.
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
            "invalid LEEF {} at byte {}: expected {}",
            self.field, self.offset, self.expected
        )
    }
}

impl std::error::Error for ParseError {}

/// The `LEEF:` searcher, built once (building one per message cost more than the search).
fn finder() -> &'static memmem::Finder<'static> {
    static FINDER: std::sync::OnceLock<memmem::Finder<'static>> = std::sync::OnceLock::new();
    FINDER.get_or_init(|| memmem::Finder::new(b"LEEF:"))
}

/// Parses a LEEF message, bare or after a syslog header (or any other prefix).
pub fn parse<'a>(input: &'a [u8], ctx: &Context) -> Result<Message<'a>, ParseError> {
    let end = input
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | 0))
        .map_or(0, |i| i + 1);
    let b = &input[..end];
    let start = if b.starts_with(b"LEEF:") {
        0
    } else {
        finder().find(b).ok_or(ParseError {
            offset: 0,
            field: "header",
            expected: "'LEEF:'",
        })?
    };
    let t = Text::new(b);
    let syslog = match start {
        0 => None,
        _ => syslog::parse(&b[..start], ctx).ok(),
    };
    let mut pos = start + 5;
    let (version, next) = field(b, pos, "version")?;
    let version_range = pos..next - 1;
    let v2 = match version {
        b"1.0" | b"1" => false,
        b"2.0" | b"2" => true,
        _ => {
            return Err(ParseError {
                offset: pos,
                field: "version",
                expected: "1.0 or 2.0",
            })
        }
    };
    // Digits and a dot: always UTF-8.
    let version = t.str(version_range).unwrap_or_default();
    pos = next;
    let mut header: [Cow<'_, str>; 4] = Default::default();
    for (slot, name) in header
        .iter_mut()
        .zip(["vendor", "product", "product version", "event id"])
    {
        let (_, next) = field(b, pos, name)?;
        *slot = t.cow(pos..next - 1);
        pos = next;
    }
    let [vendor, product, product_version, event_id] = header;
    let rest = b.get(pos..).unwrap_or_default();

    let mut delimiter_field = None;
    let delimiter = if v2 {
        if rest.starts_with(b"||") {
            // The delimiter is the pipe itself.
            delimiter_field = Some("|");
            pos += 2;
            Delimiter::Char('|')
        } else {
            match rest.iter().position(|&c| c == b'|') {
                Some(n) if n <= 8 && !rest[..n].contains(&b'=') => {
                    let spec = std::str::from_utf8(&rest[..n]).map_err(|_| ParseError {
                        offset: pos,
                        field: "delimiter",
                        expected: "a character or its hex code",
                    })?;
                    let d = parse_delimiter(spec).ok_or(ParseError {
                        offset: pos,
                        field: "delimiter",
                        expected: "one character, or its hex code ('0x5e', 'x5e', '\\x5e')",
                    })?;
                    delimiter_field = Some(spec);
                    pos += n + 1;
                    Delimiter::Char(d)
                }
                _ => detect_delimiter(rest),
            }
        }
    } else {
        detect_delimiter(rest)
    };
    let attributes = match delimiter {
        Delimiter::Char(d) => split_attributes(t, pos, d)?,
        Delimiter::Spaces => space_attributes(t, pos)?,
    };
    Ok(Message {
        syslog,
        version,
        vendor,
        product,
        product_version,
        event_id,
        delimiter,
        delimiter_field,
        attributes,
    })
}

/// A header field from `pos` to the next `|`, and the position after it.
fn field<'a>(b: &'a [u8], pos: usize, name: &'static str) -> Result<(&'a [u8], usize), ParseError> {
    let rest = b.get(pos..).unwrap_or_default();
    let n = memchr::memchr(b'|', rest).ok_or(ParseError {
        offset: b.len(),
        field: name,
        expected: "'|' ending the header field",
    })?;
    Ok((&rest[..n], pos + n + 1))
}

/// A LEEF 2.0 delimiter field: empty (tab), one character, or `0x`/`x`/`\x` and 1-4 hex
/// digits.
pub fn parse_delimiter(spec: &str) -> Option<char> {
    if spec.is_empty() {
        return Some('\t');
    }
    let mut chars = spec.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Some(c);
    }
    let hex = spec
        .strip_prefix("0x")
        .or_else(|| spec.strip_prefix("0X"))
        .or_else(|| spec.strip_prefix("\\x"))
        .or_else(|| spec.strip_prefix('x'))
        .or_else(|| spec.strip_prefix('X'))?;
    if hex.is_empty() || hex.len() > 4 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    char::from_u32(u32::from_str_radix(hex, 16).ok()?).filter(|&c| c != '=')
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')
}

/// True when `b` starts with a key and `=`.
fn starts_with_key(b: &[u8]) -> bool {
    let n = b.iter().take_while(|&&c| is_key_byte(c)).count();
    n > 0 && b.get(n) == Some(&b'=')
}

/// The attribute separator of a LEEF 1.0 message (or a 2.0 one without delimiter field).
fn detect_delimiter(rest: &[u8]) -> Delimiter {
    let tab = memchr::memchr(b'\t', rest);
    if let Some(t) = tab {
        if starts_with_key(&rest[t + 1..]) {
            return Delimiter::Char('\t');
        }
    }
    if let Some(p) = memchr::memchr(b'|', rest) {
        if starts_with_key(&rest[p + 1..]) {
            return Delimiter::Char('|');
        }
    }
    if tab.is_some() {
        return Delimiter::Char('\t');
    }
    let mut i = 0;
    while let Some(n) = memchr::memchr(b' ', &rest[i..]) {
        if starts_with_key(&rest[i + n + 1..]) {
            return Delimiter::Spaces;
        }
        i += n + 1;
    }
    Delimiter::Char('\t')
}

/// Attributes separated by one character.
fn split_attributes(
    t: Text<'_>,
    pos: usize,
    d: char,
) -> Result<Vec<(&str, Cow<'_, str>)>, ParseError> {
    let b = t.b;
    let mut buf = [0u8; 4];
    let delim = d.encode_utf8(&mut buf).as_bytes();
    let mut out: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(32);
    // The current attribute: key and where its value starts and ends.
    let mut current: Option<(&str, usize, usize)> = None;
    let mut i = pos;
    while i <= b.len() {
        let rest = &b[i..];
        let n = if delim.len() == 1 {
            memchr::memchr(delim[0], rest)
        } else {
            memmem::find(rest, delim)
        }
        .unwrap_or(rest.len());
        let seg = &rest[..n];
        let seg_start = i;
        i += n + delim.len();
        if seg.is_empty() {
            continue;
        }
        let key_end = memchr::memchr(b'=', seg)
            .filter(|&k| k > 0 && !seg[..k].iter().any(|c| c.is_ascii_whitespace()));
        match key_end {
            Some(k) => {
                if let Some((key, vs, ve)) = current.take() {
                    out.push((key, t.cow(vs..ve)));
                }
                let key = t.str(seg_start..seg_start + k).ok_or(ParseError {
                    offset: seg_start,
                    field: "attribute",
                    expected: "a UTF-8 key",
                })?;
                current = Some((key, seg_start + k + 1, seg_start + n));
            }
            None => match current.as_mut() {
                Some((_, _, ve)) => *ve = seg_start + n,
                None => {
                    return Err(ParseError {
                        offset: seg_start,
                        field: "attribute",
                        expected: "key=value",
                    })
                }
            },
        }
    }
    if let Some((key, vs, ve)) = current {
        out.push((key, t.cow(vs..ve)));
    }
    Ok(out)
}

/// Attributes separated by spaces: a value runs to the next space followed by `key=`.
fn space_attributes(t: Text<'_>, mut pos: usize) -> Result<Vec<(&str, Cow<'_, str>)>, ParseError> {
    let b = t.b;
    let mut out = Vec::with_capacity(16);
    while b.get(pos) == Some(&b' ') {
        pos += 1;
    }
    while pos < b.len() {
        let klen = b[pos..].iter().take_while(|&&c| is_key_byte(c)).count();
        if klen == 0 || b.get(pos + klen) != Some(&b'=') {
            return Err(ParseError {
                offset: pos,
                field: "attribute",
                expected: "key=value",
            });
        }
        let key = t.str(pos..pos + klen).unwrap_or_default();
        let vstart = pos + klen + 1;
        let mut i = vstart;
        let (vend, next) = loop {
            match memchr::memchr(b' ', &b[i..]) {
                None => break (b.len(), b.len()),
                Some(n) if starts_with_key(&b[i + n + 1..]) => break (i + n, i + n + 1),
                Some(n) => i += n + 1,
            }
        };
        let mut vend = vend;
        while vend > vstart && b[vend - 1] == b' ' {
            vend -= 1;
        }
        out.push((key, t.cow(vstart..vend)));
        pos = next;
    }
    Ok(out)
}

fn int<T: TryFrom<i64>>(v: &str) -> Option<T> {
    v.trim()
        .parse::<i64>()
        .ok()
        .and_then(|n| T::try_from(n).ok())
}

/// Maps a parsed message onto an ECS event. `raw` is the input it was parsed from (kept as
/// `event.original` and hashed, with the source, into a deterministic `event.id`).
pub fn to_event(m: &Message<'_>, raw: &[u8], ctx: &Context) -> Event {
    let mut e = Event::default();
    e.sector.clone_from(&ctx.sector);
    e.source.clone_from(&ctx.source);
    e.fields.created = Some(ctx.now);
    e.fields.original = Some(text::owned(raw));
    e.fields.module = Some("leef".into());
    e.fields.dataset = Some("leef.log".into());
    let nonempty = |v: &Cow<'_, str>| (!v.is_empty()).then(|| v.as_ref().to_owned());
    e.fields.observer_vendor = nonempty(&m.vendor);
    e.fields.observer_product = nonempty(&m.product);
    e.fields.observer_version = nonempty(&m.product_version);

    let mut extras = Extras::with_capacity(12 + 2 * m.attributes.len());
    let extra = &mut extras;
    extra.insert("leef.version".into(), Value::String(m.version.into()));
    for (k, v) in [
        ("leef.device.vendor", &m.vendor),
        ("leef.device.product", &m.product),
        ("leef.device.version", &m.product_version),
        ("leef.event_id", &m.event_id),
    ] {
        if !v.is_empty() {
            extra.insert(k.into(), Value::String(v.as_ref().into()));
        }
    }
    if let Some(code) = nonempty(&m.event_id) {
        extra.insert("event.code".into(), Value::String(code));
    }
    if let Some(d) = m.delimiter_field {
        extra.insert("leef.delimiter".into(), Value::String(d.into()));
    }

    let mut dev_time_value = None;
    let mut dev_time_format = None;
    let mut bytes = (None::<u64>, None::<u64>, None::<u64>);
    let mut packets = (None::<u64>, None::<u64>, None::<u64>);
    let mut cat = None;
    for (key, value) in &m.attributes {
        let v = value.as_ref();
        if v.is_empty() {
            continue;
        }
        let ip = || v.trim().parse::<IpAddr>().ok();
        match *key {
            "src" => e.fields.source_ip = ip(),
            "dst" => e.fields.destination_ip = ip(),
            "srcPort" => e.fields.source_port = int(v),
            "dstPort" => e.fields.destination_port = int(v),
            "srcPostNAT" | "dstPostNAT" => {
                if let Some(a) = ip() {
                    let k = if *key == "srcPostNAT" {
                        "source.nat.ip"
                    } else {
                        "destination.nat.ip"
                    };
                    extra.insert(k.into(), Value::String(a.to_string()));
                }
            }
            "srcPostNATPort" | "dstPostNATPort" => {
                if let Some(p) = int::<u16>(v) {
                    let k = if *key == "srcPostNATPort" {
                        "source.nat.port"
                    } else {
                        "destination.nat.port"
                    };
                    extra.insert(k.into(), p.into());
                }
            }
            "srcMAC" => {
                extra.insert("source.mac".into(), Value::String(v.into()));
            }
            "dstMAC" => {
                extra.insert("destination.mac".into(), Value::String(v.into()));
            }
            "usrName" => e.fields.user_name = Some(v.into()),
            "proto" => e.fields.network_transport = Some(transport_name(v)),
            "sev" => e.fields.severity = int(v),
            "srcBytes" => bytes.0 = int(v),
            "dstBytes" => bytes.1 = int(v),
            "totalBytes" => bytes.2 = int(v),
            "srcPackets" => packets.0 = int(v),
            "dstPackets" => packets.1 = int(v),
            "totalPackets" => packets.2 = int(v),
            "url" => e.fields.url_original = Some(v.into()),
            "policy" => e.fields.rule_name = Some(v.into()),
            "msg" => e.fields.message = Some(v.into()),
            "action" => e.fields.action = Some(v.into()),
            "cat" => cat = Some(v),
            "devTime" => dev_time_value = Some(v),
            "devTimeFormat" => dev_time_format = Some(v),
            _ => {}
        }
        let mut k = String::with_capacity(16 + key.len());
        k.push_str("leef.attributes.");
        k.push_str(key);
        extra.insert(k, Value::String(v.into()));
    }
    if e.fields.action.is_none() {
        e.fields.action = cat.map(str::to_owned);
    }
    put_counts(
        extra,
        bytes,
        ["source.bytes", "destination.bytes"],
        &mut e.fields.network_bytes,
    );
    put_counts(
        extra,
        packets,
        ["source.packets", "destination.packets"],
        &mut e.fields.network_packets,
    );

    e.extra = extras.into_map();
    let syslog_ts = m.syslog.as_ref().and_then(|s| s.timestamp);
    if let Some(s) = &m.syslog {
        syslog::add_log_syslog(s, &mut e);
        e.fields.host_name = s.hostname.map(str::to_owned);
    }
    let dev_ts = dev_time_value.and_then(|t| dev_time(t, dev_time_format, ctx));
    e.timestamp = dev_ts.or(syslog_ts).unwrap_or(ctx.now);
    e.id = id_from_parts(e.timestamp, &[ctx.source.as_bytes(), raw]);
    e
}

/// Source and destination counts, and the network total (given, or their sum).
fn put_counts(
    extra: &mut Extras,
    (src, dst, total): (Option<u64>, Option<u64>, Option<u64>),
    keys: [&str; 2],
    network: &mut Option<u64>,
) {
    if let Some(n) = src {
        extra.insert(keys[0].into(), n.into());
    }
    if let Some(n) = dst {
        extra.insert(keys[1].into(), n.into());
    }
    *network = total.or_else(|| {
        (src.is_some() || dst.is_some()).then(|| src.unwrap_or(0).saturating_add(dst.unwrap_or(0)))
    });
}

/// Parses bare or syslog-wrapped LEEF and maps it onto ECS in one step.
pub fn parse_event(raw: &[u8], ctx: &Context) -> Result<Event, ParseError> {
    let m = parse(raw, ctx)?;
    Ok(to_event(&m, raw, ctx))
}

/// The instant a `devTime` value gives: read with its `devTimeFormat` when there is one
/// (epoch milliseconds are accepted whatever the format says), else as epoch milliseconds
/// or `MMM dd yyyy HH:mm:ss [zone]`.
pub fn dev_time(value: &str, format: Option<&str>, ctx: &Context) -> Option<Timestamp> {
    match format {
        Some(p) => {
            timefmt::with_pattern(value, p, ctx).or_else(|| timefmt::epoch_millis(value.trim()))
        }
        None => timefmt::cef_time(value, ctx),
    }
}

#[cfg(test)]
mod tests;

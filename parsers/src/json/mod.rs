//! JSON intake: Suricata EVE, Zeek (JSON and TSV logs), Elastic ECS documents, Wazuh alerts
//! and generic JSON, each mapped onto ECS [`Event`]s.
//!
//! # Reading
//!
//! One JSON object per line. The line is parsed with `simd-json` into its tape (a flat list
//! of nodes borrowing the input), and the tape is walked once: every scalar leaf is handed
//! to the format's mapper under its dotted path (`{"flow":{"bytes_toserver":5}}` gives
//! `flow.bytes_toserver`), arrays are kept whole as JSON arrays (as Elastic keeps them), so
//! nested objects become dotted keys and nothing is lost.
//!
//! simd-json unescapes strings **in place**, so callers hand a mutable line buffer
//! (`&mut [u8]`); its content is unspecified afterwards. `event.original` is copied before
//! parsing. [`JsonParser`] keeps simd-json's buffers between lines (the hot path);
//! [`parse_json_event`] is the one-shot form.
//!
//! # Which format
//!
//! [`detect`] looks only at the top-level keys: `event_type` and `flow_id` → Suricata EVE
//! (also `event_type` and `timestamp` with `src_ip`, `stats` or `anomaly`: flowless events);
//! `_path`, or `uid` with `id.orig_h` → Zeek; `ecs.version` (nested or dotted) → ECS;
//! `rule` (with a `level`) and `agent` → Wazuh; anything else → generic (`json.*`).
//!
//! # Every event
//!
//! `event.original` is the line as received (trailing CR/LF/space trimmed),
//! `ncsoc.sector`/`ncsoc.source` come from the [`Context`] and always win over values in
//! the document (a forwarder cannot pick its own tenant), `event.created` is the receive
//! time and `event.id` is a hash of source and line (`id_from_parts`), so a replay gives the
//! same ids.
//!
//! # Limits
//!
//! Lines up to [`MAX_LINE_BYTES`], nesting up to [`MAX_DEPTH`], at most [`MAX_LEAVES`]
//! scalar fields per event and dotted keys up to [`MAX_KEY_BYTES`]. Exceeding one is an
//! [`Error`], as is malformed JSON (with the byte offset simd-json stopped at) or a
//! top-level value that is not an object.

mod ecs;
mod eve;
mod generic;
mod wazuh;
pub mod zeek;

use std::fmt;
use std::net::IpAddr;

use ncsoc_model::id::id_from_parts;
use ncsoc_model::{Event, Timestamp};
use serde_json::{Map, Value};
use simd_json::{Buffers, Node, StaticNode, Tape};

pub use crate::syslog::Context;
pub use ecs::parse_ecs;
pub use eve::parse_eve;
pub use generic::parse_generic;
pub use wazuh::parse_wazuh;
pub use zeek::{parse_zeek_json, TsvReader};

/// Longest line accepted.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Deepest nesting of objects and arrays accepted.
pub const MAX_DEPTH: usize = 32;
/// Most scalar fields (leaves of the object tree) kept from one line.
pub const MAX_LEAVES: usize = 4096;
/// Longest dotted key accepted.
pub const MAX_KEY_BYTES: usize = 512;

/// The JSON dialects this module maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonFormat {
    /// Suricata EVE (`event_type`, `flow_id`).
    Eve,
    /// A Zeek log written as JSON (`_path`, or `uid` and `id.orig_h`).
    Zeek,
    /// An Elastic Common Schema document (`ecs.version`).
    Ecs,
    /// A Wazuh alert (`rule.level`, `agent`).
    Wazuh,
    /// Anything else: kept under `json.*`.
    Generic,
}

impl JsonFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            JsonFormat::Eve => "eve",
            JsonFormat::Zeek => "zeek",
            JsonFormat::Ecs => "ecs",
            JsonFormat::Wazuh => "wazuh",
            JsonFormat::Generic => "json",
        }
    }
}

/// Why a line could not be read: the byte offset or field, and the reason.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The line is longer than [`MAX_LINE_BYTES`].
    TooLong { len: usize, max: usize },
    /// The line is empty (or only whitespace).
    Empty,
    /// The line is not valid UTF-8; `offset` is the first bad byte.
    Utf8 { offset: usize },
    /// Malformed JSON, or nesting deeper than [`MAX_DEPTH`]: simd-json's reason and the
    /// byte offset where it stopped.
    Syntax { offset: usize, reason: String },
    /// The top-level value is not an object.
    NotObject,
    /// More than [`MAX_LEAVES`] fields.
    TooManyFields { max: usize },
    /// A dotted key longer than [`MAX_KEY_BYTES`]; `prefix` is its start.
    KeyTooLong { prefix: String },
    /// A field had a value the format does not allow there.
    Field { field: String, reason: String },
    /// A Zeek TSV log problem on line `line` (1-based) of the stream.
    Tsv { line: usize, reason: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLong { len, max } => {
                write!(f, "line of {len} bytes is longer than the limit of {max}")
            }
            Error::Empty => f.write_str("empty line"),
            Error::Utf8 { offset } => write!(f, "invalid UTF-8 at byte {offset}"),
            Error::Syntax { offset, reason } => {
                write!(f, "invalid JSON at byte {offset}: {reason}")
            }
            Error::NotObject => f.write_str("the JSON value is not an object"),
            Error::TooManyFields { max } => write!(f, "more than {max} fields"),
            Error::KeyTooLong { prefix } => {
                write!(
                    f,
                    "key `{prefix}…` is longer than the limit of {MAX_KEY_BYTES} bytes"
                )
            }
            Error::Field { field, reason } => write!(f, "field `{field}`: {reason}"),
            Error::Tsv { line, reason } => write!(f, "zeek log line {line}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

pub(crate) fn field_error(field: &str, reason: impl Into<String>) -> Error {
    Error::Field {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// One scalar (or a kept-whole array) found under a dotted path.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf<'a> {
    Str(&'a str),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Null,
    /// An array, or an empty object, kept as JSON.
    Json(Value),
}

impl Leaf<'_> {
    /// The leaf as a JSON value (allocates for strings).
    pub fn into_value(self) -> Value {
        match self {
            Leaf::Str(s) => Value::String(s.to_owned()),
            Leaf::I64(i) => Value::from(i),
            Leaf::U64(u) => Value::from(u),
            Leaf::F64(f) => Value::from(f),
            Leaf::Bool(b) => Value::Bool(b),
            Leaf::Null => Value::Null,
            Leaf::Json(v) => v,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Leaf::Str(s) => Some(s),
            Leaf::Json(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// Non-negative integers, also from strings and whole floats.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Leaf::U64(u) => Some(*u),
            Leaf::I64(i) => u64::try_from(*i).ok(),
            Leaf::F64(f) if *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19 => Some(*f as u64),
            Leaf::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Leaf::I64(i) => Some(*i),
            Leaf::U64(u) => i64::try_from(*u).ok(),
            Leaf::F64(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(*f as i64),
            Leaf::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Leaf::F64(f) => Some(*f),
            Leaf::I64(i) => Some(*i as f64),
            Leaf::U64(u) => Some(*u as f64),
            Leaf::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Text of a string or a number (`rule.id` may be either).
    pub fn to_text(&self) -> Option<String> {
        match self {
            Leaf::Str(s) => Some((*s).to_owned()),
            Leaf::I64(i) => Some(i.to_string()),
            Leaf::U64(u) => Some(u.to_string()),
            Leaf::F64(f) => Some(f.to_string()),
            Leaf::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn as_ip(&self) -> Option<IpAddr> {
        self.as_str().and_then(parse_ip)
    }
}

/// An IP address, also with a zone (`fe80::1%eth0`) which is dropped.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    match s.split_once('%') {
        Some((ip, _)) => ip.parse().ok(),
        None => s.parse().ok(),
    }
}

/// Reads one format from JSON lines, reusing simd-json's buffers between lines.
pub struct JsonParser {
    buffers: Buffers,
    tape: Tape<'static>,
}

impl Default for JsonParser {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for JsonParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonParser").finish_non_exhaustive()
    }
}

/// The mapping of one format: called with every leaf, then once at the end.
pub(crate) trait Mapper {
    fn leaf(&mut self, e: &mut Event, path: &str, leaf: Leaf<'_>) -> Result<(), Error>;
    fn finish(self, e: &mut Event, ctx: &Context) -> Result<(), Error>;
}

impl JsonParser {
    pub fn new() -> Self {
        Self {
            buffers: Buffers::with_max_depth(4096, MAX_DEPTH),
            tape: Tape::null(),
        }
    }

    /// Detects the format of `line` and maps it. `line` is modified (simd-json unescapes
    /// in place).
    pub fn parse(&mut self, line: &mut [u8], ctx: &Context) -> Result<Event, Error> {
        self.parse_as(None, line, ctx)
    }

    /// Maps `line` as `format`, or as the detected format when `None`.
    pub fn parse_as(
        &mut self,
        format: Option<JsonFormat>,
        line: &mut [u8],
        ctx: &Context,
    ) -> Result<Event, Error> {
        self.run(line, ctx, |nodes, e, ctx| {
            let format = format.unwrap_or_else(|| detect_nodes(nodes));
            match format {
                JsonFormat::Eve => walk_into(nodes, e, ctx, eve::EveMapper::default()),
                JsonFormat::Zeek => {
                    let log = zeek::log_from_nodes(nodes);
                    walk_into(nodes, e, ctx, zeek::ZeekMapper::new(log))
                }
                JsonFormat::Ecs => walk_into(nodes, e, ctx, ecs::EcsMapper),
                JsonFormat::Wazuh => walk_into(nodes, e, ctx, wazuh::WazuhMapper::default()),
                JsonFormat::Generic => walk_into(nodes, e, ctx, generic::GenericMapper::new()),
            }
        })
    }

    /// Maps `line` as a Zeek JSON log of type `log` (`conn`, `dns`, …; from the file name),
    /// or the type found in `_path` / guessed from the fields when `None`.
    pub fn parse_zeek(
        &mut self,
        log: Option<&str>,
        line: &mut [u8],
        ctx: &Context,
    ) -> Result<Event, Error> {
        self.run(line, ctx, |nodes, e, ctx| {
            let log = match log {
                Some(l) => zeek::LogType::from_name(l),
                None => zeek::log_from_nodes(nodes),
            };
            walk_into(nodes, e, ctx, zeek::ZeekMapper::new(log))
        })
    }

    /// Parses the line into the tape, makes the event skeleton and hands both to `map`.
    fn run(
        &mut self,
        line: &mut [u8],
        ctx: &Context,
        map: impl FnOnce(&[Node<'_>], &mut Event, &Context) -> Result<(), Error>,
    ) -> Result<Event, Error> {
        let line = trim_line(line)?;
        let original = match std::str::from_utf8(line) {
            Ok(s) => s.to_owned(),
            Err(e) => {
                return Err(Error::Utf8 {
                    offset: e.valid_up_to(),
                })
            }
        };
        let mut tape = std::mem::replace(&mut self.tape, Tape::null()).reset();
        let parsed = simd_json::fill_tape(line, &mut self.buffers, &mut tape);
        let result = match parsed {
            Err(err) => Err(Error::Syntax {
                offset: err.index(),
                reason: format!("{:?}", err.error()),
            }),
            Ok(()) => {
                let mut e = Event::new(String::new(), ctx.now, ctx.sector.as_str(), "");
                e.source.clone_from(&ctx.source);
                e.fields.created = Some(ctx.now);
                map(&tape.0, &mut e, ctx).map(|()| e)
            }
        };
        self.tape = tape.reset();
        let mut e = result?;
        // The tenant is the context's, whatever the document said.
        e.sector.clone_from(&ctx.sector);
        e.source.clone_from(&ctx.source);
        e.id = id_from_parts(e.timestamp, &[ctx.source.as_bytes(), original.as_bytes()]);
        e.fields.original = Some(original);
        Ok(e)
    }
}

/// Detects the format of one JSON line and maps it onto an ECS event. `buf` holds the line
/// and is modified (simd-json unescapes in place). See [`JsonParser`] to reuse buffers.
pub fn parse_json_event(buf: &mut [u8], ctx: &Context) -> Result<Event, Error> {
    JsonParser::new().parse(buf, ctx)
}

/// Which format a JSON line is, from its top-level keys. Errors as [`parse_json_event`]
/// would for malformed input.
pub fn detect(buf: &mut [u8]) -> Result<JsonFormat, Error> {
    let line = trim_line(buf)?;
    let mut buffers = Buffers::with_max_depth(line.len(), MAX_DEPTH);
    let mut tape = Tape::null().reset();
    simd_json::fill_tape(line, &mut buffers, &mut tape).map_err(|err| Error::Syntax {
        offset: err.index(),
        reason: format!("{:?}", err.error()),
    })?;
    Ok(detect_nodes(&tape.0))
}

fn trim_line(buf: &mut [u8]) -> Result<&mut [u8], Error> {
    if buf.len() > MAX_LINE_BYTES {
        return Err(Error::TooLong {
            len: buf.len(),
            max: MAX_LINE_BYTES,
        });
    }
    let end = buf
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | b' ' | b'\t' | 0))
        .map_or(0, |p| p + 1);
    let line = buf.get_mut(..end).ok_or(Error::Empty)?;
    if line.is_empty() {
        return Err(Error::Empty);
    }
    Ok(line)
}

/// Number of tape nodes the value starting at `nodes[i]` spans.
fn span(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

/// Calls `f` with each top-level key and the nodes of its value.
pub(crate) fn for_each_top<'t, 'i>(
    nodes: &'t [Node<'i>],
    mut f: impl FnMut(&'i str, &'t [Node<'i>]),
) {
    let Some(Node::Object { len, .. }) = nodes.first() else {
        return;
    };
    let mut i = 1;
    for _ in 0..*len {
        let Some(Node::String(key)) = nodes.get(i) else {
            return;
        };
        i += 1;
        let Some(first) = nodes.get(i) else {
            return;
        };
        let end = i + span(first);
        let Some(value) = nodes.get(i..end) else {
            return;
        };
        f(key, value);
        i = end;
    }
}

/// The value of key `key` of the object `nodes` (which starts with its header).
pub(crate) fn get<'t, 'i>(nodes: &'t [Node<'i>], key: &str) -> Option<&'t [Node<'i>]> {
    let mut found = None;
    for_each_top(nodes, |k, v| {
        if found.is_none() && k == key {
            found = Some(v);
        }
    });
    found
}

fn detect_nodes(nodes: &[Node<'_>]) -> JsonFormat {
    #[derive(Default)]
    struct Seen {
        event_type: bool,
        flow_id: bool,
        timestamp: bool,
        src_ip: bool,
        stats_or_anomaly: bool,
        path: bool,
        uid: bool,
        orig_h: bool,
        ecs: bool,
        rule_level: bool,
        agent: bool,
    }
    let mut s = Seen::default();
    for_each_top(nodes, |key, value| match key {
        "event_type" => s.event_type = true,
        "flow_id" => s.flow_id = true,
        "timestamp" => s.timestamp = true,
        "src_ip" => s.src_ip = true,
        "stats" | "anomaly" => s.stats_or_anomaly = true,
        "_path" => s.path = true,
        "uid" => s.uid = true,
        "id.orig_h" => s.orig_h = true,
        "ecs.version" => s.ecs = true,
        "ecs" => s.ecs = get(value, "version").is_some(),
        "rule" => s.rule_level = get(value, "level").is_some(),
        "rule.level" => s.rule_level = true,
        "agent" => s.agent = true,
        _ if key.starts_with("agent.") => s.agent = true,
        _ => {}
    });
    // EVE events without a flow (stats, decoder anomalies) still carry a timestamp and
    // either addresses or their own section.
    if s.event_type && (s.flow_id || (s.timestamp && (s.src_ip || s.stats_or_anomaly))) {
        JsonFormat::Eve
    } else if s.path || (s.uid && s.orig_h) {
        JsonFormat::Zeek
    } else if s.ecs {
        JsonFormat::Ecs
    } else if s.rule_level && s.agent {
        JsonFormat::Wazuh
    } else {
        JsonFormat::Generic
    }
}

/// Walks the object tree, handing every leaf to `mapper`, then finishes it.
pub(crate) fn walk_into<M: Mapper>(
    nodes: &[Node<'_>],
    e: &mut Event,
    ctx: &Context,
    mut mapper: M,
) -> Result<(), Error> {
    let Some(Node::Object { len, .. }) = nodes.first() else {
        return Err(Error::NotObject);
    };
    let mut path = String::with_capacity(64);
    let mut leaves = 0usize;
    walk_object(nodes, 1, *len, &mut path, &mut leaves, &mut |path, leaf| {
        mapper.leaf(e, path, leaf)
    })?;
    mapper.finish(e, ctx)
}

type Sink<'s> = dyn FnMut(&str, Leaf<'_>) -> Result<(), Error> + 's;

fn walk_object(
    nodes: &[Node<'_>],
    mut i: usize,
    len: usize,
    path: &mut String,
    leaves: &mut usize,
    sink: &mut Sink<'_>,
) -> Result<usize, Error> {
    for _ in 0..len {
        let Some(Node::String(key)) = nodes.get(i) else {
            return Err(Error::NotObject);
        };
        i += 1;
        let mark = path.len();
        if mark > 0 {
            path.push('.');
        }
        path.push_str(key);
        if path.len() > MAX_KEY_BYTES {
            let mut end = 40.min(path.len());
            while !path.is_char_boundary(end) {
                end -= 1;
            }
            return Err(Error::KeyTooLong {
                prefix: path.get(..end).unwrap_or_default().to_owned(),
            });
        }
        i = walk_value(nodes, i, path, leaves, sink)?;
        path.truncate(mark);
    }
    Ok(i)
}

fn walk_value(
    nodes: &[Node<'_>],
    i: usize,
    path: &mut String,
    leaves: &mut usize,
    sink: &mut Sink<'_>,
) -> Result<usize, Error> {
    let Some(node) = nodes.get(i) else {
        return Err(Error::NotObject);
    };
    let leaf = match node {
        Node::Object { len, .. } if *len > 0 => {
            return walk_object(nodes, i + 1, *len, path, leaves, sink);
        }
        Node::Object { .. } => Leaf::Json(Value::Object(Map::new())),
        Node::Array { .. } => {
            let end = i + span(node);
            let (v, _) = to_value(nodes, i);
            *leaves += 1;
            if *leaves > MAX_LEAVES {
                return Err(Error::TooManyFields { max: MAX_LEAVES });
            }
            sink(path, Leaf::Json(v))?;
            return Ok(end);
        }
        Node::String(s) => Leaf::Str(s),
        Node::Static(s) => static_leaf(s),
    };
    *leaves += 1;
    if *leaves > MAX_LEAVES {
        return Err(Error::TooManyFields { max: MAX_LEAVES });
    }
    sink(path, leaf)?;
    Ok(i + 1)
}

fn static_leaf(s: &StaticNode) -> Leaf<'static> {
    match *s {
        StaticNode::I64(i) => Leaf::I64(i),
        StaticNode::U64(u) => Leaf::U64(u),
        StaticNode::F64(f) => Leaf::F64(f),
        StaticNode::Bool(b) => Leaf::Bool(b),
        StaticNode::Null => Leaf::Null,
    }
}

/// The value starting at `nodes[i]` as JSON, and the index after it. The tape is
/// well-formed (simd-json built it) and its depth is bounded by [`MAX_DEPTH`].
pub(crate) fn to_value(nodes: &[Node<'_>], i: usize) -> (Value, usize) {
    match nodes.get(i) {
        Some(Node::String(s)) => (Value::String((*s).to_owned()), i + 1),
        Some(Node::Static(s)) => (static_leaf(s).into_value(), i + 1),
        Some(Node::Array { len, .. }) => {
            let mut out = Vec::with_capacity((*len).min(1024));
            let mut j = i + 1;
            for _ in 0..*len {
                let (v, next) = to_value(nodes, j);
                out.push(v);
                j = next;
            }
            (Value::Array(out), j)
        }
        Some(Node::Object { len, .. }) => {
            let mut out = Map::new();
            let mut j = i + 1;
            for _ in 0..*len {
                let Some(Node::String(k)) = nodes.get(j) else {
                    break;
                };
                let (v, next) = to_value(nodes, j + 1);
                out.insert((*k).to_owned(), v);
                j = next;
            }
            (Value::Object(out), j)
        }
        None => (Value::Null, i + 1),
    }
}

/// Inserts `value` under `prefix.path` in the event's extra fields.
pub(crate) fn put_ns(e: &mut Event, prefix: &str, path: &str, value: Value) {
    let mut key = String::with_capacity(prefix.len() + 1 + path.len());
    key.push_str(prefix);
    key.push('.');
    key.push_str(path);
    e.extra.insert(key, value);
}

pub(crate) fn put(e: &mut Event, key: &str, value: Value) {
    e.extra.insert(key.to_owned(), value);
}

/// Appends `v` to a list field unless present.
pub(crate) fn push_unique(list: &mut Vec<String>, v: &str) {
    if !list.iter().any(|x| x == v) {
        list.push(v.to_owned());
    }
}

/// Reads a timestamp given as RFC 3339 / ISO 8601 text (also `+0000` offsets without a
/// colon, as Suricata and Wazuh write them, and no zone: read as UTC) or as epoch
/// seconds, milliseconds, microseconds or nanoseconds (by magnitude).
pub fn parse_time(leaf: &Leaf<'_>) -> Option<Timestamp> {
    match leaf {
        Leaf::Str(s) => parse_time_str(s),
        Leaf::I64(i) => epoch_int(*i),
        Leaf::U64(u) => i64::try_from(*u).ok().and_then(epoch_int),
        Leaf::F64(f) => epoch_to_ts(*f),
        _ => None,
    }
}

/// Integer epoch: under 1e11 seconds, under 1e14 milliseconds, under 1e17 microseconds,
/// else nanoseconds.
pub fn epoch_int(v: i64) -> Option<Timestamp> {
    let nanos = match v {
        ..0 => return None,
        0..100_000_000_000 => v.checked_mul(1_000_000_000)?,
        100_000_000_000..100_000_000_000_000 => v.checked_mul(1_000_000)?,
        100_000_000_000_000..100_000_000_000_000_000 => v.checked_mul(1_000)?,
        _ => v,
    };
    Some(Timestamp::from_nanos(nanos))
}

/// Fractional epoch, scaled like [`epoch_int`] and rounded to the microsecond (the
/// precision Zeek and Suricata write; an f64 holds no more for current dates).
pub fn epoch_to_ts(v: f64) -> Option<Timestamp> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let micros = if v < 1e11 {
        v * 1e6
    } else if v < 1e14 {
        v * 1e3
    } else if v < 1e17 {
        v
    } else {
        v / 1e3
    };
    let micros = micros.round();
    if micros >= 9.2e15 {
        return None;
    }
    Some(Timestamp::from_nanos(micros as i64 * 1000))
}

pub fn parse_time_str(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let b = s.as_bytes();
    let n = b.len();
    // `+hhmm` without the colon (Suricata, Wazuh): fixed up on the stack, tried first
    // because it is the common case on the EVE hot path.
    if (24..=60).contains(&n)
        && matches!(b[n - 5], b'+' | b'-')
        && b[n - 4..].iter().all(u8::is_ascii_digit)
        && b[10] == b'T'
    {
        let mut fixed = [0u8; 64];
        fixed[..n - 2].copy_from_slice(&b[..n - 2]);
        fixed[n - 2] = b':';
        fixed[n - 1..=n].copy_from_slice(&b[n - 2..]);
        return std::str::from_utf8(&fixed[..=n])
            .ok()
            .and_then(|f| Timestamp::parse_rfc3339(f).ok());
    }
    if !(19..=64).contains(&n) {
        // Maybe an epoch number written as a string.
        return match s.parse::<i64>() {
            Ok(i) => epoch_int(i),
            Err(_) => s.parse::<f64>().ok().and_then(epoch_to_ts),
        };
    }
    if let Ok(t) = Timestamp::parse_rfc3339(s) {
        return Some(t);
    }
    // No zone at all: UTC.
    if b.last().is_some_and(u8::is_ascii_digit) {
        let mut fixed = [0u8; 65];
        fixed[..n].copy_from_slice(b);
        fixed[n] = b'Z';
        return std::str::from_utf8(&fixed[..=n])
            .ok()
            .and_then(|f| Timestamp::parse_rfc3339(f).ok());
    }
    None
}

/// A timestamp as an RFC 3339 JSON string.
pub(crate) fn ts_value(t: Timestamp) -> Value {
    Value::String(t.to_rfc3339())
}

#[cfg(test)]
mod tests;

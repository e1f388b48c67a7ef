//! Zeek logs, JSON or TSV, onto ECS the way Elastic's Zeek integration maps them.
//!
//! # Mapping (both forms)
//!
//! - `ts` (epoch seconds, or ISO 8601 when Zeek writes JSON with `iso8601` timestamps) →
//!   `@timestamp` (the receive time when `ts` was cut out); `uid` → `zeek.session_id`; `id.orig_h`/`id.orig_p` →
//!   `source.ip`/`source.port`, `id.resp_h`/`id.resp_p` → `destination.*`; `proto` →
//!   `network.transport`; `community_id` → `network.community_id`.
//! - `event.module: zeek`, `event.dataset: zeek.<log>`, `event.kind` (`alert` for notice and
//!   weird), `event.category`/`event.type` per log (conn: network/connection; dns:
//!   network/protocol; http: network+web/connection+protocol; ssl: network/protocol;
//!   files: file/info; notice: intrusion_detection/info; x509, weird, others: network/info).
//! - conn: `service` → `network.protocol`, `orig_bytes`/`resp_bytes` →
//!   `source.bytes`/`destination.bytes`, `orig_pkts`/`resp_pkts` → `source.packets`/
//!   `destination.packets`, their sums → `network.bytes`/`network.packets`, `duration` →
//!   `event.duration` (ns). A conn record is a metered flow, so it also carries the
//!   model's [`FlowRecord`] (`flow.version = "zeek"`, start = `ts`, end = `ts + duration`).
//! - dns: `query` → `dns.question.name`, `qtype_name` → `dns.question.type`, `rcode_name` →
//!   `dns.response_code`, `trans_id` → `dns.id`.
//! - http: `uri` → `url.original`, `host` → `url.domain`/`destination.domain`, `method` →
//!   `http.request.method`, `status_code` → `http.response.status_code`, `user_agent` →
//!   `user_agent.original`, `referrer` → `http.request.referrer`, body lengths →
//!   `http.request.body.bytes`/`http.response.body.bytes`, `username` → `user.name`.
//! - ssl: `server_name` → `tls.client.server_name`, `version` (`TLSv12`) → `tls.version`
//!   (`1.2`) and `tls.version_protocol`, `cipher` → `tls.cipher`, `ja3` → `tls.client.ja3`,
//!   `ja3s` → `tls.server.ja3s`.
//! - files: `mime_type` → `file.mime_type`, `filename` → `file.name`, hashes →
//!   `file.hash.*`, `total_bytes` → `file.size`.
//! - notice: `note` → `rule.name`, `msg` → `message`, `src`/`dst`/`p` → `source.ip`/
//!   `destination.ip`/`destination.port`. weird: `name` → `rule.name`.
//! - everything else is kept under `zeek.<log>.<field>`, typed (counts as numbers, `T`/`F`
//!   as booleans, sets and vectors as arrays).
//!
//! # TSV
//!
//! [`TsvReader`] reads a log stream line by line: the header lines `#separator` (`\x09`
//! escapes allowed), `#set_separator`, `#empty_field`, `#unset_field`, `#path`,
//! `#fields`, `#types` configure it, `#open`/`#close` and other `#` lines are skipped,
//! and every other line is a row. The unset value (`-`) leaves the field out, the empty
//! value (`(empty)`) is an empty string or an empty set; containers are split on the set
//! separator; `\xHH` escapes in values are decoded. A new header (concatenated logs) resets
//! the reader.

use ncsoc_model::id::id_from_parts;
use ncsoc_model::{Event, FlowRecord, Timestamp};
use serde_json::Value;
use simd_json::Node;

use super::{
    field_error, parse_time, push_unique, put, put_ns, Context, Error, JsonParser, Leaf, Mapper,
};

/// Maps one Zeek JSON log line of type `log` (from the file name), or of the type in its
/// `_path` field / guessed from its fields when `None`. `line` is modified in place.
pub fn parse_zeek_json(line: &mut [u8], log: Option<&str>, ctx: &Context) -> Result<Event, Error> {
    JsonParser::new().parse_zeek(log, line, ctx)
}

/// The log a record came from. Known logs get their own ECS mapping; the rest are mapped
/// generically under `zeek.<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogType {
    Conn,
    Dns,
    Http,
    Ssl,
    Files,
    Notice,
    Weird,
    X509,
    Other(String),
}

impl LogType {
    /// From a `_path`/`#path` value or a file name (`conn`, `conn.log`, `conn.log.labeled`,
    /// `conn_20240101.log`).
    pub fn from_name(name: &str) -> Self {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let stem = base.split('.').next().unwrap_or(base);
        let stem = stem
            .split_once('_')
            .filter(|(_, rest)| rest.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
            .map_or(stem, |(a, _)| a);
        match stem {
            "conn" => LogType::Conn,
            "dns" => LogType::Dns,
            "http" => LogType::Http,
            "ssl" => LogType::Ssl,
            "files" => LogType::Files,
            "notice" => LogType::Notice,
            "weird" => LogType::Weird,
            "x509" => LogType::X509,
            other => LogType::Other(other.to_ascii_lowercase()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            LogType::Conn => "conn",
            LogType::Dns => "dns",
            LogType::Http => "http",
            LogType::Ssl => "ssl",
            LogType::Files => "files",
            LogType::Notice => "notice",
            LogType::Weird => "weird",
            LogType::X509 => "x509",
            LogType::Other(n) => n,
        }
    }
}

/// The log type of a JSON record: its `_path`, else guessed from distinctive fields.
pub(crate) fn log_from_nodes(nodes: &[Node<'_>]) -> LogType {
    let mut path = None;
    let mut guess = None;
    super::for_each_top(nodes, |k, v| {
        let g = match k {
            "_path" => {
                if let Some(Node::String(s)) = v.first() {
                    path = Some(LogType::from_name(s));
                }
                None
            }
            "conn_state" | "orig_ip_bytes" => Some(LogType::Conn),
            "qtype_name" | "rcode_name" | "query" => Some(LogType::Dns),
            "status_code" | "user_agent" | "uri" => Some(LogType::Http),
            "server_name" | "cipher" | "ja3" | "established" => Some(LogType::Ssl),
            "fuid" | "mime_type" => Some(LogType::Files),
            "note" => Some(LogType::Notice),
            "certificate.subject" | "certificate.issuer" => Some(LogType::X509),
            "name" | "addl" | "notice" if guess.is_none() => Some(LogType::Weird),
            _ => None,
        };
        if let Some(g) = g {
            if guess.is_none() || guess == Some(LogType::Weird) {
                guess = Some(g);
            }
        }
    });
    path.or(guess)
        .unwrap_or_else(|| LogType::Other("unknown".into()))
}

/// Maps the fields of one Zeek record.
pub(crate) struct ZeekMapper {
    log: LogType,
    ns: String,
    has_ts: bool,
    duration: Option<f64>,
    orig_bytes: Option<u64>,
    resp_bytes: Option<u64>,
    orig_pkts: Option<u64>,
    resp_pkts: Option<u64>,
    status: Option<u64>,
}

impl ZeekMapper {
    pub(crate) fn new(log: LogType) -> Self {
        let ns = format!("zeek.{}", log.name());
        Self {
            log,
            ns,
            has_ts: false,
            duration: None,
            orig_bytes: None,
            resp_bytes: None,
            orig_pkts: None,
            resp_pkts: None,
            status: None,
        }
    }

    fn keep(&self, e: &mut Event, path: &str, leaf: Leaf<'_>) {
        put_ns(e, &self.ns, path, leaf.into_value());
    }
}

fn port(leaf: &Leaf<'_>) -> Option<u16> {
    leaf.as_u64().and_then(|p| u16::try_from(p).ok())
}

fn text(leaf: &Leaf<'_>) -> Value {
    leaf.to_text().map_or(Value::Null, Value::String)
}

impl Mapper for ZeekMapper {
    fn leaf(&mut self, e: &mut Event, path: &str, leaf: Leaf<'_>) -> Result<(), Error> {
        let f = &mut e.fields;
        // Fields common to all logs.
        match path {
            "ts" => {
                e.timestamp = parse_time(&leaf)
                    .ok_or_else(|| field_error("ts", "expected epoch seconds or ISO 8601"))?;
                self.has_ts = true;
                return Ok(());
            }
            "_path" | "_write_ts" => return Ok(()),
            "uid" => {
                put(e, "zeek.session_id", leaf.into_value());
                return Ok(());
            }
            "id.orig_h" => {
                if let Some(ip) = leaf.as_ip() {
                    f.source_ip = Some(ip);
                    return Ok(());
                }
            }
            "id.orig_p" => {
                if let Some(p) = port(&leaf) {
                    f.source_port = Some(p);
                    return Ok(());
                }
            }
            "id.resp_h" => {
                if let Some(ip) = leaf.as_ip() {
                    f.destination_ip = Some(ip);
                    return Ok(());
                }
            }
            "id.resp_p" => {
                if let Some(p) = port(&leaf) {
                    f.destination_port = Some(p);
                    return Ok(());
                }
            }
            "proto" if self.log != LogType::Dns || leaf.as_str().is_some() => {
                if let Some(p) = leaf.as_str() {
                    f.network_transport = Some(p.to_ascii_lowercase());
                    return Ok(());
                }
            }
            "community_id" => {
                if let Some(c) = leaf.as_str() {
                    f.network_community_id = Some(c.to_owned());
                    return Ok(());
                }
            }
            _ => {}
        }
        match (&self.log, path) {
            (LogType::Conn, "service") => {
                if let Some(s) = leaf.as_str() {
                    f.network_protocol = Some(s.to_owned());
                }
            }
            (LogType::Conn, "orig_bytes") => self.orig_bytes = leaf.as_u64(),
            (LogType::Conn, "resp_bytes") => self.resp_bytes = leaf.as_u64(),
            (LogType::Conn, "orig_pkts") => self.orig_pkts = leaf.as_u64(),
            (LogType::Conn, "resp_pkts") => self.resp_pkts = leaf.as_u64(),
            (LogType::Conn, "duration") => self.duration = leaf.as_f64(),
            (LogType::Dns, "query") => {
                if let Some(q) = leaf.as_str() {
                    f.dns_question_name = Some(q.to_owned());
                    return Ok(());
                }
            }
            (LogType::Dns, "qtype_name") => put(e, "dns.question.type", leaf.clone().into_value()),
            (LogType::Dns, "rcode_name") => put(e, "dns.response_code", leaf.clone().into_value()),
            (LogType::Dns, "trans_id") => put(e, "dns.id", text(&leaf)),
            (LogType::Http, "uri") => {
                if let Some(u) = leaf.as_str() {
                    f.url_original = Some(u.to_owned());
                }
            }
            (LogType::Http, "host") => {
                put(e, "url.domain", leaf.clone().into_value());
                put(e, "destination.domain", leaf.clone().into_value());
            }
            (LogType::Http, "method") => put(e, "http.request.method", leaf.clone().into_value()),
            (LogType::Http, "status_code") => {
                self.status = leaf.as_u64();
                put(e, "http.response.status_code", leaf.clone().into_value());
            }
            (LogType::Http, "user_agent") => {
                put(e, "user_agent.original", leaf.clone().into_value())
            }
            (LogType::Http, "referrer") => {
                put(e, "http.request.referrer", leaf.clone().into_value())
            }
            (LogType::Http, "request_body_len") => {
                put(e, "http.request.body.bytes", leaf.clone().into_value())
            }
            (LogType::Http, "response_body_len") => {
                put(e, "http.response.body.bytes", leaf.clone().into_value())
            }
            (LogType::Http, "version") => put(e, "http.version", leaf.clone().into_value()),
            (LogType::Http, "username") => {
                if let Some(u) = leaf.as_str() {
                    f.user_name = Some(u.to_owned());
                }
            }
            (LogType::Ssl, "server_name") => {
                if let Some(s) = leaf.as_str() {
                    f.tls_server_sni = Some(s.to_owned());
                    return Ok(());
                }
            }
            (LogType::Ssl, "version") => {
                if let Some((proto, ver)) = leaf.as_str().and_then(super::eve::tls_version) {
                    put(e, "tls.version", Value::String(ver));
                    put(e, "tls.version_protocol", Value::String(proto.to_owned()));
                }
            }
            (LogType::Ssl, "cipher") => put(e, "tls.cipher", leaf.clone().into_value()),
            (LogType::Ssl, "ja3") => put(e, "tls.client.ja3", leaf.clone().into_value()),
            (LogType::Ssl, "ja3s") => put(e, "tls.server.ja3s", leaf.clone().into_value()),
            (LogType::Ssl, "established") => put(e, "tls.established", leaf.clone().into_value()),
            (LogType::Files, "mime_type") => put(e, "file.mime_type", leaf.clone().into_value()),
            (LogType::Files, "filename") => put(e, "file.name", leaf.clone().into_value()),
            (LogType::Files, "md5") => put(e, "file.hash.md5", leaf.clone().into_value()),
            (LogType::Files, "sha1") => put(e, "file.hash.sha1", leaf.clone().into_value()),
            (LogType::Files, "sha256") => put(e, "file.hash.sha256", leaf.clone().into_value()),
            (LogType::Files, "total_bytes") => put(e, "file.size", leaf.clone().into_value()),
            (LogType::Notice, "note") | (LogType::Weird, "name") => {
                f.rule_name = leaf.to_text();
            }
            (LogType::Notice, "msg") => f.message = leaf.to_text(),
            (LogType::Notice, "src") => {
                if let Some(ip) = leaf.as_ip() {
                    f.source_ip = Some(ip);
                }
            }
            (LogType::Notice, "dst") => {
                if let Some(ip) = leaf.as_ip() {
                    f.destination_ip = Some(ip);
                }
            }
            (LogType::Notice, "p") if f.destination_port.is_none() => {
                f.destination_port = port(&leaf);
            }
            _ => {}
        }
        self.keep(e, path, leaf);
        Ok(())
    }

    fn finish(self, e: &mut Event, ctx: &Context) -> Result<(), Error> {
        if !self.has_ts {
            // zeek-cut output may leave `ts` out: the receive time stands in.
            e.timestamp = ctx.now;
        }
        let name = self.log.name();
        let f = &mut e.fields;
        f.module = Some("zeek".into());
        f.dataset = Some(format!("zeek.{name}"));
        f.observer_vendor = Some("Zeek".into());
        f.observer_product = Some("Zeek".into());
        let (kind, cats, types): (&str, &[&str], &[&str]) = match &self.log {
            LogType::Conn => ("event", &["network"], &["connection"]),
            LogType::Dns => ("event", &["network"], &["protocol", "info"]),
            LogType::Http => ("event", &["network", "web"], &["connection", "protocol"]),
            LogType::Ssl => ("event", &["network"], &["connection", "protocol"]),
            LogType::Files => ("event", &["file"], &["info"]),
            LogType::Notice => ("alert", &["intrusion_detection"], &["info"]),
            LogType::Weird => ("alert", &["network"], &["info"]),
            LogType::X509 => ("event", &["network"], &["info"]),
            LogType::Other(n) => match n.as_str() {
                "ssh" | "ftp" | "smtp" | "rdp" | "quic" | "dhcp" | "ntp" | "kerberos"
                | "syslog" | "rfb" | "smb_files" | "smb_mapping" | "dce_rpc" | "sip" | "snmp"
                | "socks" | "tunnel" | "radius" | "mysql" | "irc" | "modbus" | "dnp3" | "ntlm" => {
                    ("event", &["network"], &["connection", "protocol"])
                }
                _ => ("event", &["network"], &["info"]),
            },
        };
        f.kind = Some(kind.into());
        for c in cats {
            push_unique(&mut f.category, c);
        }
        for t in types {
            push_unique(&mut f.r#type, t);
        }
        if let LogType::Other(n) = &self.log {
            if f.network_protocol.is_none()
                && !matches!(
                    n.as_str(),
                    "software"
                        | "pe"
                        | "arp"
                        | "packet_filter"
                        | "reporter"
                        | "capture_loss"
                        | "loaded_scripts"
                        | "stats"
                        | "telemetry"
                        | "unknown"
                        | "tunnel"
                )
            {
                let proto = match n.as_str() {
                    "kerberos" => "kerberos",
                    "smb_files" | "smb_mapping" => "smb",
                    "dce_rpc" => "dcerpc",
                    other => other,
                };
                f.network_protocol = Some(proto.to_owned());
            }
        }
        match &self.log {
            LogType::Dns => f.network_protocol = Some("dns".into()),
            LogType::Http => f.network_protocol = Some("http".into()),
            LogType::Ssl => f.network_protocol = Some("tls".into()),
            _ => {}
        }
        if let Some(s) = self.status {
            f.outcome = Some(if s < 400 { "success" } else { "failure" }.into());
        }
        if self.log == LogType::Conn {
            let bytes = sum(self.orig_bytes, self.resp_bytes);
            let pkts = sum(self.orig_pkts, self.resp_pkts);
            f.network_bytes = bytes;
            f.network_packets = pkts;
            for (key, v) in [
                ("source.bytes", self.orig_bytes),
                ("destination.bytes", self.resp_bytes),
                ("source.packets", self.orig_pkts),
                ("destination.packets", self.resp_pkts),
            ] {
                if let Some(v) = v {
                    put(e, key, Value::from(v));
                }
            }
            let start = e.timestamp;
            let end = self
                .duration
                .filter(|d| d.is_finite() && *d >= 0.0 && *d < 1e9)
                .map(|d| Timestamp::from_nanos(start.nanos().saturating_add((d * 1e9) as i64)));
            if let Some(d) = self
                .duration
                .filter(|d| d.is_finite() && *d >= 0.0 && *d < 1e9)
            {
                put(e, "event.duration", Value::from((d * 1e9).round() as i64));
            }
            e.flow = Some(Box::new(FlowRecord {
                version: Some("zeek".into()),
                sampling_rate: Some(1),
                bytes_raw: bytes,
                packets_raw: pkts,
                start: Some(start),
                end,
                ..FlowRecord::default()
            }));
        }
        Ok(())
    }
}

fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

/// Longest TSV row accepted, and most columns.
pub const MAX_TSV_LINE_BYTES: usize = super::MAX_LINE_BYTES;
pub const MAX_TSV_COLUMNS: usize = 512;

/// A column's Zeek type, reduced to how its values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColType {
    Time,
    Interval,
    Double,
    Count,
    Int,
    Bool,
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    name: String,
    ty: ColType,
    container: bool,
}

fn col_type(t: &str) -> (ColType, bool) {
    let (inner, container) = match t.split_once('[') {
        Some(("set" | "vector" | "table", rest)) => (rest.trim_end_matches(']'), true),
        _ => (t, false),
    };
    let ty = match inner {
        "time" => ColType::Time,
        "interval" => ColType::Interval,
        "double" => ColType::Double,
        "count" | "port" => ColType::Count,
        "int" => ColType::Int,
        "bool" => ColType::Bool,
        _ => ColType::Text,
    };
    (ty, container)
}

/// Reads a Zeek TSV log stream: header lines first, then rows, each mapped onto an
/// [`Event`]. See the module documentation.
#[derive(Debug, Clone)]
pub struct TsvReader {
    separator: Vec<u8>,
    set_separator: String,
    empty: String,
    unset: String,
    log: Option<LogType>,
    columns: Vec<Column>,
    types_seen: bool,
    line: usize,
}

impl Default for TsvReader {
    fn default() -> Self {
        Self::new(None)
    }
}

impl TsvReader {
    /// A reader for one log stream. `log` is the type from the file name, used until a
    /// `#path` line says otherwise.
    pub fn new(log: Option<&str>) -> Self {
        Self {
            separator: vec![b'\t'],
            set_separator: ",".into(),
            empty: "(empty)".into(),
            unset: "-".into(),
            log: log.map(LogType::from_name),
            columns: Vec::new(),
            types_seen: false,
            line: 0,
        }
    }

    /// The column names from `#fields`.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// The log type from `#path` or the file name.
    pub fn log(&self) -> Option<&LogType> {
        self.log.as_ref()
    }

    /// Feeds one line (without or with its trailing newline). Header lines give
    /// `Ok(None)`; a row gives its event.
    pub fn push_line(&mut self, raw: &[u8], ctx: &Context) -> Result<Option<Event>, Error> {
        self.line += 1;
        let err = |line, reason: String| Error::Tsv { line, reason };
        if raw.len() > MAX_TSV_LINE_BYTES {
            return Err(err(
                self.line,
                format!("line longer than {MAX_TSV_LINE_BYTES} bytes"),
            ));
        }
        let end = raw
            .iter()
            .rposition(|b| !matches!(b, b'\n' | b'\r'))
            .map_or(0, |p| p + 1);
        let line = raw.get(..end).unwrap_or_default();
        if line.is_empty() {
            return Ok(None);
        }
        let text = std::str::from_utf8(line).map_err(|e| {
            err(
                self.line,
                format!("invalid UTF-8 at byte {}", e.valid_up_to()),
            )
        })?;
        // Some writers indent the first header line; a row never starts with blanks.
        if let Some(header) = text.trim_start_matches([' ', '\t']).strip_prefix('#') {
            self.header(header).map_err(|r| err(self.line, r))?;
            return Ok(None);
        }
        if self.columns.is_empty() {
            return Err(err(self.line, "row before the #fields header".into()));
        }
        self.row(text, ctx).map(Some)
    }

    fn header(&mut self, h: &str) -> Result<(), String> {
        if let Some(rest) = h.strip_prefix("separator") {
            let sep = unescape(rest.trim_start_matches([' ', '\t']));
            if sep.is_empty() || sep.len() > 8 {
                return Err("#separator must be 1 to 8 bytes".into());
            }
            // A new log starts: forget the old columns.
            self.columns.clear();
            self.types_seen = false;
            self.separator = sep;
            return Ok(());
        }
        let (key, value) = match split_sep(h, &self.separator).next() {
            Some(key) => (key, h.get(key.len() + self.separator.len()..).unwrap_or("")),
            None => return Ok(()),
        };
        let decode = |v: &str| String::from_utf8_lossy(&unescape(v)).into_owned();
        match key {
            "set_separator" => self.set_separator = decode(value),
            "empty_field" => self.empty = decode(value),
            "unset_field" => self.unset = decode(value),
            "path" => self.log = Some(LogType::from_name(value)),
            "fields" => {
                let names: Vec<&str> = split_sep(value, &self.separator).collect();
                if names.len() > MAX_TSV_COLUMNS {
                    return Err(format!("more than {MAX_TSV_COLUMNS} columns"));
                }
                self.columns = names
                    .into_iter()
                    .map(|n| Column {
                        name: n.to_owned(),
                        ty: ColType::Text,
                        container: false,
                    })
                    .collect();
                self.types_seen = false;
            }
            "types" => {
                let types: Vec<&str> = split_sep(value, &self.separator).collect();
                if types.len() != self.columns.len() {
                    return Err(format!(
                        "#types has {} entries for {} #fields",
                        types.len(),
                        self.columns.len()
                    ));
                }
                for (c, t) in self.columns.iter_mut().zip(types) {
                    (c.ty, c.container) = col_type(t);
                }
                self.types_seen = true;
            }
            _ => {}
        }
        Ok(())
    }

    fn row(&self, text: &str, ctx: &Context) -> Result<Event, Error> {
        let line = self.line;
        let log = self
            .log
            .clone()
            .unwrap_or_else(|| LogType::Other("unknown".into()));
        let mut e = Event::new(
            String::new(),
            ctx.now,
            ctx.sector.as_str(),
            ctx.source.as_str(),
        );
        e.fields.created = Some(ctx.now);
        let mut mapper = ZeekMapper::new(log);
        let mut n = 0;
        for (i, value) in split_sep(text, &self.separator).enumerate() {
            n = i + 1;
            let Some(col) = self.columns.get(i) else {
                return Err(Error::Tsv {
                    line,
                    reason: format!("more values than the {} #fields", self.columns.len()),
                });
            };
            if value == self.unset {
                continue;
            }
            let leaf = self.value(col, value).map_err(|reason| Error::Tsv {
                line,
                reason: format!("column `{}`: {reason}", col.name),
            })?;
            mapper
                .leaf(&mut e, &col.name, leaf)
                .map_err(|err| Error::Tsv {
                    line,
                    reason: err.to_string(),
                })?;
        }
        if n != self.columns.len() {
            return Err(Error::Tsv {
                line,
                reason: format!("{n} values for {} #fields", self.columns.len()),
            });
        }
        mapper.finish(&mut e, ctx).map_err(|err| Error::Tsv {
            line,
            reason: err.to_string(),
        })?;
        e.id = id_from_parts(e.timestamp, &[ctx.source.as_bytes(), text.as_bytes()]);
        e.fields.original = Some(text.to_owned());
        Ok(e)
    }

    fn value<'v>(&self, col: &Column, raw: &'v str) -> Result<Leaf<'v>, String> {
        if col.container {
            if raw == self.empty {
                return Ok(Leaf::Json(Value::Array(Vec::new())));
            }
            let items = raw
                .split(self.set_separator.as_str())
                .map(|item| {
                    if item == self.unset {
                        Ok(Value::Null)
                    } else {
                        scalar(col.ty, item).map(Leaf::into_value)
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Leaf::Json(Value::Array(items)));
        }
        if raw == self.empty {
            return Ok(Leaf::Json(Value::String(String::new())));
        }
        scalar(col.ty, raw)
    }
}

fn scalar(ty: ColType, raw: &str) -> Result<Leaf<'_>, String> {
    let bad = |what: &str| format!("`{}` is not {what}", truncate(raw));
    match ty {
        ColType::Time | ColType::Interval | ColType::Double => raw
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Leaf::F64)
            .ok_or_else(|| bad("a number")),
        ColType::Count => raw.parse().map(Leaf::U64).map_err(|_| bad("a count")),
        ColType::Int => raw.parse().map(Leaf::I64).map_err(|_| bad("an integer")),
        ColType::Bool => match raw {
            "T" => Ok(Leaf::Bool(true)),
            "F" => Ok(Leaf::Bool(false)),
            _ => Err(bad("T or F")),
        },
        ColType::Text => {
            if raw.contains("\\x") {
                Ok(Leaf::Json(Value::String(
                    String::from_utf8_lossy(&unescape(raw)).into_owned(),
                )))
            } else {
                Ok(Leaf::Str(raw))
            }
        }
    }
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(40);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// Splits on a (possibly multi-byte) separator.
fn split_sep<'a>(s: &'a str, sep: &'a [u8]) -> impl Iterator<Item = &'a str> + 'a {
    let sep = std::str::from_utf8(sep).unwrap_or("\t");
    s.split(sep)
}

/// Decodes `\xHH` escapes (Zeek writes non-printable bytes and separators so).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            if let Some(byte) = b
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

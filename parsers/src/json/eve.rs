//! Suricata EVE JSON onto ECS, the way Elastic's Suricata integration maps it.
//!
//! - `timestamp` → `@timestamp`; `src_ip`/`src_port`/`dest_ip`/`dest_port` →
//!   `source.*`/`destination.*`; `proto` → `network.transport` (lower case);
//!   `app_proto` → `network.protocol` (lower case; `ftp-data` is `ftp`; `failed` and
//!   `template*` are left out); `community_id` → `network.community_id`;
//!   `ether.src_mac`/`dest_mac` → `source.mac`/`destination.mac`; `host` (the sensor
//!   name) → `observer.hostname`.
//! - `event.kind` is `alert` for alerts, `metric` for stats, else `event`;
//!   `event.category` is `network` (+ `intrusion_detection` for alerts, `web` for http);
//!   `event.type` per event type (`connection` for flows, `protocol` for application
//!   events, `access` for http), plus `start`/`end` from `flow.state` and the alert action
//!   (`allowed`, or `denied` for `blocked`).
//! - alert: `signature_id` → `rule.id`, `signature` → `rule.name`, `category` →
//!   `rule.category` and `message`, `severity` → `event.severity`; MITRE metadata →
//!   `threat.*`.
//! - flow counters: `bytes_toserver` → `source.bytes`, `bytes_toclient` →
//!   `destination.bytes`, `pkts_*` → `source.packets`/`destination.packets`, and their sums
//!   `network.bytes`/`network.packets`; `flow.start`/`end` → `event.start`/`end`.
//! - dns: `rrname` (or the first of `queries`) → `dns.question.name`, `rrtype` →
//!   `dns.question.type`, `rcode` → `dns.response_code`, `id` → `dns.id`, `type` →
//!   `dns.type`.
//! - http: `url` → `url.original` (and `url.path`/`url.query`), `hostname` →
//!   `destination.domain`/`url.domain`, `http_method` → `http.request.method`, `status` →
//!   `http.response.status_code` (and `event.outcome`), `length` →
//!   `http.response.body.bytes`, `http_refer` → `http.request.referrer`,
//!   `http_user_agent` → `user_agent.original`.
//! - tls: `sni` → `tls.client.server_name`, `version` (`TLS 1.3`, `TLSv1.2`, `SSLv3`) →
//!   `tls.version` (`1.3`) and `tls.version_protocol`, `subject`/`issuerdn` →
//!   `tls.server.subject`/`issuer`, `ja3.hash`/`ja3s.hash` → `tls.client.ja3`/`tls.server.ja3s`.
//! - fileinfo: `filename` → `file.path`, `size` → `file.size`.
//! - everything else is kept under `suricata.eve.<path>`; fields moved to ECS leave it
//!   (as Elastic's `rename`s do), `event_type`, `app_proto` and `http_method` stay.
//!
//! `flow` (and `netflow`) events are metered flows, so they also carry the model's
//! [`FlowRecord`](ncsoc_model::FlowRecord): `flow.version = "suricata"`, start and end,
//! sampling rate 1, the exported counts and the TCP flags seen.

use std::borrow::Cow;

use ncsoc_model::{Event, FlowRecord};
use serde_json::Value;

use super::{
    field_error, parse_time, parse_time_str, put, put_ns, Context, Error, JsonFormat, JsonParser,
    Leaf, Mapper,
};

const NS: &str = "suricata.eve";

/// Maps one EVE line (no format detection). `line` is modified in place.
pub fn parse_eve(line: &mut [u8], ctx: &Context) -> Result<ncsoc_model::Event, Error> {
    JsonParser::new().parse_as(Some(JsonFormat::Eve), line, ctx)
}

#[derive(Default)]
pub(crate) struct EveMapper {
    event_type: Option<Cow<'static, str>>,
    app_proto: Option<Cow<'static, str>>,
    has_ts: bool,
    src_bytes: Option<u64>,
    dst_bytes: Option<u64>,
    src_pkts: Option<u64>,
    dst_pkts: Option<u64>,
    flow_start: Option<ncsoc_model::Timestamp>,
    flow_end: Option<ncsoc_model::Timestamp>,
    flow_state: Option<String>,
    action: Option<String>,
    http_status: Option<u64>,
    tcp_flags: Option<u8>,
    first_query_taken: bool,
}

impl Mapper for EveMapper {
    fn leaf(&mut self, e: &mut Event, path: &str, leaf: Leaf<'_>) -> Result<(), Error> {
        let f = &mut e.fields;
        match path {
            "timestamp" => {
                let t = parse_time(&leaf)
                    .ok_or_else(|| field_error("timestamp", "expected an ISO 8601 time"))?;
                e.timestamp = t;
                self.has_ts = true;
                return Ok(());
            }
            "src_ip" => {
                if let Some(ip) = leaf.as_ip() {
                    f.source_ip = Some(ip);
                    return Ok(());
                }
            }
            "dest_ip" => {
                if let Some(ip) = leaf.as_ip() {
                    f.destination_ip = Some(ip);
                    return Ok(());
                }
            }
            "src_port" => {
                if let Some(p) = leaf.as_u64().and_then(|p| u16::try_from(p).ok()) {
                    f.source_port = Some(p);
                    return Ok(());
                }
            }
            "dest_port" => {
                if let Some(p) = leaf.as_u64().and_then(|p| u16::try_from(p).ok()) {
                    f.destination_port = Some(p);
                    return Ok(());
                }
            }
            "proto" => {
                if let Some(p) = leaf.as_str() {
                    f.network_transport = Some(lower(p).into_owned());
                    return Ok(());
                }
                if let Some(n) = leaf.to_text() {
                    f.network_transport = Some(n);
                    return Ok(());
                }
            }
            "community_id" => {
                if let Some(c) = leaf.as_str() {
                    f.network_community_id = Some(c.to_owned());
                    return Ok(());
                }
            }
            "flow_id" => {
                // Elastic keeps the flow id as a string (it overflows a signed long).
                if let Some(t) = leaf.to_text() {
                    put_ns(e, NS, path, Value::String(t));
                    return Ok(());
                }
            }
            "event_type" => {
                if let Some(t) = leaf.as_str() {
                    self.event_type = Some(lower(t));
                    return Ok(());
                }
            }
            "app_proto" => {
                if let Some(t) = leaf.as_str() {
                    self.app_proto = Some(lower(t));
                    return Ok(());
                }
            }
            "host" => {
                if let Some(h) = leaf.as_str() {
                    f.observer_hostname = Some(h.to_owned());
                    return Ok(());
                }
            }
            "ether.src_mac" => return move_to(e, "source.mac", leaf),
            "ether.dest_mac" => return move_to(e, "destination.mac", leaf),
            // Alerts.
            "alert.signature_id" => {
                f.rule_id = leaf.to_text();
                return Ok(());
            }
            "alert.signature" => {
                f.rule_name = leaf.to_text();
                return Ok(());
            }
            "alert.category" => {
                if let Some(c) = leaf.to_text() {
                    if !c.is_empty() {
                        put(e, "rule.category", Value::String(c.clone()));
                    }
                    e.fields.message = Some(c);
                }
                put_ns(e, NS, path, leaf.into_value());
                return Ok(());
            }
            "alert.severity" => {
                if let Some(s) = leaf.as_i64() {
                    f.severity = Some(s);
                    return Ok(());
                }
            }
            "alert.action" => {
                if let Some(a) = leaf.as_str() {
                    self.action = Some(a.to_ascii_lowercase());
                    return Ok(());
                }
            }
            "alert.metadata.mitre_tactic_id" => return move_to(e, "threat.tactic.id", leaf),
            "alert.metadata.mitre_tactic_name" => return move_to(e, "threat.tactic.name", leaf),
            "alert.metadata.mitre_technique_id" => return move_to(e, "threat.technique.id", leaf),
            "alert.metadata.mitre_technique_name" => {
                return move_to(e, "threat.technique.name", leaf)
            }
            // Flow counters and times.
            "flow.bytes_toserver" => {
                if let Some(n) = leaf.as_u64() {
                    self.src_bytes = Some(n);
                    return Ok(());
                }
            }
            "flow.bytes_toclient" => {
                if let Some(n) = leaf.as_u64() {
                    self.dst_bytes = Some(n);
                    return Ok(());
                }
            }
            "flow.pkts_toserver" => {
                if let Some(n) = leaf.as_u64() {
                    self.src_pkts = Some(n);
                    return Ok(());
                }
            }
            "flow.pkts_toclient" => {
                if let Some(n) = leaf.as_u64() {
                    self.dst_pkts = Some(n);
                    return Ok(());
                }
            }
            "flow.start" => {
                if let Some(t) = leaf.as_str().and_then(parse_time_str) {
                    self.flow_start = Some(t);
                }
            }
            "flow.end" => {
                if let Some(t) = leaf.as_str().and_then(parse_time_str) {
                    self.flow_end = Some(t);
                }
            }
            "flow.state" => {
                if let Some(s) = leaf.as_str() {
                    self.flow_state = Some(s.to_owned());
                }
            }
            "tcp.tcp_flags" => {
                if let Some(s) = leaf.as_str() {
                    self.tcp_flags = u8::from_str_radix(s, 16).ok();
                }
            }
            // DNS (EVE v1/v2 at the top of `dns`, v3 in `dns.queries[]`).
            "dns.rrname" => {
                if let Some(s) = leaf.as_str() {
                    f.dns_question_name = Some(s.to_owned());
                    return Ok(());
                }
            }
            "dns.rrtype" => return move_to(e, "dns.question.type", leaf),
            "dns.rcode" => return move_to(e, "dns.response_code", leaf),
            "dns.id" => return move_to(e, "dns.id", leaf),
            "dns.type" => return move_to(e, "dns.type", leaf),
            "dns.queries" => {
                if let Leaf::Json(Value::Array(qs)) = &leaf {
                    if let Some(q) = qs.first() {
                        if let Some(name) = q.get("rrname").and_then(Value::as_str) {
                            if f.dns_question_name.is_none() {
                                f.dns_question_name = Some(name.to_owned());
                                self.first_query_taken = true;
                            }
                        }
                        if let Some(t) = q.get("rrtype").and_then(Value::as_str) {
                            put(e, "dns.question.type", Value::String(t.to_owned()));
                        }
                    }
                }
            }
            // HTTP.
            "http.url" => {
                if let Some(u) = leaf.as_str() {
                    let (before_frag, frag) = match u.split_once('#') {
                        Some((a, b)) => (a, Some(b)),
                        None => (u, None),
                    };
                    let (p, q) = match before_frag.split_once('?') {
                        Some((a, b)) => (a, Some(b)),
                        None => (before_frag, None),
                    };
                    put(e, "url.path", Value::String(p.to_owned()));
                    if let Some(q) = q {
                        put(e, "url.query", Value::String(q.to_owned()));
                    }
                    if let Some(frag) = frag {
                        put(e, "url.fragment", Value::String(frag.to_owned()));
                    }
                    e.fields.url_original = Some(u.to_owned());
                    return Ok(());
                }
            }
            "http.hostname" => {
                if let Some(h) = leaf.as_str() {
                    put(e, "destination.domain", Value::String(h.to_owned()));
                    put(e, "url.domain", Value::String(h.to_owned()));
                    return Ok(());
                }
            }
            "http.http_method" => {
                put(e, "http.request.method", leaf.clone().into_value());
            }
            "http.status" => {
                self.http_status = leaf.as_u64();
                return move_to(e, "http.response.status_code", leaf);
            }
            "http.length" => return move_to(e, "http.response.body.bytes", leaf),
            "http.http_refer" => return move_to(e, "http.request.referrer", leaf),
            "http.http_user_agent" => {
                put(e, "user_agent.original", leaf.clone().into_value());
            }
            // TLS.
            "tls.sni" => {
                if let Some(s) = leaf.as_str() {
                    f.tls_server_sni = Some(s.to_owned());
                    return Ok(());
                }
            }
            "tls.version" => {
                if let Some(v) = leaf.as_str() {
                    if let Some((proto, ver)) = tls_version(v) {
                        put(e, "tls.version", Value::String(ver));
                        put(e, "tls.version_protocol", Value::String(proto.to_owned()));
                    }
                }
            }
            "tls.subject" => return move_to(e, "tls.server.subject", leaf),
            "tls.issuerdn" => return move_to(e, "tls.server.issuer", leaf),
            "tls.ja3.hash" => return move_to(e, "tls.client.ja3", leaf),
            "tls.ja3s.hash" => return move_to(e, "tls.server.ja3s", leaf),
            // Files.
            "fileinfo.filename" => return move_to(e, "file.path", leaf),
            "fileinfo.size" => return move_to(e, "file.size", leaf),
            _ => {}
        }
        put_ns(e, NS, path, leaf.into_value());
        Ok(())
    }

    fn finish(self, e: &mut Event, _ctx: &Context) -> Result<(), Error> {
        if !self.has_ts {
            return Err(field_error("timestamp", "missing"));
        }
        let f = &mut e.fields;
        f.module = Some("suricata".into());
        f.dataset = Some("suricata.eve".into());
        f.observer_vendor = Some("OISF".into());
        f.observer_product = Some("Suricata".into());
        let et = self.event_type.as_deref().unwrap_or("");
        f.kind = Some(
            match et {
                "alert" => "alert",
                "stats" => "metric",
                _ => "event",
            }
            .into(),
        );
        f.category = vec!["network".into()];
        let (types, proto): (&[&str], Option<&str>) = match et {
            "alert" => {
                f.category.push("intrusion_detection".into());
                (&[], None)
            }
            "flow" | "netflow" => (&["connection"], None),
            "http" | "http2" => {
                f.category.push("web".into());
                (&["access", "protocol"], Some("http"))
            }
            "dns" => (&["protocol"], Some("dns")),
            "tls" => (&["protocol"], Some("tls")),
            "ssh" => (&["protocol"], Some("ssh")),
            "smb" => (&["protocol"], Some("smb")),
            "ftp" | "ftp_data" => (&["protocol"], Some("ftp")),
            "mqtt" => (&["protocol"], Some("mqtt")),
            "tftp" => (&["protocol"], Some("tftp")),
            "rdp" => (&["protocol"], Some("rdp")),
            "rfb" => (&["protocol"], Some("rfb")),
            "fileinfo" => {
                f.category.push("file".into());
                (&["info"], None)
            }
            _ => (&[], None),
        };
        f.r#type = types.iter().map(|t| (*t).to_owned()).collect();
        if let Some(p) = proto {
            f.network_protocol = Some(p.into());
        }
        if let Some(app) = self.app_proto.as_deref() {
            match app {
                "ftp-data" => f.network_protocol = Some("ftp".into()),
                "failed" | "template" | "template-rust" | "" => {}
                other => f.network_protocol = Some(other.to_owned()),
            }
        }
        match self.flow_state.as_deref() {
            Some("new") => f.r#type.push("start".into()),
            Some("closed") => f.r#type.push("end".into()),
            _ => {}
        }
        if let Some(a) = self.action.as_deref() {
            let a = if a == "blocked" { "denied" } else { a };
            f.r#type.push(a.to_owned());
        }
        if let Some(s) = self.http_status {
            f.outcome = Some(if s < 400 { "success" } else { "failure" }.into());
        }
        let bytes = sum(self.src_bytes, self.dst_bytes);
        let pkts = sum(self.src_pkts, self.dst_pkts);
        if bytes.is_some_and(|b| b > 0) {
            f.network_bytes = bytes;
        }
        if pkts.is_some_and(|p| p > 0) {
            f.network_packets = pkts;
        }
        for (key, v) in [
            ("source.bytes", self.src_bytes),
            ("destination.bytes", self.dst_bytes),
            ("source.packets", self.src_pkts),
            ("destination.packets", self.dst_pkts),
        ] {
            if let Some(v) = v {
                put(e, key, Value::from(v));
            }
        }
        if let Some(t) = self.flow_start {
            put(e, "event.start", super::ts_value(t));
        }
        if let Some(t) = self.flow_end {
            put(e, "event.end", super::ts_value(t));
        }
        if let (Some(s), Some(t)) = (self.flow_start, self.flow_end) {
            if s <= t {
                put(e, "event.duration", Value::from(t.nanos() - s.nanos()));
            }
        }
        if matches!(et, "flow" | "netflow") {
            e.flow = Some(Box::new(FlowRecord {
                version: Some("suricata".into()),
                sampling_rate: Some(1),
                bytes_raw: bytes,
                packets_raw: pkts,
                start: self.flow_start,
                end: self.flow_end,
                tcp_flags: self.tcp_flags,
                ..FlowRecord::default()
            }));
        }
        if let Some(et) = self.event_type {
            put_ns(e, NS, "event_type", Value::String(et.into_owned()));
        }
        if let Some(app) = self.app_proto {
            put_ns(e, NS, "app_proto", Value::String(app.into_owned()));
        }
        Ok(())
    }
}

/// Lower case without allocating for the values Suricata writes.
fn lower(s: &str) -> Cow<'static, str> {
    const KNOWN: &[&str] = &[
        "tcp",
        "udp",
        "icmp",
        "ipv6-icmp",
        "flow",
        "alert",
        "dns",
        "http",
        "tls",
        "fileinfo",
        "anomaly",
        "stats",
        "ssh",
        "smtp",
        "failed",
        "netflow",
        "http2",
        "smb",
        "ftp",
        "krb5",
        "dhcp",
        "quic",
        "rdp",
        "snmp",
        "sip",
        "mqtt",
        "tftp",
        "ike",
        "nfs",
        "dcerpc",
        "ldap",
    ];
    for k in KNOWN {
        if s.eq_ignore_ascii_case(k) {
            return Cow::Borrowed(k);
        }
    }
    Cow::Owned(s.to_ascii_lowercase())
}

fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

fn move_to(e: &mut Event, key: &str, leaf: Leaf<'_>) -> Result<(), Error> {
    put(e, key, leaf.into_value());
    Ok(())
}

/// `TLS 1.3`, `TLSv1.2`, `TLSv12`, `SSLv3`, `DTLS 1.2` → (`tls`, `1.3`) …
pub(crate) fn tls_version(v: &str) -> Option<(&'static str, String)> {
    let v = v.trim();
    let (proto, rest) = if let Some(r) = v.strip_prefix("DTLS") {
        ("dtls", r)
    } else if let Some(r) = v.strip_prefix("TLS") {
        ("tls", r)
    } else if let Some(r) = v.strip_prefix("SSL") {
        ("ssl", r)
    } else {
        return None;
    };
    let rest = rest.trim_start_matches([' ', 'v']);
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let ver = if rest.contains('.') {
        rest.to_owned()
    } else if proto == "ssl" {
        format!("{rest}.0")
    } else {
        // Zeek writes `TLSv12`.
        let mut s = rest.to_owned();
        if s.len() >= 2 {
            s.insert(1, '.');
        } else {
            s.push_str(".0");
        }
        s
    };
    Some((proto, ver))
}

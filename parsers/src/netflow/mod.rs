//! NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) export packets into [`Flow`]s.
//!
//! # Wire formats
//! **v5**: a 24-byte header (version 5, count, sysUptime ms, unix secs/nsecs, sequence,
//! engine type/id, sampling: 2 bits mode + 14 bits interval) and `count` fixed 48-byte
//! records (addresses, next hop, interfaces, packets, octets, first/last in sysUptime ms,
//! ports, TCP flags, protocol, TOS, AS numbers, masks).
//!
//! **v9**: a 20-byte header (version 9, count, sysUptime ms, unix secs, sequence, source
//! id) then FlowSets `id(2) length(2) body`: id 0 carries templates `template id, field
//! count, (type, length)…`, id 1 options templates `template id, scope length, option
//! length, scope fields, option fields`, ids ≥ 256 data records laid out by the template
//! of that id. Times are sysUptime milliseconds (IE 22 first, 21 last).
//!
//! **IPFIX**: a 16-byte header (version 10, message length, export time s, sequence,
//! observation domain) then Sets: 2 templates, 3 options templates (with a scope field
//! count), ≥ 256 data. A field id with the top bit set is followed by a 4-byte enterprise
//! number; length 65535 means variable length, encoded before each value in one byte, or
//! 255 and two more bytes (RFC 7011 §7). A template record with no fields withdraws the
//! template (id 2 / 3: all data / options templates of the domain). Enterprise 29305
//! fields are the reverse direction of an RFC 5103 biflow; a biflow gives two [`Flow`]s.
//!
//! # State
//! Templates are cached per (exporter, source id / observation domain, template id),
//! bounded by [`Config::max_templates`] (the least recently refreshed is evicted) and
//! expired [`Config::template_timeout_secs`] after their last refresh, measured in the
//! export headers' clock (event time, so replays behave like live traffic). A template
//! received again replaces the old one. Data sets that arrive before their template are
//! held (bounded per key and in bytes, expired after [`Config::held_timeout_secs`]) and
//! decoded when it arrives — at the end of the packet that brings it, so options data
//! later in the same packet already applies.
//!
//! Sampling: v5 from the header; v9/IPFIX from options data records (sampler id — IE 48
//! or 302 — to interval — IE 34, 50, or 305 with 306 — per exporter and domain; without a
//! sampler id, the domain's default), and from the same IEs in a data record, which win.
//! The record's sampler id selects the table entry. Unknown rate: 1.
//!
//! Everything the decoder did not decode is counted in [`Stats`].

mod fields;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ncsoc_model::Timestamp;

use fields::{decode_record, target, Extras};
pub use fields::{Field, Target, REVERSE_PEN, VARLEN};

use crate::flow::{ExportVersion, Flow};

/// Limits of the decoder state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Most templates (data and options, all exporters) kept.
    pub max_templates: usize,
    /// A template not refreshed for this long (export-header time) is dropped.
    pub template_timeout_secs: u32,
    /// Most data sets held per template key while its template is unknown.
    pub max_held_sets_per_key: usize,
    /// Most bytes of held data sets, all keys together.
    pub max_held_bytes: usize,
    /// A held set whose template has not come for this long is dropped.
    pub held_timeout_secs: u32,
    /// Most sampler-id → rate entries kept.
    pub max_samplers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_templates: 65_536,
            template_timeout_secs: 3_600,
            max_held_sets_per_key: 16,
            max_held_bytes: 4 << 20,
            held_timeout_secs: 300,
            max_samplers: 65_536,
        }
    }
}

/// What the decoder did, for the collector's metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub packets: u64,
    pub flows: u64,
    pub templates_learned: u64,
    pub templates_redefined: u64,
    pub templates_withdrawn: u64,
    pub templates_expired: u64,
    pub templates_evicted: u64,
    /// Template records that cannot describe data (id below 256, no fields in v9, records
    /// of zero length).
    pub templates_invalid: u64,
    pub options_records: u64,
    /// Data sets held because their template was unknown.
    pub sets_held: u64,
    /// Held sets decoded once their template came.
    pub sets_released: u64,
    /// Held sets dropped over the per-key or byte limit.
    pub held_dropped: u64,
    /// Held sets dropped because their template never came in time.
    pub held_expired: u64,
    /// Data records cut short by the end of their set.
    pub records_truncated: u64,
    /// Packets with a malformed header or set.
    pub errors: u64,
    /// Sampler entries refused over [`Config::max_samplers`].
    pub samplers_dropped: u64,
}

/// A malformed export packet: the byte offset, the structure and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetflowError {
    pub offset: usize,
    pub field: &'static str,
    pub reason: &'static str,
}

impl fmt::Display for NetflowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "netflow {} at byte {}: {}",
            self.field, self.offset, self.reason
        )
    }
}

impl std::error::Error for NetflowError {}

fn error(offset: usize, field: &'static str, reason: &'static str) -> NetflowError {
    NetflowError {
        offset,
        field,
        reason,
    }
}

type Key = (IpAddr, u32, u16);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    fields: Vec<Field>,
    /// Smallest record: fixed lengths plus one byte per variable-length field.
    min_len: usize,
    options: bool,
    refreshed: i64,
}

/// The export header a set is decoded under.
#[derive(Debug, Clone, Copy)]
struct Header {
    version: ExportVersion,
    exporter: IpAddr,
    domain: u32,
    export_secs: u32,
    /// v9 sysUptime (ms) at export.
    uptime_ms: Option<u32>,
    sequence: u32,
}

impl Header {
    fn export_time(&self) -> Timestamp {
        Timestamp::from_secs(i64::from(self.export_secs))
    }
}

#[derive(Debug, Clone)]
struct Held {
    data: Vec<u8>,
    header: Header,
    set_offset: u32,
}

/// Sampling and time-base state learned from options data.
#[derive(Debug, Default)]
struct Sampling {
    max_samplers: usize,
    samplers: HashMap<(IpAddr, u32, u64), u32>,
    defaults: HashMap<(IpAddr, u32), u32>,
    sys_init_ms: HashMap<(IpAddr, u32), u64>,
}

/// Sampling and time-base state of one exporter domain, looked up once per data set.
struct SetState<'s> {
    sampling: &'s Sampling,
    default_rate: u32,
    sys_init_ms: Option<u64>,
    /// The last sampler id looked up and its rate (records of a set share a few ids).
    last_sampler: Option<(u64, u32)>,
}

impl<'s> SetState<'s> {
    fn new(sampling: &'s Sampling, h: &Header) -> Self {
        let key = (h.exporter, h.domain);
        Self {
            sampling,
            default_rate: sampling.defaults.get(&key).copied().unwrap_or(1),
            sys_init_ms: sampling.sys_init_ms.get(&key).copied(),
            last_sampler: None,
        }
    }

    fn rate(&mut self, h: &Header, flow: &Flow, x: &Extras<'_>) -> u32 {
        if let Some(r) = x.sampling_rate() {
            return r;
        }
        let Some(id) = flow.sampler_id else {
            return self.default_rate;
        };
        if let Some((last, rate)) = self.last_sampler {
            if last == id {
                return rate;
            }
        }
        let rate = self
            .sampling
            .samplers
            .get(&(h.exporter, h.domain, id))
            .copied()
            .unwrap_or(self.default_rate);
        self.last_sampler = Some((id, rate));
        rate
    }
}

/// NetFlow v5/v9/IPFIX decoder with its template, sampling and held-set state.
#[derive(Debug)]
pub struct NetflowDecoder {
    config: Config,
    stats: Stats,
    templates: HashMap<Key, Template>,
    sampling: Sampling,
    held: HashMap<Key, VecDeque<Held>>,
    held_bytes: usize,
    /// Keys whose template arrived in the packet being decoded.
    ready: Vec<Key>,
    last_sweep: i64,
}

impl Default for NetflowDecoder {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl NetflowDecoder {
    pub fn new(config: Config) -> Self {
        Self {
            sampling: Sampling {
                max_samplers: config.max_samplers,
                ..Sampling::default()
            },
            config,
            stats: Stats::default(),
            templates: HashMap::new(),
            held: HashMap::new(),
            held_bytes: 0,
            ready: Vec::new(),
            last_sweep: 0,
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of templates cached now.
    pub fn template_count(&self) -> usize {
        self.templates.len()
    }

    /// Number of data sets held for a template now.
    pub fn held_count(&self) -> usize {
        self.held.values().map(VecDeque::len).sum()
    }

    /// The sampling rate learned for a sampler id (or, with `None`, the domain default).
    pub fn sampling_rate(
        &self,
        exporter: IpAddr,
        domain: u32,
        sampler: Option<u64>,
    ) -> Option<u32> {
        match sampler {
            Some(id) => self.sampling.samplers.get(&(exporter, domain, id)).copied(),
            None => self.sampling.defaults.get(&(exporter, domain)).copied(),
        }
    }

    /// Decodes one NetFlow v5/v9 or IPFIX packet from `exporter`, appending its flows to
    /// `out` (flows decoded before an error stay there).
    pub fn decode(
        &mut self,
        exporter: IpAddr,
        p: &[u8],
        out: &mut Vec<Flow>,
    ) -> Result<ExportVersion, NetflowError> {
        self.stats.packets += 1;
        let before = out.len();
        let version = p.get(0..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        let r = match version {
            5 => self
                .decode_v5(exporter, p, out)
                .map(|()| ExportVersion::Netflow5),
            9 => self
                .decode_sets(exporter, p, out, false)
                .map(|()| ExportVersion::Netflow9),
            10 => self
                .decode_sets(exporter, p, out, true)
                .map(|()| ExportVersion::Ipfix),
            _ => Err(error(0, "header", "version is not 5, 9 or 10")),
        };
        if r.is_err() {
            self.stats.errors += 1;
        }
        self.stats.flows += (out.len() - before) as u64;
        r
    }

    fn decode_v5(
        &mut self,
        exporter: IpAddr,
        p: &[u8],
        out: &mut Vec<Flow>,
    ) -> Result<(), NetflowError> {
        if p.len() < 24 {
            return Err(error(0, "v5 header", "truncated"));
        }
        let u16at = |at: usize| u16::from_be_bytes([p[at], p[at + 1]]);
        let u32at = |at: usize| u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]);
        let count = usize::from(u16at(2));
        let uptime = u32at(4);
        let secs = u32at(8);
        let nsecs = u32at(12).min(999_999_999);
        let sequence = u32at(16);
        let domain = u32::from(u16at(20));
        let sampling = u16at(22) & 0x3FFF;
        let rate = u32::from(sampling.max(1));
        let export_ns = i64::from(secs) * 1_000_000_000 + i64::from(nsecs);
        let export_time = Timestamp(export_ns);
        let uptime_time = |t: u32| {
            let delta = uptime.wrapping_sub(t) as i32;
            Timestamp(export_ns - i64::from(delta) * 1_000_000)
        };
        for i in 0..count {
            let at = 24 + i * 48;
            let Some(r) = p.get(at..at + 48) else {
                return Err(error(
                    at,
                    "v5 record",
                    "truncated: fewer records than the header count",
                ));
            };
            let r16 = |o: usize| u16::from_be_bytes([r[o], r[o + 1]]);
            let r32 = |o: usize| u32::from_be_bytes([r[o], r[o + 1], r[o + 2], r[o + 3]]);
            let mut f = Flow::new(ExportVersion::Netflow5, exporter, domain, export_time);
            f.sequence = sequence;
            f.record = i as u64;
            f.sampling_rate = rate;
            f.src = Some(IpAddr::V4(Ipv4Addr::new(r[0], r[1], r[2], r[3])));
            f.dst = Some(IpAddr::V4(Ipv4Addr::new(r[4], r[5], r[6], r[7])));
            f.next_hop = Some(IpAddr::V4(Ipv4Addr::new(r[8], r[9], r[10], r[11])));
            f.in_if = Some(u32::from(r16(12)));
            f.out_if = Some(u32::from(r16(14)));
            f.packets = u64::from(r32(16));
            f.bytes = u64::from(r32(20));
            f.start = Some(uptime_time(r32(24)));
            f.end = Some(uptime_time(r32(28)));
            f.src_port = Some(r16(32));
            f.dst_port = Some(r16(34));
            f.tcp_flags = Some(r[37]);
            f.protocol = Some(r[38]);
            f.tos = Some(r[39]);
            f.src_as = Some(u32::from(r16(40)));
            f.dst_as = Some(u32::from(r16(42)));
            f.src_mask = Some(r[44]);
            f.dst_mask = Some(r[45]);
            out.push(f);
        }
        Ok(())
    }

    fn decode_sets(
        &mut self,
        exporter: IpAddr,
        p: &[u8],
        out: &mut Vec<Flow>,
        ipfix: bool,
    ) -> Result<(), NetflowError> {
        let (header, mut at, end) = if ipfix {
            if p.len() < 16 {
                return Err(error(0, "ipfix header", "truncated"));
            }
            let len = usize::from(u16::from_be_bytes([p[2], p[3]]));
            if len < 16 {
                return Err(error(2, "ipfix message length", "below the 16-byte header"));
            }
            if len > p.len() {
                return Err(error(
                    2,
                    "ipfix message length",
                    "beyond the end of the datagram",
                ));
            }
            let h = Header {
                version: ExportVersion::Ipfix,
                exporter,
                export_secs: be32(p, 4),
                uptime_ms: None,
                sequence: be32(p, 8),
                domain: be32(p, 12),
            };
            (h, 16, len)
        } else {
            if p.len() < 20 {
                return Err(error(0, "v9 header", "truncated"));
            }
            let h = Header {
                version: ExportVersion::Netflow9,
                exporter,
                uptime_ms: Some(be32(p, 4)),
                export_secs: be32(p, 8),
                sequence: be32(p, 12),
                domain: be32(p, 16),
            };
            (h, 20, p.len())
        };
        let now = i64::from(header.export_secs);
        if now - self.last_sweep >= i64::from(self.config.held_timeout_secs)
            || now < self.last_sweep
        {
            self.expire(header.export_secs);
        }
        let mut result = Ok(());
        while end - at >= 4 {
            let set_id = u16::from_be_bytes([p[at], p[at + 1]]);
            let set_len = usize::from(u16::from_be_bytes([p[at + 2], p[at + 3]]));
            if set_len < 4 {
                result = Err(error(at + 2, "set length", "below the 4-byte set header"));
                break;
            }
            let Some(body) = p.get(at + 4..at + set_len).filter(|_| at + set_len <= end) else {
                result = Err(error(at + 2, "set length", "beyond the end of the packet"));
                break;
            };
            let r = match (ipfix, set_id) {
                (false, 0) | (true, 2) => self.template_set(&header, body, at + 4, false, ipfix),
                (false, 1) | (true, 3) => self.template_set(&header, body, at + 4, true, ipfix),
                (_, 256..) => {
                    self.data_set(&header, set_id, body, at as u32, out);
                    Ok(())
                }
                // Reserved set ids: skipped.
                _ => Ok(()),
            };
            if let Err(e) = r {
                result = Err(e);
                break;
            }
            at += set_len;
        }
        self.release_ready(out);
        result
    }

    fn template_set(
        &mut self,
        h: &Header,
        body: &[u8],
        base: usize,
        options: bool,
        ipfix: bool,
    ) -> Result<(), NetflowError> {
        let mut at = 0;
        let min_record = if options && !ipfix { 6 } else { 4 };
        while body.len() - at >= min_record {
            let id = u16::from_be_bytes([body[at], body[at + 1]]);
            let n1 = u16::from_be_bytes([body[at + 2], body[at + 3]]);
            // (total fields, scope fields, bytes of the record header)
            let (count, scope, hdr) = match (options, ipfix) {
                (false, _) => (usize::from(n1), 0, 4),
                (true, true) => {
                    if usize::from(n1) == 0 {
                        (0, 0, 4)
                    } else {
                        let Some(s) = body.get(at + 4..at + 6) else {
                            return Err(error(base + at, "options template", "truncated"));
                        };
                        (
                            usize::from(n1),
                            usize::from(u16::from_be_bytes([s[0], s[1]])),
                            6,
                        )
                    }
                }
                (true, false) => {
                    let o = u16::from_be_bytes([body[at + 4], body[at + 5]]);
                    if !n1.is_multiple_of(4) || !o.is_multiple_of(4) {
                        return Err(error(
                            base + at + 2,
                            "options template",
                            "scope or option length not a multiple of 4",
                        ));
                    }
                    (usize::from(n1 / 4 + o / 4), usize::from(n1 / 4), 6)
                }
            };
            let rec_at = at;
            at += hdr;
            if count == 0 {
                if ipfix {
                    self.withdraw(h, id, options);
                } else {
                    self.stats.templates_invalid += 1;
                }
                continue;
            }
            if ipfix && options && (scope == 0 || scope > count) {
                return Err(error(
                    base + rec_at + 4,
                    "options template",
                    "scope field count is 0 or above the field count",
                ));
            }
            let mut fields = Vec::with_capacity(count.min(body.len() / 4));
            let mut min_len = 0usize;
            for i in 0..count {
                let (Some(ie), Some(len)) = (be16o(body, at), be16o(body, at + 2)) else {
                    return Err(error(
                        base + at,
                        "template field",
                        "truncated: field count beyond the set",
                    ));
                };
                at += 4;
                let mut enterprise = 0;
                if ipfix && ie & 0x8000 != 0 {
                    let Some(pen) = body.get(at..at + 4) else {
                        return Err(error(base + at, "template enterprise number", "truncated"));
                    };
                    enterprise = u32::from_be_bytes([pen[0], pen[1], pen[2], pen[3]]);
                    at += 4;
                }
                let ie = if ipfix { ie & 0x7FFF } else { ie };
                let v9_scope = options && !ipfix && i < scope;
                min_len += if len == VARLEN { 1 } else { usize::from(len) };
                fields.push(Field {
                    ie,
                    enterprise,
                    len,
                    target: target(ie, enterprise, v9_scope),
                });
            }
            if !ipfix && options {
                // v9 options templates may be padded to 4 bytes after each record.
                while at < body.len() && body.len() - at < min_record && body[at] == 0 {
                    at += 1;
                }
            }
            if id < 256 || min_len == 0 {
                self.stats.templates_invalid += 1;
                continue;
            }
            self.learn(
                h,
                id,
                Template {
                    fields,
                    min_len,
                    options,
                    refreshed: i64::from(h.export_secs),
                },
            );
        }
        Ok(())
    }

    fn learn(&mut self, h: &Header, id: u16, t: Template) {
        let key = (h.exporter, h.domain, id);
        match self.templates.get_mut(&key) {
            Some(old) => {
                if old.fields != t.fields || old.options != t.options {
                    self.stats.templates_redefined += 1;
                }
                *old = t;
            }
            None => {
                if self.templates.len() >= self.config.max_templates {
                    let oldest = self
                        .templates
                        .iter()
                        .min_by_key(|(_, t)| t.refreshed)
                        .map(|(k, _)| *k);
                    if let Some(k) = oldest {
                        self.templates.remove(&k);
                        self.stats.templates_evicted += 1;
                    }
                }
                if self.config.max_templates == 0 {
                    return;
                }
                self.templates.insert(key, t);
                self.stats.templates_learned += 1;
            }
        }
        if self.held.contains_key(&key) && !self.ready.contains(&key) {
            self.ready.push(key);
        }
    }

    fn withdraw(&mut self, h: &Header, id: u16, options: bool) {
        let before = self.templates.len();
        if (id == 2 && !options) || (id == 3 && options) {
            self.templates
                .retain(|k, t| !(k.0 == h.exporter && k.1 == h.domain && t.options == options));
        } else {
            self.templates.remove(&(h.exporter, h.domain, id));
        }
        self.stats.templates_withdrawn += (before - self.templates.len()) as u64;
    }

    fn data_set(&mut self, h: &Header, id: u16, body: &[u8], set_offset: u32, out: &mut Vec<Flow>) {
        let key = (h.exporter, h.domain, id);
        let timeout = i64::from(self.config.template_timeout_secs);
        let expired = match self.templates.get(&key) {
            None => {
                self.hold(key, h, body, set_offset);
                return;
            }
            Some(t) => i64::from(h.export_secs) - t.refreshed > timeout,
        };
        if expired {
            self.templates.remove(&key);
            self.stats.templates_expired += 1;
            self.hold(key, h, body, set_offset);
            return;
        }
        let Self {
            templates,
            sampling,
            stats,
            ..
        } = self;
        if let Some(t) = templates.get(&key) {
            decode_data(t, h, body, set_offset, sampling, stats, out);
        }
    }

    fn hold(&mut self, key: Key, h: &Header, body: &[u8], set_offset: u32) {
        if self.held_bytes + body.len() > self.config.max_held_bytes
            || self.config.max_held_sets_per_key == 0
            || (!self.held.contains_key(&key) && self.held.len() >= self.config.max_templates)
        {
            self.stats.held_dropped += 1;
            return;
        }
        let q = self.held.entry(key).or_default();
        if q.len() >= self.config.max_held_sets_per_key {
            if let Some(old) = q.pop_front() {
                self.held_bytes -= old.data.len();
                self.stats.held_dropped += 1;
            }
        }
        q.push_back(Held {
            data: body.to_vec(),
            header: *h,
            set_offset,
        });
        self.held_bytes += body.len();
        self.stats.sets_held += 1;
    }

    fn release_ready(&mut self, out: &mut Vec<Flow>) {
        while let Some(key) = self.ready.pop() {
            let Some(q) = self.held.remove(&key) else {
                continue;
            };
            for held in q {
                self.held_bytes -= held.data.len();
                let Some(t) = self.templates.get(&key) else {
                    self.stats.held_dropped += 1;
                    continue;
                };
                let age = t.refreshed - i64::from(held.header.export_secs);
                if age > i64::from(self.config.held_timeout_secs) {
                    self.stats.held_expired += 1;
                    continue;
                }
                self.stats.sets_released += 1;
                decode_data(
                    t,
                    &held.header,
                    &held.data,
                    held.set_offset,
                    &mut self.sampling,
                    &mut self.stats,
                    out,
                );
            }
        }
    }

    /// Drops templates and held sets too old at `now_secs` (export-header time). Called on
    /// its own as export time advances; the collector may call it on a timer too.
    pub fn expire(&mut self, now_secs: u32) {
        let now = i64::from(now_secs);
        self.last_sweep = now;
        let t_timeout = i64::from(self.config.template_timeout_secs);
        let before = self.templates.len();
        self.templates.retain(|_, t| now - t.refreshed <= t_timeout);
        self.stats.templates_expired += (before - self.templates.len()) as u64;
        let h_timeout = i64::from(self.config.held_timeout_secs);
        let mut freed = 0;
        let mut expired = 0;
        self.held.retain(|_, q| {
            q.retain(|held| {
                let keep = now - i64::from(held.header.export_secs) <= h_timeout;
                if !keep {
                    freed += held.data.len();
                    expired += 1;
                }
                keep
            });
            !q.is_empty()
        });
        self.held_bytes -= freed;
        self.stats.held_expired += expired;
    }
}

fn be32(p: &[u8], at: usize) -> u32 {
    p.get(at..at + 4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be16o(p: &[u8], at: usize) -> Option<u16> {
    p.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

/// Decodes the records of one data set with its template.
fn decode_data(
    t: &Template,
    h: &Header,
    body: &[u8],
    set_offset: u32,
    sampling: &mut Sampling,
    stats: &mut Stats,
    out: &mut Vec<Flow>,
) {
    let mut at = 0usize;
    let mut n: u64 = 0;
    let mut proto = Flow::new(h.version, h.exporter, h.domain, h.export_time());
    proto.sequence = h.sequence;
    if t.options {
        while body.len() - at >= t.min_len {
            let mut flow = proto;
            let mut x = Extras::default();
            let Some(used) = decode_record(&t.fields, &body[at..], &mut flow, &mut x) else {
                break;
            };
            at += used;
            options_record(h, &flow, &x, sampling, stats);
        }
        return;
    }
    let mut state = SetState::new(sampling, h);
    while body.len() - at >= t.min_len {
        let rest = &body[at..];
        if rest.len() < 4 && rest.iter().all(|&b| b == 0) {
            break;
        }
        // Decoded in place at the end of `out`, saving a copy of the flow per record.
        out.push(proto);
        let Some(flow) = out.last_mut() else {
            break;
        };
        let mut x = Extras::default();
        let Some(used) = decode_record(&t.fields, rest, flow, &mut x) else {
            out.pop();
            break;
        };
        at += used;
        flow.record = (u64::from(set_offset) << 32) | n;
        n += 1;
        finish(h, flow, &x, &mut state);
        if x.rev_bytes.unwrap_or(0) > 0 || x.rev_packets.unwrap_or(0) > 0 {
            let r = reverse(flow, &x);
            out.push(r);
        }
    }
    // What is left is padding (zeros, shorter than a record) or a record cut short.
    if body
        .get(at..)
        .is_some_and(|rest| rest.iter().any(|&b| b != 0))
    {
        stats.records_truncated += 1;
    }
}

fn options_record(
    h: &Header,
    flow: &Flow,
    x: &Extras<'_>,
    sampling: &mut Sampling,
    stats: &mut Stats,
) {
    stats.options_records += 1;
    if let Some(rate) = x.sampling_rate() {
        match flow.sampler_id {
            Some(id) => {
                let key = (h.exporter, h.domain, id);
                if sampling.samplers.len() < sampling.max_samplers
                    || sampling.samplers.contains_key(&key)
                {
                    sampling.samplers.insert(key, rate);
                } else {
                    stats.samplers_dropped += 1;
                }
            }
            None => {
                sampling.defaults.insert((h.exporter, h.domain), rate);
            }
        }
    }
    if let Some(init) = x.sys_init_ms {
        sampling.sys_init_ms.insert((h.exporter, h.domain), init);
    }
}

/// Applies fallbacks, time bases, the embedded frame and the sampling rate.
fn finish(h: &Header, flow: &mut Flow, x: &Extras<'_>, state: &mut SetState<'_>) {
    if !x.has_bytes {
        if let Some(b) = x.bytes_alt {
            flow.bytes = b;
        }
    }
    if !x.has_packets {
        if let Some(p) = x.packets_alt {
            flow.packets = p;
        }
    }
    flow.in_if = flow.in_if.or(x.in_if_alt);
    flow.out_if = flow.out_if.or(x.out_if_alt);
    let export_ms = i64::from(h.export_secs) * 1000;
    match h.uptime_ms {
        Some(up) => {
            let at =
                |t: u32| Timestamp::from_millis(export_ms - i64::from(up.wrapping_sub(t) as i32));
            if let Some(t) = x.first_uptime {
                flow.start = Some(at(t));
            }
            if let Some(t) = x.last_uptime {
                flow.end = Some(at(t));
            }
        }
        None => {
            let init = x.sys_init_ms.or(state.sys_init_ms);
            if let Some(init) = init.map(|i| i.min(1 << 50) as i64) {
                if let Some(t) = x.first_uptime {
                    flow.start = flow
                        .start
                        .or(Some(Timestamp::from_millis(init + i64::from(t))));
                }
                if let Some(t) = x.last_uptime {
                    flow.end = flow
                        .end
                        .or(Some(Timestamp::from_millis(init + i64::from(t))));
                }
            }
        }
    }
    let export_ns = export_ms * 1_000_000;
    if let Some(d) = x.start_delta_us {
        flow.start = flow
            .start
            .or(Some(Timestamp(export_ns - i64::from(d) * 1000)));
    }
    if let Some(d) = x.end_delta_us {
        flow.end = flow
            .end
            .or(Some(Timestamp(export_ns - i64::from(d) * 1000)));
    }
    if let Some(frame) = x.frame {
        if let Ok(p) = crate::packet::decode_ethernet(frame) {
            flow.fill_from_packet(&p);
        }
        if !x.has_bytes && x.bytes_alt.is_none() {
            flow.bytes = x.frame_size.unwrap_or(frame.len() as u64);
        }
        if !x.has_packets && x.packets_alt.is_none() {
            flow.packets = 1;
        }
    }
    flow.sampling_rate = state.rate(h, flow, x);
}

/// The reverse direction of a biflow record.
fn reverse(f: &Flow, x: &Extras<'_>) -> Flow {
    let mut r = *f;
    r.reverse = true;
    r.record |= 1 << 63;
    r.src = f.dst;
    r.dst = f.src;
    r.src_port = f.dst_port;
    r.dst_port = f.src_port;
    r.src_mac = f.dst_mac;
    r.dst_mac = f.src_mac;
    r.src_as = f.dst_as;
    r.dst_as = f.src_as;
    r.src_mask = f.dst_mask;
    r.dst_mask = f.src_mask;
    r.in_if = f.out_if;
    r.out_if = f.in_if;
    r.nat_src = f.nat_dst;
    r.nat_dst = f.nat_src;
    r.nat_src_port = f.nat_dst_port;
    r.nat_dst_port = f.nat_src_port;
    r.bytes = x.rev_bytes.unwrap_or(0);
    r.packets = x.rev_packets.unwrap_or(0);
    r.tcp_flags = x.rev_flags;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECS: u32 = 1_700_000_000;

    fn exporter() -> IpAddr {
        "192.0.2.1".parse().unwrap()
    }

    fn sets(sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut b = Vec::new();
        for (id, body) in sets {
            b.extend_from_slice(&id.to_be_bytes());
            b.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
            b.extend_from_slice(body);
        }
        b
    }

    fn v9(secs: u32, body: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut p = vec![0, 9, 0, body.len() as u8];
        p.extend_from_slice(&100_000u32.to_be_bytes());
        p.extend_from_slice(&secs.to_be_bytes());
        p.extend_from_slice(&7u32.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        p.extend(sets(body));
        p
    }

    fn ipfix(secs: u32, body: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let s = sets(body);
        let mut p = vec![0, 10];
        p.extend_from_slice(&((16 + s.len()) as u16).to_be_bytes());
        p.extend_from_slice(&secs.to_be_bytes());
        p.extend_from_slice(&1u32.to_be_bytes());
        p.extend_from_slice(&5u32.to_be_bytes());
        p.extend(s);
        p
    }

    /// A template record: (ie, len, enterprise).
    fn tmpl(id: u16, fields: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut b = id.to_be_bytes().to_vec();
        b.extend_from_slice(&(fields.len() as u16).to_be_bytes());
        for &(ie, len, pen) in fields {
            if pen != 0 {
                b.extend_from_slice(&(ie | 0x8000).to_be_bytes());
                b.extend_from_slice(&len.to_be_bytes());
                b.extend_from_slice(&pen.to_be_bytes());
            } else {
                b.extend_from_slice(&ie.to_be_bytes());
                b.extend_from_slice(&len.to_be_bytes());
            }
        }
        b
    }

    const BASIC: &[(u16, u16, u32)] = &[
        (8, 4, 0),
        (12, 4, 0),
        (7, 2, 0),
        (11, 2, 0),
        (4, 1, 0),
        (1, 4, 0),
        (2, 4, 0),
    ];

    fn basic_record(last: u8, bytes: u32) -> Vec<u8> {
        let mut r = vec![10, 0, 0, 1, 10, 0, 0, last, 0x04, 0xD2, 0x01, 0xBB, 6];
        r.extend_from_slice(&bytes.to_be_bytes());
        r.extend_from_slice(&2u32.to_be_bytes());
        r
    }

    fn decode(
        d: &mut NetflowDecoder,
        p: &[u8],
    ) -> (Vec<Flow>, Result<ExportVersion, NetflowError>) {
        let mut out = Vec::new();
        let r = d.decode(exporter(), p, &mut out);
        (out, r)
    }

    /// Decodes a packet that must be well-formed.
    fn feed(d: &mut NetflowDecoder, p: &[u8]) -> Vec<Flow> {
        let (flows, r) = decode(d, p);
        assert!(r.is_ok(), "{r:?}");
        flows
    }

    #[test]
    fn v9_template_then_data_with_padding() {
        let mut d = NetflowDecoder::default();
        let mut data = basic_record(2, 1000);
        data.extend(basic_record(3, 2000));
        data.extend_from_slice(&[0, 0, 0]);
        let (flows, r) = decode(&mut d, &v9(SECS, &[(0, tmpl(256, BASIC)), (256, data)]));
        assert_eq!(r, Ok(ExportVersion::Netflow9));
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[1].dst, Some("10.0.0.3".parse().unwrap()));
        assert_eq!(
            (flows[1].src_port, flows[1].dst_port),
            (Some(1234), Some(443))
        );
        assert_eq!((flows[1].bytes, flows[1].packets), (2000, 2));
        assert_eq!(flows[0].protocol, Some(6));
        assert_ne!(flows[0].record, flows[1].record);
        assert_eq!(d.stats().records_truncated, 0);
    }

    #[test]
    fn truncated_sets_and_headers_are_errors_with_offsets() {
        let mut d = NetflowDecoder::default();
        let mut p = v9(SECS, &[(0, tmpl(256, BASIC))]);
        // Claim a longer set than the packet holds.
        p[22] = 0;
        p[23] = 200;
        let (_, r) = decode(&mut d, &p);
        let e = r.unwrap_err();
        assert_eq!((e.offset, e.field), (22, "set length"));
        // Set length below its own header.
        let mut p = v9(SECS, &[(0, tmpl(256, BASIC))]);
        p[23] = 2;
        assert_eq!(
            decode(&mut d, &p).1.unwrap_err().reason,
            "below the 4-byte set header"
        );
        // Short headers.
        assert!(decode(&mut d, &[0, 9, 0]).1.is_err());
        assert!(decode(&mut d, &[0, 10, 0, 16, 0, 0]).1.is_err());
        assert!(decode(&mut d, &[0, 7, 0, 0]).1.is_err());
        // IPFIX length beyond the datagram.
        let mut p = ipfix(SECS, &[]);
        p[3] = 200;
        assert_eq!(
            decode(&mut d, &p).1.unwrap_err().field,
            "ipfix message length"
        );
        // A template whose field count runs past the set ("huge field count").
        let mut t = tmpl(256, BASIC);
        t[2] = 0xFF;
        t[3] = 0xFF;
        let e = decode(&mut d, &v9(SECS, &[(0, t)])).1.unwrap_err();
        assert_eq!(e.field, "template field");
        assert!(d.stats().errors >= 5);
        // A data record cut by the end of its set.
        let mut d = NetflowDecoder::default();
        let mut data = basic_record(2, 1);
        data.extend_from_slice(&[10, 0, 0, 1, 10]);
        let (flows, r) = decode(&mut d, &v9(SECS, &[(0, tmpl(256, BASIC)), (256, data)]));
        assert!(r.is_ok());
        assert_eq!(flows.len(), 1);
        assert_eq!(d.stats().records_truncated, 1);
    }

    #[test]
    fn zero_field_and_zero_length_templates() {
        let mut d = NetflowDecoder::default();
        // v9 template with 0 fields: invalid, skipped; the next template in the set is read.
        let mut t = tmpl(300, &[]);
        t.extend(tmpl(256, BASIC));
        let (_, r) = decode(&mut d, &v9(SECS, &[(0, t)]));
        assert!(r.is_ok());
        assert_eq!(d.stats().templates_invalid, 1);
        assert_eq!(d.template_count(), 1);
        // Only zero-length fields: records of no bytes cannot be decoded, refused.
        let (_, r) = decode(
            &mut d,
            &v9(SECS, &[(0, tmpl(301, &[(1, 0, 0), (2, 0, 0)]))]),
        );
        assert!(r.is_ok());
        assert_eq!(d.stats().templates_invalid, 2);
        // A zero-length field among others is fine and reads as nothing.
        let mut fields = BASIC.to_vec();
        fields.insert(0, (10, 0, 0));
        let (flows, _) = decode(
            &mut d,
            &v9(SECS, &[(0, tmpl(302, &fields)), (302, basic_record(9, 5))]),
        );
        assert_eq!(flows.len(), 1);
        assert_eq!(flows[0].in_if, None);
        // Template ids below 256 cannot describe data.
        feed(&mut d, &v9(SECS, &[(0, tmpl(255, BASIC))]));
        assert_eq!(d.stats().templates_invalid, 3);
    }

    #[test]
    fn ipfix_variable_length_enterprise_and_biflow() {
        let mut d = NetflowDecoder::default();
        let fields = [
            (8, 4, 0),
            (12, 4, 0),
            (1, 8, 0),
            (2, 8, 0),
            (1, 8, REVERSE_PEN),
            (2, 8, REVERSE_PEN),
            (82, VARLEN, 0),
            (100, 4, 9),
            (83, VARLEN, 0),
            (154, 8, 0),
        ];
        let mut rec = vec![192, 0, 2, 10, 198, 51, 100, 20];
        rec.extend_from_slice(&500u64.to_be_bytes());
        rec.extend_from_slice(&5u64.to_be_bytes());
        rec.extend_from_slice(&700u64.to_be_bytes());
        rec.extend_from_slice(&7u64.to_be_bytes());
        // interfaceName: short form; a vendor field; interfaceDescription: 255 escape.
        rec.extend_from_slice(&[3, b'e', b't', b'h']);
        rec.extend_from_slice(&[0, 0, 0, 1]);
        rec.push(255);
        rec.extend_from_slice(&300u16.to_be_bytes());
        rec.extend(std::iter::repeat_n(b'd', 300));
        // flowStartMicroseconds: NTP time of 2023-11-14T22:13:20.5Z.
        let ntp_secs = u64::from(SECS) + 2_208_988_800;
        rec.extend_from_slice(&((ntp_secs << 32) | (1 << 31)).to_be_bytes());
        let (flows, r) = decode(&mut d, &ipfix(SECS, &[(2, tmpl(400, &fields)), (400, rec)]));
        assert_eq!(r, Ok(ExportVersion::Ipfix));
        assert_eq!(flows.len(), 2, "forward and reverse");
        let (f, b) = (&flows[0], &flows[1]);
        assert_eq!((f.bytes, f.packets), (500, 5));
        assert_eq!((b.bytes, b.packets), (700, 7));
        assert!(b.reverse && !f.reverse);
        assert_eq!(b.src, f.dst);
        assert_eq!(
            f.start,
            Some(Timestamp(i64::from(SECS) * 1_000_000_000 + 500_000_000))
        );
        assert_eq!(f.domain, 5);
        assert_ne!(f.record, b.record);
    }

    #[test]
    fn ipfix_withdrawal_and_redefinition() {
        let mut d = NetflowDecoder::default();
        feed(
            &mut d,
            &ipfix(SECS, &[(2, tmpl(400, BASIC)), (2, tmpl(401, BASIC))]),
        );
        assert_eq!(d.template_count(), 2);
        // Redefine 400 with the ports swapped.
        let mut swapped = BASIC.to_vec();
        swapped.swap(2, 3);
        feed(&mut d, &ipfix(SECS, &[(2, tmpl(400, &swapped))]));
        assert_eq!(d.stats().templates_redefined, 1);
        let (flows, _) = decode(&mut d, &ipfix(SECS, &[(400, basic_record(2, 1))]));
        assert_eq!(
            (flows[0].src_port, flows[0].dst_port),
            (Some(443), Some(1234))
        );
        // Withdraw 400: its data is now held, not decoded.
        feed(
            &mut d,
            &ipfix(
                SECS,
                &[(
                    2,
                    400u16.to_be_bytes().iter().copied().chain([0, 0]).collect(),
                )],
            ),
        );
        assert_eq!(d.template_count(), 1);
        let (flows, _) = decode(&mut d, &ipfix(SECS, &[(400, basic_record(2, 1))]));
        assert!(flows.is_empty());
        assert_eq!(d.held_count(), 1);
        // Withdraw all data templates of the domain (template id 2).
        feed(&mut d, &ipfix(SECS, &[(2, vec![0, 2, 0, 0])]));
        assert_eq!(d.template_count(), 0);
        assert_eq!(d.stats().templates_withdrawn, 2);
    }

    #[test]
    fn held_sets_are_bounded_released_and_expired() {
        let mut d = NetflowDecoder::new(Config {
            max_held_sets_per_key: 2,
            held_timeout_secs: 10,
            ..Config::default()
        });
        for i in 0..3 {
            feed(&mut d, &v9(SECS, &[(256, basic_record(i, 1))]));
        }
        assert_eq!(d.held_count(), 2);
        assert_eq!(d.stats().held_dropped, 1);
        // The template comes in a later packet: the two held sets decode, oldest first.
        let (flows, _) = decode(&mut d, &v9(SECS + 1, &[(0, tmpl(256, BASIC))]));
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].dst, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(d.stats().sets_released, 2);
        assert_eq!(d.held_count(), 0);
        // A held set whose template does not come in time expires.
        feed(&mut d, &v9(SECS, &[(257, basic_record(1, 1))]));
        assert_eq!(d.held_count(), 1);
        feed(&mut d, &v9(SECS + 20, &[]));
        assert_eq!(d.held_count(), 0);
        assert_eq!(d.stats().held_expired, 1);
        // The byte bound.
        let mut d = NetflowDecoder::new(Config {
            max_held_bytes: 10,
            ..Config::default()
        });
        feed(&mut d, &v9(SECS, &[(256, basic_record(1, 1))]));
        assert_eq!(d.held_count(), 0);
        assert_eq!(d.stats().held_dropped, 1);
    }

    #[test]
    fn templates_expire_and_are_evicted() {
        let mut d = NetflowDecoder::new(Config {
            max_templates: 2,
            template_timeout_secs: 100,
            ..Config::default()
        });
        feed(&mut d, &v9(SECS, &[(0, tmpl(256, BASIC))]));
        feed(&mut d, &v9(SECS + 1, &[(0, tmpl(257, BASIC))]));
        feed(&mut d, &v9(SECS + 2, &[(0, tmpl(258, BASIC))]));
        assert_eq!(d.template_count(), 2);
        assert_eq!(d.stats().templates_evicted, 1);
        let (flows, _) = decode(&mut d, &v9(SECS + 3, &[(256, basic_record(1, 1))]));
        assert!(flows.is_empty(), "256 was the oldest and was evicted");
        let (flows, _) = decode(&mut d, &v9(SECS + 50, &[(258, basic_record(1, 1))]));
        assert_eq!(flows.len(), 1);
        // 200 s later in export time, 258 is stale.
        let (flows, _) = decode(&mut d, &v9(SECS + 250, &[(258, basic_record(1, 1))]));
        assert!(flows.is_empty());
        assert!(d.stats().templates_expired >= 1);
    }

    #[test]
    fn sampling_from_options_record_and_header() {
        let mut d = NetflowDecoder::default();
        // IPFIX options template: scope selectorId (302); samplingPacketInterval 1,
        // samplingPacketSpace 99 → 1 in 100.
        let mut ot = 500u16.to_be_bytes().to_vec();
        ot.extend_from_slice(&[0, 3, 0, 1]);
        for (ie, len) in [(302u16, 4u16), (305, 4), (306, 4)] {
            ot.extend_from_slice(&ie.to_be_bytes());
            ot.extend_from_slice(&len.to_be_bytes());
        }
        let mut od = 9u32.to_be_bytes().to_vec();
        od.extend_from_slice(&1u32.to_be_bytes());
        od.extend_from_slice(&99u32.to_be_bytes());
        let mut fields = BASIC.to_vec();
        fields.push((302, 4, 0));
        let mut rec = basic_record(2, 10);
        rec.extend_from_slice(&9u32.to_be_bytes());
        let mut rec_other = basic_record(3, 10);
        rec_other.extend_from_slice(&8u32.to_be_bytes());
        rec.extend(rec_other);
        let (flows, _) = decode(
            &mut d,
            &ipfix(
                SECS,
                &[(3, ot), (500, od), (2, tmpl(400, &fields)), (400, rec)],
            ),
        );
        assert_eq!(d.sampling_rate(exporter(), 5, Some(9)), Some(100));
        assert_eq!(flows[0].sampling_rate, 100);
        assert_eq!(flows[0].scaled_bytes(), 1000);
        assert_eq!(flows[1].sampling_rate, 1, "unknown sampler 8");
        // A rate in the data record itself wins.
        let mut fields = BASIC.to_vec();
        fields.push((34, 4, 0));
        let mut rec = basic_record(2, 10);
        rec.extend_from_slice(&512u32.to_be_bytes());
        let (flows, _) = decode(&mut d, &ipfix(SECS, &[(2, tmpl(401, &fields)), (401, rec)]));
        assert_eq!(flows[0].sampling_rate, 512);
        assert_eq!(flows[0].scaled_packets(), 1024);
        // v5: the header's 14-bit interval.
        let mut v5 = vec![0, 5, 0, 1];
        v5.extend_from_slice(&10_000u32.to_be_bytes());
        v5.extend_from_slice(&SECS.to_be_bytes());
        v5.extend_from_slice(&[0; 8]);
        v5.extend_from_slice(&[1, 2, 0x40, 0x40]);
        let mut r = vec![0u8; 48];
        r[16..20].copy_from_slice(&3u32.to_be_bytes());
        r[20..24].copy_from_slice(&300u32.to_be_bytes());
        r[24..28].copy_from_slice(&4_000u32.to_be_bytes());
        r[28..32].copy_from_slice(&9_000u32.to_be_bytes());
        v5.extend(r);
        let (flows, r) = decode(&mut d, &v5);
        assert_eq!(r, Ok(ExportVersion::Netflow5));
        assert_eq!(flows[0].sampling_rate, 64);
        assert_eq!(flows[0].domain, 0x0102);
        assert_eq!(
            flows[0].end,
            Some(Timestamp::from_millis(i64::from(SECS) * 1000 - 1_000))
        );
        assert_eq!(
            flows[0].start,
            Some(Timestamp::from_millis(i64::from(SECS) * 1000 - 6_000))
        );
        // v5 count beyond the records present.
        v5[3] = 2;
        assert_eq!(decode(&mut d, &v5).1.unwrap_err().field, "v5 record");
    }

    #[test]
    fn nat_mpls_vlan_mac_and_uptime_times() {
        let mut d = NetflowDecoder::default();
        let fields = [
            (8, 4, 0),
            (225, 4, 0),
            (227, 2, 0),
            (70, 3, 0),
            (71, 3, 0),
            (58, 2, 0),
            (56, 6, 0),
            (22, 4, 0),
            (21, 4, 0),
            (61, 1, 0),
        ];
        let mut rec = vec![10, 0, 0, 1, 203, 0, 113, 5, 0x1F, 0x90];
        rec.extend_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x02, 0x01]);
        rec.extend_from_slice(&[0x00, 0x64]);
        rec.extend_from_slice(&[0, 0x53, 0, 1, 2, 3]);
        rec.extend_from_slice(&90_000u32.to_be_bytes());
        rec.extend_from_slice(&99_000u32.to_be_bytes());
        rec.push(1);
        let (flows, _) = decode(&mut d, &v9(SECS, &[(0, tmpl(260, &fields)), (260, rec)]));
        let f = &flows[0];
        assert_eq!(f.nat_src, Some("203.0.113.5".parse().unwrap()));
        assert_eq!(f.nat_src_port, Some(8080));
        assert_eq!((f.mpls_count, f.mpls[0], f.mpls[1]), (2, 16, 32));
        assert_eq!(f.vlan, Some(100));
        assert_eq!(f.src_mac, Some([0, 0x53, 0, 1, 2, 3]));
        assert_eq!(f.direction, Some(1));
        // sysUptime at export 100 000 ms: first 10 s and last 1 s before export.
        assert_eq!(
            f.start,
            Some(Timestamp::from_millis(i64::from(SECS) * 1000 - 10_000))
        );
        assert_eq!(
            f.end,
            Some(Timestamp::from_millis(i64::from(SECS) * 1000 - 1_000))
        );
    }
}

//! The `[intake]` section of `ncsoc.toml`: syslog listeners and the HEC-compatible HTTP
//! intake. Every listener and token is bound to one sector and source; what arrives on it
//! can only be stored there.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use ncsoc_parsers::Format;
use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// Syslog listeners (`[[intake.syslog]]`), any number.
    pub syslog: Vec<SyslogListener>,
    /// The HTTP intake (`[intake.hec]`): Splunk HEC-compatible endpoints and NDJSON.
    pub hec: Option<HecConfig>,
    /// Flow export listeners (`[[intake.flows]]`): NetFlow v5/v9, IPFIX, sFlow v5 over UDP.
    pub flows: Vec<FlowListener>,
    /// Feeds already on a Kafka bus (`[[intake.kafka]]`), each a topic of one sector.
    pub kafka: Vec<crate::kafka::KafkaFeed>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowListener {
    /// UDP address to bind, e.g. `0.0.0.0:2055`. Every export kind is accepted on it.
    pub listen: SocketAddr,
    /// The feed recorded on the flows (`ncsoc.source`).
    pub source: String,
    /// Sector of exporters not listed in `exporters`.
    pub sector: String,
    /// Exporter (router or sFlow agent) address → sector.
    #[serde(default)]
    pub exporters: std::collections::BTreeMap<IpKey, String>,
    /// Exporters allowed to send here, as CIDRs; empty allows any.
    #[serde(default)]
    pub allowed_senders: Vec<Cidr>,
    /// Most templates kept (all exporters of this listener together).
    #[serde(default = "default_max_templates")]
    pub max_templates: usize,
    /// A template not refreshed for this long (seconds, export time) is dropped.
    #[serde(default = "default_template_timeout")]
    pub template_timeout_secs: u32,
    /// Socket receive buffer (bytes): what absorbs bursts while the decoder catches up.
    /// The kernel caps it at `net.core.rmem_max`.
    #[serde(default = "default_recv_buffer")]
    pub recv_buffer_bytes: usize,
}

fn default_recv_buffer() -> usize {
    4 << 20
}

fn default_max_templates() -> usize {
    65_536
}
fn default_template_timeout() -> u32 {
    3_600
}

/// An address written as a TOML key (`"192.0.2.1" = "energy"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IpKey(pub IpAddr);

impl<'de> Deserialize<'de> for IpKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map(IpKey)
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not an IP address")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Udp,
    Tcp,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogListener {
    pub protocol: Protocol,
    /// Address to bind, e.g. `0.0.0.0:6514`.
    pub listen: SocketAddr,
    /// The sector everything received here belongs to.
    pub sector: String,
    /// The forwarding department or feed (`ncsoc.source`).
    pub source: String,
    /// `auto` (per line), `syslog`, `cef`, `leef` or `json`.
    #[serde(default, deserialize_with = "format_from_str")]
    pub format: Format,
    /// Senders allowed to send here, as CIDRs; empty allows any.
    #[serde(default)]
    pub allowed_senders: Vec<Cidr>,
    /// Largest message (frame) accepted; longer ones are cut to this size and dead-lettered.
    #[serde(default = "default_max_frame")]
    pub max_frame_bytes: usize,
    /// TCP/TLS: concurrent connections; more are refused and counted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// TCP/TLS: a connection silent this long is closed.
    #[serde(default = "default_idle")]
    pub idle_timeout_secs: u64,
    /// UTC offset, in minutes east, of RFC 3164 timestamps (which carry no zone).
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// UDP: socket receive buffer (bytes) that absorbs bursts; capped by the kernel at
    /// `net.core.rmem_max`.
    #[serde(default = "default_recv_buffer")]
    pub recv_buffer_bytes: usize,
    /// TLS: PEM certificate chain and private key.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

fn default_max_frame() -> usize {
    64 * 1024
}
fn default_max_connections() -> usize {
    512
}
fn default_idle() -> u64 {
    600
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HecConfig {
    /// Address of the HTTP intake; separate from the analyst listener.
    pub listen: SocketAddr,
    /// Largest request body, after gzip decompression.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Largest single event inside a body.
    #[serde(default = "default_max_frame")]
    pub max_event_bytes: usize,
    /// Acknowledgement channels kept at once; pending acks per channel.
    #[serde(default = "default_max_channels")]
    pub max_channels: usize,
    #[serde(default = "default_max_pending_acks")]
    pub max_pending_acks: usize,
    /// Tokens, each bound to one sector and source.
    #[serde(default)]
    pub tokens: Vec<HecToken>,
}

fn default_max_body() -> usize {
    16 * 1024 * 1024
}
fn default_max_channels() -> usize {
    1024
}
fn default_max_pending_acks() -> usize {
    100_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HecToken {
    /// A name for logs and metrics (never the token itself).
    pub name: String,
    /// SHA-256 of the token, hex: the token itself is never stored
    /// (`printf %s "$TOKEN" | sha256sum`).
    pub token_sha256: String,
    pub sector: String,
    pub source: String,
}

pub(crate) fn format_from_str<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// An address range, `10.0.0.0/8` or `2001:db8::/32` (a bare address is one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: u128,
    mask: u128,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        (as_v6_bits(ip) & self.mask) == self.net
    }
}

fn as_v6_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from_be_bytes(v4.to_ipv6_mapped().octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from_be_bytes(v4.to_ipv6_mapped().octets()),
            None => u128::from_be_bytes(v6.octets()),
        },
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an address or CIDR"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix: u32 = match prefix {
            Some(p) => p
                .parse()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: prefix must be 0..={max}"))?,
            None => max,
        };
        let bits = if ip.is_ipv4() { 96 + prefix } else { prefix };
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits)
        };
        Ok(Cidr {
            net: as_v6_bits(ip) & mask,
            mask,
        })
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl IntakeConfig {
    /// Checks what serde cannot: TLS files present for TLS listeners, token digests
    /// well-formed and unique, no two listeners on one address and protocol.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for (i, l) in self.syslog.iter().enumerate() {
            let at = format!("intake.syslog[{i}]");
            if l.sector.is_empty() || l.source.is_empty() {
                return Err(format!("{at}: sector and source must not be empty"));
            }
            if l.protocol == Protocol::Tls && (l.tls_cert.is_none() || l.tls_key.is_none()) {
                return Err(format!("{at}: a tls listener needs tls_cert and tls_key"));
            }
            if l.max_frame_bytes < 480 {
                return Err(format!(
                    "{at}.max_frame_bytes: syslog requires at least 480 bytes"
                ));
            }
            let udp = l.protocol == Protocol::Udp;
            if !seen.insert((l.listen, udp)) {
                return Err(format!("{at}: {} is used by another listener", l.listen));
            }
        }
        for (i, f) in self.flows.iter().enumerate() {
            let at = format!("intake.flows[{i}]");
            if f.sector.is_empty()
                || f.source.is_empty()
                || f.exporters.values().any(String::is_empty)
            {
                return Err(format!("{at}: sectors and source must not be empty"));
            }
            if !seen.insert((f.listen, true)) {
                return Err(format!("{at}: {} is used by another listener", f.listen));
            }
        }
        for (i, k) in self.kafka.iter().enumerate() {
            k.validate(&format!("intake.kafka[{i}]"))?;
        }
        if let Some(h) = &self.hec {
            let mut digests = std::collections::HashSet::new();
            for (i, t) in h.tokens.iter().enumerate() {
                let at = format!("intake.hec.tokens[{i}]");
                if crate::hec::parse_digest(&t.token_sha256).is_none() {
                    return Err(format!(
                        "{at}.token_sha256: expected 64 hex digits (the SHA-256 of the token)"
                    ));
                }
                if !digests.insert(t.token_sha256.to_ascii_lowercase()) {
                    return Err(format!("{at}: the same token is listed twice"));
                }
                if t.sector.is_empty() || t.source.is_empty() {
                    return Err(format!("{at}: sector and source must not be empty"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        // A v4-mapped IPv6 peer (dual-stack socket) is the same host.
        assert!(c.contains("::ffff:10.1.2.3".parse().unwrap()));
        let h: Cidr = "2001:db8::1".parse().unwrap();
        assert!(h.contains("2001:db8::1".parse().unwrap()));
        assert!(!h.contains("2001:db8::2".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
        let any: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains("192.0.2.1".parse().unwrap()));
    }
}

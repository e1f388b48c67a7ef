//! Per-sector state for one time bin, and the per-entity tallies it keeps.
//!
//! Every map here is a [`BoundedMap`]: its capacity comes from the configuration, so a
//! bin's memory is bounded whatever the traffic. Distinct counts use
//! [`Distinct`](crate::sketch::Distinct) (exact up to 16 values, then HyperLogLog with
//! about 3 % standard error).

use serde::{Deserialize, Serialize};

use crate::obs::{Addr, Obs};
use crate::sketch::{hash64, hash_pair, mix64, Distinct, HashedEntropy};
use crate::stats::string_entropy_bits;
use crate::table::{BoundedMap, Weighted};

/// Up to three event ids per entity, kept as evidence. Held inline (ids of up to 32
/// bytes; ncsoc's own are 26), so tracking a new entity allocates nothing for them.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct Samples {
    n: u8,
    len: [u8; Samples::MAX],
    ids: [[u8; Samples::ID_MAX]; Samples::MAX],
}

impl Samples {
    pub const MAX: usize = 3;
    pub const ID_MAX: usize = 32;

    #[inline]
    pub fn offer(&mut self, id: &str) {
        let i = usize::from(self.n);
        if i < Self::MAX && !id.is_empty() && id.len() <= Self::ID_MAX {
            self.ids[i][..id.len()].copy_from_slice(id.as_bytes());
            self.len[i] = id.len() as u8;
            self.n += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..usize::from(self.n))
            .filter_map(|i| std::str::from_utf8(&self.ids[i][..usize::from(self.len[i])]).ok())
    }
}

impl std::fmt::Debug for Samples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl From<Vec<String>> for Samples {
    fn from(v: Vec<String>) -> Self {
        let mut s = Samples::default();
        for id in &v {
            s.offer(id);
        }
        s
    }
}

impl From<Samples> for Vec<String> {
    fn from(s: Samples) -> Self {
        s.iter().map(str::to_string).collect()
    }
}

/// One source's TCP attempts in a bin (scans are judged on TCP only).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SrcStat {
    pub flows: u64,
    pub failed: u64,
    pub dsts: Distinct,
    pub ports: Distinct,
    pub last_dst: Addr,
    pub samples: Samples,
}

impl Weighted for SrcStat {
    fn weight(&self) -> u64 {
        self.failed * 4 + self.flows
    }
}

impl SrcStat {
    /// Share of the attempts that failed (unanswered or refused).
    pub fn failed_ratio(&self) -> f64 {
        self.failed as f64 / self.flows.max(1) as f64
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DstStat {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub syn_only: u64,
    /// UDP records from the source ports of amplification services, from outside the
    /// sector, and how many sources sent them.
    pub reflected: u64,
    pub reflectors: Distinct,
    pub srcs: Distinct,
    pub top_port: u16,
    pub samples: Samples,
}

impl Weighted for DstStat {
    fn weight(&self) -> u64 {
        self.packets + (self.syn_only + self.reflected) * 4
    }
}

/// Attempts from one source at one service.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PairStat {
    pub src: Addr,
    pub dst: Addr,
    pub port: u16,
    pub attempts: u64,
    pub auth_failures: u64,
    pub samples: Samples,
}

impl Weighted for PairStat {
    fn weight(&self) -> u64 {
        self.attempts
    }
}

/// DNS questions from one host under one domain.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DnsStat {
    pub src: Addr,
    pub domain: Box<str>,
    pub queries: u64,
    /// Names looked at (unweighted), against which `names` gives the distinct share.
    pub name_obs: u64,
    pub names: Distinct,
    pub label_len_sum: u64,
    /// Names carrying a hex digest label (32, 40 or 64 hex digits: MD5, SHA-1, SHA-256).
    pub digest_names: u64,
    pub entropy_sum: f64,
    pub samples: Samples,
}

impl Weighted for DnsStat {
    fn weight(&self) -> u64 {
        self.queries
    }
}

/// Traffic between one internal host and one external address.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UploadStat {
    pub inside: Addr,
    pub outside: Addr,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub flows: u64,
    pub samples: Samples,
}

impl Weighted for UploadStat {
    fn weight(&self) -> u64 {
        self.bytes_out / 1024
    }
}

/// What the sector works out once per observation and every bin reuses.
#[derive(Debug, Clone, Copy)]
pub struct ObsKeys {
    pub h_src: u64,
    pub h_dst: u64,
    /// The addresses are internal.
    pub src_in: bool,
    pub dst_in: bool,
    /// The destination port is a login service.
    pub auth_port: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bin {
    pub start_ms: i64,
    pub flows: u64,
    pub bytes: u64,
    pub packets: u64,
    pub src_entropy: HashedEntropy,
    pub dst_entropy: HashedEntropy,
    pub port_entropy: HashedEntropy,
    pub sources: BoundedMap<Addr, SrcStat>,
    pub dests: BoundedMap<Addr, DstStat>,
    pub pairs: BoundedMap<u64, PairStat>,
    pub dns: BoundedMap<u64, DnsStat>,
    /// Hosts asking under each domain.
    pub dns_domains: BoundedMap<u64, crate::sector::Popularity>,
    pub uploads: BoundedMap<u64, UploadStat>,
    /// Findings already reported from this bin (hash of kind and key), so looking into
    /// an open bin early does not report them again at its end.
    pub reported: Vec<u64>,
}

/// Capacities of a bin's tables.
#[derive(Debug, Clone, Copy)]
pub struct BinCaps {
    pub sources: usize,
    pub dests: usize,
    pub pairs: usize,
}

impl Bin {
    pub fn new(caps: BinCaps) -> Self {
        Self {
            start_ms: 0,
            flows: 0,
            bytes: 0,
            packets: 0,
            src_entropy: HashedEntropy::new(10),
            dst_entropy: HashedEntropy::new(10),
            port_entropy: HashedEntropy::new(10),
            sources: BoundedMap::new(caps.sources),
            dests: BoundedMap::new(caps.dests),
            pairs: BoundedMap::new(caps.pairs),
            dns: BoundedMap::new(caps.pairs),
            dns_domains: BoundedMap::new(caps.pairs),
            uploads: BoundedMap::new(caps.pairs),
            reported: Vec::new(),
        }
    }

    pub fn reset(&mut self, start_ms: i64) {
        self.start_ms = start_ms;
        self.flows = 0;
        self.bytes = 0;
        self.packets = 0;
        self.src_entropy.clear();
        self.dst_entropy.clear();
        self.port_entropy.clear();
        self.sources.clear();
        self.dests.clear();
        self.pairs.clear();
        self.dns.clear();
        self.dns_domains.clear();
        self.uploads.clear();
        self.reported.clear();
    }

    /// Counts one observation. `fast` says which tier the bin is: only fast bins keep the
    /// entropy histograms and the per-destination tallies (floods are judged per minute),
    /// only slow bins the upload tallies (exfiltration is judged per ten minutes).
    pub fn add(&mut self, o: &Obs<'_>, k: &ObsKeys, fast: bool) {
        let ObsKeys {
            h_src,
            h_dst,
            src_in,
            dst_in: _,
            auth_port,
        } = *k;
        if o.is_flow {
            self.flows += 1;
            self.bytes += o.bytes;
            self.packets += o.packets;
            if fast {
                self.src_entropy.add(h_src, 1);
                self.dst_entropy.add(h_dst, 1);
                self.port_entropy
                    .add(mix64(u64::from(o.dport) | (u64::from(o.proto) << 16)), 1);
            }
            // Scans are TCP attempts: UDP and ICMP records cannot tell a probe from a
            // one-packet exchange (a resolver's queries) without the reply.
            if fast && o.is_tcp_attempt() {
                let failed = o.is_failed_tcp();
                let s = self.sources.entry(o.src, SrcStat::default);
                s.flows += 1;
                s.failed += u64::from(failed);
                s.dsts.insert_hash(h_dst);
                s.ports.insert_hash(mix64(u64::from(o.dport)));
                s.last_dst = o.dst;
                if failed || s.samples.is_empty() {
                    s.samples.offer(o.id);
                }
            }

            if fast && o.dst != 0 {
                let d = self.dests.entry(o.dst, DstStat::default);
                d.flows += 1;
                d.packets += o.packets;
                d.bytes += o.bytes;
                d.syn_only += u64::from(o.is_syn_only());
                if !src_in && o.is_reflection() {
                    d.reflected += 1;
                    d.reflectors.insert_hash(h_src);
                }
                d.srcs.insert_hash(h_src);
                d.top_port = o.dport;
                d.samples.offer(o.id);
            }

            if fast && auth_port && o.is_short_session() {
                let p = self.pairs.entry(
                    hash_pair(hash_pair(h_src, h_dst), u64::from(o.dport)),
                    PairStat::default,
                );
                if p.attempts == 0 {
                    p.src = o.src;
                    p.dst = o.dst;
                    p.port = o.dport;
                }
                p.attempts += 1;
                p.samples.offer(o.id);
            }

            // Internal ↔ external volume, for exfiltration.
            if !fast && src_in != k.dst_in && o.dst != 0 {
                let (inside, outside, h_in, h_out) = if src_in {
                    (o.src, o.dst, h_src, h_dst)
                } else {
                    (o.dst, o.src, h_dst, h_src)
                };
                let big = o.bytes >= 64 * 1024 || o.reverse_bytes.is_some_and(|b| b >= 64 * 1024);
                let key = hash_pair(h_in, h_out);
                let u = if big {
                    Some(self.uploads.entry(key, UploadStat::default))
                } else {
                    self.uploads.get_mut(&key)
                };
                if let Some(u) = u {
                    if u.flows == 0 {
                        u.inside = inside;
                        u.outside = outside;
                    }
                    u.flows += 1;
                    if src_in {
                        u.bytes_out += o.bytes;
                        u.bytes_in += o.reverse_bytes.unwrap_or(0);
                    } else {
                        u.bytes_in += o.bytes;
                        u.bytes_out += o.reverse_bytes.unwrap_or(0);
                    }
                    if src_in {
                        u.samples.offer(o.id);
                    }
                }
            }
        } else if fast && o.auth_failure {
            let p = self.pairs.entry(
                hash_pair(hash_pair(h_src, h_dst), u64::from(o.dport)),
                PairStat::default,
            );
            if p.attempts == 0 {
                p.src = o.src;
                p.dst = o.dst;
                p.port = o.dport;
            }
            p.attempts += 1;
            p.auth_failures += 1;
            p.samples.offer(o.id);
        }

        if let Some(name) = o.dns_name.filter(|_| fast) {
            self.add_dns(o, h_src, name);
        }
    }

    /// Adds a closed fast bin's per-source, per-pair and DNS tallies to this slow bin:
    /// the slow tier gets them once per entity and minute instead of once per record.
    pub fn absorb(&mut self, fast: &Bin) {
        for (&k, s) in fast.sources.iter() {
            let t = self.sources.entry(k, SrcStat::default);
            t.flows += s.flows;
            t.failed += s.failed;
            t.dsts.merge(&s.dsts);
            t.ports.merge(&s.ports);
            t.last_dst = s.last_dst;
            for id in s.samples.iter() {
                t.samples.offer(id);
            }
        }
        for (&k, p) in fast.pairs.iter() {
            let t = self.pairs.entry(k, PairStat::default);
            if t.attempts == 0 {
                t.src = p.src;
                t.dst = p.dst;
                t.port = p.port;
            }
            t.attempts += p.attempts;
            t.auth_failures += p.auth_failures;
            for id in p.samples.iter() {
                t.samples.offer(id);
            }
        }
        for (&k, d) in fast.dns.iter() {
            let t = self.dns.entry(k, DnsStat::default);
            if t.queries == 0 {
                t.src = d.src;
                t.domain = d.domain.clone();
            }
            t.queries += d.queries;
            t.name_obs += d.name_obs;
            t.names.merge(&d.names);
            t.label_len_sum += d.label_len_sum;
            t.digest_names += d.digest_names;
            t.entropy_sum += d.entropy_sum;
            for id in d.samples.iter() {
                t.samples.offer(id);
            }
        }
        for (&k, p) in fast.dns_domains.iter() {
            self.dns_domains
                .entry(k, Default::default)
                .sources
                .merge(&p.sources);
        }
    }

    fn add_dns(&mut self, o: &Obs<'_>, h_src: u64, name: &str) {
        let name = name.trim_end_matches('.');
        if name.is_empty() || name.len() > 255 {
            return;
        }
        let (sub, domain) = split_domain(name);
        let domain = domain.to_ascii_lowercase();
        let h_domain = hash64(domain.as_bytes());
        self.dns_domains
            .entry(h_domain, Default::default)
            .sources
            .insert_hash(h_src);
        let key = hash_pair(h_src, h_domain);
        let d = self.dns.entry(key, DnsStat::default);
        if d.queries == 0 {
            d.src = o.src;
            d.domain = domain.into_boxed_str();
        }
        let w = u64::from(o.dns_weight.max(1));
        d.queries += w;
        d.name_obs += 1;
        d.digest_names += u64::from(has_digest_label(sub));
        d.names.insert_hash(hash64(name.as_bytes()));
        d.label_len_sum += sub.len() as u64 * w;
        d.entropy_sum += string_entropy_bits(sub.replace('.', "").as_bytes()) * w as f64;
        d.samples.offer(o.id);
    }
}

/// Whether a label is a hex digest, as reputation services (anti-virus cloud lookups,
/// malware hash registries) put in names: high entropy, but not a tunnel.
pub fn has_digest_label(sub: &str) -> bool {
    sub.split('.')
        .any(|l| matches!(l.len(), 32 | 40 | 64) && l.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Splits a DNS name into the part left of its registered domain and the domain: the
/// last two labels, or three when the second-level label is short (`co.uk`, `gov.br`).
/// A public-suffix list would be exact; this errs towards a longer domain, which only
/// makes a tunnel's subdomain look shorter.
pub fn split_domain(name: &str) -> (&str, &str) {
    let labels: Vec<usize> = name.match_indices('.').map(|(i, _)| i).collect();
    let n = labels.len();
    if n == 0 {
        return ("", name);
    }
    let mut cut = if n >= 2 { labels[n - 2] + 1 } else { 0 };
    let second = &name[cut..labels[n - 1]];
    if n >= 3
        && second.len() <= 3
        && matches!(
            second,
            "co" | "com" | "gov" | "ac" | "org" | "net" | "edu" | "or" | "ne"
        )
    {
        cut = labels[n - 3] + 1;
    } else if n < 2 {
        cut = 0;
    }
    if cut == 0 {
        ("", name)
    } else {
        (&name[..cut - 1], &name[cut..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert_eq!(split_domain("a.b.example.com"), ("a.b", "example.com"));
        assert_eq!(split_domain("example.com"), ("", "example.com"));
        assert_eq!(split_domain("x.example.co.uk"), ("x", "example.co.uk"));
        assert_eq!(split_domain("localhost"), ("", "localhost"));
    }
}

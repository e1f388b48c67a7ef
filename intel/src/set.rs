//! The compiled indicator set every event and flow is matched against.
//!
//! - Addresses and prefixes: one table per family of disjoint address ranges, each range
//!   carrying the indicators that cover it (an exact address is a one-address range; a
//!   prefix inside another splits it, since prefixes either nest or do not touch). A
//!   lookup is a direct index on the top 16 bits of the address, then a binary search
//!   among the few ranges of that bucket. Sorted ranges rather than a trie: two arrays
//!   and no pointer chasing, and exact addresses and prefixes share one lookup (measured
//!   in `intel/benches/intel.rs`, figures in BENCHMARKS.md).
//! - Domains: a hash table of names; a name is looked up with each of its parent
//!   domains, so an indicator for `evil.example` hits `a.b.evil.example`.
//! - URLs: a hash table of normalised URLs ([`normalize_url`]): scheme, user info and
//!   fragment dropped, host lower case, default ports dropped. A URL also matches an
//!   indicator for the same URL without its query string; its host is matched as a
//!   domain (or an address). Exact lookups are enough for URL indicators, which name
//!   resources: no substring search (Aho-Corasick) is needed.
//! - File hashes (MD5, SHA-1, SHA-256) and e-mail addresses: hash tables, lower case.
//!
//! Each indicator keeps its validity: a hit counts only when the record's event time is
//! within `[valid_from, valid_until)`. Matching allocates nothing: names are folded to
//! lower case into stack buffers and hits go to a callback.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use ncsoc_model::{Event, Indicator, IndicatorKind};

use crate::pattern;

/// Most indicators one set holds.
pub const MAX_INDICATORS: usize = 2_000_000;
/// DNS names taken from one metered DNS conversation (`dns.question.names`).
const MAX_NAMES_PER_RECORD: usize = 64;

/// A small multiplicative hash (the rustc "Fx" hash, with a finaliser). Keys are admin-supplied indicator
/// values, so no one can flood a bucket; lookups of attacker-chosen names only read.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits poorly mixed, and hashbrown picks buckets with
        // the low bits: fold the high half in (the fmix64 finaliser of MurmurHash3).
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Where in a record an indicator was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    SourceIp,
    DestinationIp,
    DnsQuestion,
    TlsServerName,
    Url,
    UrlHost,
    /// An `extra` key: `file.hash.sha256`, `email.from.address`, `url.domain`, ...
    Extra(&'static str),
}

impl Field {
    /// The ECS key.
    pub fn key(self) -> &'static str {
        match self {
            Field::SourceIp => "source.ip",
            Field::DestinationIp => "destination.ip",
            Field::DnsQuestion => "dns.question.name",
            Field::TlsServerName => "tls.client.server_name",
            Field::Url => "url.original",
            Field::UrlHost => "url.original (host)",
            Field::Extra(k) => k,
        }
    }
}

/// What the record held where the indicator hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed<'e> {
    Ip(IpAddr),
    Text(&'e str),
}

impl std::fmt::Display for Observed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Observed::Ip(ip) => ip.fmt(f),
            Observed::Text(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'e> {
    /// Index into [`IndicatorSet::indicators`].
    pub indicator: u32,
    pub field: Field,
    pub observed: Observed<'e>,
}

/// Disjoint address ranges, sorted, each with the indicators covering it.
#[derive(Debug, Default)]
struct RangeTable<K> {
    starts: Vec<K>,
    ends: Vec<K>,
    /// `(first, count)` in `ids`, per range.
    covers: Vec<(u32, u32)>,
    ids: Vec<u32>,
    /// `buckets[h]`: the first range that can hold an address whose top 16 bits are `h`.
    buckets: Vec<u32>,
}

trait Key: Copy + Ord + Into<u128> + Default {
    const BITS: u32;
    fn from_u128(v: u128) -> Self;
}
impl Key for u32 {
    const BITS: u32 = 32;
    fn from_u128(v: u128) -> Self {
        v as u32
    }
}
impl Key for u128 {
    const BITS: u32 = 128;
    fn from_u128(v: u128) -> Self {
        v
    }
}

impl<K: Key> RangeTable<K> {
    /// From `(first, last, indicator)` ranges that are prefixes: any two either nest or
    /// are disjoint.
    fn build(mut ranges: Vec<(K, K, u32)>) -> Self {
        let mut t = RangeTable::<K>::default();
        if ranges.is_empty() {
            return t;
        }
        // Outer ranges first at the same start, so the open ranges form a stack whose
        // ends never increase towards the top.
        ranges.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        let mut points: Vec<u128> = Vec::with_capacity(ranges.len() * 2);
        for &(s, e, _) in &ranges {
            points.push(s.into());
            if let Some(next) = e.into().checked_add(1) {
                if next <= K::from_u128(u128::MAX).into() {
                    points.push(next);
                }
            }
        }
        points.sort_unstable();
        points.dedup();
        let mut stack: Vec<usize> = Vec::new();
        let mut j = 0;
        for (k, &p) in points.iter().enumerate() {
            while stack.last().is_some_and(|&top| ranges[top].1.into() < p) {
                stack.pop();
            }
            while j < ranges.len() && ranges[j].0.into() == p {
                stack.push(j);
                j += 1;
            }
            if stack.is_empty() {
                continue;
            }
            let end = match points.get(k + 1) {
                Some(&n) => K::from_u128(n - 1),
                None => K::from_u128(K::from_u128(u128::MAX).into()),
            };
            t.starts.push(K::from_u128(p));
            t.ends.push(end);
            let first = t.ids.len() as u32;
            t.ids.extend(stack.iter().map(|&r| ranges[r].2));
            t.covers.push((first, stack.len() as u32));
        }
        let shift = K::BITS - 16;
        t.buckets = (0..=65_536u128)
            .map(|h| {
                let bound = h << shift;
                t.ends.partition_point(|e| (*e).into() < bound) as u32
            })
            .collect();
        t
    }

    #[inline]
    fn lookup(&self, a: K) -> &[u32] {
        if self.starts.is_empty() {
            return &[];
        }
        let h = (a.into() >> (K::BITS - 16)) as usize;
        let lo = self.buckets[h] as usize;
        let hi = (self.buckets[h + 1] as usize + 1).min(self.starts.len());
        if lo >= hi {
            return &[];
        }
        let pp = self.starts[lo..hi].partition_point(|s| *s <= a);
        if pp == 0 {
            return &[];
        }
        let i = lo + pp - 1;
        if self.ends[i] < a {
            return &[];
        }
        let (first, n) = self.covers[i];
        &self.ids[first as usize..(first + n) as usize]
    }

    fn heap_bytes(&self) -> usize {
        let k = std::mem::size_of::<K>();
        (self.starts.capacity() + self.ends.capacity()) * k
            + self.covers.capacity() * 8
            + (self.ids.capacity() + self.buckets.capacity()) * 4
    }
}

/// Values of one kind mapped to the indicators that name them.
#[derive(Debug, Default)]
struct ValueTable {
    map: FxMap<Box<str>, (u32, u32)>,
    ids: Vec<u32>,
}

impl ValueTable {
    fn build(mut values: Vec<(String, u32)>) -> Self {
        values.sort();
        let mut t = ValueTable::default();
        t.map.reserve(values.len());
        let mut i = 0;
        while i < values.len() {
            let first = t.ids.len() as u32;
            let mut j = i;
            while j < values.len() && values[j].0 == values[i].0 {
                t.ids.push(values[j].1);
                j += 1;
            }
            t.map.insert(
                std::mem::take(&mut values[i].0).into_boxed_str(),
                (first, (j - i) as u32),
            );
            i = j;
        }
        t.map.shrink_to_fit();
        t.ids.shrink_to_fit();
        t
    }

    #[inline]
    fn get(&self, key: &str) -> &[u32] {
        match self.map.get(key) {
            Some(&(first, n)) => &self.ids[first as usize..(first + n) as usize],
            None => &[],
        }
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn heap_bytes(&self) -> usize {
        // hashbrown: one control byte and one slot per bucket.
        let slot = std::mem::size_of::<(Box<str>, (u32, u32))>() + 1;
        self.map.capacity() * slot
            + self.map.keys().map(|k| k.len()).sum::<usize>()
            + self.ids.capacity() * 4
    }
}

/// Validity of one indicator, in event-time nanoseconds: `[from, until)`.
#[derive(Debug, Clone, Copy)]
struct Validity {
    from: i64,
    until: i64,
}

/// Why an indicator was left out of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub id: String,
    pub reason: String,
}

/// The indicators compiled for matching (see the module documentation).
#[derive(Debug, Default)]
pub struct IndicatorSet {
    indicators: Vec<Indicator>,
    validity: Vec<Validity>,
    v4: RangeTable<u32>,
    v6: RangeTable<u128>,
    domains: ValueTable,
    urls: ValueTable,
    hashes: ValueTable,
    emails: ValueTable,
    rejected: Vec<Rejected>,
}

impl IndicatorSet {
    /// Compiles `indicators`; values that do not parse as their kind are left out and
    /// listed in [`IndicatorSet::rejected`], as is everything past [`MAX_INDICATORS`].
    pub fn build(indicators: Vec<Indicator>) -> Self {
        let mut set = IndicatorSet::default();
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        let (mut domains, mut urls, mut hashes, mut emails) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ind in indicators {
            if set.indicators.len() >= MAX_INDICATORS {
                set.rejected.push(Rejected {
                    id: ind.id,
                    reason: format!("more than {MAX_INDICATORS} indicators"),
                });
                continue;
            }
            let n = set.indicators.len() as u32;
            let ok: Result<(), String> = match ind.kind {
                IndicatorKind::Ipv4 | IndicatorKind::Ipv6 | IndicatorKind::Cidr => {
                    match pattern::canonical_ip(ind.value.trim()) {
                        Ok(o) => {
                            let (net, len) = match o.value.split_once('/') {
                                Some((a, l)) => (a, l.parse::<u32>().unwrap_or(0)),
                                None => (o.value.as_str(), 128),
                            };
                            match net.parse::<IpAddr>() {
                                Ok(IpAddr::V4(a)) => {
                                    let len = len.min(32);
                                    let s = u32::from(a);
                                    let host = u32::MAX.checked_shr(len).unwrap_or(0);
                                    v4.push((s, s | host, n));
                                    Ok(())
                                }
                                Ok(IpAddr::V6(a)) => {
                                    let s = u128::from(a);
                                    let host = u128::MAX.checked_shr(len).unwrap_or(0);
                                    v6.push((s, s | host, n));
                                    Ok(())
                                }
                                Err(_) => Err("not an address".to_string()),
                            }
                        }
                        Err(e) => Err(e),
                    }
                }
                IndicatorKind::Domain => {
                    pattern::canonical_domain(ind.value.trim()).map(|d| domains.push((d, n)))
                }
                IndicatorKind::Url => {
                    pattern::canonical_url(ind.value.trim()).map(|u| urls.push((u, n)))
                }
                k @ (IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256) => {
                    pattern::canonical_hash(k, ind.value.trim()).map(|h| hashes.push((h, n)))
                }
                IndicatorKind::Email => {
                    pattern::canonical_email(ind.value.trim()).map(|e| emails.push((e, n)))
                }
            };
            match ok {
                Ok(()) => {
                    set.validity.push(Validity {
                        from: ind.valid_from.0,
                        until: ind.valid_until.map_or(i64::MAX, |u| u.0),
                    });
                    set.indicators.push(ind);
                }
                Err(reason) => set.rejected.push(Rejected { id: ind.id, reason }),
            }
        }
        set.v4 = RangeTable::build(v4);
        set.v6 = RangeTable::build(v6);
        set.domains = ValueTable::build(domains);
        set.urls = ValueTable::build(urls);
        set.hashes = ValueTable::build(hashes);
        set.emails = ValueTable::build(emails);
        set.indicators.shrink_to_fit();
        set.validity.shrink_to_fit();
        set
    }

    pub fn len(&self) -> usize {
        self.indicators.len()
    }
    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }
    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }
    pub fn get(&self, i: u32) -> Option<&Indicator> {
        self.indicators.get(i as usize)
    }
    pub fn rejected(&self) -> &[Rejected] {
        &self.rejected
    }

    /// Bytes the matching structures hold on the heap (capacity, not length), the
    /// indicator documents themselves excluded; see [`IndicatorSet::documents_bytes`].
    pub fn index_bytes(&self) -> usize {
        self.v4.heap_bytes()
            + self.v6.heap_bytes()
            + self.domains.heap_bytes()
            + self.urls.heap_bytes()
            + self.hashes.heap_bytes()
            + self.emails.heap_bytes()
            + self.validity.capacity() * std::mem::size_of::<Validity>()
    }

    /// Approximate bytes of the indicator documents kept for reporting hits.
    pub fn documents_bytes(&self) -> usize {
        self.indicators.capacity() * std::mem::size_of::<Indicator>()
            + self
                .indicators
                .iter()
                .map(|i| {
                    i.id.len()
                        + i.value.len()
                        + i.source.len()
                        + i.description.as_ref().map_or(0, String::len)
                        + i.labels.iter().map(|l| l.len() + 24).sum::<usize>()
                })
                .sum::<usize>()
    }

    #[inline]
    fn emit<'e>(
        &self,
        ids: &[u32],
        t: i64,
        field: Field,
        observed: Observed<'e>,
        f: &mut impl FnMut(Hit<'e>),
    ) {
        for &i in ids {
            let v = self.validity[i as usize];
            if t >= v.from && t < v.until {
                f(Hit {
                    indicator: i,
                    field,
                    observed,
                });
            }
        }
    }

    /// Hits of one address at event time `t` (nanoseconds).
    #[inline]
    pub fn match_ip<'e>(&self, ip: IpAddr, t: i64, field: Field, f: &mut impl FnMut(Hit<'e>)) {
        let ids = match ip {
            IpAddr::V4(a) => self.v4.lookup(u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => self.v4.lookup(u32::from(v4)),
                None => self.v6.lookup(u128::from(a)),
            },
        };
        if !ids.is_empty() {
            self.emit(ids, t, field, Observed::Ip(ip), f);
        }
    }

    /// Hits of a domain name and its parent domains.
    pub fn match_domain<'e>(
        &self,
        name: &'e str,
        t: i64,
        field: Field,
        f: &mut impl FnMut(Hit<'e>),
    ) {
        if self.domains.is_empty() {
            return;
        }
        let mut buf = [0u8; 256];
        let Some(d) = lower(name.trim_end_matches('.'), &mut buf) else {
            return;
        };
        let mut rest = d;
        loop {
            let ids = self.domains.get(rest);
            if !ids.is_empty() {
                self.emit(ids, t, field, Observed::Text(name), f);
            }
            match rest.find('.') {
                Some(i) => rest = &rest[i + 1..],
                None => break,
            }
        }
    }

    /// Hits of a URL (normalised, and without its query) and of its host.
    pub fn match_url<'e>(&self, url: &'e str, t: i64, f: &mut impl FnMut(Hit<'e>)) {
        let mut buf = [0u8; pattern::MAX_URL];
        let Some((n, host_end)) = normalize_url(url, &mut buf) else {
            return;
        };
        let Ok(norm) = std::str::from_utf8(&buf[..n]) else {
            return;
        };
        if !self.urls.is_empty() {
            let ids = self.urls.get(norm);
            if !ids.is_empty() {
                self.emit(ids, t, Field::Url, Observed::Text(url), f);
            }
            if let Some(q) = norm.find('?') {
                let ids = self.urls.get(&norm[..q]);
                if !ids.is_empty() {
                    self.emit(ids, t, Field::Url, Observed::Text(url), f);
                }
            }
        }
        let host = &norm[..host_end];
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            self.match_ip(ip, t, Field::UrlHost, f);
        } else if !self.domains.is_empty() {
            let mut rest = host;
            loop {
                let ids = self.domains.get(rest);
                if !ids.is_empty() {
                    // The host as written in the record, for the hit.
                    let shown = url_host(url).unwrap_or(url);
                    self.emit(ids, t, Field::UrlHost, Observed::Text(shown), f);
                }
                match rest.find('.') {
                    Some(i) => rest = &rest[i + 1..],
                    None => break,
                }
            }
        }
    }

    fn match_lower<'e>(
        &self,
        table: &ValueTable,
        v: &'e str,
        t: i64,
        field: Field,
        f: &mut impl FnMut(Hit<'e>),
    ) {
        let mut buf = [0u8; 256];
        if let Some(k) = lower(v.trim(), &mut buf) {
            let ids = table.get(k);
            if !ids.is_empty() {
                self.emit(ids, t, field, Observed::Text(v), f);
            }
        }
    }

    /// Every hit in one event or flow at its event time: source and destination
    /// addresses, DNS question names, TLS server name, URL and its host, and from the
    /// other ECS keys `url.domain`, `destination.domain`, `file.hash.*`,
    /// `process.hash.*`, `email.*.address` and `*.user.email`.
    pub fn match_event<'e>(&self, e: &'e Event, mut f: impl FnMut(Hit<'e>)) {
        if self.indicators.is_empty() {
            return;
        }
        let t = e.timestamp.0;
        let fields = &e.fields;
        if let Some(ip) = fields.source_ip {
            self.match_ip(ip, t, Field::SourceIp, &mut f);
        }
        if let Some(ip) = fields.destination_ip {
            self.match_ip(ip, t, Field::DestinationIp, &mut f);
        }
        if let Some(n) = fields.dns_question_name.as_deref() {
            self.match_domain(n, t, Field::DnsQuestion, &mut f);
        }
        if let Some(n) = fields.tls_server_sni.as_deref() {
            self.match_domain(n, t, Field::TlsServerName, &mut f);
        }
        if let Some(u) = fields.url_original.as_deref() {
            self.match_url(u, t, &mut f);
        }
        if e.extra.is_empty() {
            return;
        }
        // One pass over the other keys (a lookup per known key would cost more than the
        // matching).
        let is_flow = e.flow.is_some();
        for (k, v) in &e.extra {
            let Some((key, what)) = extra_key(k) else {
                continue;
            };
            let table = match what {
                Extra::Domain => &self.domains,
                Extra::Hash if !is_flow => &self.hashes,
                Extra::Email if !is_flow => &self.emails,
                _ => continue,
            };
            if table.is_empty() {
                continue;
            }
            let mut one = |v: &'e str| match what {
                Extra::Domain => self.match_domain(v, t, Field::Extra(key), &mut f),
                _ => self.match_lower(table, v, t, Field::Extra(key), &mut f),
            };
            match v {
                serde_json::Value::String(v) => one(v),
                serde_json::Value::Array(vs) => vs
                    .iter()
                    .take(MAX_NAMES_PER_RECORD)
                    .filter_map(|v| v.as_str())
                    .for_each(one),
                _ => {}
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Extra {
    Domain,
    Hash,
    Email,
}

/// The `extra` keys matched, as static strings for [`Field::Extra`].
fn extra_key(k: &str) -> Option<(&'static str, Extra)> {
    use Extra::*;
    Some(match k {
        "dns.question.names" => ("dns.question.names", Domain),
        "url.domain" => ("url.domain", Domain),
        "destination.domain" => ("destination.domain", Domain),
        "file.hash.md5" => ("file.hash.md5", Hash),
        "file.hash.sha1" => ("file.hash.sha1", Hash),
        "file.hash.sha256" => ("file.hash.sha256", Hash),
        "process.hash.md5" => ("process.hash.md5", Hash),
        "process.hash.sha1" => ("process.hash.sha1", Hash),
        "process.hash.sha256" => ("process.hash.sha256", Hash),
        "dll.hash.md5" => ("dll.hash.md5", Hash),
        "dll.hash.sha1" => ("dll.hash.sha1", Hash),
        "dll.hash.sha256" => ("dll.hash.sha256", Hash),
        "email.from.address" => ("email.from.address", Email),
        "email.sender.address" => ("email.sender.address", Email),
        "email.reply_to.address" => ("email.reply_to.address", Email),
        "email.to.address" => ("email.to.address", Email),
        "email.cc.address" => ("email.cc.address", Email),
        "email.bcc.address" => ("email.bcc.address", Email),
        "user.email" => ("user.email", Email),
        "source.user.email" => ("source.user.email", Email),
        "destination.user.email" => ("destination.user.email", Email),
        _ => return None,
    })
}

/// `s` in ASCII lower case in `buf`; `None` when longer than `buf`.
#[inline]
fn lower<'b>(s: &str, buf: &'b mut [u8]) -> Option<&'b str> {
    let b = s.as_bytes();
    if b.len() > buf.len() {
        return None;
    }
    let out = &mut buf[..b.len()];
    for (o, c) in out.iter_mut().zip(b) {
        *o = c.to_ascii_lowercase();
    }
    // Lower-casing ASCII bytes keeps UTF-8 valid.
    std::str::from_utf8(out).ok()
}

/// Where `://` is, if the URL starts with a scheme (it is found within the first 32 bytes).
#[inline]
fn scheme_end(url: &str) -> Option<usize> {
    let b = url.as_bytes();
    let i = b.iter().take(32).position(|&c| c == b':')?;
    (b.get(i + 1) == Some(&b'/') && b.get(i + 2) == Some(&b'/')).then_some(i)
}

/// The host of a URL as written (after scheme and user info, before port and path).
fn url_host(url: &str) -> Option<&str> {
    let rest = url.trim();
    let rest = match scheme_end(rest) {
        Some(i)
            if rest[..i]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
        {
            &rest[i + 3..]
        }
        _ => rest,
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..auth_end];
    let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let host = if host.starts_with('[') {
        &host[..host.find(']').map_or(host.len(), |i| i + 1)]
    } else {
        host.split(':').next().unwrap_or(host)
    };
    (!host.is_empty()).then_some(host)
}

/// Writes the matching form of `url` into `out`: `host[:port][path][?query]` with the
/// scheme, user info and fragment dropped, the host in lower case without a trailing
/// dot, ports 80 and 443 dropped, and a lone `/` path dropped. Returns the length
/// written and where the host ends; `None` if it is not a URL or does not fit.
pub fn normalize_url(url: &str, out: &mut [u8]) -> Option<(usize, usize)> {
    let url = url.trim();
    let rest = match scheme_end(url) {
        Some(i)
            if i > 0
                && url[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
        {
            &url[i + 3..]
        }
        _ => url,
    };
    let rest = rest.split('#').next().unwrap_or("");
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (auth, tail) = rest.split_at(auth_end);
    let hostport = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let (host, port) = if hostport.starts_with('[') {
        let close = hostport.find(']')?;
        let port = hostport[close + 1..].strip_prefix(':');
        (&hostport[..=close], port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let host = host.trim_end_matches('.');
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b))
    {
        return None;
    }
    if let Some(p) = port {
        if !p.is_empty() && (!p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err()) {
            return None;
        }
    }
    let port = port.filter(|p| !p.is_empty() && *p != "80" && *p != "443");
    let tail = if tail == "/" {
        ""
    } else if let Some(q) = tail.strip_prefix("/?") {
        // `/?q` and `?q` are the same resource.
        &tail[tail.len() - q.len() - 1..]
    } else {
        tail
    };
    let need = host.len() + port.map_or(0, |p| p.len() + 1) + tail.len();
    if need > out.len() {
        return None;
    }
    let mut n = 0;
    for &b in host.as_bytes() {
        out[n] = b.to_ascii_lowercase();
        n += 1;
    }
    let host_end = n;
    if let Some(p) = port {
        out[n] = b':';
        out[n + 1..n + 1 + p.len()].copy_from_slice(p.as_bytes());
        n += 1 + p.len();
    }
    out[n..n + tail.len()].copy_from_slice(tail.as_bytes());
    n += tail.len();
    Some((n, host_end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ncsoc_model::{Timestamp, Tlp};

    fn ind(id: &str, kind: IndicatorKind, value: &str) -> Indicator {
        Indicator {
            id: id.into(),
            kind,
            value: value.into(),
            source: "cert".into(),
            confidence: None,
            valid_from: Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
            valid_until: Some(Timestamp::parse_rfc3339("2026-02-01T00:00:00Z").unwrap()),
            tlp: Tlp::Green,
            labels: Vec::new(),
            description: None,
        }
    }

    fn at(s: &str) -> i64 {
        Timestamp::parse_rfc3339(s).unwrap().0
    }

    fn ids_ip(set: &IndicatorSet, ip: &str, t: i64) -> Vec<String> {
        let mut out = Vec::new();
        set.match_ip(ip.parse().unwrap(), t, Field::SourceIp, &mut |h: Hit<
            '_,
        >| {
            out.push(set.get(h.indicator).unwrap().id.clone())
        });
        out.sort();
        out
    }

    #[test]
    fn addresses_and_nested_prefixes() {
        use IndicatorKind::*;
        let set = IndicatorSet::build(vec![
            ind("a", Ipv4, "192.0.2.1"),
            ind("b", Cidr, "192.0.2.0/24"),
            ind("c", Cidr, "192.0.0.0/16"),
            ind("d", Cidr, "192.0.2.128/25"),
            ind("e", Ipv4, "198.51.100.255"),
            ind("f", Cidr, "0.0.0.0/0"),
            ind("g", Ipv6, "2001:db8::1"),
            ind("h", Cidr, "2001:db8:1::/48"),
            ind("i", Cidr, "255.255.255.255/32"),
        ]);
        assert!(set.rejected().is_empty());
        let t = at("2026-01-15T00:00:00Z");
        assert_eq!(ids_ip(&set, "192.0.2.1", t), ["a", "b", "c", "f"]);
        assert_eq!(ids_ip(&set, "192.0.2.2", t), ["b", "c", "f"]);
        assert_eq!(ids_ip(&set, "192.0.2.200", t), ["b", "c", "d", "f"]);
        assert_eq!(ids_ip(&set, "192.0.3.1", t), ["c", "f"]);
        assert_eq!(ids_ip(&set, "198.51.100.255", t), ["e", "f"]);
        assert_eq!(ids_ip(&set, "198.51.101.0", t), ["f"]);
        assert_eq!(ids_ip(&set, "255.255.255.255", t), ["f", "i"]);
        assert_eq!(ids_ip(&set, "::ffff:192.0.2.1", t), ["a", "b", "c", "f"]);
        assert_eq!(ids_ip(&set, "2001:db8::1", t), ["g"]);
        assert_eq!(ids_ip(&set, "2001:db8::2", t), Vec::<String>::new());
        assert_eq!(ids_ip(&set, "2001:db8:1:ffff::9", t), ["h"]);
        // Outside the validity nothing matches.
        assert!(ids_ip(&set, "192.0.2.1", at("2025-12-31T23:59:59Z")).is_empty());
        assert!(ids_ip(&set, "192.0.2.1", at("2026-02-01T00:00:00Z")).is_empty());
    }

    #[test]
    fn range_table_agrees_with_a_linear_scan() {
        // Pseudo-random prefixes against a brute-force check.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut prefixes = Vec::new();
        for n in 0..2000u32 {
            let len = (next() % 33) as u32;
            let addr = (next() as u32) & 0xC0FF_FFFF; // crowd them so they nest
            let s = addr & u32::MAX.checked_shl(32 - len).unwrap_or(0);
            let e = s | u32::MAX.checked_shr(len).unwrap_or(0);
            prefixes.push((s, e, n));
        }
        let table = RangeTable::build(prefixes.clone());
        for _ in 0..20_000 {
            let a = if next() % 2 == 0 {
                prefixes[(next() % 2000) as usize]
                    .0
                    .wrapping_add((next() % 3) as u32)
            } else {
                (next() as u32) & 0xC0FF_FFFF
            };
            let mut got: Vec<u32> = table.lookup(a).to_vec();
            got.sort();
            let mut want: Vec<u32> = prefixes
                .iter()
                .filter(|(s, e, _)| *s <= a && a <= *e)
                .map(|p| p.2)
                .collect();
            want.sort();
            assert_eq!(got, want, "{a:#x}");
        }
    }

    #[test]
    fn domains_match_their_subdomains_only() {
        let set = IndicatorSet::build(vec![ind("d", IndicatorKind::Domain, "Evil.Example")]);
        let t = at("2026-01-15T00:00:00Z");
        let hit = |n: &str| {
            let mut c = 0;
            set.match_domain(n, t, Field::DnsQuestion, &mut |_: Hit<'_>| c += 1);
            c
        };
        assert_eq!(hit("evil.example"), 1);
        assert_eq!(hit("A.B.EVIL.example."), 1);
        assert_eq!(hit("notevil.example"), 0);
        assert_eq!(hit("evil.example.org"), 0);
        assert_eq!(hit("example"), 0);
    }

    #[test]
    fn urls_are_normalised() {
        let mut buf = [0u8; 256];
        for (u, want) in [
            (
                "HTTP://User:pw@Evil.Example:80/a/B?x=1#frag",
                "evil.example/a/B?x=1",
            ),
            ("https://evil.example/", "evil.example"),
            ("https://evil.example:8443/?q", "evil.example:8443?q"),
            ("evil.example/path", "evil.example/path"),
            ("http://[2001:DB8::1]:443/x", "[2001:db8::1]/x"),
        ] {
            let (n, _) = normalize_url(u, &mut buf).unwrap();
            assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), want, "{u}");
        }
        for bad in [
            "",
            "http://",
            "http://exa mple.com/",
            "http://a.example:99999/",
        ] {
            assert!(normalize_url(bad, &mut buf).is_none(), "{bad}");
        }
        let set = IndicatorSet::build(vec![
            ind(
                "u",
                IndicatorKind::Url,
                "http://evil.example/dl/payload.exe",
            ),
            ind("d", IndicatorKind::Domain, "bad.example"),
            ind("i", IndicatorKind::Ipv4, "203.0.113.5"),
        ]);
        let t = at("2026-01-15T00:00:00Z");
        let hits = |u: &str| {
            let mut v = Vec::new();
            set.match_url(u, t, &mut |h: Hit<'_>| v.push((h.indicator, h.field)));
            v
        };
        assert_eq!(
            hits("https://EVIL.example/dl/payload.exe?session=1"),
            [(0, Field::Url)]
        );
        assert_eq!(
            hits("http://evil.example/dl/payload.exe#x"),
            [(0, Field::Url)]
        );
        assert!(hits("http://evil.example/dl/other.exe").is_empty());
        assert_eq!(hits("http://cdn.bad.example/x"), [(1, Field::UrlHost)]);
        assert_eq!(hits("http://203.0.113.5:8080/x"), [(2, Field::UrlHost)]);
    }

    #[test]
    fn events_are_matched_on_their_ecs_fields() {
        use IndicatorKind::*;
        let set = IndicatorSet::build(vec![
            ind("ip", Ipv4, "203.0.113.9"),
            ind("dom", Domain, "evil.example"),
            ind("md5", Md5, "00dbb9e1c09dbdafb360f3163ba5a3de"),
            ind("mail", Email, "bad@evil.example"),
            ind("bad", Domain, "not a domain"),
        ]);
        assert_eq!(set.rejected().len(), 1);
        let mut e = Event::new(
            "e1",
            Timestamp::parse_rfc3339("2026-01-10T00:00:00Z").unwrap(),
            "energy",
            "fw",
        );
        e.fields.destination_ip = Some("203.0.113.9".parse().unwrap());
        e.fields.tls_server_sni = Some("cdn.evil.example".into());
        e.set("file.hash.md5", "00DBB9E1C09DBDAFB360F3163BA5A3DE".into())
            .unwrap();
        e.set(
            "email.to.address",
            serde_json::json!(["x@y.example", "Bad@Evil.example"]),
        )
        .unwrap();
        let mut got = Vec::new();
        set.match_event(&e, |h| {
            got.push((set.get(h.indicator).unwrap().id.as_str(), h.field.key()))
        });
        assert_eq!(
            got,
            [
                ("ip", "destination.ip"),
                ("dom", "tls.client.server_name"),
                ("mail", "email.to.address"),
                ("md5", "file.hash.md5"),
            ]
        );
    }
}

//! One sector's detector state: its open time bins (fast and slow), its learned
//! baselines, the long-lived beacon and "first seen" tables, and the evaluation that turns
//! a closed bin into [`Signal`]s.
//!
//! Time is event time. Each sector keeps its own watermark (its latest record minus the
//! allowed lateness), so one department's delayed feed does not make another's records
//! late. A bin closes when the watermark passes its end; records for a closed bin are
//! counted as late and left out of detection (they are still stored).

use std::collections::VecDeque;

use ncsoc_model::IncidentKind;
use serde::{Deserialize, Serialize};

use crate::bins::{Bin, BinCaps, ObsKeys, Samples};
use crate::config::{Compiled, DetectorConfig};
use crate::obs::{ip_of, Addr, Obs};
use crate::signal::{attacker_links, ip_entity, score_over, EvidenceBuilder, Signal};
use crate::sketch::{hash64, hash_pair, mix64, Distinct};
use crate::stats::{Cusum, CusumAlarm, Ewma, RobustWindow, SeasonalBaseline};
use crate::table::{BoundedMap, FastMap, Weighted};
use ncsoc_model::Entity;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tier {
    pub width_ms: i64,
    pub bins: VecDeque<Bin>,
    #[serde(skip)]
    spare: Vec<Bin>,
}

impl Tier {
    fn new(width_secs: u32) -> Self {
        Self {
            width_ms: i64::from(width_secs) * 1000,
            bins: VecDeque::new(),
            spare: Vec::new(),
        }
    }

    /// The open bin `ts` falls in, opening it if it is newer than every open bin; `None`
    /// when that bin has closed already.
    fn bin_for(&mut self, ts_ms: i64, caps: BinCaps) -> Option<&mut Bin> {
        let start = ts_ms.div_euclid(self.width_ms) * self.width_ms;
        let newest = self.bins.back().map(|b| b.start_ms);
        match newest {
            Some(n) if start <= n => self.bins.iter_mut().find(|b| b.start_ms == start),
            _ => {
                let mut bin = self.spare.pop().unwrap_or_else(|| Bin::new(caps));
                bin.reset(start);
                self.bins.push_back(bin);
                self.bins.back_mut()
            }
        }
    }
}

/// Four-way set-associative table of when the sector first and last saw an external
/// address (hours since the epoch). An address absent from it, or first seen recently, is
/// a new destination. When a set is full, the entry with the shortest history (last − first
/// seen) goes, oldest first: a host seen on many days (a backup target seen once a night)
/// outlives the long tail seen once. Collisions can only make a new address look known (a
/// missed exfiltration signal): the 31-bit tag leaves about 4 in 2^31 per lookup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeenTable {
    tags: Vec<u32>,
    first: Vec<u32>,
    last: Vec<u32>,
}

const WAYS: usize = 4;

impl SeenTable {
    fn new(slots: usize) -> Self {
        let slots = slots.max(WAYS);
        Self {
            tags: vec![0; slots],
            first: vec![0; slots],
            last: vec![0; slots],
        }
    }

    fn set_of(&self, h: u64) -> (std::ops::Range<usize>, u32) {
        let start = (h as usize) & (self.tags.len() - 1) & !(WAYS - 1);
        (start..start + WAYS, ((h >> 32) as u32) | 1)
    }

    /// Records a sighting at `hour`.
    fn see(&mut self, h: u64, hour: u32) {
        let (set, tag) = self.set_of(h);
        if let Some(j) = set.clone().find(|&j| self.tags[j] == tag) {
            self.last[j] = self.last[j].max(hour);
            return;
        }
        let j = set
            .min_by_key(|&j| {
                (
                    self.tags[j] != 0,
                    self.last[j] - self.first[j],
                    self.last[j],
                )
            })
            .unwrap_or(0);
        self.tags[j] = tag;
        self.first[j] = hour;
        self.last[j] = hour;
    }

    /// Hour first seen, if known.
    fn first_seen(&self, h: u64) -> Option<u32> {
        let (set, tag) = self.set_of(h);
        set.into_iter()
            .find(|&j| self.tags[j] == tag)
            .map(|j| self.first[j])
    }
}

/// A (internal host, external address, port) that may be beaconing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BeaconState {
    pub src: Addr,
    pub dst: Addr,
    pub port: u16,
    pub last_start_ms: i64,
    pub last_end_ms: i64,
    pub first_ms: i64,
    /// The last 16 intervals, seconds.
    pub intervals: Vec<u32>,
    pub next: u8,
    pub count: u32,
    pub bytes: u64,
    pub reported_ms: i64,
    pub samples: Samples,
}

impl Weighted for BeaconState {
    fn weight(&self) -> u64 {
        u64::from(self.count)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Popularity {
    pub sources: Distinct,
}

impl Weighted for Popularity {
    fn weight(&self) -> u64 {
        self.sources.estimate() as u64
    }
}

/// What the API shows of a sector's state: the last closed fast bin against its baseline.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SectorSnapshot {
    pub sector: String,
    pub bin_start_ms: i64,
    pub flows: u64,
    pub bytes: u64,
    pub expected_flows: Option<f64>,
    pub deviation: Option<f64>,
    pub score: Option<f64>,
    pub src_entropy: f64,
    pub dst_entropy: f64,
    pub port_entropy: f64,
    pub warm: bool,
    pub late_records: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SectorState {
    pub name: String,
    pub first_ms: Option<i64>,
    pub max_ms: i64,
    pub fast: Tier,
    pub slow: Tier,
    /// Learns every fast bin of the current day...
    pub volume: SeasonalBaseline,
    /// ... while bins are scored against the profile as it stood when the day began, so
    /// an attack does not lower its own score as it goes on, and a burst that recurs every
    /// night (a vulnerability sweep, backups) is expected from its second night on.
    pub volume_frozen: SeasonalBaseline,
    pub volume_day: i64,
    pub volume_cusum: Cusum,
    pub volume_streak: u32,
    /// An outbreak was reported: internal sweepers until then join it.
    pub outbreak_until_ms: i64,
    pub volume_reported_ms: i64,
    pub entropy: [Ewma; 3],
    pub top_dst_packets: RobustWindow,
    pub seen: SeenTable,
    pub beacons: BoundedMap<u64, BeaconState>,
    pub popular_today: BoundedMap<Addr, Popularity>,
    pub popular_yesterday: BoundedMap<Addr, Popularity>,
    pub popular_day: i64,
    /// Internal scanners learned during warm-up: their internal sweeps are routine.
    pub learned_scanners: FastMap<Addr, u32>,
    pub late: u64,
    /// `max_ms` at the detector's last quiet-sector check.
    #[serde(default)]
    pub max_at_idle_check: i64,
    pub snapshot: SectorSnapshot,
}

pub struct Ctx<'a> {
    pub cfg: &'a DetectorConfig,
    pub compiled: &'a Compiled,
}

impl Ctx<'_> {
    pub fn is_internal(&self, a: Addr) -> bool {
        self.compiled.internal.iter().any(|p| p.contains(a))
    }
    fn caps(&self) -> BinCaps {
        BinCaps {
            sources: self.cfg.max_sources,
            dests: self.cfg.max_destinations,
            pairs: self.cfg.max_pairs,
        }
    }
}

fn sector_entity(name: &str) -> Entity {
    Entity {
        kind: "sector".into(),
        value: name.to_string(),
        role: "affected".into(),
    }
}

impl SectorState {
    pub fn new(name: &str, cfg: &DetectorConfig) -> Self {
        let v = &cfg.volume;
        Self {
            name: name.to_string(),
            first_ms: None,
            max_ms: i64::MIN,
            fast: Tier::new(cfg.bin_secs),
            slow: Tier::new(cfg.slow_bin_secs),
            volume: SeasonalBaseline::new(v.slot_secs, v.alpha).with_level_alpha(0.01),
            volume_frozen: SeasonalBaseline::new(v.slot_secs, v.alpha).with_level_alpha(0.01),
            volume_day: i64::MIN,
            volume_cusum: Cusum::new(v.cusum_k, v.cusum_h),
            volume_streak: 0,
            outbreak_until_ms: i64::MIN,
            volume_reported_ms: i64::MIN,
            entropy: [Ewma::new(0.05), Ewma::new(0.05), Ewma::new(0.05)],
            top_dst_packets: RobustWindow::new(480),
            seen: SeenTable::new(cfg.exfiltration.seen_table_slots),
            beacons: BoundedMap::new(cfg.max_beacon_pairs),
            popular_today: BoundedMap::new(cfg.max_destinations),
            popular_yesterday: BoundedMap::new(cfg.max_destinations),
            popular_day: i64::MIN,
            learned_scanners: FastMap::default(),
            late: 0,
            max_at_idle_check: i64::MIN,
            snapshot: SectorSnapshot {
                sector: name.to_string(),
                ..Default::default()
            },
        }
    }

    fn warm(&self, ctx: &Ctx<'_>, at_ms: i64) -> bool {
        self.first_ms
            .is_some_and(|f| at_ms - f >= i64::from(ctx.cfg.warmup_secs) * 1000)
    }

    /// Counts one observation and closes the bins the watermark has passed.
    pub fn observe(&mut self, ctx: &Ctx<'_>, o: &Obs<'_>, out: &mut Vec<Signal>) {
        if self.first_ms.is_none() {
            self.first_ms = Some(o.ts_ms);
        }
        let h_src = crate::obs::hash_addr(o.src);
        let h_dst = crate::obs::hash_addr(o.dst);
        let src_in = ctx.is_internal(o.src);
        let dst_in = o.dst != 0 && ctx.is_internal(o.dst);
        let auth_port = ctx.cfg.brute_force.ports.contains(&o.dport);
        let caps = ctx.caps();

        let keys = ObsKeys {
            h_src,
            h_dst,
            src_in,
            dst_in,
            auth_port,
        };
        match self.fast.bin_for(o.ts_ms, caps) {
            Some(bin) => bin.add(o, &keys, true),
            None => self.late += 1,
        }
        if let Some(bin) = self.slow.bin_for(o.ts_ms, caps) {
            bin.add(o, &keys, false);
        }

        if o.is_flow && o.dst != 0 && src_in != dst_in {
            let (inside, outside, h_out) = if src_in {
                (o.src, o.dst, h_dst)
            } else {
                (o.dst, o.src, h_src)
            };
            let hour = (o.ts_ms.div_euclid(3_600_000)).clamp(1, i64::from(u32::MAX)) as u32;
            self.seen.see(h_out, hour);
            // Popularity of external addresses among the sector's hosts, per day.
            let day = o.ts_ms.div_euclid(86_400_000);
            if day != self.popular_day {
                if day == self.popular_day + 1 {
                    std::mem::swap(&mut self.popular_today, &mut self.popular_yesterday);
                } else {
                    self.popular_yesterday.clear();
                }
                self.popular_today.clear();
                self.popular_day = day;
            }
            self.popular_today
                .entry(outside, Popularity::default)
                .sources
                .insert_hash(mix64(inside as u64 ^ (inside >> 64) as u64));
            // DNS and NTP are periodic by design and left to the DNS-tunnel detector.
            if src_in
                && (o.proto == crate::obs::TCP || o.proto == crate::obs::UDP)
                && !matches!(o.dport, 53 | 123 | 5353)
            {
                self.beacon(ctx, o, h_src, h_dst, out);
            }
        }

        if o.ts_ms > self.max_ms {
            self.max_ms = o.ts_ms;
            let watermark = self.max_ms - i64::from(ctx.cfg.lateness_secs) * 1000;
            self.close_until(ctx, watermark, out);
        }
    }

    /// Closes every open bin that ends at or before `watermark`.
    pub fn close_until(&mut self, ctx: &Ctx<'_>, watermark: i64, out: &mut Vec<Signal>) {
        let mut closed_fast = false;
        while let Some(b) = self.fast.bins.front() {
            if b.start_ms + self.fast.width_ms > watermark {
                break;
            }
            let bin = self.fast.bins.pop_front().expect("front exists");
            self.evaluate(ctx, &bin, false, None, out);
            let width = self.slow.width_ms;
            if let Some(slow) = self
                .slow
                .bins
                .iter_mut()
                .find(|s| s.start_ms <= bin.start_ms && bin.start_ms < s.start_ms + width)
            {
                slow.absorb(&bin);
            }
            self.fast.spare.push(bin);
            closed_fast = true;
        }
        while let Some(b) = self.slow.bins.front() {
            if b.start_ms + self.slow.width_ms > watermark {
                break;
            }
            let mut bin = self.slow.bins.pop_front().expect("front exists");
            self.evaluate_once(ctx, &mut bin, None, out);
            self.slow.spare.push(bin);
        }
        // Each time a fast bin closes, look into the open slow bins: what has already
        // crossed a slow threshold is reported now, at the watermark, rather than when the
        // slow bin ends (up to ten minutes later).
        if closed_fast && watermark != i64::MAX {
            for i in 0..self.slow.bins.len() {
                let Some(mut bin) = self.slow.bins.remove(i) else {
                    break;
                };
                self.evaluate_once(ctx, &mut bin, Some(watermark), out);
                self.slow.bins.insert(i, bin);
            }
        }
    }

    /// Evaluates a slow bin, passing on only the findings not yet reported from it.
    fn evaluate_once(
        &mut self,
        ctx: &Ctx<'_>,
        bin: &mut Bin,
        at: Option<i64>,
        out: &mut Vec<Signal>,
    ) {
        let mut found = Vec::new();
        self.evaluate(ctx, bin, true, at, &mut found);
        for s in found {
            let h = hash_pair(hash64(s.kind.as_str().as_bytes()), hash64(s.key.as_bytes()));
            if !bin.reported.contains(&h) {
                bin.reported.push(h);
                out.push(s);
            }
        }
    }

    fn beacon(
        &mut self,
        ctx: &Ctx<'_>,
        o: &Obs<'_>,
        h_src: u64,
        h_dst: u64,
        out: &mut Vec<Signal>,
    ) {
        let c = &ctx.cfg.beaconing;
        let key = hash_pair(
            hash_pair(h_src, h_dst),
            u64::from(o.dport) | (u64::from(o.proto) << 16),
        );
        let b = self.beacons.entry(key, BeaconState::default);
        if b.count == 0 {
            b.src = o.src;
            b.dst = o.dst;
            b.port = o.dport;
            b.first_ms = o.start_ms;
            b.last_start_ms = o.start_ms;
            b.last_end_ms = o.ts_ms;
            b.count = 1;
            b.bytes = o.bytes;
            b.samples.offer(o.id);
            b.reported_ms = i64::MIN;
            return;
        }
        let gap_ms = o.start_ms - b.last_start_ms;
        let continuation = o.start_ms >= b.last_start_ms && o.start_ms - b.last_end_ms <= 2000;
        b.last_end_ms = b.last_end_ms.max(o.ts_ms);
        if gap_ms < 1000 || continuation {
            // The rest of a long connection the exporter cut into records (active
            // timeout), or
            // part of the same beat (a second connection close by).
            b.bytes += o.bytes;
            return;
        }
        b.last_start_ms = o.start_ms;
        b.count += 1;
        b.bytes += o.bytes;
        b.samples.offer(o.id);
        let secs = (gap_ms / 1000).clamp(1, i64::from(u32::MAX)) as u32;
        if b.intervals.len() < 16 {
            b.intervals.push(secs);
        } else {
            b.intervals[usize::from(b.next)] = secs;
        }
        b.next = (b.next + 1) % 16;
        if b.count <= c.min_intervals || o.ts_ms.saturating_sub(b.reported_ms) < 1_800_000 {
            return;
        }
        let mut v: Vec<u32> = b.intervals.clone();
        v.sort_unstable();
        let median = f64::from(v[v.len() / 2]);
        let mut dev: Vec<f64> = v.iter().map(|&x| (f64::from(x) - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        let mad = dev[dev.len() / 2];
        let jitter = if median > 0.0 { mad / median } else { f64::MAX };
        if median < c.min_period_secs || median > c.max_period_secs || jitter > c.max_jitter {
            return;
        }
        let popularity = self
            .popular_today
            .get(&b.dst)
            .map(|p| p.sources.estimate())
            .unwrap_or(0.0)
            .max(
                self.popular_yesterday
                    .get(&b.dst)
                    .map(|p| p.sources.estimate())
                    .unwrap_or(0.0),
            );
        if popularity > f64::from(c.max_popularity) {
            return;
        }
        b.reported_ms = o.ts_ms;
        let (src, dst, port, count, first_ms) = (b.src, b.dst, b.port, b.count, b.first_ms);
        let samples = b.samples.clone();
        let evidence = EvidenceBuilder::new(
            o.ts_ms,
            &self.name,
            "nbad.beaconing",
            format!(
                "{} contacted {}:{} {} times at a median interval of {:.0} s with {:.0} % jitter (threshold {:.0} %); {} host(s) of the sector talk to it",
                ip_of(src), ip_of(dst), port, count, median, jitter * 100.0, c.max_jitter * 100.0, popularity.round()
            ),
        )
        .observed(jitter)
        .threshold(c.max_jitter)
        .baseline(Some(median))
        .window(((o.ts_ms - first_ms) / 1000).max(0) as u64)
        .samples(&samples)
        .build();
        out.push(Signal {
            kind: IncidentKind::Beaconing,
            sector: self.name.clone(),
            start_ms: first_ms,
            at_ms: o.ts_ms,
            key: format!("beacon:{}>{}", ip_of(src), ip_of(dst)),
            links: vec![format!("ip:{}", ip_of(dst))],
            entities: vec![ip_entity(src, "compromised"), ip_entity(dst, "c2")],
            title: format!(
                "Beaconing from {} to {}:{} every {:.0} s",
                ip_of(src),
                ip_of(dst),
                port,
                median
            ),
            score: (55.0 + 20.0 * (1.0 - jitter / c.max_jitter)).clamp(0.0, 90.0) as u8,
            attack: &["T1071", "T1573"],
            evidence,
        });
    }

    /// Runs the detectors over a bin: a closed one, or (with `at`) an open slow bin as it
    /// stands at the watermark `at`.
    fn evaluate(
        &mut self,
        ctx: &Ctx<'_>,
        bin: &Bin,
        slow: bool,
        at: Option<i64>,
        out: &mut Vec<Signal>,
    ) {
        let bin_end = bin.start_ms
            + if slow {
                self.slow.width_ms
            } else {
                self.fast.width_ms
            };
        let end_ms = at.map_or(bin_end, |a| a.clamp(bin.start_ms, bin_end));
        let window = ((end_ms - bin.start_ms) / 1000).max(1) as u64;
        let warm = self.warm(ctx, end_ms);
        self.scans(ctx, bin, slow, end_ms, window, out);
        self.brute(ctx, bin, slow, end_ms, window, out);
        self.dns(ctx, bin, slow, end_ms, window, out);
        if slow {
            self.exfil(ctx, bin, end_ms, window, warm, out);
        } else {
            self.floods(ctx, bin, end_ms, window, out);
            self.volume(ctx, bin, end_ms, window, warm, out);
        }
    }

    fn scans(
        &mut self,
        ctx: &Ctx<'_>,
        bin: &Bin,
        slow: bool,
        end_ms: i64,
        window: u64,
        out: &mut Vec<Signal>,
    ) {
        let c = &ctx.cfg.scan;
        let (host_t, port_t) = if slow {
            (c.hosts_per_slow_bin, c.ports_per_slow_bin)
        } else {
            (c.hosts_per_bin, c.ports_per_bin)
        };
        let warm = self.warm(ctx, end_ms);
        // Internal hosts sweeping, held back until it is known whether they are an
        // outbreak (reported together) or one host each.
        let mut sweeping_hosts: Vec<Addr> = Vec::new();
        let mut held: Vec<Signal> = Vec::new();
        for (&src, s) in bin.sources.iter() {
            if s.failed_ratio() < c.min_failed_ratio || s.failed < c.min_failed {
                continue;
            }
            let hosts = s.dsts.estimate();
            let ports = s.ports.estimate();
            let horizontal = hosts >= f64::from(host_t);
            let vertical = ports >= f64::from(port_t) && hosts <= f64::from(c.vertical_max_hosts);
            if !horizontal && !vertical {
                continue;
            }
            if ctx.is_internal(src) && ctx.is_internal(s.last_dst) {
                if ctx.compiled.known_scanners.iter().any(|p| p.contains(src)) {
                    continue;
                }
                if !warm {
                    *self.learned_scanners.entry(src).or_insert(0) += 1;
                } else if self.learned_scanners.contains_key(&src) {
                    continue;
                }
            }
            let (what, observed, threshold) = if horizontal {
                ("hosts", hosts, host_t)
            } else {
                ("ports", ports, port_t)
            };
            let mut entities = vec![ip_entity(src, "attacker")];
            if vertical && !horizontal {
                entities.push(ip_entity(s.last_dst, "target"));
            }
            let description = format!(
                "{} probed {:.0} {} ({:.0} hosts, {:.0} ports) in {} s, {:.0} % of attempts unanswered or refused; threshold {}",
                ip_of(src),
                observed,
                what,
                hosts,
                ports,
                window,
                s.failed_ratio() * 100.0,
                threshold
            );
            let evidence = EvidenceBuilder::new(
                end_ms,
                &self.name,
                if horizontal {
                    "nbad.scan.horizontal"
                } else {
                    "nbad.scan.vertical"
                },
                description,
            )
            .observed(observed)
            .threshold(f64::from(threshold))
            .window(window)
            .samples(&s.samples)
            .build();
            let signal = Signal {
                kind: IncidentKind::PortScan,
                sector: self.name.clone(),
                start_ms: bin.start_ms,
                at_ms: end_ms,
                key: format!("scan:{}", ip_of(src)),
                links: attacker_links(src, ctx.is_internal(src)),
                entities,
                title: if horizontal {
                    format!(
                        "Horizontal port scan from {} ({:.0} hosts)",
                        ip_of(src),
                        hosts
                    )
                } else {
                    format!(
                        "Vertical port scan from {} against {} ({:.0} ports)",
                        ip_of(src),
                        ip_of(s.last_dst),
                        ports
                    )
                },
                score: score_over(observed, f64::from(threshold), 40),
                attack: &["T1046"],
                evidence,
            };
            if horizontal && ctx.is_internal(src) {
                sweeping_hosts.push(src);
                held.push(signal);
            } else {
                out.push(signal);
            }
        }
        let outbreak = sweeping_hosts.len() >= c.outbreak_hosts as usize
            || (!sweeping_hosts.is_empty() && end_ms <= self.outbreak_until_ms);
        if !outbreak {
            out.append(&mut held);
            return;
        }
        self.outbreak_until_ms = self.outbreak_until_ms.max(end_ms + 2 * 3_600_000);
        // Several of the sector's own hosts sweeping at once is an outbreak (a worm, a
        // spam bot network): one sector-level finding naming the hosts, rather than one
        // scan per host. For two hours after, further sweeping hosts join it.
        {
            sweeping_hosts.sort_unstable();
            let n = sweeping_hosts.len();
            let evidence = EvidenceBuilder::new(
                end_ms,
                &self.name,
                "nbad.outbreak",
                format!(
                    "{n} internal hosts of {} swept many addresses in the same {window} s ({}); threshold {} hosts",
                    self.name,
                    sweeping_hosts.iter().take(8).map(|a| ip_of(*a).to_string()).collect::<Vec<_>>().join(", "),
                    c.outbreak_hosts
                ),
            )
            .observed(n as f64)
            .threshold(f64::from(c.outbreak_hosts))
            .window(window)
            .build();
            let mut entities = vec![sector_entity(&self.name)];
            entities.extend(
                sweeping_hosts
                    .iter()
                    .take(16)
                    .map(|a| ip_entity(*a, "infected")),
            );
            out.push(Signal {
                kind: IncidentKind::VolumeAnomaly,
                sector: self.name.clone(),
                start_ms: bin.start_ms,
                at_ms: end_ms,
                key: format!("outbreak:{}", self.name),
                links: Vec::new(),
                entities,
                title: format!(
                    "Outbreak in {}: {n} internal hosts scanning at once",
                    self.name
                ),
                score: score_over(n as f64, f64::from(c.outbreak_hosts), 55),
                attack: &["T1046", "T1210"],
                evidence,
            });
        }
    }

    fn brute(
        &mut self,
        ctx: &Ctx<'_>,
        bin: &Bin,
        slow: bool,
        end_ms: i64,
        window: u64,
        out: &mut Vec<Signal>,
    ) {
        let c = &ctx.cfg.brute_force;
        for (_, p) in bin.pairs.iter() {
            let t = match (slow, ctx.is_internal(p.src)) {
                (false, _) => c.attempts_per_bin,
                (true, true) => c.attempts_per_slow_bin,
                (true, false) => c.attempts_per_slow_bin_external,
            };
            if p.attempts < t {
                continue;
            }
            let evidence = EvidenceBuilder::new(
                end_ms,
                &self.name,
                "nbad.brute_force",
                format!(
                    "{} made {} short sessions or failed logins ({} failed logins reported) to {}:{} in {} s; threshold {}",
                    ip_of(p.src), p.attempts, p.auth_failures, ip_of(p.dst), p.port, window, t
                ),
            )
            .observed(p.attempts as f64)
            .threshold(t as f64)
            .window(window)
            .samples(&p.samples)
            .build();
            let mut entities = vec![ip_entity(p.src, "attacker")];
            if p.dst != 0 {
                entities.push(ip_entity(p.dst, "target"));
            }
            out.push(Signal {
                kind: IncidentKind::BruteForce,
                sector: self.name.clone(),
                start_ms: bin.start_ms,
                at_ms: end_ms,
                key: format!("brute:{}", ip_of(p.src)),
                links: attacker_links(p.src, ctx.is_internal(p.src)),
                entities,
                title: format!(
                    "Brute force from {} against {}:{}",
                    ip_of(p.src),
                    ip_of(p.dst),
                    p.port
                ),
                score: score_over(p.attempts as f64, t as f64, 45),
                attack: &["T1110"],
                evidence,
            });
        }
    }

    fn dns(
        &mut self,
        ctx: &Ctx<'_>,
        bin: &Bin,
        slow: bool,
        end_ms: i64,
        window: u64,
        out: &mut Vec<Signal>,
    ) {
        let c = &ctx.cfg.dns_tunnel;
        let t = if slow {
            c.queries_per_slow_bin
        } else {
            c.queries_per_bin
        };
        for (_, d) in bin.dns.iter() {
            if d.queries < t {
                continue;
            }
            let q = d.queries as f64;
            let mean_len = d.label_len_sum as f64 / q;
            let mean_entropy = d.entropy_sum / q;
            let unique = (d.names.estimate() / d.name_obs.max(1) as f64).min(1.0);
            if mean_len < c.min_mean_label_len
                || mean_entropy < c.min_mean_entropy
                || unique < c.min_unique_ratio
            {
                continue;
            }
            // Hash lookups (digest labels) are reputation services; a tunnel that encodes
            // in fixed 32/40/64-digit hex labels would pass as one (documented limit).
            if d.digest_names * 10 >= d.name_obs * 9 {
                continue;
            }
            // A domain many of the sector's hosts ask under is a service (anti-virus and
            // reputation lookups encode hashes in names too), not one host's tunnel.
            let askers = bin
                .dns_domains
                .get(&hash64(d.domain.as_bytes()))
                .map_or(0.0, |p| p.sources.estimate());
            if askers > f64::from(c.max_domain_sources) {
                continue;
            }
            let evidence = EvidenceBuilder::new(
                end_ms,
                &self.name,
                "nbad.dns_tunnel",
                format!(
                    "{} asked {} questions under {} in {} s: mean subdomain {:.0} characters, {:.2} bits/character, {:.0} % distinct names; thresholds {} questions, {:.0} characters, {:.1} bits",
                    ip_of(d.src), d.queries, d.domain, window, mean_len, mean_entropy, unique * 100.0, t, c.min_mean_label_len, c.min_mean_entropy
                ),
            )
            .observed(q)
            .threshold(t as f64)
            .window(window)
            .samples(&d.samples)
            .build();
            out.push(Signal {
                kind: IncidentKind::DnsTunnel,
                sector: self.name.clone(),
                start_ms: bin.start_ms,
                at_ms: end_ms,
                key: format!("dns:{}>{}", ip_of(d.src), d.domain),
                links: vec![format!("domain:{}", d.domain)],
                entities: vec![
                    ip_entity(d.src, "compromised"),
                    Entity {
                        kind: "domain".into(),
                        value: d.domain.to_string(),
                        role: "c2".into(),
                    },
                ],
                title: format!("DNS tunnelling from {} through {}", ip_of(d.src), d.domain),
                score: score_over(q, t as f64, 50),
                attack: &["T1071.004", "T1048"],
                evidence,
            });
        }
    }

    fn exfil(
        &mut self,
        ctx: &Ctx<'_>,
        bin: &Bin,
        end_ms: i64,
        window: u64,
        warm: bool,
        out: &mut Vec<Signal>,
    ) {
        if !warm {
            return;
        }
        let c = &ctx.cfg.exfiltration;
        let now_hour = end_ms.div_euclid(3_600_000);
        let new_hours = i64::from(c.new_within_secs).div_euclid(3600).max(1);
        for (_, u) in bin.uploads.iter() {
            if u.bytes_out < c.bytes_per_slow_bin {
                continue;
            }
            let ratio = if u.bytes_in > 0 {
                u.bytes_out as f64 / u.bytes_in as f64
            } else {
                f64::INFINITY
            };
            if ratio < c.min_out_in_ratio {
                continue;
            }
            let first = self.seen.first_seen(crate::obs::hash_addr(u.outside));
            let age_hours = first.map(|h| now_hour - i64::from(h));
            if age_hours.is_some_and(|a| a > new_hours) {
                continue;
            }
            let evidence = EvidenceBuilder::new(
                end_ms,
                &self.name,
                "nbad.exfiltration",
                format!(
                    "{} uploaded {:.1} MB to {} in {} s (downloaded {:.1} MB); the sector first saw {} {}; threshold {:.1} MB",
                    ip_of(u.inside),
                    u.bytes_out as f64 / 1e6,
                    ip_of(u.outside),
                    window,
                    u.bytes_in as f64 / 1e6,
                    ip_of(u.outside),
                    match age_hours { Some(a) => format!("{a} h ago"), None => "never before".into() },
                    c.bytes_per_slow_bin as f64 / 1e6
                ),
            )
            .observed(u.bytes_out as f64)
            .threshold(c.bytes_per_slow_bin as f64)
            .window(window)
            .samples(&u.samples)
            .build();
            out.push(Signal {
                kind: IncidentKind::Exfiltration,
                sector: self.name.clone(),
                start_ms: bin.start_ms,
                at_ms: end_ms,
                key: format!("exfil:{}>{}", ip_of(u.inside), ip_of(u.outside)),
                links: vec![format!("ip:{}", ip_of(u.outside))],
                entities: vec![
                    ip_entity(u.inside, "source"),
                    ip_entity(u.outside, "destination"),
                ],
                title: format!(
                    "Upload of {:.0} MB from {} to new destination {}",
                    u.bytes_out as f64 / 1e6,
                    ip_of(u.inside),
                    ip_of(u.outside)
                ),
                score: score_over(u.bytes_out as f64, c.bytes_per_slow_bin as f64, 50),
                attack: &["T1048", "T1041"],
                evidence,
            });
        }
    }

    fn floods(
        &mut self,
        ctx: &Ctx<'_>,
        bin: &Bin,
        end_ms: i64,
        window: u64,
        out: &mut Vec<Signal>,
    ) {
        let c = &ctx.cfg.flood;
        let usual = self.top_dst_packets.median();
        let mut top = 0u64;
        let mut fired = false;
        for (&dst, d) in bin.dests.iter() {
            top = top.max(d.packets);
            // The sector's own hosts are the ones it protects; floods leaving it show up
            // as scans or volume anomalies.
            if !ctx.is_internal(dst) {
                continue;
            }
            let srcs = d.srcs.estimate();
            if srcs < f64::from(c.min_sources) {
                continue;
            }
            let syn = d.syn_only >= c.syn_per_bin;
            let reflected = d.reflected >= c.reflected_per_bin
                && d.reflectors.estimate() >= f64::from(c.min_sources);
            let volume_t = usual.map_or(c.packets_per_bin as f64, |u| {
                (u * c.over_usual_top).max(c.packets_per_bin as f64)
            });
            let volumetric = d.packets as f64 >= volume_t;
            if !syn && !volumetric && !reflected {
                continue;
            }
            fired = true;
            let (observed, threshold, what) = if syn {
                (d.syn_only as f64, c.syn_per_bin as f64, "unanswered SYNs")
            } else if reflected && !volumetric {
                (d.reflected as f64, c.reflected_per_bin as f64, "UDP replies from amplifier ports (DNS, NTP, CLDAP, SSDP, memcached, ...) it did not ask for")
            } else {
                (d.packets as f64, volume_t, "packets")
            };
            let evidence = EvidenceBuilder::new(
                end_ms,
                &self.name,
                if syn {
                    "nbad.syn_flood"
                } else {
                    "nbad.volumetric"
                },
                format!(
                    "{} received {:.0} {} from {:.0} sources in {} s ({:.1} MB); threshold {:.0}{}",
                    ip_of(dst),
                    observed,
                    what,
                    srcs,
                    window,
                    d.bytes as f64 / 1e6,
                    threshold,
                    usual
                        .map(|u| format!(", usual busiest destination {u:.0} packets per bin"))
                        .unwrap_or_default()
                ),
            )
            .observed(observed)
            .threshold(threshold)
            .baseline(usual)
            .window(window)
            .samples(&d.samples)
            .build();
            out.push(Signal {
                kind: IncidentKind::Ddos,
                sector: self.name.clone(),
                start_ms: bin.start_ms,
                at_ms: end_ms,
                key: format!("ddos:{}", ip_of(dst)),
                links: vec![format!("victim:{}", ip_of(dst))],
                entities: vec![ip_entity(dst, "victim")],
                title: format!(
                    "{} against {} ({:.0} sources)",
                    if syn { "SYN flood" } else { "Volumetric DDoS" },
                    ip_of(dst),
                    srcs
                ),
                score: score_over(observed, threshold, 55),
                attack: &["T1498", "T1499"],
                evidence,
            });
        }
        if !fired && top > 0 {
            self.top_dst_packets.push(top as f64);
        }
    }

    fn volume(
        &mut self,
        ctx: &Ctx<'_>,
        bin: &Bin,
        end_ms: i64,
        window: u64,
        warm: bool,
        out: &mut Vec<Signal>,
    ) {
        let c = &ctx.cfg.volume;
        let ts = bin.start_ms.div_euclid(1000);
        let x = bin.flows as f64;
        let ent = [
            bin.src_entropy.normalised(),
            bin.dst_entropy.normalised(),
            bin.port_entropy.normalised(),
        ];
        let day = ts.div_euclid(86_400);
        if day != self.volume_day {
            self.volume_frozen = self.volume.clone();
            self.volume_day = day;
        }
        let expected = self.volume_frozen.expected(ts);
        let mut score = None;
        let mut anomalous = false;
        if let Some(e) = expected {
            let floor = (e.mean.sqrt() + 1.0).max(0.05 * e.mean);
            let z = (x - e.mean) / e.deviation.max(floor);
            score = Some(z);
            let ratio = if e.mean > 0.0 {
                x / e.mean
            } else {
                f64::INFINITY
            };
            anomalous = z >= c.min_score && ratio >= c.min_ratio;
            self.volume_streak = if anomalous { self.volume_streak + 1 } else { 0 };
            let cusum = self.volume_cusum.update(z.clamp(-4.0, 4.0));
            let shift = matches!(cusum, Some(CusumAlarm::Up));
            if warm
                && (self.volume_streak >= c.sustain_bins || shift && ratio >= c.min_ratio)
                && end_ms.saturating_sub(self.volume_reported_ms)
                    >= 10 * i64::from(ctx.cfg.bin_secs) * 1000
            {
                self.volume_reported_ms = end_ms;
                let evidence = EvidenceBuilder::new(
                    end_ms,
                    &self.name,
                    if shift && self.volume_streak < c.sustain_bins { "nbad.volume.level_shift" } else { "nbad.volume" },
                    format!(
                        "{} flows in {} s against a seasonal expectation of {:.0} ± {:.0} ({:.1}×, score {:.1}); source/destination/port entropy {:.2}/{:.2}/{:.2} against usual {:.2}/{:.2}/{:.2}",
                        bin.flows, window, e.mean, e.deviation, ratio, z, ent[0], ent[1], ent[2],
                        self.entropy[0].mean(), self.entropy[1].mean(), self.entropy[2].mean()
                    ),
                )
                .observed(x)
                .baseline(Some(e.mean))
                .threshold(e.mean + c.min_score * e.deviation.max(floor))
                .window(window)
                .build();
                out.push(Signal {
                    kind: IncidentKind::VolumeAnomaly,
                    sector: self.name.clone(),
                    start_ms: bin.start_ms,
                    at_ms: end_ms,
                    key: format!("volume:{}", self.name),
                    links: Vec::new(),
                    entities: vec![sector_entity(&self.name)],
                    title: format!(
                        "Traffic volume anomaly in {}: {:.1}× the usual flows",
                        self.name, ratio
                    ),
                    score: score_over(z, c.min_score, 40),
                    attack: &[],
                    evidence,
                });
            }
        }
        self.volume.observe(ts, x);

        // The entropies of the source-address, destination-address and destination-port
        // distributions (Lakhina et al.) are tracked as context for the volume evidence
        // and the sector state; alerting on them without a seasonal profile fired on
        // every nightly backup and sweep in the evaluation, so they do not alert alone.
        if !anomalous {
            for (e, v) in self.entropy.iter_mut().zip(ent) {
                e.update(v);
            }
        }
        let dev = expected.map(|e| e.deviation);
        self.snapshot = SectorSnapshot {
            sector: self.name.clone(),
            bin_start_ms: bin.start_ms,
            flows: bin.flows,
            bytes: bin.bytes,
            expected_flows: expected.map(|e| e.mean),
            deviation: dev,
            score,
            src_entropy: ent[0],
            dst_entropy: ent[1],
            port_entropy: ent[2],
            warm,
            late_records: self.late,
        };
    }
}

//! Each detector against traffic built to show its behaviour (and traffic that must not
//! trigger it), cross-sector correlation, determinism and checkpoints.

use std::net::IpAddr;

use ncsoc_detector::{Detector, DetectorConfig};
use ncsoc_model::{Event, FlowRecord, Incident, IncidentKind, Severity, Timestamp};

const T0: i64 = 1_772_409_600_000; // 2026-03-02T00:00:00Z, a Monday

struct Flow<'a> {
    ms: i64,
    sector: &'a str,
    src: &'a str,
    dst: &'a str,
    sport: u16,
    dport: u16,
    proto: &'a str,
    bytes: u64,
    packets: u64,
    flags: u8,
}

impl Default for Flow<'_> {
    fn default() -> Self {
        Self {
            ms: T0,
            sector: "energy",
            src: "10.1.0.10",
            dst: "10.1.0.20",
            sport: 40000,
            dport: 443,
            proto: "tcp",
            bytes: 5_000,
            packets: 12,
            flags: 0x1b,
        }
    }
}

fn flow(f: Flow<'_>) -> Event {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut e = Event::new(
        format!("ev{n}"),
        Timestamp::from_millis(f.ms),
        f.sector,
        "test",
    );
    e.fields.source_ip = Some(f.src.parse().unwrap());
    e.fields.destination_ip = Some(f.dst.parse().unwrap());
    e.fields.source_port = Some(f.sport);
    e.fields.destination_port = Some(f.dport);
    e.fields.network_transport = Some(f.proto.into());
    e.fields.network_bytes = Some(f.bytes);
    e.fields.network_packets = Some(f.packets);
    e.fields.category = vec!["network".into()];
    e.flow = Some(Box::new(FlowRecord {
        start: Some(Timestamp::from_millis(f.ms - 100)),
        end: Some(Timestamp::from_millis(f.ms)),
        tcp_flags: (f.proto == "tcp").then_some(f.flags),
        ..FlowRecord::default()
    }));
    e
}

fn run(events: &[Event]) -> Vec<Incident> {
    run_with(DetectorConfig::default(), events)
}

fn run_with(cfg: DetectorConfig, events: &[Event]) -> Vec<Incident> {
    let mut d = Detector::new(cfg).unwrap();
    let mut out: Vec<Incident> = Vec::new();
    for e in events {
        d.observe(e);
        absorb(&mut out, d.take_changed());
    }
    d.flush();
    absorb(&mut out, d.take_changed());
    out
}

fn absorb(out: &mut Vec<Incident>, changed: Vec<Incident>) {
    for i in changed {
        match out.iter_mut().find(|x| x.id == i.id) {
            Some(x) => *x = i,
            None => out.push(i),
        }
    }
}

fn ip(i: u32, base: [u8; 2]) -> String {
    format!("{}.{}.{}.{}", base[0], base[1], (i >> 8) & 0xff, i & 0xff)
}

/// Ordinary traffic: clients of `sector` (10.S.x.x) talking to popular external servers.
fn background(sector: &str, s: u8, from_ms: i64, minutes: i64, per_minute: u32) -> Vec<Event> {
    let mut v = Vec::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(s);
    for m in 0..minutes {
        for k in 0..per_minute {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let c = format!("10.{s}.0.{}", 10 + (x >> 40) % 50);
            let server = format!("198.51.100.{}", 1 + (x >> 20) % 7);
            v.push(flow(Flow {
                ms: from_ms + m * 60_000 + i64::from(k) * (60_000 / i64::from(per_minute)),
                sector,
                src: &c,
                dst: &server,
                sport: 30000 + (k % 20000) as u16,
                ..Flow::default()
            }));
        }
    }
    v
}

fn sorted(mut v: Vec<Event>) -> Vec<Event> {
    v.sort_by_key(|e| e.timestamp);
    v
}

fn of_kind(incidents: &[Incident], kind: IncidentKind) -> Vec<&Incident> {
    incidents.iter().filter(|i| i.kind == kind).collect()
}

#[test]
fn horizontal_scan_is_found_with_its_evidence_and_background_is_quiet() {
    let mut v = background("energy", 1, T0, 5, 100);
    for i in 0..60 {
        v.push(flow(Flow {
            ms: T0 + 120_000 + i * 500,
            src: "203.0.113.9",
            dst: &ip(i as u32, [10, 1]),
            dport: 3389,
            bytes: 60,
            packets: 1,
            flags: 0x02,
            ..Flow::default()
        }));
    }
    let inc = run(&sorted(v));
    assert_eq!(inc.len(), 1, "{inc:#?}");
    let i = &inc[0];
    assert_eq!(i.kind, IncidentKind::PortScan);
    assert_eq!(i.sectors, vec!["energy".to_string()]);
    assert!(i
        .entities
        .iter()
        .any(|e| e.value == "203.0.113.9" && e.role == "attacker"));
    // The one-minute bin's finding: 60 distinct hosts, past the exact range, so
    // HyperLogLog's estimate (±3 %). (The ten-minute bin, looked into early, may report
    // first: a second piece of evidence with its own window and threshold.)
    let ev = i
        .evidence
        .iter()
        .find(|e| e.window_secs == Some(60))
        .expect("the fast bin's evidence");
    let observed = ev.observed.unwrap();
    assert!((observed - 60.0).abs() <= 4.0, "{observed}");
    assert_eq!(ev.threshold, Some(20.0));
    assert!(!ev.sample_event_ids.is_empty());
    assert!(i
        .evidence
        .iter()
        .all(|e| e.signal == "nbad.scan.horizontal"));
    // Detected within the minute after the scan began (event time), not at the end of
    // the ten-minute bin.
    let first_at = i.evidence.iter().map(|e| e.at).min().unwrap();
    assert!(
        first_at <= Timestamp::from_millis(T0 + 240_000),
        "{first_at:?}"
    );
    assert_eq!(i.attack, vec!["T1046".to_string()]);
    assert!(i.first_seen <= Timestamp::from_millis(T0 + 120_000));
}

#[test]
fn vertical_scan_names_its_target() {
    let mut v = Vec::new();
    for p in 0..200u16 {
        v.push(flow(Flow {
            ms: T0 + i64::from(p) * 100,
            src: "192.0.2.50",
            dst: "10.1.0.5",
            dport: 1 + p,
            bytes: 100,
            packets: 2,
            flags: 0x16, // SYN, RST|ACK back in one biflow
            ..Flow::default()
        }));
    }
    let inc = run(&v);
    assert_eq!(inc.len(), 1);
    assert_eq!(inc[0].kind, IncidentKind::PortScan);
    assert!(inc[0].title.contains("Vertical"), "{}", inc[0].title);
    assert!(inc[0]
        .entities
        .iter()
        .any(|e| e.value == "10.1.0.5" && e.role == "target"));
}

#[test]
fn syn_flood_from_many_sources_is_a_ddos() {
    let mut v = background("finance", 2, T0, 3, 50);
    for i in 0..5000u32 {
        v.push(flow(Flow {
            ms: T0 + 60_000 + i64::from(i) * 10,
            sector: "finance",
            src: &format!(
                "{}.{}.{}.{}",
                20 + i % 150,
                (i / 7) % 250,
                i % 251,
                1 + i % 200
            ),
            dst: "10.2.0.80",
            dport: 80,
            bytes: 40,
            packets: 1,
            flags: 0x02,
            ..Flow::default()
        }));
    }
    let inc = run(&sorted(v));
    let ddos = of_kind(&inc, IncidentKind::Ddos);
    assert_eq!(ddos.len(), 1, "{inc:#?}");
    assert!(ddos[0]
        .entities
        .iter()
        .any(|e| e.value == "10.2.0.80" && e.role == "victim"));
    assert!(ddos[0].evidence[0].observed.unwrap() >= 1000.0);
    // Spoofed sources are not each reported as scanners.
    assert!(of_kind(&inc, IncidentKind::PortScan).is_empty());
}

#[test]
fn brute_force_and_normal_ssh_use() {
    let mut v = Vec::new();
    for i in 0..30i64 {
        v.push(flow(Flow {
            ms: T0 + i * 2_000,
            src: "198.18.7.7",
            dst: "10.1.0.22",
            sport: 50000 + i as u16,
            dport: 22,
            bytes: 4_000,
            packets: 25,
            ..Flow::default()
        }));
    }
    // An administrator: three long SSH sessions.
    for i in 0..3i64 {
        v.push(flow(Flow {
            ms: T0 + i * 20_000,
            src: "10.1.0.9",
            dst: "10.1.0.22",
            dport: 22,
            bytes: 2_000_000,
            packets: 3_000,
            ..Flow::default()
        }));
    }
    let inc = run(&sorted(v));
    assert_eq!(inc.len(), 1, "{inc:#?}");
    assert_eq!(inc[0].kind, IncidentKind::BruteForce);
    assert!(inc[0].entities.iter().any(|e| e.value == "198.18.7.7"));
}

#[test]
fn failed_logins_from_auth_events_count_as_brute_force() {
    let mut v = Vec::new();
    for i in 0..15i64 {
        let mut e = Event::new(
            format!("auth{i}"),
            Timestamp::from_millis(T0 + i * 1000),
            "health",
            "sshd",
        );
        e.fields.source_ip = Some("198.18.1.1".parse().unwrap());
        e.fields.destination_ip = Some("10.3.0.2".parse().unwrap());
        e.fields.destination_port = Some(22);
        e.fields.category = vec!["authentication".into()];
        e.fields.outcome = Some("failure".into());
        v.push(e);
    }
    let inc = run(&v);
    assert_eq!(inc.len(), 1);
    assert_eq!(inc[0].kind, IncidentKind::BruteForce);
    assert_eq!(inc[0].sectors, vec!["health".to_string()]);
}

fn dns_event(ms: i64, sector: &str, src: &str, name: &str) -> Event {
    let mut e = Event::new(
        format!("dns{ms}{name}"),
        Timestamp::from_millis(ms),
        sector,
        "dns",
    );
    e.fields.source_ip = Some(src.parse().unwrap());
    e.fields.destination_ip = Some("10.1.0.53".parse().unwrap());
    e.fields.destination_port = Some(53);
    e.fields.network_transport = Some("udp".into());
    e.fields.dns_question_name = Some(name.into());
    e
}

#[test]
fn dns_tunnel_against_ordinary_lookups() {
    let mut v = Vec::new();
    let mut x: u64 = 0x1234_5678;
    for i in 0..120i64 {
        let mut label = String::new();
        for _ in 0..40 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            label.push(b"abcdefghijklmnopqrstuvwxyz0123456789"[(x % 36) as usize] as char);
        }
        v.push(dns_event(
            T0 + i * 400,
            "energy",
            "10.1.0.66",
            &format!("{label}.t.exfil-example.net"),
        ));
        // A busy but ordinary client: many lookups of short, repeated names.
        v.push(dns_event(
            T0 + i * 400 + 1,
            "energy",
            "10.1.0.67",
            &format!("www{}.example.org", i % 5),
        ));
    }
    let inc = run(&v);
    assert_eq!(inc.len(), 1, "{inc:#?}");
    assert_eq!(inc[0].kind, IncidentKind::DnsTunnel);
    assert!(inc[0]
        .entities
        .iter()
        .any(|e| e.kind == "domain" && e.value == "exfil-example.net"));
    assert!(inc[0].entities.iter().any(|e| e.value == "10.1.0.66"));
}

#[test]
fn beaconing_with_jitter_is_found_but_popular_periodic_services_are_not() {
    let mut v = Vec::new();
    let mut x: u64 = 99;
    for i in 0..40i64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let jitter = (x >> 33) as i64 % 12_000 - 6_000; // ±6 s on 60 s
        v.push(flow(Flow {
            ms: T0 + i * 60_000 + jitter,
            src: "10.1.0.77",
            dst: "203.0.113.200",
            sport: 40000 + i as u16,
            dport: 8443,
            bytes: 900,
            packets: 8,
            ..Flow::default()
        }));
        // Every host polls the update server every 60 s: periodic, but popular.
        for h in 0..10 {
            v.push(flow(Flow {
                ms: T0 + i * 60_000 + h * 1000,
                src: &format!("10.1.0.{}", 100 + h),
                dst: "198.51.100.50",
                sport: 41000 + i as u16,
                dport: 443,
                bytes: 1500,
                packets: 10,
                ..Flow::default()
            }));
        }
    }
    let inc = run(&sorted(v));
    assert_eq!(inc.len(), 1, "{inc:#?}");
    assert_eq!(inc[0].kind, IncidentKind::Beaconing);
    assert!(inc[0]
        .entities
        .iter()
        .any(|e| e.value == "203.0.113.200" && e.role == "c2"));
}

#[test]
fn exfiltration_to_a_new_destination_after_warmup_but_not_to_the_backup_host() {
    let mut cfg = DetectorConfig {
        warmup_secs: 3600,
        ..DetectorConfig::default()
    };
    cfg.exfiltration.new_within_secs = 3600;
    let mut v = Vec::new();
    // Two hours of learning: the backup host is a known destination.
    for m in 0..180i64 {
        v.push(flow(Flow {
            ms: T0 + m * 60_000,
            src: "10.1.0.5",
            dst: "198.51.100.9",
            bytes: 2_000,
            packets: 10,
            ..Flow::default()
        }));
    }
    // Then a big upload to the backup host, and one to a never-seen address.
    for k in 0..10i64 {
        let ms = T0 + 3 * 3_600_000 + k * 30_000;
        v.push(flow(Flow {
            ms,
            src: "10.1.0.5",
            dst: "198.51.100.9",
            bytes: 8_000_000,
            packets: 6_000,
            ..Flow::default()
        }));
        v.push(flow(Flow {
            ms: ms + 1,
            src: "10.1.0.6",
            dst: "203.0.113.66",
            bytes: 8_000_000,
            packets: 6_000,
            ..Flow::default()
        }));
    }
    let inc = run_with(cfg, &sorted(v));
    let ex = of_kind(&inc, IncidentKind::Exfiltration);
    assert_eq!(ex.len(), 1, "{inc:#?}");
    assert!(ex[0].entities.iter().any(|e| e.value == "203.0.113.66"));
    assert!(!ex[0].entities.iter().any(|e| e.value == "198.51.100.9"));
}

#[test]
fn volume_anomaly_after_learning_a_seasonal_baseline() {
    let cfg = DetectorConfig {
        warmup_secs: 86_400,
        ..DetectorConfig::default()
    };
    let mut d = Detector::new(cfg).unwrap();
    let mut incidents: Vec<Incident> = Vec::new();
    // Three days of steady traffic (40 flows a minute), then 30 minutes at 6×.
    for day in 0..3i64 {
        for m in 0..1440i64 {
            let start = T0 + day * 86_400_000 + m * 60_000;
            let n = if day == 2 && (600..630).contains(&m) {
                240
            } else {
                40
            };
            for e in background("transport", 4, start, 1, n) {
                d.observe(&e);
            }
            absorb(&mut incidents, d.take_changed());
        }
    }
    d.flush();
    absorb(&mut incidents, d.take_changed());
    let vol = of_kind(&incidents, IncidentKind::VolumeAnomaly);
    assert_eq!(vol.len(), 1, "{incidents:#?}");
    let at = vol[0].evidence[0].at.millis();
    assert!(
        (T0 + 2 * 86_400_000 + 600 * 60_000..=T0 + 2 * 86_400_000 + 610 * 60_000).contains(&at),
        "{at}"
    );
    let states = d.sector_states();
    assert_eq!(states[0].sector, "transport");
    assert!(states[0].warm);
    assert!(states[0].expected_flows.is_some());
}

#[test]
fn one_scanner_in_three_sectors_is_one_national_incident() {
    let mut v = Vec::new();
    for (s, sector) in ["energy", "finance", "health"].iter().enumerate() {
        v.extend(background(sector, s as u8 + 1, T0, 40, 20));
        for i in 0..40u32 {
            v.push(flow(Flow {
                ms: T0 + (s as i64) * 600_000 + i64::from(i) * 200,
                sector,
                src: "203.0.113.9",
                dst: &ip(i, [10, s as u8 + 1]),
                dport: 445,
                bytes: 60,
                packets: 1,
                flags: 0x02,
                ..Flow::default()
            }));
        }
    }
    let inc = run(&sorted(v));
    assert_eq!(inc.len(), 1, "{inc:#?}");
    let i = &inc[0];
    assert_eq!(
        i.sectors,
        vec![
            "energy".to_string(),
            "finance".to_string(),
            "health".to_string()
        ]
    );
    assert!(i.title.starts_with("National"), "{}", i.title);
    assert!(i.severity >= Severity::High, "{:?} {}", i.severity, i.score);
    assert!(i.signal_count >= 3);
}

#[test]
fn low_and_slow_probes_across_sectors_are_seen_nationally() {
    // Two probes per sector per hour: below every sector's own thresholds.
    let mut v = Vec::new();
    for hour in 0..4i64 {
        for (s, sector) in ["energy", "finance", "health", "transport"]
            .iter()
            .enumerate()
        {
            for k in 0..2i64 {
                v.push(flow(Flow {
                    ms: T0 + hour * 3_600_000 + (s as i64) * 600_000 + k * 60_000,
                    sector,
                    src: "192.0.2.99",
                    dst: &format!("10.{}.{}.{}", s + 1, hour, k + 1),
                    dport: 22,
                    bytes: 60,
                    packets: 1,
                    flags: 0x02,
                    ..Flow::default()
                }));
            }
        }
    }
    let inc = run(&v);
    assert_eq!(inc.len(), 1, "{inc:#?}");
    assert_eq!(inc[0].kind, IncidentKind::PortScan);
    assert!(inc[0].sectors.len() >= 3, "{:?}", inc[0].sectors);
    assert!(inc[0]
        .evidence
        .iter()
        .any(|e| e.signal == "national.low_and_slow.scan"));
}

#[test]
fn slow_password_guessing_across_sectors_is_one_brute_force_incident() {
    // Three logins per sector per hour at each sector's SSH server: below the sector
    // thresholds (10 a minute, 8 in ten minutes from outside).
    let mut v = Vec::new();
    for hour in 0..3i64 {
        for (s, sector) in ["energy", "finance", "transport"].iter().enumerate() {
            for k in 0..3i64 {
                v.push(flow(Flow {
                    ms: T0 + hour * 3_600_000 + (s as i64) * 900_000 + k * 300_000,
                    sector,
                    src: "198.51.100.250",
                    dst: &format!("10.{}.1.22", s + 1),
                    sport: 50_000 + (hour * 10 + k) as u16,
                    dport: 22,
                    bytes: 4_000,
                    packets: 24,
                    ..Flow::default()
                }));
            }
        }
    }
    let inc = run(&v);
    assert_eq!(inc.len(), 1, "{inc:#?}");
    assert_eq!(inc[0].kind, IncidentKind::BruteForce);
    assert_eq!(inc[0].sectors.len(), 3);
    assert!(inc[0]
        .evidence
        .iter()
        .all(|e| e.signal == "national.low_and_slow.brute_force"));
}

#[test]
fn several_internal_hosts_sweeping_at_once_is_an_outbreak() {
    let mut v = background("health", 3, T0, 3, 40);
    for h in 0..4u32 {
        for i in 0..40u32 {
            v.push(flow(Flow {
                ms: T0 + 30_000 + i64::from(i) * 500 + i64::from(h),
                sector: "health",
                src: &format!("10.3.20.{}", 10 + h),
                dst: &format!("{}.{}.{}.{}", 40 + h, i, i + 1, 25),
                dport: 25,
                bytes: 60,
                packets: 1,
                flags: 0x02,
                ..Flow::default()
            }));
        }
    }
    let inc = run(&sorted(v));
    let outbreak = of_kind(&inc, IncidentKind::VolumeAnomaly);
    assert_eq!(outbreak.len(), 1, "{inc:#?}");
    assert_eq!(
        outbreak[0]
            .entities
            .iter()
            .filter(|e| e.role == "infected")
            .count(),
        4
    );
    // One finding naming the hosts, not a scan incident per host.
    assert!(of_kind(&inc, IncidentKind::PortScan).is_empty(), "{inc:#?}");
}

#[test]
fn different_attackers_in_different_sectors_stay_apart() {
    let mut v = Vec::new();
    for (s, (sector, attacker)) in [("energy", "203.0.113.1"), ("finance", "198.18.50.1")]
        .iter()
        .enumerate()
    {
        for i in 0..40u32 {
            v.push(flow(Flow {
                ms: T0 + i64::from(i) * 200,
                sector,
                src: attacker,
                dst: &ip(i, [10, s as u8 + 1]),
                dport: 23,
                bytes: 60,
                packets: 1,
                flags: 0x02,
                ..Flow::default()
            }));
        }
    }
    let inc = run(&sorted(v));
    assert_eq!(inc.len(), 2);
    assert!(inc.iter().all(|i| i.sectors.len() == 1));
}

#[test]
fn replaying_the_same_input_gives_the_same_incidents() {
    let mut v = background("energy", 1, T0, 10, 30);
    for i in 0..50u32 {
        v.push(flow(Flow {
            ms: T0 + 30_000 + i64::from(i) * 100,
            src: "203.0.113.9",
            dst: &ip(i, [10, 1]),
            dport: 80,
            bytes: 60,
            packets: 1,
            flags: 0x02,
            ..Flow::default()
        }));
    }
    let v = sorted(v);
    let a = serde_json::to_string(&run(&v)).unwrap();
    let b = serde_json::to_string(&run(&v)).unwrap();
    assert_eq!(a, b);
    assert!(a.contains("port_scan"));
}

#[test]
fn checkpoint_keeps_baselines_and_does_not_reopen_incidents() {
    let cfg = DetectorConfig::default();
    let mut scan = Vec::new();
    for i in 0..40u32 {
        scan.push(flow(Flow {
            ms: T0 + i64::from(i) * 100,
            src: "203.0.113.9",
            dst: &ip(i, [10, 1]),
            dport: 80,
            bytes: 60,
            packets: 1,
            flags: 0x02,
            ..Flow::default()
        }));
    }
    let mut d = Detector::new(cfg.clone()).unwrap();
    for e in &scan {
        d.observe(e);
    }
    // Push the watermark past the bin so the scan is reported.
    for e in background("energy", 1, T0 + 120_000, 1, 10) {
        d.observe(&e);
    }
    let first = d.take_changed();
    assert_eq!(first.len(), 1);
    let bytes = d.checkpoint().unwrap();

    let mut restored = Detector::restore(cfg, &bytes).unwrap();
    assert_eq!(restored.stats(), d.stats());
    // The same scanner again, a few minutes later: it updates the incident it had.
    for e in &scan {
        let mut e = e.clone();
        e.timestamp = Timestamp::from_millis(e.timestamp.millis() + 300_000);
        restored.observe(&e);
    }
    restored.flush();
    let again = restored.take_changed();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert!(again[0].signal_count > first[0].signal_count);
}

#[test]
fn memory_is_bounded_by_configuration_not_by_traffic() {
    let cfg = DetectorConfig {
        max_sources: 1000,
        max_destinations: 1000,
        max_pairs: 1000,
        max_beacon_pairs: 1000,
        ..DetectorConfig::default()
    };
    let mut d = Detector::new(cfg).unwrap();
    // 200 000 distinct sources in one minute.
    for i in 0..200_000u32 {
        let src = IpAddr::from([11, (i >> 16) as u8, (i >> 8) as u8, i as u8]).to_string();
        d.observe(&flow(Flow {
            ms: T0 + i64::from(i / 4),
            src: &src,
            dst: "10.1.0.1",
            dport: 80,
            ..Flow::default()
        }));
    }
    let bytes = d.checkpoint().unwrap().len();
    // Tables hold at most 1000 entries each; the checkpoint stays small.
    assert!(bytes < 8 << 20, "checkpoint is {bytes} bytes");
}

#[test]
fn a_sector_that_goes_quiet_still_gets_its_findings() {
    // Energy is scanned, then its feed stops; finance goes on for half an hour.
    let mut v = Vec::new();
    for i in 0..40u32 {
        v.push(flow(Flow {
            ms: T0 + i64::from(i) * 100,
            src: "203.0.113.9",
            dst: &ip(i, [10, 1]),
            dport: 80,
            bytes: 60,
            packets: 1,
            flags: 0x02,
            ..Flow::default()
        }));
    }
    v.extend(background("finance", 2, T0, 30, 5));
    let mut d = Detector::new(DetectorConfig::default()).unwrap();
    let mut seen = Vec::new();
    for e in &sorted(v) {
        d.observe(e);
        seen.extend(d.take_changed());
    }
    // Without flushing: the scan is reported from finance's event time moving on.
    assert!(
        seen.iter()
            .any(|i| i.kind == IncidentKind::PortScan && i.sectors == ["energy"]),
        "{seen:#?}"
    );
}

#[test]
fn a_delayed_but_active_feed_keeps_its_own_watermark() {
    // Transport's records arrive 20 minutes behind finance's, steadily: none is late.
    let mut d = Detector::new(DetectorConfig::default()).unwrap();
    for m in 0..60i64 {
        for e in background("finance", 2, T0 + m * 60_000, 1, 5) {
            d.observe(&e);
        }
        if m >= 20 {
            for e in background("transport", 4, T0 + (m - 20) * 60_000, 1, 5) {
                d.observe(&e);
            }
        }
    }
    assert_eq!(d.stats().late, 0);
}

#[test]
fn late_records_are_counted_not_used() {
    let mut d = Detector::new(DetectorConfig::default()).unwrap();
    d.observe(&flow(Flow {
        ms: T0 + 600_000,
        ..Flow::default()
    }));
    d.observe(&flow(Flow {
        ms: T0,
        ..Flow::default()
    }));
    assert_eq!(d.stats().late, 1);
    assert_eq!(d.stats().records, 2);
}

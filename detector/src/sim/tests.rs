use ncsoc_model::{Entity, Evidence, Incident, Severity, Status};

use super::*;

fn small(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        days: 1,
        warmup_days: 0,
        hosts_per_sector: 20,
        flows_per_host_per_hour: 30.0,
        ..SimConfig::default()
    }
}

#[test]
fn same_seed_same_events_and_truth() {
    let a = Simulator::new(small(3));
    let b = Simulator::new(small(3));
    assert_eq!(a.truth(), b.truth());
    let ta = a.truth().clone();
    let xs: Vec<Event> = a.take(200_000).collect();
    let ys: Vec<Event> = b.take(200_000).collect();
    assert!(xs.len() > 10_000, "{}", xs.len());
    assert_eq!(xs, ys);
    let c = Simulator::new(small(4));
    assert_ne!(c.truth(), &ta);
    let zs: Vec<Event> = c.take(1000).collect();
    assert_ne!(&zs[..], &xs[..1000]);
}

#[test]
fn timestamps_never_go_back_and_ids_are_unique() {
    let sim = Simulator::new(small(5));
    let mut last = Timestamp(i64::MIN);
    let mut ids = std::collections::HashSet::new();
    let mut n = 0;
    for e in sim {
        assert!(e.timestamp >= last, "{} after {}", e.timestamp, last);
        last = e.timestamp;
        if let Some(f) = &e.flow {
            assert_eq!(f.end, Some(e.timestamp));
            assert!(f.start.unwrap() <= e.timestamp);
        }
        assert!(ids.insert(e.id));
        n += 1;
    }
    assert!(n > 50_000, "{n}");
}

/// Office-hour peak, night trough, quiet weekend: counted on the flows of one office sector
/// over a whole week.
#[test]
fn diurnal_and_weekly_shape() {
    let cfg = SimConfig {
        sectors: vec!["finance".into()],
        hosts_per_sector: 20,
        attacks: false,
        dns_events: false,
        ..SimConfig::default()
    };
    let start = cfg.start.0;
    let mut per_hour = vec![0u64; 7 * 24];
    for e in Simulator::new(cfg) {
        // Only client-initiated background flows (skip polling, backups and the scanner).
        let from_client = matches!(e.fields.source_ip, Some(IpAddr::V4(v)) if v.octets()[2] >= 10);
        if from_client && e.fields.destination_port != Some(123) {
            per_hour[((e.timestamp.0 - start) / HOUR) as usize] += 1;
        }
    }
    let weekday_noon: u64 = (0..5).map(|d| per_hour[d * 24 + 11]).sum();
    let weekday_night: u64 = (0..5).map(|d| per_hour[d * 24 + 3]).sum();
    assert!(
        weekday_noon > 8 * weekday_night,
        "{weekday_noon} vs {weekday_night}"
    );
    let day_total = |d: usize| per_hour[d * 24..(d + 1) * 24].iter().sum::<u64>();
    assert!(
        day_total(5) * 2 < day_total(1),
        "{} vs {}",
        day_total(5),
        day_total(1)
    );
    assert!(day_total(6) * 2 < day_total(3));
}

#[test]
fn schedule_is_complete_and_leaves_quiet_days() {
    let sim = Simulator::new(SimConfig::default());
    let t = sim.truth();
    let n = t.attacks.len();
    assert!((40..=60).contains(&n), "{n} attacks");
    for kind in [
        IncidentKind::PortScan,
        IncidentKind::Ddos,
        IncidentKind::BruteForce,
        IncidentKind::Exfiltration,
        IncidentKind::Beaconing,
        IncidentKind::DnsTunnel,
        IncidentKind::VolumeAnomaly,
    ] {
        for i in Intensity::ALL {
            assert!(
                t.attacks
                    .iter()
                    .any(|a| a.kind == kind && a.intensity == i && !a.campaign),
                "{kind} {i:?} missing"
            );
        }
    }
    let campaigns: Vec<&Attack> = t.attacks.iter().filter(|a| a.campaign).collect();
    assert!(campaigns.len() >= 3);
    assert!(campaigns.iter().all(|a| a.sectors.len() >= 3));
    assert!(campaigns
        .iter()
        .any(|a| a.intensity == Intensity::Subtle && a.end.0 - a.start.0 >= 10 * HOUR));
    let warm_end = t.warmup_end();
    assert!(t
        .attacks
        .iter()
        .all(|a| a.start >= warm_end && a.end > a.start));
    for s in &t.sectors {
        let quiet = (t.warmup_days..t.days)
            .filter(|&d| {
                let d0 = t.start.0 + i64::from(d) * DAY;
                !t.attacks.iter().any(|a| {
                    a.sectors.contains(s) && a.start.0 < d0 + DAY && a.end.0 + 600 * NS > d0
                })
            })
            .count();
        assert!(quiet >= 1, "{s} has no attack-free day");
    }
    for kind in [
        "backup",
        "patch_day",
        "vuln_scanner",
        "ntp_polling",
        "flash_crowd",
    ] {
        assert!(t.benign.iter().any(|b| b.kind == kind), "{kind}");
    }
    assert!(t
        .benign
        .iter()
        .any(|b| b.kind == "vuln_scanner" && b.start < warm_end));
    // The truth survives JSON.
    let json = serde_json::to_string(t).unwrap();
    let back: GroundTruth = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, t);
}

/// The attacks in the truth are in the stream: scan probes from the scanner, beats to the
/// C2, tunnelled queries.
#[test]
fn attack_traffic_is_in_the_stream() {
    let cfg = SimConfig {
        hosts_per_sector: 30,
        flows_per_host_per_hour: 10.0,
        ..SimConfig::default()
    };
    let truth = Simulator::new(cfg.clone()).truth().clone();
    let pick = |f: &dyn Fn(&Attack) -> bool| truth.attacks.iter().find(|a| f(a)).unwrap().clone();
    let scan = pick(&|a| {
        a.kind == IncidentKind::PortScan && a.intensity == Intensity::Moderate && !a.campaign
    });
    let beacon = pick(&|a| a.kind == IncidentKind::Beaconing && a.intensity == Intensity::Strong);
    let tunnel = pick(&|a| a.kind == IncidentKind::DnsTunnel && a.intensity == Intensity::Moderate);
    for a in [scan, beacon, tunnel] {
        let mut sim = Simulator::new(cfg.clone());
        sim.seek(Timestamp(a.start.0 - MIN));
        let (mut syn_only, mut to_attacker, mut tunnel_q, mut before) = (0u64, 0u64, 0u64, 0u64);
        for e in sim.by_ref() {
            if e.timestamp.0 > a.end.0 + MIN {
                break;
            }
            let f = &e.fields;
            let involved = f.source_ip == a.attacker || f.destination_ip == a.attacker;
            if involved && e.timestamp < a.start {
                before += 1;
            }
            let flags = e.flow.as_ref().and_then(|x| x.tcp_flags).unwrap_or(0);
            if f.source_ip == a.attacker
                && a.attacker.is_some()
                && flags & SYN != 0
                && flags & ACK == 0
            {
                syn_only += 1;
            }
            if f.destination_ip == a.attacker && f.source_ip == a.victim && a.attacker.is_some() {
                to_attacker += 1;
            }
            if f.source_ip == a.victim
                && f.dns_question_name.as_deref().is_some_and(|n| n.len() > 50)
            {
                tunnel_q += 1;
            }
        }
        assert_eq!(before, 0, "{}", a.id);
        let secs = (a.end.0 - a.start.0) / NS;
        match a.kind {
            // ~1 probe/s; every probe starts with a SYN from the scanner.
            IncidentKind::PortScan => {
                assert!(
                    syn_only as i64 > secs * 8 / 10,
                    "{} probes in {secs} s",
                    syn_only
                )
            }
            // every 30 s ± 2 %.
            IncidentKind::Beaconing => {
                let beats = secs / 30;
                assert!(
                    (to_attacker as i64 - beats).abs() <= 2,
                    "{to_attacker} vs {beats}"
                )
            }
            _ => assert!(
                tunnel_q as i64 > secs * 8 / 10,
                "{tunnel_q} queries in {secs} s"
            ),
        }
    }
}

fn incident(
    kind: IncidentKind,
    sectors: &[&str],
    entities: &[IpAddr],
    from: Timestamp,
    to: Timestamp,
) -> Incident {
    Incident {
        id: format!("I-{}-{}", kind, from.0),
        title: format!("{kind} test"),
        kind,
        severity: Severity::High,
        score: 80,
        status: Status::New,
        sectors: sectors.iter().map(|s| s.to_string()).collect(),
        entities: entities
            .iter()
            .map(|ip| Entity {
                kind: "ip".into(),
                value: ip.to_string(),
                role: "attacker".into(),
            })
            .collect(),
        first_seen: from,
        last_seen: to,
        evidence: sectors
            .iter()
            .map(|s| Evidence {
                at: Timestamp(from.0 + 30 * NS),
                sector: s.to_string(),
                signal: "test".into(),
                description: String::new(),
                ..Evidence::default()
            })
            .collect(),
        attack: Vec::new(),
        assignee: None,
        notes: Vec::new(),
        tags: Vec::new(),
        dedup_key: String::new(),
        signal_count: 1,
        updated_at: Timestamp(0),
        merged_into: None,
        merged_from: Vec::new(),
        merged_signal_count: 0,
    }
}

fn perfect(truth: &GroundTruth) -> Vec<Incident> {
    truth
        .attacks
        .iter()
        .map(|a| {
            let sectors: Vec<&str> = a.sectors.iter().map(String::as_str).collect();
            let ents: Vec<IpAddr> = a.attacker.into_iter().chain(a.victim).collect();
            incident(a.kind, &sectors, &ents, a.start, a.end)
        })
        .collect()
}

#[test]
fn perfect_and_empty_incident_lists() {
    let truth = Simulator::new(SimConfig::default()).truth().clone();
    let s = score(&truth, &perfect(&truth));
    assert_eq!(s.detected, s.injected);
    assert_eq!(s.rate, 1.0);
    assert_eq!(s.subtle_rate, 1.0);
    assert_eq!(s.false_alarms, 0);
    assert!(s.unmatched_incidents.is_empty());
    assert_eq!(s.campaigns, s.campaigns_as_one_incident);
    assert!(s.campaigns >= 3);
    assert_eq!(s.median_delay_secs, Some(30.0));
    assert!(s.attack_free_sector_days >= truth.sectors.len());
    assert!(s.per_kind.iter().all(|k| k.rate == 1.0));
    let md = s.to_markdown();
    assert!(
        md.contains("| port_scan |") && md.contains("100.0 %"),
        "{md}"
    );

    let s = score(&truth, &[]);
    assert_eq!(s.detected, 0);
    assert_eq!(s.rate, 0.0);
    assert_eq!(s.missed.len(), truth.attacks.len());
    assert_eq!(s.median_delay_secs, None);
    assert_eq!(s.false_alarms_per_sector_day, 0.0);
}

#[test]
fn wrong_sector_time_or_entity_do_not_match() {
    let truth = Simulator::new(SimConfig::default()).truth().clone();
    let a = truth
        .attacks
        .iter()
        .find(|a| a.kind == IncidentKind::BruteForce && !a.campaign)
        .unwrap();
    let ents: Vec<IpAddr> = a.attacker.into_iter().chain(a.victim).collect();
    // A sector that has no attack at all on the attack's day.
    let day = (a.start.0 - truth.start.0) / DAY;
    let d0 = truth.start.0 + day * DAY;
    let quiet = truth
        .sectors
        .iter()
        .find(|s| {
            !truth
                .attacks
                .iter()
                .any(|x| x.sectors.contains(s) && x.start.0 < d0 + DAY && x.end.0 + 600 * NS > d0)
        })
        .expect("a quiet sector that day");
    let wrong_sector = incident(a.kind, &[quiet], &ents, a.start, a.end);
    let s = score(&truth, std::slice::from_ref(&wrong_sector));
    assert_eq!(s.detected, 0);
    assert_eq!(s.false_alarms, 1);
    assert_eq!(s.unmatched_incidents.len(), 1);

    let sector = a.sectors[0].as_str();
    let late = Timestamp(a.end.0 + 11 * MIN);
    let wrong_time = incident(a.kind, &[sector], &ents, late, Timestamp(late.0 + MIN));
    let wrong_kind = incident(IncidentKind::Beaconing, &[sector], &ents, a.start, a.end);
    let wrong_entity = incident(
        a.kind,
        &[sector],
        &["198.51.100.7".parse().unwrap()],
        a.start,
        a.end,
    );
    let wide = {
        let mut i = incident(a.kind, &[sector], &[], a.start, a.end);
        i.entities.push(Entity {
            kind: "cidr".into(),
            value: "0.0.0.0/0".into(),
            role: "x".into(),
        });
        i
    };
    let s = score(&truth, &[wrong_time, wrong_kind, wrong_entity, wide]);
    assert_eq!(s.detected, 0, "{:?}", s.unmatched_incidents);
    assert_eq!(s.unmatched_incidents.len(), 4);

    // Within the grace period and named by its /24 it matches.
    let victim = a.victim.unwrap();
    let IpAddr::V4(v) = victim else {
        unreachable!()
    };
    let o = v.octets();
    let mut near = incident(
        a.kind,
        &[sector],
        &[],
        Timestamp(a.end.0 + 9 * MIN),
        Timestamp(a.end.0 + 9 * MIN),
    );
    near.entities.push(Entity {
        kind: "cidr".into(),
        value: format!("{}.{}.{}.0/24", o[0], o[1], o[2]),
        role: "victim".into(),
    });
    let s = score(&truth, &[near]);
    assert_eq!(s.detected, 1);

    // Alarms in the warm-up are counted apart.
    let w = Timestamp(truth.start.0 + 3 * HOUR);
    let s = score(
        &truth,
        &[incident(IncidentKind::PortScan, &[sector], &[], w, w)],
    );
    assert_eq!((s.false_alarms, s.warmup_alarms), (0, 1));
}

#[test]
fn campaign_split_per_sector_is_detected_but_not_as_one() {
    let truth = Simulator::new(SimConfig::default()).truth().clone();
    let c = truth.attacks.iter().find(|a| a.campaign).unwrap();
    let per_sector: Vec<Incident> = c
        .sectors
        .iter()
        .map(|s| {
            incident(
                c.kind,
                &[s.as_str()],
                &[c.attacker.unwrap()],
                c.start,
                c.end,
            )
        })
        .collect();
    let only: GroundTruth = GroundTruth {
        attacks: vec![c.clone()],
        ..truth.clone()
    };
    let s = score(&only, &per_sector);
    assert_eq!(
        (s.detected, s.campaigns, s.campaigns_as_one_incident),
        (1, 1, 0)
    );
    let all: Vec<&str> = c.sectors.iter().map(String::as_str).collect();
    let one = incident(
        IncidentKind::Campaign,
        &all,
        &[c.attacker.unwrap()],
        c.start,
        c.end,
    );
    let s = score(&only, &[one]);
    assert_eq!((s.detected, s.campaigns_as_one_incident), (1, 1));
}

/// The benign traps are in the stream: tens of GB of nightly backup to one external host,
/// the vulnerability scanner's sweep, the patch-day downloads.
#[test]
fn benign_traps_are_in_the_stream() {
    let cfg = SimConfig {
        days: 3,
        hosts_per_sector: 100,
        flows_per_host_per_hour: 10.0,
        ..SimConfig::default()
    };
    let truth = Simulator::new(cfg.clone()).truth().clone();
    let find = |kind: &str| {
        truth
            .benign
            .iter()
            .find(|b| b.kind == kind && b.sector == "energy")
            .unwrap()
            .clone()
    };
    for b in [find("backup"), find("vuln_scanner"), find("patch_day")] {
        let mut sim = Simulator::new(cfg.clone());
        sim.seek(b.start);
        let (mut bytes, mut probes) = (0u64, 0u64);
        for e in sim.by_ref() {
            if e.timestamp > b.end {
                break;
            }
            let f = &e.fields;
            if e.sector != "energy" {
                continue;
            }
            match b.kind.as_str() {
                "backup" if f.source_ip == Some(b.host) && f.destination_ip == b.peer => {
                    bytes += f.network_bytes.unwrap_or(0)
                }
                "patch_day" if f.source_ip == Some(b.host) => bytes += f.network_bytes.unwrap_or(0),
                "vuln_scanner" if f.source_ip == Some(b.host) => probes += 1,
                _ => {}
            }
        }
        match b.kind.as_str() {
            "backup" => assert!(bytes > 10_000_000_000, "backup {bytes}"),
            "patch_day" => assert!(bytes > 20_000_000_000, "patch {bytes}"),
            // Every port of every address of 10.1.1.0/24 and 10.1.10.0/24 but its own, once.
            _ => assert_eq!(probes, (2 * 254 - 1) * 24, "scanner"),
        }
    }
}

#[test]
fn lumping_everything_into_one_incident_is_visible() {
    let truth = Simulator::new(SimConfig::default()).truth().clone();
    let a = truth
        .attacks
        .iter()
        .find(|a| a.kind == IncidentKind::PortScan)
        .unwrap();
    let ents: Vec<IpAddr> = truth
        .attacks
        .iter()
        .filter(|x| x.kind == IncidentKind::PortScan)
        .flat_map(|x| x.attacker.into_iter().chain(x.victim))
        .collect();
    let sectors: Vec<&str> = truth.sectors.iter().map(String::as_str).collect();
    let end = Timestamp(truth.start.0 + i64::from(truth.days) * DAY);
    let blob = incident(a.kind, &sectors, &ents, a.start, end);
    let s = score(&truth, &[blob]);
    assert!(s.detected > 1);
    assert_eq!(s.incidents_matching_several_attacks, 1);
}

#[test]
fn short_runs_still_get_attacks_and_quiet_sectors() {
    let cfg = SimConfig {
        days: 3,
        ..SimConfig::default()
    };
    let t = Simulator::new(cfg).truth().clone();
    assert!(t.attacks.len() >= 10, "{}", t.attacks.len());
    let s = score(&t, &[]);
    assert!(s.attack_free_sector_days >= 2);
    let none = Simulator::new(SimConfig {
        attacks: false,
        ..SimConfig::default()
    });
    assert!(none.truth().attacks.is_empty());
    assert_eq!(score(none.truth(), &[]).attack_free_sector_days, 25);
}

/// Every attack in the truth leaves traffic in the stream, all of it inside its extent:
/// external attackers are silent outside `[start, end)`.
#[test]
fn every_attack_is_in_the_stream_within_its_extent() {
    let cfg = SimConfig {
        hosts_per_sector: 10,
        flows_per_host_per_hour: 5.0,
        ..SimConfig::default()
    };
    let truth = Simulator::new(cfg.clone()).truth().clone();
    for a in &truth.attacks {
        let mut sim = Simulator::new(cfg.clone());
        sim.seek(Timestamp(a.start.0 - 2 * MIN));
        let external = a
            .attacker
            .filter(|ip| matches!(ip, IpAddr::V4(v) if !v.is_private()));
        let (mut inside, mut outside) = (0u64, 0u64);
        for e in sim.by_ref() {
            if e.timestamp.0 > a.end.0 + 2 * MIN {
                break;
            }
            let f = &e.fields;
            let hit = match a.kind {
                IncidentKind::VolumeAnomaly => {
                    a.sectors.contains(&e.sector) && f.destination_port == Some(25) && {
                        matches!(f.source_ip, Some(IpAddr::V4(v)) if v.is_private())
                    }
                }
                IncidentKind::Ddos => f.destination_ip == a.victim && f.source_port != Some(443),
                _ => {
                    let addrs = [a.attacker, a.victim];
                    addrs.contains(&f.source_ip) && addrs.contains(&f.destination_ip)
                        || (a.kind == IncidentKind::DnsTunnel
                            && f.source_ip == a.victim
                            && f.dns_question_name.as_deref().is_some_and(|n| n.len() > 40))
                        || (external.is_some()
                            && (f.source_ip == external || f.destination_ip == external))
                }
            };
            let within = e.timestamp >= a.start && e.timestamp < a.end;
            if hit && within {
                inside += 1;
            }
            let silent_outside = f.source_ip == external || f.destination_ip == external;
            if external.is_some() && silent_outside && !within {
                outside += 1;
            }
        }
        assert!(inside > 0, "{}: no traffic", a.id);
        assert_eq!(outside, 0, "{}: traffic outside its extent", a.id);
    }
}

//! Indicator matches in the detector: a hit opens an `ioc_match` incident carrying the
//! indicator, its source and TLP; the same indicator in more sectors is one national
//! incident whose severity rises; expired indicators stay silent.

use std::sync::Arc;

use ncsoc_detector::{Detector, DetectorConfig};
use ncsoc_intel::IndicatorSet;
use ncsoc_model::{
    Event, FlowRecord, IncidentKind, Indicator, IndicatorKind, Severity, Timestamp, Tlp,
};

fn ind(id: &str, kind: IndicatorKind, value: &str, tlp: Tlp, confidence: Option<u8>) -> Indicator {
    Indicator {
        id: id.into(),
        kind,
        value: value.into(),
        source: "CERT-Example".into(),
        confidence,
        valid_from: Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
        valid_until: Some(Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap()),
        tlp,
        labels: vec![],
        description: Some("C2 of campaign X".into()),
    }
}

fn flow(n: u32, sector: &str, at: &str, src: &str, dst: &str) -> Event {
    let mut e = Event::new(
        format!("{sector}-{n}"),
        Timestamp::parse_rfc3339(at).unwrap(),
        sector,
        "netflow",
    );
    e.fields.source_ip = Some(src.parse().unwrap());
    e.fields.destination_ip = Some(dst.parse().unwrap());
    e.fields.source_port = Some(50000);
    e.fields.destination_port = Some(443);
    e.fields.network_transport = Some("tcp".into());
    e.fields.network_bytes = Some(1200);
    e.fields.network_packets = Some(8);
    e.flow = Some(Box::new(FlowRecord::default()));
    e
}

fn detector(indicators: Vec<Indicator>) -> Detector {
    let mut d = Detector::new(DetectorConfig::default()).unwrap();
    d.set_indicators(Some(Arc::new(IndicatorSet::build(indicators))));
    d
}

#[test]
fn one_indicator_in_three_sectors_is_one_national_incident_that_escalates() {
    let mut d = detector(vec![ind(
        "stix-1",
        IndicatorKind::Cidr,
        "203.0.113.0/24",
        Tlp::Amber,
        Some(70),
    )]);
    d.observe(&flow(
        1,
        "energy",
        "2026-03-01T10:00:00Z",
        "10.1.0.5",
        "203.0.113.9",
    ));
    let first = d.take_changed();
    assert_eq!(first.len(), 1);
    let inc = &first[0];
    assert_eq!(inc.kind, IncidentKind::IocMatch);
    assert_eq!(inc.sectors, ["energy"]);
    assert_eq!(inc.score, 72);
    assert_eq!(inc.severity, Severity::High);
    let ev = &inc.evidence[0];
    assert_eq!(ev.indicator.as_deref(), Some("stix-1 (203.0.113.0/24)"));
    assert_eq!(ev.tlp, Some(Tlp::Amber));
    assert_eq!(ev.signal, "ioc");
    assert!(ev.description.contains("destination.ip 203.0.113.9 matched cidr indicator 203.0.113.0/24 from CERT-Example (TLP:AMBER, confidence 70)"), "{}", ev.description);
    assert_eq!(ev.sample_event_ids, ["energy-1"]);
    assert!(inc
        .entities
        .iter()
        .any(|e| e.value == "203.0.113.9" && e.role == "indicator"));
    assert!(inc
        .entities
        .iter()
        .any(|e| e.value == "10.1.0.5" && e.role == "affected"));

    d.observe(&flow(
        2,
        "finance",
        "2026-03-01T10:05:00Z",
        "10.2.0.7",
        "203.0.113.10",
    ));
    d.observe(&flow(
        3,
        "health",
        "2026-03-01T10:09:00Z",
        "203.0.113.77",
        "10.3.0.1",
    ));
    let all = d.take_changed();
    assert_eq!(all.len(), 1, "{all:#?}");
    let inc = &all[0];
    assert_eq!(inc.id, first[0].id);
    assert_eq!(inc.sectors, ["energy", "finance", "health"]);
    assert!(inc.score > first[0].score);
    assert_eq!(inc.severity, Severity::Critical);
    assert!(inc.title.starts_with("National"), "{}", inc.title);
    // The health record came from the indicator: its host is the target.
    assert!(inc
        .entities
        .iter()
        .any(|e| e.value == "10.3.0.1" && e.role == "target"));
    assert_eq!(d.indicator_stats(), (1, 3));
}

#[test]
fn repeats_within_a_minute_are_counted_not_reported() {
    let mut d = detector(vec![ind(
        "i",
        IndicatorKind::Ipv4,
        "198.51.100.1",
        Tlp::Green,
        None,
    )]);
    for s in 0..50 {
        d.observe(&flow(
            s,
            "energy",
            &format!("2026-03-01T10:00:{s:02}Z"),
            "10.1.0.5",
            "198.51.100.1",
        ));
    }
    let inc = d.take_changed();
    assert_eq!(inc.len(), 1);
    assert_eq!(inc[0].signal_count, 1);
    d.observe(&flow(
        99,
        "energy",
        "2026-03-01T10:01:30Z",
        "10.1.0.5",
        "198.51.100.1",
    ));
    let inc = d.take_changed();
    assert_eq!(inc[0].signal_count, 2);
    assert_eq!(d.indicator_stats().1, 51);
}

#[test]
fn expired_and_future_indicators_do_not_match() {
    let mut d = detector(vec![ind(
        "i",
        IndicatorKind::Ipv4,
        "198.51.100.1",
        Tlp::Green,
        None,
    )]);
    d.observe(&flow(
        1,
        "energy",
        "2025-12-31T23:59:59Z",
        "10.1.0.5",
        "198.51.100.1",
    ));
    d.observe(&flow(
        2,
        "energy",
        "2026-06-01T00:00:00Z",
        "10.1.0.5",
        "198.51.100.1",
    ));
    assert!(d.take_changed().is_empty());
    assert_eq!(d.indicator_stats().1, 0);
}

#[test]
fn names_urls_and_hashes_in_events_match() {
    let mut d = detector(vec![
        ind(
            "d",
            IndicatorKind::Domain,
            "evil.example",
            Tlp::Red,
            Some(90),
        ),
        ind(
            "h",
            IndicatorKind::Sha256,
            &"ab".repeat(32),
            Tlp::Clear,
            Some(50),
        ),
    ]);
    let mut e = Event::new(
        "dns-1",
        Timestamp::parse_rfc3339("2026-03-01T10:00:00Z").unwrap(),
        "transport",
        "dns",
    );
    e.fields.source_ip = Some("10.9.0.1".parse().unwrap());
    e.fields.dns_question_name = Some("x.y.EVIL.example".into());
    d.observe(&e);
    let mut p = Event::new(
        "edr-1",
        Timestamp::parse_rfc3339("2026-03-01T10:00:00Z").unwrap(),
        "transport",
        "edr",
    );
    p.set("file.hash.sha256", "AB".repeat(32).into()).unwrap();
    d.observe(&p);
    let inc = d.take_changed();
    assert_eq!(inc.len(), 2, "{inc:#?}");
    assert_eq!(inc[0].evidence[0].tlp, Some(Tlp::Red));
    assert_eq!(inc[0].score, 84);
    assert!(inc[0].evidence[0]
        .description
        .starts_with("dns.question.name x.y.EVIL.example matched domain indicator evil.example"));
    assert!(inc[1].evidence[0]
        .description
        .starts_with("file.hash.sha256 "));
}

#[test]
fn same_input_same_incidents() {
    let run = || {
        let mut d = detector(vec![ind(
            "i",
            IndicatorKind::Ipv4,
            "198.51.100.1",
            Tlp::Green,
            Some(10),
        )]);
        for s in 0..5 {
            d.observe(&flow(
                s,
                ["a", "b"][s as usize % 2],
                &format!("2026-03-01T10:0{s}:00Z"),
                "10.1.0.5",
                "198.51.100.1",
            ));
        }
        serde_json::to_string(&d.take_changed()).unwrap()
    };
    assert_eq!(run(), run());
}

#[test]
fn red_and_amber_strict_material_stays_in_the_sector_it_was_seen_in() {
    let mut d = detector(vec![
        ind(
            "red",
            IndicatorKind::Ipv4,
            "203.0.113.9",
            Tlp::Red,
            Some(80),
        ),
        ind(
            "strict",
            IndicatorKind::Domain,
            "c2.example",
            Tlp::AmberStrict,
            Some(80),
        ),
        ind(
            "green",
            IndicatorKind::Cidr,
            "203.0.113.0/24",
            Tlp::Green,
            Some(80),
        ),
    ]);
    // The red address is also in a green prefix: energy gets one restricted incident
    // (both hits, same sector), finance its own, health its own.
    d.observe(&flow(
        1,
        "energy",
        "2026-03-01T10:00:00Z",
        "10.1.0.5",
        "203.0.113.9",
    ));
    d.observe(&flow(
        2,
        "finance",
        "2026-03-01T10:01:00Z",
        "10.2.0.5",
        "203.0.113.9",
    ));
    let mut dns = Event::new(
        "dns-1",
        Timestamp::parse_rfc3339("2026-03-01T10:02:00Z").unwrap(),
        "health",
        "dns",
    );
    dns.fields.source_ip = Some("10.3.0.1".parse().unwrap());
    dns.fields.dns_question_name = Some("c2.example".into());
    d.observe(&dns);
    let mut incidents = d.take_changed();
    incidents.sort_by(|a, b| a.sectors.cmp(&b.sectors).then(a.id.cmp(&b.id)));
    for inc in &incidents {
        assert_eq!(inc.sectors.len(), 1, "{inc:#?}");
        if inc
            .evidence
            .iter()
            .any(|e| matches!(e.tlp, Some(Tlp::Red | Tlp::AmberStrict)))
        {
            assert!(inc.evidence.iter().all(|e| e.sector == inc.sectors[0]));
        }
    }
    let sectors: Vec<&str> = incidents.iter().map(|i| i.sectors[0].as_str()).collect();
    assert_eq!(sectors, ["energy", "finance", "health"], "{incidents:#?}");
    // In energy and finance, the red and the green hit on the same address are one incident.
    assert_eq!(incidents[0].evidence.len(), 2);
    assert_eq!(incidents[1].evidence.len(), 2);
    // Green material from several sectors still joins: a second green-only address.
    d.observe(&flow(
        3,
        "energy",
        "2026-03-01T10:03:00Z",
        "10.1.0.6",
        "203.0.113.50",
    ));
    d.observe(&flow(
        4,
        "health",
        "2026-03-01T10:04:00Z",
        "10.3.0.6",
        "203.0.113.51",
    ));
    let national: Vec<_> = d
        .take_changed()
        .into_iter()
        .filter(|i| i.sectors.len() > 1)
        .collect();
    assert_eq!(national.len(), 1);
    assert!(national[0]
        .evidence
        .iter()
        .all(|e| e.tlp == Some(Tlp::Green)));
}

//! Synthetic events and flows for tests and benchmarks: deterministic for a seed, spread
//! over sectors and days, with every kind of column filled in some rows.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ncsoc_model::{id, Event, FlowRecord, Timestamp};
use serde_json::Value;

pub const SECTORS: &[&str] = &["energy", "finance", "health", "transport", "government"];

/// Sector of row `i`.
pub fn sector(i: u64) -> &'static str {
    SECTORS[(i % SECTORS.len() as u64) as usize]
}

/// Whether row `i` is a flow: one in five, spread evenly over the sectors.
pub fn is_flow(i: u64) -> bool {
    (i / 5).is_multiple_of(5)
}

/// The `i`-th synthetic row of a run tagged `tag`; one in five is a flow ([`is_flow`]). Its id is derived
/// from (tag, i), so a test can rebuild any row to compare with what was stored.
pub fn event(tag: &str, i: u64, start: Timestamp) -> Event {
    // Spread over three days so several day partitions are written.
    let ts =
        Timestamp(start.nanos() + (i as i64 % 259_200) * 1_000_000_000 + (i as i64 % 1000) * 1_000);
    let sector = sector(i);
    let mut e = Event::new(
        id::id_from_parts(ts, &[tag.as_bytes(), &i.to_le_bytes()]),
        ts,
        sector,
        format!("{sector}-siem"),
    );
    let f = &mut e.fields;
    f.created = Some(Timestamp(ts.nanos() + 1_500_000));
    f.kind = Some("event".into());
    f.category = vec!["network".into()];
    f.r#type = vec!["connection".into(), "start".into()];
    f.source_ip = Some(IpAddr::V4(Ipv4Addr::from(
        0x0a00_0000 | (i as u32 % 65_536),
    )));
    f.destination_ip = Some(if i.is_multiple_of(7) {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0,
            0,
            0,
            0,
            (i >> 16) as u16,
            i as u16,
        ))
    } else {
        IpAddr::V4(Ipv4Addr::from(0xc633_6400 | (i as u32 % 256)))
    });
    f.source_port = Some(1024 + (i % 60_000) as u16);
    f.destination_port = Some([22, 53, 80, 443, 3389][(i % 5) as usize]);
    f.network_transport = Some(if i.is_multiple_of(3) { "udp" } else { "tcp" }.into());
    if is_flow(i) {
        f.network_bytes = Some(1_000 + i % 100_000);
        f.network_packets = Some(1 + i % 100);
        e.flow = Some(Box::new(FlowRecord {
            exporter: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, (i % 8) as u8))),
            observation_domain: Some(1),
            version: Some("ipfix".into()),
            sampling_rate: Some(if i.is_multiple_of(2) { 1 } else { 100 }),
            bytes_raw: Some(10 + i % 1_000),
            packets_raw: Some(1 + i % 10),
            start: Some(ts),
            end: Some(Timestamp(ts.nanos() + 30_000_000_000)),
            tcp_flags: Some((i % 64) as u8),
            input_interface: Some(3),
            output_interface: Some(4),
        }));
    } else {
        f.action = Some(["accept", "deny", "login", "alert"][(i % 4) as usize].into());
        f.outcome = Some(
            if i.is_multiple_of(11) {
                "failure"
            } else {
                "success"
            }
            .into(),
        );
        f.severity = Some((i % 10) as i64);
        f.observer_vendor = Some("Acme".into());
        f.observer_product = Some("Firewall".into());
        f.host_name = Some(format!("fw-{}", i % 50));
        f.user_name = i.is_multiple_of(13).then(|| format!("user{}", i % 1000));
        f.original = Some(format!(
            "<134>Nov 27 10:00:00 fw-{} acme: action={} src=10.0.{}.{} dport={} seq={i}",
            i % 50,
            i % 4,
            (i >> 8) % 256,
            i % 256,
            i % 5
        ));
        e.extra
            .insert("log.syslog.priority".into(), Value::from(134));
        if i.is_multiple_of(17) {
            e.extra.insert(
                "cef.extensions.deviceCustomString1".into(),
                Value::from(format!("label-{i}")),
            );
        }
    }
    e
}

use super::*;

fn ctx() -> Context {
    Context {
        sector: "finance".into(),
        source: "bank-soc".into(),
        now: Timestamp::parse_rfc3339("2024-06-15T12:00:00Z").unwrap(),
        default_offset_secs: 0,
    }
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn attrs<'m>(m: &'m Message<'_>) -> Vec<(&'m str, &'m str)> {
    m.attributes.iter().map(|(k, v)| (*k, v.as_ref())).collect()
}

#[test]
fn leef1_tabs() {
    let m = parse(
        b"LEEF:1.0|Microsoft|MSExchange|2013 SP1|15345|src=10.50.1.1\tdst=2.10.20.20\tspt=1200\tmsg=a=b c",
        &ctx(),
    )
    .unwrap();
    assert_eq!(m.version, "1.0");
    assert_eq!(m.vendor, "Microsoft");
    assert_eq!(m.product, "MSExchange");
    assert_eq!(m.product_version, "2013 SP1");
    assert_eq!(m.event_id, "15345");
    assert_eq!(m.delimiter, Delimiter::Char('\t'));
    assert_eq!(m.delimiter_field, None);
    assert_eq!(
        attrs(&m),
        [
            ("src", "10.50.1.1"),
            ("dst", "2.10.20.20"),
            ("spt", "1200"),
            ("msg", "a=b c")
        ]
    );
    assert_eq!(m.get("dst"), Some("2.10.20.20"));
}

#[test]
fn leef1_pipe_delimited_pan_os() {
    let m = parse(
        b"<14>Sep 17 13:45:35 fw LEEF:1.0|Palo Alto Networks|PAN-OS Syslog Integration|11.1.6|allow|cat=TRAFFIC|src=172.19.50.39|usrName=|proto=tcp|TunnelType=N/A\tenrichment_section: fromhost-ip=10.1.1.1\n",
        &ctx(),
    )
    .unwrap();
    assert_eq!(m.delimiter, Delimiter::Char('|'));
    assert_eq!(m.event_id, "allow");
    assert_eq!(
        attrs(&m),
        [
            ("cat", "TRAFFIC"),
            ("src", "172.19.50.39"),
            ("usrName", ""),
            ("proto", "tcp"),
            (
                "TunnelType",
                "N/A\tenrichment_section: fromhost-ip=10.1.1.1"
            ),
        ]
    );
    assert_eq!(m.syslog.as_ref().unwrap().hostname, Some("fw"));
}

#[test]
fn leef1_space_delimited() {
    let m = parse(
        b"LEEF:1.0|V|P|1|E|src=1.2.3.4 msg=two words dst=5.6.7.8",
        &ctx(),
    )
    .unwrap();
    assert_eq!(m.delimiter, Delimiter::Spaces);
    assert_eq!(
        attrs(&m),
        [("src", "1.2.3.4"), ("msg", "two words"), ("dst", "5.6.7.8")]
    );
}

#[test]
fn leef2_delimiters() {
    for (field, want) in [
        ("^", '^'),
        ("0x5e", '^'),
        ("x5e", '^'),
        ("\\x5e", '^'),
        ("0X5E", '^'),
        ("0x09", '\t'),
        ("", '\t'),
        ("0x00A6", '¦'),
    ] {
        assert_eq!(parse_delimiter(field), Some(want), "{field}");
        let d = want.to_string();
        let raw = format!(
            "LEEF:2.0|Lancope|StealthWatch|1.0|41|{field}|src=10.0.1.8{d}dst=10.0.0.5{d}sev=5{d}"
        );
        let m = parse(raw.as_bytes(), &ctx()).unwrap();
        assert_eq!(m.version, "2.0");
        assert_eq!(m.delimiter, Delimiter::Char(want), "{field}");
        assert_eq!(m.delimiter_field, Some(field));
        assert_eq!(
            attrs(&m),
            [("src", "10.0.1.8"), ("dst", "10.0.0.5"), ("sev", "5")],
            "{field}"
        );
    }
    for bad in ["0x", "0xZZ", "0x12345", "ab", "x3d"] {
        assert_eq!(parse_delimiter(bad), None, "{bad}");
    }
    let e = parse(b"LEEF:2.0|V|P|1|E|zz|a=b", &ctx()).unwrap_err();
    assert_eq!((e.field, e.offset), ("delimiter", 17));
    // The pipe itself as delimiter.
    let m = parse(b"LEEF:2.0|V|P|1|E|||a=1|b=2", &ctx()).unwrap();
    assert_eq!(m.delimiter, Delimiter::Char('|'));
    assert_eq!(attrs(&m), [("a", "1"), ("b", "2")]);
    // A 2.0 header without delimiter field: attributes follow with tabs.
    let m = parse(b"LEEF:2.0|V|P|1|E|a=1\tb=2", &ctx()).unwrap();
    assert_eq!(m.delimiter_field, None);
    assert_eq!(attrs(&m), [("a", "1"), ("b", "2")]);
}

#[test]
fn delimiter_inside_a_value_stays() {
    let m = parse(b"LEEF:2.0|V|P|1|E|^|msg=up^down^src=1.1.1.1^", &ctx()).unwrap();
    assert_eq!(attrs(&m), [("msg", "up^down"), ("src", "1.1.1.1")]);
}

#[test]
fn errors() {
    let e = parse(b"LEEF:3.0|V|P|1|E|a=b", &ctx()).unwrap_err();
    assert_eq!((e.field, e.offset), ("version", 5));
    let e = parse(b"LEEF:1.0|V|P", &ctx()).unwrap_err();
    assert_eq!((e.field, e.offset), ("product", 12));
    let e = parse(b"LEEF:1.0|V|P|1|E|novalue\ta=b", &ctx()).unwrap_err();
    assert_eq!((e.field, e.offset), ("attribute", 17));
    let e = parse(b"no leef here", &ctx()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid LEEF header at byte 0: expected 'LEEF:'"
    );
    // Header only is fine.
    let m = parse(b"LEEF:1.0|V|P|1|E|", &ctx()).unwrap();
    assert!(m.attributes.is_empty());
}

#[test]
fn ecs_mapping() {
    let c = ctx();
    let raw: &[u8] = b"<14>Jun 15 11:59:00 fw LEEF:1.0|Palo Alto Networks|PAN-OS Syslog Integration|11.1.6-h14|deny|cat=TRAFFIC|devTime=Jun 15 2024 09:58:37 GMT|src=172.39.129.169|dst=172.224.141.39|srcPostNAT=198.51.100.1|srcPostNATPort=4500|usrName=corp\\alice|srcPort=63219|dstPort=3367|proto=tcp|action=deny|dstBytes=70|srcBytes=390|srcPackets=3|dstPackets=1|sev=4|srcMAC=00:11:22:33:44:55|policy=interzone-default|url=http://x/|SessionID=0|empty=";
    let m = parse(raw, &c).unwrap();
    let e = to_event(&m, raw, &c);
    assert_eq!(e.timestamp, ts("2024-06-15T09:58:37Z"));
    assert_eq!(e.extra["leef.version"], "1.0");
    assert_eq!(e.extra["leef.device.vendor"], "Palo Alto Networks");
    assert_eq!(e.extra["leef.device.product"], "PAN-OS Syslog Integration");
    assert_eq!(e.extra["leef.device.version"], "11.1.6-h14");
    assert_eq!(e.extra["leef.event_id"], "deny");
    assert_eq!(e.extra["event.code"], "deny");
    assert_eq!(
        e.fields.observer_vendor.as_deref(),
        Some("Palo Alto Networks")
    );
    assert_eq!(e.fields.observer_version.as_deref(), Some("11.1.6-h14"));
    assert_eq!(e.fields.source_ip, Some("172.39.129.169".parse().unwrap()));
    assert_eq!(
        e.fields.destination_ip,
        Some("172.224.141.39".parse().unwrap())
    );
    assert_eq!(e.fields.source_port, Some(63219));
    assert_eq!(e.fields.destination_port, Some(3367));
    assert_eq!(e.extra["source.nat.ip"], "198.51.100.1");
    assert_eq!(e.extra["source.nat.port"], 4500);
    assert_eq!(e.fields.user_name.as_deref(), Some("corp\\alice"));
    assert_eq!(e.fields.network_transport.as_deref(), Some("tcp"));
    assert_eq!(e.fields.action.as_deref(), Some("deny"));
    assert_eq!(e.fields.severity, Some(4));
    assert_eq!(e.extra["source.bytes"], 390);
    assert_eq!(e.extra["destination.bytes"], 70);
    assert_eq!(e.fields.network_bytes, Some(460));
    assert_eq!(e.fields.network_packets, Some(4));
    assert_eq!(e.extra["source.mac"], "00:11:22:33:44:55");
    assert_eq!(e.fields.rule_name.as_deref(), Some("interzone-default"));
    assert_eq!(e.fields.url_original.as_deref(), Some("http://x/"));
    assert_eq!(e.extra["leef.attributes.SessionID"], "0");
    assert_eq!(e.extra["leef.attributes.cat"], "TRAFFIC");
    assert!(!e.extra.contains_key("leef.attributes.empty"));
    assert_eq!(e.fields.host_name.as_deref(), Some("fw"));
    assert_eq!(e.extra["log.syslog.priority"], 14);
    assert_eq!(
        (e.sector.as_str(), e.source.as_str()),
        ("finance", "bank-soc")
    );
    assert_eq!(
        e.fields.original.as_deref(),
        Some(std::str::from_utf8(raw).unwrap())
    );
    assert_eq!(to_event(&m, raw, &c).id, e.id);
}

#[test]
fn dev_time_formats_and_fallbacks() {
    let c = ctx();
    let at = |raw: &str| parse_event(raw.as_bytes(), &c).unwrap().timestamp;
    assert_eq!(
        at("LEEF:1.0|V|P|1|E|devTime=2024-06-01 10:11:12.345\tdevTimeFormat=yyyy-MM-dd HH:mm:ss.SSS"),
        ts("2024-06-01T10:11:12.345Z")
    );
    // The format may come before or after the time.
    assert_eq!(
        at("LEEF:2.0|V|P|1|E|^|devTimeFormat=dd/MM/yyyy HH:mm:ss Z^devTime=01/06/2024 10:11:12 +0200"),
        ts("2024-06-01T08:11:12Z")
    );
    assert_eq!(
        at("LEEF:1.0|V|P|1|E|devTime=1717236672000\tdevTimeFormat=yyyy"),
        ts("2024-06-01T10:11:12Z")
    );
    assert_eq!(
        at("LEEF:1.0|V|P|1|E|devTime=Jun 01 2024 10:11:12"),
        ts("2024-06-01T10:11:12Z")
    );
    assert_eq!(
        at("<13>Jun 15 10:00:00 h LEEF:1.0|V|P|1|E|devTime=garbage"),
        ts("2024-06-15T10:00:00Z")
    );
    assert_eq!(at("LEEF:1.0|V|P|1|E|sev=1"), c.now);
    // proto numbers become names; cat stands in for a missing action.
    let e = parse_event(
        b"LEEF:1.0|V|P|1|E|proto=17\tcat=Firewall Deny\ttotalBytes=9\tsrcBytes=1",
        &c,
    )
    .unwrap();
    assert_eq!(e.fields.network_transport.as_deref(), Some("udp"));
    assert_eq!(e.fields.action.as_deref(), Some("Firewall Deny"));
    assert_eq!(e.fields.network_bytes, Some(9));
}

/// Fuzz-style: random and mutated inputs must never panic.
#[test]
fn random_inputs_never_panic() {
    let seeds: [&[u8]; 3] = [
        b"LEEF:1.0|Microsoft|MSExchange|2013 SP1|15345|src=10.50.1.1\tdst=2.10.20.20\tsev=5",
        b"<14>Sep 17 13:45:35 fw LEEF:1.0|PAN|PAN-OS|11|allow|cat=TRAFFIC|src=1.2.3.4|devTime=Sep 17 2025 11:45:34 GMT",
        b"LEEF:2.0|V|P|1|E|0x5e|a=1^devTimeFormat=yyyy-MM-dd'T'HH:mm:ss^devTime=2024-01-01T00:00:00",
    ];
    let alphabet = b"LEF:0.12|^\t= xyab\\'\xc2\xa6\xff";
    let mut state: u64 = 0x1234_5678_9ABC_DEF1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let c = ctx();
    let mut buf = Vec::new();
    for i in 0..10_000 {
        buf.clear();
        let r = next();
        if i % 2 == 0 {
            buf.extend_from_slice(if r % 2 == 0 {
                b"LEEF:1.0|"
            } else {
                b"LEEF:2.0|"
            });
            let len = (r % 80) as usize;
            buf.extend((0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]));
        } else {
            buf.extend_from_slice(seeds[(r % 3) as usize]);
            for _ in 0..(1 + next() % 4) {
                let pos = (next() % buf.len() as u64) as usize;
                match next() % 3 {
                    0 => buf[pos] = next() as u8,
                    1 => buf.truncate(pos),
                    _ => buf.insert(pos, alphabet[(next() % alphabet.len() as u64) as usize]),
                }
                if buf.is_empty() {
                    break;
                }
            }
        }
        if let Ok(m) = parse(&buf, &c) {
            let _ = to_event(&m, &buf, &c).to_json_string();
        }
    }
}

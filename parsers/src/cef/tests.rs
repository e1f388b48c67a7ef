use super::*;
use ncsoc_model::Timestamp;

fn ctx() -> Context {
    Context {
        sector: "energy".into(),
        source: "dso-north".into(),
        now: Timestamp::parse_rfc3339("2024-06-15T12:00:00Z").unwrap(),
        default_offset_secs: 0,
    }
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn ext<'m>(m: &'m Message<'_>) -> Vec<(&'m str, &'m str)> {
    m.extensions.iter().map(|(k, v)| (*k, v.as_ref())).collect()
}

#[test]
fn header_and_extension() {
    let m = parse(
        b"CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232",
        &ctx(),
    )
    .unwrap();
    assert_eq!(m.version, 0);
    assert!(m.syslog.is_none());
    assert_eq!(m.device_vendor, "Security");
    assert_eq!(m.device_product, "threatmanager");
    assert_eq!(m.device_version, "1.0");
    assert_eq!(m.device_event_class_id, "100");
    assert_eq!(m.name, "worm successfully stopped");
    assert_eq!(m.severity, "10");
    assert_eq!(
        ext(&m),
        [("src", "10.0.0.1"), ("dst", "2.1.2.2"), ("spt", "1232")]
    );
    assert!(m
        .extensions
        .iter()
        .all(|(_, v)| matches!(v, Cow::Borrowed(_))));
}

#[test]
fn header_escapes() {
    let m = parse(
        br"CEF:0|Vendor|Product\|1\|\\|Version|Sig|Detected a \| in message|Low|",
        &ctx(),
    )
    .unwrap();
    assert_eq!(m.device_product, r"Product|1|\");
    assert!(matches!(m.device_product, Cow::Owned(_)));
    assert_eq!(m.name, "Detected a | in message");
    assert!(matches!(m.device_vendor, Cow::Borrowed(_)));
    assert!(m.extensions.is_empty());
    // `=` needs no escape in the header.
    let m = parse(b"CEF:0|V|P|1|a=b|n|1|", &ctx()).unwrap();
    assert_eq!(m.device_event_class_id, "a=b");
}

#[test]
fn invalid_header_escape_is_an_error() {
    let e = parse(br"CEF:0|V\endor|P|1|2|n|1|a=b", &ctx()).unwrap_err();
    assert_eq!((e.field, e.offset), ("device vendor", 7));
    let e = parse(b"CEF:0|V|P|1|2|n\\", &ctx()).unwrap_err();
    assert_eq!(e.field, "name");
}

#[test]
fn extension_escapes() {
    let m = parse(
        br"CEF:0|V|P|1|2|n|1|a=x\=y b=back\\slash c=line1\nline2 d=cr\r e=pipe\|ok f=plain",
        &ctx(),
    )
    .unwrap();
    assert_eq!(
        ext(&m),
        [
            ("a", "x=y"),
            ("b", r"back\slash"),
            ("c", "line1\nline2"),
            ("d", "cr\r"),
            ("e", "pipe|ok"),
            ("f", "plain"),
        ]
    );
    assert!(matches!(m.extensions[0].1, Cow::Owned(_)));
    assert!(matches!(m.extensions[5].1, Cow::Borrowed(_)));
    // An escaped `=` after a word does not start a new key.
    let m = parse(br"CEF:0|V|P|1|2|n|1|bb=this is a name\=value cc=3", &ctx()).unwrap();
    assert_eq!(ext(&m), [("bb", "this is a name=value"), ("cc", "3")]);
}

#[test]
fn invalid_extension_escape_is_an_error() {
    let e = parse(br"CEF:0|V|P|1|2|n|1| name=v\alue", &ctx()).unwrap_err();
    assert_eq!((e.field, e.offset), ("extension", 25));
    let e = parse(b"CEF:0|V|P|1|2|n|1|name=trailing\\", &ctx()).unwrap_err();
    assert_eq!(e.field, "extension");
}

#[test]
fn values_with_spaces_equals_and_newlines() {
    let m = parse(
        b"CEF:0|V|P|1|2|n|1| aa=field1 bb=this is a value   cc=field 3 request=https://foo.com?id=foo&a=bar msg=first\nsecond line dst=1.1.1.1",
        &ctx(),
    )
    .unwrap();
    assert_eq!(
        ext(&m),
        [
            ("aa", "field1"),
            ("bb", "this is a value"),
            ("cc", "field 3"),
            ("request", "https://foo.com?id=foo&a=bar"),
            ("msg", "first\nsecond line"),
            ("dst", "1.1.1.1"),
        ]
    );
    // Empty values.
    let m = parse(b"CEF:0|V|P|1|2|n||suser=a shost= src=1.1.1.1", &ctx()).unwrap();
    assert_eq!(m.severity, "");
    assert_eq!(ext(&m), [("suser", "a"), ("shost", ""), ("src", "1.1.1.1")]);
}

#[test]
fn empty_extension_and_trailing_framing() {
    for raw in [
        &b"CEF:0|V|P|1|2|n|1|"[..],
        b"CEF:0|V|P|1|2|n|1| ",
        b"CEF:0|V|P|1|2|n|1|   \r\n",
    ] {
        let m = parse(raw, &ctx()).unwrap();
        assert!(m.extensions.is_empty(), "{raw:?}");
        assert_eq!(m.severity, "1");
    }
}

#[test]
fn bad_keys_and_truncation_are_errors() {
    let e = parse(b"CEF:0|V|P|1|2|n|1| n,me=value", &ctx()).unwrap_err();
    assert_eq!((e.field, e.offset), ("extension", 19));
    let e = parse(b"CEF:0|V|P|1|2|n|1|=value", &ctx()).unwrap_err();
    assert_eq!(e.field, "extension");
    let e = parse(b"CEF:0|Vendor", &ctx()).unwrap_err();
    assert_eq!((e.field, e.offset), ("device vendor", 12));
    assert!(e.to_string().contains("7 fields"), "{e}");
    let e = parse(b"", &ctx()).unwrap_err();
    assert_eq!(e.field, "header");
    let e = parse(b"just a syslog line", &ctx()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid CEF header at byte 0: expected 'CEF:'"
    );
}

#[test]
fn versions() {
    let m = parse(b"CEF:1|V|P|1|2|n|1|a=b", &ctx()).unwrap();
    assert_eq!(m.version, 1);
    for bad in [
        &b"CEF:2|V|P|1|2|n|1|"[..],
        b"CEF:10|V|P|1|2|n|1|",
        b"CEF:|V",
    ] {
        let e = parse(bad, &ctx()).unwrap_err();
        assert_eq!((e.field, e.offset), ("version", 4), "{bad:?}");
    }
    let e = parse(b"CEF:0 |V|P|1|2|n|1|", &ctx()).unwrap_err();
    assert_eq!((e.field, e.offset), ("version", 5));
}

#[test]
fn non_utf8_is_replaced_not_rejected() {
    let m = parse(b"CEF:0|V\xff|P|1|2|n|1|msg=caf\xe9 ok=1", &ctx()).unwrap();
    assert_eq!(m.device_vendor, "V\u{fffd}");
    assert_eq!(ext(&m), [("msg", "caf\u{fffd}"), ("ok", "1")]);
}

#[test]
fn syslog_wrapped() {
    let c = ctx();
    let m = parse(
        b"<134>Sep 19 08:26:10 host CEF:0|Security|threatmanager|1.0|100|worm|10|src=10.0.0.1",
        &c,
    )
    .unwrap();
    let s = m.syslog.as_ref().unwrap();
    assert_eq!((s.facility, s.severity), (16, 6));
    assert_eq!(s.hostname, Some("host"));
    assert_eq!(s.timestamp, Some(ts("2023-09-19T08:26:10Z")));
    assert_eq!(m.device_vendor, "Security");

    let raw: &[u8] =
        b"<189>1 2021-06-18T10:55:50.000003Z host app - - - CEF:0|Elastic|Vaporware|1.0.0-alpha|18|Web request|low|eventId=3457 msg=hello";
    let m = parse(raw, &c).unwrap();
    let s = m.syslog.as_ref().unwrap();
    assert_eq!(s.app_name, Some("app"));
    assert_eq!(s.timestamp, Some(ts("2021-06-18T10:55:50.000003Z")));
    let e = to_event(&m, raw, &c);
    assert_eq!(e.timestamp, ts("2021-06-18T10:55:50.000003Z"));
    assert_eq!(e.fields.host_name.as_deref(), Some("host"));
    assert_eq!(e.extra["log.syslog.priority"], 189);
    assert_eq!(e.extra["log.syslog.appname"], "app");
    assert_eq!(e.fields.message.as_deref(), Some("hello"));
    assert_eq!(e.fields.severity, Some(0));

    // A prefix that is not syslog is ignored, as Elastic does.
    let m = parse(b"junk: CEF:0|V|P|1|2|n|1|a=b", &c).unwrap();
    assert!(m.syslog.is_none());
    assert_eq!(ext(&m), [("a", "b")]);
}

#[test]
fn key_dictionary() {
    for (short, full) in [
        ("src", "sourceAddress"),
        ("dst", "destinationAddress"),
        ("spt", "sourcePort"),
        ("dpt", "destinationPort"),
        ("suser", "sourceUserName"),
        ("duser", "destinationUserName"),
        ("act", "deviceAction"),
        ("cs1", "deviceCustomString1"),
        ("cs1Label", "deviceCustomString1Label"),
        ("cn2", "deviceCustomNumber2"),
        ("c6a3", "deviceCustomIPv6Address3"),
        ("cfp4", "deviceCustomFloatingPoint4"),
        ("rt", "deviceReceiptTime"),
        ("start", "startTime"),
        ("end", "endTime"),
        ("in", "bytesIn"),
        ("out", "bytesOut"),
        ("proto", "transportProtocol"),
        ("request", "requestUrl"),
        ("msg", "message"),
        ("dvchost", "deviceHostName"),
        ("dvcpid", "deviceProcessId"),
        ("fname", "filename"),
        ("fsize", "fileSize"),
        ("outcome", "eventOutcome"),
        ("cnt", "baseEventCount"),
        ("cat", "deviceEventCategory"),
        ("deviceExternalId", "deviceExternalId"),
        ("agt", "agentAddress"),
        ("art", "agentReceiptTime"),
    ] {
        assert_eq!(full_name(short), full, "{short}");
        assert_eq!(full_name(full), full, "{full}");
        assert_eq!(
            key_def(short).unwrap().field,
            format!("cef.extensions.{full}")
        );
    }
    assert_eq!(full_name("vendorSpecific"), "vendorSpecific");
    assert_eq!(key_def("spt").unwrap().value_type, ValueType::Integer);
    assert_eq!(key_def("src").unwrap().value_type, ValueType::IpAddress);
    assert_eq!(key_def("rt").unwrap().value_type, ValueType::Timestamp);
    assert_eq!(key_def("slat").unwrap().value_type, ValueType::Float);
    // No two entries share a name.
    let mut seen = std::collections::HashSet::new();
    for d in KEYS {
        assert!(seen.insert(d.full), "duplicate {}", d.full);
        if d.short != d.full {
            assert!(seen.insert(d.short), "duplicate {}", d.short);
        }
    }
}

#[test]
fn get_and_custom_fields() {
    let m = parse(
        b"CEF:0|Dev|fw|2.2|1|Connection denied|5|c6a1=2345:425:2ca1::567:5673:23b5 c6a1Label=Device IPv6 Address cs1Label=Rule cs1=Block all src=1.2.3.4",
        &ctx(),
    )
    .unwrap();
    assert_eq!(m.get("sourceAddress"), Some("1.2.3.4"));
    assert_eq!(m.get("src"), Some("1.2.3.4"));
    assert_eq!(m.get("deviceCustomString1"), Some("Block all"));
    assert_eq!(m.get("nothing"), None);
    assert_eq!(
        m.custom_fields(),
        [
            ("Device IPv6 Address", "2345:425:2ca1::567:5673:23b5"),
            ("Rule", "Block all")
        ]
    );
}

#[test]
fn ecs_mapping() {
    let c = ctx();
    let raw: &[u8] = b"<13>Jun 15 10:00:00 fw1 CEF:0|Check Point|VPN-1 & FireWall-1|R81|Accept|Accept|High|rt=1718445600123 src=10.0.0.1 spt=51000 dst=192.0.2.10 dpt=443 proto=TCP suser=alice duser=bob act=accept outcome=success request=https://example.org/x in=1200 out=34000 deviceDirection=1 dvchost=gw.example.org dvc=10.0.0.254 cs1Label=Rule cs1=Allow web cn1=42 cfp1=1.5 slat=51.9 sourceTranslatedAddress=198.51.100.7 sourceTranslatedPort=40001 start=Jun 15 2024 09:59:58 end=Jun 15 2024 10:00:00.500 UTC eventId=777 customKey=x shost= type=0 dvcpid=0x1F";
    let m = parse(raw, &c).unwrap();
    let e = to_event(&m, raw, &c);
    assert_eq!(e.timestamp, ts("2024-06-15T10:00:00.123Z"));
    assert_eq!(e.fields.created, Some(c.now));
    assert_eq!(
        (e.sector.as_str(), e.source.as_str()),
        ("energy", "dso-north")
    );
    assert_eq!(
        e.fields.original.as_deref(),
        Some(std::str::from_utf8(raw).unwrap())
    );
    assert_eq!(e.extra["cef.version"], "0");
    assert_eq!(e.extra["cef.device.vendor"], "Check Point");
    assert_eq!(e.extra["cef.device.product"], "VPN-1 & FireWall-1");
    assert_eq!(e.extra["cef.device.version"], "R81");
    assert_eq!(e.extra["cef.device.event_class_id"], "Accept");
    assert_eq!(e.extra["cef.name"], "Accept");
    assert_eq!(e.extra["cef.severity"], "High");
    assert_eq!(e.fields.observer_vendor.as_deref(), Some("Check Point"));
    assert_eq!(
        e.fields.observer_product.as_deref(),
        Some("VPN-1 & FireWall-1")
    );
    assert_eq!(e.fields.observer_version.as_deref(), Some("R81"));
    assert_eq!(e.extra["event.code"], "Accept");
    assert_eq!(e.fields.severity, Some(7));
    assert_eq!(e.fields.message.as_deref(), Some("Accept"));
    assert_eq!(e.fields.source_ip, Some("10.0.0.1".parse().unwrap()));
    assert_eq!(e.fields.source_port, Some(51000));
    assert_eq!(e.fields.destination_ip, Some("192.0.2.10".parse().unwrap()));
    assert_eq!(e.fields.destination_port, Some(443));
    assert_eq!(e.fields.network_transport.as_deref(), Some("tcp"));
    assert_eq!(e.fields.user_name.as_deref(), Some("alice"));
    assert_eq!(e.extra["source.user.name"], "alice");
    assert_eq!(e.extra["destination.user.name"], "bob");
    assert_eq!(e.fields.action.as_deref(), Some("accept"));
    assert_eq!(e.fields.outcome.as_deref(), Some("success"));
    assert_eq!(
        e.fields.url_original.as_deref(),
        Some("https://example.org/x")
    );
    assert_eq!(e.extra["source.bytes"], 1200);
    assert_eq!(e.extra["destination.bytes"], 34000);
    assert_eq!(e.fields.network_bytes, Some(35200));
    assert_eq!(e.fields.network_direction.as_deref(), Some("outbound"));
    assert_eq!(
        e.fields.observer_hostname.as_deref(),
        Some("gw.example.org")
    );
    assert_eq!(e.extra["observer.ip"], "10.0.0.254");
    assert_eq!(e.extra["source.nat.ip"], "198.51.100.7");
    assert_eq!(e.extra["source.nat.port"], 40001);
    assert_eq!(e.extra["source.geo.location.lat"], 51.9);
    assert_eq!(e.fields.process_pid, Some(31));
    // Every extension under its full name, typed.
    assert_eq!(
        e.extra["cef.extensions.deviceReceiptTime"],
        "2024-06-15T10:00:00.123Z"
    );
    assert_eq!(e.extra["cef.extensions.sourceAddress"], "10.0.0.1");
    assert_eq!(e.extra["cef.extensions.sourcePort"], 51000);
    assert_eq!(e.extra["cef.extensions.deviceCustomString1Label"], "Rule");
    assert_eq!(e.extra["cef.extensions.deviceCustomString1"], "Allow web");
    assert_eq!(e.extra["cef.extensions.deviceCustomNumber1"], 42);
    assert_eq!(e.extra["cef.extensions.deviceCustomFloatingPoint1"], 1.5);
    assert_eq!(e.extra["cef.extensions.eventId"], 777);
    assert_eq!(e.extra["cef.extensions.customKey"], "x");
    assert_eq!(
        e.extra["cef.extensions.startTime"],
        "2024-06-15T09:59:58.000Z"
    );
    assert_eq!(e.extra["event.start"], "2024-06-15T09:59:58.000Z");
    assert_eq!(e.extra["event.end"], "2024-06-15T10:00:00.500Z");
    // Empty values are left out.
    assert!(!e.extra.contains_key("cef.extensions.sourceHostName"));
    assert!(!e.extra.contains_key("source.domain"));
    // Syslog header fields are kept.
    assert_eq!(e.fields.host_name.as_deref(), Some("fw1"));
    assert_eq!(e.extra["log.syslog.priority"], 13);
    // The id is deterministic and depends on the feed.
    assert_eq!(to_event(&m, raw, &c).id, e.id);
    let mut other = c.clone();
    other.source = "elsewhere".into();
    assert_ne!(to_event(&m, raw, &other).id, e.id);
    assert!(e
        .to_json_string()
        .contains("\"cef.extensions.sourcePort\":51000"));
}

#[test]
fn timestamp_precedence() {
    let c = ctx();
    let at = |raw: &[u8]| parse_event(raw, &c).unwrap().timestamp;
    assert_eq!(
        at(b"CEF:0|V|P|1|2|n|1|start=1000 end=2000 rt=3000"),
        Timestamp::from_millis(3000)
    );
    assert_eq!(
        at(b"CEF:0|V|P|1|2|n|1|start=1000 end=2000"),
        Timestamp::from_millis(2000)
    );
    assert_eq!(
        at(b"CEF:0|V|P|1|2|n|1|start=Jan 02 2024 03:04:05.678 +01:00"),
        ts("2024-01-02T02:04:05.678Z")
    );
    assert_eq!(
        at(b"<13>Jun 15 10:00:00 h CEF:0|V|P|1|2|n|1|a=b"),
        ts("2024-06-15T10:00:00Z")
    );
    assert_eq!(at(b"CEF:0|V|P|1|2|n|1|rt=not a time"), c.now);
    // An unreadable time stays as text.
    let e = parse_event(b"CEF:0|V|P|1|2|n|1|rt=yesterday", &c).unwrap();
    assert_eq!(e.extra["cef.extensions.deviceReceiptTime"], "yesterday");
}

#[test]
fn severity_words_and_numbers() {
    assert_eq!(severity_number("10"), Some(10));
    assert_eq!(severity_number("Very-High"), Some(9));
    assert_eq!(severity_number("medium"), Some(4));
    assert_eq!(severity_number("LOW"), Some(0));
    assert_eq!(severity_number("Unknown"), None);
    assert_eq!(severity_number(""), None);
}

#[test]
fn bad_typed_values_do_not_fill_ecs() {
    let e = parse_event(
        b"CEF:0|V|P|1|2|n|1|src=not-an-ip spt=99999 dpt=x in=-5 deviceDirection=7",
        &ctx(),
    )
    .unwrap();
    assert_eq!(e.fields.source_ip, None);
    assert_eq!(e.fields.source_port, None);
    assert_eq!(e.fields.destination_port, None);
    assert_eq!(e.fields.network_direction, None);
    assert_eq!(e.fields.network_bytes, None);
    assert_eq!(e.extra["cef.extensions.sourceAddress"], "not-an-ip");
    assert_eq!(e.extra["cef.extensions.sourcePort"], 99999);
    assert_eq!(e.extra["cef.extensions.destinationPort"], "x");
}

/// Fuzz-style: random and mutated inputs must never panic.
#[test]
fn random_inputs_never_panic() {
    let seeds: [&[u8]; 4] = [
        br"CEF:0|Vendor|Product\|1\|\\|Version|Sig|name|High| aa=field1 bb=this is a \= value cc=field 3",
        b"<134>Sep 19 08:26:10 host CEF:0|Security|threatmanager|1.0|100|worm|10|src=10.0.0.1 rt=1427881661000",
        b"CEF:1|V|P|1|2|n|1|start=Jan 02 2024 03:04:05.678 +01:00 msg=a\\nb spt=0x10",
        b"<189>1 2021-06-18T10:55:50Z host app - - - CEF:0|E|V|1|18|W|low|eventId=3457",
    ];
    let alphabet = b"CEF:0|\\= nr abc123.-_\xff\n";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
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
            let len = (r % 80) as usize;
            buf.extend_from_slice(b"CEF:0|");
            buf.extend((0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]));
        } else {
            buf.extend_from_slice(seeds[(r % 4) as usize]);
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

/// The extension rules written the slow, obvious way: at every space, look for `key=`.
fn reference_extension(b: &[u8]) -> Option<Vec<(String, String)>> {
    let is_key = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-');
    let key_at = |s: &[u8]| {
        let n = s.iter().take_while(|&&c| is_key(c)).count();
        (n > 0 && s.get(n) == Some(&b'=')).then_some(n)
    };
    let mut out = Vec::new();
    let mut pos = b.iter().take_while(|&&c| c == b' ').count();
    while pos < b.len() {
        let klen = key_at(&b[pos..])?;
        let key = String::from_utf8_lossy(&b[pos..pos + klen]).into_owned();
        let mut i = pos + klen + 1;
        let mut value = Vec::new();
        loop {
            match b.get(i) {
                None => break,
                Some(b'\\') => {
                    let e = *b.get(i + 1)?;
                    value.push(match e {
                        b'\\' | b'=' | b'|' => e,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        _ => return None,
                    });
                    i += 2;
                }
                Some(b' ') if key_at(&b[i + 1..]).is_some() => break,
                Some(&c) => {
                    value.push(c);
                    i += 1;
                }
            }
        }
        while value.last() == Some(&b' ') {
            value.pop();
        }
        out.push((key, String::from_utf8_lossy(&value).into_owned()));
        pos = i + 1;
    }
    Some(out)
}

#[test]
fn extension_scanner_matches_the_reference() {
    let alphabet = b"ab=\\ nr|._-\xc3\xa9";
    let mut state: u64 = 0xDEAD_BEEF_CAFE_F00D;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let c = ctx();
    let mut agreed = 0;
    for _ in 0..20_000 {
        let len = (next() % 24) as usize;
        let ext: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let mut raw = b"CEF:0|V|P|1|2|n|1|".to_vec();
        raw.extend_from_slice(&ext);
        let ours = parse(&raw, &c).ok().map(|m| {
            m.extensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        });
        // Trailing framing bytes are not part of the extension.
        let trimmed = &ext[..ext.len() - ext.iter().rev().take_while(|&&b| b == b'\n').count()];
        let want = reference_extension(trimmed);
        assert_eq!(ours, want, "{:?}", String::from_utf8_lossy(&ext));
        agreed += usize::from(want.is_some_and(|w| !w.is_empty()));
    }
    assert!(agreed > 1_000, "too few inputs parsed: {agreed}");
}

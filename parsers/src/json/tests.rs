use super::*;
use serde_json::json;

fn ctx() -> Context {
    Context {
        sector: "energy".into(),
        source: "dso-north".into(),
        now: Timestamp::parse_rfc3339("2024-06-15T12:00:00Z").unwrap(),
        default_offset_secs: 0,
    }
}

fn parse(line: &str) -> Event {
    let mut buf = line.as_bytes().to_vec();
    parse_json_event(&mut buf, &ctx()).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn parse_err(line: &[u8]) -> Error {
    let mut buf = line.to_vec();
    parse_json_event(&mut buf, &ctx()).unwrap_err()
}

fn fmt(line: &str) -> JsonFormat {
    detect(&mut line.as_bytes().to_vec()).unwrap()
}

const EVE_ALERT: &str = r#"{"timestamp":"2021-06-06T15:59:46.457984+0200","flow_id":1374195536821504,"pcap_cnt":313,"event_type":"alert","src_ip":"78.36.196.213","src_port":51698,"dest_ip":"192.168.1.129","dest_port":445,"proto":"TCP","community_id":"1:abc=","alert":{"action":"blocked","gid":1,"signature_id":2403388,"rev":66418,"signature":"ET CINS Active Threat Intelligence Poor Reputation IP group 89","category":"Misc Attack","severity":2,"metadata":{"tag":["CINS"],"mitre_technique_id":["T1046"]}},"flow":{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":60,"bytes_toclient":0,"start":"2021-06-06T15:59:46.457984+0200"},"host":"stratosphere.org"}"#;

#[test]
fn detects_each_format_from_top_level_keys() {
    assert_eq!(fmt(EVE_ALERT), JsonFormat::Eve);
    assert_eq!(fmt(r#"{"_path":"conn","ts":1.0}"#), JsonFormat::Zeek);
    assert_eq!(
        fmt(r#"{"ts":1.0,"uid":"C1","id.orig_h":"10.0.0.1"}"#),
        JsonFormat::Zeek
    );
    assert_eq!(
        fmt(r#"{"ecs":{"version":"8.11.0"},"@timestamp":"2024-01-01T00:00:00Z"}"#),
        JsonFormat::Ecs
    );
    assert_eq!(fmt(r#"{"ecs.version":"8.11.0"}"#), JsonFormat::Ecs);
    assert_eq!(
        fmt(r#"{"rule":{"level":5,"id":"5715"},"agent":{"id":"001"}}"#),
        JsonFormat::Wazuh
    );
    assert_eq!(
        fmt(r#"{"rule":{"id":"5715"},"agent":{"id":"001"}}"#),
        JsonFormat::Generic
    );
    assert_eq!(fmt(r#"{"event_type":"x"}"#), JsonFormat::Generic);
    assert_eq!(
        fmt(r#"{"timestamp":"2024-01-01T00:00:00Z","event_type":"stats","stats":{"uptime":1}}"#),
        JsonFormat::Eve
    );
    assert_eq!(
        fmt(r#"{"timestamp":"2024-01-01T00:00:00Z","event_type":"anomaly","src_ip":"10.0.0.1"}"#),
        JsonFormat::Eve
    );
    assert_eq!(fmt(r#"{"a":1}"#), JsonFormat::Generic);
}

#[test]
fn eve_alert_maps_like_elastic() {
    let e = parse(EVE_ALERT);
    let f = &e.fields;
    assert_eq!(
        e.timestamp,
        Timestamp::parse_rfc3339("2021-06-06T13:59:46.457984Z").unwrap()
    );
    assert_eq!(f.source_ip, Some("78.36.196.213".parse().unwrap()));
    assert_eq!(f.source_port, Some(51698));
    assert_eq!(f.destination_ip, Some("192.168.1.129".parse().unwrap()));
    assert_eq!(f.destination_port, Some(445));
    assert_eq!(f.network_transport.as_deref(), Some("tcp"));
    assert_eq!(f.network_community_id.as_deref(), Some("1:abc="));
    assert_eq!(f.kind.as_deref(), Some("alert"));
    assert_eq!(f.category, ["network", "intrusion_detection"]);
    assert_eq!(f.r#type, ["denied"]);
    assert_eq!(f.rule_id.as_deref(), Some("2403388"));
    assert_eq!(
        f.rule_name.as_deref(),
        Some("ET CINS Active Threat Intelligence Poor Reputation IP group 89")
    );
    assert_eq!(f.severity, Some(2));
    assert_eq!(f.message.as_deref(), Some("Misc Attack"));
    assert_eq!(f.observer_hostname.as_deref(), Some("stratosphere.org"));
    assert_eq!(f.network_bytes, Some(60));
    assert_eq!(f.network_packets, Some(1));
    assert_eq!(e.extra["source.bytes"], json!(60));
    assert_eq!(e.extra["destination.bytes"], json!(0));
    assert_eq!(e.extra["rule.category"], json!("Misc Attack"));
    assert_eq!(e.extra["threat.technique.id"], json!(["T1046"]));
    assert_eq!(e.extra["suricata.eve.flow_id"], json!("1374195536821504"));
    assert_eq!(e.extra["suricata.eve.alert.gid"], json!(1));
    assert_eq!(e.extra["suricata.eve.alert.metadata.tag"], json!(["CINS"]));
    assert_eq!(e.extra["suricata.eve.event_type"], json!("alert"));
    assert_eq!(e.extra["event.start"], json!("2021-06-06T13:59:46.457984Z"));
    // Moved fields leave suricata.eve.
    assert!(!e.extra.contains_key("suricata.eve.src_ip"));
    assert!(!e.extra.contains_key("suricata.eve.alert.signature_id"));
    assert!(e.flow.is_none(), "an alert is not a flow record");
    assert_eq!(e.sector, "energy");
    assert_eq!(e.source, "dso-north");
    assert_eq!(f.original.as_deref(), Some(EVE_ALERT));
    assert_eq!(f.created, Some(ctx().now));
}

#[test]
fn eve_flow_is_a_flow_record() {
    let e = parse(
        r#"{"timestamp":"2021-06-06T15:57:37.272281+0200","flow_id":445348883402532,"event_type":"flow","src_ip":"192.168.1.132","src_port":1900,"dest_ip":"192.168.1.129","dest_port":44232,"proto":"UDP","app_proto":"failed","flow":{"pkts_toserver":12,"pkts_toclient":3,"bytes_toserver":4056,"bytes_toclient":100,"start":"2021-06-06T16:38:55.855844+0200","end":"2021-06-06T16:38:56.963027+0200","age":1,"state":"closed","reason":"timeout","alerted":false},"tcp":{"tcp_flags":"1b"}}"#,
    );
    assert_eq!(e.fields.kind.as_deref(), Some("event"));
    assert_eq!(e.fields.category, ["network"]);
    assert_eq!(e.fields.r#type, ["connection", "end"]);
    assert_eq!(
        e.fields.network_protocol, None,
        "app_proto failed is not a protocol"
    );
    assert_eq!(e.fields.network_bytes, Some(4156));
    assert_eq!(e.fields.network_packets, Some(15));
    let flow = e.flow.as_deref().unwrap();
    assert_eq!(flow.version.as_deref(), Some("suricata"));
    assert_eq!(flow.bytes_raw, Some(4156));
    assert_eq!(flow.tcp_flags, Some(0x1b));
    assert_eq!(
        flow.start,
        Some(Timestamp::parse_rfc3339("2021-06-06T14:38:55.855844Z").unwrap())
    );
    assert_eq!(
        flow.end,
        Some(Timestamp::parse_rfc3339("2021-06-06T14:38:56.963027Z").unwrap())
    );
    assert_eq!(e.extra["event.duration"], json!(1_107_183_000));
    assert_eq!(e.extra["suricata.eve.flow.age"], json!(1));
    assert_eq!(e.extra["suricata.eve.app_proto"], json!("failed"));
}

#[test]
fn eve_dns_http_tls_fields() {
    let dns = parse(
        r#"{"timestamp":"2021-06-06T15:59:46.457984+0200","flow_id":1,"event_type":"dns","src_ip":"10.0.0.1","src_port":5353,"dest_ip":"10.0.0.2","dest_port":53,"proto":"UDP","dns":{"type":"query","id":4711,"rrname":"example.com","rrtype":"A","tx_id":0}}"#,
    );
    assert_eq!(dns.fields.dns_question_name.as_deref(), Some("example.com"));
    assert_eq!(dns.fields.network_protocol.as_deref(), Some("dns"));
    assert_eq!(dns.fields.r#type, ["protocol"]);
    assert_eq!(dns.extra["dns.question.type"], json!("A"));
    assert_eq!(dns.extra["dns.id"], json!(4711));
    // EVE v3 DNS: the query is in an array.
    let dns3 = parse(
        r#"{"timestamp":"2024-01-01T00:00:00.000000+0000","flow_id":1,"event_type":"dns","dns":{"version":3,"type":"request","queries":[{"rrname":"a.example","rrtype":"AAAA"}]}}"#,
    );
    assert_eq!(dns3.fields.dns_question_name.as_deref(), Some("a.example"));
    assert_eq!(dns3.extra["dns.question.type"], json!("AAAA"));

    let http = parse(
        r#"{"timestamp":"2016-06-08T20:01:52.875791+0000","flow_id":841252990914572,"event_type":"http","src_ip":"188.40.238.250","src_port":80,"dest_ip":"10.16.1.11","dest_port":59908,"proto":"TCP","http":{"hostname":"www.eicar.org","url":"\/download\/eicar.com?x=1","http_user_agent":"curl\/7.43.0","http_method":"GET","protocol":"HTTP\/1.1","status":404,"length":68},"app_proto":"http"}"#,
    );
    assert_eq!(
        http.fields.url_original.as_deref(),
        Some("/download/eicar.com?x=1")
    );
    assert_eq!(http.extra["url.path"], json!("/download/eicar.com"));
    assert_eq!(http.extra["url.query"], json!("x=1"));
    assert_eq!(http.extra["url.domain"], json!("www.eicar.org"));
    assert_eq!(http.extra["http.request.method"], json!("GET"));
    assert_eq!(http.extra["http.response.status_code"], json!(404));
    assert_eq!(http.extra["user_agent.original"], json!("curl/7.43.0"));
    assert_eq!(http.fields.outcome.as_deref(), Some("failure"));
    assert_eq!(http.fields.category, ["network", "web"]);
    assert_eq!(http.fields.r#type, ["access", "protocol"]);

    let tls = parse(
        r#"{"timestamp":"2021-06-06T16:54:00.074627+0200","flow_id":2,"event_type":"tls","src_ip":"192.168.1.129","src_port":60316,"dest_ip":"122.248.252.67","dest_port":55443,"proto":"TCP","tls":{"subject":"CN=www.myedimax.com","sni":"www.myedimax.com","version":"TLS 1.1","ja3":{"hash":"b720","string":"770"}}}"#,
    );
    assert_eq!(
        tls.fields.tls_server_sni.as_deref(),
        Some("www.myedimax.com")
    );
    assert_eq!(tls.extra["tls.version"], json!("1.1"));
    assert_eq!(tls.extra["tls.version_protocol"], json!("tls"));
    assert_eq!(tls.extra["tls.client.ja3"], json!("b720"));
    assert_eq!(tls.extra["suricata.eve.tls.ja3.string"], json!("770"));
    assert_eq!(tls.fields.network_protocol.as_deref(), Some("tls"));
}

#[test]
fn eve_stats_is_a_metric() {
    let e = parse(
        r#"{"timestamp":"2024-01-01T00:00:00.000000+0000","event_type":"stats","stats":{"uptime":30,"decoder":{"pkts":60,"bytes":26866}}}"#,
    );
    assert_eq!(e.fields.kind.as_deref(), Some("metric"));
    assert_eq!(e.extra["suricata.eve.stats.decoder.pkts"], json!(60));
    assert_eq!(e.fields.dataset.as_deref(), Some("suricata.eve"));
}

#[test]
fn tls_versions() {
    use super::eve::tls_version;
    assert_eq!(tls_version("TLS 1.3"), Some(("tls", "1.3".into())));
    assert_eq!(tls_version("TLSv12"), Some(("tls", "1.2".into())));
    assert_eq!(tls_version("TLSv1.2"), Some(("tls", "1.2".into())));
    assert_eq!(tls_version("SSLv3"), Some(("ssl", "3.0".into())));
    assert_eq!(tls_version("UNDETERMINED"), None);
}

#[test]
fn zeek_json_conn() {
    let line = r#"{"ts":1700828217.314165,"uid":"CfykLO1IT1nVRJhLA3","id.orig_h":"192.168.1.9","id.orig_p":50820,"id.resp_h":"45.33.32.156","id.resp_p":443,"proto":"tcp","service":"ssl","duration":0.5,"orig_bytes":10,"resp_bytes":20,"conn_state":"REJ","local_orig":true,"missed_bytes":0,"history":"Sr","orig_pkts":1,"orig_ip_bytes":60,"resp_pkts":2,"resp_ip_bytes":40}"#;
    let e = parse(line);
    let f = &e.fields;
    assert_eq!(
        e.timestamp,
        Timestamp::from_nanos(1_700_828_217_314_165_000)
    );
    assert_eq!(f.source_ip, Some("192.168.1.9".parse().unwrap()));
    assert_eq!(f.destination_port, Some(443));
    assert_eq!(f.network_transport.as_deref(), Some("tcp"));
    assert_eq!(f.network_protocol.as_deref(), Some("ssl"));
    assert_eq!(f.network_bytes, Some(30));
    assert_eq!(f.network_packets, Some(3));
    assert_eq!(f.dataset.as_deref(), Some("zeek.conn"));
    assert_eq!(f.category, ["network"]);
    assert_eq!(f.r#type, ["connection"]);
    assert_eq!(e.extra["zeek.session_id"], json!("CfykLO1IT1nVRJhLA3"));
    assert_eq!(e.extra["zeek.conn.conn_state"], json!("REJ"));
    assert_eq!(e.extra["zeek.conn.local_orig"], json!(true));
    assert_eq!(e.extra["source.bytes"], json!(10));
    assert_eq!(e.extra["event.duration"], json!(500_000_000));
    let flow = e.flow.as_deref().unwrap();
    assert_eq!(flow.version.as_deref(), Some("zeek"));
    assert_eq!(
        flow.end,
        Some(Timestamp::from_nanos(1_700_828_217_814_165_000))
    );
    // The log type from the file name wins over guessing.
    let mut buf = line.as_bytes().to_vec();
    let e = parse_zeek_json(&mut buf, Some("weird.log"), &ctx()).unwrap();
    assert_eq!(e.fields.dataset.as_deref(), Some("zeek.weird"));
}

#[test]
fn zeek_json_dns_with_path() {
    let e = parse(
        r#"{"_path":"dns","ts":"2024-01-01T00:00:01.5Z","uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1234,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","query":"evil.example","qtype_name":"TXT","rcode_name":"NOERROR","answers":["a","b"]}"#,
    );
    assert_eq!(e.fields.dns_question_name.as_deref(), Some("evil.example"));
    assert_eq!(e.fields.network_protocol.as_deref(), Some("dns"));
    assert_eq!(e.extra["dns.question.type"], json!("TXT"));
    assert_eq!(e.extra["zeek.dns.answers"], json!(["a", "b"]));
    assert_eq!(
        e.timestamp,
        Timestamp::parse_rfc3339("2024-01-01T00:00:01.5Z").unwrap()
    );
}

const TSV: &str = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tssl
#open\t2020-10-06-17-32-56
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tserver_name\testablished\tcert_chain_fuids\tsubject\tvalidation_status
#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tbool\tvector[string]\tstring\tstring
1601998366.785668\tCNgrt04tHika5Pgpfi\t2001:718:2:1663::1\t54170\t147.32.80.9\t443\tTLSv12\texample.org\tT\tFa,Fb\tCN=a\\x09b\t-
1601998367.000000\tC2\t10.0.0.1\t1\t10.0.0.2\t443\t-\t-\tF\t(empty)\t(empty)\t-
#close\t2020-10-06-17-33-00
";

#[test]
fn zeek_tsv_reader() {
    let mut r = TsvReader::new(None);
    let mut events = Vec::new();
    for line in TSV.lines() {
        if let Some(e) = r.push_line(line.as_bytes(), &ctx()).unwrap() {
            events.push(e);
        }
    }
    assert_eq!(r.log(), Some(&zeek::LogType::Ssl));
    assert_eq!(events.len(), 2);
    let e = &events[0];
    assert_eq!(
        e.timestamp,
        Timestamp::from_nanos(1_601_998_366_785_668_000)
    );
    assert_eq!(
        e.fields.source_ip,
        Some("2001:718:2:1663::1".parse().unwrap())
    );
    assert_eq!(e.fields.source_port, Some(54170));
    assert_eq!(e.fields.tls_server_sni.as_deref(), Some("example.org"));
    assert_eq!(e.extra["tls.version"], json!("1.2"));
    assert_eq!(e.extra["zeek.ssl.established"], json!(true));
    assert_eq!(e.extra["zeek.ssl.cert_chain_fuids"], json!(["Fa", "Fb"]));
    assert_eq!(e.extra["zeek.ssl.subject"], json!("CN=a\tb"));
    assert!(
        !e.extra.contains_key("zeek.ssl.validation_status"),
        "unset is left out"
    );
    assert_eq!(e.fields.dataset.as_deref(), Some("zeek.ssl"));
    assert!(e
        .fields
        .original
        .as_deref()
        .unwrap()
        .starts_with("1601998366.785668\t"));
    let e = &events[1];
    assert_eq!(e.extra["zeek.ssl.cert_chain_fuids"], json!([]));
    assert_eq!(e.extra["zeek.ssl.subject"], json!(""));
    assert_eq!(e.fields.tls_server_sni, None);
}

#[test]
fn zeek_tsv_errors_name_line_and_column() {
    let mut r = TsvReader::new(Some("conn.log"));
    let err = r.push_line(b"1.0\tC1", &ctx()).unwrap_err();
    assert!(
        err.to_string().contains("line 1") && err.to_string().contains("#fields"),
        "{err}"
    );
    r.push_line(b"#fields\tts\tid.orig_p", &ctx()).unwrap();
    r.push_line(b"#types\ttime\tport", &ctx()).unwrap();
    let err = r.push_line(b"1.0\tnotaport", &ctx()).unwrap_err();
    assert!(
        err.to_string().contains("line 4") && err.to_string().contains("id.orig_p"),
        "{err}"
    );
    let err = r.push_line(b"1.0\t1\t2", &ctx()).unwrap_err();
    assert!(err.to_string().contains("more values"), "{err}");
    let err = r.push_line(b"1.0", &ctx()).unwrap_err();
    assert!(err.to_string().contains("1 values for 2"), "{err}");
    let err = r.push_line(b"#types\ttime", &ctx()).unwrap_err();
    assert!(err.to_string().contains("#types"), "{err}");
    assert!(r.push_line(b"1.5\t80", &ctx()).unwrap().is_some());
}

#[test]
fn ecs_documents_nested_and_dotted() {
    let e = parse(
        r#"{"@timestamp":"2024-05-01T10:00:00.000Z","ecs":{"version":"8.11.0"},"event":{"kind":"alert","category":["network"],"id":"upstream-1"},"source":{"ip":"10.1.2.3","port":4444},"destination.ip":"10.9.9.9","ncsoc.sector":"finance","labels":{"team":"blue"},"flow.sampling_rate":10}"#,
    );
    assert_eq!(
        e.timestamp,
        Timestamp::parse_rfc3339("2024-05-01T10:00:00Z").unwrap()
    );
    assert_eq!(e.fields.kind.as_deref(), Some("alert"));
    assert_eq!(e.fields.category, ["network"]);
    assert_eq!(e.fields.source_ip, Some("10.1.2.3".parse().unwrap()));
    assert_eq!(e.fields.source_port, Some(4444));
    assert_eq!(e.fields.destination_ip, Some("10.9.9.9".parse().unwrap()));
    assert_eq!(e.extra["labels.team"], json!("blue"));
    assert_eq!(e.extra["ecs.version"], json!("8.11.0"));
    assert_eq!(e.flow.as_deref().unwrap().sampling_rate, Some(10));
    assert_eq!(e.sector, "energy", "the context's sector wins");
    assert_ne!(e.id, "upstream-1");
    let err = parse_err(br#"{"ecs.version":"8","source.port":70000}"#);
    assert!(
        matches!(&err, Error::Field { field, .. } if field == "source.port"),
        "{err}"
    );
}

#[test]
fn wazuh_alert() {
    let e = parse(
        r#"{"timestamp":"2020-03-10T12:06:07.462+0000","rule":{"level":5,"description":"sshd: Attempt to login using a non-existent user","id":"5710","mitre":{"id":["T1110"]},"groups":["syslog","sshd","invalid_login"]},"agent":{"id":"001","name":"web-01","ip":"10.0.0.5"},"manager":{"name":"wazuh-manager"},"id":"1583841967.1234","full_log":"Mar 10 12:06:06 web-01 sshd[1]: Invalid user admin from 203.0.113.7 port 4242","decoder":{"parent":"sshd","name":"sshd"},"data":{"srcip":"203.0.113.7","srcport":"4242","srcuser":"admin"},"location":"/var/log/auth.log"}"#,
    );
    let f = &e.fields;
    assert_eq!(
        e.timestamp,
        Timestamp::parse_rfc3339("2020-03-10T12:06:07.462Z").unwrap()
    );
    assert_eq!(f.rule_id.as_deref(), Some("5710"));
    assert_eq!(
        f.rule_name.as_deref(),
        Some("sshd: Attempt to login using a non-existent user")
    );
    assert_eq!(f.severity, Some(5));
    assert_eq!(f.host_name.as_deref(), Some("web-01"));
    assert_eq!(f.source_ip, Some("203.0.113.7".parse().unwrap()));
    assert_eq!(f.source_port, Some(4242));
    assert_eq!(f.user_name.as_deref(), Some("admin"));
    assert!(f
        .message
        .as_deref()
        .unwrap()
        .starts_with("Mar 10 12:06:06 web-01 sshd"));
    assert_eq!(f.kind.as_deref(), Some("alert"));
    assert_eq!(e.extra["rule.category"], json!("syslog"));
    assert_eq!(e.extra["threat.technique.id"], json!(["T1110"]));
    assert_eq!(e.extra["wazuh.decoder.name"], json!("sshd"));
    assert_eq!(e.extra["log.file.path"], json!("/var/log/auth.log"));
}

#[test]
fn generic_json_times_and_namespace() {
    let e =
        parse(r#"{"eventTime":1714557600123,"msg":"hello","nested":{"a":[1,2],"b":{"c":null}}}"#);
    assert_eq!(e.timestamp, Timestamp::from_millis(1_714_557_600_123));
    assert_eq!(e.fields.message.as_deref(), Some("hello"));
    assert_eq!(e.extra["json.nested.a"], json!([1, 2]));
    assert_eq!(e.extra["json.nested.b.c"], json!(null));
    assert_eq!(e.extra["json.eventTime"], json!(1_714_557_600_123u64));
    // `@timestamp` beats `time` whatever the order.
    let e = parse(r#"{"time":"2020-01-01T00:00:00Z","@timestamp":"2021-01-01T00:00:00+01:00"}"#);
    assert_eq!(
        e.timestamp,
        Timestamp::parse_rfc3339("2020-12-31T23:00:00Z").unwrap()
    );
    let e = parse(r#"{"ts":1700000000}"#);
    assert_eq!(e.timestamp, Timestamp::from_secs(1_700_000_000));
    let e = parse(r#"{"time":"not a time","x":1}"#);
    assert_eq!(e.timestamp, ctx().now);
}

#[test]
fn ids_are_deterministic_and_differ_by_line_and_source() {
    let a = parse(EVE_ALERT);
    let b = parse(EVE_ALERT);
    assert_eq!(a.id, b.id);
    assert_eq!(a.id.len(), 26);
    let c = parse(&EVE_ALERT.replace("51698", "51699"));
    assert_ne!(a.id, c.id);
    let mut other = ctx();
    other.source = "other".into();
    let d = parse_json_event(&mut EVE_ALERT.as_bytes().to_vec(), &other).unwrap();
    assert_ne!(a.id, d.id);
}

#[test]
fn reused_parser_gives_the_same_events() {
    let mut p = JsonParser::new();
    let lines = [EVE_ALERT, r#"{"a":"\u00e9\n"}"#, EVE_ALERT];
    let mut out = Vec::new();
    for l in lines {
        out.push(p.parse(&mut l.as_bytes().to_vec(), &ctx()).unwrap());
    }
    assert_eq!(out[0], out[2]);
    assert_eq!(out[1].extra["json.a"], json!("é\n"));
    assert_eq!(
        out[1].fields.original.as_deref(),
        Some(r#"{"a":"\u00e9\n"}"#)
    );
}

#[test]
fn errors_say_where_and_why() {
    match parse_err(br#"{"a":1,"b":}"#) {
        Error::Syntax { offset, .. } => assert!((10..=12).contains(&offset), "{offset}"),
        e => panic!("{e}"),
    }
    assert_eq!(parse_err(b"[1,2]"), Error::NotObject);
    assert_eq!(parse_err(b"  \r\n"), Error::Empty);
    assert!(matches!(
        parse_err(b"{\"a\":\"\xff\"}"),
        Error::Utf8 { offset: 6 }
    ));
    let deep = format!("{}1{}", "{\"a\":".repeat(40), "}".repeat(40));
    assert!(matches!(parse_err(deep.as_bytes()), Error::Syntax { .. }));
    let long = vec![b' '; MAX_LINE_BYTES + 1];
    assert!(matches!(parse_err(&long), Error::TooLong { .. }));
    let many = format!(
        "{{{}}}",
        (0..MAX_LEAVES + 1)
            .map(|i| format!("\"k{i}\":1"))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(
        parse_err(many.as_bytes()),
        Error::TooManyFields { max: MAX_LEAVES }
    );
    let key = "k".repeat(MAX_KEY_BYTES + 1);
    assert!(matches!(
        parse_err(format!("{{\"{key}\":1}}").as_bytes()),
        Error::KeyTooLong { .. }
    ));
    let err = parse_err(br#"{"event_type":"alert","flow_id":1,"timestamp":"yesterday"}"#);
    assert!(err.to_string().contains("timestamp"), "{err}");
    let err = parse_err(br#"{"event_type":"alert","flow_id":1}"#);
    assert!(err.to_string().contains("timestamp"), "{err}");
}

#[test]
fn time_formats() {
    let t = |s: &str| parse_time_str(s);
    let want = Timestamp::parse_rfc3339("2016-06-08T20:01:52.875791Z").unwrap();
    assert_eq!(t("2016-06-08T20:01:52.875791+0000"), Some(want));
    assert_eq!(t("2016-06-08T22:01:52.875791+0200"), Some(want));
    assert_eq!(t("2016-06-08T20:01:52.875791"), Some(want));
    assert_eq!(t("1465416112.875791"), Some(want));
    assert_eq!(
        epoch_to_ts(1_465_416_112_875.0),
        Some(Timestamp::from_millis(1_465_416_112_875))
    );
    assert_eq!(t("garbage"), None);
}

#[test]
fn event_serialises_with_dotted_keys() {
    let e = parse(EVE_ALERT);
    let v: Value = serde_json::from_str(&e.to_json_string()).unwrap();
    assert_eq!(v["source.ip"], json!("78.36.196.213"));
    assert_eq!(v["rule.id"], json!("2403388"));
    assert_eq!(v["ncsoc.sector"], json!("energy"));
    let back: Event = serde_json::from_value(v).unwrap();
    assert_eq!(back, e);
}

//! Conformance of the flow-export decoders against the captures in
//! `../shared/testdata/flows` (see its MANIFEST.md), with tshark as the reference.
//!
//! Each case replays one or more pcaps in order through one decoder state (the Akvorado
//! replay order: options template, options data, template, data), takes every UDP payload,
//! decodes it with [`decode_export`] (the version field picks NetFlow v5/v9, IPFIX or
//! sFlow, never the port) and prints each flow as `src dst sport dport proto bytes packets
//! rate` (raw counts; rate = sampling rate applied) and each sFlow generic-interface
//! counter record as `counter ifindex in_octets out_octets`.
//!
//! The expected lines below were derived with `scripts/flows-expected.py`, which walks
//! `tshark -T json` of the same files (tshark 4.0.17, Debian 12): NetFlow/IPFIX data
//! records (RFC 5103 reverse counts as a second, reversed line), sFlow flow samples (the
//! raw header as tshark decodes it, the innermost IP for VXLAN) and counter samples. The
//! sampling rate column is the v5 header's, or the interval tshark shows in options data
//! for the record's sampler id. Lines are compared as multisets; a case reports how many
//! expected lines matched and which of ours tshark did not produce.
//!
//! Known and accepted differences:
//! - `v9-data+templates`: the first data set precedes its template in the packet; tshark
//!   does not decode it, this decoder holds it and decodes it when the template arrives,
//!   so it gives 11 records more than tshark. `v9-data+templates-twice` replays the packet
//!   twice: tshark then decodes the leading set of the second copy with the first copy's
//!   template, and all 31 of its records match (ours: 42, the held 11 included).
//!
//! The floors are what the decoders achieve today: the test fails if a change makes it
//! worse.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ncsoc_model::Timestamp;
use ncsoc_parsers::flow::{decode_export, to_event, EventContext, Flow};
use ncsoc_parsers::netflow::NetflowDecoder;
use ncsoc_parsers::sflow::CounterSample;
use ncsoc_parsers::{packet, pcap};

struct Case {
    name: &'static str,
    files: &'static [&'static str],
    expected: &'static str,
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/flows")
}

struct Replay {
    decoder: NetflowDecoder,
    flows: Vec<Flow>,
    counters: Vec<CounterSample>,
    errors: Vec<String>,
}

/// Replays the files in order through one decoder.
fn replay(files: &[&str]) -> Replay {
    let mut r = Replay {
        decoder: NetflowDecoder::default(),
        flows: Vec::new(),
        counters: Vec::new(),
        errors: Vec::new(),
    };
    for file in files {
        let data = std::fs::read(data_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        for pkt in pcap::PcapReader::new(&data).expect("pcap header") {
            let pkt = pkt.expect("pcap record");
            let d = packet::decode(pkt.linktype, pkt.data).expect("udp packet");
            assert_eq!(d.protocol, packet::PROTO_UDP, "{file}: not UDP");
            let exporter = d.src.expect("ip source");
            if let Err(e) = decode_export(
                &mut r.decoder,
                exporter,
                d.payload,
                pkt.ts.unwrap_or_default(),
                &mut r.flows,
                &mut r.counters,
            ) {
                r.errors.push(format!("{file}: {e}"));
            }
        }
    }
    r
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn lines(r: &Replay) -> Vec<String> {
    let mut out: Vec<String> = r
        .flows
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} {} {} {} {}",
                opt(f.src),
                opt(f.dst),
                opt(f.src_port),
                opt(f.dst_port),
                opt(f.protocol),
                f.bytes,
                f.packets,
                f.sampling_rate
            )
        })
        .collect();
    out.extend(r.counters.iter().filter_map(|c| {
        c.interface
            .map(|i| format!("counter {} {} {}", i.if_index, i.in_octets, i.out_octets))
    }));
    out
}

/// (matched, expected, ours, report).
fn run(case: &Case) -> (usize, usize, usize, Vec<String>) {
    let r = replay(case.files);
    let ours = lines(&r);
    let mut pool: HashMap<&str, usize> = HashMap::new();
    for l in &ours {
        *pool.entry(l.as_str()).or_default() += 1;
    }
    let mut matched = 0;
    let mut report = r.errors.clone();
    let expected: Vec<&str> = case.expected.lines().filter(|l| !l.is_empty()).collect();
    for e in &expected {
        match pool.get_mut(e) {
            Some(n) if *n > 0 => {
                *n -= 1;
                matched += 1;
            }
            _ => report.push(format!("missing: {e}")),
        }
    }
    for (l, n) in pool {
        for _ in 0..n {
            report.push(format!("not in tshark: {l}"));
        }
    }
    (matched, expected.len(), ours.len(), report)
}

/// Per case: the least number of expected lines that must match.
const FLOORS: &[(&str, usize)] = &[
    ("nfv5", 29),
    ("v9-sampler", 4),
    ("v9-data+templates", 10),
    ("v9-data+templates-twice", 31),
    ("v9-multiple-sampling-rates", 12),
    ("ipfix-biflow", 6),
    ("ipfix-datalink", 1),
    ("sflow-1140", 5),
    ("sflow-expanded", 1),
    ("sflow-counters-30", 149),
    ("sflow-v6", 61),
];

#[test]
fn flows_match_tshark() {
    if !data_dir().is_dir() {
        println!("skipping: ../shared/testdata/flows not found");
        return;
    }
    let mut failures = Vec::new();
    for case in CASES {
        let (matched, expected, ours, report) = run(case);
        println!(
            "{}: {matched}/{expected} tshark records matched; {ours} decoded",
            case.name
        );
        for l in report.iter().take(12) {
            println!("  {l}");
        }
        let floor = FLOORS
            .iter()
            .find(|(n, _)| *n == case.name)
            .map_or(expected, |(_, f)| *f);
        if matched < floor {
            failures.push(format!("{}: {matched} < floor {floor}", case.name));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

/// The Akvorado replay order gives scaled counts: sampler 1 has interval 30000.
#[test]
fn v9_sampler_scaling_reaches_the_event() {
    if !data_dir().is_dir() {
        println!("skipping: ../shared/testdata/flows not found");
        return;
    }
    let r = replay(&[
        "akvorado_nf_options-template.pcap",
        "akvorado_nf_options-data.pcap",
        "akvorado_nf_template.pcap",
        "akvorado_nf_data.pcap",
    ]);
    assert_eq!(r.flows.len(), 4);
    let exporter: IpAddr = "192.0.2.100".parse().unwrap();
    let mut ctx = EventContext {
        source: "routers".into(),
        default_sector: "unknown".into(),
        now: Timestamp::from_secs(1_700_000_000),
        ..EventContext::default()
    };
    ctx.sectors.insert(exporter, "energy".into());
    let e = to_event(&r.flows[0], &ctx);
    assert_eq!(e.sector, "energy");
    assert_eq!(e.fields.network_bytes, Some(1500 * 30_000));
    assert_eq!(e.fields.network_packets, Some(30_000));
    let flow = e.flow.as_deref().unwrap();
    assert_eq!(flow.bytes_raw, Some(1500));
    assert_eq!(flow.packets_raw, Some(1));
    assert_eq!(flow.sampling_rate, Some(30_000));
    assert_eq!(flow.version.as_deref(), Some("netflow9"));
    assert_eq!(flow.exporter, Some(exporter));
    assert_eq!(e.fields.network_transport.as_deref(), Some("tcp"));
    assert_eq!(e.timestamp, flow.end.unwrap());
    // Replaying gives the same ids; different records, different ids.
    let again = replay(&[
        "akvorado_nf_options-template.pcap",
        "akvorado_nf_options-data.pcap",
        "akvorado_nf_template.pcap",
        "akvorado_nf_data.pcap",
    ]);
    assert_eq!(to_event(&again.flows[0], &ctx).id, e.id);
    assert_ne!(to_event(&r.flows[1], &ctx).id, e.id);
    // Without the options data the rate is unknown: 1.
    let unsampled = replay(&["akvorado_nf_template.pcap", "akvorado_nf_data.pcap"]);
    assert_eq!(unsampled.flows[0].sampling_rate, 1);
}

/// Data before its template in one packet is held and decoded once the template came.
#[test]
fn data_before_template_in_one_packet() {
    if !data_dir().is_dir() {
        println!("skipping: ../shared/testdata/flows not found");
        return;
    }
    let r = replay(&["akvorado_nf_data+templates.pcap"]);
    let s = r.decoder.stats();
    assert_eq!(s.sets_held, 1, "{s:?}");
    assert_eq!(s.sets_released, 1, "{s:?}");
    assert_eq!(r.decoder.held_count(), 0);
    assert!(r.flows.len() > 10, "{} flows", r.flows.len());
    assert!(r.flows.iter().all(|f| f.sampling_rate == 100));
}

// Generated by scripts/flows-expected.py with TShark (Wireshark) 4.0.17 (Git v4.0.17 packaged as 4.0.17-0+deb12u3).
const CASES: &[Case] = &[
    Case {
        name: "nfv5",
        files: &["akvorado_nf_nfv5.pcap"],
        expected: "\
161.202.212.212 202.152.70.24 30104 11963 6 133 1 1\n\
173.194.4.8 202.160.21.5 443 37422 6 10262 7 1\n\
172.217.31.10 61.6.236.37 443 52290 17 1246 1 1\n\
143.244.33.150 202.152.86.162 443 16418 6 7090 5 1\n\
157.240.211.63 61.6.237.255 443 43402 17 1278 1 1\n\
142.250.207.78 61.6.230.148 443 45914 6 125 1 1\n\
104.22.7.159 61.6.235.29 443 15581 6 2940 2 1\n\
207.148.102.102 119.160.168.40 443 42462 6 24333 22 1\n\
142.250.199.78 61.6.225.103 443 58152 6 1470 1 1\n\
117.52.33.37 202.160.34.45 3724 33377 6 1470 1 1\n\
184.26.91.160 119.160.169.70 443 65073 6 4410 3 1\n\
172.217.27.3 61.6.230.34 443 3964 6 2940 2 1\n\
157.240.199.207 202.93.210.200 443 39528 17 1278 1 1\n\
92.223.95.33 61.6.239.101 443 53894 6 344 1 1\n\
216.58.200.227 202.152.70.252 443 26227 6 70 1 1\n\
142.250.66.78 61.6.253.103 443 32171 17 67 1 1\n\
172.217.24.246 202.160.35.248 443 54827 17 1246 1 1\n\
172.217.145.73 202.160.21.5 443 48318 6 1466 1 1\n\
34.102.215.99 202.152.71.164 443 6481 6 135 1 1\n\
164.52.106.200 202.152.70.182 5008 13511 17 278 2 1\n\
142.251.220.98 61.6.239.26 443 6324 6 1470 1 1\n\
142.250.207.74 61.6.230.62 443 40547 6 367 1 1\n\
142.250.66.138 61.6.236.168 443 56656 6 167 1 1\n\
151.101.108.159 61.6.230.4 443 28441 6 1470 1 1\n\
157.240.211.63 61.6.233.229 443 37505 17 94 1 1\n\
157.240.199.34 119.160.129.103 443 55580 6 70 1 1\n\
104.86.182.82 61.6.237.140 443 37065 6 1470 1 1\n\
74.125.164.201 202.160.21.36 443 60342 6 13194 9 1\n\
157.240.211.205 202.93.210.203 443 53369 6 7462 6 1\n\
",
    },
    Case {
        name: "v9-sampler",
        files: &[
            "akvorado_nf_options-template.pcap",
            "akvorado_nf_options-data.pcap",
            "akvorado_nf_template.pcap",
            "akvorado_nf_data.pcap",
        ],
        expected: "\
198.38.121.178 91.170.143.87 443 19624 6 1500 1 30000\n\
198.38.121.219 88.122.57.97 443 2444 6 1500 1 30000\n\
173.194.190.106 37.165.129.20 443 53697 6 1400 1 30000\n\
74.125.100.234 88.120.219.117 443 52300 6 1448 1 30000\n\
",
    },
    Case {
        name: "v9-data+templates",
        files: &["akvorado_nf_data+templates.pcap"],
        expected: "\
120.120.180.202 120.120.147.170 443 53744 6 436 1 100\n\
120.120.7.41 120.120.15.78 80 35224 6 21000 14 100\n\
120.120.7.22 120.120.15.78 80 17126 6 15000 10 100\n\
120.120.15.78 120.120.7.29 61512 80 6 40 1 100\n\
120.120.15.78 120.120.150.119 80 45654 6 13500 9 100\n\
120.120.147.178 120.120.224.12 44142 443 17 152 2 100\n\
120.120.150.119 120.120.15.78 45654 80 6 312 6 100\n\
120.120.209.10 120.120.244.100 443 37839 6 270 1 100\n\
120.120.7.100 120.120.135.205 18473 28296 17 48 1 100\n\
120.120.208.195 120.120.145.29 443 52950 17 3834 3 100\n\
",
    },
    Case {
        name: "v9-data+templates-twice",
        files: &[
            "akvorado_nf_data+templates.pcap",
            "akvorado_nf_data+templates.pcap",
        ],
        expected: "\
120.120.180.202 120.120.147.170 443 53744 6 436 1 100\n\
120.120.7.41 120.120.15.78 80 35224 6 21000 14 100\n\
120.120.7.22 120.120.15.78 80 17126 6 15000 10 100\n\
120.120.15.78 120.120.7.29 61512 80 6 40 1 100\n\
120.120.15.78 120.120.150.119 80 45654 6 13500 9 100\n\
120.120.147.178 120.120.224.12 44142 443 17 152 2 100\n\
120.120.150.119 120.120.15.78 45654 80 6 312 6 100\n\
120.120.209.10 120.120.244.100 443 37839 6 270 1 100\n\
120.120.7.100 120.120.135.205 18473 28296 17 48 1 100\n\
120.120.208.195 120.120.145.29 443 52950 17 3834 3 100\n\
120.120.28.238 120.120.244.112 63308 31424 17 48 1 100\n\
120.120.210.6 120.120.185.250 45372 3125 6 60 1 100\n\
120.120.210.6 120.120.253.150 50278 3125 6 60 1 100\n\
120.120.147.170 120.120.215.66 33161 21696 17 132 1 100\n\
120.120.210.6 120.120.131.234 58544 8888 6 60 1 100\n\
120.120.147.178 120.120.208.106 42403 443 17 2556 2 100\n\
120.120.147.170 120.120.158.246 33161 21085 17 132 1 100\n\
120.120.193.38 120.120.144.6 53 53937 17 153 1 100\n\
120.120.46.163 120.120.15.78 57237 80 6 444 7 100\n\
120.120.15.78 120.120.7.36 23938 80 6 40 1 100\n\
120.120.5.4 120.120.135.169 53595 1 6 52 1 100\n\
120.120.180.202 120.120.147.170 443 53744 6 436 1 100\n\
120.120.7.41 120.120.15.78 80 35224 6 21000 14 100\n\
120.120.7.22 120.120.15.78 80 17126 6 15000 10 100\n\
120.120.15.78 120.120.7.29 61512 80 6 40 1 100\n\
120.120.15.78 120.120.150.119 80 45654 6 13500 9 100\n\
120.120.147.178 120.120.224.12 44142 443 17 152 2 100\n\
120.120.150.119 120.120.15.78 45654 80 6 312 6 100\n\
120.120.209.10 120.120.244.100 443 37839 6 270 1 100\n\
120.120.7.100 120.120.135.205 18473 28296 17 48 1 100\n\
120.120.208.195 120.120.145.29 443 52950 17 3834 3 100\n\
",
    },
    Case {
        name: "v9-multiple-sampling-rates",
        files: &[
            "akvorado_nf_multiplesamplingrates-options-template.pcap",
            "akvorado_nf_multiplesamplingrates-options-data.pcap",
            "akvorado_nf_multiplesamplingrates-template.pcap",
            "akvorado_nf_multiplesamplingrates-data.pcap",
        ],
        expected: "\
ffff::68 ffff::1a 443 52616 6 1348 18 4000\n\
ffff::5a ffff::f 2121 2121 17 579 4 2000\n\
ffff::56 ffff::4 443 33490 6 1280 1 2000\n\
ffff::55 ffff::43 443 39826 6 1150 4 2000\n\
ffff::4f ffff::7 443 6174 6 2560 2 2000\n\
ffff::61 ffff::c 443 43024 6 2560 2 2000\n\
ffff::7d ffff::35 443 49541 6 769 1 2000\n\
ffff::60 ffff::e 443 53088 17 2556 2 2000\n\
ffff::48 ffff::23 853 59744 6 564 1 2000\n\
ffff::4b ffff::b 47912 443 6 100 1 2000\n\
ffff::64 ffff::10 443 33750 6 1280 1 2000\n\
ffff::6b ffff::34 443 51998 6 72 1 2000\n\
",
    },
    Case {
        name: "ipfix-biflow",
        files: &[
            "akvorado_nf_ipfixprobe-templates.pcap",
            "akvorado_nf_ipfixprobe-data.pcap",
        ],
        expected: "\
10.10.1.4 10.10.1.1 56166 53 17 62 1 1\n\
10.10.1.1 10.10.1.4 53 56166 17 128 1 1\n\
10.10.1.20 10.10.1.255 138 138 17 229 1 1\n\
10.10.1.4 74.53.140.153 1470 25 6 21673 28 1\n\
74.53.140.153 10.10.1.4 25 1470 6 1546 25 1\n\
192.168.1.1 10.10.1.4 0 0 1 2304 4 1\n\
",
    },
    Case {
        name: "ipfix-datalink",
        files: &[
            "akvorado_nf_datalink-template.pcap",
            "akvorado_nf_datalink-data.pcap",
        ],
        expected: "\
51.51.51.51 52.52.52.52 55501 11777 17 114 1 1\n\
",
    },
    Case {
        name: "sflow-1140",
        files: &["akvorado_sflow_data-1140.pcap"],
        expected: "\
2a0c:8880:2:0:185:21:130:38 2a0c:8880:2:0:185:21:130:39 46026 22 6 1518 1 1024\n\
104.26.8.24 45.90.161.46 443 56876 6 439 1 1024\n\
2a0c:8880:2:0:185:21:130:38 2a0c:8880:2:0:185:21:130:39 46026 22 6 1518 1 1024\n\
45.90.161.148 191.87.91.27 55658 5555 6 64 1 1024\n\
2a0c:8880:2:0:185:21:130:38 2a0c:8880:2:0:185:21:130:39 46026 22 6 1518 1 1024\n\
",
    },
    Case {
        name: "sflow-expanded",
        files: &["akvorado_sflow_data-sflow-expanded-sample.pcap"],
        expected: "\
52.52.52.52 53.53.53.53 22 52237 6 126 1 1000\n\
",
    },
    Case {
        name: "sflow-counters-30",
        files: &["tcpdump_sflow_multiple_counter_30_pdus.pcap"],
        expected: "\
counter 55 820721 178785248\n\
counter 56 156084746 59635889\n\
counter 57 3051593057 1525716840\n\
counter 60 0 178404732\n\
counter 61 0 178368955\n\
counter 62 0 178404650\n\
counter 63 0 178404732\n\
counter 1 2460750 3991394888\n\
counter 2 122196260 3744715166\n\
counter 3 87175881 2575091711\n\
counter 4 3013636604 584566587\n\
counter 5 3835856598 2182764482\n\
counter 6 21722 1874046310\n\
counter 7 3474926128 831378523\n\
counter 8 3858988244 2559231968\n\
counter 9 3386316332 1675798901\n\
counter 10 1558898282 3568458580\n\
counter 11 125808339 1249750181\n\
counter 12 45949249 4019313234\n\
counter 13 32111027 4050797426\n\
counter 14 19576 3990801228\n\
counter 15 96700793 4042743345\n\
counter 16 289703711 4098637095\n\
counter 17 45204461 4014792810\n\
counter 18 95210366 4035379503\n\
counter 19 1379521296 435976335\n\
counter 20 312017292 3242136708\n\
counter 21 4127607826 2091792747\n\
counter 22 124432239 3066166092\n\
counter 23 142412715 3335716564\n\
counter 24 1376243919 3949008841\n\
counter 25 1314601210 2836953588\n\
counter 26 2022052468 620629707\n\
counter 27 3262458931 3900626480\n\
counter 28 259120552 653805810\n\
counter 29 1267844166 321243842\n\
counter 30 1960827113 3144893898\n\
counter 50 4161963595 296840057\n\
counter 51 2214905605 3025945518\n\
counter 52 3618900052 697413100\n\
counter 53 851207797 1855403849\n\
counter 105 1063772406 3728106697\n\
counter 1 398 3980656605\n\
counter 2 1444442513 1845546441\n\
counter 3 200763454 3317395016\n\
counter 4 165801154 2164450538\n\
counter 5 198991268 4052534333\n\
counter 6 561751280 1513353683\n\
counter 7 3193665198 2913194238\n\
counter 8 1089063112 3489201031\n\
counter 9 2436646808 1717246279\n\
counter 10 105616289 10387408\n\
counter 11 1801369357 1769140298\n\
counter 12 4201581256 1948082196\n\
counter 13 1019109063 2052469045\n\
counter 14 36138805 614425293\n\
counter 15 601225935 1981555755\n\
counter 16 4196949353 703618451\n\
counter 17 4170852137 2026848065\n\
counter 18 125400617 3010600832\n\
counter 19 97068375 4110456622\n\
counter 20 85827864 4029102009\n\
counter 21 91053304 4103297026\n\
counter 22 34112098 3973831211\n\
counter 23 88669719 4040560781\n\
counter 24 91303939 4108976190\n\
counter 25 92997371 4037714536\n\
counter 26 736394053 4154005710\n\
counter 27 7325604 4107132478\n\
counter 28 15584594 250802552\n\
counter 56 809903675 3159365496\n\
counter 33 2950591154 3019300047\n\
counter 34 49685433 2876151927\n\
counter 35 408342602 642300096\n\
counter 37 1461246724 498812438\n\
counter 38 71981454 3267993738\n\
counter 39 3630784674 3008452523\n\
counter 40 38989430 2802182351\n\
counter 41 46653626 311406364\n\
counter 50 2331728577 330353971\n\
counter 60 72510805 123866349\n\
counter 61 72511166 2101933816\n\
counter 62 89171611 124086999\n\
counter 63 71037120 2101596784\n\
counter 64 71037922 123494040\n\
counter 29 82208831 4103781979\n\
counter 30 92569896 4037227515\n\
counter 50 1215684621 832983248\n\
counter 51 576720530 428264565\n\
counter 52 3028289271 3361225808\n\
counter 53 2050689076 2159078261\n\
counter 65 71855431 2102528585\n\
counter 66 25177702 39878920\n\
counter 67 25284454 31308450\n\
counter 1 2460750 3991394888\n\
counter 2 122196260 3744715166\n\
counter 3 87175881 2575091711\n\
counter 4 3013639728 584569975\n\
counter 5 3835856598 2182764482\n\
counter 6 21722 1874046630\n\
counter 7 3474926128 831378843\n\
counter 8 3858988244 2559232288\n\
counter 9 3386316332 1675799221\n\
counter 10 1558898282 3568458900\n\
counter 11 125808339 1249750181\n\
counter 12 45949249 4019313234\n\
counter 13 32111027 4050797426\n\
counter 14 19576 3990801228\n\
counter 15 96700793 4042743345\n\
counter 16 289703711 4098637095\n\
counter 17 45204461 4014792810\n\
counter 18 95210366 4035379503\n\
counter 19 1379521296 435976335\n\
counter 20 312017292 3242136708\n\
counter 21 4127607826 2091792747\n\
counter 22 124432239 3066166092\n\
counter 23 142412715 3335716564\n\
counter 24 1376243919 3949008841\n\
counter 25 1314601210 2836953588\n\
counter 26 2022052468 620629707\n\
counter 27 3262458931 3900626480\n\
counter 28 259120552 653805810\n\
counter 29 1267844166 321243842\n\
counter 30 1960827113 3144893898\n\
counter 50 4161963799 296849779\n\
counter 51 2214905605 3025945518\n\
counter 52 3618900052 697413100\n\
counter 53 851211409 1855403849\n\
counter 1 398 3980656605\n\
counter 2 1444442513 1845546441\n\
counter 3 200763454 3317395016\n\
counter 4 165801154 2164450538\n\
counter 5 198991268 4052534333\n\
counter 6 561751280 1513354003\n\
counter 7 3193665262 2913194494\n\
counter 8 1089063112 3489201351\n\
counter 9 2436646808 1717246599\n\
counter 10 105616289 10387728\n\
counter 11 1801371574 1769141617\n\
counter 12 4201581256 1948082196\n\
counter 13 1019109063 2052469045\n\
counter 14 36138805 614425293\n\
87.218.217.112 168.87.242.174 37426 80 6 60 1 1\n\
168.87.240.70 64.30.121.105 80 42359 6 1538 6 1\n\
66.209.64.21 216.115.64.118 53 1981 17 71 1 1\n\
66.209.64.21 216.115.64.118 53 1982 17 71 1 1\n\
216.115.64.118 66.209.64.20 1984 53 17 71 1 1\n\
66.209.64.21 64.79.157.58 53 4368 17 71 1 1\n\
66.209.64.21 64.79.157.58 53 4369 17 71 1 1\n\
",
    },
    Case {
        name: "sflow-v6",
        files: &["tcpdump_sflow-print-v6.pcap"],
        expected: "\
counter 23001 0 9717\n\
counter 20001 0 9717\n\
counter 3001 0 9348\n\
counter 21001 0 11759\n\
counter 18001 0 9717\n\
counter 10001 0 93062\n\
counter 1001 0 9348\n\
counter 19001 0 9717\n\
counter 8001 0 9348\n\
counter 4001 0 9348\n\
10.10.10.2 50.1.1.2 - - 63 64 1 1\n\
counter 13001 0 9717\n\
counter 5001 0 9348\n\
counter 9001 0 9348\n\
counter 7001 192 11262\n\
counter 14001 0 9717\n\
10.10.10.2 50.1.1.2 - - 63 250 1 1\n\
counter 23001 0 9717\n\
counter 20001 0 9717\n\
counter 3001 0 9348\n\
counter 21001 0 12073\n\
counter 18001 0 9717\n\
counter 10001 0 96914\n\
counter 1001 0 9348\n\
counter 19001 0 9717\n\
counter 8001 0 9348\n\
counter 4001 0 9348\n\
counter 13001 0 9717\n\
counter 5001 0 9348\n\
counter 9001 0 9348\n\
counter 7001 442 11262\n\
10.10.10.2 50.1.1.2 - - 63 500 1 1\n\
counter 14001 0 9717\n\
counter 23001 0 9717\n\
counter 20001 0 9717\n\
counter 3001 0 9348\n\
counter 21001 0 12573\n\
counter 18001 0 9717\n\
counter 10001 0 100512\n\
counter 1001 0 9348\n\
counter 19001 0 9717\n\
counter 8001 0 9348\n\
counter 4001 0 9348\n\
counter 13001 0 9717\n\
counter 5001 0 9348\n\
10.10.10.2 50.1.1.2 - - 63 64 1 1\n\
10.10.10.2 50.1.1.2 - - 63 64 1 1\n\
10.10.10.2 50.1.1.2 - - 63 64 1 1\n\
10.10.10.2 50.1.1.2 - - 63 64 1 1\n\
10.10.10.2 50.1.1.2 - - 63 64 1 1\n\
10.10.10.2 50.1.1.2 - - 63 64 1 1\n\
10.10.10.2 50.1.1.2 - - 63 64 1 1\n\
10.10.10.2 50.1.1.2 - - 63 64 1 1\n\
10.10.10.2 50.1.1.2 - - 63 64 1 1\n\
10.10.10.2 50.1.1.2 - - 63 64 1 1\n\
counter 9001 0 9348\n\
counter 7001 942 11262\n\
counter 14001 0 9717\n\
counter 23001 0 9717\n\
counter 20001 0 9717\n\
counter 3001 0 9348\n\
",
    },
];

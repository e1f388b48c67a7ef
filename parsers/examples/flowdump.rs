//! Prints the flows and counter samples decoded from the export packets in pcap files,
//! one per line (`cargo run -p ncsoc-parsers --example flowdump -- FILE...`). The files
//! share one decoder, so templates in one file apply to data in the next.

use ncsoc_model::Timestamp;
use ncsoc_parsers::flow::{decode_export, to_event, EventContext};
use ncsoc_parsers::netflow::NetflowDecoder;
use ncsoc_parsers::{packet, pcap};

fn main() {
    let mut decoder = NetflowDecoder::default();
    let ctx = EventContext {
        source: "flowdump".into(),
        default_sector: "test".into(),
        ..EventContext::default()
    };
    let json = std::env::var_os("FLOWDUMP_JSON").is_some();
    for path in std::env::args().skip(1) {
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let reader = match pcap::PcapReader::new(&data) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        for (i, pkt) in reader.enumerate() {
            let pkt = match pkt {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{path}: {e}");
                    break;
                }
            };
            let Ok(d) = packet::decode(pkt.linktype, pkt.data) else {
                continue;
            };
            let (Some(src), Some(_)) = (d.src, d.dst_port) else {
                continue;
            };
            let mut flows = Vec::new();
            let mut counters = Vec::new();
            let r = decode_export(
                &mut decoder,
                src,
                d.payload,
                pkt.ts.unwrap_or(Timestamp(0)),
                &mut flows,
                &mut counters,
            );
            println!("# {path} packet {}: {r:?}", i + 1);
            for f in &flows {
                if json {
                    println!("{}", to_event(f, &ctx).to_json_string());
                } else {
                    println!("{f:?}");
                }
            }
            for c in &counters {
                println!("{c:?}");
            }
        }
    }
    eprintln!("{:?}", decoder.stats());
}

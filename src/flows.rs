//! `ncsoc flows PCAP...`: the flow records of the NetFlow v5/v9, IPFIX and sFlow v5 export
//! packets found in capture files, as JSON lines (one normalised flow event per line). The
//! files share one decoder, in the order given, so templates sent in one file decode the
//! data of the next. Every UDP payload is tried as an export (the decoder is chosen by its
//! version field, not by the port); packets that are not exports are skipped and counted.
//! A summary of what was decoded goes to stderr as one JSON object.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use ncsoc_model::Timestamp;
use ncsoc_parsers::flow::{decode_export, to_event, EventContext};
use ncsoc_parsers::netflow::NetflowDecoder;
use ncsoc_parsers::{packet, pcap};

/// IP protocol number of UDP.
const UDP: u8 = 17;

pub fn run(files: &[PathBuf], sector: &str, source: &str) -> anyhow::Result<()> {
    let mut decoder = NetflowDecoder::default();
    let ctx = EventContext {
        source: source.to_string(),
        default_sector: sector.to_string(),
        now: Timestamp::now(),
        ..EventContext::default()
    };
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let (mut packets, mut exports, mut not_exports, mut flows_out, mut counter_samples) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut capture_errors = Vec::new();
    let (mut flows, mut counters) = (Vec::new(), Vec::new());
    for path in files {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let reader = pcap::PcapReader::new(&data)
            .map_err(|e| anyhow::anyhow!("{}: not a pcap or pcapng file: {e}", path.display()))?;
        for pkt in reader {
            let pkt = match pkt {
                Ok(p) => p,
                Err(e) => {
                    // A truncated or corrupt capture: keep what was read before.
                    capture_errors.push(format!("{}: {e}", path.display()));
                    break;
                }
            };
            packets += 1;
            let Ok(d) = packet::decode(pkt.linktype, pkt.data) else {
                not_exports += 1;
                continue;
            };
            let (Some(src), Some(_), UDP) = (d.src, d.dst_port, d.protocol) else {
                not_exports += 1;
                continue;
            };
            flows.clear();
            counters.clear();
            let received = pkt.ts.unwrap_or(Timestamp(0));
            if decode_export(
                &mut decoder,
                src,
                d.payload,
                received,
                &mut flows,
                &mut counters,
            )
            .is_err()
            {
                not_exports += 1;
                continue;
            }
            exports += 1;
            counter_samples += counters.len() as u64;
            for f in &flows {
                out.write_all(to_event(f, &ctx).to_json_string().as_bytes())?;
                out.write_all(b"\n")?;
                flows_out += 1;
            }
        }
    }
    out.flush()?;
    let summary = serde_json::json!({
        "packets": packets,
        "export_packets": exports,
        "other_packets": not_exports,
        "flows": flows_out,
        "counter_samples": counter_samples,
        "decoder": format!("{:?}", decoder.stats()),
        "capture_errors": capture_errors,
    });
    eprintln!("{summary}");
    Ok(())
}

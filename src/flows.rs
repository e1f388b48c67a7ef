//! `ncsoc flows PCAP...`: the flow records of the NetFlow v5/v9, IPFIX and sFlow v5 export
//! packets found in capture files, as JSON lines (one normalised flow event per line). The
//! files share one decoder, in the order given, so templates sent in one file decode the
//! data of the next. Every UDP payload is tried as an export (the decoder is chosen by its
//! version field, not by the port); packets that are not exports are skipped and counted.
//! A summary of what was decoded goes to stderr as one JSON object.
//!
//! With `--meter`, every other packet is metered into bidirectional flows
//! ([`ncsoc_parsers::meter`]), in packet time, and those flows are printed too (as they
//! finish, then the rest at the end of the input). UDP packets that decode as exports are
//! still read as exports, not metered.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use ncsoc_model::Timestamp;
use ncsoc_parsers::flow::{decode_export, to_event, EventContext};
use ncsoc_parsers::meter::{self, Meter, MeterConfig};
use ncsoc_parsers::netflow::NetflowDecoder;
use ncsoc_parsers::{packet, pcap};

/// IP protocol number of UDP.
const UDP: u8 = 17;

pub fn run(files: &[PathBuf], sector: &str, source: &str, metering: bool) -> anyhow::Result<()> {
    let mut meter = metering.then(|| Meter::new(MeterConfig::default()));
    let mut metered = Vec::new();
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
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let data = map_file(&file).with_context(|| format!("reading {}", path.display()))?;
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
            let received = pkt.ts.unwrap_or(Timestamp(0));
            let is_export = try_export(&mut decoder, &d, received, &mut flows, &mut counters);
            if !is_export {
                not_exports += 1;
                if let Some(m) = meter.as_mut() {
                    m.push(received, &d, pkt.orig_len, &mut metered);
                    write_metered(
                        &mut out,
                        &mut metered,
                        sector,
                        source,
                        ctx.now,
                        &mut flows_out,
                    )?;
                }
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
    if let Some(m) = meter.as_mut() {
        m.flush(&mut metered);
        write_metered(
            &mut out,
            &mut metered,
            sector,
            source,
            ctx.now,
            &mut flows_out,
        )?;
    }
    out.flush()?;
    let summary = serde_json::json!({
        "packets": packets,
        "export_packets": exports,
        "other_packets": not_exports,
        "flows": flows_out,
        "counter_samples": counter_samples,
        "decoder": format!("{:?}", decoder.stats()),
        "meter": meter.as_ref().map(|m| format!("{:?}", m.stats())),
        "capture_errors": capture_errors,
    });
    eprintln!("{summary}");
    Ok(())
}

/// Reads a decoded UDP packet as a flow export into `flows` and `counters` (cleared
/// first). True when it was one: it gave flows or counter samples, or taught the decoder a
/// template. Shared by `ncsoc flows` and `ncsoc replay`.
pub(crate) fn try_export(
    decoder: &mut NetflowDecoder,
    d: &packet::Decoded<'_>,
    received: Timestamp,
    flows: &mut Vec<ncsoc_parsers::flow::Flow>,
    counters: &mut Vec<ncsoc_parsers::sflow::CounterSample>,
) -> bool {
    let (Some(src), Some(_), UDP) = (d.src, d.dst_port, d.protocol) else {
        return false;
    };
    flows.clear();
    counters.clear();
    let learned = decoder.stats().templates_learned;
    decode_export(decoder, src, d.payload, received, flows, counters).is_ok()
        && (!flows.is_empty()
            || !counters.is_empty()
            || decoder.stats().templates_learned > learned)
}

fn write_metered(
    out: &mut impl Write,
    metered: &mut Vec<meter::MeteredFlow>,
    sector: &str,
    source: &str,
    now: Timestamp,
    count: &mut u64,
) -> io::Result<()> {
    for f in metered.drain(..) {
        out.write_all(
            meter::to_event(&f, sector, source, now)
                .to_json_string()
                .as_bytes(),
        )?;
        out.write_all(b"\n")?;
        *count += 1;
    }
    Ok(())
}

/// The capture file, memory-mapped: reading a large capture into a buffer spent more time
/// in the kernel (zeroing fresh pages, then copying into them) than metering it did.
#[allow(unsafe_code)]
pub(crate) fn map_file(file: &std::fs::File) -> io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only, private to this process and dropped once the file is
    // read. The one hazard is another process truncating the file while it is mapped,
    // which ends this process with SIGBUS when the vanished pages are read: capture files
    // handed to `ncsoc flows` must not be rewritten while they are read.
    unsafe { memmap2::Mmap::map(file) }
}

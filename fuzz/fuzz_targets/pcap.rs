//! Any bytes as a pcap or pcapng file: every packet through the packet decoder, and its
//! payload through the DNS and TLS ClientHello readers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ncsoc_parsers::{packet, pcap};

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = pcap::PcapReader::new(data) else {
        return;
    };
    for pkt in reader {
        let Ok(pkt) = pkt else {
            break;
        };
        assert!(pkt.data.len() <= data.len());
        if let Ok(d) = packet::decode(pkt.linktype, pkt.data) {
            let _ = packet::dns(d.payload);
            let _ = packet::tls_client_hello_sni(d.payload);
            if let Some((_, Ok(inner))) = packet::vxlan_inner(&d) {
                let _ = packet::dns(inner.payload);
            }
        }
    }
});

//! Pure, synchronous parsers (no tokio): syslog, CEF, LEEF, JSON, NetFlow/IPFIX/sFlow and
//! packet decode, each turning borrowed input into [`ncsoc_model::Event`]s without
//! panicking and within configured bounds.

pub mod packet;
pub mod pcap;
pub mod syslog;

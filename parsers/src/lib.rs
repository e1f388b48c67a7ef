//! Pure, synchronous parsers (no tokio): syslog, CEF, LEEF, JSON, NetFlow/IPFIX/sFlow and
//! packet decode, each turning borrowed input into [`ncsoc_model::Event`]s without
//! panicking and within configured bounds.
//!
//! Flow intake: [`pcap`] reads capture files, [`packet`] decodes frames, [`netflow`] and
//! [`sflow`] decode export datagrams into [`flow::Flow`]s, and [`flow::decode_export`]
//! picks the decoder from a UDP payload's version field; [`flow::to_event`] maps a flow
//! onto ECS.

pub mod cef;
mod extras;
pub mod flow;
pub mod format;
pub mod json;
pub mod leef;
pub mod meter;
pub mod netflow;
pub mod packet;
pub mod pcap;
pub mod sflow;
pub mod syslog;
mod text;
mod timefmt;

pub use format::{detect, parse_line, Format, LineError};
pub use syslog::Context;

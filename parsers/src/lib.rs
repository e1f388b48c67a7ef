//! Pure, synchronous parsers (no tokio): syslog, CEF, LEEF, JSON, NetFlow/IPFIX/sFlow and
//! packet decode, each turning borrowed input into [`ncsoc_model::Event`]s without
//! panicking and within configured bounds. The formats arrive with the intake and flow
//! issues; this crate fixes where they live and what they may depend on.

pub mod cef;
mod extras;
pub mod format;
pub mod json;
pub mod leef;
pub mod syslog;
mod text;
mod timefmt;

pub use format::{detect, parse_line, Format, LineError};
pub use syslog::Context;

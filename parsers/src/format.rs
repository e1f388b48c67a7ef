//! One entry point for every line format: [`parse_line`] with a fixed [`Format`] or
//! [`Format::Auto`], which looks at each line to choose its parser. Collectors, `ncsoc
//! parse` and the replay all go through here, so a format behaves the same everywhere.

use std::fmt;
use std::str::FromStr;

use ncsoc_model::Event;

use crate::json::JsonParser;
use crate::syslog::{self, Context};

thread_local! {
    /// simd-json parses in place and keeps buffers between documents: one parser and one
    /// scratch copy of the line per thread.
    static JSON: std::cell::RefCell<(JsonParser, Vec<u8>)> =
        std::cell::RefCell::new((JsonParser::new(), Vec::new()));
}

/// The line formats ncsoc reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Chosen per line by [`detect`].
    #[default]
    Auto,
    /// RFC 5424 or RFC 3164.
    Syslog,
    /// ArcSight CEF, bare or after a syslog header.
    Cef,
    /// IBM QRadar LEEF 1.0/2.0, bare or after a syslog header.
    Leef,
    /// One JSON document per line (Suricata EVE, Zeek, ECS, Wazuh, or any other JSON).
    Json,
}

impl Format {
    pub const NAMES: &'static [&'static str] = &["auto", "syslog", "cef", "leef", "json"];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Syslog => "syslog",
            Format::Cef => "cef",
            Format::Leef => "leef",
            Format::Json => "json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => Format::Auto,
            "syslog" => Format::Syslog,
            "cef" => Format::Cef,
            "leef" => Format::Leef,
            // EVE and Zeek JSON are JSON lines; the JSON parser tells them apart.
            "json" | "eve" | "zeek" => Format::Json,
            other => {
                return Err(format!(
                    "unknown format `{other}` (expected one of {})",
                    Format::NAMES.join(", ")
                ))
            }
        })
    }
}

/// Why a line was not turned into an event: the parser that tried, and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub format: Format,
    pub reason: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.format, self.reason)
    }
}

impl std::error::Error for LineError {}

/// Which parser a line needs: JSON when it starts with `{`, CEF or LEEF when their
/// header appears (bare or after a syslog header), syslog otherwise.
pub fn detect(line: &[u8]) -> Format {
    let trimmed = line.trim_ascii_start();
    if trimmed.first() == Some(&b'{') {
        return Format::Json;
    }
    // The CEF/LEEF header starts the message: at most a syslog header (bounded) before it.
    let head = &trimmed[..trimmed.len().min(512)];
    if find(head, b"CEF:").is_some() {
        Format::Cef
    } else if find(head, b"LEEF:").is_some() {
        Format::Leef
    } else {
        Format::Syslog
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses one line (without its line terminator) in `format` into a normalised event.
pub fn parse_line(format: Format, line: &[u8], ctx: &Context) -> Result<Event, LineError> {
    let format = match format {
        Format::Auto => detect(line),
        f => f,
    };
    let err = |reason: String| LineError { format, reason };
    match format {
        Format::Syslog | Format::Auto => syslog::parse(line, ctx)
            .map(|m| syslog::to_event(&m, line, ctx))
            .map_err(|e| err(e.to_string())),
        Format::Json => JSON.with(|j| {
            let (parser, buf) = &mut *j.borrow_mut();
            buf.clear();
            buf.extend_from_slice(line);
            parser.parse(buf, ctx).map_err(|e| err(e.to_string()))
        }),
        Format::Cef => crate::cef::parse_event(line, ctx).map_err(|e| err(e.to_string())),
        Format::Leef => crate::leef::parse_event(line, ctx).map_err(|e| err(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_per_line() {
        assert_eq!(detect(b"  {\"event_type\":\"alert\"}"), Format::Json);
        assert_eq!(
            detect(b"<13>Jan  1 00:00:00 fw CEF:0|Vendor|Product|1|100|Name|5|src=1.2.3.4"),
            Format::Cef
        );
        assert_eq!(
            detect(b"LEEF:1.0|IBM|QRadar|1|E1|src=1.2.3.4"),
            Format::Leef
        );
        assert_eq!(
            detect(b"<34>1 2003-10-11T22:14:15.003Z host su - ID47 - hello"),
            Format::Syslog
        );
    }

    #[test]
    fn json_lines_go_to_the_json_parsers() {
        let ctx = Context {
            sector: "health".into(),
            source: "ids".into(),
            now: ncsoc_model::Timestamp::from_secs(1_764_216_000),
            default_offset_secs: 0,
        };
        let line = br#"{"timestamp":"2026-11-27T04:00:00.000000+0000","flow_id":1,"event_type":"alert","src_ip":"192.0.2.1","src_port":4444,"dest_ip":"10.0.0.2","dest_port":80,"proto":"TCP","alert":{"signature_id":2100498,"signature":"GPL ATTACK_RESPONSE id check returned root","severity":2}}"#;
        let e = parse_line(Format::Auto, line, &ctx).unwrap();
        assert_eq!(e.sector, "health");
        assert_eq!(e.fields.rule_id.as_deref(), Some("2100498"));
        assert_eq!(e.fields.destination_port, Some(80));
        let bad = parse_line(Format::Auto, b"{\"unterminated\": ", &ctx).unwrap_err();
        assert_eq!(bad.format, Format::Json);
    }

    #[test]
    fn cef_and_leef_lines_go_to_their_parsers() {
        let ctx = Context {
            sector: "finance".into(),
            source: "fw".into(),
            now: ncsoc_model::Timestamp::from_secs(1_764_216_000),
            default_offset_secs: 0,
        };
        let e = parse_line(
            Format::Auto,
            b"<13>Nov 27 04:00:00 fw01 CEF:0|Acme|Firewall|1.0|100|Blocked|5|src=192.0.2.7 dst=10.0.0.1 dpt=445",
            &ctx,
        )
        .unwrap();
        assert_eq!(e.fields.destination_port, Some(445));
        assert_eq!(e.fields.observer_vendor.as_deref(), Some("Acme"));
        let e = parse_line(
            Format::Auto,
            b"LEEF:2.0|Acme|IPS|2.1|4001|^|src=198.51.100.9^dst=10.0.0.3^dstPort=22",
            &ctx,
        )
        .unwrap();
        assert_eq!(e.fields.destination_port, Some(22));
        let bad = parse_line(Format::Cef, b"CEF:0|only|three", &ctx).unwrap_err();
        assert_eq!(bad.format, Format::Cef);
    }

    #[test]
    fn names_round_trip() {
        for name in Format::NAMES {
            assert_eq!(name.parse::<Format>().unwrap().as_str(), *name);
        }
        assert_eq!("eve".parse::<Format>().unwrap(), Format::Json);
        assert!("xml"
            .parse::<Format>()
            .unwrap_err()
            .contains("unknown format"));
    }
}

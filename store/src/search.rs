//! What event and flow searches and the chart aggregations ask of a store beyond the
//! sector, time, address and port filters of [`crate::EventQuery`]: exact-value filters
//! on a fixed allow-list of fields, the order and a keyset cursor, top-N groups and time
//! buckets. Both backends evaluate all of it inside their query, after the sector scope.

use std::net::IpAddr;

use ncsoc_model::{IndicatorKind, Timestamp};

use crate::{Result, StoreError};

/// Most field filters one query may carry.
pub const MAX_FIELD_FILTERS: usize = 16;
/// Longest value a field filter may compare with, in bytes.
pub const MAX_FIELD_VALUE_LEN: usize = 1024;
/// Most buckets one time series may have.
pub const MAX_BUCKETS: i64 = 1440;
/// Most groups a top-N query may return.
pub const MAX_TOP: usize = 1000;

/// A field an event or flow search can filter on by exact value, named as in ECS. Every
/// one is a stored column in ClickHouse; in the embedded store the addresses, ports and
/// `ncsoc.source` are columns and the rest are read from the stored row inside the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    EventKind,
    EventCategory,
    EventType,
    EventAction,
    EventOutcome,
    EventDataset,
    EventModule,
    ObserverVendor,
    ObserverProduct,
    ObserverHostname,
    HostName,
    SourceIp,
    SourcePort,
    DestinationIp,
    DestinationPort,
    NetworkTransport,
    NetworkProtocol,
    NetworkDirection,
    NetworkCommunityId,
    UserName,
    ProcessName,
    RuleId,
    RuleName,
    UrlOriginal,
    DnsQuestionName,
    TlsServerSni,
    NcsocSource,
}

/// How a field's value is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Exact text.
    Text,
    /// A list of texts (`event.category`, `event.type`): matches if any element is equal.
    List,
    /// An address: the value is an address or a CIDR prefix.
    Address,
    /// A port number.
    Port,
}

impl Field {
    /// Every field, in the order the API documents them.
    pub const ALL: &'static [Field] = &[
        Field::EventKind,
        Field::EventCategory,
        Field::EventType,
        Field::EventAction,
        Field::EventOutcome,
        Field::EventDataset,
        Field::EventModule,
        Field::ObserverVendor,
        Field::ObserverProduct,
        Field::ObserverHostname,
        Field::HostName,
        Field::SourceIp,
        Field::SourcePort,
        Field::DestinationIp,
        Field::DestinationPort,
        Field::NetworkTransport,
        Field::NetworkProtocol,
        Field::NetworkDirection,
        Field::NetworkCommunityId,
        Field::UserName,
        Field::ProcessName,
        Field::RuleId,
        Field::RuleName,
        Field::UrlOriginal,
        Field::DnsQuestionName,
        Field::TlsServerSni,
        Field::NcsocSource,
    ];

    /// (ECS name, stored column, kind).
    fn spec(self) -> (&'static str, &'static str, FieldKind) {
        use FieldKind::*;
        match self {
            Field::EventKind => ("event.kind", "kind", Text),
            Field::EventCategory => ("event.category", "category", List),
            Field::EventType => ("event.type", "event_type", List),
            Field::EventAction => ("event.action", "action", Text),
            Field::EventOutcome => ("event.outcome", "outcome", Text),
            Field::EventDataset => ("event.dataset", "dataset", Text),
            Field::EventModule => ("event.module", "module", Text),
            Field::ObserverVendor => ("observer.vendor", "observer_vendor", Text),
            Field::ObserverProduct => ("observer.product", "observer_product", Text),
            Field::ObserverHostname => ("observer.hostname", "observer_hostname", Text),
            Field::HostName => ("host.name", "host_name", Text),
            Field::SourceIp => ("source.ip", "src_ip", Address),
            Field::SourcePort => ("source.port", "src_port", Port),
            Field::DestinationIp => ("destination.ip", "dst_ip", Address),
            Field::DestinationPort => ("destination.port", "dst_port", Port),
            Field::NetworkTransport => ("network.transport", "transport", Text),
            Field::NetworkProtocol => ("network.protocol", "protocol", Text),
            Field::NetworkDirection => ("network.direction", "direction", Text),
            Field::NetworkCommunityId => ("network.community_id", "community_id", Text),
            Field::UserName => ("user.name", "user_name", Text),
            Field::ProcessName => ("process.name", "process_name", Text),
            Field::RuleId => ("rule.id", "rule_id", Text),
            Field::RuleName => ("rule.name", "rule_name", Text),
            Field::UrlOriginal => ("url.original", "url", Text),
            Field::DnsQuestionName => ("dns.question.name", "dns_question", Text),
            Field::TlsServerSni => ("tls.server.sni", "tls_sni", Text),
            Field::NcsocSource => ("ncsoc.source", "source", Text),
        }
    }

    /// The ECS name (`event.action`).
    pub fn name(self) -> &'static str {
        self.spec().0
    }

    /// The stored column ([`crate::row::EVENT_COLUMNS`]).
    pub fn column(self) -> &'static str {
        self.spec().1
    }

    pub fn kind(self) -> FieldKind {
        self.spec().2
    }

    /// The field of an ECS name, if it is on the allow-list.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.name() == name)
    }
}

/// The value a field filter compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Text(String),
    /// An address prefix: (network, prefix length).
    Net(IpAddr, u8),
    Port(u16),
}

/// `field = value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldFilter {
    pub field: Field,
    pub value: FieldValue,
}

impl FieldFilter {
    /// Reads `value` as the field's kind wants it; a value that does not fit is a bad query.
    pub fn parse(field: Field, value: &str) -> Result<Self> {
        let value = match field.kind() {
            FieldKind::Text | FieldKind::List => {
                if value.len() > MAX_FIELD_VALUE_LEN {
                    return Err(StoreError::BadQuery(format!(
                        "{}: value longer than {MAX_FIELD_VALUE_LEN} bytes",
                        field.name()
                    )));
                }
                FieldValue::Text(value.to_string())
            }
            FieldKind::Address => {
                let (net, prefix) = parse_net(value)
                    .map_err(|e| StoreError::BadQuery(format!("{}: {e}", field.name())))?;
                FieldValue::Net(net, prefix)
            }
            FieldKind::Port => FieldValue::Port(value.parse().map_err(|_| {
                StoreError::BadQuery(format!(
                    "{}: `{}` is not a port number (0-65535)",
                    field.name(),
                    clip(value)
                ))
            })?),
        };
        Ok(Self { field, value })
    }
}

/// Most free-text terms one query may carry.
pub const MAX_TEXT_TERMS: usize = 8;
/// Longest free-text term, in bytes.
pub const MAX_TEXT_TERM_LEN: usize = 256;

/// Splits a free-text search into its terms, each to be found (case-insensitively) in
/// some text value of a record: words separated by spaces, or a `"quoted phrase"` kept
/// whole. The terms come back lowercased. No terms, too many, a term too long or one with
/// a control character is a bad query.
pub fn parse_text_terms(q: &str) -> Result<Vec<String>> {
    if q.chars().any(char::is_control) {
        return Err(StoreError::BadQuery(
            "free text: control characters are not searchable".into(),
        ));
    }
    let mut terms = Vec::new();
    let mut rest = q.trim_start();
    while !rest.is_empty() {
        let (term, after) = match rest.strip_prefix('"') {
            Some(r) => match r.find('"') {
                Some(end) => (&r[..end], &r[end + 1..]),
                None => (r, ""),
            },
            None => match rest.find(char::is_whitespace) {
                Some(end) => (&rest[..end], &rest[end..]),
                None => (rest, ""),
            },
        };
        if !term.is_empty() {
            if term.len() > MAX_TEXT_TERM_LEN {
                return Err(StoreError::BadQuery(format!(
                    "free text: a term is longer than {MAX_TEXT_TERM_LEN} bytes"
                )));
            }
            terms.push(term.to_lowercase());
        }
        rest = after.trim_start();
    }
    if terms.is_empty() {
        return Err(StoreError::BadQuery(
            "free text: nothing to search for".into(),
        ));
    }
    if terms.len() > MAX_TEXT_TERMS {
        return Err(StoreError::BadQuery(format!(
            "free text: at most {MAX_TEXT_TERMS} terms"
        )));
    }
    Ok(terms)
}

/// Whether `hay` contains `needle` (already lowercased) regardless of case: ASCII letters
/// are compared without allocating; other text is lowercased first.
pub fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        let first = n[0];
        let alt = first.to_ascii_uppercase();
        let mut at = 0;
        while let Some(i) = memchr::memchr2(first, alt, &h[at..]) {
            let start = at + i;
            match h.get(start..start + n.len()) {
                Some(w) if w.eq_ignore_ascii_case(n) => return true,
                Some(_) => at = start + 1,
                None => return false,
            }
        }
        false
    } else {
        hay.to_lowercase().contains(needle)
    }
}

/// The first characters of an input, for an error message.
fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// An address (`10.0.0.1`, `2001:db8::1`: a whole-address prefix) or a CIDR prefix
/// (`10.0.0.0/8`, `2001:db8::/32`). Host bits below the prefix are allowed and ignored.
pub fn parse_net(s: &str) -> std::result::Result<(IpAddr, u8), String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("`{}` is not an IPv4 or IPv6 address", clip(addr)))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max && !p.starts_with('+') => n,
            _ => {
                return Err(format!(
                    "`/{}` is not a prefix length for {ip} (0-{max})",
                    clip(p)
                ))
            }
        },
    };
    Ok((ip, prefix))
}

/// Which end of the time range a search starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    OldestFirst,
    NewestFirst,
}

/// Where a page of results ended: the event time and id of its last row. The next page
/// holds the rows after it in the same order (ties on time broken by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub ts: Timestamp,
    pub id: String,
}

/// Longest event id a cursor may carry.
const MAX_CURSOR_ID: usize = 256;

impl Cursor {
    /// The opaque text form: `<nanoseconds>.<id as hex>`.
    pub fn encode(&self) -> String {
        let mut s = format!("{}.", self.ts.nanos());
        for b in self.id.bytes() {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    pub fn decode(s: &str) -> Result<Self> {
        let bad =
            || StoreError::BadQuery("malformed cursor: pass back next_cursor as given".into());
        let (ts, hex) = s.split_once('.').ok_or_else(bad)?;
        let ts: i64 = ts.parse().map_err(|_| bad())?;
        if hex.len() % 2 != 0 || hex.len() > 2 * MAX_CURSOR_ID || !hex.is_ascii() {
            return Err(bad());
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<std::result::Result<Vec<u8>, _>>()
            .map_err(|_| bad())?;
        let id = String::from_utf8(bytes).map_err(|_| bad())?;
        Ok(Self {
            ts: Timestamp(ts),
            id,
        })
    }
}

/// What rows a top-N query groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopBy {
    SourceIp,
    DestinationIp,
    DestinationPort,
    Sector,
}

/// What a top-N query or a time series adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Rows (events or flow records).
    Count,
    /// `network.bytes`.
    Bytes,
    /// `network.packets`.
    Packets,
}

/// One group of a top-N answer: the address, port or sector as text, and its total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopEntry {
    pub key: String,
    pub value: u64,
}

/// The rows of one sector in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub start: Timestamp,
    pub sector: String,
    pub count: u64,
    /// Sum of `network.bytes` (flows; 0 for a query over events).
    pub bytes: u64,
    /// Sum of `network.packets` (flows; 0 for a query over events).
    pub packets: u64,
}

/// Filters for the indicator list; results ordered by id.
#[derive(Debug, Clone, Default)]
pub struct IndicatorQuery {
    pub kind: Option<IndicatorKind>,
    pub source: Option<String>,
    /// Only indicators valid at this time.
    pub active_at: Option<Timestamp>,
    /// Only ids after this one (keyset pagination).
    pub after: Option<String>,
    pub limit: usize,
}

/// The bucket width and bounds of a time series, checked: `from` ≥ 0, `from` < `to`, a
/// width of at least a second, and at most [`MAX_BUCKETS`] buckets once the range is
/// aligned to whole buckets. Returns (width in nanoseconds, aligned from, aligned to).
pub fn bucket_range(from: Timestamp, to: Timestamp, bucket_secs: u32) -> Result<(i64, i64, i64)> {
    if bucket_secs == 0 {
        return Err(StoreError::BadQuery("bucket width must be positive".into()));
    }
    if from.nanos() < 0 || to <= from {
        return Err(StoreError::BadQuery(
            "a time series needs 1970-01-01 <= from < to".into(),
        ));
    }
    let width = i64::from(bucket_secs) * 1_000_000_000;
    let lo = from.nanos() / width * width;
    let hi = ((to.nanos() as u64).div_ceil(width as u64) as i64).saturating_mul(width);
    let n = (hi - lo) / width;
    if n > MAX_BUCKETS {
        return Err(StoreError::BadQuery(format!(
            "{n} buckets of {bucket_secs} s between from and to; at most {MAX_BUCKETS}: widen the bucket or narrow the range"
        )));
    }
    Ok((width, lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets_parse_with_and_without_prefix() {
        assert_eq!(
            parse_net("10.1.2.3").unwrap(),
            ("10.1.2.3".parse().unwrap(), 32)
        );
        assert_eq!(
            parse_net("10.0.0.0/8").unwrap(),
            ("10.0.0.0".parse().unwrap(), 8)
        );
        assert_eq!(
            parse_net("2001:db8::/32").unwrap(),
            ("2001:db8::".parse().unwrap(), 32)
        );
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "x",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "",
        ] {
            assert!(parse_net(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            ts: Timestamp(1_764_201_600_123_456_789),
            id: "ab/é\u{0}".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in [
            "",
            "1",
            "x.00",
            "1.0",
            "1.zz",
            "1.ff",
            &format!("1.{}", "00".repeat(300)),
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_terms_split_on_spaces_keep_quoted_phrases_and_are_bounded() {
        assert_eq!(
            parse_text_terms("  Failed  \"root Login\" sshd ").unwrap(),
            vec!["failed", "root login", "sshd"]
        );
        assert_eq!(parse_text_terms("\"open").unwrap(), vec!["open"]);
        assert!(parse_text_terms("   ").is_err());
        assert!(parse_text_terms("\"\"").is_err());
        assert!(parse_text_terms("a\u{7}b").is_err());
        assert!(parse_text_terms(&"x ".repeat(MAX_TEXT_TERMS + 1)).is_err());
        assert!(parse_text_terms(&"x".repeat(MAX_TEXT_TERM_LEN + 1)).is_err());
    }

    #[test]
    fn text_matching_ignores_case() {
        assert!(contains_ignore_case("Accepted password for ROOT", "root"));
        assert!(contains_ignore_case("xxrOoT", "root"));
        assert!(!contains_ignore_case("roo", "root"));
        assert!(!contains_ignore_case("r-o-o-t", "root"));
        assert!(contains_ignore_case(
            "Überweisung fehlgeschlagen",
            "überweisung"
        ));
        assert!(!contains_ignore_case("abc", "ä"));
    }

    #[test]
    fn fields_have_unique_names_and_parse_their_values() {
        for f in Field::ALL {
            assert_eq!(Field::from_name(f.name()), Some(*f));
            assert!(
                crate::row::EVENT_COLUMNS.iter().any(|c| c.0 == f.column()),
                "{f:?}"
            );
        }
        assert_eq!(Field::from_name("event.original"), None);
        assert!(FieldFilter::parse(Field::DestinationPort, "70000").is_err());
        assert!(FieldFilter::parse(Field::SourceIp, "10.0.0.0/8").is_ok());
        assert!(FieldFilter::parse(Field::UserName, &"x".repeat(2000)).is_err());
    }

    #[test]
    fn bucket_ranges_are_aligned_and_bounded() {
        let t = |s| Timestamp::from_secs(s);
        assert_eq!(
            bucket_range(t(90), t(150), 60).unwrap(),
            (60_000_000_000, 60_000_000_000, 180_000_000_000)
        );
        assert!(bucket_range(t(0), t(86_400), 60).is_ok());
        assert!(bucket_range(t(0), t(86_401), 60).is_err());
        assert!(bucket_range(t(10), t(10), 60).is_err());
        assert!(bucket_range(Timestamp(-1), t(10), 60).is_err());
    }
}

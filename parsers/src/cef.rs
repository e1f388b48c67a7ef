//! ArcSight Common Event Format (CEF) into [`Message`]s and ECS [`Event`]s.
//!
//! # The format
//!
//! `CEF:Version|Device Vendor|Device Product|Device Version|Device Event Class ID|Name|Severity|Extension`,
//! for example
//! `CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232`.
//!
//! - Version is `0` (CEF 0.x) or `1` (CEF 1.x); anything else is rejected.
//! - In the seven header fields `\|` is a pipe and `\\` a backslash; any other backslash is
//!   an error.
//! - The extension is `key=value` pairs separated by spaces. Keys are ASCII letters,
//!   digits, `_`, `.` and `-`. A value runs until the next space that is followed by a key
//!   and `=`, so values may hold spaces, and an unescaped `=` not preceded by a key-shaped
//!   word stays in the value (`request=https://x/?a=b`). In values `\=`, `\\`, `\|`, `\n`
//!   (newline) and `\r` (carriage return) are escapes; any other backslash is an error, as
//!   liblognorm has it. Literal newlines inside a value are kept (multi-line values).
//!   Trailing spaces of a value are dropped. An empty or all-space extension is allowed.
//! - Anything before `CEF:` is a transport prefix: when it reads as a syslog header (RFC
//!   3164 or RFC 5424, see [`crate::syslog`]) its fields are kept on the message; when it
//!   does not, it is ignored, as Elastic's `decode_cef` does.
//!
//! Header fields and values borrow from the input; only a field with an escape, or one
//! that is not valid UTF-8 (replaced lossily), is allocated.
//!
//! # ECS
//!
//! [`to_event`] follows Elastic's `decode_cef` processor and `cef` integration:
//! `cef.version`, `cef.device.{vendor,product,version,event_class_id}`, `cef.name`,
//! `cef.severity`, and `cef.extensions.<fullName>` for every extension, short names
//! (`src`, `dpt`, `cs1Label`, ...) translated to the full names of the CEF specification
//! (revision 25) and values converted to their types (integers, floats, timestamps as RFC
//! 3339; IP addresses are checked before they fill `source.ip` and similar fields).
//! Empty values are left out of the event, as Elastic does. The header fills
//! `observer.vendor/product/version`, `event.code`, `message` and `event.severity`, and the
//! extensions the ECS fields listed in the key table below (`source.ip`, `source.port`,
//! `destination.*`, `network.transport`, `user.name`, `event.action`, `url.original`,
//! `source.bytes`, ...). Two deliberate differences from Elastic: `event.id` stays the
//! deterministic content id every ncsoc parser gives (a sender's `eventId` is kept as
//! `cef.extensions.eventId`), and `type` is not copied to `event.kind`, whose ECS values it
//! does not use. `@timestamp` is `rt` (deviceReceiptTime), else `end`, else `start`, else
//! the syslog timestamp, else the receive time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::OnceLock;

use memchr::memmem;
use ncsoc_model::id::id_from_parts;
use ncsoc_model::Event;
use serde_json::Value;

use crate::extras::Extras;
use crate::syslog;
pub use crate::syslog::Context;
use crate::text::{self, Text};
use crate::timefmt;

/// A parsed CEF message, borrowing the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<'a> {
    /// The syslog header the message came in, when it had one.
    pub syslog: Option<syslog::Message<'a>>,
    /// 0 or 1.
    pub version: u8,
    pub device_vendor: Cow<'a, str>,
    pub device_product: Cow<'a, str>,
    pub device_version: Cow<'a, str>,
    pub device_event_class_id: Cow<'a, str>,
    pub name: Cow<'a, str>,
    pub severity: Cow<'a, str>,
    /// Extension pairs in input order, keys as written (short or full names).
    pub extensions: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> Message<'a> {
    /// The value of an extension by its short or full name (`src` or `sourceAddress`);
    /// the last one when a key is repeated.
    pub fn get(&self, key: &str) -> Option<&str> {
        let want = full_name(key);
        self.extensions
            .iter()
            .rev()
            .find(|(k, _)| *k == key || full_name(k) == want)
            .map(|(_, v)| v.as_ref())
    }

    /// Custom fields paired with their labels (`cs1Label=Rule cs1=Block` gives
    /// `("Rule", "Block")`), for every `…Label` extension whose field is present.
    pub fn custom_fields(&self) -> Vec<(&str, &str)> {
        // Last value per full name; one pass, so hostile input with many keys stays linear.
        let by_name: HashMap<&str, &str> = self
            .extensions
            .iter()
            .map(|(k, v)| (full_name(k), v.as_ref()))
            .collect();
        let mut out = Vec::new();
        for (k, label) in &self.extensions {
            let Some(field) = full_name(k).strip_suffix("Label") else {
                continue;
            };
            if let Some(v) = by_name.get(field) {
                out.push((label.as_ref(), *v));
            }
        }
        out
    }
}

/// Why input could not be read as CEF: the byte offset, the part being read and what was
/// expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub field: &'static str,
    pub expected: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid CEF {} at byte {}: expected {}",
            self.field, self.offset, self.expected
        )
    }
}

impl std::error::Error for ParseError {}

const HEADER_FIELDS: [&str; 6] = [
    "device vendor",
    "device product",
    "device version",
    "device event class id",
    "name",
    "severity",
];

/// The `CEF:` searcher, built once (building one per message cost more than the search).
fn finder() -> &'static memmem::Finder<'static> {
    static FINDER: std::sync::OnceLock<memmem::Finder<'static>> = std::sync::OnceLock::new();
    FINDER.get_or_init(|| memmem::Finder::new(b"CEF:"))
}

/// Parses a CEF message, bare or after a syslog header (or any other prefix).
pub fn parse<'a>(input: &'a [u8], ctx: &Context) -> Result<Message<'a>, ParseError> {
    let end = input
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | 0))
        .map_or(0, |i| i + 1);
    let b = &input[..end];
    let start = if b.starts_with(b"CEF:") {
        0
    } else {
        finder().find(b).ok_or(ParseError {
            offset: 0,
            field: "header",
            expected: "'CEF:'",
        })?
    };
    let syslog = match start {
        0 => None,
        _ => syslog::parse(&b[..start], ctx).ok(),
    };
    parse_at(Text::new(b), start, syslog)
}

/// Parses the CEF text starting at `start` (the `C` of `CEF:`).
fn parse_at<'a>(
    t: Text<'a>,
    start: usize,
    syslog: Option<syslog::Message<'a>>,
) -> Result<Message<'a>, ParseError> {
    let b = t.b;
    let mut pos = start + 4;
    let digits = b
        .get(pos..)
        .unwrap_or_default()
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let version = match (digits, b.get(pos)) {
        (1, Some(b'0')) => 0,
        (1, Some(b'1')) => 1,
        _ => {
            return Err(ParseError {
                offset: pos,
                field: "version",
                expected: "0 or 1",
            })
        }
    };
    pos += 1;
    if b.get(pos) != Some(&b'|') {
        return Err(ParseError {
            offset: pos,
            field: "version",
            expected: "'|' after the version",
        });
    }
    pos += 1;
    let mut header: [Cow<'a, str>; 6] = Default::default();
    for (slot, field) in header.iter_mut().zip(HEADER_FIELDS) {
        let (value, next) = header_field(t, pos, field)?;
        *slot = value;
        pos = next;
    }
    let extensions = parse_extension(t, pos)?;
    let [device_vendor, device_product, device_version, device_event_class_id, name, severity] =
        header;
    Ok(Message {
        syslog,
        version,
        device_vendor,
        device_product,
        device_version,
        device_event_class_id,
        name,
        severity,
        extensions,
    })
}

/// One header field from `pos` up to its unescaped `|`; returns the field and the position
/// after the pipe.
fn header_field<'a>(
    t: Text<'a>,
    pos: usize,
    field: &'static str,
) -> Result<(Cow<'a, str>, usize), ParseError> {
    let b = t.b;
    let rest = b.get(pos..).unwrap_or_default();
    let mut i = 0;
    let mut escaped = false;
    loop {
        let Some(n) = memchr::memchr2(b'|', b'\\', &rest[i..]) else {
            return Err(ParseError {
                offset: b.len(),
                field,
                expected: "'|' ending the header field (a CEF header has 7 fields)",
            });
        };
        i += n;
        if rest[i] == b'|' {
            let value = if escaped {
                Cow::Owned(unescape(&rest[..i]))
            } else {
                t.cow(pos..pos + i)
            };
            return Ok((value, pos + i + 1));
        }
        match rest.get(i + 1) {
            Some(b'|' | b'\\') => {
                escaped = true;
                i += 2;
            }
            _ => {
                return Err(ParseError {
                    offset: pos + i,
                    field,
                    expected: "'\\|' or '\\\\' (the only escapes in a header field)",
                })
            }
        }
    }
}

/// Byte classes of the extension scanner.
const KEY: u8 = 1;
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-' {
            t[c] = KEY;
        }
        c += 1;
    }
    t
};

/// Length of the key at the start of `b` when it is a key followed by `=`.
fn key_at(b: &[u8]) -> Option<usize> {
    let n = b
        .iter()
        .take_while(|&&c| CLASS[usize::from(c)] == KEY)
        .count();
    (n > 0 && b.get(n) == Some(&b'=')).then_some(n)
}

/// The extension: `key=value` pairs from `pos` to the end.
///
/// One vectorised pass finds every `=` and `\\`. An unescaped `=` whose key-shaped word
/// starts right after a space begins the next pair; the value before it ends at that space
/// (trailing spaces dropped). Every backslash must start a valid escape.
fn parse_extension(t: Text<'_>, mut pos: usize) -> Result<Vec<(&str, Cow<'_, str>)>, ParseError> {
    let b = t.b;
    let mut out = Vec::with_capacity(24);
    while b.get(pos) == Some(&b' ') {
        pos += 1;
    }
    if pos >= b.len() {
        return Ok(out);
    }
    let Some(klen) = key_at(&b[pos..]) else {
        return Err(ParseError {
            offset: pos,
            field: "extension",
            expected: "a key (letters, digits, '_', '.', '-') followed by '='",
        });
    };
    // The pair being read: where its key starts, where its `=` is, and whether its value
    // holds an escape.
    let (mut key_start, mut eq, mut escaped) = (pos, pos + klen, false);
    let mut push = |key_start: usize, eq: usize, mut vend: usize, escaped: bool| {
        let vstart = eq + 1;
        while vend > vstart && b[vend - 1] == b' ' {
            vend -= 1;
        }
        // Key bytes are ASCII, so this never fails.
        let key = t.str(key_start..eq).unwrap_or_default();
        let value = if escaped {
            Cow::Owned(unescape(&b[vstart..vend]))
        } else {
            t.cow(vstart..vend)
        };
        out.push((key, value));
    };
    let from = eq + 1;
    let mut skip = from;
    for i in memchr::memchr2_iter(b'=', b'\\', &b[from..]) {
        let at = from + i;
        if at < skip {
            // The character after a backslash.
            continue;
        }
        if b[at] == b'\\' {
            if !matches!(b.get(at + 1), Some(b'\\' | b'=' | b'|' | b'n' | b'r')) {
                return Err(ParseError {
                    offset: at,
                    field: "extension",
                    expected: "an escape: '\\=', '\\\\', '\\|', '\\n' or '\\r'",
                });
            }
            escaped = true;
            skip = at + 2;
            continue;
        }
        // An unescaped `=`: a new pair when a key-shaped word after a space precedes it.
        let vstart = eq + 1;
        let mut s = at;
        while s > vstart && CLASS[usize::from(b[s - 1])] == KEY {
            s -= 1;
        }
        if s < at && s > vstart && b[s - 1] == b' ' {
            push(key_start, eq, s - 1, escaped);
            (key_start, eq, escaped) = (s, at, false);
        }
    }
    push(key_start, eq, b.len(), escaped);
    Ok(out)
}

/// Resolves the escapes of a field already checked by the scanner.
fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        if c == b'\\' {
            if let Some(&e) = raw.get(i + 1) {
                out.push(match e {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    other => other,
                });
                i += 2;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// The type of an extension's value (CEF specification, revision 25).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    Integer,
    Float,
    IpAddress,
    Timestamp,
}

/// Where an extension lands in ECS besides `cef.extensions.<fullName>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ecs {
    Keep,
    SourceIp,
    SourcePort,
    DestinationIp,
    DestinationPort,
    Transport,
    SourceUser,
    DestinationUser,
    Action,
    Outcome,
    Url,
    ProcessName,
    ProcessPid,
    Msg,
    ObserverHostname,
    Direction,
    SourceBytes,
    DestinationBytes,
    Receipt,
    Start,
    End,
    Referrer,
    /// The converted value under this key.
    Extra(&'static str),
    /// The value under this key when it is an IP address.
    ExtraIp(&'static str),
}

/// One extension key of the CEF dictionary.
#[derive(Debug)]
pub struct KeyDef {
    /// The short name (`src`), or the full name when the key has no short form.
    pub short: &'static str,
    /// The full name (`sourceAddress`).
    pub full: &'static str,
    /// `cef.extensions.<full>`.
    pub field: &'static str,
    pub value_type: ValueType,
    ecs: Ecs,
}

macro_rules! key_table {
    ($( $short:literal $full:literal $ty:ident $ecs:ident $(($arg:literal))?; )*) => {
        /// The CEF key dictionary (specification revision 25, plus the ArcSight keys
        /// connectors commonly send), with each key's type and ECS target.
        pub static KEYS: &[KeyDef] = &[
            $( KeyDef {
                short: $short,
                full: $full,
                field: concat!("cef.extensions.", $full),
                value_type: $ty,
                ecs: Ecs::$ecs $(($arg))?,
            }, )*
        ];
    };
}

use ValueType::{Float as F, Integer as I, IpAddress as A, String as S, Timestamp as T};

key_table! {
    "act" "deviceAction" S Action;
    "app" "applicationProtocol" S Extra("network.application");
    "c6a1" "deviceCustomIPv6Address1" A Keep;
    "c6a1Label" "deviceCustomIPv6Address1Label" S Keep;
    "c6a2" "deviceCustomIPv6Address2" A Keep;
    "c6a2Label" "deviceCustomIPv6Address2Label" S Keep;
    "c6a3" "deviceCustomIPv6Address3" A Keep;
    "c6a3Label" "deviceCustomIPv6Address3Label" S Keep;
    "c6a4" "deviceCustomIPv6Address4" A Keep;
    "c6a4Label" "deviceCustomIPv6Address4Label" S Keep;
    "cat" "deviceEventCategory" S Keep;
    "cfp1" "deviceCustomFloatingPoint1" F Keep;
    "cfp1Label" "deviceCustomFloatingPoint1Label" S Keep;
    "cfp2" "deviceCustomFloatingPoint2" F Keep;
    "cfp2Label" "deviceCustomFloatingPoint2Label" S Keep;
    "cfp3" "deviceCustomFloatingPoint3" F Keep;
    "cfp3Label" "deviceCustomFloatingPoint3Label" S Keep;
    "cfp4" "deviceCustomFloatingPoint4" F Keep;
    "cfp4Label" "deviceCustomFloatingPoint4Label" S Keep;
    "cn1" "deviceCustomNumber1" I Keep;
    "cn1Label" "deviceCustomNumber1Label" S Keep;
    "cn2" "deviceCustomNumber2" I Keep;
    "cn2Label" "deviceCustomNumber2Label" S Keep;
    "cn3" "deviceCustomNumber3" I Keep;
    "cn3Label" "deviceCustomNumber3Label" S Keep;
    "cnt" "baseEventCount" I Keep;
    "cs1" "deviceCustomString1" S Keep;
    "cs1Label" "deviceCustomString1Label" S Keep;
    "cs2" "deviceCustomString2" S Keep;
    "cs2Label" "deviceCustomString2Label" S Keep;
    "cs3" "deviceCustomString3" S Keep;
    "cs3Label" "deviceCustomString3Label" S Keep;
    "cs4" "deviceCustomString4" S Keep;
    "cs4Label" "deviceCustomString4Label" S Keep;
    "cs5" "deviceCustomString5" S Keep;
    "cs5Label" "deviceCustomString5Label" S Keep;
    "cs6" "deviceCustomString6" S Keep;
    "cs6Label" "deviceCustomString6Label" S Keep;
    "destinationDnsDomain" "destinationDnsDomain" S Extra("destination.domain");
    "destinationServiceName" "destinationServiceName" S Extra("destination.service.name");
    "destinationTranslatedAddress" "destinationTranslatedAddress" A ExtraIp("destination.nat.ip");
    "destinationTranslatedPort" "destinationTranslatedPort" I Extra("destination.nat.port");
    "destinationTranslatedZoneExternalID" "destinationTranslatedZoneExternalID" S Keep;
    "destinationTranslatedZoneURI" "destinationTranslatedZoneURI" S Keep;
    "destinationZoneExternalID" "destinationZoneExternalID" S Keep;
    "destinationZoneURI" "destinationZoneURI" S Keep;
    "deviceCustomDate1" "deviceCustomDate1" T Keep;
    "deviceCustomDate1Label" "deviceCustomDate1Label" S Keep;
    "deviceCustomDate2" "deviceCustomDate2" T Keep;
    "deviceCustomDate2Label" "deviceCustomDate2Label" S Keep;
    "deviceDirection" "deviceDirection" I Direction;
    "deviceDnsDomain" "deviceDnsDomain" S ObserverHostname;
    "deviceExternalId" "deviceExternalId" S Extra("observer.serial_number");
    "deviceFacility" "deviceFacility" S Keep;
    "deviceInboundInterface" "deviceInboundInterface" S Extra("observer.ingress.interface.name");
    "deviceNtDomain" "deviceNtDomain" S Keep;
    "deviceOutboundInterface" "deviceOutboundInterface" S Extra("observer.egress.interface.name");
    "devicePayloadId" "devicePayloadId" S Keep;
    "deviceProcessName" "deviceProcessName" S ProcessName;
    "deviceTranslatedAddress" "deviceTranslatedAddress" A Keep;
    "deviceTranslatedZoneExternalID" "deviceTranslatedZoneExternalID" S Keep;
    "deviceTranslatedZoneURI" "deviceTranslatedZoneURI" S Keep;
    "deviceZoneExternalID" "deviceZoneExternalID" S Keep;
    "deviceZoneURI" "deviceZoneURI" S Keep;
    "dhost" "destinationHostName" S Extra("destination.domain");
    "dlat" "destinationGeoLatitude" F Extra("destination.geo.location.lat");
    "dlong" "destinationGeoLongitude" F Extra("destination.geo.location.lon");
    "dmac" "destinationMacAddress" S Extra("destination.mac");
    "dntdom" "destinationNtDomain" S Keep;
    "dpid" "destinationProcessId" I Extra("destination.process.pid");
    "dpriv" "destinationUserPrivileges" S Extra("destination.user.group.name");
    "dproc" "destinationProcessName" S Extra("destination.process.name");
    "dpt" "destinationPort" I DestinationPort;
    "dst" "destinationAddress" A DestinationIp;
    "dtz" "deviceTimeZone" S Extra("event.timezone");
    "duid" "destinationUserId" S Extra("destination.user.id");
    "duser" "destinationUserName" S DestinationUser;
    "dvc" "deviceAddress" A ExtraIp("observer.ip");
    "dvchost" "deviceHostName" S ObserverHostname;
    "dvcmac" "deviceMacAddress" S Extra("observer.mac");
    "dvcpid" "deviceProcessId" I ProcessPid;
    "end" "endTime" T End;
    "eventId" "eventId" I Keep;
    "externalId" "externalId" S Keep;
    "fileCreateTime" "fileCreateTime" T Extra("file.created");
    "fileHash" "fileHash" S Keep;
    "fileId" "fileId" S Extra("file.inode");
    "fileModificationTime" "fileModificationTime" T Extra("file.mtime");
    "filePath" "filePath" S Extra("file.path");
    "filePermission" "filePermission" S Extra("file.group");
    "fileType" "fileType" S Extra("file.type");
    "flexDate1" "flexDate1" T Keep;
    "flexDate1Label" "flexDate1Label" S Keep;
    "flexNumber1" "flexNumber1" I Keep;
    "flexNumber1Label" "flexNumber1Label" S Keep;
    "flexNumber2" "flexNumber2" I Keep;
    "flexNumber2Label" "flexNumber2Label" S Keep;
    "flexString1" "flexString1" S Keep;
    "flexString1Label" "flexString1Label" S Keep;
    "flexString2" "flexString2" S Keep;
    "flexString2Label" "flexString2Label" S Keep;
    "fname" "filename" S Extra("file.name");
    "fsize" "fileSize" I Extra("file.size");
    "in" "bytesIn" I SourceBytes;
    "msg" "message" S Msg;
    "oldFileCreateTime" "oldFileCreateTime" T Keep;
    "oldFileHash" "oldFileHash" S Keep;
    "oldFileId" "oldFileId" S Keep;
    "oldFileModificationTime" "oldFileModificationTime" T Keep;
    "oldFileName" "oldFileName" S Keep;
    "oldFilePath" "oldFilePath" S Keep;
    "oldFilePermission" "oldFilePermission" S Keep;
    "oldFileSize" "oldFileSize" I Keep;
    "oldFileType" "oldFileType" S Keep;
    "out" "bytesOut" I DestinationBytes;
    "outcome" "eventOutcome" S Outcome;
    "proto" "transportProtocol" S Transport;
    "reason" "reason" S Keep;
    "request" "requestUrl" S Url;
    "requestClientApplication" "requestClientApplication" S Extra("user_agent.original");
    "requestContext" "requestContext" S Referrer;
    "requestCookies" "requestCookies" S Keep;
    "requestMethod" "requestMethod" S Extra("http.request.method");
    "rt" "deviceReceiptTime" T Receipt;
    "shost" "sourceHostName" S Extra("source.domain");
    "slat" "sourceGeoLatitude" F Extra("source.geo.location.lat");
    "slong" "sourceGeoLongitude" F Extra("source.geo.location.lon");
    "smac" "sourceMacAddress" S Extra("source.mac");
    "sntdom" "sourceNtDomain" S Keep;
    "sourceDnsDomain" "sourceDnsDomain" S Extra("source.domain");
    "sourceServiceName" "sourceServiceName" S Extra("source.service.name");
    "sourceTranslatedAddress" "sourceTranslatedAddress" A ExtraIp("source.nat.ip");
    "sourceTranslatedPort" "sourceTranslatedPort" I Extra("source.nat.port");
    "sourceTranslatedZoneExternalID" "sourceTranslatedZoneExternalID" S Keep;
    "sourceTranslatedZoneURI" "sourceTranslatedZoneURI" S Keep;
    "sourceZoneExternalID" "sourceZoneExternalID" S Keep;
    "sourceZoneURI" "sourceZoneURI" S Keep;
    "spid" "sourceProcessId" I Extra("source.process.pid");
    "spriv" "sourceUserPrivileges" S Extra("source.user.group.name");
    "sproc" "sourceProcessName" S Extra("source.process.name");
    "spt" "sourcePort" I SourcePort;
    "src" "sourceAddress" A SourceIp;
    "start" "startTime" T Start;
    "suid" "sourceUserId" S Extra("source.user.id");
    "suser" "sourceUserName" S SourceUser;
    "type" "type" I Keep;
    // ArcSight connector and manager keys.
    "agt" "agentAddress" A ExtraIp("agent.ip");
    "agentDnsDomain" "agentDnsDomain" S Keep;
    "ahost" "agentHostName" S Extra("agent.name");
    "aid" "agentId" S Extra("agent.id");
    "amac" "agentMacAddress" S Extra("agent.mac");
    "agentNtDomain" "agentNtDomain" S Keep;
    "art" "agentReceiptTime" T Keep;
    "at" "agentType" S Extra("agent.type");
    "atz" "agentTimeZone" S Keep;
    "agentTranslatedAddress" "agentTranslatedAddress" A Keep;
    "agentTranslatedZoneExternalID" "agentTranslatedZoneExternalID" S Keep;
    "agentTranslatedZoneURI" "agentTranslatedZoneURI" S Keep;
    "av" "agentVersion" S Extra("agent.version");
    "agentZoneExternalID" "agentZoneExternalID" S Keep;
    "agentZoneURI" "agentZoneURI" S Keep;
    "catdt" "categoryDeviceType" S Keep;
    "customerExternalID" "customerExternalID" S Extra("organization.id");
    "customerURI" "customerURI" S Extra("organization.name");
    "mrt" "managerReceiptTime" T Keep;
    "rawEvent" "rawEvent" S Keep;
}

/// Hashes short ASCII keys quickly (FNV-1a); the table is fixed, so no flooding risk.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvMap<V> = HashMap<&'static str, V, std::hash::BuildHasherDefault<Fnv>>;

fn key_index() -> &'static FnvMap<&'static KeyDef> {
    static INDEX: OnceLock<FnvMap<&'static KeyDef>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut m = FnvMap::default();
        for def in KEYS {
            m.insert(def.full, def);
            m.insert(def.short, def);
        }
        m
    })
}

/// The dictionary entry of a key given by its short or full name.
pub fn key_def(key: &str) -> Option<&'static KeyDef> {
    key_index().get(key).copied()
}

/// The full name of a key (`src` → `sourceAddress`); unknown keys are their own name.
pub fn full_name(key: &str) -> &str {
    key_def(key).map_or(key, |d| d.full)
}

/// `event.severity` from the CEF severity: 0-10, or the spec's words (Low 0, Medium 4,
/// High 7, Very-High 9). `Unknown` and anything else give none.
pub fn severity_number(s: &str) -> Option<i64> {
    if s.eq_ignore_ascii_case("low") {
        Some(0)
    } else if s.eq_ignore_ascii_case("medium") {
        Some(4)
    } else if s.eq_ignore_ascii_case("high") {
        Some(7)
    } else if s.eq_ignore_ascii_case("very-high") {
        Some(9)
    } else {
        s.trim().parse().ok()
    }
}

/// `network.transport` from a protocol name or IANA number, lower case.
pub(crate) fn transport_name(p: &str) -> String {
    match p.trim() {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "58" => "ipv6-icmp".into(),
        "47" => "gre".into(),
        "50" => "esp".into(),
        "132" => "sctp".into(),
        other => other.to_ascii_lowercase(),
    }
}

fn int_value(v: &str) -> Option<i64> {
    let v = v.trim();
    if let Some(hex) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    v.parse().ok()
}

/// Maps a parsed message onto an ECS event. `raw` is the input it was parsed from (kept as
/// `event.original` and hashed, with the source, into a deterministic `event.id`).
pub fn to_event(m: &Message<'_>, raw: &[u8], ctx: &Context) -> Event {
    let mut e = Event::default();
    e.sector.clone_from(&ctx.sector);
    e.source.clone_from(&ctx.source);
    e.fields.created = Some(ctx.now);
    e.fields.original = Some(text::owned(raw));
    e.fields.module = Some("cef".into());
    e.fields.dataset = Some("cef.log".into());

    let mut extras = Extras::with_capacity(12 + 2 * m.extensions.len());
    let extra = &mut extras;
    extra.insert("cef.version".into(), Value::String(m.version.to_string()));
    let header = [
        ("cef.device.vendor", &m.device_vendor),
        ("cef.device.product", &m.device_product),
        ("cef.device.version", &m.device_version),
        ("cef.device.event_class_id", &m.device_event_class_id),
        ("cef.name", &m.name),
        ("cef.severity", &m.severity),
    ];
    for (k, v) in header {
        if !v.is_empty() {
            extra.insert(k.into(), Value::String(v.as_ref().into()));
        }
    }
    let nonempty = |v: &Cow<'_, str>| (!v.is_empty()).then(|| v.as_ref().to_owned());
    e.fields.observer_vendor = nonempty(&m.device_vendor);
    e.fields.observer_product = nonempty(&m.device_product);
    e.fields.observer_version = nonempty(&m.device_version);
    if let Some(code) = nonempty(&m.device_event_class_id) {
        extra.insert("event.code".into(), Value::String(code));
    }
    e.fields.message = nonempty(&m.name);
    e.fields.severity = severity_number(&m.severity);

    let mut receipt = None;
    let mut start = None;
    let mut end = None;
    let mut bytes = (None, None);
    for (key, value) in &m.extensions {
        if value.is_empty() {
            continue;
        }
        let Some(def) = key_def(key) else {
            extra.insert(
                format!("cef.extensions.{key}"),
                Value::String(value.as_ref().into()),
            );
            continue;
        };
        let v = value.as_ref();
        let mut time = None;
        let json = match def.value_type {
            ValueType::Integer => int_value(v).map(Value::from),
            ValueType::Float => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Value::from),
            ValueType::Timestamp => {
                time = timefmt::cef_time(v, ctx);
                time.map(|t| Value::String(t.to_rfc3339()))
            }
            ValueType::String | ValueType::IpAddress => None,
        }
        .unwrap_or_else(|| Value::String(v.into()));
        let ip = || v.trim().parse::<IpAddr>().ok();
        match def.ecs {
            Ecs::Keep => {}
            Ecs::SourceIp => e.fields.source_ip = ip(),
            Ecs::DestinationIp => e.fields.destination_ip = ip(),
            Ecs::SourcePort => e.fields.source_port = int_value(v).and_then(|p| p.try_into().ok()),
            Ecs::DestinationPort => {
                e.fields.destination_port = int_value(v).and_then(|p| p.try_into().ok())
            }
            Ecs::Transport => e.fields.network_transport = Some(transport_name(v)),
            Ecs::SourceUser => {
                extra.insert("source.user.name".into(), Value::String(v.into()));
                e.fields.user_name = Some(v.into());
            }
            Ecs::DestinationUser => {
                extra.insert("destination.user.name".into(), Value::String(v.into()));
                if e.fields.user_name.is_none() {
                    e.fields.user_name = Some(v.into());
                }
            }
            Ecs::Action => e.fields.action = Some(v.into()),
            Ecs::Outcome => e.fields.outcome = Some(v.into()),
            Ecs::Url => e.fields.url_original = Some(v.into()),
            Ecs::ProcessName => e.fields.process_name = Some(v.into()),
            Ecs::ProcessPid => e.fields.process_pid = int_value(v).and_then(|p| p.try_into().ok()),
            Ecs::Msg => e.fields.message = Some(v.into()),
            Ecs::ObserverHostname => e.fields.observer_hostname = Some(v.into()),
            Ecs::Direction => {
                e.fields.network_direction = match v.trim() {
                    "0" => Some("inbound".into()),
                    "1" => Some("outbound".into()),
                    _ => e.fields.network_direction.take(),
                }
            }
            Ecs::SourceBytes => {
                bytes.0 = int_value(v).and_then(|n| u64::try_from(n).ok());
                if let Some(n) = bytes.0 {
                    extra.insert("source.bytes".into(), n.into());
                }
            }
            Ecs::DestinationBytes => {
                bytes.1 = int_value(v).and_then(|n| u64::try_from(n).ok());
                if let Some(n) = bytes.1 {
                    extra.insert("destination.bytes".into(), n.into());
                }
            }
            Ecs::Receipt => receipt = time,
            Ecs::Start => {
                start = time;
                if let Some(t) = time {
                    extra.insert("event.start".into(), Value::String(t.to_rfc3339()));
                }
            }
            Ecs::End => {
                end = time;
                if let Some(t) = time {
                    extra.insert("event.end".into(), Value::String(t.to_rfc3339()));
                }
            }
            Ecs::Referrer => {
                if v.starts_with("http") {
                    extra.insert("http.request.referrer".into(), Value::String(v.into()));
                }
            }
            Ecs::Extra(k) => {
                extra.insert(k.into(), json.clone());
            }
            Ecs::ExtraIp(k) => {
                if ip().is_some() {
                    extra.insert(k.into(), Value::String(v.trim().into()));
                }
            }
        }
        extra.insert(def.field.into(), json);
    }
    if bytes.0.is_some() || bytes.1.is_some() {
        e.fields.network_bytes = Some(bytes.0.unwrap_or(0).saturating_add(bytes.1.unwrap_or(0)));
    }

    e.extra = extras.into_map();
    let syslog_ts = m.syslog.as_ref().and_then(|s| s.timestamp);
    if let Some(s) = &m.syslog {
        syslog::add_log_syslog(s, &mut e);
        e.fields.host_name = s.hostname.map(str::to_owned);
    }
    e.timestamp = receipt.or(end).or(start).or(syslog_ts).unwrap_or(ctx.now);
    e.id = id_from_parts(e.timestamp, &[ctx.source.as_bytes(), raw]);
    e
}

/// Parses bare or syslog-wrapped CEF and maps it onto ECS in one step.
pub fn parse_event(raw: &[u8], ctx: &Context) -> Result<Event, ParseError> {
    let m = parse(raw, ctx)?;
    Ok(to_event(&m, raw, ctx))
}

#[cfg(test)]
mod tests;

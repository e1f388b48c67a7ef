//! MISP events: the REST answer (`{"response":[{"Event":…}]}`), one event
//! (`{"Event":…}`, the per-event JSON of a MISP feed), a list of those, a bare event
//! object as PyMISP writes it, and attribute searches (`{"response":{"Attribute":[…]}}`).
//!
//! Attributes, and the attributes of objects, become indicators when `to_ids` is set
//! (MISP's own mark of what is meant for detection) and their type is one ncsoc matches:
//! `ip-src`, `ip-dst` (address or prefix), `ip-src|port`, `ip-dst|port`, `domain`,
//! `hostname`, `hostname|port`, `domain|ip` (both), `url`, `md5`, `sha1`, `sha256`,
//! `filename|md5`/`|sha1`/`|sha256` (the hash), `email`, `email-src`, `email-dst`.
//! Deleted attributes are left out. TLP comes from `tlp:*` tags on the event, the object
//! and the attribute, the most restrictive winning; the source is the creating
//! organisation (`Orgc`); validity starts at the attribute's `first_seen`, else the
//! event's date, else the attribute's timestamp. Ids are `misp:<attribute uuid>` (with a
//! hash of the value for the second half of a composite type), so a re-import replaces.

use ncsoc_model::{Indicator, IndicatorKind, Timestamp, Tlp};
use serde_json::{Map, Value};

use crate::pattern::{self, clip, Observable};
use crate::stix::tlp_by_name;
use crate::{bounded_labels, bounded_text, observable_id, ImportError, Imported, Options, Skip};

/// Events read from one document.
pub const MAX_EVENTS: usize = 100_000;

/// The MISP events (or attribute lists) of a document, or `None` if it is not MISP.
fn events(doc: &Value) -> Option<Vec<&Map<String, Value>>> {
    fn is_event(o: &Map<String, Value>) -> bool {
        !o.contains_key("type")
            && (o.contains_key("Attribute") || o.contains_key("Object") || o.contains_key("info"))
    }
    fn unwrap(v: &Value) -> Option<&Map<String, Value>> {
        let o = v.as_object()?;
        match o.get("Event") {
            Some(Value::Object(e)) => Some(e),
            _ if is_event(o) => Some(o),
            _ => None,
        }
    }
    match doc {
        Value::Array(items) => items.iter().map(unwrap).collect(),
        Value::Object(o) => match o.get("response") {
            Some(Value::Array(items)) => items.iter().map(unwrap).collect(),
            Some(Value::Object(r)) if r.contains_key("Attribute") || r.contains_key("Event") => {
                match r.get("Event") {
                    Some(Value::Object(e)) => Some(vec![e]),
                    Some(Value::Array(es)) => es.iter().map(unwrap).collect(),
                    _ => Some(vec![r]),
                }
            }
            Some(_) => None,
            None => unwrap(doc).map(|e| vec![e]),
        },
        _ => None,
    }
}

/// Whether `doc` looks like MISP.
pub fn is_misp(doc: &Value) -> bool {
    events(doc).is_some_and(|e| !e.is_empty())
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.as_str(), "1" | "true" | "True"),
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    }
}

/// Tag names of an element: `Tag: [{name}]` and `EventTag`/`AttributeTag: [{Tag:{name}}]`.
fn tag_names(o: &Map<String, Value>) -> impl Iterator<Item = &str> {
    let direct = o.get("Tag").and_then(Value::as_array).into_iter().flatten();
    let wrapped = ["EventTag", "AttributeTag", "ObjectTag"]
        .into_iter()
        .filter_map(|k| o.get(k).and_then(Value::as_array))
        .flatten()
        .filter_map(|t| t.get("Tag"));
    direct
        .chain(wrapped)
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .take(256)
}

fn tlp_of(o: &Map<String, Value>) -> Option<Tlp> {
    tag_names(o)
        .filter(|n| n.to_ascii_lowercase().starts_with("tlp:"))
        .filter_map(tlp_by_name)
        .max()
}

fn unix(v: Option<&Value>) -> Option<Timestamp> {
    let secs = match v? {
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    (0..=253_402_300_799)
        .contains(&secs)
        .then(|| Timestamp(secs * 1_000_000_000))
}

fn date(v: Option<&Value>) -> Option<Timestamp> {
    let s = v?.as_str()?;
    if s.len() == 10 {
        Timestamp::parse_rfc3339(&format!("{s}T00:00:00Z")).ok()
    } else {
        Timestamp::parse_rfc3339(s).ok()
    }
}

/// The observables of one attribute, or why it has none.
fn observables(ty: &str, value: &str) -> Result<Vec<Observable>, String> {
    let ip = |v: &str| pattern::canonical_ip(v.trim());
    let domain = |v: &str| {
        pattern::canonical_domain(v.trim()).map(|value| Observable {
            kind: IndicatorKind::Domain,
            value,
        })
    };
    let hash = |kind: IndicatorKind, v: &str| {
        pattern::canonical_hash(kind, v.trim()).map(|value| Observable { kind, value })
    };
    let before_port = |v: &'_ str| -> String {
        // `1.2.3.4|80`, `2001:db8::1|443`; MISP also writes `host:port` in some exports.
        v.rsplit_once('|').map_or(v, |(a, _)| a).to_string()
    };
    let one = |r: Result<Observable, String>| r.map(|o| vec![o]);
    match ty {
        "ip-src" | "ip-dst" => one(ip(value)),
        "ip-src|port" | "ip-dst|port" => one(ip(&before_port(value))),
        "domain" | "hostname" => one(domain(value)),
        "hostname|port" => one(domain(&before_port(value))),
        "domain|ip" => {
            let (d, a) = value
                .split_once('|')
                .ok_or_else(|| format!("`{}` is not domain|ip", clip(value)))?;
            Ok(vec![domain(d)?, ip(a)?])
        }
        "url" => pattern::canonical_url(value.trim()).map(|value| {
            vec![Observable {
                kind: IndicatorKind::Url,
                value,
            }]
        }),
        "md5" => one(hash(IndicatorKind::Md5, value)),
        "sha1" => one(hash(IndicatorKind::Sha1, value)),
        "sha256" => one(hash(IndicatorKind::Sha256, value)),
        "filename|md5" | "filename|sha1" | "filename|sha256" => {
            let kind = pattern::hash_kind(&ty["filename|".len()..]).expect("listed hash");
            let h = value.rsplit_once('|').map_or(value, |(_, h)| h);
            one(hash(kind, h))
        }
        "email" | "email-src" | "email-dst" => {
            pattern::canonical_email(value.trim()).map(|value| {
                vec![Observable {
                    kind: IndicatorKind::Email,
                    value,
                }]
            })
        }
        _ => Err(format!("type `{}` is not matched", clip(ty))),
    }
}

struct EventCtx<'a> {
    uuid: &'a str,
    info: Option<&'a str>,
    source: &'a str,
    tlp: Option<Tlp>,
    date: Option<Timestamp>,
    labels: Vec<&'a str>,
}

fn attribute(
    a: &Map<String, Value>,
    ev: &EventCtx<'_>,
    object_tlp: Option<Tlp>,
    n: usize,
    opts: &Options,
    out: &mut Imported,
) -> Result<(), ImportError> {
    out.objects += 1;
    let uuid = a.get("uuid").and_then(Value::as_str).unwrap_or("");
    let ty = a.get("type").and_then(Value::as_str).unwrap_or("");
    let value = a.get("value").and_then(Value::as_str).unwrap_or("");
    let where_ = if uuid.is_empty() {
        format!(
            "event {} attribute {n}",
            if ev.uuid.is_empty() { "-" } else { ev.uuid }
        )
    } else {
        format!("attribute {uuid}")
    };
    let skip = |out: &mut Imported, reason: String| {
        out.skipped.push(Skip {
            id: where_.clone(),
            reason,
        })
    };
    if truthy(a.get("deleted")) {
        skip(out, "deleted".into());
        return Ok(());
    }
    if !truthy(a.get("to_ids")) {
        skip(
            out,
            format!("{ty} without to_ids (not meant for detection)"),
        );
        return Ok(());
    }
    let obs = match observables(ty, value) {
        Ok(o) => o,
        Err(reason) => {
            skip(out, reason);
            return Ok(());
        }
    };
    let tlp = [ev.tlp, object_tlp, tlp_of(a)].into_iter().flatten().max();
    let valid_from = date(a.get("first_seen"))
        .or(ev.date)
        .or_else(|| unix(a.get("timestamp")))
        .unwrap_or(Timestamp(0));
    let base = if uuid.is_empty() {
        // No attribute uuid: the event's, and the value, keep the id stable.
        format!(
            "misp:{}:{n}",
            if ev.uuid.is_empty() { "-" } else { ev.uuid }
        )
    } else {
        format!("misp:{uuid}")
    };
    let mut labels: Vec<&str> = ev.labels.clone();
    labels.extend(a.get("category").and_then(Value::as_str));
    labels.extend(tag_names(a).filter(|t| !t.to_ascii_lowercase().starts_with("tlp:")));
    let comment = a
        .get("comment")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty());
    let description = match (ev.info, comment) {
        (Some(i), Some(c)) => Some(format!("{i} — {c}")),
        (Some(i), None) => Some(i.to_string()),
        (None, Some(c)) => Some(c.to_string()),
        (None, None) => None,
    };
    for (k, o) in obs.into_iter().enumerate() {
        if out.indicators.len() >= opts.max_indicators {
            return Err(ImportError::TooLarge(format!(
                "more than {} indicators in one file",
                opts.max_indicators
            )));
        }
        let id = if k == 0 && uuid.len() <= 200 {
            base.clone()
        } else {
            observable_id(&base, o.kind, &o.value)
        };
        out.indicators.push(Indicator {
            id,
            kind: o.kind,
            value: o.value,
            source: bounded_text(ev.source, crate::MAX_SOURCE),
            confidence: None,
            valid_from,
            valid_until: None,
            tlp: tlp.unwrap_or(opts.default_tlp),
            labels: bounded_labels(labels.iter().copied()),
            description: description
                .as_deref()
                .map(|d| bounded_text(d, crate::MAX_DESCRIPTION)),
        });
    }
    Ok(())
}

/// Imports the indicators of a MISP document.
pub fn import(doc: &Value, opts: &Options) -> Result<Imported, ImportError> {
    let events = events(doc).ok_or_else(|| ImportError::NotIntel("not a MISP event".into()))?;
    if events.len() > MAX_EVENTS {
        return Err(ImportError::TooLarge(format!(
            "more than {MAX_EVENTS} events"
        )));
    }
    let mut out = Imported::default();
    let mut errors = Vec::new();
    for (i, e) in events.iter().enumerate() {
        for k in ["Attribute", "Tag"] {
            if e.get(k).is_some_and(|v| !v.is_array()) {
                errors.push(format!("event {i}: `{k}` must be a list"));
            }
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Invalid(errors));
    }
    for e in events {
        let org = |k: &str| e.get(k).and_then(|o| o.get("name")).and_then(Value::as_str);
        let ctx = EventCtx {
            uuid: e.get("uuid").and_then(Value::as_str).unwrap_or(""),
            info: e.get("info").and_then(Value::as_str),
            source: org("Orgc")
                .or_else(|| org("Org"))
                .unwrap_or(&opts.default_source),
            tlp: tlp_of(e),
            date: date(e.get("date")),
            labels: tag_names(e)
                .filter(|t| !t.to_ascii_lowercase().starts_with("tlp:"))
                .collect(),
        };
        let attrs = e
            .get("Attribute")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        let mut n = 0;
        for a in attrs.filter_map(Value::as_object) {
            attribute(a, &ctx, None, n, opts, &mut out)?;
            n += 1;
        }
        // A list of objects, or one (an object search answers `{"Object": {...}}`).
        let objects: &[Value] = match e.get("Object") {
            Some(Value::Array(a)) => a,
            Some(o @ Value::Object(_)) => std::slice::from_ref(o),
            _ => &[],
        };
        for obj in objects.iter().filter_map(Value::as_object) {
            if truthy(obj.get("deleted")) {
                continue;
            }
            let otlp = tlp_of(obj);
            for a in obj
                .get("Attribute")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
            {
                attribute(a, &ctx, otlp, n, opts, &mut out)?;
                n += 1;
            }
        }
    }
    Ok(out)
}

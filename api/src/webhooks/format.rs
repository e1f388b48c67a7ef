//! Delivery bodies, written once when a change is enqueued (every retry sends the same
//! bytes, which the signature covers).
//!
//! - `ncsoc`: `{"event", "delivery", "seq", "at", "actor", "incident"}` with the incident
//!   as the API shows it (DESIGN §5), `application/json`.
//! - `slack`: `{"text": "..."}`, one readable line for a chat webhook.
//! - `cef`: one ArcSight CEF line, `text/plain`, for a SIEM's HTTP collector.

use ncsoc_model::{Incident, Severity, Timestamp};
use ncsoc_store::control::Change;

use super::config::Format;

/// A body and its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub content_type: &'static str,
    pub body: String,
}

#[derive(serde::Serialize)]
struct Envelope<'a> {
    event: String,
    delivery: &'a str,
    seq: i64,
    at: Timestamp,
    actor: &'a str,
    incident: &'a Incident,
    /// Present (true) when evidence or notes were cut to fit `max_body_bytes`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

/// The body of the delivery `id` of `change`, cut to fit `max_bytes`: an oversized
/// incident loses its older evidence and notes first, then all but its summary (which is
/// itself bounded, a few KiB at most).
pub fn render(format: Format, id: &str, change: &Change, max_bytes: usize) -> Rendered {
    match format {
        Format::Ncsoc => Rendered {
            content_type: "application/json",
            body: ncsoc(id, change, max_bytes),
        },
        Format::Slack => Rendered {
            content_type: "application/json",
            body:
                serde_json::json!({ "text": cut(&summary(change), max_bytes.saturating_sub(16)) })
                    .to_string(),
        },
        Format::Cef => Rendered {
            content_type: "text/plain; charset=utf-8",
            body: cut(&cef(id, change), max_bytes),
        },
    }
}

fn ncsoc(id: &str, change: &Change, max_bytes: usize) -> String {
    let envelope = |incident: &Incident, truncated: bool| {
        serde_json::to_string(&Envelope {
            event: change.kind.event_name(),
            delivery: id,
            seq: change.seq,
            at: change.at,
            actor: &change.actor,
            incident,
            truncated,
        })
        .unwrap_or_default()
    };
    let full = envelope(&change.incident, false);
    if full.len() <= max_bytes {
        return full;
    }
    let mut inc = change.incident.clone();
    for keep in [20usize, 5, 0] {
        let cut_tail = |v: usize| v.saturating_sub(keep);
        inc.evidence.drain(..cut_tail(inc.evidence.len()));
        inc.notes.drain(..cut_tail(inc.notes.len()));
        inc.entities.truncate(keep.max(10));
        let body = envelope(&inc, true);
        if body.len() <= max_bytes {
            return body;
        }
    }
    // The summary alone: a bounded title, no lists but the sectors.
    inc.title = cut(&inc.title, 200);
    inc.sectors.truncate(16);
    inc.entities.clear();
    inc.attack.clear();
    inc.tags.clear();
    inc.assignee = inc.assignee.map(|a| cut(&a, 64));
    envelope(&inc, true)
}

fn summary(change: &Change) -> String {
    let i = &change.incident;
    format!(
        "[{}] {}: {} ({} in {}, score {}, status {}, incident {})",
        i.severity.as_str().to_ascii_uppercase(),
        change.kind.event_name(),
        i.title,
        i.kind.as_str(),
        i.sectors.join(", "),
        i.score,
        i.status.as_str(),
        i.id
    )
}

/// CEF severity 0-10.
fn cef_severity(s: Severity) -> u8 {
    match s {
        Severity::Low => 3,
        Severity::Medium => 5,
        Severity::High => 8,
        Severity::Critical => 10,
    }
}

fn cef_header(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

fn cef_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

fn cef(id: &str, change: &Change) -> String {
    let i = &change.incident;
    let mut ext = vec![
        format!("rt={}", change.at.millis()),
        format!("act={}", change.kind.event_name()),
        format!("externalId={}", cef_value(&i.id)),
        format!("cs1Label=sectors cs1={}", cef_value(&i.sectors.join(","))),
        format!("cs2Label=status cs2={}", i.status.as_str()),
        format!("cs3Label=delivery cs3={}", cef_value(id)),
        format!("cn1Label=score cn1={}", i.score),
        format!(
            "start={} end={}",
            i.first_seen.millis(),
            i.last_seen.millis()
        ),
        format!("suser={}", cef_value(&change.actor)),
    ];
    let role_ip = |roles: &[&str]| {
        i.entities
            .iter()
            .find(|e| e.kind == "ip" && roles.contains(&e.role.as_str()))
            .map(|e| cef_value(&e.value))
    };
    if let Some(ip) = role_ip(&["attacker", "scanner", "source"]) {
        ext.push(format!("src={ip}"));
    }
    if let Some(ip) = role_ip(&["victim", "target", "c2"]) {
        ext.push(format!("dst={ip}"));
    }
    format!(
        "CEF:0|ncsoc|ncsoc|{}|{}|{}|{}|{}",
        env!("CARGO_PKG_VERSION"),
        i.kind.as_str(),
        cef_header(&i.title),
        cef_severity(i.severity),
        ext.join(" ")
    )
}

/// At most `max` bytes of `s`, cut on a character boundary.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ncsoc_model::Evidence;
    use ncsoc_store::control::ChangeKind;

    fn change() -> Change {
        let incident: Incident = serde_json::from_value(serde_json::json!({
            "id": "inc-1", "title": "Port scan | from 203.0.113.77", "kind": "port_scan",
            "severity": "high", "score": 72, "status": "new", "sectors": ["finance"],
            "entities": [{"type": "ip", "value": "203.0.113.77", "role": "scanner"}],
            "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:05:00Z"
        }))
        .unwrap();
        Change {
            seq: 7,
            at: Timestamp::from_secs(1_767_225_900),
            kind: ChangeKind::Opened,
            actor: "detector".into(),
            incident,
        }
    }

    #[test]
    fn ncsoc_envelope_carries_the_change() {
        let r = render(Format::Ncsoc, "dlv_1", &change(), 1 << 20);
        assert_eq!(r.content_type, "application/json");
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["event"], "incident.opened");
        assert_eq!(v["delivery"], "dlv_1");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["actor"], "detector");
        assert_eq!(v["incident"]["id"], "inc-1");
        assert_eq!(v["at"], "2026-01-01T00:05:00.000Z");
        assert!(v.get("truncated").is_none());
    }

    #[test]
    fn oversized_incidents_are_trimmed_to_the_limit() {
        let mut c = change();
        c.incident.evidence = (0..2000)
            .map(|n| Evidence {
                description: format!("signal {n} {}", "x".repeat(100)),
                ..Evidence::default()
            })
            .collect();
        let r = render(Format::Ncsoc, "dlv_1", &c, 8 * 1024);
        assert!(r.body.len() <= 8 * 1024, "{}", r.body.len());
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["truncated"], true);
        // The newest evidence is the one kept.
        let kept = v["incident"]["evidence"].as_array().unwrap();
        assert!(kept.last().unwrap()["description"]
            .as_str()
            .unwrap()
            .starts_with("signal 1999 "));
        c.incident.title = "t".repeat(100_000);
        let r = render(Format::Ncsoc, "dlv_1", &c, 8 * 1024);
        assert!(r.body.len() <= 8 * 1024, "{}", r.body.len());
    }

    #[test]
    fn slack_and_cef_lines() {
        let r = render(Format::Slack, "dlv_1", &change(), 1 << 20);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            v["text"],
            "[HIGH] incident.opened: Port scan | from 203.0.113.77 (port_scan in finance, score 72, status new, incident inc-1)"
        );
        let r = render(Format::Cef, "dlv_1", &change(), 1 << 20);
        assert_eq!(r.content_type, "text/plain; charset=utf-8");
        assert!(
            r.body.starts_with(&format!(
                "CEF:0|ncsoc|ncsoc|{}|port_scan|Port scan \\| from 203.0.113.77|8|rt=1767225900000 act=incident.opened externalId=inc-1 ",
                env!("CARGO_PKG_VERSION")
            )),
            "{}",
            r.body
        );
        assert!(r.body.ends_with(" src=203.0.113.77"), "{}", r.body);
    }
}

//! STIX 2.1 (and 2.0) bundles: validated, then their indicators turned into
//! [`Indicator`]s.
//!
//! Validation checks what a consumer relies on, as the OASIS validator does: well-formed
//! JSON, a `type` and an id of the form `type--uuid` on every object, the common
//! properties each object type requires (`spec_version` "2.1" on domain, relationship
//! and marking objects of a 2.1 bundle; `created` and `modified` on domain and
//! relationship objects; `name` on identities; `pattern`, `pattern_type` and
//! `valid_from` on indicators), timestamps in RFC 3339 UTC (`...Z`), `modified` not
//! before `created`, `valid_until` after `valid_from`, `confidence` 0 to 100, and
//! references of the right type. A file that fails is rejected whole, with every error
//! found (up to [`MAX_ERRORS`]). Custom properties are allowed.
//!
//! Each indicator with `pattern_type: stix` gives one [`Indicator`] per observable its
//! pattern names (see [`crate::pattern`]); the id is the STIX id and a hash of the
//! observable (`indicator--...#<16 hex>`), so importing the same bundle again replaces
//! rather than duplicates. TLP comes from `object_marking_refs` and
//! `granular_markings` (TLP 1.0 and 2.0 marking ids, and TLP marking definitions in the
//! bundle); the most restrictive marking wins. The source is the name of the
//! `created_by_ref` identity when the bundle carries it.

use std::collections::HashMap;

use ncsoc_model::{Indicator, Timestamp, Tlp};
use serde_json::{Map, Value};

use crate::pattern::{self, clip};
use crate::{bounded_labels, bounded_text, observable_id, ImportError, Imported, Options, Skip};

/// Errors listed for one rejected file.
pub const MAX_ERRORS: usize = 20;
/// Objects read from one bundle.
pub const MAX_OBJECTS: usize = 1_000_000;

/// The STIX 1.0 TLP marking definitions (fixed ids, STIX 2.1 section 7.2.1.4).
const TLP1: [(&str, Tlp); 4] = [
    (
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tlp::Clear,
    ),
    (
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tlp::Green,
    ),
    (
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tlp::Amber,
    ),
    (
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        Tlp::Red,
    ),
];
/// The TLP 2.0 marking definitions (fixed ids of the OASIS TLP 2.0 extension).
const TLP2: [(&str, Tlp); 5] = [
    (
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Clear,
    ),
    (
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Green,
    ),
    (
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::Amber,
    ),
    (
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::AmberStrict,
    ),
    (
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        Tlp::Red,
    ),
];

/// The TLP of a well-known marking definition id.
pub fn known_tlp(id: &str) -> Option<Tlp> {
    TLP1.iter()
        .chain(TLP2.iter())
        .find(|(k, _)| *k == id)
        .map(|(_, t)| *t)
}

/// TLP by name: `white`/`clear`, `green`, `amber`, `amber+strict`, `red` (any case,
/// optionally prefixed `tlp:`).
pub fn tlp_by_name(name: &str) -> Option<Tlp> {
    let n = name.trim().to_ascii_lowercase();
    let n = n.strip_prefix("tlp:").unwrap_or(&n);
    match n {
        "white" | "clear" => Some(Tlp::Clear),
        "green" => Some(Tlp::Green),
        "amber" => Some(Tlp::Amber),
        "amber+strict" => Some(Tlp::AmberStrict),
        "red" => Some(Tlp::Red),
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, a real date and time.
pub fn is_stix_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[b.len() - 1] == b'Z'
        && [0..4, 5..7, 8..10, 11..13, 14..16, 17..19]
            .into_iter()
            .all(|r| b[r].iter().all(u8::is_ascii_digit))
        && match &b[19..b.len() - 1] {
            [] => true,
            [b'.', rest @ ..] => !rest.is_empty() && rest.iter().all(u8::is_ascii_digit),
            _ => false,
        };
    shape && Timestamp::parse_rfc3339(s).is_ok()
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_type_name(t: &str) -> bool {
    (3..=250).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !t.starts_with('-')
        && !t.ends_with('-')
        && !t.contains("--")
}

/// An identifier `type--uuid`, and its type.
fn id_type(id: &str) -> Option<&str> {
    let (t, u) = id.split_once("--")?;
    (is_type_name(t) && is_uuid(u)).then_some(t)
}

const SCO_TYPES: &[&str] = &[
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

struct Checker<'a> {
    v21: bool,
    errors: Vec<String>,
    at: &'a str,
}

impl Checker<'_> {
    fn fail(&mut self, reason: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(format!("{}: {reason}", self.at));
        }
    }

    fn timestamp(
        &mut self,
        o: &Map<String, Value>,
        key: &str,
        required: bool,
    ) -> Option<Timestamp> {
        match o.get(key) {
            None if required => {
                self.fail(format!("required property `{key}` is missing"));
                None
            }
            None => None,
            Some(Value::String(s)) if is_stix_timestamp(s) => Timestamp::parse_rfc3339(s).ok(),
            Some(v) => {
                self.fail(format!(
                    "`{key}` must be an RFC 3339 timestamp in UTC (YYYY-MM-DDTHH:MM:SS[.s]Z), not {}",
                    clip(&v.to_string())
                ));
                None
            }
        }
    }

    fn string<'o>(
        &mut self,
        o: &'o Map<String, Value>,
        key: &str,
        required: bool,
    ) -> Option<&'o str> {
        match o.get(key) {
            None if required => {
                self.fail(format!("required property `{key}` is missing"));
                None
            }
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.fail(format!("`{key}` must be a string"));
                None
            }
        }
    }

    fn reference(&mut self, key: &str, v: &Value, want: &[&str]) {
        match v.as_str().and_then(|s| id_type(s).map(|t| (s, t))) {
            Some((_, t)) if want.is_empty() || want.contains(&t) => {}
            Some((s, _)) => self.fail(format!(
                "`{key}` must refer to a {}, not `{}`",
                want.join(" or "),
                clip(s)
            )),
            None => self.fail(format!("`{key}` must be an identifier `type--uuid`")),
        }
    }

    fn object(&mut self, o: &Map<String, Value>, ty: &str) {
        let is_sco = SCO_TYPES.contains(&ty);
        let is_marking = ty == "marking-definition";
        let is_lang = ty == "language-content";
        if self.v21 {
            match o.get("spec_version") {
                Some(Value::String(v)) if v == "2.1" => {}
                Some(v) => self.fail(format!(
                    "`spec_version` must be \"2.1\", not {}",
                    clip(&v.to_string())
                )),
                None if !is_sco => self.fail("required property `spec_version` is missing".into()),
                None => {}
            }
        }
        if !is_sco {
            let created = self.timestamp(o, "created", true);
            // Marking definitions are immutable and have no `modified`.
            let modified = self.timestamp(o, "modified", !is_marking);
            if let (Some(c), Some(m)) = (created, modified) {
                if m < c {
                    self.fail("`modified` must not be earlier than `created`".into());
                }
            }
            if let Some(r) = o.get("created_by_ref") {
                self.reference("created_by_ref", r, &["identity"]);
            }
            if let Some(c) = o.get("confidence") {
                if c.as_u64().is_none_or(|c| c > 100) {
                    self.fail("`confidence` must be an integer from 0 to 100".into());
                }
            }
            if let Some(r) = o.get("revoked") {
                if !r.is_boolean() {
                    self.fail("`revoked` must be true or false".into());
                }
            }
        }
        if let Some(refs) = o.get("object_marking_refs") {
            match refs.as_array() {
                Some(a) => a.iter().for_each(|r| {
                    self.reference("object_marking_refs", r, &["marking-definition"])
                }),
                None => self.fail("`object_marking_refs` must be a list".into()),
            }
        }
        if let Some(g) = o.get("granular_markings") {
            match g.as_array() {
                Some(a) => {
                    for m in a {
                        let sel = m.get("selectors").and_then(Value::as_array);
                        if sel.is_none_or(|s| s.is_empty()) {
                            self.fail(
                                "a granular marking needs a non-empty `selectors` list".into(),
                            );
                        }
                        match (m.get("marking_ref"), m.get("lang")) {
                            (Some(r), _) => {
                                self.reference("marking_ref", r, &["marking-definition"])
                            }
                            (None, Some(_)) => {}
                            (None, None) => {
                                self.fail("a granular marking needs `marking_ref` or `lang`".into())
                            }
                        }
                    }
                }
                None => self.fail("`granular_markings` must be a list".into()),
            }
        }
        match ty {
            "identity" => {
                self.string(o, "name", true);
            }
            "indicator" => {
                self.string(o, "pattern", true);
                let pt = self.string(o, "pattern_type", self.v21);
                if pt.is_some_and(str::is_empty) {
                    self.fail("`pattern_type` must not be empty".into());
                }
                if !self.v21
                    && o.get("labels")
                        .and_then(Value::as_array)
                        .is_none_or(|l| l.is_empty())
                {
                    self.fail("required property `labels` is missing (STIX 2.0)".into());
                }
                let from = self.timestamp(o, "valid_from", true);
                let until = self.timestamp(o, "valid_until", false);
                if let (Some(f), Some(u)) = (from, until) {
                    if u <= f {
                        self.fail("`valid_until` must be later than `valid_from`".into());
                    }
                }
            }
            "relationship" => {
                self.string(o, "relationship_type", true);
                for k in ["source_ref", "target_ref"] {
                    match o.get(k) {
                        Some(r) => self.reference(k, r, &[]),
                        None => self.fail(format!("required property `{k}` is missing")),
                    }
                }
            }
            "sighting" => match o.get("sighting_of_ref") {
                Some(r) => self.reference("sighting_of_ref", r, &[]),
                None => self.fail("required property `sighting_of_ref` is missing".into()),
            },
            "marking-definition" => {
                let has_def = o.contains_key("definition") || o.contains_key("extensions");
                if !has_def {
                    self.fail("a marking definition needs `definition` or `extensions`".into());
                }
            }
            _ if is_lang && !o.contains_key("object_ref") => {
                self.fail("required property `object_ref` is missing".into());
            }
            _ => {}
        }
    }
}

/// A marking definition's TLP, if it is one.
fn marking_tlp(o: &Map<String, Value>) -> Option<Tlp> {
    if let Some(id) = o.get("id").and_then(Value::as_str) {
        if let Some(t) = known_tlp(id) {
            return Some(t);
        }
    }
    if o.get("definition_type").and_then(Value::as_str) == Some("tlp") {
        if let Some(t) = o
            .get("definition")
            .and_then(|d| d.get("tlp"))
            .and_then(Value::as_str)
            .and_then(tlp_by_name)
        {
            return Some(t);
        }
    }
    o.get("extensions")
        .and_then(Value::as_object)
        .and_then(|ext| {
            ext.values().find_map(|e| {
                e.get("tlp_2_0")
                    .and_then(Value::as_str)
                    .and_then(tlp_by_name)
            })
        })
        .or_else(|| {
            o.get("name")
                .and_then(Value::as_str)
                .filter(|n| n.to_ascii_lowercase().starts_with("tlp:"))
                .and_then(tlp_by_name)
        })
}

/// Validates a STIX document (a bundle or one object) and imports its indicators.
pub fn import(doc: &Value, opts: &Options) -> Result<Imported, ImportError> {
    let top = doc
        .as_object()
        .ok_or_else(|| ImportError::NotIntel("a STIX document is a JSON object".into()))?;
    let mut errors = Vec::new();
    let single;
    let (objects, v21): (&[Value], bool) = match top.get("type").and_then(Value::as_str) {
        Some("bundle") => {
            match top.get("id").and_then(Value::as_str).and_then(id_type) {
                Some("bundle") => {}
                _ => errors.push("bundle: `id` must be `bundle--<uuid>`".to_string()),
            }
            let v21 = top.get("spec_version").and_then(Value::as_str) != Some("2.0");
            let objects = match top.get("objects") {
                None => &[][..],
                Some(Value::Array(a)) => a.as_slice(),
                Some(_) => {
                    return Err(ImportError::Invalid(vec![
                        "bundle: `objects` must be a list".into(),
                    ]))
                }
            };
            (objects, v21)
        }
        Some(_) => {
            single = [doc.clone()];
            (&single[..], true)
        }
        None => return Err(ImportError::NotIntel("no STIX `type`".into())),
    };
    if objects.len() > MAX_OBJECTS {
        return Err(ImportError::TooLarge(format!(
            "more than {MAX_OBJECTS} objects in one bundle"
        )));
    }
    // Validate everything first; remember identities and TLP markings.
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut tlps: HashMap<&str, Tlp> = HashMap::new();
    for (n, v) in objects.iter().enumerate() {
        let Some(o) = v.as_object() else {
            errors.push(format!("object {n}: not a JSON object"));
            continue;
        };
        let ty = o.get("type").and_then(Value::as_str).unwrap_or("");
        let id = o.get("id").and_then(Value::as_str).unwrap_or("");
        let at = if id.is_empty() {
            format!("object {n}")
        } else {
            id.to_string()
        };
        let mut c = Checker {
            v21,
            errors: Vec::new(),
            at: &at,
        };
        if !is_type_name(ty) {
            c.fail(format!(
                "`type` must be 3-250 lower-case letters, digits and dashes, not `{}`",
                clip(ty)
            ));
        } else {
            match id_type(id) {
                Some(t) if t == ty => c.object(o, ty),
                Some(t) => c.fail(format!(
                    "the id's type `{t}` is not the object's type `{ty}`"
                )),
                None => c.fail(format!("`id` must be `{ty}--<uuid>`, not `{}`", clip(id))),
            }
        }
        errors.extend(c.errors);
        if errors.len() >= MAX_ERRORS {
            errors.truncate(MAX_ERRORS);
            break;
        }
        match ty {
            "identity" => {
                if let Some(name) = o.get("name").and_then(Value::as_str) {
                    names.insert(id, name);
                }
            }
            "marking-definition" => {
                if let Some(t) = marking_tlp(o) {
                    tlps.insert(id, t);
                }
            }
            _ => {}
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Invalid(errors));
    }

    // The latest version of each indicator.
    let mut latest: HashMap<&str, &Map<String, Value>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for o in objects.iter().filter_map(Value::as_object) {
        if o.get("type").and_then(Value::as_str) != Some("indicator") {
            continue;
        }
        let id = o.get("id").and_then(Value::as_str).unwrap_or("");
        let modified = |o: &Map<String, Value>| {
            o.get("modified")
                .or_else(|| o.get("created"))
                .and_then(Value::as_str)
                .and_then(|s| Timestamp::parse_rfc3339(s).ok())
        };
        match latest.get(id) {
            Some(prev) if modified(prev) >= modified(o) => {}
            Some(_) => {
                latest.insert(id, o);
            }
            None => {
                order.push(id);
                latest.insert(id, o);
            }
        }
    }

    let mut out = Imported::default();
    for id in order {
        let o = latest[id];
        out.objects += 1;
        let skip = |out: &mut Imported, reason: String| {
            out.skipped.push(Skip {
                id: id.to_string(),
                reason,
            })
        };
        if o.get("revoked").and_then(Value::as_bool) == Some(true) {
            skip(&mut out, "revoked".into());
            continue;
        }
        let pattern_type = o
            .get("pattern_type")
            .and_then(Value::as_str)
            .unwrap_or("stix");
        if pattern_type != "stix" {
            skip(
                &mut out,
                format!(
                    "pattern_type `{}` (only `stix` is matched)",
                    clip(pattern_type)
                ),
            );
            continue;
        }
        let pattern_text = o.get("pattern").and_then(Value::as_str).unwrap_or("");
        let parsed = match pattern::parse(pattern_text) {
            Ok(p) => p,
            Err(e) => {
                skip(&mut out, format!("{e}"));
                continue;
            }
        };
        let ex = pattern::extract(&parsed);
        for reason in ex.skipped {
            skip(&mut out, reason);
        }
        if ex.observables.is_empty() {
            continue;
        }
        let ts = |k: &str| {
            o.get(k)
                .and_then(Value::as_str)
                .and_then(|s| Timestamp::parse_rfc3339(s).ok())
        };
        let valid_from = ts("valid_from").unwrap_or(Timestamp(0));
        let valid_until = ts("valid_until");
        let mut tlp: Option<Tlp> = None;
        let mut raise = |t: Tlp| tlp = Some(tlp.map_or(t, |x| x.max(t)));
        for r in o
            .get("object_marking_refs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if let Some(t) = tlps.get(r).copied().or_else(|| known_tlp(r)) {
                raise(t);
            }
        }
        // Granular markings: any TLP on any part of the indicator applies to all of it
        // (the value and description reach incidents together).
        for g in o
            .get("granular_markings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = g.get("marking_ref").and_then(Value::as_str) {
                if let Some(t) = tlps.get(r).copied().or_else(|| known_tlp(r)) {
                    raise(t);
                }
            }
        }
        let source = o
            .get("created_by_ref")
            .and_then(Value::as_str)
            .map(|r| names.get(r).copied().unwrap_or(r))
            .unwrap_or(&opts.default_source);
        let mut labels: Vec<&str> = Vec::new();
        for k in ["labels", "indicator_types"] {
            labels.extend(
                o.get(k)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
        }
        let description = match (
            o.get("name").and_then(Value::as_str),
            o.get("description").and_then(Value::as_str),
        ) {
            (Some(n), Some(d)) => Some(format!("{n}: {d}")),
            (Some(n), None) => Some(n.to_string()),
            (None, Some(d)) => Some(d.to_string()),
            (None, None) => None,
        };
        for ob in ex.observables {
            if out.indicators.len() >= opts.max_indicators {
                return Err(ImportError::TooLarge(format!(
                    "more than {} indicators in one file",
                    opts.max_indicators
                )));
            }
            out.indicators.push(Indicator {
                id: observable_id(id, ob.kind, &ob.value),
                kind: ob.kind,
                value: ob.value,
                source: bounded_text(source, crate::MAX_SOURCE),
                confidence: o
                    .get("confidence")
                    .and_then(Value::as_u64)
                    .map(|c| c.min(100) as u8),
                valid_from,
                valid_until,
                tlp: tlp.unwrap_or(opts.default_tlp),
                labels: bounded_labels(labels.iter().copied()),
                description: description
                    .as_deref()
                    .map(|d| bounded_text(d, crate::MAX_DESCRIPTION)),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_must_be_utc_rfc3339() {
        assert!(is_stix_timestamp("2016-08-08T15:50:10.983Z"));
        assert!(is_stix_timestamp("2016-08-08T15:50:10Z"));
        assert!(!is_stix_timestamp("2016-08-08T15:50:10.983+00:00"));
        assert!(!is_stix_timestamp("2016-08-08 15:50:10Z"));
        assert!(!is_stix_timestamp("2016-13-08T15:50:10Z"));
        assert!(!is_stix_timestamp("2016-08-08T15:50:10.Z"));
    }

    #[test]
    fn ids_are_type_and_uuid() {
        assert_eq!(
            id_type("identity--8c6af861-7b20-41ef-9b59-6344fd872a8f"),
            Some("identity")
        );
        assert_eq!(
            id_type("identity--8c6af861-7b20-41ef-9b59-6344fd872a8"),
            None
        );
        assert_eq!(
            id_type("Identity--8c6af861-7b20-41ef-9b59-6344fd872a8f"),
            None
        );
        assert_eq!(id_type("8c6af861-7b20-41ef-9b59-6344fd872a8f"), None);
    }

    #[test]
    fn tlp_ids_and_names() {
        assert_eq!(
            known_tlp("marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"),
            Some(Tlp::Red)
        );
        assert_eq!(
            known_tlp("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"),
            Some(Tlp::Clear)
        );
        assert_eq!(tlp_by_name("TLP:AMBER+STRICT"), Some(Tlp::AmberStrict));
        assert_eq!(tlp_by_name("white"), Some(Tlp::Clear));
        assert_eq!(tlp_by_name("tlp:ex:chr"), None);
    }
}

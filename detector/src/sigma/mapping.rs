//! The logsource → event mapping, kept as data (`rules/sigma/mapping.yml`).
//!
//! A Sigma rule names fields the way its log source does (`Image`, `c-uri`, `query`) and
//! says which log source it is for (`logsource: {product, category, service}`). The
//! mapping file tells, per log source:
//!
//! - `when`: which ncsoc events belong to it, as a Sigma search over the event's own
//!   dotted keys (a map: every field matches; a list of maps: any of them) — for example
//!   `event.dataset: zeek.dns`, or `winlog.channel` and `winlog.event_id`. Rules are only
//!   evaluated on events their log source's `when` accepts; a log source without `when`
//!   accepts every event.
//! - `fields`: Sigma field name → the event keys that may hold it, first present wins.
//! - `prefixes`: where else to look for a field the lists do not name: `prefix + Field`
//!   (`winlog.event_data.Image`).
//!
//! Top-level `fields` apply to every log source (after its own), and `keyword_fields` are
//! the text fields keyword lists search. A field found nowhere in the lists is read under
//! its own name (an ECS key, or a key of `extra`).
//!
//! A log source entry applies to a rule when each of `product`, `category`, `service`
//! equals the rule's (case-insensitive; both absent counts as equal), or is `"*"` (any).
//! The most specific entry (fewest `*`) wins; a rule no entry applies to is loaded but
//! never evaluated, and listed as dormant.

use super::rule::{LineError, LogSource};
use super::yaml::{self, Kind, Node};

/// The mapping shipped with ncsoc, used when a rules folder has none.
pub const BUILTIN: &str = include_str!("../../../rules/sigma/mapping.yml");

/// Longest mapping file accepted.
pub const MAX_MAPPING_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Default)]
pub struct Mapping {
    pub keyword_fields: Vec<String>,
    pub fields: Vec<(String, Vec<String>)>,
    pub logsources: Vec<Entry>,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
    pub when: Option<Node>,
    pub fields: Vec<(String, Vec<String>)>,
    pub prefixes: Vec<String>,
    pub line: u32,
}

fn strings(n: &Node, what: &str) -> Result<Vec<String>, LineError> {
    match &n.kind {
        Kind::Seq(items) => items
            .iter()
            .map(|i| {
                i.as_text()
                    .map(str::to_string)
                    .ok_or((i.line, format!("`{what}`: expected a string")))
            })
            .collect(),
        _ => n.as_text().map(|s| vec![s.to_string()]).ok_or((
            n.line,
            format!("`{what}`: expected a string or a list of strings"),
        )),
    }
}

fn field_map(n: &Node) -> Result<Vec<(String, Vec<String>)>, LineError> {
    let Kind::Map(entries) = &n.kind else {
        return Err((
            n.line,
            "`fields` must be a map of field name to event keys".into(),
        ));
    };
    entries
        .iter()
        .map(|(k, _, v)| Ok((k.clone(), strings(v, k)?)))
        .collect()
}

impl Mapping {
    pub fn builtin() -> Self {
        // The shipped file is checked by a test; an error here would be a packaging bug.
        Self::parse(BUILTIN).unwrap_or_default()
    }

    pub fn parse(src: &str) -> Result<Self, LineError> {
        if src.len() > MAX_MAPPING_BYTES {
            return Err((
                1,
                format!("mapping file larger than {MAX_MAPPING_BYTES} bytes"),
            ));
        }
        let docs = yaml::parse_documents(src).map_err(|e| (e.line, e.reason))?;
        let [doc] = docs.as_slice() else {
            return Err((1, "a mapping file holds one YAML document".into()));
        };
        let Kind::Map(top) = &doc.kind else {
            return Err((doc.line, "a mapping file is a map".into()));
        };
        let mut m = Mapping::default();
        for (k, line, v) in top {
            match k.as_str() {
                "version" | "description" => {}
                "keyword_fields" => m.keyword_fields = strings(v, k)?,
                "fields" => m.fields = field_map(v)?,
                "logsources" => {
                    let Kind::Seq(items) = &v.kind else {
                        return Err((v.line, "`logsources` must be a list".into()));
                    };
                    for item in items {
                        m.logsources.push(Entry::parse(item)?);
                    }
                }
                other => return Err((*line, format!("unknown key `{other}` in the mapping"))),
            }
        }
        Ok(m)
    }

    /// The entry that applies to a rule's log source.
    pub fn entry_for(&self, ls: &LogSource) -> Option<usize> {
        let eq = |e: &Option<String>, r: &Option<String>| match (e.as_deref(), r.as_deref()) {
            (Some("*"), _) => Some(0),
            (None, None) => Some(1),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => Some(1),
            _ => None,
        };
        self.logsources
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let s = eq(&e.product, &ls.product)?
                    + eq(&e.category, &ls.category)?
                    + eq(&e.service, &ls.service)?;
                Some((s, std::cmp::Reverse(i)))
            })
            .max()
            .map(|(_, std::cmp::Reverse(i))| i)
    }

    /// Event keys to read Sigma field `field` from, for a rule under `entry`, best first.
    pub fn candidates(&self, entry: Option<usize>, field: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |k: String| {
            if !out.contains(&k) {
                out.push(k);
            }
        };
        let lookup = |list: &[(String, Vec<String>)]| -> Option<Vec<String>> {
            list.iter()
                .find(|(k, _)| k == field)
                .or_else(|| list.iter().find(|(k, _)| k.eq_ignore_ascii_case(field)))
                .map(|(_, v)| v.clone())
        };
        let e = entry.and_then(|i| self.logsources.get(i));
        if let Some(keys) = e.and_then(|e| lookup(&e.fields)) {
            keys.into_iter().for_each(&mut add);
        }
        if let Some(keys) = lookup(&self.fields) {
            keys.into_iter().for_each(&mut add);
        }
        if let Some(e) = e {
            for p in &e.prefixes {
                add(format!("{p}{field}"));
            }
        }
        add(field.to_string());
        out
    }
}

impl Entry {
    fn parse(n: &Node) -> Result<Self, LineError> {
        let Kind::Map(entries) = &n.kind else {
            return Err((n.line, "a logsource entry is a map".into()));
        };
        let mut e = Entry {
            name: String::new(),
            product: None,
            category: None,
            service: None,
            when: None,
            fields: Vec::new(),
            prefixes: Vec::new(),
            line: n.line,
        };
        for (k, line, v) in entries {
            let text = || {
                v.as_text()
                    .map(|s| s.to_ascii_lowercase())
                    .ok_or((v.line, format!("`{k}` must be a string")))
            };
            match k.as_str() {
                "name" => e.name = text()?,
                "product" => e.product = Some(text()?),
                "category" => e.category = Some(text()?),
                "service" => e.service = Some(text()?),
                "when" => e.when = Some(v.clone()),
                "fields" => e.fields = field_map(v)?,
                "prefixes" => e.prefixes = strings(v, k)?,
                "description" => {}
                other => {
                    return Err((*line, format!("unknown key `{other}` in a logsource entry")))
                }
            }
        }
        if e.name.is_empty() {
            e.name = LogSource {
                product: e.product.clone(),
                category: e.category.clone(),
                service: e.service.clone(),
            }
            .to_string();
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_mapping_reads() {
        let m = Mapping::parse(BUILTIN).unwrap();
        assert!(m.logsources.len() > 10);
        assert!(!m.keyword_fields.is_empty());
    }

    #[test]
    fn entry_choice_and_candidates() {
        let m = Mapping::parse(
            "fields:\n  c-uri: [url.original]\nlogsources:\n  - product: windows\n    category: process_creation\n    fields:\n      Image: [process.executable]\n    prefixes: [winlog.event_data.]\n  - product: '*'\n    category: proxy\n",
        )
        .unwrap();
        let ls = LogSource {
            product: Some("windows".into()),
            category: Some("process_creation".into()),
            service: None,
        };
        let e = m.entry_for(&ls);
        assert_eq!(e, Some(0));
        assert_eq!(
            m.candidates(e, "Image"),
            ["process.executable", "winlog.event_data.Image", "Image"]
        );
        assert_eq!(m.candidates(None, "c-uri"), ["url.original", "c-uri"]);
        let proxy = LogSource {
            category: Some("proxy".into()),
            ..LogSource::default()
        };
        assert_eq!(m.entry_for(&proxy), Some(1));
        let none = LogSource {
            product: Some("aws".into()),
            ..LogSource::default()
        };
        assert_eq!(m.entry_for(&none), None);
        let err = Mapping::parse("logsources:\n  - product: x\n    bogus: 1\n").unwrap_err();
        assert_eq!(err.0, 3);
    }
}

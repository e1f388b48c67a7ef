//! YAML into a small tree that keeps the line of every node, so a rule's error can name
//! the line it is about. Scalars keep their text: Sigma compares values as strings, and
//! `1.10` must stay `1.10`, not become the number 1.1.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

/// Most nodes one file may hold (aliases included), against "billion laughs" documents.
pub const MAX_NODES: usize = 200_000;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// 1-based line of the node's first character.
    pub line: u32,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    /// An integer or a float, with its text as written.
    Num(String),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order: key, key line, value.
    Map(Vec<(String, u32, Node)>),
}

/// A 64-bit FNV-1a hash that stays the same across runs, builds and machines (what
/// checkpoints store, unlike `std`'s hashers).
#[derive(Debug, Clone, Copy)]
pub struct StableHash(u64);

impl Default for StableHash {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl StableHash {
    pub fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// A string, length first (so that `ab`+`c` and `a`+`bc` differ).
    pub fn str(&mut self, s: &str) {
        self.bytes(&(s.len() as u64).to_le_bytes());
        self.bytes(s.as_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    pub fn finish(self) -> u64 {
        self.0
    }
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(m) => m.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
            _ => None,
        }
    }

    /// The scalar as text (numbers and booleans as written); `None` for null and collections.
    pub fn as_text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) | Kind::Num(s) => Some(s),
            Kind::Bool(true) => Some("true"),
            Kind::Bool(false) => Some("false"),
            _ => None,
        }
    }

    /// Hashes the node's content (not its line numbers): two documents that say the same
    /// thing hash the same wherever they sit in their files.
    pub fn hash_into(&self, h: &mut StableHash) {
        match &self.kind {
            Kind::Null => h.bytes(b"n"),
            Kind::Bool(b) => h.bytes(if *b { b"t" } else { b"f" }),
            Kind::Num(s) => {
                h.bytes(b"#");
                h.str(s);
            }
            Kind::Str(s) => {
                h.bytes(b"s");
                h.str(s);
            }
            Kind::Seq(items) => {
                h.bytes(b"[");
                h.u64(items.len() as u64);
                items.iter().for_each(|i| i.hash_into(h));
            }
            Kind::Map(entries) => {
                h.bytes(b"{");
                h.u64(entries.len() as u64);
                for (k, _, v) in entries {
                    h.str(k);
                    v.hash_into(h);
                }
            }
        }
    }

    pub fn is_scalar(&self) -> bool {
        !matches!(self.kind, Kind::Seq(_) | Kind::Map(_))
    }

    pub fn what(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Num(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a map",
        }
    }
}

/// Why a document could not be read: the line and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub line: u32,
    pub reason: String,
}

/// Every document of `src` (Sigma files may hold several, separated by `---`).
pub fn parse_documents(src: &str) -> Result<Vec<Node>, YamlError> {
    let docs = MarkedYaml::load_from_str(src).map_err(|e| YamlError {
        line: line_of(e.marker().line()),
        reason: e.info().to_string(),
    })?;
    let chars: Vec<char> = if src.is_ascii() {
        Vec::new()
    } else {
        src.chars().collect()
    };
    let mut budget = MAX_NODES;
    docs.iter()
        .map(|d| convert(d, src, &chars, &mut budget, 0))
        .collect()
}

fn line_of(l: usize) -> u32 {
    u32::try_from(l).unwrap_or(u32::MAX).max(1)
}

/// The source text of a span (given in characters).
fn span_text(src: &str, chars: &[char], start: usize, end: usize) -> String {
    if chars.is_empty() {
        src.get(start..end).unwrap_or_default().to_string()
    } else {
        chars.get(start..end).unwrap_or_default().iter().collect()
    }
}

fn convert(
    n: &MarkedYaml<'_>,
    src: &str,
    chars: &[char],
    budget: &mut usize,
    depth: usize,
) -> Result<Node, YamlError> {
    let line = line_of(n.span.start.line());
    let err = |reason: &str| YamlError {
        line,
        reason: reason.to_string(),
    };
    if *budget == 0 {
        return Err(err("document too large (too many nodes)"));
    }
    *budget -= 1;
    if depth > MAX_DEPTH {
        return Err(err("document nested too deeply"));
    }
    let kind = match &n.data {
        YamlData::Value(s) => match s {
            Scalar::Null => Kind::Null,
            Scalar::Boolean(b) => Kind::Bool(*b),
            Scalar::Integer(i) => Kind::Num(i.to_string()),
            Scalar::FloatingPoint(f) => {
                let text = span_text(src, chars, n.span.start.index(), n.span.end.index());
                let text = text.trim();
                if text.is_empty() || text.parse::<f64>().is_err() {
                    Kind::Num(f.to_string())
                } else {
                    Kind::Num(text.to_string())
                }
            }
            Scalar::String(s) => Kind::Str(s.to_string()),
        },
        YamlData::Sequence(items) => Kind::Seq(
            items
                .iter()
                .map(|i| convert(i, src, chars, budget, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        YamlData::Mapping(map) => {
            let mut out = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = convert(k, src, chars, budget, depth + 1)?;
                let Some(text) = key.as_text() else {
                    return Err(YamlError {
                        line: key.line,
                        reason: format!("a map key must be a string, not {}", key.what()),
                    });
                };
                let text = text.to_string();
                out.push((text, key.line, convert(v, src, chars, budget, depth + 1)?));
            }
            Kind::Map(out)
        }
        YamlData::Tagged(_, inner) => return convert(inner, src, chars, budget, depth + 1),
        YamlData::Representation(text, _, _) => Kind::Str(text.to_string()),
        YamlData::Alias(_) | YamlData::BadValue => return Err(err("unreadable YAML value")),
    };
    Ok(Node { line, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_lines_and_number_text() {
        let docs = parse_documents("a: 1.10\nb:\n  - 'x'\n  - null\nc: true\n---\nd: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        let a = docs[0].get("a").unwrap();
        assert_eq!(a.kind, Kind::Num("1.10".into()));
        assert_eq!(a.line, 1);
        let Kind::Seq(b) = &docs[0].get("b").unwrap().kind else {
            panic!()
        };
        assert_eq!(b[0].kind, Kind::Str("x".into()));
        assert_eq!(b[0].line, 3);
        assert_eq!(b[1].kind, Kind::Null);
        assert_eq!(docs[0].get("c").unwrap().kind, Kind::Bool(true));
        assert_eq!(docs[1].get("d").unwrap().line, 7);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_documents("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        let e = parse_documents("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
    }
}

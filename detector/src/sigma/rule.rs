//! One Sigma rule document: its metadata and its detection, compiled against the field
//! slots of a [`super::RuleSet`].

use serde::Serialize;

use super::condition::{self, Cond};
use super::pattern::{self, Cidr, NumOp, Pattern, Value};
use super::yaml::{Kind, Node};

/// Most values one rule may list, all searches together.
pub const MAX_VALUES_PER_RULE: usize = 10_000;
/// Most search identifiers in one rule.
pub const MAX_SEARCHES: usize = 256;
/// Longest title, id, tag or field name kept.
pub const MAX_TEXT: usize = 1024;

/// An error at a line of a rule file.
pub type LineError = (u32, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Informational,
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Level {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "informational" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }

    /// The signal score of a hit at this level.
    pub fn score(self) -> u8 {
        match self {
            Level::Informational => 10,
            Level::Low => 30,
            Level::Medium => 50,
            Level::High => 70,
            Level::Critical => 90,
        }
    }
}

/// `logsource`: what kind of events a rule is written for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogSource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl std::fmt::Display for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (k, v) in [
            ("product", &self.product),
            ("category", &self.category),
            ("service", &self.service),
        ] {
            if let Some(v) = v {
                if !first {
                    f.write_str(", ")?;
                }
                write!(f, "{k}: {v}")?;
                first = false;
            }
        }
        if first {
            f.write_str("(none)")?;
        }
        Ok(())
    }
}

/// What a rule says about itself (shown by the API and in incidents).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Meta {
    pub id: String,
    pub title: String,
    /// `name`: how correlation rules refer to it (besides its id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub logsource: LogSource,
    /// The file it came from and the line of its document.
    pub file: String,
    pub line: u32,
}

impl Meta {
    /// MITRE ATT&CK technique ids from `attack.tNNNN[.NNN]` tags, upper-cased.
    pub fn attack_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.tags.iter().filter_map(|t| {
            let id = t.strip_prefix("attack.")?;
            let rest = id.strip_prefix('t').or_else(|| id.strip_prefix('T'))?;
            let ok = !rest.is_empty()
                && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
                && rest.as_bytes()[0].is_ascii_digit();
            ok.then(|| format!("T{rest}"))
        })
    }
}

fn text(n: &Node, what: &str) -> Result<String, LineError> {
    let s = n.as_text().ok_or_else(|| {
        (
            n.line,
            format!("`{what}` must be a string, not {}", n.what()),
        )
    })?;
    if s.len() > MAX_TEXT {
        return Err((n.line, format!("`{what}` longer than {MAX_TEXT} bytes")));
    }
    Ok(s.to_string())
}

fn opt_text(doc: &Node, key: &str) -> Result<Option<String>, LineError> {
    match doc.get(key) {
        None => Ok(None),
        Some(n) if n.kind == Kind::Null => Ok(None),
        Some(n) => text(n, key).map(Some),
    }
}

/// Reads the metadata shared by detection and correlation rules.
pub fn parse_meta(doc: &Node, file: &str) -> Result<Meta, LineError> {
    let title = opt_text(doc, "title")?.ok_or((doc.line, "missing `title`".to_string()))?;
    let id = opt_text(doc, "id")?.unwrap_or_default();
    let name = opt_text(doc, "name")?;
    let level = match doc.get("level") {
        None => Level::Medium,
        Some(n) => {
            let t = text(n, "level")?;
            Level::parse(&t).ok_or_else(|| {
                (
                    n.line,
                    format!("unknown level `{t}` (informational, low, medium, high, critical)"),
                )
            })?
        }
    };
    let mut tags = Vec::new();
    if let Some(n) = doc.get("tags") {
        match &n.kind {
            Kind::Seq(items) => {
                for t in items {
                    tags.push(text(t, "tags")?.to_ascii_lowercase());
                }
            }
            Kind::Null => {}
            _ => return Err((n.line, "`tags` must be a list".into())),
        }
    }
    let mut logsource = LogSource::default();
    if let Some(ls) = doc.get("logsource") {
        if !matches!(ls.kind, Kind::Map(_) | Kind::Null) {
            return Err((ls.line, "`logsource` must be a map".into()));
        }
        let get = |k: &str| -> Result<Option<String>, LineError> {
            Ok(opt_text(ls, k)?.map(|s| s.to_ascii_lowercase()))
        };
        logsource = LogSource {
            product: get("product")?,
            category: get("category")?,
            service: get("service")?,
        };
    }
    Ok(Meta {
        id,
        title,
        name,
        level,
        status: opt_text(doc, "status")?,
        description: opt_text(doc, "description")?,
        tags,
        logsource,
        file: file.to_string(),
        line: doc.line,
    })
}

/// One field test of a search.
#[derive(Debug, Clone)]
pub enum Test {
    /// `field: null`: absent or empty.
    Null,
    /// `field|exists: true/false`.
    Exists(bool),
    /// Any value pattern matches (or each one, with `all`).
    Values { pats: Vec<Pattern>, all: bool },
    /// `fieldref`: compared with other fields of the same event.
    FieldRef {
        others: Vec<u32>,
        op: RefOp,
        cased: bool,
        all: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RefOp {
    Equal,
    Prefix,
    Suffix,
    Contains,
}

#[derive(Debug, Clone)]
pub struct FieldTest {
    pub slot: u32,
    pub test: Test,
}

/// A compiled search identifier.
#[derive(Debug, Clone)]
pub enum Search {
    /// A list of maps: any of them.
    Any(Vec<Search>),
    /// A map: every field test.
    All(Vec<FieldTest>),
}

/// Resolves a Sigma field name (as written in the rule) to a field slot.
pub trait FieldResolver {
    fn slot(&mut self, field: &str) -> u32;
    /// The slot that keyword lists search.
    fn keywords(&mut self) -> u32;
}

/// A rule's detection, compiled.
#[derive(Debug, Clone)]
pub struct Detection {
    pub names: Vec<String>,
    pub searches: Vec<Search>,
    pub cond: Cond,
}

pub fn compile_detection(det: &Node, res: &mut dyn FieldResolver) -> Result<Detection, LineError> {
    let Kind::Map(entries) = &det.kind else {
        return Err((det.line, "`detection` must be a map".into()));
    };
    let mut names = Vec::new();
    let mut bodies = Vec::new();
    let mut conditions: Vec<(u32, String)> = Vec::new();
    for (k, line, v) in entries {
        match k.as_str() {
            "condition" => match &v.kind {
                Kind::Seq(items) => {
                    for i in items {
                        conditions.push((i.line, text(i, "condition")?));
                    }
                }
                _ => conditions.push((v.line, text(v, "condition")?)),
            },
            "timeframe" => {
                return Err((
                    *line,
                    "`timeframe` in a detection is not supported; write a correlation rule".into(),
                ))
            }
            _ => {
                names.push(k.clone());
                bodies.push(v);
            }
        }
    }
    if names.len() > MAX_SEARCHES {
        return Err((
            det.line,
            format!("more than {MAX_SEARCHES} search identifiers"),
        ));
    }
    if conditions.is_empty() {
        return Err((det.line, "detection has no `condition`".into()));
    }
    let mut budget = MAX_VALUES_PER_RULE;
    let searches = bodies
        .iter()
        .map(|b| compile_search(b, res, &mut budget, true))
        .collect::<Result<Vec<_>, _>>()?;
    let mut conds = Vec::new();
    for (line, c) in conditions {
        conds.push(condition::parse(&c, &names).map_err(|e| (line, e))?);
    }
    let cond = if conds.len() == 1 {
        conds.remove(0)
    } else {
        Cond::Or(conds)
    };
    Ok(Detection {
        names,
        searches,
        cond,
    })
}

fn compile_search(
    n: &Node,
    res: &mut dyn FieldResolver,
    budget: &mut usize,
    top: bool,
) -> Result<Search, LineError> {
    match &n.kind {
        Kind::Map(entries) => {
            if entries.is_empty() {
                return Err((n.line, "empty search map".into()));
            }
            let tests = entries
                .iter()
                .map(|(k, line, v)| compile_field(k, *line, v, res, budget))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Search::All(tests))
        }
        Kind::Seq(items) if top && items.iter().all(|i| matches!(i.kind, Kind::Map(_))) => {
            if items.is_empty() {
                return Err((n.line, "empty search list".into()));
            }
            Ok(Search::Any(
                items
                    .iter()
                    .map(|i| compile_search(i, res, budget, false))
                    .collect::<Result<_, _>>()?,
            ))
        }
        Kind::Seq(items) if items.iter().all(Node::is_scalar) => {
            // Keywords: searched in the event's text.
            Ok(Search::All(vec![compile_field(
                "", n.line, n, res, budget,
            )?]))
        }
        Kind::Seq(_) => Err((
            n.line,
            "a search list must hold only maps or only values".into(),
        )),
        _ if top => Ok(Search::All(vec![compile_field(
            "", n.line, n, res, budget,
        )?])),
        _ => Err((n.line, format!("unexpected {} in a search", n.what()))),
    }
}

#[derive(Default)]
struct Mods {
    contains: bool,
    startswith: bool,
    endswith: bool,
    all: bool,
    re: bool,
    re_i: bool,
    re_m: bool,
    re_s: bool,
    cidr: bool,
    base64: bool,
    base64offset: bool,
    encoding: Option<&'static str>,
    windash: bool,
    exists: bool,
    cased: bool,
    num: Option<NumOp>,
    fieldref: bool,
}

fn parse_mods(list: &[&str]) -> Result<Mods, String> {
    let mut m = Mods::default();
    for &name in list {
        match name {
            "contains" => m.contains = true,
            "startswith" => m.startswith = true,
            "endswith" => m.endswith = true,
            "all" => m.all = true,
            "re" => m.re = true,
            "i" if m.re => m.re_i = true,
            "m" if m.re => m.re_m = true,
            "s" if m.re => m.re_s = true,
            "cidr" => m.cidr = true,
            "base64" => m.base64 = true,
            "base64offset" => m.base64offset = true,
            "wide" | "utf16le" => m.encoding = Some("utf16le"),
            "utf16be" => m.encoding = Some("utf16be"),
            "utf16" => m.encoding = Some("utf16"),
            "windash" => m.windash = true,
            "exists" => m.exists = true,
            "cased" => m.cased = true,
            "gt" => m.num = Some(NumOp::Gt),
            "gte" => m.num = Some(NumOp::Gte),
            "lt" => m.num = Some(NumOp::Lt),
            "lte" => m.num = Some(NumOp::Lte),
            "fieldref" => m.fieldref = true,
            "expand" => return Err("the `expand` modifier (placeholders) is not supported".into()),
            "" => return Err("empty modifier".into()),
            other => return Err(format!("unknown modifier `{other}`")),
        }
    }
    let kinds = [m.contains, m.startswith, m.endswith]
        .iter()
        .filter(|b| **b)
        .count();
    if kinds > 1 {
        return Err("at most one of contains, startswith, endswith".into());
    }
    let special = [m.re, m.cidr, m.exists, m.num.is_some(), m.fieldref]
        .iter()
        .filter(|b| **b)
        .count();
    if special > 1 {
        return Err("re, cidr, exists, gt/gte/lt/lte and fieldref do not combine".into());
    }
    if (m.re || m.cidr || m.exists || m.num.is_some())
        && (kinds > 0 || m.base64 || m.base64offset || m.windash)
    {
        return Err("re, cidr, exists and gt/gte/lt/lte take no other value modifier".into());
    }
    if m.encoding.is_some() && !(m.base64 || m.base64offset) {
        return Err("wide/utf16 modifiers need base64 or base64offset".into());
    }
    if m.base64 && m.base64offset {
        return Err("base64 and base64offset do not combine".into());
    }
    Ok(m)
}

fn encode(s: &str, enc: Option<&str>) -> Vec<u8> {
    match enc {
        Some("utf16le") => s.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        Some("utf16be") => s.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        Some(_) => [0xff, 0xfe]
            .into_iter()
            .chain(s.encode_utf16().flat_map(u16::to_le_bytes))
            .collect(),
        None => s.as_bytes().to_vec(),
    }
}

fn compile_field(
    key: &str,
    line: u32,
    v: &Node,
    res: &mut dyn FieldResolver,
    budget: &mut usize,
) -> Result<FieldTest, LineError> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default();
    if field.len() > MAX_TEXT {
        return Err((line, format!("field name longer than {MAX_TEXT} bytes")));
    }
    let mods: Vec<&str> = parts.collect();
    let m = parse_mods(&mods).map_err(|e| (line, e))?;
    let slot = if field.is_empty() {
        res.keywords()
    } else {
        res.slot(field)
    };
    let values: Vec<&Node> = match &v.kind {
        Kind::Seq(items) => items.iter().collect(),
        _ => vec![v],
    };
    if values.is_empty() {
        return Err((v.line, format!("`{key}` has an empty value list")));
    }
    *budget = budget.checked_sub(values.len()).ok_or((
        v.line,
        format!("rule lists more than {MAX_VALUES_PER_RULE} values"),
    ))?;
    for val in &values {
        if !val.is_scalar() {
            return Err((
                val.line,
                format!("`{key}`: a value must be a scalar, not {}", val.what()),
            ));
        }
    }
    let err = |n: &Node, e: String| (n.line, format!("`{key}`: {e}"));
    if m.exists {
        return match values.as_slice() {
            [Node {
                kind: Kind::Bool(b),
                ..
            }] => Ok(FieldTest {
                slot,
                test: Test::Exists(*b),
            }),
            _ => Err((v.line, format!("`{key}`: exists takes true or false"))),
        };
    }
    if values.iter().any(|n| n.kind == Kind::Null) {
        if values.len() == 1 && mods.is_empty() {
            return Ok(FieldTest {
                slot,
                test: Test::Null,
            });
        }
        return Err((
            v.line,
            format!("`{key}`: null only alone and without modifiers"),
        ));
    }
    if m.fieldref {
        let mut others = Vec::new();
        for n in &values {
            let name = n.as_text().unwrap_or_default();
            others.push(res.slot(name));
        }
        let op = if m.contains {
            RefOp::Contains
        } else if m.startswith {
            RefOp::Prefix
        } else if m.endswith {
            RefOp::Suffix
        } else {
            RefOp::Equal
        };
        return Ok(FieldTest {
            slot,
            test: Test::FieldRef {
                others,
                op,
                cased: m.cased,
                all: m.all,
            },
        });
    }
    let mut pats = Vec::new();
    for n in &values {
        let t = n.as_text().unwrap_or_default();
        if m.re {
            pats.push(pattern::regex(t, m.re_i, m.re_m, m.re_s).map_err(|e| err(n, e))?);
        } else if m.cidr {
            pats.push(Pattern::Cidr(Cidr::parse(t).map_err(|e| err(n, e))?));
        } else if let Some(op) = m.num {
            let value = t
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| err(n, format!("`{t}` is not a number")))?;
            pats.push(Pattern::Num { op, value });
        } else {
            let mut variants = if m.base64 || m.base64offset {
                let base = Value::parse(t);
                let Some(plain) = base.plain() else {
                    return Err(err(n, "base64 values cannot hold wildcards".into()));
                };
                let bytes = encode(&plain, m.encoding);
                if m.base64 {
                    vec![Value::literal(pattern::base64(&bytes))]
                } else {
                    pattern::base64_offsets(&bytes)
                        .into_iter()
                        .map(Value::literal)
                        .collect()
                }
            } else {
                vec![Value::parse(t)]
            };
            if m.windash {
                let mut out = Vec::new();
                for v in &variants {
                    out.extend(v.windash().map_err(|e| err(n, e))?);
                }
                variants = out;
            }
            if variants.len() > pattern::MAX_VARIANTS {
                return Err(err(n, "too many variants".into()));
            }
            // Variants of one value are alternatives, even under `all`.
            let mut alt = Vec::new();
            // Keywords are searched anywhere in the text.
            let anywhere = field.is_empty() && !(m.startswith || m.endswith);
            for mut var in variants {
                var.wrap(
                    m.contains || m.endswith || anywhere,
                    m.contains || m.startswith || anywhere,
                );
                alt.push(var.compile(m.cased).map_err(|e| err(n, e))?);
            }
            if m.all && alt.len() > 1 {
                return Err(err(
                    n,
                    "`all` with windash/base64offset variants is not supported".into(),
                ));
            }
            pats.extend(alt);
        }
    }
    if !m.all {
        pats = merge_contains(pats).map_err(|e| (line, e))?;
        // Exact, prefix and suffix needles become one set per case rule.
        for cased in [false, true] {
            if let Some(set) = pattern::NeedleSet::take(&mut pats, cased) {
                pats.insert(0, set);
            }
        }
    }
    Ok(FieldTest {
        slot,
        test: Test::Values { pats, all: m.all },
    })
}

/// Many case-insensitive `contains` needles become one Aho-Corasick search.
fn merge_contains(pats: Vec<Pattern>) -> Result<Vec<Pattern>, String> {
    const MIN_FOR_AC: usize = 4;
    let (contains, rest): (Vec<_>, Vec<_>) = pats.into_iter().partition(|p| {
        matches!(
            p,
            Pattern::Str {
                op: pattern::StrOp::Contains(_),
                cased: false,
                ..
            }
        )
    });
    if contains.len() < MIN_FOR_AC {
        return Ok(contains.into_iter().chain(rest).collect());
    }
    let needles: Vec<String> = contains
        .iter()
        .filter_map(|p| match p {
            Pattern::Str { needle, .. } => Some(needle.clone()),
            _ => None,
        })
        .collect();
    let mut out = vec![pattern::contains_any(&needles, false)?];
    out.extend(rest);
    Ok(out)
}

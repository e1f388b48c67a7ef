//! The STIX 2.1 patterning language (STIX 2.1 part 9), parsed into a tree, and the
//! observables ncsoc can match exactly taken out of it.
//!
//! A pattern is observation expressions (`[ ... ]`) joined by `OR`, `AND` and
//! `FOLLOWEDBY`, each optionally qualified (`WITHIN n SECONDS`, `REPEATS n TIMES`,
//! `START t STOP t`); inside the brackets, comparisons (`object-type:path op literal`)
//! joined by `OR` and `AND`. ncsoc matches one record at a time against single values, so
//! only what one value proves can become an indicator: the pattern is read as a
//! disjunction, and each disjunct that is a single equality (or `IN`, or `ISSUBSET` of a
//! prefix) on an address, domain, URL, file hash or e-mail address becomes one
//! observable. Every other disjunct (conditions joined by `AND`, `FOLLOWEDBY`, qualifiers,
//! negations, `LIKE`/`MATCHES`, properties ncsoc does not see) is reported as skipped with
//! its reason: matching part of it would raise alerts the pattern does not mean.

use std::net::IpAddr;

use ncsoc_model::IndicatorKind;

/// Longest pattern read.
pub const MAX_PATTERN: usize = 64 * 1024;
/// Deepest nesting of parentheses and brackets.
const MAX_DEPTH: usize = 64;
/// Most observables one pattern may give.
pub const MAX_OBSERVABLES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pattern syntax error at byte {at}: {reason}")]
pub struct PatternError {
    pub at: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    /// `t'...'`, `h'...'`, `b'...'`: typed literals ncsoc never matches on.
    Typed(char, String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Op(&'static str),
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn err(&self, reason: impl Into<String>) -> PatternError {
        PatternError {
            at: self.pos,
            reason: reason.into(),
        }
    }

    fn string(&mut self) -> Result<String, PatternError> {
        // At the opening quote.
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.src.get(self.pos) {
                None => return Err(self.err("unterminated string")),
                Some(b'\\') => {
                    match self.src.get(self.pos + 1) {
                        Some(&c @ (b'\\' | b'\'')) => out.push(c),
                        _ => return Err(self.err("only \\' and \\\\ may be escaped")),
                    }
                    self.pos += 2;
                }
                Some(b'\'') => {
                    self.pos += 1;
                    return String::from_utf8(out).map_err(|_| self.err("invalid UTF-8"));
                }
                Some(&c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn tokens(mut self) -> Result<Vec<(usize, Tok)>, PatternError> {
        let mut out = Vec::new();
        while self.pos < self.src.len() {
            let c = self.src[self.pos];
            let start = self.pos;
            if c.is_ascii_whitespace() {
                self.pos += 1;
                continue;
            }
            let tok = match c {
                b'\'' => Tok::Str(self.string()?),
                b't' | b'h' | b'b' if self.src.get(self.pos + 1) == Some(&b'\'') => {
                    self.pos += 1;
                    Tok::Typed(c as char, self.string()?)
                }
                b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                    while self.pos < self.src.len()
                        && matches!(self.src[self.pos], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-')
                    {
                        self.pos += 1;
                    }
                    let word = std::str::from_utf8(&self.src[start..self.pos])
                        .map_err(|_| self.err("invalid identifier"))?;
                    match word {
                        "true" | "TRUE" => Tok::Bool(true),
                        "false" | "FALSE" => Tok::Bool(false),
                        _ => Tok::Ident(word.to_string()),
                    }
                }
                b'0'..=b'9' | b'-' | b'+' => {
                    self.pos += 1;
                    while self.pos < self.src.len()
                        && matches!(self.src[self.pos], b'0'..=b'9' | b'.')
                    {
                        self.pos += 1;
                    }
                    let text = std::str::from_utf8(&self.src[start..self.pos]).unwrap_or("");
                    if text.contains('.') {
                        Tok::Float(text.parse().map_err(|_| self.err("bad number"))?)
                    } else {
                        Tok::Int(text.parse().map_err(|_| self.err("bad number"))?)
                    }
                }
                _ => {
                    let two = self.src.get(self.pos..self.pos + 2);
                    let op = match two {
                        Some(b"!=") => "!=",
                        Some(b"<=") => "<=",
                        Some(b">=") => ">=",
                        Some(b"==") => "=",
                        _ => match c {
                            b'=' => "=",
                            b'<' => "<",
                            b'>' => ">",
                            b'(' => "(",
                            b')' => ")",
                            b'[' => "[",
                            b']' => "]",
                            b',' => ",",
                            b':' => ":",
                            b'.' => ".",
                            b'*' => "*",
                            _ => return Err(self.err(format!("unexpected `{}`", c as char))),
                        },
                    };
                    self.pos += if two.is_some_and(|t| matches!(t, b"!=" | b"<=" | b">=" | b"==")) {
                        2
                    } else {
                        1
                    };
                    Tok::Op(op)
                }
            };
            out.push((start, tok));
        }
        Ok(out)
    }
}

/// One step of an object path: `.name` / `.'quoted name'`, or `[n]` / `[*]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectPath {
    pub object_type: String,
    pub steps: Vec<Step>,
}

impl std::fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:", self.object_type)?;
        for (i, s) in self.steps.iter().enumerate() {
            match s {
                Step::Key(k) if i == 0 => write!(f, "{k}")?,
                Step::Key(k) => write!(f, ".{k}")?,
                Step::Index => write!(f, "[*]")?,
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Comparison {
    Or(Vec<Comparison>),
    And(Vec<Comparison>),
    Test {
        path: ObjectPath,
        negated: bool,
        op: String,
        values: Vec<Literal>,
    },
    Exists(ObjectPath),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Or(Vec<Observation>),
    And(Vec<Observation>),
    FollowedBy(Vec<Observation>),
    Bracket(Comparison),
    Qualified(Box<Observation>, String),
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    i: usize,
    depth: usize,
    end: usize,
}

impl Parser {
    fn at(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |t| t.0)
    }
    fn err(&self, reason: impl Into<String>) -> PatternError {
        PatternError {
            at: self.at(),
            reason: reason.into(),
        }
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.1)
    }
    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w == kw)
    }
    fn expect_op(&mut self, op: &str) -> Result<(), PatternError> {
        if self.is_op(op) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected `{op}`")))
        }
    }
    fn enter(&mut self) -> Result<(), PatternError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        Ok(())
    }

    // observationExpressions: Or (FOLLOWEDBY Or)*
    fn observations(&mut self) -> Result<Observation, PatternError> {
        let mut parts = vec![self.obs_or()?];
        while self.is_kw("FOLLOWEDBY") {
            self.i += 1;
            parts.push(self.obs_or()?);
        }
        Ok(one_or(parts, Observation::FollowedBy))
    }
    fn obs_or(&mut self) -> Result<Observation, PatternError> {
        let mut parts = vec![self.obs_and()?];
        while self.is_kw("OR") {
            self.i += 1;
            parts.push(self.obs_and()?);
        }
        Ok(one_or(parts, Observation::Or))
    }
    fn obs_and(&mut self) -> Result<Observation, PatternError> {
        let mut parts = vec![self.observation()?];
        while self.is_kw("AND") {
            self.i += 1;
            parts.push(self.observation()?);
        }
        Ok(one_or(parts, Observation::And))
    }
    fn observation(&mut self) -> Result<Observation, PatternError> {
        self.enter()?;
        let mut obs = if self.is_op("[") {
            self.i += 1;
            let c = self.comparisons()?;
            self.expect_op("]")?;
            Observation::Bracket(c)
        } else if self.is_op("(") {
            self.i += 1;
            let o = self.observations()?;
            self.expect_op(")")?;
            o
        } else {
            return Err(self.err("expected `[` or `(` to start an observation expression"));
        };
        self.depth -= 1;
        // Qualifiers.
        loop {
            if self.is_kw("WITHIN") {
                self.i += 1;
                self.number()?;
                self.keyword("SECONDS")?;
                obs = Observation::Qualified(Box::new(obs), "WITHIN".into());
            } else if self.is_kw("REPEATS") {
                self.i += 1;
                self.number()?;
                self.keyword("TIMES")?;
                obs = Observation::Qualified(Box::new(obs), "REPEATS".into());
            } else if self.is_kw("START") {
                self.i += 1;
                self.timestamp()?;
                self.keyword("STOP")?;
                self.timestamp()?;
                obs = Observation::Qualified(Box::new(obs), "START/STOP".into());
            } else {
                return Ok(obs);
            }
        }
    }
    fn number(&mut self) -> Result<(), PatternError> {
        match self.peek() {
            Some(Tok::Int(n)) if *n > 0 => {
                self.i += 1;
                Ok(())
            }
            Some(Tok::Float(f)) if *f > 0.0 => {
                self.i += 1;
                Ok(())
            }
            _ => Err(self.err("expected a positive number")),
        }
    }
    fn timestamp(&mut self) -> Result<(), PatternError> {
        match self.peek() {
            Some(Tok::Typed('t', s)) => {
                if !crate::stix::is_stix_timestamp(s) {
                    return Err(self.err("timestamp literal is not RFC 3339 in UTC"));
                }
                self.i += 1;
                Ok(())
            }
            _ => Err(self.err("expected a timestamp literal t'...'")),
        }
    }
    fn keyword(&mut self, kw: &str) -> Result<(), PatternError> {
        if self.is_kw(kw) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(format!("expected `{kw}`")))
        }
    }

    fn comparisons(&mut self) -> Result<Comparison, PatternError> {
        let mut parts = vec![self.cmp_and()?];
        while self.is_kw("OR") {
            self.i += 1;
            parts.push(self.cmp_and()?);
        }
        Ok(one_or(parts, Comparison::Or))
    }
    fn cmp_and(&mut self) -> Result<Comparison, PatternError> {
        let mut parts = vec![self.test()?];
        while self.is_kw("AND") {
            self.i += 1;
            parts.push(self.test()?);
        }
        Ok(one_or(parts, Comparison::And))
    }
    fn test(&mut self) -> Result<Comparison, PatternError> {
        if self.is_op("(") {
            self.enter()?;
            self.i += 1;
            let c = self.comparisons()?;
            self.expect_op(")")?;
            self.depth -= 1;
            return Ok(c);
        }
        if self.is_kw("EXISTS") {
            self.i += 1;
            return Ok(Comparison::Exists(self.path()?));
        }
        let path = self.path()?;
        let negated = self.is_kw("NOT");
        if negated {
            self.i += 1;
        }
        let op = match self.peek() {
            Some(Tok::Op(o @ ("=" | "!=" | "<" | "<=" | ">" | ">="))) => o.to_string(),
            Some(Tok::Ident(w))
                if matches!(
                    w.as_str(),
                    "IN" | "LIKE" | "MATCHES" | "ISSUBSET" | "ISSUPERSET"
                ) =>
            {
                w.clone()
            }
            _ => return Err(self.err("expected a comparison operator")),
        };
        self.i += 1;
        let values = if op == "IN" {
            self.expect_op("(")?;
            let mut v = Vec::new();
            if !self.is_op(")") {
                loop {
                    v.push(self.literal()?);
                    if v.len() > MAX_OBSERVABLES {
                        return Err(self.err("set literal too long"));
                    }
                    if self.is_op(",") {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
            }
            self.expect_op(")")?;
            v
        } else {
            vec![self.literal()?]
        };
        if matches!(op.as_str(), "LIKE" | "MATCHES" | "ISSUBSET" | "ISSUPERSET")
            && !matches!(values[0], Literal::Str(_))
        {
            return Err(self.err(format!("{op} needs a string literal")));
        }
        Ok(Comparison::Test {
            path,
            negated,
            op,
            values,
        })
    }
    fn literal(&mut self) -> Result<Literal, PatternError> {
        let lit = match self.peek() {
            Some(Tok::Str(s)) => Literal::Str(s.clone()),
            Some(Tok::Typed(t, s)) => {
                if *t == 't' && !crate::stix::is_stix_timestamp(s) {
                    return Err(self.err("timestamp literal is not RFC 3339 in UTC"));
                }
                Literal::Other(format!("{t}'{s}'"))
            }
            Some(Tok::Int(n)) => Literal::Other(n.to_string()),
            Some(Tok::Float(f)) => Literal::Other(f.to_string()),
            Some(Tok::Bool(b)) => Literal::Other(b.to_string()),
            _ => return Err(self.err("expected a literal")),
        };
        self.i += 1;
        Ok(lit)
    }
    fn path(&mut self) -> Result<ObjectPath, PatternError> {
        let object_type = match self.peek() {
            Some(Tok::Ident(t)) => t.clone(),
            _ => return Err(self.err("expected an object type")),
        };
        self.i += 1;
        self.expect_op(":")?;
        let mut steps = vec![match self.peek() {
            Some(Tok::Ident(p)) if !p.contains('-') => Step::Key(p.clone()),
            Some(Tok::Str(p)) => Step::Key(p.clone()),
            _ => return Err(self.err("expected a property name")),
        }];
        self.i += 1;
        loop {
            if self.is_op(".") {
                self.i += 1;
                match self.peek() {
                    Some(Tok::Ident(p)) if !p.contains('-') => steps.push(Step::Key(p.clone())),
                    Some(Tok::Str(p)) => steps.push(Step::Key(p.clone())),
                    _ => return Err(self.err("expected a property name (quote names with `-`)")),
                }
                self.i += 1;
            } else if self.is_op("[") {
                self.i += 1;
                match self.peek() {
                    Some(Tok::Int(_)) | Some(Tok::Op("*")) => {}
                    _ => return Err(self.err("expected an index or `*`")),
                }
                self.i += 1;
                self.expect_op("]")?;
                steps.push(Step::Index);
            } else {
                return Ok(ObjectPath { object_type, steps });
            }
            if steps.len() > MAX_DEPTH {
                return Err(self.err("object path too long"));
            }
        }
    }
}

fn one_or<T>(mut parts: Vec<T>, many: impl FnOnce(Vec<T>) -> T) -> T {
    if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        many(parts)
    }
}

/// Parses a pattern, checking its syntax.
pub fn parse(pattern: &str) -> Result<Observation, PatternError> {
    if pattern.len() > MAX_PATTERN {
        return Err(PatternError {
            at: MAX_PATTERN,
            reason: format!("longer than {MAX_PATTERN} bytes"),
        });
    }
    let toks = Lexer {
        src: pattern.as_bytes(),
        pos: 0,
    }
    .tokens()?;
    let mut p = Parser {
        toks,
        i: 0,
        depth: 0,
        end: pattern.len(),
    };
    let obs = p.observations()?;
    if p.i != p.toks.len() {
        return Err(p.err("unexpected text after the pattern"));
    }
    Ok(obs)
}

/// One value ncsoc can match on its own, in its canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Observable {
    pub kind: IndicatorKind,
    pub value: String,
}

/// What a pattern gives: the observables to match, and why the rest was left out.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Extracted {
    pub observables: Vec<Observable>,
    pub skipped: Vec<String>,
}

/// The observables of a parsed pattern (see the module documentation).
pub fn extract(obs: &Observation) -> Extracted {
    let mut out = Extracted::default();
    walk_obs(obs, &mut out);
    out.observables.sort();
    out.observables.dedup();
    out.observables.truncate(MAX_OBSERVABLES);
    out
}

fn walk_obs(obs: &Observation, out: &mut Extracted) {
    match obs {
        Observation::Or(parts) => parts.iter().for_each(|p| walk_obs(p, out)),
        Observation::Bracket(c) => walk_cmp(c, out),
        Observation::And(_) => out
            .skipped
            .push("observations joined by AND (all must be seen)".into()),
        Observation::FollowedBy(_) => out
            .skipped
            .push("observations joined by FOLLOWEDBY (a sequence)".into()),
        Observation::Qualified(_, q) => out
            .skipped
            .push(format!("{q} qualifier (needs more than one record)")),
    }
}

fn walk_cmp(c: &Comparison, out: &mut Extracted) {
    match c {
        Comparison::Or(parts) => parts.iter().for_each(|p| walk_cmp(p, out)),
        Comparison::And(_) => out
            .skipped
            .push("comparisons joined by AND (one object must satisfy all)".into()),
        Comparison::Exists(p) => out.skipped.push(format!("EXISTS {p}")),
        Comparison::Test {
            path,
            negated,
            op,
            values,
        } => {
            if *negated || op == "!=" {
                out.skipped.push(format!("negated comparison on {path}"));
                return;
            }
            let Some(target) = target_of(path) else {
                out.skipped
                    .push(format!("{path} is not a property ncsoc matches"));
                return;
            };
            let subset = match op.as_str() {
                "=" | "IN" => false,
                "ISSUBSET" if target == Target::Ip => true,
                _ => {
                    out.skipped.push(format!("operator {op} on {path}"));
                    return;
                }
            };
            for v in values {
                let Literal::Str(s) = v else {
                    out.skipped
                        .push(format!("{path} compared with a non-string literal"));
                    continue;
                };
                match canonical(target, s, subset) {
                    Ok(o) => out.observables.push(o),
                    Err(reason) => out.skipped.push(format!("{path}: {reason}")),
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Ip,
    Domain,
    Url,
    Hash(IndicatorKind),
    Email,
}

fn key(s: &Step) -> Option<&str> {
    match s {
        Step::Key(k) => Some(k),
        Step::Index => None,
    }
}

/// The properties ncsoc matches: addresses (also the ends of network traffic), domain
/// names, URLs, MD5/SHA-1/SHA-256 file hashes, and e-mail addresses (also a message's
/// sender and recipients: the address is what is matched, whatever its role).
fn target_of(p: &ObjectPath) -> Option<Target> {
    let steps: Vec<Option<&str>> = p.steps.iter().map(key).collect();
    match (p.object_type.as_str(), steps.as_slice()) {
        ("ipv4-addr" | "ipv6-addr", [Some("value")]) => Some(Target::Ip),
        ("network-traffic", [Some("src_ref" | "dst_ref"), Some("value")]) => Some(Target::Ip),
        ("domain-name", [Some("value")]) => Some(Target::Domain),
        ("url", [Some("value")]) => Some(Target::Url),
        ("email-addr", [Some("value")]) => Some(Target::Email),
        ("email-message", [Some("from_ref" | "sender_ref"), Some("value")]) => Some(Target::Email),
        ("email-message", [Some("to_refs" | "cc_refs" | "bcc_refs"), None, Some("value")]) => {
            Some(Target::Email)
        }
        ("file" | "artifact", [Some("hashes"), Some(h)]) => hash_kind(h).map(Target::Hash),
        _ => None,
    }
}

/// MD5, SHA-1 or SHA-256 by its STIX hash name (any case, with or without the dash).
pub fn hash_kind(name: &str) -> Option<IndicatorKind> {
    let n: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    match n.as_str() {
        "md5" => Some(IndicatorKind::Md5),
        "sha1" => Some(IndicatorKind::Sha1),
        "sha256" => Some(IndicatorKind::Sha256),
        _ => None,
    }
}

fn canonical(t: Target, s: &str, subset: bool) -> Result<Observable, String> {
    let s = s.trim();
    match t {
        Target::Ip => {
            if subset && !s.contains('/') {
                return Err(format!("`{}` is not a prefix", clip(s)));
            }
            canonical_ip(s)
        }
        Target::Domain => canonical_domain(s).map(|value| Observable {
            kind: IndicatorKind::Domain,
            value,
        }),
        Target::Url => canonical_url(s).map(|value| Observable {
            kind: IndicatorKind::Url,
            value,
        }),
        Target::Hash(kind) => canonical_hash(kind, s).map(|value| Observable { kind, value }),
        Target::Email => canonical_email(s).map(|value| Observable {
            kind: IndicatorKind::Email,
            value,
        }),
    }
}

/// An address, or a prefix in canonical form (host bits cleared); `/32` and `/128` are
/// addresses.
pub fn canonical_ip(s: &str) -> Result<Observable, String> {
    let bad = || format!("`{}` is not an IP address or prefix", clip(s));
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| bad())?)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match len {
        Some(l) if l > max => Err(bad()),
        Some(l) if l < max => {
            let net = match ip {
                IpAddr::V4(v) => {
                    let bits =
                        u32::from(v) & (u32::MAX.checked_shl(32 - u32::from(l)).unwrap_or(0));
                    IpAddr::V4(bits.into())
                }
                IpAddr::V6(v) => {
                    let bits =
                        u128::from(v) & (u128::MAX.checked_shl(128 - u32::from(l)).unwrap_or(0));
                    IpAddr::V6(bits.into())
                }
            };
            Ok(Observable {
                kind: IndicatorKind::Cidr,
                value: format!("{net}/{l}"),
            })
        }
        _ => Ok(Observable {
            kind: if ip.is_ipv4() {
                IndicatorKind::Ipv4
            } else {
                IndicatorKind::Ipv6
            },
            value: ip.to_string(),
        }),
    }
}

/// Lower case, no trailing dot; labels of letters, digits, `-` and `_`, 1 to 63 bytes,
/// 253 in all.
pub fn canonical_domain(s: &str) -> Result<String, String> {
    let d = s.trim_end_matches('.').to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(d)
    } else {
        Err(format!("`{}` is not a domain name", clip(s)))
    }
}

pub fn canonical_hash(kind: IndicatorKind, s: &str) -> Result<String, String> {
    let n = match kind {
        IndicatorKind::Md5 => 32,
        IndicatorKind::Sha1 => 40,
        _ => 64,
    };
    if s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!("`{}` is not a {n}-digit hex hash", clip(s)))
    }
}

pub fn canonical_email(s: &str) -> Result<String, String> {
    match s.rsplit_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && local.len() <= 64
                && !local
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
                && canonical_domain(domain).is_ok() =>
        {
            Ok(s.to_ascii_lowercase())
        }
        _ => Err(format!("`{}` is not an e-mail address", clip(s))),
    }
}

/// Longest URL kept.
pub const MAX_URL: usize = 2048;

/// A URL in the form ncsoc matches (see [`crate::set::normalize_url`]): scheme, user
/// info and fragment dropped, host lower case, default ports dropped, an empty path
/// dropped; path and query kept as written.
pub fn canonical_url(s: &str) -> Result<String, String> {
    if s.len() > MAX_URL {
        return Err(format!("URL longer than {MAX_URL} bytes"));
    }
    let mut buf = [0u8; MAX_URL];
    match crate::set::normalize_url(s, &mut buf) {
        Some((n, _)) if n > 0 => Ok(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => Err(format!("`{}` is not a URL", clip(s))),
    }
}

pub(crate) fn clip(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(p: &str) -> Extracted {
        extract(&parse(p).unwrap_or_else(|e| panic!("{p}: {e}")))
    }

    fn values(e: &Extracted) -> Vec<(IndicatorKind, &str)> {
        e.observables
            .iter()
            .map(|o| (o.kind, o.value.as_str()))
            .collect()
    }

    #[test]
    fn single_comparisons_of_every_kind() {
        use IndicatorKind::*;
        for (p, kind, v) in [
            ("[ipv4-addr:value = '198.51.100.1']", Ipv4, "198.51.100.1"),
            ("[ipv6-addr:value = '2001:DB8::1']", Ipv6, "2001:db8::1"),
            ("[ipv4-addr:value = '58.246.0.0/15']", Cidr, "58.246.0.0/15"),
            ("[ipv4-addr:value ISSUBSET '10.1.2.3/8']", Cidr, "10.0.0.0/8"),
            ("[ipv6-addr:value ISSUBSET '2001:db8::/32']", Cidr, "2001:db8::/32"),
            ("[domain-name:value = 'Evil.Example.']", Domain, "evil.example"),
            ("[url:value = 'HTTP://Evil.Example:80/a?b#c']", Url, "evil.example/a?b"),
            ("[file:hashes.'SHA-256' = 'EF537F25C895BFA782526529A9B63D97AA631564D5D789C2B765448C8635FB6C']", Sha256, "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c"),
            ("[file:hashes.MD5 = '00dbb9e1c09dbdafb360f3163ba5a3de']", Md5, "00dbb9e1c09dbdafb360f3163ba5a3de"),
            ("[file:hashes.'SHA-1' = '46aba99aa7158e4609aaa72b50990842fd22ae86']", Sha1, "46aba99aa7158e4609aaa72b50990842fd22ae86"),
            ("[email-addr:value = 'Bad@Evil.Example']", Email, "bad@evil.example"),
            ("[email-message:from_ref.value = 'donald.duck@disney.com']", Email, "donald.duck@disney.com"),
            ("[network-traffic:dst_ref.value = '203.0.113.7']", Ipv4, "203.0.113.7"),
        ] {
            let e = obs(p);
            assert_eq!(values(&e), [(kind, v)], "{p}");
            assert!(e.skipped.is_empty(), "{p}: {:?}", e.skipped);
        }
    }

    #[test]
    fn or_inside_and_across_brackets_and_in_sets() {
        let e = obs("[domain-name:value = 'a.example' OR ipv4-addr:value = '192.0.2.1'] OR ([url:value = 'http://b.example/x'] OR [ipv4-addr:value IN ('192.0.2.2', '192.0.2.3')])");
        assert_eq!(e.observables.len(), 5);
        assert!(e.skipped.is_empty());
    }

    #[test]
    fn what_cannot_be_matched_exactly_is_skipped_not_half_matched() {
        for p in [
            "[file:hashes.MD5 = '8764605c6f388c89096b534d33565802' AND file:name = 'oui']",
            "[ipv4-addr:value = '192.0.2.1'] AND [domain-name:value = 'a.example']",
            "[ipv4-addr:value = '192.0.2.1'] FOLLOWEDBY [domain-name:value = 'a.example']",
            "[ipv4-addr:value = '192.0.2.1'] REPEATS 5 TIMES",
            "[ipv4-addr:value = '192.0.2.1'] WITHIN 60 SECONDS",
            "[ipv4-addr:value != '192.0.2.1']",
            "[ipv4-addr:value NOT = '192.0.2.1']",
            "[domain-name:value LIKE '%.example']",
            "[file:name = 'test_file_name']",
            "[x509-certificate:issuer = 'CN=WEBMAIL']",
            "[domain-name:value = 'domain autuo.xicp.net']",
            "[ipv4-addr:value ISSUBSET '192.0.2.1']",
        ] {
            let e = obs(p);
            assert!(e.observables.is_empty(), "{p}: {:?}", e.observables);
            assert!(!e.skipped.is_empty(), "{p}");
        }
        // One matchable disjunct still counts; the other is reported.
        let e = obs("[domain-name:value = 'a.example'] OR [ipv4-addr:value = '192.0.2.1' AND ipv4-addr:value = '192.0.2.2']");
        assert_eq!(values(&e), [(IndicatorKind::Domain, "a.example")]);
        assert_eq!(e.skipped.len(), 1);
    }

    #[test]
    fn syntax_errors_say_where() {
        for p in [
            "",
            "[ipv4-addr:value = '1.2.3.4'",
            "ipv4-addr:value = '1.2.3.4'",
            "[ipv4-addr:value = '1.2.3.4] ",
            "[ipv4-addr:value '1.2.3.4']",
            "[ipv4-addr:value = '1.2.3.4'] OR",
            "[ipv4-addr:value = '1.2.3.4'] WITHIN SECONDS",
            "[file:hashes.SHA-256 = 'aa']",
            "[a:b = t'2020-01-01']",
            &"(".repeat(500),
        ] {
            assert!(parse(p).is_err(), "{p}");
        }
        let e = parse("[ipv4-addr:value = '1.2.3.4'] junk").unwrap_err();
        assert_eq!(e.at, 30);
    }

    #[test]
    fn escapes_and_typed_literals() {
        let e = obs("[url:value = 'http://a.example/it\\'s'] OR [file:size > 10] OR [x:y = t'2020-01-01T00:00:00Z'] START t'2020-01-01T00:00:00Z' STOP t'2020-01-02T00:00:00Z'");
        assert_eq!(values(&e), [(IndicatorKind::Url, "a.example/it's")]);
        assert_eq!(e.skipped.len(), 2);
    }
}

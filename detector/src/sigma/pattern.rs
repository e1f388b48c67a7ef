//! One Sigma value, compiled: wildcards, value modifiers, and the test against one field
//! value of an event.
//!
//! Matching is case-insensitive unless `cased` (or `re` without `i`): needles are
//! lower-cased here, once. An event value that is pure ASCII is compared as found, folding
//! ASCII case on the fly; one with any other character is lower-cased in full (Unicode)
//! once per event by [`super::fields::Scratch`] and compared the same way (folding is a
//! no-op on it). Either way the result is that of comparing the lower-cased value with
//! the lower-cased needle. Nothing here allocates per event.
//!
//! Wildcards (SigmaHQ specification): `*` is any run of characters, `?` exactly one;
//! `\*`, `\?` and `\\` stand for the character itself; any other backslash is literal.

use std::net::IpAddr;

use aho_corasick::AhoCorasick;
use memchr::memmem;
use regex::{Regex, RegexBuilder};

/// Longest value (after modifiers) accepted, in bytes.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
/// Compiled size limit of one regular expression.
pub const MAX_REGEX_BYTES: usize = 1 << 20;
/// Most variants one value may expand into (`windash`, `base64offset`).
pub const MAX_VARIANTS: usize = 256;

/// A value token: literal text, `*` or `?`.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(String),
    Star,
    One,
}

/// How a string needle sits in the value.
#[derive(Debug, Clone)]
pub enum StrOp {
    Exact,
    Prefix,
    Suffix,
    Contains(Box<Finder>),
}

/// A substring searcher built once: exact (memmem) when cased, else folding ASCII case.
#[derive(Debug, Clone)]
pub enum Finder {
    Cased(Box<memmem::Finder<'static>>),
    Folded(FoldFinder),
}

impl Finder {
    pub fn new(needle: &[u8], cased: bool) -> Self {
        if cased {
            Finder::Cased(Box::new(memmem::Finder::new(needle).into_owned()))
        } else {
            Finder::Folded(FoldFinder::new(needle))
        }
    }

    pub fn needle(&self) -> &[u8] {
        match self {
            Finder::Cased(f) => f.needle(),
            Finder::Folded(f) => &f.needle,
        }
    }

    #[inline]
    pub fn find(&self, hay: &[u8]) -> Option<usize> {
        match self {
            Finder::Cased(f) => f.find(hay),
            Finder::Folded(f) => f.find(hay),
        }
    }

    /// `hay` starts with the needle (under the same case rule).
    #[inline]
    fn at_start(&self, hay: &[u8]) -> bool {
        let n = self.needle();
        match self {
            Finder::Cased(_) => hay.starts_with(n),
            Finder::Folded(_) => fold_prefix(hay, n),
        }
    }
}

/// Finds a lower-cased needle in a value of any ASCII case. Candidates come from `memchr`
/// on the needle's rarest byte (both cases of it), each checked in place.
#[derive(Debug, Clone)]
pub struct FoldFinder {
    needle: Box<[u8]>,
    /// Index in the needle of the byte searched for.
    at: usize,
}

/// How common a byte is in the text rules search (paths, command lines, URLs): lower is
/// rarer. A rough ranking is enough to pick which needle byte to look for.
fn commonness(b: u8) -> u8 {
    match b.to_ascii_lowercase() {
        b'e' | b't' | b'a' | b'o' | b'i' | b'n' | b's' | b'r' | b'\\' | b'/' | b'.' | b' ' => 3,
        b'c' | b'd' | b'h' | b'l' | b'm' | b'p' | b'u' | b'0' | b'1' | b'-' => 2,
        b'b' | b'f' | b'g' | b'w' | b'y' | b'2' | b'3' | b':' | b'_' | b'=' => 1,
        _ => 0,
    }
}

impl FoldFinder {
    pub fn new(needle: &[u8]) -> Self {
        let at = (0..needle.len())
            .min_by_key(|&i| commonness(needle[i]))
            .unwrap_or(0);
        Self {
            needle: needle.into(),
            at,
        }
    }

    #[inline]
    pub fn find(&self, hay: &[u8]) -> Option<usize> {
        let n = &self.needle[..];
        if n.is_empty() {
            return Some(0);
        }
        let last = hay.len().checked_sub(n.len())?;
        let b = n[self.at];
        let up = b.to_ascii_uppercase();
        // The anchor byte of a match starting at `p` sits at `p + at`, for p in 0..=last.
        let window = &hay[self.at..=last + self.at];
        let mut off = 0;
        while off < window.len() {
            let rest = &window[off..];
            let i = if up == b {
                memchr::memchr(b, rest)
            } else {
                memchr::memchr2(b, up, rest)
            }?;
            let p = off + i;
            if hay[p..p + n.len()].eq_ignore_ascii_case(n) {
                return Some(p);
            }
            off = p + 1;
        }
        None
    }
}

/// `h` equals the lower-cased needle `n`, folding ASCII case in `h`.
#[inline]
fn fold_eq(h: &[u8], n: &[u8]) -> bool {
    h.len() == n.len() && h.eq_ignore_ascii_case(n)
}

#[inline]
fn fold_prefix(h: &[u8], n: &[u8]) -> bool {
    h.len() >= n.len() && h[..n.len()].eq_ignore_ascii_case(n)
}

#[inline]
fn fold_suffix(h: &[u8], n: &[u8]) -> bool {
    h.len() >= n.len() && h[h.len() - n.len()..].eq_ignore_ascii_case(n)
}

/// `h` contains `n`, folding ASCII case on both sides (for `fieldref`, where both are
/// event values).
pub fn fold_contains(h: &[u8], n: &[u8]) -> bool {
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Prefix and suffix tests on two event values, folding ASCII case on both.
pub fn fold_starts_with(h: &[u8], n: &[u8]) -> bool {
    fold_prefix(h, n)
}

pub fn fold_ends_with(h: &[u8], n: &[u8]) -> bool {
    fold_suffix(h, n)
}

/// Exact, prefix and suffix needles of one field test (same case rule).
#[derive(Debug, Clone, Default)]
pub struct NeedleSet {
    pub cased: bool,
    /// Exact needles by first byte, prefixes by first byte, suffixes by last byte:
    /// `start[b]..start[b+1]` indexes the needles of edge byte `b`.
    exact: Edged,
    prefix: Edged,
    suffix: Edged,
}

type Needle = Box<[u8]>;

#[derive(Debug, Clone, Default)]
struct Edged {
    start: Vec<u32>,
    needles: Vec<Needle>,
}

impl Edged {
    fn build(mut list: Vec<Vec<u8>>, last: bool) -> Self {
        let edge = |n: &Vec<u8>| {
            if last {
                n.last().copied()
            } else {
                n.first().copied()
            }
        };
        list.sort_by_key(|n| edge(n).map_or(0, |b| u16::from(b) + 1));
        let mut start = vec![0u32; 258];
        for n in &list {
            start[edge(n).map_or(0, |b| usize::from(b) + 1) + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        Self {
            start,
            needles: list.into_iter().map(Vec::into_boxed_slice).collect(),
        }
    }

    /// Needles whose edge byte is `b` (and the empty needle, slot 0).
    #[inline]
    fn with_edge(&self, b: Option<u8>) -> (&[Needle], &[Needle]) {
        if self.needles.is_empty() {
            return (&[], &[]);
        }
        let empty = &self.needles[..self.start[1] as usize];
        let i = b.map_or(0, |b| usize::from(b) + 1);
        let (a, z) = (self.start[i] as usize, self.start[i + 1] as usize);
        (empty, if i == 0 { &[] } else { &self.needles[a..z] })
    }
}

impl NeedleSet {
    /// Takes the exact/prefix/suffix string patterns of one case rule out of `pats`.
    pub fn take(pats: &mut Vec<Pattern>, cased: bool) -> Option<Pattern> {
        let mut exact = Vec::new();
        let mut prefix = Vec::new();
        let mut suffix = Vec::new();
        pats.retain(|p| match p {
            Pattern::Str {
                op,
                needle,
                cased: c,
            } if *c == cased => {
                let n = needle.as_bytes().to_vec();
                match op {
                    StrOp::Exact => exact.push(n),
                    StrOp::Prefix => prefix.push(n),
                    StrOp::Suffix => suffix.push(n),
                    StrOp::Contains(_) => return true,
                }
                false
            }
            _ => true,
        });
        if exact.len() + prefix.len() + suffix.len() == 0 {
            return None;
        }
        Some(Pattern::Set(Box::new(NeedleSet {
            cased,
            exact: Edged::build(exact, false),
            prefix: Edged::build(prefix, false),
            suffix: Edged::build(suffix, true),
        })))
    }

    /// Every needle (lower-cased when the set is case-insensitive).
    pub fn all_needles(&self) -> impl Iterator<Item = &[u8]> {
        self.exact
            .needles
            .iter()
            .chain(&self.prefix.needles)
            .chain(&self.suffix.needles)
            .map(|n| &n[..])
    }

    /// The exact needles and the prefixes, when the set is case-insensitive and holds no
    /// suffixes.
    pub fn exact_and_prefix(&self) -> Option<(Vec<&str>, Vec<&str>)> {
        if self.cased || !self.suffix.needles.is_empty() {
            return None;
        }
        fn text(e: &Edged) -> Option<Vec<&str>> {
            e.needles
                .iter()
                .map(|n| std::str::from_utf8(n).ok())
                .collect()
        }
        Some((text(&self.exact)?, text(&self.prefix)?))
    }
    /// `h`: the value as found (cased sets) or as [`Pattern::matches`] takes `low`.
    #[inline]
    fn matches(&self, h: &[u8]) -> bool {
        if self.cased {
            let (e0, e1) = self.exact.with_edge(h.first().copied());
            if e0.iter().chain(e1).any(|n| **n == *h) {
                return true;
            }
            let (p0, p1) = self.prefix.with_edge(h.first().copied());
            if p0.iter().chain(p1).any(|n| h.starts_with(n)) {
                return true;
            }
            let (s0, s1) = self.suffix.with_edge(h.last().copied());
            return s0.iter().chain(s1).any(|n| h.ends_with(n));
        }
        let first = h.first().map(u8::to_ascii_lowercase);
        let (e0, e1) = self.exact.with_edge(first);
        if e0.iter().chain(e1).any(|n| fold_eq(h, n)) {
            return true;
        }
        let (p0, p1) = self.prefix.with_edge(first);
        if p0.iter().chain(p1).any(|n| fold_prefix(h, n)) {
            return true;
        }
        let (s0, s1) = self.suffix.with_edge(h.last().map(u8::to_ascii_lowercase));
        s0.iter().chain(s1).any(|n| fold_suffix(h, n))
    }
}

/// One compiled value test against one field value.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// A literal needle (wildcards only at the ends).
    Str {
        op: StrOp,
        needle: String,
        cased: bool,
    },
    /// Any of many `contains` needles (Aho-Corasick over the lower-cased value).
    AnyOf {
        ac: Box<AhoCorasick>,
        needles: Vec<String>,
        cased: bool,
    },
    /// Any of many exact, prefix or suffix needles, filed by the byte they must have at
    /// the value's edge, so a value is compared with the few needles that can match.
    Set(Box<NeedleSet>),
    /// Wildcards inside the value.
    Glob {
        toks: Vec<GlobTok>,
        cased: bool,
    },
    Re(Box<Regex>),
    Cidr(Cidr),
    Num {
        op: NumOp,
        value: f64,
    },
    /// `*` alone: any value.
    Any,
}

#[derive(Debug, Clone)]
pub enum GlobTok {
    /// A literal, with its searcher built once (used after a `*`).
    Lit(Box<Finder>),
    Star,
    One,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NumOp {
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a CIDR network"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("`{s}`: prefix length must be 0..={max}"))?,
            None => max,
        };
        Ok(Self { net, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.net, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Lower-cases `s` onto `out`, character by character (the same rule for needles and
/// values, so both sides agree).
pub fn lower_into(s: &str, out: &mut String) {
    if s.is_ascii() {
        let start = out.len();
        out.push_str(s);
        out.as_mut_str()[start..].make_ascii_lowercase();
    } else {
        for c in s.chars() {
            out.extend(c.to_lowercase());
        }
    }
}

pub fn lower(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    lower_into(s, &mut out);
    out
}

/// Splits a Sigma string value into literal runs and wildcards.
fn tokenize(s: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut lit = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    lit.push(n);
                    chars.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    toks.push(Tok::Lit(std::mem::take(&mut lit)));
                }
                toks.push(if c == '*' { Tok::Star } else { Tok::One });
            }
            _ => lit.push(c),
        }
    }
    if !lit.is_empty() {
        toks.push(Tok::Lit(lit));
    }
    // `**` is `*`.
    toks.dedup_by(|b, a| *a == Tok::Star && *b == Tok::Star);
    toks
}

/// A value with wildcards, after the string-transforming modifiers.
#[derive(Debug, Clone)]
pub struct Value {
    toks: Vec<Tok>,
}

impl Value {
    /// A Sigma string as written in the rule (wildcards active).
    pub fn parse(s: &str) -> Self {
        Self { toks: tokenize(s) }
    }

    /// A string taken literally (base64 output: no wildcards).
    pub fn literal(s: String) -> Self {
        Self {
            toks: if s.is_empty() {
                vec![]
            } else {
                vec![Tok::Lit(s)]
            },
        }
    }

    /// The literal text, when the value has no wildcards.
    pub fn plain(&self) -> Option<String> {
        let mut out = String::new();
        for t in &self.toks {
            match t {
                Tok::Lit(s) => out.push_str(s),
                _ => return None,
            }
        }
        Some(out)
    }

    pub fn wrap(&mut self, before: bool, after: bool) {
        if before && self.toks.first() != Some(&Tok::Star) {
            self.toks.insert(0, Tok::Star);
        }
        if after && self.toks.last() != Some(&Tok::Star) {
            self.toks.push(Tok::Star);
        }
    }

    /// `windash`: every `-` or `/` that starts a word (start of value or after a space)
    /// also as `/`, `-`, en dash, em dash and horizontal bar; every combination.
    pub fn windash(&self) -> Result<Vec<Value>, String> {
        const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
        let mut out = vec![Vec::<Tok>::new()];
        let mut prev_space = true;
        for t in &self.toks {
            match t {
                Tok::Lit(s) => {
                    // Split the literal at each dash position.
                    let mut pieces: Vec<Vec<String>> = vec![vec![String::new()]];
                    for c in s.chars() {
                        if (c == '-' || c == '/') && prev_space {
                            let mut next = Vec::new();
                            for p in &pieces {
                                for d in DASHES {
                                    let mut p = p.clone();
                                    if let Some(last) = p.last_mut() {
                                        last.push(d);
                                    }
                                    next.push(p);
                                }
                            }
                            if next.len() > MAX_VARIANTS {
                                return Err("windash: too many dash combinations".into());
                            }
                            pieces = next;
                        } else {
                            for p in &mut pieces {
                                if let Some(last) = p.last_mut() {
                                    last.push(c);
                                }
                            }
                        }
                        prev_space = c.is_whitespace();
                    }
                    let mut next = Vec::new();
                    for o in &out {
                        for p in &pieces {
                            let mut o = o.clone();
                            o.push(Tok::Lit(p.concat()));
                            next.push(o);
                        }
                    }
                    if next.len() > MAX_VARIANTS {
                        return Err("windash: too many dash combinations".into());
                    }
                    out = next;
                }
                t => {
                    prev_space = false;
                    for o in &mut out {
                        o.push(t.clone());
                    }
                }
            }
        }
        Ok(out.into_iter().map(|toks| Value { toks }).collect())
    }

    /// Compiles to a [`Pattern`]; `cased` keeps the needle's case.
    pub fn compile(&self, cased: bool) -> Result<Pattern, String> {
        let norm = |s: &str| if cased { s.to_string() } else { lower(s) };
        let len: usize = self
            .toks
            .iter()
            .map(|t| match t {
                Tok::Lit(s) => s.len(),
                _ => 1,
            })
            .sum();
        if len > MAX_VALUE_BYTES {
            return Err(format!("value longer than {MAX_VALUE_BYTES} bytes"));
        }
        let str_pat = |op: StrOp, s: &str| Pattern::Str {
            op,
            needle: norm(s),
            cased,
        };
        Ok(match self.toks.as_slice() {
            [] => str_pat(StrOp::Exact, ""),
            [Tok::Lit(s)] => str_pat(StrOp::Exact, s),
            [Tok::Star] => Pattern::Any,
            [Tok::Star, Tok::Lit(s)] => str_pat(StrOp::Suffix, s),
            [Tok::Lit(s), Tok::Star] => str_pat(StrOp::Prefix, s),
            [Tok::Star, Tok::Lit(s), Tok::Star] => {
                let needle = norm(s);
                Pattern::Str {
                    op: StrOp::Contains(Box::new(Finder::new(needle.as_bytes(), cased))),
                    needle,
                    cased,
                }
            }
            toks => Pattern::Glob {
                toks: toks
                    .iter()
                    .map(|t| match t {
                        Tok::Lit(s) => {
                            GlobTok::Lit(Box::new(Finder::new(norm(s).as_bytes(), cased)))
                        }
                        Tok::Star => GlobTok::Star,
                        Tok::One => GlobTok::One,
                    })
                    .collect(),
                cased,
            },
        })
    }
}

/// Many `contains` needles of one field become one Aho-Corasick automaton (folding ASCII
/// case unless `cased`).
pub fn contains_any(needles: &[String], cased: bool) -> Result<Pattern, String> {
    let ac = AhoCorasick::builder()
        .ascii_case_insensitive(!cased)
        .build(needles)
        .map_err(|e| format!("cannot build the search: {e}"))?;
    Ok(Pattern::AnyOf {
        ac: Box::new(ac),
        needles: needles.to_vec(),
        cased,
    })
}

/// `re` with its flags `i`, `m`, `s`.
pub fn regex(pattern: &str, i: bool, m: bool, s: bool) -> Result<Pattern, String> {
    if pattern.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "regular expression longer than {MAX_VALUE_BYTES} bytes"
        ));
    }
    RegexBuilder::new(pattern)
        .case_insensitive(i)
        .multi_line(m)
        .dot_matches_new_line(s)
        .size_limit(MAX_REGEX_BYTES)
        .dfa_size_limit(MAX_REGEX_BYTES)
        .build()
        .map(|r| Pattern::Re(Box::new(r)))
        .map_err(|e| format!("invalid regular expression: {e}"))
}

/// Standard base64 (with padding) of `bytes`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `base64offset`: the three encodings of `bytes` at each offset within a base64 triplet,
/// cut to the characters that do not depend on the neighbouring bytes.
pub fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2]; // characters cut from the end, by (len + i) % 3
    (0..3)
        .filter_map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(bytes);
            let enc = base64(&padded);
            let cut = END[(bytes.len() + i) % 3];
            let end = enc.len().checked_sub(cut)?;
            enc.get(START[i]..end).map(str::to_string)
        })
        .filter(|s| !s.is_empty())
        .collect()
}

impl Pattern {
    /// Literals of which a matching value must contain one (lower-cased), when the
    /// pattern has such: what the rule prefilter searches for.
    pub fn required_literals(&self, out: &mut Vec<String>) -> bool {
        let mut push = |b: &[u8]| match std::str::from_utf8(b) {
            Ok(s) if !s.is_empty() => {
                out.push(lower(s));
                true
            }
            _ => false,
        };
        match self {
            Pattern::Str { needle, .. } => push(needle.as_bytes()),
            Pattern::AnyOf { needles, .. } => needles.iter().all(|n| push(n.as_bytes())),
            Pattern::Set(set) => set.all_needles().all(push),
            Pattern::Glob { toks, .. } => {
                // The longest literal run.
                let best = toks
                    .iter()
                    .filter_map(|t| match t {
                        GlobTok::Lit(f) => Some(f.needle()),
                        _ => None,
                    })
                    .max_by_key(|n| n.len());
                best.is_some_and(push)
            }
            _ => false,
        }
    }

    /// Tests one field value: `orig` as found; `low` the same when it is pure ASCII, else
    /// lower-cased (case-insensitive tests fold ASCII case in it as they compare).
    #[inline]
    pub fn matches(&self, orig: &str, low: &str) -> bool {
        match self {
            Pattern::Str {
                op,
                needle,
                cased: true,
            } => {
                let (h, n) = (orig.as_bytes(), needle.as_bytes());
                // One byte compared inline first: most values differ there, which saves
                // the call into memcmp.
                match op {
                    StrOp::Exact => h.len() == n.len() && h.first() == n.first() && h == n,
                    StrOp::Prefix => {
                        h.len() >= n.len() && h.first() == n.first() && h.starts_with(n)
                    }
                    StrOp::Suffix => h.len() >= n.len() && h.last() == n.last() && h.ends_with(n),
                    StrOp::Contains(f) => f.find(h).is_some(),
                }
            }
            Pattern::Str { op, needle, .. } => {
                let (h, n) = (low.as_bytes(), needle.as_bytes());
                let first = |x: Option<&u8>| x.map(u8::to_ascii_lowercase) == n.first().copied();
                match op {
                    StrOp::Exact => h.len() == n.len() && first(h.first()) && fold_eq(h, n),
                    StrOp::Prefix => h.len() >= n.len() && first(h.first()) && fold_prefix(h, n),
                    StrOp::Suffix => {
                        h.len() >= n.len()
                            && h.last().map(u8::to_ascii_lowercase) == n.last().copied()
                            && fold_suffix(h, n)
                    }
                    StrOp::Contains(f) => f.find(h).is_some(),
                }
            }
            Pattern::AnyOf { ac, cased, .. } => ac.is_match(if *cased { orig } else { low }),
            Pattern::Set(set) => set.matches(if set.cased { orig } else { low }.as_bytes()),
            Pattern::Glob { toks, cased } => glob(toks, if *cased { orig } else { low }.as_bytes()),
            Pattern::Re(re) => re.is_match(orig),
            Pattern::Cidr(c) => orig.trim().parse::<IpAddr>().is_ok_and(|ip| c.contains(ip)),
            Pattern::Num { op, value } => orig.trim().parse::<f64>().is_ok_and(|v| match op {
                NumOp::Gt => v > *value,
                NumOp::Gte => v >= *value,
                NumOp::Lt => v < *value,
                NumOp::Lte => v <= *value,
            }),
            Pattern::Any => true,
        }
    }
}

/// Length of the UTF-8 character starting with byte `b`.
fn char_len(b: u8) -> usize {
    match b {
        0..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

/// Wildcard match with backtracking to the last `*` only (never exponential): `?` is one
/// UTF-8 character. After a `*`, the next literal is searched for (memchr) instead of
/// trying every position.
fn glob(toks: &[GlobTok], hay: &[u8]) -> bool {
    let (mut t, mut h) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if t < toks.len() {
            match &toks[t] {
                GlobTok::Star => {
                    star = Some((t, h));
                    t += 1;
                    continue;
                }
                GlobTok::One if h < hay.len() => {
                    h += char_len(hay[h]);
                    t += 1;
                    continue;
                }
                GlobTok::Lit(f) => {
                    let l = f.needle();
                    let rest = &hay[h.min(hay.len())..];
                    if f.at_start(rest) {
                        h += l.len();
                        t += 1;
                        continue;
                    }
                }
                GlobTok::One => {}
            }
        } else if h >= hay.len() {
            return true;
        }
        // Mismatch: let the last star take more characters.
        let Some((st, sh)) = star else { return false };
        if sh >= hay.len() {
            return false;
        }
        let next = sh + char_len(hay[sh]);
        let nh = match toks.get(st + 1) {
            // Jump to the next place the literal after the star occurs.
            Some(GlobTok::Lit(f)) => match f.find(&hay[next.min(hay.len())..]) {
                Some(p) => next + p,
                None => return false,
            },
            _ => next,
        };
        star = Some((st, nh));
        t = st + 1;
        h = nh;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `Scratch` gives a pattern: ASCII values as found, others lower-cased.
    fn low(hay: &str) -> String {
        if hay.is_ascii() {
            hay.to_string()
        } else {
            lower(hay)
        }
    }

    fn m(v: &str, hay: &str) -> bool {
        let p = Value::parse(v).compile(false).unwrap();
        let folded = p.matches(hay, &low(hay));
        assert_eq!(folded, p.matches(hay, &lower(hay)), "{v} on {hay}");
        folded
    }

    #[test]
    fn wildcards_and_escapes() {
        assert!(m("*\\cmd.exe", "C:\\Windows\\System32\\CMD.EXE"));
        assert!(!m("*\\cmd.exe", "C:\\cmd.exe.bak"));
        assert!(m("c:\\windows\\\\*", "C:\\Windows\\x"));
        assert!(!m("c:\\windows\\*", "C:\\Windows\\x"));
        assert!(m("*rundll32*", "x RunDll32.exe y"));
        assert!(m("a*b?d", "aXXbcd"));
        assert!(!m("a*b?d", "aXXbd"));
        assert!(m("a*b?d", "a\u{e9}b\u{e9}d"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "aXb"));
        assert!(m("a\\?", "a?"));
        assert!(m("C:\\\\*", "C:\\x"));
        assert!(m("*", ""));
        assert!(m("", ""));
        assert!(!m("", "x"));
        assert!(m("*a*a*a*b", "aaaaaaaaab"));
        assert!(!m("*a*a*a*b", "aaaaaaaaa"));
        assert!(m("ÄBC", "äbc"));
    }

    #[test]
    fn cased_and_regex() {
        let p = Value::parse("*Evil*").compile(true).unwrap();
        assert!(p.matches("xEvilx", "xevilx"));
        assert!(!p.matches("xevilx", "xevilx"));
        let r = regex("^a.c$", false, false, false).unwrap();
        assert!(r.matches("abc", "abc"));
        assert!(!r.matches("ABC", "abc"));
        let r = regex("^a.c$", true, false, false).unwrap();
        assert!(r.matches("ABC", "abc"));
        assert!(regex("(", false, false, false).is_err());
        assert!(regex("a{1000}{1000}", false, false, false).is_err());
    }

    #[test]
    fn cidr() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.2.3.4".parse().unwrap()));
        assert!(!c.contains("11.2.3.4".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.1.1".parse().unwrap()));
        let c = Cidr::parse("fe80::/10").unwrap();
        assert!(c.contains("fe80::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("1.1.1.1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope").is_err());
    }

    #[test]
    fn base64_and_offsets() {
        assert_eq!(base64(b"http"), "aHR0cA==");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"abc"), "YWJj");
        // The three known offsets of "http://" (as SigmaHQ documents them).
        assert_eq!(
            base64_offsets(b"http://"),
            vec!["aHR0cDovL", "h0dHA6Ly", "odHRwOi8v"]
        );
        // Each offset variant is found in an encoding of the text at that offset.
        for prefix in ["", "x", "xy"] {
            let enc = base64(format!("{prefix}http://host").as_bytes());
            assert!(
                base64_offsets(b"http://")
                    .iter()
                    .any(|v| enc.contains(v.as_str())),
                "{prefix}"
            );
        }
    }

    #[test]
    fn windash_variants() {
        let v = Value::parse(" -f ").windash().unwrap();
        assert_eq!(v.len(), 5);
        let pats: Vec<String> = v.iter().map(|v| v.plain().unwrap()).collect();
        assert!(pats.contains(&" /f ".to_string()));
        assert!(pats.contains(&" \u{2013}f ".to_string()));
        // A dash inside a word is left alone.
        assert_eq!(Value::parse("a-b").windash().unwrap().len(), 1);
        assert_eq!(Value::parse("-a -b").windash().unwrap().len(), 25);
    }

    #[test]
    fn needle_sets() {
        let mut pats: Vec<Pattern> = [
            "*\\cmd.exe",
            "*\\powershell.exe",
            "c:\\temp\\\\*",
            "whoami.exe",
            "",
            "*x",
        ]
        .iter()
        .map(|v| Value::parse(v).compile(false).unwrap())
        .collect();
        let set = NeedleSet::take(&mut pats, false).unwrap();
        assert!(pats.is_empty());
        let t = |v: &str| set.matches(v, &low(v));
        assert!(t("C:\\Windows\\CMD.exe"));
        assert!(t("c:\\TEMP\\a.bin"));
        assert!(t("WhoAmI.exe"));
        assert!(t(""));
        assert!(t("abcx"));
        assert!(!t("whoami.exe2"));
        assert!(!t("C:\\cmd.exe.bak"));
    }

    #[test]
    fn case_folding_in_place_agrees_with_lower_casing() {
        let values = [
            "C:\\Windows\\System32\\CMD.EXE",
            "cmd.exe /C WHOAMI",
            "Powershell -EncodedCommand SQBFAFgA",
            "\u{c4}BC \u{130}stanbul K\u{212a}",
            "",
            "x",
            "aaaaAAAAb",
        ];
        let rules = [
            "*cmd.exe",
            "*\\cmd.exe",
            "C:\\*",
            "*whoami*",
            "*WHOAMI*",
            "*-enc*",
            "a*a*b",
            "*?md.EXE",
            "\u{e4}bc*",
            "*istanbul*",
            "*k",
            "x",
            "",
        ];
        for r in rules {
            let p = Value::parse(r).compile(false).unwrap();
            let any = contains_any(
                &[
                    lower(r.trim_matches('*')),
                    "zzz".into(),
                    "qqq".into(),
                    "jjj".into(),
                ],
                false,
            )
            .unwrap();
            for v in values {
                let l = lower(v);
                assert_eq!(p.matches(v, &low(v)), p.matches(v, &l), "{r} on {v}");
                assert_eq!(any.matches(v, &low(v)), any.matches(v, &l), "{r} on {v}");
            }
        }
        let f = FoldFinder::new(b"whoami");
        assert_eq!(f.find(b"cmd /c WhoAmI /all"), Some(7));
        assert_eq!(f.find(b"whoam"), None);
        assert_eq!(FoldFinder::new(b"").find(b""), Some(0));
        assert!(fold_contains(b"A/B/C", b"b/c"));
        assert!(fold_starts_with(b"ABC", b"ab") && fold_ends_with(b"ABC", b"Bc"));
    }

    #[test]
    fn numbers() {
        let p = Pattern::Num {
            op: NumOp::Gte,
            value: 10.0,
        };
        assert!(p.matches("10", "10"));
        assert!(!p.matches("9.5", "9.5"));
        assert!(!p.matches("x", "x"));
    }
}

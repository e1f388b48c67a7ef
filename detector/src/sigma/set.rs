//! A loaded rule folder: every rule compiled once, grouped by log source, and evaluated
//! against events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ncsoc_model::{Event, FieldKey};
use serde::Serialize;

use super::correlation::{self, Correlation};
use super::fields::{key_hash, FieldSpec, Scratch};
use super::mapping::Mapping;
use super::pattern::{self, Pattern, StrOp};
use super::rule::{self, Detection, FieldResolver, Meta, RefOp, Search, Test};
use super::yaml::{self, Kind, Node};
use crate::table::FastMap;

/// Largest rule file read.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Most rules (detection and correlation) one folder may hold.
pub const MAX_RULES: usize = 20_000;
/// Most files looked at in one folder tree, and how deep it is walked.
pub const MAX_FILES: usize = 50_000;
const MAX_DIR_DEPTH: usize = 16;
/// Most distinct fields all rules together may read.
pub const MAX_FIELDS: usize = 65_536;

/// A rule that was not loaded: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleError {
    pub file: String,
    pub line: u32,
    pub reason: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

/// A compiled detection rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub meta: Meta,
    pub(crate) det: Detection,
    /// Its log-source group; `None` when no mapping entry applies (dormant).
    pub(crate) group: Option<u32>,
    /// Stable hash of what decides its hits (detection and log source): a correlation
    /// over it keeps its windows across a reload only while this stays the same.
    pub(crate) def_hash: u64,
}

/// [`Rule::def_hash`] of a detection under a log source.
fn def_hash(det: &Node, logsource: &rule::LogSource) -> u64 {
    let mut h = yaml::StableHash::default();
    h.str(&logsource.to_string());
    det.hash_into(&mut h);
    h.finish()
}

impl Rule {
    pub fn is_active(&self) -> bool {
        self.group.is_some()
    }
}

#[derive(Debug, Clone)]
struct Group {
    /// The mapping entry's name.
    name: String,
    guard: Option<Detection>,
    rules: Vec<u32>,
    /// Event keys one of which the guard needs present (with their presence-filter
    /// hashes): an event with none of them skips the group without evaluating it.
    needs: Option<Vec<(FieldKey, u64)>>,
}

/// Slots one of which must hold a value for `det` to match, when there is such a set.
fn needed_slots(det: &Detection) -> Option<Vec<u32>> {
    use super::condition::Cond;
    fn search(s: &Search) -> Option<Vec<u32>> {
        match s {
            // Any one test that fails on an absent field will do.
            Search::All(tests) => tests.iter().find_map(|t| match t.test {
                Test::Values { .. } | Test::Exists(true) | Test::FieldRef { .. } => {
                    Some(vec![t.slot])
                }
                Test::Exists(false) | Test::Null => None,
            }),
            Search::Any(alts) => {
                let mut out = Vec::new();
                for a in alts {
                    out.extend(search(a)?);
                }
                Some(out)
            }
        }
    }
    fn cond(c: &Cond, det: &Detection) -> Option<Vec<u32>> {
        match c {
            Cond::Search(i) => search(det.searches.get(*i)?),
            Cond::And(items) => items.iter().find_map(|i| cond(i, det)),
            Cond::Or(items) => {
                let mut out = Vec::new();
                for i in items {
                    out.extend(cond(i, det)?);
                }
                Some(out)
            }
            Cond::Not(_) => None,
        }
    }
    cond(&det.cond, det)
}

/// Which groups an event may belong to, found from a few exact-valued fields instead of
/// evaluating every group's `when`: a group whose every `when` alternative names exact
/// values or prefixes of some field is filed under those; the others are tried on every
/// event.
type Prefixes = Vec<(String, Vec<u32>)>;

#[derive(Debug, Default)]
struct Dispatch {
    /// Per field slot: lower-cased exact value → groups.
    by_value: Vec<(u32, FastMap<String, Vec<u32>>)>,
    /// Per field slot: lower-cased prefix → groups.
    by_prefix: Vec<(u32, Prefixes)>,
    always: Vec<u32>,
}

/// Per group: literals of which each rule needs at least one in a given field, searched
/// for all rules at once (Aho-Corasick per field), so that most rules are never evaluated
/// on an event that cannot match them.
#[derive(Debug, Default)]
struct Prefilter {
    /// Field slot, the automaton over its literals, and the rules of each literal.
    fields: Vec<(u32, Literals, Vec<Vec<u32>>)>,
    /// Rules without a usable literal: always evaluated.
    always: Vec<u32>,
}

/// The literals of one field of a group's prefilter: an Aho-Corasick DFA folding ASCII
/// case (literals are lower-cased; values are ASCII as found or lower-cased), reporting
/// every literal that occurs, overlapping ones included. Its own prefilter (SIMD skipping
/// to the literals' rare bytes) stays on: walking the DFA over every byte takes fewer
/// instructions but more time, each step waiting on the one before.
#[derive(Debug)]
struct Literals(aho_corasick::AhoCorasick);

impl Literals {
    fn new(pats: &[String]) -> Option<Self> {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(pats)
            .ok()
            .map(Literals)
    }

    /// Calls `f` with the index of every literal found in `hay` (as often as it occurs).
    #[inline]
    fn each(&self, hay: &[u8], mut f: impl FnMut(usize)) {
        for m in self.0.find_overlapping_iter(hay) {
            f(m.pattern().as_usize());
        }
    }
}

#[derive(Debug, Default)]
pub struct RuleSet {
    dispatch: Option<Dispatch>,
    prefilters: Vec<Prefilter>,
    mapping: Mapping,
    specs: Vec<FieldSpec>,
    spec_index: HashMap<FieldSpec, u32>,
    groups: Vec<Group>,
    group_of_entry: HashMap<usize, u32>,
    rules: Vec<Rule>,
    pub(crate) correlations: Vec<Correlation>,
    pending_correlations: Vec<(String, Node)>,
    errors: Vec<RuleError>,
    files: usize,
}

struct Resolver<'a> {
    mapping: &'a Mapping,
    entry: Option<usize>,
    raw: bool,
    specs: &'a mut Vec<FieldSpec>,
    index: &'a mut HashMap<FieldSpec, u32>,
}

impl Resolver<'_> {
    fn intern(&mut self, spec: FieldSpec) -> u32 {
        if let Some(&i) = self.index.get(&spec) {
            return i;
        }
        // Past the bound every further field reads nothing (slot 0 is the keyword slot of
        // a set: always present); the rule set stays usable and the count is reported.
        if self.specs.len() >= MAX_FIELDS {
            return 0;
        }
        let i = self.specs.len() as u32;
        self.specs.push(spec.clone());
        self.index.insert(spec, i);
        i
    }
}

impl FieldResolver for Resolver<'_> {
    fn slot(&mut self, field: &str) -> u32 {
        let keys = if self.raw {
            vec![field.to_string()]
        } else {
            self.mapping.candidates(self.entry, field)
        };
        self.intern(FieldSpec::new(
            keys.iter().map(|k| FieldKey::resolve(k)).collect(),
            false,
        ))
    }

    fn keywords(&mut self) -> u32 {
        let keys = self.mapping.keyword_fields.clone();
        self.intern(FieldSpec::new(
            keys.iter().map(|k| FieldKey::resolve(k)).collect(),
            true,
        ))
    }
}

/// Loading summary, for `ncsoc rules check` and the logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub files: usize,
    pub rules: usize,
    pub active: usize,
    pub dormant: usize,
    pub correlations: usize,
    pub invalid: usize,
}

impl RuleSet {
    pub fn new(mapping: Mapping) -> Self {
        Self {
            mapping,
            ..Self::default()
        }
    }

    /// Loads every `*.yml` / `*.yaml` under `dir` (recursively, in name order). The
    /// mapping is `dir/mapping.yml` or `dir/sigma/mapping.yml` when present, else the
    /// built-in one. Rules that do not load are listed in [`RuleSet::errors`]; the others
    /// load. `threshold` rules (ncsoc's own format) live in the same tree.
    pub fn load_dir(dir: &Path) -> Self {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        walk(dir, 0, &mut files, &mut errors);
        files.sort();
        let mapping_path = ["mapping.yml", "sigma/mapping.yml"]
            .iter()
            .map(|p| dir.join(p))
            .find(|p| p.is_file());
        let mapping = match &mapping_path {
            Some(p) => match read_bounded(p).and_then(|s| {
                Mapping::parse(&s).map_err(|(line, reason)| RuleError {
                    file: p.display().to_string(),
                    line,
                    reason,
                })
            }) {
                Ok(m) => m,
                Err(e) => {
                    errors.push(e);
                    Mapping::builtin()
                }
            },
            None => Mapping::builtin(),
        };
        let mut set = RuleSet::new(mapping);
        set.errors = errors;
        for f in files {
            if Some(&f) == mapping_path.as_ref() {
                continue;
            }
            set.files += 1;
            match read_bounded(&f) {
                Ok(src) => set.add_source(&f.display().to_string(), &src),
                Err(e) => set.errors.push(e),
            }
        }
        set.finish();
        set
    }

    /// Adds the rule documents of one file. Call [`RuleSet::finish`] after the last.
    pub fn add_source(&mut self, file: &str, src: &str) {
        let docs = match yaml::parse_documents(src) {
            Ok(d) => d,
            Err(e) => {
                self.errors.push(RuleError {
                    file: file.to_string(),
                    line: e.line,
                    reason: format!("invalid YAML: {}", e.reason),
                });
                return;
            }
        };
        for doc in docs {
            if doc.kind == Kind::Null {
                continue;
            }
            if self.rules.len() + self.correlations.len() + self.pending_correlations.len()
                >= MAX_RULES
            {
                self.errors.push(RuleError {
                    file: file.to_string(),
                    line: doc.line,
                    reason: format!("more than {MAX_RULES} rules; the rest are not loaded"),
                });
                return;
            }
            if let Err((line, reason)) = self.add_doc(file, doc) {
                self.errors.push(RuleError {
                    file: file.to_string(),
                    line,
                    reason,
                });
            }
        }
    }

    fn add_doc(&mut self, file: &str, doc: Node) -> Result<(), rule::LineError> {
        if !matches!(doc.kind, Kind::Map(_)) {
            return Err((doc.line, "a rule is a YAML map".into()));
        }
        if doc.get("correlation").is_some() || doc.get("threshold").is_some() {
            // Resolved once every detection rule is known (they refer to them).
            self.pending_correlations.push((file.to_string(), doc));
            return Ok(());
        }
        if let Some(a) = doc.get("action") {
            return Err((
                a.line,
                "`action` documents (Sigma 1 collections) are not supported".into(),
            ));
        }
        let meta = rule::parse_meta(&doc, file)?;
        let det = doc
            .get("detection")
            .ok_or((doc.line, "missing `detection`".to_string()))?;
        let hash = def_hash(det, &meta.logsource);
        let entry = self.mapping.entry_for(&meta.logsource);
        let mut res = Resolver {
            mapping: &self.mapping,
            entry,
            raw: false,
            specs: &mut self.specs,
            index: &mut self.spec_index,
        };
        let det = rule::compile_detection(det, &mut res)?;
        let group = match entry {
            Some(e) => Some(self.group_for(e)?),
            None => None,
        };
        let idx = self.rules.len() as u32;
        if let Some(g) = group {
            self.groups[g as usize].rules.push(idx);
        }
        self.rules.push(Rule {
            meta,
            det,
            group,
            def_hash: hash,
        });
        Ok(())
    }

    fn group_for(&mut self, entry: usize) -> Result<u32, rule::LineError> {
        if let Some(&g) = self.group_of_entry.get(&entry) {
            return Ok(g);
        }
        let e = &self.mapping.logsources[entry];
        let guard = match &e.when {
            None => None,
            Some(when) => {
                let mut res = Resolver {
                    mapping: &self.mapping,
                    entry: None,
                    raw: true,
                    specs: &mut self.specs,
                    index: &mut self.spec_index,
                };
                let full = when.get("condition").is_some();
                let det = if full {
                    when.clone()
                } else {
                    Node {
                        line: when.line,
                        kind: Kind::Map(vec![
                            ("when".into(), when.line, when.clone()),
                            (
                                "condition".into(),
                                when.line,
                                Node {
                                    line: when.line,
                                    kind: Kind::Str("when".into()),
                                },
                            ),
                        ]),
                    }
                };
                let d = rule::compile_detection(&det, &mut res)
                    .map_err(|(l, r)| (l, format!("mapping entry `{}`: `when`: {r}", e.name)))?;
                Some(d)
            }
        };
        let g = self.groups.len() as u32;
        self.groups.push(Group {
            name: e.name.clone(),
            guard,
            rules: Vec::new(),
            needs: None,
        });
        self.group_of_entry.insert(entry, g);
        Ok(g)
    }

    /// Compiles the correlation and threshold rules, now that every rule is known, and
    /// builds the group dispatch.
    pub fn finish(&mut self) {
        for (file, doc) in std::mem::take(&mut self.pending_correlations) {
            match correlation::compile(&doc, &file, self) {
                Ok(c) => self.correlations.push(c),
                Err((line, reason)) => self.errors.push(RuleError { file, line, reason }),
            }
        }
        for g in 0..self.groups.len() {
            let needs = self.groups[g]
                .guard
                .as_ref()
                .and_then(needed_slots)
                .map(|slots| {
                    let mut keys: Vec<(FieldKey, u64)> = Vec::new();
                    for s in slots {
                        for k in &self.specs[s as usize].candidates {
                            if !keys.iter().any(|(x, _)| x == k) {
                                let h = match k {
                                    FieldKey::Extra(name) => key_hash(name),
                                    _ => 0,
                                };
                                keys.push((k.clone(), h));
                            }
                        }
                    }
                    keys
                });
            self.groups[g].needs = needs;
        }
        self.dispatch = Some(self.build_dispatch());
        self.prefilters = (0..self.groups.len())
            .map(|g| self.build_prefilter(g))
            .collect();
    }

    /// The (field, literals) atoms one of which must hold for rule `r` to match.
    fn rule_atoms(&self, r: &Rule) -> Option<Vec<(u32, Vec<String>)>> {
        use super::condition::Cond;
        type Atoms = Vec<(u32, Vec<String>)>;
        // Where several parts must all hold, the part whose literals are the most
        // selective is the one searched for: the longer its shortest literal, the fewer
        // benign events it lets through (`GET` would pass nearly every proxy event).
        fn best(cands: impl Iterator<Item = Atoms>) -> Option<Atoms> {
            cands.max_by_key(|a| {
                let shortest = a
                    .iter()
                    .flat_map(|(_, l)| l.iter().map(String::len))
                    .min()
                    .unwrap_or(0);
                let count: usize = a.iter().map(|(_, l)| l.len()).sum();
                (shortest.min(8), std::cmp::Reverse(count))
            })
        }
        fn test_atoms(t: &rule::FieldTest) -> Option<Atoms> {
            match &t.test {
                Test::Values { pats, all: false } => {
                    let mut lits = Vec::new();
                    pats.iter()
                        .all(|p| p.required_literals(&mut lits))
                        .then(|| vec![(t.slot, lits)])
                }
                // Every pattern must match: any one's literals will do.
                Test::Values { pats, all: true } => best(pats.iter().filter_map(|p| {
                    let mut lits = Vec::new();
                    p.required_literals(&mut lits).then(|| vec![(t.slot, lits)])
                })),
                _ => None,
            }
        }
        fn search_atoms(s: &Search) -> Option<Atoms> {
            match s {
                Search::Any(alts) => {
                    let mut out = Vec::new();
                    for a in alts {
                        out.extend(search_atoms(a)?);
                    }
                    Some(out)
                }
                Search::All(tests) => best(tests.iter().filter_map(test_atoms)),
            }
        }
        fn cond_atoms(c: &Cond, det: &Detection) -> Option<Atoms> {
            match c {
                Cond::Search(i) => search_atoms(det.searches.get(*i)?),
                Cond::And(items) => best(items.iter().filter_map(|i| cond_atoms(i, det))),
                Cond::Or(items) => {
                    let mut out = Vec::new();
                    for i in items {
                        out.extend(cond_atoms(i, det)?);
                    }
                    Some(out)
                }
                Cond::Not(_) => None,
            }
        }
        cond_atoms(&r.det.cond, &r.det)
    }

    fn build_prefilter(&self, g: usize) -> Prefilter {
        let mut p = Prefilter::default();
        let mut per_slot: Vec<(u32, Vec<String>, Vec<Vec<u32>>)> = Vec::new();
        for &ri in &self.groups[g].rules {
            match self.rule_atoms(&self.rules[ri as usize]) {
                Some(atoms) if !atoms.is_empty() => {
                    for (slot, lits) in atoms {
                        let i = match per_slot.iter().position(|(s, _, _)| *s == slot) {
                            Some(i) => i,
                            None => {
                                per_slot.push((slot, Vec::new(), Vec::new()));
                                per_slot.len() - 1
                            }
                        };
                        let (_, pats, rules) = &mut per_slot[i];
                        for l in lits {
                            match pats.iter().position(|x| *x == l) {
                                Some(j) => {
                                    if !rules[j].contains(&ri) {
                                        rules[j].push(ri);
                                    }
                                }
                                None => {
                                    pats.push(l);
                                    rules.push(vec![ri]);
                                }
                            }
                        }
                    }
                }
                _ => p.always.push(ri),
            }
        }
        for (slot, pats, rules) in per_slot {
            match Literals::new(&pats) {
                Some(lits) => p.fields.push((slot, lits, rules)),
                None => p.always.extend(rules.into_iter().flatten()),
            }
        }
        p.always.sort_unstable();
        p.always.dedup();
        p
    }

    fn build_dispatch(&self) -> Dispatch {
        let mut d = Dispatch::default();
        // The exact values and prefixes (one of which) an alternative requires of one
        // field, if it requires any.
        type Key<'a> = (u32, Vec<&'a str>, Vec<&'a str>);
        fn key_of(tests: &[rule::FieldTest]) -> Option<Key<'_>> {
            tests.iter().find_map(|t| match &t.test {
                Test::Values { pats, all: false } => {
                    let (mut exact, mut prefix) = (Vec::new(), Vec::new());
                    for p in pats {
                        match p {
                            Pattern::Str {
                                op: StrOp::Exact,
                                needle,
                                cased: false,
                            } => exact.push(needle.as_str()),
                            Pattern::Str {
                                op: StrOp::Prefix,
                                needle,
                                cased: false,
                            } => prefix.push(needle.as_str()),
                            Pattern::Set(set) => {
                                let (e, p) = set.exact_and_prefix()?;
                                exact.extend(e);
                                prefix.extend(p);
                            }
                            _ => return None,
                        }
                    }
                    (!exact.is_empty() || !prefix.is_empty()).then_some((t.slot, exact, prefix))
                }
                _ => None,
            })
        }
        for (gi, g) in self.groups.iter().enumerate() {
            let gi = gi as u32;
            if g.rules.is_empty() {
                continue;
            }
            let keys: Option<Vec<Key<'_>>> = match &g.guard {
                Some(det)
                    if det.searches.len() == 1 && det.cond == super::condition::Cond::Search(0) =>
                {
                    match &det.searches[0] {
                        Search::All(tests) => key_of(tests).map(|k| vec![k]),
                        Search::Any(alts) => alts
                            .iter()
                            .map(|a| match a {
                                Search::All(tests) => key_of(tests),
                                Search::Any(_) => None,
                            })
                            .collect(),
                    }
                }
                _ => None,
            };
            match keys {
                Some(keys) => {
                    for (slot, needles, prefixes) in keys {
                        if !prefixes.is_empty() {
                            let i = match d.by_prefix.iter().position(|(s, _)| *s == slot) {
                                Some(i) => i,
                                None => {
                                    d.by_prefix.push((slot, Vec::new()));
                                    d.by_prefix.len() - 1
                                }
                            };
                            let list = &mut d.by_prefix[i].1;
                            for p in prefixes {
                                let j = match list.iter().position(|(x, _)| x == p) {
                                    Some(j) => j,
                                    None => {
                                        list.push((p.to_string(), Vec::new()));
                                        list.len() - 1
                                    }
                                };
                                if !list[j].1.contains(&gi) {
                                    list[j].1.push(gi);
                                }
                            }
                        }
                        if needles.is_empty() {
                            continue;
                        }
                        let i = match d.by_value.iter().position(|(s, _)| *s == slot) {
                            Some(i) => i,
                            None => {
                                d.by_value.push((slot, FastMap::default()));
                                d.by_value.len() - 1
                            }
                        };
                        for n in needles {
                            let list = d.by_value[i].1.entry(n.to_string()).or_default();
                            if !list.contains(&gi) {
                                list.push(gi);
                            }
                        }
                    }
                }
                None => d.always.push(gi),
            }
        }
        d
    }

    /// Compiles a threshold rule's own filter (a Sigma detection) as a hidden rule and
    /// gives its index.
    pub(crate) fn add_hidden_rule(
        &mut self,
        meta: Meta,
        det: &Node,
    ) -> Result<u32, rule::LineError> {
        let hash = def_hash(det, &meta.logsource);
        let entry = self.mapping.entry_for(&meta.logsource);
        let mut res = Resolver {
            mapping: &self.mapping,
            entry,
            raw: false,
            specs: &mut self.specs,
            index: &mut self.spec_index,
        };
        let det = rule::compile_detection(det, &mut res)?;
        let g = match entry {
            Some(e) => self.group_for(e)?,
            None if meta.logsource == rule::LogSource::default() => self.all_events_group(),
            None => {
                return Err((
                    meta.line,
                    format!("no logsource mapping for {}", meta.logsource),
                ))
            }
        };
        let idx = self.rules.len() as u32;
        self.groups[g as usize].rules.push(idx);
        self.rules.push(Rule {
            meta,
            det,
            group: Some(g),
            def_hash: hash,
        });
        Ok(idx)
    }

    /// The slot of Sigma field `field` as read for rules of `meta`'s log source.
    pub(crate) fn slot_for(&mut self, meta: &Meta, field: &str) -> u32 {
        let entry = self.mapping.entry_for(&meta.logsource);
        let mut res = Resolver {
            mapping: &self.mapping,
            entry,
            raw: false,
            specs: &mut self.specs,
            index: &mut self.spec_index,
        };
        res.slot(field)
    }

    pub(crate) fn specs(&self) -> &[FieldSpec] {
        &self.specs
    }

    fn all_events_group(&mut self) -> u32 {
        if let Some(i) = self.groups.iter().position(|g| g.name == "*all events*") {
            return i as u32;
        }
        self.groups.push(Group {
            name: "*all events*".into(),
            guard: None,
            rules: Vec::new(),
            needs: None,
        });
        (self.groups.len() - 1) as u32
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Evaluates every group's `when` and every rule on every event (tests compare this
    /// with the dispatch, the presence filter and the prefilter).
    #[cfg(test)]
    pub(crate) fn without_dispatch(&mut self) {
        self.dispatch = None;
        self.prefilters.clear();
        self.groups.iter_mut().for_each(|g| g.needs = None);
    }

    /// The correlation and threshold rules.
    pub fn correlations(&self) -> &[Correlation] {
        &self.correlations
    }

    pub fn errors(&self) -> &[RuleError] {
        &self.errors
    }

    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    /// Finds a rule by id or `name`.
    pub fn find(&self, reference: &str) -> Option<u32> {
        self.rules
            .iter()
            .position(|r| r.meta.id == reference || r.meta.name.as_deref() == Some(reference))
            .map(|i| i as u32)
    }

    pub fn summary(&self) -> Summary {
        let visible = self
            .rules
            .iter()
            .filter(|r| !r.meta.id.starts_with("threshold:"));
        let active = visible.clone().filter(|r| r.is_active()).count();
        let rules = visible.count();
        Summary {
            files: self.files,
            rules,
            active,
            dormant: rules - active,
            correlations: self.correlations.len(),
            invalid: self.errors.len(),
        }
    }

    /// The log-source group names, with how many rules each holds.
    pub fn groups(&self) -> impl Iterator<Item = (&str, usize)> {
        self.groups.iter().map(|g| (g.name.as_str(), g.rules.len()))
    }

    /// Pushes onto `out` the index of every rule that matches `e`. Reuses `sc`; does not
    /// allocate once `sc` and `out` have grown.
    pub fn matches(&self, e: &Event, sc: &mut Scratch, out: &mut Vec<u32>) {
        sc.begin(self.specs.len());
        let mut cand = std::mem::take(&mut sc.groups);
        cand.clear();
        match &self.dispatch {
            Some(d) => {
                cand.extend_from_slice(&d.always);
                let mut key = std::mem::take(&mut sc.key);
                for (slot, map) in &d.by_value {
                    let r = sc.values(*slot, &self.specs[*slot as usize], e);
                    for i in r {
                        key.clear();
                        key.push_str(sc.low(i));
                        key.make_ascii_lowercase();
                        if let Some(gs) = map.get(key.as_str()) {
                            cand.extend_from_slice(gs);
                        }
                    }
                }
                sc.key = key;
                for (slot, list) in &d.by_prefix {
                    let r = sc.values(*slot, &self.specs[*slot as usize], e);
                    for i in r {
                        let v = sc.low(i).as_bytes();
                        for (p, gs) in list {
                            if pattern::fold_starts_with(v, p.as_bytes()) {
                                cand.extend_from_slice(gs);
                            }
                        }
                    }
                }
                cand.sort_unstable();
                cand.dedup();
            }
            None => cand.extend(0..self.groups.len() as u32),
        }
        for &gi in &cand {
            let g = &self.groups[gi as usize];
            if g.rules.is_empty() {
                continue;
            }
            if let Some(needs) = &g.needs {
                if !needs.iter().any(|(k, h)| sc.may_have(k, *h, e)) {
                    continue;
                }
            }
            if let Some(guard) = &g.guard {
                let specs = &self.specs;
                if !guard
                    .cond
                    .eval(&mut |si| eval_search(&guard.searches[si], e, sc, specs))
                {
                    continue;
                }
            }
            // Rules whose literals occur in the event, plus those without literals.
            let mut rules = std::mem::take(&mut sc.rules);
            rules.clear();
            match self.prefilters.get(gi as usize) {
                Some(p) => {
                    rules.extend_from_slice(&p.always);
                    for (slot, lits, lit_rules) in &p.fields {
                        let r = sc.values(*slot, &self.specs[*slot as usize], e);
                        for i in r {
                            lits.each(sc.low(i).as_bytes(), |m| {
                                rules.extend_from_slice(&lit_rules[m]);
                            });
                        }
                    }
                    rules.sort_unstable();
                    rules.dedup();
                }
                None => rules.extend_from_slice(&g.rules),
            }
            for &ri in &rules {
                let r = &self.rules[ri as usize];
                let specs = &self.specs;
                if r.det
                    .cond
                    .eval(&mut |si| eval_search(&r.det.searches[si], e, sc, specs))
                {
                    out.push(ri);
                }
            }
            sc.rules = rules;
        }
        sc.groups = cand;
    }
}

fn eval_search(s: &Search, e: &Event, sc: &mut Scratch, specs: &[FieldSpec]) -> bool {
    match s {
        Search::Any(items) => items.iter().any(|s| eval_search(s, e, sc, specs)),
        Search::All(tests) => tests.iter().all(|t| {
            let r = sc.values(t.slot, &specs[t.slot as usize], e);
            match &t.test {
                Test::Null => r.clone().all(|i| sc.orig(i).is_empty()),
                Test::Exists(b) => r.is_empty() != *b,
                Test::Values { pats, all } => {
                    if r.is_empty() {
                        false
                    } else if *all {
                        pats.iter()
                            .all(|p| r.clone().any(|i| p.matches(sc.orig(i), sc.low(i))))
                    } else {
                        r.clone().any(|i| {
                            let (o, l) = (sc.orig(i), sc.low(i));
                            pats.iter().any(|p| p.matches(o, l))
                        })
                    }
                }
                Test::FieldRef {
                    others,
                    op,
                    cased,
                    all,
                } => {
                    let mut check = |o: u32| {
                        let r2 = sc.values(o, &specs[o as usize], e);
                        r.clone().any(|i| {
                            r2.clone().any(|j| {
                                if *cased {
                                    let (a, b) = (sc.orig(i), sc.orig(j));
                                    match op {
                                        RefOp::Equal => a == b,
                                        RefOp::Prefix => a.starts_with(b),
                                        RefOp::Suffix => a.ends_with(b),
                                        RefOp::Contains => a.contains(b),
                                    }
                                } else {
                                    // ASCII as found or lower-cased: fold ASCII case.
                                    let (a, b) = (sc.low(i).as_bytes(), sc.low(j).as_bytes());
                                    match op {
                                        RefOp::Equal => a.eq_ignore_ascii_case(b),
                                        RefOp::Prefix => pattern::fold_starts_with(a, b),
                                        RefOp::Suffix => pattern::fold_ends_with(a, b),
                                        RefOp::Contains => pattern::fold_contains(a, b),
                                    }
                                }
                            })
                        })
                    };
                    if *all {
                        others.iter().all(|&o| check(o))
                    } else {
                        others.iter().any(|&o| check(o))
                    }
                }
            }
        }),
    }
}

fn read_bounded(p: &Path) -> Result<String, RuleError> {
    let err = |reason: String| RuleError {
        file: p.display().to_string(),
        line: 0,
        reason,
    };
    let meta = std::fs::metadata(p).map_err(|e| err(format!("cannot read: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(err(format!("file larger than {MAX_FILE_BYTES} bytes")));
    }
    let bytes = std::fs::read(p).map_err(|e| err(format!("cannot read: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|e| err(format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to())))
}

/// Rule files under `dir`, bounded in count and depth; symlinked folders are not followed.
fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>, errors: &mut Vec<RuleError>) {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            errors.push(RuleError {
                file: dir.display().to_string(),
                line: 0,
                reason: format!("cannot read folder: {e}"),
            });
            return;
        }
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if out.len() >= MAX_FILES {
            errors.push(RuleError {
                file: dir.display().to_string(),
                line: 0,
                reason: format!("more than {MAX_FILES} files; the rest are not read"),
            });
            return;
        }
        let Ok(ft) = entry.file_type() else { continue };
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        if ft.is_dir() {
            if depth < MAX_DIR_DEPTH {
                walk(&path, depth + 1, out, errors);
            }
        } else if (name.ends_with(".yml") || name.ends_with(".yaml")) && ft.is_file() {
            out.push(path);
        }
    }
}

/// Rule files under `dir` and their modification times: what hot reload watches.
pub fn fingerprint(dir: &Path) -> Vec<(PathBuf, Option<std::time::SystemTime>, u64)> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    walk(dir, 0, &mut files, &mut errors);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let m = std::fs::metadata(&f).ok();
            let mtime = m.as_ref().and_then(|m| m.modified().ok());
            let len = m.map_or(0, |m| m.len());
            (f, mtime, len)
        })
        .collect()
}

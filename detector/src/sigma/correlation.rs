//! Correlation rules (the Sigma correlation specification) and ncsoc's threshold rules.
//!
//! Sigma correlation (`correlation:` documents) over the hits of other rules, grouped by
//! `group-by` fields, within `timespan`, in event time:
//! - `event_count`: at least `condition` hits;
//! - `value_count`: at least `condition` distinct values of `condition.field`;
//! - `temporal`: every referenced rule hit within the span;
//! - `temporal_ordered`: every referenced rule hit, in the listed order, within the span.
//!
//! Conditions take `gt`, `gte` or `eq` (a correlation fires when the count reaches it).
//! `aliases` give one group-by name the field of each rule. Rules a correlation refers to
//! stop reporting their own hits unless it says `generate: true`.
//!
//! Threshold rules (`threshold:` documents, ncsoc's own format) say what Sigma cannot:
//!
//! ```yaml
//! title: One source failing logins in three sectors
//! id: ncsoc-cross-sector-login-failures
//! level: high
//! tags: [attack.t1110]
//! threshold:
//!   logsource: {category: authentication}   # optional; without it, every event
//!   detection:                               # a Sigma detection over the events
//!     selection: {event.outcome: failure}
//!     condition: selection
//!   group-by: [source.ip]
//!   timespan: 10m
//!   distinct: {field: ncsoc.sector, gte: 3}  # or count: {gte: N}, or sum: {field, gte}
//! ```
//!
//! State is bounded: at most [`MAX_TOTAL_GROUPS`] groups shared evenly by the rules (each
//! gets at least [`MIN_GROUPS_PER_RULE`] and at most [`MAX_GROUPS`]; past that the
//! quietest is dropped), and per group at most [`MAX_WINDOW_ITEMS`] timestamps or values
//! (for counts, no more than the threshold needs).
//!
//! The open windows survive restarts and reloads as [`Windows`]: keyed by rule id and a
//! stable hash of the rule's definition (its `correlation` / `threshold` block, the
//! detection and log source of the rules it counts, and the event keys its fields read),
//! so a reload keeps the windows of the correlations it did not change and starts the
//! changed ones afresh.

use std::collections::{HashMap, VecDeque};

use ncsoc_model::Event;
use serde::{Deserialize, Serialize};

use super::fields::{FieldSpec, Scratch};
use super::rule::{self, LineError, Meta};
use super::set::RuleSet;
use super::yaml::{Kind, Node, StableHash};

pub const MAX_GROUPS: usize = 100_000;
/// Groups all correlations together may hold (each rule's share: this over the rule
/// count, within [`MIN_GROUPS_PER_RULE`]..=[`MAX_GROUPS`]).
pub const MAX_TOTAL_GROUPS: usize = 200_000;
pub const MIN_GROUPS_PER_RULE: usize = 64;
pub const MAX_WINDOW_ITEMS: usize = 10_000;
/// Longest timespan accepted.
pub const MAX_TIMESPAN_MS: i64 = 30 * 86_400_000;
const MAX_GROUP_KEY: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CorrType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    Sum,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Gt,
    Gte,
    Eq,
}

impl Op {
    fn holds(self, v: f64, t: f64) -> bool {
        match self {
            Op::Gt => v > t,
            Op::Gte => v >= t,
            Op::Eq => v == t,
        }
    }
}

/// A compiled correlation or threshold rule.
#[derive(Debug, Clone)]
pub struct Correlation {
    pub meta: Meta,
    pub kind: CorrType,
    /// Referenced rules, each with its group-by slots and its value slot.
    pub(crate) refs: Vec<Ref>,
    pub group_by: Vec<String>,
    pub timespan_ms: i64,
    pub op: Op,
    pub threshold: f64,
    /// The rules referenced keep reporting their own hits.
    pub generate: bool,
    pub(crate) threshold_rule: bool,
    /// Stable hash of the definition: windows carry over a reload only to the same.
    pub(crate) def_hash: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Ref {
    pub rule: u32,
    pub group_slots: Vec<u32>,
    pub value_slot: Option<u32>,
}

impl Correlation {
    /// A threshold rule (ncsoc's format) rather than a Sigma correlation.
    pub fn is_threshold(&self) -> bool {
        self.threshold_rule
    }

    /// What its windows are saved under: the id (or the title, without one).
    fn state_id(&self) -> &str {
        if self.meta.id.is_empty() {
            &self.meta.title
        } else {
            &self.meta.id
        }
    }

    /// Most timestamps or values one group keeps: a count fires (and starts over) once it
    /// reaches its threshold, so it never needs more than that.
    fn item_cap(&self) -> usize {
        match self.kind {
            CorrType::EventCount | CorrType::ValueCount => (self.threshold as usize)
                .saturating_add(2)
                .min(MAX_WINDOW_ITEMS),
            _ => MAX_WINDOW_ITEMS,
        }
    }
}

/// Most groups each of `n` correlations may hold.
fn group_cap(n: usize) -> usize {
    (MAX_TOTAL_GROUPS / n.max(1)).clamp(MIN_GROUPS_PER_RULE, MAX_GROUPS)
}

/// The definition hash of a correlation: its own block, the rules it counts, and the
/// event keys its group-by and value fields read.
fn definition_hash(block: &str, node: &Node, refs: &[Ref], set: &RuleSet) -> u64 {
    let mut h = StableHash::default();
    h.str(block);
    node.hash_into(&mut h);
    let specs = set.specs();
    for r in refs {
        h.u64(set.rules()[r.rule as usize].def_hash);
        for &slot in r.group_slots.iter().chain(&r.value_slot) {
            let spec = &specs[slot as usize];
            h.u64(spec.candidates.len() as u64);
            for k in &spec.candidates {
                h.str(k.name());
            }
        }
    }
    h.finish()
}

fn parse_timespan(n: &Node) -> Result<i64, LineError> {
    let t = n.as_text().unwrap_or_default().trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let v: i64 = num.parse().map_err(|_| {
        (
            n.line,
            format!("timespan `{t}`: expected a number and s, m, h, d"),
        )
    })?;
    let mul = match unit {
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err((n.line, format!("timespan `{t}`: unit must be s, m, h or d"))),
    };
    let ms = v.saturating_mul(mul);
    if ms <= 0 || ms > MAX_TIMESPAN_MS {
        return Err((n.line, format!("timespan `{t}` must be between 1s and 30d")));
    }
    Ok(ms)
}

fn parse_cond(n: &Node) -> Result<(Op, f64, Option<String>), LineError> {
    let Kind::Map(entries) = &n.kind else {
        return Err((n.line, "`condition` must be a map like {gte: 10}".into()));
    };
    let mut op = None;
    let mut field = None;
    for (k, line, v) in entries {
        let num = || {
            v.as_text()
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|f| f.is_finite() && *f >= 0.0)
                .ok_or((v.line, format!("`{k}` needs a non-negative number")))
        };
        match k.as_str() {
            "gt" => op = Some((Op::Gt, num()?)),
            "gte" => op = Some((Op::Gte, num()?)),
            "eq" => op = Some((Op::Eq, num()?)),
            "lt" | "lte" | "neq" => {
                return Err((
                    *line,
                    format!("condition `{k}` is not supported (gt, gte, eq)"),
                ))
            }
            "field" => field = v.as_text().map(str::to_string),
            other => return Err((*line, format!("unknown condition key `{other}`"))),
        }
    }
    let (op, t) = op.ok_or((n.line, "condition needs gt, gte or eq".to_string()))?;
    Ok((op, t, field))
}

fn strings(n: Option<&Node>) -> Result<Vec<String>, LineError> {
    match n {
        None => Ok(Vec::new()),
        Some(n) => match &n.kind {
            Kind::Seq(items) => items
                .iter()
                .map(|i| {
                    i.as_text()
                        .map(str::to_string)
                        .ok_or((i.line, "expected a string".into()))
                })
                .collect(),
            Kind::Null => Ok(Vec::new()),
            _ => n
                .as_text()
                .map(|s| vec![s.to_string()])
                .ok_or((n.line, "expected a string or a list".into())),
        },
    }
}

/// Compiles a `correlation:` or `threshold:` document against the rules of `set`.
pub(crate) fn compile(doc: &Node, file: &str, set: &mut RuleSet) -> Result<Correlation, LineError> {
    let meta = rule::parse_meta(doc, file)?;
    if let Some(t) = doc.get("threshold") {
        return compile_threshold(meta, t, set);
    }
    let c = doc
        .get("correlation")
        .ok_or((doc.line, "missing `correlation`".to_string()))?;
    let ty = c
        .get("type")
        .and_then(Node::as_text)
        .ok_or((c.line, "correlation needs a `type`".to_string()))?;
    let kind = match ty {
        "event_count" => CorrType::EventCount,
        "value_count" => CorrType::ValueCount,
        "temporal" => CorrType::Temporal,
        "temporal_ordered" => CorrType::TemporalOrdered,
        other => return Err((c.line, format!("unknown correlation type `{other}`"))),
    };
    let rules = strings(c.get("rules"))?;
    if rules.is_empty() {
        return Err((c.line, "correlation needs `rules`".into()));
    }
    let group_by = strings(c.get("group-by"))?;
    let timespan_ms = parse_timespan(
        c.get("timespan")
            .or_else(|| c.get("timeframe"))
            .ok_or((c.line, "correlation needs a `timespan`".to_string()))?,
    )?;
    let (op, threshold, field) = match c.get("condition") {
        Some(n) => parse_cond(n)?,
        None if matches!(kind, CorrType::Temporal | CorrType::TemporalOrdered) => {
            (Op::Gte, rules.len() as f64, None)
        }
        None => return Err((c.line, "correlation needs a `condition`".into())),
    };
    if kind == CorrType::ValueCount && field.is_none() {
        return Err((c.line, "value_count needs `condition.field`".into()));
    }
    let generate = matches!(c.get("generate").map(|n| &n.kind), Some(Kind::Bool(true)));
    // aliases: {alias: {rule name: field}}
    let aliases = match c.get("aliases") {
        Some(Node {
            kind: Kind::Map(a), ..
        }) => a.clone(),
        _ => Vec::new(),
    };
    let mut refs = Vec::new();
    for r in &rules {
        let idx = set
            .find(r)
            .ok_or((c.line, format!("correlation refers to unknown rule `{r}`")))?;
        let rule_meta = set.rules()[idx as usize].meta.clone();
        let field_of = |name: &str| -> String {
            for (alias, _, m) in &aliases {
                if alias == name {
                    if let Kind::Map(per) = &m.kind {
                        for (rn, _, f) in per {
                            if (rn == r
                                || Some(rn) == rule_meta.name.as_ref()
                                || *rn == rule_meta.id)
                                && f.as_text().is_some()
                            {
                                return f.as_text().unwrap_or(name).to_string();
                            }
                        }
                    }
                }
            }
            name.to_string()
        };
        let group_slots = group_by
            .iter()
            .map(|g| set.slot_for(&rule_meta, &field_of(g)))
            .collect();
        let value_slot = field
            .as_deref()
            .map(|f| set.slot_for(&rule_meta, &field_of(f)));
        refs.push(Ref {
            rule: idx,
            group_slots,
            value_slot,
        });
    }
    let def_hash = definition_hash("correlation", c, &refs, set);
    Ok(Correlation {
        meta,
        kind,
        refs,
        group_by,
        timespan_ms,
        op,
        threshold,
        generate,
        threshold_rule: false,
        def_hash,
    })
}

fn compile_threshold(meta: Meta, t: &Node, set: &mut RuleSet) -> Result<Correlation, LineError> {
    let det = t
        .get("detection")
        .ok_or((t.line, "threshold needs a `detection`".to_string()))?;
    let mut inner = meta.clone();
    inner.id = format!("threshold:{}", meta.id);
    inner.logsource = rule::LogSource::default();
    if let Some(ls) = t.get("logsource") {
        let wrapped = Node {
            line: t.line,
            kind: Kind::Map(vec![
                (
                    "title".into(),
                    t.line,
                    Node {
                        line: t.line,
                        kind: Kind::Str(meta.title.clone()),
                    },
                ),
                ("logsource".into(), ls.line, ls.clone()),
            ]),
        };
        inner.logsource = rule::parse_meta(&wrapped, &meta.file)?.logsource;
    }
    let idx = set.add_hidden_rule(inner.clone(), det)?;
    let group_by = strings(t.get("group-by"))?;
    let timespan_ms = parse_timespan(
        t.get("timespan")
            .ok_or((t.line, "threshold needs a `timespan`".to_string()))?,
    )?;
    let (kind, cond) = if let Some(c) = t.get("count") {
        (CorrType::EventCount, c)
    } else if let Some(c) = t.get("distinct") {
        (CorrType::ValueCount, c)
    } else if let Some(c) = t.get("sum") {
        (CorrType::Sum, c)
    } else {
        return Err((
            t.line,
            "threshold needs one of `count`, `distinct`, `sum`".into(),
        ));
    };
    let (op, threshold, field) = parse_cond(cond)?;
    if kind != CorrType::EventCount && field.is_none() {
        return Err((cond.line, "`distinct` and `sum` need a `field`".into()));
    }
    let group_slots = group_by.iter().map(|g| set.slot_for(&inner, g)).collect();
    let value_slot = field.as_deref().map(|f| set.slot_for(&inner, f));
    let mut meta = meta;
    meta.logsource = inner.logsource;
    let refs = vec![Ref {
        rule: idx,
        group_slots,
        value_slot,
    }];
    let def_hash = definition_hash("threshold", t, &refs, set);
    Ok(Correlation {
        meta,
        kind,
        refs,
        group_by,
        timespan_ms,
        op,
        threshold,
        generate: false,
        threshold_rule: true,
        def_hash,
    })
}

/// What a correlation fired on.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub corr: usize,
    pub group: String,
    pub first_ms: i64,
    pub observed: f64,
    /// Sample event ids (the last few that counted).
    pub samples: Vec<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct GroupState {
    last_ms: i64,
    /// event_count: timestamps; sum: (ts, value bits); value_count: (ts, value hash).
    items: VecDeque<(i64, u64)>,
    /// temporal: per referenced rule, the latest hit (or chain start, when ordered).
    steps: Vec<Option<i64>>,
    samples: VecDeque<String>,
}

/// Running state of every correlation of a set.
#[derive(Debug, Default)]
pub struct CorrelationState {
    groups: Vec<HashMap<String, GroupState>>,
}

/// The open windows of a rule set's correlations, detached from the set: what a detector
/// checkpoint holds and what a rule reload carries over. Groups are sorted by key, so the
/// same state always gives the same bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Windows {
    rules: Vec<RuleWindows>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RuleWindows {
    id: String,
    /// [`Correlation`]'s definition hash when the windows were saved.
    def: u64,
    groups: Vec<(String, GroupState)>,
}

impl Windows {
    /// Correlation rules with windows.
    pub fn rules(&self) -> usize {
        self.rules.len()
    }

    /// Open groups, all rules together.
    pub fn groups(&self) -> usize {
        self.rules.iter().map(|r| r.groups.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

const MAX_SAMPLES: usize = 5;
/// Longest sample event id taken back from saved windows.
const MAX_SAMPLE_ID: usize = 1024;

impl CorrelationState {
    /// Feeds the hits of one event (rule indices in `hits`) to every correlation.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        set: &RuleSet,
        e: &Event,
        hits: &[u32],
        sc: &mut Scratch,
        specs: &[FieldSpec],
        key: &mut String,
        out: &mut Vec<Fired>,
    ) {
        if self.groups.len() < set.correlations.len() {
            self.groups
                .resize_with(set.correlations.len(), HashMap::new);
        }
        let max_groups = group_cap(set.correlations.len());
        let t = e.timestamp.millis();
        for (ci, c) in set.correlations.iter().enumerate() {
            for (ri, r) in c.refs.iter().enumerate() {
                if !hits.contains(&r.rule) {
                    continue;
                }
                key.clear();
                for (i, &slot) in r.group_slots.iter().enumerate() {
                    if i > 0 {
                        key.push('|');
                    }
                    let range = sc.values(slot, &specs[slot as usize], e);
                    if let Some(v) = range.clone().next() {
                        let s = sc.orig(v);
                        key.push_str(&s[..s.len().min(MAX_GROUP_KEY)]);
                    }
                }
                let value = r.value_slot.and_then(|slot| {
                    let range = sc.values(slot, &specs[slot as usize], e);
                    range.clone().next().map(|v| sc.orig(v).to_string())
                });
                if matches!(c.kind, CorrType::ValueCount | CorrType::Sum) && value.is_none() {
                    continue;
                }
                let groups = &mut self.groups[ci];
                if !groups.contains_key(key.as_str()) && groups.len() >= max_groups {
                    // Drop the quietest group.
                    if let Some(old) = groups
                        .iter()
                        .min_by_key(|(_, g)| g.last_ms)
                        .map(|(k, _)| k.clone())
                    {
                        groups.remove(&old);
                    }
                }
                let g = groups.entry(key.clone()).or_default();
                g.last_ms = g.last_ms.max(t);
                g.samples.push_back(e.id.clone());
                if g.samples.len() > MAX_SAMPLES {
                    g.samples.pop_front();
                }
                let horizon = t - c.timespan_ms;
                let cap = c.item_cap();
                let observed = match c.kind {
                    CorrType::EventCount => {
                        g.items.push_back((t, 0));
                        prune(&mut g.items, horizon, cap);
                        g.items.len() as f64
                    }
                    CorrType::Sum => {
                        let v = value
                            .as_deref()
                            .and_then(|v| v.trim().parse::<f64>().ok())
                            .unwrap_or(0.0);
                        g.items.push_back((t, v.to_bits()));
                        prune(&mut g.items, horizon, cap);
                        g.items.iter().map(|(_, b)| f64::from_bits(*b)).sum()
                    }
                    CorrType::ValueCount => {
                        let h = hash(value.as_deref().unwrap_or_default());
                        g.items.retain(|(_, x)| *x != h);
                        g.items.push_back((t, h));
                        prune(&mut g.items, horizon, cap);
                        g.items.len() as f64
                    }
                    CorrType::Temporal | CorrType::TemporalOrdered => {
                        if g.steps.len() < c.refs.len() {
                            g.steps.resize(c.refs.len(), None);
                        }
                        if c.kind == CorrType::Temporal {
                            g.steps[ri] = Some(t);
                        } else if ri == 0 {
                            g.steps[0] = Some(t);
                        } else if let Some(start) = g.steps[ri - 1].filter(|s| *s >= horizon) {
                            g.steps[ri] = Some(g.steps[ri].map_or(start, |s| s.max(start)));
                        }
                        let live = |s: &Option<i64>| s.is_some_and(|s| s >= horizon);
                        if c.kind == CorrType::Temporal {
                            g.steps.iter().filter(|s| live(s)).count() as f64
                        } else if g.steps.last().is_some_and(live) {
                            c.refs.len() as f64
                        } else {
                            0.0
                        }
                    }
                };
                if c.op.holds(observed, c.threshold) {
                    let first_ms = g
                        .items
                        .front()
                        .map_or(t, |(ts, _)| *ts)
                        .min(g.steps.iter().flatten().copied().min().unwrap_or(t));
                    out.push(Fired {
                        corr: ci,
                        group: key.clone(),
                        first_ms,
                        observed,
                        samples: g.samples.iter().cloned().collect(),
                    });
                    // Start over: the next firing needs a fresh run of evidence.
                    g.items.clear();
                    g.steps.clear();
                    g.samples.clear();
                }
            }
        }
    }

    /// Drops groups idle for longer than their rule's timespan (call now and then).
    pub fn sweep(&mut self, set: &RuleSet, now_ms: i64) {
        for (ci, groups) in self.groups.iter_mut().enumerate() {
            if let Some(c) = set.correlations.get(ci) {
                groups.retain(|_, g| now_ms - g.last_ms <= c.timespan_ms);
            }
        }
    }

    pub fn groups(&self) -> usize {
        self.groups.iter().map(HashMap::len).sum()
    }

    /// A copy of the open windows of `set`'s correlations (this state must be `set`'s).
    pub fn windows(&self, set: &RuleSet) -> Windows {
        Self::save(
            set,
            self.groups
                .iter()
                .map(|g| g.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        )
    }

    /// The open windows, moved out.
    pub fn into_windows(self, set: &RuleSet) -> Windows {
        Self::save(
            set,
            self.groups.into_iter().map(|g| g.into_iter().collect()),
        )
    }

    fn save(set: &RuleSet, groups: impl Iterator<Item = Vec<(String, GroupState)>>) -> Windows {
        let mut rules = Vec::new();
        for (c, mut groups) in set.correlations.iter().zip(groups) {
            // Only windows with something in them.
            groups.retain(|(_, g)| !g.items.is_empty() || g.steps.iter().any(Option::is_some));
            if groups.is_empty() {
                continue;
            }
            groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            rules.push(RuleWindows {
                id: c.state_id().to_string(),
                def: c.def_hash,
                groups,
            });
        }
        Windows { rules }
    }

    /// State for `set` from saved windows: each correlation of `set` takes the windows
    /// saved under its id and definition hash; the others (changed or removed rules) are
    /// dropped. Saved windows are held to the same bounds as live ones.
    pub fn from_windows(set: &RuleSet, saved: Windows) -> Self {
        let mut by_key: HashMap<(String, u64), Vec<(String, GroupState)>> = HashMap::new();
        for r in saved.rules {
            by_key.entry((r.id, r.def)).or_insert(r.groups);
        }
        let max_groups = group_cap(set.correlations.len());
        let groups = set
            .correlations
            .iter()
            .map(|c| {
                let Some(mut saved) = by_key.remove(&(c.state_id().to_string(), c.def_hash)) else {
                    return HashMap::new();
                };
                // Over the bound: the most recently active groups stay.
                if saved.len() > max_groups {
                    saved.sort_by_key(|(_, g)| std::cmp::Reverse(g.last_ms));
                    saved.truncate(max_groups);
                }
                let cap = c.item_cap();
                let fields = c.refs.iter().map(|r| r.group_slots.len()).max();
                let max_key = (MAX_GROUP_KEY + 1) * fields.unwrap_or(0).max(1);
                saved
                    .into_iter()
                    .filter(|(k, _)| k.len() <= max_key)
                    .map(|(k, mut g)| {
                        while g.items.len() > cap {
                            g.items.pop_front();
                        }
                        g.samples.retain(|s| s.len() <= MAX_SAMPLE_ID);
                        while g.samples.len() > MAX_SAMPLES {
                            g.samples.pop_front();
                        }
                        g.steps.truncate(c.refs.len());
                        (k, g)
                    })
                    .collect()
            })
            .collect();
        Self { groups }
    }
}

fn prune(items: &mut VecDeque<(i64, u64)>, horizon: i64, cap: usize) {
    while items.front().is_some_and(|(t, _)| *t < horizon) {
        items.pop_front();
    }
    while items.len() > cap {
        items.pop_front();
    }
}

fn hash(s: &str) -> u64 {
    // FNV-1a: stable across runs (event-time replay gives the same result).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

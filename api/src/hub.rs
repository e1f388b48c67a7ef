//! The one path every incident change takes, whoever makes it (the detector, an analyst):
//! written to the store, appended to the change log in the control store, and announced
//! to live subscribers (the SSE stream; the webhook dispatcher wakes on it).
//!
//! The detector and analysts change the same incidents, so the hub reconciles them
//! ([`IncidentHub::upsert_detected`]): the detector owns what it observes (title, kind,
//! severity, score, sectors, entities, evidence, ATT&CK ids, first/last seen, signal
//! count), analysts own the workflow (status, assignee, notes, tags, merges). A detector
//! update never resets an analyst's work; the observed sets only grow (sectors, entities,
//! evidence, ATT&CK ids are unions, severity and score never go down), so what a merge
//! brought into an incident stays there when the detector next updates it.
//!
//! A merged incident (closed, `merged_into` set) is not resurrected by later signals:
//! what is new in them (signals, evidence, sectors, entities, time span) is folded into
//! the incident it was merged into (following a chain of merges), which is recorded as
//! changed. The merged one's own stored record keeps tracking the detector's view
//! silently, without a change of its own, so the next update knows what is new.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ncsoc_model::{Evidence, Incident, Status, Timestamp};
use ncsoc_store::control::{Change, ChangeKind};
use ncsoc_store::{ControlStore, Scope, Store, StoreError};
use tokio::sync::broadcast;

/// The actor of the detector's changes.
pub const DETECTOR: &str = "detector";
/// Evidence kept per stored incident: the first [`KEEP_FIRST_EVIDENCE`] and the newest rest.
pub const MAX_EVIDENCE: usize = 200;
const KEEP_FIRST_EVIDENCE: usize = 20;
/// Entities kept per stored incident.
pub const MAX_ENTITIES: usize = 128;
/// Notes kept per incident (analysts cannot add more; a merge keeps the newest).
pub const MAX_NOTES: usize = 500;
/// Live streams at once, per token and overall.
pub const MAX_STREAMS_PER_TOKEN: usize = 8;
pub const MAX_STREAMS: usize = 256;
/// Merges followed when the detector updates a merged incident.
const MAX_MERGE_HOPS: usize = 8;

pub struct IncidentHub {
    pub store: Arc<dyn Store>,
    pub control: Arc<ControlStore>,
    tx: broadcast::Sender<Arc<Change>>,
    /// Serialises read-modify-write of incidents (detector updates against analyst edits).
    /// Every [`IncidentHub::record`] happens under it, so sequence numbers are announced
    /// in order.
    pub write_lock: tokio::sync::Mutex<()>,
    streams: Mutex<StreamCounts>,
    closing: tokio::sync::watch::Sender<bool>,
}

#[derive(Default)]
struct StreamCounts {
    total: usize,
    per_token: HashMap<String, usize>,
}

impl std::fmt::Debug for IncidentHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncidentHub").finish_non_exhaustive()
    }
}

impl IncidentHub {
    pub fn new(store: Arc<dyn Store>, control: Arc<ControlStore>) -> Arc<Self> {
        let (tx, _) = broadcast::channel(4096);
        Arc::new(Self {
            store,
            control,
            tx,
            write_lock: tokio::sync::Mutex::new(()),
            streams: Mutex::default(),
            closing: tokio::sync::watch::channel(false).0,
        })
    }

    /// Ends every live stream (at shutdown: an open stream would hold the server's
    /// graceful shutdown forever).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Becomes `true` when the hub closes.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Live changes from now on. A subscriber that lags gets `Lagged` and should re-read
    /// the change log from its last sequence number.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }

    /// Stores `incident` as it now is, logs the change and announces it. Callers hold
    /// `write_lock` around their read-modify-write. `updated_at` is set to the wall clock
    /// (and always moves forward, so it can serve as the incident's version).
    pub async fn record(
        &self,
        kind: ChangeKind,
        actor: &str,
        mut incident: Incident,
    ) -> Result<Arc<Change>, StoreError> {
        let at = Timestamp::now();
        incident.updated_at = Timestamp(at.nanos().max(incident.updated_at.nanos() + 1));
        self.store.put_incident(&incident).await?;
        let seq = self.control.append_change(at, kind, actor, &incident)?;
        let change = Arc::new(Change {
            seq,
            at,
            kind,
            actor: actor.to_string(),
            incident,
        });
        // No receiver is fine: nobody is watching.
        let _ = self.tx.send(change.clone());
        Ok(change)
    }

    /// Takes the detector's current view of an incident and records it, reconciled with
    /// what analysts did to the stored one (see the module docs). `None` when it changes
    /// nothing.
    pub async fn upsert_detected(
        &self,
        detected: Incident,
    ) -> Result<Option<Arc<Change>>, StoreError> {
        let _guard = self.write_lock.lock().await;
        let Some(stored) = self.store.incident(&detected.id, &Scope::All).await? else {
            let mut fresh = detected;
            fresh.updated_at = Timestamp(0);
            return self
                .record(ChangeKind::Opened, DETECTOR, fresh)
                .await
                .map(Some);
        };
        if stored.merged_into.is_some() {
            return self.redirect(stored, detected).await;
        }
        let Some((next, kind)) = reconcile(&stored, &detected) else {
            return Ok(None);
        };
        self.record(kind, DETECTOR, next).await.map(Some)
    }

    /// A detector update of a merged incident: what is new goes to the incident it was
    /// merged into.
    async fn redirect(
        &self,
        source: Incident,
        detected: Incident,
    ) -> Result<Option<Arc<Change>>, StoreError> {
        let mut tracked = observe(&source, &detected);
        let new_evidence: Vec<Evidence> = tracked
            .evidence
            .iter()
            .filter(|e| !source.evidence.contains(e))
            .cloned()
            .collect();
        let delta_signals = tracked.signal_count.saturating_sub(source.signal_count);
        if tracked == source {
            return Ok(None);
        }
        tracked.updated_at = Timestamp(Timestamp::now().nanos().max(source.updated_at.nanos() + 1));
        self.store.put_incident(&tracked).await?;

        let mut target_id = source.merged_into.clone().unwrap_or_default();
        let mut target = None;
        for _ in 0..MAX_MERGE_HOPS {
            match self.store.incident(&target_id, &Scope::All).await? {
                Some(t) => match t.merged_into.clone() {
                    Some(next) if next != target_id => target_id = next,
                    _ => {
                        target = Some(t);
                        break;
                    }
                },
                None => break,
            }
        }
        let Some(target) = target else {
            tracing::warn!(incident = %source.id, merged_into = %target_id, "merged incident's target is missing; update kept on the merged one only");
            return Ok(None);
        };
        let mut delta = tracked;
        delta.evidence = new_evidence;
        delta.notes.clear();
        delta.tags.clear();
        // TLP:RED and AMBER+STRICT evidence stays on the merged incident's own record
        // (its one sector) when the target reaches other sectors.
        if crate::intel::merge_breaks_tlp(&target, &delta) {
            delta.evidence.retain(|e| !crate::intel::is_restricted(e));
            delta.entities.retain(|e| e.role != "indicator");
        }
        let mut next = absorb(&target, &delta, delta_signals);
        let Some(kind) = classify(&target, &mut next) else {
            return Ok(None);
        };
        self.record(kind, DETECTOR, next).await.map(Some)
    }

    /// A permit for one live stream of `token_id`, or `None` when the token or the
    /// server has as many as allowed. The stream holds it until it ends.
    pub fn stream_permit(self: &Arc<Self>, token_id: &str) -> Option<StreamPermit> {
        let mut s = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let mine = s.per_token.get(token_id).copied().unwrap_or(0);
        if s.total >= MAX_STREAMS || mine >= MAX_STREAMS_PER_TOKEN {
            return None;
        }
        s.total += 1;
        s.per_token.insert(token_id.to_string(), mine + 1);
        Some(StreamPermit {
            hub: self.clone(),
            token_id: token_id.to_string(),
        })
    }
}

/// One open live stream; released on drop.
pub struct StreamPermit {
    hub: Arc<IncidentHub>,
    token_id: String,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut s = self.hub.streams.lock().unwrap_or_else(|p| p.into_inner());
        s.total = s.total.saturating_sub(1);
        if let Some(n) = s.per_token.get_mut(&self.token_id) {
            *n -= 1;
            if *n == 0 {
                s.per_token.remove(&self.token_id);
            }
        }
    }
}

/// The stored incident with the detector's observations of `detected` taken in, analyst
/// fields untouched (status is not changed here; see [`classify`]).
fn observe(stored: &Incident, detected: &Incident) -> Incident {
    let mut next = stored.clone();
    next.title = detected.title.clone();
    next.kind = detected.kind;
    next.dedup_key = detected.dedup_key.clone();
    next.severity = stored.severity.max(detected.severity);
    next.score = stored.score.max(detected.score);
    union_sorted(&mut next.sectors, &detected.sectors);
    union_entities(&mut next.entities, &detected.entities);
    union_in_order(&mut next.attack, &detected.attack);
    next.evidence = merge_evidence(&stored.evidence, &detected.evidence);
    next.first_seen = stored.first_seen.min(detected.first_seen);
    next.last_seen = stored.last_seen.max(detected.last_seen);
    // The detector counts its own signals; merged ones are added back. Never down (a
    // detector that lost its state starts counting again).
    next.signal_count = stored
        .signal_count
        .max(detected.signal_count + stored.merged_signal_count);
    next
}

/// Reconciles a detector update with the stored incident: the next version and the kind
/// of change, or `None` when nothing changed.
pub fn reconcile(stored: &Incident, detected: &Incident) -> Option<(Incident, ChangeKind)> {
    let mut next = observe(stored, detected);
    let kind = classify(stored, &mut next)?;
    Some((next, kind))
}

/// The kind of a detector-driven change from `before` to `after`, reopening `after` when
/// it was resolved or closed and saw new activity; `None` when nothing changed.
fn classify(before: &Incident, after: &mut Incident) -> Option<ChangeKind> {
    let mut same = after.clone();
    same.updated_at = before.updated_at;
    if &same == before {
        return None;
    }
    let activity = after.last_seen > before.last_seen
        || after.signal_count > before.signal_count
        || after.evidence.len() > before.evidence.len();
    if matches!(before.status, Status::Resolved | Status::Closed)
        && before.merged_into.is_none()
        && activity
    {
        after.status = Status::New;
        return Some(ChangeKind::Reopened);
    }
    if after.severity > before.severity || after.sectors.iter().any(|s| !before.sectors.contains(s))
    {
        return Some(ChangeKind::Escalated);
    }
    Some(ChangeKind::Updated)
}

/// `target` with `from` folded in: sectors, entities, ATT&CK ids, evidence, notes and tags
/// joined, the time span widened, severity and score the higher, `signals` added to the
/// signal count. What a merge does to its target, and what a merged incident's later
/// signals do.
pub fn absorb(target: &Incident, from: &Incident, signals: u64) -> Incident {
    let mut next = target.clone();
    union_sorted(&mut next.sectors, &from.sectors);
    union_entities(&mut next.entities, &from.entities);
    union_in_order(&mut next.attack, &from.attack);
    union_in_order(&mut next.tags, &from.tags);
    next.evidence = merge_evidence(&target.evidence, &from.evidence);
    next.notes.extend(from.notes.iter().cloned());
    next.notes.sort_by_key(|n| n.at);
    if next.notes.len() > MAX_NOTES {
        next.notes.drain(..next.notes.len() - MAX_NOTES);
    }
    next.first_seen = target.first_seen.min(from.first_seen);
    next.last_seen = target.last_seen.max(from.last_seen);
    next.severity = target.severity.max(from.severity);
    next.score = target.score.max(from.score);
    next.signal_count += signals;
    next.merged_signal_count += signals;
    next
}

/// The joined kind of change a merge is for its target: escalated when it gained a sector
/// or severity, merged otherwise.
pub fn merge_kind(before: &Incident, after: &Incident) -> ChangeKind {
    if after.severity > before.severity || after.sectors.iter().any(|s| !before.sectors.contains(s))
    {
        ChangeKind::Escalated
    } else {
        ChangeKind::Merged
    }
}

fn union_sorted(into: &mut Vec<String>, from: &[String]) {
    for s in from {
        if !into.contains(s) {
            into.push(s.clone());
        }
    }
    into.sort();
}

fn union_in_order(into: &mut Vec<String>, from: &[String]) {
    for s in from {
        if !into.contains(s) {
            into.push(s.clone());
        }
    }
}

fn union_entities(into: &mut Vec<ncsoc_model::Entity>, from: &[ncsoc_model::Entity]) {
    for e in from {
        if into.len() >= MAX_ENTITIES {
            break;
        }
        if !into.contains(e) {
            into.push(e.clone());
        }
    }
}

/// Both lists joined without repeats, in time order, at most [`MAX_EVIDENCE`]: the first
/// few (how it started) and the newest.
pub fn merge_evidence(a: &[Evidence], b: &[Evidence]) -> Vec<Evidence> {
    let mut out = a.to_vec();
    for e in b {
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    out.sort_by_key(|e| e.at);
    if out.len() > MAX_EVIDENCE {
        out.drain(KEEP_FIRST_EVIDENCE..out.len() - (MAX_EVIDENCE - KEEP_FIRST_EVIDENCE));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ncsoc_model::{Entity, IncidentKind, Note, Severity};

    fn ev(at: i64, what: &str) -> Evidence {
        Evidence {
            at: Timestamp::from_secs(at),
            sector: "energy".into(),
            signal: "nbad.port_scan".into(),
            description: what.into(),
            ..Evidence::default()
        }
    }

    fn detected(signals: u64, sectors: &[&str], last: i64, sev: Severity) -> Incident {
        Incident {
            id: "inc-1".into(),
            title: format!("scan x{signals}"),
            kind: IncidentKind::PortScan,
            severity: sev,
            score: 40,
            status: Status::New,
            sectors: sectors.iter().map(|s| s.to_string()).collect(),
            entities: vec![Entity {
                kind: "ip".into(),
                value: "203.0.113.9".into(),
                role: "attacker".into(),
            }],
            first_seen: Timestamp::from_secs(100),
            last_seen: Timestamp::from_secs(last),
            evidence: (0..signals as i64).map(|n| ev(100 + n, "scan")).collect(),
            attack: vec!["T1046".into()],
            assignee: None,
            notes: vec![],
            tags: vec![],
            dedup_key: "port_scan|scan:203.0.113.9".into(),
            signal_count: signals,
            updated_at: Timestamp::from_secs(last),
            merged_into: None,
            merged_from: vec![],
            merged_signal_count: 0,
        }
    }

    #[test]
    fn detector_update_keeps_analyst_work() {
        let mut stored = detected(1, &["energy"], 110, Severity::Low);
        stored.status = Status::Acknowledged;
        stored.assignee = Some("ana".into());
        stored.tags = vec!["apt".into()];
        stored.notes = vec![Note {
            at: Timestamp::from_secs(5),
            author: "ana".into(),
            text: "looking".into(),
        }];
        let (next, kind) =
            reconcile(&stored, &detected(2, &["energy"], 120, Severity::Low)).unwrap();
        assert_eq!(kind, ChangeKind::Updated);
        assert_eq!(next.status, Status::Acknowledged);
        assert_eq!(next.assignee.as_deref(), Some("ana"));
        assert_eq!(next.tags, ["apt"]);
        assert_eq!(next.notes.len(), 1);
        assert_eq!(next.signal_count, 2);
        assert_eq!(next.last_seen, Timestamp::from_secs(120));
        assert_eq!(next.title, "scan x2");
        // The same view again changes nothing.
        assert!(reconcile(&next, &detected(2, &["energy"], 120, Severity::Low)).is_none());
    }

    #[test]
    fn escalation_and_reopening() {
        let stored = detected(1, &["energy"], 110, Severity::Low);
        let (_, kind) = reconcile(
            &stored,
            &detected(2, &["energy", "finance"], 120, Severity::Low),
        )
        .unwrap();
        assert_eq!(kind, ChangeKind::Escalated);
        let (_, kind) = reconcile(&stored, &detected(2, &["energy"], 120, Severity::High)).unwrap();
        assert_eq!(kind, ChangeKind::Escalated);
        let mut resolved = stored.clone();
        resolved.status = Status::Resolved;
        let (next, kind) =
            reconcile(&resolved, &detected(2, &["energy"], 120, Severity::Low)).unwrap();
        assert_eq!(kind, ChangeKind::Reopened);
        assert_eq!(next.status, Status::New);
    }

    #[test]
    fn absorbed_parts_survive_detector_updates() {
        let target = detected(2, &["energy"], 120, Severity::Low);
        let mut source = detected(3, &["health"], 200, Severity::High);
        source.id = "inc-2".into();
        source.evidence = vec![ev(190, "other")];
        source.notes = vec![Note {
            at: Timestamp::from_secs(1),
            author: "bo".into(),
            text: "n".into(),
        }];
        let merged = absorb(&target, &source, source.signal_count);
        assert_eq!(merged.sectors, ["energy", "health"]);
        assert_eq!(merged.severity, Severity::High);
        assert_eq!(merged.signal_count, 5);
        assert_eq!(merged.last_seen, Timestamp::from_secs(200));
        assert_eq!(merge_kind(&target, &merged), ChangeKind::Escalated);
        // The detector's next view of the target knows nothing of the merge.
        let (next, _) = reconcile(&merged, &detected(4, &["energy"], 130, Severity::Low)).unwrap();
        assert_eq!(next.sectors, ["energy", "health"]);
        assert_eq!(next.severity, Severity::High);
        assert_eq!(next.signal_count, 4 + 3);
        assert!(next.evidence.iter().any(|e| e.description == "other"));
        assert_eq!(next.notes.len(), 1);
    }

    #[test]
    fn evidence_is_bounded_keeping_first_and_newest() {
        let a: Vec<Evidence> = (0..150).map(|n| ev(n, "a")).collect();
        let b: Vec<Evidence> = (150..300).map(|n| ev(n, "b")).collect();
        let m = merge_evidence(&a, &b);
        assert_eq!(m.len(), MAX_EVIDENCE);
        assert_eq!(m[0].at, Timestamp::from_secs(0));
        assert_eq!(m[KEEP_FIRST_EVIDENCE - 1].at, Timestamp::from_secs(19));
        assert_eq!(m[KEEP_FIRST_EVIDENCE].at, Timestamp::from_secs(120));
        assert_eq!(m.last().unwrap().at, Timestamp::from_secs(299));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn merged_incident_updates_go_to_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            ncsoc_store::sqlite::SqliteStore::open(
                dir.path(),
                &ncsoc_store::StoreConfig::default(),
            )
            .unwrap(),
        );
        let control = Arc::new(ControlStore::in_memory().unwrap());
        let hub = IncidentHub::new(store.clone(), control.clone());
        let a = detected(1, &["energy"], 110, Severity::Low);
        let mut b = detected(1, &["finance"], 110, Severity::Low);
        b.id = "inc-2".into();
        let opened = hub.upsert_detected(a.clone()).await.unwrap().unwrap();
        assert_eq!(opened.kind, ChangeKind::Opened);
        hub.upsert_detected(b.clone()).await.unwrap().unwrap();
        assert!(
            hub.upsert_detected(a.clone()).await.unwrap().is_none(),
            "same view, no change"
        );

        // Merge b into a, as the API does.
        let src = store.incident("inc-2", &Scope::All).await.unwrap().unwrap();
        let tgt = store.incident("inc-1", &Scope::All).await.unwrap().unwrap();
        let mut t = absorb(&tgt, &src, src.signal_count);
        t.merged_from.push(src.id.clone());
        assert_eq!(merge_kind(&tgt, &t), ChangeKind::Escalated);
        let mut closed = src.clone();
        closed.status = Status::Closed;
        closed.merged_into = Some("inc-1".into());
        hub.record(ChangeKind::Merged, "ana", closed).await.unwrap();
        hub.record(ChangeKind::Escalated, "ana", t).await.unwrap();

        // The detector goes on seeing b: its news lands on a; b stays closed.
        let mut b2 = detected(3, &["finance", "health"], 150, Severity::High);
        b2.id = "inc-2".into();
        let c = hub.upsert_detected(b2.clone()).await.unwrap().unwrap();
        assert_eq!(c.incident.id, "inc-1");
        assert_eq!(c.kind, ChangeKind::Escalated);
        assert_eq!(c.incident.sectors, ["energy", "finance", "health"]);
        assert_eq!(c.incident.signal_count, 1 + 1 + 2);
        assert_eq!(c.incident.severity, Severity::High);
        assert_eq!(c.incident.last_seen, Timestamp::from_secs(150));
        let b_now = store.incident("inc-2", &Scope::All).await.unwrap().unwrap();
        assert_eq!(b_now.status, Status::Closed);
        assert_eq!(b_now.merged_into.as_deref(), Some("inc-1"));
        assert_eq!(b_now.signal_count, 3);
        assert!(hub.upsert_detected(b2).await.unwrap().is_none());

        // a's own next update keeps what came with b.
        let c = hub
            .upsert_detected(detected(2, &["energy"], 160, Severity::Low))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.incident.signal_count, 2 + 1 + 2);
        assert_eq!(c.incident.sectors, ["energy", "finance", "health"]);
        assert_eq!(c.incident.merged_from, ["inc-2"]);
        // Every change is in the log, in order.
        let log = control.changes_since(0, &Scope::All, 100).unwrap();
        let kinds: Vec<(&str, ChangeKind)> = log
            .iter()
            .map(|c| (c.incident.id.as_str(), c.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("inc-1", ChangeKind::Opened),
                ("inc-2", ChangeKind::Opened),
                ("inc-2", ChangeKind::Merged),
                ("inc-1", ChangeKind::Escalated),
                ("inc-1", ChangeKind::Escalated),
                ("inc-1", ChangeKind::Updated),
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn restricted_evidence_of_a_merged_incident_stays_in_its_sector() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            ncsoc_store::sqlite::SqliteStore::open(
                dir.path(),
                &ncsoc_store::StoreConfig::default(),
            )
            .unwrap(),
        );
        let control = Arc::new(ControlStore::in_memory().unwrap());
        let hub = IncidentHub::new(store.clone(), control);
        let a = detected(1, &["energy"], 110, Severity::Low);
        let mut b = detected(1, &["finance"], 110, Severity::Low);
        b.id = "inc-2".into();
        hub.upsert_detected(a).await.unwrap().unwrap();
        hub.upsert_detected(b.clone()).await.unwrap().unwrap();
        let src = store.incident("inc-2", &Scope::All).await.unwrap().unwrap();
        let tgt = store.incident("inc-1", &Scope::All).await.unwrap().unwrap();
        let mut t = absorb(&tgt, &src, src.signal_count);
        t.merged_from.push(src.id.clone());
        let mut closed = src.clone();
        closed.status = Status::Closed;
        closed.merged_into = Some("inc-1".into());
        hub.record(ChangeKind::Merged, "ana", closed).await.unwrap();
        hub.record(ChangeKind::Escalated, "ana", t).await.unwrap();

        // Later, finance sees TLP:RED indicator material on b: a reaches energy, so the
        // red evidence and the indicator entity stay on b's own record.
        let mut b2 = b.clone();
        let mut red = ev(160, "ioc");
        red.tlp = Some(ncsoc_model::Tlp::Red);
        let green = ev(161, "scan");
        b2.evidence.push(red.clone());
        b2.evidence.push(green.clone());
        b2.signal_count += 2;
        b2.last_seen = Timestamp::from_secs(161);
        b2.entities.push(Entity {
            kind: "ip".into(),
            value: "192.0.2.66".into(),
            role: "indicator".into(),
        });
        let c = hub.upsert_detected(b2).await.unwrap().unwrap();
        assert_eq!(c.incident.id, "inc-1");
        assert!(c.incident.evidence.contains(&green));
        assert!(!c.incident.evidence.contains(&red));
        assert!(c.incident.entities.iter().all(|e| e.role != "indicator"));
        let b_now = store.incident("inc-2", &Scope::All).await.unwrap().unwrap();
        assert!(b_now.evidence.contains(&red));
        assert_eq!(b_now.sectors, ["finance"]);
    }
}

//! The one path every incident change takes, whoever makes it (the detector, an analyst):
//! written to the store, appended to the change log in the control store, and announced
//! to live subscribers (the SSE stream; the webhook dispatcher wakes on it).

use std::sync::Arc;

use ncsoc_model::{Incident, Timestamp};
use ncsoc_store::control::{Change, ChangeKind};
use ncsoc_store::{ControlStore, Store, StoreError};
use tokio::sync::broadcast;

pub struct IncidentHub {
    pub store: Arc<dyn Store>,
    pub control: Arc<ControlStore>,
    tx: broadcast::Sender<Arc<Change>>,
    /// Serialises read-modify-write of incidents (detector updates against analyst edits).
    pub write_lock: tokio::sync::Mutex<()>,
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
        })
    }

    /// Live changes from now on. A subscriber that lags gets `Lagged` and should re-read
    /// the change log from its last sequence number.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }

    /// Stores `incident` as it now is, logs the change and announces it. Callers hold
    /// `write_lock` around their read-modify-write.
    pub async fn record(
        &self,
        kind: ChangeKind,
        actor: &str,
        incident: Incident,
    ) -> Result<Arc<Change>, StoreError> {
        self.store.put_incident(&incident).await?;
        let at = Timestamp::now();
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
}

//! The replicated layout (`[store.clickhouse] cluster`) against a real cluster: replicated
//! local tables behind Distributed tables, writes, retried writes, reads through `FINAL`,
//! retention on the local tables, the migration of an old incidents table, and the errors
//! of a wrong configuration.
//!
//! Needs `NCSOC_TEST_CLICKHOUSE_URL` and `NCSOC_TEST_CLICKHOUSE_CLUSTER` (a server started
//! with `scripts/clickhouse.sh start --zookeeper HOST:PORT`, cluster `ncsoc_test`, and a
//! ZooKeeper from `scripts/zookeeper.sh start`); skipped with a message without them.

use ncsoc_model::{Entity, Incident, IncidentKind, Indicator, IndicatorKind, Severity, Status};
use ncsoc_model::{Timestamp, Tlp};
use ncsoc_store::clickhouse::ddl::{Cluster, Features, Layout};
use ncsoc_store::clickhouse::ClickHouseStore;
use ncsoc_store::config::ClickHouseConfig;
use ncsoc_store::{synth, EventQuery, IncidentQuery, Scope, Store, StoreError, Table, WriteMode};

const START: Timestamp = Timestamp::from_secs(1_764_201_600); // 2025-11-27T00:00:00Z
const DAY: i64 = 86_400;

fn cluster_env() -> Option<(String, String)> {
    let url = std::env::var("NCSOC_TEST_CLICKHOUSE_URL").unwrap_or_default();
    let cluster = std::env::var("NCSOC_TEST_CLICKHOUSE_CLUSTER").unwrap_or_default();
    if url.is_empty() || cluster.is_empty() {
        eprintln!(
            "skipping: NCSOC_TEST_CLICKHOUSE_URL and NCSOC_TEST_CLICKHOUSE_CLUSTER are not both set \
             (scripts/zookeeper.sh start; scripts/clickhouse.sh start --zookeeper 127.0.0.1:PORT)"
        );
        return None;
    }
    Some((url, cluster))
}

fn config(url: &str, cluster: &str, db: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: url.to_string(),
        database: db.to_string(),
        cluster: cluster.to_string(),
        timeout_secs: 60,
        ..ClickHouseConfig::default()
    }
}

fn admin(url: &str) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(url)
        .with_validation(false)
}

async fn drop_db(url: &str, cluster: &str, db: &str) {
    admin(url)
        .query(&format!(
            "DROP DATABASE IF EXISTS `{db}` ON CLUSTER `{cluster}`"
        ))
        .execute()
        .await
        .unwrap();
}

fn incident(status: Status, updated: i64) -> Incident {
    Incident {
        id: "inc-cluster-1".into(),
        title: "beaconing from Host-7".into(),
        kind: IncidentKind::ALL[0],
        severity: Severity::ALL[2],
        score: 40,
        status,
        sectors: vec!["energy".into()],
        entities: vec![Entity {
            kind: "ip".into(),
            value: "203.0.113.7".into(),
            role: "attacker".into(),
        }],
        first_seen: START,
        last_seen: Timestamp::from_secs(START.secs() + 600),
        evidence: vec![],
        attack: vec![],
        assignee: None,
        notes: vec![],
        tags: vec![],
        dedup_key: "k1".into(),
        signal_count: 1,
        updated_at: Timestamp::from_secs(updated),
        merged_into: None,
        merged_from: vec![],
        merged_signal_count: 0,
    }
}

async fn engines(url: &str, db: &str) -> Vec<(String, String)> {
    admin(url)
        .query("SELECT name, engine FROM system.tables WHERE database = ? ORDER BY name")
        .bind(db)
        .fetch_all::<(String, String)>()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicated_layout_stores_reads_and_ages_rows() {
    let Some((url, cluster)) = cluster_env() else {
        return;
    };
    let db = format!("ncsoc_t_cluster_{}", std::process::id());
    drop_db(&url, &cluster, &db).await;
    let store = ClickHouseStore::connect(&config(&url, &cluster, &db), 0)
        .await
        .unwrap();
    let features = store.ensure_schema().await.unwrap();

    // Every table is a Distributed table over a replicated local table.
    let found = engines(&url, &db).await;
    for t in ["events", "flows", "dead_letters", "incidents", "indicators"] {
        let engine = |n: &str| found.iter().find(|(x, _)| x == n).map(|(_, e)| e.clone());
        assert_eq!(engine(t).as_deref(), Some("Distributed"), "{t}: {found:?}");
        assert!(
            engine(&format!("{t}_local")).is_some_and(|e| e.starts_with("Replicated")),
            "{t}_local: {found:?}"
        );
    }
    let replicas: u64 = admin(&url)
        .query("SELECT count() FROM system.replicas WHERE database = ?")
        .bind(&db)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(replicas, 5);

    // Connecting again to a complete schema queues no `ON CLUSTER` statement (they would
    // wait for every node, and a node may be down when ncsoc restarts).
    let ddl_tasks = || async {
        admin(&url)
            .query("SELECT count() FROM system.zookeeper WHERE path = '/clickhouse/task_queue/ddl'")
            .fetch_one::<u64>()
            .await
            .unwrap()
    };
    let before = ddl_tasks().await;
    ClickHouseStore::connect(&config(&url, &cluster, &db), 0)
        .await
        .unwrap()
        .ensure_schema()
        .await
        .unwrap();
    assert_eq!(ddl_tasks().await, before);

    // Rows written through the Distributed tables are there at once (synchronous inserts),
    // and a retried batch adds nothing.
    let rows: Vec<_> = (0..3_000)
        .map(|i| synth::event("c", i * 97, START))
        .collect();
    let flows = rows.iter().filter(|e| e.is_flow()).count() as u64;
    store.write_events(&rows, WriteMode::Fresh).await.unwrap();
    store.write_events(&rows, WriteMode::Retry).await.unwrap();
    let all = EventQuery::new(Scope::All);
    assert_eq!(store.count(Table::Flows, &all).await.unwrap(), flows);
    assert_eq!(
        store.count(Table::Events, &all).await.unwrap(),
        rows.len() as u64 - flows
    );
    let picked = &rows[1234];
    let table = if picked.is_flow() {
        Table::Flows
    } else {
        Table::Events
    };
    let mut by_id = EventQuery::new(Scope::All);
    by_id.ids = vec![picked.id.clone()];
    let got = store.search(table, &by_id).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, picked.id);
    assert!(store.disk_bytes(Table::Events).await.unwrap() > 0);

    // The latest version of an incident wins through FINAL, the text filter's
    // `IN (SELECT ...)` runs per shard, and a deleted indicator stays deleted.
    store
        .put_incident(&incident(Status::ALL[0], START.secs()))
        .await
        .unwrap();
    let newer = incident(Status::ALL[2], START.secs() + 60);
    store.put_incident(&newer).await.unwrap();
    assert_eq!(
        store.incident(&newer.id, &Scope::All).await.unwrap(),
        Some(newer.clone())
    );
    let mut q = IncidentQuery::new(Scope::All);
    q.text = Some("host-7".into());
    assert_eq!(store.incidents(&q).await.unwrap(), vec![newer.clone()]);
    let ind = Indicator {
        id: "indicator--c1".into(),
        kind: IndicatorKind::Cidr,
        value: "198.51.100.0/24".into(),
        source: "cert".into(),
        confidence: None,
        valid_from: Timestamp::from_secs(0),
        valid_until: None,
        tlp: Tlp::Green,
        labels: vec![],
        description: None,
    };
    store
        .put_indicators(std::slice::from_ref(&ind))
        .await
        .unwrap();
    assert_eq!(store.indicators(10).await.unwrap(), vec![ind.clone()]);
    assert!(store.delete_indicator(&ind.id).await.unwrap());
    assert!(store.indicators(10).await.unwrap().is_empty());

    // Retention: on a server without TTL the old day partitions are dropped from the local
    // tables on every node; the rest stays. (A TTL server ages rows itself.)
    let cutoff = Timestamp::from_secs(START.secs() + DAY);
    store.enforce_retention(cutoff).await.unwrap();
    let mut old = EventQuery::new(Scope::All);
    old.to = Some(cutoff);
    let mut recent = EventQuery::new(Scope::All);
    recent.from = Some(cutoff);
    let recent_rows = rows.iter().filter(|e| e.timestamp >= cutoff).count() as u64;
    let kept = store.count(Table::Events, &recent).await.unwrap()
        + store.count(Table::Flows, &recent).await.unwrap();
    assert_eq!(kept, recent_rows);
    if !features.ttl {
        assert_eq!(store.count(Table::Events, &old).await.unwrap(), 0);
        assert_eq!(store.count(Table::Flows, &old).await.unwrap(), 0);
        let first_day: u64 = admin(&url)
            .query("SELECT count() FROM system.parts WHERE database = ? AND table = 'events_local' AND partition = '20251127' AND active")
            .bind(&db)
            .fetch_one()
            .await
            .unwrap();
        assert_eq!(first_day, 0);
    }
    drop_db(&url, &cluster, &db).await;
}

/// A cluster's incidents tables made before the filter columns get them at connect: the
/// local tables by `ALTER ... ON CLUSTER`, the Distributed table made again, and the
/// stored incidents written again so the filters find them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_cluster_incidents_tables_are_upgraded() {
    let Some((url, cluster)) = cluster_env() else {
        return;
    };
    let db = format!("ncsoc_t_cluster_old_{}", std::process::id());
    drop_db(&url, &cluster, &db).await;
    let version: String = admin(&url)
        .query("SELECT version()")
        .fetch_one()
        .await
        .unwrap();
    let layout = Layout::Cluster(Cluster {
        name: cluster.clone(),
        zookeeper_path: "/clickhouse/tables/{shard}".into(),
        replica_name: "{replica}".into(),
        sharding_key: ncsoc_store::config::DEFAULT_SHARDING_KEY.into(),
    });
    // Today's schema without the filter columns is the old one.
    for stmt in layout.schema(&db, Features::from_version(&version), 0) {
        let old: String = stmt
            .lines()
            .filter(|l| {
                !["`severity_rank`", "`entity_values`", "`search`"]
                    .iter()
                    .any(|c| l.trim_start().starts_with(c))
            })
            .collect::<Vec<_>>()
            .join("\n")
            .replace("`doc` String,\n)", "`doc` String\n)");
        admin(&url).query(&old).execute().await.unwrap();
    }
    let i = incident(Status::ALL[1], START.secs());
    admin(&url)
        .query(&format!(
            "INSERT INTO `{db}`.incidents VALUES (?, 1, ?, ?, ?, ?, ?, ?, ['energy'], ?)"
        ))
        .bind(&i.id)
        .bind(i.first_seen.nanos())
        .bind(i.last_seen.nanos())
        .bind(i.status.as_str())
        .bind(i.severity.as_str())
        .bind(i.kind.as_str())
        .bind(i.score)
        .bind(serde_json::to_string(&i).unwrap())
        .with_setting("insert_distributed_sync", "1")
        .execute()
        .await
        .unwrap();

    let store = ClickHouseStore::connect(&config(&url, &cluster, &db), 0)
        .await
        .unwrap();
    for table in ["incidents_local", "incidents"] {
        let cols: Vec<String> = admin(&url)
            .query("SELECT name FROM system.columns WHERE database = ? AND table = ?")
            .bind(&db)
            .bind(table)
            .fetch_all()
            .await
            .unwrap();
        for c in ["severity_rank", "entity_values", "search"] {
            assert!(cols.iter().any(|x| x == c), "{table} lacks {c}: {cols:?}");
        }
    }
    let mut q = IncidentQuery::new(Scope::All);
    q.entity = Some("203.0.113.7".into());
    q.text = Some("host-7".into());
    assert_eq!(store.incidents(&q).await.unwrap(), vec![i]);
    drop_db(&url, &cluster, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_cluster_settings_are_clear_errors() {
    let Some((url, cluster)) = cluster_env() else {
        return;
    };
    let db = format!("ncsoc_t_cluster_bad_{}", std::process::id());
    let config_error = |r: Result<ClickHouseStore, StoreError>| match r {
        Err(StoreError::Config(m)) => m,
        Err(e) => panic!("not a configuration error: {e}"),
        Ok(_) => panic!("accepted"),
    };

    let e = config_error(ClickHouseStore::connect(&config(&url, "nonesuch", &db), 0).await);
    assert!(
        e.contains("`nonesuch` is not in the server's remote_servers") && e.contains(&cluster),
        "{e}"
    );
    let mut c = config(&url, &cluster, &db);
    c.replica_name = "{no_such_macro}".into();
    let e = config_error(ClickHouseStore::connect(&c, 0).await);
    assert!(
        e.contains("replica_name uses the macro {no_such_macro}"),
        "{e}"
    );

    // A database made for the cluster is not taken for a single server's.
    drop_db(&url, &cluster, &db).await;
    ClickHouseStore::connect(&config(&url, &cluster, &db), 0)
        .await
        .unwrap();
    let e = config_error(ClickHouseStore::connect(&config(&url, "", &db), 0).await);
    assert!(e.contains("is Distributed"), "{e}");
    drop_db(&url, &cluster, &db).await;
}

//! End-to-end store throughput: synthetic events and flows through the real writer path
//! (channel → batch → backend) into SQLite or ClickHouse, for a sweep of batch sizes.
//! Prints a Markdown table: rows/s, and bytes per row on disk. Each batch size is run twice:
//! the writer path (every event cloned into the writer's channel, as intake hands it over),
//! and the store alone (ready batches handed to `Store::write_events`, nothing else timed).
//! Besides wall-clock rows/s it reports rows per CPU-second of the whole process, which a
//! busy shared machine disturbs much less. With `NCSOC_BENCH_KEEP_DB`
//! set, the ClickHouse databases (`ncsoc_bench_<batch>`) are kept for inspection.
//!
//! ```sh
//! cargo run --release -p ncsoc-store --example store_bench -- sqlite 1000000 1000,10000,50000
//! cargo run --release -p ncsoc-store --example store_bench -- clickhouse 1000000 1000,10000,100000 http://127.0.0.1:8123
//! ```

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use ncsoc_model::Timestamp;
use ncsoc_store::clickhouse::ClickHouseStore;
use ncsoc_store::config::Backend;
use ncsoc_store::sqlite::SqliteStore;
use ncsoc_store::{
    synth, EventQuery, Scope, Store, StoreConfig, StoreMetrics, Table, WriteMode, Writer,
};

/// User + system CPU time of this process so far (all threads), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

// The allocator the ncsoc binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn drop_database(url: &str, db: &str) {
    let admin = clickhouse::Client::default()
        .with_url(url)
        .with_validation(false);
    admin
        .query(&format!("DROP DATABASE IF EXISTS {db}"))
        .execute()
        .await
        .unwrap();
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map_or("sqlite", String::as_str);
    let rows: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let batches: Vec<usize> = args
        .get(3)
        .map_or("1000,10000,50000", String::as_str)
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    let url = args
        .get(4)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:8123".into());

    let start = Timestamp::from_secs(1_764_201_600);
    eprintln!("generating {rows} rows...");
    let events: Vec<_> = (0..rows).map(|i| synth::event("bench", i, start)).collect();
    println!(
        "| backend | path | rows | batch size | seconds | rows/s | rows per CPU-second | bytes/row on disk |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (batch, direct) in batches.iter().flat_map(|&b| [(b, false), (b, true)]) {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = StoreConfig {
            data_dir: dir.path().to_path_buf(),
            batch_size: batch,
            batch_max_delay_ms: 1_000,
            channel_capacity: 200_000,
            ..StoreConfig::default()
        };
        let db = format!("ncsoc_bench_{batch}");
        let store: Arc<dyn Store> = match backend {
            "clickhouse" => {
                cfg.backend = Backend::Clickhouse;
                cfg.clickhouse.url = url.clone();
                cfg.clickhouse.database = db.clone();
                drop_database(&url, &db).await;
                Arc::new(ClickHouseStore::connect(&cfg.clickhouse, 0).await.unwrap())
            }
            _ => Arc::new(SqliteStore::open(dir.path(), &cfg).unwrap()),
        };
        let t = Instant::now();
        let cpu = cpu_seconds();
        if direct {
            for chunk in events.chunks(batch) {
                store.write_events(chunk, WriteMode::Fresh).await.unwrap();
            }
        } else {
            let metrics = Arc::new(StoreMetrics::new(store.name()));
            let writer = Writer::start(store.clone(), &cfg, metrics.clone()).unwrap();
            let h = writer.handle();
            for e in events.iter().cloned() {
                h.write(e).await.unwrap();
            }
            drop(h);
            writer.shutdown().await;
            assert_eq!(
                metrics.rows_written.load(Relaxed),
                rows,
                "every row written, none spooled"
            );
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        let all = EventQuery::new(Scope::All);
        let stored = store.count(Table::Events, &all).await.unwrap()
            + store.count(Table::Flows, &all).await.unwrap();
        assert_eq!(stored, rows);
        if backend == "clickhouse" {
            // Let background merges settle before measuring parts on disk.
            let admin = clickhouse::Client::default()
                .with_url(&url)
                .with_database(&db)
                .with_validation(false);
            for t in ["events", "flows"] {
                admin
                    .query(&format!("OPTIMIZE TABLE {t} FINAL"))
                    .execute()
                    .await
                    .unwrap();
            }
        }
        let bytes = store.disk_bytes(Table::Events).await.unwrap()
            + if backend == "clickhouse" {
                store.disk_bytes(Table::Flows).await.unwrap()
            } else {
                0
            };
        println!(
            "| {} | {} | {rows} | {batch} | {secs:.2} | {:.0} | {:.0} | {:.0} |",
            store.name(),
            if direct { "store alone" } else { "writer" },
            rows as f64 / secs,
            rows as f64 / cpu,
            bytes as f64 / rows as f64
        );
        if backend == "clickhouse" && std::env::var_os("NCSOC_BENCH_KEEP_DB").is_none() {
            drop_database(&url, &db).await;
        }
    }
}

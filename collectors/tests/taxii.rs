//! The TAXII 2.1 client against a small TAXII server started on loopback: bearer auth,
//! paging with `more`/`next`, the `added_after` cursor kept across a restart, and the
//! indicators stored.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use ncsoc_collectors::taxii::{self, Client, TaxiiConfig};
use ncsoc_store::Store;
use serde_json::json;

#[derive(Clone, Default)]
struct Server {
    queries: Arc<Mutex<Vec<String>>>,
}

fn identity() -> serde_json::Value {
    json!({"type": "identity", "spec_version": "2.1", "id": "identity--11111111-1111-4111-8111-111111111111",
           "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": "CERT-Test"})
}

fn indicator(n: u32, pattern: &str) -> serde_json::Value {
    json!({"type": "indicator", "spec_version": "2.1", "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
           "created_by_ref": "identity--11111111-1111-4111-8111-111111111111",
           "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
           "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
           "object_marking_refs": ["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"]})
}

async fn objects(
    State(s): State<Server>,
    Path((root, coll)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> axum::response::Response {
    let q = q.unwrap_or_default();
    s.queries.lock().unwrap().push(q.clone());
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer s3cret") {
        return (StatusCode::UNAUTHORIZED, "no").into_response();
    }
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !accept.contains("taxii+json") {
        return (StatusCode::NOT_ACCEPTABLE, "accept").into_response();
    }
    if root != "api1" || coll != "coll-1" {
        return (StatusCode::NOT_FOUND, "no such collection").into_response();
    }
    let (body, last) = if q.contains("next=p2") {
        (
            json!({"more": false, "objects": [identity(), indicator(2, "[domain-name:value = 'c2.evil.example']")]}),
            "2026-01-01T00:00:02.000Z",
        )
    } else if q.contains("added_after=2026-01-01T00%3A00%3A02.000Z") {
        (
            json!({"more": false, "objects": [identity(), indicator(3, "[ipv4-addr:value = '192.0.2.99']")]}),
            "2026-01-01T00:00:03.000Z",
        )
    } else {
        (
            json!({"more": true, "next": "p2", "objects": [identity(), indicator(1, "[ipv4-addr:value = '198.51.100.7' OR ipv4-addr:value = '198.51.100.0/24']")]}),
            "2026-01-01T00:00:01.000Z",
        )
    };
    let mut resp = (StatusCode::OK, body.to_string()).into_response();
    resp.headers_mut()
        .insert("content-type", taxii::ACCEPT.parse().unwrap());
    resp.headers_mut()
        .insert("x-taxii-date-added-last", last.parse().unwrap());
    resp
}

async fn start() -> (std::net::SocketAddr, Server) {
    let server = Server::default();
    let app = axum::Router::new()
        .route("/{root}/collections/{coll}/objects/", get(objects))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, server)
}

fn config(addr: std::net::SocketAddr, secret_env: &str) -> TaxiiConfig {
    let cfg: TaxiiConfig = toml::from_str(&format!(
        "name = \"cert-test\"\nurl = \"http://{addr}/api1/\"\ncollection = \"coll-1\"\nauth = \"bearer\"\nsecret_env = \"{secret_env}\"\ninterval_secs = 3600\npage_size = 2\n"
    ))
    .unwrap();
    cfg.validate().unwrap();
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_pages_with_auth_and_keeps_the_cursor() {
    let (addr, server) = start().await;
    // This test binary has one test: no other thread reads the environment meanwhile.
    std::env::set_var("NCSOC_TEST_TAXII_TOKEN", "s3cret");
    std::env::set_var("NCSOC_TEST_TAXII_BAD", "nope");
    let cfg = config(addr, "NCSOC_TEST_TAXII_TOKEN");

    // One poll by hand: both pages, the indicators with their source and TLP.
    let client = Client::new(&cfg).unwrap();
    let poll = taxii::poll_once(&cfg, &client, None).await.unwrap();
    assert_eq!(poll.pages, 2);
    assert_eq!(poll.objects, 4);
    assert!(poll.invalid_pages.is_empty(), "{:?}", poll.invalid_pages);
    let mut values: Vec<&str> = poll.indicators.iter().map(|i| i.value.as_str()).collect();
    values.sort();
    assert_eq!(
        values,
        ["198.51.100.0/24", "198.51.100.7", "c2.evil.example"]
    );
    assert!(poll
        .indicators
        .iter()
        .all(|i| i.source == "CERT-Test" && i.tlp == ncsoc_model::Tlp::Red));
    assert_eq!(poll.cursor.as_deref(), Some("2026-01-01T00:00:02.000Z"));
    {
        let q = server.queries.lock().unwrap();
        assert_eq!(q[0], "limit=2");
        assert_eq!(q[1], "limit=2&next=p2");
    }

    // A wrong token is an error, not an empty poll.
    let bad = config(addr, "NCSOC_TEST_TAXII_BAD");
    let err = taxii::poll_once(&bad, &Client::new(&bad).unwrap(), None)
        .await
        .unwrap_err();
    assert!(err.contains("HTTP 401"), "{err}");

    // The scheduled poller stores, bumps the version and keeps the cursor; after a
    // restart it asks only for what was added since.
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        ncsoc_store::sqlite::SqliteStore::open(dir.path(), &ncsoc_store::StoreConfig::default())
            .unwrap(),
    );
    let version = Arc::new(AtomicU64::new(0));
    let metrics = Arc::new(taxii::TaxiiMetrics::default());
    let cursor_file = taxii::cursor_path(dir.path(), "cert-test");
    for (round, want_cursor) in [
        (1u64, "2026-01-01T00:00:02.000Z"),
        (2, "2026-01-01T00:00:03.000Z"),
    ] {
        server.queries.lock().unwrap().clear();
        let task = tokio::spawn(taxii::run(
            cfg.clone(),
            Client::new(&cfg).unwrap(),
            dir.path().to_path_buf(),
            store.clone(),
            version.clone(),
            metrics.clone(),
        ));
        let mut waited = 0;
        while version.load(Relaxed) < round
            || taxii::load_cursor(&cursor_file).as_deref() != Some(want_cursor)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
            waited += 1;
            assert!(waited < 1500, "the poller did not finish round {round}");
        }
        task.abort();
        if round == 2 {
            let q = server.queries.lock().unwrap().clone();
            assert_eq!(q, ["limit=2&added_after=2026-01-01T00%3A00%3A02.000Z"]);
        }
    }
    let stored = store.indicators(100).await.unwrap();
    let mut values: Vec<String> = stored.iter().map(|i| i.value.clone()).collect();
    values.sort();
    assert_eq!(
        values,
        [
            "192.0.2.99",
            "198.51.100.0/24",
            "198.51.100.7",
            "c2.evil.example"
        ]
    );
    assert_eq!(metrics.errors.load(Relaxed), 0);
}

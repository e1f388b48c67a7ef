//! CPU cost per row of what the writer does before the backend sees a row: flattening an
//! event into the stored row, its JSON form (spool and `ncsoc parse` output), and reading
//! it back. `cargo bench -p ncsoc-store --bench rows`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ncsoc_model::{Event, Timestamp};
use ncsoc_store::row::{EventRow, EventRowRef};
use ncsoc_store::synth;

fn rows(c: &mut Criterion) {
    let events: Vec<Event> = (0..10_000)
        .map(|i| synth::event("b", i, Timestamp::from_secs(1_764_201_600)))
        .collect();
    let mut g = c.benchmark_group("rows");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("event_to_row", |b| {
        b.iter(|| {
            events
                .iter()
                .map(EventRowRef::from_event)
                .collect::<Vec<_>>()
        })
    });
    // Rows as read back from a store.
    let rows: Vec<EventRow> = events.iter().map(read_back).collect();
    g.bench_function("row_to_event", |b| {
        b.iter_batched(
            || rows.clone(),
            |rows| {
                rows.into_iter()
                    .map(|r| r.into_event().unwrap())
                    .collect::<Vec<_>>()
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("event_to_json", |b| {
        b.iter(|| {
            let mut buf = Vec::with_capacity(8 << 20);
            for e in &events {
                serde_json::to_writer(&mut buf, e).unwrap();
                buf.push(b'\n');
            }
            buf
        })
    });
    let json: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    g.bench_function("json_to_event", |b| {
        b.iter(|| {
            json.iter()
                .map(|s| serde_json::from_str::<Event>(s).unwrap())
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

fn read_back(e: &Event) -> EventRow {
    // The owned row a backend returns is the borrowed one with its strings owned.
    serde_json::from_value(serde_json::to_value(EventRowRef::from_event(e)).unwrap()).unwrap()
}

criterion_group!(benches, rows);
criterion_main!(benches);

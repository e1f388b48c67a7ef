//! Conformance of the JSON intake against third-party data in `../shared/testdata`
//! (skipped, with a message, when that folder is absent):
//!
//! - **suricata-verify** (`eve/suricata-verify/tests/*/test.yaml`, MIT): each `filter`
//!   check lists EVE fields and the values Suricata logs for them. Suricata is not run
//!   here, so each check with `count ≥ 1` is turned into the EVE line it describes (dotted
//!   keys and `[i]` indexes unflattened, plus a `timestamp` and `flow_id` when the check
//!   names none), parsed with format detection, and every listed field must come out with
//!   its value: at its ECS key where the Elastic mapping moves it (`src_ip` →
//!   `source.ip`, `alert.signature_id` → `rule.id`, `tls.sni` →
//!   `tls.client.server_name`, …), else under `suricata.eve.<key>`. Checks with
//!   `count: 0`, `has-key`/`not-has-key` and `__len` assert on Suricata's own output and
//!   are not cases here. `output-eve-fileinfo/expected/eve.json` is a complete EVE line.
//! - **slips EVE** (`eve/slips/dataset/test6-malicious.suricata.json`, 5,000 real lines):
//!   every line must be detected as EVE, parse, and map `src_ip`/`dest_ip`/ports, the
//!   alert signature id and the flow byte sums.
//! - **slips Zeek** directories (JSON and TSV logs, `.labeled` TSV too): every record must
//!   parse, with `@timestamp` = `ts`, `source.*`/`destination.*` = `id.*`, and every
//!   field kept. One TSV row cannot: `test10-mixed-zeek-dir/notice.log` line 21 has a space
//!   where a tab belongs (`-\t- SSH::Password_Guessing`), so its columns shift and `p`
//!   reads `Notice::ACTION_LOG`; the reader rejects it, naming the line and column.
//! - **zeek btest baselines** (TSV, BSD): every row must parse, the row count must match,
//!   `id.*` must map, and every set column must be in the event (at `zeek.<log>.<col>` or
//!   its ECS key). btest masks times as `XXXXXXXXXX.XXXXXX`; those are read as 0, and
//!   `.cut` files (a bare column-name line, as `zeek-cut` writes) get a `#fields` header.
//!
//! The floors are what the parsers achieve today: the test fails if a change makes it
//! worse.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ncsoc_model::{Event, Timestamp};
use ncsoc_parsers::json::{self, Context, JsonFormat, JsonParser, TsvReader};
use serde_json::{json, Map, Value};

const FLOOR_SURICATA_VERIFY: usize = 153;
const FLOOR_SLIPS_EVE: usize = 5000;
const FLOOR_SLIPS_ZEEK: usize = 4578;
const FLOOR_ZEEK_BTEST: usize = 387;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata")
}

fn present(dir: &Path) -> bool {
    if dir.exists() {
        true
    } else {
        println!("SKIP: {} is absent (third-party test data)", dir.display());
        false
    }
}

fn ctx() -> Context {
    Context {
        sector: "test".into(),
        source: "conformance".into(),
        now: Timestamp::parse_rfc3339("2024-01-01T00:00:00Z").unwrap(),
        default_offset_secs: 0,
    }
}

/// The event as the flat dotted-key JSON object `ncsoc parse` prints.
fn flat(e: &Event) -> Map<String, Value> {
    match serde_json::to_value(e).unwrap() {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

// ---------------------------------------------------------------- suricata-verify

/// One `filter` check: its count and `match` fields in file order.
#[derive(Debug)]
struct Filter {
    count: Option<u64>,
    fields: Vec<(String, Value)>,
}

fn yaml_scalar(s: &str) -> Value {
    let s = s.trim();
    if let Some(q) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Value::String(q.replace("''", "'"));
    }
    if let Some(q) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return Value::String(q.replace("\\\"", "\""));
    }
    match s {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        "null" | "~" => return Value::Null,
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        if !(s.len() > 1 && s.starts_with('0')) {
            return Value::from(i);
        }
    }
    if let Ok(f) = s.parse::<f64>() {
        if s.contains('.') && !s.ends_with('.') {
            return Value::from(f);
        }
    }
    Value::String(s.to_owned())
}

/// The `filter` checks of a suricata-verify `test.yaml` (just the shapes used there).
fn filters(yaml: &str) -> Vec<Filter> {
    let mut out: Vec<Filter> = Vec::new();
    let mut match_indent: Option<usize> = None;
    for raw in yaml.lines() {
        let line = raw.trim_end();
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = line.len() - content.len();
        if content.starts_with("- ") || content == "-" {
            match_indent = None;
            if content.trim_start_matches("- ").trim() == "filter:" {
                out.push(Filter {
                    count: None,
                    fields: Vec::new(),
                });
            }
            continue;
        }
        if let Some(mi) = match_indent {
            if indent > mi {
                if let (Some(f), Some((k, v))) = (out.last_mut(), content.split_once(": ")) {
                    f.fields.push((k.trim().to_owned(), yaml_scalar(v)));
                } else if let (Some(f), Some(k)) = (out.last_mut(), content.strip_suffix(':')) {
                    // A nested mapping under a key: not a plain field, make the case invalid.
                    f.fields
                        .push((k.trim().to_owned(), Value::String("<nested>".into())));
                }
                continue;
            }
            match_indent = None;
        }
        if content == "match:" {
            match_indent = Some(indent);
        } else if let Some(c) = content.strip_prefix("count:") {
            if let Some(f) = out.last_mut() {
                f.count = c.trim().parse().ok();
            }
        }
    }
    out
}

/// Splits `a.b[0].c` into path steps.
enum Step {
    Key(String),
    Index(usize),
}

fn steps(key: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            out.push(Step::Key(rest[..i].to_owned()));
            rest = &rest[i..];
            while let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']').unwrap_or(r.len());
                out.push(Step::Index(r[..end].parse().unwrap_or(0)));
                rest = r.get(end + 1..).unwrap_or("");
            }
        } else {
            out.push(Step::Key(rest.to_owned()));
        }
    }
    out
}

fn insert(root: &mut Value, path: &[Step], v: Value) {
    let Some((first, rest)) = path.split_first() else {
        *root = v;
        return;
    };
    let slot = match first {
        Step::Key(k) => {
            if !root.is_object() {
                *root = Value::Object(Map::new());
            }
            root.as_object_mut()
                .unwrap()
                .entry(k.clone())
                .or_insert(Value::Null)
        }
        Step::Index(i) => {
            if !root.is_array() {
                *root = Value::Array(Vec::new());
            }
            let a = root.as_array_mut().unwrap();
            while a.len() <= *i {
                a.push(Value::Null);
            }
            &mut a[*i]
        }
    };
    insert(slot, rest, v);
}

fn lookup<'v>(mut v: &'v Value, path: &[Step]) -> Option<&'v Value> {
    for s in path {
        v = match s {
            Step::Key(k) => v.get(k)?,
            Step::Index(i) => v.get(*i)?,
        };
    }
    Some(v)
}

fn same(a: &Value, b: &Value) -> bool {
    a == b
        || match (a, b) {
            (Value::Number(x), Value::String(y)) | (Value::String(y), Value::Number(x)) => {
                x.to_string() == *y
            }
            (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
            _ => false,
        }
}

/// Where the Elastic-style mapping puts an EVE field, and the value expected there.
fn ecs_location(key: &str, v: &Value) -> Option<(&'static str, Value)> {
    let lower = |v: &Value| Value::String(v.as_str().unwrap_or_default().to_ascii_lowercase());
    Some(match key {
        "src_ip" => ("source.ip", v.clone()),
        "dest_ip" => ("destination.ip", v.clone()),
        "src_port" => ("source.port", v.clone()),
        "dest_port" => ("destination.port", v.clone()),
        "proto" => ("network.transport", lower(v)),
        "community_id" => ("network.community_id", v.clone()),
        "host" => ("observer.hostname", v.clone()),
        "event_type" => ("suricata.eve.event_type", lower(v)),
        "app_proto" => ("suricata.eve.app_proto", lower(v)),
        "flow_id" => ("suricata.eve.flow_id", Value::String(v.to_string())),
        "alert.signature_id" => ("rule.id", Value::String(v.to_string())),
        "alert.signature" => ("rule.name", v.clone()),
        "alert.severity" => ("event.severity", v.clone()),
        "flow.bytes_toserver" => ("source.bytes", v.clone()),
        "flow.bytes_toclient" => ("destination.bytes", v.clone()),
        "flow.pkts_toserver" => ("source.packets", v.clone()),
        "flow.pkts_toclient" => ("destination.packets", v.clone()),
        "tls.sni" => ("tls.client.server_name", v.clone()),
        "tls.subject" => ("tls.server.subject", v.clone()),
        "tls.issuerdn" => ("tls.server.issuer", v.clone()),
        "tls.ja3.hash" => ("tls.client.ja3", v.clone()),
        "tls.ja3s.hash" => ("tls.server.ja3s", v.clone()),
        "dns.rrname" => ("dns.question.name", v.clone()),
        "dns.rrtype" => ("dns.question.type", v.clone()),
        "dns.rcode" => ("dns.response_code", v.clone()),
        "dns.id" => ("dns.id", v.clone()),
        "dns.type" => ("dns.type", v.clone()),
        "http.url" => ("url.original", v.clone()),
        "http.hostname" => ("url.domain", v.clone()),
        "http.status" => ("http.response.status_code", v.clone()),
        "http.length" => ("http.response.body.bytes", v.clone()),
        "http.http_refer" => ("http.request.referrer", v.clone()),
        "fileinfo.filename" => ("file.path", v.clone()),
        "fileinfo.size" => ("file.size", v.clone()),
        "ether.src_mac" => ("source.mac", v.clone()),
        "ether.dest_mac" => ("destination.mac", v.clone()),
        _ => return None,
    })
}

/// Every listed field that did not come out with its value.
fn check_eve_fields(out: &Map<String, Value>, fields: &[(String, Value)]) -> Vec<String> {
    let mut why = Vec::new();
    for (key, want) in fields {
        if key == "timestamp" {
            continue;
        }
        let ok = if key == "alert.action" {
            let t = if want == "blocked" {
                json!("denied")
            } else {
                want.clone()
            };
            out.get("event.type")
                .and_then(Value::as_array)
                .is_some_and(|a| a.contains(&t))
        } else if key == "alert.category" {
            out.get("suricata.eve.alert.category")
                .is_some_and(|v| same(v, want))
        } else if key == "tls.version" {
            // Elastic's tls pipeline: `TLS 1.3` → `1.3`, `TLSv1` → `1.0`; the raw value stays.
            let ecs = match want.as_str().unwrap_or("") {
                "TLS 1.3" => Some("1.3"),
                "TLS 1.2" | "TLSv1.2" => Some("1.2"),
                "TLS 1.1" => Some("1.1"),
                "TLSv1" | "TLS 1.0" => Some("1.0"),
                _ => None,
            };
            out.get("suricata.eve.tls.version")
                .is_some_and(|v| same(v, want))
                && out.get("tls.version").and_then(Value::as_str) == ecs
        } else if key == "src_ip" || key == "dest_ip" {
            // Suricata writes IPv6 uncompressed; the event holds the same address.
            let ecs_key = if key == "src_ip" {
                "source.ip"
            } else {
                "destination.ip"
            };
            let parse = |v: &Value| v.as_str().and_then(|s| s.parse::<std::net::IpAddr>().ok());
            parse(want).is_some() && out.get(ecs_key).and_then(parse) == parse(want)
        } else if let Some((ecs_key, ecs_want)) = ecs_location(key, want) {
            out.get(ecs_key).is_some_and(|v| same(v, &ecs_want))
        } else {
            // Kept under suricata.eve: the array itself is kept, index into it.
            let st = steps(key);
            let split = st
                .iter()
                .position(|s| matches!(s, Step::Index(_)))
                .unwrap_or(st.len());
            let base: Vec<&str> = st[..split]
                .iter()
                .map(|s| match s {
                    Step::Key(k) => k.as_str(),
                    Step::Index(_) => "",
                })
                .collect();
            let flat_key = format!("suricata.eve.{}", base.join("."));
            out.get(&flat_key)
                .and_then(|v| lookup(v, &st[split..]))
                .is_some_and(|v| same(v, want))
        };
        if !ok {
            why.push(format!("{key}: expected {want}"));
        }
    }
    why
}

#[test]
fn suricata_verify_checks() {
    let dir = testdata().join("eve/suricata-verify/tests");
    if !present(&dir) {
        return;
    }
    let mut tests: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().join("test.yaml"))
        .filter(|p| p.exists())
        .collect();
    tests.sort();
    let (mut cases, mut pass, mut skipped) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut parser = JsonParser::new();
    for t in &tests {
        let name = t.parent().unwrap().file_name().unwrap().to_string_lossy();
        let yaml = std::fs::read_to_string(t).unwrap();
        for (i, f) in filters(&yaml).iter().enumerate() {
            let special = f
                .fields
                .iter()
                .any(|(k, v)| k.contains("has-key") || k.contains("__") || v == "<nested>");
            if f.count.unwrap_or(0) == 0 || f.fields.is_empty() || special {
                skipped += 1;
                continue;
            }
            cases += 1;
            let mut doc = Value::Object(Map::new());
            for (k, v) in &f.fields {
                insert(&mut doc, &steps(k), v.clone());
            }
            let obj = doc.as_object_mut().unwrap();
            obj.entry("timestamp")
                .or_insert(json!("2024-01-01T00:00:00.000000+0000"));
            obj.entry("flow_id").or_insert(json!(1));
            obj.entry("event_type").or_insert(json!("alert"));
            let line = serde_json::to_string(&doc).unwrap();
            let mut buf = line.clone().into_bytes();
            if json::detect(&mut buf.clone()).ok() != Some(JsonFormat::Eve) {
                failures.push(format!("{name}#{i}: not detected as EVE"));
                continue;
            }
            match parser.parse(&mut buf, &ctx()) {
                Ok(e) => {
                    let why = check_eve_fields(&flat(&e), &f.fields);
                    if why.is_empty() {
                        pass += 1;
                    } else {
                        failures.push(format!("{name}#{i}: {}", why.join("; ")));
                    }
                }
                Err(err) => failures.push(format!("{name}#{i}: {err}")),
            }
        }
    }
    println!(
        "suricata-verify: {pass}/{cases} filter checks mapped ({skipped} not applicable) from {} tests",
        tests.len()
    );
    for f in &failures {
        println!("  FAIL {f}");
    }
    assert!(
        pass >= FLOOR_SURICATA_VERIFY,
        "{pass} < floor {FLOOR_SURICATA_VERIFY}"
    );

    // The one complete expected EVE line.
    let mut line = std::fs::read(dir.join("output-eve-fileinfo/expected/eve.json")).unwrap();
    let want: Value = serde_json::from_slice(&line).unwrap();
    let e = parser.parse(&mut line, &ctx()).unwrap();
    let out = flat(&e);
    assert_eq!(out["source.ip"], want["src_ip"]);
    assert_eq!(out["destination.port"], want["dest_port"]);
    assert_eq!(out["network.transport"], json!("tcp"));
    assert_eq!(out["network.protocol"], json!("http"));
    assert_eq!(out["url.original"], want["http"]["url"]);
    assert_eq!(out["url.domain"], want["http"]["hostname"]);
    assert_eq!(out["file.path"], want["fileinfo"]["filename"]);
    assert_eq!(out["file.size"], want["fileinfo"]["size"]);
    assert_eq!(out["suricata.eve.fileinfo.state"], json!("CLOSED"));
    assert_eq!(out["@timestamp"], json!("2016-06-08T20:01:52.875791Z"));
    assert_eq!(out["event.category"], json!(["network", "file"]));
}

// ---------------------------------------------------------------- slips EVE

#[test]
fn slips_eve_every_line() {
    let path = testdata().join("eve/slips/dataset/test6-malicious.suricata.json");
    if !present(&path) {
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let mut parser = JsonParser::new();
    let (mut lines, mut pass) = (0, 0);
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        lines += 1;
        let want: Value = serde_json::from_str(line).unwrap();
        let mut buf = line.as_bytes().to_vec();
        let e = match parser.parse(&mut buf, &ctx()) {
            Ok(e) => e,
            Err(err) => {
                failures.push(format!("line {}: {err}", n + 1));
                continue;
            }
        };
        let out = flat(&e);
        let mut why = Vec::new();
        let mut eq = |k: &str, got: Option<&Value>, w: &Value| {
            if !w.is_null() && got.is_none_or(|g| !same(g, w)) {
                why.push(format!("{k}: got {got:?}, expected {w}"));
            }
        };
        eq("source.ip", out.get("source.ip"), &want["src_ip"]);
        eq(
            "destination.ip",
            out.get("destination.ip"),
            &want["dest_ip"],
        );
        eq("source.port", out.get("source.port"), &want["src_port"]);
        eq(
            "destination.port",
            out.get("destination.port"),
            &want["dest_port"],
        );
        let et = want["event_type"].as_str().unwrap_or("");
        if et == "alert" {
            eq(
                "rule.id",
                out.get("rule.id"),
                &want["alert"]["signature_id"],
            );
            eq(
                "rule.name",
                out.get("rule.name"),
                &want["alert"]["signature"],
            );
            eq("event.kind", out.get("event.kind"), &json!("alert"));
        }
        if et == "flow" {
            let f = &want["flow"];
            let sum = f["bytes_toserver"].as_u64().unwrap_or(0)
                + f["bytes_toclient"].as_u64().unwrap_or(0);
            if sum > 0 {
                eq("network.bytes", out.get("network.bytes"), &json!(sum));
            }
            eq("flow.version", out.get("flow.version"), &json!("suricata"));
        }
        if et == "dns" && want["dns"]["rrname"].is_string() {
            eq(
                "dns.question.name",
                out.get("dns.question.name"),
                &want["dns"]["rrname"],
            );
        }
        if e.id.len() != 26 || e.fields.original.as_deref() != Some(line) {
            why.push("event.id or event.original".into());
        }
        if why.is_empty() {
            pass += 1;
            *by_type.entry(et.to_owned()).or_default() += 1;
        } else {
            failures.push(format!("line {}: {}", n + 1, why.join("; ")));
        }
    }
    println!("slips EVE: {pass}/{lines} lines parsed and mapped; by event_type: {by_type:?}");
    for f in failures.iter().take(20) {
        println!("  FAIL {f}");
    }
    assert!(pass >= FLOOR_SLIPS_EVE, "{pass} < floor {FLOOR_SLIPS_EVE}");
}

// ---------------------------------------------------------------- Zeek

/// Outcome of one Zeek log file: records seen and records that matched.
#[derive(Default, Debug)]
struct Tally {
    records: usize,
    pass: usize,
    failures: Vec<String>,
}

fn is_masked_time(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b == b'X' || b == b'.') && v.contains('X')
}

/// Checks a TSV log (`#` header, or a bare column line for `.cut` files).
fn check_tsv(path: &Path, text: &str, strict_columns: bool, t: &mut Tally) {
    let file = path.file_name().unwrap().to_string_lossy().to_string();
    let mut reader = TsvReader::new(Some(&file));
    let mut columns: Vec<String> = Vec::new();
    let mut sep = "\t".to_owned();
    let mut unset = "-".to_owned();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if !lines.iter().any(|l| l.starts_with("#fields")) {
        // zeek-cut output: the first non-comment line names the columns.
        if let Some(i) = lines.iter().position(|l| !l.starts_with('#')) {
            lines[i] = format!("#fields\t{}", lines[i]);
        }
    }
    for (n, line) in lines.iter().enumerate() {
        if let Some(h) = line.strip_prefix("#fields") {
            columns = h.split(sep.as_str()).skip(1).map(str::to_owned).collect();
        } else if let Some(u) = line.strip_prefix("#unset_field") {
            unset = u.trim_start_matches(sep.as_str()).to_owned();
        } else if line.starts_with("#separator") {
            sep = "\t".into();
        }
        let is_row = !line.trim_start().starts_with('#') && !line.is_empty();
        // btest masks times: read them as 0.
        let fed: String = if is_row {
            line.split(sep.as_str())
                .map(|v| if is_masked_time(v) { "0.000000" } else { v })
                .collect::<Vec<_>>()
                .join(sep.as_str())
        } else {
            line.clone()
        };
        let res = reader.push_line(fed.as_bytes(), &ctx());
        if !is_row {
            if let Err(err) = res {
                t.failures.push(format!("{file}:{}: header: {err}", n + 1));
            }
            continue;
        }
        t.records += 1;
        let e = match res {
            Ok(Some(e)) => e,
            Ok(None) => {
                t.failures.push(format!("{file}:{}: no event", n + 1));
                continue;
            }
            Err(err) => {
                t.failures.push(format!("{file}:{}: {err}", n + 1));
                continue;
            }
        };
        let values: Vec<&str> = fed.split(sep.as_str()).collect();
        let out = flat(&e);
        let log = reader
            .log()
            .map(|l| l.name().to_owned())
            .unwrap_or_default();
        let mut why = Vec::new();
        for (col, v) in columns.iter().zip(&values) {
            if *v == unset {
                continue;
            }
            let ecs = match col.as_str() {
                "id.orig_h" => Some("source.ip"),
                "id.resp_h" => Some("destination.ip"),
                "id.orig_p" => Some("source.port"),
                "id.resp_p" => Some("destination.port"),
                "uid" => Some("zeek.session_id"),
                "proto" => Some("network.transport"),
                "community_id" => Some("network.community_id"),
                "ts" => Some("@timestamp"),
                "query" if log == "dns" => Some("dns.question.name"),
                "server_name" if log == "ssl" => Some("tls.client.server_name"),
                _ => None,
            };
            match ecs {
                Some("@timestamp") => {
                    let want = v.parse::<f64>().ok().and_then(json::epoch_to_ts);
                    if want != Some(e.timestamp) {
                        why.push(format!("ts {v} → {:?}", e.timestamp));
                    }
                }
                Some(k @ ("source.ip" | "destination.ip")) => {
                    let want: Option<std::net::IpAddr> = v.parse().ok();
                    let got = out
                        .get(k)
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse().ok());
                    if want != got {
                        why.push(format!("{col}={v} → {k}={got:?}"));
                    }
                }
                Some(k @ ("source.port" | "destination.port")) => {
                    if out.get(k).map(Value::to_string).as_deref() != Some(v) {
                        why.push(format!("{col}={v} → {k}={:?}", out.get(k)));
                    }
                }
                Some(k) => {
                    if !out.contains_key(k) {
                        why.push(format!("{col} → {k} missing"));
                    }
                }
                None => {
                    if strict_columns && !out.contains_key(&format!("zeek.{log}.{col}")) {
                        why.push(format!("zeek.{log}.{col} missing"));
                    }
                }
            }
        }
        if why.is_empty() {
            t.pass += 1;
        } else {
            t.failures
                .push(format!("{file}:{}: {}", n + 1, why.join("; ")));
        }
    }
}

/// Checks a Zeek JSON log, one record per line.
fn check_json(path: &Path, text: &str, t: &mut Tally) {
    let file = path.file_name().unwrap().to_string_lossy().to_string();
    let mut parser = JsonParser::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        t.records += 1;
        let want: Value = serde_json::from_str(line).unwrap();
        let mut buf = line.as_bytes().to_vec();
        let e = match parser.parse_zeek(Some(&file), &mut buf, &ctx()) {
            Ok(e) => e,
            Err(err) => {
                t.failures.push(format!("{file}:{}: {err}", n + 1));
                continue;
            }
        };
        let out = flat(&e);
        let mut why = Vec::new();
        for (zk, ek) in [
            ("id.orig_h", "source.ip"),
            ("id.resp_h", "destination.ip"),
            ("id.orig_p", "source.port"),
            ("id.resp_p", "destination.port"),
        ] {
            if let Some(w) = want.get(zk) {
                let ok = match (w, out.get(ek)) {
                    (Value::String(ws), Some(Value::String(g))) => {
                        ws.parse::<std::net::IpAddr>().ok() == g.parse().ok()
                    }
                    (w, Some(g)) => same(w, g),
                    _ => false,
                };
                if !ok {
                    why.push(format!("{zk}={w} → {ek}={:?}", out.get(ek)));
                }
            }
        }
        if let Some(ts) = want.get("ts") {
            let w = match ts {
                Value::Number(n) => n.as_f64().and_then(json::epoch_to_ts),
                Value::String(s) => json::parse_time_str(s),
                _ => None,
            };
            if w != Some(e.timestamp) {
                why.push(format!("ts {ts} → {:?}", e.timestamp));
            }
        }
        // Every top-level field is somewhere in the event.
        let log = e.fields.dataset.clone().unwrap_or_default();
        for k in want.as_object().unwrap().keys() {
            let mapped = matches!(
                k.as_str(),
                "ts" | "uid"
                    | "id.orig_h"
                    | "id.orig_p"
                    | "id.resp_h"
                    | "id.resp_p"
                    | "proto"
                    | "community_id"
                    | "_path"
                    | "_write_ts"
            ) || (log == "zeek.dns" && k == "query")
                || (log == "zeek.ssl" && k == "server_name");
            let nested = out.keys().any(|o| o.starts_with(&format!("{log}.{k}.")));
            if !mapped && !nested && !out.contains_key(&format!("{log}.{k}")) {
                why.push(format!("{k} not kept"));
            }
        }
        if why.is_empty() {
            t.pass += 1;
        } else {
            t.failures
                .push(format!("{file}:{}: {}", n + 1, why.join("; ")));
        }
    }
}

fn log_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            log_files(&p, out);
        } else {
            let name = p.file_name().unwrap().to_string_lossy();
            if name.ends_with(".log")
                || name.ends_with(".log.labeled")
                || name.ends_with(".log.cut")
            {
                out.push(p);
            }
        }
    }
    out.sort();
}

#[test]
fn slips_zeek_logs() {
    let dir = testdata().join("zeek/slips/dataset");
    if !present(&dir) {
        return;
    }
    let mut files = Vec::new();
    log_files(&dir, &mut files);
    let (mut json_t, mut tsv_t) = (Tally::default(), Tally::default());
    for f in &files {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        if text.trim_start().starts_with('{') {
            check_json(f, &text, &mut json_t);
        } else {
            check_tsv(f, &text, true, &mut tsv_t);
        }
    }
    println!(
        "slips Zeek: JSON {}/{} records, TSV {}/{} rows, {} files",
        json_t.pass,
        json_t.records,
        tsv_t.pass,
        tsv_t.records,
        files.len()
    );
    for f in json_t.failures.iter().chain(&tsv_t.failures).take(30) {
        println!("  FAIL {f}");
    }
    let pass = json_t.pass + tsv_t.pass;
    assert!(
        pass >= FLOOR_SLIPS_ZEEK,
        "{pass} < floor {FLOOR_SLIPS_ZEEK}"
    );
}

#[test]
fn zeek_btest_baselines() {
    let dir = testdata().join("zeek/zeek-btest/testing/btest/Baseline");
    if !present(&dir) {
        return;
    }
    let mut files = Vec::new();
    log_files(&dir, &mut files);
    let mut t = Tally::default();
    for f in &files {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        check_tsv(f, &text, true, &mut t);
    }
    println!(
        "zeek btest: {}/{} rows in {} logs",
        t.pass,
        t.records,
        files.len()
    );
    for f in t.failures.iter().take(30) {
        println!("  FAIL {f}");
    }
    assert!(
        t.pass >= FLOOR_ZEEK_BTEST,
        "{} < floor {FLOOR_ZEEK_BTEST}",
        t.pass
    );
}

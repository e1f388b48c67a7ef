//! Conformance of the CEF parser against third-party vectors in `../shared/testdata/cef/`:
//!
//! - `liblognorm/liblognorm-cef-test-vectors.json`: 15 edge cases from liblognorm's
//!   `field_cef.sh`; `expected_json.f` holds the header and extensions, `unparsed-data`
//!   marks inputs liblognorm rejects (which must be an error here too).
//! - `netty-codec-syslog/…/cef/*.json`: 4 syslog-wrapped messages with netty's result.
//! - `vrl/docs/generated/parse_cef.json`: 7 examples of Vector's `parse_cef`.
//!
//! Known, deliberate differences (each set's floor is what this parser reaches):
//!
//! - liblognorm rejects `CEF:1|…` (the case with `aa=field1 bb=this is a \= value`). CEF
//!   1.x is a published revision of the format and Vector accepts it (see the VRL
//!   "Ignore syslog header" example), so this parser reads it: 14/15.
//! - netty-codec-syslog does not resolve escapes: it reports `act=blocked a \=` as
//!   `blocked a \=` and the header `detected a \\ in packet` as written. The CEF
//!   specification (and liblognorm, Vector and Elastic) resolve them, as this parser does.
//!   cef001, cef002 and cef003 therefore differ in exactly those fields; they are counted
//!   as matching "after escapes" when netty's value with CEF escapes resolved equals ours:
//!   1/4 exact, 4/4 after escapes.
//! - VRL: all 7 match (its `strict: false` leniency for unescaped `=` is this parser's
//!   normal behaviour; `translate_custom_fields` is [`Message::custom_fields`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ncsoc_model::Timestamp;
use ncsoc_parsers::cef::{full_name, parse, Context, Message};
use serde_json::Value;

const FLOOR_LIBLOGNORM: usize = 14;
const FLOOR_NETTY_EXACT: usize = 1;
const FLOOR_NETTY_AFTER_ESCAPES: usize = 4;
const FLOOR_VRL: usize = 7;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/cef")
}

fn ctx() -> Context {
    Context {
        sector: "test".into(),
        source: "vectors".into(),
        // netty's vectors were recorded in 2018 (year-less syslog dates).
        now: Timestamp::parse_rfc3339("2018-12-31T23:59:59Z").unwrap(),
        default_offset_secs: 0,
    }
}

fn ext_map(m: &Message<'_>) -> BTreeMap<String, String> {
    m.extensions
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn str_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn check(
    why: &mut Vec<String>,
    field: &str,
    ours: impl PartialEq + std::fmt::Debug,
    theirs: impl PartialEq + std::fmt::Debug,
) {
    let (o, t) = (format!("{ours:?}"), format!("{theirs:?}"));
    if o != t {
        why.push(format!("{field}: got {o}, expected {t}"));
    }
}

fn report(name: &str, matches: usize, total: usize, failures: &[String]) {
    println!("{name}: {matches}/{total} match");
    for f in failures {
        println!("  {f}");
    }
}

fn liblognorm() -> (usize, usize) {
    let path = testdata().join("liblognorm/liblognorm-cef-test-vectors.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = v[0]["cases"].as_array().unwrap();
    let c = ctx();
    let mut matches = 0;
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let input = case["input"].as_str().unwrap();
        let exp = &case["expected_json"];
        let mut why = Vec::new();
        match (parse(input.as_bytes(), &c), exp.get("f")) {
            (Ok(m), Some(f)) => {
                check(
                    &mut why,
                    "DeviceVendor",
                    &*m.device_vendor,
                    f["DeviceVendor"].as_str().unwrap(),
                );
                check(
                    &mut why,
                    "DeviceProduct",
                    &*m.device_product,
                    f["DeviceProduct"].as_str().unwrap(),
                );
                check(
                    &mut why,
                    "DeviceVersion",
                    &*m.device_version,
                    f["DeviceVersion"].as_str().unwrap(),
                );
                check(
                    &mut why,
                    "SignatureID",
                    &*m.device_event_class_id,
                    f["SignatureID"].as_str().unwrap(),
                );
                check(&mut why, "Name", &*m.name, f["Name"].as_str().unwrap());
                check(
                    &mut why,
                    "Severity",
                    &*m.severity,
                    f["Severity"].as_str().unwrap(),
                );
                check(
                    &mut why,
                    "Extensions",
                    ext_map(&m),
                    str_map(f.get("Extensions")),
                );
            }
            (Err(_), None) => {}
            (Ok(_), None) => why.push("parsed, but liblognorm rejects it".into()),
            (Err(e), Some(_)) => why.push(format!("parse error: {e}")),
        }
        if why.is_empty() {
            matches += 1;
        } else {
            failures.push(format!("case {i} {input:.60?}: {}", why.join("; ")));
        }
    }
    report("liblognorm", matches, cases.len(), &failures);
    (matches, cases.len())
}

/// Resolves CEF escapes in a value as netty reports it (netty keeps them as written).
fn resolve_escapes(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(ch);
        }
    }
    out
}

fn netty() -> (usize, usize, usize) {
    let dir = testdata()
        .join("netty-codec-syslog/src/test/resources/com/github/jcustenborder/netty/syslog/cef");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let c = ctx();
    let (mut exact, mut after) = (0, 0);
    let mut failures = Vec::new();
    for path in &files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let input = v["input"].as_str().unwrap();
        let exp = &v["expected"];
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let m = match parse(input.as_bytes(), &c) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{file}: parse error: {e}"));
                continue;
            }
        };
        let compare = |resolve: bool| {
            let fix = |s: &str| {
                if resolve {
                    resolve_escapes(s)
                } else {
                    s.to_string()
                }
            };
            let text = |k: &str| fix(exp[k].as_str().unwrap_or_default());
            let mut why = Vec::new();
            let syslog = m.syslog.as_ref();
            check(
                &mut why,
                "host",
                syslog.and_then(|s| s.hostname),
                exp["host"].as_str(),
            );
            let date =
                Timestamp::parse_rfc3339(&format!("{}Z", exp["date"].as_str().unwrap())).ok();
            check(&mut why, "date", syslog.and_then(|s| s.timestamp), date);
            check(
                &mut why,
                "version",
                u64::from(m.version),
                exp["version"].as_u64().unwrap(),
            );
            check(
                &mut why,
                "deviceVendor",
                m.device_vendor.to_string(),
                text("deviceVendor"),
            );
            check(
                &mut why,
                "deviceProduct",
                m.device_product.to_string(),
                text("deviceProduct"),
            );
            check(
                &mut why,
                "deviceVersion",
                m.device_version.to_string(),
                text("deviceVersion"),
            );
            check(
                &mut why,
                "deviceEventClassId",
                m.device_event_class_id.to_string(),
                text("deviceEventClassId"),
            );
            check(&mut why, "name", m.name.to_string(), text("name"));
            check(
                &mut why,
                "severity",
                m.severity.to_string(),
                text("severity"),
            );
            let theirs: BTreeMap<String, String> = str_map(exp.get("extension"))
                .into_iter()
                .map(|(k, v)| (k, fix(&v)))
                .collect();
            check(&mut why, "extension", ext_map(&m), theirs);
            why
        };
        let strict = compare(false);
        if strict.is_empty() {
            exact += 1;
            after += 1;
            continue;
        }
        let resolved = compare(true);
        if resolved.is_empty() {
            after += 1;
            failures.push(format!(
                "{file}: matches after escapes ({})",
                strict.join("; ")
            ));
        } else {
            failures.push(format!("{file}: {}", resolved.join("; ")));
        }
    }
    println!(
        "netty-codec-syslog: {exact}/{} exact, {after}/{} after escapes",
        files.len(),
        files.len()
    );
    for f in &failures {
        println!("  {f}");
    }
    (exact, after, files.len())
}

/// The CEF text of a VRL example's `source`: its first string literal (`"…"` with VRL
/// escapes, or the raw `s'…'`).
fn vrl_input(source: &str) -> Option<String> {
    if let Some(start) = source.find("s'") {
        let body = &source[start + 2..];
        return Some(body[..body.find('\'')?].to_string());
    }
    let start = source.find('"')?;
    let mut out = String::new();
    let mut chars = source[start + 1..].chars();
    while let Some(ch) = chars.next() {
        match ch {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                other => out.push(other),
            },
            _ => out.push(ch),
        }
    }
    None
}

fn vrl() -> (usize, usize) {
    let path = testdata().join("vrl/docs/generated/parse_cef.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let examples = v["examples"].as_array().unwrap();
    let c = ctx();
    let mut matches = 0;
    let mut failures = Vec::new();
    for ex in examples {
        let title = ex["title"].as_str().unwrap_or_default();
        let source = ex["source"].as_str().unwrap();
        let input = vrl_input(source).unwrap();
        let translate = source.contains("translate_custom_fields: true");
        let m = match parse(input.as_bytes(), &c) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{title}: parse error: {e}"));
                continue;
            }
        };
        let mut ours: BTreeMap<String, String> = BTreeMap::new();
        ours.insert("cefVersion".into(), m.version.to_string());
        ours.insert("deviceVendor".into(), m.device_vendor.to_string());
        ours.insert("deviceProduct".into(), m.device_product.to_string());
        ours.insert("deviceVersion".into(), m.device_version.to_string());
        ours.insert(
            "deviceEventClassId".into(),
            m.device_event_class_id.to_string(),
        );
        ours.insert("name".into(), m.name.to_string());
        ours.insert("severity".into(), m.severity.to_string());
        let paired: Vec<&str> = if translate {
            m.extensions
                .iter()
                .filter(|(k, _)| {
                    let full = full_name(k);
                    full.ends_with("Label")
                        || m.extensions
                            .iter()
                            .any(|(l, _)| full_name(l) == format!("{full}Label"))
                })
                .map(|(k, _)| *k)
                .collect()
        } else {
            Vec::new()
        };
        for (k, val) in &m.extensions {
            if !paired.contains(k) {
                ours.insert(k.to_string(), val.to_string());
            }
        }
        if translate {
            for (label, val) in m.custom_fields() {
                ours.insert(label.to_string(), val.to_string());
            }
        }
        let theirs = str_map(ex.get("return"));
        let mut why = Vec::new();
        check(&mut why, "result", &ours, &theirs);
        if why.is_empty() {
            matches += 1;
        } else {
            failures.push(format!("{title}: {}", why.join("; ")));
        }
    }
    report("vrl", matches, examples.len(), &failures);
    (matches, examples.len())
}

#[test]
fn cef_vectors() {
    if !testdata().is_dir() {
        println!("skipping: ../shared/testdata/cef not found");
        return;
    }
    let (l_ok, l_n) = liblognorm();
    let (n_exact, n_after, n_n) = netty();
    let (v_ok, v_n) = vrl();
    assert!(l_n > 0 && n_n > 0 && v_n > 0, "no vectors found");
    assert!(
        l_ok >= FLOOR_LIBLOGNORM,
        "liblognorm: {l_ok}/{l_n}, floor {FLOOR_LIBLOGNORM}"
    );
    assert!(
        n_exact >= FLOOR_NETTY_EXACT,
        "netty exact: {n_exact}/{n_n}, floor {FLOOR_NETTY_EXACT}"
    );
    assert!(
        n_after >= FLOOR_NETTY_AFTER_ESCAPES,
        "netty after escapes: {n_after}/{n_n}, floor {FLOOR_NETTY_AFTER_ESCAPES}"
    );
    assert!(v_ok >= FLOOR_VRL, "vrl: {v_ok}/{v_n}, floor {FLOOR_VRL}");
}

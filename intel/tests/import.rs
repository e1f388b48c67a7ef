//! Import behaviour on small hand-made documents: TLP markings (1.0, 2.0, in-bundle
//! definitions, granular), versions, revocation, MISP tags and composite types.

use ncsoc_intel::{import, ImportError, Options};
use ncsoc_model::{IndicatorKind, Tlp};
use serde_json::json;

fn run(doc: serde_json::Value) -> Result<ncsoc_intel::Imported, ImportError> {
    import(doc.to_string().as_bytes(), &Options::default()).map(|(_, i)| i)
}

fn indicator(id: &str, pattern: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut o = json!({
        "type": "indicator", "spec_version": "2.1", "id": id,
        "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
        "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"
    });
    for (k, v) in extra.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

fn bundle(objects: Vec<serde_json::Value>) -> serde_json::Value {
    json!({"type": "bundle", "id": "bundle--11111111-1111-4111-8111-111111111111", "objects": objects})
}

const A: &str = "indicator--aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const B: &str = "indicator--bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

#[test]
fn tlp_markings_most_restrictive_wins() {
    let red2 = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
    let strict = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003";
    let green1 = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
    let custom = "marking-definition--cccccccc-cccc-4ccc-8ccc-cccccccccccc";
    let got = run(bundle(vec![
        json!({"type": "marking-definition", "spec_version": "2.1", "id": custom,
               "created": "2026-01-01T00:00:00Z", "name": "TLP:AMBER+STRICT",
               "extensions": {"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {"extension_type": "property-extension", "tlp_2_0": "amber+strict"}}}),
        indicator(A, "[ipv4-addr:value = '192.0.2.1']", json!({"object_marking_refs": [green1, red2]})),
        indicator(B, "[ipv4-addr:value = '192.0.2.2']", json!({"object_marking_refs": [green1],
            "granular_markings": [{"marking_ref": custom, "selectors": ["description"]}]})),
        indicator("indicator--dddddddd-dddd-4ddd-8ddd-dddddddddddd", "[ipv4-addr:value = '192.0.2.3']", json!({"object_marking_refs": [strict]})),
        indicator("indicator--eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee", "[ipv4-addr:value = '192.0.2.4']", json!({})),
    ]))
    .unwrap();
    let tlp: Vec<(&str, Tlp)> = got
        .indicators
        .iter()
        .map(|i| (i.value.as_str(), i.tlp))
        .collect();
    assert_eq!(
        tlp,
        [
            ("192.0.2.1", Tlp::Red),
            ("192.0.2.2", Tlp::AmberStrict),
            ("192.0.2.3", Tlp::AmberStrict),
            ("192.0.2.4", Tlp::Clear)
        ]
    );
}

#[test]
fn the_latest_version_counts_and_revoked_ones_are_skipped() {
    let got = run(bundle(vec![
        indicator(A, "[ipv4-addr:value = '192.0.2.1']", json!({})),
        indicator(A, "[ipv4-addr:value = '192.0.2.9']", json!({"modified": "2026-02-01T00:00:00Z", "confidence": 85, "valid_until": "2026-03-01T00:00:00Z"})),
        indicator(B, "[domain-name:value = 'x.example']", json!({"revoked": true})),
    ]))
    .unwrap();
    assert_eq!(got.indicators.len(), 1);
    let i = &got.indicators[0];
    assert_eq!((i.value.as_str(), i.confidence), ("192.0.2.9", Some(85)));
    assert_eq!(
        i.valid_until.unwrap().to_rfc3339(),
        "2026-03-01T00:00:00.000Z"
    );
    assert!(i.id.starts_with(A));
    assert_eq!(got.skipped[0].reason, "revoked");
}

#[test]
fn invalid_objects_are_rejected_with_every_reason() {
    let err = run(bundle(vec![
        indicator(A, "[ipv4-addr:value = '192.0.2.1']", json!({"valid_from": "2026-01-01T00:00:00+01:00"})),
        indicator("indicator--nope", "[ipv4-addr:value = '192.0.2.1']", json!({})),
        indicator(B, "[ipv4-addr:value = '192.0.2.1']", json!({"valid_until": "2025-01-01T00:00:00Z", "confidence": 101})),
        json!({"type": "indicator", "spec_version": "2.1", "id": "indicator--ffffffff-ffff-4fff-8fff-ffffffffffff", "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}),
    ]))
    .unwrap_err();
    let text = err.to_string();
    for want in [
        "`valid_from` must be an RFC 3339 timestamp in UTC",
        "`id` must be `indicator--<uuid>`",
        "`valid_until` must be later than `valid_from`",
        "`confidence` must be an integer from 0 to 100",
        "required property `pattern` is missing",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    // A pattern that does not parse is reported with its position, not fatal.
    let got = run(bundle(vec![indicator(
        A,
        "[ipv4-addr:value = '1.2.3.4'",
        json!({}),
    )]))
    .unwrap();
    assert!(
        got.skipped[0]
            .reason
            .contains("pattern syntax error at byte"),
        "{:?}",
        got.skipped
    );
}

#[test]
fn misp_tags_composites_and_to_ids() {
    let doc = json!({"response": [{"Event": {
        "uuid": "5e1f0000-0000-4000-8000-000000000001", "info": "Campaign X", "date": "2026-01-05",
        "Orgc": {"name": "CERT-Example"},
        "Tag": [{"name": "tlp:amber"}, {"name": "campaign:x"}],
        "Attribute": [
            {"uuid": "5e1f0000-0000-4000-8000-00000000000a", "type": "domain|ip", "value": "evil.example|198.51.100.7", "to_ids": true, "category": "Network activity"},
            {"uuid": "5e1f0000-0000-4000-8000-00000000000b", "type": "ip-dst|port", "value": "2001:db8::5|443", "to_ids": "1", "Tag": [{"name": "tlp:red"}]},
            {"uuid": "5e1f0000-0000-4000-8000-00000000000c", "type": "ip-dst", "value": "203.0.113.0/24", "to_ids": true, "first_seen": "2026-01-02T00:00:00.000000+00:00"},
            {"uuid": "5e1f0000-0000-4000-8000-00000000000d", "type": "filename|sha256", "value": "a.exe|" , "to_ids": true},
            {"uuid": "5e1f0000-0000-4000-8000-00000000000e", "type": "url", "value": "http://evil.example/x", "to_ids": false},
            {"uuid": "5e1f0000-0000-4000-8000-00000000000f", "type": "email-src", "value": "Boss@Evil.example", "to_ids": true, "deleted": true}
        ],
        "Object": [{"name": "file", "Attribute": [
            {"uuid": "5e1f0000-0000-4000-8000-000000000010", "type": "md5", "value": "00DBB9E1C09DBDAFB360F3163BA5A3DE", "to_ids": true}
        ]}]
    }}]});
    let got = run(doc).unwrap();
    let v: Vec<(IndicatorKind, &str, Tlp, &str)> = got
        .indicators
        .iter()
        .map(|i| (i.kind, i.value.as_str(), i.tlp, i.id.as_str()))
        .collect();
    assert_eq!(v.len(), 5, "{v:?}");
    assert_eq!(
        v[0],
        (
            IndicatorKind::Domain,
            "evil.example",
            Tlp::Amber,
            "misp:5e1f0000-0000-4000-8000-00000000000a"
        )
    );
    assert_eq!(
        (v[1].0, v[1].1, v[1].2),
        (IndicatorKind::Ipv4, "198.51.100.7", Tlp::Amber)
    );
    assert!(v[1]
        .3
        .starts_with("misp:5e1f0000-0000-4000-8000-00000000000a#"));
    assert_eq!(
        (v[2].0, v[2].1, v[2].2),
        (IndicatorKind::Ipv6, "2001:db8::5", Tlp::Red)
    );
    assert_eq!((v[3].0, v[3].1), (IndicatorKind::Cidr, "203.0.113.0/24"));
    assert_eq!(
        (v[4].0, v[4].1),
        (IndicatorKind::Md5, "00dbb9e1c09dbdafb360f3163ba5a3de")
    );
    let i = &got.indicators[0];
    assert_eq!(i.source, "CERT-Example");
    assert_eq!(i.valid_from.to_rfc3339(), "2026-01-05T00:00:00.000Z");
    assert_eq!(
        got.indicators[3].valid_from.to_rfc3339(),
        "2026-01-02T00:00:00.000Z"
    );
    assert_eq!(i.labels, ["campaign:x", "Network activity"]);
    let reasons: Vec<&str> = got.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons.contains(&"deleted"));
}

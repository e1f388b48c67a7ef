//! The public STIX and MISP samples in `../shared/testdata` (OASIS cti-documentation,
//! cti-stix2-json-schemas examples, cti-stix-validator cases; PyMISP and misp-stix test
//! files) import with the indicator counts read off the files by hand; the validator's
//! `invalid_*` cases are rejected. Skips with a message when the folder is absent.

use std::path::{Path, PathBuf};

use ncsoc_intel::{import, Format, ImportError, Options};
use ncsoc_model::{IndicatorKind, Tlp};

fn testdata() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIP: ../shared/testdata is absent; the STIX/MISP sample tests need it");
        None
    }
}

fn load(root: &Path, rel: &str) -> Result<(Format, ncsoc_intel::Imported), ImportError> {
    let bytes = std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    import(&bytes, &Options::default())
}

/// (file, format, indicators). STIX counts: one per value named by an OR-only pattern on
/// a matched property (AND-ed and `file:name` patterns give none; `domain autuo.xicp.net`
/// in poisonivy is not a domain). MISP counts: `to_ids` attributes of matched types,
/// `domain|ip` counting twice.
const SAMPLES: &[(&str, Format, usize)] = &[
    ("stix/cti-documentation/examples/example_json/apt1.json", Format::Stix, 10),
    ("stix/cti-documentation/examples/example_json/poisonivy.json", Format::Stix, 64),
    ("stix/cti-documentation/examples/example_json/defining-campaigns-threat-actors-intrusion-sets.json", Format::Stix, 0),
    ("stix/cti-documentation/examples/example_json/identifying-a-threat-actor-profile.json", Format::Stix, 0),
    ("stix/cti-documentation/examples/example_json/indicator-for-malicious-url.json", Format::Stix, 1),
    ("stix/cti-documentation/examples/example_json/malware-indicator-for-file-hash.json", Format::Stix, 1),
    ("stix/cti-documentation/examples/example_json/sighting-of-an-indicator.json", Format::Stix, 1),
    ("stix/cti-documentation/examples/example_json/sighting-of-observed-data.json", Format::Stix, 0),
    ("stix/cti-documentation/examples/example_json/threat-actor-leveraging-attack-patterns-and-malware.json", Format::Stix, 0),
    ("stix/cti-documentation/examples/example_json/using-granular-markings.json", Format::Stix, 0),
    ("stix/cti-documentation/examples/example_json/using-marking-definitions.json", Format::Stix, 1),
    ("stix/cti-stix2-json-schemas/examples/indicator-for-c2-ip-address.json", Format::Stix, 1),
    ("stix/cti-stix2-json-schemas/examples/indicator-to-campaign-relationship.json", Format::Stix, 1),
    ("stix/cti-stix2-json-schemas/examples/indicators-for-C2-with-COA.json", Format::Stix, 2),
    ("stix/cti-stix2-json-schemas/examples/infrastructure.json", Format::Stix, 0),
    ("stix/cti-stix2-json-schemas/examples/interop-objectmarking-test.json", Format::Stix, 0),
    ("stix/cti-stix2-json-schemas/examples/malicious-email-indicator-with-attachment.json", Format::Stix, 0),
    ("stix/cti-stix2-json-schemas/examples/threat-reports/apt1.json", Format::Stix, 10),
    ("stix/cti-stix2-json-schemas/examples/threat-reports/poisonivy.json", Format::Stix, 64),
    ("stix/cti-stix-validator/stix2validator/test/v21/test_examples/identity.json", Format::Stix, 0),
    ("stix/cti-stix-validator/stix2validator/test/v21/test_examples/identity_custom.json", Format::Stix, 0),
    ("stix/cti-stix-validator/stix2validator/test/v21/test_examples/identity_unicode.json", Format::Stix, 0),
    ("stix/cti-stix-validator/stix2validator/test/v21/test_examples/identity_warning.json", Format::Stix, 0),
    ("stix/cti-stix-validator/stix2validator/test/v21/test_examples/tlp-amber.json", Format::Stix, 0),
    ("stix/cti-stix-validator/stix2validator/test/v21/test_examples/tool.json", Format::Stix, 0),
    ("misp/misp-stix/tests/test_attributes_collection_stix20.json", Format::Stix, 1),
    ("misp/misp-stix/tests/test_attributes_collection_stix21.json", Format::Stix, 1),
    ("misp/misp-stix/tests/test_event1_stix20.json", Format::Stix, 1),
    ("misp/misp-stix/tests/test_event1_stix21.json", Format::Stix, 1),
    ("misp/misp-stix/tests/test_event2_stix20.json", Format::Stix, 0),
    ("misp/misp-stix/tests/test_event2_stix21.json", Format::Stix, 0),
    ("misp/misp-stix/tests/test_events_collection_stix20.json", Format::Stix, 1),
    ("misp/misp-stix/tests/test_events_collection_stix21.json", Format::Stix, 1),
    ("misp/misp-stix/tests/test_objects_collection_stix20.json", Format::Stix, 1),
    ("misp/misp-stix/tests/test_objects_collection_stix21.json", Format::Stix, 1),
    ("misp/PyMISP/tests/stix2.json", Format::Stix, 0),
    ("misp/misp-stix/tests/test_attributes_collection_1.json", Format::Misp, 1),
    ("misp/misp-stix/tests/test_attributes_collection_2.json", Format::Misp, 2),
    ("misp/misp-stix/tests/test_events_collection_1.json", Format::Misp, 1),
    ("misp/misp-stix/tests/test_events_collection_2.json", Format::Misp, 2),
    ("misp/misp-stix/tests/test_objects_collection_1.json", Format::Misp, 4),
    ("misp/misp-stix/tests/test_objects_collection_2.json", Format::Misp, 2),
    ("misp/PyMISP/tests/57c4445b-c548-4654-af0b-4be3950d210f.json", Format::Misp, 3),
    ("misp/PyMISP/tests/misp_event.json", Format::Misp, 0),
    ("misp/PyMISP/tests/new_misp_event.json", Format::Misp, 0),
    ("misp/PyMISP/tests/search_index_result.json", Format::Misp, 0),
    ("misp/PyMISP/tests/reportlab_testfiles/galaxy_1.json", Format::Misp, 4),
    ("misp/PyMISP/tests/reportlab_testfiles/long_event.json", Format::Misp, 250),
    ("misp/PyMISP/tests/reportlab_testfiles/mainly_objects_1.json", Format::Misp, 17),
    ("misp/PyMISP/tests/reportlab_testfiles/sighting_1.json", Format::Misp, 5),
    ("misp/PyMISP/tests/mispevent_testfiles/attribute.json", Format::Misp, 0),
    ("misp/PyMISP/tests/mispevent_testfiles/attribute_del.json", Format::Misp, 0),
    ("misp/PyMISP/tests/mispevent_testfiles/def_param.json", Format::Misp, 2),
    ("misp/PyMISP/tests/mispevent_testfiles/event.json", Format::Misp, 0),
    ("misp/PyMISP/tests/mispevent_testfiles/event_obj_attr_tag.json", Format::Misp, 1),
    ("misp/PyMISP/tests/mispevent_testfiles/event_obj_def_param.json", Format::Misp, 0),
    ("misp/PyMISP/tests/mispevent_testfiles/event_obj_tag.json", Format::Misp, 0),
    ("misp/PyMISP/tests/mispevent_testfiles/event_tags.json", Format::Misp, 0),
    ("misp/PyMISP/tests/mispevent_testfiles/existing_event.json", Format::Misp, 68),
    ("misp/PyMISP/tests/mispevent_testfiles/existing_event_edited.json", Format::Misp, 68),
    ("misp/PyMISP/tests/mispevent_testfiles/malware.json", Format::Misp, 0),
    ("misp/PyMISP/tests/mispevent_testfiles/malware_exist.json", Format::Misp, 3),
    ("misp/PyMISP/tests/mispevent_testfiles/misp_custom_obj.json", Format::Misp, 0),
    ("misp/PyMISP/tests/mispevent_testfiles/proposals.json", Format::Misp, 0),
    ("misp/PyMISP/tests/mispevent_testfiles/shadow.json", Format::Misp, 0),
];

/// JSON in the folders that is neither a STIX document nor a MISP event: galaxies,
/// sightings, object templates, sharing groups, a git-vuln-finder report, `{}`.
const NOT_INTEL: &[&str] = &[
    "misp/PyMISP/tests/git-vuln-finder-quagga.json",
    "misp/PyMISP/tests/sharing_groups.json",
    "misp/PyMISP/tests/mispevent_testfiles/galaxy.json",
    "misp/PyMISP/tests/mispevent_testfiles/sighting.json",
    "misp/PyMISP/tests/mispevent_testfiles/simple.json",
    "misp/PyMISP/tests/mispevent_testfiles/overwrite_file/definition.json",
    "misp/PyMISP/tests/mispevent_testfiles/test_object_template/definition.json",
];

#[test]
fn every_sample_imports_with_its_indicator_count() {
    let Some(root) = testdata() else { return };
    for (rel, format, count) in SAMPLES {
        let (f, got) = load(&root, rel).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(f, *format, "{rel}");
        assert_eq!(
            got.indicators.len(),
            *count,
            "{rel}: {:?}",
            got.skip_reasons()
        );
        let mut ids: Vec<&str> = got.indicators.iter().map(|i| i.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), *count, "{rel}: ids are unique");
    }
    for rel in NOT_INTEL {
        assert!(
            matches!(load(&root, rel), Err(ImportError::NotIntel(_))),
            "{rel}"
        );
    }
    // Nothing in the folders was forgotten.
    let mut all = Vec::new();
    for dir in [
        "stix/cti-documentation/examples",
        "stix/cti-stix2-json-schemas/examples",
        "stix/cti-stix-validator",
        "misp",
    ] {
        walk(&root.join(dir), &mut all);
    }
    for p in all {
        let rel = p.strip_prefix(&root).unwrap().to_string_lossy().to_string();
        let known = SAMPLES.iter().any(|s| s.0 == rel)
            || NOT_INTEL.contains(&rel.as_str())
            || rel.contains("/invalid_");
        assert!(known, "{rel} is not in the sample table");
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

#[test]
fn the_validators_invalid_cases_are_rejected_with_their_reason() {
    let Some(root) = testdata() else { return };
    let dir = "stix/cti-stix-validator/stix2validator/test/v21/test_examples";
    for (name, says) in [
        ("invalid_braces.json", "not JSON"),
        ("invalid_comma.json", "trailing comma"),
        (
            "invalid_identity.json",
            "required property `modified` is missing",
        ),
        (
            "invalid_timestamp.json",
            "`modified` must not be earlier than `created`",
        ),
    ] {
        let err = load(&root, &format!("{dir}/{name}")).expect_err(name);
        assert!(err.to_string().contains(says), "{name}: {err}");
    }
}

#[test]
fn stix_details_survive_the_import() {
    let Some(root) = testdata() else { return };
    // TLP:AMBER (1.0) by object marking; the author's identity is the source.
    let (_, m) = load(
        &root,
        "stix/cti-documentation/examples/example_json/using-marking-definitions.json",
    )
    .unwrap();
    let i = &m.indicators[0];
    assert_eq!(
        (i.kind, i.value.as_str(), i.tlp),
        (IndicatorKind::Ipv4, "10.0.0.0", Tlp::Amber)
    );
    assert_eq!(i.source, "Stark Industries");
    assert_eq!(i.labels, ["malicious-activity"]);
    assert_eq!(
        i.description.as_deref(),
        Some("Known malicious IP Address: Detected malicious activity from this address")
    );
    // CIDR values, and the same import twice gives the same ids.
    let (_, a) = load(
        &root,
        "stix/cti-documentation/examples/example_json/apt1.json",
    )
    .unwrap();
    assert!(a
        .indicators
        .iter()
        .any(|i| i.kind == IndicatorKind::Cidr && i.value == "58.246.0.0/15"));
    let (_, b) = load(
        &root,
        "stix/cti-documentation/examples/example_json/apt1.json",
    )
    .unwrap();
    assert_eq!(a.indicators, b.indicators);
    // The AND-ed hash pattern is reported, not matched on one hash.
    assert!(a.skipped.iter().any(|s| s.reason.contains("AND")));
}

#[test]
fn misp_details_survive_the_import() {
    let Some(root) = testdata() else { return };
    let (_, e) = load(
        &root,
        "misp/misp-stix/tests/test_attributes_collection_2.json",
    )
    .unwrap();
    let kinds: Vec<_> = e
        .indicators
        .iter()
        .map(|i| (i.kind, i.value.as_str()))
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.iter().any(|k| k.0 == IndicatorKind::Domain));
    assert!(kinds.iter().any(|k| k.0 == IndicatorKind::Ipv4));
    let (_, e) = load(
        &root,
        "misp/PyMISP/tests/reportlab_testfiles/long_event.json",
    )
    .unwrap();
    assert!(e
        .indicators
        .iter()
        .all(|i| !i.id.is_empty() && i.id.starts_with("misp:")));
    assert!(
        e.indicators.iter().all(|i| i.source != "import"),
        "Orgc names the source"
    );
}

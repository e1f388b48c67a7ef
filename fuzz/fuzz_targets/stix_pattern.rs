//! Any text through the STIX patterning parser and the observable extraction, and any
//! bytes through the STIX/MISP importer; what imports is compiled into an indicator set.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = ncsoc_intel::pattern::parse(text) {
            let _ = ncsoc_intel::pattern::extract(&p);
        }
    }
    if let Ok((_, imported)) = ncsoc_intel::import(data, &ncsoc_intel::Options::default()) {
        let _ = ncsoc_intel::IndicatorSet::build(imported.indicators);
    }
});

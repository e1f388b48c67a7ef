//! Threat intelligence for ncsoc: indicators shared by CERTs as STIX 2.1 bundles or MISP
//! events, turned into model [`Indicator`]s ([`import`]), and the [`IndicatorSet`] that
//! matches every event and flow against them at line rate.
//!
//! Pure and synchronous: no I/O here. The CLI (`ncsoc intel import`), the API
//! (`POST /api/v1/intel`) and the TAXII poller read the bytes and store the result; the
//! detector builds an [`IndicatorSet`] from the store.
//!
//! - [`pattern`] reads the STIX patterning language and takes the observables out.
//! - [`stix`] validates bundles and imports their indicators.
//! - [`misp`] imports MISP events.
//! - [`set`] matches.

pub mod misp;
pub mod pattern;
pub mod set;
pub mod stix;

use ncsoc_model::{IndicatorKind, Tlp};
use serde::Serialize;

pub use ncsoc_model::Indicator;
pub use set::{Field, Hit, IndicatorSet, Observed};

/// Largest document read (bytes).
pub const MAX_DOCUMENT: usize = 256 * 1024 * 1024;
/// Limits of the indicator fields (the API's limits too).
pub const MAX_SOURCE: usize = 256;
pub const MAX_DESCRIPTION: usize = 4096;
pub const MAX_LABELS: usize = 32;
pub const MAX_LABEL: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("neither a STIX bundle nor a MISP event: {0}")]
    NotIntel(String),
    #[error("invalid: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("too large: {0}")]
    TooLarge(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Stix,
    Misp,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Stix => "STIX",
            Format::Misp => "MISP",
        })
    }
}

/// How to fill in what a document does not say.
#[derive(Debug, Clone)]
pub struct Options {
    /// The source of indicators whose document names no author or organisation.
    pub default_source: String,
    /// The TLP of indicators without a TLP marking.
    pub default_tlp: Tlp,
    /// Most indicators one document may give.
    pub max_indicators: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            default_source: "import".into(),
            default_tlp: Tlp::Clear,
            max_indicators: set::MAX_INDICATORS,
        }
    }
}

/// Something in a document that gave no indicator, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    /// The STIX indicator id or the MISP attribute it was.
    pub id: String,
    pub reason: String,
}

/// What one document gave.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Imported {
    /// STIX indicator objects or MISP attributes read.
    pub objects: usize,
    #[serde(skip)]
    pub indicators: Vec<Indicator>,
    pub skipped: Vec<Skip>,
}

impl Imported {
    /// Skip reasons with their counts, most frequent first.
    pub fn skip_reasons(&self) -> Vec<(String, usize)> {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for s in &self.skipped {
            *counts.entry(s.reason.as_str()).or_default() += 1;
        }
        let mut v: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(r, n)| (r.to_string(), n))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

/// Which format `doc` is in, if either.
pub fn detect(doc: &serde_json::Value) -> Option<Format> {
    let ty = doc.get("type").and_then(|t| t.as_str());
    let stix_id = doc
        .get("id")
        .and_then(|i| i.as_str())
        .is_some_and(|i| i.contains("--"));
    if ty == Some("bundle") || (ty.is_some() && (stix_id || doc.get("spec_version").is_some())) {
        Some(Format::Stix)
    } else if misp::is_misp(doc) {
        Some(Format::Misp)
    } else {
        None
    }
}

/// Reads a STIX bundle (or one STIX object) or a MISP document, detected from its
/// content, and gives its indicators.
pub fn import(bytes: &[u8], opts: &Options) -> Result<(Format, Imported), ImportError> {
    if bytes.len() > MAX_DOCUMENT {
        return Err(ImportError::TooLarge(format!(
            "{} bytes; at most {MAX_DOCUMENT}",
            bytes.len()
        )));
    }
    let doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ImportError::Json(e.to_string()))?;
    import_value(&doc, opts)
}

/// [`import`] of a parsed document.
pub fn import_value(
    doc: &serde_json::Value,
    opts: &Options,
) -> Result<(Format, Imported), ImportError> {
    match detect(doc) {
        Some(Format::Stix) => stix::import(doc, opts).map(|i| (Format::Stix, i)),
        Some(Format::Misp) => misp::import(doc, opts).map(|i| (Format::Misp, i)),
        None => Err(ImportError::NotIntel(
            "expected a STIX object or bundle (`type`) or a MISP event (`Event`, `response`)"
                .into(),
        )),
    }
}

/// A stable indicator id for one observable of a STIX indicator or MISP attribute:
/// `<base>#<16 hex digits of a hash of kind and value>`.
pub fn observable_id(base: &str, kind: IndicatorKind, value: &str) -> String {
    // FNV-1a, fixed: ids must not change between versions or machines.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kind.as_str().bytes().chain([0u8]).chain(value.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let base = match base.char_indices().nth(200) {
        Some((i, _)) => &base[..i],
        None => base,
    };
    format!("{base}#{h:016x}")
}

/// At most `max` bytes, cut at a character boundary, control characters replaced.
pub fn bounded_text(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars() {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(if c.is_control() && c != '\n' { ' ' } else { c });
    }
    out
}

/// Distinct non-empty labels, at most [`MAX_LABELS`] of at most [`MAX_LABEL`] bytes.
pub fn bounded_labels<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in labels {
        let l = bounded_text(l.trim(), MAX_LABEL).replace('\n', " ");
        if !l.is_empty() && !out.contains(&l) {
            out.push(l);
            if out.len() == MAX_LABELS {
                break;
            }
        }
    }
    out
}

//! Borrowed text from input bytes, checked for UTF-8 once per message rather than once
//! per field (the check per field, through `from_utf8_lossy`, was the largest cost of
//! parsing).

use std::borrow::Cow;
use std::ops::Range;

/// Input bytes and, when all of them are valid UTF-8, the same input as `str`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Text<'a> {
    pub(crate) b: &'a [u8],
    s: Option<&'a str>,
}

impl<'a> Text<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Self {
            b,
            s: std::str::from_utf8(b).ok(),
        }
    }

    /// The bytes in `r` as text: borrowed when valid UTF-8, else with invalid sequences
    /// replaced by U+FFFD. An out-of-range `r` gives empty text.
    pub(crate) fn cow(&self, r: Range<usize>) -> Cow<'a, str> {
        if let Some(s) = self.s.and_then(|s| s.get(r.clone())) {
            return Cow::Borrowed(s);
        }
        String::from_utf8_lossy(self.b.get(r).unwrap_or_default())
    }

    /// The bytes in `r` as `str` when they are valid UTF-8.
    pub(crate) fn str(&self, r: Range<usize>) -> Option<&'a str> {
        match self.s {
            Some(s) => s.get(r),
            None => std::str::from_utf8(self.b.get(r)?).ok(),
        }
    }
}

/// Owned text of raw input (`event.original`): a plain copy when it is UTF-8.
pub(crate) fn owned(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(raw).into_owned(),
    }
}

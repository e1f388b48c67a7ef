//! `X-Ncsoc-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//!
//! The timestamp is that of the attempt, so a receiver can refuse old requests (replays);
//! the body is the same bytes in every attempt. A receiver recomputes the HMAC over the
//! raw body it received, compares in constant time, refuses a timestamp more than five
//! minutes from its clock, and deduplicates by `X-Ncsoc-Delivery`. [`verify`] does all
//! but the last; README.md shows the same in shell and Python.

use sha2::{Digest, Sha256};

/// How far a signature's timestamp may be from the receiver's clock.
pub const TOLERANCE_SECS: i64 = 300;

/// HMAC-SHA256 (RFC 2104) of the concatenated `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    for p in parts {
        inner.update(p);
    }
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The `X-Ncsoc-Signature` value for `body` sent at `unix_secs`.
pub fn signature_header(secret: &[u8], unix_secs: i64, body: &[u8]) -> String {
    let t = unix_secs.to_string();
    let mac = hmac_sha256(secret, &[t.as_bytes(), b".", body]);
    format!("t={t},v1={}", hex(&mac))
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// Not `t=<digits>,v1=<64 hex digits>`.
    Malformed,
    /// The timestamp is more than [`TOLERANCE_SECS`] from now.
    Stale,
    /// No `v1` matches the body.
    Mismatch,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VerifyError::Malformed => "malformed signature header",
            VerifyError::Stale => "signature timestamp too far from now",
            VerifyError::Mismatch => "signature does not match the body",
        })
    }
}

impl std::error::Error for VerifyError {}

/// Checks a received `X-Ncsoc-Signature` against the raw body, as a receiver does. Any
/// of several `v1=` values may match (a sender rotating its secret may send two).
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_unix_secs: i64,
) -> Result<(), VerifyError> {
    let mut t: Option<&str> = None;
    let mut macs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("v1", v)) => macs.push(v),
            _ => {}
        }
    }
    let t = t
        .filter(|t| !t.is_empty() && t.len() <= 19 && t.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(VerifyError::Malformed)?;
    let secs: i64 = t.parse().map_err(|_| VerifyError::Malformed)?;
    if macs.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if (now_unix_secs - secs).abs() > TOLERANCE_SECS {
        return Err(VerifyError::Stale);
    }
    let expected = hex(&hmac_sha256(secret, &[t.as_bytes(), b".", body]));
    if macs
        .iter()
        .any(|m| constant_time_eq(m.as_bytes(), expected.as_bytes()))
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 1.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], &[b"Hi There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2, the message given in two parts.
        assert_eq!(
            hex(&hmac_sha256(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn signatures_verify_and_refuse_tampering_and_old_timestamps() {
        let secret = b"whsec-0123456789abcdef";
        let body = br#"{"event":"incident.opened"}"#;
        let h = signature_header(secret, 1_700_000_000, body);
        // The same value `printf '%s' "1700000000.$body" | openssl dgst -sha256 -hmac "$secret"` gives.
        assert_eq!(
            h,
            "t=1700000000,v1=58fdfd47267ccdbb0b16aefe998e704e58a87760f11bc51d7b3692123968d753"
        );
        assert_eq!(verify(secret, &h, body, 1_700_000_100), Ok(()));
        assert_eq!(
            verify(
                secret,
                &h,
                b"{\"event\":\"incident.closed\"}",
                1_700_000_100
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"another-secret-0000", &h, body, 1_700_000_100),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(secret, &h, body, 1_700_000_000 + TOLERANCE_SECS + 1),
            Err(VerifyError::Stale)
        );
        for bad in [
            "",
            "t=,v1=00",
            "v1=00",
            "t=1700000000",
            "t=-5,v1=00",
            "t=99999999999999999999,v1=0",
        ] {
            assert_eq!(
                verify(secret, bad, body, 1_700_000_000),
                Err(VerifyError::Malformed),
                "{bad}"
            );
        }
        // A rotated secret: either v1 may match.
        let two = format!("{h},v1={}", "0".repeat(64));
        assert_eq!(verify(secret, &two, body, 1_700_000_000), Ok(()));
    }
}

//! The building blocks of webhook signatures, shared by every adapter's verifier.
//!
//! Vendors sign deliveries in a handful of ways that differ only in what they put together:
//! an HMAC-SHA256 (or a plain SHA-256 with the secret in front) over some of method, URI,
//! body and timestamp, sent as hex or base64, with a timestamp that must be recent. The
//! adapter says which parts in which order and which headers carry them; these functions do
//! the hashing, the decoding and the constant-time comparison, so that no adapter gets them
//! subtly wrong (comparing encoded text, or URL-decoding base64's `+`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::constant_time_eq;
use crate::error::{Error, ErrorKind, Result};

/// How a signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Hexadecimal, either case.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

impl Encoding {
    /// `bytes` written this way (hex in lower case).
    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Hex => bytes.iter().map(|b| format!("{b:02x}")).collect(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// The bytes `text` stands for, or `None` when it is not written this way.
    pub fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Encoding::Hex => {
                if !text.len().is_multiple_of(2) {
                    return None;
                }
                (0..text.len())
                    .step_by(2)
                    .map(|i| {
                        text.get(i..i + 2)
                            .and_then(|b| u8::from_str_radix(b, 16).ok())
                    })
                    .collect()
            }
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.decode(text).ok(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
        }
    }
}

/// SHA-256 over `parts` one after another (older schemes put the secret first).
pub fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().to_vec()
}

/// HMAC-SHA256 with `key` over `parts` one after another.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>> {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key)
        .map_err(|_| Error::config("webhook secret: unusable as an HMAC key"))?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Checks the signature `given` (as sent, without any prefix) against the `expected` bytes.
///
/// What was given is decoded rather than what was computed encoded, so the case of hex digits
/// does not matter, and the comparison is constant-time on the bytes. A `Signature` error says
/// whether the text was not in the encoding at all or did not match.
pub fn verify(given: &str, expected: &[u8], encoding: Encoding) -> Result<()> {
    let given = encoding.decode(given.trim()).ok_or_else(|| {
        Error::new(
            ErrorKind::Signature,
            format!("the signature is not {}", encoding.name()),
        )
    })?;
    if constant_time_eq(&given, expected) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Signature,
            "the signature does not match",
        ))
    }
}

/// Whether a delivery's timestamp `given` (in the unit of `tolerance` since the Unix epoch:
/// seconds or milliseconds) is within `tolerance` of `now`, either way: older is stale or
/// replayed, newer is from a clock that cannot be trusted.
pub fn within(given: u128, now: u128, tolerance: u128) -> bool {
    now.abs_diff(given) <= tolerance
}

/// The time since the Unix epoch by `clock` (zero for a clock set before 1970).
pub fn since_epoch(clock: fn() -> SystemTime) -> Duration {
    clock().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231_case_2() {
        let tag = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]).unwrap();
        assert_eq!(
            Encoding::Hex.encode(&tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn sha256_over_parts_is_sha256_of_their_concatenation() {
        assert_eq!(
            Encoding::Hex.encode(&sha256(&[b"a", b"bc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn encodings_round_trip_and_refuse_other_text() {
        let bytes = [0x00, 0xff, 0x3e, 0x3f];
        for enc in [Encoding::Hex, Encoding::Base64] {
            assert_eq!(enc.decode(&enc.encode(&bytes)).unwrap(), bytes);
        }
        assert_eq!(Encoding::Hex.decode("00FF3E3F").unwrap(), bytes);
        assert!(Encoding::Hex.decode("0ff").is_none());
        assert!(Encoding::Hex.decode("zz").is_none());
        assert!(Encoding::Base64.decode("not base64!").is_none());
    }

    #[test]
    fn verify_tells_a_mismatch_from_text_in_another_encoding() {
        let expected = hmac_sha256(b"k", &[b"body"]).unwrap();
        let sent = Encoding::Base64.encode(&expected);
        verify(&format!(" {sent} "), &expected, Encoding::Base64).unwrap();
        let upper = Encoding::Hex.encode(&expected).to_ascii_uppercase();
        verify(&upper, &expected, Encoding::Hex).unwrap();
        let other = Encoding::Hex.encode(&hmac_sha256(b"k", &[b"bodY"]).unwrap());
        let err = verify(&other, &expected, Encoding::Hex).unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Signature);
        assert!(err.message().contains("does not match"), "{err}");
        let err = verify("%%%", &expected, Encoding::Base64).unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Signature);
        assert!(err.message().contains("not base64"), "{err}");
    }

    #[test]
    fn a_timestamp_is_within_the_tolerance_either_way() {
        assert!(within(1_000, 1_300, 300));
        assert!(within(1_300, 1_000, 300));
        assert!(!within(1_000, 1_301, 300));
        assert!(!within(1_301, 1_000, 300));
        assert_eq!(
            since_epoch(|| UNIX_EPOCH - Duration::from_secs(5)),
            Duration::ZERO
        );
    }
}

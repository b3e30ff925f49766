//! Salesforce record ids: 15 characters case-sensitive, or 18 with a case-checksum suffix that
//! makes them case-insensitive (Salesforce help, "What is a Salesforce ID?": the suffix encodes
//! which of the first 15 characters are upper case, 5 per character, in `A-Z0-5`). The adapter
//! hands out 18-character ids only.

use crm_core::{Error, ErrorKind, RecordId, Result};

const SUFFIX: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

fn checksum(id15: &[u8]) -> String {
    id15.chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_ascii_uppercase())
                .fold(0usize, |acc, (i, _)| acc | (1 << i));
            char::from(SUFFIX.get(bits).copied().unwrap_or(b'A'))
        })
        .collect()
}

/// The 18-character form of a Salesforce id, or `None` when `text` is not one: 15 or 18 ASCII
/// letters and digits, and in an 18-character id a suffix that is the checksum of the case of
/// the first 15.
///
/// An 18-character id is case-insensitive, so one written all in lower or all in upper case
/// (as a case-insensitive system stores it) gets the case of its first 15 characters restored
/// from its suffix: `0034s000005yjvlqao` is `0034S000005YJVlQAO`. An id whose first 15
/// characters are in mixed case must match its suffix as written, and a suffix that claims an
/// upper-case digit matches nothing: such an id was mistyped or altered, and is refused.
pub(crate) fn to18(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    if !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    match bytes.len() {
        15 => Some(format!("{text}{}", checksum(bytes))),
        18 => {
            let (head, tail) = bytes.split_at(15);
            let mut fixed = String::with_capacity(18);
            for (chunk, code) in head.chunks(5).zip(tail) {
                let bits = SUFFIX
                    .iter()
                    .position(|c| *c == code.to_ascii_uppercase())?;
                for (i, c) in chunk.iter().enumerate() {
                    fixed.push(char::from(if bits & (1 << i) != 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }));
                }
            }
            let one_case = !head.iter().any(u8::is_ascii_uppercase)
                || !head.iter().any(u8::is_ascii_lowercase);
            if !one_case && fixed.as_bytes() != head {
                return None;
            }
            let sum = checksum(fixed.as_bytes());
            if !sum.as_bytes().eq_ignore_ascii_case(tail) {
                return None;
            }
            fixed.push_str(&sum);
            Some(fixed)
        }
        _ => None,
    }
}

/// Checks a caller's id and returns its 18-character form, before any request is built.
///
/// `.` and `..` (in any encoding) are `InvalidInput`: in a path they would address another
/// resource. Any other text that is not a Salesforce id is `NotFound`, the answer Salesforce
/// gives for an id it does not hold, without the round trip.
pub(crate) fn check(id: &RecordId) -> Result<RecordId> {
    if crm_core::raw::http::is_dot_segment(id.as_str()) {
        return Err(Error::invalid_input(
            "record id is `.` or `..` (possibly percent-encoded), not a Salesforce id",
        ));
    }
    to18(id.as_str())
        .and_then(|s| RecordId::new(s).ok())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                "not a Salesforce record id (15 or 18 letters and digits, the last 3 a checksum \
                 of the case of the first 15); nothing was sent",
            )
        })
}

/// The 3-character key prefix naming the object (`003` Contact).
pub(crate) fn prefix(id: &str) -> &str {
    id.get(..3).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_ids_round_trip() {
        for id in [
            "0014S000007NxmlQAC",
            "0034S000005YJVlQAO",
            "00Q4S000002sSacUAE",
        ] {
            assert_eq!(to18(&id[..15]).as_deref(), Some(id));
            assert_eq!(to18(&id.to_ascii_lowercase()).as_deref(), Some(id));
        }
        assert_eq!(to18("missing/id"), None);
        assert_eq!(prefix("0034S000005YJVlQAO"), "003");
    }

    #[test]
    fn an_18_character_id_must_match_its_case_checksum() {
        let good = "0034S000005YJVlQAO";
        assert_eq!(to18(&good.to_ascii_uppercase()).as_deref(), Some(good));
        // Mixed case that the suffix does not describe: a mistyped or altered id.
        assert_eq!(to18("0034S000005YJVlAAA"), None);
        assert_eq!(to18("0034s000005YJVlQAO"), None);
        // A suffix claiming upper case where there are only digits.
        assert_eq!(to18("000000000000000BAA"), None);
        assert_eq!(
            to18("000000000000000AAA").as_deref(),
            Some("000000000000000AAA")
        );
        // `9` is not in the suffix alphabet.
        assert_eq!(to18("0034s000005yjvlqa9"), None);
        for bad in ["0034S000005YJVlAAA", "x/../y", "abc"] {
            let err = check(&RecordId::new(bad).unwrap()).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::NotFound, "{bad}");
        }
        assert_eq!(
            check(&RecordId::new("0034s000005yjvlqao").unwrap())
                .unwrap()
                .as_str(),
            good
        );
    }
}

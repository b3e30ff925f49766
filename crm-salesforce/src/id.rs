//! Salesforce record ids: 15 characters case-sensitive, or 18 with a case-checksum suffix that
//! makes them case-insensitive (VENDORS.md §2.2). The adapter hands out 18-character ids only.

use crm_core::RecordId;

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

/// The 18-character form of a Salesforce id, or `None` when `text` is not one (15 or 18 ASCII
/// letters and digits). An 18-character id gets the case of its first 15 characters restored
/// from its suffix, so `0034s000005yjvlqao` and `0034S000005YJVlQAO` are the same id.
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
            let sum = checksum(fixed.as_bytes());
            fixed.push_str(&sum);
            Some(fixed)
        }
        _ => None,
    }
}

/// Normalises a caller's id to 18 characters where it is a Salesforce id; anything else is
/// passed through untouched (Salesforce answers `NOT_FOUND` for it).
pub(crate) fn normalize(id: &RecordId) -> RecordId {
    to18(id.as_str())
        .and_then(|s| RecordId::new(s).ok())
        .unwrap_or_else(|| id.clone())
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
}

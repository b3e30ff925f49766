//! Salesforce record ids: a 3-character key prefix naming the object, 12 more case-sensitive
//! characters, and (in the 18-character form) a 3-character suffix that encodes the case of the
//! first 15, so that the 18-character form can be compared case-insensitively (Salesforce docs).

/// The alphabet of the case-checksum suffix.
const SUFFIX: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
/// Base-62 digits in ASCII order, so counters sort like the ids they make.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 3-character checksum suffix of a 15-character id.
fn suffix(id15: &[u8]) -> String {
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

/// The 18-character form of a 15-character id.
pub(crate) fn to18(id15: &str) -> String {
    format!("{id15}{}", suffix(id15.as_bytes()))
}

/// Checks an id given in a request and returns its canonical 18-character form: a 15-character
/// id is case-sensitive and gains its suffix; an 18-character id is case-insensitive, so the case
/// of its first 15 characters is restored from the suffix. `None` when the text is not an id.
pub(crate) fn normalize(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    if !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    match bytes.len() {
        15 => Some(to18(text)),
        18 => {
            let (head, tail) = bytes.split_at(15);
            let mut fixed = Vec::with_capacity(15);
            for (chunk, code) in head.chunks(5).zip(tail) {
                let bits = SUFFIX
                    .iter()
                    .position(|c| c == &code.to_ascii_uppercase())?;
                for (i, c) in chunk.iter().enumerate() {
                    fixed.push(if bits & (1 << i) != 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    });
                }
            }
            let id15 = String::from_utf8(fixed).ok()?;
            Some(to18(&id15))
        }
        _ => None,
    }
}

/// Makes the `n`th id of an object with `prefix`: prefix, a fixed pod part and a base-62
/// counter, then the checksum suffix.
pub(crate) fn make(prefix: &str, n: u64) -> String {
    let mut digits = [b'0'; 9];
    let mut rest = n;
    for d in digits.iter_mut().rev() {
        *d = BASE62.get((rest % 62) as usize).copied().unwrap_or(b'0');
        rest /= 62;
    }
    let counter = String::from_utf8_lossy(&digits).into_owned();
    to18(&format!("{prefix}5F0{counter}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_ids_keep_their_checksums() {
        // Ids from real v42.0 exchanges recorded by grouparoo/grouparoo (MIT).
        for id in [
            "0014S000007NxmlQAC",
            "0034S000005YJVlQAO",
            "00Q4S000002sSacUAE",
            "7014S00000097HcQAI",
            "0TO4S000000GuXSWA0",
        ] {
            assert_eq!(to18(&id[..15]), id);
            assert_eq!(normalize(&id.to_lowercase()).as_deref(), Some(id));
            assert_eq!(normalize(&id[..15]).as_deref(), Some(id));
        }
    }

    #[test]
    fn non_ids_are_refused() {
        assert_eq!(normalize("missing/x"), None);
        assert_eq!(normalize("003"), None);
        assert_eq!(normalize("0034S000005YJVlQA!"), None);
    }

    #[test]
    fn made_ids_sort_by_counter() {
        let a = make("003", 61);
        let b = make("003", 62);
        assert!(a < b, "{a} {b}");
        assert_eq!(normalize(&a).as_deref(), Some(a.as_str()));
        assert_eq!(a.len(), 18);
    }
}

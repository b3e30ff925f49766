//! What a response's status and headers say by themselves, for adapters' error parsers and
//! rate-limit hint parsers: the error kind of a status (for a body that says nothing more, or
//! an answer with no response of its own, such as an item of a 207 batch answer, which an
//! adapter maps to the status its category stands for), and a header's number.

use crate::reexports::http::HeaderMap;
use crate::{ErrorKind, LimitScope};

/// The number in header `name` (surrounding space allowed), if it holds one: vendors' rate
/// limit headers (`X-RateLimit-Remaining`, `X-HubSpot-RateLimit-Max`...) are decimal counts.
pub fn header_number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The kind of error HTTP `status` means when nothing else is known (RFC 9110's meanings):
/// 400 and 422 are validation, 401 and 403 authorization, 404 and 410 a missing record, 409
/// a conflict, 429 a rate limit with no wait known, 408 and 504 timeouts, 423 and other 5xx
/// an unavailable service, anything else unexpected. Kinds that carry details (fields,
/// scopes, the existing id) carry none here: the adapter fills them from the body.
pub fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        404 | 410 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict {
            existing_id: None,
            candidates: Vec::new(),
        },
        400 | 422 => ErrorKind::Validation { fields: Vec::new() },
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden {
            missing_scopes: Vec::new(),
        },
        429 => ErrorKind::RateLimited {
            retry_after: None,
            scope: LimitScope::Burst,
        },
        408 | 504 => ErrorKind::Timeout,
        423 | 500..=599 => ErrorKind::Unavailable,
        _ => ErrorKind::Unexpected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reexports::http::HeaderValue;

    #[test]
    fn header_numbers_read_decimal_counts_only() {
        let mut h = HeaderMap::new();
        h.insert("x-count", HeaderValue::from_static(" 42 "));
        h.insert("x-text", HeaderValue::from_static("soon"));
        assert_eq!(header_number(&h, "x-count"), Some(42));
        assert_eq!(header_number(&h, "x-text"), None);
        assert_eq!(header_number(&h, "x-missing"), None);
    }

    #[test]
    fn statuses_name_their_kinds() {
        assert_eq!(kind_of_status(404), ErrorKind::NotFound);
        assert_eq!(kind_of_status(410), ErrorKind::NotFound);
        assert_eq!(kind_of_status(401), ErrorKind::Unauthorized);
        assert_eq!(kind_of_status(408), ErrorKind::Timeout);
        assert_eq!(kind_of_status(504), ErrorKind::Timeout);
        assert_eq!(kind_of_status(423), ErrorKind::Unavailable);
        assert_eq!(kind_of_status(503), ErrorKind::Unavailable);
        assert_eq!(kind_of_status(302), ErrorKind::Unexpected);
        assert!(matches!(kind_of_status(422), ErrorKind::Validation { .. }));
        assert!(matches!(
            kind_of_status(429),
            ErrorKind::RateLimited {
                retry_after: None,
                scope: LimitScope::Burst
            }
        ));
    }
}

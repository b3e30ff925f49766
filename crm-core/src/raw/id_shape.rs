//! Checking a record id against the shape the vendor documents for it, before it goes into a
//! request path.
//!
//! An id that cannot be one of the vendor's names no record: answering `NotFound` at once is what
//! the vendor would answer, without spending a request of its rate limit. A `.` or `..` segment
//! (in any encoding) would change the resource the path addresses: `InvalidInput`, whatever the
//! shape.

use crate::error::{Error, ErrorKind, Result};

/// The shape of a vendor's record ids, as its API reference types the `id` path parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdShape {
    /// Decimal digits (an integer id): Pipedrive's persons, deals, notes; HubSpot's objects.
    Digits,
    /// A UUID, `8-4-4-4-12` hexadecimal digits: Pipedrive's leads.
    Uuid,
}

impl IdShape {
    /// The shape in words, for messages: `decimal digits`, `a UUID`.
    pub fn describe(self) -> &'static str {
        match self {
            IdShape::Digits => "decimal digits",
            IdShape::Uuid => "a UUID",
        }
    }

    /// Whether `raw` has this shape.
    pub fn matches(self, raw: &str) -> bool {
        match self {
            IdShape::Digits => !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()),
            IdShape::Uuid => {
                let groups: Vec<&str> = raw.split('-').collect();
                groups.len() == 5
                    && groups
                        .iter()
                        .zip([8, 4, 4, 4, 12])
                        .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
            }
        }
    }

    /// Checks `raw` as the id of a `vendor` record of which `noun` (`person`, `lead`) names one:
    /// a dot segment is `InvalidInput`, another shape `NotFound`; neither error repeats the id.
    pub fn check(self, vendor: &str, noun: &str, raw: &str) -> Result<()> {
        if super::http::is_dot_segment(raw) {
            return Err(Error::invalid_input(format!(
                "record id is `.` or `..` (possibly percent-encoded), not a {vendor} record id"
            )));
        }
        if self.matches(raw) {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "not a {vendor} {noun} id ({vendor}'s are {}); nothing was sent",
                self.describe()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_another_shape_are_not_found_and_dot_segments_invalid() {
        assert!(IdShape::Digits.check("Acme", "person", "101").is_ok());
        let uuid = "adf21080-0e10-11eb-879b-05d71fb426ec";
        assert!(IdShape::Uuid.check("Acme", "lead", uuid).is_ok());
        for (shape, bad) in [
            (IdShape::Digits, "abc"),
            (IdShape::Digits, ""),
            (IdShape::Digits, "-1"),
            (IdShape::Uuid, "101"),
            (IdShape::Uuid, "adf21080-0e10-11eb-879b-05d71fb426eg"),
            (IdShape::Uuid, "adf21080-0e10-11eb-879b05d71fb426ec"),
        ] {
            let err = shape.check("Acme", "deal", bad).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::NotFound, "{bad}");
            assert!(err.message().contains("nothing was sent"), "{err}");
        }
        let err = IdShape::Digits.check("Acme", "note", "%2e%2e").unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput);
        let err = IdShape::Uuid.check("Acme", "lead", "..").unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    }

    #[test]
    fn the_message_names_the_vendor_noun_and_shape_not_the_id() {
        let err = IdShape::Uuid.check("Acme", "lead", "jane-doe").unwrap_err();
        assert_eq!(
            err.message(),
            "not a Acme lead id (Acme's are a UUID); nothing was sent"
        );
    }
}

//! Personal values (names, email addresses, phone numbers, free text) and the wrapper that keeps
//! them out of `Debug` output, logs and error messages.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A personal value. `Debug` prints `Personal(<redacted>)`, so a record logged with `{:?}` or a
/// `tracing` field never shows it; [`Personal::expose`] reads it on purpose and
/// [`Personal::masked`] gives a display form that hides most of it.
///
/// `Serialize` writes the real value: serialising is an explicit export (a CLI `--json` answer,
/// an outbox row), not a log line.
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Personal<T>(T);

impl<T> Personal<T> {
    /// Wraps a personal value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself. Call sites that expose personal data are easy to find by this name.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl Personal<String> {
    /// A display form that keeps the first character and hides the rest: `J***`.
    pub fn masked(&self) -> String {
        mask_text(&self.0)
    }
}

impl<T> fmt::Debug for Personal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Personal(<redacted>)")
    }
}

impl From<&str> for Personal<String> {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<String> for Personal<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

fn mask_text(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        None => String::new(),
        Some(first) => {
            let rest = chars.count().clamp(1, 6);
            format!("{first}{}", "*".repeat(rest))
        }
    }
}

/// An email address, trimmed and lower-cased so that lookups match the way CRMs compare emails
/// (case-insensitively).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(Personal<String>);

impl Email {
    /// Parses a caller-given address: one `@`, a non-empty local part, a domain with a dot, no
    /// whitespace. The error never repeats the address.
    pub fn parse(text: &str) -> Result<Self> {
        let trimmed = text.trim();
        let valid = match trimmed.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !trimmed.chars().any(char::is_whitespace)
            }
            None => false,
        };
        if valid {
            Ok(Self(Personal::new(trimmed.to_lowercase())))
        } else {
            Err(Error::invalid_input("not a valid email address"))
        }
    }

    /// Takes an address as a vendor stored it. CRMs hold imperfect data, and a record must stay
    /// readable, so this only trims and lower-cases.
    pub fn from_vendor(text: &str) -> Self {
        Self(Personal::new(text.trim().to_lowercase()))
    }

    /// The address itself.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// `j***@example.com`: the first character of the local part and the domain.
    pub fn masked(&self) -> String {
        match self.0.expose().split_once('@') {
            Some((local, domain)) => format!("{}@{domain}", mask_text(local)),
            None => mask_text(self.0.expose()),
        }
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

/// A phone number: the text as given or stored, and its E.164 form (`+14155550100`) when it
/// parses. Lookups and writes use the E.164 form, so `(415) 555-0100` and `+1 415 555 0100` are
/// the same number.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Phone {
    raw: Personal<String>,
    e164: Option<Personal<String>>,
}

/// The region a national number (one without `+`) is read in, as an ISO 3166 alpha-2 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(phonenumber::country::Id);

impl Region {
    /// Parses an ISO 3166-1 alpha-2 region code such as `US`, `GB` or `CN`. A common alias
    /// that is not one (`UK`, `USA`, `EL`...) is refused with the code to use instead.
    pub fn parse(code: &str) -> Result<Self> {
        let code = code.trim().to_uppercase();
        code.parse::<phonenumber::country::Id>()
            .map(Self)
            .map_err(|_| match region_alias(&code) {
                Some(iso) => Error::config(format!(
                    "unknown phone region code `{code}`; did you mean `{iso}`? Regions are ISO 3166-1 codes"
                )),
                None => Error::config(format!("unknown phone region code `{code}`")),
            })
    }

    /// The United States, the default region for numbers without a country code.
    pub fn us() -> Self {
        Self(phonenumber::country::Id::US)
    }
}

/// Codes people type for a region that are not its ISO 3166-1 alpha-2 code: exceptionally
/// reserved codes (`UK`, `EL`), alpha-3 codes of the most-dialled regions, and `EN`, a language.
fn region_alias(code: &str) -> Option<&'static str> {
    Some(match code {
        "UK" | "GBR" | "EN" => "GB",
        "USA" => "US",
        "EL" | "GRC" => "GR",
        "CAN" => "CA",
        "DEU" => "DE",
        "FRA" => "FR",
        "CHN" => "CN",
        "JPN" => "JP",
        "AUS" => "AU",
        "IND" => "IN",
        _ => return None,
    })
}

impl Default for Region {
    fn default() -> Self {
        Self::us()
    }
}

impl Phone {
    /// Parses a caller-given number. A number with `+` is read as international; one without is
    /// read in `region`. Any *possible* number is accepted (right country code, right length),
    /// also one in a range the numbering plan does not list (test numbers such as
    /// `+1 555-000-0004`, new ranges); fails only for text that cannot be a phone number. The
    /// error never repeats the number.
    pub fn parse(text: &str, region: Region) -> Result<Self> {
        let e164 = to_e164(text, region).ok_or_else(|| {
            Error::invalid_input(
                "not a phone number: the country code or the number of digits is wrong",
            )
        })?;
        Ok(Self {
            raw: Personal::new(text.trim().to_owned()),
            e164: Some(Personal::new(e164)),
        })
    }

    /// Takes a number as a vendor stored it: kept as is, with its E.164 form when it is a
    /// possible number in `region` (the same check as [`Phone::parse`], so a stored number and a
    /// caller's compare in one form). Never fails, so that a record with an odd phone stays
    /// readable.
    pub fn from_vendor(text: &str, region: Region) -> Self {
        Self {
            raw: Personal::new(text.trim().to_owned()),
            e164: to_e164(text, region).map(Personal::new),
        }
    }

    /// The E.164 form, when the number parsed.
    pub fn e164(&self) -> Option<&str> {
        self.e164.as_ref().map(|p| p.expose().as_str())
    }

    /// The text as given or stored.
    pub fn raw(&self) -> &str {
        self.raw.expose()
    }

    /// The best form to send to a CRM: E.164 when known, the raw text otherwise.
    pub fn for_vendor(&self) -> &str {
        self.e164().unwrap_or_else(|| self.raw())
    }

    /// `+1*******00`: the country prefix and the last two digits.
    pub fn masked(&self) -> String {
        let text = self.for_vendor();
        let digits: Vec<char> = text.chars().filter(char::is_ascii_digit).collect();
        if digits.len() < 5 {
            return "***".to_owned();
        }
        let tail: String = digits.iter().skip(digits.len() - 2).collect();
        let head = if text.starts_with('+') { "+" } else { "" };
        let first: String = digits.iter().take(1).collect();
        format!("{head}{first}{}{tail}", "*".repeat(digits.len() - 3))
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phone(<redacted>)")
    }
}

/// The E.164 form of a number that can be a phone number, or `None` for text that cannot.
///
/// "Can be" means *possible*, not *valid*: the number parses (in `region` unless it starts
/// with `+`), its country calling code exists, and its national number has one of the lengths
/// that country's numbers have. Whether the number sits in a range the numbering plan lists
/// today (`phonenumber::is_valid`) is not asked: CRMs hold test numbers (`+1 555-000-0004`),
/// numbers in ranges opened after the metadata was cut, and fictional ones, and a look-up for
/// such a number must still find the record that holds it. The same check runs on the vendor's
/// side ([`Phone::from_vendor`]), so a caller's number and a stored one compare in one form.
///
/// `phonenumber` 0.3 has no public possible-number check (its `Validation` length check is
/// private, and `is_viable` only looks at the characters), so the lengths are read from its
/// metadata: the union of the possible lengths of every number type of the number's region
/// (the country calling code's main region when the number fits no region's leading digits).
/// Lengths that are only possible locally (a US number without its area code) do not count:
/// such a number has no E.164 form.
fn to_e164(text: &str, region: Region) -> Option<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    let parsed = phonenumber::parse(Some(region.0), trimmed).ok()?;
    let national = parsed.national().to_string();
    let length = u16::try_from(national.len()).ok()?;
    if !possible_lengths(&parsed).contains(&length) {
        return None;
    }
    Some(parsed.format().mode(phonenumber::Mode::E164).to_string())
}

/// The national-number lengths numbers of `number`'s region can have (see [`to_e164`]).
fn possible_lengths(number: &phonenumber::PhoneNumber) -> Vec<u16> {
    use phonenumber::metadata::DATABASE;
    let code = number.code().value();
    let by_region = number
        .country()
        .id()
        .and_then(|id| DATABASE.by_id(id.as_ref()));
    let meta = by_region.or_else(|| {
        let all = DATABASE.by_code(&code)?;
        all.iter()
            .find(|m| m.is_main_country_for_code())
            .or_else(|| all.first())
            .copied()
    });
    let Some(meta) = meta else {
        return Vec::new();
    };
    let d = meta.descriptors();
    let mut lengths: Vec<u16> = [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ]
    .into_iter()
    .flatten()
    .flat_map(|desc| desc.possible_length().iter().copied())
    .collect();
    lengths.sort_unstable();
    lengths.dedup();
    lengths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_values() {
        let email = Email::parse("Jane.Doe@Example.com").unwrap();
        let phone = Phone::parse("(415) 555-0100", Region::us()).unwrap();
        let name = Personal::new("Jane".to_owned());
        let all = format!("{email:?} {phone:?} {name:?}");
        assert!(!all.to_lowercase().contains("jane"));
        assert!(!all.contains("555"));
    }

    #[test]
    fn email_is_normalised_and_validated() {
        assert_eq!(
            Email::parse("  Jane.Doe@Example.COM ").unwrap().expose(),
            "jane.doe@example.com"
        );
        for bad in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "a b@example.com",
            "a@b",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert_eq!(err.kind(), &crate::ErrorKind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn phone_formats_normalise_to_one_e164() {
        let forms = [
            "+1 415 555 0100",
            "(415) 555-0100",
            "4155550100",
            "415.555.0100",
        ];
        for f in forms {
            assert_eq!(
                Phone::parse(f, Region::us()).unwrap().e164(),
                Some("+14155550100"),
                "{f}"
            );
        }
        let cn = Phone::parse("138 0013 8000", Region::parse("cn").unwrap()).unwrap();
        assert_eq!(cn.e164(), Some("+8613800138000"));
        assert!(Phone::parse("12", Region::us()).is_err());
        let odd = Phone::from_vendor("call reception", Region::us());
        assert_eq!(odd.e164(), None);
        assert_eq!(odd.for_vendor(), "call reception");
    }

    #[test]
    fn phone_lookup_accepts_possible_numbers_item12() {
        let us = Region::us();
        let gb = Region::parse("GB").unwrap();
        // Possible but not valid today: a 555 test number, an unallocated UK range (04...),
        // Ofcom's drama range.
        for (text, region, e164) in [
            ("+1 555-000-0004", us, "+15550000004"),
            ("555-000-0004", us, "+15550000004"),
            ("1 (555) 000-0004", us, "+15550000004"),
            ("+44 4000 000000", us, "+444000000000"),
            ("04000 000000", gb, "+444000000000"),
            ("01632 960983", gb, "+441632960983"),
        ] {
            let parsed =
                Phone::parse(text, region).unwrap_or_else(|e| panic!("{text} refused: {e}"));
            assert_eq!(parsed.e164(), Some(e164), "{text}");
        }
        // What cannot be a phone number is still refused, without repeating it.
        for (text, region) in [
            ("call reception", us),
            ("abc", us),
            ("123", us),
            ("12", us),
            // Seven digits are a US number without its area code: no E.164 form.
            ("555-0100", us),
            ("+1 555 000 00045", us),
            ("+999 1234567", us),
            ("", us),
        ] {
            let err = Phone::parse(text, region).unwrap_err();
            assert_eq!(err.kind(), &crate::ErrorKind::InvalidInput, "{text}");
            assert!(text.is_empty() || !err.to_string().contains(text), "{err}");
        }
    }

    #[test]
    fn a_stored_possible_number_matches_the_callers_item12() {
        let caller = Phone::parse("+1 555-000-0004", Region::us()).unwrap();
        for stored in ["(555) 000-0004", "+15550000004", "555.000.0004"] {
            let vendor = Phone::from_vendor(stored, Region::us());
            assert_eq!(vendor.e164(), caller.e164(), "{stored}");
            assert!(vendor.e164().is_some(), "{stored}");
        }
        let uk_caller = Phone::parse("+44 4000 000000", Region::us()).unwrap();
        let uk_stored = Phone::from_vendor("04000 000000", Region::parse("GB").unwrap());
        assert_eq!(uk_stored.e164(), uk_caller.e164());
        assert_eq!(
            Phone::from_vendor("call reception", Region::us()).e164(),
            None
        );
    }

    #[test]
    fn masks_hide_most_of_the_value() {
        let email = Email::parse("jane@example.com").unwrap();
        assert_eq!(email.masked(), "j***@example.com");
        let phone = Phone::parse("+1 415 555 0100", Region::us()).unwrap();
        assert_eq!(phone.masked(), "+1********00");
        assert_eq!(Personal::new("Jane".to_owned()).masked(), "J***");
    }
}

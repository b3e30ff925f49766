//! Personal values (names, email addresses, phone numbers, free text) and the wrapper that keeps
//! them out of `Debug` output, logs and error messages.

use std::fmt;
use std::sync::OnceLock;

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

    /// [`Email::from_vendor`] for text the caller owns: kept without a copy when it is already
    /// trimmed and lower case, as vendors mostly store addresses (a record read does this for
    /// every address).
    pub(crate) fn from_vendor_owned(text: String) -> Self {
        // ASCII only: there lower-casing is exactly "no A-Z" (Unicode has letters that change
        // case without being upper case).
        let normal = text.is_ascii()
            && !text.bytes().any(|b| b.is_ascii_uppercase())
            && text.trim().len() == text.len();
        if normal {
            Self(Personal::new(text))
        } else {
            Self::from_vendor(&text)
        }
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
///
/// A number read from a vendor ([`Phone::from_vendor`]) is normalised lazily, the first time
/// its E.164 form is needed ([`Phone::e164`], a comparison, serialisation), and at most once:
/// parsing with the numbering-plan metadata costs microseconds per number, and a bulk read
/// streams many records whose phones nobody looks at.
pub struct Phone {
    raw: Personal<String>,
    /// The region a national number is read in; used only while `e164` is not yet known.
    region: Region,
    e164: OnceLock<Option<Personal<String>>>,
}

impl Clone for Phone {
    fn clone(&self) -> Self {
        Self {
            raw: self.raw.clone(),
            region: self.region,
            e164: self.e164.clone(),
        }
    }
}

/// Two phones are equal when their text and their E.164 form are (as before normalisation was
/// lazy); the region a number was read in is not part of its value.
impl PartialEq for Phone {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw && self.e164() == other.e164()
    }
}

impl Eq for Phone {}

/// Hashes what equality compares; the E.164 form is worked out here if it was not yet, so a
/// phone's hash is the same before and after its cell is filled.
impl std::hash::Hash for Phone {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
        self.e164().hash(state);
    }
}

/// The serialised form: `{"raw": "...", "e164": "..."}` (`e164` null or absent when the text is
/// not a phone number).
#[derive(Serialize)]
struct PhoneOut<'a> {
    raw: &'a str,
    e164: Option<&'a str>,
}

#[derive(Deserialize)]
struct PhoneIn {
    raw: Personal<String>,
    e164: Option<Personal<String>>,
}

impl Serialize for Phone {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        PhoneOut {
            raw: self.raw(),
            e164: self.e164(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Phone {
    /// The stored E.164 form is taken as is: a serialised phone was normalised when it was
    /// written, and the region it was read in is not stored.
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let PhoneIn { raw, e164 } = PhoneIn::deserialize(deserializer)?;
        Ok(Self {
            raw,
            region: Region::default(),
            e164: OnceLock::from(e164),
        })
    }
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
            region,
            e164: OnceLock::from(Some(Personal::new(e164))),
        })
    }

    /// Takes a number as a vendor stored it: kept as is, with its E.164 form when it is a
    /// possible number in `region` (the same check as [`Phone::parse`], so a stored number and a
    /// caller's compare in one form). Never fails, so that a record with an odd phone stays
    /// readable.
    ///
    /// Nothing is parsed here: the E.164 form is worked out the first time it is asked for, so
    /// reading a record costs no phone parsing unless its phone is used.
    pub fn from_vendor(text: &str, region: Region) -> Self {
        Self {
            raw: Personal::new(text.trim().to_owned()),
            region,
            e164: OnceLock::new(),
        }
    }

    /// [`Phone::from_vendor`] for text the caller owns: kept without a copy when it is already
    /// trimmed.
    pub(crate) fn from_vendor_owned(text: String, region: Region) -> Self {
        if text.trim().len() == text.len() {
            Self {
                raw: Personal::new(text),
                region,
                e164: OnceLock::new(),
            }
        } else {
            Self::from_vendor(&text, region)
        }
    }

    /// The E.164 form, when the number is a possible one. Parsed on the first call for a
    /// number read from a vendor, then kept.
    pub fn e164(&self) -> Option<&str> {
        self.e164
            .get_or_init(|| to_e164(self.raw.expose(), self.region).map(Personal::new))
            .as_ref()
            .map(|p| p.expose().as_str())
    }

    /// The text as given or stored.
    pub fn raw(&self) -> &str {
        self.raw.expose()
    }

    /// The best form to send to a CRM: E.164 when known, the raw text otherwise.
    pub fn for_vendor(&self) -> &str {
        self.e164().unwrap_or_else(|| self.raw())
    }

    /// `+1*******00` for a number written in international form (its first digit and its last
    /// two), `********00` for a national one (its last two digits): worked out from the text
    /// alone, so one number always masks the same way.
    ///
    /// Masking never parses: it is what a log line or a printed view does with a number read
    /// from a CRM, and parsing would load the phone library's metadata (tens of milliseconds,
    /// most of a one-shot look-up's time) for nothing; nor does it read the E.164 form when
    /// something else parsed the number, which would make the mask depend on history.
    pub fn masked(&self) -> String {
        let raw = self.raw().trim();
        // The national trunk prefix `(0)` some write after the country code is not part of
        // the number (E.164 drops it).
        let international = raw.starts_with('+');
        let text = if international {
            raw.replacen("(0)", "", 1)
        } else {
            raw.to_owned()
        };
        let digits: Vec<char> = text.chars().filter(char::is_ascii_digit).collect();
        if digits.len() < 5 {
            return "***".to_owned();
        }
        let tail: String = digits.iter().skip(digits.len() - 2).collect();
        if international {
            let first: String = digits.iter().take(1).collect();
            format!("+{first}{}{tail}", "*".repeat(digits.len() - 3))
        } else {
            format!("{}{tail}", "*".repeat(digits.len() - 2))
        }
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phone(<redacted>)")
    }
}

/// Starts loading the phone library's numbering-plan metadata on a background thread, once per
/// process; returns whether this call started it.
///
/// The library loads its metadata (every region's patterns) on the first parse, which takes
/// tens of milliseconds; without this, that first parse lands inside some call's latency (the
/// first phone look-up, the first record whose phone is read). A thread rather than a blocking
/// load, so that building a client stays instant; a parse that comes before the thread is done
/// waits for it, as it would have loaded the metadata itself.
pub(crate) fn warm_up_phone_metadata() -> bool {
    static STARTED: std::sync::Once = std::sync::Once::new();
    let mut started = false;
    STARTED.call_once(|| {
        started = std::thread::Builder::new()
            .name("crm-core-warm-up".to_owned())
            .spawn(load_phone_metadata)
            .is_ok();
    });
    started
}

/// A parse that touches what every later one needs: the metadata, and the default region's
/// patterns.
fn load_phone_metadata() {
    let _ = to_e164("(415) 555-0100", Region::us());
    let _ = to_e164("+44 20 7946 0000", Region::us());
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
    fn a_vendor_phone_is_parsed_only_when_used_issue15() {
        let phone = Phone::from_vendor(" (415) 555-0100 ", Region::us());
        assert!(phone.e164.get().is_none(), "parsed on read");
        assert_eq!(phone.raw(), "(415) 555-0100");
        let copy = phone.clone();
        assert!(copy.e164.get().is_none(), "parsed on clone");
        assert_eq!(phone.e164(), Some("+14155550100"));
        assert!(phone.e164.get().is_some(), "parsed once, then kept");
        assert_eq!(copy.for_vendor(), "+14155550100");
        assert_eq!(
            copy.masked(),
            "********00",
            "a national number masks the same once parsed"
        );
        // A caller's number is parsed up front (it must be refused at once when it is not one).
        assert!(
            Phone::parse("(415) 555-0100", Region::us())
                .unwrap()
                .e164
                .get()
                .is_some()
        );
    }

    #[test]
    fn a_record_read_parses_no_phone_issue15() {
        let mut fields = crate::FieldMap::new();
        fields.insert("phone".into(), crate::FieldValue::from("+1 415 555 0100"));
        let contact = <crate::Contact as crate::Entity>::from_fields(fields, Region::us()).unwrap();
        let phone = contact.phone.as_ref().unwrap();
        assert!(phone.e164.get().is_none());
        assert_eq!(phone.e164(), Some("+14155550100"));
    }

    #[test]
    fn lazy_phones_compare_hash_and_serialise_as_before_issue15() {
        use std::collections::HashSet;
        let us = Region::us();
        let caller = Phone::parse("(415) 555-0100", us).unwrap();
        let stored = Phone::from_vendor("(415) 555-0100", us);
        // Equality and hashing see the E.164 form, parsed on demand.
        assert_eq!(caller, stored);
        assert_ne!(stored, Phone::from_vendor("+1 415 555 0100", us));
        // The cell filled on first use does not change the hash: it hashes the E.164 form,
        // which is the same whether it was worked out before or during hashing.
        #[allow(clippy::mutable_key_type)]
        let set: HashSet<Phone> = [caller.clone(), Phone::from_vendor("(415) 555-0100", us)]
            .into_iter()
            .collect();
        assert_eq!(set.len(), 1);
        // The same shape as the derived form had.
        let json = serde_json::to_value(Phone::from_vendor("(415) 555-0100", us)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"raw": "(415) 555-0100", "e164": "+14155550100"})
        );
        let odd = serde_json::to_value(Phone::from_vendor("call reception", us)).unwrap();
        assert_eq!(
            odd,
            serde_json::json!({"raw": "call reception", "e164": null})
        );
        let back: Phone = serde_json::from_value(json).unwrap();
        assert_eq!(back, caller);
        // A stored E.164 form is taken as written; an absent one means "not a number".
        let kept: Phone =
            serde_json::from_value(serde_json::json!({"raw": "x", "e164": "+15550000004"}))
                .unwrap();
        assert_eq!(kept.e164(), Some("+15550000004"));
        let absent: Phone = serde_json::from_value(serde_json::json!({"raw": "x"})).unwrap();
        assert_eq!(absent.e164(), None);
    }

    #[test]
    fn an_owned_vendor_value_reads_as_a_borrowed_one_issue15() {
        for text in [
            "jane.doe@example.com",
            " Jane.Doe@Example.com ",
            "JANE@EXAMPLE.COM",
            "ǅemal@example.com",
            "jürgen@example.de",
            "Jürgen@example.de",
            "+1 415 555 0100",
            " (415) 555-0100\n",
            "",
        ] {
            let owned = Email::from_vendor_owned(text.to_owned());
            assert_eq!(owned, Email::from_vendor(text), "{text:?}");
            let owned = Phone::from_vendor_owned(text.to_owned(), Region::us());
            let borrowed = Phone::from_vendor(text, Region::us());
            assert_eq!(owned.raw(), borrowed.raw(), "{text:?}");
            assert_eq!(owned.e164(), borrowed.e164(), "{text:?}");
        }
    }

    #[test]
    fn the_metadata_warm_up_starts_once_issue15() {
        let first = warm_up_phone_metadata();
        assert!(first, "the first call starts the load");
        assert!(!warm_up_phone_metadata(), "a second call starts nothing");
        assert!(!warm_up_phone_metadata());
        // Parsing works whether or not the load has finished.
        assert_eq!(
            Phone::from_vendor("415 555 0100", Region::us()).e164(),
            Some("+14155550100")
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

    #[test]
    fn an_international_vendor_phone_is_masked_without_parsing_issue15() {
        for (raw, masked) in [
            ("+1 415 555 0100", "+1********00"),
            ("+44 20 7946 0018", "+4*********18"),
        ] {
            let phone = Phone::from_vendor(raw, Region::us());
            assert_eq!(phone.masked(), masked, "{raw}");
            assert!(phone.e164.get().is_none(), "{raw} was parsed to be masked");
            // The same mask as the parsed number gives.
            assert_eq!(
                phone.e164().map(|_| phone.masked()),
                Some(masked.to_owned())
            );
        }
        // The trunk prefix written after the country code is not counted.
        let trunk = Phone::from_vendor("+44 (0)20 7946 0018", Region::us());
        assert_eq!(trunk.masked(), "+4*********18");
        // A national number is not parsed to be masked: its last two digits only.
        let national = Phone::from_vendor("(415) 555-0100", Region::us());
        assert_eq!(national.masked(), "********00");
        assert!(national.e164.get().is_none(), "parsed to be masked");
        // Once parsed (compared, sent), it masks exactly as before: the mask depends on the
        // text, never on what was done with the number.
        assert_eq!(national.e164(), Some("+14155550100"));
        assert_eq!(national.masked(), "********00");
    }
}

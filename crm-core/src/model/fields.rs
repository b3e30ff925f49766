//! Typed reading and writing of a record's common field map.
//!
//! Every entity converts to and from a [`FieldMap`] keyed by *common* field names (`email`,
//! `account_id`, `status`...). The mapping engine then turns common names into vendor names and
//! back, so vendor-specific code never touches the typed model.

use chrono::{DateTime, NaiveDate, Utc};

use super::{
    Email, FieldList, FieldMap, FieldValue, Number, ObjectKind, Personal, Phone, RecordId, Region,
    State, Status,
};
use crate::error::{Error, Result};

/// Reads typed values out of a common field map, naming the field in every error.
#[derive(Debug)]
pub struct FieldReader {
    kind: ObjectKind,
    fields: FieldList,
    region: Region,
}

impl FieldReader {
    /// Starts reading `map`, a record of `kind`. National phone numbers are read in `region`.
    pub fn new(kind: ObjectKind, map: FieldMap, region: Region) -> Self {
        Self::from_list(kind, map.into(), region)
    }

    /// Starts reading `fields`, a record of `kind`, as a read produced them.
    pub fn from_list(kind: ObjectKind, fields: FieldList, region: Region) -> Self {
        Self {
            kind,
            fields,
            region,
        }
    }

    fn wrong_type(&self, field: &str, expected: &str, got: &FieldValue) -> Error {
        Error::mapping(format!(
            "{}.{field}: expected {expected}, got {}",
            self.kind,
            got.type_name()
        ))
    }

    fn take(&mut self, field: &str) -> Option<FieldValue> {
        match self.fields.take(field) {
            None | Some(FieldValue::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// Text. Numbers and booleans are accepted as their text form.
    pub fn text(&mut self, field: &str) -> Result<Option<String>> {
        match self.take(field) {
            None => Ok(None),
            Some(FieldValue::Text(s)) => Ok(Some(s)),
            Some(FieldValue::Number(n)) => Ok(Some(n.to_string())),
            Some(FieldValue::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(self.wrong_type(field, "text", &other)),
        }
    }

    /// Text that is personal data.
    pub fn personal(&mut self, field: &str) -> Result<Option<Personal<String>>> {
        Ok(self.text(field)?.map(Personal::new))
    }

    /// An email address as the vendor stored it.
    pub fn email(&mut self, field: &str) -> Result<Option<Email>> {
        Ok(self
            .text(field)?
            .filter(|s| !s.trim().is_empty())
            .map(Email::from_vendor_owned))
    }

    /// A phone number as the vendor stored it, with its E.164 form when it parses.
    pub fn phone(&mut self, field: &str) -> Result<Option<Phone>> {
        let region = self.region;
        Ok(self
            .text(field)?
            .filter(|s| !s.trim().is_empty())
            .map(|s| Phone::from_vendor_owned(s, region)))
    }

    /// A record id.
    pub fn id(&mut self, field: &str) -> Result<Option<RecordId>> {
        match self.text(field)? {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => RecordId::new(s)
                .map(Some)
                .map_err(|e| Error::mapping(format!("{}.{field}: {}", self.kind, e.message()))),
        }
    }

    /// A decimal number; numeric text is accepted.
    pub fn number(&mut self, field: &str) -> Result<Option<Number>> {
        match self.take(field) {
            None => Ok(None),
            Some(FieldValue::Number(n)) => Ok(Some(n)),
            Some(FieldValue::Text(s)) if s.trim().is_empty() => Ok(None),
            Some(FieldValue::Text(s)) => Number::parse(&s).map(Some).map_err(|_| {
                Error::mapping(format!("{}.{field}: expected number, got text", self.kind))
            }),
            Some(other) => Err(self.wrong_type(field, "number", &other)),
        }
    }

    /// A boolean; `"true"`/`"false"` text is accepted.
    pub fn bool(&mut self, field: &str) -> Result<Option<bool>> {
        match self.take(field) {
            None => Ok(None),
            Some(FieldValue::Bool(b)) => Ok(Some(b)),
            Some(FieldValue::Text(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                "" => Ok(None),
                _ => Err(Error::mapping(format!(
                    "{}.{field}: expected bool, got text",
                    self.kind
                ))),
            },
            Some(other) => Err(self.wrong_type(field, "bool", &other)),
        }
    }

    /// A date; a datetime is cut to its UTC date, ISO text (`2026-11-24`) is accepted.
    pub fn date(&mut self, field: &str) -> Result<Option<NaiveDate>> {
        match self.take(field) {
            None => Ok(None),
            Some(FieldValue::Date(d)) => Ok(Some(d)),
            Some(FieldValue::DateTime(dt)) => Ok(Some(dt.date_naive())),
            Some(FieldValue::Text(s)) if s.trim().is_empty() => Ok(None),
            Some(FieldValue::Text(s)) => parse_date(&s)
                .map(Some)
                .ok_or_else(|| Error::mapping(format!("{}.{field}: expected a date", self.kind))),
            Some(other) => Err(self.wrong_type(field, "date", &other)),
        }
    }

    /// An instant; RFC 3339 text, `+0000` offsets and epoch milliseconds are accepted.
    pub fn datetime(&mut self, field: &str) -> Result<Option<DateTime<Utc>>> {
        match self.take(field) {
            None => Ok(None),
            Some(FieldValue::DateTime(dt)) => Ok(Some(dt)),
            Some(FieldValue::Number(n)) => n
                .as_i64()
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .map(Some)
                .ok_or_else(|| {
                    Error::mapping(format!(
                        "{}.{field}: expected epoch milliseconds",
                        self.kind
                    ))
                }),
            Some(FieldValue::Text(s)) if s.trim().is_empty() => Ok(None),
            Some(FieldValue::Text(s)) => parse_datetime(&s).map(Some).ok_or_else(|| {
                Error::mapping(format!("{}.{field}: expected a datetime", self.kind))
            }),
            Some(other) => Err(self.wrong_type(field, "datetime", &other)),
        }
    }

    /// A status: `field` holds the vendor's raw value, `field_state` the normalised state name
    /// (set by the mapping's value map) and `field_label` the vendor's label.
    pub fn status<S: State>(&mut self, field: &str) -> Result<Option<Status<S>>> {
        let raw = self.text(field)?;
        let state = self.text(&format!("{field}_state"))?;
        let label = self.text(&format!("{field}_label"))?;
        if raw.is_none() && state.is_none() {
            return Ok(None);
        }
        let state = match state {
            None => S::UNKNOWN,
            Some(name) => S::from_name(&name).ok_or_else(|| {
                Error::mapping(format!(
                    "{}.{field}_state: `{name}` is not a known state",
                    self.kind
                ))
            })?,
        };
        Ok(Some(Status { state, raw, label }))
    }

    /// Everything not read yet: the record's custom fields. Null values are left out: on a
    /// read, a null custom field is simply unset.
    pub fn rest(self) -> FieldMap {
        // Fields read were left null; in name order, so the map is built in one pass.
        self.fields
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .collect()
    }
}

/// Parses `YYYY-MM-DD`, or the date part of a datetime.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .or_else(|| parse_datetime(t).map(|dt| dt.date_naive()))
}

/// Parses RFC 3339, Salesforce's `2013-05-20T20:49:32.000+0000` and epoch milliseconds.
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Some(dt) = parse_utc_millis(t) {
        return Some(dt);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(dt.with_timezone(&Utc));
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .ok()
            .and_then(DateTime::<Utc>::from_timestamp_millis);
    }
    None
}

/// The form most vendors stamp every record with, `2024-03-01T10:00:00.000Z` (UTC,
/// milliseconds), read by position: each record read parses two of them, and the general
/// RFC 3339 parser costs several times more. Anything else (another offset, other digits of a
/// second, a day that does not exist) is left to it.
fn parse_utc_millis(t: &str) -> Option<DateTime<Utc>> {
    let b = t.as_bytes();
    if b.len() != 24
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || b.get(19) != Some(&b'.')
        || !matches!(b.get(23), Some(b'Z' | b'z'))
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b.get(from..to)?.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(num(0, 4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, num(5, 7)?, num(8, 10)?)?;
    let time = date.and_hms_milli_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?)?;
    Some(time.and_utc())
}

/// Writes typed values into a common field map; `None` values are left out (a partial update
/// only touches the fields it sets).
#[derive(Debug, Default)]
pub struct FieldWriter {
    map: FieldMap,
}

impl FieldWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `field` when `value` is `Some`.
    pub fn put(&mut self, field: &str, value: Option<FieldValue>) -> &mut Self {
        if let Some(v) = value {
            self.map.insert(field.to_owned(), v);
        }
        self
    }

    /// Sets a text field.
    pub fn text(&mut self, field: &str, value: Option<&str>) -> &mut Self {
        self.put(field, value.map(FieldValue::from))
    }

    /// Sets a personal text field.
    pub fn personal(&mut self, field: &str, value: Option<&Personal<String>>) -> &mut Self {
        self.text(field, value.map(|p| p.expose().as_str()))
    }

    /// Sets a record-id field.
    pub fn id(&mut self, field: &str, value: Option<&RecordId>) -> &mut Self {
        self.text(field, value.map(RecordId::as_str))
    }

    /// Sets a status: its raw value when known, and its state name.
    pub fn status<S: State>(&mut self, field: &str, value: Option<&Status<S>>) -> &mut Self {
        if let Some(status) = value {
            self.text(field, status.raw.as_deref());
            self.text(&format!("{field}_state"), Some(status.state.as_str()));
        }
        self
    }

    /// Adds custom fields (they do not overwrite core fields already set).
    pub fn custom(&mut self, custom: &FieldMap) -> &mut Self {
        for (k, v) in custom {
            self.map.entry(k.clone()).or_insert_with(|| v.clone());
        }
        self
    }

    /// The finished map.
    pub fn finish(&mut self) -> FieldMap {
        std::mem::take(&mut self.map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TicketState;

    fn reader(pairs: &[(&str, FieldValue)]) -> FieldReader {
        let map = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        FieldReader::new(ObjectKind::Ticket, map, Region::us())
    }

    #[test]
    fn wrong_types_name_the_field() {
        let mut r = reader(&[("amount", FieldValue::Bool(true))]);
        let err = r.number("amount").unwrap_err();
        assert_eq!(err.kind(), &crate::ErrorKind::Mapping);
        assert!(err.message().contains("ticket.amount"), "{}", err.message());
    }

    #[test]
    fn datetimes_in_vendor_forms() {
        let a = parse_datetime("2013-05-20T20:49:32.000+0000").unwrap();
        let b = parse_datetime("2013-05-20T20:49:32Z").unwrap();
        let c = parse_datetime("1369082972000").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(parse_date("2019-12-07").unwrap().to_string(), "2019-12-07");
        assert!(parse_datetime("yesterday").is_none());
    }

    #[test]
    fn the_usual_utc_form_reads_as_the_rfc_3339_parser_reads_it() {
        for t in [
            "2024-03-01T10:00:00.000Z",
            "2024-02-29T23:59:59.999Z",
            "1999-12-31t00:00:00.001z",
            "2024-02-30T10:00:00.000Z",
            "2024-13-01T10:00:00.000Z",
            "2024-03-01T24:00:00.000Z",
            "2024-03-01T10:00:60.000Z",
            "2024-03-01T10:00:00.00xZ",
            "2024-03-01T10:00:00+0000",
            "+024-03-01T10:00:00.000Z",
        ] {
            let general = DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|dt| dt.with_timezone(&Utc));
            // The fast path reads it as the general parser does, or leaves it to it.
            assert_eq!(parse_utc_millis(t).or(general), general, "{t}");
        }
        for t in [
            "2024-03-01T10:00:00.000Z",
            "2024-02-29T23:59:59.999Z",
            "1999-12-31t00:00:00.001z",
        ] {
            assert!(parse_utc_millis(t).is_some(), "{t} takes the fast path");
        }
    }

    #[test]
    fn status_reads_raw_state_and_label() {
        let mut r = reader(&[
            ("status", "2".into()),
            ("status_state", "waiting".into()),
            ("status_label", "Waiting on contact".into()),
            ("x_custom", "kept".into()),
        ]);
        let s: Status<TicketState> = r.status("status").unwrap().unwrap();
        assert_eq!(s.state, TicketState::Waiting);
        assert_eq!(s.raw.as_deref(), Some("2"));
        assert_eq!(s.display(), "Waiting on contact");
        assert_eq!(r.rest().len(), 1);
        let mut bad = reader(&[("status", "9".into()), ("status_state", "exploded".into())]);
        assert!(bad.status::<TicketState>("status").is_err());
    }
}

//! Typed field values and the field map that carries custom fields and the record machinery's
//! vendor-neutral view of a record.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A decimal number kept as its canonical text, so that a value read from a CRM and written back
/// is never changed by a float round trip (`0.1`, `12345678901234567890`).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Number(String);

impl Number {
    /// Parses a decimal number: optional sign, digits, optional fraction and exponent.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        if is_decimal(t) {
            Ok(Self(t.to_owned()))
        } else {
            Err(Error::mapping("not a decimal number"))
        }
    }

    /// The number as text, exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as a float (may round).
    pub fn as_f64(&self) -> f64 {
        self.0.parse().unwrap_or(f64::NAN)
    }

    /// The number as an integer, if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }
}

fn is_decimal(t: &str) -> bool {
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let int_ok = digits(int) || (int.is_empty() && frac.is_some_and(digits));
    let frac_ok = frac.is_none_or(|f| f.is_empty() && !int.is_empty() || digits(f));
    let exp_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    int_ok && frac_ok && exp_ok
}

impl TryFrom<String> for Number {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::parse(&value)
    }
}

impl From<Number> for String {
    fn from(value: Number) -> Self {
        value.0
    }
}

impl From<i64> for Number {
    fn from(value: i64) -> Self {
        Self(value.to_string())
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({})", self.0)
    }
}

/// One field's value, typed.
///
/// Custom fields can hold personal data the SDK knows nothing about, so `Debug` on a
/// [`FieldValue::Text`] or [`FieldValue::List`] prints only its length.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FieldValue {
    /// Text.
    Text(String),
    /// A decimal number.
    Number(Number),
    /// A boolean.
    Bool(bool),
    /// A calendar date without time.
    Date(NaiveDate),
    /// An instant in time.
    DateTime(DateTime<Utc>),
    /// Several values (a multi-select picklist).
    List(Vec<String>),
    /// Explicitly no value: on a write this clears the field in the CRM.
    Null,
}

impl FieldValue {
    /// The text, if this is [`FieldValue::Text`].
    pub fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the variant, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Text(_) => "text",
            FieldValue::Number(_) => "number",
            FieldValue::Bool(_) => "bool",
            FieldValue::Date(_) => "date",
            FieldValue::DateTime(_) => "datetime",
            FieldValue::List(_) => "list",
            FieldValue::Null => "null",
        }
    }

    /// Whether this is [`FieldValue::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, FieldValue::Null)
    }
}

impl fmt::Debug for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Text(s) => write!(f, "Text(<{} chars>)", s.chars().count()),
            FieldValue::List(v) => write!(f, "List(<{} items>)", v.len()),
            FieldValue::Number(n) => write!(f, "{n:?}"),
            FieldValue::Bool(b) => write!(f, "Bool({b})"),
            FieldValue::Date(d) => write!(f, "Date({d})"),
            FieldValue::DateTime(d) => write!(f, "DateTime({})", d.to_rfc3339()),
            FieldValue::Null => f.write_str("Null"),
        }
    }
}

impl FieldValue {
    /// A typed JSON value as a field value: strings are text, numbers keep their text (no
    /// float round trip), arrays are lists (non-string items as their JSON text), nested
    /// objects are kept as their JSON text.
    pub fn from_json(v: &serde_json::Value) -> Self {
        use serde_json::Value;
        match v {
            Value::Null => FieldValue::Null,
            Value::Bool(b) => FieldValue::Bool(*b),
            Value::Number(n) => Number::parse(&n.to_string())
                .map(FieldValue::Number)
                .unwrap_or_else(|_| FieldValue::Text(n.to_string())),
            Value::String(s) => FieldValue::Text(s.clone()),
            Value::Array(items) => FieldValue::List(
                items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect(),
            ),
            Value::Object(_) => FieldValue::Text(v.to_string()),
        }
    }

    /// The field value as typed JSON: dates `YYYY-MM-DD`, datetimes RFC 3339 UTC with
    /// milliseconds, lists as arrays, numbers as JSON numbers (as text if JSON cannot hold
    /// them). Vendors with other conventions (HubSpot's all-string properties, Salesforce's
    /// `a;b` multi-selects) adjust the few cases that differ.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            FieldValue::Text(s) => Value::String(s.clone()),
            FieldValue::Number(n) => serde_json::from_str::<serde_json::Number>(n.as_str())
                .map(Value::Number)
                .unwrap_or_else(|_| Value::String(n.to_string())),
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
            FieldValue::DateTime(dt) => {
                Value::String(dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            }
            FieldValue::List(items) => {
                Value::Array(items.iter().cloned().map(Value::String).collect())
            }
            FieldValue::Null => Value::Null,
        }
    }
}

impl From<&str> for FieldValue {
    fn from(value: &str) -> Self {
        FieldValue::Text(value.to_owned())
    }
}

impl From<String> for FieldValue {
    fn from(value: String) -> Self {
        FieldValue::Text(value)
    }
}

impl From<bool> for FieldValue {
    fn from(value: bool) -> Self {
        FieldValue::Bool(value)
    }
}

impl From<Number> for FieldValue {
    fn from(value: Number) -> Self {
        FieldValue::Number(value)
    }
}

impl From<NaiveDate> for FieldValue {
    fn from(value: NaiveDate) -> Self {
        FieldValue::Date(value)
    }
}

impl From<DateTime<Utc>> for FieldValue {
    fn from(value: DateTime<Utc>) -> Self {
        FieldValue::DateTime(value)
    }
}

/// Field name → value. Ordered, so that requests, audit records and tests are deterministic.
pub type FieldMap = BTreeMap<String, FieldValue>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_text() {
        for ok in [
            "0",
            "-17",
            "0.1",
            "12345678901234567890.000001",
            "1e9",
            "+2.5E-3",
            ".5",
            "5.",
        ] {
            assert_eq!(Number::parse(ok).unwrap().as_str(), ok, "{ok}");
        }
        for bad in ["", "-", "1.2.3", "abc", "1e", "NaN", "1,5", "."] {
            assert!(Number::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Number::parse("42").unwrap().as_i64(), Some(42));
    }

    #[test]
    fn text_debug_is_redacted() {
        let v = FieldValue::Text("secret diagnosis".into());
        assert_eq!(format!("{v:?}"), "Text(<16 chars>)");
    }

    #[test]
    fn json_round_trip_keeps_types_and_precision() {
        let v = serde_json::json!({"a": "x", "b": 12.5, "c": true, "d": null, "e": ["p", "q"], "f": 12345678901234567890u64});
        for (_, item) in v.as_object().unwrap() {
            assert_eq!(&FieldValue::from_json(item).to_json(), item);
        }
        let nested = serde_json::json!({"k": 1});
        assert_eq!(
            FieldValue::from_json(&nested),
            FieldValue::Text("{\"k\":1}".into())
        );
    }

    #[test]
    fn serde_round_trip() {
        let mut map = FieldMap::new();
        map.insert(
            "a".into(),
            FieldValue::Number(Number::parse("0.1").unwrap()),
        );
        map.insert("b".into(), FieldValue::Null);
        map.insert("c".into(), FieldValue::List(vec!["x".into(), "y".into()]));
        let json = serde_json::to_string(&map).unwrap();
        let back: FieldMap = serde_json::from_str(&json).unwrap();
        assert_eq!(back, map);
    }
}

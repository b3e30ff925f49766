//! Property values: HubSpot sends and takes every value as a string (its CRM API docs). Typed
//! values become strings without loss on the way out; on the way in they stay text and the
//! model's typed readers parse them (`"17"`, `"false"`, epoch-ms or ISO dates).

use crm_core::reexports::chrono::SecondsFormat;
use crm_core::reexports::serde_json::{Map, Value};
use crm_core::{FieldMap, FieldValue};

/// A typed value as HubSpot's string: numbers as written, booleans `true`/`false`, dates
/// `YYYY-MM-DD`, instants ISO-8601 UTC with milliseconds, multi-select `a;b`, and `""` for
/// [`FieldValue::Null`], which clears the property.
pub(crate) fn to_hubspot(value: &FieldValue) -> String {
    match value {
        FieldValue::Text(s) => s.clone(),
        FieldValue::Number(n) => n.as_str().to_owned(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Date(d) => d.format("%Y-%m-%d").to_string(),
        FieldValue::DateTime(dt) => dt.to_rfc3339_opts(SecondsFormat::Millis, true),
        FieldValue::List(items) => items.join(";"),
        _ => String::new(),
    }
}

/// A property value from a response: strings stay text, `null` (requested but unset) is
/// [`FieldValue::Null`]; anything else (HubSpot sends none) keeps its JSON text.
pub(crate) fn from_hubspot(value: &Value) -> FieldValue {
    match value {
        Value::Null => FieldValue::Null,
        Value::String(s) => FieldValue::Text(s.clone()),
        Value::Bool(b) => FieldValue::Text(b.to_string()),
        Value::Number(n) => FieldValue::Text(n.to_string()),
        other => FieldValue::Text(other.to_string()),
    }
}

/// Vendor fields → a `properties` object.
pub(crate) fn to_properties(fields: &FieldMap) -> Map<String, Value> {
    fields
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(to_hubspot(v))))
        .collect()
}

/// A `properties` object → vendor fields, without the names in `skip`.
pub(crate) fn from_properties(props: &Map<String, Value>, skip: &[&str]) -> FieldMap {
    props
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), from_hubspot(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::Number;
    use crm_core::model::fields::FieldReader;
    use crm_core::reexports::chrono::{DateTime, NaiveDate};
    use crm_core::{ObjectKind, Region};

    #[test]
    fn typed_values_round_trip_through_strings() {
        let cases = [
            (
                FieldValue::Number(Number::parse("12345678901234567890.01").unwrap()),
                "12345678901234567890.01",
            ),
            (FieldValue::Bool(false), "false"),
            (
                FieldValue::Date(NaiveDate::from_ymd_opt(2026, 12, 15).unwrap()),
                "2026-12-15",
            ),
            (
                FieldValue::DateTime(DateTime::from_timestamp_millis(1_572_480_000_123).unwrap()),
                "2019-10-31T00:00:00.123Z",
            ),
            (FieldValue::List(vec!["a".into(), "b".into()]), "a;b"),
            (FieldValue::Null, ""),
            (FieldValue::Text("x".into()), "x"),
        ];
        for (v, s) in cases {
            assert_eq!(to_hubspot(&v), s);
        }
        let mut map = FieldMap::new();
        for (name, text) in [
            ("n", "17"),
            ("b", "false"),
            ("ms", "1572480000000"),
            ("iso", "2019-10-31T00:00:00.000Z"),
            ("d", "2026-12-15"),
        ] {
            map.insert(name.into(), from_hubspot(&Value::String(text.into())));
        }
        let mut r = FieldReader::new(ObjectKind::Contact, map, Region::us());
        assert_eq!(r.number("n").unwrap().unwrap().as_str(), "17");
        assert_eq!(r.bool("b").unwrap(), Some(false));
        assert_eq!(
            r.datetime("ms").unwrap(),
            DateTime::from_timestamp_millis(1_572_480_000_000)
        );
        assert_eq!(
            r.datetime("iso").unwrap(),
            DateTime::from_timestamp_millis(1_572_480_000_000)
        );
        assert_eq!(r.date("d").unwrap(), NaiveDate::from_ymd_opt(2026, 12, 15));
        assert_eq!(from_hubspot(&Value::Null), FieldValue::Null);
    }
}

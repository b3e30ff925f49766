//! Reading a vendor's JSON into vendor records: typed look-ups whose errors name the JSON path
//! and what was expected there, never the value found (a value may be a customer's email), and
//! the conversions between a JSON object and a [`FieldMap`].
//!
//! Every adapter meets a paging field of the wrong type, a list that holds a non-record or an id
//! that is neither a number nor text. Read as "absent", such a field ends a listing early or
//! drops a record without a word; these helpers make it a [`Decode`](crate::ErrorKind::Decode)
//! error instead, worded the same for every vendor.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::model::{FieldMap, FieldValue};

/// What a JSON value is, in words: `null`, `a boolean`, `a number`, `a string`, `a list`,
/// `an object`.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A decode error naming the JSON `path` and what was `expected` there, and the type (never the
/// value) found: ``field `data.items`: expected a list, found a string``.
pub fn wrong_type(path: &str, expected: &str, found: &Value) -> Error {
    Error::decode(format!(
        "field `{path}`: expected {expected}, found {}",
        type_name(found)
    ))
}

/// A text field: missing or `null` is `None`, another type a decode error naming `path`.
pub fn opt_str<'a>(v: Option<&'a Value>, path: &str) -> Result<Option<&'a str>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(path, "text", other)),
    }
}

/// A boolean field: missing or `null` is `None`, another type a decode error naming `path`.
pub fn opt_bool(v: Option<&Value>, path: &str) -> Result<Option<bool>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong_type(path, "a boolean", other)),
    }
}

/// A whole-number field (0 or more): missing or `null` is `None`, anything else (a negative or
/// fractional number included) a decode error naming `path`.
pub fn opt_u64(v: Option<&Value>, path: &str) -> Result<Option<u64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64()),
        Some(other) => Err(wrong_type(path, "a whole number", other)),
    }
}

/// A record's id as text: a number, or non-empty text. Missing, empty or another type is a
/// decode error naming `path`.
pub fn id_text(v: Option<&Value>, path: &str) -> Result<String> {
    match v {
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None => {
            Err(Error::decode(format!("field `{path}`: missing or empty")))
        }
        Some(other) => Err(wrong_type(path, "a number or text id", other)),
    }
}

/// The records of a listing at `path`: a list of JSON objects, `null` being none. Anything else,
/// or an entry that is not an object, is a decode error naming where (`data[3]`).
pub fn objects(v: Value, path: &str) -> Result<Vec<Value>> {
    let records = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        other => return Err(wrong_type(path, "a list of records", &other)),
    };
    if let Some((i, r)) = records.iter().enumerate().find(|(_, r)| !r.is_object()) {
        return Err(wrong_type(
            &format!("{path}[{i}]"),
            "a record (a JSON object)",
            r,
        ));
    }
    Ok(records)
}

/// A JSON object's members as vendor fields ([`FieldValue::from_json`]).
pub fn to_fields(obj: &Map<String, Value>) -> FieldMap {
    obj.iter()
        .map(|(k, v)| (k.clone(), FieldValue::from_json(v)))
        .collect()
}

/// Vendor fields as a JSON object, the body of a write ([`FieldValue::to_json`]).
pub fn from_fields(fields: FieldMap) -> Map<String, Value> {
    fields.into_iter().map(|(k, v)| (k, v.to_json())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde_json::json;

    #[test]
    fn typed_lookups_read_absent_as_none_and_name_the_path_of_a_wrong_type() {
        let v = json!({"c": "x", "b": true, "n": 7, "neg": -1, "z": null});
        assert_eq!(opt_str(v.get("c"), "c").unwrap(), Some("x"));
        assert_eq!(opt_str(v.get("z"), "z").unwrap(), None);
        assert_eq!(opt_str(v.get("nope"), "nope").unwrap(), None);
        assert_eq!(opt_bool(v.get("b"), "b").unwrap(), Some(true));
        assert_eq!(opt_u64(v.get("n"), "n").unwrap(), Some(7));
        let err = opt_u64(v.get("neg"), "a.neg").unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Decode);
        assert_eq!(
            err.message(),
            "field `a.neg`: expected a whole number, found a number"
        );
        let err = opt_bool(v.get("c"), "a.c").unwrap_err();
        assert_eq!(
            err.message(),
            "field `a.c`: expected a boolean, found a string"
        );
    }

    #[test]
    fn errors_never_carry_the_value_found() {
        let v = json!({"email": "jane@example.com"});
        let err = opt_u64(v.get("email"), "email").unwrap_err();
        assert!(!err.to_string().contains("jane"), "{err}");
        let err = objects(json!(["jane@example.com"]), "data").unwrap_err();
        assert_eq!(
            err.message(),
            "field `data[0]`: expected a record (a JSON object), found a string"
        );
        assert!(!err.to_string().contains("jane"), "{err}");
    }

    #[test]
    fn ids_are_numbers_or_non_empty_text() {
        assert_eq!(id_text(Some(&json!(101)), "id").unwrap(), "101");
        assert_eq!(id_text(Some(&json!("a-1")), "id").unwrap(), "a-1");
        for bad in [None, Some(json!("")), Some(json!(true)), Some(json!({}))] {
            let err = id_text(bad.as_ref(), "id").unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::Decode, "{bad:?}");
            assert!(err.message().starts_with("field `id`:"), "{err}");
        }
    }

    #[test]
    fn listings_are_lists_of_objects_and_null_is_none() {
        assert!(objects(Value::Null, "data").unwrap().is_empty());
        assert_eq!(objects(json!([{"id": 1}]), "data").unwrap().len(), 1);
        let err = objects(json!({"id": 1}), "data").unwrap_err();
        assert_eq!(
            err.message(),
            "field `data`: expected a list of records, found an object"
        );
    }

    #[test]
    fn fields_and_json_objects_convert_both_ways() {
        let obj = json!({"name": "Acme", "size": 12, "vip": true, "gone": null});
        let Value::Object(obj) = obj else {
            unreachable!()
        };
        let fields = to_fields(&obj);
        assert_eq!(fields.get("name"), Some(&FieldValue::Text("Acme".into())));
        assert_eq!(fields.get("gone"), Some(&FieldValue::Null));
        assert_eq!(from_fields(fields), obj);
    }
}

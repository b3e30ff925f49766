//! Masking of stored payloads for operator listings: field names stay (what the write sets),
//! personal values go (emails, phones, names, free text).

use serde_json::Value;

use crate::model::{Email, Personal};

/// Fields whose values are never personal and that an operator needs as they are: kinds and
/// states, currency codes, instants and dates, an opportunity's amount (a number kept as text).
/// Record ids (`id`, `*_id`) are kept too.
const PLAIN: [&str; 7] = [
    "kind",
    "state",
    "currency",
    "timestamp",
    "due_at",
    "close_date",
    "amount",
];

/// The payload of a stored write, safe to print: the same fields, with every text value masked
/// (`J******`; an email as `j***@example.com`) and numbers replaced by `"*"`, except kinds,
/// states, currencies, dates, amounts and record ids (a link's `*_id`, a reference's `id`). An
/// `external_id` is masked (some systems use an email as one). Custom fields (`custom`) keep
/// only their value types. `null` and booleans stay, so an operator sees which fields are set.
pub fn mask_payload(payload: &Value) -> Value {
    walk(payload, None, false)
}

/// Masks one scalar `value` stored under `field` (an upsert key's value).
pub(super) fn mask_value(field: &str, value: &str) -> String {
    match field {
        "idempotency_key" => value.to_owned(),
        "email" => Email::from_vendor(value).masked(),
        _ => Personal::new(value.to_owned()).masked(),
    }
}

fn is_plain(key: &str) -> bool {
    PLAIN.contains(&key) || key == "id" || (key.ends_with("_id") && key != "external_id")
}

fn walk(value: &Value, key: Option<&str>, custom: bool) -> Value {
    match value {
        Value::Null | Value::Bool(_) => value.clone(),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), walk(v, Some(k), custom || k == "custom")))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| walk(v, key, custom)).collect()),
        Value::String(text) => Value::String(match key {
            // A custom field's value type (`text`, `number`...), never its value.
            Some("type") if custom => text.clone(),
            Some(k) if !custom && is_plain(k) => text.clone(),
            Some("email") if !custom => Email::from_vendor(text).masked(),
            _ => Personal::new(text.clone()).masked(),
        }),
        Value::Number(_) => match key {
            Some(k) if !custom && is_plain(k) => value.clone(),
            _ => Value::String("*".to_owned()),
        },
    }
}

//! The sandbox's error responses (`{"error": {...}}`), built so that no message ever carries a
//! submitted value: only field names, which the client chose from the published schema.

use serde_json::{Map, Value, json};

/// One error response: status, code, human message and the optional `fields` / `existing_id`.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// `(field name, per-field code)`.
    pub(crate) fields: Vec<(String, &'static str)>,
    pub(crate) existing_id: Option<String>,
    /// Extra response headers (`Allow`, `WWW-Authenticate`, …).
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
            existing_id: None,
            headers: Vec::new(),
        }
    }

    pub(crate) fn with_fields(mut self, fields: Vec<(String, &'static str)>) -> Self {
        self.fields = fields;
        self
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "unauthorized", "missing or invalid bearer token")
            .with_header("WWW-Authenticate", "Bearer")
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(404, "not_found", format!("{what} not found"))
    }

    pub(crate) fn method_not_allowed(allow: &'static str) -> Self {
        Self::new(405, "method_not_allowed", "method not allowed on this path")
            .with_header("Allow", allow)
    }

    pub(crate) fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_parameter", message)
    }

    pub(crate) fn malformed_json() -> Self {
        Self::new(400, "malformed_json", "the request body is not valid JSON")
    }

    pub(crate) fn duplicate(field: &str, existing_id: &str) -> Self {
        let mut e = Self::new(
            409,
            "duplicate",
            format!("another record already has this {field}"),
        )
        .with_fields(vec![(field.to_owned(), "duplicate")]);
        e.existing_id = Some(existing_id.to_owned());
        e
    }

    pub(crate) fn internal(status: u16, message: &str) -> Self {
        Self::new(status, "internal", message)
    }

    /// The JSON body: `fields` and `existing_id` only when they apply.
    pub(crate) fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        if !self.fields.is_empty() {
            let fields: Vec<Value> = self
                .fields
                .iter()
                .map(|(field, code)| json!({"field": field, "code": code}))
                .collect();
            error.insert("fields".into(), Value::Array(fields));
        }
        if let Some(id) = &self.existing_id {
            error.insert("existing_id".into(), json!(id));
        }
        json!({ "error": error })
    }
}

/// Joins field names for a message: `last_name, email`.
pub(crate) fn names(fields: &[(String, &'static str)]) -> String {
    fields
        .iter()
        .map(|(f, _)| f.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

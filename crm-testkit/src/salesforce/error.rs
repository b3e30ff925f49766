//! Salesforce's error bodies (REST API Developer Guide, status codes): a JSON array of
//! `{message, errorCode, fields}` at the top level, `{statusCode, message, fields}` inside
//! Collections results.

use serde_json::{Map, Value, json};

/// One error as Salesforce reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) fields: Vec<String>,
    /// Extra members of the error object (`duplicateResult`).
    pub(crate) extra: Option<Box<(String, Value)>>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            fields: Vec::new(),
            extra: None,
        }
    }

    pub(crate) fn with_fields(mut self, fields: Vec<String>) -> Self {
        self.fields = fields;
        self
    }

    pub(crate) fn not_found() -> Self {
        Self::new(404, "NOT_FOUND", "The requested resource does not exist")
    }

    pub(crate) fn bad_json(message: impl Into<String>) -> Self {
        Self::new(400, "JSON_PARSER_ERROR", message)
    }

    /// The top-level body: `[{message, errorCode, fields}]`.
    pub(crate) fn body(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("message".into(), json!(self.message));
        obj.insert("errorCode".into(), json!(self.code));
        if !self.fields.is_empty() || self.status == 400 {
            obj.insert("fields".into(), json!(self.fields));
        }
        if let Some(extra) = &self.extra {
            obj.insert(extra.0.clone(), extra.1.clone());
        }
        json!([obj])
    }

    /// The error inside a Collections item: `{statusCode, message, fields}`.
    pub(crate) fn item(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("statusCode".into(), json!(self.code));
        obj.insert("message".into(), json!(self.message));
        obj.insert("fields".into(), json!(self.fields));
        if let Some(extra) = &self.extra {
            obj.insert(extra.0.clone(), extra.1.clone());
        }
        Value::Object(obj)
    }
}

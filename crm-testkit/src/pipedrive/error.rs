//! Pipedrive's error envelope (its "Responses" concept page): `success: false`, a main message
//! in `error`, a hint in `error_info`, `data` and `additional_data` null; some answers add a
//! numeric `errorCode` (401, 429) or a string `code` (feature capping).

use serde_json::{Value, json};

/// What every error's `error_info` says.
pub(crate) const ERROR_INFO: &str =
    "Please check developers.pipedrive.com for more information about Pipedrive API.";

/// An error answer: status and body.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) error: String,
    pub(crate) error_code: Option<u16>,
}

impl ApiError {
    pub(crate) fn new(status: u16, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            error_code: None,
        }
    }

    /// A body field that breaks a rule. API v2 names the field first: `Validation failed:
    /// <field>: <why>`.
    pub(crate) fn validation(field: &str, why: &str) -> Self {
        Self::new(400, format!("Validation failed: {field}: {why}"))
    }

    /// A record that does not exist (`Person not found`, …), named by its entity's singular
    /// noun (`person`), as the store's `Entity::singular` gives it.
    pub(crate) fn not_found(singular: &str) -> Self {
        let mut noun = singular.to_owned();
        if let Some(first) = noun.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        Self::new(404, format!("{noun} not found"))
    }

    /// A link (`org_id`, …) to a record that does not exist: a 400 naming the field and the
    /// target's singular noun.
    pub(crate) fn not_found_link(field: &str, target: &str) -> Self {
        Self::validation(field, &format!("{target} not found"))
    }

    /// A path the API does not have.
    pub(crate) fn unknown_route() -> Self {
        Self::new(404, "Unknown method .")
    }

    /// No or a wrong token.
    pub(crate) fn unauthorized() -> Self {
        Self {
            error_code: Some(401),
            ..Self::new(401, "unauthorized access")
        }
    }

    /// The burst window or the daily budget is spent.
    pub(crate) fn rate_limited() -> Self {
        Self {
            error_code: Some(429),
            ..Self::new(429, "Request over limit")
        }
    }

    /// A server-side failure before anything happened.
    pub(crate) fn unavailable() -> Self {
        Self::new(503, "Requested service is not available")
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> Value {
        let mut b = json!({
            "success": false,
            "error": self.error,
            "error_info": ERROR_INFO,
            "data": null,
            "additional_data": null,
        });
        if let (Some(code), Some(o)) = (self.error_code, b.as_object_mut()) {
            o.insert("errorCode".into(), json!(code));
        }
        b
    }
}

//! HubSpot's error bodies (its error-handling docs): `{status:"error", message, correlationId,
//! category, errors:[{message, code, context:{propertyName:[…]}}]}`, plus the two 429 shapes
//! (usage guidelines).

use serde_json::{Value, json};

/// One problem with one property of one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PropError {
    pub(crate) property: String,
    /// `PROPERTY_DOESNT_EXIST`, `INVALID_OPTION`, `INVALID_EMAIL`, `REQUIRED_PROPERTY`...
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl PropError {
    pub(crate) fn new(property: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            property: property.to_owned(),
            code,
            message: message.into(),
        }
    }
}

/// An error response before the correlation id is known.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) category: &'static str,
    pub(crate) message: String,
    pub(crate) errors: Vec<Value>,
    pub(crate) context: Option<Value>,
    /// The second 429 shape: `errorType` + `policyName` instead of `category`.
    pub(crate) policy: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn new(status: u16, category: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            category,
            message: message.into(),
            errors: Vec::new(),
            context: None,
            policy: None,
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "VALIDATION_ERROR", message)
    }

    /// "Property values were not valid: [...]" with one `errors[]` entry per problem, the shape
    /// of the docs' `PROPERTY_DOESNT_EXIST` example.
    pub(crate) fn properties(problems: &[PropError]) -> Self {
        let legacy: Vec<Value> = problems
            .iter()
            .map(|p| {
                json!({"isValid": false, "message": p.message, "error": p.code, "name": p.property,
                       "localizedErrorMessage": p.message})
            })
            .collect();
        let mut e = Self::validation(format!(
            "Property values were not valid: {}",
            Value::Array(legacy)
        ));
        e.errors = problems
            .iter()
            .map(|p| {
                json!({"message": p.message, "code": p.code,
                       "context": {"propertyName": [p.property]}})
            })
            .collect();
        e
    }

    pub(crate) fn not_found() -> Self {
        Self::new(404, "OBJECT_NOT_FOUND", "resource not found")
    }

    /// The id is only in the message (real 409 bodies quoted in HubSpot/hubspot-api-nodejs#545).
    pub(crate) fn conflict(singular: &str, existing_id: u64) -> Self {
        let mut word = singular.to_owned();
        if let Some(first) = word.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        Self::new(
            409,
            "CONFLICT",
            format!("{word} already exists. Existing ID: {existing_id}"),
        )
    }

    pub(crate) fn invalid_auth() -> Self {
        Self::new(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )
    }

    pub(crate) fn expired_auth(seconds_ago: u64) -> Self {
        Self::new(
            401,
            "EXPIRED_AUTHENTICATION",
            format!("The OAuth token used to make this call expired {seconds_ago} second(s) ago."),
        )
    }

    /// The rolling-window or daily 429 (the shape of HubSpot's usage guidelines).
    pub(crate) fn rate_limit(policy: &'static str) -> Self {
        let what = match policy {
            "DAILY" => "daily",
            "SECONDLY" => "secondly",
            _ => "ten_secondly_rolling",
        };
        Self {
            policy: Some(policy),
            ..Self::new(
                429,
                "RATE_LIMITS",
                format!("You have reached your {what} limit."),
            )
        }
    }

    /// Search's own 429 (the shape of recorded real traffic): `category: RATE_LIMITS`, no policy.
    pub(crate) fn search_rate_limit() -> Self {
        Self::new(429, "RATE_LIMITS", "You have reached your secondly limit.")
    }

    pub(crate) fn internal(status: u16) -> Self {
        Self::new(
            status,
            "INTERNAL_ERROR",
            "Internal error; please try the request again",
        )
    }

    /// The JSON body with `correlationId`.
    pub(crate) fn body(&self, correlation_id: &str) -> Value {
        if let Some(policy) = self.policy {
            return json!({"status": "error", "message": self.message, "errorType": "RATE_LIMIT",
                          "correlationId": correlation_id, "policyName": policy,
                          "requestId": correlation_id});
        }
        let mut body = json!({"status": "error", "message": self.message,
                              "correlationId": correlation_id, "category": self.category});
        if let Some(map) = body.as_object_mut() {
            if !self.errors.is_empty() {
                map.insert("errors".into(), Value::Array(self.errors.clone()));
            }
            if let Some(ctx) = &self.context {
                map.insert("context".into(), ctx.clone());
            }
        }
        body
    }

    /// This error as one entry of a 207's `errors[]`, naming the input's trace id.
    pub(crate) fn batch_item(&self, trace_id: &str) -> Value {
        let mut item = json!({"status": "error", "category": self.category,
                              "message": self.message,
                              "context": {"objectWriteTraceId": [trace_id]}});
        if let Some(map) = item.as_object_mut()
            && !self.errors.is_empty()
        {
            map.insert("errors".into(), Value::Array(self.errors.clone()));
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_documented_shapes() {
        let e = ApiError::properties(&[PropError::new(
            "testproperty",
            "PROPERTY_DOESNT_EXIST",
            "Property \"testproperty\" does not exist",
        )]);
        let b = e.body("c-1");
        assert_eq!(b["category"], "VALIDATION_ERROR");
        assert_eq!(b["errors"][0]["code"], "PROPERTY_DOESNT_EXIST");
        assert_eq!(b["errors"][0]["context"]["propertyName"][0], "testproperty");
        assert!(
            b["message"]
                .as_str()
                .unwrap()
                .starts_with("Property values were not valid: [")
        );

        let c = ApiError::conflict("contact", 37765128953).body("c-2");
        assert_eq!(
            c["message"],
            "Contact already exists. Existing ID: 37765128953"
        );
        assert_eq!(c["category"], "CONFLICT");

        let r = ApiError::rate_limit("DAILY").body("c-3");
        assert_eq!(r["errorType"], "RATE_LIMIT");
        assert_eq!(r["policyName"], "DAILY");
        assert!(r.get("category").is_none());
        let s = ApiError::search_rate_limit().body("c-4");
        assert_eq!(s["category"], "RATE_LIMITS");
        assert!(s.get("policyName").is_none());
    }
}

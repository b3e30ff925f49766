//! The spec-driven error parser: reads the code, message, fields and existing id where the
//! spec's pointers say, and maps the code to a kind by the spec's table.

use crm_core::reexports::serde_json::Value;
use crm_core::transport::{ErrorParser, ErrorResponse, decode_json};
use crm_core::{Error, ErrorKind, FieldError, LimitScope, RecordId};

use crate::config::KindName;

/// Parses error bodies where the spec's pointers say, falling back to the status.
#[derive(Debug, Clone)]
pub(crate) struct SpecErrorParser {
    pub(crate) errors: crate::config::ErrorSpec,
}

impl ErrorParser for SpecErrorParser {
    fn parse_error(&self, response: &ErrorResponse<'_>) -> Error {
        let mut vendor = response.vendor();
        let body: Option<Value> = decode_json(
            response.body,
            response.headers,
            response.status,
            response.correlation_id,
        )
        .ok();
        let text_at = |ptr: &Option<String>| -> Option<String> {
            let v = body.as_ref()?.pointer(ptr.as_deref()?)?;
            match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        vendor.code = text_at(&self.errors.code_pointer);
        vendor.set_message(text_at(&self.errors.message_pointer));
        let fields = self.fields(body.as_ref());
        let existing_id =
            text_at(&self.errors.existing_id_pointer).and_then(|s| RecordId::new(s).ok());

        let by_code = vendor
            .code
            .as_ref()
            .and_then(|c| self.errors.codes.get(c))
            .copied();
        let mut kind = match by_code {
            Some(name) => kind_for(name, response),
            None => response.default_kind(),
        };
        match &mut kind {
            ErrorKind::Validation { fields: f } => *f = fields,
            ErrorKind::Conflict { existing_id: e, .. } => *e = existing_id,
            _ => {}
        }
        // The vendor's message stays in `vendor.message`; it may repeat submitted values, so the
        // error's own message only names the status and code.
        let what = match &vendor.code {
            Some(code) => format!(
                "the server refused the request with HTTP {} ({code})",
                response.status.as_u16()
            ),
            None => format!(
                "the server refused the request with HTTP {}",
                response.status.as_u16()
            ),
        };
        Error::new(kind, what).with_vendor(vendor)
    }
}

impl SpecErrorParser {
    fn fields(&self, body: Option<&Value>) -> Vec<FieldError> {
        let Some(list) = body
            .zip(self.errors.fields_pointer.as_deref())
            .and_then(|(b, p)| b.pointer(p))
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        let name_key = self.errors.field_name_key.as_deref().unwrap_or("field");
        let code_key = self.errors.field_code_key.as_deref().unwrap_or("code");
        list.iter()
            .filter_map(|item| match item {
                Value::String(s) => Some(FieldError::new(s.clone(), None)),
                Value::Object(o) => o.get(name_key).and_then(Value::as_str).map(|name| {
                    FieldError::new(
                        name,
                        o.get(code_key).and_then(Value::as_str).map(str::to_owned),
                    )
                }),
                _ => None,
            })
            .collect()
    }
}

fn kind_for(name: KindName, response: &ErrorResponse<'_>) -> ErrorKind {
    match name {
        KindName::NotFound => ErrorKind::NotFound,
        KindName::Conflict => ErrorKind::Conflict {
            existing_id: None,
            candidates: Vec::new(),
        },
        KindName::Validation => ErrorKind::Validation { fields: Vec::new() },
        KindName::Unauthorized => ErrorKind::Unauthorized,
        KindName::Forbidden => ErrorKind::Forbidden {
            missing_scopes: Vec::new(),
        },
        KindName::RateLimited => ErrorKind::RateLimited {
            retry_after: response.retry_after(),
            scope: LimitScope::Burst,
        },
        KindName::Unavailable => ErrorKind::Unavailable,
        KindName::Timeout => ErrorKind::Timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::reexports::http::{HeaderMap, HeaderValue, StatusCode};

    fn parser() -> SpecErrorParser {
        SpecErrorParser {
            errors: crate::config::Spec::default_spec().unwrap().errors,
        }
    }

    fn parse(status: u16, body: &str, headers: HeaderMap) -> Error {
        parser().parse_error(&ErrorResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: &headers,
            body: body.as_bytes(),
            correlation_id: Some("req-1"),
        })
    }

    #[test]
    fn error_bodies_map_to_kinds() {
        let e = parse(
            422,
            r#"{"error":{"code":"required","message":"missing","fields":[{"field":"last_name","code":"required"}]}}"#,
            HeaderMap::new(),
        );
        assert_eq!(
            e.kind(),
            &ErrorKind::Validation {
                fields: vec![FieldError::new("last_name", Some("required".into()))]
            }
        );
        assert_eq!(e.correlation_id(), Some("req-1"));
        assert_eq!(e.vendor().unwrap().code.as_deref(), Some("required"));

        let e = parse(
            409,
            r#"{"error":{"code":"duplicate","message":"exists","existing_id":"c-1001"}}"#,
            HeaderMap::new(),
        );
        assert_eq!(
            e.kind(),
            &ErrorKind::Conflict {
                existing_id: Some(RecordId::new("c-1001").unwrap()),
                candidates: vec![]
            }
        );

        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        let e = parse(429, r#"{"error":{"code":"rate_limited"}}"#, h);
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(7)));
        assert!(e.is_retryable());

        let e = parse(
            502,
            "<html><body>Bad gateway</body></html>",
            HeaderMap::new(),
        );
        assert_eq!(e.kind(), &ErrorKind::Unavailable);
        assert!(
            e.vendor()
                .unwrap()
                .redacted_body()
                .unwrap()
                .contains("Bad gateway")
        );

        let e = parse(404, "", HeaderMap::new());
        assert_eq!(e.kind(), &ErrorKind::NotFound);
    }

    #[test]
    fn error_message_never_repeats_the_vendor_message() {
        let e = parse(
            422,
            r#"{"error":{"code":"invalid_format","message":"jane@@x is not an email"}}"#,
            HeaderMap::new(),
        );
        assert!(!e.to_string().contains("jane"), "{e}");
        // Kept, but read back only redacted.
        assert_eq!(
            e.vendor().unwrap().redacted_message().as_deref(),
            Some("[email] is not an email")
        );
        assert!(!format!("{e:?}").contains("jane"), "{e:?}");
    }
}

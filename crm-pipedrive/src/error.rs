//! Pipedrive's failed answers → [`crm_core::Error`], as a pure function of the response.
//!
//! Pipedrive's error envelope (its "Responses" page) is `{success: false, error, error_info,
//! data: null, additional_data: null}`, some answers adding a numeric `errorCode` or a string
//! `code` (feature capping, a 403). API v2 names the field of a validation error first:
//! `Validation failed: <field>: <why>`. A record that does not exist is a 404 whose `error`
//! says `… not found`; a path Pipedrive does not have is a 404 `Unknown method .`. A 429 is the
//! burst window (its `x-ratelimit-remaining` is 0) or, with room left in the window, the daily
//! token budget.
//!
//! Pipedrive's texts go into the vendor details (redacted by core), never into the message:
//! they may quote what was written.

use std::time::Duration;

use crm_core::raw::http::{ErrorParser, ErrorResponse};
use crm_core::reexports::serde_json::{self, Value};
use crm_core::{Error, ErrorKind, FieldError, LimitScope};

use crate::limits::number;

/// Classifies Pipedrive's failed responses.
#[derive(Debug, Clone, Copy, Default)]
pub struct PipedriveErrors;

/// Pipedrive's `error` text (empty when absent), when the body is its JSON envelope.
fn error_text(body: &[u8]) -> Option<String> {
    let body = serde_json::from_slice::<Value>(body).ok()?;
    let text = body.as_object()?.get("error").and_then(Value::as_str);
    Some(text.unwrap_or_default().to_owned())
}

/// The field a validation message names, in the flat view's terms (`emails` is `email`, a
/// custom field is its hash).
fn field_of(message: &str) -> Option<FieldError> {
    let rest = message.strip_prefix("Validation failed: ")?;
    let (field, _) = rest.split_once(':')?;
    let field = field.trim();
    let field = field.strip_prefix("custom_fields.").unwrap_or(field);
    let field = match field.split('.').next().unwrap_or(field) {
        "emails" => "email",
        "phones" => "phone",
        "due_date" | "due_time" => "due",
        other => other,
    };
    (!field.is_empty()).then(|| FieldError::new(field, None))
}

fn is_record_missing(error: &str) -> bool {
    error.to_ascii_lowercase().ends_with(" not found")
}

impl ErrorParser for PipedriveErrors {
    fn parse_error(&self, r: &ErrorResponse<'_>) -> Error {
        let status = r.status.as_u16();
        let text = error_text(r.body);
        let message = text.as_deref().unwrap_or_default();
        let mut vendor = r.vendor();
        if let Some(text) = &text {
            vendor.set_body(None);
            vendor.set_message((!text.is_empty()).then(|| text.clone()));
        }
        let kind = match status {
            400 | 422 => ErrorKind::Validation {
                fields: field_of(message).into_iter().collect(),
            },
            404 if text.is_some() && !is_record_missing(message) => {
                return Error::config(
                    "Pipedrive answered 404 for a path it does not have: check base_url (the \
                     company's https://{company}.pipedrive.com or https://api.pipedrive.com)",
                )
                .with_vendor(vendor);
            }
            429 => ErrorKind::RateLimited {
                retry_after: r
                    .retry_after()
                    .or_else(|| number(r.headers, "x-ratelimit-reset").map(Duration::from_secs)),
                // Room left in the burst window: the 429 is the daily budget's.
                scope: match number(r.headers, "x-ratelimit-remaining") {
                    Some(n) if n > 0 => LimitScope::Daily,
                    _ => LimitScope::Burst,
                },
            },
            _ => r.default_kind(),
        };
        let what = match &kind {
            ErrorKind::Validation { fields } => {
                let on = fields.first().map(|f| format!(" on field `{}`", f.field));
                format!(
                    "Pipedrive refused the input (HTTP {status}){}",
                    on.unwrap_or_default()
                )
            }
            ErrorKind::NotFound => "Pipedrive has no such record".to_owned(),
            ErrorKind::Unauthorized => "Pipedrive refused the API token or access token".to_owned(),
            _ => format!("Pipedrive answered HTTP {status}"),
        };
        let mut err = Error::new(kind, what).with_vendor(vendor);
        if let Some(wait) = r.retry_after() {
            err = err.with_retry_after(wait);
        }
        err
    }

    /// Only Pipedrive's record 404 (`… not found`) says the record is missing; any other 404
    /// (`Unknown method .`, a proxy's page) is a wrong path, so a look-up does not answer "no
    /// match" for every value when `base_url` is wrong.
    fn is_missing_record(&self, r: &ErrorResponse<'_>) -> bool {
        error_text(r.body).is_some_and(|t| is_record_missing(&t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::reexports::http::{HeaderMap, HeaderValue, StatusCode};

    /// Runs `check` on a `status` response with `body` and `headers`.
    fn with_response<T>(
        status: u16,
        body: &str,
        headers: &[(&'static str, &str)],
        check: impl FnOnce(&ErrorResponse<'_>) -> T,
    ) -> T {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        check(&ErrorResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: &h,
            body: body.as_bytes(),
            correlation_id: None,
        })
    }

    fn parse(status: u16, body: &str, headers: &[(&'static str, &str)]) -> Error {
        with_response(status, body, headers, |r| PipedriveErrors.parse_error(r))
    }

    const INFO: &str =
        "Please check developers.pipedrive.com for more information about Pipedrive API.";

    fn env(error: &str) -> String {
        format!(
            r#"{{"success":false,"error":"{error}","error_info":"{INFO}","data":null,"additional_data":null}}"#
        )
    }

    #[test]
    fn each_documented_answer_has_its_kind() {
        type Case = (
            u16,
            String,
            &'static [(&'static str, &'static str)],
            ErrorKind,
        );
        let table: Vec<Case> = vec![
            (400, env("Validation failed: emails: must be an array"), &[],
                ErrorKind::Validation { fields: vec![FieldError::new("email", None)] }),
            (400, env("Validation failed: custom_fields.7bafbfca0119ceac54fa031aa2433d0b918d1c56: bad"), &[],
                ErrorKind::Validation { fields: vec![FieldError::new("7bafbfca0119ceac54fa031aa2433d0b918d1c56", None)] }),
            (400, env("Bad request"), &[], ErrorKind::Validation { fields: vec![] }),
            (401, r#"{"success":false,"error":"unauthorized access","errorCode":401}"#.into(), &[], ErrorKind::Unauthorized),
            (403, r#"{"success":false,"error":"Couldn't add the deal. Open deals limit reached.","code":"feature_capping_deals_limit"}"#.into(),
                &[], ErrorKind::Forbidden { missing_scopes: vec![] }),
            (404, env("Person not found"), &[], ErrorKind::NotFound),
            (404, env("Unknown method ."), &[], ErrorKind::Config),
            (429, env("Request over limit"), &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "2")],
                ErrorKind::RateLimited { retry_after: Some(Duration::from_secs(2)), scope: LimitScope::Burst }),
            (429, env("Request over limit"), &[("x-ratelimit-remaining", "75"), ("x-ratelimit-reset", "3600")],
                ErrorKind::RateLimited { retry_after: Some(Duration::from_secs(3600)), scope: LimitScope::Daily }),
            (429, env("Request over limit"), &[("retry-after", "5")],
                ErrorKind::RateLimited { retry_after: Some(Duration::from_secs(5)), scope: LimitScope::Burst }),
            (503, env("Requested service is not available"), &[], ErrorKind::Unavailable),
            (502, "<html><center>cloudflare</center></html>".into(), &[], ErrorKind::Unavailable),
        ];
        for (status, body, headers, kind) in table {
            let e = parse(status, &body, headers);
            assert_eq!(e.kind(), &kind, "{status} {body}");
            assert_eq!(e.status(), Some(status));
        }
    }

    #[test]
    fn the_message_never_carries_pipedrives_text() {
        let e = parse(
            400,
            &env("Validation failed: name: 'jane@example.com' is not valid"),
            &[],
        );
        assert!(!e.message().contains("jane@example.com"), "{}", e.message());
        assert!(e.message().contains("`name`"));
    }

    #[test]
    fn only_a_record_404_means_missing() {
        let missing =
            |body: &str| with_response(404, body, &[], |r| PipedriveErrors.is_missing_record(r));
        assert!(missing(&env("Deal not found")));
        assert!(!missing(&env("Unknown method .")));
        assert!(!missing("<html>404</html>"));
    }
}

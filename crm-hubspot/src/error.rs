//! `parse_error` for every documented HubSpot error body (HubSpot's error-handling, usage
//! guidelines and OAuth docs; examples in tests/fixtures/error-examples.json): a pure parser.

use std::time::Duration;

use crm_core::limits::Bucket;
use crm_core::raw::http::{ErrorParser, ErrorResponse};
use crm_core::raw::status::kind_of_status;
use crm_core::reexports::serde_json::{self, Value};
use crm_core::{Error, ErrorKind, FieldError, LimitScope, RecordId, VendorError};

use crate::limits::{Route, SEARCH_WINDOW, scope_of_429};

/// Turns HubSpot's error responses into [`Error`]s: the standard body
/// (`{status, message, correlationId, category, errors[{code, context:{propertyName}}]}`), both
/// 429 shapes (`errorType: RATE_LIMIT` + `policyName`; search's `category: RATE_LIMITS`), the
/// 409 with `Existing ID: N` in its message, the OAuth token endpoint's `BAD_REFRESH_TOKEN`, the
/// legacy `validationResults`, and bodies that are not JSON at all (HubSpot's 502 HTML page).
///
/// The vendor's message is kept in [`VendorError::message`] only (it can repeat submitted
/// values); the error's own message names statuses, codes and fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct HubSpotErrorParser;

impl ErrorParser for HubSpotErrorParser {
    /// Without a route, a 429 naming no policy is taken for search's only when its body has
    /// search's shape; see [`HubSpotErrorParser::parse_error_for_bucket`].
    fn parse_error(&self, r: &ErrorResponse<'_>) -> Error {
        self.parse_on(Route::Unknown, r)
    }

    /// A 429 is classified by HubSpot's own fields (`policyName`) and, where they name no
    /// limit, by the route: only a request tagged with the search bucket hit search's limit.
    fn parse_error_for_bucket(&self, bucket: Bucket, r: &ErrorResponse<'_>) -> Error {
        self.parse_on(Route::of(bucket), r)
    }

    /// HubSpot's 404 for a record that does not exist is JSON with `category:
    /// OBJECT_NOT_FOUND` (HubSpot's error-handling documentation; every recorded record 404).
    /// Any other 404 to a record read (an empty body, a web server's page, other JSON) comes
    /// from a route HubSpot does not serve, usually a `base_url` with a path of its own, and
    /// the transport reports the endpoint instead of "no such record", so that a look-up by
    /// email does not answer "no match" for every address.
    fn is_missing_record(&self, r: &ErrorResponse<'_>) -> bool {
        is_object_not_found(r.body)
    }
}

/// Whether a body is HubSpot's "no such record" (`category: OBJECT_NOT_FOUND`).
fn is_object_not_found(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .as_ref()
        .and_then(|v| str_at(v, "category"))
        == Some("OBJECT_NOT_FOUND")
}

impl HubSpotErrorParser {
    fn parse_on(&self, route: Route, r: &ErrorResponse<'_>) -> Error {
        let status = r.status.as_u16();
        if status == 404 && !is_object_not_found(r.body) {
            // Not HubSpot's record 404 (see `is_missing_record`): the route is unknown. The
            // transport says which path; a direct caller of the parser gets the same kind.
            return Error::config(
                "HubSpot answered HTTP 404 without saying a record is missing: the endpoint was \
                 not found; check base_url (HubSpot's API root, https://api.hubapi.com)",
            )
            .with_vendor(r.vendor());
        }
        let body: Option<Value> = serde_json::from_slice(r.body).ok().filter(Value::is_object);
        let Some(body) = body else {
            // HTML, empty or truncated: the status decides; the snippet stays for operators.
            let kind = match status {
                429 => rate_limited(route, &Value::Null, r.retry_after()).0,
                _ => hubspot_status_kind(status),
            };
            let err =
                Error::new(kind, format!("HubSpot answered HTTP {status}")).with_vendor(r.vendor());
            return refused_unprocessed(status, err, r.retry_after());
        };
        let mut vendor = r.vendor();
        vendor.set_body(None);
        classify(status, route, &body, r.retry_after(), vendor)
    }
}

/// 423 Locked and 477 Migration in Progress refuse the request before carrying it out, so even a
/// create may be sent again; a lock lasts 2 seconds (HubSpot's object API docs): never sooner.
fn refused_unprocessed(status: u16, err: Error, retry_after: Option<Duration>) -> Error {
    let wait = match status {
        423 => Some(retry_after.unwrap_or_default().max(Duration::from_secs(2))),
        477 => retry_after,
        _ => return err,
    };
    let err = err.with_not_processed();
    match wait {
        Some(wait) => err.with_retry_after(wait),
        None => err,
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The error for a parsed HubSpot error body.
fn classify(
    status: u16,
    route: Route,
    body: &Value,
    retry_after: Option<Duration>,
    mut vendor: VendorError,
) -> Error {
    let category = str_at(body, "category");
    let error_type = str_at(body, "errorType");
    let policy = str_at(body, "policyName");
    let oauth_status = str_at(body, "status").filter(|s| *s != "error");
    let vendor_message = str_at(body, "message").or_else(|| str_at(body, "error_description"));
    vendor.set_message(vendor_message.map(str::to_owned));
    vendor.code = policy
        .or(category)
        .or(error_type)
        .or(oauth_status)
        .or_else(|| str_at(body, "error"))
        .map(str::to_owned);
    if vendor.correlation_id.is_none() {
        vendor.correlation_id = str_at(body, "correlationId").map(str::to_owned);
    }
    let message = vendor_message.unwrap_or_default().to_owned();
    let (kind, what) = match status {
        429 => rate_limited(route, body, retry_after),
        403 => (
            ErrorKind::Forbidden {
                missing_scopes: missing_scopes(body),
            },
            "the credential lacks a scope this call needs".into(),
        ),
        409 => {
            let existing = existing_id(&message).and_then(|id| RecordId::new(id).ok());
            let what = match &existing {
                Some(id) => format!("a record with the same unique value already exists (id {id})"),
                None => "a record with the same unique value already exists".to_owned(),
            };
            (
                ErrorKind::Conflict {
                    existing_id: existing,
                    candidates: Vec::new(),
                },
                what,
            )
        }
        400 if oauth_status.is_some() || body.get("error").is_some() => (
            ErrorKind::Unauthorized,
            format!(
                "the OAuth token endpoint refused the grant ({})",
                oauth_status
                    .or_else(|| str_at(body, "error"))
                    .unwrap_or("error")
            ),
        ),
        400 | 422 => (
            ErrorKind::Validation {
                fields: validation_fields(body),
            },
            format!(
                "HubSpot rejected the input ({})",
                category.unwrap_or("VALIDATION_ERROR")
            ),
        ),
        // The status alone says which; HubSpot's own 477 and its CDN's 524 timeout besides.
        _ => (
            hubspot_status_kind(status),
            match (status, category) {
                (423, _) => "HubSpot locked the records; retry after 2 seconds".into(),
                (477, _) => "the HubSpot account is being migrated".into(),
                (401, Some("EXPIRED_AUTHENTICATION")) => {
                    "the OAuth access token has expired".into()
                }
                (401, _) => "HubSpot did not accept the credential (missing or invalid)".into(),
                (404, _) => "HubSpot has no such record".into(),
                _ => format!("HubSpot answered HTTP {status}"),
            },
        ),
    };
    refused_unprocessed(
        status,
        Error::new(kind, what).with_vendor(vendor),
        retry_after,
    )
}

/// The kind a status means by itself at HubSpot: 477 (Migration in Progress) is unavailable
/// and 524 (its CDN's origin timeout) a timeout (HubSpot's error-handling docs), the rest as
/// every HTTP service means them.
fn hubspot_status_kind(status: u16) -> ErrorKind {
    match status {
        477 => ErrorKind::Unavailable,
        524 => ErrorKind::Timeout,
        _ => kind_of_status(status),
    }
}

/// The error of one `errors[]` entry of a 207 batch answer (no HTTP status of its own: the
/// category says which).
pub(crate) fn item_error(item: &Value, correlation_id: Option<&str>) -> Error {
    let status = match str_at(item, "category") {
        Some("VALIDATION_ERROR") => 400,
        Some("CONFLICT") => 409,
        Some("OBJECT_NOT_FOUND") => 404,
        Some("RATE_LIMITS") => 429,
        Some("MISSING_SCOPES") => 403,
        Some("INVALID_AUTHENTICATION" | "EXPIRED_AUTHENTICATION") => 401,
        _ => 500,
    };
    let mut vendor = VendorError::with_status(207);
    vendor.set_correlation_id(correlation_id.map(str::to_owned));
    // Batch endpoints are not search endpoints.
    classify(status, Route::Other, item, None, vendor)
}

/// A 429's kind and message: which limit was hit (see [`scope_of_429`]) and how long to wait.
/// Search's 429 carries no `Retry-After`, and its limit is per second, so it waits a second.
fn rate_limited(route: Route, body: &Value, retry_after: Option<Duration>) -> (ErrorKind, String) {
    let policy = str_at(body, "policyName");
    let scope = scope_of_429(
        route,
        policy,
        str_at(body, "errorType"),
        str_at(body, "category"),
    );
    let what = match &scope {
        LimitScope::Search => "HubSpot's search rate limit (5 per second) was reached".into(),
        LimitScope::Other(name) if name.is_empty() => {
            "HubSpot answered 429 without naming the rate limit".into()
        }
        _ => format!(
            "HubSpot's {} rate limit was reached",
            policy.unwrap_or("request")
        ),
    };
    let retry_after = retry_after.or((scope == LimitScope::Search).then_some(SEARCH_WINDOW));
    (ErrorKind::RateLimited { retry_after, scope }, what)
}

/// The entries of the list at `key` (none if it is not a list).
fn list<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// The strings of the list at `context.{key}` (an error body's or a 207 item's).
pub(crate) fn context_strings(v: &Value, key: &str) -> Vec<String> {
    let context = v.get("context").unwrap_or(&Value::Null);
    let strings = list(context, key).filter_map(Value::as_str);
    strings.map(str::to_owned).collect()
}

fn missing_scopes(body: &Value) -> Vec<String> {
    let mut out = context_strings(body, "missingScopes");
    for e in list(body, "errors") {
        out.extend(context_strings(e, "missingScopes"));
        out.extend(context_strings(e, "requiredGranularScopes"));
    }
    out.dedup();
    out
}

/// `Existing ID: 37765128953` → `37765128953` (the id is only in the message).
pub(crate) fn existing_id(message: &str) -> Option<String> {
    let rest = message.split("Existing ID:").nth(1)?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// Field names and codes from `errors[].context.propertyName` (or `in`), the legacy
/// `validationResults`, or the JSON list inside "Property values were not valid: [...]".
fn validation_fields(body: &Value) -> Vec<FieldError> {
    fn push(out: &mut Vec<FieldError>, name: &str, code: Option<&str>) {
        if !out
            .iter()
            .any(|f| f.field == name && f.code.as_deref() == code)
        {
            out.push(FieldError::new(name, code.map(str::to_owned)));
        }
    }
    let mut out: Vec<FieldError> = Vec::new();
    for e in list(body, "errors") {
        let code = str_at(e, "code");
        let names = context_strings(e, "propertyName");
        if names.is_empty()
            && let Some(name) = str_at(e, "in")
        {
            push(&mut out, name, code);
        }
        for n in &names {
            push(&mut out, n, code);
        }
    }
    for v in list(body, "validationResults") {
        if let Some(name) = str_at(v, "name") {
            push(&mut out, name, str_at(v, "error"));
        }
    }
    if out.is_empty()
        && let Some(list) = str_at(body, "message")
            .and_then(|m| m.split_once("Property values were not valid: "))
            .map(|(_, rest)| rest)
        && let Ok(Value::Array(items)) = serde_json::from_str::<Value>(list)
    {
        for item in &items {
            if let Some(name) = str_at(item, "name") {
                push(&mut out, name, str_at(item, "error"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::reexports::http::{HeaderMap, HeaderValue, StatusCode};
    use crm_core::reexports::serde_json::json;

    fn parse(status: u16, body: &str) -> Error {
        parse_with(status, body, HeaderMap::new())
    }

    #[test]
    fn endpoint_only_object_not_found_is_a_missing_record() {
        let headers = HeaderMap::new();
        let missing = |body: &str| {
            HubSpotErrorParser.is_missing_record(&ErrorResponse {
                status: StatusCode::NOT_FOUND,
                headers: &headers,
                body: body.as_bytes(),
                correlation_id: None,
            })
        };
        assert!(missing(
            r#"{"status":"error","message":"resource not found","category":"OBJECT_NOT_FOUND"}"#
        ));
        for other in [
            "",
            "Not Found",
            "<html><body>404</body></html>",
            r#"{"status":"error","message":"not found"}"#,
            r#"{"category":"VALIDATION_ERROR"}"#,
            r#"["OBJECT_NOT_FOUND"]"#,
        ] {
            assert!(!missing(other), "{other}");
        }
    }

    fn parse_with(status: u16, body: &str, headers: HeaderMap) -> Error {
        HubSpotErrorParser.parse_error(&ErrorResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: &headers,
            body: body.as_bytes(),
            correlation_id: Some("cid-1"),
        })
    }

    #[test]
    fn table_of_documented_bodies() {
        type Check = fn(&ErrorKind) -> bool;
        let cases: &[(u16, &str, Check)] = &[
            (
                409,
                r#"{"status":"error","message":"Contact already exists. Existing ID: 37765128953","correlationId":"x","category":"CONFLICT"}"#,
                |k| matches!(k, ErrorKind::Conflict { existing_id: Some(id), .. } if id.as_str() == "37765128953"),
            ),
            (
                429,
                r#"{"status":"error","message":"You have reached your secondly limit.","correlationId":"x","category":"RATE_LIMITS"}"#,
                |k| matches!(k, ErrorKind::RateLimited { scope: LimitScope::Search, retry_after: Some(d) } if *d == Duration::from_secs(1)),
            ),
            (
                429,
                r#"{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","correlationId":"x","policyName":"DAILY","requestId":"y"}"#,
                |k| {
                    matches!(
                        k,
                        ErrorKind::RateLimited {
                            scope: LimitScope::Daily,
                            ..
                        }
                    )
                },
            ),
            (
                429,
                r#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}"#,
                |k| {
                    matches!(
                        k,
                        ErrorKind::RateLimited {
                            scope: LimitScope::Burst,
                            retry_after: None
                        }
                    )
                },
            ),
            (
                400,
                r#"{"status":"error","message":"Property values were not valid: [...]","errors":[{"message":"Property \"testproperty\" does not exist","code":"PROPERTY_DOESNT_EXIST","context":{"propertyName":["testproperty"]}}],"category":"VALIDATION_ERROR"}"#,
                |k| matches!(k, ErrorKind::Validation { fields } if fields == &[FieldError::new("testproperty", Some("PROPERTY_DOESNT_EXIST".into()))]),
            ),
            (
                403,
                r#"{"status":"error","message":"This app hasn't been granted all required scopes","errors":[{"message":"One or more of the following scopes are required.","context":{"requiredGranularScopes":["crm.objects.deals.read"]}}],"category":"MISSING_SCOPES"}"#,
                |k| matches!(k, ErrorKind::Forbidden { missing_scopes } if missing_scopes == &["crm.objects.deals.read"]),
            ),
            (
                401,
                r#"{"status":"error","message":"Authentication credentials not found.","category":"INVALID_AUTHENTICATION"}"#,
                |k| *k == ErrorKind::Unauthorized,
            ),
            (
                404,
                r#"{"status":"error","message":"resource not found","category":"OBJECT_NOT_FOUND"}"#,
                |k| *k == ErrorKind::NotFound,
            ),
            // Not HubSpot's record 404: a route HubSpot does not serve (issue 12, item 17).
            (404, "", |k| *k == ErrorKind::Config),
            (404, "<html><body>Not Found</body></html>", |k| {
                *k == ErrorKind::Config
            }),
            (404, r#"{"status":"error","message":"not found"}"#, |k| {
                *k == ErrorKind::Config
            }),
            (
                400,
                r#"{"error":"invalid_grant","error_description":"refresh token is invalid, expired or revoked","status":"BAD_REFRESH_TOKEN","message":"refresh token is invalid, expired or revoked"}"#,
                |k| *k == ErrorKind::Unauthorized,
            ),
            (
                400,
                r#"{"validationResults":[{"isValid":false,"message":"asd000 was not a valid long.","error":"INVALID_LONG","name":"closedate"}],"status":"error","message":"Property values were not valid"}"#,
                |k| matches!(k, ErrorKind::Validation { fields } if fields == &[FieldError::new("closedate", Some("INVALID_LONG".into()))]),
            ),
            (423, r#"{"status":"error","message":"locked"}"#, |k| {
                *k == ErrorKind::Unavailable
            }),
            (
                502,
                "<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
                |k| *k == ErrorKind::Unavailable,
            ),
            (504, "", |k| *k == ErrorKind::Timeout),
            // HubSpot's CDN times out with 524, as HTML or JSON alike.
            (524, "<html><body>524</body></html>", |k| {
                *k == ErrorKind::Timeout
            }),
            (524, r#"{"status":"error","message":"timeout"}"#, |k| {
                *k == ErrorKind::Timeout
            }),
            (477, "", |k| *k == ErrorKind::Unavailable),
            (200, r#"{"id":"1","properties":{"email":"jane@exa"#, |k| {
                *k == ErrorKind::Unexpected
            }),
        ];
        for (status, body, check) in cases {
            let e = parse(*status, body);
            assert!(check(e.kind()), "{status} {body}: got {:?}", e.kind());
            assert_eq!(e.status(), Some(*status));
        }
    }

    #[test]
    fn locks_and_migrations_are_refusals_that_may_be_sent_again() {
        // A lock lasts 2 s (HubSpot's object docs): never sooner, even with a shorter Retry-After.
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "1".parse().unwrap());
        for body in [
            r#"{"status":"error","message":"locked"}"#,
            "<html>423</html>",
        ] {
            let locked = parse_with(423, body, headers.clone());
            assert_eq!(locked.kind(), &ErrorKind::Unavailable, "{body}");
            assert_eq!(locked.retry_after(), Some(Duration::from_secs(2)));
            assert!(locked.certainly_not_processed());
            assert!(locked.is_retryable());
        }
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "30".parse().unwrap());
        let migrating = parse_with(477, r#"{"status":"error","message":"migrating"}"#, headers);
        assert_eq!(migrating.kind(), &ErrorKind::Unavailable);
        assert_eq!(migrating.retry_after(), Some(Duration::from_secs(30)));
        assert!(migrating.certainly_not_processed());
        // An ordinary 5xx may have been carried out: no such promise.
        assert!(!parse(503, "").certainly_not_processed());
    }

    #[test]
    fn expired_and_invalid_tokens_differ() {
        let expired = parse(
            401,
            r#"{"status":"error","message":"The OAuth token used to make this call expired 7 second(s) ago.","category":"EXPIRED_AUTHENTICATION"}"#,
        );
        let invalid = parse(
            401,
            r#"{"status":"error","message":"Authentication credentials not found.","category":"INVALID_AUTHENTICATION"}"#,
        );
        assert_eq!(
            expired.vendor().unwrap().code.as_deref(),
            Some("EXPIRED_AUTHENTICATION")
        );
        assert_eq!(
            invalid.vendor().unwrap().code.as_deref(),
            Some("INVALID_AUTHENTICATION")
        );
        assert_ne!(expired.message(), invalid.message());
    }

    #[test]
    fn messages_never_repeat_vendor_text() {
        let e = parse(
            400,
            r#"{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"Email address jane@@x is invalid\",\"error\":\"INVALID_EMAIL\",\"name\":\"email\"}]","category":"VALIDATION_ERROR"}"#,
        );
        assert!(!e.to_string().contains("jane"), "{e}");
        assert!(!e.vendor().unwrap().has_body());
        assert_eq!(
            e.kind(),
            &ErrorKind::Validation {
                fields: vec![FieldError::new("email", Some("INVALID_EMAIL".into()))]
            }
        );
        let html = parse(502, "<html>oops</html>");
        assert!(html.vendor().unwrap().has_body());
    }

    #[test]
    fn retry_after_header_wins_and_batch_items_parse() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("5"));
        let e = parse_with(
            429,
            r#"{"status":"error","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}"#,
            h,
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(5)));
        let item = json!({"status": "error", "category": "CONFLICT",
                          "message": "Contact already exists. Existing ID: 42",
                          "context": {"objectWriteTraceId": ["1"]}});
        let e = item_error(&item, None);
        assert!(
            matches!(e.kind(), ErrorKind::Conflict { existing_id: Some(id), .. } if id.as_str() == "42")
        );
        assert_eq!(existing_id("nothing here"), None);
    }
}

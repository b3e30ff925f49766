//! Salesforce's error bodies, parsed without I/O: the top-level error array
//! `[{message, errorCode, fields}]`, a Collections item's `errors`, a Composite subresponse, and
//! the setup errors the adapter words itself (a missing external-id field). Source: Salesforce's
//! REST API Developer Guide, "Status Codes and Error Responses".

use crm_core::raw::http::{ErrorParser, ErrorResponse, decode_json};
use crm_core::reexports::http::{HeaderMap, StatusCode};
use crm_core::{Error, ErrorKind, FieldError, LimitScope, RecordId, VendorError};
use serde_json::Value;

use crate::extras::id;

/// One error object of a Salesforce error array (top level: `errorCode`; inside Collections
/// results: `statusCode`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub(crate) struct SfError {
    #[serde(rename = "errorCode", alias = "statusCode", default)]
    pub(crate) code: Option<String>,
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) fields: Vec<String>,
    #[serde(rename = "duplicateResult", default)]
    pub(crate) duplicate_result: Option<Value>,
}

/// The kind a Salesforce error code means, given the HTTP status (REST API Developer Guide,
/// "Status Codes and Error Responses").
pub(crate) fn kind_for(code: &str, status: u16, errors: &[SfError], message: &str) -> ErrorKind {
    let fields = || {
        errors
            .iter()
            .flat_map(|e| {
                e.fields
                    .iter()
                    .map(|f| FieldError::new(f.clone(), e.code.clone()))
            })
            .collect::<Vec<_>>()
    };
    match code {
        "NOT_FOUND" | "ENTITY_IS_DELETED" | "INVALID_QUERY_LOCATOR" => ErrorKind::NotFound,
        "INVALID_SESSION_ID" => ErrorKind::Unauthorized,
        "REQUEST_LIMIT_EXCEEDED" => ErrorKind::RateLimited {
            retry_after: None,
            scope: if message.contains("Concurrent") {
                LimitScope::Concurrency
            } else {
                LimitScope::Daily
            },
        },
        "INSUFFICIENT_ACCESS_OR_READONLY"
        | "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"
        | "API_DISABLED_FOR_ORG"
        | "API_CURRENTLY_DISABLED"
        | "FUNCTIONALITY_NOT_ENABLED" => ErrorKind::Forbidden {
            missing_scopes: Vec::new(),
        },
        "DUPLICATE_VALUE" => ErrorKind::Conflict {
            existing_id: existing_id_in(message),
            candidates: Vec::new(),
        },
        "DUPLICATES_DETECTED" | "DUPLICATE_EXTERNAL_ID" => {
            let ids = duplicate_ids(errors);
            ErrorKind::Conflict {
                existing_id: ids.first().cloned(),
                candidates: ids,
            }
        }
        "UNABLE_TO_LOCK_ROW" | "SERVER_UNAVAILABLE" => ErrorKind::Unavailable,
        "REQUIRED_FIELD_MISSING"
        | "INVALID_FIELD"
        | "INVALID_FIELD_FOR_INSERT_UPDATE"
        | "INVALID_EMAIL_ADDRESS"
        | "STRING_TOO_LONG"
        | "MALFORMED_ID"
        | "INVALID_ID_FIELD"
        | "INVALID_CROSS_REFERENCE_KEY"
        | "FIELD_CUSTOM_VALIDATION_EXCEPTION"
        | "FIELD_INTEGRITY_EXCEPTION"
        | "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        | "INVALID_TYPE_ON_FIELD_IN_RECORD"
        | "JSON_PARSER_ERROR"
        | "CANNOT_UPDATE_CONVERTED_LEAD"
        | "MALFORMED_QUERY"
        | "INVALID_QUERY_FILTER_OPERATOR"
        | "INVALID_TYPE"
        | "MISSING_ARGUMENT"
        | "NUMBER_OUTSIDE_VALID_RANGE" => {
            let mut f = fields();
            if f.is_empty()
                && code == "INVALID_FIELD"
                && let Some(column) = column_in(message)
            {
                f.push(FieldError::new(column, Some(code.to_owned())));
            }
            ErrorKind::Validation { fields: f }
        }
        _ => match status {
            400 => ErrorKind::Validation { fields: fields() },
            // 420: Salesforce Edge routing failure (REST API Developer Guide, status codes).
            420 => ErrorKind::Unavailable,
            other => crm_core::raw::status::kind_of_status(other),
        },
    }
}

/// `duplicate value found: External_Id__c duplicates value on record with id: 003…`
fn existing_id_in(message: &str) -> Option<RecordId> {
    let (_, tail) = message.rsplit_once("record with id:")?;
    let id = tail
        .trim()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()?;
    id::to18(id).and_then(|s| RecordId::new(s).ok())
}

/// `No such column 'Foo__c' on sobject of type Contact`
fn column_in(message: &str) -> Option<String> {
    let (_, tail) = message.split_once("No such column '")?;
    let (name, _) = tail.split_once('\'')?;
    crate::extras::soql::ident(name).ok().map(str::to_owned)
}

/// The matching record ids in a `duplicateResult` (`matchResults[].matchRecords[].record.Id`).
fn duplicate_ids(errors: &[SfError]) -> Vec<RecordId> {
    errors
        .iter()
        .filter_map(|e| e.duplicate_result.as_ref())
        .filter_map(|d| d.get("matchResults").and_then(Value::as_array))
        .flatten()
        .filter_map(|m| m.get("matchRecords").and_then(Value::as_array))
        .flatten()
        .filter_map(|r| r.pointer("/record/Id").and_then(Value::as_str))
        .filter_map(id::to18)
        .filter_map(|s| RecordId::new(s).ok())
        .collect()
}

/// The error for one Salesforce error array (top level or a Collections item).
pub(crate) fn error_from(errors: &[SfError], status: u16, mut vendor: VendorError) -> Error {
    let first = errors.first().cloned().unwrap_or_default();
    let code = first.code.clone().unwrap_or_default();
    let message = first.message.clone().unwrap_or_default();
    let kind = kind_for(&code, status, errors, &message);
    vendor.code = first.code;
    // The vendor's message may repeat submitted values (`invalid email address: jane@@x`): it
    // stays in `vendor.message`; the error's own message names only the status and code.
    vendor.set_message(first.message);
    let what = if code.is_empty() {
        format!("Salesforce refused the request with HTTP {status}")
    } else {
        format!("Salesforce refused the request with HTTP {status} ({code})")
    };
    let err = Error::new(kind, what).with_vendor(vendor);
    if code == "UNABLE_TO_LOCK_ROW" {
        // The record was locked, so nothing was written: a create may be sent again.
        err.with_not_processed()
    } else {
        err
    }
}

/// Parses Salesforce's error bodies: `[{message, errorCode, fields}]`, and falls back to the
/// status for bodies that are not that (HTML pages from the edge, empty bodies).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SalesforceErrorParser;

impl ErrorParser for SalesforceErrorParser {
    fn parse_error(&self, response: &ErrorResponse<'_>) -> Error {
        let parsed: Option<Vec<SfError>> = decode_json(
            response.body,
            response.headers,
            response.status,
            response.correlation_id,
        )
        .ok();
        match parsed {
            Some(errors) if !errors.is_empty() => {
                error_from(&errors, response.status.as_u16(), response.vendor())
            }
            // Salesforce Edge's routing failure comes as a page of its own, not an error array
            // (REST API Developer Guide, status codes): a passing outage, sent again later.
            _ if response.status.as_u16() == 420 => Error::new(
                ErrorKind::Unavailable,
                "the server answered HTTP 420 (Salesforce Edge routing failure)",
            )
            .with_vendor(response.vendor()),
            _ => response.default_error(),
        }
    }
}

/// A Composite subresponse's error, parsed as a top-level response with its status would be.
pub(crate) fn sub_error(status: u16, body: &Value, operation: &str) -> Error {
    let body = serde_json::to_vec(body).unwrap_or_default();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    SalesforceErrorParser
        .parse_error(&ErrorResponse {
            status,
            headers: &HeaderMap::new(),
            body: &body,
            correlation_id: None,
        })
        .with_operation(operation.to_owned())
}

/// An upsert by an external-id field the org does not have: Salesforce answers the
/// `PATCH /sobjects/{S}/{field}/{value}` route with 404 `NOT_FOUND` (a missing record is created
/// there, never a 404) or `INVALID_FIELD`. The error names the field and the object, never the
/// value, and says what to do.
pub(crate) fn missing_external_id(e: Error, sobject: &str, field: &str) -> Error {
    let vendor = e.vendor();
    let code = vendor.and_then(|v| v.code.as_deref());
    // The redacted text keeps field names (they carry no personal values).
    let names_field = vendor
        .and_then(|v| v.redacted_message())
        .is_some_and(|m| m.to_ascii_lowercase().contains(&field.to_ascii_lowercase()));
    // INVALID_FIELD may be about a field of the body; only one naming the key field counts.
    let missing = e.kind() == &ErrorKind::NotFound
        || code == Some("NOT_FOUND")
        || (code == Some("INVALID_FIELD") && names_field);
    if !missing {
        return e;
    }
    let mut out = Error::config(format!(
        "external ID field `{field}` does not exist on {sobject}: create it (Text, Unique, \
         External ID) in Setup > Object Manager > {sobject} > Fields & Relationships, or fix the \
         field name in the connection's settings"
    ));
    if let Some(op) = e.operation() {
        out = out.with_operation(op.to_owned());
    }
    if let Some(v) = e.vendor() {
        out = out.with_vendor(v.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(status: u16, body: &str) -> Error {
        SalesforceErrorParser.parse_error(&ErrorResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: &HeaderMap::new(),
            body: body.as_bytes(),
            correlation_id: None,
        })
    }

    #[test]
    fn error_bodies_map_to_kinds() {
        let table: &[(u16, &str, ErrorKind)] = &[
            (
                404,
                r#"[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]"#,
                ErrorKind::NotFound,
            ),
            (
                401,
                r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
                ErrorKind::Unauthorized,
            ),
            (
                403,
                r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
                ErrorKind::RateLimited {
                    retry_after: None,
                    scope: LimitScope::Daily,
                },
            ),
            (
                403,
                r#"[{"message":"ConcurrentRequests (Concurrent API Requests) Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
                ErrorKind::RateLimited {
                    retry_after: None,
                    scope: LimitScope::Concurrency,
                },
            ),
            (
                400,
                r#"[{"message":"Required fields are missing: [LastName]","errorCode":"REQUIRED_FIELD_MISSING","fields":["LastName"]}]"#,
                ErrorKind::Validation {
                    fields: vec![FieldError::new(
                        "LastName",
                        Some("REQUIRED_FIELD_MISSING".into()),
                    )],
                },
            ),
            (
                400,
                r#"[{"message":"No such column 'Bogus__c' on sobject of type Contact","errorCode":"INVALID_FIELD"}]"#,
                ErrorKind::Validation {
                    fields: vec![FieldError::new("Bogus__c", Some("INVALID_FIELD".into()))],
                },
            ),
            (
                400,
                r#"[{"message":"duplicate value found: External_Id__c duplicates value on record with id: 0034S000005YJVl","errorCode":"DUPLICATE_VALUE","fields":[]}]"#,
                ErrorKind::Conflict {
                    existing_id: Some(RecordId::new("0034S000005YJVlQAO").unwrap()),
                    candidates: vec![],
                },
            ),
            (
                503,
                r#"[{"message":"Server temporarily unavailable","errorCode":"SERVER_UNAVAILABLE"}]"#,
                ErrorKind::Unavailable,
            ),
            (
                502,
                "<html><body>Bad Gateway</body></html>",
                ErrorKind::Unavailable,
            ),
            (500, "", ErrorKind::Unavailable),
            // Salesforce Edge's routing failure, and statuses whose body names no error code:
            // the status's own meaning (core's `kind_of_status`), not "unexpected".
            (420, "", ErrorKind::Unavailable),
            (
                429,
                "<html>Too Many Requests</html>",
                ErrorKind::RateLimited {
                    retry_after: None,
                    scope: LimitScope::Burst,
                },
            ),
            (408, "", ErrorKind::Timeout),
        ];
        for (status, body, kind) in table {
            let e = parse(*status, body);
            assert_eq!(e.kind(), kind, "{body}");
            assert_eq!(e.status(), Some(*status));
        }
    }

    #[test]
    fn a_locked_row_may_be_sent_again_but_a_server_error_not() {
        let locked = parse(
            400,
            r#"[{"message":"unable to obtain exclusive access to this record","errorCode":"UNABLE_TO_LOCK_ROW","fields":[]}]"#,
        );
        assert_eq!(locked.kind(), &ErrorKind::Unavailable);
        assert!(locked.is_retryable() && locked.certainly_not_processed());
        let down = parse(
            503,
            r#"[{"message":"down","errorCode":"SERVER_UNAVAILABLE"}]"#,
        );
        assert_eq!(down.kind(), &ErrorKind::Unavailable);
        assert!(!down.certainly_not_processed());
    }

    #[test]
    fn duplicates_detected_names_the_matches() {
        let body = r#"[{"duplicateResult":{"matchResults":[{"matchRecords":[{"record":{"attributes":{"type":"Contact"},"Id":"0034S000005YJVlQAO"}}]}]},
            "errorCode":"DUPLICATES_DETECTED","message":"Use one of these records?","fields":[]}]"#;
        let e = parse(400, body);
        let id = RecordId::new("0034S000005YJVlQAO").unwrap();
        assert_eq!(
            e.kind(),
            &ErrorKind::Conflict {
                existing_id: Some(id.clone()),
                candidates: vec![id]
            }
        );
        let bare = parse(
            400,
            r#"[{"message":"Use one of these records?","errorCode":"DUPLICATES_DETECTED","fields":[]}]"#,
        );
        assert_eq!(
            bare.kind(),
            &ErrorKind::Conflict {
                existing_id: None,
                candidates: vec![]
            }
        );
    }

    #[test]
    fn messages_stay_in_vendor_details_only() {
        let e = parse(
            400,
            r#"[{"message":"Email: invalid email address: jane@@x","errorCode":"INVALID_EMAIL_ADDRESS","fields":["Email"]}]"#,
        );
        assert!(!e.to_string().contains("jane"), "{e}");
        // Kept, but read back only redacted.
        assert_eq!(
            e.vendor().unwrap().redacted_message().as_deref(),
            Some("Email: invalid email address: [email]")
        );
        assert!(!format!("{e:?}").contains("jane"), "{e:?}");
    }
}

//! The one error type every crm-connect operation returns.
//!
//! Callers branch on [`Error::kind`] and ask [`Error::is_retryable`]; operators read the
//! vendor's code, HTTP status and correlation id from [`Error::vendor`]. Messages never carry
//! personal values: adapters name fields, not their contents.
//!
//! `Display` and `Debug` print the kind, the operation, the vendor's code, the field names, the
//! status and the correlation id, never what the vendor wrote: CRMs echo submitted values (an
//! email in a 422, a whole record in a 500, a token in a broken OAuth answer). The vendor's own
//! text is kept, and handed out only on request and redacted
//! ([`VendorError::redacted_message`], [`VendorError::redacted_body`],
//! [`Error::vendor_text_redacted`]; see [`crate::redact`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::model::RecordId;
use crate::redact;

/// A `Result` whose error is [`crate::Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which rate limit a `RateLimited` error hit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitScope {
    /// A short rolling window (HubSpot's 10-second bucket, a generic API's per-second limit).
    Burst,
    /// A per-endpoint bucket such as HubSpot search's 5 requests per second.
    Search,
    /// The daily (or rolling 24-hour) budget of the vendor account.
    Daily,
    /// Too many requests in flight at once (Salesforce's long-running request limit).
    Concurrency,
    /// The vendor did not say which limit; the string is its policy name if it gave one.
    Other(String),
}

/// One field a vendor rejected, by name (never by value).
///
/// `Debug` passes the name and the code through the redactor, so that a vendor that puts a
/// value where a field name belongs cannot push it into a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name as the caller knows it (common name where the adapter could map it back,
    /// the vendor's name otherwise).
    pub field: String,
    /// The vendor's code for the problem, such as `INVALID_EMAIL` or `required`.
    pub code: Option<String>,
}

impl FieldError {
    /// A field error with a name and an optional code.
    pub fn new(field: impl Into<String>, code: Option<String>) -> Self {
        Self {
            field: field.into(),
            code,
        }
    }
}

impl fmt::Debug for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldError")
            .field("field", &redact::patterns(&self.field))
            .field("code", &self.code.as_deref().map(redact::patterns))
            .finish()
    }
}

/// What went wrong, in a form a caller can branch on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The record (or the resource) does not exist.
    NotFound,
    /// A record with the same unique key already exists.
    Conflict {
        /// The id of the record that already holds the key, where the vendor said so.
        existing_id: Option<RecordId>,
        /// Other candidate ids when the vendor found several (Salesforce `300 Multiple Choices`,
        /// duplicate rules).
        candidates: Vec<RecordId>,
    },
    /// The vendor rejected the input; `fields` names the fields it complained about.
    Validation {
        /// Fields named by the vendor. Empty when the vendor gave no field names.
        fields: Vec<FieldError>,
    },
    /// The credential is missing, invalid or expired and could not be refreshed.
    Unauthorized,
    /// The credential is valid but lacks a permission or scope.
    Forbidden {
        /// Scopes the vendor said are missing, where it said so.
        missing_scopes: Vec<String>,
    },
    /// A vendor limit was hit.
    RateLimited {
        /// How long the vendor asked us to wait, where it said so.
        retry_after: Option<Duration>,
        /// Which limit.
        scope: LimitScope,
    },
    /// The vendor is down or failing (5xx, 423 Locked, connection refused or reset).
    Unavailable,
    /// The request (or the whole retry budget) ran out of time.
    Timeout,
    /// The configuration is invalid: a bad URL, a missing key, a non-HTTPS remote host.
    Config,
    /// A value could not be converted between the common model and the vendor's fields.
    Mapping,
    /// A webhook signature or timestamp did not verify.
    Signature,
    /// A vendor response could not be decoded (malformed JSON, a missing required field, a wrong
    /// type, an HTML page where JSON was expected).
    Decode,
    /// The adapter or vendor cannot do this operation; see [`crate::Capabilities`].
    Unsupported,
    /// A request body (a webhook) is larger than the configured limit.
    PayloadTooLarge,
    /// The durable outbox could not store or read a write (disk full, a corrupt row or file).
    /// Nothing was accepted: the caller still holds the write.
    Storage,
    /// Caller input that can never succeed, refused before any network call (an empty email, a
    /// phone number that does not parse).
    InvalidInput,
    /// Anything else; the message and the vendor details say more.
    Unexpected,
}

impl ErrorKind {
    /// A short stable name for logs and metrics labels.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict { .. } => "conflict",
            ErrorKind::Validation { .. } => "validation",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden { .. } => "forbidden",
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Config => "config",
            ErrorKind::Mapping => "mapping",
            ErrorKind::Signature => "signature",
            ErrorKind::Decode => "decode",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Storage => "storage",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Unexpected => "unexpected",
        }
    }
}

/// What the vendor said about a failed call.
///
/// The status, the vendor's code and the correlation id are plain fields. The vendor's message
/// and the start of the body are private: they can repeat what was sent (an email address, a
/// whole record, a token), so they are read only through [`VendorError::redacted_message`] and
/// [`VendorError::redacted_body`], and `Debug` shows only whether they are there.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct VendorError {
    /// HTTP status of the response.
    pub status: Option<u16>,
    /// The vendor's error code or category (`VALIDATION_ERROR`, `INVALID_SESSION_ID`, ...).
    pub code: Option<String>,
    /// The vendor's correlation or request id, for a support ticket with the vendor.
    pub correlation_id: Option<String>,
    /// The vendor's message, as sent.
    pub(crate) message: Option<String>,
    /// The start of the response body (capped, see [`VendorError::BODY_SNIPPET_MAX`]), for
    /// bodies that could not be parsed.
    pub(crate) body_snippet: Option<String>,
}

impl VendorError {
    /// The most bytes of a response body kept as the body snippet.
    pub const BODY_SNIPPET_MAX: usize = 4096;

    /// Details of a response with this HTTP status.
    pub fn with_status(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    /// Keeps at most [`Self::BODY_SNIPPET_MAX`] bytes of `body`, cut on a character boundary.
    pub fn snippet(body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let mut end = text.len().min(Self::BODY_SNIPPET_MAX);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.get(..end).unwrap_or_default().to_owned()
    }

    /// Sets the vendor's message (`None` removes it). It is kept as sent and read back only
    /// redacted.
    pub fn set_message(&mut self, message: Option<String>) {
        self.message = message;
    }

    /// Keeps the start of `body` (see [`VendorError::snippet`]), or drops it with `None`: an
    /// adapter that parsed the body drops it, so that nothing but the parsed parts is kept.
    pub fn set_body(&mut self, body: Option<&[u8]>) {
        self.body_snippet = body.map(Self::snippet);
    }

    /// Sets the correlation id.
    pub fn set_correlation_id(&mut self, id: Option<String>) {
        self.correlation_id = id;
    }

    /// Whether the vendor sent a message.
    pub fn has_message(&self) -> bool {
        self.message.is_some()
    }

    /// Whether the start of the body is kept.
    pub fn has_body(&self) -> bool {
        self.body_snippet.is_some()
    }

    /// The vendor's message with emails, phone numbers, tokens and secrets replaced
    /// (`[email]`, `[phone]`, `[token]`, `[secret]`; see [`crate::redact`]). For an operator's
    /// eyes: it may still hold a name the redactor cannot recognise in free text, so do not send
    /// it to end users.
    pub fn redacted_message(&self) -> Option<String> {
        self.message.as_deref().map(redact::redact)
    }

    /// The start of the response body, redacted: in JSON, the keys and the words about the
    /// error stay and every other value becomes `[value]` (`[secret]` under secret keys); in
    /// other text, emails, phone numbers, tokens and secrets are replaced (see
    /// [`crate::redact`]).
    pub fn redacted_body(&self) -> Option<String> {
        self.body_snippet.as_deref().map(redact::redact)
    }
}

impl fmt::Debug for VendorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VendorError")
            .field("status", &self.status)
            .field("code", &self.code.as_deref().map(redact::patterns))
            .field(
                "correlation_id",
                &self.correlation_id.as_deref().map(redact::identifier),
            )
            .field("message", &Withheld(self.message.as_deref()))
            .field("body", &Withheld(self.body_snippet.as_deref()))
            .finish()
    }
}

/// Shows that a text is there and how long it is, never what it says.
struct Withheld<'a>(Option<&'a str>);

impl fmt::Debug for Withheld<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("None"),
            Some(text) => write!(f, "<withheld, {} bytes>", text.len()),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
// Shared so that an error can be cloned: one failed batch call is the error of each item in it.
type SharedSource = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The error of every crm-connect operation.
///
/// `Display` prints one line: operation, kind, message, field names, and the vendor's status,
/// code and correlation id. `Debug` adds the attempt count, waits and the source (redacted).
/// Neither prints what the vendor wrote; [`Error::vendor_text_redacted`] does, redacted.
///
/// Cloning is cheap and keeps everything, the source included.
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    operation: Option<String>,
    vendor: Option<VendorError>,
    attempts: u32,
    /// A wait the vendor asked for outside a rate limit (`Retry-After` on a 503, HubSpot's 2 s
    /// record lock); a rate limit's own wait lives in its kind.
    retry_after: Option<Duration>,
    /// The vendor refused the request before carrying any of it out.
    not_processed: bool,
    source: Option<SharedSource>,
}

impl Error {
    /// A new error of `kind` with a message. The message must not contain personal values.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                operation: None,
                vendor: None,
                attempts: 0,
                retry_after: None,
                not_processed: false,
                source: None,
            }),
        }
    }

    /// Shorthand for a [`ErrorKind::Config`] error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// Shorthand for a [`ErrorKind::Decode`] error.
    pub fn decode(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Decode, message)
    }

    /// Shorthand for a [`ErrorKind::InvalidInput`] error.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// Shorthand for a [`ErrorKind::Mapping`] error.
    pub fn mapping(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Mapping, message)
    }

    /// Shorthand for a [`ErrorKind::Unsupported`] error naming the operation.
    pub fn unsupported(operation: impl Into<String>, why: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, why).with_operation(operation)
    }

    /// Sets the operation (`contacts.create`, `tickets.get`...) unless one is already set, so the
    /// innermost, most precise name wins.
    pub fn with_operation(mut self, operation: impl Into<String>) -> Self {
        if self.inner.operation.is_none() {
            self.inner.operation = Some(operation.into());
        }
        self
    }

    /// Attaches what the vendor said.
    pub fn with_vendor(mut self, vendor: VendorError) -> Self {
        self.inner.vendor = Some(vendor);
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(SharedSource::from(source.into()));
        self
    }

    /// The same error with another kind: an adapter refining what a status meant, such as a
    /// validation error whose vendor field names were turned into common ones.
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.inner.kind = kind;
        self
    }

    /// Renames the fields of a validation error (`rename` returns the new name, or `None` to
    /// keep one); other errors are returned as they are. Adapters use it to turn the vendor's
    /// field names into common ones.
    pub fn rename_fields(mut self, rename: impl Fn(&str) -> Option<String>) -> Self {
        if let ErrorKind::Validation { fields } = &mut self.inner.kind {
            for f in fields {
                if let Some(name) = rename(&f.field) {
                    f.field = name;
                }
            }
        }
        self
    }

    /// Records how long the vendor asked us to wait before sending the request again, for
    /// failures other than rate limits (those carry it in [`ErrorKind::RateLimited`]).
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.inner.retry_after = Some(wait);
        self
    }

    /// Marks that the vendor certainly did not carry the request out (a record lock, a refused
    /// connection), so that even a create may be sent again. See
    /// [`Error::certainly_not_processed`].
    pub fn with_not_processed(mut self) -> Self {
        self.inner.not_processed = true;
        self
    }

    /// Records how many attempts were made before giving up.
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.inner.attempts = attempts;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// The message, without the operation or vendor details.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The operation that failed, such as `contacts.create`.
    pub fn operation(&self) -> Option<&str> {
        self.inner.operation.as_deref()
    }

    /// What the vendor said, if the failure came from a vendor response.
    pub fn vendor(&self) -> Option<&VendorError> {
        self.inner.vendor.as_ref()
    }

    /// What the vendor wrote (its message, then the start of the body), redacted (see
    /// [`VendorError::redacted_message`] and [`VendorError::redacted_body`]). The one way to
    /// read vendor text from an error: `Display` and `Debug` never show it.
    pub fn vendor_text_redacted(&self) -> Option<String> {
        let vendor = self.inner.vendor.as_ref()?;
        let parts: Vec<String> = [
            vendor.redacted_message().map(|m| format!("message: {m}")),
            vendor.redacted_body().map(|b| format!("body: {b}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join("\n"))
    }

    /// The HTTP status of the vendor response, if any.
    pub fn status(&self) -> Option<u16> {
        self.inner.vendor.as_ref().and_then(|v| v.status)
    }

    /// The vendor's correlation id, if any.
    pub fn correlation_id(&self) -> Option<&str> {
        self.inner
            .vendor
            .as_ref()
            .and_then(|v| v.correlation_id.as_deref())
    }

    /// How many attempts were made (0 when the request was never sent).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// How long the vendor asked us to wait before trying again: a rate limit's wait, or one
    /// given with another failure (`Retry-After` on a 503, a record lock).
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.inner.kind {
            ErrorKind::RateLimited {
                retry_after: Some(wait),
                ..
            } => Some(*wait),
            _ => self.inner.retry_after,
        }
    }

    /// Whether the vendor certainly did not carry the request out, so that even a request that
    /// is not idempotent (a create) may be sent again: rate limits, record locks and connections
    /// that were never made.
    pub fn certainly_not_processed(&self) -> bool {
        self.inner.not_processed || matches!(self.inner.kind, ErrorKind::RateLimited { .. })
    }

    /// Whether the same request may succeed if sent again later: rate limits, vendor outages and
    /// timeouts. Whether it is *safe* to send again is a separate question the transport answers
    /// from the request's idempotency.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::RateLimited { .. } | ErrorKind::Unavailable | ErrorKind::Timeout
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(op) = &self.inner.operation {
            write!(f, "{op}: ")?;
        }
        write!(f, "{}: {}", self.inner.kind.name(), self.inner.message)?;
        if let ErrorKind::Validation { fields } = &self.inner.kind
            && !fields.is_empty()
        {
            let names: Vec<String> = fields.iter().map(|f| redact::patterns(&f.field)).collect();
            write!(f, " (fields: {})", names.join(", "))?;
        }
        if let Some(v) = &self.inner.vendor {
            if let Some(status) = v.status {
                write!(f, " [HTTP {status}")?;
                if let Some(code) = &v.code {
                    write!(f, " {}", redact::patterns(code))?;
                }
                write!(f, "]")?;
            }
            if let Some(id) = &v.correlation_id {
                write!(f, " [correlation id {}]", redact::identifier(id))?;
            }
        }
        if self.inner.attempts > 1 {
            write!(f, " after {} attempts", self.inner.attempts)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("message", &self.inner.message)
            .field("operation", &self.inner.operation)
            .field("vendor", &self.inner.vendor)
            .field("attempts", &self.inner.attempts)
            .field("retry_after", &self.inner.retry_after)
            .field("not_processed", &self.inner.not_processed)
            // A source's own text is redacted: a library error can quote what it was parsing.
            .field(
                "source",
                &self
                    .inner
                    .source
                    .as_ref()
                    .map(|e| redact::patterns(&e.to_string())),
            )
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_with_vendor_details() {
        let err = Error::new(
            ErrorKind::Validation {
                fields: vec![FieldError::new("email", Some("INVALID_EMAIL".into()))],
            },
            "the vendor rejected the record",
        )
        .with_operation("contacts.create")
        .with_vendor(VendorError {
            status: Some(400),
            code: Some("VALIDATION_ERROR".into()),
            correlation_id: Some("abc-123".into()),
            ..VendorError::default()
        })
        .with_attempts(1);
        let text = err.to_string();
        assert_eq!(
            text,
            "contacts.create: validation: the vendor rejected the record (fields: email) \
             [HTTP 400 VALIDATION_ERROR] [correlation id abc-123]"
        );
        assert!(!text.contains('\n'));
    }

    #[test]
    fn debug_withholds_vendor_text_and_the_accessor_redacts_it() {
        let mut vendor = VendorError::with_status(422);
        vendor.code = Some("INVALID_EMAIL".into());
        vendor.set_message(Some("jane@example.com is not valid".into()));
        vendor.set_body(Some(
            br#"{"email":"jane@example.com","refresh_token":"rt-9"}"#,
        ));
        let err = Error::new(ErrorKind::Validation { fields: vec![] }, "rejected")
            .with_vendor(vendor)
            .with_source(std::io::Error::other("near jane@example.com"));
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("jane") && !shown.contains("rt-9"),
            "{shown}"
        );
        assert!(
            shown.contains("INVALID_EMAIL") && shown.contains("withheld"),
            "{shown}"
        );
        let text = err.vendor_text_redacted().unwrap();
        assert_eq!(
            text,
            "message: [email] is not valid\nbody: {\"email\":\"[value]\",\"refresh_token\":\"[secret]\"}"
        );
    }

    #[test]
    fn retryable_kinds() {
        let limited = Error::new(
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(3)),
                scope: LimitScope::Burst,
            },
            "slow down",
        );
        assert!(limited.is_retryable());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
        assert!(Error::new(ErrorKind::Unavailable, "x").is_retryable());
        assert!(!Error::new(ErrorKind::NotFound, "x").is_retryable());
        assert!(!Error::config("x").is_retryable());
    }

    #[test]
    fn waits_and_refusals_outside_rate_limits() {
        let plain = Error::new(ErrorKind::Unavailable, "down");
        assert_eq!(plain.retry_after(), None);
        assert!(!plain.certainly_not_processed());
        let locked = Error::new(ErrorKind::Unavailable, "locked")
            .with_retry_after(Duration::from_secs(2))
            .with_not_processed();
        assert_eq!(locked.retry_after(), Some(Duration::from_secs(2)));
        assert!(locked.certainly_not_processed());
        // A rate limit without its own wait falls back to the hint; one with a wait keeps it.
        let limited = |wait| {
            Error::new(
                ErrorKind::RateLimited {
                    retry_after: wait,
                    scope: LimitScope::Burst,
                },
                "slow down",
            )
            .with_retry_after(Duration::from_secs(9))
        };
        assert_eq!(limited(None).retry_after(), Some(Duration::from_secs(9)));
        assert_eq!(
            limited(Some(Duration::from_secs(1))).retry_after(),
            Some(Duration::from_secs(1))
        );
        assert!(limited(None).certainly_not_processed());
    }

    #[test]
    fn a_clone_keeps_everything_and_with_kind_changes_only_the_kind() {
        let err = Error::new(ErrorKind::Validation { fields: vec![] }, "bad")
            .with_operation("contacts.create")
            .with_attempts(2)
            .with_source(std::io::Error::other("cause"));
        let copy = err.clone().with_kind(ErrorKind::Decode);
        assert_eq!(copy.kind(), &ErrorKind::Decode);
        assert_eq!(copy.operation(), Some("contacts.create"));
        assert_eq!(copy.attempts(), 2);
        assert!(std::error::Error::source(&copy).is_some());
        assert_eq!(err.kind(), &ErrorKind::Validation { fields: vec![] });
    }

    #[test]
    fn innermost_operation_wins() {
        let err = Error::decode("bad")
            .with_operation("http.decode")
            .with_operation("contacts.get");
        assert_eq!(err.operation(), Some("http.decode"));
    }

    #[test]
    fn snippet_is_capped_on_char_boundary() {
        let body = "é".repeat(VendorError::BODY_SNIPPET_MAX);
        let s = VendorError::snippet(body.as_bytes());
        assert!(s.len() <= VendorError::BODY_SNIPPET_MAX);
        assert!(s.chars().all(|c| c == 'é'));
    }
}

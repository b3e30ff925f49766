//! The adapter's hook for failed responses: [`ErrorParser`] and its status-only default.

use std::fmt;

use super::ErrorResponse;
use crate::error::Error;
use crate::limits::Bucket;

/// Turns a vendor's failed response into an [`Error`]. Each adapter implements it in its
/// `core.rs` as a pure function of the response, with table-driven tests on captured bodies.
pub trait ErrorParser: Send + Sync + fmt::Debug {
    /// The error for a non-success response.
    fn parse_error(&self, response: &ErrorResponse<'_>) -> Error;

    /// The error for a non-success response to a request that drew from `bucket` — what the
    /// transport calls. The bucket is the route as the adapter named it: some vendors' bodies
    /// do not say which limit a 429 hit (HubSpot's search 429 names no policy), and only the
    /// route tells a search limit from a record read's. Defaults to
    /// [`ErrorParser::parse_error`].
    fn parse_error_for_bucket(&self, bucket: Bucket, response: &ErrorResponse<'_>) -> Error {
        let _ = bucket;
        self.parse_error(response)
    }

    /// Whether a 404 to a request that addresses one record
    /// ([`Request::addresses_record`](super::Request::addresses_record)) says that record does not
    /// exist. When it does not, the 404 is taken for a route that does not exist, and the client
    /// returns the same [`ErrorKind::Config`](crate::ErrorKind::Config) "endpoint not found" error
    /// as for any other 404, instead of [`ErrorParser::parse_error`]'s answer.
    ///
    /// A wrong `base_url` turns a record read into a read of a route that does not exist, and
    /// the web server's 404 would then read as "no such record", so a look-up by key would
    /// answer "no match" for every value. Vendors whose record 404 carries a mark of its own
    /// (HubSpot's `category: OBJECT_NOT_FOUND`) override this to check for it. Default: every
    /// 404 does.
    fn is_missing_record(&self, response: &ErrorResponse<'_>) -> bool {
        let _ = response;
        true
    }
}

/// Maps statuses to kinds and keeps the body snippet; for servers whose error bodies say nothing
/// useful.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusOnly;

impl ErrorParser for StatusOnly {
    fn parse_error(&self, response: &ErrorResponse<'_>) -> Error {
        response.default_error()
    }
}

//! The send pipeline: what [`HttpClient::send`] does with a [`Request`].
//!
//! Every attempt runs the same steps, in this order:
//!
//! 1. **credentials** — the provider hands out the current credential (refreshing a token if
//!    it is about to expire), so a refresh happens before anything is paced or sent;
//! 2. **limiter** — the rate limiter gives a permit for the request's bucket, waiting at most
//!    what the call may still wait; a request that gets no permit is never sent;
//! 3. **send** — the request goes out with the credential, and the whole answer (headers and a
//!    body bounded in size) must arrive within the attempt's timeout;
//! 4. **classify** — the limiter sees the status and headers (so pacing follows the vendor's own
//!    counters), then the answer becomes a [`Response`] (2xx) or a typed [`Error`]: redirects
//!    and unknown routes are configuration errors, anything else goes to the adapter's
//!    [`ErrorParser`](super::ErrorParser), and a `Retry-After` is kept on every failure;
//! 5. **retry** — a 401 invalidates the credential used and replays once with a fresh one;
//!    other failures ask the pure
//!    [`RetryPolicy::next_delay`](crate::retry::RetryPolicy::next_delay) whether and when to try
//!    again.
//!
//! Why this order: the credential comes first so that a slow token refresh does not hold a
//! rate-limit permit; the permit comes before the send so that no request bypasses pacing,
//! retries included; classification comes before the retry decision because the policy decides
//! on the typed error (kind, `Retry-After`, whether the request was processed), never on raw
//! statuses. Adapters never write retry loops, sleeps or auth headers.
//!
//! A call never waits longer than its [`RetryPolicy`](crate::retry::RetryPolicy) allows: retry
//! delays and waits for a rate-limit permit both count against `max_elapsed`, and no single wait
//! exceeds `max_retry_after`. A longer wait (a far-future `Retry-After`) is returned at once as
//! [`ErrorKind::RateLimited`] with the real remaining wait, for the caller or the outbox to
//! schedule.

use std::sync::PoisonError;
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, Either, select};
use http::StatusCode;
use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use tracing::Instrument;
use url::Url;

use super::classify::{redirect_error, route_not_found, send_error};
use super::request::{Body, Target};
use super::response::{read_bounded, strip_sensitive};
use super::{ErrorResponse, HttpClient, Request, Response, is_dot_segment, same_origin};
use crate::credential::Credential;
use crate::error::{Error, ErrorKind, Result};

enum Attempt {
    Done(Response),
    /// The error, and the credential the attempt used (for a 401's invalidation).
    Failed(Error, Option<Credential>),
    /// The rate limiter gave no permit within what the call may still wait; nothing was sent.
    /// Never retried: a retry would have to wait longer than the limiter just refused to.
    NoPermit(Error),
}

/// `resp`, once its status, attempts and correlation id are on the call's span.
fn answered(resp: Response) -> Response {
    let span = tracing::Span::current();
    span.record("attempts", resp.attempts);
    span.record("status", resp.status.as_u16());
    if let Some(id) = &resp.correlation_id {
        span.record("correlation_id", id.as_str());
    }
    resp
}

impl HttpClient {
    /// Sends a request through credentials, pacing, the timeout, error classification and the
    /// retry policy. Returns the response of the first successful attempt, or the last error with
    /// the number of attempts made.
    ///
    /// The future is boxed, and kept under a kilobyte (no `async fn` below keeps its arguments
    /// twice; rare waits are boxed where they happen): an adapter's call future holds it, and
    /// a whole call in one allocation of several kilobytes costs a trip through the general
    /// allocator on every call, where two small ones come from the allocator's per-thread
    /// cache.
    pub fn send(&self, request: Request) -> BoxFuture<'_, Result<Response>> {
        Box::pin(async move {
            let span = tracing::debug_span!(
                "crm.call",
                vendor = %self.inner.vendor,
                operation = %request.operation,
                method = %request.method,
                status = tracing::field::Empty,
                attempts = tracing::field::Empty,
                correlation_id = tracing::field::Empty,
            );
            let started = Instant::now();
            let result = self.send_inner(&request).instrument(span).await;
            crate::telemetry::call_finished(
                &self.inner.vendor,
                &request.operation,
                started.elapsed(),
                result.as_ref().err(),
            );
            result
        })
    }

    async fn send_inner(&self, request: &Request) -> Result<Response> {
        let url = self.url_for(request)?;
        // Tokio's clock, so that the call's budget and the limiter's waits are measured on the
        // same clock (and tests with paused time see both).
        let started = tokio::time::Instant::now();
        let mut attempts = 0u32;
        let mut replayed_after_401 = false;
        // What happens between attempts is decided in plain functions, so that across this
        // loop's waits only the error and the used credential are kept (this future is part of
        // every call's).
        loop {
            attempts += 1;
            let (err, used) = match self.attempt(request, &url, attempts, started).await {
                Attempt::Done(resp) => return Ok(answered(resp)),
                Attempt::NoPermit(err) => return Err(self.no_permit(err, request, attempts)),
                Attempt::Failed(err, used) => (err, used),
            };
            self.note_failure(&err, attempts);
            if err.kind() == &ErrorKind::Unauthorized
                && !replayed_after_401
                && let Some(used) = used
            {
                // A 401 means the vendor refused the request before doing anything, so one
                // replay with a fresh credential is safe for any method.
                replayed_after_401 = true;
                if self.inner.credentials.invalidate(&used).await {
                    tracing::debug!("credential rejected; replaying once with a fresh one");
                    continue;
                }
            }
            let delay = self.retry_delay(err, request, attempts, started)?;
            tokio::time::sleep(delay).await;
        }
    }

    /// The error of a call whose attempt got no rate-limit permit in time.
    fn no_permit(&self, err: Error, request: &Request, attempts: u32) -> Error {
        tracing::Span::current().record("attempts", attempts);
        crate::telemetry::attempt_failed(&self.inner.vendor, &err);
        tracing::debug!(
            kind = err.kind().name(),
            "no rate-limit permit within the call's allowance; giving up"
        );
        // This attempt sent nothing, so it does not count.
        err.with_attempts(attempts - 1)
            .with_operation(request.operation.clone())
    }

    /// Counts a failed attempt and puts the attempts so far, its status and correlation id on
    /// the call's span.
    fn note_failure(&self, err: &Error, attempts: u32) {
        let span = tracing::Span::current();
        span.record("attempts", attempts);
        if let Some(status) = err.status() {
            span.record("status", status);
        }
        crate::telemetry::attempt_failed(&self.inner.vendor, err);
        if let Some(id) = err.correlation_id() {
            span.record("correlation_id", id);
        }
    }

    /// How long to wait before the next attempt after `err`, or the error the call fails with.
    fn retry_delay(
        &self,
        err: Error,
        request: &Request,
        attempts: u32,
        started: tokio::time::Instant,
    ) -> Result<Duration> {
        let mut rng = fastrand::f64;
        match self.inner.retry.next_delay(
            &err,
            attempts,
            started.elapsed(),
            request.idempotent,
            &mut rng,
        ) {
            Some(delay) => {
                tracing::debug!(
                    kind = err.kind().name(),
                    delay_ms = delay.as_millis() as u64,
                    "retrying"
                );
                crate::telemetry::retried(&self.inner.vendor, &request.operation);
                Ok(delay)
            }
            None => {
                tracing::debug!(kind = err.kind().name(), "giving up");
                Err(err
                    .with_attempts(attempts)
                    .with_operation(request.operation.clone()))
            }
        }
    }

    fn url_for(&self, request: &Request) -> Result<Url> {
        let mut url = match &request.target {
            Target::Path(path) if path.trim_start_matches('/').is_empty() => {
                // The base URL is the endpoint itself (a token URL).
                self.inner.base_url.clone()
            }
            // A dot segment needs a `.` or a `%`: a path with neither is not split to look.
            Target::Path(path)
                if path.contains(['.', '%']) && path.split('/').any(is_dot_segment) =>
            {
                // URL parsing would drop the segment (and the one before a `..`), so the request
                // would reach another resource than the one the adapter named.
                return Err(Error::invalid_input(
                    "the request path has a `.` or `..` segment (possibly percent-encoded), which \
                     would change the resource it addresses; nothing was sent",
                )
                .with_operation(request.operation.clone()));
            }
            Target::Path(path) => {
                let mut url = self.inner.base_url.clone();
                let base = url.path().trim_end_matches('/');
                if base.is_empty() && path.starts_with('/') && !path.starts_with("//") {
                    // A base URL without a path (most vendors): the request's path as it is
                    // (with one leading slash, as the join below would make it).
                    url.set_path(path);
                } else {
                    let joined = format!("{base}/{}", path.trim_start_matches('/'));
                    url.set_path(&joined);
                }
                url
            }
            Target::Url(url) => {
                if !same_origin(url, &self.inner.base_url) {
                    return Err(Error::new(
                        ErrorKind::Decode,
                        "the vendor gave a link to another host; refusing to follow it",
                    )
                    .with_operation(request.operation.clone()));
                }
                Url::clone(url)
            }
        };
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &request.query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// How long the call that started at `started` may still wait for a rate-limit permit.
    ///
    /// Waits for a permit count against the call's total budget
    /// ([`RetryPolicy::max_elapsed`](crate::retry::RetryPolicy::max_elapsed)) like retry delays do,
    /// and no single wait exceeds
    /// [`RetryPolicy::max_retry_after`](crate::retry::RetryPolicy::max_retry_after): a bucket
    /// paused for longer (a far-future `Retry-After`) fails the call at once with the real
    /// remaining wait instead of freezing it, and every other call on the client fails just as fast
    /// until the pause ends.
    fn permit_allowance(&self, started: tokio::time::Instant) -> Duration {
        let policy = &self.inner.retry;
        let left = policy.max_elapsed.saturating_sub(started.elapsed());
        left.min(policy.max_retry_after)
    }

    // A plain function returning an `async move` block (an `async fn` keeps its arguments
    // twice in its state, and this future is part of every call's).
    #[allow(clippy::manual_async_fn)]
    fn attempt<'a>(
        &'a self,
        request: &'a Request,
        url: &'a Url,
        attempt: u32,
        started: tokio::time::Instant,
    ) -> impl Future<Output = Attempt> + Send + 'a {
        async move {
            // The synchronous fast paths first: a credential at hand and a free permit need no
            // boxed future; only a refresh or a wait takes the async path.
            let credential = match self.inner.credentials.credential_now() {
                Some(c) => c,
                None => match self.inner.credentials.credential().await {
                    Ok(c) => c,
                    Err(e) => return Attempt::Failed(e, None),
                },
            };
            if !self.inner.limiter.try_acquire(request.bucket) {
                let allowance = self.permit_allowance(started);
                if let Err(e) = self.inner.limiter.acquire(request.bucket, allowance).await {
                    return Attempt::NoPermit(e);
                }
            }
            let builder = match self.build(request, url.clone(), &credential) {
                Ok(b) => b,
                Err(e) => return Attempt::Failed(e, None),
            };
            // Sent before the timeout's future is made, so that future holds what is in flight and
            // not the builder; the response lives only until its body's reader is made from it.
            let pending = builder.send();
            let fut = async {
                let (status, mut headers, body) = {
                    let mut resp = pending.await.map_err(|e| send_error(e, url))?;
                    // Taken, not copied: the body is read through the response, which no longer
                    // needs its headers.
                    let headers = std::mem::take(resp.headers_mut());
                    let status = resp.status();
                    (
                        status,
                        headers,
                        read_bounded(resp, url, self.inner.max_response_bytes),
                    )
                };
                let body = body.await?;
                strip_sensitive(&mut headers);
                Ok::<_, Error>((status, headers, body))
            };
            let deadline = self.inner.deadlines.start();
            let (status, headers, body) = match select(std::pin::pin!(fut), deadline).await {
                Either::Right(((), _)) => {
                    return Attempt::Failed(
                        Error::new(
                            ErrorKind::Timeout,
                            format!(
                                "no complete answer within {:?}",
                                self.inner.deadlines.timeout()
                            ),
                        ),
                        None,
                    );
                }
                Either::Left((Err(e), _)) => return Attempt::Failed(e, None),
                Either::Left((Ok(parts), _)) => parts,
            };
            self.inner
                .limiter
                .observe(request.bucket, status.as_u16(), &headers);
            let correlation_id = self
                .inner
                .correlation_headers
                .iter()
                .find_map(|h| headers.get(h))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            tracing::trace!(attempt, status = status.as_u16(), "response");
            if status.is_redirection() && status != StatusCode::MULTIPLE_CHOICES {
                return Attempt::Failed(
                    redirect_error(status, &headers, url, correlation_id),
                    None,
                );
            }
            if status == StatusCode::NOT_FOUND && !request.addresses_record {
                return Attempt::Failed(
                    route_not_found(url, &self.inner.base_url, false, correlation_id),
                    None,
                );
            }
            if status.is_success() {
                return Attempt::Done(Response {
                    status,
                    headers,
                    body,
                    correlation_id,
                    attempts: attempt,
                    operation: request.operation.clone(),
                });
            }
            let failed = ErrorResponse {
                status,
                headers: &headers,
                body: &body,
                correlation_id: correlation_id.as_deref(),
            };
            if status == StatusCode::NOT_FOUND
                && !self.inner.error_parser.is_missing_record(&failed)
            {
                let err = route_not_found(url, &self.inner.base_url, true, correlation_id);
                return Attempt::Failed(err, None);
            }
            let mut err = self
                .inner
                .error_parser
                .parse_error_for_bucket(request.bucket, &failed);
            // `Retry-After` is honoured on every failure (RFC 9110 §10.2.3 names 503 as well as
            // 429), whatever the vendor's parser made of the body.
            if err.retry_after().is_none()
                && let Some(wait) = failed.retry_after()
            {
                err = err.with_retry_after(wait);
            }
            Attempt::Failed(err, Some(credential))
        }
    }

    fn build(
        &self,
        request: &Request,
        url: Url,
        credential: &Credential,
    ) -> Result<reqwest::RequestBuilder> {
        let auth = self.auth_header(credential)?;
        // Straight into reqwest's request: a map of our own would be built and then copied
        // into it on every call.
        let mut builder = self.inner.http.request(request.method.clone(), url);
        for (name, value) in &request.headers {
            // The credential's header wins over one the adapter set.
            if auth.as_ref().is_some_and(|(n, _)| n == name) {
                continue;
            }
            let v = HeaderValue::from_str(value).map_err(|_| {
                Error::invalid_input(format!(
                    "header `{name}` has a value that is not allowed (CR, LF or control characters)"
                ))
            })?;
            builder = builder.header(name.clone(), v);
        }
        if let Some((name, value)) = auth {
            builder = builder.header(name, value);
        }
        match &request.body {
            None => {}
            Some(Body::Json(value)) => builder = builder.json(value),
            Some(Body::Form(pairs)) => builder = builder.form(pairs),
        }
        Ok(builder)
    }

    /// The header `credential` goes out in (marked sensitive, so it never shows in logs): the
    /// one built for the previous request when the credential is the same, else built now and
    /// kept for the next.
    pub(super) fn auth_header(
        &self,
        credential: &Credential,
    ) -> Result<Option<(HeaderName, HeaderValue)>> {
        static BEARER: HeaderName = AUTHORIZATION;
        let (name, prefix, secret) = match credential {
            Credential::None => return Ok(None),
            Credential::Bearer(token) => (&BEARER, "Bearer ", token.expose_secret()),
            Credential::Header { name, value } => (name, "", value.expose_secret()),
        };
        let mut cached = self
            .inner
            .auth_header
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((n, v)) = cached.as_ref()
            && n == name
            && v.as_bytes().strip_prefix(prefix.as_bytes()) == Some(secret.as_bytes())
        {
            return Ok(Some((n.clone(), v.clone())));
        }
        let value = if prefix.is_empty() {
            HeaderValue::from_str(secret)
                .map_err(|_| Error::config("the API key holds characters not allowed in a header"))
        } else {
            HeaderValue::from_str(&format!("{prefix}{secret}")).map_err(|_| {
                Error::config("the bearer token holds characters not allowed in a header")
            })
        };
        let mut value = value?;
        value.set_sensitive(true);
        *cached = Some((name.clone(), value.clone()));
        Ok(Some((name.clone(), value)))
    }
}

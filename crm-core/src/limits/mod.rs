//! Pacing: the seam the transport waits on before every send, and the limiter that implements it.
//!
//! The transport calls [`RateLimiter::acquire`] for the request's bucket before sending and
//! [`RateLimiter::observe`] with every response, so that a limiter can follow the vendor's own
//! view of the budget (`X-HubSpot-RateLimit-Remaining`, `Sforce-Limit-Info`). Adapters only name
//! the bucket a request draws from and how to read the vendor's headers; they never sleep.
//! Whatever only wants to watch requests (a counter, metrics) is a [`RequestObserver`] layered in
//! front of the vendor's limiter by [`Observed`], never a replacement for it.

mod observe;
mod pacing;
mod rate;
mod seam;
mod stack;

pub use observe::{Observed, RequestObserver};
pub use pacing::{BucketConfig, DailyReserve, HintParser, LimitHint, PacingLimiter};
pub use rate::RateLimit;
pub use seam::{Bucket, DEFAULT_BUCKET, RateLimiter, Unlimited};
pub use stack::Stacked;

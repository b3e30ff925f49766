//! A cached token with early, single-flight refresh: the one token cache every OAuth flow uses.
//!
//! A [`TokenSource`] knows how to get a new access token (a refresh-token grant, client
//! credentials, a JWT assertion) and what else the vendor's answer carries that the connection
//! needs (Salesforce's `instance_url`: [`TokenSource::Extra`]); [`CachedToken`] wraps it into a
//! [`CredentialProvider`] that:
//! - serves the cached token until it is close to expiry: it refreshes `max(60 s, 10 %)` of
//!   the token's lifetime ahead, or at a configured maximum age for vendors that do not say
//!   when tokens expire (Salesforce);
//! - lets exactly one caller refresh while the others wait for its result (single flight), which
//!   matters for correctness when the vendor rotates refresh tokens: two parallel refreshes could
//!   invalidate each other;
//! - drops the token the vendor rejected (a 401) so that the transport's one replay uses a fresh
//!   one, without dropping a newer token another caller already fetched; a source that cannot
//!   renew its token (a fixed access token) says so, and then a 401 is final.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{Credential, CredentialProvider};
use crate::error::Result;

/// A freshly issued access token, with what else the vendor's answer said that the connection
/// needs (`X`: nothing by default; the token endpoint's other fields for core's grants; a
/// parsed instance URL for Salesforce).
#[derive(Clone)]
pub struct Token<X = ()> {
    /// The access token.
    pub access_token: SecretString,
    /// How long it is valid, if the vendor says (`expires_in`).
    pub expires_in: Option<Duration>,
    /// The rest of the answer that the connection keeps with the token.
    pub extra: X,
}

impl Token {
    /// A token with nothing else attached.
    pub fn new(access_token: SecretString, expires_in: Option<Duration>) -> Self {
        Self {
            access_token,
            expires_in,
            extra: (),
        }
    }
}

impl<X> Token<X> {
    /// The same token with `extra` attached instead.
    pub fn with_extra<Y>(self, extra: Y) -> Token<Y> {
        Token {
            access_token: self.access_token,
            expires_in: self.expires_in,
            extra,
        }
    }
}

impl<X: fmt::Debug> fmt::Debug for Token<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("extra", &self.extra)
            .finish()
    }
}

/// Gets a new access token from the vendor.
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// What the source keeps with each token besides the token itself.
    type Extra: Clone + Send + Sync + 'static;

    /// Fetches a new token. An error that needs a person (a revoked refresh token) must be
    /// [`crate::ErrorKind::Unauthorized`] with a message saying to re-authorise.
    async fn fetch(&self) -> Result<Token<Self::Extra>>;

    /// Whether a fetch after a 401 may give a different token. `false` for a source that only
    /// ever has the one token it was given: then a 401 is final and the request is not replayed.
    fn renews(&self) -> bool {
        true
    }
}

struct Cached<X> {
    token: Token<X>,
    refresh_at: Option<Instant>,
}

/// A [`CredentialProvider`] that caches a [`TokenSource`]'s tokens.
pub struct CachedToken<S: TokenSource> {
    source: S,
    max_age: Option<Duration>,
    state: Mutex<Option<Cached<S::Extra>>>,
}

impl<S: TokenSource> fmt::Debug for CachedToken<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("source", &self.source)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl<S: TokenSource> CachedToken<S> {
    /// Caches tokens from `source`.
    pub fn new(source: S) -> Self {
        Self {
            source,
            max_age: None,
            state: Mutex::new(None),
        }
    }

    /// Refreshes tokens older than `age` even when the vendor gave no expiry (Salesforce
    /// tokens live as long as the org's session timeout, which the token response does not say).
    pub fn with_max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The current token with what its source keeps with it, fetching a new one when there is
    /// none or it is due for refresh. Concurrent callers share one fetch.
    pub async fn token(&self) -> Result<Token<S::Extra>> {
        // Holding the lock across the fetch is the single flight: everyone else waits for this
        // refresh and then finds the new token.
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(cached) = state.as_ref()
            && cached.refresh_at.is_none_or(|at| now < at)
        {
            return Ok(cached.token.clone());
        }
        let token = self.source.fetch().await?;
        let refresh_at = self.refresh_at(now, token.expires_in);
        *state = Some(Cached {
            token: token.clone(),
            refresh_at,
        });
        Ok(token)
    }

    fn refresh_at(&self, now: Instant, expires_in: Option<Duration>) -> Option<Instant> {
        let by_expiry = expires_in.map(|life| {
            let ahead = (life / 10).max(Duration::from_secs(60)).min(life);
            now + (life - ahead)
        });
        let by_age = self.max_age.map(|age| now + age);
        match (by_expiry, by_age) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[async_trait]
impl<S: TokenSource> CredentialProvider for CachedToken<S> {
    async fn credential(&self) -> Result<Credential> {
        Ok(Credential::Bearer(self.token().await?.access_token))
    }

    fn credential_now(&self) -> Option<Credential> {
        // A refresh in progress holds the lock: then the caller waits for it on the async path.
        let state = self.state.try_lock().ok()?;
        let cached = state.as_ref()?;
        cached
            .refresh_at
            .is_none_or(|at| Instant::now() < at)
            .then(|| Credential::Bearer(cached.token.access_token.clone()))
    }

    async fn invalidate(&self, rejected: &Credential) -> bool {
        let Credential::Bearer(rejected) = rejected else {
            return false;
        };
        if !self.source.renews() {
            return false;
        }
        let mut state = self.state.lock().await;
        // Only drop the token that was rejected; a newer one fetched meanwhile stays.
        if state
            .as_ref()
            .is_some_and(|c| c.token.access_token.expose_secret() == rejected.expose_secret())
        {
            *state = None;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug)]
    struct Counting {
        fetches: AtomicUsize,
        life: Option<Duration>,
    }

    #[async_trait]
    impl TokenSource for Counting {
        type Extra = usize;

        async fn fetch(&self) -> Result<Token<usize>> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst);
            // A slow token endpoint makes the concurrent callers pile up on the refresh.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(Token::new(SecretString::from(format!("token-{n}")), self.life).with_extra(n))
        }
    }

    fn bearer(c: &Credential) -> String {
        match c {
            Credential::Bearer(t) => t.expose_secret().to_owned(),
            _ => String::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hundred_concurrent_callers_across_an_expiry_cause_one_fetch() {
        let cache = Arc::new(CachedToken::new(Counting {
            fetches: AtomicUsize::new(0),
            life: Some(Duration::from_secs(1800)),
        }));
        let first = bearer(&cache.credential().await.unwrap());
        assert_eq!(first, "token-0");
        // 30-minute token, refreshed 3 minutes (10 %) ahead.
        tokio::time::advance(Duration::from_secs(1800 - 170)).await;
        let calls = (0..100).map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { bearer(&cache.credential().await.unwrap()) })
        });
        let tokens = futures::future::join_all(calls).await;
        assert!(tokens.iter().all(|t| t.as_ref().unwrap() == "token-1"));
        assert_eq!(cache.source().fetches.load(Ordering::SeqCst), 2);
    }

    /// Issue 15: the cached token is handed out without awaiting while it is fresh; a missing
    /// or due token is left to the async path (which refreshes it).
    #[tokio::test(start_paused = true)]
    async fn a_fresh_token_is_at_hand_without_waiting_a_due_one_is_not_issue15() {
        let cache = CachedToken::new(Counting {
            fetches: AtomicUsize::new(0),
            life: Some(Duration::from_secs(1800)),
        });
        assert!(cache.credential_now().is_none(), "nothing fetched yet");
        cache.credential().await.unwrap();
        let now = cache.credential_now().map(|c| bearer(&c));
        assert_eq!(now.as_deref(), Some("token-0"));
        tokio::time::advance(Duration::from_secs(1800 - 170)).await;
        assert!(cache.credential_now().is_none(), "due for refresh");
        assert_eq!(cache.source().fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn invalidation_drops_only_the_rejected_token() {
        let cache = CachedToken::new(Counting {
            fetches: AtomicUsize::new(0),
            life: None,
        })
        .with_max_age(Duration::from_secs(3600));
        let old = cache.credential().await.unwrap();
        assert!(cache.invalidate(&old).await);
        let new = cache.credential().await.unwrap();
        assert_eq!(bearer(&new), "token-1");
        // A late 401 for the old token must not throw the new one away.
        cache.invalidate(&old).await;
        assert_eq!(bearer(&cache.credential().await.unwrap()), "token-1");
        // No expiry given: the configured maximum age applies.
        tokio::time::advance(Duration::from_secs(3601)).await;
        assert_eq!(bearer(&cache.credential().await.unwrap()), "token-2");
        assert!(!format!("{cache:?} {new:?}").contains("token-"));
    }

    #[derive(Debug)]
    struct Fixed;

    #[async_trait]
    impl TokenSource for Fixed {
        type Extra = &'static str;

        async fn fetch(&self) -> Result<Token<&'static str>> {
            Ok(Token::new(SecretString::from("given"), None).with_extra("https://na1.example.com"))
        }

        fn renews(&self) -> bool {
            false
        }
    }

    /// Issue 13: the cache is generic over what a source keeps with its token (Salesforce's
    /// instance URL), and a source that cannot renew makes a 401 final (no replay).
    #[tokio::test(start_paused = true)]
    async fn item13_the_cache_keeps_the_sources_extra_and_a_fixed_token_is_final() {
        let counting = CachedToken::new(Counting {
            fetches: AtomicUsize::new(0),
            life: None,
        });
        let token = counting.token().await.unwrap();
        assert_eq!(
            (token.access_token.expose_secret(), token.extra),
            ("token-0", 0)
        );
        assert_eq!(
            counting.token().await.unwrap().extra,
            0,
            "served from the cache"
        );
        let rejected = counting.credential().await.unwrap();
        assert!(counting.invalidate(&rejected).await);
        assert_eq!(counting.token().await.unwrap().extra, 1);

        let fixed = CachedToken::new(Fixed);
        assert_eq!(
            fixed.token().await.unwrap().extra,
            "https://na1.example.com"
        );
        let rejected = fixed.credential().await.unwrap();
        assert!(!fixed.invalidate(&rejected).await, "nothing else to try");
        assert!(!format!("{:?}", fixed.token().await.unwrap()).contains("given"));
    }
}

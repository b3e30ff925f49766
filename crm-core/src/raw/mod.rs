//! The adapter-author API: what a CRM adapter is built from, apart from the user API at the
//! crate root that bot backends call. Bot backends do not need this module.
//!
//! - [`Backend`]: the trait an adapter implements, its vendor's hooks (get, write, write a
//!   batch, query one page, link) in vendor field names.
//! - [`Connection`]: every entity trait and [`crate::Crm`] implemented once on top of a
//!   backend: capability checks, operation names, audit, mapping, batch chunking, per-item
//!   idempotency keys, paging.
//! - [`Mappings`]: a connection's field mappings per target, hot-swappable.
//! - [`ConnectionOptions`] and [`connection_options!`](crate::connection_options): the options
//!   and `with_*` setters every adapter's builder shares; [`config_keys!`](crate::config_keys):
//!   an adapter's configuration keys as an enum; [`Connector`]: the registry's entry.
//! - [`http`]: the one HTTP layer adapters send requests through: request, response, client,
//!   and the send pipeline ([`http::pipeline`]) every attempt goes through.
//! - Paging ([`Paging`], [`paginate`]): one-page fetches into guarded streams; batches
//!   ([`chunks`]) in vendor-sized chunks.
//! - [`json`]: a vendor's JSON read with errors naming the path, never the value, and JSON
//!   objects ↔ vendor fields; [`IdShape`]: an id checked against the vendor's shape before a
//!   request.

mod backend;
mod checks;
mod connection;
mod connector;
mod facts;
mod family;
pub mod http;
mod id_shape;
pub mod json;
mod keys;
mod linked;
mod mappings;
mod options;
pub mod schema;
pub mod status;

pub use backend::{
    Backend, BackendFacts, LinkedWrites, LinkedWritten, Query, QueryFilter, VendorCondition,
    VendorRecord, VendorWrite, WriteOp, Written,
};
pub use checks::{Advice, SetupCheck, TableCheck};
pub use connection::Connection;
pub use connector::{AdapterFacts, Connector, ConnectorConfig, LiveConnection, SHARED_KEYS, find};
pub use family::{Family, Verb, operation};
pub use id_shape::IdShape;
pub use keys::{parse_config_key, parse_flag, parse_number};
pub use mappings::{Mappings, Target};
pub use options::ConnectionOptions;

use std::collections::HashSet;
use std::future::Future;
use std::hash::BuildHasher;
use std::num::NonZeroU32;

use futures::stream::{self, BoxStream, StreamExt};

use crate::api::{ListQuery, Page};
use crate::error::{Error, Result};

/// Limits on one listing, so that a server whose cursors never end cannot keep a caller paging
/// forever.
///
/// Adapters build it from the caller's [`ListQuery`] with [`Paging::for_query`] and hand it to
/// [`paginate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    max_pages: NonZeroU32,
}

impl Paging {
    /// The default cap on pages per listing: 10,000 pages, which is 1 to 20 million records at
    /// the vendors' page sizes, far more than a support bot lists in one go.
    pub const DEFAULT_MAX_PAGES: NonZeroU32 = match NonZeroU32::new(10_000) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    };

    /// Stops a listing with an error once `max_pages` pages have been fetched and the last
    /// still has a cursor.
    pub fn max_pages(max_pages: NonZeroU32) -> Self {
        Self { max_pages }
    }

    /// The limits a caller asked for in `query` ([`ListQuery::max_pages`]), defaults elsewhere.
    pub fn for_query(query: &ListQuery) -> Self {
        Self::max_pages(query.max_pages.unwrap_or(Self::DEFAULT_MAX_PAGES))
    }

    /// The cap on pages per listing.
    pub fn page_limit(&self) -> NonZeroU32 {
        self.max_pages
    }
}

impl Default for Paging {
    fn default() -> Self {
        Self::max_pages(Self::DEFAULT_MAX_PAGES)
    }
}

/// Turns "fetch the page at this cursor" into a lazy stream of pages.
///
/// `fetch(start)` gets the first page (`None`: from the beginning); each page's `next` is
/// passed to the following call; the stream ends after a page without `next`, or after the
/// first error.
///
/// A server that misbehaves cannot keep the stream going forever. The stream ends with an
/// [`ErrorKind::Decode`](crate::ErrorKind::Decode) error whose message says why, and sends no
/// further request, when:
/// - a page's cursor is one the listing already used (`A → B → A`), checked against every
///   cursor of the listing (kept as 64-bit keyed hashes, not the cursors themselves); the page
///   carrying it is not yielded;
/// - a page is empty but still has a cursor: a server handing out a fresh cursor with every
///   empty page would otherwise be paged through forever. Adapters whose own cursors can move
///   on past an empty stretch (HubSpot's listing of notes, then tasks, then calls) fetch on
///   until they have records or reach the end before returning a page;
/// - `paging`'s page cap is reached while the last page still has a cursor; that page is
///   yielded, so its `next` can resume the listing later, and the error follows it.
pub fn paginate<T, F, Fut>(
    paging: Paging,
    start: Option<String>,
    mut fetch: F,
) -> BoxStream<'static, Result<Page<T>>>
where
    T: Send + 'static,
    F: FnMut(Option<String>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T>>> + Send + 'static,
{
    enum State {
        At(Option<String>, Seen),
        Failed(Error),
        Done,
    }
    let max_pages = paging.max_pages.get();
    let mut seen = Seen::default();
    if let Some(c) = &start {
        seen.insert(c);
    }
    stream::unfold(State::At(start, seen), move |state| {
        let next = match state {
            State::Done => None,
            State::Failed(err) => Some(Err(err)),
            State::At(cursor, seen) => Some(Ok((fetch(cursor), seen))),
        };
        async move {
            let (fut, mut seen) = match next? {
                Err(err) => return Some((Err(err), State::Done)),
                Ok(parts) => parts,
            };
            let page = match fut.await {
                Err(e) => return Some((Err(e), State::Done)),
                Ok(page) => page,
            };
            seen.pages = seen.pages.saturating_add(1);
            let Some(next) = page.next.clone() else {
                return Some((Ok(page), State::Done));
            };
            if page.items.is_empty() {
                let err = Error::decode(
                    "paging stopped: the server returned an empty page that still has a next-page \
                     cursor, so the listing would never end",
                );
                return Some((Err(err), State::Done));
            }
            if !seen.insert(&next) {
                let err = Error::decode(
                    "paging stopped: the server returned a next-page cursor this listing had \
                     already followed, so the pages would repeat forever",
                );
                return Some((Err(err), State::Done));
            }
            if seen.pages >= max_pages {
                let err = Error::decode(format!(
                    "paging stopped after {max_pages} pages, the most one listing fetches \
                     (ListQuery::max_pages); the last page's cursor resumes the listing"
                ));
                return Some((Ok(page), State::Failed(err)));
            }
            Some((Ok(page), State::At(Some(next), seen)))
        }
    })
    .boxed()
}

/// The cursors a listing has followed, as keyed hashes (a cursor can be kilobytes long; 10,000
/// of them would be tens of megabytes), and how many pages it fetched. The key is random per
/// listing, so a server cannot craft two cursors that collide.
#[derive(Default)]
struct Seen {
    hasher: std::collections::hash_map::RandomState,
    hashes: HashSet<u64>,
    pages: u32,
}

impl Seen {
    /// Records `cursor`; `false` when it was seen before.
    fn insert(&mut self, cursor: &str) -> bool {
        self.hashes.insert(self.hasher.hash_one(cursor))
    }
}

/// Splits `items` into chunks of at most `max` (at least 1) for vendor batch calls.
pub fn chunks<T>(items: &[T], max: usize) -> std::slice::Chunks<'_, T> {
    items.chunks(max.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use futures::TryStreamExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn pages_follow_cursors_lazily() {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = calls.clone();
        let stream = paginate(Paging::default(), None, move |cursor: Option<String>| {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                let n: u32 = cursor.as_deref().unwrap_or("0").parse().unwrap();
                Ok(Page {
                    items: vec![n],
                    next: (n < 2).then(|| (n + 1).to_string()),
                })
            }
        });
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
        let pages: Vec<Page<u32>> = stream.try_collect().await.unwrap();
        assert_eq!(
            pages
                .iter()
                .flat_map(|p| p.items.clone())
                .collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_repeated_cursor_ends_with_an_error() {
        let stream = paginate(Paging::default(), Some("x".into()), |_c| async {
            Ok(Page {
                items: vec![1],
                next: Some("x".to_owned()),
            })
        });
        let results: Vec<Result<Page<i32>>> = stream.collect().await;
        assert_eq!(results.len(), 1);
        assert!(results[0].is_err());
    }

    type Served = futures::future::Ready<Result<Page<u32>>>;

    /// Plays a server: `pages` maps a cursor to the page's items and next cursor.
    fn server(
        pages: impl Fn(Option<&str>) -> (Vec<u32>, Option<String>) + Send + Sync + 'static,
    ) -> (
        Arc<AtomicUsize>,
        impl FnMut(Option<String>) -> Served + Send + 'static,
    ) {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let fetch = move |cursor: Option<String>| {
            c.fetch_add(1, Ordering::SeqCst);
            let (items, next) = pages(cursor.as_deref());
            futures::future::ready(Ok(Page { items, next }))
        };
        (calls, fetch)
    }

    #[tokio::test]
    async fn paging_cursors_cycling_a_b_a_end_with_an_error() {
        let (calls, fetch) = server(|c| match c {
            None => (vec![1], Some("A".into())),
            Some("A") => (vec![2], Some("B".into())),
            _ => (vec![3], Some("A".into())),
        });
        let results: Vec<Result<Page<u32>>> =
            paginate(Paging::default(), None, fetch).collect().await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(results.len(), 3);
        let err = results[2].as_ref().unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Decode);
        assert!(err.message().contains("already followed"), "{err}");
    }

    #[tokio::test]
    async fn paging_empty_pages_with_fresh_cursors_stop_at_once() {
        let (calls, fetch) = server(|c| {
            let n: u32 = c.map_or(0, |c| c.parse().unwrap());
            (Vec::new(), Some((n + 1).to_string()))
        });
        let results: Vec<Result<Page<u32>>> =
            paginate(Paging::default(), None, fetch).collect().await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(results.len(), 1);
        let err = results[0].as_ref().unwrap_err();
        assert!(err.message().contains("empty page"), "{err}");
    }

    #[tokio::test]
    async fn paging_stops_at_the_page_cap_after_yielding_the_last_page() {
        let (calls, fetch) = server(|c| {
            let n: u32 = c.map_or(0, |c| c.parse().unwrap());
            (vec![n], Some((n + 1).to_string()))
        });
        let paging = Paging::for_query(&ListQuery {
            max_pages: NonZeroU32::new(5),
            ..ListQuery::default()
        });
        let results: Vec<Result<Page<u32>>> = paginate(paging, None, fetch).collect().await;
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        assert_eq!(results.len(), 6);
        let last = results[4].as_ref().unwrap();
        assert_eq!(last.next.as_deref(), Some("5"), "the cursor to resume from");
        let err = results[5].as_ref().unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Decode);
        assert!(err.message().contains("after 5 pages"), "{err}");
    }

    #[test]
    fn the_default_cap_is_ten_thousand_pages() {
        assert_eq!(Paging::default().page_limit().get(), 10_000);
        assert_eq!(Paging::for_query(&ListQuery::default()), Paging::default());
    }
}

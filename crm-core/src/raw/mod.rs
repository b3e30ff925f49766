//! Machinery for adapter authors: turning one-page fetches into streams, running batches in
//! vendor-sized chunks. Bot backends do not need this module.

use std::future::Future;

use futures::stream::{self, BoxStream, StreamExt};

use crate::api::Page;
use crate::error::{Error, Result};

/// Turns "fetch the page at this cursor" into a lazy stream of pages.
///
/// `fetch(None)` (or `fetch(start)`) gets the first page; each page's `next` is passed to the
/// following call; the stream ends after a page without `next`, or after the first error. A server
/// that hands back the cursor it was just given ends the stream with a `Decode` error instead of
/// looping forever.
pub fn paginate<T, F, Fut>(
    start: Option<String>,
    mut fetch: F,
) -> BoxStream<'static, Result<Page<T>>>
where
    T: Send + 'static,
    F: FnMut(Option<String>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T>>> + Send + 'static,
{
    enum State {
        At(Option<String>),
        Done,
    }
    stream::unfold(State::At(start), move |state| {
        let cursor = match state {
            State::Done => None,
            State::At(cursor) => Some(cursor),
        };
        let fut = cursor.map(|c| {
            let current = c.clone();
            (fetch(c), current)
        });
        async move {
            let (fut, current) = fut?;
            match fut.await {
                Err(e) => Some((Err(e), State::Done)),
                Ok(page) => {
                    if page.next.is_some() && page.next == current {
                        let err = Error::decode(
                            "the server returned the same page cursor it was given; stopping",
                        );
                        return Some((Err(err), State::Done));
                    }
                    let next = match &page.next {
                        Some(n) => State::At(Some(n.clone())),
                        None => State::Done,
                    };
                    Some((Ok(page), next))
                }
            }
        }
    })
    .boxed()
}

/// Splits `items` into chunks of at most `max` (at least 1) for vendor batch calls.
pub fn chunks<T>(items: &[T], max: usize) -> std::slice::Chunks<'_, T> {
    items.chunks(max.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    #[tokio::test]
    async fn pages_follow_cursors_lazily() {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = calls.clone();
        let stream = paginate(None, move |cursor: Option<String>| {
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
        let stream = paginate(Some("x".into()), |_c| async {
            Ok(Page {
                items: vec![1],
                next: Some("x".to_owned()),
            })
        });
        let results: Vec<Result<Page<i32>>> = stream.collect().await;
        assert_eq!(results.len(), 1);
        assert!(results[0].is_err());
    }
}

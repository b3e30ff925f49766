//! One page of a listing or of a search, as Pipedrive pages them (its "Pagination" page): API v2
//! takes `cursor` and `limit` (at most 500) and answers `additional_data.next_cursor`; API v1
//! (leads, notes) takes `start` and `limit` and answers `additional_data.pagination`. Both
//! become one opaque text cursor ([`crate::wire::Envelope::next`]), so the caller pages the same
//! way whatever the entity.

use chrono::SecondsFormat;
use crm_core::raw::Query;
use crm_core::raw::http::Request;

use crate::wire::Entity;

/// Pipedrive's largest page.
pub const MAX_PAGE: u32 = 500;

/// A request: path and query pairs.
pub type PageRequest = (String, Vec<(String, String)>);

/// The request of one page of `entity` from `cursor`, as `query` asks (its page size, capped;
/// newest change first: v2 `sort_by=update_time`, v1 `sort=update_time DESC`; changed since:
/// v2 `updated_since`, v1 has no such filter), narrowed by `filters` (`("person_id", "101")`).
pub fn page(
    entity: Entity,
    cursor: Option<&str>,
    query: &Query,
    filters: &[(&str, &str)],
) -> PageRequest {
    let mut q: Vec<(String, String)> = filters
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut push = |k: &str, v: String| q.push((k.to_owned(), v));
    push("limit", query.page_size.clamp(1, MAX_PAGE).to_string());
    let v2 = entity.is_v2();
    if let Some(c) = cursor {
        push(if v2 { "cursor" } else { "start" }, c.to_owned());
    }
    if query.newest_first && v2 {
        push("sort_by", "update_time".into());
        push("sort_direction", "desc".into());
    } else if query.newest_first {
        push("sort", "update_time DESC".into());
    }
    if let (Some(t), true) = (query.changed_since, v2) {
        push(
            "updated_since",
            t.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
    }
    (entity.path().to_owned(), q)
}

/// The request of an exact search of persons by `field` (`email`, `phone`, `custom_fields`;
/// exact matches are not case sensitive) for `term`: one page of 100 hits, as many as a
/// customer look-up needs.
pub fn search_persons(field: &str, term: &str) -> PageRequest {
    let q = [
        ("term", term),
        ("fields", field),
        ("exact_match", "true"),
        ("limit", "100"),
    ];
    let q = q.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    (format!("{}/search", Entity::Persons.path()), q.collect())
}

/// `(path, pairs)` as a GET request named `op`.
pub fn request((path, q): PageRequest, op: &str) -> Request {
    q.into_iter()
        .fold(Request::get(path, op), |r, (k, v)| r.query(k, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(page_size: u32, newest_first: bool) -> Query {
        Query {
            kind: crm_core::ObjectKind::Opportunity,
            filter: crm_core::raw::QueryFilter::All,
            changed_since: None,
            newest_first,
            page_size,
        }
    }

    fn pairs(q: &[(String, String)]) -> Vec<(&str, &str)> {
        q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn v2_pages_by_cursor_and_v1_by_offset() {
        let (path, q) = page(
            Entity::Deals,
            Some("eyJ4IjoxfQ"),
            &query(900, false),
            &[("person_id", "101")],
        );
        assert_eq!(path, "/api/v2/deals");
        assert_eq!(
            pairs(&q),
            [
                ("person_id", "101"),
                ("limit", "500"),
                ("cursor", "eyJ4IjoxfQ")
            ]
        );
        let (path, q) = page(Entity::Notes, Some("100"), &query(50, true), &[]);
        assert_eq!(path, "/api/v1/notes");
        assert_eq!(
            pairs(&q),
            [
                ("limit", "50"),
                ("start", "100"),
                ("sort", "update_time DESC")
            ]
        );
    }

    #[test]
    fn look_ups_are_exact_searches_of_one_field() {
        let (path, q) = search_persons("email", "jane@example.com");
        assert_eq!(path, "/api/v2/persons/search");
        assert!(pairs(&q).contains(&("fields", "email")));
        assert!(pairs(&q).contains(&("exact_match", "true")));
    }
}

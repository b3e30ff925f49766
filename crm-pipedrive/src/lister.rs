//! One page of a listing or of a search, as Pipedrive pages them (its "Pagination" page): API v2
//! takes `cursor` and `limit` (at most 500) and answers `additional_data.next_cursor`; API v1
//! (leads, notes) takes `start` and `limit` and answers `additional_data.pagination`. Both
//! become one opaque text cursor ([`crate::wire::Envelope::next`]), so the caller pages the same
//! way whatever the entity.

use crate::wire::Entity;

/// Pipedrive's largest page.
pub const MAX_PAGE: u32 = 500;

/// A request: path and query pairs.
pub type PageRequest = (String, Vec<(String, String)>);

/// The request of one page of `entity`, from `cursor`, `size` records at most, narrowed by
/// `filters` (`("person_id", "101")`, `("status", "open")`, …), newest change first when
/// `newest_first` (v2 `sort_by=update_time`; v1 `sort=update_time DESC`).
pub fn page(
    entity: Entity,
    cursor: Option<&str>,
    size: u32,
    filters: &[(&str, &str)],
    newest_first: bool,
) -> PageRequest {
    let mut q: Vec<(String, String)> = filters
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    q.push(("limit".into(), size.clamp(1, MAX_PAGE).to_string()));
    let v2 = entity.is_v2();
    if let Some(c) = cursor {
        q.push((if v2 { "cursor" } else { "start" }.into(), c.to_owned()));
    }
    if newest_first {
        if v2 {
            q.push(("sort_by".into(), "update_time".into()));
            q.push(("sort_direction".into(), "desc".into()));
        } else {
            q.push(("sort".into(), "update_time DESC".into()));
        }
    }
    (entity.path().to_owned(), q)
}

/// The request of an exact search of persons by `field` (`email`, `phone`, `custom_fields`;
/// exact matches are not case sensitive) for `term`.
pub fn search_persons(field: &str, term: &str, cursor: Option<&str>) -> PageRequest {
    let mut q = vec![
        ("term".to_owned(), term.to_owned()),
        ("fields".to_owned(), field.to_owned()),
        ("exact_match".to_owned(), "true".to_owned()),
        ("limit".to_owned(), "100".to_owned()),
    ];
    if let Some(c) = cursor {
        q.push(("cursor".into(), c.to_owned()));
    }
    (format!("{}/search", Entity::Persons.path()), q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(String, String)]) -> Vec<(&str, &str)> {
        q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn v2_pages_by_cursor_and_v1_by_offset() {
        let (path, q) = page(
            Entity::Deals,
            Some("eyJ4IjoxfQ"),
            900,
            &[("person_id", "101")],
            false,
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
        let (path, q) = page(Entity::Notes, Some("100"), 50, &[], true);
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
        let (path, q) = search_persons("email", "jane@example.com", None);
        assert_eq!(path, "/api/v2/persons/search");
        assert!(pairs(&q).contains(&("fields", "email")));
        assert!(pairs(&q).contains(&("exact_match", "true")));
    }
}

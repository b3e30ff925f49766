//! `GET /{objects}`: query parameters, filters, sorting and the three paging styles.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::error::ApiError;
use super::schema::{Kind, ObjectSpec, READ_ONLY};
use super::store::Record;

/// Page size when the client gives none.
pub(crate) const DEFAULT_LIMIT: usize = 20;
/// Largest page size; more is a 400, not a silent clamp, so client bugs show.
pub(crate) const MAX_LIMIT: usize = 100;

/// How the client pages; decides which parameter the `Link` header advances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// `cursor=` (also the style when no paging parameter is given).
    Cursor,
    /// `offset=`.
    Offset,
    /// `page=` / `per_page=`, pages start at 1.
    Page,
}

/// One equality (or `_in`) filter.
#[derive(Debug)]
struct Filter {
    field: String,
    kind: Kind,
    values: Vec<String>,
}

/// A parsed list request.
#[derive(Debug)]
pub(crate) struct ListQuery {
    filters: Vec<Filter>,
    updated_since: Option<DateTime<Utc>>,
    sort: Option<(String, Kind, bool)>,
    pub(crate) style: Style,
    /// Index of the first record of the page.
    pub(crate) offset: usize,
    pub(crate) limit: usize,
    /// The current page number (page style only).
    pub(crate) page: usize,
}

/// One page of results.
#[derive(Debug)]
pub(crate) struct Page<'a> {
    pub(crate) records: Vec<&'a Record>,
    pub(crate) total: usize,
    /// Offset of the next page, when there is one.
    pub(crate) next_offset: Option<usize>,
}

fn parse_count(name: &str, value: &str) -> Result<usize, ApiError> {
    value
        .trim()
        .parse::<usize>()
        .map_err(|_| ApiError::invalid_parameter(format!("{name} must be a non-negative integer")))
}

fn parse_limit(name: &str, value: &str) -> Result<usize, ApiError> {
    let n = parse_count(name, value)?;
    if n == 0 || n > MAX_LIMIT {
        return Err(ApiError::invalid_parameter(format!(
            "{name} must be between 1 and {MAX_LIMIT}"
        )));
    }
    Ok(n)
}

/// The kind a filter or sort on `name` uses; read-only fields compare as text.
fn field_kind(spec: &ObjectSpec, name: &str) -> Option<Kind> {
    if READ_ONLY.contains(&name) {
        return Some(Kind::Text);
    }
    spec.field(name).map(|f| f.kind)
}

impl ListQuery {
    /// Parses the (already percent-decoded) query pairs. Unknown parameters are a 400 so a
    /// misspelt filter cannot silently return everything.
    pub(crate) fn parse(spec: &ObjectSpec, pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let mut q = ListQuery {
            filters: Vec::new(),
            updated_since: None,
            sort: None,
            style: Style::Cursor,
            offset: 0,
            limit: DEFAULT_LIMIT,
            page: 1,
        };
        let (mut cursor, mut offset, mut page, mut per_page, mut limit) =
            (None, None, None, None, None);
        for (name, value) in pairs {
            match name.as_str() {
                "limit" => limit = Some(parse_limit(name, value)?),
                "per_page" => per_page = Some(parse_limit(name, value)?),
                "offset" => offset = Some(parse_count(name, value)?),
                "page" => {
                    let p = parse_count(name, value)?;
                    if p == 0 {
                        return Err(ApiError::invalid_parameter("page starts at 1"));
                    }
                    page = Some(p);
                }
                "cursor" => cursor = Some(decode_cursor(value)?),
                "updated_since" => {
                    let t = DateTime::parse_from_rfc3339(value.trim()).map_err(|_| {
                        ApiError::invalid_parameter("updated_since must be an RFC 3339 timestamp")
                    })?;
                    q.updated_since = Some(t.with_timezone(&Utc));
                }
                "sort" => {
                    // `+` in a query string decodes to a space, so accept both as "ascending".
                    let s = value.trim().trim_start_matches('+');
                    let (field, desc) = match s.strip_prefix('-') {
                        Some(f) => (f, true),
                        None => (s, false),
                    };
                    let kind = field_kind(spec, field).ok_or_else(|| {
                        ApiError::invalid_parameter("sort names an unknown field")
                            .with_fields(vec![("sort".to_owned(), "invalid_parameter")])
                    })?;
                    q.sort = Some((field.to_owned(), kind, desc));
                }
                other => {
                    let (field, values) = match other.strip_suffix("_in") {
                        Some(f) if field_kind(spec, f).is_some() => {
                            (f, value.split(',').map(|v| v.trim().to_owned()).collect())
                        }
                        _ => (other, vec![value.clone()]),
                    };
                    let kind = field_kind(spec, field).ok_or_else(|| {
                        ApiError::invalid_parameter(format!("unknown query parameter: {other}"))
                            .with_fields(vec![(other.to_owned(), "invalid_parameter")])
                    })?;
                    q.filters.push(Filter {
                        field: field.to_owned(),
                        kind,
                        values,
                    });
                }
            }
        }
        let styles = [
            cursor.is_some(),
            offset.is_some(),
            page.is_some() || per_page.is_some(),
        ];
        if styles.iter().filter(|s| **s).count() > 1 {
            return Err(ApiError::invalid_parameter(
                "use only one of cursor, offset and page/per_page",
            ));
        }
        if let Some(c) = cursor {
            q.offset = c;
        } else if let Some(o) = offset {
            q.style = Style::Offset;
            q.offset = o;
        } else if page.is_some() || per_page.is_some() {
            q.style = Style::Page;
        }
        q.limit = match q.style {
            Style::Page => per_page.or(limit).unwrap_or(DEFAULT_LIMIT),
            _ => limit.unwrap_or(DEFAULT_LIMIT),
        };
        if q.style == Style::Page {
            q.page = page.unwrap_or(1);
            q.offset = (q.page - 1).saturating_mul(q.limit);
        }
        Ok(q)
    }

    /// Filters, sorts and cuts out the page.
    pub(crate) fn run<'a>(&self, records: &'a [Record]) -> Page<'a> {
        let mut hits: Vec<&Record> = records
            .iter()
            .filter(|r| self.updated_since.is_none_or(|t| r.updated_at >= t))
            .filter(|r| {
                self.filters.iter().all(|f| {
                    let v = r.value(&f.field);
                    f.values.iter().any(|q| matches(f.kind, &v, q))
                })
            })
            .collect();
        if let Some((field, kind, desc)) = &self.sort {
            hits.sort_by(|a, b| {
                let order = compare(*kind, &a.value(field), &b.value(field), *desc);
                order.then(a.seq.cmp(&b.seq))
            });
        } else {
            hits.sort_by_key(|r| r.seq);
        }
        let total = hits.len();
        let end = self.offset.saturating_add(self.limit).min(total);
        let records = hits
            .get(self.offset..end)
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        let next_offset = (end < total).then_some(end);
        Page {
            records,
            total,
            next_offset,
        }
    }
}

/// Does a stored value equal a filter value? An empty filter value matches unset fields.
fn matches(kind: Kind, stored: &Value, wanted: &str) -> bool {
    match stored {
        Value::Null => wanted.is_empty(),
        Value::Number(n) => wanted
            .trim()
            .parse::<f64>()
            .is_ok_and(|w| n.as_f64().is_some_and(|n| n == w)),
        Value::String(s) => match kind {
            Kind::Email => s.to_lowercase() == wanted.trim().to_lowercase(),
            Kind::Phone => phones_match(s, wanted),
            _ => s == wanted,
        },
        _ => false,
    }
}

/// Phone numbers compare on their digits. When exactly one side is a 10-digit national number
/// (no country code), it matches a longer number ending in those digits, so `+14155550100`
/// finds `(415) 555-0100` and vice versa; two numbers that both carry a country code must
/// agree on all digits (so `+44 20 7946 0958` never matches `+1 207 946 0958`).
pub(crate) fn phones_match(a: &str, b: &str) -> bool {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let (a, b) = (digits(a), digits(b));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a == b {
        return true;
    }
    let (short, long) = if a.len() < b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    short.len() == 10 && long.ends_with(short.as_str())
}

/// Sort order: numbers numerically, emails case-insensitively, other text as text. Unset
/// values go last in both directions, so a descending sort still starts with real data.
fn compare(kind: Kind, a: &Value, b: &Value, desc: bool) -> Ordering {
    let order = match (a, b) {
        (Value::Null, Value::Null) => return Ordering::Equal,
        (Value::Null, _) => return Ordering::Greater,
        (_, Value::Null) => return Ordering::Less,
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) if kind == Kind::Email => {
            x.to_lowercase().cmp(&y.to_lowercase())
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => Ordering::Equal,
    };
    if desc { order.reverse() } else { order }
}

/// Cursors are opaque to clients: hex of `o<offset>`. Simple, URL-safe, and a hand-typed
/// number is rejected, which catches clients that treat the cursor as an offset.
pub(crate) fn encode_cursor(offset: usize) -> String {
    format!("o{offset}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_cursor(cursor: &str) -> Result<usize, ApiError> {
    let invalid = || ApiError::invalid_parameter("cursor is not valid");
    let bytes = cursor.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let decoded: Option<Vec<u8>> = bytes
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    let text = decoded
        .and_then(|d| String::from_utf8(d).ok())
        .ok_or_else(invalid)?;
    text.strip_prefix('o')
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_rules() {
        assert!(phones_match("(415) 555-0100", "+14155550100"));
        assert!(phones_match("+1 415 555 0100", "4155550100"));
        assert!(phones_match("+44 20 7946 0958", "+442079460958"));
        assert!(!phones_match("+44 20 7946 0958", "+1 207 946 0958"));
        assert!(!phones_match("555-0100", "(415) 555-0100"));
        assert!(!phones_match("", ""));
    }

    #[test]
    fn cursor_round_trip() {
        assert_eq!(decode_cursor(&encode_cursor(40)).unwrap(), 40);
        assert!(decode_cursor("40").is_err());
        assert!(decode_cursor("zz").is_err());
    }
}

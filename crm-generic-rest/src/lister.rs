//! One page of a list, in each paging style the spec can declare; core turns pages into streams.

use crm_core::raw::VendorRecord;
use crm_core::raw::http::Request;
use crm_core::reexports::http::Method;
use crm_core::reexports::serde_json::Value;
use crm_core::reexports::url::Url;
use crm_core::{Error, ObjectKind, Page, Result};

use crate::config::{ObjectSpec, PagingStyle, Spec};
use crate::wire::vendor_record;
use crm_core::raw::http::HttpClient;

/// What to list: filters as vendor query parameters, sort, page size.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListParams {
    pub(crate) filters: Vec<(String, String)>,
    /// Vendor field, descending.
    pub(crate) newest_first: Option<String>,
    pub(crate) page_size: u32,
}

/// Fetches the page of `kind` at `cursor` (`None`: the first page).
pub(crate) async fn fetch_page(
    http: &HttpClient,
    spec: &Spec,
    object: &ObjectSpec,
    kind: ObjectKind,
    params: &ListParams,
    cursor: Option<String>,
    operation: &str,
) -> Result<Page<VendorRecord>> {
    let paging = &spec.paging;
    let size = params.page_size.clamp(1, paging.max_page_size);
    let mut request = match (&paging.style, &cursor) {
        // A Link-style cursor is the next page's full URL, which already carries every parameter.
        (PagingStyle::Link, Some(url)) => {
            let url =
                Url::parse(url).map_err(|_| Error::decode("the next-page link is not a URL"))?;
            Request::absolute(Method::GET, url, operation)
        }
        _ => {
            let mut r = Request::get(object.path.clone(), operation)
                .query(paging.limit_param.clone(), size.to_string());
            for (k, v) in &params.filters {
                r = r.query(k.clone(), v.clone());
            }
            if let (Some(sort), Some(field)) = (&spec.query.sort_param, &params.newest_first) {
                let prefix = spec.query.descending_prefix.as_deref().unwrap_or("-");
                r = r.query(sort.clone(), format!("{prefix}{field}"));
            }
            r
        }
    };
    let position: u64 = match (&paging.style, &cursor) {
        (PagingStyle::Offset, Some(c)) | (PagingStyle::Page, Some(c)) => c
            .parse()
            .map_err(|_| Error::invalid_input("this page cursor is not a number"))?,
        (PagingStyle::Page, None) => paging.first_page,
        _ => 0,
    };
    match (&paging.style, &cursor) {
        (PagingStyle::Cursor, Some(c)) => {
            if let Some(p) = &paging.cursor_param {
                request = request.query(p.clone(), c.clone());
            }
        }
        (PagingStyle::Offset, _) => {
            if let Some(p) = &paging.offset_param {
                request = request.query(p.clone(), position.to_string());
            }
        }
        (PagingStyle::Page, _) => {
            if let Some(p) = &paging.page_param {
                request = request.query(p.clone(), position.to_string());
            }
        }
        _ => {}
    }

    let resp = http.send(request).await?;
    let body: Value = resp.json()?;
    let items = if paging.items_pointer.is_empty() {
        Some(&body)
    } else {
        body.pointer(&paging.items_pointer)
    }
    .and_then(Value::as_array)
    .ok_or_else(|| {
        Error::decode(format!(
            "field `{}`: the list response has no array of records there",
            paging.items_pointer
        ))
        .with_operation(operation.to_owned())
    })?;
    let records = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            vendor_record(spec, kind, item).map_err(|e| {
                Error::new(
                    e.kind().clone(),
                    format!("record {i} of the page: {}", e.message()),
                )
                .with_operation(operation.to_owned())
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let full = records.len() as u64 >= u64::from(size);
    let next = match paging.style {
        PagingStyle::Cursor => paging
            .next_cursor_pointer
            .as_deref()
            .and_then(|p| body.pointer(p))
            .and_then(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }),
        PagingStyle::Offset => full.then(|| (position + records.len() as u64).to_string()),
        PagingStyle::Page => full.then(|| (position + 1).to_string()),
        PagingStyle::Link => resp
            .header("link")
            .and_then(next_link)
            .map(|u| resolve(http, &u))
            .transpose()?,
    };
    Ok(Page {
        items: records,
        next,
    })
}

fn resolve(http: &HttpClient, link: &str) -> Result<String> {
    http.base_url()
        .join(link)
        .map(|u| u.to_string())
        .map_err(|_| Error::decode("the next-page link is not a URL"))
}

/// The `rel="next"` target of an RFC 8288 `Link` header.
pub(crate) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == "rel=\"next\"" || p == "rel=next"
        });
        is_next.then(|| target.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"<https://x/a?page=2>; rel="next", <https://x/a?page=1>; rel="prev""#),
            Some("https://x/a?page=2".into())
        );
        assert_eq!(next_link(r#"<https://x/a?page=1>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(next_link("</p3>; rel=next"), Some("/p3".into()));
    }
}

//! Search: filter groups, phone forms, caps, paging (HubSpot's CRM API docs, "Search").

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crm_core::raw::http::Request;
use crm_core::raw::{Paging, paginate};
use crm_core::reexports::futures::StreamExt;
use crm_core::reexports::http::Method;
use crm_core::reexports::serde_json::{Value, json};
use crm_core::{Entity, Error, Page, Record, Region, Result};

use crate::core::{Core, HsPage, HsPaging, MAX_SEARCH_PAGE, SEARCH};
use crate::mapping::MappingTarget;

/// Search allows 6 filters per group (HubSpot's CRM API docs, "Search").
const MAX_FILTERS_PER_GROUP: usize = 6;

/// Whether a record's `phone` or `mobile_phone` is the number `e164`, compared in E.164.
pub(crate) fn same_number<T: Entity>(record: &T, e164: &str, region: Region) -> bool {
    let fields = record.to_fields();
    ["phone", "mobile_phone"].iter().any(|f| {
        matches!(fields.get(*f), Some(crm_core::FieldValue::Text(t))
            if crm_core::Phone::from_vendor(t, region).e164() == Some(e164))
    })
}

/// Filter groups matching a phone number: `phone` and `mobilephone` IN the usual written forms
/// of the number (search compares text; HubSpot's search docs), and optionally HubSpot's
/// calculated digits-only properties. Results are then compared by E.164.
pub(crate) fn phone_groups(core: &Core, e164: &str) -> Vec<Vec<Value>> {
    let forms = phone_forms(e164);
    let mut groups = vec![
        vec![json!({"propertyName": "phone", "operator": "IN", "values": forms})],
        vec![json!({"propertyName": "mobilephone", "operator": "IN", "values": forms})],
    ];
    if core.settings.phone_calculated
        && let Some(national) = national_digits(e164)
    {
        for p in [
            "hs_searchable_calculated_phone_number",
            "hs_searchable_calculated_mobile_number",
        ] {
            groups.push(vec![
                json!({"propertyName": p, "operator": "EQ", "value": national}),
            ]);
        }
    }
    groups
}

fn national_digits(e164: &str) -> Option<String> {
    let parsed = phonenumber::parse(None, e164).ok()?;
    Some(parsed.national().value().to_string())
}

/// The written forms of a number people and forms commonly store: E.164, international,
/// national, RFC 3966, digits with and without the country code, and US-style separators.
pub(crate) fn phone_forms(e164: &str) -> Vec<String> {
    use phonenumber::Mode;
    let mut forms = vec![e164.to_owned()];
    if let Ok(p) = phonenumber::parse(None, e164) {
        for mode in [Mode::International, Mode::National, Mode::Rfc3966] {
            forms.push(p.format().mode(mode).to_string());
        }
        let national = p.national().value().to_string();
        let code = p.code().value().to_string();
        forms.push(national.clone());
        forms.push(format!("{code}{national}"));
        // North American numbers: 3-3-4 groups.
        if let (10, Some(a), Some(b), Some(c)) = (
            national.len(),
            national.get(..3),
            national.get(3..6),
            national.get(6..),
        ) {
            forms.push(format!("{a}-{b}-{c}"));
            forms.push(format!("{a}.{b}.{c}"));
            forms.push(format!("{a} {b} {c}"));
            forms.push(format!("+{code} ({a}) {b}-{c}"));
            forms.push(format!("{code}-{a}-{b}-{c}"));
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

/// Searches `target` with OR-ed `groups` of AND-ed filters, newest first, up to `limit`.
pub(crate) async fn search_records<T: Entity>(
    core: &Core,
    target: MappingTarget,
    mut groups: Vec<Vec<Value>>,
    limit: usize,
    operation: &str,
) -> Result<Vec<Record<T>>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    if limit > crate::core::MAX_SEARCH_RESULTS {
        return Err(Error::invalid_input(format!(
            "HubSpot search returns at most {} results per query; narrow the filter or list with `changed_since`",
            crate::core::MAX_SEARCH_RESULTS
        ))
        .with_operation(operation));
    }
    if target == MappingTarget::Lead {
        let stage = json!({"propertyName": "lifecyclestage", "operator": "EQ",
                           "value": core.settings.lead_stage});
        for g in &mut groups {
            g.push(stage.clone());
        }
    }
    check_search_caps(&groups).map_err(|e| e.with_operation(operation))?;
    let object = target.object();
    let mapping = core.read_mapping(target, None).await?;
    let filter_groups: Vec<Value> = groups.iter().map(|g| json!({"filters": g})).collect();
    let base = json!({
        "filterGroups": filter_groups,
        "sorts": [{"propertyName": object.modified_prop(), "direction": "DESCENDING"}],
        "properties": core.read_props(target),
    });
    // How many records are still wanted, so that each page asks for no more (the stream asks
    // for the next page only after the previous one has been taken).
    let wanted = Arc::new(AtomicUsize::new(limit));
    let pages_wanted = wanted.clone();
    let http = core.http.clone();
    let path = core.paths.search(object);
    let operation_owned = operation.to_owned();
    // Core's pager follows `after`, so a server whose cursors cycle, or that hands out a cursor
    // with an empty page, stops the search with a `Decode` error instead of paging forever.
    let mut pages = paginate(Paging::default(), None, move |after: Option<String>| {
        let page_limit = pages_wanted.load(Ordering::Relaxed).min(MAX_SEARCH_PAGE);
        let mut body = base.clone();
        if let Some(m) = body.as_object_mut() {
            m.insert("limit".into(), json!(page_limit));
            if let Some(a) = &after {
                m.insert("after".into(), json!(a));
            }
        }
        let req = Request::new(Method::POST, path.clone(), operation_owned.clone())
            .json(body)
            .idempotent(true)
            .bucket(SEARCH);
        let http = http.clone();
        async move {
            let page: HsPage = http.send(req).await?.json()?;
            // Search serves at most 10,000 results: a cursor past them ends the search.
            let next = HsPaging::after(&page.paging).filter(|a| {
                a.parse::<usize>()
                    .map_or(true, |n| n < crate::core::MAX_SEARCH_RESULTS)
            });
            Ok(Page {
                items: page.results,
                next,
            })
        }
    });
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        for hs in &page?.items {
            found.push(core.record_from::<T>(target, &mapping, hs, &[])?);
        }
        wanted.store(limit.saturating_sub(found.len()), Ordering::Relaxed);
        if found.len() >= limit {
            break;
        }
    }
    found.truncate(limit);
    Ok(found)
}

/// Search's caps (HubSpot's CRM API docs, "Search"), checked before a request: 5 groups,
/// 6 filters per group, 18 in all.
pub(crate) fn check_search_caps(groups: &[Vec<Value>]) -> Result<()> {
    let total: usize = groups.iter().map(Vec::len).sum();
    if groups.len() > 5 {
        return Err(Error::invalid_input(format!(
            "HubSpot search takes at most 5 filter groups; this one has {}",
            groups.len()
        )));
    }
    if let Some(g) = groups.iter().find(|g| g.len() > MAX_FILTERS_PER_GROUP) {
        return Err(Error::invalid_input(format!(
            "HubSpot search takes at most {MAX_FILTERS_PER_GROUP} filters per group; one has {}",
            g.len()
        )));
    }
    if total > 18 {
        return Err(Error::invalid_input(format!(
            "HubSpot search takes at most 18 filters in all; this one has {total}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_forms_cover_the_usual_spellings() {
        let forms = phone_forms("+14155550100");
        for f in [
            "+14155550100",
            "+1 415-555-0100",
            "(415) 555-0100",
            "tel:+1-415-555-0100",
            "4155550100",
            "14155550100",
            "415-555-0100",
            "415.555.0100",
        ] {
            assert!(forms.contains(&f.to_owned()), "{f} missing from {forms:?}");
        }
        let uk = phone_forms("+442079460958");
        assert!(uk.contains(&"+44 20 7946 0958".to_owned()), "{uk:?}");
        assert_eq!(phone_forms("not a number"), ["not a number"]);
    }

    #[test]
    fn search_caps() {
        let f = json!({"propertyName": "email", "operator": "EQ", "value": "x"});
        assert!(check_search_caps(&vec![vec![f.clone(); 6]; 3]).is_ok());
        assert!(check_search_caps(&[vec![f.clone(); 7]]).is_err());
        assert!(check_search_caps(&vec![vec![f.clone(); 1]; 6]).is_err());
        assert!(check_search_caps(&vec![vec![f.clone(); 5]; 4]).is_err());
    }
}

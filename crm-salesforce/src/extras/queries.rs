//! The queries the listings and the 360° view share: lookup and link conditions, Composite
//! query subrequests, the latest Tasks and Events of a record, and a contact's open
//! opportunities by each of the three ways real orgs link them.

use chrono::{DateTime, Utc};
use crm_core::raw::VendorRecord;
use crm_core::reexports::url::form_urlencoded;
use crm_core::{Activity, Error, Lookup, ObjectKind, Phone, RecordId, RecordRef, Result};
use serde_json::{Value, json};

use crate::extras::id;
use crate::extras::org::SalesforceBackend;
use crate::extras::soql::{self, Select, quote};
use crate::wire::{SObject, SubResponse};

/// Newest first, ties broken by id.
pub(crate) const RECENT: &str = "LastModifiedDate DESC, Id DESC";

/// The reference to the contact the first subrequest of the 360° view finds.
pub(crate) const CONTACT_REF: &str = "@{contact.records[0].Id}";

/// The condition of a lookup. Phones: SOQL cannot normalise formats, so the query matches the
/// number's digits in order with anything between them (`LIKE '%4%1%5…'`) on Phone and
/// MobilePhone, and [`find_by`] keeps only records whose number has the same E.164 form.
pub(crate) fn lookup_condition(
    b: &SalesforceBackend,
    s: SObject,
    lookup: &Lookup,
) -> Result<String> {
    Ok(match lookup {
        Lookup::Email(e) => format!("{} = {}", b.vendor_field(s, "email")?, quote(e.expose())),
        Lookup::ExternalId(v) if v.trim().is_empty() => {
            return Err(Error::invalid_input("external id is empty"));
        }
        Lookup::ExternalId(v) => format!("{} = {}", b.vendor_field(s, "external_id")?, quote(v)),
        Lookup::Phone(p) => {
            let e164 = p
                .e164()
                .ok_or_else(|| Error::invalid_input("phone number has no E.164 form"))?;
            let digits: String = e164.chars().filter(char::is_ascii_digit).collect();
            let tail = digits
                .get(digits.len().saturating_sub(10)..)
                .unwrap_or(&digits);
            let pattern = soql::like_digits(tail);
            format!(
                "{} LIKE {pattern} OR MobilePhone LIKE {pattern}",
                b.vendor_field(s, "phone")?
            )
        }
    })
}

/// Whether a row's phone (or mobile) is the looked-up number, in E.164.
pub(crate) fn same_phone(
    b: &SalesforceBackend,
    row: &Value,
    fields: &[&str],
    want: &Phone,
) -> bool {
    fields.iter().any(|f| {
        row.get(*f)
            .and_then(Value::as_str)
            .map(|text| Phone::from_vendor(text, b.region))
            .is_some_and(|p| p.e164().is_some() && p.e164() == want.e164())
    })
}

/// The link condition of `owner` on `s` (`ContactId = '003…'`).
pub(crate) fn owner_condition(
    b: &SalesforceBackend,
    s: SObject,
    owner: &RecordRef,
    operation: &str,
) -> Result<String> {
    let id = id::check(&owner.id)?;
    let field = match (s, owner.kind) {
        (SObject::Task | SObject::Event, ObjectKind::Contact | ObjectKind::Lead) => {
            "WhoId".to_owned()
        }
        (SObject::Task | SObject::Event, _) => "WhatId".to_owned(),
        (_, kind) => b.vendor_field(s, kind.link_field()).map_err(|_| {
            Error::unsupported(
                operation,
                format!("{} records are not linked to {kind} records", s.name()),
            )
        })?,
    };
    Ok(format!("{field} = {}", quote(id.as_str())))
}

/// A Composite query subrequest. The SOQL is percent-encoded except the one reference token,
/// which Salesforce substitutes; a looked-up value holding `@{…}` stays encoded and inert.
pub(crate) fn query_sub(b: &SalesforceBackend, reference_id: &str, soql: &str) -> Value {
    let encoded: Vec<String> = soql
        .split(CONTACT_REF)
        .map(|part| form_urlencoded::byte_serialize(part.as_bytes()).collect())
        .collect();
    json!({
        "method": "GET",
        "url": format!("{}?q={}", b.full_path("/query"), encoded.join(CONTACT_REF)),
        "referenceId": reference_id,
    })
}

/// When an activity happened, else when it was logged.
fn activity_time(b: &SalesforceBackend, r: &VendorRecord) -> Option<DateTime<Utc>> {
    b.record::<Activity>(r.clone())
        .ok()
        .and_then(|a| a.data.timestamp)
        .or(r.created_at)
}

/// Activities newest first, at most `limit`.
pub(crate) fn newest_first(
    b: &SalesforceBackend,
    all: Vec<VendorRecord>,
    limit: usize,
) -> Vec<VendorRecord> {
    let mut keyed: Vec<(Option<DateTime<Utc>>, VendorRecord)> =
        all.into_iter().map(|r| (activity_time(b, &r), r)).collect();
    keyed.sort_by_key(|k| std::cmp::Reverse(k.0));
    keyed.into_iter().take(limit).map(|(_, r)| r).collect()
}

/// The latest Tasks and Events of `owner`, in one Composite request (one round trip, one API
/// call), newest first.
pub(crate) async fn latest_activities(
    b: &SalesforceBackend,
    owner: &RecordRef,
    limit: usize,
    operation: &str,
) -> Result<Vec<VendorRecord>> {
    let mut subs = Vec::new();
    for s in [SObject::Task, SObject::Event] {
        let select = Select::new(s.name(), &b.read_fields(s)?)
            .and(owner_condition(b, s, owner, operation)?)
            .order_by("CreatedDate DESC, Id DESC")
            .limit(limit);
        subs.push(query_sub(b, s.name(), &select.text()));
    }
    let responses = b.composite(subs, true, operation).await?;
    let mut all = Vec::new();
    for (s, r) in [SObject::Task, SObject::Event].into_iter().zip(&responses) {
        all.extend(b.vendor_records(s, &r.page(operation)?.records, operation)?);
    }
    Ok(newest_first(b, all, limit))
}

/// Reference ids of the opportunity queries, one per link.
const OPPORTUNITY_REFS: [&str; 3] = [
    "opportunities_by_contact",
    "opportunities_by_account",
    "opportunities_by_role",
];

/// One open-opportunity query per link to the contact `id_expr` (a quoted id or the quoted
/// reference token), in [`OPPORTUNITY_REFS`] order, newest first, `limit` each.
pub(crate) fn opportunity_subs(
    b: &SalesforceBackend,
    id_expr: &str,
    limit: usize,
) -> Result<Vec<Value>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let fields = b.read_fields(SObject::Opportunity)?;
    let links = [
        format!("ContactId = {id_expr}"),
        format!("AccountId IN (SELECT AccountId FROM Contact WHERE Id = {id_expr})"),
        format!(
            "Id IN (SELECT OpportunityId FROM OpportunityContactRole WHERE ContactId = {id_expr})"
        ),
    ];
    Ok(OPPORTUNITY_REFS
        .iter()
        .zip(links)
        .map(|(refid, link)| {
            let select = Select::new("Opportunity", &fields)
                .and(link)
                .and("IsClosed = false")
                .order_by(RECENT)
                .limit(limit);
            query_sub(b, refid, &select.text())
        })
        .collect())
}

/// The open opportunities of the three link queries: each once, newest first, at most `limit`.
pub(crate) fn merged_opportunities(
    b: &SalesforceBackend,
    responses: &[SubResponse],
    limit: usize,
    operation: &str,
) -> Result<Vec<VendorRecord>> {
    let mut all: Vec<VendorRecord> = Vec::new();
    for refid in OPPORTUNITY_REFS {
        let found = responses.iter().find(|r| r.reference_id == refid);
        for o in rows(b, SObject::Opportunity, found, operation)? {
            if !all.iter().any(|seen| seen.id == o.id) {
                all.push(o);
            }
        }
    }
    all.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| b.id.as_str().cmp(a.id.as_str()))
    });
    all.truncate(limit);
    Ok(all)
}

/// `Opportunities::open_for` a contact: the three link queries in one Composite request.
pub(crate) async fn open_opportunities_for_contact(
    b: &SalesforceBackend,
    contact: &RecordId,
    limit: usize,
    operation: &str,
) -> Result<Vec<VendorRecord>> {
    let subs = opportunity_subs(b, &quote(contact.as_str()), limit)?;
    if subs.is_empty() {
        return Ok(Vec::new());
    }
    let responses = b.composite(subs, true, operation).await?;
    merged_opportunities(b, &responses, limit, operation)
}

pub(crate) fn rows(
    b: &SalesforceBackend,
    s: SObject,
    r: Option<&SubResponse>,
    operation: &str,
) -> Result<Vec<VendorRecord>> {
    match r {
        None => Ok(Vec::new()),
        Some(r) => b.vendor_records(s, &r.page(operation)?.records, operation),
    }
}

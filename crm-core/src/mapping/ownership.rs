//! Updates under ownership rules: which system owns which field decides what an update writes.
//!
//! `bot_wins` fields are written as given. `crm_wins` fields are only filled when the CRM holds
//! no value. `newest_wins` fields are written unless the CRM's record changed after the bot
//! observed it. Rules other than `bot_wins` need the current record, so such an update reads
//! first (one extra call, inside the same limits); an update with only `bot_wins` fields does
//! not. Updates write only the fields they carry (the adapters' updates are partial), so two
//! conversations updating different fields of one record never lose each other's field.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Direction, ObjectMapping, Ownership};
use crate::api::{Records, WriteContext};
use crate::error::Result;
use crate::model::{Entity, FieldMap, Record, RecordId};

/// What happened to one field of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldOutcome {
    /// Sent to the CRM.
    Written,
    /// Not sent: the CRM owns the field and already has a value, or changed it after the bot
    /// observed it.
    KeptCrmValue,
    /// Not sent: the mapping never writes it (read-only or `send = false`).
    Skipped,
}

/// The record after an owned update, and what happened to each field given.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedUpdate<T> {
    /// The record as the CRM holds it now.
    pub record: Record<T>,
    /// Per common field of the patch.
    pub fields: BTreeMap<String, FieldOutcome>,
}

/// Whether a CRM value counts as filled (an empty or blank text does not: CRMs store "" for
/// cleared fields).
fn has_value(v: &crate::model::FieldValue) -> bool {
    match v {
        crate::model::FieldValue::Null => false,
        crate::model::FieldValue::Text(s) => !s.trim().is_empty(),
        _ => true,
    }
}

/// Updates record `id` with `patch` under `mapping`'s ownership rules. `observed_at` is when
/// the bot last saw the record (for `newest_wins`); `None` treats the bot's value as newest.
pub async fn update_owned<T: Entity>(
    records: &dyn Records<T>,
    mapping: &ObjectMapping,
    id: &RecordId,
    patch: &T,
    observed_at: Option<DateTime<Utc>>,
    ctx: &WriteContext,
) -> Result<OwnedUpdate<T>> {
    let given = patch.to_fields();
    let base = |name: &str| name.strip_suffix("_state").unwrap_or(name).to_owned();
    let rule_of = |name: &str| mapping.rules.get(&base(name));
    let needs_current = given.keys().any(|k| {
        rule_of(k).is_some_and(|r| {
            r.owner != Ownership::BotWins && r.send && r.direction != Direction::Read
        })
    });
    let current = if needs_current {
        Some(records.get(id).await?)
    } else {
        None
    };
    let current_fields = current
        .as_ref()
        .map(|r| r.data.to_fields())
        .unwrap_or_default();
    let changed_since = match (&current, observed_at) {
        (Some(r), Some(seen)) => r.updated_at.is_some_and(|u| u > seen),
        _ => false,
    };
    let mut outcomes = BTreeMap::new();
    let mut send = FieldMap::new();
    for (name, value) in given {
        let outcome = match rule_of(&name) {
            Some(r) if r.direction == Direction::Read || !r.send => FieldOutcome::Skipped,
            Some(r)
                if r.owner == Ownership::CrmWins
                    && current_fields.get(&name).is_some_and(has_value) =>
            {
                FieldOutcome::KeptCrmValue
            }
            Some(r) if r.owner == Ownership::NewestWins && changed_since => {
                FieldOutcome::KeptCrmValue
            }
            _ => FieldOutcome::Written,
        };
        if outcome == FieldOutcome::Written {
            send.insert(name.clone(), value);
        }
        // A status's `_state` companion follows its field; report the field once.
        outcomes.entry(base(&name)).or_insert(outcome);
    }
    if send.is_empty() {
        let record = match current {
            Some(r) => r,
            None => records.get(id).await?,
        };
        return Ok(OwnedUpdate {
            record,
            fields: outcomes,
        });
    }
    let filtered = T::from_fields(send, crate::model::Region::us())?;
    let record = records.update(id, &filtered, ctx).await?;
    Ok(OwnedUpdate {
        record,
        fields: outcomes,
    })
}

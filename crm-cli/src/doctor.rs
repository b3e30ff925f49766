//! `crm-connect doctor`: what a connection's credential can and cannot do, with one harmless
//! read per object (a one-record page), and whether creates can be made idempotent.

use std::num::NonZeroU32;

use crm_core::reexports::futures::StreamExt;
use crm_core::{Crm, ErrorKind, ListQuery, ObjectKind, Result};

/// One line of the report.
pub(crate) struct Check {
    pub(crate) what: String,
    pub(crate) ok: bool,
    pub(crate) detail: String,
}

async fn probe<T: crm_core::Entity>(
    records: &dyn crm_core::Records<T>,
) -> std::result::Result<usize, crm_core::Error> {
    let mut pages = records.list(ListQuery {
        page_size: NonZeroU32::new(1),
        ..ListQuery::default()
    });
    match pages.next().await {
        Some(Ok(page)) => Ok(page.items.len()),
        Some(Err(e)) => Err(e),
        None => Ok(0),
    }
}

/// Runs every check against `crm`.
pub(crate) async fn run(crm: &dyn Crm) -> Result<Vec<Check>> {
    let caps = crm.capabilities();
    let mut checks = Vec::new();
    for kind in ObjectKind::ALL {
        let Some(object) = caps.objects.get(&kind) else {
            checks.push(Check {
                what: format!("{kind}: read"),
                ok: true,
                detail: "not supported by this connection (skipped)".into(),
            });
            continue;
        };
        let result = match kind {
            ObjectKind::Contact => probe(crm.contacts()).await,
            ObjectKind::Account => probe(crm.accounts()).await,
            ObjectKind::Lead => probe(crm.leads()).await,
            ObjectKind::Opportunity => probe(crm.opportunities()).await,
            ObjectKind::Ticket => probe(crm.tickets()).await,
            ObjectKind::Activity => probe(crm.activities()).await,
        };
        checks.push(match result {
            Ok(n) => Check {
                what: format!("{kind}: read"),
                ok: true,
                detail: format!("ok ({n} record on the first page)"),
            },
            Err(e) => Check {
                what: format!("{kind}: read"),
                ok: false,
                detail: match e.kind() {
                    ErrorKind::Unauthorized => format!("the credential is rejected: {e}"),
                    ErrorKind::Forbidden { missing_scopes } if !missing_scopes.is_empty() => {
                        format!("missing scopes: {}", missing_scopes.join(", "))
                    }
                    _ => e.to_string(),
                },
            },
        });
        checks.push(Check {
            what: format!("{kind}: idempotent create"),
            ok: object.idempotent_create,
            detail: if object.idempotent_create {
                "yes: a retried create finds the first record".into()
            } else {
                "no: declare an idempotency header or an idempotency_key upsert path (see the adapter docs); until then the outbox will not retry a create that may have reached the CRM".into()
            },
        });
    }
    Ok(checks)
}

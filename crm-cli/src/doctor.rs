//! `crm-connect doctor`: what a connection's credential can and cannot do, with one harmless
//! read per object (a one-record page); whether creates can be made idempotent; and, for HubSpot
//! and Salesforce, whether the custom properties and external-id fields the settings name really
//! exist, checked through the vendor's schema API, with the admin step that adds what is missing.

use std::fmt::Write as _;
use std::num::NonZeroU32;
use std::path::Path;

use crm_core::reexports::futures::StreamExt;
use crm_core::{Crm, ErrorKind, ListQuery, ObjectKind, Result};

use crate::config::Connection;

/// How a line of the report came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Works.
    Ok,
    /// Works, but a feature is off; the line says how to turn it on.
    Warn,
    /// Does not work; the line says why and what to do.
    Fail,
}

/// One line of the report.
pub(crate) struct Check {
    pub(crate) what: String,
    pub(crate) level: Level,
    pub(crate) detail: String,
}

/// What one setting needs from the CRM's schema, checked on one object.
struct Setup {
    setting: &'static str,
    name: String,
    object: String,
    kinds: Vec<ObjectKind>,
    problem: Option<String>,
}

fn is_idempotency(setting: &str) -> bool {
    matches!(setting, "idempotency_property" | "idempotency_field")
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

/// Runs every check against the connection of a connection file.
pub(crate) async fn run(conn: &Connection, dir: &Path) -> Result<(String, Vec<Check>)> {
    match conn.vendor() {
        "hubspot" => {
            let hub = conn.hubspot(dir, None)?;
            let setup = hub.backend().check_setup().await.map(|checks| {
                checks
                    .into_iter()
                    .map(|c| Setup {
                        setting: c.setting,
                        name: c.property,
                        object: c.object,
                        kinds: c.kinds,
                        problem: c.problem,
                    })
                    .collect()
            });
            Ok((hub.vendor().to_owned(), checks(&hub, setup).await))
        }
        "salesforce" => {
            let org = conn.salesforce(dir, None)?;
            let setup = org.backend().check_setup().await.map(|checks| {
                checks
                    .into_iter()
                    .map(|c| Setup {
                        setting: c.setting,
                        name: c.field,
                        object: c.object,
                        kinds: c.kinds,
                        problem: c.problem,
                    })
                    .collect()
            });
            Ok((org.vendor().to_owned(), checks(&org, setup).await))
        }
        _ => {
            let crm = conn.build(dir)?;
            Ok((
                crm.vendor().to_owned(),
                checks(crm.as_ref(), Ok(Vec::new())).await,
            ))
        }
    }
}

/// How to turn idempotent creates on, per vendor.
fn how_to_turn_on(vendor: &str) -> &'static str {
    match vendor {
        "hubspot" => {
            "off: a create carrying an idempotency key fails until `idempotency_property` names a property with unique values on every object the bot creates (see the adapter docs)"
        }
        "salesforce" => {
            "off: a create carrying an idempotency key fails until `idempotency_field` names a Text field marked Unique and External ID on every object the bot creates (see the adapter docs)"
        }
        _ => {
            "off: declare an idempotency header or an idempotency_key upsert path (see the adapter docs); until then the outbox will not retry a create that may have reached the CRM"
        }
    }
}

async fn checks(crm: &dyn Crm, setup: Result<Vec<Setup>>) -> Vec<Check> {
    let caps = crm.capabilities();
    let mut checks = Vec::new();
    let setup = match setup {
        Ok(s) => s,
        Err(e) => {
            checks.push(Check {
                what: "schema".into(),
                level: Level::Fail,
                detail: format!("cannot read the CRM's schema to check the settings: {e}"),
            });
            Vec::new()
        }
    };
    for kind in ObjectKind::ALL {
        let Some(object) = caps.objects.get(&kind) else {
            checks.push(Check {
                what: format!("{kind}: read"),
                level: Level::Ok,
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
                level: Level::Ok,
                detail: format!("ok ({n} record on the first page)"),
            },
            Err(e) => Check {
                what: format!("{kind}: read"),
                level: Level::Fail,
                detail: match e.kind() {
                    ErrorKind::Unauthorized => format!("the credential is rejected: {e}"),
                    ErrorKind::Forbidden { missing_scopes } if !missing_scopes.is_empty() => {
                        format!("missing scopes: {}", missing_scopes.join(", "))
                    }
                    _ => e.to_string(),
                },
            },
        });
        // Idempotent create holds only where the schema has the key's field on every object
        // this kind is written to.
        let keyed: Vec<&Setup> = setup
            .iter()
            .filter(|s| is_idempotency(s.setting) && s.kinds.contains(&kind))
            .collect();
        let problems: Vec<&str> = keyed.iter().filter_map(|s| s.problem.as_deref()).collect();
        let what = format!("{kind}: idempotent create");
        checks.push(if !object.idempotent_create {
            Check {
                what,
                level: Level::Warn,
                detail: how_to_turn_on(crm.vendor()).into(),
            }
        } else if let Some(first) = problems.first() {
            let more = match problems.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            Check {
                what,
                level: Level::Fail,
                detail: format!("no: {first}{more}"),
            }
        } else {
            let checked = match keyed.first() {
                Some(s) => {
                    let objects: Vec<&str> = keyed.iter().map(|s| s.object.as_str()).collect();
                    format!(" (`{}` checked on {})", s.name, objects.join(", "))
                }
                None => String::new(),
            };
            Check {
                what,
                level: Level::Ok,
                detail: format!("yes: a retried create finds the first record{checked}"),
            }
        });
    }
    if crm.vendor() == "hubspot" && !caps.lookup_by_external_id {
        // Off by default (a stock portal has no property for it): say so, and how to turn it
        // on, without failing the check.
        checks.push(Check {
            what: "external id look-up".into(),
            level: Level::Warn,
            detail: "off: look-ups and upserts by external id fail until `external_id_property` \
                     names a property with unique values on contacts, companies, deals and \
                     tickets (see the adapter docs)"
                .into(),
        });
    }
    for s in setup.iter().filter(|s| !is_idempotency(s.setting)) {
        checks.push(Check {
            what: format!("{} on {}", s.setting, s.object),
            level: if s.problem.is_some() {
                Level::Fail
            } else {
                Level::Ok
            },
            detail: match &s.problem {
                Some(p) => p.clone(),
                None => format!("ok: `{}` exists", s.name),
            },
        });
    }
    checks
}

/// The report as printed: one line per check, the details in one column however long the
/// longest check's name is.
pub(crate) fn render(vendor: &str, checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|c| c.what.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = format!("connection: vendor {vendor}\n");
    for c in checks {
        let mark = match c.level {
            Level::Ok => "ok  ",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        let _ = writeln!(out, "{mark}  {:<width$}  {}", c.what, c.detail);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_detail_column_lines_up_whatever_the_name_length() {
        let checks: Vec<Check> = ["a", "opportunity: idempotent create", "activity: read"]
            .into_iter()
            .map(|what| Check {
                what: what.into(),
                level: Level::Ok,
                detail: "DETAIL".into(),
            })
            .collect();
        let text = render("x", &checks);
        let columns: Vec<usize> = text
            .lines()
            .skip(1)
            .map(|l| l.find("DETAIL").unwrap_or(0))
            .collect();
        assert_eq!(columns.len(), 3);
        assert!(columns.iter().all(|c| *c == columns[0]), "{text}");
    }
}

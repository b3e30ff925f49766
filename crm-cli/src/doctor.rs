//! `crm-connect doctor`: what a connection's credential can and cannot do, with one harmless
//! read per object (a one-record page); whether creates can be made idempotent; and, for HubSpot
//! and Salesforce, whether the custom properties and external-id fields the settings name really
//! exist, checked through the vendor's schema API, with the admin step that adds what is missing.

use std::fmt::Write as _;
use std::num::NonZeroU32;

use crm_core::raw::{Connector, SetupCheck};
use crm_core::reexports::futures::StreamExt;
use crm_core::{Crm, ErrorKind, ListQuery, ObjectKind, Result};

use crm_connect::ConnectionFile;

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

/// Runs every check against the connection of a connection file: the adapter's connector
/// builds it once (one credential, one limiter for every check) and checks its settings
/// against the CRM's schema.
pub(crate) async fn run(conn: &ConnectionFile) -> Result<(String, Vec<Check>)> {
    let connector = conn.connector()?;
    let live = connector.connect(&conn.connector_config(None)?)?;
    let setup = live.check_setup().await;
    Ok((
        live.vendor().to_owned(),
        checks(live.as_ref(), connector, setup).await,
    ))
}

async fn checks(
    crm: &dyn Crm,
    connector: &dyn Connector,
    setup: Result<Vec<SetupCheck>>,
) -> Vec<Check> {
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
        let keyed: Vec<&SetupCheck> = setup
            .iter()
            .filter(|s| s.idempotency && s.kinds.contains(&kind))
            .collect();
        let problems: Vec<&str> = keyed.iter().filter_map(|s| s.problem.as_deref()).collect();
        let what = format!("{kind}: idempotent create");
        checks.push(if !object.idempotent_create {
            Check {
                what,
                level: Level::Warn,
                detail: connector.idempotency_advice().into(),
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
    for advice in connector.advice(caps) {
        checks.push(Check {
            what: advice.what,
            level: Level::Warn,
            detail: advice.detail,
        });
    }
    for s in setup.iter().filter(|s| !s.idempotency) {
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

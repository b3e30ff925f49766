//! `crm-connect mapping check` and `crm-connect mapping show`.
//!
//! `check` reports every problem of a connection's mapping file in one run, each at its own
//! line: TOML and type errors, the mapping's own rules, its fit with the adapter's default
//! mapping, vendor field names the adapter does not know (offline, from the adapter's
//! known-field list: a near miss of a known name is an error, a possible custom field a
//! warning), and with `--live` the CRM's own schema. `show` prints the effective mapping: the
//! adapter's default with the file laid over it.

use std::path::Path;
use std::process::ExitCode;

use crm_core::mapping::{MappingCheck, MappingFile, ObjectMapping, Severity};
use crm_core::raw::{Connector, TableCheck};
use crm_core::{Error, Result};

use crate::output::outln;
use crm_connect::ConnectionFile;

/// What a check found, when the connection file itself could be read.
enum Outcome {
    /// The connection names no mapping file.
    NoFile { vendor: String },
    /// The file's report.
    Checked { vendor: String, check: MappingCheck },
}

pub(crate) async fn run_mapping_check(config: &Path, json: bool, live: bool) -> ExitCode {
    match check(config, live).await {
        Ok(Outcome::NoFile { vendor }) => {
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"ok": true, "vendor": vendor, "mapping": null})
                );
            } else {
                outln!(
                    "ok: the connection names no mapping file; the {vendor} adapter's default mapping is used"
                );
            }
            ExitCode::SUCCESS
        }
        Ok(Outcome::Checked { vendor, check }) => report(&vendor, &check, json),
        Err(e) => {
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"ok": false, "error": e.to_string()})
                );
            } else {
                outln!("error: {}", e.message());
            }
            ExitCode::from(1)
        }
    }
}

async fn check(config: &Path, live: bool) -> Result<Outcome> {
    let conn = crate::config::load(config)?;
    let vendor = conn.vendor().to_owned();
    let adapter = conn.connector()?;
    let Some(path) = conn.mapping_path() else {
        return Ok(Outcome::NoFile { vendor });
    };
    let mut check = MappingFile::check_file(&path, adapter.mapping_targets())?;
    if let Some(known) = adapter.known_fields()? {
        check.check_known_fields(&known);
    }
    let defaults = adapter.default_mapping(&conn.settings_config())?;
    check_over_defaults(&mut check, &defaults, adapter);
    if live && !check.has_errors() {
        // Building checks the rest of the connection (credentials, URLs) before any request.
        conn.build()?;
        live_problems(&conn, &mut check, adapter).await?;
    }
    Ok(Outcome::Checked { vendor, check })
}

/// Problems the file's tables have only once laid over the adapter's default (a field mapped
/// onto a vendor field a default entry writes), and tables the default lacks.
fn check_over_defaults(
    check: &mut MappingCheck,
    defaults: &std::collections::BTreeMap<String, ObjectMapping>,
    adapter: &dyn Connector,
) {
    let mut found = Vec::new();
    for (target, over) in check.tables() {
        let Some((_, kind)) = adapter.mapping_targets().iter().find(|(t, _)| t == target) else {
            continue;
        };
        let Some(base) = defaults.get(target) else {
            found.push((
                target.clone(),
                format!(
                    "[{target}]: the adapter's default mapping ({}) has no such object",
                    adapter.default_mapping_source()
                ),
            ));
            continue;
        };
        // An entry the file's own table already has a problem with is reported once.
        let own: Vec<Vec<String>> = over.problems(*kind).into_iter().map(|i| i.path).collect();
        for issue in base.overlaid_with(over).problems(*kind) {
            if !own.contains(&issue.path) {
                found.push((
                    format!("{target}.{}", issue.path.join(".")),
                    format!("[{target}] over the default: {}", issue.message),
                ));
            }
        }
    }
    for (key, message) in found {
        check.push(Severity::Error, &key, message);
    }
}

/// The file's tables against the CRM's live schema, as the adapter's connector checks them
/// (HubSpot's properties API, Salesforce's describe, a generic CRM's live record).
async fn live_problems(
    conn: &ConnectionFile,
    check: &mut MappingCheck,
    adapter: &dyn Connector,
) -> Result<()> {
    let tables = check.tables().clone();
    let config = conn.connector_config(None)?;
    let mut found: Vec<(Severity, String, String)> = Vec::new();
    for (target, result) in adapter.check_mapping_live(&config, &tables).await? {
        match result {
            TableCheck::Checked(problems) => {
                let Some(mapping) = tables.get(&target) else {
                    continue;
                };
                for p in problems {
                    let vendor = p.field.split_once('.').map_or(p.field.as_str(), |(_, f)| f);
                    let key = mapping
                        .common_name(vendor)
                        .map_or_else(|| target.clone(), |c| format!("{target}.fields.{c}"));
                    found.push((Severity::Error, key, format!("{}: {}", p.field, p.problem)));
                }
            }
            TableCheck::Unchecked(why) => found.push((Severity::Warning, target, why)),
            _ => {}
        }
    }
    for (severity, key, message) in found {
        check.push(severity, &key, message);
    }
    Ok(())
}

fn report(vendor: &str, check: &MappingCheck, json: bool) -> ExitCode {
    let errors = check
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let warnings = check.problems.len() - errors;
    let objects: serde_json::Map<String, serde_json::Value> = check
        .tables()
        .iter()
        .map(|(name, m)| {
            (
                name.clone(),
                serde_json::json!({"fields": m.fields.len(), "rules": m.rules.len(),
                    "value_maps": m.values.len() + m.states.len()}),
            )
        })
        .collect();
    let file = check.file.as_ref().filter(|_| errors == 0);
    if json {
        let mut out = serde_json::Map::new();
        out.insert("ok".into(), (errors == 0).into());
        out.insert("vendor".into(), vendor.into());
        out.insert("file".into(), check.origin.clone().into());
        out.insert("objects".into(), objects.clone().into());
        out.insert(
            "problems".into(),
            serde_json::to_value(&check.problems).unwrap_or_default(),
        );
        if let Some(f) = file {
            out.insert("version".into(), f.version.clone().into());
            out.insert("hash".into(), f.hash.clone().into());
        } else {
            let text: Vec<String> = check
                .problems
                .iter()
                .filter(|p| p.severity == Severity::Error)
                .map(|p| p.describe(&check.origin))
                .collect();
            out.insert("error".into(), text.join("\n").into());
        }
        let out = serde_json::Value::Object(out);
        outln!("{out}");
    } else {
        for p in &check.problems {
            let label = match p.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            outln!("{label}: {}", p.describe(&check.origin));
        }
        match file {
            Some(f) => {
                outln!(
                    "ok: {} version {} (hash {}) fits the {vendor} adapter{}",
                    f.origin,
                    f.version,
                    f.hash,
                    if warnings > 0 {
                        format!(" ({warnings} warning(s))")
                    } else {
                        String::new()
                    }
                );
                for (name, m) in check.tables() {
                    outln!(
                        "  [{name}] {} fields, {} rules, {} value maps",
                        m.fields.len(),
                        m.rules.len(),
                        m.values.len() + m.states.len()
                    );
                }
            }
            None => outln!(
                "{} has {errors} error(s) and {warnings} warning(s)",
                check.origin
            ),
        }
    }
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

pub(crate) fn run_mapping_show(config: &Path) -> Result<ExitCode> {
    let conn = crate::config::load(config)?;
    let adapter = conn.connector()?;
    let file = conn.mapping_file()?;
    let defaults = adapter.default_mapping(&conn.settings_config())?;
    let effective = crm_core::mapping::effective(&defaults, file.as_ref());
    outln!(
        "# the effective mapping of this {} connection: the adapter's default ({})",
        conn.vendor(),
        adapter.default_mapping_source()
    );
    match &file {
        Some(f) => outln!(
            "# with {} version {} hash {} laid over it",
            f.origin,
            f.version,
            f.hash
        ),
        None => outln!("# (the connection names no mapping file)"),
    }
    let text = toml::to_string(&effective)
        .map_err(|e| Error::config(format!("cannot print the mapping: {e}")))?;
    outln!("{text}");
    Ok(ExitCode::SUCCESS)
}

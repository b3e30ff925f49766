//! `crm-connect mapping check` and `mapping show` as an admin runs them: every problem of a
//! mapping file in one run at its own line, vendor field names checked against each adapter's
//! known fields offline and against the CRM with `--live` (generic REST included), and the
//! effective mapping shown for every adapter.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crm-connect"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Writes `mapping` as `map.toml` and a connection file (`head` then `mapping = "map.toml"`
/// then `tail`) beside it; the connection file's path.
fn files(dir: &Path, head: &str, tail: &str, mapping: &str) -> String {
    std::fs::write(dir.join("map.toml"), mapping).unwrap();
    let conn = dir.join("conn.toml");
    std::fs::write(&conn, format!("{head}mapping = \"map.toml\"\n{tail}")).unwrap();
    conn.display().to_string()
}

const HUBSPOT: &str = "vendor = \"hubspot\"\nbase_url = \"http://127.0.0.1:9\"\n";
const HUBSPOT_AUTH: &str = "[auth]\nkind = \"bearer\"\ntoken = \"${HS_TOKEN}\"\n";
const GENERIC: &str = "vendor = \"generic-rest\"\nbase_url = \"http://127.0.0.1:9/api/v1\"\n";
const GENERIC_AUTH: &str = "[auth]\nkind = \"none\"\n";
const SALESFORCE: &str = "vendor = \"salesforce\"\nlogin_url = \"http://127.0.0.1:9\"\n";
const SALESFORCE_AUTH: &str =
    "[auth]\nkind = \"oauth_refresh\"\nclient_id = \"x\"\nrefresh_token = \"${SF_REFRESH}\"\n";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The lines of the report that start with `label` (`error:`, `warning:`).
fn lines<'a>(out: &'a str, label: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.starts_with(label)).collect()
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn mapping_check_reports_every_error_in_one_run_each_at_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = "version = \"v1\"\n\n[contact.fields]\ntier = \"loyalty_tier\"\nnickname = \"email\"\n\n[contact.rules.tier]\nmax_length = 12\ndirection = \"both\"\nrequierd = true\n\n[ticket.rules.subject]\nmax_length = \"long\"\n";
    let expect = [
        (line_of(mapping, "nickname"), "contact.fields.nickname"),
        (line_of(mapping, "requierd"), "contact.rules.tier.requierd"),
        (
            line_of(mapping, "\"long\""),
            "ticket.rules.subject.max_length",
        ),
    ];
    for (head, auth) in [(GENERIC, GENERIC_AUTH), (HUBSPOT, HUBSPOT_AUTH)] {
        let conn = files(dir.path(), head, auth, mapping);
        let out = run(&["mapping", "check", "--config", &conn], &[]);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{shown}");
        let errors = lines(&shown, "error:");
        assert_eq!(errors.len(), 3, "one error per problem: {shown}");
        for ((line, key), shown_line) in expect.iter().zip(&errors) {
            assert!(
                shown_line.contains(&format!("map.toml:{line}:")) && shown_line.contains(key),
                "{key} at line {line}: {shown}"
            );
        }
        assert!(!shown.contains("long\""), "values are not echoed: {shown}");
    }
    let conn = files(dir.path(), GENERIC, GENERIC_AUTH, mapping);

    let json = run(&["mapping", "check", "--config", &conn, "--json"], &[]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["problems"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(report["problems"][1]["line"], expect[1].0);
}

#[test]
fn mapping_check_catches_a_hubspot_property_typo_offline_and_warns_on_custom_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = "version = \"v1\"\n[contact.fields]\nemail = \"emial\"\ntier = \"loyalty_tier\"\n[ticket.fields]\nsubject = \"subject\"\n";
    let conn = files(dir.path(), HUBSPOT, HUBSPOT_AUTH, mapping);
    let out = run(&["mapping", "check", "--config", &conn], &[]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let errors = lines(&shown, "error:");
    assert_eq!(errors.len(), 1, "{shown}");
    assert!(errors[0].contains("map.toml:3:"), "{shown}");
    assert!(errors[0].contains("did you mean `email`"), "{shown}");
    let warnings = lines(&shown, "warning:");
    assert_eq!(warnings.len(), 1, "{shown}");
    assert!(
        warnings[0].contains("map.toml:4:") && warnings[0].contains("loyalty_tier"),
        "{shown}"
    );

    // Custom properties alone only warn: the file is usable.
    std::fs::write(
        dir.path().join("map.toml"),
        mapping.replace("\"emial\"", "\"email\""),
    )
    .unwrap();
    let out = run(&["mapping", "check", "--config", &conn], &[]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert_eq!(lines(&shown, "warning:").len(), 1, "{shown}");
}

#[test]
fn mapping_check_knows_salesforce_standard_fields_offline() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = "version = \"v1\"\n[contact.fields]\nemail = \"Emial\"\ntier = \"Tier__c\"\nnickname = \"Nickname\"\n[ticket.fields]\nsubject = \"Subject\"\n";
    let conn = files(dir.path(), SALESFORCE, SALESFORCE_AUTH, mapping);
    let out = run(&["mapping", "check", "--config", &conn], &[]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let errors = lines(&shown, "error:");
    assert_eq!(errors.len(), 2, "{shown}");
    assert!(
        errors[0].contains("map.toml:3:") && errors[0].contains("did you mean `Email`"),
        "{shown}"
    );
    assert!(
        errors[1].contains("map.toml:5:") && errors[1].contains("custom fields end in `__c`"),
        "{shown}"
    );
    let warnings = lines(&shown, "warning:");
    assert!(
        warnings.len() == 1 && warnings[0].contains("map.toml:4:"),
        "{shown}"
    );
}

#[test]
fn the_shipped_defaults_map_only_known_fields() {
    for (name, defaults, known) in [
        (
            "hubspot",
            crm_connect::hubspot::default_mapping().unwrap(),
            crm_connect::hubspot::known_fields().unwrap(),
        ),
        (
            "salesforce",
            crm_connect::salesforce::default_mapping().unwrap(),
            crm_connect::salesforce::known_fields().unwrap(),
        ),
    ] {
        for (table, mapping) in &defaults {
            for vendor in mapping.fields.values() {
                if let Some((severity, why)) = known.judge(table, vendor) {
                    assert!(
                        vendor.ends_with("__c") && severity == crm_core::mapping::Severity::Warning,
                        "{name} {table}.{vendor}: {why}"
                    );
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_check_live_works_on_generic_rest() {
    use crm_testkit::sandbox::{Sandbox, SandboxConfig};
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let head = format!(
        "vendor = \"generic-rest\"\nbase_url = \"{}\"\n",
        sandbox.base_url()
    );
    let auth = "[auth]\nkind = \"bearer\"\ntoken = \"${SANDBOX_TOKEN}\"\n";
    let good = "version = \"v1\"\n[contact.fields]\ntitle = \"job_title\"\n";
    let bad = "version = \"v1\"\n[contact.fields]\ntitle = \"jobtitle\"\n";
    let good_conn = files(dir.path(), &head, auth, good);
    std::fs::create_dir(dir.path().join("bad")).unwrap();
    let bad_conn = files(&dir.path().join("bad"), &head, auth, bad);
    let token = sandbox.token().to_owned();
    let (ok, broken) = tokio::task::spawn_blocking(move || {
        let env = [("SANDBOX_TOKEN", token.as_str())];
        (
            run(
                &["mapping", "check", "--config", &good_conn, "--live"],
                &env,
            ),
            run(&["mapping", "check", "--config", &bad_conn, "--live"], &env),
        )
    })
    .await
    .unwrap();
    let shown = text(&ok);
    assert!(ok.status.success(), "{shown}");
    let shown = text(&broken);
    assert_eq!(broken.status.code(), Some(1), "{shown}");
    let errors = lines(&shown, "error:");
    assert_eq!(errors.len(), 1, "{shown}");
    assert!(
        errors[0].contains("map.toml:3:")
            && errors[0].contains("contact.jobtitle: no such field in the CRM"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_check_live_works_on_salesforce() {
    use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig};
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let c = org.config().clone();
    let dir = tempfile::tempdir().unwrap();
    let head = format!(
        "vendor = \"salesforce\"\nlogin_url = \"{}\"\napi_version = \"v62.0\"\n",
        org.login_url()
    );
    let auth = format!(
        "[auth]\nkind = \"oauth_refresh\"\nclient_id = \"{}\"\nclient_secret = \"${{SF_SECRET}}\"\nrefresh_token = \"${{SF_REFRESH}}\"\n",
        c.client_id
    );
    // `Tier__c` may be a custom field (a warning offline); the org has none, so `--live` says so.
    let mapping = "version = \"v1\"\n[contact.fields]\nemail = \"Email\"\ntier = \"Tier__c\"\n";
    let conn = files(dir.path(), &head, &auth, mapping);
    let (offline, live) = tokio::task::spawn_blocking(move || {
        let env = [
            ("SF_SECRET", c.client_secret.as_str()),
            ("SF_REFRESH", c.refresh_token.as_str()),
        ];
        (
            run(&["mapping", "check", "--config", &conn], &env),
            run(&["mapping", "check", "--config", &conn, "--live"], &env),
        )
    })
    .await
    .unwrap();
    let shown = text(&offline);
    assert!(offline.status.success(), "{shown}");
    assert_eq!(lines(&shown, "warning:").len(), 1, "{shown}");
    let shown = text(&live);
    assert_eq!(live.status.code(), Some(1), "{shown}");
    let errors = lines(&shown, "error:");
    assert!(
        errors.len() == 1
            && errors[0].contains("map.toml:4:")
            && errors[0].contains("contact.Tier__c: no such field in the CRM"),
        "{shown}"
    );
}

#[test]
fn mapping_show_prints_the_effective_mapping_for_every_adapter() {
    let cases = [
        (
            HUBSPOT,
            HUBSPOT_AUTH,
            "version = \"v1\"\n[contact.fields]\ntitle = \"job_function\"\n",
            [
                "email = \"email\"",
                "title = \"job_function\"",
                "[ticket.values.priority]",
            ],
        ),
        (
            SALESFORCE,
            SALESFORCE_AUTH,
            "version = \"v1\"\n[contact.fields]\ntitle = \"Job__c\"\n",
            [
                "email = \"Email\"",
                "title = \"Job__c\"",
                "[ticket.states.status]",
            ],
        ),
        (
            GENERIC,
            GENERIC_AUTH,
            "version = \"v1\"\n[contact.fields]\nnickname = \"nick\"\n",
            [
                "title = \"job_title\"",
                "nickname = \"nick\"",
                "[ticket.states.status]",
            ],
        ),
    ];
    for (head, auth, mapping, needles) in cases {
        let dir = tempfile::tempdir().unwrap();
        let conn = files(dir.path(), head, auth, mapping);
        let out = run(&["mapping", "show", "--config", &conn], &[]);
        let shown = text(&out);
        assert!(out.status.success(), "{shown}");
        let contact = shown
            .split("[contact.fields]")
            .nth(1)
            .unwrap_or_else(|| panic!("no contact table: {shown}"));
        let contact = contact.split("\n[").next().unwrap();
        assert!(contact.contains(needles[0]), "default: {shown}");
        assert!(contact.contains(needles[1]), "override: {shown}");
        assert!(shown.contains(needles[2]), "{shown}");
        assert!(shown.contains("version v1"), "{shown}");
    }
}

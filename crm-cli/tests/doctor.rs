//! `crm-connect doctor` against the HubSpot and Salesforce fakes: it checks through the vendor's
//! schema API that the custom properties and external-id fields the settings name exist, prints
//! the admin step when they do not (issue 12 items 15 and 16), and its table's detail column
//! lines up (item 22).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;
use std::process::{Command, Output};

use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, demo as hs};
use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig};

async fn doctor(config: &Path, env: Vec<(String, String)>) -> Output {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_crm-connect"));
        cmd.args(["doctor", "--config"]).arg(&config);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap()
}

fn hubspot_conn(dir: &Path, fake: &HubSpotFake, settings: &str) -> std::path::PathBuf {
    let path = dir.join("hs.toml");
    std::fs::write(
        &path,
        format!(
            "vendor = \"hubspot\"\nbase_url = \"{}\"\n[settings]\n{settings}\n[auth]\nkind = \"bearer\"\ntoken = \"${{HS_TOKEN}}\"\n",
            fake.base_url()
        ),
    )
    .unwrap();
    path
}

fn token(fake: &HubSpotFake) -> Vec<(String, String)> {
    vec![("HS_TOKEN".into(), fake.token().to_owned())]
}

/// The rows of the table: (mark, what, detail), and the column the details start at.
fn rows(out: &str) -> Vec<(String, usize)> {
    out.lines()
        .filter(|l| l.starts_with("ok  ") || l.starts_with("WARN") || l.starts_with("FAIL"))
        .map(|l| {
            // The name never holds two spaces in a row: the detail starts after the first run.
            let after_mark = 6;
            let gap = l[after_mark..].find("  ").unwrap() + after_mark;
            let start = gap + l[gap..].len() - l[gap..].trim_start().len();
            (l.to_owned(), start)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_item22_doctor_columns_line_up() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let conn = hubspot_conn(dir.path(), &fake, "");
    let out = doctor(&conn, token(&fake)).await;
    let text = String::from_utf8(out.stdout).unwrap();
    let rows = rows(&text);
    // `opportunity: idempotent create` is longer than the old fixed 28-character column.
    assert!(
        rows.iter()
            .any(|(l, _)| l.contains("opportunity: idempotent create")),
        "{text}"
    );
    assert!(rows.len() >= 12, "{text}");
    let first = rows[0].1;
    for (line, start) in &rows {
        assert_eq!(*start, first, "misaligned row `{line}` in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_item15_doctor_says_idempotency_is_off_and_how_to_turn_it_on() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    // A stock portal, nothing custom, default settings.
    let conn = hubspot_conn(dir.path(), &fake, "");
    let out = doctor(&conn, token(&fake)).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "off is a warning, not a failure: {text}"
    );
    let row = text
        .lines()
        .find(|l| l.contains("ticket: idempotent create"))
        .unwrap();
    assert!(row.starts_with("WARN"), "{text}");
    assert!(row.contains("idempotency_property"), "{text}");
    assert!(!text.contains("yes: a retried create"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_item15_doctor_checks_the_idempotency_property_exists_with_unique_values() {
    // Configured, but the portal is stock: doctor used to answer "yes" anyway.
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let conn = hubspot_conn(
        dir.path(),
        &fake,
        "idempotency_property = \"crm_idempotency_key\"",
    );
    let out = doctor(&conn, token(&fake)).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("ticket: idempotent create"))
        .unwrap();
    assert!(row.starts_with("FAIL"), "{text}");
    assert!(
        row.contains("property `crm_idempotency_key` does not exist on tickets"),
        "{text}"
    );
    assert!(row.contains("Require unique values"), "{text}");

    // Declared as the admin step says: every row passes and names what it checked.
    let fake = HubSpotFake::start(HubSpotFakeConfig {
        custom_properties: hs::idempotency_properties(),
        ..HubSpotFakeConfig::default()
    })
    .await;
    let conn = hubspot_conn(
        dir.path(),
        &fake,
        "idempotency_property = \"crm_idempotency_key\"",
    );
    let out = doctor(&conn, token(&fake)).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    assert!(
        text.contains("`crm_idempotency_key` checked on tickets"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_item16_doctor_reports_a_configured_activity_kind_property_the_portal_lacks() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let conn = hubspot_conn(
        dir.path(),
        &fake,
        "activity_kind_property = \"crm_activity_kind\"",
    );
    let out = doctor(&conn, token(&fake)).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("activity_kind_property on notes"))
        .unwrap_or_else(|| panic!("no row for the property: {text}"));
    assert!(row.starts_with("FAIL"), "{text}");
    assert!(
        row.contains("property `crm_activity_kind` does not exist on notes"),
        "{text}"
    );
    assert!(row.contains("Create property"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_item15_doctor_checks_the_salesforce_external_id_field() {
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let c = org.config().clone();
    let write = |field: &str| {
        let path = dir.path().join("sf.toml");
        std::fs::write(
            &path,
            format!(
                "vendor = \"salesforce\"\nlogin_url = \"{}\"\n[settings]\nidempotency_field = \"{field}\"\n[auth]\nkind = \"oauth_refresh\"\nclient_id = \"{}\"\nclient_secret = \"${{SF_SECRET}}\"\nrefresh_token = \"${{SF_REFRESH}}\"\n",
                org.login_url(),
                c.client_id
            ),
        )
        .unwrap();
        path
    };
    let env = vec![
        ("SF_SECRET".to_owned(), c.client_secret.clone()),
        ("SF_REFRESH".to_owned(), c.refresh_token.clone()),
    ];
    let out = doctor(&write("Missing_Key__c"), env.clone()).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("ticket: idempotent create"))
        .unwrap();
    assert!(row.starts_with("FAIL"), "{text}");
    assert!(
        row.contains("external ID field `Missing_Key__c` does not exist on Case"),
        "{text}"
    );

    let tokens = |org: &SalesforceFake| org.requests().token_requests;
    let before = tokens(&org);
    let out = doctor(&write("Idempotency_Key__c"), env).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    // One connection for every check: one token grant, not one per check.
    assert_eq!(tokens(&org) - before, 1, "token grants of one doctor run");
    assert!(
        text.contains("`Idempotency_Key__c` checked on Case"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_item16_doctor_passes_on_a_stock_portal_with_default_settings() {
    // The defaults name no custom property, so a portal nobody configured passes; what is off
    // is a warning that says how to turn it on.
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let conn = hubspot_conn(dir.path(), &fake, "");
    let out = doctor(&conn, token(&fake)).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    assert!(!text.contains("crm_external_id"), "{text}");
    assert!(!text.contains("crm_lead_source"), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("external id look-up"))
        .unwrap_or_else(|| panic!("no external id row: {text}"));
    assert!(row.starts_with("WARN"), "{text}");
    assert!(row.contains("external_id_property"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_item16_doctor_checks_configured_external_id_and_lead_source_properties() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = format!(
        "external_id_property = \"{}\"\nlead_source_property = \"{}\"",
        hs::EXTERNAL_ID_PROPERTY,
        hs::LEAD_SOURCE_PROPERTY
    );
    // Configured on a stock portal: each property is reported missing, with the admin step.
    let conn = hubspot_conn(dir.path(), &fake, &settings);
    let out = doctor(&conn, token(&fake)).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("external_id_property on contacts"))
        .unwrap_or_else(|| panic!("no row: {text}"));
    assert!(
        row.starts_with("FAIL") && row.contains("Require unique values"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("lead_source_property on contacts")),
        "{text}"
    );
    // On the demo portal, which has them: every row passes.
    let fake = HubSpotFake::start(HubSpotFakeConfig::with_demo_properties()).await;
    let conn = hubspot_conn(dir.path(), &fake, &settings);
    let out = doctor(&conn, token(&fake)).await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    assert!(!text.contains("external id look-up"), "{text}");
}

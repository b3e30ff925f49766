//! Issue 12, item 17: a wrong endpoint must not read as "no match". A HubSpot connection whose
//! `base_url` ends in `/crm/v3` (a natural copy from HubSpot's docs) doubles every API path; a
//! look-up then fails with an error naming the path the SDK built, and exit code 2, instead of
//! "no contact matches" and exit code 1.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::process::Command;

use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_a_doubled_base_url_path_is_an_error_naming_the_path() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let conn = dir.path().join("hubspot.toml");
    std::fs::write(
        &conn,
        format!(
            "vendor = \"hubspot\"\nbase_url = \"{}/crm/v3\"\n[auth]\nkind = \"bearer\"\ntoken = \"${{HS_TOKEN}}\"\n",
            fake.base_url()
        ),
    )
    .unwrap();
    let conn = conn.display().to_string();
    let token = fake.token().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_crm-connect"))
            .args(["lookup", "--config", &conn, "--phone", "+1 415-555-0100"])
            .env("HS_TOKEN", token)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stdout.contains("no contact matches"), "{stdout}");
    assert!(
        stderr.contains("the endpoint `/crm/v3/crm/v3/objects/contacts/search` was not found"),
        "{stderr}"
    );
    assert!(stderr.contains("base_url"), "{stderr}");
    // The path, never the query or the looked-up number.
    assert!(!stderr.contains("555"), "{stderr}");
}

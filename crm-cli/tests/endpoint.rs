//! Issue 12, item 17: a wrong endpoint must not read as "no match".
//!
//! A HubSpot connection whose `base_url` ends in `/crm/v3` (a natural copy from HubSpot's docs)
//! is refused when the connection is built, before any request, with the fix. A `base_url` whose
//! path HubSpot does not serve (here a prefix the fake does not know) makes every request a 404
//! for a route, not for a record; a look-up then fails with an error naming the path the SDK
//! built, and exit code 2, instead of "no contact matches" and exit code 1. That holds for the
//! email look-up too, which is a record read (`GET …/objects/contacts/{email}?idProperty=email`)
//! where a 404 is "no such contact" only when HubSpot's body says `OBJECT_NOT_FOUND`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::process::{Command, Output};

use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig};

const EMAIL: &str = "jane.doe@example.com";
const PHONE: &str = "+1 415-555-0100";

/// Runs `crm-connect lookup` on a HubSpot connection at `base_url`.
async fn lookup(fake: &HubSpotFake, base_url: String, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let conn = dir.path().join("hubspot.toml");
    std::fs::write(
        &conn,
        format!(
            "vendor = \"hubspot\"\nbase_url = \"{base_url}\"\n[auth]\nkind = \"bearer\"\ntoken = \"${{HS_TOKEN}}\"\n"
        ),
    )
    .unwrap();
    let conn = conn.display().to_string();
    let token = fake.token().to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_crm-connect"))
            .args(["lookup", "--config", &conn])
            .args(&args)
            .env("HS_TOKEN", token)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    drop(dir);
    out
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_a_base_url_ending_in_crm_v3_is_refused_before_any_request() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    for args in [["--email", EMAIL], ["--phone", PHONE]] {
        let out = lookup(&fake, format!("{}/crm/v3", fake.base_url()), &args).await;
        let (stdout, stderr) = texts(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}\nstdout: {stdout}\nstderr: {stderr}"
        );
        assert!(!stdout.contains("no contact matches"), "{stdout}");
        assert!(
            stderr.contains("base_url: give HubSpot's API root (https://api.hubapi.com)"),
            "{stderr}"
        );
        assert!(stderr.contains("not a URL ending in `/crm/v3`"), "{stderr}");
        assert!(stderr.contains("the SDK adds the API paths"), "{stderr}");
        assert!(
            !stderr.contains("jane") && !stderr.contains("555"),
            "{stderr}"
        );
    }
    assert_eq!(fake.requests().total, 0, "refused before any request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_an_email_lookup_on_a_path_hubspot_does_not_serve_names_the_endpoint() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let out = lookup(
        &fake,
        format!("{}/hubspot", fake.base_url()),
        &["--email", EMAIL],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stdout.contains("no contact matches"), "{stdout}");
    assert!(
        stderr.contains("the endpoint `/hubspot/crm/v3/objects/contacts/…` was not found"),
        "{stderr}"
    );
    assert!(stderr.contains("base_url"), "{stderr}");
    // The path, never the query or the looked-up address.
    assert!(
        !stderr.contains("jane") && !stderr.contains("idProperty"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_a_phone_lookup_on_a_path_hubspot_does_not_serve_names_the_endpoint() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let out = lookup(
        &fake,
        format!("{}/hubspot", fake.base_url()),
        &["--phone", PHONE],
    )
    .await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stdout.contains("no contact matches"), "{stdout}");
    assert!(
        stderr.contains("the endpoint `/hubspot/crm/v3/objects/contacts/search` was not found"),
        "{stderr}"
    );
    // The number in any form, never: its subscriber digits (not just "555", which a random
    // correlation id may well contain).
    for form in ["0100", "4155550100", "415-555"] {
        assert!(!stderr.contains(form), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_an_email_nobody_has_is_still_no_match() {
    // The other side: HubSpot's own record 404 (`OBJECT_NOT_FOUND`) stays "no contact matches".
    let fake = HubSpotFake::start(HubSpotFakeConfig::default()).await;
    let out = lookup(&fake, fake.base_url(), &["--email", "nobody@example.com"]).await;
    let (stdout, stderr) = texts(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains("no contact matches"), "{stdout}");
}

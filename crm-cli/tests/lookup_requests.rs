//! Issue 15: `crm-connect lookup --count-requests` says how many requests a look-up sent, and
//! `crm-connect sandbox --vendor hubspot` serves the HubSpot fake to look up against — what a
//! found versus a no-match look-up costs is measured on those two.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, demo};

/// Runs `crm-connect lookup --count-requests` on a HubSpot connection at `base_url`.
fn lookup(base_url: &str, token: &str, email: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let conn = dir.path().join("hubspot.toml");
    std::fs::write(
        &conn,
        format!(
            "vendor = \"hubspot\"\nbase_url = \"{base_url}\"\n[auth]\nkind = \"bearer\"\ntoken = \"${{HS_TOKEN}}\"\n"
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_crm-connect"))
        .args(["lookup", "--count-requests", "--email", email, "--config"])
        .arg(&conn)
        .env("HS_TOKEN", token)
        .output()
        .unwrap()
}

/// The `requests: N` line of a look-up's stderr.
fn requests(out: &Output) -> usize {
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("requests: "))
        .unwrap_or_else(|| panic!("no request count in {stderr}"))
        .trim()
        .parse()
        .unwrap()
}

/// A found customer costs the contact read with the two pipeline reads beside it, then the
/// company, her deals and tickets (one search each) and her notes and calls: 8 requests, as the
/// fake counts them too. A no-match costs the contact read and the pipelines read beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_a_lookup_counts_its_requests_as_the_server_does() {
    let fake = HubSpotFake::start(HubSpotFakeConfig::with_demo_properties()).await;
    let (base, token) = (fake.base_url(), fake.token().to_owned());
    let found = tokio::task::spawn_blocking(move || lookup(&base, &token, demo::CUSTOMER_EMAIL))
        .await
        .unwrap();
    assert_eq!(found.status.code(), Some(0), "{found:?}");
    assert_eq!(requests(&found), fake.requests().total);
    assert_eq!(requests(&found), 8);
    let stdout = String::from_utf8_lossy(&found.stdout);
    assert!(
        !stdout.contains("requests:"),
        "the count is not in the view: {stdout}"
    );

    let before = fake.requests().total;
    let (base, token) = (fake.base_url(), fake.token().to_owned());
    let missing = tokio::task::spawn_blocking(move || lookup(&base, &token, "nobody@example.com"))
        .await
        .unwrap();
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert_eq!(requests(&missing), fake.requests().total - before);
    assert_eq!(requests(&missing), 3);
}

/// Kills the served fake when the test ends, however it ends.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn issue15_sandbox_serves_the_hubspot_fake_to_look_up_against() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crm-connect"))
        .args([
            "sandbox",
            "--vendor",
            "hubspot",
            "--port",
            &port.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let serving = Serving(child);
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        first.starts_with(&format!("HubSpot fake at {base}")),
        "{first}"
    );
    let token = first
        .split("private-app token: ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')')
        .to_owned();
    let rest: Vec<String> = lines
        .by_ref()
        .map(Result::unwrap)
        .take_while(|l| !l.starts_with("Ctrl-C"))
        .collect();
    assert!(rest.iter().any(|l| l == "vendor = \"hubspot\""), "{rest:?}");

    let found = lookup(&base, &token, demo::CUSTOMER_EMAIL);
    assert_eq!(found.status.code(), Some(0), "{found:?}");
    assert_eq!(requests(&found), 8);
    drop(serving);
}

#[test]
fn issue15_sandbox_names_the_fakes_it_serves() {
    let out = Command::new(env!("CARGO_BIN_EXE_crm-connect"))
        .args(["sandbox", "--vendor", "salesforce", "--port", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("generic-rest or hubspot"), "{stderr}");
}

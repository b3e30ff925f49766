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
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, demo};
use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig};

/// Runs `crm-connect lookup --count-requests <args> --config <file>` on the connection file
/// `conn` with `env` set; a look-up that has not ended within a minute fails the test.
fn lookup_with(conn: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("connection.toml");
    std::fs::write(&file, conn).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crm-connect"))
        .args(["lookup", "--count-requests"])
        .args(args)
        .arg("--config")
        .arg(&file)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the look-up hung");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Runs `crm-connect lookup --count-requests` by `email` on a HubSpot connection at `base_url`.
fn lookup(base_url: &str, token: &str, email: &str) -> Output {
    let conn = format!(
        "vendor = \"hubspot\"\nbase_url = \"{base_url}\"\n[auth]\nkind = \"bearer\"\ntoken = \"${{HS_TOKEN}}\"\n"
    );
    lookup_with(&conn, &[("HS_TOKEN", token)], &["--email", email])
}

/// Starts `crm-connect sandbox --vendor <vendor>` on a free port: the running server, its base
/// URL and what it printed up to "Ctrl-C" (read on a thread, so a fake that never starts fails
/// the test within a minute).
fn serve(vendor: &str) -> (Serving, String, Vec<String>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crm-connect"))
        .args(["sandbox", "--vendor", vendor, "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let serving = Serving(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.starts_with("Ctrl-C"))
            .collect();
        let _ = tx.send(lines);
    });
    let lines = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the fake printed its connection file in time");
    (serving, format!("http://127.0.0.1:{port}"), lines)
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

/// On Salesforce, where the token comes from a login server the API limits do not count, the
/// count still holds every request the look-up sent: the token request and the one Composite
/// call of the view, as the fake counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_salesforce_lookup_counts_its_token_request_too() {
    let config = SalesforceFakeConfig::default();
    let (id, secret, refresh) = (
        config.client_id.clone(),
        config.client_secret.clone(),
        config.refresh_token.clone(),
    );
    let fake = SalesforceFake::start(config).await;
    let conn = format!(
        "vendor = \"salesforce\"\nlogin_url = \"{}\"\n[auth]\nkind = \"oauth_refresh\"\n\
         client_id = \"{id}\"\nclient_secret = \"${{SF_SECRET}}\"\n\
         refresh_token = \"${{SF_REFRESH}}\"\n",
        fake.login_url()
    );
    let out = tokio::task::spawn_blocking(move || {
        let env = [
            ("SF_SECRET", secret.as_str()),
            ("SF_REFRESH", refresh.as_str()),
        ];
        lookup_with(&conn, &env, &["--email", "jane.doe@example.com"])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let served = fake.requests();
    assert_eq!(served.token_requests, 1);
    assert_eq!(requests(&out), served.total + served.token_requests);
    assert_eq!(requests(&out), 2);
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
    let (serving, base, lines) = serve("hubspot");
    let first = &lines[0];
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
    assert!(
        lines.iter().any(|l| l == "vendor = \"hubspot\""),
        "{lines:?}"
    );

    let found = lookup(&base, &token, demo::CUSTOMER_EMAIL);
    assert_eq!(found.status.code(), Some(0), "{found:?}");
    assert_eq!(requests(&found), 8);
    drop(serving);
}

/// Issue 13: `sandbox --vendor` serves any registered fake, Salesforce included: its first
/// line names the fake and its credentials, and the connection file it prints (secrets from
/// the environment) looks the demo customer up. Every wait is bounded.
#[test]
fn item13_sandbox_serves_the_salesforce_fake_and_its_printed_file_looks_up() {
    let (serving, base, lines) = serve("salesforce");
    let first = &lines[0];
    assert!(
        first.starts_with(&format!("Salesforce fake at {base}")),
        "{first}"
    );
    let field = |name: &str| {
        first
            .split(&format!("{name}: "))
            .nth(1)
            .unwrap()
            .split([',', ')'])
            .next()
            .unwrap()
            .to_owned()
    };
    let (secret, refresh) = (field("client secret"), field("refresh token"));
    let start = lines
        .iter()
        .position(|l| l.starts_with("vendor = "))
        .unwrap();
    let file = lines[start..].join("\n");
    assert!(file.contains("vendor = \"salesforce\""), "{file}");
    assert!(file.contains(&format!("login_url = \"{base}\"")), "{file}");
    assert!(!file.contains(&secret), "no secret in the file: {file}");

    let email = crm_testkit::salesforce::demo::CUSTOMER_EMAIL;
    let env = [
        ("SALESFORCE_CLIENT_SECRET", secret.as_str()),
        ("SALESFORCE_REFRESH_TOKEN", refresh.as_str()),
    ];
    let found = lookup_with(&file, &env, &["--json", "--email", email]);
    assert_eq!(found.status.code(), Some(0), "{found:?}");
    let json: serde_json::Value = serde_json::from_slice(&found.stdout).unwrap();
    assert_eq!(json["contact"]["data"]["email"], email);
    drop(serving);
}

#[test]
fn item13_sandbox_names_every_fake_for_an_unknown_vendor() {
    let out = Command::new(env!("CARGO_BIN_EXE_crm-connect"))
        .args(["sandbox", "--vendor", "zendesk", "--port", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for vendor in ["generic-rest", "hubspot", "salesforce", "pipedrive"] {
        assert!(stderr.contains(vendor), "{stderr}");
    }
}

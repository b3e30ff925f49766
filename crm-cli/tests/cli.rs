//! The `crm-connect` binary as a user runs it: lookups against the sandbox through a connection
//! file, exit codes, and errors that name the problem.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::process::{Command, Output};

use crm_testkit::sandbox::{Sandbox, SandboxConfig, demo};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crm-connect"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn conn_file(dir: &std::path::Path, base_url: &str) -> String {
    let path = dir.join("conn.toml");
    std::fs::write(
        &path,
        format!(
            "vendor = \"generic-rest\"\nbase_url = \"{base_url}\"\n[auth]\nkind = \"bearer\"\ntoken = \"${{CRM_TEST_TOKEN}}\"\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_by_each_key_prints_the_view() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let conn = conn_file(dir.path(), &sandbox.base_url());
    let env = [("CRM_TEST_TOKEN", sandbox.token())];
    let table = tokio::task::spawn_blocking({
        let conn = conn.clone();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            (
                run(
                    &["lookup", "--config", &conn, "--phone", "415-555-0100"],
                    &env,
                ),
                run(
                    &[
                        "lookup",
                        "--config",
                        &conn,
                        "--external-id",
                        demo::CUSTOMER_EXTERNAL_ID,
                        "--json",
                    ],
                    &env,
                ),
                run(
                    &[
                        "lookup",
                        "--config",
                        &conn,
                        "--email",
                        "nobody@nowhere.example",
                    ],
                    &env,
                ),
                run(
                    &["lookup", "--config", &conn, "--email", demo::CUSTOMER_EMAIL],
                    &[],
                ),
                run(&["lookup", "--config", &conn], &env),
            )
        }
    })
    .await
    .unwrap();
    let (by_phone, by_ext, missing, no_token, no_key) = table;

    assert!(
        by_phone.status.success(),
        "{}",
        String::from_utf8_lossy(&by_phone.stderr)
    );
    let out = String::from_utf8(by_phone.stdout).unwrap();
    assert!(out.contains(demo::CUSTOMER_CONTACT_ID), "{out}");
    assert!(out.contains(demo::CUSTOMER_ACCOUNT_NAME), "{out}");
    assert!(
        !out.contains(demo::CUSTOMER_EMAIL),
        "the table must mask: {out}"
    );

    assert!(by_ext.status.success());
    let json: serde_json::Value = serde_json::from_slice(&by_ext.stdout).unwrap();
    assert_eq!(json["contact"]["id"], demo::CUSTOMER_CONTACT_ID);
    assert_eq!(json["contact"]["data"]["email"], demo::CUSTOMER_EMAIL);

    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(no_token.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_token.stderr).contains("CRM_TEST_TOKEN"));
    assert_eq!(no_key.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_reads_and_idempotency() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let conn = conn_file(dir.path(), &sandbox.base_url());
    let token = sandbox.token().to_owned();
    let (good, bad) = tokio::task::spawn_blocking(move || {
        (
            run(
                &["doctor", "--config", &conn],
                &[("CRM_TEST_TOKEN", &token)],
            ),
            run(
                &["doctor", "--config", &conn],
                &[("CRM_TEST_TOKEN", "wrong")],
            ),
        )
    })
    .await
    .unwrap();
    let out = String::from_utf8(good.stdout).unwrap();
    assert!(good.status.success(), "{out}");
    assert!(out.contains("ticket: read"), "{out}");
    assert!(out.contains("ticket: idempotent create"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    let out = String::from_utf8(bad.stdout).unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(out.contains("the credential is rejected"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_against_salesforce_through_a_connection_file() {
    use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig, demo as sf};
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let c = org.config().clone();
    let path = dir.path().join("sf.toml");
    std::fs::write(
        &path,
        format!(
            "vendor = \"salesforce\"\nlogin_url = \"{}\"\napi_version = \"v62.0\"\n[auth]\nkind = \"oauth_refresh\"\nclient_id = \"{}\"\nclient_secret = \"${{SF_SECRET}}\"\nrefresh_token_file = \"refresh.txt\"\n",
            org.login_url(),
            c.client_id
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("refresh.txt"),
        format!("{}\n", c.refresh_token),
    )
    .unwrap();
    let conn = path.display().to_string();
    let secret = c.client_secret.clone();
    let out = tokio::task::spawn_blocking(move || {
        run(
            &[
                "lookup",
                "--config",
                &conn,
                "--email",
                sf::CUSTOMER_EMAIL,
                "--json",
            ],
            &[("SF_SECRET", &secret)],
        )
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["contact"]["id"], sf::CUSTOMER_CONTACT_ID);
    assert_eq!(json["account"]["data"]["name"], sf::CUSTOMER_ACCOUNT_NAME);
}

/// A connection file with a `[webhook]` secret, and captures of a delivery signed with it: the
/// genuine one and one whose body was changed after signing.
struct Captures {
    dir: tempfile::TempDir,
    conn: String,
    good: String,
    tampered: String,
}

fn webhook_captures() -> Captures {
    use crm_testkit::sandbox::webhooks::sign;
    let dir = tempfile::tempdir().unwrap();
    let conn = dir.path().join("conn.toml");
    std::fs::write(
        &conn,
        "vendor = \"generic-rest\"\nbase_url = \"http://127.0.0.1:9/api/v1\"\n[auth]\nkind = \"none\"\n[webhook]\nsecret = \"${HOOK_SECRET}\"\npublic_base = \"https://bot.example\"\n",
    )
    .unwrap();
    let body = r#"{"events":[{"event_id":"ev-9","type":"updated","object":"ticket","id":"t-5001","occurred_at":"2026-11-24T09:30:00.000Z","changed_fields":["status"]}]}"#;
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let capture = |sig: &str, body: &str| {
        format!(
            "POST /hooks/crm HTTP/1.1\r\nHost: bot.example\r\nContent-Type: application/json\r\nX-Sandbox-Timestamp: {ts}\r\nX-Sandbox-Signature: {sig}\r\n\r\n{body}"
        )
    };
    let good = dir.path().join("good.http");
    std::fs::write(
        &good,
        capture(&sign("whsec-cli", ts, body.as_bytes()), body),
    )
    .unwrap();
    let tampered = dir.path().join("bad.http");
    std::fs::write(
        &tampered,
        capture(
            &sign("whsec-cli", ts, body.as_bytes()),
            &body.replace("status", "priority"),
        ),
    )
    .unwrap();
    Captures {
        conn: conn.display().to_string(),
        good: good.display().to_string(),
        tampered: tampered.display().to_string(),
        dir,
    }
}

#[test]
fn webhook_verify_tells_why_a_capture_fails() {
    let Captures {
        dir: _dir,
        conn,
        good,
        tampered,
    } = webhook_captures();
    let env = [("HOOK_SECRET", "whsec-cli")];
    let ok = run(
        &["webhook", "verify", "--config", &conn, "--request", &good],
        &env,
    );
    let out = String::from_utf8(ok.stdout).unwrap();
    assert!(ok.status.success(), "{out}");
    assert!(out.contains("verified: 1 event"), "{out}");
    assert!(out.contains("t-5001"), "{out}");
    let bad = run(
        &[
            "webhook",
            "verify",
            "--config",
            &conn,
            "--request",
            &tampered,
        ],
        &env,
    );
    let out = String::from_utf8(bad.stdout).unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        out.contains("401") && out.contains("does not match"),
        "{out}"
    );
}

#[test]
fn mapping_check_reports_good_and_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = "version = \"acme-1\"\n\n[contact.fields]\ntier = \"loyalty_tier\"\n\n[contact.rules.tier]\nmax_length = 12\n";
    std::fs::write(dir.path().join("map.toml"), mapping).unwrap();
    std::fs::write(
        dir.path().join("broken.toml"),
        mapping.replace("max_length = 12", "max_length = \"twelve\""),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("clash.toml"),
        mapping.replace("tier = \"loyalty_tier\"", "tier = \"email\""),
    )
    .unwrap();
    let conn = |file: &str| {
        let p = dir.path().join(format!("conn-{file}"));
        std::fs::write(
            &p,
            format!("vendor = \"generic-rest\"\nbase_url = \"http://127.0.0.1:9/api/v1\"\nmapping = \"{file}\"\n[auth]\nkind = \"none\"\n"),
        )
        .unwrap();
        p.display().to_string()
    };
    let ok = run(&["mapping", "check", "--config", &conn("map.toml")], &[]);
    let out = String::from_utf8(ok.stdout).unwrap();
    assert!(ok.status.success(), "{out}");
    assert!(
        out.contains("version acme-1") && out.contains("[contact] 1 fields, 1 rules"),
        "{out}"
    );
    let bad = run(
        &[
            "mapping",
            "check",
            "--config",
            &conn("broken.toml"),
            "--json",
        ],
        &[],
    );
    assert_eq!(bad.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert!(
        json["error"].as_str().unwrap().contains("broken.toml:7"),
        "{json}"
    );
    // `tier` onto `email` clashes with `email`, which passes through to the same vendor field.
    let clash = run(&["mapping", "check", "--config", &conn("clash.toml")], &[]);
    let out = String::from_utf8(clash.stdout).unwrap();
    assert_eq!(clash.status.code(), Some(1), "{out}");
    assert!(out.contains("vendor field `email`"), "{out}");
    let show = run(&["mapping", "show", "--config", &conn("map.toml")], &[]);
    let out = String::from_utf8(show.stdout).unwrap();
    assert!(out.contains("tier = \"loyalty_tier\""), "{out}");
    assert!(
        out.contains("[ticket.states.status]"),
        "the spec's defaults are shown too: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_check_live_against_the_hubspot_fake() {
    use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig};
    // The mapping names the custom property `loyalty_tier`: declared as an admin would.
    let fake = HubSpotFake::start(HubSpotFakeConfig::with_demo_properties()).await;
    let dir = tempfile::tempdir().unwrap();
    let good = "version = \"hs-1\"\n[contact.fields]\ntier = \"loyalty_tier\"\n[contact.values.tier]\ngold = \"gold\"\n";
    std::fs::write(dir.path().join("good.toml"), good).unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        good.replace("gold = \"gold\"", "gold = \"GOLD\""),
    )
    .unwrap();
    let conn = |file: &str| {
        let p = dir.path().join(format!("conn-{file}"));
        std::fs::write(
            &p,
            format!(
                "vendor = \"hubspot\"\nbase_url = \"{}\"\nmapping = \"{file}\"\n[auth]\nkind = \"bearer\"\ntoken = \"${{HS_TOKEN}}\"\n",
                fake.base_url()
            ),
        )
        .unwrap();
        p.display().to_string()
    };
    let (good_conn, bad_conn, token) =
        (conn("good.toml"), conn("bad.toml"), fake.token().to_owned());
    let (ok, bad) = tokio::task::spawn_blocking(move || {
        let env = [("HS_TOKEN", token.as_str())];
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
    let out = String::from_utf8(ok.stdout).unwrap();
    assert!(
        ok.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = String::from_utf8(bad.stdout).unwrap();
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(
        out.contains("contact.loyalty_tier: the picklist has no value `GOLD`"),
        "{out}"
    );
}

#[test]
fn item22_webhook_verify_prints_each_event_in_words() {
    let captures = webhook_captures();
    let ok = run(
        &[
            "webhook",
            "verify",
            "--config",
            &captures.conn,
            "--request",
            &captures.good,
        ],
        &[("HOOK_SECRET", "whsec-cli")],
    );
    let out = String::from_utf8(ok.stdout).unwrap();
    assert!(ok.status.success(), "{out}");
    assert!(
        out.contains("  ticket t-5001 updated: status at 2026-11-24 09:30:00 UTC"),
        "{out}"
    );
    assert!(!out.contains("Updated {"), "no Rust Debug: {out}");
}

#[test]
fn item22_bench_rejects_an_unknown_workload_before_printing_the_table() {
    let out = run(&["bench", "--workload", "W1,W5", "--count", "5"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "nothing before the error"
    );
    assert!(
        err.contains("`W5`") && err.contains("W1, W2, W3, W4 and W4b"),
        "{err}"
    );
}

#[test]
fn item22_bench_count_zero_is_refused() {
    let out = run(&["bench", "--count", "0", "--workload", "W1"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(err.contains("--count must be at least 1"), "{err}");
}

#[test]
fn item22_region_uk_suggests_gb() {
    let dir = tempfile::tempdir().unwrap();
    let conn = conn_file(dir.path(), "http://127.0.0.1:9/api/v1");
    let out = run(
        &[
            "lookup",
            "--config",
            &conn,
            "--phone",
            "020 7946 0018",
            "--region",
            "UK",
        ],
        &[("CRM_TEST_TOKEN", "t")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("did you mean `GB`?"), "{err}");
    // The ISO code works (the lookup then fails only on the unreachable server).
    let gb = run(
        &[
            "lookup",
            "--config",
            &conn,
            "--phone",
            "020 7946 0018",
            "--region",
            "gb",
        ],
        &[("CRM_TEST_TOKEN", "t")],
    );
    let err = String::from_utf8_lossy(&gb.stderr);
    assert!(!err.contains("region"), "{err}");
}

/// Issue 13: Pipedrive is usable from a connection file through its connector, the same way as
/// the other vendors: `vendor = "pipedrive"`, its settings as config pairs, an API token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item13_lookup_against_pipedrive_through_a_connection_file() {
    use crm_testkit::pipedrive::{PipedriveFake, PipedriveFakeConfig, demo as pd};
    let fake = PipedriveFake::start(PipedriveFakeConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pd.toml");
    std::fs::write(
        &path,
        format!(
            "vendor = \"pipedrive\"\nbase_url = \"{}\"\n[settings]\nexternal_id_field = \"{}\"\n[auth]\nkind = \"api_token\"\ntoken = \"${{PD_TOKEN}}\"\n",
            fake.base_url(),
            pd::EXTERNAL_ID_FIELD
        ),
    )
    .unwrap();
    let conn = path.display().to_string();
    let token = fake.api_token().to_owned();
    let (by_email, by_external_id) = tokio::task::spawn_blocking(move || {
        let env = [("PD_TOKEN", token.as_str())];
        (
            run(
                &[
                    "lookup",
                    "--config",
                    &conn,
                    "--email",
                    pd::CUSTOMER_EMAIL,
                    "--json",
                ],
                &env,
            ),
            run(
                &[
                    "lookup",
                    "--config",
                    &conn,
                    "--external-id",
                    pd::CUSTOMER_EXTERNAL_ID,
                    "--json",
                ],
                &env,
            ),
        )
    })
    .await
    .unwrap();
    for out in [by_email, by_external_id] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(view["contact"]["id"], pd::CUSTOMER_PERSON_ID);
        assert_eq!(
            view["account"]["data"]["name"],
            pd::CUSTOMER_ORG_NAME,
            "{view}"
        );
    }
    assert!(fake.requests().total > 0);
}

/// Issue 13: an unknown vendor is an error listing every registered connector, and a key the
/// vendor's adapter does not take is named with the keys it does.
#[test]
fn item13_unknown_vendors_and_keys_are_named_with_what_is_registered() {
    let dir = tempfile::tempdir().unwrap();
    let zoho = dir.path().join("zoho.toml");
    std::fs::write(&zoho, "vendor = \"zoho\"\n[auth]\nkind = \"bearer\"\n").unwrap();
    let out = run(
        &[
            "lookup",
            "--config",
            zoho.to_str().unwrap(),
            "--email",
            "a@b.example",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for name in ["zoho", "generic-rest", "hubspot", "salesforce", "pipedrive"] {
        assert!(err.contains(name), "{name}: {err}");
    }
    let typo = dir.path().join("typo.toml");
    std::fs::write(
        &typo,
        "vendor = \"pipedrive\"\nbase_url = \"http://127.0.0.1:9\"\n[settings]\nexternal_id_feild = \"x\"\n[auth]\nkind = \"api_token\"\ntoken_file = \"t\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("t"), "tok\n").unwrap();
    let out = run(
        &[
            "lookup",
            "--config",
            typo.to_str().unwrap(),
            "--email",
            "a@b.example",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("external_id_feild: not a pipedrive setting"),
        "{err}"
    );
    assert!(err.contains("external_id_field"), "{err}");
}

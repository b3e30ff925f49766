//! `crm-connect bench` in CI at small scale (issue 16): every workload on every embedded fake,
//! with request counts at the vendor's minimum, no 429, nothing lost and nothing duplicated —
//! duplicates counted in the fake's own store by a per-record marker, not by a field the fake
//! keeps unique. And (issue 14) a HubSpot connection built from a connection file paces itself
//! under a strict rolling window.
//!
//! Counts, never times: the workloads are small so the whole file stays well under a minute.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// Records per workload: more than one batch on every vendor (HubSpot 100, Salesforce 200).
const N: u64 = 300;

fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_crm-connect"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn workload<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["workload"] == name)
        .unwrap_or_else(|| panic!("no {name} in {doc}"))
}

fn n(w: &Value, field: &str) -> u64 {
    w[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing in {w}"))
}

/// Every workload: nothing refused for a limit (by the client's count and the fake's), nothing
/// lost, nothing duplicated.
fn assert_clean(doc: &Value) {
    for w in doc["workloads"].as_array().unwrap() {
        assert_eq!(n(w, "rate_limited"), 0, "429s seen: {w}");
        assert_eq!(n(w, "server_rate_limited"), 0, "refused by the fake: {w}");
        assert_eq!(n(w, "lost"), 0, "{w}");
        assert_eq!(n(w, "duplicates"), 0, "{w}");
        assert_eq!(n(w, "found"), n(w, "expected"), "{w}");
        assert!(n(w, "requests") <= n(w, "server_requests"), "{w}");
    }
}

/// W4 (five seeds of N/5 upserts with 5 % faults, half after commit): the fault-free minimum,
/// plus at most the retries the faults call for.
fn assert_w4(doc: &Value, minimum: u64) {
    let w4 = n(workload(doc, "W4"), "server_requests");
    assert!(w4 >= minimum, "W4: {w4} < {minimum}");
    assert!(
        w4 <= minimum + minimum.div_ceil(5) + 5,
        "W4: {w4} for {minimum}"
    );
}

/// W4b (N ticket creates through the durable outbox with the same faults) reports its
/// requests per 1,000 records. The outbox delivers in the vendor's batches, so it costs
/// ⌈N / batch⌉ write requests plus the retries of the injected faults (at most 10 %, and a few
/// for the token or pipelines reads at this small N) — the same bound as issue 14's target.
fn assert_w4b(doc: &Value, batch: u64) {
    let w = workload(doc, "W4b");
    let requests = n(w, "requests");
    let minimum = N.div_ceil(batch);
    assert!(requests >= minimum, "{w}");
    assert!(requests <= minimum + minimum.div_ceil(10) + 5, "{w}");
    let per_1000 = w["requests_per_1000"].as_f64().unwrap();
    assert!(
        (per_1000 - requests as f64 * 1000.0 / N as f64).abs() < 1e-6,
        "{w}"
    );
}

#[test]
fn item16_bench_on_the_sandbox_at_the_specs_minimum() {
    let doc = bench(&["--vendor", "generic-rest", "--count", &N.to_string()]);
    assert_clean(&doc);
    let count = |name| n(workload(&doc, name), "server_requests");
    // The sandbox's spec declares no batch endpoint: one upsert per contact.
    assert_eq!(count("W1"), N);
    // Pages of the spec's largest size, 100.
    assert_eq!(count("W2"), N.div_ceil(100));
    // N/5 tickets and one note each, one request apiece.
    assert_eq!(count("W3"), 2 * (N / 5));
    assert_w4(&doc, N);
    assert_w4b(&doc, 1);
    // The sandbox states no rate limit, so no share of it is reported.
    assert!(doc["rate_limit"].is_null());
    assert!(workload(&doc, "W4b")["rate_limit_share"].is_null());
}

#[test]
fn item16_bench_on_hubspot_at_the_vendors_minimum() {
    let doc = bench(&["--vendor", "hubspot", "--count", &N.to_string()]);
    assert_clean(&doc);
    let count = |name| n(workload(&doc, name), "server_requests");
    // Batch upsert by email, 100 per request.
    assert_eq!(count("W1"), N.div_ceil(100));
    // Pages of 100, HubSpot's largest.
    assert_eq!(count("W2"), N.div_ceil(100));
    // The ticket pipelines (read once per connection), then batch creates of 100 tickets and
    // of 100 notes with their associations inline.
    assert_eq!(count("W3"), 1 + 2 * (N / 5).div_ceil(100));
    assert_w4(&doc, 5 * (N / 5).div_ceil(100));
    assert_w4b(&doc, 100);
    // The fake's strict window (100 per second) as its headers state it, and W4b's share of
    // it: a paced load never averages above the limit.
    assert_eq!(doc["rate_limit"]["requests"], 100);
    assert_eq!(doc["rate_limit"]["window_ms"], 1000);
    let share = workload(&doc, "W4b")["rate_limit_share"].as_f64().unwrap();
    assert!(share > 0.0 && share <= 1.0, "{share}");
}

#[test]
fn item16_bench_on_salesforce_at_the_vendors_minimum() {
    let doc = bench(&["--vendor", "salesforce", "--count", &N.to_string()]);
    assert_clean(&doc);
    let count = |name| n(workload(&doc, name), "server_requests");
    let chunks = N.div_ceil(200);
    // One token request, then sObject Collections upserts of 200, with no read-back.
    assert_eq!(count("W1"), 1 + chunks);
    // One query: every contact fits in one batch of the query's largest size.
    assert_eq!(count("W2"), 1);
    // Cases and then Tasks, one Collections create each.
    let w3 = (N / 5).div_ceil(200);
    assert_eq!(count("W3"), 2 * w3);
    let per_seed = (N / 5).div_ceil(200);
    assert_w4(&doc, 5 * per_seed);
    assert_w4b(&doc, 200);
}

/// Issue 14: a HubSpot connection FILE (the way an operator runs `bench --config`) gets
/// HubSpot's own limiter, sized from the fake's headers: a workload longer than one strict
/// window (10 requests per second) gets no 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item14_a_hubspot_connection_file_is_paced_under_a_strict_window() {
    use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, Limits, demo};
    let fake = HubSpotFake::start(HubSpotFakeConfig {
        demo_data: false,
        limits: Limits {
            // A strict window small enough that a batched workload spans several of them.
            ten_second_max: 10,
            window: Duration::from_secs(1),
            ..Limits::default()
        },
        ..HubSpotFakeConfig::with_demo_properties()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hubspot.toml");
    std::fs::write(
        &path,
        format!(
            "vendor = \"hubspot\"\nbase_url = \"{}\"\n[settings]\nidempotency_property = \"{}\"\n[auth]\nkind = \"bearer\"\ntoken = \"${{CRM_BENCH_TEST_TOKEN}}\"\n",
            fake.base_url(),
            demo::IDEMPOTENCY_PROPERTY
        ),
    )
    .unwrap();
    let token = fake.token().to_owned();
    let doc = tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_crm-connect"))
            .args(["bench", "--config"])
            .arg(&path)
            .args(["--workload", "W1", "--count", "2000", "--json"])
            .env("CRM_BENCH_TEST_TOKEN", token)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str::<Value>(&stdout).unwrap()
    })
    .await
    .unwrap();
    let w = workload(&doc, "W1");
    assert!(n(w, "requests") > 10, "more than one window's worth: {w}");
    assert_eq!(n(w, "rate_limited"), 0, "{w}");
    assert_eq!(fake.requests().rate_limited, 0, "the fake refused requests");
    assert_eq!(n(w, "lost"), 0, "{w}");
    assert_eq!(n(w, "duplicates"), 0, "{w}");
}

/// A connection without tickets or upserts (Pipedrive): contacts are created (no upsert key to
/// use), the ticket workloads are skipped with the reason instead of reporting every record
/// lost, and a create is never sent twice after a fault (no duplicates).
#[test]
fn item13_bench_on_pipedrive_creates_contacts_and_skips_the_ticket_workloads() {
    let count: u64 = 40;
    let doc = bench(&["--vendor", "pipedrive", "--count", &count.to_string()]);
    for name in ["W1", "W2"] {
        let w = workload(&doc, name);
        assert_eq!(n(w, "found"), count, "{w}");
        assert_eq!(n(w, "duplicates"), 0, "{w}");
        assert_eq!(n(w, "failed_writes"), 0, "{w}");
    }
    // Pipedrive has no batch create: one request per contact.
    assert_eq!(n(workload(&doc, "W1"), "server_requests"), count);
    let w4 = workload(&doc, "W4");
    assert_eq!(n(w4, "duplicates"), 0, "{w4}");
    assert!(
        n(w4, "found") + n(w4, "failed_writes") >= n(w4, "expected"),
        "{w4}"
    );
    let skipped: Vec<&str> = doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(
                s["skipped"], "the connection declares no ticket records",
                "{s}"
            );
            s["workload"].as_str().unwrap()
        })
        .collect();
    assert_eq!(skipped, ["W3", "W4b"]);
}

//! Issue 14: `crm-connect outbox …` as an operator runs it, on a temporary outbox file and the
//! embedded sandbox: counts, masked listings (a seeded email or name never printed), JSON
//! shapes, the durable kill switch, retries, a bounded drain with dependent writes, and exit
//! codes (0 done, 1 a drain that could not finish, 2 bad input).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crm_core::outbox::{Outbox, OutboxConfig, PendingWrite, WriteId, WriteStatus};
use crm_core::{
    Activity, Actor, Contact, Email, IdempotencyKey, Personal, Phone, Region, Ticket, UpsertKey,
};
use crm_testkit::sandbox::{Sandbox, SandboxConfig, demo};

/// Runs the binary off the async runtime (the sandbox serves on it meanwhile).
async fn run(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_crm-connect"));
        cmd.args(&args).env_remove("CRM_OUTBOX");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap()
}

/// `crm-connect outbox --outbox <file> <rest>`.
fn args(outbox: &Path, rest: &[&str]) -> Vec<String> {
    let mut v = vec![
        "outbox".to_owned(),
        "--outbox".to_owned(),
        outbox.display().to_string(),
    ];
    v.extend(rest.iter().map(|s| (*s).to_owned()));
    v
}

async fn json(outbox: &Path, rest: &[&str]) -> serde_json::Value {
    let mut rest = rest.to_vec();
    rest.push("--json");
    let out = run(args(outbox, &rest), Vec::new()).await;
    assert!(
        out.status.success(),
        "{rest:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn open(path: &Path) -> Outbox {
    Outbox::open(path, OutboxConfig::default()).unwrap()
}

fn key(run: &str, i: usize, intent: &str) -> IdempotencyKey {
    IdempotencyKey::derive("cli", &format!("{run}-{i}"), intent)
}

/// The sandbox's demo customer, as a bot would upsert her: every personal field set.
fn seeded_contact() -> Contact {
    Contact {
        email: Some(Email::parse(demo::CUSTOMER_EMAIL).unwrap()),
        phone: Some(Phone::parse(demo::CUSTOMER_PHONE, Region::parse("US").unwrap()).unwrap()),
        first_name: Some(Personal::new(demo::CUSTOMER_FIRST_NAME.to_owned())),
        last_name: Some(Personal::new(demo::CUSTOMER_LAST_NAME.to_owned())),
        title: Some(demo::CUSTOMER_JOB_TITLE.to_owned()),
        ..Contact::default()
    }
}

const TICKET_SUBJECT: &str = "Refund for order 7731 of Jane";
const NOTE_BODY: &str = "Customer says the parcel never arrived";

/// Enqueues on `connection`: an upsert of the demo customer, a ticket, and a note that must
/// follow the ticket. Returns the ids (contact, ticket, note).
fn seed(outbox: &Outbox, connection: &str, run: &str) -> (WriteId, WriteId, WriteId) {
    let contact = outbox
        .enqueue(
            connection,
            &PendingWrite::upsert(
                &UpsertKey::Email(Email::parse(demo::CUSTOMER_EMAIL).unwrap()),
                &seeded_contact(),
                key(run, 0, "contact"),
                Actor::Bot,
            )
            .unwrap(),
        )
        .unwrap();
    let ticket = Ticket {
        subject: Some(Personal::new(TICKET_SUBJECT.to_owned())),
        ..Ticket::default()
    };
    let ticket = outbox
        .enqueue(
            connection,
            &PendingWrite::create(&ticket, key(run, 0, "ticket"), Actor::Bot).unwrap(),
        )
        .unwrap();
    let note = Activity {
        body: Some(Personal::new(NOTE_BODY.to_owned())),
        ..Activity::default()
    };
    let note = outbox
        .enqueue(
            connection,
            &PendingWrite::create(&note, key(run, 0, "note"), Actor::Bot)
                .unwrap()
                .depends_on(ticket),
        )
        .unwrap();
    (contact, ticket, note)
}

/// No personal value of the seeded writes appears in `text`.
fn assert_masked(text: &str) {
    for secret in [
        demo::CUSTOMER_EMAIL,
        "jane.doe",
        demo::CUSTOMER_FIRST_NAME,
        demo::CUSTOMER_LAST_NAME,
        demo::CUSTOMER_JOB_TITLE,
        demo::CUSTOMER_PHONE_E164,
        "555",
        TICKET_SUBJECT,
        "Refund",
        NOTE_BODY,
        "parcel",
    ] {
        assert!(!text.contains(secret), "`{secret}` printed:\n{text}");
    }
}

fn conn_file(dir: &Path, name: &str, base_url: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "vendor = \"generic-rest\"\nbase_url = \"{base_url}\"\ntimeout_secs = 5\n[auth]\nkind = \"bearer\"\ntoken = \"${{CRM_TEST_TOKEN}}\"\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_outbox_status_counts_each_connection_and_shows_the_kill_switch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let outbox = open(&path);
    seed(&outbox, "acme", "status");
    outbox.pause("globex").unwrap();

    let doc = json(&path, &["status"]).await;
    let connections = doc["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 2, "{doc}");
    let acme = &connections[0];
    assert_eq!(acme["connection"], "acme");
    assert_eq!(acme["pending"], 3);
    assert_eq!(acme["waiting"], 1, "the note waits for its ticket");
    assert_eq!(acme["in_flight"], 0);
    assert_eq!(acme["failed"], 0);
    assert_eq!(acme["parked"], 0);
    assert_eq!(acme["delivered"], 0);
    assert!(acme["oldest_pending_secs"].is_u64(), "{doc}");
    assert_eq!(acme["paused"], false);
    assert!(acme["paused_since"].is_null());
    let globex = &connections[1];
    assert_eq!(globex["connection"], "globex");
    assert_eq!(globex["paused"], true);
    assert!(globex["paused_since"].is_u64());

    let out = run(args(&path, &["status"]), Vec::new()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let acme_line = text.lines().find(|l| l.starts_with("acme")).unwrap();
    let cells: Vec<&str> = acme_line.split_whitespace().collect();
    assert_eq!(cells[1..7], ["3", "1", "0", "0", "0", "0"], "{text}");
    assert!(acme_line.ends_with("no"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("globex") && l.ends_with("yes")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_outbox_list_masks_payloads_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let outbox = open(&path);
    let (contact, ticket, note) = seed(&outbox, "acme", "list");

    let doc = json(&path, &["list", "--state", "pending"]).await;
    assert_masked(&doc.to_string());
    let writes = doc["writes"].as_array().unwrap();
    assert_eq!(
        writes
            .iter()
            .map(|w| w["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [contact, ticket, note]
    );
    let c = &writes[0];
    assert_eq!(c["kind"], "contact");
    assert_eq!(c["operation"], "upsert");
    assert_eq!(c["state"], "pending");
    assert_eq!(c["attempts"], 0);
    assert_eq!(c["idempotency_key"], key("list", 0, "contact").as_str());
    assert!(c["target"].as_str().unwrap().starts_with("email="), "{c}");
    // Field names stay, values are masked.
    let payload = c["payload"].as_object().unwrap();
    for field in ["email", "phone", "first_name", "last_name", "title"] {
        assert!(payload.contains_key(field), "{field} missing: {c}");
    }
    assert_eq!(c["payload"]["first_name"], "J***");
    let n = &writes[2];
    assert_eq!(n["kind"], "activity");
    assert_eq!(n["depends_on"], ticket);
    assert!(n["payload"]["body"].as_str().unwrap().starts_with('C'));
    // --limit and --connection.
    let doc = json(&path, &["list", "--state", "pending", "--limit", "1"]).await;
    assert_eq!(doc["writes"].as_array().unwrap().len(), 1);
    let doc = json(
        &path,
        &["list", "--state", "pending", "--connection", "other"],
    )
    .await;
    assert!(doc["writes"].as_array().unwrap().is_empty());
    let doc = json(&path, &["list", "--state", "failed"]).await;
    assert!(doc["writes"].as_array().unwrap().is_empty());

    let out = run(args(&path, &["list", "--state", "pending"]), Vec::new()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_masked(&text);
    assert!(
        text.contains(&format!("#{contact} acme contact upsert email=")),
        "{text}"
    );
    assert!(text.contains(&format!("depends on: #{ticket}")), "{text}");
    assert!(text.contains("\"first_name\":\"J***\""), "{text}");

    let out = run(args(&path, &["list", "--state", "everything"]), Vec::new()).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_outbox_pause_is_stored_in_the_file_and_stops_every_worker() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let outbox = open(&path);
    let conn = conn_file(dir.path(), "acme", &sandbox.base_url());
    seed(&outbox, "acme", "pause");

    let doc = json(&path, &["pause", "acme"]).await;
    assert_eq!(
        doc,
        serde_json::json!({"connection": "acme", "paused": true})
    );
    // Another process (this test) sharing the file sees the switch and delivers nothing.
    assert!(open(&path).is_paused("acme").unwrap());
    let crm = crm_connect::generic_rest::GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token(sandbox.token().to_owned().into())
        .build()
        .unwrap();
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report, Default::default());
    assert_eq!(sandbox.requests().total, 0);
    // A drain refuses a paused connection.
    let env = vec![("CRM_TEST_TOKEN".to_owned(), sandbox.token().to_owned())];
    let mut drain = args(&path, &["drain", "--config"]);
    drain.push(conn.display().to_string());
    let out = run(drain.clone(), env.clone()).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("paused"), "{}", stderr(&out));
    assert_eq!(sandbox.requests().total, 0);

    let out = run(args(&path, &["resume", "acme"]), Vec::new()).await;
    assert!(out.status.success());
    assert!(stdout(&out).contains("resumed `acme`"));
    assert!(!outbox.is_paused("acme").unwrap());
    let out = run(drain, env).await;
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_outbox_drain_delivers_everything_and_links_the_note_to_its_ticket() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let outbox = open(&path);
    let conn = conn_file(dir.path(), "acme", &sandbox.base_url());
    let (contact, ticket, note) = seed(&outbox, "acme", "drain");
    let mut tickets = Vec::new();
    for i in 1..=250 {
        let t = Ticket {
            subject: Some(Personal::new(format!("drain ticket {i}"))),
            ..Ticket::default()
        };
        tickets.push(
            outbox
                .enqueue(
                    "acme",
                    &PendingWrite::create(&t, key("drain", i, "ticket"), Actor::Bot).unwrap(),
                )
                .unwrap(),
        );
    }
    let env = vec![("CRM_TEST_TOKEN".to_owned(), sandbox.token().to_owned())];
    // The connection's name defaults to the file's: `acme.toml` drains `acme`.
    let mut drain = args(&path, &["drain", "--json", "--config"]);
    drain.push(conn.display().to_string());
    let out = run(drain, env).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["connection"], "acme");
    assert_eq!(doc["delivered"], 253, "{doc}");
    assert_eq!(doc["failed"], 0);
    assert_eq!(doc["parked"], 0);
    assert_eq!(doc["left"], 0);
    assert_eq!(doc["stalled"], false);
    assert!(doc["error"].is_null());
    // The note went out after its ticket, linked to the ticket's record.
    let ticket_id = match outbox.status(ticket).unwrap() {
        WriteStatus::Delivered { record_id } => record_id,
        other => panic!("{other:?}"),
    };
    let note_id = match outbox.status(note).unwrap() {
        WriteStatus::Delivered { record_id } => record_id,
        other => panic!("{other:?}"),
    };
    let stored = sandbox.record("activities", note_id.as_str()).unwrap();
    assert_eq!(
        stored["ticket_id"],
        ticket_id.as_str(),
        "the note is not linked to its ticket: {stored}"
    );
    assert!(matches!(
        outbox.status(contact).unwrap(),
        WriteStatus::Delivered { .. }
    ));
    for id in tickets {
        assert!(matches!(
            outbox.status(id).unwrap(),
            WriteStatus::Delivered { .. }
        ));
    }
    let status = json(&path, &["status"]).await;
    assert_eq!(status["connections"][0]["delivered"], 253);
    assert_eq!(status["connections"][0]["pending"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_outbox_retry_sends_failed_writes_again_and_rejects_unknown_ids() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let outbox = open(&path);
    let conn = conn_file(dir.path(), "acme", &sandbox.base_url());
    let (_, ticket, note) = seed(&outbox, "acme", "retry");
    let mut drain = args(&path, &["drain", "--config"]);
    drain.push(conn.display().to_string());

    // A revoked token: the CRM refuses every write for good.
    let bad = vec![("CRM_TEST_TOKEN".to_owned(), "revoked".to_owned())];
    let out = run(drain.clone(), bad).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("0 delivered, 3 failed"),
        "{}",
        stdout(&out)
    );
    let failed = json(&path, &["list", "--state", "failed"]).await;
    let failed = failed["writes"].as_array().unwrap().clone();
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_masked(&serde_json::Value::Array(failed.clone()).to_string());
    let reason = failed[2]["error"].as_str().unwrap();
    assert!(
        reason.contains(&format!("outbox write {ticket}")),
        "the note's reason names its ticket: {reason}"
    );

    // Unknown and not-failed ids are bad input.
    let out = run(args(&path, &["retry", "99999"]), Vec::new()).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no outbox write 99999"),
        "{}",
        stderr(&out)
    );
    let out = run(args(&path, &["retry", &note.to_string()]), Vec::new()).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("retry write {ticket}")),
        "{}",
        stderr(&out)
    );
    let out = run(args(&path, &["retry"]), Vec::new()).await;
    assert_eq!(out.status.code(), Some(2));

    // Retrying the ticket re-queues its note with it.
    let doc = json(&path, &["retry", &ticket.to_string()]).await;
    assert_eq!(doc, serde_json::json!({"requeued": 2}));
    let doc = json(&path, &["retry", "--all-failed", "--connection", "acme"]).await;
    assert_eq!(doc, serde_json::json!({"requeued": 1}));
    let doc = json(&path, &["retry", "--all-failed"]).await;
    assert_eq!(doc, serde_json::json!({"requeued": 0}));

    let good = vec![("CRM_TEST_TOKEN".to_owned(), sandbox.token().to_owned())];
    let out = run(drain, good).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let status = json(&path, &["status"]).await;
    assert_eq!(status["connections"][0]["delivered"], 3, "{status}");
    assert_eq!(status["connections"][0]["failed"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_outbox_drain_stops_with_an_error_when_nothing_progresses() {
    // A port nothing listens on: every attempt fails before it reaches a CRM.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let outbox = open(&path);
    let conn = conn_file(dir.path(), "down", &format!("http://127.0.0.1:{port}"));
    outbox
        .enqueue(
            "down",
            &PendingWrite::create(&Ticket::default(), key("down", 0, "ticket"), Actor::Bot)
                .unwrap(),
        )
        .unwrap();
    let env = vec![("CRM_TEST_TOKEN".to_owned(), "t".to_owned())];
    let mut drain = args(&path, &["drain", "--json", "--stall-secs", "1", "--config"]);
    drain.push(conn.display().to_string());
    let out = run(drain, env).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("drain stopped"), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["stalled"], true);
    assert_eq!(doc["delivered"], 0);
    assert_eq!(doc["left"], 1);
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("nothing was delivered")
    );
    // The write is still there, pending.
    assert!(matches!(
        open(&path).status(1).unwrap(),
        WriteStatus::Pending { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_outbox_bad_input_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let outbox = open(&path);
    seed(&outbox, "acme", "bad");
    let conn = conn_file(dir.path(), "nobody", "http://127.0.0.1:9");

    // No such outbox file: not created, not reported as empty.
    let missing = dir.path().join("typo.sqlite");
    let out = run(args(&missing, &["status"]), Vec::new()).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no outbox file"), "{}", stderr(&out));
    assert!(!missing.exists());
    // No --outbox at all.
    let out = run(vec!["outbox".into(), "status".into()], Vec::new()).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--outbox"), "{}", stderr(&out));
    // A drain of a connection the outbox does not hold names the ones it does.
    let mut drain = args(&path, &["drain", "--config"]);
    drain.push(conn.display().to_string());
    let out = run(drain, Vec::new()).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("`nobody`") && err.contains("acme"), "{err}");
}

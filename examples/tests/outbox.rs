//! The durable outbox against the sandbox: nothing lost, nothing duplicated, failures visible,
//! the kill switch, corrupt rows, a full disk, and a worker process killed mid-delivery.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use crm_core::outbox::{Outbox, OutboxConfig, PendingWrite, WriteStatus};
use crm_core::{Actor, Contact, ErrorKind, IdempotencyKey, Personal, Ticket};
use crm_generic_rest::{GenericRest, GenericRestBuilder};
use crm_testkit::sandbox::{Faults, Sandbox, SandboxConfig};

fn fast() -> OutboxConfig {
    OutboxConfig {
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        lease: Duration::from_millis(200),
        ..OutboxConfig::default()
    }
}

fn connect(sandbox: &Sandbox) -> GenericRest {
    GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token(sandbox.token().to_owned().into())
        .with_retry(crm_core::retry::RetryPolicy::never())
        .build()
        .unwrap()
}

fn ticket(i: usize) -> (Ticket, IdempotencyKey) {
    let t = Ticket {
        subject: Some(Personal::new(format!("outbox ticket {i}"))),
        ..Ticket::default()
    };
    (
        t,
        IdempotencyKey::derive("acme", &format!("conv-{i}"), "ticket"),
    )
}

fn count_subject(sandbox: &Sandbox, prefix: &str) -> usize {
    sandbox
        .records("tickets")
        .iter()
        .filter(|t| t["subject"].as_str().is_some_and(|s| s.starts_with(prefix)))
        .count()
}

fn count_exact(sandbox: &Sandbox, subject: &str) -> usize {
    sandbox
        .records("tickets")
        .iter()
        .filter(|t| t["subject"].as_str() == Some(subject))
        .count()
}

async fn drain(outbox: &Outbox, crm: &GenericRest) {
    for _ in 0..2000 {
        outbox.deliver("acme", crm, 50).await.unwrap();
        if outbox.depth("acme").unwrap().pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the outbox did not drain");
}

#[tokio::test]
async fn enqueue_is_durable_and_idempotent_and_delivery_records_the_id() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let crm = connect(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let (t, key) = ticket(1);
    let id = {
        let outbox = Outbox::open(&path, fast()).unwrap();
        let id = outbox
            .enqueue(
                "acme",
                &PendingWrite::create(&t, key.clone(), Actor::Bot).unwrap(),
            )
            .unwrap();
        let again = outbox
            .enqueue(
                "acme",
                &PendingWrite::create(&t, key.clone(), Actor::Bot).unwrap(),
            )
            .unwrap();
        assert_eq!(id, again);
        assert!(matches!(
            outbox.status(id).unwrap(),
            WriteStatus::Pending { attempts: 0, .. }
        ));
        id
    };
    // A restart (a new Outbox on the same file) still has the write.
    let outbox = Outbox::open(&path, fast()).unwrap();
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 1);
    let WriteStatus::Delivered { record_id } = outbox.status(id).unwrap() else {
        panic!("not delivered");
    };
    assert!(sandbox.record("tickets", record_id.as_str()).is_some());
    assert_eq!(count_exact(&sandbox, "outbox ticket 1"), 1);
}

#[tokio::test]
async fn a_crm_outage_delays_delivery_and_loses_nothing() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let crm = connect(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), fast()).unwrap();
    let (t, key) = ticket(2);
    let id = outbox
        .enqueue("acme", &PendingWrite::create(&t, key, Actor::Bot).unwrap())
        .unwrap();
    sandbox.set_faults(Faults {
        fail_rate: 1.0,
        ..Faults::default()
    });
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.retried, 1);
    let WriteStatus::Pending {
        attempts,
        last_error,
        ..
    } = outbox.status(id).unwrap()
    else {
        panic!("expected pending");
    };
    assert_eq!(attempts, 1);
    assert!(last_error.unwrap().contains("unavailable"));
    sandbox.set_faults(Faults::default());
    drain(&outbox, &crm).await;
    assert!(matches!(
        outbox.status(id).unwrap(),
        WriteStatus::Delivered { .. }
    ));
    assert_eq!(count_exact(&sandbox, "outbox ticket 2"), 1);
}

#[tokio::test]
async fn faults_after_commit_never_duplicate() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let crm = connect(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), fast()).unwrap();
    for seed in 1..=5u64 {
        sandbox.set_faults(Faults {
            fail_rate: 0.3,
            after_commit_share: 0.5,
            seed,
            ..Faults::default()
        });
        for i in 0..40 {
            let (t, key) = ticket(1000 * seed as usize + i);
            outbox
                .enqueue("acme", &PendingWrite::create(&t, key, Actor::Bot).unwrap())
                .unwrap();
        }
        drain(&outbox, &crm).await;
    }
    assert!(
        sandbox.requests().after_commit > 0,
        "no fault came after a commit"
    );
    for seed in 1..=5usize {
        for i in 0..40 {
            assert_eq!(
                count_exact(&sandbox, &format!("outbox ticket {}", 1000 * seed + i)),
                1
            );
        }
    }
    assert_eq!(outbox.depth("acme").unwrap().failed, 0);
}

#[tokio::test]
async fn permanent_failures_stay_visible_and_can_be_redriven() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let crm = connect(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), fast()).unwrap();
    let nameless = Contact::default();
    let key = IdempotencyKey::new("bad-contact").unwrap();
    let id = outbox
        .enqueue(
            "acme",
            &PendingWrite::create(&nameless, key, Actor::Bot).unwrap(),
        )
        .unwrap();
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.failed, 1);
    let WriteStatus::Failed { error } = outbox.status(id).unwrap() else {
        panic!("expected failed");
    };
    assert!(error.contains("validation"), "{error}");
    assert_eq!(outbox.depth("acme").unwrap().failed, 1);
    outbox.redrive(id).unwrap();
    assert!(matches!(
        outbox.status(id).unwrap(),
        WriteStatus::Pending { .. }
    ));
    assert!(outbox.redrive(id).is_err());
}

#[tokio::test]
async fn the_kill_switch_pauses_delivery_not_queueing() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let crm = connect(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("o.sqlite"), fast()).unwrap();
    outbox.pause("acme").unwrap();
    let (t, key) = ticket(3);
    outbox
        .enqueue("acme", &PendingWrite::create(&t, key, Actor::Bot).unwrap())
        .unwrap();
    let before = sandbox.requests().total;
    assert_eq!(outbox.deliver("acme", &crm, 10).await.unwrap().delivered, 0);
    assert_eq!(sandbox.requests().total, before);
    assert_eq!(outbox.depth("acme").unwrap().pending, 1);
    outbox.resume("acme").unwrap();
    assert_eq!(outbox.deliver("acme", &crm, 10).await.unwrap().delivered, 1);
}

#[tokio::test]
async fn a_corrupt_row_is_failed_not_a_panic() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let crm = connect(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.sqlite");
    let outbox = Outbox::open(&path, fast()).unwrap();
    let (t, key) = ticket(4);
    let bad = outbox
        .enqueue("acme", &PendingWrite::create(&t, key, Actor::Bot).unwrap())
        .unwrap();
    let (t, key) = ticket(5);
    let good = outbox
        .enqueue("acme", &PendingWrite::create(&t, key, Actor::Bot).unwrap())
        .unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "UPDATE outbox_writes SET payload = '{not json' WHERE id = ?1",
        [bad],
    )
    .unwrap();
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 1);
    assert!(matches!(
        outbox.status(good).unwrap(),
        WriteStatus::Delivered { .. }
    ));
    let WriteStatus::Failed { error } = outbox.status(bad).unwrap() else {
        panic!("expected failed");
    };
    assert!(error.contains("corrupt"), "{error}");
}

#[test]
fn a_full_outbox_refuses_the_write_with_a_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(
        dir.path().join("o.sqlite"),
        OutboxConfig {
            max_size_bytes: Some(64 * 1024),
            ..fast()
        },
    )
    .unwrap();
    let big = "x".repeat(8 * 1024);
    let mut refused = None;
    for i in 0..100 {
        let t = Ticket {
            description: Some(Personal::new(big.clone())),
            ..Ticket::default()
        };
        let key = IdempotencyKey::new(format!("k{i}")).unwrap();
        if let Err(e) = outbox.enqueue("acme", &PendingWrite::create(&t, key, Actor::Bot).unwrap())
        {
            refused = Some((i, e));
            break;
        }
    }
    let (i, err) = refused.expect("the capped outbox accepted everything");
    assert!(i > 0);
    assert_eq!(err.kind(), &ErrorKind::Storage);
    assert!(err.message().contains("full"), "{err}");
    let err = Outbox::open("/nonexistent-dir/o.sqlite", fast()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Storage);
}

/// Kills a real worker process in the middle of delivery, starts it again, and checks that
/// every ticket exists exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_delivery_loses_and_duplicates_nothing() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    sandbox.set_faults(Faults {
        latency: Duration::from_millis(30),
        fail_rate: 0.2,
        after_commit_share: 0.5,
        seed: 7,
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let n = 60;
    let args = [
        sandbox.base_url(),
        sandbox.token().to_owned(),
        path.display().to_string(),
        n.to_string(),
    ];
    let spawn = move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_outbox_worker"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = spawn.clone()();
    // Wait until part of the work is done, then kill the worker without warning.
    let started = std::time::Instant::now();
    while count_subject(&sandbox, "crash test ticket") < n / 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the worker made no progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let after_kill = count_subject(&sandbox, "crash test ticket");
    assert!(after_kill < n, "the worker finished before it was killed");

    let status = tokio::task::spawn_blocking(move || spawn().wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    for i in 0..n {
        assert_eq!(
            count_exact(&sandbox, &format!("crash test ticket {i}")),
            1,
            "ticket {i}"
        );
    }
    assert_eq!(count_subject(&sandbox, "crash test ticket"), n);
}

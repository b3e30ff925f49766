//! What `crm-connect` writes besides its answer: logging that is off unless `RUST_LOG` or
//! `CRM_LOG` turns it on, no colour codes into pipes, no panic on a closed stdout, and a demo
//! that plays the whole conversation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use crm_testkit::sandbox::{Sandbox, SandboxConfig, demo};

const BIN: &str = env!("CARGO_BIN_EXE_crm-connect");

/// The binary with no logging variable inherited from the test's environment.
fn crm_connect(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("CRM_LOG")
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    crm_connect(args, env).output().unwrap()
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

/// Runs `lookup` by email against `base_url` with `env` (the token added), off the runtime.
async fn lookup(base_url: String, token: String, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let conn = conn_file(dir.path(), &base_url);
    let mut env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    env.push(("CRM_TEST_TOKEN".into(), token));
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = run(
            &["lookup", "--config", &conn, "--email", demo::CUSTOMER_EMAIL],
            &env,
        );
        drop(dir);
        out
    })
    .await
    .unwrap()
}

/// A TLS server on 127.0.0.1 whose certificate no trust store holds; returns its base URL.
async fn untrusted_tls_server() -> String {
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![
        CertificateDer::from_pem_slice(include_bytes!("fixtures/untrusted-cert.pem")).unwrap(),
    ];
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("fixtures/untrusted-key.pem")).unwrap();
    let config = ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            // The client refuses the certificate, so every handshake fails; that is the point.
            tokio::spawn(async move { drop(acceptor.accept(stream).await) });
        }
    });
    format!("https://{addr}/api/v1")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item18_without_rust_log_no_library_log_reaches_stderr() {
    // An untrusted certificate makes the TLS stack log errors through the `log` crate.
    let refused = lookup(untrusted_tls_server().await, "t".into(), &[]).await;
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("error: "),
        "only the command's own error: {err}"
    );
    assert!(
        !err.lines()
            .any(|l| l.contains("rustls") || l.contains(" ERROR ") || l.contains(" WARN ")),
        "a library's log record on stderr: {err}"
    );

    // A lookup that works says nothing on stderr at all.
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let ok = lookup(sandbox.base_url(), sandbox.token().into(), &[]).await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(stderr(&ok), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item13_rust_log_turns_tracing_on_and_crm_log_overrides_it() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let (url, token) = (sandbox.base_url(), sandbox.token().to_owned());

    let on = lookup(url.clone(), token.clone(), &[("RUST_LOG", "debug")]).await;
    assert!(on.status.success(), "{}", stderr(&on));
    let log = stderr(&on);
    assert!(
        log.lines()
            .any(|l| l.contains("crm.call{") && l.contains("operation=contact.find")),
        "a line per CRM call: {log}"
    );

    // Only the SDK's own spans and events.
    let sdk = lookup(
        url.clone(),
        token.clone(),
        &[("RUST_LOG", "crm_core=debug")],
    )
    .await;
    let log = stderr(&sdk);
    assert!(log.contains("crm.call{"), "{log}");
    assert!(!log.contains("hyper"), "{log}");

    // CRM_LOG takes precedence over RUST_LOG.
    let off = lookup(
        url.clone(),
        token.clone(),
        &[("RUST_LOG", "debug"), ("CRM_LOG", "off")],
    )
    .await;
    assert!(off.status.success());
    assert_eq!(stderr(&off), "");
    let crm_log = lookup(url, token, &[("CRM_LOG", "crm_core=debug")]).await;
    assert!(
        stderr(&crm_log).contains("crm.call{"),
        "{}",
        stderr(&crm_log)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item18_log_lines_carry_no_colour_codes_into_a_pipe() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    for var in ["CRM_LOG", "RUST_LOG"] {
        let out = lookup(
            sandbox.base_url(),
            sandbox.token().into(),
            &[(var, "debug")],
        )
        .await;
        let log = stderr(&out);
        assert!(log.contains("crm.call"), "{var}: {log}");
        assert!(
            !log.contains('\u{1b}'),
            "{var}: escape codes in a pipe: {log:?}"
        );
    }
}

#[test]
fn item13_help_says_how_to_turn_logging_on() {
    let help = run(&["--help"], &[]);
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    assert!(text.contains("RUST_LOG="), "{text}");
    assert!(text.contains("CRM_LOG"), "{text}");
    assert!(text.contains("NO_COLOR"), "{text}");
}

/// Starts `args` with its stdout a pipe whose reader is already gone, and waits for it.
fn with_closed_stdout(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = crm_connect(args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

fn assert_quiet_exit(what: &str, out: &Output) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert_eq!(out.status.code(), Some(0), "{what}: {err}");
    assert_eq!(err, "", "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item19_every_command_exits_quietly_on_a_closed_stdout() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let conn = conn_file(dir.path(), &sandbox.base_url());
    let token = sandbox.token().to_owned();
    tokio::task::spawn_blocking(move || {
        let env = [("CRM_TEST_TOKEN", token.as_str())];
        let commands: [&[&str]; 7] = [
            &["demo"],
            &["lookup", "--config", &conn, "--email", demo::CUSTOMER_EMAIL],
            &[
                "lookup",
                "--config",
                &conn,
                "--email",
                "nobody@nowhere.example",
            ],
            &["doctor", "--config", &conn],
            &["bench", "--count", "1", "--workload", "W1"],
            &["sandbox", "--port", "0"],
            &["--help"],
        ];
        for args in commands {
            assert_quiet_exit(&args.join(" "), &with_closed_stdout(args, &env));
        }
    })
    .await
    .unwrap();
}

#[test]
fn item19_demo_piped_into_a_reader_that_stops_after_one_line() {
    let mut child = crm_connect(&["demo"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here, like `head -1` exiting.
    let out = child.wait_with_output().unwrap();
    assert_quiet_exit("demo | head -1", &out);
}

/// The ticket status the demo prints before and after the agent step.
fn statuses(transcript: &str) -> (String, String) {
    let quoted = |marker: &str| {
        let line = transcript
            .lines()
            .find(|l| l.contains(marker))
            .unwrap_or_else(|| panic!("no `{marker}` line: {transcript}"));
        line.split('"').nth(1).unwrap().to_owned()
    };
    (quoted("bot> Your ticket"), quoted("bot> Update: ticket"))
}

#[test]
fn item19_demo_agent_step_changes_the_status_and_the_last_step_runs() {
    let runs: Vec<_> = ["generic-rest", "hubspot", "salesforce"]
        .into_iter()
        .map(|vendor| std::thread::spawn(move || (vendor, run(&["demo", "--vendor", vendor], &[]))))
        .collect();
    for handle in runs {
        let (vendor, out) = handle.join().unwrap();
        let transcript = String::from_utf8(out.stdout.clone()).unwrap();
        assert!(
            out.status.success(),
            "{vendor}: {}{transcript}",
            stderr(&out)
        );
        let (before, after) = statuses(&transcript);
        assert_ne!(
            before, after,
            "{vendor}: the agent step must change the ticket: {transcript}"
        );
        assert!(
            transcript.contains("(an agent picks ticket"),
            "{vendor}: {transcript}"
        );
        // Step 8: the CRM's signed notification reaches the bot, which follows up.
        assert!(
            transcript.contains("== 8. The CRM tells the bot when the ticket is solved"),
            "{vendor}: {transcript}"
        );
        assert!(
            transcript.contains("bot> Good news: your ticket")
                && transcript.contains("(closed)")
                && transcript.contains("scheduled follow-up task"),
            "{vendor}: {transcript}"
        );
        assert!(!transcript.contains("Updated {"), "{vendor}: {transcript}");
    }
}

/// A vendor whose connections have no tickets cannot play the conversation (it opens one):
/// refused before anything is written, exit 2, naming the vendors that play it.
#[test]
fn item13_demo_on_a_vendor_without_tickets_is_refused_before_any_write() {
    let out = run(&["demo", "--vendor", "pipedrive"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("pipedrive connections declare no ticket records"),
        "{err}"
    );
    assert!(err.contains("generic-rest, hubspot or salesforce"), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "nothing played"
    );
}

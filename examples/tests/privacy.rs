//! The whole demo conversation with `tracing` at TRACE captured into a buffer and the audit trail
//! in a JSON-lines file: no seeded email, phone, name, free text or token may appear in either.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use crm_core::audit::{FsyncPolicy, JsonLinesAudit};
use crm_examples::conversation::{Script, play};
use crm_generic_rest::GenericRestBuilder;
use crm_testkit::sandbox::{Sandbox, SandboxConfig, demo};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_personal_value_or_secret_reaches_logs_or_the_audit_trail() {
    let logs = Buffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let token = "sandbox-token-d0n0tl0g";
    let sandbox = Sandbox::start(SandboxConfig::default().with_token(token)).await;
    let dir = tempfile::tempdir().unwrap();
    let audit_path = dir.path().join("audit.jsonl");
    let crm = GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token(token.to_owned().into())
        .with_connection_name("acme")
        .with_audit_sink(Arc::new(
            JsonLinesAudit::open(&audit_path, FsyncPolicy::EveryRecord).unwrap(),
        ))
        .build()
        .unwrap();
    tracing::debug!(crm = ?crm, "connected");
    let script = Script {
        connection: "acme".into(),
        conversation_id: "privacy-1".into(),
        email: demo::CUSTOMER_EMAIL.to_uppercase(),
        phone: "+1 415 555 0100".into(),
    };
    let mut transcript = Vec::new();
    let outcome = play(&crm, &script, &mut transcript, |_| async {})
        .await
        .unwrap();
    tracing::debug!(outcome = ?outcome, "done");

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let audit = std::fs::read_to_string(&audit_path).unwrap();
    assert!(
        logs.contains("crm.call"),
        "the capture saw no SDK span: {logs}"
    );
    assert_eq!(audit.lines().count(), 4, "{audit}");
    let transcript = String::from_utf8(transcript).unwrap();

    let secrets = [
        demo::CUSTOMER_EMAIL,
        "JANE.DOE@EXAMPLE.COM",
        "jane.doe",
        demo::CUSTOMER_PHONE,
        demo::CUSTOMER_PHONE_E164,
        "4155550100",
        "555 0100",
        demo::CUSTOMER_FIRST_NAME,
        demo::CUSTOMER_LAST_NAME,
        "Router reboots",
        "Premium plan",
        "premium plan",
        token,
    ];
    for s in secrets {
        assert!(!logs.contains(s), "the TRACE logs contain `{s}`");
        assert!(!audit.contains(s), "the audit file contains `{s}`");
    }
    // The printed conversation shows the customer's own scripted lines, but nothing read from
    // or written to the CRM unmasked.
    for s in &secrets[..9] {
        assert!(
            !transcript.contains(s),
            "the printed conversation contains `{s}`"
        );
    }
    assert!(!transcript.contains(token));
}

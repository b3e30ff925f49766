//! The whole demo conversation with `tracing` at TRACE captured into a buffer and the audit trail
//! in a JSON-lines file: no seeded email, phone, name, free text or token may appear in either.
//! Run against every adapter: the generic-REST sandbox, the HubSpot fake and the Salesforce fake.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use crm_core::Crm;
use crm_core::audit::{AuditSink, FsyncPolicy, JsonLinesAudit};
use crm_core::reexports::secrecy::SecretString;
use crm_examples::conversation::{Script, play};
use crm_generic_rest::GenericRestBuilder;
use crm_hubspot::HubSpotBuilder;
use crm_salesforce::SalesforceBuilder;
use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig};
use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig};
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

/// Values the conversation reads or writes that must never reach a log line or the audit
/// trail, whatever the adapter: the customer's email, phone and name as seeded, and the free
/// text the conversation writes.
const PERSONAL: [&str; 12] = [
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
];

/// Plays the demo conversation on the connection `connect` builds (given the audit sink) with
/// TRACE logs captured, and checks that none of `PERSONAL` nor any of `secrets` shows in the
/// logs or the audit trail, and none of `PERSONAL` unmasked in the printed conversation (deal
/// names included: orgs often name them after the contact, so the printout masks them).
async fn conversation_leaks_nothing(
    connect: impl FnOnce(Arc<dyn AuditSink>) -> Box<dyn Crm>,
    secrets: &[&str],
    audit_lines: usize,
) {
    let logs = Buffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let audit_path = dir.path().join("audit.jsonl");
    let crm = connect(Arc::new(
        JsonLinesAudit::open(&audit_path, FsyncPolicy::EveryRecord).unwrap(),
    ));
    tracing::debug!(crm = ?crm, "connected");
    let script = Script {
        connection: "acme".into(),
        conversation_id: "privacy-1".into(),
        email: demo::CUSTOMER_EMAIL.to_uppercase(),
        phone: "+1 415 555 0100".into(),
    };
    let mut transcript = Vec::new();
    let outcome = play(crm.as_ref(), &script, &mut transcript, |_| async {})
        .await
        .unwrap();
    tracing::debug!(outcome = ?outcome, "done");

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let audit = std::fs::read_to_string(&audit_path).unwrap();
    assert!(
        logs.contains("crm.call"),
        "the capture saw no SDK span: {logs}"
    );
    assert_eq!(audit.lines().count(), audit_lines, "{audit}");
    let transcript = String::from_utf8(transcript).unwrap();
    for s in PERSONAL.iter().chain(secrets) {
        assert!(!logs.contains(s), "the TRACE logs contain `{s}`");
        assert!(!audit.contains(s), "the audit file contains `{s}`");
    }
    // The printed conversation shows the customer's own scripted lines, but nothing read from
    // or written to the CRM unmasked.
    let unprintable = &PERSONAL[..9];
    for s in unprintable {
        assert!(
            !transcript.contains(s),
            "the printed conversation contains `{s}`: {transcript}"
        );
    }
    for s in secrets {
        assert!(!transcript.contains(s));
    }
}

#[tokio::test]
async fn no_personal_value_or_secret_reaches_logs_or_the_audit_trail() {
    let token = "sandbox-token-d0n0tl0g";
    let sandbox = Sandbox::start(SandboxConfig::default().with_token(token)).await;
    let base_url = sandbox.base_url();
    conversation_leaks_nothing(
        |audit| {
            Box::new(
                GenericRestBuilder::new()
                    .with_base_url(base_url)
                    .with_token(token.to_owned().into())
                    .with_connection_name("acme")
                    .with_audit_sink(audit)
                    .build()
                    .unwrap(),
            )
        },
        &[token],
        4,
    )
    .await;
}

#[tokio::test]
async fn no_personal_value_or_secret_reaches_logs_or_the_audit_trail_on_hubspot() {
    let token = "pat-na1-d0n0tl0g-4e1c9a7b";
    let fake = HubSpotFake::start(HubSpotFakeConfig {
        private_app_token: token.to_owned(),
        ..HubSpotFakeConfig::with_demo_properties()
    })
    .await;
    let base_url = fake.base_url();
    conversation_leaks_nothing(
        |audit| {
            Box::new(
                HubSpotBuilder::new()
                    .with_base_url(base_url)
                    .with_token(token.to_owned().into())
                    .with_idempotency_field(Some(crm_testkit::hubspot::demo::IDEMPOTENCY_PROPERTY))
                    .with_connection_name("acme")
                    .with_audit_sink(audit)
                    .build()
                    .unwrap(),
            )
        },
        &[token],
        // The lead's create conflicts with the customer's contact (HubSpot leads are contacts)
        // and is audited as failed; the deal, task, ticket and chat log are written.
        5,
    )
    .await;
}

#[tokio::test]
async fn no_personal_value_or_secret_reaches_logs_or_the_audit_trail_on_salesforce() {
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let c = org.config().clone();
    let login_url = org.login_url();
    let (secret, refresh) = (c.client_secret.clone(), c.refresh_token.clone());
    conversation_leaks_nothing(
        |audit| {
            Box::new(
                SalesforceBuilder::new()
                    .with_login_url(login_url)
                    .with_idempotency_field(Some("Idempotency_Key__c"))
                    .with_refresh_token(
                        c.client_id.clone(),
                        Some(SecretString::from(c.client_secret.clone())),
                        SecretString::from(c.refresh_token.clone()),
                    )
                    .with_connection_name("acme")
                    .with_audit_sink(audit)
                    .build()
                    .unwrap(),
            )
        },
        &[secret.as_str(), refresh.as_str()],
        4,
        // The org names opportunities after their contact ("Jane Doe - training seats").
    )
    .await;
}

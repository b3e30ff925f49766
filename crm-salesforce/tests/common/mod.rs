//! Helpers shared by the integration tests: test-only keys and connections to the fake.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use crm_core::reexports::secrecy::SecretString;
use crm_salesforce::{Salesforce, SalesforceBuilder};
use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig};

/// PEM-armours DER bytes.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A fresh, test-only RSA-2048 key pair: (private PKCS#8 PEM, public SPKI PEM).
pub(crate) fn rsa_key_pair() -> (String, String) {
    let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let private = kp.as_der().unwrap();
    let public = kp.public_key().as_der().unwrap();
    (
        pem("PRIVATE KEY", private.as_ref()),
        pem("PUBLIC KEY", public.as_ref()),
    )
}

/// A fresh, test-only P-256 EC private key in PKCS#8 PEM (not usable for RS256).
pub(crate) fn ec_private_key() -> String {
    let kp = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
    )
    .unwrap();
    let doc = kp.to_pkcs8v1().unwrap();
    pem("PRIVATE KEY", doc.as_ref())
}

pub(crate) async fn fake(config: SalesforceFakeConfig) -> SalesforceFake {
    SalesforceFake::start(config).await
}

/// A builder for the fake with the refresh-token grant, storing idempotency keys in the
/// fake org's `Idempotency_Key__c` (a Unique External ID field, as an admin would create it).
pub(crate) fn builder(org: &SalesforceFake) -> SalesforceBuilder {
    let c = org.config();
    SalesforceBuilder::new()
        .with_login_url(org.login_url())
        .with_idempotency_field(Some("Idempotency_Key__c"))
        .with_refresh_token(
            c.client_id.clone(),
            Some(SecretString::from(c.client_secret.clone())),
            SecretString::from(c.refresh_token.clone()),
        )
}

pub(crate) fn connect(org: &SalesforceFake) -> Salesforce {
    builder(org).build().unwrap()
}

//! OAuth against the fake's login server: refresh-token, client-credentials and JWT bearer
//! grants, the instance URL taken from the token response, one refresh + one replay on
//! `INVALID_SESSION_ID`, single-flight refresh, and secrets kept out of `Debug`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::time::Duration;

use crm_core::reexports::futures::future::join_all;
use crm_core::reexports::secrecy::SecretString;
use crm_core::{Crm, Email, ErrorKind, Lookup, RecordId};
use crm_salesforce::SalesforceBuilder;
use crm_testkit::salesforce::{SalesforceFakeConfig, demo};

fn jane() -> Lookup {
    Lookup::Email(Email::parse(demo::CUSTOMER_EMAIL).unwrap())
}

#[tokio::test]
async fn jwt_bearer_flow_signs_rs256_and_uses_the_instance_from_the_token_response() {
    let (private, public) = common::rsa_key_pair();
    let org = common::fake(SalesforceFakeConfig {
        jwt_public_key_pem: Some(public),
        ..SalesforceFakeConfig::default()
    })
    .await;
    assert_ne!(org.login_url(), org.instance_url());
    let c = org.config().clone();
    let crm = SalesforceBuilder::new()
        .with_login_url(org.login_url())
        .with_jwt_bearer(
            &c.client_id,
            &c.username,
            SecretString::from(private.clone()),
        )
        .build()
        .unwrap();
    let found = crm.contacts().find_by(&jane()).await.unwrap();
    assert_eq!(found[0].id.as_str(), demo::CUSTOMER_CONTACT_ID);
    let stats = org.requests();
    assert_eq!(stats.token_requests, 1);
    assert_eq!(stats.total, 1, "the API call went to the instance server");

    // A wrong audience, user or key is refused by the token endpoint: Unauthorized.
    for builder in [
        SalesforceBuilder::new()
            .with_login_url(org.login_url())
            .with_jwt_bearer(
                &c.client_id,
                &c.username,
                SecretString::from(private.clone()),
            )
            .with_jwt_audience(org.instance_url()),
        SalesforceBuilder::new()
            .with_login_url(org.login_url())
            .with_jwt_bearer(
                &c.client_id,
                "someone@else.example",
                SecretString::from(private.clone()),
            ),
        SalesforceBuilder::new()
            .with_login_url(org.login_url())
            .with_jwt_bearer(
                &c.client_id,
                &c.username,
                SecretString::from(common::rsa_key_pair().0),
            ),
    ] {
        let err = builder
            .build()
            .unwrap()
            .contacts()
            .find_by(&jane())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Unauthorized, "{err}");
        assert_eq!(err.vendor().unwrap().code.as_deref(), Some("invalid_grant"));
    }
}

#[tokio::test]
async fn client_credentials_grant_and_a_wrong_secret() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let c = org.config().clone();
    let crm = SalesforceBuilder::new()
        .with_login_url(org.login_url())
        .with_client_credentials(&c.client_id, SecretString::from(c.client_secret.clone()))
        .build()
        .unwrap();
    assert_eq!(crm.contacts().find_by(&jane()).await.unwrap().len(), 1);
    let bad = SalesforceBuilder::new()
        .with_login_url(org.login_url())
        .with_client_credentials(&c.client_id, SecretString::from("wrong-secret-xyz"))
        .build()
        .unwrap();
    let err = bad.contacts().find_by(&jane()).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthorized);
    assert!(!format!("{err:?}").contains("wrong-secret-xyz"));
    // The client-credentials flow goes to the My Domain host, which is the instance.
    let my_domain = SalesforceBuilder::new()
        .with_login_url(org.instance_url())
        .with_client_credentials(&c.client_id, SecretString::from(c.client_secret.clone()))
        .build()
        .unwrap();
    assert_eq!(
        my_domain.contacts().find_by(&jane()).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn an_expired_session_is_refreshed_once_and_the_call_replayed() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    crm.contacts().find_by(&jane()).await.unwrap();
    org.expire_sessions();
    let before = org.requests();
    crm.contacts().find_by(&jane()).await.unwrap();
    let after = org.requests();
    assert_eq!(after.unauthorized - before.unauthorized, 1);
    assert_eq!(after.token_requests - before.token_requests, 1);
    assert_eq!(after.total - before.total, 2, "one 401, one replay");
}

#[tokio::test]
async fn a_session_refused_again_after_the_refresh_is_unauthorized() {
    // Sessions that die at once: the refresh cannot help, and the SDK stops after one replay.
    let org = common::fake(SalesforceFakeConfig {
        token_lifetime: Duration::ZERO,
        ..SalesforceFakeConfig::default()
    })
    .await;
    let crm = common::connect(&org);
    let err = crm.contacts().find_by(&jane()).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthorized);
    assert_eq!(
        err.vendor().unwrap().code.as_deref(),
        Some("INVALID_SESSION_ID")
    );
    let stats = org.requests();
    assert_eq!(stats.total, 2);
    assert_eq!(stats.token_requests, 2);
}

#[tokio::test]
async fn a_static_access_token_is_not_replayed() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = SalesforceBuilder::new()
        .with_access_token(
            SecretString::from("00Dfake!not-a-session"),
            org.instance_url(),
        )
        .build()
        .unwrap();
    let err = crm
        .contacts()
        .get(&RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthorized);
    assert_eq!(org.requests().total, 1);
    assert_eq!(org.requests().token_requests, 0);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_request() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    let id = RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap();
    let calls = (0..8).map(|_| crm.contacts().get(&id));
    for r in join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(org.requests().token_requests, 1);
}

#[tokio::test]
async fn secrets_never_appear_in_debug_output() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let (private, _) = common::rsa_key_pair();
    let c = org.config().clone();
    let refresh = common::builder(&org);
    let jwt = SalesforceBuilder::new().with_jwt_bearer(
        &c.client_id,
        &c.username,
        SecretString::from(private.clone()),
    );
    let text = format!("{refresh:?} {jwt:?}");
    let crm = refresh.build().unwrap();
    let crm_jwt = jwt.build().unwrap();
    crm.contacts().find_by(&jane()).await.unwrap();
    let text = format!("{text} {crm:?} {crm_jwt:?}");
    let key_body = private.lines().nth(1).unwrap();
    for secret in [
        c.client_secret.as_str(),
        c.refresh_token.as_str(),
        key_body,
        "!AQ",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[tokio::test]
async fn a_skewed_clock_makes_the_jwt_assertion_rejected_with_a_typed_error() {
    let (private, public) = common::rsa_key_pair();
    // The org's clock runs 5 minutes ahead (the assertion, exp = now + 2 min, looks expired),
    // then 5 minutes behind (exp looks more than 3 minutes away).
    for skew in [300, -300] {
        let org = common::fake(SalesforceFakeConfig {
            jwt_public_key_pem: Some(public.clone()),
            clock_skew_secs: skew,
            ..SalesforceFakeConfig::default()
        })
        .await;
        let c = org.config().clone();
        let crm = SalesforceBuilder::new()
            .with_login_url(org.login_url())
            .with_jwt_bearer(
                &c.client_id,
                &c.username,
                SecretString::from(private.clone()),
            )
            .build()
            .unwrap();
        let err = crm.contacts().find_by(&jane()).await.unwrap_err();
        assert_eq!(
            err.kind(),
            &crm_core::ErrorKind::Unauthorized,
            "skew {skew}: {err}"
        );
        assert_eq!(
            org.requests().total,
            0,
            "no API call was made with skew {skew}"
        );
        assert!(!err.is_retryable());
    }
}

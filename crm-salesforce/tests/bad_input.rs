//! The bad inputs of issue 5: SOQL injection in every looked-up value, a truncated Collections
//! response, a 300 with a list, a token response without `instance_url`, a PEM that is not an
//! RSA key, a `nextRecordsUrl` on another host, an HTML error page. Each gives a typed error,
//! never a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::num::NonZeroU32;

use crm_core::reexports::futures::StreamExt;
use crm_core::reexports::secrecy::SecretString;
use crm_core::{
    Condition, Contact, Crm, Email, ErrorKind, Filter, ListQuery, Lookup, Phone, RecordId, Region,
    UpsertKey, ViewOptions, WriteContext,
};
use crm_salesforce::SalesforceBuilder;
use crm_testkit::conformance::FaultInjector;
use crm_testkit::salesforce::{SalesforceFakeConfig, demo};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INJECTIONS: &[&str] = &[
    "x'OR Id!=null--@a.com",
    "x' OR Email != '",
    "x\\' OR Email != null OR Email = \\'",
    "') OR (Id != null",
    "x%' OR Name LIKE '%",
    "a\nb' OR Id != null OR Id = '",
];

#[tokio::test]
async fn soql_injection_in_any_looked_up_value_matches_nothing() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    for value in INJECTIONS {
        // An email-shaped injection goes through Email::from_vendor, which keeps it as given.
        let email = Email::from_vendor(value);
        let by_email = crm
            .contacts()
            .find_by(&Lookup::Email(email.clone()))
            .await
            .unwrap();
        assert!(by_email.is_empty(), "{value}: {} contacts", by_email.len());
        let leads = crm
            .leads()
            .find_by(&Lookup::Email(email.clone()))
            .await
            .unwrap();
        assert!(leads.is_empty(), "{value}");
        let by_ext = crm
            .contacts()
            .find_by(&Lookup::ExternalId((*value).to_owned()))
            .await
            .unwrap();
        assert!(by_ext.is_empty(), "{value}");
        let by_filter = crm
            .contacts()
            .find(&Filter::new(Condition::eq("title", *value)), 50)
            .await
            .unwrap();
        assert!(by_filter.is_empty(), "{value}");
        let view = crm
            .customer_view(&Lookup::Email(email), &ViewOptions::default())
            .await
            .unwrap();
        assert!(view.is_none(), "{value}");
    }
    // A field name from the caller is checked too: it cannot smuggle SQL-like text.
    let err = crm
        .contacts()
        .find(
            &Filter::new(Condition::eq("Email = 'a' OR Id != null", "x")),
            5,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    // Phone lookups put only digits into the pattern.
    let phone = Phone::from_vendor("+1 415 555 0100' OR Id != null", Region::us());
    assert!(phone.e164().is_none());
    assert!(crm.contacts().find_by(&Lookup::Phone(phone)).await.is_err());
}

async fn mock_org() -> (MockServer, crm_salesforce::Salesforce) {
    let mock = MockServer::start().await;
    let crm = SalesforceBuilder::new()
        .with_access_token(SecretString::from("00Dx!token"), mock.uri())
        .build()
        .unwrap();
    (mock, crm)
}

fn contact(n: u32) -> Contact {
    Contact {
        last_name: Some(format!("Batch {n}").into()),
        email: Some(Email::parse(&format!("b{n}@batch.example")).unwrap()),
        ..Contact::default()
    }
}

#[tokio::test]
async fn a_truncated_collections_response_reports_every_item_as_unknown() {
    let (mock, crm) = mock_org().await;
    Mock::given(method("POST"))
        .and(path("/services/data/v62.0/composite/sobjects"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"[{"id":"0035F00000000G9QAI","success":true,"errors":[]},{"succ"#,
            "application/json",
        ))
        .expect(1)
        .mount(&mock)
        .await;
    let results = crm
        .contacts()
        .create_batch(&[contact(1), contact(2)], &WriteContext::default())
        .await;
    assert_eq!(results.len(), 2);
    for r in &results {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Decode, "{e}");
    }

    // A well-formed but short result list: which records were written is unknown.
    mock.reset().await;
    Mock::given(method("POST"))
        .and(path("/services/data/v62.0/composite/sobjects"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!([{"id": "0035F00000000G9QAI", "success": true, "errors": []}]),
            ),
        )
        .mount(&mock)
        .await;
    let results = crm
        .contacts()
        .create_batch(&[contact(1), contact(2)], &WriteContext::default())
        .await;
    for r in &results {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Decode);
        assert!(e.message().contains("unknown"), "{e}");
    }
}

#[tokio::test]
async fn an_upsert_answered_300_is_a_conflict_listing_the_candidates() {
    let (mock, crm) = mock_org().await;
    let choices = json!([
        "/services/data/v62.0/sobjects/Contact/0035F00000000G9QAI",
        "/services/data/v62.0/sobjects/Contact/0035F00000000GAQAY"
    ]);
    Mock::given(method("POST"))
        .and(path("/services/data/v62.0/composite"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"compositeResponse": [
                {"body": choices, "httpHeaders": {}, "httpStatusCode": 300, "referenceId": "write"},
                {"body": choices, "httpHeaders": {}, "httpStatusCode": 300, "referenceId": "read"}
            ]})),
        )
        .mount(&mock)
        .await;
    let err = crm
        .contacts()
        .upsert(
            &UpsertKey::ExternalId("shop-42".into()),
            &contact(1),
            &WriteContext::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Conflict {
            existing_id: None,
            candidates: vec![
                RecordId::new("0035F00000000G9QAI").unwrap(),
                RecordId::new("0035F00000000GAQAY").unwrap()
            ]
        }
    );
}

#[tokio::test]
async fn a_token_response_without_instance_url_is_a_decode_error() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    org.set_omit_instance_url(true);
    let crm = common::connect(&org);
    let err = crm
        .contacts()
        .find_by(&Lookup::Email(Email::parse(demo::CUSTOMER_EMAIL).unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("instance_url"), "{err}");
    assert_eq!(org.requests().total, 0, "no API call without an instance");
}

#[tokio::test]
async fn a_token_response_with_a_forged_signature_is_refused() {
    let login = MockServer::start().await;
    let instance = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "00Dx!forged", "instance_url": instance.uri(),
            "id": format!("{}/id/00Dx/005x", login.uri()), "issued_at": "1700000000000",
            "signature": "bm90IHRoZSByaWdodCBzaWduYXR1cmU=", "token_type": "Bearer"})))
        .mount(&login)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&instance)
        .await;
    let crm = SalesforceBuilder::new()
        .with_login_url(login.uri())
        .with_client_credentials("3MVG9", SecretString::from("the-real-secret"))
        .build()
        .unwrap();
    let err = crm
        .contacts()
        .get(&RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Signature, "{err}");
}

#[tokio::test]
async fn a_pem_that_is_not_an_rsa_private_key_fails_the_build() {
    let (_, public) = common::rsa_key_pair();
    for pem in [
        common::ec_private_key(),
        public,
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n".to_owned(),
        "not a pem at all".to_owned(),
    ] {
        let err = SalesforceBuilder::new()
            .with_jwt_bearer("3MVG9", "user@example.com", SecretString::from(pem.clone()))
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config, "{err}");
        assert!(err.message().contains("RSA"), "{err}");
        assert!(!err.to_string().contains("BEGIN"), "{err}");
    }
}

#[tokio::test]
async fn a_next_records_url_on_another_host_is_refused() {
    let (mock, crm) = mock_org().await;
    let elsewhere = MockServer::start().await;
    let records: Vec<_> = (0..200)
        .map(|n| {
            json!({"attributes": {"type": "Contact"}, "Id": format!("0035F0000000{n:03}"),
                   "LastName": format!("C{n}")})
        })
        .collect();
    Mock::given(method("GET"))
        .and(path("/services/data/v62.0/query"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "totalSize": 400, "done": false,
            "nextRecordsUrl": format!("{}/services/data/v62.0/query/01gxx-200", elsewhere.uri()),
            "records": records})))
        .mount(&mock)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let mut pages = crm.contacts().list(ListQuery {
        page_size: NonZeroU32::new(200),
        ..ListQuery::default()
    });
    assert_eq!(pages.next().await.unwrap().unwrap().items.len(), 200);
    let err = pages.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    assert!(err.message().contains("another host"), "{err}");
    assert!(pages.next().await.is_none());
}

#[tokio::test]
async fn html_error_pages_are_typed_errors() {
    let org = common::fake(SalesforceFakeConfig::default()).await;
    let crm = common::connect(&org);
    let id = RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap();
    crm.contacts().get(&id).await.unwrap();
    org.html_next(10);
    let err = crm.contacts().get(&id).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unavailable);
    assert_eq!(err.status(), Some(502));
    org.clear();

    // An HTML page with a 200 (a captive portal, a login page) is a decode error.
    let (mock, crm) = mock_org().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "<!DOCTYPE html><html><body>Login</body></html>",
            "text/html",
        ))
        .mount(&mock)
        .await;
    let err = crm.contacts().get(&id).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
}

#[tokio::test]
async fn wrong_typed_fields_and_bad_ids_never_panic() {
    let (mock, crm) = mock_org().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "attributes": {"type": "Contact"}, "Id": "not-an-id!", "LastName": 7})))
        .mount(&mock)
        .await;
    let err = crm
        .contacts()
        .get(&RecordId::new(demo::CUSTOMER_CONTACT_ID).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode);
    let lead = crm
        .leads()
        .get(&RecordId::new("x/../../y?z").unwrap())
        .await;
    assert!(lead.is_err());
}

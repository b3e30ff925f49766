//! The SDK's own cost: per record mapped (typed model ↔ vendor fields, both ways) and per
//! request (the transport against a loopback server, next to a bare `reqwest` call to the same
//! server; the difference is what the SDK adds).
//!
//! ```text
//! cargo bench -p crm-core --bench overhead
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use crm_core::mapping::ObjectMapping;
use crm_core::transport::{HttpClientBuilder, Request};
use crm_core::{Contact, Email, Entity, FieldValue, ObjectKind, Phone, Region};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn mapping(c: &mut Criterion) {
    let mapping: ObjectMapping = toml::from_str(
        "[fields]\nemail = \"Email\"\nphone = \"Phone\"\nfirst_name = \"FirstName\"\nlast_name = \"LastName\"\ntitle = \"Title\"\naccount_id = \"AccountId\"\n",
    )
    .unwrap();
    let mut contact = Contact {
        email: Some(Email::parse("jane.doe@example.com").unwrap()),
        phone: Some(Phone::parse("(415) 555-0100", Region::us()).unwrap()),
        first_name: Some("Jane".into()),
        last_name: Some("Doe".into()),
        title: Some("Operations Manager".into()),
        ..Contact::default()
    };
    contact
        .custom
        .insert("loyalty_tier".into(), FieldValue::from("gold"));
    c.bench_function("map one contact to vendor fields and back", |b| {
        b.iter(|| {
            let vendor = mapping
                .to_vendor(ObjectKind::Contact, &black_box(&contact).to_fields())
                .unwrap();
            let common = mapping.from_vendor(ObjectKind::Contact, vendor);
            black_box(Contact::from_fields(common, Region::us()).unwrap())
        })
    });
}

fn request(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(async {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"id": "c-1", "email": "a@b.co"})),
            )
            .mount(&server)
            .await;
        server
    });
    let client = HttpClientBuilder::new("bench", server.uri())
        .build()
        .unwrap();
    let raw = reqwest::Client::new();
    let url = format!("{}/contacts/c-1", server.uri());
    c.bench_function("bare reqwest GET + JSON decode", |b| {
        b.to_async(&rt).iter(|| async {
            let v: serde_json::Value = raw.get(&url).send().await.unwrap().json().await.unwrap();
            black_box(v)
        })
    });
    c.bench_function("crm-core transport GET + JSON decode", |b| {
        b.to_async(&rt).iter(|| async {
            let resp = client
                .send(Request::get("/contacts/c-1", "contact.get"))
                .await
                .unwrap();
            black_box(resp.json::<serde_json::Value>().unwrap())
        })
    });
}

criterion_group!(benches, mapping, request);
criterion_main!(benches);

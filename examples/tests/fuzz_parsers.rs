//! A short fuzz run of every parser that reads outside data, kept in the test suite as property
//! tests with a bounded number of cases: whatever the bytes, each parser answers with a value or
//! a typed error, never a panic, and never an error that echoes a personal value it was fed.
//!
//! The webhook parsers are fuzzed *past* their signature checks: each generated body is signed
//! with the test secret first, so the JSON / XML parsing behind the check sees hostile input too.
//! A longer run is the same tests with `PROPTEST_CASES=100000`.

use crm_core::events::{WebhookRequest, WebhookSource};
use crm_core::mapping::MappingFile;
use crm_core::reexports::http::{HeaderMap, HeaderName, HeaderValue};
use crm_core::{Email, Phone};
use proptest::prelude::*;

const MARKER: &str = "victim.fuzz@example.com";

fn config() -> ProptestConfig {
    // Bounded so that `cargo test` stays quick; PROPTEST_CASES overrides it for a longer run.
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
    h
}

/// JSON-ish text: real JSON values (some holding the marker) spliced with random fragments, so
/// the parsers get both well-formed documents of the wrong shape and broken ones.
fn jsonish() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)),
        "[a-z@.]{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from(MARKER)),
    ];
    let value = leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("events".to_owned()),
                    Just("objectId".to_owned()),
                    Just("subscriptionType".to_owned()),
                    Just("eventId".to_owned()),
                    Just("occurredAt".to_owned()),
                    Just("propertyName".to_owned()),
                    Just("event_id".to_owned()),
                    Just("object".to_owned()),
                    Just("id".to_owned()),
                    Just("type".to_owned()),
                    Just("occurred_at".to_owned()),
                    Just("changed_fields".to_owned()),
                    "[a-zA-Z_]{1,10}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        3 => value.prop_map(|v| v.to_string()),
        1 => (value_text(), any::<prop::sample::Index>(), "\\PC{0,8}").prop_map(|(t, i, junk)| {
            let mut t = t;
            let at = i.index(t.len() + 1);
            let at = (0..=at).rev().find(|p| t.is_char_boundary(*p)).unwrap_or(0);
            t.insert_str(at, &junk);
            t
        }),
        1 => "\\PC{0,64}",
    ]
}

fn value_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("{"),
            Just("}"),
            Just("["),
            Just("]"),
            Just("\""),
            Just(":"),
            Just(","),
            Just("1e999"),
            Just(MARKER)
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

fn assert_no_marker(err: &crm_core::Error) {
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(MARKER),
        "an error echoes a value it was fed: {shown}"
    );
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hubspot_webhooks_parse_or_refuse(body in jsonish()) {
        let hook = crm_hubspot::HubSpotWebhook::new("fuzz-secret".to_owned().into(), "fuzz")
            .expect("a webhook source");
        let uri = "https://bot.example.com/hooks/hubspot";
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis().to_string())
            .unwrap_or_default();
        let sig = hook.sign_v3("POST", uri, body.as_bytes(), &ts).expect("signs");
        let h = headers(&[
            ("x-hubspot-signature-v3", sig),
            ("x-hubspot-request-timestamp", ts),
            ("content-type", "application/json".to_owned()),
        ]);
        let req = WebhookRequest { method: "POST", uri, headers: &h, body: body.as_bytes() };
        if let Err(e) = hook.verify_and_parse(&req) {
            assert_no_marker(&e);
        }
    }

    #[test]
    fn generic_webhooks_parse_or_refuse(body in jsonish()) {
        let spec = crm_generic_rest::Spec::default_spec().expect("the default spec");
        let hook = crm_generic_rest::GenericWebhook::new(&spec, "fuzz-secret".to_owned().into(), "fuzz")
            .expect("a webhook source");
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let uri = "https://bot.example.com/hooks/crm";
        let sig = hook.sign("POST", uri, Some(ts), body.as_bytes()).expect("signs");
        let h = headers(&[
            ("x-sandbox-signature", format!("sha256={sig}")),
            ("x-sandbox-timestamp", ts.to_string()),
        ]);
        let req = WebhookRequest { method: "POST", uri, headers: &h, body: body.as_bytes() };
        if let Err(e) = hook.verify_and_parse(&req) {
            assert_no_marker(&e);
        }
    }

    #[test]
    fn salesforce_outbound_messages_parse_or_refuse(
        parts in prop::collection::vec(prop_oneof![
            Just("<?xml version=\"1.0\" encoding=\"UTF-8\"?>".to_owned()),
            Just("<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">".to_owned()),
            Just("<soapenv:Body><notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\">".to_owned()),
            Just("<OrganizationId>00D000000000001AAA</OrganizationId>".to_owned()),
            Just("<Notification><Id>04l000000000001AAA</Id><sObject xsi:type=\"sf:Contact\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">".to_owned()),
            Just("<sf:Id>0035g00000ABCDEAAA</sf:Id>".to_owned()),
            Just("<sf:Id>..</sf:Id>".to_owned()),
            Just(format!("<sf:Email>{MARKER}</sf:Email>")),
            Just("</sObject></Notification>".to_owned()),
            Just("</notifications></soapenv:Body></soapenv:Envelope>".to_owned()),
            Just("<!DOCTYPE x [<!ENTITY a \"aaaa\">]>".to_owned()),
            Just("&a;&amp;&#0;&#xFFFFFFFF;".to_owned()),
            Just("<![CDATA[".to_owned()),
            "\\PC{0,16}",
        ], 0..16),
    ) {
        let xml = parts.concat();
        let source = crm_salesforce::OutboundMessages::new("00D000000000001AAA", "fuzz")
            .expect("a source");
        let h = headers(&[("content-type", "text/xml".to_owned())]);
        let req = WebhookRequest {
            method: "POST",
            uri: "https://bot.example.com/hooks/sf",
            headers: &h,
            body: xml.as_bytes(),
        };
        if let Err(e) = source.verify_and_parse(&req) {
            assert_no_marker(&e);
        }
    }

    #[test]
    fn mapping_files_parse_or_refuse(
        text in prop_oneof![
            "\\PC{0,200}",
            prop::collection::vec(prop_oneof![
                Just("version = \"1\"\n".to_owned()),
                Just("[contact]\n".to_owned()),
                Just("[contact.fields.email]\n".to_owned()),
                Just("vendor = \"email\"\n".to_owned()),
                Just(format!("default = \"{MARKER}\"\n")),
                Just("transform = [\"trim\", \"e164\"]\n".to_owned()),
                Just("max_length = -1\n".to_owned()),
                Just("direction = \"sideways\"\n".to_owned()),
                "[a-z_=\\[\\]\"\\. \n]{0,20}",
            ], 0..12).prop_map(|p| p.concat()),
        ],
    ) {
        let targets = crm_hubspot::MAPPING_TARGETS;
        if let Err(e) = MappingFile::parse(&text, "fuzz.toml", targets) {
            assert_no_marker(&e);
        }
    }

    #[test]
    fn generic_specs_parse_or_refuse(text in "\\PC{0,300}") {
        if let Err(e) = crm_generic_rest::Spec::parse(&text, "fuzz.toml") {
            let _ = e.to_string();
        }
    }

    #[test]
    fn emails_and_phones_parse_or_refuse(text in prop_oneof![
        "\\PC{0,40}",
        "[+0-9()\\- .]{0,24}",
        "[a-zA-Z0-9._%+-]{0,20}@[a-zA-Z0-9.-]{0,20}",
    ]) {
        let _ = Email::parse(&text);
        let us = crm_core::Region::parse("US").expect("a region");
        let _ = Phone::parse(&text, us);
        let _ = Phone::from_vendor(&text, us);
        let _ = crm_core::Region::parse(&text);
    }

    #[test]
    fn retry_after_values_never_panic(text in prop_oneof![
        "\\PC{0,40}",
        "-?[0-9]{0,25}(\\.[0-9]{0,4})?",
        Just("18446744073709551615".to_owned()),
        Just("Wed, 21 Oct 2015 07:28:00 GMT".to_owned()),
        Just("Fri, 31 Dec 9999 23:59:59 GMT".to_owned()),
    ]) {
        let _ = crm_core::retry::parse_retry_after(&text, std::time::SystemTime::now());
    }
}

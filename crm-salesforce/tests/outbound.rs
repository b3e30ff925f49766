//! Outbound Messages: the documented envelope parsed, the org checked, the ACK, repeats keyed by
//! notification id, and hostile XML refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crm_core::events::{Change, WebhookRequest, WebhookSource, http_status};
use crm_core::reexports::http::HeaderMap;
use crm_core::{ObjectKind, events::Deduper};
use crm_salesforce::OutboundMessages;

const ORG: &str = "00D5F0000000001UAA";

fn envelope(org: &str, notifications: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k5F0000000001QAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0/00D5F0000000001</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/00D5F0000000001</PartnerUrl>
   {notifications}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#
    )
}

fn case(notification_id: &str, status: &str, modified: &str) -> String {
    format!(
        r#"<Notification>
     <Id>{notification_id}</Id>
     <sObject xsi:type="sf:Case" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
      <sf:Id>5005F00000000G9</sf:Id>
      <sf:Status>{status}</sf:Status>
      <sf:Subject>Router &amp; modem</sf:Subject>
      <sf:LastModifiedDate>{modified}</sf:LastModifiedDate>
     </sObject>
    </Notification>"#
    )
}

fn req(body: &[u8]) -> (HeaderMap, Vec<u8>) {
    (HeaderMap::new(), body.to_vec())
}

#[test]
fn a_notification_batch_becomes_events_and_is_acknowledged() {
    let source = OutboundMessages::new("00D5F0000000001", "acme").unwrap();
    let body = envelope(
        ORG,
        &format!(
            "{}{}",
            case("04l5F0000000001AAA", "Closed", "2026-11-24T09:30:00.000Z"),
            case("04l5F0000000002AAA", "Working", "2026-11-24T09:20:00.000Z")
        ),
    );
    let (h, b) = req(body.as_bytes());
    let events = source
        .verify_and_parse(&WebhookRequest {
            method: "POST",
            uri: "https://bot.example/sf",
            headers: &h,
            body: &b,
        })
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].kind, Some(ObjectKind::Ticket));
    // 15-character ids are normalised to 18, as the adapter's reads are.
    assert_eq!(events[0].record_id.as_str().len(), 18);
    assert!(
        matches!(&events[0].change, Change::Updated { fields } if fields.contains(&"Status".to_owned()))
    );
    assert!(events[0].occurred_at > events[1].occurred_at);
    assert_eq!(events[0].raw.value().unwrap()["Subject"], "Router & modem");
    let (ct, ack) = source.acknowledgement().unwrap();
    assert!(ct.starts_with("text/xml"));
    assert!(String::from_utf8(ack).unwrap().contains("<Ack>true</Ack>"));
    // A redelivery of the same notification is dropped by its id.
    let dedupe = Deduper::new(std::time::Duration::from_secs(3600), 100);
    for e in &events {
        assert!(dedupe.first_time(&e.dedupe_key));
    }
    let again = source
        .verify_and_parse(&WebhookRequest {
            method: "POST",
            uri: "https://bot.example/sf",
            headers: &h,
            body: &b,
        })
        .unwrap();
    assert!(again.iter().all(|e| !dedupe.first_time(&e.dedupe_key)));
}

#[test]
fn a_wrong_org_hostile_xml_and_oversize_bodies_are_refused() {
    let source = OutboundMessages::new(ORG, "acme")
        .unwrap()
        .with_max_body_bytes(64 * 1024);
    let check = |body: &str| {
        let (h, b) = req(body.as_bytes());
        source
            .verify_and_parse(&WebhookRequest {
                method: "POST",
                uri: "https://bot.example/sf",
                headers: &h,
                body: &b,
            })
            .unwrap_err()
    };
    let wrong_org = check(&envelope(
        "00D5F0000000999UAA",
        &case("04l1", "Closed", "2026-11-24T09:30:00Z"),
    ));
    assert_eq!(http_status(&wrong_org), 401, "{wrong_org}");
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{}",
        envelope(
            ORG,
            "<Notification><Id>04l1</Id><sObject xsi:type=\"sf:Case\"><sf:Id>&xxe;</sf:Id></sObject></Notification>"
        )
    );
    let err = check(&xxe);
    assert_eq!(http_status(&err), 400);
    assert!(err.message().contains("DOCTYPE"), "{err}");
    let undefined_entity = envelope(
        ORG,
        "<Notification><Id>04l1</Id><sObject xsi:type=\"sf:Case\"><sf:Id>&boom;</sf:Id></sObject></Notification>",
    );
    assert_eq!(http_status(&check(&undefined_entity)), 400);
    assert_eq!(http_status(&check("<notifications><Notification>")), 400);
    assert_eq!(http_status(&check(&"x".repeat(70 * 1024))), 413);
    assert!(OutboundMessages::new("not-an-org", "x").is_err());
}

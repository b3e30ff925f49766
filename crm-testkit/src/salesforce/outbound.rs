//! Salesforce Outbound Messages as the fake's UI-side changes produce them (SOAP API Developer
//! Guide, "Outbound Messaging"): a SOAP `notifications` envelope of up to 100 notifications,
//! unsigned, retried until the receiver answers with `<Ack>true</Ack>`.

use std::time::Duration;

use serde_json::{Map, Value};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The SOAP envelope for `notifications` (`(notification id, sObject, record id, fields)`).
pub fn envelope(
    org_id: &str,
    notifications: &[(String, String, String, Map<String, Value>)],
) -> String {
    let mut body = String::new();
    for (nid, sobject, id, fields) in notifications {
        body.push_str(&format!(
            "<Notification><Id>{}</Id><sObject xsi:type=\"sf:{}\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\"><sf:Id>{}</sf:Id>",
            escape(nid),
            escape(sobject),
            escape(id)
        ));
        for (name, value) in fields {
            match value {
                Value::Null => body.push_str(&format!("<sf:{name} xsi:nil=\"true\"/>")),
                Value::String(s) => body.push_str(&format!("<sf:{name}>{}</sf:{name}>", escape(s))),
                other => body.push_str(&format!(
                    "<sf:{name}>{}</sf:{name}>",
                    escape(&other.to_string())
                )),
            }
        }
        body.push_str("</sObject></Notification>");
    }
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#,
            r#"<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">"#,
            "<OrganizationId>{}</OrganizationId><ActionId>04k000000000001AAA</ActionId>",
            r#"<SessionId xsi:nil="true"/>{}</notifications></soapenv:Body></soapenv:Envelope>"#
        ),
        escape(org_id),
        body
    )
}

/// Posts Outbound Messages to a receiver and retries until acknowledged.
#[derive(Debug, Clone)]
pub struct OutboundEmitter {
    url: String,
    org_id: String,
    client: reqwest::Client,
    seq: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl OutboundEmitter {
    /// An emitter for the org `org_id` to `url`.
    pub fn new(url: impl Into<String>, org_id: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            org_id: org_id.into(),
            client: reqwest::Client::new(),
            seq: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// Delivers `changes` (`(sObject, record id, fields)`) as one message, retried (up to 10
    /// attempts) until the answer holds `<Ack>true</Ack>`; `duplicate` sends it again after the
    /// ACK, as Salesforce may. Returns every attempt's status.
    pub async fn deliver(
        &self,
        changes: Vec<(String, String, Map<String, Value>)>,
        duplicate: bool,
    ) -> Vec<u16> {
        let notifications: Vec<_> = changes
            .into_iter()
            .map(|(sobject, id, fields)| {
                let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                (format!("04l{n:015}"), sobject, id, fields)
            })
            .collect();
        let body = envelope(&self.org_id, &notifications);
        let mut statuses = Vec::new();
        for _copy in 0..if duplicate { 2 } else { 1 } {
            for attempt in 0..10u32 {
                let answer = self
                    .client
                    .post(&self.url)
                    .header("content-type", "text/xml; charset=utf-8")
                    .header("soapaction", "\"\"")
                    .body(body.clone())
                    .send()
                    .await;
                let (status, acked) = match answer {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let text = r.text().await.unwrap_or_default();
                        (status, text.contains("<Ack>true</Ack>"))
                    }
                    Err(_) => (0, false),
                };
                statuses.push(status);
                if acked {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt + 1))).await;
            }
        }
        statuses
    }
}

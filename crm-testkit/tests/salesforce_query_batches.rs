//! The Salesforce fake's query batches on the wire: `Sforce-Query-Options: batchSize` is a
//! header of the query request, and the query's locator keeps it, since the next pages are
//! fetched from `nextRecordsUrl` without any parameters (Salesforce REST API Developer Guide,
//! "Query Options Header" and "Execute a SOQL Query").
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig};
use serde_json::Value;

#[tokio::test]
async fn issue14_next_pages_keep_the_batch_size_of_their_query() {
    let org = SalesforceFake::start(SalesforceFakeConfig {
        extra_contacts: 996,
        ..SalesforceFakeConfig::default()
    })
    .await;
    let c = org.config();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/services/oauth2/token", org.login_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("refresh_token", c.refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["access_token"].as_str().unwrap().to_owned();
    let mut sizes = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let req = match &next {
            // Only the query carries the header.
            None => http
                .get(format!("{}/services/data/v62.0/query", org.instance_url()))
                .query(&[("q", "SELECT Id FROM Contact ORDER BY Id")])
                .header("Sforce-Query-Options", "batchSize=300"),
            Some(n) => http.get(format!("{}{n}", org.instance_url())),
        };
        let body: Value = req
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        sizes.push(body["records"].as_array().unwrap().len());
        match body["nextRecordsUrl"].as_str() {
            Some(n) => next = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(sizes, [300, 300, 300, 100]);
}

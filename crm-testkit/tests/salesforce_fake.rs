//! The Salesforce fake on the wire, checked against Salesforce's docs with a plain HTTP client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use base64::Engine;
use crm_testkit::conformance::FaultInjector;
use crm_testkit::salesforce::{SalesforceFake, SalesforceFakeConfig, demo};
use serde_json::{Value, json};

struct Session {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Session {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, headers, body)
    }

    async fn query(&self, soql: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url("/query"))
            .query(&[("q", soql)])
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }
}

async fn login(org: &SalesforceFake) -> (Value, Session) {
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
    let session = Session {
        base: format!(
            "{}/services/data/v62.0",
            token["instance_url"].as_str().unwrap()
        ),
        token: token["access_token"].as_str().unwrap().to_owned(),
        http,
    };
    (token, session)
}

#[tokio::test]
async fn token_endpoint_names_the_instance_and_signs_the_response() {
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let (token, _) = login(&org).await;
    assert_eq!(token["instance_url"], org.instance_url());
    assert_ne!(org.login_url(), org.instance_url());
    assert!(token.get("expires_in").is_none());
    assert!(token.get("refresh_token").is_none());
    assert_eq!(token["token_type"], "Bearer");
    // signature = base64(HMAC-SHA256(client_secret, id + issued_at))
    let key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        org.config().client_secret.as_bytes(),
    );
    let msg = format!(
        "{}{}",
        token["id"].as_str().unwrap(),
        token["issued_at"].as_str().unwrap()
    );
    let want = base64::engine::general_purpose::STANDARD
        .encode(aws_lc_rs::hmac::sign(&key, msg.as_bytes()).as_ref());
    assert_eq!(token["signature"], want);
    // Bad grants: 400 with {error, error_description}.
    let resp = reqwest::Client::new()
        .post(format!("{}/services/oauth2/token", org.login_url()))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn sessions_limits_and_versions() {
    let org = SalesforceFake::start(SalesforceFakeConfig {
        daily_api_limit: 3,
        ..SalesforceFakeConfig::default()
    })
    .await;
    let (_, s) = login(&org).await;
    let (status, headers, _) = s.call(reqwest::Method::GET, "/limits", None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["sforce-limit-info"], "api-usage=1/3");
    let (status, _, body) = s
        .call(
            reqwest::Method::GET,
            &format!("/sobjects/Contact/{}", demo::CUSTOMER_CONTACT_ID),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["attributes"]["type"], "Contact");
    assert!(
        body.as_object().unwrap().contains_key("Birthdate"),
        "nulls included"
    );
    assert_eq!(body["Birthdate"], Value::Null);
    // Unknown version: 404.
    let resp = s
        .http
        .get(format!("{}/services/data/v99.0/limits", org.instance_url()))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    // The versions list needs no session and is not counted.
    let resp = reqwest::get(format!("{}/services/data/", org.instance_url()))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers().get("sforce-limit-info").is_none());
    // The allocation is spent: 403 REQUEST_LIMIT_EXCEEDED.
    s.call(reqwest::Method::GET, "/limits", None).await;
    let (status, headers, body) = s.call(reqwest::Method::GET, "/limits", None).await;
    assert_eq!(status, 403);
    assert_eq!(body[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(headers["sforce-limit-info"], "api-usage=3/3");
    // An expired session: 401 INVALID_SESSION_ID with WWW-Authenticate: Token.
    org.expire_sessions();
    let (status, headers, body) = s.call(reqwest::Method::GET, "/limits", None).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Token");
    assert_eq!(body[0]["errorCode"], "INVALID_SESSION_ID");
}

#[tokio::test]
async fn sobject_crud_upsert_and_validation() {
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let (_, s) = login(&org).await;
    use reqwest::Method as M;
    let (status, headers, body) = s
        .call(
            M::POST,
            "/sobjects/Contact",
            Some(json!({"LastName": "Crud", "Legacy_Id__c": "L1"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(body["success"], true);
    assert_eq!(body["errors"], json!([]));
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("003") && id.len() == 18);
    assert!(headers["location"].to_str().unwrap().ends_with(&id));
    let (status, _, body) = s
        .call(
            M::PATCH,
            &format!("/sobjects/Contact/{id}"),
            Some(json!({"Title": "X"})),
        )
        .await;
    assert_eq!((status, body), (204, Value::Null));
    // 15-character ids work too.
    let (status, _, body) = s
        .call(M::GET, &format!("/sobjects/Contact/{}", &id[..15]), None)
        .await;
    assert_eq!((status, body["Title"].clone()), (200, json!("X")));
    // Ext-id upsert: 201 created, 200 created:false, 300 with the matches.
    let (status, _, body) = s
        .call(
            M::PATCH,
            "/sobjects/Contact/External_Id__c/e-9",
            Some(json!({"LastName": "U"})),
        )
        .await;
    assert_eq!((status, body["created"].clone()), (201, json!(true)));
    let (status, _, body) = s
        .call(
            M::PATCH,
            "/sobjects/Contact/External_Id__c/e-9",
            Some(json!({"Title": "T"})),
        )
        .await;
    assert_eq!((status, body["created"].clone()), (200, json!(false)));
    s.call(
        M::POST,
        "/sobjects/Contact",
        Some(json!({"LastName": "Twin", "Legacy_Id__c": "L1"})),
    )
    .await;
    let (status, _, body) = s
        .call(
            M::PATCH,
            "/sobjects/Contact/Legacy_Id__c/L1",
            Some(json!({"Title": "T"})),
        )
        .await;
    assert_eq!(status, 300);
    assert_eq!(body.as_array().unwrap().len(), 2);
    let (status, _, body) = s
        .call(
            M::PATCH,
            "/sobjects/Contact/External_Id__c/e-9",
            Some(json!({"External_Id__c": "x"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    // Validation codes with fields.
    for (payload, code) in [
        (json!({"FirstName": "x"}), "REQUIRED_FIELD_MISSING"),
        (
            json!({"LastName": "x", "Email": "nope"}),
            "INVALID_EMAIL_ADDRESS",
        ),
        (json!({"LastName": "x", "Nope__c": 1}), "INVALID_FIELD"),
        (json!({"LastName": "x".repeat(81)}), "STRING_TOO_LONG"),
        (json!({"LastName": "x", "AccountId": "123"}), "MALFORMED_ID"),
        (
            json!({"LastName": "x", "AccountId": demo::CUSTOMER_CONTACT_ID}),
            "INVALID_CROSS_REFERENCE_KEY",
        ),
        (
            json!({"LastName": "x", "Birthdate": "yesterday"}),
            "JSON_PARSER_ERROR",
        ),
        (
            json!({"LastName": "x", "Email": demo::CUSTOMER_EMAIL}),
            "DUPLICATES_DETECTED",
        ),
        (
            json!({"LastName": "x", "External_Id__c": demo::CUSTOMER_EXTERNAL_ID}),
            "DUPLICATE_VALUE",
        ),
    ] {
        let (status, _, body) = s.call(M::POST, "/sobjects/Contact", Some(payload)).await;
        assert_eq!(
            (status, body[0]["errorCode"].as_str().unwrap()),
            (400, code),
            "{body}"
        );
    }
    // The duplicate rule lets a save through with the header.
    let resp = s
        .http
        .post(s.url("/sobjects/Contact"))
        .bearer_auth(&s.token)
        .header("Sforce-Duplicate-Rule-Header", "allowSave=true")
        .json(&json!({"LastName": "x", "Email": demo::CUSTOMER_EMAIL}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    // Delete, then 404 ENTITY_IS_DELETED; queryAll still sees it.
    let (status, _, _) = s
        .call(M::DELETE, &format!("/sobjects/Contact/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _, body) = s
        .call(M::GET, &format!("/sobjects/Contact/{id}"), None)
        .await;
    assert_eq!(
        (status, body[0]["errorCode"].as_str().unwrap()),
        (404, "ENTITY_IS_DELETED")
    );
    let resp: Value = s
        .http
        .get(s.url("/queryAll"))
        .query(&[(
            "q",
            format!("SELECT Id, IsDeleted FROM Contact WHERE Id = '{id}'"),
        )])
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["records"][0]["IsDeleted"], true);
    // Converted leads refuse updates.
    org.convert_lead(demo::LEAD_ID, false).unwrap();
    let (status, _, body) = s
        .call(
            M::PATCH,
            &format!("/sobjects/Lead/{}", demo::LEAD_ID),
            Some(json!({"Title": "x"})),
        )
        .await;
    assert_eq!(
        (status, body[0]["errorCode"].as_str().unwrap()),
        (400, "CANNOT_UPDATE_CONVERTED_LEAD")
    );
}

#[tokio::test]
async fn soql_paging_and_errors() {
    let org = SalesforceFake::start(SalesforceFakeConfig {
        extra_contacts: 450,
        ..SalesforceFakeConfig::default()
    })
    .await;
    let (_, s) = login(&org).await;
    let (status, page) = s
        .query("SELECT Id, Name, Account.Name FROM Contact ORDER BY Id")
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["done"], true, "default batch 2000 holds all");
    assert_eq!(page["totalSize"], 454);
    let jane = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Id"] == demo::CUSTOMER_CONTACT_ID)
        .unwrap();
    assert_eq!(jane["Account"]["Name"], demo::CUSTOMER_ACCOUNT_NAME);
    // batchSize 200: three pages through nextRecordsUrl.
    let mut seen = 0;
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let req = match &next {
            None => s
                .http
                .get(s.url("/query"))
                .query(&[("q", "SELECT Id FROM Contact")]),
            Some(n) => s.http.get(format!("{}{n}", org.instance_url())),
        };
        let body: Value = req
            .bearer_auth(&s.token)
            .header("Sforce-Query-Options", "batchSize=200")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        seen += body["records"].as_array().unwrap().len();
        assert_eq!(body["totalSize"], 454);
        match body["nextRecordsUrl"].as_str() {
            Some(n) => {
                assert_eq!(body["done"], false);
                assert!(n.starts_with("/services/data/v62.0/query/01g"));
                next = Some(n.to_owned());
            }
            None => break,
        }
    }
    assert_eq!((pages, seen), (3, 454));
    for (q, code) in [
        ("SELECT Id FROM Contact WHERE", "MALFORMED_QUERY"),
        ("SELECT Nope FROM Contact", "INVALID_FIELD"),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
        (
            "SELECT Id FROM Contact WHERE Email = 'x'OR Id != null--'",
            "MALFORMED_QUERY",
        ),
    ] {
        let (status, body) = s.query(q).await;
        assert_eq!(
            (status, body[0]["errorCode"].as_str().unwrap()),
            (400, code),
            "{q}"
        );
    }
}

#[tokio::test]
async fn collections_and_composite() {
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let (_, s) = login(&org).await;
    use reqwest::Method as M;
    let good = json!({"attributes": {"type": "Account"}, "Name": "Good"});
    let bad = json!({"attributes": {"type": "Account"}, "Name": null});
    let (status, _, body) = s
        .call(
            M::POST,
            "/composite/sobjects",
            Some(json!({"allOrNone": false, "records": [good, bad]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["success"], true);
    assert_eq!(body[1]["errors"][0]["statusCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(body[1]["errors"][0]["fields"], json!(["Name"]));
    let before = org.records("Account").len();
    let (_, _, body) = s
        .call(
            M::POST,
            "/composite/sobjects",
            Some(json!({"allOrNone": true, "records": [good, bad]})),
        )
        .await;
    assert_eq!(
        body[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(org.records("Account").len(), before, "rolled back");
    let many: Vec<Value> = (0..201).map(|_| good.clone()).collect();
    let (status, _, _) = s
        .call(
            M::POST,
            "/composite/sobjects",
            Some(json!({"records": many})),
        )
        .await;
    assert_eq!(status, 400);
    // Composite: references between subrequests, one API call.
    let usage = org.api_usage().0;
    let (status, _, body) = s
        .call(M::POST, "/composite", Some(json!({"allOrNone": false, "compositeRequest": [
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "acc", "body": {"Name": "Ref"}},
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Contact", "referenceId": "con",
             "body": {"LastName": "Ref", "AccountId": "@{acc.id}"}},
            {"method": "GET", "url": "/services/data/v62.0/query?q=SELECT+Id,Account.Name+FROM+Contact+WHERE+Id='@{con.id}'", "referenceId": "q"},
            {"method": "GET", "url": "/services/data/v62.0/sobjects/Contact/@{q.records[1].Id}", "referenceId": "missing"}
        ]})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(org.api_usage().0, usage + 1);
    let r = body["compositeResponse"].as_array().unwrap();
    assert_eq!(r[0]["httpStatusCode"], 201);
    assert_eq!(r[2]["body"]["records"][0]["Account"]["Name"], "Ref");
    assert_eq!(r[3]["httpStatusCode"], 400);
    let subs: Vec<Value> = (0..26)
        .map(|i| json!({"method": "GET", "url": "/services/data/v62.0/limits", "referenceId": format!("r{i}")}))
        .collect();
    let (status, _, _) = s
        .call(
            M::POST,
            "/composite",
            Some(json!({"compositeRequest": subs})),
        )
        .await;
    assert_eq!(status, 400);
}

/// Composite writes linked by `@{ref.id}`, as Salesforce documents them: upserts by external id
/// as subrequests, `allOrNone: true` rolling every write back when one fails (the others answer
/// `400 PROCESSING_HALTED`), `allOrNone: false` keeping the independent ones and halting the
/// ones that refer to a failed subrequest, and reference ids of letters, digits and
/// underscores, unique in the request.
#[tokio::test]
async fn issue14_composite_references_upserts_and_all_or_none_rollback() {
    use reqwest::Method as M;
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let (_, s) = login(&org).await;
    let v = "/services/data/v62.0";
    let case = |key: &str| {
        json!({"method": "PATCH", "url": format!("{v}/sobjects/Case/Idempotency_Key__c/{key}"),
               "referenceId": "parent", "body": {"Subject": "Linked"}})
    };
    let task = |key: &str, subject: &str| {
        json!({"method": "PATCH", "url": format!("{v}/sobjects/Task/Idempotency_Key__c/{key}"),
               "referenceId": "child0", "body": {"Subject": subject, "WhatId": "@{parent.id}"}})
    };
    let (cases, tasks) = (org.records("Case").len(), org.records("Task").len());
    // Both upserts create; the task's WhatId is the case's new id.
    let (status, _, body) = s
        .call(
            M::POST,
            "/composite",
            Some(json!({"allOrNone": true,
            "compositeRequest": [case("k-case"), task("k-task", "Note")]})),
        )
        .await;
    assert_eq!(status, 200);
    let r = body["compositeResponse"].as_array().unwrap();
    assert_eq!(r[0]["httpStatusCode"], 201, "{body}");
    assert_eq!(r[1]["httpStatusCode"], 201, "{body}");
    let case_id = r[0]["body"]["id"].as_str().unwrap().to_owned();
    let task_id = r[1]["body"]["id"].as_str().unwrap();
    assert_eq!(
        org.record("Task", task_id).unwrap()["WhatId"],
        case_id.as_str()
    );
    // Sent again: the same records are found by their keys (200 with the id), none is added.
    let (_, _, body) = s
        .call(
            M::POST,
            "/composite",
            Some(json!({"allOrNone": true,
            "compositeRequest": [case("k-case"), task("k-task", "Note")]})),
        )
        .await;
    let r = body["compositeResponse"].as_array().unwrap();
    assert_eq!(r[0]["httpStatusCode"], 200);
    assert_eq!(r[0]["body"]["id"], case_id.as_str());
    assert_eq!(org.records("Case").len(), cases + 1);
    assert_eq!(org.records("Task").len(), tasks + 1);

    // allOrNone: the task fails validation, so the case written before it is rolled back.
    let long = "x".repeat(300);
    let (_, _, body) = s
        .call(
            M::POST,
            "/composite",
            Some(json!({"allOrNone": true,
            "compositeRequest": [case("k-case-2"), task("k-task-2", &long)]})),
        )
        .await;
    let r = body["compositeResponse"].as_array().unwrap();
    assert_eq!(r[0]["httpStatusCode"], 400);
    assert_eq!(r[0]["body"][0]["errorCode"], "PROCESSING_HALTED");
    assert_eq!(r[1]["body"][0]["errorCode"], "STRING_TOO_LONG");
    assert_eq!(
        org.records("Case").len(),
        cases + 1,
        "the case was rolled back"
    );

    // Without allOrNone: a subrequest that refers to a failed one is halted, the rest is kept.
    let bad_case = json!({"method": "POST", "url": format!("{v}/sobjects/Case"),
        "referenceId": "parent", "body": {"NoSuchField__c": 1}});
    let account = json!({"method": "POST", "url": format!("{v}/sobjects/Account"),
        "referenceId": "acc", "body": {"Name": "Independent"}});
    let (_, _, body) = s
        .call(
            M::POST,
            "/composite",
            Some(json!({"allOrNone": false,
            "compositeRequest": [bad_case, task("k-task-3", "Orphan"), account]})),
        )
        .await;
    let r = body["compositeResponse"].as_array().unwrap();
    assert_eq!(r[0]["httpStatusCode"], 400);
    assert_eq!(r[1]["body"][0]["errorCode"], "PROCESSING_HALTED");
    assert_eq!(r[2]["httpStatusCode"], 201);
    assert_eq!(
        org.records("Task").len(),
        tasks + 1,
        "no task without its case"
    );

    // Reference ids: letters, digits and underscores, each used once.
    for ids in [["a-b", "c"], ["same", "same"], ["", "c"]] {
        let subs: Vec<Value> = ids
            .iter()
            .map(|id| json!({"method": "GET", "url": format!("{v}/limits"), "referenceId": id}))
            .collect();
        let (status, _, _) = s
            .call(
                M::POST,
                "/composite",
                Some(json!({"compositeRequest": subs})),
            )
            .await;
        assert_eq!(status, 400, "{ids:?}");
    }
}

#[tokio::test]
async fn faults_are_injected_on_the_api_only() {
    let org = SalesforceFake::start(SalesforceFakeConfig::default()).await;
    let (_, s) = login(&org).await;
    // As Salesforce documents it: a 403, no 429 and no Retry-After.
    org.set_faults(crm_testkit::salesforce::Faults {
        limit_exceeded_next: 1,
        ..Default::default()
    });
    let (status, headers, body) = s.call(reqwest::Method::GET, "/limits", None).await;
    assert_eq!(status, 403, "Salesforce has no 429");
    assert!(headers.get("retry-after").is_none());
    assert_eq!(body[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");
    // The suite's limit answer carries the wait it asks for, as a gateway in front may add.
    org.rate_limit_next(1, std::time::Duration::from_millis(1500));
    let (status, headers, _) = s.call(reqwest::Method::GET, "/limits", None).await;
    assert_eq!(status, 403);
    assert_eq!(headers["retry-after"], "2");
    org.html_next(1);
    let resp = s
        .http
        .get(s.url("/limits"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 502);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("text/html")
    );
    org.malformed_next(1);
    let text = s
        .http
        .get(s.url("/limits"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());
    // After-commit faults write and then fail.
    org.set_faults(crm_testkit::salesforce::Faults {
        fail_rate: 1.0,
        after_commit_share: 1.0,
        ..Default::default()
    });
    let before = org.records("Account").len();
    let (status, _, body) = s
        .call(
            reqwest::Method::POST,
            "/sobjects/Account",
            Some(json!({"Name": "Ghost"})),
        )
        .await;
    assert_eq!(
        (status, body[0]["errorCode"].as_str().unwrap()),
        (500, "UNKNOWN_EXCEPTION")
    );
    assert_eq!(org.records("Account").len(), before + 1);
    assert_eq!(org.requests().after_commit, 1);
}

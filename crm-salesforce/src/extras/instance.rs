//! The org's instance and the requests to it: the instance URL comes from the token response
//! (or the configuration), one HTTP client per instance, at most 25 requests in flight per org
//! (Salesforce's concurrent long-running request limit; Developer Limits and Allocations Quick
//! Reference), every request drawing on the org's daily budget, and Composite requests of up
//! to 25 subrequests counted as one API call (REST API Developer Guide, "Composite").

use std::sync::{Arc, PoisonError};

use crm_core::reexports::http::{HeaderName, Method};
use crm_core::reexports::url::Url;
use crm_core::transport::{HttpClient, HttpClientBuilder, Request, Response, encode_segment};
use crm_core::{Error, ErrorKind, Result};
use serde_json::{Value, json};

use crate::backend::SalesforceBackend;
use crate::error::SalesforceErrorParser;
use crate::limits::DAILY_BUCKET;
use crate::wire::{SObject, SubResponse};

impl SalesforceBackend {
    /// The instance URL: the configured override, else the one the token response named.
    pub(crate) async fn instance_url(&self) -> Result<Url> {
        if let Some(u) = &self.instance_override {
            return Ok(u.clone());
        }
        match &self.sf_credentials {
            Some(c) => c.instance_url().await,
            None => Err(Error::config(
                "instance_url: required with a custom credential provider",
            )),
        }
    }

    /// The HTTP client for the current instance (built when the instance is first known).
    async fn http(&self) -> Result<HttpClient> {
        let instance = self.instance_url().await?;
        let mut guard = self.instance.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((url, client)) = guard.as_ref()
            && *url == instance
        {
            return Ok(client.clone());
        }
        let base = format!(
            "{}/services/data/{}",
            instance.as_str().trim_end_matches('/'),
            self.api_version
        );
        let mut b = HttpClientBuilder::new(crate::VENDOR, base)
            .with_credentials(self.credentials.clone())
            .with_error_parser(Arc::new(SalesforceErrorParser))
            .with_limiter(self.limiter.clone());
        for ca in &self.root_ca_files {
            b = b.with_root_ca_file(ca.clone());
        }
        if let Some(t) = self.timeout {
            b = b.with_timeout(t);
        }
        if let Some(r) = &self.retry {
            b = b.with_retry(r.clone());
        }
        let client = b.build()?;
        *guard = Some((instance, client.clone()));
        Ok(client)
    }

    /// Sends a request on the instance, capped at the org's concurrent-request limit
    /// (25 concurrent requests of 20 s or more per org).
    pub(crate) async fn send(&self, request: Request) -> Result<Response> {
        let http = self.http().await?;
        let _permit =
            self.concurrency.acquire().await.map_err(|_| {
                Error::new(ErrorKind::Unexpected, "the connection is shutting down")
            })?;
        http.send(request.bucket(DAILY_BUCKET)).await
    }

    /// A path under the versioned base: `/sobjects/Contact/{id}` (segments encoded).
    pub(crate) fn sobject_path(s: SObject, rest: &[&str]) -> String {
        let mut p = format!("/sobjects/{}", s.name());
        for seg in rest {
            p.push('/');
            p.push_str(&encode_segment(seg));
        }
        p
    }

    /// The same path as a Composite subrequest URL (`/services/data/vNN.N/...`).
    pub(crate) fn full_path(&self, path: &str) -> String {
        format!("/services/data/{}{path}", self.api_version)
    }

    /// An absolute URL on the instance for a path the vendor gave (`nextRecordsUrl`). A full
    /// URL is kept as is, so the transport can refuse it when it names another host.
    pub(crate) async fn vendor_url(&self, link: &str) -> Result<Url> {
        let base = self.instance_url().await?;
        base.join(link)
            .map_err(|_| Error::decode("the vendor's link is not a URL"))
    }

    /// The duplicate-rule header, only when the caller opted in (never the default).
    pub(crate) fn duplicate_header(&self) -> Option<(HeaderName, &'static str)> {
        self.allow_duplicates.then(|| {
            (
                HeaderName::from_static("sforce-duplicate-rule-header"),
                "allowSave=true",
            )
        })
    }

    /// Renames vendor field names in a validation error to common names (`Email` → `email`).
    /// WhoId and WhatId are set outside the mapping.
    pub(crate) fn name_fields(&self, s: SObject, err: Error) -> Error {
        let Ok(mapping) = self.mapping(s) else {
            return err;
        };
        err.rename_fields(|vendor| {
            let common = mapping.common_name(vendor).or(match vendor {
                "WhoId" => Some("who"),
                "WhatId" => Some("what"),
                _ => None,
            });
            common.map(str::to_owned)
        })
    }

    /// Sends a Composite request (≤25 subrequests counted as one API call; REST API Developer
    /// Guide, "Composite") and returns each subresponse.
    pub(crate) async fn composite(
        &self,
        subrequests: Vec<Value>,
        idempotent: bool,
        operation: &str,
    ) -> Result<Vec<SubResponse>> {
        let mut req = Request::new(Method::POST, "/composite", operation)
            .json(json!({"allOrNone": false, "compositeRequest": subrequests}))
            .idempotent(idempotent);
        if let Some((h, v)) = self.duplicate_header() {
            req = req.header(h, v);
        }
        let resp = self.send(req).await?;
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(rename = "compositeResponse")]
            composite_response: Vec<SubResponse>,
        }
        let body: Body = resp.json()?;
        Ok(body.composite_response)
    }
}

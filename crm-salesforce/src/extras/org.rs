//! One org's connection state and the requests to it: the mappings in use and the fields they
//! read, the instance URL from the token response (or the configuration), one HTTP client per
//! instance, at most 25 requests in flight per org (Salesforce's concurrent long-running request
//! limit; Developer Limits and Allocations Quick Reference), every request drawing on the org's
//! daily budget, and Composite requests of up to 25 subrequests counted as one API call (REST
//! API Developer Guide, "Composite").

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crm_core::credential::CredentialProvider;
use crm_core::limits::RateLimiter;
use crm_core::mapping::ObjectMapping;
use crm_core::raw::http::{HttpClient, HttpClientBuilder, Request, Response, encode_segment};
use crm_core::raw::{ConnectionOptions, Mappings, VendorRecord};
use crm_core::reexports::http::{HeaderName, Method};
use crm_core::reexports::url::Url;
use crm_core::{Capabilities, Entity, Error, ErrorKind, Record, Region, Result};
use serde_json::{Value, json};

use crate::credential::SalesforceCredentials;
use crate::error::SalesforceErrorParser;
use crate::extras::soql;
use crate::limits::DAILY_BUCKET;
use crate::wire::{self, HeldBatches, SObject, SubResponse};

/// The fields read for `s`: the mapped ones, the timestamps, and the flags that give statuses
/// their meaning. Every name is checked as an API name before it goes into SOQL, so a mapping
/// file swapped in at run time cannot inject query text either.
pub(crate) fn read_fields(mappings: &Mappings, s: SObject) -> Result<Vec<String>> {
    let mapping = mappings.get(s.table())?;
    let mut fields: std::collections::BTreeSet<String> = ["Id", "CreatedDate", "LastModifiedDate"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for vendor in mapping.fields.values() {
        soql::ident(vendor)
            .map_err(|e| Error::config(format!("mapping.{}: {}", s.table(), e.message())))?;
        fields.insert(vendor.clone());
    }
    fields.extend(s.flags().iter().map(|f| (*f).to_owned()));
    Ok(fields.into_iter().collect())
}

/// Salesforce's hooks: records by sObject, SOQL queries, Composite and sObject Collections
/// writes, the 360° view in one Composite request.
pub struct SalesforceBackend {
    pub(crate) credentials: Arc<dyn CredentialProvider>,
    pub(crate) sf_credentials: Option<Arc<SalesforceCredentials>>,
    pub(crate) instance_override: Option<Url>,
    pub(crate) instance: Mutex<Option<(Url, HttpClient)>>,
    pub(crate) api_version: String,
    pub(crate) region: Region,
    pub(crate) mappings: Arc<Mappings>,
    pub(crate) capabilities: Capabilities,
    pub(crate) idempotency_field: Option<String>,
    pub(crate) allow_duplicates: bool,
    /// Records per query batch Salesforce is asked for, 200–2,000.
    pub(crate) query_batch_size: u32,
    /// Read records back after a Collections write (`batch_read_back`).
    pub(crate) read_back: bool,
    pub(crate) concurrency: tokio::sync::Semaphore,
    /// The builder's transport options (CAs, timeout, retry), for the instance's client.
    pub(crate) transport: ConnectionOptions,
    pub(crate) limiter: Arc<dyn RateLimiter>,
    pub(crate) budget: Arc<crm_core::limits::PacingLimiter>,
    pub(crate) held: HeldBatches,
}

impl fmt::Debug for SalesforceBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceBackend")
            .field("api_version", &self.api_version)
            .field(
                "instance_override",
                &self.instance_override.as_ref().map(Url::as_str),
            )
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl SalesforceBackend {
    /// The org's API usage as the last response's `Sforce-Limit-Info` reported it:
    /// (used, daily allocation); `(0, 0)` before the first call.
    pub fn api_usage(&self) -> (u64, u64) {
        self.budget.daily_usage().unwrap_or((0, 0))
    }

    /// The mapping in use for `s`.
    pub(crate) fn mapping(&self, s: SObject) -> Result<Arc<ObjectMapping>> {
        self.mappings.get(s.table())
    }

    /// The fields read for `s`.
    pub(crate) fn read_fields(&self, s: SObject) -> Result<Vec<String>> {
        read_fields(&self.mappings, s)
    }

    /// The vendor field of a common field.
    pub(crate) fn vendor_field(&self, s: SObject, common: &str) -> Result<String> {
        self.mapping(s)?
            .vendor_name(common)
            .map(str::to_owned)
            .ok_or_else(|| Error::mapping(format!("{}.{common}: no Salesforce field", s.kind())))
    }

    /// One record of `s` from its JSON.
    pub(crate) fn vendor_record(&self, s: SObject, value: &Value) -> Result<VendorRecord> {
        wire::vendor_record(&*self.mapping(s)?, s, value)
    }

    /// Records of `s` from query rows, naming the row that failed.
    pub(crate) fn vendor_records(
        &self,
        s: SObject,
        rows: &[Value],
        operation: &str,
    ) -> Result<Vec<VendorRecord>> {
        let mapping = self.mapping(s)?;
        rows.iter()
            .enumerate()
            .map(|(i, r)| {
                wire::vendor_record(&mapping, s, r).map_err(|e| {
                    Error::new(
                        e.kind().clone(),
                        format!("record {i} of the page: {}", e.message()),
                    )
                    .with_operation(operation.to_owned())
                })
            })
            .collect()
    }

    /// A vendor record → `Record<T>`, for results the adapter assembles itself.
    pub(crate) fn record<T: Entity>(&self, record: VendorRecord) -> Result<Record<T>> {
        let (mapping, names) = self.mappings.get_named(record.target)?;
        record.into_record(&mapping, &names, self.region)
    }
}

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
        let b = HttpClientBuilder::new(crate::VENDOR, base)
            .with_credentials(self.credentials.clone())
            .with_error_parser(Arc::new(SalesforceErrorParser))
            .with_limiter(self.limiter.clone());
        let client = self.transport.transport(b).build()?;
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
        self.composite_with(subrequests, false, idempotent, operation)
            .await
    }

    /// [`Self::composite`] with `allOrNone` set: `true` rolls every write back when one fails
    /// (the others answer `400 PROCESSING_HALTED`).
    pub(crate) async fn composite_with(
        &self,
        subrequests: Vec<Value>,
        all_or_none: bool,
        idempotent: bool,
        operation: &str,
    ) -> Result<Vec<SubResponse>> {
        let mut req = Request::new(Method::POST, "/composite", operation)
            .json(json!({"allOrNone": all_or_none, "compositeRequest": subrequests}))
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

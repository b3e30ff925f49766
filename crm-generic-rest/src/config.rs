//! The spec file: a declarative description of a company's own REST CRM.
//!
//! Every key is documented in `docs.md` (included in the crate docs). Unknown keys are errors,
//! and [`Spec::parse`] reports the file, line and column of a syntax or type problem.

use std::collections::BTreeMap;
use std::path::Path;

use crm_core::mapping::ObjectMapping;
use crm_core::{Error, ObjectKind, Region, Result};
use serde::Deserialize;

/// The spec shipped with the crate: it describes the embedded sandbox CRM.
pub const DEFAULT_SPEC: &str = include_str!("../specs/default.toml");

/// The default spec's mapping tables as a mapping file (`mapping.toml`): the generic adapter's
/// default mapping comes from a connection's spec ([`Spec::default_mapping`]); this is the
/// default spec's, in the format HubSpot's and Salesforce's defaults ship in.
pub const DEFAULT_MAPPING: &str = include_str!("../mapping.toml");

/// A parsed and validated spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Spec {
    /// Format version; must be 1.
    pub spec_version: u32,
    /// A name for logs and errors.
    pub name: String,
    /// The API's base URL; a connection may override it.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The record field holding the id.
    #[serde(default = "default_id_field")]
    pub id_field: String,
    /// The record field holding the creation time, if any.
    #[serde(default)]
    pub created_at_field: Option<String>,
    /// The record field holding the last-change time, if any.
    #[serde(default)]
    pub updated_at_field: Option<String>,
    /// ISO region code for phone numbers stored without a country code.
    #[serde(default = "default_region")]
    pub phone_region: String,
    /// Response headers that carry the server's request id.
    #[serde(default)]
    pub correlation_headers: Vec<String>,
    /// How requests authenticate.
    pub auth: AuthSpec,
    /// How lists are paged.
    pub paging: PagingSpec,
    /// How a customer is looked up.
    #[serde(default)]
    pub lookup: LookupSpec,
    /// Query parameters for sorting and filtering.
    #[serde(default)]
    pub query: QuerySpec,
    /// How creates are made idempotent.
    #[serde(default)]
    pub idempotency: IdempotencySpec,
    /// Where the error body holds its details.
    #[serde(default)]
    pub errors: ErrorSpec,
    /// The server's rate limit, if it has one: requests are paced to stay under it.
    #[serde(default)]
    pub rate_limit: Option<RateLimitSpec>,
    /// How the server signs the change events it posts, and where they hold their fields.
    #[serde(default)]
    pub webhook: Option<WebhookSpec>,
    /// Per object kind (`contact`, `account`, `lead`, `opportunity`, `ticket`, `activity`).
    pub objects: BTreeMap<String, ObjectSpec>,
}

fn default_id_field() -> String {
    "id".to_owned()
}

fn default_region() -> String {
    "US".to_owned()
}

/// How requests authenticate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthSpec {
    /// `none`, `bearer` or `api_key`.
    pub kind: AuthKind,
    /// The header an API key goes in (`api_key` only).
    #[serde(default)]
    pub header: Option<String>,
}

/// The authentication schemes a spec can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// No credential.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// A key in the header named by `auth.header`.
    ApiKey,
}

/// Paging styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PagingStyle {
    /// An opaque cursor from the body, sent back in `cursor_param`.
    Cursor,
    /// `offset_param` counts records skipped.
    Offset,
    /// `page_param` counts pages from `first_page`.
    Page,
    /// The next page's URL is in the `Link: <…>; rel="next"` header.
    Link,
}

/// How lists are paged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PagingSpec {
    /// The style.
    pub style: PagingStyle,
    /// The page-size parameter.
    #[serde(default = "default_limit_param")]
    pub limit_param: String,
    /// The largest page the server serves.
    #[serde(default = "default_max_page")]
    pub max_page_size: u32,
    /// JSON pointer to the array of records in a list response (`""` when the body is the array).
    #[serde(default)]
    pub items_pointer: String,
    /// Cursor style: the request parameter.
    #[serde(default)]
    pub cursor_param: Option<String>,
    /// Cursor style: JSON pointer to the next cursor (absent or `null` on the last page).
    #[serde(default)]
    pub next_cursor_pointer: Option<String>,
    /// Offset style: the request parameter.
    #[serde(default)]
    pub offset_param: Option<String>,
    /// Page style: the request parameter.
    #[serde(default)]
    pub page_param: Option<String>,
    /// Page style: the number of the first page.
    #[serde(default = "one")]
    pub first_page: u64,
}

fn default_limit_param() -> String {
    "limit".to_owned()
}

fn default_max_page() -> u32 {
    100
}

fn one() -> u64 {
    1
}

/// Query parameters a customer lookup uses. A missing key means the server cannot look up that
/// way.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LookupSpec {
    /// Parameter for an email lookup.
    pub email: Option<String>,
    /// Parameter for a phone lookup (sent in E.164 form).
    pub phone: Option<String>,
    /// Parameter for an external-id lookup.
    pub external_id: Option<String>,
}

/// Sorting and filtering parameters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct QuerySpec {
    /// Parameter naming the sort field.
    pub sort_param: Option<String>,
    /// Prefix on the sort field for descending order.
    #[serde(default)]
    pub descending_prefix: Option<String>,
    /// Parameter for "changed at or after" (RFC 3339).
    pub changed_since_param: Option<String>,
    /// Suffix that turns a field filter into an "any of" filter (`status_in=a,b`).
    pub in_suffix: Option<String>,
    /// Separator of the values of an "any of" filter.
    #[serde(default)]
    pub in_separator: Option<String>,
}

/// How creates are made safe to retry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IdempotencySpec {
    /// A request header the server de-duplicates creates on (`Idempotency-Key`).
    pub header: Option<String>,
}

/// Where the error body holds its details (JSON pointers).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ErrorSpec {
    /// The error code.
    pub code_pointer: Option<String>,
    /// The message.
    pub message_pointer: Option<String>,
    /// The list of field problems: strings, or objects with `field_name_key` / `field_code_key`.
    pub fields_pointer: Option<String>,
    /// Key of a field problem's field name.
    #[serde(default)]
    pub field_name_key: Option<String>,
    /// Key of a field problem's code.
    #[serde(default)]
    pub field_code_key: Option<String>,
    /// The id of the existing record in a conflict.
    pub existing_id_pointer: Option<String>,
    /// Vendor error code → error kind (`not_found`, `conflict`, `validation`, `unauthorized`,
    /// `forbidden`, `rate_limited`, `unavailable`, `timeout`), overriding the HTTP status.
    #[serde(default)]
    pub codes: BTreeMap<String, KindName>,
}

/// Signed change events the server posts (HMAC-SHA256 over a declared payload).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WebhookSpec {
    /// Header holding the signature.
    pub signature_header: String,
    /// Prefix before the signature in that header (`sha256=`).
    #[serde(default)]
    pub signature_prefix: String,
    /// `hex` or `base64`.
    #[serde(default = "hex")]
    pub encoding: String,
    /// Header holding the signing time in Unix seconds; required when `signed_payload` uses
    /// `{timestamp}`.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// Largest clock difference accepted, in seconds (past or future).
    #[serde(default = "five_minutes")]
    pub tolerance_secs: u64,
    /// What is signed: a template of `{method}`, `{uri}`, `{timestamp}` and `{body}` (the raw
    /// bytes), e.g. `"{timestamp}.{body}"`.
    pub signed_payload: String,
    /// Largest body accepted, checked before parsing.
    #[serde(default = "one_mib")]
    pub max_body_bytes: usize,
    /// JSON pointer to the array of events (`""`: the body is the array).
    #[serde(default)]
    pub events_pointer: String,
    /// In each event: the event's id (with the record and time, the dedupe key).
    pub event_id_pointer: String,
    /// In each event: the object kind (`contact`, `ticket`...).
    pub object_pointer: String,
    /// In each event: the record id.
    pub id_pointer: String,
    /// In each event: what happened, one of the `changes` keys.
    pub change_pointer: String,
    /// In each event: when (RFC 3339 or epoch milliseconds).
    pub occurred_at_pointer: String,
    /// In each event: the names of changed fields, if given.
    #[serde(default)]
    pub fields_pointer: Option<String>,
    /// Vendor change name → `created`, `updated`, `deleted`, `restored`.
    #[serde(default)]
    pub changes: BTreeMap<String, String>,
}

fn hex() -> String {
    "hex".to_owned()
}
fn five_minutes() -> u64 {
    300
}
fn one_mib() -> usize {
    1024 * 1024
}

/// A server's rate limit: at most `requests` in any `per_seconds` window.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimitSpec {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window, in seconds.
    pub per_seconds: u64,
    /// A response header with the requests left in the current window.
    #[serde(default)]
    pub remaining_header: Option<String>,
    /// A response header with the seconds until the window resets.
    #[serde(default)]
    pub reset_header: Option<String>,
}

/// Error kinds a spec can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum KindName {
    NotFound,
    Conflict,
    Validation,
    Unauthorized,
    Forbidden,
    RateLimited,
    Unavailable,
    Timeout,
}

/// One object kind's endpoints and field mapping.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ObjectSpec {
    /// Collection path under the base URL (`/contacts`). Records live at `{path}/{id}`.
    pub path: String,
    /// Method that creates (`POST`).
    #[serde(default = "post")]
    pub create_method: String,
    /// Method that updates (`PATCH` or `PUT`).
    #[serde(default = "patch")]
    pub update_method: String,
    /// Method of upserts.
    #[serde(default = "put")]
    pub upsert_method: String,
    /// JSON pointer to the record in single-record responses (`""`: the body is the record).
    #[serde(default)]
    pub record_pointer: String,
    /// Upsert paths by key (`external_id`, `email`, `idempotency_key`); `{value}` is replaced by
    /// the percent-encoded key value.
    #[serde(default)]
    pub upsert: BTreeMap<String, String>,
    /// Vendor field to sort by, descending, for "latest" queries.
    #[serde(default)]
    pub newest_first: Option<String>,
    /// Which records are open: a vendor field and its open values.
    #[serde(default)]
    pub open_filter: Option<OpenFilter>,
    /// Common name → vendor name.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Status value maps (see [`ObjectMapping::states`]).
    #[serde(default)]
    pub states: BTreeMap<String, BTreeMap<String, String>>,
    /// Status labels (see [`ObjectMapping::labels`]).
    #[serde(default)]
    pub labels: BTreeMap<String, BTreeMap<String, String>>,
    /// Enum value maps (see [`ObjectMapping::values`]).
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// Field rules (see [`ObjectMapping::rules`]).
    #[serde(default)]
    pub rules: BTreeMap<String, crm_core::mapping::FieldRule>,
}

fn post() -> String {
    "POST".to_owned()
}
fn patch() -> String {
    "PATCH".to_owned()
}
fn put() -> String {
    "PUT".to_owned()
}

/// Which records count as open.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OpenFilter {
    /// Vendor field.
    pub field: String,
    /// Its open values.
    pub values: Vec<String>,
}

impl ObjectSpec {
    /// The field mapping this object declares.
    pub fn mapping(&self) -> ObjectMapping {
        ObjectMapping {
            fields: self.fields.clone(),
            states: self.states.clone(),
            labels: self.labels.clone(),
            values: self.values.clone(),
            rules: self.rules.clone(),
            pass_through: true,
        }
    }
}

impl Spec {
    /// The default spec (the sandbox's).
    pub fn default_spec() -> Result<Self> {
        Self::parse(DEFAULT_SPEC, "default.toml")
    }

    /// Reads and parses a spec file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(format!("cannot read spec `{}`: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates a spec. `origin` (a file name) prefixes every error.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        // Never toml's own Display: it quotes the offending line.
        let spec: Spec = toml::from_str(text)
            .map_err(|e| crm_core::mapping::toml_config_error(&e, origin, text))?;
        spec.validate(origin)?;
        Ok(spec)
    }

    /// The spec's default mapping: the mapping table of each object it declares, by mapping
    /// target (`contact`, `activity`...). A connection's mapping file is laid over it.
    pub fn default_mapping(&self) -> BTreeMap<String, ObjectMapping> {
        ObjectKind::ALL
            .into_iter()
            .filter_map(|k| self.object(k).map(|o| (k.as_str().to_owned(), o.mapping())))
            .collect()
    }

    /// The object spec for a kind, if the spec declares it.
    pub fn object(&self, kind: ObjectKind) -> Option<&ObjectSpec> {
        self.objects.get(kind.as_str())
    }

    /// The phone region.
    pub fn region(&self) -> Result<Region> {
        Region::parse(&self.phone_region)
    }

    fn validate(&self, origin: &str) -> Result<()> {
        let err = |msg: String| Err(Error::config(format!("{origin}: {msg}")));
        if self.spec_version != 1 {
            return err(format!(
                "spec_version {} is not supported (only 1)",
                self.spec_version
            ));
        }
        if self.id_field.is_empty() {
            return err("id_field is empty".into());
        }
        Region::parse(&self.phone_region)
            .map_err(|e| Error::config(format!("{origin}: phone_region: {}", e.message())))?;
        if self.auth.kind == AuthKind::ApiKey && self.auth.header.is_none() {
            return err("auth.header is required when auth.kind = \"api_key\"".into());
        }
        let p = &self.paging;
        if p.max_page_size == 0 {
            return err("paging.max_page_size must be at least 1".into());
        }
        let needs = |key: &str, v: &Option<String>| -> Result<()> {
            match v {
                Some(s) if !s.is_empty() => Ok(()),
                _ => Err(Error::config(format!(
                    "{origin}: paging.{key} is required for paging.style = \"{}\"",
                    match p.style {
                        PagingStyle::Cursor => "cursor",
                        PagingStyle::Offset => "offset",
                        PagingStyle::Page => "page",
                        PagingStyle::Link => "link",
                    }
                ))),
            }
        };
        match p.style {
            PagingStyle::Cursor => {
                needs("cursor_param", &p.cursor_param)?;
                needs("next_cursor_pointer", &p.next_cursor_pointer)?;
            }
            PagingStyle::Offset => needs("offset_param", &p.offset_param)?,
            PagingStyle::Page => needs("page_param", &p.page_param)?,
            PagingStyle::Link => {}
        }
        let pointers = [
            ("paging.items_pointer", Some(&p.items_pointer)),
            ("paging.next_cursor_pointer", p.next_cursor_pointer.as_ref()),
            ("errors.code_pointer", self.errors.code_pointer.as_ref()),
            (
                "errors.message_pointer",
                self.errors.message_pointer.as_ref(),
            ),
            ("errors.fields_pointer", self.errors.fields_pointer.as_ref()),
            (
                "errors.existing_id_pointer",
                self.errors.existing_id_pointer.as_ref(),
            ),
        ];
        for (key, ptr) in pointers {
            if let Some(ptr) = ptr
                && !ptr.is_empty()
                && !ptr.starts_with('/')
            {
                return err(format!(
                    "{key}: `{ptr}` is not a JSON pointer (it must start with `/`)"
                ));
            }
        }
        if let Some(rl) = &self.rate_limit
            && (rl.requests == 0 || rl.per_seconds == 0)
        {
            return err("rate_limit: requests and per_seconds must be at least 1".into());
        }
        if let Some(w) = &self.webhook {
            if !matches!(w.encoding.as_str(), "hex" | "base64") {
                return err(format!(
                    "webhook.encoding: `{}` is not hex or base64",
                    w.encoding
                ));
            }
            if !w.signed_payload.contains("{body}") {
                return err("webhook.signed_payload must contain {body}".into());
            }
            if w.signed_payload.contains("{timestamp}") && w.timestamp_header.is_none() {
                return err(
                    "webhook.timestamp_header is required when signed_payload uses {timestamp}"
                        .into(),
                );
            }
            for (name, change) in &w.changes {
                if !matches!(
                    change.as_str(),
                    "created" | "updated" | "deleted" | "restored"
                ) {
                    return err(format!(
                        "webhook.changes.{name}: `{change}` is not created, updated, deleted or restored"
                    ));
                }
            }
        }
        if self.objects.is_empty() {
            return err("objects: declare at least one object".into());
        }
        for (name, object) in &self.objects {
            let kind: ObjectKind = name.parse().map_err(|_| {
                Error::config(format!(
                    "{origin}: objects.{name}: unknown object kind (expected contact, account, lead, opportunity, ticket or activity)"
                ))
            })?;
            let at = format!("objects.{name}");
            if !object.path.starts_with('/') {
                return err(format!("{at}.path must start with `/`"));
            }
            for (key, method) in [
                ("create_method", &object.create_method),
                ("update_method", &object.update_method),
                ("upsert_method", &object.upsert_method),
            ] {
                if !matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
                    return err(format!("{at}.{key}: `{method}` is not POST, PUT or PATCH"));
                }
            }
            if !object.record_pointer.is_empty() && !object.record_pointer.starts_with('/') {
                return err(format!("{at}.record_pointer is not a JSON pointer"));
            }
            for (key, template) in &object.upsert {
                if !matches!(key.as_str(), "external_id" | "email" | "idempotency_key") {
                    return err(format!(
                        "{at}.upsert.{key}: upsert keys are external_id, email and idempotency_key"
                    ));
                }
                if !template.starts_with('/') || template.matches("{value}").count() != 1 {
                    return err(format!(
                        "{at}.upsert.{key}: must start with `/` and contain `{{value}}` once"
                    ));
                }
            }
            object
                .mapping()
                .validate(kind, &format!("{origin}: {at}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_valid() {
        let spec = Spec::default_spec().unwrap();
        assert_eq!(spec.objects.len(), 6);
        assert_eq!(spec.paging.style, PagingStyle::Cursor);
    }

    #[test]
    fn the_shipped_mapping_toml_is_the_default_specs_mapping() {
        let shipped = crm_core::mapping::MappingFile::defaults(
            DEFAULT_MAPPING,
            "mapping.toml",
            crate::MAPPING_TARGETS,
        )
        .unwrap();
        let spec = Spec::default_spec().unwrap().default_mapping();
        assert_eq!(spec.len(), 6);
        for (target, mapping) in &spec {
            let from_file = shipped.get(target).cloned().unwrap_or_default();
            assert_eq!(&from_file, mapping, "{target}");
        }
        assert!(shipped.keys().all(|k| spec.contains_key(k)));
    }

    fn broken(from: &str, to: &str) -> Error {
        assert!(DEFAULT_SPEC.contains(from), "{from}");
        Spec::parse(&DEFAULT_SPEC.replacen(from, to, 1), "acme.toml").unwrap_err()
    }

    #[test]
    fn bad_specs_name_the_problem() {
        let e = broken("id_field = \"id\"", "id_field = \"id\"\nid_feild = \"x\"");
        assert!(e.message().contains("acme.toml"), "{}", e.message());
        assert!(e.message().contains("id_feild"), "{}", e.message());
        let line = DEFAULT_SPEC
            .lines()
            .position(|l| l.starts_with("id_field"))
            .map(|i| i + 2)
            .unwrap();
        assert!(
            e.message()
                .starts_with(&format!("acme.toml:{line}:1: id_feild:")),
            "{}",
            e.message()
        );

        // A value of the wrong type is named by its key, never shown.
        let e = broken("max_page_size = 100", "max_page_size = \"hundred-secret\"");
        assert!(
            e.message().contains("paging.max_page_size"),
            "{}",
            e.message()
        );
        assert!(!e.message().contains("hundred-secret"), "{}", e.message());

        let e = broken("path = \"/contacts\"\n", "");
        assert!(e.message().contains("path"), "{}", e.message());

        let e = broken("cursor_param = \"cursor\"\n", "");
        assert!(
            e.message().contains("paging.cursor_param"),
            "{}",
            e.message()
        );

        let e = broken("[objects.account]", "[objects.company]");
        assert!(e.message().contains("objects.company"), "{}", e.message());

        let e = broken("solved = \"closed\"", "solved = \"finished\"");
        assert!(
            e.message().contains("states.status.solved"),
            "{}",
            e.message()
        );

        let e = broken("kind = \"bearer\"", "kind = \"api_key\"");
        assert!(e.message().contains("auth.header"), "{}", e.message());

        let e = broken("items_pointer = \"/data\"", "items_pointer = \"data\"");
        assert!(e.message().contains("JSON pointer"), "{}", e.message());

        let e = broken(
            "title = \"job_title\"",
            "title = \"job_title\"\nemail = \"job_title\"",
        );
        assert!(e.message().contains("both map"), "{}", e.message());
        assert_eq!(e.kind(), &crm_core::ErrorKind::Config);
    }
}

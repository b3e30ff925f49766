//! The connection's settings: [`HubSpotConfig`], the keys that set it from strings
//! ([`HubSpotConfigKey`], `CRM_HUBSPOT_*` environment variables) and the enums they take.
//!
//! Every key and its default is listed in `docs.md`.

use std::str::FromStr;
use std::time::Duration;

pub use crm_core::limits::RateLimit;
use crm_core::raw::{parse_flag, parse_number};
use crm_core::reexports::secrecy::SecretString;
use crm_core::{Error, Result};

/// HubSpot's API host, as every HubSpot API spec declares it.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";

/// Which of HubSpot's two path families requests use (its OpenAPI specs). Shapes are the same.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PathFamily {
    /// `/crm/v3/objects/...`, `/crm/v4/...` associations, `/crm/v3/pipelines/...`.
    #[default]
    V3,
    /// The date-versioned family, `/crm/objects/{version}/...` (`2026-03`).
    Dated(String),
}

impl PathFamily {
    /// The date-versioned family of March 2026, the current docs' default.
    pub fn dated_2026_03() -> Self {
        PathFamily::Dated("2026-03".to_owned())
    }
}

impl FromStr for PathFamily {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("v3") {
            return Ok(PathFamily::V3);
        }
        // `2026-03`, or a suffixed version such as `2026-09-beta`.
        let valid = t.len() >= 7
            && t.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                0..7 => b.is_ascii_digit(),
                _ => b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-',
            });
        if valid {
            Ok(PathFamily::Dated(t.to_owned()))
        } else {
            Err(Error::config(format!(
                "path_family: `{s}` is neither `v3` nor a version like `2026-03`"
            )))
        }
    }
}

/// What kind of app the token belongs to, which sets the 10-second burst budget
/// (HubSpot's API usage guidelines). Requests are tagged with the buckets `general` and `search`; a
/// [`crm_core::limits::RateLimiter`] given to the builder decides the pacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AppKind {
    /// A private app on Free or Starter: 100 requests per 10 s.
    PrivateStarter,
    /// A private app on Professional or Enterprise: 190 requests per 10 s.
    #[default]
    PrivateProfessional,
    /// A private app with the API limit increase: 250 requests per 10 s.
    PrivateWithLimitIncrease,
    /// A public (OAuth) app: 110 requests per 10 s per installing account.
    PublicApp,
}

impl AppKind {
    /// Requests allowed per rolling 10 seconds.
    pub fn burst_per_10s(self) -> u32 {
        match self {
            AppKind::PrivateStarter => 100,
            AppKind::PrivateProfessional => 190,
            AppKind::PrivateWithLimitIncrease => 250,
            AppKind::PublicApp => 110,
        }
    }

    /// Search requests allowed per second (any app).
    pub fn search_per_second(self) -> u32 {
        5
    }
}

impl FromStr for AppKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "private_starter" | "starter" | "free" | "100" => Ok(AppKind::PrivateStarter),
            "private_professional" | "professional" | "enterprise" | "190" => {
                Ok(AppKind::PrivateProfessional)
            }
            "private_with_limit_increase" | "limit_increase" | "250" => {
                Ok(AppKind::PrivateWithLimitIncrease)
            }
            "public_app" | "public" | "oauth" | "110" => Ok(AppKind::PublicApp),
            _ => Err(Error::config(format!(
                "app: `{s}` is not one of private_starter, private_professional, private_with_limit_increase, public_app"
            ))),
        }
    }
}

/// Which HubSpot object holds conversation logs. Either way the log is marked: by
/// `activity_kind_property` when one is configured, otherwise by a first body line
/// [`crate::CONVERSATION_LOG_MARKER`], which needs nothing but a stock portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConversationLogAs {
    /// A note (`hs_note_body`). The default: a chat
    /// transcript is written text, and notes show in every record's timeline.
    #[default]
    Note,
    /// A call (`hs_call_title` + `hs_call_body`).
    Call,
}

impl FromStr for ConversationLogAs {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "note" | "notes" => Ok(ConversationLogAs::Note),
            "call" | "calls" => Ok(ConversationLogAs::Call),
            _ => Err(Error::config(format!(
                "conversation_log_as: `{s}` is neither `note` nor `call`"
            ))),
        }
    }
}

/// The connection's settings. Build one with [`crate::HubSpotBuilder`]; every field has a
/// setter there and a key in [`HubSpotConfigKey`]. Secrets are [`SecretString`]s, whose
/// `Debug` prints `[REDACTED]`, so the derived `Debug` never shows them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HubSpotConfig {
    /// API base URL. Default [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// Path family. Default [`PathFamily::V3`].
    pub path_family: PathFamily,
    /// App kind (burst budget). Default [`AppKind::PrivateProfessional`].
    pub app: AppKind,
    /// Private-app token (`pat-na1-…`).
    pub token: Option<SecretString>,
    /// OAuth client id.
    pub client_id: Option<String>,
    /// OAuth client secret.
    pub client_secret: Option<SecretString>,
    /// OAuth refresh token.
    pub refresh_token: Option<SecretString>,
    /// ISO region for phone numbers stored without a country code. Default `US`.
    pub phone_region: String,
    /// Unique custom property holding `external_id` (lookups, upserts). Default none: a stock
    /// portal has no such property, so look-ups and upserts by external id fail with an
    /// `Unsupported` error naming this setting before any request, and the capabilities say
    /// so. `crm-connect doctor` checks that a property named here exists with unique values.
    pub external_id_property: Option<String>,
    /// Unique custom property holding idempotency keys, on every object used. Default none:
    /// idempotent creates are off, and a create that carries an idempotency key fails with a
    /// `Config` error before any request (a stock portal has no such property). `crm-connect
    /// doctor` checks that the property exists with unique values.
    pub idempotency_property: Option<String>,
    /// Contact property holding a lead's `source`. Default none: a lead's `source` is not
    /// sent. HubSpot's own source properties do not fit: `hs_analytics_source` ("Original
    /// source") is set by HubSpot's analytics and takes only its fixed options
    /// (`ORGANIC_SEARCH`, `OFFLINE`...), not a free-text source such as `chat`. `crm-connect
    /// doctor` checks that a property named here exists.
    pub lead_source_property: Option<String>,
    /// Custom property marking conversation logs among notes (or calls) with the value
    /// `conversation_log`. Default none: logs are marked by their first body line
    /// ([`crate::CONVERSATION_LOG_MARKER`]), which works on a stock portal.
    pub activity_kind_property: Option<String>,
    /// Which object holds conversation logs. Default [`ConversationLogAs::Note`].
    pub conversation_log_as: ConversationLogAs,
    /// The `lifecyclestage` value that makes a contact a lead. Default `lead`.
    pub lead_lifecycle_stage: String,
    /// Also match phones on HubSpot's calculated `hs_searchable_calculated_phone_number`
    /// (digits without country code). Default `false`.
    pub phone_search_calculated: bool,
    /// How long pipelines are cached. Default 5 minutes.
    pub pipelines_ttl: Duration,
    /// Name of the connection in audit records. Default `hubspot`.
    pub connection_name: String,
    /// The app's request budget when it is not the [`AppKind`]'s (`rate_limit = "190/10s"`).
    /// A ceiling: HubSpot's `X-HubSpot-RateLimit-Max` headers may lower it, never raise it.
    /// Default none: the app kind's budget, re-sized to whatever HubSpot's headers state.
    pub rate_limit: Option<RateLimit>,
}

impl Default for HubSpotConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            path_family: PathFamily::V3,
            app: AppKind::default(),
            token: None,
            client_id: None,
            client_secret: None,
            refresh_token: None,
            phone_region: "US".to_owned(),
            external_id_property: None,
            idempotency_property: None,
            lead_source_property: None,
            activity_kind_property: None,
            conversation_log_as: ConversationLogAs::Note,
            lead_lifecycle_stage: "lead".to_owned(),
            phone_search_calculated: false,
            pipelines_ttl: Duration::from_secs(300),
            connection_name: "hubspot".to_owned(),
            rate_limit: None,
        }
    }
}

crm_core::config_keys! {
    /// A configuration key, for [`crate::HubSpotBuilder::with_config`] and `CRM_HUBSPOT_<KEY>`
    /// environment variables; a name parses with or without that prefix, and with the aliases
    /// `access_token` and `private_app_token` (`token`), `api_base_url` and `url`
    /// (`base_url`), `requests_per_10s` (`rate_limit`), `idempotency_field` (the shared name,
    /// `idempotency_property`).
    pub enum HubSpotConfigKey {
        vendor: "HubSpot",
        env_prefix: "CRM_HUBSPOT_",
        aliases: {
            "access_token" => "token",
            "private_app_token" => "token",
            "api_base_url" => "base_url",
            "url" => "base_url",
            "requests_per_10s" => "rate_limit",
            "idempotency_field" => "idempotency_property",
        },
        /// `base_url`.
        BaseUrl = "base_url",
        /// `path_family`: `v3` or a version such as `2026-03`.
        PathFamily = "path_family",
        /// `app`: `private_starter`, `private_professional`, `private_with_limit_increase`,
        /// `public_app`.
        App = "app",
        /// `token`: a private-app token.
        Token = "token",
        /// `client_id`.
        ClientId = "client_id",
        /// `client_secret`.
        ClientSecret = "client_secret",
        /// `refresh_token`.
        RefreshToken = "refresh_token",
        /// `phone_region`.
        PhoneRegion = "phone_region",
        /// `external_id_property` (empty disables).
        ExternalIdProperty = "external_id_property",
        /// `idempotency_property` (empty disables).
        IdempotencyProperty = "idempotency_property",
        /// `lead_source_property` (empty disables).
        LeadSourceProperty = "lead_source_property",
        /// `activity_kind_property` (empty disables).
        ActivityKindProperty = "activity_kind_property",
        /// `conversation_log_as`: `note` or `call`.
        ConversationLogAs = "conversation_log_as",
        /// `lead_lifecycle_stage`.
        LeadLifecycleStage = "lead_lifecycle_stage",
        /// `phone_search_calculated`: `true`/`false`.
        PhoneSearchCalculated = "phone_search_calculated",
        /// `pipelines_ttl_secs`.
        PipelinesTtlSecs = "pipelines_ttl_secs",
        /// `connection_name`.
        ConnectionName = "connection_name",
        /// `rate_limit`: requests per window, `190/10s` or `100/1s` (alias `requests_per_10s`
        /// with a bare number: `190`).
        RateLimit = "rate_limit",
    }
}

fn optional(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

impl HubSpotConfig {
    /// Sets one key from text. Fails on a value that does not parse, naming the key.
    pub fn set(&mut self, key: HubSpotConfigKey, value: &str) -> Result<()> {
        use HubSpotConfigKey as K;
        match key {
            K::BaseUrl => self.base_url = value.trim().to_owned(),
            K::PathFamily => self.path_family = value.parse()?,
            K::App => self.app = value.parse()?,
            K::Token => self.token = optional(value).map(SecretString::from),
            K::ClientId => self.client_id = optional(value),
            K::ClientSecret => self.client_secret = optional(value).map(SecretString::from),
            K::RefreshToken => self.refresh_token = optional(value).map(SecretString::from),
            K::PhoneRegion => self.phone_region = value.trim().to_owned(),
            K::ExternalIdProperty => self.external_id_property = optional(value),
            K::IdempotencyProperty => self.idempotency_property = optional(value),
            K::LeadSourceProperty => self.lead_source_property = optional(value),
            K::ActivityKindProperty => self.activity_kind_property = optional(value),
            K::ConversationLogAs => self.conversation_log_as = value.parse()?,
            K::LeadLifecycleStage => self.lead_lifecycle_stage = value.trim().to_owned(),
            K::PhoneSearchCalculated => {
                // Empty is off, as an empty property name is.
                self.phone_search_calculated =
                    !value.trim().is_empty() && parse_flag(key.as_str(), value)?;
            }
            K::PipelinesTtlSecs => {
                self.pipelines_ttl = Duration::from_secs(parse_number(key.as_str(), value)?);
            }
            K::ConnectionName => self.connection_name = value.trim().to_owned(),
            K::RateLimit => {
                self.rate_limit = optional(value).map(|v| parse_rate(&v)).transpose()?;
            }
        }
        Ok(())
    }

    /// Checks what can be checked without the network; errors name the key.
    pub(crate) fn validate(&self) -> Result<()> {
        check_base_url(&self.base_url)?;
        crm_core::Region::parse(&self.phone_region)
            .map_err(|e| Error::config(format!("phone_region: {}", e.message())))?;
        for (key, value) in [
            ("external_id_property", &self.external_id_property),
            ("idempotency_property", &self.idempotency_property),
            ("lead_source_property", &self.lead_source_property),
            ("activity_kind_property", &self.activity_kind_property),
        ] {
            if let Some(name) = value {
                let ok = name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !ok {
                    return Err(Error::config(format!(
                        "{key}: `{name}` is not a HubSpot internal property name (lower case, digits, `_`)"
                    )));
                }
            }
        }
        if self.lead_lifecycle_stage.is_empty() {
            return Err(Error::config("lead_lifecycle_stage: must not be empty"));
        }
        if self.pipelines_ttl.is_zero() {
            return Err(Error::config("pipelines_ttl_secs: must be more than zero"));
        }
        let oauth = [
            self.client_id.is_some(),
            self.client_secret.is_some(),
            self.refresh_token.is_some(),
        ];
        if oauth.iter().any(|b| *b) && !oauth.iter().all(|b| *b) {
            return Err(Error::config(
                "client_id, client_secret and refresh_token: OAuth needs all three",
            ));
        }
        Ok(())
    }
}

/// The first segments of HubSpot's API paths after `crm` (`/crm/v3/objects`,
/// `/crm/objects/2026-03`, `/crm/v4/associations`...).
const CRM_API_SEGMENTS: [&str; 7] = [
    "objects",
    "associations",
    "pipelines",
    "properties",
    "owners",
    "schemas",
    "imports",
];

/// Refuses a `base_url` whose path already holds one of HubSpot's API paths.
///
/// HubSpot's documentation writes every endpoint out in full
/// (`https://api.hubapi.com/crm/v3/objects/contacts`), so `…/crm/v3` is a natural thing to
/// copy into `base_url`. The SDK adds those paths itself, so every request would then go to
/// `/crm/v3/crm/v3/…`, which HubSpot does not serve. Refused here, before any request, rather
/// than found out one 404 at a time. A path of its own (a proxy's prefix) is fine.
fn check_base_url(base_url: &str) -> Result<()> {
    // The value is not repeated: a URL can carry a password in its user part.
    let url = crm_core::reexports::url::Url::parse(base_url.trim()).map_err(|_| {
        Error::config(format!(
            "base_url: not a URL; give HubSpot's API root ({DEFAULT_BASE_URL})"
        ))
    })?;
    let segments: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
    let api_path = segments.windows(2).position(|pair| {
        let [first, next] = pair else {
            return false;
        };
        let next = next.to_ascii_lowercase();
        let version = next
            .strip_prefix('v')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        first.eq_ignore_ascii_case("crm") && (version || CRM_API_SEGMENTS.contains(&next.as_str()))
    });
    let oauth = segments
        .iter()
        .position(|s| s.eq_ignore_ascii_case("oauth"));
    match api_path.or(oauth) {
        None => Ok(()),
        Some(at) => Err(Error::config(format!(
            "base_url: give HubSpot's API root ({DEFAULT_BASE_URL}), not a URL ending in `/{}`; \
             the SDK adds the API paths itself",
            segments.get(at..).unwrap_or_default().join("/")
        ))),
    }
}

/// HubSpot's rolling window for an app's request budget (HubSpot's API usage guidelines):
/// private apps get 100 (Free, Starter), 190 (Professional, Enterprise) or 250 (with the API
/// limit increase) requests per 10 seconds, public apps 110 per installing account.
pub const WINDOW: Duration = Duration::from_secs(10);

/// A `rate_limit` setting: `190/10s`, `100/1s`, or a bare count per [`WINDOW`] (the
/// `requests_per_10s` alias).
pub(crate) fn parse_rate(text: &str) -> crm_core::Result<RateLimit> {
    RateLimit::parse(text, "rate_limit", Some(WINDOW))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_accept_aliases() {
        for k in HubSpotConfigKey::ALL {
            assert_eq!(k.as_ref().parse::<HubSpotConfigKey>().unwrap(), k);
            assert!(k.env_var().starts_with("CRM_HUBSPOT_"));
        }
        assert_eq!(
            "CRM_HUBSPOT_ACCESS_TOKEN"
                .parse::<HubSpotConfigKey>()
                .unwrap(),
            HubSpotConfigKey::Token
        );
        let err = "tokn".parse::<HubSpotConfigKey>().unwrap_err();
        assert!(err.message().contains("tokn"));
    }

    #[test]
    fn values_parse_or_name_the_key() {
        let mut c = HubSpotConfig::default();
        c.set(HubSpotConfigKey::PathFamily, "2026-03").unwrap();
        assert_eq!(c.path_family, PathFamily::dated_2026_03());
        assert!(c.set(HubSpotConfigKey::PathFamily, "v4").is_err());
        assert!(c.set(HubSpotConfigKey::PathFamily, "2026-3").is_err());
        assert!(c.set(HubSpotConfigKey::PathFamily, "2026-0é").is_err());
        c.set(HubSpotConfigKey::PathFamily, "2026-09-beta").unwrap();
        c.set(HubSpotConfigKey::PathFamily, "2026-03").unwrap();
        c.set(HubSpotConfigKey::App, "public_app").unwrap();
        assert_eq!(c.app.burst_per_10s(), 110);
        let e = c
            .set(HubSpotConfigKey::PhoneSearchCalculated, "maybe")
            .unwrap_err();
        assert!(e.message().contains("phone_search_calculated"));
        c.set(HubSpotConfigKey::ExternalIdProperty, "").unwrap();
        assert_eq!(c.external_id_property, None);
        c.set(HubSpotConfigKey::IdempotencyProperty, "Bad-Name")
            .unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .message()
                .contains("idempotency_property")
        );
    }

    #[test]
    fn endpoint_a_base_url_holding_an_api_path_is_refused() {
        for bad in [
            "https://api.hubapi.com/crm/v3",
            "https://api.hubapi.com/crm/v3/",
            "http://127.0.0.1:8080/crm/v4/objects",
            "https://api.hubapi.com/crm/objects/2026-03",
            "https://proxy.example/hubspot/crm/v3/objects/contacts",
            "https://api.hubapi.com/CRM/V3",
            "https://api.hubapi.com/oauth/v1/token",
        ] {
            let err = check_base_url(bad).unwrap_err();
            assert_eq!(err.kind(), &crm_core::ErrorKind::Config, "{bad}");
            let text = err.message();
            assert!(
                text.starts_with("base_url: give HubSpot's API root"),
                "{text}"
            );
            assert!(text.contains("https://api.hubapi.com"), "{text}");
            assert!(text.contains("the SDK adds the API paths"), "{text}");
        }
        assert!(
            check_base_url("https://api.hubapi.com/crm/v3")
                .unwrap_err()
                .message()
                .contains("not a URL ending in `/crm/v3`")
        );
        for good in [
            "https://api.hubapi.com",
            "https://api.hubapi.com/",
            "http://127.0.0.1:8080",
            "https://gateway.example/crm",
            "https://gateway.example/crm/hubspot",
        ] {
            assert!(check_base_url(good).is_ok(), "{good}");
        }
        assert!(check_base_url("api.hubapi.com").is_err());
    }

    #[test]
    fn stock_portal_defaults_name_no_custom_property() {
        let c = HubSpotConfig::default();
        assert_eq!(c.external_id_property, None);
        assert_eq!(c.lead_source_property, None);
        assert_eq!(c.idempotency_property, None);
        assert_eq!(c.activity_kind_property, None);
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut c = HubSpotConfig::default();
        c.set(HubSpotConfigKey::Token, "pat-na1-supersecret")
            .unwrap();
        c.set(HubSpotConfigKey::ClientSecret, "cs-supersecret")
            .unwrap();
        let text = format!("{c:?}");
        assert!(!text.contains("supersecret"), "{text}");
    }
}

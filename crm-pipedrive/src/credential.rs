//! Where a connection's credential comes from (Pipedrive's "Authentication" page): a user's
//! personal API token, sent in the `x-api-token` header (not the `api_token` query parameter,
//! which would put it in every access log), or an OAuth access token sent as a bearer token.
//!
//! OAuth access tokens last an hour and come from `https://oauth.pipedrive.com/oauth/token` with
//! the refresh-token grant, the app authenticated by HTTP Basic (`client_id:client_secret`)
//! and the refresh token rotating on every grant. Core's token cache takes the refreshing; this
//! module only names the endpoint and builds the static credentials.

use crm_core::Result;
use crm_core::credential::StaticCredential;
use crm_core::reexports::secrecy::SecretString;

/// The header an API token goes in.
pub const API_TOKEN_HEADER: &str = "x-api-token";

/// Pipedrive's OAuth token endpoint.
pub const TOKEN_URL: &str = "https://oauth.pipedrive.com/oauth/token";

/// A personal API token, in its header.
pub fn api_token(token: SecretString) -> Result<StaticCredential> {
    StaticCredential::api_key(API_TOKEN_HEADER, token)
}

/// An OAuth access token obtained elsewhere (the app's install flow), as a bearer token.
pub fn access_token(token: SecretString) -> StaticCredential {
    StaticCredential::bearer(token)
}

//! The OAuth 2.1 authorization server of every OAuth-enabled integration (`docs/oauth.md`):
//! clients, consent, grants, codes and tokens. The HTTP side is `api/rest/oauth.rs`.
//!
//! * **Clients** register dynamically (RFC 7591) without state: the client id *is* the
//!   registration (name and redirect URIs) with a MAC under a key derived from the master key,
//!   so every replica recognises it and nothing is stored per client.
//! * **A grant** is created when a person approves a client on the consent page by entering
//!   the integration's API key; it is bound to the integration, the endpoint (the `resource`,
//!   RFC 8707) and that key's id, and it dies when the key is rotated out, the integration is
//!   deleted or the grant is revoked. Its code and refresh tokens are stored as SHA-256 only.
//! * **Access tokens** are short-lived Ed25519 JWTs (`mcpgw_shared::access_token`), verified by
//!   data planes with the public keys the snapshot stream carries, against the grants the
//!   integration's snapshot lists.

mod client_metadata;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use mcpgw_runtime::logging::LogSafe;
use mcpgw_shared::access_token::{self, Claims, SigningKey};
use mcpgw_shared::{apikey, ids::is_valid_id, now_millis, pb};
use ring::hmac;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::views::GrantView;
use super::{Change, Service, ServiceError, authorize_integration, parse_uuid};
use crate::jwt::Caller;
use crate::store::{ApiKeyRecord, GrantRecord, IntegrationRecord, McpRecord, WriteSet, keys};

/// How long an authorization code lives.
const CODE_LIFETIME_MS: i64 = 60_000;
/// How long a consent form stays valid.
const CONSENT_LIFETIME_SECS: u64 = 600;
/// Bounds on registrations: the client id carries them.
const MAX_REDIRECT_URIS: usize = 5;
const MAX_URI_LEN: usize = 512;
const MAX_CLIENT_NAME: usize = 100;

/// The authorization server's settings.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// The issuer: the control plane's public URL (no trailing slash).
    pub issuer: String,
    /// Access-token lifetime in seconds (at most an hour).
    pub token_ttl_secs: u64,
    /// The signing key's generation: tokens are signed with this one, and data planes also
    /// accept the one before it, so a rotation never cuts off tokens in flight.
    pub key_generation: u32,
    /// Ranges client metadata documents may be fetched from besides public addresses.
    pub client_metadata_allow: Vec<ipnet::IpNet>,
    /// Extra CAs for client metadata documents' TLS certificates (PEM file).
    pub client_metadata_ca: Option<std::path::PathBuf>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            token_ttl_secs: 3600,
            key_generation: 1,
            client_metadata_allow: Vec::new(),
            client_metadata_ca: None,
        }
    }
}

/// What OAuth needs at run time: settings and the keys derived from the master key.
pub struct OAuth {
    config: OAuthConfig,
    documents: Option<client_metadata::ClientMetadata>,
    signing: Vec<SigningKey>,
    client_mac: hmac::Key,
    consent_mac: hmac::Key,
}

impl OAuth {
    /// Derives the keys of `config` from the sealer's master key.
    pub(crate) fn new(config: OAuthConfig, sealer: &crate::seal::Sealer) -> Self {
        let generation = config.key_generation.max(1);
        let signing = (generation.saturating_sub(1).max(1)..=generation)
            .rev()
            .filter_map(|g| {
                SigningKey::from_seed(&sealer.derive(&format!("oauth signing key {g}"))).ok()
            })
            .collect();
        let documents = client_metadata::ClientMetadata::new(
            config.client_metadata_allow.clone(),
            config.client_metadata_ca.as_deref(),
        )
        .map_err(|e| tracing::error!(error = %e, "client metadata documents cannot be fetched"))
        .ok();
        Self {
            documents,
            signing,
            client_mac: hmac::Key::new(hmac::HMAC_SHA256, &sealer.derive("oauth client ids")),
            consent_mac: hmac::Key::new(hmac::HMAC_SHA256, &sealer.derive("oauth consent")),
            config: OAuthConfig {
                issuer: config.issuer.trim_end_matches('/').to_owned(),
                token_ttl_secs: config.token_ttl_secs.clamp(60, 3600),
                key_generation: generation,
                ..config
            },
        }
    }

    /// The issuer URL.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }
}

/// A registered client (it travels inside its client id).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Client {
    /// `client_name`.
    #[serde(rename = "n")]
    pub name: String,
    /// `redirect_uris`, matched exactly.
    #[serde(rename = "r")]
    pub redirect_uris: Vec<String>,
}

/// An OAuth protocol error (RFC 6749 §5.2 codes), answered as `{"error", "error_description"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`,
    /// `invalid_target`, `invalid_client_metadata`, `invalid_redirect_uri`, `access_denied`.
    pub code: &'static str,
    /// For people.
    pub description: String,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

/// Either a protocol error or the service's own (storage, ...).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// Answered to the client per the OAuth specs.
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// Answered as the admin API answers it (problem+json, 5xx for storage).
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<crate::store::StoreError> for FlowError {
    fn from(e: crate::store::StoreError) -> Self {
        FlowError::Service(e.into())
    }
}

/// The parameters of an authorization request (the query of `GET /oauth/authorize`, echoed
/// in the consent form).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct AuthorizeParams {
    #[serde(default)]
    pub response_type: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub redirect_uri: String,
    #[serde(default)]
    pub code_challenge: String,
    #[serde(default)]
    pub code_challenge_method: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub scope: Option<String>,
}

/// A validated authorization request: what the consent page shows.
#[derive(Debug, Clone)]
pub struct Consent {
    pub params: AuthorizeParams,
    pub client: Client,
    pub tenant: String,
    pub integration: String,
    pub integration_name: String,
    /// `mcp:call` or `mcp:test`.
    pub endpoint: String,
    /// The consent form's anti-forgery token (it binds the parameters and an expiry).
    pub csrf: String,
}

/// Where the browser goes next: the client's redirect URI with a code or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect(pub String);

/// A token response (RFC 6749 §5.1).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    pub scope: &'static str,
}

fn invalid_token() -> OAuthError {
    OAuthError::new("invalid_grant", "the code or token is not valid")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn sha256(text: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// `{prefix}{tenant}.{integration}.{grant id}.{secret}`: the grant is read directly by its
/// key (ids never contain `.`, base64url never does), the secret checked by hash.
fn bearer_secret(prefix: &str, grant: &GrantRecord, secret: &[u8]) -> String {
    format!(
        "{prefix}{}.{}.{}.{}",
        grant.tenant,
        grant.integration_id,
        grant.id.simple(),
        B64.encode(secret)
    )
}

/// The grant's key a code or refresh token names.
fn grant_of(prefix: &str, token: &str) -> Option<keys::Key> {
    let mut parts = token.strip_prefix(prefix)?.split('.');
    let (Some(tenant), Some(integration), Some(id), Some(_), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if !is_valid_id(tenant) || !is_valid_id(integration) {
        return None;
    }
    Some(keys::grant(tenant, integration, Uuid::try_parse(id).ok()?))
}

/// Whether a presented code or refresh token is the live one or one already spent.
enum Presented {
    Live,
    Spent,
}

const CODE_PREFIX: &str = "mcpgw_code_";
const REFRESH_PREFIX: &str = "mcpgw_refresh_";

/// Whether `uri` may be a redirect URI: `https`, or `http` to a loopback host (native apps,
/// RFC 8252), absolute, without a fragment.
fn redirect_uri_ok(uri: &str) -> bool {
    let Ok(parsed) = uri.parse::<http::Uri>() else {
        return false;
    };
    if uri.len() > MAX_URI_LEN || uri.contains('#') || uri.chars().any(char::is_control) {
        return false;
    }
    let host = parsed.host().unwrap_or_default();
    match parsed.scheme_str() {
        Some("https") => !host.is_empty(),
        // Not `[::1]`: a CSP `form-action` source cannot name an IPv6 literal, so the
        // browser would refuse to follow the consent's redirect there.
        Some("http") => matches!(host, "localhost" | "127.0.0.1"),
        _ => false,
    }
}

/// The origin (`scheme://authority`) of a redirect URI, for the consent page's CSP.
#[must_use]
pub fn origin_of(uri: &str) -> Option<String> {
    let parsed = uri.parse::<http::Uri>().ok()?;
    let authority = parsed.authority()?.as_str();
    // Goes into a CSP header: host and port characters only.
    authority
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
        .then(|| format!("{}://{authority}", parsed.scheme_str().unwrap_or("https")))
}

impl Service {
    /// The OAuth settings and keys.
    #[must_use]
    pub fn oauth(&self) -> &OAuth {
        &self.oauth
    }

    /// What data planes need to verify tokens: issuer, public keys, the resources' base.
    #[must_use]
    pub fn oauth_issuer(&self) -> pb::OAuthIssuer {
        pb::OAuthIssuer {
            issuer: self.oauth.config.issuer.clone(),
            keys: self
                .oauth
                .signing
                .iter()
                .map(|k| pb::SigningPublicKey {
                    kid: k.kid().to_owned(),
                    public_key: k.public_key().to_vec(),
                })
                .collect(),
            public_mcp_url: self.public_mcp_url.clone(),
        }
    }

    /// RFC 7591 registration: validates the metadata and returns the client id that carries
    /// it.
    ///
    /// # Errors
    /// `invalid_redirect_uri` / `invalid_client_metadata`.
    pub fn register_client(
        &self,
        name: Option<&str>,
        redirect_uris: &[String],
    ) -> Result<(String, Client), OAuthError> {
        if redirect_uris.is_empty() || redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(OAuthError::new(
                "invalid_redirect_uri",
                format!("between 1 and {MAX_REDIRECT_URIS} redirect_uris are required"),
            ));
        }
        if let Some(bad) = redirect_uris.iter().find(|u| !redirect_uri_ok(u)) {
            let shown: String = bad.chars().take(80).collect();
            return Err(OAuthError::new(
                "invalid_redirect_uri",
                format!(
                    "'{shown}' is not an absolute https URI (or http to a loopback host) \
                     without a fragment"
                ),
            ));
        }
        let name = name.unwrap_or("MCP client").trim();
        if name.chars().count() > MAX_CLIENT_NAME || name.chars().any(char::is_control) {
            return Err(OAuthError::new(
                "invalid_client_metadata",
                format!("client_name must be at most {MAX_CLIENT_NAME} printable characters"),
            ));
        }
        let client = Client {
            name: if name.is_empty() { "MCP client" } else { name }.to_owned(),
            redirect_uris: redirect_uris.to_vec(),
        };
        let body = B64.encode(serde_json::to_vec(&client).unwrap_or_default());
        let tag = hmac::sign(&self.oauth.client_mac, body.as_bytes());
        Ok((
            format!("mcpgw_client_{body}.{}", B64.encode(&tag.as_ref()[..16])),
            client,
        ))
    }

    /// The client a client id names, if it is one this server registered.
    fn client(&self, client_id: &str) -> Option<Client> {
        let (body, tag) = client_id.strip_prefix("mcpgw_client_")?.split_once('.')?;
        if client_id.len() > 4096 {
            return None;
        }
        let expected = hmac::sign(&self.oauth.client_mac, body.as_bytes());
        let tag = B64.decode(tag).ok()?;
        if tag.len() != 16 || !bool::from(tag.ct_eq(&expected.as_ref()[..16])) {
            return None;
        }
        serde_json::from_slice(&B64.decode(body).ok()?).ok()
    }

    /// The `(tenant, integration, endpoint)` a resource URL names, if it is one of this
    /// gateway's endpoints.
    fn resource(&self, resource: &str) -> Option<(String, String, String)> {
        let path = resource.strip_prefix(&self.public_mcp_url)?;
        let mut parts = path.strip_prefix("/v1/tenants/")?.split('/');
        let (Some(tenant), Some("integrations"), Some(integration), Some(endpoint), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        (is_valid_id(tenant)
            && is_valid_id(integration)
            && matches!(endpoint, "mcp:call" | "mcp:test"))
        .then(|| {
            (
                tenant.to_owned(),
                integration.to_owned(),
                endpoint.to_owned(),
            )
        })
    }

    /// The settings of an integration that exists and has OAuth enabled.
    fn oauth_integration(
        &self,
        tenant: &str,
        integration: &str,
    ) -> Result<(IntegrationRecord, McpRecord), OAuthError> {
        let not_served = || {
            OAuthError::new(
                "invalid_target",
                "the resource is not an integration that accepts OAuth",
            )
        };
        let record: IntegrationRecord = self
            .store
            .get(&keys::integration(tenant, integration))
            .ok()
            .flatten()
            .ok_or_else(not_served)?;
        let mcp: McpRecord = self
            .store
            .get(&keys::mcp(tenant, integration))
            .ok()
            .flatten()
            .ok_or_else(not_served)?;
        if !mcp.oauth_enabled {
            return Err(not_served());
        }
        Ok((record, mcp))
    }

    /// Checks the client and its redirect URI. Until both are known good, errors are shown
    /// to the person, never redirected (an open redirector otherwise).
    async fn checked_client(&self, params: &AuthorizeParams) -> Result<Client, OAuthError> {
        let client = if client_metadata::is_document_url(&params.client_id) {
            match &self.oauth.documents {
                Some(documents) => documents.fetch(&params.client_id).await?,
                None => {
                    return Err(OAuthError::new(
                        "invalid_client",
                        "client metadata documents are not available",
                    ));
                }
            }
        } else {
            self.client(&params.client_id)
                .ok_or_else(|| OAuthError::new("invalid_client", "unknown client_id"))?
        };
        if !client
            .redirect_uris
            .iter()
            .any(|u| u == &params.redirect_uri)
        {
            return Err(OAuthError::new(
                "invalid_request",
                "redirect_uri is not one the client registered",
            ));
        }
        Ok(client)
    }

    /// Validates an authorization request: `Ok(Ok(consent))` to show the consent page,
    /// `Ok(Err(redirect))` to send the browser back with an error, `Err` to show an error page.
    ///
    /// # Errors
    /// An unknown client or redirect URI.
    pub async fn authorize(&self, mut params: AuthorizeParams) -> Result<Consent, OAuthError> {
        params.scope = params.scope.filter(|s| !s.trim().is_empty());
        let client = self.checked_client(&params).await?;
        // Registration is open to anyone, so a registered redirect URI proves nothing: errors
        // are shown to the person, never redirected (no open redirector). Only a person's own
        // "Deny" goes back to the client.
        let back = |code: &'static str, description: &str| -> Result<Consent, OAuthError> {
            Err(OAuthError::new(code, description.to_owned()))
        };
        if params.response_type != "code" {
            return back("unsupported_response_type", "response_type must be code");
        }
        if params.state.is_empty() || params.state.len() > 512 {
            return back("invalid_request", "state is required");
        }
        if params.code_challenge_method != "S256"
            || !(43..=128).contains(&params.code_challenge.len())
        {
            return back(
                "invalid_request",
                "PKCE with code_challenge_method S256 is required",
            );
        }
        if let Some(scope) = &params.scope
            && !scope
                .split(' ')
                .all(|s| s.is_empty() || s == access_token::SCOPE)
        {
            return back("invalid_scope", "the only scope is mcp:invoke");
        }
        let Some((tenant, integration, endpoint)) = self.resource(&params.resource) else {
            return back(
                "invalid_target",
                "resource must be the URL of an integration's MCP endpoint",
            );
        };
        let (record, _) = self.oauth_integration(&tenant, &integration)?;
        let csrf = self.consent_token(&params, now_secs() + CONSENT_LIFETIME_SECS);
        Ok(Consent {
            params,
            client,
            tenant,
            integration,
            integration_name: record.display_name,
            endpoint,
            csrf,
        })
    }

    fn consent_token(&self, params: &AuthorizeParams, expires: u64) -> String {
        let bound = serde_json::to_vec(&(params, expires)).unwrap_or_default();
        let tag = hmac::sign(&self.oauth.consent_mac, &bound);
        format!("{expires}.{}", B64.encode(tag.as_ref()))
    }

    fn consent_token_ok(&self, params: &AuthorizeParams, token: &str) -> bool {
        let Some((expires, _)) = token.split_once('.') else {
            return false;
        };
        let Ok(expires) = expires.parse::<u64>() else {
            return false;
        };
        expires >= now_secs()
            && bool::from(
                self.consent_token(params, expires)
                    .as_bytes()
                    .ct_eq(token.as_bytes()),
            )
    }

    fn redirect_with(&self, redirect_uri: &str, pairs: &[(&str, &str)], state: &str) -> String {
        let mut url = redirect_uri.to_owned();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        let iss = self.oauth.config.issuer.clone();
        for (k, v) in pairs
            .iter()
            .copied()
            .chain([("state", state), ("iss", iss.as_str())])
        {
            if v.is_empty() {
                continue;
            }
            url.push(sep);
            url.push_str(k);
            url.push('=');
            url.push_str(&percent_encode(v));
            sep = '&';
        }
        url
    }

    /// The person's answer on the consent page. Approving with the integration's live API
    /// key creates a grant and returns the redirect carrying its code; a wrong key is
    /// `Ok(Err(message))` (the page is shown again).
    ///
    /// # Errors
    /// A form that was not issued by this server, or expired; storage.
    pub async fn approve(
        &self,
        params: AuthorizeParams,
        csrf: &str,
        approve: bool,
        api_key: &str,
    ) -> Result<Result<Redirect, &'static str>, FlowError> {
        let consent = self.authorize(params).await?;
        if !self.consent_token_ok(&consent.params, csrf) {
            return Err(OAuthError::new(
                "invalid_request",
                "the consent form expired or was not issued by this server; start again",
            )
            .into());
        }
        let p = &consent.params;
        if !approve {
            return Ok(Ok(Redirect(self.redirect_with(
                &p.redirect_uri,
                &[
                    ("error", "access_denied"),
                    ("error_description", "the request was declined"),
                ],
                &p.state,
            ))));
        }
        let (tenant, integration) = (consent.tenant.as_str(), consent.integration.as_str());
        // The key is checked before the write lock (a wrong key never takes it), and the
        // integration's live key is read again under it.
        let live_key = || -> Result<Option<ApiKeyRecord>, FlowError> {
            let (_, mcp) = self.oauth_integration(tenant, integration)?;
            Ok(match mcp.api_key_id {
                Some(id) => self
                    .store
                    .get::<ApiKeyRecord>(&keys::api_key(id))?
                    .filter(|k| k.revoked_at.is_none()),
                None => None,
            })
        };
        let Some(key) = live_key()? else {
            return Ok(Err("this integration has no API key yet: enable MCP first"));
        };
        if !apikey::verify(api_key.trim(), &key.hash) {
            return Ok(Err("that is not this integration's API key"));
        }
        let guard = self.lock(tenant).await?;
        if live_key()?.map(|k| k.id) != Some(key.id) {
            return Ok(Err("the integration's key changed meanwhile: try again"));
        }
        let id = Uuid::now_v7();
        let secret: [u8; 32] = self.sealer.random().map_err(ServiceError::from)?;
        let mut grant = GrantRecord {
            id,
            tenant: tenant.to_owned(),
            integration_id: integration.to_owned(),
            client_id: p.client_id.clone(),
            client_name: consent.client.name.clone(),
            redirect_uri: p.redirect_uri.clone(),
            resource: p.resource.clone(),
            key_id: key.id,
            code_hash: None,
            code_used: false,
            code_challenge: p.code_challenge.clone(),
            code_expires_at: now_millis() + CODE_LIFETIME_MS,
            refresh_hash: None,
            previous_refresh_hash: None,
            created_at: now_millis(),
            last_used_at: None,
        };
        let code = bearer_secret(CODE_PREFIX, &grant, &secret);
        grant.code_hash = Some(sha256(&code));
        let mut w = WriteSet::default();
        w.put(&keys::grant(tenant, integration, id), &grant)?;
        self.commit(
            guard,
            &Caller::system(&format!("oauth-consent:{}", consent.client.name)),
            Change {
                tenant,
                integration,
                action: "oauth.grant",
                target: format!("{integration}/grants/{id}"),
            },
            w,
        )
        .await?;
        Ok(Ok(Redirect(self.redirect_with(
            &p.redirect_uri,
            &[("code", code.as_str())],
            &p.state,
        ))))
    }

    /// The grant stored under `key`, with its integration's live key id.
    fn grant_at(&self, key: &keys::Key) -> Result<(GrantRecord, Option<Uuid>), OAuthError> {
        let grant: GrantRecord = self
            .store
            .get(key)
            .ok()
            .flatten()
            .ok_or_else(invalid_token)?;
        let live = self
            .oauth_integration(&grant.tenant, &grant.integration_id)
            .ok()
            .and_then(|(_, mcp)| mcp.api_key_id);
        Ok((grant, live))
    }

    /// Checks a code exchange against `grant`: whether the code is the grant's (live or
    /// already exchanged), and everything else the exchange must match.
    fn check_code(
        grant: &GrantRecord,
        live: Option<Uuid>,
        code: &str,
        verifier: &str,
        client: (&str, &str),
        resource: Option<&str>,
    ) -> Result<Presented, OAuthError> {
        let (client_id, redirect_uri) = client;
        let invalid = |why: &str| OAuthError::new("invalid_grant", why.to_owned());
        let ours = grant
            .code_hash
            .is_some_and(|h| bool::from(h.ct_eq(&sha256(code))));
        if !ours {
            return Err(invalid("the code is not valid"));
        }
        if grant.code_used {
            return Ok(Presented::Spent);
        }
        if grant.code_expires_at < now_millis() {
            return Err(invalid("the code expired"));
        }
        if grant.client_id != client_id || grant.redirect_uri != redirect_uri {
            return Err(invalid(
                "client_id or redirect_uri differ from the authorization",
            ));
        }
        if resource.is_some_and(|r| r != grant.resource) {
            return Err(OAuthError::new(
                "invalid_target",
                "resource differs from the authorization",
            ));
        }
        let challenge = B64.encode(sha256(verifier));
        if verifier.len() < 43
            || verifier.len() > 128
            || !bool::from(challenge.as_bytes().ct_eq(grant.code_challenge.as_bytes()))
        {
            return Err(invalid("the PKCE code_verifier does not match"));
        }
        if live != Some(grant.key_id) {
            return Err(invalid("the integration's key changed since the approval"));
        }
        Ok(Presented::Live)
    }

    /// Checks a refresh against `grant`: the live refresh token, or the one it replaced.
    fn check_refresh(
        grant: &GrantRecord,
        live: Option<Uuid>,
        refresh_token: &str,
        client_id: &str,
        resource: Option<&str>,
    ) -> Result<Presented, OAuthError> {
        let invalid = |why: &str| OAuthError::new("invalid_grant", why.to_owned());
        let presented = sha256(refresh_token);
        let is = |h: Option<[u8; 32]>| h.is_some_and(|h| bool::from(h.ct_eq(&presented)));
        if is(grant.previous_refresh_hash) {
            return Ok(Presented::Spent);
        }
        if !is(grant.refresh_hash) || grant.client_id != client_id {
            return Err(invalid("the refresh token is not valid"));
        }
        if resource.is_some_and(|r| r != grant.resource) {
            return Err(OAuthError::new(
                "invalid_target",
                "resource differs from the authorization",
            ));
        }
        if live != Some(grant.key_id) {
            return Err(invalid("the integration's key changed since the approval"));
        }
        Ok(Presented::Live)
    }

    /// `grant_type=authorization_code`.
    ///
    /// # Errors
    /// `invalid_grant` for anything wrong with the code, verifier, client, redirect URI or
    /// resource (a reused code also revokes its grant); storage.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        client_id: &str,
        redirect_uri: &str,
        resource: Option<&str>,
    ) -> Result<TokenResponse, FlowError> {
        let key = grant_of(CODE_PREFIX, code).ok_or_else(invalid_token)?;
        let client = (client_id, redirect_uri);
        // Checked before the write lock, so a caller holding nothing valid never takes it;
        // then again under it, against what is current.
        let (grant, live) = self.grant_at(&key)?;
        Self::check_code(&grant, live, code, verifier, client, resource)?;
        let guard = self.lock(&grant.tenant).await?;
        let (mut grant, live) = self.grant_at(&key)?;
        match Self::check_code(&grant, live, code, verifier, client, resource)? {
            Presented::Spent => self.replayed(guard, &grant, "oauth.code-reuse").await,
            Presented::Live => {
                grant.code_used = true;
                self.issue(guard, grant, "oauth.token").await
            }
        }
    }

    /// `grant_type=refresh_token`: a new access token and a new refresh token; the old one
    /// is spent (presenting it again revokes the grant).
    ///
    /// # Errors
    /// `invalid_grant`; storage.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client_id: &str,
        resource: Option<&str>,
    ) -> Result<TokenResponse, FlowError> {
        let key = grant_of(REFRESH_PREFIX, refresh_token).ok_or_else(invalid_token)?;
        let (grant, live) = self.grant_at(&key)?;
        Self::check_refresh(&grant, live, refresh_token, client_id, resource)?;
        let guard = self.lock(&grant.tenant).await?;
        let (grant, live) = self.grant_at(&key)?;
        match Self::check_refresh(&grant, live, refresh_token, client_id, resource)? {
            Presented::Spent => self.replayed(guard, &grant, "oauth.refresh-reuse").await,
            Presented::Live => self.issue(guard, grant, "oauth.refresh").await,
        }
    }

    /// A grant's own spent code or refresh token presented again: whoever holds it, the grant
    /// is no longer trusted, and is revoked.
    async fn replayed(
        &self,
        guard: super::WriteGuard,
        grant: &GrantRecord,
        action: &'static str,
    ) -> Result<TokenResponse, FlowError> {
        self.revoke_grant_locked(guard, grant, action).await?;
        Err(OAuthError::new(
            "invalid_grant",
            "the code or refresh token was already used; the grant is revoked",
        )
        .into())
    }

    /// Stores a new refresh token for `grant` and returns it with a new access token.
    async fn issue(
        &self,
        guard: super::WriteGuard,
        mut grant: GrantRecord,
        action: &'static str,
    ) -> Result<TokenResponse, FlowError> {
        let secret: [u8; 32] = self.sealer.random().map_err(ServiceError::from)?;
        let refresh = bearer_secret(REFRESH_PREFIX, &grant, &secret);
        grant.previous_refresh_hash = grant.refresh_hash;
        grant.refresh_hash = Some(sha256(&refresh));
        grant.last_used_at = Some(now_millis());
        let mut w = WriteSet::default();
        let (tenant, integration) = (grant.tenant.clone(), grant.integration_id.clone());
        w.put(&keys::grant(&tenant, &integration, grant.id), &grant)?;
        self.commit(
            guard,
            &Caller::system(&format!("oauth-client:{}", grant.client_name)),
            Change {
                tenant: &tenant,
                integration: &integration,
                action,
                target: format!("{integration}/grants/{}", grant.id),
            },
            w,
        )
        .await?;
        let now = now_secs();
        let claims = Claims {
            iss: self.oauth.config.issuer.clone(),
            aud: grant.resource.clone(),
            sub: grant.id.to_string(),
            client_id: grant.client_id.clone(),
            scope: access_token::SCOPE.to_owned(),
            iat: now,
            exp: now + self.oauth.config.token_ttl_secs,
            key_id: grant.key_id.to_string(),
            jti: Uuid::new_v4().to_string(),
        };
        let Some(key) = self.oauth.signing.first() else {
            return Err(ServiceError::Unavailable("no signing key".into()).into());
        };
        Ok(TokenResponse {
            access_token: key.sign(&claims),
            token_type: "Bearer",
            expires_in: self.oauth.config.token_ttl_secs,
            refresh_token: refresh,
            scope: access_token::SCOPE,
        })
    }

    async fn revoke_grant_locked(
        &self,
        guard: super::WriteGuard,
        grant: &GrantRecord,
        action: &'static str,
    ) -> Result<(), ServiceError> {
        let mut w = WriteSet::default();
        w.delete(&keys::grant(&grant.tenant, &grant.integration_id, grant.id));
        tracing::warn!(grant = %grant.id, client = %LogSafe(&grant.client_name), action, "OAuth grant revoked");
        self.commit(
            guard,
            &Caller::system("oauth"),
            Change {
                tenant: &grant.tenant,
                integration: &grant.integration_id,
                action,
                target: format!("{}/grants/{}", grant.integration_id, grant.id),
            },
            w,
        )
        .await
        .map(drop)
    }

    /// RFC 7009: revokes the grant a refresh token or an access token belongs to. Unknown
    /// tokens are not an error (the answer never tells them apart).
    ///
    /// # Errors
    /// Storage.
    pub async fn revoke_token(&self, token: &str) -> Result<(), FlowError> {
        // Only a token that proves itself (a valid signature, or a refresh token's hash)
        // revokes anything, and it is checked before the write lock is taken.
        let jwt = access_token::looks_like_jwt(token);
        let key = if jwt {
            let keys = &self.oauth.signing;
            access_token::verify(
                token,
                |kid| {
                    keys.iter()
                        .find(|k| k.kid() == kid)
                        .map(SigningKey::public_key)
                },
                now_secs(),
            )
            .ok()
            .and_then(|c| {
                let (tenant, integration, _) = self.resource(&c.aud)?;
                Some(keys::grant(
                    &tenant,
                    &integration,
                    Uuid::try_parse(&c.sub).ok()?,
                ))
            })
        } else {
            grant_of(REFRESH_PREFIX, token)
        };
        let Some(key) = key else {
            return Ok(());
        };
        let proves = |grant: &GrantRecord| {
            jwt || {
                let presented = sha256(token);
                [grant.refresh_hash, grant.previous_refresh_hash]
                    .into_iter()
                    .flatten()
                    .any(|h| bool::from(h.ct_eq(&presented)))
            }
        };
        let tenant = match self.grant_at(&key) {
            Ok((grant, _)) if proves(&grant) => grant.tenant,
            _ => return Ok(()),
        };
        let guard = self.lock(&tenant).await?;
        let Ok((grant, _)) = self.grant_at(&key) else {
            return Ok(());
        };
        self.revoke_grant_locked(guard, &grant, "oauth.revoke")
            .await?;
        Ok(())
    }

    /// The grants of an integration (admin view).
    ///
    /// # Errors
    /// Forbidden, not found, storage.
    pub fn list_grants(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
    ) -> Result<Vec<GrantView>, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        self.integration_record(tenant, integration)?;
        let grants: Vec<GrantRecord> = self.store.scan(&keys::grants(tenant, integration))?;
        Ok(grants
            .into_iter()
            .map(|g| GrantView {
                id: g.id,
                client_id: g.client_id,
                client_name: g.client_name,
                key_id: g.key_id,
                created_at: g.created_at,
                last_used_at: g.last_used_at,
            })
            .collect())
    }

    /// Revokes one grant (admin): its tokens stop working on every data plane.
    ///
    /// # Errors
    /// Forbidden, not found, storage.
    pub async fn delete_grant(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        grant_id: &str,
    ) -> Result<(), ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        let id = parse_uuid("grantId", grant_id)?;
        let guard = self.lock(tenant).await?;
        let key = keys::grant(tenant, integration, id);
        if self.store.get::<GrantRecord>(&key)?.is_none() {
            return Err(ServiceError::not_found("grant", grant_id));
        }
        let mut w = WriteSet::default();
        w.delete(&key);
        self.commit(
            guard,
            caller,
            Change {
                tenant,
                integration,
                action: "oauth.grant.delete",
                target: format!("{integration}/grants/{id}"),
            },
            w,
        )
        .await
        .map(drop)
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_or_loopback_http_without_fragments() {
        for ok in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://localhost:3000/callback",
            "http://127.0.0.1:8976/cb?x=1",
        ] {
            assert!(redirect_uri_ok(ok), "{ok}");
        }
        for bad in [
            "http://evil.example/cb",
            "https://x/cb#frag",
            "javascript:alert(1)",
            "/relative",
            "ftp://x/y",
            "http://[::1]:3000/cb",
            "",
        ] {
            assert!(!redirect_uri_ok(bad), "{bad}");
        }
    }

    #[test]
    fn secrets_name_their_grant_and_nothing_else_parses() {
        let id = Uuid::now_v7();
        let grant = GrantRecord {
            id,
            tenant: "acme".into(),
            integration_id: "crm".into(),
            client_id: String::new(),
            client_name: String::new(),
            redirect_uri: String::new(),
            resource: String::new(),
            key_id: id,
            code_hash: None,
            code_used: false,
            code_challenge: String::new(),
            code_expires_at: 0,
            refresh_hash: None,
            previous_refresh_hash: None,
            created_at: 0,
            last_used_at: None,
        };
        let code = bearer_secret(CODE_PREFIX, &grant, &[1; 32]);
        assert_eq!(
            grant_of(CODE_PREFIX, &code),
            Some(keys::grant("acme", "crm", id))
        );
        assert_eq!(grant_of(REFRESH_PREFIX, &code), None);
        for bad in [
            "mcpgw_code_nonsense",
            "mcpgw_code_a.b.c",
            "mcpgw_code_a/b.crm.00000000000000000000000000000000.x",
            "mcpgw_code_acme.crm.not-a-uuid.x",
        ] {
            assert_eq!(grant_of(CODE_PREFIX, bad), None, "{bad}");
        }
        assert_eq!(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}

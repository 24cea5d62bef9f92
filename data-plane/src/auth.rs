//! Authentication of MCP requests: an API key, or an OAuth access token.
//!
//! The credential comes from `Authorization: Bearer` or `X-API-Key`. A key's shape and
//! checksum are checked first (no lookup for garbage), then its public prefix finds the one
//! candidate in O(1), and the SHA-256 of the presented key is compared with the stored hash in
//! constant time. An access token (a JWT, for integrations with OAuth enabled) is verified
//! against the issuer's published keys and must name this endpoint as its audience, a grant
//! the integration still lists, and the integration's live key. Failures never echo the
//! credential.

use http::HeaderMap;
use mcpgw_shared::{access_token, apikey};

use crate::state::{OAuthIssuer, Served};

/// Why a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No key presented.
    #[error("an API key is required (Authorization: Bearer <key> or X-API-Key)")]
    Missing,
    /// Malformed, bad checksum, unknown or revoked.
    #[error("the API key is not valid")]
    Invalid,
    /// A valid key of another integration or tenant.
    #[error("the API key is not valid for this integration")]
    WrongIntegration,
    /// An access token signed a moment ago (within the last 10 s) for this endpoint whose
    /// grant the served snapshot does not list yet: the snapshot carrying it is on its way
    /// (the control plane published it before answering the client). The caller may wait a
    /// moment for it; if it never comes, this is [`AuthError::Invalid`].
    #[error("the API key is not valid")]
    GrantPending,
}

impl AuthError {
    /// The metrics label.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Invalid | AuthError::GrantPending => "invalid",
            AuthError::WrongIntegration => "wrong_integration",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated {
    /// The key's id (rate limits are per key).
    pub key_id: uuid::Uuid,
}

/// The key presented on the request, if any.
///
/// # Errors
/// [`AuthError::Invalid`] when the request is ambiguous about its key: several
/// `Authorization` or `X-API-Key` headers, or both carrying different keys (a proxy and the
/// gateway could each read another one).
pub fn presented_key(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let single = |name: http::header::HeaderName| {
        let mut values = headers.get_all(name).iter();
        let first = values.next();
        if values.next().is_some() {
            return Err(AuthError::Invalid);
        }
        Ok(first.and_then(|v| v.to_str().ok()))
    };
    let bearer = single(http::header::AUTHORIZATION)?.and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    let api_key = single(http::header::HeaderName::from_static("x-api-key"))?.map(str::trim);
    match (bearer, api_key) {
        (Some(a), Some(b)) if a != b => Err(AuthError::Invalid),
        (Some(key), _) | (None, Some(key)) => Ok(Some(key)),
        (None, None) => Ok(None),
    }
}

/// Authenticates the request's key or access token for `endpoint` of `integration`.
///
/// # Errors
/// [`AuthError`] for a missing, invalid, revoked or misdirected credential.
pub fn authenticate(
    served: &Served,
    issuer: Option<&OAuthIssuer>,
    headers: &HeaderMap,
    (tenant, integration, endpoint): (&str, &str, &str),
) -> Result<Authenticated, AuthError> {
    let presented = presented_key(headers)?
        .filter(|k| !k.is_empty())
        .ok_or(AuthError::Missing)?;
    if access_token::looks_like_jwt(presented) {
        return authenticate_token(served, issuer, presented, (tenant, integration, endpoint));
    }
    // Shape only: the hash comparison below decides (a checksum would cost a second digest).
    let prefix = apikey::key_prefix(presented).map_err(|_| AuthError::Invalid)?;
    let key = served.key(prefix).ok_or(AuthError::Invalid)?;
    if !apikey::verify(presented, &key.hash) {
        return Err(AuthError::Invalid);
    }
    if key.integration.tenant != tenant || key.integration.integration_id != integration {
        return Err(AuthError::WrongIntegration);
    }
    Ok(Authenticated { key_id: key.key_id })
}

/// An OAuth access token: signed by the announced issuer, for this endpoint, under a grant the
/// integration lists, approved with its live key. Anything else is [`AuthError::Invalid`].
fn authenticate_token(
    served: &Served,
    issuer: Option<&OAuthIssuer>,
    token: &str,
    (tenant, integration, endpoint): (&str, &str, &str),
) -> Result<Authenticated, AuthError> {
    let issuer = issuer.ok_or(AuthError::Invalid)?;
    let runtime = served
        .integration(tenant, integration)
        .ok_or(AuthError::Invalid)?;
    let grants = runtime.snapshot.oauth.as_ref().ok_or(AuthError::Invalid)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims =
        access_token::verify(token, |kid| issuer.key(kid), now).map_err(|_| AuthError::Invalid)?;
    let grant = uuid::Uuid::try_parse(&claims.sub).map_err(|_| AuthError::Invalid)?;
    let key_id = uuid::Uuid::try_parse(&claims.key_id).map_err(|_| AuthError::Invalid)?;
    let meant_here = claims.iss == issuer.issuer
        && claims.aud == issuer.resource(tenant, integration, endpoint)
        && claims.scope.split(' ').any(|s| s == access_token::SCOPE);
    if !meant_here {
        return Err(AuthError::Invalid);
    }
    if !grants.contains(&grant) {
        return Err(if claims.iat + 10 >= now {
            AuthError::GrantPending
        } else {
            AuthError::Invalid
        });
    }
    if runtime.snapshot.keys.first().map(|k| k.key_id) != Some(key_id) {
        return Err(AuthError::Invalid);
    }
    Ok(Authenticated { key_id })
}

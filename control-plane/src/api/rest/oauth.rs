//! The OAuth authorization server's HTTP side (RFC 8414 metadata, RFC 7591 registration, the
//! consent page, the token and revocation endpoints) over `service::oauth`. Protocol errors
//! answer `{"error", "error_description"}`; errors before the client's redirect URI is known
//! good are shown to the person, never redirected.

use axum::Form;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::service::oauth::{AuthorizeParams, Consent, FlowError, OAuthError, origin_of};

/// Browser-based clients read metadata and call the token endpoint cross-origin.
fn cors(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, mcp-protocol-version"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    response
}

/// Every answer of ours is not to be cached, and keeps its own error format.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.extensions_mut().insert(super::problem::AsIs);
    response
}

fn oauth_error(e: &OAuthError) -> Response {
    let status = if e.code == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    cors(no_store(
        (
            status,
            axum::Json(json!({"error": e.code, "error_description": e.description})),
        )
            .into_response(),
    ))
}

fn flow_error(e: FlowError) -> Response {
    match e {
        FlowError::OAuth(e) => oauth_error(&e),
        FlowError::Service(e) => cors(super::problem::ApiError::Service(e).into_response()),
    }
}

/// `OPTIONS` on the endpoints browsers call cross-origin.
pub async fn preflight() -> Response {
    cors(StatusCode::NO_CONTENT.into_response())
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414), also served at the OpenID
/// discovery path clients probe.
pub async fn metadata(State(s): State<AppState>) -> Response {
    let issuer = s.service.oauth().issuer();
    cors(
        axum::Json(json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth/authorize"),
            "token_endpoint": format!("{issuer}/oauth/token"),
            "registration_endpoint": format!("{issuer}/oauth/register"),
            "revocation_endpoint": format!("{issuer}/oauth/revoke"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": [mcpgw_shared::access_token::SCOPE],
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": true,
        }))
        .into_response(),
    )
}

/// The registration request fields this server reads (others are ignored, as RFC 7591
/// allows).
#[derive(Deserialize)]
struct Registration {
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    client_name: Option<String>,
}

/// `POST /oauth/register` (RFC 7591): a public client (no secret; PKCE instead).
pub async fn register(State(s): State<AppState>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<Registration>(&body) else {
        return oauth_error(&OAuthError {
            code: "invalid_client_metadata",
            description: "the body must be a JSON object with redirect_uris".into(),
        });
    };
    match s
        .service
        .register_client(req.client_name.as_deref(), &req.redirect_uris)
    {
        Ok((client_id, client)) => cors(no_store(
            (
                StatusCode::CREATED,
                axum::Json(json!({
                    "client_id": client_id,
                    "client_id_issued_at": mcpgw_shared::now_millis() / 1000,
                    "client_name": client.name,
                    "redirect_uris": client.redirect_uris,
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "none",
                    "scope": mcpgw_shared::access_token::SCOPE,
                })),
            )
                .into_response(),
        )),
        Err(e) => oauth_error(&e),
    }
}

/// Escapes text for HTML element content and attribute values.
fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page of ours: no script, no external anything, not framable, never cached.
fn page(status: StatusCode, form_action: Option<&str>, title: &str, body: &str) -> Response {
    let doc = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title></head><body><main>{body}</main></body></html>",
        html(title)
    );
    let csp = format!(
        "default-src 'none'; form-action 'self'{}; frame-ancestors 'none'; base-uri 'none'",
        form_action.map(|o| format!(" {o}")).unwrap_or_default()
    );
    let mut response = (status, doc).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    no_store(response)
}

fn error_page(e: &OAuthError) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        None,
        "Authorization failed",
        &format!(
            "<h1>This authorization request cannot be served</h1><p>{}</p><p><code>{}</code></p>",
            html(&e.description),
            html(e.code)
        ),
    )
}

fn redirect(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(location) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut().insert(header::LOCATION, location);
            no_store(r)
        }
        Err(_) => error_page(&OAuthError {
            code: "invalid_request",
            description: "the redirect URI cannot be used".into(),
        }),
    }
}

fn consent_page(c: &Consent, problem: Option<&str>) -> Response {
    let p = &c.params;
    let hidden: String = [
        ("response_type", p.response_type.as_str()),
        ("client_id", &p.client_id),
        ("redirect_uri", &p.redirect_uri),
        ("code_challenge", &p.code_challenge),
        ("code_challenge_method", &p.code_challenge_method),
        ("state", &p.state),
        ("resource", &p.resource),
        ("scope", p.scope.as_deref().unwrap_or("")),
        ("csrf", &c.csrf),
    ]
    .iter()
    .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", html(v)))
    .collect();
    let origin = origin_of(&p.redirect_uri).unwrap_or_default();
    let problem = problem
        .map(|m| format!("<p role=\"alert\"><strong>{}</strong></p>", html(m)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Allow {client} to use {name}?</h1>\
         <p><strong>{client}</strong> asks to call the tools of <strong>{name}</strong> \
         (tenant <code>{tenant}</code>, integration <code>{integration}</code>, \
         endpoint <code>{endpoint}</code>) on your behalf. You will be sent back to \
         <code>{origin}</code>.</p>\
         <p>Prove you may use this integration by entering its API key. The client never \
         sees the key; it gets tokens that stop working when the key is rotated.</p>\
         {problem}\
         <form method=\"post\" action=\"/oauth/authorize\">{hidden}\
         <p><label for=\"api_key\">API key</label><br>\
         <input id=\"api_key\" type=\"password\" name=\"api_key\" autocomplete=\"off\" \
         size=\"60\" required></p>\
         <p><button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\" formnovalidate>Deny</button>\
         </p></form>",
        client = html(&c.client.name),
        name = html(&c.integration_name),
        tenant = html(&c.tenant),
        integration = html(&c.integration),
        endpoint = html(&c.endpoint),
        origin = html(&origin),
    );
    page(
        StatusCode::OK,
        Some(&origin),
        &format!("Allow {}?", c.client.name),
        &body,
    )
}

/// `GET /oauth/authorize`: validates the request and shows the consent page.
pub async fn authorize_page(
    State(s): State<AppState>,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    match s.service.authorize(params).await {
        Ok(consent) => consent_page(&consent, None),
        Err(e) => error_page(&e),
    }
}

/// The consent form as submitted.
#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    api_key: String,
}

/// `POST /oauth/authorize`: the person's decision.
pub async fn authorize_submit(
    State(s): State<AppState>,
    Form(form): Form<ConsentForm>,
) -> Response {
    let ConsentForm {
        params,
        csrf,
        decision,
        api_key,
    } = form;
    let approve = decision == "approve";
    match s
        .service
        .approve(params.clone(), &csrf, approve, &api_key)
        .await
    {
        Ok(Ok(back)) => redirect(&back.0),
        Ok(Err(problem)) => match s.service.authorize(params).await {
            Ok(consent) => consent_page(&consent, Some(problem)),
            Err(e) => error_page(&e),
        },
        Err(FlowError::OAuth(e)) => error_page(&e),
        Err(FlowError::Service(e)) => super::problem::ApiError::Service(e).into_response(),
    }
}

/// The token request's fields (RFC 6749 §4.1.3, §6).
#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    code_verifier: String,
    #[serde(default)]
    refresh_token: String,
    #[serde(default)]
    resource: Option<String>,
}

/// The client id of HTTP Basic client authentication, for clients that send it that way.
fn basic_client_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, _) = text.split_once(':')?;
    Some(id.to_owned())
}

/// `POST /oauth/token`.
pub async fn token(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let client_id = if form.client_id.is_empty() {
        basic_client_id(&headers).unwrap_or_default()
    } else {
        form.client_id.clone()
    };
    let resource = form.resource.as_deref().filter(|r| !r.is_empty());
    let result = match form.grant_type.as_str() {
        "authorization_code" => {
            s.service
                .exchange_code(
                    &form.code,
                    &form.code_verifier,
                    &client_id,
                    &form.redirect_uri,
                    resource,
                )
                .await
        }
        "refresh_token" => {
            s.service
                .refresh(&form.refresh_token, &client_id, resource)
                .await
        }
        _ => Err(FlowError::OAuth(OAuthError {
            code: "unsupported_grant_type",
            description: "grant_type must be authorization_code or refresh_token".into(),
        })),
    };
    match result {
        Ok(tokens) => cors(no_store(axum::Json(tokens).into_response())),
        Err(e) => flow_error(e),
    }
}

/// The revocation request (RFC 7009).
#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    token: String,
}

/// `POST /oauth/revoke`: always 200 for a well-formed request.
pub async fn revoke(State(s): State<AppState>, Form(form): Form<RevokeForm>) -> Response {
    match s.service.revoke_token(&form.token).await {
        Ok(()) => cors(StatusCode::OK.into_response()),
        Err(e) => flow_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_everything_that_could_open_markup() {
        assert_eq!(
            html(r#"<script>"x"&'y'</script>"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }
}

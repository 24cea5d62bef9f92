//! OAuth 2.1 for MCP clients, end to end over HTTP as a client and a person would drive it:
//! the data plane's 401 points at its protected-resource metadata, which names the control
//! plane's authorization server; registration, the consent page (approved with the
//! integration's API key), the code exchange with PKCE, calls with the access token, refresh
//! with rotation — and every way a token must stop working or never work.

mod support;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use mcpgw_control_plane::service::Service;
use mcpgw_control_plane::service::views::{McpPatch, OAuthPatch};
use mcpgw_shared::access_token::{Claims, SigningKey};
use serde_json::{Value, json};
use support::{MASTER_KEY, Resp, admin, echo_tool, eventually, ping, rpc, send};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A control plane and a data plane whose public URLs are their real addresses (so discovery
/// leads a client from one to the other).
pub struct Oauth {
    pub cp: mcpgw_control_plane::server::Running,
    pub dp: mcpgw_data_plane::Running,
    pub issuer: String,
    pub dp_base: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Oauth {
    pub async fn start() -> Self {
        Self::start_with(mcpgw_control_plane::service::oauth::OAuthConfig::default()).await
    }

    /// [`Oauth::start`] with these OAuth settings (the issuer is always the real address).
    pub async fn start_with(oauth: mcpgw_control_plane::service::oauth::OAuthConfig) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cp_port, dp_port) = (free_port(), free_port());
        let issuer = format!("http://127.0.0.1:{cp_port}");
        let dp_base = format!("http://127.0.0.1:{dp_port}");
        let cp = mcpgw_control_plane::server::start(mcpgw_control_plane::server::Settings {
            data_dir: dir.path().to_owned(),
            grpc_listen: "127.0.0.1:0".parse().expect("addr"),
            http_listen: format!("127.0.0.1:{cp_port}").parse().expect("addr"),
            public_mcp_url: dp_base.clone(),
            admin_rate: mcpgw_control_plane::api::ratelimit::AdminRate {
                per_second: 0,
                burst: 0,
            },
            secrets: support::secrets(),
            oauth: mcpgw_control_plane::service::oauth::OAuthConfig {
                issuer: issuer.clone(),
                ..oauth
            },
            ..Default::default()
        })
        .await
        .expect("control plane");
        let dp = mcpgw_data_plane::start(mcpgw_data_plane::Settings {
            listen: format!("127.0.0.1:{dp_port}").parse().expect("addr"),
            control_plane: format!("http://{}", cp.grpc_addr),
            token: mcpgw_shared::secret::Secret::new(support::DP_TOKEN),
            workers: 1,
            ..Default::default()
        })
        .await
        .expect("data plane");
        Self {
            cp,
            dp,
            issuer,
            dp_base,
            _dir: dir,
        }
    }

    pub fn service(&self) -> &Arc<Service> {
        &self.cp.service
    }

    pub fn endpoint(&self, integration: &str, which: &str) -> String {
        format!(
            "{}/v1/tenants/acme/integrations/{integration}/{which}",
            self.dp_base
        )
    }

    /// Waits until the data plane serves what the control plane has published.
    pub async fn synced(&self) {
        let target = self.service().publisher().version();
        assert!(
            eventually(Duration::from_secs(10), || async {
                self.dp.store.version() >= target && self.dp.store.oauth().is_some()
            })
            .await,
            "data plane synced"
        );
    }

    /// Rotates the integration's key, waits for the data plane; the new key.
    pub async fn rotate(&self, integration: &str) -> String {
        let key = self
            .service()
            .rotate_key(&admin(), "acme", integration)
            .await
            .expect("rotated")
            .api_key
            .expect("new key")
            .expose()
            .to_owned();
        self.synced().await;
        key
    }

    /// An integration with OAuth enabled; its API key.
    pub async fn integration(&self, id: &str) -> String {
        let key = support::create_enabled(self.service(), "acme", id, &[echo_tool("echo")]).await;
        self.service()
            .update_mcp_settings(
                &admin(),
                "acme",
                id,
                McpPatch {
                    oauth: Some(OAuthPatch {
                        enabled: Some(true),
                    }),
                    ..McpPatch::default()
                },
            )
            .await
            .expect("oauth on");
        self.synced().await;
        key
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn url_encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn url_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&v[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query parameter `name` of `url`.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| url_decode(v))
    })
}

/// A hidden field's value in the consent page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).expect("hidden field") + marker.len();
    let end = start + page[start..].find('"').expect("end of value");
    page[start..end]
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

async fn post_form(url: &str, body: &str) -> Resp {
    send(
        "POST",
        url,
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(body.to_owned()),
    )
    .await
}

/// PKCE: (verifier, S256 challenge).
fn pkce(seed: u8) -> (String, String) {
    let verifier = B64.encode([seed; 48]);
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    (verifier, B64.encode(digest.as_ref()))
}

/// Registers a client; its id.
async fn register(gw: &Oauth) -> String {
    let r = send(
        "POST",
        &format!("{}/oauth/register", gw.issuer),
        &[("content-type", "application/json")],
        Some(json!({"redirect_uris": [REDIRECT], "client_name": "Test <client>"}).to_string()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["token_endpoint_auth_method"], "none");
    r.json()["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned()
}

fn authorize_url(gw: &Oauth, client: &str, challenge: &str, resource: &str, state: &str) -> String {
    format!(
        "{}/oauth/authorize?{}",
        gw.issuer,
        form(&[
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("state", state),
            ("resource", resource),
            ("scope", "mcp:invoke"),
        ])
    )
}

/// The person's part: opens the consent page and approves with `api_key`; the redirect.
async fn consent(gw: &Oauth, authorize: &str, api_key: &str) -> Resp {
    let page = send("GET", authorize, &[], None).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let fields = [
        "response_type",
        "client_id",
        "redirect_uri",
        "code_challenge",
        "code_challenge_method",
        "state",
        "resource",
        "scope",
        "csrf",
    ];
    let mut pairs: Vec<(String, String)> = fields
        .iter()
        .map(|f| ((*f).to_owned(), hidden(&page.text, f)))
        .collect();
    pairs.push(("api_key".into(), api_key.into()));
    pairs.push(("decision".into(), "approve".into()));
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    post_form(&format!("{}/oauth/authorize", gw.issuer), &body).await
}

/// Authorizes `client` for `resource` and exchanges the code: the token response.
async fn authorize(gw: &Oauth, client: &str, resource: &str, api_key: &str, seed: u8) -> Value {
    let (verifier, challenge) = pkce(seed);
    let back = consent(
        gw,
        &authorize_url(gw, client, &challenge, resource, "st8"),
        api_key,
    )
    .await;
    assert_eq!(back.status, 303, "{}", back.text);
    let location = back.header("location").expect("location").to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some("st8"));
    assert_eq!(
        query_param(&location, "iss").as_deref(),
        Some(gw.issuer.as_str())
    );
    let code = query_param(&location, "code").expect("code");
    let r = post_form(
        &format!("{}/oauth/token", gw.issuer),
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", client),
            ("code_verifier", &verifier),
            ("resource", resource),
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()
}

async fn call_status(url: &str, token: &str) -> u16 {
    rpc(url, token, &[], &ping()).await.status
}

/// Polls until `url` answers `token` with `status` (revocations travel the snapshot stream).
async fn until_status(url: &str, token: &str, status: u16) -> bool {
    eventually(Duration::from_secs(5), || async {
        call_status(url, token).await == status
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_discovers_registers_is_approved_and_calls_with_tokens() {
    let gw = Oauth::start().await;
    let key = gw.integration("crm").await;
    let call = gw.endpoint("crm", "mcp:call");

    // Discovery: 401 naming the metadata, which names the authorization server.
    let r = send(
        "POST",
        &call,
        &[("content-type", "application/json")],
        Some(ping().to_string()),
    )
    .await;
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").expect("challenge").to_owned();
    let metadata_url = format!(
        "{}/.well-known/oauth-protected-resource/v1/tenants/acme/integrations/crm/mcp:call",
        gw.dp_base
    );
    assert_eq!(
        challenge,
        format!("Bearer realm=\"mcp\", resource_metadata=\"{metadata_url}\", scope=\"mcp:invoke\"")
    );
    let prm = send("GET", &metadata_url, &[], None).await.json();
    assert_eq!(prm["resource"], call.as_str());
    assert_eq!(prm["authorization_servers"], json!([gw.issuer]));
    assert_eq!(prm["scopes_supported"], json!(["mcp:invoke"]));
    assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
    let asm = send(
        "GET",
        &format!("{}/.well-known/oauth-authorization-server", gw.issuer),
        &[],
        None,
    )
    .await
    .json();
    assert_eq!(asm["issuer"], gw.issuer.as_str());
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(asm["authorization_response_iss_parameter_supported"], true);
    // An integration without OAuth: no metadata, plain challenge.
    let plain = support::create_enabled(gw.service(), "acme", "plain", &[echo_tool("echo")]).await;
    gw.synced().await;
    assert_eq!(
        send(
            "GET",
            &format!("{}/.well-known/oauth-protected-resource/v1/tenants/acme/integrations/plain/mcp:call", gw.dp_base),
            &[],
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        call_status(&gw.endpoint("plain", "mcp:call"), &plain).await,
        200
    );

    // Registration, consent (the page is strict), code, tokens, calls.
    let client = register(&gw).await;
    let (_, challenge) = pkce(1);
    let page = send(
        "GET",
        &authorize_url(&gw, &client, &challenge, &call, "s"),
        &[],
        None,
    )
    .await;
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").expect("csp");
    assert!(
        csp.starts_with("default-src 'none'; form-action 'self' http://127.0.0.1:9"),
        "{csp}"
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(
        page.text.contains("Test &lt;client&gt;"),
        "the client's name is escaped"
    );
    assert!(!page.text.contains("<script"), "no script");
    // A wrong API key shows the page again, with no redirect.
    let wrong = consent(
        &gw,
        &authorize_url(&gw, &client, &challenge, &call, "s"),
        "mcpgw_nope",
    )
    .await;
    assert_eq!(wrong.status, 200);
    assert!(
        wrong.text.contains("not this integration&#39;s API key"),
        "{}",
        wrong.text
    );

    let tokens = authorize(&gw, &client, &call, &key, 1).await;
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let list = rpc(
        &call,
        &access,
        &[],
        &support::request(2, "tools/list", json!({})),
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.json()["result"]["tools"][0]["name"], "echo");
    // The API key keeps working beside OAuth.
    assert_eq!(call_status(&call, &key).await, 200);

    // The token is for mcp:call of crm only.
    assert_eq!(
        call_status(&gw.endpoint("crm", "mcp:test"), &access).await,
        401
    );
    assert_eq!(
        call_status(&gw.endpoint("plain", "mcp:call"), &access).await,
        401
    );

    // Refresh rotates; the spent refresh token revokes the grant when presented again.
    let refresh_form = |token: &str| {
        form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", &client),
        ])
    };
    let renewed = post_form(
        &format!("{}/oauth/token", gw.issuer),
        &refresh_form(&refresh),
    )
    .await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    let access2 = renewed.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    assert_ne!(renewed.json()["refresh_token"], refresh.as_str());
    assert_eq!(call_status(&call, &access2).await, 200);
    let replay = post_form(
        &format!("{}/oauth/token", gw.issuer),
        &refresh_form(&refresh),
    )
    .await;
    assert_eq!(replay.status, 400, "{}", replay.text);
    assert_eq!(replay.json()["error"], "invalid_grant", "{}", replay.text);
    assert!(
        until_status(&call, &access2, 401).await,
        "a replayed refresh token kills the grant"
    );

    // Admin view and revocation of a grant.
    let tokens = authorize(&gw, &client, &call, &key, 2).await;
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    assert_eq!(call_status(&call, &access).await, 200);
    let grants = gw
        .service()
        .list_grants(&admin(), "acme", "crm")
        .expect("grants");
    assert_eq!(
        grants.len(),
        1,
        "the revoked grant is gone, the new one listed"
    );
    assert_eq!(grants[0].client_name, "Test <client>");
    gw.service()
        .delete_grant(&admin(), "acme", "crm", &grants[0].id.to_string())
        .await
        .expect("revoked");
    assert!(
        until_status(&call, &access, 401).await,
        "a revoked grant's tokens stop"
    );

    // Rotating the key ends every grant approved with the old one; a fresh approval with
    // the new key works.
    let tokens = authorize(&gw, &client, &call, &key, 3).await;
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_eq!(call_status(&call, &access).await, 200);
    let new_key = gw.rotate("crm").await;
    assert!(
        until_status(&call, &access, 401).await,
        "rotation ends the old grant's tokens"
    );
    let stale = post_form(
        &format!("{}/oauth/token", gw.issuer),
        &refresh_form(&refresh),
    )
    .await;
    assert_eq!(stale.json()["error"], "invalid_grant");
    let tokens = authorize(&gw, &client, &call, &new_key, 4).await;
    let fresh = tokens["access_token"].as_str().expect("access");
    assert!(until_status(&call, fresh, 200).await);

    // Disabling the integration stops its tokens too (403: disabled), deleting it (404).
    gw.service()
        .update_mcp_settings(
            &admin(),
            "acme",
            "crm",
            McpPatch {
                enabled: Some(false),
                ..McpPatch::default()
            },
        )
        .await
        .expect("disabled");
    assert!(until_status(&call, fresh, 403).await);
    gw.service()
        .delete_integration(&admin(), "acme", "crm")
        .await
        .expect("deleted");
    // Its grants went with it: the token is no longer valid anywhere.
    assert!(
        until_status(&call, fresh, 401).await,
        "a deleted integration's tokens stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_forged_misdirected_or_replayed_credential_is_refused() {
    let gw = Oauth::start().await;
    let key = gw.integration("crm").await;
    let call = gw.endpoint("crm", "mcp:call");
    let client = register(&gw).await;
    let token_url = format!("{}/oauth/token", gw.issuer);

    // Authorization requests that must not go anywhere: unknown client, redirect URI the
    // client did not register (an error page, never a redirect).
    let (verifier, challenge) = pkce(9);
    let bad_client = authorize_url(&gw, "mcpgw_client_forged.AAAA", &challenge, &call, "s");
    assert_eq!(send("GET", &bad_client, &[], None).await.status, 400);
    let other_redirect = authorize_url(&gw, &client, &challenge, &call, "s").replace(
        &url_encode(REDIRECT),
        &url_encode("https://evil.example/cb"),
    );
    let r = send("GET", &other_redirect, &[], None).await;
    assert_eq!(r.status, 400);
    assert!(r.header("location").is_none());
    // Even for a known client and redirect URI, errors are shown, never redirected: anyone
    // can register a client, so its redirect URI proves nothing (no open redirector).
    for (url, error) in [
        (
            authorize_url(&gw, &client, &challenge, &call, ""),
            "invalid_request",
        ),
        (
            authorize_url(&gw, &client, &challenge, &call, "s").replace("S256", "plain"),
            "invalid_request",
        ),
        (
            authorize_url(&gw, &client, &challenge, "https://evil.example/mcp", "s"),
            "invalid_target",
        ),
        (
            authorize_url(&gw, &client, &challenge, &call, "s")
                .replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
    ] {
        let r = send("GET", &url, &[], None).await;
        assert_eq!(r.status, 400, "{url}");
        assert!(r.header("location").is_none(), "{url}");
        assert!(r.text.contains(error), "{url}: {}", r.text);
    }
    // An empty scope is no scope: the consent form still works.
    let (empty_verifier, empty_challenge) = pkce(12);
    let with_empty_scope = authorize_url(&gw, &client, &empty_challenge, &call, "s")
        .replace("scope=mcp%3Ainvoke", "scope=");
    let back = consent(&gw, &with_empty_scope, &key).await;
    assert_eq!(back.status, 303, "{}", back.text);
    // A code naming the grant but not carrying its secret revokes nothing.
    let code = query_param(back.header("location").expect("location"), "code").expect("code");
    let (named, _) = code.rsplit_once('.').expect("secret");
    let exchange_with = |code: String| {
        form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client),
            ("code_verifier", &empty_verifier),
        ])
    };
    let r = post_form(
        &format!("{}/oauth/token", gw.issuer),
        &exchange_with(format!("{named}.AAAA")),
    )
    .await;
    assert_eq!(r.json()["error"], "invalid_grant");
    let r = post_form(&format!("{}/oauth/token", gw.issuer), &exchange_with(code)).await;
    assert_eq!(
        r.status, 200,
        "the grant survives a forged code: {}",
        r.text
    );
    // A consent form not issued by this server.
    let forged = post_form(
        &format!("{}/oauth/authorize", gw.issuer),
        &form(&[
            ("response_type", "code"),
            ("client_id", &client),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "s"),
            ("resource", &call),
            ("csrf", "9999999999.AAAA"),
            ("api_key", &key),
            ("decision", "approve"),
        ]),
    )
    .await;
    assert_eq!(forged.status, 400);

    // Code exchange: wrong verifier, wrong redirect, then reuse.
    let back = consent(
        &gw,
        &authorize_url(&gw, &client, &challenge, &call, "s"),
        &key,
    )
    .await;
    let code = query_param(back.header("location").expect("location"), "code").expect("code");
    let exchange = |verifier: &str, redirect: &str| {
        form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", &client),
            ("code_verifier", verifier),
        ])
    };
    let (other_verifier, _) = pkce(10);
    let r = post_form(&token_url, &exchange(&other_verifier, REDIRECT)).await;
    assert_eq!(r.json()["error"], "invalid_grant");
    let r = post_form(&token_url, &exchange(&verifier, "http://127.0.0.1:9/other")).await;
    assert_eq!(r.json()["error"], "invalid_grant");
    let r = post_form(&token_url, &exchange(&verifier, REDIRECT)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let access = r.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    assert_eq!(call_status(&call, &access).await, 200);
    let r = post_form(&token_url, &exchange(&verifier, REDIRECT)).await;
    assert_eq!(r.json()["error"], "invalid_grant", "a code works once");
    assert!(
        until_status(&call, &access, 401).await,
        "a reused code revokes its grant"
    );
    let r = post_form(&token_url, &form(&[("grant_type", "password")])).await;
    assert_eq!(r.json()["error"], "unsupported_grant_type");

    // Tokens nobody issued for this endpoint, signed with the real key (the test derives it
    // from the master key as the control plane does) or not.
    let tokens = authorize(&gw, &client, &call, &key, 11).await;
    let real = tokens["access_token"].as_str().expect("access").to_owned();
    let claims: Claims = serde_json::from_slice(
        &B64.decode(real.split('.').nth(1).expect("claims"))
            .expect("b64"),
    )
    .expect("claims");
    let sealer = mcpgw_control_plane::seal::Sealer::from_hex(MASTER_KEY).expect("sealer");
    let signer = SigningKey::from_seed(&sealer.derive("oauth signing key 1")).expect("key");
    assert_eq!(signer.sign(&claims).split('.').count(), 3);
    assert_eq!(
        call_status(&call, &signer.sign(&claims)).await,
        200,
        "re-signed the same: valid"
    );
    let now = claims.iat;
    let variants: Vec<(&str, Claims)> = vec![
        (
            "expired",
            Claims {
                exp: now - 1,
                iat: now - 3600,
                ..claims.clone()
            },
        ),
        (
            "other audience",
            Claims {
                aud: gw.endpoint("crm", "mcp:test"),
                ..claims.clone()
            },
        ),
        (
            "other issuer",
            Claims {
                iss: "https://evil.example".into(),
                ..claims.clone()
            },
        ),
        (
            "unknown grant",
            Claims {
                sub: uuid::Uuid::now_v7().to_string(),
                ..claims.clone()
            },
        ),
        (
            "other key",
            Claims {
                key_id: uuid::Uuid::now_v7().to_string(),
                ..claims.clone()
            },
        ),
        (
            "no scope",
            Claims {
                scope: "admin".into(),
                ..claims.clone()
            },
        ),
    ];
    for (what, c) in variants {
        let r = rpc(&call, &signer.sign(&c), &[], &ping()).await;
        assert_eq!(r.status, 401, "{what}");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|h| h.contains("resource_metadata")),
            "{what}"
        );
    }
    // Another key (a forger's), and `alg: none`.
    let forger = SigningKey::from_seed(&[42; 32]).expect("key");
    assert_eq!(call_status(&call, &forger.sign(&claims)).await, 401);
    let parts: Vec<&str> = real.split('.').collect();
    let none = format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none","kid":"x"}"#),
        parts[1]
    );
    assert_eq!(call_status(&call, &none).await, 401);
    let hs = format!(
        "{}.{}.{}",
        B64.encode(br#"{"alg":"HS256","kid":"x"}"#),
        parts[1],
        parts[2]
    );
    assert_eq!(call_status(&call, &hs).await, 401);
    // Revocation endpoint (RFC 7009): the access token's grant ends.
    let r = post_form(
        &format!("{}/oauth/revoke", gw.issuer),
        &form(&[("token", &real)]),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(until_status(&call, &real, 401).await);
    let r = post_form(
        &format!("{}/oauth/revoke", gw.issuer),
        &form(&[("token", "junk")]),
    )
    .await;
    assert_eq!(r.status, 200, "unknown tokens are not an error");
}

/// Runs `tests/python/mcp_oauth_client.py` (the official Python SDK's OAuth client) against
/// `url`, approving with `key`, keeping its tokens in `state`; its one-line report.
async fn python_oauth_client(url: &str, key: &str, mode: &str, state: &std::path::Path) -> Value {
    use support::e2e::{manifest_dir, python_venv};
    let dir = manifest_dir().join("tests").join("python");
    let requirements = dir.join("requirements.txt");
    let python = tokio::task::spawn_blocking(move || python_venv("python-venv", &requirements))
        .await
        .expect("venv");
    let mut cmd = std::process::Command::new(python);
    cmd.arg(dir.join("mcp_oauth_client.py"))
        .args([url, key, mode])
        .arg(state)
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    json_report(
        cmd,
        Duration::from_secs(120),
        &format!("Python OAuth client ({mode})"),
    )
    .await
}

/// Runs `cmd` within `limit`; it must succeed and print one JSON line, its report.
async fn json_report(mut cmd: std::process::Command, limit: Duration, what: &str) -> Value {
    let out = tokio::task::spawn_blocking(move || support::e2e::run_bounded(&mut cmd, limit))
        .await
        .expect("runner thread");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    eprintln!("{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_authorizes_calls_refreshes_and_reauthorizes_after_a_rotation() {
    let gw = Oauth::start().await;
    let key = gw.integration("crm").await;
    let url = gw.endpoint("crm", "mcp:test");
    let dir = tempfile::tempdir().expect("tempdir");
    for mode in ["default", "legacy"] {
        let state = dir.path().join(format!("{mode}.json"));
        let report = python_oauth_client(&url, &key, mode, &state).await;
        eprintln!("{report}");
        assert_eq!(report["sdk"], "2.3.0");
        assert_eq!(report["tools"], json!(["echo"]));
        assert_eq!(report["echo"]["isError"], false, "{report}");
        assert_eq!(report["authorizations"], 1, "{report}");
        assert_eq!(report["refreshed"], true, "{report}");
        assert!(report["unauthorized"].as_u64() >= Some(1), "{report}");
    }
    // The key is rotated: the stored tokens are refused, and the client authorizes again
    // (the person approves with the new key).
    let new_key = gw.rotate("crm").await;
    let state = dir.path().join("default.json");
    let report = python_oauth_client(&url, &new_key, "default", &state).await;
    eprintln!("{report}");
    assert_eq!(
        report["authorizations"], 1,
        "a fresh authorization: {report}"
    );
    assert!(report["unauthorized"].as_u64() >= Some(1), "{report}");
    assert_eq!(report["echo"]["isError"], false, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_authorizes_calls_refreshes_and_reauthorizes_after_a_rotation() {
    let (installed, script) = node_script("oauth_client.mjs").await;
    let gw = Oauth::start().await;
    let key = gw.integration("crm").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let run = |key: String| {
        let mut cmd = std::process::Command::new(&installed.node);
        cmd.arg(&script)
            .args([gw.endpoint("crm", "mcp:test"), key])
            .arg(&state)
            .env_remove("NODE_OPTIONS")
            .env_remove("NODE_PATH");
        json_report(cmd, Duration::from_secs(90), "TypeScript OAuth client")
    };
    let report = run(key).await;
    assert_eq!(
        report["sdk"],
        installed.version("@modelcontextprotocol/sdk")
    );
    assert_eq!(report["tools"], json!(["echo"]));
    assert_eq!(report["echo"]["isError"], false);
    assert_eq!(report["authorizations"], 1);
    assert_eq!(report["refreshed"], true, "{report}");
    // The key is rotated: the kept tokens get 401, and a fresh authorization succeeds.
    let new_key = gw.rotate("crm").await;
    let report = run(new_key).await;
    assert!(report["unauthorized"].as_u64() >= Some(1), "{report}");
    assert_eq!(report["authorizations"], 1, "{report}");
    assert_eq!(report["echo"]["isError"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_page_works_in_a_real_browser_without_javascript() {
    let chromium = std::path::Path::new("/usr/bin/chromium");
    assert!(
        chromium.exists(),
        "Chromium is needed for this test (Debian: apt-get install chromium; .ci/run does)"
    );
    let (installed, script) = node_script("consent_browser.mjs").await;

    let gw = Oauth::start().await;
    let key = gw.integration("crm").await;
    let call = gw.endpoint("crm", "mcp:call");
    // A redirect URI nobody listens on (the browser's request to it is intercepted).
    let redirect = format!("http://127.0.0.1:{}/callback", free_port());
    let registered = send(
        "POST",
        &format!("{}/oauth/register", gw.issuer),
        &[("content-type", "application/json")],
        Some(json!({"redirect_uris": [redirect], "client_name": "Browser test"}).to_string()),
    )
    .await;
    let client = registered.json()["client_id"]
        .as_str()
        .expect("client")
        .to_owned();
    let (verifier, challenge) = pkce(21);
    let authorize = authorize_url(&gw, &client, &challenge, &call, "browser-state")
        .replace(&url_encode(REDIRECT), &url_encode(&redirect));

    let mut cmd = std::process::Command::new(&installed.node);
    cmd.arg(&script)
        .arg(chromium)
        .args([authorize.as_str(), key.as_str(), redirect.as_str()])
        .env_remove("NODE_OPTIONS");
    let report = json_report(cmd, Duration::from_secs(120), "the browser run").await;
    assert_eq!(report["title"], "Allow Browser test?");
    assert_eq!(report["scripts"], 0);
    let landed = report["landed"].as_str().expect("landed");
    assert!(landed.starts_with(&redirect), "{landed}");
    assert_eq!(
        query_param(landed, "state").as_deref(),
        Some("browser-state")
    );
    assert_eq!(
        query_param(landed, "iss").as_deref(),
        Some(gw.issuer.as_str())
    );
    // The code the browser carried works.
    let code = query_param(landed, "code").expect("code");
    let r = post_form(
        &format!("{}/oauth/token", gw.issuer),
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("client_id", &client),
            ("code_verifier", &verifier),
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let access = r.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    assert_eq!(call_status(&call, &access).await, 200);
}

/// An HTTPS server on loopback (the test certificate for 127.0.0.1) answering every request
/// with the document `make` writes for its base URL; the base URL and how many connections it
/// accepted.
async fn document_server(
    make: impl FnOnce(&str) -> String,
) -> (String, Arc<std::sync::atomic::AtomicU32>) {
    use std::sync::atomic::{AtomicU32, Ordering};
    let tls_dir = support::e2e::manifest_dir().join("tests").join("tls");
    let config = mcpgw_runtime::serve::tls::server_config(
        &tls_dir.join("server.pem"),
        &tls_dir.join("server.key"),
        &[b"http/1.1"],
    )
    .expect("tls");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let document = make(&base);
    let accepted = Arc::new(AtomicU32::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            let (acceptor, document) = (acceptor.clone(), document.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |_req| {
                    let document = document.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/json")
                                .body(http_body_util::Full::new(hyper::body::Bytes::from(
                                    document,
                                )))
                                .expect("response"),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (base, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_metadata_document_names_the_client_and_private_addresses_are_refused() {
    use std::sync::atomic::Ordering;
    let document = |base: &str| {
        json!({
            "client_id": format!("{base}/oauth/client.json"),
            "client_name": "Doc client",
            "redirect_uris": [REDIRECT],
        })
        .to_string()
    };
    let (base, accepted) = document_server(document).await;
    let client_id = format!("{base}/oauth/client.json");

    // By default the control plane may not reach loopback: refused before any connection.
    let gw = Oauth::start().await;
    gw.integration("crm").await;
    let call = gw.endpoint("crm", "mcp:call");
    let (_, challenge) = pkce(31);
    let page = send(
        "GET",
        &authorize_url(&gw, &client_id, &challenge, &call, "s"),
        &[],
        None,
    )
    .await;
    assert_eq!(page.status, 400, "{}", page.text);
    assert!(page.text.contains("may not reach"), "{}", page.text);
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        0,
        "no connection was made"
    );
    drop(gw);

    // An operator who opens loopback (and trusts the test CA) lets it through.
    let tls_dir = support::e2e::manifest_dir().join("tests").join("tls");
    let gw = Oauth::start_with(mcpgw_control_plane::service::oauth::OAuthConfig {
        client_metadata_allow: vec!["127.0.0.0/8".parse().expect("cidr")],
        client_metadata_ca: Some(tls_dir.join("ca.pem")),
        ..Default::default()
    })
    .await;
    let key = gw.integration("crm").await;
    let call = gw.endpoint("crm", "mcp:call");
    let asm = send(
        "GET",
        &format!("{}/.well-known/oauth-authorization-server", gw.issuer),
        &[],
        None,
    )
    .await
    .json();
    assert_eq!(asm["client_id_metadata_document_supported"], true);
    let page = send(
        "GET",
        &authorize_url(&gw, &client_id, &challenge, &call, "s"),
        &[],
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("Allow Doc client to use"),
        "{}",
        page.text
    );
    let tokens = authorize(&gw, &client_id, &call, &key, 32).await;
    let access = tokens["access_token"].as_str().expect("access");
    assert_eq!(call_status(&call, access).await, 200);
    let fetched = accepted.load(Ordering::Relaxed);
    assert!(fetched >= 1);
    // Read once, then kept: a second authorization does not fetch it again.
    let _ = authorize(&gw, &client_id, &call, &key, 33).await;
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        fetched,
        "the document is cached"
    );
    // A redirect URI the document does not list is refused without a redirect.
    let other = authorize_url(&gw, &client_id, &challenge, &call, "s").replace(
        &url_encode(REDIRECT),
        &url_encode("http://127.0.0.1:9/elsewhere"),
    );
    let r = send("GET", &other, &[], None).await;
    assert_eq!(r.status, 400);
    assert!(r.header("location").is_none());
}

/// The npm packages of `tests/typescript` (Node, the TypeScript SDK, playwright-core),
/// installed once, and `name` of that directory copied into the install: Node resolves
/// packages from a script's own directory.
async fn node_script(name: &str) -> (support::e2e::NpmInstall, std::path::PathBuf) {
    let fixtures = support::e2e::manifest_dir()
        .join("tests")
        .join("typescript");
    let installed = {
        let fixtures = fixtures.clone();
        tokio::task::spawn_blocking(move || support::e2e::npm_install("typescript", &fixtures))
            .await
            .expect("install")
    };
    let script = installed.prefix.join(name);
    std::fs::copy(fixtures.join(name), &script).expect("copy the script");
    (installed, script)
}

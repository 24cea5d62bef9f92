//! Maps an upstream HTTP response to a tool result: JSON to a text block (plus
//! `structuredContent` when the tool declares an `outputSchema`), `text/*` to text,
//! `image/*` and `audio/*` to image and audio content, anything else to an embedded blob;
//! redirects and non-2xx answers to `isError` results that quote a bounded, redacted excerpt
//! — except authentication failures (401, 403, 407), whose bodies are never quoted: they are
//! where an upstream echoes a rejected credential. A body the upstream encoded (gzip and the
//! like) is refused rather than decoded: the gateway asks for `identity` and never inflates.

use base64::Engine;
use http::StatusCode;
use hyper::body::Bytes;
use mcpgw_shared::model::Auth;

use crate::state::CallSpec;
use serde_json::{Value, json};

use super::redact::Redactor;
use super::{ToolOutput, text_block};

/// How much of an error body is quoted back.
const EXCERPT_BYTES: usize = 512;

/// Maps an upstream response to a tool result.
pub fn map_response(tool: &CallSpec, head: &UpstreamHead, body: &Bytes, auth: &Auth) -> ToolOutput {
    let status = head.status;
    if status.is_redirection() {
        // Without its query: a redirect may carry a query-parameter credential along.
        let to = head
            .location
            .as_deref()
            .and_then(|l| l.split(['?', '#']).next())
            .map_or_else(
                || "(no Location)".to_owned(),
                |l| Redactor::new(auth).redact(l),
            );
        return ToolOutput::error(format!(
            "The upstream answered {status} redirecting to {to}; redirects are not followed."
        ));
    }
    if matches!(
        status,
        StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::PROXY_AUTHENTICATION_REQUIRED
    ) {
        return ToolOutput::error(format!(
            "The upstream answered HTTP {status}: it refused the gateway's credentials or this request. Its body is not shown: it may echo the credentials."
        ));
    }
    if let Some(encoding) = head
        .content_encoding
        .as_deref()
        .filter(|e| !e.eq_ignore_ascii_case("identity"))
    {
        return ToolOutput::error(format!(
            "The upstream answered HTTP {status} with a body encoded as '{encoding}', which this gateway does not decode (it asks for identity)."
        ));
    }
    if !status.is_success() {
        let excerpt = redacted_excerpt(body, auth);
        let more = if body.len() > EXCERPT_BYTES {
            " …"
        } else {
            ""
        };
        return ToolOutput::error(format!(
            "The upstream answered HTTP {status}: {excerpt}{more}"
        ));
    }
    let mime = head
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if mime == "application/json"
        || mime.ends_with("+json")
        || (mime.is_empty() && looks_like_json(body))
    {
        if !tool.has_output_schema {
            // Without an outputSchema the result is only a text block: pass the upstream's
            // JSON through unchanged instead of parsing and re-serialising it.
            return text(body);
        }
        return match serde_json::from_slice::<Value>(body) {
            Ok(value) => ToolOutput::from_json(tool, value, false),
            Err(_) => text(body),
        };
    }
    if let Some(kind) = ["image", "audio"]
        .into_iter()
        .find(|k| mime.starts_with(&format!("{k}/")))
    {
        let data = base64::engine::general_purpose::STANDARD.encode(body);
        return ToolOutput {
            content: vec![json!({"type": kind, "data": data, "mimeType": mime})],
            structured: None,
            is_error: false,
        };
    }
    if mime.starts_with("text/") || mime.is_empty() || std::str::from_utf8(body).is_ok() {
        return text(body);
    }
    let data = base64::engine::general_purpose::STANDARD.encode(body);
    ToolOutput {
        content: vec![
            json!({"type": "resource", "resource": {"uri": "upstream://response", "mimeType": mime, "blob": data}}),
        ],
        structured: None,
        is_error: false,
    }
}

/// What the upstream's response head says, as far as mapping it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamHead {
    /// The status.
    pub status: StatusCode,
    /// `Content-Type`, lowercased (empty when absent).
    pub content_type: String,
    /// `Content-Encoding`, if any.
    pub content_encoding: Option<String>,
    /// `Location`, if any.
    pub location: Option<String>,
}

impl UpstreamHead {
    /// The fields of `headers` that matter.
    #[must_use]
    pub fn new(status: StatusCode, headers: &http::HeaderMap) -> Self {
        let text = |name: http::header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            status,
            content_type: text(http::header::CONTENT_TYPE)
                .unwrap_or_default()
                .to_ascii_lowercase(),
            content_encoding: text(http::header::CONTENT_ENCODING),
            location: text(http::header::LOCATION),
        }
    }
}

/// The start of an error body, with the revision's secrets blanked out in every form.
fn redacted_excerpt(body: &Bytes, auth: &Auth) -> String {
    let redactor = Redactor::new(auth);
    // The excerpt is EXCERPT_BYTES characters (up to 4 bytes each); a secret that starts
    // before the cut reaches at most its longest form past it. Redact all of that, then cut.
    let window = EXCERPT_BYTES * 4 + redactor.longest();
    let window = String::from_utf8_lossy(&body[..body.len().min(window)]);
    let mut text = redactor.redact(&window);
    if let Some((cut, _)) = text.char_indices().nth(EXCERPT_BYTES) {
        text.truncate(cut);
    }
    text
}

fn looks_like_json(body: &Bytes) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{' || *b == b'[')
}

fn text(body: &Bytes) -> ToolOutput {
    ToolOutput {
        content: vec![text_block(String::from_utf8_lossy(body).into_owned())],
        structured: None,
        is_error: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpgw_shared::model::ApiKeyLocation;
    use mcpgw_shared::secret::Secret;

    fn head(status: StatusCode, content_type: &str, location: Option<String>) -> UpstreamHead {
        UpstreamHead {
            status,
            content_type: content_type.into(),
            content_encoding: None,
            location,
        }
    }

    fn get_user() -> CallSpec {
        serde_json::from_value::<mcpgw_shared::model::ToolDef>(json!({
            "id": "get_user", "description": "d",
            "inputSchema": {"type": "object"},
            "http": {"method": "GET", "path": "/users"}
        }))
        .expect("tool")
        .into()
    }

    #[test]
    fn maps_responses() {
        let t = get_user();
        let out = map_response(
            &t,
            &head(StatusCode::OK, "application/json; charset=utf-8", None),
            &Bytes::from_static(b"{\"a\":1}"),
            &Auth::None,
        );
        assert_eq!(out.content[0]["text"], "{\"a\":1}");
        let out = map_response(
            &t,
            &head(StatusCode::OK, "image/png", None),
            &Bytes::from_static(b"\x89PNG"),
            &Auth::None,
        );
        assert_eq!(out.content[0]["type"], "image");
        assert_eq!(out.content[0]["mimeType"], "image/png");
        let out = map_response(
            &t,
            &head(StatusCode::OK, "audio/wav", None),
            &Bytes::from_static(b"RIFF"),
            &Auth::None,
        );
        assert_eq!(out.content[0]["type"], "audio");
        let out = map_response(
            &t,
            &head(StatusCode::OK, "text/plain", None),
            &Bytes::from_static(b"hello"),
            &Auth::None,
        );
        assert_eq!(out.content[0], json!({"type": "text", "text": "hello"}));
        let big = Bytes::from(vec![b'x'; 5000]);
        let out = map_response(
            &t,
            &head(StatusCode::NOT_FOUND, "text/plain", None),
            &big,
            &Auth::None,
        );
        assert!(out.is_error);
        let text = out.content[0]["text"].as_str().expect("text");
        assert!(text.contains("404") && text.len() < 700, "{text}");
        let out = map_response(
            &t,
            &head(StatusCode::FOUND, "", Some("https://elsewhere".into())),
            &Bytes::new(),
            &Auth::None,
        );
        assert!(
            out.is_error
                && out.content[0]["text"]
                    .as_str()
                    .expect("t")
                    .contains("not followed")
        );
    }

    #[test]
    fn never_quotes_credentials_back() {
        let t = get_user();
        let auth = Auth::ApiKey {
            location: ApiKeyLocation::Query,
            name: "api_key".into(),
            value: Secret::new("S3CRET-value"),
        };
        let out = map_response(
            &t,
            &head(
                StatusCode::MOVED_PERMANENTLY,
                "",
                Some("https://api.x/users/1?api_key=S3CRET-value".into()),
            ),
            &Bytes::new(),
            &auth,
        );
        let text = out.content[0]["text"].as_str().expect("text");
        assert!(
            text.contains("https://api.x/users/1") && !text.contains("S3CRET"),
            "{text}"
        );
        let body = Bytes::from(format!("{}invalid key S3CRET-value", "x".repeat(490)));
        let out = map_response(
            &t,
            &head(StatusCode::UNAUTHORIZED, "text/plain", None),
            &body,
            &auth,
        );
        let text = out.content[0]["text"].as_str().expect("text");
        assert!(!text.contains("S3CRET"), "{text}");
    }

    #[test]
    fn authentication_failures_are_never_quoted_and_other_echoes_are_redacted() {
        let t = get_user();
        let auth = Auth::Basic {
            username: "svc".into(),
            password: Secret::new("hunter2!"),
        };
        let wire = base64::engine::general_purpose::STANDARD.encode("svc:hunter2!");
        for status in [
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        ] {
            let out = map_response(
                &t,
                &head(status, "text/plain", None),
                &Bytes::from("whatever the body says is not shown"),
                &auth,
            );
            let text = out.content[0]["text"].as_str().expect("text");
            assert!(out.is_error && !text.contains("whatever"), "{text}");
        }
        let out = map_response(
            &t,
            &head(StatusCode::BAD_REQUEST, "application/json", None),
            &Bytes::from(format!(
                r#"{{"error":"bad header Basic {wire}","pw":"hunter2!"}}"#
            )),
            &auth,
        );
        let text = out.content[0]["text"].as_str().expect("text");
        assert!(!text.contains(&wire) && !text.contains("hunter2"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }

    #[test]
    fn a_long_secret_straddling_the_cut_is_redacted_whole() {
        let t = get_user();
        let token = format!("eyJ{}", "a".repeat(900));
        let auth = Auth::Bearer {
            token: Secret::new(token.clone()),
        };
        let body = format!("{}{token} was rejected", "é".repeat(400));
        let out = map_response(
            &t,
            &head(StatusCode::BAD_REQUEST, "text/plain", None),
            &Bytes::from(body),
            &auth,
        );
        let text = out.content[0]["text"].as_str().expect("text");
        assert!(!text.contains("eyJaaa"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }

    #[test]
    fn encoded_bodies_are_refused_not_decoded() {
        let t = get_user();
        let out = map_response(
            &t,
            &UpstreamHead {
                content_encoding: Some("gzip".into()),
                ..head(StatusCode::OK, "application/json", None)
            },
            &Bytes::from_static(b"\x1f\x8b\x08\x00"),
            &Auth::None,
        );
        let text = out.content[0]["text"].as_str().expect("text");
        assert!(out.is_error && text.contains("'gzip'"), "{text}");
    }
}

//! Maps an upstream HTTP response to a tool result: JSON to a text block (plus
//! `structuredContent` when the tool declares an `outputSchema`), `text/*` to text,
//! `image/*` and `audio/*` to image and audio content, anything else to an embedded blob;
//! redirects and non-2xx answers to `isError` results that quote a bounded, redacted excerpt.

use base64::Engine;
use http::StatusCode;
use hyper::body::Bytes;
use mcpgw_shared::model::{Auth, ToolDef};
use serde_json::{Value, json};

use super::ToolOutput;

/// How much of an error body is quoted back.
const EXCERPT_BYTES: usize = 512;

/// Maps an upstream response to a tool result.
pub fn map_response(
    tool: &ToolDef,
    status: StatusCode,
    content_type: &str,
    location: Option<String>,
    body: &Bytes,
    auth: &Auth,
) -> ToolOutput {
    if status.is_redirection() {
        // Without its query: a redirect may carry a query-parameter credential along.
        let to = location
            .as_deref()
            .and_then(|l| l.split(['?', '#']).next())
            .unwrap_or("(no Location)")
            .to_owned();
        return ToolOutput::error(format!(
            "The upstream answered {status} redirecting to {to}; redirects are not followed."
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
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    if mime == "application/json"
        || mime.ends_with("+json")
        || (mime.is_empty() && looks_like_json(body))
    {
        if tool.output_schema.is_none() {
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

/// The start of an error body, with the revision's secrets blanked out: an upstream may
/// echo the credential it rejected.
fn redacted_excerpt(body: &Bytes, auth: &Auth) -> String {
    // Look a little past the cut so a secret straddling it is still found.
    let window = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES + 512)]).into_owned();
    let mut text = auth
        .secrets()
        .into_iter()
        .filter(|s| !s.is_empty())
        .fold(window, |t, secret| t.replace(secret, "[redacted]"));
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
        content: vec![json!({"type": "text", "text": String::from_utf8_lossy(body)})],
        structured: None,
        is_error: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpgw_shared::model::ApiKeyLocation;
    use mcpgw_shared::secret::Secret;

    fn get_user() -> ToolDef {
        serde_json::from_value(json!({
            "id": "get_user", "description": "d",
            "inputSchema": {"type": "object"},
            "http": {"method": "GET", "path": "/users"}
        }))
        .expect("tool")
    }

    #[test]
    fn maps_responses() {
        let t = get_user();
        let out = map_response(
            &t,
            StatusCode::OK,
            "application/json; charset=utf-8",
            None,
            &Bytes::from_static(b"{\"a\":1}"),
            &Auth::None,
        );
        assert_eq!(out.content[0]["text"], "{\"a\":1}");
        let out = map_response(
            &t,
            StatusCode::OK,
            "image/png",
            None,
            &Bytes::from_static(b"\x89PNG"),
            &Auth::None,
        );
        assert_eq!(out.content[0]["type"], "image");
        assert_eq!(out.content[0]["mimeType"], "image/png");
        let out = map_response(
            &t,
            StatusCode::OK,
            "audio/wav",
            None,
            &Bytes::from_static(b"RIFF"),
            &Auth::None,
        );
        assert_eq!(out.content[0]["type"], "audio");
        let out = map_response(
            &t,
            StatusCode::OK,
            "text/plain",
            None,
            &Bytes::from_static(b"hello"),
            &Auth::None,
        );
        assert_eq!(out.content[0], json!({"type": "text", "text": "hello"}));
        let big = Bytes::from(vec![b'x'; 5000]);
        let out = map_response(
            &t,
            StatusCode::NOT_FOUND,
            "text/plain",
            None,
            &big,
            &Auth::None,
        );
        assert!(out.is_error);
        let text = out.content[0]["text"].as_str().expect("text");
        assert!(text.contains("404") && text.len() < 700, "{text}");
        let out = map_response(
            &t,
            StatusCode::FOUND,
            "",
            Some("https://elsewhere".into()),
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
            StatusCode::MOVED_PERMANENTLY,
            "",
            Some("https://api.x/users/1?api_key=S3CRET-value".into()),
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
            StatusCode::UNAUTHORIZED,
            "text/plain",
            None,
            &body,
            &auth,
        );
        let text = out.content[0]["text"].as_str().expect("text");
        assert!(!text.contains("S3CRET"), "{text}");
    }
}

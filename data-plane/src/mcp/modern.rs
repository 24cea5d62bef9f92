//! Request validation of the stateless 2026-07-28 revision, in the order the specification
//! (and its conformance suite) expects: `_meta` fields (-32602), then the
//! `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers against the body (-32020),
//! then version support (-32022). All are HTTP 400.

use base64::Engine;
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::protocol::jsonrpc::RpcError;
use crate::protocol::version::Version;

/// `_meta` key of the protocol version.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key of the client capabilities.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key of the server identity on results.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// The protocol version a request's `_meta` names, if any.
#[must_use]
pub fn meta_version(params: Option<&Value>) -> Option<&str> {
    params?.get("_meta")?.get(META_PROTOCOL_VERSION)?.as_str()
}

/// A header's value with optional whitespace trimmed, `None` when absent.
///
/// # Errors
/// -32020 when the header is sent more than once (an intermediary routing on the first
/// value and the server reading another would disagree) or is not visible ASCII.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, RpcError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(RpcError::header_mismatch(format!(
            "the {name} header was sent more than once"
        )));
    }
    first
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| RpcError::header_mismatch(format!("the {name} header is not valid text")))
}

/// Checks a 2026-07-28 request; `Ok` means it may be dispatched.
///
/// # Errors
/// The HTTP status and JSON-RPC error to answer with.
pub fn check(
    headers: &HeaderMap,
    method: &str,
    params: Option<&Value>,
) -> Result<(), (StatusCode, RpcError)> {
    let bad = |e| Err((StatusCode::BAD_REQUEST, e));
    let Some(meta) = params
        .and_then(|p| p.get("_meta"))
        .and_then(Value::as_object)
    else {
        return bad(RpcError::invalid_params("params._meta is required"));
    };
    let Some(version) = meta.get(META_PROTOCOL_VERSION).and_then(Value::as_str) else {
        return bad(RpcError::invalid_params(format!(
            "params._meta[\"{META_PROTOCOL_VERSION}\"] is required"
        )));
    };
    if !meta
        .get(META_CLIENT_CAPABILITIES)
        .is_some_and(Value::is_object)
    {
        return bad(RpcError::invalid_params(format!(
            "params._meta[\"{META_CLIENT_CAPABILITIES}\"] is required (an object)"
        )));
    }
    let protocol_header =
        header(headers, "mcp-protocol-version").map_err(|e| (StatusCode::BAD_REQUEST, e))?;
    match protocol_header {
        None => {
            return bad(RpcError::header_mismatch(
                "the MCP-Protocol-Version header is missing",
            ));
        }
        Some(h) if h != version => {
            return bad(RpcError::header_mismatch(format!(
                "MCP-Protocol-Version header '{h}' does not match _meta protocolVersion '{version}'"
            )));
        }
        Some(_) => {}
    }
    let method_header = header(headers, "mcp-method").map_err(|e| (StatusCode::BAD_REQUEST, e))?;
    match method_header {
        None => {
            return bad(RpcError::header_mismatch(
                "the Mcp-Method header is missing",
            ));
        }
        Some(h) if h != method => {
            return bad(RpcError::header_mismatch(format!(
                "Mcp-Method header value '{h}' does not match body value '{method}'"
            )));
        }
        Some(_) => {}
    }
    let named = match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    if let Some(field) = named {
        let body = params
            .and_then(|p| p.get(field))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name_header = header(headers, "mcp-name").map_err(|e| (StatusCode::BAD_REQUEST, e))?;
        match name_header.map(decode_header_value) {
            None => return bad(RpcError::header_mismatch("the Mcp-Name header is missing")),
            Some(None) => {
                return bad(RpcError::header_mismatch(
                    "the Mcp-Name header is not valid base64",
                ));
            }
            Some(Some(h)) if h != body => {
                return bad(RpcError::header_mismatch(format!(
                    "Mcp-Name header value '{h}' does not match body value '{body}'"
                )));
            }
            Some(Some(_)) => {}
        }
    }
    if Version::parse(version) != Some(Version::V2026_07_28) {
        return bad(RpcError::unsupported_version(
            version,
            &Version::all_strings(),
        ));
    }
    Ok(())
}

/// Checks the `Mcp-Param-{Name}` headers a 2026-07-28 `tools/call` must mirror: one for
/// every top-level argument whose schema property carries `x-mcp-header: "{Name}"` and whose
/// value is present (SEP-2243). Intermediaries route on these headers, so a header that is
/// missing, undecodable or different from the body is refused (400, -32020).
///
/// # Errors
/// The -32020 error naming the header.
pub fn check_param_headers(
    headers: &HeaderMap,
    params: &[(Box<str>, Box<str>)],
    arguments: Option<&Value>,
) -> Result<(), RpcError> {
    for (prop, name) in params {
        let (prop, name) = (&**prop, &**name);
        let value = arguments.and_then(|a| a.get(prop)).filter(|v| !v.is_null());
        let Some(value) = value else {
            continue;
        };
        let header_name = format!("mcp-param-{}", name.to_ascii_lowercase());
        let Some(raw) = header(headers, &header_name)? else {
            return Err(RpcError::header_mismatch(format!(
                "the Mcp-Param-{name} header is missing"
            )));
        };
        let Some(decoded) = decode_header_value(raw) else {
            return Err(RpcError::header_mismatch(format!(
                "the Mcp-Param-{name} header is not valid base64"
            )));
        };
        let matches = match value {
            Value::String(s) => decoded == *s,
            Value::Bool(b) => decoded == b.to_string(),
            Value::Number(n) => decoded.parse::<f64>().ok() == n.as_f64(),
            _ => false,
        };
        if !matches {
            return Err(RpcError::header_mismatch(format!(
                "Mcp-Param-{name} header value does not match argument '{prop}'"
            )));
        }
    }
    Ok(())
}

/// Decodes a header value sent as `=?base64?...?=` (for values HTTP headers cannot carry);
/// other values are taken literally.
fn decode_header_value(value: &str) -> Option<String> {
    match value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("value"));
        }
        h
    }

    fn params(version: &str) -> Value {
        json!({"name": "echo", "_meta": {META_PROTOCOL_VERSION: version, META_CLIENT_CAPABILITIES: {}}})
    }

    const OK: [(&str, &str); 3] = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
    ];

    #[test]
    fn accepts_a_consistent_request() {
        assert!(check(&headers(&OK), "tools/call", Some(&params("2026-07-28"))).is_ok());
        let b64 = [OK[0], OK[1], ("mcp-name", "=?base64?ZWNobw==?=")];
        assert!(check(&headers(&b64), "tools/call", Some(&params("2026-07-28"))).is_ok());
    }

    #[test]
    fn param_headers_mirror_annotated_arguments() {
        // What the served state derives from a schema whose `region` and `n` properties
        // carry `x-mcp-header` ("Region", "N") and whose `free` does not.
        let schema: &[(Box<str>, Box<str>)] =
            &[("n".into(), "N".into()), ("region".into(), "Region".into())];
        let args = json!({"region": "eu-west", "n": 7, "free": "x"});
        let ok = headers(&[("mcp-param-region", "eu-west"), ("mcp-param-n", "7")]);
        assert!(check_param_headers(&ok, schema, Some(&args)).is_ok());
        let b64 = headers(&[
            ("mcp-param-region", "=?base64?ZXUtd2VzdA==?="),
            ("mcp-param-n", "7.0"),
        ]);
        assert!(check_param_headers(&b64, schema, Some(&args)).is_ok());
        for bad in [
            headers(&[("mcp-param-n", "7")]),
            headers(&[("mcp-param-region", "us"), ("mcp-param-n", "7")]),
            headers(&[
                ("mcp-param-region", "=?base64?ZXUtd2VzdA?="),
                ("mcp-param-n", "7"),
            ]),
            headers(&[
                ("mcp-param-region", "=?base64?ZX!!d2VzdA==?="),
                ("mcp-param-n", "7"),
            ]),
        ] {
            assert_eq!(
                check_param_headers(&bad, schema, Some(&args))
                    .expect_err("refused")
                    .code,
                -32020
            );
        }
        // An absent or null argument needs no header.
        assert!(
            check_param_headers(&HeaderMap::new(), schema, Some(&json!({"region": null}))).is_ok()
        );
    }

    #[test]
    fn orders_its_errors() {
        let code = |h: &[(&'static str, &str)], p: Value| {
            check(&headers(h), "tools/call", Some(&p))
                .expect_err("refused")
                .1
                .code
        };
        assert_eq!(code(&OK, json!({"name": "echo"})), -32602);
        assert_eq!(
            code(
                &OK,
                json!({"name": "echo", "_meta": {META_PROTOCOL_VERSION: "2026-07-28"}})
            ),
            -32602
        );
        assert_eq!(
            code(&OK, params("v999")),
            -32020,
            "header/meta mismatch before version support"
        );
        assert_eq!(code(&[OK[1], OK[2]], params("2026-07-28")), -32020);
        assert_eq!(
            code(
                &[OK[0], ("mcp-method", "tools/list"), OK[2]],
                params("2026-07-28")
            ),
            -32020
        );
        assert_eq!(
            code(&[OK[0], OK[1], ("mcp-name", "other")], params("2026-07-28")),
            -32020
        );
        assert_eq!(code(&[OK[0], OK[1]], params("2026-07-28")), -32020);
        let v999 = [("mcp-protocol-version", "v999"), OK[1], OK[2]];
        let e = check(&headers(&v999), "tools/call", Some(&params("v999")))
            .expect_err("unsupported")
            .1;
        assert_eq!(e.code, -32022);
        assert_eq!(e.data.expect("data")["requested"], "v999");
    }
}

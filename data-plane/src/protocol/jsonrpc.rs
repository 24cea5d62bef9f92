//! JSON-RPC 2.0 envelopes: classifying incoming messages and building responses. Every
//! error response carries the request's id (or `null` when there is none to carry).

use rmcp::model::ErrorCode;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

/// A JSON-RPC error.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The code.
    pub code: i32,
    /// A human-readable message (never containing a secret).
    pub message: String,
    /// Structured details.
    pub data: Option<Value>,
}

impl RpcError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: code.0,
            message: message.into(),
            data: None,
        }
    }

    /// -32700.
    pub fn parse_error(detail: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::PARSE_ERROR, format!("Parse error: {detail}"))
    }

    /// -32600.
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_REQUEST, detail)
    }

    /// -32601.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )
    }

    /// -32602.
    pub fn invalid_params(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_PARAMS, detail)
    }

    /// -32603.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::INTERNAL_ERROR, detail)
    }

    /// -32020: an MCP header is missing or disagrees with the body.
    pub fn header_mismatch(detail: impl Into<String>) -> Self {
        Self::new(
            ErrorCode::HEADER_MISMATCH,
            format!("Header mismatch: {}", detail.into()),
        )
    }

    /// -32022 with `data.supported` and `data.requested`.
    pub fn unsupported_version(requested: &str, supported: &[&str]) -> Self {
        Self {
            data: Some(json!({"supported": supported, "requested": requested})),
            ..Self::new(
                ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
                "Unsupported protocol version",
            )
        }
    }

    /// Gateway-level refusals (auth, limits, availability) use the implementation-defined
    /// range, so clients can tell them from protocol errors.
    pub fn gateway(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The same error with `data`.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The error as a JSON-RPC response to `id`.
    #[must_use]
    pub fn to_response(&self, id: &Value) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.clone().into());
        if let Some(data) = &self.data {
            error.insert("data".into(), data.clone());
        }
        json!({"jsonrpc": "2.0", "id": id, "error": error})
    }
}

/// Request ids a `Value` cannot carry unchanged — numbers outside i64/u64, fractions,
/// exponents (`1e400`, `18446744073709551616`, `1.50`) — so that every response echoes the
/// client's id byte for byte. (A number beyond the range of a double is a parse error.)
///
/// While the request is handled such an id is replaced by a unique placeholder string; when
/// the response is written, [`RawIds::restore`] puts the original text back. Requests without
/// such ids (nearly all) pay one scan of their top-level ids and nothing else.
#[derive(Debug, Default)]
pub struct RawIds {
    /// The placeholder as it appears in serialised JSON (quoted), and the id's original text.
    replacements: Vec<(String, Box<RawValue>)>,
}

/// One message's id, as written.
#[derive(serde::Deserialize)]
struct RawId<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
}

fn needs_raw(id: Option<&Value>) -> bool {
    id.is_some_and(|id| id.is_number() && !id.is_i64() && !id.is_u64())
}

impl RawIds {
    /// Swaps the ids of `message` (parsed from `body`) that a `Value` alters for placeholders.
    #[must_use]
    pub fn extract(body: &[u8], message: &mut Value) -> Self {
        let mut out = Self::default();
        // Drawn only when an id needs it: the system's random source is a syscall.
        let mut nonce = None;
        let mut swap = |slot: &mut Value, raw: Option<&RawValue>, index: usize| {
            if let Some(raw) = raw {
                let nonce = *nonce.get_or_insert_with(|| uuid::Uuid::new_v4().simple());
                let placeholder = format!("\u{1}mcpgw-id-{nonce}-{index}");
                let quoted = serde_json::to_string(&placeholder).unwrap_or_default();
                out.replacements.push((quoted, raw.to_owned()));
                *slot = Value::String(placeholder);
            }
        };
        match message {
            Value::Object(obj) if needs_raw(obj.get("id")) => {
                if let (Ok(raw), Some(slot)) =
                    (serde_json::from_slice::<RawId<'_>>(body), obj.get_mut("id"))
                {
                    swap(slot, raw.id, 0);
                }
            }
            Value::Array(items) if items.iter().any(|i| needs_raw(i.get("id"))) => {
                if let Ok(raws) = serde_json::from_slice::<Vec<RawId<'_>>>(body) {
                    for (index, (item, raw)) in items.iter_mut().zip(raws).enumerate() {
                        if needs_raw(item.get("id"))
                            && let Some(slot) = item.get_mut("id")
                        {
                            swap(slot, raw.id, index);
                        }
                    }
                }
            }
            _ => {}
        }
        out
    }

    /// `json` (a serialised response) with every placeholder replaced by its original id.
    #[must_use]
    pub fn restore(&self, json: Vec<u8>) -> Vec<u8> {
        if self.replacements.is_empty() {
            return json;
        }
        let mut text = String::from_utf8(json).unwrap_or_default();
        for (placeholder, raw) in &self.replacements {
            text = text.replace(placeholder.as_str(), raw.get());
        }
        text.into_bytes()
    }
}

/// A success response.
#[must_use]
pub fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// The same response as [`result`], serialised in one pass (no envelope `Value` built and
/// dropped per response).
///
/// # Errors
/// When `result` cannot be serialised (a map with non-string keys cannot occur in a `Value`).
pub fn result_bytes(id: &Value, result: &Value) -> serde_json::Result<Vec<u8>> {
    #[derive(serde::Serialize)]
    struct Envelope<'a> {
        jsonrpc: &'static str,
        id: &'a Value,
        result: &'a Value,
    }
    serde_json::to_vec(&Envelope {
        jsonrpc: "2.0",
        id,
        result,
    })
}

/// An incoming message.
#[derive(Debug)]
pub enum Message<'a> {
    /// A request (has an id).
    Request {
        /// The id, a string or number.
        id: &'a Value,
        /// The method.
        method: &'a str,
        /// The params (absent = `None`).
        params: Option<&'a Value>,
    },
    /// A notification (no id).
    Notification {
        /// The method.
        method: &'a str,
    },
    /// A response to a server request (the gateway sends none; accepted and ignored).
    Response,
}

/// Classifies one JSON value as a JSON-RPC message.
///
/// # Errors
/// -32600 for anything that is not a well-formed message; the error carries whatever id
/// could be recovered.
pub fn classify(v: &Value) -> Result<Message<'_>, (Value, RpcError)> {
    let Some(obj) = v.as_object() else {
        return Err((
            Value::Null,
            RpcError::invalid_request("a JSON-RPC message must be an object"),
        ));
    };
    let id = obj.get("id");
    let id_for_error = id
        .filter(|i| i.is_string() || i.is_number())
        .cloned()
        .unwrap_or(Value::Null);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((
            id_for_error,
            RpcError::invalid_request("\"jsonrpc\" must be \"2.0\""),
        ));
    }
    match obj.get("method") {
        Some(Value::String(method)) => {
            let params = obj.get("params");
            if params.is_some_and(|p| !p.is_object() && !p.is_array()) {
                return Err((
                    id_for_error,
                    RpcError::invalid_request("\"params\" must be an object"),
                ));
            }
            match id {
                None => Ok(Message::Notification { method }),
                Some(i) if i.is_string() || i.is_number() => Ok(Message::Request {
                    id: i,
                    method,
                    params,
                }),
                Some(_) => Err((
                    Value::Null,
                    RpcError::invalid_request("\"id\" must be a string or a number"),
                )),
            }
        }
        Some(_) => Err((
            id_for_error,
            RpcError::invalid_request("\"method\" must be a string"),
        )),
        None if obj.contains_key("result") || obj.contains_key("error") => Ok(Message::Response),
        None => Err((
            id_for_error,
            RpcError::invalid_request("a request needs a \"method\""),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        let r = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
        assert!(matches!(
            classify(&r),
            Ok(Message::Request { method: "ping", .. })
        ));
        let n = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert!(matches!(classify(&n), Ok(Message::Notification { .. })));
        let resp = json!({"jsonrpc": "2.0", "id": 1, "result": {}});
        assert!(matches!(classify(&resp), Ok(Message::Response)));
    }

    #[test]
    fn invalid_messages_keep_their_id() {
        let (id, e) =
            classify(&json!({"jsonrpc": "1.0", "id": 7, "method": "x"})).expect_err("bad");
        assert_eq!(id, json!(7));
        assert_eq!(e.code, -32600);
        let (id, _) = classify(&json!({"jsonrpc": "2.0", "id": {"x": 1}, "method": "x"}))
            .expect_err("bad id");
        assert_eq!(id, Value::Null);
        assert!(classify(&json!([1])).is_err());
        assert!(classify(&json!({"jsonrpc": "2.0", "id": 1, "method": "x", "params": 3})).is_err());
    }

    #[test]
    fn ids_a_value_would_alter_come_back_byte_for_byte() {
        for id in [
            "18446744073709551616",
            "1.0e2",
            "1.50",
            "-0",
            "12345678901234567890123",
        ] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            let mut message: Value = serde_json::from_str(&body).expect("json");
            let ids = RawIds::extract(body.as_bytes(), &mut message);
            let Some(Value::String(placeholder)) = message.get("id") else {
                panic!("{id}: not swapped");
            };
            assert!(placeholder.contains("mcpgw-id"));
            let response = serde_json::to_vec(&result(&message["id"], json!({}))).expect("json");
            let text = String::from_utf8(ids.restore(response)).expect("utf8");
            assert_eq!(
                text,
                format!(r#"{{"id":{id},"jsonrpc":"2.0","result":{{}}}}"#)
            );
        }
        // Batches, per message; ordinary ids untouched.
        let body = r#"[{"jsonrpc":"2.0","id":7,"method":"ping"},{"jsonrpc":"2.0","id":2.50e1,"method":"ping"}]"#;
        let mut message: Value = serde_json::from_str(body).expect("json");
        let ids = RawIds::extract(body.as_bytes(), &mut message);
        assert_eq!(message[0]["id"], 7);
        let response =
            serde_json::to_vec(&json!([message[0]["id"], message[1]["id"]])).expect("json");
        assert_eq!(ids.restore(response), b"[7,2.50e1]".to_vec());
    }

    #[test]
    fn error_responses_carry_data() {
        let e = RpcError::unsupported_version("v9", &["2026-07-28"]);
        let r = e.to_response(&json!("a"));
        assert_eq!(r["id"], "a");
        assert_eq!(r["error"]["code"], -32022);
        assert_eq!(r["error"]["data"]["requested"], "v9");
    }
}

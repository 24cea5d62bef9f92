//! What a `tools/call` runs against once it is validated and authorised: the real upstream
//! (`mcp:call`) or the simulator (`mcp:test`). Both produce a [`ToolOutput`]; shaping it for
//! the client's protocol version is the MCP layer's job.

pub mod connect;
pub mod policy;
pub mod redact;
pub mod request;
pub mod response;
pub mod sample;
pub mod simulator;
pub mod upstream;

use mcpgw_shared::model::ToolDef;
use serde_json::{Value, json};

/// The result of running a tool, before per-version shaping.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// MCP content blocks.
    pub content: Vec<Value>,
    /// Structured content (only when the tool declares an `outputSchema`).
    pub structured: Option<Value>,
    /// Whether this is an error result.
    pub is_error: bool,
}

impl ToolOutput {
    /// A text error result.
    #[must_use]
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            content: vec![json!({"type": "text", "text": message.into()})],
            structured: None,
            is_error: true,
        }
    }

    /// A JSON value as a result: a text block with the JSON, plus `structuredContent` when the
    /// tool has an `outputSchema` (MCP asks for both, so older clients still see the data).
    #[must_use]
    pub fn from_json(tool: &ToolDef, value: Value, is_error: bool) -> Self {
        let text = serde_json::to_string(&value).unwrap_or_default();
        let structured = tool.output_schema.as_ref().map(|_| value);
        Self {
            content: vec![json!({"type": "text", "text": text})],
            structured,
            is_error,
        }
    }
}

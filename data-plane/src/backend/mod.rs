//! What a `tools/call` runs against once it is validated and authorised: the real upstream
//! (`mcp:call`) or the simulator (`mcp:test`). Both produce a [`ToolOutput`]; shaping it for
//! the client's protocol version is the MCP layer's job.

pub use mcpgw_runtime::egress::{connect, policy};
pub mod redact;
pub mod request;
pub mod response;
pub mod sample;
pub mod simulator;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::cpu::CpuPool;
use crate::state::{CallSpec, IntegrationRuntime, ToolRuntime};

/// Where a `tools/call` runs, chosen when the request is routed: `mcp:call` reaches the
/// upstream, `mcp:test` the simulator. Nothing below routing asks which endpoint it serves.
#[derive(Clone)]
pub enum Backend {
    /// The real upstream API with the published credentials.
    Upstream(Arc<upstream::Upstream>),
    /// The sandbox; samples are generated on the CPU pool.
    Simulator(CpuPool),
}

impl Backend {
    /// Runs `tool` of `integration` with validated `arguments`.
    pub async fn run(
        &self,
        integration: &IntegrationRuntime,
        tool: &ToolRuntime,
        arguments: &Map<String, Value>,
    ) -> ToolOutput {
        match self {
            Backend::Upstream(upstream) => {
                upstream
                    .run(&integration.snapshot, &tool.call, arguments)
                    .await
            }
            Backend::Simulator(cpu) => {
                simulator::run(&tool.call, tool.output_schema(), arguments, cpu).await
            }
        }
    }

    /// What a progress notification says the call is waiting for.
    #[must_use]
    pub fn waiting_for(&self) -> &'static str {
        match self {
            Backend::Upstream(_) => "waiting for the upstream API",
            Backend::Simulator(_) => "simulating",
        }
    }

    /// How long a call of `tool` will take, when that is known in advance (a simulated
    /// latency); `None` for upstream calls.
    #[must_use]
    pub fn expected_duration(&self, tool: &ToolRuntime) -> Option<Duration> {
        match self {
            Backend::Upstream(_) => None,
            Backend::Simulator(_) => {
                let ms = tool.call.simulation.as_ref()?.latency_ms?;
                (ms > 0).then(|| Duration::from_millis(ms))
            }
        }
    }
}

/// A `text` content block holding `text` (moved in, not copied as `json!` would).
#[must_use]
pub fn text_block(text: String) -> Value {
    let mut block = Map::new();
    block.insert("type".into(), Value::from("text"));
    block.insert("text".into(), Value::String(text));
    Value::Object(block)
}

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
            content: vec![text_block(message.into())],
            structured: None,
            is_error: true,
        }
    }

    /// A JSON value as a result: a text block with the JSON, plus `structuredContent` when the
    /// tool has an `outputSchema` (MCP asks for both, so older clients still see the data).
    #[must_use]
    pub fn from_json(tool: &CallSpec, value: Value, is_error: bool) -> Self {
        let text = serde_json::to_string(&value).unwrap_or_default();
        let structured = tool.has_output_schema.then_some(value);
        Self {
            content: vec![text_block(text)],
            structured,
            is_error,
        }
    }
}

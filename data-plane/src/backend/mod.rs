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

use std::sync::Arc;
use std::time::Duration;

use mcpgw_shared::model::{HttpBinding, Simulation, ToolDef};
use serde_json::{Map, Value, json};

use crate::cpu::CpuPool;
use crate::state::{IntegrationRuntime, ToolRuntime};

/// How a tool is called: what the backends need of its definition. A served tool keeps this
/// instead of the whole [`ToolDef`], whose listing members (title, description, schemas,
/// annotations) it holds only as the text of its `tools/list` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSpec {
    /// The tool id.
    pub id: Box<str>,
    /// The upstream request it makes (shared by the tools that make the same one).
    pub http: Arc<HttpBinding>,
    /// What the sandbox answers.
    pub simulation: Option<Box<Simulation>>,
    /// Its own upstream timeout, if any.
    pub timeout_ms: Option<u64>,
    /// Whether it declares an `outputSchema` (results then carry `structuredContent`).
    pub has_output_schema: bool,
}

impl CallSpec {
    /// Moves what calls need out of `def`, leaving the listing members; `hold` turns the
    /// binding into what is kept (the served state shares identical ones).
    pub fn take_from(
        def: &mut ToolDef,
        hold: impl FnOnce(HttpBinding) -> Arc<HttpBinding>,
    ) -> Self {
        let method = def.http.method;
        let mut http = std::mem::replace(
            &mut def.http,
            HttpBinding {
                method,
                path: String::new(),
                query: Vec::new(),
                headers: std::collections::BTreeMap::new(),
                body: None,
            },
        );
        http.query.shrink_to_fit();
        Self {
            id: std::mem::take(&mut def.id).into_boxed_str(),
            http: hold(http),
            simulation: def.simulation.take(),
            timeout_ms: def.timeout_ms,
            has_output_schema: def.output_schema.is_some(),
        }
    }
}

impl From<ToolDef> for CallSpec {
    fn from(mut def: ToolDef) -> Self {
        Self::take_from(&mut def, Arc::new)
    }
}

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
    pub fn from_json(tool: &CallSpec, value: Value, is_error: bool) -> Self {
        let text = serde_json::to_string(&value).unwrap_or_default();
        let structured = tool.has_output_schema.then_some(value);
        Self {
            content: vec![json!({"type": "text", "text": text})],
            structured,
            is_error,
        }
    }
}

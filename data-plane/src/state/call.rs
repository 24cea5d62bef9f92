//! What a served tool keeps of its definition for calls.

use std::sync::Arc;

use mcpgw_shared::model::{HttpBinding, Simulation, ToolDef};

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
    /// What calls need of `def` (the rest is dropped with it); `hold` turns the binding into
    /// what is kept (the served state shares identical ones).
    pub fn new(
        def: ToolDef,
        has_output_schema: bool,
        hold: impl FnOnce(HttpBinding) -> Arc<HttpBinding>,
    ) -> Self {
        let ToolDef {
            id,
            mut http,
            simulation,
            timeout_ms,
            ..
        } = def;
        http.query.shrink_to_fit();
        Self {
            id: id.into_boxed_str(),
            http: hold(http),
            simulation,
            timeout_ms,
            has_output_schema,
        }
    }
}

impl From<ToolDef> for CallSpec {
    fn from(def: ToolDef) -> Self {
        let has_output_schema = def.output_schema.is_some();
        Self::new(def, has_output_schema, Arc::new)
    }
}

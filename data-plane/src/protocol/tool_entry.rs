//! A tool as `tools/list` shows it, per protocol revision. The served state renders each
//! tool once per snapshot with this, so listing never renders per request.

use mcpgw_shared::model::ToolDef;
use rmcp::model::{Tool, ToolAnnotations};
use serde_json::Value;

use super::version::Version;

/// One tool as a client of `version` should see it: no `title` or `outputSchema` for
/// 2025-03-26 clients, which do not know them.
#[must_use]
pub fn tool_entry(def: &ToolDef, version: Version) -> Value {
    let mut tool = Tool::new(
        def.id.clone(),
        def.description.clone(),
        def.input_schema.clone(),
    );
    if version >= Version::V2025_06_18 {
        if let Some(title) = &def.title {
            tool = tool.with_title(title.clone());
        }
        if let Some(schema) = &def.output_schema {
            tool = tool.with_raw_output_schema(std::sync::Arc::new(schema.clone()));
        }
    }
    if let Some(a) = &def.annotations
        && let Ok(annotations) = serde_json::from_value::<ToolAnnotations>(Value::Object(a.clone()))
    {
        tool = tool.with_annotations(annotations);
    }
    serde_json::to_value(tool).unwrap_or(Value::Null)
}

//! A tool as `tools/list` shows it, per protocol revision. The served state renders each
//! tool once per snapshot with this, so listing never renders per request.

use mcpgw_shared::model::ToolDef;
use rmcp::model::{Tool, ToolAnnotations};
use serde_json::Value;
use std::sync::Arc;

/// The tool's `tools/list` entry as a 2025-03-26 client sees it (no `title`, no
/// `outputSchema`: that revision does not know them; later revisions' entries append them),
/// serialised. The description, `inputSchema` and annotations move out of `def` into the
/// entry rather than being copied: the served state keeps them only as this text.
///
/// # Errors
/// When the entry cannot be serialised.
pub fn older_entry_text(def: &mut ToolDef) -> serde_json::Result<String> {
    let mut tool = Tool::new(
        def.id.clone(),
        std::mem::take(&mut def.description),
        Arc::new(std::mem::take(&mut def.input_schema)),
    );
    if let Some(a) = def.annotations.take()
        && let Ok(annotations) = serde_json::from_value::<ToolAnnotations>(Value::Object(a))
    {
        tool = tool.with_annotations(annotations);
    }
    serde_json::to_string(&tool)
}

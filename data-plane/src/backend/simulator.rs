//! The sandbox (`mcp:test`): answers from a tool's `simulation` and never touches the
//! upstream: the scripted `simulation` if the tool has one, else a deterministic sample of
//! its `outputSchema`, else an echo of the arguments.

use std::time::Duration;

use serde_json::{Map, Value};

use super::ToolOutput;
use crate::cpu::CpuPool;
use crate::state::CallSpec;

/// Runs `tool` in the simulator with already validated `arguments`; `output_schema` (the
/// tool's) is sampled on `cpu` when there is nothing scripted.
pub async fn run(
    tool: &CallSpec,
    output_schema: Option<Map<String, Value>>,
    arguments: &Map<String, Value>,
    cpu: &CpuPool,
) -> ToolOutput {
    let Some(sim) = &tool.simulation else {
        return unscripted(tool, output_schema, arguments, cpu).await;
    };
    if let Some(ms) = sim.latency_ms.filter(|ms| *ms > 0) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(content) = &sim.content {
        return ToolOutput {
            content: content.clone(),
            structured: None,
            is_error: sim.is_error,
        };
    }
    match &sim.response {
        Some(response) => ToolOutput::from_json(tool, response.clone(), sim.is_error),
        None => ToolOutput {
            is_error: sim.is_error,
            ..unscripted(tool, output_schema, arguments, cpu).await
        },
    }
}

/// Without a scripted answer: a deterministic sample of the `outputSchema` (generated on the
/// CPU pool), else the validated arguments echoed back.
async fn unscripted(
    tool: &CallSpec,
    output_schema: Option<Map<String, Value>>,
    arguments: &Map<String, Value>,
    cpu: &CpuPool,
) -> ToolOutput {
    let value = match output_schema {
        Some(schema) => {
            let arguments = arguments.clone();
            match cpu
                .run(move || super::sample::sample(&schema, &arguments))
                .await
            {
                Ok(v) => v,
                Err(e) => return ToolOutput::error(format!("The sandbox could not answer: {e}.")),
            }
        }
        None => Value::Object(arguments.clone()),
    };
    ToolOutput::from_json(tool, value, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpgw_shared::model::ToolDef;
    use serde_json::json;

    async fn run(tool: &ToolDef, arguments: &Map<String, Value>) -> ToolOutput {
        super::run(
            &CallSpec::from(tool.clone()),
            tool.output_schema.clone(),
            arguments,
            &CpuPool::default(),
        )
        .await
    }

    fn tool(sim: Value) -> ToolDef {
        let mut t = json!({
            "id": "t", "description": "d",
            "inputSchema": {"type": "object"},
            "http": {"method": "GET", "path": "/x"}
        });
        if !sim.is_null() {
            t["simulation"] = sim;
        }
        serde_json::from_value(t).expect("tool")
    }

    #[tokio::test]
    async fn echoes_without_simulation() {
        let args = json!({"a": 1}).as_object().cloned().expect("obj");
        let out = run(&tool(Value::Null), &args).await;
        assert_eq!(
            out.content,
            vec![json!({"type": "text", "text": "{\"a\":1}"})]
        );
        assert!(!out.is_error);
    }

    #[tokio::test]
    async fn returns_content_verbatim_and_error_flag() {
        let blocks = json!([{"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"}]);
        let out = run(
            &tool(json!({"content": blocks, "isError": true})),
            &Map::new(),
        )
        .await;
        assert_eq!(Value::Array(out.content), blocks);
        assert!(out.is_error);
    }

    #[tokio::test]
    async fn maps_a_response_like_upstream_json() {
        let out = run(&tool(json!({"response": {"ok": true}})), &Map::new()).await;
        assert_eq!(out.content[0]["text"], "{\"ok\":true}");
        assert_eq!(
            out.structured, None,
            "no outputSchema, no structuredContent"
        );
    }
}

//! `tools/list` and `tools/call`, shaped for the client's protocol version.

use mcpgw_shared::ids::is_valid_id;
use std::sync::LazyLock;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Ctx;
use crate::backend::ToolOutput;
use crate::protocol::jsonrpc::RpcError;
use crate::protocol::tool_entry::Listed;
use crate::protocol::version::Version;
use crate::refusal::Refusal;

/// Validation errors reported at most per call.
const MAX_REPORTED_ERRORS: usize = 10;
/// Requests with larger bodies have their arguments validated on the CPU pool.
const INLINE_VALIDATION_BYTES: usize = 64 * 1024;

/// The first validation errors of `arguments`, each naming where it is (as a caller is told
/// them).
pub fn validation_errors(validator: &jsonschema::Validator, arguments: &Value) -> Vec<String> {
    validator
        .iter_errors(arguments)
        .take(MAX_REPORTED_ERRORS)
        .map(|e| {
            let path = e.instance_path().to_string();
            if path.is_empty() {
                e.to_string()
            } else {
                format!("{path}: {e}")
            }
        })
        .collect()
}

/// One page of `tools/list`: pre-rendered entries spliced into the response, so listing
/// allocates per page, not per JSON node.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPage<'a> {
    /// The tools of this page.
    pub tools: Vec<Listed<'a>>,
    /// The cursor of the next page, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<&'a str>,
}

/// `tools/list`: the exposed tools in id order, paginated. The cursor is the last tool id of
/// the previous page, so pages stay consistent when tools change between requests.
///
/// # Errors
/// -32602 for a malformed cursor.
pub fn list<'a>(
    ctx: &'a Ctx,
    version: Version,
    params: Option<&Value>,
) -> Result<ListPage<'a>, RpcError> {
    let cursor = match params.and_then(|p| p.get("cursor")) {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) if is_valid_id(c) => Some(c.as_str()),
        Some(_) => return Err(RpcError::invalid_params("Invalid cursor")),
    };
    let tools = &ctx.integration.tools;
    let start = cursor.map_or(0, |c| tools.partition_point(|t| &*t.call.id <= c));
    let page_size = ctx.shared.settings.page_size.max(1);
    let page = tools[start..]
        .iter()
        .take(page_size)
        .map(|t| t.listed(version))
        .collect();
    let next_cursor =
        (start + page_size < tools.len()).then(|| &*tools[start + page_size - 1].call.id);
    Ok(ListPage {
        tools: page,
        next_cursor,
    })
}

/// Why a call did not produce a result.
pub enum CallError {
    /// A JSON-RPC error.
    Rpc(RpcError),
    /// Refused by the gateway (the integration's concurrency limit); already counted.
    Refused(Refusal),
}

/// `tools/call`: validates the name and the arguments (against the compiled `inputSchema`)
/// before any backend is touched, takes a slot of the integration's calls in flight, runs
/// the backend, and shapes the result for `version`.
///
/// # Errors
/// [`CallError`] for an unknown tool, bad params, or the concurrency limit.
pub async fn call(ctx: &Ctx, version: Version, params: Option<&Value>) -> Result<Value, CallError> {
    let invalid = |m: String| CallError::Rpc(RpcError::invalid_params(m));
    let name = params
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("params.name (a string) is required".into()))?;
    let tool = ctx
        .integration
        .tool(name)
        .ok_or_else(|| invalid(format!("Unknown tool: {name}")))?;
    // Validated and handed to the backend by reference: no copy of the arguments per call.
    static NO_ARGUMENTS: LazyLock<Value> = LazyLock::new(|| Value::Object(Map::new()));
    let args_value = match params.and_then(|p| p.get("arguments")) {
        None | Some(Value::Null) => &*NO_ARGUMENTS,
        Some(a @ Value::Object(_)) => a,
        Some(_) => return Err(invalid("params.arguments must be an object".into())),
    };
    let validator = tool.validator(&ctx.shared.cpu).await.map_err(|e| {
        CallError::Rpc(RpcError::internal(format!(
            "The inputSchema of tool {name} does not compile: {e}"
        )))
    })?;
    let errors = if ctx.body_bytes > INLINE_VALIDATION_BYTES {
        // Large arguments are validated on the CPU pool, off the reactor.
        let args = args_value.clone();
        ctx.shared
            .cpu
            .run(move || validation_errors(&validator, &args))
            .await
            .map_err(|e| CallError::Rpc(RpcError::internal(e.to_string())))?
    } else {
        validation_errors(&validator, args_value)
    };
    if !errors.is_empty() {
        // 2025-11-25 and later report input errors as tool errors so the model can correct
        // itself; earlier revisions expect a protocol error.
        if version >= Version::V2025_11_25 {
            let text = format!("Invalid arguments for tool {name}: {}", errors.join("; "));
            return Ok(shape(
                ToolOutput::error(text),
                tool.call.has_output_schema,
                version,
            ));
        }
        return Err(CallError::Rpc(
            RpcError::invalid_params(format!("Invalid arguments for tool {name}"))
                .with_data(json!({"errors": errors})),
        ));
    }
    let Some(arguments) = args_value.as_object() else {
        return Err(invalid("params.arguments must be an object".into()));
    };
    let _permit = ctx
        .shared
        .limiters
        .start_call(
            &ctx.integration.snapshot.key,
            &ctx.integration.snapshot.limits,
        )
        .map_err(|refusal| {
            // Counted here, where it happens: inside a batch or a stream the HTTP answer is
            // a 200 that says nothing of it.
            ctx.shared.metrics.refused(&refusal);
            CallError::Refused(refusal)
        })?;
    let output = ctx.backend.run(&ctx.integration, tool, arguments).await;
    Ok(shape(output, tool.call.has_output_schema, version))
}

/// A [`ToolOutput`] as a `CallToolResult` for `version`.
fn shape(output: ToolOutput, has_output_schema: bool, version: Version) -> Value {
    let content: Vec<Value> = output
        .content
        .into_iter()
        .map(|block| shape_block(block, version))
        .collect();
    // Built by moving the blocks in (`json!` would serialise them into a copy).
    let mut result = Map::new();
    result.insert("content".into(), Value::Array(content));
    if output.is_error {
        result.insert("isError".into(), Value::Bool(true));
    }
    if has_output_schema
        && version >= Version::V2025_06_18
        && let Some(structured) = output.structured
    {
        // Before 2026-07-28 structuredContent must be an object: wrap anything else.
        let structured = if structured.is_object() || version.is_modern() {
            structured
        } else {
            let mut wrapped = Map::new();
            wrapped.insert("result".into(), structured);
            Value::Object(wrapped)
        };
        result.insert("structuredContent".into(), structured);
    }
    Value::Object(result)
}

/// 2025-03-26 has no `resource_link` block: such links become text.
fn shape_block(block: Value, version: Version) -> Value {
    if version == Version::V2025_03_26
        && block.get("type").and_then(Value::as_str) == Some("resource_link")
    {
        let uri = block.get("uri").and_then(Value::as_str).unwrap_or_default();
        let name = block.get("name").and_then(Value::as_str).unwrap_or(uri);
        return json!({"type": "text", "text": format!("{name}: {uri}")});
    }
    block
}

//! OpenAPI schemas as JSON Schema 2020-12 (what MCP tools declare). OpenAPI 3.1 schemas are
//! JSON Schema already; 3.0 (and Swagger 2.0) ones have quirks, translated here:
//!
//! * `nullable: true` → `null` added to `type` (and to `enum` when there is one); without a
//!   `type`, the schema becomes `anyOf: [schema, {"type": "null"}]`.
//! * `example` → `examples: [example]`.
//! * boolean `exclusiveMinimum`/`exclusiveMaximum` → the numeric 2020-12 form.
//! * OpenAPI-only keywords (`discriminator`, `xml`, `externalDocs`, `x-*`) are dropped.
//! * `allOf` of plain object schemas (only `type: object`, `properties`, `required`,
//!   `title`, `description`) is merged into one object schema; any other `allOf` is kept.
//!
//! The input is a schema whose references are already resolved ([`super::refs`]).

use serde_json::{Map, Value, json};

/// Which OpenAPI flavour a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// OpenAPI 3.0 or Swagger 2.0 (the quirks above apply).
    OpenApi30,
    /// OpenAPI 3.1 (JSON Schema 2020-12 already).
    OpenApi31,
}

/// Keywords whose value is one subschema.
const ONE: [&str; 7] = [
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
];
/// Keywords whose value is a list of subschemas.
const MANY: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords whose value maps names to subschemas.
const NAMED: [&str; 3] = ["properties", "patternProperties", "$defs"];
/// Keywords an object schema may carry to be merged into its `allOf` siblings.
const MERGEABLE: [&str; 5] = ["type", "properties", "required", "title", "description"];

/// Translates `schema` (references resolved) into JSON Schema 2020-12.
#[must_use]
pub fn translate(schema: &Value, flavour: Flavour) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::with_capacity(map.len());
    for (key, value) in map {
        if key.starts_with("x-") || matches!(key.as_str(), "discriminator" | "xml" | "externalDocs")
        {
            continue;
        }
        let value = if ONE.contains(&key.as_str()) {
            translate(value, flavour)
        } else if MANY.contains(&key.as_str()) {
            match value {
                Value::Array(items) => {
                    Value::Array(items.iter().map(|v| translate(v, flavour)).collect())
                }
                other => other.clone(),
            }
        } else if NAMED.contains(&key.as_str()) {
            match value {
                Value::Object(named) => Value::Object(
                    named
                        .iter()
                        .map(|(k, v)| (k.clone(), translate(v, flavour)))
                        .collect(),
                ),
                other => other.clone(),
            }
        } else {
            value.clone()
        };
        out.insert(key.clone(), value);
    }
    if flavour == Flavour::OpenApi30 {
        out = openapi30(out);
    }
    Value::Object(merge_all_of(out))
}

fn openapi30(mut out: Map<String, Value>) -> Map<String, Value> {
    if let Some(example) = out.remove("example") {
        out.entry("examples").or_insert_with(|| json!([example]));
    }
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(Value::Bool(flag)) = out.get(exclusive).cloned() {
            out.remove(exclusive);
            if flag && let Some(limit) = out.remove(bound) {
                out.insert(exclusive.to_owned(), limit);
            }
        }
    }
    if out.remove("nullable") == Some(Value::Bool(true)) {
        if let Some(Value::Array(values)) = out.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
        match out.get("type").cloned() {
            Some(Value::String(t)) => {
                out.insert("type".into(), json!([t, "null"]));
            }
            Some(Value::Array(mut types)) => {
                if !types.contains(&json!("null")) {
                    types.push(json!("null"));
                }
                out.insert("type".into(), Value::Array(types));
            }
            _ => {
                let inner = Value::Object(std::mem::take(&mut out));
                out.insert("anyOf".into(), json!([inner, {"type": "null"}]));
            }
        }
    }
    out
}

/// Merges an `allOf` of plain object schemas into the schema that holds it.
fn merge_all_of(mut out: Map<String, Value>) -> Map<String, Value> {
    let Some(Value::Array(parts)) = out.get("allOf") else {
        return out;
    };
    let plain = |v: &Value| {
        v.as_object().is_some_and(|m| {
            m.keys().all(|k| MERGEABLE.contains(&k.as_str()))
                && m.get("type").is_none_or(|t| t == "object")
        })
    };
    if parts.is_empty()
        || !parts.iter().all(plain)
        || !out
            .keys()
            .all(|k| k == "allOf" || MERGEABLE.contains(&k.as_str()))
    {
        return out;
    }
    let parts = parts.clone();
    out.remove("allOf");
    let mut properties = out
        .remove("properties")
        .and_then(|p| p.as_object().cloned())
        .unwrap_or_default();
    let mut required: Vec<Value> = out
        .remove("required")
        .and_then(|r| r.as_array().cloned())
        .unwrap_or_default();
    for part in parts {
        let Value::Object(part) = part else { continue };
        for (k, v) in part {
            match k.as_str() {
                "properties" => {
                    if let Value::Object(p) = v {
                        properties.extend(p);
                    }
                }
                "required" => {
                    for r in v.as_array().into_iter().flatten() {
                        if !required.contains(r) {
                            required.push(r.clone());
                        }
                    }
                }
                "title" | "description" => {
                    out.entry(k).or_insert(v);
                }
                _ => {}
            }
        }
    }
    out.insert("type".into(), json!("object"));
    out.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        out.insert("required".into(), Value::Array(required));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_example_and_exclusive_bounds_are_translated() {
        let s = json!({
            "type": "object",
            "x-internal": true,
            "discriminator": {"propertyName": "kind"},
            "properties": {
                "name": {"type": "string", "nullable": true, "example": "Ada"},
                "kind": {"enum": ["a", "b"], "nullable": true, "type": "string"},
                "age": {"type": "integer", "minimum": 0, "exclusiveMinimum": true, "maximum": 150},
                "free": {"nullable": true, "description": "anything or null"},
                "list": {"type": "array", "items": {"type": "number", "nullable": true}}
            }
        });
        let out = translate(&s, Flavour::OpenApi30);
        assert!(out.get("x-internal").is_none() && out.get("discriminator").is_none());
        let p = &out["properties"];
        assert_eq!(
            p["name"],
            json!({"type": ["string", "null"], "examples": ["Ada"]})
        );
        assert_eq!(p["kind"]["enum"], json!(["a", "b", null]));
        assert_eq!(
            p["age"],
            json!({"type": "integer", "exclusiveMinimum": 0, "maximum": 150})
        );
        assert_eq!(
            p["free"],
            json!({"anyOf": [{"description": "anything or null"}, {"type": "null"}]})
        );
        assert_eq!(p["list"]["items"]["type"], json!(["number", "null"]));
        // Every translated schema is valid JSON Schema.
        assert!(mcpgw_shared::schema::compile(&out).is_ok());
    }

    #[test]
    fn plain_object_all_of_is_merged_and_anything_else_kept() {
        let s = json!({"allOf": [
            {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
            {"properties": {"name": {"type": "string"}}, "required": ["name", "id"], "description": "a user"}
        ]});
        assert_eq!(
            translate(&s, Flavour::OpenApi31),
            json!({"type": "object", "description": "a user",
                   "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
                   "required": ["id", "name"]})
        );
        let kept = json!({"allOf": [{"type": "object"}, {"minProperties": 1}]});
        assert_eq!(translate(&kept, Flavour::OpenApi31), kept);
        // 3.1 leaves `example`-like 2020-12 keywords alone.
        let modern = json!({"type": ["string", "null"], "examples": ["x"]});
        assert_eq!(translate(&modern, Flavour::OpenApi31), modern);
    }
}

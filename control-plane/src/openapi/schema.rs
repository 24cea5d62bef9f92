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
//!
//! [`sanitize`] then makes a translated schema one the gateway serves as written: ECMAScript
//! octal escapes in `pattern` (`\000-\037`, common in AWS documents) become `\x{..}`; a
//! `pattern` the gateway's linear-time engine refuses (lookaround, backreferences, oversized)
//! is dropped with a note instead of losing the operation; `examples` that are not a list, or
//! whose values contradict the schema's `type`, are dropped, so they never mislead a model or
//! the sandbox.

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

/// Makes `schema` (translated) servable as written; returns what it dropped, for warnings.
pub fn sanitize(schema: &mut Value) -> Vec<String> {
    let mut notes = Vec::new();
    sanitize_into(schema, &mut notes);
    notes
}

fn sanitize_into(schema: &mut Value, notes: &mut Vec<String>) {
    let Value::Object(map) = schema else {
        return;
    };
    if let Some(Value::String(pattern)) = map.get("pattern").cloned() {
        let rewritten = octal_escapes(&pattern);
        if engine_accepts(&rewritten) {
            map.insert("pattern".into(), Value::String(rewritten));
        } else {
            map.remove("pattern");
            notes.push(format!(
                "pattern {} is left out: the gateway's regex engine does not support it",
                serde_json::to_string(&pattern).unwrap_or_default()
            ));
        }
    }
    // An enum value of another type than the schema's can never validate: left out (and the
    // enum with it when none is left, rather than a schema nothing satisfies).
    if let Some(Value::Array(values)) = map.get("enum") {
        let kept: Vec<Value> = values
            .iter()
            .filter(|v| mcpgw_shared::schema::has_type(map.get("type"), v))
            .cloned()
            .collect();
        if kept.len() != values.len() {
            if kept.is_empty() {
                map.remove("enum");
                notes.push("an enum whose values all contradict its type is left out".into());
            } else {
                map.insert("enum".into(), Value::Array(kept));
            }
        }
    }
    match map.get("examples") {
        Some(Value::Array(items)) => {
            let kept: Vec<Value> = items
                .iter()
                .filter(|v| mcpgw_shared::schema::has_type(map.get("type"), v))
                .cloned()
                .collect();
            if kept.is_empty() {
                map.remove("examples");
            } else {
                map.insert("examples".into(), Value::Array(kept));
            }
        }
        Some(_) => {
            map.remove("examples");
        }
        None => {}
    }
    // Only subschemas: `enum`, `default`, `examples` and the like hold values, and the keys
    // of `properties` are names.
    for (key, value) in map.iter_mut() {
        if ONE.contains(&key.as_str()) {
            sanitize_into(value, notes);
        } else if MANY.contains(&key.as_str()) {
            if let Value::Array(items) = value {
                items.iter_mut().for_each(|v| sanitize_into(v, notes));
            }
        } else if NAMED.contains(&key.as_str())
            && let Value::Object(named) = value
        {
            named.values_mut().for_each(|v| sanitize_into(v, notes));
        }
    }
}

fn engine_accepts(pattern: &str) -> bool {
    mcpgw_shared::schema::compile(&json!({"type": "string", "pattern": pattern})).is_ok()
}

/// `\0`, `\07`, `\037` (ECMAScript's legacy octal escapes) as `\x{..}`; every other escape
/// is kept as it is.
fn octal_escapes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('0') => {
                let mut digits = String::new();
                while digits.len() < 3
                    && let Some(d) = chars.peek().copied().filter(|d| ('0'..='7').contains(d))
                {
                    digits.push(d);
                    chars.next();
                }
                let code = u32::from_str_radix(&digits, 8).unwrap_or(0);
                out.push_str(&format!("\\x{{{code:02x}}}"));
            }
            Some(&next) => {
                out.push('\\');
                out.push(next);
                chars.next();
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod sanitize_tests {
    use super::*;

    #[test]
    fn octal_escapes_become_hex_and_unsupported_patterns_are_dropped() {
        let mut s = json!({"type": "object", "properties": {
            "name": {"type": "string", "pattern": "[^/:|\\000-\\037]+"},
            "look": {"type": "string", "pattern": "^(?!x).*$"},
            "plain": {"type": "string", "pattern": "^[a-z]+\\.\\d$"}
        }});
        let notes = sanitize(&mut s);
        let p = &s["properties"];
        assert_eq!(p["name"]["pattern"], "[^/:|\\x{00}-\\x{1f}]+");
        assert!(p["look"].get("pattern").is_none());
        assert_eq!(p["plain"]["pattern"], "^[a-z]+\\.\\d$");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("(?!x)"), "{notes:?}");
        assert!(mcpgw_shared::schema::compile(&s).is_ok());
    }

    #[test]
    fn examples_that_contradict_the_type_or_are_not_a_list_are_dropped() {
        let mut s = json!({"type": "object", "properties": {
            "n": {"type": "integer", "examples": ["0", 3]},
            "m": {"type": "integer", "examples": ["zero"]},
            "o": {"type": "string", "examples": {"a": {"value": "x"}}},
            "e": {"type": "string", "enum": ["a"], "examples": ["a"]},
            "k": {"type": "integer", "enum": ["Primary", 2]},
            "j": {"type": "integer", "enum": ["Primary"]},
            "examples": {"type": "string"},
            "pattern": {"type": "string"}
        }});
        sanitize(&mut s);
        let p = &s["properties"];
        assert_eq!(p["n"]["examples"], json!([3]));
        assert!(p["m"].get("examples").is_none());
        assert!(p["o"].get("examples").is_none());
        assert_eq!(p["e"]["examples"], json!(["a"]));
        assert_eq!(p["k"]["enum"], json!([2]));
        assert!(p["j"].get("enum").is_none());
        // Properties that happen to be called like keywords are properties.
        assert_eq!(p["examples"], json!({"type": "string"}));
        assert_eq!(p["pattern"], json!({"type": "string"}));
    }
}

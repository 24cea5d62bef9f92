//! Compiling tenants' JSON Schemas, the same way on both planes.
//!
//! A schema is a tenant's program run against every call's arguments, so it is compiled with
//! the linear-time `regex` engine for `pattern` (no catastrophic backtracking: lookaround and
//! backreferences are refused at write time instead) and bounded regex program sizes; remote
//! `$ref`s are never fetched (the crate is built without resolvers). The control plane compiles
//! with these options when it validates a tool, so what it accepts the data plane can serve.

use jsonschema::{PatternOptions, Validator};
use serde_json::Value;

/// Largest compiled regex program of one `pattern`.
const REGEX_SIZE_LIMIT: usize = 1024 * 1024;

/// Compiles `schema`.
///
/// # Errors
/// [`SchemaError`]: why the schema does not compile.
pub fn compile(schema: &Value) -> Result<Validator, SchemaError> {
    jsonschema::options()
        .with_pattern_options(
            PatternOptions::regex()
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT),
        )
        .build(schema)
        .map_err(|e| SchemaError(e.to_string()))
}

/// Whether `value` is of a JSON Schema `type` that `types` (a schema's `type`: one name or a
/// list) allows; any type when there is none.
#[must_use]
pub fn has_type(types: Option<&Value>, value: &Value) -> bool {
    let one = |t: &str| match t {
        "string" => value.is_string(),
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => true,
    };
    match types {
        Some(Value::String(t)) => one(t),
        Some(Value::Array(ts)) => ts.iter().any(|t| t.as_str().is_none_or(one)),
        _ => true,
    }
}

/// A JSON Schema that does not compile, with the compiler's explanation (the underlying
/// error borrows the schema, so its text is kept).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SchemaError(pub String);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patterns_match_in_linear_time_and_backtracking_constructs_are_refused() {
        let v = compile(&json!({"type": "string", "pattern": "^(a+)+$"})).expect("compiles");
        // Exponential for a backtracking engine; immediate here.
        let hostile = format!("{}!", "a".repeat(10_000));
        assert!(!v.is_valid(&json!(hostile)));
        assert!(v.is_valid(&json!("aaaa")));
        assert!(compile(&json!({"type": "string", "pattern": "(?=a)a"})).is_err());
        assert!(compile(&json!({"type": "string", "pattern": "(a)\\1"})).is_err());
    }

    #[test]
    fn has_type_reads_one_type_or_a_list() {
        assert!(has_type(Some(&json!("integer")), &json!(3)));
        assert!(has_type(Some(&json!("integer")), &json!(3.0)));
        assert!(!has_type(Some(&json!("integer")), &json!("3")));
        assert!(has_type(Some(&json!(["string", "null"])), &json!(null)));
        assert!(!has_type(Some(&json!(["string", "null"])), &json!(1)));
        assert!(has_type(None, &json!({"any": "thing"})));
    }
}

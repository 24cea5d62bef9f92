//! Local `$ref` resolution: every `{"$ref": "#/..."}` of a schema is replaced by what it
//! points to, recursively. A reference that is already being expanded above (a recursive
//! type) becomes `{}` with a description saying so, so a cycle never expands forever.
//! Expansion is bounded in depth and in the number of nodes produced, so a document whose
//! references fan out (each level referring to the one below twice) gets a clear error
//! instead of exhausting memory.

use serde_json::{Map, Value};

/// Why a schema could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// A reference outside the document (another file or URL).
    #[error("external reference '{0}' is not supported")]
    External(String),
    /// A reference to nothing.
    #[error("reference '{0}' points to nothing in the document")]
    Dangling(String),
    /// Nested deeper than the limit.
    #[error("schema nests deeper than {0} levels once references are expanded")]
    TooDeep(usize),
    /// Expands to more nodes than the budget.
    #[error("schema expands to more than {0} nodes once references are expanded")]
    TooLarge(usize),
}

/// Bounds of one expansion.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest nesting of the expanded schema.
    pub max_depth: usize,
    /// Most JSON nodes the expanded schema may have.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_nodes: 20_000,
        }
    }
}

/// Resolves every local reference in `value` against `root` (the whole document).
///
/// # Errors
/// [`RefError`].
pub fn resolve(root: &Value, value: &Value, limits: Limits) -> Result<Value, RefError> {
    let mut state = State {
        root,
        limits,
        nodes: 0,
        chain: Vec::new(),
    };
    state.expand(value, 0)
}

struct State<'a> {
    root: &'a Value,
    limits: Limits,
    nodes: usize,
    /// The references being expanded, outermost first.
    chain: Vec<String>,
}

impl State<'_> {
    fn count(&mut self) -> Result<(), RefError> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(RefError::TooLarge(self.limits.max_nodes));
        }
        Ok(())
    }

    fn expand(&mut self, value: &Value, depth: usize) -> Result<Value, RefError> {
        if depth > self.limits.max_depth {
            return Err(RefError::TooDeep(self.limits.max_depth));
        }
        self.count()?;
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    return self.follow(reference, map, depth);
                }
                let mut out = Map::with_capacity(map.len());
                for (k, v) in map {
                    out.insert(k.clone(), self.expand(v, depth + 1)?);
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => items
                .iter()
                .map(|v| self.expand(v, depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    fn follow(
        &mut self,
        reference: &str,
        map: &Map<String, Value>,
        depth: usize,
    ) -> Result<Value, RefError> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(RefError::External(reference.to_owned()));
        };
        if self.chain.iter().any(|r| r == reference) {
            let name = reference.rsplit('/').next().unwrap_or(reference);
            return Ok(serde_json::json!({
                "description": format!("(recursive: a nested {name})")
            }));
        }
        let target = self
            .root
            .pointer(pointer)
            .ok_or_else(|| RefError::Dangling(reference.to_owned()))?;
        self.chain.push(reference.to_owned());
        let mut expanded = self.expand(target, depth + 1);
        self.chain.pop();
        // Siblings of `$ref` (3.1 allows `description` and friends beside it) override.
        if let Ok(Value::Object(out)) = &mut expanded {
            for (k, v) in map.iter().filter(|(k, _)| *k != "$ref") {
                out.insert(k.clone(), self.expand(v, depth + 1)?);
            }
        }
        expanded
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn references_are_inlined_with_sibling_overrides() {
        let doc = json!({"components": {"schemas": {
            "Id": {"type": "string", "description": "an id"},
            "User": {"type": "object", "properties": {"id": {"$ref": "#/components/schemas/Id"}}}
        }}});
        let schema = json!({"$ref": "#/components/schemas/User", "description": "the user"});
        let out = resolve(&doc, &schema, Limits::default()).expect("resolves");
        assert_eq!(
            out,
            json!({"type": "object", "description": "the user",
                   "properties": {"id": {"type": "string", "description": "an id"}}})
        );
    }

    #[test]
    fn cycles_stop_at_the_repeat_and_escaped_pointers_work() {
        let doc = json!({"components": {"schemas": {
            "Node": {"type": "object", "properties": {
                "child": {"$ref": "#/components/schemas/Node"},
                "a/b": {"$ref": "#/components/schemas/a~1b"}
            }},
            "a/b": {"type": "integer"}
        }}});
        let out = resolve(
            &doc,
            &json!({"$ref": "#/components/schemas/Node"}),
            Limits::default(),
        )
        .expect("resolves");
        assert_eq!(
            out["properties"]["child"],
            json!({"description": "(recursive: a nested Node)"})
        );
        assert_eq!(out["properties"]["a/b"], json!({"type": "integer"}));
    }

    #[test]
    fn fan_out_external_and_dangling_references_are_refused() {
        // Each level refers to the next twice: 2^15 copies of the last if expanded naively.
        let mut schemas = serde_json::Map::new();
        for i in 0..15 {
            schemas.insert(
                format!("L{i}"),
                json!({"type": "object", "properties": {
                    "a": {"$ref": format!("#/components/schemas/L{}", i + 1)},
                    "b": {"$ref": format!("#/components/schemas/L{}", i + 1)}
                }}),
            );
        }
        schemas.insert("L15".into(), json!({"type": "string"}));
        let doc = json!({"components": {"schemas": schemas}});
        let bomb = json!({"$ref": "#/components/schemas/L0"});
        assert_eq!(
            resolve(&doc, &bomb, Limits::default()),
            Err(RefError::TooLarge(20_000))
        );
        assert!(matches!(
            resolve(&doc, &json!({"$ref": "other.yaml#/X"}), Limits::default()),
            Err(RefError::External(_))
        ));
        assert!(matches!(
            resolve(&doc, &json!({"$ref": "#/nope"}), Limits::default()),
            Err(RefError::Dangling(_))
        ));
        let deep = (0..100).fold(json!(1), |v, _| json!({"not": v}));
        assert_eq!(
            resolve(&doc, &deep, Limits::default()),
            Err(RefError::TooDeep(64))
        );
    }
}

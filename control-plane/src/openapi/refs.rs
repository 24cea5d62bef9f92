//! Local `$ref` resolution: every `{"$ref": "#/..."}` of a schema is replaced by what it
//! points to, recursively (the pointer percent-decoded first, as RFC 6901 says of URI
//! fragments). A reference that is already being expanded above (a recursive type) becomes
//! `{}` with a description saying so, so a cycle never expands forever. Expansion is bounded
//! in depth and in the number of nodes produced: past either bound a reference is no longer
//! followed (it becomes `{}` with a description, and the result says it was cut), so a
//! document whose references fan out (each level referring to the one below twice) gets a
//! bounded schema instead of exhausting memory. Only the schema's own nesting past a hard
//! bound is an error.

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
    /// Nested deeper than the hard limit without any reference to cut.
    #[error("schema nests deeper than {0} levels")]
    TooDeep(usize),
    /// More nodes than the hard limit without any reference to cut.
    #[error("schema has more than {0} nodes")]
    TooLarge(usize),
}

/// How much deeper than [`Limits::max_depth`] a schema's own nesting may go.
const HARD_DEPTH_MARGIN: usize = 32;

/// A resolved schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The schema, references replaced.
    pub value: Value,
    /// Whether some reference was left unexpanded at the bounds.
    pub cut: bool,
}

/// Bounds of one expansion. References stop being followed at these; the schema's own
/// content is an error past twice the nodes or 32 levels deeper.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest nesting references are followed to.
    pub max_depth: usize,
    /// Most JSON nodes before references stop being followed.
    pub max_nodes: usize,
    /// Most references followed one inside another: past it the schema is cut breadth-wise
    /// (every field of the top levels, none of the deepest), where the node bound alone
    /// would cut depth-first (the first fields in full, the last ones not at all).
    pub max_ref_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_nodes: 5_000,
            max_ref_depth: 4,
        }
    }
}

/// Resolves every local reference in `value` against `root` (the whole document).
///
/// # Errors
/// [`RefError`].
pub fn resolve(root: &Value, value: &Value, limits: Limits) -> Result<Resolved, RefError> {
    let mut state = State {
        root,
        limits,
        nodes: 0,
        chain: Vec::new(),
        cut: false,
    };
    let value = state.expand(value, 0)?;
    Ok(Resolved {
        value,
        cut: state.cut,
    })
}

struct State<'a> {
    root: &'a Value,
    limits: Limits,
    nodes: usize,
    /// The references being expanded, outermost first.
    chain: Vec<String>,
    cut: bool,
}

impl State<'_> {
    fn count(&mut self) -> Result<(), RefError> {
        self.nodes += 1;
        if self.nodes > 2 * self.limits.max_nodes {
            return Err(RefError::TooLarge(2 * self.limits.max_nodes));
        }
        Ok(())
    }

    fn expand(&mut self, value: &Value, depth: usize) -> Result<Value, RefError> {
        // What the store and the data planes decode bounds what a tool may nest.
        if depth > self.limits.max_depth + HARD_DEPTH_MARGIN {
            return Err(RefError::TooDeep(self.limits.max_depth + HARD_DEPTH_MARGIN));
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
        let name = reference.rsplit('/').next().unwrap_or(reference);
        if self.chain.iter().any(|r| r == reference) {
            return Ok(serde_json::json!({
                "description": format!("(recursive: a nested {name})")
            }));
        }
        if depth >= self.limits.max_depth
            || self.nodes >= self.limits.max_nodes
            || self.chain.len() >= self.limits.max_ref_depth
        {
            self.cut = true;
            return Ok(serde_json::json!({
                "description": format!("({name}: not expanded, the schema is too large)")
            }));
        }
        let target = match self.root.pointer(pointer) {
            Some(t) => t,
            None => percent_decoded(pointer)
                .and_then(|p| self.root.pointer(&p))
                .ok_or_else(|| RefError::Dangling(reference.to_owned()))?,
        };
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

/// `text` with its `%XX` escapes decoded; `None` when it has none or they are not UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    if !text.contains('%') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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
        let out = resolve(&doc, &schema, Limits::default())
            .expect("resolves")
            .value;
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
        .expect("resolves")
        .value;
        assert_eq!(
            out["properties"]["child"],
            json!({"description": "(recursive: a nested Node)"})
        );
        assert_eq!(out["properties"]["a/b"], json!({"type": "integer"}));
    }

    #[test]
    fn references_nested_deeper_than_the_bound_are_cut_breadth_wise() {
        // L0 -> L1 -> ... -> L6, each also with a plain field.
        let mut schemas = serde_json::Map::new();
        for i in 0..6 {
            schemas.insert(
                format!("L{i}"),
                json!({"type": "object", "properties": {
                    "name": {"type": "string"},
                    "next": {"$ref": format!("#/components/schemas/L{}", i + 1)}
                }}),
            );
        }
        schemas.insert("L6".into(), json!({"type": "integer"}));
        let doc = json!({"components": {"schemas": schemas}});
        let out = resolve(
            &doc,
            &json!({"$ref": "#/components/schemas/L0"}),
            Limits::default(),
        )
        .expect("resolves");
        assert!(out.cut);
        let v = &out.value;
        // Four references deep in full, plain fields at every level kept.
        let level3 = &v["properties"]["next"]["properties"]["next"]["properties"]["next"];
        assert_eq!(level3["properties"]["name"], json!({"type": "string"}));
        assert_eq!(
            level3["properties"]["next"],
            json!({"description": "(L4: not expanded, the schema is too large)"})
        );
    }

    #[test]
    fn percent_encoded_pointers_resolve() {
        let doc = json!({"paths": {"/items/{id}": {"get": {"responses": {"200": {"description": "ok"}}}}}});
        let r = json!({"$ref": "#/paths/~1items~1%7Bid%7D/get/responses/200"});
        let out = resolve(&doc, &r, Limits::default()).expect("resolves");
        assert_eq!(out.value, json!({"description": "ok"}));
    }

    #[test]
    fn fan_out_is_cut_at_the_bound_and_external_and_dangling_references_are_refused() {
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
        let cut = resolve(&doc, &bomb, Limits::default()).expect("cut, not refused");
        assert!(cut.cut);
        let nodes = cut.value.to_string().matches('{').count();
        assert!(nodes < 2 * 20_000, "{nodes} objects");
        assert!(
            cut.value
                .to_string()
                .contains("not expanded, the schema is too large")
        );
        assert!(matches!(
            resolve(&doc, &json!({"$ref": "other.yaml#/X"}), Limits::default()),
            Err(RefError::External(_))
        ));
        assert!(matches!(
            resolve(&doc, &json!({"$ref": "#/nope"}), Limits::default()),
            Err(RefError::Dangling(_))
        ));
        // The schema's own nesting, past the hard bound, is an error.
        let deep = (0..200).fold(json!(1), |v, _| json!({"not": v}));
        assert_eq!(
            resolve(&doc, &deep, Limits::default()),
            Err(RefError::TooDeep(96))
        );
    }
}

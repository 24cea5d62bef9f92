//! Compiled `inputSchema` validators, shared by every tool whose schema is identical: catalogs
//! repeat schemas (the same pagination or id parameters across many tools and integrations),
//! and a compiled validator weighs many times its schema. An entry lives while a tool uses it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use jsonschema::Validator;
use mcpgw_shared::schema::{SchemaError, compile};
use serde_json::{Map, Value};

/// Compiled validators by their schema's serialised form.
static SHARED: LazyLock<Mutex<Cache>> = LazyLock::new(|| Mutex::new(Cache::default()));

#[derive(Default)]
struct Cache {
    by_schema: HashMap<String, Weak<Validator>>,
    /// Entries at the last sweep of dead ones.
    swept_at: usize,
}

/// The validator of `schema`: an identical schema's, if one is alive, else compiled now.
///
/// # Errors
/// The schema does not compile.
pub fn shared(schema: &Map<String, Value>) -> Result<Arc<Validator>, SchemaError> {
    let text = serde_json::to_string(schema).unwrap_or_default();
    if let Some(alive) = cache().by_schema.get(&text).and_then(Weak::upgrade) {
        return Ok(alive);
    }
    // Compiled without the lock: another tool's first call does not wait for this one.
    let compiled = Arc::new(compile(&Value::Object(schema.clone()))?);
    let mut cache = cache();
    if let Some(alive) = cache.by_schema.get(&text).and_then(Weak::upgrade) {
        return Ok(alive);
    }
    cache.by_schema.insert(text, Arc::downgrade(&compiled));
    if cache.by_schema.len() >= 2 * cache.swept_at.max(512) {
        cache.by_schema.retain(|_, v| v.strong_count() > 0);
        cache.swept_at = cache.by_schema.len();
    }
    Ok(compiled)
}

/// Schemas already found valid, by a keyed hash of their text: a full snapshot checks every
/// tool's schema, and catalogs repeat them, so each distinct schema is checked once. The key is
/// random per process; a collision could only skip the check of one schema, which is then
/// still compiled (and refused if it does not compile) on its first call.
static CHECKED: LazyLock<(
    std::hash::RandomState,
    Mutex<std::collections::HashSet<u64>>,
)> = LazyLock::new(Default::default);
/// The most hashes kept; past it the set starts over.
const MAX_CHECKED: usize = 1 << 17;

/// Checks `schema` (whose JSON text is `text`, as already rendered for the tool's listing
/// entry) against the JSON Schema meta-schema of its draft, without compiling it. A schema
/// naming a meta-schema this gateway does not bundle is left to compilation.
///
/// # Errors
/// The schema is not a valid JSON Schema.
pub fn check(schema: &Map<String, Value>, text: &str) -> Result<(), SchemaError> {
    use std::hash::BuildHasher;
    let (keys, checked) = &*CHECKED;
    let hash = keys.hash_one(text);
    let known = checked
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains(&hash);
    if known {
        return Ok(());
    }
    check_uncached(schema)?;
    let mut set = checked
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if set.len() >= MAX_CHECKED {
        set.clear();
    }
    set.insert(hash);
    Ok(())
}

fn check_uncached(schema: &Map<String, Value>) -> Result<(), SchemaError> {
    const BUNDLED: [&str; 5] = [
        "https://json-schema.org/draft/2020-12/schema",
        "https://json-schema.org/draft/2019-09/schema",
        "http://json-schema.org/draft-07/schema",
        "http://json-schema.org/draft-06/schema",
        "http://json-schema.org/draft-04/schema",
    ];
    if let Some(uri) = schema.get("$schema") {
        let known = uri
            .as_str()
            .is_some_and(|u| BUNDLED.contains(&u.trim_end_matches('#')));
        if !known {
            return Ok(());
        }
    }
    let value = Value::Object(schema.clone());
    jsonschema::meta::validate(&value).map_err(|e| SchemaError(e.to_string()))
}

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    SHARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn identical_schemas_share_one_validator_while_it_is_used() {
        let a =
            schema(json!({"type": "object", "properties": {"shared-test-id": {"type": "string"}}}));
        let first = shared(&a).expect("compiles");
        let second = shared(&a.clone()).expect("compiles");
        assert!(Arc::ptr_eq(&first, &second));
        let other = shared(&schema(
            json!({"type": "object", "required": ["shared-test-x"]}),
        ))
        .expect("compiles");
        assert!(!Arc::ptr_eq(&first, &other));
        drop((first, second));
        // Nobody uses it any more: the next request compiles afresh.
        let again = shared(&a).expect("compiles");
        assert!(again.is_valid(&json!({"shared-test-id": "x"})));
        assert!(!again.is_valid(&json!({"shared-test-id": 1})));
    }

    fn checked(value: Value) -> Result<(), SchemaError> {
        let schema = schema(value);
        check(&schema, &serde_json::to_string(&schema).expect("json"))
    }

    #[test]
    fn the_meta_schema_check_catches_what_is_not_a_schema() {
        assert!(checked(json!({"type": "object"})).is_ok());
        assert!(checked(json!({"type": 12})).is_err());
        // Only what passed is remembered: the same bad schema fails every time.
        assert!(checked(json!({"type": 12})).is_err());
        assert!(checked(json!({"type": "object"})).is_ok());
        assert!(checked(json!({"properties": {"x": {"minimum": "no"}}})).is_err());
        // An unbundled meta-schema is left to compilation, never fetched.
        assert!(checked(json!({"$schema": "https://example.invalid/meta", "type": 12})).is_ok());
    }
}

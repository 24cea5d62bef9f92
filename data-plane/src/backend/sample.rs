//! Deterministic sample values from a JSON Schema, for tools the sandbox has no simulation
//! for. The same schema and arguments always give the same sample, so tests and demos are
//! repeatable; different arguments give different samples.

use serde_json::{Map, Value, json};

/// Deepest nesting generated (guards against recursive or huge schemas).
const MAX_DEPTH: usize = 8;
/// Most values generated for one sample, whatever the schema asks for.
const MAX_NODES: usize = 2_000;
/// Longest generated string, whatever `minLength` says.
const MAX_STRING: usize = 1_024;
/// Most items in a generated array.
const MAX_ITEMS: u64 = 8;

/// A sample of `schema`, seeded by `arguments`.
#[must_use]
pub fn sample(schema: &Map<String, Value>, arguments: &Map<String, Value>) -> Value {
    // serde_json maps are ordered by key, so this text is canonical.
    let seed = fnv1a(
        serde_json::to_string(arguments)
            .unwrap_or_default()
            .as_bytes(),
    );
    Gen {
        seed,
        budget: std::cell::Cell::new(MAX_NODES),
    }
    .value(&Value::Object(schema.clone()), "value", 0)
}

struct Gen {
    seed: u64,
    /// Values still allowed; a schema cannot make a sample large.
    budget: std::cell::Cell<usize>,
}

impl Gen {
    /// A fresh pseudo-random number for `path`, stable for a given seed.
    fn n(&self, path: &str) -> u64 {
        fnv1a(format!("{}:{path}", self.seed).as_bytes())
    }

    fn value(&self, schema: &Value, path: &str, depth: usize) -> Value {
        let Some(s) = schema.as_object() else {
            // `true` or a non-object schema: anything goes.
            return json!(format!("sample-{path}"));
        };
        if depth > MAX_DEPTH || self.budget.get() == 0 {
            return Value::Null;
        }
        self.budget.set(self.budget.get() - 1);
        if let Some(c) = s.get("const") {
            return c.clone();
        }
        if let Some(Value::Array(options)) = s.get("enum")
            && !options.is_empty()
        {
            return options[(self.n(path) % options.len() as u64) as usize].clone();
        }
        if let Some(Value::Array(examples)) = s.get("examples")
            && let Some(first) = examples.first()
        {
            return first.clone();
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(Value::Array(options)) = s.get(key)
                && let Some(first) = options.first()
            {
                return self.value(first, path, depth + 1);
            }
        }
        let ty = match s.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null"),
            _ if s.contains_key("properties") => "object",
            _ if s.contains_key("items") => "array",
            _ => "string",
        };
        match ty {
            "object" => self.object(s, path, depth),
            "array" => self.array(s, path, depth),
            "integer" => json!(self.integer(s, path)),
            "number" => self.number(s, path),
            "boolean" => json!(self.n(path).is_multiple_of(2)),
            "null" => Value::Null,
            _ => json!(self.string(s, path)),
        }
    }

    fn object(&self, s: &Map<String, Value>, path: &str, depth: usize) -> Value {
        let mut out = Map::new();
        if let Some(Value::Object(props)) = s.get("properties") {
            for (name, prop) in props {
                out.insert(
                    name.clone(),
                    self.value(prop, &format!("{path}.{name}"), depth + 1),
                );
            }
        }
        Value::Object(out)
    }

    fn array(&self, s: &Map<String, Value>, path: &str, depth: usize) -> Value {
        let min = s
            .get("minItems")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .min(MAX_ITEMS);
        let max = s
            .get("maxItems")
            .and_then(Value::as_u64)
            .unwrap_or(min.max(3))
            .clamp(min, MAX_ITEMS);
        let len = min + self.n(path) % (max - min + 1);
        let items = s.get("items").cloned().unwrap_or(Value::Bool(true));
        Value::Array(
            (0..len)
                .map(|i| self.value(&items, &format!("{path}[{i}]"), depth + 1))
                .collect(),
        )
    }

    fn integer(&self, s: &Map<String, Value>, path: &str) -> i64 {
        let lo = s.get("minimum").and_then(Value::as_i64).unwrap_or(0);
        let hi = s
            .get("maximum")
            .and_then(Value::as_i64)
            .unwrap_or(lo.saturating_add(1000))
            .max(lo);
        let span = u64::try_from(hi.saturating_sub(lo))
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        lo.saturating_add(i64::try_from(self.n(path) % span.max(1)).unwrap_or(0))
    }

    fn number(&self, s: &Map<String, Value>, path: &str) -> Value {
        let lo = s.get("minimum").and_then(Value::as_f64).unwrap_or(0.0);
        let hi = s
            .get("maximum")
            .and_then(Value::as_f64)
            .unwrap_or(lo + 1000.0)
            .max(lo);
        let frac = (self.n(path) % 10_000) as f64 / 10_000.0;
        json!(lo + (hi - lo) * frac)
    }

    fn string(&self, s: &Map<String, Value>, path: &str) -> String {
        let n = self.n(path) % 100_000;
        let base = match s.get("format").and_then(Value::as_str) {
            Some("date-time") => format!("2025-01-{:02}T12:00:00Z", 1 + n % 28),
            Some("date") => format!("2025-01-{:02}", 1 + n % 28),
            Some("email") => format!("user{n}@example.com"),
            Some("uri" | "url") => format!("https://example.com/item/{n}"),
            Some("uuid") => format!("00000000-0000-4000-8000-{n:012}"),
            _ => format!("sample-{}-{n}", path.rsplit('.').next().unwrap_or(path)),
        };
        let min = usize::try_from(s.get("minLength").and_then(Value::as_u64).unwrap_or(0))
            .unwrap_or(MAX_STRING)
            .min(MAX_STRING);
        let max = s
            .get("maxLength")
            .and_then(Value::as_u64)
            .map(|m| usize::try_from(m).unwrap_or(usize::MAX));
        let mut text = base;
        let count = text.chars().count();
        if count < min {
            text.extend(std::iter::repeat_n('x', min - count));
        }
        if let Some(max) = max {
            text = text.chars().take(max).collect();
        }
        text
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Map<String, Value> {
        json!({
            "type": "object",
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "count": {"type": "integer", "minimum": 5, "maximum": 9},
                "score": {"type": "number", "minimum": 0, "maximum": 1},
                "status": {"enum": ["open", "closed"]},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "minItems": 2, "maxItems": 4},
                "owner": {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}, "required": ["email"]},
                "ok": {"type": "boolean"}
            },
            "required": ["id", "count", "status"]
        })
        .as_object()
        .cloned()
        .expect("object")
    }

    #[test]
    fn deterministic_and_valid() {
        let args = json!({"q": "a"}).as_object().cloned().expect("obj");
        let a = sample(&schema(), &args);
        assert_eq!(a, sample(&schema(), &args), "same arguments, same sample");
        let validator = jsonschema::validator_for(&Value::Object(schema())).expect("schema");
        assert!(validator.is_valid(&a), "{a}");
        let other = json!({"q": "b"}).as_object().cloned().expect("obj");
        let b = sample(&schema(), &other);
        assert!(validator.is_valid(&b), "{b}");
        assert_ne!(a, b, "different arguments, different sample");
    }

    #[test]
    fn hostile_schemas_stay_small_and_fast() {
        let nested = (0..10).fold(
            json!({"type": "string", "minLength": 100_000_000}),
            |inner, _| json!({"type": "array", "items": inner, "minItems": 16, "maxItems": 16}),
        );
        let schema = json!({"type": "object", "properties": {
            "deep": nested,
            "wrap": {"type": "array", "minItems": 0, "maxItems": u64::MAX},
            "range": {"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX}
        }});
        let v = sample(schema.as_object().expect("obj"), &Map::new());
        assert!(serde_json::to_string(&v).expect("json").len() < 4 * 1024 * 1024);
        let long = json!({"type": "object", "properties": {"s": {"type": "string", "minLength": 100_000_000}}});
        let v = sample(long.as_object().expect("obj"), &Map::new());
        assert_eq!(
            v["s"].as_str().map(str::len),
            Some(1024),
            "minLength is capped: {v}"
        );
    }

    #[test]
    fn survives_odd_schemas() {
        let odd = json!({"type": "object", "properties": {"any": true, "nested": {"properties": {"x": {"type": ["null", "integer"]}}}}});
        let v = sample(odd.as_object().expect("obj"), &Map::new());
        assert!(v["nested"]["x"].is_i64(), "{v}");
    }
}

//! Deterministic sample values from a JSON Schema, for tools the sandbox has no simulation
//! for. The same schema and arguments always give the same sample, so tests and demos are
//! repeatable; different arguments give different samples.
//!
//! Samples aim to validate against their schema, since clients check `structuredContent`
//! against `outputSchema`: strings match their `pattern` (generated from the regex itself),
//! every branch of an `allOf` contributes, required properties come first (so a budget that
//! runs out drops optional ones), `minProperties` is met, an example is used only when it has
//! the schema's type, and past the depth bound a value still has its type.

use serde_json::{Map, Value, json};

/// Deepest nesting generated (guards against recursive or huge schemas).
const MAX_DEPTH: usize = 8;
/// Most values generated for one sample, whatever the schema asks for.
const MAX_NODES: usize = 2_000;
/// Longest generated string, whatever `minLength` says.
const MAX_STRING: usize = 1_024;
/// Most items in a generated array.
const MAX_ITEMS: u64 = 8;
/// Most bytes of text one sample holds in all: generated strings, object keys and copied
/// `const`/`enum`/`examples` values.
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;
/// How much of a property name seeds its value and shows in a generated string.
const NAME_BYTES: usize = 32;

/// A sample of `schema`, seeded by `arguments`.
#[must_use]
pub fn sample(schema: &Map<String, Value>, arguments: &Map<String, Value>) -> Value {
    generate(schema, arguments).0
}

/// The sample and the work it took (nodes visited plus bytes hashed or copied): linear in the
/// schema and bounded by the budgets, whatever the schema holds.
fn generate(schema: &Map<String, Value>, arguments: &Map<String, Value>) -> (Value, usize) {
    // serde_json maps are ordered by key, so this text is canonical.
    let seed = fnv1a(
        serde_json::to_string(arguments)
            .unwrap_or_default()
            .as_bytes(),
    );
    let mut g = Gen {
        nodes: MAX_NODES,
        bytes: MAX_OUTPUT_BYTES,
        work: 0,
    };
    let value = g.value_of(schema, seed, "", 0);
    (value, g.work)
}

struct Gen {
    /// Values still allowed.
    nodes: usize,
    /// Output bytes still allowed.
    bytes: usize,
    /// Work done so far.
    work: usize,
}

/// At most the first and last `NAME_BYTES / 2` bytes of `name` (on character boundaries).
fn name_sketch(name: &str) -> (&str, &str) {
    let half = NAME_BYTES / 2;
    if name.len() <= NAME_BYTES {
        return (name, "");
    }
    let mut head = half;
    while !name.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = name.len() - half;
    while !name.is_char_boundary(tail) {
        tail += 1;
    }
    (&name[..head], &name[tail..])
}

impl Gen {
    /// The seed of a child named `name` (a property) or numbered (an array item): a fixed
    /// amount of work however long the name, so a long name costs nothing per node below it.
    fn child(&mut self, seed: u64, name: &str) -> u64 {
        let (head, tail) = name_sketch(name);
        self.work += head.len() + tail.len();
        let mut bytes = Vec::with_capacity(8 + 8 + head.len() + tail.len());
        bytes.extend_from_slice(&seed.to_le_bytes());
        bytes.extend_from_slice(&(name.len() as u64).to_le_bytes());
        bytes.extend_from_slice(head.as_bytes());
        bytes.extend_from_slice(tail.as_bytes());
        fnv1a(&bytes)
    }

    fn item(seed: u64, index: u64) -> u64 {
        fnv1a(&[seed.to_le_bytes(), index.to_le_bytes()].concat())
    }

    /// Charges `n` output bytes; false when the budget does not have them.
    fn spend(&mut self, n: usize) -> bool {
        if n > self.bytes {
            return false;
        }
        self.bytes -= n;
        self.work += n;
        true
    }

    /// A copy of a schema's literal (`const`, an `enum` member, an example), if the output
    /// budget holds it. Measuring is paid from the budget whether it fits or not, so a huge
    /// literal referenced by every node is measured once, not once per node.
    fn copy(&mut self, v: &Value) -> Value {
        let (fits, measured) = bounded_size(v, self.bytes);
        self.bytes -= measured.min(self.bytes);
        self.work += measured;
        if fits { v.clone() } else { Value::Null }
    }

    fn value(&mut self, schema: &Value, seed: u64, name: &str, depth: usize) -> Value {
        let Some(s) = schema.as_object() else {
            // `true` or a non-object schema: anything goes.
            return self.string(&Map::new(), seed, name);
        };
        self.value_of(s, seed, name, depth)
    }

    fn value_of(&mut self, s: &Map<String, Value>, seed: u64, name: &str, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            let mut budget = LEAF_NODES;
            return self.leaf(s, &mut budget);
        }
        if self.nodes == 0 {
            return Value::Null;
        }
        self.nodes -= 1;
        self.work += 1;
        if let Some(c) = s.get("const") {
            return self.copy(c);
        }
        if let Some(Value::Array(options)) = s.get("enum")
            && !options.is_empty()
        {
            return self.copy(&options[(seed % options.len() as u64) as usize]);
        }
        if let Some(Value::Array(examples)) = s.get("examples")
            && let Some(first) = examples.first()
            && mcpgw_shared::schema::has_type(s.get("type"), first)
        {
            return self.copy(first);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(Value::Array(options)) = s.get(key)
                && let Some(first) = options.first()
            {
                return self.value(first, seed, name, depth + 1);
            }
        }
        if let Some(Value::Array(parts)) = s.get("allOf")
            && !parts.is_empty()
        {
            // Every branch must hold: objects are merged (the first to name a key wins);
            // otherwise the first branch's value stands.
            let mut merged = self.value(&parts[0], seed, name, depth + 1);
            for part in &parts[1..] {
                if let (Value::Object(out), Value::Object(more)) =
                    (&mut merged, self.value(part, seed, name, depth + 1))
                {
                    for (k, v) in more {
                        out.entry(k).or_insert(v);
                    }
                }
            }
            if let Value::Object(out) = &mut merged
                && (s.contains_key("properties") || type_name(s) == "object")
                && let Value::Object(own) = self.object(s, seed, depth)
            {
                for (k, v) in own {
                    out.entry(k).or_insert(v);
                }
            }
            return merged;
        }
        let ty = type_name(s);
        match ty {
            "object" => self.object(s, seed, depth),
            "array" => self.array(s, seed, name, depth),
            "integer" => json!(integer(s, seed)),
            "number" => number(s, seed),
            "boolean" => json!(seed.is_multiple_of(2)),
            "null" => Value::Null,
            _ => self.string(s, seed, name),
        }
    }

    fn object(&mut self, s: &Map<String, Value>, seed: u64, depth: usize) -> Value {
        let mut out = Map::new();
        if let Some(Value::Object(props)) = s.get("properties") {
            let required = |name: &str| {
                s.get("required")
                    .and_then(Value::as_array)
                    .is_some_and(|r| r.iter().any(|v| v.as_str() == Some(name)))
            };
            // Required properties first: when a budget runs out, only optional ones are lost.
            let ordered = props
                .iter()
                .filter(|(n, _)| required(n))
                .chain(props.iter().filter(|(n, _)| !required(n)));
            for (name, prop) in ordered {
                if self.nodes == 0 || !self.spend(name.len()) {
                    break;
                }
                let child = self.child(seed, name);
                let value = self.value(prop, child, name, depth + 1);
                out.insert(name.clone(), value);
            }
        }
        let min = s
            .get("minProperties")
            .and_then(Value::as_u64)
            .map_or(0, |m| usize::try_from(m.min(MAX_ITEMS)).unwrap_or(0));
        if s.get("additionalProperties") != Some(&Value::Bool(false)) {
            let extra = s.get("additionalProperties").filter(|v| v.is_object());
            let mut i = 0;
            while out.len() < min && self.nodes > 0 {
                let key = format!("key{i}");
                i += 1;
                if out.contains_key(&key) {
                    continue;
                }
                if !self.spend(key.len()) {
                    break;
                }
                let child = self.child(seed, &key);
                let value = match extra {
                    Some(schema) => self.value(schema, child, &key, depth + 1),
                    None => self.string(&Map::new(), child, &key),
                };
                out.insert(key, value);
            }
        }
        Value::Object(out)
    }

    fn array(&mut self, s: &Map<String, Value>, seed: u64, name: &str, depth: usize) -> Value {
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
        let len = min + seed % (max - min + 1);
        let any = Value::Bool(true);
        let items = s.get("items").unwrap_or(&any);
        let mut out = Vec::new();
        for i in 0..len {
            if self.nodes == 0 {
                break;
            }
            out.push(self.value(items, Self::item(seed, i), name, depth + 1));
        }
        Value::Array(out)
    }

    fn string(&mut self, s: &Map<String, Value>, seed: u64, name: &str) -> Value {
        if let Some(Value::String(pattern)) = s.get("pattern")
            && let Some(text) = matching(
                pattern,
                s.get("minLength").and_then(Value::as_u64).map_or(0, |m| {
                    usize::try_from(m).unwrap_or(MAX_STRING).min(MAX_STRING)
                }),
            )
        {
            return if self.spend(text.len()) {
                Value::String(text)
            } else {
                Value::Null
            };
        }
        let n = seed % 100_000;
        let base = match s.get("format").and_then(Value::as_str) {
            Some("date-time") => format!("2025-01-{:02}T12:00:00Z", 1 + n % 28),
            Some("date") => format!("2025-01-{:02}", 1 + n % 28),
            Some("email") => format!("user{n}@example.com"),
            Some("uri" | "url") => format!("https://example.com/item/{n}"),
            Some("uuid") => format!("00000000-0000-4000-8000-{n:012}"),
            _ => {
                let (head, tail) = name_sketch(name);
                format!("sample-{head}{tail}-{n}")
            }
        };
        let min = usize::try_from(s.get("minLength").and_then(Value::as_u64).unwrap_or(0))
            .unwrap_or(MAX_STRING)
            .min(MAX_STRING);
        let max = s
            .get("maxLength")
            .and_then(Value::as_u64)
            .map_or(MAX_STRING, |m| usize::try_from(m).unwrap_or(usize::MAX))
            .min(MAX_STRING);
        let mut text = base;
        let count = text.chars().count();
        if count < min {
            text.extend(std::iter::repeat_n('x', min - count));
        }
        if text.chars().count() > max {
            text = text.chars().take(max).collect();
        }
        if !self.spend(text.len()) {
            return Value::Null;
        }
        Value::String(text)
    }
    /// The smallest value of the schema's type, with its required properties, for past the
    /// depth or node bound; `budget` bounds its nodes and the output budget its literals.
    fn leaf(&mut self, s: &Map<String, Value>, budget: &mut usize) -> Value {
        self.work += 1;
        if *budget == 0 || self.bytes == 0 || self.nodes == 0 {
            return Value::Null;
        }
        *budget -= 1;
        self.nodes -= 1;
        if let Some(c) = s.get("const") {
            return self.copy(c);
        }
        if let Some(first) = s
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return self.copy(first);
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(first) = s
                .get(key)
                .and_then(Value::as_array)
                .and_then(|o| o.first())
                .and_then(Value::as_object)
            {
                return self.leaf(first, budget);
            }
        }
        match type_name(s) {
            "object" => {
                let mut out = Map::new();
                let props = s.get("properties").and_then(Value::as_object);
                for name in s
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if *budget == 0 || !self.spend(name.len()) {
                        break;
                    }
                    let value = match props.and_then(|p| p.get(name)).and_then(Value::as_object) {
                        Some(schema) => self.leaf(schema, budget),
                        None => json!(""),
                    };
                    out.insert(name.to_owned(), value);
                }
                Value::Object(out)
            }
            "array" => {
                let min = s
                    .get("minItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .min(MAX_ITEMS);
                let items = s.get("items").and_then(Value::as_object);
                Value::Array(
                    (0..min)
                        .map(|_| items.map_or(Value::Null, |i| self.leaf(i, budget)))
                        .collect(),
                )
            }
            "integer" => json!(s.get("minimum").and_then(Value::as_i64).unwrap_or(0)),
            "number" => json!(s.get("minimum").and_then(Value::as_f64).unwrap_or(0.0)),
            "boolean" => json!(false),
            "null" => Value::Null,
            // Its pattern and lengths still hold (bounded like any generated string).
            _ => self.string(s, 0, ""),
        }
    }
}

/// Most nodes of one [`Gen::leaf`] value (its required properties, nested).
const LEAF_NODES: usize = 64;

/// The schema's type (the first that is not `null`), or what its keywords imply.
fn type_name(s: &Map<String, Value>) -> &str {
    match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if s.contains_key("properties") => "object",
        _ if s.contains_key("items") => "array",
        _ => "string",
    }
}

/// A string that `pattern` matches (JSON Schema patterns search, so a match alone is valid),
/// built from the regex: the first branch of each alternation, each repetition's least count
/// (at least one where allowed) — more of the first ones that allow it while the string is
/// shorter than `min_len` — and a printable character of each class where it has one.
/// `None` when the pattern does not parse or its shortest match is over [`MAX_STRING`].
fn matching(pattern: &str, min_len: usize) -> Option<String> {
    use regex_syntax::hir::{Class, Hir, HirKind};
    /// `want`: characters still wanted beyond the least match (taken by repetitions).
    fn walk(h: &Hir, out: &mut String, want: &mut usize) -> bool {
        if out.len() > MAX_STRING {
            return false;
        }
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => true,
            HirKind::Literal(lit) => match std::str::from_utf8(&lit.0) {
                Ok(text) => {
                    out.push_str(text);
                    true
                }
                Err(_) => false,
            },
            HirKind::Class(Class::Unicode(class)) => {
                let ranges = class.ranges();
                let printable = ranges.iter().find_map(|r| {
                    let lo = r.start().max('!');
                    (lo <= r.end() && lo <= '~').then_some(lo)
                });
                match printable.or_else(|| ranges.first().map(|r| r.start())) {
                    Some(c) => {
                        out.push(c);
                        true
                    }
                    None => false,
                }
            }
            HirKind::Class(Class::Bytes(class)) => match class.ranges().first() {
                Some(r) if r.start().is_ascii() => {
                    out.push(char::from(r.start()));
                    true
                }
                _ => false,
            },
            HirKind::Repetition(rep) => {
                let max = rep.max.unwrap_or(u32::MAX);
                let count = rep.min.max(1).min(max);
                if !(0..count).all(|_| walk(&rep.sub, out, want)) {
                    return false;
                }
                let mut done = count;
                while *want > 0 && done < max && out.len() <= MAX_STRING {
                    let before = out.len();
                    if !walk(&rep.sub, out, &mut 0) || out.len() == before {
                        break;
                    }
                    *want = want.saturating_sub(out.len() - before);
                    done += 1;
                }
                true
            }
            HirKind::Capture(cap) => walk(&cap.sub, out, want),
            HirKind::Concat(parts) => parts.iter().all(|p| walk(p, out, want)),
            HirKind::Alternation(branches) => branches.first().is_some_and(|b| walk(b, out, want)),
        }
    }
    let hir = regex_syntax::ParserBuilder::new()
        .nest_limit(64)
        .build()
        .parse(pattern)
        .ok()?;
    let mut least = String::new();
    if !walk(&hir, &mut least, &mut 0) || least.len() > MAX_STRING {
        return None;
    }
    if least.chars().count() >= min_len {
        return Some(least);
    }
    let mut out = String::new();
    let mut want = min_len - least.chars().count();
    (walk(&hir, &mut out, &mut want) && out.len() <= MAX_STRING).then_some(out)
}

fn integer(s: &Map<String, Value>, seed: u64) -> i64 {
    let lo = s.get("minimum").and_then(Value::as_i64).unwrap_or(0);
    let hi = s
        .get("maximum")
        .and_then(Value::as_i64)
        .unwrap_or(lo.saturating_add(1000))
        .max(lo);
    let span = u64::try_from(hi.saturating_sub(lo))
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    lo.saturating_add(i64::try_from(seed % span.max(1)).unwrap_or(0))
}

fn number(s: &Map<String, Value>, seed: u64) -> Value {
    let lo = s.get("minimum").and_then(Value::as_f64).unwrap_or(0.0);
    let hi = s
        .get("maximum")
        .and_then(Value::as_f64)
        .unwrap_or(lo + 1000.0)
        .max(lo);
    let frac = (seed % 10_000) as f64 / 10_000.0;
    json!(lo + (hi - lo) * frac)
}

/// Whether `v` fits in `limit` (its approximate serialised size), and how much of it was
/// measured to find out: at most `limit` plus one step, so measuring a huge literal costs no
/// more than the budget it could use.
fn bounded_size(v: &Value, limit: usize) -> (bool, usize) {
    let mut size = 0usize;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        let step = match v {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => 20,
            Value::String(s) => s.len() + 2,
            Value::Array(items) => 2 + items.len(),
            Value::Object(map) => 2 + map.len() * 4,
        };
        size = size.saturating_add(step);
        if size > limit {
            return (false, limit);
        }
        match v {
            Value::Array(items) => stack.extend(items.iter()),
            Value::Object(map) => {
                for (k, child) in map {
                    size = size.saturating_add(k.len());
                    if size > limit {
                        return (false, limit);
                    }
                    stack.push(child);
                }
            }
            _ => {}
        }
    }
    (true, size)
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
        let validator = mcpgw_shared::schema::compile(&Value::Object(schema())).expect("schema");
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
            Some(MAX_STRING),
            "minLength is capped: {v}"
        );
    }

    /// A long property name above many nodes: the old generator copied the name into the
    /// path string of every node below it (about 0.5 s of CPU per call on the async runtime for
    /// this schema). Now the work done is counted and stays within the budgets, whatever the
    /// name.
    #[test]
    fn long_property_names_cost_nothing_per_node() {
        let long = "n".repeat(200 * 1024);
        let leaf = json!({"type": "object", "properties": {
            "a": {"type": "string"}, "b": {"type": "string"}, "c": {"type": "string"},
            "d": {"type": "string"}, "e": {"type": "string"}, "f": {"type": "string"}
        }});
        let nested = (0..3).fold(
            leaf,
            |inner, _| json!({"type": "array", "items": inner, "minItems": 8, "maxItems": 8}),
        );
        let schema = json!({"type": "object", "properties": {long.clone(): nested}});
        let (value, work) = generate(schema.as_object().expect("obj"), &Map::new());
        let text = serde_json::to_string(&value).expect("json");
        assert!(
            text.len() <= MAX_OUTPUT_BYTES + 64 * 1024,
            "{} bytes",
            text.len()
        );
        assert!(
            work <= 2 * (MAX_OUTPUT_BYTES + MAX_NODES * NAME_BYTES),
            "work {work} grew with the name"
        );
        // The generated values are still there, under the long name.
        assert!(value[&long][0][0][0]["a"].is_string(), "{}", &text[..200]);
        // A literal larger than the budget is not copied, and is measured only as far as the
        // budget goes, however many times it is referenced.
        let big = "x".repeat(MAX_OUTPUT_BYTES);
        let wide: Vec<u32> = (0..100_000).collect();
        for literal in [json!(big), json!(wide)] {
            let schema = json!({"type": "object", "properties": {
                "many": {"type": "array", "minItems": 8, "maxItems": 8,
                    "items": {"type": "array", "minItems": 8, "maxItems": 8, "items": {"const": literal}}}
            }});
            let (value, work) = generate(schema.as_object().expect("obj"), &Map::new());
            assert!(serde_json::to_string(&value).expect("json").len() < MAX_OUTPUT_BYTES + 1024);
            assert!(work <= MAX_OUTPUT_BYTES + 1024, "{work}");
        }
    }

    #[test]
    fn samples_meet_patterns_all_of_min_properties_and_typed_examples() {
        let schema = json!({
            "type": "object",
            "required": ["code", "bucket", "both", "map", "n"],
            "properties": {
                "code": {"type": "string", "pattern": "^[A-Z]{3}-\\d{2,4}(x|y)$"},
                "bucket": {"type": "string", "minLength": 3, "pattern": "^[a-z0-9.-]*$"},
                "aws": {"type": "string", "pattern": "[^/:|\\x{00}-\\x{1f}]+"},
                "both": {"allOf": [
                    {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                    {"type": "object", "properties": {"b": {"type": "string"}}, "required": ["b"]}
                ]},
                "map": {"type": "object", "minProperties": 2, "additionalProperties": {"type": "integer"}},
                "n": {"type": "integer", "examples": ["0"]}
            }
        });
        let schema = schema.as_object().cloned().expect("object");
        let validator =
            mcpgw_shared::schema::compile(&Value::Object(schema.clone())).expect("schema");
        for seed in ["a", "b", "c"] {
            let args = json!({"q": seed}).as_object().cloned().expect("obj");
            let v = sample(&schema, &args);
            assert!(validator.is_valid(&v), "{v}");
        }
        // Deeper than the bound, a required value still has its type.
        let deep = (0..12).fold(
            json!({"type": "integer"}),
            |inner, _| json!({"type": "object", "properties": {"x": inner}, "required": ["x"]}),
        );
        let deep = deep.as_object().cloned().expect("object");
        let v = sample(&deep, &Map::new());
        let validator = mcpgw_shared::schema::compile(&Value::Object(deep)).expect("schema");
        assert!(validator.is_valid(&v), "{v}");
    }

    #[test]
    fn survives_odd_schemas() {
        let odd = json!({"type": "object", "properties": {"any": true, "nested": {"properties": {"x": {"type": ["null", "integer"]}}}}});
        let v = sample(odd.as_object().expect("obj"), &Map::new());
        assert!(v["nested"]["x"].is_i64(), "{v}");
    }
}

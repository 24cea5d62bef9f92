//! A document sent as text: JSON, or YAML (most OpenAPI documents are written in it). YAML's
//! aliases can make a small text expand without bound ("billion laughs", or one long string
//! aliased many times), so the value is built under budgets of nodes and of string bytes in
//! proportion to the text: a document that expands beyond what its size could spell out is
//! refused, and the parser stops as soon as it is. YAML text is also bounded on its own
//! ([`MAX_YAML_BYTES`]): its parser holds every event of the text at once.

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The largest YAML text read (JSON text is bounded by the request alone).
pub const MAX_YAML_BYTES: usize = 8 * 1024 * 1024;

/// Nodes a YAML text of `len` bytes may produce: every node takes at least a couple of bytes
/// to write out, so only aliases can go beyond this.
fn node_budget(len: usize) -> usize {
    len / 2 + 1_000
}

/// String bytes (values and keys) a YAML text of `len` bytes may produce: escapes can make a
/// string a little longer than its text, aliases a lot.
fn byte_budget(len: usize) -> usize {
    len.saturating_mul(2) + 4_096
}

/// Reads `text` as JSON, else as YAML.
///
/// # Errors
/// Why neither reads (the YAML error, which says where).
pub fn parse(text: &str) -> Result<Value, String> {
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    if text.len() > MAX_YAML_BYTES {
        return Err(format!(
            "not JSON, and YAML text may be at most {} MiB (send the document as JSON)",
            MAX_YAML_BYTES / (1024 * 1024)
        ));
    }
    let nodes = Cell::new(node_budget(text.len()));
    let bytes = Cell::new(byte_budget(text.len()));
    let de = serde_norway::Deserializer::from_str(text);
    Budgeted {
        nodes: &nodes,
        bytes: &bytes,
    }
    .deserialize(de)
    .map_err(|e| format!("neither JSON nor YAML: {e}"))
}

/// Builds a `serde_json::Value`, one node of the budget at a time.
#[derive(Clone, Copy)]
struct Budgeted<'a> {
    nodes: &'a Cell<usize>,
    bytes: &'a Cell<usize>,
}

impl Budgeted<'_> {
    fn spend<E: serde::de::Error>(self) -> Result<(), E> {
        take(self.nodes, 1, "nodes")
    }

    fn spend_text<E: serde::de::Error>(self, len: usize) -> Result<(), E> {
        self.spend()?;
        take(self.bytes, len, "text")
    }
}

fn take<E: serde::de::Error>(left: &Cell<usize>, n: usize, what: &str) -> Result<(), E> {
    match left.get().checked_sub(n) {
        Some(rest) => {
            left.set(rest);
            Ok(())
        }
        None => Err(E::custom(format!(
            "the document expands to more {what} than its size allows (YAML aliases)"
        ))),
    }
}

impl<'de> DeserializeSeed<'de> for Budgeted<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Budgeted<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.spend()?;
        // JSON has no NaN or infinity: such a number is kept as its text.
        Ok(Number::from_f64(v).map_or_else(|| Value::String(v.to_string()), Value::Number))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.spend_text(v.len())?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.spend_text(v.len())?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(self)? {
            // OpenAPI keys are strings; YAML allows others (`200:` is a number).
            let key = match key {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => "null".to_owned(),
                _ => return Err(A::Error::custom("a mapping key must be a scalar")),
            };
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_reads_as_the_same_document_as_json() {
        let yaml = "openapi: 3.0.3\ninfo:\n  title: Pets\n  version: '1'\npaths:\n  /pets:\n    get:\n      responses:\n        200:\n          description: ok\n      x-n: 1.5\n      x-flag: true\n      x-none: ~\n";
        assert_eq!(
            parse(yaml).expect("yaml"),
            json!({"openapi": "3.0.3", "info": {"title": "Pets", "version": "1"},
                   "paths": {"/pets": {"get": {"responses": {"200": {"description": "ok"}},
                   "x-n": 1.5, "x-flag": true, "x-none": null}}}})
        );
        assert_eq!(parse("{\"a\": 1}").expect("json"), json!({"a": 1}));
    }

    #[test]
    fn an_alias_bomb_is_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..12 {
            let prev = level - 1;
            let refs = vec![format!("*l{prev}"); 10].join(", ");
            if level == 1 {
                bomb.push_str(&format!("l0: &l0 [{}]\n", ["*a"; 10].join(", ")));
            }
            bomb.push_str(&format!("l{level}: &l{level} [{refs}]\n"));
        }
        let err = parse(&bomb).expect_err("bomb");
        assert!(err.contains("expands to more nodes"), "{err}");
        // One long string aliased many times: few nodes, a lot of text.
        let mut strings = format!("s: &s \"{}\"\nl: [", "x".repeat(100_000));
        strings.push_str(&vec!["*s"; 20_000].join(", "));
        strings.push_str("]\n");
        let err = parse(&strings).expect_err("aliased string");
        assert!(err.contains("expands to more text"), "{err}");
    }

    #[test]
    fn yaml_text_is_bounded() {
        let big = format!("openapi: 3.0.0\nx: \"{}\"\n", "y".repeat(MAX_YAML_BYTES));
        let err = parse(&big).expect_err("too big");
        assert!(err.contains("at most 8 MiB"), "{err}");
    }

    #[test]
    fn text_that_is_neither_says_so() {
        let err = parse("openapi: [unclosed").expect_err("bad");
        assert!(err.starts_with("neither JSON nor YAML"), "{err}");
    }
}

//! Nesting limits of the JSON documents clients send, tied to what the store can read back.
//!
//! serde_json refuses to decode anything nested deeper than its recursion limit. A document a
//! client sends is later wrapped in a stored record (and in snapshot messages), which adds
//! levels; a document accepted at the limit would then be stored in a form that can never be
//! read again. So the edge accepts documents at most [`MAX_DOCUMENT_DEPTH`] deep, the store
//! refuses to write anything that would not decode, and the constants below prove the two fit.

/// The deepest JSON serde_json decodes (its recursion limit): a value nested this deep
/// decodes, one level more does not.
pub const DECODE_DEPTH_LIMIT: usize = 127;

/// The deepest JSON document a client may send (request bodies, tool definitions, config
/// parameters, JSON carried in gRPC fields).
pub const MAX_DOCUMENT_DEPTH: usize = 64;

/// The most levels a stored record or a snapshot message adds around a client's document.
pub const MAX_WRAPPING_DEPTH: usize = 8;

const _: () = assert!(MAX_DOCUMENT_DEPTH + MAX_WRAPPING_DEPTH <= DECODE_DEPTH_LIMIT);

/// The nesting depth of the JSON text `bytes` (objects and arrays; a scalar is depth 0).
///
/// Linear and without recursion, so it is safe on any input: brackets inside strings are
/// skipped, and malformed text gives some depth without failing (the parser reports it).
#[must_use]
pub fn depth(bytes: &[u8]) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The nesting depth of a parsed value, without recursion.
#[must_use]
pub fn value_depth(value: &serde_json::Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match v {
            serde_json::Value::Array(items) => Box::new(items.iter()),
            serde_json::Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        max = max.max(d + 1);
        stack.extend(children.map(|c| (c, d + 1)));
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn measures_depth_and_ignores_brackets_in_strings() {
        assert_eq!(depth(b"1"), 0);
        assert_eq!(depth(br#"{"a":[1,{"b":"[[[{{"}]}"#), 3);
        assert_eq!(depth(br#"["\"[[[", "\\"]"#), 1);
        assert_eq!(depth(nested(300).as_bytes()), 300);
        let v: serde_json::Value = serde_json::from_str(r#"{"a":[1,{"b":"[["}]}"#).expect("json");
        assert_eq!(value_depth(&v), 3);
        assert_eq!(value_depth(&serde_json::json!(1)), 0);
    }

    #[test]
    fn the_decode_limit_is_serde_jsons() {
        let at = nested(DECODE_DEPTH_LIMIT);
        assert!(serde_json::from_str::<serde_json::Value>(&at).is_ok());
        let over = nested(DECODE_DEPTH_LIMIT + 1);
        assert!(serde_json::from_str::<serde_json::Value>(&over).is_err());
    }
}

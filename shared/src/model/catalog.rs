//! A tool catalog's identity: which published revision a data plane serves, and the
//! SHA-256 that lets a client pin exactly what it reviewed.
//!
//! The hash is defined over a canonical serialisation so any party holding the tools can
//! recompute it: each tool is its JSON with object keys sorted, no whitespace and strings in
//! UTF-8 (as `serde_json` writes a `Value`; Python's `json.dumps(tool, sort_keys=True,
//! separators=(",", ":"), ensure_ascii=False)` gives the same bytes for integers and
//! strings), hashed with SHA-256; the catalog is the SHA-256 of the lines
//! `<tool sha256 hex>  <tool id>\n` in tool-id order (the format of `sha256sum`).

use ring::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};

use super::ToolDef;

/// A catalog revision as clients see it (`_meta["io.mcpgw/catalog"]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CatalogStamp {
    /// The published revision (1, 2, 3...; 0 for a catalog never published since the
    /// gateway kept revisions).
    pub revision: u64,
    /// SHA-256 (hex) of the revision's canonical serialisation.
    pub sha256: String,
}

/// The SHA-256 (hex) of one tool's canonical JSON.
#[must_use]
pub fn tool_digest(tool: &ToolDef) -> String {
    // A `Value`'s maps are ordered by key (serde_json without `preserve_order`), so this is
    // the same bytes for the same definition whatever order its JSON arrived in.
    let canonical = serde_json::to_value(tool)
        .and_then(|v| serde_json::to_vec(&v))
        .unwrap_or_default();
    hex(digest(&SHA256, &canonical).as_ref())
}

/// The SHA-256 (hex) of a catalog from its tools' `(id, tool digest)` pairs, which must be
/// in id order.
#[must_use]
pub fn catalog_digest<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut manifest = String::new();
    for (id, sha) in entries {
        manifest.push_str(sha);
        manifest.push_str("  ");
        manifest.push_str(id);
        manifest.push('\n');
    }
    hex(digest(&SHA256, manifest.as_bytes()).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(description: &str) -> ToolDef {
        serde_json::from_value(json!({
            "id": "get_user", "description": description,
            "inputSchema": {"type": "object", "properties": {"b": {}, "a": {}}},
            "http": {"method": "GET", "path": "/users"}
        }))
        .expect("tool")
    }

    #[test]
    fn a_tool_digest_ignores_key_order_and_sees_every_change() {
        let a = tool("Reads a user");
        let reordered: ToolDef = serde_json::from_str(
            r#"{"http": {"path": "/users", "method": "GET"}, "inputSchema": {"properties": {"a": {}, "b": {}}, "type": "object"}, "description": "Reads a user", "id": "get_user"}"#,
        )
        .expect("tool");
        assert_eq!(tool_digest(&a), tool_digest(&reordered));
        assert_ne!(tool_digest(&a), tool_digest(&tool("Reads a user.")));
        assert_eq!(tool_digest(&a).len(), 64);
    }

    /// Known answers, computed outside this code: Python's
    /// `json.dumps(tool, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` hashed
    /// with `hashlib.sha256`, and `printf '<digest>  get_user\n' | sha256sum`. A change of
    /// serialisation (a `preserve_order` feature turned on somewhere in the tree, say) would
    /// move every published digest and fails here first.
    #[test]
    fn digests_match_an_independent_computation() {
        let t = tool("Reads a user");
        let digest = tool_digest(&t);
        assert_eq!(
            digest,
            "484da28c6a0370bc0a550005cdd2bfc85bb28c19243f55a4d403cf7de277cfe1"
        );
        assert_eq!(
            catalog_digest([("get_user", digest.as_str())]),
            "d0ec12c4af71d7947ea10014d5d3a0db5d5ec32aaa51c6d012727c6ed0cb74c2"
        );
    }

    #[test]
    fn the_catalog_digest_is_sha256sum_of_the_manifest() {
        // `printf '' | sha256sum`
        assert_eq!(
            catalog_digest([]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let one = catalog_digest([("a", "00")]);
        // `printf '00  a\n' | sha256sum`
        let expected = hex(digest(&SHA256, b"00  a\n").as_ref());
        assert_eq!(one, expected);
        assert_ne!(one, catalog_digest([("a", "00"), ("b", "00")]));
    }
}

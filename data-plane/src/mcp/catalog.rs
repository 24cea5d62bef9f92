//! Catalog pinning (`docs/mcp.md`, "Pinning the tool catalog"). `server/discover` and every
//! `tools/list` result carry `_meta["io.mcpgw/catalog"] = {revision, sha256}`: the published
//! catalog revision the tools belong to. A request that sends the same key in its `_meta`
//! requires that revision, so a client that reviewed the tools never calls ones that changed
//! under it (a "rug pull"): a moved catalog is a clear error, not a silently different tool.

use mcpgw_shared::model::CatalogStamp;
use serde_json::{Value, json};

use crate::protocol::jsonrpc::RpcError;

/// The `_meta` key of the catalog stamp.
pub const META_CATALOG: &str = "io.mcpgw/catalog";

/// The JSON-RPC error of a request pinned to a catalog revision that is no longer served.
pub const CATALOG_CHANGED: i32 = -32010;

/// The stamp to show; `None` when the control plane sent none (one older than catalogs).
#[must_use]
pub fn served(stamp: &CatalogStamp) -> Option<&CatalogStamp> {
    (!stamp.sha256.is_empty()).then_some(stamp)
}

/// [`served`] as the JSON `_meta` carries it (`{revision, sha256}`).
#[must_use]
pub fn meta(stamp: &CatalogStamp) -> Option<Value> {
    served(stamp).and_then(|s| serde_json::to_value(s).ok())
}

/// Checks a request's pin, if it sends one, against the catalog served.
///
/// # Errors
/// -32602 for a malformed pin; [`CATALOG_CHANGED`] when the catalog moved.
pub fn check_pin(params: Option<&Value>, served: &CatalogStamp) -> Result<(), RpcError> {
    let Some(pin) = params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_CATALOG))
    else {
        return Ok(());
    };
    let malformed = || {
        RpcError::invalid_params(format!(
            "_meta[\"{META_CATALOG}\"] must be an object with \"revision\" (an integer) and/or \"sha256\" (a string)"
        ))
    };
    let Some(pin) = pin.as_object() else {
        return Err(malformed());
    };
    let revision = match pin.get("revision") {
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(malformed)?),
    };
    let sha256 = match pin.get("sha256") {
        None => None,
        Some(v) => Some(v.as_str().ok_or_else(malformed)?),
    };
    if revision.is_none() && sha256.is_none() {
        return Err(malformed());
    }
    let moved = served.sha256.is_empty()
        || revision.is_some_and(|r| r != served.revision)
        || sha256.is_some_and(|s| !s.eq_ignore_ascii_case(&served.sha256));
    if moved {
        return Err(RpcError::gateway(
            CATALOG_CHANGED,
            "Tool catalog changed: the pinned revision is no longer served; list the tools again and review them",
        )
        .with_data(json!({"pinned": Value::Object(pin.clone()), "current": meta(served)})));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> CatalogStamp {
        CatalogStamp {
            revision: 3,
            sha256: "ab".repeat(32),
        }
    }

    fn pinned(pin: Value) -> Value {
        json!({"name": "x", "_meta": {META_CATALOG: pin}})
    }

    #[test]
    fn a_request_without_a_pin_passes() {
        assert!(check_pin(None, &served()).is_ok());
        assert!(check_pin(Some(&json!({"name": "x"})), &served()).is_ok());
    }

    #[test]
    fn a_matching_pin_passes_by_revision_hash_or_both() {
        let sha = "ab".repeat(32);
        for pin in [
            json!({"revision": 3}),
            json!({"sha256": sha}),
            json!({"revision": 3, "sha256": sha.to_uppercase()}),
        ] {
            assert!(
                check_pin(Some(&pinned(pin.clone())), &served()).is_ok(),
                "{pin}"
            );
        }
    }

    #[test]
    fn a_moved_catalog_is_a_clear_error_naming_both() {
        for pin in [
            json!({"revision": 2}),
            json!({"sha256": "cd".repeat(32)}),
            json!({"revision": 3, "sha256": "cd".repeat(32)}),
        ] {
            let e = check_pin(Some(&pinned(pin.clone())), &served()).expect_err("moved");
            let r = e.to_response(&json!(1));
            assert_eq!(r["error"]["code"], CATALOG_CHANGED, "{pin}");
            assert_eq!(r["error"]["data"]["pinned"], pin);
            assert_eq!(r["error"]["data"]["current"]["revision"], 3);
        }
        // A data plane that was sent no stamp cannot honour any pin.
        let e = check_pin(
            Some(&pinned(json!({"revision": 0}))),
            &CatalogStamp::default(),
        );
        assert!(e.is_err());
    }

    #[test]
    fn a_malformed_pin_is_invalid_params() {
        for pin in [
            json!(3),
            json!({}),
            json!({"revision": "3"}),
            json!({"sha256": 1}),
        ] {
            let e = check_pin(Some(&pinned(pin.clone())), &served()).expect_err("malformed");
            assert_eq!(e.to_response(&json!(1))["error"]["code"], -32602, "{pin}");
        }
    }
}

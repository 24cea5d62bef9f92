//! OpenAPI import (issue in progress): the pieces that turn an OpenAPI document's operations
//! into tools. So far: local `$ref` resolution with cycles and bounded expansion ([`refs`]),
//! the translation of OpenAPI schemas into JSON Schema 2020-12 ([`schema`]), and stable,
//! unique tool ids ([`names`]). The import endpoint, the plan and the catalog revisions build
//! on them.

pub mod names;
pub mod refs;
pub mod schema;

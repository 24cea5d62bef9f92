//! OpenAPI import (in progress): the pieces that turn an OpenAPI document's operations into
//! tools. So far: local `$ref` resolution with cycles and bounded expansion ([`refs`]), the
//! translation of OpenAPI schemas into JSON Schema 2020-12 ([`schema`]), stable unique tool
//! ids ([`names`]), and one operation as one validated tool ([`operation`]). The import
//! endpoint, its plan and the catalog revisions are still to build on them.

pub mod document;
pub mod names;
pub mod operation;
pub mod refs;
pub mod schema;

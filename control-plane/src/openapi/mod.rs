//! OpenAPI import: an OpenAPI 3.0/3.1 or Swagger 2.0 document's operations as tools
//! (`docs/openapi.md` lists every rule). The document as text ([`text`]: JSON or YAML under a
//! node budget), local `$ref` resolution with cycles and bounded expansion ([`refs`]), the
//! translation of OpenAPI schemas into JSON Schema 2020-12 ([`schema`]), stable unique tool
//! ids ([`names`]), one operation as one validated tool ([`operation`]), and the whole
//! document with its filters and suggested config ([`document`]). `service::import` applies
//! the result as one draft change.

pub mod document;
pub mod names;
pub mod operation;
pub mod refs;
pub mod schema;
pub mod text;

//! Domain types both planes agree on: tool definitions, config credentials, limits and the
//! snapshot a data plane serves from. Free of protobuf; see [`crate::convert`].

mod catalog;
mod config;
mod limits;
mod snapshot;
mod tool;

pub use catalog::{CatalogStamp, catalog_digest, tool_digest};
pub use config::{ApiKeyLocation, Auth, ConfigParameters};
pub use limits::Limits;
pub use snapshot::{
    IntegrationKey, IntegrationSnapshot, KeyEntry, RejectedIntegration, SnapshotUpdate,
    ToolsCarried, UpstreamRevision,
};
pub use tool::{BodyMode, HttpBinding, HttpMethod, PathPart, Simulation, ToolDef};

/// A validation failure that names the offending field (a JSON pointer-like path such as
/// `http.path` or `inputSchema`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field, in the camelCase of the JSON body.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A failure of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same failure, nested under `parent` (e.g. `http` + `path` → `http.path`).
    #[must_use]
    pub fn under(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

//! A tool as `tools/list` shows it, per protocol revision. The served state renders each
//! member of a tool's entry once per snapshot, as JSON text; listing splices the members into
//! the response and renders nothing per request. Members are kept apart, not as one text per
//! tool, so that a catalog's repetition — the same schemas under many tools and tenants, each
//! with its own description — is held once per distinct member.

use std::sync::Arc;

use mcpgw_shared::model::ToolDef;
use rmcp::model::ToolAnnotations;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use super::version::Version;

/// A tool's `tools/list` entry, member by member, each serialised JSON.
pub struct Entry {
    title: Option<Arc<RawValue>>,
    description: Arc<RawValue>,
    input_schema: Arc<RawValue>,
    output_schema: Option<Arc<RawValue>>,
    annotations: Option<Arc<RawValue>>,
}

impl Entry {
    /// Renders `def`'s entry (but its name: the tool id, which the served tool keeps anyway);
    /// `hold` turns each member's text into what is kept (the served state shares identical
    /// members). The title, description, output schema and annotations move out of `def`
    /// rather than being copied: the served state keeps them only as this text. The input
    /// schema stays (read for checks and headers, then dropped with the definition).
    ///
    /// # Errors
    /// A member that cannot be serialised, or that `hold` refuses.
    pub fn render(
        def: &mut ToolDef,
        hold: impl Fn(String) -> serde_json::Result<Arc<RawValue>>,
    ) -> serde_json::Result<Self> {
        let annotations = match def.annotations.take() {
            // Only what the protocol defines, typed as it defines it.
            Some(a) => match serde_json::from_value::<ToolAnnotations>(Value::Object(a)) {
                Ok(typed) => Some(hold(serde_json::to_string(&typed)?)?),
                Err(_) => None,
            },
            None => None,
        };
        Ok(Self {
            title: def
                .title
                .take()
                .map(|t| hold(serde_json::to_string(&t)?))
                .transpose()?,
            description: hold(serde_json::to_string(&std::mem::take(
                &mut def.description,
            ))?)?,
            input_schema: hold(serde_json::to_string(&def.input_schema)?)?,
            output_schema: def
                .output_schema
                .take()
                .map(|s| hold(serde_json::to_string(&s)?))
                .transpose()?,
            annotations,
        })
    }

    /// The entry of the tool `name` as a client of `version` sees it: 2025-03-26 knows
    /// neither `title` nor `outputSchema`.
    #[must_use]
    pub fn for_version<'a>(&'a self, name: &'a str, version: Version) -> Listed<'a> {
        Listed {
            entry: self,
            name,
            older: version == Version::V2025_03_26,
        }
    }

    /// The `inputSchema` as JSON text.
    #[must_use]
    pub fn input_schema(&self) -> &str {
        self.input_schema.get()
    }

    /// The `outputSchema` as JSON text, if the tool has one.
    #[must_use]
    pub fn output_schema(&self) -> Option<&str> {
        self.output_schema.as_deref().map(RawValue::get)
    }
}

/// An [`Entry`] for one protocol revision, serialised by splicing its members.
pub struct Listed<'a> {
    entry: &'a Entry,
    name: &'a str,
    older: bool,
}

impl Serialize for Listed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let e = self.entry;
        let title = e.title.as_deref().filter(|_| !self.older);
        let output_schema = e.output_schema.as_deref().filter(|_| !self.older);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", self.name)?;
        if let Some(title) = title {
            map.serialize_entry("title", title)?;
        }
        map.serialize_entry("description", &*e.description)?;
        map.serialize_entry("inputSchema", &*e.input_schema)?;
        if let Some(schema) = output_schema {
            map.serialize_entry("outputSchema", schema)?;
        }
        if let Some(annotations) = &e.annotations {
            map.serialize_entry("annotations", &**annotations)?;
        }
        map.end()
    }
}

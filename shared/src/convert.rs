//! The one conversion point between the snapshot domain types and protobuf.
//!
//! Messages are destructured exhaustively, so adding a proto field breaks the build here
//! until the field is handled. Conversion *from* protobuf validates everything (tools are
//! re-validated, keys and ids checked): a data plane never swaps in a snapshot it could not
//! fully understand.

use uuid::Uuid;

use crate::model::{
    Auth, CatalogStamp, ConfigParameters, FieldError, IntegrationKey, IntegrationSnapshot,
    KeyEntry, Limits, RejectedIntegration, SnapshotUpdate, ToolDef, ToolsCarried, UpstreamRevision,
};
use crate::{ids::is_valid_id, pb};

/// Why a received snapshot was refused.
#[derive(Debug, thiserror::Error)]
pub enum InvalidSnapshot {
    /// An id is malformed.
    #[error("integration {integration}: invalid {what}")]
    BadId {
        /// The integration (as received).
        integration: String,
        /// Which id.
        what: &'static str,
    },
    /// A field failed validation.
    #[error("integration {integration}: {source}")]
    Field {
        /// The integration.
        integration: String,
        /// The failure.
        source: FieldError,
    },
}

impl From<Limits> for pb::Limits {
    fn from(l: Limits) -> Self {
        let Limits {
            requests_per_second,
            burst,
            max_concurrent_calls,
        } = l;
        pb::Limits {
            requests_per_second,
            burst,
            max_concurrent_calls,
        }
    }
}

impl From<pb::Limits> for Limits {
    fn from(l: pb::Limits) -> Self {
        let pb::Limits {
            requests_per_second,
            burst,
            max_concurrent_calls,
        } = l;
        Limits {
            requests_per_second,
            burst,
            max_concurrent_calls,
        }
    }
}

impl From<&IntegrationKey> for pb::IntegrationKey {
    fn from(k: &IntegrationKey) -> Self {
        pb::IntegrationKey {
            tenant: k.tenant.clone(),
            integration_id: k.integration_id.clone(),
        }
    }
}

impl From<&IntegrationSnapshot> for pb::IntegrationSnapshot {
    fn from(s: &IntegrationSnapshot) -> Self {
        let IntegrationSnapshot {
            key,
            display_name,
            description,
            enabled,
            tools,
            carried,
            keys,
            limits,
            config_id,
            revision,
            oauth,
            catalog,
        } = s;
        let (tools_partial, tool_ids) = match carried {
            ToolsCarried::All => (false, None),
            ToolsCarried::Changed { ids } => (true, ids.clone()),
        };
        pb::IntegrationSnapshot {
            tenant: key.tenant.clone(),
            integration_id: key.integration_id.clone(),
            enabled: *enabled,
            tools_json: tools
                .iter()
                .map(|t| serde_json::to_string(t).unwrap_or_default())
                .collect(),
            keys: keys
                .iter()
                .map(|k| pb::KeyEntry {
                    key_id: k.key_id.to_string(),
                    key_prefix: k.key_prefix.clone(),
                    hash: k.hash.to_vec(),
                })
                .collect(),
            limits: Some((*limits).into()),
            config_id: config_id.map(|c| c.to_string()).unwrap_or_default(),
            revision: revision.as_ref().map(|r| pb::UpstreamRevision {
                revision_id: r.revision_id.to_string(),
                version: r.version,
                parameters_json: serde_json::to_string(&r.parameters).unwrap_or_default(),
                auth_json: serde_json::to_string(&r.auth).unwrap_or_default(),
            }),
            description: description.clone(),
            display_name: display_name.clone(),
            tools_partial,
            tool_ids_changed: tool_ids.is_some(),
            tool_ids: tool_ids.unwrap_or_default(),
            oauth: oauth.as_ref().map(|grants| pb::OAuthGrants {
                grant_ids: grants.iter().map(Uuid::to_string).collect(),
            }),
            catalog_revision: catalog.revision,
            catalog_sha256: catalog.sha256.clone(),
        }
    }
}

impl TryFrom<pb::IntegrationSnapshot> for IntegrationSnapshot {
    type Error = InvalidSnapshot;

    fn try_from(s: pb::IntegrationSnapshot) -> Result<Self, Self::Error> {
        let pb::IntegrationSnapshot {
            tenant,
            integration_id,
            enabled,
            tools_json,
            keys,
            limits,
            config_id,
            revision,
            description,
            display_name,
            tools_partial,
            tool_ids_changed,
            tool_ids,
            oauth,
            catalog_revision,
            catalog_sha256,
        } = s;
        let bad_id = |what| InvalidSnapshot::BadId {
            integration: integration_id.clone(),
            what,
        };
        let field = |source: FieldError| InvalidSnapshot::Field {
            integration: integration_id.clone(),
            source,
        };
        if !is_valid_id(&tenant) {
            return Err(bad_id("tenant"));
        }
        if !is_valid_id(&integration_id) {
            return Err(bad_id("integration id"));
        }
        // Empty: sent by a control plane older than catalogs (served without a stamp).
        if !(catalog_sha256.is_empty()
            || catalog_sha256.len() == 64
                && catalog_sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return Err(bad_id("catalog sha256"));
        }
        let oauth = oauth
            .map(|g| {
                g.grant_ids
                    .iter()
                    .map(|id| Uuid::parse_str(id).map_err(|_| bad_id("grant id")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let mut tools = Vec::with_capacity(tools_json.len());
        for (i, json) in tools_json.iter().enumerate() {
            let tool: ToolDef = serde_json::from_str(json)
                .map_err(|e| field(FieldError::new(format!("tools[{i}]"), e.to_string())))?;
            // The control plane compiled the schemas when the tool was written; the data plane
            // checks them against the meta-schema and compiles on first use.
            tool.validate_shape()
                .map_err(|e| field(e.under(&format!("tools[{i}]"))))?;
            tools.push(tool);
        }
        tools.sort_by(|a, b| a.id.cmp(&b.id));
        if tools.windows(2).any(|w| w[0].id == w[1].id) {
            return Err(field(FieldError::new("tools", "duplicate tool id")));
        }
        let carried = match (tools_partial, tool_ids_changed) {
            (false, _) => ToolsCarried::All,
            (true, false) => ToolsCarried::Changed { ids: None },
            (true, true) => {
                let mut ids = tool_ids;
                ids.sort();
                ids.dedup();
                if let Some(bad) = ids.iter().find(|id| !is_valid_id(id)) {
                    return Err(field(FieldError::new(
                        "toolIds",
                        format!("invalid tool id {bad:?}"),
                    )));
                }
                // Every tool carried is one of the set.
                if tools.iter().any(|t| ids.binary_search(&t.id).is_err()) {
                    return Err(field(FieldError::new(
                        "toolIds",
                        "a changed tool outside the set",
                    )));
                }
                ToolsCarried::Changed { ids: Some(ids) }
            }
        };
        let keys = keys
            .into_iter()
            .map(|k| {
                let hash: [u8; 32] = k.hash.try_into().map_err(|_| bad_id("key hash"))?;
                if !k.key_prefix.starts_with(crate::apikey::PREFIX) {
                    return Err(bad_id("key prefix"));
                }
                Ok(KeyEntry {
                    key_id: Uuid::parse_str(&k.key_id).map_err(|_| bad_id("key id"))?,
                    key_prefix: k.key_prefix,
                    hash,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let limits: Limits = limits.map(Into::into).unwrap_or_default();
        limits.validate().map_err(field)?;
        let config_id = if config_id.is_empty() {
            None
        } else {
            Some(Uuid::parse_str(&config_id).map_err(|_| bad_id("config id"))?)
        };
        let revision = revision
            .map(|r| {
                let parameters: ConfigParameters = serde_json::from_str(&r.parameters_json)
                    .map_err(|e| field(FieldError::new("revision.parameters", e.to_string())))?;
                parameters
                    .validate()
                    .map_err(|e| field(e.under("revision")))?;
                let auth: Auth = serde_json::from_str(&r.auth_json)
                    .map_err(|_| field(FieldError::new("revision.auth", "unreadable")))?;
                auth.validate().map_err(|e| field(e.under("revision")))?;
                Ok(UpstreamRevision {
                    revision_id: Uuid::parse_str(&r.revision_id)
                        .map_err(|_| bad_id("revision id"))?,
                    version: r.version,
                    parameters,
                    auth,
                })
            })
            .transpose()?;
        Ok(IntegrationSnapshot {
            key: IntegrationKey {
                tenant,
                integration_id,
            },
            display_name,
            description,
            enabled,
            tools,
            carried,
            keys,
            limits,
            config_id,
            revision,
            oauth,
            catalog: CatalogStamp {
                revision: catalog_revision,
                sha256: catalog_sha256,
            },
        })
    }
}

impl From<&SnapshotUpdate> for pb::Snapshot {
    fn from(u: &SnapshotUpdate) -> Self {
        let SnapshotUpdate {
            version,
            full,
            upserts,
            removals,
            more,
            // Rejections are the receiving data plane's own finding; they never travel.
            rejected: _,
        } = u;
        pb::Snapshot {
            version: *version,
            full: *full,
            upserts: upserts.iter().map(Into::into).collect(),
            removals: removals.iter().map(Into::into).collect(),
            more: *more,
            // Which store the version belongs to and how many data planes share the limits
            // are the stream's business (set as it is sent).
            store_id: String::new(),
            data_planes: 0,
            oauth: None,
        }
    }
}

impl TryFrom<pb::Snapshot> for SnapshotUpdate {
    type Error = InvalidSnapshot;

    fn try_from(s: pb::Snapshot) -> Result<Self, Self::Error> {
        SnapshotUpdate::try_map(s, Some)
    }
}

impl<T> SnapshotUpdate<T> {
    /// Converts `s` as [`TryFrom`] does, handing each accepted integration to `map` as soon as
    /// it is converted (its protobuf form is dropped then): the receiver keeps what `map`
    /// returns (`None`: nothing, e.g. a tenant it does not serve) and never holds the parsed
    /// form of every integration of a large message at once.
    ///
    /// # Errors
    /// [`InvalidSnapshot`] when the message as a whole cannot be understood.
    pub fn try_map(
        s: pb::Snapshot,
        mut map: impl FnMut(IntegrationSnapshot) -> Option<T>,
    ) -> Result<Self, InvalidSnapshot> {
        let pb::Snapshot {
            version,
            full,
            upserts,
            removals,
            more,
            // Read by the stream's receiver before the message is converted.
            store_id: _,
            data_planes: _,
            oauth: _,
        } = s;
        let removals = removals
            .into_iter()
            .map(|k| {
                if is_valid_id(&k.tenant) && is_valid_id(&k.integration_id) {
                    Ok(IntegrationKey {
                        tenant: k.tenant,
                        integration_id: k.integration_id,
                    })
                } else {
                    Err(InvalidSnapshot::BadId {
                        integration: k.integration_id,
                        what: "removal",
                    })
                }
            })
            .collect::<Result<_, _>>()?;
        let mut accepted = Vec::with_capacity(upserts.len());
        let mut rejected = Vec::new();
        for upsert in upserts {
            // An integration that cannot even be named is a broken message, not a tenant's
            // data: the whole update is refused.
            if !is_valid_id(&upsert.tenant) || !is_valid_id(&upsert.integration_id) {
                return Err(InvalidSnapshot::BadId {
                    integration: upsert.integration_id,
                    what: "integration key",
                });
            }
            let key = IntegrationKey {
                tenant: upsert.tenant.clone(),
                integration_id: upsert.integration_id.clone(),
            };
            match IntegrationSnapshot::try_from(upsert) {
                Ok(s) => accepted.extend(map(s)),
                Err(e) => rejected.push(RejectedIntegration {
                    key,
                    reason: e.to_string(),
                }),
            }
        }
        Ok(SnapshotUpdate {
            version,
            full,
            upserts: accepted,
            removals,
            more,
            rejected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use serde_json::json;

    fn sample() -> IntegrationSnapshot {
        let tool: ToolDef = serde_json::from_value(json!({
            "id": "echo", "description": "Echo", "title": "Echo",
            "inputSchema": {"type": "object", "properties": {"x": {"type": "integer"}}},
            "http": {"method": "POST", "path": "/echo"}
        }))
        .expect("tool");
        IntegrationSnapshot {
            key: IntegrationKey {
                tenant: "acme".into(),
                integration_id: "crm".into(),
            },
            display_name: "CRM".into(),
            description: "d".into(),
            enabled: true,
            tools: vec![tool],
            carried: ToolsCarried::All,
            keys: vec![KeyEntry {
                key_id: Uuid::now_v7(),
                key_prefix: "mcpgw_abc".into(),
                hash: [7; 32],
            }],
            limits: Limits {
                requests_per_second: Some(2.5),
                burst: Some(5),
                max_concurrent_calls: None,
            },
            config_id: Some(Uuid::now_v7()),
            revision: Some(UpstreamRevision {
                revision_id: Uuid::now_v7(),
                version: 3,
                parameters: serde_json::from_value(
                    json!({"baseUrl": "https://api.example.com", "region": "eu"}),
                )
                .expect("params"),
                auth: Auth::Bearer {
                    token: Secret::new("t"),
                },
            }),
            oauth: Some(vec![Uuid::now_v7()]),
            catalog: CatalogStamp {
                revision: 4,
                sha256: "ab".repeat(32),
            },
        }
    }

    #[test]
    fn round_trips_through_protobuf() {
        let update = SnapshotUpdate {
            version: 9,
            full: false,
            upserts: vec![sample()],
            removals: vec![IntegrationKey {
                tenant: "acme".into(),
                integration_id: "old".into(),
            }],
            more: true,
            rejected: Vec::new(),
        };
        let back = SnapshotUpdate::try_from(pb::Snapshot::from(&update)).expect("valid");
        assert_eq!(back, update);
    }

    #[test]
    fn an_invalid_integration_is_rejected_alone() {
        let good = sample();
        let mut bad = pb::IntegrationSnapshot::from(&good);
        bad.integration_id = "bad".into();
        bad.tools_json[0] = "{\"id\": \"x\"}".into();
        let msg = pb::Snapshot {
            version: 4,
            full: true,
            upserts: vec![pb::IntegrationSnapshot::from(&good), bad],
            removals: Vec::new(),
            more: false,
            store_id: String::new(),
            data_planes: 0,
            oauth: None,
        };
        let update = SnapshotUpdate::try_from(msg).expect("the update is kept");
        assert_eq!(update.upserts, vec![good]);
        assert_eq!(update.rejected.len(), 1);
        assert_eq!(update.rejected[0].key.integration_id, "bad");
        assert!(
            update.rejected[0].reason.contains("tools[0]"),
            "{:?}",
            update.rejected
        );
        let mut broken = pb::IntegrationSnapshot::from(&sample());
        broken.tenant = "../etc".into();
        let msg = pb::Snapshot {
            version: 4,
            full: true,
            upserts: vec![broken],
            removals: Vec::new(),
            more: false,
            store_id: String::new(),
            data_planes: 0,
            oauth: None,
        };
        assert!(
            SnapshotUpdate::try_from(msg).is_err(),
            "an unnamed integration breaks the message"
        );
    }

    #[test]
    fn refuses_invalid_content() {
        let mut msg = pb::IntegrationSnapshot::from(&sample());
        msg.tools_json[0] = "{\"id\": \"x\"}".into();
        assert!(IntegrationSnapshot::try_from(msg).is_err());
        let mut msg = pb::IntegrationSnapshot::from(&sample());
        msg.tenant = "../etc".into();
        assert!(IntegrationSnapshot::try_from(msg).is_err());
        let mut msg = pb::IntegrationSnapshot::from(&sample());
        msg.keys[0].hash = vec![1, 2];
        assert!(IntegrationSnapshot::try_from(msg).is_err());
    }
}

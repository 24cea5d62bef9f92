//! Versioned tool catalogs (`docs/api.md`, "Tool catalog"). An integration's `tool/`
//! records are its draft; a publish freezes the draft as revision N with its SHA-256
//! (`mcpgw_shared::model::catalog_digest`), and data planes serve the published revision.
//! With `catalog.autoPublish` (the default) every draft change publishes in the same write,
//! so the draft and the served catalog never differ; without it, edits wait for
//! `tools:publish`. A rollback publishes an older revision's tools as a new revision:
//! revision numbers only go forward, so a client pinned to one always sees that it moved.
//!
//! A revision holds `(id, digest)` pairs; each definition is stored once per integration
//! under its digest, so a revision costs a line per tool, not a copy of every tool. The
//! newest [`REVISIONS_KEPT`] revisions are kept; definitions no kept revision names go with
//! the revision that last named them.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use mcpgw_shared::model::{CatalogStamp, ToolDef, catalog_digest, tool_digest};
use mcpgw_shared::now_millis;

use super::views::{CatalogRevisionView, CatalogView, PublishRequest};
use super::{
    Change, MAX_DESCRIPTION_LEN, Service, ServiceError, authorize_integration, check_text,
};
use crate::jwt::Caller;
use crate::store::{
    CatalogRecord, CatalogRevisionRecord, IntegrationRecord, McpRecord, Store, ToolRecord,
    WriteSet, keys,
};

/// Revisions kept per integration (rollback reaches back this far).
pub const REVISIONS_KEPT: usize = 20;

/// Why a revision is published (`source` in the revision list).
#[derive(Debug, Clone, Copy)]
pub(super) enum Source {
    /// A draft change under `autoPublish`.
    Edit,
    /// `tools:publish`, or turning `autoPublish` on.
    Publish,
    /// `tools:rollback` to the revision given.
    Rollback(u64),
}

/// A draft as `(id, definition, digest)` in id order.
pub(super) type Draft<'a> = Vec<(&'a str, &'a ToolDef, Cow<'a, str>)>;

impl Service {
    /// Publishes `draft` as the integration's next catalog revision, adding it to `w`;
    /// nothing is added when it equals the published revision. Returns the stamp served
    /// after the write and whether it is a new revision.
    ///
    /// # Errors
    /// Storage.
    pub(super) fn publish_into(
        &self,
        w: &mut WriteSet,
        caller: &Caller,
        (tenant, integration): (&str, &str),
        draft: &Draft<'_>,
        source: Source,
        note: Option<String>,
    ) -> Result<(CatalogStamp, bool), ServiceError> {
        let head: Option<CatalogRecord> = self.store.get(&keys::catalog(tenant, integration))?;
        let digests: Vec<(String, String)> = draft
            .iter()
            .map(|(id, _, digest)| ((*id).to_owned(), digest.clone().into_owned()))
            .collect();
        let sha256 = catalog_digest(digests.iter().map(|(i, d)| (i.as_str(), d.as_str())));
        // Definitions the published revision names are stored (every write that names one
        // stores it), so an edit looks up only the others. A publish or a rollback looks up
        // every one: a definition lost to quarantine is then stored again, and the same
        // draft publishes anew to mend what is served.
        let named: BTreeSet<String> = match (&head, source) {
            (Some(head), Source::Edit) => self
                .revision_record(tenant, integration, head.published)?
                .map(|r| r.tools.into_iter().map(|(_, d)| d).collect())
                .unwrap_or_default(),
            _ => BTreeSet::new(),
        };
        let stored = |w: &WriteSet, digest: &str| -> Result<bool, ServiceError> {
            if named.contains(digest) {
                return Ok(true);
            }
            let key = keys::catalog_body(tenant, integration, digest);
            Ok(w.touches(&key) || self.store.get::<serde_json::Value>(&key)?.is_some())
        };
        if let Some(head) = &head
            && head.published > 0
            && head.sha256 == sha256
            && digests
                .iter()
                .map(|(_, d)| stored(w, d))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .all(|s| s)
        {
            return Ok((stamp(head), false));
        }
        let kept: Vec<keys::Key> = self
            .store
            .scan_keys(&keys::catalog_revisions(tenant, integration))?;
        let newest_kept = kept
            .last()
            .and_then(|k| k.as_str().rsplit('/').next()?.parse::<u64>().ok())
            .unwrap_or(0);
        let revision = head.as_ref().map_or(0, |h| h.published).max(newest_kept) + 1;
        for ((_, def, _), (_, digest)) in draft.iter().zip(&digests) {
            if !stored(w, digest)? {
                w.put(&keys::catalog_body(tenant, integration, digest), def)?;
            }
        }
        let (source_name, restored_from) = match source {
            Source::Edit => ("edit", None),
            Source::Publish => ("publish", None),
            Source::Rollback(from) => ("rollback", Some(from)),
        };
        let record = CatalogRevisionRecord {
            revision,
            sha256: sha256.clone(),
            tools: digests,
            source: source_name.to_owned(),
            restored_from,
            note,
            actor: caller.sub.clone(),
            created_at: now_millis(),
        };
        w.put(
            &keys::catalog_revision(tenant, integration, revision),
            &record,
        )?;
        let head = CatalogRecord {
            published: revision,
            sha256,
        };
        w.put(&keys::catalog(tenant, integration), &head)?;
        if kept.len() >= REVISIONS_KEPT {
            let (gone, stay) = kept.split_at(kept.len() + 1 - REVISIONS_KEPT);
            self.prune(w, (tenant, integration), gone, stay, &record)?;
        }
        Ok((stamp(&head), true))
    }

    /// Deletes the revisions `gone`, and every definition no revision of `stay` or `newest`
    /// names any more.
    fn prune(
        &self,
        w: &mut WriteSet,
        (tenant, integration): (&str, &str),
        gone: &[keys::Key],
        stay: &[keys::Key],
        newest: &CatalogRevisionRecord,
    ) -> Result<(), ServiceError> {
        let mut named: BTreeSet<String> = newest.tools.iter().map(|(_, d)| d.clone()).collect();
        for key in stay {
            if let Some(r) = self.store.get::<CatalogRevisionRecord>(key)? {
                named.extend(r.tools.into_iter().map(|(_, d)| d));
            }
        }
        for key in gone {
            w.delete(key);
        }
        for key in self
            .store
            .scan_keys(&keys::catalog_bodies(tenant, integration))?
        {
            let digest = key.as_str().rsplit('/').next().unwrap_or_default();
            if !named.contains(digest) {
                w.delete(&key);
            }
        }
        Ok(())
    }

    /// After a draft change (`draft` is the draft as the write leaves it): publishes it when
    /// the integration auto-publishes, and then takes tools gone from it out of
    /// `exposedToolIds`. Without autoPublish what is served does not change, so neither does
    /// the exposure: a publish or a rollback adjusts it.
    ///
    /// # Errors
    /// Storage.
    pub(super) fn draft_changed(
        &self,
        w: &mut WriteSet,
        caller: &Caller,
        record: &IntegrationRecord,
        tenant: &str,
        draft: &Draft<'_>,
    ) -> Result<(), ServiceError> {
        if record.auto_publish {
            self.publish_into(w, caller, (tenant, &record.id), draft, Source::Edit, None)?;
            let ids: Vec<&str> = draft.iter().map(|(id, _, _)| *id).collect();
            self.keep_exposed(w, tenant, &record.id, &ids)?;
        }
        Ok(())
    }

    /// `POST .../tools:publish`: freezes the draft as the next revision. Returns the
    /// revision served and whether it is new (publishing an unchanged draft is a no-op).
    ///
    /// # Errors
    /// Invalid note, forbidden, unknown integration, storage.
    pub async fn publish_tools(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        req: PublishRequest,
    ) -> Result<(CatalogRevisionView, bool), ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        if let Some(note) = &req.note {
            check_text("note", note, MAX_DESCRIPTION_LEN)?;
        }
        let guard = self.lock(tenant).await?;
        self.integration_record(tenant, integration)?;
        let tools = self.draft_records(tenant, integration)?;
        let draft = draft_of(&tools);
        let mut w = WriteSet::default();
        let (stamp, created) = self.publish_into(
            &mut w,
            caller,
            (tenant, integration),
            &draft,
            Source::Publish,
            req.note,
        )?;
        let ids: Vec<&str> = draft.iter().map(|(id, _, _)| *id).collect();
        let target = format!("{integration}/tools/revisions/{}", stamp.revision);
        let change = (tenant, integration, "tools.publish", target);
        self.commit_if(guard, caller, change, created, &ids, w)
            .await?;
        Ok((
            self.revision_view(tenant, integration, stamp.revision)?,
            created,
        ))
    }

    /// `POST .../tools:rollback`: publishes revision `revision`'s tools as a new revision.
    /// With `autoPublish` the draft becomes those tools too (the two never differ); without
    /// it the draft is left as it is.
    ///
    /// # Errors
    /// A revision not kept (400), forbidden, unknown integration, storage.
    pub async fn rollback_tools(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        revision: u64,
        note: Option<String>,
    ) -> Result<(CatalogRevisionView, bool), ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        if let Some(note) = &note {
            check_text("note", note, MAX_DESCRIPTION_LEN)?;
        }
        let guard = self.lock(tenant).await?;
        let record = self.integration_record(tenant, integration)?;
        let target = self
            .revision_record(tenant, integration, revision)?
            .ok_or_else(|| {
                ServiceError::invalid(
                    "revision",
                    format!(
                        "revision {revision} is not kept (the newest {REVISIONS_KEPT} are; see tools/revisions)"
                    ),
                )
            })?;
        let defs = revision_tools(&self.store, tenant, integration, &target)?;
        let digests: Vec<&str> = target.tools.iter().map(|(_, d)| d.as_str()).collect();
        // Rules may have tightened since it was published: what data planes would refuse is
        // refused here.
        for def in &defs {
            def.validate().map_err(|e| {
                ServiceError::invalid(
                    "revision",
                    format!("revision {revision} holds a tool that is no longer valid: {e}"),
                )
            })?;
        }
        let draft: Draft<'_> = defs
            .iter()
            .zip(&digests)
            .map(|(d, digest)| (d.id.as_str(), d, Cow::Borrowed(*digest)))
            .collect();
        let mut w = WriteSet::default();
        let (stamp, created) = self.publish_into(
            &mut w,
            caller,
            (tenant, integration),
            &draft,
            Source::Rollback(revision),
            note,
        )?;
        if record.auto_publish {
            self.reset_draft(&mut w, tenant, integration, &defs)?;
        }
        let ids: Vec<&str> = defs.iter().map(|d| d.id.as_str()).collect();
        let target = format!("{integration}/tools/revisions/{revision}");
        let change = (tenant, integration, "tools.rollback", target);
        self.commit_if(guard, caller, change, created, &ids, w)
            .await?;
        Ok((
            self.revision_view(tenant, integration, stamp.revision)?,
            created,
        ))
    }

    /// The ids of the published revision's tools (none before a first publish).
    pub(super) fn published_tool_ids(
        &self,
        tenant: &str,
        integration: &str,
    ) -> Result<BTreeSet<String>, ServiceError> {
        let Some(head) = self
            .store
            .get::<CatalogRecord>(&keys::catalog(tenant, integration))?
        else {
            return Ok(BTreeSet::new());
        };
        Ok(self
            .revision_record(tenant, integration, head.published)?
            .map(|r| r.tools.into_iter().map(|(id, _)| id).collect())
            .unwrap_or_default())
    }

    /// A kept revision's record.
    fn revision_record(
        &self,
        tenant: &str,
        integration: &str,
        revision: u64,
    ) -> Result<Option<CatalogRevisionRecord>, ServiceError> {
        Ok(self
            .store
            .get(&keys::catalog_revision(tenant, integration, revision))?)
    }

    /// Ends a publish or a rollback: with a new revision, `exposedToolIds` follows what it
    /// serves and the write commits; without one nothing is written.
    async fn commit_if(
        &self,
        guard: super::WriteGuard,
        caller: &Caller,
        (tenant, integration, action, target): (&str, &str, &'static str, String),
        created: bool,
        served: &[&str],
        mut w: WriteSet,
    ) -> Result<(), ServiceError> {
        if !created {
            return Ok(());
        }
        self.keep_exposed(&mut w, tenant, integration, served)?;
        let change = Change {
            tenant,
            integration,
            action,
            target,
        };
        self.commit(guard, caller, change, w).await?;
        Ok(())
    }

    /// Takes the tools no longer served out of `exposedToolIds`.
    pub(super) fn keep_exposed(
        &self,
        w: &mut WriteSet,
        tenant: &str,
        integration: &str,
        served: &[&str],
    ) -> Result<(), ServiceError> {
        let key = keys::mcp(tenant, integration);
        if let Some(mut mcp) = self.store.get::<McpRecord>(&key)?
            && let Some(ids) = &mut mcp.exposed_tool_ids
            && ids.iter().any(|id| !served.contains(&id.as_str()))
        {
            ids.retain(|id| served.contains(&id.as_str()));
            w.put(&key, &mcp)?;
        }
        Ok(())
    }

    /// Makes the draft exactly `defs`, keeping the creation time of tools that stay.
    fn reset_draft(
        &self,
        w: &mut WriteSet,
        tenant: &str,
        integration: &str,
        defs: &[ToolDef],
    ) -> Result<(), ServiceError> {
        let existing: BTreeMap<String, ToolRecord> = self
            .draft_records(tenant, integration)?
            .into_iter()
            .map(|t| (t.def.id.clone(), t))
            .collect();
        let now = now_millis();
        for id in existing.keys() {
            if !defs.iter().any(|d| &d.id == id) {
                w.delete(&keys::tool(tenant, integration, id));
            }
        }
        for def in defs {
            let old = existing.get(&def.id);
            if old.is_some_and(|o| o.def == *def) {
                continue;
            }
            let record = tool_record(def.clone(), old.map_or(now, |o| o.created_at), now);
            w.put(&keys::tool(tenant, integration, &def.id), &record)?;
        }
        Ok(())
    }

    /// `GET .../tools/revisions`: the kept revisions, newest first.
    ///
    /// # Errors
    /// Forbidden, unknown integration, storage.
    pub fn list_tool_revisions(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
    ) -> Result<Vec<CatalogRevisionView>, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        let record = self.integration_record(tenant, integration)?;
        let published = self
            .catalog_head(tenant, integration, record.auto_publish)?
            .published;
        let mut revisions: Vec<CatalogRevisionRecord> = self
            .store
            .scan(&keys::catalog_revisions(tenant, integration))?;
        revisions.reverse();
        Ok(revisions
            .into_iter()
            .map(|r| revision_view(r, published))
            .collect())
    }

    /// `GET .../tools/revisions/{revision}`: one kept revision with its tools.
    ///
    /// # Errors
    /// Forbidden, not found, storage.
    pub fn get_tool_revision(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        revision: u64,
    ) -> Result<(CatalogRevisionView, Vec<ToolDef>), ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        self.integration_record(tenant, integration)?;
        let record = self
            .revision_record(tenant, integration, revision)?
            .ok_or_else(|| ServiceError::not_found("revision", revision.to_string()))?;
        let tools = revision_tools(&self.store, tenant, integration, &record)?;
        let published = self.catalog_head(tenant, integration, true)?.published;
        Ok((revision_view(record, published), tools))
    }

    /// The catalog as an integration view shows it; `with_draft` also compares the draft
    /// with the published revision (it reads every tool, so lists leave it out).
    ///
    /// # Errors
    /// Storage.
    pub(super) fn catalog_view(
        &self,
        record: &IntegrationRecord,
        tenant: &str,
        with_draft: bool,
    ) -> Result<CatalogView, ServiceError> {
        let head = self.catalog_head(tenant, &record.id, record.auto_publish)?;
        let draft_sha256 = if with_draft {
            let tools = self.draft_records(tenant, &record.id)?;
            Some(digest_of(&draft_of(&tools)))
        } else {
            None
        };
        Ok(CatalogView {
            auto_publish: record.auto_publish,
            draft_pending: draft_sha256.as_ref().map(|d| *d != head.sha256),
            revision: head.published,
            sha256: head.sha256,
            draft_sha256,
        })
    }

    /// The published head; for an integration that never published one, revision 0: the
    /// draft when it auto-publishes (it predates catalogs), else the empty catalog.
    fn catalog_head(
        &self,
        tenant: &str,
        integration: &str,
        auto_publish: bool,
    ) -> Result<CatalogRecord, ServiceError> {
        if let Some(head) = self.store.get(&keys::catalog(tenant, integration))? {
            return Ok(head);
        }
        let sha256 = if auto_publish {
            digest_of(&draft_of(&self.draft_records(tenant, integration)?))
        } else {
            catalog_digest([])
        };
        Ok(CatalogRecord {
            published: 0,
            sha256,
        })
    }

    /// The integration's draft tools in id order.
    pub(super) fn draft_records(
        &self,
        tenant: &str,
        integration: &str,
    ) -> Result<Vec<ToolRecord>, ServiceError> {
        Ok(self.store.scan(&keys::tools(tenant, integration))?)
    }

    fn revision_view(
        &self,
        tenant: &str,
        integration: &str,
        revision: u64,
    ) -> Result<CatalogRevisionView, ServiceError> {
        // Read from the store: the write committed (or the revision already was published).
        let record = self
            .revision_record(tenant, integration, revision)?
            .ok_or_else(|| ServiceError::not_found("revision", revision.to_string()))?;
        Ok(revision_view(record, revision))
    }
}

/// A tool record of `def`, its digest kept.
pub(super) fn tool_record(def: ToolDef, created_at: i64, modified_at: i64) -> ToolRecord {
    ToolRecord {
        digest: Some(tool_digest(&def)),
        def,
        created_at,
        modified_at,
    }
}

/// The draft of `tools` (in id order, as scans and ordered maps give them).
pub(super) fn draft_of<'a>(tools: impl IntoIterator<Item = &'a ToolRecord>) -> Draft<'a> {
    tools
        .into_iter()
        .map(|t| {
            let digest = t
                .digest
                .as_deref()
                .map_or_else(|| Cow::Owned(tool_digest(&t.def)), Cow::Borrowed);
            (t.def.id.as_str(), &t.def, digest)
        })
        .collect()
}

/// The catalog digest of a draft.
fn digest_of(draft: &Draft<'_>) -> String {
    catalog_digest(draft.iter().map(|(id, _, d)| (*id, d.as_ref())))
}

/// What data planes are sent for an integration: its served tools and their stamp. With
/// `autoPublish` (or no revision yet) that is the draft; else the published revision.
///
/// # Errors
/// Storage; a revision whose definitions are missing (never left by a write).
pub fn served_tools(
    store: &Store,
    record: &IntegrationRecord,
    tenant: &str,
) -> Result<(Vec<ToolDef>, CatalogStamp), ServiceError> {
    let head: Option<CatalogRecord> = store.get(&keys::catalog(tenant, &record.id))?;
    if !record.auto_publish {
        let Some(head) = &head else {
            // Created without autoPublish and never published: nothing is served yet.
            return Ok((
                Vec::new(),
                CatalogStamp {
                    revision: 0,
                    sha256: catalog_digest([]),
                },
            ));
        };
        // A revision or definition that is gone (quarantined, say) fails this integration
        // closed — no tool, and no stamp a pin could match — never the whole control plane.
        let served = store
            .get::<CatalogRevisionRecord>(&keys::catalog_revision(
                tenant,
                &record.id,
                head.published,
            ))?
            .map(|revision| revision_tools(store, tenant, &record.id, &revision));
        return match served {
            Some(Ok(tools)) => Ok((tools, stamp(head))),
            Some(Err(e)) => {
                tracing::error!(tenant, integration = %record.id, revision = head.published, error = %e, "published catalog revision is incomplete; serving no tools");
                Ok((Vec::new(), CatalogStamp::default()))
            }
            None => {
                tracing::error!(tenant, integration = %record.id, revision = head.published, "published catalog revision is missing; serving no tools");
                Ok((Vec::new(), CatalogStamp::default()))
            }
        };
    }
    let tools: Vec<ToolRecord> = store.scan(&keys::tools(tenant, &record.id))?;
    let stamp = match &head {
        Some(head) => stamp(head),
        None => CatalogStamp {
            revision: 0,
            sha256: digest_of(&draft_of(&tools)),
        },
    };
    Ok((tools.into_iter().map(|t| t.def).collect(), stamp))
}

fn revision_tools(
    store: &Store,
    tenant: &str,
    integration: &str,
    revision: &CatalogRevisionRecord,
) -> Result<Vec<ToolDef>, ServiceError> {
    revision
        .tools
        .iter()
        .map(|(id, digest)| {
            store
                .get::<ToolDef>(&keys::catalog_body(tenant, integration, digest))?
                .ok_or_else(|| {
                    ServiceError::Internal(
                        format!(
                            "catalog revision {} names tool '{id}' whose definition is missing",
                            revision.revision
                        )
                        .into(),
                    )
                })
        })
        .collect()
}

fn stamp(head: &CatalogRecord) -> CatalogStamp {
    CatalogStamp {
        revision: head.published,
        sha256: head.sha256.clone(),
    }
}

fn revision_view(r: CatalogRevisionRecord, published: u64) -> CatalogRevisionView {
    CatalogRevisionView {
        published: r.revision == published,
        revision: r.revision,
        sha256: r.sha256,
        tool_count: r.tools.len(),
        tool_ids: r.tools.into_iter().map(|(id, _)| id).collect(),
        source: r.source,
        restored_from: r.restored_from,
        note: r.note,
        actor: r.actor,
        created_at: r.created_at,
    }
}

//! Per-tenant usage: the bytes a tenant stores (what its quota limits) and how many audit
//! records it has (what the embedded store's audit retention prunes). Kept up to date by every
//! write, in the same atomic write.

use serde::{Deserialize, Serialize};

/// A tenant's usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Bytes of keys and values of the tenant's records (audit records excluded).
    pub bytes: u64,
    /// Audit records kept.
    pub audit_records: u64,
}

/// Whether a record counts toward its tenant's stored bytes.
pub(crate) fn is_charged(key: &[u8]) -> bool {
    !(key.starts_with(b"audit/") || key.starts_with(b"usage/") || key.starts_with(b"meta/"))
}

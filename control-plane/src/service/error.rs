//! The service layer's one error type, converted at each edge: problem+json
//! (`api::rest::problem`) and `tonic::Status` (`api::grpc::status`).

use mcpgw_shared::model::FieldError;

use crate::store::StoreError;

/// What can go wrong in an admin operation.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The caller's token does not cover this tenant.
    #[error("the token does not grant access to tenant '{0}'")]
    Forbidden(String),
    /// A field of the request is invalid.
    #[error("{0}")]
    Invalid(#[from] FieldError),
    /// The addressed resource does not exist.
    #[error("{kind} '{id}' does not exist")]
    NotFound {
        /// What kind of resource.
        kind: &'static str,
        /// Which one.
        id: String,
    },
    /// The resource already exists.
    #[error("{kind} '{id}' already exists")]
    Conflict {
        /// What kind of resource.
        kind: &'static str,
        /// Which one.
        id: String,
    },
    /// The operation cannot apply in the resource's current state.
    #[error("{0}")]
    Precondition(String),
    /// A tenant quota would be exceeded; nothing was changed.
    #[error("quota {quota} exceeded: {detail}")]
    Quota {
        /// Which quota (`integrationsPerTenant`, `toolsPerIntegration`, `bytesPerTenant`).
        quota: &'static str,
        /// Its limit.
        limit: u64,
        /// What the request would have done.
        detail: String,
    },
    /// The tenant writes faster than its write rate; nothing was changed.
    #[error(
        "tenant '{tenant}' is writing faster than {per_second} writes/s; retry in {retry_after_secs} s"
    )]
    WriteRate {
        /// The tenant.
        tenant: String,
        /// Its rate.
        per_second: u32,
        /// When a write will be admitted again.
        retry_after_secs: u64,
    },
    /// Storage cannot take writes now (disk nearly full, or recovering from a storage
    /// failure); nothing was changed and a retry later may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// Storage or crypto failed; the detail is logged, not returned.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ServiceError {
    pub(crate) fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            id: id.into(),
        }
    }

    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(FieldError::new(field, message))
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::OverQuota {
                tenant,
                would_use,
                limit,
            } => Self::Quota {
                quota: "bytesPerTenant",
                limit,
                detail: format!(
                    "tenant '{tenant}' would store {would_use} bytes; delete something first"
                ),
            },
            e if e.is_unavailable() => Self::Unavailable(format!("{e}; retry later")),
            e => Self::Internal(Box::new(e)),
        }
    }
}

impl From<crate::seal::SealError> for ServiceError {
    fn from(e: crate::seal::SealError) -> Self {
        Self::Internal(Box::new(e))
    }
}

impl From<mcpgw_shared::apikey::RandomError> for ServiceError {
    fn from(e: mcpgw_shared::apikey::RandomError) -> Self {
        Self::Internal(Box::new(e))
    }
}

//! The gRPC API: the admin services (a front door over [`crate::service`], exactly like the
//! REST facade) and the snapshot stream data planes subscribe to.

mod admin;
mod convert;
mod members;
mod watch;

use std::sync::Arc;

use mcpgw_shared::pb;
use mcpgw_shared::secret::Secret;
use subtle::ConstantTimeEq;
use tonic::{Request, Status};

use crate::jwt::{AuthError, Caller, JwtAuth};
use crate::service::{Service, ServiceError};

/// State of every gRPC service.
#[derive(Clone)]
pub struct Grpc {
    service: Arc<Service>,
    jwt: Arc<JwtAuth>,
    data_plane_token: Secret,
    members: Arc<members::Members>,
}

impl Grpc {
    /// The gRPC services over `service`.
    #[must_use]
    pub fn new(service: Arc<Service>, jwt: Arc<JwtAuth>, data_plane_token: Secret) -> Self {
        Self {
            service,
            jwt,
            data_plane_token,
            members: Arc::default(),
        }
    }

    /// Shares this replica's data planes with the other replicas of its store (PostgreSQL),
    /// until `shutdown`; nothing to do for the embedded store.
    pub fn share_members(
        &self,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(members::share_through_store(
            self.service.store().clone(),
            self.members.clone(),
            shutdown,
        ))
    }

    /// Every service, ready to add to a tonic router.
    #[must_use]
    pub fn routes(self) -> tonic::service::Routes {
        tonic::service::Routes::new(
            pb::integration_service_server::IntegrationServiceServer::new(self.clone()),
        )
        // ImportTools carries whole API descriptions (the REST limit applies here too).
        .add_service(
            pb::tool_service_server::ToolServiceServer::new(self.clone())
                .max_decoding_message_size(crate::api::rest::MAX_IMPORT_BYTES),
        )
        .add_service(pb::config_service_server::ConfigServiceServer::new(
            self.clone(),
        ))
        .add_service(pb::mcp_settings_service_server::McpSettingsServiceServer::new(self.clone()))
        .add_service(pb::snapshot_service_server::SnapshotServiceServer::new(
            self,
        ))
    }

    fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        let header = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        self.jwt.verify_header(header).map_err(auth_status)
    }

    /// Checks the data-plane token in constant time (hashing first, so the comparison does
    /// not depend on the token's length either).
    fn check_data_plane<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let presented = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("missing data-plane token"))?;
        let a = mcpgw_shared::apikey::hash(presented);
        let b = mcpgw_shared::apikey::hash(self.data_plane_token.expose());
        if bool::from(a.ct_eq(&b)) {
            Ok(())
        } else {
            Err(Status::unauthenticated("invalid data-plane token"))
        }
    }
}

fn auth_status(e: AuthError) -> Status {
    Status::unauthenticated(e.to_string())
}

/// The gRPC edge of [`ServiceError`].
pub(crate) fn status(e: ServiceError) -> Status {
    match &e {
        ServiceError::Forbidden(_) => Status::permission_denied(e.to_string()),
        ServiceError::Invalid(_) => Status::invalid_argument(e.to_string()),
        ServiceError::NotFound { .. } => Status::not_found(e.to_string()),
        ServiceError::Conflict { .. } => Status::already_exists(e.to_string()),
        ServiceError::Precondition(_) => Status::failed_precondition(e.to_string()),
        ServiceError::Quota { .. } | ServiceError::WriteRate { .. } => {
            Status::resource_exhausted(e.to_string())
        }
        ServiceError::Unavailable(_) => Status::unavailable(e.to_string()),
        ServiceError::Internal(source) => {
            tracing::error!(error = %source, "internal error");
            Status::internal("internal error; see the control plane's log")
        }
    }
}

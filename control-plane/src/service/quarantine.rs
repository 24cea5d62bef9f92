//! Quarantined records (see `store::quarantine`): listed and removed by operators. A caller
//! sees the records of the tenants its token covers; records whose tenant is unknown (API
//! key records) only with a token for every tenant (`["*"]`).

use mcpgw_runtime::logging::LogSafe;

use super::{Service, ServiceError};
use crate::jwt::Caller;
use crate::store::QuarantinedRecord;

fn visible(caller: &Caller, record: &QuarantinedRecord) -> bool {
    match &record.tenant {
        Some(t) => caller.may_manage(t),
        None => caller.manages_all(),
    }
}

impl Service {
    /// The quarantined records the caller may see.
    ///
    /// # Errors
    /// Storage failure.
    pub async fn list_quarantined(
        &self,
        caller: &Caller,
    ) -> Result<Vec<QuarantinedRecord>, ServiceError> {
        Ok(self
            .store
            .quarantined()
            .await?
            .into_iter()
            .filter(|r| visible(caller, r))
            .collect())
    }

    /// Deletes a quarantined record for good.
    ///
    /// # Errors
    /// Not found (also when the caller may not see it), storage failure.
    pub async fn remove_quarantined(&self, caller: &Caller, key: &str) -> Result<(), ServiceError> {
        let found = self
            .store
            .quarantined()
            .await?
            .into_iter()
            .any(|r| r.key == key && visible(caller, &r));
        if !found || !self.store.remove_quarantined(key).await? {
            return Err(ServiceError::not_found("quarantined record", key));
        }
        tracing::warn!(actor = %LogSafe(&caller.sub), key = %LogSafe(key), "quarantined record removed");
        Ok(())
    }
}

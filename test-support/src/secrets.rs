//! The secrets every test control plane runs with, and admin tokens signed with them.

use mcpgw_control_plane::jwt::{Caller, Claims, JwtAuth, now_secs};
use mcpgw_control_plane::secrets::Secrets;
use mcpgw_shared::secret::Secret;

/// The admin JWT secret.
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789";
/// The data-plane token.
pub const DP_TOKEN: &str = "test-data-plane-token";
/// The master key sealing credentials.
pub const MASTER_KEY: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// The three secrets, as a control plane loads them.
#[must_use]
pub fn secrets() -> Secrets {
    Secrets {
        jwt_secret: Secret::new(JWT_SECRET),
        data_plane_token: Secret::new(DP_TOKEN),
        master_key: Secret::new(MASTER_KEY),
        sources: Vec::new(),
    }
}

/// An admin JWT for `tenants`, valid ten minutes.
#[must_use]
pub fn token(tenants: &[&str]) -> String {
    token_with(tenants, now_secs() + 600, JWT_SECRET)
}

/// An admin JWT for `tenants` expiring at `exp`, signed with `secret`.
///
/// # Panics
/// If signing fails (it does not with HS256).
#[must_use]
pub fn token_with(tenants: &[&str], exp: u64, secret: &str) -> String {
    JwtAuth::new(&Secret::new(secret))
        .issue(&Claims {
            sub: "tester".into(),
            exp,
            tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
            iat: None,
            nbf: None,
        })
        .expect("issue")
        .expose()
        .to_owned()
}

/// A caller allowed everything, for tests that call the service directly.
#[must_use]
pub fn admin() -> Caller {
    Caller::system("tests")
}

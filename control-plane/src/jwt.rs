//! Admin authentication: HS256 JWTs (`docs/api.md`, authentication).
//!
//! `jsonwebtoken` does the parsing and claim validation; its crypto backend is a small
//! HS256-only provider on `ring` (installed once per process), so the build needs neither
//! aws-lc nor the RustCrypto stack. Tokens with any other `alg` — `none` included — are
//! refused before a signature is looked at.

use std::sync::OnceLock;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mcpgw_shared::secret::Secret;
use serde::{Deserialize, Serialize};

/// The claims an admin token must carry (`iat` and `nbf` are optional and checked when
/// present).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The caller, recorded as the actor in the audit log.
    pub sub: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Tenants the caller may manage, or `["*"]`.
    pub tenants: Vec<String>,
    /// Issued at (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not valid before (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

/// Longest `sub` accepted (it is recorded in every audit record the caller causes).
pub const MAX_SUB_BYTES: usize = 256;
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: u64 = 5;

/// An authenticated admin.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The JWT `sub`.
    pub sub: String,
    tenants: Vec<String>,
}

impl Caller {
    /// Whether this caller may manage `tenant`.
    #[must_use]
    pub fn may_manage(&self, tenant: &str) -> bool {
        self.tenants.iter().any(|t| t == "*" || t == tenant)
    }

    /// Whether this caller may manage every tenant (`tenants: ["*"]`).
    #[must_use]
    pub fn manages_all(&self) -> bool {
        self.tenants.iter().any(|t| t == "*")
    }

    /// A caller for operations the control plane performs itself (demo seeding).
    #[must_use]
    pub fn system(sub: &str) -> Self {
        Self {
            sub: sub.to_owned(),
            tenants: vec!["*".to_owned()],
        }
    }
}

/// Why a token was refused. Deliberately coarse: the response never says more than
/// "invalid" or "expired", and never echoes the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Malformed, wrong algorithm, bad signature, or missing claims.
    #[error("invalid token")]
    Invalid,
    /// Past its `exp`.
    #[error("token expired")]
    Expired,
    /// Before its `nbf` (or issued in the future).
    #[error("token not yet valid")]
    NotYetValid,
    /// Valid for longer than the control plane accepts.
    #[error("token lifetime exceeds the allowed maximum")]
    LifetimeTooLong,
}

/// Verifies (and, for dev tooling, issues) admin tokens.
#[derive(Clone)]
pub struct JwtAuth {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    /// Longest `exp - iat` (or `exp - now` without `iat`) accepted, if any.
    max_lifetime_secs: Option<u64>,
}

/// The default maximum token lifetime.
pub const DEFAULT_MAX_LIFETIME_SECS: u64 = 24 * 3600;

impl JwtAuth {
    /// An authenticator for HS256 tokens signed with `secret`, accepting lifetimes up to
    /// [`DEFAULT_MAX_LIFETIME_SECS`].
    #[must_use]
    pub fn new(secret: &Secret) -> Self {
        install_provider();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        Self {
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            max_lifetime_secs: Some(DEFAULT_MAX_LIFETIME_SECS),
        }
    }

    /// The same authenticator with another maximum lifetime (0 = no maximum).
    #[must_use]
    pub fn with_max_lifetime(mut self, secs: u64) -> Self {
        self.max_lifetime_secs = (secs > 0).then_some(secs);
        self
    }

    /// Verifies the value of an `Authorization` header.
    ///
    /// # Errors
    /// [`AuthError`] for anything but a valid, unexpired HS256 token with all claims.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Caller, AuthError> {
        let token = header
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        self.verify(token)
    }

    /// Verifies a bare token.
    ///
    /// # Errors
    /// [`AuthError`] for anything but a valid, unexpired HS256 token with all claims.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                _ => AuthError::Invalid,
            })?;
        let claims = &data.claims;
        if claims.sub.is_empty() || claims.sub.len() > MAX_SUB_BYTES {
            return Err(AuthError::Invalid);
        }
        let now = now_secs();
        if claims
            .iat
            .is_some_and(|iat| iat > now.saturating_add(LEEWAY_SECS))
        {
            return Err(AuthError::NotYetValid);
        }
        if let Some(max) = self.max_lifetime_secs {
            let start = claims.iat.unwrap_or(now).min(now);
            if claims.exp.saturating_sub(start) > max.saturating_add(LEEWAY_SECS) {
                return Err(AuthError::LifetimeTooLong);
            }
        }
        Ok(Caller {
            sub: data.claims.sub,
            tenants: data.claims.tenants,
        })
    }

    /// Issues a token (used to print a dev admin token at startup, and by tests).
    ///
    /// # Errors
    /// Only if signing fails.
    pub fn issue(&self, claims: &Claims) -> Result<Secret, JwtError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map(Secret::new)
    }
}

fn install_provider() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // Fails only if another provider is already installed, which then serves as well.
        let _ = RING_HS256.install_default();
    });
}

static RING_HS256: CryptoProvider = CryptoProvider {
    signer_factory: |alg, key| match alg {
        Algorithm::HS256 => Ok(Box::new(Hs256(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            key.as_bytes(),
        )))),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    },
    verifier_factory: |alg, key| match alg {
        Algorithm::HS256 => Ok(Box::new(Hs256(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            key.try_get_as_bytes()?,
        )))),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    },
    key_utils: KeyUtils::new_unimplemented(),
};

struct Hs256(ring::hmac::Key);

impl signature::Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(ring::hmac::sign(&self.0, msg).as_ref().to_vec())
    }
}

impl signature::Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        // Constant-time comparison inside ring.
        ring::hmac::verify(&self.0, msg, signature).map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

/// Seconds since the epoch, for `exp`.
#[must_use]
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> JwtAuth {
        JwtAuth::new(&Secret::new("test-secret"))
    }

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "alice".into(),
            exp,
            tenants: vec!["acme".into()],
            iat: None,
            nbf: None,
        }
    }

    #[test]
    fn refuses_future_tokens_overlong_lifetimes_and_huge_subjects() {
        let a = auth();
        let now = now_secs();
        let early = a
            .issue(&Claims {
                nbf: Some(now + 600),
                ..claims(now + 1200)
            })
            .expect("issue");
        assert_eq!(a.verify(early.expose()).err(), Some(AuthError::NotYetValid));
        let from_future = a
            .issue(&Claims {
                iat: Some(now + 600),
                ..claims(now + 1200)
            })
            .expect("issue");
        assert_eq!(
            a.verify(from_future.expose()).err(),
            Some(AuthError::NotYetValid)
        );
        let forever = a.issue(&claims(now + 400 * 24 * 3600)).expect("issue");
        assert_eq!(
            a.verify(forever.expose()).err(),
            Some(AuthError::LifetimeTooLong)
        );
        let issued_long_ago = a
            .issue(&Claims {
                iat: Some(now - 30 * 24 * 3600),
                ..claims(now + 3600)
            })
            .expect("issue");
        assert_eq!(
            a.verify(issued_long_ago.expose()).err(),
            Some(AuthError::LifetimeTooLong),
            "a long-lived token is refused even late in its life"
        );
        let unlimited = auth().with_max_lifetime(0);
        assert!(unlimited.verify(forever.expose()).is_ok());
        let huge = a
            .issue(&Claims {
                sub: "x".repeat(MAX_SUB_BYTES + 1),
                ..claims(now + 60)
            })
            .expect("issue");
        assert_eq!(a.verify(huge.expose()).err(), Some(AuthError::Invalid));
    }

    fn b64(s: &str) -> String {
        // Tiny base64url (no padding) for hand-built tokens.
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let b = s.as_bytes();
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &x)| acc | u32::from(x) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out
    }

    #[test]
    fn accepts_valid_and_scopes_tenants() {
        let a = auth();
        let token = a.issue(&claims(now_secs() + 60)).expect("issue");
        let caller = a
            .verify_header(Some(&format!("Bearer {}", token.expose())))
            .expect("valid");
        assert_eq!(caller.sub, "alice");
        assert!(caller.may_manage("acme"));
        assert!(!caller.may_manage("other"));
        assert!(Caller::system("x").may_manage("anything"));
    }

    #[test]
    fn rejects_expired_wrong_signature_and_alg_none() {
        let a = auth();
        let expired = a.issue(&claims(now_secs() - 3600)).expect("issue");
        assert_eq!(a.verify(expired.expose()).err(), Some(AuthError::Expired));
        let other = JwtAuth::new(&Secret::new("other"))
            .issue(&claims(now_secs() + 60))
            .expect("issue");
        assert_eq!(a.verify(other.expose()).err(), Some(AuthError::Invalid));
        let payload = format!(
            r#"{{"sub":"alice","exp":{},"tenants":["*"]}}"#,
            now_secs() + 60
        );
        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&payload)
        );
        assert_eq!(a.verify(&none).err(), Some(AuthError::Invalid));
        let hs512 = format!(
            "{}.{}.AAAA",
            b64(r#"{"alg":"HS512","typ":"JWT"}"#),
            b64(&payload)
        );
        assert_eq!(a.verify(&hs512).err(), Some(AuthError::Invalid));
        assert_eq!(a.verify_header(None).err(), Some(AuthError::Missing));
        assert_eq!(
            a.verify_header(Some("Basic abc")).err(),
            Some(AuthError::Missing)
        );
        assert_eq!(a.verify("garbage").err(), Some(AuthError::Invalid));
    }

    #[test]
    fn rejects_missing_claims() {
        let a = auth();
        #[derive(Serialize)]
        struct NoTenants {
            sub: String,
            exp: u64,
        }
        let t = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &NoTenants {
                sub: "x".into(),
                exp: now_secs() + 60,
            },
            &EncodingKey::from_secret(b"test-secret"),
        )
        .expect("encode");
        assert_eq!(a.verify(&t).err(), Some(AuthError::Invalid));
    }
}

//! OAuth access tokens: compact JWTs signed with Ed25519 by the control plane and verified by
//! data planes with the public keys carried in the snapshot stream, so a data plane checks a
//! token without calling anyone.
//!
//! Only `alg: EdDSA` is accepted, whatever the header says otherwise (no `none`, no HMAC with
//! a public key as secret); the key is looked up by `kid` among the published keys; sizes are
//! bounded before anything is decoded.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// The only scope tokens carry.
pub const SCOPE: &str = "mcp:invoke";
/// Longest token accepted (a real one is about 600 bytes).
pub const MAX_TOKEN_BYTES: usize = 4096;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The authorization server (the control plane's public URL).
    pub iss: String,
    /// The resource: one integration endpoint's URL.
    pub aud: String,
    /// The grant the token was issued under.
    pub sub: String,
    /// The client it was issued to.
    pub client_id: String,
    /// `mcp:invoke`.
    pub scope: String,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expires at.
    pub exp: u64,
    /// The integration's API key the grant was approved with: the token dies with it.
    pub key_id: String,
    /// A unique id.
    pub jti: String,
}

/// Why a token was refused (deliberately coarse: the caller learns only "invalid").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS of the expected shape or size.
    #[error("malformed token")]
    Malformed,
    /// Not `EdDSA`, or an unknown key.
    #[error("unknown signing algorithm or key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// Expired, or not yet valid.
    #[error("expired")]
    Expired,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: String,
    kid: String,
}

/// A signing key: an Ed25519 key pair and its id.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    kid: String,
}

impl SigningKey {
    /// The key of a 32-byte seed (the control plane derives it from its master key).
    ///
    /// # Errors
    /// Never for a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, ring::error::KeyRejected> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)?;
        let kid = key_id(pair.public_key().as_ref());
        Ok(Self { pair, kid })
    }

    /// The key's id (`kid`).
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key (32 bytes).
    #[must_use]
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// Signs `claims` as a compact JWT.
    #[must_use]
    pub fn sign(&self, claims: &Claims) -> String {
        let header = Header {
            alg: "EdDSA".into(),
            typ: "at+jwt".into(),
            kid: self.kid.clone(),
        };
        let encode = |v: &[u8]| B64.encode(v);
        let signing_input = format!(
            "{}.{}",
            encode(&serde_json::to_vec(&header).unwrap_or_default()),
            encode(&serde_json::to_vec(claims).unwrap_or_default())
        );
        let signature = self.pair.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", encode(signature.as_ref()))
    }
}

/// The `kid` of a public key: the first 16 bytes of its SHA-256, base64url.
#[must_use]
pub fn key_id(public_key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
    B64.encode(&digest.as_ref()[..16])
}

/// Whether `token` looks like a JWT (three base64url parts) rather than an API key.
#[must_use]
pub fn looks_like_jwt(token: &str) -> bool {
    token.len() <= MAX_TOKEN_BYTES && token.split('.').count() == 3 && !token.starts_with("mcpgw_")
}

/// Verifies `token`'s signature with the key `public_key(kid)` names and its lifetime at
/// `now` (seconds); returns its claims. The caller checks issuer, audience, scope, grant
/// and key.
///
/// # Errors
/// [`TokenError`].
pub fn verify<'k>(
    token: &str,
    public_key: impl Fn(&str) -> Option<&'k [u8]>,
    now: u64,
) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let decode = |p: &str| B64.decode(p).map_err(|_| TokenError::Malformed);
    let header: Header = serde_json::from_slice(&decode(h)?).map_err(|_| TokenError::Malformed)?;
    if header.alg != "EdDSA" {
        return Err(TokenError::UnknownKey);
    }
    let key = public_key(&header.kid).ok_or(TokenError::UnknownKey)?;
    let signature = decode(s)?;
    let signed = &token[..h.len() + 1 + c.len()];
    UnparsedPublicKey::new(&ED25519, key)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| TokenError::Signature)?;
    let claims: Claims = serde_json::from_slice(&decode(c)?).map_err(|_| TokenError::Malformed)?;
    // A minute of leeway for clocks; never a token issued in the future beyond it.
    if claims.exp <= now || claims.iat > now + 60 {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            iss: "https://cp.example.test".into(),
            aud: "https://mcp.example.test/v1/tenants/acme/integrations/crm/mcp:call".into(),
            sub: "grant".into(),
            client_id: "client".into(),
            scope: SCOPE.into(),
            iat: 1000,
            exp,
            key_id: "key".into(),
            jti: "j".into(),
        }
    }

    #[test]
    fn a_signed_token_verifies_with_its_key_only_and_only_while_valid() {
        let key = SigningKey::from_seed(&[7; 32]).expect("key");
        let other = SigningKey::from_seed(&[8; 32]).expect("key");
        let token = key.sign(&claims(2000));
        assert!(looks_like_jwt(&token));
        let keys = |kid: &str| (kid == key.kid()).then(|| key.public_key());
        assert_eq!(verify(&token, keys, 1500).expect("valid"), claims(2000));
        assert_eq!(verify(&token, keys, 2000), Err(TokenError::Expired));
        // Another key under the same kid: the signature fails.
        let swapped = |_: &str| Some(other.public_key());
        assert_eq!(verify(&token, swapped, 1500), Err(TokenError::Signature));
        assert_eq!(verify(&token, |_| None, 1500), Err(TokenError::UnknownKey));
    }

    #[test]
    fn tampering_and_algorithm_confusion_are_refused() {
        let key = SigningKey::from_seed(&[7; 32]).expect("key");
        let keys = |kid: &str| (kid == key.kid()).then(|| key.public_key());
        let token = key.sign(&claims(2000));
        let parts: Vec<&str> = token.split('.').collect();
        // Claims changed after signing.
        let mut forged = claims(2000);
        forged.aud = "https://mcp.example.test/v1/tenants/evil/integrations/x/mcp:call".into();
        let body = B64.encode(serde_json::to_vec(&forged).expect("json"));
        let tampered = format!("{}.{body}.{}", parts[0], parts[2]);
        assert_eq!(verify(&tampered, keys, 1500), Err(TokenError::Signature));
        // `alg: none` and HS256 headers, whatever the signature.
        for alg in ["none", "HS256", "ES256"] {
            let header = B64.encode(format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, key.kid()));
            let token = format!("{header}.{}.{}", parts[1], parts[2]);
            assert_eq!(
                verify(&token, keys, 1500),
                Err(TokenError::UnknownKey),
                "{alg}"
            );
        }
        for garbage in ["", "a.b", "a.b.c.d", "!!.!!.!!", &"a".repeat(5000)] {
            assert!(verify(garbage, keys, 1500).is_err(), "{garbage}");
        }
    }
}

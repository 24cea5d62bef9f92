//! The API-key format.
//!
//! ```text
//! mcpgw_<key id: 12 base62>_<secret: 43 base62><checksum: 6 base62>
//! ```
//!
//! * `mcpgw_` makes a leaked key recognisable to secret scanners.
//! * The key id (about 71 bits) is public: `mcpgw_<key id>` is the key's `keyPrefix`, which
//!   data planes use to find the key in O(1).
//! * The secret carries 256 bits from `ring::rand::SystemRandom` (43 base62 characters).
//! * The checksum (the first 32 bits of SHA-256 over everything before it) lets anyone —
//!   a data plane, a secret scanner — reject a mistyped or made-up key without a lookup.
//!
//! Only [`hash`] of a key is ever stored; verification compares hashes in constant time.

use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// The literal every key starts with.
pub const PREFIX: &str = "mcpgw_";
const KEY_ID_LEN: usize = 12;
const SECRET_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
/// The length of every key.
pub const KEY_LEN: usize = PREFIX.len() + KEY_ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN;
const PUBLIC_LEN: usize = PREFIX.len() + KEY_ID_LEN;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The SHA-256 of a full key: what stores and snapshots hold instead of the key.
pub type KeyHash = [u8; 32];

/// Why a presented key was rejected before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// Wrong length, prefix, separator or alphabet.
    #[error("the API key is malformed")]
    Malformed,
    /// Well-formed, but the checksum does not match: a typo or a made-up key.
    #[error("the API key's checksum does not match")]
    BadChecksum,
}

/// A freshly minted key. The raw key leaves the control plane once, in the response that
/// minted it; only `hash` is stored.
#[derive(Debug)]
pub struct MintedKey {
    /// `mcpgw_<key id>`: public, stored, shown in every response.
    pub key_prefix: String,
    /// The full key.
    pub raw: Secret,
    /// SHA-256 of the full key.
    pub hash: KeyHash,
}

/// Errors from the system random source.
#[derive(Debug, thiserror::Error)]
#[error("the system random source failed")]
pub struct RandomError;

/// Mints a new key from the system's CSPRNG.
///
/// # Errors
/// Fails only when the operating system's random source does.
pub fn mint() -> Result<MintedKey, RandomError> {
    let rng = SystemRandom::new();
    let mut key = String::with_capacity(KEY_LEN);
    key.push_str(PREFIX);
    push_random_base62(&rng, &mut key, KEY_ID_LEN)?;
    let key_prefix = key.clone();
    key.push('_');
    push_random_base62(&rng, &mut key, SECRET_LEN)?;
    let check = checksum(&key);
    key.push_str(&check);
    let hash = hash(&key);
    Ok(MintedKey {
        key_prefix,
        raw: Secret::new(key),
        hash,
    })
}

/// Checks a presented key's shape and checksum and returns its public `keyPrefix`.
///
/// # Errors
/// [`KeyFormatError`] when the key cannot be one this gateway minted.
pub fn parse(presented: &str) -> Result<&str, KeyFormatError> {
    let prefix = key_prefix(presented)?;
    let (body, check) = presented.split_at(KEY_LEN - CHECKSUM_LEN);
    // The checksum is public information; a plain compare is fine here.
    if checksum(body) != check {
        return Err(KeyFormatError::BadChecksum);
    }
    Ok(prefix)
}

/// Checks a presented key's shape only (not its checksum) and returns its public
/// `keyPrefix`. For a verifier that looks the prefix up and then compares [`hash`]es: the
/// hash decides, so the checksum's digest would only double the cost of every request.
///
/// # Errors
/// [`KeyFormatError::Malformed`] when the key does not have the shape of one.
pub fn key_prefix(presented: &str) -> Result<&str, KeyFormatError> {
    let bytes = presented.as_bytes();
    if bytes.len() != KEY_LEN
        || !presented.starts_with(PREFIX)
        || bytes[PUBLIC_LEN] != b'_'
        || !bytes[PREFIX.len()..PUBLIC_LEN]
            .iter()
            .chain(&bytes[PUBLIC_LEN + 1..])
            .all(u8::is_ascii_alphanumeric)
    {
        return Err(KeyFormatError::Malformed);
    }
    Ok(&presented[..PUBLIC_LEN])
}

/// SHA-256 of a full key.
#[must_use]
pub fn hash(key: &str) -> KeyHash {
    let digest = digest::digest(&digest::SHA256, key.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Whether `presented` hashes to `expected`, compared in constant time.
#[must_use]
pub fn verify(presented: &str, expected: &KeyHash) -> bool {
    hash(presented).ct_eq(expected).into()
}

fn checksum(body: &str) -> String {
    let digest = digest::digest(&digest::SHA256, body.as_bytes());
    let d = digest.as_ref();
    let mut n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// Appends `len` uniformly random base62 characters (rejection sampling keeps it unbiased).
fn push_random_base62(rng: &SystemRandom, out: &mut String, len: usize) -> Result<(), RandomError> {
    let mut pushed = 0;
    let mut buf = [0u8; 64];
    while pushed < len {
        rng.fill(&mut buf).map_err(|_| RandomError)?;
        for &b in &buf {
            // 248 = 4 * 62: bytes at or above it would bias the first characters.
            if b < 248 && pushed < len {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
                pushed += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_parse_and_verify() {
        let k = mint().expect("mint");
        assert_eq!(k.raw.expose().len(), KEY_LEN);
        assert_eq!(parse(k.raw.expose()), Ok(k.key_prefix.as_str()));
        assert!(verify(k.raw.expose(), &k.hash));
        assert!(k.key_prefix.starts_with(PREFIX));
    }

    #[test]
    fn keys_are_unique() {
        let a = mint().expect("mint");
        let b = mint().expect("mint");
        assert_ne!(a.raw, b.raw);
        assert_ne!(a.key_prefix, b.key_prefix);
    }

    #[test]
    fn a_typo_fails_the_checksum() {
        let k = mint().expect("mint");
        let raw = k.raw.expose();
        // Change one character of the secret part.
        let i = PUBLIC_LEN + 5;
        let c = if &raw[i..=i] == "a" { "b" } else { "a" };
        let typo = format!("{}{}{}", &raw[..i], c, &raw[i + 1..]);
        assert_eq!(parse(&typo), Err(KeyFormatError::BadChecksum));
        // The shape alone is fine; the hash is what refuses it.
        assert_eq!(key_prefix(&typo), Ok(k.key_prefix.as_str()));
        assert!(!verify(&typo, &k.hash));
    }

    #[test]
    fn malformed_keys_are_rejected_without_lookup() {
        let k = mint().expect("mint");
        let raw = k.raw.expose();
        for bad in [
            "",
            "mcpgw_",
            &raw[1..],
            &format!("{raw}x"),
            &raw.replacen("mcpgw_", "mcpgx_", 1),
            &format!("{}-{}", &raw[..PUBLIC_LEN], &raw[PUBLIC_LEN + 1..]),
            &format!("{}é{}", &raw[..PUBLIC_LEN + 1], &raw[PUBLIC_LEN + 3..]),
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
            assert_eq!(key_prefix(bad), Err(KeyFormatError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn verify_rejects_another_keys_hash() {
        let a = mint().expect("mint");
        let b = mint().expect("mint");
        assert!(!verify(a.raw.expose(), &b.hash));
    }
}

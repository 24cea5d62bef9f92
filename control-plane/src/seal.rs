//! Sealing of credentials at rest with AES-256-GCM under the master key.
//!
//! A sealed value is `nonce (12) || ciphertext || tag (16)`. The nonce is random per seal
//! (96 bits from the system CSPRNG; far below the birthday bound for the number of writes a
//! control plane makes). The associated data binds a ciphertext to the record it belongs to,
//! so a sealed blob copied into another record does not open.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Sealing failures. They never carry the plaintext.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The master key is not 64 hex characters.
    #[error("the master key must be 64 hex characters (32 bytes)")]
    BadMasterKey,
    /// The random source failed.
    #[error("the system random source failed")]
    Random,
    /// The blob is damaged, belongs to another record, or was sealed under another key.
    #[error("a sealed value could not be opened (wrong master key or damaged data)")]
    Open,
}

/// Seals and opens values under one master key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
    /// For keys derived from the master key (OAuth signing, client ids, consent forms).
    derived: ring::hkdf::Prk,
}

impl Sealer {
    /// A sealer from the master key's hex form.
    ///
    /// # Errors
    /// [`SealError::BadMasterKey`] unless `hex` is 64 hex characters.
    pub fn from_hex(hex: &str) -> Result<Self, SealError> {
        let bytes = decode_hex(hex.trim()).ok_or(SealError::BadMasterKey)?;
        if bytes.len() != 32 {
            return Err(SealError::BadMasterKey);
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| SealError::BadMasterKey)?;
        Ok(Self {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
            derived: ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"mcpgw derived keys")
                .extract(&bytes),
        })
    }

    /// A 32-byte key for `purpose`, derived from the master key (HKDF-SHA256): the same on
    /// every control plane with the same master key, independent of it and of each other.
    #[must_use]
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        struct Len;
        impl ring::hkdf::KeyType for Len {
            fn len(&self) -> usize {
                32
            }
        }
        let mut out = [0u8; 32];
        let info = [purpose.as_bytes()];
        // Expanding 32 bytes from SHA-256 cannot fail (the limit is 255 blocks).
        if let Ok(okm) = self.derived.expand(&info, Len) {
            let _ = okm.fill(&mut out);
        }
        out
    }

    /// Random bytes (for codes and refresh tokens).
    ///
    /// # Errors
    /// [`SealError::Random`] if the system's generator fails.
    pub fn random<const N: usize>(&self) -> Result<[u8; N], SealError> {
        let mut out = [0u8; N];
        self.rng.fill(&mut out).map_err(|_| SealError::Random)?;
        Ok(out)
    }

    /// Seals `plaintext`, bound to `aad`.
    ///
    /// # Errors
    /// [`SealError::Random`] if no nonce can be drawn.
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut body,
            )
            .map_err(|_| SealError::Random)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a blob sealed with the same key and `aad`.
    ///
    /// # Errors
    /// [`SealError::Open`] if it was not.
    pub fn open(&self, sealed: &[u8], aad: &str) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut body)
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

/// Lower-case hex of `bytes`.
#[must_use]
pub fn encode_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn round_trip_and_binding() {
        let s = Sealer::from_hex(KEY).expect("key");
        let blob = s.seal(b"secret", "cfg/a/b/c").expect("seal");
        assert!(!blob.windows(6).any(|w| w == b"secret"));
        assert_eq!(s.open(&blob, "cfg/a/b/c").expect("open"), b"secret");
        assert!(s.open(&blob, "cfg/a/b/d").is_err(), "aad binds the record");
        let other = Sealer::from_hex(&KEY.replace("00", "ff")).expect("key");
        assert!(
            other.open(&blob, "cfg/a/b/c").is_err(),
            "another key cannot open"
        );
        let mut tampered = blob.clone();
        *tampered.last_mut().expect("byte") ^= 1;
        assert!(s.open(&tampered, "cfg/a/b/c").is_err());
    }

    #[test]
    fn rejects_bad_master_keys() {
        for bad in ["", "00", &"zz".repeat(32), &"00".repeat(31)] {
            assert!(Sealer::from_hex(bad).is_err(), "{bad}");
        }
    }
}

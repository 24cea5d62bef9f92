//! The control plane's three secrets (JWT signing secret, data-plane token, master key).
//!
//! Each comes from its environment variable; where one is not set, a development default is
//! generated once, written to the data dir with mode 0600, and reused on every later start
//! (so the master key keeps opening what it sealed). Only the file's path is ever logged.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use mcpgw_shared::secret::Secret;
use ring::rand::{SecureRandom, SystemRandom};

use crate::seal::encode_hex;

/// Where a secret came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The environment variable.
    Env(&'static str),
    /// A dev default file in the data dir (created now or earlier).
    File(PathBuf),
}

/// The loaded secrets ([`Default`]: all empty, which the server refuses to start with).
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// `MCPGW_JWT_SECRET`: verifies admin JWTs (HS256).
    pub jwt_secret: Secret,
    /// `MCPGW_DATA_PLANE_TOKEN`: presented by data planes on the snapshot stream.
    pub data_plane_token: Secret,
    /// `MCPGW_MASTER_KEY`: 64 hex characters, seals credentials at rest.
    pub master_key: Secret,
    /// Where each came from, for the startup log.
    pub sources: Vec<(&'static str, Source)>,
}

/// Secret loading failures.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The data dir or a secret file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The random source failed.
    #[error("the system random source failed")]
    Random,
}

impl Secrets {
    /// Loads each secret from `env` (a lookup function, so tests need not touch the process
    /// environment) or from its dev default file in `data_dir`.
    ///
    /// # Errors
    /// When a dev default cannot be read or created.
    pub fn load(
        data_dir: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SecretsError> {
        let mut sources = Vec::new();
        let mut one = |var: &'static str, file: &str| -> Result<Secret, SecretsError> {
            if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                sources.push((var, Source::Env(var)));
                return Ok(Secret::new(v));
            }
            let path = data_dir.join(file);
            let value = read_or_create(&path)?;
            sources.push((var, Source::File(path)));
            Ok(value)
        };
        let jwt_secret = one("MCPGW_JWT_SECRET", "dev-jwt-secret")?;
        let data_plane_token = one("MCPGW_DATA_PLANE_TOKEN", "dev-data-plane-token")?;
        let master_key = one("MCPGW_MASTER_KEY", "dev-master-key")?;
        Ok(Self {
            jwt_secret,
            data_plane_token,
            master_key,
            sources,
        })
    }
}

/// Reads a dev default, or creates it (32 random bytes as hex, mode 0600, never replaced).
fn read_or_create(path: &Path) -> Result<Secret, SecretsError> {
    let io = |source| SecretsError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok(Secret::new(s.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SecretsError::Random)?;
    let value = encode_hex(&bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(value.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generates_once_with_0600_and_reuses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = Secrets::load(dir.path(), |_| None).expect("load");
        let mode = std::fs::metadata(dir.path().join("dev-master-key"))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(first.master_key.expose().len(), 64);
        let second = Secrets::load(dir.path(), |_| None).expect("load");
        assert_eq!(first.master_key, second.master_key);
        assert_eq!(first.jwt_secret, second.jwt_secret);
        assert_ne!(first.jwt_secret, first.data_plane_token);
    }

    #[test]
    fn env_wins_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Secrets::load(dir.path(), |k| {
            (k == "MCPGW_JWT_SECRET").then(|| "from-env".into())
        })
        .expect("load");
        assert_eq!(s.jwt_secret.expose(), "from-env");
        assert!(!dir.path().join("dev-jwt-secret").exists());
        assert!(dir.path().join("dev-master-key").exists());
    }
}

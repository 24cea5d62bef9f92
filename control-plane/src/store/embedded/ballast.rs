//! A ballast file in the data dir: disk space set aside so the store can always reopen and
//! restore itself after the disk filled up (sled writes while it reopens). Given up the
//! moment a write fails, taken back once the disk has room again.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Size of the ballast.
pub(super) const BYTES: u64 = 8 * 1024 * 1024;

fn path(dir: &Path) -> PathBuf {
    dir.join("store-ballast")
}

/// Creates the ballast if it is missing (best effort: a failure only means less headroom).
pub(super) fn ensure(dir: &Path) {
    let file = path(dir);
    if std::fs::metadata(&file).is_ok_and(|m| m.len() == BYTES) {
        return;
    }
    let written = std::fs::File::create(&file).and_then(|mut f| {
        let chunk = vec![0u8; 1024 * 1024];
        for _ in 0..BYTES / chunk.len() as u64 {
            f.write_all(&chunk)?;
        }
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&file);
        tracing::warn!(error = %e, "could not set aside the store's ballast file");
    }
}

/// Deletes the ballast, freeing its space.
pub(super) fn release(dir: &Path) {
    let _ = std::fs::remove_file(path(dir));
}

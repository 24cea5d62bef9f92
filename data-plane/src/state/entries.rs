//! Served `tools/list` entries, held once per distinct text. A multi-tenant catalog repeats
//! whole tools — the same API enabled by many tenants, the same integration template — and
//! the entry is most of what a served tool weighs, so identical entries share one allocation.
//! An entry lives while a tool serves it.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use serde_json::value::RawValue;

static SHARED: LazyLock<Mutex<Interned>> = LazyLock::new(|| Mutex::new(Interned::default()));

#[derive(Default)]
struct Interned {
    /// Keyed hash of the text → the entry alive with it. Two live texts with one hash (never
    /// in practice: the key is random per process) keep the first; the second goes unshared.
    by_hash: HashMap<u64, Weak<RawValue>>,
    keys: std::hash::RandomState,
    /// Entries at the last sweep of dead ones.
    swept_at: usize,
}

/// The shared entry whose text is `text`: one already served, or a new one.
///
/// # Errors
/// `text` is not JSON.
pub fn intern(text: &str) -> serde_json::Result<Arc<RawValue>> {
    let mut shared = SHARED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let hash = shared.keys.hash_one(text);
    let alive = shared.by_hash.get(&hash).and_then(Weak::upgrade);
    if let Some(entry) = &alive
        && entry.get() == text
    {
        return Ok(entry.clone());
    }
    let entry: Arc<RawValue> = RawValue::from_string(text.to_owned())?.into();
    if alive.is_none() {
        shared.by_hash.insert(hash, Arc::downgrade(&entry));
    }
    if shared.by_hash.len() >= 2 * shared.swept_at.max(4096) {
        shared.by_hash.retain(|_, e| e.strong_count() > 0);
        shared.swept_at = shared.by_hash.len();
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_entries_share_one_allocation_while_served() {
        let a = intern(r#"{"name":"entries-test-a","inputSchema":{}}"#).expect("json");
        let b = intern(r#"{"name":"entries-test-a","inputSchema":{}}"#).expect("json");
        assert!(Arc::ptr_eq(&a, &b));
        let c = intern(r#"{"name":"entries-test-c","inputSchema":{}}"#).expect("json");
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(intern("{not json").is_err());
        let weak = Arc::downgrade(&a);
        drop((a, b));
        assert!(weak.upgrade().is_none(), "nothing keeps an unserved entry");
        let again = intern(r#"{"name":"entries-test-a","inputSchema":{}}"#).expect("json");
        assert_eq!(again.get(), r#"{"name":"entries-test-a","inputSchema":{}}"#);
    }
}

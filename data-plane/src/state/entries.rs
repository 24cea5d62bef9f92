//! What served tools hold, once per distinct value. A multi-tenant catalog repeats itself —
//! the same API enabled by many tenants, the same schemas and upstream requests under many
//! tools, one integration template with its own descriptions — and a served tool's entry
//! members and HTTP binding are most of what it weighs, so identical ones share one
//! allocation. A shared value lives while a tool holds it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use mcpgw_shared::model::HttpBinding;
use serde_json::value::RawValue;

/// Values of one type, each alive value held once.
struct Shared<T: ?Sized> {
    inner: Mutex<Interned<T>>,
}

struct Interned<T: ?Sized> {
    /// Keyed hash of the value → the value alive with it. Two live values with one hash (never
    /// in practice: the key is random per process) keep the first; the second goes unshared.
    by_hash: HashMap<u64, Weak<T>>,
    keys: std::hash::RandomState,
    /// Values at the last sweep of dead ones.
    swept_at: usize,
}

impl<T: ?Sized> Shared<T> {
    fn new() -> Self {
        Self {
            inner: Mutex::new(Interned {
                by_hash: HashMap::new(),
                keys: std::hash::RandomState::new(),
                swept_at: 0,
            }),
        }
    }

    /// The alive value that is `same` as `source`, else the one `make` builds from it.
    fn share<S: Hash, E>(
        &self,
        source: S,
        same: impl Fn(&T, &S) -> bool,
        make: impl FnOnce(S) -> Result<Arc<T>, E>,
    ) -> Result<Arc<T>, E> {
        let mut shared = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let hash = shared.keys.hash_one(&source);
        let alive = shared.by_hash.get(&hash).and_then(Weak::upgrade);
        if let Some(value) = &alive
            && same(value, &source)
        {
            return Ok(value.clone());
        }
        let value = make(source)?;
        if alive.is_none() {
            shared.by_hash.insert(hash, Arc::downgrade(&value));
        }
        if shared.by_hash.len() >= 2 * shared.swept_at.max(4096) {
            shared.by_hash.retain(|_, e| e.strong_count() > 0);
            shared.swept_at = shared.by_hash.len();
        }
        Ok(value)
    }
}

static MEMBERS: LazyLock<Shared<RawValue>> = LazyLock::new(Shared::new);
static BINDINGS: LazyLock<Shared<HttpBinding>> = LazyLock::new(Shared::new);

/// The shared entry member whose text is `text`: one already served, or a new one.
///
/// # Errors
/// `text` is not JSON.
pub fn intern(text: String) -> serde_json::Result<Arc<RawValue>> {
    MEMBERS.share(
        text,
        |member, text| member.get() == text,
        |text| Ok(RawValue::from_string(text)?.into()),
    )
}

/// The shared HTTP binding equal to `binding`.
pub fn binding(binding: HttpBinding) -> Arc<HttpBinding> {
    let shared = BINDINGS.share(
        binding,
        |held, binding| held == binding,
        |binding| Ok::<_, Infallible>(Arc::new(binding)),
    );
    match shared {
        Ok(held) => held,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_members_share_one_allocation_while_served() {
        let text = r#"{"name":"entries-test-a","inputSchema":{}}"#;
        let a = intern(text.into()).expect("json");
        let b = intern(text.into()).expect("json");
        assert!(Arc::ptr_eq(&a, &b));
        let c = intern(r#"{"name":"entries-test-c","inputSchema":{}}"#.into()).expect("json");
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(intern("{not json".into()).is_err());
        let weak = Arc::downgrade(&a);
        drop((a, b));
        assert!(weak.upgrade().is_none(), "nothing keeps an unserved member");
        let again = intern(text.into()).expect("json");
        assert_eq!(again.get(), text);
        // Served again, it is shared again.
        assert!(Arc::ptr_eq(&again, &intern(text.into()).expect("json")));
    }

    #[test]
    fn identical_bindings_are_shared_and_different_ones_are_not() {
        let http = |path: &str| -> HttpBinding {
            serde_json::from_value(serde_json::json!({
                "method": "GET", "path": path, "query": ["limit"]
            }))
            .expect("binding")
        };
        let a = binding(http("/entries-test/{id}"));
        let b = binding(http("/entries-test/{id}"));
        assert!(Arc::ptr_eq(&a, &b));
        let c = binding(http("/entries-test/other"));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(c.path, "/entries-test/other");
    }
}

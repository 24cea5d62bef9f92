//! A hash map that is cheap to copy and cheap to change a copy of: entries live in a fixed
//! number of buckets, each behind its own `Arc`, so a copy shares every bucket and changing it
//! clones only the bucket array and the buckets touched. Applying a one-integration delta to
//! the served state then costs the same at 100 integrations as at 100,000, and requests
//! still reading the previous state keep it whole.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, LazyLock};

/// Buckets per map: copying one costs this many `Arc` clones, and a bucket holds about
/// 1/`BUCKETS` of the entries.
const BUCKETS: usize = 256;

/// One hasher state for every map of the process, chosen at random at start (keys come from
/// tenants: they must not be able to aim at one bucket).
static HASHER: LazyLock<std::hash::RandomState> = LazyLock::new(std::hash::RandomState::new);

/// A copy-on-write hash map (see the module documentation).
pub struct CowMap<K, V> {
    buckets: Arc<Vec<Arc<HashMap<K, V>>>>,
    len: usize,
}

impl<K, V> Clone for CowMap<K, V> {
    fn clone(&self) -> Self {
        Self {
            buckets: self.buckets.clone(),
            len: self.len,
        }
    }
}

impl<K, V> Default for CowMap<K, V> {
    fn default() -> Self {
        Self {
            buckets: Arc::new((0..BUCKETS).map(|_| Arc::new(HashMap::new())).collect()),
            len: 0,
        }
    }
}

fn bucket_of<Q: Hash + ?Sized>(key: &Q) -> usize {
    // The low bits of a SipHash are as good as any.
    (HASHER.hash_one(key) as usize) % BUCKETS
}

impl<K: Hash + Eq + Clone, V: Clone> CowMap<K, V> {
    /// The value of `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.buckets[bucket_of(key)].get(key)
    }

    /// Sets `key` to `value`, returning the previous value. Clones only what this copy still
    /// shares with others.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let bucket = bucket_of(&key);
        let old = self.bucket_mut(bucket).insert(key, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes `key`, returning its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let bucket = bucket_of(key);
        if !self.buckets[bucket].contains_key(key) {
            return None;
        }
        let old = self.bucket_mut(bucket).remove(key);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.buckets.iter().flat_map(|b| b.iter())
    }

    /// Every value, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.buckets.iter().flat_map(|b| b.values())
    }

    fn bucket_mut(&mut self, bucket: usize) -> &mut HashMap<K, V> {
        Arc::make_mut(&mut Arc::make_mut(&mut self.buckets)[bucket])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_copy_leaves_the_original_whole() {
        let mut a: CowMap<String, u32> = CowMap::default();
        for i in 0..1000 {
            a.insert(format!("k{i}"), i);
        }
        let mut b = a.clone();
        assert_eq!(b.insert("k1".into(), 99), Some(1));
        assert_eq!(b.remove("k2"), Some(2));
        assert_eq!(b.insert("new".into(), 7), None);
        assert_eq!(b.remove("absent"), None);
        assert_eq!((a.len(), b.len()), (1000, 1000));
        assert_eq!(a.get("k1"), Some(&1));
        assert_eq!(a.get("k2"), Some(&2));
        assert_eq!(a.get("new"), None);
        assert_eq!(b.get("k1"), Some(&99));
        assert_eq!(b.get("k2"), None);
        assert_eq!(b.iter().count(), 1000);
    }

    #[test]
    fn a_change_copies_one_bucket_not_the_map() {
        let mut a: CowMap<u32, u32> = CowMap::default();
        for i in 0..10_000 {
            a.insert(i, i);
        }
        let mut b = a.clone();
        b.insert(5, 0);
        let shared = a
            .buckets
            .iter()
            .zip(b.buckets.iter())
            .filter(|(x, y)| Arc::ptr_eq(x, y))
            .count();
        assert_eq!(shared, BUCKETS - 1, "only the touched bucket is copied");
    }
}

//! This replica's copy of the records (audit excepted), in key order: reads are served from
//! it, the writer checks against it (brought up to the newest commit under the database's
//! write lock), and the follower applies other replicas' commits to it.

use std::collections::BTreeMap;
use std::ops::Bound;

/// The records as of `version`.
#[derive(Default)]
pub(super) struct Mirror {
    /// The newest version applied.
    pub(super) version: u64,
    records: BTreeMap<String, Vec<u8>>,
}

/// What one write replaced: each key's previous value (`None` = absent), and the version
/// before it.
pub(super) struct Undo {
    values: Vec<(String, Option<Vec<u8>>)>,
    version: u64,
}

impl Mirror {
    /// A mirror of `records` at `version`.
    pub(super) fn new(version: u64, records: BTreeMap<String, Vec<u8>>) -> Self {
        Self { version, records }
    }

    pub(super) fn get(&self, key: &str) -> Option<&[u8]> {
        self.records.get(key).map(Vec::as_slice)
    }

    /// Every record whose key starts with `prefix`, in key order.
    pub(super) fn scan<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Vec<u8>)> + 'a {
        self.records
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
    }

    /// Applies one write's operations as `version`.
    pub(super) fn apply(
        &mut self,
        version: u64,
        ops: impl IntoIterator<Item = (String, Option<Vec<u8>>)>,
    ) -> Undo {
        let mut values = Vec::new();
        for (key, value) in ops {
            let previous = match value {
                Some(v) => self.records.insert(key.clone(), v),
                None => self.records.remove(&key),
            };
            values.push((key, previous));
        }
        let undo = Undo {
            values,
            version: self.version,
        };
        self.version = version;
        undo
    }

    /// Takes back the write `undo` was made for (it must be the newest applied).
    pub(super) fn undo(&mut self, undo: Undo) {
        for (key, previous) in undo.values.into_iter().rev() {
            match previous {
                Some(v) => self.records.insert(key, v),
                None => self.records.remove(&key),
            };
        }
        self.version = undo.version;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_undone_exactly_and_scans_stay_within_their_prefix() {
        let mut m = Mirror::new(
            3,
            [
                ("int/a/x".to_owned(), b"1".to_vec()),
                ("int/ab/y".to_owned(), b"2".to_vec()),
            ]
            .into_iter()
            .collect(),
        );
        let undo = m.apply(
            4,
            [
                ("int/a/x".to_owned(), None),
                ("int/a/z".to_owned(), Some(b"3".to_vec())),
            ],
        );
        assert_eq!(m.version, 4);
        assert_eq!(
            m.scan("int/a/")
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>(),
            ["int/a/z"]
        );
        m.undo(undo);
        assert_eq!(m.version, 3);
        assert_eq!(m.get("int/a/x"), Some(&b"1"[..]));
        assert_eq!(m.get("int/a/z"), None);
        assert_eq!(m.scan("int/").count(), 2);
    }
}

//! Which tenants a data plane serves: all of them, a list, or one shard of a stable hash.
//!
//! The hash is FNV-1a 64 of the tenant id's bytes, modulo the shard count: stable across
//! versions, processes and machines, and simple enough for a load balancer (or a script
//! writing its configuration) to compute the same routing (`docs/operations.md`).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::ids::is_valid_id;

/// The tenants a data plane serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Tenants {
    /// Every tenant.
    #[default]
    All,
    /// Exactly these.
    Only(BTreeSet<String>),
    /// Those whose [`shard_of`] over `count` shards is `index`.
    Shard {
        /// This shard, `0..count`.
        index: u32,
        /// How many shards.
        count: u32,
    },
}

/// FNV-1a 64 of `tenant`, modulo `count` (`count` > 0).
#[must_use]
pub fn shard_of(tenant: &str, count: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tenant.as_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    u32::try_from(hash % u64::from(count.max(1))).unwrap_or(0)
}

impl Tenants {
    /// Whether `tenant` is served.
    #[must_use]
    pub fn includes(&self, tenant: &str) -> bool {
        match self {
            Tenants::All => true,
            Tenants::Only(set) => set.contains(tenant),
            Tenants::Shard { index, count } => shard_of(tenant, *count) == *index,
        }
    }

    /// The selection a Watch request carries (`tenants`, `shard_index`, `shard_count`).
    ///
    /// # Errors
    /// A list and a shard at once, an invalid tenant id, or an index outside the count.
    pub fn from_request(
        tenants: Vec<String>,
        shard_index: u32,
        shard_count: u32,
    ) -> Result<Self, TenantsError> {
        match (tenants.is_empty(), shard_count) {
            (true, 0) => Ok(Tenants::All),
            (false, 0) => Self::only(tenants),
            (true, count) => Self::shard(shard_index, count),
            (false, _) => Err(TenantsError::Both),
        }
    }

    /// The request fields for this selection.
    #[must_use]
    pub fn to_request(&self) -> (Vec<String>, u32, u32) {
        match self {
            Tenants::All => (Vec::new(), 0, 0),
            Tenants::Only(set) => (set.iter().cloned().collect(), 0, 0),
            Tenants::Shard { index, count } => (Vec::new(), *index, *count),
        }
    }

    fn only(tenants: Vec<String>) -> Result<Self, TenantsError> {
        if let Some(bad) = tenants.iter().find(|t| !is_valid_id(t)) {
            return Err(TenantsError::InvalidTenant(bad.chars().take(64).collect()));
        }
        Ok(Tenants::Only(tenants.into_iter().collect()))
    }

    fn shard(index: u32, count: u32) -> Result<Self, TenantsError> {
        if index >= count {
            return Err(TenantsError::BadShard { index, count });
        }
        Ok(Tenants::Shard { index, count })
    }
}

/// A tenant selection that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantsError {
    /// A tenant list and a shard were both given.
    #[error("give either a tenant list or a shard, not both")]
    Both,
    /// Not a tenant id.
    #[error("'{0}' is not a valid tenant id")]
    InvalidTenant(String),
    /// The shard index is not below the count.
    #[error("shard {index}/{count}: the index must be below the count")]
    BadShard {
        /// The index.
        index: u32,
        /// The count.
        count: u32,
    },
    /// Not `K/N`.
    #[error("a shard is written K/N (e.g. 0/4)")]
    Syntax,
}

impl FromStr for Tenants {
    type Err = TenantsError;

    /// Parses a shard, `K/N`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (k, n) = s.split_once('/').ok_or(TenantsError::Syntax)?;
        let index = k.trim().parse().map_err(|_| TenantsError::Syntax)?;
        let count = n.trim().parse().map_err(|_| TenantsError::Syntax)?;
        Self::shard(index, count)
    }
}

impl fmt::Display for Tenants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tenants::All => f.write_str("all tenants"),
            Tenants::Only(set) => write!(f, "{} listed tenants", set.len()),
            Tenants::Shard { index, count } => write!(f, "shard {index}/{count}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv1a_64_and_stable() {
        // Reference values of FNV-1a 64 ("" and "a"), so other implementations can check theirs.
        assert_eq!(
            shard_of("", u32::MAX),
            (0xcbf2_9ce4_8422_2325_u64 % u64::from(u32::MAX)) as u32
        );
        assert_eq!(
            shard_of("a", u32::MAX),
            (0xaf63_dc4c_8601_ec8c_u64 % u64::from(u32::MAX)) as u32
        );
        let counts = (0..1000).fold([0u32; 4], |mut c, i| {
            c[shard_of(&format!("tenant-{i}"), 4) as usize] += 1;
            c
        });
        assert!(counts.iter().all(|c| (180..320).contains(c)), "{counts:?}");
    }

    #[test]
    fn shards_partition_the_tenants() {
        let shards: Vec<Tenants> = (0..3)
            .map(|k| format!("{k}/3").parse().expect("shard"))
            .collect();
        for i in 0..300 {
            let t = format!("t{i}");
            assert_eq!(shards.iter().filter(|s| s.includes(&t)).count(), 1, "{t}");
        }
    }

    #[test]
    fn requests_round_trip_and_bad_ones_are_refused() {
        for t in [
            Tenants::All,
            Tenants::Only(["a".to_owned(), "b".to_owned()].into()),
            Tenants::Shard { index: 2, count: 5 },
        ] {
            let (list, k, n) = t.to_request();
            assert_eq!(Tenants::from_request(list, k, n), Ok(t));
        }
        assert_eq!(
            Tenants::from_request(vec!["a".into()], 0, 2),
            Err(TenantsError::Both)
        );
        assert_eq!(
            Tenants::from_request(Vec::new(), 3, 3),
            Err(TenantsError::BadShard { index: 3, count: 3 })
        );
        assert!(matches!(
            Tenants::from_request(vec!["a b".into()], 0, 0),
            Err(TenantsError::InvalidTenant(_))
        ));
        assert_eq!(
            "1/0".parse::<Tenants>(),
            Err(TenantsError::BadShard { index: 1, count: 0 })
        );
        assert_eq!("x".parse::<Tenants>(), Err(TenantsError::Syntax));
    }
}

use serde::{Deserialize, Serialize};

use super::FieldError;

/// Per-integration limits (`docs/api.md`, MCP settings rule 9). An absent field means "the data plane's
/// default".
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// Sustained requests per second, per key.
    pub requests_per_second: Option<f64>,
    /// Requests a key may send at once above the sustained rate.
    pub burst: Option<u32>,
    /// Calls of the integration in flight at once, over all keys.
    pub max_concurrent_calls: Option<u32>,
}

impl Limits {
    /// The most any limit may be set to; beyond it a limit is no limit.
    pub const MAX: u32 = 1_000_000;

    /// Checks that every set limit is a positive, finite, bounded number.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(rps) = self.requests_per_second
            && !(rps.is_finite() && rps > 0.0 && rps <= f64::from(Self::MAX))
        {
            return Err(FieldError::new(
                "limits.requestsPerSecond",
                "must be a number above 0 and at most 1000000",
            ));
        }
        for (field, value) in [
            ("limits.burst", self.burst),
            ("limits.maxConcurrentCalls", self.max_concurrent_calls),
        ] {
            if let Some(v) = value
                && !(1..=Self::MAX).contains(&v)
            {
                return Err(FieldError::new(field, "must be between 1 and 1000000"));
            }
        }
        Ok(())
    }

    /// This patch applied over `self`: fields the patch leaves unset are kept.
    #[must_use]
    pub fn patched(self, patch: Limits) -> Limits {
        Limits {
            requests_per_second: patch.requests_per_second.or(self.requests_per_second),
            burst: patch.burst.or(self.burst),
            max_concurrent_calls: patch.max_concurrent_calls.or(self.max_concurrent_calls),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_out_of_range() {
        let bad = [
            Limits {
                requests_per_second: Some(0.0),
                ..Limits::default()
            },
            Limits {
                requests_per_second: Some(f64::NAN),
                ..Limits::default()
            },
            Limits {
                burst: Some(0),
                ..Limits::default()
            },
            Limits {
                max_concurrent_calls: Some(2_000_000),
                ..Limits::default()
            },
        ];
        for l in bad {
            assert!(l.validate().is_err(), "{l:?}");
        }
        assert!(Limits::default().validate().is_ok());
    }

    #[test]
    fn patch_keeps_unset_fields() {
        let base = Limits {
            requests_per_second: Some(5.0),
            burst: Some(10),
            max_concurrent_calls: None,
        };
        let p = base.patched(Limits {
            burst: Some(3),
            ..Limits::default()
        });
        assert_eq!(
            p,
            Limits {
                requests_per_second: Some(5.0),
                burst: Some(3),
                max_concurrent_calls: None
            }
        );
    }
}

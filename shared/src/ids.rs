//! Identifier rules. Tenants, integrations and tools are named by path segments of
//! `[A-Za-z0-9_-]{1,64}`: nothing else may reach the store or a URL.

/// The longest tenant, integration or tool id.
pub const MAX_ID_LEN: usize = 64;

/// Whether `id` is a valid tenant, integration or tool id (`[A-Za-z0-9_-]{1,64}`).
#[must_use]
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_segment_ids() {
        for id in ["a", "acme", "A_b-9", &"x".repeat(64)] {
            assert!(is_valid_id(id), "{id}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for id in [
            "",
            &"x".repeat(65),
            "a/b",
            "a b",
            "..",
            "é",
            "a.b",
            "a%2F",
            "a\0",
        ] {
            assert!(!is_valid_id(id), "{id:?}");
        }
    }
}

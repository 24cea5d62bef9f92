//! Protocol versions the data plane speaks, and which era each belongs to.

/// A supported MCP protocol revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// `2025-03-26`: the first Streamable HTTP revision (batches allowed).
    V2025_03_26,
    /// `2025-06-18`: adds `title`, `outputSchema`, `structuredContent`.
    V2025_06_18,
    /// `2025-11-25`: the last `initialize`-era revision.
    V2025_11_25,
    /// `2026-07-28`: stateless (`server/discover`, `_meta` protocol fields).
    V2026_07_28,
}

impl Version {
    /// Every supported version, newest first.
    pub const ALL: [Version; 4] = [
        Version::V2026_07_28,
        Version::V2025_11_25,
        Version::V2025_06_18,
        Version::V2025_03_26,
    ];
    /// What `initialize` answers when the client asks for a version we do not speak.
    pub const LATEST_LEGACY: Version = Version::V2025_11_25;

    /// Parses a version string.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The version string.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2025_03_26 => "2025-03-26",
            Version::V2025_06_18 => "2025-06-18",
            Version::V2025_11_25 => "2025-11-25",
            Version::V2026_07_28 => "2026-07-28",
        }
    }

    /// Whether this is the stateless era.
    #[must_use]
    pub fn is_modern(self) -> bool {
        self >= Version::V2026_07_28
    }

    /// All version strings, newest first (for `supportedVersions` and error data).
    #[must_use]
    pub fn all_strings() -> Vec<&'static str> {
        Self::ALL.iter().map(|v| v.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        for v in Version::ALL {
            assert_eq!(Version::parse(v.as_str()), Some(v));
        }
        assert_eq!(Version::parse("2024-11-05"), None);
        assert!(Version::V2026_07_28.is_modern());
        assert!(!Version::V2025_11_25.is_modern());
        assert!(Version::V2025_03_26 < Version::V2025_06_18);
    }
}

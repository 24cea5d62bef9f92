//! Tool ids for operations: from `operationId`, or from the method and path when there is
//! none; made valid (`[A-Za-z0-9_-]`, at most 64 characters, as tool ids and MCP tool names
//! require), and unique within one import by a numbered suffix, in the document's order, so
//! the same document always yields the same ids.

use std::collections::HashSet;

/// Longest id.
const MAX: usize = 64;

/// Hands out unique ids.
#[derive(Debug, Default)]
pub struct Namer {
    taken: HashSet<String>,
}

impl Namer {
    /// A namer that never hands out one of `taken`.
    #[must_use]
    pub fn with_taken(taken: impl IntoIterator<Item = String>) -> Self {
        Self {
            taken: taken.into_iter().collect(),
        }
    }

    /// The id of an operation: `prefix` + its `operationId`, or `method_path` without one.
    pub fn id(
        &mut self,
        prefix: &str,
        operation_id: Option<&str>,
        method: &str,
        path: &str,
    ) -> String {
        let raw = match operation_id.filter(|o| !o.trim().is_empty()) {
            Some(o) => format!("{prefix}{o}"),
            None => format!("{prefix}{}_{path}", method.to_ascii_lowercase()),
        };
        let base = sanitize(&raw);
        let mut candidate = base.clone();
        let mut n = 2;
        while !self.taken.insert(candidate.clone()) {
            let suffix = format!("_{n}");
            let keep = MAX.saturating_sub(suffix.len()).min(base.len());
            candidate = format!("{}{suffix}", &base[..keep]);
            n += 1;
        }
        candidate
    }
}

/// `text` with every run of other characters replaced by one `_`, trimmed of `_`, cut to
/// 64 characters; `tool` when nothing is left.
#[must_use]
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX));
    let mut gap = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            if gap && !out.is_empty() && !out.ends_with('_') && c != '_' {
                out.push('_');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
        if out.len() >= MAX {
            break;
        }
    }
    out.truncate(MAX);
    let out = out.trim_matches('_').to_owned();
    if out.is_empty() {
        "tool".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_unique_and_stable() {
        let mut n = Namer::with_taken(["listUsers".to_owned()]);
        assert_eq!(n.id("", Some("listUsers"), "GET", "/users"), "listUsers_2");
        assert_eq!(n.id("", Some("list users!"), "GET", "/users"), "list_users");
        assert_eq!(
            n.id("gh_", None, "GET", "/repos/{owner}/{repo}"),
            "gh_get_repos_owner_repo"
        );
        assert_eq!(n.id("", Some("résumé.get"), "GET", "/x"), "r_sum_get");
        assert_eq!(n.id("", Some("***"), "GET", "/x"), "tool");
        let long = "a".repeat(100);
        let first = n.id("", Some(&long), "GET", "/x");
        let second = n.id("", Some(&long), "GET", "/x");
        assert_eq!(first.len(), 64);
        assert_eq!(second.len(), 64);
        assert!(second.ends_with("_2"));
        for id in [&first, &second] {
            assert!(mcpgw_shared::ids::is_valid_id(id), "{id}");
        }
        // The same document, the same ids.
        let mut again = Namer::with_taken(["listUsers".to_owned()]);
        assert_eq!(
            again.id("", Some("listUsers"), "GET", "/users"),
            "listUsers_2"
        );
    }
}

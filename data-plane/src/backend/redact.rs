//! Blanking a revision's credentials out of upstream text quoted back to a client.
//!
//! An upstream may echo the credential it was sent — and not only verbatim: as the BASIC
//! header carried it (base64 of `user:password`), percent-encoded as a query value, escaped
//! inside a JSON or HTML body. Every form the gateway itself produces, and the usual escapes
//! of each, are redacted. (Authentication failures are never quoted at all: see
//! [`super::response`].)

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use mcpgw_shared::model::Auth;

/// What replaces a secret.
const MASK: &str = "[redacted]";

/// The forms of one revision's secrets.
pub struct Redactor {
    forms: Vec<String>,
}

impl Redactor {
    /// Every form in which `auth`'s secrets may come back.
    #[must_use]
    pub fn new(auth: &Auth) -> Self {
        let mut raw: Vec<String> = auth.secrets().into_iter().map(str::to_owned).collect();
        if let Auth::Basic { username, password } = auth {
            // What the Authorization header carried, base64-encoded below.
            raw.push(format!("{username}:{}", password.expose()));
        }
        let mut forms = Vec::new();
        for secret in raw.iter().filter(|s| !s.is_empty()) {
            forms.push(secret.clone());
            let percent = super::request::encode(secret);
            forms.push(lowercase_escapes(&percent, '%', 2));
            forms.push(percent.replace("%20", "+"));
            forms.push(percent);
            if let Ok(json) = serde_json::to_string(secret) {
                let inner = json[1..json.len() - 1].to_owned();
                let slashed = inner.replace('/', "\\/");
                for escaped in [ascii_json(&inner), ascii_json(&slashed)] {
                    forms.push(uppercase_escapes(&escaped, "\\u", 4));
                    forms.push(escaped);
                }
                forms.push(slashed);
                forms.push(inner);
            }
            forms.push(html_escape(secret));
            for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
                forms.push(engine.encode(secret));
            }
        }
        // Longest first, so a form is not broken up by a shorter one it contains.
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        forms.dedup();
        Self { forms }
    }

    /// The longest form, in bytes: how far past a cut a secret can reach.
    #[must_use]
    pub fn longest(&self) -> usize {
        self.forms.first().map_or(0, String::len)
    }

    /// `text` with every form blanked out.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        self.forms
            .iter()
            .fold(text.to_owned(), |t, form| t.replace(form.as_str(), MASK))
    }
}

/// JSON escaping of every non-ASCII character as `\uXXXX` (what some serialisers emit).
fn ascii_json(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len());
    for c in escaped.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// `s` with the `digits` hex digits after each `marker` lowercased, and nothing else.
fn lowercase_escapes(s: &str, marker: char, digits: usize) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending = 0;
    for c in s.chars() {
        if pending > 0 {
            out.push(c.to_ascii_lowercase());
            pending -= 1;
        } else {
            out.push(c);
            if c == marker {
                pending = digits;
            }
        }
    }
    out
}

/// `s` with the `digits` hex digits after each `marker` (e.g. `\u`) uppercased.
fn uppercase_escapes(s: &str, marker: &str, digits: usize) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(marker) {
        let (head, tail) = rest.split_at(at + marker.len());
        out.push_str(head);
        let cut = tail
            .char_indices()
            .nth(digits)
            .map_or(tail.len(), |(i, _)| i);
        out.push_str(&tail[..cut].to_ascii_uppercase());
        rest = &tail[cut..];
    }
    out.push_str(rest);
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpgw_shared::model::ApiKeyLocation;
    use mcpgw_shared::secret::Secret;

    #[test]
    fn blanks_every_form_a_credential_travels_or_echoes_in() {
        let basic = Auth::Basic {
            username: "svc".into(),
            password: Secret::new("Pä ss/\"w&rd"),
        };
        let r = Redactor::new(&basic);
        let pair = "svc:Pä ss/\"w&rd";
        for echoed in [
            "Pä ss/\"w&rd".to_owned(),
            STANDARD.encode(pair),
            URL_SAFE_NO_PAD.encode(pair),
            "P%C3%A4%20ss%2F%22w%26rd".into(),
            "P%c3%a4%20ss%2f%22w%26rd".into(),
            "P%C3%A4+ss%2F%22w%26rd".into(),
            r#"Pä ss/\"w&rd"#.into(),
            r#"P\u00e4 ss\/\"w&rd"#.into(),
            r#"P\u00E4 ss\/\"w&rd"#.into(),
            "Pä ss/&quot;w&amp;rd".into(),
        ] {
            let out = r.redact(&format!("rejected: {echoed} (try again)"));
            assert_eq!(out, "rejected: [redacted] (try again)", "{echoed}");
        }
        let query = Auth::ApiKey {
            location: ApiKeyLocation::Query,
            name: "k".into(),
            value: Secret::new("a&b=c"),
        };
        assert_eq!(
            Redactor::new(&query).redact("url ...?k=a%26b%3Dc was denied"),
            "url ...?k=[redacted] was denied"
        );
        assert_eq!(Redactor::new(&Auth::None).redact("nothing"), "nothing");
    }
}

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::FieldError;
use crate::secret::Secret;

/// A config's non-secret parameters: `baseUrl` plus whatever else the operator records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigParameters {
    /// The upstream's base URL (`http` or `https`); tool paths are appended to it.
    pub base_url: String,
    /// Other parameters, kept as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ConfigParameters {
    /// Checks that `baseUrl` is an absolute http(s) URL with a host and no query or fragment.
    ///
    /// # Errors
    /// A [`FieldError`] on `parameters.baseUrl`.
    pub fn validate(&self) -> Result<(), FieldError> {
        let field = "parameters.baseUrl";
        let uri: http::Uri = self
            .base_url
            .parse()
            .map_err(|_| FieldError::new(field, "must be an absolute http(s) URL"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(FieldError::new(field, "must use http or https")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(FieldError::new(field, "must name a host"));
        }
        if uri.query().is_some() || self.base_url.contains('#') {
            return Err(FieldError::new(field, "must not carry a query or fragment"));
        }
        Ok(())
    }
}

/// Where an `API_KEY` credential goes on the upstream request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyLocation {
    /// A request header.
    Header,
    /// A query parameter.
    Query,
}

/// How the gateway authenticates to the upstream. Every secret is a [`Secret`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    content = "parameters",
    rename_all = "SCREAMING_SNAKE_CASE"
)]
pub enum Auth {
    /// No credentials.
    None,
    /// A key in a header or query parameter.
    #[serde(rename_all = "camelCase")]
    ApiKey {
        /// Header or query.
        #[serde(rename = "in")]
        location: ApiKeyLocation,
        /// The header or parameter name.
        name: String,
        /// The key.
        value: Secret,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: Secret,
    },
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
}

impl Auth {
    /// The `type` tag, as in the JSON.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Auth::None => "NONE",
            Auth::ApiKey { .. } => "API_KEY",
            Auth::Bearer { .. } => "BEARER",
            Auth::Basic { .. } => "BASIC",
        }
    }

    /// The secret values, for redacting them from anything shown to a client.
    #[must_use]
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Auth::None => Vec::new(),
            Auth::ApiKey { value, .. } => vec![value.expose()],
            Auth::Bearer { token } => vec![token.expose()],
            Auth::Basic { password, .. } => vec![password.expose()],
        }
    }

    /// Checks names and values are usable on an HTTP request.
    ///
    /// # Errors
    /// A [`FieldError`] under `auth.parameters`.
    pub fn validate(&self) -> Result<(), FieldError> {
        let nonempty = |field: &str, v: &str| {
            if v.is_empty() || v.chars().any(char::is_control) {
                Err(FieldError::new(
                    format!("auth.parameters.{field}"),
                    "must be non-empty without control characters",
                ))
            } else {
                Ok(())
            }
        };
        match self {
            Auth::None => Ok(()),
            Auth::ApiKey {
                location,
                name,
                value,
            } => {
                nonempty("value", value.expose())?;
                match location {
                    ApiKeyLocation::Header => http::HeaderName::from_bytes(name.as_bytes())
                        .map(drop)
                        .map_err(|_| {
                            FieldError::new("auth.parameters.name", "must be a valid header name")
                        }),
                    ApiKeyLocation::Query => nonempty("name", name),
                }
            }
            Auth::Bearer { token } => nonempty("token", token.expose()),
            Auth::Basic { username, password } => {
                nonempty("username", username)?;
                if username.contains(':') {
                    return Err(FieldError::new(
                        "auth.parameters.username",
                        "must not contain ':'",
                    ));
                }
                nonempty("password", password.expose())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn auth_json_round_trips() {
        let cases = [
            json!({"type": "NONE"}),
            json!({"type": "API_KEY", "parameters": {"in": "header", "name": "X-Key", "value": "s"}}),
            json!({"type": "BEARER", "parameters": {"token": "t"}}),
            json!({"type": "BASIC", "parameters": {"username": "u", "password": "p"}}),
        ];
        for case in cases {
            let auth: Auth = serde_json::from_value(case.clone()).expect("parse");
            auth.validate().expect("valid");
            assert_eq!(serde_json::to_value(&auth).expect("ser"), case);
        }
    }

    #[test]
    fn auth_debug_hides_secrets() {
        let a = Auth::Bearer {
            token: Secret::new("tok-123"),
        };
        assert!(!format!("{a:?}").contains("tok-123"));
    }

    #[test]
    fn base_url_rules() {
        let ok = |u: &str| {
            ConfigParameters {
                base_url: u.into(),
                extra: Map::new(),
            }
            .validate()
        };
        assert!(ok("https://api.example.com/v2").is_ok());
        assert!(ok("http://127.0.0.1:9000").is_ok());
        for bad in [
            "ftp://x",
            "/relative",
            "https://",
            "https://x/?q=1",
            "https://x/#f",
            "nope",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
    }
}

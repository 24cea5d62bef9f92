//! The demo integration: a pet store (shaped like the public Swagger Petstore API) whose
//! tools all carry simulations, so `mcp:test` works with no network at all; `mcp:call` goes
//! to the real public API. Created once; later starts reuse it and never mint again.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use mcpgw_control_plane::jwt::Caller;
use mcpgw_control_plane::service::views::{McpPatch, NewConfig, NewIntegration};
use mcpgw_control_plane::service::{Service, ServiceError};
use serde_json::{Value, json};

const TENANT: &str = "demo";
const INTEGRATION: &str = "petstore";
const KEY_FILE: &str = "demo-api-key";

/// What to print about the demo.
pub struct Demo {
    call_url: String,
    test_url: String,
    api_key: Option<String>,
    key_prefix: String,
}

/// Creates the demo on first run (and mints its key), or finds it.
pub async fn ensure(service: &Service, data_dir: &Path) -> anyhow::Result<Demo> {
    let admin = Caller::system("mcpgw-demo");
    let key_path = data_dir.join(KEY_FILE);
    match service
        .create_integration(
            &admin,
            TENANT,
            NewIntegration {
                id: INTEGRATION.into(),
                display_name: Some("Pet Store (demo)".into()),
                description: Some(
                    "Find, read and add pets in a Swagger-Petstore-shaped API.".into(),
                ),
                catalog: None,
            },
        )
        .await
    {
        Ok(_) => {
            for tool in tools() {
                let id = tool["id"].as_str().unwrap_or_default().to_owned();
                service
                    .put_tool(&admin, TENANT, INTEGRATION, &id, tool)
                    .await?;
            }
            let config: NewConfig = serde_json::from_value(json!({
                "displayName": "public petstore",
                "parameters": {"baseUrl": "https://petstore3.swagger.io/api/v3"},
                "auth": {"type": "API_KEY", "parameters": {"in": "header", "name": "api_key", "value": "special-key"}}
            }))?;
            let config = service
                .create_config(&admin, TENANT, INTEGRATION, config)
                .await?;
            service
                .publish_config(
                    &admin,
                    TENANT,
                    INTEGRATION,
                    &config.id.to_string(),
                    Default::default(),
                )
                .await?;
            let settings = service
                .update_mcp_settings(
                    &admin,
                    TENANT,
                    INTEGRATION,
                    McpPatch {
                        enabled: Some(true),
                        config_id: Some(config.id.to_string()),
                        ..McpPatch::default()
                    },
                )
                .await?;
            let key = settings
                .api_key
                .context("enabling the demo minted no key")?;
            // Kept for the next start of this dev gateway only (mode 0600, like the dev secrets).
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&key_path)?;
            file.write_all(key.expose().as_bytes())?;
        }
        Err(ServiceError::Conflict { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let settings = service.get_mcp_settings(&admin, TENANT, INTEGRATION)?;
    let api_key = std::fs::read_to_string(&key_path)
        .ok()
        .map(|k| k.trim().to_owned())
        .filter(|k| {
            mcpgw_shared::apikey::parse(k)
                .is_ok_and(|prefix| Some(prefix) == settings.key_prefix.as_deref())
        });
    Ok(Demo {
        call_url: settings.call_url,
        test_url: settings.test_url,
        api_key,
        key_prefix: settings.key_prefix.unwrap_or_default(),
    })
}

impl Demo {
    /// The demo's URLs, key and a client config snippet, as printed at startup.
    pub fn banner(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(out, "\nDemo integration {TENANT}/{INTEGRATION}");
        let _ = writeln!(
            out,
            "  testUrl       {}   (simulator: works offline)",
            self.test_url
        );
        let _ = writeln!(
            out,
            "  callUrl       {}   (calls the public Petstore API)",
            self.call_url
        );
        match &self.api_key {
            Some(key) => {
                let _ = writeln!(out, "  API key       {key}");
                let snippet = json!({"mcpServers": {"petstore-demo": {
                    "url": self.test_url,
                    "headers": {"Authorization": format!("Bearer {key}")}
                }}});
                let _ = writeln!(
                    out,
                    "\nMCP client config (Cursor, Claude Code, VS Code-style \"mcpServers\"):\n{}",
                    serde_json::to_string_pretty(&snippet).unwrap_or_default()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  API key       {}… (the raw key is not on file; rotate it to get a new one:\n                POST /v1/tenants/{TENANT}/integrations/{INTEGRATION}/mcp:rotateKey)",
                    self.key_prefix
                );
            }
        }
        out
    }
}

fn tools() -> Vec<Value> {
    vec![
        json!({
            "id": "find_pets_by_status",
            "title": "Find pets by status",
            "description": "List the pets that have a given status.",
            "inputSchema": {"type": "object", "properties": {"status": {"type": "string", "enum": ["available", "pending", "sold"]}}, "required": ["status"]},
            "annotations": {"readOnlyHint": true, "openWorldHint": true},
            "http": {"method": "GET", "path": "/pet/findByStatus", "query": ["status"]},
            "simulation": {"response": [
                {"id": 1, "name": "Rex", "status": "available", "category": {"id": 1, "name": "Dogs"}},
                {"id": 2, "name": "Tom", "status": "available", "category": {"id": 2, "name": "Cats"}}
            ]}
        }),
        json!({
            "id": "get_pet",
            "title": "Get a pet",
            "description": "Read one pet by its id.",
            "inputSchema": {"type": "object", "properties": {"petId": {"type": "integer", "minimum": 1}}, "required": ["petId"]},
            "outputSchema": {"type": "object", "properties": {
                "id": {"type": "integer"}, "name": {"type": "string"},
                "status": {"type": "string", "enum": ["available", "pending", "sold"]},
                "photoUrls": {"type": "array", "items": {"type": "string", "format": "uri"}}
            }, "required": ["id", "name"]},
            "annotations": {"readOnlyHint": true},
            "http": {"method": "GET", "path": "/pet/{petId}"},
            "simulation": {"latencyMs": 300}
        }),
        json!({
            "id": "add_pet",
            "title": "Add a pet",
            "description": "Add a new pet to the store.",
            "inputSchema": {"type": "object", "properties": {
                "name": {"type": "string", "minLength": 1},
                "status": {"type": "string", "enum": ["available", "pending", "sold"]},
                "photoUrls": {"type": "array", "items": {"type": "string"}}
            }, "required": ["name"]},
            "annotations": {"destructiveHint": false, "idempotentHint": false},
            "http": {"method": "POST", "path": "/pet"},
            "simulation": {"response": {"id": 1001, "name": "New pet", "status": "available"}}
        }),
        json!({
            "id": "get_inventory",
            "title": "Store inventory",
            "description": "Count pets by status.",
            "inputSchema": {"type": "object", "properties": {}},
            "annotations": {"readOnlyHint": true},
            "http": {"method": "GET", "path": "/store/inventory"},
            "simulation": {"response": {"available": 7, "pending": 2, "sold": 3}}
        }),
    ]
}

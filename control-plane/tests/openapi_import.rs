//! `POST .../tools:import`: an OpenAPI document becomes the integration's tools in one write;
//! a dry run shows the plan without writing; re-importing the same document changes nothing;
//! a changed document shows which fields change; `prune` removes what the document no longer
//! has; a document that is not OpenAPI is a clear 400.

mod support;

use serde_json::{Value, json};
use support::{Api, Cp, token};

fn document(summary: &str) -> Value {
    json!({
        "openapi": "3.0.3",
        "servers": [{"url": "https://api.example.com/v1"}],
        "components": {
            "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
            "schemas": {"Item": {"type": "object", "required": ["name"], "properties": {
                "id": {"type": "string"}, "name": {"type": "string"}, "note": {"type": "string", "nullable": true}
            }}}
        },
        "paths": {
            "/items": {
                "get": {"operationId": "listItems", "summary": summary,
                        "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                        "responses": {"200": {"description": "ok"}}},
                "post": {"operationId": "createItem", "summary": "Create an item",
                         "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                         "responses": {"201": {"description": "made", "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/Item"}, "example": {"id": "i1", "name": "pen"}}}}}}
            },
            "/items/{id}": {
                "delete": {"operationId": "deleteItem", "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                           "responses": {"204": {"description": "gone"}}}
            },
            "/files": {"post": {"operationId": "upload", "requestBody": {"content": {"multipart/form-data": {}}}, "responses": {}}}
        }
    })
}

#[tokio::test]
async fn an_openapi_document_becomes_tools_in_one_write() {
    let cp = Cp::start().await;
    let api = Api {
        base: &cp.base,
        token: token(&["acme"]),
    };
    let r = api
        .post("/v1/tenants/acme/integrations", json!({"id": "items"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let import = "/v1/tenants/acme/integrations/items/tools:import";

    // A dry run: the plan, nothing written.
    let version = cp.running().service.publisher().version();
    let plan = api
        .post(
            import,
            json!({"document": document("List items"), "dryRun": true}),
        )
        .await;
    assert_eq!(plan.status, 200, "{}", plan.text);
    let plan = plan.json();
    assert_eq!(
        plan["added"],
        json!(["listItems", "createItem", "deleteItem"])
    );
    assert_eq!(plan["applied"], false);
    assert_eq!(plan["skipped"][0]["operation"], "POST /files");
    assert_eq!(
        plan["suggestedConfig"],
        json!({"parameters": {"baseUrl": "https://api.example.com/v1"},
               "auth": {"type": "API_KEY", "parameters": {"in": "header", "name": "X-Api-Key", "value": "<key>"}}})
    );
    assert_eq!(
        cp.running().service.publisher().version(),
        version,
        "nothing written"
    );
    let tools = api
        .get("/v1/tenants/acme/integrations/items/tools")
        .await
        .json();
    assert_eq!(tools, json!([]));

    // Applied: one write, three tools.
    let plan = api
        .post(import, json!({"document": document("List items")}))
        .await
        .json();
    assert_eq!(plan["applied"], true);
    assert_eq!(
        cp.running().service.publisher().version(),
        version + 1,
        "one write"
    );
    let create = api
        .get("/v1/tenants/acme/integrations/items/tools/createItem")
        .await
        .json();
    assert_eq!(create["inputSchema"]["required"], json!(["name"]));
    assert_eq!(
        create["inputSchema"]["properties"]["note"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(
        create["simulation"],
        json!({"response": {"id": "i1", "name": "pen"}})
    );
    assert_eq!(create["http"], json!({"method": "POST", "path": "/items"}));

    // The same document again: nothing changes (and nothing is written).
    let plan = api
        .post(import, json!({"document": document("List items")}))
        .await
        .json();
    assert_eq!(plan["unchanged"], 3);
    assert_eq!(plan["applied"], false);
    assert_eq!(cp.running().service.publisher().version(), version + 1);

    // A changed summary shows as a changed title; prune removes a hand-made tool.
    let r = api
        .put(
            "/v1/tenants/acme/integrations/items/tools/extra",
            support::tool_body("extra"),
        )
        .await;
    assert_eq!(r.status, 201);
    let text = document("List all items").to_string();
    let plan = api
        .post(import, json!({"document": text, "prune": true}))
        .await
        .json();
    // Without a description, the summary is the description too.
    assert_eq!(
        plan["changed"],
        json!([{"id": "listItems", "fields": ["description", "title"], "diff": [
            "~ /description: \"List items\" → \"List all items\"",
            "~ /title: \"List items\" → \"List all items\""
        ]}])
    );
    assert_eq!(plan["removed"], json!(["extra"]));
    let tools = api
        .get("/v1/tenants/acme/integrations/items/tools")
        .await
        .json();
    assert_eq!(tools.as_array().expect("tools").len(), 3);

    // The same document written in YAML reads the same: nothing changes.
    let yaml = r##"
openapi: 3.0.3
servers: [{url: "https://api.example.com/v1"}]
components:
  securitySchemes: {key: {type: apiKey, in: header, name: X-Api-Key}}
  schemas:
    Item:
      type: object
      required: [name]
      properties:
        id: {type: string}
        name: {type: string}
        note: {type: string, nullable: true}
paths:
  /items:
    get:
      operationId: listItems
      summary: List all items
      parameters: [{name: limit, in: query, schema: {type: integer}}]
      responses: {200: {description: ok}}
    post:
      operationId: createItem
      summary: Create an item
      requestBody: {content: {application/json: {schema: {$ref: "#/components/schemas/Item"}}}}
      responses:
        201:
          description: made
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Item"}
              example: {id: i1, name: pen}
  /items/{id}:
    delete:
      operationId: deleteItem
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {204: {description: gone}}
"##;
    let plan = api.post(import, json!({"document": yaml})).await;
    assert_eq!(plan.status, 200, "{}", plan.text);
    let plan = plan.json();
    assert_eq!(plan["unchanged"], 3, "{plan}");
    assert_eq!(plan["applied"], false);
    let bad = api
        .post(import, json!({"document": "openapi: [unclosed"}))
        .await;
    assert!(
        bad.problem(400)["detail"]
            .as_str()
            .is_some_and(|d| d.contains("neither JSON nor YAML")),
        "{}",
        bad.text
    );

    // Not OpenAPI: a clear 400 naming the document.
    let bad = api
        .post(import, json!({"document": {"hello": "world"}}))
        .await;
    assert_eq!(bad.problem(400)["field"], "document");
}

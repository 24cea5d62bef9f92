// Connects to an OAuth-enabled endpoint of the gateway with the official MCP TypeScript SDK's
// OAuth support (`authProvider` of `StreamableHTTPClientTransport`), playing the person at the
// consent page.
//
// Usage: node oauth_client.mjs URL API_KEY STATE_FILE
//
// Tokens and the registration persist in STATE_FILE (JSON) between runs, as a desktop client
// keeps them: a second run after the key was rotated starts with refused tokens.
//
// The SDK gets 401, discovers the protected-resource metadata and the authorization server,
// registers, and hands the authorization URL to `redirectToAuthorization`; the person (this
// script, with fetch) opens the consent page, enters API_KEY and approves; the code from the
// redirect goes to `transport.finishAuth`, and the client connects with the token. Then the
// access token is spoiled so that the next call gets 401 and the SDK refreshes.
//
// Prints ONE JSON line: {"sdk", "protocolVersion", "tools", "echo", "authorizations",
// "refreshed", "unauthorized"}. Any failure exits 1 with the error on stderr.

import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const REDIRECT = "http://127.0.0.1:9/callback";
const [url, apiKey, stateFile] = process.argv.slice(2);

class FileProvider {
  constructor() {
    this.saved = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, "utf8")) : {};
    this.pending = undefined;
  }
  persist() {
    writeFileSync(stateFile, JSON.stringify(this.saved));
  }
  get redirectUrl() {
    return REDIRECT;
  }
  // The gateway requires `state` (the SDK sends one when the provider makes it).
  state() {
    return randomUUID();
  }
  get clientMetadata() {
    return {
      client_name: "mcpgw test (TypeScript SDK)",
      redirect_uris: [REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  clientInformation() {
    return this.saved.client;
  }
  saveClientInformation(info) {
    this.saved.client = info;
    this.persist();
  }
  tokens() {
    return this.saved.tokens;
  }
  saveTokens(tokens) {
    this.saved.tokens = tokens;
    this.persist();
  }
  redirectToAuthorization(authorizationUrl) {
    this.pending = authorizationUrl;
  }
  saveCodeVerifier(verifier) {
    this.saved.verifier = verifier;
    this.persist();
  }
  codeVerifier() {
    return this.saved.verifier;
  }
  // The SDK drops what the server refused (a spent grant's tokens) and starts over.
  invalidateCredentials(scope) {
    if (scope === "all" || scope === "client") delete this.saved.client;
    if (scope === "all" || scope === "tokens") delete this.saved.tokens;
    if (scope === "all" || scope === "verifier") delete this.saved.verifier;
    this.persist();
  }
}

function decodeHtml(text) {
  return text
    .replaceAll("&quot;", '"')
    .replaceAll("&#39;", "'")
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&amp;", "&");
}

/** The person: opens the consent page, approves with the API key; the code. */
async function approve(authorizationUrl) {
  const page = await fetch(authorizationUrl, { redirect: "manual" });
  const html = await page.text();
  if (page.status === 303) throw new Error(`authorization refused: ${page.headers.get("location")}`);
  if (page.status !== 200) throw new Error(`consent page: ${page.status} ${html.slice(0, 300)}`);
  const form = new URLSearchParams();
  for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    form.set(name, decodeHtml(value));
  }
  const action = html.match(/<form method="post" action="([^"]+)"/);
  if (!action || !form.has("csrf")) throw new Error("the consent page has no form");
  form.set("api_key", apiKey);
  form.set("decision", "approve");
  const answer = await fetch(new URL(action[1], authorizationUrl), {
    method: "POST",
    body: form,
    redirect: "manual",
  });
  const location = answer.headers.get("location");
  if (answer.status !== 303 || !location?.startsWith(REDIRECT)) {
    throw new Error(`consent answer: ${answer.status} ${location}`);
  }
  const params = new URL(location).searchParams;
  if (params.get("error")) throw new Error(`authorization error: ${params.get("error")}`);
  return params.get("code");
}

let unauthorized = 0;

/** Counts the 401 answers the SDK gets. */
async function countingFetch(input, init) {
  const response = await fetch(input, init);
  if (response.status === 401) unauthorized += 1;
  return response;
}

async function main() {
  const provider = new FileProvider();
  const client = new Client({ name: "mcpgw-oauth-test", version: "1.0.0" });
  let authorizations = 0;
  let transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: countingFetch });
  try {
    await client.connect(transport);
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
    if (!provider.pending) throw new Error("the SDK did not ask for an authorization");
    const code = await approve(provider.pending);
    authorizations += 1;
    await transport.finishAuth(code);
    transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: countingFetch });
    await client.connect(transport);
  }
  const tools = (await client.listTools()).tools.map((t) => t.name);
  const echo = await client.callTool({ name: "echo", arguments: { s: "hi" } });
  // The access token goes bad: the next call gets 401 and the SDK refreshes it.
  const before = provider.saved.tokens.refresh_token;
  provider.saved.tokens = { ...provider.saved.tokens, access_token: "spoiled.spoiled.spoiled" };
  const again = await client.callTool({ name: "echo", arguments: { s: "again" } });
  const refreshed = provider.saved.tokens.refresh_token !== before && !again.isError;
  // The script runs from the install's root (the test copies it there).
  const sdk = JSON.parse(
    readFileSync(new URL("./node_modules/@modelcontextprotocol/sdk/package.json", import.meta.url), "utf8"),
  ).version;
  await client.close();
  process.stdout.write(
    `${JSON.stringify({
      sdk,
      protocolVersion: transport.protocolVersion ?? null,
      tools,
      echo: { isError: Boolean(echo.isError) },
      authorizations,
      refreshed,
      unauthorized,
    })}\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`${e?.stack ?? e}\ncause: ${e?.cause?.stack ?? e?.cause}\n`);
  process.exit(1);
});

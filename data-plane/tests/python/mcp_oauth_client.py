"""Connects to an OAuth-enabled endpoint of the gateway with the official MCP Python SDK's
OAuth client (`mcp.client.auth.OAuthClientProvider`), playing the person at the consent page.

Usage: mcp_oauth_client.py URL API_KEY MODE STATE_FILE

The SDK does everything a real client does: it gets 401 from the data plane, discovers the
protected-resource metadata and the authorization server, registers dynamically, sends the
person to the authorization URL (here: `redirect_handler` fetches the consent page, fills in
API_KEY and approves, like a browser would), exchanges the code, and retries with the token.

Tokens and the client registration persist in STATE_FILE (JSON) between runs, as a desktop
client keeps them. Each run:
  1. lists the tools and calls `echo` (MODE "default" or "legacy", as in mcp_client.py);
  2. marks the access token expired and calls `echo` again, which makes the SDK refresh it
     (not `tools/list`: the SDK may answer that from its cache).
Prints ONE JSON line: {"sdk", "mode", "tools", "echo", "authorizations", "refreshed",
"unauthorized"} where `authorizations` counts consents given in this run, `refreshed` whether
the second access token differs from the first, and `unauthorized` how many 401s were seen.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from html import unescape
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import anyio
import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

OVERALL_SECONDS = 75.0
READ_SECONDS = 15.0
REDIRECT_URI = "http://127.0.0.1:9/callback"


class FileStorage(TokenStorage):
    """Tokens and client registration in a JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, Any]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def _save(self, key: str, value: Any) -> None:
        data = self._load()
        data[key] = value
        self.path.write_text(json.dumps(data))

    async def get_tokens(self) -> OAuthToken | None:
        raw = self._load().get("tokens")
        return OAuthToken.model_validate(raw) if raw else None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self._save("tokens", tokens.model_dump(mode="json", exclude_none=True))

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        raw = self._load().get("client")
        return OAuthClientInformationFull.model_validate(raw) if raw else None

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self._save("client", client_info.model_dump(mode="json", exclude_none=True))


class Person:
    """Approves on the consent page with the integration's API key, like a browser would."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.result: AuthorizationCodeResult | None = None
        self.authorizations = 0

    async def redirect(self, authorization_url: str) -> None:
        async with httpx2.AsyncClient(trust_env=False, timeout=READ_SECONDS) as http:
            page = await http.get(authorization_url)
            if page.status_code != 200:
                raise RuntimeError(f"consent page: {page.status_code} {page.text[:300]}")
            fields = {
                name: unescape(value)
                for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
            }
            action = re.search(r'<form method="post" action="([^"]+)"', page.text)
            if not action or "csrf" not in fields:
                raise RuntimeError("the consent page has no form")
            fields["api_key"] = self.api_key
            fields["decision"] = "approve"
            target = str(page.url.join(action.group(1)))
            answer = await http.post(target, data=fields, follow_redirects=False)
            if answer.status_code != 303:
                raise RuntimeError(f"consent answer: {answer.status_code} {answer.text[:300]}")
            location = answer.headers["location"]
            if not location.startswith(REDIRECT_URI):
                raise RuntimeError(f"redirected to {location}")
            query = parse_qs(urlparse(location).query)
            if "error" in query:
                raise RuntimeError(f"authorization error: {query}")
            self.result = AuthorizationCodeResult(
                code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
            )
            self.authorizations += 1

    async def callback(self) -> AuthorizationCodeResult:
        if self.result is None:
            raise RuntimeError("no authorization happened")
        result, self.result = self.result, None
        return result


async def run(url: str, api_key: str, mode: str, state_file: Path) -> dict[str, Any]:
    person = Person(api_key)
    storage = FileStorage(state_file)
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="mcpgw test (Python SDK)",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=person.redirect,
        callback_handler=person.callback,
    )
    unauthorized = 0

    async def count(response: httpx2.Response) -> None:
        nonlocal unauthorized
        if response.status_code == 401:
            unauthorized += 1

    options: dict[str, Any] = {"read_timeout_seconds": READ_SECONDS}
    if mode == "legacy":
        options["mode"] = "legacy"
    with anyio.fail_after(OVERALL_SECONDS):
        async with httpx2.AsyncClient(
            auth=provider,
            timeout=httpx2.Timeout(READ_SECONDS),
            trust_env=False,
            event_hooks={"response": [count]},
        ) as http:
            async with Client(streamable_http_client(url, http_client=http), **options) as client:
                tools = [t.name for t in (await client.list_tools()).tools]
                echo = await client.call_tool("echo", {"s": "hi"})
                first = (await storage.get_tokens()).access_token
                # The access token's lifetime passes: the next request refreshes it.
                provider.context.token_expiry_time = 1.0
                await client.call_tool("echo", {"s": "again"})
                second = (await storage.get_tokens()).access_token
    return {
        "sdk": version("mcp"),
        "mode": mode,
        "tools": tools,
        "echo": {"isError": bool(echo.is_error), "structuredContent": echo.structured_content},
        "authorizations": person.authorizations,
        "refreshed": first != second,
        "unauthorized": unauthorized,
    }


def main() -> int:
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    url, api_key, mode, state_file = sys.argv[1:]
    try:
        report = anyio.run(run, url, api_key, mode, Path(state_file))
    except BaseException:  # noqa: BLE001 - report whatever broke, then fail
        traceback.print_exc()
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

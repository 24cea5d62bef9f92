"""Drives one MCP endpoint of the gateway with the official MCP Python SDK (`mcp` 2.x).

Usage: mcp_client.py URL API_KEY MODE TOOL ARGUMENTS_JSON

MODE selects how `mcp.Client` negotiates the protocol:
  default  `Client(...)` with no `mode=`: the SDK's default, "auto", probes `server/discover`
           at its newest stateless revision (2026-07-28) and adopts it, or falls back to the
           `initialize` handshake on servers that do not answer the probe.
  legacy   `Client(..., mode="legacy")`: always the `initialize` handshake, proposing the
           SDK's newest handshake-era revision.

The API key goes out as `Authorization: Bearer <key>` on every request: the SDK's
`streamable_http_client` sends whatever default headers its `http_client` carries.

Connects, lists every tool (following `nextCursor`), calls TOOL with ARGUMENTS_JSON, and
prints ONE JSON line on stdout:
  {"sdk", "mode", "protocolVersion", "era", "serverInfo", "tools", "result"}
where `era` is "discover" or "initialize" (whichever result the session adopted) and
`result` is {"content", "structuredContent", "isError"}. Any failure exits 1 with the
error on stderr.
"""

from __future__ import annotations

import json
import sys
import traceback
from importlib.metadata import version
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

# The whole exchange must finish well within the Rust test's own limit.
OVERALL_SECONDS = 30.0
READ_SECONDS = 15.0


async def run(url: str, key: str, mode: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"read_timeout_seconds": READ_SECONDS}
    if mode == "legacy":
        options["mode"] = "legacy"
    elif mode != "default":
        raise ValueError(f"mode must be 'default' or 'legacy', got {mode!r}")

    with anyio.fail_after(OVERALL_SECONDS):
        async with httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx2.Timeout(READ_SECONDS),
            # Loopback only: no proxy or other settings from the environment.
            trust_env=False,
        ) as http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport, **options) as client:
                session = client.session
                if session.discover_result is not None:
                    era = "discover"
                elif session.initialize_result is not None:
                    era = "initialize"
                else:
                    era = None
                info = client.server_info

                names: list[str] = []
                cursor: str | None = None
                for _ in range(100):
                    page = await client.list_tools(cursor=cursor)
                    names.extend(t.name for t in page.tools)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
                else:
                    raise RuntimeError("tools/list never ended")

                result = await client.call_tool(tool, arguments)
                return {
                    "sdk": version("mcp"),
                    "mode": mode,
                    "protocolVersion": client.protocol_version,
                    "era": era,
                    "serverInfo": None if info is None else info.model_dump(by_alias=True, mode="json", exclude_none=True),
                    "tools": names,
                    "result": {
                        "content": [c.model_dump(by_alias=True, mode="json", exclude_none=True) for c in result.content],
                        "structuredContent": result.structured_content,
                        "isError": result.is_error,
                    },
                }


def main(argv: list[str]) -> int:
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    _, url, key, mode, tool, raw = argv
    try:
        arguments = json.loads(raw)
        if not isinstance(arguments, dict):
            raise ValueError("ARGUMENTS_JSON must be a JSON object")
        out = anyio.run(run, url, key, mode, tool, arguments)
    except BaseException as e:  # noqa: BLE001 - report anything (exception groups included), then fail
        traceback.print_exception(e, file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(out, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

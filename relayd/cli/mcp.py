"""`relayd mcp`: a Model Context Protocol server on stdio whose tools call a relay's HTTP API.

JSON-RPC 2.0, one message per line (the MCP stdio transport): `initialize`, `ping`,
`tools/list`, `tools/call`, and `notifications/cancelled` for a long `wait_for_reply`.
Nothing but protocol goes to stdout; logs go to stderr. The relay is `RELAY_URL` with the
key `RELAY_KEY`, so the agent has exactly the rights of that key (scopes, allowlist, rate).
Hand-written rather than the `mcp` SDK: the protocol surface is small and the SDK would
bring a web framework and a dozen packages onto an appliance that needs none of them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from typing import Any

from relayd import __version__
from relayd.cli.mcp_care import CARE_TOOLS
from relayd.cli.mcp_flows import FLOW_TOOLS
from relayd.cli.mcp_tools import TOOLS, RelayApi, Tool, ToolError

_LOGGER = logging.getLogger(__name__)

PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")  # newest first
MAX_LINE = 4 * 1024 * 1024

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602

INSTRUCTIONS = """This server sends and reads SMS through a self-hosted relayd gateway (GSM modems
and Android phones). Numbers are E.164 (+15551234567). Confirm the recipient and the text with
the user before send_sms. A sent message goes queued -> sending -> sent -> delivered (or failed);
check it with get_message. To hear back, call wait_for_reply after send_sms."""


# --- the JSON-RPC server -------------------------------------------------------------------


class McpServer:
    """Reads requests from a stream, answers on another; each request runs as its own task."""

    def __init__(
        self, api: RelayApi, tools: tuple[Tool, ...] = TOOLS + CARE_TOOLS + FLOW_TOOLS
    ) -> None:
        self.api = api
        self.tools = {tool.name: tool for tool in tools}
        self._write_lock = asyncio.Lock()
        self._running: dict[Any, asyncio.Task[None]] = {}
        self._writer: asyncio.StreamWriter | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve until the client closes stdin."""
        self._writer = writer
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # a line over MAX_LINE
                    await self._send(_error(None, INVALID_REQUEST, "message too large"))
                    continue
                if not line:
                    break
                if not line.strip():
                    continue
                task = asyncio.create_task(self._handle_line(line))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle_line(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            await self._send(_error(None, PARSE_ERROR, f"parse error: {exc}"))
            return
        if isinstance(message, list):  # a batch (protocol 2025-03-26)
            answers = [a for a in await asyncio.gather(*map(self._answer, message)) if a]
            if answers:
                await self._send(answers)
            return
        answer = await self._answer(message)
        if answer is not None:
            await self._send(answer)

    async def _answer(self, message: Any) -> dict[str, Any] | None:
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return _error(None, INVALID_REQUEST, "not a JSON-RPC 2.0 message")
        method = message.get("method")
        if "id" not in message:  # a notification (or a response to us): never answered
            if method == "notifications/cancelled":
                params = message.get("params") or {}
                task = self._running.get(params.get("requestId"))
                if task is not None:
                    task.cancel()
            return None
        request_id = message["id"]
        params = message.get("params") or {}
        if not isinstance(method, str) or not isinstance(params, dict):
            return _error(request_id, INVALID_REQUEST, "method and params are required")
        task = asyncio.current_task()
        if task is not None:
            self._running[request_id] = task
        try:
            return await self._dispatch(request_id, method, params)
        except asyncio.CancelledError:
            return None  # cancelled by the client: no answer, as the protocol says
        finally:
            self._running.pop(request_id, None)

    async def _dispatch(
        self, request_id: Any, method: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        if method == "initialize":
            wanted = params.get("protocolVersion")
            version = wanted if wanted in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0]
            return _result(
                request_id,
                {
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": False}},
                    "serverInfo": {
                        "name": "relayd",
                        "title": "relayd SMS gateway",
                        "version": __version__,
                    },
                    "instructions": INSTRUCTIONS,
                },
            )
        if method == "ping":
            return _result(request_id, {})
        if method == "tools/list":
            return _result(request_id, {"tools": [t.describe() for t in self.tools.values()]})
        if method == "tools/call":
            return await self._call_tool(request_id, params)
        return _error(request_id, METHOD_NOT_FOUND, f"method not found: {method}")

    async def _call_tool(self, request_id: Any, params: dict[str, Any]) -> dict[str, Any]:
        tool = self.tools.get(str(params.get("name")))
        if tool is None:
            known = ", ".join(self.tools)
            return _error(request_id, INVALID_PARAMS, f"unknown tool {params.get('name')!r}; "
                          f"tools: {known}")  # fmt: skip
        arguments = params.get("arguments") or {}
        if not isinstance(arguments, dict):
            return _error(request_id, INVALID_PARAMS, "arguments must be an object")
        try:
            data = await tool.run(self.api, arguments)
        except ToolError as exc:
            return _result(
                request_id, {"content": [{"type": "text", "text": str(exc)}], "isError": True}
            )
        except Exception as exc:
            _LOGGER.exception("Tool %s failed", tool.name)
            failed = {"type": "text", "text": f"internal error in {tool.name}: {exc}"}
            return _result(request_id, {"content": [failed], "isError": True})
        text = json.dumps(data, indent=2, ensure_ascii=False)
        return _result(
            request_id,
            {"content": [{"type": "text", "text": text}], "structuredContent": data},
        )

    async def _send(self, payload: dict[str, Any] | list[dict[str, Any]]) -> None:
        assert self._writer is not None
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        async with self._write_lock:
            self._writer.write(data)
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()


def _result(request_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


# --- entry point -------------------------------------------------------------------------


def mcp_command(args: argparse.Namespace) -> int:
    """Serve MCP on stdin/stdout until stdin closes."""
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="relayd mcp: %(levelname)s %(message)s"
    )
    url = os.environ.get("RELAY_URL", "http://127.0.0.1:8080")
    key = os.environ.get("RELAY_KEY", "")
    if not key:
        print("relayd mcp: set RELAY_KEY (and RELAY_URL) in the server's environment",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        asyncio.run(_serve_stdio(url, key))
    except KeyboardInterrupt:
        return 130
    return 0


async def _serve_stdio(url: str, key: str) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    async with RelayApi(url, key) as api:
        await McpServer(api).serve(reader, writer)

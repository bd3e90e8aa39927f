"""`relayd mcp`: the stdio MCP server, spawned for real, against a relay on a real HTTP port.

Driven twice: by the official `mcp` client library (an independent implementation of the
protocol) and by raw JSON-RPC lines, for the parts a client library hides (parse errors,
unknown methods, cancellation, exit on EOF).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from relayd.bridges.base import InboundSms
from tests.conftest import RelayClient, RelayFactory
from tests.support.daemon import clean_env
from tests.test_dispatch import ScriptedSim
from tests.test_phones import base_url

PEER = "+15551230001"
TOOLS = ["send_sms", "get_message", "list_messages", "list_sims", "wait_for_reply",
         "check_balance", "send_template", "send_to_group", "list_templates", "list_contacts",
         "create_schedule"]


def server(relay: RelayClient, key: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "relayd", "mcp"],
        env={"RELAY_URL": base_url(relay), "RELAY_KEY": key, "PYTHONUNBUFFERED": "1"},
    )


def payload(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    data: dict[str, Any] = json.loads(result.content[0].text)
    assert result.structured_content == data
    return data


async def test_mcp_client_lists_tools_sends_reads_back_and_waits_for_the_reply(
    make_relay: RelayFactory,
) -> None:
    sim = ScriptedSim("m1", number="+15550001111")
    relay = await make_relay([sim])
    key = await relay.new_key(["send", "read"], allowlist=["+1555123*"])
    async with stdio_client(server(relay, key)) as (read, write), ClientSession(read, write) as mcp:
        init = await mcp.initialize()
        assert init.server_info.name == "relayd" and init.capabilities.tools is not None
        listed = await mcp.list_tools()
        assert [t.name for t in listed.tools] == TOOLS
        send_tool = next(t for t in listed.tools if t.name == "send_sms")
        assert send_tool.input_schema["required"] == ["to", "text"]
        assert "idempotency_key" in send_tool.description

        sent = payload(await mcp.call_tool("send_sms", {"to": PEER, "text": "Are you coming?"}))
        assert sent["to"] == PEER and sent["status"] == "queued"
        assert (sent["parts"], sent["encoding"]) == (1, "gsm7")
        again = payload(await mcp.call_tool(
            "send_sms", {"to": PEER, "text": "Are you coming?", "idempotency_key": sent["idempotency_key"]}
        ))
        assert again["id"] == sent["id"]  # the retry returned the original, nothing sent twice

        message = payload(await mcp.call_tool("get_message", {"id": sent["id"]}))
        assert message["text"] == "Are you coming?" and message["history"][0]["status"] == "queued"
        sims = payload(await mcp.call_tool("list_sims", {}))
        assert [s["number"] for s in sims["sims"]] == ["+15550001111"]

        refused = await mcp.call_tool("send_sms", {"to": "+442071838750", "text": "x"})
        assert refused.is_error
        assert "403 recipient_not_allowed" in refused.content[0].text

        async def reply_later() -> None:
            await asyncio.sleep(0.5)
            assert sim.events is not None
            await sim.events.on_inbound(sim.info.id, InboundSms(PEER, "Yes, at 7", None, external_id="r1"))

        replier = asyncio.create_task(reply_later())
        waited = payload(await mcp.call_tool("wait_for_reply", {"peer": "+1 555 123 0001", "timeout_seconds": 10}))
        await replier
        assert waited["replied"] is True and waited["message"]["text"] == "Yes, at 7"
        inbox = payload(await mcp.call_tool("list_messages", {"direction": "in"}))
        assert [m["text"] for m in inbox["messages"]] == ["Yes, at 7"]
        reply_id = waited["message"]["id"]
        same = payload(await mcp.call_tool("wait_for_reply", {"peer": PEER, "timeout_seconds": 1}))
        assert same["message"]["id"] == reply_id  # still the newest reply to our last message
        later = payload(await mcp.call_tool(
            "wait_for_reply", {"peer": PEER, "timeout_seconds": 1, "since_id": reply_id}
        ))
        assert later["replied"] is False and later["since_id"] == reply_id

        bad = await mcp.call_tool("get_message", {"id": "seven"})
        assert bad.is_error and "positive integer" in bad.content[0].text


class RawServer:
    """`relayd mcp` as a subprocess spoken to in JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def send(self, message: dict[str, Any] | str) -> None:
        assert self.process.stdin is not None
        line = message if isinstance(message, str) else json.dumps(message)
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        async with asyncio.timeout(10):
            line = await self.process.stdout.readline()
        assert line, "the server closed stdout"
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def request(self, request_id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        return await self.receive()


async def test_raw_json_rpc_errors_cancellation_and_exit_on_eof(relay: RelayClient) -> None:
    key = await relay.new_key(["send", "read"])
    env = clean_env(RELAY_URL=base_url(relay), RELAY_KEY=key)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relayd", "mcp", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    mcp = RawServer(process)
    try:
        init = await mcp.request(1, "initialize", {"protocolVersion": "2024-11-05", "capabilities": {},
                                                   "clientInfo": {"name": "raw", "version": "0"}})
        assert init["id"] == 1 and init["result"]["protocolVersion"] == "2024-11-05"
        await mcp.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert (await mcp.request(2, "ping"))["result"] == {}
        newer = await mcp.request(3, "initialize", {"protocolVersion": "2099-01-01"})
        assert newer["result"]["protocolVersion"] == "2025-11-25"
        assert (await mcp.request(4, "resources/list"))["error"]["code"] == -32601
        unknown = await mcp.request(5, "tools/call", {"name": "rm_rf", "arguments": {}})
        assert unknown["error"]["code"] == -32602 and "send_sms" in unknown["error"]["message"]
        await mcp.send("{not json")
        parse_error = await mcp.receive()
        assert parse_error["id"] is None and parse_error["error"]["code"] == -32700

        # a long wait_for_reply is cancelled: it never answers, and the server goes on
        await mcp.send({"jsonrpc": "2.0", "id": 6, "method": "tools/call",
                        "params": {"name": "wait_for_reply", "arguments": {"peer": PEER, "timeout_seconds": 60}}})
        await asyncio.sleep(0.3)
        await mcp.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 6}})
        listed = await mcp.request(7, "tools/list")
        assert listed["id"] == 7 and len(listed["result"]["tools"]) == len(TOOLS)
        empty = await mcp.request(8, "tools/call", {"name": "send_sms", "arguments": {"to": PEER}})
        assert empty["result"]["isError"] is True and "text" in empty["result"]["content"][0]["text"]

        assert process.stdin is not None
        process.stdin.close()
        async with asyncio.timeout(10):
            assert await process.wait() == 0
        assert process.stdout is not None
        assert await process.stdout.read() == b""  # nothing but protocol, and no answer to id 6
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_mcp_without_a_key_exits_2_with_a_message_on_stderr() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relayd", "mcp", env=clean_env(),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 2 and out == b"" and b"RELAY_KEY" in err

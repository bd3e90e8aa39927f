"""MCP tools of SIM care: the balance of the relay's SIMs, checked over USSD now."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from relayd.cli.mcp_tools import RelayApi, Tool, ToolError


async def check_balance(api: RelayApi, args: dict[str, Any]) -> dict[str, Any]:
    """POST /api/v1/sims/{id}/balance for one SIM, or for every SIM with a balance code."""
    sim = args.get("sim")
    if sim is not None and (not isinstance(sim, str) or not sim.strip()):
        raise ToolError("sim: give a SIM id, name or number from list_sims, or leave it out")
    if sim:
        wanted = [sim.strip()]
    else:
        listed = await api.call("GET", "/api/v1/sims")
        wanted = [s["id"] for s in listed.get("sims", []) if s.get("care", {}).get("balance_ussd")]
        if not wanted:
            raise ToolError("no SIM has a balance code (balance_ussd); name a SIM to check")
    checks = []
    for name in wanted:
        result = await api.call("POST", f"/api/v1/sims/{quote(name, safe='')}/balance", json={})
        checks.append({"sim": name} | dict(result))
    return {"checks": checks}


CARE_TOOLS = (
    Tool(
        "check_balance",
        "Check a SIM's balance",
        "Ask the mobile network for a prepaid SIM's balance now (a USSD code such as *100#, "
        "configured per SIM as balance_ussd). Without `sim` it checks every SIM that has a "
        "balance code. Each check answers the network's text (`answer`) and the `amount` and "
        "`currency` read from it (null when the answer has none; see `error`). The last known "
        "balance of every SIM is also in list_sims (`balance`, with `checked_at`).",
        {
            "type": "object",
            "properties": {
                "sim": {"type": "string", "description": "SIM id, name or number (list_sims)"},
            },
            "additionalProperties": False,
        },
        check_balance,
        read_only=False,
    ),
)

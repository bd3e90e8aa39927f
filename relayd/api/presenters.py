"""Presenters: domain objects as the JSON the API answers (the domain shapes no JSON itself)."""

from __future__ import annotations

from typing import Any

from relayd.api.models import SendResult
from relayd.bridges.base import SimInfo
from relayd.sending import Accepted
from relayd.store.rows import iso


def sim_json(info: SimInfo, queue_depth: int) -> dict[str, Any]:
    """A SIM as GET /api/v1/sims shows it."""
    return {
        "id": info.id,
        "kind": info.kind,
        "name": info.name,
        "org": info.org,
        "number": info.number,
        "operator": info.operator,
        "signal": info.signal,
        "signal_dbm": info.signal_dbm,
        "registered": info.registered,
        "roaming": info.roaming,
        "online": info.online,
        "online_since": iso(info.online_since.timestamp()) if info.online_since else None,
        "slot": info.slot,
        "state": info.state,
        "state_detail": info.state_detail,
        "queue_depth": queue_depth,
    }


def send_results(accepted: Accepted) -> list[SendResult]:
    """The accepted messages as the send routes answer them."""
    return [
        SendResult(
            id=c.message.id,
            to=c.message.peer,
            status=c.message.status,
            parts=c.message.parts,
            encoding=c.message.encoding,
        )
        for c in accepted.results
    ]

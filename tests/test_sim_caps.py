"""Issue 14 acceptance 1: per-SIM daily caps on simulated modems through real ptys.

The relay, its SQLite file, the HTTP API and the modem simulators are all real; a cap is a
`[[modem]] daily_cap` (or an API PATCH), and a restart is a new relay on the same file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession
from mcp.client.stdio import stdio_client

from modem.simulator import ModemSimulator
from relayd.bridges.base import SendFailed
from relayd.bridges.modem import ModemBackend
from relayd.config import Config, ModemConfig
from relayd.dispatch.caps import next_local_midnight
from tests.conftest import RelayClient, RelayFactory
from tests.test_compat_mcp import payload, server
from tests.test_dispatch import ScriptedSim
from tests.test_modem_e2e import fast_modem, wait_for, wait_message

__all__ = ["fast_modem"]  # autouse: driver timeouts scaled down
PEER = "+15557654321"


class Line:
    """Simulators on ptys and the [[modem]] sections that point at them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sims: list[ModemSimulator] = []

    async def start(self, count: int) -> None:
        for index in range(count):
            sim = ModemSimulator(self.tmp / f"modem{index}", profile="sim800",
                                 own_number=f"+1555000100{index}")
            await sim.start()
            self.sims.append(sim)

    def sections(self, **per_modem: dict[str, Any]) -> list[ModemConfig]:
        return [
            ModemConfig(name=f"m{i}", port=str(sim.link), health_interval=0.2,
                        **per_modem.get(f"m{i}", {}))
            for i, sim in enumerate(self.sims)
        ]


@pytest.fixture
async def line(tmp_path: Path) -> AsyncIterator[Line]:
    line = Line(tmp_path)
    yield line
    for sim in line.sims:
        await sim.stop()


async def start_relay(make_relay: RelayFactory, config: Config) -> RelayClient:
    """A relay whose SIMs are the config's [[modem]] sections, each a ModemBackend."""
    backends = [ModemBackend.from_config(section) for section in config.modem]
    relay = await make_relay(backends, cfg=config)
    await wait_for(lambda: all(b.info.online for b in backends))
    return relay


async def send(relay: RelayClient, text: str, **extra: Any) -> int:
    status, body = await relay.call("POST", "/api/v1/messages", json={"to": PEER, "text": text, **extra})
    assert status == 202, body
    return int(body["id"])


async def wait_detail(relay: RelayClient, message_id: int) -> dict[str, Any]:
    """The message once the relay has said why it waits."""
    async with asyncio.timeout(10):
        while True:
            _, message = await relay.call("GET", f"/api/v1/messages/{message_id}")
            if message["status_detail"]:
                return message
            await asyncio.sleep(0.02)


async def sims_by_id(relay: RelayClient) -> dict[str, dict[str, Any]]:
    _, body = await relay.call("GET", "/api/v1/sims")
    return {s["id"]: s for s in body["sims"]}


async def test_sixth_send_of_the_day_goes_to_the_other_sim_when_the_first_has_daily_cap_5(
    make_relay: RelayFactory, config: Config, line: Line
) -> None:
    await line.start(2)
    config.routing.policy = "priority"  # m0 first, as long as it can take sends
    config.modem = line.sections(m0={"daily_cap": 5, "priority": 10})
    relay = await start_relay(make_relay, config)
    sims_of: list[str] = []
    for n in range(7):
        message = await wait_message(relay, await send(relay, f"n{n}"), "delivered", "failed")
        assert message["status"] == "delivered", message
        sims_of.append(message["sim"])
    assert sims_of == ["modem:m0"] * 5 + ["modem:m1"] * 2
    assert len(line.sims[0].sent_messages()) == 5 and len(line.sims[1].sent_messages()) == 2
    sims = await sims_by_id(relay)
    assert sims["modem:m0"]["caps"]["daily"] == {"limit": 5, "used": 5}
    assert sims["modem:m0"]["caps"]["monthly"] == {"limit": None, "used": 5}
    assert sims["modem:m1"]["caps"]["daily"] == {"limit": None, "used": 2}


async def test_sixth_send_waits_naming_the_cap_and_the_count_survives_a_restart(
    make_relay: RelayFactory, config: Config, line: Line
) -> None:
    await line.start(1)
    config.modem = line.sections(m0={"daily_cap": 5})
    relay = await start_relay(make_relay, config)
    for n in range(5):
        assert (await wait_message(relay, await send(relay, f"n{n}"), "delivered"))["sim"] == "modem:m0"
    sixth = await send(relay, "sixth")
    await wait_detail(relay, sixth)
    _, waiting = await relay.call("GET", f"/api/v1/messages/{sixth}")
    assert waiting["status"] == "queued"
    assert "modem:m0 daily_cap 5 reached" in waiting["status_detail"], waiting
    assert len(line.sims[0].sent_messages()) == 5

    await relay.http.close()  # the relay stops; the SQLite file stays
    restarted = await start_relay(make_relay, config)
    sims = await sims_by_id(restarted)
    assert sims["modem:m0"]["caps"]["daily"] == {"limit": 5, "used": 5}
    _, still = await restarted.call("GET", f"/api/v1/messages/{sixth}")
    assert still["status"] == "queued" and "daily_cap 5" in still["status_detail"]
    assert len(line.sims[0].sent_messages()) == 5  # nothing went out on the restart

    # An admin raises the cap through the API: it wins over the config, and is stored.
    status, sim = await restarted.call("PATCH", "/api/v1/sims/modem:m0", json={"daily_cap": 6})
    assert status == 200 and sim["caps"]["daily"]["limit"] == 6, sim
    sent = await wait_message(restarted, sixth, "delivered")
    assert sent["status_detail"] is None and sent["sim"] == "modem:m0"
    assert (await sims_by_id(restarted))["modem:m0"]["caps"]["daily"] == {"limit": 6, "used": 6}


async def test_a_message_held_by_a_full_cap_goes_out_when_the_local_day_turns(
    make_relay: RelayFactory, config: Config, line: Line
) -> None:
    await line.start(1)
    config.modem = line.sections(m0={"daily_cap": 1})
    relay = await start_relay(make_relay, config)
    caps = relay.relay.outbox.caps
    # The relay's clock reads 1.5 s before local midnight (the outbox's timers are real).
    midnight = next_local_midnight(time.time())
    offset = midnight - 1.5 - time.time()
    caps.clock = lambda: time.time() + offset
    first = await wait_message(relay, await send(relay, "before midnight"), "delivered")
    held = await send(relay, "after midnight")
    await wait_detail(relay, held)
    assert (await relay.call("GET", f"/api/v1/messages/{held}"))[1]["status"] == "queued"
    turned = await wait_message(relay, held, "delivered", timeout=10)
    on_clock = [dt.datetime.fromisoformat(m["sent_at"]).timestamp() + offset for m in (first, turned)]
    assert on_clock[0] < midnight <= on_clock[1]  # one each side of the day turn
    assert turned["sim"] == "modem:m0"
    assert (await sims_by_id(relay))["modem:m0"]["caps"]["daily"] == {"limit": 1, "used": 1}


async def test_an_explicitly_requested_sim_at_its_cap_makes_the_message_wait_not_spill(
    make_relay: RelayFactory, config: Config, line: Line
) -> None:
    await line.start(2)
    config.modem = line.sections(m0={"daily_cap": 1})
    relay = await start_relay(make_relay, config)
    await wait_message(relay, await send(relay, "one", sim="m0"), "delivered")
    held = await send(relay, "two", sim="m0")
    await wait_detail(relay, held)
    _, message = await relay.call("GET", f"/api/v1/messages/{held}")
    assert message["status"] == "queued" and "modem:m0 daily_cap 1" in message["status_detail"]
    assert line.sims[1].sent_messages() == []


async def test_patch_sim_caps_is_admin_only_checks_its_body_and_null_restores_the_config(
    make_relay: RelayFactory, config: Config, line: Line
) -> None:
    await line.start(1)
    config.modem = line.sections(m0={"daily_cap": 3, "monthly_cap": 40})
    relay = await start_relay(make_relay, config)
    reader = await relay.new_key(["read", "send"])
    status, body = await relay.call("PATCH", "/api/v1/sims/m0", key=reader, json={"daily_cap": 9})
    assert status == 403, body
    status, body = await relay.call("PATCH", "/api/v1/sims/m0", json={"daily_cap": -1})
    assert status == 422 and "daily_cap" in str(body), body
    status, body = await relay.call("PATCH", "/api/v1/sims/m0", json={"weekly_cap": 1})
    assert status == 422, body
    status, body = await relay.call("PATCH", "/api/v1/sims/nope", json={"daily_cap": 1})
    assert status == 404, body
    status, body = await relay.call("PATCH", "/api/v1/sims/m0", json={"daily_cap": 0})
    assert status == 200 and body["caps"]["daily"]["limit"] is None  # 0: no cap
    assert body["caps"]["monthly"]["limit"] == 40  # left out: unchanged
    status, body = await relay.call("PATCH", "/api/v1/sims/m0", json={"daily_cap": None})
    assert status == 200 and body["caps"]["daily"]["limit"] == 3  # the config's again


async def test_mcp_list_sims_shows_each_sims_caps_and_health(
    make_relay: RelayFactory, config: Config
) -> None:
    config.routing.quarantine_after = 1
    config.routing.quarantine_backoff = 600
    sim = ScriptedSim("m1", number="+15550001111")
    sim.script = [SendFailed("cms_500", "network busy", transient=True, not_sent=True)]
    relay = await make_relay([sim])
    assert (await relay.call("PATCH", "/api/v1/sims/m1", json={"monthly_cap": 40}))[0] == 200
    await send(relay, "fails once")
    async with asyncio.timeout(10):
        while (await sims_by_id(relay))["modem:m1"]["health"]["state"] != "quarantined":
            await asyncio.sleep(0.02)
    key = await relay.new_key(["read"])
    async with stdio_client(server(relay, key)) as (read, write), ClientSession(read, write) as mcp:
        await mcp.initialize()
        [listed] = payload(await mcp.call_tool("list_sims", {}))["sims"]
    assert listed["caps"]["monthly"] == {"limit": 40, "used": 0}  # not sent: not counted
    assert listed["caps"]["daily"] == {"limit": None, "used": 0}
    assert listed["health"]["state"] == "quarantined" and listed["health"]["failures"] == 1
    assert listed["health"]["until"] is not None


async def test_patch_sim_by_slot_index_and_a_non_ascii_digit_is_404_not_500(
    make_relay: RelayFactory,
) -> None:
    relay = await make_relay([ScriptedSim("p", slot=1)])
    status, body = await relay.call("PATCH", "/api/v1/sims/1", json={"daily_cap": 3})
    assert status == 200 and body["id"] == "modem:p" and body["caps"]["daily"]["limit"] == 3
    status, body = await relay.call("PATCH", "/api/v1/sims/%C2%B9", json={"daily_cap": 3})  # '¹'
    assert status == 404 and body["error"]["code"] == "not_found", body


def test_counters_turn_at_local_midnight_and_the_month_on_the_first_december_to_january() -> None:
    from relayd.dispatch.caps import next_month_start, periods_at

    evening = dt.datetime(2026, 12, 31, 23, 59, 30).timestamp()  # local time of the relay
    assert periods_at(evening) == ("d:2026-12-31", "m:2026-12")
    assert next_local_midnight(evening) == next_month_start(evening)
    assert periods_at(next_month_start(evening)) == ("d:2027-01-01", "m:2027-01")
    mid_month = dt.datetime(2026, 6, 15, 12, 0).timestamp()
    assert dt.datetime.fromtimestamp(next_month_start(mid_month)) == dt.datetime(2026, 7, 1)

"""The declared SIM contract (issue 11): rate_per_minute and priority reach every backend.

The rate test runs `relayd run --demo` as a user would, with the demo modem (the simulator
on a real pty) configured from the file, and reads the simulator's own log of what went on
air. The priority tests use real backends: a ModemBackend on a simulator pty and a phone
over the seed-004 WebSocket (`ScriptedPhone`, what `relayd phone-sim` runs).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from relayd.bridges.modem import backends_from_config
from relayd.config import Config, load_config
from relayd.phone_sim import ScriptedPhone
from relayd.relay import Relay
from relayd.sending import SendOrder
from tests import test_modem_e2e
from tests.support.daemon import clean_env, free_port, http_get, relayd_command, write_config
from tests.test_dispatch import ScriptedSim
from tests.test_modem_e2e import ModemRelay, wait_for, wait_message
from tests.test_phones import SECRET, base_url, make_org, send

PEER = "+15551230001"
# The simulator logs a part when its PDU arrives, a few ms after the relay handed it to the
# driver (AT+CMGS, prompt, PDU on the pty); that path may jitter on a loaded machine.
PTY_JITTER = 0.2

fast_modem = test_modem_e2e.fast_modem  # the modem e2e fixtures, shared
modem_relay = test_modem_e2e.modem_relay


def post_json(url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        answer: dict[str, Any] = json.loads(resp.read())
        return answer


def wait_until(predicate: Any, what: str, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


@pytest.mark.timeout(120)
def test_rate_per_minute_30_on_the_demo_modem_spaces_ten_sends_at_least_2_s_apart(
    tmp_path: Path,
) -> None:
    port, control = free_port(), free_port()
    config = write_config(
        tmp_path, port,
        f"[demo]\nrate_per_minute = 30\nsend_delay = 0.05\nreport_delay = 0.0\n"
        f"control_port = {control}\n",
    )
    log_path = tmp_path / "relayd.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            relayd_command("run", "--config", str(config), "--demo"),
            cwd=tmp_path, env=clean_env(), stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def health() -> bool:
        try:
            status, body = http_get(f"{url}/health", timeout=1)
        except OSError:
            return False
        return status == 200 and body["sims_online"] == 1

    try:
        wait_until(health, "the demo modem never came online", log_path)
        key = (tmp_path / "state" / "admin.key").read_text().strip()
        ids = [
            post_json(f"{url}/api/v1/messages", key, {"to": PEER, "text": f"paced {i}"})["id"]
            for i in range(10)
        ]
        headers = {"Authorization": f"Bearer {key}"}

        def all_sent() -> bool:
            return all(
                http_get(f"{url}/api/v1/messages/{i}", headers)[1]["status"] in ("sent", "delivered")
                for i in ids
            )

        wait_until(all_sent, "the ten sends did not all go out", log_path, timeout=90)
        _, on_air = http_get(f"http://127.0.0.1:{control}/sent")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    parts = on_air["sent"]
    assert sorted(p["text"] for p in parts) == sorted(f"paced {i}" for i in range(10))
    times = [dt.datetime.fromisoformat(p["at"]).timestamp() for p in parts]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 2.0 - PTY_JITTER, gaps
    assert times[-1] - times[0] >= 9 * 2.0 - PTY_JITTER, gaps


def test_modem_section_rate_and_priority_reach_the_modem_backend(tmp_path: Path) -> None:
    path = tmp_path / "relayd.toml"
    path.write_text(
        f'[storage]\npath = "{tmp_path}/relayd.db"\n'
        '[[modem]]\nname = "a"\nport = "/dev/ttyUSB0"\nrate_per_minute = 6\npriority = 3\n'
        '[[modem]]\nname = "b"\nport = "/dev/ttyUSB1"\n'
    )
    a, b = backends_from_config(load_config(path, env={}))
    assert (a.rate_per_minute, a.priority) == (6, 3)
    assert (b.rate_per_minute, b.priority) == (0, 0)
    assert a.max_in_flight == 1 and a.redelivers_by_id is False


@pytest.mark.parametrize(("phone_priority", "expected"), [(5, "phone"), (-5, "modem")])
async def test_phones_priority_competes_with_modem_priority_under_the_priority_policy(
    modem_relay: ModemRelay, config: Config, phone_priority: int, expected: str
) -> None:
    config.routing.policy = "priority"
    config.phones.priority = phone_priority
    relay, _sims = await modem_relay("sim800", send_delay=0.0)
    await make_org(relay, "default")
    phone = ScriptedPhone(base_url(relay), "default", SECRET)
    await phone.start()
    try:
        await wait_for(lambda: sum(s.info.online for s in relay.relay.sims.all()) == 2)
        messages = []
        for i in range(3):  # one at a time: with both SIMs free, the higher priority wins
            message_id = await send(relay, text=f"p{i}")
            messages.append(await wait_message(relay, message_id, "sent", "delivered"))
    finally:
        await phone.stop()
    kinds = {m["sim"].split(":")[0] for m in messages}
    assert kinds == {expected}, messages


async def crash_with_a_send_in_flight(config: Config) -> int:
    """A relay whose SIM holds a send when the process dies (the store keeps `sending`)."""
    sim = ScriptedSim("a")
    sim.gate = asyncio.Event()
    relay = Relay(config)
    await relay.start([sim])
    key, _ = await relay.store.keys.create_key("default", "t", ["send"])
    accepted = await relay.sending.submit(key, SendOrder(to=[PEER], text="torn"))
    message_id: int = accepted.results[0].message.id
    await wait_for(lambda: relay.outbox.lane(sim).load == 1)
    await relay.outbox.drain(0)
    await relay.sims.stop()
    await relay.webhooks.stop()
    if relay.claims is not None:  # fleet mode (PostgreSQL): the dead process claims and
        await relay.claims.stop()  # beats no more, and never says it leaves
    if relay.fleet is not None:
        await relay.fleet.halt()
    await relay.store.close()
    return message_id


@pytest.mark.parametrize("redelivers", [False, True], ids=["modem-like", "phone-like"])
async def test_a_torn_send_is_settled_by_what_its_line_declares_when_the_line_joins(
    config: Config, redelivers: bool
) -> None:
    message_id = await crash_with_a_send_in_flight(config)
    restarted = Relay(config)
    await restarted.start([])  # the line is not back yet (a phone that reconnects later)
    try:
        waiting = await restarted.store.messages.get_message("default", message_id)
        line = ScriptedSim("a")
        line.redelivers_by_id = redelivers
        await restarted.sims.add(line)
        if redelivers:
            await wait_for(lambda: bool(line.sent))
        settled = await restarted.store.messages.get_message("default", message_id)
    finally:
        await restarted.stop()
    assert waiting is not None and waiting.status == "sending"
    assert settled is not None
    if redelivers:  # it dedupes by id: handed again, marked as a redelivery
        assert [s.redelivery for s in line.sent] == [True]
    else:  # it cannot tell whether the first try went on air: never resent
        assert (settled.status, settled.error, line.sent) == ("failed", "interrupted", [])

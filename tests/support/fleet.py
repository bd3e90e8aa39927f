"""A fleet of real `relayd run` processes on one PostgreSQL database, one simulated modem each.

Used by tests/test_fleet_pg.py and bench/fleet.py. The simulators run in the caller's
process (their ptys are the modems' ports); each relay has its own state directory,
port and node id, and every relay shares the database (so they share API keys: the
first relay's admin key works on all of them).

    async with running_fleet(tmp, url, 3, send_delay=0.0) as fleet:
        fleet.nodes[0].url, fleet.key, fleet.sims[2].sent_messages()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modem.simulator import ModemSimulator
from tests.support.daemon import RelaydProcess, free_port


@dataclass
class Fleet:
    """The relays (`nodes[i]` drives modem `m<i>` on `sims[i]`) and an admin key for all."""

    nodes: list[RelaydProcess]
    sims: list[ModemSimulator]
    key: str = ""
    node_ids: list[str] = field(default_factory=list)

    def get(self, index: int, path: str) -> Any:
        """GET `path` on relay `index` with the admin key; the decoded JSON."""
        request = urllib.request.Request(
            self.nodes[index].url + path, headers={"Authorization": f"Bearer {self.key}"}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    def sent_texts(self) -> list[str]:
        """Every text that went on air on any modem, with repeats."""
        return [m.text for sim in self.sims for m in sim.sent_messages()]


def node_config(directory: Path, url: str, index: int, link: Path, heartbeat: float) -> Path:
    """A relayd.toml for relay `index` of the fleet: its modem, its node id, the shared URL."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "relayd.toml"
    path.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {free_port()}\ndrain_seconds = 2.0\n\n'
        f'[storage]\npath = "{directory / "state" / "relayd.db"}"\nurl = "{url}"\n\n'
        f'[mdns]\nbackend = "off"\n\n'
        f'[fleet]\nnode_id = "relay-{index}"\nheartbeat_seconds = {heartbeat}\n\n'
        f'[[modem]]\nname = "m{index}"\nport = "{link}"\ndelivery_reports = false\n'
        f"health_interval = 5.0\n",
        encoding="utf-8",
    )
    return path


def port_of(config: Path) -> int:
    """The `[server] port` written by node_config."""
    for line in config.read_text(encoding="utf-8").splitlines():
        if line.startswith("port = "):
            return int(line.split("=")[1])
    raise ValueError(f"no port in {config}")


@contextlib.asynccontextmanager
async def running_fleet(
    base: Path, url: str, count: int, *, send_delay: float = 0.0, heartbeat: float = 0.5
) -> AsyncIterator[Fleet]:
    """Start `count` simulators and relays; every one is stopped (killed if need be) after."""
    fleet = Fleet([], [])
    try:
        for index in range(count):
            sim = ModemSimulator(
                base / f"modem{index}", send_delay=send_delay, own_number=f"+1555000200{index}"
            )
            await sim.start()
            fleet.sims.append(sim)
            directory = base / f"relay{index}"
            config = node_config(directory, url, index, sim.link, heartbeat)
            fleet.nodes.append(RelaydProcess(directory, config, port_of(config)))
            fleet.node_ids.append(f"relay-{index}")
        await asyncio.to_thread(fleet.nodes[0].start)  # the first one makes the admin key
        fleet.key = fleet.nodes[0].admin_key()
        await asyncio.gather(*(asyncio.to_thread(n.start) for n in fleet.nodes[1:]))
        await wait_fleet_online(fleet, count)
        yield fleet
    finally:
        await asyncio.gather(*(asyncio.to_thread(n.stop) for n in fleet.nodes))
        for sim in fleet.sims:
            await sim.stop()


async def wait_fleet_online(fleet: Fleet, online: int, timeout: float = 60.0) -> None:
    """Until every running relay lists `online` SIMs of the fleet online."""
    async with asyncio.timeout(timeout):
        while True:
            counts = [
                sum(s["online"] for s in (await asyncio.to_thread(fleet.get, i, "/api/v1/sims"))["sims"])
                for i, node in enumerate(fleet.nodes)
                if node.running
            ]
            if counts and all(c == online for c in counts):
                return
            await asyncio.sleep(0.1)

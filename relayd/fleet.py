"""Fleet mode: this relay as one node of several sharing a database (issue 13).

A node has a stable id, beats a heartbeat row every `heartbeat_seconds`, publishes the
SIMs it drives in the `sims` table, and watches the other nodes' heartbeats. A node whose
beat count has not moved for `DEAD_AFTER` heartbeats (on this relay's own monotonic clock,
so clocks of other machines do not matter) is dead: one surviving node takes it over in one
transaction (`FleetStore.reap`): its SIMs go offline, its `sending` rows fail as
`interrupted`, its queued claims go back to the fleet, and a NOTIFY wakes every relay to
claim them. A restarted relay rejoins with the same id.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

from relayd.bridges.base import SimBackend
from relayd.config import Config
from relayd.store import Store
from relayd.store.fleet import SIMS_CHANNEL, WORK_CHANNEL, FleetSim, sim_row_info

_LOGGER = logging.getLogger(__name__)
NODE_ID_FILE = "node.id"
DEAD_AFTER = 3  # heartbeats a node may miss before the others take it over


def fleet_enabled(config: Config) -> bool:
    """Fleet mode: asked for, or `auto` on a database other relays can share."""
    if config.fleet.mode != "auto":
        return config.fleet.mode == "fleet"
    url = str(getattr(config.storage, "url", "") or "")
    return url.startswith(("postgresql:", "postgres:"))


def node_id_of(config: Config) -> str:
    """`[fleet] node_id`, else the id kept in the state directory, else a new one (kept)."""
    if config.fleet.node_id:
        return config.fleet.node_id
    path = config.state_dir / NODE_ID_FILE
    with contextlib.suppress(FileNotFoundError):
        kept = path.read_text(encoding="utf-8").strip()
        if kept:
            return kept
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:40] or "relay"
    node = f"{host}-{secrets.token_hex(3)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(node + "\n", encoding="utf-8")
    return node


class Fleet:
    """This relay's node: heartbeat, SIM registry rows, liveness of the others."""

    def __init__(
        self,
        store: Store,
        node: str,
        heartbeat: float,
        describe: Callable[[SimBackend], dict[str, Any]],
        on_tick: Callable[[], None],
    ) -> None:
        self.store = store
        self.node = node
        self.heartbeat = heartbeat
        self.describe = describe  # a local SIM as GET /api/v1/sims shows it
        self.on_tick = on_tick  # each beat: claim if there is room (a lost NOTIFY costs a beat)
        self.remote: dict[str, FleetSim] = {}  # the fleet's SIMs, refreshed each beat
        self._seen: dict[str, tuple[int, float]] = {}  # node -> (beats, monotonic first seen)
        self._stale: set[str] = set()  # up by their row, silent too long by this relay's clock
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.reaped: list[str] = []

    async def start(self, sims: list[SimBackend]) -> None:
        """Join (rejoin) the fleet, publish the SIMs known now, start beating."""
        await self.store.fleet.join(self.node)
        for sim in sims:
            await self._publish(sim)
        self._running = True
        await self.store.listen(SIMS_CHANNEL, self._on_sims)
        await self._refresh()
        self._task = asyncio.create_task(self._beat(), name="relayd-fleet")

    async def halt(self) -> None:
        """Stop beating without leaving: what a relay that dies does (the others take it
        over once it has been silent 3 beats)."""
        self._running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        """Stop beating; leave cleanly (SIMs offline, unsent claims released)."""
        await self.halt()
        try:
            await self.store.fleet.leave(self.node)
            await self.store.notify(WORK_CHANNEL)
            await self.store.notify(SIMS_CHANNEL, self.node)
        except Exception:
            _LOGGER.exception("Leaving the fleet failed")

    # --- SIMs -----------------------------------------------------------------------

    def sim_changed(self, sim: SimBackend) -> None:
        """A local SIM changed: its row follows (and the other relays hear of it)."""
        if not self._running:
            return
        task = asyncio.create_task(self._publish(sim, announce=True))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def alive(self, node: str) -> bool:
        """Whether `node` is beating as far as this relay can tell."""
        return node == self.node or node not in self._stale

    async def sims(self, org: str) -> list[FleetSim]:
        """The org's SIMs on the other relays, read now, `online` only while their node beats."""
        out = []
        for sim in await self.store.fleet.sims(org):
            if sim.node == self.node:
                continue
            out.append(dataclasses.replace(sim, online=sim.online and self.alive(sim.node)))
        return out

    def knows_sim(self, org: str, wanted: str) -> bool:
        """A SIM of the org on another relay answers to `wanted` (id, name, number or slot)."""
        for sim in self.remote.values():
            if sim.org != org or sim.node == self.node:
                continue
            if wanted in (sim.id, sim.name) or (sim.number and wanted == sim.number):
                return True
            if wanted.isdigit() and sim.slot is not None and int(wanted) == sim.slot:
                return True
        return False

    # --- internals ------------------------------------------------------------------

    async def _publish(self, sim: SimBackend, *, announce: bool = False) -> None:
        info = sim.info
        row = FleetSim(
            id=info.id,
            org=info.org,
            node=self.node,
            kind=info.kind,
            name=info.name,
            number=info.number,
            slot=info.slot,
            online=info.online,
            info=sim_row_info(self.describe(sim)),
            updated_at=time.time(),
        )
        try:
            await self.store.fleet.publish_sim(self.node, row)
            if announce:
                await self.store.notify(SIMS_CHANNEL, self.node)
        except Exception:
            _LOGGER.exception("Publishing SIM %s failed", info.id)

    def _on_sims(self, _payload: str) -> None:
        if not self._running:
            return
        task = asyncio.create_task(self._refresh())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self) -> None:
        self.remote = {s.id: s for s in await self.store.fleet.sims()}

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self._tick()
            except Exception:
                _LOGGER.exception("Fleet heartbeat failed")

    async def _tick(self) -> None:
        if not await self.store.fleet.heartbeat(self.node):
            # The others took this relay for dead (a long stall): its claims were released
            # and its sends failed as interrupted; it joins again with what it has now.
            _LOGGER.error("This relay was taken for dead by the fleet; rejoining")
            await self.store.fleet.join(self.node)
        await self._watch()
        await self._refresh()
        self.on_tick()

    async def _watch(self) -> None:
        now = time.monotonic()
        stale = set()
        for node in await self.store.fleet.nodes():
            if node.id == self.node or node.state != "up":
                self._seen.pop(node.id, None)
                continue
            seen = self._seen.get(node.id)
            if seen is None or seen[0] != node.beats:
                self._seen[node.id] = (node.beats, now)
                continue
            if now - seen[1] < DEAD_AFTER * self.heartbeat:
                continue
            stale.add(node.id)
            reaped = await self.store.fleet.reap(node.id, node.beats)
            self._seen.pop(node.id, None)
            if reaped is None:
                continue  # it beat meanwhile, or another relay took it over
            self.reaped.append(node.id)
            _LOGGER.warning(
                "Relay %s stopped beating: %d SIM(s) offline, %d send(s) interrupted, "
                "%d queued message(s) released",
                node.id,
                reaped.sims,
                len(reaped.interrupted),
                reaped.released,
            )
            await self.store.notify(WORK_CHANNEL)
            await self.store.notify(SIMS_CHANNEL, node.id)
        self._stale = stale

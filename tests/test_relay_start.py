"""Relay.start: a step that fails unwinds what started before it."""

from __future__ import annotations

import asyncio

import pytest

from relayd.bridges.base import BackendEvents
from relayd.config import Config
from relayd.relay import Relay
from tests.test_dispatch import ScriptedSim


class BrokenSim(ScriptedSim):
    """A line whose start fails (a modem port that cannot be opened, say)."""

    async def start(self, events: BackendEvents) -> None:
        raise RuntimeError("the port is gone")


def relay_tasks() -> list[str]:
    return sorted(
        t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("relayd-")
    )


async def test_a_start_that_fails_at_its_last_step_leaves_nothing_running(config: Config) -> None:
    relay = Relay(config)
    with pytest.raises(RuntimeError, match="the port is gone"):
        await relay.start([BrokenSim("a")])
    await asyncio.sleep(0)
    assert relay_tasks() == []  # writer, outbox, webhooks, sweeper: all stopped again
    assert not relay.store.writer_alive and not relay.started
    again = Relay(config)  # the database was closed: a new start opens it as usual
    await again.start([ScriptedSim("a")])
    try:
        assert again.started and "relayd-db-writer" in relay_tasks()
    finally:
        await again.stop()

"""The relay's SIMs and today's message counts, polled, and refreshed at once on pushed events."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .api import RelaydAuthError, RelaydClient, RelaydError
from .const import DOMAIN, SCAN_INTERVAL

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from . import RelaydConfigEntry

_LOGGER = logging.getLogger(__name__)
PAGE = 1000
MAX_PAGES = 50
"""Counting today's messages reads at most this many pages per refresh (50,000 messages)."""
SENT_STATUSES = frozenset({"sent", "delivered"})


@dataclass
class DailyCounts:
    """Messages sent and received per SIM since local midnight."""

    day: str = ""
    cursor: int = 0
    """The last message id before today (found once per day by bisection)."""
    sent: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)


@dataclass
class RelaydData:
    """What one refresh knows."""

    sims: dict[str, dict[str, Any]]
    counts: DailyCounts


class RelaydCoordinator(DataUpdateCoordinator[RelaydData]):
    """Polls GET /api/v1/sims and counts today's messages per SIM."""

    config_entry: RelaydConfigEntry

    def __init__(self, hass: HomeAssistant, entry: RelaydConfigEntry, client: RelaydClient) -> None:
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=DOMAIN,
            update_interval=SCAN_INTERVAL,
        )
        self.client = client
        self._counts = DailyCounts()

    async def _async_update_data(self) -> RelaydData:
        try:
            sims = await self.client.sims()
            counts = await self._count_today()
        except RelaydAuthError as exc:
            raise ConfigEntryAuthFailed(str(exc)) from exc
        except RelaydError as exc:
            raise UpdateFailed(f"relayd: {exc}") from exc
        return RelaydData(sims={sim["id"]: sim for sim in sims}, counts=counts)

    async def _count_today(self) -> DailyCounts:
        """Re-count today's messages: a message listed as queued may be sent by now."""
        midnight = dt_util.start_of_local_day()
        day = midnight.date().isoformat()
        if self._counts.day != day:
            self._counts = DailyCounts(day=day, cursor=await self._last_id_before(midnight))
        counts = DailyCounts(day=day, cursor=self._counts.cursor)
        since = counts.cursor
        for _ in range(MAX_PAGES):
            page, since = await self.client.messages(since_id=since, limit=PAGE)
            for message in page:
                _tally(counts, message, midnight)
            if len(page) < PAGE:
                break
        self._counts = counts
        return counts

    async def _last_id_before(self, moment: datetime) -> int:
        """The smallest id after which every message is from `moment` on (ids grow with time)."""
        low, high = 0, await self._highest_id()
        while low < high:
            middle = (low + high) // 2
            page, _ = await self.client.messages(since_id=middle, limit=1)
            if not page or _created(page[0]) >= moment:
                high = middle
            else:
                low = max(middle + 1, int(page[0]["id"]))
        return low

    async def _highest_id(self) -> int:
        """An upper bound on message ids: gallop forward by doubling."""
        probe = 1
        while True:
            page, _ = await self.client.messages(since_id=probe, limit=1)
            if not page:
                return probe
            probe *= 2


def _created(message: dict[str, Any]) -> datetime:
    parsed = dt_util.parse_datetime(str(message.get("created_at") or ""))
    return parsed or dt_util.utcnow()


def _tally(counts: DailyCounts, message: dict[str, Any], midnight: datetime) -> None:
    sim = message.get("sim")
    if not sim:
        return
    if message.get("direction") == "in":
        counts.received[sim] = counts.received.get(sim, 0) + 1
    elif message.get("status") in SENT_STATUSES:
        sent_at = dt_util.parse_datetime(str(message.get("sent_at") or ""))
        if sent_at is None or sent_at >= midnight:
            counts.sent[sim] = counts.sent.get(sim, 0) + 1

"""How relays sharing one database tell each other of commits (PostgreSQL LISTEN/NOTIFY)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

RESYNC = "*"  # told to a listener after its channel was lost: anything may have been announced


class Channel(Protocol):
    """One named channel of the database's notifications."""

    async def listen(self, callback: Callable[[str], None]) -> None:
        """Call `callback` in the event loop with each payload announced (by any relay)."""
        ...

    async def notify(self, payload: str) -> None:
        """Announce `payload` to every listening relay (this one too)."""
        ...

    async def close(self) -> None:
        """Stop listening."""
        ...

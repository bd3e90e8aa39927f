"""Fixtures around the modem simulator, for the simulator's own tests and the driver's.

- ``modem_link``: a path for the port symlink inside ``tmp_path``.
- ``modem_sim``: a started SIM800-profile ``ModemSimulator`` on ``modem_link``, zero delays.
- ``make_modem_sim``: ``await make_modem_sim(profile="huawei", pin="1234", ...)`` starts
  more (each on its own link unless ``link=`` is given); all are stopped after the test.
- ``serial_port``: ``await serial_port(path)`` opens a ``SerialTestPort`` (a real
  pyserial-asyncio-fast connection) to talk raw AT; closed after the test.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
import serial_asyncio_fast

from modem.simulator import ModemSimulator

FINAL_RESULT = re.compile(
    rb"\r\n(OK|ERROR|\+CME ERROR: [^\r]*|\+CMS ERROR: [^\r]*|COMMAND NOT SUPPORT|NO CARRIER"
    rb"|BUSY|NO ANSWER|NO DIALTONE)\r\n"
)
READ_TIMEOUT = 2.0


class SerialTestPort(asyncio.Protocol):
    """The host end of the line: raw bytes in, everything received kept in ``buffer``."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None  # set by the opener
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self._changed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._changed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        self._changed.set()

    def write(self, data: bytes | str) -> None:
        """Send raw bytes (str is encoded as Latin-1)."""
        assert self.transport is not None
        self.transport.write(data.encode("latin-1") if isinstance(data, str) else data)

    async def read_until(
        self, marker: bytes | re.Pattern[bytes], timeout: float = READ_TIMEOUT
    ) -> bytes:
        """Take everything up to and including ``marker`` (bytes or regex) from the buffer."""
        async with asyncio.timeout(timeout):
            while True:
                if isinstance(marker, bytes):
                    index = self.buffer.find(marker)
                    end = index + len(marker) if index >= 0 else -1
                else:
                    match = marker.search(self.buffer)
                    end = match.end() if match else -1
                if end >= 0:
                    taken = bytes(self.buffer[:end])
                    del self.buffer[:end]
                    return taken
                if self.lost.done():
                    raise ConnectionError(f"port closed; buffer {bytes(self.buffer)!r}")
                self._changed.clear()
                await self._changed.wait()

    async def command(self, line: str, timeout: float = READ_TIMEOUT) -> bytes:
        """Write ``line`` + CR and return the bytes up to and including its final result."""
        self.write(line + "\r")
        return await self.read_until(FINAL_RESULT, timeout)

    async def quiet(self, seconds: float = 0.05) -> bytes:
        """Wait a little and take whatever arrived meanwhile."""
        await asyncio.sleep(seconds)
        taken = bytes(self.buffer)
        self.buffer.clear()
        return taken

    def close(self) -> None:
        """Close the port (no-op when already lost)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


@pytest.fixture
def modem_link(tmp_path: Path) -> Path:
    """Where the simulated port appears."""
    return tmp_path / "modem0"


@pytest.fixture
async def make_modem_sim(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[ModemSimulator]]]:
    """Factory of started simulators; every one is stopped at teardown."""
    sims: list[ModemSimulator] = []

    async def make(link: Path | None = None, **kwargs: Any) -> ModemSimulator:
        sim = ModemSimulator(link or tmp_path / f"modem{len(sims)}", **kwargs)
        await sim.start()
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        await sim.stop()


@pytest.fixture
async def modem_sim(
    make_modem_sim: Callable[..., Awaitable[ModemSimulator]], modem_link: Path
) -> ModemSimulator:
    """A started SIM800-like simulator on ``modem_link`` with zero delays."""
    return await make_modem_sim(modem_link, profile="sim800")


@pytest.fixture
async def serial_port() -> AsyncIterator[Callable[[str | Path], Awaitable[SerialTestPort]]]:
    """Opener of raw serial connections; every one is closed at teardown."""
    ports: list[SerialTestPort] = []

    async def open_port(path: str | Path) -> SerialTestPort:
        loop = asyncio.get_running_loop()
        transport, protocol = await serial_asyncio_fast.create_serial_connection(
            loop, SerialTestPort, str(path), baudrate=115200
        )
        port = cast(SerialTestPort, protocol)
        port.transport = transport  # connection_made may still be scheduled
        ports.append(port)
        return port

    yield open_port
    for port in ports:
        port.close()
    lost = [port.lost for port in ports if port.transport is not None]
    if lost:
        await asyncio.wait(lost, timeout=1.0)

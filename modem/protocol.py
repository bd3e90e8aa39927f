"""Framing: serial bytes to AT lines, the bare "> " prompt, and opening the port."""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable
from typing import cast

import serial
import serial_asyncio_fast

from .errors import ModemGone, PortBusyError, PortOpenError

_LOGGER = logging.getLogger(__name__)

TRACE = 5
"""Log level for raw serial lines; below DEBUG so it never shows by accident."""
logging.addLevelName(TRACE, "TRACE")

MAX_LINE = 8192
"""A line longer than this without a terminator is garbage; it is flushed as one line."""

# Control characters other than CR/LF carry nothing in AT answers; noise and NULs on a
# freshly opened port would otherwise glue onto the next "OK".
_CONTROL = {c: None for c in range(32) if c not in (10, 13)} | {127: None}


class ATLineProtocol(asyncio.Protocol):
    """Turn received bytes into lines and hand them, and the send prompt, upward."""

    def __init__(
        self,
        on_line: Callable[[str], None],
        on_prompt: Callable[[], None],
        on_lost: Callable[[Exception | None], None],
        *,
        on_connected: Callable[[], None] | None = None,
        log_prefix: str = "",
    ) -> None:
        self._on_connected = on_connected
        self._on_line = on_line
        self._on_prompt = on_prompt
        self._on_lost = on_lost
        self._prefix = log_prefix
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    @property
    def connected(self) -> bool:
        """True while the transport is open."""
        return self._transport is not None and not self._transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport for writing."""
        self._transport = cast(asyncio.Transport, transport)
        if self._on_connected is not None:
            self._on_connected()

    def data_received(self, data: bytes) -> None:
        """Split into lines on CR or LF; recognise a prompt left without a newline."""
        self._buffer += data
        while True:
            cut = _first_terminator(self._buffer)
            if cut < 0:
                break
            raw = bytes(self._buffer[:cut])
            del self._buffer[: cut + 1]
            self._emit(raw)
        if len(self._buffer) > MAX_LINE:
            raw = bytes(self._buffer)
            self._buffer.clear()
            self._emit(raw)
        elif self._buffer and self._buffer.strip(b" \x00") == b">":
            # The modem waits for the PDU after "> " and sends nothing more.
            self._buffer.clear()
            _LOGGER.log(TRACE, "%s<< '> '", self._prefix)
            self._on_prompt()

    def connection_lost(self, exc: Exception | None) -> None:
        """Report the loss upward; the engine decides what it means."""
        self._transport = None
        self._on_lost(exc)

    def write(self, data: bytes) -> None:
        """Write raw bytes to the modem."""
        if self._transport is None or self._transport.is_closing():
            raise ModemGone("port is closed")
        if data[:8].upper() == b"AT+CPIN=":
            _LOGGER.log(TRACE, "%s>> AT+CPIN=<redacted>", self._prefix)  # never a PIN in a log
        else:
            _LOGGER.log(TRACE, "%s>> %r", self._prefix, data)
        self._transport.write(data)

    def close(self) -> None:
        """Close the transport; connection_lost follows."""
        if self._transport is not None:
            self._transport.close()

    def _emit(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").translate(_CONTROL).strip()
        if not line:
            return
        _LOGGER.log(TRACE, "%s<< %r", self._prefix, line)
        if line == ">":
            # A prompt that something (a URC) followed before we could answer it.
            self._on_prompt()
            return
        self._on_line(line)


async def open_serial_port(
    port: str, protocol_factory: Callable[[], ATLineProtocol], *, baudrate: int = 115200
) -> tuple[asyncio.Transport, ATLineProtocol]:
    """Open a device path, a /dev/serial/by-id link or socket://host:port.

    This is the one place that knows the serial library; swapping it is one line.
    """
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await serial_asyncio_fast.create_serial_connection(
            loop, protocol_factory, port, baudrate=baudrate, exclusive=True
        )
    except serial.SerialException as exc:
        raise _classify_open_error(port, exc) from exc
    except OSError as exc:  # socket:// connection refused and friends
        raise _classify_open_error(port, exc) from exc
    device = transport.get_extra_info("serial")
    if isinstance(device, serial.Serial) and device.is_open:
        # Whatever the modem said while nobody listened belongs to no command of ours.
        device.reset_input_buffer()
    return cast(asyncio.Transport, transport), cast(ATLineProtocol, protocol)


def _classify_open_error(port: str, exc: Exception) -> Exception:
    text = str(exc)
    code = getattr(exc, "errno", None)
    if (
        code in (errno.EBUSY, errno.EAGAIN)
        or "Device or resource busy" in text
        or "exclusively lock" in text
    ):
        return PortBusyError(port, text)
    if (
        code in (errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.ECONNREFUSED)
        or "No such file" in text
        or "No such device" in text
    ):
        return ModemGone(f"port {port} is not there: {text}")
    if code == errno.EACCES or "Permission denied" in text:
        return PortOpenError(
            f"permission denied on {port}: run relayd as a user in the dialout group"
        )
    return PortOpenError(f"cannot open {port}: {text}")


def _first_terminator(buffer: bytearray) -> int:
    cr = buffer.find(b"\r")
    lf = buffer.find(b"\n")
    if cr < 0:
        return lf
    if lf < 0:
        return cr
    return min(cr, lf)

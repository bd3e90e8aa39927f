"""The simulated serial port: the master side of a pseudo-terminal, linked at a path.

The slave's name (``/dev/pts/N``) is symlinked at the link path, so a client opens the
link like ``/dev/ttyUSB0``. We keep one slave descriptor open ourselves so that a client
can close and reopen the port without the master seeing a hang-up. ``close()`` shuts the
master and removes the link: the client's reads end (EOF/EIO, pyserial raises, the
asyncio transport calls ``connection_lost``) exactly as when a USB modem is unplugged.

Bytes written while no client has the port open stay in the tty's input queue and are
read by the next opener that does not flush its input (pyserial does flush on open).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import tty
from collections.abc import Callable
from pathlib import Path

__all__ = ["PtyLink"]

_LOGGER = logging.getLogger(__name__)

# Beyond this many unread bytes the "UART" overflows and drops output, like real hardware.
MAX_PENDING_OUTPUT = 64 * 1024
_READ_SIZE = 4096


class PtyLink:
    """One plugged-in instance of the port; create a new one to "replug"."""

    def __init__(self, link: Path, on_data: Callable[[bytes], None]) -> None:
        self.link = link
        self._on_data = on_data
        self._loop = asyncio.get_running_loop()
        self._master = -1
        self._slave = -1
        self._pending = bytearray()
        self._writer_added = False
        self.device_name = ""

    @property
    def is_open(self) -> bool:
        """The master is open (the modem is plugged in)."""
        return self._master >= 0

    def open(self) -> None:
        """Create the pty, put the slave in raw mode and publish the link."""
        master, slave = os.openpty()
        try:
            # Raw mode so a client that opens the port with plain os.open() sees no echo
            # and no CR/LF translation; pyserial sets its own attributes anyway.
            tty.setraw(slave)
            os.set_blocking(master, False)
            self.device_name = os.ttyname(slave)
            self.link.parent.mkdir(parents=True, exist_ok=True)
            if self.link.is_symlink() or self.link.exists():
                self.link.unlink()
            self.link.symlink_to(self.device_name)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._master, self._slave = master, slave
        self._loop.add_reader(master, self._on_readable)
        _LOGGER.debug("modem simulator port %s -> %s", self.link, self.device_name)

    def close(self) -> None:
        """Unplug: close both descriptors and remove the link."""
        if self._master < 0:
            return
        self._loop.remove_reader(self._master)
        if self._writer_added:
            self._loop.remove_writer(self._master)
            self._writer_added = False
        os.close(self._master)
        os.close(self._slave)
        self._master = self._slave = -1
        self._pending.clear()
        with contextlib.suppress(FileNotFoundError):
            if self.link.is_symlink() and os.readlink(self.link) == self.device_name:
                self.link.unlink()
        _LOGGER.debug("modem simulator port %s closed", self.link)

    def write(self, data: bytes) -> None:
        """Queue bytes towards the client without ever blocking the loop."""
        if self._master < 0 or not data:
            return
        if self._pending:
            self._queue(data)
            return
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        except OSError as err:
            _LOGGER.debug("modem simulator write failed: %s", err)
            return
        if written < len(data):
            self._queue(data[written:])

    def _queue(self, data: bytes) -> None:
        if len(self._pending) + len(data) > MAX_PENDING_OUTPUT:
            _LOGGER.debug("modem simulator output overflow, %d bytes dropped", len(data))
            return
        self._pending += data
        if not self._writer_added:
            self._loop.add_writer(self._master, self._on_writable)
            self._writer_added = True

    def _on_writable(self) -> None:
        try:
            written = os.write(self._master, self._pending)
        except BlockingIOError:
            return
        except OSError as err:
            _LOGGER.debug("modem simulator write failed: %s", err)
            written = len(self._pending)
        del self._pending[:written]
        if not self._pending:
            self._loop.remove_writer(self._master)
            self._writer_added = False

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as err:
            if err.errno != errno.EIO:
                _LOGGER.debug("modem simulator read failed: %s", err)
            return
        if data:
            self._on_data(data)

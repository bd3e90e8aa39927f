"""Acceptance: no secret of any kind in relayd's logs at INFO, over the whole suite.

Every log record of the test process at INFO and above is written, through the same
masking filter `setup_logging` puts on journald's stream, to one file per session; every
relayd subprocess writes its own `relayd.log` under the session's temporary directory.
The secrets the suite makes or sends are collected on the way: API keys, device tokens,
org secrets, app passwords and Basic credentials (from the requests and answers of each
in-process relay), admin keys (from each `admin.key` file). At the end each of them, and
anything shaped like an unmasked key, token or PIN, is looked for in all of those logs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from relayd.log import RedactingFilter

SECRET_FIELDS = frozenset(
    {"key", "token", "password", "secret", "secret_key", "private_token", "currentPassword",
     "newPassword", "pin", "signing_key", "signingKey"}
)
SECRET_HEADERS = ("X-Secret-Key", "X-Api-Key", "X-Device-Token")
SECRET_QUERY = ("secret_key", "token", "key")
BODY_MAX = 64 * 1024  # bodies larger than the relay takes are not read again here
MIN_LENGTH = 8  # shorter values (PINs, test ids) would match by chance; PINs have a pattern
# an unmasked key, token or signing secret, or a PIN after AT+CPIN=, wherever it came from
SHAPED = re.compile(r"\b(?:rk|pt|whsec)_[A-Za-z0-9_\-]{12,}|\+CPIN=\s*\"?\d{4,8}")
_PATH_SECRET = re.compile(r"^/messages/[^/]+/([^/]+)$")


class SecretLedger:
    """The secrets the suite has made or used so far."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def add(self, value: object) -> None:
        """Remember one secret (strings long enough to be searched for)."""
        if isinstance(value, str) and len(value.strip()) >= MIN_LENGTH:
            self.values.add(value.strip())

    def add_json(self, data: Any) -> None:
        """Every value under a secret-looking field, at any depth (no recursion: a body may
        nest as deep as the JSON decoder allows)."""
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                for name, value in item.items():
                    if name in SECRET_FIELDS:
                        self.add(value)
                    stack.append(value)
            elif isinstance(item, list):
                stack.extend(item)

    def add_authorization(self, header: str) -> None:
        """A bearer secret, or a Basic login:password pair (the password, and the pair)."""
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            self.add(value)
        elif scheme.lower() == "basic":
            try:
                pair = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return
            self.add(value.strip())
            self.add(pair.partition(":")[2])

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """aiohttp signal: collect what a request carried and what the relay answered."""
        self.add_authorization(request.headers.get("Authorization", ""))
        for name in SECRET_HEADERS:
            self.add(request.headers.get(name))
        for name in SECRET_QUERY:
            self.add(request.query.get(name))
        match = _PATH_SECRET.match(request.path)
        if match:
            self.add(match.group(1))
        size = request.content_length
        if size is not None and size <= BODY_MAX and request.content_type == "application/json":
            with contextlib.suppress(web.HTTPException, ConnectionError):
                self.add_json(_loads(await request.read()))
        body = getattr(response, "body", None)
        if isinstance(body, bytes) and response.content_type == "application/json":
            self.add_json(_loads(body))

    def leaks(self, texts: Iterable[tuple[str, str]]) -> Iterator[str]:
        """'where: what' for every secret or secret-shaped string found in the texts."""
        for where, text in texts:
            for value in self.values:
                if value in text:
                    yield f"{where}: {value[:4]}… ({len(value)} characters)"
            for match in SHAPED.finditer(text):
                yield f"{where}: {match.group(0)[:8]}… (unmasked)"


class MaskedFileHandler(logging.FileHandler):
    """Writes what journald would get: a masked copy of each record (others see the original)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8")
        self.setLevel(logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self._mask = RedactingFilter()

    def emit(self, record: logging.LogRecord) -> None:
        """Mask a copy, write it."""
        copy = logging.makeLogRecord(record.__dict__)
        self._mask.filter(copy)
        super().emit(copy)


def relayd_logs(base: Path, suite_log: Path) -> Iterator[tuple[str, str]]:
    """(name, text) of the suite's own log and of every relayd subprocess's log."""
    yield suite_log.name, suite_log.read_text(encoding="utf-8", errors="replace")
    for path in sorted(base.rglob("relayd.log")):
        with contextlib.suppress(FileNotFoundError):  # a test's own clean-up may remove one
            yield str(path.relative_to(base)), path.read_text(encoding="utf-8", errors="replace")


def admin_keys(base: Path) -> Iterator[str]:
    """The first admin key of every relay the suite started (in-process or not)."""
    for path in base.rglob("admin.key"):
        with contextlib.suppress(FileNotFoundError):
            yield path.read_text(encoding="utf-8", errors="replace").strip()


def _loads(raw: bytes) -> Any:
    """A body's JSON, or None when it is none (the fuzz regressions send broken ones)."""
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


LEDGER = SecretLedger()

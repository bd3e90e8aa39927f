"""AT command lines as a modem parses them, and the ``@handles`` registry.

A command line starts with ``AT`` (any case) and holds basic commands (``E0``, ``I``,
``D+1555;``, ``&F``, ``S0=0``) written back to back, and extended commands (``+CMGF=0``,
``^CURC=0``) separated by ``;``. Each extended command has one of four forms, named by
the suffix its handler is registered under::

    AT+CMGS       execute      @handles("AT+CMGS")
    AT+CMGS=...   set          @handles("AT+CMGS=")
    AT+CMGS?      read         @handles("AT+CMGS?")
    AT+CMGS=?     test         @handles("AT+CMGS=?")

Basic commands register by letter (``@handles("ATE")``) and receive the digits after the
letter as ``args``.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .device import Device

__all__ = [
    "AtError",
    "CmeError",
    "CmsError",
    "Command",
    "FinalResult",
    "Handler",
    "Kind",
    "ParamError",
    "UnknownCommand",
    "find_handler",
    "handles",
    "known_names",
    "parse_command_line",
    "split_params",
]

EXTENDED_PREFIXES = "+^$%*#!"
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:!%")


class Kind(enum.Enum):
    """Form of an extended command."""

    EXEC = ""
    SET = "="
    READ = "?"
    TEST = "=?"


@dataclass(frozen=True)
class Command:
    """One command of a command line: ``+CMGS`` with kind SET and args ``23``."""

    name: str
    kind: Kind
    args: str = ""

    @property
    def key(self) -> str:
        """Registry key, e.g. ``AT+CMGS=`` or ``ATE``."""
        if self.name[0] in EXTENDED_PREFIXES:
            return f"AT{self.name}{self.kind.value}"
        return f"AT{self.name}"

    @property
    def params(self) -> list[str | None]:
        """Comma-separated arguments, quotes removed, empty ones as None."""
        return split_params(self.args)

    def param(self, index: int) -> str | None:
        """The argument at ``index``, or None when absent or empty."""
        params = self.params
        return params[index] if index < len(params) else None

    def int_param(
        self, index: int, default: int | None = None, allowed: Iterable[int] | None = None
    ) -> int:
        """The argument at ``index`` as an int; ParamError when invalid or out of range."""
        raw = self.param(index)
        if raw is None:
            if default is None:
                raise ParamError
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ParamError from None
        if allowed is not None and value not in set(allowed):
            raise ParamError
        return value


class AtError(Exception):
    """The command fails with a plain ``ERROR``."""


class CmeError(AtError):
    """The command fails with ``+CME ERROR: <code>`` (``ERROR`` when AT+CMEE=0)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class ParamError(CmeError):
    """Invalid parameters: ``+CME ERROR: 50``."""

    def __init__(self) -> None:
        super().__init__(50)


class CmsError(AtError):
    """An SMS command fails with ``+CMS ERROR: <code>``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class UnknownCommand(AtError):
    """The command does not exist on this modem (``ERROR`` / ``COMMAND NOT SUPPORT``)."""


class FinalResult(Exception):
    """The command ends with another final result than OK, e.g. ``NO CARRIER``."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


Handler = Callable[["Device", Command], Awaitable[list[str] | None]]

_HANDLERS: dict[str, list[tuple[frozenset[str] | None, Handler]]] = {}


def handles(*keys: str, profiles: Iterable[str] | None = None) -> Callable[[Handler], Handler]:
    """Register a coroutine as the handler of one or more command keys.

    ``profiles`` limits the command to those modem families; elsewhere it is unknown.
    """
    only = frozenset(profiles) if profiles is not None else None

    def register(handler: Handler) -> Handler:
        for key in keys:
            _HANDLERS.setdefault(key.upper(), []).append((only, handler))
        return handler

    return register


def find_handler(key: str, profile: str) -> Handler | None:
    """The handler for ``key`` on this profile, the most specific registration first."""
    candidates = _HANDLERS.get(key.upper(), [])
    for only, handler in candidates:
        if only is not None and profile in only:
            return handler
    for only, handler in candidates:
        if only is None:
            return handler
    return None


def known_names(profile: str) -> set[str]:
    """Extended command names (``+CMGS``) that exist on this profile."""
    names: set[str] = set()
    for key, candidates in _HANDLERS.items():
        if any(only is None or profile in only for only, _ in candidates):
            body = key[2:]
            for suffix in ("=?", "=", "?"):
                if body.endswith(suffix):
                    body = body[: -len(suffix)]
                    break
            names.add(body)
    return names


class ParseError(ValueError):
    """The command line is not valid AT syntax."""


def parse_command_line(line: str) -> list[Command]:
    """Split one command line (starting with ``AT``) into its commands."""
    if line[:2].upper() != "AT":
        raise ParseError(line)
    body = line[2:]
    commands: list[Command] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch in " ;":
            i += 1
        elif ch in EXTENDED_PREFIXES:
            i = _parse_extended(body, i, commands)
        elif ch.upper() == "D":
            # A dial string runs to the end of the line; its ";" means "voice call".
            commands.append(Command("D", Kind.EXEC, body[i + 1 :].strip()))
            break
        elif ch == "&" and i + 1 < n and body[i + 1].isalpha():
            j = _digits_end(body, i + 2)
            commands.append(Command("&" + body[i + 1].upper(), Kind.EXEC, body[i + 2 : j]))
            i = j
        elif ch.upper() == "S" and i + 1 < n and body[i + 1].isdigit():
            j = _digits_end(body, i + 1)
            if body[j : j + 1] == "?":
                commands.append(Command("S", Kind.READ, body[i + 1 : j]))
                i = j + 1
            elif body[j : j + 1] == "=":
                k = _digits_end(body, j + 1)
                commands.append(Command("S", Kind.SET, f"{body[i + 1 : j]},{body[j + 1 : k]}"))
                i = k
            else:
                raise ParseError(line)
        elif ch.isalpha():
            j = _digits_end(body, i + 1)
            commands.append(Command(ch.upper(), Kind.EXEC, body[i + 1 : j]))
            i = j
        else:
            raise ParseError(line)
    return commands


def split_params(args: str) -> list[str | None]:
    """Split ``1,"a,b",,15`` into ``["1", "a,b", None, "15"]``."""
    if not args.strip():
        return []
    out: list[str | None] = []
    current: list[str] = []
    quoted = False
    was_quoted = False
    for ch in args:
        if ch == '"':
            quoted = not quoted
            was_quoted = True
        elif ch == "," and not quoted:
            out.append(_finish(current, was_quoted))
            current, was_quoted = [], False
        else:
            current.append(ch)
    out.append(_finish(current, was_quoted))
    return out


def _finish(chars: list[str], was_quoted: bool) -> str | None:
    text = "".join(chars)
    if was_quoted:
        return text
    text = text.strip()
    return text or None


def _digits_end(body: str, i: int) -> int:
    while i < len(body) and body[i].isdigit():
        i += 1
    return i


def _parse_extended(body: str, i: int, commands: list[Command]) -> int:
    n = len(body)
    j = i + 1
    while j < n and body[j].upper() in _NAME_CHARS:
        j += 1
    name = body[i:j].upper()
    if len(name) < 2:
        raise ParseError(body)
    if body.startswith("=?", j):
        commands.append(Command(name, Kind.TEST))
        return j + 2
    if body[j : j + 1] == "?":
        commands.append(Command(name, Kind.READ))
        return j + 1
    if body[j : j + 1] == "=":
        k = j + 1
        quoted = False
        while k < n and (quoted or body[k] != ";"):
            if body[k] == '"':
                quoted = not quoted
            k += 1
        commands.append(Command(name, Kind.SET, body[j + 1 : k]))
        return k
    commands.append(Command(name, Kind.EXEC))
    return j

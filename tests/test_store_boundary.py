"""The store's boundary: typed rows come out of it; its adapter, SQL and raw database stay in it.

Read from the source with `ast` (the checks) and from the repositories' own type hints (what
every public repository method returns must be built of frozen dataclasses and plain values).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import sqlite3
import types
import typing
from collections.abc import Iterator
from pathlib import Path

from relayd.api.presenters import EVENT_PAYLOADS, message_json
from relayd.store import ApiKey, EventPayloads, MessageRow, NewMessage, Store
from tests.support.postgres import another_storage_url, storage_url

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "relayd" / "store"
# The adapter and what only it may use: nothing outside relayd/store/ imports these.
ADAPTER_MODULES = {
    "sqlite3",
    "aiosqlite",
    "asyncpg",
    "relayd.store.db",
    "relayd.store.pg",
    "relayd.store.pgsql",
    "relayd.store.writer",
    "relayd.store.schema",
}
ADAPTER_NAMES = {"Database", "Tx", "PgDatabase", "PgTx"}
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)"
    r"|PRAGMA\s+\w+)\b",
    re.DOTALL,
)
PLAIN = (int, float, str, bool, bytes, type(None))
CONTAINERS = (list, tuple, dict, set, frozenset)


def boundary_violations(source: str) -> list[str]:
    """What a module outside relayd/store/ does that only the store may do."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"imports {a.name}" for a in node.names if a.name in ADAPTER_MODULES]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            module = node.module or ""
            if module in ADAPTER_MODULES:
                found.append(f"imports {module}")
            elif module.startswith("relayd.store"):
                found += [f"imports {a.name}" for a in node.names if a.name in ADAPTER_NAMES]
        elif isinstance(node, ast.Attribute) and node.attr == "db":
            found.append(f"line {node.lineno}: touches .db ({ast.unparse(node)})")
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value)
        ):
            found.append(f"line {node.lineno}: SQL {node.value[:40]!r}")
    return found


def _outside_store() -> Iterator[Path]:
    for path in sorted((ROOT / "relayd").rglob("*.py")):
        if STORE not in path.parents:
            yield path


def test_the_boundary_check_finds_planted_violations() -> None:
    planted = (
        "import sqlite3\n"
        "from relayd.store.db import Database\n"
        "from relayd.store import Tx\n"
        "async def f(relay):\n"
        "    await relay.store.db.fetchall('SELECT id FROM messages')\n"
    )
    assert sorted(boundary_violations(planted)) == [
        "imports Tx",
        "imports relayd.store.db",
        "imports sqlite3",
        "line 5: SQL 'SELECT id FROM messages'",
        "line 5: touches .db (relay.store.db)",
    ]
    clean = "from relayd.store import Store\nasync def f(store):\n    await store.events.since('o', 0)\n"
    assert boundary_violations(clean) == []


def test_nothing_outside_the_store_uses_its_adapter_its_database_or_sql() -> None:
    found = {}
    for path in _outside_store():
        violations = boundary_violations(path.read_text(encoding="utf-8"))
        if violations:
            found[path.relative_to(ROOT).as_posix()] = violations
    assert found == {}


def _repository_classes() -> Iterator[type]:
    for path in sorted(STORE.glob("*.py")):
        if path.stem == "__init__":
            continue  # the facade itself
        module = importlib.import_module(f"relayd.store.{path.stem}")
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and cls.__name__.endswith("Store"):
                yield cls


def _untyped_parts(hint: object) -> list[str]:
    """The parts of a return type that are not plain values or frozen dataclasses."""
    origin = typing.get_origin(hint)
    if origin is not None:
        if origin not in (*CONTAINERS, types.UnionType, typing.Union) and not (
            isinstance(origin, type) and origin.__module__ == "collections.abc"
        ):
            return [repr(hint)]
        return [part for arg in typing.get_args(hint) for part in _untyped_parts(arg)]
    if hint is Ellipsis or hint in PLAIN:
        return []
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        params = getattr(hint, "__dataclass_params__", None)
        return [] if params is not None and params.frozen else [f"{hint.__name__} (not frozen)"]
    return [repr(hint)]


def test_every_repository_method_hands_out_typed_rows() -> None:
    repositories = list(_repository_classes())
    assert {cls.__name__ for cls in repositories} >= {
        "MessageStore", "EventStore", "KeyStore", "InboundStore", "PhoneStore", "CallStore",
        "CursorStore", "WebhookStore", "AsgStore",
    }  # fmt: skip
    untyped = {}
    for cls in repositories:
        for name, method in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_"):
                continue
            parts = _untyped_parts(typing.get_type_hints(method).get("return"))
            if parts:
                untyped[f"{cls.__name__}.{name}"] = parts
    assert untyped == {}


def test_the_typed_row_check_refuses_raw_rows_and_loose_dicts() -> None:
    assert _untyped_parts(list[sqlite3.Row]) == [repr(sqlite3.Row)]
    assert _untyped_parts(dict[str, typing.Any]) == [repr(typing.Any)]
    assert _untyped_parts(MessageRow | None) == []
    assert _untyped_parts(tuple[ApiKey, str]) == []


def test_the_store_facade_owns_every_repository(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "relayd.db"), payloads=EVENT_PAYLOADS)
    owned = {type(value) for value in vars(store).values()}
    assert set(_repository_classes()) <= owned


def presenter_work(source: str) -> list[str]:
    """What a store module does that belongs to the API's presenters: JSON shapes, API times."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
            node.name.endswith("_json") or node.name == "public"
        ):
            found.append(f"defines {node.name}")
        found += [
            f"imports {n}" for n in names if n == "relayd.timefmt" or n.startswith("relayd.api")
        ]
    return found


def test_the_presenter_check_finds_planted_json_shaping() -> None:
    planted = (
        "from relayd.timefmt import iso\n"
        "import relayd.api.presenters\n"
        "def message_json(row):\n"
        "    return {'at': iso(row.at)}\n"
        "class Key:\n"
        "    def public(self):\n"
        "        return {}\n"
    )
    assert sorted(presenter_work(planted)) == [
        "defines message_json",
        "defines public",
        "imports relayd.api.presenters",
        "imports relayd.timefmt",
    ]
    assert presenter_work("from relayd.store.records import MessageRow\n") == []


def test_no_store_module_shapes_json_or_formats_api_times() -> None:
    found = {}
    for path in sorted(STORE.glob("*.py")):
        work = presenter_work(path.read_text(encoding="utf-8"))
        if work:
            found[path.name] = work
    assert found == {}


async def _first_event_of_a_send(store: Store) -> tuple[MessageRow, dict[str, object]]:
    await store.open()
    try:
        item = NewMessage(peer="+15551230001", text="hello", parts=1, encoding="gsm7")
        [created] = await store.messages.create_outbound(
            "default", [item], idempotency_key=None, request_hash=None
        )
        [event] = [e for e in await store.events.since("default", 0) if e.type == "sms.queued"]
        return created.message, event.data
    finally:
        await store.close()


async def test_a_stored_message_s_event_carries_the_payload_the_composition_root_hands_in(
    tmp_path: Path,
) -> None:
    first = Store(str(tmp_path / "a.db"), url=storage_url(), payloads=EVENT_PAYLOADS)
    row, data = await _first_event_of_a_send(first)
    assert data == message_json(row)  # the API's JSON of the message, written in its transaction
    other = EventPayloads(message=lambda r: {"only": r.id}, call=lambda c: {})
    second = Store(str(tmp_path / "b.db"), url=another_storage_url(), payloads=other)
    row, data = await _first_event_of_a_send(second)
    assert data == {"only": row.id}

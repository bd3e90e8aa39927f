"""Domain code knows no HTTP (issue 11): it raises `Refused` errors; `relayd/api/` maps them.

Read from the source with `ast`: the domain modules import neither aiohttp nor `ApiError`;
each domain error type has one status in `relayd/api/errors.py`, and a rate-limit refusal
carries its Retry-After.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from relayd.api.errors import as_api_error
from relayd.exceptions import (
    Conflict,
    Forbidden,
    IdempotencyConflict,
    InvalidField,
    NotFound,
    RateLimited,
)

ROOT = Path(__file__).resolve().parent.parent / "relayd"
DOMAIN = [
    ROOT / "sending.py",
    ROOT / "auth.py",
    ROOT / "numbers.py",
    ROOT / "forwarding.py",
    *sorted((ROOT / "dispatch").glob("*.py")),
    *sorted((ROOT / "store").glob("*.py")),
]


def imported_names(path: Path) -> set[str]:
    """Every module and name a file imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", DOMAIN, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_module_imports_neither_aiohttp_nor_the_api_error(path: Path) -> None:
    names = imported_names(path)
    assert not {n for n in names if n == "aiohttp" or n.startswith("aiohttp.")}
    assert "relayd.exceptions.ApiError" not in names
    assert not {n for n in names if n.startswith("relayd.api")}


@pytest.mark.parametrize(
    ("error", "status", "code", "field"),
    [
        (InvalidField("to", "to: not a phone number", "invalid_number"), 422, "invalid_number", "to"),
        (IdempotencyConflict(), 422, "idempotency_conflict", "idempotency_key"),
        (Forbidden("no", code="recipient_not_allowed", field="to"), 403, "recipient_not_allowed", "to"),
        (RateLimited("wait", 7), 429, "rate_limited", None),
        (RateLimited("wrong secrets", 7, code="too_many_failed_logins"), 429, "too_many_failed_logins", None),
        (NotFound("no such message"), 404, "not_found", None),
        (Conflict("already sent", code="not_cancellable"), 409, "not_cancellable", None),
    ],
)
def test_each_domain_error_type_has_one_status_and_keeps_code_field_and_message(
    error: InvalidField | Forbidden | RateLimited | NotFound | Conflict,
    status: int,
    code: str,
    field: str | None,
) -> None:
    answer = as_api_error(error)
    assert (answer.status, answer.code, answer.field, answer.message) == (
        status, code, field, error.message
    )  # fmt: skip
    if isinstance(error, RateLimited):
        assert answer.headers == {"Retry-After": "7"}

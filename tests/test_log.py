"""redact() and the logging filter: what journald gets has no secret in it."""

from __future__ import annotations

import io
import logging

import pytest

from relayd.log import RedactingFilter, redact
from tests.conftest import RelayClient
from tests.support.secret_log import LEDGER

SECRET = "my-secret-key-123"


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("GET /messages/shop/my-secret-key-123?limit=5", "GET /messages/shop/…?limit=5"),
        ("GET /messages/shop/my-secret-key-123", "GET /messages/shop/…"),
        ("device token pt_Zx9abcdefgh1234", "device token pt_…"),
        ("key rk_abcdEFGH1234_-x", "key rk_…"),
        ("signing whsec_abcdEFGH1234", "signing whsec_…"),
        ("Authorization: Basic QUJDOmRlZg==", "Authorization: Basic …"),
        ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer …"),
        ("{'X-Secret-Key': 'my-secret-key-123'}", "{'X-Secret-Key': '…'}"),
        ("X-Api-Key: my-secret-key-123", "X-Api-Key: …"),
        ('{"secret_key": "my-secret-key-123", "org_id": "shop"}', '{"secret_key": "…", "org_id": "shop"}'),
        ("/websocket?org_id=shop&secret_key=my-secret-key-123", "/websocket?org_id=shop&secret_key=…"),
        ('{"currentPassword": "hunter2hunter2"}', '{"currentPassword": "…"}'),
        ('AT+CPIN="1234"', 'AT+CPIN="…"'),
        ("connecting to postgresql://relayd:s3cr:et@db.lan:5432/relayd",
         "connecting to postgresql://relayd:…@db.lan:5432/relayd"),
        ("url='postgres://u:p%40ss@10.0.0.5/r?sslmode=require'", "url='postgres://u:…@10.0.0.5/r?sslmode=require'"),
        ("send to +15551234567", "send to +155…67"),
    ],
)
def test_redact_masks_every_kind_of_secret(line: str, kept: str) -> None:
    assert redact(line) == kept


def _logged(level: int, emit: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("relayd.test_log")
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        assert callable(emit)
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_traceback_is_masked_like_the_message() -> None:
    def emit(logger: logging.Logger) -> None:
        try:
            raise ValueError(f"bad request to /messages/shop/{SECRET} with rk_abcdefghijkl")
        except ValueError:
            logger.exception("Unhandled error on %s", f"/messages/shop/{SECRET}")

    text = _logged(logging.INFO, emit)
    assert "Traceback" in text and "ValueError" in text
    assert SECRET not in text and "rk_abcdefghijkl" not in text
    assert "/messages/shop/…" in text


def test_a_stack_is_masked_too() -> None:
    def emit(logger: logging.Logger) -> None:
        logger.info("paired with %s", "pt_secretsecret123", stack_info=True)  # the line is shown

    text = _logged(logging.INFO, emit)
    assert "pt_secretsecret123" not in text and "Stack (most recent call last)" in text


async def test_the_suites_secret_ledger_sees_handed_out_secrets_and_finds_them_in_a_log(
    relay: RelayClient,
) -> None:
    key = await relay.new_key(["read"])
    await relay.relay.store.keys.ensure_org("shop")
    async with relay.http.get("/messages/shop", headers={"X-Secret-Key": SECRET}) as resp:
        assert resp.status == 401
    assert key in LEDGER.values and SECRET in LEDGER.values  # an answer's key, a sent secret
    line = f"INFO relayd.api: made {key} for /messages/shop/{SECRET}"
    assert len(list(LEDGER.leaks([("relayd.log", line)]))) == 3  # both, and the key's shape
    assert list(LEDGER.leaks([("relayd.log", redact(line))])) == []

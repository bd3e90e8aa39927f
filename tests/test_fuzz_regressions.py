"""What the fuzzer found once, pinned: bad bodies and ids get a 4xx with the JSON error, never a 500.

Each test drives a real relay (real SQLite file, real HTTP server) with the exact input that
used to end in `500 internal`.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from relayd.api.context import API
from relayd.api.framework import INT64_MAX
from tests.conftest import RelayClient

NUMBER = "+15551230001"
BEYOND_INT64 = str(INT64_MAX + 1)
ID_SHAPES = [BEYOND_INT64, "9" * 40, "²", "١٢", "-1", "1e3"]  # superscript / Arabic-Indic digits


def _error(body: object) -> dict[str, object]:
    assert isinstance(body, dict) and body.get("ok") is False, body
    error = body["error"]
    assert isinstance(error, dict) and error["code"] and error["message"], body
    return error


async def test_lone_surrogate_in_a_json_text_is_422_invalid_json(relay: RelayClient) -> None:
    raw = b'{"to": "+15551230001", "text": "\\ud800"}'
    status, body = await relay.call(
        "POST", "/api/v1/messages", data=raw, headers={"Content-Type": "application/json"}
    )
    assert status == 422
    error = _error(body)
    assert error["code"] == "invalid_json" and "surrogate" in str(error["message"])
    _, listed = await relay.call("GET", "/api/v1/messages")
    assert listed["messages"] == []  # nothing half-stored


async def test_lone_surrogate_in_a_key_or_a_nested_value_is_refused(relay: RelayClient) -> None:
    for raw in (b'{"\\udfff": 1, "to": "+15551230001", "text": "x"}',
                b'{"to": ["+15551230001", "\\udbff"], "text": "x"}',
                '{"to": "+15551230001", "text": "\\ud800"}'.encode("utf-16")):
        status, body = await relay.call(
            "POST", "/api/v1/messages", data=raw, headers={"Content-Type": "application/json"}
        )
        assert status == 422 and _error(body)["code"] == "invalid_json", raw


async def test_a_surrogate_pair_spelled_as_escapes_is_an_ordinary_character(
    relay: RelayClient,
) -> None:
    raw = b'{"to": "+15551230001", "text": "\\ud83d\\ude00"}'
    status, body = await relay.call(
        "POST", "/api/v1/messages", data=raw, headers={"Content-Type": "application/json"}
    )
    assert status == 202 and body["encoding"] == "ucs2"
    _, message = await relay.call("GET", f"/api/v1/messages/{body['id']}")
    assert message["text"] == "\U0001f600"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("raw_id", ID_SHAPES)
async def test_message_ids_beyond_int64_or_not_ascii_digits_are_404(
    relay: RelayClient, method: str, raw_id: str
) -> None:
    status, body = await relay.call(method, f"/api/v1/messages/{raw_id}")
    assert status == 404 and _error(body)["code"] == "not_found"


async def test_every_id_path_parameter_refuses_huge_ids_with_a_json_4xx(relay: RelayClient) -> None:
    api = relay.http.app[API]
    routes = [spec for spec in api.routes if "{id}" in spec.path]
    assert len(routes) >= 10  # messages, keys, webhooks, phones, seed 003, 3rd-party, ...
    for spec in routes:
        path = re.sub(r"\{id\}", BEYOND_INT64, spec.path)
        path = re.sub(r"\{[^}]+\}", "default", path)
        kwargs: dict[str, object] = {}
        if spec.method in ("POST", "PATCH", "PUT"):
            kwargs["json"] = {}
        status, body = await relay.call(spec.method, path, **kwargs)
        assert 400 <= status < 500, (spec.method, spec.path, status, body)
        _error(body)
        if spec.auth == "key" and spec.path.startswith("/api/v1/"):
            assert status == 404, (spec.method, spec.path, status, body)


async def test_an_existing_message_is_still_found_by_its_id(relay: RelayClient) -> None:
    _, sent = await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": "x"})
    status, message = await relay.call("GET", f"/api/v1/messages/{sent['id']}")
    assert status == 200 and message["id"] == sent["id"]


async def test_since_id_beyond_int64_is_422_naming_the_parameter(relay: RelayClient) -> None:
    status, body = await relay.call("GET", f"/api/v1/messages?since_id={BEYOND_INT64}")
    assert status == 422 and _error(body)["field"] == "since_id"
    status, body = await relay.call("GET", f"/api/v1/messages?since_id={INT64_MAX}")
    assert status == 200 and body["messages"] == []


async def test_ttl_longer_than_a_year_is_422_naming_the_field(relay: RelayClient) -> None:
    for ttl in (366 * 86400 + 1, 2**64):
        status, body = await relay.call(
            "POST", "/api/v1/messages", json={"to": NUMBER, "text": "x", "ttl": ttl}
        )
        assert status == 422 and _error(body)["field"] == "ttl", ttl


async def test_multipart_form_without_a_boundary_is_422_on_notify(relay: RelayClient) -> None:
    status, body = await relay.call(
        "POST", "/api/v1/notify", data=b"message=hi&target=+15551230001",
        headers={"Content-Type": "multipart/form-data"},
    )
    assert status == 422
    error = _error(body)
    assert error["code"] == "invalid_body" and "boundary" in str(error["message"])


@pytest.mark.parametrize(
    ("content_type", "raw", "expected"),
    [
        ("multipart/form-data; boundary=zz", b"--zz\r\nnot a part", 422),
        ("multipart/form-data; boundary=zz", b"--zz\r\n\r\nno name\r\n--zz--\r\n", 422),
        ("application/x-www-form-urlencoded; charset=no-such-charset", b"message=hi", 415),
        ("application/x-www-form-urlencoded", b"message=\xff\xfe&target=+15551230001", 422),
    ],
)
async def test_malformed_forms_are_a_json_4xx_on_notify(
    relay: RelayClient, content_type: str, raw: bytes, expected: int
) -> None:
    status, body = await relay.call(
        "POST", "/api/v1/notify", data=raw, headers={"Content-Type": content_type}
    )
    assert status == expected, body
    _error(body)
    _, listed = await relay.call("GET", "/api/v1/messages")
    assert listed["messages"] == []


async def test_a_well_formed_multipart_form_still_sends_on_notify(relay: RelayClient) -> None:
    raw = (b"--zz\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nhello\r\n"
           b"--zz\r\nContent-Disposition: form-data; name=\"target\"\r\n\r\n+15551230001\r\n"
           b"--zz--\r\n")
    status, body = await relay.call(
        "POST", "/api/v1/notify", data=raw,
        headers={"Content-Type": "multipart/form-data; boundary=zz"},
    )
    assert status == 202, body
    assert [m["to"] for m in body["messages"]] == [NUMBER]


# Integers that are matched against SIM slots or kept as text, never bound as SQLite integers
# (a huge one is `unknown_sim`, or a phone's own message id).
AS_TEXT = (".sim.anyOf[1]", "PhoneInbound.properties.id.anyOf[1]")


def _integers_without_bound(schema: object, where: str, components: dict[str, object]) -> list[str]:
    """Paths of integer schemas in `schema` (refs followed) that do not cap the value at INT64_MAX."""
    found: list[str] = []
    if isinstance(schema, dict):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            return _integers_without_bound(components[name], f"{where}->{name}", components)
        cap = min(schema.get("maximum", INT64_MAX + 1), schema.get("exclusiveMaximum", INT64_MAX + 2) - 1)
        if schema.get("type") == "integer" and cap > INT64_MAX and not where.endswith(AS_TEXT):
            found.append(where)
        for key, sub in schema.items():
            found += _integers_without_bound(sub, f"{where}.{key}", components)
    elif isinstance(schema, list):
        for i, sub in enumerate(schema):
            found += _integers_without_bound(sub, f"{where}[{i}]", components)
    return found


async def test_every_integer_a_request_can_carry_is_capped_at_int64(relay: RelayClient) -> None:
    """SQLite stores int64: a larger id, limit or ttl in a body or query would be a 500."""
    status, document = await relay.call("GET", "/api/openapi.json")
    assert status == 200
    components = document["components"]["schemas"]
    unbounded: list[str] = []
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            for param in op.get("parameters", []):
                unbounded += _integers_without_bound(
                    param["schema"], f"{method} {path} ?{param['name']}", components
                )
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                unbounded += _integers_without_bound(body["schema"], f"{method} {path}", components)
    assert unbounded == []


async def test_webhook_delivery_ids_beyond_int64_are_422_naming_the_field(
    relay: RelayClient,
) -> None:
    """Found by `make fuzz`: ?before_id=191934584281501797860769792 was a 500."""
    status, created = await relay.call(
        "POST", "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}
    )
    assert status == 201, created
    hook = created["webhook"]["id"]
    status, body = await relay.call(
        "GET", f"/api/v1/webhooks/{hook}/deliveries?before_id={BEYOND_INT64}"
    )
    assert status == 422 and _error(body)["field"] == "before_id"
    status, body = await relay.call(
        "POST", f"/api/v1/webhooks/{hook}/replay", json={"delivery_id": int(BEYOND_INT64)}
    )
    assert status == 422 and _error(body)["field"] == "delivery_id"


async def test_a_webhook_deleted_while_it_is_created_never_makes_a_500(relay: RelayClient) -> None:
    """Found by the fuzzer with two workers: create read its row back after the commit, so a
    DELETE of the new id in between left nothing to read (AssertionError, 500)."""
    calls = []
    for _ in range(30):
        calls.append(relay.call("POST", "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/h"}))
        calls += [relay.call("DELETE", f"/api/v1/webhooks/{i}") for i in range(1, 31)]
    results = await asyncio.gather(*calls)
    statuses = {status for status, _ in results}
    assert 201 in statuses and statuses <= {200, 201, 404}, statuses


async def test_a_json_number_of_5000_digits_is_422_not_a_500(relay: RelayClient) -> None:
    """Python refuses int() of more than 4300 digits with ValueError (not a JSONDecodeError)."""
    raw = b'{"to": "+15551230001", "text": "x", "ttl": ' + b"1" * 5000 + b"}"
    status, body = await relay.call(
        "POST", "/api/v1/messages", data=raw, headers={"Content-Type": "application/json"}
    )
    assert status == 422 and _error(body)["code"] == "invalid_json"


async def test_json_nested_past_the_recursion_limit_is_422_not_a_500(relay: RelayClient) -> None:
    raw = b"[" * 30000 + b"]" * 30000  # within the 64 KiB body limit
    status, body = await relay.call(
        "POST", "/api/v1/messages", data=raw, headers={"Content-Type": "application/json"}
    )
    assert status == 422 and "deeply" in str(_error(body)["message"])


async def test_a_path_id_of_5000_digits_is_404(relay: RelayClient) -> None:
    status, body = await relay.call("GET", f"/api/v1/messages/{'1' * 5000}")
    assert status == 404 and _error(body)["code"] == "not_found"


@pytest.mark.parametrize("last_event_id", ["²", "1" * 5000, BEYOND_INT64])
async def test_an_unreadable_last_event_id_streams_from_now(
    relay: RelayClient, last_event_id: str
) -> None:
    headers = {**relay.headers(), "Last-Event-ID": last_event_id}
    async with relay.http.get("/api/v1/events", headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        _, sent = await relay.call("POST", "/api/v1/messages", json={"to": NUMBER, "text": "x"})
        async with asyncio.timeout(10):
            while True:
                line = (await resp.content.readline()).decode()
                if line.startswith("data:") and f'"id":{sent["id"]}' in line:
                    break


async def _raw_request(
    relay: RelayClient, head: bytes, body: bytes = b""
) -> tuple[int, dict[str, object]]:
    """Send `head` (request line and headers, as bytes) and `body` on a socket; return the
    status and the JSON answer."""
    server = relay.http.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        length = f"Content-Length: {len(body)}\r\n".encode() if body else b""
        writer.write(head + length + b"Connection: close\r\n\r\n" + body)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    status_line, _, rest = answer.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(body)


@pytest.mark.parametrize(
    ("path", "header"),
    [
        (b"/api/v1/sims", b"X-Api-Key: rk_\xe9\xff"),
        (b"/api/v1/sims", b"Authorization: Bearer rk_\xe9\xff"),
        (b"/api/mobile/v1/device", b"Authorization: Bearer \xe9"),
    ],
)
async def test_credentials_that_are_not_utf8_are_401_not_a_500(
    relay: RelayClient, path: bytes, header: bytes
) -> None:
    """aiohttp hands such header bytes over as lone surrogates; hashing them raised."""
    status, body = await _raw_request(
        relay, b"GET " + path + b" HTTP/1.1\r\nHost: relay\r\n" + header + b"\r\n"
    )
    assert status == 401 and _error(body)["code"] == "unauthorized"


@pytest.mark.parametrize("path", [b"/api/v1/messages", b"/api/messaging/sms"])
async def test_an_idempotency_key_header_that_is_not_utf8_is_400_and_stores_nothing(
    relay: RelayClient, path: bytes
) -> None:
    body = b'{"to": "+15551230001", "text": "x", "body": "x"}'
    head = (
        b"POST " + path + b" HTTP/1.1\r\nHost: relay\r\n"
        + f"Authorization: Bearer {relay.admin_key}\r\n".encode()
        + b"Content-Type: application/json\r\nIdempotency-Key: \xe9\xff\r\n"
    )
    status, answer = await _raw_request(relay, head, body)
    assert status == 400 and _error(answer)["code"] == "invalid_header"
    _, listed = await relay.call("GET", "/api/v1/messages")
    assert listed["messages"] == []

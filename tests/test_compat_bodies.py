"""The one lenient body reader of the compat routes (api/bodies.py): JSON or form, read once.

Credentials are looked for in the body before it is validated, so a broken body without
credentials is a 401 and with credentials a clear 422; a form works wherever JSON does; a
multipart type without a boundary is a 422, never a 500.
"""

from __future__ import annotations

from tests.conftest import RelayClient

SECRET = "my-secret-key-123"


async def _org(relay: RelayClient) -> None:
    status, body = await relay.call("POST", "/api/v1/phones", json={"org": "myorg", "secret": SECRET})
    assert status == 201, body


async def test_seed004_send_takes_a_form_with_the_secret_in_it(relay: RelayClient) -> None:
    await _org(relay)
    form = {"secret_key": SECRET, "to": "+15553334444", "body": "from a form"}
    async with relay.http.post("/send/myorg", data=form) as resp:
        status, sent = resp.status, await resp.json()
    assert status == 200, sent
    assert (sent["queued"], sent["results"][0]["to"]) == (1, "+15553334444")
    [stored] = await relay.relay.store.messages.list_messages("myorg")
    assert stored.text == "from a form"


async def test_a_broken_body_is_401_without_credentials_and_422_with_them(
    relay: RelayClient,
) -> None:
    await _org(relay)
    broken = {"data": b"{not json", "headers": {"Content-Type": "application/json"}}
    async with relay.http.post("/send/myorg", **broken) as resp:
        assert resp.status == 401
    headers = {"Content-Type": "application/json", "X-Secret-Key": SECRET}
    async with relay.http.post("/send/myorg", data=b"{not json", headers=headers) as resp:
        status, body = resp.status, await resp.json()
    assert status == 422 and body["error"]["code"] == "invalid_json"
    async with relay.http.post("/send/myorg", data=b"[1, 2]", headers=headers) as resp:
        status, body = resp.status, await resp.json()
    assert status == 422 and body["error"]["code"] == "invalid_body"
    assert await relay.relay.store.messages.list_messages("myorg") == []


async def test_multipart_without_a_boundary_is_a_clear_422_on_notify_and_seed002(
    relay: RelayClient,
) -> None:
    headers = {**relay.headers(), "Content-Type": "multipart/form-data"}
    async with relay.http.post("/api/v1/notify", data=b"message=hi", headers=headers) as resp:
        status, body = resp.status, await resp.json()
    assert status == 422 and body["error"]["code"] == "invalid_body"
    assert "boundary" in body["error"]["message"]
    headers = {"Authorization": relay.admin_key, "Content-Type": "multipart/form-data"}
    async with relay.http.post(
        "/chat/Chatbot/SendTwilioMessage", data=b"Message=hi", headers=headers
    ) as resp:
        status, body = resp.status, await resp.json()
    assert (status, body["Code"], body["Success"]) == (422, 422, False)
    assert body["error"]["code"] == "invalid_body"


async def test_seed001_poll_takes_an_empty_body_and_seed003_does_not(relay: RelayClient) -> None:
    async with relay.http.post("/api/v1/webchat/poll", headers=relay.headers()) as resp:
        status, body = resp.status, await resp.json()
    assert status == 200 and body["count"] == 0
    async with relay.http.post("/api/messaging/sms", headers=relay.headers()) as resp:
        status, body = resp.status, await resp.json()
    assert status == 422 and body["error"]["code"] == "invalid_json"

"""The official `android-sms-gateway` client (PyPI), unchanged but for its base URL.

Credentials are what the app shows after registering with the relay (login/password),
or a relayd API key as the client's bearer token. A scripted app phone sends for real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from android_sms_gateway import client, domain
from android_sms_gateway.ahttp import AiohttpAsyncHttpClient
from android_sms_gateway.enums import HealthStatus, ProcessState, WebhookEvent
from android_sms_gateway.errors import APIError, UnauthorizedError

from tests.conftest import RelayClient
from tests.test_asg_e2e import connect, started_app, started_offline_app, stop

PEER = "+15557654321"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def base_url(relay: RelayClient) -> str:
    return str(relay.http.make_url("/api/3rdparty/v1"))


async def test_async_client_sends_and_reads_the_state_with_the_apps_login(
    relay: RelayClient, http: aiohttp.ClientSession
) -> None:
    app = await started_app(relay, http)
    events = await connect(app)
    try:
        assert app.login and app.password
        async with client.AsyncAPIClient(
            app.login, app.password, base_url=base_url(relay), http_client=AiohttpAsyncHttpClient(http)
        ) as api:
            state = await api.send(
                domain.Message(phone_numbers=[PEER, "+15557654322"], text_message=domain.TextMessage("hi"))
            )
            assert state.state in (ProcessState.Pending, ProcessState.Processed)
            assert [r.phone_number for r in state.recipients] == [PEER, "+15557654322"]

            async with asyncio.timeout(5):
                while (state := await api.get_state(state.id)).state != ProcessState.Delivered:
                    await asyncio.sleep(0.05)
            assert state.device_id == app.device_id
            assert {r.state for r in state.recipients} == {ProcessState.Delivered}
            assert state.states is not None and {"Pending", "Processed", "Sent", "Delivered"} <= set(state.states)

            devices = await api.list_devices()
            assert [d.id for d in devices] == [app.device_id] and devices[0].last_seen is not None

            health = await api.health_check()
            assert health.status == HealthStatus.PASS
    finally:
        await stop(events)


async def test_sync_client_with_a_relayd_key_webhooks_cancel_and_idempotent_ids(
    relay: RelayClient, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await started_offline_app(relay, http, monkeypatch)  # registered, no stream: offline
    key = await relay.new_key(["admin"])

    def scenario() -> tuple[domain.MessageState, domain.MessageState, domain.Webhook]:
        with client.APIClient(None, key, base_url=base_url(relay)) as api:
            sent = api.send(domain.Message(phone_numbers=[PEER], text_message=domain.TextMessage("x"), id="order-42"))
            again = api.get_state("order-42")
            api.cancel_message("order-42")
            cancelled = api.get_state("order-42")
            assert cancelled.state == ProcessState.Cancelled
            with pytest.raises(APIError) as conflict:  # same id, other message
                api.send(domain.Message(phone_numbers=[PEER], text_message=domain.TextMessage("y"), id="order-42"))
            assert conflict.value.status_code == 409
            hook = api.create_webhook(domain.Webhook(id=None, url="https://example.org/hook", event=WebhookEvent.SMS_RECEIVED))
            assert [(h.url, h.event) for h in api.get_webhooks()] == [("https://example.org/hook", WebhookEvent.SMS_RECEIVED)]
            return sent, again, hook

    sent, again, hook = await asyncio.to_thread(scenario)
    assert sent.id == again.id == "order-42" and sent.state == ProcessState.Pending
    # the app's phones call such webhooks themselves: it is in their list
    resp = await app.request("GET", "/webhooks", auth=app.bearer)
    assert {"id": hook.id, "deviceId": None, "url": "https://example.org/hook", "event": "sms:received"} in resp.json_body

    def remove() -> list[domain.Webhook]:
        with client.APIClient(None, key, base_url=base_url(relay)) as api:
            api.delete_webhook(hook.id or "")
            return api.get_webhooks()

    assert await asyncio.to_thread(remove) == []


async def test_wrong_credentials_are_refused(relay: RelayClient, http: aiohttp.ClientSession) -> None:
    async with client.AsyncAPIClient(
        "NOBODY", "nopassword1234", base_url=base_url(relay), http_client=AiohttpAsyncHttpClient(http)
    ) as api:
        with pytest.raises(UnauthorizedError):
            await api.send(domain.Message(phone_numbers=[PEER], text_message=domain.TextMessage("x")))

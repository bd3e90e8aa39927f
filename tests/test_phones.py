"""Phones as SIMs over the seed-004 WebSocket (issue 4): real sockets against a real relay.

Phones here are real WebSocket clients: the seed's own `websockets` example, aiohttp's
client for raw frames, and `ScriptedPhone` (what `relayd phone-sim` runs). The modem in the
mixed-org test is tests.test_dispatch's ScriptedSim: the subject is the router, which treats
both kinds alike.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
import websockets

from relayd.api import phone_ws
from relayd.config import Config
from relayd.phone_sim import ScriptedPhone
from tests.conftest import RelayClient, RelayFactory
from tests.support.postgres import storage_toml
from tests.test_dispatch import ScriptedSim

SECRET = "my-secret-key-123"
NUMBER = "+15553334444"


def base_url(relay: RelayClient) -> str:
    return str(relay.http.make_url("/")).rstrip("/")


def ws_url(relay: RelayClient, **query: str) -> str:
    url = relay.http.make_url("/websocket").with_query(query)
    return str(url).replace("http://", "ws://", 1)


async def make_org(relay: RelayClient, org: str, secret: str = SECRET) -> None:
    status, body = await relay.call("POST", "/api/v1/phones", json={"org": org, "secret": secret})
    assert status == 201, body


async def wait_status(
    relay: RelayClient, message_id: int, *statuses: str, key: str | None = None, timeout: float = 5
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            _, message = await relay.call("GET", f"/api/v1/messages/{message_id}", key=key)
            if message["status"] in statuses:
                return message
            await asyncio.sleep(0.02)


async def until(predicate: Any, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def send(relay: RelayClient, text: str = "hi", key: str | None = None, **extra: Any) -> int:
    status, body = await relay.call(
        "POST", "/api/v1/messages", key=key, json={"to": NUMBER, "text": text, **extra}
    )
    assert status == 202, body
    return int(body["id"])


@pytest.fixture
def open_config(config: Config) -> Config:
    config.phones.allow_new_orgs = True
    return config


# --- 1. the seed's own example --------------------------------------------------------


async def test_seed_python_example_works_verbatim_with_the_host_changed(
    make_relay: RelayFactory, open_config: Config
) -> None:
    relay = await make_relay(cfg=open_config)
    url = ws_url(relay, org_id="myorg", secret_key=SECRET)
    async with websockets.connect(url) as ws:  # the seed example, line for line
        assert json.loads(await ws.recv()) == {"type": "connected", "org_id": "myorg"}
        await ws.send(json.dumps({"type": "sims", "sims": [{"slot": 0, "number": "+15551112222"}]}))

        # seed route: POST /send/{org} with the secret in the body
        status, sent = await relay.call(
            "POST",
            "/send/myorg",
            json={"secret_key": SECRET, "sim": "+15551112222", "to": NUMBER, "body": "via seed"},
        )
        assert status == 200 and sent["ok"] and sent["queued"] == 1, sent
        first_id = sent["results"][0]["id"]
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame == {
            "type": "send_sms",
            "id": first_id,
            "to": NUMBER,
            "body": "via seed",
            "sim": "+15551112222",
            "sim_slot": 0,
        }
        await ws.send(json.dumps({"type": "send_result", "id": first_id, "success": True}))

        # native route: an API key of the org
        key = await relay.new_key(["send", "read"], org="myorg")
        second_id = await send(relay, "via native", key=key)
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (frame["type"], frame["id"], frame["body"]) == ("send_sms", second_id, "via native")
        await ws.send(json.dumps({"type": "send_result", "id": second_id, "success": True}))

        for message_id in (first_id, second_id):
            message = await wait_status(relay, message_id, "sent", "failed", key=key)
            assert message["status"] == "sent" and message["sim"].startswith("phone:")
            assert [h["status"] for h in message["history"]] == ["queued", "sending", "sent"]


# --- 2. queued while offline; pushed again after a drop ---------------------------------


async def test_send_while_no_phone_is_online_is_queued_and_goes_out_on_connect(
    relay: RelayClient,
) -> None:
    await make_org(relay, "shop")
    status, sent = await relay.call(
        "POST", "/send/shop", json={"secret_key": SECRET, "to": NUMBER, "body": "later"}
    )
    assert status == 200 and sent["device_online"] is False
    assert sent["results"][0]["status"] == "queued"
    message_id = sent["results"][0]["id"]
    await asyncio.sleep(0.2)
    assert await relay.relay.outbox.queued_total("shop") == 1

    phone = ScriptedPhone(base_url(relay), "shop", SECRET)
    await phone.start()
    try:
        await until(lambda: message_id in phone.sent)
        key = await relay.new_key(["read"], org="shop")
        assert (await wait_status(relay, message_id, "sent", key=key))["status"] == "sent"
    finally:
        await phone.stop()


async def test_send_unanswered_when_the_phone_drops_is_pushed_again_with_the_same_id(
    relay: RelayClient,
) -> None:
    await make_org(relay, "default")
    phone = ScriptedPhone(base_url(relay), "default", SECRET)
    phone.hold = True  # takes send_sms, never answers: then the socket drops
    await phone.start()
    try:
        message_id = await send(relay)
        await until(lambda: len(phone.received) == 1)
        phone.hold = False
        await phone.drop()
        await phone.wait_connected()
        await until(lambda: len(phone.received) == 2)
        assert [f["id"] for f in phone.received] == [message_id, message_id]
        message = await wait_status(relay, message_id, "sent", "failed")
        assert message["status"] == "sent"
        assert list(phone.sent) == [message_id]  # a phone that dedupes sent it once
        assert phone.connects == 2
    finally:
        await phone.stop()


async def test_relay_restart_pushes_an_unanswered_phone_send_again_instead_of_interrupting(
    make_relay: RelayFactory, config: Config
) -> None:
    relay = await make_relay()
    await make_org(relay, "default")
    phone = ScriptedPhone(base_url(relay), "default", SECRET, reconnect=False)
    phone.hold = True
    await phone.start()
    message_id = await send(relay)
    await until(lambda: len(phone.received) == 1)
    await relay.http.close()  # the relay stops while the phone holds the send
    await phone.stop()
    assert phone.sent == {}

    relay = await make_relay()
    message = await wait_status(relay, message_id, "sending", "failed")
    assert message["status"] == "sending"  # not "interrupted": the phone dedupes by id
    phone = ScriptedPhone(base_url(relay), "default", SECRET, numbers=phone.numbers)
    await phone.start()
    try:
        message = await wait_status(relay, message_id, "sent", "failed")
        assert message["status"] == "sent"
        assert [f["id"] for f in phone.received] == [message_id]  # pushed once, same id
        assert [h["status"] for h in message["history"]] == ["queued", "sending", "sending", "sent"]
    finally:
        await phone.stop()


async def test_no_result_within_result_timeout_fails_with_no_result(
    make_relay: RelayFactory, config: Config
) -> None:
    config.phones.result_timeout = 0.3
    relay = await make_relay()
    await make_org(relay, "default")
    phone = ScriptedPhone(base_url(relay), "default", SECRET)
    phone.hold = True
    await phone.start()
    try:
        message_id = await send(relay)
        message = await wait_status(relay, message_id, "failed", "sent")
        assert message["error"].startswith("no_result")
    finally:
        await phone.stop()


# --- 4. isolation and auth ---------------------------------------------------------------


async def test_a_phone_of_org_a_never_receives_org_b_sends(relay: RelayClient) -> None:
    await make_org(relay, "org-a")
    await make_org(relay, "org-b", "another-secret-456")
    phone_a = ScriptedPhone(base_url(relay), "org-a", SECRET, device_id="a")
    phone_b = ScriptedPhone(base_url(relay), "org-b", "another-secret-456", device_id="b")
    await phone_a.start()
    await phone_b.start()
    try:
        key_b = await relay.new_key(["send", "read"], org="org-b")
        ids = [await send(relay, f"b{i}", key=key_b) for i in range(3)]
        for message_id in ids:
            await wait_status(relay, message_id, "sent", key=key_b)
        assert sorted(phone_b.sent) == ids
        assert phone_a.received == []
        key_a = await relay.new_key(["read"], org="org-a")
        _, sims_a = await relay.call("GET", "/api/v1/sims", key=key_a)
        assert [s["name"] for s in sims_a["sims"]] == ["a:0"]
        _, listed = await relay.call("GET", "/api/v1/messages", key=key_a)
        assert listed["messages"] == []
        admin_a = await relay.new_key(["admin"], org="org-a")
        _, phones_a = await relay.call("GET", "/api/v1/phones", key=admin_a)
        assert [p["name"] for p in phones_a["phones"]] == ["a"]
    finally:
        await phone_a.stop()
        await phone_b.stop()


async def test_wrong_secret_or_missing_credentials_are_refused(relay: RelayClient) -> None:
    await make_org(relay, "shop")
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(ws_url(relay, org_id="shop", secret_key="wrong-secret-000")):
            pass
    assert refused.value.response.status_code == 401
    async with relay.http.get("/websocket?org_id=shop") as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthorized"
    key_other = await relay.new_key(["read"], org="elsewhere")
    async with relay.http.get(
        "/websocket", headers={"X-Secret-Key": key_other}, params={"org_id": "shop"}
    ) as resp:
        assert resp.status == 404  # a key of another org: the org is not revealed


async def test_an_org_is_not_created_by_a_stranger_unless_allowed(
    make_relay: RelayFactory, config: Config
) -> None:
    relay = await make_relay()
    with pytest.raises(websockets.InvalidStatus) as refused:  # the same 401 as a wrong secret
        async with websockets.connect(ws_url(relay, org_id="newco", secret_key=SECRET)):
            pass
    assert refused.value.response.status_code == 401
    assert b"unknown org" in refused.value.response.body
    assert not await relay.relay.store.keys.org_exists("newco")
    await relay.http.close()

    config.phones.allow_new_orgs = True
    relay = await make_relay()
    async with websockets.connect(ws_url(relay, org_id="newco", secret_key=SECRET)) as ws:
        assert json.loads(await ws.recv()) == {"type": "connected", "org_id": "newco"}
    assert await relay.relay.store.keys.org_secret_matches("newco", SECRET)
    with pytest.raises(websockets.InvalidStatus):  # the first phone's secret now guards it
        async with websockets.connect(ws_url(relay, org_id="newco", secret_key="x" * 20)):
            pass


# --- 5. modems and phones together ---------------------------------------------------------


async def test_round_robin_uses_modem_and_phone_and_a_failing_phone_fails_over(
    make_relay: RelayFactory,
) -> None:
    modem = ScriptedSim("m1")
    relay = await make_relay([modem])
    await make_org(relay, "default")
    phone = ScriptedPhone(base_url(relay), "default", SECRET)
    await phone.start()
    try:
        await until(lambda: relay.relay.sims.online_count == 2)
        sims = []
        for i in range(4):  # one at a time: both SIMs are free at each choice
            message = await wait_status(relay, await _send_to(relay, i), "sent")
            sims.append(message["sim"].split(":")[0])
        assert sorted(sims) == ["modem", "modem", "phone", "phone"]
        assert len(modem.sent) == 2 and len(phone.sent) == 2

        phone.fail_rate = 1.0  # the phone answers success: false from now on
        for i in range(2):  # round robin reaches the phone within two sends
            message_id = await _send_to(relay, 10 + i)
            message = await wait_status(relay, message_id, "sent", "failed")
            if message_id in phone.sent:
                break
        assert not phone.sent[message_id].ok
        assert message["status"] == "sent" and message["sim"] == "modem:m1"
        assert [h["status"] for h in message["history"]] == [
            "queued",
            "sending",
            "queued",
            "sending",
            "sent",
        ]
    finally:
        await phone.stop()


async def _send_to(relay: RelayClient, i: int) -> int:
    # distinct peers: sticky replies play no part
    status, body = await relay.call(
        "POST", "/api/v1/messages", json={"to": f"+1555333{i:04d}", "text": f"m{i}"}
    )
    assert status == 202, body
    return int(body["id"])


# --- 6. bad frames --------------------------------------------------------------------


async def test_bad_frames_get_clear_errors_giant_frames_close_and_others_keep_working(
    relay: RelayClient,
) -> None:
    await make_org(relay, "default")
    good = ScriptedPhone(base_url(relay), "default", SECRET, device_id="good")
    await good.start()
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(relay, org_id="default", secret_key=SECRET)) as ws,
    ):
        assert (await ws.receive_json())["type"] == "connected"

        async def answer(raw: str | bytes) -> dict[str, Any]:
            if isinstance(raw, bytes):
                await ws.send_bytes(raw)
            else:
                await ws.send_str(raw)
            reply = await ws.receive_json(timeout=5)
            assert reply["type"] == "error"
            return reply

        assert (await answer("{not json"))["code"] == "invalid_json"
        # The HTTP bodies' rules hold for frames too: no lone surrogate, no nesting past the
        # recursion limit, no numbers of thousands of digits (each was an unhandled error).
        surrogate = await answer('{"type": "inbound", "message": {"address": "+15551230001", '
                                 '"body": "\\ud800"}}')
        assert surrogate["code"] == "invalid_json" and "surrogate" in surrogate["message"]
        assert (await answer("[" * 5_000 + "]" * 5_000))["code"] == "invalid_json"
        assert (await answer('{"type": "ping", "n": ' + "9" * 5000 + "}"))["code"] == "invalid_json"
        assert (await answer("[1, 2]"))["code"] == "invalid_message"
        unknown = await answer('{"type": "selfie"}')
        assert unknown["code"] == "unknown_type" and "send_result" in unknown["message"]
        missing = await answer('{"type": "inbound", "message": {"body": "x"}}')
        assert missing["code"] == "invalid_message" and "address" in missing["message"]
        bad_id = await answer('{"type": "send_result", "id": "five", "success": true}')
        assert "id" in bad_id["message"]
        assert (await answer(b"\x00\x01"))["code"] == "binary_frame"
        await ws.send_str('{"type": "ping"}')
        assert await ws.receive_json(timeout=5) == {"type": "pong"}  # still up

        await ws.send_str(json.dumps({"type": "inbound", "pad": "x" * (70 * 1024)}))
        closing = await ws.receive(timeout=5)
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1009  # too big

    try:
        message_id = await send(relay)
        assert (await wait_status(relay, message_id, "sent"))["sim"].startswith("phone:")
        assert message_id in good.sent
    finally:
        await good.stop()


# --- liveness, replacement, pairing, extensions ------------------------------------------


async def test_a_silent_phone_goes_offline_with_a_sim_offline_event(
    relay: RelayClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(phone_ws, "HEARTBEAT_SECONDS", 0.2)
    await make_org(relay, "default")
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url(relay, org_id="default", secret_key=SECRET), autoping=False) as ws,
    ):
        assert (await ws.receive_json())["type"] == "connected"
        await ws.send_json({"type": "sims", "sims": [{"slot": 0, "number": "+15551112222"}]})
        await until(lambda: relay.relay.sims.online_count == 1)
        await until(lambda: relay.relay.sims.online_count == 0, timeout=3)  # no pongs: offline
    async with asyncio.timeout(5):  # sim.* events are written by background tasks
        while True:
            events = await relay.relay.store.events.since("default", 0)
            kinds = [e.type for e in events if e.type in ("sim.online", "sim.offline")]
            if "sim.offline" in kinds:
                break
            await asyncio.sleep(0.02)
    assert kinds == ["sim.online", "sim.offline"]


@pytest.mark.parametrize("credential", ["org secret", "phone key"])
async def test_a_reconnect_replaces_the_older_socket_of_the_same_phone(
    relay: RelayClient, credential: str
) -> None:
    await make_org(relay, "default")
    secret = SECRET if credential == "org secret" else await relay.new_key(["phone"])
    first = ScriptedPhone(base_url(relay), "default", secret, device_id="pixel", reconnect=False)
    await first.start()
    second = ScriptedPhone(base_url(relay), "default", secret, device_id="pixel")
    await second.start()
    try:
        await until(lambda: first.close_code is not None)
        assert first.close_code == 4001 and "replaced" in first.close_reason
        _, sims = await relay.call("GET", "/api/v1/sims")
        assert [s["online"] for s in sims["sims"]] == [True]
        message_id = await send(relay)
        await wait_status(relay, message_id, "sent")
        assert message_id in second.sent and first.sent == {}
    finally:
        await first.stop()
        await second.stop()


async def test_paired_phone_connects_with_its_token_and_stops_when_unpaired(
    relay: RelayClient,
) -> None:
    status, paired = await relay.call("POST", "/api/v1/phones", json={"name": "kitchen"})
    assert status == 201 and paired["token"].startswith("pt_")
    assert paired["ws_url"].startswith("ws://") and "token=" in paired["ws_url"]
    phone = ScriptedPhone(
        paired["ws_url"].split("/websocket")[0], token=paired["token"], reconnect=False
    )
    await phone.start()
    try:
        await until(lambda: relay.relay.sims.online_count == 1)
        _, listing = await relay.call("GET", "/api/v1/phones")
        (entry,) = listing["phones"]
        assert entry["name"] == "kitchen" and entry["online"] and entry["paired"]
        assert [s["number"] for s in entry["sims"]] == phone.numbers
        assert "token" not in json.dumps(listing).replace("token_prefix", "")

        status, _ = await relay.call("DELETE", f"/api/v1/phones/{entry['id']}")
        assert status == 200
        await until(lambda: phone.close_code is not None)
        assert phone.close_code == 4003
        _, listing = await relay.call("GET", "/api/v1/phones")
        assert listing["phones"] == []
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(paired["ws_url"]):
                pass
    finally:
        await phone.stop()


async def test_phones_pair_cli_prints_a_ws_url_whose_token_connects(
    relay: RelayClient, config: Config, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from relayd.__main__ import main

    config_file = tmp_path / "relayd.toml"
    config_file.write_text(storage_toml(config.storage.path), encoding="utf-8")
    args = [
        "phones",
        "pair",
        "--name",
        "hall",
        "--config",
        str(config_file),
        "--url",
        base_url(relay).replace("http://", "ws://"),
    ]
    assert await asyncio.to_thread(main, args) == 0
    url = capsys.readouterr().out.strip().splitlines()[-1]
    assert url.startswith("ws://") and "token=pt_" in url
    async with websockets.connect(url) as ws:
        assert json.loads(await ws.recv()) == {"type": "connected", "org_id": "default"}


async def test_delivery_extension_marks_the_message_delivered(relay: RelayClient) -> None:
    await make_org(relay, "default")
    phone = ScriptedPhone(base_url(relay), "default", SECRET)
    await phone.start()
    try:
        message_id = await send(relay)
        await wait_status(relay, message_id, "sent")
        await phone.send({"type": "delivery", "id": message_id, "delivered": True})
        message = await wait_status(relay, message_id, "delivered")
        assert message["delivered_at"] is not None
    finally:
        await phone.stop()


async def test_notify_extension_reaches_only_the_orgs_phones(relay: RelayClient) -> None:
    await make_org(relay, "default")
    await make_org(relay, "other")
    mine = ScriptedPhone(base_url(relay), "default", SECRET, device_id="mine")
    theirs = ScriptedPhone(base_url(relay), "other", SECRET, device_id="theirs")
    await mine.start()
    await theirs.start()
    try:
        await until(lambda: relay.relay.sims.online_count == 2)
        hub = relay.relay.phone_hub
        assert (await hub.notify("default", "Door", "front door opened")).shown == 1
        await until(lambda: any(f["type"] == "notify" for f in mine.frames))
        assert {"type": "notify", "title": "Door", "text": "front door opened"} in mine.frames
        assert not any(f["type"] == "notify" for f in theirs.frames)
    finally:
        await mine.stop()
        await theirs.stop()


async def test_phone_sim_command_registers_injects_answers_and_stops_on_sigint(
    relay: RelayClient,
) -> None:
    import signal
    import sys

    await make_org(relay, "default")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "relayd",
        "phone-sim",
        "--url",
        base_url(relay),
        "--org",
        "default",
        "--secret",
        SECRET,
        "--sims",
        "2",
        "--delay",
        "0",
        "--inject",
        "+15551112222:hello from the sim",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        await until(lambda: relay.relay.sims.online_count == 2, timeout=15)
        async with asyncio.timeout(10):
            while not (
                inbox := [
                    m["text"]
                    for m in (await relay.call("GET", "/api/v1/messages?direction=in"))[1][
                        "messages"
                    ]
                ]
            ):
                await asyncio.sleep(0.05)
        assert inbox == ["hello from the sim"]
        message_id = await send(relay, "to the sim")
        assert (await wait_status(relay, message_id, "sent", "failed"))["status"] == "sent"
        lines = []
        async with asyncio.timeout(5):
            while not any('"send_sms"' in line for line in lines):
                lines.append((await proc.stdout.readline()).decode())
        frame = json.loads(next(line for line in lines if '"send_sms"' in line))
        assert (frame["id"], frame["body"]) == (message_id, "to the sim")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 10) == 0

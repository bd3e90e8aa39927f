"""Opt-out (issue 14, acceptance 6): stop words from a real modem on a pty keep the list;
sends to a listed number are 422 `opted_out` unless the key has `ignore_optout`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from relayd.config import Config
from relayd.phone_sim import ScriptedPhone
from tests import test_cli_config, test_modem_e2e, test_phones
from tests.conftest import RelayClient

PEER = "+15557654321"
fast_modem = test_modem_e2e.fast_modem  # driver timeouts scaled down, as in the modem e2e tests
modem_relay = test_modem_e2e.modem_relay  # a relay on simulated modems on real ptys
ModemRelay = test_modem_e2e.ModemRelay


async def listed(relay: RelayClient, org_key: str | None = None) -> list[str]:
    _, body = await relay.call("GET", "/api/v1/optouts", org_key)
    return [entry["number"] for entry in body["optouts"]]


async def until_listed(relay: RelayClient, expected: bool, number: str = PEER) -> None:
    async with asyncio.timeout(10):
        while (number in await listed(relay)) != expected:
            await asyncio.sleep(0.02)


async def send(relay: RelayClient, key: str | None = None, **body: Any) -> tuple[int, Any]:
    return await relay.call("POST", "/api/v1/messages", key, json={"to": PEER, "text": "hi",
                                                                   **body})


async def test_stop_from_the_modem_makes_the_next_send_422_opted_out_and_start_lifts_it(
    modem_relay: ModemRelay,
) -> None:
    relay, [sim] = await modem_relay("sim800")
    assert (await send(relay))[0] == 202

    sim.inject_sms(PEER, "STOP")
    await until_listed(relay, True)
    status, body = await send(relay)
    assert status == 422 and body["error"]["code"] == "opted_out", body
    assert body["error"]["field"] == "to" and PEER in body["error"]["message"]
    [entry] = (await relay.call("GET", "/api/v1/optouts"))[1]["optouts"]
    [stop] = [m for m in (await relay.call("GET", "/api/v1/messages?direction=in"))[1]["messages"]
              if m["text"] == "STOP"]
    assert (entry["source"], entry["message_id"]) == ("sms", stop["id"])

    sim.inject_sms(PEER, " start! ")  # any case, spaces and end punctuation
    await until_listed(relay, False)
    assert (await send(relay))[0] == 202
    _, out = await relay.call("GET", "/api/v1/messages?direction=out")
    assert len(out["messages"]) == 2  # the refused send stored nothing


async def test_a_key_with_ignore_optout_still_sends_to_an_opted_out_number(
    relay: RelayClient,
) -> None:
    status, _ = await relay.call("POST", "/api/v1/optouts", json={"number": PEER})
    assert status == 201
    plain = await relay.new_key(["send", "read"])
    alerts = await relay.new_key(["send", "read"], ignore_optout=True)
    assert (await send(relay, plain))[1]["error"]["code"] == "opted_out"
    status, body = await send(relay, alerts)
    assert status == 202, body
    _, keys = await relay.call("GET", "/api/v1/keys")
    assert sorted(k["ignore_optout"] for k in keys["keys"]) == [False, False, True]


async def test_the_stop_confirmation_is_sent_to_the_number_that_just_opted_out(
    modem_relay: ModemRelay, config: Config,
) -> None:
    config.optout.stop_reply = "You will get no more messages. Reply START to undo."
    relay, [sim] = await modem_relay("sim800")
    sim.inject_sms(PEER, "unsubscribe")
    await until_listed(relay, True)
    async with asyncio.timeout(10):
        while not sim.sent_messages():
            await asyncio.sleep(0.02)
    [reply] = sim.sent_messages()
    assert (reply.to, reply.text) == (PEER, config.optout.stop_reply)
    assert (await send(relay))[1]["error"]["code"] == "opted_out"  # the reply passed; others not


async def test_an_orgs_own_words_replace_the_config_words_for_that_org_only(
    relay: RelayClient,
) -> None:
    shop = await relay.new_key(["send", "read", "admin"], org="shop")
    status, body = await relay.call("PUT", "/api/v1/optout-settings", shop,
                                    json={"stop_words": ["HALT"], "start_reply": "Welcome back"})
    assert status == 200 and body["stop_words"] == ["HALT"] and body["start_words"] == ["START"]
    store = relay.relay.store.inbound
    for org, text in (("shop", "STOP"), ("default", "halt"), ("shop", "halt")):
        await store.store(org, "webhook", PEER, text, encoding="gsm7", received_at=time.time(),
                          external_id=None)
    async with asyncio.timeout(10):
        while PEER not in await listed(relay, shop):
            await asyncio.sleep(0.02)
    await relay.relay.optout.stop()  # every inbound SMS above has been looked at
    assert await listed(relay) == []  # "halt" is no stop word of the default org
    assert (await relay.call("GET", "/api/v1/optout-settings"))[1]["stop_words"] == [
        "STOP", "UNSUBSCRIBE"]


async def test_the_opt_out_list_is_managed_per_org_and_only_admins_take_numbers_off(
    relay: RelayClient,
) -> None:
    sender = await relay.new_key(["send", "read"])
    other = await relay.new_key(["send", "read", "admin"], org="other")
    status, entry = await relay.call("POST", "/api/v1/optouts", sender, json={"number": PEER})
    assert status == 201 and entry["source"] == "api" and entry["message_id"] is None
    assert await listed(relay, other) == []
    assert (await send(relay, other))[0] == 202  # another org's list is not this one's
    status, _ = await relay.call("DELETE", f"/api/v1/optouts/{PEER}", sender)
    assert status == 403
    assert (await relay.call("DELETE", f"/api/v1/optouts/{PEER}", other))[0] == 404
    assert (await relay.call("DELETE", f"/api/v1/optouts/{PEER}"))[0] == 200
    assert await listed(relay) == []
    status, body = await relay.call("POST", "/api/v1/optouts", json={"number": "12"})
    assert status == 422 and body["error"]["code"] == "invalid_number"


async def test_opt_out_changes_are_events_of_the_org(relay: RelayClient) -> None:
    await relay.call("POST", "/api/v1/optouts", json={"number": PEER})
    await relay.call("DELETE", f"/api/v1/optouts/{PEER}")
    events = [e for e in await relay.relay.store.events.since("default", 0)
              if e.type.startswith("optout.")]
    assert [(e.type, e.data["number"], e.data["source"]) for e in events] == [
        ("optout.added", PEER, "api"), ("optout.removed", PEER, "api")]


def test_keys_create_ignore_optout_on_the_command_line(tmp_path: Path) -> None:
    path = test_cli_config.write_config(tmp_path)
    created = test_cli_config.relayd("keys", "create", "--name", "otp", "--ignore-optout",
                                     "--config", str(path), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    listed_keys = test_cli_config.relayd("keys", "list", "--json", "--config", str(path),
                                         cwd=tmp_path)
    [key] = [k for k in json.loads(listed_keys.stdout) if k["name"] == "otp"]
    assert key["ignore_optout"] is True


async def test_stop_words_from_a_phone_socket_and_the_seed_004_webhook_go_through_the_same_hook(
    relay: RelayClient,
) -> None:
    await test_phones.make_org(relay, "default")
    phone = ScriptedPhone(test_phones.base_url(relay), "default", test_phones.SECRET)
    await phone.start()
    try:
        await phone.inject("+15551112222", "Stop", sms_id="s1")
    finally:
        await phone.stop()
    status, _ = await relay.call("POST", "/webhook", json={
        "org_id": "default", "secret_key": test_phones.SECRET,
        "messages": [{"address": "+15559990000", "body": "UNSUBSCRIBE", "date": 1700000000000,
                      "sim_slot": 0}]})
    assert status == 200
    for number in ("+15551112222", "+15559990000"):
        await until_listed(relay, True, number)
        status, body = await send(relay, to=number)
        assert status == 422 and body["error"]["code"] == "opted_out", body
    sources = {m["peer"]: m["source"] for m in
               (await relay.call("GET", "/api/v1/messages?direction=in"))[1]["messages"]}
    assert sources == {"+15551112222": "phone", "+15559990000": "webhook"}

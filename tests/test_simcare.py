"""SIM care (issue 14): balance checks, expiry warnings and keepalives on the modem simulator.

Every test runs the relay with a ModemBackend on a simulator's real pty, configured as the
`[[modem]]` keys of a config file would configure it; webhooks go to a real local HTTP
receiver; restarts reopen the same SQLite file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from modem.simulator import ModemSimulator
from relayd.bridges.modem import ModemBackend
from relayd.config import Config, ConfigError, ModemConfig, WebhookConfig, load_config
from relayd.relay import Relay
from relayd.simcare.balance import parse_balance
from relayd.simcare.settings import parse_duration
from tests import test_modem_e2e, test_webhooks
from tests.conftest import RelayClient, RelayFactory
from tests.test_webhooks import Receiver, assert_signed

PEER = "+15557654321"
fast_modem = test_modem_e2e.fast_modem
fast_retries = test_webhooks.fast_retries
receiver = test_webhooks.receiver

CareRelay = Callable[..., Awaitable[tuple[RelayClient, ModemSimulator]]]


async def until(condition: Callable[[], Any], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


@pytest.fixture
async def simulator(tmp_path: Path) -> AsyncIterator[ModemSimulator]:
    sim = ModemSimulator(tmp_path / "modem0", own_number="+15550001000")
    await sim.start()
    yield sim
    await sim.stop()


def modem_config(sim: ModemSimulator, **care: Any) -> ModemConfig:
    return ModemConfig(name="m0", port=str(sim.link), health_interval=0.2, **care)


@pytest.fixture
def care_relay(
    simulator: ModemSimulator, make_relay: RelayFactory, config: Config, receiver: Receiver
) -> CareRelay:
    """A relay whose one SIM is the simulator, with `care` as its [[modem]] keys.

    The simulator is set up first, so it is stopped after the relay (no port torn under it).
    """

    async def factory(
        events: tuple[str, ...] = ("sim.*",), **care: Any
    ) -> tuple[RelayClient, ModemSimulator]:
        modem = modem_config(simulator, **care)
        config.modem = [modem]
        config.webhook = [WebhookConfig(url=receiver.url(), events=list(events), secret=SECRET)]
        backend = ModemBackend.from_config(modem)
        relay = await make_relay([backend])
        await until(lambda: backend.info.online)
        return relay, simulator

    return factory


SECRET = "whsec_" + "c2ltY2FyZS10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5YWI="


def hooked(receiver: Receiver, kind: str) -> list[dict[str, Any]]:
    return [h.json for h in receiver.hits if h.json["type"] == kind]


async def history(relay: RelayClient) -> list[dict[str, Any]]:
    status, body = await relay.call("GET", "/api/v1/sims/modem:m0/balance")
    assert status == 200, body
    entries: list[dict[str, Any]] = body["history"]
    return entries


async def the_sim(relay: RelayClient) -> dict[str, Any]:
    _, body = await relay.call("GET", "/api/v1/sims")
    [sim] = body["sims"]
    return dict(sim)


# --- acceptance 2: balance ----------------------------------------------------------------


async def test_balance_1_50_eur_is_stored_and_fires_balance_low_once_per_crossing_to_a_webhook(
    care_relay: CareRelay, receiver: Receiver
) -> None:
    relay, sim = await care_relay(
        events=("sim.balance_low",), balance_ussd="*100#", balance_every="1d", balance_low=2.00
    )
    sim.ussd_answers["*100#"] = "Your balance is 1.50 EUR"
    status, checked = await relay.call("POST", "/api/v1/sims/modem:m0/balance")
    assert status == 200, checked
    assert (checked["amount"], checked["currency"]) == (1.50, "EUR")
    assert checked["answer"] == "Your balance is 1.50 EUR"
    await until(lambda: hooked(receiver, "sim.balance_low"))
    [event] = hooked(receiver, "sim.balance_low")
    assert event["data"]["id"] == "modem:m0"
    assert (event["data"]["balance"]["amount"], event["data"]["threshold"]) == (1.50, 2.00)
    assert_signed(receiver.hits[0], SECRET)
    listed = await the_sim(relay)
    assert listed["balance"]["amount"] == 1.50 and listed["balance"]["currency"] == "EUR"
    assert listed["balance"]["checked_at"] == checked["at"]

    await relay.call("POST", "/api/v1/sims/modem:m0/balance")  # still low: no second event
    sim.ussd_answers["*100#"] = "Your balance is 5.00 EUR"
    await relay.call("POST", "/api/v1/sims/modem:m0/balance")  # back above
    sim.ussd_answers["*100#"] = "Your balance is 1.20 EUR"
    await relay.call("POST", "/api/v1/sims/modem:m0/balance")  # a second crossing
    await until(lambda: len(hooked(receiver, "sim.balance_low")) == 2)
    amounts = [e["amount"] for e in await history(relay)]
    assert amounts[:4] == [1.20, 5.00, 1.50, 1.50]  # newest first, every check kept
    assert [e["data"]["balance"]["amount"] for e in hooked(receiver, "sim.balance_low")] == [
        1.50, 1.20]


async def test_the_first_scheduled_check_runs_once_the_sim_is_online_and_arms_the_next_a_day_on(
    care_relay: CareRelay, receiver: Receiver
) -> None:
    relay, _ = await care_relay(balance_ussd="*100#", balance_every="1d", balance_low=2.00)
    await until(lambda: relay.relay.care.status("modem:m0").balance is not None)
    [first] = await history(relay)
    assert (first["amount"], first["currency"]) == (12.34, "EUR")  # the simulator's default
    assert hooked(receiver, "sim.balance_low") == []  # 12.34 is over 2.00
    listed = await the_sim(relay)
    next_check = dt.datetime.fromisoformat(listed["next_balance_check"]).timestamp()
    checked = dt.datetime.fromisoformat(listed["balance_checked_at"]).timestamp()
    assert next_check - checked == pytest.approx(86400, abs=1)


async def test_a_restart_does_not_check_the_balance_again_before_it_is_due(
    config: Config, simulator: ModemSimulator
) -> None:
    modem = modem_config(simulator, balance_ussd="*100#", balance_every="1d")
    config.modem = [modem]

    async def run_once() -> tuple[int, float | None]:
        relay = Relay(config)
        backend = ModemBackend.from_config(modem)
        await relay.start([backend])
        try:
            await until(lambda: relay.care.status("modem:m0").balance is not None)
            # a USSD round trip after the SIM came online: a check due now would be done by then
            await relay.calls.ussd(backend, "*135#")
            entries = await relay.care.history("modem:m0", 10)
            return len(entries), relay.care.status("modem:m0").next_balance_check
        finally:
            await relay.stop()

    assert (await run_once())[0] == 1
    count, next_check = await run_once()
    assert count == 1  # the stored check time says the next one is a day away
    assert next_check is not None and next_check > time.time() + 86000


async def test_balance_routes_refuse_unknown_sims_codes_and_sims_without_a_code(
    care_relay: CareRelay,
) -> None:
    relay, _ = await care_relay()
    status, body = await relay.call("POST", "/api/v1/sims/modem:m0/balance")
    assert status == 422 and body["error"]["code"] == "no_balance_code", body
    status, body = await relay.call("POST", "/api/v1/sims/modem:m0/balance", json={"code": "x;"})
    assert status == 422, body
    status, body = await relay.call("GET", "/api/v1/sims/modem:nope/balance")
    assert status == 404, body
    status, body = await relay.call(
        "POST", "/api/v1/sims/modem:m0/balance", json={"code": "*100#"})
    assert status == 200 and body["amount"] == 12.34  # an explicit code works without one set
    status, body = await relay.call("POST", "/api/v1/sims/modem:m0/balance", json={"code": "*9#"})
    assert status == 422 and body["error"]["code"] == "ussd_failed", body
    [failed, answered] = (await history(relay))[:2]
    assert failed["error"] and failed["amount"] is None and answered["amount"] == 12.34


# --- acceptance 3: keepalive --------------------------------------------------------------


async def test_keepalive_every_second_sends_sms_through_the_pipeline_to_the_sent_log(
    care_relay: CareRelay,
) -> None:
    relay, sim = await care_relay(
        keepalive_every="1s", keepalive_to=PEER, keepalive_text="still here"
    )
    await until(lambda: len([m for m in sim.sent_messages() if m.text == "still here"]) >= 2)
    on_air = [m for m in sim.sent_messages() if m.text == "still here"]
    assert {m.to for m in on_air} == {PEER}
    _, body = await relay.call("GET", "/api/v1/messages?direction=out")
    kept = [m for m in body["messages"] if m["source"] == "keepalive"]
    assert len(kept) >= 2
    assert {(m["peer"], m["text"], m["sim"]) for m in kept} == {(PEER, "still here", "modem:m0")}
    assert (await the_sim(relay))["keepalive_at"] is not None


async def test_a_ussd_keepalive_asks_the_network_on_its_schedule(care_relay: CareRelay) -> None:
    relay, sim = await care_relay(
        keepalive_every="1s", keepalive_kind="ussd", keepalive_ussd="*135#")
    await until(lambda: relay.relay.care.status("modem:m0").keepalive_at is not None)
    [entry, *_] = await history(relay)
    assert (entry["kind"], entry["answer"]) == ("keepalive", "Your number is +15550001111")
    assert entry["error"] is None and sim.sent_messages() == []  # no SMS for a USSD keepalive


# --- expiry -------------------------------------------------------------------------------


async def test_a_sim_expiring_within_the_warn_window_fires_sim_expiring_once(
    config: Config, simulator: ModemSimulator, receiver: Receiver
) -> None:
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).date().isoformat()
    modem = modem_config(simulator, expires_on=soon, expiry_warn="7d")
    config.modem = [modem]
    config.webhook = [WebhookConfig(url=receiver.url(), events=["sim.expiring"])]
    for _ in range(2):  # the second start finds it warned for this expiry already
        relay = Relay(config)
        backend = ModemBackend.from_config(modem)
        await relay.start([backend])
        try:
            await until(lambda: hooked(receiver, "sim.expiring"))
            care = relay.care
            await until(lambda: care.timers.due("modem:m0", "expiry") is None)  # noqa: B023
        finally:
            await relay.stop()
    [event] = hooked(receiver, "sim.expiring")
    assert event["data"]["id"] == "modem:m0" and event["data"]["by"] == "expires_on"
    assert event["data"]["expires_at"].startswith(soon)


async def test_a_top_up_period_warns_once_per_period_and_a_top_up_starts_the_next(
    care_relay: CareRelay, receiver: Receiver
) -> None:
    relay, _ = await care_relay(events=("sim.expiring",), topup_every="10d", expiry_warn="30d")
    await until(lambda: hooked(receiver, "sim.expiring"))  # 10 days left, warned 30 ahead
    status, body = await relay.call("POST", "/api/v1/sims/modem:m0/topup", json={})
    assert status == 200, body
    expires = dt.datetime.fromisoformat(body["expires_at"]).timestamp()
    assert expires == pytest.approx(time.time() + 10 * 86400, abs=60)
    await until(lambda: len(hooked(receiver, "sim.expiring")) == 2)  # the new period's warning
    first, second = hooked(receiver, "sim.expiring")
    assert first["data"]["expires_at"] < second["data"]["expires_at"]


# --- settings through the API -------------------------------------------------------------


async def test_patch_sets_care_over_the_file_keys_durably_and_refuses_bad_values(
    care_relay: CareRelay, config: Config
) -> None:
    relay, _ = await care_relay(balance_ussd="*100#", balance_low=2.0)
    status, body = await relay.call(
        "PATCH", "/api/v1/sims/modem:m0", json={"care": {"balance_low": 5.5, "expiry_warn": "3d"}})
    assert status == 200, body
    assert body["care"] == {"balance_ussd": "*100#", "balance_low": 5.5, "expiry_warn": "3d"}
    for bad, field in [
        ({"balance_every": "soon"}, "care.balance_every"),
        ({"keepalive_every": "1d"}, "care.keepalive_to"),
        ({"keepalive_to": "12"}, "care.keepalive_to"),
        ({"surprise": 1}, "care.surprise"),
    ]:
        status, error = await relay.call("PATCH", "/api/v1/sims/modem:m0", json={"care": bad})
        assert status == 422 and error["error"].get("field") == field, (bad, error)
    status, _ = await relay.call("PATCH", "/api/v1/sims/modem:none", json={"care": {}})
    assert status == 404
    stored = await relay.relay.store.simcare.states()
    assert [dict(s.settings) for s in stored] == [{"balance_low": 5.5, "expiry_warn": "3d"}]
    status, body = await relay.call(
        "PATCH", "/api/v1/sims/modem:m0", json={"care": {"balance_low": None}})
    assert body["care"]["balance_low"] == 2.0  # the file's value is back


# --- the parts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "amount", "currency"),
    [
        ("Your balance is 1.50 EUR", 1.50, "EUR"),
        ("Guthaben: 3,20 €. Gültig bis 01.03.2027", 3.20, "EUR"),
        ("Balance $4.75, valid 30 days", 4.75, "USD"),
        ("GBP 0.99 left", 0.99, "GBP"),
    ],
)
def test_the_default_regex_reads_amount_and_currency_of_common_answers(
    answer: str, amount: float, currency: str
) -> None:
    found = parse_balance(answer)
    assert found is not None and (found.value, found.currency) == (amount, currency)


def test_an_answer_without_a_currency_amount_needs_a_regex_of_its_own() -> None:
    assert parse_balance("You have 250 SMS and 1.5 GB left") is None
    found = parse_balance("Credit: 7.5 points", r"Credit: (\d+\.\d+)")
    assert found is not None and (found.value, found.currency) == (7.5, None)
    whole = parse_balance("Credit: 7.5 points", r"\d+\.\d+")  # no group: the whole match
    assert whole is not None and whole.value == 7.5
    assert parse_balance("Credit: inf", r"inf") is None


def test_durations_read_seconds_to_weeks_and_refuse_the_rest() -> None:
    assert [parse_duration(t) for t in ("30s", "15m", "6h", "1d", "7d", "2w")] == [
        30, 900, 21600, 86400, 604800, 1209600]
    for bad in ("", "1", "0d", "-1d", "1y", "d", "0.5s", "1.5d", " 1d", "10000w"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ('balance_every = "daily"', "modem.0.balance_every"),
        ('balance_ussd = "*100#;AT"', "modem.0.balance_ussd"),
        ('balance_regex = "(unclosed"', "modem.0.balance_regex"),
        ('expires_on = "2027-13-01"', "modem.0.expires_on"),
        ('keepalive_kind = "fax"', "modem.0.keepalive_kind"),
        ('keepalive_every = "30d"', "modem.keepalive_to"),
        ('expires_on = "2027-03-01"\ntopup_every = "90d"', "modem.topup_every"),
    ],
)
def test_bad_care_keys_are_refused_at_load_naming_the_key(
    tmp_path: Path, line: str, named: str
) -> None:
    path = tmp_path / "relayd.toml"
    path.write_text(f'[[modem]]\nname = "m0"\nport = "/dev/null"\n{line}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"\[{named}\]"):
        load_config(path, env={})


# --- the MCP tool and the key scopes ------------------------------------------------------


async def test_mcp_check_balance_asks_the_network_and_list_sims_shows_the_balance(
    care_relay: CareRelay,
) -> None:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import stdio_client

    from tests.test_compat_mcp import payload, server

    relay, sim = await care_relay(balance_ussd="*100#", balance_every="7d")
    sim.ussd_answers["*100#"] = "Your balance is 1.50 EUR"
    key = await relay.new_key(["send", "read"])
    async with stdio_client(server(relay, key)) as (read, write), ClientSession(read, write) as mcp:
        await mcp.initialize()
        checked = payload(await mcp.call_tool("check_balance", {}))
        [check] = checked["checks"]
        assert (check["sim"], check["amount"], check["currency"]) == ("modem:m0", 1.5, "EUR")
        named = payload(await mcp.call_tool("check_balance", {"sim": "m0"}))
        assert named["checks"][0]["answer"] == "Your balance is 1.50 EUR"
        sims = payload(await mcp.call_tool("list_sims", {}))
        assert sims["sims"][0]["balance"]["amount"] == 1.5


async def test_a_send_key_checks_with_the_sim_s_own_code_only_and_cannot_change_care(
    care_relay: CareRelay,
) -> None:
    relay, _ = await care_relay(balance_ussd="*100#")
    key = await relay.new_key(["send", "read"])
    status, body = await relay.call("POST", "/api/v1/sims/modem:m0/balance", key=key, json={})
    assert status == 200 and body["amount"] == 12.34
    status, body = await relay.call(
        "POST", "/api/v1/sims/modem:m0/balance", key=key, json={"code": "*135#"})
    assert status == 403, body  # any other code (a credit transfer?) is for admins
    status, _ = await relay.call("PATCH", "/api/v1/sims/modem:m0", key=key, json={"care": {}})
    assert status == 403
    status, _ = await relay.call("POST", "/api/v1/sims/modem:m0/topup", key=key, json={})
    assert status == 403


async def test_a_phone_sim_takes_a_keepalive_through_patch_and_cannot_take_a_balance_code(
    make_relay: RelayFactory,
) -> None:
    from relayd.phone_sim import ScriptedPhone
    from tests.test_phones import SECRET, base_url

    relay = await make_relay()
    status, _ = await relay.call(
        "POST", "/api/v1/phones", json={"org": "default", "secret": SECRET})
    assert status == 201
    phone = ScriptedPhone(base_url(relay), "default", SECRET, device_id="pixel")
    await phone.start()
    try:
        await until(lambda: relay.relay.sims.online_count == 1)
        [sim] = relay.relay.sims.all()
        path = f"/api/v1/sims/{sim.info.id}"
        status, body = await relay.call("PATCH", path, json={"care": {"balance_ussd": "*100#"}})
        assert status == 422 and body["error"]["code"] == "not_capable", body
        status, body = await relay.call("PATCH", path, json={"care": {
            "keepalive_every": "30d", "keepalive_to": PEER, "keepalive_text": "phone alive"}})
        assert status == 200, body
        await until(lambda: [s for s in phone.sent.values() if s.body == "phone alive"])
        _, listed = await relay.call("GET", "/api/v1/messages?direction=out")
        [kept] = listed["messages"]
        assert (kept["source"], kept["sim"], kept["peer"]) == ("keepalive", sim.info.id, PEER)
        [stored] = await relay.relay.store.simcare.states()
        assert dict(stored.settings)["keepalive_every"] == "30d"  # in the database: durable
    finally:
        await phone.stop()


async def test_a_top_up_time_must_have_an_offset_and_lie_between_2000_and_now(
    care_relay: CareRelay,
) -> None:
    relay, _ = await care_relay(topup_every="30d")
    for at in ("2026-01-01T00:00:00", "1999-12-31T00:00:00Z", "9999-01-01T00:00:00Z"):
        status, body = await relay.call("POST", "/api/v1/sims/modem:m0/topup", json={"at": at})
        assert status == 422 and body["error"]["field"] == "at", (at, body)
    status, body = await relay.call(
        "POST", "/api/v1/sims/modem:m0/topup", json={"at": "2026-01-01T00:00:00Z"})
    assert status == 200 and body["topup_at"] == "2026-01-01T00:00:00.000Z", body
    assert body["expires_at"] == "2026-01-31T00:00:00.000Z"


async def test_a_restart_sends_no_keepalive_before_the_next_is_due(
    config: Config, simulator: ModemSimulator
) -> None:
    modem = modem_config(simulator, keepalive_every="1d", keepalive_to=PEER)
    config.modem = [modem]

    async def run_once() -> tuple[int, float | None]:
        relay = Relay(config)
        backend = ModemBackend.from_config(modem)
        await relay.start([backend])
        try:
            await until(lambda: backend.info.online and simulator.sent_messages())
            await relay.calls.ussd(backend, "*135#")  # a keepalive due now would be queued by then
            sent = await relay.store.messages.list_messages("default", direction="out")
            due = relay.care.timers.due("modem:m0", "keepalive")
            return len([m for m in sent if m.source == "keepalive"]), due
        finally:
            await relay.stop()

    assert (await run_once())[0] == 1
    count, due = await run_once()
    assert count == 1 and len(simulator.sent_messages()) == 1
    assert due is not None and due > time.time() + 86000  # armed for a day after the first


async def test_stored_care_settings_that_no_longer_validate_fall_back_to_the_file_s(
    care_relay: CareRelay,
) -> None:
    relay, _ = await care_relay(balance_low=2.0)
    care = relay.relay.care
    await relay.relay.store.simcare.save_settings("modem:m0", {"balance_every": "1.5d"})
    await care.start()  # reads the stored state again, as the next start would
    assert care.settings("modem:m0").model_dump(exclude_none=True) == {"balance_low": 2.0}
    status, body = await relay.call("GET", "/api/v1/sims")
    assert status == 200 and body["sims"][0]["care"] == {"balance_low": 2.0}

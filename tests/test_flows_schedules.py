"""Recurring sends (issue 14, acceptance 5): RRULE schedules driven by a test clock.

The relay runs on a real SQLite file behind a real HTTP server; only "now" and the timer
come from a clock the test moves, so weeks pass in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from relayd.api.context import RELAY
from relayd.app import create_app
from relayd.config import Config
from tests.conftest import RelayClient
from tests.support.clock import ManualClock

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
PEER = "+15551230001"
WEDNESDAY_NOON = dt.datetime(2026, 12, 2, 12, 0, tzinfo=BERLIN)

Start = Callable[[], Awaitable[RelayClient]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(WEDNESDAY_NOON)


@pytest.fixture
async def start_relay(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    config: Config,
    clock: ManualClock,
) -> Start:
    """Start a relay on the test's database and clock (again after a stop: a restart)."""

    async def start() -> RelayClient:
        app = create_app(config, clock=clock)
        client = await aiohttp_client(app)
        relay = app[RELAY]
        return RelayClient(client, relay, relay.admin_key or relay.admin_key_path.read_text().strip())

    return start


async def advance(relay: RelayClient, clock: ManualClock, when: dt.datetime) -> None:
    await clock.advance_to(when, relay.relay.scheduler.idle)


async def scheduled(relay: RelayClient) -> list[dict[str, Any]]:
    _, body = await relay.call("GET", "/api/v1/messages?direction=out")
    return [m for m in body["messages"] if m["source"] == "schedule"]


def monday(day: int, month: int = 12, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, 9, 0, tzinfo=BERLIN)


async def weekly(relay: RelayClient, **extra: Any) -> dict[str, Any]:
    status, body = await relay.call("POST", "/api/v1/schedules", json={
        "name": "standup", "rule": "FREQ=WEEKLY;BYDAY=MO", "start": "2026-12-07T09:00:00",
        "timezone": "Europe/Berlin", "to": PEER, "text": "Stand-up at 9:30", **extra})
    assert status == 201, body
    return body


async def test_a_weekly_send_fires_every_monday_at_nine_in_its_zone_and_pause_stops_it(
    start_relay: Start, clock: ManualClock
) -> None:
    relay = await start_relay()
    schedule = await weekly(relay)
    assert schedule["next_run"] == "2026-12-07T09:00:00+01:00" and schedule["paused"] is False

    await advance(relay, clock, monday(7) - dt.timedelta(seconds=1))
    assert await scheduled(relay) == []  # not a second early

    await advance(relay, clock, monday(7))
    [first] = await scheduled(relay)
    assert (first["peer"], first["text"], first["schedule_id"]) == (PEER, "Stand-up at 9:30",
                                                                   schedule["id"])
    assert first["idempotency_key"] == f"schedule-{schedule['id']}-2026-12-07T09:00:00+01:00"
    _, current = await relay.call("GET", f"/api/v1/schedules/{schedule['id']}")
    assert current["next_run"] == "2026-12-14T09:00:00+01:00" and current["runs"] == 1

    await advance(relay, clock, monday(28) + dt.timedelta(hours=3))
    assert [m["idempotency_key"][-25:] for m in await scheduled(relay)] == [
        f"2026-12-{d:02d}T09:00:00+01:00" for d in (7, 14, 21, 28)]

    status, paused = await relay.call("PATCH", f"/api/v1/schedules/{schedule['id']}",
                                      json={"paused": True})
    assert status == 200 and paused["paused"] is True and paused["next_run"] is None
    await advance(relay, clock, monday(18, 1, 2027) + dt.timedelta(hours=1))
    assert len(await scheduled(relay)) == 4  # three Mondays passed while paused: nothing sent

    status, resumed = await relay.call("PATCH", f"/api/v1/schedules/{schedule['id']}",
                                       json={"paused": False})
    assert status == 200 and resumed["next_run"] == "2027-01-25T09:00:00+01:00"  # from now on
    await advance(relay, clock, monday(25, 1, 2027))
    assert len(await scheduled(relay)) == 5


async def test_a_weekly_send_keeps_nine_oclock_local_across_the_daylight_saving_change(
    start_relay: Start, clock: ManualClock
) -> None:
    relay = await start_relay()
    schedule = await weekly(relay, start="2027-03-22T09:00:00")
    await advance(relay, clock, monday(5, 4, 2027))
    keys = [m["idempotency_key"].split("-", 2)[2] for m in await scheduled(relay)]
    assert keys == ["2027-03-22T09:00:00+01:00", "2027-03-29T09:00:00+02:00",
                    "2027-04-05T09:00:00+02:00"]
    assert schedule["next_run"] == "2027-03-22T09:00:00+01:00"


async def test_a_relay_down_over_three_runs_fires_once_late_then_keeps_the_rule(
    start_relay: Start, clock: ManualClock
) -> None:
    relay = await start_relay()
    schedule = await weekly(relay)
    await relay.http.close()  # the relay stops before the first run
    await clock.advance_to(monday(23) - dt.timedelta(days=1), _nothing)  # down over 7, 14, 21

    relay = await start_relay()  # the same database: a restart
    await relay.relay.scheduler.idle()
    [late] = await scheduled(relay)
    assert late["idempotency_key"].endswith("2026-12-07T09:00:00+01:00")  # the run it missed
    _, current = await relay.call("GET", f"/api/v1/schedules/{schedule['id']}")
    assert current["next_run"] == "2026-12-28T09:00:00+01:00" and current["runs"] == 1
    await advance(relay, clock, monday(28))
    assert len(await scheduled(relay)) == 2


async def _nothing() -> None:
    return None


async def test_a_monthly_send_to_a_group_with_a_template_fills_each_contact(
    start_relay: Start, clock: ManualClock
) -> None:
    relay = await start_relay()
    await relay.call("POST", "/api/v1/templates",
                     json={"name": "rent", "text": "Hi {name}, rent of {amount} is due"})
    ids = []
    for number, name in (("+15551230001", "Ann"), ("+15551230002", "Bob")):
        _, contact = await relay.call("POST", "/api/v1/contacts",
                                      json={"number": number, "name": name})
        ids.append(contact["id"])
    _, group = await relay.call("POST", "/api/v1/groups", json={"name": "tenants"})
    await relay.call("POST", f"/api/v1/groups/{group['id']}/members", json={"contacts": ids})
    status, body = await relay.call("POST", "/api/v1/schedules", json={
        "rule": "FREQ=MONTHLY;BYMONTHDAY=1", "start": "2027-01-01T08:00:00+01:00",
        "timezone": "Europe/Berlin", "group": "tenants", "template": "rent",
        "vars": {"amount": "800 EUR"}})
    assert status == 201, body
    await advance(relay, clock, dt.datetime(2027, 2, 1, 8, 0, tzinfo=BERLIN))
    texts = sorted((m["peer"], m["text"]) for m in await scheduled(relay))
    assert texts == sorted(
        [(n, f"Hi {who}, rent of 800 EUR is due") for n, who in
         (("+15551230001", "Ann"), ("+15551230002", "Bob"))] * 2)


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"rule": "FREQ=HOURLY"}, "rule", "invalid_rule"),
        ({"rule": "FREQ=DAILY;INTERVAL=0"}, "rule", "invalid_rule"),
        ({"rule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"}, "rule", "invalid_rule"),
        ({"rule": "DTSTART:20260101T000000Z"}, "rule", "invalid_rule"),
        ({"timezone": "Mars/Olympus"}, "timezone", "invalid_timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone", "invalid_timezone"),
        ({"to": "12"}, "to", "invalid_number"),
        ({"text": None, "template": "nope"}, "template", "unknown_template"),  # 404
        ({"start": "2020-01-01T09:00:00"}, "start", "invalid_start"),
    ],
    ids=["hourly", "interval-0", "never-matches", "dtstart", "zone", "zone-path", "number",
         "template", "old-start"],
)
async def test_a_schedule_that_could_not_run_is_refused_when_created_and_nothing_is_stored(
    start_relay: Start, change: dict[str, Any], field: str, code: str
) -> None:
    relay = await start_relay()
    body = {"rule": "FREQ=WEEKLY;BYDAY=MO", "start": "2026-12-07T09:00:00",
            "timezone": "Europe/Berlin", "to": PEER, "text": "x"}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    status, answer = await relay.call("POST", "/api/v1/schedules", json=body)
    assert status == (404 if code == "unknown_template" else 422), answer
    assert answer["error"]["field"] == field, answer
    assert answer["error"]["code"] == code, answer
    assert (await relay.call("GET", "/api/v1/schedules"))[1] == {"schedules": []}


async def test_a_deleted_schedule_sends_nothing_and_other_orgs_do_not_see_schedules(
    start_relay: Start, clock: ManualClock
) -> None:
    relay = await start_relay()
    schedule = await weekly(relay)
    other = await relay.new_key(["send", "read"], org="other")
    assert (await relay.call("GET", "/api/v1/schedules", other))[1] == {"schedules": []}
    status, _ = await relay.call("DELETE", f"/api/v1/schedules/{schedule['id']}", other)
    assert status == 404
    status, _ = await relay.call("DELETE", f"/api/v1/schedules/{schedule['id']}")
    assert status == 200
    await advance(relay, clock, monday(14))
    assert await scheduled(relay) == []
    assert clock.pending() == []  # no timer left armed for it


async def test_a_run_whose_key_was_revoked_records_why_and_the_schedule_goes_on(
    start_relay: Start, clock: ManualClock
) -> None:
    relay = await start_relay()
    key = await relay.new_key(["send", "read"])
    status, schedule = await relay.call("POST", "/api/v1/schedules", key, json={
        "rule": "FREQ=DAILY", "start": "2026-12-03T07:30:00", "timezone": "Europe/Berlin",
        "to": PEER, "text": "daily"})
    assert status == 201, schedule
    _, keys = await relay.call("GET", "/api/v1/keys")
    key_id = next(k["id"] for k in keys["keys"] if key.startswith(k["prefix"]) and k["name"] == "t")
    await relay.call("DELETE", f"/api/v1/keys/{key_id}")
    await advance(relay, clock, dt.datetime(2026, 12, 3, 8, 0, tzinfo=BERLIN))
    _, current = await relay.call("GET", f"/api/v1/schedules/{schedule['id']}")
    assert current["last_error"] == "the API key that created this schedule was revoked"
    assert current["next_run"] == "2026-12-04T07:30:00+01:00" and await scheduled(relay) == []

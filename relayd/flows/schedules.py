"""Recurring sends: RRULE rules (daily, weekly, monthly) from a start time in a time zone.

A schedule fires a normal send through `SendService.submit` (source `schedule`, the
message's `schedule_id` set) with the key that created it, so its scopes, allowlist, rate
limit and the opt-out list apply as they do to any send (opted-out recipients are skipped).

Timing: one timer, armed for the earliest `next_run` of every running schedule (a timer
handle from the clock, re-armed after each run and each API change: no poll loop). The
wall clock can step (NTP, a Pi without RTC booting), so the timer is never set further than
`MAX_TIMER` ahead: it then wakes, finds nothing due and is set again.

Missed runs: a relay that was down (or a schedule resumed after a pause) fires a run that
fell due while it could not, once, late, and then continues at the next occurrence after
now; runs missed in between are not made up. Each run's idempotency key names its
occurrence, so a crash between storing the run and recording it never sends it twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import time
import zoneinfo
from collections.abc import Callable
from typing import Any, Protocol

from dateutil.rrule import rrule, rrulestr

from relayd.exceptions import InvalidField, Refused
from relayd.sending import SendOrder, SendService
from relayd.store import ApiKey, Store
from relayd.store.schedules import NewSchedule, ScheduleRow

_LOGGER = logging.getLogger(__name__)
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY")
# The RRULE parts taken, each with what its values may be. Fewer than RFC 5545 on purpose:
# dateutil walks period by period up to the year 9999 looking for a rule that can never
# match (BYSETPOS=366, BYMONTH=2 with BYMONTHDAY=30, ...), seconds of CPU; these parts and
# the combination checks of `_feasible` keep every accepted rule matching within months.
DAYS = r"(MO|TU|WE|TH|FR|SA|SU)"
PARTS = {
    "FREQ": r"DAILY|WEEKLY|MONTHLY",
    "INTERVAL": r"[1-9][0-9]?",
    "COUNT": r"[1-9][0-9]{0,4}",
    "UNTIL": r"[0-9]{8}(T[0-9]{6}Z)?",
    "BYDAY": rf"([+-]?[1-4])?{DAYS}(,([+-]?[1-4])?{DAYS})*",
    "BYMONTHDAY": r"-?([1-9]|[12][0-9]|3[01])(,-?([1-9]|[12][0-9]|3[01]))*",
    "BYMONTH": r"([1-9]|1[0-2])(,([1-9]|1[0-2]))*",
    "BYHOUR": r"([0-9]|1[0-9]|2[0-3])(,([0-9]|1[0-9]|2[0-3]))*",
    "WKST": DAYS,
}
MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # fmt: skip
HORIZON = dt.timedelta(days=4 * 366 + 1)  # a rule with no run this far ahead counts as ended
PAST_START = dt.timedelta(days=366)  # how far back a start may be
FUTURE_START = dt.timedelta(days=3653)  # and how far ahead
MAX_TIMER = 3600.0  # seconds: the timer wakes at least this often (wall clock steps)
SOURCE = "schedule"
RULE = re.compile(r"^[A-Za-z0-9=;,+-]{1,300}$")


class Timer(Protocol):
    """A pending call of a clock."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Where "now" comes from, and timers at a wall-clock time: injectable for tests."""

    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer: ...


class SystemClock:
    """The real clock: `time.time()` and the event loop's timers."""

    def now(self) -> float:
        """Epoch seconds."""
        return time.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Call `callback` at `when` (epoch seconds), or sooner: at most MAX_TIMER from now."""
        delay = min(max(0.0, when - time.time()), MAX_TIMER)
        return asyncio.get_running_loop().call_later(delay, callback)


# --- rules ----------------------------------------------------------------------------------


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone `name`; InvalidField when there is none."""
    try:
        if not re.fullmatch(r"[A-Za-z0-9_+/-]{1,64}", name) or ".." in name:
            raise ValueError(name)
        return zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise InvalidField(
            "timezone", f"timezone: '{name}' is not an IANA time zone such as Europe/Berlin",
            "invalid_timezone",
        ) from None  # fmt: skip


def local_start(start: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The first run's wall time in `tz` (an offset given with `start` is converted)."""
    if start.tzinfo is not None:
        start = start.astimezone(tz)
    return start.replace(tzinfo=tz, microsecond=0)


def parse_rule(rule: str, start: dt.datetime) -> rrule:
    """An RRULE (`FREQ=WEEKLY;BYDAY=MO`, daily/weekly/monthly) from `start`; InvalidField."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]

    def refuse(why: str) -> InvalidField:
        return InvalidField("rule", f"rule: {why}", "invalid_rule")

    if not RULE.match(text):
        raise refuse("write an RRULE such as FREQ=WEEKLY;BYDAY=MO (at most 300 characters)")
    parts: dict[str, str] = {}
    for part in text.upper().split(";"):
        name, _, value = part.partition("=")
        if name not in PARTS:
            raise refuse(f"'{part[:40]}' is not supported; use {', '.join(sorted(PARTS))}")
        if name in parts:
            raise refuse(f"{name} is given twice")
        if name == "FREQ" and value not in FREQUENCIES:
            raise refuse(f"FREQ must be one of {', '.join(FREQUENCIES)}")
        if not re.fullmatch(PARTS[name], value):
            raise refuse(f"'{part[:40]}': not a value this relay takes for {name}")
        parts[name] = value
    if "FREQ" not in parts:
        raise refuse(f"FREQ must be one of {', '.join(FREQUENCIES)}")
    _feasible(parts, refuse)
    try:
        parsed = rrulestr(text, dtstart=start)
    except (ValueError, TypeError, OverflowError, IndexError) as exc:
        raise refuse(str(exc)) from None
    assert isinstance(parsed, rrule)
    return parsed


def _feasible(parts: dict[str, str], refuse: Callable[[str], InvalidField]) -> None:
    """Refuse combinations under which a rule might never match (see PARTS)."""
    interval = int(parts.get("INTERVAL", "1"))
    if "BYMONTHDAY" in parts and "BYDAY" in parts:
        raise refuse("give BYMONTHDAY or BYDAY, not both")
    if interval > 1 and (("BYDAY" in parts and parts["FREQ"] == "DAILY") or "BYMONTH" in parts):
        raise refuse("INTERVAL > 1 goes with BYDAY only for FREQ=WEEKLY, and not with BYMONTH")
    if any(c in "+-1234" for c in parts.get("BYDAY", "")) and parts["FREQ"] != "MONTHLY":
        raise refuse("a numbered BYDAY (1MO, -1FR) needs FREQ=MONTHLY")
    if "BYMONTHDAY" in parts:
        days = [abs(int(d)) for d in parts["BYMONTHDAY"].split(",")]
        months = [int(m) for m in parts.get("BYMONTH", "1,2,3,4,5,6,7,8,9,10,11,12").split(",")]
        if not any(d <= MONTH_DAYS[m - 1] for d in days for m in months):
            raise refuse("BYMONTHDAY names no day of the months in BYMONTH")
        if max(days) > 28 and min(days) > 28 and months == [2]:
            raise refuse("February 29 comes only in leap years: use BYMONTHDAY=-1")


def next_run(rule: rrule, after: dt.datetime) -> dt.datetime | None:
    """The first occurrence strictly after `after`; None when there is none within HORIZON."""
    limit = after + HORIZON
    # dateutil keeps the rule's own end (UNTIL, COUNT) only in these attributes
    until: dt.datetime | None = getattr(rule, "_until", None)
    bounded = rule.replace(count=None, until=limit if until is None else min(until, limit))
    probe = next(iter(bounded.xafter(after, count=1)), None)
    if probe is None:
        return None  # also keeps rules that can never match from iterating to year 9999
    if getattr(rule, "_count", None) is None:
        return probe
    return next(iter(rule.xafter(after, count=1)), None)


def first_run(
    rule: rrule, now: float, tz: zoneinfo.ZoneInfo, *, inclusive: bool = True
) -> dt.datetime | None:
    """The first occurrence at (when `inclusive`) or after `now`."""
    at = dt.datetime.fromtimestamp(now, tz)
    return next_run(rule, at - dt.timedelta(microseconds=1) if inclusive else at)


# --- the scheduler ----------------------------------------------------------------------------


class Scheduler:
    """Fires due schedules through the send pipeline; one timer for the earliest next run."""

    def __init__(self, store: Store, sending: SendService, clock: Clock | None = None) -> None:
        self.store = store
        self.sending = sending
        self.clock: Clock = clock or SystemClock()
        self._timer: Timer | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False

    async def start(self) -> None:
        """Fire what fell due while the relay was down (once each), then arm the timer."""
        self._running = True
        await self._run_due()

    async def stop(self) -> None:
        """Cancel the timer; let a run in progress finish."""
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.idle()

    async def idle(self) -> None:
        """Return when no run and no re-arming is in progress."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def wake(self) -> None:
        """Schedules changed (created, paused, deleted): run what is due and re-arm."""
        if not self._running:
            return
        task = asyncio.create_task(self._run_due(), name="schedules")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def create(
        self, key: ApiKey, name: str, rule: str, start: dt.datetime, timezone: str,
        send: dict[str, Any],
    ) -> ScheduleRow:  # fmt: skip
        """Check the rule and the send (as a run would make it), store, re-arm the timer."""
        tz = zone(timezone)
        now = self.clock.now()
        try:
            first_local = local_start(start, tz)
            at = first_local.timestamp()
        except (OverflowError, ValueError):
            at = 0.0
        if not now - PAST_START.total_seconds() <= at <= now + FUTURE_START.total_seconds():
            raise InvalidField(
                "start", "start: from a year ago to ten years ahead", "invalid_start"
            )
        parsed = parse_rule(rule, first_local)
        try:
            first = first_run(parsed, now, tz)
        except (ValueError, IndexError, OverflowError):
            first = None
        if first is None:
            raise InvalidField(
                "rule", "rule: it has no run in the next four years", "invalid_rule"
            )
        await self.sending.check(key, [send_order(send, None, None)])  # refused now, not later
        row = await self.store.schedules.create(
            NewSchedule(key.org, key.id, name, rule.strip(), first_local.replace(tzinfo=None)
                        .isoformat(), timezone, send, first.timestamp())
        )  # fmt: skip
        self.wake()
        return row

    async def update(
        self, org: str, schedule_id: int, *, paused: bool | None, name: str | None
    ) -> ScheduleRow | None:
        """Pause (no next run) or resume (the next run after now), or rename."""
        current = await self.store.schedules.get(org, schedule_id)
        if current is None:
            return None
        now_paused = current.paused if paused is None else paused
        upcoming = None if now_paused else (
            current.next_run if not current.paused else self.next_after_now(current)
        )  # fmt: skip
        row = await self.store.schedules.set_state(
            org, schedule_id, paused=paused, name=name, next_run=upcoming
        )
        self.wake()
        return row

    async def delete(self, org: str, schedule_id: int) -> bool:
        """Remove a schedule; its timer is re-armed for the others."""
        done = await self.store.schedules.delete(org, schedule_id)
        self.wake()
        return done

    def rule_of(self, schedule: ScheduleRow) -> rrule:
        """A stored schedule's rule from its start in its time zone."""
        tz = zone(schedule.timezone)
        start = dt.datetime.fromisoformat(schedule.start_local).replace(tzinfo=tz)
        return parse_rule(schedule.rule, start)

    def next_after_now(self, schedule: ScheduleRow, done: float | None = None) -> float | None:
        """When the schedule runs next, counted from now (after `done`, the run just made)."""
        now = self.clock.now()
        after = now if done is None else max(now, done)
        found = first_run(
            self.rule_of(schedule), after, zone(schedule.timezone), inclusive=done is None
        )
        return None if found is None else found.timestamp()

    async def _run_due(self) -> None:
        async with self._lock:
            try:
                for schedule in await self.store.schedules.due(self.clock.now()):
                    await self._fire(schedule)
            except Exception:  # a store error: the timer below tries again
                _LOGGER.exception("Schedules: a run could not be made or recorded")
            try:
                await self._arm()
            except Exception:  # the store went away while stopping: the next start catches up
                _LOGGER.exception("Schedules: the timer could not be set")

    async def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._running:
            return
        at = await self.store.schedules.next_due()
        if at is not None:
            self._timer = self.clock.call_at(at, self.wake)

    async def _fire(self, schedule: ScheduleRow) -> None:
        assert schedule.next_run is not None  # only due schedules are fired
        occurrence = dt.datetime.fromtimestamp(schedule.next_run, zone(schedule.timezone))
        error: str | None = None
        key = await self.store.keys.get_active(schedule.key_id)
        if key is None:
            error = "the API key that created this schedule was revoked"
        else:
            try:
                await self.sending.submit(key, order_of(schedule, occurrence))
            except Refused as exc:
                error = exc.message
            except Exception:  # a run must not stop the timer; the next one is tried
                _LOGGER.exception("Schedule %d: run failed", schedule.id)
                error = "internal error; see the log"
        if error is not None:
            _LOGGER.warning("Schedule %d: run of %s not sent: %s", schedule.id,
                            occurrence.isoformat(), error)  # fmt: skip
        try:
            upcoming = self.next_after_now(schedule, schedule.next_run)  # missed: not made up
        except (InvalidField, ValueError, IndexError, OverflowError):
            upcoming = None  # a rule that no longer reads (a zone gone from tzdata): it ends
        await self.store.schedules.record_run(schedule.id, schedule.next_run, upcoming, error)


def order_of(schedule: ScheduleRow, occurrence: dt.datetime) -> SendOrder:
    """The send of one run, as the schedule holds it."""
    return send_order(
        schedule.send, schedule.id, f"schedule-{schedule.id}-{occurrence.isoformat()}"
    )


def send_order(send: dict[str, Any], schedule_id: int | None, key: str | None) -> SendOrder:
    """A schedule's stored send as an order (recipients who opted out are skipped)."""
    return SendOrder(
        to=list(send.get("to") or []),
        text=send.get("text") or "",
        template=send.get("template"),
        vars=send.get("vars"),
        group=send.get("group"),
        sim=send.get("sim"),
        source=SOURCE,
        schedule_id=schedule_id,
        idempotency_key=key,
        optout="skip",
    )


"""Schedule routes: recurring sends (RRULE), listed with their next run, paused, deleted."""

from __future__ import annotations

from aiohttp import web

from relayd.api.context import key_of, relay_of
from relayd.api.flow_models import (
    Schedule,
    ScheduleCreate,
    ScheduleList,
    ScheduleUpdate,
    check_send_fields,
)
from relayd.api.flow_presenters import schedule_json
from relayd.api.framework import Api, id_param, json_response, read_json, validate
from relayd.api.lookups import found, removed
from relayd.api.models import Ok

TAGS = ("schedules",)
NOT_FOUND = {404: "No such schedule"}


def register(api: Api) -> None:
    """Add the schedule routes."""
    route = api.route
    route("GET", "/api/v1/schedules", summary="List recurring sends with their next run",
          tags=TAGS, scope="read", response=ScheduleList)(list_schedules)
    route("POST", "/api/v1/schedules", summary="Create a recurring send (RRULE)", tags=TAGS,
          scope="send", body=ScheduleCreate, response=Schedule, status=201,
          extra_responses={404: "No such template or contact group"})(create_schedule)
    route("GET", "/api/v1/schedules/{id}", summary="One recurring send", tags=TAGS,
          scope="read", response=Schedule, extra_responses=NOT_FOUND)(get_schedule)
    route("PATCH", "/api/v1/schedules/{id}", summary="Pause, resume or rename a recurring send",
          tags=TAGS, scope="send", body=ScheduleUpdate, response=Schedule,
          extra_responses=NOT_FOUND)(update_schedule)
    route("DELETE", "/api/v1/schedules/{id}", summary="Delete a recurring send (its messages "
          "stay)", tags=TAGS, scope="send", response=Ok,
          extra_responses=NOT_FOUND)(delete_schedule)


async def list_schedules(request: web.Request) -> web.Response:
    """GET /api/v1/schedules."""
    rows = await relay_of(request).store.schedules.list_schedules(key_of(request).org)
    return json_response({"schedules": [schedule_json(r) for r in rows]})


async def create_schedule(request: web.Request) -> web.Response:
    """POST /api/v1/schedules: refused now for what a run would be refused for."""
    body = validate(ScheduleCreate, await read_json(request))
    to = check_send_fields(body)
    send = {"to": to or None, "group": body.group, "text": body.text,
            "template": body.template, "vars": body.vars, "sim": body.sim}
    row = await relay_of(request).scheduler.create(
        key_of(request), body.name, body.rule, body.start, body.timezone, send
    )
    return json_response(schedule_json(row), 201)


async def get_schedule(request: web.Request) -> web.Response:
    """GET /api/v1/schedules/{id}."""
    schedules = relay_of(request).store.schedules
    row = await schedules.get(key_of(request).org, id_param(request, "schedule"))
    return json_response(schedule_json(found(row, "schedule")))


async def update_schedule(request: web.Request) -> web.Response:
    """PATCH /api/v1/schedules/{id}."""
    schedule_id = id_param(request, "schedule")
    body = validate(ScheduleUpdate, await read_json(request))
    row = await relay_of(request).scheduler.update(
        key_of(request).org, schedule_id, paused=body.paused, name=body.name
    )
    return json_response(schedule_json(found(row, "schedule")))


async def delete_schedule(request: web.Request) -> web.Response:
    """DELETE /api/v1/schedules/{id}."""
    schedule_id = id_param(request, "schedule")
    scheduler = relay_of(request).scheduler
    return removed(await scheduler.delete(key_of(request).org, schedule_id), "schedule")

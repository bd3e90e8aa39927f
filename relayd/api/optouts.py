"""Opt-out routes: the list of numbers that may not be sent to, and the org's keyword settings."""

from __future__ import annotations

from aiohttp import web

from relayd.api.context import key_of, relay_of
from relayd.api.flow_models import (
    Optout,
    OptoutCreate,
    OptoutList,
    OptoutSettingsBody,
    OptoutSettingsInfo,
)
from relayd.api.flow_presenters import optout_json, optout_settings_json
from relayd.api.framework import Api, json_response, read_json, validate
from relayd.api.lookups import removed
from relayd.api.models import Ok
from relayd.exceptions import InvalidField, NotFound
from relayd.store.optouts import OptoutOverride

TAGS = ("opt-out",)


def register(api: Api) -> None:
    """Add the opt-out routes."""
    route = api.route
    route("GET", "/api/v1/optouts", summary="The org's opt-out list, newest first", tags=TAGS,
          scope="read", response=OptoutList)(list_optouts)
    route("POST", "/api/v1/optouts", summary="Put a number on the opt-out list", tags=TAGS,
          scope="send", body=OptoutCreate, response=Optout, status=201)(add_optout)
    route("DELETE", "/api/v1/optouts/{number}",
          summary="Take a number off the opt-out list (admin: it overrides the person's STOP)",
          tags=TAGS, scope="admin", response=Ok,
          extra_responses={404: "Not on the list"})(remove_optout)
    route("GET", "/api/v1/optout-settings", summary="Opt-out words and replies in force",
          tags=TAGS, scope="read", response=OptoutSettingsInfo)(get_settings)
    route("PUT", "/api/v1/optout-settings",
          summary="The org's own opt-out words and replies (null: the config file's)",
          tags=TAGS, scope="admin", body=OptoutSettingsBody,
          response=OptoutSettingsInfo)(put_settings)


async def list_optouts(request: web.Request) -> web.Response:
    """GET /api/v1/optouts."""
    rows = await relay_of(request).store.optouts.list_optouts(key_of(request).org)
    return json_response({"optouts": [optout_json(r) for r in rows]})


async def add_optout(request: web.Request) -> web.Response:
    """POST /api/v1/optouts."""
    relay = relay_of(request)
    body = validate(OptoutCreate, await read_json(request))
    number = relay.optout.normalize(body.number)
    row = await relay.store.optouts.add(key_of(request).org, number, "api")
    return json_response(optout_json(row), 201)


async def remove_optout(request: web.Request) -> web.Response:
    """DELETE /api/v1/optouts/{number}."""
    relay = relay_of(request)
    raw = request.match_info["number"]
    try:
        number = relay.optout.normalize(raw)
    except InvalidField:  # a path that is no number names nothing on the list
        raise NotFound("no such number on the opt-out list") from None
    done = await relay.store.optouts.remove(key_of(request).org, number, "api")
    return removed(done, "number on the opt-out list")


async def get_settings(request: web.Request) -> web.Response:
    """GET /api/v1/optout-settings."""
    settings = await relay_of(request).optout.settings(key_of(request).org)
    return json_response(optout_settings_json(settings))


async def put_settings(request: web.Request) -> web.Response:
    """PUT /api/v1/optout-settings."""
    relay = relay_of(request)
    body = validate(OptoutSettingsBody, await read_json(request))
    if any(not w.strip() for w in (body.stop_words or []) + (body.start_words or [])):
        raise InvalidField("stop_words", "stop_words/start_words: a word is only spaces")
    override = OptoutOverride(
        enabled=body.enabled,
        stop_words=None if body.stop_words is None else tuple(w.strip() for w in body.stop_words),
        start_words=(
            None if body.start_words is None else tuple(w.strip() for w in body.start_words)
        ),
        stop_reply=body.stop_reply,
        start_reply=body.start_reply,
    )
    org = key_of(request).org
    await relay.store.optouts.set_settings(org, override)
    return json_response(optout_settings_json(await relay.optout.settings(org)))

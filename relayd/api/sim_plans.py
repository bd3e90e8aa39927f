"""Per-SIM plans through the API: `PATCH /api/v1/sims/{id}` sets a SIM's send caps."""

from __future__ import annotations

from aiohttp import web

from relayd.api.context import key_of, relay_of
from relayd.api.framework import Api, json_response, read_json, validate
from relayd.api.models import Sim, SimPlanUpdate
from relayd.dispatch.router import sim_matches
from relayd.exceptions import ApiError


def register(api: Api) -> None:
    """Add the SIM plan route."""
    api.route(
        "PATCH",
        "/api/v1/sims/{id}",
        summary="Set a SIM's daily_cap / monthly_cap (stored; wins over the config's)",
        tags=("sims",),
        scope="admin",
        body=SimPlanUpdate,
        response=Sim,
        extra_responses={404: "No such SIM in the key's org"},
    )(update_sim)


async def update_sim(request: web.Request) -> web.Response:
    """PATCH /api/v1/sims/{id}: a field left out keeps its value, null gives the config's back."""
    relay = relay_of(request)
    key = key_of(request)
    body = validate(SimPlanUpdate, await read_json(request))
    wanted = request.match_info["id"]
    sim = next((s for s in relay.sims.for_org(key.org) if sim_matches(s, wanted)), None)
    if sim is None:
        raise ApiError(404, "not_found", f"no SIM '{wanted}' in this org")
    caps = relay.outbox.caps
    current = caps.stored(sim.info.id)
    given = body.model_fields_set
    daily = body.daily_cap if "daily_cap" in given else current[0]
    monthly = body.monthly_cap if "monthly_cap" in given else current[1]
    await caps.set_caps(sim.info.id, daily, monthly)
    relay.outbox.wake()  # a raised cap may free waiting messages at once
    return json_response(relay.sims.snapshot(sim))

"""Admin routes: API keys of the admin's org."""

from __future__ import annotations

from aiohttp import web

from relayd.api.context import key_of, relay_of
from relayd.api.framework import Api, id_param, json_response, read_json, validate
from relayd.api.models import KeyCreate, KeyCreated, KeyList, Ok
from relayd.api.presenters import key_json
from relayd.exceptions import ApiError

TAGS = ("admin",)


def register(api: Api) -> None:
    """Add the admin routes."""
    api.route(
        "GET",
        "/api/v1/keys",
        summary="List API keys of the org",
        tags=TAGS,
        scope="admin",
        response=KeyList,
    )(list_keys)
    api.route(
        "POST",
        "/api/v1/keys",
        summary="Create an API key (its secret is shown once)",
        tags=TAGS,
        scope="admin",
        body=KeyCreate,
        response=KeyCreated,
        status=201,
    )(create_key)
    api.route(
        "DELETE",
        "/api/v1/keys/{id}",
        summary="Revoke an API key",
        tags=TAGS,
        scope="admin",
        response=Ok,
        extra_responses={404: "No such key"},
    )(revoke_key)


async def list_keys(request: web.Request) -> web.Response:
    """GET /api/v1/keys."""
    keys = await relay_of(request).store.keys.list_keys(key_of(request).org)
    return json_response({"keys": [key_json(k) for k in keys]})


async def create_key(request: web.Request) -> web.Response:
    """POST /api/v1/keys: keys of other orgs only from the `default` org's admins."""
    relay = relay_of(request)
    admin = key_of(request)
    body = validate(KeyCreate, await read_json(request))
    org = body.org or admin.org
    if org != admin.org and admin.org != "default":
        raise ApiError(
            403, "forbidden", "only admins of the 'default' org create keys for other orgs", "org"
        )
    key, secret = await relay.store.keys.create_key(
        org,
        body.name,
        body.scopes,
        allowlist=body.allowlist,
        rate_limit=body.rate_limit,
        allow_short_codes=body.allow_short_codes,
        ignore_optout=body.ignore_optout,
    )
    return json_response({"ok": True, "key": secret, "info": key_json(key)}, 201)


async def revoke_key(request: web.Request) -> web.Response:
    """DELETE /api/v1/keys/{id}."""
    relay = relay_of(request)
    key_id = id_param(request, "active key")
    if not await relay.store.keys.revoke_key(key_id, key_of(request).org):
        raise ApiError(404, "not_found", "no such active key")
    relay.auth.forget(key_id)
    return json_response({"ok": True})

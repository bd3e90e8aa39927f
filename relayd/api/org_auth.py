"""Credentials of the seed-004 routes (SPEC §11): org secret, API key of the org, or device token.

A phone (`/websocket`, `/webhook`) reads the org's outbound texts and creates inbound ones, so
those routes ask for `scope="phone"`: the org secret, a device token, or a key with `phone`
(or `admin`); a `read` or `send` key is a 403.

These routes are `auth="secret"`: the key middleware lets them through, and each handler calls
`authenticate_org` before it looks at the body, so a request without credentials is a 401.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aiohttp import web

from relayd.api.context import relay_of
from relayd.api.credentials import credentials_from
from relayd.auth import require_scope
from relayd.config import ORG_RE
from relayd.exceptions import ApiError, RateLimited
from relayd.store import ApiKey
from relayd.store.keys import KEY_PREFIX
from relayd.store.phones import TOKEN_PREFIX, PhoneDeviceRow

_LOGGER = logging.getLogger(__name__)
SECRET_MIN, SECRET_MAX = 12, 50
ORG_SECRET_SCOPES = frozenset({"send", "read", "phone"})
DEVICE_SCOPES = frozenset({"phone"})  # a paired device token connects a phone, no more


# one text for "no such org" and "wrong secret": a 401 must not tell which orgs exist
REFUSED_ORG = (
    "unknown org or wrong secret_key: an admin creates orgs (POST /api/v1/phones) "
    "or allows phones to ([phones] allow_new_orgs)"
)


@dataclass(frozen=True)
class OrgAccess:
    """Who is calling: the org, a key (real, or standing for the secret), the paired device."""

    org: str
    key: ApiKey
    device: PhoneDeviceRow | None = None
    created: bool = False


def secret_key(org: str, scopes: frozenset[str]) -> ApiKey:
    """The key an org secret or device token stands for (no allowlist, no rate limit)."""
    return ApiKey(0, org, "org secret", "", scopes, (), None, False, time.time(), None, None)


async def refuse_while_backing_off(request: web.Request) -> None:
    """429 with Retry-After while the client's address has too many wrong secrets or passwords."""
    limits = relay_of(request).config.limits
    wait = await relay_of(request).limits.failed_auth.retry_after(request.remote)
    if wait is not None:
        raise RateLimited(
            f"{limits.failed_auth_max} wrong passwords or secrets from this address in "
            f"{limits.failed_auth_window:g} s ([limits] failed_auth_max); retry in {wait} s",
            wait,
            code="too_many_failed_logins",
        )


async def note_failed_auth(request: web.Request) -> None:
    """Count a wrong secret or password against the client's address."""
    await relay_of(request).limits.failed_auth.failed(request.remote)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


async def authenticate_org(
    request: web.Request,
    *,
    org: str | None,
    secret: str | None,
    token: str | None = None,
    scope: str | None = None,
    allow_create: bool = False,
) -> OrgAccess:
    """Check the credentials for `org`; 401 / 403 / 404 as SPEC §11 pins (one 401 for an unknown org
    and a wrong secret)."""
    relay = relay_of(request)
    bearer = credentials_from(request)
    if bearer is not None and bearer.startswith(TOKEN_PREFIX):
        token, bearer = token or bearer, None
    if token:
        device = await relay.store.phones.by_token(token)
        if device is None or (org and org != device.org):
            raise _unauthorized("the device token is not valid (wrong org, or unpaired)")
        if scope is not None and scope not in DEVICE_SCOPES:
            raise ApiError(403, "forbidden", "a device token only connects a phone; use an API key")
        return OrgAccess(device.org, secret_key(device.org, DEVICE_SCOPES), device)
    candidate = secret or bearer
    if not candidate:
        raise _unauthorized(
            "credentials are required: the org's secret_key (or header X-Secret-Key), "
            "an API key of the org, or a device token"
        )
    if candidate.startswith(KEY_PREFIX) or candidate is bearer:
        key = await relay.auth.authenticate(candidate)
        if key is not None:
            if org is not None and key.org != org:
                raise ApiError(404, "not_found", "no such org")
            if scope is not None:
                require_scope(key, scope)
            return OrgAccess(key.org, key)
        if candidate is bearer:
            raise _unauthorized("the API key is not valid or was revoked")
    if not org:
        raise _unauthorized("org_id is required with a secret_key")
    await refuse_while_backing_off(request)  # before the scrypt run a guess costs
    if await relay.store.keys.org_secret_matches(org, candidate):
        return OrgAccess(org, secret_key(org, ORG_SECRET_SCOPES))
    if await relay.store.keys.org_exists(org):
        await note_failed_auth(request)
        raise _unauthorized(REFUSED_ORG)
    if not (allow_create and relay.config.phones.allow_new_orgs):
        await note_failed_auth(request)
        raise _unauthorized(REFUSED_ORG)
    if not ORG_RE.match(org):
        raise ApiError(422, "invalid_field", "org_id: use letters, digits, '-' or '_'", "org_id")
    if not SECRET_MIN <= len(candidate) <= SECRET_MAX:
        raise ApiError(
            422,
            "invalid_field",
            f"secret_key: a new org's secret has {SECRET_MIN} to {SECRET_MAX} characters",
            "secret_key",
        )
    if await relay.store.phones.create_org(org, candidate):
        _LOGGER.info("Org %s created by its first phone ([phones] allow_new_orgs)", org)
        return OrgAccess(org, secret_key(org, ORG_SECRET_SCOPES), created=True)
    if await relay.store.keys.org_secret_matches(org, candidate):  # created a moment ago
        return OrgAccess(org, secret_key(org, ORG_SECRET_SCOPES))
    await note_failed_auth(request)
    raise _unauthorized(REFUSED_ORG)

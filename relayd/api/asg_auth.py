"""Credentials of the "SMS Gateway for Android" surfaces (mobile and 3rd-party APIs).

- A phone registers (`POST /api/mobile/v1/device`) with the *private token* the user types
  into the app: on relayd that is an API key (`rk_…`) of the org with the `admin` scope,
  because registering hands the phone the org's messages and 3rd-party credentials. It
  gets a new account (login + password) of that org. With `Basic login:password` instead
  it joins that account. Every later call carries `Bearer <device token>`.
- The 3rd-party API takes the account's `Basic login:password` (all of the org's sends,
  states, devices and app webhooks), or `Bearer rk_…` with the scope each route needs.

These routes are `auth="secret"`: each handler checks credentials before reading the body,
so a request without them is a 401.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from dataclasses import dataclass

from aiohttp import web

from relayd.api.context import relay_of
from relayd.api.credentials import credentials_from
from relayd.api.org_auth import note_failed_auth, refuse_while_backing_off, secret_key
from relayd.auth import require_scope
from relayd.bridges.asg import AsgDevice, nanoid
from relayd.bridges.asg_hub import AsgHub
from relayd.exceptions import ApiError
from relayd.passwords import hash_password, verify_nothing, verify_password
from relayd.store import ApiKey
from relayd.store.asg import AsgAccount

PASSWORD_MIN = 14  # the app's own rule for a new password
BASIC_CACHE_SECONDS = 60.0
BASIC_CACHE_MAX = 1000
ACCOUNT_SCOPES = frozenset({"send", "read", "admin"})


@dataclass(frozen=True)
class Registration:
    """Who registers a device: the org, the account it joins, and a new password if any."""

    org: str
    login: str
    password: str | None


def unauthorized(message: str, scheme: str = "Bearer") -> ApiError:
    """A 401 the app reads as "register again"."""
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": scheme})


def hub_of(request: web.Request) -> AsgHub:
    """The app phones of the relay."""
    return relay_of(request).app_hub


def new_credentials() -> tuple[str, str]:
    """A login and password shaped like the app's server makes them (6 and 14 characters)."""
    raw = nanoid()
    return raw[:6].upper(), raw[7:].lower()


def device_of(request: web.Request) -> AsgDevice:
    """The device whose token the request carries; 401 (the app then registers) otherwise."""
    token = credentials_from(request)
    if not token:
        raise unauthorized("a device token is required: Authorization: Bearer <token>")
    device = hub_of(request).by_token(token)
    if device is None:
        raise unauthorized("unknown device token: register the device again")
    return device


async def account_of(request: web.Request) -> AsgAccount | None:
    """The account of a `Basic login:password` header; None without one, 401 when wrong."""
    pair = _basic_credentials(request)
    if pair is None:
        return None
    login, password = pair
    cache = hub_of(request).basic_cache
    cache_key = hashlib.sha256(f"{login}\0{password}".encode()).hexdigest()
    hit = cache.get(cache_key)
    if hit is not None and time.monotonic() - hit[0] < BASIC_CACHE_SECONDS:
        return hit[1]
    await refuse_while_backing_off(request)  # before the scrypt run a guess costs
    account = await hub_of(request).store.account(login)
    if account is None:
        ok = await asyncio.to_thread(verify_nothing, password)  # no faster for unknown logins
    else:
        ok = await asyncio.to_thread(verify_password, password, account.password_hash)
    if account is None or not ok:
        await note_failed_auth(request)
        raise unauthorized("wrong login or password", "Basic")
    if len(cache) > BASIC_CACHE_MAX:
        cache.clear()
    cache[cache_key] = (time.monotonic(), account)
    return account


def forget_account(request: web.Request, login: str) -> None:
    """A password changed: cached checks of the old one stop counting at once."""
    cache = hub_of(request).basic_cache
    for key, (_, account) in list(cache.items()):
        if account.login == login:
            del cache[key]


async def registration_of(request: web.Request) -> Registration:
    """POST /device: Basic joins an account; the private token (an admin key) makes one
    (`login` is empty until `new_account` made it, after the body was read)."""
    account = await account_of(request)
    if account is not None:
        return Registration(account.org, account.login, None)
    token = credentials_from(request)
    if not token:
        raise unauthorized(
            "registration needs the private token (an admin API key of the org) "
            "or the account's login and password"
        )
    key = await relay_of(request).auth.authenticate(token)
    if key is None:
        raise unauthorized("the private token is not a valid API key of this relay")
    if not key.has_scope("admin"):
        raise ApiError(403, "forbidden", "the private token must be an API key with 'admin' scope")
    return Registration(key.org, "", None)


async def new_account(request: web.Request, org: str) -> Registration:
    """A new account of `org` for a registering device, with its password (shown once)."""
    store = hub_of(request).store
    for _ in range(5):
        login, password = new_credentials()
        hashed = await asyncio.to_thread(hash_password, password)
        if await store.create_account(org, login, hashed):
            return Registration(org, login, password)
    raise ApiError(500, "internal", "could not make a unique login; try again")


async def third_party_key(request: web.Request, scope: str) -> ApiKey:
    """The 3rd-party API's caller as a key: the account (Basic) or a relayd API key."""
    account = await account_of(request)
    if account is not None:
        return secret_key(account.org, ACCOUNT_SCOPES)
    token = credentials_from(request)
    if not token:
        raise unauthorized(
            "credentials are required: Basic login:password (from the app) or Bearer rk_…",
            "Basic",
        )
    key = await relay_of(request).auth.authenticate(token)
    if key is None:
        raise unauthorized("the API key is not valid or was revoked")
    require_scope(key, scope)
    return key


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized("malformed Basic credentials", "Basic") from None
    login, sep, password = decoded.partition(":")
    if not sep or not login:
        raise unauthorized("malformed Basic credentials", "Basic")
    return login, password

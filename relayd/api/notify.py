"""`GET,POST /api/v1/notify`: the home-automation form (Home Assistant `rest` notify, Node-RED).

HA's rest notify platform sends `message`, optionally `title` and `target` (only the first
of its targets) plus the static `data` of its YAML, as query parameters (`method: GET`), a
form (`POST`) or JSON (`POST_JSON`). All three are read here, query first, body over it.
`text` and `to` are accepted as synonyms; `target` may be a comma list. The key comes as a
header or as `?token=` — the only route where a key may ride in the URL, because HA's rest
notify cannot always set headers; prefer the header where you can (URLs end up in logs).
The answer is 202 as soon as the messages are stored; they go out through the outbox.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from relayd.api.bodies import read_body
from relayd.api.context import relay_of
from relayd.api.credentials import credentials_from
from relayd.api.framework import Api, json_response
from relayd.api.models import SendResult
from relayd.api.presenters import send_results
from relayd.auth import require_scope
from relayd.exceptions import ApiError
from relayd.sending import SendOrder
from relayd.store import ApiKey

TAGS = ("home automation",)


class NotifyForm(BaseModel):
    """The fields, as query parameters, a form or JSON."""

    model_config = ConfigDict(extra="ignore")

    message: str | None = Field(None, description="The text (or `text`)")
    text: str | None = None
    title: str | None = Field(
        None, description="SMS: prefixed as 'title: message' (title_mode=ignore drops it); "
        "email and notify: the subject"
    )  # fmt: skip
    target: str | list[str] | None = Field(None, description="Number(s), comma list (or `to`)")
    to: str | list[str] | None = None
    channel: str = Field("sms", description="sms, or email / notify where served")
    title_mode: str = Field("prefix", description="prefix | ignore")
    token: str | None = Field(None, description="The API key, when no header can be set")
    data: dict[str, Any] | None = Field(None, description="Accepted and ignored")


class NotifyResult(BaseModel):
    """The stored messages, one per target."""

    ok: bool = True
    messages: list[SendResult]


def register(api: Api) -> None:
    """Add GET and POST /api/v1/notify."""
    for method in ("GET", "POST"):
        api.route(
            method,
            "/api/v1/notify",
            summary="Home-automation send: message + target as query, form or JSON; "
            "key as header or ?token=",
            tags=TAGS,
            auth="secret",
            query=NotifyForm if method == "GET" else None,
            body=NotifyForm if method == "POST" else None,
            response=NotifyResult,
            status=202,
            extra_responses={429: "Rate limited"},
        )(notify_get if method == "GET" else notify_post)


async def notify_get(request: web.Request) -> web.Response:
    """GET /api/v1/notify."""
    return await _notify(request)


async def notify_post(request: web.Request) -> web.Response:
    """POST /api/v1/notify."""
    return await _notify(request)


async def _notify(request: web.Request) -> web.Response:
    relay = relay_of(request)
    key = await _authenticate(request)
    fields = await _fields(request)
    message = _text(fields.get("message")) or _text(fields.get("text"))
    if message is None:
        raise ApiError(422, "invalid_field", "message: this field is required", "message")
    channel = _text(fields.get("channel")) or "sms"
    title = _text(fields.get("title"))
    mode = _text(fields.get("title_mode")) or "prefix"
    if mode not in ("prefix", "ignore"):
        raise ApiError(422, "invalid_field", "title_mode: prefix or ignore", "title_mode")
    if title and channel == "sms" and mode == "prefix":
        message = f"{title}: {message}"
    targets = _targets(fields.get("target")) or _targets(fields.get("to"))
    if not targets and channel != "notify":
        raise ApiError(422, "invalid_field", "target: give the number(s) to send to", "target")
    order = SendOrder(
        to=targets,
        text=message,
        channel=channel,
        subject=title if channel != "sms" else None,
        source="notify",
        field_to="target",
        field_text="message",
    )
    accepted = await relay.sending.submit(key, order)
    return json_response(NotifyResult(messages=send_results(accepted)).model_dump(), 202)


async def _authenticate(request: web.Request) -> ApiKey:
    secret = credentials_from(request) or request.query.get("token", "").strip() or None
    if secret is None:
        raise ApiError(
            401,
            "unauthorized",
            "an API key is required: 'Authorization: Bearer rk_...', 'X-Api-Key', or ?token=",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = await relay_of(request).auth.authenticate(secret)
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            "the API key is not valid or was revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    require_scope(key, "send")
    return key


async def _fields(request: web.Request) -> dict[str, Any]:
    """Query parameters, then the body's fields over them (JSON object or form)."""
    fields: dict[str, Any] = {k: v for k, v in request.query.items() if k != "token"}
    if request.method == "POST":
        fields.update((await read_body(request, allow_empty=True)).require())
    return fields


def _text(value: Any) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value).strip()
        return text or None
    return None


def _targets(value: Any) -> list[str]:
    if isinstance(value, list):
        items = [str(v) for v in value if isinstance(v, str | int)]
    elif isinstance(value, str | int) and not isinstance(value, bool):
        items = str(value).split(",")
    else:
        items = []
    return [t.strip() for t in items if t.strip()]

"""Seed 002 (chatbot "Send Twilio Message"): `POST /chat/Chatbot/SendTwilioMessage`.

The seed authenticates with the bare key in `Authorization: <key>` (no `Bearer`), so the
route is `auth="secret"` and checks the key itself, before it reads the body (SPEC §11).
Every answer, success or error, is the seed's envelope
`{Data: {Status, Message, SessionID}, Version, Success, Code, Message}` with the HTTP status
in `Code`; errors also carry relayd's `ok`/`error` members so generic clients understand them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from relayd.api.bodies import read_body
from relayd.api.context import relay_of
from relayd.api.credentials import bare_key_from
from relayd.api.errors import as_api_error
from relayd.api.framework import Api, json_response, validate
from relayd.auth import require_scope
from relayd.exceptions import ApiError, Refused
from relayd.sending import SendOrder
from relayd.store import ApiKey

TAGS = ("seed 002",)
VERSION = "1.0.0"


class TwilioMessageRequest(BaseModel):
    """The seed's body: the chatbot id (kept as the message's source), number and text."""

    model_config = ConfigDict(extra="ignore")

    SerialNumber: str = Field(min_length=1, max_length=80, description="The chatbot's id")
    ToPhoneNumber: str = Field(min_length=1, max_length=40)
    Message: str


class EnvelopeData(BaseModel):
    """`Status` "True"/"False"; `Message` the message status or the error; `SessionID` its id."""

    Status: str
    Message: str
    SessionID: int | None


class Envelope(BaseModel):
    """The seed's response, on success and on error."""

    Data: EnvelopeData
    Version: str = VERSION
    Success: bool
    Code: int
    Message: str


def register(api: Api) -> None:
    """Add the seed-002 route."""
    api.route(
        "POST",
        "/chat/Chatbot/SendTwilioMessage",
        summary="Send an SMS, chatbot style (seed 002); header 'Authorization: <key>'",
        tags=TAGS,
        auth="secret",
        body=TwilioMessageRequest,
        response=Envelope,
        extra_responses={429: "Rate limited"},
    )(send_twilio_message)


async def send_twilio_message(request: web.Request) -> web.Response:
    """POST /chat/Chatbot/SendTwilioMessage."""
    try:
        return await _send(request)
    except (ApiError, Refused) as exc:
        return _envelope_error(as_api_error(exc))
    except web.HTTPRequestEntityTooLarge:
        limit = relay_of(request).config.server.max_body_bytes // 1024
        return _envelope_error(
            ApiError(413, "body_too_large", f"the request body is larger than {limit} KiB")
        )


async def _send(request: web.Request) -> web.Response:
    relay = relay_of(request)
    key = await _authenticate(request)
    body = validate(TwilioMessageRequest, (await read_body(request)).require())
    order = SendOrder(
        to=[body.ToPhoneNumber],
        text=body.Message,
        source=f"chatbot {body.SerialNumber}"[:100],
        field_to="ToPhoneNumber",
        field_text="Message",
    )
    accepted = await relay.sending.submit(key, order)
    message = accepted.results[0].message
    envelope = Envelope(
        Data=EnvelopeData(Status="True", Message=message.status, SessionID=message.id),
        Success=True,
        Code=200,
        Message="",
    )
    return json_response(envelope.model_dump())


async def _authenticate(request: web.Request) -> ApiKey:
    """The key of `Authorization: <key>` (also `Bearer <key>` or `X-Api-Key`), scope send."""
    secret = bare_key_from(request)
    if not secret:
        raise ApiError(
            401,
            "unauthorized",
            "an API key is required: send 'Authorization: <key>' (the seed's form)",
        )
    key = await relay_of(request).auth.authenticate(secret)
    if key is None:
        raise ApiError(401, "unauthorized", "the API key is not valid or was revoked")
    require_scope(key, "send")
    return key


def _envelope_error(exc: ApiError) -> web.Response:
    """The seed's envelope for an error, with relayd's error members beside it."""
    envelope: dict[str, Any] = Envelope(
        Data=EnvelopeData(Status="False", Message=exc.message, SessionID=None),
        Success=False,
        Code=exc.status,
        Message=exc.message,
    ).model_dump()
    envelope.update(exc.body())
    return json_response(envelope, exc.status, exc.headers)

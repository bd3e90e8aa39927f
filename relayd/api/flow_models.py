"""Pydantic models of the workflow routes (issue 14): templates, contacts, groups, opt-outs,
schedules. They validate requests and make the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from relayd.api.schemas import E164
from relayd.exceptions import ApiError
from relayd.flows.templates import NAME, VARS
from relayd.sending import MAX_RECIPIENTS


class SendFields(Protocol):
    """The fields a send body and a schedule share."""

    to: str | list[str] | None
    group: str | None
    text: str | None
    template: str | None


def check_send_fields(body: SendFields) -> list[str]:
    """`to` or `group`, `text` or `template` (one of each); the recipients as a list."""
    if body.to is None and body.group is None:
        raise ApiError(422, "invalid_field", "to: this field is required", "to")
    if body.to is not None and body.group is not None:
        raise ApiError(422, "invalid_field", "group: give `to` or `group`, not both", "group")
    if body.text is None and body.template is None:
        raise ApiError(422, "invalid_field", "text: this field is required", "text")
    if body.text is not None and body.template is not None:
        raise ApiError(
            422, "invalid_field", "template: give `text` or `template`, not both", "template"
        )
    return [] if body.to is None else [body.to] if isinstance(body.to, str) else list(body.to)


# The document's example number for a send is E164's; lists of people get another one, so
# that a client (or a fuzzer) following the examples does not opt out the number it sends to.
PERSON: dict[str, Any] = {**E164, "examples": ["+15557650100"]}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _vars(description: str) -> Any:
    return Field(None, description=description, json_schema_extra=VARS)


# --- templates ------------------------------------------------------------------------------


class TemplateCreate(_Body):
    """POST /api/v1/templates."""

    name: str = Field(pattern=NAME, description="What a send names: `{\"template\": name}`")
    text: str = Field(
        min_length=1, max_length=5000,
        description="Text with `{placeholders}` (letters, digits, `_`); `{{` writes a brace",
    )  # fmt: skip


class TemplateUpdate(_Body):
    """PATCH /api/v1/templates/{id}."""

    name: str | None = Field(None, pattern=NAME)
    text: str | None = Field(None, min_length=1, max_length=5000)


class Template(BaseModel):
    """A template and the placeholders its text uses."""

    id: int
    name: str
    text: str
    placeholders: list[str]
    created_at: str
    updated_at: str | None


class TemplateList(BaseModel):
    """Templates of the org, by name."""

    templates: list[Template]


# --- contacts and groups --------------------------------------------------------------------


class ContactCreate(_Body):
    """POST /api/v1/contacts."""

    number: str = Field(description="E.164 (national forms read in `[sms] default_region`)",
                        json_schema_extra=PERSON)  # fmt: skip
    name: str = Field("", max_length=200)
    fields: dict[str, str] = Field(
        {}, description="Values for placeholders, e.g. {\"appointment\": \"Tuesday 10:00\"}",
        json_schema_extra=VARS,
    )  # fmt: skip


class ContactUpdate(_Body):
    """PATCH /api/v1/contacts/{id}."""

    number: str | None = Field(None, json_schema_extra=PERSON)
    name: str | None = Field(None, max_length=200)
    fields: dict[str, str] | None = Field(None, json_schema_extra=VARS)


class Contact(BaseModel):
    """A contact."""

    id: int
    number: str
    name: str
    fields: dict[str, str]
    created_at: str
    updated_at: str | None


class ContactList(BaseModel):
    """Contacts, by name."""

    contacts: list[Contact]


class GroupCreate(_Body):
    """POST /api/v1/groups."""

    name: str = Field(pattern=NAME, description="What a send names: `{\"group\": name}`")


class Group(BaseModel):
    """A group of contacts."""

    id: int
    name: str
    members: int
    created_at: str
    contacts: list[Contact] | None = None


class GroupList(BaseModel):
    """Groups, by name."""

    groups: list[Group]


class MembersAdd(_Body):
    """POST /api/v1/groups/{id}/members."""

    contacts: list[int] = Field(min_length=1, max_length=1000,
                                json_schema_extra={"items": {"type": "integer", "minimum": 1,
                                                             "maximum": 2**63 - 1}})  # fmt: skip


# --- opt-outs -------------------------------------------------------------------------------


class OptoutCreate(_Body):
    """POST /api/v1/optouts: put a number on the list by hand."""

    number: str = Field(json_schema_extra=PERSON)


class Optout(BaseModel):
    """A number that may not be sent to."""

    number: str
    since: str
    source: str = Field(description="`sms` (it sent a stop word) or `api`")
    message_id: int | None = Field(description="The SMS that asked for it")


class OptoutList(BaseModel):
    """The org's opt-out list, newest first."""

    optouts: list[Optout]


WORDS: dict[str, Any] = {
    "type": "array", "maxItems": 20, "items": {"type": "string", "minLength": 1, "maxLength": 30},
}  # fmt: skip


class OptoutSettingsBody(_Body):
    """PUT /api/v1/optouts/settings: the org's own; a field left out or null keeps the config's."""

    enabled: bool | None = None
    stop_words: list[str] | None = Field(None, json_schema_extra=WORDS)
    start_words: list[str] | None = Field(None, json_schema_extra=WORDS)
    stop_reply: str | None = Field(None, max_length=1000)
    start_reply: str | None = Field(None, max_length=1000)


class OptoutSettingsInfo(BaseModel):
    """The opt-out settings in force for the org."""

    enabled: bool
    stop_words: list[str]
    start_words: list[str]
    stop_reply: str
    start_reply: str


# --- schedules ------------------------------------------------------------------------------


class ScheduleCreate(_Body):
    """POST /api/v1/schedules: a recurring send."""

    name: str = Field("", max_length=100)
    rule: str = Field(
        max_length=300, examples=["FREQ=WEEKLY;BYDAY=MO"],
        description="RRULE (RFC 5545) with FREQ=DAILY, WEEKLY or MONTHLY; the time of day "
        "comes from `start`",
    )  # fmt: skip
    start: dt.datetime = Field(
        description="First run, as wall time in `timezone` (2026-12-07T09:00:00); an offset "
        "given is converted"
    )
    timezone: str = Field("UTC", max_length=64, description="IANA zone, e.g. Europe/Berlin")
    to: str | list[str] | None = Field(
        None, description="Recipients (or `group`)",
        json_schema_extra={"anyOf": [E164, {"type": "array", "items": E164, "minItems": 1,
                                            "maxItems": MAX_RECIPIENTS}, {"type": "null"}]},
    )  # fmt: skip
    group: str | None = Field(None, pattern=NAME, description="A contact group (or `to`)")
    text: str | None = Field(None, min_length=1, max_length=5000)
    template: str | None = Field(None, pattern=NAME)
    vars: dict[str, str] | None = _vars("Placeholder values (a contact's own fields win)")
    sim: str | None = Field(None, max_length=100)


class ScheduleUpdate(_Body):
    """PATCH /api/v1/schedules/{id}."""

    paused: bool | None = Field(None, description="true stops runs; false resumes from now")
    name: str | None = Field(None, max_length=100)


class Schedule(BaseModel):
    """A recurring send and its next run."""

    id: int
    name: str
    rule: str
    start: str
    timezone: str
    to: list[str] | None
    group: str | None
    text: str | None
    template: str | None
    vars: dict[str, str] | None
    sim: str | None
    paused: bool
    next_run: str | None = Field(description="In the schedule's zone; null: paused or ended")
    last_run: str | None
    runs: int
    last_error: str | None
    created_at: str


class ScheduleList(BaseModel):
    """Schedules of the org."""

    schedules: list[Schedule]

"""Contact and group routes: who a `{"group": name}` send goes to, and their fields."""

from __future__ import annotations

from aiohttp import web

from relayd.api.context import key_of, relay_of
from relayd.api.flow_models import (
    Contact,
    ContactCreate,
    ContactList,
    ContactUpdate,
    Group,
    GroupCreate,
    GroupList,
    MembersAdd,
)
from relayd.api.flow_presenters import contact_json, group_json
from relayd.api.framework import Api, id_param, json_response, read_json, validate
from relayd.api.lookups import found, removed, stored
from relayd.api.models import Ok
from relayd.exceptions import InvalidField
from relayd.flows.templates import check_fields

TAGS = ("contacts",)
NO_CONTACT = {404: "No such contact"}
NO_GROUP = {404: "No such group"}
CONTACT = "contact with the number"


def register(api: Api) -> None:
    """Add the contact and group routes."""
    route = api.route
    route("GET", "/api/v1/contacts", summary="List the org's contacts", tags=TAGS, scope="read",
          response=ContactList)(list_contacts)
    route("POST", "/api/v1/contacts", summary="Create a contact", tags=TAGS, scope="send",
          body=ContactCreate, response=Contact, status=201,
          extra_responses={409: "The org has a contact with that number"})(create_contact)
    route("GET", "/api/v1/contacts/{id}", summary="One contact", tags=TAGS, scope="read",
          response=Contact, extra_responses=NO_CONTACT)(get_contact)
    route("PATCH", "/api/v1/contacts/{id}", summary="Change a contact", tags=TAGS, scope="send",
          body=ContactUpdate, response=Contact,
          extra_responses=NO_CONTACT | {409: "Number taken"})(update_contact)
    route("DELETE", "/api/v1/contacts/{id}", summary="Delete a contact (and its memberships)",
          tags=TAGS, scope="send", response=Ok, extra_responses=NO_CONTACT)(delete_contact)
    route("GET", "/api/v1/groups", summary="List the org's groups", tags=TAGS, scope="read",
          response=GroupList)(list_groups)
    route("POST", "/api/v1/groups", summary="Create a group", tags=TAGS, scope="send",
          body=GroupCreate, response=Group, status=201,
          extra_responses={409: "The org has a group of that name"})(create_group)
    route("GET", "/api/v1/groups/{id}", summary="One group with its contacts", tags=TAGS,
          scope="read", response=Group, extra_responses=NO_GROUP)(get_group)
    route("PATCH", "/api/v1/groups/{id}", summary="Rename a group", tags=TAGS, scope="send",
          body=GroupCreate, response=Group,
          extra_responses=NO_GROUP | {409: "Name taken"})(rename_group)
    route("DELETE", "/api/v1/groups/{id}", summary="Delete a group (its contacts stay)",
          tags=TAGS, scope="send", response=Ok, extra_responses=NO_GROUP)(delete_group)
    route("POST", "/api/v1/groups/{id}/members", summary="Add contacts to a group", tags=TAGS,
          scope="send", body=MembersAdd, response=Group, extra_responses=NO_GROUP)(add_members)
    route("DELETE", "/api/v1/groups/{id}/members/{contact}",
          summary="Take a contact out of a group", tags=TAGS, scope="send", response=Ok,
          extra_responses={404: "No such member"})(remove_member)


async def list_contacts(request: web.Request) -> web.Response:
    """GET /api/v1/contacts."""
    rows = await relay_of(request).store.contacts.list_contacts(key_of(request).org)
    return json_response({"contacts": [contact_json(r) for r in rows]})


async def create_contact(request: web.Request) -> web.Response:
    """POST /api/v1/contacts."""
    relay = relay_of(request)
    body = validate(ContactCreate, await read_json(request))
    number = relay.optout.normalize(body.number)
    check_fields(body.fields)
    write = relay.store.contacts.create(key_of(request).org, number, body.name, body.fields)
    return json_response(contact_json(await stored(write, CONTACT, number)), 201)


async def get_contact(request: web.Request) -> web.Response:
    """GET /api/v1/contacts/{id}."""
    contacts = relay_of(request).store.contacts
    row = await contacts.get(key_of(request).org, id_param(request, "contact"))
    return json_response(contact_json(found(row, "contact")))


async def update_contact(request: web.Request) -> web.Response:
    """PATCH /api/v1/contacts/{id}."""
    relay = relay_of(request)
    contact_id = id_param(request, "contact")
    body = validate(ContactUpdate, await read_json(request))
    number = None if body.number is None else relay.optout.normalize(body.number)
    if body.fields is not None:
        check_fields(body.fields)
    write = relay.store.contacts.update(
        key_of(request).org, contact_id, number=number, name=body.name, fields=body.fields
    )
    return json_response(contact_json(await stored(write, CONTACT, number)))


async def delete_contact(request: web.Request) -> web.Response:
    """DELETE /api/v1/contacts/{id}."""
    contact_id = id_param(request, "contact")
    contacts = relay_of(request).store.contacts
    return removed(await contacts.delete(key_of(request).org, contact_id), "contact")


async def list_groups(request: web.Request) -> web.Response:
    """GET /api/v1/groups."""
    rows = await relay_of(request).store.contacts.groups(key_of(request).org)
    return json_response({"groups": [group_json(r) for r in rows]})


async def create_group(request: web.Request) -> web.Response:
    """POST /api/v1/groups."""
    body = validate(GroupCreate, await read_json(request))
    write = relay_of(request).store.contacts.create_group(key_of(request).org, body.name)
    return json_response(group_json(await stored(write, "group", body.name), []), 201)


async def _group_with_contacts(request: web.Request, group_id: int) -> web.Response:
    contacts = relay_of(request).store.contacts
    org = key_of(request).org
    row = found(await contacts.group(org, group_id), "group")
    return json_response(group_json(row, await contacts.list_contacts(org, group_id)))


async def get_group(request: web.Request) -> web.Response:
    """GET /api/v1/groups/{id}."""
    return await _group_with_contacts(request, id_param(request, "group"))


async def rename_group(request: web.Request) -> web.Response:
    """PATCH /api/v1/groups/{id}."""
    group_id = id_param(request, "group")
    body = validate(GroupCreate, await read_json(request))
    contacts = relay_of(request).store.contacts
    await stored(contacts.rename_group(key_of(request).org, group_id, body.name), "group",
                 body.name)
    return await _group_with_contacts(request, group_id)


async def delete_group(request: web.Request) -> web.Response:
    """DELETE /api/v1/groups/{id}."""
    group_id = id_param(request, "group")
    contacts = relay_of(request).store.contacts
    return removed(await contacts.delete_group(key_of(request).org, group_id), "group")


async def add_members(request: web.Request) -> web.Response:
    """POST /api/v1/groups/{id}/members: every id must be a contact of the org."""
    group_id = id_param(request, "group")
    body = validate(MembersAdd, await read_json(request))
    contacts = relay_of(request).store.contacts
    unknown = found(await contacts.add_members(key_of(request).org, group_id, body.contacts),
                    "group")
    if unknown:
        raise InvalidField(
            "contacts", f"contacts: no contact {unknown[0]} in this org (none added)",
            "unknown_contact",
        )
    return await _group_with_contacts(request, group_id)


async def remove_member(request: web.Request) -> web.Response:
    """DELETE /api/v1/groups/{id}/members/{contact}."""
    group_id = id_param(request, "member")
    contact_id = id_param(request, "member", "contact")
    contacts = relay_of(request).store.contacts
    return removed(
        await contacts.remove_member(key_of(request).org, group_id, contact_id), "member"
    )

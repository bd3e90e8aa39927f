"""Template routes: named texts with `{placeholders}` for `{"template": name}` sends."""

from __future__ import annotations

from aiohttp import web

from relayd.api.context import key_of, relay_of
from relayd.api.flow_models import Template, TemplateCreate, TemplateList, TemplateUpdate
from relayd.api.flow_presenters import template_json
from relayd.api.framework import Api, id_param, json_response, read_json, validate
from relayd.api.lookups import found, removed, stored
from relayd.api.models import Ok

TAGS = ("templates",)
NOT_FOUND = {404: "No such template"}
TAKEN = {409: "The org has a template of that name"}


def register(api: Api) -> None:
    """Add the template routes."""
    api.route("GET", "/api/v1/templates", summary="List the org's templates", tags=TAGS,
              scope="read", response=TemplateList)(list_templates)
    api.route("POST", "/api/v1/templates", summary="Create a template", tags=TAGS, scope="send",
              body=TemplateCreate, response=Template, status=201,
              extra_responses=TAKEN)(create_template)
    api.route("GET", "/api/v1/templates/{id}", summary="One template", tags=TAGS, scope="read",
              response=Template, extra_responses=NOT_FOUND)(get_template)
    api.route("PATCH", "/api/v1/templates/{id}", summary="Rename a template or change its text",
              tags=TAGS, scope="send", body=TemplateUpdate, response=Template,
              extra_responses=NOT_FOUND | TAKEN)(update_template)
    api.route("DELETE", "/api/v1/templates/{id}", summary="Delete a template", tags=TAGS,
              scope="send", response=Ok, extra_responses=NOT_FOUND)(delete_template)


async def list_templates(request: web.Request) -> web.Response:
    """GET /api/v1/templates."""
    rows = await relay_of(request).store.templates.list_templates(key_of(request).org)
    return json_response({"templates": [template_json(r) for r in rows]})


async def create_template(request: web.Request) -> web.Response:
    """POST /api/v1/templates."""
    body = validate(TemplateCreate, await read_json(request))
    templates = relay_of(request).store.templates
    row = await stored(templates.create(key_of(request).org, body.name, body.text),
                       "template", body.name)
    return json_response(template_json(row), 201)


async def get_template(request: web.Request) -> web.Response:
    """GET /api/v1/templates/{id}."""
    templates = relay_of(request).store.templates
    row = await templates.get(key_of(request).org, id_param(request, "template"))
    return json_response(template_json(found(row, "template")))


async def update_template(request: web.Request) -> web.Response:
    """PATCH /api/v1/templates/{id}."""
    template_id = id_param(request, "template")
    body = validate(TemplateUpdate, await read_json(request))
    write = relay_of(request).store.templates.update(
        key_of(request).org, template_id, name=body.name, text=body.text
    )
    return json_response(template_json(await stored(write, "template", body.name)))


async def delete_template(request: web.Request) -> web.Response:
    """DELETE /api/v1/templates/{id}."""
    template_id = id_param(request, "template")
    templates = relay_of(request).store.templates
    return removed(await templates.delete(key_of(request).org, template_id), "template")

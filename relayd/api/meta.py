"""Public and operational routes: health, OpenAPI, docs, llms.txt, metrics."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from aiohttp import web
from openapi_ui_bundles import swagger_ui

from relayd.api.context import API, key_of, relay_of
from relayd.api.framework import Api, json_response
from relayd.api.models import Health
from relayd.api.web import PAGE_HEADERS
from relayd.bridges.base import SimBackend
from relayd.relay import Relay

DOCS_STATIC = "/docs/static"
OPERATOR_ORG = "default"  # its admin keys run the relay: they see every org in /metrics
_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>relayd API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{static}/favicon-32x32.png">
<link rel="stylesheet" href="{static}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{static}/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"""
# persistAuthorization off: a key pasted into "Authorize" must not outlive the tab (localStorage)
_DOCS_INIT = """window.ui = SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, persistAuthorization: false});
"""


def register(api: Api) -> None:
    """Add the meta routes and the docs' static assets."""
    api.route(
        "GET",
        "/health",
        summary="Liveness: version and SIMs online",
        tags=("meta",),
        auth="public",
        response=Health,
    )(health)
    api.route("GET", "/api/openapi.json", summary="This document", tags=("meta",), auth="public")(
        openapi
    )
    api.route(
        "GET",
        "/docs",
        summary="API documentation (Swagger UI, offline)",
        tags=("meta",),
        auth="public",
        content_type="text/html",
    )(docs)
    api.route(
        "GET",
        "/docs/init.js",
        summary="Docs page start-up script",
        tags=("meta",),
        auth="public",
        content_type="text/javascript",
    )(docs_init)
    api.route(
        "GET",
        "/llms.txt",
        summary="How an AI agent uses this relay",
        tags=("meta",),
        auth="public",
        content_type="text/plain",
    )(llms_txt)
    api.route(
        "GET",
        "/metrics",
        summary="Prometheus metrics (of the key's org; every org for admins of 'default')",
        tags=("meta",),
        scope="read",
        content_type="text/plain",
    )(metrics)
    api.static(DOCS_STATIC, Path(swagger_ui.static_path))


async def health(request: web.Request) -> web.Response:
    """GET /health: no key needed."""
    relay = relay_of(request)
    ok = relay.started and relay.store.writer_alive and relay.outbox.healthy
    data = {"ok": ok, "version": relay.version, "sims_online": relay.sims.online_count}
    return json_response(data, 200 if ok else 503)


async def openapi(request: web.Request) -> web.Response:
    """GET /api/openapi.json."""
    return json_response(request.app[API].openapi(relay_of(request).version))


async def docs(request: web.Request) -> web.Response:
    """GET /docs: Swagger UI 5 (reads OpenAPI 3.1) from the installed openapi-ui-bundles package."""
    return web.Response(
        text=_DOCS_PAGE.format(static=DOCS_STATIC),
        content_type="text/html",
        headers=PAGE_HEADERS,
    )


async def docs_init(request: web.Request) -> web.Response:
    """GET /docs/init.js (a file, so a strict CSP can forbid inline scripts)."""
    return web.Response(text=_DOCS_INIT, content_type="text/javascript")


async def llms_txt(request: web.Request) -> web.Response:
    """GET /llms.txt: the agent guide, with this relay's own base URL filled in."""
    text = importlib.resources.files("relayd").joinpath("llms.txt").read_text(encoding="utf-8")
    base = f"{request.scheme}://{request.host}"
    return web.Response(text=text.replace("{BASE_URL}", base), content_type="text/plain")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics in the Prometheus text format: every org for the operator, else the key's."""
    relay = relay_of(request)
    key = key_of(request)
    org = None if key.has_scope("admin") and key.org == OPERATOR_ORG else key.org
    lines = [
        "# HELP relayd_build_info Version of this relay.",
        "# TYPE relayd_build_info gauge",
        f'relayd_build_info{{version="{relay.version}"}} 1',
        "# HELP relayd_messages Messages stored, by org, direction and status.",
        "# TYPE relayd_messages gauge",
    ]
    for count in await relay.store.messages.status_counts():
        if org is None or count.org == org:
            lines.append(
                f'relayd_messages{{org="{_label(count.org)}",direction="{count.direction}",'
                f'status="{count.status}"}} {count.count}'
            )
    lines += [
        "# HELP relayd_outbox_queued Messages waiting for a SIM or their send time.",
        "# TYPE relayd_outbox_queued gauge",
        f"relayd_outbox_queued {await relay.outbox.queued_total(org)}",
    ]
    lines += _sim_metrics(relay, [s for s in relay.sims.all() if org is None or s.info.org == org])
    if org is None:  # relay-wide figures: the operator's only
        lines += _relay_metrics(relay)
    return web.Response(
        text="\n".join(lines) + "\n",
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


def _sim_metrics(relay: Relay, sims: list[SimBackend]) -> list[str]:
    lines = [
        "# HELP relayd_sim_online 1 when the SIM can send.",
        "# TYPE relayd_sim_online gauge",
    ]
    for sim in sims:
        lines.append(f'relayd_sim_online{{sim="{_label(sim.info.id)}"}} {int(sim.info.online)}')
    lines += ["# HELP relayd_sim_signal Signal quality 0-100.", "# TYPE relayd_sim_signal gauge"]
    for sim in sims:
        if sim.info.signal is not None:
            lines.append(f'relayd_sim_signal{{sim="{_label(sim.info.id)}"}} {sim.info.signal}')
    lines += [
        "# HELP relayd_sim_sent_total Messages sent per SIM since start.",
        "# TYPE relayd_sim_sent_total counter",
    ]
    for sim in sims:
        lines.append(
            f'relayd_sim_sent_total{{sim="{_label(sim.info.id)}"}} {relay.outbox.lane(sim).sent}'
        )
    return lines


def _relay_metrics(relay: Relay) -> list[str]:
    stats = relay.store.write_stats()
    return [
        "# HELP relayd_db_commits_total Group commits (fsyncs) of the writer.",
        "# TYPE relayd_db_commits_total counter",
        f"relayd_db_commits_total {stats.commits}",
        "# HELP relayd_db_writes_total Write operations committed.",
        "# TYPE relayd_db_writes_total counter",
        f"relayd_db_writes_total {stats.writes}",
        "# HELP relayd_event_subscribers Open event streams.",
        "# TYPE relayd_event_subscribers gauge",
        f"relayd_event_subscribers {relay.bus.subscribers}",
        "# HELP relayd_webhook_deliveries_total Webhook POSTs since start, by result.",
        "# TYPE relayd_webhook_deliveries_total counter",
        f'relayd_webhook_deliveries_total{{result="ok"}} {relay.webhooks.delivered}',
        f'relayd_webhook_deliveries_total{{result="failed"}} {relay.webhooks.failed_attempts}',
    ]

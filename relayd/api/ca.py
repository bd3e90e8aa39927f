"""GET /ca.pem: the relay's local CA certificate, for phones to install (public)."""

from __future__ import annotations

from aiohttp import web

from relayd.api.context import relay_of
from relayd.api.framework import Api
from relayd.exceptions import ApiError
from relayd.tls import tls_files


def register(api: Api) -> None:
    """Add the CA download."""
    api.route(
        "GET",
        "/ca.pem",
        summary="The relay's CA certificate (install it on phones to trust the relay's HTTPS)",
        tags=("meta",),
        auth="public",
        content_type="application/x-x509-ca-cert",
        extra_responses={404: "TLS with the relay's own CA is not set up"},
    )(ca_pem)


async def ca_pem(request: web.Request) -> web.Response:
    """The CA certificate in PEM, as a download named after the relay."""
    path = tls_files(relay_of(request).config).ca_cert
    try:
        pem = path.read_bytes()
    except OSError:
        raise ApiError(
            404,
            "not_found",
            'this relay has no CA of its own: run `relayd tls init` or set [server] tls = "auto"',
        ) from None
    return web.Response(
        body=pem,
        content_type="application/x-x509-ca-cert",
        headers={
            "Content-Disposition": 'attachment; filename="relayd-ca.pem"',
            "Cache-Control": "no-cache",
        },
    )

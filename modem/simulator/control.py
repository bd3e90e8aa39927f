"""HTTP control API of a running simulator (aiohttp, JSON only, 127.0.0.1 by default).

=======================  ==========================================================
``GET /``                state summary (plug, SIM, signal, storage, counts, faults)
``POST /inbound``        ``{"from", "text", "parts"?, "order"?, "delay_parts"?,
                         "drop_parts"?, "encoding"?, "when"?}`` -> 201 the injected SMS;
                         ``parts`` is a number of parts or the list of segments
``GET /sent``            ``{"sent": [part...], "messages": [joined message...]}``
``POST /faults``         any ``Faults`` field, plus ``sim_state``, ``signal_csq``,
                         ``registration``, ``garbage_now`` (bytes to write at once)
``POST /unplug``         pull the plug; ``POST /replug`` plug back; ``POST /reboot``
``GET /calls``           ``{"calls": [...]}``; ``POST /hangup`` the callee hangs up
``GET /ussd``            ``{"answers": {code: text}}``; ``POST /ussd`` ``{"code", "answer"}``
=======================  ==========================================================

Errors are ``{"ok": false, "error": {"code", "message"}}`` with status 400 or 404.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from aiohttp import web

from .simulator import ModemSimulator, normalize_sim_state

__all__ = ["ControlServer", "create_control_app"]

SIMULATOR_KEY: web.AppKey[ModemSimulator] = web.AppKey("simulator", ModemSimulator)
_STATE_FIELDS = ("sim_state", "signal_csq", "registration", "garbage_now")


class ControlServer:
    """Serve the control API of one simulator; ``port`` and ``url`` are set by start()."""

    def __init__(self, sim: ModemSimulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = sim
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve; port 0 picks a free port."""
        runner = web.AppRunner(create_control_app(self.sim), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def create_control_app(sim: ModemSimulator) -> web.Application:
    """The aiohttp application of the control API."""
    app = web.Application(middlewares=[_json_errors])
    app[SIMULATOR_KEY] = sim
    app.router.add_get("/", _summary)
    app.router.add_post("/inbound", _inbound)
    app.router.add_get("/sent", _sent)
    app.router.add_post("/faults", _faults)
    app.router.add_post("/unplug", _unplug)
    app.router.add_post("/replug", _replug)
    app.router.add_post("/reboot", _reboot)
    app.router.add_get("/calls", _calls)
    app.router.add_post("/hangup", _hangup)
    app.router.add_get("/ussd", _ussd)
    app.router.add_post("/ussd", _ussd_set)
    return app


class _BadRequest(Exception):
    pass


def _error(status: int, code: str, message: str) -> web.Response:
    body = {"ok": False, "error": {"code": code, "message": message}}
    return web.json_response(body, status=status)


@web.middleware
async def _json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except _BadRequest as err:
        return _error(400, "bad_request", str(err))
    except web.HTTPException as err:
        return _error(err.status, err.reason.lower().replace(" ", "_"), err.reason)
    return response


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except json.JSONDecodeError as err:
        raise _BadRequest(f"body is not JSON: {err}") from None
    if not isinstance(body, dict):
        raise _BadRequest("body must be a JSON object")
    return body


def _sim(request: web.Request) -> ModemSimulator:
    return request.app[SIMULATOR_KEY]


async def _summary(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, **_sim(request).summary()})


async def _inbound(request: web.Request) -> web.Response:
    body = await _body(request)
    sender, text = body.get("from"), body.get("text")
    if not isinstance(sender, str) or not sender or not isinstance(text, str):
        raise _BadRequest('"from" and "text" are required strings')
    parts = body.get("parts")
    if not (
        parts is None
        or (isinstance(parts, int) and not isinstance(parts, bool))
        or (isinstance(parts, list) and all(isinstance(p, str) for p in parts))
    ):
        raise _BadRequest('"parts" is a number of parts or a list of segment strings')
    order = body.get("order")
    if order is not None and not (
        isinstance(order, list) and all(isinstance(p, int) for p in order)
    ):
        raise _BadRequest('"order" is a list of 1-based part numbers')
    delay_parts = body.get("delay_parts") or {}
    when = body.get("when")
    try:
        injected = _sim(request).inject_sms(
            sender,
            text,
            when=dt.datetime.fromisoformat(when) if isinstance(when, str) else None,
            encoding=body.get("encoding", "auto"),
            split_parts=parts,
            order=order,
            delay_parts={int(k): float(v) for k, v in dict(delay_parts).items()},
            drop_parts=[int(p) for p in body.get("drop_parts") or []],
        )
    except (ValueError, TypeError) as err:
        raise _BadRequest(str(err)) from None
    return web.json_response({"ok": True, "injected": injected.as_dict()}, status=201)


async def _sent(request: web.Request) -> web.Response:
    sim = _sim(request)
    return web.json_response(
        {
            "ok": True,
            "sent": [sms.as_dict() for sms in sim.sent],
            "messages": [message.as_dict() for message in sim.sent_messages()],
        }
    )


async def _faults(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await _body(request)
    state = {key: body.pop(key) for key in _STATE_FIELDS if key in body}
    try:
        if "sim_state" in state:
            normalize_sim_state(str(state["sim_state"]))
        sim.faults.update(body)
        if "sim_state" in state:
            sim.sim_state = str(state["sim_state"])
        if "signal_csq" in state:
            sim.signal_csq = _int(state["signal_csq"], "signal_csq", 0, 99)
        if "registration" in state:
            sim.registration = _int(state["registration"], "registration", 0, 10)
        if "garbage_now" in state:
            sim.emit_garbage(_int(state["garbage_now"], "garbage_now", 1, 4096))
    except ValueError as err:
        raise _BadRequest(str(err)) from None
    return web.json_response({"ok": True, **sim.summary()})


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer {low}-{high}")
    return value


async def _unplug(request: web.Request) -> web.Response:
    sim = _sim(request)
    await sim.unplug()
    return web.json_response({"ok": True, "plugged": sim.plugged})


async def _replug(request: web.Request) -> web.Response:
    sim = _sim(request)
    await sim.replug()
    return web.json_response({"ok": True, "plugged": sim.plugged})


async def _reboot(request: web.Request) -> web.Response:
    sim = _sim(request)
    await sim.reboot()
    return web.json_response({"ok": True, "plugged": sim.plugged})


async def _calls(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "calls": [c.as_dict() for c in _sim(request).calls]})


async def _hangup(request: web.Request) -> web.Response:
    sim = _sim(request)
    had_call = sim.active_call is not None
    sim.callee_hangs_up()
    return web.json_response({"ok": True, "hung_up": had_call})


async def _ussd(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "answers": dict(_sim(request).ussd_answers)})


async def _ussd_set(request: web.Request) -> web.Response:
    body = await _body(request)
    code, answer = body.get("code"), body.get("answer")
    if not isinstance(code, str) or not code:
        raise _BadRequest('"code" is a required string')
    answers = _sim(request).ussd_answers
    if answer is None:
        answers.pop(code, None)
    elif isinstance(answer, str):
        answers[code] = answer
    else:
        raise _BadRequest('"answer" must be a string or null')
    return web.json_response({"ok": True, "answers": dict(answers)})

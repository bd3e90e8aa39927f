"""Run a seed document's curl command as written, with only its host (and key) changed.

`run_curl` substitutes text and reports the HTTP status; `run_shell` runs an example exactly
as printed (`curl ... | jq ...`) with the host and key in environment variables.

The command goes through bash and the real `curl` binary, asynchronously, so the relay under
test (served by this same event loop) keeps answering while curl waits.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any


async def run_curl(command: str, replace: dict[str, str]) -> tuple[int, Any]:
    """(HTTP status, parsed JSON body) of `command` after the `replace` substitutions."""
    for old, new in replace.items():
        command = command.replace(old, new)
    # -s is in most seed examples already; -w appends the status on a line of its own.
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", command + " -s -w '\\n%{http_code}'",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(20):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    body, _, status = out.decode().rpartition("\n")
    return int(status), json.loads(body) if body.strip() else None


async def run_shell(command: str, env: dict[str, str]) -> list[Any]:
    """Run a seed's shell example verbatim (curl | jq) with `env` added; its JSON values."""
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", "set -o pipefail; " + command,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )  # fmt: skip
    async with asyncio.timeout(20):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    decoder, text, values = json.JSONDecoder(), out.decode(), []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return values
        value, position = decoder.raw_decode(text, position)
        values.append(value)

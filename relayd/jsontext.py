"""Decoding untrusted JSON text: one set of rules for HTTP bodies and phone frames."""

from __future__ import annotations

import json
import re
from typing import Any

from relayd.exceptions import RelaydError

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class InvalidJson(RelaydError):
    """A text that is not JSON relayd can keep; the message says why (\"the body \" + it)."""


def decode_json(raw: bytes | str) -> Any:
    """`raw` as JSON, or InvalidJson that says what is wrong with it.

    A JSON text may spell a lone UTF-16 surrogate (`"\\ud800"`); Python decodes it to a
    string that cannot be encoded again (SQLite, logs and answers would fail), so such a
    text is refused like any other invalid JSON. So are texts nested deeper than Python's
    recursion limit and integers past its 4300-digit conversion limit.
    """
    data_bytes = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    try:
        data = json.loads(raw)
    except RecursionError:
        raise InvalidJson("nests arrays or objects too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidJson(f"is not valid JSON: {exc}") from None
    except ValueError:  # int(): Python refuses to convert more than 4300 digits
        raise InvalidJson("holds a number with thousands of digits") from None
    if isinstance(raw, str) or b"\x00" in data_bytes or _SURROGATE_ESCAPE.search(data_bytes):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidJson(
                "is not valid JSON: it holds a lone UTF-16 surrogate (\\ud800-\\udfff)"
            ) from None
    return data

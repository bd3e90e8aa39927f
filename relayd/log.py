"""Logging: stdout for journald, a TRACE level for raw serial bytes, secrets and numbers masked."""

from __future__ import annotations

import logging
import re
import sys

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

_KEY_RE = re.compile(r"\b(rk_|whsec_)[A-Za-z0-9_\-]{4,}")
_QUERY_SECRET_RE = re.compile(r"((?:secret_key|token|key|password)=)[^&\s\"']+", re.IGNORECASE)
_NUMBER_RE = re.compile(r"(?<![\w+])\+?(\d{3})\d{3,10}(\d{2})(?!\d)")
_BEARER_RE = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)


def redact(text: str) -> str:
    """Mask API keys, secrets in query strings, bearer tokens and phone numbers."""
    text = _KEY_RE.sub(lambda m: m.group(1) + "…", text)
    text = _QUERY_SECRET_RE.sub(r"\1…", text)
    text = _BEARER_RE.sub(r"\1…", text)
    return _NUMBER_RE.sub(lambda m: f"+{m.group(1)}…{m.group(2)}", text)


class RedactingFilter(logging.Filter):
    """Applied to every record at DEBUG and above; TRACE keeps raw bytes for debugging."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message in place."""
        if record.levelno > TRACE:
            message = record.getMessage()
            redacted = redact(message)
            if redacted != message:
                record.msg = redacted
                record.args = None
        return True


def setup_logging(level: str = "INFO") -> None:
    """Log to stdout with masking; journald adds its own timestamps."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(TRACE if level.upper() == "TRACE" else level.upper())

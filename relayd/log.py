"""Logging: stdout for journald, a TRACE level for raw serial bytes, secrets and numbers masked."""

from __future__ import annotations

import logging
import re
import sys

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

_KEY_RE = re.compile(r"\b(rk_|whsec_|pt_)[A-Za-z0-9_\-]{4,}")
# name=value (query strings, forms), "name": "value" (JSON), name: value (headers, reprs)
_FIELD_SECRET_RE = re.compile(
    r"(?<![A-Za-z0-9])((?:secret_key|secret|token|private_token|key|password|currentPassword"
    r"|newPassword|pin|X-Secret-Key|X-Api-Key|X-Device-Token)[\"']?\s*[:=]\s*[\"']?)"
    r"[^&\s\"',;}]+",
    re.IGNORECASE,
)
_AUTH_RE = re.compile(r"((?:Bearer|Basic)\s+)[^\s\"',;}]+", re.IGNORECASE)
_PATH_SECRET_RE = re.compile(r"(/messages/[^/\s?\"']+/)[^/\s?\"'#]+")  # seed 004's GET form
# the password of a URL (`[storage] url = "postgresql://user:password@host/db"`)
_URL_PASSWORD_RE = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\s]+(@)")
_PIN_RE = re.compile(r"(\+CPIN=\s*\"?)[^\"\s]+", re.IGNORECASE)
_NUMBER_RE = re.compile(r"(?<![\w+])\+?(\d{3})\d{3,10}(\d{2})(?!\d)")


def redact(text: str) -> str:
    """Mask keys and tokens, secrets in fields, paths and auth headers, PINs, phone numbers."""
    text = _KEY_RE.sub(lambda m: m.group(1) + "…", text)
    text = _FIELD_SECRET_RE.sub(r"\1…", text)
    text = _AUTH_RE.sub(r"\1…", text)
    text = _PATH_SECRET_RE.sub(r"\1…", text)
    text = _URL_PASSWORD_RE.sub(r"\1…\2", text)
    text = _PIN_RE.sub(r"\1…", text)
    return _NUMBER_RE.sub(lambda m: f"+{m.group(1)}…{m.group(2)}", text)


class RedactingFilter(logging.Filter):
    """Applied to every record at DEBUG and above; TRACE keeps raw bytes for debugging."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message, traceback and stack in place."""
        if record.levelno > TRACE:
            message = record.getMessage()
            redacted = redact(message)
            if redacted != message:
                record.msg = redacted
                record.args = None
            if record.exc_info and not record.exc_text:  # formatted once, masked once
                record.exc_text = _FORMATTER.formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
            if record.stack_info:
                record.stack_info = redact(record.stack_info)
        return True


_FORMATTER = logging.Formatter()


def setup_logging(level: str = "INFO") -> None:
    """Log to stdout with masking; journald adds its own timestamps."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(TRACE if level.upper() == "TRACE" else level.upper())

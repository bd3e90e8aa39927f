"""relayd's error root: domain errors that say what is wrong, and the API error of a status.

Domain code (sending, auth, dispatch) raises the `Refused` family; it never knows HTTP. The
error middleware of `relayd/app.py` maps each type to a status (see `relayd/api/errors.py`),
and compat surfaces that answer in their own shape map them by type too.
"""

from __future__ import annotations


class RelaydError(Exception):
    """Root of relayd's own errors."""


class Refused(RelaydError):
    """A request the domain will not carry out: a machine code, a message, the field at fault."""

    default_code = "refused"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field


class InvalidField(Refused):
    """A field's value cannot be used (bad number, text too long, unserved channel, ...)."""

    default_code = "invalid_field"

    def __init__(self, field: str | None, message: str, code: str = "invalid_field") -> None:
        super().__init__(message, code=code, field=field)


class IdempotencyConflict(InvalidField):
    """An idempotency key already used for a different request."""

    def __init__(self, field: str = "idempotency_key") -> None:
        super().__init__(
            field,
            f"{field}: this key was already used for a different request",
            "idempotency_conflict",
        )


class Forbidden(Refused):
    """The caller may not do this (scope, recipient allowlist)."""

    default_code = "forbidden"


class RateLimited(Refused):
    """The caller's rate limit is spent; `retry_after` seconds until it may try again."""

    default_code = "rate_limited"

    def __init__(self, message: str, retry_after: int, *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class NotFound(Refused):
    """No such thing for this caller."""

    default_code = "not_found"


class Conflict(Refused):
    """The thing is in a state that does not allow this (already sent, no SIM online)."""

    default_code = "conflict"


class NoSimAvailable(RelaydError):
    """No SIM of the org can take the message."""


class ApiError(RelaydError):
    """An HTTP answer decided by an API surface: status, machine code, message, field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        """The JSON body of this error."""
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"ok": False, "error": error}

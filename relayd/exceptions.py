"""relayd's error root and the API error that becomes `{"ok": false, "error": ...}`."""

from __future__ import annotations


class RelaydError(Exception):
    """Root of relayd's own errors."""


class ApiError(RelaydError):
    """An error answer: HTTP status, machine code, human message, offending field."""

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


class NoSimAvailable(RelaydError):
    """No SIM of the org can take the message."""

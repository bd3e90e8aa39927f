"""Domain errors as HTTP answers: one table from error type to status, used by every surface."""

from __future__ import annotations

from relayd.exceptions import (
    ApiError,
    Conflict,
    Forbidden,
    InvalidField,
    NotFound,
    RateLimited,
    Refused,
    RelaydError,
)

STATUS_OF: tuple[tuple[type[Refused], int], ...] = (
    (InvalidField, 422),
    (Forbidden, 403),
    (RateLimited, 429),
    (NotFound, 404),
    (Conflict, 409),
)


def status_of(exc: Refused) -> int:
    """The HTTP status of a domain error (422 for a refusal of no known kind)."""
    return next((status for kind, status in STATUS_OF if isinstance(exc, kind)), 422)


def as_api_error(exc: RelaydError) -> ApiError:
    """`exc` as the API answer: same code, message and field; Retry-After when rate limited."""
    if isinstance(exc, ApiError):
        return exc
    if not isinstance(exc, Refused):
        raise TypeError(f"{type(exc).__name__} is not an answer to a request") from exc
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return ApiError(status_of(exc), exc.code, exc.message, exc.field, headers)

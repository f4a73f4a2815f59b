"""Errors of the client API, answered in Mastodon's shape: ``{"error": "…"}``.

Domain errors (:mod:`node.errors`) map to the status Mastodon uses for the same
situation; nothing is changed when any of them is raised by a service.
"""

from __future__ import annotations

from node.errors import AuthenticationFailed, FedwallError, NotFound, PermissionDenied


class ApiError(Exception):
    """An answer other than success: HTTP ``status`` and the message for ``error``."""

    def __init__(self, status: int, message: str, *, description: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        # OAuth endpoints answer RFC 6749's ``error`` code plus ``error_description``.
        self.description = description

    def body(self) -> dict[str, str]:
        body = {"error": self.message}
        if self.description is not None:
            body["error_description"] = self.description
        return body


def invalid_token() -> ApiError:
    return ApiError(401, "The access token is invalid")


def outside_scopes() -> ApiError:
    return ApiError(403, "This action is outside the authorized scopes")


def user_required() -> ApiError:
    return ApiError(422, "This method requires an authenticated user")


def record_not_found() -> ApiError:
    return ApiError(404, "Record not found")


def from_domain(error: FedwallError) -> ApiError:
    """The API answer for a domain error, with the status Mastodon gives the same case."""
    if isinstance(error, NotFound):
        return record_not_found()
    if isinstance(error, PermissionDenied):
        return ApiError(403, error.message)
    if isinstance(error, AuthenticationFailed):
        return ApiError(401, error.message)
    return ApiError(422, f"Validation failed: {error.message}")

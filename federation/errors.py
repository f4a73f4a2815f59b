"""Exceptions raised when federation input is rejected.

Every error carries a short, human-readable ``reason`` that is safe to log and, where
appropriate, to return to the peer that sent the input.
"""

from __future__ import annotations


class FederationError(Exception):
    """Base class for every rejection of federation input."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureError(FederationError):
    """An HTTP signature or body digest is missing, malformed, stale or does not verify."""


class OutboundError(FederationError):
    """An outbound request failed; ``reason`` says why without echoing bodies or secrets."""


class OutboundRefused(OutboundError):
    """The request was refused before anything was sent (forbidden address, scheme, URL)."""


class OutboundTimeout(OutboundError):
    """Connecting, reading, writing, or the whole exchange took longer than allowed."""


class OutboundTooLarge(OutboundError):
    """The response body (announced or received) exceeded the client's size cap."""

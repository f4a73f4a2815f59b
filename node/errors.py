"""The domain's exception hierarchy.

Every error a person or a peer can cause is a subclass of :class:`FedwallError`
with a message that can be shown as it is: the CLI prints it on one line, the
web UI and the client API turn it into a response.
"""

from __future__ import annotations


class FedwallError(Exception):
    """Base class for errors that carry a message meant for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(FedwallError):
    """A setting is missing or invalid; the message names the key and what it accepts."""


class NodeExistsError(FedwallError):
    """`fedwall init` was asked to create a node where one already is."""


class NotFound(FedwallError):
    """The thing asked for does not exist (or is not visible to whoever asked)."""


class ValidationError(FedwallError):
    """Input was rejected; nothing was changed."""


class PermissionDenied(FedwallError):
    """The acting account may not do this."""


class AuthenticationFailed(FedwallError):
    """Wrong credentials, or a disabled account."""

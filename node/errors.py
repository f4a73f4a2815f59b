"""The domain's exception hierarchy.

Every error a person or a peer can cause is a subclass of :class:`FedwallError`
with a message that can be shown as it is: the CLI prints it on one line, the
web UI and the client API turn it into a response. Errors that can reach a page
are raised with a template marked :func:`~node.translatable.translatable` and its
parameters, so the page can show them in the reader's language.
"""

from __future__ import annotations


class FedwallError(Exception):
    """Base class for errors that carry a message meant for people.

    ``FedwallError(template, **params)``: ``message`` is the English text,
    ``template.format(**params)`` (the template as it is without parameters);
    ``template`` and ``params`` are kept for translation.
    """

    def __init__(self, template: str, **params: object) -> None:
        message = template.format(**params) if params else template
        super().__init__(message)
        self.message = message
        self.template = template
        self.params = params


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

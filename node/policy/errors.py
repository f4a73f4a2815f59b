"""Errors raised by the boundary-policy engine.

Evaluation itself never raises for bad *input from peers* (an unknown label on an
inbound activity is a ``deny`` with a reason); these errors are for policies and
crossings that our own code or an administrator built wrongly.

Like :class:`~node.errors.FedwallError`, they are raised with a template marked
:func:`~node.translatable.translatable` and its ``str.format`` parameters, so the
admin's pages can show them in the admin's language; ``message`` is the English text.
"""

from __future__ import annotations

from node.translatable import translatable


def _english(template: str, params: dict[str, object]) -> str:
    # Without parameters the template is the text as it is (it may hold literal braces).
    return template.format(**params) if params else template


class PolicyError(Exception):
    """Base class for every error of this package."""


class InvalidPolicyError(PolicyError, ValueError):
    """A snapshot or one of its parts is inconsistent.

    ``InvalidPolicyError(template, path, **params)``: ``message`` is
    ``template.format(**params)``. ``path`` locates the problem inside the policy, in
    the notation of the policy file (``content_rules[2].action``,
    ``peers[0].outbound.max_label``), when known.
    """

    def __init__(self, template: str, path: str | None = None, **params: object) -> None:
        message = _english(template, params)
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.template = template
        self.params = params
        self.path = path

    def under(self, prefix: str) -> InvalidPolicyError:
        """The same error, located inside ``prefix`` (used while building nested parts)."""
        if not prefix:
            return self
        path = f"{prefix}.{self.path}" if self.path else prefix
        return InvalidPolicyError(self.template, path, **self.params)


class UnknownLabelError(InvalidPolicyError, KeyError):
    """A classification label is not on the node's label scale."""

    def __init__(self, label: str, known: tuple[str, ...], path: str | None = None) -> None:
        super().__init__(
            translatable("unknown label {label!r} (known labels: {known})"),
            path,
            label=label,
            known=", ".join(known),
        )
        self.label = label
        self.known = known

    def under(self, prefix: str) -> UnknownLabelError:
        if not prefix:
            return self
        path = f"{prefix}.{self.path}" if self.path else prefix
        return UnknownLabelError(self.label, self.known, path)

    def __str__(self) -> str:
        # KeyError would otherwise repr() the message.
        return InvalidPolicyError.__str__(self)


class PolicyFileError(PolicyError, ValueError):
    """A policy file could not be read; ``line`` is 1-based when it could be found.

    ``template`` and ``params`` as for :class:`InvalidPolicyError`.
    """

    def __init__(
        self, template: str, line: int | None = None, path: str | None = None, **params: object
    ) -> None:
        message = _english(template, params)
        where = ", ".join(part for part in (f"line {line}" if line else "", path or "") if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.template = template
        self.params = params
        self.line = line
        self.path = path

    @classmethod
    def of(cls, error: InvalidPolicyError, line: int | None) -> PolicyFileError:
        """``error`` of a snapshot read from a file, found at ``line``."""
        return cls(error.template, line, error.path, **error.params)

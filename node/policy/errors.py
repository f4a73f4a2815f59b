"""Errors raised by the boundary-policy engine.

Evaluation itself never raises for bad *input from peers* (an unknown label on an
inbound activity is a ``deny`` with a reason); these errors are for policies and
crossings that our own code or an administrator built wrongly.
"""

from __future__ import annotations


class PolicyError(Exception):
    """Base class for every error of this package."""


class InvalidPolicyError(PolicyError, ValueError):
    """A snapshot or one of its parts is inconsistent.

    ``path`` locates the problem inside the policy, in the notation of the policy
    file (``content_rules[2].action``, ``peers[0].outbound.max_label``), when known.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path

    def under(self, prefix: str) -> InvalidPolicyError:
        """The same error, located inside ``prefix`` (used while building nested parts)."""
        if not prefix:
            return self
        path = f"{prefix}.{self.path}" if self.path else prefix
        return InvalidPolicyError(self.message, path)


class UnknownLabelError(InvalidPolicyError, KeyError):
    """A classification label is not on the node's label scale."""

    def __init__(self, label: str, known: tuple[str, ...], path: str | None = None) -> None:
        super().__init__(f"unknown label {label!r} (known labels: {', '.join(known)})", path)
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
    """A policy file could not be read; ``line`` is 1-based when it could be found."""

    def __init__(self, message: str, line: int | None = None, path: str | None = None) -> None:
        where = ", ".join(part for part in (f"line {line}" if line else "", path or "") if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.line = line
        self.path = path

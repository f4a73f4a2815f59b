"""Errors of directory sync and directory sign-in.

Each one means *nothing was changed*: a sync reads the whole directory before it
plans anything, and applies its plan in one transaction.
"""

from __future__ import annotations

from node.errors import FedwallError


class DirectoryError(FedwallError):
    """The directory could not be used; the message says why and what to check."""


class DirectoryUnavailable(DirectoryError):
    """No server answered, an answer timed out, or a connection broke mid-read."""


class DirectoryBindRejected(DirectoryError):
    """The directory refused the node's own bind DN and password."""


class DirectoryReadError(DirectoryError):
    """The directory answered, but not with a complete, usable result.

    Size or time limit exceeded, a base DN that does not exist, an entry without
    the configured id attribute, any result code other than success.
    """


class UnsafeSyncError(DirectoryError):
    """The directory's answer would disable every directory account or delete every group."""


class SyncConflict(FedwallError):
    """Local accounts or groups changed while a sync was applying its plan (rolled back)."""

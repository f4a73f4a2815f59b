"""How an account remembers the directory entry it belongs to.

``Account.directory_id`` holds the entry's stable id (e.g. an entryUUID), and
``Account.directory_left`` is set once a sync disabled the account because its entry
left the directory. A linked account has no local password (``password_hash`` is
NULL): it signs in only against the directory.
"""

from __future__ import annotations

from dataclasses import dataclass

# The width of Account.directory_id.
MAX_EXTERNAL_ID_LENGTH = 255


@dataclass(frozen=True)
class AccountLink:
    """The directory entry (by stable id) an account belongs to."""

    external_id: str
    # True when a sync disabled the account because the entry left the directory;
    # only such accounts are enabled again when the entry comes back.
    left: bool = False

    @classmethod
    def of(cls, directory_id: str | None, directory_left: bool = False) -> AccountLink | None:
        """The link an account's ``directory_id``/``directory_left`` hold, or None."""
        if directory_id is None:
            return None
        return cls(directory_id, left=directory_left)

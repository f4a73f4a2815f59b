"""How an account remembers the directory entry it belongs to.

There is no column for it, so the link lives in ``Account.password_hash``, which a
directory account does not need: ``!directory:<stable id>``, or
``!directory-left:<stable id>`` once a sync disabled the account because its entry
left the directory. No password hash starts with ``!`` (the Unix convention for
"no password"), so a linked account can never sign in with a local password.
"""

from __future__ import annotations

from dataclasses import dataclass

_ACTIVE = "!directory:"
_LEFT = "!directory-left:"
# Account.password_hash holds 255 characters.
MAX_EXTERNAL_ID_LENGTH = 255 - len(_LEFT)


@dataclass(frozen=True)
class AccountLink:
    """The directory entry (by stable id) an account belongs to."""

    external_id: str
    # True when a sync disabled the account because the entry left the directory;
    # only such accounts are enabled again when the entry comes back.
    left: bool = False

    @property
    def marker(self) -> str:
        return (_LEFT if self.left else _ACTIVE) + self.external_id


def parse_link(password_hash: str | None) -> AccountLink | None:
    """The link stored in ``password_hash``, or None for an account with a local password."""
    if not password_hash:
        return None
    if password_hash.startswith(_ACTIVE):
        return AccountLink(password_hash.removeprefix(_ACTIVE))
    if password_hash.startswith(_LEFT):
        return AccountLink(password_hash.removeprefix(_LEFT), left=True)
    return None

"""Which nodes see each profile field: the table on the settings page, and reading it back.

A person shares each field with chosen peer nodes, or with every node (``"*"``); the
node's policy stays the ceiling. The table marks where the policy keeps a field from
a node and says what each node sees, computed by the very functions the federation
side enforces with (:mod:`node.services.policy`), so the page cannot disagree with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from node.models import Account
from node.policy import PolicySnapshot
from node.services.policy import (
    ANONYMOUS_PEER,
    EVERY_NODE,
    profile_crossing,
    profile_field_key,
    shared_with,
    sharing_peers,
    visible_profile_fields,
)


@dataclass(frozen=True)
class ShareCell:
    """One checkbox: a field towards one peer node, or towards any other node (``"*"``)."""

    target: str
    shared: bool
    #: False when the node's policy keeps this field from that node.
    allowed: bool


@dataclass(frozen=True)
class ShareRow:
    """One profile field (by its row on the form) and its checkboxes."""

    index: int
    name: str
    cells: tuple[ShareCell, ...]
    #: Nodes chosen earlier that have no column now (no longer allowed): kept as chosen.
    kept: tuple[str, ...]


@dataclass(frozen=True)
class SharingTable:
    """The columns, the rows, and what each node sees with the choices saved."""

    peers: tuple[str, ...]
    #: Wildcard agreements (``*.corp.example``): their nodes get the fields shared with "*".
    wildcards: tuple[str, ...]
    rows: tuple[ShareRow, ...]
    #: ``(peer or "*", names of the fields it sees, in profile order)``.
    sees: tuple[tuple[str, tuple[str, ...]], ...]


def _lets_cross(
    snapshot: PolicySnapshot, target: str, name: str, value: str, now: dt.datetime
) -> bool:
    if not name.strip():
        return True  # an empty row: nothing to judge yet
    key = profile_field_key(name)
    peer = ANONYMOUS_PEER if target == EVERY_NODE else target
    return key in profile_crossing(snapshot, peer, {key: value}, now)


def sharing_table(
    snapshot: PolicySnapshot,
    account: Account,
    rows: Sequence[Mapping[str, object]],
    now: dt.datetime,
) -> SharingTable:
    """The table for the form's field ``rows`` (empty rows are new fields: every node)."""
    peers = tuple(sharing_peers(snapshot, now))
    targets = (*peers, EVERY_NODE)
    table_rows = []
    for index, row in enumerate(rows):
        name, value = str(row.get("name", "")), str(row.get("value", ""))
        chosen = shared_with(row)
        cells = tuple(
            ShareCell(
                target=target,
                shared=EVERY_NODE in chosen or target in chosen,
                allowed=_lets_cross(snapshot, target, name, value, now),
            )
            for target in targets
        )
        kept = tuple(sorted(chosen - set(targets)))
        table_rows.append(ShareRow(index=index, name=name, cells=cells, kept=kept))
    names = [str(item.get("name", "")) for item in account.profile_fields or []]
    sees = []
    for target in targets:
        visible = visible_profile_fields(
            snapshot, account, None if target == EVERY_NODE else target, now
        )
        sees.append((target, tuple(dict.fromkeys(n for n in names if n in visible))))
    return SharingTable(
        peers=peers,
        wildcards=tuple(
            sorted(
                domain
                for domain, agreement in snapshot.peers.items()
                if domain.startswith("*.") and agreement.status == "allowed"
            )
        ),
        rows=tuple(table_rows),
        sees=tuple(sees),
    )


def chosen_nodes(targets: Sequence[str], columns: Sequence[str]) -> tuple[list[str], str | None]:
    """The ``shared_with`` a row's checked ``targets`` mean, and a peer left out by mistake.

    "Any other node" covers every node, the listed ones included: a row that keeps it
    but unchecks a listed peer (one of ``columns``) is contradictory, and that peer is
    returned so the page can ask the person to choose.
    """
    if EVERY_NODE in targets:
        missing = [peer for peer in columns if peer not in targets]
        return [EVERY_NODE], (missing[0] if missing else None)
    return sorted(set(targets)), None

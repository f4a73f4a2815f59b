"""The boundary policy in force on this node, and the crossings it decides.

:class:`PolicyStore` holds the newest :class:`~node.models.PolicyVersion` as a
parsed snapshot; a change made by another process (the CLI) is picked up within
a second, without a restart. The ``*_crossing`` functions describe a post,
reaction, follow or profile as the pure engine (:mod:`node.policy`) needs it —
delivery, the inbox and the author preview all call these same functions, so a
preview can never disagree with what really happens.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from collections.abc import Iterable, Mapping, Sequence

from tortoise.transactions import in_transaction

from node.models import Account, GroupMembership, PeerRequest, PeerStats, PolicyVersion, Post
from node.policy import (
    Crossing,
    Decision,
    Kind,
    PolicySnapshot,
    Recipient,
    evaluate,
    parse_policy_file,
    policy_to_toml,
)
from node.services import audit
from node.services.content import html_to_text

# New nodes federate with nobody until an admin allows peers (allowlist mode).
DEFAULT_POLICY = """\
# Fedwall boundary policy. See the README's "Boundary policy" section.
federation_mode = "allowlist"
labels = ["public", "internal", "confidential", "restricted"]
default_label = "internal"
"""
RELOAD_SECONDS = 1.0


class PolicyStore:
    """The current policy snapshot of one node, cached and reloaded when a new version appears."""

    def __init__(self) -> None:
        self._snapshot: PolicySnapshot | None = None
        self._checked = 0.0

    async def current(self) -> PolicySnapshot:
        """The snapshot in force (cheap: the version number is checked at most once a second)."""
        now = time.monotonic()
        if self._snapshot is not None and now - self._checked < RELOAD_SECONDS:
            return self._snapshot
        self._checked = now
        latest = await PolicyVersion.all().order_by("-version").first()
        if latest is None:
            if self._snapshot is None or self._snapshot.version != 0:
                self._snapshot = parse_policy_file(DEFAULT_POLICY, 0)
            return self._snapshot
        if self._snapshot is None or self._snapshot.version != latest.version:
            self._snapshot = parse_policy_file(latest.source, latest.version)
        return self._snapshot

    async def source(self) -> str:
        latest = await PolicyVersion.all().order_by("-version").first()
        return latest.source if latest else DEFAULT_POLICY

    async def apply(self, source: str, author: str, comment: str = "") -> PolicySnapshot:
        """Validate and store a new version (raises PolicyFileError, changing nothing)."""
        async with in_transaction():
            latest = await PolicyVersion.all().order_by("-version").first()
            version = (latest.version if latest else 0) + 1
            snapshot = parse_policy_file(source, version)
            await PolicyVersion.create(
                version=version, source=source, author=author, comment=comment
            )
            await audit.append(
                "policy.changed",
                actor=author,
                policy_version=version,
                details={"comment": comment, "previous_version": version - 1},
            )
        self._snapshot = snapshot
        self._checked = time.monotonic()
        return snapshot

    async def apply_snapshot(
        self, snapshot: PolicySnapshot, author: str, comment: str
    ) -> PolicySnapshot:
        """Store an edited snapshot (e.g. a peer allowed from the CLI) as a new version."""
        return await self.apply(policy_to_toml(snapshot), author, comment)

    def forget(self) -> None:
        self._snapshot = None


# ----------------------------------------------------------------- crossings


def _plain(markup: str) -> str:
    return html_to_text(markup) if markup else ""


def post_fields(post: Post) -> dict[str, str]:
    """Every text of a post that crosses, by field name."""
    fields = {"content": _plain(post.content_html) or post.content_source}
    if post.summary:
        fields["summary"] = post.summary
    for index, attachment in enumerate(post.attachments or []):
        description = attachment.get("description")
        if description:
            fields[f"attachment.{index}.description"] = description
    return fields


def post_kind(post: Post) -> Kind:
    if post.visibility == "direct":
        return "direct_messages"
    return "replies" if post.in_reply_to_uri else "posts"


async def groups_of(account_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """The group names of each account (accounts in no group map to an empty set)."""
    ids = list(set(account_ids))
    found: dict[int, set[str]] = {i: set() for i in ids}
    if ids:
        rows = await GroupMembership.filter(account_id__in=ids).prefetch_related("group")
        for row in rows:
            found[row.account_id].add(row.group.name)  # type: ignore[attr-defined]
    return {i: frozenset(names) for i, names in found.items()}


async def post_crossing(
    post: Post,
    author: Account,
    peer: str,
    recipients: Sequence[Account],
    now: dt.datetime,
    *,
    direction: str = "outbound",
) -> Crossing:
    """The crossing of ``post`` to (or from) ``peer``, whose ``recipients`` it addresses."""
    groups = await groups_of([author.id, *(r.id for r in recipients)])
    return Crossing(
        direction=direction,  # type: ignore[arg-type]
        peer=peer,
        kind=post_kind(post),
        now=now,
        label=post.label,
        fields=post_fields(post),
        has_media=bool(post.attachments),
        author=f"{author.username}@{author.domain}" if author.domain else author.username,
        author_groups=groups.get(author.id, frozenset()) if author.is_local else frozenset(),
        recipients=tuple(
            Recipient(
                handle=r.username if r.is_local else f"{r.username}@{r.domain}",
                groups=groups.get(r.id, frozenset()),
            )
            for r in recipients
            if post.visibility == "direct" and (r.is_local != author.is_local)
        ),
    )


def simple_crossing(
    direction: str,
    peer: str,
    kind: Kind,
    now: dt.datetime,
    *,
    label: str | None = None,
    author: Account | None = None,
    author_groups: frozenset[str] = frozenset(),
    fields: Mapping[str, str] | None = None,
) -> Crossing:
    """A crossing without post content: a follow, a reaction, a profile lookup."""
    return Crossing(
        direction=direction,  # type: ignore[arg-type]
        peer=peer,
        kind=kind,
        now=now,
        label=label,
        fields=dict(fields or {}),
        author=author.username if author else None,
        author_groups=author_groups,
    )


def profile_field_key(name: str) -> str:
    """The crossing field of a profile field: ``Job title`` → ``profile.job_title``."""
    return "profile." + re.sub(r"\W+", "_", name.strip().lower()).strip("_")


def profile_fields(account: Account) -> dict[str, str]:
    """A local account's profile fields as crossing fields (``profile.<name>``)."""
    fields = {}
    if account.email:
        fields["profile.email"] = account.email
    for item in account.profile_fields or []:
        key = profile_field_key(str(item.get("name", "")))
        if key != "profile.":
            fields[key] = str(item.get("value", ""))
    return fields


async def decide(store: PolicyStore, crossing: Crossing) -> Decision:
    """Evaluate ``crossing`` against the policy in force."""
    return evaluate(await store.current(), crossing)


def redacted_html(text: str) -> str:
    """HTML for a redacted plain-text copy (links and mentions become plain text)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)


# ----------------------------------------------------------------- peers seen


async def note_peer_request(domain: str, tried: str) -> None:
    """Record that a peer not allowed here tried something (for the admin to approve or deny)."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    request = await PeerRequest.get_or_none(domain=domain)
    if request is None:
        await PeerRequest.create(
            domain=domain, attempts=[{"at": now, "tried": tried}], attempt_count=1
        )
        return
    attempts = [*(request.attempts or [])[-19:], {"at": now, "tried": tried}]
    await PeerRequest.filter(domain=domain).update(
        attempts=attempts,
        attempt_count=request.attempt_count + 1,
        last_seen_at=dt.datetime.now(dt.UTC),
    )


async def count_crossing(domain: str, direction: str, allowed: bool) -> None:
    """Traffic counters per peer, for the admin overview."""
    column = f"{direction}_{'allowed' if allowed else 'denied'}"
    stats, _ = await PeerStats.get_or_create(domain=domain)
    setattr(stats, column, getattr(stats, column) + 1)
    stats.last_contact_at = dt.datetime.now(dt.UTC)
    await stats.save()

"""The author's preview of a draft: which nodes and audiences it will reach, and why.

The draft becomes an *unsaved* :class:`~node.models.Post` built exactly as
:func:`node.services.posts.create_post` would build it; its recipients are found
as the delivery worker finds them (mentioned accounts, the parent's author, and
for ``public``/``followers`` posts the remote followers), grouped per peer, and
each peer's decision comes from :func:`node.services.policy.post_crossing` and
:func:`node.services.policy.decide` — the very functions delivery calls. Direct
messages are drafts with visibility ``direct``.

:func:`sample_crossing` builds an admin's made-up crossing (``fedwall policy test``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from node.errors import ValidationError
from node.models import Account, Follow, Post
from node.policy import DIRECTIONS, KINDS, Crossing, Decision, Kind, Reason, Recipient
from node.services.accounts import get_local
from node.services.content import Handle, find_mentions, render_text
from node.services.policy import decide, groups_of, post_crossing, post_kind
from node.services.posts import Draft, _validate, get_visible_post, resolve_handles
from node.site import Site
from node.translatable import translatable

_LOCAL_AUDIENCE = {
    "public": "everyone on this node, and anyone who can see its public posts",
    "node": "people signed in on this node (it never leaves the node)",
    "followers": "your followers on this node and the people you mention here",
    "direct": "the people you mention on this node",
}


@dataclass(frozen=True)
class Addressee:
    """An account that receives the post, and why: ``follower``, ``mentioned``, ``replied to``."""

    handle: str
    why: str


@dataclass(frozen=True)
class PeerPreview:
    """What happens at one peer node: the policy's decision and the accounts there."""

    peer: str
    decision: Decision
    audience: tuple[Addressee, ...]


@dataclass(frozen=True)
class LocalPreview:
    """Who sees the post on this node (``accounts`` lists named people; public and
    node-only posts reach everyone described instead)."""

    domain: str
    description: str
    accounts: tuple[Addressee, ...]


@dataclass(frozen=True)
class DraftPreview:
    label: str
    visibility: str
    kind: Kind
    local: LocalPreview
    peers: tuple[PeerPreview, ...]
    # Mentions that name no known account: nobody receives those.
    unresolved: tuple[str, ...]
    policy_version: int

    @property
    def warnings(self) -> tuple[Reason, ...]:
        """The enforced ``warn`` reasons of every peer, each message once."""
        seen: dict[str, Reason] = {}
        for peer in self.peers:
            for reason in peer.decision.warnings:
                seen.setdefault(reason.message, reason)
        return tuple(seen.values())


def parse_handle(text: str) -> Handle:
    """``bob``, ``@bob`` or ``bob@sales.example`` as a mention handle."""
    username, _, domain = text.strip().lstrip("@").partition("@")
    if not username or not all(c.isalnum() or c == "_" for c in username):
        raise ValidationError(
            translatable("invalid handle {handle!r}: use user or user@domain"), handle=text
        )
    return Handle(username.lower(), domain.lower() or None)


def _handle(account: Account) -> str:
    return account.username if account.is_local else f"{account.username}@{account.domain}"


async def _followers(author: Account) -> list[Account]:
    follows = await Follow.filter(followee_id=author.id, state="accepted").prefetch_related(
        "follower"
    )
    return [f.follower for f in follows]


async def preview_draft(
    site: Site,
    author: Account,
    draft: Draft,
    *,
    mentions: Sequence[str] = (),
    now: dt.datetime | None = None,
) -> DraftPreview:
    """Preview ``draft`` by ``author``; raises what posting it would raise, and stores nothing.

    ``mentions``: handles addressed besides those written in the text (a client that
    keeps the recipients of a message apart from its text); they are previewed as
    mentions, so the client must add them to the text when it posts.
    """
    _validate(site, author, draft)
    moment = now or dt.datetime.now(dt.UTC)
    parent = None
    if draft.in_reply_to_id is not None:
        parent = await get_visible_post(author, draft.in_reply_to_id)
    handles = list(dict.fromkeys([*find_mentions(draft.text), *map(parse_handle, mentions)]))
    accounts = await resolve_handles(site, handles)
    unresolved = tuple(str(h) for h in handles if h not in accounts)

    def mention_url(handle: Handle) -> str | None:
        account = accounts.get(handle)
        return (account.url or account.uri) if account else None

    # The same rendering as create_post: the policy scans the same text.
    html = render_text(draft.text, mention_url, lambda tag: f"{site.base_url}/tags/{tag}")
    post = Post(
        author=author,
        local=True,
        uri=f"{site.base_url}/preview",
        visibility=draft.visibility,
        label=draft.label or site.default_label,
        content_source=draft.text,
        content_html=html,
        summary=draft.summary,
        sensitive=draft.sensitive or bool(draft.summary),
        language=draft.language,
        in_reply_to_uri=parent.uri if parent else None,
        attachments=[dict(a) for a in draft.attachments],
        created_at=moment,
    )
    addressed: dict[int, tuple[Account, str]] = {}
    for account in accounts.values():
        if account.id != author.id:
            addressed[account.id] = (account, "mentioned")
    if parent is not None and parent.author.id != author.id:
        addressed.setdefault(parent.author.id, (parent.author, "replied to"))
    if draft.visibility in ("public", "followers"):
        for follower in await _followers(author):
            addressed.setdefault(follower.id, (follower, "follower"))

    by_peer: dict[str, list[tuple[Account, str]]] = {}
    local: list[Addressee] = []
    for account, why in addressed.values():
        if account.disabled:
            continue
        if account.is_local:
            if draft.visibility in ("followers", "direct"):
                local.append(Addressee(_handle(account), why))
        elif draft.visibility != "node":
            by_peer.setdefault(account.domain, []).append((account, why))

    peers = []
    version = (await site.policy.current()).version
    for peer, entries in sorted(by_peer.items()):
        recipients = [account for account, _ in entries]
        crossing = await post_crossing(post, author, peer, recipients, moment)
        decision = await decide(site.policy, crossing)
        version = decision.policy_version
        audience = tuple(
            Addressee(_handle(a), why) for a, why in sorted(entries, key=lambda e: e[0].username)
        )
        peers.append(PeerPreview(peer, decision, audience))
    return DraftPreview(
        label=post.label,
        visibility=draft.visibility,
        kind=post_kind(post),
        local=LocalPreview(
            site.domain,
            _LOCAL_AUDIENCE.get(draft.visibility, ""),
            tuple(sorted(local, key=lambda a: a.handle)),
        ),
        peers=tuple(peers),
        unresolved=unresolved,
        policy_version=version,
    )


async def sample_crossing(
    *,
    text: str,
    peer: str,
    label: str | None = None,
    author: str | None = None,
    recipients: Sequence[str] = (),
    kind: str = "posts",
    direction: str = "outbound",
    summary: str | None = None,
    media: bool = False,
    now: dt.datetime | None = None,
) -> Crossing:
    """A made-up crossing for an admin's "what if" (``fedwall policy test``).

    ``author`` and recipients without a domain are local users, whose groups count.
    Raises ValidationError for an unknown kind or direction, NotFound for unknown users.
    """
    if kind not in KINDS:
        raise ValidationError(
            translatable("unknown kind {kind!r} (expected one of {choices})"),
            kind=kind,
            choices=", ".join(KINDS),
        )
    if direction not in DIRECTIONS:
        raise ValidationError(
            translatable("unknown direction {direction!r}: use outbound or inbound"),
            direction=direction,
        )
    author_groups: frozenset[str] = frozenset()
    if author:
        account = await get_local(author)
        author_groups = (await groups_of([account.id]))[account.id]
    addressed = []
    for raw in recipients:
        handle = raw.strip().lstrip("@")
        groups: frozenset[str] = frozenset()
        if "@" not in handle:
            local = await get_local(handle)
            groups = (await groups_of([local.id]))[local.id]
        addressed.append(Recipient(handle=handle, groups=groups))
    fields = {"content": text}
    if summary:
        fields["summary"] = summary
    try:
        return Crossing(
            direction=direction,
            peer=peer,
            kind=kind,
            now=now or dt.datetime.now(dt.UTC),
            label=label,
            fields=fields,
            has_media=media,
            author=author,
            author_groups=author_groups,
            recipients=tuple(addressed),
        )
    except ValueError as error:
        raise ValidationError(str(error)) from None

"""Direct messages grouped into conversations by their ActivityPub ``context``.

Every direct post (local or received) joins the conversation of its context —
the same on every node, since the context travels with the post — and each
participant is a member. Local members carry their own state: unread count,
what they read last, whether they removed the conversation from their list.
:func:`record` runs inside the transaction that stores the post;
:func:`publish` announces the change after commit.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.expressions import F, Q

from node.errors import NotFound, ValidationError
from node.models import Account, Conversation, ConversationMember, Post
from node.policy import Reason
from node.services import outbox, posts
from node.services.pagination import Page, PageRequest, make_page, paginate
from node.services.policy import decide, post_crossing
from node.services.visibility import is_visible
from node.site import Site
from node.translatable import translatable


async def _context_key(post: Post) -> str:
    if post.context:
        return post.context
    # A peer that sends no context: the thread's first post stands for it.
    root_id = getattr(post, "thread_root_id", None)
    root = await Post.get_or_none(id=root_id) if root_id else None
    return root.uri if root is not None else post.uri


# How many of a conversation's latest arrivals are weighed to find its newest message.
RECENT = 50


async def _newest(post: Post, context: str) -> Post:
    """The conversation's newest message once ``post`` is in it, in conversation order:
    a backlog delivered late (after a peer's outage) must not pass for the newest."""
    recent = (
        await Post.filter(context=context, visibility="direct", deleted_at=None)
        .order_by("-id")
        .limit(RECENT)
    )
    candidates = {p.id: p for p in recent}
    candidates[post.id] = post
    return conversation_order(list(candidates.values()))[-1]


async def record(post: Post, author: Account, recipients: Sequence[Account]) -> list[int]:
    """Add a direct ``post`` to its conversation; returns the local members to notify.

    The author's copy is marked read up to the post; every other local member's
    unread count grows by one, and a member who had removed the conversation
    sees it again. Members who join later do not see earlier messages.
    """
    key = await _context_key(post)
    conversation, created = await Conversation.get_or_create(context=key)
    newest = await _newest(post, post.context) if post.context else post
    await Conversation.filter(id=conversation.id).update(
        last_post_id=newest.id, updated_at=dt.datetime.now(dt.UTC)
    )
    participants = {author.id: author, **{a.id: a for a in recipients}}
    existing = {
        m.account_id: m  # type: ignore[attr-defined]
        for m in await ConversationMember.filter(
            conversation_id=conversation.id, account_id__in=list(participants)
        )
    }
    await ConversationMember.bulk_create(
        [
            ConversationMember(
                conversation_id=conversation.id,
                account_id=account_id,
                joined_after_id=0 if created else post.id - 1,
            )
            for account_id in participants
            if account_id not in existing
        ],
        ignore_conflicts=True,
    )
    local = [a.id for a in participants.values() if a.is_local]
    if author.is_local:
        await ConversationMember.filter(
            conversation_id=conversation.id, account_id=author.id
        ).update(last_read_id=post.id, left_at=None)
    others = [i for i in local if i != author.id]
    if others:
        # Muted members keep their place in the list but are not nagged; a member
        # who left (muted and gone) is not brought back by a message addressed to them.
        await ConversationMember.filter(
            conversation_id=conversation.id, account_id__in=others, muted=False
        ).update(unread_count=F("unread_count") + 1, left_at=None)
    return local


def publish(site: Site, post: Post, members: Sequence[int]) -> None:
    """Tell the local members' direct streams that their conversation changed, and
    the outbox worker that a local message waits to be federated (it is live chat)."""
    if post.local and post.visibility == "direct":
        site.events.publish("outbox", {"post_id": post.id}, [outbox.WAKE_KEY])
    if members:
        site.events.publish(
            "conversation",
            {"post_id": post.id, "context": post.context},
            [f"direct:{account_id}" for account_id in members],
        )


@dataclass(frozen=True)
class ConversationView:
    """A conversation as one member sees it."""

    conversation: Conversation
    member: ConversationMember
    others: list[Account]
    last_post: Post | None

    @property
    def unread(self) -> bool:
        return self.member.unread_count > 0


async def _last_visible(viewer: Account, conversation: Conversation, after_id: int) -> Post | None:
    last_id = getattr(conversation, "last_post_id", None)
    if last_id is not None and last_id > after_id:
        last = await Post.get_or_none(id=last_id).prefetch_related("author")
        if last is not None and await is_visible(last, viewer):
            return last
    # Messages in the conversation that did not include the viewer: the newest one that did.
    return (
        await Post.filter(
            Q(author_id=viewer.id) | Q(mentions__account_id=viewer.id),
            context=conversation.context,
            visibility="direct",
            deleted_at=None,
            id__gt=after_id,
        )
        .order_by("-id")
        .prefetch_related("author")
        .first()
    )


async def _views(viewer: Account, conversations: list[Conversation]) -> list[ConversationView]:
    ids = [c.id for c in conversations]
    members = await ConversationMember.filter(conversation_id__in=ids).prefetch_related("account")
    mine = {m.conversation_id: m for m in members if m.account_id == viewer.id}  # type: ignore[attr-defined]
    views = []
    for conversation in conversations:
        member = mine[conversation.id]
        others = [
            m.account
            for m in members
            if m.conversation_id == conversation.id and m.account_id != viewer.id  # type: ignore[attr-defined]
        ]
        last = await _last_visible(viewer, conversation, member.joined_after_id)
        views.append(ConversationView(conversation, member, others, last))
    return views


async def list_for(viewer: Account, page: PageRequest) -> Page[ConversationView]:
    """The viewer's conversations, most recent message first (paged by that message's id)."""
    query = Conversation.filter(
        members__account_id=viewer.id, members__left_at=None, last_post_id__isnull=False
    )
    rows, _ = await paginate(query, "last_post_id", page)
    views = [v for v in await _views(viewer, list(rows)) if v.last_post is not None]
    return make_page(views, [r.last_post_id for r in rows])


async def _membership(viewer: Account, conversation_id: int) -> ConversationMember:
    member = await ConversationMember.get_or_none(
        conversation_id=conversation_id, account_id=viewer.id, left_at=None
    )
    if member is None:
        raise NotFound(translatable("conversation not found"))
    return member


async def get_for(viewer: Account, conversation_id: int) -> ConversationView:
    await _membership(viewer, conversation_id)
    conversation = await Conversation.get(id=conversation_id)
    return (await _views(viewer, [conversation]))[0]


async def mark_read(viewer: Account, conversation_id: int) -> ConversationView:
    member = await _membership(viewer, conversation_id)
    conversation = await Conversation.get(id=conversation_id)
    member.unread_count = 0
    member.last_read_id = getattr(conversation, "last_post_id", None) or member.last_read_id
    await member.save(update_fields=["unread_count", "last_read_id", "updated_at"])
    return (await _views(viewer, [conversation]))[0]


async def remove(viewer: Account, conversation_id: int) -> None:
    """Take the conversation off the viewer's list until a new message arrives."""
    member = await _membership(viewer, conversation_id)
    member.left_at = dt.datetime.now(dt.UTC)
    member.unread_count = 0
    await member.save(update_fields=["left_at", "unread_count", "updated_at"])


async def find_for_post(viewer: Account, post: Post) -> ConversationView | None:
    """The viewer's view of the conversation ``post`` belongs to (for live updates)."""
    conversation = await Conversation.get_or_none(context=await _context_key(post))
    if conversation is None:
        return None
    member = await ConversationMember.get_or_none(
        conversation_id=conversation.id, account_id=viewer.id, left_at=None
    )
    if member is None:
        return None
    return (await _views(viewer, [conversation]))[0]


# ---------------------------------------------------------------- chat extension


@dataclass(frozen=True)
class Undelivered:
    """A participant a message will not reach, and the policy's reasons (never a silent drop).

    ``reasons`` are the English lines; ``details`` the same reasons with the templates a
    page needs to show them in another language.
    """

    account: Account
    peer: str
    outcome: str
    reasons: tuple[str, ...]
    details: tuple[Reason, ...] = ()


def _handle(account: Account) -> str:
    return f"@{account.username}" + ("" if account.is_local else f"@{account.domain}")


async def participants(conversation_id: int) -> list[Account]:
    """Everyone still in the conversation (members who left are not addressed again)."""
    members = await ConversationMember.filter(conversation_id=conversation_id).prefetch_related(
        "account"
    )
    return [m.account for m in members if not (m.muted and m.left_at is not None)]


async def start(
    site: Site, author: Account, handles: Sequence[str], text: str, label: str | None = None
) -> Post:
    """Open a conversation with ``handles`` (``user`` or ``user@domain``) by sending ``text``."""
    if not handles:
        raise ValidationError(translatable("a conversation needs at least one other participant"))
    for raw in handles:
        username = raw.strip().lstrip("@").partition("@")[0]
        if not username or not all(c.isalnum() or c == "_" for c in username):
            raise ValidationError(
                translatable("invalid handle {handle!r}: use user or user@domain"), handle=raw
            )
    addressed = " ".join("@" + h.strip().lstrip("@") for h in handles)
    draft = posts.Draft(text=f"{addressed} {text}", visibility="direct", label=label)
    return await posts.create_post(site, author, draft)


async def send(
    site: Site, author: Account, conversation_id: int, text: str, label: str | None = None
) -> Post:
    """A new message in the conversation, addressed to every participant still in it.

    It replies to the newest message the author can see, so the context (and so
    the conversation on every node) stays the same.
    """
    view = await get_for(author, conversation_id)
    if view.last_post is None:
        raise NotFound(translatable("conversation not found"))
    others = [a for a in await participants(conversation_id) if a.id != author.id]
    addressed = " ".join(_handle(a) for a in others)
    draft = posts.Draft(
        text=f"{addressed} {text}".strip(),
        visibility="direct",
        label=label,
        in_reply_to_id=view.last_post.id,
    )
    return await posts.create_post(site, author, draft)


async def add_participant(viewer: Account, conversation_id: int, account: Account) -> None:
    """Add ``account``; it sees only messages sent from now on."""
    await _membership(viewer, conversation_id)
    conversation = await Conversation.get(id=conversation_id)
    last_id = getattr(conversation, "last_post_id", None) or 0
    member = await ConversationMember.get_or_none(
        conversation_id=conversation_id, account_id=account.id
    )
    if member is None:
        await ConversationMember.create(
            conversation_id=conversation_id, account_id=account.id, joined_after_id=last_id
        )
    elif member.muted and member.left_at is not None:
        # Coming back after leaving: again only what is sent from now on.
        member.muted, member.left_at, member.joined_after_id = False, None, last_id
        await member.save(update_fields=["muted", "left_at", "joined_after_id", "updated_at"])


async def leave(viewer: Account, conversation_id: int) -> None:
    """Leave for good: later messages no longer address the viewer, nor bring it back."""
    member = await _membership(viewer, conversation_id)
    member.left_at = dt.datetime.now(dt.UTC)
    member.muted = True
    member.unread_count = 0
    await member.save(update_fields=["left_at", "muted", "unread_count", "updated_at"])


async def set_muted(viewer: Account, conversation_id: int, muted: bool) -> ConversationView:
    """A muted conversation stays in the list but its messages no longer count as unread."""
    member = await _membership(viewer, conversation_id)
    member.muted = muted
    await member.save(update_fields=["muted", "updated_at"])
    return await get_for(viewer, conversation_id)


async def mark_read_up_to(viewer: Account, conversation_id: int, post_id: int) -> ConversationView:
    """Move the read marker to ``post_id``; unread counts what the viewer received after it."""
    member = await _membership(viewer, conversation_id)
    conversation = await Conversation.get(id=conversation_id)
    member.last_read_id = max(member.last_read_id, post_id)
    member.unread_count = await _received_after(viewer, conversation, member.last_read_id)
    await member.save(update_fields=["unread_count", "last_read_id", "updated_at"])
    return await get_for(viewer, conversation_id)


async def _received_after(viewer: Account, conversation: Conversation, after_id: int) -> int:
    return (
        await Post.filter(
            mentions__account_id=viewer.id,
            context=conversation.context,
            visibility="direct",
            deleted_at=None,
            id__gt=after_id,
        )
        .exclude(author_id=viewer.id)
        .count()
    )


def conversation_order(posts: Sequence[Post]) -> list[Post]:
    """Messages in the order of their conversation: every reply after what it answers,
    otherwise by publication time.

    Peers publish times to the second and deliver in any order, so neither the time
    nor the local id alone orders a conversation the same way on every node.
    """
    by_uri = {p.uri: p for p in posts}
    children: dict[str, list[Post]] = {}
    ready: list[tuple[dt.datetime, str, Post]] = []
    for post in posts:
        parent = post.in_reply_to_uri
        if parent and parent in by_uri and parent != post.uri:
            children.setdefault(parent, []).append(post)
        else:
            ready.append((post.created_at, post.uri, post))
    heapq.heapify(ready)
    ordered = []
    while ready:
        _, uri, post = heapq.heappop(ready)
        ordered.append(post)
        for child in children.pop(uri, []):
            heapq.heappush(ready, (child.created_at, child.uri, child))
    return ordered


MAX_MESSAGES = 1000


async def messages(
    viewer: Account, conversation_id: int, *, before_id: int | None = None, limit: int = 20
) -> list[Post]:
    """The messages of the conversation the viewer took part in, in conversation order
    (oldest first): the ``limit`` last ones, or the last ones before message ``before_id``.

    A ``before_id`` that is not (or no longer) among them, say a message deleted since
    the previous page was shown, still pages back: to the messages with lower ids.
    Only the :data:`MAX_MESSAGES` newest messages are reached this way."""
    member = await _membership(viewer, conversation_id)
    conversation = await Conversation.get(id=conversation_id)
    rows = (
        await Post.filter(
            Q(author_id=viewer.id) | Q(mentions__account_id=viewer.id),
            context=conversation.context,
            visibility="direct",
            deleted_at=None,
            id__gt=member.joined_after_id,
        )
        .distinct()
        .order_by("-id")
        .limit(MAX_MESSAGES)
        .prefetch_related("author")
    )
    ordered = conversation_order(rows)
    if before_id is not None:
        cut = next((i for i, p in enumerate(ordered) if p.id == before_id), None)
        ordered = [p for p in ordered if p.id < before_id] if cut is None else ordered[:cut]
    return ordered[-limit:] if limit > 0 else []


async def undelivered(site: Site, author: Account, post: Post) -> list[Undelivered]:
    """The participants ``post`` will not reach because a peer's policy refuses it.

    The same decisions the delivery worker makes (:func:`post_crossing`, :func:`decide`),
    taken now so the sender is told at once, per participant, and why.
    """
    mentioned = await Account.filter(mentioned_in__post_id=post.id, domain__not="", disabled=False)
    by_peer: dict[str, list[Account]] = {}
    for account in mentioned:
        by_peer.setdefault(account.domain, []).append(account)
    moment = dt.datetime.now(dt.UTC)
    result: list[Undelivered] = []
    for peer, accounts in sorted(by_peer.items()):
        decision = await decide(
            site.policy, await post_crossing(post, author, peer, accounts, moment)
        )
        if decision.outcome in ("deny", "hold"):
            decisive = tuple(r for r in decision.reasons if r.effect == decision.outcome)
            details = decisive or decision.reasons
            reasons = tuple(r.message for r in details)
            result.extend(
                Undelivered(a, peer, decision.outcome, reasons, details)
                for a in sorted(accounts, key=lambda a: a.username)
            )
    return result

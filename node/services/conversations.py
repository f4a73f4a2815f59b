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
from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.expressions import F, Q

from node.errors import NotFound
from node.models import Account, Conversation, ConversationMember, Post
from node.services.pagination import Page, PageRequest, make_page, paginate
from node.services.visibility import is_visible
from node.site import Site


async def _context_key(post: Post) -> str:
    if post.context:
        return post.context
    # A peer that sends no context: the thread's first post stands for it.
    root_id = getattr(post, "thread_root_id", None)
    root = await Post.get_or_none(id=root_id) if root_id else None
    return root.uri if root is not None else post.uri


async def record(post: Post, author: Account, recipients: Sequence[Account]) -> list[int]:
    """Add a direct ``post`` to its conversation; returns the local members to notify.

    The author's copy is marked read up to the post; every other local member's
    unread count grows by one, and a member who had removed the conversation
    sees it again. Members who join later do not see earlier messages.
    """
    key = await _context_key(post)
    conversation, created = await Conversation.get_or_create(context=key)
    await Conversation.filter(id=conversation.id).update(
        last_post_id=post.id, updated_at=dt.datetime.now(dt.UTC)
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
        await ConversationMember.filter(
            conversation_id=conversation.id, account_id__in=others
        ).update(unread_count=F("unread_count") + 1, left_at=None)
    return local


def publish(site: Site, post: Post, members: Sequence[int]) -> None:
    """Tell the local members' direct streams that their conversation changed."""
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
        raise NotFound("conversation not found")
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

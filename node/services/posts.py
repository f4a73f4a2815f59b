"""Posts: create, edit, delete, read, threads — with fan-out to home timelines.

Every change is written with its outbox event in one transaction
(:mod:`node.services.outbox`); live events are published only after commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from node.errors import NotFound, PermissionDenied, ValidationError
from node.ids import new_id
from node.models import (
    Account,
    Follow,
    IdempotencyKey,
    Mention,
    Post,
    PostEdit,
    PostTag,
    TimelineEntry,
)
from node.services import audit, conversations, notifications, outbox
from node.services.content import Handle, find_hashtags, find_mentions, render_text
from node.services.visibility import VISIBILITIES, is_visible
from node.site import Site
from node.translatable import translatable

MAX_SUMMARY_LENGTH = 500
MAX_ATTACHMENTS = 8
ATTACHMENT_KEYS = {"url", "media_type", "description", "blurhash"}


@dataclass(frozen=True)
class Draft:
    """What an author submits. ``label`` None means the node's default label."""

    text: str
    visibility: str = "public"
    label: str | None = None
    summary: str = ""
    sensitive: bool = False
    language: str | None = None
    in_reply_to_id: int | None = None
    attachments: Sequence[dict[str, str]] = field(default_factory=tuple)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _validate(site: Site, author: Account, draft: Draft) -> None:
    if not author.is_local:
        raise PermissionDenied(translatable("only local accounts post through this node"))
    if author.disabled:
        raise PermissionDenied(translatable("this account is disabled"))
    if draft.visibility not in VISIBILITIES:
        raise ValidationError(
            translatable("invalid visibility {visibility!r}: use one of {choices}"),
            visibility=draft.visibility,
            choices=", ".join(VISIBILITIES),
        )
    if draft.label is not None and draft.label not in site.labels:
        raise ValidationError(
            translatable("unknown classification label {label!r}: use one of {choices}"),
            label=draft.label,
            choices=", ".join(site.labels),
        )
    if not draft.text.strip() and not draft.attachments:
        raise ValidationError(translatable("a post needs text or an attachment"))
    if len(draft.text) > site.max_post_length:
        raise ValidationError(
            translatable("post too long: {length} characters, at most {limit}"),
            length=len(draft.text),
            limit=site.max_post_length,
        )
    if len(draft.summary) > MAX_SUMMARY_LENGTH:
        raise ValidationError(
            translatable("content warning too long: at most {limit} characters"),
            limit=MAX_SUMMARY_LENGTH,
        )
    if len(draft.attachments) > MAX_ATTACHMENTS:
        raise ValidationError(
            translatable("too many attachments: at most {limit}"), limit=MAX_ATTACHMENTS
        )
    for attachment in draft.attachments:
        if not str(attachment.get("url", "")).startswith(("https://", "http://")):
            raise ValidationError(translatable("an attachment needs an http(s) url"))
        unknown = set(attachment) - ATTACHMENT_KEYS
        if unknown:
            raise ValidationError(
                translatable("unknown attachment field {field!r}"), field=sorted(unknown)[0]
            )


async def resolve_handles(site: Site, handles: Sequence[Handle]) -> dict[Handle, Account]:
    """Accounts for mentioned handles that exist (remote ones fetched if the node can)."""
    found: dict[Handle, Account] = {}
    for handle in handles:
        domain = handle.domain
        if domain is None or domain == site.domain:
            account = await Account.get_or_none(
                username=handle.username, domain="", actor_type="Person"
            )
        else:
            account = await Account.filter(username__iexact=handle.username, domain=domain).first()
            if account is None and site.resolve_remote is not None:
                resolved = await site.resolve_remote(handle.username, domain)
                account = resolved if isinstance(resolved, Account) else None
        if account is not None:
            found[handle] = account
    return found


async def get_visible_post(viewer: Account | None, post_id: int) -> Post:
    """The post, if it exists, is not deleted and ``viewer`` may see it; else NotFound."""
    post = await Post.get_or_none(id=post_id).prefetch_related("author")
    if post is None or not await is_visible(post, viewer):
        raise NotFound(translatable("post not found"))
    return post


async def fan_out(
    post: Post, author: Account, *, followers: Collection[int] | None = None
) -> list[int]:
    """Write home-timeline entries for a new local or remote post; returns the owners.

    ``followers``: the author's accepted local followers, when the caller has read them.
    """
    owners: set[int] = set()
    if author.is_local:
        owners.add(author.id)
    if post.visibility in ("public", "node", "followers"):
        if followers is None:
            follower_ids = await Follow.filter(
                followee_id=author.id, state="accepted", follower__domain=""
            ).values_list("follower_id", flat=True)
            followers = [int(i) for i in follower_ids]  # type: ignore[call-overload]
        owners.update(followers)
    if post.visibility == "direct":
        # Direct messages live in conversations, never in timelines.
        owners.clear()
    # The post is new: no entry can exist yet (ignoring conflicts costs a statement built anew).
    await TimelineEntry.bulk_create(
        [TimelineEntry(owner_id=o, post_id=post.id, status_id=post.id) for o in owners]
    )
    return sorted(owners)


def publish_created(site: Site, post: Post, owners: Sequence[int], tags: Sequence[str]) -> None:
    keys = [f"user:{owner}" for owner in owners]
    if post.visibility == "public":
        keys.append("public")
        if post.local:
            keys.append("public:local")
        keys.extend(f"hashtag:{tag}" for tag in tags)
    if post.visibility == "node" and post.local:
        keys.append("node")
    if post.local and post.visibility != "node":
        # Wake the outbox worker now rather than at its next poll (federation listens here).
        keys.append(outbox.WAKE_KEY)
    site.events.publish("update", {"post_id": post.id}, keys)


async def create_post(
    site: Site, author: Account, draft: Draft, *, idempotency_key: str | None = None
) -> Post:
    """Publish a post by a local author. Raises ValidationError/NotFound and changes nothing.

    With an ``idempotency_key`` already used by the author within the last hour,
    the post created then is returned and nothing new is created; two concurrent
    first uses of a key let one commit and the other raise IntegrityError.
    """
    if idempotency_key is not None:
        earlier = await idempotent_post(author, idempotency_key)
        if earlier is not None:
            return earlier
    _validate(site, author, draft)
    parent: Post | None = None
    if draft.in_reply_to_id is not None:
        parent = await get_visible_post(author, draft.in_reply_to_id)
    handles = find_mentions(draft.text)
    accounts = await resolve_handles(site, handles)
    mentioned: dict[int, Account] = {a.id: a for a in accounts.values() if a.id != author.id}
    if parent is not None and parent.author.id != author.id:
        mentioned.setdefault(parent.author.id, parent.author)
    tags = find_hashtags(draft.text)

    def mention_url(handle: Handle) -> str | None:
        account = accounts.get(handle)
        return (account.url or account.uri) if account else None

    html = render_text(draft.text, mention_url, lambda tag: f"{site.base_url}/tags/{tag}")
    post_id = new_id()
    uri = site.post_uri(author.username, post_id)
    async with in_transaction():
        post = await Post.create(
            id=post_id,
            uri=uri,
            url=f"{site.profile_url(author.username)}/{post_id}",
            author=author,
            local=True,
            visibility=draft.visibility,
            label=draft.label or site.default_label,
            content_source=draft.text,
            content_html=html,
            summary=draft.summary,
            sensitive=draft.sensitive or bool(draft.summary),
            language=draft.language,
            in_reply_to=parent,
            in_reply_to_uri=parent.uri if parent else None,
            thread_root_id=(parent.thread_root_id or parent.id) if parent else None,  # type: ignore[attr-defined]
            context=parent.context if parent else f"{site.base_url}/contexts/{post_id}",
            attachments=[dict(a) for a in draft.attachments],
            created_at=now(),
        )
        await Mention.bulk_create([Mention(post_id=post.id, account_id=i) for i in mentioned])
        await PostTag.bulk_create([PostTag(post_id=post.id, name=t) for t in tags])
        await Account.filter(id=author.id).update(posts_count=F("posts_count") + 1)
        if parent is not None:
            await Post.filter(id=parent.id).update(replies_count=F("replies_count") + 1)
        owners = await fan_out(post, author)
        created = [
            await notifications.notify(account, "mention", author, post)
            for account in mentioned.values()
        ]
        members: list[int] = []
        if post.visibility == "direct":
            members = await conversations.record(post, author, list(mentioned.values()))
        if idempotency_key is not None:
            await IdempotencyKey.create(account=author, key=idempotency_key, post=post)
        if post.visibility != "node":
            await outbox.record("post.created", post_id=post.id)
    publish_created(site, post, owners, tags)
    notifications.publish(site, created)
    conversations.publish(site, post, members)
    return post


IDEMPOTENCY_WINDOW = dt.timedelta(hours=1)


async def idempotent_post(author: Account, key: str) -> Post | None:
    """The post ``author`` created with ``key`` within the last hour (older uses are forgotten)."""
    cutoff = now() - IDEMPOTENCY_WINDOW
    await IdempotencyKey.filter(account_id=author.id, key=key, created_at__lt=cutoff).delete()
    found = await IdempotencyKey.get_or_none(account_id=author.id, key=key).prefetch_related(
        "post__author"
    )
    return found.post if found is not None else None


async def _own_post(author: Account, post_id: int) -> Post:
    post = await Post.get_or_none(id=post_id, deleted_at=None).prefetch_related("author")
    if post is None or not await is_visible(post, author):
        raise NotFound(translatable("post not found"))
    if post.author.id != author.id:
        raise PermissionDenied(translatable("only the author may edit this post"))
    return post


async def edit_post(
    site: Site,
    author: Account,
    post_id: int,
    text: str,
    *,
    summary: str | None = None,
    sensitive: bool | None = None,
    label: str | None = None,
    language: str | None = None,
) -> Post:
    """Change a post's text (and optionally content warning, sensitivity, label, language).

    Visibility and audience never change; the previous version goes to the history.
    """
    post = await _own_post(author, post_id)
    draft = Draft(
        text=text,
        visibility=post.visibility,
        label=label or post.label,
        summary=post.summary if summary is None else summary,
        attachments=post.attachments,
    )
    _validate(site, author, draft)
    accounts = await resolve_handles(site, find_mentions(text))
    new_mentions = {a.id for a in accounts.values() if a.id != author.id}

    def mention_url(handle: Handle) -> str | None:
        account = accounts.get(handle)
        return (account.url or account.uri) if account else None

    async with in_transaction():
        await PostEdit.create(
            post=post,
            content_source=post.content_source,
            content_html=post.content_html,
            summary=post.summary,
            sensitive=post.sensitive,
            created_at=post.edited_at or post.created_at,
        )
        if sensitive is None:
            # Unless told, a post stays sensitive for its media, and for a content
            # warning it keeps; removing the warning clears what the warning implied.
            sensitive = bool(draft.summary) or (post.sensitive and not post.summary)
        post.content_source = text
        post.content_html = render_text(text, mention_url, lambda t: f"{site.base_url}/tags/{t}")
        post.summary = draft.summary
        post.sensitive = sensitive
        previous_label = post.label
        post.label = draft.label or post.label
        if post.label != previous_label:
            await _audit_label_change(site, post, author, previous_label)
        if language is not None:
            post.language = language or None
        post.edited_at = now()
        await post.save()
        existing = set(await Mention.filter(post_id=post.id).values_list("account_id", flat=True))
        await Mention.bulk_create(
            [Mention(post_id=post.id, account_id=i) for i in new_mentions - existing]
        )
        await PostTag.filter(post_id=post.id).delete()
        await PostTag.bulk_create([PostTag(post_id=post.id, name=t) for t in find_hashtags(text)])
        if post.visibility != "node":
            await outbox.record("post.updated", post_id=post.id)
    owners = await TimelineEntry.filter(post_id=post.id).values_list("owner_id", flat=True)
    keys = [f"user:{o}" for o in owners] + _audience_keys(post)
    site.events.publish("status.update", {"post_id": post.id}, keys)
    return post


async def _audit_label_change(site: Site, post: Post, author: Account, previous: str) -> None:
    """A label lowered by an edit is recorded in the audit log (raising needs no trace)."""
    scale = (await site.policy.current()).labels
    if scale.rank(post.label) < scale.rank(previous):
        await audit.append(
            "label.downgraded",
            object_id=post.uri,
            actor=author.uri,
            label=post.label,
            details={"from": previous, "to": post.label},
        )


def _audience_keys(post: Post) -> list[str]:
    keys = ["public"] if post.visibility == "public" else []
    keys.append(f"post:{post.id}")
    return keys


async def delete_post(site: Site, actor: Account, post_id: int) -> None:
    """Delete a post (author or admin). Its row stays as a tombstone so the deletion federates."""
    post = await Post.get_or_none(id=post_id, deleted_at=None).prefetch_related("author")
    if post is None or not await is_visible(post, actor):
        raise NotFound(translatable("post not found"))
    if post.author.id != actor.id and not (actor.is_admin and actor.is_local):
        raise PermissionDenied(translatable("only the author or an admin may delete this post"))
    owners = await TimelineEntry.filter(post_id=post.id).values_list("owner_id", flat=True)
    async with in_transaction():
        await mark_deleted(post)
        if post.visibility != "node" and post.local:
            await outbox.record("post.deleted", post_id=post.id)
    keys = [f"user:{o}" for o in owners] + _audience_keys(post)
    site.events.publish("delete", {"post_id": post.id}, keys)


async def mark_deleted(post: Post) -> None:
    """Turn ``post`` into a tombstone: content gone, timelines and counters updated."""
    post.deleted_at = now()
    post.content_source = ""
    post.content_html = ""
    post.summary = ""
    post.attachments = []
    await post.save()
    await PostEdit.filter(post_id=post.id).delete()
    await TimelineEntry.filter(post_id=post.id).delete()
    await Account.filter(id=post.author_id, posts_count__gt=0).update(  # type: ignore[attr-defined]
        posts_count=F("posts_count") - 1
    )
    if post.in_reply_to_id is not None:  # type: ignore[attr-defined]
        await Post.filter(id=post.in_reply_to_id, replies_count__gt=0).update(  # type: ignore[attr-defined]
            replies_count=F("replies_count") - 1
        )


async def thread(viewer: Account | None, post_id: int) -> tuple[list[Post], Post, list[Post]]:
    """``(ancestors, post, descendants)`` that ``viewer`` may see, oldest first."""
    post = await get_visible_post(viewer, post_id)
    ancestors: list[Post] = []
    cursor = post
    seen = {post.id}
    while cursor.in_reply_to_id is not None and len(ancestors) < 200:  # type: ignore[attr-defined]
        parent = await Post.get_or_none(id=cursor.in_reply_to_id).prefetch_related("author")  # type: ignore[attr-defined]
        if parent is None or parent.id in seen:
            break
        seen.add(parent.id)
        if await is_visible(parent, viewer):
            ancestors.append(parent)
        cursor = parent
    ancestors.reverse()
    root_id = post.thread_root_id or post.id  # type: ignore[attr-defined]
    candidates = (
        await Post.filter(thread_root_id=root_id, id__not=post.id)
        .prefetch_related("author")
        .order_by("id")
    )
    # Keep only replies below ``post`` in the reply tree.
    below = {post.id}
    descendants = []
    for candidate in candidates:
        if candidate.in_reply_to_id in below:  # type: ignore[attr-defined]
            below.add(candidate.id)
            if await is_visible(candidate, viewer):
                descendants.append(candidate)
    return ancestors, post, descendants


async def edit_history(viewer: Account | None, post_id: int) -> list[PostEdit]:
    post = await get_visible_post(viewer, post_id)
    return await PostEdit.filter(post_id=post.id).order_by("id")

"""Posts: creating, validating, editing, deleting, threads, visibility, outbox events."""

from __future__ import annotations

from typing import Any

import pytest

from node.db import Database
from node.errors import NotFound, PermissionDenied, ValidationError
from node.models import (
    Account,
    Mention,
    Notification,
    OutboxEvent,
    Post,
    PostEdit,
    PostTag,
    TimelineEntry,
)
from node.services.accounts import create_local_account, set_disabled
from node.services.follows import follow
from node.services.posts import (
    Draft,
    create_post,
    delete_post,
    edit_history,
    edit_post,
    get_visible_post,
    thread,
)
from node.site import Site


async def person(site: Site, username: str, **options: Any) -> Account:
    """A local account without a password (Argon2 is only needed by sign-in tests)."""
    return await create_local_account(site, username, None, **options)


async def _row_counts() -> dict[str, int]:
    return {
        "posts": await Post.all().count(),
        "timeline": await TimelineEntry.all().count(),
        "mentions": await Mention.all().count(),
        "tags": await PostTag.all().count(),
        "notifications": await Notification.all().count(),
        "outbox": await OutboxEvent.all().count(),
    }


async def _outbox() -> list[tuple[str, dict[str, object]]]:
    return [(e.kind, e.payload) for e in await OutboxEvent.all().order_by("id")]


# ---------------------------------------------------------------- creating


async def test_new_post_is_stored_with_its_author_uri_and_default_label(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")

    post = await create_post(site, alice, Draft(text="Hello, wall"))

    stored = await Post.get(id=post.id).prefetch_related("author")
    assert stored.author.id == alice.id
    assert stored.local is True
    assert stored.visibility == "public"
    assert stored.label == "internal"
    assert stored.uri == f"https://wall.test/users/alice/posts/{post.id}"
    assert stored.url == f"https://wall.test/@alice/{post.id}"
    assert stored.content_html == "<p>Hello, wall</p>"
    assert (await Account.get(id=alice.id)).posts_count == 1


async def test_content_warning_marks_the_post_sensitive(db: Database, site: Site) -> None:
    alice = await person(site, "alice")

    post = await create_post(site, alice, Draft(text="spoilers", summary="film ending"))

    stored = await Post.get(id=post.id)
    assert (stored.summary, stored.sensitive) == ("film ending", True)


async def test_post_of_exactly_the_maximum_length_is_accepted(db: Database, site: Site) -> None:
    alice = await person(site, "alice")

    post = await create_post(site, alice, Draft(text="x" * site.max_post_length))

    assert len((await Post.get(id=post.id)).content_source) == 500


INVALID_DRAFTS = [
    (Draft(text=""), "a post needs text"),
    (Draft(text="   \n\t "), "a post needs text"),
    (Draft(text="x" * 501), "post too long: 501 characters, at most 500"),
    (Draft(text="hi", visibility="everyone"), "invalid visibility 'everyone'"),
    (Draft(text="hi", label="top-secret"), "unknown classification label 'top-secret'"),
    (Draft(text="hi", summary="w" * 501), "content warning too long"),
    (Draft(text="hi", attachments=[{"url": "ftp://x.example/a"}]), "needs an http"),
    (
        Draft(text="hi", attachments=[{"url": "https://x.example/a", "onclick": "x"}]),
        "unknown attachment field 'onclick'",
    ),
]


async def test_each_invalid_draft_is_rejected_with_its_reason_and_changes_nothing(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    before = await _row_counts()

    for draft, message in INVALID_DRAFTS:
        with pytest.raises(ValidationError, match=message):
            await create_post(site, alice, draft)

        assert await _row_counts() == before, draft
    assert (await Account.get(id=alice.id)).posts_count == 0


async def test_invalid_visibility_error_lists_the_accepted_values(db: Database, site: Site) -> None:
    alice = await person(site, "alice")

    with pytest.raises(ValidationError) as caught:
        await create_post(site, alice, Draft(text="hi", visibility="everyone"))

    assert "public, node, followers, direct" in caught.value.message


async def test_disabled_author_cannot_post_and_nothing_is_created(db: Database, site: Site) -> None:
    await person(site, "alice")
    alice = await set_disabled("alice")
    before = await _row_counts()

    with pytest.raises(PermissionDenied, match="disabled"):
        await create_post(site, alice, Draft(text="still here?"))

    assert await _row_counts() == before


async def test_remote_account_cannot_post_through_this_node(db: Database, site: Site) -> None:
    rita = await Account.create(
        username="rita", domain="remote.example", uri="https://remote.example/users/rita"
    )

    with pytest.raises(PermissionDenied):
        await create_post(site, rita, Draft(text="hi"))

    assert await Post.all().count() == 0


# ---------------------------------------------------------------- visibility


async def test_public_post_is_visible_to_anonymous_viewers(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    post = await create_post(site, alice, Draft(text="hi"))

    assert (await get_visible_post(None, post.id)).id == post.id


async def test_node_post_is_visible_only_to_signed_in_local_viewers(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    rita = await Account.create(
        username="rita", domain="remote.example", uri="https://remote.example/users/rita"
    )
    post = await create_post(site, alice, Draft(text="lunch at noon", visibility="node"))

    assert (await get_visible_post(bob, post.id)).id == post.id
    with pytest.raises(NotFound):
        await get_visible_post(None, post.id)
    with pytest.raises(NotFound):
        await get_visible_post(rita, post.id)


async def test_followers_only_post_is_invisible_to_non_followers(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    carol = await person(site, "carol")
    post = await create_post(site, alice, Draft(text="team only", visibility="followers"))

    with pytest.raises(NotFound, match="post not found"):
        await get_visible_post(carol, post.id)
    with pytest.raises(NotFound):
        await get_visible_post(None, post.id)


async def test_followers_only_post_is_visible_to_accepted_followers_and_the_author(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    await follow(site, bob, alice)
    post = await create_post(site, alice, Draft(text="team only", visibility="followers"))

    assert (await get_visible_post(bob, post.id)).id == post.id
    assert (await get_visible_post(alice, post.id)).id == post.id


async def test_followers_only_post_is_invisible_to_a_pending_follower(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice", locked=True)
    bob = await person(site, "bob")
    await follow(site, bob, alice)
    post = await create_post(site, alice, Draft(text="team only", visibility="followers"))

    with pytest.raises(NotFound):
        await get_visible_post(bob, post.id)


async def test_direct_post_is_visible_only_to_its_mentioned_recipients_and_author(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    carol = await person(site, "carol")
    await follow(site, carol, alice)
    post = await create_post(site, alice, Draft(text="@bob a word?", visibility="direct"))

    assert (await get_visible_post(alice, post.id)).id == post.id
    assert (await get_visible_post(bob, post.id)).id == post.id
    with pytest.raises(NotFound):
        await get_visible_post(carol, post.id)
    with pytest.raises(NotFound):
        await get_visible_post(None, post.id)


async def test_direct_post_is_written_to_no_home_timeline(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    await follow(site, bob, alice)

    await create_post(site, alice, Draft(text="@bob psst", visibility="direct"))

    assert await TimelineEntry.all().count() == 0


async def test_unknown_post_id_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound):
        await get_visible_post(None, 12345)


# ---------------------------------------------------------------- threads


async def test_reply_links_to_its_parent_and_thread_root_and_counts(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    root = await create_post(site, alice, Draft(text="question"))

    first = await create_post(site, bob, Draft(text="answer", in_reply_to_id=root.id))
    second = await create_post(site, alice, Draft(text="thanks", in_reply_to_id=first.id))

    stored = await Post.get(id=second.id)
    assert stored.in_reply_to_id == first.id  # type: ignore[attr-defined]
    assert stored.in_reply_to_uri == first.uri
    assert stored.thread_root_id == root.id  # type: ignore[attr-defined]
    assert stored.context == root.context
    assert (await Post.get(id=root.id)).replies_count == 1
    assert (await Post.get(id=first.id)).replies_count == 1


async def test_replying_mentions_and_notifies_the_parent_author(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    root = await create_post(site, alice, Draft(text="question"))

    reply = await create_post(site, bob, Draft(text="answer", in_reply_to_id=root.id))

    assert await Mention.filter(post_id=reply.id, account_id=alice.id).exists()
    assert await Notification.filter(
        recipient_id=alice.id, kind="mention", post_id=reply.id
    ).exists()


async def test_thread_lists_ancestors_and_only_the_replies_below_the_post(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    root = await create_post(site, alice, Draft(text="root"))
    middle = await create_post(site, bob, Draft(text="middle", in_reply_to_id=root.id))
    sibling = await create_post(site, alice, Draft(text="sibling", in_reply_to_id=root.id))
    leaf = await create_post(site, alice, Draft(text="leaf", in_reply_to_id=middle.id))
    deeper = await create_post(site, bob, Draft(text="deeper", in_reply_to_id=leaf.id))

    ancestors, post, descendants = await thread(None, middle.id)

    assert [p.id for p in ancestors] == [root.id]
    assert post.id == middle.id
    assert [p.id for p in descendants] == [leaf.id, deeper.id]
    assert sibling.id not in [p.id for p in descendants]
    assert (await Post.get(id=root.id)).replies_count == 2


async def test_thread_of_the_root_lists_every_reply_oldest_first(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    root = await create_post(site, alice, Draft(text="root"))
    first = await create_post(site, alice, Draft(text="one", in_reply_to_id=root.id))
    second = await create_post(site, alice, Draft(text="two", in_reply_to_id=first.id))
    third = await create_post(site, alice, Draft(text="three", in_reply_to_id=root.id))

    ancestors, _, descendants = await thread(None, root.id)

    assert ancestors == []
    assert [p.id for p in descendants] == [first.id, second.id, third.id]


async def test_thread_hides_replies_the_viewer_may_not_see(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    root = await create_post(site, alice, Draft(text="root"))
    hidden = await create_post(
        site, bob, Draft(text="for my followers", visibility="followers", in_reply_to_id=root.id)
    )
    shown = await create_post(site, bob, Draft(text="for all", in_reply_to_id=root.id))

    _, _, anonymous_view = await thread(None, root.id)
    _, _, author_view = await thread(bob, root.id)

    assert [p.id for p in anonymous_view] == [shown.id]
    assert [p.id for p in author_view] == [hidden.id, shown.id]


async def test_replying_to_an_invisible_post_is_not_found_and_creates_nothing(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    carol = await person(site, "carol")
    secret = await create_post(site, alice, Draft(text="followers", visibility="followers"))
    before = await _row_counts()

    with pytest.raises(NotFound):
        await create_post(site, carol, Draft(text="peek", in_reply_to_id=secret.id))

    assert await _row_counts() == before
    assert (await Post.get(id=secret.id)).replies_count == 0


async def test_replying_to_a_deleted_post_is_not_found(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    gone = await create_post(site, alice, Draft(text="oops"))
    await delete_post(site, alice, gone.id)

    with pytest.raises(NotFound):
        await create_post(site, alice, Draft(text="re", in_reply_to_id=gone.id))


async def test_thread_of_an_invisible_post_is_not_found(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    secret = await create_post(site, alice, Draft(text="followers", visibility="followers"))

    with pytest.raises(NotFound):
        await thread(None, secret.id)


# ---------------------------------------------------------------- editing


async def test_editing_changes_the_text_and_keeps_the_previous_version(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    post = await create_post(site, alice, Draft(text="frist #typo"))

    await edit_post(site, alice, post.id, "first #fixed")

    stored = await Post.get(id=post.id)
    assert stored.content_source == "first #fixed"
    assert "#<span>fixed</span>" in stored.content_html
    assert stored.edited_at is not None
    history = await edit_history(None, post.id)
    assert [h.content_source for h in history] == ["frist #typo"]
    assert await PostTag.filter(post_id=post.id).values_list("name", flat=True) == ["fixed"]


async def test_editing_the_text_keeps_a_sensitive_flag_set_without_a_content_warning(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    post = await create_post(site, alice, Draft(text="photo of the whiteboard", sensitive=True))

    await edit_post(site, alice, post.id, "photo of the whiteboard (fixed)")

    assert (await Post.get(id=post.id)).sensitive is True


async def test_removing_the_content_warning_clears_the_sensitivity_it_implied(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    post = await create_post(site, alice, Draft(text="spoilers", summary="film ending"))

    await edit_post(site, alice, post.id, "spoilers", summary="")

    assert (await Post.get(id=post.id)).sensitive is False


async def test_only_the_author_may_edit_a_post(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    post = await create_post(site, alice, Draft(text="mine"))

    with pytest.raises(PermissionDenied):
        await edit_post(site, bob, post.id, "yours now")

    assert (await Post.get(id=post.id)).content_source == "mine"
    assert await PostEdit.all().count() == 0


async def test_invalid_edit_is_rejected_and_changes_nothing(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    post = await create_post(site, alice, Draft(text="short"))
    before = await _row_counts()

    with pytest.raises(ValidationError, match="too long"):
        await edit_post(site, alice, post.id, "x" * 501)

    stored = await Post.get(id=post.id)
    assert (stored.content_source, stored.edited_at) == ("short", None)
    assert await _row_counts() == before
    assert await PostEdit.all().count() == 0


# ---------------------------------------------------------------- deleting


async def test_deleted_post_becomes_an_empty_tombstone_and_leaves_timelines(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    await follow(site, bob, alice)
    post = await create_post(site, alice, Draft(text="regrettable"))
    assert await TimelineEntry.filter(post_id=post.id).count() == 2

    await delete_post(site, alice, post.id)

    stored = await Post.get(id=post.id)
    assert stored.deleted_at is not None
    assert (stored.content_source, stored.content_html) == ("", "")
    assert await TimelineEntry.filter(post_id=post.id).count() == 0
    assert (await Account.get(id=alice.id)).posts_count == 0
    with pytest.raises(NotFound):
        await get_visible_post(alice, post.id)


async def test_deleting_a_reply_decrements_the_parents_reply_count(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    root = await create_post(site, alice, Draft(text="root"))
    reply = await create_post(site, alice, Draft(text="reply", in_reply_to_id=root.id))

    await delete_post(site, alice, reply.id)

    assert (await Post.get(id=root.id)).replies_count == 0


async def test_another_user_may_not_delete_a_post(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    bob = await person(site, "bob")
    post = await create_post(site, alice, Draft(text="mine"))

    with pytest.raises(PermissionDenied):
        await delete_post(site, bob, post.id)

    assert (await Post.get(id=post.id)).deleted_at is None


async def test_an_admin_may_delete_another_users_post(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    admin = await person(site, "root", admin=True)
    post = await create_post(site, alice, Draft(text="against the rules"))

    await delete_post(site, admin, post.id)

    assert (await Post.get(id=post.id)).deleted_at is not None


async def test_deleting_twice_is_not_found(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    post = await create_post(site, alice, Draft(text="bye"))
    await delete_post(site, alice, post.id)

    with pytest.raises(NotFound):
        await delete_post(site, alice, post.id)


# ---------------------------------------------------------------- transactional outbox


@pytest.mark.parametrize("visibility", ["public", "followers", "direct"])
async def test_creating_a_federated_post_records_a_post_created_event(
    db: Database, site: Site, visibility: str
) -> None:
    alice = await person(site, "alice")

    post = await create_post(site, alice, Draft(text="hello", visibility=visibility))

    assert await _outbox() == [("post.created", {"post_id": post.id})]


async def test_editing_a_public_post_records_a_post_updated_event(db: Database, site: Site) -> None:
    alice = await person(site, "alice")
    post = await create_post(site, alice, Draft(text="v1"))

    await edit_post(site, alice, post.id, "v2")

    assert await _outbox() == [
        ("post.created", {"post_id": post.id}),
        ("post.updated", {"post_id": post.id}),
    ]


async def test_deleting_a_public_post_records_a_post_deleted_event(
    db: Database, site: Site
) -> None:
    alice = await person(site, "alice")
    post = await create_post(site, alice, Draft(text="v1"))

    await delete_post(site, alice, post.id)

    assert await _outbox() == [
        ("post.created", {"post_id": post.id}),
        ("post.deleted", {"post_id": post.id}),
    ]


async def test_node_only_post_records_no_outbox_event_ever(db: Database, site: Site) -> None:
    alice = await person(site, "alice")

    post = await create_post(site, alice, Draft(text="stays here", visibility="node"))
    await edit_post(site, alice, post.id, "still here")
    await delete_post(site, alice, post.id)

    assert await _outbox() == []


async def test_rejected_post_records_no_outbox_event(db: Database, site: Site) -> None:
    alice = await person(site, "alice")

    with pytest.raises(ValidationError):
        await create_post(site, alice, Draft(text="x" * 501))

    assert await _outbox() == []


async def test_lowering_a_posts_label_by_an_edit_is_audited(db: Database, site: Site) -> None:
    from node.models import AuditEntry
    from node.services.audit import verify_chain

    alice = await person(site, "alice")
    post = await create_post(site, alice, Draft(text="Budget", label="confidential"))
    await edit_post(site, alice, post.id, "Budget", label="restricted")
    assert not await AuditEntry.filter(kind="label.downgraded").exists()
    await edit_post(site, alice, post.id, "Budget (final)", label="internal")
    entry = await AuditEntry.get(kind="label.downgraded")
    assert entry.object_id == post.uri and entry.details == {"from": "restricted", "to": "internal"}
    assert (await verify_chain()).ok

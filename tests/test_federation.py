"""Federation between real nodes: three ``fedwall serve`` processes talking signed ActivityPub.

The scenarios of the federation issue, each asserting on what the *receiving*
node stored. The whole module runs once with SQLite-backed nodes and once with
PostgreSQL-backed nodes.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import orjson
import pytest

from federation.signatures import generate_rsa_key, sign_request
from node.models import Account, Delivery, Follow, InboxItem, Like, Post, Share, TimelineEntry
from node.services import posts as post_service
from node.site import Site
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.multinode import NodeProcess, wait_for

pytestmark = pytest.mark.multinode


@dataclass
class Federation:
    a: NodeProcess
    b: NodeProcess
    c: NodeProcess


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def federation(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Federation]:
    root = tmp_path_factory.mktemp(f"federation-{request.param}")
    urls: list[str | None] = [None, None, None]
    if request.param == "postgres":
        urls = [await create_postgres_database("fedwall_node") for _ in range(3)]
    nodes = [NodeProcess(name, root, url) for name, url in zip("abc", urls, strict=True)]
    a, b, c = nodes
    try:
        await a.create({"alice": {}, "dave": {}})
        await b.create({"bob": {}, "erin": {"locked": True}})
        await c.create({"carol": {}})
        for node in nodes:
            await node.allow_peers([other.domain for other in nodes if other is not node])
            await node.start()
        yield Federation(a, b, c)
    finally:
        for node in nodes:
            await node.close()
        if request.param == "postgres":
            for url in urls:
                assert url is not None
                await drop_postgres_database(url)


async def follow(node: NodeProcess, username: str, handle: str) -> None:
    browser = await node.browser(username)
    try:
        await browser.follow(handle)
    finally:
        await browser.close()


async def post(
    node: NodeProcess, username: str, text: str, visibility: str = "public", **extra: str
) -> str:
    """Post through the web page; returns the new post's uri."""
    browser = await node.browser(username)
    try:
        await browser.submit("/posts", text=text, visibility=visibility, **extra)
    finally:
        await browser.close()
    found = await node.query(lambda: Post.filter(content_source=text, local=True).first())
    assert found is not None
    return found.uri


def fedwall(*args: str) -> str:
    """Run the real ``fedwall`` command; returns its standard output."""
    result = subprocess.run(
        [sys.executable, "-m", "node", *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def accepted_follow(node: NodeProcess, follower_uri: str, followee_uri: str) -> bool:
    async def check() -> bool:
        return await Follow.filter(
            follower__uri=follower_uri, followee__uri=followee_uri, state="accepted"
        ).exists()

    return await node.query(check)


async def in_home_timeline(node: NodeProcess, username: str, uri: str) -> bool:
    async def check() -> bool:
        return await TimelineEntry.filter(
            owner__username=username, owner__domain="", post__uri=uri
        ).exists()

    return await node.query(check)


# ---------------------------------------------------------------- scenario 1


async def test_follow_by_handle_is_accepted_and_posts_reach_the_follower(
    federation: Federation,
) -> None:
    a, b = federation.a, federation.b
    await follow(a, "alice", b.handle("bob"))
    await wait_for(lambda: accepted_follow(a, a.actor("alice"), b.actor("bob")))
    await wait_for(lambda: accepted_follow(b, a.actor("alice"), b.actor("bob")))

    public_uri = await post(b, "bob", "Quarterly numbers are in #sales")
    followers_uri = await post(b, "bob", "Followers only: draft pricing", "followers")

    await wait_for(lambda: in_home_timeline(a, "alice", public_uri))
    await wait_for(lambda: in_home_timeline(a, "alice", followers_uri))
    stored = await a.post_by_uri(followers_uri)
    assert stored is not None and stored.visibility == "followers"
    assert stored.content_html.startswith("<p>Followers only")


async def test_locked_account_approves_a_remote_follower(federation: Federation) -> None:
    a, b = federation.a, federation.b
    await follow(a, "alice", b.handle("erin"))

    async def pending_on_b() -> bool:
        return await Follow.filter(
            follower__uri=a.actor("alice"), followee__username="erin", state="pending"
        ).exists()

    await wait_for(lambda: b.query(pending_on_b))
    assert not await accepted_follow(a, a.actor("alice"), b.actor("erin"))

    alice_on_b = await b.account("alice", a.domain)
    assert alice_on_b is not None
    erin = await b.browser("erin")
    try:
        await erin.submit(f"/follow-requests/{alice_on_b.id}/accept")
    finally:
        await erin.close()
    await wait_for(lambda: accepted_follow(a, a.actor("alice"), b.actor("erin")))


# ---------------------------------------------------------------- scenario 2


async def test_reply_from_third_node_appears_in_threads_and_reactions_are_counted(
    federation: Federation,
) -> None:
    a, b, c = federation.a, federation.b, federation.c
    await follow(c, "carol", b.handle("bob"))
    await follow(a, "alice", c.handle("carol"))
    await follow(a, "alice", b.handle("bob"))
    await wait_for(lambda: accepted_follow(c, c.actor("carol"), b.actor("bob")))
    await wait_for(lambda: accepted_follow(a, a.actor("alice"), c.actor("carol")))
    await wait_for(lambda: accepted_follow(a, a.actor("alice"), b.actor("bob")))

    original = await post(b, "bob", "Which supplier do we pick for the lab?")
    on_c = await wait_for(lambda: c.post_by_uri(original))
    reply = await post(
        c,
        "carol",
        f"@{b.handle('bob')} the second one, tests were better",
        in_reply_to_id=str(on_c.id),
    )

    reply_on_b = await wait_for(lambda: b.post_by_uri(reply))
    original_on_b = await b.post_by_uri(original)
    assert original_on_b is not None and reply_on_b.in_reply_to_id == original_on_b.id  # type: ignore[attr-defined]
    reply_on_a = await wait_for(lambda: a.post_by_uri(reply))
    original_on_a = await wait_for(lambda: a.post_by_uri(original))
    assert reply_on_a.in_reply_to_id == original_on_a.id  # type: ignore[attr-defined]

    alice = await a.browser("alice")
    carol = await c.browser("carol")
    try:
        await alice.submit(f"/posts/{original_on_a.id}/like")
        await carol.submit(f"/posts/{on_c.id}/share")
    finally:
        await alice.close()
        await carol.close()

    async def counted() -> bool:
        stored = await Post.get(uri=original)
        return stored.likes_count == 1 and stored.shares_count == 1 and stored.replies_count == 1

    await wait_for(lambda: b.query(counted))
    assert await b.query(lambda: Like.filter(post__uri=original, account__domain=a.domain).exists())
    assert await b.query(
        lambda: Share.filter(post__uri=original, account__domain=c.domain).exists()
    )


# ---------------------------------------------------------------- scenario 3


async def test_edit_and_delete_reach_the_other_nodes(federation: Federation) -> None:
    a, b, c = federation.a, federation.b, federation.c
    await follow(a, "alice", b.handle("bob"))
    await follow(c, "carol", b.handle("bob"))
    await wait_for(lambda: accepted_follow(a, a.actor("alice"), b.actor("bob")))
    await wait_for(lambda: accepted_follow(c, c.actor("carol"), b.actor("bob")))
    uri = await post(b, "bob", "Meeting at 10")
    await wait_for(lambda: a.post_by_uri(uri))
    await wait_for(lambda: c.post_by_uri(uri))
    local = await b.post_by_uri(uri)
    assert local is not None

    bob = await b.browser("bob")
    try:
        await bob.submit(f"/posts/{local.id}/edit", text="Meeting at 11 (moved)")
    finally:
        await bob.close()

    async def edited(node: NodeProcess) -> bool:
        stored = await node.post_by_uri(uri)
        return (
            stored is not None
            and "11 (moved)" in stored.content_html
            and stored.edited_at is not None
        )

    await wait_for(lambda: edited(a))
    await wait_for(lambda: edited(c))

    bob = await b.browser("bob")
    try:
        await bob.submit(f"/posts/{local.id}/delete")
    finally:
        await bob.close()

    async def deleted(node: NodeProcess) -> bool:
        stored = await node.post_by_uri(uri)
        return stored is not None and stored.deleted_at is not None and stored.content_html == ""

    await wait_for(lambda: deleted(a))
    await wait_for(lambda: deleted(c))
    assert not await in_home_timeline(a, "alice", uri)


# ---------------------------------------------------------------- scenario 4


async def test_after_unfollow_followers_only_posts_no_longer_arrive(federation: Federation) -> None:
    a, b = federation.a, federation.b
    await follow(a, "dave", b.handle("bob"))
    await wait_for(lambda: accepted_follow(b, a.actor("dave"), b.actor("bob")))
    browser = await a.browser("dave")
    try:
        await browser.submit("/follow", handle=b.handle("bob"), undo="1")
    finally:
        await browser.close()

    async def gone_on_b() -> bool:
        return not await Follow.filter(
            follower__uri=a.actor("dave"), followee__uri=b.actor("bob")
        ).exists()

    await wait_for(lambda: b.query(gone_on_b))
    # alice may follow bob from other tests; remove her too so nobody on A follows bob.
    alice = await a.browser("alice")
    try:
        await alice.submit("/follow", handle=b.handle("bob"), undo="1")
    finally:
        await alice.close()

    async def nobody_on_a_follows_bob() -> bool:
        return not await Follow.filter(
            follower__domain=a.domain, followee__uri=b.actor("bob")
        ).exists()

    await wait_for(lambda: b.query(nobody_on_a_follows_bob))
    marker = await post(b, "bob", "Followers only, after the unfollow", "followers")
    control = await post(b, "bob", "Control post for carol", "followers")

    # The control post proves deliveries ran: wait until B has sent everything it queued.
    async def drained() -> bool:
        return not await Delivery.filter(state__in=("pending", "in_flight", "retrying")).exists()

    await wait_for(lambda: b.query(drained))
    assert control
    assert await a.post_by_uri(marker) is None
    sent_to_a = await b.query(
        lambda: Delivery.filter(peer_domain=a.domain, activity_id=f"{marker}/activity").exists()
    )
    assert not sent_to_a


# ---------------------------------------------------------------- scenario 5


async def test_post_reaches_a_node_that_was_down_when_it_was_sent(federation: Federation) -> None:
    b, c = federation.b, federation.c
    await follow(c, "carol", b.handle("bob"))
    await wait_for(lambda: accepted_follow(b, c.actor("carol"), b.actor("bob")))
    await c.stop()
    try:
        uri = await post(b, "bob", "Posted while the lab node was down")

        async def retrying() -> bool:
            return await Delivery.filter(
                peer_domain=c.domain, activity_id=f"{uri}/activity", state="retrying"
            ).exists()

        await wait_for(lambda: b.query(retrying))
        listing = fedwall("deliveries", str(b.data_dir), "--state", "retrying")
        assert c.domain in listing and "retrying" in listing
    finally:
        await c.start()
    retried = fedwall("deliveries", "retry", str(b.data_dir), "--peer", c.domain)
    assert "scheduled for an immediate retry" in retried
    await wait_for(lambda: c.post_by_uri(uri), timeout=30)

    async def delivered() -> bool:
        return await Delivery.filter(
            peer_domain=c.domain, activity_id=f"{uri}/activity", state="delivered"
        ).exists()

    await wait_for(lambda: b.query(delivered), timeout=30)
    assert await c.query(lambda: Post.filter(uri=uri).count()) == 1
    assert await c.query(lambda: InboxItem.filter(activity_id=f"{uri}/activity").count()) == 1


# ---------------------------------------------------------------- scenario 6


async def processed_count(activity_ids: list[str]) -> int:
    return await InboxItem.filter(activity_id__in=activity_ids, state="processed").count()


async def test_killed_sender_delivers_every_pending_activity_exactly_once_after_restart(
    federation: Federation,
) -> None:
    a, b, c = federation.a, federation.b, federation.c
    await follow(a, "alice", b.handle("bob"))
    await follow(c, "carol", b.handle("bob"))
    await wait_for(lambda: accepted_follow(b, a.actor("alice"), b.actor("bob")))
    await wait_for(lambda: accepted_follow(b, c.actor("carol"), b.actor("bob")))
    # The Accepts have arrived too (else they would race the batch after the restart).
    await wait_for(lambda: accepted_follow(a, a.actor("alice"), b.actor("bob")))
    await wait_for(lambda: accepted_follow(c, c.actor("carol"), b.actor("bob")))
    await b.stop()
    site = Site(domain=b.domain, scheme="http")

    async def write_posts() -> list[str]:
        bob = await Account.get(username="bob", domain="")
        uris = []
        for number in range(100):
            created = await post_service.create_post(
                site, bob, post_service.Draft(text=f"Batch post {number}")
            )
            uris.append(created.uri)
        return uris

    uris = await b.query(write_posts)
    await b.start()
    started = time.monotonic()

    async def some_delivered() -> bool:
        return (
            await Delivery.filter(
                activity_id__in=[f"{u}/activity" for u in uris], state="delivered"
            ).count()
            >= 10
        )

    await wait_for(lambda: b.query(some_delivered), interval=0.01)
    b.kill()
    in_progress = await b.query(
        lambda: (
            Delivery.filter(activity_id__in=[f"{u}/activity" for u in uris])
            .exclude(state="delivered")
            .count()
        )
    )
    await b.start()
    activity_ids = [f"{u}/activity" for u in uris]

    async def all_arrived(node: NodeProcess) -> bool:
        return await node.query(lambda: Post.filter(uri__in=uris).count()) == 100

    try:
        await wait_for(lambda: all_arrived(a), timeout=120)
        await wait_for(lambda: all_arrived(c), timeout=120)
    except AssertionError as exc:
        states = await b.query(
            lambda: Delivery.filter(activity_id__in=activity_ids).values_list(
                "state", "peer_domain"
            )
        )
        inbox = await a.query(
            lambda: InboxItem.filter(activity_id__in=activity_ids).values_list("state", flat=True)
        )
        raise AssertionError(
            f"{exc}; sender deliveries {sorted(set(map(tuple, states)))}: "
            f"{len(states)}; receiver a items {sorted(set(inbox))}: {len(inbox)}"
        ) from None
    drained_after = time.monotonic() - started
    assert in_progress > 0, "the sender was killed after every delivery had already been made"
    # Each activity is stored once per receiving node (the inbox de-duplicates resends).
    for node in (a, c):
        assert (
            await node.query(lambda: InboxItem.filter(activity_id__in=activity_ids).count()) == 100
        )
        assert await node.query(lambda: processed_count(activity_ids)) == 100
    print(f"\n200 deliveries drained in {drained_after:.1f} s with a SIGKILL of the sender; "
          f"{in_progress} were not yet delivered at the kill")  # fmt: skip


# ---------------------------------------------------------------- scenario 7


async def _activity_count(node: NodeProcess) -> int:
    return await node.query(lambda: InboxItem.all().count())


async def test_unsigned_post_to_an_inbox_is_rejected_and_leaves_no_trace(
    federation: Federation,
) -> None:
    a, b = federation.a, federation.b
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{b.url}/users/bob/forged/1",
        "type": "Create",
        "actor": b.actor("bob"),
        "object": {"id": f"{b.url}/users/bob/forged/1/note", "type": "Note", "content": "forged",
                   "attributedTo": b.actor("bob"), "to": ["https://www.w3.org/ns/activitystreams#Public"]},
    }  # fmt: skip
    before = await _activity_count(a)
    async with httpx.AsyncClient() as client:
        for path in ("/inbox", "/users/alice/inbox"):
            response = await client.post(
                f"{a.url}{path}", content=orjson.dumps(activity),
                headers={"Content-Type": "application/activity+json"},
            )  # fmt: skip
            assert response.status_code == 401
    assert await _activity_count(a) == before


async def test_post_signed_with_another_key_is_rejected_and_leaves_no_trace(
    federation: Federation,
) -> None:
    a, b = federation.a, federation.b
    # bob's key is known to A from earlier scenarios; sign with a different key under his key id.
    key, _, _ = generate_rsa_key()
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{b.url}/users/bob/forged/2",
        "type": "Like",
        "actor": b.actor("bob"),
        "object": f"{a.url}/users/alice/posts/1",
    }
    body = orjson.dumps(activity)
    url = f"{a.url}/inbox"
    headers = sign_request(
        "POST", url, {"Content-Type": "application/activity+json"}, body,
        f"{b.actor('bob')}#main-key", key, dt.datetime.now(dt.UTC),
    )  # fmt: skip
    before = await _activity_count(a)
    async with httpx.AsyncClient() as client:
        response = await client.post(url, content=body, headers=headers)
        assert response.status_code == 401
        tampered = body.replace(b"Like", b"Announce")
        genuine_headers = dict(headers)
        response = await client.post(url, content=tampered, headers=genuine_headers)
        assert response.status_code == 401
    assert await _activity_count(a) == before


async def test_unsigned_get_of_an_outbox_is_refused(federation: Federation) -> None:
    a = federation.a
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{a.url}/users/alice/outbox", headers={"Accept": "application/activity+json"}
        )
        assert response.status_code == 401
        # The node actor stays readable: peers need its key to verify our signed fetches.
        response = await client.get(
            f"{a.url}/actor", headers={"Accept": "application/activity+json"}
        )
        assert response.status_code == 200


async def test_malformed_and_oversized_activities_get_400_and_413(federation: Federation) -> None:
    a = federation.a
    before = await _activity_count(a)
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{a.url}/inbox",
            content=b"{not json",
            headers={"Content-Type": "application/activity+json"},
        )
        assert response.status_code == 400
        assert "JSON" in response.json()["error"]
        response = await client.post(
            f"{a.url}/inbox",
            content=b'{"id": "x", "pad": "' + b"x" * 1_100_000 + b'"}',
            headers={"Content-Type": "application/activity+json"},
        )
        assert response.status_code == 413
    assert await _activity_count(a) == before


async def test_activity_signed_by_one_actor_for_another_is_rejected(federation: Federation) -> None:
    a, b, c = federation.a, federation.b, federation.c
    from federation.signatures import load_private_key_pem
    from node.models import KeyPair

    # Make sure A knows bob and his key, then sign with bob's real key for carol's actor.
    await follow(a, "alice", b.handle("bob"))
    await wait_for(lambda: accepted_follow(a, a.actor("alice"), b.actor("bob")))
    bob_key = await b.query(lambda: KeyPair.get(account__username="bob", account__domain=""))
    assert bob_key.private_pem is not None
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{c.url}/users/carol/forged/3",
        "type": "Follow",
        "actor": c.actor("carol"),
        "object": a.actor("alice"),
    }
    body = orjson.dumps(activity)
    url = f"{a.url}/inbox"
    headers = sign_request(
        "POST", url, {"Content-Type": "application/activity+json"}, body,
        bob_key.key_id, load_private_key_pem(bob_key.private_pem), dt.datetime.now(dt.UTC),  # type: ignore[arg-type]
    )  # fmt: skip
    before = await _activity_count(a)
    async with httpx.AsyncClient() as client:
        response = await client.post(url, content=body, headers=headers)
    assert response.status_code == 401
    assert "does not belong" in response.json()["error"]
    assert await _activity_count(a) == before


async def test_profile_update_reaches_remote_followers(federation: Federation) -> None:
    a, b = federation.a, federation.b
    from node.services.accounts import update_profile

    await follow(a, "alice", b.handle("bob"))
    await wait_for(lambda: accepted_follow(b, a.actor("alice"), b.actor("bob")))

    async def rename() -> None:
        bob = await Account.get(username="bob", domain="")
        await update_profile(bob, display_name="Bob Durand (Sales EMEA)", summary="Key accounts")

    await b.query(rename)

    async def renamed() -> bool:
        bob = await Account.get_or_none(uri=b.actor("bob"))
        return bob is not None and bob.display_name == "Bob Durand (Sales EMEA)"

    await wait_for(lambda: a.query(renamed))
    bob_on_a = await a.query(lambda: Account.get(uri=b.actor("bob")))
    assert "Key accounts" in bob_on_a.summary_html


async def _signed_get(node: NodeProcess, username: str, url: str) -> httpx.Response:
    from federation.signatures import load_private_key_pem
    from node.models import KeyPair

    pair = await node.query(lambda: KeyPair.get(account__username=username, account__domain=""))
    assert pair.private_pem is not None
    headers = sign_request(
        "GET", url, {"Accept": "application/activity+json"}, b"",
        pair.key_id, load_private_key_pem(pair.private_pem), dt.datetime.now(dt.UTC),  # type: ignore[arg-type]
    )  # fmt: skip
    async with httpx.AsyncClient() as client:
        return await client.get(url, headers=headers)


async def test_direct_post_object_answers_only_signed_requests_of_its_recipients(
    federation: Federation,
) -> None:
    a, b, c = federation.a, federation.b, federation.c
    uri = await post(b, "bob", f"@{a.handle('alice')} private note for you", "direct")
    await wait_for(lambda: a.post_by_uri(uri))  # alice's node knows bob and has the message

    as_alice = await _signed_get(a, "alice", uri)
    assert as_alice.status_code == 200
    assert as_alice.json()["id"] == uri
    as_carol = await _signed_get(c, "carol", uri)
    assert as_carol.status_code == 404
    async with httpx.AsyncClient() as client:
        unsigned = await client.get(uri, headers={"Accept": "application/activity+json"})
    assert unsigned.status_code == 401
    # The message never reached a node that hosts no participant.
    assert await c.post_by_uri(uri) is None

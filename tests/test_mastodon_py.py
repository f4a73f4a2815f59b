"""The real Mastodon.py client library against two real Fedwall nodes.

Two ``fedwall serve`` processes (A with alice, B with bob) federate over HTTP;
everything a client does goes through Mastodon.py (the authorization-code
consent page is driven with httpx, as a browser would). Mastodon.py runs with
its default ``version_check_mode`` ("none" in 2.x); one test shows that the
stricter "created" mode accepts the node's version string too. The module runs
once with SQLite-backed nodes and once with PostgreSQL-backed nodes.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from mastodon import Mastodon, MastodonNotFoundError, StreamListener

from node.models import Follow, Post
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.multinode import PASSWORD, NodeProcess, wait_for

pytestmark = pytest.mark.multinode

SCOPES = ["read", "write", "follow", "push"]
REDIRECT = "http://client.example/callback"
CSRF_FIELD = re.compile(r'name="csrf" value="([0-9a-f]+)"')
HIDDEN_FIELD = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


@dataclass
class Nodes:
    a: NodeProcess
    b: NodeProcess
    apps: dict[str, tuple[str, str]] = field(default_factory=dict)
    sessions: dict[str, Mastodon] = field(default_factory=dict)

    def app(self, node: NodeProcess) -> tuple[str, str]:
        """Client id and secret of a Mastodon.py app registered on ``node``."""
        if node.name not in self.apps:
            self.apps[node.name] = Mastodon.create_app(
                "fedwall-tests", scopes=SCOPES, redirect_uris=REDIRECT, api_base_url=node.url
            )
        return self.apps[node.name]

    def login(self, node: NodeProcess, username: str) -> Mastodon:
        """A Mastodon.py session of ``username`` on ``node`` (password grant), made once."""
        key = f"{node.name}:{username}"
        if key not in self.sessions:
            client_id, secret = self.app(node)
            api = Mastodon(client_id=client_id, client_secret=secret, api_base_url=node.url)
            api.log_in(username, PASSWORD, scopes=SCOPES, allow_http=True)
            self.sessions[key] = api
        return self.sessions[key]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def nodes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Nodes]:
    root = tmp_path_factory.mktemp(f"mastodon-py-{request.param}")
    urls: list[str | None] = [None, None]
    if request.param == "postgres":
        urls = [await create_postgres_database("fedwall_mpy") for _ in range(2)]
    a, b = (NodeProcess(name, root, url) for name, url in zip("ab", urls, strict=True))
    try:
        await a.create({"alice": {"email": "alice@a.example"}})
        await b.create({"bob": {}})
        await a.allow_peers([b.domain])
        await b.allow_peers([a.domain])
        for node in (a, b):
            await node.start()
        yield Nodes(a, b)
    finally:
        for node in (a, b):
            await node.close()
        if request.param == "postgres":
            for url in urls:
                assert url is not None
                await drop_postgres_database(url)


async def alice_follows_bob(nodes: Nodes) -> dict[str, Any]:
    """Alice (A) finds bob (B) by search with resolve and follows him; returns bob's account."""
    alice = nodes.login(nodes.a, "alice")
    found = alice.search_v2(nodes.b.handle("bob"), resolve=True, result_type="accounts")
    assert [a.acct for a in found.accounts] == [nodes.b.handle("bob")]
    bob = found.accounts[0]
    alice.account_follow(bob.id)

    async def accepted() -> bool:
        return await Follow.filter(
            follower__username="alice", followee__uri=nodes.b.actor("bob"), state="accepted"
        ).exists()

    await wait_for(lambda: nodes.a.query(accepted))
    return bob


async def arrived(node: NodeProcess, uri: str) -> Post:
    """The post once ``node`` stores it."""
    found: Post | None = await wait_for(lambda: node.post_by_uri(uri))
    assert found is not None
    return found


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def consent(authorize_url: str, username: str) -> str:
    """Sign in and approve on the consent page like a person; returns the code."""
    async with httpx.AsyncClient(timeout=10) as browser:
        page = await browser.get(authorize_url)
        assert page.status_code == 200, page.text
        csrf = CSRF_FIELD.search(page.text)
        assert csrf is not None
        form = dict(HIDDEN_FIELD.findall(page.text))
        form.update(csrf=csrf.group(1), username=username, password=PASSWORD, decision="approve")
        answer = await browser.post(str(page.url.copy_with(query=None)), data=form)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)["code"][0]


# ---------------------------------------------------------------- logging in


async def test_password_login_and_verify_credentials(nodes: Nodes) -> None:
    alice = nodes.login(nodes.a, "alice")
    me = alice.account_verify_credentials()
    assert me.username == "alice" and me.acct == "alice"
    assert alice.app_verify_credentials().name == "fedwall-tests"


async def test_password_login_accepts_the_email_address(nodes: Nodes) -> None:
    client_id, secret = nodes.app(nodes.a)
    api = Mastodon(client_id=client_id, client_secret=secret, api_base_url=nodes.a.url)
    api.log_in("alice@a.example", PASSWORD, scopes=SCOPES, allow_http=True)
    assert api.account_verify_credentials().username == "alice"


async def test_authorization_code_flow_with_pkce(nodes: Nodes) -> None:
    client_id, secret = nodes.app(nodes.a)
    api = Mastodon(client_id=client_id, client_secret=secret, api_base_url=nodes.a.url)
    url = api.auth_request_url(redirect_uris=REDIRECT, scopes=SCOPES, state="s-1", allow_http=True)
    verifier, challenge = pkce_pair()
    code = await consent(f"{url}&code_challenge={challenge}&code_challenge_method=S256", "alice")
    async with httpx.AsyncClient(timeout=10) as http:
        token = await http.post(
            f"{nodes.a.url}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client_id,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
        )
    assert token.status_code == 200, token.text
    logged_in = Mastodon(access_token=token.json()["access_token"], api_base_url=nodes.a.url)
    assert logged_in.account_verify_credentials().username == "alice"


async def test_authorization_code_flow_through_mastodon_py_log_in(nodes: Nodes) -> None:
    client_id, secret = nodes.app(nodes.b)
    api = Mastodon(client_id=client_id, client_secret=secret, api_base_url=nodes.b.url)
    url = api.auth_request_url(redirect_uris=REDIRECT, scopes=SCOPES, allow_http=True)
    code = await consent(url, "bob")
    api.log_in(code=code, redirect_uri=REDIRECT, scopes=SCOPES, allow_http=True)
    assert api.account_verify_credentials().username == "bob"


async def test_strict_version_check_accepts_the_node(nodes: Nodes) -> None:
    api = Mastodon(api_base_url=nodes.a.url, version_check_mode="created")
    assert api.retrieve_mastodon_version() == "4.3.0"
    assert api.instance_v2().api_versions["mastodon"] == 2


# ---------------------------------------------------------------- following across nodes


async def test_search_resolve_follow_and_see_the_post_in_home(nodes: Nodes) -> None:
    await alice_follows_bob(nodes)
    alice = nodes.login(nodes.a, "alice")
    bob = nodes.login(nodes.b, "bob")
    posted = bob.status_post("Quarterly numbers are in #sales")
    await arrived(nodes.a, posted.uri)
    home = alice.timeline_home()
    assert posted.uri in [s.uri for s in home]
    assert alice.instance_peers() == [nodes.b.domain]


async def test_user_stream_gets_the_update_within_two_seconds(nodes: Nodes) -> None:
    await alice_follows_bob(nodes)
    alice = nodes.login(nodes.a, "alice")
    bob = nodes.login(nodes.b, "bob")
    connected = threading.Event()
    received: list[Any] = []
    updated = threading.Event()

    class Listener(StreamListener):
        def handle_heartbeat(self) -> None:
            connected.set()

        def on_update(self, status: Any) -> None:
            received.append(status)
            updated.set()

    handle = alice.stream_user(Listener(), run_async=True, timeout=30)
    try:
        assert connected.wait(10), "the stream did not open"
        posted = bob.status_post("Live from B")
        assert updated.wait(2.0), "no update event within 2 s"
    finally:
        # Closing waits for the next read to return (a keep-alive, 15 s away): do it aside.
        threading.Thread(target=handle.close, daemon=True).start()
    assert received[0].uri == posted.uri
    assert received[0].account.acct == nodes.b.handle("bob")


# ---------------------------------------------------------------- visibilities and interactions


async def test_each_visibility_reaches_exactly_its_audience(nodes: Nodes) -> None:
    await alice_follows_bob(nodes)
    alice = nodes.login(nodes.a, "alice")
    bob = nodes.login(nodes.b, "bob")
    public = bob.status_post("visibility public", visibility="public")
    private = bob.status_post("visibility private", visibility="private")
    unlisted = bob.status_post("visibility unlisted (node only)", visibility="unlisted")
    direct = bob.status_post(f"@{nodes.a.handle('alice')} visibility direct", visibility="direct")
    assert [s.visibility for s in (public, private, unlisted, direct)] == [
        "public", "private", "unlisted", "direct",
    ]  # fmt: skip
    for status in (public, private, direct):
        await arrived(nodes.a, status.uri)
    # The node-only post never leaves B (the direct one, sent later, proves B delivered).
    assert await nodes.a.post_by_uri(unlisted.uri) is None

    home = [s.uri for s in alice.timeline_home(limit=40)]
    assert public.uri in home and private.uri in home
    assert unlisted.uri not in home and direct.uri not in home
    found = alice.search_v2(private.uri, result_type="statuses").statuses
    assert [s.visibility for s in found] == ["private"]
    conversations = alice.conversations()
    assert direct.uri in [c.last_status.uri for c in conversations if c.last_status]
    assert bob.status(unlisted.id).fedwall["visibility"] == "node"


async def test_reply_favourite_and_reblog_from_a_reach_b(nodes: Nodes) -> None:
    await alice_follows_bob(nodes)
    alice = nodes.login(nodes.a, "alice")
    bob = nodes.login(nodes.b, "bob")
    original = bob.status_post("Which supplier do we pick?")
    on_a = await arrived(nodes.a, original.uri)

    reply = alice.status_post(f"@{nodes.b.handle('bob')} the second one", in_reply_to_id=on_a.id)
    assert str(reply.in_reply_to_id) == str(on_a.id)
    alice.status_favourite(on_a.id)
    reblog = alice.status_reblog(on_a.id)
    assert reblog.reblog.uri == original.uri

    await arrived(nodes.b, reply.uri)

    async def counted() -> bool:
        stored = await Post.get(uri=original.uri)
        return stored.likes_count == 1 and stored.shares_count == 1

    await wait_for(lambda: nodes.b.query(counted))
    seen_by_bob = bob.status(original.id)
    assert (seen_by_bob.favourites_count, seen_by_bob.reblogs_count) == (1, 1)
    assert seen_by_bob.replies_count == 1
    descendants = bob.status_context(original.id).descendants
    assert [s.uri for s in descendants] == [reply.uri]
    assert [a.acct for a in bob.status_favourited_by(original.id)] == [nodes.a.handle("alice")]


async def test_edit_and_delete_on_b_are_seen_through_the_api_on_a(nodes: Nodes) -> None:
    await alice_follows_bob(nodes)
    alice = nodes.login(nodes.a, "alice")
    bob = nodes.login(nodes.b, "bob")
    posted = bob.status_post("Meeting at 10")
    on_a = await arrived(nodes.a, posted.uri)

    edited = bob.status_update(posted.id, "Meeting at 11 (moved)")
    assert edited.edited_at is not None

    async def edited_on_a() -> bool:
        stored = await Post.get(uri=posted.uri)
        return stored.edited_at is not None

    await wait_for(lambda: nodes.a.query(edited_on_a))
    assert "11 (moved)" in alice.status(on_a.id).content
    history = alice.status_history(on_a.id)
    assert len(history) == 2 and "Meeting at 10" in history[0].content

    deleted = bob.status_delete(posted.id)
    assert deleted.text == "Meeting at 11 (moved)"

    async def deleted_on_a() -> bool:
        stored = await Post.get(uri=posted.uri)
        return stored.deleted_at is not None

    await wait_for(lambda: nodes.a.query(deleted_on_a))
    with pytest.raises(MastodonNotFoundError):
        alice.status(on_a.id)
    with pytest.raises(MastodonNotFoundError):
        bob.status(posted.id)


async def test_direct_message_is_in_conversations_and_in_no_timeline(nodes: Nodes) -> None:
    alice = nodes.login(nodes.a, "alice")
    bob = nodes.login(nodes.b, "bob")
    sent = alice.status_post(f"@{nodes.b.handle('bob')} just between us", visibility="direct")
    await arrived(nodes.b, sent.uri)
    conversation = next(
        c for c in bob.conversations() if c.last_status and c.last_status.uri == sent.uri
    )
    assert conversation.unread is True
    assert [a.acct for a in conversation.accounts] == [nodes.a.handle("alice")]
    for timeline in (bob.timeline_home(), bob.timeline_public(), bob.timeline_local()):
        assert sent.uri not in [s.uri for s in timeline]
    for timeline in (alice.timeline_home(), alice.timeline_public()):
        assert sent.uri not in [s.uri for s in timeline]
    read = bob.conversations_read(conversation.id)
    assert read.unread is False

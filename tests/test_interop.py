"""A Fedwall node against an independent, Mastodon-flavoured peer.

The peer is a small server written here with ``cryptography`` alone (not
Fedwall's signature code): it requires signed GETs like Mastodon in secure
mode, signs with the ``hs2019`` label, and checks what the node sends.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email.utils
import hashlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response, request

from node.models import Follow, InboxItem, Post
from tests.multinode import NodeProcess, wait_for

pytestmark = pytest.mark.multinode
AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def _signing_string(method: str, path: str, headers: dict[str, str], names: list[str]) -> bytes:
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {path}")
        else:
            lines.append(f"{name}: {headers[name]}")
    return "\n".join(lines).encode()


@dataclass
class Peer:
    """An independent peer with one actor, ``zoe``."""

    port: int
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    received: list[dict[str, Any]] = field(default_factory=list)
    verified_fetches: list[str] = field(default_factory=list)
    refused_fetches: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def actor(self) -> str:
        return f"{self.base}/users/zoe"

    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def actor_document(self) -> dict[str, Any]:
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1",
                         {"manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
                          "toot": "http://joinmastodon.org/ns#"}],
            "id": self.actor, "type": "Person", "preferredUsername": "zoe",
            "name": "Zoe (independent)",
            "inbox": f"{self.actor}/inbox", "outbox": f"{self.actor}/outbox",
            "followers": f"{self.actor}/followers", "following": f"{self.actor}/following",
            "endpoints": {"sharedInbox": f"{self.base}/inbox"}, "manuallyApprovesFollowers": False,
            "publicKey": {"id": f"{self.actor}#main-key", "owner": self.actor,
                          "publicKeyPem": self.public_pem()},
        }  # fmt: skip

    async def verify(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bool:
        """Verify a draft-cavage signature the way Mastodon does, fetching the signer's key."""
        header = headers.get("signature")
        if not header:
            return False
        params = dict(part.split("=", 1) for part in header.split(","))
        params = {k.strip(): v.strip().strip('"') for k, v in params.items()}
        names = params["headers"].split()
        if method == "POST":
            if "digest" not in names:
                return False
            expected = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
            if headers.get("digest") != expected:
                return False
        key_owner = params["keyId"].split("#")[0]
        async with httpx.AsyncClient() as client:
            # Like Mastodon, the peer signs its own fetch of the signer's key.
            response = await client.get(key_owner, headers=self.signed_get_headers(key_owner))
            actor = response.json()
        key = serialization.load_pem_public_key(actor["publicKey"]["publicKeyPem"].encode())
        assert isinstance(key, rsa.RSAPublicKey)
        try:
            signed = _signing_string(method, path, headers, names)
            key.verify(
                base64.b64decode(params["signature"]), signed, padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:
            return False
        return True

    def signed_get_headers(self, url: str) -> dict[str, str]:
        parts = urlsplit(url)
        headers = {
            "host": parts.netloc,
            "date": email.utils.format_datetime(dt.datetime.now(dt.UTC), usegmt=True),
            "accept": "application/activity+json",
        }
        names = ["(request-target)", "host", "date", "accept"]
        signed = _signing_string("GET", parts.path, headers, names)
        signature = self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        headers["signature"] = (
            f'keyId="{self.actor}#main-key",algorithm="rsa-sha256",headers="{" ".join(names)}",'
            f'signature="{base64.b64encode(signature).decode()}"'
        )
        return headers

    def signed_headers(self, url: str, body: bytes) -> dict[str, str]:
        """Sign a POST with the ``hs2019`` label, as newer servers do."""
        parts = urlsplit(url)
        headers = {
            "host": parts.netloc,
            "date": email.utils.format_datetime(dt.datetime.now(dt.UTC), usegmt=True),
            "digest": "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode(),
            "content-type": "application/activity+json",
        }
        names = ["(request-target)", "host", "date", "digest", "content-type"]
        signature = self.key.sign(
            _signing_string("POST", parts.path, headers, names), padding.PKCS1v15(), hashes.SHA256()
        )
        headers["signature"] = (
            f'keyId="{self.actor}#main-key",algorithm="hs2019",headers="{" ".join(names)}",'
            f'signature="{base64.b64encode(signature).decode()}"'
        )  # fmt: skip
        return headers

    def app(self) -> Quart:
        app = Quart("peer")

        @app.get("/.well-known/webfinger")
        async def webfinger() -> Any:
            link = {"rel": "self", "type": "application/activity+json", "href": self.actor}
            return {"subject": f"acct:zoe@127.0.0.1:{self.port}", "links": [link]}

        @app.get("/users/zoe")
        async def actor() -> Response:
            headers = {k.lower(): v for k, v in request.headers.items()}
            if await self.verify("GET", "/users/zoe", headers, b""):
                self.verified_fetches.append(headers["signature"])
                return Response(
                    orjson.dumps(self.actor_document()), content_type="application/activity+json"
                )
            self.refused_fetches.append(request.path)
            return Response("signature required", status=401)

        async def inbox() -> Response:
            body = await request.get_data()
            headers = {k.lower(): v for k, v in request.headers.items()}
            if not await self.verify("POST", request.path, headers, body):
                return Response("bad signature", status=401)
            self.received.append(orjson.loads(body))
            return Response(status=202)

        app.add_url_rule("/inbox", "shared", inbox, methods=["POST"])
        app.add_url_rule("/users/zoe/inbox", "personal", inbox, methods=["POST"])
        return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Setup:
    node: NodeProcess
    peer: Peer


@pytest.fixture(scope="module")
async def setup(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Setup]:
    peer = Peer(_free_port())
    config = Config()
    config.bind = [f"127.0.0.1:{peer.port}"]
    stop = asyncio.Event()
    server = asyncio.create_task(serve(peer.app(), config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    node = NodeProcess("a", tmp_path_factory.mktemp("interop"), None)
    try:
        await node.create({"alice": {}})
        await node.allow_peers([f"127.0.0.1:{peer.port}"])
        await node.start()
        yield Setup(node, peer)
    finally:
        await node.close()
        stop.set()
        await server


async def test_node_fetches_an_actor_from_a_server_that_requires_signed_gets(setup: Setup) -> None:
    node, peer = setup.node, setup.peer
    browser = await node.browser("alice")
    try:
        await browser.follow(f"zoe@127.0.0.1:{peer.port}")
    finally:
        await browser.close()
    assert peer.verified_fetches, "the node's GET of the actor was not signed verifiably"
    assert not peer.refused_fetches


async def test_activities_sent_carry_a_context_and_ids_on_the_node_origin(setup: Setup) -> None:
    node, peer = setup.node, setup.peer

    async def follow_received() -> dict[str, Any] | None:
        return next((a for a in peer.received if a.get("type") == "Follow"), None)

    follow = await wait_for(follow_received)
    assert "https://www.w3.org/ns/activitystreams" in follow["@context"]
    assert follow["id"].startswith(f"{node.url}/")
    assert follow["actor"] == node.actor("alice")
    assert follow["object"] == peer.actor


async def test_inbox_accepts_an_hs2019_signed_activity_from_the_peer(setup: Setup) -> None:
    node, peer = setup.node, setup.peer
    accept = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{peer.actor}#accepts/1", "type": "Accept", "actor": peer.actor,
        "object": next(a for a in peer.received if a.get("type") == "Follow"),
    }  # fmt: skip
    note_id = f"{peer.actor}/statuses/1"
    create = {
        "@context": ["https://www.w3.org/ns/activitystreams", {"sensitive": "as:sensitive"}],
        "id": f"{note_id}/activity", "type": "Create", "actor": peer.actor,
        "to": [AS_PUBLIC], "cc": [f"{peer.actor}/followers"],
        "object": {"id": note_id, "type": "Note", "attributedTo": peer.actor,
                   "content": "<p>Hello from an independent server<script>alert(1)</script></p>",
                   "to": [AS_PUBLIC], "cc": [f"{peer.actor}/followers"], "sensitive": False,
                   "published": "2026-11-27T10:00:00Z"},
    }  # fmt: skip
    async with httpx.AsyncClient() as client:
        for activity in (accept, create):
            body = orjson.dumps(activity)
            url = f"{node.url}/inbox"
            response = await client.post(url, content=body, headers=peer.signed_headers(url, body))
            assert response.status_code == 202, response.text

    async def accepted() -> bool:
        return await Follow.filter(followee__uri=peer.actor, state="accepted").exists()

    await wait_for(lambda: node.query(accepted))
    stored = await wait_for(lambda: node.post_by_uri(note_id))
    assert "Hello from an independent server" in stored.content_html
    assert "<script" not in stored.content_html


async def test_unsupported_activity_is_accepted_and_recorded_as_unhandled(setup: Setup) -> None:
    node, peer = setup.node, setup.peer
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{peer.actor}#moves/1", "type": "Move", "actor": peer.actor,
        "object": peer.actor, "target": f"{peer.base}/users/zoe2",
    }  # fmt: skip
    body = orjson.dumps(activity)
    url = f"{node.url}/users/alice/inbox"
    async with httpx.AsyncClient() as client:
        response = await client.post(url, content=body, headers=peer.signed_headers(url, body))
    assert response.status_code == 202

    async def recorded() -> InboxItem | None:
        return await InboxItem.get_or_none(activity_id=activity["id"], state="unhandled")

    item = await wait_for(lambda: node.query(recorded))
    assert item.last_error and "Move" in item.last_error
    assert not await node.query(lambda: Post.filter(uri=activity["target"]).exists())

"""The admin API of the boundary policy and the author preview, through a node's app."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from quart import Quart

from node.db import Database
from node.keys import generate_key_pair
from node.models import Account, Delivery, Follow, Notification, PeerRequest, ReviewItem
from node.services import reviews
from node.services.policy import note_peer_request
from node.services.posts import Draft, create_post
from tests.api_support import ApiClient, build_app, site_of, token_for, user_client

KEY = generate_key_pair()
ADMIN_SCOPES = "read write admin:read admin:write"
P = "/api/v1/fedwall/admin"

POLICY = """\
federation_mode = "allowlist"

[[peers]]
domain = "sales.example"
status = "allowed"
outbound = { max_label = "internal" }

[[peers]]
domain = "lab.example"
status = "allowed"

[[content_rules]]
id = "cards"
action = "redact"
matchers = [{ type = "card_number" }]
scope = { directions = ["outbound"], peers = { only = ["sales.example"] } }
"""


async def admin_client(app: Quart, scopes: str = ADMIN_SCOPES) -> ApiClient:
    client, _ = await user_client(app, "root", scopes, admin=True, key_pair=KEY)
    return client


@pytest.fixture
async def api_app(tmp_path: Path, db: Database) -> AsyncIterator[Quart]:
    """A started node app on the test database (its node key is this module's key)."""
    application = build_app(tmp_path, db, KEY)
    async with application.test_app():
        db.activate()
        yield application


@pytest.fixture
async def admin(api_app: Quart, db: Database) -> ApiClient:
    return await admin_client(api_app)


# ---------------------------------------------------------------- who may call


async def test_calls_without_a_valid_token_are_401(api_app: Quart, db: Database) -> None:
    anonymous = ApiClient(api_app)
    assert (await anonymous.get(f"{P}/peers")).status == 401
    forged = ApiClient(api_app, "not-a-token")
    answer = await forged.get(f"{P}/peers")
    assert answer.status == 401 and answer.error == "The access token is invalid"
    assert (await anonymous.post("/api/v1/fedwall/preview", json={"status": "x"})).status == 401


async def test_a_non_admin_is_403_even_with_admin_scopes(api_app: Quart, db: Database) -> None:
    client, _ = await user_client(api_app, "eve", ADMIN_SCOPES, key_pair=KEY)
    answer = await client.post(f"{P}/peers/sales.example/allow")
    assert answer.status == 403 and answer.error == "This action requires an admin account"
    assert (await client.get(f"{P}/audit/verify")).status == 403


async def test_an_admin_without_the_admin_scopes_is_403(api_app: Quart, db: Database) -> None:
    client = await admin_client(api_app, "read write")
    answer = await client.get(f"{P}/peers")
    assert answer.status == 403 and answer.error == "This action is outside the authorized scopes"


async def test_admin_read_does_not_allow_changes(api_app: Quart, db: Database) -> None:
    client = await admin_client(api_app, "admin:read")
    assert (await client.get(f"{P}/peers")).status == 200
    assert (await client.post(f"{P}/peers/sales.example/allow")).status == 403


async def test_an_app_token_without_a_user_is_refused(api_app: Quart, db: Database) -> None:
    client = ApiClient(api_app, await token_for(None, ADMIN_SCOPES))
    answer = await client.get(f"{P}/peers")
    assert answer.status == 422 and "authenticated user" in str(answer.error)


# ---------------------------------------------------------------- peers


async def test_peers_are_allowed_limited_blocked_and_listed(admin: ApiClient) -> None:
    allowed = await admin.post(f"{P}/peers/sales.example/allow", json={"note": "deal"})
    assert allowed.status == 200, allowed.body
    assert allowed.body["changed"] is True and allowed.body["policy_version"] == 1
    assert allowed.body["agreement"]["outbound"]["max_label"] == "internal"
    limited = await admin.post(
        f"{P}/peers/lab.example/limit",
        json={"max_label": "public", "kinds": ["posts"], "media": False, "direction": "outbound"},
    )
    assert limited.status == 200, limited.body
    assert limited.body["agreement"]["outbound"] == {
        "kinds": ["posts"],
        "max_label": "public",
        "media": False,
        "profile_fields": [],
    }
    blocked = await admin.post(f"{P}/peers/evil.example/block", json={"note": "spam"})
    assert blocked.body["agreement"]["status"] == "blocked"
    listing = await admin.get(f"{P}/peers")
    assert listing.body["policy_version"] == 3
    assert {p["domain"]: p["status"] for p in listing.body["peers"]} == {
        "evil.example": "blocked",
        "lab.example": "allowed",
        "sales.example": "allowed",
    }
    shown = await admin.get(f"{P}/peers/lab.example")
    assert shown.body["effective"] == "allowed"


async def test_invalid_peer_changes_are_422_and_unknown_peers_404(admin: ApiClient) -> None:
    answer = await admin.post(f"{P}/peers/lab.example/limit", json={"max_label": "secret"})
    assert answer.status == 422 and "unknown label 'secret'" in str(answer.error)
    wrong_type = await admin.post(f"{P}/peers/lab.example/limit", json={"media": "no"})
    assert wrong_type.status == 422
    assert (await admin.get(f"{P}/peers/nobody.example")).status == 404
    assert (await admin.get(f"{P}/policy/versions")).body == []


async def test_peering_requests_are_approved_and_denied(admin: ApiClient) -> None:
    await note_peer_request("one.example", "Follow")
    await note_peer_request("two.example", "Create")
    pending = await admin.get(f"{P}/peer_requests")
    assert sorted(r["domain"] for r in pending.body) == ["one.example", "two.example"]
    approved = await admin.post(f"{P}/peer_requests/one.example/approve")
    assert approved.status == 200 and approved.body["agreement"]["status"] == "allowed"
    denied = await admin.post(f"{P}/peer_requests/two.example/deny", json={"block": True})
    assert denied.body["request"]["state"] == "denied"
    assert denied.body["block"]["agreement"]["status"] == "blocked"
    assert (await PeerRequest.get(domain="one.example")).state == "approved"
    assert (await admin.get(f"{P}/peer_requests")).body == []
    everything = await admin.get(f"{P}/peer_requests", query={"state": "all"})
    assert len(everything.body) == 2
    assert (await admin.post(f"{P}/peer_requests/nobody.example/approve")).status == 404


# ---------------------------------------------------------------- policy


async def test_policy_is_validated_applied_and_shown(admin: ApiClient) -> None:
    broken = POLICY.replace('action = "redact"', 'action = "blok"')
    checked = await admin.post(f"{P}/policy/validate", json={"source": broken})
    assert checked.status == 200 and checked.body["valid"] is False
    assert checked.body["problem"]["line"] == 14
    assert checked.body["problem"]["path"] == "content_rules[0].action"
    refused = await admin.put(f"{P}/policy", json={"source": broken})
    assert refused.status == 422 and refused.body["line"] == 14
    assert "line 14" in refused.error  # type: ignore[operator]
    applied = await admin.put(f"{P}/policy", json={"source": POLICY, "comment": "first"})
    assert applied.status == 200 and applied.body["version"] == 1
    shown = await admin.get(f"{P}/policy")
    assert shown.body["source"] == POLICY and shown.body["comment"] == "first"
    assert shown.body["author"] == "api:root"
    assert [p["domain"] for p in shown.body["policy"]["peers"]] == ["sales.example", "lab.example"]
    versions = await admin.get(f"{P}/policy/versions")
    assert [v["version"] for v in versions.body] == [1]


async def test_policy_test_explains_a_decision(admin: ApiClient) -> None:
    await admin.put(f"{P}/policy", json={"source": POLICY})
    answer = await admin.post(
        f"{P}/policy/test",
        json={"text": "card 4111 1111 1111 1111", "peer": "sales.example", "kind": "posts"},
    )
    assert answer.status == 200, answer.body
    assert answer.body["outcome"] == "redact"
    assert answer.body["transformed"] == {"content": "card [redacted]"}
    assert answer.body["reasons"][0]["rule"] == "cards"
    bad = await admin.post(f"{P}/policy/test", json={"text": "x", "peer": "a.example", "kind": "x"})
    assert bad.status == 422


# ---------------------------------------------------------------- reviews and groups


async def test_review_queue_approve_and_reject(api_app: Quart, admin: ApiClient) -> None:
    site = site_of(api_app)
    alice = await Account.get(username="root")
    post = await create_post(site, alice, Draft(text="the merger", visibility="public"))
    ids = []
    for peer in ("sales.example", "lab.example"):
        delivery = await Delivery.create(
            activity_id=f"{post.uri}/activity",
            inbox_url=f"https://{peer}/inbox",
            peer_domain=peer,
            sender=alice,
            body="{}",
            next_attempt_at=dt.datetime.now(dt.UTC),
        )
        ids.append(str((await reviews.hold(delivery, [], post=post)).id))
    queue = await admin.get(f"{P}/reviews")
    assert [item["id"] for item in queue.body] == ids
    assert queue.body[0]["post"]["text"] == "the merger"
    approved = await admin.post(f"{P}/reviews/{ids[0]}/approve")
    assert approved.status == 200 and approved.body["state"] == "approved"
    assert approved.body["delivery"]["state"] == "pending"
    rejected = await admin.post(f"{P}/reviews/{ids[1]}/reject")
    assert rejected.body["delivery"]["state"] == "dead"
    again = await admin.post(f"{P}/reviews/{ids[1]}/approve")
    assert again.status == 422 and "already rejected" in str(again.error)
    assert (await admin.post(f"{P}/reviews/999/approve")).status == 404
    assert {r.state for r in await ReviewItem.all()} == {"approved", "rejected"}
    # Told by the node's own actor (the app started it): held twice, approved, rejected.
    assert await Notification.filter(recipient_id=alice.id, kind="fedwall.policy").count() == 4


async def test_groups_are_created_and_their_members_changed(
    api_app: Quart, admin: ApiClient
) -> None:
    await user_client(api_app, "alice", key_pair=KEY)
    created = await admin.post(f"{P}/groups", json={"name": "legal", "description": "Legal"})
    assert created.status == 200 and created.body["name"] == "legal"
    duplicate = await admin.post(f"{P}/groups", json={"name": "legal"})
    assert duplicate.status == 422
    added = await admin.post(f"{P}/groups/legal/members", json={"usernames": ["alice", "root"]})
    assert added.body["members"] == ["alice", "root"]
    removed = await admin.delete(f"{P}/groups/legal/members/root")
    assert removed.body["members"] == ["alice"]
    listing = await admin.get(f"{P}/groups")
    assert listing.body == [
        {"name": "legal", "description": "Legal", "source": "local", "member_count": 1}
    ]
    assert (await admin.get(f"{P}/groups/sales")).status == 404


# ---------------------------------------------------------------- audit


async def test_audit_is_listed_verified_and_exported(admin: ApiClient) -> None:
    await admin.post(f"{P}/peers/sales.example/allow")
    await admin.post(f"{P}/peers/lab.example/block")
    listing = await admin.get(f"{P}/audit", query={"limit": "1"})
    assert [e["seq"] for e in listing.body] == [2]
    older = await admin.get(f"{P}/audit", query={"before": "2"})
    assert [e["seq"] for e in older.body] == [1]
    verified = await admin.get(f"{P}/audit/verify")
    assert verified.body == {
        "ok": True,
        "entries": 2,
        "first_broken": None,
        "message": "2 entries, chain intact",
    }
    response = await admin.client.get(
        f"{P}/audit/export", headers={"Authorization": f"Bearer {admin.token}"}
    )
    assert response.status_code == 200
    assert response.content_type == "application/x-ndjson"
    lines = (await response.get_data()).splitlines()
    assert [orjson.loads(line)["seq"] for line in lines] == [1, 2]


# ---------------------------------------------------------------- preview


async def test_preview_gives_per_peer_decisions_and_audiences(
    api_app: Quart, admin: ApiClient
) -> None:
    await admin.put(f"{P}/policy", json={"source": POLICY})
    author, alice = await user_client(api_app, "alice", "read", key_pair=KEY)
    for username, domain in (("bob", "sales.example"), ("carol", "lab.example")):
        remote = await Account.create(
            username=username,
            domain=domain,
            uri=f"https://{domain}/users/{username}",
            inbox_url=f"https://{domain}/users/{username}/inbox",
        )
        await Follow.create(follower=remote, followee=alice, state="accepted")
    answer = await author.post(
        "/api/v1/fedwall/preview",
        json={"status": "card 4111 1111 1111 1111", "visibility": "private"},
    )
    assert answer.status == 200, answer.body
    assert answer.body["visibility"] == "followers" and answer.body["label"] == "internal"
    peers = {p["peer"]: p for p in answer.body["peers"]}
    assert peers["sales.example"]["outcome"] == "redact"
    assert peers["sales.example"]["audience"] == [
        {"handle": "bob@sales.example", "why": "follower"}
    ]
    assert peers["lab.example"]["outcome"] == "deny"  # lab.example is cleared up to public
    assert "above public" in peers["lab.example"]["explanation"]
    invalid = await author.post("/api/v1/fedwall/preview", json={"status": "x", "label": "secret"})
    assert invalid.status == 422


async def test_a_reply_preview_keeps_the_threads_visibility(api_app: Quart, db: Database) -> None:
    client, alice = await user_client(api_app, "alice", "write", key_pair=KEY)
    parent = await create_post(site_of(api_app), alice, Draft(text="first", visibility="followers"))
    answer = await client.post(
        "/api/v1/fedwall/preview", json={"status": "second", "in_reply_to_id": str(parent.id)}
    )
    assert answer.status == 200, answer.body
    assert (answer.body["visibility"], answer.body["kind"]) == ("followers", "replies")
    missing = await client.post(
        "/api/v1/fedwall/preview", json={"status": "x", "in_reply_to_id": "123"}
    )
    assert missing.status == 404


async def test_preview_needs_read_or_write(api_app: Quart, db: Database) -> None:
    client, _ = await user_client(api_app, "alice", "follow", key_pair=KEY)
    answer = await client.post("/api/v1/fedwall/preview", json={"status": "x"})
    assert answer.status == 403


async def test_the_openapi_document_describes_the_admin_api(api_app: Quart, db: Database) -> None:
    answer = await ApiClient(api_app).get("/api/v1/fedwall/openapi.json")
    paths = answer.body["paths"]
    assert "/api/v1/fedwall/preview" in paths
    assert paths[f"{P}/peers/{{domain}}/limit"]["post"]["security"] == [{"OAuth2": ["admin:write"]}]

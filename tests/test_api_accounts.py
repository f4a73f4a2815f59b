"""Accounts through the API: credentials, profiles, lookup, search, follows, follow requests."""

from __future__ import annotations

from quart import Quart

from node.db import Database
from node.models import Account, Follow
from tests import api_support
from tests.api_support import ApiClient, user_client

# Fixtures shared by the API tests.
node_key = api_support.node_key
api_app = api_support.api_app


async def test_verify_credentials_includes_the_source(api_app: Quart, db: Database) -> None:
    alice, account = await user_client(api_app, "alice")
    answer = await alice.get("/api/v1/accounts/verify_credentials")
    assert answer.body["id"] == str(account.id) and answer.body["acct"] == "alice"
    assert answer.body["source"]["privacy"] == "public"
    assert answer.body["source"]["follow_requests_count"] == 0


async def test_update_credentials_changes_the_profile(api_app: Quart, db: Database) -> None:
    alice, account = await user_client(api_app, "alice")
    answer = await alice.patch(
        "/api/v1/accounts/update_credentials",
        form={
            "display_name": "Alice A.",
            "note": "Sales & <lab>",
            "locked": "true",
            "fields_attributes[0][name]": "Team",
            "fields_attributes[0][value]": "EMEA",
        },
    )
    assert answer.status == 200, answer.body
    assert answer.body["display_name"] == "Alice A."
    assert answer.body["note"] == "<p>Sales &amp; &lt;lab&gt;</p>"
    assert answer.body["locked"] is True
    assert answer.body["fields"][0]["name"] == "Team"
    stored = await Account.get(id=account.id)
    assert stored.profile_fields == [{"name": "Team", "value": "EMEA"}]


async def test_over_long_display_name_is_422_and_changes_nothing(
    api_app: Quart, db: Database
) -> None:
    alice, account = await user_client(api_app, "alice")
    answer = await alice.patch(
        "/api/v1/accounts/update_credentials", form={"display_name": "x" * 101}
    )
    assert answer.status == 422
    assert (await Account.get(id=account.id)).display_name == "alice"


async def test_get_account_and_unknown_account(api_app: Quart, db: Database) -> None:
    _, account = await user_client(api_app, "alice")
    anonymous = ApiClient(api_app)
    found = await anonymous.get(f"/api/v1/accounts/{account.id}")
    missing = await anonymous.get("/api/v1/accounts/12345")
    assert found.body["username"] == "alice"
    assert missing.status == 404 and missing.body == {"error": "Record not found"}


async def test_lookup_finds_local_accounts_with_or_without_the_domain(
    api_app: Quart, db: Database
) -> None:
    _, account = await user_client(api_app, "alice")
    for acct in ("alice", "@alice", "alice@wall.test"):
        answer = await ApiClient(api_app).get("/api/v1/accounts/lookup", query={"acct": acct})
        assert answer.body["id"] == str(account.id), acct


async def test_lookup_of_an_unknown_remote_handle_is_404_without_a_resolver(
    api_app: Quart, db: Database
) -> None:
    answer = await ApiClient(api_app).get(
        "/api/v1/accounts/lookup", query={"acct": "nobody@elsewhere.example"}
    )
    assert answer.status == 404


async def test_follow_and_unfollow_report_the_relationship(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    _, bob = await user_client(api_app, "bob")
    followed = await alice.post(f"/api/v1/accounts/{bob.id}/follow")
    assert followed.body["following"] is True and followed.body["id"] == str(bob.id)
    relations = await alice.get("/api/v1/accounts/relationships", query=[("id[]", str(bob.id))])
    assert relations.body[0]["following"] is True
    unfollowed = await alice.post(f"/api/v1/accounts/{bob.id}/unfollow")
    assert unfollowed.body["following"] is False
    assert await Follow.all().count() == 0


async def test_following_a_locked_account_is_a_request_until_authorized(
    api_app: Quart, db: Database
) -> None:
    alice, alice_account = await user_client(api_app, "alice")
    erin, erin_account = await user_client(api_app, "erin", locked=True)
    requested = await alice.post(f"/api/v1/accounts/{erin_account.id}/follow")
    assert requested.body["requested"] is True and requested.body["following"] is False
    pending = await erin.get("/api/v1/follow_requests")
    assert [a["id"] for a in pending.body] == [str(alice_account.id)]
    authorized = await erin.post(f"/api/v1/follow_requests/{alice_account.id}/authorize")
    assert authorized.body["followed_by"] is True
    followers = await ApiClient(api_app).get(f"/api/v1/accounts/{erin_account.id}/followers")
    assert [a["id"] for a in followers.body] == [str(alice_account.id)]


async def test_rejecting_a_follow_request_removes_it(api_app: Quart, db: Database) -> None:
    alice, alice_account = await user_client(api_app, "alice")
    erin, erin_account = await user_client(api_app, "erin", locked=True)
    await alice.post(f"/api/v1/accounts/{erin_account.id}/follow")
    rejected = await erin.post(f"/api/v1/follow_requests/{alice_account.id}/reject")
    assert rejected.body["requested_by"] is False
    assert await Follow.all().count() == 0


async def test_following_lists_followed_accounts(api_app: Quart, db: Database) -> None:
    alice, alice_account = await user_client(api_app, "alice")
    _, bob = await user_client(api_app, "bob")
    await alice.post(f"/api/v1/accounts/{bob.id}/follow")
    following = await alice.get(f"/api/v1/accounts/{alice_account.id}/following")
    assert [a["acct"] for a in following.body] == ["bob"]


async def test_account_search_matches_name_prefixes(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    await user_client(api_app, "albert")
    await user_client(api_app, "bob")
    answer = await alice.get("/api/v1/accounts/search", query={"q": "al"})
    assert sorted(a["acct"] for a in answer.body) == ["albert", "alice"]


async def test_following_yourself_is_422(api_app: Quart, db: Database) -> None:
    alice, account = await user_client(api_app, "alice")
    answer = await alice.post(f"/api/v1/accounts/{account.id}/follow")
    assert answer.status == 422 and answer.error is not None

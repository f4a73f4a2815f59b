"""The instance entities, rate limits, the OpenAPI document, search and protocol details."""

from __future__ import annotations

from quart import Quart

from node.api import api_of
from node.api.ratelimit import RateLimit
from node.db import Database
from tests import api_support
from tests.api_support import ApiClient, user_client

# Fixtures shared by the API tests.
node_key = api_support.node_key
api_app = api_support.api_app


async def test_instance_version_is_mastodon_compatible(api_app: Quart, db: Database) -> None:
    v1 = await ApiClient(api_app).get("/api/v1/instance")
    v2 = await ApiClient(api_app).get("/api/v2/instance")
    assert v1.body["version"] == v2.body["version"]
    assert v1.body["version"].startswith("4.3.0 (compatible; Fedwall ")
    assert v1.body["urls"]["streaming_api"] == "ws://wall.test"
    assert v2.body["api_versions"] == {"mastodon": 2}
    assert v2.body["configuration"]["statuses"]["max_characters"] == 500


async def test_trailing_slash_is_accepted_like_rails(api_app: Quart, db: Database) -> None:
    assert (await ApiClient(api_app).get("/api/v1/instance/")).status == 200


async def test_peers_are_shown_to_the_nodes_people_only(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    assert (await alice.get("/api/v1/instance/peers")).body == []
    assert (await ApiClient(api_app).get("/api/v1/instance/peers")).body == []


async def test_features_fedwall_lacks_answer_empty_lists(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    for path in ("/api/v1/custom_emojis", "/api/v1/filters", "/api/v1/lists", "/api/v1/mutes"):
        answer = await alice.get(path)
        assert (answer.status, answer.body) == (200, []), path


async def test_unknown_api_endpoint_is_404_json(api_app: Quart) -> None:
    answer = await ApiClient(api_app).get("/api/v1/does_not_exist")
    assert answer.status == 404 and answer.body == {"error": "Record not found"}


async def test_responses_carry_rate_limit_headers(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    answer = await alice.get("/api/v1/timelines/home")
    assert answer.headers["X-RateLimit-Limit"] == "300"
    assert answer.headers["X-RateLimit-Remaining"] == "299"
    assert answer.headers["X-RateLimit-Reset"].endswith("Z")


async def test_exceeding_the_rate_limit_is_429_and_changes_nothing(
    api_app: Quart, db: Database
) -> None:
    api_of(api_app).limiter.limits["api"] = RateLimit(2, 300.0)
    alice, _ = await user_client(api_app, "alice")
    statuses = [
        (await alice.post("/api/v1/statuses", form={"status": f"post {n}"})).status
        for n in range(3)
    ]
    refused = await alice.get("/api/v1/timelines/home")
    assert statuses == [200, 200, 429]
    assert refused.status == 429 and refused.body == {"error": "Too many requests"}
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    api_of(api_app).limiter.limits["api"] = RateLimit(300, 300.0)
    assert len((await alice.get("/api/v1/timelines/home")).body) == 2


async def test_rate_limits_are_per_token(api_app: Quart, db: Database) -> None:
    api_of(api_app).limiter.limits["api"] = RateLimit(1, 300.0)
    alice, _ = await user_client(api_app, "alice")
    bob, _ = await user_client(api_app, "bob")
    assert (await alice.get("/api/v1/timelines/home")).status == 200
    assert (await bob.get("/api/v1/timelines/home")).status == 200
    assert (await alice.get("/api/v1/timelines/home")).status == 429


async def test_openapi_document_describes_the_label_extension(api_app: Quart) -> None:
    answer = await ApiClient(api_app).get("/api/v1/fedwall/openapi.json")
    document = answer.body
    assert document["openapi"].startswith("3.1")
    schema = document["components"]["schemas"]["FedwallStatusExtension"]
    assert set(schema["properties"]) == {"label", "visibility"}
    create = document["paths"]["/api/v1/statuses"]["post"]
    assert "fedwall" in create["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert document["paths"]["/api/v1/timelines/home"]["get"]["security"] == [
        {"OAuth2": ["read:statuses"]}
    ]


async def test_api_answers_carry_cors_headers(api_app: Quart, db: Database) -> None:
    answer = await ApiClient(api_app).get("/api/v1/instance")
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "Link" in answer.headers["Access-Control-Expose-Headers"]


async def test_search_finds_accounts_statuses_by_url_and_hashtags(
    api_app: Quart, db: Database
) -> None:
    alice, _ = await user_client(api_app, "alice")
    status = (await alice.post("/api/v1/statuses", form={"status": "Q3 #salesfigures"})).body
    by_name = await alice.get("/api/v2/search", query={"q": "ali", "type": "accounts"})
    by_url = await alice.get("/api/v2/search", query={"q": status["uri"]})
    by_tag = await alice.get("/api/v2/search", query={"q": "#salesf", "type": "hashtags"})
    assert [a["acct"] for a in by_name.body["accounts"]] == ["alice"]
    assert [s["id"] for s in by_url.body["statuses"]] == [status["id"]]
    assert [t["name"] for t in by_tag.body["hashtags"]] == ["salesfigures"]


async def test_search_hides_statuses_the_caller_may_not_see(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    bob, _ = await user_client(api_app, "bob")
    status = (
        await alice.post("/api/v1/statuses", form={"status": "mine", "visibility": "private"})
    ).body
    found = await bob.get("/api/v2/search", query={"q": status["uri"]})
    assert found.body["statuses"] == []


async def test_search_with_an_unknown_type_is_422(api_app: Quart, db: Database) -> None:
    alice, _ = await user_client(api_app, "alice")
    answer = await alice.get("/api/v2/search", query={"q": "x", "type": "everything"})
    assert answer.status == 422

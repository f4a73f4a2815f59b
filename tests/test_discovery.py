"""Discovery endpoints: WebFinger, NodeInfo, actors, outboxes, collections and notes.

Every test that reads the database runs on SQLite and on PostgreSQL (``db`` fixture).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import jsonschema
import pytest
from quart import Quart, abort

from federation.discovery import accepts_activity_json, build_blueprint
from federation.documents import CONTEXT, PUBLIC
from node.keys import generate_key_pair
from node.models import KeyPair
from node.services import follows
from node.services.accounts import ensure_node_actor, set_disabled, update_profile
from node.services.posts import Draft, create_post, delete_post
from tests.conftest import make_user

AS_JSON = "application/activity+json"
LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ALICE_URI = "https://wall.test/users/alice"


async def allow_all(kind: str) -> None:
    return None


async def refuse_all(kind: str) -> None:
    abort(401)


def make_app(site, guard=allow_all) -> Quart:
    app = Quart(__name__)
    app.register_blueprint(build_blueprint(SimpleNamespace(site=site), fetch_guard=guard))
    return app


@pytest.fixture
def client(db, site):
    return make_app(site).test_client()


async def get_json(client, path: str, accept: str = AS_JSON, status: int = 200):
    response = await client.get(path, headers={"Accept": accept})
    assert response.status_code == status, await response.get_data(as_text=True)
    return json.loads(await response.get_data())


# --- content negotiation (pure) --------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [
        AS_JSON,
        LD_JSON,
        "application/ld+json",
        'application/ld+json;profile="https://www.w3.org/ns/activitystreams", text/html;q=0.5',
        "text/html;q=0.1, application/activity+json",
    ],
)
def test_activity_json_accept_headers_want_activity_json(accept):
    assert accepts_activity_json(accept)


@pytest.mark.parametrize(
    "accept",
    [
        BROWSER,
        "",
        "*/*",
        "application/json",
        "application/activity+json;q=0, text/html",
        "text/html, application/activity+json;q=0.5",
    ],
)
def test_browser_and_other_accept_headers_do_not_want_activity_json(accept):
    assert not accepts_activity_json(accept)


# --- WebFinger -------------------------------------------------------------------------


async def test_webfinger_finds_a_local_user(client, site):
    await make_user(site, "alice")
    response = await client.get("/.well-known/webfinger?resource=acct:alice@wall.test")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/jrd+json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    jrd = json.loads(await response.get_data())
    assert jrd["subject"] == "acct:alice@wall.test"
    assert jrd["aliases"] == [ALICE_URI, "https://wall.test/@alice"]
    assert {"rel": "self", "type": AS_JSON, "href": ALICE_URI} in jrd["links"]


async def test_webfinger_accepts_the_actor_url_as_resource(client, site):
    await make_user(site, "alice")
    jrd = await get_json(client, f"/.well-known/webfinger?resource={ALICE_URI}")
    assert jrd["subject"] == "acct:alice@wall.test"


async def test_webfinger_rel_parameter_narrows_the_links(client, site):
    await make_user(site, "alice")
    jrd = await get_json(client, "/.well-known/webfinger?resource=acct:alice@wall.test&rel=self")
    assert [link["rel"] for link in jrd["links"]] == ["self"]


@pytest.mark.parametrize("resource", ["acct:node.actor@wall.test", "acct:wall.test@wall.test"])
async def test_webfinger_resolves_the_node_actor(client, site, resource):
    private_pem, public_pem = generate_key_pair()
    await ensure_node_actor(site, private_pem, public_pem)
    jrd = await get_json(client, f"/.well-known/webfinger?resource={resource}")
    assert {"rel": "self", "type": AS_JSON, "href": "https://wall.test/actor"} in jrd["links"]


async def test_webfinger_unknown_user_is_404(client):
    response = await client.get("/.well-known/webfinger?resource=acct:nobody@wall.test")
    assert response.status_code == 404


async def test_webfinger_disabled_user_is_404(client, site):
    await make_user(site, "alice")
    await set_disabled("alice")
    response = await client.get("/.well-known/webfinger?resource=acct:alice@wall.test")
    assert response.status_code == 404


async def test_webfinger_without_resource_is_400(client):
    assert (await client.get("/.well-known/webfinger")).status_code == 400


@pytest.mark.parametrize("resource", ["acct:alice", "acct:@wall.test", "alice@wall.test"])
async def test_webfinger_malformed_resource_is_400(client, resource):
    response = await client.get(f"/.well-known/webfinger?resource={resource}")
    assert response.status_code == 400


async def test_webfinger_other_domain_is_404(client, site):
    await make_user(site, "alice")
    response = await client.get("/.well-known/webfinger?resource=acct:alice@elsewhere.test")
    assert response.status_code == 404


async def test_host_meta_points_to_webfinger(client):
    response = await client.get("/.well-known/host-meta")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xrd+xml")
    assert "/.well-known/webfinger?resource={uri}" in await response.get_data(as_text=True)


# --- NodeInfo --------------------------------------------------------------------------


async def test_well_known_nodeinfo_links_to_2_1(client):
    document = await get_json(client, "/.well-known/nodeinfo", accept="application/json")
    assert document["links"] == [
        {
            "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
            "href": "https://wall.test/nodeinfo/2.1",
        }
    ]


async def test_nodeinfo_validates_against_schema_2_1(client, site, vectors_dir):
    await make_user(site, "alice")
    response = await client.get("/nodeinfo/2.1")
    assert response.headers["Content-Type"] == (
        'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"'
    )
    schema = json.loads((vectors_dir / "nodeinfo" / "schema-2.1.json").read_text())
    jsonschema.validate(json.loads(await response.get_data()), schema)


async def test_nodeinfo_counts_enabled_people_and_undeleted_local_posts(client, site):
    alice = await make_user(site, "alice")
    await make_user(site, "bob")
    await set_disabled("bob")
    await ensure_node_actor(site, *generate_key_pair())
    await create_post(site, alice, Draft(text="kept"))
    gone = await create_post(site, alice, Draft(text="deleted"))
    await delete_post(site, alice, gone.id)
    document = await get_json(client, "/nodeinfo/2.1", accept="application/json")
    assert document["usage"]["users"]["total"] == 1
    assert document["usage"]["users"]["activeMonth"] == 1
    assert document["usage"]["localPosts"] == 1


# --- actors ----------------------------------------------------------------------------


async def test_actor_document_has_every_field(client, site):
    alice = await make_user(site, "alice", display_name="Alice A", locked=True)
    await update_profile(alice, summary="Finance lead")
    actor = await get_json(client, "/users/alice")
    assert actor["@context"] == CONTEXT
    assert actor["id"] == ALICE_URI
    assert actor["type"] == "Person"
    assert actor["preferredUsername"] == "alice"
    assert actor["name"] == "Alice A"
    assert actor["summary"] == "<p>Finance lead</p>"
    assert actor["url"] == "https://wall.test/@alice"
    assert actor["inbox"] == f"{ALICE_URI}/inbox"
    assert actor["outbox"] == f"{ALICE_URI}/outbox"
    assert actor["followers"] == f"{ALICE_URI}/followers"
    assert actor["following"] == f"{ALICE_URI}/following"
    assert actor["endpoints"] == {"sharedInbox": "https://wall.test/inbox"}
    assert actor["manuallyApprovesFollowers"] is True
    assert actor["discoverable"] is True
    assert actor["published"].endswith("Z")


async def test_actor_public_key_is_the_stored_key(client, site):
    alice = await make_user(site, "alice")
    stored = await KeyPair.get(account_id=alice.id)
    actor = await get_json(client, "/users/alice")
    assert actor["publicKey"] == {
        "id": f"{ALICE_URI}#main-key",
        "owner": ALICE_URI,
        "publicKeyPem": stored.public_pem,
    }


async def test_actor_response_is_activity_json_varying_by_accept(client, site):
    await make_user(site, "alice")
    response = await client.get("/users/alice", headers={"Accept": AS_JSON})
    assert response.headers["Content-Type"] == "application/activity+json; charset=utf-8"
    assert response.headers["Vary"] == "Accept"


async def test_actor_is_served_for_ld_json_with_the_activitystreams_profile(client, site):
    await make_user(site, "alice")
    actor = await get_json(client, "/users/alice", accept=LD_JSON)
    assert actor["id"] == ALICE_URI


async def test_browser_asking_for_an_actor_is_redirected_to_the_profile_page(client, site):
    await make_user(site, "alice")
    response = await client.get("/users/alice", headers={"Accept": BROWSER})
    assert response.status_code == 302
    assert response.headers["Location"] == "/@alice"


async def test_unknown_actor_is_a_json_404(client):
    document = await get_json(client, "/users/nobody", status=404)
    assert "error" in document


async def test_disabled_actor_is_404(client, site):
    await make_user(site, "alice")
    await set_disabled("alice")
    await get_json(client, "/users/alice", status=404)


async def test_actor_fetch_asks_the_fetch_guard(db, site):
    await make_user(site, "alice")
    client = make_app(site, guard=refuse_all).test_client()
    response = await client.get("/users/alice", headers={"Accept": AS_JSON})
    assert response.status_code == 401


async def test_node_actor_is_an_application_served_without_the_fetch_guard(db, site):
    await ensure_node_actor(site, *generate_key_pair())
    client = make_app(site, guard=refuse_all).test_client()
    actor = await get_json(client, "/actor", accept="*/*")
    assert actor["id"] == "https://wall.test/actor"
    assert actor["type"] == "Application"
    assert actor["publicKey"]["id"] == "https://wall.test/actor#main-key"


# --- outbox ----------------------------------------------------------------------------


async def test_outbox_counts_only_public_posts(client, site):
    alice = await make_user(site, "alice")
    for visibility in ("public", "followers", "direct", "node"):
        await create_post(site, alice, Draft(text=visibility, visibility=visibility))
    outbox = await get_json(client, "/users/alice/outbox")
    assert outbox["type"] == "OrderedCollection"
    assert outbox["totalItems"] == 1
    assert outbox["first"] == f"{ALICE_URI}/outbox?page=true"


async def test_outbox_page_lists_creates_of_public_posts_only(client, site):
    alice = await make_user(site, "alice")
    await make_user(site, "bob")
    public = await create_post(site, alice, Draft(text="hello all"))
    await create_post(site, alice, Draft(text="friends", visibility="followers"))
    await create_post(site, alice, Draft(text="@bob secret", visibility="direct"))
    page = await get_json(client, "/users/alice/outbox?page=true")
    assert page["type"] == "OrderedCollectionPage"
    assert page["partOf"] == f"{ALICE_URI}/outbox"
    [create] = page["orderedItems"]
    assert create["type"] == "Create"
    assert create["object"]["id"] == public.uri
    assert create["object"]["to"] == [PUBLIC]


async def test_outbox_pages_newest_first_and_links_the_next_page(client, site):
    alice = await make_user(site, "alice")
    posts = [await create_post(site, alice, Draft(text=f"post {i}")) for i in range(21)]
    first = await get_json(client, "/users/alice/outbox?page=true")
    assert len(first["orderedItems"]) == 20
    assert first["orderedItems"][0]["object"]["id"] == posts[-1].uri
    assert first["next"] == f"{ALICE_URI}/outbox?page=true&max_id={posts[1].id}"
    second = await get_json(client, first["next"].removeprefix("https://wall.test"))
    assert [item["object"]["id"] for item in second["orderedItems"]] == [posts[0].uri]
    assert "next" not in second


async def test_outbox_page_with_a_bad_cursor_is_400(client, site):
    await make_user(site, "alice")
    await get_json(client, "/users/alice/outbox?page=true&max_id=abc", status=400)


# --- followers and following -----------------------------------------------------------


async def test_followers_collection_lists_accepted_followers(client, site):
    alice = await make_user(site, "alice", locked=True)
    bob = await make_user(site, "bob")
    carol = await make_user(site, "carol")
    await follows.follow(site, bob, alice)
    await follows.accept(site, alice, bob)
    await follows.follow(site, carol, alice)  # still pending
    collection = await get_json(client, "/users/alice/followers")
    assert collection["totalItems"] == 1
    page = await get_json(client, "/users/alice/followers?page=true")
    assert page["orderedItems"] == [bob.uri]


async def test_following_collection_lists_followed_actors(client, site):
    alice = await make_user(site, "alice")
    bob = await make_user(site, "bob")
    await follows.follow(site, alice, bob)
    page = await get_json(client, "/users/alice/following?page=true")
    assert page["orderedItems"] == [bob.uri]


# --- notes -----------------------------------------------------------------------------


async def test_public_note_is_served(client, site):
    alice = await make_user(site, "alice")
    post = await create_post(site, alice, Draft(text="hello #q3", label="public"))
    note = await get_json(client, f"/users/alice/posts/{post.id}")
    assert note["id"] == post.uri
    assert note["type"] == "Note"
    assert note["classification"] == "public"
    assert note["tag"] == [{"type": "Hashtag", "href": "https://wall.test/tags/q3", "name": "#q3"}]


@pytest.mark.parametrize("visibility", ["followers", "direct", "node"])
async def test_non_public_note_is_404(client, site, visibility):
    alice = await make_user(site, "alice")
    post = await create_post(site, alice, Draft(text="not for you", visibility=visibility))
    await get_json(client, f"/users/alice/posts/{post.id}", status=404)


async def test_note_under_another_username_is_404(client, site):
    alice = await make_user(site, "alice")
    await make_user(site, "bob")
    post = await create_post(site, alice, Draft(text="mine"))
    await get_json(client, f"/users/bob/posts/{post.id}", status=404)


async def test_deleted_public_note_is_410_with_a_tombstone(client, site):
    alice = await make_user(site, "alice")
    post = await create_post(site, alice, Draft(text="oops"))
    await delete_post(site, alice, post.id)
    tombstone = await get_json(client, f"/users/alice/posts/{post.id}", status=410)
    assert tombstone["type"] == "Tombstone"
    assert tombstone["id"] == post.uri
    assert tombstone["formerType"] == "Note"


async def test_browser_asking_for_a_note_is_redirected_to_its_page(client, site):
    response = await client.get("/users/alice/posts/42", headers={"Accept": BROWSER})
    assert response.status_code == 302
    assert response.headers["Location"] == "/@alice/42"


async def test_create_activity_of_a_public_note_is_served(client, site):
    alice = await make_user(site, "alice")
    post = await create_post(site, alice, Draft(text="hello"))
    create = await get_json(client, f"/users/alice/posts/{post.id}/activity")
    assert create["id"] == f"{post.uri}/activity"
    assert create["type"] == "Create"
    assert create["actor"] == ALICE_URI
    assert create["object"]["id"] == post.uri


async def test_create_activity_of_a_followers_note_is_404(client, site):
    alice = await make_user(site, "alice")
    post = await create_post(site, alice, Draft(text="friends", visibility="followers"))
    await get_json(client, f"/users/alice/posts/{post.id}/activity", status=404)


async def test_note_fetch_asks_the_fetch_guard(db, site):
    alice = await make_user(site, "alice")
    post = await create_post(site, alice, Draft(text="hello"))
    client = make_app(site, guard=refuse_all).test_client()
    response = await client.get(f"/users/alice/posts/{post.id}", headers={"Accept": AS_JSON})
    assert response.status_code == 401

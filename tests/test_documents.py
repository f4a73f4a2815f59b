"""ActivityStreams, WebFinger and NodeInfo documents: pure serialisers over unsaved models."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import jsonschema
import pytest

from federation import documents
from federation.documents import CONTEXT, PUBLIC
from federation.vocabulary import FEDWALL_NAMESPACE, normalise
from node.keys import generate_key_pair
from node.models import Account, KeyPair, Post
from node.site import Site

SITE = Site(domain="wall.test")
BASE = "https://wall.test"
ALICE_URI = f"{BASE}/users/alice"
CREATED = dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
_, PUBLIC_PEM = generate_key_pair()


def person(username: str = "alice", domain: str = "", **overrides: Any) -> Account:
    host = domain or "wall.test"
    uri = f"https://{host}/users/{username}"
    values: dict[str, Any] = {
        "username": username,
        "domain": domain,
        "display_name": username.title(),
        "summary_html": f"<p>I am {username}</p>",
        "uri": uri,
        "url": f"https://{host}/@{username}",
        "inbox_url": f"{uri}/inbox",
        "shared_inbox_url": f"https://{host}/inbox",
        "outbox_url": f"{uri}/outbox",
        "followers_url": f"{uri}/followers",
        "following_url": f"{uri}/following",
        "created_at": CREATED,
    }
    values.update(overrides)
    return Account(**values)


def key_of(account: Account) -> KeyPair:
    return KeyPair(account_id=account.id, key_id=f"{account.uri}#main-key", public_pem=PUBLIC_PEM)


def post(visibility: str = "public", **overrides: Any) -> Post:
    values: dict[str, Any] = {
        "id": 1234,
        "uri": f"{ALICE_URI}/posts/1234",
        "url": f"{BASE}/@alice/1234",
        "local": True,
        "visibility": visibility,
        "label": "internal",
        "content_html": "<p>hello</p>",
        "context": f"{BASE}/contexts/1234",
        "created_at": CREATED,
    }
    values.update(overrides)
    return Post(**values)


def note(visibility: str = "public", mentioned: list[Account] | None = None, **overrides: Any):
    return documents.note_object(
        SITE, post(visibility, **overrides), person(), mentioned or [], [], None
    )


BOB = person("bob", "other.test")


# --- context and dates -----------------------------------------------------------------


def test_context_defines_classification_in_the_fedwall_namespace():
    assert CONTEXT[:2] == ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]
    assert CONTEXT[2]["classification"] == FEDWALL_NAMESPACE + "classification"


def test_context_defines_mastodon_terms():
    terms = CONTEXT[2]
    assert terms["manuallyApprovesFollowers"] == "as:manuallyApprovesFollowers"
    assert terms["sensitive"] == "as:sensitive"
    assert terms["Hashtag"] == "as:Hashtag"
    assert terms["toot"] == "http://joinmastodon.org/ns#"
    assert terms["discoverable"] == "toot:discoverable"
    assert terms["PropertyValue"] == "schema:PropertyValue"
    assert terms["value"] == "schema:value"


def test_dates_are_utc_with_z_suffix():
    paris = dt.timezone(dt.timedelta(hours=2))
    assert documents.iso_datetime(dt.datetime(2024, 5, 1, 14, 0, tzinfo=paris)) == (
        "2024-05-01T12:00:00Z"
    )


# --- actors ----------------------------------------------------------------------------


def test_person_actor_has_every_field():
    alice = person(locked=True, avatar_url="https://cdn.wall.test/a.png")
    actor = documents.actor_document(SITE, alice, key_of(alice))
    assert actor["@context"] == CONTEXT
    assert actor["id"] == ALICE_URI
    assert actor["type"] == "Person"
    assert actor["preferredUsername"] == "alice"
    assert actor["name"] == "Alice"
    assert actor["summary"] == "<p>I am alice</p>"
    assert actor["url"] == f"{BASE}/@alice"
    assert actor["inbox"] == f"{ALICE_URI}/inbox"
    assert actor["outbox"] == f"{ALICE_URI}/outbox"
    assert actor["followers"] == f"{ALICE_URI}/followers"
    assert actor["following"] == f"{ALICE_URI}/following"
    assert actor["endpoints"] == {"sharedInbox": f"{BASE}/inbox"}
    assert actor["icon"] == {"type": "Image", "url": "https://cdn.wall.test/a.png"}
    assert actor["manuallyApprovesFollowers"] is True
    assert actor["discoverable"] is True
    assert actor["published"] == "2024-05-01T12:30:15Z"


def test_actor_public_key_is_the_stored_key():
    alice = person()
    actor = documents.actor_document(SITE, alice, key_of(alice))
    assert actor["publicKey"] == {
        "id": f"{ALICE_URI}#main-key",
        "owner": ALICE_URI,
        "publicKeyPem": PUBLIC_PEM,
    }


def test_actor_without_avatar_has_no_icon():
    alice = person()
    assert "icon" not in documents.actor_document(SITE, alice, key_of(alice))


def test_actor_profile_fields_are_property_values():
    alice = person(profile_fields=[{"name": "Team", "value": "Finance"}])
    actor = documents.actor_document(SITE, alice, key_of(alice))
    assert actor["attachment"] == [{"type": "PropertyValue", "name": "Team", "value": "Finance"}]


def test_actor_shows_only_visible_profile_fields():
    alice = person(
        profile_fields=[{"name": "Team", "value": "Finance"}, {"name": "Phone", "value": "123"}]
    )
    actor = documents.actor_document(SITE, alice, key_of(alice), fields_visible={"Team"})
    assert [field["name"] for field in actor["attachment"]] == ["Team"]


def test_actor_profile_field_values_are_escaped_as_html():
    alice = person(profile_fields=[{"name": "Site", "value": "<script>x</script>"}])
    actor = documents.actor_document(SITE, alice, key_of(alice))
    assert actor["attachment"][0]["value"] == "&lt;script&gt;x&lt;/script&gt;"


def test_node_actor_is_an_application_without_social_collections():
    node = Account(
        username="node.actor",
        domain="",
        actor_type="Application",
        display_name="wall.test",
        uri=f"{BASE}/actor",
        url=f"{BASE}/",
        inbox_url=f"{BASE}/actor/inbox",
        shared_inbox_url=f"{BASE}/inbox",
        outbox_url=f"{BASE}/actor/outbox",
        locked=True,
    )
    actor = documents.actor_document(SITE, node, key_of(node))
    assert actor["type"] == "Application"
    assert actor["id"] == documents.node_actor_uri(SITE)
    assert actor["publicKey"]["id"] == f"{BASE}/actor#main-key"
    assert "followers" not in actor
    assert "following" not in actor


# --- notes -----------------------------------------------------------------------------


def test_public_note_is_to_public_and_cc_followers_and_mentioned():
    document = note("public", [BOB])
    assert document["to"] == [PUBLIC]
    assert document["cc"] == [f"{ALICE_URI}/followers", BOB.uri]


def test_followers_note_is_to_followers_and_cc_mentioned():
    document = note("followers", [BOB])
    assert document["to"] == [f"{ALICE_URI}/followers"]
    assert document["cc"] == [BOB.uri]


def test_direct_note_is_to_mentioned_actors_only():
    document = note("direct", [BOB])
    assert document["to"] == [BOB.uri]
    assert document["cc"] == []


def test_node_visibility_note_is_refused():
    with pytest.raises(ValueError, match="never federated"):
        note("node")


def test_deleted_node_visibility_post_is_refused_too():
    with pytest.raises(ValueError):
        note("node", deleted_at=CREATED)


def test_note_has_core_fields():
    document = note()
    assert document["@context"] == CONTEXT
    assert document["id"] == f"{ALICE_URI}/posts/1234"
    assert document["type"] == "Note"
    assert document["attributedTo"] == ALICE_URI
    assert document["content"] == "<p>hello</p>"
    assert document["published"] == "2024-05-01T12:30:15Z"
    assert document["url"] == f"{BASE}/@alice/1234"
    assert document["sensitive"] is False
    assert document["summary"] is None
    assert document["inReplyTo"] is None
    assert "updated" not in document


def test_note_carries_its_classification_label():
    assert note(label="confidential")["classification"] == "confidential"


def test_note_context_and_conversation_are_the_thread_context():
    document = note()
    assert document["context"] == document["conversation"] == f"{BASE}/contexts/1234"


def test_reply_names_its_parent():
    parent = "https://other.test/users/bob/posts/9"
    document = documents.note_object(SITE, post(), person(), [], [], parent)
    assert document["inReplyTo"] == parent


def test_content_warning_is_summary_and_sensitive():
    document = note(summary="spoilers", sensitive=True)
    assert document["summary"] == "spoilers"
    assert document["sensitive"] is True


def test_content_map_only_with_a_language():
    assert note(language="fr")["contentMap"] == {"fr": "<p>hello</p>"}
    assert "contentMap" not in note()


def test_edited_note_has_updated():
    edited = CREATED + dt.timedelta(minutes=5)
    assert note(edited_at=edited)["updated"] == "2024-05-01T12:35:15Z"


def test_note_tags_mentions_and_hashtags():
    local_carol = person("carol")
    document = documents.note_object(SITE, post(), person(), [BOB, local_carol], ["q3"], None)
    assert document["tag"] == [
        {"type": "Mention", "href": BOB.uri, "name": "@bob@other.test"},
        {"type": "Mention", "href": local_carol.uri, "name": "@carol@wall.test"},
        {"type": "Hashtag", "href": f"{BASE}/tags/q3", "name": "#q3"},
    ]


def test_note_attachments_are_documents():
    attachment = {
        "url": "https://cdn.wall.test/chart.png",
        "media_type": "image/png",
        "description": "Q3 chart",
        "blurhash": "LEHV6nWB2yk8",
    }
    document = note(attachments=[attachment])
    assert document["attachment"] == [
        {
            "type": "Document",
            "mediaType": "image/png",
            "url": "https://cdn.wall.test/chart.png",
            "name": "Q3 chart",
            "blurhash": "LEHV6nWB2yk8",
        }
    ]


def test_deleted_post_is_a_tombstone():
    document = note(deleted_at=CREATED)
    assert {k: v for k, v in document.items() if k != "@context"} == {
        "id": f"{ALICE_URI}/posts/1234",
        "type": "Tombstone",
        "formerType": "Note",
        "deleted": "2024-05-01T12:30:15Z",
    }


# --- activities ------------------------------------------------------------------------


def test_create_copies_addressing_and_embeds_the_note_without_context():
    document = note("public", [BOB])
    create = documents.create_activity(document, ALICE_URI)
    assert create["@context"] == CONTEXT
    assert create["id"] == f"{document['id']}/activity"
    assert create["type"] == "Create"
    assert create["actor"] == ALICE_URI
    assert create["published"] == document["published"]
    assert (create["to"], create["cc"]) == (document["to"], document["cc"])
    assert "@context" not in create["object"]
    assert create["object"]["id"] == document["id"]


def test_update_ids_differ_per_update():
    document = note()
    first = documents.update_activity(document, ALICE_URI, CREATED)
    second = documents.update_activity(document, ALICE_URI, CREATED + dt.timedelta(seconds=1))
    assert first["id"].startswith(f"{document['id']}#updates/")
    assert first["id"] != second["id"]
    assert first["type"] == "Update"
    assert first["to"] == document["to"]


def test_actor_update_goes_to_public_and_followers():
    alice = person()
    actor = documents.actor_document(SITE, alice, key_of(alice))
    update = documents.update_activity(actor, ALICE_URI, CREATED)
    assert update["to"] == [PUBLIC]
    assert update["cc"] == [f"{ALICE_URI}/followers"]
    assert update["object"]["type"] == "Person"


def test_delete_carries_a_tombstone():
    post_uri = f"{ALICE_URI}/posts/1234"
    delete = documents.delete_activity(post_uri, ALICE_URI, [PUBLIC], [f"{ALICE_URI}/followers"])
    assert delete["type"] == "Delete"
    assert delete["id"] == f"{post_uri}#delete"
    assert delete["object"] == {"id": post_uri, "type": "Tombstone", "formerType": "Note"}
    assert delete["to"] == [PUBLIC]


def test_announce_is_public_and_cc_the_author_and_followers():
    announce = documents.announce_activity(
        f"{ALICE_URI}/shares/7",
        ALICE_URI,
        "https://other.test/users/bob/posts/9",
        CREATED,
        f"{ALICE_URI}/followers",
        object_author_uri=BOB.uri,
    )
    assert announce["type"] == "Announce"
    assert announce["object"] == "https://other.test/users/bob/posts/9"
    assert announce["to"] == [PUBLIC]
    assert announce["cc"] == [BOB.uri, f"{ALICE_URI}/followers"]
    assert announce["published"] == "2024-05-01T12:30:15Z"


def test_like_and_follow_name_their_object():
    like = documents.like_activity(f"{BASE}/likes/1", ALICE_URI, f"{BOB.uri}/posts/9")
    follow = documents.follow_activity(f"{BASE}/follows/1", ALICE_URI, BOB.uri)
    assert (like["type"], like["object"]) == ("Like", f"{BOB.uri}/posts/9")
    assert (follow["type"], follow["object"]) == ("Follow", BOB.uri)


def test_accept_embeds_the_follow_and_is_addressed_to_the_follower():
    follow = documents.follow_activity("https://other.test/follows/1", BOB.uri, ALICE_URI)
    accept = documents.accept_activity(ALICE_URI, follow)
    assert accept["type"] == "Accept"
    assert accept["id"].startswith(f"{ALICE_URI}#accepts/")
    assert accept["to"] == [BOB.uri]
    assert accept["object"]["id"] == "https://other.test/follows/1"
    assert "@context" not in accept["object"]


def test_answering_the_same_follow_twice_gives_the_same_id():
    follow_id = "https://other.test/follows/1"
    first = documents.accept_activity(ALICE_URI, follow_id, follower_uri=BOB.uri)
    second = documents.accept_activity(ALICE_URI, follow_id, follower_uri=BOB.uri)
    reject = documents.reject_activity(ALICE_URI, follow_id, follower_uri=BOB.uri)
    assert first["id"] == second["id"]
    assert reject["type"] == "Reject"
    assert reject["id"].startswith(f"{ALICE_URI}#rejects/")
    assert reject["object"] == follow_id


def test_undo_embeds_the_inner_activity():
    follow = documents.follow_activity(f"{BASE}/follows/1", ALICE_URI, BOB.uri)
    undo = documents.undo_activity(f"{BASE}/follows/1#undo", ALICE_URI, follow)
    assert undo["type"] == "Undo"
    assert undo["object"] == {k: v for k, v in follow.items() if k != "@context"}


def all_activities() -> list[dict[str, Any]]:
    note_document = note()
    follow = documents.follow_activity(f"{BASE}/follows/1", ALICE_URI, BOB.uri)
    return [
        documents.create_activity(note_document, ALICE_URI),
        documents.update_activity(note_document, ALICE_URI, CREATED),
        documents.delete_activity(note_document["id"], ALICE_URI, [PUBLIC], []),
        documents.announce_activity(
            f"{ALICE_URI}/shares/1", ALICE_URI, BOB.uri + "/posts/1", CREATED, "f"
        ),
        documents.like_activity(f"{BASE}/likes/1", ALICE_URI, BOB.uri + "/posts/1"),
        follow,
        documents.accept_activity(ALICE_URI, "https://other.test/follows/2", follower_uri=BOB.uri),
        documents.reject_activity(ALICE_URI, "https://other.test/follows/2"),
        documents.undo_activity(f"{BASE}/follows/1#undo", ALICE_URI, follow),
    ]


@pytest.mark.parametrize("index", range(len(all_activities())))
def test_every_activity_has_context_actor_and_an_id_of_our_origin(index):
    activity = all_activities()[index]
    assert activity["@context"] == CONTEXT
    assert activity["actor"] == ALICE_URI
    assert activity["id"].startswith(f"{BASE}/")


def test_our_create_normalises_with_nothing_lost():
    create = documents.create_activity(note("public", [BOB], label="restricted"), ALICE_URI)
    normalised = normalise(json.loads(json.dumps(create)))
    assert normalised["object"]["classification"] == "restricted"
    assert normalised["to"] == [PUBLIC]
    assert normalised["object"]["tag"][0]["href"] == BOB.uri
    assert normalised["object"]["conversation"] == f"{BASE}/contexts/1234"


def test_our_actor_normalises_with_nothing_lost():
    alice = person(locked=True, profile_fields=[{"name": "Team", "value": "Finance"}])
    normalised = normalise(documents.actor_document(SITE, alice, key_of(alice)))
    assert normalised["manuallyApprovesFollowers"] is True
    assert normalised["publicKey"]["publicKeyPem"] == PUBLIC_PEM
    assert normalised["attachment"][0]["value"] == "Finance"


# --- collections -----------------------------------------------------------------------


def test_ordered_collection_points_to_its_first_page():
    collection = documents.ordered_collection(f"{ALICE_URI}/outbox", 3, f"{ALICE_URI}/outbox?p=1")
    assert collection["type"] == "OrderedCollection"
    assert collection["totalItems"] == 3
    assert collection["first"] == f"{ALICE_URI}/outbox?p=1"


def test_collection_page_embeds_items_without_context_and_omits_missing_links():
    follow = documents.follow_activity(f"{BASE}/follows/1", ALICE_URI, BOB.uri)
    page = documents.ordered_collection_page("p1", "c", [follow, BOB.uri], "p2", None)
    assert page["type"] == "OrderedCollectionPage"
    assert page["partOf"] == "c"
    assert page["next"] == "p2"
    assert "prev" not in page
    assert "@context" not in page["orderedItems"][0]
    assert page["orderedItems"][1] == BOB.uri


# --- WebFinger, host-meta, NodeInfo ----------------------------------------------------


def test_webfinger_jrd_links_the_actor_and_profile_page():
    jrd = documents.webfinger_jrd(SITE, person())
    assert jrd == {
        "subject": "acct:alice@wall.test",
        "aliases": [ALICE_URI, f"{BASE}/@alice"],
        "links": [
            {"rel": "self", "type": "application/activity+json", "href": ALICE_URI},
            {
                "rel": "http://webfinger.net/rel/profile-page",
                "type": "text/html",
                "href": f"{BASE}/@alice",
            },
        ],
    }


def test_host_meta_points_to_the_webfinger_template():
    xrd = documents.host_meta_xrd(SITE)
    assert 'template="https://wall.test/.well-known/webfinger?resource={uri}"' in xrd


def test_nodeinfo_validates_against_schema_2_1(vectors_dir):
    schema = json.loads((vectors_dir / "nodeinfo" / "schema-2.1.json").read_text())
    document = documents.nodeinfo_document(SITE, 10, 4, 7, 123, "0.1.0")
    jsonschema.validate(document, schema)
    assert document["software"] == {"name": "fedwall", "version": "0.1.0"}
    assert document["protocols"] == ["activitypub"]
    assert document["openRegistrations"] is False
    assert document["metadata"]["nodeName"] == "wall.test"
    assert document["usage"] == {
        "users": {"total": 10, "activeMonth": 4, "activeHalfyear": 7},
        "localPosts": 123,
    }

"""Normalising inbound ActivityStreams documents: federation/vocabulary.py.

The corpus in ``tests/corpus/<software>/`` holds one activity per file, written from each
project's published payload shapes.  Every file must normalise and yield the fields in
``EXPECTED``; every file must take the fast path; and the fast path must read every file
the way JSON-LD processing does, for every term of our vocabulary.
"""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from pyld import jsonld

from federation.errors import FederationError
from federation.vocabulary import (
    EXTENSION_TERMS,
    FEDWALL_CONTEXT,
    FEDWALL_NAMESPACE,
    MAX_NESTING,
    NORMALISED_CONTEXT,
    PUBLIC,
    VocabularyError,
    as_list,
    attachments,
    audience,
    content_of,
    hashtags,
    id_of,
    is_public,
    mentions,
    normalise,
    object_origin_ok,
)

CORPUS = Path(__file__).parent / "corpus"
CORPUS_FILES = sorted(CORPUS.glob("*/*.json"))
AS2 = "https://www.w3.org/ns/activitystreams"
AS = AS2 + "#"

ALICE = "https://mastodon.example/users/alice"
BOB = "https://fedwall.example/users/bob"
FEDWALL_NOTE = "https://fedwall.example/objects/6a1f2e3d"
MASTODON_NOTE = "https://mastodon.example/users/alice/statuses/112000000000000001"


@dataclass(frozen=True)
class Expected:
    """What a handler must be able to read from a corpus activity after normalisation."""

    type: str
    actor: str
    object: str
    audience: frozenset[str]
    content: str | None = None  # a fragment of the object's content, else the activity's


def _addresses(*addresses: str) -> frozenset[str]:
    return frozenset(addresses)


EXPECTED: dict[str, Expected] = {
    "mastodon/create-note-hashtags-mentions-attachment.json": Expected(
        "Create",
        ALICE,
        MASTODON_NOTE,
        _addresses(PUBLIC, ALICE + "/followers", BOB),
        "Quarterly numbers are in",
    ),
    "mastodon/create-note-sensitive-summary.json": Expected(
        "Create",
        ALICE,
        "https://mastodon.example/users/alice/statuses/112000000000000002",
        _addresses(ALICE + "/followers"),
        "I did not see that ending coming.",
    ),
    "mastodon/update-person-property-values.json": Expected(
        "Update", ALICE, ALICE, _addresses(PUBLIC)
    ),
    "mastodon/delete-tombstone.json": Expected("Delete", ALICE, MASTODON_NOTE, _addresses(PUBLIC)),
    "mastodon/announce.json": Expected(
        "Announce", ALICE, FEDWALL_NOTE, _addresses(PUBLIC, BOB, ALICE + "/followers")
    ),
    "mastodon/like.json": Expected("Like", ALICE, FEDWALL_NOTE, _addresses()),
    "mastodon/follow.json": Expected("Follow", ALICE, BOB, _addresses()),
    "mastodon/undo-follow.json": Expected(
        "Undo", ALICE, "https://mastodon.example/8f2d4c1a-5b6e-4f70-9a81-2c3d4e5f6a7b", _addresses()
    ),
    "mastodon/accept-follow.json": Expected(
        "Accept", ALICE, "https://fedwall.example/follows/0b9e7c52", _addresses()
    ),
    "mastodon/delete-actor.json": Expected(
        "Delete",
        "https://mastodon.example/users/carol",
        "https://mastodon.example/users/carol",
        _addresses(PUBLIC),
    ),
    "gotosocial/create-note.json": Expected(
        "Create",
        "https://gts.example/users/dana",
        "https://gts.example/users/dana/statuses/01HR6Z4X3N2B8M7Q5K9W1Y0TPE",
        _addresses(PUBLIC, "https://gts.example/users/dana/followers"),
        "New structure from Monday",
    ),
    "gotosocial/follow.json": Expected(
        "Follow", "https://gts.example/users/dana", BOB, _addresses()
    ),
    "misskey/create-note-quote.json": Expected(
        "Create",
        "https://misskey.example/users/9abcdef012",
        "https://misskey.example/notes/9qz1a2b3c4",
        _addresses(PUBLIC, "https://misskey.example/users/9abcdef012/followers"),
        "Looks right to me",
    ),
    "misskey/like-reaction.json": Expected(
        "Like",
        "https://misskey.example/users/9abcdef012",
        FEDWALL_NOTE,
        _addresses(),
        ":blobcat_thumbsup:",
    ),
    "akkoma/create-note-direct-message.json": Expected(
        "Create",
        "https://akkoma.example/users/erin",
        "https://akkoma.example/objects/2f0c4e6a-8b1d-4c3e-9f5a-7d6c5b4a3f2e",
        _addresses(BOB),
        "can you share the deck privately?",
    ),
    "akkoma/emoji-react.json": Expected(
        "EmojiReact",
        "https://akkoma.example/users/erin",
        MASTODON_NOTE,
        _addresses(PUBLIC, ALICE, "https://akkoma.example/users/erin/followers"),
        "🔥",
    ),
    "peertube/create-video.json": Expected(
        "Create",
        "https://peertube.example/accounts/grace",
        "https://peertube.example/videos/watch/9c9de5e8-0a1e-484a-b099-e80766180a6d",
        _addresses(PUBLIC, "https://peertube.example/video-channels/grace_channel/followers"),
        "Recording of the **March all-hands**",
    ),
    "lemmy/create-page.json": Expected(
        "Create",
        "https://lemmy.example/u/frank",
        "https://lemmy.example/post/4242",
        _addresses(PUBLIC, "https://discuss.example/c/engineering"),
        "Draft checklist for the 2.0 release",
    ),
    "lemmy/announce-create-page.json": Expected(
        "Announce",
        "https://discuss.example/c/engineering",
        "https://lemmy.example/activities/create/6f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f",
        _addresses(PUBLIC, "https://discuss.example/c/engineering/followers"),
    ),
    "fep-8b32/create-with-integrity-proof.json": Expected(
        "Create",
        "https://server.example/users/alice",
        "https://server.example/objects/1",
        _addresses(),
        "Hello world",
    ),
    "fedwall/create-note-classified.json": Expected(
        "Create",
        "https://sales.fedwall.example/users/hana",
        "https://sales.fedwall.example/objects/01HR7A2B3C4D5E6F7G8H9J0K1N",
        _addresses(
            "https://engineering.fedwall.example/users/ivan",
            "https://sales.fedwall.example/users/hana/followers",
        ),
        "Pipeline review moved to Thursday.",
    ),
}


def _corpus_id(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def _load(name: str) -> dict[str, Any]:
    document = json.loads((CORPUS / name).read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _normalised(name: str) -> dict[str, Any]:
    return normalise(_load(name))


@dataclass
class PyldCalls:
    expand: int = 0
    compact: int = 0

    @property
    def total(self) -> int:
        return self.expand + self.compact


@pytest.fixture
def pyld_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[PyldCalls]:
    """Count every expansion and compaction pyld performs, whatever calls it."""
    calls = PyldCalls()
    real_expand = jsonld.JsonLdProcessor.expand
    real_compact = jsonld.JsonLdProcessor.compact

    def counting_expand(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.expand += 1
        return real_expand(self, *args, **kwargs)

    def counting_compact(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.compact += 1
        return real_compact(self, *args, **kwargs)

    monkeypatch.setattr(jsonld.JsonLdProcessor, "expand", counting_expand)
    monkeypatch.setattr(jsonld.JsonLdProcessor, "compact", counting_compact)
    yield calls


def _with_jsonld_forced(document: dict[str, Any]) -> dict[str, Any]:
    """The same document with a leading null context: no change in meaning, but only a
    JSON-LD processor can tell, so normalise must take the slow path."""
    forced = copy.deepcopy(document)
    forced["@context"] = [None, *as_list(document.get("@context"))]
    return forced


def _our_terms() -> frozenset[str]:
    terms: set[str] = set(EXTENSION_TERMS)
    for entry in NORMALISED_CONTEXT:
        if isinstance(entry, str):
            filename = {
                AS2: "activitystreams.jsonld",
                "https://w3id.org/security/v1": "security-v1.jsonld",
                "https://w3id.org/security/data-integrity/v1": "data-integrity-v1.jsonld",
                FEDWALL_CONTEXT: "fedwall-v1.jsonld",
            }[entry]
            context = json.loads(_bundled(filename))["@context"]
            for definitions in as_list(context):
                if isinstance(definitions, dict):
                    terms.update(definitions)
    return frozenset(term for term in terms if not term.startswith("@"))


def _bundled(filename: str) -> str:
    return resources.files("federation").joinpath("contexts", filename).read_text("utf-8")


OUR_TERMS = _our_terms()


def _in_our_vocabulary(value: Any) -> Any:
    """``value`` restricted to the keys and type names our context defines."""
    if isinstance(value, dict):
        return {
            key: (
                [name for name in as_list(item) if name in OUR_TERMS]
                if key == "type"
                else _in_our_vocabulary(item)
            )
            for key, item in value.items()
            if key in OUR_TERMS
        }
    if isinstance(value, list):
        return [_in_our_vocabulary(item) for item in value]
    return value


def _content_fragment_source(activity: dict[str, Any]) -> str | None:
    embedded = activity.get("object")
    if isinstance(embedded, dict) and content_of(embedded)[0] is not None:
        return content_of(embedded)[0]
    return content_of(activity)[0]


# ---------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------


def test_every_corpus_file_has_expectations() -> None:
    assert {_corpus_id(path) for path in CORPUS_FILES} == set(EXPECTED)


def test_corpus_covers_the_software_we_federate_with() -> None:
    software = {path.parent.name for path in CORPUS_FILES}
    assert {"mastodon", "gotosocial", "misskey", "akkoma", "peertube", "lemmy"} <= software


@pytest.mark.parametrize("path", CORPUS_FILES, ids=_corpus_id)
def test_corpus_activity_normalises_to_its_key_fields(path: Path) -> None:
    expected = EXPECTED[_corpus_id(path)]

    activity = normalise(json.loads(path.read_text(encoding="utf-8")))

    assert activity["type"] == expected.type
    assert id_of(activity["actor"]) == expected.actor
    assert id_of(activity["object"]) == expected.object
    assert audience(activity) == expected.audience
    content = _content_fragment_source(activity)
    if expected.content is None:
        assert content is None
    else:
        assert content is not None and expected.content in content


@pytest.mark.parametrize("path", CORPUS_FILES, ids=_corpus_id)
def test_corpus_activity_takes_the_fast_path_without_pyld(
    path: Path, pyld_calls: PyldCalls
) -> None:
    normalise(json.loads(path.read_text(encoding="utf-8")))

    assert pyld_calls.total == 0


@pytest.mark.parametrize("path", CORPUS_FILES, ids=_corpus_id)
def test_fast_path_reads_our_vocabulary_exactly_as_jsonld_processing_does(
    path: Path, pyld_calls: PyldCalls
) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))

    fast = normalise(document)
    assert pyld_calls.total == 0
    slow = normalise(_with_jsonld_forced(document))
    assert pyld_calls.compact == 1

    assert _in_our_vocabulary(fast) == _in_our_vocabulary(slow)


# ---------------------------------------------------------------------------
# Specific shapes from the corpus
# ---------------------------------------------------------------------------


def test_mastodon_note_yields_hashtags_mentions_and_attachment() -> None:
    note = _normalised("mastodon/create-note-hashtags-mentions-attachment.json")["object"]

    assert hashtags(note) == ["finance", "Q1"]
    assert mentions(note) == [BOB]
    assert attachments(note) == [
        {
            "type": "Document",
            "url": "https://files.mastodon.example/media_attachments/files/112/000/000/000/000/001/original/chart.png",
            "media_type": "image/png",
            "description": "Bar chart of quarterly revenue, up 4 percent",
            "blurhash": "UBL_:rOpGG-;~qRjWBay00of%MRjxuWBM{Rj",
        }
    ]
    assert content_of(note)[1] == "en"
    assert note["sensitive"] is False
    assert note["attachment"][0]["focalPoint"] == [0.0, 0.25]


def test_mastodon_nulls_are_dropped() -> None:
    note = _normalised("mastodon/create-note-hashtags-mentions-attachment.json")["object"]

    assert "summary" not in note
    assert "inReplyTo" not in note
    assert "inReplyToAtomUri" not in note


def test_mastodon_content_warning_keeps_sensitive_and_summary() -> None:
    note = _normalised("mastodon/create-note-sensitive-summary.json")["object"]

    assert note["sensitive"] is True
    assert note["summary"] == "Spoilers: season finale"
    assert note["inReplyTo"] == FEDWALL_NOTE
    assert attachments(note)[0]["description"] is None
    assert PUBLIC not in audience(note)


def test_mastodon_profile_update_keeps_key_and_property_value_fields() -> None:
    person = _normalised("mastodon/update-person-property-values.json")["object"]

    assert person["publicKey"]["owner"] == ALICE
    assert person["publicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert [(field["name"], field["type"]) for field in person["attachment"]] == [
        ("Website", "PropertyValue"),
        ("Pronouns", "PropertyValue"),
    ]
    assert person["attachment"][1]["value"] == "she/her"
    assert attachments(person) == []
    assert person["featured"] == ALICE + "/collections/featured"


def test_mastodon_delete_carries_a_tombstone() -> None:
    activity = _normalised("mastodon/delete-tombstone.json")

    assert activity["object"]["type"] == "Tombstone"


def test_mastodon_undo_and_accept_embed_the_follow() -> None:
    undo = _normalised("mastodon/undo-follow.json")
    accept = _normalised("mastodon/accept-follow.json")

    assert undo["object"]["type"] == "Follow"
    assert undo["object"]["object"] == BOB
    assert accept["object"]["type"] == "Follow"
    assert accept["object"]["actor"] == BOB


def test_gotosocial_single_values_become_lists_where_handlers_expect_lists() -> None:
    activity = _normalised("gotosocial/create-note.json")
    note = activity["object"]

    assert activity["to"] == [PUBLIC]
    assert activity["cc"] == ["https://gts.example/users/dana/followers"]
    assert note["tag"] == [
        {"href": "https://gts.example/tags/reorg", "name": "#reorg", "type": "Hashtag"}
    ]
    assert hashtags(note) == ["reorg"]
    assert note["summary"] == ""
    assert note["attachment"][0]["focalPoint"] == [-0.5, 0.3]
    assert attachments(note)[0]["description"] == "Whiteboard with the new org chart"


def test_misskey_quote_keeps_misskey_extensions() -> None:
    note = _normalised("misskey/create-note-quote.json")["object"]

    assert note["_misskey_content"] == "Looks right to me #finance"
    assert note["quoteUrl"] == MASTODON_NOTE
    assert note["_misskey_quote"] == MASTODON_NOTE
    assert note["source"]["mediaType"] == "text/x.misskeymarkdown"
    assert hashtags(note) == ["finance"]


def test_misskey_reaction_is_a_like_with_its_emoji() -> None:
    like = _normalised("misskey/like-reaction.json")

    assert like["_misskey_reaction"] == ":blobcat_thumbsup:"
    assert like["tag"][0]["type"] == "Emoji"


def test_akkoma_direct_message_is_addressed_only_to_the_recipient() -> None:
    activity = _normalised("akkoma/create-note-direct-message.json")
    note = activity["object"]

    assert activity["directMessage"] is True
    assert audience(activity) == {BOB}
    assert not any(is_public(address) for address in activity["to"] + activity["cc"])
    assert mentions(note) == [BOB]
    assert "sensitive" not in note


def test_default_language_und_does_not_turn_content_into_a_language_map() -> None:
    document = _load("akkoma/create-note-direct-message.json")

    for variant in (document, _with_jsonld_forced(document)):
        note = normalise(variant)["object"]
        assert isinstance(note["content"], str)
        assert "contentMap" not in note
        assert content_of(note)[1] is None


def test_peertube_video_parses_although_we_do_not_handle_videos() -> None:
    video = _normalised("peertube/create-video.json")["object"]

    assert video["type"] == "Video"
    assert video["mediaType"] == "text/markdown"
    assert hashtags(video) == ["allhands"]
    assert [link["mediaType"] for link in video["url"]] == [
        "text/html",
        "video/mp4",
        "application/x-mpegURL",
    ]
    assert video["icon"]["url"].endswith(".jpg")  # a one-element list, compacted
    assert [id_of(author) for author in video["attributedTo"]] == [
        "https://peertube.example/accounts/grace",
        "https://peertube.example/video-channels/grace_channel",
    ]


def test_lemmy_announce_embeds_the_community_post() -> None:
    announce = _normalised("lemmy/announce-create-page.json")
    create = announce["object"]
    page = create["object"]

    assert create["type"] == "Create"
    assert create["actor"] == "https://lemmy.example/u/frank"
    assert page["type"] == "Page"
    assert page["name"] == "Release checklist for 2.0"
    assert page["audience"] == ["https://discuss.example/c/engineering"]
    assert attachments(page)[0]["url"] == "https://wiki.example/engineering/release-2.0-checklist"
    assert not object_origin_ok(announce["actor"], page["id"])
    assert object_origin_ok(create["actor"], page["id"])


def test_lemmy_keys_from_its_unbundled_context_keep_their_names() -> None:
    page = _normalised("lemmy/create-page.json")["object"]

    assert page["language"] == {"identifier": "en", "name": "English"}
    assert page["sensitive"] is False


def test_integrity_proof_survives_normalisation() -> None:
    activity = _normalised("fep-8b32/create-with-integrity-proof.json")

    assert activity["proof"]["type"] == "DataIntegrityProof"
    assert activity["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    assert "@context" not in activity["proof"]


def test_fedwall_classification_is_read_from_our_context() -> None:
    note = _normalised("fedwall/create-note-classified.json")["object"]

    assert note["classification"] == "internal"


# ---------------------------------------------------------------------------
# Contexts: known, unknown, hostile
# ---------------------------------------------------------------------------


def _note(**extra: Any) -> dict[str, Any]:
    return {
        "id": "https://remote.example/notes/1",
        "type": "Note",
        "attributedTo": "https://remote.example/users/kim",
        "content": "<p>hello</p>",
        **extra,
    }


@pytest.mark.parametrize(
    "context",
    [
        AS2,
        AS2 + "#",
        "http://www.w3.org/ns/activitystreams",
        "http://www.w3.org/ns/activitystreams#",
        [AS2, "https://w3id.org/security/v1"],
        [AS2, "https://w3id.org/security/data-integrity/v1"],
        [AS2, FEDWALL_CONTEXT],
        [AS2, "https://pleroma.example/schemas/litepub-0.1.jsonld", {"@language": "und"}],
    ],
)
def test_known_contexts_take_the_fast_path(context: Any, pyld_calls: PyldCalls) -> None:
    note = normalise(_note(**{"@context": context}))

    assert note["content"] == "<p>hello</p>"
    assert pyld_calls.total == 0


def test_document_without_context_is_read_as_activitystreams(pyld_calls: PyldCalls) -> None:
    note = normalise(_note())

    assert note["type"] == "Note"
    assert note["@context"] == list(NORMALISED_CONTEXT)
    assert pyld_calls.total == 0


def test_unknown_context_url_is_ignored_not_fetched(
    pyld_calls: PyldCalls, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object) -> None:
        raise AssertionError("normalise opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    document = _note(**{"@context": ["https://unknown.example/ns", AS2], "sensitive": True})

    note = normalise(document)

    assert note["sensitive"] is True
    assert note["content"] == "<p>hello</p>"
    assert pyld_calls.total == 0


def test_inline_alias_the_document_uses_goes_through_jsonld(pyld_calls: PyldCalls) -> None:
    # Lemmy's old inline context named as:endTime "expires".
    document = _note(
        **{
            "@context": [AS2, {"lemmy": "https://join-lemmy.org/ns#", "expires": "as:endTime"}],
            "expires": "2024-06-01T00:00:00Z",
        }
    )

    note = normalise(document)

    assert note["endTime"] == "2024-06-01T00:00:00Z"
    assert "expires" not in note
    assert pyld_calls.compact == 1


def test_inline_alias_the_document_does_not_use_keeps_the_fast_path(pyld_calls: PyldCalls) -> None:
    # Misskey defines "Key": "sec:Key" in every activity but rarely uses it.
    normalise(_note(**{"@context": [AS2, "https://w3id.org/security/v1", {"Key": "sec:Key"}]}))

    assert pyld_calls.total == 0


def test_expanded_document_is_compacted() -> None:
    document = {
        "@id": "https://remote.example/likes/1",
        "@type": [AS + "Like"],
        AS + "actor": [{"@id": "https://remote.example/users/kim"}],
        AS + "object": [{"@id": FEDWALL_NOTE}],
        AS + "to": [{"@id": AS + "Public"}],
    }

    like = normalise(document)

    assert like["id"] == "https://remote.example/likes/1"
    assert like["type"] == "Like"
    assert like["actor"] == "https://remote.example/users/kim"
    assert like["object"] == FEDWALL_NOTE
    assert like["to"] == [PUBLIC]


def test_compact_iri_keys_and_types_get_their_term_names() -> None:
    document = {
        "@context": AS2,
        "id": "https://remote.example/notes/2",
        "type": "as:Note",
        "as:content": "hi",
        "as:to": "as:Public",
    }

    note = normalise(document)

    assert note["type"] == "Note"
    assert note["content"] == "hi"
    assert note["to"] == [PUBLIC]


def test_context_aliasing_another_key_to_actor_is_rejected() -> None:
    document = {
        "@context": [AS2, {"claimedActor": "as:actor", "actor": "https://remote.example/ns#a"}],
        "id": "https://attacker.example/likes/1",
        "type": "Like",
        "actor": "https://attacker.example/users/mallory",
        "claimedActor": "https://victim.example/users/vic",
        "object": FEDWALL_NOTE,
    }

    with pytest.raises(VocabularyError) as raised:
        normalise(document)

    assert raised.value.reason == "context changes the meaning of actor"


def test_remote_context_inside_an_inline_context_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object) -> None:
        raise AssertionError("normalise opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    document = _note(
        **{
            "@context": [AS2, {"extra": {"@id": "as:extra", "@context": "https://evil.example/c"}}],
            "extra": {"content": "scoped"},
        }
    )

    with pytest.raises(VocabularyError) as raised:
        normalise(document)

    assert raised.value.reason == "remote context https://evil.example/c is not bundled"


def test_public_collection_in_any_spelling_is_normalised() -> None:
    note = normalise(_note(to=["as:Public"], cc="Public", audience={"id": PUBLIC}))

    assert note["to"] == [PUBLIC]
    assert note["cc"] == [PUBLIC]
    assert note["audience"] == [PUBLIC]


def test_input_document_is_not_modified() -> None:
    document = _load("gotosocial/create-note.json")
    before = copy.deepcopy(document)

    normalise(document)
    normalise(_with_jsonld_forced(document))

    assert document == before


def test_each_result_carries_its_own_context() -> None:
    first = normalise(_note())
    first["@context"][-1]["sensitive"] = "tampered"

    assert normalise(_note())["@context"] == list(NORMALISED_CONTEXT)


def test_fedwall_context_defines_classification_in_our_namespace() -> None:
    context = json.loads(_bundled("fedwall-v1.jsonld"))["@context"]

    assert context["fedwall"] == FEDWALL_NAMESPACE
    assert context["classification"] == "fedwall:classification"
    assert FEDWALL_CONTEXT in NORMALISED_CONTEXT


# ---------------------------------------------------------------------------
# Rejections
# ---------------------------------------------------------------------------


def _nested(depth: int) -> dict[str, Any]:
    document = _note()
    inner = document
    for _ in range(depth - 1):
        inner["context"] = {}
        inner = inner["context"]
    return document


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "document is not a JSON object"),
        ("Note", "document is not a JSON object"),
        ({"id": "https://remote.example/1"}, "missing type"),
        ({"id": "https://remote.example/1", "type": 7}, "type is not a string"),
        ({"type": "Note"}, "missing id"),
        ({"type": "Note", "id": "notes/1"}, "id is not an absolute IRI"),
        (
            {"type": "Like", "id": "https://remote.example/1", "object": FEDWALL_NOTE},
            "activity without actor",
        ),
        (
            {
                "type": "Create",
                "id": "https://remote.example/1",
                "actor": "https://remote.example/users/kim",
                "object": {"type": "Note", "content": "no id"},
            },
            "embedded object: missing id",
        ),
        (
            {"@context": [AS2, 42], "type": "Note", "id": "https://remote.example/1"},
            "@context entry is neither a URL nor an object",
        ),
        (
            {
                "@context": [None, AS2],
                "type": "Note",
                "id": "https://remote.example/1",
                "content": {"@value": 1, "@language": 2},
            },
            "invalid JSON-LD: invalid language-tagged string",
        ),
        (_nested(MAX_NESTING + 1), f"document nests deeper than {MAX_NESTING} levels"),
    ],
    ids=[
        "array",
        "string",
        "no-type",
        "numeric-type",
        "no-id",
        "relative-id",
        "activity-without-actor",
        "create-of-object-without-id",
        "numeric-context-entry",
        "invalid-jsonld",
        "too-deep",
    ],
)
def test_malformed_documents_are_rejected_with_a_reason(document: Any, reason: str) -> None:
    with pytest.raises(VocabularyError) as raised:
        normalise(document)

    assert raised.value.reason == reason


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert normalise(_nested(MAX_NESTING))["type"] == "Note"


def test_vocabulary_errors_are_federation_errors() -> None:
    with pytest.raises(FederationError):
        normalise([])


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, []), ("a", ["a"]), (["a", "b"], ["a", "b"]), ({"id": "a"}, [{"id": "a"}])],
)
def test_as_list(value: Any, expected: list[Any]) -> None:
    assert as_list(value) == expected


def test_as_list_returns_a_new_list() -> None:
    original = ["a"]

    as_list(original).append("b")

    assert original == ["a"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://remote.example/1", "https://remote.example/1"),
        ({"id": "https://remote.example/1", "type": "Note"}, "https://remote.example/1"),
        ({"type": "Note"}, None),
        (["https://remote.example/1"], None),
        (None, None),
    ],
)
def test_id_of(value: Any, expected: str | None) -> None:
    assert id_of(value) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (PUBLIC, True),
        ("as:Public", True),
        ("Public", True),
        ({"id": PUBLIC}, True),
        ("https://remote.example/users/kim/followers", False),
        ("https://www.w3.org/ns/activitystreams#public", False),
        (None, False),
    ],
)
def test_is_public(address: Any, expected: bool) -> None:
    assert is_public(address) is expected


def test_audience_gathers_every_addressing_field_and_collapses_public() -> None:
    activity = {
        "to": ["as:Public", "https://a.example/u/1"],
        "cc": "Public",
        "bto": [{"id": "https://b.example/u/2", "type": "Person"}],
        "bcc": ["https://c.example/u/3"],
        "audience": "https://d.example/c/4",
    }

    assert audience(activity) == {
        PUBLIC,
        "https://a.example/u/1",
        "https://b.example/u/2",
        "https://c.example/u/3",
        "https://d.example/c/4",
    }


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            {"content": "<p>hi</p>", "contentMap": {"de": "<p>hallo</p>", "en": "<p>hi</p>"}},
            ("<p>hi</p>", "en"),
        ),
        ({"content": "<p>hi</p>"}, ("<p>hi</p>", None)),
        ({"contentMap": {"fr": "<p>salut</p>"}}, ("<p>salut</p>", "fr")),
        ({"contentMap": {"und": "<p>?</p>"}}, ("<p>?</p>", None)),
        ({"name": "no content"}, (None, None)),
    ],
)
def test_content_of(obj: dict[str, Any], expected: tuple[str | None, str | None]) -> None:
    assert content_of(obj) == expected


def test_hashtags_strip_the_hash_and_skip_duplicates_and_other_tags() -> None:
    obj = {
        "tag": [
            {"type": "Hashtag", "name": "#one"},
            {"type": "Mention", "name": "@kim", "href": "https://remote.example/users/kim"},
            {"type": "Hashtag", "name": "two"},
            {"type": "Hashtag", "name": "#one"},
            {"type": "Emoji", "name": ":blob:"},
            {"type": "Hashtag", "name": "#"},
        ]
    }

    assert hashtags(obj) == ["one", "two"]
    assert mentions(obj) == ["https://remote.example/users/kim"]


def test_attachments_accept_every_url_shape() -> None:
    obj = {
        "attachment": [
            "https://remote.example/plain.png",
            {"type": "Image", "url": "https://remote.example/a.png", "summary": "alt from summary"},
            {
                "type": "Video",
                "url": [
                    {
                        "type": "Link",
                        "href": "https://remote.example/v.mp4",
                        "mediaType": "video/mp4",
                    },
                    {"type": "Link", "href": "https://remote.example/v.webm"},
                ],
            },
            {"type": "Link", "href": "https://remote.example/page"},
            {"type": "PropertyValue", "name": "Website", "value": "<a>site</a>"},
        ]
    }

    assert attachments(obj) == [
        {
            "type": None,
            "url": "https://remote.example/plain.png",
            "media_type": None,
            "description": None,
            "blurhash": None,
        },
        {
            "type": "Image",
            "url": "https://remote.example/a.png",
            "media_type": None,
            "description": "alt from summary",
            "blurhash": None,
        },
        {
            "type": "Video",
            "url": "https://remote.example/v.mp4",
            "media_type": "video/mp4",
            "description": None,
            "blurhash": None,
        },
        {
            "type": "Link",
            "url": "https://remote.example/page",
            "media_type": None,
            "description": None,
            "blurhash": None,
        },
    ]


@pytest.mark.parametrize(
    ("actor_id", "object_id", "expected"),
    [
        ("https://remote.example/users/kim", "https://remote.example/notes/1", True),
        ("https://Remote.Example/users/kim", "https://remote.example:443/notes/1", True),
        ("http://remote.example/users/kim", "http://remote.example:80/notes/1", True),
        ("https://remote.example/users/kim", "https://remote.example:8443/notes/1", False),
        ("https://remote.example/users/kim", "http://remote.example/notes/1", False),
        ("https://remote.example/users/kim", "https://other.example/notes/1", False),
        ("https://remote.example/users/kim", "https://sub.remote.example/notes/1", False),
        ("https://remote.example:99999/users/kim", "https://remote.example:99999/notes/1", False),
        ("tag:remote.example,2024:kim", "tag:remote.example,2024:note", False),
        ("/users/kim", "/notes/1", False),
    ],
)
def test_object_origin_ok(actor_id: str, object_id: str, expected: bool) -> None:
    assert object_origin_ok(actor_id, object_id) is expected

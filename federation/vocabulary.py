"""Inbound ActivityStreams normalisation: many JSON-LD shapes in, one compacted shape out.

:func:`normalise` turns an inbound document into the shape every handler can rely on:
compacted against :data:`NORMALISED_CONTEXT` (ActivityStreams 2.0, security v1, data
integrity v1, the Fedwall context, and the extension terms in :data:`EXTENSION_TERMS`),
so keys are plain names like ``type``, ``actor``, ``object``, ``to``, ``tag``,
``content``, ``contentMap``, ``sensitive``, ``publicKey``, ``classification``.  On top
of plain compaction the result promises, at every level:

- no ``null`` values and no nested ``@context``; the top level carries a fresh copy of
  :data:`NORMALISED_CONTEXT`;
- ``to``, ``cc``, ``bto``, ``bcc`` and ``audience`` are lists, with every spelling of
  the public collection written as :data:`PUBLIC`;
- ``tag`` and ``attachment`` are lists; ``type`` is a string unless the sender gave
  several types; other one-element arrays are written as their element, as JSON-LD
  compaction does (``@list`` terms such as ``focalPoint`` and ``orderedItems`` stay lists);
- a bare reference ``{"id": X}`` is written as ``X``;
- a key the sender's context leaves undefined keeps its name (AS2's ``@vocab`` would
  make it ``_:name``), because that is how every major implementation reads it;
- differences in type coercion are ignored: a plain string under a term we coerce
  (Lemmy's ``expires`` aliasing ``as:endTime``) still appears under our term's name.

Terms outside :data:`NORMALISED_CONTEXT` that the sender's context does define (PeerTube's
``pt:`` terms) keep the sender's names on the fast path and appear as IRIs on the slow
path; handlers should rely only on the terms of :data:`NORMALISED_CONTEXT`.

Two paths lead there:

- **Fast path** (no JSON-LD processing at all): taken when reading the document key by
  key means what JSON-LD processing would produce.  That holds when every context URL
  is bundled (the AS2 URL with or without ``#``, over https or http; security v1; data
  integrity v1; litepub-0.1; :data:`FEDWALL_CONTEXT`), and every inline definition the
  document uses either agrees with ours (Mastodon's ``toot:``/``schema:`` terms,
  Misskey's ``_misskey_*``, litepub's ``directMessage``...) or names an IRI we have no
  term for (PeerTube's ``pt:`` terms, GoToSocial's ``gts:``).  A definition that gives
  one of our names another meaning, or a new name to an IRI we know under another name
  (Misskey's ``"Key": "sec:Key"``), forces the slow path only if the document uses that
  name.  Keys written as IRIs, ``type`` values written as IRIs, JSON-LD keywords other
  than ``@context``/``@id``/``@type``, and context keywords other than ``@version``/
  ``@protected``/``@language`` also force the slow path.
- **Slow path**: :mod:`pyld` expands the document and compacts it against
  :data:`NORMALISED_CONTEXT`, with a document loader that serves only the contexts in
  ``federation/contexts/`` and never touches the network.

**Unknown context URLs are ignored, as if absent** -- never fetched, never an error.
Lemmy (``https://join-lemmy.org/context.json``), GoToSocial (``https://gotosocial.org/ns``),
Hubzilla and others send contexts we do not bundle, so rejecting them would cut us off
from those servers, and fetching them would put network I/O, a server-side request
forgery surface and a peer-controlled definition of our keys inside inbox processing.
Ignoring them is safe because it is how the fediverse already reads ActivityPub:
Mastodon, GoToSocial and Misskey read keys by name and disregard ``@context``.  With
the unknown context absent, AS2 names keep their AS2 meaning and the sender's extension
keys keep their names, and the remaining context decides fast or slow path as usual (in
effect: "drop unknown contexts, then try the fast path").  What a context may never do
is change what the identity keys say: the inbox authenticates the raw ``actor`` before
normalising, so a document whose ``id`` or ``actor``, where present by name, reads
differently after JSON-LD processing is rejected (an inline context could alias another
key to ``actor``).  A remote context referenced *inside* an inline one (a scoped context
or ``@import``) cannot be ignored without misreading the terms it scopes, so the loader
refuses it with :class:`VocabularyError`.

A context's default ``@language`` is ignored as well: AS2 carries languages explicitly in
``contentMap``/``nameMap``/``summaryMap``, and the one value seen in practice,
Pleroma's ``"und"``, means "undetermined".  The AS2 context is assumed when a document
does not name it (ActivityStreams 2.0 Core, section 2.1).

**The Fedwall context** (:data:`FEDWALL_CONTEXT`, bundled as ``fedwall-v1.jsonld``)
defines one term under the namespace :data:`FEDWALL_NAMESPACE`: ``classification``, the
classification label of an object as a string (for example ``"internal"``).  Changing
either constant means changing that file in step.

**Bundled contexts**: ``activitystreams.jsonld`` is the W3C document published at
https://www.w3.org/ns/activitystreams; ``security-v1.jsonld`` the W3C CCG document at
https://w3id.org/security/v1; ``data-integrity-v1.jsonld`` the context of W3C
Verifiable Credential Data Integrity 1.0 (https://w3id.org/security/data-integrity/v1);
``litepub-0.1.jsonld`` the context Pleroma and Akkoma publish at
``https://<instance>/schemas/litepub-0.1.jsonld`` (every host's copy is read as ours).

The helpers after the normaliser (:func:`as_list`, :func:`id_of`, :func:`audience`,
:func:`content_of`, :func:`attachments`...) are pure functions over normalised documents;
they also tolerate the looser shapes of un-normalised ones.
"""

from __future__ import annotations

import re
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final, TypedDict
from urllib.parse import urlsplit

import orjson
from pyld import jsonld
from pyld.context_resolver import ContextResolver

from federation.errors import FederationError

__all__ = [
    "ACTIVITY_TYPES",
    "AS2_CONTEXT",
    "DATA_INTEGRITY_V1_CONTEXT",
    "EXTENSION_TERMS",
    "FEDWALL_CONTEXT",
    "FEDWALL_NAMESPACE",
    "MAX_NESTING",
    "NORMALISED_CONTEXT",
    "PUBLIC",
    "SECURITY_V1_CONTEXT",
    "Attachment",
    "VocabularyError",
    "as_list",
    "attachments",
    "audience",
    "content_of",
    "hashtags",
    "id_of",
    "is_public",
    "mentions",
    "normalise",
    "object_origin_ok",
]

JsonDict = dict[str, Any]

AS2_CONTEXT: Final = "https://www.w3.org/ns/activitystreams"
SECURITY_V1_CONTEXT: Final = "https://w3id.org/security/v1"
DATA_INTEGRITY_V1_CONTEXT: Final = "https://w3id.org/security/data-integrity/v1"
FEDWALL_CONTEXT: Final = "https://fedwall.example/ns/v1"
FEDWALL_NAMESPACE: Final = "https://fedwall.example/ns#"
# Every instance serves its own copy of litepub-0.1; they all share this one cache key.
_LITEPUB_CONTEXT: Final = "urn:fedwall:bundled-context:litepub-0.1"
_LITEPUB_URL = re.compile(r"https?://[^/?#]+/schemas/litepub-0\.1\.jsonld")

PUBLIC: Final = "https://www.w3.org/ns/activitystreams#Public"
_PUBLIC_SPELLINGS: Final = frozenset({PUBLIC, "as:Public", "Public"})

MAX_NESTING: Final = 16
"""Deepest nesting of JSON objects and arrays accepted (the document itself is level 1).

Real activities stay under 8 (a Lemmy Announce of a Create of a Page with tags is 5);
the limit keeps hostile documents away from pyld's recursion.
"""

EXTENSION_TERMS: Final[JsonDict] = {
    "toot": "http://joinmastodon.org/ns#",
    "schema": "http://schema.org#",
    "misskey": "https://misskey-hub.net/ns#",
    "litepub": "http://litepub.social/ns#",
    "ostatus": "http://ostatus.org#",
    "fedibird": "http://fedibird.com/ns#",
    "sensitive": "as:sensitive",
    "Hashtag": "as:Hashtag",
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "movedTo": {"@id": "as:movedTo", "@type": "@id"},
    "quoteUrl": "as:quoteUrl",
    "featured": {"@id": "toot:featured", "@type": "@id"},
    "featuredTags": {"@id": "toot:featuredTags", "@type": "@id"},
    "discoverable": "toot:discoverable",
    "indexable": "toot:indexable",
    "suspended": "toot:suspended",
    "memorial": "toot:memorial",
    "Emoji": "toot:Emoji",
    "focalPoint": {"@id": "toot:focalPoint", "@container": "@list"},
    "blurhash": "toot:blurhash",
    "votersCount": "toot:votersCount",
    "PropertyValue": "schema:PropertyValue",
    "value": "schema:value",
    "_misskey_content": "misskey:_misskey_content",
    "_misskey_quote": "misskey:_misskey_quote",
    "_misskey_reaction": "misskey:_misskey_reaction",
    "_misskey_votes": "misskey:_misskey_votes",
    "_misskey_summary": "misskey:_misskey_summary",
    "isCat": "misskey:isCat",
    "directMessage": "litepub:directMessage",
    "EmojiReact": "litepub:EmojiReact",
    "ChatMessage": "litepub:ChatMessage",
    "atomUri": "ostatus:atomUri",
    "inReplyToAtomUri": "ostatus:inReplyToAtomUri",
    "conversation": "ostatus:conversation",
    "quoteUri": "fedibird:quoteUri",
}
"""Extension terms every normalised document may use, as Mastodon, Misskey and litepub
define them."""

NORMALISED_CONTEXT: Final[tuple[str | JsonDict, ...]] = (
    AS2_CONTEXT,
    SECURITY_V1_CONTEXT,
    DATA_INTEGRITY_V1_CONTEXT,
    FEDWALL_CONTEXT,
    EXTENSION_TERMS,
)
"""The context normalised documents are compacted against."""

_NORMALISED_CONTEXT_JSON: Final = orjson.dumps(list(NORMALISED_CONTEXT))

_BUNDLED_FILES: Final[Mapping[str, str]] = {
    AS2_CONTEXT: "activitystreams.jsonld",
    SECURITY_V1_CONTEXT: "security-v1.jsonld",
    DATA_INTEGRITY_V1_CONTEXT: "data-integrity-v1.jsonld",
    FEDWALL_CONTEXT: "fedwall-v1.jsonld",
    _LITEPUB_CONTEXT: "litepub-0.1.jsonld",
}
_AS2_SPELLINGS: Final = frozenset(
    f"{scheme}://www.w3.org/ns/activitystreams{suffix}"
    for scheme in ("https", "http")
    for suffix in ("", "#")
)

_ADDRESS_KEYS: Final = frozenset({"to", "cc", "bto", "bcc", "audience"})
_LIST_KEYS: Final = frozenset({"tag", "attachment"})
# Context keywords that do not change how a compacted document reads key by key.
_HARMLESS_CONTEXT_KEYWORDS: Final = frozenset({"@version", "@protected"})
_PLAIN_DEFINITION_KEYS: Final = frozenset({"@id", "@type", "@container"})

ACTIVITY_TYPES: Final = frozenset(
    {
        "Accept",
        "Activity",
        "Add",
        "Announce",
        "Arrive",
        "Block",
        "Create",
        "Delete",
        "Dislike",
        "EmojiReact",
        "Flag",
        "Follow",
        "Ignore",
        "IntransitiveActivity",
        "Invite",
        "Join",
        "Leave",
        "Like",
        "Listen",
        "Move",
        "Offer",
        "Read",
        "Reject",
        "Remove",
        "TentativeAccept",
        "TentativeReject",
        "Travel",
        "Undo",
        "Update",
        "View",
    }
)
"""Types whose documents must name an ``actor``."""

# Activities whose embedded object is stored, so it needs its own id and type.
_OBJECT_NEEDS_ID: Final = frozenset({"Create", "Update", "Announce"})


class VocabularyError(FederationError):
    """An inbound document that cannot be normalised; ``reason`` says why in a few words."""


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------


def normalise(document: object) -> JsonDict:
    """Return ``document`` compacted against :data:`NORMALISED_CONTEXT`, shaped and checked.

    The input is never modified.  Raises :class:`VocabularyError` when the document is not
    a JSON object, nests deeper than :data:`MAX_NESTING`, has a malformed ``@context``,
    is not valid JSON-LD, references a remote context from inside an inline one, lacks a
    ``type`` or an absolute ``id``, is an activity without an ``actor``, embeds the object
    of a Create/Update/Announce without ``id`` and ``type``, or has an ``id`` or
    ``actor`` key whose value JSON-LD processing would change.
    """
    if not isinstance(document, dict):
        raise VocabularyError("document is not a JSON object")
    scan = _Scan()
    prepared = _prepare(document, scan)
    if scan.needs_jsonld or scan.problematic_terms & scan.used_names:
        result = _shape_document(_compact_with_jsonld(prepared))
        _check_identity_preserved(document, result)
    else:
        result = _shape_document(prepared)
    _validate(result)
    return result


@dataclass
class _Scan:
    """What one walk over a document found out about it."""

    used_names: set[str] = field(default_factory=set)
    problematic_terms: set[str] = field(default_factory=set)
    needs_jsonld: bool = False


def _prepare(document: JsonDict, scan: _Scan) -> JsonDict:
    """Copy ``document`` with its contexts cleaned, checking depth and scanning names."""
    prepared = _prepare_node(document, 1, scan, _KNOWN_PREFIXES)
    contexts = as_list(prepared.get("@context"))
    if AS2_CONTEXT not in contexts:
        prepared["@context"] = [AS2_CONTEXT, *contexts]
    return prepared


def _prepare_node(node: JsonDict, depth: int, scan: _Scan, prefixes: Mapping[str, str]) -> JsonDict:
    if depth > MAX_NESTING:
        raise VocabularyError(f"document nests deeper than {MAX_NESTING} levels")
    out: JsonDict = {}
    if "@context" in node:
        context, prefixes = _prepare_context(node["@context"], scan, prefixes)
        if context:
            out["@context"] = context
    for key, value in node.items():
        if key == "@context":
            continue
        if key.startswith("@"):
            if key not in ("@id", "@type"):
                scan.needs_jsonld = True
        elif ":" in key:
            # A compact or absolute IRI as a key: only JSON-LD can say which term it is.
            scan.needs_jsonld = True
        else:
            scan.used_names.add(key)
        if key in ("type", "@type"):
            for type_name in as_list(value):
                if isinstance(type_name, str):
                    scan.used_names.add(type_name)
                    if ":" in type_name:
                        scan.needs_jsonld = True
        out[key] = _prepare_value(value, depth + 1, scan, prefixes)
    return out


def _prepare_value(value: Any, depth: int, scan: _Scan, prefixes: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return _prepare_node(value, depth, scan, prefixes)
    if isinstance(value, list):
        if depth > MAX_NESTING:
            raise VocabularyError(f"document nests deeper than {MAX_NESTING} levels")
        return [_prepare_value(item, depth + 1, scan, prefixes) for item in value]
    return value


def _prepare_context(
    context: Any, scan: _Scan, prefixes: Mapping[str, str]
) -> tuple[list[Any], Mapping[str, str]]:
    """Drop unknown context URLs and default languages; record what the rest redefines."""
    kept: list[Any] = []
    for entry in as_list(context) if context is not None else [None]:
        if isinstance(entry, str):
            bundled = _bundled_context_key(entry)
            if bundled is not None:
                kept.append(bundled)
                scan.problematic_terms |= _BUNDLED_PROBLEMATIC_TERMS[bundled]
        elif isinstance(entry, dict):
            definitions = {k: v for k, v in entry.items() if k != "@language"}
            prefixes = {
                **prefixes,
                **{k: v for k, v in definitions.items() if isinstance(v, str) and ":" in v},
            }
            for term, definition in definitions.items():
                if term.startswith("@"):
                    if term not in _HARMLESS_CONTEXT_KEYWORDS:
                        scan.needs_jsonld = True
                elif _changes_meaning(term, definition, prefixes):
                    scan.problematic_terms.add(term)
            if definitions:
                kept.append(definitions)
        elif entry is None:
            # A null context resets everything defined above it.
            scan.needs_jsonld = True
            kept.append(None)
        else:
            raise VocabularyError("@context entry is neither a URL nor an object")
    return kept, prefixes


def _bundled_context_key(url: str) -> str | None:
    """The bundled context ``url`` names, or None if we do not bundle it."""
    if url in _AS2_SPELLINGS:
        return AS2_CONTEXT
    if url in _BUNDLED_FILES:
        return url
    if _LITEPUB_URL.fullmatch(url):
        return _LITEPUB_CONTEXT
    return None


# A term definition reduced to what decides how a compacted key reads: IRI and container.
_Meaning = tuple[str | None, str | None]


def _changes_meaning(term: str, definition: Any, prefixes: Mapping[str, str]) -> bool:
    """Whether using ``term`` under ``definition`` reads differently from our context.

    True when ``term`` is one of ours with another IRI or container, or a new name for
    an IRI we know under another name, or defined in a way only JSON-LD can interpret
    (scoped contexts, reverse properties...).  Differences in type coercion are ignored:
    key-by-key reading does not coerce.
    """
    meaning = _definition_meaning(term, definition, prefixes)
    ours = _OUTPUT_TERMS.get(term)
    if ours is not None:
        return meaning != ours
    if meaning is None:
        return True
    iri = meaning[0]
    return iri is not None and iri in _OUTPUT_IRIS


def _definition_meaning(term: str, definition: Any, prefixes: Mapping[str, str]) -> _Meaning | None:
    """The (IRI, container) of a plain term definition, or None if it is not plain."""
    if definition is None:
        return (None, None)
    if isinstance(definition, str):
        return (_expand_iri(definition, prefixes), None)
    if not isinstance(definition, dict) or not set(definition) <= _PLAIN_DEFINITION_KEYS:
        return None
    raw = definition.get("@id", term if ":" in term else None)
    container = definition.get("@container")
    if not isinstance(raw, str) or not (container is None or isinstance(container, str)):
        return None
    return (_expand_iri(raw, prefixes), container)


def _expand_iri(value: str, prefixes: Mapping[str, str]) -> str | None:
    """Expand a compact IRI with ``prefixes``; keywords and absolute IRIs stay as they are."""
    if value.startswith("@"):
        return value
    prefix, colon, suffix = value.partition(":")
    if not colon:
        return None  # a reference to another term: not worth resolving, treated as unknown
    if suffix.startswith("//") or prefix not in prefixes:
        return value
    return prefixes[prefix] + suffix


def _compact_with_jsonld(prepared: JsonDict) -> JsonDict:
    """Expand ``prepared`` and compact it against :data:`NORMALISED_CONTEXT` with pyld."""
    try:
        # pyld reports odd input (bad language tags, "@"-like terms) as warnings; the
        # result is still well defined, and warnings are not how we report federation input.
        # catch_warnings is process-wide: safe on the event loop, racy across threads.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expanded = jsonld.expand(prepared, _jsonld_options())
            compacted = jsonld.compact(expanded, list(NORMALISED_CONTEXT), _jsonld_options())
    except jsonld.JsonLdError as error:
        cause: BaseException | None = error
        while cause is not None:
            if isinstance(cause, VocabularyError):
                raise cause from error
            cause = cause.__cause__
        raise VocabularyError(f"invalid JSON-LD: {error.code or error.type}") from error
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        # pyld lets some malformed input escape as plain Python errors.
        raise VocabularyError("invalid JSON-LD") from error
    if not isinstance(compacted, dict) or "@graph" in compacted:
        raise VocabularyError("document does not describe exactly one node")
    return compacted


def _jsonld_options() -> JsonDict:
    # A resolver per call: its per-operation cache would otherwise grow with every inline
    # context a peer sends.  Bundled contexts live in the shared, bounded cache.
    return {
        "documentLoader": _load_bundled_context,
        "contextResolver": ContextResolver(_RESOLVED_CONTEXTS, _load_bundled_context),
    }


def _load_bundled_context(url: str, options: object = None) -> JsonDict:
    """pyld document loader serving only bundled contexts; never touches the network."""
    filename = _BUNDLED_FILES.get(url)
    if filename is None:
        raise VocabularyError(f"remote context {url} is not bundled")
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        # Parsed afresh: pyld rewrites context documents in place.
        "document": orjson.loads(_BUNDLED_BYTES[filename]),
        # Bundled contexts never change, so pyld may keep them in the shared cache.
        "tag": "static",
    }


def _check_identity_preserved(raw: JsonDict, result: JsonDict) -> None:
    """Reject a document whose ``id`` or ``actor``, where present by name, JSON-LD rereads.

    The inbox authenticates the raw ``actor`` before normalising; handlers must see the
    same one.  Keys absent by name (expanded-form documents) have nothing to contradict.
    """
    for raw_key, key in (("id", "id"), ("@id", "id"), ("actor", "actor")):
        if raw_key in raw:
            raw_ids = {id_of(value) for value in as_list(raw[raw_key])}
            if raw_ids != {id_of(value) for value in as_list(result.get(key))}:
                raise VocabularyError(f"context changes the meaning of {key}")


# ---------------------------------------------------------------------------
# Shaping and validation
# ---------------------------------------------------------------------------


def _shape_document(document: JsonDict) -> JsonDict:
    shaped = _shape_node(document)
    return {"@context": orjson.loads(_NORMALISED_CONTEXT_JSON), **shaped}


def _shape_node(node: JsonDict) -> JsonDict:
    out: JsonDict = {}
    for key, value in node.items():
        if key == "@context" or value is None:
            continue
        name = _name_for(key)
        if name in node or name in out:
            name = key
        shaped = _shape_value(value)
        if name in _ADDRESS_KEYS:
            shaped = [PUBLIC if is_public(item) else item for item in as_list(shaped)]
        elif name in _LIST_KEYS:
            shaped = as_list(shaped)
        elif name == "type":
            shaped = _shape_type(shaped)
        elif isinstance(shaped, list) and len(shaped) == 1 and name not in _LIST_CONTAINER_TERMS:
            # What JSON-LD compaction does, so both paths give one shape.
            shaped = shaped[0]
        out[name] = shaped
    return out


def _name_for(key: str) -> str:
    """The name a key gets in the normalised document (it keeps its own unless renamed)."""
    if key == "@id":
        return "id"
    if key == "@type":
        return "type"
    if key.startswith("_:"):
        return key[2:]
    if ":" in key:
        return _plain_term_for(key) or key
    return key


def _plain_term_for(key: str) -> str | None:
    """Our term for a compact or absolute IRI key, if it has no container.

    JSON-LD compaction leaves a value under its IRI when the sender's term lacked the
    type coercion ours declares (a plain string for AS2's ``xsd:dateTime`` ``endTime``);
    the fast path ignores coercion, so the slow path does too.
    """
    iri = key if "://" in key else _expand_iri(key, _KNOWN_PREFIXES)
    return _PLAIN_TERM_BY_IRI.get(iri) if iri is not None else None


def _shape_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "@value" in value:
            return value["@value"]
        if "@list" in value or "@set" in value:
            return _shape_value(value.get("@list", value.get("@set")))
        shaped = _shape_node(value)
        if set(shaped) == {"id"}:
            return shaped["id"]
        return shaped
    if isinstance(value, list):
        return [_shape_value(item) for item in value if item is not None]
    return value


def _shape_type(value: Any) -> Any:
    names = [
        name[2:] if isinstance(name, str) and name.startswith("_:") else name
        for name in as_list(value)
    ]
    return names[0] if len(names) == 1 else names


def _validate(node: JsonDict) -> None:
    """Check what handlers rely on: type, absolute id, actor of activities, stored objects."""
    types = as_list(node.get("type"))
    if not types:
        raise VocabularyError("missing type")
    if not all(isinstance(name, str) and name for name in types):
        raise VocabularyError("type is not a string")
    node_id = node.get("id")
    if node_id is None:
        raise VocabularyError("missing id")
    if not isinstance(node_id, str) or not _is_absolute(node_id):
        raise VocabularyError("id is not an absolute IRI")
    if ACTIVITY_TYPES.intersection(types):
        actors = as_list(node.get("actor"))
        if not actors:
            raise VocabularyError("activity without actor")
        if not all(id_of(actor) for actor in actors):
            raise VocabularyError("actor without id")
    if _OBJECT_NEEDS_ID.intersection(types):
        for embedded in as_list(node.get("object")):
            if isinstance(embedded, dict):
                try:
                    _validate(embedded)
                except VocabularyError as error:
                    raise VocabularyError(f"embedded object: {error.reason}") from error


def _is_absolute(iri: str) -> bool:
    try:
        return bool(urlsplit(iri).scheme)
    except ValueError:
        return False


# ---------------------------------------------------------------------------
# Helpers for handlers
# ---------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    """``value`` as a new list: ``None`` is empty, a list is copied, anything else wrapped."""
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    return [value]


def id_of(value: Any) -> str | None:
    """The id a reference names: the string itself, or an embedded object's ``id``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        node_id = value.get("id", value.get("@id"))
        if isinstance(node_id, str):
            return node_id
    return None


def is_public(address: Any) -> bool:
    """Whether ``address`` (a string or embedded object) is the public collection.

    Accepts :data:`PUBLIC` and the compact forms ``as:Public`` and ``Public``.
    """
    return id_of(address) in _PUBLIC_SPELLINGS


def audience(activity_or_object: Mapping[str, Any]) -> set[str]:
    """Every address in ``to``, ``cc``, ``bto``, ``bcc`` and ``audience``, by id.

    Any spelling of the public collection appears as :data:`PUBLIC`; entries without an
    id are left out.
    """
    addresses: set[str] = set()
    for key in ("to", "cc", "bto", "bcc", "audience"):
        for entry in as_list(activity_or_object.get(key)):
            address = id_of(entry)
            if address is not None:
                addresses.add(PUBLIC if address in _PUBLIC_SPELLINGS else address)
    return addresses


def content_of(obj: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The object's HTML content and its language, ``(None, None)`` if it has none.

    ``content`` wins; its language is the ``contentMap`` entry holding the same text.
    Without ``content``, the first ``contentMap`` entry is used.  The undetermined
    language ``und`` is reported as None.
    """
    content = obj.get("content")
    content_map = obj.get("contentMap")
    languages = content_map if isinstance(content_map, dict) else {}
    if isinstance(content, str):
        for language, text in languages.items():
            if text == content:
                return content, _language(language)
        return content, None
    for language, text in languages.items():
        if isinstance(text, str):
            return text, _language(language)
    return None, None


def _language(tag: str) -> str | None:
    return None if tag.lower() == "und" else tag


def hashtags(obj: Mapping[str, Any]) -> list[str]:
    """Names of the object's ``Hashtag`` tags without the leading ``#``, in order, once each."""
    return _unique(
        name.removeprefix("#")
        for tag in _tags_of_type(obj, "Hashtag")
        if isinstance(name := tag.get("name"), str) and name.removeprefix("#")
    )


def mentions(obj: Mapping[str, Any]) -> list[str]:
    """The ``href`` of each of the object's ``Mention`` tags, in order, once each."""
    return _unique(
        href for tag in _tags_of_type(obj, "Mention") if isinstance(href := tag.get("href"), str)
    )


def _tags_of_type(obj: Mapping[str, Any], type_name: str) -> Iterable[JsonDict]:
    for tag in as_list(obj.get("tag")):
        if isinstance(tag, dict) and type_name in as_list(tag.get("type")):
            yield tag


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


class Attachment(TypedDict):
    """One media attachment, flattened from whichever shape the sender used."""

    type: str | None
    url: str
    media_type: str | None
    description: str | None
    blurhash: str | None


def attachments(obj: Mapping[str, Any]) -> list[Attachment]:
    """The object's media attachments, in order.

    ``url`` is the first URL found in ``url`` (a string, a Link or a list of them) or
    ``href``; ``media_type`` the attachment's ``mediaType``, else the chosen Link's;
    ``description`` its ``name`` (Mastodon, Misskey) or else ``summary`` (GoToSocial's
    announced future).  Entries without a URL, such as the ``PropertyValue`` profile
    fields in an actor's ``attachment``, are skipped.
    """
    found: list[Attachment] = []
    for entry in as_list(obj.get("attachment")):
        if isinstance(entry, str):
            found.append(
                Attachment(type=None, url=entry, media_type=None, description=None, blurhash=None)
            )
            continue
        if not isinstance(entry, dict):
            continue
        url, link_media_type = _first_link(entry.get("url"))
        if url is None:
            url, link_media_type = _first_link(entry.get("href"))
        if url is None:
            continue
        types = as_list(entry.get("type"))
        found.append(
            Attachment(
                type=types[0] if types and isinstance(types[0], str) else None,
                url=url,
                media_type=_string(entry.get("mediaType")) or link_media_type,
                description=_string(entry.get("name")) or _string(entry.get("summary")),
                blurhash=_string(entry.get("blurhash")),
            )
        )
    return found


def _first_link(value: Any) -> tuple[str | None, str | None]:
    for item in as_list(value):
        if isinstance(item, str):
            return item, None
        if isinstance(item, dict) and isinstance(href := item.get("href"), str):
            return href, _string(item.get("mediaType"))
    return None, None


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def object_origin_ok(actor_id: str, object_id: str) -> bool:
    """Whether both ids are absolute http(s) URLs of the same origin (scheme, host, port).

    Host names compare case-insensitively and a missing port means the scheme's default.
    Anything unparsable is not the same origin.
    """
    actor_origin = _origin(actor_id)
    return actor_origin is not None and actor_origin == _origin(object_id)


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


# ---------------------------------------------------------------------------
# Tables derived from the bundled contexts, built once at import
# ---------------------------------------------------------------------------


def _read_bundled(filename: str) -> bytes:
    return resources.files("federation").joinpath("contexts", filename).read_bytes()


_BUNDLED_BYTES: Final[Mapping[str, bytes]] = {
    filename: _read_bundled(filename) for filename in _BUNDLED_FILES.values()
}


class _BoundedCache(OrderedDict[str, Any]):
    """pyld's shared resolved-context cache, keeping the most recently stored entries.

    pyld stores bundled contexts and every inline context a peer sends here, so it must
    be bounded; an evicted bundled context is simply parsed again.
    """

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)


_RESOLVED_CONTEXTS: Final = _BoundedCache(maxsize=64)


def _inline_definitions(context: Any) -> list[JsonDict]:
    """The inline definition objects of a context value, in order."""
    return [entry for entry in as_list(context) if isinstance(entry, dict)]


def _build_output_terms() -> tuple[dict[str, _Meaning], dict[str, str]]:
    """Meaning of every top-level term of :data:`NORMALISED_CONTEXT`, and its prefixes."""
    definitions: list[JsonDict] = []
    for entry in NORMALISED_CONTEXT:
        if isinstance(entry, str):
            document = orjson.loads(_BUNDLED_BYTES[_BUNDLED_FILES[entry]])
            definitions.extend(_inline_definitions(document["@context"]))
        else:
            definitions.append(entry)
    prefixes: dict[str, str] = {}
    for definition in definitions:
        prefixes.update(
            {k: v for k, v in definition.items() if isinstance(v, str) and v.endswith(("#", "/"))}
        )
    terms: dict[str, _Meaning] = {}
    for definition in definitions:
        for term, value in definition.items():
            if term.startswith("@"):
                continue
            raw = value.get("@id") if isinstance(value, dict) else value
            container = value.get("@container") if isinstance(value, dict) else None
            terms[term] = (_expand_iri(raw, prefixes) if isinstance(raw, str) else None, container)
    return terms, prefixes


_OUTPUT_TERMS, _KNOWN_PREFIXES = _build_output_terms()
_OUTPUT_IRIS: Final = frozenset(iri for iri, _ in _OUTPUT_TERMS.values() if iri is not None)
_PLAIN_TERM_BY_IRI: Final[Mapping[str, str]] = {
    iri: term
    for term, (iri, container) in _OUTPUT_TERMS.items()
    if iri is not None and container is None and not iri.startswith("@")
}
_LIST_CONTAINER_TERMS: Final = frozenset(
    term for term, (_, container) in _OUTPUT_TERMS.items() if container in ("@list", "@set")
)


def _problematic_terms_of_bundled(key: str) -> frozenset[str]:
    """Terms of a bundled context that read differently from :data:`NORMALISED_CONTEXT`.

    Its URL references are bundled output contexts themselves (litepub-0.1 names AS2 and
    security v1), so only its inline definitions can differ.
    """
    if key in NORMALISED_CONTEXT:
        return frozenset()
    document = orjson.loads(_BUNDLED_BYTES[_BUNDLED_FILES[key]])
    problematic: set[str] = set()
    for definitions in _inline_definitions(document["@context"]):
        prefixes = {
            **_KNOWN_PREFIXES,
            **{k: v for k, v in definitions.items() if isinstance(v, str)},
        }
        for term, definition in definitions.items():
            if term.startswith("@") or _changes_meaning(term, definition, prefixes):
                problematic.add(term)
    return frozenset(problematic)


_BUNDLED_PROBLEMATIC_TERMS: Final[Mapping[str, frozenset[str]]] = {
    key: _problematic_terms_of_bundled(key) for key in _BUNDLED_FILES
}

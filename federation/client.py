"""Signed requests to other nodes: fetching documents and delivering activities."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import orjson

from federation.errors import FederationError
from federation.http import OutboundHttp, Response
from federation.keys import Signer
from federation.signatures import sign_request

ACTIVITY_JSON = "application/activity+json"
ACCEPT_ACTIVITY = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
JSON_TYPES = (
    "application/activity+json",
    "application/ld+json",
    "application/json",
    "application/jrd+json",
)


class FetchError(FederationError):
    """A remote document could not be fetched or is not acceptable."""


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL (lower-cased)."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"


def authority_of(url: str) -> str:
    """``host[:port]`` of a URL: how Fedwall names a peer."""
    return (urlsplit(url).netloc or "").lower()


class FederationClient:
    """Signed GETs and POSTs over the node's one outbound HTTP client."""

    def __init__(self, http: OutboundHttp) -> None:
        self.http = http

    async def signed_get(self, url: str, signer: Signer, accept: str = ACCEPT_ACTIVITY) -> Response:
        headers = sign_request(
            "GET",
            url,
            {"Accept": accept},
            b"",
            signer.key_id,
            signer.private_key,
            dt.datetime.now(dt.UTC),
        )
        return await self.http.get(url, headers)

    async def fetch_document(self, url: str, signer: Signer) -> dict[str, Any]:
        """GET an ActivityStreams document with a signed request.

        The document's ``id`` must equal the URL it was finally fetched from; if
        it differs but is on the same origin, it is fetched once more from its
        own id (that copy is authoritative). Raises FetchError.
        """
        document, final_url = await self._get_json(url, signer)
        document_id = document.get("id")
        if document_id == final_url:
            return document
        if isinstance(document_id, str) and origin_of(document_id) == origin_of(final_url):
            document, final_url = await self._get_json(document_id, signer)
            if document.get("id") == final_url:
                return document
        raise FetchError(f"document fetched from {final_url} has a different id")

    async def _get_json(self, url: str, signer: Signer) -> tuple[dict[str, Any], str]:
        response = await self.signed_get(url, signer)
        if response.status == 410:
            raise FetchError(f"{url} is gone (410)")
        if response.status != 200:
            raise FetchError(f"{url} answered {response.status}")
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in JSON_TYPES:
            raise FetchError(
                f"{url} is not an ActivityStreams document ({content_type or 'no type'})"
            )
        try:
            document = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            raise FetchError(f"{url} sent malformed JSON") from None
        if not isinstance(document, dict):
            raise FetchError(f"{url} did not send a JSON object")
        return document, response.final_url

    async def get_json(
        self, url: str, accept: str = "application/jrd+json, application/json"
    ) -> Any:
        """An unsigned GET of public JSON (WebFinger, NodeInfo)."""
        response = await self.http.get(url, {"Accept": accept})
        if response.status != 200:
            raise FetchError(f"{url} answered {response.status}")
        try:
            return orjson.loads(response.body)
        except orjson.JSONDecodeError:
            raise FetchError(f"{url} sent malformed JSON") from None

    async def post_activity(self, inbox_url: str, body: bytes, signer: Signer) -> Response:
        """POST a serialised activity to an inbox, signed by ``signer``."""
        headers = sign_request(
            "POST",
            inbox_url,
            {"Content-Type": ACTIVITY_JSON, "Accept": ACTIVITY_JSON},
            body,
            signer.key_id,
            signer.private_key,
            dt.datetime.now(dt.UTC),
        )
        return await self.http.post(inbox_url, headers, body)

"""Verifying signed requests from peers (inbox POSTs and signed GETs)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from urllib.parse import urldefrag

from federation.actors import ActorDirectory
from federation.errors import FederationError, SignatureError
from federation.keys import KeyStore, PeerKey
from federation.signatures import (
    HttpRequestView,
    ParsedSignature,
    check_covered_components,
    parse_signature,
    verify_request,
)

log = logging.getLogger(__name__)

# A key that failed verification is refetched at most this often (rotation).
REFETCH_INTERVAL_SECONDS = 300.0


class KeyUnavailable(FederationError):
    """The signing key is unknown and could not be fetched now (the peer may be down)."""


class RequestVerifier:
    """Checks HTTP signatures against peers' keys, fetching unknown keys once."""

    def __init__(self, keys: KeyStore, directory: ActorDirectory, max_skew: int) -> None:
        self.keys = keys
        self.directory = directory
        self.max_skew = max_skew
        self._refetched: dict[str, float] = {}

    async def verify(self, view: HttpRequestView, *, fetch_unknown: bool = True) -> PeerKey:
        """Verify ``view`` and return the key with its owner.

        Raises SignatureError, or KeyUnavailable when the key cannot be fetched now.
        """
        parsed = parse_signature(view)
        key = await self.keys.peer_key(parsed.key_id)
        if key is None:
            if not fetch_unknown:
                raise KeyUnavailable(f"unknown key {parsed.key_id}")
            key = await self._fetch_key(parsed.key_id)
        try:
            self._check(view, parsed, key)
        except SignatureError:
            if not self._may_refetch(parsed.key_id):
                raise
            # The peer may have rotated its key: fetch the owner again, once.
            self.keys.forget(parsed.key_id)
            key = await self._fetch_key(parsed.key_id)
            self._check(view, parsed, key)
        return key

    def _check(self, view: HttpRequestView, parsed: ParsedSignature, key: PeerKey) -> None:
        verify_request(view, parsed, key.public_key, dt.datetime.now(dt.UTC), self.max_skew)  # type: ignore[arg-type]
        check_covered_components(parsed, view)

    def _may_refetch(self, key_id: str) -> bool:
        now = time.monotonic()
        last = self._refetched.get(key_id)
        if last is not None and now - last < REFETCH_INTERVAL_SECONDS:
            return False
        self._refetched[key_id] = now
        if len(self._refetched) > 10_000:
            self._refetched.clear()
        return True

    async def _fetch_key(self, key_id: str) -> PeerKey:
        # Fediverse key ids are the actor id with a fragment (#main-key); the
        # actor document carries the key.
        owner_uri, _ = urldefrag(key_id)
        try:
            await self.directory.resolve_uri(owner_uri, refresh=True)
        except FederationError as exc:
            raise KeyUnavailable(f"cannot fetch key {key_id}: {exc.reason}") from None
        key = await self.keys.peer_key(key_id)
        if key is None:
            raise SignatureError(f"{owner_uri} does not publish key {key_id}")
        return key

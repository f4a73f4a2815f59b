"""Parsed signing keys of this node's actors and cached public keys of peers.

PEM is parsed once per key and kept as a key object: parsing a private key
costs far more than a signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from federation.errors import SignatureError
from federation.signatures import KeyCache, load_private_key_pem, load_public_key_pem
from node.models import Account, KeyPair

SigningKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class Signer:
    """Who signs a request: the key id published in the actor document, and the key."""

    key_id: str
    private_key: SigningKey


@dataclass(frozen=True)
class PeerKey:
    """A peer's public key with the actor that owns it."""

    key_id: str
    owner_uri: str
    account_id: int
    public_key: object


class KeyStore:
    """Signers for local actors and peers' public keys, each parsed once."""

    def __init__(self, max_peer_keys: int = 4096) -> None:
        self._signers: dict[int, Signer] = {}
        self._peer_keys = KeyCache(max_peer_keys)
        self._owners: dict[str, tuple[str, int]] = {}

    async def signer_for(self, account: Account) -> Signer:
        """The signer of a local account (its newest key with a private half)."""
        cached = self._signers.get(account.id)
        if cached is not None:
            return cached
        pair = (
            await KeyPair.filter(account_id=account.id, private_pem__not_isnull=True)
            .order_by("-id")
            .first()
        )
        if pair is None or pair.private_pem is None:
            raise LookupError(f"account {account.uri} has no signing key")
        key = load_private_key_pem(pair.private_pem)
        if not isinstance(key, SigningKey):
            raise LookupError(f"account {account.uri} has an unusable signing key")
        signer = Signer(pair.key_id, key)
        self._signers[account.id] = signer
        return signer

    async def peer_key(self, key_id: str) -> PeerKey | None:
        """A known public key by id (cache, then database), or None if unknown."""
        cached = self._peer_keys.get(key_id)
        owner = self._owners.get(key_id)
        if cached is not None and owner is not None:
            return PeerKey(key_id, owner[0], owner[1], cached)
        pair = await KeyPair.get_or_none(key_id=key_id).prefetch_related("account")
        if pair is None:
            return None
        try:
            public_key = load_public_key_pem(pair.public_pem)
        except SignatureError:
            return None
        self.remember(key_id, pair.account.uri, pair.account.id, public_key)
        return PeerKey(key_id, pair.account.uri, pair.account.id, public_key)

    def remember(self, key_id: str, owner_uri: str, account_id: int, public_key: object) -> None:
        self._peer_keys.put(key_id, public_key)  # type: ignore[arg-type]
        self._owners[key_id] = (owner_uri, account_id)
        if len(self._owners) > 2 * len(self._peer_keys) + 64:
            # Keep the owner map bounded like the key cache it mirrors.
            self._owners = {k: v for k, v in self._owners.items() if k in self._peer_keys}

    def forget(self, key_id: str) -> None:
        """Drop a peer key (its owner may have rotated it)."""
        self._peer_keys.discard(key_id)
        self._owners.pop(key_id, None)

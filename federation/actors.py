"""Remote actors: finding them by handle (WebFinger), fetching, storing and refreshing them."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any
from urllib.parse import quote

from tortoise.transactions import in_transaction

from federation.client import FederationClient, FetchError, authority_of, origin_of
from federation.errors import FederationError
from federation.keys import KeyStore, Signer
from federation.signatures import load_public_key_pem
from federation.vocabulary import as_list, id_of
from node.models import Account, KeyPair
from node.services.content import html_to_text, sanitize_html
from node.site import Site

log = logging.getLogger(__name__)

ACTOR_TYPES = {"Person", "Service", "Application", "Group", "Organization"}
# A remote actor is fetched again when it is older than this (or on a failed signature).
REFRESH_AFTER = dt.timedelta(hours=24)
_DOMAIN_RE = re.compile(r"^[a-z0-9.-]+(:\d{1,5})?$")


class ActorError(FederationError):
    """A remote actor could not be found or its document is not acceptable."""


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


class ActorDirectory:
    """Resolves and stores remote actors for one node."""

    def __init__(
        self,
        site: Site,
        client: FederationClient,
        keys: KeyStore,
        signer: Signer,
        webfinger_scheme: str,
    ) -> None:
        self.site = site
        self.client = client
        self.keys = keys
        self.signer = signer
        self.webfinger_scheme = webfinger_scheme

    async def webfinger(self, username: str, domain: str) -> str:
        """The actor id of ``username@domain`` by WebFinger (RFC 7033)."""
        if not _DOMAIN_RE.match(domain):
            raise ActorError(f"invalid domain {domain!r}")
        resource = quote(f"acct:{username}@{domain}", safe=":@")
        url = f"{self.webfinger_scheme}://{domain}/.well-known/webfinger?resource={resource}"
        try:
            jrd = await self.client.get_json(url)
        except FederationError as exc:
            raise ActorError(
                f"WebFinger lookup of {username}@{domain} failed: {exc.reason}"
            ) from None
        for link in as_list(jrd.get("links") if isinstance(jrd, dict) else None):
            if (
                isinstance(link, dict)
                and link.get("rel") == "self"
                and str(link.get("type", "")).split(";")[0].strip()
                in ("application/activity+json", "application/ld+json")
                and isinstance(link.get("href"), str)
            ):
                return str(link["href"])
        raise ActorError(f"{username}@{domain} has no ActivityPub actor")

    async def resolve_handle(self, username: str, domain: str) -> Account | None:
        """The account for a handle, known or fetched; None when it cannot be found."""
        known = await Account.filter(username__iexact=username, domain=domain).first()
        if known is not None:
            return known
        try:
            uri = await self.webfinger(username, domain)
            return await self.resolve_uri(uri)
        except FederationError as exc:
            log.info("cannot resolve @%s@%s: %s", username, domain, exc.reason)
            return None

    async def resolve_uri(self, uri: str, *, refresh: bool = False) -> Account:
        """The account with actor id ``uri``, fetched when unknown, stale or ``refresh``."""
        account = await Account.get_or_none(uri=uri)
        if account is not None and account.is_local:
            return account
        fresh = (
            account is not None
            and account.fetched_at is not None
            and dt.datetime.now(dt.UTC) - account.fetched_at < REFRESH_AFTER
        )
        if account is not None and fresh and not refresh:
            return account
        try:
            document = await self.client.fetch_document(uri, self.signer)
        except FetchError as exc:
            if account is not None:
                return account  # a stale copy beats none while the peer is away
            raise ActorError(f"cannot fetch actor {uri}: {exc.reason}") from None
        return await self.store(document)

    async def store(self, document: dict[str, Any]) -> Account:
        """Create or update the account described by an actor document."""
        uri = document.get("id")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise ActorError("actor document without an http(s) id")
        if document.get("type") not in ACTOR_TYPES:
            raise ActorError(f"{uri} is not an actor ({document.get('type')!r})")
        domain = authority_of(uri)
        if domain == self.site.domain:
            raise ActorError(f"{uri} claims to be on this node")
        username = document.get("preferredUsername")
        if not isinstance(username, str) or not username or len(username) > 64:
            raise ActorError(f"{uri} has no usable preferredUsername")
        inbox = document.get("inbox")
        if not isinstance(inbox, str) or origin_of(inbox) != origin_of(uri):
            raise ActorError(f"{uri} has no inbox on its own origin")
        endpoints = document.get("endpoints") if isinstance(document.get("endpoints"), dict) else {}
        shared_inbox = endpoints.get("sharedInbox") if isinstance(endpoints, dict) else None
        if not isinstance(shared_inbox, str) or origin_of(shared_inbox) != origin_of(uri):
            shared_inbox = None
        keys = self._public_keys(document, uri)
        fields = [
            {
                "name": _text(item.get("name"), 100),
                "value": html_to_text(sanitize_html(_text(item.get("value"), 500))),
            }
            for item in as_list(document.get("attachment"))
            if isinstance(item, dict) and item.get("type") == "PropertyValue"
        ]
        icon = document.get("icon")
        avatar = id_of(icon.get("url")) if isinstance(icon, dict) else None
        values = {
            "username": username,
            "domain": domain,
            "actor_type": document["type"],
            "display_name": _text(document.get("name"), 200) or username,
            "summary_html": sanitize_html(_text(document.get("summary"), 5000)),
            "locked": bool(document.get("manuallyApprovesFollowers")),
            "profile_fields": fields[:16],
            "avatar_url": avatar if isinstance(avatar, str) and avatar.startswith("http") else None,
            "url": id_of(document.get("url")) or uri,
            "inbox_url": inbox,
            "shared_inbox_url": shared_inbox,
            "outbox_url": document.get("outbox")
            if isinstance(document.get("outbox"), str)
            else None,
            "followers_url": document.get("followers")
            if isinstance(document.get("followers"), str)
            else None,
            "following_url": document.get("following")
            if isinstance(document.get("following"), str)
            else None,
            "fetched_at": dt.datetime.now(dt.UTC),
        }
        async with in_transaction():
            account = await Account.get_or_none(uri=uri)
            if account is None:
                # A handle can move to a new actor id (recreated account): free it.
                await (
                    Account.filter(username=username, domain=domain)
                    .exclude(uri=uri)
                    .update(username=f"{username}~{dt.datetime.now(dt.UTC).timestamp():.0f}")
                )
                account = await Account.create(uri=uri, **values)
            else:
                await Account.filter(id=account.id).update(**values)
                await account.refresh_from_db()
            current = {key_id for key_id, _ in keys}
            stale = await KeyPair.filter(account_id=account.id).exclude(key_id__in=current)
            for pair in stale:
                self.keys.forget(pair.key_id)
                await pair.delete()
            for key_id, pem in keys:
                existing = await KeyPair.get_or_none(key_id=key_id)
                if existing is None:
                    await KeyPair.create(account=account, key_id=key_id, public_pem=pem)
                elif existing.account_id != account.id:  # type: ignore[attr-defined]
                    raise ActorError(f"key {key_id} belongs to another actor")
                elif existing.public_pem != pem:
                    existing.public_pem = pem
                    await existing.save(update_fields=["public_pem"])
                    self.keys.forget(key_id)
        return account

    @staticmethod
    def _public_keys(document: dict[str, Any], uri: str) -> list[tuple[str, str]]:
        keys = []
        for key in as_list(document.get("publicKey")):
            if not isinstance(key, dict):
                continue
            key_id, owner, pem = key.get("id"), key.get("owner"), key.get("publicKeyPem")
            if not (isinstance(key_id, str) and isinstance(pem, str)):
                continue
            if owner is not None and owner != uri:
                continue
            if origin_of(key_id) != origin_of(uri):
                continue
            load_public_key_pem(pem)  # reject malformed keys before storing them
            keys.append((key_id, pem))
        if not keys:
            raise ActorError(f"{uri} publishes no usable public key")
        return keys

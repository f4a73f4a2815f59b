"""What a handler may use: the node's identity, remote actors and signed fetches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from federation.actors import ActorDirectory
from federation.client import origin_of
from federation.errors import FederationError
from federation.vocabulary import normalise
from node.models import Account
from node.site import Site


class HandlerError(FederationError):
    """An activity that is well-formed but not acceptable (wrong actor, origin, …)."""


@dataclass
class HandlerContext:
    site: Site
    directory: ActorDirectory
    # How many documents one activity may make us fetch (parents of replies, shared posts).
    fetch_budget: int = 5

    async def actor(self, activity: dict[str, Any]) -> Account:
        """The activity's (already verified) actor."""
        uri = activity["actor"]
        return await self.directory.resolve_uri(uri if isinstance(uri, str) else uri["id"])

    async def fetch_object(self, uri: str) -> dict[str, Any]:
        """Fetch and normalise a remote object with a signed GET, within the budget."""
        if self.fetch_budget <= 0:
            raise HandlerError(f"fetch budget exhausted before {uri}")
        self.fetch_budget -= 1
        document = await self.directory.client.fetch_document(uri, self.directory.signer)
        return normalise(document)

    def is_local(self, uri: str) -> bool:
        return origin_of(uri) == origin_of(self.site.base_url)

"""What a handler may use: the node's identity, remote actors and signed fetches."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from federation.actors import REFRESH_AFTER, ActorDirectory
from federation.client import origin_of
from federation.errors import FederationError
from federation.vocabulary import normalise
from node.models import Account, Follow, Post
from node.site import Site


class HandlerError(FederationError):
    """An activity that is well-formed but not acceptable (wrong actor, origin, …)."""


class NetworkNeeded(Exception):
    """An offline handler needs something from another node (see :attr:`HandlerContext.offline`).

    Deliberately not a :class:`FederationError`, which handlers catch. The inbox
    processor undoes the activity, awaits :attr:`fetch` outside its transaction
    (the context keeps the result) and applies the activity again.
    """

    def __init__(self, what: str, fetch: Callable[[], Awaitable[None]]) -> None:
        super().__init__(what)
        self.what = what
        self.fetch = fetch


def _fresh(account: Account) -> bool:
    return (
        account.fetched_at is not None
        and dt.datetime.now(dt.UTC) - account.fetched_at < REFRESH_AFTER
    )


def _outcome(result: Any) -> Any:
    if isinstance(result, BaseException):
        raise result
    return result


@dataclass
class Known:
    """Rows read ahead for several activities at once (the inbox processor fills it per group).

    Each fact holds from when it was read: a handler that changes one updates
    it, and the processor forgets them all after an activity that could change
    them in other ways (anything but a Create).
    """

    # Accounts by actor id.
    actors: dict[str, Account] = field(default_factory=dict)
    # Post ids (object uris) with no post.
    absent_posts: set[str] = field(default_factory=set)
    # Remote author id -> (local follower id, follow state), pending follows included.
    local_followers: dict[int, list[tuple[int, str]]] = field(default_factory=dict)

    def forget(self) -> None:
        self.actors.clear()
        self.absent_posts.clear()
        self.local_followers.clear()


@dataclass
class HandlerContext:
    site: Site
    directory: ActorDirectory
    # How many documents one activity may make us fetch (parents of replies, shared posts).
    fetch_budget: int = 5
    # Set while the activity is applied inside a database transaction: nothing is
    # fetched then (a slow peer would hold the transaction), NetworkNeeded is raised.
    offline: bool = False
    # Rows already read (the inbox processor shares one between the activities of a batch).
    known: Known = field(default_factory=Known)
    # What was fetched for this activity outside its transaction: results or exceptions.
    fetched: dict[tuple[str, str, bool], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._budget = self.fetch_budget

    def begin_attempt(self) -> None:
        """Start applying the activity (again): the fetch budget is whole, fetches are kept."""
        self.fetch_budget = self._budget

    async def actor(self, activity: dict[str, Any]) -> Account:
        """The activity's (already verified) actor."""
        uri = activity["actor"]
        return await self.resolve(uri if isinstance(uri, str) else uri["id"])

    async def resolve(self, uri: str, *, refresh: bool = False) -> Account:
        """The account with actor id ``uri``, as :meth:`ActorDirectory.resolve_uri` finds it."""
        if not self.offline:
            return await self.directory.resolve_uri(uri, refresh=refresh)
        key = ("actor", uri, refresh)
        if key in self.fetched:
            return _outcome(self.fetched[key])
        account = self.known.actors.get(uri)
        if account is None:
            account = await Account.get_or_none(uri=uri)
        if account is not None and (account.is_local or (_fresh(account) and not refresh)):
            self.known.actors[uri] = account
            return account

        async def fetch() -> None:
            try:
                found: Any = await self.directory.resolve_uri(uri, refresh=refresh)
            except Exception as exc:  # raised where the handler asks for it, on the next attempt
                found = exc
            self.fetched[key] = found
            self.known.actors.pop(uri, None)

        raise NetworkNeeded(f"actor {uri}", fetch)

    async def fetch_object(self, uri: str) -> dict[str, Any]:
        """Fetch and normalise a remote object with a signed GET, within the budget."""
        if self.fetch_budget <= 0:
            raise HandlerError(f"fetch budget exhausted before {uri}")
        if not self.offline:
            self.fetch_budget -= 1
            document = await self.directory.client.fetch_document(uri, self.directory.signer)
            return normalise(document)
        key = ("object", uri, False)
        if key not in self.fetched:

            async def fetch() -> None:
                try:
                    found: Any = await self.directory.client.fetch_document(
                        uri, self.directory.signer
                    )
                except Exception as exc:  # raised where the handler asks for it, next attempt
                    found = exc
                self.fetched[key] = found

            raise NetworkNeeded(f"object {uri}", fetch)
        self.fetch_budget -= 1
        return normalise(_outcome(self.fetched[key]))

    async def stored_post(self, uri: str) -> Post | None:
        """The post with id ``uri``, if this node has it."""
        if uri in self.known.absent_posts:
            return None
        return await Post.get_or_none(uri=uri)

    def post_stored(self, uri: str) -> None:
        """Note that the post with id ``uri`` now exists (it may be undone: read it again)."""
        self.known.absent_posts.discard(uri)

    async def local_followers(self, author: Account) -> list[tuple[int, str]]:
        """(follower id, follow state) of the local accounts that follow ``author`` or asked to."""
        found = self.known.local_followers.get(author.id)
        if found is None:
            rows = await Follow.filter(followee_id=author.id, follower__domain="").values_list(
                "follower_id", "state"
            )
            found = [(int(follower), str(state)) for follower, state in rows]
            self.known.local_followers[author.id] = found
        return found

    def is_local(self, uri: str) -> bool:
        return origin_of(uri) == origin_of(self.site.base_url)

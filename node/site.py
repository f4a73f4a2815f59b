"""What services need to know about the node they run in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from node.services.policy import PolicyStore
from node.streaming import EventBroker

DEFAULT_LABELS = ("public", "internal", "confidential", "restricted")

# Resolves a remote handle (username, domain) to an account, fetching it if needed.
RemoteResolver = Callable[[str, str], Awaitable[object | None]]


@dataclass
class Site:
    """The node's identity and limits, shared by every service call."""

    domain: str
    scheme: str = "https"
    max_post_length: int = 5000
    labels: tuple[str, ...] = DEFAULT_LABELS
    default_label: str = "internal"
    events: EventBroker = field(default_factory=EventBroker)
    # The boundary policy in force (reloaded when a new version is stored).
    policy: PolicyStore = field(default_factory=PolicyStore)
    # Set by the federation layer at composition time; None on a node that
    # cannot reach others (and in unit tests of local features).
    resolve_remote: RemoteResolver | None = None

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.domain}"

    def actor_uri(self, username: str) -> str:
        return f"{self.base_url}/users/{username}"

    def post_uri(self, username: str, post_id: int) -> str:
        return f"{self.base_url}/users/{username}/posts/{post_id}"

    def profile_url(self, username: str) -> str:
        return f"{self.base_url}/@{username}"

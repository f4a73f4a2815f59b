"""In-process publish/subscribe for live updates.

Services publish an event after the change is committed; open streams (the
client API's SSE/WebSocket endpoints, the web UI) subscribe to the keys they
need: ``user:<account id>``, ``public``, ``public:local``, ``hashtag:<name>``,
``direct:<account id>``. The broker is an interface: a multi-process
deployment replaces it with one backed by PostgreSQL ``LISTEN/NOTIFY``
without changing publishers or endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One live update: ``name`` as Mastodon's streaming API names it, and its data."""

    name: str
    data: Any
    keys: tuple[str, ...]


class EventBroker:
    """Fans events out to subscribers; slow subscribers lose events, never block publishers."""

    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = defaultdict(set)

    def publish(self, name: str, data: Any, keys: Iterable[str]) -> None:
        event = Event(name, data, tuple(keys))
        delivered: set[int] = set()
        for key in event.keys:
            for queue in self._subscribers.get(key, ()):
                if id(queue) in delivered:
                    continue
                delivered.add(id(queue))
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:
                    log.warning("stream subscriber too slow; dropped %s event", name)

    @contextlib.asynccontextmanager
    async def subscribe(self, keys: Iterable[str]) -> AsyncIterator[asyncio.Queue[Event]]:
        """Yield a queue receiving events for ``keys`` until the block exits."""
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        subscribed = list(keys)
        for key in subscribed:
            self._subscribers[key].add(queue)
        try:
            yield queue
        finally:
            for key in subscribed:
                self._subscribers[key].discard(queue)
                if not self._subscribers[key]:
                    del self._subscribers[key]

    def subscriber_count(self) -> int:
        return len({id(q) for queues in self._subscribers.values() for q in queues})

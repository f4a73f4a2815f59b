"""Keyset pagination with Mastodon's parameters: max_id, since_id, min_id, limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from node.errors import ValidationError
from node.translatable import translatable

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 40


@dataclass(frozen=True)
class PageRequest:
    """Which slice of a newest-first list to return.

    ``max_id``: older than; ``since_id``: newer than (the newest ones);
    ``min_id``: newer than (the ones immediately after ``min_id``).
    """

    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = DEFAULT_LIMIT

    @classmethod
    def parse(cls, params: dict[str, Any] | Any) -> PageRequest:
        """Build from query parameters; bad values raise ValidationError."""

        def as_id(name: str) -> int | None:
            raw = params.get(name)
            if raw in (None, ""):
                return None
            try:
                return int(raw)
            except (TypeError, ValueError):
                raise ValidationError(
                    translatable("{name} must be a numeric id"), name=name
                ) from None

        raw_limit = params.get("limit")
        try:
            limit = DEFAULT_LIMIT if raw_limit in (None, "") else int(raw_limit)
        except (TypeError, ValueError):
            raise ValidationError(translatable("limit must be a number")) from None
        return cls(as_id("max_id"), as_id("since_id"), as_id("min_id"), limit)

    @property
    def bounded_limit(self) -> int:
        return max(1, min(self.limit, MAX_LIMIT))


@dataclass(frozen=True)
class Page(Generic[T]):
    """Items newest first, and the cursors for the next (older) and previous (newer) pages."""

    items: list[T]
    next_max_id: int | None
    prev_min_id: int | None


async def paginate(queryset: Any, key: str, page: PageRequest) -> tuple[list[Any], bool]:
    """Apply ``page`` to a Tortoise queryset ordered by the integer column ``key``.

    Returns rows newest first and whether ``min_id`` mode was used.
    """
    if page.max_id is not None:
        queryset = queryset.filter(**{f"{key}__lt": page.max_id})
    if page.since_id is not None:
        queryset = queryset.filter(**{f"{key}__gt": page.since_id})
    limit = page.bounded_limit
    if page.min_id is not None:
        rows = await queryset.filter(**{f"{key}__gt": page.min_id}).order_by(key).limit(limit)
        return list(reversed(rows)), True
    rows = await queryset.order_by(f"-{key}").limit(limit)
    return list(rows), False


def make_page(items: list[T], keys: list[int]) -> Page[T]:
    """Wrap items (newest first) whose pagination keys are ``keys``."""
    if not items:
        return Page(items, None, None)
    return Page(items, next_max_id=keys[-1], prev_min_id=keys[0])

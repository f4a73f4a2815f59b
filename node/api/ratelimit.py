"""Request rate limits with Mastodon's ``X-RateLimit-*`` headers.

Fixed windows aligned to the period, as Mastodon's rack-attack uses: a bucket
(``api``, ``sign_in``, …) allows ``limit`` requests per ``period`` seconds per
key (a token id or a client address). Counters live in the node's process,
like the event broker; a multi-process deployment shares them per process,
which only makes the effective limit larger, never smaller.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    limit: int
    period: float


@dataclass(frozen=True)
class Verdict:
    """The outcome of one request against its bucket."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: float

    def headers(self) -> dict[str, str]:
        reset = dt.datetime.fromtimestamp(self.reset_at, dt.UTC)
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }


# Mastodon's defaults: 300 API calls per 5 minutes per account; sign-in and app
# registration much tighter, per address, because they guard passwords.
DEFAULT_LIMITS = {
    "api": RateLimit(300, 300.0),
    "sign_in": RateLimit(30, 300.0),
    "apps": RateLimit(30, 300.0),
}


class RateLimiter:
    """Counts requests per (bucket, key) in fixed windows."""

    def __init__(
        self,
        limits: dict[str, RateLimit] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self._clock = clock
        self._counts: dict[tuple[str, str], tuple[float, int]] = {}

    def hit(self, bucket: str, key: str) -> Verdict:
        """Count one request; ``allowed`` is False once the window's limit is used up."""
        rule = self.limits[bucket]
        now = self._clock()
        window = now - now % rule.period
        started, count = self._counts.get((bucket, key), (window, 0))
        if started != window:
            count = 0
            if len(self._counts) > 10_000:
                self._forget_before(now)
        count += 1
        self._counts[(bucket, key)] = (window, count)
        return Verdict(
            allowed=count <= rule.limit,
            limit=rule.limit,
            remaining=max(0, rule.limit - count),
            reset_at=window + rule.period,
        )

    def _forget_before(self, now: float) -> None:
        for entry, (started, _) in list(self._counts.items()):
            if started + self.limits[entry[0]].period <= now:
                del self._counts[entry]

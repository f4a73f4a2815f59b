"""When to retry a failed delivery, and when to give up: pure functions."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: ``base * 2^(attempt-1)``, capped, ±``jitter``."""

    base_seconds: float = 30.0
    cap_seconds: float = 6 * 3600.0
    max_age_seconds: float = 3 * 86400.0
    jitter: float = 0.2

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (attempts ≥ 1)."""
        raw = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, raw * (1 + spread))

    def next_attempt(
        self,
        attempts: int,
        created_at: dt.datetime,
        now: dt.datetime,
        rng: random.Random | None = None,
    ) -> dt.datetime | None:
        """When to try again, or None when the delivery has been retried long enough."""
        when = now + dt.timedelta(seconds=self.delay(attempts, rng))
        if (when - created_at).total_seconds() > self.max_age_seconds:
            return None
        return when


def is_permanent_failure(status: int) -> bool:
    """A 4xx answer other than timeout/rate limiting means the peer will never accept it."""
    return 400 <= status < 500 and status not in (408, 425, 429)


@dataclass
class CircuitBreaker:
    """Per-peer: after ``threshold`` consecutive failures, stop trying for a while."""

    threshold: int = 5
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0

    def __post_init__(self) -> None:
        self._failures: dict[str, int] = {}
        self._open_until: dict[str, dt.datetime] = {}

    def open_until(self, peer: str, now: dt.datetime) -> dt.datetime | None:
        """When the breaker for ``peer`` closes again, or None if it is closed."""
        until = self._open_until.get(peer)
        if until is None or until <= now:
            return None
        return until

    def success(self, peer: str) -> None:
        self._failures.pop(peer, None)
        self._open_until.pop(peer, None)

    def failure(self, peer: str, now: dt.datetime) -> None:
        count = self._failures.get(peer, 0) + 1
        self._failures[peer] = count
        if count >= self.threshold:
            pause = min(self.cap_seconds, self.base_seconds * 2 ** (count - self.threshold))
            self._open_until[peer] = now + dt.timedelta(seconds=pause)

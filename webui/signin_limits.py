"""Failed sign-ins are limited per client address and username.

Ten failures within five minutes lock that pair out until the oldest failure
leaves the window; other addresses and other usernames are unaffected, so one
attacker cannot lock a colleague out from everywhere. Counters live in the
node's process, like the event broker: several web processes each count, which
only makes the effective limit larger, never smaller.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_FAILURES = 10
WINDOW_SECONDS = 300.0
# Bound the memory an attacker spraying usernames can make us hold.
MAX_TRACKED = 10_000


class SignInLimiter:
    """Counts failed sign-ins per key in a sliding window."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    @staticmethod
    def key(address: str | None, username: str) -> str:
        return f"{address or 'unknown'}|{username.strip().lower()}"

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None when it may try now."""
        failures = self._recent(key)
        if failures is None or len(failures) < self.max_failures:
            return None
        return max(1.0, failures[0] + self.window - self._clock())

    def failed(self, key: str) -> None:
        if key not in self._failures and len(self._failures) >= MAX_TRACKED:
            self._forget_expired()
        failures = self._recent(key) or deque()
        failures.append(self._clock())
        # Only the newest ``max_failures`` matter for the lock-out.
        while len(failures) > self.max_failures:
            failures.popleft()
        self._failures[key] = failures

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        cutoff = self._clock() - self.window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    def _forget_expired(self) -> None:
        for key in list(self._failures):
            self._recent(key)
        if len(self._failures) >= MAX_TRACKED:
            # Still full of live entries: drop the oldest half rather than grow.
            oldest = sorted(self._failures, key=lambda k: self._failures[k][-1])
            for key in oldest[: MAX_TRACKED // 2]:
                del self._failures[key]

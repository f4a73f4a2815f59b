"""Time-ordered 64-bit identifiers.

Rows that people page through (posts, timeline entries, notifications) get ids
that sort by creation time, so keyset pagination is a plain ``id < max_id``.
Layout: milliseconds since the Unix epoch in the high bits, 16 bits of a
per-process sequence and randomness in the low bits.
"""

from __future__ import annotations

import secrets
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_sequence = 0


def new_id(at_ms: int | None = None) -> int:
    """Return a new id, strictly greater than any earlier id from this process."""
    global _last_ms, _sequence
    with _lock:
        now_ms = at_ms if at_ms is not None else int(time.time() * 1000)
        if now_ms <= _last_ms:
            now_ms = _last_ms
            _sequence += 1
            if _sequence >= 1 << 16:
                now_ms += 1
                _sequence = secrets.randbelow(1 << 8)
        else:
            # A random start inside the millisecond keeps ids from two processes
            # created in the same millisecond apart in practice.
            _sequence = secrets.randbelow(1 << 12)
        _last_ms = now_ms
        return (now_ms << 16) | _sequence


def id_floor(at_ms: int) -> int:
    """The smallest id that could have been created at ``at_ms``."""
    return at_ms << 16

"""A one-line progress bar for long syncs, drawn on a terminal only."""

from __future__ import annotations

import time
from typing import TextIO


class ProgressBar:
    """Callable as ``bar(phase, done, total)``; ``total`` None when it is not known yet.

    Draws on ``stream`` (the CLI's stderr) when it is a terminal, or when
    ``enabled`` says so; redraws at most every ``interval`` seconds.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        enabled: bool | None = None,
        width: int = 30,
        interval: float = 0.1,
    ) -> None:
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.width = width
        self.interval = interval
        self._phase = ""
        self._last_draw = 0.0
        self._shown = 0

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        finished = total is not None and done >= total
        if phase == self._phase and not finished and now - self._last_draw < self.interval:
            return
        if phase != self._phase and self._shown:
            self.stream.write("\n")
            self._shown = 0
        self._phase, self._last_draw = phase, now
        if total:
            filled = min(self.width, self.width * done // total)
            bar = "#" * filled + "-" * (self.width - filled)
            line = f"{phase:<16} [{bar}] {done}/{total}"
        else:
            line = f"{phase:<16} {done}"
        self.stream.write("\r" + line.ljust(self._shown))
        self.stream.flush()
        self._shown = len(line)

    def close(self) -> None:
        """End the bar's line so that what follows starts on a fresh one."""
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = 0

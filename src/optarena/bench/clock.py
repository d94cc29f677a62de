"""The harness clock: it runs only around data selection and update steps (AlgoPerf's timed part)."""

from __future__ import annotations

import time

__all__ = ["TrialClock"]


class TrialClock:
    """Accumulates ``perf_counter`` time between ``start()`` and ``pause()`` calls."""

    def __init__(self) -> None:
        self.total = 0.0
        self._since: float | None = None

    def start(self) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def pause(self) -> None:
        if self._since is not None:
            self.total += time.perf_counter() - self._since
            self._since = None

    @property
    def running(self) -> bool:
        return self._since is not None

    def now(self) -> float:
        """Timed seconds so far (including the current running span)."""
        extra = time.perf_counter() - self._since if self._since is not None else 0.0
        return self.total + extra

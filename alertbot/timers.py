"""A keyed timer heap driven by an injected clock: the engine's and pipeline's timers.

`for`, `absent_for`, `unchanged_for`, `count` expiry, `keep_firing_for`, repeat reminders
and inhibit grace are all entries here, so `run` (system clock) and `replay` (virtual
clock) fire them through the same code. Scheduling a key again replaces its deadline;
cancelled entries are dropped lazily when they reach the top. Ties fire in scheduling
order, so results are deterministic. Stdlib only.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Hashable, Iterator


class TimerHeap:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Hashable]] = []
        self._live: dict[Hashable, tuple[float, int]] = {}
        self._seq = itertools.count()
        # A lower bound of the next deadline (inf when empty), read as a plain attribute
        # on the per-event hot path; a cancelled entry can keep it early, never late.
        self.horizon = math.inf

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._live

    def schedule(self, key: Hashable, when: float) -> None:
        """Set (or move) `key` to fire at `when`."""
        seq = next(self._seq)
        self._live[key] = (when, seq)
        heapq.heappush(self._heap, (when, seq, key))
        if when < self.horizon:
            self.horizon = when

    def cancel(self, key: Hashable) -> None:
        self._live.pop(key, None)

    def deadline(self, key: Hashable) -> float | None:
        entry = self._live.get(key)
        return None if entry is None else entry[0]

    def next_deadline(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> Iterator[tuple[float, Hashable]]:
        """Yield (deadline, key) for every timer due at or before `now`, in order.

        Timers scheduled while iterating are seen too if they are due.
        """
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                return
            when, _seq, key = heapq.heappop(self._heap)
            del self._live[key]
            self.horizon = self._heap[0][0] if self._heap else math.inf
            yield when, key

    def _drop_stale(self) -> None:
        heap, live = self._heap, self._live
        while heap:
            when, seq, key = heap[0]
            if live.get(key) == (when, seq):
                self.horizon = when
                return
            heapq.heappop(heap)
        self.horizon = math.inf

"""Token buckets keyed by who is asking, and a log of refusals that writes counts, not floods.

``KeyedBuckets`` keeps one token bucket per key (a connection, a member's key): a bucket
holds at most ``burst`` tokens and refills at ``rate`` tokens a second; taking ``n``
tokens either succeeds whole or answers how long to wait until it would. Memory is bounded:
past ``max_keys`` keys the least recently used bucket is forgotten (a forgotten key starts
full again, which only ever errs toward admitting).

``RefusalLog`` writes the first refusal of each reason in a window in full (so one refusal
is visible at once, with its message) and folds the rest into one line per window with
counts per reason, for example::

    refused 24,997 envelopes in the last 5 s: signature.invalid x24,000, member.unknown x997

so that a flood of junk costs a few log lines, never one line per envelope.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class KeyedBuckets:
    """Token buckets of ``rate`` tokens a second and ``burst`` capacity, one per key."""

    def __init__(self, rate: float, burst: float, *, max_keys: int = 10_000,
                 clock: Clock = time.monotonic) -> None:
        if rate <= 0 or burst <= 0 or max_keys <= 0:
            raise ValueError("rate, burst and max_keys must be positive")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str | bytes, _Bucket] = OrderedDict()

    def _bucket(self, key: str | bytes) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket

    def wait(self, key: str | bytes, count: float) -> float:
        """Seconds until ``count`` tokens would be there for ``key`` (0: they are now).

        A count above ``burst`` can never be taken whole; its wait is the time to refill
        the whole bucket.
        """
        bucket = self._bucket(key)
        missing = min(count, self.burst) - bucket.tokens
        return max(0.0, missing / self.rate)

    def take(self, key: str | bytes, count: float) -> float:
        """Take ``count`` tokens for ``key`` and answer 0, or take none and answer the
        seconds to wait before asking again."""
        wait = self.wait(key, count)
        if wait == 0.0 and count <= self.burst:
            self._buckets[key].tokens -= count
            return 0.0
        return max(wait, 1.0 / self.rate)


class RefusalLog:
    """Logs refusals by reason at a bounded rate: at most one full line per reason and
    one summary line with counts per ``window`` seconds.

    ``what`` names the refused things in the summary ("envelopes", "gossip messages").
    Call it from the event loop when one is running (the summary is written by a timer
    on that loop); without a loop the summary is written by the next call after the
    window has passed.
    """

    def __init__(self, logger: logging.Logger, what: str = "envelopes", *,
                 window: float = 5.0, clock: Clock = time.monotonic) -> None:
        self._log = logger
        self.what = what
        self.window = window
        self._clock = clock
        self._counts: Counter[str] = Counter()
        self._shown: set[str] = set()
        self._started = clock()
        self._timer: asyncio.TimerHandle | None = None

    def refused(self, reason: str, message: str = "", count: int = 1,
                level: int = logging.INFO) -> None:
        """Record ``count`` refusals for ``reason``; the first of a window is written in
        full with ``message``."""
        if count <= 0:
            return
        if self._clock() - self._started >= self.window:
            self.flush()
        if reason not in self._shown:
            self._shown.add(reason)
            self._log.log(level, "refused: %s (%s)", message or reason, reason)
            count -= 1
        if count:
            self._counts[reason] += count
            self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        delay = max(0.0, self._started + self.window - self._clock())
        self._timer = loop.call_later(delay, self.flush)

    def flush(self) -> None:
        """Write the summary of the window (if anything was folded into it) and start a
        new window."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._counts:
            total = sum(self._counts.values())
            parts = ", ".join(f"{reason} x{count:,}"
                              for reason, count in self._counts.most_common())
            seconds = max(self.window, self._clock() - self._started)
            self._log.warning("refused %s more %s in the last %.0f s: %s", f"{total:,}",
                              self.what, seconds, parts)
        self._counts.clear()
        self._shown.clear()
        self._started = self._clock()

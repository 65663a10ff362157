"""Refusing replayed peer batches without trusting a sender's sequence numbers to grow.

A batch is fresh when its ``sent_ms`` is within ``skew_ms`` of this node's clock, not before
this process started, and its ``(sender, sequence)`` has not been seen in that window. The
window forgets what falls out of it, so memory stays bounded by the traffic of ``2 * skew``
(and by ``max_per_sender``: past that, the oldest entries are dropped and the sender's
floor rises to their time, so nothing older than what is remembered is taken).

Unlike a "sequence must grow" rule, one batch with a made-up huge sequence number (signed
with a stolen or buggy validator key) cannot cut that validator's traffic off until the
receiver restarts: it is one more entry in the window.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class _Seen:
    order: deque[tuple[int, int]] = field(default_factory=deque)
    sequences: set[int] = field(default_factory=set)
    floor_ms: int = 0


class ReplayWindow:
    """Which peer batches were seen recently, per sender."""

    def __init__(self, *, started_ms: int, skew_ms: int,
                 max_per_sender: int = 200_000) -> None:
        self.started_ms = started_ms
        self.skew_ms = skew_ms
        self.max_per_sender = max_per_sender
        self._seen: dict[str, _Seen] = {}

    def refusal(self, sender: str, sent_ms: int, sequence: int, now_ms: int) -> str | None:
        """Why a batch from ``sender`` is stale or a replay, or None if it is fresh."""
        if abs(sent_ms - now_ms) > self.skew_ms:
            return "batch timestamp is too far from now"
        if sent_ms < self.started_ms:
            return "batch was sent before this node started"
        seen = self._seen.get(sender)
        if seen is None:
            return None
        self._expire(seen, now_ms)
        if sent_ms <= seen.floor_ms or sequence in seen.sequences:
            return "batch sequence was seen before (replay)"
        return None

    def remember(self, sender: str, sent_ms: int, sequence: int) -> None:
        """Note a batch that was taken."""
        seen = self._seen.setdefault(sender, _Seen())
        seen.order.append((sent_ms, sequence))
        seen.sequences.add(sequence)
        while len(seen.order) > self.max_per_sender:
            old_ms, old_sequence = seen.order.popleft()
            seen.sequences.discard(old_sequence)
            seen.floor_ms = max(seen.floor_ms, old_ms)

    def _expire(self, seen: _Seen, now_ms: int) -> None:
        # Arrival order is close to sent order; an entry kept a little longer is harmless.
        while seen.order and seen.order[0][0] < now_ms - self.skew_ms:
            _, sequence = seen.order.popleft()
            seen.sequences.discard(sequence)

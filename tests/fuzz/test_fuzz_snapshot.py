"""Fuzz target: SNAPSHOT messages through the peer service of a 3-validator devnet, signed
by a validator's key (the leader's half the time), mostly at the live term and near the
live log, whose data is random bytes, an edited LedgerSnapshot, or a well-formed one naming
a real or a made-up block.

Invariants (``peer_fuzz``): no answer is UNKNOWN or INTERNAL; every node keeps running;
afterwards the cluster elects a leader, commits, and every node holds the same blocks.
"""

from __future__ import annotations

from collections import Counter

from attack_net import AttackNet
from peer_fuzz import fuzz_peers, live_values, signed, snapshot_raft, survives


def test_fuzz_snapshots(net: AttackNet) -> None:
    live = live_values(net)
    seen: Counter[str] = Counter()
    fuzz_peers(net, signed(net, live, snapshot_raft(net, live)), seen)
    survives(net, seen)

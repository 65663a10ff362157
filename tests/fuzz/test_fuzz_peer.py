"""Fuzz target: the peer service (tdx.v1.PeerService.Send) of a 3-validator devnet.

Batches are unsigned junk (random or edited bodies, keys and signatures), or signed by a
validator's key (the leader's half the time), from it, to another validator, carrying Raft
messages with random fields: plausible ones (the live term or the next, indexes near the
live log, entries only in an APPEND) and arbitrary ones (any type, uint64 edges).

Invariants (``peer_fuzz``): no answer is UNKNOWN or INTERNAL; every node keeps running;
afterwards the cluster elects a leader, commits, and every node holds the same blocks.
"""

from __future__ import annotations

from collections import Counter

from attack_net import AttackNet
from hypothesis import strategies as st
from peer_fuzz import fuzz_peers, junk_batches, live_values, random_raft, signed, survives


def test_fuzz_peer_service(net: AttackNet) -> None:
    live = live_values(net)
    seen: Counter[str] = Counter()
    fuzz_peers(net, st.one_of(junk_batches(net), signed(net, live, random_raft(live)),
                              signed(net, live, random_raft(live))), seen)
    survives(net, seen)

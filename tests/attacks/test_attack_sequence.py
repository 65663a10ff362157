"""Attack 5 of issue 9: a peer batch with a huge sequence number (2**63-1, then 2**64-1),
signed by the leader's key, sent to a follower.

Whether the follower takes or refuses it, the leader's own traffic to it keeps flowing: as
documents commit, the follower's last block stays the leader's. Validators learn blocks
only from the leader, so that equality is what shows the traffic flows.
"""

from __future__ import annotations

import grpc
from attack_net import REFUSALS, AttackNet


def test_a_huge_sequence_does_not_cut_the_leaders_traffic(net: AttackNet) -> None:
    leader = net.leader()
    net.converged(net.commit())
    target = net.followers(leader)[0]
    for sequence in (2**63 - 1, 2**64 - 1):
        code, details = net.send(leader, target, [], sequence=sequence)
        assert code == grpc.StatusCode.OK or code in REFUSALS, f"{code.name}: {details}"
    height = net.commit(3)
    net.converged(height, names=[leader, target])
    net.converged(height)

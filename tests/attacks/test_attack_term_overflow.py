"""Attack 2 of issue 9: HEARTBEAT messages with terms at 2**62 and 2**64-1, signed by one
validator's key and sent to every validator.

Each is refused (INVALID_ARGUMENT naming the term); no node's term reaches 2**62; a leader
exists and documents commit, also after every validator is stopped and started again.
The largest term in range, 2**62-1, may be refused or taken, but must not end elections
either (a node at that term could never campaign again).
"""

from __future__ import annotations

import grpc
from attack_net import MT, AttackNet, assert_refused, raft

HUGE_TERMS = (2**64 - 1, 2**62)
TERM_BOUND = 2**62
ANSWERS = (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT,
           grpc.StatusCode.PERMISSION_DENIED)


def heartbeats(net: AttackNet, term: int) -> dict[str, tuple[grpc.StatusCode, str]]:
    """A HEARTBEAT at ``term`` to every validator, from the leader's key (to the leader
    from a follower's); the answers by receiver."""
    leader = net.leader()
    answers = {}
    for target in net.validators:
        signer = leader if target != leader else net.followers(leader)[0]
        answers[target] = net.send(signer, target,
                                   [raft(MT.MESSAGE_TYPE_HEARTBEAT, signer, target, term=term)])
    return answers


def assert_terms_bounded(net: AttackNet) -> None:
    terms = {name: net.status(name).term for name in net.validators}
    assert all(term < TERM_BOUND for term in terms.values()), f"terms: {terms}"


def test_heartbeats_with_huge_terms_are_refused(net: AttackNet) -> None:
    net.heal()
    net.converged(net.commit())
    for term in HUGE_TERMS:
        for target, answer in heartbeats(net, term).items():
            assert answer[0] != grpc.StatusCode.OK, f"{target} took a heartbeat at term {term}"
            assert_refused(answer, grpc.StatusCode.INVALID_ARGUMENT, "term")
    assert_terms_bounded(net)
    height = net.assert_serving()
    net.assert_one_history(height)


def test_a_heartbeat_at_the_largest_term_in_range_does_not_end_elections(
        net: AttackNet) -> None:
    net.heal()
    net.converged(net.commit())
    for target, (code, details) in heartbeats(net, TERM_BOUND - 1).items():
        assert code in ANSWERS, f"{target} answered {code.name}: {details}"
    net.leader()
    height = net.assert_serving()
    net.assert_one_history(height)


def test_after_the_attack_every_validator_restarts_and_a_leader_is_elected(
        net: AttackNet) -> None:
    net.assert_alive()
    net.stop(*net.validators)
    net.start(*net.validators)
    net.leader()
    assert_terms_bounded(net)
    height = net.assert_serving()
    net.assert_one_history(height)

"""Terms and indexes near 2**64 in every Raft message type, sent to the leader by another
validator's key (issue 9: every field that crosses a process boundary is range-checked).

Messages of the current term whose indexes point past the leader's log are refused or
ignored; messages whose term is 2**62 or more are refused naming the term. Either way the
leader keeps leading in the same term and commits. The largest term in range, 2**62-1, may
be refused or taken, but the cluster still elects a leader and commits afterwards.
"""

from __future__ import annotations

import grpc
from attack_net import MT, AttackNet, assert_refused, assert_refused_or_ignored, raft
from tdx.v1 import raft_pb2

HUGE = (2**62, 2**63, 2**64 - 1)
ALLOWED = {grpc.StatusCode.INVALID_ARGUMENT: ("index", "commit", "term", "hint", "range"),
           grpc.StatusCode.PERMISSION_DENIED: ("lead", "term")}
EVERY_TYPE = [value for name, value in raft_pb2.MessageType.items()
              if name != "MESSAGE_TYPE_UNSPECIFIED"]


def leader_and_term(net: AttackNet) -> tuple[str, int]:
    net.heal()
    leader = net.leader()
    net.converged(net.commit())
    return leader, net.status(leader).term


def assert_still_leading(net: AttackNet, leader: str, term: int) -> None:
    """The same leader in the same term, committing; everyone in step."""
    net.assert_alive(after="the messages")
    height = net.commit()
    status = net.status(leader)
    assert (status.leader, status.term) == (leader, term), (
        f"leader {status.leader} in term {status.term}, was {leader} in term {term}")
    net.converged(height)
    net.assert_one_history(height)


def index_shapes(index: int) -> list[tuple[str, int, dict[str, int | bool]]]:
    """Messages of the current term whose index fields say ``index``."""
    return [
        ("APPEND_RESPONSE", MT.MESSAGE_TYPE_APPEND_RESPONSE, {"index": index}),
        ("APPEND_RESPONSE reject", MT.MESSAGE_TYPE_APPEND_RESPONSE,
         {"index": index, "reject": True, "reject_hint": index}),
        ("HEARTBEAT_RESPONSE", MT.MESSAGE_TYPE_HEARTBEAT_RESPONSE, {"commit": index}),
        ("READ_INDEX_RESPONSE", MT.MESSAGE_TYPE_READ_INDEX_RESPONSE, {"index": index}),
        ("VOTE", MT.MESSAGE_TYPE_VOTE, {"index": index, "log_term": index}),
        ("PRE_VOTE", MT.MESSAGE_TYPE_PRE_VOTE, {"index": index, "log_term": index}),
        ("VOTE_RESPONSE", MT.MESSAGE_TYPE_VOTE_RESPONSE, {"index": index}),
        ("PRE_VOTE_RESPONSE", MT.MESSAGE_TYPE_PRE_VOTE_RESPONSE, {"index": index}),
    ]


def test_current_term_messages_with_indexes_past_the_leaders_log(net: AttackNet) -> None:
    leader, term = leader_and_term(net)
    sender = net.followers(leader)[0]
    last = net.status(leader).commit_index
    answers = {}
    for index in (last + 1000, *HUGE):
        for shape, kind, fields in index_shapes(index):
            message = raft(kind, sender, leader, term=term, **fields)
            answers[(shape, index)] = net.send(sender, leader, [message])
            net.assert_alive(leader, after=f"{shape} with index {index}")
    for answer in answers.values():
        assert_refused_or_ignored(answer, ALLOWED)
    assert_still_leading(net, leader, term)


def test_huge_terms_in_every_message_type_are_refused(net: AttackNet) -> None:
    leader, term = leader_and_term(net)
    sender = net.followers(leader)[0]
    last = net.status(leader).commit_index
    answers = {}
    for huge in HUGE:
        for kind in EVERY_TYPE:
            message = raft(kind, sender, leader, term=huge, log_term=term, index=last)
            answers[(raft_pb2.MessageType.Name(kind), huge)] = net.send(sender, leader,
                                                                        [message])
    for (kind_name, huge), answer in answers.items():
        assert answer[0] != grpc.StatusCode.OK, f"the leader took {kind_name} at term {huge}"
        assert_refused(answer, grpc.StatusCode.INVALID_ARGUMENT, "term")
    assert_still_leading(net, leader, term)


def test_the_largest_term_in_range_in_every_message_type_does_not_end_elections(
        net: AttackNet) -> None:
    leader, term = leader_and_term(net)
    sender = net.followers(leader)[0]
    last = net.status(leader).commit_index
    for kind in EVERY_TYPE:
        message = raft(kind, sender, leader, term=2**62 - 1, log_term=term, index=last)
        code, details = net.send(sender, leader, [message])
        assert code in (grpc.StatusCode.OK, *ALLOWED), f"{code.name}: {details}"
    net.assert_alive(after="the messages")
    net.leader()
    height = net.assert_serving()
    net.assert_one_history(height)

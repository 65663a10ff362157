"""Attack 3 of issue 9: an APPEND whose index lies far past the end of the receiver's log.

(a) Signed by the current leader's own key at the current term: the follower answers (the
batch is taken or refused), keeps running and stays in step. (b) From a validator that is
not the leader, with term+1, to a follower and to the leader: refused because the sender
did not win that term (PERMISSION_DENIED naming the leader), and nothing changes.
"""

from __future__ import annotations

import grpc
from attack_net import MT, REFUSALS, AttackNet, assert_refused, raft
from tdx.v1 import raft_pb2

GAP = 1000


def gap_append(sender: str, to: str, term: int, log_term: int,
               last: int) -> raft_pb2.RaftMessage:
    """An APPEND of one entry at ``last + GAP + 1``, claiming to follow ``last + GAP``."""
    entry = raft_pb2.Entry(term=term, index=last + GAP + 1,
                           type=raft_pb2.ENTRY_TYPE_NORMAL, data=b"")
    return raft(MT.MESSAGE_TYPE_APPEND, sender, to, term=term, log_term=log_term,
                index=last + GAP, commit=last + GAP + 1, entries=[entry])


def test_append_past_the_log_end_signed_by_the_leader_key(net: AttackNet) -> None:
    net.heal()
    leader = net.leader()
    net.converged(net.commit())
    target = net.followers(leader)[0]
    status = net.status(target)
    # log_term 0 is what the term of an index past the end looked like to the follower.
    for log_term in (0, status.term):
        message = gap_append(leader, target, status.term, log_term, status.commit_index)
        code, details = net.send(leader, target, [message])
        assert code == grpc.StatusCode.OK or code in REFUSALS, f"{code.name}: {details}"
        net.commit()
        net.assert_alive(target, after=f"an APPEND past its log end (log_term {log_term})")
    height = net.assert_serving()
    net.assert_one_history(height)


def test_append_with_a_higher_term_from_a_non_leader_is_refused(net: AttackNet) -> None:
    net.heal()
    leader = net.leader()
    net.converged(net.commit())
    sender, follower = net.followers(leader)
    for target in (follower, leader):
        status = net.status(target)
        message = gap_append(sender, target, status.term + 1, status.term, status.commit_index)
        assert_refused(net.send(sender, target, [message]), grpc.StatusCode.PERMISSION_DENIED,
                       "lead")
        net.commit()
        net.assert_alive(target, after=f"an APPEND with term+1 from non-leader {sender}")
    height = net.assert_serving()
    net.assert_one_history(height)

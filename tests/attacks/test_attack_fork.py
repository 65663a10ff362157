"""Attack 4 of issue 9: a validator that is not the leader sends a follower one APPEND at
the current term, carrying a forged block at the next index and a commit index covering it.

It is refused (PERMISSION_DENIED: the sender does not lead this term), and afterwards every
node holds identical block hashes at every height.
"""

from __future__ import annotations

import time

import grpc
from attack_net import MT, AttackNet, assert_refused, raft
from tdx.sdk import documents_pb2, ledger_pb2
from tdx.v1 import raft_pb2


def test_a_non_leader_cannot_fork_a_follower(net: AttackNet) -> None:
    leader = net.leader()
    net.converged(net.commit())
    forger, target = net.followers(leader)
    status = net.status(target)
    last = status.commit_index
    junk = documents_pb2.Envelope(body=b"forged block", signer=net.identity(forger).public_key,
                                  signature=bytes(64))
    proposal = ledger_pb2.BlockProposal(envelopes=[junk], proposer=forger,
                                        proposed_ms=int(time.time() * 1000))
    entry = raft_pb2.Entry(term=status.term, index=last + 1, type=raft_pb2.ENTRY_TYPE_NORMAL,
                           data=proposal.SerializeToString())
    append = raft(MT.MESSAGE_TYPE_APPEND, forger, target, term=status.term,
                  log_term=status.term, index=last, commit=last + 1, entries=[entry])
    assert_refused(net.send(forger, target, [append]), grpc.StatusCode.PERMISSION_DENIED,
                   "lead")
    height = net.commit(3)
    final = net.converged(height)
    net.assert_one_history(final.height)

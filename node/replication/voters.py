"""Who speaks Raft with a validator, and how Raft's voters follow the validators that
governance decides, one server at a time."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from tdx.consensus import ConfChange, ConfChangeType, ProposalDroppedError, RawNode, Status
from tdx.node.replication.seams import StateMachine
from tdx.v1 import documents_pb2

log = logging.getLogger("tdx.node.replication.voters")

CAUGHT_UP_ENTRIES = 100
"""A learner this close to the leader's last index is promoted to voter."""
CHANGE_SECONDS = 0.5
"""Attempts to propose a membership change are at least this far apart."""


def voter_change(status: Status, validators: set[str]) -> ConfChange | None:
    """The next single-server change that brings Raft's members closer to ``validators``.

    Order: promote a caught-up learner, add a missing validator as a learner, remove a
    member that is no longer a validator (the leader itself last, so that it hands over
    first). None when Raft already matches.
    """
    conf = status.conf_state
    voters, learners = set(conf.voters), set(conf.learners)
    for learner in sorted(learners & validators):
        progress = status.progress.get(learner)
        if progress is not None and progress.match + CAUGHT_UP_ENTRIES >= status.last_index:
            return ConfChange(ConfChangeType.ADD_VOTER, learner)
    for missing in sorted(validators - voters - learners):
        return ConfChange(ConfChangeType.ADD_LEARNER, missing)
    for gone in sorted((voters | learners) - validators, key=lambda n: n == status.id):
        return ConfChange(ConfChangeType.REMOVE, gone)
    return None


class Voters:
    """A validator's view of who votes: the peers it admits, the voter sets it believes in,
    and (on the leader) the next membership change to propose.

    ``pinned`` are the validators recorded at ``init --join --from``: a joining node trusts
    them until its ledger knows them (it learns of them by replaying governance decisions).
    """

    def __init__(self, machine: StateMachine, node: RawNode,
                 pinned: Sequence[documents_pb2.MemberRecord] = ()) -> None:
        self._machine = machine
        self._node = node
        self.pinned: list[documents_pb2.MemberRecord] = list(pinned)
        self._known: dict[str, documents_pb2.MemberRecord] = {
            v.id: v for v in machine.validators}
        self._next_change = 0.0

    def peer_validators(self) -> list[documents_pb2.MemberRecord]:
        """Who may speak PeerService to this node: the ledger's validators, and any member
        still in Raft's configuration that governance has just removed (until Raft removes
        it too; refusing it earlier could leave the leader without a quorum to commit the
        removal)."""
        current = self._machine.validators
        for record in current:
            self._known[record.id] = record
        ids = {v.id for v in current}
        current = [*current, *(v for v in self.pinned if v.id not in ids
                               and self._machine.member(v.id) is None)]
        ids = {v.id for v in current}
        conf = self._node.conf_state()
        leaving = [self._known[n] for n in sorted({*conf.voters, *conf.learners})
                   if n not in ids and n in self._known]
        return [*current, *leaving]

    def voter_sets(self) -> list[list[str]]:
        """The voter sets this node believes in, for checking election proofs: Raft's
        configuration, and the validators governance decided (which Raft may trail)."""
        conf = self._node.conf_state()
        return [list(conf.voters), [v.id for v in self._machine.validators],
                [v.id for v in self.pinned]]

    def propose_change(self) -> bool:
        """On the leader: propose one step of Raft's membership toward the validators;
        return whether a change was proposed.

        Governance decides who validates; Raft follows, one server at a time: a new
        validator joins as a learner, becomes a voter once it has caught up, and a validator
        that governance removed is removed. At most one change is in flight, and attempts
        are spaced out.
        """
        now = time.monotonic()
        if now < self._next_change:
            return False
        self._next_change = now + CHANGE_SECONDS
        change = voter_change(self._node.status(), {v.id for v in self._machine.validators})
        if change is None:
            return False
        try:
            self._node.propose_conf_change(change)
        except (ProposalDroppedError, ValueError) as exc:
            log.debug("membership change %s %s not proposed: %s", change.type.name,
                      change.node_id, exc)
            return False
        log.info("proposing membership change: %s %s", change.type.name, change.node_id)
        return True

"""Membership changes, one server at a time, as a pure function on ``ConfState``.

Raft here follows the dissertation (section 4.1) rather than etcd's apply-time rule: a node
uses the newest configuration *in its log*, committed or not, from the moment the conf change
entry is appended, and falls back to the previous one if that entry is truncated. Because each
change adds or removes a single voter, any quorum of the old configuration intersects any quorum
of the new one, so two leaders can never be elected in one term. A leader appends a new change
only once the previous one is applied and it has committed an entry of its own term (see
``Raft._propose_as_leader``), which closes the gap described in Ongaro's 2015 raft-dev post.
"""

from __future__ import annotations

from tdx.consensus.messages import ConfChange, ConfChangeType, ConfState


def apply_change(conf: ConfState, change: ConfChange) -> ConfState:
    """The configuration after ``change``; adding a present member or removing an absent one
    changes nothing, so replaying a change is harmless.

    ``ADD_VOTER`` adds a voter or promotes a learner; ``ADD_LEARNER`` adds a learner or demotes
    a voter; ``REMOVE`` removes either. Raises ``ValueError`` for an unknown type or empty id.
    """
    if not change.node_id:
        raise ValueError("a conf change must name a node")
    voters = set(conf.voters)
    learners = set(conf.learners)
    node = change.node_id
    if change.type is ConfChangeType.ADD_VOTER:
        learners.discard(node)
        voters.add(node)
    elif change.type is ConfChangeType.ADD_LEARNER:
        voters.discard(node)
        learners.add(node)
    elif change.type is ConfChangeType.REMOVE:
        voters.discard(node)
        learners.discard(node)
    else:
        raise ValueError(f"unknown conf change type {change.type!r}")
    return ConfState(voters=tuple(sorted(voters)), learners=tuple(sorted(learners)))

"""How Raft's voters follow the validators that governance decides, one server at a time."""

from __future__ import annotations

from tdx.consensus import ConfChange, ConfChangeType, Status

CAUGHT_UP_ENTRIES = 100
"""A learner this close to the leader's last index is promoted to voter."""


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

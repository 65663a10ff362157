"""Majority math over a set of voters, apart from the rest of Raft so it can be read alone.

A quorum is any majority of the voters: ``len(voters) // 2 + 1`` of them. Any two quorums of one
configuration intersect, and because membership changes one server at a time, a quorum of the
old configuration and a quorum of the new one intersect too; Raft's safety rests on that.
Learners are never passed in here: they do not vote and do not count towards commitment.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import Enum


class VoteResult(Enum):
    """The outcome of an election (or any yes/no poll) so far."""

    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def majority(voter_count: int) -> int:
    """How many of ``voter_count`` voters make a quorum."""
    return voter_count // 2 + 1


def committed_index(voters: Collection[str], match: Mapping[str, int]) -> int:
    """The highest index that a quorum of ``voters`` has acknowledged (``match`` per voter).

    A voter missing from ``match`` counts as having acknowledged nothing. With no voters the
    result is 0: nothing can commit in an empty configuration.
    """
    if not voters:
        return 0
    acked = sorted((match.get(v, 0) for v in voters), reverse=True)
    return acked[majority(len(acked)) - 1]


def vote_result(voters: Collection[str], votes: Mapping[str, bool]) -> VoteResult:
    """WON once a quorum of ``voters`` said yes, LOST once a quorum can no longer say yes.

    Votes from nodes outside ``voters`` are ignored.
    """
    if not voters:
        return VoteResult.WON
    granted = sum(1 for v in voters if votes.get(v) is True)
    missing = sum(1 for v in voters if v not in votes)
    needed = majority(len(voters))
    if granted >= needed:
        return VoteResult.WON
    if granted + missing >= needed:
        return VoteResult.PENDING
    return VoteResult.LOST

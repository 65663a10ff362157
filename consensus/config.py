"""The settings of one Raft node."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Config:
    """How one node runs Raft. Times are in ticks: the host decides how long a tick is.

    - ``election_tick``: a follower that hears no leader for a randomized timeout in
      ``[election_tick, 2 * election_tick)`` starts an election. Must exceed ``heartbeat_tick``.
    - ``heartbeat_tick``: a leader sends heartbeats this often.
    - ``pre_vote``: a node first asks whether it could win (without raising its term), so a
      node that was partitioned away cannot disrupt a healthy cluster when it returns.
    - ``check_quorum``: a leader that has not heard from a quorum within an election timeout
      steps down, and a follower that heard from a live leader within that time ignores vote
      requests (a lease that keeps a rejoining node from deposing it).
    - ``max_size_per_msg``: bytes of entries per append message (batching); ``None`` means
      unlimited, ``0`` means one entry per message.
    - ``max_inflight_msgs``: appends in flight to one follower (pipelining and flow control).
    - ``max_committed_size_per_ready``: bytes of committed entries per ``Ready`` (``None``:
      all of them).
    - ``rng``: the source of randomized election timeouts; seed it for determinism.
    - ``applied``: on restart, the last index the host's state machine has applied; the host
      is handed committed entries after it.
    - ``disable_proposal_forwarding``: followers drop proposals instead of forwarding them to
      the leader (``propose`` then raises ``ProposalDroppedError``).
    """

    id: str
    election_tick: int = 10
    heartbeat_tick: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_size_per_msg: int | None = 1024 * 1024
    max_inflight_msgs: int = 256
    max_committed_size_per_ready: int | None = None
    rng: random.Random = field(default_factory=random.Random)
    applied: int = 0
    disable_proposal_forwarding: bool = False

    def validate(self) -> None:
        """Raise ``ValueError`` if the settings cannot work."""
        if not self.id:
            raise ValueError("a node id must not be empty")
        if self.heartbeat_tick <= 0:
            raise ValueError("heartbeat_tick must be positive")
        if self.election_tick <= self.heartbeat_tick:
            raise ValueError("election_tick must be greater than heartbeat_tick")
        if self.max_inflight_msgs <= 0:
            raise ValueError("max_inflight_msgs must be positive")
        if self.applied < 0:
            raise ValueError("applied must not be negative")

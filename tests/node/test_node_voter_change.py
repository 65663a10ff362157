"""voter_change: Raft membership follows the ledger's validators one server at a time."""

from __future__ import annotations

from tdx.consensus import ConfChangeType, ConfState, HardState, PeerProgress, SoftState, Status
from tdx.consensus.progress import ProgressState
from tdx.consensus.raft import StateRole
from tdx.node.replication.voters import CAUGHT_UP_ENTRIES, voter_change


def _status(voters: list[str], learners: list[str] = (), match: dict[str, int] | None = None,
            last: int = 1000, me: str = "a") -> Status:
    progress = {n: PeerProgress(match=(match or {}).get(n, last), next=last + 1,
                                state=ProgressState.REPLICATE, is_learner=n in learners)
                for n in [*voters, *learners]}
    return Status(id=me, hard_state=HardState(term=2, commit=last),
                  soft_state=SoftState(leader=me, role=StateRole.LEADER), applied=last,
                  last_index=last, conf_state=ConfState(tuple(voters), tuple(learners)),
                  progress=progress)


def test_nothing_to_do_when_raft_matches_the_ledger() -> None:
    assert voter_change(_status(["a", "b", "c"]), {"a", "b", "c"}) is None


def test_a_new_validator_joins_as_a_learner_first() -> None:
    change = voter_change(_status(["a", "b", "c"]), {"a", "b", "c", "d"})
    assert change is not None
    assert (change.type, change.node_id) == (ConfChangeType.ADD_LEARNER, "d")


def test_a_learner_is_promoted_only_once_caught_up() -> None:
    behind = _status(["a", "b", "c"], ["d"], match={"d": 1000 - CAUGHT_UP_ENTRIES - 1})
    assert voter_change(behind, {"a", "b", "c", "d"}) is None
    caught_up = _status(["a", "b", "c"], ["d"], match={"d": 990})
    change = voter_change(caught_up, {"a", "b", "c", "d"})
    assert change is not None
    assert (change.type, change.node_id) == (ConfChangeType.ADD_VOTER, "d")


def test_a_removed_validator_leaves_and_the_leader_goes_last() -> None:
    change = voter_change(_status(["a", "b", "c", "d"]), {"b", "c"})
    assert change is not None
    assert (change.type, change.node_id) == (ConfChangeType.REMOVE, "d")
    last = voter_change(_status(["a", "b", "c"]), {"b", "c"})
    assert last is not None and (last.type, last.node_id) == (ConfChangeType.REMOVE, "a")

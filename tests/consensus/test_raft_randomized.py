"""Randomized runs over many seeds: random cluster settings, faults, crashes, partitions,
membership changes, leadership transfers and reads, with every safety property checked on
every step. ``TDX_RAFT_SEEDS=N`` runs N seeds (default 200); a failure names its seed, and
``TDX_RAFT_SEED=S`` replays that one seed alone. ``TDX_RAFT_ROUNDS=R`` makes each run longer
(default 200 rounds of a few ticks each).

The last tests break the core on purpose and make sure the harness notices: checks that can
never fail would prove nothing.
"""

from __future__ import annotations

import os
import random

import pytest
from raft_sim import (
    Cluster,
    Faults,
    SafetyViolation,
    add_learner,
    add_voter,
    figure8_rounds,
    remove,
)
from tdx.consensus.log import RaftLog

DEFAULT_SEEDS = 200
DEFAULT_ROUNDS = 200


def _seeds() -> list[int]:
    if "TDX_RAFT_SEED" in os.environ:
        return [int(os.environ["TDX_RAFT_SEED"])]
    return list(range(int(os.environ.get("TDX_RAFT_SEEDS", DEFAULT_SEEDS))))


def random_cluster(seed: int) -> Cluster:
    """A cluster with settings drawn from ``seed``: size, faults, batching, flow control,
    snapshots, pre-vote and check-quorum."""
    rng = random.Random(f"settings/{seed}")
    faults = Faults(
        drop=rng.choice([0.0, 0.05, 0.2]),
        duplicate=rng.choice([0.0, 0.05]),
        max_delay=rng.choice([2, 10, 30]),
        crash_mid_ready=rng.choice([0.0, 0.0, 0.003]),
    )
    check_quorum = rng.random() < 0.7
    return Cluster(
        rng.choice([3, 3, 5, 5, 7]),
        seed=seed,
        spares=rng.choice([0, 0, 1]),
        faults=faults,
        pre_vote=rng.random() < 0.7,
        check_quorum=check_quorum,
        max_size_per_msg=rng.choice([0, 100, 4096, None]),
        max_inflight_msgs=rng.choice([1, 4, 64]),
        snapshot_every=rng.choice([None, 5, 20]),
        snapshot_keep=rng.choice([0, 3]),
    )


def random_run(seed: int, rounds: int = DEFAULT_ROUNDS) -> Cluster:
    """Drive a random cluster through ``rounds`` rounds of client load and faults, then heal
    everything and require the cluster to converge."""
    cluster = random_cluster(seed)
    rng = random.Random(f"schedule/{seed}")
    ids = sorted(cluster.nodes)
    spares = [n for n in ids if not cluster.nodes[n].storage.last_index()]
    changes = []
    for spare in spares:
        changes += [add_learner(spare), add_voter(spare), remove(rng.choice(ids[:3]))]
    for round_ in range(rounds):
        for _ in range(rng.randint(0, 3)):
            cluster.propose(f"{seed}/{round_}/{rng.random()}".encode(), via=rng.choice(ids))
        if rng.random() < 0.2:
            reader = rng.choice(ids)
            if cluster.nodes[reader].alive:
                cluster.read_index(reader, f"read/{round_}".encode())
        cluster.disturb(rng)
        if rng.random() < 0.03 and cluster.leader() is not None:
            cluster.transfer_leader(rng.choice(ids))
        if rng.random() < 0.07 and changes and cluster.propose_conf_change(changes[0]):
            changes.pop(0)
        cluster.run(rng.randint(1, 4))
    cluster.converge(max_ticks=3000)
    return cluster


@pytest.mark.parametrize("seed", _seeds())
def test_random_faults_keep_raft_safe(seed: int) -> None:
    """Safety under random faults (all properties, every step) and liveness once healed."""
    cluster = random_run(seed, int(os.environ.get("TDX_RAFT_ROUNDS", DEFAULT_ROUNDS)))
    assert cluster.max_committed > 0, f"nothing committed (seed={seed})"


def test_harness_detects_votes_for_stale_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Self-test: with the election restriction (5.4.1) removed, the checks catch a leader
    lacking committed entries."""
    monkeypatch.setattr(RaftLog, "is_up_to_date", lambda self, index, term: True)
    with pytest.raises(SafetyViolation, match=r"leader completeness|state machine safety"):
        for seed in range(10):
            cluster = Cluster(5, seed=seed)
            cluster.wait_leader()
            figure8_rounds(cluster, random.Random(seed), rounds=300)


def test_harness_detects_commit_of_earlier_term_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Self-test: with the Figure 8 rule removed (counting replicas of old-term entries), the
    Figure 8 schedule with one entry per message and message loss loses a committed entry."""

    def commit_any_term(self: RaftLog, index: int, term: int) -> bool:
        if index > self.committed:
            self.commit_to(index)
            return True
        return False

    monkeypatch.setattr(RaftLog, "maybe_commit", commit_any_term)
    cluster = Cluster(5, seed=4, faults=Faults(drop=0.2, max_delay=10), max_size_per_msg=0)
    cluster.wait_leader(max_ticks=200)
    with pytest.raises(SafetyViolation, match=r"leader completeness|state machine safety"):
        figure8_rounds(cluster, random.Random(4), rounds=500)

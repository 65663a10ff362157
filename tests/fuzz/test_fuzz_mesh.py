"""Fuzz target: the libp2p mesh of a validator and an observer, attacked by a member.

A member's own mesh (in this process) publishes random and edited messages on every
gossip topic (block announcements, IP-rights alerts, relayed documents whose envelopes
carry no valid signature), asks both nodes for random block ranges, and serves junk blocks
(random bytes, edited real blocks, real blocks at the wrong height) to the observer, which
fetches from it when it announces a height the observer lacks.

Invariants: both nodes keep running; served block ranges are consecutive real blocks from
the height asked; nothing enters the validator's ledger; afterwards a document committed at
the validator reaches the observer, and both hold the same blocks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fuzz_strategies import envelopes, integers, mutated
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from meshnet import VALIDATOR, Attacker, MeshNetwork, attacker, mesh_network
from tdx.network import MeshError
from tdx.sdk import Client, ledger_pb2
from tdx.v1 import mesh_pb2

OBSERVER = "watcher"
ATTACKER = "acme-trading"
FUZZ = settings(max_examples=1200, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def mesh_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshNetwork]:
    """A validator and an observer, both with a mesh."""
    with mesh_network(tmp_path_factory.mktemp("mesh"), observers=[OBSERVER]) as net:
        yield net


@pytest.fixture
def member_mesh(mesh_net: MeshNetwork) -> Iterator[Attacker]:
    """A member's mesh, connected to both nodes."""
    with attacker(mesh_net, ATTACKER, [VALIDATOR, OBSERVER]) as made:
        yield made


def check_served(blocks: list[bytes], start: int) -> None:
    """A served range: consecutive real blocks from ``start``."""
    for offset, raw in enumerate(blocks):
        header = ledger_pb2.BlockHeader.FromString(ledger_pb2.Block.FromString(raw).header)
        assert header.height == start + offset, f"asked from {start}, got {header.height}"


def test_fuzz_mesh(mesh_net: MeshNetwork, member_mesh: Attacker) -> None:
    members = list(mesh_net.members.values())
    seeds = [(mesh_net.envelope(kind, who), mesh_net.members[who])
             for kind, who in (("ip_rights_alert", "aquaflow"), ("invoice", ATTACKER),
                               ("export_declaration", VALIDATOR))]
    mesh_net.commit()
    height = mesh_net.converged(1)
    with Client(mesh_net.api(VALIDATOR)) as client:
        real = [client.get_block(h).SerializeToString() for h in range(1, height + 1)]
    near = [0, 1, height - 1, height, height + 1, height + 2]
    bad_envelopes = envelopes(seeds, members, resign=False)
    announcement = st.builds(mesh_pb2.BlockAnnouncement, height=integers(64, False, near),
                             block_hash=st.binary(max_size=40))
    gossip = st.one_of(
        st.tuples(st.just("blocks"), st.one_of(
            announcement.map(lambda a: a.SerializeToString()),
            announcement.map(lambda a: a.SerializeToString()).flatmap(mutated))),
        st.tuples(st.just("alerts"), st.one_of(
            bad_envelopes.map(lambda e: e.SerializeToString()),
            st.just(seeds[0][0].SerializeToString()).flatmap(mutated))),
        st.tuples(st.just("documents"), st.lists(bad_envelopes, max_size=4).map(
            lambda es: ledger_pb2.SubmitBatchRequest(envelopes=es).SerializeToString())),
        st.tuples(st.sampled_from(["blocks", "alerts", "documents"]), st.binary(max_size=512)))
    starts = integers(64, False, near).map(lambda s: min(s, 2**64 - 2))
    fetch = st.tuples(st.sampled_from([VALIDATOR, OBSERVER]), starts,
                      st.integers(1, 400)).map(lambda t: (t[0], t[1], min(2**64 - 1,
                                                                            t[1] + t[2])))
    junk = st.lists(st.one_of(st.binary(max_size=200), st.sampled_from(real),
                              st.sampled_from(real).flatmap(mutated)), min_size=1, max_size=4)
    seen: Counter[str] = Counter()

    @FUZZ
    @given(st.one_of(
        st.tuples(st.just("gossip"), gossip),
        st.tuples(st.just("fetch"), fetch),
        st.tuples(st.just("serve"), st.tuples(junk, st.integers(1, 10**6)))))
    def fuzz(attack: tuple[str, Any]) -> None:
        what, detail = attack
        if what == "gossip":
            topic, data = detail
            member_mesh.publish(topic, data)
        elif what == "fetch":
            node, start, end = detail
            try:
                blocks = member_mesh.run(member_mesh.mesh.fetch_blocks(
                    mesh_net.members[node].public_key, start, end))
            except MeshError as exc:
                seen[f"fetch {type(exc).__name__}"] += 1
            else:
                check_served(blocks, start)
        else:
            member_mesh.junk, ahead = detail
            # The observer fetches from whoever announces a height it lacks.
            member_mesh.publish("blocks", mesh_pb2.BlockAnnouncement(
                height=height + ahead).SerializeToString())
        seen[what] += 1
        mesh_net.assert_alive()

    fuzz()
    print(sorted(seen.items()))
    assert sum(seen[w] for w in ("gossip", "fetch", "serve")) >= FUZZ.max_examples, seen
    mesh_net.assert_alive()
    assert mesh_net.status(VALIDATOR).height == height, "the mesh fuzz changed the ledger"
    final = mesh_net.converged(mesh_net.commit())
    assert mesh_net.block_hashes(OBSERVER, final) == mesh_net.block_hashes(VALIDATOR, final)

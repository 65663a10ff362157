"""An observer following over the mesh trusts no single peer."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from node_factories import new_ledger, proposal, sealed, signer
from tdx.node.replication.clients import ClientPool
from tdx.node.replication.follower import Follower
from tdx.node.state.ledger import AppliedBlock, Ledger
from tdx.sdk import block_hash, ledger_pb2


class StubMesh:
    """The parts of tdx.network.Mesh the follower uses, serving fixed blocks."""

    def __init__(self, blocks: dict[bytes, list[bytes]]) -> None:
        self.blocks = blocks
        self.disconnected: list[bytes] = []

    async def fetch_blocks(self, public_key: bytes, start: int, end: int) -> list[bytes]:
        return self.blocks[public_key][start - 1:end - 1]

    async def disconnect(self, public_key: bytes) -> None:
        self.disconnected.append(public_key)


class StubLink:
    """The parts of node.mesh.MeshLink the follower uses."""

    def __init__(self, mesh: StubMesh) -> None:
        self.mesh = mesh
        self.on_announcement: Any = None

    def connected_peers(self) -> list[bytes]:
        return list(self.mesh.blocks)

    def validator_peers(self) -> list[bytes]:
        return []

    def status(self) -> list[ledger_pb2.PeerStatus]:
        return []


def _certified_chain(source: Ledger, count: int) -> list[ledger_pb2.Block]:
    """Blocks applied by ``source`` and signed by all three validators of the genesis."""
    blocks = []
    for height in range(1, count + 1):
        applied = source.apply(proposal([sealed("invoice", height)]), 2, height,
                               sign=signer("de-customs"))
        assert applied is not None
        block = applied.block
        for validator in ("nl-customs", "fr-customs"):
            block.signatures.append(signer(validator)(block_hash(block.header)))
        blocks.append(block)
    return blocks


def test_a_peer_serving_a_block_that_does_not_verify_is_disconnected(tmp_path: Path) -> None:
    """The liar's block is certified (validators signed its header) but its envelopes were
    swapped: re-executing it gives another hash, so it is refused, the liar disconnected,
    and the honest peer's blocks are taken."""
    source = new_ledger(tmp_path / "source")
    observer = new_ledger(tmp_path / "observer")
    try:
        honest = _certified_chain(source, 3)
        forged = ledger_pb2.Block()
        forged.CopyFrom(honest[1])
        del forged.envelopes[:]
        forged.envelopes.append(sealed("invoice", 99))
        liar, good = b"L" * 32, b"G" * 32
        mesh = StubMesh({
            liar: [honest[0].SerializeToString(), forged.SerializeToString()],
            good: [b.SerializeToString() for b in honest],
        })
        applied: list[AppliedBlock] = []

        async def run() -> None:
            with ThreadPoolExecutor(max_workers=1) as executor:
                follower = Follower(observer, executor, applied.append, "watcher",
                                    StubLink(mesh), clients=ClientPool())  # type: ignore[arg-type]
                assert await follower._fetch_from(liar)
                assert mesh.disconnected == [liar]
                assert observer.height == 1
                assert await follower._fetch_from(good)

        asyncio.run(run())
        assert observer.height == 3
        assert observer.last_hash == source.last_hash
        assert [a.height for a in applied] == [1, 2, 3]
    finally:
        source.store.close()
        observer.store.close()


def test_uncertified_blocks_wait_and_nobody_is_disconnected(tmp_path: Path) -> None:
    source = new_ledger(tmp_path / "source")
    observer = new_ledger(tmp_path / "observer")
    try:
        applied = source.apply(proposal([sealed("invoice", 1)]), 2, 1, sign=signer())
        assert applied is not None
        peer = b"P" * 32
        mesh = StubMesh({peer: [applied.block.SerializeToString()]})

        async def run() -> None:
            with ThreadPoolExecutor(max_workers=1) as executor:
                follower = Follower(observer, executor, lambda _: None, "watcher",
                                    StubLink(mesh), clients=ClientPool())  # type: ignore[arg-type]
                assert not await follower._fetch_from(peer)

        asyncio.run(run())
        assert observer.height == 0 and mesh.disconnected == []
    finally:
        source.store.close()
        observer.store.close()

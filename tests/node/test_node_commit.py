"""The commit path of a single validator: RaftDriver orders a batch through tdx.consensus,
persists the Raft entry, applies the block, and re-applies after a crash what was
persisted but never applied. No sockets: the peer transport is a stub (one voter sends
nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from node_factories import PROPOSED_MS, proposal, sealed, signer
from sdk_factories import make_genesis
from tdx.consensus import Entry, EntryType, HardState, StateRole, bootstrap_entries
from tdx.node.replication.clients import ClientPool
from tdx.node.replication.driver import RaftDriver
from tdx.node.replication.seams import Inbox
from tdx.node.replication.storage import RaftStore
from tdx.node.replication.wire import entry_to_pb
from tdx.node.state.ledger import AppliedBlock, Ledger
from tdx.node.state.store import Prefix, Store, u64
from tdx.node.state.workflows import EFFECTS
from tdx.sdk import document_id, ledger_pb2


class StubTransport:
    """A Transport (seams.Transport) for a network of one voter."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.signatures: list[tuple[int, ledger_pb2.BlockSignature]] = []
        self.won_terms: list[int] = []
        self.inbox: Inbox | None = None

    def attach(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def send(self, messages: list[Any]) -> None:
        self.sent.extend(messages)

    def broadcast_signature(self, height: int, signature: ledger_pb2.BlockSignature) -> None:
        self.signatures.append((height, signature))

    def status(self) -> dict[str, tuple[str, bool]]:
        return {}

    def won(self, term: int) -> None:
        self.won_terms.append(term)

    async def close(self) -> None:
        return None


def solo_store(path: Path) -> Store:
    """A store initialized as `tdx node init` does for the only validator, de-customs."""
    genesis = make_genesis(("de-customs", "acme-trader", "watcher"))
    store = Store(path, create=True)
    Ledger.initialize(store, genesis)
    founding = bootstrap_entries(["de-customs"])
    RaftStore(store).save(founding, HardState(term=1, commit=len(founding)), None)
    return store


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def with_driver(store: Store, body: Callable[[RaftDriver, list[AppliedBlock]], Awaitable[None]],
                ) -> tuple[Ledger, StubTransport]:
    ledger = Ledger(store, EFFECTS)
    transport = StubTransport()
    applied: list[AppliedBlock] = []

    async def main() -> None:
        with ThreadPoolExecutor(max_workers=1) as executor:
            driver = RaftDriver(member_id="de-customs", store=store, ledger=ledger,
                                raft=RaftStore(store), transport=transport,
                                sign=signer(), on_applied=applied.append, executor=executor,
                                clients=ClientPool(), seed=7)
            driver.start()
            try:
                await until(lambda: driver.role is StateRole.LEADER)
                await body(driver, applied)
            finally:
                await driver.stop()

    asyncio.run(main())
    return ledger, transport


def test_order_persists_commits_and_applies_a_block(tmp_path: Path) -> None:
    store = solo_store(tmp_path / "ledger")
    envelopes = [sealed("invoice"), sealed("export_declaration")]

    async def body(driver: RaftDriver, applied: list[AppliedBlock]) -> None:
        outcomes = await driver.order(envelopes)
        ids = [document_id(e.body) for e in envelopes]
        assert sorted(outcomes) == sorted(ids)
        for pos, doc in enumerate(ids):
            receipt = outcomes[doc]
            assert isinstance(receipt, ledger_pb2.Receipt)
            assert (receipt.height, receipt.position) == (1, pos)
        assert [a.height for a in applied] == [1]
        assert driver.status().role == StateRole.LEADER.value

    try:
        ledger, transport = with_driver(store, body)
        assert ledger.height == 1
        block = ledger.block(1)
        assert block is not None and list(block.envelopes) == envelopes
        assert [s.validator for s in block.signatures] == ["de-customs"]
        assert [h for h, _ in transport.signatures] == [1]
        # The block's entry is in the Raft log, and the ledger applied up to it.
        raft = RaftStore(store)
        carried = [e for e in raft.entries(1, raft.last_index() + 1) if e.data and
                   e.type is EntryType.NORMAL]
        assert len(carried) == 1
        assert ledger_pb2.BlockProposal.FromString(carried[0].data).envelopes[:] == envelopes
        assert ledger.applied_index >= carried[0].index
    finally:
        store.close()


def test_restart_applies_entries_persisted_but_not_applied(tmp_path: Path) -> None:
    """A crash between persisting an entry and applying it: the next start applies it."""
    store = solo_store(tmp_path / "ledger")

    async def first_run(driver: RaftDriver, applied: list[AppliedBlock]) -> None:
        await driver.order([sealed("invoice")])

    try:
        ledger, _ = with_driver(store, first_run)
        assert ledger.height == 1
        raft = RaftStore(store)
        orphan_index = raft.last_index() + 1
        term = raft.hard_state.term
        data = proposal([sealed("packing_list"), sealed("invoice", nonce=5)])
        orphan = Entry(term=term, index=orphan_index, type=EntryType.NORMAL, data=data)
        store.write({Prefix.RAFT_LOG + u64(orphan_index): entry_to_pb(orphan).SerializeToString()})

        async def second_run(driver: RaftDriver, applied: list[AppliedBlock]) -> None:
            await until(lambda: driver.ledger.height == 2)
            assert [a.height for a in applied] == [2]

        again, _ = with_driver(store, second_run)
        block = again.block(2)
        assert block is not None
        header = ledger_pb2.BlockHeader.FromString(block.header)
        assert (header.raft_index, header.proposed_ms) == (orphan_index, PROPOSED_MS)
        assert again.record(document_id(sealed("packing_list").body)) is not None
    finally:
        store.close()

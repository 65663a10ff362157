"""Factories for the node unit tests: stores seeded with the shared genesis, proposals.

The members, genesis and sealed documents are those of tests/sdk/sdk_factories.py, so the
two suites speak of the same network; conftest.py puts that folder on sys.path.
"""

from __future__ import annotations

from pathlib import Path

from sdk_factories import CREATED_MS, NETWORK, identity, make_genesis, sealed
from tdx.node.server import block_signer
from tdx.node.state.ledger import Ledger, Signer
from tdx.node.state.store import Store
from tdx.node.state.workflows import EFFECTS
from tdx.sdk import documents_pb2, ledger_pb2

__all__ = ["NETWORK", "identity", "make_genesis", "new_ledger", "proposal", "sealed", "signer"]

PROPOSED_MS = CREATED_MS + 500


def new_ledger(path: Path, genesis: ledger_pb2.Genesis | None = None) -> Ledger:
    """A Ledger over a new store at ``path`` initialized with ``genesis`` (the shared one)."""
    store = Store(path, create=True)
    Ledger.initialize(store, genesis or make_genesis())
    return Ledger(store, EFFECTS)


def proposal(envelopes: list[documents_pb2.Envelope], proposed_ms: int = PROPOSED_MS,
             proposer: str = "de-customs") -> bytes:
    """The bytes of a Raft entry carrying a block proposal of ``envelopes``."""
    return ledger_pb2.BlockProposal(envelopes=envelopes, proposed_ms=proposed_ms,
                                    proposer=proposer).SerializeToString()


def signer(member: str = "de-customs") -> Signer:
    """The block signer of a validator, as the node makes it."""
    signing: Signer = block_signer(identity(member))
    return signing

"""Fixtures of the node unit tests: a store seeded with the shared genesis, and its ledger."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The node tests reuse the SDK tests' members and documents (tests/sdk/sdk_factories.py).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sdk"))

from node_factories import new_ledger
from sdk_factories import make_genesis
from tdx.node.state.ledger import Ledger
from tdx.node.state.store import Store
from tdx.sdk import ledger_pb2


@pytest.fixture
def genesis() -> ledger_pb2.Genesis:
    """The shared genesis: one member of each role, three customs validators."""
    return make_genesis()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A Ledger over a new LevelDB store in tmp_path, seeded with the genesis."""
    ledger = new_ledger(tmp_path / "ledger")
    yield ledger
    ledger.store.close()


@pytest.fixture
def store(ledger: Ledger) -> Store:
    """The seeded store under ``ledger``."""
    return ledger.store

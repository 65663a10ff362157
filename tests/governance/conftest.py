"""Fixtures of the governance and confidentiality tests: a ledger over a tmp_path store,
driven block by block through ``Ledger.apply`` (see gov_chain.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Reuse the shared members and documents of tests/sdk and the ledger factories of tests/node.
_TESTS = Path(__file__).resolve().parent.parent
for _folder in ("sdk", "node", "integration"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_TESTS / _folder))

from gov_chain import Chain  # noqa: E402


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    """A ledger of the shared genesis (three customs validators and one member per role)."""
    chain = Chain.new(tmp_path / "ledger")
    yield chain
    chain.close()

"""Fixtures of the workflow tests: a ledger of the workflow network and a Chain over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from workflow_factories import Chain, new_ledger


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    """A fresh ledger (in tmp_path) and a Chain that applies documents to it."""
    ledger = new_ledger(tmp_path / "ledger")
    yield Chain(ledger)
    ledger.store.close()

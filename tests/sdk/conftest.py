"""Fixtures of the SDK unit tests; the factories behind them live in sdk_factories."""

from __future__ import annotations

import pytest
from sdk_factories import identity, make_genesis
from tdx.sdk import Identity, ledger_pb2


@pytest.fixture
def genesis() -> ledger_pb2.Genesis:
    """A genesis with one member of every role and three customs validators."""
    return make_genesis()


@pytest.fixture
def customs() -> Identity:
    """The identity of de-customs, a customs validator."""
    return identity("de-customs")

"""Fixtures for tests against real node processes on free 127.0.0.1 ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from solonet import MEMBERS, NETWORK, VALIDATOR, SoloNetwork
from tdx.node.ops.testing import local_network


@pytest.fixture
def solo(tmp_path: Path) -> Iterator[SoloNetwork]:
    """A running one-validator node; stopped (SIGTERM, then SIGKILL) after the test."""
    with local_network(MEMBERS, validator=VALIDATOR, network=NETWORK, folder=tmp_path) as net:
        yield net

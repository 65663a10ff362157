"""Fixtures of the fuzz targets: the networks they attack, one per module.

The attack tests' helpers (``tests/attacks``: a devnet seen by an attacker, a mesh-enabled
network) are shared, so their folder goes on the import path here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "attacks"))

from attack_net import AttackNet
from meshnet import MEMBERS, NETWORK, VALIDATOR
from tdx.node.ops.testing import LocalNetwork, local_network


@pytest.fixture(scope="module")
def solo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    """A running one-validator node with one member of each role."""
    with local_network(MEMBERS, validator=VALIDATOR, network=NETWORK,
                       folder=tmp_path_factory.mktemp("solo")) as net:
        yield net


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackNet]:
    """A 3-validator, 1-observer devnet."""
    devnet = AttackNet(tmp_path_factory.mktemp("fuzz") / "net")
    try:
        yield devnet
    finally:
        devnet.close()

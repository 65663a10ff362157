"""Fixtures of the attack tests: one devnet per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from attack_net import AttackNet


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackNet]:
    """One 3-validator, 1-observer devnet shared by a module's tests; each test starts
    by restarting whatever an earlier one stopped."""
    devnet = AttackNet(tmp_path_factory.mktemp("attack") / "net")
    try:
        yield devnet
    finally:
        devnet.close()


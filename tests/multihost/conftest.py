"""Fixtures of the multi-host tests: a private LAN of network namespaces, one per host.

Skipped, with the reason, where namespaces cannot be made (not root, no ``ip`` or ``nft``,
or the kernel or a container refuses namespaces, bridges, veths or nftables). Whatever
happens in the test, the lab is taken down afterwards and the teardown fails if anything of
it (a process, a namespace, and with it a veth, the bridge or an nftables table) is left.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from netns import Lan, LanUnavailable, why_unavailable


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "netns: needs root to make Linux network namespaces")


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[Lan]:
    """Four hosts (``lan.hosts``) on a bridge, plus the bridge's own namespace (``lan.lan``),
    which the tests use as a client host; logs go to ``tmp_path/logs``."""
    reason = why_unavailable()
    if reason is not None:
        pytest.skip(reason)
    logs = tmp_path / "logs"
    logs.mkdir()
    lab = Lan(4, logs)
    try:
        lab.open()
    except LanUnavailable as exc:
        problems = lab.close()
        pytest.skip(f"{exc}" + (f" (and cleaning up: {problems})" if problems else ""))
    except BaseException:
        lab.close()
        raise
    try:
        yield lab
    finally:
        problems = lab.close()
    assert not problems, f"the lab was not fully taken down: {problems}"

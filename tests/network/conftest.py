"""Fixtures of the mesh tests: every test must leave no thread behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

#: trio keeps idle worker threads (used for DNS lookups) for 10 s; they are trio's, not ours.
TRIO_WORKER = "Trio thread"


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    """Fail a test after which a thread it started is still alive."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while True:
        left = [
            thread
            for thread in threading.enumerate()
            if thread not in before and not thread.name.startswith(TRIO_WORKER)
        ]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not left, f"threads left behind: {left}"

"""The asyncio <-> trio bridge on its own: calls both ways, errors, cancellation, stop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable

import pytest
import trio
from mesh_harness import run
from tdx.network import MeshClosed
from tdx.network._bridge import TrioThread
from trio_typing import TaskStatus


class Main:
    """A trio main that records where it ran and how it ended."""

    def __init__(
        self,
        *,
        ignore_stopping: bool = False,
        fail: BaseException | None = None,
        setup: float = 0.0,
    ) -> None:
        self.ignore_stopping = ignore_stopping
        self.fail = fail
        self.setup = setup
        self.thread: threading.Thread | None = None
        self.ended = ""

    async def __call__(self, stopping: trio.Event, *, task_status: TaskStatus[None]) -> None:
        self.thread = threading.current_thread()
        await trio.sleep(self.setup)
        if self.fail is not None:
            raise self.fail
        task_status.started()
        try:
            if self.ignore_stopping:
                await trio.sleep_forever()
            await stopping.wait()
            self.ended = "stopping"
        except trio.Cancelled:
            self.ended = "cancelled"
            raise


def test_calls_cross_both_ways_and_stop_joins_the_thread() -> None:
    async def main() -> None:
        before = set(threading.enumerate())
        body = Main()
        bridge = TrioThread("bridge-test", grace=1.0)
        await bridge.start(body)
        assert body.thread is not None and body.thread is not threading.current_thread()

        async def on_trio(x: int) -> tuple[int, bool]:
            await trio.sleep(0)
            return x * 2, threading.current_thread() is body.thread

        assert await bridge.call(on_trio, 21) == (42, True)

        async def on_asyncio(x: int) -> tuple[int, bool]:
            await asyncio.sleep(0)
            return x + 1, threading.current_thread() is threading.main_thread()

        async def round_trip() -> tuple[int, bool]:
            return await bridge.call_asyncio(on_asyncio, 1)

        assert await bridge.call(round_trip) == (2, True)

        seen: list[bool] = []

        async def post_back() -> None:
            bridge.post(lambda: seen.append(threading.current_thread() is threading.main_thread()))

        await bridge.call(post_back)
        await asyncio.sleep(0.05)
        assert seen == [True]

        await bridge.stop()
        await bridge.stop()
        assert body.ended == "stopping"
        assert set(threading.enumerate()) - before == set()
        with pytest.raises(MeshClosed):
            await bridge.call(on_trio, 1)

    run(main)


def test_exceptions_cross_back_to_the_caller() -> None:
    async def main() -> None:
        bridge = TrioThread("bridge-test", grace=1.0)
        await bridge.start(Main())

        async def fails() -> None:
            raise KeyError("on trio")

        async def asyncio_fails() -> None:
            raise LookupError("on asyncio")

        async def round_trip() -> None:
            await bridge.call_asyncio(asyncio_fails)

        def not_a_coroutine() -> Awaitable[None]:
            raise ValueError("before any awaitable")

        async def bad_round_trip() -> None:
            await bridge.call_asyncio(not_a_coroutine)

        try:
            with pytest.raises(KeyError, match="on trio"):
                await bridge.call(fails)
            with pytest.raises(LookupError, match="on asyncio"):
                await bridge.call(round_trip)
            with pytest.raises(ValueError, match="before any awaitable"):
                await bridge.call(bad_round_trip)
            assert bridge.running
        finally:
            await bridge.stop()

    run(main)


def test_cancelling_the_asyncio_caller_cancels_the_trio_task() -> None:
    async def main() -> None:
        bridge = TrioThread("bridge-test", grace=1.0)
        await bridge.start(Main())
        outcome: list[str] = []

        async def sleeps() -> None:
            try:
                await trio.sleep(10)
            except trio.Cancelled:
                outcome.append("cancelled")
                raise

        try:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await bridge.call(sleeps)
            await asyncio.sleep(0.1)
            assert outcome == ["cancelled"]
        finally:
            await bridge.stop()

    run(main)


def test_stop_cancels_calls_in_flight_and_a_main_that_overstays_its_grace() -> None:
    async def main() -> None:
        body = Main(ignore_stopping=True)
        bridge = TrioThread("bridge-test", grace=0.2)
        await bridge.start(body)
        call = asyncio.ensure_future(bridge.call(trio.sleep, 10))
        await asyncio.sleep(0.05)
        started = asyncio.get_running_loop().time()
        await bridge.stop()
        assert asyncio.get_running_loop().time() - started < 1.0
        assert body.ended == "cancelled"
        with pytest.raises(MeshClosed):
            await call

    run(main)


def test_a_main_that_fails_before_it_started_fails_start() -> None:
    async def main() -> None:
        before = set(threading.enumerate())
        bridge = TrioThread("bridge-test", grace=1.0)
        with pytest.raises(OSError, match="no port"):
            await bridge.start(Main(fail=OSError("no port")))
        assert not bridge.running
        assert isinstance(bridge.failure, OSError)
        assert set(threading.enumerate()) - before == set()

    run(main)


@pytest.mark.parametrize("after", [0.0, 0.05])
def test_cancelling_start_stops_the_thread(after: float) -> None:
    async def main() -> None:
        before = set(threading.enumerate())
        bridge = TrioThread("bridge-test", grace=1.0)
        starting = asyncio.ensure_future(bridge.start(Main(setup=0.2)))
        await asyncio.sleep(after)  # before trio runs at all, or while main sets up
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
        assert not bridge.running
        assert set(threading.enumerate()) - before == set()

    run(main)

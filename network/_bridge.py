"""The one place where asyncio meets trio: a trio loop in a thread of its own.

py-libp2p runs on trio and the node runs on asyncio, so the mesh runs its libp2p host in a
``TrioThread`` and every crossing between the two loops goes through the four methods
below. Nothing else in tdx touches both loops.

- asyncio -> trio, awaited: ``await bridge.call(fn, *args)`` starts ``fn(*args)`` as a trio
  task and returns its result (or raises its exception) to the awaiting asyncio task.
  Cancelling that asyncio task cancels the trio task.
- trio -> asyncio, fire and forget: ``bridge.post(callback, *args)`` queues
  ``callback(*args)`` on the asyncio loop.
- trio -> asyncio, awaited: ``await bridge.call_asyncio(fn, *args)`` runs ``fn(*args)`` as
  an asyncio task and returns its result to the awaiting trio task; cancelling the trio
  task cancels the asyncio task.
- Lifecycle: ``await bridge.start(main)`` starts the thread and returns once
  ``main(stopping, task_status=...)`` has called ``task_status.started()``;
  ``await bridge.stop()`` sets ``stopping``, cancels calls in flight, gives ``main``
  ``grace`` seconds to return on its own, cancels what is left, and joins the thread.
  After ``stop`` no thread or task of the bridge is left.

Into trio the bridge goes with ``TrioToken.run_sync_soon``; into asyncio with
``loop.call_soon_threadsafe``. Neither blocks, so neither loop ever waits on a lock
held by the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, TypeVarTuple, Unpack

import trio

from ._errors import MeshClosed

if TYPE_CHECKING:  # trio-typing's stubs (installed with libp2p) shadow trio's own types
    from trio_typing import TaskStatus

log = logging.getLogger("tdx.network")

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class TrioMain(Protocol):
    """The body of a ``TrioThread``: set up, call ``task_status.started()``, run until
    ``stopping`` is set, then tear down and return."""

    async def __call__(self, stopping: trio.Event, *, task_status: TaskStatus[None]) -> None: ...


class _Call:
    """One asyncio -> trio call, as the trio side tracks it."""

    def __init__(
        self,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        future: asyncio.Future[Any],
    ) -> None:
        self.fn = fn
        self.args = args
        self.future = future
        self.scope: trio.CancelScope | None = None
        self.cancelled = False

    def cancel(self) -> None:  # on the trio thread
        self.cancelled = True
        if self.scope is not None:
            self.scope.cancel()


class TrioThread:
    """A trio event loop in a thread of its own, started from and answering to one asyncio loop."""

    def __init__(self, name: str, *, grace: float) -> None:
        self._name = name
        self._grace = grace
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._stopping: trio.Event | None = None
        self._calls: set[_Call] = set()
        self._finished: asyncio.Future[None] | None = None
        self._failure: BaseException | None = None
        self._started = False  # written on the trio thread once main has started

    @property
    def running(self) -> bool:
        """Whether the trio loop is up and has not been asked to stop."""
        return (
            self._finished is not None
            and not self._finished.done()
            and self._stopping is not None
            and not self._stopping.is_set()
        )

    @property
    def failure(self) -> BaseException | None:
        """The exception that ended the trio loop, if it ended by one."""
        return self._failure

    async def start(self, main: TrioMain) -> None:
        """Start the thread and return once ``main`` reports it has started.

        An exception ``main`` raises before it started is raised here, after the thread ended.
        """
        if self._thread is not None:
            raise RuntimeError("a TrioThread starts once")
        loop = asyncio.get_running_loop()
        self._loop = loop
        started: asyncio.Future[None] = loop.create_future()
        self._finished = loop.create_future()
        self._thread = threading.Thread(
            target=self._thread_main, args=(main, started), name=self._name, daemon=True
        )
        self._thread.start()
        try:
            await asyncio.shield(started)
        except BaseException:  # failed or cancelled while starting: leave no thread behind
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop the trio loop and join its thread. Safe to call more than once."""
        if self._thread is None or self._finished is None:
            return
        while not self._finished.done() and not self._submit(self._begin_stop):
            await asyncio.sleep(0.01)  # trio has not handed out its token yet, or just ended
        await asyncio.shield(self._finished)
        self._thread.join()

    async def call(self, fn: Callable[[Unpack[Ts]], Awaitable[T]], *args: *Ts) -> T:
        """Run ``await fn(*args)`` as a trio task and return its result here in asyncio."""
        loop = self._loop
        if loop is None or not self.running:
            raise MeshClosed("the mesh is not running")
        future: asyncio.Future[T] = loop.create_future()
        handle = _Call(fn, args, future)
        if not self._submit(self._spawn, handle):
            raise MeshClosed("the mesh is not running")
        try:
            return await future
        except asyncio.CancelledError:
            self._submit(handle.cancel)
            raise

    def post(self, callback: Callable[[Unpack[Ts]], object], *args: *Ts) -> bool:
        """Queue ``callback(*args)`` on the asyncio loop; ``False`` if that loop is closed."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the asyncio loop is closed: nobody is listening any more
            return False
        return True

    async def call_asyncio(self, fn: Callable[[Unpack[Ts]], Awaitable[T]], *args: *Ts) -> T:
        """From trio: run ``fn(*args)`` as an asyncio task and wait here for its result."""
        loop, token = self._loop, self._token
        assert loop is not None and token is not None
        done = trio.Event()
        box: dict[str, asyncio.Future[T]] = {}

        def finished(_: object) -> None:  # on the asyncio thread
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(done.set)

        def launch() -> None:  # on the asyncio thread
            task: asyncio.Future[T]
            try:
                task = asyncio.ensure_future(fn(*args))
            except Exception as error:  # fn raised before it returned an awaitable
                task = loop.create_future()
                task.set_exception(error)
            box["task"] = task
            task.add_done_callback(finished)

        if not self.post(launch):
            raise MeshClosed("the asyncio loop is closed")
        try:
            await done.wait()
        except trio.Cancelled:
            self.post(_cancel_when_launched, box)
            raise
        task = box["task"]
        if task.cancelled():
            raise MeshClosed("the asyncio side cancelled the call")
        return task.result()

    # --- the trio side -------------------------------------------------------------------

    def _thread_main(self, main: TrioMain, started: asyncio.Future[None]) -> None:
        error: BaseException | None = None
        try:
            trio.run(self._trio_main, main, started)
        except BaseException as caught:  # reported to asyncio below, never lost
            error = _single(caught)
            self._failure = error
            if self._started:
                log.error("mesh thread %s failed", self._name, exc_info=error)
        finally:
            self._answer(started, error=error or MeshClosed("the mesh stopped while starting"))
            assert self._finished is not None
            self._answer(self._finished)

    async def _trio_main(self, main: TrioMain, started: asyncio.Future[None]) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stopping = trio.Event()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(main, self._stopping)
            self._started = True
            self._answer(started)

    def _begin_stop(self) -> None:
        assert self._stopping is not None and self._nursery is not None
        if self._stopping.is_set():
            return
        self._stopping.set()
        for handle in list(self._calls):
            handle.cancel()
        self._nursery.cancel_scope.deadline = trio.current_time() + self._grace

    def _spawn(self, handle: _Call) -> None:
        if self._nursery is None or self._stopping is None or self._stopping.is_set():
            self._answer(handle.future, error=MeshClosed("the mesh is stopping"))
            return
        self._calls.add(handle)
        self._nursery.start_soon(self._run_call, handle)

    async def _run_call(self, handle: _Call) -> None:
        try:
            with trio.CancelScope() as scope:
                handle.scope = scope
                if handle.cancelled:
                    scope.cancel()
                try:
                    result = await handle.fn(*handle.args)
                except Exception as error:
                    self._answer(handle.future, error=error)
                else:
                    self._answer(handle.future, result)
            if scope.cancelled_caught:
                self._answer(handle.future, error=MeshClosed("the call was cancelled"))
        except trio.Cancelled:
            self._answer(handle.future, error=MeshClosed("the mesh stopped"))
            raise
        finally:
            self._calls.discard(handle)

    def _submit(self, fn: Callable[[Unpack[Ts]], object], *args: *Ts) -> bool:
        """Run ``fn(*args)`` on the trio thread soon; ``False`` if the trio loop has ended."""
        if self._token is None:
            return False
        try:
            self._token.run_sync_soon(fn, *args)
        except trio.RunFinishedError:
            return False
        return True

    def _answer(
        self, future: asyncio.Future[Any], result: object = None, error: BaseException | None = None
    ) -> None:
        """Settle an asyncio future from the trio thread (unless it is already settled)."""
        self.post(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: object, error: BaseException | None) -> None:
    if future.done():  # cancelled by its awaiter, or settled before
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _cancel_when_launched(box: dict[str, asyncio.Future[Any]]) -> None:
    task = box.get("task")
    if task is not None:
        task.cancel()


def _single(error: BaseException) -> BaseException:
    """Unwrap exception groups of one exception, as trio's nurseries produce them."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error

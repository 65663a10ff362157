"""How the client API answers what it will not do: rich statuses, request checks, a guard.

Every servicer method of ``api.LedgerServicer`` is wrapped by ``guarded`` (or
``guarded_stream`` for a server stream). Inside, a method raises instead of aborting:

- ``Answer``: a ready status (NOT_FOUND for a missing document, say);
- ``BadRequest``: a request field that cannot be right, answered INVALID_ARGUMENT with a
  google.rpc BadRequest naming the field (``request.invalid``);
- ``Refusal`` (``rules.py``): an envelope refused, answered with its own status, reason
  code, field, receipt and, for refusals worth retrying, a RetryInfo.

Anything else a method raises is a bug of the node, never the caller's: it is answered
INTERNAL with one readable sentence (never UNKNOWN with a Python class name) and logged with
its traceback at a bounded rate. The field checks here (``document_id``, ``text``,
``height``) bound every id, name and number a request carries, so that a bad value is
refused by name and no echo of it can exceed a status's size.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import grpc
import grpc.aio
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from tdx.node.state.rules import Refusal
from tdx.sdk import ledger_pb2

log = logging.getLogger("tdx.node.api.service")

# Refusals worth retrying, and when: an overloaded or stopping node, not a too-large document.
RETRY_MS = {"node.overloaded": 1000, "node.stopping": 2000, "cluster.no_leader": 500,
            "cluster.proposal_dropped": 200, "node.busy": 500}
MAX_TEXT = 512
"""The longest id, name or reference a read request may carry (as the schema's texts)."""
MAX_HEIGHT = 2**62
"""Heights and other counters a request names are below this."""
SHOWN = 48
INTERNAL_LOG_SECONDS = 10.0

Context = grpc.aio.ServicerContext[Any, Any]
S = TypeVar("S")
Q = TypeVar("Q")
R = TypeVar("R")


class Throttled(Refusal):
    """A refusal that says when to retry: ``retry_ms`` milliseconds from now."""

    def __init__(self, status: str, code: str, message: str, retry_ms: int,
                 field: str = "") -> None:
        super().__init__(status, code, message, field)
        self.retry_ms = max(1, retry_ms)


class Answer(Exception):
    """A status the method answers with (raised, so that the guard aborts once)."""

    def __init__(self, code: grpc.StatusCode, message: str, *, reason: str = "",
                 field: str = "", receipt: ledger_pb2.Receipt | None = None,
                 retry_ms: int = 0) -> None:
        super().__init__(message)
        self.status = status(code, message, reason=reason, field=field, receipt=receipt,
                             retry_ms=retry_ms)


class BadRequest(Exception):
    """A request field that cannot be right; answered INVALID_ARGUMENT naming ``field``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def status(code: grpc.StatusCode, message: str, *, reason: str = "", field: str = "",
           receipt: ledger_pb2.Receipt | None = None, retry_ms: int = 0) -> grpc.Status:
    """A gRPC status with google.rpc details: ErrorInfo (``reason``), BadRequest
    (``field``), the original Receipt and RetryInfo (``retry_ms``), each when given."""
    details: list[any_pb2.Any] = []
    if reason:
        info = any_pb2.Any()
        info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="tdx"))
        details.append(info)
    if field:
        bad = any_pb2.Any()
        bad.Pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=message)]))
        details.append(bad)
    if receipt is not None:
        packed = any_pb2.Any()
        packed.Pack(receipt)
        details.append(packed)
    if retry_ms:
        retry = any_pb2.Any()
        delay = duration_pb2.Duration(seconds=retry_ms // 1000,
                                      nanos=(retry_ms % 1000) * 1_000_000)
        retry.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        details.append(retry)
    rich = status_pb2.Status(code=getattr(code_pb2, code.name), message=message,
                             details=details)
    converted: grpc.Status = rpc_status.to_status(rich)
    return converted


def refusal_status(refusal: Refusal) -> grpc.Status:
    """The status of a refused envelope or batch."""
    retry_ms = refusal.retry_ms if isinstance(refusal, Throttled) else (
        RETRY_MS.get(refusal.code, 0))
    return status(grpc.StatusCode[refusal.status], refusal.message, reason=refusal.code,
                  field=refusal.field, receipt=refusal.receipt, retry_ms=retry_ms)


class _InternalLog:
    """Tracebacks of the node's own failures, at most one per window (the rest counted)."""

    def __init__(self) -> None:
        self._last = -INTERNAL_LOG_SECONDS
        self._skipped = 0

    def failed(self, method: str) -> None:
        now = time.monotonic()
        if now - self._last < INTERNAL_LOG_SECONDS:
            self._skipped += 1
            return
        log.exception("%s failed (%d more failures not shown since the last one)", method,
                      self._skipped)
        self._last, self._skipped = now, 0


_internal = _InternalLog()


def _failure_status(method: str, exc: Exception) -> grpc.Status:
    if isinstance(exc, Answer):
        return exc.status
    if isinstance(exc, BadRequest):
        return status(grpc.StatusCode.INVALID_ARGUMENT, str(exc), reason="request.invalid",
                      field=exc.field)
    if isinstance(exc, Refusal):
        return refusal_status(exc)
    _internal.failed(method)
    return status(grpc.StatusCode.INTERNAL, f"the node failed to answer {method}; the failure "
                  "is in its log", reason="node.internal")


async def _abort(context: Context, answer: grpc.Status) -> NoReturn:
    await context.abort_with_status(answer)
    raise AssertionError("abort_with_status returned")


def guarded(method: Callable[[S, Q, Context], Awaitable[R]]) -> (
        Callable[[S, Q, Context], Coroutine[Any, Any, R]]):
    """Wrap a unary servicer method: what it raises becomes one clear status (above)."""

    @functools.wraps(method)
    async def wrapper(self: S, request: Q, context: Context) -> R:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise  # the method aborted the call itself
        except Exception as exc:  # every failure gets a status; see _failure_status
            failure = _failure_status(method.__name__, exc)
        await _abort(context, failure)

    return wrapper


def guarded_stream(method: Callable[[S, Q, Context], AsyncIterator[R]]) -> (
        Callable[[S, Q, Context], AsyncIterator[R]]):
    """Wrap a server-streaming servicer method the same way as ``guarded``."""

    @functools.wraps(method)
    async def wrapper(self: S, request: Q, context: Context) -> AsyncIterator[R]:
        try:
            async for item in method(self, request, context):
                yield item
            return
        except grpc.aio.AbortError:
            raise  # the method aborted the call itself
        except Exception as exc:  # every failure gets a status; see _failure_status
            failure = _failure_status(method.__name__, exc)
        await _abort(context, failure)

    return wrapper


# -- request fields ------------------------------------------------------------------------

def shown(value: str) -> str:
    """``value`` as a message quotes it: repr, cut to a few dozen characters."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN - 4] + "...'"


def document_id(value: str, field: str = "document_id") -> str:
    """A document id: 64 lowercase hex digits (the SHA-256 of a body)."""
    if len(value) != 64 or value.strip("0123456789abcdef"):
        raise BadRequest(field, f"must be 64 lowercase hex digits (a document id), not "
                                f"{shown(value)}")
    return value


def text(value: str, field: str, *, required: bool = True) -> str:
    """An id, name or reference: at most MAX_TEXT characters, no control characters."""
    if required and not value:
        raise BadRequest(field, "is required")
    if len(value) > MAX_TEXT:
        raise BadRequest(field, f"is {len(value)} characters; the limit is {MAX_TEXT}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise BadRequest(field, f"holds a control character: {shown(value)}")
    return value


def height(value: int, field: str = "height", *, allow_zero: bool = False) -> int:
    """A block height: from 1 (or 0 when ``allow_zero``) to below MAX_HEIGHT."""
    if value >= MAX_HEIGHT or (value == 0 and not allow_zero):
        raise BadRequest(field, f"{value} is not a block height (1 to {MAX_HEIGHT - 1})")
    return value

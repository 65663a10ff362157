"""Failed calls: the ApiError a gRPC error stands for, and when a client tries again.

``error_from_rpc`` reads the node's error details (reason, receipt, retry hint);
:class:`RetryPolicy` says what is retried and :class:`Retries` runs one call's retries.

What is retried, and why it is safe:

- **Reads** (``get``, ``query``, ``get_proof``, ``status``, ``get_member`` and the other
  ``get_*`` calls) change nothing, so they are retried on ``UNAVAILABLE``: a node that is not
  reachable yet, is starting or stopping, or answers that a block is not certified yet.
- **Any call** refused with the node's retry hint (gRPC ``RetryInfo``, surfaced as
  ``ApiError.retry_after``) is retried after the wait the node asked for. The node sends the
  hint only for refusals worth retrying: an overloaded or stopping node, no leader yet, a
  block not certified yet. A submit refused that way was not ordered; should an earlier
  attempt's document reach the ledger anyway (a node that stopped while ordering it), the
  retry's ``AlreadyExists`` carries its receipt and ``submit`` returns that receipt.
- Nothing else: a submit that failed without the node's hint may or may not have been
  ordered, and streams (``subscribe``) are never retried.

How long: a retry waits the node's ``retry_after`` when it gave one, else an exponential
backoff with jitter (``backoff``, doubling up to ``max_backoff``). Failures without a hint
(an unreachable node) are tried at most ``attempts`` times in all. Every call ends by its
deadline, ``deadline`` seconds after it started (default: the client's ``timeout``): each
attempt gets only the time that remains, and no retry starts whose wait would pass it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import grpc
import grpc.aio
from google.rpc import error_details_pb2, status_pb2
from tdx.v1 import ledger_pb2

from ._errors import ApiError, Unavailable, api_error


def error_from_rpc(exc: grpc.RpcError | grpc.aio.AioRpcError) -> ApiError:
    """Map a gRPC error to the ApiError subclass for its code, with any receipt attached."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    receipt = None
    reason = ""
    retry_after = None
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for item in trailing or ():
        key, value = cast("tuple[str, str | bytes]", item)
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(ledger_pb2.Receipt.DESCRIPTOR):
                    receipt = ledger_pb2.Receipt()
                    detail.Unpack(receipt)
                elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    reason = info.reason
                elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                    hint = error_details_pb2.RetryInfo()
                    detail.Unpack(hint)
                    retry_after = hint.retry_delay.ToTimedelta().total_seconds()
    error = api_error(code.name if code else "UNKNOWN", details or "", receipt)
    error.reason, error.retry_after = reason, retry_after
    return error


@dataclass(frozen=True)
class RetryPolicy:
    """Which failed calls a client tries again, how often and for how long.

    ``attempts`` bounds the tries of a call that fails without the node's retry hint (1: no
    such retries); ``backoff`` is the first wait between them, doubled each time up to
    ``max_backoff`` (each wait is drawn between half and all of that, so that many clients
    do not retry in step); ``deadline`` is the seconds a call may take with all its retries
    (``None``: the client's timeout). With ``submits`` false, submits are never retried.
    """

    attempts: int = 5
    backoff: float = 0.1
    max_backoff: float = 2.0
    deadline: float | None = None
    submits: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts is at least 1")
        if self.backoff < 0 or self.max_backoff < self.backoff:
            raise ValueError("0 <= backoff <= max_backoff")
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError("deadline is positive seconds, or None for the client's timeout")


DEFAULT_RETRY = RetryPolicy()
"""The policy clients use unless given another (``retry=None`` turns retries off)."""

class Retries:
    """One call's retries under a policy: the time each attempt may take, and the waits.

    The caller asks ``timeout()`` before each attempt and, when it fails, ``wait(error)``:
    a number of seconds to sleep before the next attempt, or None to give up and raise.
    """

    def __init__(self, policy: RetryPolicy | None, timeout: float, *, submit: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 jitter: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self.submit = submit
        self.tries = 0
        self._clock = clock
        self._jitter = jitter
        budget = policy.deadline if policy is not None and policy.deadline else timeout
        self.deadline = clock() + budget
        self._unhinted = 0

    def timeout(self) -> float:
        """Seconds the next attempt may take: what remains of the call's deadline."""
        self.tries += 1
        return max(0.001, self.deadline - self._clock())

    def wait(self, error: ApiError) -> float | None:
        """Seconds to wait before trying again after ``error``, or None to raise it."""
        policy = self.policy
        if policy is None or (self.submit and not policy.submits):
            return None
        if error.retry_after is not None:
            delay = max(0.0, error.retry_after)
        elif isinstance(error, Unavailable) and not self.submit:
            self._unhinted += 1
            if self._unhinted >= policy.attempts:
                return None
            ceiling = min(policy.max_backoff, policy.backoff * 2 ** (self._unhinted - 1))
            delay = ceiling * (0.5 + self._jitter() / 2)
        else:
            return None
        if self._clock() + delay >= self.deadline:
            return None
        return delay

"""The API's guard: what a servicer method raises becomes one clear status, never UNKNOWN."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from tdx.node.api.errors import (
    Answer,
    BadRequest,
    Context,
    Throttled,
    document_id,
    guarded,
    guarded_stream,
    height,
    text,
)


class Aborted(Exception):
    def __init__(self, status: grpc.Status) -> None:
        super().__init__(status.details)
        self.status = status


class AbortingContext:
    """The one call the guard makes on a context."""

    async def abort_with_status(self, status: grpc.Status) -> None:
        raise Aborted(status)


class Servicer:
    def __init__(self, failure: Exception) -> None:
        self.failure = failure

    @guarded
    async def Unary(self, request: int, context: Context) -> int:
        if request:
            raise self.failure
        return 7

    @guarded_stream
    async def Stream(self, request: int, context: Context) -> AsyncIterator[int]:
        yield 1
        raise self.failure


def answer(failure: Exception, stream: bool = False) -> tuple[grpc.StatusCode, str, Any]:
    servicer = Servicer(failure)
    context: Any = AbortingContext()

    async def call() -> None:
        if stream:
            assert [item async for item in servicer.Stream(1, context)] == [1]
        else:
            await servicer.Unary(1, context)

    with pytest.raises(Aborted) as caught:
        asyncio.run(call())
    status = caught.value.status
    rich = status_pb2.Status.FromString(dict(status.trailing_metadata)["grpc-status-details-bin"])
    return status.code, status.details, rich


def test_each_kind_of_failure_gets_its_status() -> None:
    assert asyncio.run(Servicer(ValueError()).Unary(0, AbortingContext())) == 7  # type: ignore[arg-type]
    code, message, rich = answer(BadRequest("height", "is not a block height"))
    assert (code, message) == (grpc.StatusCode.INVALID_ARGUMENT, "height: is not a block height")
    bad = error_details_pb2.BadRequest()
    [detail] = [d for d in rich.details if d.Is(error_details_pb2.BadRequest.DESCRIPTOR)]
    detail.Unpack(bad)
    assert bad.field_violations[0].field == "height"
    code, message, _ = answer(Answer(grpc.StatusCode.NOT_FOUND, "no block 9"), stream=True)
    assert (code, message) == (grpc.StatusCode.NOT_FOUND, "no block 9")
    code, message, rich = answer(Throttled("RESOURCE_EXHAUSTED", "member.rate_limited",
                                           "slow down", 1500))
    assert (code, message) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down")
    [hint] = [d for d in rich.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    retry = error_details_pb2.RetryInfo()
    hint.Unpack(retry)
    assert retry.retry_delay.ToTimedelta().total_seconds() == 1.5


def test_a_bug_is_internal_with_a_sentence_and_its_traceback_is_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="tdx.node.api.service"):
        code, message, _ = answer(KeyError("x"))
        answer(KeyError("y"), stream=True)
    assert code == grpc.StatusCode.INTERNAL
    assert message == "the node failed to answer Unary; the failure is in its log"
    assert "KeyError" not in message and "<class" not in message
    # Tracebacks are bounded: the second failure within the window is only counted.
    assert len(caplog.records) <= 1


def test_request_fields_are_bounded_and_named() -> None:
    assert document_id("ab" * 32) == "ab" * 32
    for bad in ("", "AB" * 32, "ab" * 33, "zz" * 32):
        with pytest.raises(BadRequest, match="document_id: must be 64 lowercase hex"):
            document_id(bad)
    with pytest.raises(BadRequest, match=r"\.\.\.'$"):
        document_id("a" * 1000)  # the echo of a long value is cut short
    assert text("de-customs", "member_id") == "de-customs"
    assert text("", "ucr", required=False) == ""
    for bad, match in (("", "is required"), ("x" * 513, "the limit is 512"),
                       ("a\x00b", "control character"), ("a\x7fb", "control character")):
        with pytest.raises(BadRequest, match=match):
            text(bad, "member_id")
    assert height(1) == 1 and height(0, allow_zero=True) == 0
    for bad in (0, 2**62, 2**64 - 1):
        with pytest.raises(BadRequest, match="is not a block height"):
            height(bad)

"""Retries: what a client tries again (reads, refusals with the node's hint), for how long.

The clients run over ``FakeChannel`` (see test_sdk_client.py), whose handlers fail a given
number of times before they answer. Hints are a few milliseconds so that the tests wait
little; the deadline tests use a fake clock through ``Retries`` directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from sdk_factories import sealed
from tdx.sdk import (
    DEFAULT_RETRY,
    AlreadyExists,
    AsyncClient,
    Client,
    NotFound,
    ResourceExhausted,
    RetryPolicy,
    Unavailable,
    ledger_pb2,
)
from tdx.sdk._retry import Retries
from test_sdk_client import FakeChannel, FakeRpcError, receipt, status_details

PROOF = ledger_pb2.GetProofResponse(proof=ledger_pb2.DocumentProof(header=b"certified"))


def refusal(code: grpc.StatusCode, retry_ms: int | None = None, reason: str = "",
            original: ledger_pb2.Receipt | None = None) -> FakeRpcError:
    """An error as the node sends it: code, ErrorInfo reason, RetryInfo, receipt."""
    details: list[Any] = []
    if reason:
        details.append(error_details_pb2.ErrorInfo(reason=reason, domain="tdx"))
    if retry_ms is not None:
        delay = duration_pb2.Duration(nanos=retry_ms * 1_000_000)
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    if original is not None:
        details.append(original)
    trailing = (("grpc-status-details-bin", status_details(*details)),) if details else ()
    return FakeRpcError(code, f"{code.name.lower()} here", trailing)


def failing(times: int, error: Exception, answer: Any) -> Callable[[Any], Any]:
    """A handler that raises ``error`` ``times`` times, then returns ``answer``."""
    left = [times]

    def handler(_: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            raise error
        return answer

    return handler


NOT_CERTIFIED = refusal(grpc.StatusCode.UNAVAILABLE, retry_ms=5, reason="block.not_certified")
UNREACHABLE = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
FAST = RetryPolicy(backoff=0.001, max_backoff=0.002)


def test_get_proof_waits_until_the_block_is_certified() -> None:
    """The README's case: a proof asked for at once succeeds once the block is certified."""
    channel = FakeChannel({"GetProof": failing(3, NOT_CERTIFIED, PROOF)})
    with Client("node:1", channel=channel) as client:  # type: ignore[arg-type]
        assert client.get_proof("ab" * 32).header == b"certified"
    assert [name for name, _, _ in channel.calls] == ["GetProof"] * 4


def test_reads_retry_an_unreachable_node_a_bounded_number_of_times() -> None:
    channel = FakeChannel({"Status": failing(10, UNREACHABLE, ledger_pb2.StatusResponse())})
    client = Client("node:1", channel=channel, retry=FAST)  # type: ignore[arg-type]
    with pytest.raises(Unavailable, match="failed to connect"):
        client.status()
    assert len(channel.calls) == FAST.attempts
    recovered = FakeChannel({"Status": failing(FAST.attempts - 1, UNREACHABLE,
                                               ledger_pb2.StatusResponse(height=7))})
    assert Client("node:1", channel=recovered, retry=FAST).status().height == 7  # type: ignore[arg-type]


def test_retry_none_turns_retries_off() -> None:
    channel = FakeChannel({"GetProof": failing(1, NOT_CERTIFIED, PROOF)})
    client = Client("node:1", channel=channel, retry=None)  # type: ignore[arg-type]
    with pytest.raises(Unavailable) as caught:
        client.get_proof("ab" * 32)
    assert (caught.value.reason, caught.value.retry_after) == ("block.not_certified", 0.005)
    assert len(channel.calls) == 1


def test_errors_that_retrying_cannot_mend_are_raised_at_once() -> None:
    channel = FakeChannel({"Get": failing(1, FakeRpcError(grpc.StatusCode.NOT_FOUND, "no"),
                                          ledger_pb2.GetResponse()),
                           "GetBlock": failing(1, FakeRpcError(
                               grpc.StatusCode.RESOURCE_EXHAUSTED, "too large"),
                               ledger_pb2.GetBlockResponse())})
    client = Client("node:1", channel=channel)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        client.get("d")
    with pytest.raises(ResourceExhausted):
        client.get_block(3)
    assert len(channel.calls) == 2


def test_a_submit_is_retried_only_on_the_nodes_hint() -> None:
    overloaded = refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_ms=2, reason="node.overloaded")
    answer = ledger_pb2.SubmitResponse(receipt=receipt())
    hinted = FakeChannel({"Submit": failing(2, overloaded, answer)})
    assert Client("node:1", channel=hinted).submit(sealed("invoice")) == receipt()  # type: ignore[arg-type]
    assert len(hinted.calls) == 3
    # Without a hint the first attempt may have been ordered: it is not sent again.
    plain = FakeChannel({"Submit": failing(1, UNREACHABLE, answer)})
    with pytest.raises(Unavailable):
        Client("node:1", channel=plain).submit(sealed("invoice"))  # type: ignore[arg-type]
    assert len(plain.calls) == 1
    never = FakeChannel({"Submit": failing(1, overloaded, answer)})
    no_submits = RetryPolicy(submits=False)
    with pytest.raises(ResourceExhausted):
        Client("node:1", channel=never, retry=no_submits).submit(sealed("invoice"))  # type: ignore[arg-type]


def test_a_retried_submit_that_finds_its_document_ordered_returns_the_receipt() -> None:
    """A node that stopped while ordering may still commit the first attempt's document."""
    stopping = refusal(grpc.StatusCode.UNAVAILABLE, retry_ms=2, reason="node.stopping")
    original = receipt(height=9)
    duplicate = refusal(grpc.StatusCode.ALREADY_EXISTS, reason="document.duplicate",
                        original=original)
    calls = iter([stopping, duplicate])

    def handler(_: Any) -> Any:
        raise next(calls)

    channel = FakeChannel({"Submit": handler})
    assert Client("node:1", channel=channel).submit(sealed("invoice")) == original  # type: ignore[arg-type]
    # On a first attempt, AlreadyExists is the caller's own replay and is raised.
    again = FakeChannel({"Submit": failing(1, duplicate, None)})
    with pytest.raises(AlreadyExists):
        Client("node:1", channel=again).submit(sealed("invoice"))  # type: ignore[arg-type]


def test_submit_many_retries_a_hinted_refusal_of_the_whole_call() -> None:
    overloaded = refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_ms=2, reason="node.overloaded")
    answer = ledger_pb2.SubmitBatchResponse(outcomes=[ledger_pb2.SubmitOutcome(receipt=receipt())])
    channel = FakeChannel({"SubmitBatch": failing(1, overloaded, answer)})
    assert Client("node:1", channel=channel).submit_many([sealed("invoice")]) == [receipt()]  # type: ignore[arg-type]
    assert len(channel.calls) == 2


def test_each_attempt_gets_what_remains_of_the_deadline() -> None:
    channel = FakeChannel({"GetProof": failing(2, NOT_CERTIFIED, PROOF)})
    client = Client("node:1", channel=channel, timeout=5.0)  # type: ignore[arg-type]
    client.get_proof("ab" * 32)
    timeouts = [timeout for _, _, timeout in channel.calls]
    assert all(t is not None for t in timeouts)
    assert timeouts == sorted(timeouts, reverse=True)
    assert 0 < timeouts[-1] < timeouts[0] <= 5.0


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_retry_starts_whose_wait_would_pass_the_deadline() -> None:
    clock = FakeClock()
    retries = Retries(DEFAULT_RETRY, 2.0, clock=clock, jitter=lambda: 1.0)
    hinted = Unavailable("not certified", retry_after=0.5)
    assert retries.timeout() == 2.0
    assert retries.wait(hinted) == 0.5
    clock.now += 1.6
    assert retries.timeout() == pytest.approx(0.4)
    assert retries.wait(hinted) is None  # 0.5 s more would pass the deadline
    clock.now -= 0.2
    assert retries.wait(hinted) == 0.5


def test_the_policys_deadline_overrides_the_clients_timeout() -> None:
    clock = FakeClock()
    retries = Retries(RetryPolicy(deadline=60.0), 2.0, clock=clock)
    assert retries.timeout() == 60.0
    clock.now += 59.0
    assert retries.wait(Unavailable("overloaded", retry_after=0.5)) == 0.5


def test_backoff_doubles_up_to_its_ceiling_with_jitter() -> None:
    policy = RetryPolicy(attempts=10, backoff=0.1, max_backoff=0.5)
    full = Retries(policy, 60.0, clock=FakeClock(), jitter=lambda: 1.0)
    assert [full.wait(Unavailable("down")) for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    half = Retries(policy, 60.0, clock=FakeClock(), jitter=lambda: 0.0)
    assert half.wait(Unavailable("down")) == 0.05


@pytest.mark.parametrize("bad", [{"attempts": 0}, {"backoff": -1.0},
                                 {"backoff": 3.0, "max_backoff": 1.0}, {"deadline": 0.0}])
def test_a_policy_refuses_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)


def aio(error: FakeRpcError) -> grpc.aio.AioRpcError:
    """The same error as an asyncio stub raises it."""
    return grpc.aio.AioRpcError(error.code(), grpc.aio.Metadata(),
                                grpc.aio.Metadata(*error.trailing_metadata()),
                                details=error.details())


def test_async_client_retries_like_the_blocking_one() -> None:
    no_leader = refusal(grpc.StatusCode.UNAVAILABLE, retry_ms=1, reason="cluster.no_leader")
    channel = FakeChannel({
        "GetProof": failing(2, aio(NOT_CERTIFIED), PROOF),
        "Status": failing(10, aio(UNREACHABLE), ledger_pb2.StatusResponse()),
        "Submit": failing(1, aio(no_leader), ledger_pb2.SubmitResponse(receipt=receipt())),
    }, aio=True)

    async def scenario() -> None:
        async with AsyncClient("node:1", channel=channel, retry=FAST) as client:  # type: ignore[arg-type]
            assert (await client.get_proof("ab" * 32)).header == b"certified"
            with pytest.raises(Unavailable):
                await client.status()
            assert await client.submit(sealed("invoice")) == receipt()

    asyncio.run(scenario())
    names = [name for name, _, _ in channel.calls]
    assert names == ["GetProof"] * 3 + ["Status"] * FAST.attempts + ["Submit"] * 2

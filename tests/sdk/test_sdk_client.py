"""Clients without a server: error mapping, batching, and both clients over a fake channel.

``FakeChannel`` stands in for a gRPC channel (the clients take one as a pluggable
transport): requests and answers go through their wire bytes, as they would on a socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from sdk_factories import sealed
from tdx.sdk import (
    AlreadyExists,
    ApiError,
    AsyncClient,
    Client,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Rejected,
    ResourceExhausted,
    TdxError,
    Unavailable,
    documents_pb2,
    ledger_pb2,
)
from tdx.sdk._client import BATCH_BYTES, BATCH_ENVELOPES, batches, error_from_rpc
from tdx.sdk._errors import api_error

CODES: dict[str, type[ApiError]] = {
    "INVALID_ARGUMENT": InvalidArgument,
    "PERMISSION_DENIED": PermissionDenied,
    "ALREADY_EXISTS": AlreadyExists,
    "NOT_FOUND": NotFound,
    "RESOURCE_EXHAUSTED": ResourceExhausted,
    "UNAVAILABLE": Unavailable,
    "DEADLINE_EXCEEDED": DeadlineExceeded,
    "REJECTED": Rejected,
}


def receipt(doc: str = "ab" * 32, status: int = ledger_pb2.RESULT_STATUS_ACCEPTED,
            height: int = 3) -> ledger_pb2.Receipt:
    return ledger_pb2.Receipt(document_id=doc, height=height, position=1,
                              result=ledger_pb2.Result(status=status, code="x.y"))


def status_details(*messages: Any) -> bytes:
    details = []
    for message in messages:
        packed = any_pb2.Any()
        packed.Pack(message)
        details.append(packed)
    return status_pb2.Status(code=6, message="m", details=details).SerializeToString()


class FakeRpcError(grpc.RpcError):
    """What a blocking stub raises: a RpcError that is also a Call."""

    def __init__(self, code: grpc.StatusCode, details: str,
                 trailing: tuple[tuple[str, str | bytes], ...] = ()) -> None:
        super().__init__(details)
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._trailing


Handler = Callable[[Any], Any]


class FakeChannel:
    """A channel whose methods call ``handlers[name](request)``; a handler may raise."""

    def __init__(self, handlers: dict[str, Handler], *, aio: bool = False) -> None:
        self.handlers = handlers
        self.calls: list[tuple[str, Any, float | None]] = []
        self.closed = False
        self.metadata: list[Any] = []
        self.aio = aio

    def _dispatch(self, method: str, serialize: Any, deserialize: Any,
                  request: Any, timeout: float | None) -> Any:
        name = method.rsplit("/", 1)[-1]
        wire = type(request).FromString(serialize(request))
        self.calls.append((name, wire, timeout))
        return self.handlers[name](wire), deserialize

    def unary_unary(self, method: str, request_serializer: Any = None,
                    response_deserializer: Any = None, **_: Any) -> Any:
        def call(request: Any, timeout: float | None = None,
                 metadata: Any = None) -> Any:
            self.metadata.append(metadata)
            answer, deserialize = self._dispatch(method, request_serializer,
                                                 response_deserializer, request, timeout)
            return deserialize(answer.SerializeToString())

        async def acall(request: Any, timeout: float | None = None,
                        metadata: Any = None) -> Any:
            return call(request, timeout, metadata)

        return acall if self.aio else call

    def unary_stream(self, method: str, request_serializer: Any = None,
                     response_deserializer: Any = None, **_: Any) -> Any:
        def call(request: Any, timeout: float | None = None) -> Iterator[Any]:
            answers, deserialize = self._dispatch(method, request_serializer,
                                                  response_deserializer, request, timeout)
            for answer in answers:
                yield deserialize(answer.SerializeToString())

        return call

    def close(self) -> Any:
        self.closed = True
        if self.aio:
            return asyncio.sleep(0)
        return None


def raising(exc: Exception) -> Handler:
    def handler(_: Any) -> Any:
        raise exc
    return handler


# -- api_error and error_from_rpc ------------------------------------------------------

@pytest.mark.parametrize(("code", "cls"), CODES.items())
def test_api_error_maps_codes_to_classes(code: str, cls: type[ApiError]) -> None:
    err = api_error(code, "why", receipt())
    assert type(err) is cls
    assert isinstance(err, ApiError) and isinstance(err, TdxError)
    assert (err.code, err.message, str(err)) == (code, "why", "why")
    assert err.receipt == receipt()


def test_api_error_of_unknown_code_keeps_the_code() -> None:
    err = api_error("INTERNAL", "boom")
    assert type(err) is ApiError
    assert err.code == "INTERNAL"
    assert ApiError.code == "UNKNOWN"  # the class attribute is untouched
    assert err.receipt is None


@pytest.mark.parametrize(("code", "cls"), [(c, k) for c, k in CODES.items() if c != "REJECTED"])
def test_error_from_rpc_maps_grpc_codes(code: str, cls: type[ApiError]) -> None:
    err = error_from_rpc(FakeRpcError(grpc.StatusCode[code], "details here"))
    assert type(err) is cls
    assert err.message == "details here"
    assert err.receipt is None


def test_error_from_rpc_finds_the_receipt_among_details() -> None:
    original = receipt()
    trailing = (("other", "x"),
                ("grpc-status-details-bin",
                 status_details(error_details_pb2.ErrorInfo(reason="document.duplicate"),
                                original)))
    err = error_from_rpc(FakeRpcError(grpc.StatusCode.ALREADY_EXISTS, "dup", trailing))
    assert isinstance(err, AlreadyExists)
    assert err.receipt == original


def test_error_from_rpc_without_receipt_details() -> None:
    trailing = (("grpc-status-details-bin",
                 status_details(error_details_pb2.BadRequest())),)
    err = error_from_rpc(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "bad", trailing))
    assert isinstance(err, InvalidArgument) and err.receipt is None


def test_error_from_rpc_of_unknown_and_bare_errors() -> None:
    err = error_from_rpc(FakeRpcError(grpc.StatusCode.INTERNAL, "oops"))
    assert type(err) is ApiError and err.code == "INTERNAL"
    bare = error_from_rpc(grpc.RpcError("no call attached"))
    assert type(bare) is ApiError and bare.code == "UNKNOWN"


def test_error_from_aio_rpc_error() -> None:
    trailing = grpc.aio.Metadata(("grpc-status-details-bin", status_details(receipt())))
    exc = grpc.aio.AioRpcError(grpc.StatusCode.ALREADY_EXISTS, grpc.aio.Metadata(), trailing,
                               details="dup")
    err = error_from_rpc(exc)
    assert isinstance(err, AlreadyExists) and err.receipt == receipt()


# -- batches ---------------------------------------------------------------------------

def _envelopes(n: int, size: int = 0) -> list[documents_pb2.Envelope]:
    return [documents_pb2.Envelope(body=i.to_bytes(4, "big") + b"\x00" * size,
                                   signer=b"\x01" * 32, signature=b"\x02" * 64)
            for i in range(n)]


def test_batches_of_nothing() -> None:
    assert list(batches([])) == []


def test_batches_split_by_count_and_keep_order() -> None:
    envelopes = _envelopes(2 * BATCH_ENVELOPES + 5)
    split = list(batches(envelopes))
    assert [len(b) for b in split] == [BATCH_ENVELOPES, BATCH_ENVELOPES, 5]
    assert [e for b in split for e in b] == envelopes


def test_batches_split_by_bytes() -> None:
    envelopes = _envelopes(10, size=BATCH_BYTES // 4)
    split = list(batches(envelopes))
    assert [e for b in split for e in b] == envelopes
    assert len(split) > 1
    for batch in split:
        assert len(batch) == 1 or sum(e.ByteSize() + 8 for e in batch) <= BATCH_BYTES


def test_oversized_envelope_travels_alone() -> None:
    small, big = _envelopes(1)[0], _envelopes(1, size=BATCH_BYTES + 10)[0]
    assert [len(b) for b in batches([small, big, small])] == [1, 1, 1]


# -- Client over a fake channel --------------------------------------------------------

@pytest.mark.parametrize("target", ["", "localhost", "7400"])
def test_client_refuses_target_without_port(target: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        Client(target, channel=FakeChannel({}))  # type: ignore[arg-type]


def test_submit_returns_the_receipt_and_closes() -> None:
    envelope = sealed("invoice")
    channel = FakeChannel({"Submit": lambda r: ledger_pb2.SubmitResponse(receipt=receipt())})
    with Client("node:1", channel=channel, timeout=4.5) as client:  # type: ignore[arg-type]
        assert client.submit(envelope) == receipt()
    name, request, timeout = channel.calls[0]
    assert (name, request.envelope) == ("Submit", envelope)
    assert timeout is not None and 0 < timeout <= 4.5  # what remains of the deadline
    assert channel.closed


def test_submit_raises_rejected_with_the_receipt() -> None:
    rejected = receipt(status=ledger_pb2.RESULT_STATUS_REJECTED)
    channel = FakeChannel({"Submit": lambda r: ledger_pb2.SubmitResponse(receipt=rejected)})
    client = Client("node:1", channel=channel)  # type: ignore[arg-type]
    with pytest.raises(Rejected, match=r"x\.y") as caught:
        client.submit(sealed("invoice"))
    assert caught.value.receipt == rejected


def test_submit_maps_rpc_errors() -> None:
    trailing = (("grpc-status-details-bin", status_details(receipt())),)
    channel = FakeChannel({"Submit": raising(
        FakeRpcError(grpc.StatusCode.ALREADY_EXISTS, "dup", trailing))})
    client = Client("node:1", channel=channel)  # type: ignore[arg-type]
    with pytest.raises(AlreadyExists) as caught:
        client.submit(sealed("invoice"))
    assert caught.value.receipt == receipt()
    assert caught.value.__cause__ is None


def test_submit_many_batches_and_maps_outcomes() -> None:
    def answer(request: ledger_pb2.SubmitBatchRequest) -> ledger_pb2.SubmitBatchResponse:
        outcomes = []
        for envelope in request.envelopes:
            n = int.from_bytes(envelope.body[:4], "big")
            if n % 3 == 1:
                outcomes.append(ledger_pb2.SubmitOutcome(error_code="PERMISSION_DENIED",
                                                         error_message=f"no {n}"))
            elif n % 3 == 2:
                outcomes.append(ledger_pb2.SubmitOutcome(receipt=receipt(height=n),
                                                         error_code="ALREADY_EXISTS"))
            else:
                outcomes.append(ledger_pb2.SubmitOutcome(receipt=receipt(height=n)))
        return ledger_pb2.SubmitBatchResponse(outcomes=outcomes)

    channel = FakeChannel({"SubmitBatch": answer})
    client = Client("node:1", channel=channel)  # type: ignore[arg-type]
    n = BATCH_ENVELOPES + 10
    outcomes = client.submit_many(iter(_envelopes(n)))
    assert len(channel.calls) == 2
    assert len(outcomes) == n
    for i, outcome in enumerate(outcomes):
        if i % 3 == 1:
            assert isinstance(outcome, PermissionDenied) and outcome.message == f"no {i}"
            assert outcome.receipt is None
        elif i % 3 == 2:
            assert isinstance(outcome, AlreadyExists) and outcome.receipt == receipt(height=i)
        else:
            assert outcome == receipt(height=i)


def _pager(total: int) -> tuple[Handler, list[ledger_pb2.QueryRequest]]:
    seen: list[ledger_pb2.QueryRequest] = []

    def answer(request: ledger_pb2.QueryRequest) -> ledger_pb2.QueryResponse:
        seen.append(request)
        start = int(request.page_token or "0")
        end = min(start + request.limit, total)
        records = [ledger_pb2.DocumentRecord(document_id=str(i)) for i in range(start, end)]
        return ledger_pb2.QueryResponse(records=records,
                                        next_page_token=str(end) if end < total else "")

    return answer, seen


def test_query_fetches_every_page() -> None:
    answer, seen = _pager(2500)
    client = Client("node:1", channel=FakeChannel({"Query": answer}))  # type: ignore[arg-type]
    records = client.query(ucr="4DE-1")
    assert [r.document_id for r in records] == [str(i) for i in range(2500)]
    assert [(r.ucr, r.limit, r.page_token) for r in seen] == [
        ("4DE-1", 1000, ""), ("4DE-1", 1000, "1000"), ("4DE-1", 1000, "2000")]


def test_query_stops_at_the_limit() -> None:
    answer, seen = _pager(5000)
    client = Client("node:1", channel=FakeChannel({"Query": answer}))  # type: ignore[arg-type]
    records = client.query(kind="invoice", limit=1500)
    assert len(records) == 1500
    assert [r.limit for r in seen] == [1000, 500]


def test_query_needs_a_filter() -> None:
    client = Client("node:1", channel=FakeChannel({}))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ucr, a kind or an issuer"):
        client.query()


def test_get_status_proof_and_block_unwrap_responses() -> None:
    record = ledger_pb2.DocumentRecord(document_id="d")
    channel = FakeChannel({
        "Get": lambda r: ledger_pb2.GetResponse(record=record),
        "Status": lambda r: ledger_pb2.StatusResponse(network="tdx-test", height=4),
        "GetProof": lambda r: ledger_pb2.GetProofResponse(
            proof=ledger_pb2.DocumentProof(header=r.document_id.encode())),
        "GetBlock": lambda r: ledger_pb2.GetBlockResponse(
            block=ledger_pb2.Block(header=str(r.height).encode())),
    })
    client = Client("node:1", channel=channel)  # type: ignore[arg-type]
    assert client.get("d") == record
    assert client.status().height == 4
    assert client.get_proof("xyz").header == b"xyz"
    assert client.get_block(9).header == b"9"


def test_get_maps_not_found() -> None:
    channel = FakeChannel({"Get": raising(FakeRpcError(grpc.StatusCode.NOT_FOUND, "no"))})
    with pytest.raises(NotFound):
        Client("node:1", channel=channel).get("d")  # type: ignore[arg-type]


def test_subscribe_yields_and_ends_quietly_on_cancel() -> None:
    items = [ledger_pb2.SubscribeResponse(height=h) for h in (1, 2)]

    def stream(request: ledger_pb2.SubscribeRequest) -> Iterator[ledger_pb2.SubscribeResponse]:
        assert (request.from_height, request.ucr, list(request.kinds)) == (5, "U", ["invoice"])
        yield from items
        raise FakeRpcError(grpc.StatusCode.CANCELLED, "bye")

    client = Client("node:1", channel=FakeChannel({"Subscribe": stream}))  # type: ignore[arg-type]
    assert list(client.subscribe(from_height=5, ucr="U", kinds=["invoice"])) == items


def test_subscribe_maps_other_errors() -> None:
    def stream(_: Any) -> Iterator[ledger_pb2.SubscribeResponse]:
        yield ledger_pb2.SubscribeResponse(height=1)
        raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "gone")

    client = Client("node:1", channel=FakeChannel({"Subscribe": stream}))  # type: ignore[arg-type]
    with pytest.raises(Unavailable):
        list(client.subscribe())


# -- AsyncClient -----------------------------------------------------------------------

def test_async_client_submit_query_and_errors() -> None:
    answer, _ = _pager(1200)
    rejected = receipt(status=ledger_pb2.RESULT_STATUS_REJECTED)
    aio_error = grpc.aio.AioRpcError(grpc.StatusCode.PERMISSION_DENIED, grpc.aio.Metadata(),
                                     grpc.aio.Metadata(), details="not a member")
    channel = FakeChannel({
        "Submit": lambda r: ledger_pb2.SubmitResponse(
            receipt=rejected if r.envelope.signature == b"" else receipt()),
        "Query": answer,
        "Status": raising(aio_error),
    }, aio=True)

    async def scenario() -> None:
        async with AsyncClient("node:1", channel=channel) as client:  # type: ignore[arg-type]
            assert await client.submit(sealed("invoice")) == receipt()
            with pytest.raises(Rejected):
                await client.submit(documents_pb2.Envelope(body=b"x"))
            assert len(await client.query(issuer="acme-trader")) == 1200
            with pytest.raises(PermissionDenied, match="not a member"):
                await client.status()

    asyncio.run(scenario())
    assert channel.closed


def test_client_metadata_goes_with_every_call() -> None:
    """A client made with metadata (as a forwarding node makes it) sends it on each call."""
    channel = FakeChannel({"Status": lambda _: ledger_pb2.StatusResponse(network="n")})
    client = Client("127.0.0.1:1", channel=channel,  # type: ignore[arg-type]
                    metadata=[("tdx-forwarded-by", "nl-customs")])
    assert client.status().network == "n"
    assert channel.metadata == [(("tdx-forwarded-by", "nl-customs"),)]
    plain = FakeChannel({"Status": lambda _: ledger_pb2.StatusResponse()})
    Client("127.0.0.1:1", channel=plain).status()  # type: ignore[arg-type]
    assert plain.metadata == [None]

"""The LedgerService servicer called directly (no server): submission verdicts as gRPC
statuses the SDK maps back, proofs that verify offline, and paged queries."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from node_factories import proposal, sealed, signer
from sdk_factories import body_of, identity, make_genesis
from tdx.node.api.sequencer import Outcome, Sequencer
from tdx.node.api.service import LedgerServicer
from tdx.node.replication.forward import FORWARDED_BY
from tdx.node.replication.ordering import OrderingStatus
from tdx.node.state.ledger import Ledger
from tdx.sdk import (
    AlreadyExists,
    ApiError,
    InvalidArgument,
    PermissionDenied,
    Unavailable,
    document_id,
    documents_pb2,
    ledger_pb2,
    seal,
    verify_proof,
)
from tdx.sdk._client import error_from_rpc


class Aborted(Exception):
    def __init__(self, status: grpc.Status) -> None:
        super().__init__(status.details)
        self.status = status


class FakeContext:
    """The ServicerContext calls the servicer makes: abort with a rich status, and read
    the call's metadata (a client's call carries none) and the peer's address."""

    def __init__(self, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self._metadata = metadata

    async def abort_with_status(self, status: grpc.Status) -> None:
        raise Aborted(status)

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def peer(self) -> str:
        return "ipv4:127.0.0.1:50000"


class StatusError(grpc.RpcError):
    """The RpcError a client would see for an aborted call."""

    def __init__(self, status: grpc.Status) -> None:
        super().__init__(status.details)
        self._status = status

    def code(self) -> grpc.StatusCode:
        code: grpc.StatusCode = self._status.code
        return code

    def details(self) -> str:
        details: str = self._status.details
        return details

    def trailing_metadata(self) -> Any:
        return self._status.trailing_metadata


def run(ledger: Ledger, scenario: Callable[[LedgerServicer], Awaitable[None]]) -> None:
    """Run ``scenario`` against a servicer whose sequencer applies each batch at once."""
    async def main() -> None:
        index = [ledger.applied_index]

        async def order(envelopes: list[documents_pb2.Envelope]) -> dict[str, Outcome]:
            index[0] += 1
            applied = ledger.apply(proposal(envelopes), 1, index[0], sign=signer())
            assert applied is not None
            return dict(applied.receipts)

        sequencer = Sequencer(order)
        sequencer.start()
        servicer = LedgerServicer(ledger, sequencer, "de-customs",
                                  lambda: OrderingStatus(role="solo"))
        try:
            await scenario(servicer)
        finally:
            await sequencer.stop()

    asyncio.run(main())


async def call(method: Callable[..., Awaitable[Any]], request: Any) -> Any:
    return await method(request, FakeContext())


async def api_error(method: Callable[..., Awaitable[Any]], request: Any) -> ApiError:
    with pytest.raises(Aborted) as caught:
        await call(method, request)
    return error_from_rpc(StatusError(caught.value.status))


def test_submit_then_replay_answers_already_exists_with_the_receipt(ledger: Ledger) -> None:
    envelope = sealed("invoice")

    async def scenario(servicer: LedgerServicer) -> None:
        response = await call(servicer.Submit, ledger_pb2.SubmitRequest(envelope=envelope))
        receipt = response.receipt
        assert (receipt.height, receipt.document_id) == (1, document_id(envelope.body))
        err = await api_error(servicer.Submit, ledger_pb2.SubmitRequest(envelope=envelope))
        assert isinstance(err, AlreadyExists)
        assert err.receipt == receipt

    run(ledger, scenario)
    assert ledger.height == 1


def test_refusals_become_sdk_errors_and_change_nothing(ledger: Ledger) -> None:
    broken = body_of("export_declaration", nonce=3)
    broken.trade.goods_items[0].hs_code = "12"

    async def scenario(servicer: LedgerServicer) -> None:
        err = await api_error(servicer.Submit, ledger_pb2.SubmitRequest(
            envelope=seal(identity("de-customs"), broken)))
        assert isinstance(err, InvalidArgument) and "hs_code" in err.message
        err = await api_error(servicer.Submit, ledger_pb2.SubmitRequest(
            envelope=sealed("invoice", signer="watcher")))
        assert isinstance(err, PermissionDenied)
        bad = sealed("invoice")
        bad.signature = bytes(64)
        err = await api_error(servicer.Submit, ledger_pb2.SubmitRequest(envelope=bad))
        assert isinstance(err, InvalidArgument) and "signature" in err.message

    run(ledger, scenario)
    assert (ledger.height, ledger.documents) == (0, 0)


def test_submit_batch_gives_one_outcome_each(ledger: Ledger) -> None:
    good = [sealed("invoice", i) for i in range(3)]
    refused = sealed("invoice", 9, signer="watcher")

    async def scenario(servicer: LedgerServicer) -> None:
        await call(servicer.Submit, ledger_pb2.SubmitRequest(envelope=good[0]))
        response = await call(servicer.SubmitBatch, ledger_pb2.SubmitBatchRequest(
            envelopes=[*good, refused]))
        codes = [o.error_code for o in response.outcomes]
        assert codes == ["ALREADY_EXISTS", "", "", "PERMISSION_DENIED"]
        assert response.outcomes[0].receipt.height == 1
        assert {o.receipt.height for o in response.outcomes[1:3]} == {2}

    run(ledger, scenario)


def test_proof_from_the_node_verifies_offline(ledger: Ledger) -> None:
    envelopes = [sealed("export_declaration"), sealed("invoice"),
                 sealed("invoice", 7, signer="watcher"), sealed("shipment_events")]

    async def scenario(servicer: LedgerServicer) -> None:
        applied = ledger.apply(proposal(envelopes), 1, 1, sign=signer())
        assert applied is not None
        request = ledger_pb2.GetProofRequest(document_id=document_id(envelopes[1].body))
        err = await api_error(servicer.GetProof, request)
        assert isinstance(err, Unavailable) and "not certified" in err.message
        ledger.add_signatures(1, [signer("fr-customs")(applied.hash)])
        for pos, envelope in enumerate(envelopes):
            proof = (await call(servicer.GetProof, ledger_pb2.GetProofRequest(
                document_id=document_id(envelope.body)))).proof
            verified = verify_proof(proof, make_genesis())
            assert (verified.height, verified.signatures) == (1, 2)
            assert verified.accepted == (pos != 2)
            assert verified.document_id == document_id(envelope.body)

    run(ledger, scenario)


def test_query_pages_through_a_consignment_in_ledger_order(ledger: Ledger) -> None:
    declarations = [sealed("export_declaration", i) for i in range(5)]
    others = [sealed("invoice", 0), sealed("ip_rights_record", 0)]

    async def scenario(servicer: LedgerServicer) -> None:
        ledger.apply(proposal(declarations[:2] + others), 1, 1)
        ledger.apply(proposal(declarations[2:]), 1, 2)
        ucr = body_of("invoice").ucr
        seen: list[str] = []
        token = ""
        pages = 0
        while True:
            response = await call(servicer.Query, ledger_pb2.QueryRequest(
                ucr=ucr, limit=2, page_token=token))
            seen += [r.document_id for r in response.records]
            pages += 1
            token = response.next_page_token
            if not token:
                break
        expected = [document_id(e.body) for e in (*declarations[:2], others[0],
                                                    *declarations[2:])]
        assert seen == expected
        assert pages == 3
        response = await call(servicer.Query, ledger_pb2.QueryRequest(
            ucr=ucr, kind="invoice"))
        assert [r.document_id for r in response.records] == [document_id(others[0].body)]
        response = await call(servicer.Query, ledger_pb2.QueryRequest(issuer="aquaflow"))
        assert [r.kind for r in response.records] == ["ip_rights_record"]
        err = await api_error(servicer.Query, ledger_pb2.QueryRequest())
        assert isinstance(err, InvalidArgument)
        err = await api_error(servicer.Query, ledger_pb2.QueryRequest(ucr=ucr,
                                                                     page_token="zz"))
        assert isinstance(err, InvalidArgument)

    run(ledger, scenario)


def test_a_forward_from_a_validator_to_a_non_leader_is_refused_at_once(ledger: Ledger) -> None:
    """Two validators forwarding to each other across a leader change would each wait on
    the other's call; a validator's forward that reaches a node that does not lead is
    answered UNAVAILABLE at once, and nothing is ordered."""
    envelopes = [sealed("invoice", i) for i in range(2)]

    async def scenario(servicer: LedgerServicer) -> None:
        request = ledger_pb2.SubmitBatchRequest(envelopes=envelopes)
        forwarded = await servicer.SubmitBatch(
            request, FakeContext(((FORWARDED_BY, "de-customs"),)))  # type: ignore[arg-type]
        assert [o.error_code for o in forwarded.outcomes] == ["UNAVAILABLE"] * 2
        assert ledger.documents == 0
        direct = await call(servicer.SubmitBatch, request)
        assert [o.error_code for o in direct.outcomes] == ["", ""]

    run(ledger, scenario)


def test_an_overloaded_node_says_when_to_retry(ledger: Ledger) -> None:
    """RESOURCE_EXHAUSTED for back-pressure carries RetryInfo (a valid Duration of 1 s); a
    document that is simply too large carries none, since retrying cannot help."""

    async def main() -> None:
        async def order(envelopes: list[documents_pb2.Envelope]) -> dict[str, Outcome]:
            return {}

        servicer = LedgerServicer(ledger, Sequencer(order, max_pending=0), "de-customs",
                                  lambda: OrderingStatus(role="solo"))
        for envelope, code, retry in (
            (sealed("invoice", 1), "node.overloaded", 1.0),
            (documents_pb2.Envelope(body=b"\x00" * (300 * 1024),
                                    signer=sealed("invoice").signer, signature=b"\x00" * 64),
             "document.too_large", None),
        ):
            with pytest.raises(Aborted) as caught:
                await call(servicer.Submit, ledger_pb2.SubmitRequest(envelope=envelope))
            status = caught.value.status
            assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            details = dict(status.trailing_metadata)["grpc-status-details-bin"]
            rich = status_pb2.Status.FromString(details)
            infos = [d for d in rich.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
            info = error_details_pb2.ErrorInfo()
            infos[0].Unpack(info)
            assert info.reason == code
            retries = [d for d in rich.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
            client_error = error_from_rpc(StatusError(status))
            assert client_error.reason == code
            assert client_error.retry_after == retry
            if retry is None:
                assert retries == []
            else:
                hint = error_details_pb2.RetryInfo()
                retries[0].Unpack(hint)
                assert hint.retry_delay.ToTimedelta().total_seconds() == retry

    asyncio.run(main())

"""Clients for a node's LedgerService: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

Both turn gRPC errors into the ApiError tree of ``tdx.sdk``, retry what is safe to retry
under a :class:`~tdx.sdk.RetryPolicy` (see ``_retry.py``: reads, and refusals that carry the
node's retry hint, all within the call's deadline), and share their request building and
answer decoding in ``_ClientBase``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self

import grpc
import grpc.aio
from tdx.v1 import documents_pb2, ledger_pb2, ledger_pb2_grpc

from ._errors import AlreadyExists, ApiError, Rejected, api_error
from ._retry import DEFAULT_RETRY, Retries, RetryPolicy, error_from_rpc

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
# A batch call carries at most this many envelopes and about this many bytes.
BATCH_ENVELOPES = 256
BATCH_BYTES = 2 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
]

Outcome = ledger_pb2.Receipt | ApiError


def batches(envelopes: Sequence[documents_pb2.Envelope]) -> Iterator[list[documents_pb2.Envelope]]:
    """Split envelopes into calls of at most BATCH_ENVELOPES and about BATCH_BYTES each."""
    batch: list[documents_pb2.Envelope] = []
    size = 0
    for envelope in envelopes:
        cost = envelope.ByteSize() + 8
        if batch and (len(batch) >= BATCH_ENVELOPES or size + cost > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(envelope)
        size += cost
    if batch:
        yield batch


class _ClientBase:
    """What both clients share: the target, retries, request building and answer decoding."""

    def __init__(self, target: str, timeout: float, metadata: Sequence[tuple[str, str]] = (),
                 retry: RetryPolicy | None = DEFAULT_RETRY) -> None:
        if not target or ":" not in target or "://" in target:
            raise ValueError(f"node address {target!r} must be HOST:PORT (no scheme)")
        self.target = target
        self.timeout = timeout
        self.metadata = tuple(metadata)
        self.retry = retry

    def _retries(self, submit: bool = False) -> Retries:
        return Retries(self.retry, self.timeout, submit=submit)

    @staticmethod
    def _settled(error: ApiError, retries: Retries) -> ledger_pb2.Receipt | None:
        """The receipt a retried submit ends with when an earlier attempt got it ordered."""
        if retries.tries > 1 and isinstance(error, AlreadyExists) and error.receipt:
            return error.receipt
        return None

    @staticmethod
    def _receipt_or_raise(receipt: ledger_pb2.Receipt) -> ledger_pb2.Receipt:
        if receipt.result.status != ledger_pb2.RESULT_STATUS_ACCEPTED:
            raise Rejected(
                f"rejected by the ledger: {receipt.result.code}: {receipt.result.reason}",
                receipt=receipt,
            )
        return receipt

    @staticmethod
    def _outcomes(response: ledger_pb2.SubmitBatchResponse) -> list[Outcome]:
        out: list[Outcome] = []
        for outcome in response.outcomes:
            if outcome.error_code:
                receipt = outcome.receipt if outcome.HasField("receipt") else None
                out.append(api_error(outcome.error_code, outcome.error_message, receipt))
            else:
                out.append(outcome.receipt)
        return out

    @staticmethod
    def _query(ucr: str, kind: str, issuer: str, limit: int, token: str) -> ledger_pb2.QueryRequest:
        if not (ucr or kind or issuer):
            raise ValueError("query needs a ucr, a kind or an issuer")
        return ledger_pb2.QueryRequest(ucr=ucr, kind=kind, issuer=issuer, limit=limit,
                                       page_token=token)


class Client(_ClientBase):
    """A blocking client for one node's LedgerService.

    Use it as a context manager, or call ``close()``. Every method raises an ApiError
    subclass on failure; ``submit`` also raises ``Rejected`` when the ledger's rules reject
    the document (its receipt is on the exception). ``timeout`` is each call's deadline in
    seconds, retries included; ``retry`` says what is retried (``DEFAULT_RETRY``: reads, and
    refusals the node marks worth retrying) and ``retry=None`` turns retries off.
    """

    def __init__(self, target: str, *, timeout: float = DEFAULT_TIMEOUT,
                 channel: grpc.Channel | None = None,
                 metadata: Sequence[tuple[str, str]] = (),
                 retry: RetryPolicy | None = DEFAULT_RETRY) -> None:
        super().__init__(target, timeout, metadata, retry)
        self._channel = channel or grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        self._stub = ledger_pb2_grpc.LedgerServiceStub(self._channel)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def _call(self, method: Any, request: Any, retries: Retries | None = None) -> Any:
        """Call ``method``, retried as the policy allows; raise the last ApiError."""
        retries = retries or self._retries()
        while True:
            try:
                return method(request, timeout=retries.timeout(),
                              metadata=self.metadata or None)
            except grpc.RpcError as exc:
                error = error_from_rpc(exc)
            delay = retries.wait(error)
            if delay is None:
                raise error
            time.sleep(delay)

    def submit(self, envelope: documents_pb2.Envelope) -> ledger_pb2.Receipt:
        """Submit one envelope; return its receipt once its block is durable."""
        retries = self._retries(submit=True)
        try:
            response = self._call(self._stub.Submit, ledger_pb2.SubmitRequest(envelope=envelope),
                                  retries)
        except ApiError as error:
            settled = self._settled(error, retries)
            if settled is None:
                raise
            return self._receipt_or_raise(settled)
        return self._receipt_or_raise(response.receipt)

    def submit_many(self, envelopes: Iterable[documents_pb2.Envelope]) -> list[Outcome]:
        """Submit many envelopes in as few calls as fit; return one outcome each, in order.

        An outcome is a Receipt (look at ``result.status``) or the ApiError that refused
        that envelope. Only a failure of a whole call raises.
        """
        out: list[Outcome] = []
        for batch in batches(list(envelopes)):
            response = self._call(self._stub.SubmitBatch,
                                  ledger_pb2.SubmitBatchRequest(envelopes=batch),
                                  self._retries(submit=True))
            out.extend(self._outcomes(response))
        return out

    def get(self, document_id: str) -> ledger_pb2.DocumentRecord:
        """Return a document by id."""
        response = self._call(self._stub.Get, ledger_pb2.GetRequest(document_id=document_id))
        return response.record  # type: ignore[no-any-return]

    def query(self, *, ucr: str = "", kind: str = "", issuer: str = "",
              limit: int = 0) -> list[ledger_pb2.DocumentRecord]:
        """Return the documents matching all given filters, oldest first.

        With ``limit`` 0 every match is returned, fetched page by page.
        """
        records: list[ledger_pb2.DocumentRecord] = []
        token = ""
        while True:
            page_size = min(limit - len(records), 1000) if limit else 1000
            response = self._call(self._stub.Query,
                                  self._query(ucr, kind, issuer, page_size, token))
            records.extend(response.records)
            token = response.next_page_token
            if not token or (limit and len(records) >= limit):
                return records

    def subscribe(self, *, from_height: int = 0, ucr: str = "", kinds: Sequence[str] = (),
                  notices_only: bool = False) -> Iterator[ledger_pb2.SubscribeResponse]:
        """Yield committed documents as they are applied (from ``from_height`` when given).

        With ``notices_only``, only documents whose result carries notices (alert matches,
        AEO changes and flags, temperature excursions, broken seals, revocations).
        """
        request = ledger_pb2.SubscribeRequest(from_height=from_height, ucr=ucr, kinds=list(kinds),
                                              notices_only=notices_only)
        try:
            yield from self._stub.Subscribe(request)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return
            raise error_from_rpc(exc) from None

    def get_proof(self, document_id: str) -> ledger_pb2.DocumentProof:
        """Return a proof of the document that checks offline against the genesis."""
        response = self._call(self._stub.GetProof,
                              ledger_pb2.GetProofRequest(document_id=document_id))
        return response.proof  # type: ignore[no-any-return]

    def get_block(self, height: int) -> ledger_pb2.Block:
        """Return the stored block at ``height``."""
        response = self._call(self._stub.GetBlock, ledger_pb2.GetBlockRequest(height=height))
        return response.block  # type: ignore[no-any-return]

    def status(self) -> ledger_pb2.StatusResponse:
        """Return the node's status."""
        return self._call(self._stub.Status, ledger_pb2.StatusRequest())  # type: ignore[no-any-return]

    def get_member(self, member_id: str) -> ledger_pb2.GetMemberResponse:
        """Return a member's current record and the keys it held before (NotFound if none)."""
        return self._call(self._stub.GetMember,  # type: ignore[no-any-return]
                          ledger_pb2.GetMemberRequest(member_id=member_id))

    def list_members(self) -> list[documents_pb2.MemberRecord]:
        """Return the membership in force, in id order."""
        response = self._call(self._stub.ListMembers, ledger_pb2.ListMembersRequest())
        return list(response.members)

    def get_proposal(self, proposal_id: str) -> ledger_pb2.GetProposalResponse:
        """Return a governance proposal with its votes (NotFound if there is none)."""
        return self._call(self._stub.GetProposal,  # type: ignore[no-any-return]
                          ledger_pb2.GetProposalRequest(proposal_id=proposal_id))

    def get_certificate(self, certificate_id: str) -> ledger_pb2.GetCertificateResponse:
        """Return a certificate's status, lines (drawn, remaining) and draw-downs (NotFound)."""
        return self._call(self._stub.GetCertificate,  # type: ignore[no-any-return]
                          ledger_pb2.GetCertificateRequest(certificate_id=certificate_id))

    def get_aeo_status(self, operator_id: str) -> ledger_pb2.GetAeoStatusResponse:
        """Return an operator's AEO status and its history (NotFound if none)."""
        return self._call(self._stub.GetAeoStatus,  # type: ignore[no-any-return]
                          ledger_pb2.GetAeoStatusRequest(operator_id=operator_id))

    def get_consignment(self, ucr: str) -> ledger_pb2.GetConsignmentResponse:
        """Return a consignment's shipment state, declarations and certificates (NotFound)."""
        return self._call(self._stub.GetConsignment,  # type: ignore[no-any-return]
                          ledger_pb2.GetConsignmentRequest(ucr=ucr))


class AsyncClient(_ClientBase):
    """An asyncio client for one node's LedgerService, with the methods of ``Client``.

    Use ``async with``, or call ``await aclose()``. ``timeout`` and ``retry`` are as for
    ``Client``.
    """

    def __init__(self, target: str, *, timeout: float = DEFAULT_TIMEOUT,
                 channel: grpc.aio.Channel | None = None,
                 metadata: Sequence[tuple[str, str]] = (),
                 retry: RetryPolicy | None = DEFAULT_RETRY) -> None:
        super().__init__(target, timeout, metadata, retry)
        self._channel = channel or grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        self._stub = ledger_pb2_grpc.LedgerServiceStub(self._channel)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def _call(self, method: Any, request: Any, retries: Retries | None = None) -> Any:
        """Await ``method``, retried as the policy allows; raise the last ApiError."""
        retries = retries or self._retries()
        while True:
            try:
                return await method(request, timeout=retries.timeout(),
                                    metadata=self.metadata or None)
            except grpc.aio.AioRpcError as exc:
                error = error_from_rpc(exc)
            delay = retries.wait(error)
            if delay is None:
                raise error
            await asyncio.sleep(delay)

    async def submit(self, envelope: documents_pb2.Envelope) -> ledger_pb2.Receipt:
        """Submit one envelope; return its receipt once its block is durable."""
        retries = self._retries(submit=True)
        try:
            response = await self._call(self._stub.Submit,
                                        ledger_pb2.SubmitRequest(envelope=envelope), retries)
        except ApiError as error:
            settled = self._settled(error, retries)
            if settled is None:
                raise
            return self._receipt_or_raise(settled)
        return self._receipt_or_raise(response.receipt)

    async def submit_many(self, envelopes: Iterable[documents_pb2.Envelope]) -> list[Outcome]:
        """Submit many envelopes in batches; return one outcome each, in order."""
        out: list[Outcome] = []
        for batch in batches(list(envelopes)):
            response = await self._call(self._stub.SubmitBatch,
                                        ledger_pb2.SubmitBatchRequest(envelopes=batch),
                                        self._retries(submit=True))
            out.extend(self._outcomes(response))
        return out

    async def get(self, document_id: str) -> ledger_pb2.DocumentRecord:
        """Return a document by id."""
        response = await self._call(self._stub.Get, ledger_pb2.GetRequest(document_id=document_id))
        return response.record  # type: ignore[no-any-return]

    async def query(self, *, ucr: str = "", kind: str = "", issuer: str = "",
                    limit: int = 0) -> list[ledger_pb2.DocumentRecord]:
        """Return the documents matching all given filters, oldest first."""
        records: list[ledger_pb2.DocumentRecord] = []
        token = ""
        while True:
            page_size = min(limit - len(records), 1000) if limit else 1000
            response = await self._call(self._stub.Query,
                                        self._query(ucr, kind, issuer, page_size, token))
            records.extend(response.records)
            token = response.next_page_token
            if not token or (limit and len(records) >= limit):
                return records

    async def subscribe(self, *, from_height: int = 0, ucr: str = "", kinds: Sequence[str] = (),
                        notices_only: bool = False) -> (
                            AsyncIterator[ledger_pb2.SubscribeResponse]):
        """Yield committed documents as they are applied (``notices_only``: with notices)."""
        request = ledger_pb2.SubscribeRequest(from_height=from_height, ucr=ucr, kinds=list(kinds),
                                              notices_only=notices_only)
        try:
            async for item in self._stub.Subscribe(request):
                yield item
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return
            raise error_from_rpc(exc) from None

    async def get_proof(self, document_id: str) -> ledger_pb2.DocumentProof:
        """Return a proof of the document that checks offline against the genesis."""
        response = await self._call(self._stub.GetProof,
                                    ledger_pb2.GetProofRequest(document_id=document_id))
        return response.proof  # type: ignore[no-any-return]

    async def get_block(self, height: int) -> ledger_pb2.Block:
        """Return the stored block at ``height``."""
        response = await self._call(self._stub.GetBlock, ledger_pb2.GetBlockRequest(height=height))
        return response.block  # type: ignore[no-any-return]

    async def status(self) -> ledger_pb2.StatusResponse:
        """Return the node's status."""
        return await self._call(self._stub.Status, ledger_pb2.StatusRequest())  # type: ignore[no-any-return]

    async def get_member(self, member_id: str) -> ledger_pb2.GetMemberResponse:
        """Return a member's current record and the keys it held before."""
        return await self._call(self._stub.GetMember,  # type: ignore[no-any-return]
                                ledger_pb2.GetMemberRequest(member_id=member_id))

    async def list_members(self) -> list[documents_pb2.MemberRecord]:
        """Return the membership in force, in id order."""
        response = await self._call(self._stub.ListMembers, ledger_pb2.ListMembersRequest())
        return list(response.members)

    async def get_proposal(self, proposal_id: str) -> ledger_pb2.GetProposalResponse:
        """Return a governance proposal with its votes."""
        return await self._call(self._stub.GetProposal,  # type: ignore[no-any-return]
                                ledger_pb2.GetProposalRequest(proposal_id=proposal_id))

    async def get_certificate(self, certificate_id: str) -> ledger_pb2.GetCertificateResponse:
        """Return a certificate's status, lines (drawn, remaining) and draw-downs."""
        return await self._call(self._stub.GetCertificate,  # type: ignore[no-any-return]
                                ledger_pb2.GetCertificateRequest(certificate_id=certificate_id))

    async def get_aeo_status(self, operator_id: str) -> ledger_pb2.GetAeoStatusResponse:
        """Return an operator's AEO status and its history."""
        return await self._call(self._stub.GetAeoStatus,  # type: ignore[no-any-return]
                                ledger_pb2.GetAeoStatusRequest(operator_id=operator_id))

    async def get_consignment(self, ucr: str) -> ledger_pb2.GetConsignmentResponse:
        """Return a consignment's shipment state, declarations and certificates."""
        return await self._call(self._stub.GetConsignment,  # type: ignore[no-any-return]
                                ledger_pb2.GetConsignmentRequest(ucr=ucr))

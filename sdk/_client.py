"""Clients for a node's LedgerService: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

Both turn gRPC errors into the ApiError tree of ``tdx.sdk``, retry what is safe to retry
under a :class:`~tdx.sdk.RetryPolicy` (see ``_retry.py``: reads, and refusals that carry the
node's retry hint, all within the call's deadline), reach the node in plaintext or over TLS
pinned to its member key (``_trust.py``), and share their request building and answer
decoding in ``_ClientBase`` (``_clientbase.py``).
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

from ._clientbase import (
    BATCH_BYTES,
    BATCH_ENVELOPES,
    CHANNEL_OPTIONS,
    DEFAULT_TIMEOUT,
    MAX_MESSAGE_BYTES,
    Outcome,
    _ClientBase,
    batches,
)
from ._errors import ApiError
from ._retry import DEFAULT_RETRY, Retries, RetryPolicy, error_from_rpc
from ._trust import Trust, open_aio_channel, open_channel, refusal, refusal_async

__all__ = ["BATCH_BYTES", "BATCH_ENVELOPES", "CHANNEL_OPTIONS", "DEFAULT_TIMEOUT",
           "MAX_MESSAGE_BYTES", "AsyncClient", "Client", "Outcome", "batches", "error_from_rpc"]


class Client(_ClientBase):
    """A blocking client for one node's LedgerService.

    Use it as a context manager, or call ``close()``. Every method raises an ApiError
    subclass on failure; ``submit`` also raises ``Rejected`` when the ledger's rules reject
    the document (its receipt is on the exception). ``timeout`` is each call's deadline in
    seconds, retries included; ``retry`` says what is retried (``DEFAULT_RETRY``: reads, and
    refusals the node marks worth retrying) and ``retry=None`` turns retries off.

    TLS (see ``tdx.sdk.Trust``): ``server_key`` pins the member key the node must prove;
    ``trust`` pins by members (a genesis, the ledger's records); with neither, the default
    trust (``set_default_trust``) if any, else plaintext, which only a loopback target
    allows. ``insecure=True`` asks for plaintext (loopback only; warns). A node that does
    not prove the pinned key raises TlsError; one that requires client certificates gets
    one for ``trust.identity``.
    """

    def __init__(self, target: str, *, timeout: float = DEFAULT_TIMEOUT,
                 channel: grpc.Channel | None = None,
                 metadata: Sequence[tuple[str, str]] = (),
                 retry: RetryPolicy | None = DEFAULT_RETRY, server_key: bytes | None = None,
                 trust: Trust | None = None, insecure: bool = False) -> None:
        super().__init__(target, timeout, metadata, retry, server_key=server_key, trust=trust,
                         insecure=insecure, channel_given=channel is not None)
        self._channel = channel
        self._stub_: ledger_pb2_grpc.LedgerServiceStub | None = None

    @property
    def _stub(self) -> ledger_pb2_grpc.LedgerServiceStub:
        if self._stub_ is None:
            if self._channel is None:
                self._channel = open_channel(self.target, self._pin, CHANNEL_OPTIONS)
            self._stub_ = ledger_pb2_grpc.LedgerServiceStub(self._channel)
        return self._stub_

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        if self._channel is not None:
            self._channel.close()
        self._channel, self._stub_ = None, None

    def _call(self, name: str, request: Any, retries: Retries | None = None) -> Any:
        """Call method ``name``, retried as the policy allows; raise the last ApiError, or
        TlsError when the node does not prove the pinned key."""
        retries = retries or self._retries()
        while True:
            try:
                return getattr(self._stub, name)(request, timeout=retries.timeout(),
                                                 metadata=self.metadata or None)
            except grpc.RpcError as exc:
                refused = self._handshake_failure(exc)
                if refused is not None and self._pin is not None:
                    if self._repinned():
                        self.close()
                        continue
                    raise refusal(self.target, self._pin, refused) from None
                error = error_from_rpc(exc)
            delay = retries.wait(error)
            if delay is None:
                raise error
            time.sleep(delay)

    def submit(self, envelope: documents_pb2.Envelope) -> ledger_pb2.Receipt:
        """Submit one envelope; return its receipt once its block is durable."""
        retries = self._retries(submit=True)
        try:
            response = self._call("Submit", ledger_pb2.SubmitRequest(envelope=envelope),
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
            response = self._call("SubmitBatch",
                                  ledger_pb2.SubmitBatchRequest(envelopes=batch),
                                  self._retries(submit=True))
            out.extend(self._outcomes(response))
        return out

    def get(self, document_id: str) -> ledger_pb2.DocumentRecord:
        """Return a document by id."""
        response = self._call("Get", ledger_pb2.GetRequest(document_id=document_id))
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
            response = self._call("Query",
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
            refused = self._handshake_failure(exc)
            if refused is not None and self._pin is not None:
                raise refusal(self.target, self._pin, refused) from None
            raise error_from_rpc(exc) from None

    def get_proof(self, document_id: str) -> ledger_pb2.DocumentProof:
        """Return a proof of the document that checks offline against the genesis."""
        response = self._call("GetProof",
                              ledger_pb2.GetProofRequest(document_id=document_id))
        return response.proof  # type: ignore[no-any-return]

    def get_block(self, height: int) -> ledger_pb2.Block:
        """Return the stored block at ``height``."""
        response = self._call("GetBlock", ledger_pb2.GetBlockRequest(height=height))
        return response.block  # type: ignore[no-any-return]

    def status(self) -> ledger_pb2.StatusResponse:
        """Return the node's status."""
        return self._call("Status", ledger_pb2.StatusRequest())  # type: ignore[no-any-return]

    def get_member(self, member_id: str) -> ledger_pb2.GetMemberResponse:
        """Return a member's current record and the keys it held before (NotFound if none)."""
        return self._call("GetMember",  # type: ignore[no-any-return]
                          ledger_pb2.GetMemberRequest(member_id=member_id))

    def list_members(self) -> list[documents_pb2.MemberRecord]:
        """Return the membership in force, in id order."""
        response = self._call("ListMembers", ledger_pb2.ListMembersRequest())
        return list(response.members)

    def get_proposal(self, proposal_id: str) -> ledger_pb2.GetProposalResponse:
        """Return a governance proposal with its votes (NotFound if there is none)."""
        return self._call("GetProposal",  # type: ignore[no-any-return]
                          ledger_pb2.GetProposalRequest(proposal_id=proposal_id))

    def get_certificate(self, certificate_id: str) -> ledger_pb2.GetCertificateResponse:
        """Return a certificate's status, lines (drawn, remaining) and draw-downs (NotFound)."""
        return self._call("GetCertificate",  # type: ignore[no-any-return]
                          ledger_pb2.GetCertificateRequest(certificate_id=certificate_id))

    def get_aeo_status(self, operator_id: str) -> ledger_pb2.GetAeoStatusResponse:
        """Return an operator's AEO status and its history (NotFound if none)."""
        return self._call("GetAeoStatus",  # type: ignore[no-any-return]
                          ledger_pb2.GetAeoStatusRequest(operator_id=operator_id))

    def get_consignment(self, ucr: str) -> ledger_pb2.GetConsignmentResponse:
        """Return a consignment's shipment state, declarations and certificates (NotFound)."""
        return self._call("GetConsignment",  # type: ignore[no-any-return]
                          ledger_pb2.GetConsignmentRequest(ucr=ucr))


class AsyncClient(_ClientBase):
    """An asyncio client for one node's LedgerService, with the methods of ``Client``.

    Use ``async with``, or call ``await aclose()``. ``timeout``, ``retry`` and the TLS
    options are as for ``Client``.
    """

    def __init__(self, target: str, *, timeout: float = DEFAULT_TIMEOUT,
                 channel: grpc.aio.Channel | None = None,
                 metadata: Sequence[tuple[str, str]] = (),
                 retry: RetryPolicy | None = DEFAULT_RETRY, server_key: bytes | None = None,
                 trust: Trust | None = None, insecure: bool = False) -> None:
        super().__init__(target, timeout, metadata, retry, server_key=server_key, trust=trust,
                         insecure=insecure, channel_given=channel is not None)
        self._channel = channel
        self._stub_: ledger_pb2_grpc.LedgerServiceAsyncStub | None = None

    @property
    def _stub(self) -> ledger_pb2_grpc.LedgerServiceAsyncStub:
        if self._stub_ is None:
            if self._channel is None:
                self._channel = open_aio_channel(self.target, self._pin, CHANNEL_OPTIONS)
            self._stub_ = ledger_pb2_grpc.LedgerServiceStub(self._channel)
        return self._stub_

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the channel."""
        if self._channel is not None:
            await self._channel.close()
        self._channel, self._stub_ = None, None

    async def _call(self, name: str, request: Any, retries: Retries | None = None) -> Any:
        """Await method ``name``, retried as the policy allows; raise the last ApiError, or
        TlsError when the node does not prove the pinned key."""
        retries = retries or self._retries()
        while True:
            try:
                return await getattr(self._stub, name)(request, timeout=retries.timeout(),
                                                       metadata=self.metadata or None)
            except grpc.aio.AioRpcError as exc:
                refused = self._handshake_failure(exc)
                if refused is not None and self._pin is not None:
                    if self._repinned():
                        await self.aclose()
                        continue
                    raise await refusal_async(self.target, self._pin, refused) from None
                error = error_from_rpc(exc)
            delay = retries.wait(error)
            if delay is None:
                raise error
            await asyncio.sleep(delay)

    async def submit(self, envelope: documents_pb2.Envelope) -> ledger_pb2.Receipt:
        """Submit one envelope; return its receipt once its block is durable."""
        retries = self._retries(submit=True)
        try:
            response = await self._call("Submit",
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
            response = await self._call("SubmitBatch",
                                        ledger_pb2.SubmitBatchRequest(envelopes=batch),
                                        self._retries(submit=True))
            out.extend(self._outcomes(response))
        return out

    async def get(self, document_id: str) -> ledger_pb2.DocumentRecord:
        """Return a document by id."""
        response = await self._call("Get", ledger_pb2.GetRequest(document_id=document_id))
        return response.record  # type: ignore[no-any-return]

    async def query(self, *, ucr: str = "", kind: str = "", issuer: str = "",
                    limit: int = 0) -> list[ledger_pb2.DocumentRecord]:
        """Return the documents matching all given filters, oldest first."""
        records: list[ledger_pb2.DocumentRecord] = []
        token = ""
        while True:
            page_size = min(limit - len(records), 1000) if limit else 1000
            response = await self._call("Query",
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
            refused = self._handshake_failure(exc)
            if refused is not None and self._pin is not None:
                raise await refusal_async(self.target, self._pin, refused) from None
            raise error_from_rpc(exc) from None

    async def get_proof(self, document_id: str) -> ledger_pb2.DocumentProof:
        """Return a proof of the document that checks offline against the genesis."""
        response = await self._call("GetProof",
                                    ledger_pb2.GetProofRequest(document_id=document_id))
        return response.proof  # type: ignore[no-any-return]

    async def get_block(self, height: int) -> ledger_pb2.Block:
        """Return the stored block at ``height``."""
        response = await self._call("GetBlock", ledger_pb2.GetBlockRequest(height=height))
        return response.block  # type: ignore[no-any-return]

    async def status(self) -> ledger_pb2.StatusResponse:
        """Return the node's status."""
        return await self._call("Status", ledger_pb2.StatusRequest())  # type: ignore[no-any-return]

    async def get_member(self, member_id: str) -> ledger_pb2.GetMemberResponse:
        """Return a member's current record and the keys it held before."""
        return await self._call("GetMember",  # type: ignore[no-any-return]
                                ledger_pb2.GetMemberRequest(member_id=member_id))

    async def list_members(self) -> list[documents_pb2.MemberRecord]:
        """Return the membership in force, in id order."""
        response = await self._call("ListMembers", ledger_pb2.ListMembersRequest())
        return list(response.members)

    async def get_proposal(self, proposal_id: str) -> ledger_pb2.GetProposalResponse:
        """Return a governance proposal with its votes."""
        return await self._call("GetProposal",  # type: ignore[no-any-return]
                                ledger_pb2.GetProposalRequest(proposal_id=proposal_id))

    async def get_certificate(self, certificate_id: str) -> ledger_pb2.GetCertificateResponse:
        """Return a certificate's status, lines (drawn, remaining) and draw-downs."""
        return await self._call("GetCertificate",  # type: ignore[no-any-return]
                                ledger_pb2.GetCertificateRequest(certificate_id=certificate_id))

    async def get_aeo_status(self, operator_id: str) -> ledger_pb2.GetAeoStatusResponse:
        """Return an operator's AEO status and its history."""
        return await self._call("GetAeoStatus",  # type: ignore[no-any-return]
                                ledger_pb2.GetAeoStatusRequest(operator_id=operator_id))

    async def get_consignment(self, ucr: str) -> ledger_pb2.GetConsignmentResponse:
        """Return a consignment's shipment state, declarations and certificates."""
        return await self._call("GetConsignment",  # type: ignore[no-any-return]
                                ledger_pb2.GetConsignmentRequest(ucr=ucr))

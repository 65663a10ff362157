"""The client API (tdx.v1.LedgerService) served by a node over grpc.aio.

Every envelope is checked where it enters (``rules.check_envelope``) before it is ordered;
errors carry google.rpc details: ErrorInfo (reason code), BadRequest (the field) and, for a
replay, the original Receipt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

import grpc
import grpc.aio
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from tdx.sdk import (
    block_hash,
    document_id,
    envelope_leaf,
    genesis_hash,
    inclusion_path,
    ledger_pb2,
    quorum,
    result_leaf,
)
from tdx.v1 import documents_pb2, ledger_pb2_grpc

from .forward import FORWARDED_BY
from .ledger import AppliedBlock, Ledger
from .metrics import NodeMetrics
from .rules import Refusal, check_envelope
from .sequencer import Sequencer
from .store import Prefix
from .workflows import governance, reads

log = logging.getLogger("tdx.node.api")

MAX_QUERY = 1000
# Refusals worth retrying, and when: an overloaded or stopping node, not a too-large document.
RETRY_MS = {"node.overloaded": 1000, "node.stopping": 2000, "cluster.no_leader": 500,
            "cluster.proposal_dropped": 200}
DEFAULT_QUERY = 100
VERSION = "0.1.0"


class BlockFeed:
    """Tells subscribers that a new block was applied; holds no blocks itself."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()

    async def notify(self) -> None:
        """Wake every subscriber waiting for a new height."""
        async with self._changed:
            self._changed.notify_all()

    async def wait_beyond(self, height: int, current: Callable[[], int]) -> None:
        """Wait until ``current()`` is above ``height``."""
        async with self._changed:
            await self._changed.wait_for(lambda: current() > height)


def _status(code: grpc.StatusCode, message: str, *, reason: str = "", field: str = "",
            receipt: ledger_pb2.Receipt | None = None, retry_ms: int = 0) -> grpc.Status:
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
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message,
                               details=details)
    converted: grpc.Status = rpc_status.to_status(status)
    return converted


class LedgerServicer(ledger_pb2_grpc.LedgerServiceServicer):
    """Serves LedgerService from a Ledger, ordering submissions through a Sequencer."""

    def __init__(self, ledger: Ledger, sequencer: Sequencer, member_id: str,
                 role: Callable[[], dict[str, Any]]) -> None:
        self.ledger = ledger
        self.sequencer = sequencer
        self.member_id = member_id
        self.feed = BlockFeed()
        self._role = role
        self.metrics = NodeMetrics()

    async def on_applied(self, block: AppliedBlock) -> None:
        """Called after each block is durable: resolve receipts, wake subscribers."""
        self.sequencer.applied(block)
        accepted = sum(r.status == ledger_pb2.RESULT_STATUS_ACCEPTED
                       for r in block.block.results)
        self.metrics.observe_block(block.height, accepted, len(block.block.results) - accepted)
        await self.feed.notify()

    # -- submission ----------------------------------------------------------------------

    async def admit_relayed(self, envelopes: list[documents_pb2.Envelope]) -> None:
        """Order documents relayed over the mesh; refusals are logged (the relaying node
        checked them already and waits for their block)."""
        for outcome in await asyncio.gather(*(self._admit(e) for e in envelopes),
                                            return_exceptions=True):
            if isinstance(outcome, Refusal):
                _log_refusal(outcome, self.metrics)

    async def _admit(self, envelope: documents_pb2.Envelope) -> ledger_pb2.Receipt:
        """Check and order one envelope; raise Refusal, or return its receipt."""
        checked_id = document_id(envelope.body)
        check_envelope(envelope, self.ledger.network, self.ledger, self.ledger.verified)
        existing = self.ledger.record(checked_id)
        if existing is not None:
            raise _Replay(existing.receipt)
        waiting = self.sequencer.waiter(checked_id)
        if waiting is not None:
            raise _Replay(await asyncio.shield(waiting))
        return await self.sequencer.enqueue(checked_id, envelope)

    async def Submit(self, request: ledger_pb2.SubmitRequest,
                     context: grpc.aio.ServicerContext[Any, Any]) -> ledger_pb2.SubmitResponse:
        try:
            receipt = await self._admit(request.envelope)
        except _Replay as replay:
            await _abort(context, grpc.StatusCode.ALREADY_EXISTS,
                         "this document is already on the ledger", reason="document.duplicate",
                         receipt=replay.receipt)
        except Refusal as refusal:
            self.metrics.refusals.labels(refusal.code).inc()
            await _refuse(context, refusal)
        return ledger_pb2.SubmitResponse(receipt=receipt)

    async def SubmitBatch(self, request: ledger_pb2.SubmitBatchRequest,
                          context: grpc.aio.ServicerContext[Any, Any]) -> (
                              ledger_pb2.SubmitBatchResponse):
        if self._forwarded_by_validator(context) and self._role().get("role") != "leader":
            # A validator forwards only to the leader it knows; if that is not this node
            # (any more), say so at once rather than forward again (see forward.py).
            refusal = ledger_pb2.SubmitOutcome(
                error_code="UNAVAILABLE",
                error_message="this node is not the leader (any more); retry")
            return ledger_pb2.SubmitBatchResponse(
                outcomes=[refusal for _ in request.envelopes])
        outcomes = await asyncio.gather(*(self._outcome(e) for e in request.envelopes))
        return ledger_pb2.SubmitBatchResponse(outcomes=outcomes)

    def _forwarded_by_validator(self, context: grpc.aio.ServicerContext[Any, Any]) -> bool:
        for key, value in context.invocation_metadata() or ():
            if key == FORWARDED_BY:
                member = self.ledger.member(str(value))
                return member is not None and member.validator
        return False

    async def _outcome(self, envelope: documents_pb2.Envelope) -> ledger_pb2.SubmitOutcome:
        try:
            return ledger_pb2.SubmitOutcome(receipt=await self._admit(envelope))
        except _Replay as replay:
            return ledger_pb2.SubmitOutcome(receipt=replay.receipt, error_code="ALREADY_EXISTS",
                                            error_message="this document is already on the "
                                                          "ledger")
        except Refusal as refusal:
            _log_refusal(refusal, self.metrics)
            return ledger_pb2.SubmitOutcome(error_code=refusal.status,
                                            error_message=refusal.message,
                                            receipt=refusal.receipt)

    # -- reads ---------------------------------------------------------------------------

    async def Get(self, request: ledger_pb2.GetRequest,
                  context: grpc.aio.ServicerContext[Any, Any]) -> ledger_pb2.GetResponse:
        record = self.ledger.record(request.document_id)
        if record is None:
            await _abort(context, grpc.StatusCode.NOT_FOUND,
                         f"no document {request.document_id!r}", reason="document.not_found")
        return ledger_pb2.GetResponse(record=record)

    async def Query(self, request: ledger_pb2.QueryRequest,
                    context: grpc.aio.ServicerContext[Any, Any]) -> ledger_pb2.QueryResponse:
        if request.limit > MAX_QUERY:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         f"limit is at most {MAX_QUERY}", field="limit")
        if request.ucr:
            prefix = Prefix.BY_UCR + request.ucr.encode() + b"\x00"
        elif request.kind:
            prefix = Prefix.BY_KIND + request.kind.encode() + b"\x00"
        elif request.issuer:
            prefix = Prefix.BY_ISSUER + request.issuer.encode() + b"\x00"
        else:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                         "give a ucr, a kind or an issuer", field="ucr")
        start = None
        if request.page_token:
            try:
                start = prefix + bytes.fromhex(request.page_token)
            except ValueError:
                await _abort(context, grpc.StatusCode.INVALID_ARGUMENT,
                             "page_token is not one this node gave", field="page_token")
        limit = request.limit or DEFAULT_QUERY
        records: list[ledger_pb2.DocumentRecord] = []
        last_key = b""
        more = False
        for key, raw_id in self.ledger.store.scan(prefix, start=start):
            if len(records) >= limit:
                more = True
                break
            last_key = key
            record = self.ledger.record(raw_id.hex())
            if record is None:
                continue
            if request.kind and record.kind != request.kind:
                continue
            if request.issuer and _body(record).issuer != request.issuer:
                continue
            records.append(record)
        token = last_key[len(prefix):].hex() if more else ""
        return ledger_pb2.QueryResponse(records=records, next_page_token=token)

    async def Subscribe(self, request: ledger_pb2.SubscribeRequest,
                        context: grpc.aio.ServicerContext[Any, Any]) -> (
                            AsyncIterator[ledger_pb2.SubscribeResponse]):
        height = (request.from_height - 1) if request.from_height else self.ledger.height
        kinds = set(request.kinds)
        while True:
            if self.ledger.height <= height:
                await self.feed.wait_beyond(height, lambda: self.ledger.height)
            while height < self.ledger.height:
                height += 1
                block = self.ledger.block(height)
                if block is None:
                    continue
                digest = block_hash(block.header)
                for envelope in block.envelopes:
                    record = self.ledger.record(document_id(envelope.body))
                    if record is None or record.receipt.height != height:
                        continue
                    if kinds and record.kind not in kinds:
                        continue
                    if request.ucr and _body(record).ucr != request.ucr:
                        continue
                    if request.notices_only and not record.receipt.result.notices:
                        continue
                    yield ledger_pb2.SubscribeResponse(height=height, block_hash=digest,
                                                       record=record)

    async def GetProof(self, request: ledger_pb2.GetProofRequest,
                       context: grpc.aio.ServicerContext[Any, Any]) -> (
                           ledger_pb2.GetProofResponse):
        record = self.ledger.record(request.document_id)
        if record is None:
            await _abort(context, grpc.StatusCode.NOT_FOUND,
                         f"no document {request.document_id!r}", reason="document.not_found")
        block = self.ledger.block(record.receipt.height)
        if block is None:
            await _abort(context, grpc.StatusCode.INTERNAL, "block missing from the store")
        validators = self.ledger.validators
        signed = {s.validator for s in block.signatures} & {v.id for v in validators}
        if len(signed) < quorum(len(validators)):
            await _abort(context, grpc.StatusCode.UNAVAILABLE,
                         f"block {record.receipt.height} is not certified yet ({len(signed)} of "
                         f"{quorum(len(validators))} signatures); retry shortly",
                         reason="block.not_certified", retry_ms=500)
        pos = record.receipt.position
        leaves = [envelope_leaf(e) for e in block.envelopes]
        results = [result_leaf(document_id(e.body), r)
                   for e, r in zip(block.envelopes, block.results, strict=True)]
        size = len(block.envelopes)
        proof = ledger_pb2.DocumentProof(
            envelope=record.envelope,
            result=block.results[pos],
            header=block.header,
            envelope_path=ledger_pb2.MerkleProof(leaf_index=pos, tree_size=size,
                                                 path=inclusion_path(leaves, pos)),
            result_path=ledger_pb2.MerkleProof(leaf_index=pos, tree_size=size,
                                               path=inclusion_path(results, pos)),
            signatures=block.signatures,
            validators=validators,
        )
        return ledger_pb2.GetProofResponse(proof=proof)

    async def GetBlock(self, request: ledger_pb2.GetBlockRequest,
                       context: grpc.aio.ServicerContext[Any, Any]) -> (
                           ledger_pb2.GetBlockResponse):
        block = self.ledger.block(request.height)
        if block is None:
            await _abort(context, grpc.StatusCode.NOT_FOUND,
                         f"no block at height {request.height}; the ledger is at "
                         f"{self.ledger.height}", reason="block.not_found")
        return ledger_pb2.GetBlockResponse(block=block)

    async def Status(self, request: ledger_pb2.StatusRequest,
                     context: grpc.aio.ServicerContext[Any, Any]) -> ledger_pb2.StatusResponse:
        role = self._role()
        return ledger_pb2.StatusResponse(
            network=self.ledger.network,
            member_id=self.member_id,
            role=role.get("role", ""),
            term=role.get("term", 0),
            leader=role.get("leader", ""),
            height=self.ledger.height,
            last_block_hash=self.ledger.last_hash,
            commit_index=role.get("commit_index", self.ledger.applied_index),
            peers=role.get("peers", []),
            mesh_peers=role.get("mesh_peers", []),
            documents=self.ledger.documents,
            version=VERSION,
            genesis_hash=genesis_hash(self.ledger.genesis),
            pending=self.sequencer.pending,
        )

    # -- workflow state (node/workflows/reads.py) ----------------------------------------

    async def GetCertificate(self, request: ledger_pb2.GetCertificateRequest,
                             context: grpc.aio.ServicerContext[Any, Any]) -> (
                                 ledger_pb2.GetCertificateResponse):
        answer = reads.certificate(self.ledger, request.certificate_id)
        if answer is None:
            await _abort(context, grpc.StatusCode.NOT_FOUND,
                         f"no certificate {request.certificate_id!r}",
                         reason="certificate.not_found")
        return answer

    async def GetAeoStatus(self, request: ledger_pb2.GetAeoStatusRequest,
                           context: grpc.aio.ServicerContext[Any, Any]) -> (
                               ledger_pb2.GetAeoStatusResponse):
        answer = reads.aeo_status(self.ledger, request.operator_id)
        if answer is None:
            await _abort(context, grpc.StatusCode.NOT_FOUND,
                         f"no AEO status for operator {request.operator_id!r}",
                         reason="aeo.not_found")
        return answer

    async def GetConsignment(self, request: ledger_pb2.GetConsignmentRequest,
                             context: grpc.aio.ServicerContext[Any, Any]) -> (
                                 ledger_pb2.GetConsignmentResponse):
        answer = reads.consignment(self.ledger, request.ucr)
        if answer is None:
            await _abort(context, grpc.StatusCode.NOT_FOUND,
                         f"nothing on the ledger for consignment {request.ucr!r}",
                         reason="consignment.not_found")
        return answer

    # -- membership and governance -------------------------------------------------------

    async def GetMember(self, request: ledger_pb2.GetMemberRequest,
                        context: grpc.aio.ServicerContext[Any, Any]) -> (
                            ledger_pb2.GetMemberResponse):
        member = self.ledger.member(request.member_id)
        retired = governance.retired_keys(self.ledger.store.scan(
            governance.key_history_prefix(request.member_id)))
        if member is None and not retired:
            await _abort(context, grpc.StatusCode.NOT_FOUND,
                         f"no member {request.member_id!r}", reason="member.not_found")
        return ledger_pb2.GetMemberResponse(member=member, retired_keys=retired)

    async def ListMembers(self, request: ledger_pb2.ListMembersRequest,
                          context: grpc.aio.ServicerContext[Any, Any]) -> (
                              ledger_pb2.ListMembersResponse):
        return ledger_pb2.ListMembersResponse(members=self.ledger.members,
                                              height=self.ledger.height)

    async def GetProposal(self, request: ledger_pb2.GetProposalRequest,
                          context: grpc.aio.ServicerContext[Any, Any]) -> (
                              ledger_pb2.GetProposalResponse):
        proposal = governance.load_proposal(self.ledger.store, request.proposal_id)
        if proposal is None:
            await _abort(context, grpc.StatusCode.NOT_FOUND,
                         f"no proposal {request.proposal_id!r}", reason="proposal.not_found")
        last = self.ledger.block(self.ledger.height)
        now_ms = ledger_pb2.BlockHeader.FromString(last.header).proposed_ms if last else 0
        proposal.status = governance.status_at(proposal, now_ms)  # type: ignore[assignment]
        customs = len(governance.customs_ids({m.id: m for m in self.ledger.members}))
        return ledger_pb2.GetProposalResponse(proposal=proposal, customs_members=customs)


def _body(record: ledger_pb2.DocumentRecord) -> documents_pb2.DocumentBody:
    return documents_pb2.DocumentBody.FromString(record.envelope.body)


class _Replay(Exception):
    def __init__(self, receipt: ledger_pb2.Receipt) -> None:
        super().__init__("replay")
        self.receipt = receipt


def _log_refusal(refusal: Refusal, metrics: NodeMetrics | None = None) -> None:
    if metrics is not None:
        metrics.refusals.labels(refusal.code).inc()
    if refusal.status == "PERMISSION_DENIED":
        log.warning("refused: %s (%s)", refusal.message, refusal.code)
    else:
        log.info("refused: %s (%s)", refusal.message, refusal.code)


async def _refuse(context: grpc.aio.ServicerContext[Any, Any], refusal: Refusal) -> NoReturn:
    _log_refusal(refusal)
    code = grpc.StatusCode[refusal.status]
    await _abort(context, code, refusal.message, reason=refusal.code, field=refusal.field,
                 receipt=refusal.receipt,
                 retry_ms=RETRY_MS.get(refusal.code, 0))


async def _abort(context: grpc.aio.ServicerContext[Any, Any], code: grpc.StatusCode,
                 message: str, **details: Any) -> NoReturn:
    await context.abort_with_status(_status(code, message, **details))
    raise AssertionError("abort_with_status returned")
